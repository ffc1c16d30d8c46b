//! The queue's hot path on SQLite: claim and finish as one short `BEGIN IMMEDIATE`
//! transaction each on the journal's dedicated `rusqlite` connection (`fast.rs`), with
//! cached statements. Through `sqlx` every statement was a round trip to a worker thread;
//! a claim took five and a finish four, which cost several times what SQLite itself did.
//! Same answers as before (the conformance and differential suites run against it); a
//! success of a task without a parent is one statement rather than a read and a write
//! (batches of 500: claim + complete 0.17-0.18x -> 0.21x of the raw floor).
//!
//! The claim names its indexes (`INDEXED BY`): without statistics SQLite's planner chose
//! `tasks_state` and sorted every queued task for each claim, so a claim cost grew with the
//! queue (8,000 queued jobs: 282 claims + completes/s); walking `tasks_ready` in order stops
//! at the limit, and expired leases are found by range on `tasks_leases`.
//!
//! `perf` of one-at-a-time claims put a third of the time in `sqlite3Reprepare`: SQLite's
//! planner takes a bare `LIMIT ?` as a hint, which marks the statement expired whenever that
//! parameter is bound again, so the claim's limit is `?2 + 0`, an expression the planner leaves
//! alone (the walk of `tasks_ready` stops at the limit either way). Expired leases are first
//! looked for with one read; the two statements that requeue or bury them run only when
//! there are some.

use chrono::{DateTime, Utc};
use l9_store::{
    Claim, Enqueued, Finish, LEASE_EXPIRED, NewTask, Outcome, Result, StoreError, TaskRecord,
    transition,
};
use l9_types::TaskId;
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use crate::codec::{from_micros, micros, parse_uuid};
use crate::fast::FastWriter;
use crate::tasks::{RawTask, TASK_COLUMNS, WAKE_DUE, WAKE_NOTE, WAKE_WAITING};

/// Wakes each parent (see `tasks::wake_in`).
fn wake_parents(conn: &Connection, parents: &[Option<String>], now: i64) -> rusqlite::Result<()> {
    for id in parents.iter().flatten() {
        if conn.prepare_cached(WAKE_WAITING)?.execute(params![now, id])? == 1 {
            continue;
        }
        conn.prepare_cached(WAKE_NOTE)?.execute(params![id])?;
        conn.prepare_cached(WAKE_DUE)?.execute(params![now, id])?;
    }
    Ok(())
}

fn raw_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawTask> {
    Ok(RawTask {
        id: r.get(0)?,
        queue: r.get(1)?,
        kind: r.get(2)?,
        payload: r.get(3)?,
        priority: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        failures: r.get(7)?,
        max_attempts: r.get(8)?,
        run_after: r.get(9)?,
        lease_owner: r.get(10)?,
        lease_until: r.get(11)?,
        idem_key: r.get(12)?,
        run_id: r.get(13)?,
        parent: r.get(14)?,
        result: r.get(15)?,
        error: r.get(16)?,
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
    })
}

/// The claim's read: up to `?2` due tasks of the queues `?3`… (none: every queue), by
/// priority, due time, id, walking `tasks_ready` in order.
fn claim_sql(queues: usize) -> String {
    let queues = if queues == 0 {
        String::new()
    } else {
        let marks: Vec<String> = (0..queues).map(|i| format!("?{}", i + 3)).collect();
        format!(" AND queue IN ({})", marks.join(", "))
    };
    format!(
        "SELECT {TASK_COLUMNS} FROM tasks INDEXED BY tasks_ready \
         WHERE state = 'queued' AND run_after <= ?1{queues} \
         ORDER BY priority DESC, run_after, id LIMIT ?2 + 0"
    )
}

/// Leases one task the claim read (`?1` worker, `?2` until, `?3` now, `?4` id).
const LEASE_ONE: &str = "UPDATE tasks SET state = 'leased', attempts = attempts + 1, \
    wake_pending = 0, lease_owner = ?1, lease_until = ?2, updated_at = ?3 WHERE id = ?4";

