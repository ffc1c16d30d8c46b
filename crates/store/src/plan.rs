//! The write planner both backends share: given what the store already holds, decide
//! what a [`WriteBatch`] inserts, or the first error, in the order the contract fixes
//! (envelopes; per packet: existing id, parents, blobs; then embeddings). Backends do the
//! lookups in bulk, call [`plan_write`], then insert in bulk — so they cannot disagree on
//! which error a batch gets.

use std::collections::{HashMap, HashSet};

use l9_types::{ContentHash, PacketEnvelope, PacketId};

use crate::{Result, StoreError, WriteBatch, normalized};

/// What the store already holds that the batch refers to.
#[derive(Debug, Default)]
pub struct Known {
    /// Stored packets among the batch's ids, parents and embedding targets, with hashes.
    pub packets: HashMap<PacketId, ContentHash>,
    /// Stored blobs among those the batch's packets reference.
    pub blobs: HashSet<ContentHash>,
}

impl WriteBatch {
    /// Every packet id the batch mentions (ids, parents, embedding targets), for one bulk
    /// lookup.
    pub fn referenced_ids(&self) -> Vec<PacketId> {
        let mut ids: Vec<PacketId> = self
            .packets
            .iter()
            .flat_map(|p| std::iter::once(p.id).chain(p.parents.iter().copied()))
            .chain(self.embeddings.iter().map(|(id, _)| *id))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Every blob hash the batch's packets reference.
    pub fn referenced_blobs(&self) -> Vec<ContentHash> {
        let mut h: Vec<ContentHash> =
            self.packets.iter().flat_map(|p| p.blobs.iter().map(|b| b.hash)).collect();
        h.sort();
        h.dedup();
        h
    }
}

/// The outcome of planning: what to insert.
#[derive(Debug)]
pub struct WritePlan<'a> {
    /// New blobs (deduplicated by hash) with their hashes.
    pub blobs: Vec<(ContentHash, &'a [u8])>,
    /// New packets, in batch order.
    pub packets: Vec<&'a PacketEnvelope>,
    /// How many batch packets were already stored with the same hash.
    pub packets_present: usize,
    /// Embeddings to insert (packet id, vector as given), in batch order, deduplicated.
    pub embeddings: Vec<(PacketId, &'a [f32])>,
}

/// Checks `batch` against `known` (see the module docs for the order of checks).
pub fn plan_write<'a>(batch: &'a WriteBatch, dims: usize, known: &Known) -> Result<WritePlan<'a>> {
    for p in &batch.packets {
        p.verify()?;
    }
    let mut blob_hashes: HashSet<ContentHash> = HashSet::new();
    let mut blobs = Vec::new();
    for data in &batch.blobs {
        let h = ContentHash::of_bytes(data);
        if blob_hashes.insert(h) {
            blobs.push((h, data.as_slice()));
        }
    }
    let mut seen: HashMap<PacketId, ContentHash> = known.packets.clone();
    let mut new_ids: HashSet<PacketId> = HashSet::new();
    let mut packets = Vec::new();
    let mut present = 0;
    for p in &batch.packets {
        if let Some(h) = seen.get(&p.id) {
            if *h == p.hash {
                present += 1;
                continue;
            }
            return Err(StoreError::Conflict { id: p.id });
        }
        for parent in &p.parents {
            if !seen.contains_key(parent) {
                return Err(StoreError::MissingParent { id: p.id, parent: *parent });
            }
        }
        for b in &p.blobs {
            if !blob_hashes.contains(&b.hash) && !known.blobs.contains(&b.hash) {
                return Err(StoreError::MissingBlob { id: p.id, hash: b.hash });
            }
        }
        seen.insert(p.id, p.hash);
        new_ids.insert(p.id);
        packets.push(p);
    }
    let mut embeddings = Vec::new();
    let mut embedded: HashSet<PacketId> = HashSet::new();
    for (id, v) in &batch.embeddings {
        if v.len() != dims {
            return Err(StoreError::Dimension { expected: dims, got: v.len() });
        }
        normalized(v)?;
        if !seen.contains_key(id) {
            return Err(StoreError::MissingPacket(*id));
        }
        if embedded.insert(*id) {
            embeddings.push((*id, v.as_slice()));
        }
    }
    Ok(WritePlan { blobs, packets, packets_present: present, embeddings })
}
