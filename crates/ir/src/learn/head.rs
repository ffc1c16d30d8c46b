//! A linear head (sparse, quantised weights) and its training by AdaGrad.

use std::collections::HashMap;

use l9_types::SeededRng;

use super::Params;

/// Hashes a feature index for [`Rows`]: one multiply (the indices are hashes already; SipHash
/// made the lookups a tenth of all the time a spec's compile and challenge took).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FeatureHasher(u64);

impl std::hash::Hasher for FeatureHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0 ^ u64::from(i)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A head's rows: feature index → offset into its weights.
pub(crate) type Rows = HashMap<u32, u32, std::hash::BuildHasherDefault<FeatureHasher>>;

/// A linear head: `k` outputs, weights stored sparsely (only features seen in training).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Head {
    pub(super) k: usize,
    pub(super) bias: Vec<f32>,
    /// The quantisation step: every weight is a multiple of it in -127..=127.
    pub(super) step: f32,
    /// Feature index → offset into `w` (rows of `k`).
    pub(super) rows: Rows,
    pub(super) w: Vec<f32>,
}

impl Head {
    pub(crate) fn scores(&self, x: &[(u32, f32)]) -> Vec<f32> {
        let mut s = self.bias.clone();
        for (i, v) in x {
            if let Some(&off) = self.rows.get(i) {
                let row = &self.w[off as usize..off as usize + self.k];
                for (acc, w) in s.iter_mut().zip(row) {
                    *acc += w * v;
                }
            }
        }
        s
    }

    /// `scores(x)[0]` without the vector: the score of a one-output head, once per word.
    pub(crate) fn first_score(&self, x: &[(u32, f32)]) -> f32 {
        let mut s = self.bias.first().copied().unwrap_or(0.0);
        for (i, v) in x {
            if let Some(w) = self.rows.get(i).and_then(|&off| self.w.get(off as usize)) {
                s += w * v;
            }
        }
        s
    }

    /// Keeps the `keep` rows with the largest weights (ties: lower feature index) and drops
    /// the rest: most features of a sparse head are seen once and learn next to nothing, and
    /// they would make most of its size.
    pub(crate) fn keep_strongest(&mut self, keep: usize) {
        let mut rows: Vec<(u32, u32, f32)> = self
            .rows
            .iter()
            .map(|(i, o)| {
                let row = &self.w[*o as usize..*o as usize + self.k];
                (*i, *o, row.iter().fold(0.0f32, |m, x| m.max(x.abs())))
            })
            .collect();
        rows.sort_unstable_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        rows.truncate(keep);
        rows.sort_unstable_by_key(|r| r.0);
        let mut w = Vec::with_capacity(rows.len() * self.k);
        let mut kept = Rows::with_capacity_and_hasher(rows.len(), Default::default());
        for (i, off, _) in rows {
            kept.insert(i, w.len() as u32);
            w.extend_from_slice(&self.w[off as usize..off as usize + self.k]);
        }
        self.rows = kept;
        self.w = w;
    }

    pub(super) fn weight(&self, i: u32, j: usize) -> f32 {
        self.rows.get(&i).map_or(0.0, |&off| self.w[off as usize + j])
    }
}

