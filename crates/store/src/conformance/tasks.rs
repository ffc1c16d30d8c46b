//! Conformance: the Task Runtime's queue, leases, signals, cron ticks, checkpoints and the
//! workflow journal.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use l9_types::{PacketDraft, RunId, TaskId};
use serde_json::json;

use super::fixtures::Fx;
use crate::{
    Claim, Enqueued, Fence, Finish, JournalAppend, JournalStatus, NewTask, Outcome, Store,
    StoreError, TaskFilter, TaskState, TaskStore, journal_value_blob,
};

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap()
}

pub(super) fn secs(s: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(s)
}

pub(super) fn task(fx: &Fx, kind: &str) -> NewTask {
    NewTask::new(TaskId(fx.uuid()), "q", kind, json!({"kind": kind}))
}

pub(super) fn claim(worker: &str, limit: usize, at: DateTime<Utc>) -> Claim {
    Claim {
        queues: vec![],
        worker: worker.into(),
        limit,
        lease: StdDuration::from_secs(30),
        now: at,
    }
}

fn fin(id: TaskId, outcome: Outcome) -> Finish {
    Finish { id, outcome }
}

/// Enqueues `t` at t0 and leases it to worker "w" at once.
pub(super) async fn leased(q: &dyn TaskStore, t: &NewTask) {
    q.enqueue(std::slice::from_ref(t), t0()).await.unwrap();
    assert_eq!(q.claim(&claim("w", 1, secs(0))).await.unwrap().len(), 1);
}

pub async fn queue_claims_by_priority_and_time(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let low = task(&fx, "low");
    let mut high = task(&fx, "high");
    high.priority = 5;
    let mut later = task(&fx, "later");
    later.run_after = Some(secs(60));
    later.priority = 9;
    let mut other = task(&fx, "other");
    other.queue = "elsewhere".into();
    let out =
        q.enqueue(&[low.clone(), high.clone(), later.clone(), other.clone()], t0()).await.unwrap();
    assert!(out.iter().all(|e| matches!(e, Enqueued::Created(_))));

    let mut c = claim("w1", 10, secs(1));
    c.queues = vec!["q".into()];
    let got = q.claim(&c).await.unwrap();
    let kinds: Vec<&str> = got.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["high", "low"], "priority first; not-yet-due and other queues skipped");
    assert!(got.iter().all(|t| t.state == TaskState::Leased && t.attempts == 1));
    assert_eq!(got[0].lease_owner.as_deref(), Some("w1"));
    assert_eq!(got[0].lease_until, Some(secs(31)));

    let ok = q
        .finish(
            "w1",
            &[
                fin(high.id, Outcome::Succeeded(json!({"n": 1}))),
                fin(low.id, Outcome::Succeeded(json!(2))),
            ],
            secs(2),
        )
        .await
        .unwrap();
    assert_eq!(ok, [true, true]);
    let rec = q.get_task(high.id).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.result), (TaskState::Succeeded, Some(json!({"n": 1}))));
    assert_eq!(rec.lease_owner, None);
    assert_eq!(q.claim(&c).await.unwrap(), vec![], "nothing due before 60 s");
    c.now = secs(61);
    assert_eq!(q.claim(&c).await.unwrap()[0].id, later.id);
    let counts = q.task_counts(None).await.unwrap();
    assert_eq!(counts.get(&TaskState::Succeeded), Some(&2));
    assert_eq!(counts.get(&TaskState::Leased), Some(&1));
    assert_eq!(counts.get(&TaskState::Queued), Some(&1));
    assert_eq!(q.task_counts(Some("elsewhere")).await.unwrap().get(&TaskState::Queued), Some(&1));
}

pub async fn queue_idempotency_keys_and_atomic_batches(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let mut a = task(&fx, "a");
    a.idempotency_key = Some("order-17".into());
    let mut b = task(&fx, "b");
    b.idempotency_key = Some("order-17".into());
    assert_eq!(q.enqueue(std::slice::from_ref(&a), t0()).await.unwrap(), [Enqueued::Created(a.id)]);
    assert_eq!(
        q.enqueue(std::slice::from_ref(&b), t0()).await.unwrap(),
        [Enqueued::Existing(a.id)]
    );
    assert!(q.get_task(b.id).await.unwrap().is_none());

    // A batch with a repeated id fails as a whole.
    let c = task(&fx, "c");
    let d = task(&fx, "d");
    q.enqueue(std::slice::from_ref(&d), t0()).await.unwrap();
    let err = q.enqueue(&[c.clone(), d.clone()], t0()).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref m) if m.contains("already exists")), "{err}");
    assert!(q.get_task(c.id).await.unwrap().is_none(), "batch must be atomic");
    let err = q
        .enqueue(&[NewTask::new(TaskId(fx.uuid()), "", "k", json!(null))], t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)));
}

