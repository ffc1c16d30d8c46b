//! The Task Runtime's operations as the edges use them: enqueue, inspect, retry, cancel,
//! approve/reject, resolve escalations, replay, fork, and run a worker.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use l9_store::{Finish, JournalRow, NewTask, Outcome, Signal, TaskFilter, TaskRecord, TaskState};
use l9_tasks::{Registry, ReplayReport, Worker, WorkerOptions, WorkerReport, run_of};
use l9_types::{Clock, IdSource, SeededRng, SystemClock, TaskId};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::{Engine, EngineError, Result};

/// How to enqueue a task.
#[derive(Debug, Clone)]
pub struct EnqueueOptions {
    pub queue: String,
    pub priority: i32,
    pub delay: Option<Duration>,
    pub idempotency_key: Option<String>,
    /// Failures before dead-lettering; 0 = unlimited (the default for workflows).
    pub max_attempts: u32,
}

impl Default for EnqueueOptions {
    fn default() -> Self {
        EnqueueOptions {
            queue: "default".into(),
            priority: 0,
            delay: None,
            idempotency_key: None,
            max_attempts: 0,
        }
    }
}

/// One task with everything needed to understand it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDetail {
    pub task: TaskRecord,
    pub journal: Vec<JournalEntry>,
    pub signals: Vec<Signal>,
    pub children: Vec<TaskRecord>,
}

/// A journal row as shown to people.
#[derive(Debug, Clone, Serialize)]
pub struct JournalEntry {
    pub seq: u64,
    pub key: String,
    pub status: String,
    pub packet: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub value: Option<Value>,
    pub error: Option<String>,
    pub effect: Option<Value>,
}

impl From<JournalRow> for JournalEntry {
    fn from(r: JournalRow) -> Self {
        JournalEntry {
            seq: r.seq,
            key: r.key,
            status: r.status.as_str().into(),
            packet: r.packet.to_string(),
            at: r.at,
            value: r
                .body
                .get("value")
                .cloned()
                .or_else(|| r.body.get("blob").map(|b| json!({"blob": b}))),
            error: r.body.get("error").and_then(Value::as_str).map(str::to_string),
            effect: r.body.get("effect").cloned(),
        }
    }
}

impl Engine {
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    /// Enqueues a task of `kind` (a workflow registered on the workers).
    pub async fn enqueue(
        &self,
        kind: &str,
        payload: Value,
        opts: &EnqueueOptions,
    ) -> Result<(TaskId, bool)> {
        let clock = SystemClock;
        let rng = SeededRng::from_entropy();
        let id = TaskId::new(&IdSource { clock: &clock, rng: &rng });
        let now = clock.now();
        let mut t = NewTask::new(id, opts.queue.clone(), kind, payload);
        t.priority = opts.priority;
        t.max_attempts = opts.max_attempts;
        t.idempotency_key = opts.idempotency_key.clone();
        t.run_after = opts.delay.map(|d| now + chrono::Duration::from_std(d).unwrap_or_default());
        let e = self.store.tasks().enqueue(&[t], now).await?;
        let created = matches!(e[0], l9_store::Enqueued::Created(_));
        Ok((e[0].id(), created))
    }

    pub async fn task(&self, id: TaskId) -> Result<TaskRecord> {
        self.store
            .tasks()
            .get_task(id)
            .await?
            .ok_or_else(|| EngineError::Task(l9_tasks::TaskError::NotFound(format!("task {id}"))))
    }

    pub async fn task_detail(&self, id: TaskId) -> Result<TaskDetail> {
        let task = self.task(id).await?;
        let q = self.store.tasks();
        let run = task.run_id.unwrap_or(run_of(task.id));
        let journal = q.load_journal(run).await?.into_iter().map(JournalEntry::from).collect();
        let signals = q.signals(id).await?;
        let children = q
            .list_tasks(&TaskFilter { parent: Some(id), ..Default::default() }, None, 1000)
            .await?
            .tasks;
        Ok(TaskDetail { task, journal, signals, children })
    }

    pub async fn list_tasks(
        &self,
        filter: &TaskFilter,
        after: Option<TaskId>,
        limit: usize,
    ) -> Result<l9_store::TaskPage> {
        Ok(self.store.tasks().list_tasks(filter, after, limit).await?)
    }

    /// Queues a dead or cancelled task again.
    pub async fn retry_task(&self, id: TaskId) -> Result<()> {
        let t = self.task(id).await?;
        if !self.store.tasks().retry(id, SystemClock.now()).await? {
            return Err(EngineError::Task(l9_tasks::TaskError::Invalid(format!(
                "task {id} is {}; only dead or cancelled tasks can be retried",
                t.state.as_str()
            ))));
        }
        Ok(())
    }

    /// Cancels a task and what it spawned; returns how many tasks were cancelled.
    pub async fn cancel_task(&self, id: TaskId) -> Result<u64> {
        let t = self.task(id).await?;
        if t.state.is_terminal() {
            return Err(EngineError::Task(l9_tasks::TaskError::Invalid(format!(
                "task {id} already ended ({})",
                t.state.as_str()
            ))));
        }
        Ok(self.store.tasks().cancel(id, SystemClock.now()).await?)
    }

