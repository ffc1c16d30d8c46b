//! The atomic write path on PostgreSQL: two set-valued lookups, the shared planner
//! (`l9_store::plan_write`, which fixes the order of checks), then bulk inserts with
//! `unnest` in chunks of [`CHUNK`] rows (a statement's parameters stay far below
//! PostgreSQL's 1 GB limit on one value), all in one transaction. Vectors travel as binary
//! `real[]`, not as text.
//!
//! A load may also come in parts (`write_parts`): the same statements part after part in
//! the one transaction, the bulk paths chosen from the size the source announces.
//!
//! A large load (at least [`BULK_MIN`] embeddings, and at least half as many as the store
//! already holds) does not insert into the HNSW index row by row: inside the same
//! transaction it drops the index, loads, and builds the index again in one pass (in
//! memory, with PostgreSQL's parallel maintenance workers), about 3× less work than
//! maintaining it per row. Searches from other sessions wait for the load to commit (the
//! drop locks the table); a crash or an error rolls the drop back with the rest. A large
//! load also refreshes the packets' statistics (`ANALYZE`).

use l9_store::{
    Known, LoadSize, Result, StoreError, WriteBatch, WriteParts, WriteReport, plan_write,
};
use l9_types::{ContentHash, PacketEnvelope, PacketId};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::codec::{db, for_keys};

/// Rows per insert statement.
pub(crate) const CHUNK: usize = 2_000;
/// The GIN pending list's limit (kB) on every connection: a search reads the whole list.
pub(crate) const GIN_PENDING_KB: &str = "256";
/// The limit a large write sets for itself before merging the list once at its end
/// (measured on 112,000 rows: 2.38 s, against 2.64 s with 16 MB and 2.95 s with 256 kB).
pub(crate) const SET_GIN_PENDING_BULK: &str = "SET LOCAL gin_pending_list_limit = '4MB'";
/// The fewest packets a write must carry to queue its full-text entries in a long pending
/// list and merge it into the index once at the end (cheaper than merging every 256 kB).
pub(crate) const TEXT_BULK_MIN: usize = CHUNK;
/// The fewest embeddings a write must carry to rebuild the vector index instead of
/// maintaining it per row.
pub(crate) const BULK_MIN: usize = 10_000;

pub(crate) async fn write(
    pool: &PgPool,
    dims: usize,
    index_memory_mb: u32,
    batch: &WriteBatch,
) -> Result<WriteReport> {
    let size = LoadSize { packets: batch.packets.len(), embeddings: batch.embeddings.len() };
    let mut tx = pool.begin().await.map_err(db)?;
    let mode = begin_load(&mut tx, size).await?;
    let mut report = write_in(&mut tx, dims, batch).await?;
    end_load(&mut tx, dims, index_memory_mb, mode, &mut report).await?;
    tx.commit().await.map_err(db)?;
    Ok(report)
}

/// A load written part by part in one transaction (see `Store::write_parts`): the bulk
/// paths are chosen from the size the source announces.
pub(crate) async fn write_parts(
    pool: &PgPool,
    dims: usize,
    index_memory_mb: u32,
    parts: &mut dyn WriteParts,
) -> Result<WriteReport> {
    let mut tx = pool.begin().await.map_err(db)?;
    let mode = begin_load(&mut tx, parts.size()).await?;
    let mut report = WriteReport::default();
    while let Some(part) = parts.next_part().await? {
        report.add(&write_in(&mut tx, dims, &part).await?);
    }
    end_load(&mut tx, dims, index_memory_mb, mode, &mut report).await?;
    tx.commit().await.map_err(db)?;
    Ok(report)
}

/// Which bulk paths a load takes: the vector index rebuilt after it, the full-text entries
/// merged once at its end.
struct LoadMode {
    rebuild_index: bool,
    text_bulk: bool,
}

async fn begin_load(tx: &mut PgConnection, size: LoadSize) -> Result<LoadMode> {
    let rebuild_index = size.embeddings >= BULK_MIN && {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM embeddings")
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        size.embeddings as i64 * 2 >= stored
    };
    if rebuild_index {
        sqlx::query("DROP INDEX IF EXISTS embeddings_hnsw").execute(&mut *tx).await.map_err(db)?;
    }
    let text_bulk = size.packets >= TEXT_BULK_MIN;
    if text_bulk {
        sqlx::query(SET_GIN_PENDING_BULK).execute(&mut *tx).await.map_err(db)?;
    }
    Ok(LoadMode { rebuild_index, text_bulk })
}

