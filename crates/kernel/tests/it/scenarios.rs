use std::sync::Arc;

use l9_kernel::*;

fn plan(tasks: Vec<TaskSpec>, limits: Limits) -> Arc<Plan> {
    Arc::new(Plan::new(tasks, &limits).unwrap())
}

fn task(name: &str, deps: &[usize]) -> TaskSpec {
    let mut t = TaskSpec::new(name);
    t.deps = deps.to_vec();
    t
}

fn ev(at: u64, kind: EventKind) -> Event {
    Event::new(at, kind)
}

fn ok(task: usize, attempt: u32) -> EventKind {
    EventKind::Succeeded { task, attempt, spend: Spend::default() }
}

#[test]
fn plan_validation_names_the_problem() {
    let err = Plan::new(vec![task("a", &[1]), task("b", &[0])], &Limits::default()).unwrap_err();
    assert!(matches!(err, PlanError::Cycle(..)), "{err}");
    let err = Plan::new(vec![task("a", &[3])], &Limits::default()).unwrap_err();
    assert_eq!(err.to_string(), "task 0 depends on task 3, which does not exist");
    let err = Plan::new(vec![task("a", &[0])], &Limits::default()).unwrap_err();
    assert_eq!(err, PlanError::SelfDep(0));
    let mut t = task("a", &[]);
    t.retry.max_attempts = 0;
    assert!(matches!(Plan::new(vec![t], &Limits::default()), Err(PlanError::NoAttempts(0, _))));
}

#[test]
fn diamond_runs_in_dependency_order() {
    let p = plan(
        vec![task("a", &[]), task("b", &[0]), task("c", &[0]), task("d", &[1, 2])],
        Limits::default(),
    );
    let mut s = RunState::new(p, Budget::default(), 1);
    assert_eq!(
        step(&mut s, ev(0, EventKind::Start)),
        vec![Action::StartTask { task: 0, attempt: 1 }]
    );
    assert_eq!(
        step(&mut s, ev(5, ok(0, 1))),
        vec![
            Action::TaskEnded { task: 0, status: TaskStatus::Succeeded },
            Action::StartTask { task: 1, attempt: 1 },
            Action::StartTask { task: 2, attempt: 1 },
        ]
    );
    assert_eq!(
        step(&mut s, ev(6, ok(1, 1))),
        vec![Action::TaskEnded { task: 1, status: TaskStatus::Succeeded }]
    );
    assert_eq!(
        step(&mut s, ev(7, ok(2, 1))),
        vec![
            Action::TaskEnded { task: 2, status: TaskStatus::Succeeded },
            Action::StartTask { task: 3, attempt: 1 },
        ]
    );
    assert_eq!(
        step(&mut s, ev(9, ok(3, 1))),
        vec![
            Action::TaskEnded { task: 3, status: TaskStatus::Succeeded },
            Action::RunFinished { outcome: RunOutcome::Succeeded },
        ]
    );
    // Finished runs ignore everything.
    assert_eq!(step(&mut s, ev(10, EventKind::Cancel { task: 0 })), vec![]);
}

#[test]
fn retries_back_off_with_seeded_jitter_then_fail_and_cancel_downstream() {
    let mut a = task("flaky", &[]);
    a.retry = RetryPolicy { max_attempts: 3, base_ms: 100, max_ms: 150 };
    let p = plan(vec![a, task("after", &[0])], Limits::default());
    let mut s = RunState::new(p.clone(), Budget::default(), 42);
    step(&mut s, ev(0, EventKind::Start));
    let fail = |attempt| EventKind::Failed {
        task: 0,
        attempt,
        error: "boom".into(),
        retryable: true,
        spend: Spend::default(),
    };
    let acts = step(&mut s, ev(10, fail(1)));
    let Action::SetTimer { timer: Timer::Retry { task: 0, attempt: 2 }, at_ms } = acts[0] else {
        panic!("{acts:?}")
    };
    // Equal jitter: between half the ceiling and the ceiling (100 ms for attempt 2).
    assert!((10 + 50..=10 + 100).contains(&at_ms), "{at_ms}");
    // The timer for another attempt is stale and ignored.
    assert_eq!(
        step(&mut s, ev(at_ms, EventKind::TimerFired(Timer::Retry { task: 0, attempt: 3 }))),
        vec![]
    );
    assert_eq!(
        step(&mut s, ev(at_ms, EventKind::TimerFired(Timer::Retry { task: 0, attempt: 2 }))),
        vec![Action::StartTask { task: 0, attempt: 2 }]
    );
    let acts = step(&mut s, ev(at_ms + 1, fail(2)));
    let Action::SetTimer { at_ms: at3, .. } = acts[0] else { panic!("{acts:?}") };
    // Ceiling for attempt 3 is min(200, 150) = 150.
    assert!((at_ms + 1 + 75..=at_ms + 1 + 150).contains(&at3));
    step(&mut s, ev(at3, EventKind::TimerFired(Timer::Retry { task: 0, attempt: 3 })));
    assert_eq!(
        step(&mut s, ev(at3 + 1, fail(3))),
        vec![
            Action::TaskEnded { task: 0, status: TaskStatus::Failed { error: "boom".into() } },
            Action::TaskEnded {
                task: 1,
                status: TaskStatus::Cancelled { reason: CancelReason::Upstream(0) }
            },
            Action::RunFinished { outcome: RunOutcome::Failed { failed: 1, cancelled: 1 } },
        ]
    );
    // Same seed, same jitter.
    let mut s2 = RunState::new(p, Budget::default(), 42);
    step(&mut s2, ev(0, EventKind::Start));
    assert_eq!(
        step(&mut s2, ev(10, fail(1)))[0],
        Action::SetTimer { timer: Timer::Retry { task: 0, attempt: 2 }, at_ms }
    );
}

