//! Built-in workflows every `l9 worker` runs, the durable plan driver among them; the
//! engine adds the loop's own (`l9.run`, `l9.agent`).
//!
//! * `l9.echo` — returns its payload (a smoke test for a deployment).
//! * `l9.sleep` — `{"seconds": N}`: a durable timer; survives worker restarts.
//! * `l9.approval` — `{"what": "…"}`: waits for `l9 tasks approve|reject`.
//! * `l9.plan` — `{"tasks": [...], "limits": …, "budget": …, "seed": N}`: executes a plan
//!   with the kernel's scheduler, one child task per attempt (see `run_plan`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{Ctx, Registry, WfError};
use serde_json::{Value, json};

/// The registry of built-in workflows.
pub fn builtin() -> Registry {
    let mut reg = Registry::new();
    reg.register("l9.echo", |_ctx: Ctx, v: Value| async move { Ok(v) });
    reg.register("l9.sleep", |ctx: Ctx, v: Value| async move {
        let secs = v.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
        if !(0.0..=31_536_000.0).contains(&secs) {
            return Err(WfError::failed(format!(
                "l9.sleep: seconds must be between 0 and one year, not {secs}"
            )));
        }
        let start = ctx.now().await?;
        ctx.sleep(Duration::from_secs_f64(secs)).await?;
        let end = ctx.now().await?;
        Ok(json!({"slept_ms": (end - start).num_milliseconds()}))
    });
    reg.register("l9.plan", run_plan);
    reg.register("l9.approval", |ctx: Ctx, v: Value| async move {
        let what = v.get("what").and_then(Value::as_str).unwrap_or("this run").to_string();
        let approved = ctx.approval(&what).await?;
        Ok(json!({"what": what, "approved": approved}))
    });
    reg
}

