use std::collections::BTreeSet;

use l9_ir::deliberate::{self, Amendment, RuleCritic, RuleProposer};
use l9_ir::plan::{self, Strategy, TaskKind};
use l9_ir::{EdgeKind, NodeKind};

use crate::{compile_fixture, fixture, requirements};

#[test]
fn deliberation_settles_by_rule_and_records_every_turn() {
    let c = compile_fixture("notes.md");
    let mut critic = RuleCritic::new(Some(fixture("notes.md")), vec![]);
    let d = deliberate::deliberate(&c.ir, &mut RuleProposer, &mut critic, 3);
    assert!(d.settled, "open: {:?}", d.open.iter().filter(|f| f.blocking).collect::<Vec<_>>());
    assert!(d.turns.len() >= 3);
    assert!(d.turns[0].blocking > 0);
    assert_eq!(d.turns.last().unwrap().blocking, 0);
    let amendments: Vec<&Amendment> = d.turns.iter().flat_map(|t| &t.amendments).collect();
    // REQ-2 had no acceptance criterion: an assumed stub now verifies it.
    assert!(amendments.iter().any(
        |a| matches!(a, Amendment::AddAcceptance { requirement, .. } if requirement == "REQ-2")
    ));
    let stub =
        d.ir.nodes.iter().find(|n| n.assumed && n.kind == NodeKind::AcceptanceCriterion).unwrap();
    assert!(d.ir.edges.iter().any(|e| e.from == stub.id && e.kind == EdgeKind::Verifies));
    // The numeric conflict and the TBD became questions.
    assert!(
        amendments.iter().any(
            |a| matches!(a, Amendment::AskQuestion { finding, .. } if finding == "L9-CHAL-002")
        )
    );
    assert!(
        amendments.iter().any(
            |a| matches!(a, Amendment::AskQuestion { finding, .. } if finding == "L9-SMELL-011")
        )
    );
    // The original is untouched.
    assert!(!c.ir.nodes.iter().any(|n| n.assumed));
}

#[test]
fn deliberation_stops_at_the_round_limit() {
    #[derive(Debug)]
    struct Silent;
    impl deliberate::Proposer for Silent {
        fn propose(&mut self, _: &l9_ir::Ir, _: &[l9_ir::Finding]) -> Vec<Amendment> {
            Vec::new()
        }
    }
    let c = compile_fixture("notes.md");
    let mut critic = RuleCritic::default();
    let d = deliberate::deliberate(&c.ir, &mut Silent, &mut critic, 5);
    assert!(!d.settled);
    assert_eq!(
        d.turns.iter().map(|t| t.round).max(),
        Some(1),
        "a proposer that changes nothing ends it"
    );
}

fn check_candidates(ir: &l9_ir::Ir) {
    let cands = plan::candidates(ir);
    let strategies: Vec<Strategy> = cands.iter().map(|c| c.strategy).collect();
    assert_eq!(strategies, Strategy::ALL.to_vec());
    for c in &cands {
        assert_eq!(
            plan::coverage(ir, c),
            Vec::<String>::new(),
            "{:?} leaves MUSTs uncovered",
            c.strategy
        );
        // A DAG in emission order: every dependency was emitted before its dependent.
        let mut seen = BTreeSet::new();
        for t in &c.tasks {
            for d in &t.deps {
                assert!(seen.contains(d), "{}: {} depends on later {d}", c.strategy.name(), t.id);
            }
            assert!(seen.insert(t.id.clone()), "duplicate task id {}", t.id);
            for i in &t.inputs {
                assert!(ir.node(i).is_some(), "task input {i} is not an IR node");
            }
            assert!(t.points > 0.0);
        }
        let kinds: BTreeSet<TaskKind> = c.tasks.iter().map(|t| t.kind).collect();
        for k in [TaskKind::Design, TaskKind::Implement, TaskKind::Integrate, TaskKind::Verify] {
            assert!(kinds.contains(&k), "{:?} lacks {k:?}", c.strategy);
        }
        assert!(c.critical_path() <= c.points() + 1e-3);
        assert!(c.tasks.iter().any(|t| t.gate.is_some()));
    }
}

