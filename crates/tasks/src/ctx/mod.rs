//! The durable workflow context.
//!
//! Every nondeterministic thing a workflow does goes through [`Ctx`] and is journaled under
//! a deterministic key (`l9_kernel::journal::StepKeys`). A restarted execution replays the
//! journal: recorded results come back instead of effects running again. The recovery
//! rule for a step that started but never finished is `l9_kernel::journal::decide`.
//!
//! Writes: a pure or idempotent step costs one journal append (its result); compensable
//! and irreversible steps also append a "started" marker first, so a crash in between is
//! visible. Each append is one transaction holding the journal row and its packet (and a
//! blob for results over [`BLOB_THRESHOLD`] bytes), fenced by the task's lease.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use l9_kernel::journal::{self, Decision, Divergence, EntryKind, Recorded, StepKeys};
use l9_store::{
    Fence, JournalRow, JournalStatus, NewTask, Store, TaskRecord, TaskState, journal_value_blob,
};
use l9_types::{Clock, Effect, IdSource, PacketId, RunId, SeededRng, TaskId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::WfError;

mod write;
use write::Deferred;

/// Results larger than this (serialized) go to a content-addressed blob.
pub const BLOB_THRESHOLD: usize = 16 * 1024;

/// How the context treats effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Normal execution: recorded results are reused, new effects run and are journaled.
    Live,
    /// Replay of a finished run: nothing runs and nothing is written; any request the
    /// journal cannot answer is a divergence.
    Replay,
}

#[derive(Debug, Clone)]
struct Rec {
    status: JournalStatus,
    body: Value,
}

#[derive(Debug, Default)]
struct JState {
    recorded: HashMap<String, Rec>,
    /// Keys in order of first appearance in the journal.
    order: Vec<String>,
    /// Keys requested by this execution, in order.
    requested: Vec<String>,
    next_seq: u64,
    keys: StepKeys,
    last_packet: Option<PacketId>,
    /// Packets the next entry cites as parents besides `last_packet` (see [`Ctx::cite`]).
    cited: Vec<PacketId>,
    /// Signals taken by `poll_signal`, per name.
    consumed: HashMap<String, u32>,
    /// Whether the latest request was answered from the journal.
    last_recorded: bool,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: SeededRng,
    task: TaskRecord,
    run: RunId,
    fence: Fence,
    mode: Mode,
    actor: String,
    state: Mutex<JState>,
    /// Appends are serialised so each packet's parent is already stored.
    append: tokio::sync::Mutex<()>,
    /// Write-behind entries (pure steps, `now`, `random`) and their flusher.
    deferred: Mutex<Deferred>,
    flushed: tokio::sync::Notify,
    /// Wakes the flusher out of its batching pause (someone waits in `flush`).
    urgent: tokio::sync::Notify,
}

/// The workflow context: cheap to clone, safe to use from concurrent branches of one run.
#[derive(Clone)]
pub struct Ctx {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("run", &self.inner.run).field("mode", &self.inner.mode).finish()
    }
}

/// The run id of a workflow task: the same UUID as its task.
pub fn run_of(task: TaskId) -> RunId {
    RunId(task.0)
}

impl Ctx {
    /// A context for `task`, held by `worker`, with the run's journal loaded.
    pub async fn load(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: SeededRng,
        task: TaskRecord,
        worker: &str,
        mode: Mode,
    ) -> Result<Ctx, WfError> {
        let run = task.run_id.unwrap_or(run_of(task.id));
        let rows = store.tasks().load_journal(run).await?;
        let mut st = JState::default();
        for r in &rows {
            st.absorb(r);
        }
        // A child's first entry descends from the parent's entry that spawned it, so lineage
        // runs from the parent's inputs through every child (the spawn key is the child's
        // idempotency key: `{parent run}/{key}`).
        if rows.is_empty()
            && mode == Mode::Live
            && task.parent.is_some()
            && let Some((parent_run, key)) =
                task.idempotency_key.as_deref().and_then(|k| k.split_once('/'))
            && let Ok(parent_run) = parent_run.parse::<RunId>()
            && let Some(p) = store.tasks().journal_packet(parent_run, key).await?
        {
            st.cited.push(p);
        }
        let fence = Fence { task: task.id, worker: worker.to_string() };
        Ok(Ctx {
            inner: Arc::new(Inner {
                store,
                clock,
                rng,
                run,
                fence,
                mode,
                actor: format!("workflow:{}", task.kind),
                task,
                state: Mutex::new(st),
                append: tokio::sync::Mutex::new(()),
                deferred: Mutex::new(Deferred::default()),
                flushed: tokio::sync::Notify::new(),
                urgent: tokio::sync::Notify::new(),
            }),
        })
    }

