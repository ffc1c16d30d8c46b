//! The Task Runtime's tables on PostgreSQL. Claims use `FOR UPDATE SKIP LOCKED`, so many
//! workers in many processes take disjoint tasks without waiting on each other; rows a
//! worker changes are locked first (`FOR UPDATE`), so a wake and a suspend cannot miss each
//! other. Enqueues and wakes `NOTIFY` the store's channel; idle workers `LISTEN` on it and
//! fall back to polling.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use l9_store::{
    Checkpoint, Claim, Enqueued, Fence, Finish, JournalAppend, JournalRow, JournalStatus,
    LEASE_EXPIRED, NewTask, Outcome, Result, STATE_INDEXED, Signal, StoreError, TaskFilter,
    TaskPage, TaskRecord, TaskState, TaskStore, state_condition, task_counts_from, transition,
};
use l9_types::{ContentHash, PacketId, RunId, TaskId};
use serde_json::Value;
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::PgStore;
use crate::codec::{corrupt, db};
use crate::journal::append_in;

const TASK_COLUMNS: &str = "id, queue, kind, payload, priority, state, attempts, failures, \
    max_attempts, run_after, lease_owner, lease_until, idem_key, run_id, parent, result, error, \
    created_at, updated_at";

/// Leases up to `$5` ready tasks of the queues `$4` (all when empty) that also meet `ready`
/// (an SQL condition) to worker `$1` until `$2`, as of `$3`, best first; returns them as
/// [`TASK_COLUMNS`].
fn claim_sql(ready: &str) -> String {
    format!(
        "UPDATE tasks SET state = 'leased', attempts = attempts + 1, wake_pending = false, \
         lease_owner = $1, lease_until = $2, updated_at = $3 \
         WHERE id = ANY(ARRAY(SELECT id FROM tasks WHERE {ready} AND state = 'queued' \
         AND run_after <= $3 AND (cardinality($4::text[]) = 0 OR queue = ANY($4)) \
         ORDER BY priority DESC, run_after, id LIMIT $5 FOR UPDATE SKIP LOCKED)) \
         RETURNING {TASK_COLUMNS}"
    )
}

fn task_from_row(row: &PgRow) -> Result<TaskRecord> {
    let state: String = row.try_get(5).map_err(db)?;
    let payload: String = row.try_get(3).map_err(db)?;
    let result: Option<String> = row.try_get(15).map_err(db)?;
    let n = |i: usize| row.try_get::<i32, _>(i).map_err(db);
    Ok(TaskRecord {
        id: TaskId(row.try_get(0).map_err(db)?),
        queue: row.try_get(1).map_err(db)?,
        kind: row.try_get(2).map_err(db)?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt("task payload", e))?,
        priority: n(4)?,
        state: TaskState::parse(&state).ok_or_else(|| corrupt("task state", &state))?,
        attempts: n(6)? as u32,
        failures: n(7)? as u32,
        max_attempts: n(8)? as u32,
        run_after: row.try_get(9).map_err(db)?,
        lease_owner: row.try_get(10).map_err(db)?,
        lease_until: row.try_get(11).map_err(db)?,
        idempotency_key: row.try_get(12).map_err(db)?,
        run_id: row.try_get::<Option<Uuid>, _>(13).map_err(db)?.map(RunId),
        parent: row.try_get::<Option<Uuid>, _>(14).map_err(db)?.map(TaskId),
        result: result
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| corrupt("task result", e))?,
        error: row.try_get(16).map_err(db)?,
        created_at: row.try_get(17).map_err(db)?,
        updated_at: row.try_get(18).map_err(db)?,
    })
}

