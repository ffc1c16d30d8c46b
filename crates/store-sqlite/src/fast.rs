//! The journal's hot path on SQLite: one short synchronous transaction per appended step,
//! on a dedicated `rusqlite` connection with cached statements.
//!
//! Why: through `sqlx`, every statement is a round trip to the connection's worker thread
//! (~100 µs each on small machines). Here the whole append costs what SQLite itself costs:
//! a few indexed probes and one row in the journal's unfiled tail (`tail.rs`), so a commit
//! writes one or two pages to the WAL; the tail is filed into the packet tables a few
//! hundred rows at a time, and checkpoints run on a thread of their own
//! (`checkpoint.rs`). The transaction runs while a mutex is held; it never waits for
//! another writer inside the lock: `busy_timeout` is 0 and a busy database is retried
//! after an async sleep, so a tokio worker thread is never parked on SQLite's lock.
//!
//! Group commit (`l9_store::group`, shared with PostgreSQL): appends that arrive while one
//! batch is being committed queue up and go in the next transaction. Sixteen concurrent
//! workflows then share commits instead of taking turns; each caller still returns only
//! after its own entry is committed. An append that is refused (lease lost, missing
//! parent, taken sequence number) is refused before it writes anything, so the others in
//! its batch commit; an unexpected SQLite error reruns the batch with a savepoint per entry.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l9_store::group::GroupCommit;
use l9_store::{Fence, JournalAppend, Result, StoreError, check_journal_append};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::checkpoint;
use crate::tail::{append_one, settle_in};

/// `BEGIN IMMEDIATE` … `COMMIT` through cached statements (rusqlite's `Transaction` parses
/// both on every use, a few µs a step); rolled back when dropped uncommitted.
struct Immediate<'c> {
    conn: &'c Connection,
    open: bool,
}

impl<'c> Immediate<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Immediate { conn, open: true })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.open = false;
        Ok(())
    }
}

impl std::ops::Deref for Immediate<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Immediate<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            let _ = self.conn.prepare_cached("ROLLBACK").and_then(|mut s| s.execute([]));
        }
    }
}

/// Entries this process lets pile up in the journal's tail before it files them: index
/// pages rewritten once per this many steps instead of once per step.
const SETTLE_AT: usize = 1024;

