//! `l9-kernel` — the Unified Controller's deterministic core (tier T2, pure).
//!
//! This crate will hold the plan scheduler as a pure state machine,
//! `step(&mut RunState, Event) -> Vec<Action>`: task DAGs with dependencies, per-queue and
//! per-key concurrency limits, retries with seeded jittered backoff, timeouts,
//! cancellation, pause/resume, approval gates and run budgets. It will also define the
//! `Ctx` trait of durable workflows and the journal semantics (step keys, effect classes,
//! what may be re-run after a crash).
//!
//! What it is not: no IO, no async runtime, no wall clock. The Task Runtime (`l9-tasks`)
//! performs the actions it emits; the simulator (`l9-sim`) feeds it virtual time. Nothing
//! is implemented here yet: it lands with the Durable execution issue.
