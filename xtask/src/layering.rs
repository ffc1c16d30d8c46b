//! The tier rules of ARCHITECTURE.md, checked against `cargo metadata`.
//!
//! * T0 types · T1 ir · T2 world, kernel, sim · T3 store*, memory, models, agents, tasks ·
//!   T4 engine · T5 server, mcp, cli. A crate depends (normal or build edges) only on
//!   crates of its own tier or lower.
//! * T5 edges reach the runtimes through `l9-engine`: they may use T0, T4 and T5 only.
//! * T0–T2 are pure: no async runtime, database, network, file-system-temp or process crates.
//! * Only `l9-store-sqlite` and `l9-store-postgres` know SQL (`sqlx`).
//! * Only T5 serves HTTP or MCP (`axum`, `hyper`, `rmcp`, `tower-http`); tests may use
//!   them anywhere (dev-dependencies) for fake servers.
//! * `l9-test-support` is a dev-dependency only.
//! * Source rules: a T4 crate re-exports no lower crate whole (`pub use l9_store as store;`,
//!   `pub use l9_store;`, `pub use l9_store::*;`): it shows the types it chose, by name; and
//!   a T5 crate's source names no path `l9_engine::<lower crate>::…` that is not a module
//!   of the engine's own.
//! * `unsafe` code is denied in the workspace (`Cargo.toml`) and allowed in one place only:
//!   [`UNSAFE_ALLOWED`], the SQLite store's memory mapping, at most once.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Normal,
    Dev,
    Build,
}

#[derive(Debug, Clone)]
pub(crate) struct Dep {
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) deps: Vec<Dep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) rule: &'static str,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}: {}", self.from, self.to, self.rule)
    }
}

pub(crate) fn tier(name: &str) -> Option<u8> {
    Some(match name {
        "l9-types" => 0,
        "l9-ir" => 1,
        "l9-world" | "l9-kernel" | "l9-sim" => 2,
        "l9-store" | "l9-store-sqlite" | "l9-store-postgres" | "l9-memory" | "l9-models"
        | "l9-agents" | "l9-tasks" | "l9-world-store" | "l9-ingest" | "l9-config" => 3,
        "l9-engine" | "l9-bench" => 4,
        "l9-server" | "l9-mcp" | "l9-cli" => 5,
        _ => return None,
    })
}

const IMPURE: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "sqlx",
    "reqwest",
    "hyper",
    "axum",
    "rmcp",
    "tower",
    "tower-http",
    "tempfile",
    "candle-core",
    "tokenizers",
    "async-trait",
];
const SQL: &[&str] = &["sqlx", "rusqlite", "postgres", "tokio-postgres", "diesel"];
const SERVE: &[&str] = &["axum", "hyper", "rmcp", "tower-http", "actix-web", "warp"];
const SQL_CRATES: &[&str] = &["l9-store-sqlite", "l9-store-postgres"];

pub(crate) fn check(packages: &[Package]) -> Vec<Violation> {
    let mut out = Vec::new();
    let v = |from: &str, to: &str, rule| Violation { from: from.into(), to: to.into(), rule };
    for p in packages {
        if p.name == "xtask" {
            continue;
        }
        if p.name == "l9-test-support" {
            continue; // dev-only by rule below; may use anything.
        }
        let Some(t) = tier(&p.name) else {
            out.push(v(
                &p.name,
                "-",
                "crate has no tier: add it to xtask/src/layering.rs and ARCHITECTURE.md",
            ));
            continue;
        };
        for d in &p.deps {
            let runtime = d.kind != Kind::Dev;
            if d.name == "l9-test-support" && runtime {
                out.push(v(&p.name, &d.name, "l9-test-support may only be a dev-dependency"));
                continue;
            }
            if let Some(dt) = tier(&d.name) {
                if runtime && dt > t {
                    out.push(v(&p.name, &d.name, "depends on a higher tier"));
                }
                if runtime && t == 5 && !matches!(dt, 0 | 4 | 5) {
                    out.push(v(
                        &p.name,
                        &d.name,
                        "edges (T5) reach the runtimes only through l9-engine",
                    ));
                }
                continue;
            }
            if !runtime {
                continue;
            }
            if t <= 2 && IMPURE.contains(&d.name.as_str()) {
                out.push(v(
                    &p.name,
                    &d.name,
                    "T0-T2 crates are pure: no async runtime, IO, database or network",
                ));
            }
            if SQL.contains(&d.name.as_str()) && !SQL_CRATES.contains(&p.name.as_str()) {
                out.push(v(
                    &p.name,
                    &d.name,
                    "only l9-store-sqlite and l9-store-postgres know SQL",
                ));
            }
            if SERVE.contains(&d.name.as_str()) && t != 5 {
                out.push(v(&p.name, &d.name, "only T5 crates serve HTTP or MCP"));
            }
        }
    }
    out
}

