//! The worker: claims tasks, runs them with a heartbeat, ends them with the right outcome.
//!
//! Shaped `WorkerOptions → Worker::run(shutdown)`. Each claimed task runs on its own tokio
//! task next to a heartbeat that extends the lease every third of its length; if the lease
//! is lost (the task was cancelled, or another worker reclaimed it after a stall) the run
//! is dropped at its next await point. A worker that cannot renew its lease (cut off from
//! the database) drops the run a tenth of a lease before the lease ends (self-fencing), so
//! it never begins an effect after another worker may have taken the task over. On
//! shutdown the worker stops claiming, lets running tasks finish for `shutdown_grace`, then
//! drops them and gives their leases back so another worker picks them up at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use l9_store::{Claim, Fence, Finish, Outcome, Store, StoreError, TaskRecord};
use l9_types::{Clock, SeededRng, TaskId};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::ctx::{Ctx, Mode};
use crate::error::WfError;
use crate::registry::Registry;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Lease owner name; unique per worker (host, pid and a random suffix by default).
    pub id: String,
    /// Queues to take from (empty: all).
    pub queues: Vec<String>,
    pub concurrency: usize,
    pub lease: Duration,
    /// Longest idle wait between claims (PostgreSQL wakes idle workers sooner by NOTIFY).
    pub poll: Duration,
    pub shutdown_grace: Duration,
    /// Base delay before a failed task is retried (doubles per failure, capped at 10 min).
    pub retry_base: Duration,
    /// Stop once nothing can be claimed and nothing runs (for tests and batch use).
    pub exit_when_idle: bool,
    /// With `exit_when_idle`: also wait while the queues hold tasks queued for later (a
    /// sleeping workflow's timer, a retry's backoff); tasks parked until a person answers do
    /// not count. Off for callers that drive time themselves (a manual clock never gets
    /// there).
    pub wait_for_timers: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            id: "worker".into(),
            queues: Vec::new(),
            concurrency: 4,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
            retry_base: Duration::from_secs(1),
            exit_when_idle: false,
            wait_for_timers: false,
        }
    }
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    pub claimed: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub suspended: u64,
    pub escalated: u64,
    pub lost: u64,
    pub released: u64,
}

#[derive(Debug)]
pub struct Worker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    registry: Arc<Registry>,
    opts: WorkerOptions,
}

