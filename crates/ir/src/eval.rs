//! Scoring the classifier and the smell detectors against labelled public data (CSV text in,
//! reports out). Precision, recall and F1 per class, macro averages, leave-one-project-out
//! for the trained model; per-requirement detection for smells, next to ARTA's published F1.

use std::collections::{BTreeMap, HashMap};

use l9_types::{Diagnostic, Span};
use serde::Serialize;

use crate::classify::{self, Classifier, Example};
use crate::learn::{self, FeatureConfig, Learned, Params};
use crate::model::{QualityCategory, ReqClass};
use crate::smells::{self, Smell};

mod duplicates;
mod tagging;
pub use crate::learn::tagger::project_groups;
pub use duplicates::{DuplicateScores, LabelledPair, SHARE_GRID, duplicate_scores};
pub use tagging::{SmellFold, SmellLopo, smell_lopo};

/// Counts for one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub tp: u32,
    pub fp: u32,
    #[serde(rename = "fn")]
    pub fn_: u32,
}

impl Counts {
    pub fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => {}
        }
    }

    /// Adds another tally's counts to this one.
    pub fn merge(&mut self, other: &Counts) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }

    pub fn support(&self) -> u32 {
        self.tp + self.fn_
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 { 0.0 } else { f64::from(a) / f64::from(b) }
}

fn bad(file: &str, line: u32, msg: impl Into<String>, help: &str) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::error("L9-EVAL-001", msg)
            .with_span(Span::line(file, line))
            .with_help(help.to_string()),
    )
}

/// A CSV reader and its header row, or an error naming the file.
fn with_headers<'t>(
    file: &str,
    text: &'t str,
) -> Result<(csv::Reader<&'t [u8]>, csv::StringRecord), Box<Diagnostic>> {
    let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers = r
        .headers()
        .map_err(|e| {
            bad(
                file,
                1,
                format!("cannot read the header: {e}"),
                "the first line must name the columns",
            )
        })?
        .clone();
    Ok((r, headers))
}

/// Reads a classification CSV (`ProjectID, RequirementText, class, IsNFR`; the relabelled
/// set's `Class, IsQuality` also works). Rows with an unknown class code keep only their
/// binary label.
pub fn read_classification(file: &str, text: &str) -> Result<Vec<Example>, Box<Diagnostic>> {
    let (mut r, headers) = with_headers(file, text)?;
    let col = |names: &[&str]| {
        headers.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    let (Some(text_col), Some(class_col)) =
        (col(&["RequirementText", "text", "requirement"]), col(&["class"]))
    else {
        return Err(bad(
            file,
            1,
            "missing columns: need RequirementText and class (and ProjectID, IsNFR)",
            "use a PROMISE-style CSV: ProjectID,RequirementText,class,IsNFR",
        ));
    };
    let project_col = col(&["ProjectID", "project"]);
    let nfr_col = col(&["IsNFR", "IsQuality"]);
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = u32::try_from(i + 2).unwrap_or(u32::MAX);
        let rec = rec.map_err(|e| {
            bad(file, line, format!("malformed CSV row: {e}"), "quote fields that contain commas")
        })?;
        let text = rec.get(text_col).unwrap_or("").trim().to_string();
        if text.is_empty() {
            continue;
        }
        let code = rec.get(class_col).unwrap_or("").trim();
        let category = QualityCategory::from_code(code);
        let label = match (code, category) {
            ("F", _) => classify::class_index(ReqClass::Functional, None),
            (_, Some(c)) => classify::class_index(ReqClass::Quality, Some(c)),
            _ => usize::MAX,
        };
        let quality = match nfr_col.and_then(|c| rec.get(c)).map(str::trim) {
            Some("1") => true,
            Some("0") => false,
            Some(other) => {
                return Err(bad(
                    file,
                    line,
                    format!("binary column must be 0 or 1, found `{other}`"),
                    "fix the IsNFR/IsQuality value",
                ));
            }
            None => code != "F",
        };
        let project = project_col.and_then(|c| rec.get(c)).unwrap_or("0").trim().to_string();
        out.push(Example { text, label, quality, project, dense: None });
    }
    if out.is_empty() {
        return Err(bad(file, 2, "no rows", "the file has a header but no requirements"));
    }
    Ok(out)
}

