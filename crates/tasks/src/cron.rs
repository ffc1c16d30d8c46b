//! Cron schedules: recurring tasks enqueued exactly once per tick, even with several
//! schedulers running (the store's `cron_fire` records each tick once).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use l9_store::{NewTask, Store};
use l9_types::{Clock, IdSource, SeededRng, TaskId};
use serde_json::Value;
use tokio::sync::watch;

use crate::error::{Result, TaskError};

/// One recurring task.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub expr: String,
    cron: Cron,
    pub queue: String,
    pub kind: String,
    pub payload: Value,
}

impl Schedule {
    /// `expr` is a 5-field cron expression (`minute hour day month weekday`), or 6 fields
    /// with seconds first.
    pub fn new(
        name: &str,
        expr: &str,
        queue: &str,
        kind: &str,
        payload: Value,
    ) -> Result<Schedule> {
        let cron: Cron = expr.parse().map_err(|e| {
            TaskError::Invalid(format!(
                "schedule `{name}`: `{expr}` is not a cron expression ({e}); use e.g. `*/5 * * * *`"
            ))
        })?;
        Ok(Schedule {
            name: name.into(),
            expr: expr.into(),
            cron,
            queue: queue.into(),
            kind: kind.into(),
            payload,
        })
    }

    /// The latest tick at or before `now`.
    pub fn latest_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&now, true).ok()
    }

    pub fn next_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now, false).ok()
    }
}

/// Fires due ticks of its schedules.
#[derive(Debug)]
pub struct Scheduler {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: SeededRng,
    schedules: Vec<Schedule>,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: SeededRng,
        schedules: Vec<Schedule>,
    ) -> Self {
        Scheduler { store, clock, rng, schedules }
    }

    /// Enqueues the latest tick of each schedule if it is later than `since` and not
    /// enqueued yet (by anyone). Missed older ticks are not replayed: after downtime a
    /// schedule runs once, not once per missed tick. Returns how many this call enqueued.
    pub async fn fire_due(&self, since: DateTime<Utc>) -> Result<usize> {
        let now = self.clock.now();
        let mut fired = 0;
        for s in &self.schedules {
            let Some(tick) = s.latest_tick(now) else { continue };
            if tick <= since {
                continue;
            }
            let id = TaskId::new(&IdSource { clock: self.clock.as_ref(), rng: &self.rng });
            let mut t = NewTask::new(id, s.queue.clone(), s.kind.clone(), s.payload.clone());
            t.idempotency_key = Some(format!("cron:{}@{}", s.name, tick.to_rfc3339()));
            if self.store.tasks().cron_fire(&s.name, tick, &t, now).await? {
                fired += 1;
            }
        }
        Ok(fired)
    }

    /// Fires ticks as they come until `shutdown`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        let mut since = self.clock.now();
        loop {
            let now = self.clock.now();
            self.fire_due(since).await?;
            since = now;
            let next = self.schedules.iter().filter_map(|s| s.next_tick(now)).min();
            let wait = next
                .and_then(|n| (n - now).to_std().ok())
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60))
                .max(Duration::from_millis(50));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return Ok(()),
            }
            if *shutdown.borrow() {
                return Ok(());
            }
        }
    }
}
