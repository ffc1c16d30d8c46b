//! Requirement classification: functional or quality, and the PROMISE quality category.
//!
//! The shipped default is the learned model of [`crate::learn`] (word n-grams and the cue
//! and shape features below, trained by `l9 eval train` on the PROMISE development split and
//! embedded in the binary from `crates/ir/models/requirements.l9cls`). The lexicon model stays
//! as a baseline and as features: hand-written cue phrases per category and sentence shapes
//! (a percentage, a duration, "shall be <adjective>"); [`Classifier::calibrate`] fits its four
//! scales to labelled data by an exhaustive grid (deterministic). Every decision lists the
//! features that pushed it, strongest first, so a reader can see why.

use std::collections::HashSet;

use foldhash::{HashMap, HashMapExt};
use std::sync::{Arc, OnceLock};

use crate::learn::Learned;

use crate::model::{Classification, QualityCategory, ReqClass};
use crate::text;

/// Class index 0 is functional; 1.. are the quality categories in `QualityCategory::ALL` order.
pub const CLASSES: usize = 12;

pub fn class_index(class: ReqClass, category: Option<QualityCategory>) -> usize {
    match (class, category) {
        (ReqClass::Functional, _) => 0,
        (ReqClass::Quality, Some(c)) => {
            1 + QualityCategory::ALL.iter().position(|x| *x == c).unwrap_or(0)
        }
        (ReqClass::Quality, None) => 1,
    }
}

pub fn class_of_index(i: usize) -> (ReqClass, Option<QualityCategory>) {
    if i == 0 {
        (ReqClass::Functional, None)
    } else {
        (ReqClass::Quality, QualityCategory::ALL.get(i - 1).copied())
    }
}

mod cues;
use cues::{CUES, FUNCTIONAL};

/// A requirement classifier: the learned model, or the lexicon with its scales.
#[derive(Debug, Clone)]
pub struct Classifier {
    weights: HashMap<String, [f32; CLASSES]>,
    bias: [f32; CLASSES],
    learned: Option<Arc<Learned>>,
    /// Sentence embeddings, for a learned model trained with them.
    embeddings: Option<Embeddings>,
}

/// What computes sentence embeddings: the vectors of `texts` in order, or why not.
pub type EmbedFn = dyn Fn(&[String]) -> Result<Vec<Vec<f32>>, String> + Send + Sync;

/// A sentence embedder the caller provides (this crate computes none: the engine passes the
/// local MiniLM model's), with its name for reports.
#[derive(Clone)]
pub struct Embeddings {
    pub name: String,
    embed: Arc<EmbedFn>,
}

impl std::fmt::Debug for Embeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embeddings").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Embeddings {
    pub fn new(
        name: impl Into<String>,
        embed: impl Fn(&[String]) -> Result<Vec<Vec<f32>>, String> + Send + Sync + 'static,
    ) -> Self {
        Embeddings { name: name.into(), embed: Arc::new(embed) }
    }

    /// The vectors of `texts`, each `dims` wide, or why not.
    pub fn embed(&self, texts: &[String], dims: usize) -> Result<Vec<Vec<f32>>, String> {
        let v = (self.embed)(texts)?;
        if v.len() != texts.len() {
            return Err(format!(
                "{} gave {} vectors for {} texts",
                self.name,
                v.len(),
                texts.len()
            ));
        }
        if let Some(bad) = v.iter().find(|x| x.len() != dims) {
            return Err(format!(
                "{} gives {}-d vectors; the classifier was trained on {dims}-d ones",
                self.name,
                bad.len()
            ));
        }
        Ok(v)
    }
}

/// The model file `l9 eval train` wrote from the development split; see `models/README.md`.
pub const SHIPPED_MODEL: &[u8] = include_bytes!("../models/requirements.l9cls");

/// The same, trained with all-MiniLM-L6-v2 sentence embeddings as features (`l9 eval train
/// --embeddings DIR`); used where the embeddings can be computed (see `models/README.md`).
pub const SHIPPED_MINILM_MODEL: &[u8] = include_bytes!("../models/requirements-minilm.l9cls");

