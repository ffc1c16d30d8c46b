//! Raw baselines for `l9 bench workflow|queue` on SQLite, through a plain `rusqlite`
//! connection with cached statements in a fresh WAL file: single-row inserts, one committed
//! transaction each (the least a durable step can cost here), and a raw queue's claim +
//! complete, one transaction each (the least a durable job can cost here).

#![allow(clippy::disallowed_methods)] // benchmarks measure wall time by definition

use std::path::Path;
use std::time::{Duration, Instant};

use l9_store::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// `n` inserts into a new database at `path`, each in its own `BEGIN IMMEDIATE`
/// transaction, with `synchronous=FULL` or `NORMAL`.
pub async fn durable_inserts(path: &Path, n: usize, sync_full: bool) -> Result<Duration> {
    let c = Connection::open(path).map_err(backend)?;
    c.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    c.pragma_update(None, "synchronous", if sync_full { "FULL" } else { "NORMAL" })
        .map_err(backend)?;
    c.execute("CREATE TABLE raw_steps (id INTEGER PRIMARY KEY, v TEXT)", []).map_err(backend)?;
    // Cached `BEGIN` and `COMMIT` (rusqlite's `Transaction` parses both each time).
    let run = |sql: &str| -> rusqlite::Result<usize> { c.prepare_cached(sql)?.execute([]) };
    let t = Instant::now();
    for i in 0..n {
        run("BEGIN IMMEDIATE").map_err(backend)?;
        c.prepare_cached("INSERT INTO raw_steps (v) VALUES (?1)")
            .map_err(backend)?
            .execute(params![format!("step {i}")])
            .map_err(backend)?;
        run("COMMIT").map_err(backend)?;
    }
    Ok(t.elapsed())
}

/// The rows a durable step writes, by raw SQL and nothing else: a store's own schema at
/// `path` (made by opening a store there; one task enqueued and leased), then `n` steps, each
/// one `BEGIN IMMEDIATE` transaction through a plain connection set up as the store's writer
/// (WAL, the same `synchronous`, foreign keys on, the same page cache): the fence read (the
/// task still leased to this writer), the step's packet row (a journal entry's columns and
/// size) into `packets` and its five indexes, its link to the previous step's packet
/// (foreign keys checked), and its journal row; committed. What the schema costs a step here
/// with no L9 code around it — next to [`durable_inserts`] it splits a step's distance from
/// the one-row floor into the schema's share and the rest.
pub async fn durable_step_rows(path: &Path, n: usize, sync_full: bool) -> Result<Duration> {
    use l9_store::{Claim, NewTask, Store as _};
    use l9_types::{Clock as _, IdSource, SeededRng, SystemClock, TaskId};
    let clock = SystemClock;
    let rng = SeededRng::from_seed(3);
    let ids = || IdSource { clock: &clock, rng: &rng }.uuid();
    let task = TaskId::new(&IdSource { clock: &clock, rng: &rng });
    {
        let opts = crate::SqliteOptions { sync_full, ..Default::default() };
        let store = crate::SqliteStore::open(path, opts).await?;
        let q = store.tasks();
        q.enqueue(
            &[NewTask::new(task, "floor", "floor.steps", serde_json::json!({}))],
            clock.now(),
        )
        .await?;
        let claim = Claim {
            queues: vec!["floor".into()],
            worker: "bench".into(),
            limit: 1,
            lease: Duration::from_secs(3600),
            now: clock.now(),
        };
        if q.claim(&claim).await?.len() != 1 {
            return Err(StoreError::Backend("the step floor could not lease its task".into()));
        }
    }
    let c = Connection::open(path).map_err(backend)?;
    c.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    c.pragma_update(None, "synchronous", if sync_full { "FULL" } else { "NORMAL" })
        .map_err(backend)?;
    c.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
    c.pragma_update(None, "temp_store", "MEMORY").map_err(backend)?;
    c.pragma_update(None, "cache_size", -32000).map_err(backend)?;
    let (run, root) = (ids().to_string(), ids().to_string());
    let at = |clock: &SystemClock| clock.now().timestamp_micros();
    c.execute(
        "INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, blobs, hash) \
         VALUES (?1, 1, 'run.start', 1, ?2, ?3, 'worker:bench', ?4, '{}', '[]', ?5)",
        params![root, run, task.to_string(), at(&clock), l9_types::ContentHash::of_bytes(root.as_bytes()).as_bytes().to_vec()],
    )
    .map_err(backend)?;
    let mut parent: i64 = c.last_insert_rowid();
    // The step packets' ids, made before the clock starts, as L9 makes them before it writes.
    let steps: Vec<String> = (0..n).map(|_| ids().to_string()).collect();
    let (task, worker) = (task.to_string(), "bench");
    let run_sql = |sql: &str| -> rusqlite::Result<usize> { c.prepare_cached(sql)?.execute([]) };
    let t = Instant::now();
    for (i, id) in steps.iter().enumerate() {
        let key = format!("step#{i}");
        let body = format!(
            r#"{{"key":"{key}","kind":"step","status":"ok","effect":{{"kind":"idempotent"}},"value":{i}}}"#
        );
        let hash = l9_types::ContentHash::of_bytes(body.as_bytes()).as_bytes().to_vec();
        run_sql("BEGIN IMMEDIATE").map_err(backend)?;
        let held: bool = c
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ?1 AND state = 'leased' AND lease_owner = ?2)",
            )
            .map_err(backend)?
            .query_row(params![task, worker], |r| r.get(0))
            .map_err(backend)?;
        if !held {
            return Err(StoreError::Backend("the step floor's task is no longer leased".into()));
        }
        c.prepare_cached(
            "INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, blobs, effect, hash) \
             VALUES (?1, 1, 'journal.step', 1, ?2, ?3, 'worker:bench', ?4, ?5, '[]', '{\"kind\":\"idempotent\"}', ?6)",
        )
        .map_err(backend)?
        .execute(params![id, run, task, at(&clock), body, hash])
        .map_err(backend)?;
        let child = c.last_insert_rowid();
        c.prepare_cached("INSERT INTO packet_parents (child, parent, ord) VALUES (?1, ?2, 0)")
            .map_err(backend)?
            .execute(params![child, parent])
            .map_err(backend)?;
        c.prepare_cached(
            "INSERT INTO journal (run_id, seq, key, status, packet) VALUES (?1, ?2, ?3, 'ok', ?4)",
        )
        .map_err(backend)?
        .execute(params![run, i as i64 + 1, key, id])
        .map_err(backend)?;
        run_sql("COMMIT").map_err(backend)?;
        parent = child;
    }
    Ok(t.elapsed())
}

