//! `l9-agents` — the coding agent, its tools and the repo reader/writer (tier T3).
//!
//! Read it in this order: [`process`] (the one seam that spawns processes: timeout, output
//! cap, environment allow-list), [`workspace`] (paths confined to the task's worktree),
//! [`tools`] (read_file, write_file, apply_patch, list_dir, search, run, run_tests, each
//! with its effect class), [`patch`] (unified diffs, all or nothing), [`git`] (one worktree
//! and branch per task, commits with `L9-Task`/`L9-Packet` trailers, merge back or list the
//! conflicting files; [`lockfile`] serialises it between processes), [`provenance`] (who
//! changed which file: a commit leaves out what only gate runs produced), [`agent`] (the
//! model ↔ tools loop with step limit, loop detection and budget), [`cell`] (coder +
//! reviewer rounds; done = gate passed and reviewer approved), [`adapter`] (external agent
//! CLIs from command templates), [`steps`] (the journaling seam every model and tool call
//! goes through).
//!
//! What it is not: it chooses no provider and reads no configuration (the engine does), and
//! it does not journal by itself: the durable runtime plugs in through [`steps::Steps`].

pub mod adapter;
pub mod agent;
pub mod cell;
mod error;
pub mod git;
pub mod lockfile;
pub mod patch;
pub mod process;
pub mod provenance;
pub mod steps;
pub mod tools;
pub mod workspace;

pub use error::{AgentError, BudgetStop, Result, ensure_budget};
