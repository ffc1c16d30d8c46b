//! Group commit, the part both backends share: callers queue what they want written and
//! wait; a committer takes everything queued (up to a limit), writes it in one go and
//! answers each caller on its own, until the queue is empty. An append that arrives while
//! a batch is being written joins the next one, so concurrent writers share commits
//! instead of taking turns, and a lone writer waits for nobody.
//!
//! The committer is started by the caller whose push found nobody committing (`push`
//! says so); backends run it as a task of its own ([`GroupCommit::drive`]), so a caller
//! that is cancelled while waiting cannot leave the queue without a committer.
//!
//! **Lanes.** A push may carry a key (PostgreSQL: the task whose lease fences the append)
//! and allow up to `lanes` committers at once ([`GroupCommit::push_keyed`]): when the disk
//! makes each commit wait for its flush, a second statement sent meanwhile shares that
//! wait instead of queueing behind it. A key's items are never held by two committers at
//! once, so they are still written in the order they were queued; a committer that finds
//! only other committers' keys left, or more committers than lanes allowed now
//! ([`GroupCommit::drive_within`]), gives up its lane.
//!
//! **Bypass.** Where each append is better committed on its own (PostgreSQL, spreading: a disk
//! that makes each commit wait), a caller may send its items itself, beside the queue, when a
//! lane is free and nothing of its key is queued or held ([`GroupCommit::try_bypass`]): no
//! hand-off to a committer and back. It holds its key and a lane meanwhile, so the key's
//! later items still wait for it.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::{Result, StoreError};

/// A queue of items of type `T` waiting to be committed together.
#[derive(Debug)]
pub struct GroupCommit<T> {
    queue: Mutex<Queue<T>>,
}

#[derive(Debug)]
struct Queue<T> {
    pending: VecDeque<Queued<T>>,
    /// Committers running.
    drivers: usize,
    /// Keys of the items committers hold now (only with lanes: `drive` marks them), and of
    /// the callers committing their own items beside the queue ([`GroupCommit::try_bypass`]).
    busy: HashSet<u128>,
    /// Callers committing their own items beside the queue now.
    bypassing: usize,
}

#[derive(Debug)]
struct Queued<T> {
    key: u128,
    item: T,
    done: oneshot::Sender<Result<()>>,
}

impl<T> Default for GroupCommit<T> {
    fn default() -> Self {
        GroupCommit {
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                drivers: 0,
                busy: HashSet::new(),
                bypassing: 0,
            }),
        }
    }
}

/// The answers a caller waits for, one per item it pushed.
#[derive(Debug)]
pub struct Waiters(Vec<oneshot::Receiver<Result<()>>>);