/// A new database at `path` with `n` queued raw jobs.
fn fresh_jobs(path: &Path, n: usize, sync_full: bool) -> Result<Connection> {
    let c = Connection::open(path).map_err(backend)?;
    c.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    c.pragma_update(None, "synchronous", if sync_full { "FULL" } else { "NORMAL" })
        .map_err(backend)?;
    c.execute_batch(
        "CREATE TABLE raw_jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL, result TEXT);
         CREATE INDEX raw_jobs_q ON raw_jobs(id) WHERE state = 'queued';",
    )
    .map_err(backend)?;
    c.execute(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)
         INSERT INTO raw_jobs (state) SELECT 'queued' FROM s",
        params![n as i64],
    )
    .map_err(backend)?;
    Ok(c)
}

/// Claims up to `batch` jobs in one `BEGIN IMMEDIATE` transaction and completes them in
/// another, until none is left: the least a durable queue costs here. Returns the time and
/// the jobs done. Every statement is cached, `BEGIN` and `COMMIT` included (rusqlite's
/// `Transaction` parses both each time). The limit is `?1 + 0`: a bare `LIMIT ?` is a planner
/// hint that makes SQLite compile the statement again whenever the parameter is bound (as
/// L9's claim avoids too). One job at a time, a read and an update by key is the faster claim
/// (one `UPDATE … WHERE id IN (SELECT …) RETURNING` stages the ids and the returned rows in
/// temporary tables); for batches the single statement is.
fn claim_complete(c: &Connection, batch: usize) -> Result<(Duration, usize)> {
    let run = |sql: &str| -> rusqlite::Result<usize> { c.prepare_cached(sql)?.execute([]) };
    let t = Instant::now();
    let mut done = 0;
    loop {
        run("BEGIN IMMEDIATE").map_err(backend)?;
        let ids: Vec<i64> = if batch == 1 {
            let id: Option<i64> = c
                .prepare_cached(
                    "SELECT id FROM raw_jobs WHERE state = 'queued' ORDER BY id LIMIT 1",
                )
                .map_err(backend)?
                .query_row([], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            if let Some(id) = id {
                c.prepare_cached("UPDATE raw_jobs SET state = 'running' WHERE id = ?1")
                    .map_err(backend)?
                    .execute(params![id])
                    .map_err(backend)?;
            }
            id.into_iter().collect()
        } else {
            c.prepare_cached(
                "UPDATE raw_jobs SET state = 'running' WHERE id IN (SELECT id FROM raw_jobs \
                 WHERE state = 'queued' ORDER BY id LIMIT ?1 + 0) RETURNING id",
            )
            .map_err(backend)?
            .query_map(params![batch as i64], |r| r.get(0))
            .map_err(backend)?
            .collect::<rusqlite::Result<_>>()
            .map_err(backend)?
        };
        run("COMMIT").map_err(backend)?;
        if ids.is_empty() {
            return Ok((t.elapsed(), done));
        }
        run("BEGIN IMMEDIATE").map_err(backend)?;
        for id in &ids {
            c.prepare_cached("UPDATE raw_jobs SET state = 'done', result = 'ok' WHERE id = ?1")
                .map_err(backend)?
                .execute(params![id])
                .map_err(backend)?;
        }
        run("COMMIT").map_err(backend)?;
        done += ids.len();
    }
}

/// Raw claim + complete of `n` jobs one at a time, in a new database at `path`: the time and
/// the jobs done.
pub async fn queue_single(path: &Path, n: usize, sync_full: bool) -> Result<(Duration, usize)> {
    let c = fresh_jobs(path, n, sync_full)?;
    claim_complete(&c, 1)
}

/// Raw claim + complete of `n` jobs `batch` at a time, in a new database at `path`: the time
/// and the jobs done.
pub async fn queue_batched(
    path: &Path,
    n: usize,
    batch: usize,
    sync_full: bool,
) -> Result<(Duration, usize)> {
    let c = fresh_jobs(path, n, sync_full)?;
    claim_complete(&c, batch.max(1))
}
