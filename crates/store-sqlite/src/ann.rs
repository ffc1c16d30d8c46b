//! The in-process vector cache: normalised vectors loaded from the `embeddings` table,
//! searched exactly for small candidate sets and through an HNSW graph beyond.
//!
//! The table is the source of truth. Before each search the cache loads rows it has not
//! seen (written by this or another process), so it never serves stale results; the HNSW
//! graph is extended lazily, only once a search needs it.

use std::collections::HashMap;

use l9_store::{Result, VectorHit};
use l9_types::PacketId;
use sqlx::{Row, SqlitePool};

use crate::SqliteOptions;
use crate::codec::{bytes_to_vec, db, parse_uuid};
use crate::hnsw::{Hnsw, dot};

#[derive(Debug)]
pub(crate) struct VectorCache {
    dims: usize,
    loaded_upto: i64,
    ids: Vec<PacketId>,
    slot_of_packet: HashMap<i64, u32>,
    levels: Vec<usize>,
    data: Vec<f32>,
    hnsw: Hnsw,
}

impl VectorCache {
    pub(crate) fn new(dims: usize, m: usize, ef_construction: usize) -> Self {
        VectorCache {
            dims,
            loaded_upto: 0,
            ids: Vec::new(),
            slot_of_packet: HashMap::new(),
            levels: Vec::new(),
            data: Vec::new(),
            hnsw: Hnsw::new(m, ef_construction),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Loads embeddings written since the last call.
    pub(crate) async fn catch_up(&mut self, pool: &SqlitePool) -> Result<()> {
        loop {
            let rows = sqlx::query(
                "SELECT e.rowid, e.packet, p.id, e.vec FROM embeddings e JOIN packets p ON p.rowid = e.packet
                 WHERE e.rowid > ? ORDER BY e.rowid LIMIT 20000",
            )
            .bind(self.loaded_upto)
            .fetch_all(pool)
            .await
            .map_err(db)?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in rows {
                let rowid: i64 = row.try_get(0).map_err(db)?;
                let packet: i64 = row.try_get(1).map_err(db)?;
                let id: String = row.try_get(2).map_err(db)?;
                let bytes: Vec<u8> = row.try_get(3).map_err(db)?;
                let id = PacketId(parse_uuid(&id)?);
                let unit = l9_store::normalized(&bytes_to_vec(&bytes))?;
                if unit.len() != self.dims {
                    return Err(l9_store::StoreError::Dimension {
                        expected: self.dims,
                        got: unit.len(),
                    });
                }
                let slot = self.ids.len() as u32;
                self.slot_of_packet.insert(packet, slot);
                let h = u64::from_le_bytes(
                    blake3::hash(id.0.as_bytes()).as_bytes()[..8].try_into().unwrap_or([0; 8]),
                );
                self.levels.push(self.hnsw.level_for(h));
                self.ids.push(id);
                self.data.extend_from_slice(&unit);
                self.loaded_upto = rowid;
            }
        }
    }

    /// Extends the HNSW graph over every loaded vector.
    pub(crate) fn build_index(&mut self) {
        while self.hnsw.len() < self.ids.len() {
            let level = self.levels[self.hnsw.len()];
            self.hnsw.insert(&self.data, self.dims, level);
        }
    }

    fn exact(&self, q: &[f32], k: usize, slots: &mut dyn Iterator<Item = u32>) -> Vec<VectorHit> {
        let mut all: Vec<(f32, PacketId)> = slots
            .map(|s| {
                let i = s as usize * self.dims;
                (1.0 - dot(q, &self.data[i..i + self.dims]), self.ids[s as usize])
            })
            .collect();
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
        opts: &SqliteOptions,
    ) -> Vec<VectorHit> {
        let allowed_slots: Option<Vec<u32>> =
            allowed.map(|a| a.iter().filter_map(|r| self.slot_of_packet.get(r).copied()).collect());
        let candidates = allowed_slots.as_ref().map_or(self.len(), Vec::len);
        if exact || candidates <= opts.exact_threshold {
            return match &allowed_slots {
                None => self.exact(q, k, &mut (0..self.len() as u32)),
                Some(s) => self.exact(q, k, &mut s.iter().copied()),
            };
        }
        self.build_index();
        let mut ef = opts.hnsw_ef_search.max(k);
        let mask: Option<Vec<bool>> = allowed_slots.as_ref().map(|s| {
            let mut m = vec![false; self.len()];
            s.iter().for_each(|&i| m[i as usize] = true);
            m
        });
        loop {
            let accept = |n: u32| mask.as_ref().is_none_or(|m| m[n as usize]);
            let found = self.hnsw.search(&self.data, self.dims, q, k, ef, &accept);
            if found.len() >= k.min(candidates) || ef >= self.len() {
                let mut hits: Vec<VectorHit> = found
                    .into_iter()
                    .map(|(n, d)| VectorHit { id: self.ids[n as usize], distance: d.max(0.0) })
                    .collect();
                hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
                return hits;
            }
            ef *= 4;
        }
    }
}
