//! The in-process vector cache: normalised vectors loaded from the `embeddings` table,
//! searched exactly for small candidate sets and through an HNSW graph beyond. The vectors
//! themselves sit in a memory-mapped file beside the database, shared by every process that
//! opens it (see `vectors.rs`); the cache holds their ids, slots and the graph.
//!
//! The table is the source of truth. Before each search the cache loads rows it has not
//! seen (written by this or another process), so it never serves stale results. The HNSW
//! graph is extended in the background (see `SqliteStore`), in short slices on all cores;
//! a search never waits for it to be complete: it searches the graph over the nodes
//! indexed so far and scans the rest exactly.

use std::collections::HashMap;
use std::path::PathBuf;

use l9_store::{Result, VectorHit};
use l9_types::PacketId;
use sqlx::{Row, SqlitePool};
use tokio::sync::OwnedMutexGuard;

use crate::SqliteOptions;
use crate::codec::{bytes_to_vec, db, parse_uuid};
use crate::hnsw::{Hnsw, Vecs, dot};
use crate::vectors::{Key, Vectors};

#[derive(Debug)]
pub(crate) struct VectorCache {
    dims: usize,
    loaded_upto: i64,
    /// The embeddings rowid of each slot (slots follow rowid order).
    rowids: Vec<i64>,
    ids: Vec<PacketId>,
    slot_of_packet: HashMap<i64, u32>,
    /// The database file, for a first load's connection of its own.
    db: Option<PathBuf>,
    keys_from_indexes: usize,
    vecs: Vectors,
    /// Vectors read back from the table (not from a write of this handle or the shared file).
    from_table: usize,
    hnsw: Hnsw,
    snapshot_checked: bool,
    /// Nodes covered by the last snapshot this process saw or wrote.
    saved_nodes: usize,
}

/// Where a handle's cached vectors came from and where they are held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorFile {
    /// Vectors in the cache.
    pub cached: usize,
    /// Of them, read from the shared file beside the database (the rest are in this
    /// handle's memory).
    pub mapped: usize,
    /// Vectors this handle read back from the `embeddings` table (the others came from its
    /// own writes or from the shared file).
    pub read_from_table: usize,
    /// Why the shared file is not used, when it is not.
    pub error: Option<String>,
    /// Vectors in this handle's HNSW graph (the others are scanned exactly).
    pub indexed: usize,
    /// Embeddings whose keys this handle's first load read from the indexes alone (0: it
    /// went the incremental way, reading rows in rowid order).
    pub keys_from_indexes: usize,
}

/// Save a new snapshot once this many nodes were added since the last one.
const SNAPSHOT_EVERY: usize = 1000;
/// Fewer unindexed vectors than this are left out of the graph (searches scan them exactly,
/// ~0.1 ms at 384 dimensions) until that many gather or `wait_for_index` asks: the background
/// builder extends the graph in steps no smaller than a snapshot's, so every step it takes is
/// saved, and a process that opens the store never rebuilds a short unsaved tail (a CLI
/// command at a million packets spent ~0.5 s and mapped most of the vector file doing so).
pub(crate) const TAIL: usize = SNAPSHOT_EVERY;
/// Below this many embeddings a handle's first load goes the incremental way.
const FIRST_LOAD_MIN: usize = 20_000;
/// Most nodes inserted as one parallel batch.
const BATCH: usize = 128;