    pub fn run_id(&self) -> RunId {
        self.inner.run
    }

    pub fn task(&self) -> &TaskRecord {
        &self.inner.task
    }

    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Whether the latest request was answered from the journal rather than live. A loop
    /// that polls (`poll_children`, `poll_signal`) and then parks must poll again instead of
    /// parking when its polls were replayed: they describe the world before the last park.
    pub fn replayed_last(&self) -> bool {
        self.lock().last_recorded
    }

    /// Makes the next journal entry cite `packet` as a parent too: the entry then descends
    /// from what it was computed from (the run's spec and IR, a stored plan), not only from
    /// the entry before it. `packet` must be stored already. Call it inside the step whose
    /// entry should cite it; a recorded step answered from the journal ignores it.
    pub fn cite(&self, packet: PacketId) {
        let mut st = self.lock();
        if !st.cited.contains(&packet) {
            st.cited.push(packet);
        }
    }

    /// The packet of the latest journal entry: the tip of this run's lineage (commits and
    /// evidence cite it).
    pub fn last_packet(&self) -> Option<PacketId> {
        self.lock().last_packet
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the next key for (kind, name) and returns what the journal holds for it.
    fn begin(&self, kind: EntryKind, name: &str) -> Result<(String, Option<Rec>), WfError> {
        let mut st = self.lock();
        let key = st.keys.next(kind, name);
        let seq = st.requested.len() as u64;
        st.requested.push(key.clone());
        let rec = st.recorded.get(&key).cloned();
        st.last_recorded = rec.is_some();
        if self.inner.mode == Mode::Replay && rec.is_none() {
            // Every recorded key already asked for: the run simply got no further.
            let asked: std::collections::HashSet<&String> = st.requested.iter().collect();
            if st.order.iter().all(|k| asked.contains(k)) {
                return Err(WfError::Waiting(
                    "the end of the journal (the run had not finished)".into(),
                ));
            }
            return Err(WfError::Diverged(Divergence {
                seq,
                recorded: st.order.get(seq as usize).cloned(),
                requested: Some(key),
            }));
        }
        Ok((key, rec))
    }

    /// Called when the workflow returns: every recorded key must have been asked for.
    pub(crate) fn check_complete(&self) -> Result<(), Divergence> {
        let st = self.lock();
        let asked: std::collections::HashSet<&String> = st.requested.iter().collect();
        match st.order.iter().position(|k| !asked.contains(k)) {
            None => Ok(()),
            Some(i) => Err(Divergence {
                seq: i as u64,
                recorded: Some(st.order[i].clone()),
                requested: st.requested.get(i).cloned(),
            }),
        }
    }

    async fn value_of(&self, rec: &Rec) -> Result<Value, WfError> {
        if let Some(v) = rec.body.get("value") {
            return Ok(v.clone());
        }
        if let Some(h) = journal_value_blob(&rec.body) {
            let bytes = self.inner.store.tasks().journal_blob(&h).await?.ok_or_else(|| {
                WfError::Failed(format!("journal blob {h} is missing from the store"))
            })?;
            return Ok(serde_json::from_slice(&bytes)?);
        }
        Ok(Value::Null)
    }

    async fn recorded_outcome<T: DeserializeOwned>(
        &self,
        key: &str,
        rec: &Rec,
    ) -> Result<T, WfError> {
        match rec.status {
            JournalStatus::Completed => Ok(serde_json::from_value(self.value_of(rec).await?)?),
            JournalStatus::Failed => Err(WfError::Step {
                key: key.to_string(),
                message: rec
                    .body
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("failed")
                    .to_string(),
            }),
            JournalStatus::Started => Err(WfError::Failed(format!("step `{key}` has no outcome"))),
        }
    }

    /// Runs `f` as a journaled step named `name` with effect class `effect`.
    ///
    /// On a resumed run the recorded result (or failure) is returned without running `f`.
    /// A step that started but has no outcome is re-run if `effect` is pure or idempotent;
    /// otherwise the run escalates (pauses) until resolved: `l9 tasks resolve` sends a
    /// `resolve` signal saying whether the effect happened (`done`, with its value) or not
    /// (`rerun`).
    pub async fn step<T, E, F, Fut>(&self, name: &str, effect: Effect, f: F) -> Result<T, WfError>
    where
        T: Serialize + DeserializeOwned,
        E: std::fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let (key, rec) = self.begin(EntryKind::Step, name)?;
        let recorded = rec.as_ref().map(|r| match r.status {
            JournalStatus::Started => Recorded::Started,
            JournalStatus::Completed => Recorded::Completed(Value::Null),
            JournalStatus::Failed => Recorded::Failed(String::new()),
        });
        match journal::decide(recorded.as_ref(), &effect, &key) {
            Decision::UseRecorded => {
                let Some(rec) = rec else { return Err(WfError::failed("journal lookup failed")) };
                return self.recorded_outcome(&key, &rec).await;
            }
            Decision::Escalate(reason) => {
                // A resolution already acted on (recorded on the marker) does not count twice.
                let used =
                    rec.as_ref().and_then(|r| r.body.get("resolution")).and_then(Value::as_u64);
                match self.resolution(&key).await? {
                    Some((seq, _)) if used == Some(u64::from(seq)) => {
                        return Err(WfError::Escalated(reason));
                    }
                    Some((_, Resolution::Done(v))) => {
                        self.append(
                            &key,
                            EntryKind::Step,
                            JournalStatus::Completed,
                            Some(&effect),
                            Some(&v),
                            None,
                        )
                        .await?;
                        return Ok(serde_json::from_value(v)?);
                    }
                    Some((seq, Resolution::Rerun)) => {
                        self.append_with(
                            &key,
                            EntryKind::Step,
                            JournalStatus::Started,
                            Some(&effect),
                            None,
                            None,
                            Some(seq),
                        )
                        .await?;
                    }
                    None => return Err(WfError::Escalated(reason)),
                }
            }
            Decision::Run => {}
        }
        if self.inner.mode == Mode::Replay {
            return Err(WfError::failed(format!("replay cannot run step `{key}`")));
        }
        if journal::needs_start_marker(&effect) && rec.is_none() {
            self.append(&key, EntryKind::Step, JournalStatus::Started, Some(&effect), None, None)
                .await?;
        } else if effect != Effect::Pure {
            // An effect outside the run: everything journaled before it is durable first.
            let _serial = self.inner.append.lock().await;
            self.flush().await?;
        }
        let pure = effect == Effect::Pure;
        let span = tracing::info_span!("step", key = %key, effect = ?effect);
        let (status, value, error, out) = match tracing::Instrument::instrument(f(), span).await {
            Ok(v) => (JournalStatus::Completed, Some(serde_json::to_value(&v)?), None, Ok(v)),
            // The database's surroundings failed (disk full, read-only, unreachable): the
            // attempt fails and is retried once the cause is gone; the step is not recorded
            // as failed (a resume or retry would meet the recorded failure for good).
            Err(e) if l9_store::is_environment_message(&e.to_string()) => {
                return Err(WfError::Store(l9_store::StoreError::Unavailable(format!(
                    "step `{key}`: {e}"
                ))));
            }
            Err(e) => {
                let message = e.to_string();
                (
                    JournalStatus::Failed,
                    None,
                    Some(message.clone()),
                    Err(WfError::Step { key: key.clone(), message }),
                )
            }
        };
        if pure {
            self.append_deferred(
                &key,
                EntryKind::Step,
                status,
                Some(&effect),
                value.as_ref(),
                error.as_deref(),
            )
            .await?;
        } else {
            self.append(
                &key,
                EntryKind::Step,
                status,
                Some(&effect),
                value.as_ref(),
                error.as_deref(),
            )
            .await?;
        }
        out
    }

