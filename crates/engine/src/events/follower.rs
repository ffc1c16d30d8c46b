//! The follower: reads a run's journals (the run's, its plan's, each task's) and task states
//! and turns what is new into [`RunEvent`]s; tails a running gate's live copy.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use l9_agents::steps::AgentStep;
use l9_kernel::journal::{EntryKind, StepKey};
use l9_store::{JournalStatus, TaskFilter, TaskRecord, TaskState};
use l9_types::TaskId;
use serde_json::Value;

use super::{Entry, Event, Outcome, RunEvent, Stage, TAIL_LINES, ended, first_lines, short, tail};
use crate::pipeline::{PLAN_KIND, RunStep};
use crate::stages::{Recalled, Reflected, Simulated, Understood, read};
use crate::{Engine, Result};

mod agent;

/// A coder turn whose tool results are still coming in.
#[derive(Debug, Default, Clone)]
struct Turn {
    round: usize,
    turn: usize,
    at: Option<DateTime<Utc>>,
    id: String,
    text: String,
    /// (tool name, the files its arguments name) per call the model asked for.
    calls: Vec<(String, Vec<String>)>,
    results: usize,
    changed: Vec<String>,
}

/// A line a running gate printed (read from its live copy; not an event: the gate's
/// journaled result is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLine {
    pub task: String,
    pub round: usize,
    pub line: String,
}

/// A gate that started and has not finished: its live copy and how far it was read.
#[derive(Debug, Clone)]
struct OpenGate {
    round: usize,
    log: std::path::PathBuf,
    read: u64,
    partial: String,
}

/// What the follower knows of one task of the plan.
#[derive(Debug, Default, Clone)]
struct TaskSeen {
    /// The task's worktree (from its journal), where its gate's live copy sits beside.
    worktree: Option<std::path::PathBuf>,
    gate: Option<OpenGate>,
    next_seq: u64,
    turn: Option<Turn>,
    done: bool,
    escalated: Option<String>,
    /// Why it waits, while its last entry is a budget stop.
    budget_wait: Option<String>,
    /// Its state was `waiting` at the last poll.
    waiting_now: bool,
}

/// Follows one run: each [`Follower::poll`] returns the events that happened since the last.
#[derive(Debug, Clone)]
pub struct Follower {
    run: TaskId,
    started: bool,
    next_seq: u64,
    plan: Option<TaskId>,
    tasks: BTreeMap<TaskId, TaskSeen>,
    spent: (u64, u64),
    limits: (Option<u64>, Option<u64>),
    plan_budget: bool,
    forecast_cost_usd: Option<f64>,
    waiting: Option<String>,
    /// The plan has approval gates (read with its budget).
    gated: bool,
    /// Why the plan waits for an operator's approval, as of the last poll.
    approval_wait: Option<String>,
    /// The wait the journal recorded last (for a provider), until the plan was spawned: what
    /// the run waits for whenever its state is `waiting` again (a poll that read the state
    /// just before it turned `waiting` cleared `waiting`, and nothing new came to set it).
    journal_wait: Option<String>,
    finished: bool,
    emitted: HashSet<String>,
    live: Vec<LiveLine>,
}

/// Events of one journal entry, numbered in order.
struct Batch<'a> {
    out: &'a mut Vec<Event>,
    emitted: &'a mut HashSet<String>,
    base: String,
    at: DateTime<Utc>,
    n: usize,
}

impl Batch<'_> {
    fn push(&mut self, event: RunEvent) {
        let id = format!("{}.{}", self.base, self.n);
        self.n += 1;
        if self.emitted.insert(id.clone()) {
            self.out.push(Event { id, at: self.at, event });
        }
    }
}

impl Follower {
    pub fn new(run: TaskId) -> Self {
        Follower {
            run,
            started: false,
            next_seq: 0,
            plan: None,
            tasks: BTreeMap::new(),
            spent: (0, 0),
            limits: (None, None),
            plan_budget: false,
            forecast_cost_usd: None,
            waiting: None,
            gated: false,
            approval_wait: None,
            journal_wait: None,
            finished: false,
            emitted: HashSet::new(),
            live: Vec::new(),
        }
    }

