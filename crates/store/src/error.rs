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
}
