//! Workflow semantics, in-process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use l9_store::{NewTask, StoreError, TaskFilter, TaskState};
use l9_tasks::{Ctx, Registry, Schedule, Scheduler, TaskError, WfError, Worker, fork, replay};
use l9_types::{Clock, Effect, IdSource, SeededRng, TaskId};
use serde_json::{Value, json};

use crate::rig::Rig;

fn counter() -> Arc<AtomicU32> {
    Arc::new(AtomicU32::new(0))
}

/// Three pure steps; fails (outside any step, like a crash) once after the first when
/// `flaky` is set.
fn chain_registry(runs: Arc<AtomicU32>, flaky: Arc<AtomicBool>, second: &'static str) -> Registry {
    let mut reg = Registry::new();
    reg.register("chain", move |ctx: Ctx, input: Value| {
        let runs = runs.clone();
        let flaky = flaky.clone();
        async move {
            let n = input["n"].as_u64().unwrap_or(1);
            let a: u64 = ctx
                .step("first", Effect::Pure, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(n + 1)
                })
                .await?;
            if flaky.swap(false, Ordering::SeqCst) {
                return Err(WfError::Store(StoreError::Unavailable("simulated outage".into())));
            }
            let b: u64 = ctx
                .step(second, Effect::Pure, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(a * 10)
                })
                .await?;
            let t = ctx.now().await?;
            let r = ctx.random().await?;
            Ok(json!({"b": b, "t": t, "r": r}))
        }
    });
    reg
}

/// A disk that is full while a step writes fails the attempt, not the step: nothing is
/// journaled as failed, and the task finishes once the cause is gone.
#[tokio::test]
async fn a_full_disk_fails_the_attempt_not_the_step() {
    let rig = Rig::sqlite().await;
    let calls = counter();
    let mut reg = Registry::new();
    let c = calls.clone();
    reg.register("writer", move |ctx: Ctx, _input: Value| {
        let c = c.clone();
        async move {
            let v: u32 = ctx
                .step("store the result", Effect::Idempotent { key: "w".into() }, || async {
                    if c.fetch_add(1, Ordering::SeqCst) == 0 {
                        let e = StoreError::Environment {
                            fault: l9_store::Fault::Full,
                            detail: "database or disk is full".into(),
                        };
                        return Err(e.to_string());
                    }
                    Ok(7)
                })
                .await?;
            Ok(json!({"v": v}))
        }
    });
    let id = rig.start("writer", json!({})).await;
    let report = rig.drain(&reg).await;
    assert_eq!((report.failed, report.succeeded), (1, 1), "{report:?}");
    let t = rig.task(id).await;
    assert_eq!((t.state, t.result.clone()), (TaskState::Succeeded, Some(json!({"v": 7}))));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let rows = rig.store.tasks().load_journal(l9_tasks::run_of(id)).await.unwrap();
    assert!(
        !rows.iter().any(|r| r.status == l9_store::JournalStatus::Failed),
        "the full disk was recorded as the step's failure: {rows:?}"
    );
}