    /// An operator's answer for an escalated step, sent as a `resolve` signal whose payload
    /// is `{"key": KEY, "action": "rerun"}` or `{"key": KEY, "action": "done", "value": …}`.
    async fn resolution(&self, key: &str) -> Result<Option<(u32, Resolution)>, WfError> {
        let sigs = self.inner.store.tasks().signals(self.inner.task.id).await?;
        let found = sigs
            .iter()
            .filter(|s| {
                s.name == "resolve" && s.payload.get("key").and_then(Value::as_str) == Some(key)
            })
            .max_by_key(|s| s.seq);
        Ok(found.map(|s| {
            let r = match s.payload.get("action").and_then(Value::as_str) {
                Some("done") => {
                    Resolution::Done(s.payload.get("value").cloned().unwrap_or(Value::Null))
                }
                _ => Resolution::Rerun,
            };
            (s.seq, r)
        }))
    }

    /// The current time, journaled: a resumed run sees the same instant.
    pub async fn now(&self) -> Result<DateTime<Utc>, WfError> {
        let clock = self.inner.clock.clone();
        self.journaled(EntryKind::Now, "now", move || clock.now()).await
    }

    /// A random number, journaled.
    pub async fn random(&self) -> Result<u64, WfError> {
        self.journaled(EntryKind::Random, "random", || self.inner.rng.next_u64()).await
    }