    /// Lines running gates printed since the last call (read during [`Follower::poll`]).
    pub fn live(&mut self) -> Vec<LiveLine> {
        std::mem::take(&mut self.live)
    }

    /// Whether the run has ended (its `RunFinished` was returned).
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Whether the run now waits for a person (the reason), as of the last poll: its own
    /// wait, a task of its plan stopped at its budget, or a task of its plan at an approval
    /// gate.
    pub fn waiting(&self) -> Option<&str> {
        self.waiting
            .as_deref()
            .or_else(|| {
                self.tasks
                    .values()
                    .find(|s| !s.done && s.waiting_now)
                    .and_then(|s| s.budget_wait.as_deref())
            })
            .or(self.approval_wait.as_deref())
    }

    /// New events since the last poll, in the order the journal holds them per task. A poll
    /// that fails (a busy or unreachable store) changes nothing: the next poll returns every
    /// event this one would have, so a reader that retries misses none.
    pub async fn poll(&mut self, engine: &Engine) -> Result<Vec<Event>> {
        // The state to go back to, without the (large) set of emitted ids: what a failed poll
        // added to it is taken out again below.
        let emitted = std::mem::take(&mut self.emitted);
        let saved = self.clone();
        self.emitted = emitted;
        let mut out = Vec::new();
        match self.poll_once(engine, &mut out).await {
            Ok(()) => Ok(out),
            Err(e) => {
                let mut emitted = std::mem::take(&mut self.emitted);
                for ev in &out {
                    emitted.remove(&ev.id);
                }
                *self = saved;
                self.emitted = emitted;
                Err(e)
            }
        }
    }