#[tokio::test]
async fn completed_steps_are_not_rerun_after_a_failure() {
    let rig = Rig::sqlite().await;
    let runs = counter();
    let reg = chain_registry(runs.clone(), Arc::new(AtomicBool::new(true)), "second");
    let id = rig.start("chain", json!({"n": 4})).await;
    let report = rig.drain(&reg).await;
    assert_eq!((report.failed, report.succeeded), (1, 1), "{report:?}");
    let t = rig.task(id).await;
    assert_eq!(t.state, TaskState::Succeeded);
    assert_eq!(t.result.as_ref().unwrap()["b"], json!(50));
    assert_eq!(t.failures, 1);
    assert_eq!(runs.load(Ordering::SeqCst), 2, "step `first` ran once, not twice");

    // Replay: same code, no effects, same result.
    let rep = replay(rig.store.clone(), rig.clock(), &reg, id).await.unwrap();
    assert_eq!(rep.matches_recorded, Some(true));
    assert_eq!(rep.entries, 4);
    assert_eq!(runs.load(Ordering::SeqCst), 2, "replay ran nothing");

    // Changed code: the replay names where it parts from the journal.
    let changed = chain_registry(counter(), Arc::new(AtomicBool::new(false)), "renamed");
    let err = replay(rig.store.clone(), rig.clock(), &changed, id).await.unwrap_err();
    let TaskError::Diverged(d) = err else { panic!("{err}") };
    assert_eq!(
        (d.seq, d.recorded.as_deref(), d.requested.as_deref()),
        (1, Some("step:second#0"), Some("step:renamed#0"))
    );

    // Fork from entry 1 with new code and input: step `first` is reused, the rest runs.
    let runs2 = counter();
    let reg2 = chain_registry(runs2.clone(), Arc::new(AtomicBool::new(false)), "renamed");
    let forked = fork(rig.store.clone(), rig.clock(), id, 1, Some(json!({"n": 9}))).await.unwrap();
    rig.drain(&reg2).await;
    let f = rig.task(forked).await;
    assert_eq!(f.state, TaskState::Succeeded);
    assert_eq!(f.result.unwrap()["b"], json!(50), "first step's recorded 5 reused, times 10");
    assert_eq!(runs2.load(Ordering::SeqCst), 1, "only the new step ran");
}

#[tokio::test]
async fn durable_sleep_parks_the_run_until_due() {
    let rig = Rig::sqlite().await;
    let mut reg = Registry::new();
    reg.register("nap", |ctx: Ctx, _| async move {
        let before = ctx.now().await?;
        ctx.sleep(Duration::from_secs(3600)).await?;
        let after = ctx.now().await?;
        Ok(json!({"slept_ms": (after - before).num_milliseconds()}))
    });
    let id = rig.start("nap", json!(null)).await;
    let r = rig.drain(&reg).await;
    assert_eq!(r.suspended, 1);
    let t = rig.task(id).await;
    assert_eq!(t.state, TaskState::Queued);
    assert_eq!(t.run_after, rig.clock.now() + chrono::Duration::seconds(3600));
    rig.clock.advance(chrono::Duration::seconds(1800));
    assert_eq!(rig.drain(&reg).await.claimed, 0, "not due yet");
    rig.clock.advance(chrono::Duration::seconds(1800));
    rig.drain(&reg).await;
    let t = rig.task(id).await;
    assert_eq!(t.state, TaskState::Succeeded);
    assert_eq!(
        t.result.unwrap()["slept_ms"],
        json!(3_600_000),
        "journaled `now` before the sleep was reused"
    );
}

#[tokio::test]
async fn approvals_and_signals_wake_waiting_runs() {
    let rig = Rig::sqlite().await;
    let mut reg = Registry::new();
    reg.register("gate", |ctx: Ctx, _| async move {
        let ok = ctx.approval("deploy").await?;
        let note = ctx.wait_for_signal("note").await?;
        Ok(json!({"approved": ok, "note": note}))
    });
    let id = rig.start("gate", json!(null)).await;
    rig.drain(&reg).await;
    assert_eq!(rig.task(id).await.state, TaskState::Waiting);
    let q = rig.store.tasks();
    q.send_signal(id, "approval", &json!({"approved": true}), rig.clock.now()).await.unwrap();
    rig.drain(&reg).await;
    assert_eq!(rig.task(id).await.state, TaskState::Waiting, "still waits for the note");
    q.send_signal(id, "note", &json!("ship it"), rig.clock.now()).await.unwrap();
    rig.drain(&reg).await;
    let t = rig.task(id).await;
    assert_eq!(t.result, Some(json!({"approved": true, "note": "ship it"})));
}

