//! The IR validator: named rules with stable codes and severities.
//!
//! | code | rule | severity |
//! |---|---|---|
//! | L9-VAL-001 | empty spec: nothing to build | error |
//! | L9-VAL-002 | dangling reference: an edge or a mentioned id names no node | error / warning |
//! | L9-VAL-003 | dependency cycle among `depends_on` edges | error |
//! | L9-VAL-004 | MUST without acceptance criteria | warning (blocking) |
//! | L9-VAL-005 | interface without a component | warning |
//! | L9-VAL-006 | conflicting constraints (`conflicts_with` or a numeric conflict) | error |
//! | L9-VAL-007 | acceptance criterion that verifies nothing | info |

use std::collections::{BTreeMap, BTreeSet, HashSet};

use l9_types::Severity;

use crate::challenge::Finding;
use crate::model::{EdgeKind, Format, Ir, NodeKind};
use crate::text;

/// Runs every rule.
pub fn validate(ir: &Ir) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(empty_spec(ir));
    out.extend(dangling(ir));
    out.extend(cycles(ir));
    out.extend(must_without_acceptance(ir));
    out.extend(interface_without_component(ir));
    out.extend(conflicting(ir));
    out.extend(unverifying_acceptance(ir));
    out
}

/// Conflicting constraints: a `conflicts_with` edge (a numeric conflict's among them).
pub const CONFLICTING: &str = "L9-VAL-006";

fn finding(code: &str, severity: Severity, message: String, fix: &str) -> Finding {
    Finding {
        code: code.into(),
        severity,
        message,
        node: None,
        span: None,
        words: Vec::new(),
        fix: fix.into(),
        related: Vec::new(),
        blocking: severity == Severity::Error,
    }
}

fn empty_spec(ir: &Ir) -> Option<Finding> {
    let buildable = ir.nodes.iter().any(|n| {
        matches!(
            n.kind,
            NodeKind::Requirement
                | NodeKind::Interface
                | NodeKind::AcceptanceCriterion
                | NodeKind::Constraint
        )
    });
    (!buildable).then(|| {
        let mut f = finding(
            "L9-VAL-001",
            Severity::Error,
            format!("empty spec: no requirements, interfaces or acceptance criteria found in {}", ir.source.file),
            match ir.source.format {
                Format::Openapi => "the description has no operations: add them under `paths` (or `webhooks`), or check --format",
                Format::Gherkin => "add a `Rule:` or a `Scenario:` with its steps under the `Feature:` line",
                _ => "write requirements as list items or sentences with MUST/SHALL/SHOULD (or check --format)",
            },
        );
        f.span = Some(l9_types::Span::line(ir.source.file.clone(), 1));
        f
    })
}

