//! UUIDv7 identifiers. Generated from a [`Clock`] and a [`SeededRng`] so tests get the same
//! ids every run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Clock, SeededRng};

/// A string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id (expected a UUID such as 0190f5c4-7b1e-7c3a-9d2e-1f2a3b4c5d6e): {0:?}")]
pub struct IdParseError(pub String);

/// Makes UUIDv7 values from a clock and a seeded random source.
#[derive(Debug)]
pub struct IdSource<'a> {
    pub clock: &'a dyn Clock,
    pub rng: &'a SeededRng,
}

impl IdSource<'_> {
    /// A UUIDv7 (RFC 9562) whose order follows generation order: the 48-bit millisecond
    /// timestamp, then 12 bits of sub-millisecond time (method 3), kept strictly increasing
    /// per generator, then 62 random bits.
    pub fn uuid(&self) -> Uuid {
        let now = self.clock.now();
        let ms = now.timestamp_millis().max(0) as u64;
        let sub = (u64::from(now.timestamp_subsec_nanos() % 1_000_000) * 4096) / 1_000_000;
        let tick = self.rng.next_tick((ms << 12) | sub);
        let (ms, a) = (tick >> 12, (tick & 0xfff) as u16);
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        b[6] = 0x70 | (a >> 8) as u8;
        b[7] = (a & 0xff) as u8;
        self.rng.fill(&mut b[8..]);
        b[8] = 0x80 | (b[8] & 0x3f);
        Uuid::from_bytes(b)
    }
}

/// A stable id for `key` in namespace `ns` (blake3 of `l9.{ns}\0{key}`, as a UUIDv8): the same
/// thing gets the same id in every process, so two processes storing it at once store it once.
pub fn derived_uuid(ns: &str, key: &str) -> Uuid {
    let h = blake3::hash(format!("l9.{ns}\0{key}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new(ids: &IdSource<'_>) -> Self {
                $name(ids.uuid())
            }
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map($name).map_err(|_| IdParseError(s.to_owned()))
            }
        }
    };
}

id_type!(
    /// Identifies one [`crate::PacketEnvelope`].
    PacketId
);
id_type!(
    /// Identifies one run (one execution of a spec).
    RunId
);
id_type!(
    /// Identifies one task within a run.
    TaskId
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn ids_are_v7_deterministic_and_time_ordered() {
        let clock = ManualClock::at_epoch_2026();
        let rng = SeededRng::from_seed(1);
        let ids = IdSource { clock: &clock, rng: &rng };
        let a = PacketId::new(&ids);
        clock.advance(chrono::Duration::milliseconds(1));
        let b = PacketId::new(&ids);
        assert_eq!(a.0.get_version_num(), 7);
        assert!(a < b);
        // Within one millisecond (the clock does not move) order still follows generation.
        let many: Vec<PacketId> = (0..5000).map(|_| PacketId::new(&ids)).collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]));
        assert!(many.iter().all(|id| id.0.get_version_num() == 7));
        let rng2 = SeededRng::from_seed(1);
        let clock2 = ManualClock::at_epoch_2026();
        let again = PacketId::new(&IdSource { clock: &clock2, rng: &rng2 });
        assert_eq!(a, again);
        assert_eq!(a.to_string().parse::<PacketId>().unwrap(), a);
        assert!("nope".parse::<PacketId>().is_err());
    }
}
