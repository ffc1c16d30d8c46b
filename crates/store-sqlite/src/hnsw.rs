//! A small, deterministic HNSW (Malkov & Yashunin 2016) over unit vectors.
//!
//! Deterministic by construction: inserts in a fixed order, levels drawn from a hash of the
//! caller's key (not from a random generator), ties broken by node number. Distances are
//! cosine distances of pre-normalised vectors (`1 - dot`).
//!
//! Batches insert on several threads without locks: each node of a batch searches the
//! graph as it was before the batch (read-only, in parallel), then the nodes are linked
//! one by one in order, each also considering the batch's earlier nodes by exact distance.
//! The graph depends on the batch sizes, never on the thread count or timing.
//!
//! Nodes are `u32` slots into a vector array owned by the caller.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Dot product. Where the CPU has wider vector instructions than the baseline (AVX2 on
/// x86-64, detected at run time by `pulp`, which keeps the `unsafe` of calling code compiled
/// for them) the same code runs compiled for them, ~1.5× faster; the lanes and the order of
/// the sums are the same on every path, so the result is the same to the bit on any machine
/// (no fused multiply-add: Rust does not contract `a * b + c`).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    struct Dot<'a>(&'a [f32], &'a [f32]);
    impl pulp::WithSimd for Dot<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) -> f32 {
            dot_lanes(self.0, self.1)
        }
    }
    pulp::Arch::new().dispatch(Dot(a, b))
}

/// Eight running sums, written so the compiler vectorises them.
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Cand {
    dist: f32,
    node: u32,
}

impl Eq for Cand {}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist).then(self.node.cmp(&other.node))
    }
}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The index of the farthest link in `list` (largest distance, then largest node).
fn farthest(list: &[(u32, f32)]) -> Option<usize> {
    list.iter()
        .enumerate()
        .max_by(|a, b| a.1.1.total_cmp(&b.1.1).then(a.1.0.cmp(&b.1.0)))
        .map(|(i, _)| i)
}

/// Where the graph's vectors live: node `n`'s unit vector is `vec(n)`.
pub(crate) trait Vecs: Sync {
    fn vec(&self, node: u32) -> &[f32];
}

/// Vectors in one flat array, `dims` numbers each.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flat<'a> {
    pub data: &'a [f32],
    pub dims: usize,
}

#[cfg(test)]
impl Vecs for Flat<'_> {
    fn vec(&self, node: u32) -> &[f32] {
        let i = node as usize * self.dims;
        &self.data[i..i + self.dims]
    }
}

/// The graph. Vectors live outside it (`data` is passed to each call).
#[derive(Debug)]
pub(crate) struct Hnsw {
    m: usize,
    m0: usize,
    ef_construction: usize,
    /// Level 0, where every node is: `m0` slots per node, node `n`'s neighbours (with their
    /// distance to `n`) in `base[n * m0..][..base_len[n]]`. One allocation for the whole
    /// level instead of one per node (a million nodes: ~0.3 GB instead of ~0.5, and a
    /// snapshot read without a million allocations).
    base: Vec<(u32, f32)>,
    base_len: Vec<u16>,
    /// The levels above: `upper[n][l - 1]` for `l` in `1..=level(n)` (empty for most nodes).
    upper: Vec<Vec<Vec<(u32, f32)>>>,
    entry: Option<u32>,
    max_level: usize,
    visited: Visited,
}

/// Visit marks for one search at a time (a stamp per node, bumped per search).
#[derive(Debug, Default)]
pub(crate) struct Visited {
    marks: Vec<u32>,
    stamp: u32,
}

impl Visited {
    fn next(&mut self, nodes: usize) -> u32 {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.iter_mut().for_each(|v| *v = 0);
            self.stamp = 1;
        }
        self.stamp
    }
}

pub(crate) const MAX_LEVEL: usize = 16;