#[derive(Debug)]
pub(crate) struct FastWriter {
    conn: Mutex<Connection>,
    group: GroupCommit<Pending>,
    /// Entries this process appended since it last settled.
    unsettled: AtomicUsize,
    /// Commits since the last checkpoint request.
    commits: AtomicUsize,
    checkpointer: Option<checkpoint::Checkpointer>,
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
        // Statement journals (kept while a statement that may abort half-way runs) in
        // memory: in a temporary file they cost a write per page.
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(backend)?;
        // Checkpoints run on their own thread (`checkpoint.rs`); this connection only
        // checkpoints when the WAL grew far beyond what that thread keeps it at.
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)
            .map_err(backend)?;
        // The pool's page cache size: filing the tail touches every packet index.
        conn.pragma_update(None, "cache_size", -32000).map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(FastWriter {
            conn: Mutex::new(conn),
            group: GroupCommit::default(),
            unsettled: AtomicUsize::new(0),
            commits: AtomicUsize::new(0),
            checkpointer: checkpoint::Checkpointer::start(path),
        })
    }

    pub(crate) async fn append_journal(
        self: &Arc<Self>,
        fence: &Fence,
        e: &JournalAppend,
    ) -> Result<()> {
        self.append_many(fence, std::slice::from_ref(e)).await
    }

    /// Queues `entries` together (so they commit in order, normally in one transaction)
    /// and waits for all of them; the first refusal is returned.
    ///
    /// The caller that finds nobody committing commits the queue's first batch itself,
    /// synchronously (no task hand-off, no wake-up on another thread: a lone workflow's
    /// step costs what SQLite costs). Nothing in that path awaits, so a cancelled caller
    /// cannot stop half-way. When the database is busy, or more appends queued up in the
    /// meantime, the committer continues as a task of its own (`l9_store::group`).
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
        if lead && !self.group.commit_now(usize::MAX, |batch| self.commit_once(batch)) {
            let me = self.clone();
            tokio::spawn(async move {
                me.group.drive(usize::MAX, |batch| me.commit_batch(batch)).await;
            });
        }
        waiters.first_error().await
    }

    /// One attempt at a batch: its answers, or `None` when the database is busy (nothing
    /// written).
    fn commit_once(&self, batch: &[Pending]) -> Option<Vec<Result<()>>> {
        let answers = match self.try_commit(batch) {
            Ok(results) => results,
            Err(Attempt::Busy) => return None,
            Err(Attempt::Done(r)) => {
                let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
                batch.iter().map(|_| Err(StoreError::Backend(msg.clone()))).collect()
            }
        };
        self.committed(batch.len());
        Some(answers)
    }

    /// After a commit of `n` entries: settles when enough are pending (best effort: a busy
    /// database or a failure leaves them pending, and the next reader settles them) and
    /// asks for a checkpoint every `checkpoint::EVERY_COMMITS` commits.
    fn committed(&self, n: usize) {
        if self.unsettled.fetch_add(n, Ordering::Relaxed) + n >= SETTLE_AT {
            let _ = self.try_settle();
        }
        if self.commits.fetch_add(1, Ordering::Relaxed) + 1 >= checkpoint::EVERY_COMMITS {
            self.commits.store(0, Ordering::Relaxed);
            if let Some(c) = &self.checkpointer {
                c.request();
            }
        }
    }

    /// The read barrier: every pending journal packet (of any process) is in `packets`
    /// when this returns. Cheap when nothing is pending (one indexed probe).
    pub(crate) async fn settled(&self) -> Result<()> {
        let mut waited = Duration::ZERO;
        let mut pause = Duration::from_micros(200);
        loop {
            match self.try_settle() {
                Ok(()) => return Ok(()),
                Err(Attempt::Done(r)) => return r,
                Err(Attempt::Busy) if waited > Duration::from_secs(30) => {
                    return Err(StoreError::Unavailable(
                        "the database stayed locked by another writer for 30 s".into(),
                    ));
                }
                Err(Attempt::Busy) => {
                    tokio::time::sleep(pause).await;
                    waited += pause;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }

    /// Settles what is pending in one transaction; `Err(Busy)`: nothing changed.
    fn try_settle(&self) -> std::result::Result<(), Attempt> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let any: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM journal_pending)")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|err| Attempt::Done(Err(backend(err))))?;
        if !any {
            self.unsettled.store(0, Ordering::Relaxed);
            return Ok(());
        }
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(err) if is_busy(&err) => return Err(Attempt::Busy),
            Err(err) => return Err(Attempt::Done(Err(backend(err)))),
        };
        match settle_in(&tx) {
            Ok(_) => {}
            Err(err) if is_busy(&err) => return Err(Attempt::Busy),
            Err(err) => return Err(Attempt::Done(Err(backend(err)))),
        }
        match tx.commit() {
            Ok(()) => {}
            Err(err) if is_busy(&err) => return Err(Attempt::Busy),
            Err(err) => return Err(Attempt::Done(Err(backend(err)))),
        }
        self.unsettled.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// One batch in one transaction, retried (after an async pause) while another writer
    /// holds the database.
    async fn commit_batch(&self, batch: Vec<Pending>) -> Vec<Result<()>> {
        let mut waited = Duration::ZERO;
        let mut pause = Duration::from_micros(200);
        loop {
            match self.try_commit(&batch) {
                Ok(results) => {
                    self.committed(batch.len());
                    return results;
                }
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
            let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = match Immediate::begin(&conn) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_immediate_transaction_commits_or_rolls_back_when_dropped() {
        let c = Connection::open_in_memory().unwrap();
        c.execute("CREATE TABLE t (x INTEGER)", []).unwrap();
        let count = |c: &Connection| -> i64 {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
        };
        {
            let tx = Immediate::begin(&c).unwrap();
            tx.execute("INSERT INTO t VALUES (1)", []).unwrap();
        }
        assert_eq!(count(&c), 0, "dropped uncommitted: rolled back");
        assert!(c.is_autocommit());
        let tx = Immediate::begin(&c).unwrap();
        tx.execute("INSERT INTO t VALUES (2)", []).unwrap();
        tx.commit().unwrap();
        assert_eq!(count(&c), 1);
        // The cached statements serve the next transaction too.
        let tx = Immediate::begin(&c).unwrap();
        tx.execute("INSERT INTO t VALUES (3)", []).unwrap();
        tx.commit().unwrap();
        assert_eq!(count(&c), 2);
    }

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
