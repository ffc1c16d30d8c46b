//! The code index: definitions in each of its languages, the repo map's ranking and budget,
//! incremental re-indexing with symbol versions, search, and input it must survive.

use std::collections::BTreeSet;

use l9_ingest::code::{
    self, CodeIndex, Focus, Lang, SYMBOL_KIND, ingest_code, latest_code, rank, search_code,
};
use l9_store::PacketFilter;

use crate::Repo;
use crate::ingest::memory;

fn names(index: &CodeIndex, path: &str) -> BTreeSet<(String, String)> {
    index.files[path].symbols.defs.iter().map(|d| (d.kind.clone(), d.name.clone())).collect()
}

fn pair(kind: &str, name: &str) -> (String, String) {
    (kind.to_owned(), name.to_owned())
}

/// A repository of `files`, committed and indexed: its index.
async fn index_of(files: &[(&str, &str)]) -> CodeIndex {
    let mut r = Repo::new();
    for (path, text) in files {
        r.write(path, text);
    }
    r.commit(1, "files");
    let dir = l9_test_support::temp_dir();
    let m = memory(dir.path()).await;
    let rep = ingest_code(&m, &r.path(), 2).await.unwrap();
    assert_eq!(rep.scan.files, files.len(), "{rep:?}");
    latest_code(&m, &rep.repo).await.unwrap().unwrap().1
}

/// Asserts that `path` defines every `(kind, name)` of `wants`.
fn defines(index: &CodeIndex, path: &str, wants: &[(&str, &str)]) {
    let got = names(index, path);
    for (kind, name) in wants {
        assert!(got.contains(&pair(kind, name)), "{kind} {name} in {path}: {got:?}");
    }
}

/// A small project in five languages: `store.rs` defines what everything else uses.
fn project(r: &Repo) {
    r.write(
        "src/store.rs",
        "/// The store.\npub struct Store {\n    rows: Vec<u32>,\n}\n\nimpl Store {\n    pub fn open_store(path: &str) -> Store {\n        Store { rows: Vec::new() }\n    }\n}\n\npub const LIMIT: usize = 10;\n",
    );
    r.write(
        "src/api.rs",
        "use crate::store::Store;\n\n#[derive(Debug)]\npub struct Api;\n\npub fn serve_requests() {\n    let s = Store::open_store(\"db\");\n    let t = Store::open_store(\"db2\");\n}\n",
    );
    r.write(
        "src/cli.rs",
        "pub fn main_entry() {\n    crate::api::serve_requests();\n    let s = crate::store::Store::open_store(\"x\");\n}\n",
    );
    r.write("src/unused.rs", "pub fn lonely_helper() -> u32 {\n    7\n}\n");
    r.write(
        "tools/report.py",
        "class ReportWriter:\n    def write_report(self, rows):\n        return len(rows)\n\ndef make_report():\n    return ReportWriter().write_report([])\n",
    );
    r.write(
        "web/app.js",
        "function renderPage(items) {\n  return items.map(formatItem);\n}\nclass Widget {\n  draw() { return renderPage([]); }\n}\nconst formatItem = (x) => `${x}`;\n",
    );
    r.write(
        "web/types.ts",
        "interface Shape { area(): number }\ntype Id = string;\nexport class Circle implements Shape {\n  area(): number { return 3; }\n}\nexport function makeCircle(): Circle { return new Circle(); }\n",
    );
    r.write(
        "svc/main.go",
        "package main\n\ntype Server struct{}\n\nfunc (s *Server) Handle() {}\n\nfunc NewServer() *Server { return &Server{} }\n\nfunc main() { NewServer().Handle() }\n",
    );
    r.write("README.md", "# not code\n");
}