impl Hnsw {
    pub(crate) fn new(m: usize, ef_construction: usize) -> Self {
        Hnsw {
            m,
            m0: m * 2,
            ef_construction,
            base: Vec::new(),
            base_len: Vec::new(),
            upper: Vec::new(),
            entry: None,
            max_level: 0,
            visited: Visited::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.base_len.len()
    }

    /// Node `node`'s neighbours at `level`, if it is on that level.
    fn neighbours_at(&self, node: u32, level: usize) -> Option<&[(u32, f32)]> {
        let n = node as usize;
        if level == 0 {
            let at = n * self.m0;
            Some(&self.base[at..at + self.base_len[n] as usize])
        } else {
            self.upper[n].get(level - 1).map(Vec::as_slice)
        }
    }

    /// How many levels node `node` is on (1 + its level).
    fn levels_of(&self, node: usize) -> usize {
        1 + self.upper[node].len()
    }

    pub(crate) fn m_and_ef(&self) -> (usize, usize) {
        (self.m, self.ef_construction)
    }

    /// The level of a node whose key hashes to `h` (uniform in u64).
    pub(crate) fn level_for(&self, h: u64) -> usize {
        let u = ((h >> 11) as f64 + 1.0) / ((1u64 << 53) as f64 + 1.0); // (0, 1]
        let ml = 1.0 / (self.m as f64).ln();
        ((-u.ln() * ml).floor() as usize).min(MAX_LEVEL)
    }

    fn dist<V: Vecs + ?Sized>(data: &V, q: &[f32], node: u32) -> f32 {
        1.0 - dot(q, data.vec(node))
    }

    /// Beam search on one level. Returns up to `ef` accepted nodes, nearest first.
    #[allow(clippy::too_many_arguments)] // the hot loop's inputs, kept as plain values
    fn search_layer<V: Vecs + ?Sized>(
        &self,
        vis: &mut Visited,
        data: &V,
        q: &[f32],
        entries: &[Cand],
        ef: usize,
        level: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<Cand> {
        let stamp = vis.next(self.len());
        let mut candidates: BinaryHeap<Reverse<Cand>> = BinaryHeap::new();
        let mut results: BinaryHeap<Cand> = BinaryHeap::new();
        for &e in entries {
            vis.marks[e.node as usize] = stamp;
            candidates.push(Reverse(e));
            if accept(e.node) {
                results.push(e);
            }
        }
        while let Some(Reverse(c)) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| c.dist > w.dist) {
                break;
            }
            let Some(neigh) = self.neighbours_at(c.node, level) else { continue };
            for &(n, _) in neigh {
                if vis.marks[n as usize] == stamp {
                    continue;
                }
                vis.marks[n as usize] = stamp;
                let d = Self::dist(data, q, n);
                let worst = results.peek().map(|w| w.dist);
                if results.len() < ef || worst.is_some_and(|w| d < w) {
                    let cand = Cand { dist: d, node: n };
                    candidates.push(Reverse(cand));
                    if accept(n) {
                        results.push(cand);
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        let mut out = results.into_vec();
        out.sort();
        out
    }

    /// The neighbour-selection heuristic: keep a candidate only if it is closer to the
    /// base than to every neighbour kept so far (spreads links across directions).
    fn select<V: Vecs + ?Sized>(data: &V, sorted: &[Cand], m: usize) -> Vec<(u32, f32)> {
        let mut kept: Vec<Cand> = Vec::with_capacity(m);
        for &c in sorted {
            if kept.len() >= m {
                break;
            }
            let cv = data.vec(c.node);
            if kept.iter().all(|k| 1.0 - dot(cv, data.vec(k.node)) > c.dist) {
                kept.push(c);
            }
        }
        // Top up with the nearest rejected ones so sparse regions stay connected.
        if kept.len() < m {
            for &c in sorted {
                if kept.len() >= m {
                    break;
                }
                if !kept.iter().any(|k| k.node == c.node) {
                    kept.push(c);
                }
            }
        }
        kept.into_iter().map(|c| (c.node, c.dist)).collect()
    }

    /// Inserts the next node (its number is `self.len()`), whose vector is already in
    /// `data`, at `level`.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, data: &[f32], dims: usize, level: usize) {
        self.insert_batch(&Flat { data, dims }, &[level], 1);
    }

    /// Inserts the next `levels.len()` nodes (numbered from `self.len()`, vectors already
    /// in `data`), at the given levels, on up to `threads` threads: each node's neighbours
    /// are chosen in parallel against the graph as it was before the batch plus the batch's
    /// earlier nodes; then the nodes and their reverse links are added in order.
    pub(crate) fn insert_batch<V: Vecs + ?Sized>(
        &mut self,
        data: &V,
        levels: &[usize],
        threads: usize,
    ) {
        let first = self.len();
        let frozen: &Hnsw = self;
        let plan = |vis: &mut Visited, i: usize| frozen.neighbours(vis, data, first, levels, i);
        let chosen: Vec<Vec<Vec<(u32, f32)>>> = if levels.len() < 2 || threads < 2 {
            let mut vis = Visited::default();
            (0..levels.len()).map(|i| plan(&mut vis, i)).collect()
        } else {
            let per = levels.len().div_ceil(threads);
            std::thread::scope(|s| {
                let parts: Vec<_> = (0..levels.len())
                    .step_by(per)
                    .map(|from| {
                        let to = (from + per).min(levels.len());
                        s.spawn(move || {
                            let mut vis = Visited::default();
                            (from..to).map(|i| plan(&mut vis, i)).collect::<Vec<_>>()
                        })
                    })
                    .collect();
                // A panic in a search thread is a bug: re-raise it here rather than
                // lose nodes (the build would insert the batch again and again).
                parts
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            })
        };
        for (i, (neighbours, &level)) in chosen.into_iter().zip(levels).enumerate() {
            self.link((first + i) as u32, level, neighbours);
        }
    }

    /// The neighbours batch node `i` (number `first + i`) links to at each of its levels:
    /// candidates from the graph as it was before the batch and from the batch's earlier
    /// nodes (exact distances), narrowed by the selection heuristic.
    fn neighbours<V: Vecs + ?Sized>(
        &self,
        vis: &mut Visited,
        data: &V,
        first: usize,
        levels: &[usize],
        i: usize,
    ) -> Vec<Vec<(u32, f32)>> {
        let node = (first + i) as u32;
        let level = levels[i];
        let q = data.vec(node);
        let mut found: Vec<Vec<Cand>> = vec![Vec::new(); level + 1];
        if let Some(entry) = self.entry {
            let all = |_: u32| true;
            let mut ep = vec![Cand { dist: Self::dist(data, q, entry), node: entry }];
            for l in (level + 1..=self.max_level).rev() {
                ep = self.search_layer(vis, data, q, &ep, 1, l, &all);
            }
            for l in (0..=level.min(self.max_level)).rev() {
                let f = self.search_layer(vis, data, q, &ep, self.ef_construction, l, &all);
                found[l] = f.clone();
                ep = f;
            }
        }
        for (j, &lj) in levels[..i].iter().enumerate() {
            let other = (first + j) as u32;
            let d = 1.0 - dot(q, data.vec(other));
            for f in found.iter_mut().take(lj.min(level) + 1) {
                f.push(Cand { dist: d, node: other });
            }
        }
        found
            .into_iter()
            .map(|mut cands| {
                cands.sort();
                cands.dedup_by_key(|c| c.node);
                cands.truncate(self.ef_construction);
                Self::select(data, &cands, self.m)
            })
            .collect()
    }

    /// Adds `node` at `level` with its chosen neighbours per level, and the reverse links.
    fn link(&mut self, node: u32, level: usize, chosen: Vec<Vec<(u32, f32)>>) {
        debug_assert_eq!(node as usize, self.len());
        self.base.resize(self.base.len() + self.m0, (0, 0.0));
        self.base_len.push(0);
        self.upper.push(vec![Vec::new(); level]);
        if self.entry.is_none() {
            self.entry = Some(node);
            self.max_level = level;
            return;
        }
        for (l, neighbours) in chosen.into_iter().enumerate() {
            for &(n, d) in &neighbours {
                if l == 0 {
                    self.add_base_link(n, node, d);
                    continue;
                }
                let list = &mut self.upper[n as usize][l - 1];
                list.push((node, d));
                if list.len() > self.m
                    && let Some(i) = farthest(list)
                {
                    list.swap_remove(i);
                }
            }
            if l == 0 {
                let at = node as usize * self.m0;
                self.base[at..at + neighbours.len()].copy_from_slice(&neighbours);
                self.base_len[node as usize] = neighbours.len() as u16;
            } else {
                self.upper[node as usize][l - 1] = neighbours;
            }
        }
        if level > self.max_level {
            self.max_level = level;
            self.entry = Some(node);
        }
    }

    /// Adds the link `n → to` at level 0; a full list drops its farthest link (the new one,
    /// if that is it). Distances are stored, so this costs no dot products (re-running the
    /// heuristic here dominated build time). Same choice, and same order, as pushing and then
    /// `swap_remove`-ing the farthest.
    fn add_base_link(&mut self, n: u32, to: u32, d: f32) {
        let (at, len) = (n as usize * self.m0, self.base_len[n as usize] as usize);
        if len < self.m0 {
            self.base[at + len] = (to, d);
            self.base_len[n as usize] += 1;
            return;
        }
        let list = &mut self.base[at..at + len];
        let worst = farthest(list).filter(|&i| {
            let w = list[i];
            w.1.total_cmp(&d).then(w.0.cmp(&to)) == Ordering::Greater
        });
        if let Some(i) = worst {
            list[i] = (to, d);
        }
    }

    /// The parameters a snapshot must match to be reused.
    pub(crate) fn params(&self) -> String {
        format!("m={};ef_construction={};v=1", self.m, self.ef_construction)
    }

    /// Serialises the graph: `[entry u32][max_level u8]` then per node `[levels u8]` and
    /// per level `[n u16]` + `n × (node u32, dist f32)`, little-endian.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() * (2 + self.m0 * 8));
        out.extend_from_slice(&self.entry.unwrap_or(u32::MAX).to_le_bytes());
        out.push(self.max_level as u8);
        for node in 0..self.len() {
            let levels = self.levels_of(node);
            out.push(levels as u8);
            for l in 0..levels {
                let list = self.neighbours_at(node as u32, l).unwrap_or(&[]);
                out.extend_from_slice(&(list.len() as u16).to_le_bytes());
                for (n, d) in list {
                    out.extend_from_slice(&n.to_le_bytes());
                    out.extend_from_slice(&d.to_le_bytes());
                }
            }
        }
        out
    }

    /// Restores a graph of exactly `nodes` nodes from [`Hnsw::to_bytes`] output, or `None`
    /// when the bytes are not a well-formed graph of that size (then the caller rebuilds).
    pub(crate) fn from_bytes(
        m: usize,
        ef_construction: usize,
        nodes: usize,
        b: &[u8],
    ) -> Option<Self> {
        let mut h = Hnsw::new(m, ef_construction);
        let mut i = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = b.get(i..i + n)?;
            i += n;
            Some(s)
        };
        let entry = u32::from_le_bytes(take(4)?.try_into().ok()?);
        let max_level = take(1)?[0] as usize;
        let m0 = h.m0;
        h.base = vec![(0, 0.0); nodes.checked_mul(m0)?];
        h.base_len = Vec::with_capacity(nodes);
        h.upper = Vec::with_capacity(nodes);
        for node in 0..nodes {
            let levels = take(1)?[0] as usize;
            if levels == 0 || levels > MAX_LEVEL + 1 {
                return None;
            }
            let mut upper = Vec::with_capacity(levels - 1);
            for l in 0..levels {
                let n = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
                let mut list = Vec::with_capacity(if l == 0 { 0 } else { n });
                if l == 0 && n > m0 {
                    return None; // not a graph these parameters make
                }
                for i in 0..n {
                    let to = u32::from_le_bytes(take(4)?.try_into().ok()?);
                    let d = f32::from_le_bytes(take(4)?.try_into().ok()?);
                    if to as usize >= nodes || !d.is_finite() {
                        return None;
                    }
                    if l == 0 {
                        h.base[node * m0 + i] = (to, d);
                    } else {
                        list.push((to, d));
                    }
                }
                if l == 0 {
                    h.base_len.push(n as u16);
                } else {
                    upper.push(list);
                }
            }
            h.upper.push(upper);
        }
        if i != b.len() || max_level > MAX_LEVEL {
            return None;
        }
        h.entry = match (entry, nodes) {
            (u32::MAX, 0) => None,
            (e, n) if (e as usize) < n && h.levels_of(e as usize) == max_level + 1 => Some(e),
            _ => return None,
        };
        h.max_level = max_level;
        Some(h)
    }

    /// The `k` nearest accepted nodes to `q` (unit vector), searched with beam width `ef`.
    pub(crate) fn search<V: Vecs + ?Sized>(
        &mut self,
        data: &V,
        q: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let Some(entry) = self.entry else { return Vec::new() };
        let all = |_: u32| true;
        let mut vis = std::mem::take(&mut self.visited);
        let mut ep = vec![Cand { dist: Self::dist(data, q, entry), node: entry }];
        for l in (1..=self.max_level).rev() {
            ep = self.search_layer(&mut vis, data, q, &ep, 1, l, &all);
        }
        let mut found = self.search_layer(&mut vis, data, q, &ep, ef.max(k), 0, accept);
        self.visited = vis;
        found.truncate(k);
        found.into_iter().map(|c| (c.node, c.dist)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &mut [f32]) {
        let n = dot(v, v).sqrt();
        v.iter_mut().for_each(|x| *x /= n);
    }

    fn data(n: usize, dims: usize, seed: u64) -> Vec<f32> {
        // A simple LCG: deterministic, no dependency.
        let mut s = seed;
        let mut out = Vec::with_capacity(n * dims);
        for _ in 0..n {
            let mut v: Vec<f32> = (0..dims)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
                })
                .collect();
            unit(&mut v);
            out.extend(v);
        }
        out
    }