/// One model's scores.
#[derive(Debug, Clone, Serialize)]
pub struct ClassScores {
    pub model: String,
    pub functional: Counts,
    pub quality: Counts,
    /// PROMISE code → counts, over rows with a known category.
    pub categories: BTreeMap<String, Counts>,
}

impl ClassScores {
    pub fn binary_macro_f1(&self) -> f64 {
        (self.functional.f1() + self.quality.f1()) / 2.0
    }

    /// Average F1 of the four most frequent PROMISE classes (operational, performance,
    /// security, usability), the figure NoRBERT reports for subclasses.
    pub fn frequent_four_f1(&self) -> f64 {
        let f: Vec<f64> = ["O", "PE", "SE", "US"]
            .iter()
            .filter_map(|c| self.categories.get(*c))
            .map(Counts::f1)
            .collect();
        if f.is_empty() { 0.0 } else { f.iter().sum::<f64>() / f.len() as f64 }
    }

    pub fn category_macro_f1(&self) -> f64 {
        let with_support: Vec<f64> =
            self.categories.values().filter(|c| c.support() > 0).map(Counts::f1).collect();
        if with_support.is_empty() {
            0.0
        } else {
            with_support.iter().sum::<f64>() / with_support.len() as f64
        }
    }
}

fn score(model: &str, rows: &[(usize, &Example)]) -> ClassScores {
    let mut s = ClassScores {
        model: model.into(),
        functional: Counts::default(),
        quality: Counts::default(),
        categories: BTreeMap::new(),
    };
    for c in QualityCategory::ALL {
        s.categories.insert(c.code().into(), Counts::default());
    }
    for &(pred, ex) in rows {
        let pred_quality = pred != 0;
        s.functional.add(!pred_quality, !ex.quality);
        s.quality.add(pred_quality, ex.quality);
        if ex.label != usize::MAX && ex.label != 0 {
            // Per category over the quality rows with a known category (as NoRBERT's task 3).
            for c in QualityCategory::ALL {
                let i = classify::class_index(ReqClass::Quality, Some(c));
                if let Some(counts) = s.categories.get_mut(c.code()) {
                    counts.add(pred == i, ex.label == i);
                }
            }
        }
    }
    s
}

/// Scores the hand-written lexicon model (no training), the calibrated lexicon with
/// leave-one-project-out (calibrate on every other project, predict this one) and the shipped
/// learned model (labelled SEEN when rows were among its training rows). The learned model's
/// own leave-one-project-out is [`learned_lopo`].
pub fn classification(examples: &[Example]) -> Vec<ClassScores> {
    let lexicon = Classifier::lexicon();
    let rows: Vec<(usize, &Example)> =
        examples.iter().map(|e| (lexicon.predict_index(&e.text), e)).collect();
    let mut out = vec![score("lexicon, hand-set scales (no data)", &rows)];
    if let Some(m) = classify::shipped_model() {
        out.push(model_scores("shipped learned model", &m, examples).0);
    }
    let projects = projects_of(examples);
    if projects.len() >= 2 {
        let mut rows = Vec::new();
        for p in &projects {
            let train: Vec<Example> = examples
                .iter()
                .filter(|e| e.project != *p && e.label != usize::MAX)
                .cloned()
                .collect();
            let model = Classifier::calibrate(&train);
            for e in examples.iter().filter(|e| e.project == *p) {
                rows.push((model.predict_index(&e.text), e));
            }
        }
        out.push(score(
            &format!(
                "calibrated lexicon, leave-one-project-out ({} projects; the word lists were written looking at the development data, so optimistic there)",
                projects.len()
            ),
            &rows,
        ));
    }
    out
}

/// Published figures the report prints next to ours.
pub const PUBLISHED_BINARY: &[(&str, &str)] = &[
    ("Kurtanović & Maalej 2017 (SVM, F vs NFR)", "F1 ≈ 0.92"),
    ("NoRBERT, Hey et al. 2020 (BERT large, F vs NFR)", "F 0.90 / NFR 0.93"),
    ("NoRBERT, Hey et al. 2020 (four most frequent NFR classes O, PE, SE, US)", "average F1 0.87"),
];

pub use crate::smells::SmellRow;