#[test]
fn three_candidates_cover_every_must_for_each_input_kind() {
    for f in
        ["notes.md", "login.feature", "notes-api.yaml", "pets.json", "rfc-mini.txt", "prose.txt"]
    {
        let c = compile_fixture(f);
        let mut critic = RuleCritic::default();
        let d = deliberate::deliberate(&c.ir, &mut RuleProposer, &mut critic, 3);
        check_candidates(&d.ir);
    }
}

/// Two limits that disagree are one thing to decide: the challenger's numeric conflict and the
/// validator's conflicting constraints over the edge it drew get one question between them
/// (each question is an approval gate an operator answers), and the deliberation settles.
#[test]
fn a_numeric_conflict_is_asked_about_once() {
    let spec = "# Notes\n\n## Search\n\n- The service MUST answer within 200 ms.\n  - Acceptance: measured.\n- The service MUST answer within 500 ms.\n  - Acceptance: measured too.\n";
    let mut c = l9_ir::compile("limits.md", spec, None);
    let mut critic = RuleCritic::new(Some(spec.into()), vec![]);
    // As a check does (`l9 ir check`, a run's front stage): the conflict becomes an edge.
    let first = deliberate::Critic::critique(&mut critic, &c.ir);
    l9_ir::challenge::link_conflicts(&mut c.ir, &first);
    let codes: BTreeSet<String> = deliberate::Critic::critique(&mut critic, &c.ir)
        .into_iter()
        .filter(|f| f.blocking)
        .map(|f| f.code)
        .collect();
    assert!(codes.contains("L9-CHAL-002") && codes.contains("L9-VAL-006"), "{codes:?}");
    let d = deliberate::deliberate(&c.ir, &mut RuleProposer, &mut critic, 3);
    assert!(d.settled, "open: {:?}", d.open.iter().filter(|f| f.blocking).collect::<Vec<_>>());
    let asked: Vec<&str> = deliberate::asked_questions(&d.ir).map(|q| q.text.as_str()).collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].starts_with("Which limit is right for "), "{asked:?}");
    // The validator still reports the conflict; the one question answers it.
    let after = deliberate::Critic::critique(&mut critic, &d.ir);
    let conflict = after.iter().find(|f| f.code == l9_ir::validate::CONFLICTING).unwrap();
    assert_eq!(deliberate::answered_by(conflict), "L9-CHAL-002");
}

/// A spec that says the same thing in two places (RFC 6455 repeats two MUST sentences in two
/// sections): each copy needs its acceptance criterion. The assumed one is on record once and
/// verifies both; before, the second copy's was refused as already present, so the
/// deliberation never settled and its plan had an open finding no question gated.
#[test]
fn a_requirement_repeated_in_two_sections_is_verified_in_both() {
    let spec = "# Store\n\n## Reads\n\n- The service MUST log every request.\n\n## Writes\n\n- The service MUST log every request.\n";
    let c = l9_ir::compile("twice.md", spec, None);
    let reqs: Vec<&str> = requirements(&c).iter().map(|n| n.id.as_str()).collect();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let mut critic = RuleCritic::new(Some(spec.into()), vec![]);
    let d = deliberate::deliberate(&c.ir, &mut RuleProposer, &mut critic, 3);
    assert!(d.settled, "open: {:?}", d.open.iter().filter(|f| f.blocking).collect::<Vec<_>>());
    for r in &reqs {
        assert!(
            d.ir.edges.iter().any(|e| e.to == *r && e.kind == EdgeKind::Verifies),
            "{r} is verified: {:?}",
            d.ir.edges
        );
    }
    let acceptance = d.ir.nodes.iter().filter(|n| n.kind == NodeKind::AcceptanceCriterion).count();
    assert_eq!(acceptance, 1, "one criterion, on record once");
}