    fn exact(data: &[f32], dims: usize, q: &[f32], k: usize) -> Vec<u32> {
        let mut all: Vec<Cand> = (0..data.len() / dims)
            .map(|i| Cand { dist: 1.0 - dot(q, &data[i * dims..(i + 1) * dims]), node: i as u32 })
            .collect();
        all.sort();
        all.into_iter().take(k).map(|c| c.node).collect()
    }

    #[test]
    fn recall_against_exact_and_determinism() {
        let (n, dims) = (3000, 32);
        let d = data(n, dims, 1);
        let build = || {
            let mut h = Hnsw::new(16, 100);
            for i in 0..n {
                let lvl = h.level_for(blake3_like(i as u64));
                h.insert(&d, dims, lvl);
            }
            h
        };
        let mut h = build();
        let queries = data(50, dims, 2);
        let recall = recall_at_10(&mut h, &d, dims, &queries);
        assert!(recall >= 0.9, "recall@10 = {recall}");
        // Same inserts, same graph, same answers.
        let mut h2 = build();
        let q = &queries[..dims];
        assert_eq!(
            h.search(&Flat { data: &d, dims }, q, 10, 64, &|_| true),
            h2.search(&Flat { data: &d, dims }, q, 10, 64, &|_| true)
        );
        // A snapshot restores the same graph; damaged bytes are refused, never trusted.
        let bytes = h.to_bytes();
        let mut h3 = Hnsw::from_bytes(16, 100, n, &bytes).unwrap();
        assert_eq!(
            h3.search(&Flat { data: &d, dims }, q, 10, 64, &|_| true),
            h.search(&Flat { data: &d, dims }, q, 10, 64, &|_| true)
        );
        assert!(Hnsw::from_bytes(16, 100, n + 1, &bytes).is_none());
        assert!(Hnsw::from_bytes(16, 100, n, &bytes[..bytes.len() - 1]).is_none());
        let mut bad = bytes.clone();
        bad[6..10].copy_from_slice(&(n as u32 + 5).to_le_bytes());
        assert!(Hnsw::from_bytes(16, 100, n, &bad).is_none());
        // A filter restricts results.
        let odd = h.search(&Flat { data: &d, dims }, q, 10, 64, &|n| n % 2 == 1);
        assert_eq!(odd.len(), 10);
        assert!(odd.iter().all(|(n, _)| n % 2 == 1));
    }

