//! `l9-types` — the vocabulary every other crate speaks (tier T0, pure).
//!
//! * [`PacketEnvelope`]: the unit of memory. Every message, model call, tool call,
//!   decision and result is one envelope; its [`ContentHash`] covers kind, parents, body and
//!   blobs, so the lineage DAG is tamper-evident (a Merkle DAG).
//! * Ids ([`PacketId`], [`RunId`], [`TaskId`]) are UUIDv7: time-ordered, so sorting by id
//!   sorts by creation time, which is what cursor pagination relies on.
//! * Seams: [`Clock`] (system or manual) and [`SeededRng`]. Nothing in L9 reads the wall
//!   clock or an entropy source except through these, which is what makes tests and
//!   replays exact. `clippy.toml` forbids the direct calls elsewhere.
//! * [`Diagnostic`]: how compilers and validators report problems (severity, stable code,
//!   message, span, help) instead of failing.
//!
//! What it is not: no IO, no async, no storage. Values and pure functions only.

mod asof;
mod canonical;
mod clock;
mod diagnostic;
mod envelope;
mod hash;
mod id;
pub mod interchange;
pub mod limits;
pub mod redact;
mod rng;
pub mod yaml_depth;

pub use asof::AsOf;
pub use canonical::{canonical_json, write_canonical};
pub use clock::{Clock, ManualClock, SystemClock};
pub use diagnostic::{Diagnostic, Severity, Span};
pub use envelope::{
    BlobRef, ENVELOPE_VERSION, Effect, EnvelopeError, OLDEST_ENVELOPE_VERSION, PacketDraft,
    PacketEnvelope,
};
pub use hash::{ContentHash, HashParseError};
pub use id::{IdParseError, IdSource, PacketId, RunId, TaskId, derived_uuid};
pub use rng::SeededRng;
