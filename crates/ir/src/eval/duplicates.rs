//! Scoring the challenger's duplicate judgement on labelled requirement pairs.
//!
//! The pairs (`bench/duplicate_pairs.csv`) were made from the development specs: every pair of
//! requirements in a spec sharing at least half their words, plus pairs with the same text,
//! each read and labelled by hand "says the same thing" or not. The share of common terms the
//! challenger requires is chosen here by leave-one-document-out: for each document, the share
//! that scores best on the other documents' pairs is scored on its own.

use serde::Serialize;

use super::Counts;
use crate::challenge;

/// One labelled pair: the document and the two requirement texts.
#[derive(Debug, Clone)]
pub struct LabelledPair {
    pub spec: String,
    pub a: String,
    pub b: String,
    pub duplicate: bool,
}

/// The shares of common terms a leave-one-document-out chooses from (fixed before scoring).
pub const SHARE_GRID: [f32; 5] = [0.5, 0.6, 0.7, 0.8, 0.9];

/// The duplicate judgements on one document's pairs.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateScores {
    pub spec: String,
    pub pairs: usize,
    /// The challenger as shipped (share [`challenge::DUPLICATE_JACCARD`]).
    pub challenger: Counts,
    /// The earlier rule: stemmed content words (three letters or more, numbers dropped)
    /// sharing at least 75%, whatever was replaced.
    pub word_overlap: Counts,
    /// The share chosen on the other documents' pairs, and its counts here.
    pub held_out_share: Option<f32>,
    pub held_out: Option<Counts>,
}

fn counts(pairs: &[&LabelledPair], judge: impl Fn(&str, &str) -> bool) -> Counts {
    let mut c = Counts::default();
    for p in pairs {
        c.add(judge(&p.a, &p.b), p.duplicate);
    }
    c
}

fn word_overlap(a: &str, b: &str) -> bool {
    let (ta, tb) = (crate::text::content_terms(a), crate::text::content_terms(b));
    if ta.len() < 3 || tb.len() < 3 {
        return false;
    }
    let inter = ta.intersection(&tb).count();
    inter as f32 / (ta.len() + tb.len() - inter).max(1) as f32 >= 0.75
}

/// Scores per document, in the order documents first appear.
pub fn duplicate_scores(pairs: &[LabelledPair]) -> Vec<DuplicateScores> {
    let mut specs: Vec<&str> = Vec::new();
    for p in pairs {
        if !specs.contains(&p.spec.as_str()) {
            specs.push(&p.spec);
        }
    }
    specs
        .iter()
        .map(|spec| {
            let here: Vec<&LabelledPair> = pairs.iter().filter(|p| p.spec == *spec).collect();
            let rest: Vec<&LabelledPair> = pairs.iter().filter(|p| p.spec != *spec).collect();
            let at = |share: f32| {
                move |a: &str, b: &str| challenge::duplicate_judgement_at(a, b, share).is_some()
            };
            // Best F1 on the other documents; ties: the stricter share.
            let chosen = (!rest.is_empty()).then(|| {
                SHARE_GRID
                    .iter()
                    .copied()
                    .map(|s| (counts(&rest, at(s)).f1(), s))
                    .fold((f64::MIN, 0.0f32), |best, x| if x.0 >= best.0 { x } else { best })
                    .1
            });
            DuplicateScores {
                spec: spec.to_string(),
                pairs: here.len(),
                challenger: counts(&here, at(challenge::DUPLICATE_JACCARD)),
                word_overlap: counts(&here, word_overlap),
                held_out_share: chosen,
                held_out: chosen.map(|s| counts(&here, at(s))),
            }
        })
        .collect()
}
