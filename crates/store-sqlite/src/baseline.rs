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
