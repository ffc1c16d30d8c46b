//! The atomic write path on PostgreSQL: all checks first (in the contract's order, from a
//! few set-valued lookups), then bulk inserts with `unnest`, all in one transaction.

use std::collections::{HashMap, HashSet};

use l9_store::{Result, StoreError, WriteBatch, WriteReport, normalized};
use l9_types::{ContentHash, PacketEnvelope};
use sqlx::PgPool;
use uuid::Uuid;

use crate::codec::{db, vector_literal};

pub(crate) async fn write(pool: &PgPool, dims: usize, batch: &WriteBatch) -> Result<WriteReport> {
    for p in &batch.packets {
        p.verify()?;
    }
    let mut report = WriteReport::default();
    let mut tx = pool.begin().await.map_err(db)?;

    let mut batch_blobs: HashSet<ContentHash> = HashSet::new();
    for data in &batch.blobs {
        let hash = ContentHash::of_bytes(data);
        if !batch_blobs.insert(hash) {
            continue;
        }
        let r = sqlx::query("INSERT INTO blobs (hash, size, data) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING")
            .bind(hash.as_bytes().to_vec())
            .bind(data.len() as i64)
            .bind(data.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        report.blobs_inserted += r.rows_affected() as usize;
    }

    // What is already stored, in three lookups.
    let ids: Vec<Uuid> = batch.packets.iter().map(|p| p.id.0).collect();
    let mut known: HashMap<Uuid, Vec<u8>> = HashMap::new();
    if !ids.is_empty() {
        let rows: Vec<(Uuid, Vec<u8>)> =
            sqlx::query_as("SELECT id, hash FROM packets WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        known.extend(rows);
    }
    let parent_ids: Vec<Uuid> =
        batch.packets.iter().flat_map(|p| p.parents.iter().map(|x| x.0)).collect();
    let mut parents_present: HashSet<Uuid> = HashSet::new();
    if !parent_ids.is_empty() {
        let rows: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM packets WHERE id = ANY($1)")
            .bind(&parent_ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        parents_present.extend(rows);
    }
    let blob_refs: Vec<Vec<u8>> = batch
        .packets
        .iter()
        .flat_map(|p| p.blobs.iter().map(|b| b.hash.as_bytes().to_vec()))
        .collect();
    let mut blobs_present: HashSet<Vec<u8>> = HashSet::new();
    if !blob_refs.is_empty() {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM blobs WHERE hash = ANY($1)")
            .bind(&blob_refs)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        blobs_present.extend(rows);
    }

    let mut to_insert: Vec<&PacketEnvelope> = Vec::new();
    for p in &batch.packets {
        if let Some(h) = known.get(&p.id.0) {
            if h.as_slice() == p.hash.as_bytes() {
                report.packets_present += 1;
                continue;
            }
            return Err(StoreError::Conflict { id: p.id });
        }
        for parent in &p.parents {
            if !parents_present.contains(&parent.0) {
                return Err(StoreError::MissingParent { id: p.id, parent: *parent });
            }
        }
        for b in &p.blobs {
            if !batch_blobs.contains(&b.hash)
                && !blobs_present.contains(b.hash.as_bytes().as_slice())
            {
                return Err(StoreError::MissingBlob { id: p.id, hash: b.hash });
            }
        }
        known.insert(p.id.0, p.hash.as_bytes().to_vec());
        parents_present.insert(p.id.0);
        to_insert.push(p);
    }

    if !to_insert.is_empty() {
        let mut cols = Columns::default();
        for p in &to_insert {
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
        for p in &to_insert {
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
        report.packets_inserted = to_insert.len();
    }

    if !batch.embeddings.is_empty() {
        let mut ids = Vec::new();
        let mut vecs = Vec::new();
        let mut unknown: Vec<Uuid> = Vec::new();
        for (id, v) in &batch.embeddings {
            if v.len() != dims {
                return Err(StoreError::Dimension { expected: dims, got: v.len() });
            }
            normalized(v)?;
            if !known.contains_key(&id.0) {
                unknown.push(id.0);
            }
            ids.push(id.0);
            vecs.push(vector_literal(v));
        }
        if !unknown.is_empty() {
            let found: HashSet<Uuid> =
                sqlx::query_scalar("SELECT id FROM packets WHERE id = ANY($1)")
                    .bind(&unknown)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?
                    .into_iter()
                    .collect();
            if let Some((id, _)) = batch
                .embeddings
                .iter()
                .find(|(id, _)| !known.contains_key(&id.0) && !found.contains(&id.0))
            {
                return Err(StoreError::MissingPacket(*id));
            }
        }
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
    tx.commit().await.map_err(db)?;
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
