//! The Task Runtime's tables on SQLite. Every mutation runs in a `BEGIN IMMEDIATE`
//! transaction, which takes the database's single write lock up front: claims by several
//! processes are serialised by SQLite itself, so no two workers ever lease the same task.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use l9_store::{
    Checkpoint, Claim, Enqueued, Fence, Finish, JournalAppend, JournalRow, JournalStatus,
    LEASE_EXPIRED, NewTask, Result, Signal, StoreError, TaskFilter, TaskPage, TaskRecord,
    TaskState, TaskStore, task_counts_from, transition,
};
use l9_types::{ContentHash, RunId, TaskId};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::SqliteStore;
use crate::codec::{corrupt, db, from_micros, micros, parse_uuid};

const TASK_COLUMNS: &str = "id, queue, kind, payload, priority, state, attempts, failures, \
    max_attempts, run_after, lease_owner, lease_until, idem_key, run_id, parent, result, error, \
    created_at, updated_at";

fn task_from_row(row: &SqliteRow) -> Result<TaskRecord> {
    let s = |i: usize| row.try_get::<String, _>(i).map_err(db);
    let os = |i: usize| row.try_get::<Option<String>, _>(i).map_err(db);
    let n = |i: usize| row.try_get::<i64, _>(i).map_err(db);
    let state = s(5)?;
    Ok(TaskRecord {
        id: TaskId(parse_uuid(&s(0)?)?),
        queue: s(1)?,
        kind: s(2)?,
        payload: serde_json::from_str(&s(3)?).map_err(|e| corrupt("task payload", e))?,
        priority: n(4)? as i32,
        state: TaskState::parse(&state).ok_or_else(|| corrupt("task state", &state))?,
        attempts: n(6)? as u32,
        failures: n(7)? as u32,
        max_attempts: n(8)? as u32,
        run_after: from_micros(n(9)?)?,
        lease_owner: os(10)?,
        lease_until: row.try_get::<Option<i64>, _>(11).map_err(db)?.map(from_micros).transpose()?,
        idempotency_key: os(12)?,
        run_id: os(13)?.map(|s| parse_uuid(&s)).transpose()?.map(RunId),
        parent: os(14)?.map(|s| parse_uuid(&s)).transpose()?.map(TaskId),
        result: os(15)?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| corrupt("task result", e))?,
        error: os(16)?,
        created_at: from_micros(n(17)?)?,
        updated_at: from_micros(n(18)?)?,
    })
}

pub(crate) async fn enqueue_in(
    tx: &mut SqliteConnection,
    tasks: &[NewTask],
    now: DateTime<Utc>,
) -> Result<Vec<Enqueued>> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if t.queue.is_empty() || t.kind.is_empty() {
            return Err(StoreError::Invalid("a task needs a queue and a kind".into()));
        }
        let r = sqlx::query(
            "INSERT INTO tasks (id, queue, kind, payload, priority, state, max_attempts, run_after, \
             idem_key, run_id, parent, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(t.id.to_string())
        .bind(&t.queue)
        .bind(&t.kind)
        .bind(t.payload.to_string())
        .bind(i64::from(t.priority))
        .bind(i64::from(t.max_attempts))
        .bind(micros(t.run_after.unwrap_or(now)))
        .bind(&t.idempotency_key)
        .bind(t.run_id.map(|r| r.to_string()))
        .bind(t.parent.map(|p| p.to_string()))
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if r.rows_affected() == 1 {
            out.push(Enqueued::Created(t.id));
            continue;
        }
        // Either the key or the id exists already.
        let existing: Option<String> = match &t.idempotency_key {
            Some(k) => sqlx::query_scalar("SELECT id FROM tasks WHERE idem_key = ?")
                .bind(k)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?,
            None => None,
        };
        match existing {
            Some(id) => out.push(Enqueued::Existing(TaskId(parse_uuid(&id)?))),
            None => {
                return Err(StoreError::Invalid(format!(
                    "task {} already exists; use a new id or an idempotency key",
                    t.id
                )));
            }
        }
    }
    Ok(out)
}