/// Which smell a column of an ARTA data set means (they spell them differently).
pub fn smell_column(header: &str) -> Option<Smell> {
    let h: String = header.to_lowercase().chars().filter(|c| c.is_ascii_alphabetic()).collect();
    Some(if h.starts_with("subj") {
        Smell::Subjective
    } else if h.starts_with("ambig") {
        Smell::Ambiguous
    } else if h.starts_with("loop") {
        Smell::Loophole
    } else if h.starts_with("nonverif") || h.starts_with("open") {
        Smell::NonVerifiable
    } else if h.starts_with("superl") {
        Smell::Superlative
    } else if h.starts_with("compr") || h.starts_with("compar") {
        Smell::Comparative
    } else if h.starts_with("neg") {
        Smell::Negative
    } else if h.starts_with("vague") {
        Smell::VaguePronoun
    } else if h.starts_with("uncert") {
        Smell::UncertainVerb
    } else if h.starts_with("polys") {
        Smell::Polysemy
    } else {
        return None;
    })
}

/// Reads an ARTA-style smell CSV: the first column is the requirement text, then one column
/// per smell holding the offending words or `-`.
pub fn read_smells(file: &str, text: &str) -> Result<Vec<SmellRow>, Box<Diagnostic>> {
    let (mut r, headers) = with_headers(file, text)?;
    let cols: Vec<(usize, Smell)> =
        headers.iter().enumerate().filter_map(|(i, h)| smell_column(h).map(|s| (i, s))).collect();
    if cols.is_empty() {
        return Err(bad(
            file,
            1,
            "no smell columns found",
            "columns are named like the ARTA data sets: Subjective_lang., Negative, Vague_pron., …",
        ));
    }
    let scheme = cols.iter().map(|&(c, _)| headers[c].trim()).collect::<Vec<_>>().join(",");
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = u32::try_from(i + 2).unwrap_or(u32::MAX);
        let rec = rec.map_err(|e| {
            bad(
                file,
                line,
                format!("malformed CSV row: {e}"),
                "quote fields that contain commas or line breaks",
            )
        })?;
        let text = rec.get(0).unwrap_or("").trim().to_string();
        if text.is_empty() {
            continue;
        }
        let project = rec.get(1).unwrap_or("").trim().to_string();
        let words: BTreeMap<Smell, Vec<String>> = cols
            .iter()
            .map(|&(c, s)| {
                let cell = rec.get(c).unwrap_or("-");
                let marked = cell
                    .split('*')
                    .map(str::trim)
                    .filter(|w| !w.is_empty() && *w != "-")
                    .map(str::to_string)
                    .collect();
                (s, marked)
            })
            .collect();
        let labels = words.iter().map(|(s, w)| (*s, !w.is_empty())).collect();
        out.push(SmellRow { text, project, scheme: scheme.clone(), labels, words });
    }
    Ok(out)
}

/// ARTA's published F1 per smell (Zakeri et al.; loophole and TBD not reported).
pub fn arta_f1(smell: Smell) -> Option<f64> {
    Some(match smell {
        Smell::Subjective => 0.40,
        Smell::Ambiguous => 0.40,
        Smell::NonVerifiable => 0.28,
        Smell::Superlative => 0.50,
        Smell::Comparative => 0.62,
        Smell::Negative => 0.44,
        Smell::VaguePronoun => 0.23,
        Smell::UncertainVerb => 0.87,
        Smell::Polysemy => 0.74,
        Smell::Loophole | Smell::Tbd => return None,
    })
}

/// Per smell: a requirement is predicted smelly when the detector finds the smell in it, and
/// is smelly when the experts wrote words in that column.
pub fn smells(rows: &[SmellRow]) -> BTreeMap<Smell, Counts> {
    let mut out: BTreeMap<Smell, Counts> = BTreeMap::new();
    for row in rows {
        let which: Vec<Smell> = row.labels.keys().copied().collect();
        let found: Vec<Smell> =
            smells::detect_only(&row.text, &which).into_iter().map(|h| h.smell).collect();
        for (&smell, &actual) in &row.labels {
            out.entry(smell).or_default().add(found.contains(&smell), actual);
        }
    }
    out
}

/// A labelled pair of requirements by node id: (spec, id a, id b, duplicate, line).
pub type PairIds = (String, String, String, bool, u32);