#[tokio::test]
async fn definitions_in_each_language() {
    let mut r = Repo::new();
    project(&r);
    r.commit(1, "project");
    let dir = l9_test_support::temp_dir();
    let m = memory(dir.path()).await;
    let rep = ingest_code(&m, &r.path(), 2).await.unwrap();
    assert_eq!(rep.scan.files, 8, "{rep:?}");
    let (_, index) = latest_code(&m, &rep.repo).await.unwrap().unwrap();
    let rs = names(&index, "src/store.rs");
    assert!(rs.contains(&pair("class", "Store")), "{rs:?}");
    assert!(rs.contains(&pair("method", "open_store")), "a method of an impl: {rs:?}");
    assert!(rs.contains(&pair("constant", "LIMIT")), "{rs:?}");
    assert!(!rs.contains(&pair("function", "open_store")), "one definition per name: {rs:?}");
    let py = names(&index, "tools/report.py");
    assert!(
        py.contains(&pair("class", "ReportWriter"))
            && py.contains(&pair("function", "make_report")),
        "{py:?}"
    );
    let js = names(&index, "web/app.js");
    assert!(
        js.contains(&pair("function", "renderPage")) && js.contains(&pair("class", "Widget")),
        "{js:?}"
    );
    assert!(
        js.contains(&pair("method", "draw")) && js.contains(&pair("function", "formatItem")),
        "{js:?}"
    );
    let ts = names(&index, "web/types.ts");
    assert!(
        ts.contains(&pair("interface", "Shape")) && ts.contains(&pair("class", "Circle")),
        "{ts:?}"
    );
    assert!(
        ts.contains(&pair("function", "makeCircle")) && ts.contains(&pair("type", "Id")),
        "{ts:?}"
    );
    let go = names(&index, "svc/main.go");
    assert!(
        go.contains(&pair("type", "Server")) && go.contains(&pair("method", "Handle")),
        "{go:?}"
    );
    assert!(go.contains(&pair("function", "NewServer")), "{go:?}");
    // References: counted, a definition's own name left out, derive attributes too.
    let api = &index.files["src/api.rs"].symbols;
    assert_eq!(api.refs.get("open_store"), Some(&2), "{:?}", api.refs);
    assert!(!api.refs.contains_key("Api") && !api.refs.contains_key("Debug"), "{:?}", api.refs);
    let open =
        index.files["src/store.rs"].symbols.defs.iter().find(|d| d.name == "open_store").unwrap();
    assert_eq!((open.line, open.end_line), (7, 9));
    assert_eq!(open.signature, "pub fn open_store(path: &str) -> Store");
    // Every definition is a symbol packet, searchable by kind.
    let n = m
        .store()
        .count_packets(&PacketFilter { kinds: vec![SYMBOL_KIND.into()], ..Default::default() })
        .await
        .unwrap();
    assert_eq!(n as usize, index.definitions());
}

#[tokio::test]
async fn the_map_ranks_what_is_referenced_and_fits_its_budget() {
    let r = Repo::new();
    project(&r);
    let (_, files) = code::index::source_files(&r.path()).unwrap();
    // Not committed: a directory's tracked files are none, so the walk is not used — the
    // index reads the git index. Commit-free directories are walked:
    assert!(files.is_empty(), "{files:?}");
    let plain = l9_test_support::temp_dir();
    for f in ["src/store.rs", "src/api.rs", "src/cli.rs", "src/unused.rs"] {
        let to = plain.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(r.path().join(f), to).unwrap();
    }
    std::fs::create_dir_all(plain.path().join("target")).unwrap();
    std::fs::write(plain.path().join("target/gen.rs"), "fn generated() {}\n").unwrap();
    let (root, files) = code::index::source_files(plain.path()).unwrap();
    assert_eq!(files, ["src/api.rs", "src/cli.rs", "src/store.rs", "src/unused.rs"]);
    let (index, stats) = code::index::scan(&root, &files, None, 1).unwrap();
    assert_eq!(stats.parsed, 4);
    let view = index.view();
    let ranked = rank::rank(&view, &Focus::default());
    let order: Vec<&str> = ranked.iter().map(|r| r.def.name.as_str()).collect();
    let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
    // open_store is referenced by two files, serve_requests by one, lonely_helper by none.
    assert!(pos("open_store") < pos("serve_requests"), "{order:?}");
    assert!(pos("serve_requests") < pos("lonely_helper"), "{order:?}");
    let map = code::repo_map(&index, &Focus::default(), 1000);
    assert!(map.starts_with("src/store.rs:\n"), "{map}");
    assert!(map.contains("    7│ pub fn open_store(path: &str) -> Store\n"), "{map}");
    // A budget is kept, and a small one keeps the best.
    for budget in [5, 20, 40, 80] {
        let m = code::repo_map(&index, &Focus::default(), budget);
        assert!(rank::tokens(&m) <= budget, "{budget}: {m}");
    }
    let small = code::repo_map(&index, &Focus::default(), 20);
    assert!(small.contains("open_store") && !small.contains("lonely_helper"), "{small}");
    // A task naming a file and a name pulls them up.
    let focus = Focus::from_text("Make `lonely_helper` in src/unused.rs return 8.", &view);
    assert_eq!(focus.files.iter().collect::<Vec<_>>(), ["src/unused.rs"]);
    assert!(focus.idents.contains("lonely_helper"));
    let focused = code::repo_map(&index, &focus, 20);
    assert!(focused.starts_with("src/unused.rs:\n"), "{focused}");
}