#[test]
fn gates_carry_the_spec_commands() {
    let c = compile_fixture("notes.md");
    let cands = plan::candidates(&c.ir);
    let verify = cands[0].tasks.iter().find(|t| t.kind == TaskKind::Verify).unwrap();
    assert_eq!(verify.gate.as_ref().unwrap().command.as_deref(), Some("cargo test --test search"));
    assert!(plan::candidates(&l9_ir::compile("e.md", "", None).ir).is_empty());
}

#[test]
fn open_questions_become_approval_gates_on_the_tasks_they_concern() {
    let c = compile_fixture("notes.md");
    let mut critic = RuleCritic::new(Some(fixture("notes.md")), vec![]);
    let d = deliberate::deliberate(&c.ir, &mut RuleProposer, &mut critic, 3);
    let questions: Vec<&l9_ir::Node> =
        d.ir.nodes
            .iter()
            .filter(|n| {
                n.kind == NodeKind::Question && n.tags.iter().any(|t| t.starts_with("finding:"))
            })
            .collect();
    assert!(!questions.is_empty());
    for mut cand in plan::candidates(&d.ir) {
        assert!(cand.tasks.iter().all(|t| t.questions.is_empty()), "no gates unless asked");
        plan::gate_open_questions(&d.ir, &mut cand);
        let gated: Vec<&String> = cand.tasks.iter().flat_map(|t| &t.questions).collect();
        assert_eq!(
            gated.len(),
            questions.len(),
            "{:?}: every question gates one task",
            cand.strategy
        );
        for q in &questions {
            let about: Vec<&str> =
                d.ir.edges.iter().filter(|e| e.from == q.id).map(|e| e.to.as_str()).collect();
            let t = cand.tasks.iter().find(|t| t.questions.contains(&q.id)).unwrap();
            assert_ne!(t.kind, TaskKind::Design, "the design goes on while questions are answered");
            // It is the first task after the design that works from what the question is about.
            let first = cand
                .tasks
                .iter()
                .find(|t| {
                    t.kind != TaskKind::Design
                        && t.inputs.iter().any(|i| about.contains(&i.as_str()))
                })
                .unwrap_or_else(|| cand.tasks.iter().find(|t| t.kind != TaskKind::Design).unwrap());
            assert_eq!(t.id, first.id);
        }
        // Gating twice adds nothing.
        let before = cand.clone();
        plan::gate_open_questions(&d.ir, &mut cand);
        assert_eq!(before, cand);
        // The plan's JSON carries the gate; plans without one keep their old shape.
        let json = serde_json::to_value(&cand).unwrap();
        assert!(json["tasks"].as_array().unwrap().iter().any(|t| t.get("questions").is_some()));
    }
}

#[test]
fn a_spec_of_many_open_items_is_deliberated_in_near_linear_time() {
    // Each TBD becomes a question; checking every finding against every question and edge was
    // cubic (2,000 of them took ~53 s in a release build).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let items: String = (0..3_000)
            .map(|i| format!("- The system MUST export report {i} in a format TBD.\n"))
            .collect();
        let spec = format!("# Spec\n\n## Requirements\n\n{items}");
        let c = l9_ir::compile("s.md", &spec, None);
        let mut critic = RuleCritic::new(Some(spec), vec![]);
        let d = deliberate::deliberate(&c.ir, &mut RuleProposer, &mut critic, 3);
        let questions = d.ir.nodes.iter().filter(|n| n.kind == NodeKind::Question).count();
        let _ = tx.send((d.settled, questions));
    });
    let done = rx.recv_timeout(std::time::Duration::from_secs(120));
    assert!(matches!(done, Ok((true, n)) if n >= 3_000), "did not settle in 120 s: {done:?}");
}

