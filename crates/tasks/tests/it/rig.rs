//! Shared fixtures: a store on a manual clock, and a worker that drains the queue.

use std::sync::Arc;
use std::time::Duration;

use l9_store::{NewTask, Store, TaskRecord};
use l9_store_sqlite::{SqliteOptions, SqliteStore};
use l9_tasks::{Registry, Worker, WorkerOptions, WorkerReport};
use l9_test_support::TempDir;
use l9_types::{Clock, IdSource, ManualClock, SeededRng, TaskId};
use serde_json::Value;

pub struct Rig {
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub rng: SeededRng,
    pub _dir: TempDir,
}

impl Rig {
    pub async fn sqlite() -> Rig {
        let dir = l9_test_support::temp_dir();
        let store = SqliteStore::open(
            &dir.path().join("l9.db"),
            SqliteOptions { dims: 8, ..Default::default() },
        )
        .await
        .unwrap();
        Rig {
            store: Arc::new(store),
            clock: Arc::new(ManualClock::at_epoch_2026()),
            rng: SeededRng::from_seed(5),
            _dir: dir,
        }
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    pub fn opts(&self, id: &str) -> WorkerOptions {
        WorkerOptions {
            id: id.into(),
            concurrency: 4,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(5),
            shutdown_grace: Duration::from_millis(200),
            retry_base: Duration::ZERO,
            exit_when_idle: true,
            ..Default::default()
        }
    }

    /// Runs a worker until nothing is claimable.
    pub async fn drain(&self, reg: &Registry) -> WorkerReport {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        Worker::new(self.store.clone(), self.clock(), Arc::new(reg.clone()), self.opts("w"))
            .run(rx)
            .await
            .unwrap()
    }

    pub async fn start(&self, kind: &str, payload: Value) -> TaskId {
        let id = TaskId::new(&IdSource { clock: self.clock.as_ref(), rng: &self.rng });
        let mut t = NewTask::new(id, "default", kind, payload);
        t.max_attempts = 0;
        self.store.tasks().enqueue(&[t], self.clock.now()).await.unwrap();
        id
    }

    pub async fn task(&self, id: TaskId) -> TaskRecord {
        self.store.tasks().get_task(id).await.unwrap().unwrap()
    }
}
