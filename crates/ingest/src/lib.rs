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
