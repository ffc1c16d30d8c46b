//! `l9 worker`, `l9 tasks …`, `l9 runs`.

use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};
use l9_engine::Engine;
use l9_engine::runtime::{EnqueueOptions, IdScope, TaskDetail, default_worker_id};
use l9_engine::{TaskError, WorkerOptions};
use l9_engine::{TaskFilter, TaskRecord, TaskState};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::output::{Out, snippet};

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Tasks run at the same time.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Only take tasks from this queue (repeatable; default: every queue).
    #[arg(long = "queue", value_name = "Q")]
    queues: Vec<String>,
    /// Lease length in seconds (heartbeats renew it every third).
    #[arg(long, default_value_t = 30)]
    lease: u64,
    /// Stop when nothing is left to do (instead of waiting for more work): nothing to claim,
    /// nothing running, and no timer or retry still to come in its queues (tasks waiting for
    /// a person do not keep it).
    #[arg(long)]
    exit_when_idle: bool,
    /// Seconds running tasks get to finish on SIGTERM/Ctrl-C before their leases are released.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    /// Log each task, step, model call, tool call and gate as spans on stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TasksCommand {
    /// List tasks, newest first.
    List {
        /// Only tasks in this state: queued, leased, waiting, succeeded, dead, cancelled.
        #[arg(long, value_parser = parse_state)]
        state: Option<TaskState>,
        /// Only tasks of this queue (`run` holds loop runs, `default` enqueued tasks).
        #[arg(long)]
        queue: Option<String>,
        /// Only tasks of this workflow kind (l9.run, l9.plan, l9.agent, l9.echo, l9.sleep,
        /// l9.approval).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show a task: its record, journal, signals and children; with --step, one journal
    /// entry's whole value (values stored as blobs are read back).
    Show {
        /// The task: an id, a unique prefix of one (4+ characters), or `last`.
        id: String,
        /// A journal key (`step:r1/gate#0`, as listed) or its sequence number.
        #[arg(long)]
        step: Option<String>,
    },
    /// Enqueue a task of KIND (a workflow the workers know, e.g. l9.echo, l9.sleep, l9.approval).
    Enqueue {
        /// The workflow to run; an unknown kind is refused with the known ones.
        kind: String,
        /// JSON payload.
        #[arg(long, default_value = "null")]
        payload: String,
        /// The queue workers claim it from (`l9 worker --queue`).
        #[arg(long, default_value = "default")]
        queue: String,
        /// Higher runs first.
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// Start no earlier than this many seconds from now.
        #[arg(long)]
        delay: Option<f64>,
        /// A second enqueue with the same key is a no-op.
        #[arg(long)]
        key: Option<String>,
        /// Failures before the task is dead-lettered (0 = never).
        #[arg(long, default_value_t = 0)]
        max_attempts: u32,
    },
    /// Queue a dead or cancelled task again.
    Retry {
        /// The task: an id, a unique prefix of one (4+ characters), or `last`.
        id: String,
    },
    /// Cancel a task and everything it spawned.
    Cancel {
        /// The task: an id, a unique prefix of one (4+ characters), or `last`.
        id: String,
    },
    /// Approve a run waiting at an approval gate: for an `l9 run` (or its plan), every task of
    /// its plan that waits at a gate now (the questions it was asked are answered); continue
    /// the run with `l9 resume`.
    Approve {
        /// The task: an id, a unique prefix of one (4+ characters), or `last`.
        id: String,
        /// Why (kept with the approval).
        #[arg(long)]
        note: Option<String>,
        /// Only this plan task's gate (e.g. `implement:storage`), waiting now or further on (the
        /// plan takes the answer when it gets there), not every one that waits.
        #[arg(long)]
        gate: Option<String>,
    },
    /// Reject a run waiting at an approval gate: for an `l9 run` (or its plan), the tasks of
    /// its plan that wait at a gate now do not run (nor what depends on them).
    Reject {
        /// The task: an id, a unique prefix of one (4+ characters), or `last`.
        id: String,
        /// Why (kept with the rejection).
        #[arg(long)]
        note: Option<String>,
        /// Only this plan task's gate (e.g. `implement:storage`), waiting now or further on (the
        /// plan takes the answer when it gets there), not every one that waits.
        #[arg(long)]
        gate: Option<String>,
    },
    /// Send a signal to a run (e.g. `approve:deploy` for an l9.plan gate, `pause`, `resume`,
    /// `cancel`, or `budget` with a JSON budget).
    Signal {
        /// The task: an id, a unique prefix of one (4+ characters), or `last`.
        id: String,
        /// The signal's name (what the workflow waits for).
        name: String,
        /// The signal's JSON payload.
        #[arg(long, default_value = "{}")]
        payload: String,
    },
    /// Answer an escalated step: --done VALUE (the effect happened, with this JSON result) or
    /// --rerun (it did not happen; run it again).
    Resolve {
        /// The task: an id, a unique prefix of one (4+ characters), or `last`.
        id: String,
        /// The step key from the task's note, e.g. step:charge#0.
        #[arg(long)]
        step: String,
        /// The effect happened; this JSON is its result.
        #[arg(long, conflicts_with = "rerun", required_unless_present = "rerun")]
        done: Option<String>,
        /// The effect did not happen; run the step again.
        #[arg(long)]
        rerun: bool,
    },
    /// Re-run a workflow from its journal with no effects; report the first divergence.
    Replay {
        /// The task: an id, a unique prefix of one (4+ characters), or `last`.
        id: String,
    },
    /// Start a new run reusing the first N journal entries of an old one.
    Fork {
        /// The task: an id, a unique prefix of one (4+ characters), or `last`.
        id: String,
        /// Journal entries to keep (0 = none).
        #[arg(long)]
        from: u64,
        /// A new JSON payload (default: the old one).
        #[arg(long)]
        payload: Option<String>,
    },
}

