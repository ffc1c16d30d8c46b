//! Integration tests of the SQLite backend: the shared conformance suite plus what only
//! this backend has (file behaviour, the HNSW path, reopen).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test

use l9_store::conformance::{DIMS, Fx};
use l9_store::{Store, WriteBatch};
use l9_store_sqlite::{SqliteOptions, SqliteStore};

/// A fresh store in a temporary directory of its own, which [`done`] removes (the directory
/// must outlive the store, so it is kept rather than dropped here).
async fn fresh() -> Option<SqliteStore> {
    let dir = l9_test_support::temp_dir().keep();
    let opts = SqliteOptions { dims: DIMS, ..Default::default() };
    Some(SqliteStore::open(&dir.join("l9.db"), opts).await.unwrap())
}

/// Closes the store, then removes its directory.
async fn done(store: SqliteStore) {
    let dir = store.path().parent().map(std::path::Path::to_path_buf);
    drop(store);
    if let Some(d) =
        dir.filter(|d| d.file_name().is_some_and(|n| n.to_string_lossy().starts_with("l9-test-")))
    {
        let _ = std::fs::remove_dir_all(d);
    }
}

mod loads;
mod vectors;

mod conformance {
    use super::{done, fresh};
    l9_store::conformance_tests!(fresh, done);
}

#[tokio::test]
async fn reopen_keeps_data_and_refuses_other_dims() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let fx = Fx::default();
    let p = fx.note("persisted");
    {
        let s = SqliteStore::open(&path, SqliteOptions { dims: DIMS, ..Default::default() })
            .await
            .unwrap();
        s.write(&WriteBatch { packets: vec![p.clone()], ..Default::default() }).await.unwrap();
    }
    let s =
        SqliteStore::open(&path, SqliteOptions { dims: DIMS, ..Default::default() }).await.unwrap();
    assert_eq!(s.get_packet(p.id).await.unwrap().unwrap(), p);
    let err = SqliteStore::open(&path, SqliteOptions { dims: DIMS + 1, ..Default::default() })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("dimensional"), "{err}");
}

