//! Replay (re-run a workflow from its journal with no effects) and fork (start a new run
//! from step N of an old one).

use std::sync::Arc;

use l9_store::{NewTask, Store, TaskState};
use l9_types::{Clock, IdSource, SeededRng, TaskId};
use serde_json::Value;

use crate::ctx::{Ctx, Mode, run_of};
use crate::error::{Result, TaskError, WfError};
use crate::registry::Registry;

/// What a replay found.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayReport {
    /// Journal entries the replay consumed.
    pub entries: usize,
    /// The workflow's result under replay (`None` if it stopped early).
    pub output: Option<Value>,
    /// Whether `output` equals the result the run recorded (only for succeeded runs).
    pub matches_recorded: Option<bool>,
    /// Why the replay stopped before a result (the run is not finished, or failed there).
    pub stopped: Option<String>,
}

/// Replays run `task` with the code in `registry`. A [`TaskError::Diverged`] names the
/// first journal position where the code now asks for something else.
pub async fn replay(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    registry: &Registry,
    task: TaskId,
) -> Result<ReplayReport> {
    let rec = store
        .tasks()
        .get_task(task)
        .await?
        .ok_or_else(|| TaskError::NotFound(format!("task {task}")))?;
    let f = registry
        .get(&rec.kind)
        .cloned()
        .ok_or_else(|| TaskError::UnknownWorkflow(rec.kind.clone()))?;
    let run = rec.run_id.unwrap_or(run_of(rec.id));
    let entries = store.tasks().load_journal(run).await?.len();
    let recorded =
        (rec.state == TaskState::Succeeded).then(|| rec.result.clone().unwrap_or(Value::Null));
    let payload = rec.payload.clone();
    let ctx = Ctx::load(store, clock, SeededRng::from_seed(0), rec, "replay", Mode::Replay)
        .await
        .map_err(wf_to_task)?;
    match f(ctx.clone(), payload).await {
        Ok(out) => {
            ctx.check_complete().map_err(TaskError::Diverged)?;
            Ok(ReplayReport {
                entries,
                matches_recorded: recorded.map(|r| r == out),
                output: Some(out),
                stopped: None,
            })
        }
        Err(WfError::Diverged(d)) => Err(TaskError::Diverged(d)),
        Err(e) => Ok(ReplayReport {
            entries,
            output: None,
            matches_recorded: None,
            stopped: Some(e.to_string()),
        }),
    }
}

fn wf_to_task(e: WfError) -> TaskError {
    match e {
        WfError::Store(s) => TaskError::Store(s),
        other => TaskError::Invalid(other.to_string()),
    }
}

/// Starts a new run of `task`'s workflow that reuses the first `upto` journal entries of
/// the old run (and `payload` instead of the old input when given). Returns the new task.
pub async fn fork(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    task: TaskId,
    upto: u64,
    payload: Option<Value>,
) -> Result<TaskId> {
    let rec = store
        .tasks()
        .get_task(task)
        .await?
        .ok_or_else(|| TaskError::NotFound(format!("task {task}")))?;
    let rng = SeededRng::from_entropy();
    let id = TaskId::new(&IdSource { clock: clock.as_ref(), rng: &rng });
    let from = rec.run_id.unwrap_or(run_of(rec.id));
    // Copy first: the new task must never be claimed with a partial journal.
    store.tasks().copy_journal(from, run_of(id), upto).await?;
    let mut t = NewTask::new(id, rec.queue, rec.kind, payload.unwrap_or(rec.payload));
    t.priority = rec.priority;
    t.max_attempts = rec.max_attempts;
    store.tasks().enqueue(&[t], clock.now()).await?;
    Ok(id)
}
