//! The crash harness's mix under network faults (connections cut, a worker's network stalled
//! past its lease, delays, refusals) through `l9_test_support::FaultProxy`, and a worker cut off
//! in the middle of an irreversible step.

use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use l9_store::{NewTask, TaskState};
use l9_tasks::{Ctx, Registry, Worker, WorkerOptions};
use l9_types::{Clock, Effect, IdSource, SeededRng, SystemClock, TaskId};
use serde_json::json;

use super::crash::{Harness, open, rt_drop, rt_drop_async, start_mix};

/// Network faults on PostgreSQL: two worker processes, each reaching the database through a
/// TCP proxy of its own (a network of its own), while the harness cuts their connections,
/// stalls a worker's network for longer than its lease (the other takes its work over; the
/// stalled one comes back to a lost lease), delays traffic and refuses connections, at seeded
/// moments (`L9_NETFAULT_EVENTS`, default 24; `L9_NETFAULT_SEED`). Then the network heals and
/// the same invariants as the crash harness must hold: every result right, every effect
/// exactly once.
#[test]
fn network_faults_on_postgres() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let schema = l9_test_support::unique_schema("netfault");
    let dir = l9_test_support::temp_dir();
    // Slow enough steps that the work outlasts the faults.
    let mut h = Harness::new(&url, Some(schema.clone()), dir.path(), 40);
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let seed = env("L9_NETFAULT_SEED", 21);
    let events = env("L9_NETFAULT_EVENTS", 24);
    let rng = SeededRng::from_seed(seed);
    // The work grows with the faults asked for, so they keep landing on work.
    let scale = (events as usize / 12).max(2);
    let mix = start_mix(&h, &rng, scale);
    let proxies: Vec<l9_test_support::FaultProxy> =
        (0..2).map(|_| l9_test_support::FaultProxy::for_url(&url).unwrap()).collect();
    let workers: Vec<Child> = proxies
        .iter()
        .enumerate()
        .map(|(i, p)| h.spawn_on(&format!("net-{i}"), &p.url(&url)))
        .collect();
    let pause =
        |lo: u64, hi: u64| std::thread::sleep(Duration::from_millis(lo + rng.below(hi - lo)));
    let mut kinds = [0u32; 4];
    let mut stalled_holding = 0;
    for e in 0..events {
        if h.done() {
            break;
        }
        let mut which = rng.below(2) as usize;
        // The first fault always cuts a worker off past its lease.
        let kind = if e == 0 { 1 } else { rng.below(4) as usize };
        kinds[kind] += 1;
        if kind == 1 {
            // A worker that holds work, if one does (waiting a little for one to).
            let holders = h.holders(Duration::from_secs(1));
            if let Some(i) = (0..2).find(|i| holders.contains(&format!("net-{i}"))) {
                which = i;
                stalled_holding += 1;
            }
        }
        let p = &proxies[which];
        match kind {
            0 => p.cut(),
            1 => {
                // Cut off for longer than the lease (1 s): the other worker takes its work
                // over, and it comes back to a lost lease.
                p.stall(true);
                pause(1500, 3000);
                p.stall(false);
            }
            2 => {
                p.delay(Duration::from_millis(20 + rng.below(60)));
                pause(300, 800);
                p.delay(Duration::ZERO);
            }
            _ => {
                p.refuse(true);
                p.cut();
                pause(300, 800);
                p.refuse(false);
            }
        }
        if e == 4 {
            h.approve_all(&mix.approvals);
        }
        h.operate();
        pause(50, 300);
    }
    let reclaimed = h.finish_mix(&mix, scale, workers);
    let cut: u64 = proxies.iter().map(|p| p.counts().1).sum();
    let accepted: u64 = proxies.iter().map(|p| p.counts().0).sum();
    eprintln!(
        "network faults (seed {seed}): {} events (cuts {}, stalls {} ({stalled_holding} of a worker holding work), delays {}, refusals {}), {cut} connections cut of {accepted}, {reclaimed} reclaimed leases, {} operator reruns",
        kinds.iter().sum::<u32>(),
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        h.resolutions_total()
    );
    if stalled_holding > 0 {
        assert!(reclaimed > 0, "a worker was cut off past its lease, yet nothing was reclaimed");
    }
    rt_drop(&url, schema);
}

/// Self-fencing: a worker cut off from the database in the middle of an irreversible step
/// stops that step before its lease can have gone to another worker, so the effect it was
/// about to make is never made late. (Before: the step slept past the lease, then made its
/// effect while another worker could already hold the task.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_past_its_lease_makes_no_late_effect() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let schema = l9_test_support::unique_schema("selffence");
    let direct = open(&url, Some(schema.clone())).await;
    let proxy = l9_test_support::FaultProxy::for_url(&url).unwrap();
    let proxied = open(&proxy.url(&url), Some(schema.clone())).await;
    let lease = Duration::from_millis(1000);
    let effects = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (began_tx, mut began_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut reg = Registry::new();
    let (fx, began) = (effects.clone(), began_tx.clone());
    reg.register("guarded", move |ctx: Ctx, _| {
        let (fx, began) = (fx.clone(), began.clone());
        async move {
            ctx.step("effect", Effect::Irreversible, || async move {
                let _ = began.send(());
                // Local work that outlasts the lease, then the effect.
                tokio::time::sleep(lease * 2).await;
                fx.lock().unwrap().push("made".into());
                Ok::<_, String>(())
            })
            .await?;
            Ok(json!("done"))
        }
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rng = SeededRng::from_seed(5);
    let id = TaskId::new(&IdSource { clock: &SystemClock, rng: &rng });
    direct
        .tasks()
        .enqueue(&[NewTask::new(id, "default", "guarded", json!(null))], clock.now())
        .await
        .unwrap();
    let opts = WorkerOptions {
        id: "cut-off".into(),
        concurrency: 1,
        lease,
        poll: Duration::from_millis(20),
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let w = Worker::new(proxied, clock.clone(), Arc::new(reg), opts);
    let worker = tokio::spawn(async move { w.run(stop_rx).await });
    tokio::time::timeout(Duration::from_secs(30), began_rx.recv()).await.unwrap();
    // The started marker is journaled; now its network goes.
    proxy.stall(true);
    tokio::time::sleep(lease * 3).await;
    assert!(
        effects.lock().unwrap().is_empty(),
        "a worker cut off past its lease made its effect anyway"
    );
    let t = direct.tasks().get_task(id).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Leased, "{t:?}");
    assert!(t.lease_until.unwrap() < clock.now(), "its lease has run out: {t:?}");
    proxy.stall(false);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    assert!(effects.lock().unwrap().is_empty(), "the effect was made after the network came back");
    drop(direct);
    rt_drop_async(&url, schema).await;
}
