//! `l9 bench memory`: ingest throughput, hybrid/vector search latency and ANN recall on a
//! fresh store, each next to a baseline run in the same process:
//! * a bulk load (one atomic write of all packets, handed over in parts of [`PART`] as
//!   `l9 memory import` does, so neither the bench nor the store holds the whole load) vs.
//!   one transaction per packet (the naive path), and on PostgreSQL vs. one `COPY` of the
//!   same packets and one of their vectors (the rows made again for each, never held whole)
//!   into tables with the same columns and indexes (the floor); the vector index build is
//!   timed on its own for both;
//! * further ingest into the loaded store in batches of 1,000 (the index kept up per row);
//! * approximate (HNSW) vector search vs. the exact scan of the same store, whose answers
//!   also define recall@10.
//!
//! The corpus is synthetic but structured: texts drawn from 40 topics with shared and
//! topic-specific vocabulary, so embeddings cluster the way real notes do. Seeded.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition

use std::sync::Arc;
use std::time::{Duration, Instant};

use l9_memory::{
    HashEmbedder, Ingest, MemoryService, SearchMode, SearchQuery, hybrid_depth, rrf_fuse,
};
use l9_store::{Store, VectorQuery, WriteBatch};
use l9_types::{ManualClock, PacketDraft, PacketId, SeededRng};
use serde::Serialize;

