//! Raw-SQL baselines for `l9 bench queue|workflow`: the least a queue or a journal can do
//! on this database, run in the same process so ratios compare like with like.
//! Tables live in the store's schema and are dropped after each run.

#![allow(clippy::disallowed_methods)] // benchmarks measure wall time by definition

use std::time::{Duration, Instant};

use crate::PgStore;
use l9_store::Result;

use crate::codec::db;

/// `DROP TABLE IF EXISTS` of `tables` in the store's own schema. The search path goes on to
/// `public`: an unqualified drop of a table the store's schema does not have yet would drop
/// one of that name in `public` (a user's `raw_jobs` was dropped that way). The tables are
/// then made unqualified, which puts them in the first schema of the path, the store's.
fn drop_stale(store: &PgStore, tables: &[&str]) -> String {
    let names: Vec<String> = match store.schema() {
        Some(s) => tables.iter().map(|t| format!("{s}.{t}")).collect(),
        None => tables.iter().map(|t| t.to_string()).collect(),
    };
    format!("DROP TABLE IF EXISTS {}", names.join(", "))
}

async fn fresh_jobs(store: &PgStore, n: usize) -> Result<()> {
    let pool = store.pool();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{}; CREATE TABLE raw_jobs (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL, \
         result TEXT); CREATE INDEX raw_jobs_q ON raw_jobs(id) WHERE state = 'queued'",
        drop_stale(store, &["raw_jobs"])
    )))
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

/// Claim one job (`FOR UPDATE SKIP LOCKED`) and complete it, one transaction each: the time
/// and the jobs done.
pub async fn queue_single(store: &PgStore, n: usize) -> Result<(Duration, usize)> {
    let pool = store.pool();
    fresh_jobs(store, n).await?;
    let t = Instant::now();
    let mut done = 0;
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
        done += 1;
    }
    let d = t.elapsed();
    sqlx::raw_sql("DROP TABLE raw_jobs").execute(pool).await.map_err(db)?;
    Ok((d, done))
}

/// Waits for every writer of `set`; the first error (or a writer that panicked) fails the
/// floor.
async fn joined<T: 'static>(mut set: tokio::task::JoinSet<Result<T>>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.map_err(|e| l9_store::StoreError::Backend(e.to_string()))??);
    }
    Ok(out)
}

/// Claim `batch` jobs and complete them, one transaction each, until `n` are done, from
/// `clients` concurrent connections: the time and the jobs done.
pub async fn queue_batched(
    store: &PgStore,
    n: usize,
    batch: usize,
    clients: usize,
) -> Result<(Duration, usize)> {
    let pool = store.pool();
    fresh_jobs(store, n).await?;
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let pool = pool.clone();
        set.spawn(async move {
            let mut done = 0;
            loop {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "UPDATE raw_jobs SET state = 'running' WHERE id = ANY(ARRAY(SELECT id FROM raw_jobs \
                     WHERE state = 'queued' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)) RETURNING id",
                )
                .bind(batch as i64)
                .fetch_all(&pool)
                .await
                .map_err(db)?;
                if ids.is_empty() {
                    return Ok::<_, l9_store::StoreError>(done);
                }
                sqlx::query("UPDATE raw_jobs SET state = 'done', result = 'ok' WHERE id = ANY($1)")
                    .bind(&ids)
                    .execute(&pool)
                    .await
                    .map_err(db)?;
                done += ids.len();
            }
        });
    }
    let done = joined(set).await?.into_iter().sum();
    let d = t.elapsed();
    sqlx::raw_sql("DROP TABLE raw_jobs").execute(pool).await.map_err(db)?;
    Ok((d, done))
}

/// `n` single-row inserts, each its own committed transaction, from `writers` concurrent
/// connections: the durable-write ceiling of this server and disk (group commit included).
pub async fn durable_inserts(store: &PgStore, n: usize, writers: usize) -> Result<Duration> {
    let pool = store.pool();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{}; CREATE TABLE raw_steps (id BIGSERIAL PRIMARY KEY, run INT, v TEXT)",
        drop_stale(store, &["raw_steps"])
    )))
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
    joined(set).await?;
    let d = t.elapsed();
    sqlx::raw_sql("DROP TABLE raw_steps").execute(pool).await.map_err(db)?;
    Ok(d)
}

