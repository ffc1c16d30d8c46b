//! `l9-sim` — the Simulation Runtime (tier T2, pure).
//!
//! * [`priors`]: Beta failure and log-normal duration priors per task kind (defaults until the
//!   world model has learned better ones).
//! * [`scenario`]: what-if files (flaky tests, slower reviews, a budget cap).
//! * [`monte_carlo`]: seeded trials of a plan driven through `l9_kernel::step` on a virtual
//!   clock — the same scheduler real runs use, so simulation and execution cannot drift;
//!   metrics per candidate (makespan p50/p90, success probability, expected cost, tokens and
//!   retries, budget pauses, DORA lead time and change failure rate).
//! * [`rank`]: weighted scores, the Pareto front and a one-line explanation per candidate.
//! * [`cache_key`]: the content hash of (plan, scenario, priors version, seed, trials) under
//!   which results are cached.
//!
//! What it is not: no IO, no threads, no clock. It never reimplements scheduling.

pub mod monte_carlo;
pub mod priors;
pub mod rank;
pub mod scenario;

pub use monte_carlo::{Metrics, SimPlan, SimTask, sample_only, simulate, synthetic_plan};
pub use priors::{KindPrior, Priors};
pub use rank::{Ranked, Weights, rank};
pub use scenario::Scenario;

/// The cache key of a simulation: blake3 over the canonical JSON of its inputs.
pub fn cache_key(
    plan: &SimPlan,
    scenario: &Scenario,
    priors_version: &str,
    seed: u64,
    trials: u32,
) -> String {
    let v = serde_json::json!({"plan": plan, "scenario": scenario, "priors": priors_version, "seed": seed, "trials": trials});
    l9_types::ContentHash::derive("l9-sim cache key", l9_types::canonical_json(&v).as_bytes())
        .to_hex()
}
