//! `l9-memory` — the Memory Substrate (tier T3).
//!
//! [`MemoryService`] is what the rest of L9 uses to remember: it seals drafts into
//! [`PacketEnvelope`](l9_types::PacketEnvelope)s (ids and times from the clock/rng seams),
//! stores blobs once, indexes text, embeds it, and answers hybrid searches (full text and
//! vector kNN fused by reciprocal rank fusion), lineage walks and knowledge-graph queries.
//!
//! Embedders ([`Embedder`]) turn text into unit vectors:
//! * [`HashEmbedder`] — the default: deterministic signed feature hashing, no files;
//! * [`OpenAiEmbedder`] — `POST {base_url}/v1/embeddings` (OpenAI, Ollama, vLLM, …);
//! * `LocalBertEmbedder` — a BERT-family sentence model run locally with candle, behind the
//!   `local-embed` feature.
//!
//! What it is not: it knows no SQL (that is `l9-store-*`) and does not choose a backend
//! (that is `l9-engine`, from configuration).

mod embed;
mod error;
mod service;
pub mod spill;

pub use embed::Embedder;
#[cfg(feature = "local-embed")]
pub use embed::bert_reference::reference_embeddings;
pub use embed::hash::HashEmbedder;
#[cfg(feature = "local-embed")]
pub use embed::local_bert::LocalBertEmbedder;
pub use embed::openai::{OpenAiEmbedder, OpenAiEmbedderConfig};
pub use error::{MemoryError, Result};
pub use service::{
    BlobInput, INGEST_PART, Ingest, MemoryService, SearchHit, SearchMode, SearchQuery,
    hybrid_depth, rrf_fuse, texts_of,
};
