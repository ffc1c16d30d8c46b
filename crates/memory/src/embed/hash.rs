//! The default embedder: signed feature hashing (Weinberger et al. 2009).
//!
//! Features of the normalised text (lower-cased alphanumeric runs): word unigrams, word
//! bigrams, and character trigrams of each word with boundary marks (`#cat#` → `#ca`,
//! `cat`, `at#`), which make morphological variants (cache/cached/caching) land close.
//! Each feature hashes (FNV-1a 64 + a finaliser; stable forever, hence the `v1` in the
//! name) to a dimension and a sign; counts are damped with `1 + ln(tf)`; the result is
//! L2-normalised. Deterministic, no files, ~µs per sentence.

use async_trait::async_trait;

use super::{Embedder, l2_normalise};
use crate::Result;

const UNIGRAM: f32 = 1.0;
const BIGRAM: f32 = 0.7;
const TRIGRAM: f32 = 0.35;

/// Signed feature hashing into `dims` dimensions (384 by default).
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dims: usize,
}

impl Default for HashEmbedder {
    fn default() -> Self {
        HashEmbedder { dims: 384 }
    }
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x100000001b3);
        }
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    // splitmix64 finaliser: spreads FNV's weak low bits.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d049bb133111eb);
    h ^ (h >> 31)
}

impl HashEmbedder {
    pub fn new(dims: usize) -> Self {
        HashEmbedder { dims: dims.max(1) }
    }

    /// Embeds one text synchronously.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let words = l9_store::tokenize(text);
        let mut counts: std::collections::HashMap<(u64, u8), f32> = Default::default();
        let mut add = |h: u64, kind: u8| *counts.entry((h, kind)).or_insert(0.0) += 1.0;
        for (i, w) in words.iter().enumerate() {
            add(fnv1a(&[b"w", w.as_bytes()]), 0);
            if i + 1 < words.len() {
                add(fnv1a(&[b"b", w.as_bytes(), words[i + 1].as_bytes()]), 1);
            }
            let marked: Vec<char> =
                std::iter::once('#').chain(w.chars()).chain(std::iter::once('#')).collect();
            for tri in marked.windows(3) {
                let s: String = tri.iter().collect();
                add(fnv1a(&[b"c", s.as_bytes()]), 2);
            }
        }
        let mut v = vec![0f32; self.dims];
        let mut feats: Vec<_> = counts.into_iter().collect();
        feats.sort_by_key(|((h, k), _)| (*h, *k)); // deterministic summation order
        for ((h, kind), tf) in feats {
            let weight = match kind {
                0 => UNIGRAM,
                1 => BIGRAM,
                _ => TRIGRAM,
            } * (1.0 + tf.ln());
            let idx = (h % self.dims as u64) as usize;
            let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
            v[idx] += sign * weight;
        }
        l2_normalise(&mut v);
        v
    }
}

#[async_trait]
impl Embedder for HashEmbedder {
    fn cheap(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        "hash-v1".to_owned()
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn unit_norm_deterministic_and_384_dims() {
        let e = HashEmbedder::default();
        let v = e.embed_one("The cat sat on the mat");
        assert_eq!(v.len(), 384);
        assert!((cos(&v, &v) - 1.0).abs() < 1e-5);
        assert_eq!(v, e.embed_one("the CAT sat on the mat!"));
        assert!(e.embed_one("").iter().all(|x| *x == 0.0));
        // A pinned value: the embedding must not change silently (stored vectors rely on it).
        let s: f32 = v.iter().take(8).sum();
        assert_eq!(format!("{s:.6}"), "-0.290010");
    }

    #[test]
    fn related_texts_are_closer() {
        let e = HashEmbedder::default();
        let a = e.embed_one("retry the failed database migration");
        let b = e.embed_one("retrying failed migrations of the database");
        let c = e.embed_one("the kitten naps in the sun");
        assert!(cos(&a, &b) > cos(&a, &c) + 0.2, "{} vs {}", cos(&a, &b), cos(&a, &c));
    }
}
