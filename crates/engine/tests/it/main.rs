#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Engine tests: the kernel-driven `l9.plan` workflow on the Task Runtime.

use std::time::Duration;

mod import;

use l9_engine::Engine;
use l9_engine::runtime::EnqueueOptions;
use l9_store::TaskState;
use l9_tasks::WorkerOptions;
use serde_json::{Value, json};

async fn drain(engine: &Engine) {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let opts = WorkerOptions {
        id: "test".into(),
        concurrency: 4,
        poll: Duration::from_millis(5),
        retry_base: Duration::ZERO,
        exit_when_idle: true,
        ..Default::default()
    };
    engine.run_worker(l9_tasks::builtin::builtin(), opts, rx).await.unwrap();
}

fn statuses(result: &Value) -> Vec<(String, String)> {
    result["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = &t["status"];
            let s = s
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| s.as_object().unwrap().keys().next().unwrap().clone());
            (t["task"].as_str().unwrap().to_string(), s)
        })
        .collect()
}

#[tokio::test]
async fn a_plan_runs_on_the_kernel_scheduler_with_gates_and_retries() {
    let dir = l9_test_support::temp_dir();
    Engine::init(dir.path(), None).await.unwrap();
    let engine = Engine::open(dir.path(), None).await.unwrap();
    let plan = json!({
        "seed": 7,
        "limits": {"queues": {"default": 2}},
        "tasks": [
            {"name": "build", "kind": "l9.echo", "input": {"step": "build"}},
            {"name": "test-a", "kind": "l9.echo", "deps": [0]},
            {"name": "test-b", "kind": "l9.echo", "deps": [0]},
            {"name": "deploy", "kind": "l9.echo", "deps": [1, 2], "needs_approval": true},
        ]
    });
    let (id, _) = engine.enqueue("l9.plan", plan, &EnqueueOptions::default()).await.unwrap();
    drain(&engine).await;
    let t = engine.task(id).await.unwrap();
    assert_eq!(t.state, TaskState::Waiting, "waits at the deploy gate");
    // An unfinished run replays up to where it stands.
    let rep = engine.replay(&l9_tasks::builtin::builtin(), id).await.unwrap();
    assert!(rep.stopped.as_deref().unwrap().contains("end of the journal"), "{rep:?}");
    let kids = engine.task_detail(id).await.unwrap().children;
    assert_eq!(kids.len(), 3, "build and both tests ran; deploy did not");
    engine.signal(id, "approve:deploy", &json!({"by": "test"})).await.unwrap();
    drain(&engine).await;
    let t = engine.task(id).await.unwrap();
    assert_eq!(t.state, TaskState::Succeeded, "{t:?}");
    let r = t.result.unwrap();
    assert_eq!(r["outcome"], json!("Succeeded"));
    assert_eq!(
        statuses(&r),
        [
            ("build", "Succeeded"),
            ("test-a", "Succeeded"),
            ("test-b", "Succeeded"),
            ("deploy", "Succeeded")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // The plan replays from its journal: same path, same result.
    let rep = engine.replay(&l9_tasks::builtin::builtin(), id).await.unwrap();
    assert_eq!(rep.matches_recorded, Some(true));
}

#[tokio::test]
async fn a_failing_plan_task_is_retried_by_policy_then_cancels_downstream() {
    let dir = l9_test_support::temp_dir();
    Engine::init(dir.path(), None).await.unwrap();
    let engine = Engine::open(dir.path(), None).await.unwrap();
    let plan = json!({
        "tasks": [
            {"name": "flaky", "kind": "l9.sleep", "input": {"seconds": -1},
             "retry": {"max_attempts": 2, "base_ms": 1, "max_ms": 1}},
            {"name": "after", "kind": "l9.echo", "deps": [0]},
            {"name": "independent", "kind": "l9.echo"},
        ]
    });
    let (id, _) = engine.enqueue("l9.plan", plan, &EnqueueOptions::default()).await.unwrap();
    for _ in 0..20 {
        drain(&engine).await;
        if engine.task(id).await.unwrap().state == TaskState::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await; // let the 1 ms retry timer pass
    }
    let t = engine.task(id).await.unwrap();
    assert_eq!(t.state, TaskState::Succeeded, "the plan workflow itself completes: {t:?}");
    let r = t.result.unwrap();
    assert_eq!(r["outcome"], json!({"Failed": {"failed": 1, "cancelled": 1}}));
    assert_eq!(r["tasks"][0]["attempts"], json!(2), "retried once by the policy");
    let s = statuses(&r);
    assert_eq!(
        (s[0].1.as_str(), s[1].1.as_str(), s[2].1.as_str()),
        ("Failed", "Cancelled", "Succeeded")
    );
    // Bad plans are refused with the reason.
    let bad = json!({"tasks": [{"name": "a", "kind": "l9.echo", "deps": [0]}]});
    let (bad_id, _) = engine.enqueue("l9.plan", bad, &EnqueueOptions::default()).await.unwrap();
    drain(&engine).await;
    let t = engine.task(bad_id).await.unwrap();
    assert_eq!(t.state, TaskState::Dead);
    assert!(t.error.unwrap().contains("depends on itself"));
}

mod agent {
    //! `l9.agent` on the durable runtime: a worker stopped in the middle of a model call
    //! and a fresh worker that resumes the run without repeating a finished call.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use l9_agents::process::{CommandSpec, Runner, SystemRunner};
    use l9_engine::Engine;
    use l9_engine::agent::AgentEnv;
    use l9_engine::models::ModelsConfig;
    use l9_engine::runtime::EnqueueOptions;
    use l9_models::{ChatRequest, ChatResponse, Provider, ScriptedProvider};
    use l9_store::TaskState;
    use l9_tasks::WorkerOptions;
    use serde_json::json;

    /// Logs the step of every call; the first call of `block_at` never returns (a worker
    /// dying mid-call).
    #[derive(Debug)]
    struct Flaky {
        inner: ScriptedProvider,
        calls: Arc<Mutex<Vec<String>>>,
        block_at: Mutex<Option<String>>,
        blocked: Arc<tokio::sync::Notify>,
    }

    #[async_trait]
    impl Provider for Flaky {
        fn name(&self) -> &str {
            self.inner.name()
        }
        async fn chat(&self, req: &ChatRequest) -> l9_models::Result<ChatResponse> {
            let step = req.step.clone().unwrap_or_default();
            self.calls.lock().unwrap().push(step.clone());
            let block = {
                let mut b = self.block_at.lock().unwrap();
                if b.as_deref() == Some(step.as_str()) { b.take().is_some() } else { false }
            };
            if block {
                self.blocked.notify_one();
                std::future::pending::<()>().await;
            }
            self.inner.chat(req).await
        }
    }

    async fn git(dir: &std::path::Path, args: &[&str]) {
        let mut a = vec!["-c", "user.name=t", "-c", "user.email=t@t"];
        a.extend_from_slice(args);
        let o = SystemRunner.run(&CommandSpec::new("git", &a, dir)).await.unwrap();
        assert!(o.success(), "{}", o.combined());
    }

    fn opts(exit_when_idle: bool) -> WorkerOptions {
        WorkerOptions {
            id: "w".into(),
            concurrency: 1,
            poll: Duration::from_millis(5),
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_millis(100),
            exit_when_idle,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_run_killed_mid_call_resumes_without_repeating_finished_model_calls() {
        let dir = l9_test_support::temp_dir();
        let root = dir.path().join("proj");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("README.md"), "adder\n").unwrap();
        git(&repo, &["init", "-q", "-b", "main"]).await;
        git(&repo, &["add", "-A"]).await;
        git(&repo, &["commit", "-qm", "init"]).await;
        Engine::init(&root, None).await.unwrap();
        let engine = Engine::open(&root, None).await.unwrap();

        let ex = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agent");
        let table: toml::Table = format!(
            "[providers.coder]\nkind = \"scripted\"\nscript = {:?}\n[providers.reviewer]\nkind = \"scripted\"\nscript = {:?}\n[roles]\ncoder = \"coder\"\nreviewer = \"reviewer\"\n",
            ex.join("coder.yaml").display().to_string(),
            ex.join("reviewer.yaml").display().to_string()
        )
        .parse()
        .unwrap();
        let models = ModelsConfig::parse(&table, &|k| k.to_string()).unwrap();
        let env = Arc::new(AgentEnv::new(root.clone(), models, Arc::new(|_: &str| None)));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let blocked = Arc::new(tokio::sync::Notify::new());
        let read = |f: &str| std::fs::read_to_string(ex.join(f)).unwrap();
        env.set_provider(
            "coder",
            Arc::new(Flaky {
                inner: ScriptedProvider::parse("coder", "coder.yaml", &read("coder.yaml")).unwrap(),
                calls: calls.clone(),
                block_at: Mutex::new(Some("r2/coder/model#1".into())),
                blocked: blocked.clone(),
            }),
        );
        env.set_provider(
            "reviewer",
            Arc::new(Flaky {
                inner: ScriptedProvider::parse("reviewer", "reviewer.yaml", &read("reviewer.yaml"))
                    .unwrap(),
                calls: calls.clone(),
                block_at: Mutex::new(None),
                blocked: blocked.clone(),
            }),
        );
        let payload = json!({"task": "write add.sh that prints the sum", "repo": repo, "gate": "test \"$(sh add.sh 2 2)\" = 4"});
        let (id, _) =
            engine.enqueue("l9.agent", payload, &EnqueueOptions::default()).await.unwrap();

        // First worker: stops (as if killed) while the model call of round 2 hangs.
        let (tx, rx) = tokio::sync::watch::channel(false);
        let e2 = engine.clone();
        let reg = engine.registry_with(env.clone());
        let w = tokio::spawn(async move { e2.run_worker(reg, opts(false), rx).await.unwrap() });
        blocked.notified().await;
        tx.send(true).unwrap();
        let report = w.await.unwrap();
        assert_eq!(report.released, 1, "the interrupted task's lease was given back");
        assert_ne!(engine.task(id).await.unwrap().state, TaskState::Succeeded);

        // A fresh worker resumes the run from its journal.
        let (_tx, rx) = tokio::sync::watch::channel(false);
        engine.run_worker(engine.registry_with(env.clone()), opts(true), rx).await.unwrap();
        let t = engine.task(id).await.unwrap();
        assert_eq!(t.state, TaskState::Succeeded, "{:?}", t.error);
        assert_eq!(std::fs::read_to_string(repo.join("add.sh")).unwrap(), "echo $(($1 + $2))\n");
        let calls = calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            [
                "r1/coder/model#1",
                "r1/coder/model#2",
                "r1/review",
                "r2/coder/model#1",
                // Resumed: only the call that never finished runs again.
                "r2/coder/model#1",
                "r2/coder/model#2",
                "r2/review",
            ]
        );
        let result = t.result.unwrap();
        assert_eq!(result["first_gate_failed"], true);
        assert_eq!(result["merged"]["how"], "fast-forward");
        // Scripted calls count tokens (about four characters each): the spend is reported
        // for the plan's budget.
        assert!(result["spend"]["tokens"].as_u64().unwrap() > 0, "{result}");

        // Replay: the same code takes the same path; changed prompt templates do not.
        let same = engine.replay(&engine.registry_with(env.clone()), id).await.unwrap();
        assert_eq!((same.stopped.clone(), same.matches_recorded), (None, Some(true)), "{same:?}");
        let table2 = table.clone();
        let mut changed = AgentEnv::new(
            root.clone(),
            ModelsConfig::parse(&table2, &|k| k.to_string()).unwrap(),
            Arc::new(|_: &str| None),
        );
        changed.coder_system = Some("You are a different coder now.".into());
        let changed = Arc::new(changed);
        let r = engine.replay(&engine.registry_with(changed), id).await;
        let shown = format!("{r:?}");
        assert!(shown.contains("prompt templates changed"), "{shown}");
    }
}

#[tokio::test]
async fn what_children_spend_feeds_the_plan_budget() {
    let dir = l9_test_support::temp_dir();
    Engine::init(dir.path(), None).await.unwrap();
    let engine = Engine::open(dir.path(), None).await.unwrap();
    let plan = json!({
        "budget": {"tokens": 10_000},
        "tasks": [
            {"name": "a", "kind": "l9.echo", "input": {"spend": {"tokens": 500, "micro_usd": 7}}},
            {"name": "b", "kind": "l9.echo", "deps": [0], "input": {"spend": {"tokens": 250, "micro_usd": 3}}},
        ]
    });
    let (id, _) = engine.enqueue("l9.plan", plan, &EnqueueOptions::default()).await.unwrap();
    drain(&engine).await;
    let t = engine.task(id).await.unwrap();
    assert_eq!(t.state, TaskState::Succeeded, "{:?}", t.error);
    let r = t.result.unwrap();
    assert_eq!(
        (r["spent"]["tokens"].clone(), r["spent"]["micro_usd"].clone()),
        (json!(750), json!(10))
    );
}

#[tokio::test]
async fn a_runs_lessons_are_recorded_once_and_projected_into_the_graph() {
    use l9_types::AsOf;
    use l9_world::{Delta, Observation};
    let dir = l9_test_support::temp_dir();
    Engine::init(dir.path(), None).await.unwrap();
    let engine = Engine::open(dir.path(), None).await.unwrap();
    let run = "00000000-0000-7000-8000-000000000042".parse::<l9_types::RunId>().unwrap();
    let t = |s: i64| chrono::DateTime::<chrono::Utc>::from_timestamp(1_790_000_000 + s, 0).unwrap();
    let lessons: Vec<Observation> = [
        (Delta::HiddenConstraint { trigger: "export".into(), text: "CSV only".into() }, t(0)),
        (Delta::CausalEdge { cause: "flaky test".into(), effect: "retry".into() }, t(1)),
        (Delta::CausalEdge { cause: "flaky test".into(), effect: "retry".into() }, t(2)),
        (Delta::InsightVote { item: "CH-001".into(), helpful: true }, t(3)),
    ]
    .into_iter()
    .map(|(d, at)| Observation::new(d, at))
    .collect();
    let first = engine.world().record_run_deltas(run, &lessons, None).await.unwrap();
    assert_eq!((first.deltas, first.items, first.new), (4, 1, true));
    // The recording step re-ran after a crash: nothing is recorded twice.
    let again = engine.world().record_run_deltas(run, &lessons, None).await.unwrap();
    assert_eq!((again.deltas, again.items, again.new), (4, 1, false));
    let state = engine.world().world_state().await.unwrap();
    assert_eq!(state.active_constraints().len(), 1);
    assert_eq!(state.votes["CH-001"], (1, 0));
    // The graph: one current causal relation carrying its evidence; the learned constraint
    // is an entity valid from when it was observed.
    assert_eq!(
        engine.world().world_causes(None).await.unwrap(),
        vec![("flaky test".to_string(), "retry".to_string(), 2)]
    );
    let id = state.constraints[0].id.clone();
    let item = engine.world().world_item(&id, None).await.unwrap().unwrap();
    assert_eq!(item.valid_from, Some(t(0)));
    let before = AsOf { valid_at: t(-1), known_at: None };
    assert!(engine.world().world_item(&id, Some(&before)).await.unwrap().is_none());
    // More evidence later: the old version ends, the new one carries the count.
    let more = vec![Observation::new(
        Delta::CausalEdge { cause: "flaky test".into(), effect: "retry".into() },
        t(10),
    )];
    engine
        .world()
        .record_run_deltas(
            "00000000-0000-7000-8000-000000000043".parse::<l9_types::RunId>().unwrap(),
            &more,
            None,
        )
        .await
        .unwrap();
    assert_eq!(engine.world().world_causes(None).await.unwrap()[0].2, 3);
    let at5 = AsOf { valid_at: t(5), known_at: None };
    assert_eq!(
        engine.world().world_causes(Some(&at5)).await.unwrap()[0].2,
        2,
        "as it stood at t+5"
    );
    // Opening the store loaded the seeds; loading them again changes neither the items nor
    // the graph.
    assert_eq!(engine.world().load_seeds().await.unwrap().kept, 108);
    let entities = engine.store().entities(&Default::default()).await.unwrap().len();
    assert!(entities > 108, "an entity per item plus the factors: {entities}");
    assert!(engine.store().relations(&Default::default()).await.unwrap().len() >= 7 + 2);
    let report = engine.world().load_seeds().await.unwrap();
    assert_eq!(report.added, 0);
    // Queries bring graph neighbours of their best hits: the task kinds a matching kind is
    // related to, marked with the relation that brought them.
    let hits =
        engine.world().world_query("write or extend automated tests", 8, None).await.unwrap();
    assert!(hits.iter().any(|h| h.id == "TK-test" && h.via.is_none()), "{hits:?}");
    let via: Vec<&str> = hits.iter().filter_map(|h| h.via.as_deref()).collect();
    assert!(
        !via.is_empty() && via.iter().all(|v| v.contains("TK-") || v.contains("CH-")),
        "{via:?}"
    );
    assert_eq!(engine.store().entities(&Default::default()).await.unwrap().len(), entities);
}

mod run_crash {
    //! `l9.run` under SIGKILL: worker processes (this test binary, re-executed) are killed at
    //! seeded random moments at least 20 times; a fresh worker each time resumes the run from
    //! its journal. The run finishes with the same code, and model calls are not repeated
    //! beyond the ones a kill interrupted.

    #![allow(clippy::disallowed_methods)] // the harness spawns and times its own children

    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use l9_engine::Engine;
    use l9_engine::runtime::EnqueueOptions;
    use l9_models::{ChatRequest, ChatResponse, Provider, ScriptedProvider};
    use l9_store::{TaskFilter, TaskState};
    use l9_tasks::WorkerOptions;
    use l9_types::SeededRng;
    use serde_json::json;

    const ENV_ROOT: &str = "L9_RUNCRASH_ROOT";
    const ENV_LOG: &str = "L9_RUNCRASH_LOG";
    const ENV_SCRIPT: &str = "L9_RUNCRASH_SCRIPT";

    /// Appends every model call's step to a log before answering.
    #[derive(Debug)]
    struct Logged(ScriptedProvider, Mutex<std::fs::File>);

    #[async_trait]
    impl Provider for Logged {
        fn name(&self) -> &str {
            self.0.name()
        }
        async fn chat(&self, req: &ChatRequest) -> l9_models::Result<ChatResponse> {
            if let Ok(mut f) = self.1.lock() {
                let _ = writeln!(f, "{}", req.step.clone().unwrap_or_default());
                let _ = f.sync_data();
            }
            // A model takes a moment: kills land inside calls as well as between them.
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.0.chat(req).await
        }
    }

    #[test]
    #[ignore = "run by the run crash harness as a child process"]
    fn run_child() {
        let Ok(root) = std::env::var(ENV_ROOT) else { return };
        let log = std::env::var(ENV_LOG).unwrap();
        let script = std::env::var(ENV_SCRIPT).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let engine = Engine::open(Path::new(&root), None).await.unwrap();
            let env = Arc::new(engine.agent_env());
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
            let text = std::fs::read_to_string(&script).unwrap();
            env.set_provider(
                &format!("script:{script}"),
                Arc::new(Logged(
                    ScriptedProvider::parse("example", &script, &text).unwrap(),
                    Mutex::new(file),
                )),
            );
            let opts = WorkerOptions {
                id: format!("w{}", std::process::id()),
                concurrency: 4,
                lease: Duration::from_millis(800),
                poll: Duration::from_millis(20),
                ..Default::default()
            };
            let (_tx, rx) = tokio::sync::watch::channel(false);
            let parent = std::os::unix::process::parent_id();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if std::os::unix::process::parent_id() != parent {
                        std::process::exit(3);
                    }
                }
            });
            let _ = tokio::time::timeout(
                Duration::from_secs(120),
                engine.run_worker(engine.registry_with(env), opts, rx),
            )
            .await;
        });
    }

    fn spawn(root: &Path, log: &Path, script: &Path) -> Child {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "run_crash::run_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_ROOT, root)
            .env(ENV_LOG, log)
            .env(ENV_SCRIPT, script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn git(dir: &Path, args: &[&str]) {
        let o = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    #[test]
    fn a_run_killed_twenty_times_finishes_with_the_same_code() {
        let dir = l9_test_support::temp_dir();
        let root = dir.path().join("proj");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("README.md"), "adder\n").unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-qm", "init"]);
        let ex = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/adder")
            .canonicalize()
            .unwrap();
        let script = ex.join("provider.yaml");
        let log = dir.path().join("calls.log");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let engine = rt.block_on(async {
            Engine::init(&root, None).await.unwrap();
            Engine::open(&root, None).await.unwrap()
        });
        let payload = json!({"spec": ex.join("spec.md"), "repo": repo, "script": script, "trials": 50, "seed": 1});
        let (id, _) =
            rt.block_on(engine.enqueue("l9.run", payload, &EnqueueOptions::default())).unwrap();
        let rng = SeededRng::from_seed(20);
        let (mut kills, mut interrupted) = (0usize, 0usize);
        let state = |rt: &tokio::runtime::Runtime| rt.block_on(engine.task(id)).unwrap().state;
        while kills < 20 {
            let mut child = spawn(&root, &log, &script);
            std::thread::sleep(Duration::from_millis(50 + rng.next_u64() % 300));
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            kills += 1;
            if state(&rt) != TaskState::Succeeded {
                interrupted += 1;
            }
            // Let the killed worker's leases expire so the next one can take the work.
            std::thread::sleep(Duration::from_millis(900));
        }
        let mut child = spawn(&root, &log, &script);
        let start = Instant::now();
        while state(&rt) != TaskState::Succeeded && start.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        let t = rt.block_on(engine.task(id)).unwrap();
        assert_eq!(t.state, TaskState::Succeeded, "after {kills} kills: {:?}", t.error);
        assert!(
            interrupted >= 5,
            "only {interrupted} of {kills} kills landed while the run was unfinished"
        );
        assert_eq!(
            std::fs::read_to_string(repo.join("add.sh")).unwrap(),
            "echo $(($1 + $2))\n",
            "the same final code"
        );
        // Every model call the journals hold, against the calls made: only calls a kill
        // interrupted (at most one per kill) may have been made twice.
        let calls: Vec<String> =
            std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect();
        let agents = rt
            .block_on(engine.list_tasks(
                &TaskFilter { kind: Some("l9.agent".into()), ..Default::default() },
                None,
                50,
            ))
            .unwrap()
            .tasks;
        let mut journaled = 0;
        for a in &agents {
            let d = rt.block_on(engine.task_detail(a.id)).unwrap();
            journaled += d
                .journal
                .iter()
                .filter(|j| j.key.contains("/model#") || j.key.contains("/review#"))
                .filter(|j| j.status == "completed")
                .count();
        }
        assert!(journaled > 0);
        assert!(
            calls.len() <= journaled + interrupted,
            "{} model calls for {journaled} journaled ones and {interrupted} interrupting kills: {calls:?}",
            calls.len()
        );
        eprintln!(
            "run crash harness: {kills} kills ({interrupted} mid-run), {} model calls, {journaled} journaled",
            calls.len()
        );
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // starts a child to stand for a live lease holder
fn only_dead_processes_of_this_host_lose_their_leases() {
    use l9_engine::runtime::{default_worker_id, worker_is_gone};
    let me = default_worker_id();
    assert!(!worker_is_gone(&me), "this process is alive: {me}");
    let (base, who) = me.split_once('@').expect("the id says who exactly holds the lease");
    let host = base.rsplitn(3, ':').nth(2).unwrap().to_string();
    // PIDs on Linux stay below 2^22.
    assert!(worker_is_gone(&format!("{host}:99999999:abcd")), "an id of before 2026-12");
    assert!(!worker_is_gone("another-host:99999999:abcd"), "other hosts: unknown");
    assert!(!worker_is_gone("bench") && !worker_is_gone("w") && !worker_is_gone(""));

    // A live process of this machine and namespace (a child we started): held.
    let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    let (boot, rest) = who.split_once('.').unwrap();
    let (ns, _) = rest.split_once('.').unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 =
        stat.rsplit_once(')').unwrap().1.split_whitespace().nth(19).unwrap().parse().unwrap();
    let holder =
        |boot: &str, ns: &str, start: u64| format!("{host}:{pid}:abcd@{boot}.{ns}.{start}");
    assert!(!worker_is_gone(&holder(boot, ns, start)), "a live holder lost its lease");
    // The same host name and pid in another container (PID namespace) or on another machine
    // (boot id): nothing is known, the lease is left alone.
    assert!(!worker_is_gone(&holder(boot, "4026531999", start)));
    assert!(!worker_is_gone(&holder("0123456789ab", ns, start)));
    // The pid now runs another process (started at another time): the holder is gone.
    assert!(worker_is_gone(&holder(boot, ns, start + 1)));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(worker_is_gone(&holder(boot, ns, start)), "a dead holder kept its lease");
}

/// The run's front step is pure, so a crash before its journal entry is filed runs it again:
/// the spec and IR packets it stored the first time are found and reused, not doubled.
#[tokio::test]
async fn storing_a_runs_spec_and_ir_twice_stores_them_once() {
    let dir = l9_test_support::temp_dir();
    Engine::init(dir.path(), None).await.unwrap();
    let engine = Engine::open(dir.path(), None).await.unwrap();
    let spec = dir.path().join("spec.md");
    std::fs::write(&spec, "# S\n\n- REQ-1: The tool MUST print hello.\n").unwrap();
    let checked = l9_engine::ir::check_file(&spec, None, &[]).unwrap();
    let count = |kind: &'static str| {
        let engine = engine.clone();
        async move {
            let f = l9_store::PacketFilter { kinds: vec![kind.into()], ..Default::default() };
            engine.store().count_packets(&f).await.unwrap()
        }
    };
    let run: l9_types::RunId = "00000000-0000-7000-8000-000000000051".parse().unwrap();
    let first = engine.store_ir_for_run(&checked, run).await.unwrap();
    let again = engine.store_ir_for_run(&checked, run).await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!((count("spec").await, count("ir").await), (1, 1));
    // A crash between the two writes left the spec alone: it gets its IR, no second spec.
    let other: l9_types::RunId = "00000000-0000-7000-8000-000000000052".parse().unwrap();
    let spec_only = l9_types::PacketDraft::new("spec")
        .body(json!({"source_hash": checked.ir().source.hash}))
        .run(other);
    let spec_packet = engine.memory().put(spec_only, vec![]).await.unwrap();
    let ir = engine.store_ir_for_run(&checked, other).await.unwrap();
    assert_eq!(ir.parents, vec![spec_packet.id]);
    assert_eq!((count("spec").await, count("ir").await), (2, 2));
    // Another run of the same spec is another history.
    let third: l9_types::RunId = "00000000-0000-7000-8000-000000000053".parse().unwrap();
    let t = engine.store_ir_for_run(&checked, third).await.unwrap();
    assert_ne!(t.id, first.id);
    assert_eq!((count("spec").await, count("ir").await), (3, 3));
}
