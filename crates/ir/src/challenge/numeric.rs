//! Numeric conflicts: two bounds on the same measured thing that disagree ("p99 ≤ 50 ms" and
//! "p99 ≤ 20 ms", or a lower bound above an upper bound). Each quantity is reported against
//! the first quantity of an earlier statement it conflicts with, found through an index, so
//! both the findings and the work grow with the spec, not with its pairs.

use std::collections::{BTreeSet, HashMap};

use l9_types::Severity;

use super::{Finding, NUMERIC_CONFLICT};
use crate::model::{Ir, Node, NodeKind};
use crate::text;

/// `v` rounded to twelve significant digits (unit conversions leave `200.00000000000003`).
fn significant(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    format!("{v:.11e}").parse().unwrap_or(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Upper,
    Lower,
    Exact,
}

#[derive(Debug, Clone)]
pub(crate) struct Quantity {
    bound: Bound,
    /// In the dimension's base unit (ms, bytes, percent, count per second, count).
    value: f64,
    dim: &'static str,
    shown: String,
    subject: BTreeSet<String>,
    percentile: Option<String>,
    /// For a value stated without a comparator (a mix such as "group calls 5%; standby 75%"):
    /// what its statement is about (the words before its first modal verb), so that the same
    /// mix stated for other things ("cab radios", "operational radios") is no conflict.
    scope: Option<String>,
}

fn unit(word: &str) -> Option<(&'static str, f64)> {
    Some(match word {
        "ms" | "msec" | "millisecond" | "milliseconds" => ("time", 1.0),
        "s" | "sec" | "secs" | "second" | "seconds" => ("time", 1000.0),
        "min" | "mins" | "minute" | "minutes" => ("time", 60_000.0),
        "h" | "hr" | "hrs" | "hour" | "hours" => ("time", 3_600_000.0),
        "day" | "days" => ("time", 86_400_000.0),
        "us" | "µs" | "microsecond" | "microseconds" => ("time", 0.001),
        "%" | "percent" => ("percent", 1.0),
        "b" | "byte" | "bytes" => ("size", 1.0),
        "kb" | "kib" => ("size", 1024.0),
        "mb" | "mib" => ("size", 1024.0 * 1024.0),
        "gb" | "gib" => ("size", 1024.0 * 1024.0 * 1024.0),
        "tb" | "tib" => ("size", 1024.0f64.powi(4)),
        "rps" | "qps" | "tps" => ("rate", 1.0),
        "users" | "user" | "connections" | "requests" | "sessions" | "transactions" | "clients" => {
            ("count", 1.0)
        }
        _ => return None,
    })
}

/// Words before a quantity that make it an upper bound.
const UPPER: &[&str] = &[
    "<=",
    "<",
    "at most",
    "no more than",
    "less than",
    "under",
    "below",
    "within",
    "maximum",
    "max",
    "not exceed",
    "up to",
    "fewer than",
    "lower than",
];
/// Words before a quantity that make it a lower bound.
const LOWER: &[&str] = &[
    ">=",
    ">",
    "at least",
    "more than",
    "over",
    "above",
    "minimum",
    "min",
    "no less than",
    "greater than",
    "higher than",
];

/// The comparator among `list` that the words before a quantity end with or hold (the longest).
fn comparator(window: &str, list: &[&'static str]) -> Option<&'static str> {
    list.iter()
        .copied()
        .filter(|k| window.ends_with(k) || text::find_word(window, k, true).is_some())
        .max_by_key(|k| k.len())
}

/// Where `tokens[i]` is a share of a population with no comparator before it ("in 95% of
/// cases", "for 99% of messages"): the share, which qualifies the statement's other bounds as
/// a percentile does ("under 2 s in 95% of cases" is p95), and bounds nothing itself.
fn share_of(tokens: &[&str], i: usize) -> Option<String> {
    let tok = tokens[i].trim_end_matches('.');
    let number = tok.trim_end_matches('%');
    if number.is_empty() || number.parse::<f64>().is_err() {
        return None;
    }
    let of = match tok.ends_with('%') {
        true => i + 1,
        false if tokens.get(i + 1) == Some(&"percent") => i + 2,
        false => return None,
    };
    // "available 99.9% of the time" is the availability bound itself.
    if tokens[..i].iter().any(|t| t.starts_with("availab") || t.starts_with("uptime")) {
        return None;
    }
    // A comparator right before it makes it a bound ("at least 95% of the area"); one further
    // back belongs to another quantity ("within 4 s in 95% of cases").
    let window = tokens[i.saturating_sub(3)..i].join(" ");
    let bare =
        !UPPER.iter().chain(LOWER).any(|k| window == *k || window.ends_with(&format!(" {k}")));
    (tokens.get(of) == Some(&"of") && bare).then(|| format!("{number}%"))
}

/// Quantities with a bound in a statement: "p99 latency ≤ 50 ms", "within 2 seconds",
/// "at least 1000 concurrent users". A share of a population ("in 95% of cases") is the
/// percentile of the statement's bounds, not a bound.
pub(crate) fn quantities(sentence: &str) -> Vec<Quantity> {
    let lower = sentence.to_lowercase().replace('≤', " <= ").replace('≥', " >= ");
    let tokens: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | ':'))
        .filter(|t| !t.is_empty())
        .collect();
    let shares: Vec<(usize, String)> =
        (0..tokens.len()).filter_map(|i| share_of(&tokens, i).map(|s| (i, s))).collect();
    let mut out = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        if shares.iter().any(|(k, _)| *k == i) {
            continue;
        }
        let tok = tok.trim_end_matches('.');
        // Number with the unit glued on ("50ms", "99.9%") or in the next token.
        let split = tok.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(tok.len());
        if split == 0 {
            continue;
        }
        let Ok(mut value) = tok[..split].parse::<f64>() else { continue };
        let glued = &tok[split..];
        let (dim, factor) = if !glued.is_empty() {
            match unit(glued) {
                Some(u) => u,
                None => continue,
            }
        } else {
            // "1000 concurrent users": one word may sit between a count and its noun.
            let next = tokens.get(i + 1).map(|t| t.trim_end_matches('.')).and_then(unit);
            let after = tokens
                .get(i + 2)
                .map(|t| t.trim_end_matches('.'))
                .and_then(unit)
                .filter(|u| u.0 == "count");
            match next.or(after) {
                Some(u) => u,
                None => continue,
            }
        };
        // Twelve significant digits: "0.2 s" and "200 ms" are one value, and equal values
        // can be looked up exactly (see `Earlier`).
        value = significant(value * factor);
        let window: Vec<&str> = tokens[i.saturating_sub(4)..i].to_vec();
        let w = window.join(" ");
        let found = |list: &[&'static str]| comparator(&w, list);
        let (bound, comparator) = if let Some(k) = found(UPPER) {
            (Bound::Upper, k)
        } else if let Some(k) = found(LOWER) {
            (Bound::Lower, k)
        } else if dim == "percent"
            && tokens[..i].iter().any(|t| t.starts_with("availab") || t.starts_with("uptime"))
        {
            (Bound::Lower, "")
        } else if dim == "time" {
            (Bound::Upper, "")
        } else {
            (Bound::Exact, "")
        };
        let unit_word = if glued.is_empty() {
            tokens.get(i + 1).map_or("", |t| t.trim_end_matches('.'))
        } else {
            ""
        };
        let shown = format!("{comparator} {} {unit_word}", tok)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let subject_window = &tokens[i.saturating_sub(10)..i];
        let percentile = tokens[..i]
            .iter()
            .rev()
            .take(10)
            .find(|t| is_percentile(t))
            .map(|t| t.to_string())
            .or_else(|| {
                // The nearest share of a population in the statement.
                shares.iter().min_by_key(|(k, _)| k.abs_diff(i)).map(|(_, s)| s.clone())
            });
        let subject: BTreeSet<String> = subject_window
            .iter()
            .filter(|t| t.len() >= 3 && t.chars().all(|c| c.is_alphabetic()))
            .filter(|t| !text::is_stop_word(t))
            .filter(|t| {
                ![
                    "least", "most", "more", "less", "than", "under", "below", "within", "maximum",
                    "minimum", "exceed", "over", "above", "respond", "take", "takes", "must",
                    "shall",
                ]
                .contains(t)
            })
            .map(|t| text::stem(t))
            .collect();
        out.push(Quantity { bound, value, dim, shown, subject, percentile, scope: None });
    }
    out
}

/// What a statement is about: its content words before its first modal verb ("cab radios"
/// in "Cab radios should be able to …"), stemmed, in order of first use, at most six.
fn statement_subject(text: &str) -> String {
    const MODALS: [&str; 7] = ["shall", "should", "must", "will", "may", "can", "is"];
    let lower = text.to_lowercase();
    let mut words: Vec<String> = Vec::new();
    for t in lower.split(|c: char| !c.is_alphanumeric() && c != '-') {
        if MODALS.contains(&t) {
            break;
        }
        if t.len() < 2 || text::is_stop_word(t) || t.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let w = text::stem(t);
        if !words.contains(&w) {
            words.push(w);
        }
        if words.len() == 6 {
            break;
        }
    }
    words.join(" ")
}

fn is_percentile(t: &str) -> bool {
    let t = t.trim_end_matches(|c: char| !c.is_alphanumeric());
    (t.starts_with('p') && t.len() >= 2 && t[1..].chars().all(|c| c.is_ascii_digit() || c == '.'))
        || t == "median"
        || t == "average"
        || t == "mean"
}

/// Whether two quantities conflict (the rule [`first_conflicts`] finds through its index, kept
/// as its test's oracle): the same dimension and percentile, enough subject words
/// in common, and bounds that cannot both hold or two different limits of one kind.
#[cfg(test)]
fn conflict(qa: &Quantity, qb: &Quantity) -> bool {
    if qa.dim != qb.dim || qa.percentile != qb.percentile || qa.scope != qb.scope {
        return false;
    }
    let shared = qa.subject.intersection(&qb.subject).count();
    let needed = qa.subject.len().min(qb.subject.len()).clamp(1, 2);
    if shared < needed {
        return false;
    }
    match (qa.bound, qb.bound) {
        (Bound::Upper, Bound::Lower) => qb.value > qa.value,
        (Bound::Lower, Bound::Upper) => qa.value > qb.value,
        (x, y) if x == y => qa.value != qb.value,
        _ => false,
    }
}

/// The subject words a later quantity must share with an earlier one to conflict with it
/// ([`conflict`]: at least one when either subject is a single word, else two), as keys of
/// the index: a one-word subject looks under `Any` of its word; a longer one under `Alone` of
/// each word (earlier one-word subjects) and `Pair` of each two of its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Words {
    Any(u32),
    Alone(u32),
    Pair(u32, u32),
}

