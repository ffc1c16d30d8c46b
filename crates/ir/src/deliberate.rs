//! The deliberation cell protocol (pure): a proposer and a critic take turns over the IR and
//! its open findings. Each proposer turn yields amendments (add an assumption, add an
//! acceptance criterion, split or reword a requirement, ask a question); the critic then
//! re-challenges the amended IR. It ends when no blocking finding remains or at the round
//! limit. The deterministic [`RuleProposer`] resolves what rules can; model-backed proposers
//! plug in through the same trait later (their turns are journaled by the kernel).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::challenge::{self, Finding, HiddenConstraint};
use crate::model::{Edge, EdgeKind, Ir, Node, NodeKind};
use crate::text;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Amendment {
    AddAssumption { about: String, text: String },
    AddAcceptance { requirement: String, text: String },
    Split { requirement: String, parts: Vec<String> },
    Reword { requirement: String, text: String },
    AskQuestion { about: String, finding: String, text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Proposer,
    Critic,
}

/// One turn: who, which round, what they changed or found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub round: u32,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amendments: Vec<Amendment>,
    /// Blocking findings open after this turn.
    pub blocking: usize,
}

/// Proposes amendments for the open findings.
pub trait Proposer {
    fn propose(&mut self, ir: &Ir, open: &[Finding]) -> Vec<Amendment>;
}

/// Finds what is still wrong.
pub trait Critic {
    fn critique(&mut self, ir: &Ir) -> Vec<Finding>;
}

/// The default critic: challenger (with the caller's hidden constraints) plus validator. It
/// judges each text's smells once over all its critiques.
#[derive(Debug, Clone, Default)]
pub struct RuleCritic {
    source: Option<String>,
    hidden: Vec<HiddenConstraint>,
    memo: challenge::SmellMemo,
}

impl RuleCritic {
    /// A critic of a spec whose text is `source` (for exact word spans), with the world
    /// model's `hidden` constraints.
    pub fn new(source: Option<String>, hidden: Vec<HiddenConstraint>) -> RuleCritic {
        RuleCritic { source, hidden, memo: challenge::SmellMemo::default() }
    }

    /// This critic starting from the smells already judged by a challenge of the same spec
    /// ([`challenge::challenge_keeping`]): the first critique does not judge them again.
    pub fn with_memo(mut self, memo: challenge::SmellMemo) -> RuleCritic {
        self.memo = memo;
        self
    }
}

impl Critic for RuleCritic {
    fn critique(&mut self, ir: &Ir) -> Vec<Finding> {
        let mut f = challenge::challenge_memo(
            ir,
            self.source.as_deref(),
            &self.hidden,
            challenge::SmellJudge::default(),
            &mut self.memo,
        );
        f.extend(crate::validate::validate(ir).into_iter().filter(|x| x.code != "L9-VAL-004"));
        f
    }
}

/// Resolves by rule: an assumed acceptance stub for a MUST without one, a question for a
/// TBD, a vague term or a numeric conflict (with an assumption that the stricter bound holds).
#[derive(Debug, Clone, Default)]
pub struct RuleProposer;

impl Proposer for RuleProposer {
    fn propose(&mut self, ir: &Ir, open: &[Finding]) -> Vec<Amendment> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        // Each finding's node by lookup (the first of its id, as `Ir::node` finds it).
        let at = ir.nodes_by_id();
        for f in open.iter().filter(|f| f.blocking) {
            let Some(node) = f.node.as_deref().and_then(|id| at.get(id).copied()) else { continue };
            // One question per thing to decide: the validator's conflict over a numeric
            // conflict's edge is answered by the challenger's question about it.
            if !seen.insert((answered_by(f).to_string(), node.id.clone())) {
                continue;
            }
            match f.code.as_str() {
                "L9-VAL-004" => out.push(Amendment::AddAcceptance {
                    requirement: node.id.clone(),
                    text: format!("Assumed: a test demonstrates that {}", lower_first(&node.text)),
                }),
                challenge::NUMERIC_CONFLICT => {
                    out.push(Amendment::AddAssumption {
                        about: node.id.clone(),
                        text: format!(
                            "Until answered, the stricter of {} holds",
                            f.words.join(" and ")
                        ),
                    });
                    out.push(Amendment::AskQuestion {
                        about: node.id.clone(),
                        finding: f.code.clone(),
                        text: format!(
                            "Which limit is right for {}: {}?",
                            node.id,
                            f.words.join(" or ")
                        ),
                    });
                }
                _ => out.push(Amendment::AskQuestion {
                    about: node.id.clone(),
                    finding: answered_by(f).to_string(),
                    text: format!("{} — {}: {}?", node.id, f.message, f.fix),
                }),
            }
        }
        out
    }
}