pub(crate) fn parse_state(s: &str) -> Result<TaskState, String> {
    TaskState::parse(s).ok_or_else(|| {
        let all: Vec<&str> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown state {s:?}; use one of {}", all.join(", "))
    })
}

fn parse_json(what: &str, s: &str) -> Result<Value, CliError> {
    serde_json::from_str(s)
        .map_err(|e| CliError::input(format!("{what} is not valid JSON ({e}): {s}")))
}

fn line(t: &TaskRecord) -> String {
    let note = t.error.as_deref().map(|e| format!("  {}", snippet(e, 60))).unwrap_or_default();
    format!(
        "{}  {:<9} {:<18} q={:<10} tries={} {}{note}",
        t.id,
        t.state.as_str(),
        snippet(&t.kind, 18),
        snippet(&t.queue, 10),
        t.attempts,
        t.updated_at.format("%Y-%m-%d %H:%M:%S"),
    )
}

fn render_detail(d: &TaskDetail) -> String {
    let t = &d.task;
    let mut s = format!(
        "task {}\n  kind:      {}\n  queue:     {} (priority {})\n  state:     {}\n  attempts:  {} (failures {}, max {})\n  created:   {}\n  updated:   {}\n",
        t.id,
        t.kind,
        t.queue,
        t.priority,
        t.state.as_str(),
        t.attempts,
        t.failures,
        if t.max_attempts == 0 { "unlimited".into() } else { t.max_attempts.to_string() },
        t.created_at,
        t.updated_at
    );
    if let Some(o) = &t.lease_owner {
        s.push_str(&format!(
            "  lease:     {o} until {}\n",
            t.lease_until.map(|u| u.to_string()).unwrap_or_default()
        ));
    }
    if let Some(p) = t.parent {
        s.push_str(&format!("  parent:    {p}\n"));
    }
    s.push_str(&format!("  payload:   {}\n", snippet(&t.payload.to_string(), 100)));
    if let Some(r) = &t.result {
        s.push_str(&format!("  result:    {}\n", snippet(&r.to_string(), 100)));
    }
    if let Some(e) = &t.error {
        s.push_str(&format!("  note:      {e}\n"));
    }
    if !d.journal.is_empty() {
        s.push_str(&format!(
            "\njournal ({} entries; `l9 tasks show {} --step KEY` prints one whole):\n",
            d.journal.len(),
            t.id
        ));
        for j in &d.journal {
            let v = j
                .error
                .clone()
                .or_else(|| j.value.as_ref().map(|v| snippet(&v.to_string(), 60)))
                .unwrap_or_default();
            s.push_str(&format!("  {:>4} {:<28} {:<9} {v}\n", j.seq, j.key, j.status));
        }
    }
    if !d.signals.is_empty() {
        s.push_str("\nsignals:\n");
        for g in &d.signals {
            s.push_str(&format!(
                "  {}#{} {} {}\n",
                g.name,
                g.seq,
                g.at.format("%H:%M:%S"),
                snippet(&g.payload.to_string(), 60)
            ));
        }
    }
    if !d.children.is_empty() {
        s.push_str(&format!("\nchildren ({}):\n", d.children.len()));
        for c in &d.children {
            s.push_str(&format!("  {}\n", line(c)));
        }
    }
    s.trim_end().to_string()
}