/// A critic handed the smells a challenge of the same spec judged deliberates exactly as a
/// fresh one (what `l9 sim` and `l9 run` do to judge each text once).
#[test]
fn a_critic_with_the_challenges_smells_deliberates_as_a_fresh_one() {
    let mut compared = 0;
    for name in ["notes.md", "rfc-mini.txt", "login.feature", "prose.txt"] {
        let c = compile_fixture(name);
        let source = fixture(name);
        let mut memo = l9_ir::challenge::SmellMemo::default();
        let findings = l9_ir::challenge::challenge_keeping(&c.ir, Some(&source), &[], &mut memo);
        assert_eq!(findings, l9_ir::challenge::challenge(&c.ir, Some(&source), &[]), "{name}");
        let mut fresh = RuleCritic::new(Some(source.clone()), vec![]);
        let mut kept = RuleCritic::new(Some(source.clone()), vec![]).with_memo(memo);
        let a = deliberate::deliberate(&c.ir, &mut RuleProposer, &mut fresh, 3);
        let b = deliberate::deliberate(&c.ir, &mut RuleProposer, &mut kept, 3);
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name}");
        compared += a.turns.len();
    }
    assert!(compared >= 4);
}

#[test]
fn plans_of_many_criteria_of_one_section_are_covered_in_near_linear_time() {
    // Criteria that name nothing and share no words verify their whole section (as many as the
    // bound on such edges allows); every vertical slice's gate holds them, and counting what
    // they verify once per gate was quadratic (`l9 sim` of 8,000 of each: 89 s in a release
    // build).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let n = 12_000;
        let reqs: String =
            (0..n).map(|i| format!("- The system MUST handle r{i}a r{i}b.\n")).collect();
        let acs: String = (0..n).map(|i| format!("- Given a{i}x then a{i}y.\n")).collect();
        let spec = format!("# S\n\n## Requirements\n\n{reqs}\n## Acceptance criteria\n\n{acs}");
        let c = l9_ir::compile("s.md", &spec, None);
        let missing: Vec<usize> =
            plan::candidates(&c.ir).iter().map(|p| plan::coverage(&c.ir, p).len()).collect();
        let _ = tx.send(missing);
    });
    let done = rx.recv_timeout(std::time::Duration::from_secs(120));
    assert!(matches!(&done, Ok(m) if m == &[0, 0, 0]), "not covered in 120 s: {done:?}");
}

#[test]
fn slices_of_a_group_of_many_gates_run_their_own_commands() {
    // A gate (fenced command) per requirement under one heading: the group holds thousands of
    // commands, and every vertical slice running all of them joined was quadratic in bytes.
    let n = 3_000;
    let reqs: String =
        (0..n).map(|i| format!("- The system MUST store item{i} durably.\n")).collect();
    let gates: String =
        (0..n).map(|i| format!("\n```sh\ncargo test item{i}_is_stored\n```\n")).collect();
    let spec = format!("# S\n\n## Requirements\n\n{reqs}\n## Acceptance criteria\n{gates}");
    let c = l9_ir::compile("s.md", &spec, None);
    let slices = plan::candidates(&c.ir)
        .into_iter()
        .find(|p| p.strategy == Strategy::VerticalSlices)
        .unwrap();
    let all: usize = (0..n).map(|i| format!("cargo test item{i}_is_stored && ").len()).sum();
    let mut bytes = 0;
    let mut gated = 0;
    for t in slices.tasks.iter().filter(|t| t.kind == TaskKind::Implement) {
        let Some(gate) = &t.gate else { continue };
        bytes += gate.command.as_ref().map_or(0, String::len);
        // What a slice runs is the commands of its own criteria.
        for cmd in gate.command.iter().flat_map(|c| c.split(" && ")) {
            let by = c.ir.nodes.iter().find(|n| n.gate.as_deref() == Some(cmd)).unwrap();
            assert!(gate.criteria.contains(&by.id), "{cmd} is not one of {}'s criteria", t.id);
            gated += 1;
        }
    }
    // Linear: a slice runs the gates verifying its requirements, and the gates that verify a
    // whole section are bounded in number (16 edges per requirement, L9-IR-042).
    assert!(bytes <= 24 * all, "{bytes} bytes of commands over the slices, {all} in all");
    assert!(gated > 0);
    // The final verification runs every command.
    let verify = slices.tasks.iter().find(|t| t.kind == TaskKind::Verify).unwrap();
    assert_eq!(
        verify.gate.as_ref().and_then(|g| g.command.as_ref()).map(|c| c.len()),
        Some(all - 4)
    );
}