/// The workspace's root: from `CARGO_MANIFEST_DIR` as cargo sets it for the running test or
/// `cargo run` (the checkout being checked), else as it was when this was compiled. The
/// compiled-in path alone is not enough: a target directory shared by two checkouts can run a
/// binary built in one against the other (or against a checkout since deleted).
fn workspace_root() -> String {
    let xtask = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    format!("{xtask}/..")
}

/// Reads the workspace's declared dependencies from `cargo metadata`.
pub(crate) fn workspace_packages() -> Result<Vec<Package>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = format!("{}/Cargo.toml", workspace_root());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
            "--manifest-path",
            &manifest,
        ])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    let pkgs = meta["packages"].as_array().ok_or("cargo metadata: no packages")?;
    Ok(pkgs
        .iter()
        .map(|p| Package {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            deps: p["dependencies"]
                .as_array()
                .map(|ds| {
                    ds.iter()
                        .map(|d| Dep {
                            name: d["name"].as_str().unwrap_or_default().to_owned(),
                            kind: match d["kind"].as_str() {
                                Some("dev") => Kind::Dev,
                                Some("build") => Kind::Build,
                                _ => Kind::Normal,
                            },
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

pub(crate) fn check_workspace() -> Result<Vec<Violation>, String> {
    let mut v = check(&workspace_packages()?);
    let root = &workspace_root();
    let read = |krate: &str| {
        rust_files(&std::path::Path::new(root).join("crates").join(krate).join("src"))
    };
    // A check that read nothing would pass: refuse instead.
    if read("engine").is_empty() {
        return Err(format!("no sources under {root}/crates/engine/src: not a checkout of L9"));
    }
    let facade: Vec<(String, String)> = ["engine", "bench"].iter().flat_map(|c| read(c)).collect();
    let edges: Vec<(String, String)> =
        ["cli", "server", "mcp"].iter().flat_map(|c| read(c)).collect();
    v.extend(check_sources(&read("engine"), &facade, &edges));
    let mut all = Vec::new();
    for dir in ["crates", "xtask", "fuzz"] {
        all.extend(rust_files(&std::path::Path::new(root).join(dir)));
    }
    v.extend(check_unsafe(root, &all));
    Ok(v)
}

/// The one file that may allow `unsafe` code (once): the vector file's memory mapping.
pub(crate) const UNSAFE_ALLOWED: &str = "crates/store-sqlite/src/vectors.rs";

/// Every `allow`/`expect` of `unsafe_code` outside [`UNSAFE_ALLOWED`], and a second one in it.
/// `files` are (path, text); paths are taken relative to `root`.
pub(crate) fn check_unsafe(root: &str, files: &[(String, String)]) -> Vec<Violation> {
    let mut out = Vec::new();
    for (path, text) in files {
        let rel = path.strip_prefix(root).unwrap_or(path).trim_start_matches('/');
        let lines: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                // An attribute (`#[allow(…, unsafe_code)]`, `#![expect(unsafe_code)]`).
                let l = l.trim_start();
                l.starts_with('#')
                    && l.contains("unsafe_code")
                    && (l.contains("allow(") || l.contains("expect("))
            })
            .map(|(n, _)| n + 1)
            .collect();
        let allowed = usize::from(rel == UNSAFE_ALLOWED);
        for n in lines.into_iter().skip(allowed) {
            out.push(Violation {
                from: format!("{rel}:{n}"),
                to: "unsafe_code".into(),
                rule: "unsafe code is allowed once, in crates/store-sqlite/src/vectors.rs only",
            });
        }
    }
    out
}

/// Every `.rs` file under `dir` with its text.
fn rust_files(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs")
            && let Ok(text) = std::fs::read_to_string(&p)
        {
            out.push((p.display().to_string(), text));
        }
    }
    out
}

/// The Rust names of the crates below T4 (`l9_store`, …) with their short names (`store`).
fn lower_crates() -> Vec<(String, String)> {
    [
        "l9-types",
        "l9-ir",
        "l9-world",
        "l9-kernel",
        "l9-sim",
        "l9-store",
        "l9-store-sqlite",
        "l9-store-postgres",
        "l9-memory",
        "l9-models",
        "l9-agents",
        "l9-tasks",
        "l9-world-store",
        "l9-ingest",
    ]
    .iter()
    .map(|c| {
        let rust = c.replace('-', "_");
        let short = rust.trim_start_matches("l9_").to_string();
        (rust, short)
    })
    .collect()
}

/// The source rules. `engine`: the engine's files (its own modules are read from them);
/// `facade`: every T4 crate's files; `edges`: every T5 crate's files.
pub(crate) fn check_sources(
    engine: &[(String, String)],
    facade: &[(String, String)],
    edges: &[(String, String)],
) -> Vec<Violation> {
    let lower = lower_crates();
    let mut out = Vec::new();
    for (path, text) in facade {
        for line in text.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("pub use ") else { continue };
            let used = rest.trim_end_matches(';');
            for (rust, _) in &lower {
                let whole = used == rust
                    || used.starts_with(&format!("{rust} as "))
                    || used == format!("{rust}::*");
                if whole {
                    out.push(Violation {
                        from: path.clone(),
                        to: rust.clone(),
                        rule: "a T4 crate re-exports no lower crate whole: name the types it shows",
                    });
                }
            }
        }
    }
    // The engine's own modules: `mod NAME;` or `pub mod NAME;` (any visibility).
    let modules: Vec<String> = engine
        .iter()
        .flat_map(|(_, t)| t.lines())
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub(crate) ").or_else(|| l.strip_prefix("pub ")).unwrap_or(l);
            l.strip_prefix("mod ").map(|m| m.trim_end_matches([';', ' ', '{']).to_string())
        })
        .collect();
    for (path, text) in edges {
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(i) = rest.find("l9_engine::") {
                rest = &rest[i + "l9_engine::".len()..];
                let name: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let is_path = rest[name.len()..].starts_with("::");
                if is_path
                    && lower.iter().any(|(_, short)| *short == name)
                    && !modules.contains(&name)
                {
                    out.push(Violation {
                        from: format!("{path}:{}", n + 1),
                        to: format!("l9_engine::{name}"),
                        rule: "edges (T5) reach no lower crate through l9-engine's paths",
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, deps: &[(&str, Kind)]) -> Package {
        Package {
            name: name.into(),
            deps: deps.iter().map(|(n, k)| Dep { name: (*n).into(), kind: *k }).collect(),
        }
    }

    #[test]
    fn the_workspace_respects_its_layering() {
        let packages = workspace_packages().unwrap();
        assert!(packages.iter().any(|p| p.name == "l9-cli"), "metadata lists the workspace");
        let violations = check_workspace().unwrap();
        assert!(
            violations.is_empty(),
            "forbidden edges:\n{}",
            violations.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
        );
    }

    #[test]
    fn fabricated_sources_with_every_kind_of_source_violation_fail() {
        let f = |p: &str, t: &str| (p.to_string(), t.to_string());
        let engine = vec![
            f(
                "engine/lib.rs",
                "pub mod ir;\nmod world;\npub use l9_store as store;\npub use l9_store::{TaskState};",
            ),
            f("engine/ir.rs", "pub use l9_ir as core;\npub use l9_types;\npub use l9_tasks::*;"),
        ];
        let edges = vec![
            f("cli/a.rs", "use l9_engine::store::TaskState;\nuse l9_engine::TaskState;"),
            f(
                "cli/b.rs",
                "let x = l9_engine::ir::check_file(p); l9_engine::types::RunId::new(); use l9_engine::world::X;",
            ),
        ];
        let got: Vec<(String, String, &str)> = check_sources(&engine, &engine, &edges)
            .into_iter()
            .map(|v| (v.from, v.to, v.rule))
            .collect();
        let whole = "a T4 crate re-exports no lower crate whole: name the types it shows";
        let path = "edges (T5) reach no lower crate through l9-engine's paths";
        let expect = [
            ("engine/lib.rs", "l9_store", whole),
            ("engine/ir.rs", "l9_ir", whole),
            ("engine/ir.rs", "l9_types", whole),
            ("engine/ir.rs", "l9_tasks", whole),
            ("cli/a.rs:1", "l9_engine::store", path),
            ("cli/b.rs:1", "l9_engine::types", path),
        ];
        assert_eq!(got.len(), expect.len(), "{got:#?}");
        for e in expect {
            assert!(
                got.iter().any(|g| (g.0.as_str(), g.1.as_str(), g.2) == e),
                "missing {e:?} in {got:#?}"
            );
        }
    }

    #[test]
    fn unsafe_code_is_allowed_once_in_one_file_only() {
        let f = |p: &str, t: &str| (format!("/r/{p}"), t.to_string());
        let mapping = "#[allow(unsafe_code)]\nfn map() {}\n";
        let files = vec![
            f(UNSAFE_ALLOWED, mapping),
            f(
                "crates/x/src/lib.rs",
                "#![allow(unsafe_code)]\n// allow(unsafe_code) in a comment\n",
            ),
            f("crates/y/src/a.rs", "fn f() {}\n#[expect(clippy::x, unsafe_code)]\nfn g() {}\n"),
            f("crates/z/src/a.rs", "let s = \"#[allow(unsafe_code)]\";\n"),
        ];
        let got: Vec<String> = check_unsafe("/r", &files).into_iter().map(|v| v.from).collect();
        assert_eq!(got, ["crates/x/src/lib.rs:1", "crates/y/src/a.rs:2"]);
        let twice = vec![f(UNSAFE_ALLOWED, &format!("{mapping}{mapping}"))];
        let got: Vec<String> = check_unsafe("/r", &twice).into_iter().map(|v| v.from).collect();
        assert_eq!(got, [format!("{UNSAFE_ALLOWED}:3")]);
    }

    #[test]
    fn a_fabricated_graph_with_every_kind_of_violation_fails() {
        use Kind::*;
        let graph = vec![
            pkg("l9-types", &[("tokio", Normal), ("serde", Normal), ("tempfile", Dev)]),
            pkg("l9-ir", &[("l9-engine", Normal), ("l9-types", Normal)]),
            pkg("l9-kernel", &[("l9-sim", Normal)]), // same tier: allowed
            pkg("l9-memory", &[("sqlx", Normal), ("axum", Dev), ("l9-test-support", Normal)]),
            pkg("l9-cli", &[("l9-memory", Normal), ("l9-engine", Normal), ("axum", Normal)]),
            pkg("l9-engine", &[("hyper", Normal)]),
            pkg("l9-new-thing", &[]),
        ];
        let got: Vec<(String, String, &str)> =
            check(&graph).into_iter().map(|v| (v.from, v.to, v.rule)).collect();
        let expect = [
            (
                "l9-types",
                "tokio",
                "T0-T2 crates are pure: no async runtime, IO, database or network",
            ),
            ("l9-ir", "l9-engine", "depends on a higher tier"),
            ("l9-memory", "sqlx", "only l9-store-sqlite and l9-store-postgres know SQL"),
            ("l9-memory", "l9-test-support", "l9-test-support may only be a dev-dependency"),
            ("l9-cli", "l9-memory", "edges (T5) reach the runtimes only through l9-engine"),
            ("l9-engine", "hyper", "only T5 crates serve HTTP or MCP"),
            (
                "l9-new-thing",
                "-",
                "crate has no tier: add it to xtask/src/layering.rs and ARCHITECTURE.md",
            ),
        ];
        assert_eq!(got.len(), expect.len(), "{got:#?}");
        for e in expect {
            assert!(
                got.iter().any(|g| (g.0.as_str(), g.1.as_str(), g.2) == e),
                "missing {e:?} in {got:#?}"
            );
        }
    }
}
