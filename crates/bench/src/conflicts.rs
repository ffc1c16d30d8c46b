//! `l9 eval conflicts`: conflict prediction measured on a repository's real merges. For each
//! merge commit whose two sides both have commits since their merge base, the predictor sees
//! only the two sides' commit messages (and the history before the merge base: co-change is
//! folded up to the base, never past it; candidate files are those alive then) and says
//! whether the sides touch overlapping files. That is compared with the files the sides'
//! commits really changed, and with whether `git merge-tree` reports a textual conflict.

#![allow(clippy::disallowed_methods)] // an evaluation runs git merge-tree by definition

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use l9_ingest::code::CodeIndex;
use l9_ingest::conflict::{MessageModel, Predictor, TOP_FILES, shared};
use l9_ingest::git::{self, Commit, ReadOptions};
use l9_ingest::history::State;
use serde::Serialize;

use crate::{BenchError, Result};

/// Precision and recall of a yes/no prediction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scores {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
}

impl Scores {
    fn add(&mut self, predicted: bool, truth: bool) {
        match (predicted, truth) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    pub fn base_rate(&self) -> f64 {
        (self.tp + self.fn_) as f64 / (self.tp + self.fp + self.fn_ + self.tn).max(1) as f64
    }
}

/// One merge's outcome (the first ones are listed in the report).
#[derive(Debug, Clone, Serialize)]
pub struct MergeCase {
    pub merge: String,
    pub predicted: Vec<String>,
    pub overlap: Vec<String>,
    pub conflict: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConflictEval {
    pub repo: String,
    pub merges: usize,
    /// Merges with commits on both sides since their base (the others could not collide).
    pub evaluated: usize,
    /// Predicted overlap vs the files the two sides really both changed.
    pub overlap: Scores,
    /// Predicted overlap vs a textual conflict reported by `git merge-tree`.
    pub conflict: Scores,
    /// Real overlap vs a textual conflict: how often touching the same file conflicts.
    pub overlap_as_conflict: Scores,
    pub cases: Vec<MergeCase>,
    pub code_index: bool,
}

/// Commits reachable from `from` (indices into `commits`).
fn reachable(from: usize, parents: &[Vec<usize>]) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        if seen.insert(i) {
            stack.extend(parents[i].iter().copied());
        }
    }
    seen
}

fn merge_tree_conflicts(repo: &Path, a: &str, b: &str) -> Result<bool> {
    let out = Command::new("git")
        .args(["merge-tree", "--write-tree", "--no-messages", a, b])
        .current_dir(repo)
        .output()
        .map_err(|e| BenchError::Io(format!("git merge-tree: {e}")))?;
    match out.status.code() {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(BenchError::Failed(format!(
            "git merge-tree {a} {b}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

fn side_text_and_files(side: &[usize], commits: &[Commit]) -> (String, HashSet<String>) {
    let mut text = String::new();
    let mut files = HashSet::new();
    for &i in side {
        let c = &commits[i];
        if c.is_merge() {
            continue;
        }
        text.push_str(&c.message);
        text.push('\n');
        for f in &c.files {
            files.insert(f.path.clone());
            if let Some(from) = &f.from {
                files.insert(from.clone());
            }
        }
    }
    (text, files)
}

/// Evaluates the predictor on the merges of `repo` (at most `limit`, oldest base first),
/// with `index` (the code index of the repository's current tree) when given.
pub fn eval_conflicts(
    repo: &Path,
    index: Option<&CodeIndex>,
    limit: Option<usize>,
) -> Result<ConflictEval> {
    let h =
        git::read(repo, &ReadOptions::default()).map_err(|e| BenchError::Failed(e.to_string()))?;
    let commits = h.commits;
    let pos: HashMap<&str, usize> =
        commits.iter().enumerate().map(|(i, c)| (c.sha.as_str(), i)).collect();
    let parents: Vec<Vec<usize>> = commits
        .iter()
        .map(|c| c.parents.iter().filter_map(|p| pos.get(p.as_str()).copied()).collect())
        .collect();
    // Each two-parent merge with its base; oldest base first, so history folds forward.
    let mut merges: Vec<(usize, usize)> = Vec::new();
    for (i, ps) in parents.iter().enumerate() {
        if ps.len() != 2 {
            continue;
        }
        let a = reachable(ps[0], &parents);
        let b = reachable(ps[1], &parents);
        // The common ancestor latest in parents-first order: a merge base.
        if let Some(base) = a.intersection(&b).copied().max() {
            merges.push((i, base));
        }
    }
    let total = commits.iter().filter(|c| c.parents.len() == 2).count();
    merges.sort_by_key(|(m, base)| (*base, *m));
    let mut state = State::default();
    let mut messages = MessageModel::default();
    let mut folded = 0usize;
    let (mut overlap, mut conflict, mut overlap_as_conflict) =
        (Scores::default(), Scores::default(), Scores::default());
    let mut cases = Vec::new();
    let mut evaluated = 0;
    for &(m, base) in &merges {
        if limit.is_some_and(|l| evaluated >= l) {
            break;
        }
        let (p1, p2) = (parents[m][0], parents[m][1]);
        let below = reachable(base, &parents);
        let side = |p: usize| -> Vec<usize> {
            let mut v: Vec<usize> = reachable(p, &parents).difference(&below).copied().collect();
            v.sort_unstable();
            v
        };
        let (sa, sb) = (side(p1), side(p2));
        let (ta, fa) = side_text_and_files(&sa, &commits);
        let (tb, fb) = side_text_and_files(&sb, &commits);
        if sa.is_empty() || sb.is_empty() || ta.trim().is_empty() || tb.trim().is_empty() {
            continue;
        }
        // History up to the base, never past it (descendants of the base come after it).
        if folded <= base {
            state.extend(&commits[folded..=base], &|c: &Commit| {
                let k = l9_ingest::fixes::classify(&c.message);
                (k.fix, k.reverts.is_some())
            });
            for c in &commits[folded..=base] {
                messages.add(&c.message, c.files.iter().map(|f| f.path.as_str()));
            }
            folded = base + 1;
        }
        let live: HashSet<String> =
            state.files.iter().filter(|(_, s)| !s.gone).map(|(p, _)| p.clone()).collect();
        let predictor = Predictor::new(index, Some(&state), Some(&messages), Some(&live));
        let la = predictor.likely_files(&ta, &[], TOP_FILES);
        let lb = predictor.likely_files(&tb, &[], TOP_FILES);
        let predicted: Vec<String> = shared(&la, &lb).into_iter().map(|(f, _)| f).collect();
        let mut real: Vec<String> = fa.intersection(&fb).cloned().collect();
        real.sort();
        let textual = merge_tree_conflicts(repo, &commits[p1].sha, &commits[p2].sha)?;
        overlap.add(!predicted.is_empty(), !real.is_empty());
        conflict.add(!predicted.is_empty(), textual);
        overlap_as_conflict.add(!real.is_empty(), textual);
        evaluated += 1;
        if cases.len() < 200 {
            cases.push(MergeCase {
                merge: commits[m].sha.clone(),
                predicted,
                overlap: real,
                conflict: textual,
            });
        }
    }
    Ok(ConflictEval {
        repo: repo.display().to_string(),
        merges: total,
        evaluated,
        overlap,
        conflict,
        overlap_as_conflict,
        cases,
        code_index: index.is_some(),
    })
}
