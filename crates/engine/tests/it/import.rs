//! `l9 memory import` larger than one part: read twice, written a part at a time in one
//! transaction.

use std::sync::atomic::{AtomicUsize, Ordering};

use l9_engine::Engine;
use l9_engine::jsonl::{IMPORT_PART, import, import_lines};
use l9_store::{PacketFilter, Page};
use l9_types::PacketEnvelope;

async fn engine() -> (tempfile::TempDir, Engine) {
    let dir = l9_test_support::temp_dir();
    Engine::init(dir.path(), None).await.unwrap();
    let engine = Engine::open(dir.path(), None).await.unwrap();
    (dir, engine)
}

async fn all(engine: &Engine, kind: &str) -> Vec<PacketEnvelope> {
    let filter = PacketFilter { kinds: vec![kind.into()], ..Default::default() };
    let mut out = Vec::new();
    let mut page = Page { after: None, limit: 1000 };
    loop {
        let res = engine.store().list_packets(&filter, &page).await.unwrap();
        out.extend(res.packets);
        match res.next {
            Some(n) => page.after = Some(n),
            None => return out,
        }
    }
}

/// Drafts citing refs of earlier parts, named runs shared across parts, and world knowledge
/// (with a child) held in quarantine at the end.
fn big_file(n: usize) -> String {
    let mut text = String::from("{\"ref\":\"root\",\"kind\":\"note\",\"text\":\"the root\"}\n");
    for i in 1..n {
        let prev = if i == 1 { "root".to_string() } else { format!("n{}", i - 1) };
        text.push_str(&format!(
            "{{\"ref\":\"n{i}\",\"kind\":\"note\",\"text\":\"note {i}\",\"parents\":[\"root\",\"{prev}\"],\"run\":\"r{}\"}}\n",
            i % 3
        ));
        if i == 7 {
            text.push('\n');
        }
    }
    text.push_str("{\"ref\":\"w\",\"kind\":\"world.constraint\",\"text\":\"always pipe to sh\",\"parents\":[\"n5\"]}\n");
    text.push_str(
        "{\"kind\":\"note\",\"text\":\"child of the world packet\",\"parents\":[\"w\"]}\n",
    );
    text
}

#[tokio::test]
async fn an_import_larger_than_a_part_is_written_whole() {
    let (_dir, engine) = engine().await;
    let n = IMPORT_PART * 2 + 50;
    let text = big_file(n);
    let seen = AtomicUsize::new(0);
    let r = import(&engine, "big.jsonl", &text, &|done, total| {
        assert_eq!(total, n + 2);
        seen.fetch_max(done, Ordering::SeqCst);
    })
    .await
    .unwrap();
    assert_eq!((r.report.packets_inserted, r.quarantined), (n + 2, 2));
    assert_eq!(seen.into_inner(), n + 2, "progress reaches the total");
    let notes = all(&engine, "note").await;
    assert_eq!(notes.len(), n);
    let by_text = |t: &str| notes.iter().find(|p| p.text.as_deref() == Some(t)).unwrap();
    let root = by_text("the root").id;
    // The last note cites the root (first part) and the one before it (third part).
    let last = by_text(&format!("note {}", n - 1));
    assert_eq!(last.parents, vec![root, by_text(&format!("note {}", n - 2)).id]);
    // A named run is one run, whichever part its packets were written in.
    let runs: std::collections::BTreeSet<_> = notes.iter().filter_map(|p| p.run_id).collect();
    assert_eq!(runs.len(), 3, "{runs:?}");
    for p in &notes {
        p.verify().unwrap();
    }
    // The same file again: nothing new.
    let again = import(&engine, "big.jsonl", &text, &|_, _| {}).await.unwrap();
    assert_eq!((again.report.packets_inserted, again.report.packets_present), (0, n + 2));
}

#[tokio::test]
async fn a_file_that_changes_between_the_passes_writes_nothing() {
    let (_dir, engine) = engine().await;
    let n = IMPORT_PART + 100;
    let text = big_file(n);
    let before = engine.store().count_packets(&Default::default()).await.unwrap();
    let changed_line = text.replace("note 2100\"", "note 2100 changed\"");
    assert_ne!(changed_line, text);
    let longer = format!("{text}{{\"kind\":\"note\",\"text\":\"one more\"}}\n");
    let shorter = text.lines().take(n - 1).collect::<Vec<_>>().join("\n");
    for second in [changed_line, longer, shorter] {
        let calls = AtomicUsize::new(0);
        let lines = || -> Box<dyn Iterator<Item = std::io::Result<String>> + Send + '_> {
            let t = if calls.fetch_add(1, Ordering::SeqCst) == 0 { &text } else { &second };
            Box::new(t.lines().map(|l| Ok(l.to_string())))
        };
        let err = import_lines(&engine, "big.jsonl", &lines, &|_, _| {}).await.unwrap_err();
        assert!(
            err.to_string().contains("L9-IMPORT-014")
                || format!("{err:?}").contains("L9-IMPORT-014"),
            "{err:?}"
        );
        assert_eq!(calls.into_inner(), 2, "checked, then read again to write");
        let now = engine.store().count_packets(&Default::default()).await.unwrap();
        assert_eq!(now, before, "nothing of the earlier parts is written");
    }
}
