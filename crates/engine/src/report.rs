//! What `l9 show RUN` reports beyond the run's own journal: the task timeline (every task of
//! the executed plan with its attempts, gates and merge) and the run's lineage, checked
//! link by link — spec → IR → plan → each task → its gate outputs → its merge.

use chrono::{DateTime, Utc};
use l9_store::{Direction, TaskFilter, TaskRecord};
use l9_types::{PacketId, TaskId};
use serde::Serialize;
use serde_json::Value;

use crate::events::Entry;
use crate::pipeline::{PLAN_KIND, RunStep};
use crate::{Engine, Result};
use l9_agents::steps::AgentStep;

/// One task of the executed plan.
#[derive(Debug, Clone, Serialize)]
pub struct TaskLine {
    pub task: String,
    /// The plan's name for it (`T3-implement-…`).
    pub name: String,
    pub kind: String,
    pub state: String,
    pub attempts: u32,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    /// Gates in order: (when, passed).
    pub gates: Vec<(DateTime<Utc>, bool)>,
    pub merged: Option<String>,
    pub error: Option<String>,
}

/// The run's lineage, checked: which links hold.
#[derive(Debug, Clone, Serialize)]
pub struct Lineage {
    pub spec: Option<String>,
    pub ir: Option<String>,
    pub plan: Option<String>,
    pub tasks: Vec<TaskLineage>,
    /// Every link found: the spec is the IR's parent, and every merge descends from the plan,
    /// the IR, the spec and its own task's gates.
    pub complete: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskLineage {
    pub task: String,
    /// The packet of the task's merge entry (the tip of its lineage).
    pub merge: Option<String>,
    pub gates: usize,
    /// Whether the merge descends from every gate entry of the task, the plan, the IR and
    /// the spec.
    pub linked: bool,
}

fn ended(t: &TaskRecord) -> Option<DateTime<Utc>> {
    use l9_store::TaskState::*;
    matches!(t.state, Succeeded | Dead | Cancelled).then_some(t.updated_at)
}

fn is_gate(e: &Entry) -> bool {
    matches!(e.agent_step(), Some(AgentStep::Gate { .. }))
}

impl Engine {
    async fn plan_children(&self, run: TaskId) -> Result<Vec<TaskRecord>> {
        let f = TaskFilter { parent: Some(run), ..Default::default() };
        let mut out = Vec::new();
        for plan in
            self.list_tasks(&f, None, 100).await?.tasks.into_iter().filter(|t| t.kind == PLAN_KIND)
        {
            let f = TaskFilter { parent: Some(plan.id), ..Default::default() };
            let mut kids = self.list_tasks(&f, None, 1000).await?.tasks;
            kids.sort_by_key(|t| (t.created_at, t.id));
            out.extend(kids);
        }
        Ok(out)
    }

    /// The executed plan's tasks in start order, with attempts, gates and merges.
    pub async fn run_timeline(&self, run: TaskId) -> Result<Vec<TaskLine>> {
        let mut out = Vec::new();
        for t in self.plan_children(run).await? {
            let journal = self.journal_entries(l9_tasks::run_of(t.id)).await?;
            let gates = journal
                .iter()
                .filter(|e| is_gate(e))
                .map(|e| (e.at, e.value["passed"] == Value::Bool(true)))
                .collect();
            let merged = journal
                .iter()
                .find(|e| e.agent_step() == Some(AgentStep::Merge))
                .and_then(|e| e.value["commit"].as_str().map(str::to_string));
            let name = t.payload["plan_task"]
                .as_str()
                .or_else(|| t.payload["stage"].as_str())
                .unwrap_or("")
                .to_string();
            out.push(TaskLine {
                task: t.id.to_string(),
                name,
                kind: t.kind.clone(),
                state: t.state.as_str().to_string(),
                attempts: t.attempts,
                started: t.created_at,
                ended: ended(&t),
                gates,
                merged,
                error: t.error.clone(),
            });
        }
        Ok(out)
    }

    /// The run's lineage, link by link.
    pub async fn run_lineage(&self, run: TaskId) -> Result<Lineage> {
        let journal = self.journal_entries(l9_tasks::run_of(run)).await?;
        let value = |step: RunStep| {
            journal.iter().find(|e| e.run_step() == Some(step)).map(|e| e.value.clone())
        };
        let ir = value(RunStep::Front)
            .and_then(|v| crate::stages::read::<crate::stages::Understood>(&v))
            .and_then(|u| u.ir_packet.parse::<PacketId>().ok());
        let plan = value(RunStep::Recall)
            .and_then(|v| crate::stages::read::<crate::stages::Recalled>(&v))
            .and_then(|r| r.plan_packet.parse::<PacketId>().ok());
        let spec = match ir {
            Some(ir) => self.store().get_packet(ir).await?.and_then(|p| p.parents.first().copied()),
            None => None,
        };
        let mut complete = spec.is_some() && plan.is_some();
        let mut tasks = Vec::new();
        for t in self.plan_children(run).await?.into_iter().filter(|t| t.kind == "l9.agent") {
            // Packets of the gate and merge entries (any status: a gate's packet is its
            // entry's, whatever it recorded).
            let rows = self.store().tasks().load_journal(l9_tasks::run_of(t.id)).await?;
            let step = |key: &str| {
                l9_kernel::journal::StepKey::parse(key).and_then(|k| AgentStep::parse(&k.name))
            };
            let gates: Vec<PacketId> = rows
                .iter()
                .filter(|r| matches!(step(&r.key), Some(AgentStep::Gate { .. })))
                .map(|r| r.packet)
                .collect();
            let merge =
                rows.iter().find(|r| step(&r.key) == Some(AgentStep::Merge)).map(|r| r.packet);
            let linked = match merge {
                None => false,
                Some(m) => {
                    let up: std::collections::HashSet<PacketId> = self
                        .store()
                        .lineage(m, Direction::Up, 100_000)
                        .await?
                        .into_iter()
                        .map(|e| e.id)
                        .collect();
                    [spec, ir, plan].iter().all(|p| p.is_some_and(|p| up.contains(&p)))
                        && gates.iter().all(|g| up.contains(g))
                }
            };
            complete &= linked;
            tasks.push(TaskLineage {
                task: t.id.to_string(),
                merge: merge.map(|m| m.to_string()),
                gates: gates.len(),
                linked,
            });
        }
        Ok(Lineage {
            spec: spec.map(|p| p.to_string()),
            ir: ir.map(|p| p.to_string()),
            plan: plan.map(|p| p.to_string()),
            tasks,
            complete,
        })
    }
}
