//! The Task Runtime's storage contract: a durable queue with leases, cron ticks, opaque
//! checkpoints, signals and the workflow journal.
//!
//! States: `queued → leased → succeeded | queued (retry) | dead | cancelled`, plus
//! `waiting` (a workflow suspended until a signal or a child wakes it). A claim takes the
//! highest-priority due tasks (`priority` desc, `run_after`, id) and also reclaims leases
//! that expired (the worker died): the expiry counts as a failure, so a task that keeps
//! killing its worker ends in the dead-letter state instead of looping forever.
//! Every change by a worker is fenced by its lease: a worker that lost its lease (it was
//! reclaimed, cancelled) gets [`StoreError::LeaseLost`] and must stop.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use l9_types::{ContentHash, Effect, PacketEnvelope, PacketId, RunId, TaskId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Queued,
    Leased,
    Waiting,
    Succeeded,
    Dead,
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 6] = [
        TaskState::Queued,
        TaskState::Leased,
        TaskState::Waiting,
        TaskState::Succeeded,
        TaskState::Dead,
        TaskState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Leased => "leased",
            TaskState::Waiting => "waiting",
            TaskState::Succeeded => "succeeded",
            TaskState::Dead => "dead",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Dead | TaskState::Cancelled)
    }
}

/// A task to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    pub id: TaskId,
    pub queue: String,
    /// What runs it: a handler or workflow name.
    pub kind: String,
    pub payload: Value,
    /// Higher is claimed first.
    pub priority: i32,
    /// Not claimed before this time (`None`: now).
    pub run_after: Option<DateTime<Utc>>,
    /// A second enqueue with the same key is a no-op that returns the first task's id.
    pub idempotency_key: Option<String>,
    /// Failures allowed before the task is dead-lettered; 0 means unlimited.
    pub max_attempts: u32,
    /// The run whose journal holds this task's steps: the task's own (a workflow's run id is
    /// its task id), set by [`NewTask::new`].
    pub run_id: Option<RunId>,
    /// The task (workflow) that spawned this one; woken when this one ends.
    pub parent: Option<TaskId>,
}

impl NewTask {
    pub fn new(
        id: TaskId,
        queue: impl Into<String>,
        kind: impl Into<String>,
        payload: Value,
    ) -> Self {
        NewTask {
            id,
            queue: queue.into(),
            kind: kind.into(),
            payload,
            priority: 0,
            run_after: None,
            idempotency_key: None,
            max_attempts: 3,
            run_id: Some(RunId(id.0)),
            parent: None,
        }
    }
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: TaskId,
    pub queue: String,
    pub kind: String,
    pub payload: Value,
    pub priority: i32,
    pub state: TaskState,
    /// Times it was claimed.
    pub attempts: u32,
    /// Failed attempts (explicit failures and expired leases).
    pub failures: u32,
    pub max_attempts: u32,
    pub run_after: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
    /// The run whose journal holds this task's steps (`None` only for tasks enqueued before
    /// it was recorded: their run is their own id's, `l9_tasks::run_of`).
    pub run_id: Option<RunId>,
    pub parent: Option<TaskId>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The answer to one enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Enqueued {
    Created(TaskId),
    /// The idempotency key was already used by this task.
    Existing(TaskId),
}

impl Enqueued {
    pub fn id(&self) -> TaskId {
        match self {
            Enqueued::Created(id) | Enqueued::Existing(id) => *id,
        }
    }
}

/// A claim request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Queues to take from (empty: all).
    pub queues: Vec<String>,
    pub worker: String,
    pub limit: usize,
    pub lease: Duration,
    pub now: DateTime<Utc>,
}

/// How a worker ends its hold on a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded(Value),
    /// Counts a failure; queued again at `retry_at`, or dead when attempts are used up or
    /// `retry_at` is `None`.
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
    /// Gives the task back without a failure, to be claimed again at `run_after`
    /// (a workflow sleeping on a durable timer).
    Snooze {
        run_after: DateTime<Utc>,
    },
    /// Parks the task until [`TaskStore::wake`] (a workflow waiting for a signal or child);
    /// `note` (why it waits, e.g. an escalation) is kept as the task's error text.
    Wait {
        note: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub id: TaskId,
    pub outcome: Outcome,
}

/// Which tasks a list considers. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFilter {
    pub queue: Option<String>,
    pub state: Option<TaskState>,
    pub kind: Option<String>,
    pub parent: Option<TaskId>,
    /// Only tasks without a parent (workflow runs started from outside).
    #[serde(default)]
    pub roots_only: bool,
}

