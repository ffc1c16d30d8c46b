//! The atomic write path on PostgreSQL: two set-valued lookups, the shared planner
//! (`l9_store::plan_write`, which fixes the order of checks), then bulk inserts with
//! `unnest`, all in one transaction.

use l9_store::{Known, Result, StoreError, WriteBatch, WriteReport, plan_write};
use l9_types::{ContentHash, PacketEnvelope, PacketId};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::codec::{db, vector_literal};

pub(crate) async fn write(pool: &PgPool, dims: usize, batch: &WriteBatch) -> Result<WriteReport> {
    let mut tx = pool.begin().await.map_err(db)?;
    let report = write_in(&mut tx, dims, batch).await?;
    tx.commit().await.map_err(db)?;
    Ok(report)
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
        let rows: Vec<(Uuid, Vec<u8>)> =
            sqlx::query_as("SELECT id, hash FROM packets WHERE id = ANY($1)")
                .bind(&ids)
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
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM blobs WHERE hash = ANY($1)")
            .bind(&blob_refs)
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

    if !plan.packets.is_empty() {
        let mut cols = Columns::default();
        for p in &plan.packets {
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
        for p in &plan.packets {
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
        report.packets_inserted = plan.packets.len();
    }

    if !plan.embeddings.is_empty() {
        let ids: Vec<Uuid> = plan.embeddings.iter().map(|(id, _)| id.0).collect();
        let vecs: Vec<String> = plan.embeddings.iter().map(|(_, v)| vector_literal(v)).collect();
        let r = sqlx::query(
            "INSERT INTO embeddings (packet_id, embedding)
             SELECT id, v::vector FROM unnest($1::uuid[], $2::text[]) AS u(id, v)
             ON CONFLICT (packet_id) DO NOTHING",
        )
        .bind(ids)
        .bind(vecs)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        report.embeddings_inserted = r.rows_affected() as usize;
    }
    Ok(report)
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
