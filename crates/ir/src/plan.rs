//! The plan adapter: from an IR, plan candidates by strategy. Each candidate is a DAG of
//! tasks (design, implement, test, review, integrate, verify) with inputs (IR node ids),
//! acceptance gates and size estimates. Every MUST requirement is an input of some task and
//! is checked by some gate; [`coverage`] proves it for a candidate.
//!
//! Work is grouped by component: the requirements, interfaces and constraints that refine a
//! component (transitively), and the acceptance criteria that verify them. Requirements with
//! no component fall into the goal's group.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::{EdgeKind, Ir, NodeKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    TestsFirst,
    ComponentByComponent,
    VerticalSlices,
}

impl Strategy {
    pub const ALL: [Strategy; 3] =
        [Strategy::TestsFirst, Strategy::ComponentByComponent, Strategy::VerticalSlices];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::TestsFirst => "tests-first",
            Strategy::ComponentByComponent => "component-by-component",
            Strategy::VerticalSlices => "vertical-slices",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Design,
    Implement,
    Test,
    Review,
    Integrate,
    Verify,
}

/// What must pass for a task to count as done: a command when the spec gave one, and the
/// acceptance criteria it checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub criteria: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanTask {
    pub id: String,
    pub kind: TaskKind,
    pub title: String,
    /// IR node ids this task works from.
    pub inputs: Vec<String>,
    pub deps: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
    /// Size in points (one point ≈ one focused half hour).
    pub points: f32,
    /// Open questions of the deliberation (Question node ids) about this task's inputs: the
    /// task is an approval gate — it starts only once an operator approves it
    /// (`l9 tasks approve`), having answered them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanCandidate {
    pub strategy: Strategy,
    pub summary: String,
    pub tasks: Vec<PlanTask>,
}

impl PlanCandidate {
    pub fn points(&self) -> f32 {
        self.tasks.iter().map(|t| t.points).sum()
    }

    /// Longest dependency chain in points (a lower bound on the makespan).
    pub fn critical_path(&self) -> f32 {
        let mut best: BTreeMap<&str, f32> = BTreeMap::new();
        // Tasks are emitted in dependency order.
        for t in &self.tasks {
            let start =
                t.deps.iter().filter_map(|d| best.get(d.as_str())).copied().fold(0.0, f32::max);
            best.insert(&t.id, start + t.points);
        }
        best.values().copied().fold(0.0, f32::max)
    }
}

#[derive(Debug, Clone, Default)]
struct Group {
    name: String,
    requirements: Vec<String>,
    interfaces: Vec<String>,
    constraints: Vec<String>,
    criteria: Vec<String>,
    commands: Vec<String>,
}

impl Group {
    fn inputs(&self) -> Vec<String> {
        self.requirements.iter().chain(&self.interfaces).chain(&self.constraints).cloned().collect()
    }

    fn size(&self) -> f32 {
        (self.requirements.len() as f32
            + 0.5 * self.interfaces.len() as f32
            + 0.3 * self.criteria.len() as f32)
            .max(1.0)
    }

    fn command(&self) -> Option<String> {
        (!self.commands.is_empty()).then(|| self.commands.join(" && "))
    }

    fn gate(&self) -> Gate {
        Gate { command: self.command(), criteria: self.criteria.clone() }
    }
}

/// What each acceptance criterion verifies (the targets of its `verifies` edges, in edge
/// order): looked up, not scanned for, so planning stays near-linear in the IR.
fn verified(ir: &Ir) -> HashMap<&str, Vec<&str>> {
    let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in ir.edges.iter().filter(|e| e.kind == EdgeKind::Verifies) {
        out.entry(e.from.as_str()).or_default().push(e.to.as_str());
    }
    out
}