    /// Answers a run's approval gate.
    pub async fn approve(&self, id: TaskId, approved: bool, note: Option<&str>) -> Result<u32> {
        let t = self.task(id).await?;
        if t.state.is_terminal() {
            return Err(EngineError::Task(l9_tasks::TaskError::Invalid(format!(
                "task {id} already ended ({}); nothing to approve",
                t.state.as_str()
            ))));
        }
        let payload = json!({"approved": approved, "note": note});
        Ok(self.store.tasks().send_signal(id, "approval", &payload, SystemClock.now()).await?)
    }

    /// Sends any signal to a run.
    pub async fn signal(&self, id: TaskId, name: &str, payload: &Value) -> Result<u32> {
        self.task(id).await?;
        Ok(self.store.tasks().send_signal(id, name, payload, SystemClock.now()).await?)
    }

    /// Resolves an escalated step: `value = Some(v)` says the effect happened with result
    /// `v`; `None` says it did not and may run again.
    pub async fn resolve(&self, id: TaskId, step: &str, value: Option<Value>) -> Result<u32> {
        let payload = match value {
            Some(v) => json!({"key": step, "action": "done", "value": v}),
            None => json!({"key": step, "action": "rerun"}),
        };
        self.signal(id, "resolve", &payload).await
    }

    pub async fn replay(&self, registry: &Registry, id: TaskId) -> Result<ReplayReport> {
        Ok(l9_tasks::replay(self.store.clone(), self.clock(), registry, id).await?)
    }

    pub async fn fork(&self, id: TaskId, upto: u64, payload: Option<Value>) -> Result<TaskId> {
        Ok(l9_tasks::fork(self.store.clone(), self.clock(), id, upto, payload).await?)
    }

    /// The `[schedules.NAME]` of the configuration, each checked against `registry`: a
    /// schedule naming a workflow no worker runs is a configuration error with its file:line.
    pub fn schedules(&self, registry: &Registry) -> Result<Vec<l9_tasks::Schedule>> {
        self.config()
            .schedules
            .iter()
            .map(|c| {
                if registry.get(&c.kind).is_none() {
                    let mut known: Vec<&str> = registry.kinds().collect();
                    known.sort_unstable();
                    return Err(EngineError::Config(format!(
                        "{}: schedule {:?} runs workflow {:?}, which no worker knows; known: {}",
                        c.origin,
                        c.name,
                        c.kind,
                        known.join(", ")
                    )));
                }
                Ok(c.schedule()?)
            })
            .collect()
    }

    /// Fires `schedules` tick by tick until `shutdown` turns true (several schedulers on one
    /// database enqueue each tick once).
    pub async fn run_scheduler(
        &self,
        schedules: Vec<l9_tasks::Schedule>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        let s = l9_tasks::Scheduler::new(
            self.store.clone(),
            self.clock(),
            SeededRng::from_entropy(),
            schedules,
        );
        Ok(s.run(shutdown).await?)
    }

