//! A run's approval gates: the tasks of its plan that wait for an operator before they start
//! (each carries the questions the deliberation asked about what it builds), found from the
//! plan and its children, and answered with `l9 tasks approve|reject`.

use std::collections::HashSet;

use l9_store::{TaskFilter, TaskRecord, TaskState};
use l9_types::TaskId;
use serde::Serialize;
use serde_json::{Value, json};

use crate::Engine;
use crate::pipeline::PLAN_KIND;

/// A plan task that waits for approval now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    /// The plan task (`implement:script`).
    pub task: String,
    /// The questions it waits on, as the plan carries them.
    pub questions: Vec<Question>,
}

/// A question a gate waits on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub id: String,
    pub text: String,
}

impl Gate {
    /// One line: the task and what it waits on (the first three questions; `l9 show` and
    /// `--json` have them all).
    pub fn describe(&self) -> String {
        if self.questions.is_empty() {
            return format!("{} waits for approval", self.task);
        }
        let asked: Vec<String> = self
            .questions
            .iter()
            .take(3)
            .map(|q| if q.text.is_empty() { q.id.clone() } else { format!("{} {}", q.id, q.text) })
            .collect();
        let more = match self.questions.len() - asked.len() {
            0 => String::new(),
            n => format!("; … {n} more"),
        };
        format!(
            "{} waits for approval of {} open question(s): {}{more}",
            self.task,
            self.questions.len(),
            asked.join("; ")
        )
    }
}

/// Whether a plan (its payload) has approval gates at all.
pub fn has_gates(plan: &Value) -> bool {
    plan["tasks"].as_array().is_some_and(|ts| ts.iter().any(|t| t["needs_approval"] == json!(true)))
}

/// The gated tasks (`needs_approval`) of a plan (its payload, as `l9.plan` takes it) not
/// `answered` (an `approve:NAME` or `reject:NAME` signal sent, taken or not yet) and not
/// started (no child carries its name as `plan_task`); with `reached`, only those waiting now:
/// every dependency succeeded or was kept from an earlier run (`l9 retry`). A dependency that
/// failed skips the gated task: it waits for nothing.
fn open_gates(
    plan: &Value,
    children: &[TaskRecord],
    answered: &HashSet<String>,
    reached: bool,
) -> Vec<Gate> {
    let Some(tasks) = plan["tasks"].as_array() else { return Vec::new() };
    let names = plan_task_names(tasks, children);
    let started: HashSet<String> = names.iter().flatten().cloned().collect();
    let mut done: HashSet<String> = children
        .iter()
        .zip(&names)
        .filter(|(c, _)| c.state == TaskState::Succeeded)
        .filter_map(|(_, n)| n.clone())
        .collect();
    if let Some(kept) = plan["completed"].as_object() {
        done.extend(kept.keys().cloned());
    }
    let name_of = |d: &Value| {
        d.as_u64()
            .and_then(|i| tasks.get(usize::try_from(i).ok()?))
            .and_then(|t| t["name"].as_str())
    };
    tasks
        .iter()
        .filter(|t| t["needs_approval"] == json!(true))
        .filter_map(|t| {
            let name = t["name"].as_str()?;
            if started.contains(name) || done.contains(name) || answered.contains(name) {
                return None;
            }
            let deps = t["deps"].as_array().map_or(&[][..], Vec::as_slice);
            if reached && !deps.iter().all(|d| name_of(d).is_some_and(|n| done.contains(n))) {
                return None;
            }
            Some(gate_of(t))
        })
        .collect()
}