impl PgStore {
    /// Runs a statement built on [`claim_sql`] for at most `limit` tasks.
    async fn claim_rows(
        &self,
        conn: &mut PgConnection,
        sql: String,
        c: &Claim,
        limit: usize,
    ) -> Result<Vec<PgRow>> {
        let until = c.now + chrono::Duration::from_std(c.lease).unwrap_or_default();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&c.worker)
            .bind(until)
            .bind(c.now)
            .bind(&c.queues)
            .bind(limit.min(10_000) as i64)
            .fetch_all(conn)
            .await
            .map_err(db)
    }

    /// The notification channel of this store (one per schema, so test schemas and
    /// deployments sharing a server do not wake each other).
    pub(crate) fn channel(&self) -> String {
        format!("l9_tasks_{}", self.opts.schema.as_deref().unwrap_or("public"))
    }

    async fn notify(&self, tx: &mut PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(self.channel())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(())
    }
}

async fn enqueue_in(
    tx: &mut PgConnection,
    tasks: &[NewTask],
    now: DateTime<Utc>,
) -> Result<Vec<Enqueued>> {
    if tasks.iter().any(|t| t.queue.is_empty() || t.kind.is_empty()) {
        return Err(StoreError::Invalid("a task needs a queue and a kind".into()));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for chunk in tasks.chunks(1000) {
        let ids: Vec<Uuid> = chunk.iter().map(|t| t.id.0).collect();
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO tasks (id, queue, kind, payload, priority, state, max_attempts, run_after, \
             idem_key, run_id, parent, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, t| {
            b.push_bind(t.id.0)
                .push_bind(&t.queue)
                .push_bind(&t.kind)
                .push_bind(t.payload.to_string())
                .push_bind(t.priority)
                .push_bind("queued")
                .push_bind(t.max_attempts as i32)
                .push_bind(t.run_after.unwrap_or(now))
                .push_bind(&t.idempotency_key)
                .push_bind(t.run_id.map(|r| r.0))
                .push_bind(t.parent.map(|p| p.0))
                .push_bind(now)
                .push_bind(now);
        });
        qb.push(" ON CONFLICT DO NOTHING RETURNING id");
        let created: BTreeSet<Uuid> = qb
            .build_query_scalar::<Uuid>()
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
            .into_iter()
            .collect();
        let keys: Vec<String> = chunk
            .iter()
            .filter(|t| !created.contains(&t.id.0))
            .filter_map(|t| t.idempotency_key.clone())
            .collect();
        let existing: BTreeMap<String, Uuid> = if keys.is_empty() {
            BTreeMap::new()
        } else {
            sqlx::query_as::<_, (String, Uuid)>(
                "SELECT idem_key, id FROM tasks WHERE idem_key = ANY($1)",
            )
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
            .into_iter()
            .collect()
        };
        for (t, id) in chunk.iter().zip(ids) {
            if created.contains(&id) {
                out.push(Enqueued::Created(t.id));
            } else if let Some(e) = t.idempotency_key.as_ref().and_then(|k| existing.get(k)) {
                out.push(Enqueued::Existing(TaskId(*e)));
            } else {
                return Err(StoreError::Invalid(format!(
                    "task {} already exists; use a new id or an idempotency key",
                    t.id
                )));
            }
        }
    }
    Ok(out)
}

/// Marks the successes among `items` succeeded where their task is still leased to `worker`
/// (only tasks without a parent when `parentless`); returns each task done and its parent.
async fn succeed<'a>(
    conn: impl sqlx::PgExecutor<'_>,
    items: impl IntoIterator<Item = &'a Finish>,
    now: DateTime<Utc>,
    worker: &str,
    parentless: bool,
) -> Result<Vec<(Uuid, Option<Uuid>)>> {
    let (ids, results): (Vec<Uuid>, Vec<String>) = items
        .into_iter()
        .filter_map(|f| match &f.outcome {
            Outcome::Succeeded(v) => Some((f.id.0, v.to_string())),
            _ => None,
        })
        .unzip();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "UPDATE tasks t SET state = 'succeeded', result = v.result, error = NULL, \
         lease_owner = NULL, lease_until = NULL, updated_at = $3 \
         FROM unnest($1::uuid[], $2::text[]) AS v(id, result) \
         WHERE t.id = v.id AND t.id = ANY($1) AND t.state = 'leased' AND t.lease_owner = $4 \
         AND (NOT $5 OR t.parent IS NULL) RETURNING t.id, t.parent",
    )
    .bind(&ids)
    .bind(&results)
    .bind(now)
    .bind(worker)
    .bind(parentless)
    .fetch_all(conn)
    .await
    .map_err(db)
}

