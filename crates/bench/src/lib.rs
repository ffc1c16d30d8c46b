//! `l9-bench` — the benchmarks behind `l9 bench` (tier T4, beside the engine). Each one
//! measures L9 next to a baseline run in the same process on the same machine, and prints
//! only what it measured.
//!
//! * [`memory`] — ingest, search and recall of the memory substrate next to one transaction
//!   per packet and a brute-force scan.
//! * [`tasks`] — the queue and durable workflow steps next to raw-SQL floors (the store
//!   crates' `baseline` modules, compiled in only with their `baseline` feature).
//! * [`sim`] — Monte Carlo through the kernel's scheduler next to sampling alone.
//! * [`ir`] — spec compile and check next to parsing the same bytes.
//! * [`ingest`] — a repository's history read and stored next to `git log --numstat` (and
//!   PyDriller when installed).
//! * [`stores`] — fresh benchmark stores on either backend.
//!
//! What it is not: nothing here is on a user's path; the engine does not depend on it.

pub mod conflicts;
pub mod ingest;
pub mod ir;
pub mod memory;
pub mod sim;
pub mod stores;
pub mod tasks;

/// What can stop a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Store(#[from] l9_store::StoreError),
    #[error(transparent)]
    Memory(#[from] l9_memory::MemoryError),
    #[error(transparent)]
    Task(#[from] l9_tasks::TaskError),
    #[error("{0}")]
    Io(String),
    /// The benchmark itself went wrong (a run that did not finish, no result).
    #[error("{0}")]
    Failed(String),
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;
