//! Conflict prediction: which files a text points at, and which pairs collide.

use l9_ingest::code::{CodeIndex, IndexedFile, Lang, parse};
use l9_ingest::conflict::{MessageModel, Predictor, TOP_FILES, collisions, words};

fn index(files: &[(&str, &str)]) -> CodeIndex {
    let mut ix = CodeIndex::default();
    for (path, src) in files {
        let lang = Lang::of_path(path).unwrap();
        let symbols = parse::extract(lang, src.as_bytes()).unwrap().unwrap();
        ix.files.insert((*path).to_owned(), IndexedFile { hash: String::new(), symbols });
    }
    ix
}

#[test]
fn texts_point_at_files_and_shared_files_collide() {
    let ix = index(&[
        ("src/ledger.rs", "pub fn open_ledger() {}\npub struct Ledger;\n"),
        ("src/billing.rs", "pub fn send_invoice() {}\n"),
        ("src/shipping.rs", "pub fn track_parcel() {}\n"),
        ("src/config.rs", "pub fn load() {}\n"),
    ]);
    let mut messages = MessageModel::default();
    for _ in 0..3 {
        messages.add("Round totals in the tax table", ["src/billing.rs"]);
        messages.add("Speed up shipping labels", ["src/shipping.rs"]);
    }
    let p = Predictor::new(Some(&ix), None, Some(&messages), None);
    let top = |text: &str| -> Vec<String> {
        p.likely_files(text, &[], TOP_FILES)
            .into_iter()
            .filter(|l| l.score >= 1.0)
            .map(|l| l.file)
            .collect()
    };
    // A path, a name, a name in words, a stem, past commits' words.
    assert_eq!(top("Change src/ledger.rs"), ["src/ledger.rs"]);
    assert_eq!(top("Call `open_ledger` twice"), ["src/ledger.rs"]);
    assert_eq!(top("open the ledger on start"), ["src/ledger.rs"]);
    assert_eq!(top("the billing screen"), ["src/billing.rs"]);
    assert_eq!(top("tax table totals are off by one"), ["src/billing.rs"]);
    // Generic stems (config) are not evidence.
    assert!(top("read the config").is_empty(), "{:?}", top("read the config"));
    let tasks = vec![
        ("a".to_owned(), p.likely_files("Open the ledger faster", &[], TOP_FILES)),
        ("b".to_owned(), p.likely_files("Make `Ledger` serialisable", &[], TOP_FILES)),
        ("c".to_owned(), p.likely_files("Track parcel numbers", &[], TOP_FILES)),
    ];
    let found = collisions(&tasks, |_, _| true);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].a.as_str(), found[0].b.as_str()), ("a", "b"));
    assert_eq!(found[0].files, ["src/ledger.rs"]);
    // Pairs that do not run in parallel are not compared.
    assert!(collisions(&tasks, |_, _| false).is_empty());
    assert!(
        words("openLedger_fast")
            .is_superset(&["open", "ledger", "fast"].iter().map(|s| s.to_string()).collect())
    );
}