/// The plan task each child is an attempt of. A loop run's children say so (`plan_task` in
/// their input); a hand-written plan's children carry the input of their task as the plan
/// gives it (plus a `budget` share when the plan has a budget), so a child is matched by its
/// kind and input: taken in the order they were created, each child is an attempt of the
/// first such task that has no attempt yet or whose attempts all failed (a retry). Tasks of
/// the same kind and input are thus told apart by when they started.
fn plan_task_names(tasks: &[Value], children: &[TaskRecord]) -> Vec<Option<String>> {
    let mut order: Vec<usize> = (0..children.len()).collect();
    order.sort_by(|a, b| {
        let (a, b) = (&children[*a], &children[*b]);
        a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id))
    });
    let mut names: Vec<Option<String>> = vec![None; children.len()];
    // Per plan task: whether an attempt of it did anything but fail.
    let mut live = vec![false; tasks.len()];
    let mut tried = vec![false; tasks.len()];
    for i in order {
        let c = &children[i];
        if let Some(n) = c.payload["plan_task"].as_str() {
            names[i] = Some(n.to_string());
            continue;
        }
        // The input without the budget share the plan added to it.
        let mut unbudgeted = c.payload.clone();
        if let Some(o) = unbudgeted.as_object_mut() {
            o.remove("budget");
        }
        let empty = |v: &Value| v.is_null() || *v == json!({});
        let same = |t: &Value| {
            let input = &t["input"];
            t["kind"].as_str() == Some(c.kind.as_str())
                && (*input == c.payload
                    || *input == unbudgeted
                    || (empty(input) && empty(&c.payload)))
        };
        let Some(k) = (0..tasks.len()).find(|k| same(&tasks[*k]) && (!tried[*k] || !live[*k]))
        else {
            continue;
        };
        tried[k] = true;
        live[k] |= !matches!(c.state, TaskState::Dead | TaskState::Cancelled);
        names[i] = tasks[k]["name"].as_str().map(str::to_string);
    }
    names
}

