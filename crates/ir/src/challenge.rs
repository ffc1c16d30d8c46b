//! The constraint challenger: everything a careful reviewer would push back on, as findings
//! with a stable code, the node and span, the offending words, a severity and a fix.
//!
//! * smells in requirement, constraint and acceptance text ([`crate::smells`]);
//! * a MUST without acceptance criteria (the validator's rule, reused);
//! * numeric conflicts: two bounds on the same measured thing that disagree
//!   ("p99 ≤ 50 ms" and "p99 ≤ 20 ms", or a lower bound above an upper bound);
//! * duplicates: requirements that say the same thing;
//! * hidden constraints handed in by the caller (the world model's), matched by their terms.

use std::collections::BTreeSet;

use l9_types::{Diagnostic, Severity, Span};
use serde::{Deserialize, Serialize};

use crate::model::{Edge, EdgeKind, Ir, Node, NodeKind};
use crate::smells::{self, Smell};
use crate::text;

/// One thing the challenger or validator wants looked at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<String>,
    pub fix: String,
    /// Other nodes involved (the conflicting constraint, the duplicate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    /// Must be resolved (or turned into a question) before planning.
    pub blocking: bool,
}

impl Finding {
    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut message = self.message.clone();
        if let Some(node) = &self.node {
            message = format!("{node}: {message}");
        }
        let mut d =
            Diagnostic::new(self.severity, self.code.clone(), message).with_help(self.fix.clone());
        if let Some(span) = &self.span {
            d = d.with_span(span.clone());
        }
        d
    }
}

/// A constraint the world model knows about that specs tend to leave out: when any of its
/// `triggers` (words or phrases) appears in the spec, the challenger raises it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HiddenConstraint {
    pub id: String,
    pub text: String,
    pub triggers: Vec<String>,
    #[serde(default = "default_severity")]
    pub severity: Severity,
}

fn default_severity() -> Severity {
    Severity::Warning
}

/// The span of `words` inside a node, found in the source text when possible.
pub(crate) fn word_span(
    source: Option<(&str, &text::LineIndex<'_>)>,
    node: &Node,
    words: &str,
) -> Span {
    WordLocator::new(source, node).span(words, 0)
}

/// Finds words of one node in the source text: the node's source lower-cased once, each
/// search starting after the previous find (a node's hits come in order of position; two at
/// the same place of the node's text share it), so a node with thousands of hits costs about
/// one pass over it — and a repeated word points at each of its places, not the first.
struct WordLocator<'a> {
    located: Option<(&'a text::LineIndex<'a>, usize, String)>,
    fallback: Span,
    /// The last find: where its words start in the node's text, and where they were found
    /// and end in the source slice.
    last: Option<(usize, usize, usize)>,
}

impl<'a> WordLocator<'a> {
    fn new(source: Option<(&'a str, &'a text::LineIndex<'a>)>, node: &Node) -> Self {
        let located = source.and_then(|(src, idx)| {
            let (s, e) = (node.span.start.min(src.len()), node.span.end.min(src.len()));
            let slice = src.get(s..e).filter(|x| !x.is_empty())?;
            let lower = slice.to_lowercase();
            (lower.len() == slice.len()).then_some((idx, s, lower))
        });
        WordLocator { located, fallback: node.span.clone(), last: None }
    }

    /// The span of `words`, which start at `in_text` in the node's text.
    fn span(&mut self, words: &str, in_text: usize) -> Span {
        if let Some((idx, s, lower)) = &self.located {
            let from = match self.last {
                Some((t, at, _)) if t == in_text => at,
                Some((_, _, end)) => end,
                None => 0,
            };
            let rest = lower.get(from..).unwrap_or("");
            if let Some(p) = text::find_word(rest, &words.to_lowercase(), true) {
                let at = from + p;
                self.last = Some((in_text, at, at + words.len()));
                return idx.span(s + at, s + at + words.len());
            }
        }
        self.fallback.clone()
    }
}

const SMELLED: &[NodeKind] =
    &[NodeKind::Requirement, NodeKind::Constraint, NodeKind::AcceptanceCriterion];

/// Who judges requirement smells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmellJudge {
    /// The shipped learned tagger (word lists for the smells it has no head for).
    #[default]
    Tagger,
    /// The word lists and their context rules alone.
    WordLists,
}

/// Challenges an IR. `source` is the spec text (for exact word spans); `hidden` come from the
/// world model.
pub fn challenge(ir: &Ir, source: Option<&str>, hidden: &[HiddenConstraint]) -> Vec<Finding> {
    challenge_judged(ir, source, hidden, SmellJudge::Tagger)
}

