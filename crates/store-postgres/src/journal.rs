//! The journal's append on PostgreSQL: one statement, so one round trip and one commit per
//! step.

use l9_store::{Fence, JournalAppend, Result, StoreError, check_journal_append};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::codec::db;

/// A journal append as one statement (data-modifying CTEs): the fence, the blob, the packet,
/// its parents (checked by foreign key) and the journal row, all or nothing.
pub(crate) async fn append_in(
    conn: &mut PgConnection,
    fence: &Fence,
    e: &JournalAppend,
) -> Result<()> {
    // One statement, so one round trip and one commit: the fence, the blob, the packet,
    // its parents (checked by foreign key) and the journal row, all or nothing.
    let blob_hash = check_journal_append(e)?;
    let p = &e.packet;
    let json = |e: serde_json::Error| StoreError::Invalid(e.to_string());
    let parents: Vec<Uuid> = p.parents.iter().map(|x| x.0).collect();
    let ords: Vec<i32> = (0..parents.len() as i32).collect();
    let r = sqlx::query_scalar::<_, i64>(
        "WITH fence AS (
            SELECT id FROM tasks WHERE id = $1 AND state = 'leased' AND lease_owner = $2 FOR SHARE
         ), b AS (
            INSERT INTO blobs (hash, size, data) SELECT $3, length($4), $4 FROM fence
            WHERE $4::bytea IS NOT NULL ON CONFLICT (hash) DO NOTHING
         ), p AS (
            INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash)
            SELECT $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 FROM fence RETURNING id
         ), pp AS (
            INSERT INTO packet_parents (child_id, parent_id, ord)
            SELECT p.id, u.parent, u.ord FROM p, unnest($18::uuid[], $19::int4[]) AS u(parent, ord)
         ), j AS (
            INSERT INTO journal (run_id, seq, key, status, packet)
            SELECT $20, $21, $22, $23, p.id FROM p RETURNING 1
         )
         SELECT count(*) FROM j",
    )
    .bind(fence.task.0)
    .bind(&fence.worker)
    .bind(blob_hash.map(|h| h.as_bytes().to_vec()))
    .bind(e.blob.as_deref())
    .bind(p.id.0)
    .bind(p.v as i32)
    .bind(&p.kind)
    .bind(p.schema as i32)
    .bind(p.run_id.map(|r| r.0))
    .bind(p.task_id.map(|t| t.0))
    .bind(&p.actor)
    .bind(p.at)
    .bind(p.body.to_string())
    .bind(&p.text)
    .bind(serde_json::to_string(&p.blobs).map_err(json)?)
    .bind(p.effect.as_ref().map(serde_json::to_string).transpose().map_err(json)?)
    .bind(p.hash.as_bytes().to_vec())
    .bind(&parents)
    .bind(&ords)
    .bind(e.run.0)
    .bind(e.seq as i64)
    .bind(&e.key)
    .bind(e.status.as_str())
    .fetch_one(&mut *conn)
    .await;
    let lost = || {
        StoreError::LeaseLost(format!(
            "task {} is no longer leased to {}",
            fence.task, fence.worker
        ))
    };
    match r {
        Ok(1) => Ok(()),
        Ok(_) => Err(lost()),
        Err(err) => {
            let (code, constraint) = match err.as_database_error() {
                Some(d) => (d.code().map(|c| c.into_owned()), d.constraint().map(str::to_string)),
                None => (None, None),
            };
            match (code.as_deref(), constraint.as_deref()) {
                (Some("23505"), Some("journal_pkey")) => Err(StoreError::LeaseLost(format!(
                    "journal entry {} of run {} was already written by another execution",
                    e.seq, e.run
                ))),
                (Some("23505"), Some("packets_pkey")) => Err(StoreError::Conflict { id: p.id }),
                (Some("23503"), _) => Err(StoreError::MissingParent {
                    id: p.id,
                    parent: p.parents.first().copied().unwrap_or(p.id),
                }),
                _ => Err(db(err)),
            }
        }
    }
}
