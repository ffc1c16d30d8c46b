//! `l9-tasks` — the Task Runtime and durable workflows (tier T3).
//!
//! * **Queue** — the storage is `l9_store::TaskStore` (both backends, one conformance
//!   suite); this crate drives it.
//! * **Workflows** ([`Ctx`]) — async functions whose every nondeterministic effect goes
//!   through the context and is journaled (`ctx.step`, `now`, `random`, `sleep`,
//!   `wait_for_signal`, `approval`, `spawn_child`/`join`, checkpoints). A workflow is a
//!   task; its run id is its task id. Sleeping and waiting park the task in the queue, so a
//!   24-hour run holds no worker while it waits and survives any crash.
//! * **Workers** ([`Worker`]) — claim, heartbeat, finish; graceful shutdown.
//! * **Replay and fork** ([`replay`], [`fork`]) — re-run a finished workflow from its
//!   journal with no effects and report the first divergence; start a new run from step N
//!   of an old one.
//! * **Cron** ([`Scheduler`]) — recurring tasks, exactly once per tick across schedulers.
//!
//! * **Built-in workflows** ([`builtin`]) — `l9.echo`, `l9.sleep`, `l9.approval` and the
//!   durable plan driver `l9.plan` (`run_plan`: the kernel's scheduler, one child task per
//!   attempt, every observation journaled).
//!
//! What it is not: the plan semantics (dependencies, limits, budgets) are `l9-kernel`'s
//! pure scheduler; the loop's own workflows (`l9.run`, `l9.agent`) live in `l9-engine`.

pub mod builtin;
mod cron;
mod ctx;
mod error;
mod registry;
mod replay;
mod worker;

pub use cron::{Schedule, Scheduler};
pub use ctx::{BLOB_THRESHOLD, Ctx, Mode, run_of};
pub use error::{Result, TaskError, WfError};
pub use registry::{Registry, WfFuture, WorkflowFn};
pub use replay::{ReplayReport, fork, replay};
pub use worker::{Worker, WorkerOptions, WorkerReport};
