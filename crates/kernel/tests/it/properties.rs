//! Random plans, random environments, invariants checked after every event:
//! * no task starts before all its dependencies succeeded;
//! * per-queue and per-key concurrency limits are never exceeded;
//! * every task ends exactly once, in a terminal state, and the run finishes exactly once
//!   (the environment keeps approving, resuming and raising budgets, so nothing may stick);
//! * the same event sequence fed to a fresh state yields the same actions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use l9_kernel::*;
use l9_types::SeededRng;

fn random_plan(r: &SeededRng) -> (Arc<Plan>, Budget) {
    let n = 1 + r.below(30) as usize;
    let queues = ["a", "b", "c"];
    let keys = [None, Some("k1"), Some("k2")];
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut t = TaskSpec::new(format!("t{i}"));
        for d in 0..i {
            if r.below(100) < 15 && t.deps.len() < 3 {
                t.deps.push(d);
            }
        }
        t.queue = queues[r.below(3) as usize].into();
        t.key = keys[r.below(3) as usize].map(str::to_string);
        t.retry = RetryPolicy { max_attempts: 1 + r.below(4) as u32, base_ms: 10, max_ms: 100 };
        if r.below(4) == 0 {
            t.timeout_ms = Some(200 + r.below(300));
        }
        t.needs_approval = r.below(10) == 0;
        t.estimate = Spend { tokens: r.below(100), micro_usd: r.below(1000) };
        t.priority = r.below(3) as i32;
        tasks.push(t);
    }
    let mut limits = Limits::default();
    for q in queues {
        if r.below(2) == 0 {
            limits.queues.insert(q.into(), 1 + r.below(3) as u32);
        }
    }
    if r.below(2) == 0 {
        limits.keys.insert("k1".into(), 1);
    }
    let budget = Budget {
        tokens: (r.below(2) == 0).then(|| 300 + r.below(3000)),
        micro_usd: (r.below(3) == 0).then(|| 2000 + r.below(20000)),
        wall_ms: (r.below(3) == 0).then(|| 500 + r.below(5000)),
    };
    (Arc::new(Plan::new(tasks, &limits).unwrap()), budget)
}

struct Env {
    plan: Arc<Plan>,
    running: BTreeMap<TaskIx, u32>,
    timers: BTreeSet<(u64, Timer)>,
    awaiting: BTreeSet<TaskIx>,
    ended: Vec<Option<TaskStatus>>,
    finished: Option<RunOutcome>,
    paused: Option<PauseReason>,
    budget: Budget,
    log: Vec<(Event, Vec<Action>)>,
}

impl Env {
    fn check(&mut self, event: &Event, actions: &[Action]) {
        for a in actions {
            match a {
                Action::StartTask { task, attempt } => {
                    assert!(self.finished.is_none());
                    assert!(self.ended[*task].is_none(), "started an ended task {task}");
                    assert!(!self.running.contains_key(task), "task {task} started twice");
                    for d in &self.plan.tasks()[*task].deps {
                        assert_eq!(
                            self.ended[*d],
                            Some(TaskStatus::Succeeded),
                            "task {task} started before dep {d}"
                        );
                    }
                    self.running.insert(*task, *attempt);
                    self.check_limits();
                }
                Action::AbortTask { task, attempt, .. } => {
                    assert_eq!(
                        self.running.remove(task),
                        Some(*attempt),
                        "aborted a task not running"
                    );
                }
                Action::SetTimer { timer, at_ms } => {
                    assert!(*at_ms >= event.at_ms);
                    self.timers.insert((*at_ms, *timer));
                }
                Action::AwaitApproval { task } => {
                    assert!(self.awaiting.insert(*task));
                }
                Action::TaskEnded { task, status } => {
                    assert!(status.is_terminal());
                    assert!(self.ended[*task].is_none(), "task {task} ended twice");
                    assert!(!self.running.contains_key(task), "task {task} ended while running");
                    self.awaiting.remove(task);
                    self.ended[*task] = Some(status.clone());
                }
                Action::RunPaused { reason } => {
                    assert!(self.paused.is_none());
                    self.paused = Some(reason.clone());
                }
                Action::RunResumed => {
                    assert!(self.paused.take().is_some());
                }
                Action::RunFinished { outcome } => {
                    assert!(self.finished.is_none());
                    assert!(self.ended.iter().all(Option::is_some), "finished with open tasks");
                    assert!(self.running.is_empty());
                    let all_ok = self.ended.iter().all(|s| s == &Some(TaskStatus::Succeeded));
                    assert_eq!(all_ok, *outcome == RunOutcome::Succeeded);
                    self.finished = Some(*outcome);
                }
            }
        }
    }

    fn check_limits(&self) {
        let mut per_q: BTreeMap<&str, u32> = BTreeMap::new();
        let mut per_k: BTreeMap<&str, u32> = BTreeMap::new();
        for t in self.running.keys() {
            let spec = &self.plan.tasks()[*t];
            *per_q.entry(&spec.queue).or_default() += 1;
            if let Some(k) = &spec.key {
                *per_k.entry(k).or_default() += 1;
            }
            let (ql, kl) = self.plan.limits_of(*t);
            if let Some(l) = ql {
                assert!(per_q[spec.queue.as_str()] <= l, "queue {} over its limit {l}", spec.queue);
            }
            if let (Some(l), Some(k)) = (kl, &spec.key) {
                assert!(per_k[k.as_str()] <= l, "key {k} over its limit {l}");
            }
        }
    }
}