impl Waiters {
    /// Waits for every answer; the first refusal is returned.
    pub async fn first_error(self) -> Result<()> {
        let mut first = Ok(());
        for rx in self.0 {
            let r = rx
                .await
                .map_err(|_| StoreError::Backend("the journal committer stopped".into()))?;
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// A batch taken from the queue: the items, their answer channels and their keys.
type Taken<T> = (Vec<T>, Vec<oneshot::Sender<Result<()>>>, Vec<u128>);

impl<T> Queue<T> {
    /// At most `max` items, in queue order, skipping the keys other committers hold (a
    /// skipped key's later items are skipped too, so each key's order is kept).
    fn take(&mut self, max: usize) -> Taken<T> {
        let max = max.max(1);
        let mut taken: Taken<T> = (Vec::new(), Vec::new(), Vec::new());
        let mut kept = VecDeque::new();
        for q in self.pending.drain(..) {
            if taken.0.len() < max && !self.busy.contains(&q.key) {
                taken.0.push(q.item);
                taken.1.push(q.done);
                taken.2.push(q.key);
            } else {
                kept.push_back(q);
            }
        }
        self.pending = kept;
        taken
    }
}

fn answer(senders: Vec<oneshot::Sender<Result<()>>>, answers: Vec<Result<()>>) {
    let mut answers = answers.into_iter();
    for done in senders {
        let r = answers.next().unwrap_or_else(|| {
            Err(StoreError::Backend("the committer gave no answer for an append".into()))
        });
        let _ = done.send(r);
    }
}

impl<T> GroupCommit<T> {
    /// Queues `items` (they are committed in this order) and says whether the caller must
    /// start the committer ([`GroupCommit::drive`]): nobody was committing.
    pub fn push(&self, items: Vec<T>) -> (bool, Waiters) {
        self.push_keyed(0, items, 1)
    }

    /// [`GroupCommit::push`] for items of one key, with up to `lanes` committers allowed at
    /// once: the caller must start one when nobody is committing, or when fewer than
    /// `lanes` are and none holds `key`.
    pub fn push_keyed(&self, key: u128, items: Vec<T>, lanes: usize) -> (bool, Waiters) {
        let mut waits = Vec::with_capacity(items.len());
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        for item in items {
            let (done, rx) = oneshot::channel();
            q.pending.push_back(Queued { key, item, done });
            waits.push(rx);
        }
        let start = q.drivers == 0 || (q.drivers + q.bypassing < lanes && !q.busy.contains(&key));
        if start {
            q.drivers += 1;
        }
        (start, Waiters(waits))
    }

    /// Whether the caller may commit items of `key` itself, beside the queue, instead of
    /// pushing them: when fewer than `lanes` callers do so now and no item of `key` is queued
    /// or held, so they cannot overtake an earlier one. Committers are not counted: one that
    /// just answered a caller goes back to the queue, and counting it sent that caller's next
    /// items through the queue again (most of them, with as many appenders as lanes). A
    /// `true` holds the key and a lane until [`GroupCommit::end_bypass`], so the key's later
    /// items wait for them.
    pub fn try_bypass(&self, key: u128, lanes: usize) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let free = q.bypassing < lanes
            && !q.busy.contains(&key)
            && !q.pending.iter().any(|p| p.key == key);
        if free {
            q.bypassing += 1;
            q.busy.insert(key);
        }
        free
    }

    /// Gives back the key and lane of [`GroupCommit::try_bypass`] (committed or not). Says
    /// whether the caller must start a committer ([`GroupCommit::drive`]): items wait and
    /// nobody is committing (one may have given up on this key's items while it was held).
    /// A caller that `cannot_start` one (no runtime left) takes no role.
    pub fn end_bypass(&self, key: u128, cannot_start: bool) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.bypassing = q.bypassing.saturating_sub(1);
        q.busy.remove(&key);
        let start = !cannot_start && q.drivers == 0 && !q.pending.is_empty();
        if start {
            q.drivers += 1;
        }
        start
    }

    /// Committers running now.
    #[cfg(test)]
    fn committers(&self) -> usize {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).drivers
    }

