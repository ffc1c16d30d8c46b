//! The Task Runtime's tables on SQLite. Every mutation runs in a `BEGIN IMMEDIATE`
//! transaction, which takes the database's single write lock up front: claims by several
//! processes are serialised by SQLite itself, so no two workers ever lease the same task.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use l9_store::{
    Checkpoint, Claim, Enqueued, Fence, Finish, JournalAppend, JournalRow, JournalStatus, NewTask,
    Result, STATE_INDEXED, Signal, StoreError, TaskFilter, TaskPage, TaskRecord, TaskState,
    TaskStore, state_condition, task_counts_from,
};
use l9_types::{ContentHash, RunId, TaskId};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::SqliteStore;
use crate::codec::{corrupt, db, from_micros, micros, parse_uuid};

pub(crate) const TASK_COLUMNS: &str = "id, queue, kind, payload, priority, state, attempts, failures, \
    max_attempts, run_after, lease_owner, lease_until, idem_key, run_id, parent, result, error, \
    created_at, updated_at";

/// ` FROM tasks … WHERE …` for `f`: queued and leased tasks through their own partial
/// indexes (they are few next to finished ones, and walking every task newest first costs
/// more).
fn push_task_filter(qb: &mut QueryBuilder<Sqlite>, f: &TaskFilter) {
    let index = match f.state {
        Some(TaskState::Queued) => " INDEXED BY tasks_ready",
        Some(TaskState::Leased) => " INDEXED BY tasks_leases",
        _ => "",
    };
    qb.push(" FROM tasks").push(index).push(" WHERE 1 = 1");
    if let Some(q) = &f.queue {
        qb.push(" AND queue = ").push_bind(q.clone());
    }
    if let Some(s) = f.state {
        qb.push(" AND ").push(state_condition(s));
    }
    if let Some(k) = &f.kind {
        qb.push(" AND kind = ").push_bind(k.clone());
    }
    if let Some(p) = f.parent {
        qb.push(" AND parent = ").push_bind(p.to_string());
    }
    if f.roots_only {
        qb.push(" AND parent IS NULL");
    }
}

fn task_from_row(row: &SqliteRow) -> Result<TaskRecord> {
    let s = |i: usize| row.try_get::<String, _>(i).map_err(db);
    let os = |i: usize| row.try_get::<Option<String>, _>(i).map_err(db);
    let n = |i: usize| row.try_get::<i64, _>(i).map_err(db);
    RawTask {
        id: s(0)?,
        queue: s(1)?,
        kind: s(2)?,
        payload: s(3)?,
        priority: n(4)?,
        state: s(5)?,
        attempts: n(6)?,
        failures: n(7)?,
        max_attempts: n(8)?,
        run_after: n(9)?,
        lease_owner: os(10)?,
        lease_until: row.try_get::<Option<i64>, _>(11).map_err(db)?,
        idem_key: os(12)?,
        run_id: os(13)?,
        parent: os(14)?,
        result: os(15)?,
        error: os(16)?,
        created_at: n(17)?,
        updated_at: n(18)?,
    }
    .parse()
}

/// A `tasks` row as stored, in [`TASK_COLUMNS`] order (read by `sqlx` here and by
/// `rusqlite` on the queue's hot path, `fastq.rs`).
#[derive(Debug)]
pub(crate) struct RawTask {
    pub(crate) id: String,
    pub(crate) queue: String,
    pub(crate) kind: String,
    pub(crate) payload: String,
    pub(crate) priority: i64,
    pub(crate) state: String,
    pub(crate) attempts: i64,
    pub(crate) failures: i64,
    pub(crate) max_attempts: i64,
    pub(crate) run_after: i64,
    pub(crate) lease_owner: Option<String>,
    pub(crate) lease_until: Option<i64>,
    pub(crate) idem_key: Option<String>,
    pub(crate) run_id: Option<String>,
    pub(crate) parent: Option<String>,
    pub(crate) result: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl RawTask {
    pub(crate) fn parse(self) -> Result<TaskRecord> {
        Ok(TaskRecord {
            id: TaskId(parse_uuid(&self.id)?),
            queue: self.queue,
            kind: self.kind,
            payload: serde_json::from_str(&self.payload).map_err(|e| corrupt("task payload", e))?,
            priority: self.priority as i32,
            state: TaskState::parse(&self.state)
                .ok_or_else(|| corrupt("task state", &self.state))?,
            attempts: self.attempts as u32,
            failures: self.failures as u32,
            max_attempts: self.max_attempts as u32,
            run_after: from_micros(self.run_after)?,
            lease_owner: self.lease_owner,
            lease_until: self.lease_until.map(from_micros).transpose()?,
            idempotency_key: self.idem_key,
            run_id: self.run_id.map(|s| parse_uuid(&s)).transpose()?.map(RunId),
            parent: self.parent.map(|s| parse_uuid(&s)).transpose()?.map(TaskId),
            result: self
                .result
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| corrupt("task result", e))?,
            error: self.error,
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
        })
    }
}

