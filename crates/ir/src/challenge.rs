//! The constraint challenger: everything a careful reviewer would push back on, as findings
//! with a stable code, the node and span, the offending words, a severity and a fix.
//!
//! * smells in requirement, constraint and acceptance text ([`crate::smells`]);
//! * a MUST without acceptance criteria (the validator's rule, reused);
//! * numeric conflicts: two bounds on the same measured thing that disagree
//!   ("p99 ≤ 50 ms" and "p99 ≤ 20 ms", or a lower bound above an upper bound);
//! * duplicates: requirements that say the same thing;
//! * hidden constraints handed in by the caller (the world model's), matched by their terms.

use std::collections::{BTreeSet, HashMap};

use l9_types::{Diagnostic, Severity, Span};
use serde::{Deserialize, Serialize};

use crate::model::{Edge, EdgeKind, Ir, Node, NodeKind};
use crate::smells::{self, Smell};
use crate::text;

mod duplicates;
mod numeric;
use duplicates::duplicates;
pub use duplicates::{DUPLICATE_JACCARD, duplicate_judgement, duplicate_judgement_at};
use numeric::numeric_conflicts;

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

/// [`challenge`] that keeps each text's smells in `memo`: a deliberation handed the memo
/// (`RuleCritic::with_memo`) judges only the texts it changes.
pub fn challenge_keeping(
    ir: &Ir,
    source: Option<&str>,
    hidden: &[HiddenConstraint],
    memo: &mut SmellMemo,
) -> Vec<Finding> {
    challenge_memo(ir, source, hidden, SmellJudge::Tagger, memo)
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
/// * "which" is vague only opening a sentence: inside one it introduces a relative clause
///   about the phrase before it ("`add.sh`, which prints", "the area over which") or picks
///   among things it names ("determine which mobiles"). The labelled data sets mark 8 of its
///   166 occurrences (1 of the 27 after a comma).
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
        Smell::VaguePronoun if hit.words.eq_ignore_ascii_case("which") => starts_sentence,
        _ => true,
    }
}

/// How many findings of one smell one statement lists (the rest are counted in one more
/// finding): [`l9_types::limits::FINDINGS_PER_SMELL`] in force.
pub fn findings_per_smell() -> usize {
    l9_types::limits::FINDINGS_PER_SMELL.get_usize()
}

/// [`challenge`] with the smells judged by `judge`.
pub fn challenge_judged(
    ir: &Ir,
    source: Option<&str>,
    hidden: &[HiddenConstraint],
    judge: SmellJudge,
) -> Vec<Finding> {
    challenge_memo(ir, source, hidden, judge, &mut SmellMemo::default())
}

/// The smell hits of texts already judged, by text and by whether every smell or only open
/// items were asked for. The deliberation cell critiques an IR once per round and its nodes
/// rarely change in between: with a memo each text is judged once.
#[derive(Debug, Default, Clone)]
pub struct SmellMemo {
    judge: Option<SmellJudge>,
    hits: HashMap<(String, bool), Vec<smells::Hit>>,
}

/// [`challenge_judged`] that judges only the texts `memo` has not seen (with this judge).
pub fn challenge_memo(
    ir: &Ir,
    source: Option<&str>,
    hidden: &[HiddenConstraint],
    judge: SmellJudge,
    memo: &mut SmellMemo,
) -> Vec<Finding> {
    if memo.judge != Some(judge) {
        *memo = SmellMemo { judge: Some(judge), hits: HashMap::new() };
    }
    let tagger = match judge {
        SmellJudge::Tagger => crate::learn::tagger::shipped(),
        SmellJudge::WordLists => None,
    };
    let mut out = Vec::new();
    let listed = findings_per_smell();
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
        let key = (node.text.clone(), which.len() > 1);
        let hits = memo.hits.entry(key).or_insert_with(|| match tagger {
            Some(t) => t.detect_only(&node.text, which),
            None => smells::detect_only(&node.text, which),
        });
        let mut locator = WordLocator::new(located, node);
        // Findings of one smell in one node beyond the first few are counted, not listed: a
        // requirement of a million smell words would otherwise hold a million findings.
        let mut per_smell: HashMap<Smell, usize> = HashMap::new();
        let mut more: Vec<(Smell, usize)> = Vec::new();
        for hit in hits.iter() {
            if matches!(hit.smell, Smell::VaguePronoun | Smell::Polysemy | Smell::UncertainVerb)
                && node.kind != NodeKind::Requirement
            {
                continue;
            }
            if !keeps(hit, &node.text) {
                continue;
            }
            let seen = per_smell.entry(hit.smell).or_default();
            *seen += 1;
            if *seen > listed {
                match more.iter_mut().find(|(s, _)| *s == hit.smell) {
                    Some((_, n)) => *n += 1,
                    None => more.push((hit.smell, 1)),
                }
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
        for (smell, n) in more {
            out.push(Finding {
                code: smell.code().into(),
                severity: if smell == Smell::Tbd { Severity::Warning } else { Severity::Info },
                message: format!(
                    "{}: {n} more in this statement (the first {listed} are listed; \
                     {} sets how many)",
                    smell.name(),
                    l9_types::limits::FINDINGS_PER_SMELL.env
                ),
                node: Some(node.id.clone()),
                span: Some(node.span.clone()),
                words: Vec::new(),
                fix: smell.fix().into(),
                related: Vec::new(),
                blocking: smell == Smell::Tbd,
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
                    let why = if f.code == DUPLICATE { "duplicate" } else { NUMERIC_WHY };
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
/// Why a `conflicts_with` edge a numeric conflict drew is there (the validator's message
/// ends with it in parentheses).
pub const NUMERIC_WHY: &str = "numeric conflict";
pub const DUPLICATE: &str = "L9-CHAL-003";
pub const HIDDEN: &str = "L9-CHAL-004";

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
