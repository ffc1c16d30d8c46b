//! The journal's append on PostgreSQL: one statement into the journal's unfiled tail
//! (`tail.rs`), so one round trip, one row and one commit per step; grouped with other
//! workflows' appends when they arrive together.

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

/// A journal append as one statement (data-modifying CTEs), into the journal's unfiled tail
/// (`tail.rs`): the fence, the checks the tables' keys made before (sequence number taken,
/// packet already filed, parents unknown), the blob and the tail row, all or nothing.
///
/// A parent is known when it is the run's previous entry still in the tail (a probe by key:
/// a step's usual parent), a filed packet, or — rarely, e.g. a child run citing its parent's
/// entry — any entry in the tail. `CASE` tries them in that order. Each probe is a scalar
/// subquery, which the planner cannot turn into a hash of the whole table (an `EXISTS` can
/// become one, and a generic plan made while the tables were small would keep it). The first
/// parent is a parameter of its own (`$23`); only an entry with more parents (`$24`, the
/// rest) sends the statement that unnests them ([`append_sql`]`(true)`): with an array to
/// unnest, PostgreSQL's generic plan (which guesses ten elements) never looks cheaper than a
/// custom one, so every call was planned again (`pg_stat_statements`: 0.28 ms of planning a
/// step against 0.05 ms of execution).
fn append_sql(more_parents: bool) -> &'static str {
    static SQL: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let make = |rest: &str| {
            format!(
                "WITH fence AS (
        SELECT id FROM tasks WHERE id = $1 AND state = 'leased' AND lease_owner = $2 FOR SHARE
     ), chk AS (
        SELECT (SELECT 1 FROM journal WHERE run_id = $19 AND seq = $20) IS NOT NULL AS taken,
               (SELECT 1 FROM packets WHERE id = $5) IS NOT NULL AS filed,
               CASE WHEN $23::uuid IS NULL THEN true
                   WHEN (SELECT q.id = $23 FROM journal_pending q
                       WHERE q.run_id = $19 AND q.seq = $20 - 1) THEN true
                   WHEN (SELECT 1 FROM packets WHERE id = $23) IS NOT NULL THEN true
                   ELSE (SELECT 1 FROM journal_pending q WHERE q.id = $23 LIMIT 1) IS NOT NULL
               END{rest} AS known
     ), ok AS (
        SELECT 1 FROM fence, chk WHERE NOT chk.taken AND NOT chk.filed AND chk.known
     ), b AS (
        INSERT INTO blobs (hash, size, data) SELECT $3, length($4), $4 FROM ok
        WHERE $4::bytea IS NOT NULL ON CONFLICT (hash) DO NOTHING
     ), j AS (
        INSERT INTO journal_pending (run_id, seq, key, status, id, v, kind, schema_v, packet_run,
            task_id, actor, at, body, text, blobs, effect, hash, parents)
        SELECT $19, $20, $21, $22, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
        FROM ok RETURNING 1
     )
     SELECT (SELECT count(*) FROM fence), chk.taken, chk.filed, chk.known,
            (SELECT count(*) FROM j) FROM chk"
            )
        };
        [
            make(""),
            make(
                "
               AND (SELECT count(*) FROM unnest($24::uuid[]) AS u(parent) WHERE NOT CASE
                   WHEN (SELECT 1 FROM packets WHERE id = u.parent) IS NOT NULL THEN true
                   ELSE (SELECT 1 FROM journal_pending q WHERE q.id = u.parent LIMIT 1)
                       IS NOT NULL END) = 0",
            ),
        ]
    });
    &sql[usize::from(more_parents)]
}

