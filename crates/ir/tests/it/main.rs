//! Tests of the IR Engine at its public boundary: snapshots of every front end on fixtures
//! written for the project, the challenger, validator, deliberation and plan adapter, the
//! evaluation helpers, robustness (no input panics) and the checked-in JSON schema.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test

mod challenge;
mod compile;
mod eval;
mod gherkin;
mod learn;
mod lists;
mod openapi;
mod plan;
mod robustness;
mod tagger;

use std::fmt::Write as _;

use l9_ir::{Compiled, Ir};

pub(crate) fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(crate) fn compile_fixture(name: &str) -> Compiled {
    l9_ir::compile(name, &fixture(name), None)
}

/// The requirement nodes of a compiled spec, in order.
pub(crate) fn requirements(c: &Compiled) -> Vec<&l9_ir::Node> {
    c.ir.nodes.iter().filter(|n| n.kind == l9_ir::NodeKind::Requirement).collect()
}

/// A compact, reviewable rendering of an IR and its diagnostics.
pub(crate) fn dump(c: &Compiled) -> String {
    let ir: &Ir = &c.ir;
    let mut s = format!("format: {}\n", ir.source.format.name());
    for n in &ir.nodes {
        let strength = n.strength.map_or(String::new(), |s| format!(" {s:?}"));
        let class = n.class.as_ref().map_or(String::new(), |c| match c.category {
            Some(cat) => format!(" [{}]", cat.code()),
            None => " [F]".to_string(),
        });
        let tags = if n.tags.is_empty() { String::new() } else { format!(" {}", n.tags.join(" ")) };
        let _ = writeln!(
            s,
            "{} {}{strength}{class}{tags} @{}:{} {:.2} {:?}",
            n.id,
            n.kind.name(),
            n.span.line,
            n.span.column,
            n.confidence,
            n.text
        );
        if let Some(i) = &n.interface {
            let params: Vec<String> = i
                .parameters
                .iter()
                .map(|p| format!("{}:{}{}", p.name, p.location, if p.required { "!" } else { "" }))
                .collect();
            let _ = writeln!(
                s,
                "    {} {} params [{}] request {:?} responses {:?}",
                i.method,
                i.path,
                params.join(", "),
                i.request,
                i.responses
            );
        }
        if let Some(sc) = &n.scenario {
            let steps: Vec<String> = sc
                .background
                .iter()
                .chain(&sc.steps)
                .map(|st| format!("{} {}", st.keyword, st.text))
                .collect();
            let _ = writeln!(s, "    steps: {}", steps.join(" | "));
            if !sc.examples.is_empty() {
                let _ = writeln!(s, "    examples: {:?}", sc.examples);
            }
        }
        if let Some(g) = &n.gate {
            let _ = writeln!(s, "    gate: {g}");
        }
    }
    for e in &ir.edges {
        let _ = writeln!(s, "{} -{}-> {} ({})", e.from, e.kind.name(), e.to, e.why);
    }
    for d in &c.diagnostics {
        let _ = writeln!(s, "{d}");
    }
    s
}