async fn end_load(
    tx: &mut PgConnection,
    dims: usize,
    index_memory_mb: u32,
    mode: LoadMode,
    report: &mut WriteReport,
) -> Result<()> {
    if mode.text_bulk {
        merge_text_pending(tx, "packets_tsv").await?;
    }
    if mode.rebuild_index {
        report.ann_index_build_ms = Some(build_ann_index(tx, dims, index_memory_mb).await?);
        // Fresh statistics for the planner and for full-text term pruning (which reads the
        // common terms from `pg_stats`): autovacuum would get to it a minute or more later,
        // and until then every query ranked every document holding a common word.
        sqlx::query("ANALYZE packets").execute(&mut *tx).await.map_err(db)?;
    }
    Ok(())
}

/// Merges the full-text index's pending list into the index, so searches after the write do
/// not read it entry by entry. PostgreSQL lets only the index's owner do it: a role that
/// only writes rows (the schema migrated by another) skips it — the list is then merged as
/// it fills, or by autovacuum — instead of failing the write.
pub(crate) async fn merge_text_pending(tx: &mut PgConnection, index: &str) -> Result<()> {
    sqlx::query(
        "SELECT gin_clean_pending_list(c.oid) FROM pg_class c
         WHERE c.oid = $1::regclass AND pg_has_role(c.relowner, 'USAGE')",
    )
    .bind(index)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Builds the HNSW index over all embeddings in one pass, with up to `memory_mb` of
/// `maintenance_work_mem` (the graph is built in memory when it fits) and the server's
/// parallel maintenance workers. Returns the milliseconds it took, by the server's clock.
pub(crate) async fn build_ann_index(
    tx: &mut PgConnection,
    dims: usize,
    memory_mb: u32,
) -> Result<u64> {
    build_index_on(tx, dims, memory_mb, AnnTable::Store).await
}

/// Which table an index build is for: the store's, or the raw-SQL floor's (benchmarks).
#[derive(Clone, Copy)]
pub(crate) enum AnnTable {
    Store,
    #[cfg_attr(not(feature = "baseline"), allow(dead_code))]
    Floor,
}

pub(crate) async fn build_index_on(
    tx: &mut PgConnection,
    dims: usize,
    memory_mb: u32,
    table: AnnTable,
) -> Result<u64> {
    let (count, create) = match table {
        AnnTable::Store => (
            "SELECT count(*) FROM embeddings",
            "CREATE INDEX embeddings_hnsw ON embeddings USING hnsw (embedding vector_cosine_ops)",
        ),
        AnnTable::Floor => (
            "SELECT count(*) FROM floor_embeddings",
            "CREATE INDEX floor_embeddings_hnsw ON floor_embeddings USING hnsw (embedding vector_cosine_ops)",
        ),
    };
    let rows: i64 = sqlx::query_scalar(count).fetch_one(&mut *tx).await.map_err(db)?;
    // The graph: the vector plus ~2·m neighbour slots per level-0 node, with headroom.
    let need_mb = (rows.max(0) as u64 * (dims as u64 * 4 + 400) * 3 / 2) >> 20;
    let mb = need_mb.clamp(64, u64::from(memory_mb.max(64)));
    sqlx::query("SELECT set_config('maintenance_work_mem', $1, true)")
        .bind(format!("{mb}MB"))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let clock = "SELECT extract(epoch FROM clock_timestamp())::float8";
    let start: f64 = sqlx::query_scalar(clock).fetch_one(&mut *tx).await.map_err(db)?;
    sqlx::query(create).execute(&mut *tx).await.map_err(db)?;
    let end: f64 = sqlx::query_scalar(clock).fetch_one(&mut *tx).await.map_err(db)?;
    Ok(((end - start).max(0.0) * 1000.0) as u64)
}

/// The write inside the caller's transaction (the journal appends a packet and its row
/// atomically).
pub(crate) async fn write_in(
    tx: &mut PgConnection,
    dims: usize,
    batch: &WriteBatch,
) -> Result<WriteReport> {
    let mut known = Known::default();
    let ids: Vec<Uuid> = batch.referenced_ids().iter().map(|i| i.0).collect();
    if !ids.is_empty() {
        let (sql, reuse) = for_keys("SELECT id, hash FROM packets WHERE id = ANY($1)", ids.len());
        let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(sql)
            .bind(&ids)
            .persistent(reuse)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        for (id, hash) in rows {
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| StoreError::Backend("stored hash has the wrong length".into()))?;
            known.packets.insert(PacketId(id), ContentHash::from_bytes(hash));
        }
    }
    let blob_refs: Vec<Vec<u8>> =
        batch.referenced_blobs().iter().map(|h| h.as_bytes().to_vec()).collect();
    if !blob_refs.is_empty() {
        let (sql, reuse) = for_keys("SELECT hash FROM blobs WHERE hash = ANY($1)", blob_refs.len());
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(sql)
            .bind(&blob_refs)
            .persistent(reuse)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        for h in rows {
            if let Ok(h) = <[u8; 32]>::try_from(h) {
                known.blobs.insert(ContentHash::from_bytes(h));
            }
        }
    }
    let plan = plan_write(batch, dims, &known)?;
    let mut report = WriteReport { packets_present: plan.packets_present, ..Default::default() };

    for (hash, data) in &plan.blobs {
        let r = sqlx::query("INSERT INTO blobs (hash, size, data) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING")
            .bind(hash.as_bytes().to_vec())
            .bind(data.len() as i64)
            .bind(*data)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        report.blobs_inserted += r.rows_affected() as usize;
    }

    for chunk in plan.packets.chunks(CHUNK) {
        insert_packets(tx, chunk).await?;
        report.packets_inserted += chunk.len();
    }
    for chunk in plan.embeddings.chunks(CHUNK) {
        let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| id.0).collect();
        let flat: Vec<f32> = chunk.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        let r = sqlx::query(
            "INSERT INTO embeddings (packet_id, embedding)
             SELECT u.id, ($2::real[])[(u.i - 1) * $3 + 1 : u.i * $3]::vector
             FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, i)
             ON CONFLICT (packet_id) DO NOTHING",
        )
        .bind(ids)
        .bind(flat)
        .bind(dims as i64)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        report.embeddings_inserted += r.rows_affected() as usize;
    }
    Ok(report)
}