/// Reads labelled pairs (`spec,a,b,duplicate` with `duplicate` 0 or 1).
pub fn read_pair_ids(file: &str, text: &str) -> Result<Vec<PairIds>, Box<Diagnostic>> {
    let (mut r, headers) = with_headers(file, text)?;
    let col = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let (Some(s), Some(a), Some(b), Some(d)) = (col("spec"), col("a"), col("b"), col("duplicate"))
    else {
        return Err(bad(file, 1, "missing columns", "the header must be spec,a,b,duplicate"));
    };
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = u32::try_from(i + 2).unwrap_or(u32::MAX);
        let rec = rec
            .map_err(|e| bad(file, line, format!("malformed CSV row: {e}"), "one pair per line"))?;
        let get = |c: usize| rec.get(c).unwrap_or("").trim().to_string();
        let dup = match get(d).as_str() {
            "1" => true,
            "0" => false,
            other => {
                return Err(bad(
                    file,
                    line,
                    format!("duplicate must be 0 or 1, not {other:?}"),
                    "write 1 when the two requirements say the same thing, else 0",
                ));
            }
        };
        out.push((get(s), get(a), get(b), dup, line));
    }
    Ok(out)
}

/// Per smell, the tagger's requirement-level counts, judging each row in its file's scheme.
pub fn tagger_scores(
    tagger: &crate::learn::tagger::SmellTagger,
    rows: &[SmellRow],
) -> BTreeMap<Smell, Counts> {
    let mut out: BTreeMap<Smell, Counts> = BTreeMap::new();
    for row in rows {
        let which: Vec<Smell> = row.labels.keys().copied().collect();
        let found = tagger.detect_in_scheme(&row.text, &which, Some(&row.scheme));
        for (&smell, &actual) in &row.labels {
            out.entry(smell).or_default().add(found.iter().any(|h| h.smell == smell), actual);
        }
    }
    out
}

/// Rows of several files as one training set: a text seen before (case and spacing folded)
/// is dropped, the first occurrence wins.
pub fn dedup_examples(rows: Vec<Example>) -> Vec<Example> {
    let mut seen = std::collections::HashSet::new();
    rows.into_iter().filter(|e| seen.insert(learn::text_hash(&e.text))).collect()
}

/// One left-out project's result.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    pub project: String,
    pub rows: usize,
    /// The feature set and L2 strength the inner cross-validation chose on the other projects.
    pub features: String,
    pub lambda: f32,
    /// Gold functional and quality rows in the project.
    pub functional: u32,
    pub quality: u32,
    pub functional_f1: f64,
    pub quality_f1: f64,
}

/// The learned model scored by strict leave-one-project-out.
#[derive(Debug, Clone, Serialize)]
pub struct LearnedReport {
    /// The candidate feature sets each fold chose from.
    pub features: String,
    pub scores: ClassScores,
    pub folds: Vec<Fold>,
    /// Mean and standard deviation across folds of the binary macro F1 (over the classes
    /// present in each fold).
    pub fold_macro_f1: (f64, f64),
    /// `confusion[gold][predicted]` over rows with a known class; index order `classes`.
    pub confusion: Vec<Vec<u32>>,
    pub classes: Vec<String>,
}

/// Class names in `class_index` order (`F`, then the PROMISE quality codes).
pub fn class_codes() -> Vec<String> {
    std::iter::once("F".to_string())
        .chain(QualityCategory::ALL.iter().map(|c| c.code().to_string()))
        .collect()
}

/// The distinct project ids of `examples`, sorted.
pub fn projects_of(examples: &[Example]) -> Vec<String> {
    let mut p: Vec<String> = examples.iter().map(|e| e.project.clone()).collect();
    p.sort();
    p.dedup();
    p
}

/// The score an inner fold maximises: binary macro F1 plus the category macro F1 (equal
/// weight), so the chosen strength serves both heads.
fn selection_score(s: &ClassScores) -> f64 {
    s.binary_macro_f1() + s.category_macro_f1()
}

