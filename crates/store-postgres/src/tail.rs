//! The journal's unfiled tail on PostgreSQL: what a durable step writes, and how it is filed.
//!
//! A step's journal entry and its packet go into one row of `journal_pending`, keyed by
//! `(run_id, seq)` — one heap row and one B-tree entry per commit, where writing them straight
//! into their tables cost a packet row (six B-trees and the full-text index), a lineage row
//! (then with two foreign keys checked) and a journal row. `bench/step-anatomy.sh` measures
//! both side by side with pgbench (its `tail` variant is this append; 3 rounds, one server,
//! 2026-12-07): the append ran at 0.67–0.71× of the one-row floor with 1 client, the rows as
//! they were stored 0.60–0.67×; with 16 clients on 2 cores 0.35–0.54× and 0.43–0.47× — there
//! the append's checks cost about what the rows they replace cost, and the fence alone holds
//! a step well below the floor. Reads that cannot depend on the tail do not file it
//! (`lib.rs`: a packet found by id, vector search, embeddings), and full text asks about it
//! in its own statement.
//!
//! Filing ([`file`]) moves the whole tail into `packets`, `packet_parents` (the full-text
//! index with them) and `journal` in one statement, under an advisory lock so filers in
//! several processes take turns. A process files in the background once it has appended
//! [`FILE_AT`] entries; every reader of those tables files first ([`Tail::filed`]), whoever
//! wrote the tail, so nobody can tell the difference — except in steps per second.
//! Crash-safe as it stands: filing moves committed rows in one transaction, so whatever a
//! process leaves in the tail the next reader files. What the tables' keys refused at append
//! time, the append now checks itself (`journal.rs`), so filing cannot be refused by them.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use l9_store::Result;
use sqlx::{PgConnection, PgPool};

use crate::codec::db;

/// Entries this process lets pile up in the tail before it files them in the background.
const FILE_AT: usize = 1024;

/// Moves every entry of the tail this transaction sees into the tables (packets in id
/// order, which is time order, so their indexes grow at their ends); returns how many moved.
/// Parents were checked at append time (`journal.rs`); `packet_parents` has no foreign keys
/// to check them again (schema 6). A packet or journal row already there keeps its row: the
/// append refused both, so only a caller that re-sent an entry raced past it.
const FILE_SQL: &str = "WITH moved AS (DELETE FROM journal_pending RETURNING *),
 p AS (
    INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash)
    SELECT id, v, kind, schema_v, packet_run, task_id, actor, at, body, text, blobs, effect, hash
    FROM moved ORDER BY id ON CONFLICT (id) DO NOTHING
 ), pp AS (
    INSERT INTO packet_parents (child_id, parent_id, ord)
    SELECT m.id, u.parent, (u.ord - 1)::int4
    FROM moved m, unnest(m.parents) WITH ORDINALITY AS u(parent, ord)
    ON CONFLICT DO NOTHING
 ), j AS (
    INSERT INTO journal (run_id, seq, key, status, packet)
    SELECT run_id, seq, key, status, id FROM moved ORDER BY run_id, seq
    ON CONFLICT DO NOTHING RETURNING 1
 )
 SELECT count(*) FROM moved";

/// How long the server lets a filer's transaction sit idle (its client gone quiet: a cut
/// link, a future dropped between statements) before ending the session. The lock a filer
/// holds stops every reader of the schema in every process, so it must not outlive its
/// client by more than this; the tail stays as it was and the next reader files it.
const IDLE_FILER: &str = "10s";

/// Files the tail inside the caller's transaction, after waiting for any other filer of this
/// schema (`lock`: the name of their advisory lock, hashed by the server, so every process
/// gets the same key); the transaction may sit idle at most [`IDLE_FILER`]. Returns the
/// entries moved.
async fn file(tx: &mut PgConnection, lock: &str) -> Result<u64> {
    sqlx::query(
        "SELECT set_config('idle_in_transaction_session_timeout', $2, true), \
         pg_advisory_xact_lock(hashtextextended($1, 0))",
    )
    .bind(lock)
    .bind(IDLE_FILER)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let moved: i64 = sqlx::query_scalar(FILE_SQL).fetch_one(&mut *tx).await.map_err(db)?;
    Ok(moved as u64)
}