#[tokio::test]
async fn reindexing_parses_only_what_changed_and_versions_symbols() {
    let mut r = Repo::new();
    project(&r);
    r.commit(1, "project");
    let dir = l9_test_support::temp_dir();
    let m = memory(dir.path()).await;
    let first = ingest_code(&m, &r.path(), 1).await.unwrap();
    let again = ingest_code(&m, &r.path(), 1).await.unwrap();
    assert_eq!((again.scan.parsed, again.scan.reused, again.stored), (0, 8, 0), "{again:?}");
    assert_eq!(again.index_packet, first.index_packet);
    // One definition changes, one file goes, one comes.
    let store = std::fs::read_to_string(r.path().join("src/store.rs")).unwrap();
    r.write("src/store.rs", &store.replace("Vec::new() }", "vec![1] }"));
    std::fs::remove_file(r.path().join("src/unused.rs")).unwrap();
    r.write("src/extra.rs", "pub fn extra_step() {}\n");
    r.commit(1, "change");
    let third = ingest_code(&m, &r.path(), 1).await.unwrap();
    assert_eq!((third.scan.parsed, third.scan.reused, third.scan.removed), (2, 6, 1), "{third:?}");
    // open_store and impl-less Store's method changed; Store, LIMIT did not: only the new
    // version of open_store and extra_step are stored.
    assert_eq!(third.stored, 2, "{third:?}");
    let (_, index) = latest_code(&m, &third.repo).await.unwrap().unwrap();
    assert!(!index.files.contains_key("src/unused.rs"));
    let d =
        index.files["src/store.rs"].symbols.defs.iter().find(|d| d.name == "open_store").unwrap();
    let p = m.get(code::symbol_id(&third.repo, "src/store.rs", d)).await.unwrap().unwrap();
    assert_eq!(p.parents.len(), 1, "the version before is its parent");
    let old = m.get(p.parents[0]).await.unwrap().unwrap();
    assert!(old.text.as_deref().unwrap().contains("open_store"));
    // Search sees current definitions only: by exact name, and by words.
    let hits = search_code(&m, &third.repo, &index, "open_store", 5).await.unwrap();
    assert_eq!((hits[0].path.as_str(), hits[0].line), ("src/store.rs", 7));
    let n = hits.iter().filter(|h| h.name == "open_store").count();
    assert_eq!(n, 1, "one current version, not the old one too: {hits:?}");
    let hits = search_code(&m, &third.repo, &index, "write report", 3).await.unwrap();
    assert!(hits.iter().any(|h| h.name == "write_report"), "{hits:?}");
    let hits = search_code(&m, &third.repo, &index, "lonely_helper", 3).await.unwrap();
    assert!(hits.iter().all(|h| h.name != "lonely_helper"), "a removed file's symbols: {hits:?}");
}

