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
use rusqlite::{Connection, ErrorCode};

use crate::checkpoint;
use crate::tail::{append_one, file_tail};

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

    /// Rolls back now and gives the connection back.
    fn roll_back(self) -> &'c Connection {
        let conn = self.conn;
        drop(self);
        conn
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
const FILE_AT: usize = 1024;

#[derive(Debug)]
pub(crate) struct FastWriter {
    conn: Mutex<Connection>,
    group: GroupCommit<Pending>,
    /// Entries this process appended to the tail since it last filed it.
    in_tail: AtomicUsize,
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

/// Why one attempt at a transaction (or at opening the database) did not go through.
pub(crate) enum Attempt {
    /// Another writer holds the database; nothing was written.
    Busy,
    Failed(StoreError),
}

impl From<rusqlite::Error> for Attempt {
    fn from(e: rusqlite::Error) -> Self {
        if is_busy(&e) { Attempt::Busy } else { Attempt::Failed(backend(e)) }
    }
}

/// Runs `attempt` until the database is not busy, pausing asynchronously in between (so
/// no tokio thread parks on SQLite's lock), for at most 30 s.
async fn while_busy<T>(mut attempt: impl FnMut() -> std::result::Result<T, Attempt>) -> Result<T> {
    while_busy_async(|| std::future::ready(attempt())).await
}

/// [`while_busy`] for an attempt that is itself asynchronous (opening the sqlx pool): the
/// one retry policy of this crate — pauses from 200 µs doubling to 20 ms, for at most 30 s.
pub(crate) async fn while_busy_async<T, F>(mut attempt: impl FnMut() -> F) -> Result<T>
where
    F: std::future::Future<Output = std::result::Result<T, Attempt>>,
{
    let mut waited = Duration::ZERO;
    let mut pause = Duration::from_micros(200);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(Attempt::Failed(e)) => return Err(e),
            Err(Attempt::Busy) if waited > Duration::from_secs(30) => {
                return Err(StoreError::Environment {
                    fault: l9_store::Fault::Busy,
                    detail: "another writer held it for 30 s".into(),
                });
            }
            Err(Attempt::Busy) => {
                tokio::time::sleep(pause).await;
                waited += pause;
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match crate::codec::fault_of(f.extended_code) {
            Some(fault) => StoreError::Environment { fault, detail: e.to_string() },
            None => StoreError::Backend(e.to_string()),
        },
        _ => StoreError::Backend(e.to_string()),
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

impl FastWriter {
    /// Opens the connection, retrying while another process holds the file's lock for a
    /// moment (creating it, switching it into WAL, recovering or checkpointing it as it
    /// closes): with no retry, one of several `l9 init`s at once failed with "database is
    /// locked". Like appends, the open waits outside SQLite (`while_busy`).
    pub(crate) async fn open(path: &Path, sync_full: bool) -> Result<Self> {
        while_busy(|| Self::try_open(path, sync_full)).await
    }

    fn try_open(path: &Path, sync_full: bool) -> std::result::Result<Self, Attempt> {
        let conn = Connection::open(path).map_err(|e| {
            Attempt::Failed(StoreError::Unavailable(format!("{}: {e}", path.display())))
        })?;
        conn.busy_timeout(Duration::ZERO)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if sync_full { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Statement journals (kept while a statement that may abort half-way runs) in
        // memory: in a temporary file they cost a write per page.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoints run on their own thread (`checkpoint.rs`); this connection only
        // checkpoints when the WAL grew far beyond what that thread keeps it at.
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)?;
        // The pool's page cache size: filing the tail touches every packet index.
        conn.pragma_update(None, "cache_size", -32000)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(FastWriter {
            conn: Mutex::new(conn),
            group: GroupCommit::default(),
            in_tail: AtomicUsize::new(0),
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
            Err(Attempt::Failed(e)) => fail_all(batch, &e),
        };
        self.committed(batch.len());
        Some(answers)
    }

    /// One batch, retried while another writer holds the database.
    async fn commit_batch(&self, batch: Vec<Pending>) -> Vec<Result<()>> {
        match while_busy(|| self.try_commit(&batch)).await {
            Ok(results) => {
                self.committed(batch.len());
                results
            }
            Err(e) => fail_all(&batch, &e),
        }
    }

    /// After a commit of `n` entries: files the tail when this process added enough to
    /// it (best effort: a busy database or a failure leaves it, and the next reader files
    /// it) and asks for a checkpoint every `checkpoint::EVERY_COMMITS` commits.
    fn committed(&self, n: usize) {
        if self.in_tail.fetch_add(n, Ordering::Relaxed) + n >= FILE_AT {
            let _ = self.try_file();
        }
        if self.commits.fetch_add(1, Ordering::Relaxed) + 1 >= checkpoint::EVERY_COMMITS {
            self.commits.store(0, Ordering::Relaxed);
            if let Some(c) = &self.checkpointer {
                c.request();
            }
        }
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction on this connection (the queue's hot
    /// path, `fastq.rs`), retried from the start while another writer holds the database.
    /// It commits when `work` answers `Ok(Ok(_))`; a refusal (`Ok(Err(_))`) or an SQLite
    /// error rolls it back.
    pub(crate) async fn transact<T>(
        &self,
        mut work: impl FnMut(&Connection) -> rusqlite::Result<Result<T>>,
    ) -> Result<T> {
        let v = while_busy(|| {
            let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = Immediate::begin(&conn)?;
            match work(&tx)? {
                Ok(v) => {
                    tx.commit()?;
                    Ok(Ok(v))
                }
                Err(refused) => Ok(Err(refused)),
            }
        })
        .await??;
        self.committed(0);
        Ok(v)
    }

    /// The connection, for tests that look at its cached statements.
    #[cfg(test)]
    pub(crate) fn conn_for_tests(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The read barrier: the journal's tail (whoever wrote it) is filed when this returns.
    /// Cheap when it is empty (one probe).
    pub(crate) async fn tail_filed(&self) -> Result<()> {
        while_busy(|| self.try_file()).await
    }

    /// Files the tail in one transaction, if it holds anything.
    fn try_file(&self) -> std::result::Result<(), Attempt> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let any: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM journal_pending)")?
            .query_row([], |r| r.get(0))?;
        if any {
            let tx = Immediate::begin(&conn)?;
            file_tail(&tx)?;
            tx.commit()?;
        }
        self.in_tail.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// One transaction for the whole batch.
    fn try_commit(&self, batch: &[Pending]) -> std::result::Result<Vec<Result<()>>, Attempt> {
        // Fast path: no savepoints (they copy every touched page into a sub-journal).
        // `append_one` refuses before it writes anything, so a refused entry leaves no
        // trace; only an unexpected SQLite error sends the batch down the careful path.
        {
            let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = Immediate::begin(&conn)?;
            let mut results = Vec::with_capacity(batch.len());
            for p in batch {
                match append_one(&tx, &p.fence, &p.entry, p.blob_hash) {
                    Ok(r) => results.push(r),
                    Err(err) if is_busy(&err) => return Err(Attempt::Busy),
                    // Dropping `tx` rolls the whole batch back.
                    Err(_) => return self.try_commit_careful(batch, tx),
                }
            }
            tx.commit()?;
            Ok(results)
        }
    }

    /// One savepoint per entry, so a failing entry is undone alone.
    fn try_commit_careful(
        &self,
        batch: &[Pending],
        spoiled: Immediate<'_>,
    ) -> std::result::Result<Vec<Result<()>>, Attempt> {
        let conn = spoiled.roll_back();
        let tx = Immediate::begin(conn)?;
        let mut results = Vec::with_capacity(batch.len());
        for p in batch {
            tx.prepare_cached("SAVEPOINT entry")?.execute([])?;
            match append_one(&tx, &p.fence, &p.entry, p.blob_hash) {
                Ok(Ok(())) => {
                    tx.prepare_cached("RELEASE entry")?.execute([])?;
                    results.push(Ok(()));
                    continue;
                }
                Ok(Err(refused)) => results.push(Err(refused)),
                Err(err) if is_busy(&err) => return Err(Attempt::Busy),
                Err(err) => results.push(Err(backend(err))),
            }
            // Undo this append alone.
            tx.prepare_cached("ROLLBACK TO entry")?.execute([])?;
            tx.prepare_cached("RELEASE entry")?.execute([])?;
        }
        tx.commit()?;
        Ok(results)
    }
}

/// The same failure for every entry of a batch.
fn fail_all(batch: &[Pending], e: &StoreError) -> Vec<Result<()>> {
    let msg = e.to_string();
    batch.iter().map(|_| Err(StoreError::Backend(msg.clone()))).collect()
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

    /// The careful path (one savepoint per entry, taken after an unexpected error spoiled
    /// a batch): a refused entry is undone alone, the others commit.
    #[tokio::test]
    async fn the_careful_path_undoes_a_refused_entry_alone() {
        use l9_store::{Claim, JournalStatus, NewTask, Store};
        use l9_types::{IdSource, ManualClock, PacketDraft, RunId, SeededRng, TaskId};
        let d = tempfile::tempdir().unwrap();
        let store =
            crate::SqliteStore::open(&d.path().join("l9.db"), Default::default()).await.unwrap();
        let (clock, rng) = (ManualClock::at_epoch_2026(), SeededRng::from_seed(5));
        let ids = IdSource { clock: &clock, rng: &rng };
        let task = NewTask::new(TaskId::new(&ids), "q", "wf", serde_json::json!({}));
        let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        store.tasks().enqueue(std::slice::from_ref(&task), now).await.unwrap();
        let lease = std::time::Duration::from_secs(30);
        let claim = Claim { queues: vec![], worker: "w".into(), limit: 1, lease, now };
        assert_eq!(store.tasks().claim(&claim).await.unwrap().len(), 1);
        let fence = Fence { task: task.id, worker: "w".into() };
        let run = RunId(task.id.0);
        let entry = |seq: u64, parent: Option<l9_types::PacketId>| {
            let mut d = PacketDraft::new("journal.step").run(run).body(serde_json::json!(seq));
            if let Some(p) = parent {
                d = d.parent(p);
            }
            let packet = d.seal(&ids).unwrap();
            let pending =
                |e: JournalAppend| Pending { fence: fence.clone(), entry: e, blob_hash: None };
            pending(JournalAppend {
                run,
                seq,
                key: format!("step:s#{seq}"),
                status: JournalStatus::Completed,
                packet,
                blob: None,
            })
        };
        let first = entry(0, None);
        let parent = first.entry.packet.id;
        let batch = [first, entry(0, None), entry(1, Some(parent))];
        let answers = {
            let conn = store.fast.conn.lock().unwrap();
            let spoiled = Immediate::begin(&conn).unwrap();
            match store.fast.try_commit_careful(&batch, spoiled) {
                Ok(a) => a,
                Err(_) => panic!("the careful path failed as a whole"),
            }
        };
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        assert!(matches!(answers[1], Err(StoreError::LeaseLost(_))), "{answers:?}");
        let rows = store.tasks().load_journal(run).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(rows[1].packet, batch[2].entry.packet.id);
    }

    #[tokio::test]
    async fn pragmas_take_effect() {
        let d = tempfile::tempdir().unwrap();
        for (full, want) in [(true, 2), (false, 1)] {
            let w = FastWriter::open(&d.path().join(format!("{full}.db")), full).await.unwrap();
            let c = w.conn.lock().unwrap();
            let s: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
            let j: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
            assert_eq!((s, j.as_str()), (want, "wal"));
        }
    }

    /// A file another process holds locked while it switches it into WAL (an exclusive lock
    /// for a moment): the open waits for it, then appends never wait inside SQLite.
    #[tokio::test]
    async fn opening_waits_for_a_lock_held_for_a_moment() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("l9.db");
        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch("CREATE TABLE t (x INTEGER); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
            .unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            holder.execute_batch("COMMIT").unwrap();
        });
        let w = FastWriter::open(&path, false).await.unwrap();
        releaser.join().unwrap();
        let c = w.conn.lock().unwrap();
        let wait: i64 = c.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
        assert_eq!(wait, 0, "appends never wait inside SQLite");
        let j: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(j, "wal");
    }
}
