//! The atomic write path. The order of checks is part of the contract (backends must
//! report the same first error for the same batch): envelopes in order; blobs; each packet
//! in order (existing id, parents in order, blobs in order); embeddings in order.

use std::collections::HashSet;

use l9_store::{Result, StoreError, WriteBatch, WriteReport};
use l9_types::ContentHash;
use sqlx::SqlitePool;

use crate::codec::{checked_unit, db, micros, vec_to_bytes};

pub(crate) async fn write(
    pool: &SqlitePool,
    dims: usize,
    batch: &WriteBatch,
) -> Result<WriteReport> {
    for p in &batch.packets {
        p.verify()?;
    }
    let mut units = Vec::with_capacity(batch.embeddings.len());
    let mut report = WriteReport::default();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;

    let mut batch_blobs: HashSet<ContentHash> = HashSet::new();
    for data in &batch.blobs {
        let hash = ContentHash::of_bytes(data);
        let r = sqlx::query(
            "INSERT INTO blobs (hash, size, data) VALUES (?, ?, ?) ON CONFLICT(hash) DO NOTHING",
        )
        .bind(hash.as_bytes().to_vec())
        .bind(data.len() as i64)
        .bind(data.clone())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        report.blobs_inserted += r.rows_affected() as usize;
        batch_blobs.insert(hash);
    }

    for p in &batch.packets {
        let existing: Option<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM packets WHERE id = ?")
            .bind(p.id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(h) = existing {
            if h.as_slice() == p.hash.as_bytes() {
                report.packets_present += 1;
                continue;
            }
            return Err(StoreError::Conflict { id: p.id });
        }
        let mut parent_rows = Vec::with_capacity(p.parents.len());
        for parent in &p.parents {
            let row: Option<i64> = sqlx::query_scalar("SELECT rowid FROM packets WHERE id = ?")
                .bind(parent.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            match row {
                Some(r) => parent_rows.push(r),
                None => return Err(StoreError::MissingParent { id: p.id, parent: *parent }),
            }
        }
        for b in &p.blobs {
            if batch_blobs.contains(&b.hash) {
                continue;
            }
            let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blobs WHERE hash = ?")
                .bind(b.hash.as_bytes().to_vec())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            if found.is_none() {
                return Err(StoreError::MissingBlob { id: p.id, hash: b.hash });
            }
        }
        let blobs =
            serde_json::to_string(&p.blobs).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let effect = p
            .effect
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let rowid: i64 = sqlx::query_scalar(
            "INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING rowid",
        )
        .bind(p.id.to_string())
        .bind(i64::from(p.v))
        .bind(p.kind.clone())
        .bind(i64::from(p.schema))
        .bind(p.run_id.map(|r| r.to_string()))
        .bind(p.task_id.map(|t| t.to_string()))
        .bind(p.actor.clone())
        .bind(micros(p.at))
        .bind(p.body.to_string())
        .bind(p.text.clone())
        .bind(blobs)
        .bind(effect)
        .bind(p.hash.as_bytes().to_vec())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        for (ord, parent) in parent_rows.iter().enumerate() {
            sqlx::query("INSERT INTO packet_parents (child, parent, ord) VALUES (?, ?, ?)")
                .bind(rowid)
                .bind(*parent)
                .bind(ord as i64)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        if let Some(text) = p.text.as_ref().filter(|t| !t.is_empty()) {
            sqlx::query("INSERT INTO packet_fts (rowid, text) VALUES (?, ?)")
                .bind(rowid)
                .bind(text.clone())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        report.packets_inserted += 1;
    }

    for (id, v) in &batch.embeddings {
        units.push(checked_unit(v, dims)?);
        let row: Option<i64> = sqlx::query_scalar("SELECT rowid FROM packets WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(rowid) = row else { return Err(StoreError::MissingPacket(*id)) };
        let r = sqlx::query(
            "INSERT INTO embeddings (packet, vec) VALUES (?, ?) ON CONFLICT(packet) DO NOTHING",
        )
        .bind(rowid)
        .bind(vec_to_bytes(v))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        report.embeddings_inserted += r.rows_affected() as usize;
    }
    tx.commit().await.map_err(db)?;
    Ok(report)
}