/// A page of tasks, newest first, and the cursor for the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    pub tasks: Vec<TaskRecord>,
    pub next: Option<TaskId>,
}

/// A signal sent to a workflow run (an approval, human input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub task: TaskId,
    pub name: String,
    /// Per (task, name): 0, 1, 2 … in arrival order.
    pub seq: u32,
    pub payload: Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalStatus {
    /// Written before an effect that may not run twice.
    Started,
    Completed,
    Failed,
}

impl JournalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalStatus::Started => "started",
            JournalStatus::Completed => "completed",
            JournalStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<JournalStatus> {
        Some(match s {
            "started" => JournalStatus::Started,
            "completed" => JournalStatus::Completed,
            "failed" => JournalStatus::Failed,
            _ => return None,
        })
    }
}

/// One journal row to append. The packet carries the content (its body holds the value,
/// or names a blob for large values); the row indexes it by run and sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalAppend {
    pub run: RunId,
    pub seq: u64,
    pub key: String,
    pub status: JournalStatus,
    pub packet: PacketEnvelope,
    /// A large value, stored content-addressed and named by the packet's blob list.
    pub blob: Option<Vec<u8>>,
}

/// A stored journal row with its packet's body.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRow {
    pub run: RunId,
    pub seq: u64,
    pub key: String,
    pub status: JournalStatus,
    pub packet: PacketId,
    pub body: Value,
    pub at: DateTime<Utc>,
}

/// Who may write for a task: the worker holding its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub task: TaskId,
    pub worker: String,
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub data: Vec<u8>,
    pub at: DateTime<Utc>,
}