fn groups(ir: &Ir) -> Vec<Group> {
    // Parent of each node along refines/constrains edges.
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    for e in &ir.edges {
        if matches!(e.kind, EdgeKind::Refines | EdgeKind::Constrains) {
            parent.entry(e.from.as_str()).or_insert(e.to.as_str());
        } else if e.kind == EdgeKind::Implements {
            // component → requirement: the requirement's parent is the component.
            parent.entry(e.to.as_str()).or_insert(e.from.as_str());
        }
    }
    let node = ir.nodes_by_id();
    let is_component = |id: &str| node.get(id).is_some_and(|n| n.kind == NodeKind::Component);
    let component_of = |id: &str| -> Option<String> {
        let mut cur = id;
        for _ in 0..64 {
            let p = parent.get(cur)?;
            if is_component(p) {
                // The top-most component below the goal keeps groups coarse.
                let mut top = *p;
                let mut up = *p;
                for _ in 0..64 {
                    match parent.get(up) {
                        Some(q) if is_component(q) => {
                            top = q;
                            up = q;
                        }
                        _ => break,
                    }
                }
                return Some(top.to_string());
            }
            cur = p;
        }
        None
    };
    let mut by: BTreeMap<String, Group> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut group_of: BTreeMap<String, String> = BTreeMap::new();
    for n in &ir.nodes {
        if !matches!(n.kind, NodeKind::Requirement | NodeKind::Interface | NodeKind::Constraint) {
            continue;
        }
        let key = component_of(&n.id).unwrap_or_else(|| "core".to_string());
        let g = by.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            Group {
                name: node.get(key.as_str()).map_or_else(|| "core".to_string(), |c| c.text.clone()),
                ..Group::default()
            }
        });
        match n.kind {
            NodeKind::Requirement => g.requirements.push(n.id.clone()),
            NodeKind::Interface => g.interfaces.push(n.id.clone()),
            _ => g.constraints.push(n.id.clone()),
        }
        group_of.insert(n.id.clone(), key);
    }
    // Acceptance criteria join the group of what they verify; gates with a command too.
    let mut global_commands = Vec::new();
    let verified = verified(ir);
    // (group, criterion) and (group, command) already placed.
    let mut criteria: HashSet<(String, String)> = HashSet::new();
    let mut commands: HashSet<(String, String)> = HashSet::new();
    for n in ir.nodes.iter().filter(|n| n.kind == NodeKind::AcceptanceCriterion) {
        let targets = verified.get(n.id.as_str()).map_or(&[][..], Vec::as_slice);
        let mut placed = false;
        for t in targets {
            if let Some(key) = group_of.get(*t)
                && let Some(g) = by.get_mut(key)
            {
                if criteria.insert((key.clone(), n.id.clone())) {
                    g.criteria.push(n.id.clone());
                }
                if let Some(cmd) = &n.gate
                    && commands.insert((key.clone(), cmd.clone()))
                {
                    g.commands.push(cmd.clone());
                }
                placed = true;
            }
        }
        if !placed && let Some(cmd) = &n.gate {
            global_commands.push((n.id.clone(), cmd.clone()));
        }
    }
    let mut out: Vec<Group> = order.into_iter().filter_map(|k| by.remove(&k)).collect();
    if out.is_empty() && !global_commands.is_empty() {
        out.push(Group { name: "core".into(), ..Group::default() });
    }
    if let Some(first) = out.first_mut() {
        for (id, cmd) in global_commands {
            first.criteria.push(id);
            first.commands.push(cmd);
        }
    }
    out
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 32 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "group".into() } else { out }
}

#[derive(Debug, Default)]
struct Tasks {
    tasks: Vec<PlanTask>,
    ids: BTreeSet<String>,
    /// For an id that was taken, the next suffix to try (all before it are taken).
    next_suffix: HashMap<String, u32>,
}

impl Tasks {
    #[allow(clippy::too_many_arguments)] // one call per task kind reads best with every field named in place
    fn add(
        &mut self,
        kind: TaskKind,
        name: &str,
        title: String,
        inputs: Vec<String>,
        deps: Vec<String>,
        gate: Option<Gate>,
        points: f32,
    ) -> String {
        let base = format!("{}:{}", kind.name(), slug(name));
        let mut id = base.clone();
        if self.ids.contains(&id) {
            let n = self.next_suffix.entry(base.clone()).or_insert(2);
            loop {
                id = format!("{base}-{n}");
                *n += 1;
                if !self.ids.contains(&id) {
                    break;
                }
            }
        }
        self.ids.insert(id.clone());
        self.tasks.push(PlanTask {
            id: id.clone(),
            kind,
            title,
            inputs,
            deps,
            gate,
            points: (points * 10.0).round() / 10.0,
            questions: Vec::new(),
        });
        id
    }
}

impl TaskKind {
    /// The kind's name as plans, priors and the world model spell it.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Design => "design",
            TaskKind::Implement => "implement",
            TaskKind::Test => "test",
            TaskKind::Review => "review",
            TaskKind::Integrate => "integrate",
            TaskKind::Verify => "verify",
        }
    }
}

/// The MUST (mandatory) requirements of an IR, by id.
pub fn musts(ir: &Ir) -> Vec<String> {
    ir.nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Requirement && n.strength.is_some_and(|s| s.is_mandatory()))
        .map(|n| n.id.clone())
        .collect()
}

/// Plan candidates, one per strategy (empty when the IR has nothing to build).
pub fn candidates(ir: &Ir) -> Vec<PlanCandidate> {
    let gs = groups(ir);
    if gs.is_empty() {
        return Vec::new();
    }
    Strategy::ALL.iter().map(|&s| build(ir, s, &gs)).collect()
}