/// Expired leases become failures (dead when attempts are used up), then up to
/// `c.limit` due tasks of the claim's queues are leased, by priority, due time, id.
pub(crate) async fn claim(fast: &FastWriter, c: &Claim) -> Result<Vec<TaskRecord>> {
    let now = micros(c.now);
    let until = micros(c.now + chrono::Duration::from_std(c.lease).unwrap_or_default());
    let sql = claim_sql(c.queues.len());
    let limit = c.limit.min(10_000) as i64;
    let rows = fast
        .transact(|conn| {
            let expired = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM tasks INDEXED BY tasks_leases \
                     WHERE state = 'leased' AND lease_until < ?1)",
                )?
                .query_row(params![now], |r| r.get::<_, bool>(0))?;
            if expired {
                expire_leases(conn, now)?;
            }
            let mut args: Vec<&dyn ToSql> = vec![&now, &limit];
            args.extend(c.queues.iter().map(|q| q as &dyn ToSql));
            let mut rows = conn
                .prepare_cached(&sql)?
                .query_map(args.as_slice(), raw_task)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            // Read, then leased one by one, in the same write transaction: nothing can come
            // between. (One `UPDATE … WHERE id IN (SELECT …) RETURNING` did the same ~10 %
            // slower: SQLite stages both the id list and the returned rows in temporary tables.)
            let mut lease = conn.prepare_cached(LEASE_ONE)?;
            for r in &mut rows {
                lease.execute(params![c.worker, until, now, r.id])?;
                r.state = "leased".into();
                r.attempts += 1;
                r.lease_owner = Some(c.worker.clone());
                r.lease_until = Some(until);
                r.updated_at = now;
            }
            Ok(Ok(rows))
        })
        .await?;
    let mut tasks = rows.into_iter().map(RawTask::parse).collect::<Result<Vec<_>>>()?;
    tasks.sort_by(|a, b| {
        b.priority.cmp(&a.priority).then(a.run_after.cmp(&b.run_after)).then(a.id.cmp(&b.id))
    });
    Ok(tasks)
}