/// Wakes a waiting task, or leaves a note on a running one (see the SQLite backend).
async fn wake_in(tx: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM tasks WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    match state.as_deref() {
        Some("waiting") => {
            sqlx::query(
                "UPDATE tasks SET state = 'queued', run_after = $2, wake_pending = false, updated_at = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            Ok(true)
        }
        Some("leased") => {
            sqlx::query("UPDATE tasks SET wake_pending = true WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            Ok(false)
        }
        Some("queued") => {
            // A task parked until later (a workflow's timer) becomes due now.
            let r = sqlx::query("UPDATE tasks SET run_after = $2 WHERE id = $1 AND run_after > $2")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            Ok(r.rows_affected() == 1)
        }
        _ => Ok(false),
    }
}

async fn fence_ok(tx: &mut PgConnection, fence: &Fence) -> Result<()> {
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM tasks WHERE id = $1 AND state = 'leased' AND lease_owner = $2 FOR SHARE",
    )
    .bind(fence.task.0)
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
impl TaskStore for PgStore {
    async fn enqueue(&self, tasks: &[NewTask], now: DateTime<Utc>) -> Result<Vec<Enqueued>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let out = enqueue_in(&mut tx, tasks, now).await?;
        self.notify(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        // After a burst of enqueues, refresh the planner's statistics at once rather than
        // waiting for autovacuum: with stale ones (a table that looked empty) claims turn
        // into sequential scans and throughput falls tenfold.
        use std::sync::atomic::Ordering;
        let n = tasks.len() as u64;
        if self.enqueued.fetch_add(n, Ordering::Relaxed) + n >= 10_000 {
            self.enqueued.store(0, Ordering::Relaxed);
            sqlx::query("ANALYZE tasks").execute(&self.pool).await.map_err(db)?;
        }
        Ok(out)
    }

    async fn claim(&self, c: &Claim) -> Result<Vec<TaskRecord>> {
        // The common case in one statement (one round trip, committed on its own): when no
        // lease has run out, the claim. Otherwise that statement claims nothing, the expired
        // leases are given back first (in a transaction with the wakes they cause) and the
        // claim runs among all ready tasks, as it always did.
        let sql = format!(
            "WITH e AS (SELECT EXISTS (SELECT 1 FROM tasks WHERE state = 'leased' \
             AND lease_until < $3) AS expired), claimed AS ({}) \
             SELECT claimed.*, e.expired FROM e LEFT JOIN claimed ON true",
            claim_sql("NOT (SELECT expired FROM e)")
        );
        let rows =
            self.claim_rows(&mut *self.pool.acquire().await.map_err(db)?, sql, c, c.limit).await?;
        let expired = match rows.first() {
            Some(r) => r.try_get::<bool, _>(TASK_COLUMNS.split(',').count()).map_err(db)?,
            None => false,
        };
        let mut tasks = rows
            .iter()
            .filter(|r| r.try_get::<Option<Uuid>, _>(0).ok().flatten().is_some())
            .map(task_from_row)
            .collect::<Result<Vec<_>>>()?;
        if expired {
            let mut tx = self.pool.begin().await.map_err(db)?;
            let given_back: Vec<(String, Option<Uuid>)> = sqlx::query_as(
                "UPDATE tasks SET state = CASE WHEN max_attempts > 0 AND failures + 1 >= max_attempts \
                 THEN 'dead' ELSE 'queued' END, failures = failures + 1, error = $2, lease_owner = NULL, \
                 lease_until = NULL, run_after = $1, updated_at = $1 \
                 WHERE id = ANY(ARRAY(SELECT id FROM tasks WHERE state = 'leased' AND lease_until < $1 \
                 FOR UPDATE SKIP LOCKED)) RETURNING state, parent",
            )
            .bind(c.now)
            .bind(LEASE_EXPIRED)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            for (state, parent) in given_back {
                if let (true, Some(p)) = (state == "dead", parent) {
                    wake_in(&mut tx, p, c.now).await?;
                }
            }
            for r in &self.claim_rows(&mut tx, claim_sql("true"), c, c.limit).await? {
                tasks.push(task_from_row(r)?);
            }
            tx.commit().await.map_err(db)?;
        }
        tasks.sort_by(|a, b| {
            b.priority.cmp(&a.priority).then(a.run_after.cmp(&b.run_after)).then(a.id.cmp(&b.id))
        });
        Ok(tasks)
    }

    async fn heartbeat(&self, fence: &Fence, until: DateTime<Utc>) -> Result<()> {
        let r = sqlx::query(
            "UPDATE tasks SET lease_until = $1 WHERE id = $2 AND state = 'leased' AND lease_owner = $3",
        )
        .bind(until)
        .bind(fence.task.0)
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

    async fn finish(&self, worker: &str, all: &[Finish], now: DateTime<Utc>) -> Result<Vec<bool>> {
        let mut ok: BTreeMap<Uuid, bool> = BTreeMap::new();
        // Successes of tasks without a parent: one statement, committed on its own (one round
        // trip) — no parent waits for them, so nothing has to commit with them.
        let done = succeed(&self.pool, all, now, worker, true).await?;
        ok.extend(done.into_iter().map(|(id, _)| (id, true)));
        let items: Vec<&Finish> = all.iter().filter(|f| !ok.contains_key(&f.id.0)).collect();
        if items.is_empty() {
            return Ok(vec![true; all.len()]);
        }
        // The rest in one transaction: successes that wake their parents, failures and
        // retries, the wakes, the notification.
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut to_wake: Vec<Uuid> = Vec::new();
        let mut notify = false;
        for (id, parent) in succeed(&mut *tx, items.iter().copied(), now, worker, false).await? {
            ok.insert(id, true);
            to_wake.extend(parent);
        }
        for item in items.iter().filter(|f| !matches!(f.outcome, Outcome::Succeeded(_))) {
            let row: Option<(i32, i32, bool, Option<Uuid>)> = sqlx::query_as(
                "SELECT failures, max_attempts, wake_pending, parent FROM tasks \
                 WHERE id = $1 AND state = 'leased' AND lease_owner = $2 FOR UPDATE",
            )
            .bind(item.id.0)
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let Some((failures, max_attempts, wake_pending, parent)) = row else {
                continue;
            };
            ok.insert(item.id.0, true);
            let t =
                transition(&item.outcome, failures as u32, max_attempts as u32, wake_pending, now);
            if t.ends() {
                to_wake.extend(parent);
            }
            notify |= t.state == TaskState::Queued;
            sqlx::query(
                "UPDATE tasks SET state = $2, run_after = COALESCE($3, run_after), \
                 failures = failures + $4, result = COALESCE($5, result), \
                 error = CASE WHEN $6 THEN NULL ELSE COALESCE($7, error) END, wake_pending = false, \
                 lease_owner = NULL, lease_until = NULL, updated_at = $8 WHERE id = $1",
            )
            .bind(item.id.0)
            .bind(t.state.as_str())
            .bind(t.run_after)
            .bind(i32::from(t.failure))
            .bind(t.result.as_ref().map(|v| v.to_string()))
            .bind(t.error == Some(None))
            .bind(t.error.clone().flatten())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        for p in to_wake {
            notify |= wake_in(&mut tx, p, now).await?;
        }
        if notify {
            self.notify(&mut tx).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(all.iter().map(|f| ok.get(&f.id.0).copied().unwrap_or(false)).collect())
    }

    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut stack = vec![id.0];
        let mut n = 0;
        while let Some(t) = stack.pop() {
            let parent: Option<Option<Uuid>> = sqlx::query_scalar(
                "UPDATE tasks SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, \
                 updated_at = $1 WHERE id = $2 AND state NOT IN ('succeeded', 'dead', 'cancelled') \
                 RETURNING parent",
            )
            .bind(now)
            .bind(t)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            if let Some(parent) = parent {
                n += 1;
                // The root's parent learns its child ended; descendants' parents are
                // being cancelled themselves.
                if let (true, Some(p)) = (t == id.0, parent) {
                    wake_in(&mut tx, p, now).await?;
                }
            }
            let children: Vec<Uuid> = sqlx::query_scalar(
                "SELECT id FROM tasks WHERE parent = $1 AND state NOT IN ('succeeded', 'dead', 'cancelled')",
            )
            .bind(t)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            stack.extend(children);
        }
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let r = sqlx::query(
            "UPDATE tasks SET state = 'queued', failures = 0, run_after = $1, updated_at = $1 \
             WHERE id = $2 AND state IN ('dead', 'cancelled')",
        )
        .bind(now)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        self.notify(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    async fn wake(&self, id: TaskId, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let woke = wake_in(&mut tx, id.0, now).await?;
        if woke {
            self.notify(&mut tx).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(woke)
    }

    async fn get_task(&self, id: TaskId) -> Result<Option<TaskRecord>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
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
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
        qb.push(TASK_COLUMNS).push(" FROM tasks WHERE true");
        if let Some(q) = &f.queue {
            qb.push(" AND queue = ").push_bind(q);
        }
        if let Some(s) = f.state {
            qb.push(" AND ").push(state_condition(s));
        }
        if let Some(k) = &f.kind {
            qb.push(" AND kind = ").push_bind(k);
        }
        if let Some(p) = f.parent {
            qb.push(" AND parent = ").push_bind(p.0);
        }
        if f.roots_only {
            qb.push(" AND parent IS NULL");
        }
        if let Some(a) = after {
            qb.push(" AND id < ").push_bind(a.0);
        }
        let limit = limit.clamp(1, 10_000);
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit as i64 + 1);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        let tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        Ok(TaskPage::from_overfetch(tasks, limit))
    }

    async fn task_counts(&self, queue: Option<&str>) -> Result<BTreeMap<TaskState, u64>> {
        // Each state through the index that holds it (see `STATE_INDEXED`).
        let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT 'queued', count(*) FROM tasks \
             WHERE state = 'queued' AND ($1::text IS NULL OR queue = $1) \
             UNION ALL SELECT 'leased', count(*) FROM tasks \
             WHERE state = 'leased' AND ($1::text IS NULL OR queue = $1) \
             UNION ALL SELECT state, count(*) FROM tasks \
             WHERE {STATE_INDEXED} AND ($1::text IS NULL OR queue = $1) GROUP BY state"
        )))
        .bind(queue)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        task_counts_from(rows)
    }

    async fn put_checkpoint(&self, fence: &Fence, data: &[u8], now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        fence_ok(&mut tx, fence).await?;
        sqlx::query(
            "INSERT INTO task_checkpoints (task_id, data, at) VALUES ($1, $2, $3) \
             ON CONFLICT (task_id) DO UPDATE SET data = excluded.data, at = excluded.at",
        )
        .bind(fence.task.0)
        .bind(data)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_checkpoint(&self, id: TaskId) -> Result<Option<Checkpoint>> {
        let row: Option<(Vec<u8>, DateTime<Utc>)> =
            sqlx::query_as("SELECT data, at FROM task_checkpoints WHERE task_id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        Ok(row.map(|(data, at)| Checkpoint { data, at }))
    }

    async fn cron_fire(
        &self,
        schedule: &str,
        tick: DateTime<Utc>,
        task: &NewTask,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let r = sqlx::query(
            "INSERT INTO cron_ticks (schedule, tick, task_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(schedule)
        .bind(tick)
        .bind(task.id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        enqueue_in(&mut tx, std::slice::from_ref(task), now).await?;
        self.notify(&mut tx).await?;
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT state FROM tasks WHERE id = $1 FOR UPDATE")
                .bind(task.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("task {task}")));
        }
        let seq: i32 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq) + 1, 0) FROM signals WHERE task_id = $1 AND name = $2",
        )
        .bind(task.0)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO signals (task_id, name, seq, payload, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(task.0)
        .bind(name)
        .bind(seq)
        .bind(payload.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if wake_in(&mut tx, task.0, now).await? {
            self.notify(&mut tx).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(seq as u32)
    }

    async fn signals(&self, task: TaskId) -> Result<Vec<Signal>> {
        let rows: Vec<(String, i32, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT name, seq, payload, at FROM signals WHERE task_id = $1 ORDER BY at, name, seq",
        )
        .bind(task.0)
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
                    at,
                })
            })
            .collect()
    }

    async fn append_journal(&self, fence: &Fence, e: &JournalAppend) -> Result<()> {
        // Group commit: alone, one statement and one commit per step; with concurrent
        // workflows, one statement and one commit for everything that queued meanwhile.
        match &self.committer {
            Some(c) => c.append(&self.pool, fence, std::slice::from_ref(e)).await?,
            None => {
                let mut c = self.pool.acquire().await.map_err(db)?;
                append_in(&mut c, fence, e).await?
            }
        }
        self.tail.appended(1, &self.pool);
        Ok(())
    }

    async fn append_journal_many(&self, fence: &Fence, entries: &[JournalAppend]) -> Result<()> {
        match &self.committer {
            Some(c) => c.append(&self.pool, fence, entries).await?,
            None => {
                let mut tx = self.pool.begin().await.map_err(db)?;
                for e in entries {
                    append_in(&mut tx, fence, e).await?;
                }
                tx.commit().await.map_err(db)?
            }
        }
        self.tail.appended(entries.len(), &self.pool);
        Ok(())
    }

    async fn load_journal(&self, run: RunId) -> Result<Vec<JournalRow>> {
        self.tail.filed(&self.pool).await?;
        let rows: Vec<(i64, String, String, Uuid, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT j.seq, j.key, j.status, j.packet, p.body, p.at FROM journal j \
             JOIN packets p ON p.id = j.packet WHERE j.run_id = $1 ORDER BY j.seq",
        )
        .bind(run.0)
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
                    packet: PacketId(packet),
                    body: serde_json::from_str(&body).map_err(|e| corrupt("journal body", e))?,
                    at,
                })
            })
            .collect()
    }

    async fn journal_packet(&self, run: RunId, key: &str) -> Result<Option<PacketId>> {
        self.tail.filed(&self.pool).await?;
        let row: Option<(Uuid,)> = sqlx::query_as(
            "SELECT packet FROM journal WHERE run_id = $1 AND key = $2 ORDER BY seq LIMIT 1",
        )
        .bind(run.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.map(|(p,)| PacketId(p)))
    }

    async fn copy_journal(&self, from: RunId, to: RunId, upto: u64) -> Result<u64> {
        self.tail.filed(&self.pool).await?;
        let r = sqlx::query(
            "INSERT INTO journal (run_id, seq, key, status, packet) \
             SELECT $1, seq, key, status, packet FROM journal WHERE run_id = $2 AND seq < $3",
        )
        .bind(to.0)
        .bind(from.0)
        .bind(upto as i64)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected())
    }

    async fn wait_for_work(&self, timeout: Duration) -> Result<()> {
        let mut guard = self.listener.lock().await;
        if guard.is_none() {
            match PgListener::connect_with(&self.pool).await {
                Ok(mut l) => {
                    if l.listen(&self.channel()).await.is_ok() {
                        *guard = Some(l);
                    }
                }
                Err(_) => {
                    // No listener: plain polling.
                }
            }
        }
        match guard.as_mut() {
            Some(l) => {
                match tokio::time::timeout(timeout, l.recv()).await {
                    Ok(Ok(_)) | Err(_) => {}
                    // A broken listener is rebuilt on the next call.
                    Ok(Err(_)) => *guard = None,
                }
            }
            None => tokio::time::sleep(timeout).await,
        }
        Ok(())
    }

    async fn journal_blob(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        l9_store::Store::get_blob(self, hash).await
    }
}
