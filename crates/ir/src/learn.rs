//! The learned requirement classifier: two linear heads over hashed features.
//!
//! Features of a requirement (each with value 1, hashed into 2^bits buckets by FNV-1a, the
//! vector scaled to unit length): word unigrams and bigrams (digits folded to `<num>`),
//! optionally character n-grams inside words, and the lexicon's cue and shape features from
//! [`crate::classify::features`] (the word lists stay, as features a model may weigh or not).
//! Optionally a dense sentence embedding is appended (the caller computes it; this crate does
//! no IO).
//!
//! Heads: a logistic "quality vs functional" head trained on every row, and a softmax over
//! the eleven PROMISE quality categories trained on quality rows whose category is known.
//! Training is seeded AdaGrad with L2 and a fixed number of epochs, deterministic for a seed.
//! The trained weights are quantised to 8 bits per head (what ships is what is scored), and
//! the model remembers the hashes of the texts it was trained on so an evaluation can label
//! rows it has seen.

use l9_types::SeededRng;
use serde::{Deserialize, Serialize};

use crate::classify::{self, CLASSES, Classifier, Example, Knobs};
use crate::model::QualityCategory;
use crate::text;

/// Number of quality categories (the softmax head's width).
pub const CATEGORIES: usize = 11;

/// Which features a model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    pub words: bool,
    pub bigrams: bool,
    /// Character n-grams inside `<word>` from `char_min` to `char_max` letters; 0 = off.
    pub char_min: u8,
    pub char_max: u8,
    /// The lexicon's cue and shape features.
    pub lexicon: bool,
    /// log2 of the number of hash buckets.
    pub bits: u8,
    /// Width of the dense embedding appended to the hashed features; 0 = none.
    #[serde(default)]
    pub dense: u32,
    /// Start from the lexicon: its scores (scales calibrated on the training rows) are a fixed
    /// offset of both heads, and the weights learn corrections to it.
    #[serde(default)]
    pub prior: bool,
    /// With `prior`: the functional-or-quality head is the lexicon's score alone (its scale
    /// and a bias fitted), the hashed features serving the quality categories only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary_prior: bool,
}

impl FeatureConfig {
    /// Word 1–2 grams, character 3–5 grams and the lexicon, 2^18 buckets, no embedding.
    pub const HASHED: FeatureConfig = FeatureConfig {
        words: true,
        bigrams: true,
        char_min: 3,
        char_max: 5,
        lexicon: true,
        bits: 18,
        dense: 0,
        prior: true,
        binary_prior: false,
    };

    /// A short human description ("word 1-2 grams, char 3-5 grams, lexicon cues, …").
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.words, self.bigrams) {
            (true, true) => parts.push("word 1-2 grams".to_string()),
            (true, false) => parts.push("words".to_string()),
            (false, true) => parts.push("word bigrams".to_string()),
            _ => {}
        }
        if self.char_min > 0 && self.char_max >= self.char_min {
            parts.push(format!("char {}-{} grams", self.char_min, self.char_max));
        }
        if self.lexicon {
            parts.push("lexicon cues and shapes".into());
        }
        let mut s = format!("{} (hashed, 2^{})", parts.join(", "), self.bits);
        if self.prior {
            s.push_str(" over the lexicon's scores");
        }
        if self.prior && self.binary_prior {
            s.push_str(" (functional or quality: the lexicon's score alone)");
        }
        if self.dense > 0 {
            s.push_str(&format!(" + {}-d sentence embedding", self.dense));
        }
        s
    }

    fn buckets(&self) -> usize {
        1usize << self.bits.min(24)
    }

    fn dims(&self) -> usize {
        self.buckets() + self.dense as usize
    }
}

/// Training knobs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub lambda: f32,
    pub epochs: u32,
    pub rate: f32,
    pub seed: u64,
}

impl Params {
    pub const DEFAULT: Params = Params { lambda: 1e-4, epochs: 12, rate: 0.3, seed: 9 };
}

/// The L2 strengths an inner leave-one-project-out chooses from (fixed before any scoring).
pub const LAMBDA_GRID: [f32; 3] = [1e-4, 1e-3, 1e-2];

pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    fnv_from(FNV_OFFSET, bytes)
}