/// One task of an `l9.plan` payload: the kernel's task spec plus what to run.
#[derive(Debug, Clone, serde::Deserialize)]
struct PlanTask {
    #[serde(flatten)]
    spec: l9_kernel::TaskSpec,
    /// The workflow each attempt runs (a child task).
    kind: String,
    #[serde(default)]
    input: Value,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct PlanPayload {
    tasks: Vec<PlanTask>,
    #[serde(default)]
    limits: l9_kernel::Limits,
    #[serde(default)]
    budget: l9_kernel::Budget,
    #[serde(default)]
    seed: u64,
    /// Tasks an earlier run of the same plan finished (name → result): counted as succeeded
    /// without running again (`l9 retry`).
    #[serde(default)]
    completed: BTreeMap<String, Value>,
}

/// `l9.plan`: runs a plan with the kernel's scheduler (`l9_kernel::step`) as a durable
/// workflow. Each attempt of a plan task is a child task of the task's `kind`; the
/// scheduler's timers are durable; approval gates wait for `approve:NAME` / `reject:NAME`
/// signals (not a task in `completed`: it passed its gate in the run that finished it); `pause`, `resume`, `cancel` and `budget` (a new budget) signals steer the run.
/// Every answer the loop reads (time, children, signals) is journaled, so a resumed run
/// feeds the scheduler the same events and takes the same decisions.
async fn run_plan(ctx: Ctx, payload: Value) -> Result<Value, WfError> {
    use std::collections::{BTreeSet, VecDeque};
    use std::sync::Arc;

    use l9_kernel::{Action, Event, EventKind, Plan, RunState, Spend, Timer};

    let p: PlanPayload = serde_json::from_value(payload)
        .map_err(|e| WfError::failed(format!("l9.plan: the payload is not a plan ({e})")))?;
    let kinds: Vec<(String, Value)> =
        p.tasks.iter().map(|t| (t.kind.clone(), t.input.clone())).collect();
    // A task an earlier run finished passed its approval gate then: it does not wait again.
    let specs = p.tasks.into_iter().map(|mut t| {
        t.spec.needs_approval &= !p.completed.contains_key(&t.spec.name);
        t.spec
    });
    let plan = Plan::new(specs.collect(), &p.limits)
        .map_err(|e| WfError::failed(format!("l9.plan: {e}")))?;
    let names: Vec<String> = plan.tasks().iter().map(|t| t.name.clone()).collect();
    let mut state = RunState::new(Arc::new(plan), p.budget, p.seed);
    let t0 = ctx.now().await?;
    let mut events: VecDeque<Event> = VecDeque::from([Event::new(0, EventKind::Start)]);
    let mut running: BTreeMap<l9_types::TaskId, (usize, u32)> = BTreeMap::new();
    let mut timers: BTreeSet<(u64, Timer)> = BTreeSet::new();
    let mut awaiting: BTreeSet<usize> = BTreeSet::new();
    let mut log: Vec<Value> = Vec::new();
    // Budget shares: a child that spends (`l9.agent`, or `"budgeted": true` in its input) gets what is neither spent nor held by running
    // children, split over the agent tasks not started yet, and checks every model call
    // against it before making it. A child that failed keeps its share held (what it spent
    // is not reported back), so the shares never add up to more than the budget.
    let mut held: BTreeMap<l9_types::TaskId, Spend> = BTreeMap::new();
    let mut cost_unknown = false;
    let mut started: BTreeSet<usize> = BTreeSet::new();
    // Tasks that spend (model calls): `l9.agent`, and any whose input says `"budgeted": true`.
    let spends = |k: &str, input: &Value| k == "l9.agent" || input["budgeted"] == json!(true);
    let agent_tasks: Vec<usize> = kinds
        .iter()
        .enumerate()
        .filter(|(_, (k, input))| spends(k, input))
        .map(|(i, _)| i)
        .collect();
    loop {
        while let Some(ev) = events.pop_front() {
            let at_ms = ev.at_ms;
            for a in l9_kernel::step(&mut state, ev) {
                match a {
                    Action::StartTask { task, attempt }
                        if p.completed.contains_key(&names[task]) =>
                    {
                        log.push(
                            json!({"task": names[task], "kept": "finished by an earlier run"}),
                        );
                        events.push_back(Event::new(
                            at_ms,
                            EventKind::Succeeded { task, attempt, spend: Spend::default() },
                        ));
                    }
                    Action::StartTask { task, attempt } => {
                        let (kind, input) = &kinds[task];
                        let mut input = input.clone();
                        let budget = state.budget();
                        let share = (spends(kind, &input)
                            && (budget.tokens.is_some() || budget.micro_usd.is_some()))
                        .then(|| {
                            let spent = state.spent();
                            let (ht, hu) = held
                                .values()
                                .fold((0u64, 0u64), |a, s| (a.0 + s.tokens, a.1 + s.micro_usd));
                            // What is neither spent nor held is shared among the tasks that
                            // can start now (tasks still waiting for their dependencies get
                            // their share from what is left when they start), by weight
                            // (`budget_weight`, their size; 1 when not given): a one-call
                            // review does not get what a coding task needs.
                            let weight = |i: usize| {
                                kinds[i].1["budget_weight"]
                                    .as_f64()
                                    .filter(|w| *w > 0.0)
                                    .unwrap_or(1.0)
                            };
                            let statuses = state.statuses();
                            let waiting: f64 = weight(task)
                                + agent_tasks
                                    .iter()
                                    .filter(|i| **i != task && !started.contains(i))
                                    .filter(|i| {
                                        matches!(
                                            statuses.get(**i),
                                            Some(
                                                l9_kernel::TaskStatus::Ready
                                                    | l9_kernel::TaskStatus::Running { .. }
                                            )
                                        )
                                    })
                                    .map(|i| weight(*i))
                                    .sum::<f64>();
                            let mine = weight(task) / waiting;
                            let part = |limit: Option<u64>, used: u64| {
                                limit.map(|l| (l.saturating_sub(used) as f64 * mine).floor() as u64)
                            };
                            (
                                part(budget.tokens, spent.tokens + ht),
                                part(budget.micro_usd, spent.micro_usd + hu),
                            )
                        });
                        if let (Some((tokens, micro_usd)), Some(obj)) =
                            (share, input.as_object_mut())
                        {
                            obj.insert(
                                "budget".into(),
                                json!({"tokens": tokens, "micro_usd": micro_usd}),
                            );
                        }
                        started.insert(task);
                        let child = ctx.spawn_child(kind, input).await?;
                        if let Some((tokens, micro_usd)) = share {
                            let s = Spend {
                                tokens: tokens.unwrap_or(0),
                                micro_usd: micro_usd.unwrap_or(0),
                            };
                            held.insert(child, s);
                        }
                        running.insert(child, (task, attempt));
                    }
                    Action::AbortTask { task, attempt, .. } => {
                        let hit =
                            running.iter().find(|(_, v)| **v == (task, attempt)).map(|(k, _)| *k);
                        if let Some(child) = hit {
                            running.remove(&child);
                            ctx.cancel_child(child).await?;
                        }
                    }
                    Action::SetTimer { timer, at_ms } => {
                        timers.insert((at_ms, timer));
                    }
                    Action::AwaitApproval { task } => {
                        awaiting.insert(task);
                    }
                    Action::TaskEnded { task, status } => {
                        awaiting.remove(&task);
                        log.push(json!({"task": names[task], "status": status}));
                    }
                    Action::RunPaused { reason } => log.push(json!({"paused": reason})),
                    Action::RunResumed => log.push(json!("resumed")),
                    Action::RunFinished { outcome } => {
                        let statuses: Vec<Value> = state
                            .statuses()
                            .iter()
                            .enumerate()
                            .map(|(i, s)| json!({"task": names[i], "status": s, "attempts": state.attempts(i)}))
                            .collect();
                        return Ok(
                            json!({"outcome": outcome, "tasks": statuses, "spent": state.spent(), "cost_unknown": cost_unknown, "log": log}),
                        );
                    }
                }
            }
        }
        let now_ms = (ctx.now().await? - t0).num_milliseconds().max(0) as u64;
        // Due timers first.
        if let Some(&(at, timer)) = timers.iter().next()
            && at <= now_ms
        {
            timers.remove(&(at, timer));
            events.push_back(Event::new(now_ms, EventKind::TimerFired(timer)));
            continue;
        }
        // A child that ended.
        let ids: Vec<l9_types::TaskId> = running.keys().copied().collect();
        if !ids.is_empty()
            && let Some((child, r)) = ctx.poll_children(&ids).await?
        {
            if let Some((task, attempt)) = running.remove(&child) {
                let kind = match r {
                    // A child that reports what it spent (`l9.agent` does) feeds the budget.
                    Ok(v) => {
                        held.remove(&child);
                        // An external agent that does not report its cost: the plan's
                        // spend is then a lower bound, and says so.
                        cost_unknown |= v.pointer("/spend/cost_unknown") == Some(&json!(true));
                        let n = |k: &str| {
                            v.pointer(&format!("/spend/{k}")).and_then(Value::as_u64).unwrap_or(0)
                        };
                        EventKind::Succeeded {
                            task,
                            attempt,
                            spend: Spend { tokens: n("tokens"), micro_usd: n("micro_usd") },
                        }
                    }
                    Err(error) => EventKind::Failed {
                        task,
                        attempt,
                        error,
                        retryable: true,
                        spend: Spend::default(),
                    },
                };
                events.push_back(Event::new(now_ms, kind));
            }
            continue;
        }
        // Operators: approvals and run control.
        let mut steered = false;
        for task in awaiting.clone() {
            let name = &names[task];
            if ctx.poll_signal(&format!("approve:{name}")).await?.is_some() {
                events.push_back(Event::new(now_ms, EventKind::Approve { task }));
                steered = true;
            } else if let Some(v) = ctx.poll_signal(&format!("reject:{name}")).await? {
                let reason =
                    v.get("note").and_then(Value::as_str).unwrap_or("rejected").to_string();
                events.push_back(Event::new(now_ms, EventKind::Reject { task, reason }));
                steered = true;
            }
        }
        for (signal, kind) in [
            ("pause", EventKind::Pause),
            ("resume", EventKind::Resume),
            ("cancel", EventKind::CancelRun),
        ] {
            if ctx.poll_signal(signal).await?.is_some() {
                events.push_back(Event::new(now_ms, kind));
                steered = true;
            }
        }
        if let Some(b) = ctx.poll_signal("budget").await? {
            let budget: l9_kernel::Budget = serde_json::from_value(b).map_err(|e| {
                WfError::failed(format!("l9.plan: the budget signal is not a budget ({e})"))
            })?;
            events.push_back(Event::new(now_ms, EventKind::SetBudget(budget)));
            steered = true;
        }
        if steered || ctx.replayed_last() {
            continue;
        }
        // Nothing to do now: park until the next timer, or until a child or a signal wakes us.
        if let Some(&(at, _)) = timers.iter().next() {
            return Err(WfError::SleepUntil(t0 + chrono::Duration::milliseconds(at as i64)));
        }
        return Err(WfError::Waiting("plan tasks, approvals or run control".into()));
    }
}
