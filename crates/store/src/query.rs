//! Query and batch types shared by every backend.

use chrono::{DateTime, Utc};
use l9_types::{PacketEnvelope, PacketId, RunId, TaskId};
use serde::{Deserialize, Serialize};

/// Blobs, packets and embeddings written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// Blob contents; their hashes are computed by the store.
    pub blobs: Vec<Vec<u8>>,
    /// Packets in an order where parents come before children.
    pub packets: Vec<PacketEnvelope>,
    /// Embeddings for packets in this batch or already stored.
    pub embeddings: Vec<(PacketId, Vec<f32>)>,
}

/// How large a load written in parts will be, when the writer knows it in advance (zero:
/// not known). Lets a backend choose its bulk path before the first part arrives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadSize {
    pub packets: usize,
    pub embeddings: usize,
}

/// A load that arrives in parts, for [`crate::Store::write_parts`]: a reader of a large file,
/// a generator, an embedder working through its texts. Only one part is held at a time.
#[async_trait::async_trait]
pub trait WriteParts: Send {
    /// The size of the whole load, if known (the default: not known).
    fn size(&self) -> LoadSize {
        LoadSize::default()
    }

    /// The next part; `None` after the last. An error stops the load and nothing of it is
    /// written (a source failing for its own reasons returns an error and keeps its cause).
    async fn next_part(&mut self) -> crate::Result<Option<WriteBatch>>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteReport {
    pub packets_inserted: usize,
    pub packets_present: usize,
    pub blobs_inserted: usize,
    pub embeddings_inserted: usize,
    /// Set when the write was a large load that rebuilt the vector index in one pass
    /// (PostgreSQL) instead of maintaining it per row: how long the rebuild took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ann_index_build_ms: Option<u64>,
}

impl WriteReport {
    /// Adds the report of one more part of the same load.
    pub fn add(&mut self, part: &WriteReport) {
        self.packets_inserted += part.packets_inserted;
        self.packets_present += part.packets_present;
        self.blobs_inserted += part.blobs_inserted;
        self.embeddings_inserted += part.embeddings_inserted;
        if let Some(ms) = part.ann_index_build_ms {
            self.ann_index_build_ms = Some(self.ann_index_build_ms.unwrap_or(0) + ms);
        }
    }
}

/// Which packets a list or search considers. Empty fields match everything; `kinds`
/// matches any of its entries; the time range is `[since, until)` on `at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketFilter {
    #[serde(default)]
    pub kinds: Vec<String>,
    pub run: Option<RunId>,
    pub task: Option<TaskId>,
    pub actor: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl PacketFilter {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
            && self.run.is_none()
            && self.task.is_none()
            && self.actor.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }

    /// Whether `p` passes this filter (the reference semantics backends implement in SQL).
    pub fn matches(&self, p: &PacketEnvelope) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&p.kind))
            && self.run.is_none_or(|r| p.run_id == Some(r))
            && self.task.is_none_or(|t| p.task_id == Some(t))
            && self.actor.as_ref().is_none_or(|a| *a == p.actor)
            && self.since.is_none_or(|s| p.at >= s)
            && self.until.is_none_or(|u| p.at < u)
    }
}

/// Cursor pagination: packets with id greater than `after`, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub after: Option<PacketId>,
    pub limit: u32,
}

