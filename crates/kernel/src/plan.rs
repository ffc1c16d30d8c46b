//! A plan: the DAG of tasks the scheduler executes, with limits, retries and budgets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Index of a task in its [`Plan`].
pub type TaskIx = usize;

/// Tokens and money a task spends (money in micro-dollars, so sums stay exact).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    pub tokens: u64,
    pub micro_usd: u64,
}

impl Spend {
    pub fn plus(self, o: Spend) -> Spend {
        Spend {
            tokens: self.tokens.saturating_add(o.tokens),
            micro_usd: self.micro_usd.saturating_add(o.micro_usd),
        }
    }
    pub fn minus(self, o: Spend) -> Spend {
        Spend {
            tokens: self.tokens.saturating_sub(o.tokens),
            micro_usd: self.micro_usd.saturating_sub(o.micro_usd),
        }
    }
}

/// Limits of a run. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub tokens: Option<u64>,
    pub micro_usd: Option<u64>,
    /// Wall time since the run started, in milliseconds.
    pub wall_ms: Option<u64>,
}

/// How a failed attempt is retried: exponential backoff with "equal jitter" (half the delay
/// fixed, half uniformly random from the run's seeded generator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, base_ms: 1_000, max_ms: 60_000 }
    }
}

impl RetryPolicy {
    /// The un-jittered delay before attempt `next_attempt` (2, 3, …).
    pub fn ceiling_ms(&self, next_attempt: u32) -> u64 {
        let exp = next_attempt.saturating_sub(2).min(40);
        self.base_ms.saturating_mul(1u64 << exp).min(self.max_ms.max(self.base_ms))
    }
}

/// One task of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub name: String,
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Concurrency key: tasks sharing a key share that key's limit (e.g. one repository).
    #[serde(default)]
    pub key: Option<String>,
    /// Indices of the tasks this one needs to have succeeded first.
    #[serde(default)]
    pub deps: Vec<TaskIx>,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Per-attempt timeout.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Waits for an explicit approve or reject before it may start.
    #[serde(default)]
    pub needs_approval: bool,
    /// What one attempt is expected to spend; reserved against the budget while running.
    #[serde(default)]
    pub estimate: Spend,
    /// Higher starts first among ready tasks.
    #[serde(default)]
    pub priority: i32,
}

fn default_queue() -> String {
    "default".into()
}

impl TaskSpec {
    pub fn new(name: impl Into<String>) -> Self {
        TaskSpec {
            name: name.into(),
            queue: default_queue(),
            key: None,
            deps: Vec::new(),
            retry: RetryPolicy::default(),
            timeout_ms: None,
            needs_approval: false,
            estimate: Spend::default(),
            priority: 0,
        }
    }
}

/// Why a plan is not executable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("task {task} depends on task {dep}, which does not exist")]
    UnknownDep { task: TaskIx, dep: TaskIx },
    #[error("task {0} depends on itself")]
    SelfDep(TaskIx),
    #[error("the dependencies form a cycle through task {0} ({1})")]
    Cycle(TaskIx, String),
    #[error("task {0} ({1}) has max_attempts 0; it needs at least 1")]
    NoAttempts(TaskIx, String),
}

/// A validated plan: acyclic, with dependents and interned queues and keys precomputed so
/// the scheduler does no string work per event.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) tasks: Vec<TaskSpec>,
    pub(crate) dependents: Vec<Vec<TaskIx>>,
    pub(crate) queue_of: Vec<usize>,
    pub(crate) key_of: Vec<Option<usize>>,
    pub(crate) queue_limits: Vec<Option<u32>>,
    pub(crate) key_limits: Vec<Option<u32>>,
    pub(crate) queue_names: Vec<String>,
}

/// Concurrency limits by queue name and by key. Absent means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    #[serde(default)]
    pub queues: BTreeMap<String, u32>,
    #[serde(default)]
    pub keys: BTreeMap<String, u32>,
}

impl Plan {
    pub fn new(tasks: Vec<TaskSpec>, limits: &Limits) -> Result<Plan, PlanError> {
        let n = tasks.len();
        let mut dependents = vec![Vec::new(); n];
        for (i, t) in tasks.iter().enumerate() {
            if t.retry.max_attempts == 0 {
                return Err(PlanError::NoAttempts(i, t.name.clone()));
            }
            for &d in &t.deps {
                if d >= n {
                    return Err(PlanError::UnknownDep { task: i, dep: d });
                }
                if d == i {
                    return Err(PlanError::SelfDep(i));
                }
                if !dependents[d].contains(&i) {
                    dependents[d].push(i);
                }
            }
        }
        // Kahn's algorithm: whatever is left unvisited is on a cycle.
        let mut indeg: Vec<usize> = tasks.iter().map(|t| dedup_len(&t.deps)).collect();
        let mut stack: Vec<TaskIx> = (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut seen = 0;
        while let Some(i) = stack.pop() {
            seen += 1;
            for &j in &dependents[i] {
                indeg[j] -= 1;
                if indeg[j] == 0 {
                    stack.push(j);
                }
            }
        }
        if seen < n {
            let i = (0..n).find(|&i| indeg[i] > 0).unwrap_or(0);
            return Err(PlanError::Cycle(i, tasks[i].name.clone()));
        }
        let mut queue_names: Vec<String> = Vec::new();
        let mut key_names: Vec<String> = Vec::new();
        let intern = |names: &mut Vec<String>, s: &str| match names.iter().position(|x| x == s) {
            Some(p) => p,
            None => {
                names.push(s.to_string());
                names.len() - 1
            }
        };
        let queue_of = tasks.iter().map(|t| intern(&mut queue_names, &t.queue)).collect();
        let key_of =
            tasks.iter().map(|t| t.key.as_deref().map(|k| intern(&mut key_names, k))).collect();
        let queue_limits = queue_names.iter().map(|q| limits.queues.get(q).copied()).collect();
        let key_limits = key_names.iter().map(|k| limits.keys.get(k).copied()).collect();
        Ok(Plan { tasks, dependents, queue_of, key_of, queue_limits, key_limits, queue_names })
    }

    pub fn tasks(&self) -> &[TaskSpec] {
        &self.tasks
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Tasks that depend directly on `ix`.
    pub fn dependents(&self, ix: TaskIx) -> &[TaskIx] {
        &self.dependents[ix]
    }

    /// The limit of `ix`'s queue and of its key, if any.
    pub fn limits_of(&self, ix: TaskIx) -> (Option<u32>, Option<u32>) {
        (self.queue_limits[self.queue_of[ix]], self.key_of[ix].and_then(|k| self.key_limits[k]))
    }

    pub fn queue_names(&self) -> &[String] {
        &self.queue_names
    }
}

fn dedup_len(deps: &[TaskIx]) -> usize {
    let mut v = deps.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}
