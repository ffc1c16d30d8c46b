//! The clock seam. Production uses [`SystemClock`]; tests and replays use [`ManualClock`].

use std::sync::Arc;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Where "now" comes from. Everything time-dependent takes a `&dyn Clock`.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // this is the seam
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock { now: Arc::new(Mutex::new(start)) }
    }

    /// A fixed, arbitrary start: 2026-01-01T00:00:00Z.
    pub fn at_epoch_2026() -> Self {
        Self::new(DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default())
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at_epoch_2026();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(Duration::seconds(5));
        assert_eq!(c.now() - t0, Duration::seconds(5));
        let shared = c.clone();
        shared.advance(Duration::seconds(1));
        assert_eq!(c.now() - t0, Duration::seconds(6));
    }
}