#[tokio::test]
async fn bad_input_is_survived() {
    let mut r = Repo::new();
    // Syntax errors still yield what parses; a Latin-1 file is read as Latin-1; huge files,
    // minified code and checked-in dependencies are left out.
    r.write("broken.rs", "pub fn good_one() {}\nfn broken( {\n");
    r.write("big.py", &"x = 1\n".repeat(200_000));
    std::fs::write(r.path().join("latin.py"), b"def caf\xe9_f():\n    return '\xe9'\n").unwrap();
    r.write("deep.js", &format!("{}1{}", "[\n".repeat(5000), "]\n".repeat(5000)));
    r.write("dist/app.min.js", "function a(){return 1}\n");
    let bundle: String = (0..400).map(|i| format!("var f{i}=function(){{return {i}}};")).collect();
    r.write("web/bundle.js", &format!("{bundle}\n{bundle}\n"));
    r.write("node_modules/left-pad/index.js", "function leftPad(s) { return s; }\n");
    r.write("vendor/github.com/pkg/errors/errors.go", "package errors\n\nfunc New() {}\n");
    r.write("src/third_party/zlib/inflate.c", "int inflate(void) { return 0; }\n");
    // Generated code: by its header (Go's convention, Meta's) or protobuf's file names.
    r.write(
        "api/client.go",
        "// Code generated by oapi-codegen. DO NOT EDIT.\n\npackage api\n\nfunc Get() {}\n",
    );
    r.write("api/types.rs", "// This file is @generated by prost-build.\npub struct Msg;\n");
    r.write("proto/user_pb2.py", "class User:\n    pass\n");
    r.write("lib/user.g.dart", "part of 'user.dart';\n\nUser _$UserFromJson() => User();\n");
    r.write("lib/api.dart", "// GENERATED CODE - DO NOT MODIFY BY HAND\n\nclass Api {}\n");
    // … and not code that only mentions such words further down.
    r.write(
        "gen/codegen.go",
        "package gen\n\n// Writer writes files.\n// Each starts \"Code generated by gen. DO NOT EDIT.\"\nfunc Writer() {}\n",
    );
    r.write("vendored/lib.go", "package vendored\n\nfunc Own() {}\n");
    r.commit(1, "odd files");
    let dir = l9_test_support::temp_dir();
    let m = memory(dir.path()).await;
    let rep = ingest_code(&m, &r.path(), 1).await.unwrap();
    assert_eq!((rep.scan.skipped, rep.scan.minified, rep.scan.generated), (11, 5, 5), "{rep:?}");
    assert!(rep.scan.files == 5, "{rep:?}");
    let (_, index) = latest_code(&m, &rep.repo).await.unwrap().unwrap();
    assert!(names(&index, "broken.rs").contains(&pair("function", "good_one")));
    assert!(names(&index, "latin.py").contains(&pair("function", "café_f")), "{index:?}");
    assert!(index.files.contains_key("deep.js"));
    assert!(index.files.keys().all(|f| !f.ends_with("min.js") && !f.contains("bundle")));
    let missing = dir.path().join("nope");
    let e = ingest_code(&m, &missing, 1).await.unwrap_err();
    assert!(e.to_string().contains("no such directory"), "{e}");
    assert_eq!(Lang::of_path("a/b.tsx"), Some(Lang::Tsx));
    assert_eq!(Lang::of_path("Makefile"), None);
}

/// Java, C, C++ and Ruby: types, functions and methods, with whole bodies (a C function's
/// definition spans its body, not only its declarator) and signatures past annotations.
#[tokio::test]
async fn definitions_in_java_c_cpp_and_ruby() {
    let index = index_of(&[
        ("src/main/java/shop/Cart.java", "package shop;\n\npublic class Cart implements Priced {\n    @Override\n    public long total() {\n        return Tax.apply(0);\n    }\n}\n\ninterface Priced { long total(); }\n\nenum Currency { EUR, USD }\n\nrecord Line(String sku, int qty) {}\n"),
        ("lib/queue.c", "#include \"queue.h\"\n\nstruct queue { int n; };\n\nstatic int grow(struct queue *q) {\n    return q->n * 2;\n}\n\nchar *queue_name(void) {\n    return \"q\";\n}\n\ntypedef int count_t;\n"),
        ("lib/queue.h", "int grow_all(int n);\n"),
        ("engine/render.cpp", "int start() {\n    std::string name(path);\n    return 0;\n}\n\nnamespace gfx {\nclass Renderer {\n  public:\n    void draw() { paint(); }\n};\n}\n\nvoid gfx::Renderer::flush() {\n    draw();\n}\n\nint paint() { return 0; }\n"),
        ("app/models/order.rb", "module Billing\n  # An order.\n  class Order\n    def total\n      Invoice.new.sum\n    end\n\n    def self.open\n      new\n    end\n  end\nend\n"),
    ])
    .await;
    defines(
        &index,
        "src/main/java/shop/Cart.java",
        &[
            ("class", "Cart"),
            ("method", "total"),
            ("interface", "Priced"),
            ("enum", "Currency"),
            ("class", "Line"),
        ],
    );
    let total = index.files["src/main/java/shop/Cart.java"]
        .symbols
        .defs
        .iter()
        .find(|d| d.name == "total" && d.line == 4)
        .unwrap();
    assert_eq!(total.signature, "public long total()", "past `@Override`");
    let c = &index.files["lib/queue.c"].symbols;
    let grow = c.defs.iter().find(|d| d.name == "grow").unwrap();
    assert_eq!((grow.kind.as_str(), grow.line, grow.end_line), ("function", 5, 7));
    assert_eq!(grow.signature, "static int grow(struct queue *q)");
    defines(
        &index,
        "lib/queue.c",
        &[("function", "queue_name"), ("class", "queue"), ("type", "count_t")],
    );
    defines(&index, "lib/queue.h", &[("function", "grow_all")]);
    defines(
        &index,
        "engine/render.cpp",
        &[
            ("module", "gfx"),
            ("class", "Renderer"),
            ("method", "draw"),
            ("method", "flush"),
            ("function", "paint"),
            ("function", "start"),
        ],
    );
    // A local variable built with arguments reads like a prototype; it is no definition.
    let cpp = names(&index, "engine/render.cpp");
    assert!(!cpp.iter().any(|(_, n)| n == "name"), "{cpp:?}");
    defines(
        &index,
        "app/models/order.rb",
        &[("module", "Billing"), ("class", "Order"), ("method", "total"), ("method", "open")],
    );
    // A class a Ruby file uses is a reference (Ruby writes it as a constant).
    assert_eq!(index.files["app/models/order.rb"].symbols.refs.get("Invoice"), Some(&1));
    assert_eq!(index.files["src/main/java/shop/Cart.java"].symbols.refs.get("Tax"), Some(&1));
}

