//! Deterministic fixtures for the conformance suite.

use chrono::Duration;
use l9_types::{IdSource, ManualClock, PacketDraft, PacketEnvelope, PacketId, SeededRng};

use crate::{Store, WriteBatch, WriteReport};

/// The embedding dimension conformance stores are created with.
pub const DIMS: usize = 8;

/// A seeded clock + rng that makes packets with deterministic ids and times. Each packet
/// advances the clock by one millisecond so ids and times are strictly increasing.
#[derive(Debug)]
pub struct Fx {
    pub clock: ManualClock,
    pub rng: SeededRng,
}

impl Default for Fx {
    fn default() -> Self {
        Fx::new(7)
    }
}

impl Fx {
    pub fn new(seed: u64) -> Self {
        Fx { clock: ManualClock::at_epoch_2026(), rng: SeededRng::from_seed(seed) }
    }

    pub fn seal(&self, draft: PacketDraft) -> PacketEnvelope {
        self.clock.advance(Duration::milliseconds(1));
        draft.seal(&IdSource { clock: &self.clock, rng: &self.rng }).expect("valid draft")
    }

    pub fn note(&self, text: &str) -> PacketEnvelope {
        self.seal(PacketDraft::new("note").text(text))
    }

    pub fn child(&self, text: &str, parents: &[PacketId]) -> PacketEnvelope {
        let mut d = PacketDraft::new("note").text(text);
        for p in parents {
            d = d.parent(*p);
        }
        self.seal(d)
    }

    pub fn uuid(&self) -> uuid::Uuid {
        IdSource { clock: &self.clock, rng: &self.rng }.uuid()
    }
}

pub async fn put(store: &dyn Store, packets: &[PacketEnvelope]) -> WriteReport {
    store
        .write(&WriteBatch { packets: packets.to_vec(), ..Default::default() })
        .await
        .expect("write")
}

/// A unit vector along axis `i` mixed with a little of axis `j`.
pub fn axis(i: usize, j: usize, mix: f32) -> Vec<f32> {
    let mut v = vec![0.0; DIMS];
    v[i % DIMS] = 1.0;
    v[j % DIMS] += mix;
    v
}
