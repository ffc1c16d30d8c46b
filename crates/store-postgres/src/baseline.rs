//! Raw-SQL baselines for `l9 bench queue|workflow`: the least a queue or a journal can do
//! on this database, run in the same process so ratios compare like with like.
//! Tables live in the store's schema and are dropped after each run.

#![allow(clippy::disallowed_methods)] // benchmarks measure wall time by definition

use std::time::{Duration, Instant};

use crate::PgStore;
use l9_store::Result;

use crate::codec::db;

async fn fresh_jobs(pool: &sqlx::PgPool, n: usize) -> Result<()> {
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS raw_jobs; CREATE TABLE raw_jobs (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL, \
         result TEXT); CREATE INDEX raw_jobs_q ON raw_jobs(id) WHERE state = 'queued'",
    )
    .execute(pool)
    .await
    .map_err(db)?;
    sqlx::query("INSERT INTO raw_jobs (state) SELECT 'queued' FROM generate_series(1, $1)")
        .bind(n as i64)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

/// Claim one job (`FOR UPDATE SKIP LOCKED`) and complete it, one transaction each.
pub async fn queue_single(store: &PgStore, n: usize) -> Result<Duration> {
    let pool = store.pool();
    fresh_jobs(pool, n).await?;
    let t = Instant::now();
    for _ in 0..n {
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE raw_jobs SET state = 'running' WHERE id = (SELECT id FROM raw_jobs WHERE state = 'queued' \
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id",
        )
        .fetch_optional(pool)
        .await
        .map_err(db)?;
        let Some(id) = id else { break };
        sqlx::query("UPDATE raw_jobs SET state = 'done', result = 'ok' WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map_err(db)?;
    }
    let d = t.elapsed();
    sqlx::raw_sql("DROP TABLE raw_jobs").execute(pool).await.map_err(db)?;
    Ok(d)
}

/// Claim `batch` jobs and complete them, one transaction each, until `n` are done.
pub async fn queue_batched(store: &PgStore, n: usize, batch: usize) -> Result<Duration> {
    let pool = store.pool();
    fresh_jobs(pool, n).await?;
    let t = Instant::now();
    loop {
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE raw_jobs SET state = 'running' WHERE id = ANY(ARRAY(SELECT id FROM raw_jobs WHERE state = 'queued' \
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)) RETURNING id",
        )
        .bind(batch as i64)
        .fetch_all(pool)
        .await
        .map_err(db)?;
        if ids.is_empty() {
            break;
        }
        sqlx::query("UPDATE raw_jobs SET state = 'done', result = 'ok' WHERE id = ANY($1)")
            .bind(&ids)
            .execute(pool)
            .await
            .map_err(db)?;
    }
    let d = t.elapsed();
    sqlx::raw_sql("DROP TABLE raw_jobs").execute(pool).await.map_err(db)?;
    Ok(d)
}

/// `n` single-row inserts, each its own committed transaction, from `writers` concurrent
/// connections: the durable-write ceiling of this server and disk (group commit included).
pub async fn durable_inserts(store: &PgStore, n: usize, writers: usize) -> Result<Duration> {
    let pool = store.pool();
    sqlx::raw_sql("DROP TABLE IF EXISTS raw_steps; CREATE TABLE raw_steps (id BIGSERIAL PRIMARY KEY, run INT, v TEXT)")
        .execute(pool)
        .await
        .map_err(db)?;
    let t = Instant::now();
    let per = n.div_ceil(writers.max(1));
    let mut set = tokio::task::JoinSet::new();
    for w in 0..writers.max(1) {
        let pool = pool.clone();
        set.spawn(async move {
            for i in 0..per {
                sqlx::query("INSERT INTO raw_steps (run, v) VALUES ($1, $2)")
                    .bind(w as i32)
                    .bind(format!("step {i}"))
                    .execute(&pool)
                    .await
                    .map_err(db)?;
            }
            Ok::<_, l9_store::StoreError>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| l9_store::StoreError::Backend(e.to_string()))??;
    }
    let d = t.elapsed();
    sqlx::raw_sql("DROP TABLE raw_steps").execute(pool).await.map_err(db)?;
    Ok(d)
}
