//! The crash harness: a workflow mix runs in worker processes (this test binary,
//! re-executed as a child) that are SIGKILLed at seeded random moments, at least 50 times
//! per backend, and restarted. Afterwards: every workflow completed with the right result,
//! no task is lost or stuck, every irreversible and idempotent effect happened exactly
//! once, and irreversible steps ran again only when the operator said so.
//!
//! Also: two worker processes on PostgreSQL, one killed while it holds work; the other
//! finishes everything. The same mix under network faults is in `faults.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use l9_store::{NewTask, Store, TaskFilter, TaskState};
use l9_store_postgres::{PgOptions, PgStore};
use l9_store_sqlite::{SqliteOptions, SqliteStore};
use l9_tasks::{Ctx, Registry, WfError, Worker, WorkerOptions};
use l9_types::{Clock, Effect, IdSource, SeededRng, SystemClock, TaskId};
use serde_json::{Value, json};

const ENV_DB: &str = "L9_CRASH_DB";
const ENV_SCHEMA: &str = "L9_CRASH_SCHEMA";
const ENV_DIR: &str = "L9_CRASH_DIR";
const ENV_WORKER: &str = "L9_CRASH_WORKER";
const ENV_STEP_MS: &str = "L9_CRASH_STEP_MS";
/// The local work of the `slow` kind's one irreversible step: longer than the workers'
/// lease (1 s).
pub(super) const SLOW_STEP: Duration = Duration::from_millis(2500);

pub(super) async fn open(db: &str, schema: Option<String>) -> Arc<dyn Store> {
    if db.starts_with("postgres") {
        Arc::new(
            PgStore::open(
                db,
                PgOptions { dims: 8, schema, max_connections: 8, ..Default::default() },
            )
            .await
            .unwrap(),
        )
    } else {
        Arc::new(
            SqliteStore::open(Path::new(db), SqliteOptions { dims: 8, ..Default::default() })
                .await
                .unwrap(),
        )
    }
}

pub(super) fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
    f.sync_data().unwrap();
}