/// Whether the challenger reports a smell hit in a requirement's `text` (what `l9 eval
/// smells` scores as "with the challenger's rules"): modal verbs are the requirement's
/// strength when they are RFC keywords, and an upper-case NOT is part of one (MUST NOT,
/// SHOULD NOT: a precise prohibition); then the context rules of [`in_context`].
pub(crate) fn keeps(hit: &smells::Hit, text: &str) -> bool {
    if matches!(hit.smell, Smell::UncertainVerb | Smell::Negative)
        && hit.words.chars().all(|c| c.is_uppercase())
    {
        return false;
    }
    in_context(hit, text)
}

/// Whether a smell the tagger or word lists found stands in its sentence:
/// * a polysemous word written with a capital inside a sentence is a name the document gives
///   (`a Close frame`, `the Key header`), not the everyday word. (Evidence from elsewhere in
///   the document — headings, quotes, capitals — was tried and left out: in the labelled
///   EIRENE requirements of ARTA's DS1 it would have hidden 156–184 of the 296 words the
///   annotators marked as polysemous; this rule hides 8.)
/// * "that" is vague only standing alone ("reject that.", "That is invalid."): introducing a
///   clause ("frames that are", "ensure that the") or before a noun it names its referent.
///   In the four labelled data sets 9 of 474 occurrences of "that" are marked vague.
fn in_context(hit: &smells::Hit, text: &str) -> bool {
    let before = text[..hit.start].trim_end();
    let starts_sentence = before.is_empty() || before.ends_with(['.', ':', ';', '!', '?']);
    match hit.smell {
        Smell::Polysemy => {
            starts_sentence || !hit.words.chars().next().is_some_and(char::is_uppercase)
        }
        Smell::VaguePronoun if hit.words.eq_ignore_ascii_case("that") => {
            let after = text[hit.end..].trim_start();
            let stands_alone = after.is_empty() || after.starts_with(['.', ',', ';', ':', ')']);
            starts_sentence || stands_alone
        }
        _ => true,
    }
}

/// [`challenge`] with the smells judged by `judge`.
pub fn challenge_judged(
    ir: &Ir,
    source: Option<&str>,
    hidden: &[HiddenConstraint],
    judge: SmellJudge,
) -> Vec<Finding> {
    let tagger = match judge {
        SmellJudge::Tagger => crate::learn::tagger::shipped(),
        SmellJudge::WordLists => None,
    };
    let mut out = Vec::new();
    let index = source.map(|s| text::LineIndex::new(&ir.source.file, s));
    let located = source.zip(index.as_ref());
    // OpenAPI text is documentation generated into nodes, not requirement prose.
    let prose = ir.source.format != crate::model::Format::Openapi;
    for node in ir
        .nodes
        .iter()
        .filter(|n| prose && n.scenario.is_none() && n.interface.is_none() && !n.assumed)
    {
        // Open items (TBD) matter wherever they are; the other smells in statements.
        let which: &[Smell] =
            if SMELLED.contains(&node.kind) { &Smell::ALL } else { &[Smell::Tbd] };
        let hits = match tagger {
            Some(t) => t.detect_only(&node.text, which),
            None => smells::detect_only(&node.text, which),
        };
        let mut locator = WordLocator::new(located, node);
        for hit in hits {
            if matches!(hit.smell, Smell::VaguePronoun | Smell::Polysemy | Smell::UncertainVerb)
                && node.kind != NodeKind::Requirement
            {
                continue;
            }
            if !keeps(&hit, &node.text) {
                continue;
            }
            let blocking = hit.smell == Smell::Tbd;
            out.push(Finding {
                code: hit.smell.code().into(),
                severity: if blocking { Severity::Warning } else { Severity::Info },
                message: format!("{}: `{}`", hit.smell.name(), hit.words),
                node: Some(node.id.clone()),
                span: Some(locator.span(&hit.words, hit.start)),
                words: vec![hit.words.clone()],
                fix: hit.smell.fix().into(),
                related: Vec::new(),
                blocking,
            });
        }
    }
    out.extend(crate::validate::must_without_acceptance(ir));
    out.extend(numeric_conflicts(ir));
    out.extend(duplicates(ir));
    out.extend(hidden_constraints(ir, hidden));
    out
}

/// Adds `conflicts_with` edges for numeric conflicts and duplicates found by the challenger.
pub fn link_conflicts(ir: &mut Ir, findings: &[Finding]) {
    // The conflict edges already there, looked up once (not a scan of every edge per finding:
    // a large spec has thousands of both).
    let mut linked: std::collections::HashSet<(String, String)> = ir
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::ConflictsWith)
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    for f in findings {
        if (f.code == NUMERIC_CONFLICT || f.code == DUPLICATE)
            && let Some(node) = &f.node
        {
            for other in &f.related {
                if linked.insert((node.clone(), other.clone())) {
                    let why = if f.code == DUPLICATE { "duplicate" } else { "numeric conflict" };
                    ir.edges.push(Edge {
                        from: node.clone(),
                        to: other.clone(),
                        kind: EdgeKind::ConflictsWith,
                        why: why.into(),
                    });
                }
            }
        }
    }
}

