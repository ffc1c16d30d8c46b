//! The atomic write path: bulk lookups, the shared planner (`l9_store::plan_write`, which
//! fixes the order of checks), then multi-row inserts — a handful of statements per
//! thousand packets instead of several per packet.

use std::collections::HashMap;

use l9_store::{Known, Result, WriteBatch, WriteParts, WriteReport, plan_write};
use l9_types::{ContentHash, PacketId};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::codec::{db, micros, parse_uuid, vec_to_bytes};

/// Rows per multi-row INSERT (13 parameters per packet row stays far below SQLite's 32766).
const CHUNK: usize = 500;

/// An embeddings row a write inserted: (its rowid, the packet's rowid, the packet's id, the
/// index of its vector in the batch's embeddings).
pub(crate) type NewVector = (i64, i64, PacketId, usize);

pub(crate) async fn write(
    pool: &SqlitePool,
    dims: usize,
    batch: &WriteBatch,
) -> Result<(WriteReport, Vec<NewVector>)> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let mut fresh = Vec::new();
    let report = write_in(&mut tx, dims, batch, &mut fresh).await?;
    tx.commit().await.map_err(db)?;
    Ok((report, fresh))
}

/// A load written part by part in one `BEGIN IMMEDIATE` transaction (see
/// `Store::write_parts`). The vectors are not kept in memory: each part's go to the shared
/// vector file through `appender` (when there is one) as the part is written, and the keys of
/// every embedding row are returned — (rowid, packet rowid, packet id), in rowid order — so
/// the cache can take them from the file once the load has committed.
pub(crate) async fn write_parts(
    pool: &SqlitePool,
    dims: usize,
    parts: &mut dyn WriteParts,
    mut appender: Option<&mut crate::vectors::Appender>,
) -> Result<(WriteReport, Vec<(i64, i64, PacketId)>)> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let mut report = WriteReport::default();
    let mut keys = Vec::new();
    let written: Result<()> = async {
        while let Some(part) = parts.next_part().await? {
            let mut fresh = Vec::new();
            report.add(&write_in(&mut tx, dims, &part, &mut fresh).await?);
            if let Some(a) = appender.as_deref_mut().filter(|a| a.open()) {
                let rows: Vec<(i64, PacketId, Vec<f32>)> = fresh
                    .iter()
                    .map(|&(r, _, id, i)| Ok((r, id, l9_store::normalized(&part.embeddings[i].1)?)))
                    .collect::<Result<_>>()?;
                a.append(&rows);
            }
            keys.extend(fresh.iter().map(|&(r, p, id, _)| (r, p, id)));
        }
        Ok(())
    }
    .await;
    let outcome = match written {
        Ok(()) => tx.commit().await.map_err(db),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            if let Some(a) = appender {
                a.committed();
            }
            Ok((report, keys))
        }
        Err(e) => {
            // When a part failed the transaction is still open (`tx` is dropped, rolling it
            // back, only on return), so nobody can have taken the rowids of the records that
            // go; after a failed commit this is best effort (a record left behind is under
            // the pending mark, never taken).
            if let Some(a) = appender {
                a.undo();
            }
            Err(e)
        }
    }
}

