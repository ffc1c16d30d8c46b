//! `l9-store` — the storage contract (tier T3).
//!
//! One trait, [`Store`], that every backend implements, and one conformance suite
//! (feature `conformance`, module [`conformance`]) that every backend's tests run. Only the
//! backend crates (`l9-store-sqlite`, `l9-store-postgres`) know SQL; everything above talks
//! to `dyn Store`.
//!
//! The contract, in short:
//! * **Packets** are immutable. `write` is atomic for a whole [`WriteBatch`]. Putting the
//!   same id with the same hash again is a no-op; the same id with another hash is
//!   [`StoreError::Conflict`]. A packet whose hash does not verify, whose parents are not
//!   stored (or earlier in the batch), or whose blobs are not stored, is refused.
//! * **Lists** are ordered by id (UUIDv7, so by creation time) and paginated by cursor.
//! * **Lineage** walks parents (up) or children (down) to a depth limit and reports each
//!   packet once, at its smallest depth.
//! * **Blobs** are content-addressed (blake3) and stored once.
//! * **Text search** ranks by the backend's relevance (FTS5 bm25, PostgreSQL `ts_rank`);
//!   both tokenize the same way (lower-cased alphanumeric runs, no stemming) and match any
//!   query term, so the *set* of matches is the same on every backend.
//! * **Vector search** is cosine distance, exact on request and for small sets, approximate
//!   (HNSW) beyond; filters are the same as for lists.
//! * **Knowledge graph**: entities and relations are bitemporal (`valid_from`/`valid_to`
//!   in the world, `recorded_at`/`invalidated_at` in the store). Nothing is deleted:
//!   invalidation closes the valid interval and records when we learned it.
//! * **Tasks** ([`TaskStore`], via [`Store::tasks`]): the Task Runtime's durable queue,
//!   leases, cron ticks, checkpoints, signals and workflow journal; see `tasks.rs`.
//!
//! Timestamps are kept to the microsecond on every backend.

mod error;
mod graph;
mod plan;
mod query;
mod tasks;

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod group;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use l9_types::{ContentHash, PacketEnvelope, PacketId};

pub use error::{ENVIRONMENT_MARK, Fault, Result, StoreError, is_environment_message};
pub use graph::{
    AsOf, Entity, EntityId, EntityQuery, Relation, RelationDirection, RelationId, RelationQuery,
    rules as graph_rules,
};
pub use plan::{Known, WritePlan, plan_write};
pub use query::{
    COMMON_TERM_FRACTION, COMMON_TERM_MIN_DOCS, Direction, LineageEntry, LoadSize, PacketFilter,
    PacketPage, Page, QUERY_POSTINGS_BUDGET, TextHit, TextQuery, VectorHit, VectorQuery,
    WriteBatch, WriteParts, WriteReport, prune_common_terms, tokenize,
};
pub use tasks::{
    Checkpoint, Claim, Enqueued, Fence, Finish, JournalAppend, JournalRow, JournalStatus,
    LEASE_EXPIRED, NewTask, Outcome, STATE_INDEXED, Signal, TaskFilter, TaskPage, TaskRecord,
    TaskState, TaskStore, Transition, check_journal_append, fails_for_good, journal_effect,
    journal_value_blob, state_condition, task_counts_from, transition,
};