/// The finding code whose question answers `f`: its own, except for the validator's
/// conflicting constraints over an edge a numeric conflict drew (`L9-VAL-006`, "… (numeric
/// conflict)"), which the question about that numeric conflict answers — one decision, one
/// question, one approval gate.
pub fn answered_by(f: &Finding) -> &str {
    let over_numeric = || {
        f.message
            .strip_suffix(')')
            .and_then(|m| m.strip_suffix(challenge::NUMERIC_WHY))
            .is_some_and(|m| m.ends_with('('))
    };
    if f.code == crate::validate::CONFLICTING && over_numeric() {
        challenge::NUMERIC_CONFLICT
    } else {
        &f.code
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The outcome: the amended IR, every turn, what is still open.
#[derive(Debug, Clone)]
pub struct Deliberation {
    pub ir: Ir,
    pub turns: Vec<Turn>,
    pub open: Vec<Finding>,
    /// No blocking finding remains.
    pub settled: bool,
}

/// The questions a deliberation asked about findings (Question nodes tagged `finding:CODE`),
/// in order: each answers its finding for the deliberation and stays open for a person.
pub fn asked_questions(ir: &Ir) -> impl Iterator<Item = &Node> {
    ir.nodes.iter().filter(|n| {
        n.kind == NodeKind::Question && n.tags.iter().any(|t| t.starts_with("finding:"))
    })
}

/// What the deliberation has on record, indexed so that each amendment and each "is this
/// finding answered?" is a lookup, not a scan of every node and edge: with a scan, a spec of
/// 2,000 TBDs took ~53 s to deliberate (cubic: findings × questions × edges).
#[derive(Debug, Default)]
struct Record {
    /// Node id → its position (the first node of that id).
    at: HashMap<String, usize>,
    /// The texts of assumed nodes, each with the positions of the nodes that have it, in order.
    assumed: HashMap<String, Vec<usize>>,
    /// (assumed node id, node id) for each edge from an assumed node.
    linked: HashSet<(String, String)>,
    /// (`finding:CODE` tag, node id) for each question on record that refines that node.
    answered: HashSet<(String, String)>,
}

impl Record {
    fn of(ir: &Ir) -> Record {
        let mut r = Record::default();
        for (i, n) in ir.nodes.iter().enumerate() {
            r.at.entry(n.id.clone()).or_insert(i);
            if n.assumed {
                r.assumed.entry(n.text.clone()).or_default().push(i);
            }
        }
        for e in &ir.edges {
            if r.at.get(&e.from).is_some_and(|&i| ir.nodes[i].assumed) {
                r.linked.insert((e.from.clone(), e.to.clone()));
            }
        }
        let questions: HashMap<&str, &[String]> = ir
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Question)
            .map(|n| (n.id.as_str(), n.tags.as_slice()))
            .collect();
        for e in &ir.edges {
            for tag in questions.get(e.from.as_str()).into_iter().flat_map(|t| t.iter()) {
                r.answered.insert((tag.clone(), e.to.clone()));
            }
        }
        r
    }

    fn node<'a>(&self, ir: &'a Ir, id: &str) -> Option<&'a Node> {
        self.at.get(id).map(|&i| &ir.nodes[i])
    }

    fn push(&mut self, ir: &mut Ir, node: Node, edge: Edge) {
        self.at.entry(node.id.clone()).or_insert(ir.nodes.len());
        if node.assumed {
            self.assumed.entry(node.text.clone()).or_default().push(ir.nodes.len());
            self.linked.insert((node.id.clone(), edge.to.clone()));
        }
        if node.kind == NodeKind::Question {
            for tag in &node.tags {
                self.answered.insert((tag.clone(), edge.to.clone()));
            }
        }
        ir.nodes.push(node);
        ir.edges.push(edge);
    }

    /// A finding counts as answered once a question about it is on record for its node.
    fn still_blocking(&self, f: &Finding) -> bool {
        if !f.blocking {
            return false;
        }
        let Some(node) = &f.node else { return true };
        !self.answered.contains(&(format!("finding:{}", answered_by(f)), node.clone()))
    }
}