    /// One batch (at most `max` items) committed by the caller that holds the role, without
    /// awaiting anything: `commit` answers every item, or returns `None` when it would have
    /// to wait (it wrote nothing; the items go back to the head of the queue). Returns
    /// `true` when the queue was left empty and the role given up, `false` when the role
    /// is still the caller's and it must run [`GroupCommit::drive`] (in a task). For a
    /// queue of one lane (nothing awaits between taking and answering, so no key is
    /// marked held).
    pub fn commit_now<F>(&self, max: usize, commit: F) -> bool
    where
        F: FnOnce(&[T]) -> Option<Vec<Result<()>>>,
    {
        let (items, senders, keys) = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.pending.is_empty() {
                q.drivers = q.drivers.saturating_sub(1);
                return true;
            }
            q.take(max)
        };
        match commit(&items) {
            Some(answers) => {
                answer(senders, answers);
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.pending.is_empty() {
                    q.drivers = q.drivers.saturating_sub(1);
                    return true;
                }
                false
            }
            None => {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                // Back at the head, in their order.
                let back = items.into_iter().zip(senders).zip(keys).rev();
                for ((item, done), key) in back {
                    q.pending.push_front(Queued { key, item, done });
                }
                false
            }
        }
    }

    /// A committer: takes at most `max` queued items at a time (none of a key another
    /// committer holds), hands them to `commit` (which answers each, in order; a missing
    /// answer is a failure) and passes the answers on, until nothing is left for it; then
    /// gives up its lane under the queue's lock, so an item queued at that moment starts a
    /// new committer.
    pub async fn drive<F, Fut>(&self, max: usize, commit: F)
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<Result<()>>>,
    {
        self.drive_within(|_| max, || usize::MAX, commit).await;
    }

    /// [`GroupCommit::drive`] for a queue whose lanes may close: before each batch, a
    /// committer beyond the `lanes()` allowed now gives its lane up (another committer is
    /// running, so the queue is not left without one). Each batch takes at most
    /// `max(queued)` items, `queued` being how many wait now (so a backend may spread a
    /// queue over its lanes instead of one committer taking it all).
    pub async fn drive_within<M, L, F, Fut>(&self, max: M, lanes: L, mut commit: F)
    where
        M: Fn(usize) -> usize,
        L: Fn() -> usize,
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<Result<()>>>,
    {
        loop {
            let (items, senders, keys) = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.drivers > lanes().max(1) {
                    q.drivers -= 1;
                    return;
                }
                let cap = max(q.pending.len());
                let taken = q.take(cap);
                if taken.0.is_empty() {
                    // Empty, or only keys other committers hold (they come back for them).
                    q.drivers = q.drivers.saturating_sub(1);
                    return;
                }
                q.busy.extend(taken.2.iter().copied());
                taken
            };
            // Released even if `commit` panics, so the key's later items are not stranded.
            let release = Release { group: self, keys };
            let answers = commit(items).await;
            drop(release);
            answer(senders, answers);
        }
    }
}

/// Gives a committer's keys back when its batch is answered (or abandoned).
struct Release<'a, T> {
    group: &'a GroupCommit<T>,
    keys: Vec<u128>,
}