/// A key of the conflict index: dimension, percentile, scope (see [`Quantity::scope`]) and
/// [`Words`].
type Key<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Words);

/// The earlier quantities under one key (dimension, percentile, scope, [`Words`]), kept as just what
/// answers "which is the first that conflicts with this one": per bound the first and the
/// first with another value, the upper bounds that were lower than every earlier one and the
/// lower bounds that were higher than every earlier one.
#[derive(Debug, Default)]
struct Earlier {
    first: [Option<(f64, usize)>; 3],
    other: [Option<usize>; 3],
    lows: Vec<(f64, usize)>,
    highs: Vec<(f64, usize)>,
}

impl Earlier {
    fn add(&mut self, q: &Quantity, i: usize) {
        let b = q.bound as usize;
        match self.first[b] {
            None => self.first[b] = Some((q.value, i)),
            Some((v, _)) if self.other[b].is_none() && v != q.value => self.other[b] = Some(i),
            Some(_) => {}
        }
        match q.bound {
            Bound::Upper if self.lows.last().is_none_or(|&(v, _)| q.value < v) => {
                self.lows.push((q.value, i))
            }
            Bound::Lower if self.highs.last().is_none_or(|&(v, _)| q.value > v) => {
                self.highs.push((q.value, i))
            }
            _ => {}
        }
    }

