//! Reading a damaged SQLite store (`l9 db check`, `l9 db salvage`): the file is opened
//! read-only, without migrations, and read packet by packet, so a damaged page costs the
//! packets on it and no more. SQLite's own `integrity_check` says what is damaged.

use std::collections::HashSet;
use std::path::Path;

use l9_store::{Fault, Result, StoreError};
use l9_types::{ContentHash, PacketEnvelope, PacketId};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// One readable packet with the bytes of its blobs.
#[derive(Debug)]
pub struct Salvaged {
    pub packet: PacketEnvelope,
    pub blobs: Vec<(ContentHash, Vec<u8>)>,
}

/// What a scan found.
#[derive(Debug, Default, Clone)]
pub struct ScanReport {
    /// SQLite's `integrity_check`: empty when the file is sound.
    pub integrity: Vec<String>,
    /// Packets read whole, their hash verified, their parents and blobs readable.
    pub packets: u64,
    /// Packets that could not be read, or read but do not verify (id or row, and why; the
    /// first [`LISTED`]), and how many in all.
    pub unreadable: Vec<String>,
    pub unreadable_count: u64,
    /// Packets readable but left out because a parent or a blob is lost (their hash covers
    /// their parents: they cannot be stored without them), and how many in all.
    pub orphaned: Vec<String>,
    pub orphaned_count: u64,
}

impl ScanReport {
    pub fn sound(&self) -> bool {
        self.integrity.is_empty() && self.unreadable_count == 0 && self.orphaned_count == 0
    }
}

/// Rows read per query; a chunk that fails is read again row by row.
const RANGE: usize = 500;
/// The most problems listed per kind (the counts stay exact).
pub const LISTED: usize = 200;

fn damaged(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Environment { fault: Fault::Corrupt, detail: format!("{}: {e}", path.display()) }
}

/// Reads every packet of the store at `path` that can be read, oldest first (parents come
/// before their children), and hands each sound one to `each`.
pub fn scan(
    path: &Path,
    mut each: impl FnMut(Salvaged) -> std::io::Result<()>,
) -> Result<ScanReport> {
    if !path.is_file() {
        return Err(StoreError::NotFound(format!("database file {}", path.display())));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| damaged(path, e))?;
    let mut report = ScanReport::default();
    match conn.prepare("PRAGMA integrity_check(200)").and_then(|mut s| {
        s.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<String>>>()
    }) {
        Ok(rows) => report.integrity = rows.into_iter().filter(|r| r != "ok").collect(),
        Err(e) => report.integrity.push(format!("integrity_check could not run: {e}")),
    }
    let rowids = match rowids(&conn) {
        Some(ids) => ids,
        None => {
            // Neither the table nor any of its indexes can be read: nothing can be reached.
            note(
                (&mut report.unreadable, &mut report.unreadable_count),
                "the packets table and its indexes cannot be read".into(),
            );
            return Ok(report);
        }
    };
    let mut kept: HashSet<PacketId> = HashSet::new();
    for chunk in rowids.chunks(RANGE) {
        let rows = match read_rows(&conn, chunk) {
            Ok(rows) => rows,
            // A damaged page under the chunk: each row on its own.
            Err(_) => chunk
                .iter()
                .filter_map(|&r| match read_rows(&conn, &[r]) {
                    Ok(mut one) => one.pop(),
                    Err(e) => Some((r, Err(e.to_string()))),
                })
                .collect(),
        };
        let missing = chunk.len() - rows.len();
        if missing > 0 {
            // Rows an index names but the table no longer holds.
            for _ in 0..missing {
                note(
                    (&mut report.unreadable, &mut report.unreadable_count),
                    "a row named by an index is gone from the table".into(),
                );
            }
        }
        for (rowid, row) in rows {
            let packet = match row {
                Ok(p) => p,
                Err(e) => {
                    note(
                        (&mut report.unreadable, &mut report.unreadable_count),
                        format!("row {rowid}: {e}"),
                    );
                    continue;
                }
            };
            if let Err(e) = packet.verify() {
                note(
                    (&mut report.unreadable, &mut report.unreadable_count),
                    format!("{}: {e}", packet.id),
                );
                continue;
            }
            if let Some(p) = packet.parents.iter().find(|p| !kept.contains(p)) {
                note(
                    (&mut report.orphaned, &mut report.orphaned_count),
                    format!("{}: parent {p} is lost", packet.id),
                );
                continue;
            }
            let mut blobs = Vec::new();
            for b in &packet.blobs {
                let data: Option<Vec<u8>> = conn
                    .query_row("SELECT data FROM blobs WHERE hash = ?1", [b.hash.as_bytes()], |r| {
                        r.get(0)
                    })
                    .optional()
                    .unwrap_or(None);
                match data.filter(|d| ContentHash::of_bytes(d) == b.hash) {
                    Some(d) => blobs.push((b.hash, d)),
                    None => break,
                }
            }
            if blobs.len() != packet.blobs.len() {
                note(
                    (&mut report.orphaned, &mut report.orphaned_count),
                    format!("{}: a blob is lost", packet.id),
                );
                continue;
            }
            kept.insert(packet.id);
            report.packets += 1;
            each(Salvaged { packet, blobs })
                .map_err(|e| StoreError::Unavailable(format!("writing what was read: {e}")))?;
        }
    }
    if report.sound() {
        // Sound again (or never damaged): a mark left by a failed check after a crash goes.
        crate::holders::clear_mark(path);
    }
    Ok(report)
}