/// The rows a durable step's entry is stored in, written straight into them by raw SQL and
/// nothing else (as L9 wrote a step before its journal tail, `tail.rs`): per step, one statement that
/// takes the fence (a share lock on its task's row, checked to be leased to this writer) and
/// inserts the step's packet (a journal entry's columns and size), its parent link (to the
/// previous step's packet) and its journal row, then commits — into
/// tables shaped like the store's (`LIKE … INCLUDING ALL`: the same columns, generated
/// full-text column, indexes and keys). `n` steps shared among `writers` concurrent
/// connections, one run and one leased task each. What the store's schema costs a step on
/// this server, with no L9 code around it: next to [`durable_inserts`] it splits a step's
/// distance from the one-row floor into the schema's share and the rest.
pub async fn durable_step_rows(store: &PgStore, n: usize, writers: usize) -> Result<Duration> {
    use l9_types::{IdSource, SeededRng, SystemClock};
    let pool = store.pool();
    let drop_tables =
        drop_stale(store, &["step_parents", "step_journal", "step_packets", "step_tasks"]);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{drop_tables};
         CREATE TABLE step_tasks (id UUID PRIMARY KEY, state TEXT NOT NULL, lease_owner TEXT);
         CREATE TABLE step_packets (LIKE packets INCLUDING ALL);
         CREATE TABLE step_parents (LIKE packet_parents INCLUDING ALL);
         CREATE TABLE step_journal (LIKE journal INCLUDING ALL)"
    )))
    .execute(pool)
    .await
    .map_err(db)?;
    let writers = writers.max(1);
    let per = n.div_ceil(writers);
    // Ids as L9 makes them (UUIDv7 from a clock and a seeded source), one run and task each,
    // and a first packet for each run's first step to descend from.
    let clock = SystemClock;
    let rng = SeededRng::from_seed(3);
    let ids = || IdSource { clock: &clock, rng: &rng }.uuid();
    let mut runs = Vec::with_capacity(writers);
    for _ in 0..writers {
        let (task, run, root) = (ids(), ids(), ids());
        sqlx::query(
            "INSERT INTO step_tasks (id, state, lease_owner) VALUES ($1, 'leased', 'bench')",
        )
        .bind(task)
        .execute(pool)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO step_packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, blobs, hash)
             VALUES ($1, 1, 'run.start', 1, $2, $3, 'worker:bench', now(), '{}', '[]', $4)",
        )
        .bind(root)
        .bind(run)
        .bind(task)
        .bind(l9_types::ContentHash::of_bytes(root.as_bytes()).as_bytes().to_vec())
        .execute(pool)
        .await
        .map_err(db)?;
        // The step packets' ids, made before the clock starts, as L9 makes them before it writes.
        let steps: Vec<uuid::Uuid> = (0..per).map(|_| ids()).collect();
        runs.push((task, run, root, steps));
    }
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (task, run, root, steps) in runs {
        let pool = pool.clone();
        set.spawn(async move {
            let mut parent = root;
            for (i, id) in steps.into_iter().enumerate() {
                let key = format!("step#{i}");
                let body = format!(
                    r#"{{"key":"{key}","kind":"step","status":"ok","effect":{{"kind":"idempotent"}},"value":{i}}}"#
                );
                let hash = l9_types::ContentHash::of_bytes(body.as_bytes()).as_bytes().to_vec();
                let written: i64 = sqlx::query_scalar(
                    "WITH fence AS (
                        SELECT id FROM step_tasks WHERE id = $1 AND state = 'leased' AND lease_owner = 'bench' FOR SHARE
                     ), p AS (
                        INSERT INTO step_packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, blobs, effect, hash)
                        SELECT $2, 1, 'journal.step', 1, $3, $1, 'worker:bench', now(), $4, '[]', '{\"kind\":\"idempotent\"}', $5
                        FROM fence RETURNING id
                     ), pp AS (
                        INSERT INTO step_parents (child_id, parent_id, ord) SELECT id, $6, 0 FROM p
                     ), j AS (
                        INSERT INTO step_journal (run_id, seq, key, status, packet)
                        SELECT $3, $7, $8, 'ok', id FROM p RETURNING 1
                     )
                     SELECT count(*) FROM j",
                )
                .bind(task)
                .bind(id)
                .bind(run)
                .bind(&body)
                .bind(hash)
                .bind(parent)
                .bind(i as i64 + 1)
                .bind(&key)
                .fetch_one(&pool)
                .await
                .map_err(db)?;
                if written != 1 {
                    return Err(l9_store::StoreError::Backend(format!(
                        "the step floor wrote {written} journal rows for one step"
                    )));
                }
                parent = id;
            }
            Ok::<_, l9_store::StoreError>(())
        });
    }
    joined(set).await?;
    let d = t.elapsed();
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop_tables)).execute(pool).await.map_err(db)?;
    Ok(d)
}

