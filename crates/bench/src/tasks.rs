//! `l9 bench queue` and `l9 bench workflow`: Task Runtime throughput on a fresh store, each
//! next to raw-SQL baselines run in the same process on the same database:
//! * queue: claim + complete one job at a time, and in batches, vs. the least a queue can do
//!   in SQL (`FOR UPDATE SKIP LOCKED` claim, update to done; PostgreSQL);
//! * workflow: durable steps per second for one workflow and for 16 concurrent ones vs.
//!   single-row inserts committed one by one (one writer, and 16 writers), the disk's
//!   durable-write ceiling. Twice: with effectful (idempotent) steps, each committed before
//!   the next starts, and with pure steps, which the journal writes behind (group commit).

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use l9_store::{Claim, Finish, NewTask, Outcome, PacketFilter, Store, TaskState};
use l9_tasks::{Ctx, Registry, Worker, WorkerOptions};
use l9_types::{Clock, Effect, IdSource, RunId, SeededRng, SystemClock, TaskId};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{BenchError, Result};

/// Which raw baseline to run next to L9.
#[derive(Debug, Clone, Copy)]
pub enum Baseline<'a> {
    Postgres(&'a l9_store_postgres::PgStore),
    /// A directory for fresh baseline SQLite files, and whether the store under test runs
    /// with `synchronous=FULL` (the baseline uses the same).
    Sqlite {
        dir: &'a Path,
        full: bool,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueBenchReport {
    pub backend: String,
    pub single_jobs: usize,
    pub single_jobs_per_s: f64,
    pub batched_jobs: usize,
    pub batch: usize,
    /// Claimers in the batched run, each on its own connection (the raw batched floor runs
    /// with as many).
    pub clients: usize,
    pub batched_jobs_per_s: f64,
    pub enqueue_jobs_per_s: f64,
    /// Raw SQL, same database: single claim + complete (PostgreSQL only).
    pub baseline_single_jobs_per_s: Option<f64>,
    /// Raw SQL, same database: batched claim + complete (PostgreSQL only).
    pub baseline_batched_jobs_per_s: Option<f64>,
    /// One committed single-row insert at a time (the durable-write ceiling).
    pub baseline_durable_inserts_per_s: f64,
}

fn new_tasks(n: usize, rng: &SeededRng) -> Vec<NewTask> {
    let clock = SystemClock;
    (0..n)
        .map(|i| {
            let id = TaskId::new(&IdSource { clock: &clock, rng });
            NewTask::new(id, "bench", "bench.job", json!({"i": i}))
        })
        .collect()
}

/// Refuses a run that completed fewer (or more) jobs than it was given.
fn all_done(what: &str, done: usize, jobs: usize) -> Result<()> {
    if done == jobs {
        Ok(())
    } else {
        Err(BenchError::Failed(format!("the {what} completed {done} of {jobs} jobs")))
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Claims and completes `batch` jobs at a time from `clients` concurrent claimers until the
/// queue is empty; returns the jobs completed.
async fn drain(store: &Arc<dyn Store>, batch: usize, clients: usize) -> Result<usize> {
    let mut set = tokio::task::JoinSet::new();
    for c in 0..clients.max(1) {
        let store = store.clone();
        set.spawn(async move {
            let (q, clock, worker) = (store.tasks(), SystemClock, format!("bench-{c}"));
            let mut done = 0;
            loop {
                let got = q
                    .claim(&Claim {
                        queues: vec!["bench".into()],
                        worker: worker.clone(),
                        limit: batch,
                        lease: Duration::from_secs(60),
                        now: clock.now(),
                    })
                    .await?;
                if got.is_empty() {
                    return Ok::<_, BenchError>(done);
                }
                let items: Vec<Finish> = got
                    .iter()
                    .map(|t| Finish { id: t.id, outcome: Outcome::Succeeded(json!(1)) })
                    .collect();
                q.finish(&worker, &items, clock.now()).await?;
                done += got.len();
            }
        });
    }
    let mut done = 0;
    while let Some(r) = set.join_next().await {
        done += r.map_err(|e| BenchError::Failed(format!("a claimer stopped: {e}")))??;
    }
    Ok(done)
}

/// Runs the queue benchmark.
pub async fn queue(
    store: Arc<dyn Store>,
    baseline: Baseline<'_>,
    single: usize,
    batched: usize,
    batch: usize,
    clients: usize,
) -> Result<QueueBenchReport> {
    if clients > 1 && matches!(baseline, Baseline::Sqlite { .. }) {
        return Err(BenchError::Failed(
            "several clients are for PostgreSQL: SQLite has one writer, so its claims take turns"
                .into(),
        ));
    }
    let q = store.tasks();
    let rng = SeededRng::from_seed(1);
    let clock = SystemClock;
    let lease = Duration::from_secs(60);

    // Single: claim one, complete it, repeat.
    q.enqueue(&new_tasks(single, &rng), clock.now()).await?;
    let t = Instant::now();
    let mut done = 0;
    while done < single {
        let got = q
            .claim(&Claim {
                queues: vec!["bench".into()],
                worker: "bench".into(),
                limit: 1,
                lease,
                now: clock.now(),
            })
            .await?;
        let Some(task) = got.into_iter().next() else { break };
        q.finish(
            "bench",
            &[Finish { id: task.id, outcome: Outcome::Succeeded(json!(1)) }],
            clock.now(),
        )
        .await?;
        done += 1;
    }
    let single_rate = rate(done, t.elapsed());
    all_done("one-at-a-time run", done, single)?;

    // Batched: enqueue in batches, then claim and complete `batch` at a time.
    let tasks = new_tasks(batched, &rng);
    let t = Instant::now();
    for chunk in tasks.chunks(batch.max(1)) {
        q.enqueue(chunk, clock.now()).await?;
    }
    let enqueue_rate = rate(batched, t.elapsed());
    let t = Instant::now();
    let done = drain(&store, batch, clients).await?;
    let batched_rate = rate(done, t.elapsed());
    all_done("batched run", done, batched)?;

    let (backend, (s, s_done), (b, b_done), d) = match baseline {
        Baseline::Postgres(pg) => {
            let s = l9_store_postgres::baseline::queue_single(pg, single).await?;
            let b = l9_store_postgres::baseline::queue_batched(pg, batched, batch, clients).await?;
            let d = l9_store_postgres::baseline::durable_inserts(pg, single, 1).await?;
            ("postgres", s, b, d)
        }
        Baseline::Sqlite { dir, full } => {
            use l9_store_sqlite::baseline as raw;
            let s = raw::queue_single(&dir.join("raw-queue-single.db"), single, full).await?;
            let b =
                raw::queue_batched(&dir.join("raw-queue-batched.db"), batched, batch, full).await?;
            let d = raw::durable_inserts(&dir.join("baseline-queue.db"), single, full).await?;
            ("sqlite", s, b, d)
        }
    };
    // A floor that did less than all its jobs would look faster than it is.
    all_done("raw one-at-a-time queue", s_done, single)?;
    all_done("raw batched queue", b_done, batched)?;
    let (bs, bb, bd) = (Some(rate(single, s)), Some(rate(batched, b)), rate(single, d));
    Ok(QueueBenchReport {
        backend: backend.into(),
        single_jobs: single,
        single_jobs_per_s: single_rate,
        batched_jobs: batched,
        batch,
        clients,
        batched_jobs_per_s: batched_rate,
        enqueue_jobs_per_s: enqueue_rate,
        baseline_single_jobs_per_s: bs,
        baseline_batched_jobs_per_s: bb,
        baseline_durable_inserts_per_s: bd,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkflowBenchReport {
    pub backend: String,
    pub steps: usize,
    /// Effectful (idempotent) steps: each committed before the next starts.
    pub one_workflow_steps_per_s: f64,
    /// Pure steps: journaled write-behind (group-committed while the workflow goes on).
    pub one_workflow_pure_steps_per_s: f64,
    pub workflows: usize,
    pub steps_per_workflow: usize,
    pub concurrent_steps_per_s: f64,
    pub concurrent_pure_steps_per_s: f64,
    /// The concurrent effectful run again with each append committed on its own (no group
    /// commit; PostgreSQL only — SQLite's writer always groups).
    pub concurrent_steps_no_group_commit_per_s: Option<f64>,
    /// Mean entries per grouped statement in the concurrent effectful run (PostgreSQL).
    pub group_commit_mean_entries: Option<f64>,
    /// Batches the committer sent in that run, and how many of them went while another was
    /// in flight (a second lane, opened when statements wait long for the disk).
    pub group_commit_batches: Option<u64>,
    pub group_commit_overlapped: Option<u64>,
    /// Of those batches, the ones their callers sent themselves (spreading, a lane free).
    pub group_commit_bypassed: Option<u64>,
    /// The committer's averages of a timed statement after that run: executing it and its
    /// commit's wait for the WAL flush (ms), and the lanes (statements at once) it chose.
    pub group_commit_work_ms: Option<f64>,
    pub group_commit_wait_ms: Option<f64>,
    pub group_commit_lanes: Option<u64>,
    /// Whether the committer ended that run spreading appends over its lanes (else
    /// grouping them), and how often it changed mode during the run (trials included).
    pub group_commit_spread: Option<bool>,
    pub group_commit_mode_switches: Option<u64>,
    /// One writer committing single-row inserts (same count as `steps`).
    pub baseline_one_writer_inserts_per_s: f64,
    /// `workflows` writers committing single-row inserts concurrently.
    pub baseline_concurrent_inserts_per_s: f64,
    /// The rows a step's entry is stored in (packet, parent link, journal row, under the
    /// fence's lock), written straight by raw SQL into tables shaped like the store's (SQLite:
    /// the store's own tables), one transaction per step: one writer, and `workflows` writers (SQLite: the same figure,
    /// its writes go one at a time).
    pub baseline_one_writer_step_rows_per_s: f64,
    pub baseline_concurrent_step_rows_per_s: f64,
}

fn bench_registry() -> Registry {
    let mut reg = Registry::new();
    reg.register("bench.steps", |ctx: Ctx, input: Value| async move {
        let n = input["steps"].as_u64().unwrap_or(0);
        let pure = input["pure"].as_bool().unwrap_or(false);
        let mut acc = 0u64;
        for i in 0..n {
            let effect = if pure {
                Effect::Pure
            } else {
                Effect::Idempotent { key: format!("{}/{i}", ctx.run_id()) }
            };
            acc = ctx.step("step", effect, || async move { Ok::<_, String>(acc + i) }).await?;
        }
        Ok(json!(acc))
    });
    reg
}

async fn run_workflows(
    store: &Arc<dyn Store>,
    count: usize,
    steps: usize,
    pure: bool,
    rng: &SeededRng,
) -> Result<Duration> {
    let clock = SystemClock;
    let mut tasks = Vec::new();
    for _ in 0..count {
        let id = TaskId::new(&IdSource { clock: &clock, rng });
        let mut t =
            NewTask::new(id, "bench-wf", "bench.steps", json!({"steps": steps, "pure": pure}));
        t.max_attempts = 0;
        tasks.push(t);
    }
    let ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
    store.tasks().enqueue(&tasks, clock.now()).await?;
    let opts = WorkerOptions {
        id: "bench".into(),
        queues: vec!["bench-wf".into()],
        concurrency: count,
        lease: Duration::from_secs(60),
        poll: Duration::from_millis(2),
        exit_when_idle: true,
        ..Default::default()
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let t = Instant::now();
    Worker::new(store.clone(), clock, Arc::new(bench_registry()), opts).run(rx).await?;
    // Until a reader can see every step: on SQLite the first read files the journal's
    // tail (`l9-store-sqlite`'s `tail.rs`), and that work belongs to the steps.
    let journaled = |id: TaskId| {
        let filter = PacketFilter { run: Some(RunId(id.0)), ..Default::default() };
        let store = store.clone();
        async move { store.count_packets(&filter).await }
    };
    let first = journaled(ids[0]).await?;
    let d = t.elapsed();
    for (i, id) in ids.into_iter().enumerate() {
        let rec = store.tasks().get_task(id).await?;
        if rec.map(|r| r.state) != Some(TaskState::Succeeded) {
            return Err(BenchError::Failed(format!("benchmark workflow {id} did not succeed")));
        }
        let n = if i == 0 { first } else { journaled(id).await? };
        if n != steps as u64 {
            return Err(BenchError::Failed(format!(
                "benchmark workflow {id} journaled {n} steps, not {steps}"
            )));
        }
    }
    Ok(d)
}

/// Runs the workflow benchmark: one workflow of `steps` steps, then `workflows` concurrent
/// workflows of `steps / 4` steps each.
pub async fn workflow(
    store: Arc<dyn Store>,
    baseline: Baseline<'_>,
    steps: usize,
    workflows: usize,
) -> Result<WorkflowBenchReport> {
    let rng = SeededRng::from_seed(2);
    let one = run_workflows(&store, 1, steps, false, &rng).await?;
    let one_pure = run_workflows(&store, 1, steps, true, &rng).await?;
    let per = (steps / 4).max(1);
    let stats = || match baseline {
        Baseline::Postgres(pg) => pg.group_commit_stats(),
        Baseline::Sqlite { .. } => None,
    };
    let before = stats();
    let many = run_workflows(&store, workflows, per, false, &rng).await?;
    let after = stats();
    let grouping = match (before, after) {
        (Some(a), Some(b)) if b.grouped > a.grouped => {
            Some((b.grouped_entries - a.grouped_entries) as f64 / (b.grouped - a.grouped) as f64)
        }
        _ => None,
    };
    let batches = before.zip(after).map(|(a, b)| b.batches - a.batches);
    let overlapped = before.zip(after).map(|(a, b)| b.overlapped - a.overlapped);
    let bypassed = before.zip(after).map(|(a, b)| b.bypassed - a.bypassed);
    let work_ms = after.map(|b| b.work_us as f64 / 1000.0);
    let wait_ms = after.map(|b| b.wait_us as f64 / 1000.0);
    let lanes = after.map(|b| b.lanes);
    let spread = after.map(|b| b.spread);
    let switches = before.zip(after).map(|(a, b)| b.mode_switches - a.mode_switches);
    let many_pure = run_workflows(&store, workflows, per, true, &rng).await?;
    let total = per * workflows;
    let mut ungrouped = None;
    let step_rows;
    let (backend, b1, bn) = match baseline {
        Baseline::Postgres(pg) => {
            let plain: Arc<dyn Store> = Arc::new(pg.without_group_commit());
            let d = run_workflows(&plain, workflows, per, false, &rng).await?;
            ungrouped = Some(rate(total, d));
            let a = l9_store_postgres::baseline::durable_inserts(pg, steps, 1).await?;
            let b = l9_store_postgres::baseline::durable_inserts(pg, total, workflows).await?;
            let sa = l9_store_postgres::baseline::durable_step_rows(pg, steps, 1).await?;
            let sb = l9_store_postgres::baseline::durable_step_rows(pg, total, workflows).await?;
            step_rows = (rate(steps, sa), rate(total, sb));
            ("postgres", rate(steps, a), rate(total, b))
        }
        Baseline::Sqlite { dir, full } => {
            // SQLite has one writer at a time: the concurrent ceiling is the same.
            let a = l9_store_sqlite::baseline::durable_inserts(
                &dir.join("baseline-wf.db"),
                steps,
                full,
            )
            .await?;
            let sa = l9_store_sqlite::baseline::durable_step_rows(
                &dir.join("baseline-steps.db"),
                steps,
                full,
            )
            .await?;
            step_rows = (rate(steps, sa), rate(steps, sa));
            (
                if full { "sqlite (synchronous=FULL)" } else { "sqlite (synchronous=NORMAL)" },
                rate(steps, a),
                rate(steps, a),
            )
        }
    };
    Ok(WorkflowBenchReport {
        backend: backend.into(),
        steps,
        one_workflow_steps_per_s: rate(steps, one),
        one_workflow_pure_steps_per_s: rate(steps, one_pure),
        workflows,
        steps_per_workflow: per,
        concurrent_steps_per_s: rate(total, many),
        concurrent_pure_steps_per_s: rate(total, many_pure),
        concurrent_steps_no_group_commit_per_s: ungrouped,
        group_commit_mean_entries: grouping,
        group_commit_batches: batches,
        group_commit_overlapped: overlapped,
        group_commit_bypassed: bypassed,
        group_commit_work_ms: work_ms,
        group_commit_wait_ms: wait_ms,
        group_commit_lanes: lanes,
        group_commit_spread: spread,
        group_commit_mode_switches: switches,
        baseline_one_writer_inserts_per_s: b1,
        baseline_concurrent_inserts_per_s: bn,
        baseline_one_writer_step_rows_per_s: step_rows.0,
        baseline_concurrent_step_rows_per_s: step_rows.1,
    })
}