/// Predictions for every row from models trained without the row's group (`group_of` maps a
/// project to its group).
fn grouped_rows<'e>(
    examples: &'e [Example],
    cfg: FeatureConfig,
    params: Params,
    groups: usize,
    group_of: &dyn Fn(&str) -> usize,
) -> Vec<(usize, &'e Example)> {
    let mut rows = Vec::new();
    for g in 0..groups {
        let train: Vec<Example> =
            examples.iter().filter(|e| group_of(&e.project) != g).cloned().collect();
        let m = Learned::train(&train, cfg, params, "inner fold");
        rows.extend(
            examples
                .iter()
                .filter(|e| group_of(&e.project) == g)
                .map(|e| (m.predict(&e.text, e.dense.as_deref()).index, e)),
        );
    }
    rows
}

/// Folds of the inner selection: projects dealt round-robin (sorted by id) into at most this
/// many groups, so a project is never split between training and scoring.
pub const INNER_FOLDS: usize = 4;

/// The feature sets a model is chosen from: word n-grams and the lexicon's features over the
/// lexicon's scores, the same with character n-grams, and word n-grams with the lexicon's
/// features from scratch; with a sentence embedding appended when every example has one.
pub fn candidates(examples: &[Example]) -> Vec<FeatureConfig> {
    let words = FeatureConfig { char_min: 0, char_max: 0, ..FeatureConfig::HASHED };
    let mut out = vec![
        words,
        FeatureConfig::HASHED,
        FeatureConfig { prior: false, ..words },
        FeatureConfig { binary_prior: true, ..words },
        FeatureConfig { binary_prior: true, ..FeatureConfig::HASHED },
    ];
    let dims = examples.first().and_then(|e| e.dense.as_ref()).map_or(0, Vec::len);
    if dims > 0 && examples.iter().all(|e| e.dense.as_ref().is_some_and(|d| d.len() == dims)) {
        for c in out.iter_mut() {
            c.dense = dims as u32;
        }
    }
    out
}

/// Chooses the feature set and L2 strength ([`candidates`] × [`learn::LAMBDA_GRID`]) by
/// project-grouped cross-validation on `examples` alone; the first best wins ties, so the
/// choice is deterministic.
pub fn choose(examples: &[Example], params: Params) -> (FeatureConfig, f32) {
    let cands = candidates(examples);
    let projects = projects_of(examples);
    if projects.len() < 2 {
        return (cands[0], params.lambda);
    }
    let groups = projects.len().min(INNER_FOLDS);
    let group_of = |p: &str| projects.iter().position(|x| x == p).unwrap_or(0) % groups;
    let mut best = (f64::MIN, cands[0], params.lambda);
    for cfg in cands {
        for lambda in learn::LAMBDA_GRID {
            let rows = grouped_rows(examples, cfg, Params { lambda, ..params }, groups, &group_of);
            let s = selection_score(&score("inner", &rows));
            if s > best.0 + 1e-12 {
                best = (s, cfg, lambda);
            }
        }
    }
    (best.1, best.2)
}

/// Trains the model `l9 eval train` ships: feature set and L2 chosen by [`choose`] on the
/// examples, then fitted on all of them.
pub fn train_selected(examples: &[Example], params: Params, trained_by: &str) -> Learned {
    let (cfg, lambda) = choose(examples, params);
    Learned::train(examples, cfg, Params { lambda, ..params }, trained_by)
}

/// Strict leave-one-project-out for the learned model: for each project, the feature set and
/// L2 strength are chosen by a project-grouped cross-validation over the other projects, a
/// model is trained on them, and the left-out project is predicted. Nothing — weights,
/// feature set, regularisation — is fitted with the project it scores. `None` with fewer than
/// two projects.
pub fn learned_lopo(examples: &[Example], params: Params) -> Option<LearnedReport> {
    learned_lopo_pooled(&[examples], 0, params)
}

