//! Monte Carlo over a plan with the kernel's own scheduler on a virtual clock: each trial
//! starts a fresh `RunState`, answers every `StartTask` with a sampled duration and outcome
//! and every `SetTimer` with a timer event, and reads what the kernel decides (retries,
//! backoff, timeouts, budget pauses, cancellations downstream).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use l9_kernel::{
    Action, Event, EventKind, Limits, Plan, RunOutcome, RunState, Spend, TaskSpec, Timer, step,
};
use serde::{Deserialize, Serialize};

use crate::priors::{KindPrior, Priors};
use crate::scenario::Scenario;

/// A task to simulate: the kernel's spec, its kind (for the priors) and its size in points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimTask {
    pub spec: TaskSpec,
    pub kind: String,
    pub points: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimPlan {
    pub name: String,
    pub tasks: Vec<SimTask>,
    #[serde(default)]
    pub limits: Limits,
}

/// What a candidate is expected to do, over all trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub trials: u32,
    /// Probability that every task succeeds.
    pub success: f64,
    pub makespan_p50_h: f64,
    pub makespan_p90_h: f64,
    pub expected_cost_usd: f64,
    pub expected_tokens: f64,
    pub expected_retries: f64,
    /// Share of trials that paused because the budget would be exceeded.
    pub budget_paused: f64,
    /// DORA forecasts: lead time spec → merge (median makespan of successful trials, hours)
    /// and change failure rate (share of gated tasks whose first attempt failed).
    pub lead_time_h: f64,
    pub change_failure_rate: f64,
}

/// SplitMix64: small, fast, seedable; enough for sampling.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Done { task: usize, attempt: u32, ok: bool },
    Timer(Timer),
}

struct Prepared {
    plan: Arc<Plan>,
    /// Per task: (prior after the scenario, failure probability, points, gated).
    tasks: Vec<(KindPrior, f64, f64, bool)>,
}

fn prepare(plan: &SimPlan, priors: &Priors, scenario: &Scenario) -> Result<Prepared, String> {
    let specs: Vec<TaskSpec> = plan.tasks.iter().map(|t| t.spec.clone()).collect();
    let kernel_plan =
        Plan::new(specs, &plan.limits).map_err(|e| format!("plan {}: {e}", plan.name))?;
    let tasks = plan
        .tasks
        .iter()
        .map(|t| {
            let (p, fail) = scenario.apply(&t.kind, priors.get(&t.kind));
            (p, fail, t.points.max(0.1), matches!(t.kind.as_str(), "implement" | "test" | "verify"))
        })
        .collect();
    Ok(Prepared { plan: Arc::new(kernel_plan), tasks })
}

struct Trial {
    finished: bool,
    success: bool,
    paused: bool,
    makespan_ms: u64,
    spent: Spend,
    retries: u64,
    first_failures: u32,
    gated: u32,
}

fn run_trial(p: &Prepared, budget: l9_kernel::Budget, seed: u64) -> Trial {
    let mut rng = Rng(seed);
    let mut state = RunState::new(p.plan.clone(), budget, seed);
    let mut due: BinaryHeap<Reverse<(u64, u64, Due)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut first_failed = vec![false; p.tasks.len()];
    let mut out = Trial {
        finished: false,
        success: false,
        paused: false,
        makespan_ms: 0,
        spent: Spend::default(),
        retries: 0,
        first_failures: 0,
        gated: 0,
    };
    let mut actions = step(&mut state, Event::new(0, EventKind::Start));
    let mut now = 0u64;
    loop {
        for a in actions.drain(..) {
            match a {
                Action::StartTask { task, attempt } => {
                    let (prior, fail, points, _) = p.tasks[task];
                    let minutes = (prior.dur_mu + prior.dur_sigma * rng.normal()).exp() * points;
                    let ok = rng.unit() >= fail;
                    if attempt == 1 && !ok {
                        first_failed[task] = true;
                    }
                    if attempt > 1 {
                        out.retries += 1;
                    }
                    seq += 1;
                    due.push(Reverse((
                        now + (minutes * 60_000.0) as u64 + 1,
                        seq,
                        Due::Done { task, attempt, ok },
                    )));
                }
                Action::SetTimer { timer, at_ms } => {
                    seq += 1;
                    due.push(Reverse((at_ms.max(now), seq, Due::Timer(timer))));
                }
                Action::RunPaused { .. } => {
                    out.paused = true;
                }
                Action::RunFinished { outcome } => {
                    out.finished = true;
                    out.success = outcome == RunOutcome::Succeeded;
                }
                _ => {}
            }
        }
        if out.finished || out.paused {
            break;
        }
        let Some(Reverse((at, _, d))) = due.pop() else { break };
        now = at;
        let kind = match d {
            Due::Done { task, attempt, ok } => {
                let (prior, _, points, _) = p.tasks[task];
                let spend = Spend {
                    tokens: (prior.tokens as f64 * points) as u64,
                    micro_usd: (prior.micro_usd as f64 * points) as u64,
                };
                if ok {
                    EventKind::Succeeded { task, attempt, spend }
                } else {
                    EventKind::Failed {
                        task,
                        attempt,
                        error: String::new(),
                        retryable: true,
                        spend,
                    }
                }
            }
            Due::Timer(t) => EventKind::TimerFired(t),
        };
        actions = step(&mut state, Event::new(now, kind));
    }
    out.makespan_ms = now;
    out.spent = state.spent();
    for (i, t) in p.tasks.iter().enumerate() {
        if t.3 {
            out.gated += 1;
            if first_failed[i] {
                out.first_failures += 1;
            }
        }
    }
    out
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64
}