/// Wakes a waiting task (`?1` now, `?2` id).
pub(crate) const WAKE_WAITING: &str = "UPDATE tasks SET state = 'queued', run_after = ?1, \
     wake_pending = 0, updated_at = ?1 WHERE id = ?2 AND state = 'waiting'";
/// Leaves a running task a note (`?1` id).
pub(crate) const WAKE_NOTE: &str =
    "UPDATE tasks SET wake_pending = 1 WHERE id = ?1 AND state = 'leased'";
/// Makes a task parked until later due now (`?1` now, `?2` id).
pub(crate) const WAKE_DUE: &str =
    "UPDATE tasks SET run_after = ?1 WHERE id = ?2 AND state = 'queued' AND run_after > ?1";

/// Wakes `parent` if it waits; if it is running, leaves a note so its next `Wait` does not
/// sleep through this; a task parked until later (a workflow's timer) becomes due now.
async fn wake_in(tx: &mut SqliteConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(WAKE_WAITING).bind(now).bind(id).execute(&mut *tx).await.map_err(db)?;
    if r.rows_affected() == 1 {
        return Ok(true);
    }
    sqlx::query(WAKE_NOTE).bind(id).execute(&mut *tx).await.map_err(db)?;
    let r = sqlx::query(WAKE_DUE).bind(now).bind(id).execute(&mut *tx).await.map_err(db)?;
    Ok(r.rows_affected() == 1)
}

async fn wake_parents(
    tx: &mut SqliteConnection,
    parents: Vec<Option<String>>,
    now: i64,
) -> Result<()> {
    for p in parents.into_iter().flatten() {
        wake_in(tx, &p, now).await?;
    }
    Ok(())
}