/// A plan task (its entry in the plan's payload) as a gate.
fn gate_of(t: &Value) -> Gate {
    let questions = t["input"]["open_questions"]
        .as_array()
        .map(|qs| {
            qs.iter()
                .map(|q| Question {
                    id: q["id"].as_str().unwrap_or("").to_string(),
                    text: q["text"].as_str().unwrap_or("").to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Gate { task: t["name"].as_str().unwrap_or("").to_string(), questions }
}

impl Engine {
    /// The plan that `id` names: itself when it is a plan, else the newest plan it spawned
    /// that has not ended (a run's), else its newest plan.
    async fn plan_of(&self, id: TaskId) -> crate::Result<Option<TaskRecord>> {
        let t = self.task(id).await?;
        if t.kind == PLAN_KIND {
            return Ok(Some(t));
        }
        let f = TaskFilter { parent: Some(id), kind: Some(PLAN_KIND.into()), ..Default::default() };
        // Newest first.
        let plans = self.list_tasks(&f, None, 100).await?.tasks;
        let open = plans.iter().find(|p| !p.state.is_terminal()).cloned();
        Ok(open.or_else(|| plans.into_iter().next()))
    }

    /// The gates of `plan` not answered and not started (none once it ended): all of them,
    /// and those that wait now.
    async fn gates_open(&self, plan: &TaskRecord) -> crate::Result<(Vec<Gate>, Vec<Gate>)> {
        if plan.state.is_terminal() || !has_gates(&plan.payload) {
            return Ok((Vec::new(), Vec::new()));
        }
        let f = TaskFilter { parent: Some(plan.id), ..Default::default() };
        let children = self.list_tasks(&f, None, 10_000).await?.tasks;
        self.gates_among(plan, &children).await
    }

    /// [`Engine::gates_open`] given the plan's children (the follower has them already).
    pub(crate) async fn gates_among(
        &self,
        plan: &TaskRecord,
        children: &[TaskRecord],
    ) -> crate::Result<(Vec<Gate>, Vec<Gate>)> {
        if plan.state.is_terminal() || !has_gates(&plan.payload) {
            return Ok((Vec::new(), Vec::new()));
        }
        let answered = self.answered_gates(plan.id).await?;
        Ok((
            open_gates(&plan.payload, children, &answered, false),
            open_gates(&plan.payload, children, &answered, true),
        ))
    }

    /// The approval gates that wait now in the plan that `id` names (a run or its plan).
    pub async fn approval_gates(&self, id: TaskId) -> crate::Result<Vec<Gate>> {
        match self.plan_of(id).await? {
            Some(plan) => Ok(self.gates_open(&plan).await?.1),
            None => Ok(Vec::new()),
        }
    }

    /// The plan tasks whose gate was answered: an `approve:NAME` or `reject:NAME` signal was
    /// sent to the plan (the plan takes it when it reaches the gate, or has taken it).
    async fn answered_gates(&self, plan: TaskId) -> crate::Result<HashSet<String>> {
        Ok(self
            .store
            .tasks()
            .signals(plan)
            .await?
            .into_iter()
            .filter_map(|s| {
                s.name
                    .strip_prefix("approve:")
                    .or_else(|| s.name.strip_prefix("reject:"))
                    .map(str::to_string)
            })
            .collect())
    }
}

/// What answering an approval did ([`Engine::decide`]).
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub id: TaskId,
    pub approved: bool,
    /// The gates of the run's plan answered (empty when the task's own approval was).
    pub gates: Vec<Gate>,
    /// The sequence number of the `approval` signal sent to the task itself (a workflow
    /// waiting in `ctx.approval`, such as `l9.approval`), when that is what was answered.
    pub answered: Option<u32>,
}

impl Engine {
    /// Answers what `id` waits for. For an `l9 run` or its plan: every task of the plan at an
    /// approval gate now, or the gated task `gate` (now, or when the plan gets there: the
    /// plan takes the signal then); the plan goes on when a worker next runs it (`l9
    /// resume`). For any other task: its own `approval`. Nothing to answer is refused, naming
    /// what does wait, or the plan's gated tasks when none can be seen waiting (a plan
    /// enqueued by hand, whose children do not name their plan tasks).
    pub async fn decide(
        &self,
        id: TaskId,
        approved: bool,
        note: Option<&str>,
        gate: Option<&str>,
    ) -> crate::Result<Decision> {
        let invalid = |m: String| crate::EngineError::Task(l9_tasks::TaskError::Invalid(m));
        let t = self.task(id).await?;
        if t.kind != "l9.run" && t.kind != PLAN_KIND {
            if gate.is_some() {
                return Err(invalid(format!(
                    "a gate names a task of a plan, and {id} is a {} task, not an `l9 run` or its plan",
                    t.kind
                )));
            }
            let answered = self.approve(id, approved, note).await?;
            return Ok(Decision { id, approved, gates: Vec::new(), answered: Some(answered) });
        }
        let nothing = || {
            format!(
                "nothing of {id} waits for approval now (`l9 show {id}` says what it waits for)"
            )
        };
        let Some(plan) = self.plan_of(id).await?.filter(|p| !p.state.is_terminal()) else {
            return Err(invalid(nothing()));
        };
        // Not answered, not started; waiting now or further on.
        let (open, waiting) = self.gates_open(&plan).await?;
        let gates: Vec<Gate> = match gate {
            None => waiting.clone(),
            Some(name) => open.iter().filter(|g| g.task == name).cloned().collect(),
        };
        if gates.is_empty() {
            let now: Vec<&str> = waiting.iter().map(|g| g.task.as_str()).collect();
            let gated: Vec<&str> = open.iter().map(|g| g.task.as_str()).collect();
            return Err(invalid(match gate {
                Some(g) if !now.is_empty() => format!(
                    "{id}'s plan has no task {g} at an approval gate; these wait: {}",
                    now.join(", ")
                ),
                Some(g) => format!(
                    "{id}'s plan has no task {g} at an approval gate still to answer (those still to answer: {})",
                    if gated.is_empty() { "none".to_string() } else { gated.join(", ") }
                ),
                None if gated.is_empty() => nothing(),
                None => format!(
                    "{}; name one of its plan's gated tasks to answer it ahead: --gate {}",
                    nothing(),
                    gated.join(" | --gate ")
                ),
            }));
        }
        let verb = if approved { "approve" } else { "reject" };
        for g in &gates {
            self.signal(plan.id, &format!("{verb}:{}", g.task), &json!({"note": note})).await?;
        }
        Ok(Decision { id, approved, gates, answered: None })
    }
}

/// A task record for tests: `kind` with `payload` in `state`, created and updated `at`.
#[cfg(test)]
pub(crate) fn record(
    id: TaskId,
    kind: &str,
    payload: Value,
    state: TaskState,
    at: chrono::DateTime<chrono::Utc>,
) -> TaskRecord {
    TaskRecord {
        id,
        queue: "run".into(),
        kind: kind.into(),
        payload,
        priority: 0,
        state,
        attempts: 1,
        failures: 0,
        max_attempts: 3,
        run_after: at,
        lease_owner: None,
        lease_until: None,
        idempotency_key: None,
        run_id: None,
        parent: None,
        result: None,
        error: None,
        created_at: at,
        updated_at: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(name: &str, state: TaskState) -> TaskRecord {
        let id = TaskId(l9_types::derived_uuid("test", name));
        record(id, "l9.agent", json!({"plan_task": name}), state, chrono::DateTime::UNIX_EPOCH)
    }

    fn plan() -> Value {
        json!({"tasks": [
            {"name": "design:architecture", "deps": [], "needs_approval": false, "input": {}},
            {"name": "implement:script", "deps": [0], "needs_approval": true,
             "input": {"open_questions": [{"id": "Q-1", "text": "Which limit is right?"}]}},
            {"name": "implement:docs", "deps": [0], "needs_approval": true, "input": {}},
            {"name": "verify:all", "deps": [1, 2], "needs_approval": false, "input": {}},
        ]})
    }

    #[test]
    fn a_hand_written_plans_children_are_matched_to_its_tasks_by_kind_and_input() {
        // Two tasks of the same kind and input, the second gated: its children do not name
        // their plan tasks.
        let p = json!({"tasks": [
            {"name": "build", "kind": "l9.echo", "deps": [], "needs_approval": false},
            {"name": "ship", "kind": "l9.echo", "deps": [0], "needs_approval": true},
            {"name": "docs", "kind": "l9.echo", "deps": [], "needs_approval": true, "input": {"what": "docs"}},
        ]});
        let none = HashSet::new();
        let at = |s: i64| chrono::DateTime::UNIX_EPOCH + chrono::Duration::seconds(s);
        let hand = |n: &str, payload: Value, state, s| {
            record(TaskId(l9_types::derived_uuid("hand", n)), "l9.echo", payload, state, at(s))
        };
        let waiting = |children: &[TaskRecord]| -> Vec<String> {
            open_gates(&p, children, &none, true).into_iter().map(|g| g.task).collect()
        };
        // The build runs; docs (no dependency) waits now.
        let running = hand("b1", Value::Null, TaskState::Leased, 1);
        assert_eq!(waiting(std::slice::from_ref(&running)), ["docs"]);
        // The build failed once and its retry succeeded: ship waits too.
        let failed = hand("b1", Value::Null, TaskState::Dead, 1);
        let retried = hand("b2", json!({}), TaskState::Succeeded, 2);
        assert_eq!(waiting(&[failed.clone(), retried.clone()]), ["ship", "docs"]);
        // Ship started (the same kind and input as the build, started after it): it waits
        // no more; docs started with a budget share added to its input.
        let ship = hand("s1", Value::Null, TaskState::Leased, 3);
        let docs =
            hand("d1", json!({"what": "docs", "budget": {"tokens": 5}}), TaskState::Leased, 3);
        assert!(waiting(&[failed, retried, ship, docs]).is_empty());
    }

    #[test]
    fn a_gated_task_waits_once_its_dependencies_succeeded_and_until_it_starts() {
        let p = plan();
        let none = HashSet::new();
        assert!(has_gates(&p));
        // The design still runs: nothing waits yet.
        assert!(
            open_gates(&p, &[child("design:architecture", TaskState::Leased)], &none, true)
                .is_empty()
        );
        // The design failed: the gated tasks are skipped, not waiting.
        assert!(
            open_gates(&p, &[child("design:architecture", TaskState::Dead)], &none, true)
                .is_empty()
        );
        let design = child("design:architecture", TaskState::Succeeded);
        let both = open_gates(&p, std::slice::from_ref(&design), &none, true);
        assert_eq!(
            both.iter().map(|g| g.task.as_str()).collect::<Vec<_>>(),
            ["implement:script", "implement:docs"]
        );
        assert_eq!(
            both[0].questions,
            [Question { id: "Q-1".into(), text: "Which limit is right?".into() }]
        );
        assert_eq!(
            both[0].describe(),
            "implement:script waits for approval of 1 open question(s): Q-1 Which limit is right?"
        );
        let many = Gate {
            task: "t".into(),
            questions: (0..5)
                .map(|i| Question { id: format!("Q-{i}"), text: String::new() })
                .collect(),
        };
        assert_eq!(
            many.describe(),
            "t waits for approval of 5 open question(s): Q-0; Q-1; Q-2; … 2 more"
        );
        // One approved and started: the other still waits.
        let started = [design, child("implement:script", TaskState::Queued)];
        let left = open_gates(&p, &started, &none, true);
        assert_eq!(left.iter().map(|g| g.task.as_str()).collect::<Vec<_>>(), ["implement:docs"]);
        // Kept from an earlier run (`l9 retry`): the design counts as succeeded without a child.
        let mut kept = plan();
        kept["completed"] = json!({"design:architecture": {}});
        assert_eq!(open_gates(&kept, &[], &none, true).len(), 2);
        // Still to answer, reached or not (a gate may be answered ahead): both, before the
        // design even ran.
        assert_eq!(open_gates(&p, &[], &none, false).len(), 2);
        // Answered (a signal sent, not taken yet): it no longer waits.
        let answered: HashSet<String> = ["implement:docs".to_string()].into();
        assert_eq!(open_gates(&kept, &[], &answered, true).len(), 1);
        assert!(!has_gates(&json!({"tasks": [{"name": "a", "needs_approval": false}]})));
    }
}
