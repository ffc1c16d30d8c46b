//! From a chosen plan to the tasks of `l9.plan`: what each task kind runs with which
//! payload, which gates are evidence for which MUST requirement, and reading the verify
//! step's evidence back for the report.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use l9_ir::plan::{PlanCandidate, PlanTask, TaskKind};
use serde_json::{Value, json};

use crate::agent::WorktreeRef;
use crate::stages::{AcceptanceGate, Understood, Verified};
use crate::verify::{CoderRef, GateSpec};

/// The spec's acceptance gates (`node.gate` of acceptance criteria) and MUST requirements.
/// A gate checks what its criterion verifies and, when it follows a criterion without a
/// command of its own (a sentence that introduces the block), what that one verifies.
pub(crate) fn acceptance(ir: &l9_ir::Ir) -> (Vec<AcceptanceGate>, Vec<String>) {
    // What each criterion verifies, in edge order: looked up, not scanned for per criterion.
    let mut verified: HashMap<&str, Vec<String>> = HashMap::new();
    for e in ir.edges.iter().filter(|e| e.kind == l9_ir::EdgeKind::Verifies) {
        verified.entry(e.from.as_str()).or_default().push(e.to.clone());
    }
    let verifies = |id: &str| -> Vec<String> { verified.get(id).cloned().unwrap_or_default() };
    let mut criteria: Vec<&l9_ir::Node> =
        ir.nodes.iter().filter(|n| n.kind == l9_ir::NodeKind::AcceptanceCriterion).collect();
    criteria.sort_by_key(|n| (n.span.start, n.span.line));
    let mut gates = Vec::new();
    let mut introduced: Vec<String> = Vec::new();
    for n in criteria {
        match n.gate.clone().filter(|c| !c.trim().is_empty()) {
            None => introduced = verifies(&n.id),
            Some(command) => {
                let mut requirements = verifies(&n.id);
                for r in introduced.drain(..) {
                    if !requirements.contains(&r) {
                        requirements.push(r);
                    }
                }
                gates.push(AcceptanceGate { criterion: n.id.clone(), command, requirements });
            }
        }
    }
    (gates, l9_ir::plan::musts(ir))
}

/// Every acceptance gate with the requirements it is evidence for: those its criterion
/// verifies, and the MUSTs of the plan tasks whose gate includes it. Also the MUST
/// requirements no gate checks (a run cannot prove them: it stops before spending).
pub(crate) fn gate_coverage(
    front: &Understood,
    plan: &PlanCandidate,
) -> (Vec<GateSpec>, Vec<String>) {
    let mut specs = gate_specs(front);
    // A criterion that names what it verifies is evidence for that alone; one that names
    // nothing stands for the MUST requirements of the tasks whose gate it is. Looked up by
    // criterion, not scanned per task: a plan of thousands of gated slices and a spec of
    // thousands of gates stay near-linear.
    let musts: HashSet<&str> = front.musts.iter().map(String::as_str).collect();
    let mut unlinked: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, a) in
        front.acceptance.iter().enumerate().filter(|(i, _)| specs[*i].requirements.is_empty())
    {
        unlinked.entry(a.criterion.as_str()).or_default().push(i);
    }
    let mut seen: HashMap<usize, HashSet<&str>> = HashMap::new();
    for t in plan.tasks.iter().filter(|t| t.kind != TaskKind::Verify) {
        let Some(g) = &t.gate else { continue };
        let hit: BTreeSet<usize> =
            g.criteria.iter().filter_map(|c| unlinked.get(c.as_str())).flatten().copied().collect();
        for i in hit {
            let seen = seen.entry(i).or_default();
            for m in t.inputs.iter().filter(|i| musts.contains(i.as_str())) {
                if seen.insert(m.as_str()) {
                    specs[i].requirements.push(m.clone());
                }
            }
        }
    }
    let covered: BTreeSet<&String> = specs.iter().flat_map(|s| s.requirements.iter()).collect();
    let ungated = front.musts.iter().filter(|m| !covered.contains(m)).cloned().collect();
    (specs, ungated)
}