    /// Runs a worker with `registry` until `shutdown` turns true.
    pub async fn run_worker(
        &self,
        registry: Registry,
        opts: WorkerOptions,
        shutdown: watch::Receiver<bool>,
    ) -> Result<WorkerReport> {
        let w = Worker::new(self.store.clone(), self.clock(), Arc::new(registry), opts);
        Ok(w.run(shutdown).await?)
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

/// A worker id unique across hosts and processes: `host:pid:random`, then `@` and who
/// exactly the process is — the kernel's boot id (a machine, since it booted), the PID
/// namespace (a container) and the process's start time — so a lease held by a live process
/// elsewhere is never taken for a dead one here because its host name and pid match.
pub fn default_worker_id() -> String {
    let suffix = SeededRng::from_entropy().next_u64() % 0x10000;
    let pid = std::process::id();
    let base = format!("{}:{pid}:{suffix:04x}", host_name());
    match process_identity(pid) {
        Some(who) => format!("{base}@{who}"),
        None => base,
    }
}

/// `BOOT.PIDNS.START` for `pid` of this machine and namespace (Linux), or `None`.
fn process_identity(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let boot: String = boot.trim().chars().filter(|c| *c != '-').take(12).collect();
    Some(format!("{boot}.{}.{}", pid_namespace()?, start_ticks(pid)?))
}

/// This process's PID namespace (the inode in `/proc/self/ns/pid`).
fn pid_namespace() -> Option<String> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let s = link.to_string_lossy();
    Some(s.trim_start_matches("pid:[").trim_end_matches(']').to_string())
}

/// When `pid` started, in clock ticks since boot (`/proc/PID/stat`, field 22).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its end.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Whether a worker id names a process that is certainly gone: one of this machine (same
/// boot) and PID namespace whose pid no longer runs, or runs a process started at another
/// time (the pid was reused). A holder elsewhere — another machine, or a container sharing
/// the host name — cannot be known from here: false. Ids written before the identity was
/// added (`host:pid:suffix`) are judged by host name and pid alone.
pub fn worker_is_gone(owner: &str) -> bool {
    let (base, who) = match owner.split_once('@') {
        Some((b, w)) => (b, Some(w)),
        None => (owner, None),
    };
    let mut parts = base.rsplitn(3, ':');
    let (Some(_suffix), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    if host != host_name() || pid == std::process::id() || !Path::new("/proc/self").exists() {
        return false;
    }
    let Some(who) = who else {
        return !Path::new(&format!("/proc/{pid}")).exists();
    };
    let mut f = who.splitn(3, '.');
    let (Some(boot), Some(ns), Some(start)) = (f.next(), f.next(), f.next()) else {
        return false;
    };
    let ours = process_identity(std::process::id());
    let same_place = ours.as_deref().is_some_and(|o| {
        let mut g = o.splitn(3, '.');
        g.next() == Some(boot) && g.next() == Some(ns)
    });
    if !same_place {
        return false;
    }
    match start_ticks(pid) {
        None => true,
        Some(now) => start.parse::<u64>().is_ok_and(|then| then != now),
    }
}

impl Engine {
    /// Gives back the leases a dead process of this host still holds on `run` and its
    /// descendants (a `kill -9`ed `l9 run`), so they can be claimed now instead of when the
    /// lease runs out. Returns the tasks released. Leases of live processes, and of other
    /// hosts, are left alone.
    pub async fn reclaim_dead_leases(&self, run: TaskId) -> Result<Vec<TaskId>> {
        let mut todo = vec![self.task(run).await?];
        let mut released = Vec::new();
        let now = SystemClock.now();
        while let Some(t) = todo.pop() {
            if t.state == TaskState::Leased
                && let Some(owner) = t.lease_owner.as_deref()
                && worker_is_gone(owner)
            {
                let f = Finish { id: t.id, outcome: Outcome::Snooze { run_after: now } };
                if self.store.tasks().finish(owner, &[f], now).await?.first() == Some(&true) {
                    released.push(t.id);
                }
            }
            let f = TaskFilter { parent: Some(t.id), ..Default::default() };
            todo.extend(self.store.tasks().list_tasks(&f, None, 1000).await?.tasks);
        }
        Ok(released)
    }
}

/// Which tasks an id given by a user may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdScope {
    /// Loop runs (`l9.run`).
    Runs,
    /// Any task.
    Tasks,
}

/// The most tasks a prefix is matched against (newest first).
const PREFIX_SCAN: usize = 100_000;

impl Engine {
    /// Resolves an id given by a user: a whole id, a unique prefix of one (at least four
    /// characters; an ambiguous prefix is refused with the candidates), or `last` (the
    /// newest run, or the newest task started from outside).
    pub async fn resolve_id(&self, given: &str, scope: IdScope) -> Result<TaskId> {
        let given = given.trim();
        let filter = match scope {
            IdScope::Runs => TaskFilter { kind: Some("l9.run".into()), ..Default::default() },
            IdScope::Tasks => TaskFilter::default(),
        };
        let what = match scope {
            IdScope::Runs => "run",
            IdScope::Tasks => "task",
        };
        let list_hint = match scope {
            IdScope::Runs => "`l9 runs` lists runs",
            IdScope::Tasks => "`l9 tasks list` lists tasks",
        };
        if given == "last" {
            let f = match scope {
                IdScope::Runs => filter,
                IdScope::Tasks => TaskFilter { roots_only: true, ..Default::default() },
            };
            let page = self.list_tasks(&f, None, 1).await?;
            return page.tasks.first().map(|t| t.id).ok_or_else(|| {
                EngineError::Task(l9_tasks::TaskError::NotFound(format!(
                    "no {what} yet, so `last` names nothing"
                )))
            });
        }
        if let Ok(id) = given.parse::<TaskId>() {
            return Ok(id);
        }
        let prefix = given.to_ascii_lowercase();
        if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(EngineError::Task(l9_tasks::TaskError::Invalid(format!(
                "{given:?} is not a {what} id: give the whole id, a unique prefix of at least 4 characters, or `last`; {list_hint}"
            ))));
        }
        let mut found = Vec::new();
        let (mut after, mut scanned) = (None, 0usize);
        loop {
            let page = self.list_tasks(&filter, after, 1000).await?;
            scanned += page.tasks.len();
            found.extend(
                page.tasks.iter().map(|t| t.id).filter(|id| id.to_string().starts_with(&prefix)),
            );
            match page.next {
                Some(n) if scanned < PREFIX_SCAN && found.len() <= 10 => after = Some(n),
                _ => break,
            }
        }
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(EngineError::Task(l9_tasks::TaskError::NotFound(format!(
                "no {what} id starts with {given:?}; {list_hint}"
            )))),
            many => Err(EngineError::Task(l9_tasks::TaskError::Invalid(format!(
                "{given:?} is ambiguous: it starts {} {what} ids ({}{}); give more characters",
                many.len(),
                many.iter().take(10).map(ToString::to_string).collect::<Vec<_>>().join(", "),
                if many.len() > 10 { ", …" } else { "" }
            )))),
        }
    }
}
