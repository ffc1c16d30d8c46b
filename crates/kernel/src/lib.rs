//! `l9-kernel` — the Unified Controller's deterministic core (tier T2, pure).
//!
//! Two things live here, both pure functions over values:
//!
//! * **The plan scheduler** ([`step`]): `step(&mut RunState, Event) -> Vec<Action>`. A
//!   [`Plan`] is a DAG of tasks with per-queue and per-key concurrency limits, retry
//!   policies (exponential backoff with jitter drawn from the run's seeded generator),
//!   per-attempt timeouts, approval gates and a run [`Budget`] (tokens, money, wall time).
//!   Events say what happened (a task succeeded, failed, a timer fired, the user cancelled,
//!   paused, approved…); actions say what the driver must do next (start an attempt, abort
//!   one, set a timer, ask for approval, report a pause). Real runs feed it wall-clock
//!   events; the simulator (`l9-sim`) feeds it virtual time. Same events, same actions.
//! * **Journal semantics** ([`journal`]): deterministic step keys, the recovery rule for a
//!   step whose outcome is unknown after a crash (re-run pure and idempotent effects,
//!   escalate the rest), and replay divergence checks.
//!
//! What it is not: no IO, no async runtime, no wall clock, no storage. The Task Runtime
//! (`l9-tasks`) performs the actions and owns the journal's storage.
//!
//! Reading order: `plan.rs` (what a plan is), `scheduler.rs` (the state machine),
//! `journal.rs`.

pub mod journal;
mod plan;
mod scheduler;

pub use plan::{Budget, Limits, Plan, PlanError, RetryPolicy, Spend, TaskIx, TaskSpec};
pub use scheduler::{
    AbortReason, Action, BudgetKind, CancelReason, Event, EventKind, PauseReason, RunOutcome,
    RunState, TaskStatus, Timer, step,
};