async fn insert_packets(tx: &mut PgConnection, packets: &[&PacketEnvelope]) -> Result<()> {
    let mut cols = Columns::default();
    for p in packets {
        cols.push(p)?;
    }
    sqlx::query(
        "INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash)
         SELECT * FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::int4[], $5::uuid[], $6::uuid[], $7::text[],
                              $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bytea[])",
    )
    .bind(cols.id)
    .bind(cols.v)
    .bind(cols.kind)
    .bind(cols.schema)
    .bind(cols.run)
    .bind(cols.task)
    .bind(cols.actor)
    .bind(cols.at)
    .bind(cols.body)
    .bind(cols.text)
    .bind(cols.blobs)
    .bind(cols.effect)
    .bind(cols.hash)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let (mut child, mut parent, mut ord) = (Vec::new(), Vec::new(), Vec::new());
    for p in packets {
        for (i, x) in p.parents.iter().enumerate() {
            child.push(p.id.0);
            parent.push(x.0);
            ord.push(i as i32);
        }
    }
    if !child.is_empty() {
        sqlx::query(
            "INSERT INTO packet_parents (child_id, parent_id, ord) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int4[])",
        )
        .bind(child)
        .bind(parent)
        .bind(ord)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

#[derive(Default)]
struct Columns {
    id: Vec<Uuid>,
    v: Vec<i32>,
    kind: Vec<String>,
    schema: Vec<i32>,
    run: Vec<Option<Uuid>>,
    task: Vec<Option<Uuid>>,
    actor: Vec<String>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
    body: Vec<String>,
    text: Vec<Option<String>>,
    blobs: Vec<String>,
    effect: Vec<Option<String>>,
    hash: Vec<Vec<u8>>,
}

impl Columns {
    fn push(&mut self, p: &PacketEnvelope) -> Result<()> {
        let json = |e: serde_json::Error| StoreError::Invalid(e.to_string());
        self.id.push(p.id.0);
        self.v.push(p.v as i32);
        self.kind.push(p.kind.clone());
        self.schema.push(p.schema as i32);
        self.run.push(p.run_id.map(|r| r.0));
        self.task.push(p.task_id.map(|t| t.0));
        self.actor.push(p.actor.clone());
        self.at.push(p.at);
        self.body.push(p.body.to_string());
        self.text.push(p.text.clone());
        self.blobs.push(serde_json::to_string(&p.blobs).map_err(json)?);
        self.effect.push(p.effect.as_ref().map(serde_json::to_string).transpose().map_err(json)?);
        self.hash.push(p.hash.as_bytes().to_vec());
        Ok(())
    }
}
