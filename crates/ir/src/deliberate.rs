//! The deliberation cell protocol (pure): a proposer and a critic take turns over the IR and
//! its open findings. Each proposer turn yields amendments (add an assumption, add an
//! acceptance criterion, split or reword a requirement, ask a question); the critic then
//! re-challenges the amended IR. It ends when no blocking finding remains or at the round
//! limit. The deterministic [`RuleProposer`] resolves what rules can; model-backed proposers
//! plug in through the same trait later (their turns are journaled by the kernel).

use std::collections::BTreeSet;

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

/// The default critic: challenger (with the caller's hidden constraints) plus validator.
#[derive(Debug, Clone, Default)]
pub struct RuleCritic {
    pub source: Option<String>,
    pub hidden: Vec<HiddenConstraint>,
}

impl Critic for RuleCritic {
    fn critique(&mut self, ir: &Ir) -> Vec<Finding> {
        let mut f = challenge::challenge(ir, self.source.as_deref(), &self.hidden);
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
        for f in open.iter().filter(|f| f.blocking) {
            let Some(node) = f.node.as_deref().and_then(|id| ir.node(id)) else { continue };
            if !seen.insert((f.code.clone(), node.id.clone())) {
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
                    finding: f.code.clone(),
                    text: format!("{} — {}: {}?", node.id, f.message, f.fix),
                }),
            }
        }
        out
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

/// A finding counts as answered once a question about it is on record for its node.
fn still_blocking(ir: &Ir, f: &Finding) -> bool {
    if !f.blocking {
        return false;
    }
    let Some(node) = &f.node else { return true };
    let tag = format!("finding:{}", f.code);
    !ir.nodes.iter().any(|q| {
        q.kind == NodeKind::Question
            && q.tags.contains(&tag)
            && ir.edges.iter().any(|e| e.from == q.id && e.to == *node)
    })
}

pub fn deliberate(
    ir: &Ir,
    proposer: &mut dyn Proposer,
    critic: &mut dyn Critic,
    max_rounds: u32,
) -> Deliberation {
    let mut ir = ir.clone();
    let mut turns = Vec::new();
    let mut open: Vec<Finding> = critic
        .critique(&ir)
        .into_iter()
        .filter(|f| still_blocking(&ir, f) || !f.blocking)
        .collect();
    let blocking =
        |ir: &Ir, open: &[Finding]| open.iter().filter(|f| still_blocking(ir, f)).count();
    turns.push(Turn {
        round: 0,
        role: Role::Critic,
        amendments: Vec::new(),
        blocking: blocking(&ir, &open),
    });
    for round in 1..=max_rounds {
        if blocking(&ir, &open) == 0 {
            break;
        }
        let pending: Vec<Finding> =
            open.iter().filter(|f| still_blocking(&ir, f)).cloned().collect();
        let amendments = proposer.propose(&ir, &pending);
        let mut changed = false;
        for a in &amendments {
            changed |= apply(&mut ir, a);
        }
        turns.push(Turn {
            round,
            role: Role::Proposer,
            amendments,
            blocking: blocking(&ir, &open),
        });
        open = critic.critique(&ir);
        turns.push(Turn {
            round,
            role: Role::Critic,
            amendments: Vec::new(),
            blocking: blocking(&ir, &open),
        });
        if !changed {
            break;
        }
    }
    let settled = blocking(&ir, &open) == 0;
    Deliberation { ir, turns, open, settled }
}

fn new_node(ir: &Ir, kind: NodeKind, text: &str, like: &Node) -> Node {
    let mut id = format!(
        "{}-{}",
        kind.prefix(),
        text::short_hash(&[kind.name(), "assumed", &text.to_lowercase()])
    );
    let mut n = 2;
    let root = id.clone();
    while ir.node(&id).is_some() {
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
            if ir.nodes.iter().any(|n| n.assumed && n.text == *text) {
                return false;
            }
            let kind = if matches!(a, Amendment::AddAcceptance { .. }) {
                NodeKind::AcceptanceCriterion
            } else {
                NodeKind::Assumption
            };
            let node = new_node(ir, kind, text, &target);
            let e = if kind == NodeKind::AcceptanceCriterion {
                edge(&node.id, requirement, EdgeKind::Verifies, "assumed by the deliberation cell")
            } else {
                edge(&node.id, requirement, EdgeKind::Refines, "assumed by the deliberation cell")
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
            let mut node = new_node(ir, NodeKind::Question, text, &target);
            node.tags.push(tag);
            let e = edge(&node.id, about, EdgeKind::Refines, "question from the deliberation cell");
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
                let mut node = new_node(ir, NodeKind::Requirement, part, &target);
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