/// Wakes `parent` if it waits; if it is running, leaves a note so its next `Wait` does not
/// sleep through this.
async fn wake_in(tx: &mut SqliteConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE tasks SET state = 'queued', run_after = ?, wake_pending = 0, updated_at = ? \
         WHERE id = ? AND state = 'waiting'",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if r.rows_affected() == 1 {
        return Ok(true);
    }
    sqlx::query("UPDATE tasks SET wake_pending = 1 WHERE id = ? AND state = 'leased'")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    // A task parked until later (a workflow's timer) becomes due now.
    let r = sqlx::query(
        "UPDATE tasks SET run_after = ? WHERE id = ? AND state = 'queued' AND run_after > ?",
    )
    .bind(now)
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let out = enqueue_in(&mut tx, tasks, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn claim(&self, c: &Claim) -> Result<Vec<TaskRecord>> {
        let now = micros(c.now);
        let until = micros(c.now + chrono::Duration::from_std(c.lease).unwrap_or_default());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        // Expired leases: a failure each; dead when attempts are used up.
        let dead: Vec<Option<String>> = sqlx::query_scalar(
            "UPDATE tasks SET state = 'dead', failures = failures + 1, error = ?, \
             lease_owner = NULL, lease_until = NULL, run_after = ?, updated_at = ? \
             WHERE state = 'leased' AND lease_until < ? AND max_attempts > 0 \
             AND failures + 1 >= max_attempts RETURNING parent",
        )
        .bind(LEASE_EXPIRED)
        .bind(now)
        .bind(now)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        wake_parents(&mut tx, dead, now).await?;
        sqlx::query(
            "UPDATE tasks SET state = 'queued', failures = failures + 1, error = ?, \
             lease_owner = NULL, lease_until = NULL, run_after = ?, updated_at = ? \
             WHERE state = 'leased' AND lease_until < ?",
        )
        .bind(LEASE_EXPIRED)
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;

        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE tasks SET state = 'leased', attempts = attempts + 1, wake_pending = 0, lease_owner = ",
        );
        qb.push_bind(&c.worker).push(", lease_until = ").push_bind(until);
        qb.push(", updated_at = ").push_bind(now);
        qb.push(" WHERE id IN (SELECT id FROM tasks WHERE state = 'queued' AND run_after <= ")
            .push_bind(now);
        if !c.queues.is_empty() {
            qb.push(" AND queue IN (");
            let mut sep = qb.separated(", ");
            for q in &c.queues {
                sep.push_bind(q);
            }
            qb.push(")");
        }
        qb.push(" ORDER BY priority DESC, run_after, id LIMIT ")
            .push_bind(c.limit.min(10_000) as i64)
            .push(") RETURNING ")
            .push(TASK_COLUMNS);
        let rows = qb.build().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        tasks.sort_by(|a, b| {
            b.priority.cmp(&a.priority).then(a.run_after.cmp(&b.run_after)).then(a.id.cmp(&b.id))
        });
        Ok(tasks)
    }

    async fn heartbeat(&self, fence: &Fence, until: DateTime<Utc>) -> Result<()> {
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
        let now = micros(now);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let id = item.id.to_string();
            let row: Option<(i64, i64, i64, Option<String>)> = sqlx::query_as(
                "SELECT failures, max_attempts, wake_pending, parent FROM tasks \
                 WHERE id = ? AND state = 'leased' AND lease_owner = ?",
            )
            .bind(&id)
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let Some((failures, max_attempts, wake_pending, parent)) = row else {
                out.push(false);
                continue;
            };
            let t = transition(
                &item.outcome,
                failures as u32,
                max_attempts as u32,
                wake_pending == 1,
                from_micros(now)?,
            );
            sqlx::query(
                "UPDATE tasks SET state = ?, run_after = COALESCE(?, run_after), \
                 failures = failures + ?, result = COALESCE(?, result), \
                 error = CASE WHEN ? THEN NULL ELSE COALESCE(?, error) END, wake_pending = 0, \
                 lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
            )
            .bind(t.state.as_str())
            .bind(t.run_after.map(micros))
            .bind(i64::from(t.failure))
            .bind(t.result.as_ref().map(|v| v.to_string()))
            .bind(t.error == Some(None))
            .bind(t.error.clone().flatten())
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let terminal = t.ends();
            if terminal {
                wake_parents(&mut tx, vec![parent], now).await?;
            }
            out.push(true);
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<u64> {
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
        qb.push(TASK_COLUMNS).push(" FROM tasks WHERE 1 = 1");
        if let Some(q) = &f.queue {
            qb.push(" AND queue = ").push_bind(q);
        }
        if let Some(s) = f.state {
            qb.push(" AND state = ").push_bind(s.as_str());
        }
        if let Some(k) = &f.kind {
            qb.push(" AND kind = ").push_bind(k);
        }
        if let Some(p) = f.parent {
            qb.push(" AND parent = ").push_bind(p.to_string());
        }
        if f.roots_only {
            qb.push(" AND parent IS NULL");
        }
        if let Some(a) = after {
            qb.push(" AND id < ").push_bind(a.to_string());
        }
        let limit = limit.clamp(1, 10_000);
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit as i64 + 1);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        let tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        Ok(TaskPage::from_overfetch(tasks, limit))
    }

    async fn task_counts(&self, queue: Option<&str>) -> Result<BTreeMap<TaskState, u64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, count(*) FROM tasks WHERE ?1 IS NULL OR queue = ?1 GROUP BY state",
        )
        .bind(queue)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        task_counts_from(rows)
    }

    async fn put_checkpoint(&self, fence: &Fence, data: &[u8], now: DateTime<Utc>) -> Result<()> {
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let r = sqlx::query(
            "INSERT INTO cron_ticks (schedule, tick, task_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(schedule)
        .bind(micros(tick))
        .bind(task.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        enqueue_in(&mut tx, std::slice::from_ref(task), now).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn send_signal(
        &self,
        task: TaskId,
        name: &str,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<u32> {
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
        self.fast.append_journal(fence, e).await
    }

    async fn append_journal_many(&self, fence: &Fence, entries: &[JournalAppend]) -> Result<()> {
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
