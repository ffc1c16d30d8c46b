//! The randomness seam: a seeded ChaCha8 generator, stable across platforms and versions.

use std::sync::Mutex;

use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};

/// A seeded, thread-safe random source. Same seed, same sequence, everywhere.
#[derive(Debug)]
pub struct SeededRng {
    inner: Mutex<ChaCha8Rng>,
    /// The last id tick handed out (see [`SeededRng::next_tick`]).
    last_tick: Mutex<u64>,
}

impl SeededRng {
    pub fn from_seed(seed: u64) -> Self {
        SeededRng { inner: Mutex::new(ChaCha8Rng::seed_from_u64(seed)), last_tick: Mutex::new(0) }
    }

    /// A generator seeded from the operating system: for production ids only. Tests and
    /// replays use [`SeededRng::from_seed`].
    pub fn from_entropy() -> Self {
        let mut seed = [0u8; 32];
        // The OS entropy source is the one place nondeterminism enters.
        let mut os = rand::rngs::SysRng;
        if rand::TryRng::try_fill_bytes(&mut os, &mut seed).is_err() {
            // No entropy available: fall back to address-space noise rather than failing.
            let noise = (&seed as *const _ as usize) as u64;
            seed[..8].copy_from_slice(&noise.to_le_bytes());
        }
        SeededRng { inner: Mutex::new(ChaCha8Rng::from_seed(seed)), last_tick: Mutex::new(0) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    pub fn next_u64(&self) -> u64 {
        self.with(|r| r.next_u64())
    }

    /// `max(tick, last + 1)`, remembered: a strictly increasing sequence for id generation
    /// even when the clock stands still or steps back.
    pub fn next_tick(&self, tick: u64) -> u64 {
        let mut last = self.last_tick.lock().unwrap_or_else(|e| e.into_inner());
        let t = tick.max(last.saturating_add(1));
        *last = t;
        t
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&self) -> f64 {
        self.with(|r| r.random::<f64>())
    }

    pub fn fill(&self, buf: &mut [u8]) {
        self.with(|r| r.fill_bytes(buf))
    }

    /// Uniform in `0..n` (n > 0; returns 0 for n == 0).
    pub fn below(&self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.with(|r| r.random_range(0..n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let a = SeededRng::from_seed(7);
        let b = SeededRng::from_seed(7);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(SeededRng::from_seed(8).next_u64(), xs[0]);
        for _ in 0..100 {
            let f = a.next_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(a.below(3) < 3);
        }
    }
}