    /// A value read from the world (`make`), journaled write-behind; a resumed run gets
    /// the recorded one.
    async fn journaled<T: Serialize + DeserializeOwned>(
        &self,
        kind: EntryKind,
        name: &str,
        make: impl FnOnce() -> T,
    ) -> Result<T, WfError> {
        let (key, rec) = self.begin(kind, name)?;
        if let Some(rec) = rec {
            return self.recorded_outcome(&key, &rec).await;
        }
        let v = make();
        let value = serde_json::to_value(&v)?;
        self.append_deferred(&key, kind, JournalStatus::Completed, None, Some(&value), None)
            .await?;
        Ok(v)
    }

    /// A durable timer: the wake-up time is journaled; until it passes the run is parked
    /// in the queue (no worker slot held), whatever happens to the process.
    pub async fn sleep(&self, d: std::time::Duration) -> Result<(), WfError> {
        let (key, rec) = self.begin(EntryKind::Sleep, "sleep")?;
        let wake: DateTime<Utc> = match rec {
            Some(rec) => self.recorded_outcome(&key, &rec).await?,
            None => {
                let wake = self.inner.clock.now() + Duration::from_std(d).unwrap_or(Duration::MAX);
                self.append(
                    &key,
                    EntryKind::Sleep,
                    JournalStatus::Completed,
                    None,
                    Some(&json!(wake)),
                    None,
                )
                .await?;
                wake
            }
        };
        if self.inner.mode == Mode::Replay || self.inner.clock.now() >= wake {
            Ok(())
        } else {
            Err(WfError::SleepUntil(wake))
        }
    }

    /// Waits for the next signal called `name` (the n-th call takes the n-th signal).
    pub async fn wait_for_signal(&self, name: &str) -> Result<Value, WfError> {
        let (key, rec) = self.begin(EntryKind::Signal, name)?;
        if let Some(rec) = rec {
            return self.recorded_outcome(&key, &rec).await;
        }
        let nth: u32 = key.rsplit('#').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let sigs = self.inner.store.tasks().signals(self.inner.task.id).await?;
        match sigs.into_iter().find(|s| s.name == name && s.seq == nth) {
            Some(s) => {
                self.append(
                    &key,
                    EntryKind::Signal,
                    JournalStatus::Completed,
                    None,
                    Some(&s.payload),
                    None,
                )
                .await?;
                Ok(s.payload)
            }
            None => Err(WfError::Waiting(format!("signal `{name}`"))),
        }
    }

