//! Errors of the Task Runtime and of workflows.

use chrono::{DateTime, Utc};
use l9_kernel::journal::Divergence;
use l9_store::StoreError;

pub type Result<T, E = TaskError> = std::result::Result<T, E>;

/// Errors of the runtime's own API (enqueue, replay, fork, schedules).
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no workflow named `{0}` is registered on this worker")]
    UnknownWorkflow(String),
    #[error("replay {0}")]
    Diverged(Divergence),
}

/// Why a workflow stopped before returning a value. `?` on any [`crate::Ctx`] call
/// propagates these; the worker turns each into the right queue outcome.
#[derive(Debug, thiserror::Error)]
pub enum WfError {
    /// Control flow, not a failure: the run sleeps until a durable timer.
    #[error("suspended until {0}")]
    SleepUntil(DateTime<Utc>),
    /// Control flow: the run waits for a signal or a child.
    #[error("waiting for {0}")]
    Waiting(String),
    /// A step's outcome is unknown and its effect class forbids a re-run: the run pauses
    /// until someone resolves it.
    #[error("escalated: {0}")]
    Escalated(String),
    /// The code took another path than the journal recorded.
    #[error("nondeterminism: {0}")]
    Diverged(Divergence),
    /// A step failed (recorded in the journal, so a resume sees the same failure).
    #[error("step `{key}` failed: {message}")]
    Step { key: String, message: String },
    /// The workflow gave up.
    #[error("{0}")]
    Failed(String),
    /// Storage trouble: the task is retried later.
    #[error(transparent)]
    Store(StoreError),
    /// The worker no longer holds the task (cancelled, or its lease was taken over).
    #[error("the task was taken away from this worker: {0}")]
    LeaseLost(String),
}

impl WfError {
    pub fn failed(msg: impl Into<String>) -> Self {
        WfError::Failed(msg.into())
    }
}

impl From<StoreError> for WfError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost(m) => WfError::LeaseLost(m),
            other => WfError::Store(other),
        }
    }
}

impl From<serde_json::Error> for WfError {
    fn from(e: serde_json::Error) -> Self {
        WfError::Failed(format!("a journaled value does not decode: {e}"))
    }
}