async fn fence_ok(tx: &mut SqliteConnection, fence: &Fence) -> Result<()> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM tasks WHERE id = ? AND state = 'leased' AND lease_owner = ?",
    )
    .bind(fence.task.to_string())
    .bind(&fence.worker)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::LeaseLost(format!(
            "task {} is no longer leased to {}",
            fence.task, fence.worker
        ))),
    }
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn enqueue(&self, tasks: &[NewTask], now: DateTime<Utc>) -> Result<Vec<Enqueued>> {
        self.gate.open().await?;
        self.fast.transact(|conn| crate::fastq::enqueue_in(conn, tasks, now)).await
    }

    async fn claim(&self, c: &Claim) -> Result<Vec<TaskRecord>> {
        self.gate.open().await?;
        crate::fastq::claim(&self.fast, c).await
    }

    async fn heartbeat(&self, fence: &Fence, until: DateTime<Utc>) -> Result<()> {
        self.gate.open().await?;
        let r = sqlx::query(
            "UPDATE tasks SET lease_until = ? WHERE id = ? AND state = 'leased' AND lease_owner = ?",
        )
        .bind(micros(until))
        .bind(fence.task.to_string())
        .bind(&fence.worker)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if r.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost(format!(
                "task {} is no longer leased to {}",
                fence.task, fence.worker
            )))
        }
    }

    async fn finish(
        &self,
        worker: &str,
        items: &[Finish],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        self.gate.open().await?;
        crate::fastq::finish(&self.fast, worker, items, now).await
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<u64> {
        self.gate.open().await?;
        let now = micros(now);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let mut stack = vec![id.to_string()];
        let mut n = 0;
        while let Some(t) = stack.pop() {
            let parent: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE tasks SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, \
                 updated_at = ? WHERE id = ? AND state NOT IN ('succeeded', 'dead', 'cancelled') \
                 RETURNING parent",
            )
            .bind(now)
            .bind(&t)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            if let Some(parent) = parent {
                n += 1;
                if t != id.to_string() || parent.is_none() {
                    // Children of a cancelled task need not wake it.
                } else {
                    wake_parents(&mut tx, vec![parent], now).await?;
                }
            }
            let children: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM tasks WHERE parent = ? AND state NOT IN ('succeeded', 'dead', 'cancelled')",
            )
            .bind(&t)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            stack.extend(children);
        }
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<bool> {
        self.gate.open().await?;
        let now = micros(now);
        let r = sqlx::query(
            "UPDATE tasks SET state = 'queued', failures = 0, run_after = ?, updated_at = ? \
             WHERE id = ? AND state IN ('dead', 'cancelled')",
        )
        .bind(now)
        .bind(now)
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    async fn wake(&self, id: TaskId, now: DateTime<Utc>) -> Result<bool> {
        self.gate.open().await?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let woke = wake_in(&mut tx, &id.to_string(), micros(now)).await?;
        tx.commit().await.map_err(db)?;
        Ok(woke)
    }

    async fn get_task(&self, id: TaskId) -> Result<Option<TaskRecord>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn list_tasks(
        &self,
        f: &TaskFilter,
        after: Option<TaskId>,
        limit: usize,
    ) -> Result<TaskPage> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT ");
        qb.push(TASK_COLUMNS);
        push_task_filter(&mut qb, f);
        if let Some(a) = after {
            qb.push(" AND id < ").push_bind(a.to_string());
        }
        let limit = limit.clamp(1, 10_000);
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit as i64 + 1);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        let tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        Ok(TaskPage::from_overfetch(tasks, limit))
    }

    async fn any_tasks(&self, f: &TaskFilter) -> Result<bool> {
        // The first match ends the walk (a page would sort every queued task by id first).
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT EXISTS (SELECT 1");
        push_task_filter(&mut qb, f);
        qb.push(")");
        qb.build_query_scalar::<bool>().fetch_one(&self.pool).await.map_err(db)
    }

    async fn task_counts(&self, queue: Option<&str>) -> Result<BTreeMap<TaskState, u64>> {
        // Each state through the index that holds it (see `STATE_INDEXED`).
        let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT 'queued', count(*) FROM tasks INDEXED BY tasks_ready \
             WHERE state = 'queued' AND (?1 IS NULL OR queue = ?1) \
             UNION ALL SELECT 'leased', count(*) FROM tasks INDEXED BY tasks_leases \
             WHERE state = 'leased' AND (?1 IS NULL OR queue = ?1) \
             UNION ALL SELECT state, count(*) FROM tasks INDEXED BY tasks_state \
             WHERE {STATE_INDEXED} AND (?1 IS NULL OR queue = ?1) GROUP BY state"
        )))
        .bind(queue)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        task_counts_from(rows)
    }

    async fn put_checkpoint(&self, fence: &Fence, data: &[u8], now: DateTime<Utc>) -> Result<()> {
        self.gate.open().await?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        fence_ok(&mut tx, fence).await?;
        sqlx::query(
            "INSERT INTO task_checkpoints (task_id, data, at) VALUES (?, ?, ?) \
             ON CONFLICT(task_id) DO UPDATE SET data = excluded.data, at = excluded.at",
        )
        .bind(fence.task.to_string())
        .bind(data)
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_checkpoint(&self, id: TaskId) -> Result<Option<Checkpoint>> {
        let row: Option<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT data, at FROM task_checkpoints WHERE task_id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        row.map(|(data, at)| Ok(Checkpoint { data, at: from_micros(at)? })).transpose()
    }

    async fn cron_fire(
        &self,
        schedule: &str,
        tick: DateTime<Utc>,
        task: &NewTask,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.gate.open().await?;
        let tick = micros(tick);
        let id = task.id.to_string();
        self.fast
            .transact(|conn| {
                let fired = conn
                    .prepare_cached(
                        "INSERT INTO cron_ticks (schedule, tick, task_id) VALUES (?1, ?2, ?3) \
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(rusqlite::params![schedule, tick, id])?;
                if fired == 0 {
                    return Ok(Ok(false));
                }
                Ok(crate::fastq::enqueue_in(conn, std::slice::from_ref(task), now)?.map(|_| true))
            })
            .await
    }

    async fn send_signal(
        &self,
        task: TaskId,
        name: &str,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<u32> {
        self.gate.open().await?;
        let now = micros(now);
        let id = task.to_string();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tasks WHERE id = ?")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("task {task}")));
        }
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq) + 1, 0) FROM signals WHERE task_id = ? AND name = ?",
        )
        .bind(&id)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("INSERT INTO signals (task_id, name, seq, payload, at) VALUES (?, ?, ?, ?, ?)")
            .bind(&id)
            .bind(name)
            .bind(seq)
            .bind(payload.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        wake_in(&mut tx, &id, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(seq as u32)
    }

    async fn signals(&self, task: TaskId) -> Result<Vec<Signal>> {
        let rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
            "SELECT name, seq, payload, at FROM signals WHERE task_id = ? ORDER BY at, name, seq",
        )
        .bind(task.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|(name, seq, payload, at)| {
                Ok(Signal {
                    task,
                    name,
                    seq: seq as u32,
                    payload: serde_json::from_str(&payload).map_err(|e| corrupt("signal", e))?,
                    at: from_micros(at)?,
                })
            })
            .collect()
    }

    async fn append_journal(&self, fence: &Fence, e: &JournalAppend) -> Result<()> {
        self.gate.open().await?;
        self.fast.append_journal(fence, e).await
    }

    async fn append_journal_many(&self, fence: &Fence, entries: &[JournalAppend]) -> Result<()> {
        self.gate.open().await?;
        self.fast.append_many(fence, entries).await
    }

    async fn load_journal(&self, run: RunId) -> Result<Vec<JournalRow>> {
        self.fast.tail_filed().await?;
        let rows: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT j.seq, j.key, j.status, j.packet, p.body, p.at FROM journal j \
             JOIN packets p ON p.id = j.packet WHERE j.run_id = ? ORDER BY j.seq",
        )
        .bind(run.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|(seq, key, status, packet, body, at)| {
                Ok(JournalRow {
                    run,
                    seq: seq as u64,
                    key,
                    status: JournalStatus::parse(&status)
                        .ok_or_else(|| corrupt("journal status", &status))?,
                    packet: l9_types::PacketId(parse_uuid(&packet)?),
                    body: serde_json::from_str(&body).map_err(|e| corrupt("journal body", e))?,
                    at: from_micros(at)?,
                })
            })
            .collect()
    }

    async fn journal_packet(&self, run: RunId, key: &str) -> Result<Option<l9_types::PacketId>> {
        self.fast.tail_filed().await?;
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT packet FROM journal WHERE run_id = ? AND key = ? ORDER BY seq LIMIT 1",
        )
        .bind(run.to_string())
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|(p,)| Ok(l9_types::PacketId(parse_uuid(&p)?))).transpose()
    }

    async fn copy_journal(&self, from: RunId, to: RunId, upto: u64) -> Result<u64> {
        self.gate.open().await?;
        self.fast.tail_filed().await?;
        let r = sqlx::query(
            "INSERT INTO journal (run_id, seq, key, status, packet) \
             SELECT ?, seq, key, status, packet FROM journal WHERE run_id = ? AND seq < ?",
        )
        .bind(to.to_string())
        .bind(from.to_string())
        .bind(upto as i64)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected())
    }

    async fn wait_for_work(&self, timeout: std::time::Duration) -> Result<()> {
        // SQLite has no notifications across processes: poll.
        tokio::time::sleep(timeout).await;
        Ok(())
    }

    async fn journal_blob(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        l9_store::Store::get_blob(self, hash).await
    }
}