#[test]
fn timeout_aborts_the_attempt_and_ignores_its_late_result() {
    let mut a = task("slow", &[]);
    a.timeout_ms = Some(1000);
    a.retry = RetryPolicy { max_attempts: 2, base_ms: 10, max_ms: 10 };
    let mut s = RunState::new(plan(vec![a], Limits::default()), Budget::default(), 3);
    assert_eq!(
        step(&mut s, ev(0, EventKind::Start)),
        vec![
            Action::StartTask { task: 0, attempt: 1 },
            Action::SetTimer { timer: Timer::Timeout { task: 0, attempt: 1 }, at_ms: 1000 },
        ]
    );
    let acts =
        step(&mut s, ev(1000, EventKind::TimerFired(Timer::Timeout { task: 0, attempt: 1 })));
    assert_eq!(acts[0], Action::AbortTask { task: 0, attempt: 1, reason: AbortReason::Timeout });
    assert!(matches!(
        acts[1],
        Action::SetTimer { timer: Timer::Retry { task: 0, attempt: 2 }, .. }
    ));
    // The first attempt reports late: ignored.
    assert_eq!(step(&mut s, ev(1001, ok(0, 1))), vec![]);
    assert!(matches!(s.status(0), Some(TaskStatus::Backoff { next_attempt: 2, .. })));
}

#[test]
fn limits_per_queue_and_key() {
    let mut tasks = Vec::new();
    for i in 0..4 {
        let mut t = task(&format!("q{i}"), &[]);
        t.queue = "build".into();
        tasks.push(t);
    }
    for i in 0..3 {
        let mut t = task(&format!("k{i}"), &[]);
        t.key = Some("repo".into());
        tasks.push(t);
    }
    let limits = Limits {
        queues: [("build".to_string(), 2)].into(),
        keys: [("repo".to_string(), 1)].into(),
    };
    let mut s = RunState::new(plan(tasks, limits), Budget::default(), 0);
    assert_eq!(
        step(&mut s, ev(0, EventKind::Start)),
        vec![
            Action::StartTask { task: 0, attempt: 1 },
            Action::StartTask { task: 1, attempt: 1 },
            Action::StartTask { task: 4, attempt: 1 },
        ]
    );
    assert_eq!(
        step(&mut s, ev(1, ok(4, 1))),
        vec![
            Action::TaskEnded { task: 4, status: TaskStatus::Succeeded },
            Action::StartTask { task: 5, attempt: 1 }
        ]
    );
}

#[test]
fn approval_gate_waits_and_rejection_cancels_downstream() {
    let mut gate = task("deploy", &[0]);
    gate.needs_approval = true;
    let p = plan(vec![task("build", &[]), gate, task("announce", &[1])], Limits::default());
    let mut s = RunState::new(p.clone(), Budget::default(), 0);
    step(&mut s, ev(0, EventKind::Start));
    assert_eq!(
        step(&mut s, ev(1, ok(0, 1))),
        vec![
            Action::TaskEnded { task: 0, status: TaskStatus::Succeeded },
            Action::AwaitApproval { task: 1 }
        ]
    );
    assert_eq!(
        step(&mut s, ev(2, EventKind::Approve { task: 1 })),
        vec![Action::StartTask { task: 1, attempt: 1 }]
    );

    let mut s = RunState::new(p, Budget::default(), 0);
    step(&mut s, ev(0, EventKind::Start));
    step(&mut s, ev(1, ok(0, 1)));
    assert_eq!(
        step(&mut s, ev(2, EventKind::Reject { task: 1, reason: "not today".into() })),
        vec![
            Action::TaskEnded {
                task: 1,
                status: TaskStatus::Cancelled {
                    reason: CancelReason::Rejected("not today".into())
                }
            },
            Action::TaskEnded {
                task: 2,
                status: TaskStatus::Cancelled { reason: CancelReason::Upstream(1) }
            },
            Action::RunFinished { outcome: RunOutcome::Failed { failed: 0, cancelled: 2 } },
        ]
    );
}