impl Default for Page {
    fn default() -> Self {
        Page { after: None, limit: 100 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PacketPage {
    pub packets: Vec<PacketEnvelope>,
    /// The cursor for the next page, if there may be one.
    pub next: Option<PacketId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Ancestors: parents, their parents, …
    Up,
    /// Descendants: children, their children, …
    Down,
}

/// A packet reached by a lineage walk, at its smallest depth (1 = direct parent/child).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LineageEntry {
    pub depth: u32,
    pub id: PacketId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextQuery {
    pub query: String,
    pub filter: PacketFilter,
    pub k: usize,
}

/// A full-text match; higher `score` is more relevant (backend-specific scale).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TextHit {
    pub id: PacketId,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorQuery {
    pub vector: Vec<f32>,
    pub filter: PacketFilter,
    pub k: usize,
    /// Exact (brute-force) search: deterministic, used by tests and recall measurement.
    pub exact: bool,
    /// An approximate search's beam (candidates kept while walking the graph: pgvector's
    /// `hnsw.ef_search`, the SQLite index's `ef`); `None` takes the store's setting. Never
    /// below `k`. Hybrid search asks for its depth: it fuses ranks, so a narrower beam than
    /// a top-10 nearest-neighbour query needs is enough.
    pub beam: Option<usize>,
}

/// A nearest neighbour; `distance` is cosine distance (0 = same direction, 2 = opposite).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VectorHit {
    pub id: PacketId,
    pub distance: f32,
}

/// Query terms whose document frequency exceeds this many documents *and*
/// [`COMMON_TERM_FRACTION`] of all documents are dropped from full-text queries (when a
/// rarer term remains): they carry almost no BM25 weight, yet ranking every document that
/// holds them dominated search time on large stores. Below these sizes nothing is dropped.
pub const COMMON_TERM_MIN_DOCS: u64 = 1000;
pub const COMMON_TERM_FRACTION: f64 = 0.05;
/// Of the remaining terms, rarest first, terms are kept while their summed document
/// frequencies stay within this budget (the first is always kept). Long queries — such as
/// "memories related to this whole note" — then rank a bounded number of candidates,
/// chosen by the terms that discriminate most (as Lucene's MoreLikeThis selects terms).
pub const QUERY_POSTINGS_BUDGET: u64 = 3000;

/// Selects the query terms to run (see [`COMMON_TERM_MIN_DOCS`] and
/// [`QUERY_POSTINGS_BUDGET`]); `df` gives a term's document frequency among `total`
/// documents (0 when unknown). Never returns an empty list for a non-empty input.
pub fn prune_common_terms(terms: Vec<String>, total: u64, df: impl Fn(&str) -> u64) -> Vec<String> {
    let limit = (COMMON_TERM_MIN_DOCS as f64).max(total as f64 * COMMON_TERM_FRACTION);
    let mut with_df: Vec<(u64, String)> = terms.into_iter().map(|t| (df(&t), t)).collect();
    with_df.sort();
    with_df.dedup_by(|a, b| a.1 == b.1);
    let mut kept = Vec::new();
    let mut postings = 0u64;
    for (i, (d, t)) in with_df.into_iter().enumerate() {
        let common = (d as f64) > limit;
        if i == 0 || (!common && postings + d <= QUERY_POSTINGS_BUDGET) {
            postings += d;
            kept.push(t);
        }
    }
    kept
}

/// The tokenizer both backends' full-text indexes agree on: lower-cased runs of
/// alphanumeric characters. Query strings are reduced to these terms before they reach a
/// backend, so no query syntax can be injected.
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_terms_are_selected_by_rarity() {
        let df = |t: &str| match t {
            "the" => 90_000,
            "cache" => 6_000,
            "lease" => 12,
            "retry" => 2_000,
            "queue" => 1_500,
            _ => 0,
        };
        let terms = |q: &str| tokenize(q);
        // Common terms go; the rarest always stays.
        assert_eq!(prune_common_terms(terms("the cache lease"), 100_000, df), ["lease"]);
        assert_eq!(prune_common_terms(terms("the"), 100_000, df), ["the"]);
        // 6,000 of 200,000 is 3%: not common, but over the postings budget.
        assert_eq!(prune_common_terms(terms("the cache lease"), 200_000, df), ["lease"]);
        // Rarest first within the budget: 12 + 1,500 fit, + 2,000 does not.
        assert_eq!(prune_common_terms(terms("retry queue lease"), 200_000, df), ["lease", "queue"]);
        // Small stores keep everything.
        assert_eq!(prune_common_terms(terms("the lease"), 900, |_| 300), ["lease", "the"]);
    }

    #[test]
    fn tokenize_splits_on_non_alphanumerics() {
        assert_eq!(tokenize("Hello, wörld! x_y 42"), ["hello", "wörld", "x", "y", "42"]);
        assert!(tokenize("  ;; ").is_empty());
    }
}
