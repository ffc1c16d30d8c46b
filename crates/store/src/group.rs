//! Group commit, the part both backends share: callers queue what they want written and
//! wait; one committer at a time takes everything queued (up to a limit), writes it in one
//! go and answers each caller on its own, until the queue is empty. An append that
//! arrives while a batch is being written joins the next one, so concurrent writers share
//! commits instead of taking turns, and a lone writer waits for nobody.
//!
//! The committer is started by the caller whose push found nobody committing (`push`
//! says so); backends run it as a task of its own ([`GroupCommit::drive`]), so a caller
//! that is cancelled while waiting cannot leave the queue without a committer.

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
    pending: Vec<(T, oneshot::Sender<Result<()>>)>,
    committing: bool,
}

impl<T> Default for GroupCommit<T> {
    fn default() -> Self {
        GroupCommit { queue: Mutex::new(Queue { pending: Vec::new(), committing: false }) }
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

impl<T> GroupCommit<T> {
    /// Queues `items` (they are committed in this order) and says whether the caller must
    /// start the committer ([`GroupCommit::drive`]): nobody was committing.
    pub fn push(&self, items: Vec<T>) -> (bool, Waiters) {
        let mut waits = Vec::with_capacity(items.len());
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        for item in items {
            let (done, rx) = oneshot::channel();
            q.pending.push((item, done));
            waits.push(rx);
        }
        (!std::mem::replace(&mut q.committing, true), Waiters(waits))
    }

    /// One batch (at most `max` items) committed by the caller that holds the role, without
    /// awaiting anything: `commit` answers every item, or returns `None` when it would have
    /// to wait (it wrote nothing; the items go back to the head of the queue). Returns
    /// `true` when the queue was left empty and the role given up, `false` when the role
    /// is still the caller's and it must run [`GroupCommit::drive`] (in a task).
    pub fn commit_now<F>(&self, max: usize, commit: F) -> bool
    where
        F: FnOnce(&[T]) -> Option<Vec<Result<()>>>,
    {
        let (items, senders): (Vec<T>, Vec<oneshot::Sender<Result<()>>>) = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.pending.is_empty() {
                q.committing = false;
                return true;
            }
            let n = q.pending.len().min(max.max(1));
            q.pending.drain(..n).unzip()
        };
        match commit(&items) {
            Some(answers) => {
                let mut answers = answers.into_iter();
                for done in senders {
                    let r = answers.next().unwrap_or_else(|| {
                        Err(StoreError::Backend(
                            "the committer gave no answer for an append".into(),
                        ))
                    });
                    let _ = done.send(r);
                }
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.pending.is_empty() {
                    q.committing = false;
                    return true;
                }
                false
            }
            None => {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                q.pending.splice(0..0, items.into_iter().zip(senders));
                false
            }
        }
    }

    /// The committer: takes at most `max` queued items at a time, hands them to `commit`
    /// (which answers each, in order; a missing answer is a failure) and passes the answers
    /// on, until the queue is empty; then gives up the role under the queue's lock, so an
    /// item queued at that moment starts a new committer.
    pub async fn drive<F, Fut>(&self, max: usize, mut commit: F)
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<Result<()>>>,
    {
        loop {
            let (items, senders): (Vec<T>, Vec<oneshot::Sender<Result<()>>>) = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.pending.is_empty() {
                    q.committing = false;
                    return;
                }
                let n = q.pending.len().min(max.max(1));
                q.pending.drain(..n).unzip()
            };
            let mut answers = commit(items).await.into_iter();
            for done in senders {
                let r = answers.next().unwrap_or_else(|| {
                    Err(StoreError::Backend("the committer gave no answer for an append".into()))
                });
                let _ = done.send(r);
            }
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
}