/// Each acceptance gate as a gate, with what its criterion verifies.
fn gate_specs(front: &Understood) -> Vec<GateSpec> {
    front
        .acceptance
        .iter()
        .map(|a| GateSpec {
            command: a.command.clone(),
            criteria: vec![a.criterion.clone()],
            requirements: a.requirements.clone(),
            source: None,
        })
        .collect()
}

/// The test scripts the plan's test tasks write, as gates: evidence for the MUST
/// requirements of their group once they exist (integrate and verify run them too).
pub(crate) fn written_tests(front: &Understood, plan: &PlanCandidate) -> Vec<GateSpec> {
    plan.tasks
        .iter()
        .filter(|t| t.kind == TaskKind::Test)
        .map(|t| GateSpec {
            command: format!("sh {}", test_script(t)),
            criteria: Vec::new(),
            requirements: t.inputs.iter().filter(|i| front.musts.contains(i)).cloned().collect(),
            source: Some("tests written by the run".into()),
        })
        .collect()
}

/// What every task of the plan is given besides its own part.
pub(crate) struct Shared<'a> {
    pub front: &'a Understood,
    pub repo: &'a str,
    pub integration: &'a WorktreeRef,
    pub user_branch: &'a str,
    pub coder: CoderRef,
    pub gates: &'a [GateSpec],
    pub project_test: Option<String>,
    pub insights: &'a BTreeMap<String, Vec<crate::stages::Insight>>,
    pub history: &'a BTreeMap<String, Vec<String>>,
    pub maps: &'a BTreeMap<String, String>,
}

/// The `l9.plan` task list: each plan task with the workflow that does its work.
pub(crate) fn plan_tasks(plan: &PlanCandidate, s: &Shared<'_>) -> Vec<Value> {
    let verify_gate = plan
        .tasks
        .iter()
        .find(|t| t.kind == TaskKind::Verify)
        .and_then(|t| t.gate.as_ref())
        .and_then(|g| g.command.clone());
    let index: BTreeMap<&str, usize> =
        plan.tasks.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
    plan.tasks
        .iter()
        .map(|t| {
            let deps: Vec<usize> =
                t.deps.iter().filter_map(|d| index.get(d.as_str()).copied()).collect();
            let (kind, input) = task(plan, t, s, verify_gate.as_deref());
            let mut input = input;
            if let Some(o) = input.as_object_mut() {
                o.insert("budget_weight".into(), json!(t.points.max(0.1)));
                if !t.questions.is_empty() {
                    // What the operator answers before approving (`l9 tasks approve`).
                    let asked: Vec<Value> = t
                        .questions
                        .iter()
                        .map(|q| {
                            let text = s.front.texts.get(q).cloned().unwrap_or_default();
                            json!({"id": q, "text": text})
                        })
                        .collect();
                    o.insert("open_questions".into(), Value::Array(asked));
                }
            }
            json!({"name": t.id, "deps": deps, "kind": kind, "input": input, "needs_approval": !t.questions.is_empty(), "retry": {"max_attempts": 1, "base_ms": 1000, "max_ms": 1000}})
        })
        .collect()
}

/// The part of a plan task's id after its kind (`implement:greeting` → `greeting`).
fn slug(t: &PlanTask) -> String {
    let s = t.id.split_once(':').map_or(t.id.as_str(), |(_, s)| s);
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect()
}

/// Where a design task writes its record.
fn design_path(t: &PlanTask) -> String {
    format!("docs/design/{}.md", slug(t))
}

/// The test script a test task writes for its group.
fn test_script(t: &PlanTask) -> String {
    format!("tests/{}.sh", slug(t))
}

/// The test task of the same group that `t` waits for (tests first), if any.
fn tests_before<'a>(plan: &'a PlanCandidate, t: &PlanTask) -> Option<&'a PlanTask> {
    plan.tasks
        .iter()
        .find(|x| x.kind == TaskKind::Test && slug(x) == slug(t) && t.deps.contains(&x.id))
}

/// The requirements part of a task's text (after its first line).
fn requirements_part(t: &PlanTask, s: &Shared<'_>) -> String {
    let text = crate::pipeline::task_text(t, s.front);
    text.split_once('\n').map_or(String::new(), |x| x.1.to_string())
}

