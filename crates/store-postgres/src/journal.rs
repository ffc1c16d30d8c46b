//! The journal's append on PostgreSQL: one statement, so one round trip and one commit per
//! step.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

use l9_store::group::GroupCommit;
use l9_store::{Fence, JournalAppend, Result, StoreError, check_journal_append};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::codec::db;
use crate::lanes::Lanes;
use crate::mode::Chooser;

/// A journal append as one statement (data-modifying CTEs): the fence, the blob, the packet,
/// its parents (checked by foreign key) and the journal row, all or nothing.
pub(crate) async fn append_in(
    conn: &mut PgConnection,
    fence: &Fence,
    e: &JournalAppend,
) -> Result<()> {
    // One statement, so one round trip and one commit: the fence, the blob, the packet,
    // its parents (checked by foreign key) and the journal row, all or nothing.
    let blob_hash = check_journal_append(e)?;
    let p = &e.packet;
    let json = |e: serde_json::Error| StoreError::Invalid(e.to_string());
    let parents: Vec<Uuid> = p.parents.iter().map(|x| x.0).collect();
    let ords: Vec<i32> = (0..parents.len() as i32).collect();
    let r = sqlx::query_scalar::<_, i64>(
        "WITH fence AS (
            SELECT id FROM tasks WHERE id = $1 AND state = 'leased' AND lease_owner = $2 FOR SHARE
         ), b AS (
            INSERT INTO blobs (hash, size, data) SELECT $3, length($4), $4 FROM fence
            WHERE $4::bytea IS NOT NULL ON CONFLICT (hash) DO NOTHING
         ), p AS (
            INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash)
            SELECT $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 FROM fence RETURNING id
         ), pp AS (
            INSERT INTO packet_parents (child_id, parent_id, ord)
            SELECT p.id, u.parent, u.ord FROM p, unnest($18::uuid[], $19::int4[]) AS u(parent, ord)
         ), j AS (
            INSERT INTO journal (run_id, seq, key, status, packet)
            SELECT $20, $21, $22, $23, p.id FROM p RETURNING 1
         )
         SELECT count(*) FROM j",
    )
    .bind(fence.task.0)
    .bind(&fence.worker)
    .bind(blob_hash.map(|h| h.as_bytes().to_vec()))
    .bind(e.blob.as_deref())
    .bind(p.id.0)
    .bind(p.v as i32)
    .bind(&p.kind)
    .bind(p.schema as i32)
    .bind(p.run_id.map(|r| r.0))
    .bind(p.task_id.map(|t| t.0))
    .bind(&p.actor)
    .bind(p.at)
    .bind(p.body.to_string())
    .bind(&p.text)
    .bind(serde_json::to_string(&p.blobs).map_err(json)?)
    .bind(p.effect.as_ref().map(serde_json::to_string).transpose().map_err(json)?)
    .bind(p.hash.as_bytes().to_vec())
    .bind(&parents)
    .bind(&ords)
    .bind(e.run.0)
    .bind(e.seq as i64)
    .bind(&e.key)
    .bind(e.status.as_str())
    .fetch_one(&mut *conn)
    .await;
    let lost = || {
        StoreError::LeaseLost(format!(
            "task {} is no longer leased to {}",
            fence.task, fence.worker
        ))
    };
    match r {
        Ok(1) => Ok(()),
        Ok(_) => Err(lost()),
        Err(err) => {
            let (code, constraint) = match err.as_database_error() {
                Some(d) => (d.code().map(|c| c.into_owned()), d.constraint().map(str::to_string)),
                None => (None, None),
            };
            match (code.as_deref(), constraint.as_deref()) {
                (Some("23505"), Some("journal_pkey")) => Err(StoreError::LeaseLost(format!(
                    "journal entry {} of run {} was already written by another execution",
                    e.seq, e.run
                ))),
                (Some("23505"), Some("packets_pkey")) => Err(StoreError::Conflict { id: p.id }),
                (Some("23503"), _) => Err(StoreError::MissingParent {
                    id: p.id,
                    parent: p.parents.first().copied().unwrap_or(p.id),
                }),
                _ => Err(db(err)),
            }
        }
    }
}

