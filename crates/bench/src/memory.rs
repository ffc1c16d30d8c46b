//! `l9 bench memory`: ingest throughput, hybrid/vector search latency and ANN recall on a
//! fresh store, each next to a baseline run in the same process:
//! * ingest in batches vs. one transaction per packet (the naive path);
//! * approximate (HNSW) vector search vs. the exact scan of the same store, whose answers
//!   also define recall@10.
//!
//! The corpus is synthetic but structured: texts drawn from 40 topics with shared and
//! topic-specific vocabulary, so embeddings cluster the way real notes do. Seeded.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition

use std::sync::Arc;
use std::time::{Duration, Instant};

use l9_memory::{HashEmbedder, Ingest, MemoryService, SearchMode, SearchQuery};
use l9_store::{Store, VectorQuery};
use l9_types::{ManualClock, PacketDraft, SeededRng};
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
    pub ingest_packets_per_s: f64,
    /// Baseline: one transaction per packet, measured on `baseline_packets`.
    pub baseline_single_packets_per_s: f64,
    pub baseline_packets: usize,
    /// Time the first approximate search spent building the in-process index (SQLite).
    pub index_build_s: f64,
    pub hybrid: Latency,
    /// The full-text half of hybrid search alone.
    pub text: Latency,
    pub vector_ann: Latency,
    /// Baseline: exact scan.
    pub vector_exact: Latency,
    pub recall_at_10: f64,
    pub queries: usize,
    /// SQLite: seconds for a newly opened store's first approximate query.
    pub reopen_first_query_s: Option<f64>,
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

/// Runs the benchmark on `store` (fresh and empty, 384 dims), reporting progress.
pub async fn memory(
    store: Arc<dyn Store>,
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

    // Batched ingest.
    let mut ingest_time = Duration::ZERO;
    let mut done = 0;
    while done < packets {
        let n = 1000.min(packets - done);
        let items: Vec<Ingest> = (0..n)
            .map(|_| {
                let p = PacketDraft::new("bench.note").text(text(&rng, &topics)).seal(&mem.ids());
                p.map(|packet| Ingest { packet, blobs: vec![] })
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(l9_memory::MemoryError::from)?;
        let t = Instant::now();
        mem.ingest(items).await?;
        ingest_time += t.elapsed();
        done += n;
        progress("ingest", done, packets);
    }
    let ingest_rate = packets as f64 / ingest_time.as_secs_f64();

    let query_texts: Vec<String> = (0..queries).map(|_| text(&rng, &topics)).collect();
    let embedder = HashEmbedder::new(dims);

    // First approximate query: builds the index where the backend keeps one in process.
    let t = Instant::now();
    let v0 = embedder.embed_one(&query_texts[0]);
    store
        .vector_search(&VectorQuery { vector: v0, filter: Default::default(), k: 10, exact: false })
        .await?;
    let index_build_s = t.elapsed().as_secs_f64();

    // Each kind of query runs as its own phase, so one does not evict another's working
    // set (an exact scan reads the whole table and would flush pgvector's index pages).
    let vectors: Vec<Vec<f32>> = query_texts.iter().map(|q| embedder.embed_one(q)).collect();
    let vq = |v: &Vec<f32>, exact| VectorQuery {
        vector: v.clone(),
        filter: Default::default(),
        k: 10,
        exact,
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
    for (v, approx) in vectors.iter().zip(&approx_ids) {
        let t = Instant::now();
        let truth = store.vector_search(&vq(v, true)).await?;
        exact.push(t.elapsed());
        possible += truth.len();
        hits += approx.iter().filter(|a| truth.iter().any(|t| t.id == **a)).count();
    }
    if possible == 0 {
        return Err(BenchError::Failed("benchmark produced no vectors".into()));
    }
    Ok(MemoryBenchReport {
        backend,
        packets,
        dims,
        ingest_packets_per_s: ingest_rate,
        baseline_single_packets_per_s: baseline_rate,
        baseline_packets,
        index_build_s,
        hybrid: percentiles(hybrid),
        text: percentiles(text_only),
        vector_ann: percentiles(ann),
        vector_exact: percentiles(exact),
        recall_at_10: hits as f64 / possible as f64,
        queries,
        reopen_first_query_s: None,
    })
}