pub fn deliberate(
    ir: &Ir,
    proposer: &mut dyn Proposer,
    critic: &mut dyn Critic,
    max_rounds: u32,
) -> Deliberation {
    let mut ir = ir.clone();
    let mut record = Record::of(&ir);
    let mut turns = Vec::new();
    let mut open: Vec<Finding> = critic
        .critique(&ir)
        .into_iter()
        .filter(|f| record.still_blocking(f) || !f.blocking)
        .collect();
    let blocking = |record: &Record, open: &[Finding]| {
        open.iter().filter(|f| record.still_blocking(f)).count()
    };
    turns.push(Turn {
        round: 0,
        role: Role::Critic,
        amendments: Vec::new(),
        blocking: blocking(&record, &open),
    });
    for round in 1..=max_rounds {
        if blocking(&record, &open) == 0 {
            break;
        }
        let pending: Vec<Finding> =
            open.iter().filter(|f| record.still_blocking(f)).cloned().collect();
        let amendments = proposer.propose(&ir, &pending);
        let mut changed = false;
        for a in &amendments {
            changed |= apply_recorded(&mut ir, &mut record, a);
        }
        turns.push(Turn {
            round,
            role: Role::Proposer,
            amendments,
            blocking: blocking(&record, &open),
        });
        open = critic.critique(&ir);
        turns.push(Turn {
            round,
            role: Role::Critic,
            amendments: Vec::new(),
            blocking: blocking(&record, &open),
        });
        if !changed {
            break;
        }
    }
    let settled = blocking(&record, &open) == 0;
    Deliberation { ir, turns, open, settled }
}

/// The edge from an assumed node to the node it is about: an acceptance criterion verifies
/// it, an assumption refines it.
fn assumed_edge(from: &str, kind: NodeKind, to: &str) -> Edge {
    let kind = match kind {
        NodeKind::AcceptanceCriterion => EdgeKind::Verifies,
        _ => EdgeKind::Refines,
    };
    Edge { from: from.into(), to: to.into(), kind, why: "assumed by the deliberation cell".into() }
}

fn new_node(record: &Record, kind: NodeKind, text: &str, like: &Node) -> Node {
    let mut id = format!(
        "{}-{}",
        kind.prefix(),
        text::short_hash(&[kind.name(), "assumed", &text.to_lowercase()])
    );
    let mut n = 2;
    let root = id.clone();
    while record.at.contains_key(&id) {
        id = format!("{root}-{n}");
        n += 1;
    }
    Node {
        id,
        kind,
        text: text.to_string(),
        section: like.section.clone(),
        strength: None,
        class: None,
        span: like.span.clone(),
        confidence: 0.5,
        tags: Vec::new(),
        interface: None,
        scenario: None,
        gate: None,
        assumed: true,
    }
}

/// Applies one amendment; false when it changed nothing (unknown node, already present).
pub fn apply(ir: &mut Ir, a: &Amendment) -> bool {
    apply_recorded(ir, &mut Record::of(ir), a)
}