/// One journal append ([`append_sql`]); refusals (lease lost, sequence number taken, packet
/// already stored, parent unknown) write nothing.
pub(crate) async fn append_in(
    conn: &mut PgConnection,
    fence: &Fence,
    e: &JournalAppend,
) -> Result<()> {
    let blob_hash = check_journal_append(e)?;
    let p = &e.packet;
    let json = |e: serde_json::Error| StoreError::Invalid(e.to_string());
    let parents: Vec<Uuid> = p.parents.iter().map(|x| x.0).collect();
    let more = parents.len() > 1;
    let q = sqlx::query_as::<_, (i64, bool, bool, bool, i64)>(append_sql(more))
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
        .bind(e.run.0)
        .bind(e.seq as i64)
        .bind(&e.key)
        .bind(e.status.as_str())
        .bind(parents.first());
    let q = if more { q.bind(&parents[1..]) } else { q };
    let r = q.fetch_one(&mut *conn).await;
    let taken = || {
        StoreError::LeaseLost(format!(
            "journal entry {} of run {} was already written by another execution",
            e.seq, e.run
        ))
    };
    match r {
        Ok((_, _, _, _, 1)) => Ok(()),
        Ok((0, ..)) => Err(StoreError::LeaseLost(format!(
            "task {} is no longer leased to {}",
            fence.task, fence.worker
        ))),
        Ok((_, true, ..)) => Err(taken()),
        Ok((_, _, true, ..)) => Err(StoreError::Conflict { id: p.id }),
        Ok((_, _, _, false, _)) => Err(StoreError::MissingParent {
            id: p.id,
            parent: first_unknown(conn, &p.parents).await?.unwrap_or(p.id),
        }),
        Ok(_) => Err(StoreError::Backend(format!(
            "journal entry {} of run {} was neither written nor refused",
            e.seq, e.run
        ))),
        Err(err) => match err.as_database_error() {
            // The sequence number is in the tail already.
            Some(d) if d.code().as_deref() == Some("23505") => Err(taken()),
            _ => Err(db(err)),
        },
    }
}

/// The first of `parents` neither filed nor in the tail (for the refusal's message).
async fn first_unknown(
    conn: &mut PgConnection,
    parents: &[l9_types::PacketId],
) -> Result<Option<l9_types::PacketId>> {
    for parent in parents {
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM packets WHERE id = $1) \
             OR EXISTS (SELECT 1 FROM journal_pending WHERE id = $1)",
        )
        .bind(parent.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        if !known {
            return Ok(Some(*parent));
        }
    }
    Ok(None)
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
            Ok((BatchWritten::Rows(written), parts)) => {
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
            Ok((BatchWritten::Refused, _)) | Err(_) => {
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
) -> std::result::Result<(BatchWritten, (Duration, Duration)), sqlx::Error> {
    use sqlx::Connection as _;
    let mut tx = conn.begin().await?;
    let started = tokio::time::Instant::now();
    let written = append_batch(&mut tx, batch).await?;
    let executed = tokio::time::Instant::now();
    tx.commit().await?;
    Ok((written, (executed - started, executed.elapsed())))
}

/// The statement [`append_batch`] sends (one array per column; `unnest` zips them into rows):
/// the fenced entries go into the journal's tail (`tail.rs`) if none of them is refused for
/// another reason (sequence number taken, packet filed, parent unknown: the same checks as
/// [`append_sql`], a parent also known when it is an entry of this batch); else nothing is
/// written and one row of NULLs says so (the caller then answers entry by entry).
pub(crate) const BATCH_SQL: &str = "WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int4[], $5::text[],
        $6::int4[], $7::uuid[], $8::uuid[], $9::text[], $10::timestamptz[], $11::text[],
        $12::text[], $13::text[], $14::text[], $15::bytea[], $16::uuid[], $17::int8[],
        $18::text[], $19::text[], $20::text[])
    AS i(task, worker, pid, v, kind, schema_v, run_id, task_id, actor, at, body, text,
         blobs, effect, hash, jrun, seq, key, status, parents)
 ), fence AS (
    SELECT i.* FROM input i JOIN tasks t ON t.id = i.task
    WHERE t.state = 'leased' AND t.lease_owner = i.worker
    FOR SHARE OF t
 ), refused AS (
    SELECT count(*) AS n FROM fence f
    WHERE (SELECT 1 FROM journal j WHERE j.run_id = f.jrun AND j.seq = f.seq) IS NOT NULL
       OR (SELECT 1 FROM packets p WHERE p.id = f.pid) IS NOT NULL
 ), missing AS (
    SELECT count(*) AS n FROM unnest($21::uuid[], $22::int8[], $23::uuid[], $24::int4[])
        AS u(jrun, seq, parent, ord)
    WHERE NOT CASE
        WHEN u.ord = 0 AND (SELECT q.id = u.parent FROM journal_pending q
            WHERE q.run_id = u.jrun AND q.seq = u.seq - 1) THEN true
        WHEN (SELECT 1 FROM packets WHERE id = u.parent) IS NOT NULL THEN true
        WHEN u.parent = ANY($3::uuid[]) THEN true
        ELSE (SELECT 1 FROM journal_pending q WHERE q.id = u.parent LIMIT 1) IS NOT NULL END
 ), j AS (
    INSERT INTO journal_pending (run_id, seq, key, status, id, v, kind, schema_v, packet_run,
        task_id, actor, at, body, text, blobs, effect, hash, parents)
    SELECT f.jrun, f.seq, f.key, f.status, f.pid, f.v, f.kind, f.schema_v, f.run_id, f.task_id,
        f.actor, f.at, f.body, f.text, f.blobs, f.effect, f.hash, f.parents::uuid[]
    FROM fence f, refused r, missing m WHERE r.n = 0 AND m.n = 0
    RETURNING run_id, seq
 )
 SELECT run_id, seq FROM j
 UNION ALL SELECT NULL, NULL FROM refused r, missing m WHERE r.n > 0 OR m.n > 0";

