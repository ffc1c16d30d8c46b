//! `l9-sim` — the Simulation Runtime (tier T2, pure).
//!
//! This crate will hold scenario files (YAML prior overrides), Monte Carlo evaluation of
//! plan candidates by driving `l9-kernel`'s scheduler on a virtual clock with sampled
//! durations, failures, retries and costs, the metrics per candidate (makespan p50/p90,
//! success probability, expected cost, DORA forecasts), weighted scoring with a Pareto
//! front, and the cache key (content hash of plan, scenario, priors version, seed, trials).
//!
//! What it is not: it never reimplements scheduling; real runs and simulations share the
//! kernel so they cannot drift. Nothing is implemented here yet: it lands with the loop
//! issue.
