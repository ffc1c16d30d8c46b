//! `l9-world` — the World Model (tier T2, pure).
//!
//! * [`item`]: world-model items (patterns, heuristics, reflections, task kinds and their
//!   relations) with provenance, and a term-based relevance query used when the memory
//!   substrate's hybrid search is not at hand.
//! * [`seeds`]: the four seed packs in `seeds/*.yaml` — typed schemas, a loader that reports
//!   every bad entry with file, line and fix, and the packs compiled into the binary.
//!
//! * [`learn`]: learning as `apply(Delta)` over the seeded base — task outcomes, insight
//!   votes, reflections, hidden constraints (contradictions kept and surfaced), causal
//!   evidence, predictions vs actual for calibration.
//!
//! What it is not: it does not persist anything itself; the engine stores items and deltas as
//! packets (`world.*` kinds) in the memory substrate, projects items and learned facts into
//! the bitemporal knowledge graph, and folds the deltas in order ([`learn::fold`] with a
//! [`l9_types::AsOf`] for as-of views).

pub mod failure;
pub mod item;
pub mod learn;
pub mod seeds;

pub use item::{Anchor, Item, Pack, relevant};
pub use learn::{
    Calibration, Delta, KindBelief, Observation, Recorded, WorldState, apply, fold, learned_item,
};