impl VectorCache {
    pub(crate) fn new(dims: usize, m: usize, ef_construction: usize) -> Self {
        VectorCache {
            dims,
            loaded_upto: 0,
            rowids: Vec::new(),
            ids: Vec::new(),
            slot_of_packet: HashMap::new(),
            db: None,
            keys_from_indexes: 0,
            vecs: Vectors::in_memory(dims),
            from_table: 0,
            hnsw: Hnsw::new(m, ef_construction),
            snapshot_checked: false,
            saved_nodes: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Keeps the vectors in the shared file at `path` (see `vectors.rs`); `db` is the
    /// database's own file (a first load reads keys through a connection of its own).
    pub(crate) fn use_file(&mut self, path: PathBuf, instance: [u8; 16], db: PathBuf) {
        self.vecs.use_file(path, instance);
        self.db = Some(db);
    }

    /// Where the vectors came from and where they are.
    pub(crate) fn file_state(&self) -> VectorFile {
        VectorFile {
            cached: self.ids.len(),
            mapped: self.vecs.mapped(),
            read_from_table: self.from_table,
            error: self.vecs.file_error().map(str::to_owned),
            indexed: self.hnsw.len(),
            keys_from_indexes: self.keys_from_indexes,
        }
    }

    /// Loads embeddings written since the last call: the vectors the shared file holds
    /// from it, the others from the table (and then into the file). Takes the locked cache
    /// and gives it back: after each slice read from the table the vectors go into the file
    /// on a blocking thread, the guard with them, so a caller dropped while that runs
    /// leaves the cache whole (the thread finishes, then unlocks it).
    pub(crate) async fn catch_up(
        mut me: OwnedMutexGuard<Self>,
        pool: &SqlitePool,
    ) -> Result<OwnedMutexGuard<Self>> {
        if me.ids.is_empty() {
            for chunk in me.first_load_keys(pool).await?.chunks(20_000) {
                me.take(pool, chunk).await?;
                me = Self::flushed(me).await?;
            }
        }
        loop {
            let rows = sqlx::query(
                "SELECT e.rowid, e.packet, p.id FROM embeddings e JOIN packets p ON p.rowid = e.packet
                 WHERE e.rowid > ? ORDER BY e.rowid LIMIT 20000",
            )
            .bind(me.loaded_upto)
            .fetch_all(pool)
            .await
            .map_err(db)?;
            if rows.is_empty() {
                return Ok(me);
            }
            let mut keys = Vec::with_capacity(rows.len());
            for row in rows {
                let id: String = row.try_get(2).map_err(db)?;
                keys.push((
                    row.try_get::<i64, _>(0).map_err(db)?,
                    row.try_get::<i64, _>(1).map_err(db)?,
                    PacketId(parse_uuid(&id)?),
                ));
            }
            me.take(pool, &keys).await?;
            me = Self::flushed(me).await?;
        }
    }

    /// An appender of a load's vectors to the shared file (see [`crate::vectors::Appender`]),
    /// when the file holds everything loaded here.
    pub(crate) fn appender(&self) -> Option<crate::vectors::Appender> {
        self.vecs.appender(self.ids.len(), self.loaded_upto)
    }

    /// Takes the rows a load of this handle just committed — (embeddings rowid, packet
    /// rowid, packet id), in rowid order — knowing their keys, so nothing is read back from
    /// the table for them: the vectors come from the shared file, where the load appended
    /// them (the table only for what the file lacks). Rows that do not follow what is loaded
    /// are left to [`VectorCache::catch_up`].
    pub(crate) async fn take_written(
        mut me: OwnedMutexGuard<Self>,
        pool: &SqlitePool,
        keys: &[(i64, i64, PacketId)],
    ) -> Result<OwnedMutexGuard<Self>> {
        let follows = keys.first().is_some_and(|k| k.0 == me.loaded_upto + 1)
            && keys.windows(2).all(|w| w[1].0 == w[0].0 + 1);
        if !follows {
            return Ok(me);
        }
        for chunk in keys.chunks(20_000) {
            me.take(pool, chunk).await?;
            me = Self::flushed(me).await?;
        }
        Ok(me)
    }

    /// Moves vectors held in memory into the shared file, on a blocking thread (file I/O:
    /// up to 30 MB per slice at 384 dimensions).
    pub(crate) async fn flushed(mut me: OwnedMutexGuard<Self>) -> Result<OwnedMutexGuard<Self>> {
        if !me.vecs.has_tail() {
            return Ok(me);
        }
        tokio::task::spawn_blocking(move || {
            me.vecs.flush();
            me
        })
        .await
        .map_err(|e| l9_store::StoreError::Backend(format!("vector file thread: {e}")))
    }

    /// A handle's first load of a large store: every embedding's keys from the two unique
    /// indexes alone (`packets.id` and `embeddings.packet` cover them), never the tables'
    /// rows, whose embedding pages hold the vectors (1.5 GB at a million × 384) and which
    /// the rowid-ordered query above reads whole; `catch_up` then takes the vectors, from
    /// the shared file as far as it agrees. Small stores (no keys here) and what comes later
    /// go the incremental way.
    async fn first_load_keys(&mut self, pool: &SqlitePool) -> Result<Vec<(i64, i64, PacketId)>> {
        let Some(file) = self.db.clone() else { return Ok(Vec::new()) };
        // Rowids are never reused (nothing is deleted), so the largest is about the count,
        // read from each table's b-tree in O(log n).
        let (embeddings, packets): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT max(rowid) FROM embeddings), (SELECT max(rowid) FROM packets)",
        )
        .fetch_one(pool)
        .await
        .map_err(db)?;
        let (embeddings, packets) = (embeddings.unwrap_or(0), packets.unwrap_or(0));
        if embeddings < FIRST_LOAD_MIN as i64 {
            return Ok(Vec::new());
        }
        let dense = embeddings.saturating_mul(2) >= packets;
        // A million rows through the pool cost a hand-off between threads and an allocation
        // each (a third of the time); a connection of its own reads them in one loop, on a
        // blocking thread. Where it cannot be opened the incremental way takes over.
        let Ok(Ok(mut keys)) = tokio::task::spawn_blocking(move || read_keys(&file, dense)).await
        else {
            return Ok(Vec::new());
        };
        // Slots follow rowid order. Rows committed after that snapshot have larger rowids
        // than all of it (rowids are never reused: embeddings are never deleted), so the
        // incremental loop takes them next.
        keys.sort_unstable_by_key(|k| k.0);
        self.keys_from_indexes = keys.len();
        Ok(keys)
    }