/// The durable queue, journal and their companions. Every backend implements it and runs
/// the conformance suite's task cases.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Enqueues all of `tasks` atomically, in order.
    async fn enqueue(&self, tasks: &[NewTask], now: DateTime<Utc>) -> Result<Vec<Enqueued>>;

    /// Leases up to `limit` due tasks (reclaiming expired leases first).
    async fn claim(&self, claim: &Claim) -> Result<Vec<TaskRecord>>;

    /// Extends the lease to `until`. [`crate::StoreError::LeaseLost`] if it is no longer held.
    async fn heartbeat(&self, fence: &Fence, until: DateTime<Utc>) -> Result<()>;

    /// Ends the worker's hold on each task; returns, per item, whether the lease was still
    /// held (a `false` item changed nothing). Ending a task whose parent waits wakes the
    /// parent in the same transaction.
    async fn finish(&self, worker: &str, items: &[Finish], now: DateTime<Utc>)
    -> Result<Vec<bool>>;

    /// Cancels a task that has not ended, and the tasks it spawned. Returns how many.
    async fn cancel(&self, id: TaskId, now: DateTime<Utc>) -> Result<u64>;

    /// Queues a dead or cancelled task again with its failures reset. `false`: not found or
    /// not in such a state.
    async fn retry(&self, id: TaskId, now: DateTime<Utc>) -> Result<bool>;

    /// Moves a waiting task back to the queue, or makes a task queued for later due now
    /// (a workflow parked on a timer). `false` if neither applied. A running task is left a
    /// note so its next `Wait` returns to the queue at once.
    async fn wake(&self, id: TaskId, now: DateTime<Utc>) -> Result<bool>;

    async fn get_task(&self, id: TaskId) -> Result<Option<TaskRecord>>;

    /// Tasks matching `filter`, newest first, `limit` per page, after cursor `after`.
    async fn list_tasks(
        &self,
        filter: &TaskFilter,
        after: Option<TaskId>,
        limit: usize,
    ) -> Result<TaskPage>;

    /// Whether any task matches `filter` (a backend answers without ordering or reading the
    /// matches; the default reads the newest one).
    async fn any_tasks(&self, filter: &TaskFilter) -> Result<bool> {
        Ok(!self.list_tasks(filter, None, 1).await?.tasks.is_empty())
    }

    /// Number of tasks per state.
    async fn task_counts(&self, queue: Option<&str>) -> Result<BTreeMap<TaskState, u64>>;

    /// Stores the task's checkpoint, replacing the previous one. Fenced by the lease.
    async fn put_checkpoint(&self, fence: &Fence, data: &[u8], now: DateTime<Utc>) -> Result<()>;
    async fn get_checkpoint(&self, id: TaskId) -> Result<Option<Checkpoint>>;

    /// Enqueues `task` for the tick `tick` of `schedule` unless that tick was already
    /// enqueued (by this or any other scheduler). Returns whether this call enqueued it.
    async fn cron_fire(
        &self,
        schedule: &str,
        tick: DateTime<Utc>,
        task: &NewTask,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Records a signal for `task` and wakes it if it waits. Returns the signal's seq.
    async fn send_signal(
        &self,
        task: TaskId,
        name: &str,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<u32>;

    async fn signals(&self, task: TaskId) -> Result<Vec<Signal>>;

    /// Appends a journal row and its packet (and blob) atomically, fenced by the lease.
    /// [`crate::StoreError::Conflict`]-like duplicates of `(run, seq)` are refused as
    /// `LeaseLost`: someone else is writing this run.
    async fn append_journal(&self, fence: &Fence, entry: &JournalAppend) -> Result<()>;

    /// Appends several journal rows of one run, in order, as one batch (one commit where the
    /// backend can). Stops at the first refused row.
    async fn append_journal_many(&self, fence: &Fence, entries: &[JournalAppend]) -> Result<()> {
        for e in entries {
            self.append_journal(fence, e).await?;
        }
        Ok(())
    }

    /// The run's journal in order.
    async fn load_journal(&self, run: RunId) -> Result<Vec<JournalRow>>;

    /// The packet of the run's journal entry `key` (its first, if the key repeats).
    async fn journal_packet(&self, run: RunId, key: &str) -> Result<Option<l9_types::PacketId>> {
        Ok(self.load_journal(run).await?.into_iter().find(|r| r.key == key).map(|r| r.packet))
    }

    /// Copies the first `upto` rows (seq < upto) of `from`'s journal to `to` (a fork).
    async fn copy_journal(&self, from: RunId, to: RunId, upto: u64) -> Result<u64>;

    /// Returns when work may be available (a task was enqueued or woken; PostgreSQL
    /// `LISTEN/NOTIFY`) or after `timeout` (polling, the fallback everywhere).
    async fn wait_for_work(&self, timeout: Duration) -> Result<()>;

    /// A stored blob (journal values too large for a packet body).
    async fn journal_blob(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>>;
}

/// Reads the value a journal row recorded: inline in the body, or a blob named by it.
pub fn journal_value_blob(body: &Value) -> Option<ContentHash> {
    body.get("blob").and_then(Value::as_str).and_then(|s| s.parse().ok())
}

/// The effect class a journal body recorded.
pub fn journal_effect(body: &Value) -> Option<Effect> {
    body.get("effect").and_then(|e| serde_json::from_value(e.clone()).ok())
}

/// The checks a journal append makes before touching the database (backends append with
/// one statement or one short transaction and cannot use the general write planner's
/// lookups): the packet's hash verifies, and every blob it references is the one carried.
/// Parents are checked by the database (foreign keys).
pub fn check_journal_append(e: &JournalAppend) -> Result<Option<ContentHash>> {
    e.packet.verify()?;
    let carried = e.blob.as_deref().map(ContentHash::of_bytes);
    for b in &e.packet.blobs {
        if Some(b.hash) != carried {
            return Err(crate::StoreError::MissingBlob { id: e.packet.id, hash: b.hash });
        }
    }
    Ok(carried)
}

/// The note an expired lease leaves on its task.
pub const LEASE_EXPIRED: &str = "lease expired: the worker stopped heartbeating (crashed or hung)";

/// The dead-letter rule both backends apply when an attempt fails (explicitly or by lease
/// expiry): dead when the failures, this one included, reach `max_attempts` (0 means
/// unlimited), or when the failure asks for no retry.
pub fn fails_for_good(failures: u32, max_attempts: u32, retry: bool) -> bool {
    !retry || (max_attempts > 0 && failures + 1 >= max_attempts)
}

impl TaskPage {
    /// A page from a query that fetched `limit + 1` rows newest first: the extra row only
    /// says there is a next page.
    pub fn from_overfetch(mut tasks: Vec<TaskRecord>, limit: usize) -> TaskPage {
        let next = if tasks.len() > limit {
            tasks.truncate(limit);
            tasks.last().map(|t| t.id)
        } else {
            None
        };
        TaskPage { tasks, next }
    }
}

/// The condition of both backends' partial state index `tasks_state`: every state but queued
/// and leased, which the ready and lease indexes hold (so a claim writes no entry in it).
pub const STATE_INDEXED: &str = "state NOT IN ('queued', 'leased')";

/// The SQL condition selecting tasks in `state`, as both backends' planners can match it to
/// the index that holds them: the state as a literal (one of six fixed names; a planner proves
/// a partial index covers a query only from the query's text, not from a bound value), and for
/// the states `tasks_state` holds, its condition word for word.
pub fn state_condition(state: TaskState) -> String {
    match state {
        TaskState::Queued | TaskState::Leased => format!("state = '{}'", state.as_str()),
        _ => format!("state = '{}' AND {STATE_INDEXED}", state.as_str()),
    }
}

/// Per-state counts from `(state, count)` rows; states counted zero are left out.
pub fn task_counts_from(rows: Vec<(String, i64)>) -> Result<BTreeMap<TaskState, u64>> {
    rows.into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| {
            TaskState::parse(&s).map(|st| (st, n.max(0) as u64)).ok_or_else(|| {
                crate::StoreError::Backend(format!("stored task state does not decode: {s}"))
            })
        })
        .collect()
}

/// What ending a lease with an [`Outcome`] does to the task: one rule for every backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub state: TaskState,
    /// `None`: unchanged.
    pub run_after: Option<DateTime<Utc>>,
    /// Whether this attempt counts as a failure.
    pub failure: bool,
    /// `None`: unchanged.
    pub result: Option<Value>,
    /// `Some(None)`: cleared; `Some(Some(e))`: set; `None`: unchanged.
    pub error: Option<Option<String>>,
}