pub(super) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The workflow mix. Every step logs its execution to `exec.log` first.
fn mix(dir: PathBuf, step_ms: u64) -> Registry {
    let dir = Arc::new(dir);
    let mut reg = Registry::new();
    let log = |dir: &Path, ctx: &Ctx, step: &str, class: &str| {
        append(&dir.join("exec.log"), &format!("{} {step} {class}", ctx.run_id()));
    };
    let d = dir.clone();
    reg.register("chain", move |ctx: Ctx, input: Value| {
        let d = d.clone();
        async move {
            let n = input["steps"].as_u64().unwrap_or(10);
            let mut acc = 0u64;
            for i in 0..n {
                let prev = acc;
                let (d, c) = (d.clone(), ctx.clone());
                acc = ctx
                    .step(&format!("s{i}"), Effect::Pure, || async move {
                        log(&d, &c, &format!("s{i}"), "pure");
                        tokio::time::sleep(Duration::from_millis(step_ms)).await;
                        Ok::<_, String>(prev + i + 1)
                    })
                    .await?;
            }
            Ok(json!(acc))
        }
    });
    let d = dir.clone();
    reg.register("leaf", move |ctx: Ctx, input: Value| {
        let d = d.clone();
        async move {
            let x = input.as_u64().unwrap_or(0);
            let c = ctx.clone();
            let v: u64 = ctx
                .step("square", Effect::Pure, || async move {
                    log(&d, &c, "square", "pure");
                    tokio::time::sleep(Duration::from_millis(step_ms)).await;
                    Ok::<_, String>(x * x)
                })
                .await?;
            Ok(json!(v))
        }
    });
    reg.register("fanout", |ctx: Ctx, input: Value| async move {
        let n = input["leaves"].as_u64().unwrap_or(4);
        let mut kids = Vec::new();
        for i in 1..=n {
            kids.push(ctx.spawn_child("leaf", json!(i)).await?);
        }
        let mut sum = 0;
        for k in kids {
            sum += ctx.join(k).await?.as_u64().unwrap_or(0);
        }
        Ok(json!(sum))
    });
    reg.register("timer", |ctx: Ctx, _| async move {
        let start = ctx.now().await?;
        ctx.sleep(Duration::from_millis(250)).await?;
        ctx.sleep(Duration::from_millis(250)).await?;
        let end = ctx.now().await?;
        if (end - start).num_milliseconds() < 500 {
            return Err(WfError::failed("woke early"));
        }
        Ok(json!("rested"))
    });
    reg.register("approval", |ctx: Ctx, _| async move {
        let ok = ctx.approval("release").await?;
        Ok(json!(ok))
    });
    let d = dir.clone();
    reg.register("irreversible", move |ctx: Ctx, input: Value| {
        let d = d.clone();
        async move {
            let n = input["steps"].as_u64().unwrap_or(3);
            for i in 0..n {
                let (d, c) = (d.clone(), ctx.clone());
                let step = format!("e{i}");
                let s2 = step.clone();
                ctx.step(&step, Effect::Irreversible, || async move {
                    log(&d, &c, &s2, "irreversible");
                    tokio::time::sleep(Duration::from_millis(step_ms)).await;
                    let line = format!("{}:{s2}", c.run_id());
                    append(&d.join("effects.log"), &line);
                    Ok::<_, String>(line)
                })
                .await?;
            }
            Ok(json!(n))
        }
    });
    // One irreversible step whose local work outlasts the lease (started only by the
    // network-namespace test): the effect is logged with the worker that made it.
    let d = dir.clone();
    reg.register("slow", move |ctx: Ctx, _| {
        let d = d.clone();
        async move {
            let c = ctx.clone();
            let line = ctx
                .step("effect", Effect::Irreversible, || async move {
                    log(&d, &c, "effect", "irreversible");
                    tokio::time::sleep(SLOW_STEP).await;
                    let line = format!("{}:effect", c.run_id());
                    let who = std::env::var(ENV_WORKER).unwrap_or_default();
                    append(&d.join("slow.log"), &format!("{line} {who}"));
                    append(&d.join("effects.log"), &line);
                    Ok::<_, String>(line)
                })
                .await?;
            Ok(json!(line))
        }
    });
    let d = dir.clone();
    reg.register("idempotent", move |ctx: Ctx, input: Value| {
        let d = d.clone();
        async move {
            let n = input["steps"].as_u64().unwrap_or(3);
            for i in 0..n {
                let (d, c) = (d.clone(), ctx.clone());
                let key = format!("{}:i{i}", ctx.run_id());
                let k2 = key.clone();
                ctx.step(&format!("i{i}"), Effect::Idempotent { key }, || async move {
                    log(&d, &c, &format!("i{i}"), "idempotent");
                    let path = d.join("idem.log");
                    if !lines(&path).contains(&k2) {
                        tokio::time::sleep(Duration::from_millis(step_ms)).await;
                        append(&path, &k2);
                    }
                    Ok::<_, String>(())
                })
                .await?;
            }
            Ok(json!(n))
        }
    });
    reg
}