/// Keeps `what` in `list` unless it is full.
fn note((list, count): (&mut Vec<String>, &mut u64), what: String) {
    *count += 1;
    if list.len() < LISTED {
        list.push(what);
    }
}

type Row = (i64, std::result::Result<PacketEnvelope, String>);

/// The rowids of every packet the file still names, ascending: those the table yields until a
/// damaged page stops it, and those each index of the table holds (an index is a tree of its
/// own, so it names the rows on a damaged table page too). `None` when nothing can be read.
/// Walking known rowids, never a numeric range, keeps the work bounded by the rows there
/// are: a damaged page can report any rowid, up to 2^63.
fn rowids(conn: &Connection) -> Option<Vec<i64>> {
    let mut all = std::collections::BTreeSet::new();
    let mut any = false;
    let mut sources = vec!["SELECT rowid FROM packets ORDER BY rowid".to_string()];
    for index in ["sqlite_autoindex_packets_1", "packets_at", "packets_kind"] {
        sources.push(format!("SELECT rowid FROM packets INDEXED BY {index}"));
    }
    for sql in sources {
        let Ok(mut stmt) = conn.prepare(&sql) else { continue };
        let Ok(mut rows) = stmt.query([]) else { continue };
        any = true;
        // Until the first damaged page: what came before it is kept.
        while let Ok(Some(r)) = rows.next() {
            if let Ok(id) = r.get::<_, i64>(0) {
                all.insert(id);
            }
        }
    }
    any.then(|| all.into_iter().collect())
}

/// The packets with the given rowids, each decoded on its own (a row that does not decode is
/// an `Err` in its place), with their parents in order.
fn read_rows(conn: &Connection, ids: &[i64]) -> rusqlite::Result<Vec<Row>> {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut stmt = conn.prepare(&format!(
        "SELECT rowid, id, v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash
         FROM packets WHERE rowid IN ({list}) ORDER BY rowid"
    ))?;
    let mut parents = conn.prepare_cached(
        "SELECT p.id FROM packet_parents pp JOIN packets p ON p.rowid = pp.parent
         WHERE pp.child = ?1 ORDER BY pp.ord",
    )?;
    let mut out = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let rowid: i64 = r.get(0)?;
        let mut packet = decode(r);
        if let Ok(p) = &mut packet {
            let ids: Vec<String> = parents
                .query_map([rowid], |x| x.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()?;
            match ids.iter().map(|s| s.parse::<PacketId>()).collect() {
                Ok(ids) => p.parents = ids,
                Err(e) => packet = Err(format!("a parent id does not decode: {e}")),
            }
        }
        out.push((rowid, packet));
    }
    Ok(out)
}

fn decode(r: &rusqlite::Row<'_>) -> std::result::Result<PacketEnvelope, String> {
    let s = |i: usize| r.get::<_, String>(i).map_err(|e| e.to_string());
    let os = |i: usize| r.get::<_, Option<String>>(i).map_err(|e| e.to_string());
    let uuid = |t: String| uuid::Uuid::parse_str(&t).map_err(|e| e.to_string());
    let hash: Vec<u8> = r.get(13).map_err(|e| e.to_string())?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| "the hash has the wrong length")?;
    let at = r.get::<_, i64>(8).map_err(|e| e.to_string())?;
    Ok(PacketEnvelope {
        id: PacketId(uuid(s(1)?)?),
        v: r.get::<_, i64>(2).map_err(|e| e.to_string())? as u32,
        kind: s(3)?,
        schema: r.get::<_, i64>(4).map_err(|e| e.to_string())? as u32,
        run_id: os(5)?.map(uuid).transpose()?.map(l9_types::RunId),
        task_id: os(6)?.map(uuid).transpose()?.map(l9_types::TaskId),
        parents: Vec::new(),
        actor: s(7)?,
        at: chrono::DateTime::from_timestamp_micros(at).ok_or("the time is out of range")?,
        body: serde_json::from_str(&s(9)?).map_err(|e| format!("body: {e}"))?,
        text: os(10)?,
        blobs: serde_json::from_str(&s(11)?).map_err(|e| format!("blobs: {e}"))?,
        effect: os(12)?
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| format!("effect: {e}"))?,
        hash: ContentHash::from_bytes(hash),
    })
}