    async fn poll_once(&mut self, engine: &Engine, out: &mut Vec<Event>) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        let run = engine.task(self.run).await?;
        let rs = short(self.run);
        if !self.started {
            self.started = true;
            self.limits = (
                run.payload["budget"]["tokens"].as_u64(),
                run.payload["budget"]["micro_usd"].as_u64(),
            );
            let mut b = self.batch(out, format!("{rs}:start"), run.created_at);
            b.push(RunEvent::RunStarted {
                run: run.id.to_string(),
                spec: run.payload["spec"].as_str().unwrap_or("").to_string(),
            });
            b.push(RunEvent::StageStarted { stage: Stage::Understand });
        }
        // The run's own journal.
        let journal = engine.journal_entries(l9_tasks::run_of(self.run)).await?;
        // The plan's tasks come between the plan's spawn and whatever the run journaled
        // after it (its join, reflect), so they are read before those entries.
        let from = self.next_seq;
        let mut tasks_read = false;
        for e in journal.iter().filter(|e| e.seq >= from) {
            if let Some(plan) = self.plan
                && !tasks_read
            {
                self.plan_tasks(engine, plan, out).await?;
                tasks_read = true;
            }
            self.next_seq = e.seq + 1;
            self.run_entry(e, &rs, &run, out);
        }
        if let Some(plan) = self.plan
            && !tasks_read
        {
            self.plan_tasks(engine, plan, out).await?;
        }
        // The run's state: waiting for a person, paused, or ended.
        self.run_state(&run, &rs, out);
        Ok(())
    }

    fn batch<'a>(
        &'a mut self,
        out: &'a mut Vec<Event>,
        base: String,
        at: DateTime<Utc>,
    ) -> Batch<'a> {
        Batch { out, emitted: &mut self.emitted, base, at, n: 0 }
    }

    fn run_entry(&mut self, e: &Entry, rs: &str, run: &TaskRecord, out: &mut Vec<Event>) {
        let v = &e.value;
        let key = e.key.clone();
        let mut forecast = self.forecast_cost_usd;
        let mut plan = self.plan;
        let mut waiting = None;
        let mut answered = false;
        {
            let mut b = self.batch(out, format!("{rs}:{}", e.seq), e.at);
            match e.run_step() {
                Some(RunStep::Front) => {
                    let u = read::<Understood>(v);
                    let summary = match &u {
                        Some(u) => format!(
                            "{} nodes, {} finding(s) ({} error(s)), {} hidden constraint(s) known, {} plan candidates",
                            u.nodes,
                            u.findings,
                            u.errors,
                            u.hidden_constraints,
                            u.candidates.len()
                        ),
                        None => "done".into(),
                    };
                    // No plan candidates: the run ends here ("the spec yields no plan").
                    let failed = u.is_some_and(|u| u.candidates.is_empty());
                    b.push(RunEvent::StageFinished { stage: Stage::Understand, summary, failed });
                    if !failed {
                        b.push(RunEvent::StageStarted { stage: Stage::Simulate });
                    }
                }
                Some(RunStep::Simulate) => {
                    let sim = read::<Simulated>(v);
                    forecast = sim.as_ref().and_then(|s| s.forecast()).map(|m| m.expected_cost_usd);
                    let summary = sim
                        .and_then(|s| s.ranked.first().map(|r| r.explanation.clone()))
                        .unwrap_or_else(|| "ranked".into());
                    b.push(RunEvent::StageFinished {
                        stage: Stage::Simulate,
                        summary,
                        failed: false,
                    });
                    b.push(RunEvent::StageStarted { stage: Stage::Choose });
                }
                Some(RunStep::Recall) => {
                    let r = read::<Recalled>(v);
                    let n: usize =
                        r.as_ref().map_or(0, |r| r.insights.values().map(Vec::len).sum());
                    let route = r
                        .and_then(|r| r.route.and_then(|x| x.provider))
                        .map_or(String::new(), |p| format!("; coder routed to {p}"));
                    b.push(RunEvent::StageFinished {
                        stage: Stage::Choose,
                        summary: format!(
                            "plan stored; {n} heuristic(s) recalled for the coder{route}"
                        ),
                        failed: false,
                    });
                }
                Some(RunStep::WaitingForProvider) => {
                    let reason = v.as_str().unwrap_or("").to_string();
                    waiting = Some(reason.clone());
                    b.push(RunEvent::Waiting { reason, resolve: format!("l9 resume {}", run.id) });
                }
                Some(RunStep::Reflect) => {
                    let n = read::<Reflected>(v).map_or(0, |r| r.deltas);
                    b.push(RunEvent::StageFinished {
                        stage: Stage::Reflect,
                        summary: format!("{n} observation(s) recorded in the world model"),
                        failed: false,
                    });
                }
                Some(RunStep::CoderConfigured | RunStep::Integration) | None => {}
            }
            if let Some(k) = &key
                && e.status == JournalStatus::Completed
            {
                if k.kind == EntryKind::Child && k.name == PLAN_KIND {
                    plan = v.as_str().and_then(|s| s.parse().ok());
                    answered = true;
                    b.push(RunEvent::StageStarted { stage: Stage::Execute });
                } else if k.kind == EntryKind::Join && plan.is_some_and(|p| p.to_string() == k.name)
                {
                    let outcome = v["outcome"].as_str().unwrap_or("ended").to_lowercase();
                    b.push(RunEvent::StageFinished {
                        stage: Stage::Execute,
                        failed: outcome != "succeeded",
                        summary: format!("plan {outcome}"),
                    });
                    b.push(RunEvent::StageStarted { stage: Stage::Reflect });
                }
            }
            // A finished plan's failure is journaled as the join's failure.
            if let Some(k) = &key
                && e.status == JournalStatus::Failed
                && k.kind == EntryKind::Join
                && plan.is_some_and(|p| p.to_string() == k.name)
            {
                b.push(RunEvent::StageFinished {
                    stage: Stage::Execute,
                    summary: "plan failed".into(),
                    failed: true,
                });
                b.push(RunEvent::StageStarted { stage: Stage::Reflect });
            }
        }
        self.forecast_cost_usd = forecast;
        self.plan = plan;
        if waiting.is_some() {
            self.journal_wait.clone_from(&waiting);
            self.waiting = waiting;
        }
        // Past the wait (the plan was spawned): whatever the run waits for now is its plan.
        if answered {
            self.waiting = None;
            self.journal_wait = None;
        }
    }

    /// The plan's tasks, under the plan's budget (`l9 resume --budget-usd` may have changed
    /// the run's).
    async fn plan_tasks(
        &mut self,
        engine: &Engine,
        plan: TaskId,
        out: &mut Vec<Event>,
    ) -> Result<()> {
        if !self.plan_budget {
            let p = engine.task(plan).await?;
            self.limits =
                (p.payload["budget"]["tokens"].as_u64(), p.payload["budget"]["micro_usd"].as_u64());
            self.gated = crate::approvals::has_gates(&p.payload);
            self.plan_budget = true;
        }
        let first_new = out.len();
        let f = TaskFilter { parent: Some(plan), ..Default::default() };
        let mut kids = engine.list_tasks(&f, None, 10_000).await?.tasks;
        if self.gated {
            self.approvals(engine, plan, &kids, out).await?;
        }
        // The coder tasks an integrate step starts (fixes, conflict resolutions) belong to
        // the plan's story too.
        let mut nested = Vec::new();
        for k in kids.iter().filter(|k| matches!(k.kind.as_str(), "l9.integrate" | "l9.review")) {
            let f = TaskFilter { parent: Some(k.id), ..Default::default() };
            nested.extend(engine.list_tasks(&f, None, 100).await?.tasks);
        }
        kids.extend(nested);
        kids.sort_by_key(|t| (t.created_at, t.id));
        for t in kids {
            let ts = short(t.id);
            let seen = self.tasks.entry(t.id).or_default();
            if seen.done {
                continue;
            }
            let name = t.payload["plan_task"]
                .as_str()
                .or_else(|| t.payload["stage"].as_str())
                .unwrap_or(&t.kind)
                .to_string();
            let first = seen.next_seq == 0 && !self.emitted.contains(&format!("{ts}:start.0"));
            if first {
                let kind = t.payload["plan_kind"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| name.split('-').nth(1).map(str::to_string))
                    .unwrap_or_else(|| t.kind.clone());
                let executor = t.payload["executor"].as_str().unwrap_or("none").to_string();
                let mut b = self.batch(out, format!("{ts}:start"), t.created_at);
                b.push(RunEvent::TaskStarted {
                    task: t.id.to_string(),
                    name: name.clone(),
                    kind,
                    executor,
                });
            }
            if t.kind == "l9.agent" {
                let journal = engine.journal_entries(l9_tasks::run_of(t.id)).await?;
                let from = self.tasks.get(&t.id).map_or(0, |s| s.next_seq);
                for e in journal.iter().filter(|e| e.seq >= from) {
                    self.agent_entry(&t, &ts, e, out);
                }
                self.read_gate(t.id);
            } else if matches!(t.kind.as_str(), "l9.integrate" | "l9.verify" | "l9.review") {
                let journal = engine.journal_entries(l9_tasks::run_of(t.id)).await?;
                let from = self.tasks.get(&t.id).map_or(0, |s| s.next_seq);
                for e in journal.iter().filter(|e| e.seq >= from) {
                    self.check_entry(&t, &ts, e, out);
                }
            }
            let seen = self.tasks.entry(t.id).or_default();
            seen.waiting_now = t.state == TaskState::Waiting;
            if t.state == TaskState::Waiting
                && let Some(note) = t.error.as_deref().and_then(|n| n.strip_prefix("paused: "))
            {
                if seen.escalated.as_deref() != Some(note) {
                    seen.escalated = Some(note.to_string());
                    let id = format!("{ts}:paused:{}", t.updated_at.timestamp_millis());
                    let mut b = self.batch(out, id, t.updated_at);
                    b.push(escalation(t.id, note));
                }
            } else if t.state != TaskState::Waiting {
                seen.escalated = None;
            }
            if ended(t.state) {
                self.tasks.entry(t.id).or_default().done = true;
                let mut b = self.batch(out, format!("{ts}:end"), t.updated_at);
                b.push(RunEvent::TaskFinished {
                    task: t.id.to_string(),
                    name,
                    state: t.state.as_str().to_string(),
                    error: t.error.clone(),
                });
            }
        }
        // Tasks overlap (an integrate step's fix task runs inside it): what this poll found
        // is told in the order it happened across tasks, each task's own events in their
        // journal order.
        let found: Vec<Event> = out.drain(first_new..).collect();
        out.extend(interleave(found));
        Ok(())
    }

    /// The plan's tasks at an approval gate now: a `Waiting` event for each that came to
    /// wait since the last poll, and the run waits while any does.
    async fn approvals(
        &mut self,
        engine: &Engine,
        plan: TaskId,
        kids: &[TaskRecord],
        out: &mut Vec<Event>,
    ) -> Result<()> {
        let p = engine.task(plan).await?;
        let (_, gates) = engine.gates_among(&p, kids).await?;
        let ps = short(plan);
        for g in &gates {
            let run = self.run;
            let mut b = self.batch(out, format!("{ps}:approval:{}", g.task), p.updated_at);
            b.push(RunEvent::Waiting {
                reason: g.describe(),
                resolve: format!(
                    "l9 tasks approve {run} (or l9 tasks reject {run} --note WHY), then l9 resume {run}"
                ),
            });
        }
        self.approval_wait = gates.first().map(|g| g.describe());
        // The answers given, each once: the plan takes them when it reaches the gate, but the
        // operator's decision is the moment to record.
        for sig in engine.store().tasks().signals(plan).await? {
            let (gate, decision) = match sig.name.split_once(':') {
                Some(("approve", g)) => (g, "approved"),
                Some(("reject", g)) => (g, "rejected"),
                _ => continue,
            };
            let note = sig.payload["note"].as_str().map(str::to_string);
            let mut b = self.batch(out, format!("{ps}:answer:{}:{}", sig.name, sig.seq), sig.at);
            b.push(RunEvent::GateAnswered {
                gate: gate.to_string(),
                decision: decision.into(),
                note,
            });
        }
        Ok(())
    }

    /// A gate run of an integrate or verify step (`integration gate N`, `evidence N`,
    /// `project tests N`).
    fn check_entry(&mut self, t: &TaskRecord, ts: &str, e: &Entry, out: &mut Vec<Event>) {
        self.tasks.entry(t.id).or_default().next_seq = e.seq + 1;
        let Some(key) = e.key.as_ref().filter(|_| e.status == JournalStatus::Completed) else {
            return;
        };
        let review_round = match key.name.as_str() {
            "review" => Some(1),
            n => n.strip_prefix("review ").and_then(|r| r.parse::<usize>().ok()),
        };
        if let Some(round) = review_round {
            let v = &e.value;
            let mut b = self.batch(out, format!("{ts}:{}", e.seq), e.at);
            b.push(RunEvent::ReviewVerdict {
                task: t.id.to_string(),
                round,
                verdict: v["review"]["verdict"].as_str().unwrap_or("?").to_string(),
                comments: v["review"]["comments"].as_str().unwrap_or("").to_string(),
            });
            return;
        }
        let is_gate = ["integration gate ", "evidence ", "project tests "]
            .iter()
            .any(|p| key.name.starts_with(p) && key.name[p.len()..].parse::<u32>().is_ok());
        if !is_gate {
            return;
        }
        let v = &e.value;
        let mut b = self.batch(out, format!("{ts}:{}", e.seq), e.at);
        b.push(RunEvent::GateFinished {
            task: t.id.to_string(),
            round: 0,
            command: v["command"].as_str().map(str::to_string),
            passed: v["passed"] == Value::Bool(true),
            exit_code: v["exit_code"].as_i64().and_then(|c| i32::try_from(c).ok()),
            output_tail: tail(v["tail"].as_str().unwrap_or(""), TAIL_LINES),
        });
    }

    /// New complete lines of `task`'s running gate, from its live copy.
    fn read_gate(&mut self, task: TaskId) {
        use std::io::{Read as _, Seek as _};
        let Some(seen) = self.tasks.get_mut(&task) else { return };
        let Some(g) = seen.gate.as_mut() else { return };
        let Ok(mut f) = std::fs::File::open(&g.log) else { return };
        let len = f.metadata().map_or(0, |m| m.len());
        if len < g.read {
            g.read = 0; // a new copy (the gate was run again)
        }
        if f.seek(std::io::SeekFrom::Start(g.read)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        // At most 64 KiB a poll: a chatty gate cannot flood the follower.
        if f.take(64 * 1024).read_to_end(&mut buf).is_err() {
            return;
        }
        g.read += buf.len() as u64;
        g.partial.push_str(&String::from_utf8_lossy(&buf));
        while let Some(i) = g.partial.find('\n') {
            let line: String = g.partial.drain(..=i).collect();
            self.live.push(LiveLine {
                task: task.to_string(),
                round: g.round,
                line: line.trim_end().to_string(),
            });
        }
    }

    fn run_state(&mut self, run: &TaskRecord, rs: &str, out: &mut Vec<Event>) {
        if ended(run.state) {
            self.finished = true;
            self.waiting = None;
            let outcome = match run.state {
                TaskState::Succeeded => Outcome::Succeeded,
                TaskState::Cancelled => Outcome::Cancelled,
                _ => Outcome::Failed,
            };
            let mut b = self.batch(out, format!("{rs}:end"), run.updated_at);
            b.push(RunEvent::RunFinished { outcome, error: run.error.clone() });
            return;
        }
        if run.state == TaskState::Waiting
            && let Some(note) = run.error.as_deref().and_then(|n| n.strip_prefix("paused: "))
        {
            let id = format!("{rs}:paused:{}", run.updated_at.timestamp_millis());
            self.waiting = Some(note.to_string());
            let mut b = self.batch(out, id, run.updated_at);
            b.push(escalation(run.id, note));
        } else if run.state != TaskState::Waiting {
            // Running again: whatever it waited for was answered.
            self.waiting = None;
        } else if self.waiting.is_none() {
            self.waiting.clone_from(&self.journal_wait);
        }
    }
}

