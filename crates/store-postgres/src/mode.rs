//! Whether the journal's committer groups appends (one statement for all that wait, in the
//! lanes `lanes.rs` allows) or spreads them over all its lanes (each committer takes its share
//! of the queue, so appends arriving one by one go in statements of their own, side by side;
//! a caller with a lane free sends its own, `journal.rs`).
//!
//! Which is faster depends on the disk and the CPU, and the timed parts of a statement cannot
//! tell (the mode changes them), so the committer measures what it is after: entries committed
//! per second in windows of [`WINDOW`] entries. It starts grouped; after [`FIRST_TRIAL`]
//! windows it tries the other mode for one window and keeps it when that window committed at
//! least [`BETTER`] times the rate of the last window of the mode it left; otherwise it goes
//! back and waits twice as long before the next trial (at most [`MAX_BACKOFF`] times
//! [`TRIAL_EVERY`] windows). Both modes are correct: a trial costs speed, never order or
//! durability. A window only measures what the load was then (one that spans a pause in the
//! load measures the pause too); a trial that lands on a change of load is corrected by a
//! later one. A window where most entries went alone (only one task's entries in their
//! batch, no other batch in flight: one appender at a time, where both modes are the same)
//! decides nothing, so a light load neither triggers trials nor backs them off. One task's
//! entries together (a workflow's pure steps, written behind in batches) count as alone:
//! counted as contended, a lone workflow's write-behind once ran a trial that could not win
//! and backed the next one off past the 16 workflows that came after it.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

use tokio::time::Instant;

/// Entries per measured window.
const WINDOW: u64 = 256;
/// Windows before the first trial.
const FIRST_TRIAL: u32 = 1;
/// Windows between trials, times the backoff.
const TRIAL_EVERY: u32 = 8;
/// Largest backoff (so a trial comes at least every `TRIAL_EVERY * MAX_BACKOFF` windows).
const MAX_BACKOFF: u32 = 32;
/// How much faster a trial must commit to be kept.
const BETTER: f64 = 1.1;

#[derive(Debug)]
pub(crate) struct Chooser {
    /// Off with one lane at most: nothing to spread over.
    enabled: bool,
    spread: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    entries: u64,
    /// Of `entries`, those committed beside others (several in their batch, or another batch
    /// in flight).
    contended: u64,
    since: Option<Instant>,
    /// The last window's rate of each mode (entries/s): grouped, spread.
    last: [f64; 2],
    trial: bool,
    until_trial: u32,
    backoff: u32,
    switches: u64,
}

impl Chooser {
    pub(crate) fn new(max_lanes: usize) -> Self {
        Chooser {
            enabled: max_lanes > 1,
            spread: AtomicBool::new(false),
            state: Mutex::new(State {
                entries: 0,
                contended: 0,
                since: None,
                last: [0.0; 2],
                trial: false,
                until_trial: FIRST_TRIAL,
                backoff: 1,
                switches: 0,
            }),
        }
    }

    /// Tests: this mode from now on, no trials.
    #[cfg(test)]
    pub(crate) fn force(&self, spread: bool) {
        self.spread.store(spread, Relaxed);
        self.state.lock().unwrap_or_else(|p| p.into_inner()).until_trial = u32::MAX;
    }

    /// Whether appends are spread over the lanes now.
    pub(crate) fn spread(&self) -> bool {
        self.spread.load(Relaxed)
    }

    /// Mode changes so far (trials and their returns).
    pub(crate) fn switches(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).switches
    }

    /// `entries` were committed (answered) at `now`, `contended` if beside others (several in
    /// the batch, or another batch in flight).
    pub(crate) fn committed(&self, entries: usize, contended: bool, now: Instant) {
        if !self.enabled {
            return;
        }
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(since) = st.since else {
            st.since = Some(now);
            return;
        };
        st.entries += entries as u64;
        if contended {
            st.contended += entries as u64;
        }
        let secs = now.saturating_duration_since(since).as_secs_f64();
        if st.entries < WINDOW || secs <= 0.0 {
            return;
        }
        let rate = st.entries as f64 / secs;
        let alone = st.contended * 2 < st.entries;
        st.entries = 0;
        st.contended = 0;
        st.since = Some(now);
        if alone {
            return;
        }
        let spread = self.spread.load(Relaxed);
        st.last[usize::from(spread)] = rate;
        if st.trial {
            st.trial = false;
            if rate >= BETTER * st.last[usize::from(!spread)] {
                st.backoff = 1;
            } else {
                self.spread.store(!spread, Relaxed);
                st.switches += 1;
                st.backoff = (st.backoff * 2).min(MAX_BACKOFF);
            }
            st.until_trial = TRIAL_EVERY * st.backoff;
        } else {
            st.until_trial = st.until_trial.saturating_sub(1);
            if st.until_trial == 0 {
                self.spread.store(!spread, Relaxed);
                st.switches += 1;
                st.trial = true;
            }
        }
        // The window after a change starts at the change.
        st.since = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Feeds `windows` windows, each at `rate(spread)` entries/s of the mode on then;
    /// returns how many of them were spread.
    fn run(c: &Chooser, t: &mut Instant, windows: usize, rate: impl Fn(bool) -> f64) -> usize {
        let mut spread = 0;
        for _ in 0..windows {
            let s = c.spread();
            spread += usize::from(s);
            *t += Duration::from_secs_f64(WINDOW as f64 / rate(s));
            c.committed(WINDOW as usize, true, *t);
        }
        spread
    }

    #[test]
    fn keeps_the_mode_that_commits_faster_and_tries_the_other_less_often() {
        let mut t = Instant::now();
        let fast = |s: bool| if s { 4_800.0 } else { 7_000.0 };
        let slow = |s: bool| if s { 2_700.0 } else { 1_900.0 };
        // A fast disk: grouping commits 7,000 entries/s, spreading 4,800. Trials after 1,
        // then 16, 32, 64, … windows: few of 400 spread.
        let c = Chooser::new(16);
        c.committed(0, true, t);
        let n = run(&c, &mut t, 400, fast);
        assert!(n <= 6, "{n} of 400 windows spread");
        // A slow disk: spreading commits 2,700/s, grouping 1,900; the first trial is kept.
        let c = Chooser::new(16);
        c.committed(0, true, t);
        assert_eq!(run(&c, &mut t, 1, slow), 0);
        assert!(c.spread(), "trying");
        assert_eq!(run(&c, &mut t, 1, slow), 1);
        assert!(c.spread(), "kept");
        let n = run(&c, &mut t, 400, slow);
        assert!(n >= 394, "{n} of 400 windows spread");
        // The disk turns fast: a later trial of grouping is kept.
        run(&c, &mut t, 600, fast);
        let n = run(&c, &mut t, 100, fast);
        assert!(n <= 2, "{n} of the last 100 windows spread");
        // Equal rates: a trial needs 10 % more, so grouping stays.
        let c = Chooser::new(16);
        c.committed(0, true, t);
        let n = run(&c, &mut t, 400, |_| 5_000.0);
        assert!(n <= 6, "{n}");
        // Appends that go alone decide nothing: no trial, however long.
        let c = Chooser::new(16);
        c.committed(0, false, t);
        for _ in 0..400 {
            t += Duration::from_millis(100);
            c.committed(WINDOW as usize, false, t);
        }
        assert!(!c.spread() && c.switches() == 0);
        // One lane at most: never spread.
        let one = Chooser::new(1);
        one.committed(0, true, t);
        assert_eq!(run(&one, &mut t, 100, |s| if s { 9_000.0 } else { 1_000.0 }), 0);
    }
}
