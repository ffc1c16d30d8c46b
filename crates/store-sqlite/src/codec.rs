//! Row ⇄ value conversions shared by the SQLite queries.

use chrono::{DateTime, Utc};
use l9_store::{Fault, PacketFilter, Result, StoreError};
use l9_types::{ContentHash, PacketEnvelope, PacketId};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{QueryBuilder, Row};

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    let fault = match &e {
        sqlx::Error::Database(d) => d.code().and_then(|c| c.parse::<i32>().ok()).and_then(fault_of),
        sqlx::Error::Io(_) => Some(Fault::Io),
        sqlx::Error::PoolTimedOut => Some(Fault::Busy),
        _ => None,
    };
    match fault {
        Some(fault) => StoreError::Environment { fault, detail: e.to_string() },
        None => StoreError::Backend(e.to_string()),
    }
}

/// How many times this process has met a damaged database (SQLITE_CORRUPT or NOTADB): a
/// store's next write, or its close, checks its file after one (`holders::WriteGate`).
pub(crate) static CORRUPTION_SEEN: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// The environmental fault behind an SQLite result code (primary or extended), if any.
pub(crate) fn fault_of(code: i32) -> Option<Fault> {
    if matches!(code & 0xff, 11 | 26) {
        CORRUPTION_SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    match code & 0xff {
        5 | 6 => Some(Fault::Busy),      // SQLITE_BUSY, SQLITE_LOCKED
        8 => Some(Fault::ReadOnly),      // SQLITE_READONLY
        10 | 14 => Some(Fault::Io),      // SQLITE_IOERR, SQLITE_CANTOPEN
        11 | 26 => Some(Fault::Corrupt), // SQLITE_CORRUPT, SQLITE_NOTADB
        13 => Some(Fault::Full),         // SQLITE_FULL
        _ => None,
    }
}

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(v: i64) -> Result<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(v)
        .ok_or_else(|| StoreError::Backend(format!("timestamp out of range: {v}")))
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} does not decode: {e}"))
}

pub(crate) fn parse_uuid(s: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|e| corrupt("id", e))
}

pub(crate) const PACKET_COLUMNS: &str = "p.id, p.v, p.kind, p.schema_v, p.run_id, p.task_id, p.actor, p.at, p.body, p.text, p.blobs, p.effect, p.hash";

pub(crate) fn packet_from_row(row: &SqliteRow) -> Result<PacketEnvelope> {
    let get_s = |i: usize| row.try_get::<String, _>(i).map_err(db);
    let get_os = |i: usize| row.try_get::<Option<String>, _>(i).map_err(db);
    let hash: Vec<u8> = row.try_get(12).map_err(db)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt("hash", "wrong length"))?;
    Ok(PacketEnvelope {
        id: PacketId(parse_uuid(&get_s(0)?)?),
        v: row.try_get::<i64, _>(1).map_err(db)? as u32,
        kind: get_s(2)?,
        schema: row.try_get::<i64, _>(3).map_err(db)? as u32,
        run_id: get_os(4)?.map(|s| parse_uuid(&s)).transpose()?.map(l9_types::RunId),
        task_id: get_os(5)?.map(|s| parse_uuid(&s)).transpose()?.map(l9_types::TaskId),
        parents: Vec::new(),
        actor: get_s(6)?,
        at: from_micros(row.try_get(7).map_err(db)?)?,
        body: serde_json::from_str(&get_s(8)?).map_err(|e| corrupt("body", e))?,
        text: get_os(9)?,
        blobs: serde_json::from_str(&get_s(10)?).map_err(|e| corrupt("blobs", e))?,
        effect: get_os(11)?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| corrupt("effect", e))?,
        hash: ContentHash::from_bytes(hash),
    })
}

/// Appends ` AND …` conditions on the packets alias `p` for `filter`.
pub(crate) fn push_filter(qb: &mut QueryBuilder<Sqlite>, filter: &PacketFilter) {
    if !filter.kinds.is_empty() {
        qb.push(" AND p.kind IN (");
        let mut sep = qb.separated(", ");
        for k in &filter.kinds {
            sep.push_bind(k.clone());
        }
        qb.push(")");
    }
    if let Some(run) = filter.run {
        qb.push(" AND p.run_id = ").push_bind(run.to_string());
    }
    if let Some(task) = filter.task {
        qb.push(" AND p.task_id = ").push_bind(task.to_string());
    }
    if let Some(actor) = &filter.actor {
        qb.push(" AND p.actor = ").push_bind(actor.clone());
    }
    if let Some(since) = filter.since {
        qb.push(" AND p.at >= ").push_bind(micros(since));
    }
    if let Some(until) = filter.until {
        qb.push(" AND p.at < ").push_bind(micros(until));
    }
}

pub(crate) fn vec_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn bytes_to_vec(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Checks a vector for the store: right dimension, finite, not zero. Returns it normalised.
pub(crate) fn checked_unit(v: &[f32], dims: usize) -> Result<Vec<f32>> {
    if v.len() != dims {
        return Err(StoreError::Dimension { expected: dims, got: v.len() });
    }
    l9_store::normalized(v)
}