    /// Batches built on one thread or several give the same graph (the thread count never
    /// changes an answer), and a batch-built graph finds what a one-by-one graph finds.
    #[test]
    fn batches_are_deterministic_across_threads_and_keep_recall() {
        let (n, dims) = (3000, 32);
        let d = data(n, dims, 7);
        let build = |threads: usize| {
            let mut h = Hnsw::new(16, 100);
            let levels: Vec<usize> = (0..n).map(|i| h.level_for(blake3_like(i as u64))).collect();
            let mut at = 0;
            while at < n {
                let b = (at / 16).clamp(1, 128).min(n - at);
                h.insert_batch(&Flat { data: &d, dims }, &levels[at..at + b], threads);
                at += b;
            }
            h
        };
        let (one, two) = (build(1), build(2));
        assert_eq!(one.to_bytes(), two.to_bytes());
        let mut h = two;
        let recall = recall_at_10(&mut h, &d, dims, &data(50, dims, 8));
        assert!(recall >= 0.9, "recall@10 = {recall}");
    }

    /// The graph a fixed build makes, byte for byte, is what this code has always made: a
    /// snapshot stored by an earlier l9 (same `params`) is the graph this one would build, and
    /// a change to how graphs are built or laid out in memory cannot slip by unnoticed (if one
    /// is meant, bump the `v` in `params` and this hash).
    #[test]
    fn a_fixed_build_makes_the_same_graph_as_always() {
        let (n, dims) = (2000, 16);
        let d = data(n, dims, 11);
        let mut h = Hnsw::new(8, 40);
        let levels: Vec<usize> = (0..n).map(|i| h.level_for(blake3_like(i as u64))).collect();
        let mut at = 0;
        while at < n {
            let b = (at / 16).clamp(1, 128).min(n - at);
            h.insert_batch(&Flat { data: &d, dims }, &levels[at..at + b], 2);
            at += b;
        }
        let bytes = h.to_bytes();
        assert_eq!(
            blake3::hash(&bytes).to_hex().as_str(),
            "a483601f5a2f2058736e729fcdff611d1773aa6a035e4d095fb5e4985df7a90a"
        );
        let back = Hnsw::from_bytes(8, 40, n, &bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes);
    }

