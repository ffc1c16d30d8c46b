//! `l9-world` — the World Model (tier T2, pure).
//!
//! This crate will hold the world model's items (architectural patterns, coding
//! heuristics, reflections, hidden constraints, causal edges, task priors, calibration),
//! the seed-pack schema and validator for `seeds/*.yaml`, and learning as
//! `apply(Delta)`: Beta priors for task failure, log-normal priors for duration,
//! ExpeL-style insight votes, reflections from failed attempts.
//!
//! What it is not: it does not persist anything itself. Items are bitemporal values that
//! the engine stores through `l9-store`'s knowledge graph and packets. Nothing is
//! implemented here yet: it lands with the World Model issue.