/// The write inside the caller's transaction (the journal appends a packet and its row
/// atomically).
pub(crate) async fn write_in(
    tx: &mut SqliteConnection,
    dims: usize,
    batch: &WriteBatch,
    fresh: &mut Vec<NewVector>,
) -> Result<WriteReport> {
    let mut known = Known::default();
    let mut rowids: HashMap<PacketId, i64> = HashMap::new();
    for chunk in batch.referenced_ids().chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT id, hash, rowid FROM packets WHERE id IN (");
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(id.to_string());
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *tx).await.map_err(db)? {
            let id = PacketId(parse_uuid(&row.try_get::<String, _>(0).map_err(db)?)?);
            let hash: Vec<u8> = row.try_get(1).map_err(db)?;
            let hash: [u8; 32] = hash.try_into().map_err(|_| {
                l9_store::StoreError::Backend("stored hash has the wrong length".into())
            })?;
            known.packets.insert(id, ContentHash::from_bytes(hash));
            rowids.insert(id, row.try_get(2).map_err(db)?);
        }
    }
    for chunk in batch.referenced_blobs().chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT hash FROM blobs WHERE hash IN (");
        let mut sep = qb.separated(", ");
        for h in chunk {
            sep.push_bind(h.as_bytes().to_vec());
        }
        qb.push(")");
        for h in qb.build_query_scalar::<Vec<u8>>().fetch_all(&mut *tx).await.map_err(db)? {
            if let Ok(h) = <[u8; 32]>::try_from(h) {
                known.blobs.insert(ContentHash::from_bytes(h));
            }
        }
    }

    let plan = plan_write(batch, dims, &known)?;
    let mut report = WriteReport { packets_present: plan.packets_present, ..Default::default() };

    for (hash, data) in &plan.blobs {
        let r = sqlx::query(
            "INSERT INTO blobs (hash, size, data) VALUES (?, ?, ?) ON CONFLICT(hash) DO NOTHING",
        )
        .bind(hash.as_bytes().to_vec())
        .bind(data.len() as i64)
        .bind(data.to_vec())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        report.blobs_inserted += r.rows_affected() as usize;
    }

    for chunk in plan.packets.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash) ",
        );
        let mut err = None;
        qb.push_values(chunk, |mut b, p| {
            let blobs = serde_json::to_string(&p.blobs);
            let effect = p.effect.as_ref().map(serde_json::to_string).transpose();
            let (blobs, effect) = match (blobs, effect) {
                (Ok(b), Ok(e)) => (b, e),
                (Err(e), _) | (_, Err(e)) => {
                    err = Some(e);
                    (String::new(), None)
                }
            };
            b.push_bind(p.id.to_string())
                .push_bind(i64::from(p.v))
                .push_bind(p.kind.clone())
                .push_bind(i64::from(p.schema))
                .push_bind(p.run_id.map(|r| r.to_string()))
                .push_bind(p.task_id.map(|t| t.to_string()))
                .push_bind(p.actor.clone())
                .push_bind(micros(p.at))
                .push_bind(p.body.to_string())
                .push_bind(p.text.clone())
                .push_bind(blobs)
                .push_bind(effect)
                .push_bind(p.hash.as_bytes().to_vec());
        });
        if let Some(e) = err {
            return Err(l9_store::StoreError::Invalid(e.to_string()));
        }
        qb.push(" RETURNING id, rowid");
        for row in qb.build().fetch_all(&mut *tx).await.map_err(db)? {
            let id = PacketId(parse_uuid(&row.try_get::<String, _>(0).map_err(db)?)?);
            rowids.insert(id, row.try_get(1).map_err(db)?);
        }
    }
    report.packets_inserted = plan.packets.len();
    let rowid = |id: &PacketId| {
        rowids
            .get(id)
            .copied()
            .ok_or_else(|| l9_store::StoreError::Backend(format!("no rowid for {id} after insert")))
    };

    let mut parent_rows = Vec::new();
    let mut fts_rows = Vec::new();
    for p in &plan.packets {
        let child = rowid(&p.id)?;
        for (ord, parent) in p.parents.iter().enumerate() {
            parent_rows.push((child, rowid(parent)?, ord as i64));
        }
        if let Some(text) = p.text.as_deref().filter(|t| !t.is_empty()) {
            fts_rows.push((child, text));
        }
    }
    for chunk in parent_rows.chunks(CHUNK * 2) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO packet_parents (child, parent, ord) ");
        qb.push_values(chunk, |mut b, (c, p, o)| {
            b.push_bind(*c).push_bind(*p).push_bind(*o);
        });
        qb.build().execute(&mut *tx).await.map_err(db)?;
    }
    for chunk in fts_rows.chunks(CHUNK * 2) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO packet_fts (rowid, text) ");
        qb.push_values(chunk, |mut b, (r, t)| {
            b.push_bind(*r).push_bind(t.to_string());
        });
        qb.build().execute(&mut *tx).await.map_err(db)?;
    }
    let mut emb_rows = Vec::with_capacity(plan.embeddings.len());
    // Which of the batch's vectors each packet rowid carries.
    let index: HashMap<PacketId, usize> =
        batch.embeddings.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
    let mut of_packet: HashMap<i64, (PacketId, usize)> = HashMap::new();
    for (id, v) in &plan.embeddings {
        let r = rowid(id)?;
        if let Some(&i) = index.get(id) {
            of_packet.insert(r, (*id, i));
        }
        emb_rows.push((r, vec_to_bytes(v)));
    }
    for chunk in emb_rows.chunks(CHUNK * 2) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO embeddings (packet, vec) ");
        qb.push_values(chunk, |mut b, (r, v)| {
            b.push_bind(*r).push_bind(v.clone());
        });
        qb.push(" ON CONFLICT(packet) DO NOTHING RETURNING rowid, packet");
        let rows = qb.build().fetch_all(&mut *tx).await.map_err(db)?;
        report.embeddings_inserted += rows.len();
        for row in rows {
            let (r, packet): (i64, i64) =
                (row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
            if let Some(&(id, i)) = of_packet.get(&packet) {
                fresh.push((r, packet, id, i));
            }
        }
    }
    fresh.sort_by_key(|f| f.0);
    Ok(report)
}