fn task(
    plan: &PlanCandidate,
    t: &PlanTask,
    s: &Shared<'_>,
    verify_gate: Option<&str>,
) -> (&'static str, Value) {
    let c = &s.coder;
    let agent = |task: String, gate: Option<String>, extra: Value| {
        let mut v = json!({"plan_task": t.id, "plan_kind": t.kind.name(), "task": task,
            "repo": s.repo, "gate": gate, "provider": c.provider, "executor": c.executor,
            "adapter": c.adapter, "script": c.script, "into": s.integration});
        if let (Some(o), Some(x)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        ("l9.agent", v)
    };
    let group_gate =
        t.gate.as_ref().and_then(|g| g.command.clone()).or(verify_gate.map(str::to_string));
    match t.kind {
        TaskKind::Design => {
            let path = design_path(t);
            let text = format!(
                "Write the design record {path}: {}. A short Markdown document with three sections: `## Context` (what the requirements below ask for, what constrains the design), `## Decision` (the components, their interfaces and data, and why), `## Consequences` (what follows for the implementation and its tests). Write only the record; later tasks implement it.{}",
                t.title,
                requirements_part(t, s)
            );
            let gate = format!(
                "test -s {path} && grep -q '^## Context' {path} && grep -q '^## Decision' {path} && grep -q '^## Consequences' {path}"
            );
            agent(text, Some(gate), json!({}))
        }
        TaskKind::Test => {
            let script = test_script(t);
            let first = plan.tasks.iter().any(|x| {
                x.kind == TaskKind::Implement && slug(x) == slug(t) && x.deps.contains(&t.id)
            });
            if first {
                let text = format!(
                    "Write the tests for {} from its acceptance criteria, before any implementation exists: an executable shell script {script} that runs them (it may call the project's test runner) and exits non-zero when one fails. Implement nothing: the tests must run and fail now because the code they test is missing, not because of a syntax error. The implementation task that follows must make them pass.{}",
                    slug(t),
                    requirements_part(t, s)
                );
                agent(text, Some(format!("sh {script}")), json!({"expect_red": true}))
            } else {
                let text = format!(
                    "Write the tests for {} against its acceptance criteria: an executable shell script {script} that runs them (it may call the project's test runner) and exits non-zero when one fails. The implementation exists; if the tests find a bug, fix it.{}",
                    slug(t),
                    requirements_part(t, s)
                );
                let gate = match &group_gate {
                    Some(g) => format!("{g} && sh {script}"),
                    None => format!("sh {script}"),
                };
                agent(text, Some(gate), json!({}))
            }
        }
        TaskKind::Implement => {
            // Tests written first for this group are part of its gate.
            let gate = match (&group_gate, tests_before(plan, t)) {
                (Some(g), Some(tt)) => Some(format!("{g} && sh {}", test_script(tt))),
                (None, Some(tt)) => Some(format!("sh {}", test_script(tt))),
                (g, None) => g.clone(),
            };
            let shown = s.insights.get(&t.id).cloned().unwrap_or_default();
            let text =
                crate::pipeline::with_insights(crate::pipeline::task_text(t, s.front), &shown);
            let notes = s.history.get(&t.id).cloned().unwrap_or_default();
            let text = crate::pipeline::with_history(text, &notes);
            let text = crate::pipeline::with_map(text, s.maps.get(&t.id));
            agent(text, gate, json!({"insights": shown, "history": notes}))
        }
        TaskKind::Integrate => (
            "l9.integrate",
            json!({"plan_task": t.id, "plan_kind": "integrate", "repo": s.repo,
                   "integration": s.integration, "gates": s.gates, "coder": c,
                   "executor": c.executor, "budgeted": true}),
        ),
        TaskKind::Review => (
            "l9.review",
            json!({"plan_task": t.id, "plan_kind": "review", "repo": s.repo,
                   "integration": s.integration, "gates": s.gates, "coder": c,
                   "task": crate::pipeline::task_text(t, s.front), "executor": c.executor,
                   "budgeted": true}),
        ),
        TaskKind::Verify => (
            "l9.verify",
            json!({"plan_task": t.id, "plan_kind": "verify", "repo": s.repo,
                   "integration": s.integration, "user_branch": s.user_branch, "gates": s.gates,
                   "musts": s.front.musts, "project_test": s.project_test,
                   "ir_packet": s.front.ir_packet}),
        ),
    }
}

/// The verify step's evidence: its result when it passed, its recorded verdict when not.
pub(crate) async fn verified_of(
    engine: &crate::Engine,
    plan: l9_types::TaskId,
) -> crate::Result<Option<Verified>> {
    let filter = l9_store::TaskFilter { parent: Some(plan), ..Default::default() };
    let children = engine.list_tasks(&filter, None, 500).await?.tasks;
    let Some(t) = children.iter().rev().find(|t| t.kind == "l9.verify") else { return Ok(None) };
    if let Some(v) = t.result.as_ref().and_then(crate::stages::read::<Verified>) {
        return Ok(Some(v));
    }
    let entries = engine.journal_entries(l9_tasks::run_of(t.id)).await?;
    Ok(entries
        .iter()
        .rev()
        .find(|e| e.key.as_ref().is_some_and(|k| k.name == "verdict"))
        .and_then(|e| crate::stages::read::<Verified>(&e.value)))
}

impl crate::Engine {
    /// The evidence a run's verify step gathered (also for a run that failed verification).
    pub async fn run_evidence(&self, run: l9_types::TaskId) -> crate::Result<Option<Verified>> {
        let filter = l9_store::TaskFilter { parent: Some(run), ..Default::default() };
        let children = self.list_tasks(&filter, None, 100).await?.tasks;
        match children.iter().rev().find(|t| t.kind == crate::pipeline::PLAN_KIND) {
            Some(plan) => verified_of(self, plan.id).await,
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From a spec with a TBD to the task list the Task Runtime runs: the deliberation settles
    /// the TBD by asking a question, and the task that question concerns needs approval and
    /// carries the question's text.
    #[test]
    fn the_questions_a_deliberation_asked_are_approval_gates_of_the_plan_tasks() {
        let spec = "# Adder\n\n## Script\n- REQ-1: The repository MUST contain `add.sh`, which prints the sum of its two arguments.\n- REQ-2: What `add.sh` prints on overflow is TBD.\n";
        let checked = crate::ir::check_text("spec.md", spec);
        let d = crate::ir::deliberate(&checked, &[], 3);
        assert!(d.settled, "a question answers the TBD for the deliberation");
        let settled = crate::ir::plans(&d);
        assert!(
            settled.iter().all(|(c, _)| c.tasks.iter().any(|t| !t.questions.is_empty())),
            "a settled deliberation's questions gate every candidate"
        );
        let (plan, _) = crate::ir::plans(&d).remove(0);
        let texts: BTreeMap<String, String> =
            d.ir.nodes.iter().map(|n| (n.id.clone(), n.text.clone())).collect();
        let front: Understood = serde_json::from_value(json!({
            "ir_packet": "ir", "nodes": 0, "requirements": 0, "findings": 0, "errors": 0,
            "hidden_constraints": 0, "amendments": 0, "settled": false, "candidates": [],
            "texts": texts,
        }))
        .unwrap();
        let wt = WorktreeRef { path: "w".into(), branch: "run-1".into(), base: "b".into() };
        let insights = BTreeMap::new();
        let history = BTreeMap::new();
        let maps = BTreeMap::new();
        let shared = Shared {
            front: &front,
            repo: "repo",
            integration: &wt,
            user_branch: "main",
            coder: CoderRef::default(),
            gates: &[],
            project_test: None,
            insights: &insights,
            history: &history,
            maps: &maps,
        };
        let tasks = plan_tasks(&plan, &shared);
        let gated: Vec<&Value> = tasks.iter().filter(|t| t["needs_approval"] == true).collect();
        assert_eq!(gated.len(), 1, "{tasks:#?}");
        let asked = gated[0]["input"]["open_questions"].as_array().unwrap();
        assert_eq!(asked.len(), 1);
        let q = asked[0]["text"].as_str().unwrap();
        assert!(!q.is_empty() && texts.values().any(|t| t == q), "{q}");
        assert!(tasks.iter().filter(|t| t["needs_approval"] == false).count() >= 3);
    }

    /// The former gate coverage, a scan of every gate for every gated task, kept as the oracle
    /// of the indexed one.
    fn gate_coverage_scan(front: &Understood, plan: &PlanCandidate) -> Vec<GateSpec> {
        let mut specs = gate_specs(front);
        let unlinked: Vec<bool> = specs.iter().map(|s| s.requirements.is_empty()).collect();
        for t in plan.tasks.iter().filter(|t| t.kind != TaskKind::Verify) {
            let Some(g) = &t.gate else { continue };
            for (s, _) in specs
                .iter_mut()
                .zip(&unlinked)
                .filter(|(s, u)| **u && g.criteria.contains(&s.criteria[0]))
            {
                for m in t.inputs.iter().filter(|i| front.musts.contains(i)) {
                    if !s.requirements.contains(m) {
                        s.requirements.push(m.clone());
                    }
                }
            }
        }
        specs
    }

    /// Gates that name what they verify, gates that follow an introducing sentence, gates that
    /// name nothing (standing for their tasks' MUSTs), many gates under one heading, in every
    /// plan candidate: the indexed coverage is the scan's.
    #[test]
    fn gate_coverage_by_criterion_is_the_scan_of_every_gate() {
        let mut specs = vec![
            "# Adder\n\n## Requirements\n- REQ-1: The script MUST add two numbers.\n- REQ-2: It MUST print the sum.\n\n## Acceptance criteria\n- REQ-1 is checked by:\n\n```sh\nsh test_add.sh\n```\n\n```sh\nsh test_print.sh\n```\n".to_string(),
        ];
        for n in [5, 12, 40] {
            let reqs: String =
                (0..n).map(|i| format!("- The system MUST store item{i} durably.\n")).collect();
            let gates: String = (0..n)
                .map(|i| match i % 3 {
                    0 => format!("\n```sh\ncargo test item{i}_is_stored\n```\n"),
                    1 => format!("- Item{i} is stored durably:\n\n```sh\ntest -f item{i}\n```\n"),
                    _ => format!("- Given a{i}x then a{i}y.\n"),
                })
                .collect();
            specs
                .push(format!("# S\n\n## Requirements\n\n{reqs}\n## Acceptance criteria\n{gates}"));
            // With no heading above both, commands that share no words with a requirement
            // verify nothing: they stand for the MUSTs of the tasks they gate.
            let loose: String =
                (0..n / 4).map(|i| format!("\n```sh\nmake check{i}\n```\n")).collect();
            specs.push(format!("## Requirements\n\n{reqs}\n## Acceptance criteria\n{loose}"));
        }
        let mut compared = 0;
        for spec in specs {
            let checked = crate::ir::check_text("spec.md", &spec);
            let d = crate::ir::deliberate(&checked, &[], 3);
            let (acceptance, musts) = acceptance(&d.ir);
            let front: Understood = serde_json::from_value(json!({
                "ir_packet": "ir", "nodes": 0, "requirements": 0, "findings": 0, "errors": 0,
                "hidden_constraints": 0, "amendments": 0, "settled": true, "candidates": [],
                "acceptance": acceptance, "musts": musts,
            }))
            .unwrap();
            for (plan, _) in crate::ir::plans(&d) {
                // Also with every gated task twice: a gate reached again adds nothing again.
                let mut twice = plan.clone();
                twice.tasks.extend(plan.tasks.iter().filter(|t| t.gate.is_some()).cloned());
                for plan in [plan, twice] {
                    let (indexed, _) = gate_coverage(&front, &plan);
                    let scan = gate_coverage_scan(&front, &plan);
                    assert_eq!(indexed, scan, "{spec}");
                    compared += scan.iter().map(|g| g.requirements.len()).sum::<usize>();
                }
            }
        }
        assert!(compared > 100, "{compared}");
    }
}
