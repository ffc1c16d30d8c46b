//! Tests of the grouped journal append: spreading over lanes, callers' own appends, the
//! generic plan's probes.

#![allow(clippy::unwrap_used)] // tests: a failed step is a failed test

use std::sync::atomic::Ordering::Relaxed;

use super::BATCH_SQL;
use crate::{PgOptions, PgStore};
use l9_store::{JournalAppend, Store};

/// A store in a new schema named after `prefix`, with a pool of 8 (4 lanes); `None`
/// without a test cluster.
pub(crate) async fn store_of_8(prefix: &str) -> Option<PgStore> {
    let url = l9_test_support::pg_url()?;
    let opts = PgOptions {
        dims: l9_store::conformance::DIMS,
        schema: Some(l9_test_support::unique_schema(prefix)),
        max_connections: 8,
        ..Default::default()
    };
    Some(PgStore::open(&url, opts).await.unwrap())
}

/// Appends spread over the lanes (each committer its share of the queue) keep every run's
/// journal in order: the conformance case of staggered concurrent workflows, each step the
/// parent of the next, with the committer held in that mode.
#[tokio::test]
async fn spread_appends_keep_each_run_s_journal_in_order() {
    let Some(store) = store_of_8("jspread").await else { return };
    store.committer.as_ref().unwrap().mode.force(true);
    let pause = std::time::Duration::from_micros(200);
    l9_store::conformance::concurrent_runs_keep_their_journal_order_with(&store, 8, 25, pause)
        .await;
    let s = store.group_commit_stats().unwrap();
    assert!(s.spread && s.lanes == 4, "{s:?}");
    assert!(s.overlapped > 0, "statements went side by side: {s:?}");
    assert!(s.bypassed > 0, "callers sent their own statements: {s:?}");
    store.drop_schema().await.unwrap();
}

/// One workflow's entries in batches (pure steps written behind) leave the choice of mode
/// alone: spreading cannot help one task's entries, which commit one statement at a time
/// either way. Counted as contended, they ran a trial and backed the next one off.
#[tokio::test]
async fn one_task_s_batches_do_not_try_spreading() {
    let Some(store) = store_of_8("jalone").await else { return };
    let (fx, fence) = leased_task(&store).await;
    // 1,200 entries (over four windows of the chooser), in appends of 200 (a statement each).
    for chunk in 0..6u64 {
        let entries = steps(&fx, &fence, chunk * 200..(chunk + 1) * 200);
        store.tasks().append_journal_many(&fence, &entries).await.unwrap();
    }
    let s = store.group_commit_stats().unwrap();
    assert!(s.grouped >= 6, "{s:?}");
    assert_eq!((s.mode_switches, s.spread), (0, false), "{s:?}");
    store.drop_schema().await.unwrap();
}

/// While spreading, a caller sends its own statement only while the statements in flight
/// leave a lane free (the rest of the pool is the workers'); otherwise its append queues.
#[tokio::test]
async fn callers_send_their_own_appends_only_within_the_lanes() {
    let Some(store) = store_of_8("jlanes").await else { return };
    let (fx, fence) = leased_task(&store).await;
    let committer = store.committer.as_ref().unwrap();
    committer.mode.force(true);
    let append = |seq| {
        let (store, fx, fence) = (&store, &fx, &fence);
        async move {
            let e = steps(fx, fence, seq..seq + 1);
            store.tasks().append_journal(fence, &e[0]).await.unwrap();
            store.group_commit_stats().unwrap()
        }
    };
    // Four statements in flight (as if), four lanes: the append queues.
    committer.in_flight.store(4, Relaxed);
    let s = append(0).await;
    assert_eq!((s.batches, s.bypassed), (1, 0), "{s:?}");
    committer.in_flight.store(0, Relaxed);
    let s = append(1).await;
    assert_eq!((s.batches, s.bypassed), (2, 1), "{s:?}");
    let rows = store.tasks().load_journal(l9_types::RunId(fence.task.0)).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1]);
    store.drop_schema().await.unwrap();
}

/// A task enqueued and leased to worker "w", and the fixtures that made it.
pub(crate) async fn leased_task(store: &PgStore) -> (l9_store::conformance::Fx, l9_store::Fence) {
    let (fx, mut fences) = leased_tasks(store, 1).await;
    (fx, fences.remove(0))
}