/// FNV-1a's starting state.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a from state `h` on: `fnv_from(fnv(a), b)` is `fnv` of `a` and `b` joined.
pub(crate) fn fnv_from(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The hash a model stores for a training text (case and spacing folded).
pub fn text_hash(text: &str) -> u64 {
    fnv(text::normalize_ws(&text.to_lowercase()).as_bytes())
}

/// The named features of a text, before hashing (for explanations and tests).
pub fn named_features(text: &str, cfg: &FeatureConfig) -> Vec<String> {
    named_features_with(text, cfg, None)
}

/// [`named_features`], with the lexicon's features of `text` when the caller has them.
fn named_features_with(text: &str, cfg: &FeatureConfig, lexicon: Option<&[String]>) -> Vec<String> {
    let lower = text.to_lowercase();
    let words: Vec<String> = text::words(&lower)
        .into_iter()
        .map(|(s, e)| {
            let w = &lower[s..e];
            if w.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                "<num>".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let mut out = Vec::new();
    if cfg.words {
        out.extend(words.iter().map(|w| format!("w:{w}")));
    }
    if cfg.bigrams {
        out.extend(words.windows(2).map(|p| format!("b:{} {}", p[0], p[1])));
    }
    if cfg.char_min > 0 && cfg.char_max >= cfg.char_min {
        for w in &words {
            let padded: Vec<char> = format!("<{w}>").chars().collect();
            for n in usize::from(cfg.char_min)..=usize::from(cfg.char_max) {
                for g in padded.windows(n) {
                    out.push(format!("c:{}", g.iter().collect::<String>()));
                }
            }
        }
    }
    if cfg.lexicon {
        match lexicon {
            Some(l) => out.extend(l.iter().cloned()),
            None => out.extend(classify::features(text)),
        }
    }
    out
}

/// Which group a named feature belongs to: word n-grams, character n-grams, the lexicon.
fn group(feature: &str) -> usize {
    if feature.starts_with("w:") || feature.starts_with("b:") {
        0
    } else if feature.starts_with("c:") {
        1
    } else {
        2
    }
}

/// The sparse feature vector: (index, value), sorted by index. Each group of features (word
/// n-grams, character n-grams, lexicon) is scaled to unit length on its own, so the few
/// lexicon cues are not drowned by hundreds of character n-grams; the dense embedding (if
/// any) follows the buckets, also at unit length.
pub fn vector(text: &str, cfg: &FeatureConfig, dense: Option<&[f32]>) -> Vec<(u32, f32)> {
    vector_of(&named_features(text, cfg), cfg, dense)
}

/// [`vector`] of the named features `names`.
fn vector_of(names: &[String], cfg: &FeatureConfig, dense: Option<&[f32]>) -> Vec<(u32, f32)> {
    let mask = (cfg.buckets() - 1) as u64;
    let mut counts = [0usize; 3];
    for f in names {
        counts[group(f)] += 1;
    }
    let mut v: Vec<(u32, f32)> = names
        .iter()
        .map(|f| ((fnv(f.as_bytes()) & mask) as u32, 1.0 / (counts[group(f)] as f32).sqrt()))
        .collect();
    v.sort_unstable_by_key(|x| x.0);
    let mut merged: Vec<(u32, f32)> = Vec::with_capacity(v.len());
    for (i, x) in v {
        match merged.last_mut() {
            Some(last) if last.0 == i => last.1 += x,
            _ => merged.push((i, x)),
        }
    }
    if cfg.dense > 0
        && let Some(d) = dense
    {
        let norm = d.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        let base = cfg.buckets() as u32;
        for (j, x) in d.iter().take(cfg.dense as usize).enumerate() {
            merged.push((base + j as u32, x / norm));
        }
    }
    merged
}

/// What a model file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub features: FeatureConfig,
    /// The lexicon's scales when the model starts from it (`features.prior`).
    #[serde(default)]
    pub knobs: Option<Knobs>,
    pub params: Params,
    /// blake3 (hex) of the training rows (project, label, text), in order.
    pub data_hash: String,
    pub rows: usize,
    pub projects: usize,
    /// How the model was made (`l9 eval train --data …`).
    pub trained_by: String,
}

/// A trained classifier.
#[derive(Debug, Clone)]
pub struct Learned {
    pub info: ModelInfo,
    /// The lexicon the heads start from (`info.knobs`).
    prior: Option<Box<Classifier>>,
    quality: Head,
    category: Head,
    seen: Vec<u64>,
}

/// One prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Probability that the requirement is a quality (non-functional) one.
    pub quality: f32,
    /// The most likely quality category (meaningful when `quality >= 0.5`).
    pub category: QualityCategory,
    /// `classify::class_index` of the decision.
    pub index: usize,
}

/// The lexicon's offsets for one text: the quality head's (best quality score minus the
/// functional score) and the category head's (each category's score).
fn offsets(prior: &Classifier, text: &str) -> (Vec<f32>, Vec<f32>) {
    offsets_of(prior.lexicon_scores(text))
}

fn offsets_of(s: [f32; CLASSES]) -> (Vec<f32>, Vec<f32>) {
    let best = s[1..CLASSES].iter().copied().fold(f32::MIN, f32::max);
    (vec![best - s[0]], s[1..CLASSES].to_vec())
}

/// blake3 of the training rows, so a model names the data it came from.
pub fn data_hash(examples: &[Example]) -> String {
    let mut buf = Vec::new();
    for e in examples {
        buf.extend_from_slice(e.project.as_bytes());
        buf.push(0x1f);
        buf.extend_from_slice(e.label.to_string().as_bytes());
        buf.push(0x1f);
        buf.push(u8::from(e.quality));
        buf.push(0x1f);
        buf.extend_from_slice(e.text.as_bytes());
        buf.push(b'\n');
    }
    l9_types::ContentHash::of_bytes(&buf).to_hex()
}

impl Learned {
    /// Trains on `examples` (their embeddings are used when the config has a dense part).
    /// Deterministic for a given seed.
    pub fn train(
        examples: &[Example],
        cfg: FeatureConfig,
        params: Params,
        trained_by: &str,
    ) -> Learned {
        let xs: Vec<Vec<(u32, f32)>> =
            examples.iter().map(|e| vector(&e.text, &cfg, e.dense.as_deref())).collect();
        let knobs = cfg.prior.then(|| Classifier::calibrate_knobs(examples));
        let prior = knobs.map(|k| Box::new(Classifier::with_knobs(k)));
        let offs: Vec<(Vec<f32>, Vec<f32>)> = match &prior {
            Some(p) => examples.iter().map(|e| offsets(p, &e.text)).collect(),
            None => Vec::new(),
        };
        let rng = SeededRng::from_seed(params.seed);
        let all_offsets: Vec<&Vec<f32>> = offs.iter().map(|o| &o.0).collect();
        let binary: Vec<usize> = examples.iter().map(|e| usize::from(e.quality)).collect();
        let none = Vec::new();
        let bx: Vec<&Vec<(u32, f32)>> = if cfg.prior && cfg.binary_prior {
            // No features: the head learns only a bias over the lexicon's score.
            xs.iter().map(|_| &none).collect()
        } else {
            xs.iter().collect()
        };
        let quality = train_head(&bx, &all_offsets, &binary, 1, cfg.dims(), &params, &rng);
        let keep: Vec<usize> = (0..examples.len())
            .filter(|&n| {
                let e = &examples[n];
                e.quality && e.label != usize::MAX && e.label != 0
            })
            .collect();
        let cat_x: Vec<&Vec<(u32, f32)>> = keep.iter().map(|&n| &xs[n]).collect();
        let cat_o: Vec<&Vec<f32>> =
            keep.iter().filter_map(|&n| offs.get(n).map(|o| &o.1)).collect();
        let cat_y: Vec<usize> = keep.iter().map(|&n| examples[n].label - 1).collect();
        let category = train_head(&cat_x, &cat_o, &cat_y, CATEGORIES, cfg.dims(), &params, &rng);
        let mut projects: Vec<&str> = examples.iter().map(|e| e.project.as_str()).collect();
        projects.sort_unstable();
        projects.dedup();
        let mut seen: Vec<u64> = examples.iter().map(|e| text_hash(&e.text)).collect();
        seen.sort_unstable();
        seen.dedup();
        Learned {
            prior,
            info: ModelInfo {
                features: cfg,
                knobs,
                params,
                data_hash: data_hash(examples),
                rows: examples.len(),
                projects: projects.len(),
                trained_by: trained_by.to_string(),
            },
            quality,
            category,
            seen,
        }
    }

    /// Whether `text` was among the training rows.
    pub fn has_seen(&self, text: &str) -> bool {
        self.seen.binary_search(&text_hash(text)).is_ok()
    }

    pub fn predict(&self, text: &str, dense: Option<&[f32]>) -> Prediction {
        self.predict_from(&self.featured(text, dense))
    }

    /// The named features that pushed the decision most, strongest first (at most `n`).
    pub fn explain(&self, text: &str, p: &Prediction, n: usize) -> Vec<String> {
        self.explain_from(&self.featured(text, None), p, n)
    }

    /// [`Self::predict`] and [`Self::explain`] of one text, its features made once (each
    /// alone makes the lexicon's features and the named ones again).
    pub fn predict_explained(
        &self,
        text: &str,
        dense: Option<&[f32]>,
        n: usize,
    ) -> (Prediction, Vec<String>) {
        let f = self.featured(text, dense);
        let p = self.predict_from(&f);
        let why = self.explain_from(&f, &p, n);
        (p, why)
    }

    fn featured<'t>(&self, text: &'t str, dense: Option<&[f32]>) -> Featured<'t> {
        let cfg = &self.info.features;
        let lexicon = (cfg.lexicon || self.prior.is_some()).then(|| classify::features(text));
        let names = named_features_with(text, cfg, lexicon.as_deref());
        let x = vector_of(&names, cfg, dense);
        Featured { names, x, lexicon, text }
    }

    fn predict_from(&self, f: &Featured<'_>) -> Prediction {
        let x = &f.x;
        let mut z = self.quality.scores(x)[0];
        let mut s = self.category.scores(x);
        if let Some(p) = &self.prior {
            let (q, c) = match &f.lexicon {
                Some(l) => offsets_of(p.lexicon_scores_of(l)),
                None => offsets(p, f.text),
            };
            z += q[0];
            for (acc, v) in s.iter_mut().zip(c) {
                *acc += v;
            }
        }
        let quality = 1.0 / (1.0 + (-z).exp());
        let best = (0..CATEGORIES).fold(0, |b, j| if s[j] > s[b] { j } else { b });
        let category = QualityCategory::ALL[best];
        let index = if quality >= 0.5 { 1 + best } else { 0 };
        Prediction { quality, category, index }
    }

    fn explain_from(&self, f: &Featured<'_>, p: &Prediction, n: usize) -> Vec<String> {
        let cfg = &self.info.features;
        let mask = (cfg.buckets() - 1) as u64;
        let x = &f.x;
        // The dense part's indices follow the buckets: a name's index finds its own value.
        let value = |i: u32| x.binary_search_by_key(&i, |e| e.0).map_or(0.0, |at| x[at].1);
        let sign = if p.index == 0 { -1.0 } else { 1.0 };
        let mut pushes: Vec<(f32, &String)> = f
            .names
            .iter()
            .map(|name| {
                let i = (fnv(name.as_bytes()) & mask) as u32;
                let mut push = sign * self.quality.weight(i, 0);
                if p.index != 0 {
                    push += self.category.weight(i, p.index - 1);
                }
                (push * value(i), name)
            })
            .filter(|(d, _)| *d > 0.0)
            .collect();
        pushes.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        pushes.dedup_by(|a, b| a.1 == b.1);
        let mut out: Vec<String> = Vec::new();
        // The lexicon's own reasons first when the model starts from it and agrees.
        if let Some(prior) = &self.prior {
            let lex = match &f.lexicon {
                Some(l) => prior.classify_features(f.text, l),
                None => prior.classify(f.text),
            };
            if classify::class_index(lex.class, lex.category) == p.index {
                out.extend(lex.features.into_iter().filter(|f| !f.starts_with("default:")).take(2));
            }
        }
        for (_, f) in pushes {
            if out.len() >= n {
                break;
            }
            if !out.contains(f) {
                out.push(f.clone());
            }
        }
        out
    }
}