    /// Recall@10 of `h` (beam 64) against the exact answers, over `queries`.
    fn recall_at_10(h: &mut Hnsw, d: &[f32], dims: usize, queries: &[f32]) -> f64 {
        let n = queries.len() / dims;
        let mut hit = 0;
        for qi in 0..n {
            let q = &queries[qi * dims..(qi + 1) * dims];
            let truth = exact(d, dims, q, 10);
            let got: Vec<u32> = h
                .search(&Flat { data: d, dims }, q, 10, 64, &|_| true)
                .iter()
                .map(|r| r.0)
                .collect();
            hit += got.iter().filter(|g| truth.contains(g)).count();
        }
        hit as f64 / (n * 10) as f64
    }

    /// The AVX2 path (where the CPU has it) and the portable one agree to the bit, at every
    /// length (remainders included): graphs and search results do not depend on the machine.
    #[test]
    fn dot_is_the_same_to_the_bit_on_every_path() {
        let v: Vec<f32> =
            (0..2600u64).map(|i| (blake3_like(i) % 20_001) as f32 / 10_000.0 - 1.0).collect();
        for len in [0, 1, 7, 8, 9, 31, 384, 385, 1000] {
            for start in [0, 3, 500] {
                let (a, b) = (&v[start..start + len], &v[start + 1000..start + 1000 + len]);
                assert_eq!(dot(a, b).to_bits(), dot_lanes(a, b).to_bits(), "len {len}");
            }
        }
    }

    fn blake3_like(x: u64) -> u64 {
        let mut z = x.wrapping_add(0x9E3779B97F4A7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
}
