//! The journaling seam. The agent loop runs every model call and tool call through
//! [`Steps::step`] under a deterministic name; the durable runtime's implementation journals
//! it (a resumed run gets recorded results back instead of calling again), [`Direct`] just
//! runs it, and [`MemoryJournal`] keeps results in memory (tests, one-shot CLI runs).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use async_trait::async_trait;
use l9_types::Effect;
use serde_json::Value;

use crate::error::{AgentError, Result};

pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

#[async_trait]
pub trait Steps: Send + Sync {
    /// Runs `f` once under `name` (unique within the run) with effect class `effect`.
    async fn step<'a>(&self, name: &str, effect: Effect, f: StepFuture<'a>) -> Result<Value>;

    /// The task's allowance across all its calls (tokens, millionths of a dollar); `None`:
    /// no limit beyond the agent's own configuration.
    fn allowance(&self) -> (Option<u64>, Option<u64>) {
        (None, None)
    }

    /// A call could cross the allowance. By default the agent stops with the
    /// [`crate::BudgetStop`]; a durable run journals it, waits until the allowance is raised
    /// and returns `Ok` so the call is checked again.
    async fn budget_stop(&self, stop: crate::BudgetStop) -> Result<()> {
        Err(AgentError::Budget(stop))
    }
}

/// Runs every step, journals nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Direct;

#[async_trait]
impl Steps for Direct {
    async fn step<'a>(&self, _name: &str, _effect: Effect, f: StepFuture<'a>) -> Result<Value> {
        f.await.map_err(AgentError::Journal)
    }
}

/// Results kept by step name: a second run over the same journal returns recorded results
/// without running them. `fail_after` simulates a crash after that many new steps.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    pub entries: Mutex<BTreeMap<String, Value>>,
    pub order: Mutex<Vec<String>>,
    pub fail_after: Mutex<Option<usize>>,
}

#[async_trait]
impl Steps for MemoryJournal {
    async fn step<'a>(&self, name: &str, _effect: Effect, f: StepFuture<'a>) -> Result<Value> {
        if let Some(v) =
            self.entries.lock().map_err(|_| AgentError::Journal("poisoned".into()))?.get(name)
        {
            return Ok(v.clone());
        }
        {
            let mut fail =
                self.fail_after.lock().map_err(|_| AgentError::Journal("poisoned".into()))?;
            if let Some(n) = fail.as_mut() {
                if *n == 0 {
                    return Err(AgentError::Journal(format!("simulated crash before {name}")));
                }
                *n -= 1;
            }
        }
        let v = f.await.map_err(AgentError::Journal)?;
        self.entries
            .lock()
            .map_err(|_| AgentError::Journal("poisoned".into()))?
            .insert(name.to_string(), v.clone());
        self.order
            .lock()
            .map_err(|_| AgentError::Journal("poisoned".into()))?
            .push(name.to_string());
        Ok(v)
    }
}

/// The journaled steps of one coding task (`l9.agent`), by name: the names the cell and the
/// agent loop journal under are made here, and readers (progress, events, reports) parse
/// them back here — one format, one parser.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AgentStep {
    /// The task's git worktree and branch.
    Worktree,
    /// A hash of the prompt templates (a replay under changed templates diverges here).
    Templates,
    /// The coder's `turn`-th model call in `round` (`r1/coder/model#2`).
    Model { round: usize, turn: usize },
    /// The `k`-th tool call the coder asked for in that turn (`r1/coder/tool#2.0:write_file`).
    Tool { round: usize, turn: usize, k: usize, tool: String },
    /// The worktree saved (a git tree) before the external agent's run in `round`: a run cut
    /// short is re-run from it (`r1/snapshot`).
    Snapshot { round: usize },
    /// An external agent CLI's run in `round` (`r1/adapter:claude`).
    Adapter { round: usize, agent: String },
    /// The acceptance gate after the coder's round.
    Gate { round: usize },
    /// The reviewer's verdict on the round.
    Review { round: usize },
    /// The task's `n`-th stop at its budget (the call that would have crossed it was not
    /// made); the task then waits for a `budget` signal.
    BudgetStop { n: usize },
    /// The task's commit with trailers.
    Commit,
    /// The merge back into the base branch.
    Merge,
}