#[test]
fn budget_pauses_and_asks_instead_of_failing() {
    let mut a = task("a", &[]);
    a.estimate = Spend { tokens: 600, micro_usd: 0 };
    let mut b = task("b", &[0]);
    b.estimate = Spend { tokens: 600, micro_usd: 0 };
    let budget = Budget { tokens: Some(1000), ..Budget::default() };
    let mut s = RunState::new(plan(vec![a, b], Limits::default()), budget, 0);
    step(&mut s, ev(0, EventKind::Start));
    let spend = Spend { tokens: 550, micro_usd: 0 };
    assert_eq!(
        step(&mut s, ev(1, EventKind::Succeeded { task: 0, attempt: 1, spend })),
        vec![
            Action::TaskEnded { task: 0, status: TaskStatus::Succeeded },
            Action::RunPaused {
                reason: PauseReason::Budget { what: BudgetKind::Tokens, limit: 1000, needed: 1150 }
            },
        ]
    );
    // Resuming without more budget pauses again; raising it continues.
    assert_eq!(step(&mut s, ev(2, EventKind::Resume))[0], Action::RunResumed);
    assert!(s.paused().is_some());
    assert_eq!(
        step(
            &mut s,
            ev(3, EventKind::SetBudget(Budget { tokens: Some(2000), ..Budget::default() }))
        ),
        vec![Action::RunResumed, Action::StartTask { task: 1, attempt: 1 }]
    );
}

#[test]
fn wall_budget_pauses_the_run() {
    let budget = Budget { wall_ms: Some(100), ..Budget::default() };
    let p = plan(vec![task("a", &[]), task("b", &[0])], Limits::default());
    let mut s = RunState::new(p, budget, 0);
    assert_eq!(
        step(&mut s, ev(0, EventKind::Start)),
        vec![
            Action::SetTimer { timer: Timer::WallBudget, at_ms: 100 },
            Action::StartTask { task: 0, attempt: 1 }
        ]
    );
    assert_eq!(
        step(&mut s, ev(100, EventKind::TimerFired(Timer::WallBudget))),
        vec![Action::RunPaused {
            reason: PauseReason::Budget { what: BudgetKind::WallTime, limit: 100, needed: 100 }
        }]
    );
    // The running task may finish; the next one waits for the answer.
    assert_eq!(
        step(&mut s, ev(150, ok(0, 1))),
        vec![Action::TaskEnded { task: 0, status: TaskStatus::Succeeded }]
    );
}

#[test]
fn cancel_aborts_running_work_and_everything_downstream() {
    let p = plan(
        vec![task("a", &[]), task("b", &[0]), task("c", &[1]), task("x", &[])],
        Limits::default(),
    );
    let mut s = RunState::new(p, Budget::default(), 0);
    step(&mut s, ev(0, EventKind::Start));
    assert_eq!(
        step(&mut s, ev(1, EventKind::Cancel { task: 0 })),
        vec![
            Action::AbortTask { task: 0, attempt: 1, reason: AbortReason::Cancelled },
            Action::TaskEnded {
                task: 0,
                status: TaskStatus::Cancelled { reason: CancelReason::User }
            },
            Action::TaskEnded {
                task: 1,
                status: TaskStatus::Cancelled { reason: CancelReason::Upstream(0) }
            },
            Action::TaskEnded {
                task: 2,
                status: TaskStatus::Cancelled { reason: CancelReason::Upstream(1) }
            },
        ]
    );
    // Pause stops new starts but not the running task.
    assert_eq!(
        step(&mut s, ev(2, EventKind::Pause)),
        vec![Action::RunPaused { reason: PauseReason::User }]
    );
    assert_eq!(
        step(&mut s, ev(3, ok(3, 1))),
        vec![
            Action::TaskEnded { task: 3, status: TaskStatus::Succeeded },
            Action::RunFinished { outcome: RunOutcome::Failed { failed: 0, cancelled: 3 } },
        ]
    );
}

#[test]
fn many_ready_tasks_behind_a_concurrency_limit_run_in_near_linear_time() {
    // 150,000 independent tasks, one at a time: the scheduler used to walk every ready task on
    // every event to find none could start (quadratic: ~10¹⁰ visits here; with 60,000 that
    // took 60 s in a debug build, so this size leaves a wide margin to the detector).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let n = 150_000;
        let tasks: Vec<TaskSpec> = (0..n).map(|i| task(&format!("t{i}"), &[])).collect();
        let limits = Limits { queues: [("default".to_string(), 1)].into(), ..Limits::default() };
        let mut s = RunState::new(plan(tasks, limits), Budget::default(), 1);
        let mut started = Vec::new();
        let mut at = 0;
        let mut next = step(&mut s, ev(at, EventKind::Start));
        loop {
            let starts: Vec<(usize, u32)> = next
                .iter()
                .filter_map(|a| match a {
                    Action::StartTask { task, attempt } => Some((*task, *attempt)),
                    _ => None,
                })
                .collect();
            let [(task, attempt)] = starts[..] else { break };
            started.push(task);
            at += 1;
            next = step(&mut s, ev(at, ok(task, attempt)));
        }
        let _ = tx.send((started.len(), s.outcome()));
    });
    let done = rx.recv_timeout(std::time::Duration::from_secs(60));
    assert!(
        matches!(done, Ok((150_000, Some(RunOutcome::Succeeded)))),
        "did not run one at a time to the end in 60 s: {done:?}"
    );
}
