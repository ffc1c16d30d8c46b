//! Row ⇄ value conversions shared by the PostgreSQL queries.

use chrono::{DateTime, Utc};
use l9_store::{Fault, PacketFilter, Result, StoreError};
use l9_types::{ContentHash, PacketEnvelope, PacketId, RunId, TaskId};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{QueryBuilder, Row};

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    let fault = match &e {
        sqlx::Error::Database(d) => d.code().and_then(|c| fault_of(&c)),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            Some(Fault::Connection)
        }
        _ => None,
    };
    match fault {
        Some(fault) => StoreError::Environment { fault, detail: e.to_string() },
        None => StoreError::Backend(e.to_string()),
    }
}

/// The environmental fault behind a SQLSTATE, if any.
fn fault_of(state: &str) -> Option<Fault> {
    match state {
        "53100" => Some(Fault::Full),              // disk_full
        "25006" => Some(Fault::ReadOnly),          // read_only_sql_transaction
        "55P03" | "53300" => Some(Fault::Busy),    // lock_not_available, too_many_connections
        "58030" => Some(Fault::Io),                // io_error
        "XX001" | "XX002" => Some(Fault::Corrupt), // data_corrupted, index_corrupted
        s if s.starts_with("08") || s.starts_with("57P") => Some(Fault::Connection),
        _ => None,
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} does not decode: {e}"))
}

/// A packet's columns, its parents (in order) last: one round trip reads whole packets.
pub(crate) const PACKET_COLUMNS: &str = "p.id, p.v, p.kind, p.schema_v, p.run_id, p.task_id, p.actor, p.at, p.body, p.text, p.blobs, p.effect, p.hash, \
     ARRAY(SELECT pp.parent_id FROM packet_parents pp WHERE pp.child_id = p.id ORDER BY pp.ord)";

pub(crate) fn packet_from_row(row: &PgRow) -> Result<PacketEnvelope> {
    let hash: Vec<u8> = row.try_get(12).map_err(db)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt("hash", "wrong length"))?;
    let body: String = row.try_get(8).map_err(db)?;
    let blobs: String = row.try_get(10).map_err(db)?;
    let effect: Option<String> = row.try_get(11).map_err(db)?;
    Ok(PacketEnvelope {
        id: PacketId(row.try_get(0).map_err(db)?),
        v: row.try_get::<i32, _>(1).map_err(db)? as u32,
        kind: row.try_get(2).map_err(db)?,
        schema: row.try_get::<i32, _>(3).map_err(db)? as u32,
        run_id: row.try_get::<Option<uuid::Uuid>, _>(4).map_err(db)?.map(RunId),
        task_id: row.try_get::<Option<uuid::Uuid>, _>(5).map_err(db)?.map(TaskId),
        parents: row
            .try_get::<Vec<uuid::Uuid>, _>(13)
            .map_err(db)?
            .into_iter()
            .map(PacketId)
            .collect(),
        actor: row.try_get(6).map_err(db)?,
        at: row.try_get::<DateTime<Utc>, _>(7).map_err(db)?,
        body: serde_json::from_str(&body).map_err(|e| corrupt("body", e))?,
        text: row.try_get(9).map_err(db)?,
        blobs: serde_json::from_str(&blobs).map_err(|e| corrupt("blobs", e))?,
        effect: effect
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| corrupt("effect", e))?,
        hash: ContentHash::from_bytes(hash),
    })
}

/// Appends ` AND …` conditions on the packets alias `p` for `filter`.
pub(crate) fn push_filter(qb: &mut QueryBuilder<Postgres>, filter: &PacketFilter) {
    if !filter.kinds.is_empty() {
        qb.push(" AND p.kind = ANY(").push_bind(filter.kinds.clone()).push(")");
    }
    if let Some(run) = filter.run {
        qb.push(" AND p.run_id = ").push_bind(run.0);
    }
    if let Some(task) = filter.task {
        qb.push(" AND p.task_id = ").push_bind(task.0);
    }
    if let Some(actor) = &filter.actor {
        qb.push(" AND p.actor = ").push_bind(actor.clone());
    }
    if let Some(since) = filter.since {
        qb.push(" AND p.at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        qb.push(" AND p.at < ").push_bind(until);
    }
}

/// A lookup of `keys` keys (`key = ANY($1)`): its SQL and whether it may use the connection's
/// prepared statement. A prepared statement soon runs a generic plan, made once: planned while a
/// table was small (a load into a new store, whose rows no `ANALYZE` has seen yet), it scans the
/// table and compares each row with every key in the list, a cost of rows × keys (a
/// 100,000-packet load spent 22 of its 30 s there, seen with `auto_explain`). A list longer
/// than a few dozen keys is planned for itself instead: the planner then sees the table's
/// size and the list's length, and looks the keys up by index or in a hash of the list. Its SQL
/// differs from the short lists' by a comment: `sqlx` looks a statement up in the connection's
/// cache by its text *before* it honours `persistent(false)`, so one short lookup earlier on the
/// same connection would otherwise hand every long one its generic plan.
pub(crate) fn for_keys(sql: &str, keys: usize) -> (sqlx::AssertSqlSafe<String>, bool) {
    if keys <= 64 {
        (sqlx::AssertSqlSafe(sql.to_owned()), true)
    } else {
        (sqlx::AssertSqlSafe(format!("{sql} /* planned for its list */")), false)
    }
}
