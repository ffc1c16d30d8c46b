//! The scheduler: `step(&mut RunState, Event) -> Vec<Action>`.
//!
//! Events carry the time they happened (`at_ms`, milliseconds on whatever clock the driver
//! uses: the wall clock for real runs, a virtual one in the simulator). The state never
//! reads a clock and never sleeps; when it needs to be woken it emits
//! [`Action::SetTimer`] and the driver answers with [`EventKind::TimerFired`]. Stale
//! events (a result for an attempt that already timed out, a timer for a task that was
//! cancelled) are recognised by the attempt number and ignored, so a driver may deliver
//! them freely.

use std::collections::BTreeSet;
use std::sync::Arc;

use l9_types::SeededRng;
use serde::{Deserialize, Serialize};

use crate::plan::{Budget, Plan, Spend, TaskIx};

/// Something that happened, at `at_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at_ms: u64,
    pub kind: EventKind,
}

impl Event {
    pub fn new(at_ms: u64, kind: EventKind) -> Self {
        Event { at_ms, kind }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// The run begins: tasks without dependencies become ready.
    Start,
    Succeeded {
        task: TaskIx,
        attempt: u32,
        spend: Spend,
    },
    Failed {
        task: TaskIx,
        attempt: u32,
        error: String,
        retryable: bool,
        spend: Spend,
    },
    TimerFired(Timer),
    /// Cancels a task and everything downstream of it.
    Cancel {
        task: TaskIx,
    },
    CancelRun,
    Pause,
    Resume,
    Approve {
        task: TaskIx,
    },
    Reject {
        task: TaskIx,
        reason: String,
    },
    /// Replaces the budget (the answer to a budget pause); resumes a run paused by budget.
    SetBudget(Budget),
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    StartTask {
        task: TaskIx,
        attempt: u32,
    },
    /// Stop a running attempt (it timed out or was cancelled); its late result is ignored.
    AbortTask {
        task: TaskIx,
        attempt: u32,
        reason: AbortReason,
    },
    SetTimer {
        timer: Timer,
        at_ms: u64,
    },
    /// The task waits for [`EventKind::Approve`] or [`EventKind::Reject`].
    AwaitApproval {
        task: TaskIx,
    },
    TaskEnded {
        task: TaskIx,
        status: TaskStatus,
    },
    RunPaused {
        reason: PauseReason,
    },
    RunResumed,
    RunFinished {
        outcome: RunOutcome,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AbortReason {
    Timeout,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    Retry { task: TaskIx, attempt: u32 },
    Timeout { task: TaskIx, attempt: u32 },
    WallBudget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PauseReason {
    /// Asked for by the user.
    User,
    /// Starting the next task would exceed the budget; raise it (`SetBudget`) or resume.
    Budget { what: BudgetKind, limit: u64, needed: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BudgetKind {
    Tokens,
    Money,
    WallTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelReason {
    User,
    /// An upstream task failed or was cancelled.
    Upstream(TaskIx),
    Rejected(String),
    RunCancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    /// Waiting for dependencies.
    Blocked,
    AwaitingApproval,
    /// Dependencies done; waiting for a slot (limits, pause, budget).
    Ready,
    Running {
        attempt: u32,
        since_ms: u64,
    },
    /// Attempt failed; `next_attempt` starts after `until_ms`.
    Backoff {
        next_attempt: u32,
        until_ms: u64,
    },
    Succeeded,
    Failed {
        error: String,
    },
    Cancelled {
        reason: CancelReason,
    },
}

impl TaskStatus {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed { .. } | TaskStatus::Cancelled { .. }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunOutcome {
    Succeeded,
    Failed { failed: usize, cancelled: usize },
    Cancelled,
}

/// The state of one run of a plan.
#[derive(Debug)]
pub struct RunState {
    plan: Arc<Plan>,
    rng: SeededRng,
    status: Vec<TaskStatus>,
    attempts: Vec<u32>,
    pending_deps: Vec<usize>,
    ready: BTreeSet<(i64, TaskIx)>,
    running_q: Vec<u32>,
    running_k: Vec<u32>,
    started_at: Option<u64>,
    now: u64,
    paused: Option<PauseReason>,
    budget: Budget,
    spent: Spend,
    reserved: Spend,
    open: usize,
    run_cancelled: bool,
    outcome: Option<RunOutcome>,
}

impl RunState {
    /// A run of `plan` whose retry jitter comes from `seed`.
    pub fn new(plan: Arc<Plan>, budget: Budget, seed: u64) -> Self {
        let n = plan.len();
        let pending_deps = plan
            .tasks
            .iter()
            .map(|t| {
                let mut d = t.deps.clone();
                d.sort_unstable();
                d.dedup();
                d.len()
            })
            .collect();
        RunState {
            running_q: vec![0; plan.queue_limits.len()],
            running_k: vec![0; plan.key_limits.len()],
            plan,
            rng: SeededRng::from_seed(seed),
            status: vec![TaskStatus::Blocked; n],
            attempts: vec![0; n],
            pending_deps,
            ready: BTreeSet::new(),
            started_at: None,
            now: 0,
            paused: None,
            budget,
            spent: Spend::default(),
            reserved: Spend::default(),
            open: n,
            run_cancelled: false,
            outcome: None,
        }
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }
    pub fn status(&self, ix: TaskIx) -> Option<&TaskStatus> {
        self.status.get(ix)
    }
    pub fn statuses(&self) -> &[TaskStatus] {
        &self.status
    }
    /// Attempts started so far for `ix`.
    pub fn attempts(&self, ix: TaskIx) -> u32 {
        self.attempts.get(ix).copied().unwrap_or(0)
    }
    pub fn spent(&self) -> Spend {
        self.spent
    }
    pub fn budget(&self) -> Budget {
        self.budget
    }
    pub fn paused(&self) -> Option<&PauseReason> {
        self.paused.as_ref()
    }
    pub fn outcome(&self) -> Option<RunOutcome> {
        self.outcome
    }
    pub fn now_ms(&self) -> u64 {
        self.now
    }
    pub fn running(&self) -> usize {
        self.status.iter().filter(|s| matches!(s, TaskStatus::Running { .. })).count()
    }
}

/// Applies `event` to `state` and returns what the driver must do, in order.
pub fn step(state: &mut RunState, event: Event) -> Vec<Action> {
    let mut out = Vec::new();
    state.now = state.now.max(event.at_ms);
    if state.outcome.is_some() {
        return out;
    }
    let valid = |s: &RunState, t: TaskIx| t < s.status.len();
    match event.kind {
        EventKind::Start => {
            if state.started_at.is_some() {
                return out;
            }
            state.started_at = Some(state.now);
            if let Some(w) = state.budget.wall_ms {
                out.push(Action::SetTimer {
                    timer: Timer::WallBudget,
                    at_ms: state.now.saturating_add(w),
                });
            }
            for ix in 0..state.status.len() {
                if state.pending_deps[ix] == 0 {
                    state.unblock(ix, &mut out);
                }
            }
        }
        EventKind::Succeeded { task, attempt, spend } => {
            if !valid(state, task) {
                return out;
            }
            state.spent = state.spent.plus(spend);
            if state.is_current(task, attempt) {
                state.release_slot(task);
                state.end(task, TaskStatus::Succeeded, &mut out);
                let deps = state.plan.dependents[task].clone();
                for d in deps {
                    state.pending_deps[d] = state.pending_deps[d].saturating_sub(1);
                    if state.pending_deps[d] == 0 && state.status[d] == TaskStatus::Blocked {
                        state.unblock(d, &mut out);
                    }
                }
            }
        }
        EventKind::Failed { task, attempt, error, retryable, spend } => {
            if !valid(state, task) {
                return out;
            }
            state.spent = state.spent.plus(spend);
            if state.is_current(task, attempt) {
                state.release_slot(task);
                state.fail_attempt(task, error, retryable, &mut out);
            }
        }
        EventKind::TimerFired(timer) => match timer {
            Timer::Retry { task, attempt } => {
                if valid(state, task)
                    && matches!(state.status[task],
                        TaskStatus::Backoff { next_attempt, .. } if next_attempt == attempt)
                {
                    state.status[task] = TaskStatus::Ready;
                    state.ready.insert(state.ready_key(task));
                }
            }
            Timer::Timeout { task, attempt } => {
                if valid(state, task) && state.is_current(task, attempt) {
                    state.release_slot(task);
                    out.push(Action::AbortTask { task, attempt, reason: AbortReason::Timeout });
                    let limit = state.plan.tasks[task].timeout_ms.unwrap_or(0);
                    state.fail_attempt(task, format!("timed out after {limit} ms"), true, &mut out);
                }
            }
            Timer::WallBudget => {
                if let (Some(start), Some(w)) = (state.started_at, state.budget.wall_ms)
                    && state.now >= start.saturating_add(w)
                    && state.paused.is_none()
                {
                    let reason = PauseReason::Budget {
                        what: BudgetKind::WallTime,
                        limit: w,
                        needed: state.now - start,
                    };
                    state.paused = Some(reason.clone());
                    out.push(Action::RunPaused { reason });
                }
            }
        },
        EventKind::Cancel { task } => {
            if valid(state, task) && !state.status[task].is_terminal() {
                state.cancel(task, CancelReason::User, &mut out);
            }
        }
        EventKind::CancelRun => {
            state.run_cancelled = true;
            for ix in 0..state.status.len() {
                if !state.status[ix].is_terminal() {
                    state.cancel_one(ix, CancelReason::RunCancelled, &mut out);
                }
            }
        }
        EventKind::Pause => {
            if state.paused.is_none() {
                state.paused = Some(PauseReason::User);
                out.push(Action::RunPaused { reason: PauseReason::User });
            }
        }
        EventKind::Resume => {
            if state.paused.take().is_some() {
                out.push(Action::RunResumed);
            }
        }
        EventKind::Approve { task } => {
            if valid(state, task) && state.status[task] == TaskStatus::AwaitingApproval {
                state.status[task] = TaskStatus::Ready;
                state.ready.insert(state.ready_key(task));
            }
        }
        EventKind::Reject { task, reason } => {
            if valid(state, task) && state.status[task] == TaskStatus::AwaitingApproval {
                state.cancel(task, CancelReason::Rejected(reason), &mut out);
            }
        }
        EventKind::SetBudget(b) => {
            state.budget = b;
            if let (Some(start), Some(w)) = (state.started_at, b.wall_ms) {
                out.push(Action::SetTimer {
                    timer: Timer::WallBudget,
                    at_ms: start.saturating_add(w),
                });
            }
            if matches!(state.paused, Some(PauseReason::Budget { .. })) {
                state.paused = None;
                out.push(Action::RunResumed);
            }
        }
    }
    state.dispatch(&mut out);
    state.maybe_finish(&mut out);
    out
}

impl RunState {
    fn ready_key(&self, ix: TaskIx) -> (i64, TaskIx) {
        (-i64::from(self.plan.tasks[ix].priority), ix)
    }

    fn is_current(&self, task: TaskIx, attempt: u32) -> bool {
        matches!(self.status[task], TaskStatus::Running { attempt: a, .. } if a == attempt)
    }

    fn unblock(&mut self, ix: TaskIx, out: &mut Vec<Action>) {
        if self.plan.tasks[ix].needs_approval {
            self.status[ix] = TaskStatus::AwaitingApproval;
            out.push(Action::AwaitApproval { task: ix });
        } else {
            self.status[ix] = TaskStatus::Ready;
            self.ready.insert(self.ready_key(ix));
        }
    }

    fn release_slot(&mut self, ix: TaskIx) {
        let q = self.plan.queue_of[ix];
        self.running_q[q] = self.running_q[q].saturating_sub(1);
        if let Some(k) = self.plan.key_of[ix] {
            self.running_k[k] = self.running_k[k].saturating_sub(1);
        }
        self.reserved = self.reserved.minus(self.plan.tasks[ix].estimate);
    }

    fn end(&mut self, ix: TaskIx, status: TaskStatus, out: &mut Vec<Action>) {
        self.ready.remove(&self.ready_key(ix));
        self.status[ix] = status.clone();
        self.open -= 1;
        out.push(Action::TaskEnded { task: ix, status });
    }

    fn fail_attempt(&mut self, ix: TaskIx, error: String, retryable: bool, out: &mut Vec<Action>) {
        let policy = self.plan.tasks[ix].retry;
        let done = self.attempts[ix];
        if retryable && done < policy.max_attempts {
            let next = done + 1;
            let ceiling = policy.ceiling_ms(next);
            let half = ceiling / 2;
            let delay = half + self.rng.below(ceiling - half + 1);
            let until = self.now.saturating_add(delay);
            self.status[ix] = TaskStatus::Backoff { next_attempt: next, until_ms: until };
            out.push(Action::SetTimer {
                timer: Timer::Retry { task: ix, attempt: next },
                at_ms: until,
            });
        } else {
            self.end(ix, TaskStatus::Failed { error }, out);
            self.cascade(ix, out);
        }
    }

    fn cancel(&mut self, ix: TaskIx, reason: CancelReason, out: &mut Vec<Action>) {
        self.cancel_one(ix, reason, out);
        self.cascade(ix, out);
    }

    fn cancel_one(&mut self, ix: TaskIx, reason: CancelReason, out: &mut Vec<Action>) {
        if let TaskStatus::Running { attempt, .. } = self.status[ix] {
            self.release_slot(ix);
            out.push(Action::AbortTask { task: ix, attempt, reason: AbortReason::Cancelled });
        }
        self.end(ix, TaskStatus::Cancelled { reason }, out);
    }

    /// Cancels everything downstream of `root` that has not ended.
    fn cascade(&mut self, root: TaskIx, out: &mut Vec<Action>) {
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            let deps = self.plan.dependents[i].clone();
            for d in deps {
                if !self.status[d].is_terminal() {
                    self.cancel_one(d, CancelReason::Upstream(i), out);
                    stack.push(d);
                }
            }
        }
    }

    fn over_budget(&self, ix: TaskIx) -> Option<PauseReason> {
        if let (Some(start), Some(w)) = (self.started_at, self.budget.wall_ms)
            && self.now >= start.saturating_add(w)
        {
            return Some(PauseReason::Budget {
                what: BudgetKind::WallTime,
                limit: w,
                needed: self.now - start,
            });
        }
        let projected = self.spent.plus(self.reserved).plus(self.plan.tasks[ix].estimate);
        if let Some(limit) = self.budget.tokens
            && projected.tokens > limit
        {
            return Some(PauseReason::Budget {
                what: BudgetKind::Tokens,
                limit,
                needed: projected.tokens,
            });
        }
        if let Some(limit) = self.budget.micro_usd
            && projected.micro_usd > limit
        {
            return Some(PauseReason::Budget {
                what: BudgetKind::Money,
                limit,
                needed: projected.micro_usd,
            });
        }
        None
    }

    fn dispatch(&mut self, out: &mut Vec<Action>) {
        if self.paused.is_some() || self.started_at.is_none() || self.ready.is_empty() {
            return;
        }
        let mut to_start = Vec::new();
        let mut q_extra = vec![0u32; self.running_q.len()];
        let mut k_extra = vec![0u32; self.running_k.len()];
        let mut reserve = Spend::default();
        // Queues that can take another task: once none can, the rest of the ready set would
        // only be skipped (scanning it on every event made a run of n ready tasks behind a
        // concurrency limit quadratic in n).
        let full = |s: &Self, q: usize, extra: u32| {
            s.plan.queue_limits[q].is_some_and(|l| s.running_q[q] + extra >= l)
        };
        let mut open_queues = (0..self.running_q.len()).filter(|&q| !full(self, q, 0)).count();
        for &(_, ix) in &self.ready {
            if open_queues == 0 {
                break;
            }
            let q = self.plan.queue_of[ix];
            if let Some(l) = self.plan.queue_limits[q]
                && self.running_q[q] + q_extra[q] >= l
            {
                continue;
            }
            let k = self.plan.key_of[ix];
            if let Some(k) = k
                && let Some(l) = self.plan.key_limits[k]
                && self.running_k[k] + k_extra[k] >= l
            {
                continue;
            }
            let before = self.reserved;
            self.reserved = self.reserved.plus(reserve);
            let over = self.over_budget(ix);
            self.reserved = before;
            if let Some(reason) = over {
                self.paused = Some(reason.clone());
                out.push(Action::RunPaused { reason });
                break;
            }
            reserve = reserve.plus(self.plan.tasks[ix].estimate);
            q_extra[q] += 1;
            if full(self, q, q_extra[q]) {
                open_queues -= 1;
            }
            if let Some(k) = k {
                k_extra[k] += 1;
            }
            to_start.push(ix);
        }
        for ix in to_start {
            self.ready.remove(&self.ready_key(ix));
            let q = self.plan.queue_of[ix];
            self.running_q[q] += 1;
            if let Some(k) = self.plan.key_of[ix] {
                self.running_k[k] += 1;
            }
            self.reserved = self.reserved.plus(self.plan.tasks[ix].estimate);
            self.attempts[ix] += 1;
            let attempt = self.attempts[ix];
            self.status[ix] = TaskStatus::Running { attempt, since_ms: self.now };
            out.push(Action::StartTask { task: ix, attempt });
            if let Some(t) = self.plan.tasks[ix].timeout_ms {
                out.push(Action::SetTimer {
                    timer: Timer::Timeout { task: ix, attempt },
                    at_ms: self.now.saturating_add(t),
                });
            }
        }
    }

    fn maybe_finish(&mut self, out: &mut Vec<Action>) {
        if self.open > 0 || self.started_at.is_none() || self.outcome.is_some() {
            return;
        }
        let failed = self.status.iter().filter(|s| matches!(s, TaskStatus::Failed { .. })).count();
        let cancelled =
            self.status.iter().filter(|s| matches!(s, TaskStatus::Cancelled { .. })).count();
        let outcome = if self.run_cancelled {
            RunOutcome::Cancelled
        } else if failed == 0 && cancelled == 0 {
            RunOutcome::Succeeded
        } else {
            RunOutcome::Failed { failed, cancelled }
        };
        self.outcome = Some(outcome);
        out.push(Action::RunFinished { outcome });
    }
}