/// The floor for a bulk load: one `COPY` of the packets `parts` hands out, then one `COPY` of
/// the vectors `again` hands out (the same rows made a second time, so neither is held whole),
/// into tables shaped like the store's (same columns, generated full-text column, indexes and
/// keys; the full-text index's pending list merged once after the packets, as a large L9 write
/// does), then the same one-pass HNSW build a large L9 write does. Returns (load, index build)
/// durations; the load's includes the time the sources take to make their parts (the caller
/// knows it and takes it off).
pub async fn copy_floor(
    store: &PgStore,
    parts: &mut dyn l9_store::WriteParts,
    again: &mut dyn l9_store::WriteParts,
) -> Result<(Duration, Duration)> {
    use std::fmt::Write as _;
    let pool = store.pool();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{};
         CREATE TABLE floor_packets (LIKE packets INCLUDING ALL);
         CREATE TABLE floor_embeddings (LIKE embeddings INCLUDING DEFAULTS,
             PRIMARY KEY (packet_id), FOREIGN KEY (packet_id) REFERENCES floor_packets(id))",
        drop_stale(store, &["floor_embeddings", "floor_packets"])
    )))
    .execute(pool)
    .await
    .map_err(db)?;
    let t = Instant::now();
    let mut conn = pool.acquire().await.map_err(db)?;
    // The same full-text handling as a large L9 write: a long pending list, merged once.
    sqlx::raw_sql("BEGIN").execute(&mut *conn).await.map_err(db)?;
    sqlx::raw_sql(crate::write::SET_GIN_PENDING_BULK).execute(&mut *conn).await.map_err(db)?;
    let mut buf = String::with_capacity(1 << 20);
    let opt_uuid = |u: Option<uuid::Uuid>| u.map_or("\\N".to_owned(), |u| u.to_string());
    let mut copy = conn
        .copy_in_raw(
            "COPY floor_packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash) FROM STDIN",
        )
        .await
        .map_err(db)?;
    while let Some(part) = parts.next_part().await? {
        for p in &part.packets {
            let json = |e: serde_json::Error| l9_store::StoreError::Invalid(e.to_string());
            let _ = writeln!(
                buf,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t\\\\x{}",
                p.id.0,
                p.v,
                escape(&p.kind),
                p.schema,
                opt_uuid(p.run_id.map(|r| r.0)),
                opt_uuid(p.task_id.map(|t| t.0)),
                escape(&p.actor),
                p.at.to_rfc3339(),
                escape(&p.body.to_string()),
                p.text.as_deref().map_or("\\N".to_owned(), escape),
                escape(&serde_json::to_string(&p.blobs).map_err(json)?),
                match &p.effect {
                    Some(e) => escape(&serde_json::to_string(e).map_err(json)?),
                    None => "\\N".to_owned(),
                },
                hex(p.hash.as_bytes()),
            );
            if buf.len() > 1 << 20 {
                copy.send(buf.as_bytes()).await.map_err(db)?;
                buf.clear();
            }
        }
    }
    copy.send(buf.as_bytes()).await.map_err(db)?;
    buf.clear();
    copy.finish().await.map_err(db)?;
    crate::write::merge_text_pending(&mut conn, "floor_packets_tsv_idx").await?;
    let mut copy = conn
        .copy_in_raw("COPY floor_embeddings (packet_id, embedding) FROM STDIN")
        .await
        .map_err(db)?;
    while let Some(part) = again.next_part().await? {
        for (id, v) in &part.embeddings {
            let _ = write!(buf, "{}\t[", id.0);
            for (i, x) in v.iter().enumerate() {
                let _ = if i == 0 { write!(buf, "{x}") } else { write!(buf, ",{x}") };
            }
            buf.push_str("]\n");
            if buf.len() > 1 << 20 {
                copy.send(buf.as_bytes()).await.map_err(db)?;
                buf.clear();
            }
        }
    }
    copy.send(buf.as_bytes()).await.map_err(db)?;
    copy.finish().await.map_err(db)?;
    sqlx::raw_sql("COMMIT").execute(&mut *conn).await.map_err(db)?;
    let load = t.elapsed();
    let t = Instant::now();
    let mut tx = pool.begin().await.map_err(db)?;
    crate::write::build_index_on(
        &mut tx,
        store.opts.dims,
        store.opts.index_memory_mb,
        crate::write::AnnTable::Floor,
    )
    .await?;
    tx.commit().await.map_err(db)?;
    let build = t.elapsed();
    sqlx::raw_sql("DROP TABLE floor_embeddings; DROP TABLE floor_packets")
        .execute(pool)
        .await
        .map_err(db)?;
    Ok((load, build))
}

/// COPY's text format: backslash, tab, newline and carriage return escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