pub async fn queue_failures_retry_then_dead_letter(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let mut a = task(&fx, "flaky");
    a.max_attempts = 2;
    leased(q, &a).await;
    let fail = |at| Outcome::Failed { error: "boom".into(), retry_at: Some(at) };
    assert_eq!(q.finish("w", &[fin(a.id, fail(secs(10)))], secs(1)).await.unwrap(), [true]);
    let rec = q.get_task(a.id).await.unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.failures, rec.error.as_deref()),
        (TaskState::Queued, 1, Some("boom"))
    );
    assert!(q.claim(&claim("w", 1, secs(5))).await.unwrap().is_empty(), "backoff respected");
    assert_eq!(q.claim(&claim("w", 1, secs(10))).await.unwrap()[0].attempts, 2);
    q.finish("w", &[fin(a.id, fail(secs(20)))], secs(11)).await.unwrap();
    let rec = q.get_task(a.id).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.failures), (TaskState::Dead, 2), "attempts used up: dead letter");
    assert!(q.claim(&claim("w", 1, secs(30))).await.unwrap().is_empty());

    assert!(q.retry(a.id, secs(40)).await.unwrap());
    let rec = q.get_task(a.id).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.failures), (TaskState::Queued, 0));
    assert!(!q.retry(a.id, secs(40)).await.unwrap(), "only dead or cancelled tasks are retried");
    // A failure without a retry time is final.
    q.claim(&claim("w", 1, secs(41))).await.unwrap();
    q.finish(
        "w",
        &[fin(a.id, Outcome::Failed { error: "fatal".into(), retry_at: None })],
        secs(42),
    )
    .await
    .unwrap();
    assert_eq!(q.get_task(a.id).await.unwrap().unwrap().state, TaskState::Dead);
}

pub async fn queue_expired_leases_are_reclaimed_and_fenced(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let mut a = task(&fx, "long");
    a.max_attempts = 2;
    q.enqueue(std::slice::from_ref(&a), t0()).await.unwrap();
    assert_eq!(q.claim(&claim("w1", 1, secs(0))).await.unwrap().len(), 1);
    let f1 = Fence { task: a.id, worker: "w1".into() };
    q.heartbeat(&f1, secs(50)).await.unwrap();
    assert!(
        q.claim(&claim("w2", 1, secs(40))).await.unwrap().is_empty(),
        "heartbeat extended the lease"
    );
    let got = q.claim(&claim("w2", 1, secs(51))).await.unwrap();
    assert_eq!(got.len(), 1, "expired lease reclaimed");
    assert_eq!(
        (got[0].failures, got[0].attempts, got[0].lease_owner.as_deref()),
        (1, 2, Some("w2"))
    );
    assert!(got[0].error.as_deref().unwrap().contains("lease expired"));
    // The first worker is fenced out everywhere.
    assert!(matches!(q.heartbeat(&f1, secs(90)).await, Err(StoreError::LeaseLost(_))));
    assert_eq!(
        q.finish("w1", &[fin(a.id, Outcome::Succeeded(json!(1)))], secs(52)).await.unwrap(),
        [false]
    );
    assert!(matches!(q.put_checkpoint(&f1, b"x", secs(52)).await, Err(StoreError::LeaseLost(_))));
    assert_eq!(q.get_task(a.id).await.unwrap().unwrap().state, TaskState::Leased);
    // The second expiry uses up the attempts.
    assert!(q.claim(&claim("w3", 1, secs(200))).await.unwrap().is_empty());
    assert_eq!(q.get_task(a.id).await.unwrap().unwrap().state, TaskState::Dead);
    // Unlimited attempts never dead-letter on expiry.
    let mut b = task(&fx, "forever");
    b.max_attempts = 0;
    q.enqueue(std::slice::from_ref(&b), secs(300)).await.unwrap();
    for i in 0..5 {
        let got = q.claim(&claim("w", 1, secs(300 + i * 100))).await.unwrap();
        assert_eq!(got.len(), 1);
    }
}