impl<T> Drop for Release<'_, T> {
    fn drop(&mut self) {
        let mut q = self.group.queue.lock().unwrap_or_else(|p| p.into_inner());
        for k in &self.keys {
            q.busy.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_caller_gets_its_own_answer_and_the_role_passes_on() {
        let g = std::sync::Arc::new(GroupCommit::<u32>::default());
        let (lead, first) = g.push(vec![1, 2]);
        assert!(lead);
        let (lead2, second) = g.push(vec![3]);
        assert!(!lead2, "a committer is already due");
        let batches = std::sync::Mutex::new(Vec::new());
        g.drive(2, |items: Vec<u32>| {
            batches.lock().unwrap().push(items.clone());
            async move {
                items
                    .iter()
                    .map(|i| if *i == 2 { Err(StoreError::Invalid("two".into())) } else { Ok(()) })
                    .collect()
            }
        })
        .await;
        assert_eq!(*batches.lock().unwrap(), vec![vec![1, 2], vec![3]], "at most 2 at a time");
        assert!(matches!(first.first_error().await, Err(StoreError::Invalid(_))));
        assert!(second.first_error().await.is_ok());
        // The role was given up: the next push starts a committer again.
        let (lead3, third) = g.push(vec![4]);
        assert!(lead3);
        g.drive(8, |items: Vec<u32>| async move { items.iter().map(|_| Ok(())).collect() }).await;
        assert!(third.first_error().await.is_ok());
    }

    #[tokio::test]
    async fn commit_now_answers_at_once_or_puts_the_batch_back() {
        let g = GroupCommit::<u32>::default();
        let (lead, first) = g.push(vec![1, 2]);
        assert!(lead);
        // Busy: nothing answered, the role stays with the caller, the items stay queued.
        assert!(!g.commit_now(8, |_| None));
        let (lead2, second) = g.push(vec![3]);
        assert!(!lead2);
        let seen = std::sync::Mutex::new(Vec::new());
        // One batch at most: [1, 2] (back at the head), then the role is still held for [3].
        assert!(!g.commit_now(2, |items| {
            seen.lock().unwrap().push(items.to_vec());
            Some(items.iter().map(|_| Ok(())).collect())
        }));
        assert!(first.first_error().await.is_ok());
        assert!(g.commit_now(8, |items| {
            seen.lock().unwrap().push(items.to_vec());
            Some(vec![Err(StoreError::Invalid("three".into()))])
        }));
        assert!(matches!(second.first_error().await, Err(StoreError::Invalid(_))));
        assert_eq!(*seen.lock().unwrap(), vec![vec![1, 2], vec![3]]);
        // The role was given up with the queue empty.
        assert!(g.push(vec![4]).0);
    }

    /// Two keys commit in two lanes at once; a key held by one committer is never taken by
    /// the other (its items stay in order), and a committer left with only held keys gives
    /// its lane up.
    #[tokio::test]
    async fn lanes_overlap_other_keys_and_keep_each_keys_order() {
        use std::sync::Arc;
        let g = Arc::new(GroupCommit::<u32>::default());
        let log = Arc::new(std::sync::Mutex::new(Vec::<Vec<u32>>::new()));
        let (lead, a1) = g.push_keyed(1, vec![10], 2);
        assert!(lead, "nobody was committing");
        // The first lane holds key 1 until `go` is sent.
        let (go, gate) = oneshot::channel::<()>();
        let gate = Arc::new(tokio::sync::Mutex::new(Some(gate)));
        let first = {
            let (g, log, gate) = (g.clone(), log.clone(), gate.clone());
            tokio::spawn(async move {
                g.drive(8, |items: Vec<u32>| {
                    log.lock().unwrap().push(items.clone());
                    let gate = gate.clone();
                    async move {
                        if let Some(rx) = gate.lock().await.take() {
                            let _ = rx.await;
                        }
                        items.iter().map(|_| Ok(())).collect()
                    }
                })
                .await
            })
        };
        while log.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let (lead, a2) = g.push_keyed(1, vec![11], 2);
        assert!(!lead, "key 1 is held: its next item waits for that lane");
        let (lead, b1) = g.push_keyed(2, vec![20, 21], 2);
        assert!(lead, "a second lane for another key");
        assert_eq!(g.committers(), 2);
        let (lead, _c) = g.push_keyed(3, vec![30], 2);
        assert!(!lead, "no more lanes than allowed");
        // The second lane commits keys 2 and 3 while the first is still in flight, skips
        // key 1, and gives its lane up with only key 1 left.
        g.drive(8, |items: Vec<u32>| {
            log.lock().unwrap().push(items.clone());
            async move { items.iter().map(|_| Ok(())).collect() }
        })
        .await;
        assert!(b1.first_error().await.is_ok());
        assert_eq!(g.committers(), 1);
        go.send(()).unwrap();
        first.await.unwrap();
        assert!(a1.first_error().await.is_ok() && a2.first_error().await.is_ok());
        assert_eq!(*log.lock().unwrap(), vec![vec![10], vec![20, 21, 30], vec![11]]);
        assert_eq!(g.committers(), 0);
        assert!(g.push_keyed(1, vec![12], 2).0, "all lanes given up");
    }

    /// A cap given the queue's length spreads a queue over the lanes: each batch takes its
    /// share of what waits then.
    #[tokio::test]
    async fn a_cap_of_the_queue_s_share_spreads_it() {
        let g = GroupCommit::<u32>::default();
        for k in 1..=6u32 {
            g.push_keyed(u128::from(k), vec![k], 3);
        }
        assert_eq!(g.committers(), 3);
        let seen = std::sync::Mutex::new(Vec::new());
        let commit = |items: Vec<u32>| {
            seen.lock().unwrap().push(items.clone());
            async move { items.iter().map(|_| Ok(())).collect() }
        };
        g.drive_within(|queued| queued.div_ceil(3), || 3, commit).await;
        assert_eq!(*seen.lock().unwrap(), vec![vec![1, 2], vec![3, 4], vec![5], vec![6]]);
    }

    /// Lanes that close send the committers beyond them home at their next batch; the
    /// last one stays and commits the rest.
    #[tokio::test]
    async fn committers_beyond_the_lanes_allowed_give_up_theirs() {
        let g = GroupCommit::<u32>::default();
        assert!(g.push_keyed(1, vec![10], 3).0);
        assert!(g.push_keyed(2, vec![20], 3).0);
        assert!(g.push_keyed(3, vec![30], 3).0);
        assert_eq!(g.committers(), 3);
        let seen = std::sync::Mutex::new(Vec::new());
        let commit = |items: Vec<u32>| {
            seen.lock().unwrap().push(items.clone());
            async move { items.iter().map(|_| Ok(())).collect() }
        };
        // One lane now: two of the three committers leave without taking anything.
        g.drive_within(|_| 8, || 1, commit).await;
        assert_eq!(g.committers(), 2);
        g.drive_within(|_| 8, || 1, commit).await;
        assert_eq!(g.committers(), 1);
        assert!(seen.lock().unwrap().is_empty());
        g.drive_within(|_| 8, || 1, commit).await;
        assert_eq!(*seen.lock().unwrap(), vec![vec![10, 20, 30]]);
        assert_eq!(g.committers(), 0);
    }

    /// A caller may commit its own items beside the queue only with a lane free and nothing
    /// of its key queued or held; the key's items queued meanwhile wait for it, and ending
    /// the bypass says to start a committer when nobody is left to commit them.
    #[tokio::test]
    async fn a_bypass_needs_a_free_lane_and_nothing_of_its_key_ahead() {
        let g = GroupCommit::<u32>::default();
        let seen = std::sync::Mutex::new(Vec::new());
        let commit = |items: Vec<u32>| {
            seen.lock().unwrap().push(items.clone());
            async move { items.iter().map(|_| Ok(())).collect() }
        };
        assert!(g.try_bypass(1, 2));
        assert!(!g.try_bypass(1, 2), "the key is held");
        assert!(g.try_bypass(2, 2));
        assert!(!g.try_bypass(3, 2), "both lanes are taken");
        assert!(!g.end_bypass(2, false), "nothing waits");
        // Key 1's next item queues; the committer started for it finds only a held key.
        let (start, w) = g.push_keyed(1, vec![10], 2);
        assert!(start);
        g.drive_within(|_| 8, || 2, commit).await;
        assert!(seen.lock().unwrap().is_empty(), "a held key's item waits");
        assert_eq!(g.committers(), 0);
        assert!(!g.end_bypass(1, true), "a caller without a runtime takes no role");
        assert_eq!(g.committers(), 0);
        assert!(!g.try_bypass(1, 2), "an item of the key is queued");
        // The role is taken by the next caller that ends a bypass.
        assert!(g.try_bypass(7, 2));
        assert!(g.end_bypass(7, false), "an item waits and nobody commits");
        assert_eq!(g.committers(), 1);
        g.drive_within(|_| 8, || 2, commit).await;
        w.first_error().await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![vec![10]]);
        assert!(g.try_bypass(1, 2), "nothing of key 1 is left ahead");
        // With a committer running, a push does not start another beyond the lanes.
        assert!(g.try_bypass(4, 2));
        assert!(g.push_keyed(5, vec![50], 2).0, "nobody was committing");
        assert!(!g.push_keyed(6, vec![60], 2).0, "two bypasses hold both lanes");
    }
}