impl AgentStep {
    /// The prefix every step of the coder in `round` carries (`r1/coder/`).
    pub fn coder_prefix(round: usize) -> String {
        format!("r{round}/coder/")
    }

    /// The step's name as journaled.
    pub fn name(&self) -> String {
        match self {
            AgentStep::Worktree => "worktree".into(),
            AgentStep::Templates => "prompt templates".into(),
            AgentStep::Model { round, turn } => {
                format!("{}model#{turn}", Self::coder_prefix(*round))
            }
            AgentStep::Tool { round, turn, k, tool } => {
                format!("{}tool#{turn}.{k}:{tool}", Self::coder_prefix(*round))
            }
            AgentStep::Snapshot { round } => format!("r{round}/snapshot"),
            AgentStep::Adapter { round, agent } => format!("r{round}/adapter:{agent}"),
            AgentStep::Gate { round } => format!("r{round}/gate"),
            AgentStep::Review { round } => format!("r{round}/review"),
            AgentStep::BudgetStop { n } => format!("budget stop/{n}"),
            AgentStep::Commit => "commit".into(),
            AgentStep::Merge => "merge".into(),
        }
    }

    /// Parses a step name made by [`AgentStep::name`]; `None` for anything else.
    pub fn parse(name: &str) -> Option<AgentStep> {
        match name {
            "worktree" => return Some(AgentStep::Worktree),
            "prompt templates" => return Some(AgentStep::Templates),
            "commit" => return Some(AgentStep::Commit),
            "merge" => return Some(AgentStep::Merge),
            _ => {}
        }
        if let Some(n) = name.strip_prefix("budget stop/") {
            return Some(AgentStep::BudgetStop { n: n.parse().ok()? });
        }
        let (round, rest) = name.strip_prefix('r')?.split_once('/')?;
        let round: usize = round.parse().ok()?;
        match rest {
            "snapshot" => return Some(AgentStep::Snapshot { round }),
            "gate" => return Some(AgentStep::Gate { round }),
            "review" => return Some(AgentStep::Review { round }),
            _ => {}
        }
        if let Some(agent) = rest.strip_prefix("adapter:") {
            return Some(AgentStep::Adapter { round, agent: agent.to_string() });
        }
        let rest = rest.strip_prefix("coder/")?;
        if let Some(turn) = rest.strip_prefix("model#") {
            return Some(AgentStep::Model { round, turn: turn.parse().ok()? });
        }
        let (at, tool) = rest.strip_prefix("tool#")?.split_once(':')?;
        let (turn, k) = at.split_once('.')?;
        Some(AgentStep::Tool {
            round,
            turn: turn.parse().ok()?,
            k: k.parse().ok()?,
            tool: tool.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::AgentStep;

    #[test]
    fn agent_step_names_parse_back() {
        let all = [
            AgentStep::Worktree,
            AgentStep::Templates,
            AgentStep::Model { round: 2, turn: 11 },
            AgentStep::Tool { round: 1, turn: 3, k: 0, tool: "write_file".into() },
            AgentStep::Tool { round: 1, turn: 3, k: 2, tool: "run:x".into() },
            AgentStep::Adapter { round: 3, agent: "claude".into() },
            AgentStep::Snapshot { round: 2 },
            AgentStep::Gate { round: 1 },
            AgentStep::Review { round: 12 },
            AgentStep::BudgetStop { n: 2 },
            AgentStep::Commit,
            AgentStep::Merge,
        ];
        for s in all {
            assert_eq!(AgentStep::parse(&s.name()), Some(s.clone()), "{}", s.name());
        }
        for bad in ["", "r/gate", "rx/gate", "r1/coder/model#", "r1/coder/tool#1:x", "r1/other"] {
            assert_eq!(AgentStep::parse(bad), None, "{bad}");
        }
    }
}