    /// Takes the next slots, whose (embeddings rowid, packet rowid, packet id) are `keys`
    /// in rowid order with no stored row between them: their vectors from the shared file
    /// as far as it holds them and they check out, the rest from the table (held in memory
    /// until `catch_up` moves them into the file).
    async fn take(&mut self, pool: &SqlitePool, keys: &[(i64, i64, PacketId)]) -> Result<()> {
        let ids: Vec<Key> = keys.iter().map(|&(rowid, _, id)| (rowid, id)).collect();
        let from_file = self.vecs.adopt_from_file(&ids);
        for &(rowid, packet, id) in &keys[..from_file] {
            self.index_slot(rowid, packet, id);
        }
        if from_file == keys.len() {
            return Ok(());
        }
        let (first, last) = (keys[from_file].0, keys[keys.len() - 1].0);
        let vecs = sqlx::query(
            "SELECT rowid, vec FROM embeddings WHERE rowid >= ? AND rowid <= ? ORDER BY rowid",
        )
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await
        .map_err(db)?;
        let mut vecs = vecs.into_iter();
        for &(rowid, packet, id) in &keys[from_file..] {
            // Embeddings are never deleted: the range holds exactly these rows.
            let row = vecs.next().ok_or_else(|| {
                l9_store::StoreError::Backend(format!("embedding row {rowid} vanished while read"))
            })?;
            let got: i64 = row.try_get(0).map_err(db)?;
            if got != rowid {
                return Err(l9_store::StoreError::Backend(format!(
                    "embedding rows changed while read (expected {rowid}, read {got})"
                )));
            }
            let bytes: Vec<u8> = row.try_get(1).map_err(db)?;
            self.push(rowid, packet, id, &bytes_to_vec(&bytes))?;
            self.from_table += 1;
        }
        Ok(())
    }

    /// Takes the rows a write of this process just committed — (embeddings rowid, packet
    /// rowid, packet id, vector), in rowid order — without reading them back, when they
    /// follow what is loaded with nothing between (so the slots still follow rowid order);
    /// otherwise leaves them to `catch_up`. A search right after a large write then scans
    /// the new vectors at once instead of reading them back first (0.9 s at 100k × 384).
    /// They stay in this handle's memory until [`VectorCache::flushed`].
    pub(crate) fn adopt(&mut self, rows: &[(i64, i64, PacketId, &[f32])]) -> Result<bool> {
        let Some(first) = rows.first() else { return Ok(true) };
        if first.0 != self.loaded_upto + 1 || rows.windows(2).any(|w| w[1].0 != w[0].0 + 1) {
            return Ok(false);
        }
        for (rowid, packet, id, v) in rows {
            self.push(*rowid, *packet, *id, v)?;
        }
        Ok(true)
    }

    fn push(&mut self, rowid: i64, packet: i64, id: PacketId, v: &[f32]) -> Result<()> {
        let unit = l9_store::normalized(v)?;
        if unit.len() != self.dims {
            return Err(l9_store::StoreError::Dimension { expected: self.dims, got: unit.len() });
        }
        self.vecs.push((rowid, id), &unit);
        self.index_slot(rowid, packet, id);
        Ok(())
    }

    /// Records the next slot's identity (its vector is already in `vecs`).
    fn index_slot(&mut self, rowid: i64, packet: i64, id: PacketId) {
        let slot = self.ids.len() as u32;
        self.slot_of_packet.insert(packet, slot);
        self.ids.push(id);
        self.rowids.push(rowid);
        self.loaded_upto = rowid;
    }

