//! The journal's hot path on SQLite: one short synchronous transaction per appended step,
//! on a dedicated `rusqlite` connection with cached statements.
//!
//! Why: through `sqlx`, every statement is a round trip to the connection's worker thread
//! (~100 µs each on small machines), and a journal append is seven statements. Here the
//! whole append costs what SQLite itself costs (tens of µs with `synchronous=NORMAL`). The
//! transaction runs on the committer task while a mutex is held; it never waits for another
//! writer inside the lock: `busy_timeout` is 0 and a busy database is retried after an async
//! sleep, so a tokio worker thread is never parked on SQLite's lock.
//!
//! Group commit (`l9_store::group`, shared with PostgreSQL): appends that arrive while one
//! batch is being committed queue up and go in the next transaction. Sixteen concurrent
//! workflows then share commits instead of taking turns; each caller still returns only
//! after its own entry is committed. An append that is refused (lease lost, missing
//! parent, taken sequence number) is refused before it writes anything, so the others in
//! its batch commit; an unexpected SQLite error reruns the batch with a savepoint per entry.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l9_store::group::GroupCommit;
use l9_store::{Fence, JournalAppend, Result, StoreError, check_journal_append};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::codec::micros;

#[derive(Debug)]
pub(crate) struct FastWriter {
    conn: Mutex<Connection>,
    group: GroupCommit<Pending>,
}

#[derive(Debug)]
struct Pending {
    fence: Fence,
    entry: JournalAppend,
    blob_hash: Option<[u8; 32]>,
}

enum Attempt {
    Busy,
    Done(Result<()>),
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

impl FastWriter {
    pub(crate) fn open(path: &Path, sync_full: bool) -> Result<Self> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(Duration::ZERO).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
        conn.pragma_update(None, "synchronous", if sync_full { "FULL" } else { "NORMAL" })
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
        // Checkpoint less often than the default 1000 pages: a step rewrites the same few
        // index pages, which a larger checkpoint writes back once.
        conn.pragma_update(None, "wal_autocheckpoint", 8192).map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(FastWriter { conn: Mutex::new(conn), group: GroupCommit::default() })
    }

    pub(crate) async fn append_journal(
        self: &Arc<Self>,
        fence: &Fence,
        e: &JournalAppend,
    ) -> Result<()> {
        self.append_many(fence, std::slice::from_ref(e)).await
    }

    /// Queues `entries` together (so they commit in order, normally in one transaction)
    /// and waits for all of them; the first refusal is returned. The committer is a task of
    /// its own (`l9_store::group`).
    pub(crate) async fn append_many(
        self: &Arc<Self>,
        fence: &Fence,
        entries: &[JournalAppend],
    ) -> Result<()> {
        let mut items = Vec::with_capacity(entries.len());
        for e in entries {
            let blob_hash = check_journal_append(e)?.map(|h| *h.as_bytes());
            items.push(Pending { fence: fence.clone(), entry: e.clone(), blob_hash });
        }
        let (lead, waiters) = self.group.push(items);
        if lead {
            let me = self.clone();
            tokio::spawn(async move {
                me.group.drive(usize::MAX, |batch| me.commit_batch(batch)).await;
            });
        }
        waiters.first_error().await
    }

    /// One batch in one transaction, retried (after an async pause) while another writer
    /// holds the database.
    async fn commit_batch(&self, batch: Vec<Pending>) -> Vec<Result<()>> {
        let mut waited = Duration::ZERO;
        let mut pause = Duration::from_micros(200);
        loop {
            match self.try_commit(&batch) {
                Ok(results) => return results,
                Err(Attempt::Done(Err(e))) => {
                    let msg = e.to_string();
                    return batch.iter().map(|_| Err(StoreError::Backend(msg.clone()))).collect();
                }
                Err(_) if waited > Duration::from_secs(30) => {
                    return batch
                        .iter()
                        .map(|_| {
                            Err(StoreError::Unavailable(
                                "the database stayed locked by another writer for 30 s".into(),
                            ))
                        })
                        .collect();
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    waited += pause;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }

    /// One transaction for the whole batch; `Err(Busy)` means nothing was written.
    fn try_commit(&self, batch: &[Pending]) -> std::result::Result<Vec<Result<()>>, Attempt> {
        // Fast path: no savepoints (they copy every touched page into a sub-journal).
        // `append_one` refuses before it writes anything, so a refused entry leaves no
        // trace; only an unexpected SQLite error sends the batch down the careful path.
        {
            let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
                Ok(tx) => tx,
                Err(err) if is_busy(&err) => return Err(Attempt::Busy),
                Err(err) => return Err(Attempt::Done(Err(backend(err)))),
            };
            let mut results = Vec::with_capacity(batch.len());
            let mut clean = true;
            for p in batch {
                match append_one(&tx, &p.fence, &p.entry, p.blob_hash) {
                    Ok(r) => results.push(r),
                    Err(err) if is_busy(&err) => return Err(Attempt::Busy),
                    Err(_) => {
                        clean = false;
                        break;
                    }
                }
            }
            if clean {
                return match tx.commit() {
                    Ok(()) => Ok(results),
                    Err(err) if is_busy(&err) => Err(Attempt::Busy),
                    Err(err) => Err(Attempt::Done(Err(backend(err)))),
                };
            }
            // Dropping `tx` rolls the whole batch back.
        }
        self.try_commit_careful(batch)
    }

    /// One savepoint per entry, so a failing entry is undone alone.
    fn try_commit_careful(
        &self,
        batch: &[Pending],
    ) -> std::result::Result<Vec<Result<()>>, Attempt> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(err) if is_busy(&err) => return Err(Attempt::Busy),
            Err(err) => return Err(Attempt::Done(Err(backend(err)))),
        };
        let mut results = Vec::with_capacity(batch.len());
        for p in batch {
            let sp = match tx.savepoint() {
                Ok(sp) => sp,
                Err(err) if is_busy(&err) => return Err(Attempt::Busy),
                Err(err) => return Err(Attempt::Done(Err(backend(err)))),
            };
            match append_one(&sp, &p.fence, &p.entry, p.blob_hash) {
                Ok(Ok(())) => {
                    if let Err(err) = sp.commit() {
                        return Err(if is_busy(&err) {
                            Attempt::Busy
                        } else {
                            Attempt::Done(Err(backend(err)))
                        });
                    }
                    results.push(Ok(()));
                }
                // Dropping the savepoint rolls this append back.
                Ok(Err(refused)) => results.push(Err(refused)),
                Err(err) if is_busy(&err) => return Err(Attempt::Busy),
                Err(err) => results.push(Err(backend(err))),
            }
        }
        match tx.commit() {
            Ok(()) => Ok(results),
            Err(err) if is_busy(&err) => Err(Attempt::Busy),
            Err(err) => Err(Attempt::Done(Err(backend(err)))),
        }
    }
}

