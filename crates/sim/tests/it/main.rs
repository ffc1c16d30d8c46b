//! The simulator at its boundary: reproducible, sensitive to scenarios, faithful to the
//! kernel's retries and budgets, ranking with a Pareto front.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test

use l9_kernel::TaskSpec;
use l9_sim::{
    Priors, Scenario, SimPlan, SimTask, Weights, cache_key, rank, simulate, synthetic_plan,
};

fn chain(n: usize, kind: &str) -> SimPlan {
    let tasks = (0..n)
        .map(|i| {
            let mut spec = TaskSpec::new(format!("t{i}"));
            if i > 0 {
                spec.deps.push(i - 1);
            }
            SimTask { spec, kind: kind.into(), points: 1.0 }
        })
        .collect();
    SimPlan { name: format!("chain-{n}"), tasks, limits: Default::default() }
}

#[test]
fn same_seed_same_metrics_and_the_cache_key_covers_every_input() {
    let plan = synthetic_plan(60, 1);
    let p = Priors::engineering();
    let s = Scenario::default();
    let a = simulate(&plan, &p, &s, 7, 300).unwrap();
    assert_eq!(a, simulate(&plan, &p, &s, 7, 300).unwrap());
    assert_ne!(a, simulate(&plan, &p, &s, 8, 300).unwrap());
    assert!(a.success > 0.0 && a.success < 1.0, "{a:?}");
    assert!(a.makespan_p90_h >= a.makespan_p50_h && a.makespan_p50_h > 0.0);
    let k = cache_key(&plan, &s, &p.version, 7, 300);
    assert_eq!(k, cache_key(&plan, &s, &p.version, 7, 300));
    assert_ne!(k, cache_key(&plan, &s, &p.version, 7, 301));
    assert_ne!(k, cache_key(&plan, &s, "learned-2", 7, 300));
    assert_ne!(k, cache_key(&synthetic_plan(60, 2), &s, &p.version, 7, 300));
}

#[test]
fn flaky_tests_and_slow_reviews_show_up_in_the_metrics() {
    let plan = synthetic_plan(80, 3);
    let p = Priors::engineering();
    let base = simulate(&plan, &p, &Scenario::default(), 1, 400).unwrap();
    let flaky =
        Scenario::parse("s.yaml", "name: flaky\nkinds:\n  test: { failure: 0.6 }\n").unwrap();
    let f = simulate(&plan, &p, &flaky, 1, 400).unwrap();
    assert!(f.success < base.success, "{f:?} vs {base:?}");
    assert!(f.expected_retries > base.expected_retries);
    assert!(f.change_failure_rate > base.change_failure_rate);
    let slow = Scenario::parse("s.yaml", "kinds:\n  review: { slower: 4.0 }\n").unwrap();
    let s = simulate(&plan, &p, &slow, 1, 400).unwrap();
    assert!(s.makespan_p50_h > base.makespan_p50_h, "{s:?} vs {base:?}");
}

#[test]
fn retries_follow_the_kernel_policy_and_budgets_pause_runs() {
    // A task that always fails is tried max_attempts times and the run fails.
    let mut plan = chain(3, "implement");
    plan.tasks[1].spec.retry.max_attempts = 4;
    let always = Scenario::parse("s", "kinds:\n  implement: { failure: 1.0 }\n").unwrap();
    let m = simulate(&plan, &Priors::engineering(), &always, 1, 50).unwrap();
    assert_eq!(m.success, 0.0);
    assert_eq!(
        m.expected_retries, 2.0,
        "task 0 retries twice (default 3 attempts) and the run stops"
    );
    // A token budget below one task's spend pauses every trial.
    let never_fail =
        Scenario::parse("s", "kinds:\n  implement: { failure: 0.0 }\nbudget: { tokens: 1000 }\n")
            .unwrap();
    assert_eq!(
        simulate(&chain(3, "implement"), &Priors::engineering(), &never_fail, 1, 20)
            .unwrap()
            .budget_paused,
        1.0
    );
}

#[test]
fn ranking_scores_explains_and_finds_the_pareto_front() {
    let p = Priors::engineering();
    let s = Scenario::default();
    let fast = simulate(&synthetic_plan(40, 1), &p, &s, 1, 200).unwrap();
    let slow = simulate(&chain(40, "implement"), &p, &s, 1, 200).unwrap();
    let r = rank(
        vec![("parallel".into(), fast.clone()), ("chain".into(), slow.clone())],
        Weights::default(),
    );
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|x| x.explanation.starts_with(&format!("{}: ", x.name))));
    assert!(r.iter().any(|x| x.pareto));
    assert!(r[0].score >= r[1].score);
    // A 40-task chain cannot beat the same work spread over 8 parallel slots.
    assert!(fast.makespan_p90_h < slow.makespan_p90_h, "{fast:?} vs {slow:?}");
    let parallel = r.iter().find(|x| x.name == "parallel").unwrap();
    assert!(
        parallel.pareto && parallel.explanation.contains("fastest at p90"),
        "{}",
        parallel.explanation
    );
}

#[test]
fn bad_scenarios_name_the_line_and_the_field() {
    let e = Scenario::parse("s.yaml", "name: x\nkinds:\n  test: { faillure: 0.3 }\n").unwrap_err();
    assert!(e.starts_with("s.yaml:3:") && e.contains("faillure"), "{e}");
    let e = Scenario::parse("s.yaml", "kinds:\n  test: { failure: 1.5 }\n").unwrap_err();
    assert!(e.contains("kinds.test.failure must be between 0 and 1"), "{e}");
}