/// A journal entry's packet waits in `journal_pending` (two B-trees per durable step) until
/// it is moved into `packets` with many others. Whoever reads next — this handle, another
/// process's, or the next process after a crash — moves them first, so no reader can tell.
#[tokio::test]
async fn the_journal_tail_is_filed_before_anyone_reads() {
    use l9_store::{
        Claim, Direction, Fence, JournalAppend, JournalStatus, NewTask, PacketFilter, Page,
        StoreError, TextQuery,
    };
    use l9_types::{PacketDraft, RunId, TaskId};
    use serde_json::json;

    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let opts = SqliteOptions { dims: DIMS, ..Default::default() };
    let pending = || {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.query_row("SELECT count(*) FROM journal_pending", [], |r| r.get::<_, i64>(0)).unwrap()
    };
    let fx = Fx::default();
    let a = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let spec = fx.note("the spec the run cites");
    a.write(&WriteBatch { packets: vec![spec.clone()], ..Default::default() }).await.unwrap();
    let task = NewTask::new(TaskId(fx.uuid()), "q", "wf", json!({}));
    let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    a.tasks().enqueue(std::slice::from_ref(&task), now).await.unwrap();
    let claim = Claim {
        queues: vec![],
        worker: "w".into(),
        limit: 1,
        lease: std::time::Duration::from_secs(30),
        now,
    };
    assert_eq!(a.tasks().claim(&claim).await.unwrap().len(), 1);
    let fence = Fence { task: task.id, worker: "w".into() };
    let run = RunId(task.id.0);
    let entry = |seq: u64, parents: &[l9_types::PacketId], text: Option<&str>| {
        let mut d =
            PacketDraft::new("journal.step").run(run).task(task.id).body(json!({"seq": seq}));
        for p in parents {
            d = d.parent(*p);
        }
        if let Some(t) = text {
            d = d.text(t);
        }
        JournalAppend {
            run,
            seq,
            key: format!("step:s#{seq}"),
            status: JournalStatus::Completed,
            packet: fx.seal(d),
            blob: None,
        }
    };
    let e0 = entry(0, &[spec.id], None);
    let e1 = entry(1, &[e0.packet.id], Some("zanzibar quokka"));
    let e2 = entry(2, &[e1.packet.id, spec.id], None);
    for e in [&e0, &e1, &e2] {
        a.tasks().append_journal(&fence, e).await.unwrap();
    }
    assert_eq!(pending(), 3, "appends leave their packets pending");

    // A packet already stored is refused, and so is a missing parent; neither leaves a row.
    let mut dup = entry(3, &[], None);
    dup.packet = spec.clone();
    assert!(matches!(
        a.tasks().append_journal(&fence, &dup).await,
        Err(StoreError::Conflict { .. })
    ));
    let missing = entry(3, &[fx.note("never stored").id], None);
    assert!(matches!(
        a.tasks().append_journal(&fence, &missing).await,
        Err(StoreError::MissingParent { .. })
    ));

    // Another handle on the file (another process) reads them: the tail is filed first, in full.
    let b = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let got = b.get_packet(e2.packet.id).await.unwrap().unwrap();
    assert_eq!(got, e2.packet, "the filed packet is the appended one, parents in order");
    assert_eq!(pending(), 0);
    let up = b.lineage(e2.packet.id, Direction::Up, 5).await.unwrap();
    let mut ids: Vec<_> = up.iter().map(|l| l.id).collect();
    ids.sort();
    let mut want = vec![e1.packet.id, e0.packet.id, spec.id];
    want.sort();
    assert_eq!(ids, want);
    let hits = b
        .text_search(&TextQuery { query: "quokka".into(), filter: PacketFilter::default(), k: 5 })
        .await
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [e1.packet.id]);
    let rows = b.tasks().load_journal(run).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);

    // A crash (the handle dropped with entries pending): the next process sees them.
    let e3 = entry(3, &[e2.packet.id], None);
    a.tasks().append_journal(&fence, &e3).await.unwrap();
    assert_eq!(pending(), 1);
    drop(a);
    let c = SqliteStore::open(&path, opts.clone()).await.unwrap();
    assert_eq!(c.tasks().load_journal(run).await.unwrap().len(), 4);
    // The other readers file the tail too: by ids, by key, and a fork's copy.
    let e3b = entry(4, &[e3.packet.id], None);
    c.tasks().append_journal(&fence, &e3b).await.unwrap();
    assert_eq!(c.get_packets(&[e3b.packet.id]).await.unwrap(), std::slice::from_ref(&e3b.packet));
    let e3c = entry(5, &[e3b.packet.id], None);
    c.tasks().append_journal(&fence, &e3c).await.unwrap();
    assert_eq!(c.tasks().journal_packet(run, "step:s#5").await.unwrap(), Some(e3c.packet.id));
    let e3d = entry(6, &[e3c.packet.id], None);
    c.tasks().append_journal(&fence, &e3d).await.unwrap();
    let fork = RunId(fx.uuid());
    assert_eq!(c.tasks().copy_journal(run, fork, 100).await.unwrap(), 7);
    assert_eq!(pending(), 0);
    // A packet written the ordinary way may descend from a journal packet still pending.
    let e4 = entry(7, &[e3d.packet.id], None);
    c.tasks().append_journal(&fence, &e4).await.unwrap();
    let child = fx.child("a note on step 4", &[e4.packet.id]);
    c.write(&WriteBatch { packets: vec![child.clone()], ..Default::default() }).await.unwrap();
    let page = c
        .list_packets(
            &PacketFilter { run: Some(run), ..Default::default() },
            &Page { limit: 100, after: None },
        )
        .await
        .unwrap();
    assert_eq!(page.packets.len(), 8, "every journal packet of the run is listed");

    // Many appends are filed on their own, about a thousand at a time.
    let mut prev = e4.packet.id;
    for seq in 8..1100 {
        let e = entry(seq, &[prev], None);
        prev = e.packet.id;
        c.tasks().append_journal(&fence, &e).await.unwrap();
    }
    assert!(pending() < 1000, "{} still pending", pending());
    assert_eq!(
        c.count_packets(&PacketFilter { run: Some(run), ..Default::default() }).await.unwrap(),
        1100
    );
}

/// A store that meets a damaged page stops writing at once, not only when it closes: the
/// next write checks the file, marks it and is refused, and so is every later one.
#[tokio::test]
#[allow(clippy::disallowed_methods)] // python3's sqlite3 finds the table's pages (dbstat)
async fn after_sqlite_reports_damage_the_next_write_checks_and_stops() {
    use l9_store::{Fault, StoreError};
    let dir = l9_test_support::temp_dir();
    let db = dir.path().join("l9.db");
    let opts = || SqliteOptions { dims: DIMS, ..Default::default() };
    let fx = Fx::default();
    {
        let s = SqliteStore::open(&db, opts()).await.unwrap();
        let packets = (0..400).map(|i| fx.note(&format!("note {i} {}", "x".repeat(200)))).collect();
        s.write(&WriteBatch { packets, ..Default::default() }).await.unwrap();
    }
    // Into the main file, then the last leaf page of `packets` overwritten.
    let o = std::process::Command::new("python3")
        .args([
            "-c",
            &format!(
                "import sqlite3; c = sqlite3.connect({:?}); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); \
                 print(max(r[0] for r in c.execute(\"SELECT pageno FROM dbstat WHERE name = 'packets' AND pagetype = 'leaf'\")))",
                db.display().to_string()
            ),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page: u64 = String::from_utf8(o.stdout).unwrap().trim().parse().unwrap();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start((page - 1) * 4096 + 8)).unwrap();
        f.write_all(&[0xA5; 2000]).unwrap();
    }
    let s = SqliteStore::open(&db, opts()).await.unwrap();
    let page = l9_store::Page { limit: 10_000, after: None };
    let read = s.list_packets(&Default::default(), &page).await;
    assert!(matches!(read, Err(StoreError::Environment { fault: Fault::Corrupt, .. })), "{read:?}");
    let one = || WriteBatch { packets: vec![fx.note("one more")], ..Default::default() };
    for _ in 0..2 {
        let e = s.write(&one()).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Environment { fault: Fault::Corrupt, .. })
                && e.to_string().contains("nothing is written"),
            "{e}"
        );
    }
    let mark = std::fs::read_to_string(dir.path().join("l9.db.damaged")).unwrap();
    assert!(mark.contains("after SQLite reported damage"), "{mark}");
}

