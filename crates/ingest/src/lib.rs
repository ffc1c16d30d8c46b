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
    items: Vec<l9_memory::Ingest>,
) -> Result<usize> {
    // Embedded once; a retry writes what is left of the same batch.
    let mut batch = memory.prepare(items, &|_, _| {}).await?;
    loop {
        if batch.packets.is_empty() {
            return Ok(0);
        }
        let err = match memory.store().write(&batch).await {
            Ok(_) => return Ok(batch.packets.len()),
            Err(l9_store::StoreError::Conflict { id }) => id,
            Err(e) => return Err(e.into()),
        };
        let ids: Vec<l9_types::PacketId> = batch.packets.iter().map(|p| p.id).collect();
        let present: std::collections::HashSet<l9_types::PacketId> =
            memory.store().get_packets(&ids).await?.into_iter().map(|p| p.id).collect();
        if !present.contains(&err) {
            // Not a race: the conflict is with something else; say so.
            return Err(l9_store::StoreError::Conflict { id: err }.into());
        }
        // Each round removes at least the packet that conflicted, so this ends. (Blobs are
        // stored by content: writing one the other process stored too is harmless.)
        batch.packets.retain(|p| !present.contains(&p.id));
        batch.embeddings.retain(|(id, _)| !present.contains(id));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed step is a failed test

    use std::sync::Arc;

    use l9_memory::{HashEmbedder, MemoryService};
    use l9_store::Store as _;
    use l9_store_sqlite::{SqliteOptions, SqliteStore};
    use l9_types::{ManualClock, PacketDraft, PacketId, SeededRng};

    /// Another process stored one of the packets first (sealed at another moment, so the
    /// write conflicts): it is left as stored, the others are written, once each.
    #[tokio::test]
    async fn what_another_process_stored_first_stands_and_the_rest_is_written() {
        let dir = l9_test_support::temp_dir();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("l9.db"), SqliteOptions::default()).await.unwrap(),
        );
        let clock = ManualClock::at_epoch_2026();
        let m = MemoryService::open(
            store.clone(),
            Arc::new(HashEmbedder::default()),
            Arc::new(clock.clone()),
            Arc::new(SeededRng::from_seed(1)),
        )
        .await
        .unwrap();
        let item = |k: &str| {
            let id = PacketId(super::derived_id("test", k));
            m.seal(PacketDraft::new("t").text(format!("packet {k}")), vec![], Some(id)).unwrap()
        };
        let theirs = item("b");
        m.ingest(vec![theirs.clone()]).await.unwrap();
        clock.advance(chrono::TimeDelta::seconds(5));
        let n = super::store_derived(&m, vec![item("a"), item("b"), item("c")]).await.unwrap();
        assert_eq!(n, 2);
        assert_eq!(store.count_packets(&Default::default()).await.unwrap(), 3);
        let b = store.get_packet(theirs.packet.id).await.unwrap().unwrap();
        assert_eq!(b.hash, theirs.packet.hash, "what was stored first stands");
        // Everything stored already (sealed later, so each conflicts): nothing written, no error.
        clock.advance(chrono::TimeDelta::seconds(5));
        assert_eq!(super::store_derived(&m, vec![item("a")]).await.unwrap(), 0);
    }
}
