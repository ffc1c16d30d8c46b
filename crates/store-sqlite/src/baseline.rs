//! Raw baseline for `l9 bench workflow` on SQLite: single-row inserts, one committed
//! transaction each, through a plain `rusqlite` connection with a cached statement, in a
//! fresh WAL file — the least a durable step can cost here.

#![allow(clippy::disallowed_methods)] // benchmarks measure wall time by definition

use std::path::Path;
use std::time::{Duration, Instant};

use l9_store::{Result, StoreError};
use rusqlite::{Connection, TransactionBehavior, params};

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// `n` inserts into a new database at `path`, each in its own `BEGIN IMMEDIATE`
/// transaction, with `synchronous=FULL` or `NORMAL`.
pub async fn durable_inserts(path: &Path, n: usize, sync_full: bool) -> Result<Duration> {
    let mut c = Connection::open(path).map_err(backend)?;
    c.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    c.pragma_update(None, "synchronous", if sync_full { "FULL" } else { "NORMAL" })
        .map_err(backend)?;
    c.execute("CREATE TABLE raw_steps (id INTEGER PRIMARY KEY, v TEXT)", []).map_err(backend)?;
    let t = Instant::now();
    for i in 0..n {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
        tx.prepare_cached("INSERT INTO raw_steps (v) VALUES (?1)")
            .map_err(backend)?
            .execute(params![format!("step {i}")])
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(t.elapsed())
}
