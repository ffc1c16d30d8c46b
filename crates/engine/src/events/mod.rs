//! A run as one typed event stream. Every [`RunEvent`] is derived from what the run
//! journaled (its own journal, its plan's, each task's) and from task states, by one
//! [`Follower`]: `l9 run` prints the events as they land, `l9 watch` follows a run started
//! elsewhere, `l9 show` lists the same events after the fact (a follower polled once over
//! the finished run), and the HTTP API streams them. Because all of them read the journal
//! through the same code, the stream and the report cannot disagree.
//!
//! Two events are inferred from the code's order rather than read: a stage starts when the
//! one before it finishes, and a gate starts when the coder's round ends (its last model
//! call asked for no tool, or the external agent returned). Escalations and waits are read
//! from task states, so one that was already answered is not shown again after the fact.

mod follower;

use chrono::{DateTime, Utc};
pub use follower::{Follower, LiveLine};
pub use l9_agents::steps::AgentStep;
use l9_kernel::journal::{EntryKind, StepKey};
use l9_store::{JournalStatus, TaskState};
use l9_types::{RunId, TaskId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pipeline::RunStep;
use crate::{Engine, Result};

/// The stages of the loop, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// compile → challenge → deliberate → plan candidates.
    Understand,
    Simulate,
    Choose,
    Execute,
    Reflect,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Understand => "compile → challenge → deliberate → plan",
            Stage::Simulate => "simulate",
            Stage::Choose => "choose",
            Stage::Execute => "execute",
            Stage::Reflect => "reflect",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    Cancelled,
}

/// Lines of gate and agent output kept in an event.
pub(crate) const TAIL_LINES: usize = 20;

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        run: String,
        spec: String,
    },
    StageStarted {
        stage: Stage,
    },
    StageFinished {
        stage: Stage,
        /// One line for people (`5 nodes, 2 finding(s), 3 plan candidates`).
        summary: String,
        /// The stage ended without what the run needs from it (a spec that yields no plan):
        /// the run stops here.
        #[serde(default)]
        failed: bool,
    },
    TaskStarted {
        task: String,
        /// The plan's name for it (`T3-implement-…`).
        name: String,
        /// The plan's task kind (design, test, implement, review, integrate, verify).
        kind: String,
        /// Who does the work (`provider:NAME`, `adapter:NAME`, `scripted example`), or
        /// `none` for a step that is only recorded.
        executor: String,
    },
    AgentTurn {
        task: String,
        round: usize,
        turn: usize,
        /// Tools the coder called in this turn, in order.
        tools: Vec<String>,
        /// Files the turn's tool calls changed.
        files_changed: Vec<String>,
        /// What the coder said (first lines; the final turn's summary).
        text: String,
    },
    ModelCall {
        task: String,
        /// coder or reviewer.
        role: String,
        step: String,
        input_tokens: u64,
        output_tokens: u64,
        cost_micro_usd: u64,
    },
    GateStarted {
        task: String,
        round: usize,
        command: Option<String>,
    },
    GateFinished {
        task: String,
        round: usize,
        command: Option<String>,
        passed: bool,
        /// The gate's exit code, where it was recorded.
        exit_code: Option<i32>,
        /// The last [`TAIL_LINES`] lines of its output.
        output_tail: String,
    },
    ReviewVerdict {
        task: String,
        round: usize,
        verdict: String,
        comments: String,
    },
    Merge {
        task: String,
        how: String,
        commit: Option<String>,
    },
    TaskFinished {
        task: String,
        name: String,
        state: String,
        error: Option<String>,
    },
    /// Spend so far (all model calls of the run) against the budget and the forecast.
    BudgetUpdate {
        spent_tokens: u64,
        spent_micro_usd: u64,
        limit_tokens: Option<u64>,
        limit_micro_usd: Option<u64>,
        forecast_cost_usd: Option<f64>,
    },
    /// The run waits for a person; `resolve` is the command that continues it.
    Waiting {
        reason: String,
        resolve: String,
    },
    /// An operator answered an approval gate of the plan (`l9 tasks approve|reject`, the API,
    /// MCP or the dashboard): the record of who let what be built, kept after the wait is over.
    GateAnswered {
        /// The plan task the gate holds (`implement:script`).
        gate: String,
        /// `approved` or `rejected`.
        decision: String,
        /// The operator's note (`--note`), if any.
        note: Option<String>,
    },
    /// A task paused because it cannot decide alone (an irreversible step's outcome is
    /// unknown, a replay diverged); `resolve` is the command that answers it.
    Escalation {
        task: String,
        reason: String,
        resolve: String,
    },
    RunFinished {
        outcome: Outcome,
        error: Option<String>,
    },
}

/// An event with where it came from: `id` is unique within the run and stable (the task's
/// short id, the journal sequence number and the event's place among that entry's events),
/// `at` is when the journal recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: RunEvent,
}

/// A journal entry with its value read back (from its blob where it was stored as one).
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    /// The key as journaled (`step:r1/gate#0`).
    pub raw_key: String,
    pub key: Option<StepKey>,
    pub status: JournalStatus,
    pub at: DateTime<Utc>,
    pub value: Value,
}

impl Entry {
    /// The run step this entry completed, if it is one.
    pub fn run_step(&self) -> Option<RunStep> {
        let k = self.key.as_ref()?;
        (k.kind == EntryKind::Step && self.status == JournalStatus::Completed)
            .then(|| RunStep::parse(&k.name))
            .flatten()
    }

    /// The agent step this entry completed, if it is one.
    pub fn agent_step(&self) -> Option<AgentStep> {
        let k = self.key.as_ref()?;
        (k.kind == EntryKind::Step && self.status == JournalStatus::Completed)
            .then(|| AgentStep::parse(&k.name))
            .flatten()
    }
}

impl Engine {
    /// A run's journal with every value read back, in sequence order.
    pub(crate) async fn journal_entries(&self, run: RunId) -> Result<Vec<Entry>> {
        let q = self.store().tasks();
        let mut out = Vec::new();
        for row in q.load_journal(run).await? {
            let value = match l9_store::journal_value_blob(&row.body) {
                Some(h) => q
                    .journal_blob(&h)
                    .await?
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .unwrap_or(Value::Null),
                None => row.body.get("value").cloned().unwrap_or(Value::Null),
            };
            out.push(Entry {
                seq: row.seq,
                key: StepKey::parse(&row.key),
                raw_key: row.key,
                status: row.status,
                at: row.at,
                value,
            });
        }
        Ok(out)
    }

    /// A task's journal (its run is the task itself), values read back.
    pub async fn task_journal(&self, task: TaskId) -> Result<Vec<Entry>> {
        self.journal_entries(l9_tasks::run_of(task)).await
    }

    /// Every event of a run so far, as the journal and task states tell it now.
    pub async fn run_events(&self, run: TaskId) -> Result<Vec<Event>> {
        Follower::new(run).poll(self).await
    }
}

fn short(id: TaskId) -> String {
    id.to_string().chars().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect()
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn first_lines(s: &str, n: usize) -> String {
    s.trim().lines().take(n).collect::<Vec<_>>().join("\n")
}

fn ended(state: TaskState) -> bool {
    matches!(state, TaskState::Succeeded | TaskState::Dead | TaskState::Cancelled)
}