/// Every language's query compiles, and bytes of any shape parse without a panic.
#[test]
fn every_language_reads_garbage_without_failing() {
    let mut seed = 9u64;
    for lang in Lang::ALL {
        for len in [0usize, 1, 17, 400, 5000] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let pieces = b"{}();:@#\"'\n\t abcXYZ019_<>*&/\\=.,$";
                    pieces[(seed >> 33) as usize % pieces.len()]
                })
                .collect();
            let read = code::parse::extract(lang, &bytes);
            assert!(read.is_ok(), "{}: {read:?}", lang.name());
        }
    }
}

/// C#, PHP and Kotlin: types, methods and functions; PHP's names count as references.
#[tokio::test]
async fn definitions_in_csharp_php_and_kotlin() {
    let index = index_of(&[
        ("src/Shop/Cart.cs", "namespace Shop;\n\npublic class Cart : IPriced {\n    public decimal Total() { return Tax.Apply(0); }\n}\n\npublic interface IPriced { decimal Total(); }\n\npublic struct Money { }\n\npublic enum Currency { Eur, Usd }\n\npublic record Line(string Sku, int Qty);\n"),
        ("app/Models/Order.php", "<?php\nnamespace App\\Models;\n\nclass Order {\n    public function total() { return Invoice::sum(); }\n}\n\nfunction make_order() { return new Order(); }\n"),
        ("app/src/main/kotlin/Cart.kt", "package shop\n\nclass Cart {\n    fun total(): Long = Tax.apply(0)\n}\n\nobject Registry\n\nfun makeCart() = Cart()\n"),
    ])
    .await;
    defines(
        &index,
        "src/Shop/Cart.cs",
        &[
            ("module", "Shop"),
            ("class", "Cart"),
            ("method", "Total"),
            ("interface", "IPriced"),
            ("class", "Money"),
            ("enum", "Currency"),
            ("class", "Line"),
        ],
    );
    defines(
        &index,
        "app/Models/Order.php",
        &[("class", "Order"), ("function", "total"), ("function", "make_order")],
    );
    assert_eq!(index.files["app/Models/Order.php"].symbols.refs.get("Invoice"), Some(&1));
    defines(
        &index,
        "app/src/main/kotlin/Cart.kt",
        &[
            ("class", "Cart"),
            ("function", "total"),
            ("class", "Registry"),
            ("function", "makeCart"),
        ],
    );
    assert_eq!(index.files["app/src/main/kotlin/Cart.kt"].symbols.refs.get("Tax"), Some(&1));
}