pub const NUMERIC_CONFLICT: &str = "L9-CHAL-002";
pub const DUPLICATE: &str = "L9-CHAL-003";
pub const HIDDEN: &str = "L9-CHAL-004";

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

/// Quantities with a bound in a statement: "p99 latency ≤ 50 ms", "within 2 seconds",
/// "at least 1000 concurrent users".
pub(crate) fn quantities(sentence: &str) -> Vec<Quantity> {
    let lower = sentence.to_lowercase().replace('≤', " <= ").replace('≥', " >= ");
    let tokens: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | ':'))
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
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
        value *= factor;
        let window: Vec<&str> = tokens[i.saturating_sub(4)..i].to_vec();
        let w = window.join(" ");
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
        let found = |list: &[&'static str]| {
            list.iter()
                .copied()
                .filter(|k| w.ends_with(k) || text::find_word(&w, k, true).is_some())
                .max_by_key(|k| k.len())
        };
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
        let percentile =
            tokens[..i].iter().rev().take(10).find(|t| is_percentile(t)).map(|t| t.to_string());
        let subject: BTreeSet<String> = subject_window
            .iter()
            .filter(|t| t.len() >= 3 && t.chars().all(|c| c.is_alphabetic()))
            .filter(|t| !text::STOP_WORDS.contains(t))
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
        out.push(Quantity { bound, value, dim, shown, subject, percentile });
    }
    out
}

fn is_percentile(t: &str) -> bool {
    let t = t.trim_end_matches(|c: char| !c.is_alphanumeric());
    (t.starts_with('p') && t.len() >= 2 && t[1..].chars().all(|c| c.is_ascii_digit() || c == '.'))
        || t == "median"
        || t == "average"
        || t == "mean"
}

fn numeric_conflicts(ir: &Ir) -> Vec<Finding> {
    let mut qs: Vec<(&Node, Quantity)> = Vec::new();
    for n in
        ir.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Requirement | NodeKind::Constraint))
    {
        for q in quantities(&n.text) {
            qs.push((n, q));
        }
    }
    let mut out = Vec::new();
    for i in 0..qs.len() {
        for j in i + 1..qs.len() {
            let (a, qa) = &qs[i];
            let (b, qb) = &qs[j];
            if a.id == b.id || qa.dim != qb.dim || qa.percentile != qb.percentile {
                continue;
            }
            let shared: Vec<&String> = qa.subject.intersection(&qb.subject).collect();
            let needed = qa.subject.len().min(qb.subject.len()).clamp(1, 2);
            if shared.len() < needed {
                continue;
            }
            let conflict = match (qa.bound, qb.bound) {
                (Bound::Upper, Bound::Lower) => qb.value > qa.value,
                (Bound::Lower, Bound::Upper) => qa.value > qb.value,
                (x, y) if x == y => {
                    (qa.value - qb.value).abs() > f64::EPSILON * qa.value.abs().max(1.0)
                }
                _ => false,
            };
            if !conflict {
                continue;
            }
            let hard = qa.bound != qb.bound;
            let about = shared.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
            out.push(Finding {
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
            });
        }
    }
    out
}

/// Words that do not make two requirements about different things: articles, prepositions,
/// conjunctions, pronouns, auxiliaries and modal verbs (a change of strength alone still says
/// the same thing). Negations, actors and numbers are not among them.
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "by", "with", "at", "from", "as",
    "is", "are", "be", "been", "being", "was", "were", "it", "its", "this", "that", "these",
    "those", "shall", "must", "should", "may", "will", "can", "could", "would", "might", "which",
    "who", "whom", "whose", "when", "then", "than", "if", "into", "there", "their", "they", "them",
    "he", "she", "his", "her", "we", "our", "you", "your", "i", "so", "such", "do", "does", "has",
    "have", "had", "also", "able", "both", "every", "all", "any", "each", "via", "upon", "onto",
    "whether", "but",
];

