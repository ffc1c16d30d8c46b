//! The memory service: ingest, hybrid search, lineage, knowledge graph.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use l9_store::{
    Direction, Entity, EntityId, LineageEntry, PacketFilter, PacketPage, Page, Relation,
    RelationId, Store, StoreError, TextQuery, VectorQuery, WriteBatch, WriteReport,
};
use l9_types::{
    BlobRef, Clock, ContentHash, IdSource, PacketDraft, PacketEnvelope, PacketId, SeededRng,
};
use serde::{Deserialize, Serialize};

use crate::spill::Spill;
use crate::{Embedder, MemoryError, Result};

/// The RRF constant (Cormack et al. 2009).
const RRF_K: f64 = 60.0;

/// The store metadata key recording which embedder wrote the vectors.
const EMBEDDER_META: &str = "memory.embedder";

/// A blob to attach to a new packet.
#[derive(Debug, Clone)]
pub struct BlobInput {
    pub data: Vec<u8>,
    pub media_type: Option<String>,
    pub name: Option<String>,
}

/// An already-sealed packet plus the blob bytes it references (for imports).
#[derive(Debug, Clone)]
pub struct Ingest {
    pub packet: PacketEnvelope,
    pub blobs: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Full text and vector kNN fused by reciprocal rank fusion.
    #[default]
    Hybrid,
    Text,
    Vector,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub text: String,
    pub filter: PacketFilter,
    pub k: usize,
    pub mode: SearchMode,
}

/// One search result, with where it ranked in each list (1-based).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub id: PacketId,
    pub score: f64,
    pub text_rank: Option<usize>,
    pub vector_rank: Option<usize>,
    pub distance: Option<f32>,
    pub packet: PacketEnvelope,
}

/// How many candidates each half of a hybrid search for the top `k` fetches.
pub fn hybrid_depth(k: usize) -> usize {
    (k * 4).max(50)
}

/// Reciprocal rank fusion of ranked id lists: `score(d) = Σ 1/(60 + rank)`; ties by id.
pub fn rrf_fuse(lists: &[Vec<PacketId>]) -> Vec<(PacketId, f64)> {
    let mut scores: HashMap<PacketId, f64> = HashMap::new();
    for list in lists {
        for (i, id) in list.iter().enumerate() {
            *scores.entry(*id).or_insert(0.0) += 1.0 / (RRF_K + (i + 1) as f64);
        }
    }
    let mut out: Vec<(PacketId, f64)> = scores.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// The Memory Substrate. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryService {
    store: Arc<dyn Store>,
    embedder: Arc<dyn Embedder>,
    clock: Arc<dyn Clock>,
    rng: Arc<SeededRng>,
}

impl MemoryService {
    /// Binds a store to an embedder. Refuses an embedder whose dimension differs from the
    /// store's, or another embedder than the one that wrote the store's vectors.
    pub async fn open(
        store: Arc<dyn Store>,
        embedder: Arc<dyn Embedder>,
        clock: Arc<dyn Clock>,
        rng: Arc<SeededRng>,
    ) -> Result<Self> {
        if store.dims() != embedder.dims() {
            return Err(MemoryError::Config(format!(
                "embedder {} makes {}-dimensional vectors but the store holds {}; set memory.dims to match or use a new database",
                embedder.name(),
                embedder.dims(),
                store.dims()
            )));
        }
        match store.get_meta(EMBEDDER_META).await? {
            None => store.set_meta(EMBEDDER_META, &embedder.name()).await?,
            Some(n) if n == embedder.name() => {}
            Some(n) => {
                return Err(MemoryError::Config(format!(
                    "this database's vectors were made by embedder {n}, not {}; configure memory.embedder to match or use a new database",
                    embedder.name()
                )));
            }
        }
        Ok(MemoryService { store, embedder, clock, rng })
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    pub fn embedder(&self) -> &dyn Embedder {
        &*self.embedder
    }

    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The id source (clock + rng) packets are sealed with.
    pub fn ids(&self) -> IdSource<'_> {
        IdSource { clock: &*self.clock, rng: &self.rng }
    }

    /// Seals `draft` (attaching `blobs`), embeds its text and stores it, atomically.
    pub async fn put(&self, draft: PacketDraft, blobs: Vec<BlobInput>) -> Result<PacketEnvelope> {
        let item = self.seal(draft, blobs, None)?;
        let packet = item.packet.clone();
        self.ingest(vec![item]).await?;
        Ok(packet)
    }

