//! The indexed passes link what comparing every node with every other linked (the former
//! way, kept here as the oracle), and bound what they make on a spec built to blow up.

use std::collections::{BTreeSet, HashMap, HashSet};

use l9_types::SeededRng;

use super::super::parent_section;
use crate::model::{EdgeKind, Ir, NodeKind};
use crate::text;

type Edges = Vec<(String, String, String)>;

/// The former acceptance pass: every criterion against every requirement.
fn acceptance_oracle(ir: &Ir, linked: &HashSet<String>) -> Edges {
    let reqs: Vec<(String, Vec<String>, BTreeSet<String>)> = ir
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Requirement)
        .map(|n| (n.id.clone(), n.section.clone(), text::content_terms(&n.text)))
        .collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for (_, _, terms) in &reqs {
        for t in terms {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let mut new = Vec::new();
    for ac in ir.nodes.iter().filter(|n| n.kind == NodeKind::AcceptanceCriterion) {
        if linked.contains(&ac.id) {
            continue;
        }
        let parent = parent_section(&ac.section);
        let terms = text::content_terms(&ac.text);
        let mut best: Vec<(f32, &str, Vec<&str>, bool)> = Vec::new();
        for (id, section, rterms) in &reqs {
            let shared: Vec<&str> = terms.intersection(rterms).map(|s| s.as_str()).collect();
            let weight: f32 =
                shared.iter().map(|t| 1.0 / df.get(t).copied().unwrap_or(1) as f32).sum();
            let same = section.starts_with(parent) && !parent.is_empty();
            let score = weight + if same { 0.5 } else { 0.0 };
            if shared.len() >= 2 && weight >= 0.6 {
                best.push((score, id.as_str(), shared, same));
            }
        }
        if best.iter().any(|b| b.3) {
            best.retain(|b| b.3);
        }
        best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        if let Some(top) = best.first().map(|b| b.0) {
            for (score, id, shared, _) in best.iter().take(3) {
                if *score >= top * 0.75 {
                    let why = format!("shared terms: {}", shared.join(", "));
                    new.push((ac.id.clone(), id.to_string(), why));
                }
            }
            continue;
        }
        if !parent.is_empty() {
            for (id, section, _) in &reqs {
                if section.starts_with(parent) {
                    new.push((ac.id.clone(), id.clone(), "same section".to_string()));
                }
            }
        }
    }
    new
}

/// The former mitigation pass: every risk against every statement.
fn mitigation_oracle(ir: &Ir) -> Edges {
    let terms_of = |k: &dyn Fn(NodeKind) -> bool| -> Vec<(String, BTreeSet<String>)> {
        ir.nodes
            .iter()
            .filter(|n| k(n.kind))
            .map(|n| (n.id.clone(), text::content_terms(&n.text)))
            .collect()
    };
    let risks = terms_of(&|k| k == NodeKind::Risk);
    let statements = terms_of(&|k| matches!(k, NodeKind::Requirement | NodeKind::Constraint));
    let mut df: HashMap<&str, usize> = HashMap::new();
    for (_, terms) in statements.iter().chain(&risks) {
        for t in terms {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let mut new = Vec::new();
    for (risk, rterms) in &risks {
        for (id, terms) in &statements {
            let rare: Vec<&str> = terms
                .intersection(rterms)
                .map(String::as_str)
                .filter(|t| df.get(t).copied().unwrap_or(0) <= 3)
                .collect();
            if !rare.is_empty() {
                new.push((id.clone(), risk.clone(), format!("shared terms: {}", rare.join(", "))));
            }
        }
    }
    new
}

/// A spec of `sections` features, each with requirements, criteria (some naming a
/// requirement's id, some gates), constraints and risks, drawn from a vocabulary of `vocab`
/// words so that terms are shared at every frequency.
fn drawn_spec(rng: &SeededRng, sections: usize, vocab: u64) -> String {
    let word = |rng: &SeededRng| format!("w{}", rng.below(vocab));
    let sentence = |rng: &SeededRng, n: u64| -> String {
        (0..2 + rng.below(n)).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
    };
    let mut s = String::from("# Spec\n\n");
    let mut req = 0;
    for f in 0..sections {
        s.push_str(&format!("## Feature {f}\n\n### Requirements\n\n"));
        for _ in 0..rng.below(6) {
            req += 1;
            s.push_str(&format!("- REQ-{req}: The system MUST {}.\n", sentence(rng, 6)));
        }
        s.push_str("\n### Acceptance criteria\n\n");
        for _ in 0..rng.below(5) {
            match rng.below(6) {
                0 if req > 0 => s.push_str(&format!(
                    "- REQ-{} holds when {}.\n",
                    1 + rng.below(req),
                    sentence(rng, 4)
                )),
                1 => s.push_str(&format!("\n```sh\ncheck {}\n```\n\n", word(rng))),
                _ => s.push_str(&format!(
                    "- Given {} then {}.\n",
                    sentence(rng, 3),
                    sentence(rng, 3)
                )),
            }
        }
        if rng.below(2) == 0 {
            s.push_str(&format!("\n### Constraints\n\n- {}.\n", sentence(rng, 5)));
        }
        if rng.below(2) == 0 {
            s.push_str(&format!("\n### Risks\n\n- {}.\n", sentence(rng, 5)));
        }
        s.push('\n');
    }
    s
}

fn edges_of(ir: &Ir, kind: EdgeKind, skip_why: &str) -> Edges {
    ir.edges
        .iter()
        .filter(|e| e.kind == kind && e.why != skip_why)
        .map(|e| (e.from.clone(), e.to.clone(), e.why.clone()))
        .collect()
}

#[test]
fn indexed_links_are_the_links_of_comparing_every_pair() {
    let rng = SeededRng::from_seed(0x1ead_5eed);
    let (mut by_terms, mut by_section, mut mitigations) = (0, 0, 0);
    for round in 0..120 {
        let vocab = [8, 30, 200][round % 3];
        let spec = drawn_spec(&rng, 1 + rng.below(12) as usize, vocab);
        let c = crate::compile("s.md", &spec, None);
        let linked: HashSet<String> =
            c.ir.edges
                .iter()
                .filter(|e| e.kind == EdgeKind::Verifies && e.why == "explicit id")
                .map(|e| e.from.clone())
                .collect();
        let mut want = acceptance_oracle(&c.ir, &linked);
        // `edge` keeps the first of a repeated pair, as it did for the oracle's.
        let mut seen = HashSet::new();
        want.retain(|(f, t, _)| seen.insert((f.clone(), t.clone())));
        assert_eq!(edges_of(&c.ir, EdgeKind::Verifies, "explicit id"), want, "{spec}");
        assert_eq!(edges_of(&c.ir, EdgeKind::Mitigates, ""), mitigation_oracle(&c.ir), "{spec}");
        by_terms += want.iter().filter(|e| e.2.starts_with("shared")).count();
        by_section += want.iter().filter(|e| e.2 == "same section").count();
        mitigations += edges_of(&c.ir, EdgeKind::Mitigates, "").len();
    }
    // Every way of linking was exercised.
    assert!(
        by_terms > 100 && by_section > 100 && mitigations > 50,
        "{by_terms} {by_section} {mitigations}"
    );
}

/// Thousands of criteria under one heading with thousands of requirements, sharing no
/// telling terms: the edges made by section stay within their bound and the spec says so.
#[test]
fn criteria_by_section_are_bounded_and_reported() {
    let n = 3000;
    let mut s = String::from("# S\n\n## Requirements\n\n");
    for i in 0..n {
        s.push_str(&format!("- The system MUST handle r{i}a r{i}b.\n"));
    }
    s.push_str("\n## Acceptance criteria\n\n");
    for i in 0..n {
        s.push_str(&format!("- Given a{i}x then a{i}y.\n"));
    }
    let c = crate::compile("s.md", &s, None);
    let section = c.ir.edges.iter().filter(|e| e.why == "same section").count();
    let bound = l9_types::limits::SECTION_LINKS.get_usize() * n + super::SECTION_EDGES_BASE;
    assert!(section <= bound && section >= bound - n, "{section} of at most {bound}");
    let warning = c
        .diagnostics
        .iter()
        .find(|d| d.code == "L9-IR-042" && d.message.contains("L9_SECTION_LINKS=16"))
        .expect("a warning");
    assert!(
        warning.message.starts_with(&format!("{} acceptance criteria", n - section / n)),
        "{}",
        warning.message
    );
}

/// Criteria and requirements all drawn from the same few dozen words make every requirement a
/// candidate of every criterion: the matching stops at its bound of work and says how many
/// criteria it left.
#[test]
fn matching_by_terms_is_bounded_and_reported() {
    let vocab: Vec<String> = (0..60).map(|i| format!("v{i}")).collect();
    let rng = SeededRng::from_seed(7);
    let line = || {
        let mut w = vocab.clone();
        for i in (1..w.len()).rev() {
            w.swap(i, rng.below(i as u64 + 1) as usize);
        }
        w.join(" ")
    };
    let mut s = String::from("# S\n\n## Requirements\n\n");
    // 150 requirements: each term is in fewer than the ~170 a criterion of ~50 terms scores.
    for _ in 0..150 {
        s.push_str(&format!("- The system MUST {}.\n", line()));
    }
    s.push_str("\n## Acceptance criteria\n\n");
    let n = 600;
    for _ in 0..n {
        s.push_str(&format!("- Then {}.\n", line()));
    }
    let c = crate::compile("s.md", &s, None);
    let w =
        c.diagnostics.iter().find(|d| d.code == "L9-IR-042" && d.message.contains("L9_LINK_WORK="));
    let left: usize = w
        .and_then(|d| d.message.split(' ').next())
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("no warning: {:?}", c.diagnostics));
    assert!(left > 0 && left < n, "{left}");
}

/// `l9 config` and `--help` describe the linking limits with the fixed parts of their bounds:
/// those descriptions follow the constants.
#[test]
fn the_limits_describe_the_bounds_in_force() {
    use l9_types::limits::{LINK_WORK, SECTION_LINKS};
    assert_eq!(super::SECTION_EDGES_BASE, 4096);
    assert!(SECTION_LINKS.doc.contains("(plus 4,096)"), "{}", SECTION_LINKS.doc);
    assert_eq!(super::TERM_WORK_BASE, 1 << 20);
    assert!(LINK_WORK.doc.contains("(plus 2^20)"), "{}", LINK_WORK.doc);
}