/// One text's features as a model sees them: the named ones, their vector, and the
/// lexicon's (for the prior), made once.
struct Featured<'t> {
    names: Vec<String>,
    x: Vec<(u32, f32)>,
    lexicon: Option<Vec<String>>,
    text: &'t str,
}

mod file;
mod head;
pub mod tagger;
pub use file::{from_bytes, to_bytes};
pub(crate) use head::{Head, Rows, train_head, train_head_weighted};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The featurisation each call made on its own before `predict_explained` shared it.
    fn predict_alone(m: &Learned, text: &str, dense: Option<&[f32]>) -> Prediction {
        let x = vector(text, &m.info.features, dense);
        let mut z = m.quality.scores(&x)[0];
        let mut s = m.category.scores(&x);
        if let Some(p) = &m.prior {
            let (q, c) = offsets(p, text);
            z += q[0];
            for (acc, v) in s.iter_mut().zip(c) {
                *acc += v;
            }
        }
        let quality = 1.0 / (1.0 + (-z).exp());
        let best = (0..CATEGORIES).fold(0, |b, j| if s[j] > s[b] { j } else { b });
        let index = if quality >= 0.5 { 1 + best } else { 0 };
        Prediction { quality, category: QualityCategory::ALL[best], index }
    }

    fn explain_alone(m: &Learned, text: &str, p: &Prediction, n: usize) -> Vec<String> {
        let cfg = &m.info.features;
        let mask = (cfg.buckets() - 1) as u64;
        let x = vector(text, cfg, None);
        let value = |i: u32| x.binary_search_by_key(&i, |e| e.0).map_or(0.0, |at| x[at].1);
        let sign = if p.index == 0 { -1.0 } else { 1.0 };
        let mut pushes: Vec<(f32, String)> = named_features(text, cfg)
            .into_iter()
            .map(|f| {
                let i = (fnv(f.as_bytes()) & mask) as u32;
                let mut push = sign * m.quality.weight(i, 0);
                if p.index != 0 {
                    push += m.category.weight(i, p.index - 1);
                }
                (push * value(i), f)
            })
            .filter(|(d, _)| *d > 0.0)
            .collect();
        pushes.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        pushes.dedup_by(|a, b| a.1 == b.1);
        let mut out: Vec<String> = Vec::new();
        if let Some(prior) = &m.prior {
            let lex = prior.classify(text);
            if classify::class_index(lex.class, lex.category) == p.index {
                out.extend(lex.features.into_iter().filter(|f| !f.starts_with("default:")).take(2));
            }
        }
        for (_, f) in pushes {
            if out.len() >= n {
                break;
            }
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    /// Made once, the features give what each call made on its own gave: the shipped models
    /// (hash features, and MiniLM with a dense vector), sentences of every class.
    #[test]
    fn shared_features_predict_and_explain_as_before() {
        let sentences = [
            "The system shall respond to a search within 2 seconds for 95% of requests.",
            "Users must be able to reset their password by email.",
            "All data shall be encrypted at rest with AES-256; only administrators may read logs.",
            "The UI should be easy to use and look consistent on every page.",
            "The service must be available 99.9% of the time, scaling to 10,000 users.",
            "The product shall comply with GDPR and keep an audit trail.",
            "Display the list of orders sorted by date.",
            "",
            "It it it that which.",
        ];
        let models = [classify::shipped_model(), classify::shipped_minilm_model()];
        let mut checked = 0;
        for m in models.iter().flatten() {
            let dims = m.info.features.dense as usize;
            let dense: Vec<f32> = (0..dims).map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0).collect();
            let dense = (dims > 0).then_some(dense.as_slice());
            for t in sentences {
                let (p, why) = m.predict_explained(t, dense, 5);
                let alone = predict_alone(m, t, dense);
                assert_eq!(
                    (p.index, p.quality.to_bits()),
                    (alone.index, alone.quality.to_bits()),
                    "{t}"
                );
                assert_eq!(why, explain_alone(m, t, &alone, 5), "{t}");
                assert_eq!(m.predict(t, dense).index, p.index);
                assert_eq!(m.explain(t, &p, 5), why);
                checked += 1;
            }
        }
        assert_eq!(checked, sentences.len() * 2, "both shipped models load");
    }
}