impl Transition {
    /// Whether the parent (a workflow waiting on this child) must be woken.
    pub fn ends(&self) -> bool {
        self.state.is_terminal()
    }
}

/// The transition for `outcome`, given the task's failures so far, its attempt limit and
/// whether a wake arrived while it ran (then `Wait` goes straight back to the queue).
pub fn transition(
    outcome: &Outcome,
    failures: u32,
    max_attempts: u32,
    wake_pending: bool,
    now: DateTime<Utc>,
) -> Transition {
    match outcome {
        Outcome::Succeeded(v) => Transition {
            state: TaskState::Succeeded,
            run_after: None,
            failure: false,
            result: Some(v.clone()),
            error: Some(None),
        },
        Outcome::Failed { error, retry_at } => Transition {
            state: if fails_for_good(failures, max_attempts, retry_at.is_some()) {
                TaskState::Dead
            } else {
                TaskState::Queued
            },
            run_after: Some(retry_at.unwrap_or(now)),
            failure: true,
            result: None,
            error: Some(Some(error.clone())),
        },
        Outcome::Snooze { run_after } => Transition {
            state: TaskState::Queued,
            run_after: Some(*run_after),
            failure: false,
            result: None,
            error: None,
        },
        Outcome::Wait { note } => Transition {
            state: if wake_pending { TaskState::Queued } else { TaskState::Waiting },
            run_after: Some(now),
            failure: false,
            result: None,
            error: note.clone().map(Some),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn transitions() {
        let now = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap();
        let later = now + chrono::Duration::seconds(5);
        let t = |o: Outcome, failures, max, wake| transition(&o, failures, max, wake, now);
        let ok = t(Outcome::Succeeded(serde_json::json!(1)), 0, 3, false);
        assert_eq!(
            (ok.state, ok.error.clone(), ok.ends()),
            (TaskState::Succeeded, Some(None), true)
        );
        let fail =
            |retry: Option<DateTime<Utc>>| Outcome::Failed { error: "x".into(), retry_at: retry };
        assert_eq!(t(fail(Some(later)), 0, 3, false).state, TaskState::Queued);
        assert_eq!(t(fail(Some(later)), 0, 3, false).run_after, Some(later));
        assert_eq!(
            t(fail(Some(later)), 2, 3, false).state,
            TaskState::Dead,
            "third failure of three"
        );
        assert_eq!(t(fail(Some(later)), 99, 0, false).state, TaskState::Queued, "0 = unlimited");
        assert_eq!(t(fail(None), 0, 0, false).state, TaskState::Dead, "no retry asked");
        let snooze = t(Outcome::Snooze { run_after: later }, 0, 3, false);
        assert_eq!((snooze.state, snooze.failure, snooze.error), (TaskState::Queued, false, None));
        assert_eq!(t(Outcome::Wait { note: None }, 0, 3, false).state, TaskState::Waiting);
        let woken = t(Outcome::Wait { note: Some("n".into()) }, 0, 3, true);
        assert_eq!((woken.state, woken.error), (TaskState::Queued, Some(Some("n".into()))));
    }
}