/// Shuffles in place with the project's randomness seam (seeded, same order everywhere).
fn shuffle<T>(rng: &SeededRng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// Trains one head by AdaGrad. `labels[n]` is the class for softmax (k > 1) or 0/1 (k = 1).
pub(crate) fn train_head(
    xs: &[&Vec<(u32, f32)>],
    offsets: &[&Vec<f32>],
    labels: &[usize],
    k: usize,
    dims: usize,
    p: &Params,
    rng: &SeededRng,
) -> Head {
    train_head_weighted(xs, offsets, labels, k, dims, p, rng, true)
}

/// [`train_head`], with class weighting chosen: `balanced` weighs each class by
/// n / (classes · n_c); without it every row counts once (probabilities stay calibrated,
/// which a tagger thresholding per token needs).
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_head_weighted(
    xs: &[&Vec<(u32, f32)>],
    offsets: &[&Vec<f32>],
    labels: &[usize],
    k: usize,
    dims: usize,
    p: &Params,
    rng: &SeededRng,
    balanced: bool,
) -> Head {
    let mut w = vec![0.0f32; dims * k];
    let mut g2 = vec![0.0f32; dims * k];
    let mut bias = vec![0.0f32; k];
    let mut bias_g2 = vec![0.0f32; k];
    let mut seen = vec![false; dims];
    let mut order: Vec<usize> = (0..xs.len()).collect();
    let eps = 1e-6f32;
    // Balanced class weights (n / (classes · n_c)): the rarer class counts as much in total.
    let classes = if k == 1 { 2 } else { k };
    let mut per_class = vec![0usize; classes];
    for &y in labels {
        per_class[y.min(classes - 1)] += 1;
    }
    let weight: Vec<f32> = per_class
        .iter()
        .map(|&c| match (balanced, c) {
            (_, 0) => 0.0,
            (false, _) => 1.0,
            (true, _) => xs.len() as f32 / (classes as f32 * c as f32),
        })
        .collect();
    for _ in 0..p.epochs {
        shuffle(rng, &mut order);
        if k == 1 {
            // One output: the same update as below, without per-row allocations.
            for &n in &order {
                let x = xs[n];
                let mut z =
                    bias[0] + offsets.get(n).and_then(|o| o.first()).copied().unwrap_or(0.0);
                for &(i, v) in x.iter() {
                    z += w[i as usize] * v;
                }
                let prob = 1.0 / (1.0 + (-z).exp());
                let g = weight[labels[n].min(1)] * (prob - labels[n] as f32);
                bias_g2[0] += g * g;
                bias[0] -= p.rate * g / (bias_g2[0].sqrt() + eps);
                for &(i, v) in x.iter() {
                    let at = i as usize;
                    seen[at] = true;
                    let grad = g * v + p.lambda * w[at];
                    g2[at] += grad * grad;
                    w[at] -= p.rate * grad / (g2[at].sqrt() + eps);
                }
            }
            continue;
        }
        for &n in &order {
            let x = xs[n];
            let mut z = bias.clone();
            if let Some(o) = offsets.get(n) {
                for (acc, v) in z.iter_mut().zip(o.iter()) {
                    *acc += v;
                }
            }
            for &(i, v) in x.iter() {
                let row = &w[i as usize * k..i as usize * k + k];
                for (acc, wi) in z.iter_mut().zip(row) {
                    *acc += wi * v;
                }
            }
            // Gradient of the loss with respect to each output.
            let cw = weight[labels[n].min(classes - 1)];
            let g: Vec<f32> = if k == 1 {
                let prob = 1.0 / (1.0 + (-z[0]).exp());
                vec![cw * (prob - labels[n] as f32)]
            } else {
                let m = z.iter().copied().fold(f32::MIN, f32::max);
                let e: Vec<f32> = z.iter().map(|s| (s - m).exp()).collect();
                let sum: f32 = e.iter().sum();
                e.iter()
                    .enumerate()
                    .map(|(j, x)| cw * (x / sum - if j == labels[n] { 1.0 } else { 0.0 }))
                    .collect()
            };
            for ((b, b2), gj) in bias.iter_mut().zip(bias_g2.iter_mut()).zip(&g) {
                *b2 += gj * gj;
                *b -= p.rate * gj / (b2.sqrt() + eps);
            }
            for &(i, v) in x.iter() {
                seen[i as usize] = true;
                for (j, gj) in g.iter().enumerate() {
                    let at = i as usize * k + j;
                    let grad = gj * v + p.lambda * w[at];
                    g2[at] += grad * grad;
                    w[at] -= p.rate * grad / (g2[at].sqrt() + eps);
                }
            }
        }
    }
    quantise(k, bias, &w, &seen)
}

/// Keeps the rows of seen features, rounding each weight to one of 255 steps of the head's
/// largest weight (the stored form; training and shipping score the same numbers).
fn quantise(k: usize, bias: Vec<f32>, w: &[f32], seen: &[bool]) -> Head {
    let max = w.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-12);
    let step = max / 127.0;
    let mut rows = Rows::default();
    let mut out = Vec::new();
    for (i, s) in seen.iter().enumerate() {
        if !*s {
            continue;
        }
        let row: Vec<f32> =
            w[i * k..i * k + k].iter().map(|x| (x / step).round().clamp(-127.0, 127.0)).collect();
        if row.iter().all(|x| *x == 0.0) {
            continue;
        }
        rows.insert(i as u32, out.len() as u32);
        out.extend(row.iter().map(|q| q * step));
    }
    Head { k, bias, step, rows, w: out }
}