    /// The first quantity here that `q` conflicts with (the shared words are the key's).
    fn first_conflict(&self, q: &Quantity) -> Option<usize> {
        let b = q.bound as usize;
        let differs = match self.first[b] {
            Some((v, i)) if v != q.value => Some(i),
            _ => self.other[b],
        };
        // The first earlier upper bound below this lower bound is a new low when it came (all
        // before it were higher), and the lows fall: a binary search finds it. Alike above.
        let crossed = match q.bound {
            Bound::Lower => {
                self.lows.get(self.lows.partition_point(|&(v, _)| v >= q.value)).map(|e| e.1)
            }
            Bound::Upper => {
                self.highs.get(self.highs.partition_point(|&(v, _)| v <= q.value)).map(|e| e.1)
            }
            Bound::Exact => None,
        };
        differs.into_iter().chain(crossed).min()
    }
}

/// For each quantity (by index into `qs`, grouped by statement in order), the first quantity
/// of an earlier statement it conflicts with.
fn first_conflicts(qs: &[(&Node, Quantity)]) -> Vec<(usize, usize)> {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let keys: Vec<Vec<Words>> = qs
        .iter()
        .map(|(_, q)| {
            let words: Vec<u32> = q
                .subject
                .iter()
                .map(|w| {
                    let next = ids.len() as u32;
                    *ids.entry(w.as_str()).or_insert(next)
                })
                .collect();
            let mut keys: Vec<Words> = words.iter().map(|&w| Words::Any(w)).collect();
            if let [w] = words[..] {
                keys.push(Words::Alone(w));
            }
            for (k, &a) in words.iter().enumerate() {
                keys.extend(words[k + 1..].iter().map(|&b| Words::Pair(a.min(b), a.max(b))));
            }
            keys
        })
        .collect();
    let looked_up = |q: &Quantity, keys: &[Words]| -> Vec<Words> {
        match q.subject.len() {
            0 => Vec::new(),
            1 => keys.iter().copied().filter(|k| matches!(k, Words::Any(_))).collect(),
            _ => keys
                .iter()
                .map(|&k| match k {
                    Words::Any(w) => Words::Alone(w),
                    other => other,
                })
                .collect(),
        }
    };
    let mut index: HashMap<Key<'_>, Earlier> = HashMap::new();
    let mut pairs = Vec::new();
    let mut start = 0;
    while start < qs.len() {
        // One statement's quantities look only at earlier statements: all first look, then all
        // are added.
        let end = start + qs[start..].iter().take_while(|(n, _)| n.id == qs[start].0.id).count();
        for j in start..end {
            let q = &qs[j].1;
            let first = looked_up(q, &keys[j])
                .into_iter()
                .filter_map(|k| index.get(&(q.dim, q.percentile.as_deref(), q.scope.as_deref(), k)))
                .filter_map(|e| e.first_conflict(q))
                .min();
            if let Some(i) = first {
                pairs.push((i, j));
            }
        }
        for j in start..end {
            let q = &qs[j].1;
            for &k in &keys[j] {
                index
                    .entry((q.dim, q.percentile.as_deref(), q.scope.as_deref(), k))
                    .or_default()
                    .add(q, j);
            }
        }
        start = end;
    }
    pairs.sort_unstable();
    pairs
}

