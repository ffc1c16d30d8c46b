//! `l9 bench sim`: seeded Monte Carlo trials of a synthetic plan through the kernel's
//! scheduler, next to drawing the same samples with no scheduling (the floor), in the same
//! process, on one thread.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition

use std::time::{Duration, Instant};

use l9_sim::{Priors, Scenario};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SimBench {
    pub tasks: usize,
    pub trials: u32,
    pub simulate: Duration,
    pub baseline: Duration,
    pub success: f64,
    pub makespan_p90_h: f64,
}

pub fn run(tasks: usize, trials: u32) -> Result<SimBench, String> {
    let plan = l9_sim::synthetic_plan(tasks, 42);
    let priors = Priors::engineering();
    let scenario = Scenario::default();
    let t0 = Instant::now();
    let m = l9_sim::simulate(&plan, &priors, &scenario, 42, trials)?;
    let simulate = t0.elapsed();
    let t1 = Instant::now();
    std::hint::black_box(l9_sim::sample_only(&plan, &priors, &scenario, 42, trials));
    let baseline = t1.elapsed();
    Ok(SimBench {
        tasks,
        trials,
        simulate,
        baseline,
        success: m.success,
        makespan_p90_h: m.makespan_p90_h,
    })
}