pub async fn queue_wait_wake_signals_without_lost_wakeups(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let a = task(&fx, "workflow");
    leased(q, &a).await;
    // A signal arrives while it runs; its later Wait must not sleep through it.
    assert_eq!(q.send_signal(a.id, "approve", &json!({"ok": true}), secs(1)).await.unwrap(), 0);
    q.finish("w", &[fin(a.id, Outcome::Wait { note: None })], secs(2)).await.unwrap();
    assert_eq!(q.get_task(a.id).await.unwrap().unwrap().state, TaskState::Queued);
    q.claim(&claim("w", 1, secs(3))).await.unwrap();
    q.finish("w", &[fin(a.id, Outcome::Wait { note: Some("needs approval".into()) })], secs(4))
        .await
        .unwrap();
    let rec = q.get_task(a.id).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.error.as_deref()), (TaskState::Waiting, Some("needs approval")));
    assert!(
        q.claim(&claim("w", 1, secs(5))).await.unwrap().is_empty(),
        "waiting tasks are not claimed"
    );
    assert_eq!(q.send_signal(a.id, "approve", &json!({"ok": false}), secs(6)).await.unwrap(), 1);
    assert_eq!(q.get_task(a.id).await.unwrap().unwrap().state, TaskState::Queued);
    let sigs = q.signals(a.id).await.unwrap();
    assert_eq!(
        sigs.iter().map(|s| (s.name.as_str(), s.seq)).collect::<Vec<_>>(),
        [("approve", 0), ("approve", 1)]
    );
    assert_eq!(sigs[1].payload, json!({"ok": false}));
    assert!(matches!(
        q.send_signal(TaskId(fx.uuid()), "x", &json!(null), secs(7)).await,
        Err(StoreError::NotFound(_))
    ));
    // Snooze gives the task back without a failure.
    q.claim(&claim("w", 1, secs(8))).await.unwrap();
    q.finish("w", &[fin(a.id, Outcome::Snooze { run_after: secs(100) })], secs(9)).await.unwrap();
    let rec = q.get_task(a.id).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.failures, rec.run_after), (TaskState::Queued, 0, secs(100)));
    // Waking a task parked for later makes it due now.
    assert!(q.wake(a.id, secs(10)).await.unwrap());
    assert_eq!(q.get_task(a.id).await.unwrap().unwrap().run_after, secs(10));
    assert!(!q.wake(a.id, secs(11)).await.unwrap(), "already due: nothing to do");
}

pub async fn queue_children_wake_parents_and_cancel_cascades(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let parent = task(&fx, "parent");
    leased(q, &parent).await;
    let mut kids = Vec::new();
    for i in 0..3 {
        let mut k = task(&fx, &format!("kid{i}"));
        k.parent = Some(parent.id);
        kids.push(k);
    }
    q.enqueue(&kids, secs(1)).await.unwrap();
    q.finish("w", &[fin(parent.id, Outcome::Wait { note: None })], secs(1)).await.unwrap();
    assert_eq!(q.get_task(parent.id).await.unwrap().unwrap().state, TaskState::Waiting);
    let got = q.claim(&claim("k", 1, secs(2))).await.unwrap();
    assert_eq!(got[0].id, kids[0].id);
    q.finish("k", &[fin(kids[0].id, Outcome::Succeeded(json!("done")))], secs(3)).await.unwrap();
    assert_eq!(
        q.get_task(parent.id).await.unwrap().unwrap().state,
        TaskState::Queued,
        "child end wakes parent"
    );
    let page = q
        .list_tasks(&TaskFilter { parent: Some(parent.id), ..Default::default() }, None, 10)
        .await
        .unwrap();
    assert_eq!(page.tasks.len(), 3);

    // Cancelling a child alone wakes the parent; cancelling the parent takes the rest.
    q.claim(&claim("w", 1, secs(4))).await.unwrap();
    q.finish("w", &[fin(parent.id, Outcome::Wait { note: None })], secs(4)).await.unwrap();
    assert_eq!(q.cancel(kids[1].id, secs(5)).await.unwrap(), 1);
    assert_eq!(q.get_task(parent.id).await.unwrap().unwrap().state, TaskState::Queued);
    assert_eq!(q.cancel(parent.id, secs(6)).await.unwrap(), 2, "parent and the one open child");
    for (id, want) in [
        (parent.id, TaskState::Cancelled),
        (kids[0].id, TaskState::Succeeded),
        (kids[2].id, TaskState::Cancelled),
    ] {
        assert_eq!(q.get_task(id).await.unwrap().unwrap().state, want);
    }
    assert_eq!(q.cancel(parent.id, secs(7)).await.unwrap(), 0, "ended tasks stay as they are");
    assert!(q.retry(kids[2].id, secs(8)).await.unwrap(), "cancelled tasks may be retried");
}