    /// Nodes loaded but not yet in the graph.
    pub(crate) fn unindexed(&self) -> usize {
        self.ids.len() - self.hnsw.len()
    }

    /// Whether enough vectors wait outside the graph for the background builder ([`TAIL`]).
    pub(crate) fn wants_build(&self) -> bool {
        self.unindexed() >= TAIL
    }

    /// Loads the stored graph snapshot once per cache, when it matches what is loaded.
    pub(crate) async fn prepare(&mut self, pool: &SqlitePool) -> Result<()> {
        if !self.snapshot_checked {
            self.snapshot_checked = true;
            self.load_snapshot(pool).await?;
        }
        Ok(())
    }

    /// Extends the HNSW graph by up to `max_nodes` loaded vectors, in batches searched on
    /// `threads` threads (CPU only). Returns whether the graph covers everything loaded.
    pub(crate) fn extend(&mut self, max_nodes: usize, threads: usize) -> bool {
        let end = self.ids.len().min(self.hnsw.len().saturating_add(max_nodes));
        while self.hnsw.len() < end {
            let start = self.hnsw.len();
            // Small batches while the graph is small, so batch-mates are few next to it.
            // Batch bounds depend on the position only (not on `max_nodes`), so slicing a
            // build differently yields the same graph.
            let batch = (start / 16).clamp(1, BATCH).min(self.ids.len() - start);
            // Levels from a hash of the packet id, worked out only for nodes being inserted
            // (a store's first load needs none for the nodes its stored graph has).
            let levels: Vec<usize> = self.ids[start..start + batch]
                .iter()
                .map(|id| {
                    let h = blake3::hash(id.0.as_bytes());
                    let h = u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]));
                    self.hnsw.level_for(h)
                })
                .collect();
            self.hnsw.insert_batch(&self.vecs, &levels, threads);
        }
        self.hnsw.len() == self.ids.len()
    }

    /// Saves a snapshot when the graph covers everything loaded and grew enough since the
    /// last one.
    pub(crate) async fn finish(&mut self, pool: &SqlitePool) -> Result<()> {
        if self.hnsw.len() == self.ids.len() && self.hnsw.len() >= self.saved_nodes + SNAPSHOT_EVERY
        {
            self.save_snapshot(pool).await?;
        }
        Ok(())
    }

    async fn load_snapshot(&mut self, pool: &SqlitePool) -> Result<()> {
        let row =
            sqlx::query("SELECT nodes, upto_rowid, params, graph FROM ann_snapshot WHERE id = 1")
                .fetch_optional(pool)
                .await
                .map_err(db)?;
        let Some(row) = row else { return Ok(()) };
        let nodes = row.try_get::<i64, _>(0).map_err(db)? as usize;
        let upto: i64 = row.try_get(1).map_err(db)?;
        let params: String = row.try_get(2).map_err(db)?;
        if nodes > self.ids.len() {
            return Ok(()); // written by a process that has seen more rows: newer, not ours
        }
        // Usable only if it covers a prefix of what is loaded, with the same parameters.
        let graph: Vec<u8> = row.try_get(3).map_err(db)?;
        let (m, efc) = self.hnsw.m_and_ef();
        let usable = params == self.hnsw.params() && nodes > 0 && self.rowids[nodes - 1] == upto;
        match usable.then(|| Hnsw::from_bytes(m, efc, nodes, &graph)).flatten() {
            Some(h) => {
                self.hnsw = h;
                self.saved_nodes = nodes;
            }
            None => {
                // Damaged or from other parameters: drop it so a good one replaces it.
                sqlx::query(
                    "DELETE FROM ann_snapshot WHERE id = 1 AND nodes = ? AND upto_rowid = ?",
                )
                .bind(nodes as i64)
                .bind(upto)
                .execute(pool)
                .await
                .map_err(db)?;
            }
        }
        Ok(())
    }

    async fn save_snapshot(&mut self, pool: &SqlitePool) -> Result<()> {
        let n = self.hnsw.len();
        if n == 0 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO ann_snapshot (id, nodes, upto_rowid, params, graph) VALUES (1, ?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET nodes = excluded.nodes, upto_rowid = excluded.upto_rowid,
             params = excluded.params, graph = excluded.graph WHERE excluded.nodes > ann_snapshot.nodes",
        )
        .bind(n as i64)
        .bind(self.rowids[n - 1])
        .bind(self.hnsw.params())
        .bind(self.hnsw.to_bytes())
        .execute(pool)
        .await
        .map_err(db)?;
        self.saved_nodes = n;
        Ok(())
    }

    fn exact(&self, q: &[f32], k: usize, slots: &mut dyn Iterator<Item = u32>) -> Vec<VectorHit> {
        let mut all: Vec<(f32, PacketId)> =
            slots.map(|s| (1.0 - dot(q, self.vecs.vec(s)), self.ids[s as usize])).collect();
        let k = k.min(all.len());
        if k == 0 {
            return Vec::new();
        }
        let cmp =
            |a: &(f32, PacketId), b: &(f32, PacketId)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        all.select_nth_unstable_by(k - 1, cmp);
        all.truncate(k);
        all.sort_by(cmp);
        all.into_iter()
            .map(|(distance, id)| VectorHit { id, distance: distance.max(0.0) })
            .collect()
    }

    /// The `k` nearest neighbours of unit vector `q` among `allowed` packet rowids (or all).
    pub(crate) fn search(
        &mut self,
        q: &[f32],
        k: usize,
        allowed: Option<&[i64]>,
        exact: bool,
        beam: Option<usize>,
        opts: &SqliteOptions,
    ) -> Result<Vec<VectorHit>> {
        let allowed_slots: Option<Vec<u32>> =
            allowed.map(|a| a.iter().filter_map(|r| self.slot_of_packet.get(r).copied()).collect());
        let candidates = allowed_slots.as_ref().map_or(self.len(), Vec::len);
        if exact || candidates <= opts.exact_threshold {
            return Ok(match &allowed_slots {
                None => self.exact(q, k, &mut (0..self.len() as u32)),
                Some(s) => self.exact(q, k, &mut s.iter().copied()),
            });
        }
        let indexed = self.hnsw.len();
        let mut ef = beam.unwrap_or(opts.hnsw_ef_search).max(k);
        let mask: Option<Vec<bool>> = allowed_slots.as_ref().map(|s| {
            let mut m = vec![false; self.len()];
            s.iter().for_each(|&i| m[i as usize] = true);
            m
        });
        // The nodes not yet in the graph, scanned exactly.
        let tail: Vec<VectorHit> = {
            let mut slots = (indexed as u32..self.len() as u32)
                .filter(|&n| mask.as_ref().is_none_or(|m| m[n as usize]));
            self.exact(q, k, &mut slots)
        };
        let in_graph = match &mask {
            None => indexed,
            Some(m) => m[..indexed].iter().filter(|x| **x).count(),
        };
        loop {
            let accept = |n: u32| mask.as_ref().is_none_or(|m| m[n as usize]);
            let found = self.hnsw.search(&self.vecs, q, k, ef, &accept);
            if found.len() >= k.min(in_graph) || ef >= indexed {
                let mut hits: Vec<VectorHit> = found
                    .into_iter()
                    .map(|(n, d)| VectorHit { id: self.ids[n as usize], distance: d.max(0.0) })
                    .chain(tail)
                    .collect();
                hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
                hits.truncate(k);
                return Ok(hits);
            }
            ef *= 4;
        }
    }
}

/// Every embedding's (rowid, packet rowid, packet id), in no particular order, from one
/// statement (one read transaction) of a read-only connection to `db`, never reading an
/// embedding row. Where most packets have an embedding (`dense`) the join runs over the
/// unique indexes on `packets.id` and `embeddings.packet` alone, which cover it; elsewhere it
/// walks the embeddings' index and looks each packet up by rowid (`CROSS JOIN` fixes that
/// order), so the packets without one are never visited.
fn read_keys(db: &std::path::Path, dense: bool) -> rusqlite::Result<Vec<(i64, i64, PacketId)>> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare(if dense {
        "SELECT e.rowid, e.packet, p.id FROM packets p JOIN embeddings e ON e.packet = p.rowid"
    } else {
        "SELECT e.rowid, e.packet, p.id FROM embeddings e CROSS JOIN packets p ON p.rowid = e.packet"
    })?;
    let mut rows = stmt.query([])?;
    let mut keys = Vec::new();
    while let Some(row) = rows.next()? {
        let id = row.get_ref(2)?.as_str()?;
        let id = uuid::Uuid::parse_str(id).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?;
        keys.push((row.get(0)?, row.get(1)?, PacketId(id)));
    }
    Ok(keys)
}