/// A task paused on `note` (the runtime's reason, which names the step in backquotes), and
/// the command that answers it.
fn escalation(task: TaskId, note: &str) -> RunEvent {
    let step = note.split('`').nth(1).filter(|k| StepKey::parse(k).is_some());
    let resolve = match step {
        Some(k) => format!(
            "l9 tasks resolve {task} --step {k} --rerun (it did not happen) or --done JSON (it did, with this result)"
        ),
        None => format!("l9 tasks show {task} (the note names the step), then l9 tasks resolve"),
    };
    RunEvent::Escalation { task: task.to_string(), reason: note.to_string(), resolve }
}

/// The model call a journaled answer records (a coder turn's `ChatResponse`, or a review
/// with its `usage` and `cost_micro_usd`), and what it spent: (tokens, µ$).
fn model_call(task: &str, role: &str, step: String, v: &Value) -> (RunEvent, (u64, u64)) {
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let (i, o, cost) = (n("/usage/input_tokens"), n("/usage/output_tokens"), n("/cost_micro_usd"));
    let call = RunEvent::ModelCall {
        task: task.to_string(),
        role: role.to_string(),
        step,
        input_tokens: i,
        output_tokens: o,
        cost_micro_usd: cost,
    };
    (call, (i + o, cost))
}

