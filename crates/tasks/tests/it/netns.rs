//! Workers in network namespaces of their own (`ip netns`, `l9_test_support::NetNs`) on
//! PostgreSQL: each worker process lives in its own namespace and reaches the database only
//! over a veth link to this one. The harness takes a worker's link down — the kernel drops
//! its packets, its connections hang, nothing tells it — for longer than its lease, while it
//! holds work; the other worker takes the work over; then the link comes back. Fencing must
//! keep every effect to once and every workflow's result right (the crash harness's checks).
//!
//! And the sharpest case: a worker whose link is cut in the middle of an irreversible step whose
//! local work outlasts its lease must not make the effect, not while cut off and not after.
//!
//! Needs root and iproute2. Without them the test says so and passes, unless
//! `L9_REQUIRE_NETNS=1` (set by `scripts/test` where it can make a namespace): then it fails.

use std::process::Child;
use std::time::{Duration, Instant};

use l9_store::TaskState;
use l9_test_support::{FaultProxy, NetNs};
use l9_types::SeededRng;

use crate::crash::{Harness, SLOW_STEP, kill, lines, rt_drop, start_mix};

/// Two namespaces, or `None` (the test is skipped, saying why) where none can be made.
fn two_namespaces() -> Option<[NetNs; 2]> {
    match (NetNs::create(), NetNs::create()) {
        (Ok(a), Ok(b)) => Some([a, b]),
        (Err(why), _) | (_, Err(why)) => {
            assert!(
                std::env::var("L9_REQUIRE_NETNS").as_deref() != Ok("1"),
                "L9_REQUIRE_NETNS=1 but no network namespace could be made: {why}"
            );
            eprintln!("note: skipping a network-namespace test: {why}");
            None
        }
    }
}

/// Worker `ns-I` in namespace I, reaching the cluster through a forwarder on its link's host
/// end (the cluster listens on loopback only; the forwarder injects no faults, the kernel
/// does). The forwarders must live as long as the workers.
fn spawn_workers(h: &Harness, url: &str, namespaces: &[NetNs; 2]) -> (Vec<Child>, Vec<FaultProxy>) {
    let forwarders: Vec<FaultProxy> = namespaces
        .iter()
        .map(|ns| FaultProxy::for_url_on(ns.host_ip().into(), url).unwrap())
        .collect();
    let workers =
        (0..2).map(|i| h.spawn_in(&namespaces[i], &name(i), &forwarders[i].url(url))).collect();
    (workers, forwarders)
}

fn name(i: usize) -> String {
    format!("ns-{i}")
}

#[test]
#[allow(clippy::disallowed_methods)] // wall-clock deadlines of the harness itself
fn a_worker_whose_link_is_cut_mid_effect_makes_no_effect() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let Some(namespaces) = two_namespaces() else { return };
    let schema = l9_test_support::unique_schema("netnsfence");
    let dir = l9_test_support::temp_dir();
    let mut h = Harness::new(&url, Some(schema.clone()), dir.path(), 5);
    let rng = SeededRng::from_seed(41);
    let id = h.start(&rng, "slow", serde_json::Value::Null);
    let (workers, _forwarders) = spawn_workers(&h, &url, &namespaces);
    // Its step has begun (the start is journaled before the step's work runs).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines(&h.dir.join("exec.log")).iter().any(|l| l.ends_with("effect irreversible")) {
        assert!(Instant::now() < deadline, "the slow step never began");
        std::thread::sleep(Duration::from_millis(10));
    }
    let holder =
        h.holders(Duration::ZERO).into_iter().next().expect("a worker holds the slow task");
    let cut = (0..2).find(|i| name(*i) == holder).unwrap();
    namespaces[cut].cut(true).unwrap();
    // Cut off past the lease and past the step's own work: the other worker takes it over
    // (the operator, finding no effect, says run it again).
    let until = Instant::now() + SLOW_STEP + Duration::from_millis(1500);
    while Instant::now() < until {
        h.operate();
        std::thread::sleep(Duration::from_millis(100));
    }
    let while_cut = lines(&h.dir.join("slow.log"));
    namespaces[cut].cut(false).unwrap();
    h.finish(1);
    // Time for a late effect, had the cut-off worker kept its step going.
    std::thread::sleep(Duration::from_millis(500));
    for w in workers {
        kill(w);
    }
    let made = lines(&h.dir.join("slow.log"));
    eprintln!(
        "network namespaces, fencing: {holder} cut off mid-step; effects made {made:?}, {} operator reruns",
        h.resolutions_total()
    );
    assert!(
        !while_cut.iter().any(|l| l.ends_with(&format!(" {holder}"))),
        "the worker cut off past its lease made its effect: {while_cut:?}"
    );
    assert_eq!(made.len(), 1, "the effect must be made exactly once: {made:?}");
    let t = h.all_tasks().into_iter().find(|t| t.id == id).unwrap();
    assert_eq!(t.state, TaskState::Succeeded, "{t:?}");
    rt_drop(&url, schema);
}

#[test]
fn workers_in_network_namespaces_one_cut_off_past_its_lease() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let Some(namespaces) = two_namespaces() else { return };
    let schema = l9_test_support::unique_schema("netns");
    let dir = l9_test_support::temp_dir();
    let mut h = Harness::new(&url, Some(schema.clone()), dir.path(), 80);
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let seed = env("L9_NETNS_SEED", 31);
    let cuts = env("L9_NETNS_CUTS", 4);
    let rng = SeededRng::from_seed(seed);
    // Enough work that every cut lands while work is left.
    let scale = (cuts as usize).max(2);
    let mix = start_mix(&h, &rng, scale);
    let (workers, _forwarders) = spawn_workers(&h, &url, &namespaces);
    let pause =
        |lo: u64, hi: u64| std::thread::sleep(Duration::from_millis(lo + rng.below(hi - lo)));
    let mut holding = 0;
    let mut made = 0;
    while made < cuts && !h.done() {
        // A worker that holds work, if one does (waiting a little for one to).
        let now = h.holders(Duration::from_secs(2));
        let which = match (0..2).find(|i| now.contains(&name(*i))) {
            Some(i) => {
                holding += 1;
                i
            }
            None => rng.below(2) as usize,
        };
        // Longer than the lease (1 s): the other worker takes the work over, and this one
        // comes back to a lost lease.
        namespaces[which].cut(true).unwrap();
        pause(1500, 3000);
        namespaces[which].cut(false).unwrap();
        made += 1;
        if made == 2 {
            h.approve_all(&mix.approvals);
        }
        h.operate();
        pause(100, 400);
    }
    let reclaimed = h.finish_mix(&mix, scale, workers);
    eprintln!(
        "network namespaces (seed {seed}): {made} links cut past the lease ({holding} of a worker holding work), {reclaimed} reclaimed leases, {} operator reruns",
        h.resolutions_total()
    );
    assert!(holding > 0, "no cut landed on a worker holding work");
    assert!(reclaimed > 0, "a worker was cut off past its lease, yet nothing was reclaimed");
    rt_drop(&url, schema);
}