#[derive(Debug)]
enum Ended {
    Succeeded,
    Failed,
    Suspended,
    Escalated,
    Lost,
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        registry: Arc<Registry>,
        opts: WorkerOptions,
    ) -> Self {
        Worker { store, clock, registry, opts }
    }

    /// Whether a task of this worker's queues is queued for later (a timer, a backoff): one
    /// existence check per queue (`any_tasks`: through the queued tasks' own index, ended by
    /// the first match), not a count of every state.
    async fn timers_pending(&self) -> Result<bool, StoreError> {
        let queues: Vec<Option<String>> = if self.opts.queues.is_empty() {
            vec![None]
        } else {
            self.opts.queues.iter().cloned().map(Some).collect()
        };
        for queue in queues {
            let filter = l9_store::TaskFilter {
                queue,
                state: Some(l9_store::TaskState::Queued),
                ..Default::default()
            };
            if self.store.tasks().any_tasks(&filter).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Runs until `shutdown` turns `true` (or, with `exit_when_idle`, the queue drains).
    pub async fn run(
        self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<WorkerReport, StoreError> {
        let mut report = WorkerReport::default();
        let mut running: JoinSet<Ended> = JoinSet::new();
        let mut held: HashMap<tokio::task::Id, TaskId> = HashMap::new();
        let conc = self.opts.concurrency.max(1);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = conc - running.len();
            let mut claimed = 0;
            if free > 0 {
                let claim = Claim {
                    queues: self.opts.queues.clone(),
                    worker: self.opts.id.clone(),
                    limit: free,
                    lease: self.opts.lease,
                    now: self.clock.now(),
                };
                match self.store.tasks().claim(&claim).await {
                    Ok(tasks) => {
                        claimed = tasks.len();
                        for t in tasks {
                            report.claimed += 1;
                            let id = t.id;
                            let h = running.spawn(run_one(
                                self.store.clone(),
                                self.clock.clone(),
                                self.registry.clone(),
                                self.opts.clone(),
                                t,
                            ));
                            held.insert(h.id(), id);
                        }
                    }
                    Err(_) => {
                        // Database trouble: back off and try again.
                        tokio::time::sleep(self.opts.poll).await;
                    }
                }
            }
            if self.opts.exit_when_idle
                && claimed == 0
                && running.is_empty()
                && !(self.opts.wait_for_timers && self.timers_pending().await?)
            {
                break;
            }
            if claimed == free && free > 0 {
                continue; // there may be more right away
            }
            tokio::select! {
                Some(done) = running.join_next_with_id() => {
                    let ended = match done {
                        Ok((id, e)) => { held.remove(&id); e }
                        Err(e) => { held.remove(&e.id()); Ended::Failed }
                    };
                    tally(&mut report, ended);
                }
                _ = self.store.tasks().wait_for_work(self.opts.poll), if running.len() < conc => {}
                _ = shutdown.changed() => {}
            }
        }
        // Graceful stop: let running tasks finish, then give the rest back.
        let deadline = tokio::time::sleep(self.opts.shutdown_grace);
        tokio::pin!(deadline);
        while !running.is_empty() {
            tokio::select! {
                Some(done) = running.join_next_with_id() => {
                    match done {
                        Ok((id, e)) => { held.remove(&id); tally(&mut report, e); }
                        Err(e) => { held.remove(&e.id()); }
                    }
                }
                _ = &mut deadline => break,
            }
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
        let now = self.clock.now();
        let items: Vec<Finish> = held
            .values()
            .map(|id| Finish { id: *id, outcome: Outcome::Snooze { run_after: now } })
            .collect();
        if !items.is_empty() {
            let ok = self.store.tasks().finish(&self.opts.id, &items, now).await?;
            report.released += ok.iter().filter(|b| **b).count() as u64;
        }
        Ok(report)
    }
}

fn tally(r: &mut WorkerReport, e: Ended) {
    match e {
        Ended::Succeeded => r.succeeded += 1,
        Ended::Failed => r.failed += 1,
        Ended::Suspended => r.suspended += 1,
        Ended::Escalated => r.escalated += 1,
        Ended::Lost => r.lost += 1,
    }
}

fn backoff(
    opts: &WorkerOptions,
    failures: u32,
    now: DateTime<Utc>,
    rng: &SeededRng,
) -> DateTime<Utc> {
    let base = opts.retry_base.as_millis() as u64;
    let ceiling = base.saturating_mul(1 << failures.min(20)).min(600_000);
    let delay = ceiling / 2 + rng.below(ceiling / 2 + 1);
    now + chrono::Duration::milliseconds(delay as i64)
}

async fn run_one(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    registry: Arc<Registry>,
    opts: WorkerOptions,
    task: TaskRecord,
) -> Ended {
    let rng = SeededRng::from_entropy();
    let fence = Fence { task: task.id, worker: opts.id.clone() };
    let failures = task.failures;
    // The heartbeat runs as its own tokio task: awaited inside a `select!` next to the work
    // it would stall the work, and on PostgreSQL wait on the row lock the work's open
    // transaction holds: a deadlock.
    let (lost_tx, mut lost_rx) = tokio::sync::watch::channel(false);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // When the lease was last renewed (the moment the renewal was sent, which the store's
    // expiry counts from), in the runtime's monotonic time; the claim counts as one.
    let (renewed_tx, renewed_rx) = tokio::sync::watch::channel(tokio::time::Instant::now());
    let beat = {
        let (store, clock, fence, lease) =
            (store.clone(), clock.clone(), fence.clone(), opts.lease);
        let mut stop = stop_rx;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(lease / 3);
            every.tick().await;
            loop {
                // Only the wait is cut short when the work ends, never a store call in
                // flight: a store future dropped half-way can leave its pooled connection
                // in a state the next user pays for.
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.changed() => return,
                }
                let sent = tokio::time::Instant::now();
                let until = clock.now() + chrono::Duration::from_std(lease).unwrap_or_default();
                match store.tasks().heartbeat(&fence, until).await {
                    Ok(()) => {
                        let _ = renewed_tx.send(sent);
                    }
                    Err(StoreError::LeaseLost(_)) => {
                        let _ = lost_tx.send(true);
                        return;
                    }
                    Err(_) => {} // try again at the next beat
                }
            }
        })
    };
    let span = tracing::info_span!(
        "task",
        kind = %task.kind,
        id = %task.id,
        attempt = task.attempts,
        worker = %opts.id
    );
    let work = tracing::Instrument::instrument(
        execute(store.clone(), clock.clone(), &registry, &opts, task),
        span.clone(),
    );
    let outcome = tokio::select! {
        r = work => r,
        _ = lost_rx.wait_for(|lost| *lost) => Err(WfError::LeaseLost("heartbeat refused".into())),
        _ = lease_runs_out(renewed_rx, opts.lease) => Err(WfError::LeaseLost(
            "the lease ran out without a renewal (the database unreachable?)".into(),
        )),
    };
    // The heartbeat stops between beats (see above), never inside one.
    let _ = stop_tx.send(true);
    let _ = beat.await;
    let now = clock.now();
    // What the task record keeps holds no secret (`l9_types::redact`).
    let outcome = match outcome {
        Ok(v) => Ok(l9_types::redact::redact_json(&v).unwrap_or(v)),
        Err(WfError::Failed(m)) => Err(WfError::Failed(l9_types::redact::redact(&m).into_owned())),
        Err(WfError::Step { key, message }) => {
            Err(WfError::Step { key, message: l9_types::redact::redact(&message).into_owned() })
        }
        other => other,
    };
    let (outcome, ended) = match outcome {
        Ok(v) => (Outcome::Succeeded(v), Ended::Succeeded),
        Err(WfError::SleepUntil(t)) => (Outcome::Snooze { run_after: t }, Ended::Suspended),
        Err(WfError::Waiting(_)) => (Outcome::Wait { note: None }, Ended::Suspended),
        Err(e @ (WfError::Escalated(_) | WfError::Diverged(_))) => {
            (Outcome::Wait { note: Some(format!("paused: {e}")) }, Ended::Escalated)
        }
        Err(WfError::LeaseLost(_)) => return Ended::Lost,
        Err(e @ WfError::Store(_)) => (
            Outcome::Failed {
                error: e.to_string(),
                retry_at: Some(backoff(&opts, failures, now, &rng)),
            },
            Ended::Failed,
        ),
        Err(e @ (WfError::Step { .. } | WfError::Failed(_))) => {
            (Outcome::Failed { error: e.to_string(), retry_at: None }, Ended::Failed)
        }
    };
    span.in_scope(|| tracing::info!(ended = ?ended, "task stopped"));
    let item = [Finish { id: fence.task, outcome }];
    for attempt in 0..5u32 {
        match store.tasks().finish(&opts.id, &item, now).await {
            Ok(ok) if ok.first() == Some(&true) => return ended,
            Ok(_) => return Ended::Lost,
            Err(_) => tokio::time::sleep(Duration::from_millis(50 << attempt)).await,
        }
    }
    // The lease will expire and the task be reclaimed.
    Ended::Lost
}