/// One finish call with every kind of item answers each on its own: lone successes, a child's
/// success that wakes its parent, a failure, and an item not leased to the worker.
pub async fn queue_finishes_a_mixed_batch_item_by_item(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let parent = task(&fx, "parent");
    leased(q, &parent).await;
    let mut child = task(&fx, "child");
    child.parent = Some(parent.id);
    let (a, b, d) = (task(&fx, "a"), task(&fx, "b"), task(&fx, "d"));
    q.enqueue(&[a.clone(), child.clone(), b.clone(), d.clone()], secs(1)).await.unwrap();
    q.finish("w", &[fin(parent.id, Outcome::Wait { note: None })], secs(1)).await.unwrap();
    assert_eq!(q.claim(&claim("k", 10, secs(2))).await.unwrap().len(), 4);
    let done = |v: &str| Outcome::Succeeded(json!(v));
    let answers = q
        .finish(
            "k",
            &[
                fin(a.id, done("a")),
                fin(child.id, done("child")),
                fin(b.id, Outcome::Failed { error: "boom".into(), retry_at: None }),
                fin(parent.id, done("not k's")),
                fin(d.id, done("d")),
            ],
            secs(3),
        )
        .await
        .unwrap();
    assert_eq!(answers, [true, true, true, false, true]);
    let state = |id| async move { q.get_task(id).await.unwrap().unwrap() };
    for id in [a.id, child.id, d.id] {
        assert_eq!(state(id).await.state, TaskState::Succeeded);
    }
    assert_eq!(state(d.id).await.result, Some(json!("d")));
    assert_ne!(state(b.id).await.state, TaskState::Leased, "the failure is recorded");
    assert_eq!(state(parent.id).await.state, TaskState::Queued, "the child's end woke it");
}

/// Tasks in every state: counts per state (no state with none), and listing by each state
/// finds exactly its tasks, newest first, page by page.
pub async fn queue_counts_and_lists_every_state(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let mut tasks: Vec<NewTask> = (0..12).map(|i| task(&fx, &format!("s{i}"))).collect();
    tasks[6].max_attempts = 1;
    tasks[7].max_attempts = 1;
    q.enqueue(&tasks, t0()).await.unwrap();
    let id = |i: usize| tasks[i].id;
    assert_eq!(q.claim(&claim("w", 100, secs(1))).await.unwrap().len(), 12);
    // 0, 1 back in the queue; 2, 3 stay leased; 4, 5 succeed; 6, 7 fail their only attempt;
    // 8, 9 wait; 10, 11 are cancelled while leased.
    let snooze = || Outcome::Snooze { run_after: secs(1) };
    let failed = || Outcome::Failed { error: "x".into(), retry_at: None };
    let items = [
        fin(id(0), snooze()),
        fin(id(1), snooze()),
        fin(id(4), Outcome::Succeeded(json!(4))),
        fin(id(5), Outcome::Succeeded(json!(5))),
        fin(id(6), failed()),
        fin(id(7), failed()),
        fin(id(8), Outcome::Wait { note: None }),
        fin(id(9), Outcome::Wait { note: None }),
    ];
    assert_eq!(q.finish("w", &items, secs(2)).await.unwrap(), [true; 8]);
    assert_eq!(q.cancel(id(10), secs(3)).await.unwrap(), 1);
    assert_eq!(q.cancel(id(11), secs(3)).await.unwrap(), 1);
    let want = [
        (TaskState::Queued, [0, 1]),
        (TaskState::Leased, [2, 3]),
        (TaskState::Succeeded, [4, 5]),
        (TaskState::Dead, [6, 7]),
        (TaskState::Waiting, [8, 9]),
        (TaskState::Cancelled, [10, 11]),
    ];
    let counts = q.task_counts(None).await.unwrap();
    let expected: std::collections::BTreeMap<TaskState, u64> =
        want.iter().map(|(s, _)| (*s, 2)).collect();
    assert_eq!(counts, expected, "one count per state");
    assert_eq!(q.task_counts(Some("elsewhere")).await.unwrap(), Default::default());
    for (state, ids) in &want {
        let f = TaskFilter { state: Some(*state), ..Default::default() };
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = q.list_tasks(&f, after, 1).await.unwrap();
            got.extend(page.tasks.iter().map(|t| (t.state, t.id)));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let mut newest_first = [(*state, id(ids[0])), (*state, id(ids[1]))];
        newest_first.sort_by_key(|t| std::cmp::Reverse(t.1));
        assert_eq!(got, newest_first, "{state:?}: its tasks, newest first, one page each");
    }
}