/// Group commit for journal appends (the queue is `l9_store::group`, shared with SQLite):
/// appends that arrive while a batch is being committed go together in the next statement
/// (one round trip, one WAL flush for all of them). Each caller returns only after its own
/// entry is committed, so an effectful step is still durable before the next one starts;
/// concurrent workflows share commits instead of taking turns for the disk.
///
/// One statement is in flight at a time while a statement's own work is its larger part.
/// When its commit's wait for the WAL flush is the larger — a disk that makes each commit
/// wait — several go at once (`lanes.rs` decides; a task's appends are never in two of
/// them, so they commit in order): a second statement then shares the first one's wait
/// for the disk instead of queueing behind it.
///
/// Whether appends are grouped at all or spread over every lane (each committer its share of
/// the queue) is chosen by the commit rate each mode reaches (`mode.rs`). While spreading, a
/// caller whose task has nothing queued or held sends its own statement instead of queueing
/// it (`GroupCommit::try_bypass`).
#[derive(Debug)]
pub(crate) struct Committer {
    group: GroupCommit<Pending>,
    stats: Stats,
    /// How many statements may be in flight at once while appends are grouped.
    lanes: Lanes,
    /// Whether appends are grouped or spread over all lanes (`mode.rs`), and how many lanes
    /// that is.
    mode: Chooser,
    max_lanes: usize,
    /// Statements in flight now.
    in_flight: AtomicUsize,
}

/// What the committer did, for benchmarks and tests.
#[derive(Debug, Default)]
struct Stats {
    /// Statements that carried more than one entry.
    grouped: AtomicU64,
    /// Entries those statements carried.
    grouped_entries: AtomicU64,
    /// Groups answered entry by entry after the statement refused them as a whole.
    fallbacks: AtomicU64,
    /// Batches committed, and those sent while another was in flight (a second lane).
    batches: AtomicU64,
    overlapped: AtomicU64,
    /// Of `batches`, those their callers sent themselves (spreading, a lane free).
    bypassed: AtomicU64,
}

/// Group-commit counters: statements that carried several entries, the entries they carried,
/// groups that fell back to one statement per entry, batches committed and those sent while
/// another was in flight; the averaged parts of a timed statement (µs; executing it, and its
/// commit's wait for the flush; 0 before the first) and the lanes open now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitStats {
    pub grouped: u64,
    pub grouped_entries: u64,
    pub fallbacks: u64,
    pub batches: u64,
    pub overlapped: u64,
    /// Batches their callers sent themselves, beside the queue (spreading, a lane free).
    pub bypassed: u64,
    pub work_us: u64,
    pub wait_us: u64,
    pub lanes: u64,
    /// Appends spread over the lanes now (else grouped), and how often that changed.
    pub spread: bool,
    pub mode_switches: u64,
}

#[derive(Debug)]
struct Pending {
    fence: Fence,
    entry: JournalAppend,
}

/// Most entries one statement carries.
const MAX_BATCH: usize = 256;