/// [`apply`] with the record of `ir` kept up to date (each check a lookup).
fn apply_recorded(ir: &mut Ir, record: &mut Record, a: &Amendment) -> bool {
    let edge = |from: &str, to: &str, kind: EdgeKind, why: &str| Edge {
        from: from.into(),
        to: to.into(),
        kind,
        why: why.into(),
    };
    match a {
        Amendment::AddAcceptance { requirement, text }
        | Amendment::AddAssumption { about: requirement, text } => {
            let Some(target) = record.node(ir, requirement).cloned() else { return false };
            let kind = if matches!(a, Amendment::AddAcceptance { .. }) {
                NodeKind::AcceptanceCriterion
            } else {
                NodeKind::Assumption
            };
            // An acceptance or assumption already on record with this text (the same
            // sentence in two sections of a spec) is linked to this node too, once.
            if let Some(&i) = record.assumed.get(text).and_then(|at| at.first()) {
                let id = ir.nodes[i].id.clone();
                if ir.nodes[i].kind != kind
                    || !record.linked.insert((id.clone(), requirement.clone()))
                {
                    return false;
                }
                ir.edges.push(assumed_edge(&id, kind, requirement));
                return true;
            }
            let node = new_node(record, kind, text, &target);
            let e = assumed_edge(&node.id, kind, requirement);
            record.push(ir, node, e);
            true
        }
        Amendment::AskQuestion { about, finding, text } => {
            let Some(target) = record.node(ir, about).cloned() else { return false };
            let tag = format!("finding:{finding}");
            if record.answered.contains(&(tag.clone(), about.clone())) {
                return false;
            }
            let mut node = new_node(record, NodeKind::Question, text, &target);
            node.tags.push(tag);
            let e = edge(&node.id, about, EdgeKind::Refines, "question from the deliberation cell");
            record.push(ir, node, e);
            true
        }
        Amendment::Reword { requirement, text } => match record.at.get(requirement) {
            Some(&i) if ir.nodes[i].text != *text => {
                let node = &mut ir.nodes[i];
                if node.assumed {
                    if let Some(at) = record.assumed.get_mut(&node.text) {
                        at.retain(|&k| k != i);
                        if at.is_empty() {
                            record.assumed.remove(&node.text);
                        }
                    }
                    let at = record.assumed.entry(text.clone()).or_default();
                    let k = at.partition_point(|&k| k < i);
                    at.insert(k, i);
                }
                node.text = text.clone();
                true
            }
            _ => false,
        },
        Amendment::Split { requirement, parts } => {
            let Some(target) = record.node(ir, requirement).cloned() else { return false };
            if parts.len() < 2 {
                return false;
            }
            for part in parts {
                let mut node = new_node(record, NodeKind::Requirement, part, &target);
                node.strength = target.strength;
                node.class = target.class.clone();
                let e = edge(
                    &node.id,
                    requirement,
                    EdgeKind::Refines,
                    "split by the deliberation cell",
                );
                record.push(ir, node, e);
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The former bookkeeping, a scan of every node and edge per check, kept as the oracle the
    // indexed record is held to.
    fn still_blocking_scan(ir: &Ir, f: &Finding) -> bool {
        if !f.blocking {
            return false;
        }
        let Some(node) = &f.node else { return true };
        let tag = format!("finding:{}", answered_by(f));
        !ir.nodes.iter().any(|q| {
            q.kind == NodeKind::Question
                && q.tags.contains(&tag)
                && ir.edges.iter().any(|e| e.from == q.id && e.to == *node)
        })
    }

    fn new_node_scan(ir: &Ir, kind: NodeKind, text: &str, like: &Node) -> Node {
        let mut n = new_node(&Record::default(), kind, text, like);
        let root = n.id.clone();
        let mut k = 2;
        while ir.node(&n.id).is_some() {
            n.id = format!("{root}-{k}");
            k += 1;
        }
        n
    }

    fn apply_scan(ir: &mut Ir, a: &Amendment) -> bool {
        let edge = |from: &str, to: &str, kind: EdgeKind, why: &str| Edge {
            from: from.into(),
            to: to.into(),
            kind,
            why: why.into(),
        };
        match a {
            Amendment::AddAcceptance { requirement, text }
            | Amendment::AddAssumption { about: requirement, text } => {
                let Some(target) = ir.node(requirement).cloned() else { return false };
                let kind = if matches!(a, Amendment::AddAcceptance { .. }) {
                    NodeKind::AcceptanceCriterion
                } else {
                    NodeKind::Assumption
                };
                if let Some(n) = ir.nodes.iter().find(|n| n.assumed && n.text == *text) {
                    let id = n.id.clone();
                    if n.kind != kind
                        || ir.edges.iter().any(|e| e.from == id && e.to == *requirement)
                    {
                        return false;
                    }
                    ir.edges.push(assumed_edge(&id, kind, requirement));
                    return true;
                }
                let node = new_node_scan(ir, kind, text, &target);
                let e = if kind == NodeKind::AcceptanceCriterion {
                    edge(
                        &node.id,
                        requirement,
                        EdgeKind::Verifies,
                        "assumed by the deliberation cell",
                    )
                } else {
                    edge(
                        &node.id,
                        requirement,
                        EdgeKind::Refines,
                        "assumed by the deliberation cell",
                    )
                };
                ir.nodes.push(node);
                ir.edges.push(e);
                true
            }
            Amendment::AskQuestion { about, finding, text } => {
                let Some(target) = ir.node(about).cloned() else { return false };
                let tag = format!("finding:{finding}");
                if ir.nodes.iter().any(|n| {
                    n.kind == NodeKind::Question
                        && n.tags.contains(&tag)
                        && ir.edges.iter().any(|e| e.from == n.id && e.to == *about)
                }) {
                    return false;
                }
                let mut node = new_node_scan(ir, NodeKind::Question, text, &target);
                node.tags.push(tag);
                let e =
                    edge(&node.id, about, EdgeKind::Refines, "question from the deliberation cell");
                ir.nodes.push(node);
                ir.edges.push(e);
                true
            }
            Amendment::Reword { requirement, text } => {
                match ir.nodes.iter_mut().find(|n| n.id == *requirement) {
                    Some(n) if n.text != *text => {
                        n.text = text.clone();
                        true
                    }
                    _ => false,
                }
            }
            Amendment::Split { requirement, parts } => {
                let Some(target) = ir.node(requirement).cloned() else { return false };
                if parts.len() < 2 {
                    return false;
                }
                for part in parts {
                    let mut node = new_node_scan(ir, NodeKind::Requirement, part, &target);
                    node.strength = target.strength;
                    node.class = target.class.clone();
                    let e = edge(
                        &node.id,
                        requirement,
                        EdgeKind::Refines,
                        "split by the deliberation cell",
                    );
                    ir.nodes.push(node);
                    ir.edges.push(e);
                }
                true
            }
        }
    }

    /// The rule proposer's amendments, then rewords and splits of the same nodes, then each
    /// again (already present), so every branch of `apply` meets the record.
    fn amendments(ir: &Ir, findings: &[Finding]) -> Vec<Amendment> {
        let mut out = RuleProposer.propose(ir, findings);
        for n in ir.nodes.iter().filter(|n| n.kind == NodeKind::Requirement).take(4) {
            out.push(Amendment::Reword {
                requirement: n.id.clone(),
                text: format!("{} now", n.text),
            });
            out.push(Amendment::Split {
                requirement: n.id.clone(),
                parts: vec![format!("{} (a)", n.text), format!("{} (b)", n.text)],
            });
            out.push(Amendment::AddAssumption { about: n.id.clone(), text: "Shared".into() });
        }
        // Assumed nodes reworded: their old text is free again, their new one taken.
        for (i, q) in ir.nodes.iter().filter(|n| n.assumed).enumerate() {
            out.push(Amendment::Reword {
                requirement: q.id.clone(),
                text: format!("Other {}", i % 2),
            });
            out.push(Amendment::AddAssumption { about: q.id.clone(), text: q.text.clone() });
            out.push(Amendment::AddAssumption { about: q.id.clone(), text: "Other 1".into() });
        }
        let again = out.clone();
        out.extend(again);
        out
    }

    #[test]
    fn the_record_agrees_with_a_scan_of_the_ir() {
        let specs = [
            ("notes.md", include_str!("../tests/fixtures/notes.md")),
            ("rfc-mini.txt", include_str!("../tests/fixtures/rfc-mini.txt")),
            ("prose.txt", include_str!("../tests/fixtures/prose.txt")),
            ("login.feature", include_str!("../tests/fixtures/login.feature")),
            (
                "dup.md",
                "# S\n\n- REQ-1: It MUST be TBD.\n- REQ-1: It MUST be TBD too.\n- REQ-2: Latency MUST be under 5 ms.\n- REQ-3: Latency MUST be under 9 ms.\n",
            ),
        ];
        for (name, text) in specs {
            let c = crate::compile(name, text, None);
            let mut critic = RuleCritic::new(Some(text.into()), vec![]);
            let findings = critic.critique(&c.ir);
            let (mut fast, mut slow) = (c.ir.clone(), c.ir.clone());
            let mut record = Record::of(&fast);
            // Twice: the second pass amends what the first one added.
            for _ in 0..2 {
                let base = fast.clone();
                for a in amendments(&base, &findings) {
                    let (a_fast, a_slow) =
                        (apply_recorded(&mut fast, &mut record, &a), apply_scan(&mut slow, &a));
                    assert_eq!(a_fast, a_slow, "{name}: {a:?}");
                    assert_eq!(fast, slow, "{name}: after {a:?}");
                    let again = critic.critique(&fast);
                    for f in findings.iter().chain(&again) {
                        assert_eq!(
                            record.still_blocking(f),
                            still_blocking_scan(&fast, f),
                            "{name}: {f:?}"
                        );
                    }
                }
            }
            // And a record made afresh from the amended IR agrees with the one kept up to date.
            let fresh = Record::of(&fast);
            assert_eq!(fresh.at, record.at, "at");
            assert_eq!(fresh.assumed, record.assumed, "assumed");
            assert_eq!(fresh.linked, record.linked, "linked");
            assert_eq!(fresh.answered, record.answered, "answered");
        }
    }
}