/// For a backend's migration tests: six tasks, four leased, one of those succeeded (so two
/// queued, three leased, one succeeded), which [`assert_tasks_in_three_states`] checks.
pub async fn tasks_in_three_states(store: &dyn Store) {
    let q = store.tasks();
    let tasks: Vec<NewTask> = (0..6u128)
        .map(|i| NewTask::new(TaskId(uuid::Uuid::from_u128(i + 1)), "q", "k", json!(i)))
        .collect();
    q.enqueue(&tasks, t0()).await.unwrap();
    let got = q.claim(&claim("w", 4, t0())).await.unwrap();
    let done = [fin(got[0].id, Outcome::Succeeded(json!(1)))];
    assert_eq!(q.finish("w", &done, t0()).await.unwrap(), [true]);
}

/// Counts and a listing by state agree with [`tasks_in_three_states`].
pub async fn assert_tasks_in_three_states(store: &dyn Store) {
    let q = store.tasks();
    let want = [(TaskState::Queued, 2), (TaskState::Leased, 3), (TaskState::Succeeded, 1)];
    assert_eq!(q.task_counts(None).await.unwrap(), want.into_iter().collect());
    let f = TaskFilter { state: Some(TaskState::Succeeded), ..Default::default() };
    assert_eq!(q.list_tasks(&f, None, 10).await.unwrap().tasks.len(), 1);
}

pub async fn queue_lists_newest_first_with_cursor(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let tasks: Vec<NewTask> = (0..5).map(|i| task(&fx, &format!("t{i}"))).collect();
    q.enqueue(&tasks, t0()).await.unwrap();
    let p1 = q.list_tasks(&TaskFilter::default(), None, 2).await.unwrap();
    assert_eq!(p1.tasks.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>(), ["t4", "t3"]);
    let p2 = q.list_tasks(&TaskFilter::default(), p1.next, 2).await.unwrap();
    assert_eq!(p2.tasks.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>(), ["t2", "t1"]);
    let p3 = q.list_tasks(&TaskFilter::default(), p2.next, 2).await.unwrap();
    assert_eq!((p3.tasks.len(), p3.next), (1, None));
    let f = TaskFilter {
        state: Some(TaskState::Queued),
        kind: Some("t3".into()),
        queue: Some("q".into()),
        ..Default::default()
    };
    assert_eq!(q.list_tasks(&f, None, 10).await.unwrap().tasks.len(), 1);
    let mut child = task(&fx, "child");
    child.parent = Some(tasks[0].id);
    q.enqueue(&[child], t0()).await.unwrap();
    let roots = TaskFilter { roots_only: true, ..Default::default() };
    assert_eq!(q.list_tasks(&roots, None, 10).await.unwrap().tasks.len(), 5);
    assert_eq!(q.list_tasks(&TaskFilter::default(), None, 10).await.unwrap().tasks.len(), 6);
}

pub async fn queue_claims_are_disjoint_under_concurrency(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let tasks: Vec<NewTask> = (0..60).map(|i| task(&fx, &format!("t{i}"))).collect();
    q.enqueue(&tasks, t0()).await.unwrap();
    let worker = |name: &'static str| async move {
        let mut mine = Vec::new();
        loop {
            let got = q.claim(&claim(name, 4, secs(1))).await.unwrap();
            if got.is_empty() {
                break mine;
            }
            let done: Vec<Finish> =
                got.iter().map(|t| fin(t.id, Outcome::Succeeded(json!(name)))).collect();
            assert!(q.finish(name, &done, secs(2)).await.unwrap().iter().all(|b| *b));
            mine.extend(got.into_iter().map(|t| t.id));
        }
    };
    let (a, b, c, d) = tokio::join!(worker("a"), worker("b"), worker("c"), worker("d"));
    let all: Vec<TaskId> = a.into_iter().chain(b).chain(c).chain(d).collect();
    let set: BTreeSet<TaskId> = all.iter().copied().collect();
    assert_eq!((all.len(), set.len()), (60, 60), "every task claimed exactly once");
}

