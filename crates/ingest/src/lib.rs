//! Long-term knowledge ingestors: a repository's history read with gitoxide into the memory
//! substrate (commits as packets whose lineage is their parents; files and modules as
//! knowledge-graph entities; co-change relations, bitemporal from the commits' times; fix
//! and revert commits with what they fixed by SZZ; hotspots and fragile files), and DORA
//! figures computed from the history itself.
//!
//! An ingest is incremental and idempotent: a commit's packet id is derived from its hash,
//! the repository's accumulated state is one `git.repo` packet (id derived from the
//! repository and its head) and a second ingest reads only commits the last one did not.
//! A killed ingest leaves whole batches behind and the next one skips what is stored.

pub mod code;
pub mod conflict;
pub mod dora;
pub mod fixes;
pub mod git;
pub mod history;
mod store;
pub mod szz;

use std::path::PathBuf;

pub use store::{IngestOptions, IngestReport, Since, ingest_git, latest_state, message_model};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A path or revision the user gave that cannot be used (exit 3).
    #[error("{0}")]
    Input(String),
    /// The repository could not be read.
    #[error("{path}: {message}")]
    Git { path: PathBuf, message: String },
    #[error(transparent)]
    Memory(#[from] l9_memory::MemoryError),
    #[error(transparent)]
    Store(#[from] l9_store::StoreError),
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// A stable id for `key` in namespace `ns` (blake3, as a UUIDv8): the same commit, file or
/// relation gets the same id in every ingest.
pub fn derived_id(ns: &str, key: &str) -> uuid::Uuid {
    l9_types::derived_uuid(&format!("ingest.{ns}"), key)
}

/// Stores packets whose ids are derived from what they describe, leaving out those another
/// process stored first: two ingests of one repository at once (two `l9 run`s of one spec)
/// both find a commit new, and their packets differ in when they were sealed, so the second
/// write is refused as a conflict. What the other stored stands; what is left is written.
/// Returns how many this call stored.
pub(crate) async fn store_derived(
    memory: &l9_memory::MemoryService,
    mut items: Vec<l9_memory::Ingest>,
) -> Result<usize> {
    loop {
        if items.is_empty() {
            return Ok(0);
        }
        let err = match memory.ingest(items.clone()).await {
            Ok(_) => return Ok(items.len()),
            Err(l9_memory::MemoryError::Store(l9_store::StoreError::Conflict { id })) => id,
            Err(e) => return Err(e.into()),
        };
        let ids: Vec<l9_types::PacketId> = items.iter().map(|i| i.packet.id).collect();
        let present: std::collections::HashSet<l9_types::PacketId> =
            memory.store().get_packets(&ids).await?.into_iter().map(|p| p.id).collect();
        if !present.contains(&err) {
            // Not a race: the conflict is with something else; say so.
            return Err(l9_store::StoreError::Conflict { id: err }.into());
        }
        // Each round removes at least the packet that conflicted, so this ends.
        items.retain(|i| !present.contains(&i.packet.id));
    }
}
