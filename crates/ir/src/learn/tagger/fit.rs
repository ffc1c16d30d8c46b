//! Fitting one head of the smell tagger: its prior odds (the word list's, and each listed
//! word's own), its weights, and its threshold chosen by an inner leave-one-project-out.

use std::collections::BTreeMap;

use l9_types::SeededRng;

use super::{
    BITS, Featurised, HeadInfo, MIN_SMELLY, is_listed, label_words, project_groups, sigmoid,
    word_probability,
};
use crate::learn::{Head, Params, train_head_weighted};
use crate::smells::{Smell, SmellRow};

/// How many occurrences a listed word's own rate weighs against the whole list's rate it is
/// smoothed towards (fixed before any scoring): a word seen a handful of times in a scheme's
/// rows mostly keeps the list's odds, one seen dozens of times its own.
pub const WORD_PRIOR_WEIGHT: f32 = 5.0;

/// One head fitted on some rows: the head, and what the file says of it — its prior odds and
/// what it saw (scheme and threshold are left for the caller: empty and 0.5).
pub(super) struct Fit {
    pub(super) head: Head,
    pub(super) info: HeadInfo,
}

/// Fits the head of `smell` on the rows `on` (indices into `rows`), or `None` when they hold
/// too little evidence ([`MIN_SMELLY`]).
pub(super) fn fit(
    rows: &[SmellRow],
    feats: &[Featurised],
    on: &[usize],
    smell: Smell,
    p: &Params,
) -> Option<Fit> {
    let mut xs: Vec<&Vec<(u32, f32)>> = Vec::new();
    let mut ys: Vec<usize> = Vec::new();
    let mut listed: Vec<bool> = Vec::new();
    let mut words: Vec<&str> = Vec::new();
    let (mut n_rows, mut smelly) = (0, 0);
    for &i in on {
        let (row, (toks, x, lex)) = (&rows[i], &feats[i]);
        let Some(cell) = row.words.get(&smell) else { continue };
        n_rows += 1;
        smelly += usize::from(!cell.is_empty());
        let marked = label_words(cell);
        for (t, v) in toks.iter().zip(x) {
            xs.push(v);
            ys.push(usize::from(marked.contains(&t.w)));
            listed.push(is_listed(lex, smell, t));
            words.push(&t.w);
        }
    }
    let positives = ys.iter().filter(|y| **y == 1).count();
    if smelly < MIN_SMELLY || positives == 0 {
        return None;
    }
    let rate = |want: bool| {
        let (mut n, mut k) = (0usize, 0usize);
        for (l, y) in listed.iter().zip(&ys) {
            if *l == want {
                n += 1;
                k += y;
            }
        }
        // Smoothed towards one in two for listed words, one in a hundred for the rest.
        let p = if want {
            (k as f32 + 1.0) / (n as f32 + 2.0)
        } else {
            (k as f32 + 0.01) / (n as f32 + 1.0)
        };
        (p / (1.0 - p)).ln()
    };
    let (on_list, off_list) = (rate(true), rate(false));
    let word_priors = word_priors(&words, &listed, &ys, on_list);
    let offsets: Vec<Vec<f32>> = listed
        .iter()
        .zip(&words)
        .map(|(l, w)| match l {
            true => vec![word_priors.get(*w).copied().unwrap_or(on_list)],
            false => vec![off_list],
        })
        .collect();
    let offs: Vec<&Vec<f32>> = offsets.iter().collect();
    let rng = SeededRng::from_seed(p.seed);
    let mut head = train_head_weighted(&xs, &offs, &ys, 1, 1usize << BITS, p, &rng, false);
    head.keep_strongest(KEEP_FEATURES);
    let info = HeadInfo {
        scheme: String::new(),
        smell,
        threshold: 0.5,
        listed: on_list,
        unlisted: off_list,
        word_priors,
        rows: n_rows,
        smelly_rows: smelly,
        words: ys.len(),
        marked_words: positives,
    };
    Some(Fit { head, info })
}

/// The prior (log-odds) of each listed word among `words` (`listed[i]`: the list names
/// `words[i]`; `ys[i]`: the experts marked it): its rate, smoothed towards the whole list's
/// rate `listed_odds` by [`WORD_PRIOR_WEIGHT`] occurrences.
fn word_priors(
    words: &[&str],
    listed: &[bool],
    ys: &[usize],
    listed_odds: f32,
) -> BTreeMap<String, f32> {
    let mut seen: BTreeMap<&str, (f32, f32)> = BTreeMap::new();
    for ((w, _), y) in words.iter().zip(listed).zip(ys).filter(|((_, l), _)| **l) {
        let e = seen.entry(w).or_default();
        e.0 += 1.0;
        e.1 += *y as f32;
    }
    let (base, m) = (sigmoid(listed_odds), WORD_PRIOR_WEIGHT);
    seen.into_iter()
        .map(|(w, (n, k))| {
            let p = ((k + m * base) / (n + m)).clamp(1e-3, 1.0 - 1e-3);
            (w.to_string(), (p / (1.0 - p)).ln())
        })
        .collect()
}

/// Each head keeps its strongest this many features after training: most context features
/// are seen once and learn next to nothing, and they would make most of the file.
pub const KEEP_FEATURES: usize = 2048;

/// The thresholds an inner leave-one-project-out chooses from (fixed before any scoring).
pub const THRESHOLDS: [f32; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

impl Fit {
    fn row_probability(&self, f: &Featurised) -> f32 {
        let (toks, xs, lex) = f;
        toks.iter()
            .zip(xs)
            .map(|(t, x)| word_probability(&self.info, &self.head, lex, t, x))
            .fold(0.0f32, f32::max)
    }
}

/// The threshold of a head, chosen by leave-one-project-out inside its training rows: each
/// project group's rows are scored by a head fitted without them, and the threshold with the
/// best requirement-level F1 on those scores wins (ties: nearest to 0.5). One group: 0.5.
pub(super) fn choose_threshold(
    rows: &[SmellRow],
    feats: &[Featurised],
    on: &[usize],
    smell: Smell,
    p: &Params,
) -> f32 {
    let groups = project_groups(rows);
    let mut held: Vec<usize> = on.iter().map(|&i| groups[i]).collect();
    held.sort_unstable();
    held.dedup();
    if held.len() < 2 {
        return 0.5;
    }
    let mut scored: Vec<(f32, bool)> = Vec::new();
    for g in held {
        let train: Vec<usize> = on.iter().copied().filter(|&i| groups[i] != g).collect();
        let Some(f) = fit(rows, feats, &train, smell, p) else { continue };
        for &i in on.iter().filter(|&&i| groups[i] == g) {
            if let Some(&actual) = rows[i].labels.get(&smell) {
                scored.push((f.row_probability(&feats[i]), actual));
            }
        }
    }
    let f1 = |t: f32| {
        let (mut tp, mut fp, mut fn_) = (0.0f32, 0.0f32, 0.0f32);
        for &(s, a) in &scored {
            match (s >= t, a) {
                (true, true) => tp += 1.0,
                (true, false) => fp += 1.0,
                (false, true) => fn_ += 1.0,
                _ => {}
            }
        }
        if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) }
    };
    let mut best = 0.5f32;
    let mut best_f1 = f1(0.5);
    for t in THRESHOLDS {
        let v = f1(t);
        if v > best_f1 + 1e-6
            || ((v - best_f1).abs() <= 1e-6 && (t - 0.5).abs() < (best - 0.5).abs())
        {
            best = t;
            best_f1 = v;
        }
    }
    best
}