/// The shipped learned model, parsed once (`None` only if the embedded file were broken,
/// which a test rules out).
pub fn shipped_model() -> Option<Arc<Learned>> {
    static MODEL: OnceLock<Option<Arc<Learned>>> = OnceLock::new();
    MODEL.get_or_init(|| crate::learn::from_bytes(SHIPPED_MODEL).ok().map(Arc::new)).clone()
}

/// The shipped model that needs sentence embeddings, parsed once.
pub fn shipped_minilm_model() -> Option<Arc<Learned>> {
    static MODEL: OnceLock<Option<Arc<Learned>>> = OnceLock::new();
    MODEL.get_or_init(|| crate::learn::from_bytes(SHIPPED_MINILM_MODEL).ok().map(Arc::new)).clone()
}

/// The cue features of a sentence (lower case: its words and its whitespace-normalised text),
/// found through the cue index by the sentence's own words, runs and prefixes.
fn cue_features(ws: &[String], joined: &str, out: &mut Vec<String>) {
    let ix = cues::index();
    let mut hit = vec![false; ix.names.len()];
    let words: HashSet<&str> = ws.iter().map(String::as_str).collect();
    for w in &words {
        for &n in ix.words.get(w).into_iter().flatten() {
            hit[n] = true;
        }
        for &len in ix.prefix_lens.iter().take_while(|l| **l <= w.len()) {
            for &n in w.get(..len).and_then(|p| ix.prefixes.get(p)).into_iter().flatten() {
                hit[n] = true;
            }
        }
    }
    for &(prefix, n) in &ix.contained {
        hit[n] |= joined.contains(prefix);
    }
    let runs: HashSet<&str> =
        joined.split(|c: char| !c.is_alphanumeric()).filter(|r| !r.is_empty()).collect();
    let anchored = runs.iter().filter_map(|r| ix.phrases.get(r)).flatten();
    for &(cue, n) in anchored.chain(&ix.unanchored) {
        hit[n] |= text::find_word(joined, cue, true).is_some();
    }
    out.extend(ix.names.iter().zip(hit).filter(|(_, h)| *h).map(|(name, _)| name.clone()));
}

/// The features of a requirement, each with value 1.
pub fn features(sentence: &str) -> Vec<String> {
    features_with(sentence, cue_features)
}

/// The features, with the cue features found by `cues`.
fn features_with(sentence: &str, cues: fn(&[String], &str, &mut Vec<String>)) -> Vec<String> {
    let lower = sentence.to_lowercase();
    let ws: Vec<String> =
        text::words(&lower).into_iter().map(|(s, e)| lower[s..e].to_string()).collect();
    let joined = text::normalize_ws(&lower);
    let mut out = Vec::new();
    cues(&ws, &joined, &mut out);
    out.extend(shapes(&ws, &joined));
    out.sort();
    out.dedup();
    out
}

const TIME_UNITS: &[&str] = &[
    "ms",
    "millisecond",
    "milliseconds",
    "second",
    "seconds",
    "sec",
    "secs",
    "minute",
    "minutes",
    "min",
    "mins",
    "hour",
    "hours",
    "day",
    "days",
    "week",
    "weeks",
    "month",
    "months",
    "year",
    "years",
];