/// Expired leases become failures: dead when attempts are used up (their parents woken),
/// queued again otherwise.
fn expire_leases(conn: &Connection, now: i64) -> rusqlite::Result<()> {
    let dead: Vec<Option<String>> = conn
        .prepare_cached(
            "UPDATE tasks SET state = 'dead', failures = failures + 1, error = ?1, \
             lease_owner = NULL, lease_until = NULL, run_after = ?2, updated_at = ?2 \
             WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_leases \
             WHERE state = 'leased' AND lease_until < ?2) \
             AND max_attempts > 0 AND failures + 1 >= max_attempts RETURNING parent",
        )?
        .query_map(params![LEASE_EXPIRED, now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    wake_parents(conn, &dead, now)?;
    conn.prepare_cached(
        "UPDATE tasks SET state = 'queued', failures = failures + 1, error = ?1, \
         lease_owner = NULL, lease_until = NULL, run_after = ?2, updated_at = ?2 \
         WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_leases \
         WHERE state = 'leased' AND lease_until < ?2)",
    )?
    .execute(params![LEASE_EXPIRED, now])?;
    Ok(())
}

/// A success of a task still leased to `?4` that has no parent (`?1` result, `?2` now, `?3`
/// id): the row [`transition`] gives a success, in one statement instead of a read and a
/// write. A task with a parent (to wake) or no longer leased to the worker changes nothing and
/// takes the general path.
const SUCCEED_PARENTLESS: &str = "UPDATE tasks SET state = 'succeeded', result = ?1, \
    error = NULL, wake_pending = 0, lease_owner = NULL, lease_until = NULL, updated_at = ?2 \
    WHERE id = ?3 AND state = 'leased' AND lease_owner = ?4 AND parent IS NULL";

/// Ends each item's lease with its outcome, if `worker` still holds it (`false` if not);
/// a task that ends wakes its parent.
pub(crate) async fn finish(
    fast: &FastWriter,
    worker: &str,
    items: &[Finish],
    now: DateTime<Utc>,
) -> Result<Vec<bool>> {
    let now_us = micros(now);
    let now = from_micros(now_us)?;
    fast.transact(|conn| {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let id = item.id.to_string();
            // A success of a task without a parent is one statement: what the general path
            // below would write (`transition` of a success), with nobody to wake.
            if let Outcome::Succeeded(v) = &item.outcome {
                let done = conn.prepare_cached(SUCCEED_PARENTLESS)?.execute(params![
                    v.to_string(),
                    now_us,
                    id,
                    worker
                ])?;
                if done == 1 {
                    out.push(true);
                    continue;
                }
            }
            let row: Option<(i64, i64, i64, Option<String>)> = conn
                .prepare_cached(
                    "SELECT failures, max_attempts, wake_pending, parent FROM tasks \
                     WHERE id = ?1 AND state = 'leased' AND lease_owner = ?2",
                )?
                .query_row(params![id, worker], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            let Some((failures, max_attempts, wake_pending, parent)) = row else {
                out.push(false);
                continue;
            };
            let t = transition(
                &item.outcome,
                failures as u32,
                max_attempts as u32,
                wake_pending == 1,
                now,
            );
            conn.prepare_cached(
                "UPDATE tasks SET state = ?1, run_after = COALESCE(?2, run_after), \
                 failures = failures + ?3, result = COALESCE(?4, result), \
                 error = CASE WHEN ?5 THEN NULL ELSE COALESCE(?6, error) END, wake_pending = 0, \
                 lease_owner = NULL, lease_until = NULL, updated_at = ?7 WHERE id = ?8",
            )?
            .execute(params![
                t.state.as_str(),
                t.run_after.map(micros),
                i64::from(t.failure),
                t.result.as_ref().map(|v| v.to_string()),
                t.error == Some(None),
                t.error.clone().flatten(),
                now_us,
                id,
            ])?;
            if t.ends() {
                wake_parents(conn, &[parent], now_us)?;
            }
            out.push(true);
        }
        Ok(Ok(out))
    })
    .await
}

/// Inserts `tasks` as queued, inside the caller's transaction: `Created` for a new one,
/// `Existing` when its idempotency key is taken; a taken id without a key is refused.
pub(crate) fn enqueue_in(
    conn: &Connection,
    tasks: &[NewTask],
    now: DateTime<Utc>,
) -> rusqlite::Result<Result<Vec<Enqueued>>> {
    let mut out = Vec::with_capacity(tasks.len());
    let now = micros(now);
    for t in tasks {
        if t.queue.is_empty() || t.kind.is_empty() {
            return Ok(Err(StoreError::Invalid("a task needs a queue and a kind".into())));
        }
        let inserted = conn
            .prepare_cached(
                "INSERT INTO tasks (id, queue, kind, payload, priority, state, max_attempts, \
                 run_after, idem_key, run_id, parent, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                t.id.to_string(),
                t.queue,
                t.kind,
                t.payload.to_string(),
                i64::from(t.priority),
                i64::from(t.max_attempts),
                t.run_after.map_or(now, micros),
                t.idempotency_key,
                t.run_id.map(|r| r.to_string()),
                t.parent.map(|p| p.to_string()),
                now,
            ])?;
        if inserted == 1 {
            out.push(Enqueued::Created(t.id));
            continue;
        }
        // Either the key or the id exists already.
        let existing: Option<String> = match &t.idempotency_key {
            Some(k) => conn
                .prepare_cached("SELECT id FROM tasks WHERE idem_key = ?1")?
                .query_row(params![k], |r| r.get(0))
                .optional()?,
            None => None,
        };
        match existing.map(|id| parse_uuid(&id)) {
            Some(Ok(id)) => out.push(Enqueued::Existing(TaskId(id))),
            Some(Err(e)) => return Ok(Err(e)),
            None => {
                return Ok(Err(StoreError::Invalid(format!(
                    "task {} already exists; use a new id or an idempotency key",
                    t.id
                ))));
            }
        }
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use l9_store::{Claim, Finish, NewTask, Outcome, Store};
    use l9_types::TaskId;
    use rusqlite::StatementStatus;
    use serde_json::json;

    use crate::{SqliteOptions, SqliteStore};

    /// One-at-a-time claims reuse the compiled claim statement: with a bare `LIMIT ?4` SQLite
    /// compiled it again on every call (a third of a claim's time). Also the lease-expiry
    /// statements run only when a lease has expired.
    #[tokio::test]
    async fn claims_reuse_their_compiled_statement() {
        let dir = l9_test_support::temp_dir();
        let store =
            SqliteStore::open(&dir.path().join("l9.db"), SqliteOptions::default()).await.unwrap();
        let q = store.tasks();
        let now = chrono::DateTime::<chrono::Utc>::from_timestamp(1_767_225_600, 0).unwrap();
        let tasks: Vec<NewTask> = (0..20u128)
            .map(|i| NewTask::new(TaskId(uuid::Uuid::from_u128(i + 1)), "q", "k", json!(i)))
            .collect();
        q.enqueue(&tasks, now).await.unwrap();
        for _ in 0..20 {
            let c = Claim {
                queues: vec!["q".into()],
                worker: "w".into(),
                limit: 1,
                lease: Duration::from_secs(30),
                now,
            };
            let got = q.claim(&c).await.unwrap();
            let done = [Finish { id: got[0].id, outcome: Outcome::Succeeded(json!(1)) }];
            assert_eq!(q.finish("w", &done, now).await.unwrap(), [true]);
        }
        let conn = store.fast.conn_for_tests();
        let stmt = conn.prepare_cached(&super::claim_sql(1)).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0, "compiled once, reused");
        assert!(stmt.get_status(StatementStatus::VmStep) > 0, "it is the statement that ran");
    }
}