pub async fn cron_ticks_fire_once(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let tick = secs(3600);
    let mut fired = 0;
    // Three schedulers race for the same tick; one wins.
    for _ in 0..3 {
        let mut t = task(&fx, "nightly");
        t.queue = "cron".into();
        fired += usize::from(q.cron_fire("nightly", tick, &t, secs(3600)).await.unwrap());
    }
    assert_eq!(fired, 1);
    assert!(q.cron_fire("nightly", secs(7200), &task(&fx, "nightly"), secs(7200)).await.unwrap());
    assert!(q.cron_fire("hourly", tick, &task(&fx, "hourly"), secs(3600)).await.unwrap());
    let n: u64 = q.task_counts(None).await.unwrap().values().sum();
    assert_eq!(n, 3);
}

pub async fn checkpoints_replace_and_are_fenced(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let a = task(&fx, "long");
    q.enqueue(std::slice::from_ref(&a), t0()).await.unwrap();
    assert_eq!(q.get_checkpoint(a.id).await.unwrap(), None);
    q.claim(&claim("w", 1, secs(0))).await.unwrap();
    let f = Fence { task: a.id, worker: "w".into() };
    q.put_checkpoint(&f, b"step 1", secs(1)).await.unwrap();
    q.put_checkpoint(&f, &[0, 255, 7], secs(2)).await.unwrap();
    let cp = q.get_checkpoint(a.id).await.unwrap().unwrap();
    assert_eq!((cp.data, cp.at), (vec![0, 255, 7], secs(2)));
    let other = Fence { task: a.id, worker: "intruder".into() };
    assert!(matches!(q.put_checkpoint(&other, b"x", secs(3)).await, Err(StoreError::LeaseLost(_))));
}

pub async fn journal_appends_are_packets_fenced_and_forkable(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let a = task(&fx, "wf");
    leased(q, &a).await;
    let fence = Fence { task: a.id, worker: "w".into() };
    let run = RunId(a.id.0);
    let big = vec![b'x'; 5000];
    let blob_hash = l9_types::ContentHash::of_bytes(&big);
    let mut prev = None;
    let mut packets = Vec::new();
    for (seq, key) in ["step:a#0", "now:clock#0", "step:big#0"].iter().enumerate() {
        let mut body = json!({"key": key, "value": seq});
        let mut d =
            PacketDraft::new("journal.entry").run(run).task(a.id).text(format!("journal {key}"));
        let blob = (seq == 2).then(|| big.clone());
        if blob.is_some() {
            body = json!({"key": key, "blob": blob_hash.to_string()});
            d = d.blob(l9_types::BlobRef {
                hash: blob_hash,
                size: 5000,
                media_type: None,
                name: None,
            });
        }
        if let Some(p) = prev {
            d = d.parent(p);
        }
        let packet = fx.seal(d.body(body));
        prev = Some(packet.id);
        packets.push(packet.id);
        let e = JournalAppend {
            run,
            seq: seq as u64,
            key: key.to_string(),
            status: JournalStatus::Completed,
            packet,
            blob,
        };
        q.append_journal(&fence, &e).await.unwrap();
    }
    let rows = q.load_journal(run).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        ["step:a#0", "now:clock#0", "step:big#0"]
    );
    assert_eq!(rows[0].body["value"], json!(0));
    let h = journal_value_blob(&rows[2].body).unwrap();
    assert_eq!(q.journal_blob(&h).await.unwrap().unwrap(), big);
    // One entry's packet by key (a child finds the entry that spawned it).
    assert_eq!(q.journal_packet(run, "now:clock#0").await.unwrap(), Some(packets[1]));
    assert_eq!(q.journal_packet(run, "step:none#0").await.unwrap(), None);
    assert_eq!(q.journal_packet(RunId(fx.uuid()), "step:a#0").await.unwrap(), None);
    // Journal entries are memory packets, chained by lineage.
    let lineage = store.lineage(packets[2], crate::Direction::Up, 5).await.unwrap();
    assert_eq!(lineage.len(), 2);

    // A duplicate sequence number or a lost lease refuses the write.
    let dup = JournalAppend {
        run,
        seq: 1,
        key: "step:b#0".into(),
        status: JournalStatus::Completed,
        packet: fx.seal(PacketDraft::new("journal.entry").run(run).body(json!({}))),
        blob: None,
    };
    assert!(matches!(q.append_journal(&fence, &dup).await, Err(StoreError::LeaseLost(_))));
    let wrong = Fence { task: a.id, worker: "zombie".into() };
    let mut late = dup.clone();
    late.seq = 3;
    late.packet = fx.seal(PacketDraft::new("journal.entry").run(run).body(json!({"late": 1})));
    assert!(matches!(q.append_journal(&wrong, &late).await, Err(StoreError::LeaseLost(_))));
    assert_eq!(q.load_journal(run).await.unwrap().len(), 3);
    assert!(
        store.get_packet(late.packet.id).await.unwrap().is_none(),
        "refused appends leave nothing"
    );

    let fork = RunId(fx.uuid());
    assert_eq!(q.copy_journal(run, fork, 2).await.unwrap(), 2);
    let rows = q.load_journal(fork).await.unwrap();
    assert_eq!(rows.iter().map(|r| (r.run, r.seq)).collect::<Vec<_>>(), [(fork, 0), (fork, 1)]);
}