impl Committer {
    pub(crate) fn new(max_lanes: usize) -> Self {
        Committer {
            group: GroupCommit::default(),
            stats: Stats::default(),
            lanes: Lanes::new(max_lanes),
            mode: Chooser::new(max_lanes),
            max_lanes: max_lanes.max(1),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Queues `entries` (in order) and waits until each is committed; the first refusal is
    /// returned. The committer is a task of its own.
    pub(crate) async fn append(
        self: &Arc<Self>,
        pool: &sqlx::PgPool,
        fence: &Fence,
        entries: &[JournalAppend],
    ) -> Result<()> {
        let mut items = Vec::with_capacity(entries.len());
        for e in entries {
            check_journal_append(e)?;
            items.push(Pending { fence: fence.clone(), entry: e.clone() });
        }
        let key = fence.task.0.as_u128();
        // Spreading, with a lane free and nothing of this task's queued: the caller sends its
        // own statement (no hand-off to a committer task and back). Statements in flight stay
        // within the lanes (half the pool: workers' claims, heartbeats and reads need the
        // rest), whoever sent them.
        if self.mode.spread()
            && self.in_flight.load(Relaxed) < self.max_lanes
            && self.group.try_bypass(key, self.max_lanes)
        {
            let _lane = Bypass { me: self.clone(), pool: pool.clone(), key };
            self.stats.bypassed.fetch_add(1, Relaxed);
            let answers = self.commit(pool, items).await;
            return answers.into_iter().find(Result::is_err).unwrap_or(Ok(()));
        }
        let (lead, waiters) = self.group.push_keyed(key, items, self.lanes_now());
        if lead {
            self.start_committer(pool);
        }
        waiters.first_error().await
    }

    /// A committer, as a task of its own (a caller cancelled while waiting cannot leave the
    /// queue without one).
    fn start_committer(self: &Arc<Self>, pool: &sqlx::PgPool) {
        let (me, pool) = (self.clone(), pool.clone());
        tokio::spawn(async move {
            me.group
                .drive_within(
                    |queued| me.batch_cap(queued),
                    || me.lanes_now(),
                    |batch| me.commit(&pool, batch),
                )
                .await;
        });
    }

    /// Lanes allowed now: all of them while appends are spread, else as `lanes.rs` decides.
    fn lanes_now(&self) -> usize {
        if self.mode.spread() { self.max_lanes } else { self.lanes.now() }
    }

    /// Entries the next batch takes when `queued` wait: all (up to [`MAX_BATCH`]) while
    /// appends are grouped; while they are spread, each lane's share (at least one).
    fn batch_cap(&self, queued: usize) -> usize {
        if self.mode.spread() {
            queued.div_ceil(self.max_lanes).clamp(1, MAX_BATCH)
        } else {
            MAX_BATCH
        }
    }

    /// One batch; a timed one feeds the choice of lanes.
    async fn commit(&self, pool: &sqlx::PgPool, batch: Vec<Pending>) -> Vec<Result<()>> {
        self.stats.batches.fetch_add(1, Relaxed);
        let beside = self.in_flight.fetch_add(1, Relaxed) > 0;
        if beside {
            self.stats.overlapped.fetch_add(1, Relaxed);
        }
        // Only a statement of several entries (several tasks, maybe) is worth timing.
        let timed = batch.len() > 1 && self.lanes.sample_next();
        let entries = batch.len();
        // Several tasks' entries: appenders that spreading could have sent side by side. One
        // task's entries together (a workflow's pure steps, written behind) are not: its
        // entries commit in order, one statement at a time, in either mode.
        let several = batch.iter().any(|p| p.fence.task != batch[0].fence.task);
        let (answers, parts) = commit(pool, batch, &self.stats, timed).await;
        if let Some((work, wait)) = parts {
            self.lanes.record(work, wait);
        }
        let contended = several || beside || self.in_flight.load(Relaxed) > 1;
        self.mode.committed(entries, contended, tokio::time::Instant::now());
        self.in_flight.fetch_sub(1, Relaxed);
        answers
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        let fit = self.lanes.estimate();
        GroupCommitStats {
            grouped: self.stats.grouped.load(Relaxed),
            grouped_entries: self.stats.grouped_entries.load(Relaxed),
            fallbacks: self.stats.fallbacks.load(Relaxed),
            batches: self.stats.batches.load(Relaxed),
            overlapped: self.stats.overlapped.load(Relaxed),
            bypassed: self.stats.bypassed.load(Relaxed),
            work_us: fit.map_or(0, |e| e.work_us as u64),
            wait_us: fit.map_or(0, |e| e.wait_us as u64),
            lanes: self.lanes_now() as u64,
            spread: self.mode.spread(),
            mode_switches: self.mode.switches(),
        }
    }
}

/// A caller committing its own entries beside the queue (`GroupCommit::try_bypass`): gives
/// the task's key and the lane back when dropped — also when the caller is cancelled in the
/// middle of its statement — and starts a committer for entries that queued meanwhile.
struct Bypass {
    me: Arc<Committer>,
    pool: sqlx::PgPool,
    key: u128,
}

impl Drop for Bypass {
    fn drop(&mut self) {
        let no_runtime = tokio::runtime::Handle::try_current().is_err();
        if self.me.group.end_bypass(self.key, no_runtime) {
            self.me.start_committer(&self.pool);
        }
    }
}

/// Commits a batch: one statement for all of it when it can, else entry by entry (a batch
/// with a blob, or one the statement refused as a whole, so each entry gets its own answer).
/// A `timed` batch goes inside an explicit transaction so that executing the statement and
/// committing it are timed apart; those two times are returned with the answers.
async fn commit(
    pool: &sqlx::PgPool,
    batch: Vec<Pending>,
    stats: &Stats,
    timed: bool,
) -> (Vec<Result<()>>, Option<(Duration, Duration)>) {
    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => {
            let msg = db(e).to_string();
            let failed = batch.iter().map(|_| Err(StoreError::Unavailable(msg.clone()))).collect();
            return (failed, None);
        }
    };
    if batch.len() > 1 && batch.iter().all(|p| p.entry.blob.is_none()) {
        let written = if timed {
            append_batch_timed(&mut conn, &batch).await.map(|(w, parts)| (w, Some(parts)))
        } else {
            append_batch(&mut conn, &batch).await.map(|w| (w, None))
        };
        match written {
            Ok((written, parts)) => {
                stats.grouped.fetch_add(1, Relaxed);
                stats.grouped_entries.fetch_add(batch.len() as u64, Relaxed);
                let answers = batch
                    .iter()
                    .map(|p| {
                        if written.contains(&(p.entry.run.0, p.entry.seq as i64)) {
                            Ok(())
                        } else {
                            Err(StoreError::LeaseLost(format!(
                                "task {} is no longer leased to {}",
                                p.fence.task, p.fence.worker
                            )))
                        }
                    })
                    .collect();
                return (answers, parts);
            }
            // One entry spoiled the statement: answer each on its own.
            Err(_) => {
                stats.fallbacks.fetch_add(1, Relaxed);
            }
        }
    }
    let mut out = Vec::with_capacity(batch.len());
    for p in batch {
        out.push(append_in(&mut conn, &p.fence, &p.entry).await);
    }
    (out, None)
}

/// [`append_batch`] in a transaction of its own: the rows written, the time executing the
/// statement took and the time its commit took (the WAL flush's wait). A statement or a
/// commit that fails leaves nothing written (the transaction rolls back).
async fn append_batch_timed(
    conn: &mut PgConnection,
    batch: &[Pending],
) -> std::result::Result<(std::collections::HashSet<(Uuid, i64)>, (Duration, Duration)), sqlx::Error>
{
    use sqlx::Connection as _;
    let mut tx = conn.begin().await?;
    let started = tokio::time::Instant::now();
    let written = append_batch(&mut tx, batch).await?;
    let executed = tokio::time::Instant::now();
    tx.commit().await?;
    Ok((written, (executed - started, executed.elapsed())))
}

/// The statement [`append_batch`] sends (one array per column; `unnest` zips them into rows).
pub(crate) const BATCH_SQL: &str = "WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int4[], $5::text[],
        $6::int4[], $7::uuid[], $8::uuid[], $9::text[], $10::timestamptz[], $11::text[],
        $12::text[], $13::text[], $14::text[], $15::bytea[], $16::uuid[], $17::int8[],
        $18::text[], $19::text[])
    AS i(task, worker, pid, v, kind, schema_v, run_id, task_id, actor, at, body, text,
         blobs, effect, hash, jrun, seq, key, status)
 ), fence AS (
    SELECT i.* FROM input i JOIN tasks t ON t.id = i.task
    WHERE t.state = 'leased' AND t.lease_owner = i.worker
    FOR SHARE OF t
 ), p AS (
    INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash)
    SELECT pid, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash
    FROM fence RETURNING id
 ), pp AS (
    INSERT INTO packet_parents (child_id, parent_id, ord)
    SELECT u.child, u.parent, u.ord
    FROM unnest($20::uuid[], $21::uuid[], $22::int4[]) AS u(child, parent, ord)
    JOIN p ON p.id = u.child
 ), j AS (
    INSERT INTO journal (run_id, seq, key, status, packet)
    SELECT f.jrun, f.seq, f.key, f.status, f.pid FROM fence f
    RETURNING run_id, seq
 )
 SELECT run_id, seq FROM j";