/// One append inside the caller's transaction. `Ok(Err(_))`: refused (lease lost,
/// missing parent, conflict); `Err(_)`: SQLite failed.
fn append_one(
    tx: &rusqlite::Connection,
    fence: &Fence,
    e: &JournalAppend,
    blob_hash: Option<[u8; 32]>,
) -> std::result::Result<Result<()>, rusqlite::Error> {
    let held: Option<i64> = tx
        .prepare_cached(
            "SELECT 1 FROM tasks WHERE id = ?1 AND state = 'leased' AND lease_owner = ?2",
        )?
        .query_row(params![fence.task.to_string(), fence.worker], |r| r.get(0))
        .optional()?;
    if held.is_none() {
        return Ok(Err(StoreError::LeaseLost(format!(
            "task {} is no longer leased to {}",
            fence.task, fence.worker
        ))));
    }
    let p = &e.packet;
    let mut parent_rows = Vec::with_capacity(p.parents.len());
    for parent in &p.parents {
        let row: Option<i64> = tx
            .prepare_cached("SELECT rowid FROM packets WHERE id = ?1")?
            .query_row(params![parent.to_string()], |r| r.get(0))
            .optional()?;
        match row {
            Some(r) => parent_rows.push(r),
            None => {
                return Ok(Err(StoreError::MissingParent { id: p.id, parent: *parent }));
            }
        }
    }
    let taken: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM journal WHERE run_id = ?1 AND seq = ?2")?
        .query_row(params![e.run.to_string(), e.seq as i64], |r| r.get(0))
        .optional()?;
    if taken.is_some() {
        return Ok(Err(StoreError::LeaseLost(format!(
            "journal entry {} of run {} was already written by another execution",
            e.seq, e.run
        ))));
    }
    let existing: Option<Vec<u8>> = tx
        .prepare_cached("SELECT hash FROM packets WHERE id = ?1")?
        .query_row(params![p.id.to_string()], |r| r.get(0))
        .optional()?;
    if existing.is_some() {
        return Ok(Err(StoreError::Conflict { id: p.id }));
    }
    if let (Some(h), Some(data)) = (blob_hash, e.blob.as_deref()) {
        tx.prepare_cached(
            "INSERT INTO blobs (hash, size, data) VALUES (?1, ?2, ?3) ON CONFLICT(hash) DO NOTHING",
        )?
        .execute(params![h.to_vec(), data.len() as i64, data])?;
    }
    let blobs = serde_json::to_string(&p.blobs).unwrap_or_else(|_| "[]".into());
    let effect = p.effect.as_ref().and_then(|x| serde_json::to_string(x).ok());
    let rowid: i64 = tx
        .prepare_cached(
            "INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING rowid",
        )?
        .query_row(
            params![
                p.id.to_string(),
                i64::from(p.v),
                p.kind,
                i64::from(p.schema),
                p.run_id.map(|r| r.to_string()),
                p.task_id.map(|t| t.to_string()),
                p.actor,
                micros(p.at),
                p.body.to_string(),
                p.text,
                blobs,
                effect,
                p.hash.as_bytes().to_vec(),
            ],
            |r| r.get(0),
        )?;
    for (ord, parent) in parent_rows.iter().enumerate() {
        tx.prepare_cached("INSERT INTO packet_parents (child, parent, ord) VALUES (?1, ?2, ?3)")?
            .execute(params![rowid, parent, ord as i64])?;
    }
    if let Some(text) = p.text.as_deref().filter(|t| !t.is_empty()) {
        tx.prepare_cached("INSERT INTO packet_fts (rowid, text) VALUES (?1, ?2)")?
            .execute(params![rowid, text])?;
    }
    let n = tx
        .prepare_cached(
            "INSERT INTO journal (run_id, seq, key, status, packet) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            e.run.to_string(),
            e.seq as i64,
            e.key,
            e.status.as_str(),
            p.id.to_string()
        ])?;
    if n == 0 {
        return Ok(Err(StoreError::LeaseLost(format!(
            "journal entry {} of run {} was already written by another execution",
            e.seq, e.run
        ))));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pragmas_take_effect() {
        let d = tempfile::tempdir().unwrap();
        for (full, want) in [(true, 2), (false, 1)] {
            let w = FastWriter::open(&d.path().join(format!("{full}.db")), full).unwrap();
            let c = w.conn.lock().unwrap();
            let s: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
            let j: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
            assert_eq!((s, j.as_str()), (want, "wal"));
        }
    }
}