/// A store made before schema 6 (its state index over every task) is migrated on open: the
/// index then holds only tasks neither queued nor leased, and counts and listings agree.
#[tokio::test]
async fn a_store_from_schema_5_gets_the_narrower_state_index() {
    use l9_store::conformance::{assert_tasks_in_three_states, tasks_in_three_states};
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    tasks_in_three_states(&SqliteStore::open(&path, SqliteOptions::default()).await.unwrap()).await;
    // Back to schema 5 as it was written.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "DROP INDEX tasks_state; CREATE INDEX tasks_state ON tasks(state, id);
         DELETE FROM l9_schema WHERE version = 6;",
    )
    .unwrap();
    drop(c);
    let s = SqliteStore::open(&path, SqliteOptions::default()).await.unwrap();
    assert_tasks_in_three_states(&s).await;
    drop(s);
    let c = rusqlite::Connection::open(&path).unwrap();
    let sql: String = c
        .query_row("SELECT sql FROM sqlite_master WHERE name = 'tasks_state'", [], |r| r.get(0))
        .unwrap();
    assert!(sql.contains("WHERE state NOT IN ('queued', 'leased')"), "{sql}");
    let entries: i64 =
        c.query_row("SELECT count(*) FROM tasks INDEXED BY tasks_state WHERE state NOT IN ('queued', 'leased')", [], |r| r.get(0)).unwrap();
    assert_eq!(entries, 1, "only the finished task is in it");
}

/// The first connection to a new file switches it into WAL, which takes an exclusive lock
/// SQLite's busy timeout does not wait for: opens of one new file at once must all succeed
/// (a CI run saw one of four `l9 init`s fail with "database is locked").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_first_opens_of_one_new_file_at_once_all_succeed() {
    for round in 0..40 {
        let dir = l9_test_support::temp_dir();
        let path = dir.path().join("l9.db");
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                tokio::spawn(async move {
                    let opts = SqliteOptions { dims: DIMS, ..Default::default() };
                    SqliteStore::open(&path, opts).await
                })
            })
            .collect();
        let mut stores = Vec::new();
        for (i, open) in opens.into_iter().enumerate() {
            match open.await.unwrap() {
                Ok(s) => stores.push(s),
                Err(e) => panic!("round {round}: open {i} of 8 failed: {e}"),
            }
        }
        // One schema, usable from every handle: what one writes, another reads.
        let p = Fx::new(round).note("written by one, read by all");
        stores[0]
            .write(&WriteBatch { packets: vec![p.clone()], ..Default::default() })
            .await
            .unwrap();
        for s in &stores[1..] {
            assert!(s.get_packet(p.id).await.unwrap().is_some(), "round {round}");
        }
    }
}

/// The step floor of `l9 bench workflow` writes what it says: every step's packet, its link
/// to the previous step's (a chain back to the run's first packet) and its journal row, in
/// the store's own tables, readable by a store opened on them afterwards.
#[cfg(feature = "baseline")]
#[tokio::test]
async fn the_step_floor_writes_a_step_s_rows() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("floor.db");
    let d = l9_store_sqlite::baseline::durable_step_rows(&path, 25, false).await.unwrap();
    assert!(d.as_nanos() > 0);
    let c = rusqlite::Connection::open(&path).unwrap();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM journal"), 25);
    assert_eq!(count("SELECT count(*) FROM packets WHERE kind = 'journal.step'"), 25);
    assert_eq!(count("SELECT count(*) FROM packet_parents"), 25);
    // Each journal row names its step's packet, whose parent is the step before (the first
    // step's is the run's start).
    assert_eq!(
        count(
            "SELECT count(*) FROM journal j JOIN packets p ON p.id = j.packet \
             JOIN packet_parents pp ON pp.child = p.rowid JOIN packets q ON q.rowid = pp.parent \
             LEFT JOIN journal jq ON jq.packet = q.id \
             WHERE (j.seq = 1 AND q.kind = 'run.start') OR jq.seq = j.seq - 1"
        ),
        25
    );
    drop(c);
    let store = SqliteStore::open(&path, SqliteOptions::default()).await.unwrap();
    let last: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT packet FROM journal ORDER BY seq DESC LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let up = store
        .lineage(l9_types::PacketId(last.parse().unwrap()), l9_store::Direction::Up, 100)
        .await
        .unwrap();
    assert_eq!(up.len(), 25, "24 earlier steps and the run's start");
}