/// What [`append_batch`] did: the (run, seq) of the entries written — the others' tasks are
/// no longer leased to their workers — or nothing, because an entry was refused for another
/// reason (each then needs its own answer).
enum BatchWritten {
    Rows(std::collections::HashSet<(Uuid, i64)>),
    Refused,
}

/// All of `batch` in one statement ([`BATCH_SQL`]): fences checked per entry (an entry whose
/// task is no longer leased to its worker is left out), the other checks for all, the tail's
/// rows inserted together.
///
/// The tail rows are the fenced entries themselves, not a join with anything inserted: the
/// prepared statement soon runs a generic plan, which expects one fenced entry, and an earlier
/// join of the entries with the packets they inserted ran as a nested loop, quadratic in the
/// batch (12 of a 256-entry statement's 19 ms, seen with `auto_explain`).
async fn append_batch(
    conn: &mut PgConnection,
    batch: &[Pending],
) -> std::result::Result<BatchWritten, sqlx::Error> {
    // One array per column, in batch order (`unnest` zips them back into rows).
    fn col<T>(batch: &[Pending], f: impl Fn(&Pending) -> T) -> Vec<T> {
        batch.iter().map(f).collect()
    }
    // Each parent link with its child's run and sequence number (to probe the run's
    // previous entry by key) and its place among the child's parents.
    let links: Vec<(Uuid, i64, Uuid, i32)> = batch
        .iter()
        .flat_map(|b| {
            let (run, seq) = (b.entry.run.0, b.entry.seq as i64);
            b.entry
                .packet
                .parents
                .iter()
                .enumerate()
                .map(move |(i, par)| (run, seq, par.0, i as i32))
        })
        .collect();
    let rows: Vec<(Option<Uuid>, Option<i64>)> = sqlx::query_as(BATCH_SQL)
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
        .bind(col(batch, |b| uuid_array(&b.entry.packet.parents)))
        .bind(links.iter().map(|x| x.0).collect::<Vec<_>>())
        .bind(links.iter().map(|x| x.1).collect::<Vec<_>>())
        .bind(links.iter().map(|x| x.2).collect::<Vec<_>>())
        .bind(links.iter().map(|x| x.3).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
    let mut written = std::collections::HashSet::with_capacity(rows.len());
    for row in rows {
        match row {
            (Some(run), Some(seq)) => {
                written.insert((run, seq));
            }
            _ => return Ok(BatchWritten::Refused),
        }
    }
    Ok(BatchWritten::Rows(written))
}

/// Packet ids as a PostgreSQL array literal (`{a,b}`): one text per entry, cast back to
/// `uuid[]` in the statement (`unnest` cannot zip arrays of different lengths).
fn uuid_array(ids: &[l9_types::PacketId]) -> String {
    let mut s = String::with_capacity(2 + ids.len() * 37);
    s.push('{');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.0.to_string());
    }
    s.push('}');
    s
}

#[cfg(test)]
pub(crate) mod tests;