/// All of `batch` in one statement: fences checked per entry (an entry whose task is no
/// longer leased to its worker is left out), packets, parents and journal rows inserted
/// together. Returns the (run, seq) of the rows written.
///
/// The journal rows are the fenced entries themselves, not a join of them with the packets
/// inserted (the same rows: a packet that cannot be inserted fails the whole statement). The
/// prepared statement soon runs a generic plan, which expects one fenced entry and joined the
/// two by nested loop: quadratic in the batch, 12 of a 256-entry statement's 19 ms (seen with
/// `auto_explain`). The parent links' join with the packets is hashed and stays.
async fn append_batch(
    conn: &mut PgConnection,
    batch: &[Pending],
) -> std::result::Result<std::collections::HashSet<(Uuid, i64)>, sqlx::Error> {
    // One array per column, in batch order (`unnest` zips them back into rows).
    fn col<T>(batch: &[Pending], f: impl Fn(&Pending) -> T) -> Vec<T> {
        batch.iter().map(f).collect()
    }
    let parents: Vec<(Uuid, Uuid, i32)> = batch
        .iter()
        .flat_map(|b| {
            let p = &b.entry.packet;
            p.parents.iter().enumerate().map(move |(i, par)| (p.id.0, par.0, i as i32))
        })
        .collect();
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(BATCH_SQL)
        .bind(col(batch, |b| b.fence.task.0))
        .bind(col(batch, |b| b.fence.worker.clone()))
        .bind(col(batch, |b| b.entry.packet.id.0))
        .bind(col(batch, |b| b.entry.packet.v as i32))
        .bind(col(batch, |b| b.entry.packet.kind.clone()))
        .bind(col(batch, |b| b.entry.packet.schema as i32))
        .bind(col(batch, |b| b.entry.packet.run_id.map(|r| r.0)))
        .bind(col(batch, |b| b.entry.packet.task_id.map(|t| t.0)))
        .bind(col(batch, |b| b.entry.packet.actor.clone()))
        .bind(col(batch, |b| b.entry.packet.at))
        .bind(col(batch, |b| b.entry.packet.body.to_string()))
        .bind(col(batch, |b| b.entry.packet.text.clone()))
        .bind(col(batch, |b| {
            serde_json::to_string(&b.entry.packet.blobs).unwrap_or_else(|_| "[]".into())
        }))
        .bind(col(batch, |b| {
            b.entry.packet.effect.as_ref().and_then(|x| serde_json::to_string(x).ok())
        }))
        .bind(col(batch, |b| b.entry.packet.hash.as_bytes().to_vec()))
        .bind(col(batch, |b| b.entry.run.0))
        .bind(col(batch, |b| b.entry.seq as i64))
        .bind(col(batch, |b| b.entry.key.clone()))
        .bind(col(batch, |b| b.entry.status.as_str().to_string()))
        .bind(parents.iter().map(|x| x.0).collect::<Vec<_>>())
        .bind(parents.iter().map(|x| x.1).collect::<Vec<_>>())
        .bind(parents.iter().map(|x| x.2).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed step is a failed test

    use std::sync::atomic::Ordering::Relaxed;

    use super::BATCH_SQL;
    use crate::{PgOptions, PgStore};
    use l9_store::{JournalAppend, Store};

    /// A store in a new schema named after `prefix`, with a pool of 8 (4 lanes); `None`
    /// without a test cluster.
    async fn store_of_8(prefix: &str) -> Option<PgStore> {
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
    async fn leased_task(store: &PgStore) -> (l9_store::conformance::Fx, l9_store::Fence) {
        use l9_store::{Claim, NewTask};
        use l9_types::{Clock, TaskId};
        let fx = l9_store::conformance::Fx::default();
        let id = TaskId(fx.uuid());
        let now = fx.clock.now();
        let q = store.tasks();
        q.enqueue(&[NewTask::new(id, "q", "k", serde_json::json!({}))], now).await.unwrap();
        let claim = Claim {
            queues: vec!["q".into()],
            worker: "w".into(),
            limit: 1,
            lease: std::time::Duration::from_secs(600),
            now,
        };
        assert_eq!(q.claim(&claim).await.unwrap().len(), 1);
        (fx, l9_store::Fence { task: id, worker: "w".into() })
    }

    /// Completed step entries `seqs` of the fenced task's run.
    fn steps(
        fx: &l9_store::conformance::Fx,
        fence: &l9_store::Fence,
        seqs: std::ops::Range<u64>,
    ) -> Vec<JournalAppend> {
        use l9_types::{PacketDraft, RunId};
        let (id, run) = (fence.task, RunId(fence.task.0));
        seqs.map(|seq| JournalAppend {
            run,
            seq,
            key: format!("step:s#{seq}"),
            status: l9_store::JournalStatus::Completed,
            packet: fx.seal(PacketDraft::new("journal.step").run(run).task(id)),
            blob: None,
        })
        .collect()
    }

    /// The journal rows come straight from the fenced entries, also under the generic plan
    /// a prepared statement soon runs (which expects one fenced entry): no join of the batch
    /// with its own packets, which that plan made a nested loop, quadratic in the batch.
    #[tokio::test]
    async fn the_generic_plan_writes_journal_rows_without_a_join() {
        let Some(url) = l9_test_support::pg_url() else { return };
        let schema = l9_test_support::unique_schema("jplan");
        let opts = PgOptions { dims: 4, schema: Some(schema), ..Default::default() };
        let store = PgStore::open(&url, opts).await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
            .execute(&mut *conn)
            .await
            .unwrap();
        let prepare = format!("PREPARE batch AS {BATCH_SQL}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(prepare)).execute(&mut *conn).await.unwrap();
        let nulls = vec!["NULL"; 22].join(", ");
        let explain = format!("EXPLAIN EXECUTE batch({nulls})");
        let plan: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(explain)).fetch_all(&mut *conn).await.unwrap();
        let at = plan.iter().position(|l| l.contains("Insert on journal")).unwrap();
        let source = plan[at + 1].trim_start();
        assert!(source.starts_with("->  CTE Scan on fence"), "{}", plan.join("\n"));
        drop(conn);
        store.drop_schema().await.unwrap();
    }
}
