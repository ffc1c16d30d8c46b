//! How many journal statements the committer (`journal.rs`) keeps in flight at once.
//!
//! A statement commits as it ends, so its time is its own work (executing the inserts)
//! plus the commit's wait for the WAL flush. The first 4 statements of several entries, then
//! one in 16, are sent inside an explicit transaction so that the two can be timed apart. While the wait is the larger part — a
//! disk that makes each commit wait milliseconds for its flush — statements sent at once
//! share that wait (PostgreSQL flushes concurrent commits together), so up to `max` lanes
//! open; while the work is the larger part — a fast disk, the CPU the limit — more and
//! smaller statements would only cost more, and one lane is kept. The two parts are
//! compared with each other, not with a number of milliseconds, so the rule holds on a
//! faster or slower machine alike.

use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Lanes {
    max: usize,
    parts: Mutex<Parts>,
    open: AtomicUsize,
    statements: AtomicU64,
}

/// Moving averages of the timed statements' work and wait (µs).
#[derive(Debug, Default, Clone, Copy)]
struct Parts {
    seen: u64,
    work_us: f64,
    wait_us: f64,
}

/// One statement in this many is timed in two parts.
const SAMPLE_EVERY: u64 = 16;
/// Weight of the newest sample in the averages (about the last 8 count).
const WEIGHT: f64 = 1.0 / 8.0;
/// Samples taken before the averages decide anything.
const WARM_UP: u64 = 4;

/// The averaged parts of a timed statement, in µs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    pub work_us: f64,
    pub wait_us: f64,
}

impl Lanes {
    pub(crate) fn new(max: usize) -> Self {
        Lanes {
            max: max.max(1),
            parts: Mutex::new(Parts::default()),
            open: AtomicUsize::new(1),
            statements: AtomicU64::new(0),
        }
    }

    /// Statements allowed in flight at once now.
    pub(crate) fn now(&self) -> usize {
        self.open.load(Relaxed)
    }

    /// Whether the next statement is to be timed in two parts (the first [`WARM_UP`], then
    /// one in [`SAMPLE_EVERY`]). Nothing to decide with one lane at most: never.
    pub(crate) fn sample_next(&self) -> bool {
        let n = self.statements.fetch_add(1, Relaxed);
        self.max > 1 && (n < WARM_UP || n.is_multiple_of(SAMPLE_EVERY))
    }

    /// A timed statement: `work` executing it, `wait` committing it.
    pub(crate) fn record(&self, work: Duration, wait: Duration) {
        let mut p = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        let (work, wait) = (work.as_secs_f64() * 1e6, wait.as_secs_f64() * 1e6);
        let w = if p.seen == 0 { 1.0 } else { WEIGHT };
        p.work_us += w * (work - p.work_us);
        p.wait_us += w * (wait - p.wait_us);
        p.seen += 1;
        if p.seen >= WARM_UP {
            self.open.store(if p.wait_us > p.work_us { self.max } else { 1 }, Relaxed);
        }
    }

    /// The current averages (`None` before the first sample).
    pub(crate) fn estimate(&self) -> Option<Estimate> {
        let p = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        (p.seen > 0).then_some(Estimate { work_us: p.work_us, wait_us: p.wait_us })
    }
}

/// Most lanes for a pool of `max_connections`: half of them (the workers' claims,
/// heartbeats and reads need the rest), at least 1, at most 16.
pub(crate) fn lanes_for_pool(max_connections: u32) -> usize {
    (max_connections as usize / 2).clamp(1, 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(l: &Lanes, work_ms: f64, wait_ms: f64, n: usize) {
        for _ in 0..n {
            let ms = |x: f64| Duration::from_secs_f64(x / 1000.0);
            l.record(ms(work_ms), ms(wait_ms));
        }
    }

    #[test]
    fn a_disk_that_waits_opens_lanes_and_a_busy_cpu_keeps_one() {
        let l = Lanes::new(8);
        // Fast disk: a grouped statement works 0.8 ms, its flush 0.15 ms.
        feed(&l, 0.8, 0.15, 3);
        assert_eq!(l.now(), 1, "still warming up");
        assert!(l.estimate().is_some());
        feed(&l, 0.8, 0.15, 10);
        assert_eq!(l.now(), 1);
        // The disk turns slow: 4 ms flushes.
        feed(&l, 0.8, 4.0, 10);
        assert_eq!(l.now(), 8, "{:?}", l.estimate());
        // Smaller statements in more lanes: still mostly waiting.
        feed(&l, 0.3, 4.0, 10);
        assert_eq!(l.now(), 8);
        // A single slow flush among quick ones opens nothing.
        let q = Lanes::new(8);
        feed(&q, 0.8, 0.15, 10);
        feed(&q, 0.8, 4.0, 1);
        assert_eq!(q.now(), 1, "{:?}", q.estimate());
        // And back: a fast disk closes them (within about the last 8 samples' memory).
        feed(&l, 0.5, 0.15, 20);
        assert_eq!(l.now(), 1, "{:?}", l.estimate());
    }

    #[test]
    fn statements_are_sampled_only_when_there_is_something_to_decide() {
        let l = Lanes::new(4);
        let sampled: Vec<bool> = (0..40).map(|_| l.sample_next()).collect();
        let at: Vec<usize> = (0..40).filter(|&i| sampled[i]).collect();
        assert_eq!(at, [0, 1, 2, 3, 16, 32]);
        let one = Lanes::new(1);
        assert!((0..40).all(|_| !one.sample_next()), "one lane at most: nothing to time");
        assert_eq!(lanes_for_pool(1), 1);
        assert_eq!(lanes_for_pool(8), 4);
        assert_eq!(lanes_for_pool(40), 16);
    }
}