/// Sentence shapes that mark a property rather than a behaviour.
fn shapes(ws: &[String], joined: &str) -> Vec<String> {
    let mut out = Vec::new();
    if joined.contains('%') || ws.iter().any(|w| w == "percent") {
        out.push("shape:percent".to_string());
    }
    for pair in ws.windows(2) {
        if pair[0].chars().next().is_some_and(|c| c.is_ascii_digit())
            && TIME_UNITS.contains(&pair[1].as_str())
        {
            out.push("shape:duration".to_string());
            break;
        }
    }
    // "shall be easy", "must be available", but not "shall be able to" or "be displayed".
    for w in ws.windows(3) {
        let modal = matches!(w[0].as_str(), "shall" | "must" | "will" | "should") && w[1] == "be";
        let adj = &w[2];
        let adjective = ["able", "ible", "ive", "ful", "ent", "ant", "ous", "ic", "ar"]
            .iter()
            .any(|s| adj.ends_with(s))
            || ["easy", "fast", "quick", "secure", "simple", "clear", "free", "compliant", "up"]
                .contains(&adj.as_str());
        if modal && adjective && adj != "able" && !adj.ends_with("ed") {
            out.push("shape:be-adjective".to_string());
            break;
        }
    }
    if joined.contains("the product") {
        out.push("shape:the-product".to_string());
    }
    if ws.iter().any(|w| w == "only") {
        out.push("shape:only".to_string());
    }
    if ws.iter().any(|w| ["not", "no", "never", "cannot"].contains(&w.as_str())) {
        out.push("shape:negation".to_string());
    }
    if ws.iter().any(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit())) {
        out.push("shape:number".to_string());
    }
    out
}

/// Hand weights of the shape features in the lexicon model (added to every quality class).
const SHAPE_WEIGHTS: &[(&str, f32)] = &[
    ("shape:percent", 0.9),
    ("shape:duration", 0.6),
    ("shape:be-adjective", 0.9),
    ("shape:the-product", 0.3),
];

/// A labelled example for training and evaluation.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    /// `class_index` of the gold label.
    pub label: usize,
    /// Quality (non-functional) in the data set's binary column.
    pub quality: bool,
    pub project: String,
    /// A sentence embedding of `text`, when the caller computed one (MiniLM features).
    pub dense: Option<Vec<f32>>,
}

impl Default for Classifier {
    /// The shipped model: the learned one (the calibrated lexicon if it could not load).
    fn default() -> Self {
        match shipped_model() {
            Some(m) => Self::learned(m),
            None => Self::calibrated_lexicon(),
        }
    }
}

impl Classifier {
    /// The hand-written model with hand-set scales: each cue votes for its category,
    /// functional cues for functional, and a requirement with no cue at all is functional.
    pub fn lexicon() -> Self {
        Self::with_knobs(Knobs::HAND)
    }

    /// The lexicon with the scales `calibrate` chose on the PROMISE development split.
    pub fn calibrated_lexicon() -> Self {
        Self::with_knobs(Knobs::SHIPPED)
    }

    /// A learned model (from `l9 eval train`).
    pub fn learned(model: Arc<Learned>) -> Self {
        Classifier {
            weights: HashMap::new(),
            bias: [0.0; CLASSES],
            learned: Some(model),
            embeddings: None,
        }
    }

    /// A learned model trained with sentence embeddings, and what computes them. Refused for
    /// a model trained without (its weights would ignore them).
    pub fn learned_with(model: Arc<Learned>, embeddings: Embeddings) -> Result<Self, String> {
        if model.info.features.dense == 0 {
            return Err("the model was trained without sentence embeddings".into());
        }
        Ok(Classifier { embeddings: Some(embeddings), ..Self::learned(model) })
    }

    /// The shipped MiniLM model with `embeddings` (which must be all-MiniLM-L6-v2's).
    pub fn shipped_with(embeddings: Embeddings) -> Result<Self, String> {
        let model = shipped_minilm_model().ok_or("the shipped MiniLM classifier is broken")?;
        Self::learned_with(model, embeddings)
    }

    /// Whether this classifier needs sentence embeddings.
    pub fn uses_embeddings(&self) -> bool {
        self.learned.as_ref().is_some_and(|m| m.info.features.dense > 0)
    }

    /// The learned model, if this classifier is one.
    pub fn model(&self) -> Option<&Learned> {
        self.learned.as_deref()
    }