/// A gate that just started in `worktree` (unknown: it cannot be followed live).
fn open_gate(worktree: Option<&std::path::Path>, round: usize) -> Option<OpenGate> {
    worktree.map(|w| OpenGate {
        round,
        log: l9_agents::tools::live_gate_log(w),
        read: 0,
        partial: String::new(),
    })
}

/// Merges the events of several tasks by time, keeping each task's own events (their ids'
/// `task:` prefix) in the order they were made.
fn interleave(events: Vec<Event>) -> Vec<Event> {
    use std::collections::VecDeque;
    let mut groups: Vec<(String, VecDeque<Event>)> = Vec::new();
    for e in events {
        let key = e.id.split(':').next().unwrap_or("").to_string();
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push_back(e),
            None => groups.push((key, VecDeque::from([e]))),
        }
    }
    let mut out = Vec::new();
    loop {
        let next =
            groups.iter().enumerate().filter_map(|(i, g)| g.1.front().map(|e| (e.at, i))).min();
        let Some((_, i)) = next else { return out };
        if let Some(e) = groups[i].1.pop_front() {
            out.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::tail;
    use super::*;

    #[test]
    fn an_escalation_names_the_one_command_that_answers_it() {
        let task: TaskId = "01a21b17-4335-7425-a611-788049e6ddd0".parse().unwrap();
        let reason = l9_kernel::journal::decide(
            Some(&l9_kernel::journal::Recorded::Started),
            &l9_types::Effect::Irreversible,
            "step:charge#0",
        );
        let l9_kernel::journal::Decision::Escalate(note) = reason else { panic!("{reason:?}") };
        let RunEvent::Escalation { resolve, .. } = escalation(task, &note) else { panic!() };
        assert!(
            resolve.starts_with(&format!("l9 tasks resolve {task} --step step:charge#0 --rerun")),
            "{resolve}"
        );
        let RunEvent::Escalation { resolve, .. } = escalation(task, "diverged somewhere") else {
            panic!()
        };
        assert!(resolve.contains(&format!("l9 tasks show {task}")), "{resolve}");
    }

    /// The run journals "waiting for a provider" and then turns Waiting. A poll can read the
    /// entry but the run's state from just before it turned (still Running): the wait must
    /// come back on the next poll, which sees Waiting and no new entry. Both orders.
    #[test]
    fn a_journaled_wait_outlives_a_state_read_from_before_the_run_turned_waiting() {
        let run_id: TaskId = "01a21b17-4335-7425-a611-788049e6ddd0".parse().unwrap();
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let record = |state: TaskState| {
            crate::approvals::record(run_id, "l9.run", serde_json::json!({}), state, at)
        };
        let name = RunStep::WaitingForProvider.name();
        let entry = Entry {
            seq: 3,
            raw_key: format!("step:{name}#0"),
            key: Some(StepKey { kind: EntryKind::Step, name: name.into(), n: 0 }),
            status: JournalStatus::Completed,
            at,
            value: serde_json::json!("no provider answers: set one with l9 resume"),
        };
        let (running, waiting) = (record(TaskState::Leased), record(TaskState::Waiting));
        let reason = Some("no provider answers: set one with l9 resume");
        // The entry and a state from before the turn in one poll, then the turned state.
        let mut f = Follower::new(run_id);
        let mut out = Vec::new();
        f.run_entry(&entry, "r", &running, &mut out);
        f.run_state(&running, "r", &mut out);
        assert_eq!(f.waiting(), None, "the state read says running");
        f.run_state(&waiting, "r", &mut out);
        assert_eq!(f.waiting(), reason, "the journaled wait is back");
        // The entry with the turned state in the same poll.
        let mut f = Follower::new(run_id);
        f.run_entry(&entry, "r", &waiting, &mut out);
        f.run_state(&waiting, "r", &mut out);
        assert_eq!(f.waiting(), reason);
        // Answered: running again, nothing waits.
        f.run_state(&running, "r", &mut out);
        assert_eq!(f.waiting(), None);
    }

    #[test]
    fn tails_keep_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn tasks_interleave_by_time_each_in_its_own_order() {
        let at = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap_or_default();
        let ev = |id: &str, s: i64| Event {
            id: id.into(),
            at: at(s),
            event: RunEvent::Waiting { reason: id.into(), resolve: String::new() },
        };
        // Task a's second event carries an earlier time than its first (a turn reported
        // under the time of the call that began it): it stays second.
        let got =
            interleave(vec![ev("a:1.0", 10), ev("a:2.0", 5), ev("b:1.0", 7), ev("b:2.0", 20)]);
        let ids: Vec<&str> = got.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["b:1.0", "a:1.0", "a:2.0", "b:2.0"]);
    }
}
