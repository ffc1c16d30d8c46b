#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Engine tests: the kernel-driven `l9.plan` workflow on the Task Runtime.

use std::time::Duration;

use l9_engine::Engine;
use l9_engine::runtime::EnqueueOptions;
use l9_engine::store::TaskState;
use l9_engine::tasks::WorkerOptions;
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
    engine.run_worker(l9_engine::workflows::builtin(), opts, rx).await.unwrap();
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
    let rep = engine.replay(&l9_engine::workflows::builtin(), id).await.unwrap();
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
    let rep = engine.replay(&l9_engine::workflows::builtin(), id).await.unwrap();
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