/// A requirement's terms for duplicate judgement, as sorted ids into `vocab`: every word but
/// function words, lower-cased and stemmed; numbers and identifiers (`1005`, `rsv1`) kept.
fn duplicate_terms(text: &str, vocab: &mut std::collections::HashMap<String, u32>) -> Vec<u32> {
    let lower = text.to_lowercase();
    let mut ids: Vec<u32> = text::words(&lower)
        .into_iter()
        .map(|(s, e)| &lower[s..e])
        .filter(|w| !FUNCTION_WORDS.contains(w))
        .filter(|w| w.len() >= 2 || w.chars().any(|c| c.is_ascii_digit()))
        .map(|w| {
            let t = text::stem(w);
            let next = u32::try_from(vocab.len()).unwrap_or(u32::MAX);
            *vocab.entry(t).or_insert(next)
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The share of terms two requirements must have in common to say the same thing, chosen on
/// labelled pairs of the development specs (see `bench/duplicate_pairs.csv` and `l9 eval
/// duplicates`).
pub const DUPLICATE_JACCARD: f32 = 0.8;

/// Whether two requirements (their [`duplicate_terms`]) say the same thing, and the share of
/// terms they have in common. They do when neither puts a term of its own in place of one of
/// the other's — one's terms contain the other's, so "the driver" against "the user", `1005`
/// against `1006` or `|Sec-WebSocket-Key|` against `|Sec-WebSocket-Version|` are different
/// things however much else they share — and they share at least [`DUPLICATE_JACCARD`] of
/// their terms.
fn same_requirement(a: &[u32], b: &[u32]) -> Option<f32> {
    same_requirement_at(a, b, DUPLICATE_JACCARD)
}

fn same_requirement_at(a: &[u32], b: &[u32], share: f32) -> Option<f32> {
    let (small, large) = (a.len().min(b.len()), a.len().max(b.len()));
    // Containment means the intersection is the smaller set, so Jaccard is small / large.
    if small < 3 || (small as f32) < share * large as f32 {
        return None;
    }
    let inter = sorted_intersection(a, b);
    (inter == small).then(|| inter as f32 / large as f32)
}

/// Whether two requirement texts say the same thing (the challenger's duplicate judgement),
/// with the share of terms they have in common.
pub fn duplicate_judgement(a: &str, b: &str) -> Option<f32> {
    duplicate_judgement_at(a, b, DUPLICATE_JACCARD)
}

/// [`duplicate_judgement`] with another share of common terms (for choosing it).
pub fn duplicate_judgement_at(a: &str, b: &str, share: f32) -> Option<f32> {
    let mut vocab = std::collections::HashMap::new();
    let ta = duplicate_terms(a, &mut vocab);
    let tb = duplicate_terms(b, &mut vocab);
    same_requirement_at(&ta, &tb, share)
}

fn duplicates(ir: &Ir) -> Vec<Finding> {
    // Terms as sorted integer ids, so a pair costs one merge instead of string compares.
    let mut vocab: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let reqs: Vec<(&Node, Vec<u32>)> = ir
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Requirement)
        .map(|n| (n, duplicate_terms(&n.text, &mut vocab)))
        .filter(|(_, t)| t.len() >= 3)
        .collect();
    let mut out = Vec::new();
    for i in 0..reqs.len() {
        for j in i + 1..reqs.len() {
            let (a, ta) = &reqs[i];
            let (b, tb) = &reqs[j];
            let Some(jaccard) = same_requirement(ta, tb) else { continue };
            let strength = if a.strength == b.strength {
                String::new()
            } else {
                " — with a different strength".to_string()
            };
            out.push(Finding {
                code: DUPLICATE.into(),
                severity: Severity::Warning,
                message: format!(
                    "says the same as {} ({:.0}% of its terms are shared, none replaced){strength}",
                    a.id,
                    jaccard * 100.0
                ),
                node: Some(b.id.clone()),
                span: Some(b.span.clone()),
                words: Vec::new(),
                fix: format!("keep one of {} and {}, or make the difference explicit", a.id, b.id),
                related: vec![a.id.clone()],
                blocking: false,
            });
        }
    }
    out
}

fn sorted_intersection(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

fn hidden_constraints(ir: &Ir, hidden: &[HiddenConstraint]) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in hidden {
        let mut hit_nodes = Vec::new();
        let mut words = BTreeSet::new();
        for n in &ir.nodes {
            let lower = n.text.to_lowercase();
            for t in &h.triggers {
                if text::find_word(&lower, &t.to_lowercase(), true).is_some() {
                    hit_nodes.push(n);
                    words.insert(t.clone());
                    break;
                }
            }
        }
        let Some(first) = hit_nodes.first() else { continue };
        // Already addressed if a constraint in the spec shares most of its terms.
        let terms = text::content_terms(&h.text);
        let addressed = ir.nodes.iter().any(|n| {
            n.kind == NodeKind::Constraint && {
                let t = text::content_terms(&n.text);
                terms.intersection(&t).count() * 2 >= terms.len().max(1)
            }
        });
        if addressed {
            continue;
        }
        out.push(Finding {
            code: HIDDEN.into(),
            severity: h.severity,
            message: format!("hidden constraint {}: {}", h.id, h.text),
            node: Some(first.id.clone()),
            span: Some(first.span.clone()),
            words: words.into_iter().collect(),
            fix: "add it to the spec as a constraint (or say why it does not apply)".into(),
            related: hit_nodes.iter().skip(1).take(10).map(|n| n.id.clone()).collect(),
            blocking: h.severity == Severity::Error,
        });
    }
    out
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
    }
}