/// Picks the next event. In `drain` mode only events that make progress are chosen.
fn next_event(env: &mut Env, r: &SeededRng, now: &mut u64, drain: bool) -> Option<EventKind> {
    *now += r.below(30);
    if let Some(p) = &env.paused
        && (drain || r.below(3) == 0)
    {
        {
            return Some(match p {
                PauseReason::User => EventKind::Resume,
                PauseReason::Budget { .. } => {
                    let raise = |x: Option<u64>| x.map(|v| v.saturating_mul(4) + 10_000);
                    env.budget = Budget {
                        tokens: raise(env.budget.tokens),
                        micro_usd: raise(env.budget.micro_usd),
                        wall_ms: raise(env.budget.wall_ms),
                    };
                    EventKind::SetBudget(env.budget)
                }
            });
        }
    }
    if let Some(&t) = env.awaiting.iter().next()
        && (drain || r.below(3) == 0)
    {
        {
            env.awaiting.remove(&t);
            return Some(if r.below(5) == 0 {
                EventKind::Reject { task: t, reason: "no".into() }
            } else {
                EventKind::Approve { task: t }
            });
        }
    }
    let roll = r.below(100);
    if !drain && roll < 3 {
        return Some(EventKind::Cancel { task: r.below(env.plan.len() as u64) as usize });
    }
    if !drain && roll < 5 && env.paused.is_none() {
        return Some(EventKind::Pause);
    }
    if !drain && roll == 5 && r.below(4) == 0 {
        return Some(EventKind::CancelRun);
    }
    if !drain && roll < 9 {
        // A stale or bogus report: must be ignored or handled, never break invariants.
        let task = r.below(env.plan.len() as u64 + 2) as usize;
        return Some(EventKind::Succeeded {
            task,
            attempt: r.below(4) as u32,
            spend: Spend::default(),
        });
    }
    if !env.running.is_empty() && (env.timers.is_empty() || r.below(3) > 0) {
        let i = r.below(env.running.len() as u64) as usize;
        let (&task, &attempt) = env.running.iter().nth(i).unwrap();
        env.running.remove(&task);
        let spend = Spend { tokens: r.below(150), micro_usd: r.below(1500) };
        return Some(if r.below(10) < 7 {
            EventKind::Succeeded { task, attempt, spend }
        } else {
            EventKind::Failed { task, attempt, error: "x".into(), retryable: r.below(4) > 0, spend }
        });
    }
    if let Some(&(at, timer)) = env.timers.iter().next() {
        env.timers.remove(&(at, timer));
        *now = (*now).max(at);
        return Some(EventKind::TimerFired(timer));
    }
    None
}

fn run_one(seed: u64) -> (Env, Arc<Plan>, Budget) {
    let r = SeededRng::from_seed(seed);
    let (plan, budget) = random_plan(&r);
    let mut state = RunState::new(plan.clone(), budget, seed);
    let mut env = Env {
        plan: plan.clone(),
        running: BTreeMap::new(),
        timers: BTreeSet::new(),
        awaiting: BTreeSet::new(),
        ended: vec![None; plan.len()],
        finished: None,
        paused: None,
        budget,
        log: Vec::new(),
    };
    let mut now = 0;
    let start = Event::new(0, EventKind::Start);
    let acts = step(&mut state, start.clone());
    env.check(&start, &acts);
    env.log.push((start, acts));
    let mut steps = 0;
    while env.finished.is_none() {
        steps += 1;
        assert!(steps < 20_000, "seed {seed}: run never finished");
        // A running task the environment reports on leaves `env.running` inside
        // `next_event`; put it back so the check sees the state the scheduler sees.
        let before = env.running.clone();
        let drain = steps > 300;
        let kind = next_event(&mut env, &r, &mut now, drain)
            .or_else(|| if drain { None } else { next_event(&mut env, &r, &mut now, true) });
        let Some(kind) = kind else {
            panic!(
                "seed {seed}: stuck with open tasks: {:?} paused {:?} log {:#?}",
                state.statuses(),
                state.paused(),
                &env.log[env.log.len().saturating_sub(6)..]
            );
        };
        env.running = before;
        if let EventKind::Succeeded { task, attempt, .. } | EventKind::Failed { task, attempt, .. } =
            &kind
            && env.running.get(task) == Some(attempt)
        {
            env.running.remove(task);
        }
        let e = Event::new(now, kind);
        let acts = step(&mut state, e.clone());
        env.check(&e, &acts);
        env.log.push((e, acts));
    }
    assert!(state.statuses().iter().all(TaskStatus::is_terminal));
    (env, plan, budget)
}

#[test]
fn invariants_hold_on_random_plans() {
    let mut outcomes = BTreeMap::new();
    for seed in 0..400 {
        let (env, _, _) = run_one(seed);
        let key = match env.finished.unwrap() {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::Cancelled => "cancelled",
        };
        *outcomes.entry(key).or_insert(0) += 1;
    }
    // The environment must exercise every ending, or the test proves little.
    assert!(outcomes.len() == 3, "{outcomes:?}");
}

#[test]
fn same_events_same_actions() {
    for seed in 0..100 {
        let (env, plan, budget) = run_one(seed);
        let mut fresh = RunState::new(plan, budget, seed);
        for (e, acts) in &env.log {
            assert_eq!(&step(&mut fresh, e.clone()), acts, "seed {seed}, event {e:?}");
        }
    }
}