/// Appends from several runs at once (which backends may commit as one group) are each
/// answered on their own: a fence not held, or a sequence number already taken, refuses
/// that append only; a chain of entries lands whole.
pub async fn concurrent_journal_appends_are_answered_one_by_one(store: &dyn Store) {
    let q = store.tasks();
    let fx = Fx::default();
    let tasks: Vec<NewTask> = (0..6).map(|i| task(&fx, &format!("j{i}"))).collect();
    q.enqueue(&tasks, t0()).await.unwrap();
    let got = q.claim(&claim("w", 6, secs(0))).await.unwrap();
    assert_eq!(got.len(), 6);
    let id = |i: usize| got[i].id;
    let run = |i: usize| RunId(got[i].id.0);
    let entry = |i: usize, seq: u64, parent: Option<l9_types::PacketId>| {
        let mut d = PacketDraft::new("journal.step")
            .run(run(i))
            .task(id(i))
            .body(json!({"key": format!("step:s#{seq}"), "value": seq}));
        if let Some(p) = parent {
            d = d.parent(p);
        }
        JournalAppend {
            run: run(i),
            seq,
            key: format!("step:s#{seq}"),
            status: JournalStatus::Completed,
            packet: fx.seal(d),
            blob: None,
        }
    };
    let fence = |i: usize, w: &str| Fence { task: id(i), worker: w.into() };
    // Run 5 already holds sequence number 0.
    q.append_journal(&fence(5, "w"), &entry(5, 0, None)).await.unwrap();
    let e: Vec<JournalAppend> = (0..6).map(|i| entry(i, 0, None)).collect();
    let c1 = entry(4, 1, Some(e[4].packet.id));
    let c2 = entry(4, 2, Some(c1.packet.id));
    let chain = [e[4].clone(), c1, c2];
    let (f0, f1, f3, f5) = (fence(0, "w"), fence(1, "w"), fence(3, "w"), fence(5, "w"));
    let (not_mine, f4) = (fence(2, "x"), fence(4, "w"));
    let (a, b, c, d, ch, f) = tokio::join!(
        q.append_journal(&f0, &e[0]),
        q.append_journal(&f1, &e[1]),
        q.append_journal(&not_mine, &e[2]),
        q.append_journal(&f3, &e[3]),
        q.append_journal_many(&f4, &chain),
        q.append_journal(&f5, &e[5]),
    );
    assert!(a.is_ok() && b.is_ok() && d.is_ok() && ch.is_ok(), "{a:?} {b:?} {d:?} {ch:?}");
    assert!(matches!(c, Err(StoreError::LeaseLost(_))), "{c:?}");
    assert!(matches!(f, Err(StoreError::LeaseLost(_))), "{f:?}");
    let len = |i: usize| async move { q.load_journal(run(i)).await.unwrap().len() };
    let lens = [len(0).await, len(1).await, len(2).await, len(3).await, len(4).await, len(5).await];
    assert_eq!(lens, [1, 1, 0, 1, 3, 1]);
    // A clean round from the same runs at once: every append lands.
    let (n0, n1, n3) = (entry(0, 1, None), entry(1, 1, None), entry(3, 1, None));
    let (a, b, d) = tokio::join!(
        q.append_journal(&f0, &n0),
        q.append_journal(&f1, &n1),
        q.append_journal(&f3, &n3),
    );
    assert!(a.is_ok() && b.is_ok() && d.is_ok(), "{a:?} {b:?} {d:?}");
    let rows = q.load_journal(run(3)).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(rows[1].packet, n3.packet.id);
}

/// `runs` workflows at once, each appending `steps` entries one after another (each the
/// parent of the next, so an entry written before its predecessor would be refused): every
/// append lands, and each run's journal holds its entries in order. What group commit
/// must keep however many statements it has in flight.
pub async fn concurrent_runs_keep_their_journal_order(store: &dyn Store) {
    concurrent_runs_keep_their_journal_order_with(store, 6, 10, StdDuration::from_micros(200))
        .await;
}

