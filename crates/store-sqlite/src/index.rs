//! The background HNSW builder. A write that adds embeddings, or a search that finds
//! enough vectors not yet in the graph (`ann::TAIL`), starts it (one per store); it extends
//! the graph in slices of one parallel batch, taking the cache's lock per slice and doing the
//! work on a blocking thread, so searches run between slices and never wait for a whole
//! build (they scan the not-yet-indexed tail exactly). Stores at or below the exact-search
//! threshold need no graph and get none.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use l9_store::{Result, StoreError};
use sqlx::SqlitePool;
use tokio::sync::{Mutex, Notify};

use crate::ann::VectorCache;

/// Nodes per slice (one parallel batch on two cores is ~40 ms at 384 dimensions).
const SLICE: usize = 128;

#[derive(Debug)]
pub(crate) struct Builder {
    running: AtomicBool,
    /// Notified after every slice and when the builder stops.
    progress: Notify,
    /// Threads for one batch's searches.
    threads: usize,
    /// Graphs are built only beyond this many vectors.
    min_vectors: usize,
    enabled: bool,
    /// Why the last build stopped early, reported by the next [`Builder::wait`].
    failed: std::sync::Mutex<Option<String>>,
}

impl Builder {
    pub(crate) fn new(threads: usize, min_vectors: usize, enabled: bool) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        Builder {
            running: AtomicBool::new(false),
            progress: Notify::new(),
            threads,
            min_vectors,
            enabled,
            failed: std::sync::Mutex::new(None),
        }
    }

    /// Starts the builder unless it runs (or background builds are off).
    pub(crate) fn kick(self: &Arc<Self>, cache: &Arc<Mutex<VectorCache>>, pool: &SqlitePool) {
        if !self.enabled || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let (me, cache, pool) = (self.clone(), cache.clone(), pool.clone());
        tokio::spawn(async move {
            if let Err(e) = me.run(&cache, &pool, false).await
                && let Ok(mut f) = me.failed.lock()
            {
                *f = Some(e.to_string());
            }
            me.running.store(false, Ordering::Release);
            me.progress.notify_waiters();
        });
    }

    /// Extends the graph slice by slice until it covers every vector; unless `all`, only
    /// when a tail worth a build waits (`VectorCache::wants_build`).
    async fn run(
        &self,
        cache: &Arc<Mutex<VectorCache>>,
        pool: &SqlitePool,
        all: bool,
    ) -> Result<()> {
        let mut first = true;
        loop {
            let mut guard = VectorCache::catch_up(cache.clone().lock_owned().await, pool).await?;
            if guard.len() <= self.min_vectors {
                return Ok(());
            }
            guard.prepare(pool).await?;
            if first && !all && !guard.wants_build() {
                return Ok(());
            }
            first = false;
            let threads = self.threads;
            let (mut guard, done) = tokio::task::spawn_blocking(move || {
                let done = guard.extend(SLICE, threads);
                (guard, done)
            })
            .await
            .map_err(|e| StoreError::Backend(format!("index build thread: {e}")))?;
            if done {
                guard.finish(pool).await?;
                return Ok(());
            }
            drop(guard);
            self.progress.notify_waiters();
        }
    }

    /// Waits until the graph covers every stored vector (builds it in this task when
    /// background builds are off).
    pub(crate) async fn wait(
        self: &Arc<Self>,
        cache: &Arc<Mutex<VectorCache>>,
        pool: &SqlitePool,
    ) -> Result<()> {
        loop {
            if let Some(e) = self.failed.lock().ok().and_then(|mut f| f.take()) {
                return Err(StoreError::Backend(format!("building the vector index: {e}")));
            }
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let short = {
                let mut c = VectorCache::catch_up(cache.clone().lock_owned().await, pool).await?;
                c.prepare(pool).await?;
                if c.len() <= self.min_vectors || c.unindexed() == 0 {
                    return Ok(());
                }
                !c.wants_build()
            };
            if !self.enabled || short {
                // The builder's loop, in this task (a short tail the background leaves).
                return self.run(cache, pool, true).await;
            }
            self.kick(cache, pool);
            notified.await;
        }
    }
}