pub(crate) async fn run_tasks(
    cmd: TasksCommand,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let engine = crate::open_existing(root, db).await?;
    match cmd {
        TasksCommand::List { state, queue, kind, limit } => {
            let f = TaskFilter { state, queue, kind, ..Default::default() };
            let page = engine.list_tasks(&f, None, limit.clamp(1, 10_000)).await?;
            out.value(&page.tasks, || {
                if page.tasks.is_empty() {
                    "No tasks.".into()
                } else {
                    page.tasks.iter().map(line).collect::<Vec<_>>().join("\n")
                }
            })
        }
        TasksCommand::Show { id, step: Some(step) } => {
            let id = engine.resolve_id(&id, IdScope::Tasks).await?;
            let rows = engine.task_journal(id).await?;
            let hit = rows.iter().find(|e| e.raw_key == step || e.seq.to_string() == step);
            let Some(e) = hit else {
                let keys: Vec<&str> = rows.iter().map(|e| e.raw_key.as_str()).take(50).collect();
                return Err(CliError::not_found(format!(
                    "task {id} has no journal entry {step:?}; its entries: {}",
                    keys.join(", ")
                )));
            };
            let value = &e.value;
            out.value(&json!({"task": id, "seq": e.seq, "key": e.raw_key, "value": value}), || {
                match value {
                    Value::String(s) => s.clone(),
                    v => serde_json::to_string_pretty(v).unwrap_or_default(),
                }
            })
        }
        TasksCommand::Show { id, step: None } => {
            let d = engine.task_detail(engine.resolve_id(&id, IdScope::Tasks).await?).await?;
            out.value(&d, || render_detail(&d))
        }
        TasksCommand::Enqueue { kind, payload, queue, priority, delay, key, max_attempts } => {
            let registry = engine.registry();
            if registry.get(&kind).is_none() {
                let mut known: Vec<&str> = registry.kinds().collect();
                known.sort_unstable();
                return Err(CliError::input(format!(
                    "no workflow {kind:?} is registered, so no worker could run it; the known kinds: {}",
                    known.join(", ")
                )));
            }
            let payload = parse_json("--payload", &payload)?;
            if let Some(d) = delay
                && !(0.0..=31_536_000.0).contains(&d)
            {
                return Err(CliError::input("--delay must be between 0 and 31536000 seconds"));
            }
            let opts = EnqueueOptions {
                queue,
                priority,
                delay: delay.map(Duration::from_secs_f64),
                idempotency_key: key,
                max_attempts,
            };
            let (id, created) = engine.enqueue(&kind, payload, &opts).await?;
            out.value(&json!({"id": id, "created": created}), || {
                if created {
                    format!("Enqueued {kind} as task {id}")
                } else {
                    format!("Already enqueued with that key: task {id}")
                }
            })
        }
        TasksCommand::Retry { id } => {
            let id = engine.resolve_id(&id, IdScope::Tasks).await?;
            engine.retry_task(id).await?;
            out.value(&json!({"id": id, "retried": true}), || format!("Task {id} queued again"))
        }
        TasksCommand::Cancel { id } => {
            let id = engine.resolve_id(&id, IdScope::Tasks).await?;
            let n = engine.cancel_task(id).await?;
            out.value(&json!({"id": id, "cancelled": n}), || {
                format!("Cancelled {n} task(s): {id} and what it spawned")
            })
        }
        TasksCommand::Signal { id, name, payload } => {
            let id = engine.resolve_id(&id, IdScope::Tasks).await?;
            if name.trim().is_empty() {
                return Err(CliError::input("the signal needs a name"));
            }
            let payload = parse_json("--payload", &payload)?;
            let seq = engine.signal(id, &name, &payload).await?;
            out.value(&json!({"id": id, "signal": name, "seq": seq}), || {
                format!("Sent {name} to {id}")
            })
        }
        TasksCommand::Approve { id, note, gate } => {
            approve(&engine, &id, true, note, gate, out).await
        }
        TasksCommand::Reject { id, note, gate } => {
            approve(&engine, &id, false, note, gate, out).await
        }
        TasksCommand::Resolve { id, step, done, rerun: _ } => {
            let id = engine.resolve_id(&id, IdScope::Tasks).await?;
            let value = done.map(|d| parse_json("--done", &d)).transpose()?;
            let done = value.is_some();
            engine.resolve(id, &step, value).await?;
            out.value(&json!({"id": id, "step": step, "done": done}), || {
                if done {
                    format!("Recorded {step} of {id} as done; the run continues")
                } else {
                    format!("{step} of {id} will run again")
                }
            })
        }
        TasksCommand::Replay { id } => {
            let id = engine.resolve_id(&id, IdScope::Tasks).await?;
            match engine.replay(&engine.registry(), id).await {
                Ok(r) => out.value(
                    &json!({"id": id, "entries": r.entries, "output": r.output, "matches_recorded": r.matches_recorded, "stopped": r.stopped, "diverged": null}),
                    || match (&r.stopped, r.matches_recorded) {
                        (Some(why), _) => format!("Replayed {} journal entries; stopped: {why}", r.entries),
                        (None, Some(false)) => format!("Replayed {} entries; the result differs from the recorded one", r.entries),
                        (None, _) => format!("Replayed {} journal entries: same path, same result", r.entries),
                    },
                ),
                Err(l9_engine::EngineError::Task(TaskError::Diverged(d))) => {
                    out.value(&json!({"id": id, "diverged": d}), || format!("Replay {d}"))?;
                    Err(CliError::input(format!("run {id} no longer replays: {d}")))
                }
                Err(e) => Err(e.into()),
            }
        }
        TasksCommand::Fork { id, from, payload } => {
            let id = engine.resolve_id(&id, IdScope::Tasks).await?;
            let payload = payload.map(|p| parse_json("--payload", &p)).transpose()?;
            let new = engine.fork(id, from, payload).await?;
            out.value(&json!({"from": id, "id": new, "kept": from}), || {
                format!("Forked {id} after {from} journal entries as task {new}")
            })
        }
    }
}