/// [`concurrent_runs_keep_their_journal_order`] with `runs` workflows of `steps` steps, the
/// `i`-th pausing `i × pause` after each step (so their appends arrive staggered, as real
/// workflows' do, instead of in lockstep).
pub async fn concurrent_runs_keep_their_journal_order_with(
    store: &dyn Store,
    runs: usize,
    steps: u64,
    pause: StdDuration,
) {
    let q = store.tasks();
    let fx = Fx::default();
    let tasks: Vec<NewTask> = (0..runs).map(|i| task(&fx, &format!("o{i}"))).collect();
    q.enqueue(&tasks, t0()).await.unwrap();
    let got = q.claim(&claim("w", runs, secs(0))).await.unwrap();
    assert_eq!(got.len(), runs);
    let entry = |id: TaskId, seq: u64, parent: Option<l9_types::PacketId>| {
        let mut d = PacketDraft::new("journal.step")
            .run(RunId(id.0))
            .task(id)
            .body(json!({"key": format!("step:s#{seq}"), "value": seq}));
        if let Some(p) = parent {
            d = d.parent(p);
        }
        JournalAppend {
            run: RunId(id.0),
            seq,
            key: format!("step:s#{seq}"),
            status: JournalStatus::Completed,
            packet: fx.seal(d),
            blob: None,
        }
    };
    let workflows = got.iter().enumerate().map(|(i, t)| {
        let (id, entry) = (t.id, &entry);
        async move {
            let fence = Fence { task: id, worker: "w".into() };
            let mut parent = None;
            let mut ids = Vec::new();
            for seq in 0..steps {
                let e = entry(id, seq, parent);
                parent = Some(e.packet.id);
                ids.push(e.packet.id);
                q.append_journal(&fence, &e).await.unwrap();
                tokio::time::sleep(pause * i as u32).await;
            }
            (id, ids)
        }
    });
    for (id, ids) in futures_util::future::join_all(workflows).await {
        let rows = q.load_journal(RunId(id.0)).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (0..steps).collect::<Vec<_>>());
        assert_eq!(rows.iter().map(|r| r.packet).collect::<Vec<_>>(), ids);
    }
}

/// `any_tasks` says whether `list_tasks` would find one, for each filter.
pub async fn any_tasks_agrees_with_listing(store: &dyn Store) {
    let q = store.tasks();
    let id = |n: u128| TaskId(uuid::Uuid::from_u128(n));
    let parent = id(900);
    let mut child = NewTask::new(id(901), "q1", "k", json!({}));
    child.parent = Some(parent);
    let tasks = [
        NewTask::new(parent, "q1", "k", json!({})),
        child,
        NewTask::new(id(902), "q2", "k", json!({})),
        NewTask::new(id(903), "q2", "k", json!({})),
    ];
    q.enqueue(&tasks, t0()).await.unwrap();
    // Both of q2 leased, one of them finished.
    let mut c = claim("w", 2, secs(0));
    c.queues = vec!["q2".into()];
    let got = q.claim(&c).await.unwrap();
    assert_eq!(got.len(), 2);
    let done = [fin(got[0].id, Outcome::Succeeded(json!(1)))];
    assert_eq!(q.finish("w", &done, secs(1)).await.unwrap(), [true]);
    let state = |s| TaskFilter { state: Some(s), ..Default::default() };
    let filters = [
        TaskFilter::default(),
        TaskFilter { queue: Some("q1".into()), ..Default::default() },
        TaskFilter { queue: Some("q3".into()), ..Default::default() },
        state(TaskState::Queued),
        state(TaskState::Leased),
        state(TaskState::Succeeded),
        state(TaskState::Dead),
        TaskFilter { queue: Some("q2".into()), ..state(TaskState::Queued) },
        TaskFilter { queue: Some("q1".into()), ..state(TaskState::Queued) },
        TaskFilter { kind: Some("k".into()), ..Default::default() },
        TaskFilter { kind: Some("other".into()), ..Default::default() },
        TaskFilter { parent: Some(parent), ..Default::default() },
        TaskFilter { parent: Some(id(902)), ..Default::default() },
        TaskFilter { roots_only: true, ..state(TaskState::Queued) },
    ];
    let mut yes = 0;
    for f in &filters {
        let listed = !q.list_tasks(f, None, 1).await.unwrap().tasks.is_empty();
        assert_eq!(q.any_tasks(f).await.unwrap(), listed, "{f:?}");
        yes += usize::from(listed);
    }
    assert_eq!(yes, 9, "both answers occur");
}
