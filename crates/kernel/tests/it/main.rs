#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Scheduler tests: hand-written scenarios with whole-value checks, then property tests
//! that drive random plans with a random (seeded) environment and check the invariants
//! after every event.

mod properties;
mod scenarios;