/// Runs `trials` seeded trials of `plan`. Same inputs, same metrics.
pub fn simulate(
    plan: &SimPlan,
    priors: &Priors,
    scenario: &Scenario,
    seed: u64,
    trials: u32,
) -> Result<Metrics, String> {
    let p = prepare(plan, priors, scenario)?;
    let budget = scenario.budget();
    let mut makespans = Vec::with_capacity(trials as usize);
    let mut ok_makespans = Vec::new();
    let (mut success, mut paused, mut retries, mut tokens, mut micro) =
        (0u32, 0u32, 0u64, 0u64, 0u64);
    let (mut first_failures, mut gated) = (0u64, 0u64);
    for i in 0..trials {
        let t = run_trial(&p, budget, seed ^ (u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        makespans.push(t.makespan_ms);
        if t.success {
            success += 1;
            ok_makespans.push(t.makespan_ms);
        }
        paused += u32::from(t.paused);
        retries += t.retries;
        tokens += t.spent.tokens;
        micro += t.spent.micro_usd;
        first_failures += u64::from(t.first_failures);
        gated += u64::from(t.gated);
    }
    makespans.sort_unstable();
    ok_makespans.sort_unstable();
    let n = f64::from(trials.max(1));
    let h = 3_600_000.0;
    Ok(Metrics {
        trials,
        success: f64::from(success) / n,
        makespan_p50_h: percentile(&makespans, 0.5) / h,
        makespan_p90_h: percentile(&makespans, 0.9) / h,
        expected_cost_usd: micro as f64 / n / 1e6,
        expected_tokens: tokens as f64 / n,
        expected_retries: retries as f64 / n,
        budget_paused: f64::from(paused) / n,
        lead_time_h: percentile(&ok_makespans, 0.5) / h,
        change_failure_rate: if gated == 0 { 0.0 } else { first_failures as f64 / gated as f64 },
    })
}

/// A layered plan of `n` tasks (design, then waves of implement/test/review, then integrate
/// and verify), each task depending on up to two of the previous wave: what `l9 bench sim`
/// and the tests simulate.
pub fn synthetic_plan(n: usize, seed: u64) -> SimPlan {
    let mut rng = Rng(seed);
    let kinds = ["implement", "test", "review"];
    let mut tasks: Vec<SimTask> = Vec::with_capacity(n);
    let wave = 25usize;
    for i in 0..n {
        let kind = if i == 0 {
            "design"
        } else if i + 2 == n {
            "integrate"
        } else if i + 1 == n {
            "verify"
        } else {
            kinds[(i - 1) / wave % 3]
        };
        let mut spec = TaskSpec::new(format!("t{i}"));
        if i > 0 {
            let prev_start = ((i - 1) / wave * wave).saturating_sub(wave) + 1;
            let prev_end = ((i - 1) / wave * wave).max(1);
            let span = (prev_end - prev_start.min(prev_end)).max(1);
            let a = prev_start.min(prev_end - 1) + (rng.next() as usize % span);
            spec.deps.push(a.min(i - 1));
            let b = prev_start.min(prev_end - 1) + (rng.next() as usize % span);
            if b != a && b < i {
                spec.deps.push(b);
            }
            if i + 2 >= n {
                spec.deps = vec![i - 1];
            }
        }
        tasks.push(SimTask {
            spec,
            kind: kind.into(),
            points: 0.5 + (rng.next() % 4) as f64 * 0.5,
        });
    }
    let mut limits = Limits::default();
    limits.queues.insert("default".into(), 8);
    SimPlan { name: format!("synthetic-{n}"), tasks, limits }
}

/// The baseline `l9 bench sim` prints next to a simulation: the same number of samples
/// (a duration and an outcome per task per trial) with no scheduling at all. Returns a
/// checksum so the work is not optimised away.
pub fn sample_only(
    plan: &SimPlan,
    priors: &Priors,
    scenario: &Scenario,
    seed: u64,
    trials: u32,
) -> u64 {
    let mut rng = Rng(seed);
    let mut sum = 0u64;
    let tasks: Vec<(KindPrior, f64, f64)> = plan
        .tasks
        .iter()
        .map(|t| {
            let (p, fail) = scenario.apply(&t.kind, priors.get(&t.kind));
            (p, fail, t.points)
        })
        .collect();
    for _ in 0..trials {
        for (prior, fail, points) in &tasks {
            let minutes = (prior.dur_mu + prior.dur_sigma * rng.normal()).exp() * points;
            sum = sum.wrapping_add((minutes * 60_000.0) as u64 + u64::from(rng.unit() >= *fail));
        }
    }
    sum
}