/// `n` tasks enqueued and leased to worker "w" (fences in enqueue order), and the
/// fixtures that made them.
pub(crate) async fn leased_tasks(
    store: &PgStore,
    n: usize,
) -> (l9_store::conformance::Fx, Vec<l9_store::Fence>) {
    use l9_store::{Claim, NewTask};
    use l9_types::{Clock, TaskId};
    let fx = l9_store::conformance::Fx::default();
    let ids: Vec<TaskId> = (0..n).map(|_| TaskId(fx.uuid())).collect();
    let now = fx.clock.now();
    let q = store.tasks();
    let tasks: Vec<NewTask> =
        ids.iter().map(|id| NewTask::new(*id, "q", "k", serde_json::json!({}))).collect();
    q.enqueue(&tasks, now).await.unwrap();
    let claim = Claim {
        queues: vec!["q".into()],
        worker: "w".into(),
        limit: n,
        lease: std::time::Duration::from_secs(600),
        now,
    };
    assert_eq!(q.claim(&claim).await.unwrap().len(), n);
    let fences = ids.into_iter().map(|task| l9_store::Fence { task, worker: "w".into() });
    (fx, fences.collect())
}

/// Completed step entries `seqs` of the fenced task's run, each the parent of the next
/// (so one filed or checked out of order would be refused).
pub(crate) fn steps(
    fx: &l9_store::conformance::Fx,
    fence: &l9_store::Fence,
    seqs: std::ops::Range<u64>,
) -> Vec<JournalAppend> {
    use l9_types::{PacketDraft, RunId};
    let (id, run) = (fence.task, RunId(fence.task.0));
    let mut parent = None;
    seqs.map(|seq| {
        let mut d = PacketDraft::new("journal.step").run(run).task(id);
        if let Some(p) = parent {
            d = d.parent(p);
        }
        let packet = fx.seal(d.body(serde_json::json!({ "seq": seq })));
        parent = Some(packet.id);
        JournalAppend {
            run,
            seq,
            key: format!("step:s#{seq}"),
            status: l9_store::JournalStatus::Completed,
            packet,
            blob: None,
        }
    })
    .collect()
}

/// Under the generic plan a prepared statement soon runs (made while the tables were
/// small, and kept): the tail rows come straight from the fenced entries (an earlier
/// join of the batch with its own packets became a nested loop, quadratic in the batch),
/// and every check probes a key — no hash of a whole table, no scan of packets or the
/// journal (only the rare last resort, a parent looked for anywhere in the tail, scans it).
#[tokio::test]
async fn the_generic_plan_probes_by_key() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let schema = l9_test_support::unique_schema("jplan");
    let opts = PgOptions { dims: 4, schema: Some(schema), ..Default::default() };
    let store = PgStore::open(&url, opts).await.unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan").execute(&mut *conn).await.unwrap();
    let prepare = format!("PREPARE batch AS {BATCH_SQL}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(prepare)).execute(&mut *conn).await.unwrap();
    let nulls = vec!["NULL"; 24].join(", ");
    let explain = format!("EXPLAIN EXECUTE batch({nulls})");
    let plan: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(explain)).fetch_all(&mut *conn).await.unwrap();
    let shown = plan.join("\n");
    let at = plan.iter().position(|l| l.contains("Insert on journal_pending")).unwrap();
    let source: Vec<&str> = plan[at + 1..at + 4].iter().map(|l| l.trim_start()).collect();
    assert!(source[0].starts_with("->  Nested Loop"), "{shown}");
    assert!(source[1].starts_with("->  Nested Loop"), "{shown}");
    assert!(source[2].starts_with("->  CTE Scan on fence"), "{shown}");
    assert!(!shown.contains("hashed SubPlan"), "{shown}");
    for table in ["packets", "journal ", "packet_parents"] {
        assert!(!shown.contains(&format!("Seq Scan on {table}")), "{shown}");
    }
    let scans = plan.iter().filter(|l| l.contains("Seq Scan on journal_pending")).count();
    assert_eq!(scans, 1, "{shown}");
    drop(conn);
    store.drop_schema().await.unwrap();
}