    /// What decides: `learned: <features>, trained on <rows> rows (data <hash>)` or the lexicon.
    pub fn describe(&self) -> String {
        match &self.learned {
            Some(m) => format!(
                "learned: {}{}; trained on {} rows of {} projects (data {})",
                m.info.features.describe(),
                self.embeddings.as_ref().map(|e| format!(" by {}", e.name)).unwrap_or_default(),
                m.info.rows,
                m.info.projects,
                &m.info.data_hash[..m.info.data_hash.len().min(12)]
            ),
            None => "lexicon: hand-written cues and shapes".into(),
        }
    }

    /// The lexicon's score per class (`class_index` order) for a sentence.
    pub fn lexicon_scores(&self, sentence: &str) -> [f32; CLASSES] {
        self.scores(&features(sentence))
    }

    /// [`Self::lexicon_scores`] of a sentence whose [`features`] are `feats`.
    pub(crate) fn lexicon_scores_of(&self, feats: &[String]) -> [f32; CLASSES] {
        self.scores(feats)
    }

    fn scores(&self, feats: &[String]) -> [f32; CLASSES] {
        let mut s = self.bias;
        for f in feats {
            if let Some(w) = self.weights.get(f) {
                for (acc, x) in s.iter_mut().zip(w) {
                    *acc += x;
                }
            }
        }
        s
    }

    pub fn predict_index(&self, sentence: &str) -> usize {
        if self.uses_embeddings() {
            let c = self.classify(sentence);
            return class_index(c.class, c.category);
        }
        if let Some(m) = &self.learned {
            return m.predict(sentence, None).index;
        }
        let feats = features(sentence);
        self.decide(&self.scores(&feats))
    }

    /// Functional, or the best quality category.
    fn decide(&self, s: &[f32; CLASSES]) -> usize {
        let best_quality = (1..CLASSES).fold(1, |b, i| if s[i] > s[b] { i } else { b });
        if s[0] >= s[best_quality] { 0 } else { best_quality }
    }

    /// Classifies every sentence (one call of the embedder for all, when the model uses
    /// sentence embeddings). Where the embeddings cannot be had, the sentences are classified
    /// by the shipped model without them and the second value says why.
    pub fn classify_all(&self, sentences: &[String]) -> (Vec<Classification>, Option<String>) {
        let Some(m) = self.learned.as_ref().filter(|m| m.info.features.dense > 0) else {
            return (sentences.iter().map(|s| self.classify(s)).collect(), None);
        };
        let vectors = match &self.embeddings {
            Some(_) if sentences.is_empty() => Ok(Vec::new()),
            Some(e) => e.embed(sentences, m.info.features.dense as usize),
            None => Err("no sentence embedder was given".into()),
        };
        match vectors {
            Ok(v) => (
                sentences.iter().zip(&v).map(|(s, d)| Self::learned_class(m, s, Some(d))).collect(),
                None,
            ),
            Err(why) => {
                let fallback = Classifier::default();
                (sentences.iter().map(|s| fallback.classify(s)).collect(), Some(why))
            }
        }
    }

    fn learned_class(m: &Learned, sentence: &str, dense: Option<&[f32]>) -> Classification {
        let (p, mut features) = m.predict_explained(sentence, dense, 5);
        let (class, category) = class_of_index(p.index);
        if dense.is_some() {
            features.push("sentence embedding".into());
        }
        if features.is_empty() {
            features.push("bias".into());
        }
        Classification { class, category, features }
    }

    pub fn classify(&self, sentence: &str) -> Classification {
        if self.uses_embeddings() {
            let (mut c, _) = self.classify_all(std::slice::from_ref(&sentence.to_string()));
            if let Some(one) = c.pop() {
                return one;
            }
        }
        if let Some(m) = &self.learned {
            return Self::learned_class(m, sentence, None);
        }
        self.lexicon_class(&features(sentence))
    }

    /// [`Self::classify`] of a sentence whose [`features`] are `feats`.
    pub(crate) fn classify_features(&self, sentence: &str, feats: &[String]) -> Classification {
        if self.uses_embeddings() || self.learned.is_some() {
            return self.classify(sentence);
        }
        self.lexicon_class(feats)
    }

