//! `l9-world-store` — the World Model in a project (tier T3): its storage, queries and
//! knowledge-graph projection over the memory substrate. The pure model (seed packs, items,
//! relevance, `apply(Delta)`, calibration, the learning rules) is `l9-world`; this crate
//! keeps it: seed packs and learned items as `world.*` packets ([`model`]), hybrid search
//! with votes and graph neighbours, bitemporal views (`AsOf`), the simulator's priors, and
//! the graph projection ([`graph`]).
//!
//! What it is not: it decides nothing about runs (what a run teaches is the engine's
//! reflect stage) and reads no configuration.

mod graph;
pub mod model;

use l9_memory::MemoryService;
use l9_store::Store;

pub use model::{
    DELTA_KIND, Recording, SeedReport, WorldHit, WorldItem, sim_priors as seed_priors, vote_factor,
};

/// What can go wrong reading or writing the world model.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error(transparent)]
    Memory(#[from] l9_memory::MemoryError),
    #[error(transparent)]
    Store(#[from] l9_store::StoreError),
    /// Input to fix (a bad seed file, retiring what cannot be retired), with what to do.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Input(Vec<l9_types::Diagnostic>),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = WorldError> = std::result::Result<T, E>;

/// The world model of one project: a handle on its memory substrate (cheap to clone).
#[derive(Debug, Clone)]
pub struct WorldModel {
    memory: MemoryService,
}

impl WorldModel {
    pub fn new(memory: MemoryService) -> Self {
        WorldModel { memory }
    }

    fn memory(&self) -> &MemoryService {
        &self.memory
    }

    fn store(&self) -> &dyn Store {
        self.memory.store()
    }
}
