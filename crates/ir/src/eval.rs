//! Scoring the classifier and the smell detectors against labelled public data (CSV text in,
//! reports out). Precision, recall and F1 per class, macro averages, leave-one-project-out
//! for the trained model; per-requirement detection for smells, next to ARTA's published F1.

use std::collections::BTreeMap;

use l9_types::{Diagnostic, Span};
use serde::Serialize;

use crate::classify::{self, Classifier, Example};
use crate::model::{QualityCategory, ReqClass};
use crate::smells::{self, Smell};

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
        out.push(Example { text, label, quality, project });
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

/// Scores the hand-written lexicon model (no training) and the calibrated model with
/// leave-one-project-out (calibrate on every other project, predict this one).
pub fn classification(examples: &[Example]) -> Vec<ClassScores> {
    let lexicon = Classifier::lexicon();
    let rows: Vec<(usize, &Example)> =
        examples.iter().map(|e| (lexicon.predict_index(&e.text), e)).collect();
    let shipped = Classifier::default();
    let shipped_rows: Vec<(usize, &Example)> =
        examples.iter().map(|e| (shipped.predict_index(&e.text), e)).collect();
    let mut out = vec![
        score("lexicon, hand-set scales (no data)", &rows),
        score(
            "shipped default (scales calibrated on the PROMISE development split; in-sample there)",
            &shipped_rows,
        ),
    ];
    let projects: Vec<&str> = {
        let mut p: Vec<&str> = examples.iter().map(|e| e.project.as_str()).collect();
        p.sort();
        p.dedup();
        p
    };
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
            &format!("calibrated, leave-one-project-out ({} projects)", projects.len()),
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

/// A requirement with, per smell column present in its file, whether experts marked it.
#[derive(Debug, Clone)]
pub struct SmellRow {
    pub text: String,
    pub labels: BTreeMap<Smell, bool>,
}

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
        let labels = cols
            .iter()
            .map(|&(c, s)| {
                let v = rec.get(c).unwrap_or("-").trim();
                (s, !(v.is_empty() || v == "-"))
            })
            .collect();
        out.push(SmellRow { text, labels });
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
