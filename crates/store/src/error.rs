//! The storage error type.

use l9_types::{ContentHash, EnvelopeError, PacketId};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid packet: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("packet {id} names parent {parent}, which is not stored; store the parent first")]
    MissingParent { id: PacketId, parent: PacketId },
    #[error("packet {id} references blob {hash}, which is not stored; put the blob first")]
    MissingBlob { id: PacketId, hash: ContentHash },
    #[error("packet {id} is already stored with a different hash; packets are immutable")]
    Conflict { id: PacketId },
    #[error("no packet {0} to attach an embedding to")]
    MissingPacket(PacketId),
    #[error("vector has {got} dimensions but this store holds {expected}-dimensional embeddings")]
    Dimension { expected: usize, got: usize },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot open the database: {0}")]
    Unavailable(String),
    #[error("database schema: {0}")]
    Migration(String),
    #[error("lease lost: {0}")]
    LeaseLost(String),
    #[error("database error: {0}")]
    Backend(String),
    /// The database cannot do the work for a reason outside L9 — full, read-only, locked,
    /// damaged, unreachable. Named with what to do; work that meets it fails its attempt
    /// (retried once the cause is gone), never the step.
    #[error("{ENVIRONMENT_MARK} {fault}: {detail}")]
    Environment { fault: Fault, detail: String },
}

/// How an [`StoreError::Environment`] error begins, also once it is only text (a step's
/// error message): see [`is_environment_message`].
pub const ENVIRONMENT_MARK: &str = "storage unavailable:";

/// Whether `message` is an [`StoreError::Environment`] error turned into text.
pub fn is_environment_message(message: &str) -> bool {
    message.contains(ENVIRONMENT_MARK)
}

/// What is wrong with the database's surroundings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Full,
    ReadOnly,
    Busy,
    Io,
    Corrupt,
    Connection,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fault::Full => {
                "the disk holding the database is full (free space; a run stopped by it continues with `l9 resume`)"
            }
            Fault::ReadOnly => {
                "the database cannot be written (a read-only file, directory or mount: make it writable)"
            }
            Fault::Busy => {
                "the database stayed locked by another process (try again when it has finished)"
            }
            Fault::Io => "the disk failed to read or write the database (check the disk)",
            Fault::Corrupt => {
                "the database file is damaged (`l9 db check` says what is readable, `l9 db salvage FILE.jsonl` exports it)"
            }
            Fault::Connection => {
                "the connection to the database failed (check that the server is running and reachable)"
            }
        })
    }
}