/// The questions a deliberation asked (Question nodes about blocking findings, whether they
/// settled their finding or it stays open) become approval gates: each is attached to the first task
/// after the design that works from the node it is about, so that task waits for an
/// operator's approval; the rest of the plan goes on. A question about a node no task works
/// from gates the first task after the design.
pub fn gate_open_questions(ir: &Ir, c: &mut PlanCandidate) {
    let mut about: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &ir.edges {
        about.entry(e.from.as_str()).or_default().push(e.to.as_str());
    }
    // The first task after the design that works from each node.
    let mut first_on: HashMap<String, usize> = HashMap::new();
    for (i, t) in c.tasks.iter().enumerate().filter(|(_, t)| t.kind != TaskKind::Design) {
        for input in &t.inputs {
            first_on.entry(input.clone()).or_insert(i);
        }
    }
    let first_work = c.tasks.iter().position(|t| t.kind != TaskKind::Design);
    let mut gated: HashSet<(usize, String)> = c
        .tasks
        .iter()
        .enumerate()
        .flat_map(|(i, t)| t.questions.iter().map(move |q| (i, q.clone())))
        .collect();
    for q in crate::deliberate::asked_questions(ir) {
        let target = about
            .get(q.id.as_str())
            .into_iter()
            .flatten()
            .filter_map(|a| first_on.get(*a).copied())
            .min()
            .or(first_work);
        let Some(i) = target else { continue };
        if gated.insert((i, q.id.clone())) {
            c.tasks[i].questions.push(q.id.clone());
        }
    }
}

/// A vertical slice's gate runs all of its group's commands up to this many (see [`build`]).
pub const SLICE_GROUP_COMMANDS: usize = 8;