    /// What [`MemoryService::put`] stores, sealed but not stored: `blobs` attached, secrets
    /// redacted from text and body (`l9_types::redact`), sealed with a fresh id or with `id`
    /// (an id derived from what the packet stands for, so a second seal of the same thing is
    /// the same packet). Batch the results into [`MemoryService::ingest`].
    pub fn seal(
        &self,
        mut draft: PacketDraft,
        blobs: Vec<BlobInput>,
        id: Option<PacketId>,
    ) -> Result<Ingest> {
        let mut data = Vec::with_capacity(blobs.len());
        for b in blobs {
            draft = draft.blob(BlobRef {
                hash: ContentHash::of_bytes(&b.data),
                size: b.data.len() as u64,
                media_type: b.media_type,
                name: b.name,
            });
            data.push(b.data);
        }
        // No secret is stored (`l9_types::redact`).
        if let Some(t) = &draft.text
            && let std::borrow::Cow::Owned(r) = l9_types::redact::redact(t)
        {
            draft.text = Some(r);
        }
        if let Some(b) = l9_types::redact::redact_json(&draft.body) {
            draft.body = b;
        }
        let packet = match id {
            Some(id) => draft.seal_as(id, &*self.clock)?,
            None => draft.seal(&self.ids())?,
        };
        Ok(Ingest { packet, blobs: data })
    }

    /// Stores sealed packets with their blobs and embeddings in one transaction.
    pub async fn ingest(&self, items: Vec<Ingest>) -> Result<WriteReport> {
        self.ingest_with_progress(items, &|_, _| {}).await
    }