    /// The lexicon's class of a sentence with features `feats`, and why.
    fn lexicon_class(&self, feats: &[String]) -> Classification {
        let scores = self.scores(feats);
        let best = self.decide(&scores);
        let (class, category) = class_of_index(best);
        // Explain: the features that pushed the winner above the runner-up, strongest first.
        let mut second = if best == 0 { 1 } else { 0 };
        for (i, s) in scores.iter().enumerate() {
            if i != best && *s > scores[second] {
                second = i;
            }
        }
        let mut why: Vec<(f32, String)> = feats
            .iter()
            .filter_map(|f| self.weights.get(f).map(|w| (w[best] - w[second], f.clone())))
            .filter(|(d, _)| *d > 0.0)
            .collect();
        why.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut features: Vec<String> = why.into_iter().take(5).map(|(_, f)| f).collect();
        if features.is_empty() {
            features.push(if best == 0 { "default:no quality cue".into() } else { "bias".into() });
        }
        Classification { class, category, features }
    }

    /// The lexicon with its four knobs (quality-cue scale, functional-cue scale, functional
    /// bias, shape scale) fitted to labelled data by grid search on binary macro F1. Few
    /// parameters on purpose: a model with a weight per word fits one project's vocabulary
    /// and transfers worse to the next (measured: see `l9 eval classify`).
    pub fn calibrate(examples: &[Example]) -> Self {
        Self::with_knobs(Self::calibrate_knobs(examples))
    }

    /// The four scales `calibrate` fits: quality cue, functional cue, functional bias, shape.
    pub fn calibrate_knobs(examples: &[Example]) -> Knobs {
        // Per example: cue hits per quality class, functional hits, weighted shape sum.
        let rows: Vec<([f32; CLASSES], f32, f32, bool)> = examples
            .iter()
            .map(|e| {
                let mut q = [0.0f32; CLASSES];
                let (mut f, mut shape) = (0.0f32, 0.0f32);
                for feat in features(&e.text) {
                    if let Some(rest) = feat.strip_prefix("cue:") {
                        let code = rest.split(':').next().unwrap_or("");
                        if let Some(c) = QualityCategory::from_code(code) {
                            q[class_index(ReqClass::Quality, Some(c))] += 1.0;
                        }
                    } else if feat.starts_with("fn:") {
                        f += 1.0;
                    } else if let Some((_, w)) = SHAPE_WEIGHTS.iter().find(|(n, _)| *n == feat) {
                        shape += w;
                    }
                }
                (q, f, shape, e.quality)
            })
            .collect();
        let grid = |lo: f32, hi: f32, n: usize| {
            (0..n).map(move |i| lo + (hi - lo) * i as f32 / (n - 1) as f32)
        };
        let mut best = (f64::MIN, Knobs::HAND);
        for qs in grid(0.6, 1.6, 6) {
            for fs in grid(0.3, 1.3, 6) {
                for bias in grid(0.0, 1.5, 7) {
                    for ss in grid(0.0, 1.5, 6) {
                        let mut counts = [[0u32; 2]; 2];
                        for (q, f, shape, actual) in &rows {
                            let best_q =
                                q.iter().skip(1).fold(f32::MIN, |m, x| m.max(qs * x + ss * shape));
                            let predicted = bias + fs * f < best_q;
                            counts[usize::from(predicted)][usize::from(*actual)] += 1;
                        }
                        let f1 = |tp: u32, fp: u32, fn_: u32| {
                            if tp == 0 {
                                0.0
                            } else {
                                2.0 * f64::from(tp) / f64::from(2 * tp + fp + fn_)
                            }
                        };
                        let macro_f1 = (f1(counts[1][1], counts[1][0], counts[0][1])
                            + f1(counts[0][0], counts[0][1], counts[1][0]))
                            / 2.0;
                        if macro_f1 > best.0 + 1e-9 {
                            best =
                                (macro_f1, Knobs { quality: qs, functional: fs, bias, shape: ss });
                        }
                    }
                }
            }
        }
        best.1
    }