/// Answers an approval gate ([`Engine::decide`]): the gates of a run's plan that wait now
/// (all, or `gate`), else the task's own `approval`.
async fn approve(
    engine: &Engine,
    id: &str,
    approved: bool,
    note: Option<String>,
    gate: Option<String>,
    out: &mut Out,
) -> Result<(), CliError> {
    let id = engine.resolve_id(id, IdScope::Tasks).await?;
    let verb = if approved { "Approved" } else { "Rejected" };
    let d = engine.decide(id, approved, note.as_deref(), gate.as_deref()).await?;
    out.value(&d, || {
        if d.gates.is_empty() {
            return format!("{verb} {id}");
        }
        let lines: Vec<String> = d
            .gates
            .iter()
            .flat_map(|g| {
                let more = g.questions.len().saturating_sub(5);
                std::iter::once(format!("  {}", g.task))
                    .chain(g.questions.iter().take(5).map(|q| format!("    {} {}", q.id, q.text)))
                    .chain((more > 0).then(|| format!("    … {more} more (--json)")))
            })
            .collect();
        format!(
            "{verb} {} gate(s) of {id}; a worker goes on with it (`l9 resume {id}` for a run):\n{}",
            d.gates.len(),
            lines.join("\n")
        )
    })
}

pub(crate) async fn run_runs(
    limit: usize,
    state: Option<TaskState>,
    kind: Option<String>,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let engine = crate::open_existing(root, db).await?;
    let f = TaskFilter { roots_only: true, state, kind, ..Default::default() };
    let page = engine.list_tasks(&f, None, limit.clamp(1, 10_000)).await?;
    out.value(&page.tasks, || {
        if page.tasks.is_empty() {
            "No runs yet. Enqueue one with `l9 tasks enqueue l9.echo --payload '{\"hello\":1}'`."
                .into()
        } else {
            page.tasks.iter().map(line).collect::<Vec<_>>().join("\n")
        }
    })
}