/// [`learned_lopo`] of `files[target]` with each fold trained on the other projects of every
/// file — pooled as `l9 eval train` pools them (rows deduplicated by text, the first file
/// first), so each fold is the shipped model's training less the project it scores. Projects
/// that share a requirement text (the same document in two data sets, or one relabelled) are
/// one group and are left out together. `None` when the target has fewer than two projects.
pub fn learned_lopo_pooled(
    files: &[&[Example]],
    target: usize,
    params: Params,
) -> Option<LearnedReport> {
    let examples = *files.get(target)?;
    let projects = projects_of(examples);
    if projects.len() < 2 {
        return None;
    }
    // Every row of every file under its file's name for the project, so that projects of two
    // files are told apart, then grouped by shared texts.
    let keyed: Vec<(String, &Example)> = files
        .iter()
        .enumerate()
        .flat_map(|(f, rows)| rows.iter().map(move |e| (format!("{f}:{}", e.project), e)))
        .collect();
    let groups = crate::text::groups_by_shared_text(
        &keyed.iter().map(|(k, e)| (k.as_str(), e.text.as_str())).collect::<Vec<_>>(),
    );
    let group_of_key: HashMap<&str, usize> =
        keyed.iter().zip(&groups).map(|((k, _), g)| (k.as_str(), *g)).collect();
    let mut rows = Vec::new();
    let mut folds = Vec::new();
    for p in &projects {
        let left_out = group_of_key[format!("{target}:{p}").as_str()];
        let train = dedup_examples(
            keyed
                .iter()
                .zip(&groups)
                .filter(|(_, g)| **g != left_out)
                .map(|((k, e), _)| Example { project: k.clone(), ..(*e).clone() })
                .collect(),
        );
        let (cfg, lambda) = choose(&train, params);
        let m = Learned::train(&train, cfg, Params { lambda, ..params }, "outer fold");
        let fold: Vec<(usize, &Example)> = examples
            .iter()
            .filter(|e| &e.project == p)
            .map(|e| (m.predict(&e.text, e.dense.as_deref()).index, e))
            .collect();
        let s = score("fold", &fold);
        folds.push(Fold {
            project: p.clone(),
            rows: fold.len(),
            features: cfg.describe(),
            lambda,
            functional: s.functional.support(),
            quality: s.quality.support(),
            functional_f1: s.functional.f1(),
            quality_f1: s.quality.f1(),
        });
        rows.extend(fold);
    }
    // A fold's macro F1 averages the classes present in it (a project with no functional
    // requirement has no functional F1 to score).
    let macros: Vec<f64> = folds
        .iter()
        .map(|f| {
            let present: Vec<f64> = [(f.functional, f.functional_f1), (f.quality, f.quality_f1)]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(_, x)| *x)
                .collect();
            present.iter().sum::<f64>() / present.len().max(1) as f64
        })
        .collect();
    let mean = macros.iter().sum::<f64>() / macros.len() as f64;
    let var = macros.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / macros.len() as f64;
    let classes = class_codes();
    let mut confusion = vec![vec![0u32; classes.len()]; classes.len()];
    for (pred, e) in &rows {
        if e.label < classes.len() {
            confusion[e.label][*pred] += 1;
        }
    }
    let described: Vec<String> = candidates(examples).iter().map(FeatureConfig::describe).collect();
    Some(LearnedReport {
        features: described.join(" | "),
        scores: score(
            &if files.len() > 1 {
                format!(
                    "learned, strict leave-one-project-out ({} projects; each fold trained on the \
                     other projects of all {} files, projects sharing a requirement text left out \
                     together; features and L2 chosen inside each fold)",
                    projects.len(),
                    files.len()
                )
            } else {
                format!(
                    "learned, strict leave-one-project-out ({} projects; features and L2 chosen inside each fold)",
                    projects.len()
                )
            },
            &rows,
        ),
        folds,
        fold_macro_f1: (mean, var.sqrt()),
        confusion,
        classes,
    })
}

/// A learned model's scores on `examples` under `name`, labelled SEEN when some rows were
/// among its training rows (then the figure is not an estimate of unseen data).
pub fn model_scores(name: &str, model: &Learned, examples: &[Example]) -> (ClassScores, usize) {
    let seen = examples.iter().filter(|e| model.has_seen(&e.text)).count();
    let rows: Vec<(usize, &Example)> =
        examples.iter().map(|e| (model.predict(&e.text, e.dense.as_deref()).index, e)).collect();
    let label = if seen == 0 {
        format!("{name} ({}), unseen rows", model.info.features.describe())
    } else {
        format!(
            "{name} ({}) — SEEN: {seen} of {} rows were in its training data",
            model.info.features.describe(),
            examples.len()
        )
    };
    (score(&label, &rows), seen)
}