/// Which backend a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Rounds a time to the microsecond, the precision every backend keeps.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// The storage contract. See the crate docs for the semantics every backend must keep.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> Backend;

    /// The embedding dimension this store was created with.
    fn dims(&self) -> usize;

    /// Writes blobs, packets and embeddings atomically: all of it or none of it.
    async fn write(&self, batch: &WriteBatch) -> Result<WriteReport>;

    /// Writes a load part by part, atomically: every part or none (an error from the source
    /// or from any part writes nothing). A part may reference the packets and blobs of
    /// earlier parts. The process holds one part at a time, however large the load; the
    /// report is the sum of the parts'.
    async fn write_parts(&self, parts: &mut dyn WriteParts) -> Result<WriteReport>;

    /// Whether a write excludes every other writer until it commits (SQLite's one write lock):
    /// a load written in parts then holds the others off for as long as it takes, so its
    /// vectors are embedded before it starts rather than inside it.
    fn serialises_writes(&self) -> bool {
        false
    }

    async fn get_packet(&self, id: PacketId) -> Result<Option<PacketEnvelope>>;

    /// The stored packets among `ids`, in the order of `ids` (missing ids are skipped).
    async fn get_packets(&self, ids: &[PacketId]) -> Result<Vec<PacketEnvelope>>;

    async fn list_packets(&self, filter: &PacketFilter, page: &Page) -> Result<PacketPage>;

    /// Number of packets matching `filter`.
    async fn count_packets(&self, filter: &PacketFilter) -> Result<u64>;

    async fn lineage(&self, id: PacketId, dir: Direction, depth: u32) -> Result<Vec<LineageEntry>>;

    /// Stores a blob (once, whatever the number of puts) and returns its hash.
    async fn put_blob(&self, bytes: &[u8]) -> Result<ContentHash>;

    async fn get_blob(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>>;

    async fn text_search(&self, q: &TextQuery) -> Result<Vec<TextHit>>;

    async fn vector_search(&self, q: &VectorQuery) -> Result<Vec<VectorHit>>;

    /// Whether `id` has an embedding.
    async fn has_embedding(&self, id: PacketId) -> Result<bool>;

    /// Waits until approximate search is served by the vector index over every stored
    /// embedding (SQLite builds it in the background after writes; PostgreSQL keeps it up in
    /// each write). Searches are correct without waiting; only their speed differs.
    async fn wait_for_index(&self) -> Result<()> {
        Ok(())
    }

    // Knowledge graph.
    async fn put_entity(&self, e: &Entity) -> Result<()>;
    async fn put_relation(&self, r: &Relation) -> Result<()>;
    /// Puts `entities`, then `relations`, as [`Store::put_entity`] and
    /// [`Store::put_relation`] would, in one transaction: all of them or none.
    async fn put_graph(&self, entities: &[Entity], relations: &[Relation]) -> Result<()>;
    async fn get_entity(&self, id: EntityId) -> Result<Option<Entity>>;
    /// Ends an entity's validity at `valid_to`, recorded at `recorded_at`.
    async fn invalidate_entity(
        &self,
        id: EntityId,
        valid_to: DateTime<Utc>,
        recorded_at: DateTime<Utc>,
    ) -> Result<()>;
    async fn invalidate_relation(
        &self,
        id: RelationId,
        valid_to: DateTime<Utc>,
        recorded_at: DateTime<Utc>,
    ) -> Result<()>;
    async fn entities(&self, q: &EntityQuery) -> Result<Vec<Entity>>;
    async fn relations(&self, q: &RelationQuery) -> Result<Vec<Relation>>;

    // Store metadata (small key/value facts such as the embedder name).
    async fn get_meta(&self, key: &str) -> Result<Option<String>>;
    async fn set_meta(&self, key: &str, value: &str) -> Result<()>;

    /// The Task Runtime's queue, journal, signals and checkpoints in this database.
    fn tasks(&self) -> &dyn TaskStore;
}

/// Returns `v` scaled to unit length; refuses non-finite and zero vectors, which have no
/// direction and so no cosine distance.
pub fn normalized(v: &[f32]) -> Result<Vec<f32>> {
    if v.iter().any(|x| !x.is_finite()) {
        return Err(StoreError::Invalid("vector has a NaN or infinite component".into()));
    }
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Err(StoreError::Invalid("vector is all zeros and has no direction".into()));
    }
    Ok(v.iter().map(|x| (f64::from(*x) / norm) as f32).collect())
}