fn dangling(ir: &Ir) -> Vec<Finding> {
    let ids: HashSet<&str> = ir.nodes.iter().map(|n| n.id.as_str()).collect();
    let mut out = Vec::new();
    for e in &ir.edges {
        for end in [&e.from, &e.to] {
            if !ids.contains(end.as_str()) {
                out.push(finding(
                    "L9-VAL-002",
                    Severity::Error,
                    format!(
                        "{} edge {} → {} names a node that does not exist ({end})",
                        e.kind.name(),
                        e.from,
                        e.to
                    ),
                    "remove the edge or add the node",
                ));
            }
        }
    }
    // Ids the document uses as labels share prefixes ("REQ-", "FR-", "FR" of "FR3"); a
    // mention with such a prefix that names no node is a dangling reference.
    let prefixes: BTreeSet<&str> = ir
        .nodes
        .iter()
        .map(|n| n.id.as_str())
        .filter(|id| {
            let rest = &id[text::id_prefix(id).len()..];
            let rest = rest.strip_prefix(['-', '_']).unwrap_or(rest);
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(text::id_prefix)
        .collect();
    for n in &ir.nodes {
        for (s, e) in text::explicit_ids(&n.text) {
            let id = &n.text[s..e];
            let prefix = text::id_prefix(id);
            if prefixes.contains(prefix) && !ids.contains(id) {
                let mut f = finding(
                    "L9-VAL-002",
                    Severity::Warning,
                    format!("{} mentions {id}, which is not defined in this spec", n.id),
                    "define the referenced item or correct the id",
                );
                f.node = Some(n.id.clone());
                f.span = Some(crate::challenge::word_span(None, n, id));
                f.words = vec![id.to_string()];
                out.push(f);
            }
        }
    }
    out
}

fn cycles(ir: &Ir) -> Vec<Finding> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in ir.edges.iter().filter(|e| e.kind == EdgeKind::DependsOn) {
        graph.entry(e.from.as_str()).or_default().push(e.to.as_str());
    }
    // Iterative DFS with colours; each back edge reports the cycle it closes once.
    let mut colour: BTreeMap<&str, u8> = BTreeMap::new();
    let mut out = Vec::new();
    let mut reported: BTreeSet<Vec<&str>> = BTreeSet::new();
    let by_id = ir.nodes_by_id();
    for &start in graph.keys() {
        if colour.get(start).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        let mut path: Vec<&str> = vec![start];
        colour.insert(start, 1);
        while let Some((node, i)) = stack.pop() {
            let next = graph.get(node).and_then(|v| v.get(i)).copied();
            match next {
                Some(n) => {
                    stack.push((node, i + 1));
                    match colour.get(n).copied().unwrap_or(0) {
                        0 => {
                            colour.insert(n, 1);
                            stack.push((n, 0));
                            path.push(n);
                        }
                        1 => {
                            let pos = path.iter().position(|p| *p == n).unwrap_or(0);
                            let mut cycle: Vec<&str> = path[pos..].to_vec();
                            let mut key = cycle.clone();
                            key.sort();
                            if reported.insert(key) {
                                cycle.push(n);
                                let mut f = finding(
                                    "L9-VAL-003",
                                    Severity::Error,
                                    format!("dependency cycle: {}", cycle.join(" → ")),
                                    "break the cycle: one of these must not depend on the other",
                                );
                                f.node = Some(n.to_string());
                                f.span = by_id.get(n).map(|x| x.span.clone());
                                f.related = cycle.iter().map(|s| s.to_string()).collect();
                                out.push(f);
                            }
                        }
                        _ => {}
                    }
                }
                None => {
                    colour.insert(node, 2);
                    path.pop();
                }
            }
        }
    }
    out
}

/// What to do about a MUST without acceptance criteria, in the terms of the spec's format.
fn must_fix(format: Format, id: &str) -> String {
    match format {
        Format::Gherkin => format!(
            "add an `Example:` (or `Scenario:`) under the Rule or Feature that states {id}, showing it hold"
        ),
        Format::Openapi => format!(
            "an API description cannot say how {id} is checked: give the run evidence for it with the project's tests (`[project] test = \"…\"` in .l9/l9.toml)"
        ),
        _ => format!(
            "add an acceptance criterion that names {id} (or a runnable gate under an `Acceptance criteria` heading)"
        ),
    }
}

/// A MUST (or MUST NOT) requirement that no acceptance criterion verifies.
pub fn must_without_acceptance(ir: &Ir) -> Vec<Finding> {
    let verified: HashSet<&str> =
        ir.edges.iter().filter(|e| e.kind == EdgeKind::Verifies).map(|e| e.to.as_str()).collect();
    ir.nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Requirement && n.strength.is_some_and(|s| s.is_mandatory()))
        .filter(|n| !verified.contains(n.id.as_str()))
        .map(|n| Finding {
            code: "L9-VAL-004".into(),
            severity: Severity::Warning,
            message: "MUST requirement without acceptance criteria".into(),
            node: Some(n.id.clone()),
            span: Some(n.span.clone()),
            words: Vec::new(),
            fix: must_fix(ir.source.format, &n.id),
            related: Vec::new(),
            blocking: true,
        })
        .collect()
}

fn interface_without_component(ir: &Ir) -> Vec<Finding> {
    let components: HashSet<&str> =
        ir.nodes.iter().filter(|n| n.kind == NodeKind::Component).map(|n| n.id.as_str()).collect();
    // What has an edge to a component (looked up per interface, not scanned for).
    let placed: HashSet<&str> = ir
        .edges
        .iter()
        .filter(|e| components.contains(e.to.as_str()))
        .map(|e| e.from.as_str())
        .collect();
    ir.nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Interface)
        .filter(|n| !placed.contains(n.id.as_str()))
        .map(|n| {
            let mut f = finding(
                "L9-VAL-005",
                Severity::Warning,
                "interface without a component".into(),
                "put the interface under a component heading (OpenAPI: give the operation a tag)",
            );
            f.node = Some(n.id.clone());
            f.span = Some(n.span.clone());
            f
        })
        .collect()
}

fn conflicting(ir: &Ir) -> Vec<Finding> {
    let node = ir.nodes_by_id();
    ir.edges
        .iter()
        .filter(|e| e.kind == EdgeKind::ConflictsWith && e.why != "duplicate")
        .map(|e| {
            let mut f = finding(
                CONFLICTING,
                Severity::Error,
                format!("{} conflicts with {} ({})", e.from, e.to, e.why),
                "decide which of the two holds and change the other",
            );
            f.node = Some(e.from.clone());
            f.span = node.get(e.from.as_str()).map(|n| n.span.clone());
            f.related = vec![e.to.clone()];
            f
        })
        .collect()
}

fn unverifying_acceptance(ir: &Ir) -> Vec<Finding> {
    let verifying: HashSet<&str> =
        ir.edges.iter().filter(|e| e.kind == EdgeKind::Verifies).map(|e| e.from.as_str()).collect();
    ir.nodes
        .iter()
        .filter(|n| n.kind == NodeKind::AcceptanceCriterion)
        .filter(|n| !verifying.contains(n.id.as_str()))
        .map(|n| {
            let mut f = finding(
                "L9-VAL-007",
                Severity::Info,
                "acceptance criterion that verifies no requirement".into(),
                "mention the requirement's id in the criterion, or place it under the requirement's section",
            );
            f.node = Some(n.id.clone());
            f.span = Some(n.span.clone());
            f
        })
        .collect()
}