    /// The lexicon with the given scales.
    pub fn with_knobs(k: Knobs) -> Self {
        let mut weights: HashMap<String, [f32; CLASSES]> = HashMap::new();
        for (cat, cues) in CUES {
            let i = class_index(ReqClass::Quality, Some(*cat));
            for cue in *cues {
                weights.entry(format!("cue:{}:{}", cat.code(), cue)).or_insert([0.0; CLASSES])
                    [i] += k.quality;
            }
        }
        for cue in FUNCTIONAL {
            weights.entry(format!("fn:{cue}")).or_insert([0.0; CLASSES])[0] += k.functional;
        }
        for (name, w) in SHAPE_WEIGHTS {
            let e = weights.entry(name.to_string()).or_insert([0.0; CLASSES]);
            for x in e.iter_mut().skip(1) {
                *x += w * k.shape;
            }
        }
        let mut bias = [0.0; CLASSES];
        bias[0] = k.bias;
        Classifier { weights, bias, learned: None, embeddings: None }
    }
}

/// The lexicon model's four scales.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Knobs {
    pub quality: f32,
    pub functional: f32,
    pub bias: f32,
    pub shape: f32,
}

impl Knobs {
    /// Chosen by hand before looking at any scores.
    const HAND: Knobs = Knobs { quality: 1.0, functional: 0.9, bias: 0.6, shape: 1.0 };
    /// What `calibrate` chose on the development split of the PROMISE sets
    /// (`promise_nfr_625` + `promise_exp_969`, odd projects): the shipped default.
    const SHIPPED: Knobs = Knobs { quality: 1.4, functional: 0.3, bias: 1.25, shape: 1.2 };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Does `cue` match the sentence? Tries it the long way.
    fn matches_by_scan(words: &[String], joined: &str, cue: &str) -> bool {
        if let Some(prefix) = cue.strip_suffix('*') {
            if prefix.contains(' ') || prefix.contains('%') {
                return joined.contains(prefix);
            }
            return words.iter().any(|w| w.starts_with(prefix));
        }
        if cues::is_phrase(cue) {
            return text::find_word(joined, cue, true).is_some();
        }
        words.iter().any(|w| w == cue)
    }

    /// Every cue tried in turn, in the order of the lists.
    fn cue_features_by_scan(ws: &[String], joined: &str, out: &mut Vec<String>) {
        for (cat, cues) in CUES {
            for cue in *cues {
                if matches_by_scan(ws, joined, cue) {
                    out.push(format!("cue:{}:{}", cat.code(), cue));
                }
            }
        }
        for cue in FUNCTIONAL {
            if matches_by_scan(ws, joined, cue) {
                out.push(format!("fn:{cue}"));
            }
        }
    }

    /// The cue index (words, prefixes by length, phrases by their first run) never changes a
    /// feature: every cue, in sentences, glued to other words, hyphenated, bracketed, in
    /// capitals, at either end, gives what trying each cue in turn gives.
    #[test]
    fn the_cue_index_gives_the_features_a_full_scan_gives() {
        let cues = CUES.iter().flat_map(|(_, c)| c.iter()).chain(FUNCTIONAL.iter());
        let mut n = 0;
        let mut found = 0;
        for cue in cues {
            let bare = cue.trim_end_matches('*');
            for t in [
                format!("The system shall {bare} within 2 seconds."),
                format!("pre-{bare}-post and {bare}ing"),
                format!("x{bare}y {}", bare.to_uppercase()),
                format!("({bare}) / {bare}% of users"),
                bare.to_string(),
                format!("{bare}s, {bare}'s, un{bare}"),
                format!("é{bare} {bare}é ü{} ß", &bare[..bare.len() / 2]),
            ] {
                let quick = features(&t);
                assert_eq!(quick, features_with(&t, cue_features_by_scan), "{t}");
                n += 1;
                found += quick.len();
            }
        }
        assert!(n > 300 && found > n, "{n} sentences, {found} features");
    }
}
