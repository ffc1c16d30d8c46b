//! Strict leave-one-project-out for the learned smell tagger.
//!
//! Projects are the labelled files' document column. Two projects that share a requirement
//! text (the same document labelled in two data sets, e.g. ARTA DS1 and DS3 both hold EIRENE
//! and the peering agreement) are one group, so a held-out document is never seen through its
//! copy. For every group that holds rows of the file under evaluation, a tagger is trained on
//! every row outside the group labelled under the same scheme (heads are per scheme) and
//! scored on the file's rows inside it. Nothing (weights, thresholds, word lists) is fitted on the held-out
//! group.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::Counts;
use crate::learn::Params;
use crate::learn::tagger::{SmellTagger, project_groups};
use crate::smells::{Smell, SmellRow};

/// One held-out group of one file.
#[derive(Debug, Clone, Serialize)]
pub struct SmellFold {
    pub projects: Vec<String>,
    pub rows: usize,
    pub trained_on: usize,
    pub learned: BTreeMap<Smell, Counts>,
    /// The smells of the held-out rows the fold's tagger had no head for (its training rows
    /// marked too few requirements with them): their figures are the word lists'.
    pub by_lists: Vec<Smell>,
}

/// The learned tagger's leave-one-project-out on one file, next to the word lists on the same
/// rows.
#[derive(Debug, Clone, Serialize)]
pub struct SmellLopo {
    pub learned: BTreeMap<Smell, Counts>,
    /// The same tagger's hits as the challenger reports them (its RFC-keyword and context
    /// rules, `challenge::keeps`).
    pub challenged: BTreeMap<Smell, Counts>,
    pub lexicon: BTreeMap<Smell, Counts>,
    pub folds: Vec<SmellFold>,
    /// Per smell, F1 across the folds where the smell occurs: (mean, sd, folds).
    pub fold_f1: BTreeMap<Smell, (f64, f64, usize)>,
}

/// Adds one row's requirement-level outcome per labelled smell to `out`.
fn tally(out: &mut BTreeMap<Smell, Counts>, row: &SmellRow, found: &[crate::smells::Hit]) {
    for (&smell, &actual) in &row.labels {
        out.entry(smell).or_default().add(found.iter().any(|h| h.smell == smell), actual);
    }
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    (m, (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt())
}

/// Leave-one-project-out of the tagger on the rows `target` (indices into `all`), training on
/// the rest of `all`.
pub fn smell_lopo(all: &[SmellRow], target: &[usize], params: Params) -> SmellLopo {
    let groups = project_groups(all);
    let mut held: Vec<usize> = target.iter().map(|&i| groups[i]).collect();
    held.sort_unstable();
    held.dedup();
    let mut learned = BTreeMap::new();
    let mut challenged = BTreeMap::new();
    let mut lexicon = BTreeMap::new();
    let mut folds = Vec::new();
    for g in held {
        // Heads are per labelling scheme, so only the held-out rows' scheme needs training.
        let schemes: Vec<&str> = target.iter().map(|&i| all[i].scheme.as_str()).collect();
        let train: Vec<SmellRow> = all
            .iter()
            .zip(&groups)
            .filter(|(r, gi)| **gi != g && schemes.contains(&r.scheme.as_str()))
            .map(|(r, _)| r.clone())
            .collect();
        let test: Vec<&SmellRow> =
            target.iter().filter(|&&i| groups[i] == g).map(|&i| &all[i]).collect();
        let tagger = SmellTagger::train(&train, params, "leave-one-project-out");
        let mut fold: BTreeMap<Smell, Counts> = BTreeMap::new();
        let mut by_lists: BTreeSet<Smell> = BTreeSet::new();
        for row in &test {
            let which: Vec<Smell> = row.labels.keys().copied().collect();
            by_lists.extend(which.iter().filter(|s| !tagger.covers(**s, Some(&row.scheme))));
            let found = tagger.detect_in_scheme(&row.text, &which, Some(&row.scheme));
            tally(&mut learned, row, &found);
            tally(&mut fold, row, &found);
            let kept: Vec<_> =
                found.into_iter().filter(|h| crate::challenge::keeps(h, &row.text)).collect();
            tally(&mut challenged, row, &kept);
            tally(&mut lexicon, row, &crate::smells::detect_only(&row.text, &which));
        }
        let mut projects: Vec<String> = test.iter().map(|r| r.project.clone()).collect();
        projects.sort_unstable();
        projects.dedup();
        folds.push(SmellFold {
            projects,
            rows: test.len(),
            trained_on: train.len(),
            learned: fold,
            by_lists: by_lists.into_iter().collect(),
        });
    }
    let mut fold_f1 = BTreeMap::new();
    for smell in Smell::ALL {
        let xs: Vec<f64> = folds
            .iter()
            .filter_map(|f| f.learned.get(&smell))
            .filter(|c| c.support() > 0)
            .map(Counts::f1)
            .collect();
        if !xs.is_empty() {
            let (m, sd) = mean_sd(&xs);
            fold_f1.insert(smell, (m, sd, xs.len()));
        }
    }
    SmellLopo { learned, challenged, lexicon, folds, fold_f1 }
}