/// The child process: a worker that runs until killed (or orphaned).
#[test]
#[ignore = "run by the crash harness as a child process"]
fn crash_child() {
    let Ok(db) = std::env::var(ENV_DB) else { return };
    let schema = std::env::var(ENV_SCHEMA).ok();
    let dir = PathBuf::from(std::env::var(ENV_DIR).unwrap());
    let worker = std::env::var(ENV_WORKER).unwrap();
    let step_ms = std::env::var(ENV_STEP_MS).ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let store = open(&db, schema).await;
        let opts = WorkerOptions {
            id: worker,
            concurrency: 4,
            lease: Duration::from_millis(1000),
            poll: Duration::from_millis(20),
            retry_base: Duration::from_millis(50),
            ..Default::default()
        };
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let parent = std::os::unix::process::parent_id();
        tokio::spawn(async move {
            // Never outlive the harness.
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(3);
                }
            }
        });
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let w = Worker::new(store, clock, Arc::new(mix(dir, step_ms)), opts);
        // A worker that stops on its own says why (the harness keeps this process's stderr
        // next to its effects and shows it when the worker leaves work undone); exits 1.
        match tokio::time::timeout(Duration::from_secs(300), w.run(rx)).await {
            Ok(Ok(report)) => eprintln!("worker stopped: {report:?}"),
            Ok(Err(e)) => {
                eprintln!("worker failed: {e}");
                std::process::exit(1);
            }
            Err(_) => {
                eprintln!("worker still running after 300 s: the child stops itself");
                std::process::exit(1);
            }
        }
    });
}

pub(super) struct Harness {
    db: String,
    schema: Option<String>,
    pub(super) dir: PathBuf,
    step_ms: u64,
    store: Arc<dyn Store>,
    rt: tokio::runtime::Runtime,
    resolutions: BTreeMap<String, u32>,
    /// Escalations already answered (task, when it escalated), so a slow worker is not
    /// answered twice.
    answered: BTreeSet<(TaskId, chrono::DateTime<chrono::Utc>)>,
}

impl Harness {
    /// A harness on `db` (and `schema`), logging effects under `dir`, whose workers' steps
    /// take `step_ms`.
    pub(super) fn new(db: &str, schema: Option<String>, dir: &Path, step_ms: u64) -> Harness {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = rt.block_on(open(db, schema.clone()));
        Harness {
            db: db.to_string(),
            schema,
            dir: dir.to_path_buf(),
            step_ms,
            store,
            rt,
            resolutions: BTreeMap::new(),
            answered: BTreeSet::new(),
        }
    }

    #[allow(clippy::disallowed_methods)] // the subprocess seam of this test
    fn spawn(&self, worker: &str) -> Child {
        self.spawn_on(worker, &self.db)
    }

    /// A worker process reaching the database at `db` (the harness's own URL, or a proxy's).
    #[allow(clippy::disallowed_methods)] // the subprocess seam of this test
    pub(super) fn spawn_on(&self, worker: &str, db: &str) -> Child {
        self.spawn_cmd(Command::new(std::env::current_exe().unwrap()), worker, db)
    }

    /// A worker process in the network namespace `ns`, reaching the database at `db`.
    pub(super) fn spawn_in(&self, ns: &l9_test_support::NetNs, worker: &str, db: &str) -> Child {
        self.spawn_cmd(ns.command(std::env::current_exe().unwrap()), worker, db)
    }