/// Returns a tenth of a lease before the lease ends unless it is renewed first (each renewal
/// restarts the count from when it was sent): self-fencing. A worker cut off from the
/// database cannot learn that another has taken its task over once the lease expired; its
/// journal writes would be refused (fenced by the store), but effects outside the store —
/// a file written, a request sent, a merge — would not. So the work stops while the lease
/// still holds, and an effect is never begun by a worker that may no longer own the task.
async fn lease_runs_out(mut renewed: watch::Receiver<tokio::time::Instant>, lease: Duration) {
    let margin = lease / 10;
    loop {
        let from = *renewed.borrow_and_update();
        tokio::select! {
            _ = tokio::time::sleep_until(from + lease.saturating_sub(margin)) => return,
            r = renewed.changed() => {
                if r.is_err() {
                    // The heartbeat ended (the work is ending): nothing more to watch.
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// Runs a claimed task's workflow to its next stopping point.
async fn execute(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    registry: &Registry,
    opts: &WorkerOptions,
    task: TaskRecord,
) -> Result<serde_json::Value, WfError> {
    let Some(f) = registry.get(&task.kind).cloned() else {
        return Err(WfError::Store(StoreError::Invalid(format!(
            "no workflow named `{}` is registered on worker {}",
            task.kind, opts.id
        ))));
    };
    let payload = task.payload.clone();
    let ctx =
        Ctx::load(store, clock, SeededRng::from_entropy(), task, &opts.id, Mode::Live).await?;
    let out = f(ctx.clone(), payload).await;
    // Write-behind journal entries are durable before the task's outcome is recorded.
    let flushed = ctx.flush().await;
    let out = match (out, flushed) {
        (Err(e @ WfError::LeaseLost(_)), _) => return Err(e),
        (_, Err(e)) => return Err(e),
        (out, Ok(())) => out?,
    };
    ctx.check_complete().map_err(WfError::Diverged)?;
    Ok(out)
}