/// Swift and Scala: types, protocols and traits, methods in their own spans.
#[tokio::test]
async fn definitions_in_swift_and_scala() {
    let index = index_of(&[
        (
            "Sources/Shop/Cart.swift",
            "protocol Priced {\n    func total() -> Int\n}\n\nclass Cart: Priced {\n    func total() -> Int {\n        return Tax.apply(0)\n    }\n}\n\nfunc makeCart() -> Cart { Cart() }\n",
        ),
        (
            "src/main/scala/shop/Cart.scala",
            "package shop\n\ntrait Priced { def total: Long }\n\nclass Cart extends Priced {\n  def total: Long = Tax.apply(0)\n}\n\nobject Registry {\n  def make(): Cart = new Cart\n}\n\ntype Id = String\n",
        ),
    ])
    .await;
    defines(
        &index,
        "Sources/Shop/Cart.swift",
        &[
            ("interface", "Priced"),
            ("class", "Cart"),
            ("method", "total"),
            ("function", "makeCart"),
        ],
    );
    let total = index.files["Sources/Shop/Cart.swift"]
        .symbols
        .defs
        .iter()
        .find(|d| d.name == "total" && d.line == 6)
        .unwrap();
    assert_eq!((total.end_line, total.signature.as_str()), (8, "func total() -> Int"));
    defines(
        &index,
        "src/main/scala/shop/Cart.scala",
        &[
            ("interface", "Priced"),
            ("class", "Cart"),
            ("method", "total"),
            ("class", "Registry"),
            ("method", "make"),
            ("type", "Id"),
        ],
    );
    assert_eq!(index.files["src/main/scala/shop/Cart.scala"].symbols.refs.get("Tax"), Some(&1));
}

/// Elixir, Dart and Lua: modules, classes, functions and methods, a Dart method with its body.
#[tokio::test]
async fn definitions_in_elixir_dart_and_lua() {
    let index = index_of(&[
        (
            "lib/shop/cart.ex",
            "defmodule Shop.Cart do\n  defstruct items: []\n\n  def total(cart) when is_map(cart) do\n    Shop.Tax.apply(0)\n  end\n\n  defp empty?(cart), do: cart.items == []\nend\n\ndefimpl String.Chars, for: Shop.Cart do\n  def to_string(_), do: \"cart\"\nend\n",
        ),
        (
            "lib/src/cart.dart",
            "class Cart implements Priced {\n  Cart(this.items);\n  final List<int> items;\n\n  int total() {\n    return Tax.apply(0);\n  }\n\n  int get size => items.length;\n}\n\nabstract class Priced { int total(); }\n\nenum Currency { eur, usd }\n\nCart makeCart() => Cart([]);\n",
        ),
        (
            "src/cart.lua",
            "local M = {}\n\nfunction M.total(cart)\n  return Tax.apply(0)\nend\n\nfunction M:add(item)\n  table.insert(self.items, item)\nend\n\nlocal function helper() return 1 end\n\nlocal checks = {\n  boolean = function(o) return o end,\n}\n\nreturn M\n",
        ),
    ])
    .await;
    defines(
        &index,
        "lib/shop/cart.ex",
        &[
            ("module", "Shop.Cart"),
            ("function", "total"),
            ("function", "empty?"),
            ("module", "String.Chars"),
            ("function", "to_string"),
        ],
    );
    assert_eq!(index.files["lib/shop/cart.ex"].symbols.refs.get("Shop.Tax"), Some(&1));
    defines(
        &index,
        "lib/src/cart.dart",
        &[
            ("class", "Cart"),
            ("method", "total"),
            ("method", "size"),
            ("class", "Priced"),
            ("class", "Currency"),
            ("function", "makeCart"),
        ],
    );
    let total = index.files["lib/src/cart.dart"]
        .symbols
        .defs
        .iter()
        .find(|d| d.name == "total" && d.line == 5)
        .unwrap();
    assert_eq!((total.end_line, total.signature.as_str()), (7, "int total()"));
    assert_eq!(index.files["lib/src/cart.dart"].symbols.refs.get("Tax"), Some(&1));
    defines(
        &index,
        "src/cart.lua",
        &[
            ("function", "total"),
            ("method", "add"),
            ("function", "helper"),
            ("function", "boolean"),
        ],
    );
    let boolean = index.files["src/cart.lua"].symbols.defs.iter().find(|d| d.name == "boolean");
    assert_eq!(boolean.unwrap().signature, "boolean = function(o) return o end");
    assert_eq!(index.files["src/cart.lua"].symbols.refs.get("Tax"), Some(&1));
}