    fn spawn_cmd(&self, mut cmd: Command, worker: &str, db: &str) -> Child {
        cmd.args(["crash::crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(ENV_DB, db)
            .env(ENV_DIR, &self.dir)
            .env(ENV_WORKER, worker)
            .env(ENV_STEP_MS, self.step_ms.to_string())
            .stdout(Stdio::null())
            .stderr(match std::fs::File::create(self.dir.join(format!("{worker}.stderr"))) {
                Ok(f) => Stdio::from(f),
                Err(_) => Stdio::null(),
            });
        if let Some(s) = &self.schema {
            cmd.env(ENV_SCHEMA, s);
        }
        cmd.spawn().unwrap()
    }

    pub(super) fn start(&self, rng: &SeededRng, kind: &str, payload: Value) -> TaskId {
        let clock = SystemClock;
        let id = TaskId::new(&IdSource { clock: &clock, rng });
        let mut t = NewTask::new(id, "default", kind, payload);
        t.max_attempts = 0;
        self.rt.block_on(self.store.tasks().enqueue(&[t], clock.now())).unwrap();
        id
    }

    pub(super) fn all_tasks(&self) -> Vec<l9_store::TaskRecord> {
        let page = self
            .rt
            .block_on(self.store.tasks().list_tasks(&TaskFilter::default(), None, 10_000))
            .unwrap();
        page.tasks
    }

    /// What an operator does: answer escalations by checking whether the effect happened.
    pub(super) fn operate(&mut self) {
        let effects: BTreeSet<String> = lines(&self.dir.join("effects.log")).into_iter().collect();
        for t in self.all_tasks() {
            if t.state != TaskState::Waiting {
                continue;
            }
            let Some(note) = t.error.as_deref().filter(|n| n.contains("escalated")) else {
                continue;
            };
            if !self.answered.insert((t.id, t.updated_at)) {
                continue;
            }
            let key = note.split('`').nth(1).unwrap().to_string();
            let step = key.trim_start_matches("step:").trim_end_matches("#0");
            let line = format!("{}:{step}", l9_tasks::run_of(t.id));
            let payload = if effects.contains(&line) {
                json!({"key": key, "action": "done", "value": line})
            } else {
                *self
                    .resolutions
                    .entry(format!("{} {step}", l9_tasks::run_of(t.id)))
                    .or_insert(0) += 1;
                json!({"key": key, "action": "rerun"})
            };
            self.rt
                .block_on(self.store.tasks().send_signal(
                    t.id,
                    "resolve",
                    &payload,
                    SystemClock.now(),
                ))
                .unwrap();
        }
    }

    pub(super) fn approve_all(&self, ids: &[TaskId]) {
        for id in ids {
            self.rt
                .block_on(self.store.tasks().send_signal(
                    *id,
                    "approval",
                    &json!({"approved": true}),
                    SystemClock.now(),
                ))
                .unwrap();
        }
    }

    /// Waits, answering as an operator does, until every task succeeded.
    #[allow(clippy::disallowed_methods)] // wall-clock timeout of the harness itself
    pub(super) fn finish(&mut self, scale: usize) {
        let deadline = Instant::now() + Duration::from_secs(120 * scale as u64);
        while !self.done() {
            assert!(
                Instant::now() < deadline,
                "not finished: {:#?}\n{}",
                self.all_tasks()
                    .iter()
                    .filter(|t| t.state != TaskState::Succeeded)
                    .collect::<Vec<_>>(),
                self.workers_said()
            );
            self.operate();
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the worker processes wrote to stderr (each its own file), for a failure's message.
    pub(super) fn workers_said(&self) -> String {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|f| f.extension().is_some_and(|x| x == "stderr"));
        files.sort();
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                format!("{}:\n{}", f.display(), text.trim_end())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The workers holding a lease, waiting up to `patience` for one to if none does.
    #[allow(clippy::disallowed_methods)] // wall-clock wait of the harness itself
    pub(super) fn holders(&self, patience: Duration) -> BTreeSet<String> {
        let deadline = Instant::now() + patience;
        loop {
            let now: BTreeSet<String> = self
                .all_tasks()
                .into_iter()
                .filter(|t| t.state == TaskState::Leased)
                .filter_map(|t| t.lease_owner)
                .collect();
            if !now.is_empty() || Instant::now() >= deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The end of a mix under faults: approvals given, every task finished (the operator
    /// answering), the workers killed, the crash harness's checks; returns the reclaimed
    /// leases.
    pub(super) fn finish_mix(&mut self, mix: &Mix, scale: usize, workers: Vec<Child>) -> u32 {
        self.approve_all(&mix.approvals);
        self.finish(scale);
        for w in workers {
            kill(w);
        }
        check_mix(self, mix, scale)
    }

    /// Reruns the operator asked for, in all.
    pub(super) fn resolutions_total(&self) -> u32 {
        self.resolutions.values().sum()
    }

    pub(super) fn done(&self) -> bool {
        self.all_tasks().iter().all(|t| t.state == TaskState::Succeeded)
    }
}

pub(super) fn kill(mut c: Child) {
    let _ = c.kill(); // SIGKILL
    let _ = c.wait();
}

#[allow(clippy::disallowed_methods)] // wall-clock timeout of the harness itself
fn crash_run(db: String, schema: Option<String>, seed: u64) {
    let dir = l9_test_support::temp_dir();
    let mut h = Harness::new(&db, schema, dir.path(), 5);
    let seed = std::env::var("L9_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(seed);
    let rng = SeededRng::from_seed(seed);
    // 50 kill points per backend in the suite; `scripts/kill-sweep` asks for more, and the
    // work grows with them (the mix once per 50 kills), so kills keep landing on work.
    let target: u32 =
        std::env::var("L9_CRASH_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(50);
    let scale = (target as usize).div_ceil(50).max(1);
    let mix = start_mix(&h, &rng, scale);
    let mut kills = 0;
    while kills < target {
        let child = h.spawn("crashy");
        std::thread::sleep(Duration::from_millis(20 + rng.below(250)));
        kill(child);
        kills += 1;
        if kills == 10 {
            h.approve_all(&mix.approvals);
        }
        h.operate();
    }
    // Let a last worker finish everything (the operator keeps answering).
    let child = h.spawn("finisher");
    h.finish(scale);
    kill(child);
    let reclaimed = check_mix(&h, &mix, scale);
    assert!(reclaimed > 0, "the kills must have interrupted leased work");
    eprintln!(
        "crash harness ({}, seed {seed}): {kills} kills, {reclaimed} reclaimed leases, {} operator reruns, {} exec log lines",
        if h.db.starts_with("postgres") { "postgres" } else { "sqlite" },
        h.resolutions.values().sum::<u32>(),
        lines(&h.dir.join("exec.log")).len()
    );
}

/// The workflow mix a harness starts, with what each must end with.
pub(super) struct Mix {
    expect: Vec<(TaskId, Value)>,
    pub(super) approvals: Vec<TaskId>,
}

/// Starts the mix, `scale` times over.
pub(super) fn start_mix(h: &Harness, rng: &SeededRng, scale: usize) -> Mix {
    let mut expect: Vec<(TaskId, Value)> = Vec::new();
    for _ in 0..4 * scale {
        expect.push((h.start(rng, "chain", json!({"steps": 20})), json!(210)));
    }
    for _ in 0..3 * scale {
        expect.push((h.start(rng, "fanout", json!({"leaves": 4})), json!(30)));
        expect.push((h.start(rng, "timer", json!(null)), json!("rested")));
        expect.push((h.start(rng, "idempotent", json!({"steps": 3})), json!(3)));
    }
    for _ in 0..4 * scale {
        expect.push((h.start(rng, "irreversible", json!({"steps": 3})), json!(3)));
    }
    let approvals: Vec<TaskId> =
        (0..3 * scale).map(|_| h.start(rng, "approval", json!(null))).collect();
    expect.extend(approvals.iter().map(|id| (*id, json!(true))));
    Mix { expect, approvals }
}

/// Every workflow completed with the right result, nothing lost or stuck, every effect
/// exactly once, irreversible steps run again only when the operator said so. Returns the
/// leases reclaimed (attempts that ended without their worker).
fn check_mix(h: &Harness, mix: &Mix, scale: usize) -> u32 {
    let tasks = h.all_tasks();
    assert_eq!(tasks.len(), mix.expect.len() + 3 * scale * 4, "roots plus 4 leaves per fan-out");
    for (id, want) in &mix.expect {
        let t = tasks.iter().find(|t| t.id == *id).unwrap();
        assert_eq!(t.result.as_ref(), Some(want), "{} {}", t.kind, t.id);
    }
    let reclaimed: u32 = tasks.iter().map(|t| t.failures).sum();
    // Irreversible effects exactly once.
    let effects = lines(&h.dir.join("effects.log"));
    let unique: BTreeSet<&String> = effects.iter().collect();
    assert_eq!((effects.len(), unique.len()), (4 * scale * 3, 4 * scale * 3), "{effects:#?}");
    // Idempotent effects exactly once per key.
    let idem = lines(&h.dir.join("idem.log"));
    assert_eq!(
        (idem.len(), idem.iter().collect::<BTreeSet<_>>().len()),
        (3 * scale * 3, 3 * scale * 3)
    );
    // Irreversible steps ran once, plus once per operator "rerun".
    let mut runs: BTreeMap<String, u32> = BTreeMap::new();
    for l in lines(&h.dir.join("exec.log")).iter().filter(|l| l.ends_with(" irreversible")) {
        *runs.entry(l.trim_end_matches(" irreversible").to_string()).or_insert(0) += 1;
    }
    assert_eq!(runs.len(), 4 * scale * 3);
    for (step, n) in &runs {
        // A crash after the operator's "rerun" was recorded but before the effect started
        // asks again, so reruns may exceed actual runs; runs never exceed them.
        let allowed = 1 + h.resolutions.get(step).copied().unwrap_or(0);
        assert!(*n <= allowed, "irreversible step {step} ran {n} times; allowed {allowed}");
    }
    reclaimed
}

#[test]
fn crash_harness_sqlite() {
    let dir = l9_test_support::temp_dir();
    let db = dir.path().join("crash.db").to_string_lossy().into_owned();
    crash_run(db, None, 11);
}

#[test]
fn crash_harness_postgres() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let schema = l9_test_support::unique_schema("crash");
    crash_run(url.clone(), Some(schema.clone()), 12);
    rt_drop(&url, schema);
}

#[test]
#[allow(clippy::disallowed_methods)] // wall-clock timeout of the harness itself
fn two_postgres_workers_one_killed_mid_task() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let schema = l9_test_support::unique_schema("two");
    let dir = l9_test_support::temp_dir();
    let h = Harness::new(&url, Some(schema.clone()), dir.path(), 40);
    let rng = SeededRng::from_seed(3);
    let ids: Vec<TaskId> = (0..8).map(|_| h.start(&rng, "chain", json!({"steps": 10}))).collect();
    let a = h.spawn("worker-a");
    let mut b = h.spawn("worker-b");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until worker A holds work, then kill it.
    let held: Vec<TaskId> = loop {
        let held: Vec<TaskId> = h
            .all_tasks()
            .into_iter()
            .filter(|t| {
                t.state == TaskState::Leased && t.lease_owner.as_deref() == Some("worker-a")
            })
            .map(|t| t.id)
            .collect();
        if !held.is_empty() {
            break held;
        }
        assert!(Instant::now() < deadline, "worker A never took work");
        std::thread::sleep(Duration::from_millis(10));
    };
    kill(a);
    while !h.done() {
        if let Ok(Some(status)) = b.try_wait() {
            panic!(
                "worker B exited ({status}): {}",
                std::fs::read_to_string(h.dir.join("worker-b.stderr")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "worker B did not finish the work: {}\n{:#?}",
            std::fs::read_to_string(h.dir.join("worker-b.stderr")).unwrap_or_default(),
            h.all_tasks().iter().filter(|t| t.state != TaskState::Succeeded).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    kill(b);
    for id in &ids {
        let t = h.all_tasks().into_iter().find(|t| t.id == *id).unwrap();
        assert_eq!(t.result, Some(json!(55)));
    }
    for id in held {
        let t = h.all_tasks().into_iter().find(|t| t.id == id).unwrap();
        assert!(
            t.failures >= 1 && t.attempts >= 2,
            "A's task was reclaimed and finished by B: {t:?}"
        );
    }
    rt_drop(&url, schema);
}

pub(super) fn rt_drop(url: &str, schema: String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(rt_drop_async(url, schema));
}

pub(super) async fn rt_drop_async(url: &str, schema: String) {
    let s = PgStore::open(url, PgOptions { dims: 8, schema: Some(schema), ..Default::default() })
        .await
        .unwrap();
    s.drop_schema().await.unwrap();
}