use crate::{BenchError, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryBenchReport {
    pub backend: String,
    pub packets: usize,
    pub dims: usize,
    /// The bulk load: packets per second of the one write, index build excluded.
    pub ingest_packets_per_s: f64,
    /// Seconds the vector index took to build after the load (PostgreSQL: inside the
    /// write; SQLite: in the background, timed until it finished).
    pub index_build_s: f64,
    /// Packets per second from the start of the load until approximate search is ready.
    pub searchable_packets_per_s: f64,
    /// The floor on PostgreSQL: one `COPY` of the same rows, packets per second.
    pub floor_copy_packets_per_s: Option<f64>,
    /// The floor's index build, same settings.
    pub floor_index_build_s: Option<f64>,
    /// Further packets ingested into the loaded store in batches of 1,000.
    pub incremental_packets: usize,
    pub incremental_packets_per_s: f64,
    /// Baseline: one transaction per packet, measured on `baseline_packets`.
    pub baseline_single_packets_per_s: f64,
    pub baseline_packets: usize,
    /// Seconds an approximate query right after the load took (SQLite: while the index is
    /// still being built; it must search, not wait for the build).
    pub first_query_s: f64,
    /// Peak resident memory of this process (MiB) during the load, and during the searches
    /// (Linux; the database server's memory is not included).
    pub peak_rss_ingest_mib: Option<f64>,
    pub peak_rss_search_mib: Option<f64>,
    pub hybrid: Latency,
    /// Hybrid search's two store queries (full text and vector, 50 each, as hybrid asks)
    /// run concurrently, without fusion and fetching the hits: what hybrid waits on.
    pub hybrid_halves: Latency,
    /// The full-text half of hybrid search alone.
    pub text: Latency,
    pub vector_ann: Latency,
    /// Baseline: exact scan.
    pub vector_exact: Latency,
    pub recall_at_10: f64,
    /// How many candidates each half of hybrid search fetches for the top 10.
    pub hybrid_depth: usize,
    /// Hybrid's vector half (top `hybrid_depth`, the store's beam) against the exact top
    /// `hybrid_depth`.
    pub hybrid_vector_recall_at_50: f64,
    /// Hybrid's fused top 10 against the same fusion with an exact vector half.
    pub hybrid_top10_agreement: f64,
    /// The vector half again with a beam only as wide as the depth: its latency and the same
    /// two figures (what a narrower beam would save and cost).
    pub narrow_beam: Latency,
    pub narrow_beam_recall_at_50: f64,
    pub narrow_beam_top10_agreement: f64,
    pub queries: usize,
    /// This process's resident memory at the end, split into its own (heap, anonymous) and
    /// file pages mapped into it (SQLite: the shared vector file), MiB (Linux).
    pub rss_anon_mib: Option<f64>,
    pub rss_file_mib: Option<f64>,
    /// SQLite: seconds for a newly opened store's first approximate query.
    pub reopen_first_query_s: Option<f64>,
    /// SQLite: where that new handle's vectors came from: the shared vector file, the table.
    pub reopen_vectors_from_file: Option<usize>,
    pub reopen_vectors_from_table: Option<usize>,
    /// SQLite: embeddings whose keys that handle read from the indexes alone.
    pub reopen_keys_from_indexes: Option<usize>,
}

const SHARED: &[&str] = &[
    "the", "service", "request", "error", "retry", "cache", "user", "data", "test", "build",
    "deploy", "config", "latency", "queue", "worker", "database", "index", "search", "memory",
    "model", "agent", "task", "plan", "gate", "branch", "merge", "commit", "review", "spec",
];

/// A deterministic synthetic note about topic `t`.
fn text(rng: &SeededRng, topics: &[Vec<String>]) -> String {
    let t = rng.below(topics.len() as u64) as usize;
    let n = 10 + rng.below(14) as usize;
    (0..n)
        .map(|_| {
            if rng.next_f64() < 0.55 {
                topics[t][rng.below(topics[t].len() as u64) as usize].clone()
            } else {
                SHARED[rng.below(SHARED.len() as u64) as usize].to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bulk load's packets and their vectors, made [`PART`] at a time from fixed seeds (the
/// same rows each time), keeping the time spent making them.
struct Generated<'a> {
    rng: SeededRng,
    topics: Vec<Vec<String>>,
    clock: ManualClock,
    ids: SeededRng,
    embedder: HashEmbedder,
    total: usize,
    done: usize,
    making: Duration,
    progress: &'a (dyn Fn(&str, usize, usize) + Sync),
}

/// Packets per part of the bulk load.
const PART: usize = 10_000;

impl<'a> Generated<'a> {
    /// `topics`: the ones the queries are drawn from.
    fn new(
        total: usize,
        dims: usize,
        topics: &[Vec<String>],
        progress: &'a (dyn Fn(&str, usize, usize) + Sync),
    ) -> Self {
        Generated {
            rng: SeededRng::from_seed(6),
            topics: topics.to_vec(),
            clock: ManualClock::at_epoch_2026(),
            ids: SeededRng::from_seed(12),
            embedder: HashEmbedder::new(dims),
            total,
            done: 0,
            making: Duration::ZERO,
            progress,
        }
    }
}

#[async_trait::async_trait]
impl l9_store::WriteParts for Generated<'_> {
    fn size(&self) -> l9_store::LoadSize {
        l9_store::LoadSize { packets: self.total, embeddings: self.total }
    }

    async fn next_part(&mut self) -> l9_store::Result<Option<WriteBatch>> {
        let t = Instant::now();
        let n = PART.min(self.total - self.done);
        if n == 0 {
            return Ok(None);
        }
        let mut part = WriteBatch::default();
        for _ in 0..n {
            self.clock.advance(chrono::Duration::microseconds(1));
            let ids = l9_types::IdSource { clock: &self.clock, rng: &self.ids };
            let p = PacketDraft::new("bench.note")
                .text(text(&self.rng, &self.topics))
                .seal(&ids)
                .map_err(|e| l9_store::StoreError::Invalid(e.to_string()))?;
            part.embeddings.push((p.id, self.embedder.embed_one(p.text.as_deref().unwrap_or(""))));
            part.packets.push(p);
        }
        self.done += n;
        (self.progress)("bulk load (one write, in parts)", self.done, self.total);
        self.making += t.elapsed();
        Ok(Some(part))
    }
}

fn topics(rng: &SeededRng) -> Vec<Vec<String>> {
    const SYL: &[&str] =
        &["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "qu", "pra", "sto", "gle", "dri"];
    (0..40)
        .map(|_| {
            (0..30)
                .map(|_| {
                    let k = 2 + rng.below(2);
                    (0..k).map(|_| SYL[rng.below(SYL.len() as u64) as usize]).collect::<String>()
                })
                .collect()
        })
        .collect()
}

fn percentiles(mut xs: Vec<Duration>) -> Latency {
    xs.sort();
    let at = |q: f64| {
        if xs.is_empty() {
            return 0.0;
        }
        let i = ((xs.len() as f64 - 1.0) * q).round() as usize;
        xs[i].as_secs_f64() * 1000.0
    };
    Latency { p50_ms: at(0.50), p95_ms: at(0.95) }
}

/// This process's peak resident set (MiB) since start or the last [`reset_peak_rss`].
pub fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// This process's resident memory now (MiB): (anonymous, file-backed) (Linux).
pub fn rss_split_mib() -> (Option<f64>, Option<f64>) {
    (status_mib("RssAnon:"), status_mib("RssFile:"))
}

/// A `kB` field of `/proc/self/status`, in MiB.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Starts a new peak-RSS window (Linux: `5` to `/proc/self/clear_refs`).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Runs the benchmark on `store` (fresh and empty, 384 dims), reporting progress. `floor`
/// is the same PostgreSQL store, for the `COPY` floor.
pub async fn memory(
    store: Arc<dyn Store>,
    floor: Option<&l9_store_postgres::PgStore>,
    packets: usize,
    queries: usize,
    progress: &(dyn Fn(&str, usize, usize) + Sync),
) -> Result<MemoryBenchReport> {
    let backend = format!("{:?}", store.backend()).to_lowercase();
    let dims = store.dims();
    let mem = MemoryService::open(
        store.clone(),
        Arc::new(HashEmbedder::new(dims)),
        Arc::new(ManualClock::at_epoch_2026()),
        Arc::new(SeededRng::from_seed(11)),
    )
    .await?;
    let rng = SeededRng::from_seed(5);
    let topics = topics(&rng);

    // Baseline: one transaction per packet.
    let baseline_packets = (packets / 50).clamp(100, 2000);
    let t0 = Instant::now();
    for i in 0..baseline_packets {
        mem.put(PacketDraft::new("bench.baseline").text(text(&rng, &topics)), vec![]).await?;
        if i % 100 == 0 {
            progress("baseline ingest", i, baseline_packets);
        }
    }
    let baseline_rate = baseline_packets as f64 / t0.elapsed().as_secs_f64();

    // The bulk load: one atomic write of every packet, handed over a part at a time (as
    // `l9 memory import` does), vectors computed by the source; the time the source takes
    // to make its parts is not the store's and is taken off.
    let embedder = HashEmbedder::new(dims);
    progress("bulk load (one write, in parts)", 0, packets);
    reset_peak_rss();
    let mut load = Generated::new(packets, dims, &topics, progress);
    let t = Instant::now();
    let report = store.write_parts(&mut load).await?;
    let write_s = (t.elapsed() - load.making).as_secs_f64();
    // A user's first query right after the load: on SQLite it runs while the index is
    // still being built (graph so far + exact scan of the rest), and must not wait for it.
    let t = Instant::now();
    let v0 = embedder.embed_one(&text(&rng, &topics));
    store
        .vector_search(&VectorQuery {
            vector: v0,
            filter: Default::default(),
            k: 10,
            exact: false,
            beam: None,
        })
        .await?;
    let first_query_s = t.elapsed().as_secs_f64();
    // PostgreSQL rebuilds its index inside the write; SQLite builds in the background.
    let (load_s, index_build_s) = match report.ann_index_build_ms {
        Some(ms) => {
            let b = ms as f64 / 1000.0;
            ((write_s - b).max(1e-9), b)
        }
        None => {
            let t = Instant::now();
            store.wait_for_index().await?;
            (write_s, t.elapsed().as_secs_f64())
        }
    };
    let peak_rss_ingest_mib = peak_rss_mib();
    let ingest_rate = packets as f64 / load_s;
    let searchable_rate = packets as f64 / (load_s + index_build_s);

    let (mut floor_copy, mut floor_build) = (None, None);
    if let Some(pg) = floor {
        progress("floor: COPY of the same rows", 0, packets);
        // The same rows again, twice (packets, then vectors): the source is seeded.
        let mut rows = Generated::new(packets, dims, &topics, progress);
        let mut again = Generated::new(packets, dims, &topics, progress);
        let (load, build) =
            l9_store_postgres::baseline::copy_floor(pg, &mut rows, &mut again).await?;
        let load = load.saturating_sub(rows.making + again.making);
        floor_copy = Some(packets as f64 / load.as_secs_f64().max(1e-9));
        floor_build = Some(build.as_secs_f64());
    }

    // Further ingest into the loaded store, in batches of 1,000.
    let incremental = (packets / 10).clamp(1, 10_000);
    let mut incremental_time = Duration::ZERO;
    let mut done = 0;
    while done < incremental {
        let n = 1000.min(incremental - done);
        let items: Vec<Ingest> = (0..n)
            .map(|_| {
                let p = PacketDraft::new("bench.more").text(text(&rng, &topics)).seal(&mem.ids());
                p.map(|packet| Ingest { packet, blobs: vec![] })
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(l9_memory::MemoryError::from)?;
        let t = Instant::now();
        mem.ingest(items).await?;
        incremental_time += t.elapsed();
        done += n;
        progress("ingest, batches of 1000", done, incremental);
    }
    let incremental_rate = incremental as f64 / incremental_time.as_secs_f64().max(1e-9);
    if floor.is_none() {
        store.wait_for_index().await?;
    }

    let query_texts: Vec<String> = (0..queries).map(|_| text(&rng, &topics)).collect();

    reset_peak_rss();

    // Each kind of query runs as its own phase, so one does not evict another's working
    // set (an exact scan reads the whole table and would flush pgvector's index pages).
    let vectors: Vec<Vec<f32>> = query_texts.iter().map(|q| embedder.embed_one(q)).collect();
    let vq = |v: &Vec<f32>, exact| VectorQuery {
        vector: v.clone(),
        filter: Default::default(),
        k: 10,
        exact,
        beam: None,
    };
    let mut ann = Vec::new();
    let mut approx_ids = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        let t = Instant::now();
        let hits = store.vector_search(&vq(v, false)).await?;
        ann.push(t.elapsed());
        approx_ids.push(hits.into_iter().map(|h| h.id).collect::<Vec<_>>());
        if i % 20 == 0 {
            progress("vector search", i, queries);
        }
    }
    let mut text_only = Vec::new();
    for qt in &query_texts {
        let t = Instant::now();
        store
            .text_search(&l9_store::TextQuery {
                query: qt.clone(),
                filter: Default::default(),
                k: 50,
            })
            .await?;
        text_only.push(t.elapsed());
    }
    // Hybrid search below asks for the top 10.
    let depth = hybrid_depth(10);
    let mut halves = Vec::new();
    let mut half_ids = Vec::new();
    for (qt, v) in query_texts.iter().zip(&vectors) {
        let t = Instant::now();
        let tq = l9_store::TextQuery { query: qt.clone(), filter: Default::default(), k: depth };
        // As hybrid search asks: its depth, with the store's beam.
        let half = VectorQuery { k: depth, ..vq(v, false) };
        let (text, near) = tokio::try_join!(store.text_search(&tq), store.vector_search(&half))?;
        halves.push(t.elapsed());
        half_ids.push((
            text.into_iter().map(|h| h.id).collect::<Vec<_>>(),
            near.into_iter().map(|h| h.id).collect::<Vec<_>>(),
        ));
    }
    // The same vector half with a beam only as wide as the depth.
    let (mut narrow, mut narrow_ids) = (Vec::new(), Vec::new());
    for v in &vectors {
        let t = Instant::now();
        let q = VectorQuery { k: depth, beam: Some(depth), ..vq(v, false) };
        let near = store.vector_search(&q).await?;
        narrow.push(t.elapsed());
        narrow_ids.push(near.into_iter().map(|h| h.id).collect::<Vec<_>>());
    }
    let mut hybrid = Vec::new();
    for (i, qt) in query_texts.iter().enumerate() {
        let t = Instant::now();
        mem.search(&SearchQuery {
            text: qt.clone(),
            filter: Default::default(),
            k: 10,
            mode: SearchMode::Hybrid,
        })
        .await?;
        hybrid.push(t.elapsed());
        if i % 20 == 0 {
            progress("hybrid search", i, queries);
        }
    }
    let mut exact = Vec::new();
    let (mut hits, mut possible) = (0usize, 0usize);
    let (mut half_hits, mut half_possible) = (0usize, 0usize);
    let (mut fused_same, mut fused_possible) = (0usize, 0usize);
    let (mut narrow_hits, mut narrow_same) = (0usize, 0usize);
    for (((v, approx), (text, near)), slim) in
        vectors.iter().zip(&approx_ids).zip(&half_ids).zip(&narrow_ids)
    {
        let t = Instant::now();
        let truth: Vec<PacketId> = store
            .vector_search(&VectorQuery { k: depth, ..vq(v, true) })
            .await?
            .into_iter()
            .map(|h| h.id)
            .collect();
        exact.push(t.elapsed());
        let top10 = &truth[..truth.len().min(10)];
        possible += top10.len();
        hits += approx.iter().filter(|a| top10.contains(a)).count();
        half_possible += truth.len();
        half_hits += near.iter().filter(|a| truth.contains(a)).count();
        // Hybrid's top 10 as fused from the approximate half, against the same fusion of
        // the exact one.
        let top = |vector: &[PacketId]| -> Vec<PacketId> {
            rrf_fuse(&[text.clone(), vector.to_vec()])
                .into_iter()
                .take(10)
                .map(|(id, _)| id)
                .collect()
        };
        let want = top(&truth);
        fused_possible += want.len();
        fused_same += top(near).iter().filter(|id| want.contains(id)).count();
        narrow_hits += slim.iter().filter(|a| truth.contains(a)).count();
        narrow_same += top(slim).iter().filter(|id| want.contains(id)).count();
    }
    if possible == 0 {
        return Err(BenchError::Failed("benchmark produced no vectors".into()));
    }
    let (rss_anon_mib, rss_file_mib) = rss_split_mib();
    Ok(MemoryBenchReport {
        backend,
        packets,
        dims,
        ingest_packets_per_s: ingest_rate,
        index_build_s,
        searchable_packets_per_s: searchable_rate,
        floor_copy_packets_per_s: floor_copy,
        floor_index_build_s: floor_build,
        incremental_packets: incremental,
        incremental_packets_per_s: incremental_rate,
        baseline_single_packets_per_s: baseline_rate,
        baseline_packets,
        first_query_s,
        peak_rss_ingest_mib,
        peak_rss_search_mib: peak_rss_mib(),
        hybrid: percentiles(hybrid),
        hybrid_halves: percentiles(halves),
        text: percentiles(text_only),
        vector_ann: percentiles(ann),
        vector_exact: percentiles(exact),
        recall_at_10: hits as f64 / possible as f64,
        hybrid_depth: depth,
        hybrid_vector_recall_at_50: half_hits as f64 / half_possible.max(1) as f64,
        hybrid_top10_agreement: fused_same as f64 / fused_possible.max(1) as f64,
        narrow_beam: percentiles(narrow),
        narrow_beam_recall_at_50: narrow_hits as f64 / half_possible.max(1) as f64,
        narrow_beam_top10_agreement: narrow_same as f64 / fused_possible.max(1) as f64,
        queries,
        rss_anon_mib,
        rss_file_mib,
        reopen_first_query_s: None,
        reopen_vectors_from_file: None,
        reopen_vectors_from_table: None,
        reopen_keys_from_indexes: None,
    })
}