fn build(ir: &Ir, strategy: Strategy, gs: &[Group]) -> PlanCandidate {
    let mut t = Tasks::default();
    let all_inputs: Vec<String> = gs.iter().flat_map(|g| g.inputs()).collect();
    let all_criteria: Vec<String> = gs.iter().flat_map(|g| g.criteria.clone()).collect();
    let all_commands: Vec<String> =
        gs.iter().flat_map(|g| g.commands.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let goal = ir
        .nodes
        .iter()
        .find(|n| n.kind == NodeKind::Goal)
        .map_or("the spec".to_string(), |g| g.text.clone());
    let total: f32 = gs.iter().map(Group::size).sum();
    let design = t.add(
        TaskKind::Design,
        "architecture",
        format!("Design {goal}: components, interfaces, data"),
        all_inputs.clone(),
        vec![],
        None,
        1.0 + 0.1 * total,
    );
    let mut ends = Vec::new();
    match strategy {
        Strategy::TestsFirst => {
            for g in gs {
                let test = t.add(
                    TaskKind::Test,
                    &g.name,
                    format!("Write failing tests for {} from its acceptance criteria", g.name),
                    g.inputs(),
                    vec![design.clone()],
                    None,
                    0.4 * g.size(),
                );
                let imp = t.add(
                    TaskKind::Implement,
                    &g.name,
                    format!("Implement {} until its tests pass", g.name),
                    g.inputs(),
                    vec![test.clone()],
                    Some(g.gate()),
                    g.size(),
                );
                ends.push(imp);
            }
        }
        Strategy::ComponentByComponent => {
            let mut prev = design.clone();
            for g in gs {
                let imp = t.add(
                    TaskKind::Implement,
                    &g.name,
                    format!("Implement {}", g.name),
                    g.inputs(),
                    vec![prev.clone()],
                    None,
                    g.size(),
                );
                let test = t.add(
                    TaskKind::Test,
                    &g.name,
                    format!("Test {} against its acceptance criteria", g.name),
                    g.inputs(),
                    vec![imp],
                    Some(g.gate()),
                    0.4 * g.size(),
                );
                let review = t.add(
                    TaskKind::Review,
                    &g.name,
                    format!("Review {}", g.name),
                    g.inputs(),
                    vec![test],
                    None,
                    0.2 * g.size(),
                );
                prev = review.clone();
                ends.push(review);
            }
        }
        Strategy::VerticalSlices => {
            // Who verifies each node.
            let mut verifiers: HashMap<&str, Vec<&str>> = HashMap::new();
            for e in ir.edges.iter().filter(|e| e.kind == EdgeKind::Verifies) {
                verifiers.entry(e.to.as_str()).or_default().push(e.from.as_str());
            }
            let node = ir.nodes_by_id();
            for g in gs {
                let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
                for (i, c) in g.criteria.iter().enumerate() {
                    positions.entry(c.as_str()).or_default().push(i);
                }
                let command = g.command();
                // A slice's gate runs its group's commands while they are few; past that each
                // slice runs the commands of its own criteria (thousands of slices each holding
                // all of thousands of commands would be quadratic), and the final verification
                // runs them all.
                let own_commands = g.commands.len() > SLICE_GROUP_COMMANDS;
                let gate_of: HashMap<&str, &str> = if own_commands {
                    g.criteria
                        .iter()
                        .filter_map(|c| Some((c.as_str(), node.get(c.as_str())?.gate.as_deref()?)))
                        .collect()
                } else {
                    HashMap::new()
                };
                // A slice is at most four requirements or interfaces, end to end.
                let inputs = g.inputs();
                for (i, chunk) in inputs.chunks(4).enumerate() {
                    let name = if inputs.len() > 4 {
                        format!("{} {}", g.name, i + 1)
                    } else {
                        g.name.clone()
                    };
                    // The group's criteria that verify something in the chunk, in order.
                    let mut at: Vec<usize> = chunk
                        .iter()
                        .flat_map(|input| verifiers.get(input.as_str()).into_iter().flatten())
                        .flat_map(|c| positions.get(c).into_iter().flatten().copied())
                        .collect();
                    at.sort_unstable();
                    at.dedup();
                    let criteria: Vec<String> = at.iter().map(|&i| g.criteria[i].clone()).collect();
                    let size = (chunk.len() as f32 + 0.3 * criteria.len() as f32).max(1.0);
                    let command = if own_commands {
                        let mut own: Vec<&str> = criteria
                            .iter()
                            .filter_map(|c| gate_of.get(c.as_str()).copied())
                            .collect();
                        let mut seen = HashSet::new();
                        own.retain(|c| seen.insert(*c));
                        (!own.is_empty()).then(|| own.join(" && "))
                    } else {
                        command.clone()
                    };
                    let gate = Gate { command, criteria };
                    let imp = t.add(
                        TaskKind::Implement,
                        &name,
                        format!("Slice {name}: implement and test end to end"),
                        chunk.to_vec(),
                        vec![design.clone()],
                        Some(gate),
                        1.2 * size,
                    );
                    let review = t.add(
                        TaskKind::Review,
                        &name,
                        format!("Review slice {name}"),
                        chunk.to_vec(),
                        vec![imp],
                        None,
                        0.2 * size,
                    );
                    ends.push(review);
                }
            }
        }
    }
    let integrate = t.add(
        TaskKind::Integrate,
        "all",
        format!("Integrate {goal}"),
        all_inputs.clone(),
        ends,
        None,
        0.5 + 0.05 * total,
    );
    let verify_gate = Gate {
        command: (!all_commands.is_empty()).then(|| all_commands.join(" && ")),
        criteria: all_criteria,
    };
    let mut verify_deps = vec![integrate];
    if strategy == Strategy::TestsFirst {
        let review = t.add(
            TaskKind::Review,
            "all",
            format!("Review {goal}"),
            all_inputs.clone(),
            verify_deps.clone(),
            None,
            0.2 * total,
        );
        verify_deps = vec![review];
    }
    t.add(
        TaskKind::Verify,
        "all",
        format!("Verify every acceptance criterion of {goal}"),
        musts(ir),
        verify_deps,
        Some(verify_gate),
        0.5,
    );
    let summary = match strategy {
        Strategy::TestsFirst => format!(
            "tests first: {} groups, tests written from the acceptance criteria before code",
            gs.len()
        ),
        Strategy::ComponentByComponent => format!(
            "component by component: {} groups one after another, each implemented, tested, reviewed",
            gs.len()
        ),
        Strategy::VerticalSlices => {
            "vertical slices: small end-to-end slices in parallel, each reviewed".to_string()
        }
    };
    PlanCandidate { strategy, summary, tasks: t.tasks }
}

/// MUST requirements a candidate leaves uncovered: not an input of any task, or not checked
/// by any gate (a gate checks a requirement when one of its criteria verifies it, or when the
/// requirement is an input of the gated task).
pub fn coverage(ir: &Ir, plan: &PlanCandidate) -> Vec<String> {
    let inputs: BTreeSet<&str> =
        plan.tasks.iter().flat_map(|t| t.inputs.iter().map(String::as_str)).collect();
    let mut gated: BTreeSet<&str> = BTreeSet::new();
    let verified = verified(ir);
    // A criterion is in many gates (every slice a criterion of its whole section verifies):
    // what it verifies is counted once, not once per gate.
    let mut counted: HashSet<&str> = HashSet::new();
    for task in &plan.tasks {
        let Some(gate) = &task.gate else { continue };
        gated.extend(task.inputs.iter().map(String::as_str));
        for c in gate.criteria.iter().filter(|c| counted.insert(c.as_str())) {
            gated.extend(verified.get(c.as_str()).into_iter().flatten().copied());
        }
    }
    musts(ir)
        .into_iter()
        .filter(|m| !inputs.contains(m.as_str()) || !gated.contains(m.as_str()))
        .collect()
}