pub(crate) async fn run_worker(
    args: WorkerArgs,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    if args.concurrency == 0 || args.concurrency > 1024 {
        return Err(CliError::input("--concurrency must be between 1 and 1024"));
    }
    if args.lease < 3 {
        return Err(CliError::input("--lease must be at least 3 seconds"));
    }
    let engine = crate::open_existing(root, db).await?;
    let opts = WorkerOptions {
        id: default_worker_id(),
        queues: args.queues.clone(),
        concurrency: args.concurrency,
        lease: Duration::from_secs(args.lease),
        shutdown_grace: Duration::from_secs(args.grace),
        exit_when_idle: args.exit_when_idle,
        wait_for_timers: true,
        ..Default::default()
    };
    let registry = engine.registry();
    let schedules = engine.schedules(&registry)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let id = opts.id.clone();
    if !out.json {
        eprintln!(
            "worker {id}: {} slot(s), queues: {}; Ctrl-C or SIGTERM stops it gracefully",
            opts.concurrency,
            if args.queues.is_empty() { "all".into() } else { args.queues.join(", ") }
        );
        for s in &schedules {
            eprintln!("  schedule {}: `{}` → {} on queue {}", s.name, s.expr, s.kind, s.queue);
        }
    }
    tokio::spawn(async move {
        wait_for_stop().await;
        let _ = tx.send(true);
    });
    // The schedules fire while the worker runs, and stop with it.
    let (stop_schedules, schedules_rx) = tokio::sync::watch::channel(false);
    let scheduler = (!schedules.is_empty()).then(|| {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run_scheduler(schedules, schedules_rx).await })
    });
    let report = engine.run_worker(registry, opts, rx).await;
    let _ = stop_schedules.send(true);
    if let Some(h) = scheduler
        && let Ok(Err(e)) = h.await
    {
        eprintln!("warning: the scheduler stopped: {e}");
    }
    let report = report?;
    out.value(
        &json!({"worker": id, "claimed": report.claimed, "succeeded": report.succeeded, "failed": report.failed,
                "suspended": report.suspended, "escalated": report.escalated, "lost": report.lost, "released": report.released}),
        || {
            format!(
                "worker {id} stopped: {} claimed, {} succeeded, {} failed, {} suspended, {} escalated, {} lost, {} released",
                report.claimed, report.succeeded, report.failed, report.suspended, report.escalated, report.lost, report.released
            )
        },
    )
}

async fn wait_for_stop() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