#[tokio::test]
async fn children_fan_out_and_in_exactly_once() {
    let rig = Rig::sqlite().await;
    let leaf_runs = counter();
    let mut reg = Registry::new();
    let lr = leaf_runs.clone();
    reg.register("leaf", move |ctx: Ctx, input: Value| {
        let lr = lr.clone();
        async move {
            let v: u64 = ctx
                .step("square", Effect::Pure, || async {
                    lr.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(input.as_u64().unwrap() * input.as_u64().unwrap())
                })
                .await?;
            Ok(json!(v))
        }
    });
    reg.register("fan", |ctx: Ctx, spec: Value| async move {
        // The run reads a stored spec: the step's entry cites it.
        let spec: l9_types::PacketId = serde_json::from_value(spec).unwrap();
        let c = ctx.clone();
        ctx.step("read spec", Effect::Pure, || async move {
            c.cite(spec);
            Ok::<_, String>(1)
        })
        .await?;
        let mut kids = Vec::new();
        for i in 1..=5u64 {
            kids.push(ctx.spawn_child("leaf", json!(i)).await?);
        }
        let mut sum = 0;
        for k in kids {
            sum += ctx.join(k).await?.as_u64().unwrap_or(0);
        }
        Ok(json!(sum))
    });
    let spec = l9_types::PacketDraft::new("spec")
        .text("the spec")
        .seal(&l9_types::IdSource { clock: rig.clock.as_ref(), rng: &rig.rng })
        .unwrap();
    let batch = l9_store::WriteBatch { packets: vec![spec.clone()], ..Default::default() };
    rig.store.write(&batch).await.unwrap();
    let id = rig.start("fan", json!(spec.id)).await;
    rig.drain(&reg).await;
    let t = rig.task(id).await;
    assert_eq!((t.state, t.result), (TaskState::Succeeded, Some(json!(55))));
    let kids = rig
        .store
        .tasks()
        .list_tasks(&TaskFilter { parent: Some(id), ..Default::default() }, None, 50)
        .await
        .unwrap();
    assert_eq!(kids.tasks.len(), 5);
    assert_eq!(leaf_runs.load(Ordering::SeqCst), 5);
    // Lineage: every child's entries descend from the parent's spawn entry, and through the
    // parent's journal from the spec the run cited.
    let parent_journal = rig.store.tasks().load_journal(l9_tasks::run_of(id)).await.unwrap();
    for kid in &kids.tasks {
        let journal = rig.store.tasks().load_journal(l9_tasks::run_of(kid.id)).await.unwrap();
        let last = journal.last().unwrap().packet;
        let up: Vec<_> = rig
            .store
            .lineage(last, l9_store::Direction::Up, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        // The spawn is journaled `started` (before the child exists), then with its id.
        let key = &parent_journal
            .iter()
            .find(|r| r.body["value"] == json!(kid.id) && r.key.starts_with("child:"))
            .unwrap()
            .key;
        let spawned = parent_journal.iter().find(|r| &r.key == key).unwrap();
        assert_eq!(spawned.status, l9_store::JournalStatus::Started);
        assert!(up.contains(&spawned.packet), "child {} lineage misses its spawn entry", kid.id);
        assert!(up.contains(&spec.id), "child {} lineage misses the spec", kid.id);
    }
}

#[tokio::test]
async fn an_irreversible_step_interrupted_by_a_crash_escalates_until_resolved() {
    let rig = Rig::sqlite().await;
    let charges = counter();
    let crash = Arc::new(AtomicBool::new(true));
    let mut reg = Registry::new();
    let (c, k) = (charges.clone(), crash.clone());
    reg.register("pay", move |ctx: Ctx, _| {
        let (c, k) = (c.clone(), k.clone());
        async move {
            let receipt: u64 = ctx
                .step("charge", Effect::Irreversible, || async {
                    c.fetch_add(1, Ordering::SeqCst);
                    if k.swap(false, Ordering::SeqCst) {
                        panic!("the worker dies after charging, before journaling");
                    }
                    Ok::<_, String>(7)
                })
                .await?;
            Ok(json!(receipt))
        }
    });
    let id = rig.start("pay", json!(null)).await;
    rig.drain(&reg).await;
    assert_eq!(rig.task(id).await.state, TaskState::Leased, "the dead worker still holds it");
    rig.clock.advance(chrono::Duration::seconds(31));
    let r = rig.drain(&reg).await;
    assert_eq!(r.escalated, 1, "{r:?}");
    let t = rig.task(id).await;
    assert_eq!(t.state, TaskState::Waiting);
    let note = t.error.unwrap();
    assert!(
        note.contains("paused") && note.contains("step:charge#0") && note.contains("irreversible"),
        "{note}"
    );
    assert_eq!(charges.load(Ordering::SeqCst), 1, "not charged twice");

    // The operator checked: the charge happened, receipt 7.
    let payload = json!({"key": "step:charge#0", "action": "done", "value": 7});
    rig.store.tasks().send_signal(id, "resolve", &payload, rig.clock.now()).await.unwrap();
    rig.drain(&reg).await;
    let t = rig.task(id).await;
    assert_eq!((t.state, t.result), (TaskState::Succeeded, Some(json!(7))));
    assert_eq!(charges.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_rerun_resolution_is_used_once() {
    let rig = Rig::sqlite().await;
    let runs = counter();
    let crashes = Arc::new(AtomicU32::new(2));
    let mut reg = Registry::new();
    let (r, k) = (runs.clone(), crashes.clone());
    reg.register("send", move |ctx: Ctx, _| {
        let (r, k) = (r.clone(), k.clone());
        async move {
            ctx.step("email", Effect::Irreversible, || async {
                r.fetch_add(1, Ordering::SeqCst);
                if k.load(Ordering::SeqCst) > 0 {
                    k.fetch_sub(1, Ordering::SeqCst);
                    panic!("crash mid-effect");
                }
                Ok::<_, String>("sent".to_string())
            })
            .await?;
            Ok(json!("ok"))
        }
    });
    let id = rig.start("send", json!(null)).await;
    rig.drain(&reg).await;
    rig.clock.advance(chrono::Duration::seconds(31));
    rig.drain(&reg).await;
    assert_eq!(rig.task(id).await.state, TaskState::Waiting);
    let payload = json!({"key": "step:email#0", "action": "rerun"});
    rig.store.tasks().send_signal(id, "resolve", &payload, rig.clock.now()).await.unwrap();
    rig.drain(&reg).await; // re-runs and crashes again
    rig.clock.advance(chrono::Duration::seconds(31));
    rig.drain(&reg).await;
    assert_eq!(rig.task(id).await.state, TaskState::Waiting, "the old answer is not reused");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    rig.store.tasks().send_signal(id, "resolve", &payload, rig.clock.now()).await.unwrap();
    rig.drain(&reg).await;
    assert_eq!(rig.task(id).await.state, TaskState::Succeeded);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn checkpoints_survive_a_crash() {
    let rig = Rig::sqlite().await;
    let crash = Arc::new(AtomicBool::new(true));
    let mut reg = Registry::new();
    let k = crash.clone();
    reg.register("long", move |ctx: Ctx, _| {
        let k = k.clone();
        async move {
            let start = match ctx.last_checkpoint().await? {
                Some(b) => u32::from_le_bytes(b.try_into().unwrap_or([0; 4])),
                None => 0,
            };
            let mut done = Vec::new();
            for i in start..10 {
                done.push(i);
                ctx.checkpoint(&(i + 1).to_le_bytes()).await?;
                if i == 5 && k.swap(false, Ordering::SeqCst) {
                    panic!("crash at item 5");
                }
            }
            Ok(json!({"resumed_at": start, "did": done.len()}))
        }
    });
    let id = rig.start("long", json!(null)).await;
    rig.drain(&reg).await;
    rig.clock.advance(chrono::Duration::seconds(31));
    rig.drain(&reg).await;
    assert_eq!(rig.task(id).await.result, Some(json!({"resumed_at": 6, "did": 4})));
}

#[tokio::test]
async fn cancelling_a_running_task_stops_it_and_shutdown_releases_leases() {
    let rig = Rig::sqlite().await;
    let after = counter();
    let mut reg = Registry::new();
    let a = after.clone();
    reg.register("slow", move |ctx: Ctx, _| {
        let a = a.clone();
        async move {
            ctx.step("wait", Effect::Pure, || async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                a.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(())
            })
            .await?;
            Ok(json!(null))
        }
    });
    let cancelled = rig.start("slow", json!(null)).await;
    let released = rig.start("slow", json!(null)).await;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut opts = rig.opts("w1");
    opts.exit_when_idle = false;
    opts.lease = Duration::from_millis(300);
    let worker = l9_tasks::Worker::new(rig.store.clone(), rig.clock(), Arc::new(reg), opts);
    let handle = tokio::spawn(worker.run(rx));
    while rig.task(released).await.state != TaskState::Leased
        || rig.task(cancelled).await.state != TaskState::Leased
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rig.store.tasks().cancel(cancelled, rig.clock.now()).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await; // a heartbeat notices
    tx.send(true).unwrap();
    let report = handle.await.unwrap().unwrap();
    assert_eq!((report.lost, report.released), (1, 1), "{report:?}");
    assert_eq!(rig.task(cancelled).await.state, TaskState::Cancelled);
    let t = rig.task(released).await;
    assert_eq!(
        (t.state, t.lease_owner),
        (TaskState::Queued, None),
        "given back for another worker"
    );
    assert_eq!(after.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cron_fires_each_tick_once_across_schedulers() {
    let rig = Rig::sqlite().await;
    let s = Schedule::new("reindex", "*/5 * * * *", "default", "reindex", json!({})).unwrap();
    let bad = Schedule::new("x", "every tuesday", "default", "k", json!({})).unwrap_err();
    assert!(bad.to_string().contains("is not a cron expression"), "{bad}");
    let a =
        Scheduler::new(rig.store.clone(), rig.clock(), SeededRng::from_seed(1), vec![s.clone()]);
    let b = Scheduler::new(rig.store.clone(), rig.clock(), SeededRng::from_seed(2), vec![s]);
    let since = rig.clock.now() - chrono::Duration::seconds(1);
    assert_eq!(a.fire_due(since).await.unwrap() + b.fire_due(since).await.unwrap(), 1);
    rig.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(b.fire_due(since).await.unwrap() + a.fire_due(since).await.unwrap(), 1);
    rig.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(a.fire_due(since).await.unwrap(), 0, "no new tick yet");
    let n: u64 = rig.store.tasks().task_counts(None).await.unwrap().values().sum();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn journal_entries_are_memory_packets_with_lineage_and_large_values_in_blobs() {
    let rig = Rig::sqlite().await;
    let mut reg = Registry::new();
    reg.register("big", |ctx: Ctx, _| async move {
        let s: String = ctx
            .step("make", Effect::Pure, || async { Ok::<_, String>("x".repeat(40_000)) })
            .await?;
        let n: usize =
            ctx.step("measure", Effect::Pure, || async { Ok::<_, String>(s.len()) }).await?;
        Ok(json!(n))
    });
    let id = rig.start("big", json!(null)).await;
    rig.drain(&reg).await;
    assert_eq!(rig.task(id).await.result, Some(json!(40_000)));
    let rows = rig.store.tasks().load_journal(l9_tasks::run_of(id)).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].body.get("blob").is_some() && rows[0].body.get("value").is_none());
    let p = rig.store.get_packet(rows[1].packet).await.unwrap().unwrap();
    assert_eq!(p.parents, vec![rows[0].packet], "lineage: step -> the step before it");
    assert_eq!(p.kind, "journal.step");
    // Replay reads the blob back.
    let rep = replay(rig.store.clone(), rig.clock(), &reg, id).await.unwrap();
    assert_eq!(rep.matches_recorded, Some(true));
}

#[tokio::test]
async fn pure_entries_written_behind_are_durable_before_any_effect() {
    let rig = Rig::sqlite().await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut reg = Registry::new();
    let s = seen.clone();
    reg.register("mixed", move |ctx: Ctx, _| {
        let s = s.clone();
        async move {
            for i in 0..20u64 {
                ctx.step("pure", Effect::Pure, || async move { Ok::<_, String>(i) }).await?;
            }
            let _t = ctx.now().await?;
            let (store, run, s2) = (ctx.store().clone(), ctx.run_id(), s.clone());
            ctx.step("effect", Effect::Irreversible, || async move {
                // What the journal holds when the effect runs.
                let rows = store.tasks().load_journal(run).await.map_err(|e| e.to_string())?;
                *s2.lock().unwrap() = rows.iter().map(|r| r.key.clone()).collect();
                Ok::<_, String>(())
            })
            .await?;
            Ok(json!(null))
        }
    });
    let id = rig.start("mixed", json!(null)).await;
    rig.drain(&reg).await;
    assert_eq!(rig.task(id).await.state, TaskState::Succeeded);
    let keys = seen.lock().unwrap().clone();
    assert_eq!(keys.len(), 22, "20 pure steps, now, and the effect's start marker: {keys:?}");
    assert_eq!(keys[0], "step:pure#0");
    assert_eq!(keys[20], "now:now#0");
    assert_eq!(keys[21], "step:effect#0");
    let rows = rig.store.tasks().load_journal(l9_tasks::run_of(id)).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (0..23).collect::<Vec<u64>>());
}

/// `wait_for_timers`: an exit-when-idle worker stays while its queue holds a sleeping run and
/// takes it up once the timer is due; without it the worker leaves the run parked.
#[tokio::test]
async fn a_worker_waiting_for_timers_stays_until_the_sleep_is_over() {
    let rig = Rig::sqlite().await;
    let mut reg = Registry::new();
    reg.register("nap", |ctx: Ctx, _| async move {
        ctx.sleep(Duration::from_secs(60)).await?;
        Ok(json!("rested"))
    });
    let id = rig.start("nap", json!(null)).await;
    let mut opts = rig.opts("w");
    opts.wait_for_timers = true;
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let worker = Worker::new(rig.store.clone(), rig.clock(), Arc::new(reg.clone()), opts);
    let run = tokio::spawn(async move { worker.run(rx).await });
    let mut parked = false;
    for _ in 0..2000 {
        let t = rig.task(id).await;
        if t.state == TaskState::Queued && t.run_after > rig.clock.now() {
            parked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(parked, "the run never parked on its timer");
    // Polling every 5 ms, a worker that did not wait would have left by now.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!run.is_finished(), "the worker left with a timer pending");
    rig.clock.advance(chrono::Duration::seconds(60));
    let report =
        tokio::time::timeout(Duration::from_secs(60), run).await.unwrap().unwrap().unwrap();
    assert_eq!(report.claimed, 2, "claimed before and after the sleep");
    assert_eq!(rig.task(id).await.state, TaskState::Succeeded);

    // A run sleeping in a queue the worker does not take keeps nobody waiting.
    let other = TaskId::new(&IdSource { clock: rig.clock.as_ref(), rng: &rig.rng });
    let mut t = NewTask::new(other, "elsewhere", "nap", json!(null));
    t.run_after = Some(rig.clock.now() + chrono::Duration::seconds(60));
    rig.store.tasks().enqueue(&[t], rig.clock.now()).await.unwrap();
    let mut opts = rig.opts("w2");
    opts.wait_for_timers = true;
    opts.queues = vec!["default".into()];
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let worker = Worker::new(rig.store.clone(), rig.clock(), Arc::new(reg), opts);
    let report =
        tokio::time::timeout(Duration::from_secs(60), worker.run(rx)).await.unwrap().unwrap();
    assert_eq!(report.claimed, 0);
}
