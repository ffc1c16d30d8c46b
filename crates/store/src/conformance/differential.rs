//! The differential test: the same random operation sequence fed to two backends, every
//! answer compared.

use l9_types::{PacketDraft, PacketEnvelope, PacketId, RunId};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::fixtures::{DIMS, Fx};
use crate::{Direction, PacketFilter, Page, Store, TextQuery, VectorQuery, WriteBatch};

const WORDS: &[&str] = &[
    "cache", "queue", "lease", "retry", "graph", "vector", "index", "merge", "branch", "spec",
    "gate", "test", "commit", "worker", "budget", "timer",
];

/// Runs `ops` random operations against `a` and `b` (fresh stores of [`DIMS`] dims) and
/// panics at the first answer that differs. Text-search results are compared as sets
/// (ranking scales differ by design); everything else must be equal.
pub async fn differential(a: &dyn Store, b: &dyn Store, seed: u64, ops: usize) {
    let fx = Fx::new(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let runs: Vec<RunId> = (0..3).map(|_| RunId(fx.uuid())).collect();
    let mut stored: Vec<PacketEnvelope> = Vec::new();
    // How many comparisons had something to compare: the test must not pass vacuously.
    let (mut writes_ok, mut writes_err, mut text_hits, mut vector_hits, mut lineage_hits) =
        (0, 0, 0, 0, 0);
    for op in 0..ops {
        let ctx = format!("seed {seed}, op {op}");
        match rng.random_range(0..10u32) {
            0..=3 => {
                // A batch of 1-4 packets with random parents, some with embeddings; one in
                // ten batches carries an orphan and must fail on both.
                let mut batch = WriteBatch::default();
                let n = rng.random_range(1..=4);
                let mut local: Vec<PacketId> = Vec::new();
                for _ in 0..n {
                    let words: Vec<&str> = (0..rng.random_range(1..6))
                        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                        .collect();
                    let kind = ["note", "decision", "tool.result"][rng.random_range(0..3)];
                    let mut d = PacketDraft::new(kind).text(words.join(" "));
                    d = d.run(runs[rng.random_range(0..runs.len())]);
                    d = d.actor(["alice", "bob"][rng.random_range(0..2)]);
                    for _ in 0..rng.random_range(0..3) {
                        let pool = stored.len() + local.len();
                        if pool > 0 {
                            let i = rng.random_range(0..pool);
                            let parent = if i < stored.len() {
                                stored[i].id
                            } else {
                                local[i - stored.len()]
                            };
                            d = d.parent(parent);
                        }
                    }
                    if rng.random_range(0..10) == 0 {
                        d = d.parent(fx.note("orphan parent").id);
                    }
                    let p = fx.seal(d);
                    if rng.random_range(0..3) > 0 {
                        let v: Vec<f32> =
                            (0..DIMS).map(|_| rng.random_range(-1.0..1.0f32)).collect();
                        batch.embeddings.push((p.id, v));
                    }
                    local.push(p.id);
                    batch.packets.push(p);
                }
                let ra = a.write(&batch).await;
                let rb = b.write(&batch).await;
                match (&ra, &rb) {
                    (Ok(x), Ok(y)) => {
                        assert_eq!(x, y, "{ctx}: write report");
                        stored.extend(batch.packets.iter().cloned());
                        writes_ok += 1;
                    }
                    (Err(x), Err(y)) => {
                        assert_eq!(x.to_string(), y.to_string(), "{ctx}: write error");
                        writes_err += 1;
                    }
                    _ => panic!("{ctx}: write diverged: {ra:?} vs {rb:?}"),
                }
            }
            4 => {
                // Re-put a stored packet: idempotent on both.
                if let Some(p) = pick(&mut rng, &stored) {
                    let batch = WriteBatch { packets: vec![p.clone()], ..Default::default() };
                    assert_eq!(
                        a.write(&batch).await.unwrap(),
                        b.write(&batch).await.unwrap(),
                        "{ctx}"
                    );
                }
            }
            5 => {
                let filter = random_filter(&mut rng, &runs, &stored);
                let limit = rng.random_range(1..8);
                let pa = a.list_packets(&filter, &Page { after: None, limit }).await.unwrap();
                let pb = b.list_packets(&filter, &Page { after: None, limit }).await.unwrap();
                assert_eq!(pa, pb, "{ctx}: list {filter:?}");
                assert_eq!(
                    a.count_packets(&filter).await.unwrap(),
                    b.count_packets(&filter).await.unwrap(),
                    "{ctx}"
                );
            }
            6 => {
                if let Some(p) = pick(&mut rng, &stored) {
                    let dir =
                        if rng.random_range(0..2) == 0 { Direction::Up } else { Direction::Down };
                    let depth = rng.random_range(0..5);
                    let la = a.lineage(p.id, dir, depth).await.unwrap();
                    assert_eq!(la, b.lineage(p.id, dir, depth).await.unwrap(), "{ctx}: lineage");
                    lineage_hits += usize::from(!la.is_empty());
                }
            }
            7 => {
                let q = format!(
                    "{} {}",
                    WORDS[rng.random_range(0..WORDS.len())],
                    WORDS[rng.random_range(0..WORDS.len())]
                );
                let filter = random_filter(&mut rng, &runs, &stored);
                let tq = TextQuery { query: q, filter, k: 1000 };
                let mut ha: Vec<PacketId> =
                    a.text_search(&tq).await.unwrap().iter().map(|h| h.id).collect();
                let mut hb: Vec<PacketId> =
                    b.text_search(&tq).await.unwrap().iter().map(|h| h.id).collect();
                ha.sort();
                hb.sort();
                assert_eq!(ha, hb, "{ctx}: text {tq:?}");
                text_hits += usize::from(!ha.is_empty());
            }
            8 => {
                let v: Vec<f32> = (0..DIMS).map(|_| rng.random_range(-1.0..1.0f32)).collect();
                let filter = random_filter(&mut rng, &runs, &stored);
                let vq = VectorQuery {
                    vector: v,
                    filter,
                    k: rng.random_range(1..10),
                    exact: true,
                    beam: None,
                };
                let ha = a.vector_search(&vq).await.unwrap();
                let hb = b.vector_search(&vq).await.unwrap();
                assert_eq!(ha.len(), hb.len(), "{ctx}: vector {vq:?}");
                vector_hits += usize::from(!ha.is_empty());
                for (x, y) in ha.iter().zip(&hb) {
                    assert_eq!(x.id, y.id, "{ctx}: vector order");
                    assert!((x.distance - y.distance).abs() < 1e-4, "{ctx}: distance {x:?} {y:?}");
                }
            }
            _ => {
                if let Some(p) = pick(&mut rng, &stored) {
                    assert_eq!(
                        a.get_packet(p.id).await.unwrap(),
                        b.get_packet(p.id).await.unwrap(),
                        "{ctx}"
                    );
                }
            }
        }
    }
    assert!(
        writes_ok > 10 && writes_err > 0 && text_hits > 5 && vector_hits > 5 && lineage_hits > 5,
        "seed {seed}: too few non-trivial comparisons: writes {writes_ok} ok / {writes_err} refused, \
         text {text_hits}, vector {vector_hits}, lineage {lineage_hits}"
    );
}

fn pick<'a>(rng: &mut ChaCha8Rng, v: &'a [PacketEnvelope]) -> Option<&'a PacketEnvelope> {
    if v.is_empty() { None } else { Some(&v[rng.random_range(0..v.len())]) }
}

fn random_filter(rng: &mut ChaCha8Rng, runs: &[RunId], stored: &[PacketEnvelope]) -> PacketFilter {
    let mut f = PacketFilter::default();
    if rng.random_range(0..3) == 0 {
        f.kinds = vec![["note", "decision", "tool.result"][rng.random_range(0..3)].to_owned()];
    }
    if rng.random_range(0..3) == 0 {
        f.run = Some(runs[rng.random_range(0..runs.len())]);
    }
    if rng.random_range(0..4) == 0 {
        f.actor = Some("bob".into());
    }
    if rng.random_range(0..4) == 0 && !stored.is_empty() {
        f.since = Some(stored[rng.random_range(0..stored.len())].at);
    }
    f
}