/// Numeric conflicts: each quantity is reported against the first quantity of an earlier
/// statement it conflicts with (the finding on the earlier requirement, as for a pair), so the
/// findings grow with the spec, not with its pairs — 2,000 requirements bounding one quantity
/// differently made ~2 million findings and 730 MB of `l9 ir check` output — and so does the
/// work: 16,000 pages each "under 200 ms" share "latency page" and never conflict, which a scan
/// of every earlier quantity made 128 million checks.
pub(super) fn numeric_conflicts(ir: &Ir) -> Vec<Finding> {
    let mut qs: Vec<(&Node, Quantity)> = Vec::new();
    for n in
        ir.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Requirement | NodeKind::Constraint))
    {
        let mut scope: Option<String> = None;
        for mut q in quantities(&n.text) {
            if q.bound == Bound::Exact {
                q.scope = Some(scope.get_or_insert_with(|| statement_subject(&n.text)).clone());
            }
            qs.push((n, q));
        }
    }
    first_conflicts(&qs)
        .into_iter()
        .map(|(i, j)| {
            let (a, qa) = &qs[i];
            let (b, qb) = &qs[j];
            let hard = qa.bound != qb.bound;
            let about = qa.subject.intersection(&qb.subject).map(String::as_str).collect::<Vec<_>>().join(" ");
            Finding {
                code: NUMERIC_CONFLICT.into(),
                severity: if hard { Severity::Error } else { Severity::Warning },
                message: format!(
                    "numeric conflict on {about}{}: `{}` here vs `{}` in {}",
                    qa.percentile.as_deref().map(|p| format!(" ({p})")).unwrap_or_default(),
                    qa.shown,
                    qb.shown,
                    b.id
                ),
                node: Some(a.id.clone()),
                span: Some(a.span.clone()),
                words: vec![qa.shown.clone(), qb.shown.clone()],
                fix: if hard {
                    "the bounds cannot both hold: decide which one is right and change or drop the other".into()
                } else {
                    "two different limits for the same thing: keep one (usually the stricter) and delete the other".into()
                },
                related: vec![b.id.clone()],
                blocking: true,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_bounds_and_units() {
        let q = quantities("The p99 latency of search MUST be ≤ 50 ms.");
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].bound, Bound::Upper);
        assert_eq!(q[0].value, 50.0);
        assert_eq!(q[0].percentile.as_deref(), Some("p99"));
        let q = quantities("Search responds within 2 seconds for at least 1000 concurrent users");
        assert_eq!(q.len(), 2);
        assert_eq!((q[0].bound, q[0].value), (Bound::Upper, 2000.0));
        assert_eq!((q[1].bound, q[1].dim), (Bound::Lower, "count"));
        // A conversion's rounding error is not another value.
        assert_eq!(quantities("within 0.2 s")[0].value, quantities("within 200 ms")[0].value);
    }

    /// The index finds what a scan of every earlier statement's quantities finds: seeded
    /// rounds of statements over few words, values, bounds, dimensions and percentiles, so
    /// that subjects of every size overlap by zero, one and two words.
    #[test]
    fn the_index_finds_the_first_conflict_a_scan_finds() {
        let rng = l9_types::SeededRng::from_seed(0x2545_f491_4f6c_dd1d);
        let next = |n: u64| rng.below(n) as usize;
        const WORDS: [&str; 5] = ["latency", "page", "search", "login", "upload"];
        const BOUNDS: [Bound; 3] = [Bound::Upper, Bound::Lower, Bound::Exact];
        let mut found = 0;
        for round in 0..300 {
            let statements = 2 + next(30);
            let nodes: Vec<Node> = (0..statements)
                .map(|k| Node {
                    id: format!("R{k}"),
                    kind: NodeKind::Requirement,
                    text: String::new(),
                    section: Vec::new(),
                    strength: None,
                    class: None,
                    span: l9_types::Span::line("spec.md", 1),
                    confidence: 1.0,
                    tags: Vec::new(),
                    interface: None,
                    scenario: None,
                    gate: None,
                    assumed: false,
                })
                .collect();
            let mut qs = Vec::new();
            for n in &nodes {
                for _ in 0..1 + next(3) {
                    let subject = (0..next(4)).map(|_| WORDS[next(5)].to_string()).collect();
                    qs.push((
                        n,
                        Quantity {
                            bound: BOUNDS[next(3)],
                            value: [10.0, 20.0, 30.0][next(3)],
                            dim: ["time", "size"][next(2).min(round % 2)],
                            shown: String::new(),
                            subject,
                            percentile: [None, Some("p99".to_string())][next(2)].clone(),
                            scope: [None, None, Some("radio".to_string())][next(3)].clone(),
                        },
                    ));
                }
            }
            let mut scan = Vec::new();
            for j in 0..qs.len() {
                let first =
                    (0..j).find(|&i| qs[i].0.id != qs[j].0.id && conflict(&qs[i].1, &qs[j].1));
                scan.extend(first.map(|i| (i, j)));
            }
            scan.sort_unstable();
            found += scan.len();
            assert_eq!(first_conflicts(&qs), scan, "round {round}");
        }
        assert!(found > 1000, "the rounds hold conflicts ({found})");
    }
}