    /// Waits for `l9 tasks approve|reject`: `true` when approved.
    pub async fn approval(&self, what: &str) -> Result<bool, WfError> {
        let v = self.wait_for_signal("approval").await.map_err(|e| match e {
            WfError::Waiting(_) => WfError::Waiting(format!("approval of {what}")),
            other => other,
        })?;
        Ok(v.get("approved").and_then(Value::as_bool).unwrap_or(false))
    }

    /// Starts a child workflow `kind` with `input` (exactly once, whatever the crashes) and
    /// returns its task id; [`Ctx::join`] waits for its result.
    ///
    /// A `started` marker is journaled before the child is enqueued, so the child's first
    /// entry can descend from it (lineage from the parent's inputs through every child) and
    /// a crash in between re-enqueues the same child (same idempotency key) on resume.
    pub async fn spawn_child(&self, kind: &str, input: Value) -> Result<TaskId, WfError> {
        let (key, rec) = self.begin(EntryKind::Child, kind)?;
        match rec {
            Some(rec) if rec.status != JournalStatus::Started => {
                return self.recorded_outcome(&key, &rec).await;
            }
            Some(_) if self.inner.mode == Mode::Replay => {
                return Err(WfError::Waiting(
                    "the end of the journal (the run had not finished)".into(),
                ));
            }
            Some(_) => {} // started before a crash: enqueueing again finds the same child
            None => {
                self.append(&key, EntryKind::Child, JournalStatus::Started, None, None, None)
                    .await?;
            }
        }
        let t = &self.inner.task;
        let mut child = NewTask::new(
            TaskId::new(&IdSource { clock: self.inner.clock.as_ref(), rng: &self.inner.rng }),
            t.queue.clone(),
            kind,
            input,
        );
        child.parent = Some(t.id);
        child.max_attempts = 0;
        child.priority = t.priority;
        child.idempotency_key = Some(format!("{}/{key}", self.inner.run));
        let now = self.inner.clock.now();
        let id = self.inner.store.tasks().enqueue(&[child], now).await?[0].id();
        self.append(&key, EntryKind::Child, JournalStatus::Completed, None, Some(&json!(id)), None)
            .await?;
        Ok(id)
    }

    /// The result of child `id`; the run waits (parked) until the child ends.
    pub async fn join(&self, id: TaskId) -> Result<Value, WfError> {
        let (key, rec) = self.begin(EntryKind::Join, &id.to_string())?;
        if let Some(rec) = rec {
            return self.recorded_outcome(&key, &rec).await;
        }
        let child = self
            .inner
            .store
            .tasks()
            .get_task(id)
            .await?
            .ok_or_else(|| WfError::failed(format!("child task {id} does not exist")))?;
        match child.state {
            TaskState::Succeeded => {
                let v = child.result.unwrap_or(Value::Null);
                self.append(&key, EntryKind::Join, JournalStatus::Completed, None, Some(&v), None)
                    .await?;
                Ok(v)
            }
            TaskState::Dead | TaskState::Cancelled => {
                let message = format!(
                    "child {id} ({}) ended {}: {}",
                    child.kind,
                    child.state.as_str(),
                    child.error.unwrap_or_default()
                );
                self.append(
                    &key,
                    EntryKind::Join,
                    JournalStatus::Failed,
                    None,
                    None,
                    Some(&message),
                )
                .await?;
                Err(WfError::Step { key, message })
            }
            TaskState::Queued | TaskState::Leased | TaskState::Waiting => {
                Err(WfError::Waiting(format!("child {id}")))
            }
        }
    }