/// This process's side of the tail: how much it appended since it last filed, and whether a
/// background filing is under way.
#[derive(Debug)]
pub(crate) struct Tail {
    /// The name of the advisory lock filers of this schema take turns on.
    lock: String,
    appended: AtomicUsize,
    filing: AtomicBool,
}

impl Tail {
    pub(crate) fn new(schema: &str) -> Arc<Self> {
        Arc::new(Tail {
            lock: format!("l9.journal_pending.{schema}"),
            appended: AtomicUsize::new(0),
            filing: AtomicBool::new(false),
        })
    }

    /// The read barrier: every entry appended (by anyone) before this call is filed when it
    /// returns. One probe when the tail is empty; says whether it was not.
    pub(crate) async fn filed(&self, pool: &PgPool) -> Result<bool> {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM journal_pending)")
            .fetch_one(pool)
            .await
            .map_err(db)?;
        if any {
            let mut tx = pool.begin().await.map_err(db)?;
            file(&mut tx, &self.lock).await?;
            tx.commit().await.map_err(db)?;
            self.appended.store(0, Relaxed);
        }
        Ok(any)
    }

    /// Counts `n` entries appended; past [`FILE_AT`], files the tail in a task of its own
    /// (one at a time in this process; a filer elsewhere holding the lock makes it wait).
    /// A failed background filing leaves the tail as it was: the next reader files it, and
    /// reports what went wrong.
    pub(crate) fn appended(self: &Arc<Self>, n: usize, pool: &PgPool) {
        if self.appended.fetch_add(n, Relaxed) + n < FILE_AT || self.filing.swap(true, Relaxed) {
            return;
        }
        self.appended.store(0, Relaxed);
        let (me, pool) = (self.clone(), pool.clone());
        tokio::spawn(async move {
            let _ = async {
                let mut tx = pool.begin().await.map_err(db)?;
                file(&mut tx, &me.lock).await?;
                tx.commit().await.map_err(db)
            }
            .await;
            me.filing.store(false, Relaxed);
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed step is a failed test

    use l9_store::{Direction, Store};
    use l9_types::RunId;

    use super::FILE_AT;
    use crate::PgStore;
    use crate::journal::tests::{leased_task, leased_tasks, steps, store_of_8};

    async fn in_tail(store: &PgStore) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM journal_pending")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    /// A step waits in the tail (not yet a packet or a journal row) until someone reads:
    /// a second handle on the same schema — another process, as far as the tail can tell —
    /// files it when a packet it asks for by id is not among the filed ones, and sees every
    /// entry, in order.
    #[tokio::test]
    async fn entries_wait_in_the_tail_until_any_reader_files_them() {
        let Some(store) = store_of_8("tail").await else { return };
        let (fx, fence) = leased_task(&store).await;
        let entries = steps(&fx, &fence, 0..5);
        for e in &entries {
            store.tasks().append_journal(&fence, e).await.unwrap();
        }
        assert_eq!(in_tail(&store).await, 5);
        let filed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM packets WHERE kind = 'journal.step'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(filed, 0);
        let other = another(&store);
        // A packet not found among the filed ones makes the reader file the tail.
        let ids = [entries[0].packet.id, entries[4].packet.id];
        assert_eq!(other.get_packets(&ids).await.unwrap().len(), 2);
        assert_eq!(in_tail(&store).await, 0);
        let rows = other.tasks().load_journal(entries[0].run).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        let more = steps(&fx, &fence, 5..6);
        store.tasks().append_journal(&fence, &more[0]).await.unwrap();
        assert_eq!(in_tail(&store).await, 1);
        assert!(other.get_packet(more[0].packet.id).await.unwrap().is_some());
        assert_eq!(in_tail(&store).await, 0);
        store.drop_schema().await.unwrap();
    }

    /// Past `FILE_AT` entries appended, the process files the tail in the background, with
    /// nobody reading.
    #[tokio::test]
    async fn a_long_tail_is_filed_without_a_reader() {
        let Some(store) = store_of_8("tailbg").await else { return };
        let (fx, fence) = leased_task(&store).await;
        let n = FILE_AT as u64 + 10;
        let entries = steps(&fx, &fence, 0..n);
        for chunk in entries.chunks(100) {
            store.tasks().append_journal_many(&fence, chunk).await.unwrap();
        }
        let waited = tokio::time::Instant::now();
        while in_tail(&store).await > (n as i64 - FILE_AT as i64) {
            assert!(waited.elapsed() < std::time::Duration::from_secs(20), "never filed");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let journal: i64 = sqlx::query_scalar("SELECT count(*) FROM journal")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(journal >= FILE_AT as i64, "{journal}");
        store.drop_schema().await.unwrap();
    }

    /// A filer whose client goes quiet in the middle of its transaction (here: the lock taken,
    /// then nothing) holds every other filer — and so every reader — only until the server
    /// ends its idle session, not for as long as the connection lives.
    #[tokio::test]
    async fn a_filer_gone_quiet_holds_the_others_only_for_a_while() {
        let Some(store) = store_of_8("tailidle").await else { return };
        let (fx, fence) = leased_task(&store).await;
        store.tasks().append_journal(&fence, &steps(&fx, &fence, 0..1)[0]).await.unwrap();
        let mut quiet = store.pool().begin().await.unwrap();
        super::file(&mut quiet, &store.tail.lock).await.unwrap();
        let other = another(&store);
        let entries = steps(&fx, &fence, 0..1);
        let waited = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            other.tasks().load_journal(entries[0].run),
        )
        .await;
        let rows = waited.expect("the quiet filer's lock outlived its idle timeout").unwrap();
        assert_eq!(rows.len(), 1);
        assert!(quiet.commit().await.is_err(), "the server ended the quiet session");
        store.drop_schema().await.unwrap();
    }

    /// Another process's view of the same schema: its own tail counter and committer.
    fn another(store: &PgStore) -> PgStore {
        PgStore {
            tail: super::Tail::new(store.schema().unwrap()),
            committer: Some(std::sync::Arc::new(crate::journal::Committer::new(4))),
            ..store.clone()
        }
    }

    /// Two processes append chained entries at once, in chunks, while a third reads (and so
    /// files) again and again: filings meet appends in flight, parents move from the tail to
    /// the tables between one entry and the next, and every journal ends whole, in order, its
    /// lineage unbroken.
    #[tokio::test]
    async fn appends_and_filings_of_several_processes_interleave() {
        let Some(store) = store_of_8("tailmp").await else { return };
        let (fx, fences) = leased_tasks(&store, 2).await;
        const N: u64 = 300;
        let writer = |s: PgStore, fence: l9_store::Fence| {
            let entries = steps(&fx, &fence, 0..N);
            async move {
                for part in entries.chunks(20) {
                    s.tasks().append_journal_many(&fence, part).await.unwrap();
                    tokio::task::yield_now().await;
                }
                entries.last().unwrap().packet.id
            }
        };
        let reader = another(&store);
        let run = RunId(fences[0].task.0);
        let read = async {
            for _ in 0..40 {
                let seqs: Vec<u64> =
                    reader.tasks().load_journal(run).await.unwrap().iter().map(|r| r.seq).collect();
                assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "a prefix, in order");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        let (last_a, last_b, ()) = tokio::join!(
            writer(store.clone(), fences[0].clone()),
            writer(another(&store), fences[1].clone()),
            read,
        );
        for (fence, last) in fences.iter().zip([last_a, last_b]) {
            let rows = reader.tasks().load_journal(RunId(fence.task.0)).await.unwrap();
            assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (0..N).collect::<Vec<_>>());
            let up = reader.lineage(last, Direction::Up, 1_000).await.unwrap();
            assert_eq!(up.len() as u64, N - 1, "the chain back to the first entry");
        }
        assert_eq!(in_tail(&store).await, 0);
        store.drop_schema().await.unwrap();
    }
}