    /// Like [`MemoryService::ingest`], calling `progress(embedded, total)` as texts are
    /// embedded (the slow part); the write itself is still one transaction. More than
    /// [`INGEST_PART`] items are embedded and written a part at a time (`Store::write_parts`):
    /// the vectors of one part are held, never the whole load's.
    pub async fn ingest_with_progress(
        &self,
        items: Vec<Ingest>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<WriteReport> {
        if items.len() <= INGEST_PART {
            let batch = self.prepare(items, progress).await?;
            return Ok(self.store.write(&batch).await?);
        }
        let with_text =
            items.iter().filter(|i| i.packet.text.as_deref().is_some_and(|t| !t.is_empty()));
        let size = l9_store::LoadSize { packets: items.len(), embeddings: with_text.count() };
        let total = items.len();
        let spill = if self.embeds_ahead() {
            let mut spill = self.spill()?;
            for (k, part) in items.chunks(INGEST_PART).enumerate() {
                let texts = texts_of(part);
                self.embed_into(&texts, &mut spill, k * INGEST_PART, total, progress).await?;
            }
            Some(spill)
        } else {
            None
        };
        let mut parts = EmbeddedParts {
            svc: self,
            items: items.into_iter(),
            total,
            done: 0,
            size,
            progress,
            spill,
            failed: None,
        };
        match self.store.write_parts(&mut parts).await {
            Ok(report) => Ok(report),
            // The embedder's own error, not the store's word for a stopped load.
            Err(e) => Err(parts.failed.take().unwrap_or(MemoryError::from(e))),
        }
    }

    /// The write [`MemoryService::ingest`] makes, not yet written: the packets, their blobs
    /// and the embeddings of their texts (`progress(embedded, total)` as texts are embedded).
    /// For a caller that retries a write without embedding again.
    pub async fn prepare(
        &self,
        items: Vec<Ingest>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<WriteBatch> {
        let total = items.len();
        self.embed_part(items, 0, total, progress).await
    }

    /// Whether a load written in parts is embedded ahead of its write ([`crate::spill`]): the
    /// store holds off other writers while it writes, and the embedder is not
    /// [`cheap`](Embedder::cheap).
    pub fn embeds_ahead(&self) -> bool {
        self.store.serialises_writes() && !self.embedder.cheap()
    }

    /// An empty [`Spill`] for this service's vectors.
    pub fn spill(&self) -> Result<Spill> {
        Spill::new(self.embedder.dims()).map_err(spill_error)
    }

    /// Embeds `texts` into `spill`, in order; `progress(done + embedded, total)`.
    pub async fn embed_into(
        &self,
        texts: &[String],
        spill: &mut Spill,
        done: usize,
        total: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<()> {
        self.embed_each(texts, done, total, progress, &mut |v| spill.push(&v).map_err(spill_error))
            .await
    }

    /// Embeds `texts` 256 at a time, handing each vector to `each` in order;
    /// `progress(done + embedded, total)` after each batch.
    async fn embed_each(
        &self,
        texts: &[String],
        done: usize,
        total: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
        each: &mut (dyn FnMut(Vec<f32>) -> Result<()> + Send),
    ) -> Result<()> {
        let mut n = 0;
        for chunk in texts.chunks(256) {
            for v in self.embedder.embed(chunk).await? {
                each(v)?;
            }
            n += chunk.len();
            progress(done + n, total);
        }
        Ok(())
    }

    /// `items` with their texts' vectors taken from `spill` (embedded ahead, in order).
    pub fn part_from(items: Vec<Ingest>, spill: &mut Spill) -> Result<WriteBatch> {
        let vectors = spill.take(items.len()).map_err(spill_error)?;
        if vectors.len() != items.len() {
            return Err(spill_error(std::io::Error::other(format!(
                "{} vectors embedded ahead for {} packets",
                vectors.len(),
                items.len()
            ))));
        }
        Ok(batch_of(items, vectors))
    }

    /// `items` with the embeddings of their texts; `progress(done + embedded, total)`.
    async fn embed_part(
        &self,
        items: Vec<Ingest>,
        done: usize,
        total: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<WriteBatch> {
        let mut vectors = Vec::with_capacity(items.len());
        let texts = texts_of(&items);
        self.embed_each(&texts, done, total, progress, &mut |v| {
            vectors.push(v);
            Ok(())
        })
        .await?;
        Ok(batch_of(items, vectors))
    }

    pub async fn get(&self, id: PacketId) -> Result<Option<PacketEnvelope>> {
        Ok(self.store.get_packet(id).await?)
    }

    pub async fn list(&self, filter: &PacketFilter, page: &Page) -> Result<PacketPage> {
        Ok(self.store.list_packets(filter, page).await?)
    }

    pub async fn lineage(
        &self,
        id: PacketId,
        dir: Direction,
        depth: u32,
    ) -> Result<Vec<LineageEntry>> {
        Ok(self.store.lineage(id, dir, depth).await?)
    }

    pub async fn blob(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        Ok(self.store.get_blob(hash).await?)
    }

    /// Hybrid search: the top `max(4k, 50)` of full text and of vector kNN (same filter),
    /// fused by RRF, cut to `k`.
    pub async fn search(&self, q: &SearchQuery) -> Result<Vec<SearchHit>> {
        if q.k == 0 || q.text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let depth = hybrid_depth(q.k);
        // The two halves are independent: run them concurrently.
        let text_half = async {
            if q.mode == SearchMode::Vector {
                return Ok::<_, MemoryError>(Vec::new());
            }
            let tq = TextQuery { query: q.text.clone(), filter: q.filter.clone(), k: depth };
            Ok(self
                .store
                .text_search(&tq)
                .await?
                .into_iter()
                .map(|h| h.id)
                .collect::<Vec<PacketId>>())
        };
        let vector_half = async {
            if q.mode == SearchMode::Text {
                return Ok::<_, MemoryError>(Vec::new());
            }
            let v =
                self.embedder.embed(std::slice::from_ref(&q.text)).await?.pop().unwrap_or_default();
            if v.iter().all(|x| *x == 0.0) {
                return Ok(Vec::new());
            }
            // The store's beam: one only as wide as the depth saved ~0.7 ms of ~4 ms on
            // PostgreSQL at 100k and changed 5-6 % of the fused top 10 (`l9 bench memory`).
            let vq = VectorQuery {
                vector: v,
                filter: q.filter.clone(),
                k: depth,
                exact: false,
                beam: None,
            };
            Ok(self.store.vector_search(&vq).await?)
        };
        let (text_ids, vector_hits) = tokio::try_join!(text_half, vector_half)?;
        let distances: HashMap<PacketId, f32> =
            vector_hits.iter().map(|h| (h.id, h.distance)).collect();
        let vector_ids: Vec<PacketId> = vector_hits.into_iter().map(|h| h.id).collect();
        let rank =
            |list: &[PacketId], id: PacketId| list.iter().position(|x| *x == id).map(|p| p + 1);
        let fused: Vec<(PacketId, f64)> =
            rrf_fuse(&[text_ids.clone(), vector_ids.clone()]).into_iter().take(q.k).collect();
        let ids: Vec<PacketId> = fused.iter().map(|(id, _)| *id).collect();
        let packets: HashMap<PacketId, PacketEnvelope> =
            self.store.get_packets(&ids).await?.into_iter().map(|p| (p.id, p)).collect();
        let mut out = Vec::with_capacity(fused.len());
        for (id, score) in fused {
            let packet = packets
                .get(&id)
                .cloned()
                .ok_or_else(|| StoreError::NotFound(format!("packet {id}")))?;
            out.push(SearchHit {
                id,
                score,
                text_rank: rank(&text_ids, id),
                vector_rank: rank(&vector_ids, id),
                distance: distances.get(&id).copied(),
                packet,
            });
        }
        Ok(out)
    }

    /// Records an entity valid from `valid_from`, as learned now.
    pub async fn add_entity(
        &self,
        kind: &str,
        name: &str,
        attrs: serde_json::Value,
        valid_from: DateTime<Utc>,
        source: Option<PacketId>,
    ) -> Result<Entity> {
        let e = Entity {
            id: EntityId(self.ids().uuid()),
            kind: kind.into(),
            name: name.into(),
            attrs,
            valid_from: l9_store::to_micros(valid_from),
            valid_to: None,
            recorded_at: l9_store::to_micros(self.clock.now()),
            invalidated_at: None,
            source,
        };
        self.store.put_entity(&e).await?;
        Ok(e)
    }

    /// Records a relation valid from `valid_from`, as learned now.
    pub async fn relate(
        &self,
        kind: &str,
        from: EntityId,
        to: EntityId,
        valid_from: DateTime<Utc>,
        source: Option<PacketId>,
    ) -> Result<Relation> {
        let r = Relation {
            id: RelationId(self.ids().uuid()),
            kind: kind.into(),
            from,
            to,
            attrs: serde_json::json!({}),
            valid_from: l9_store::to_micros(valid_from),
            valid_to: None,
            recorded_at: l9_store::to_micros(self.clock.now()),
            invalidated_at: None,
            source,
        };
        self.store.put_relation(&r).await?;
        Ok(r)
    }

    /// Ends a relation's validity at `valid_to`, as learned now. Nothing is deleted.
    pub async fn invalidate_relation(&self, id: RelationId, valid_to: DateTime<Utc>) -> Result<()> {
        let now = l9_store::to_micros(self.clock.now());
        Ok(self.store.invalidate_relation(id, l9_store::to_micros(valid_to), now).await?)
    }
}

/// Items per part of a large ingest (embedded, then written, before the next part is).
pub const INGEST_PART: usize = 2_048;

/// The texts of `items` to embed, in order (none is an empty text: a zero vector).
pub fn texts_of(items: &[Ingest]) -> Vec<String> {
    items.iter().map(|i| i.packet.text.clone().unwrap_or_default()).collect()
}

/// The write of `items`, each with its text's vector (a zero vector is none).
fn batch_of(items: Vec<Ingest>, vectors: Vec<Vec<f32>>) -> WriteBatch {
    let mut batch = WriteBatch::default();
    for (item, v) in items.into_iter().zip(vectors) {
        if v.iter().any(|x| *x != 0.0) {
            batch.embeddings.push((item.packet.id, v));
        }
        batch.blobs.extend(item.blobs);
        batch.packets.push(item.packet);
    }
    batch
}

/// A spill that cannot be written or read: the temporary directory is full or unwritable.
fn spill_error(e: std::io::Error) -> MemoryError {
    MemoryError::Store(StoreError::Unavailable(format!(
        "the temporary file for vectors embedded ahead of a write ({}): {e}; free space there \
         or set TMPDIR to a directory with room",
        std::env::temp_dir().display()
    )))
}

/// A large ingest's parts: the next [`INGEST_PART`] items with their embeddings (embedded
/// then, or taken from the spill they were embedded into ahead).
struct EmbeddedParts<'a> {
    svc: &'a MemoryService,
    items: std::vec::IntoIter<Ingest>,
    total: usize,
    done: usize,
    size: l9_store::LoadSize,
    progress: &'a (dyn Fn(usize, usize) + Sync),
    /// The vectors, when embedded ahead.
    spill: Option<Spill>,
    /// Why the embedder stopped the load, if it did.
    failed: Option<MemoryError>,
}

#[async_trait::async_trait]
impl l9_store::WriteParts for EmbeddedParts<'_> {
    fn size(&self) -> l9_store::LoadSize {
        self.size
    }

    async fn next_part(&mut self) -> l9_store::Result<Option<WriteBatch>> {
        let part: Vec<Ingest> = self.items.by_ref().take(INGEST_PART).collect();
        if part.is_empty() {
            return Ok(None);
        }
        let n = part.len();
        let batch = match &mut self.spill {
            Some(spill) => MemoryService::part_from(part, spill),
            None => self.svc.embed_part(part, self.done, self.total, self.progress).await,
        };
        match batch {
            Ok(batch) => {
                self.done += n;
                Ok(Some(batch))
            }
            Err(e) => {
                let message = format!("the load was stopped: {e}");
                self.failed = Some(e);
                Err(StoreError::Invalid(message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement_and_breaks_ties_by_id() {
        let id = |n: u128| PacketId(uuid::Uuid::from_u128(n));
        let fused = rrf_fuse(&[vec![id(1), id(2), id(3)], vec![id(3), id(2), id(4)]]);
        let order: Vec<_> = fused.iter().map(|x| x.0).collect();
        // 2 and 3 appear in both lists: 3 (1st + 3rd) edges out 2 (2nd + 2nd) since
        // 1/61 + 1/63 > 2/62; both beat the single-list ids.
        assert_eq!(order, vec![id(3), id(2), id(1), id(4)]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-12);
        // Equal scores tie-break by id.
        let tied = rrf_fuse(&[vec![id(9)], vec![id(8)]]);
        assert_eq!(tied.iter().map(|x| x.0).collect::<Vec<_>>(), vec![id(8), id(9)]);
    }
}
