//! The memory error type.

use l9_store::StoreError;

pub type Result<T, E = MemoryError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Envelope(#[from] l9_types::EnvelopeError),
    /// An embedder failed; `setting` names the configuration key to look at.
    #[error("embedder {embedder}: {message} (check `{setting}`)")]
    Embed { embedder: String, message: String, setting: String },
    #[error("{0}")]
    Config(String),
}