    /// The first of `ids` (children of this run) that has ended, if any, without waiting:
    /// `(id, Ok(result))` or `(id, Err(why))`. Journaled, so a resumed run sees the same
    /// answers in the same order. Ties break by end time, then id.
    pub async fn poll_children(
        &self,
        ids: &[TaskId],
    ) -> Result<Option<(TaskId, Result<Value, String>)>, WfError> {
        let (key, rec) = self.begin(EntryKind::Join, "any")?;
        let v: Value = match rec {
            Some(rec) => self.value_of(&rec).await?,
            None => {
                let mut ended: Vec<TaskRecord> = Vec::new();
                for id in ids {
                    if let Some(t) = self.inner.store.tasks().get_task(*id).await?
                        && t.state.is_terminal()
                    {
                        ended.push(t);
                    }
                }
                ended.sort_by(|a, b| a.updated_at.cmp(&b.updated_at).then(a.id.cmp(&b.id)));
                let v = match ended.into_iter().next() {
                    None => Value::Null,
                    Some(t) if t.state == TaskState::Succeeded => {
                        json!({"id": t.id, "ok": true, "value": t.result.unwrap_or(Value::Null)})
                    }
                    Some(t) => json!({"id": t.id, "ok": false,
                        "error": format!("{} ({})", t.state.as_str(), t.error.unwrap_or_default())}),
                };
                self.append(&key, EntryKind::Join, JournalStatus::Completed, None, Some(&v), None)
                    .await?;
                v
            }
        };
        if v.is_null() {
            return Ok(None);
        }
        let id: TaskId = serde_json::from_value(v["id"].clone())?;
        Ok(Some(if v["ok"].as_bool() == Some(true) {
            (id, Ok(v["value"].clone()))
        } else {
            (id, Err(v["error"].as_str().unwrap_or("failed").to_string()))
        }))
    }

    /// The next unread signal called `name`, if one has arrived, without waiting. Journaled.
    pub async fn poll_signal(&self, name: &str) -> Result<Option<Value>, WfError> {
        let (key, rec) = self.begin(EntryKind::Signal, &format!("poll:{name}"))?;
        let v: Value = match rec {
            Some(rec) => self.value_of(&rec).await?,
            None => {
                let nth = self.lock().consumed.get(name).copied().unwrap_or(0);
                let sigs = self.inner.store.tasks().signals(self.inner.task.id).await?;
                let v = match sigs.into_iter().find(|s| s.name == name && s.seq == nth) {
                    Some(s) => json!({"payload": s.payload}),
                    None => Value::Null,
                };
                self.append(
                    &key,
                    EntryKind::Signal,
                    JournalStatus::Completed,
                    None,
                    Some(&v),
                    None,
                )
                .await?;
                v
            }
        };
        if v.is_null() {
            return Ok(None);
        }
        *self.lock().consumed.entry(name.to_string()).or_insert(0) += 1;
        Ok(Some(v["payload"].clone()))
    }

    /// Cancels child `id` (and what it spawned), once.
    pub async fn cancel_child(&self, id: TaskId) -> Result<(), WfError> {
        let store = self.inner.store.clone();
        let now = self.inner.clock.now();
        let key = format!("{}/cancel/{id}", self.inner.run);
        self.step(&format!("cancel:{id}"), Effect::Idempotent { key }, || async move {
            store.tasks().cancel(id, now).await.map(|_| ()).map_err(|e| e.to_string())
        })
        .await
    }

    /// Saves an opaque checkpoint for this task (long tasks resume from it).
    pub async fn checkpoint(&self, data: &[u8]) -> Result<(), WfError> {
        if self.inner.mode == Mode::Replay {
            return Ok(());
        }
        let now = self.inner.clock.now();
        Ok(self.inner.store.tasks().put_checkpoint(&self.inner.fence, data, now).await?)
    }

    /// The last checkpoint saved by any attempt of this task.
    pub async fn last_checkpoint(&self) -> Result<Option<Vec<u8>>, WfError> {
        Ok(self.inner.store.tasks().get_checkpoint(self.inner.task.id).await?.map(|c| c.data))
    }
}

enum Resolution {
    Done(Value),
    Rerun,
}

impl JState {
    fn absorb(&mut self, r: &JournalRow) {
        if !self.recorded.contains_key(&r.key) {
            self.order.push(r.key.clone());
        }
        self.recorded.insert(r.key.clone(), Rec { status: r.status, body: r.body.clone() });
        self.next_seq = self.next_seq.max(r.seq + 1);
        self.last_packet = Some(r.packet);
    }
}
