//! The journal's unfiled tail: what a durable step writes on SQLite, and how it is filed.
//!
//! A step's journal entry and its packet go into one row of `journal_pending`, keyed by
//! `(run_id, seq)` — one B-tree, so a commit writes one or two pages to the WAL. Filing
//! ([`file_tail`]) moves about a thousand such rows at a time into `journal`, `packets`, the
//! packet indexes, `packet_parents` and the full-text index, in a handful of set-based
//! statements that rewrite each index page once per batch instead of once per step.
//! Every reader of those tables files the tail first (`FastWriter::tail_filed`), whichever
//! process wrote it, so nobody can tell the difference — except in steps per second.

use l9_store::{Fence, JournalAppend, Result, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

use crate::codec::micros;

/// One append inside the caller's transaction. `Ok(Err(_))`: refused (lease lost, missing
/// parent, taken sequence number, conflict) with nothing of it written; `Err(_)`: SQLite
/// failed.
pub(crate) fn append_one(
    tx: &Connection,
    fence: &Fence,
    e: &JournalAppend,
    blob_hash: Option<[u8; 32]>,
) -> std::result::Result<Result<()>, rusqlite::Error> {
    let p = &e.packet;
    let run = e.run.to_string();
    let id = p.id.to_string();
    let first_parent = p.parents.first().map(|x| x.to_string());
    // The usual checks in one statement: the lease; whether the first parent is the run's
    // previous entry, still in the tail; whether this packet is already filed; whether
    // this sequence number is (filed) already.
    let probe = |tx: &Connection| -> rusqlite::Result<(bool, bool, bool, bool)> {
        tx.prepare_cached(
            "SELECT \
               EXISTS (SELECT 1 FROM tasks WHERE id = ?1 AND state = 'leased' AND lease_owner = ?2), \
               EXISTS (SELECT 1 FROM journal_pending WHERE run_id = ?3 AND seq = ?4 AND id = ?5), \
               EXISTS (SELECT 1 FROM packets WHERE id = ?6), \
               EXISTS (SELECT 1 FROM journal WHERE run_id = ?3 AND seq = ?7)",
        )?
        .query_row(
            params![
                fence.task.to_string(),
                fence.worker,
                run,
                e.seq as i64 - 1,
                first_parent,
                id,
                e.seq as i64
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    };
    let (held, previous, mut own_filed, mut taken) = probe(tx)?;
    if !held {
        return Ok(Err(StoreError::LeaseLost(format!(
            "task {} is no longer leased to {}",
            fence.task, fence.worker
        ))));
    }
    let mut parents = String::with_capacity(p.parents.len() * 37);
    let mut filed_now = false;
    for (i, parent) in p.parents.iter().enumerate() {
        let pid = parent.to_string();
        if !(i == 0 && previous) {
            let (known, filed_tail) = parent_known(tx, &pid)?;
            filed_now |= filed_tail;
            if !known {
                return Ok(Err(StoreError::MissingParent { id: p.id, parent: *parent }));
            }
        }
        if !parents.is_empty() {
            parents.push(' ');
        }
        parents.push_str(&pid);
    }
    if filed_now {
        // The tail moved into the tables: ask again where this entry's id and seq are.
        (_, _, own_filed, taken) = probe(tx)?;
    }
    if own_filed {
        return Ok(Err(StoreError::Conflict { id: p.id }));
    }
    let taken_msg = || {
        Ok(Err(StoreError::LeaseLost(format!(
            "journal entry {} of run {} was already written by another execution",
            e.seq, e.run
        ))))
    };
    if taken {
        return taken_msg();
    }
    let blobs = serde_json::to_string(&p.blobs).unwrap_or_else(|_| "[]".into());
    let effect = p.effect.as_ref().and_then(|x| serde_json::to_string(x).ok());
    // The sequence number still in the tail is refused by the key, before anything is
    // written.
    let added = tx
        .prepare_cached(
            "INSERT INTO journal_pending (run_id, seq, key, status, id, v, kind, schema_v, task_id, actor, at, body, text, blobs, effect, hash, parents, packet_run) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            run,
            e.seq as i64,
            e.key,
            e.status.as_str(),
            id,
            i64::from(p.v),
            p.kind,
            i64::from(p.schema),
            p.task_id.map(|t| t.to_string()),
            p.actor,
            micros(p.at),
            p.body.to_string(),
            p.text,
            blobs,
            effect,
            p.hash.as_bytes().to_vec(),
            parents,
            p.run_id.map(|r| r.to_string()),
        ])?;
    if added == 0 {
        return taken_msg();
    }
    if let (Some(h), Some(data)) = (blob_hash, e.blob.as_deref()) {
        tx.prepare_cached(
            "INSERT INTO blobs (hash, size, data) VALUES (?1, ?2, ?3) ON CONFLICT(hash) DO NOTHING",
        )?
        .execute(params![h.to_vec(), data.len() as i64, data])?;
    }
    Ok(Ok(()))
}

/// Whether `parent` is stored, when it is not the run's previous entry (which the caller
/// checked): filed, or — another run's entry still in the tail, as a child's first entry
/// cites — filed by filing the tail now, inside this transaction. Also says whether the
/// tail was filed.
fn parent_known(tx: &Connection, parent: &str) -> rusqlite::Result<(bool, bool)> {
    if filed(tx, parent)? {
        return Ok((true, false));
    }
    if file_tail(tx)? == 0 {
        return Ok((false, false));
    }
    Ok((filed(tx, parent)?, true))
}

/// Whether a packet is in the packet table.
fn filed(tx: &Connection, id: &str) -> rusqlite::Result<bool> {
    let found: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM packets WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    Ok(found.is_some())
}

/// Files the whole tail (written by any process): packets (in id order, which is time
/// order, so the indexes grow at their ends), lineage, full text, then the journal rows;
/// returns how many entries moved. Parents need no ordering: foreign keys are checked at
/// the end of each statement, and every packet goes in before any lineage row. A packet
/// id that is already filed keeps its row (only a caller re-sending the same packet gets
/// here; the append refuses a filed one).
pub(crate) fn file_tail(tx: &Connection) -> rusqlite::Result<usize> {
    let before: i64 = tx
        .prepare_cached("SELECT coalesce(max(rowid), 0) FROM packets")?
        .query_row([], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO packets (id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash) \
         SELECT id, v, kind, schema_v, packet_run, task_id, actor, at, body, text, blobs, effect, hash \
         FROM journal_pending WHERE true ORDER BY id ON CONFLICT(id) DO NOTHING",
    )?
    .execute([])?;
    // A row lists its parents' ids, space-separated, in order.
    tx.prepare_cached(
        "WITH RECURSIVE split(child, rest, ord, parent) AS ( \
             SELECT c.rowid, jp.parents || ' ', -1, NULL FROM journal_pending jp \
             JOIN packets c ON c.id = jp.id WHERE c.rowid > ?1 AND jp.parents != '' \
             UNION ALL \
             SELECT child, substr(rest, instr(rest, ' ') + 1), ord + 1, \
                    substr(rest, 1, instr(rest, ' ') - 1) FROM split WHERE rest != '') \
         INSERT INTO packet_parents (child, parent, ord) \
         SELECT s.child, p.rowid, s.ord FROM split s JOIN packets p ON p.id = s.parent \
         WHERE s.ord >= 0",
    )?
    .execute(params![before])?;
    tx.prepare_cached(
        "INSERT INTO packet_fts (rowid, text) SELECT c.rowid, jp.text FROM journal_pending jp \
         JOIN packets c ON c.id = jp.id \
         WHERE c.rowid > ?1 AND jp.text IS NOT NULL AND jp.text != ''",
    )?
    .execute(params![before])?;
    let moved = tx
        .prepare_cached(
            "INSERT INTO journal (run_id, seq, key, status, packet) \
             SELECT run_id, seq, key, status, id FROM journal_pending WHERE true \
             ORDER BY run_id, seq ON CONFLICT DO NOTHING",
        )?
        .execute([])?;
    tx.prepare_cached("DELETE FROM journal_pending")?.execute([])?;
    Ok(moved)
}
