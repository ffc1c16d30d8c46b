//! A load written in parts on SQLite (one write lock, held until the load commits) is embedded
//! ahead of its write when the embedder is a model: another writer is not held off while the
//! model embeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use l9_memory::{HashEmbedder, MemoryService};
use l9_store::{Store, WriteBatch};
use l9_store_sqlite::{SqliteOptions, SqliteStore};
use l9_types::{ManualClock, PacketDraft, PacketEnvelope, SeededRng};

/// The hash embedder, reporting itself as a model (`cheap` false) or not, that writes one
/// packet to the store while it embeds the second part and keeps what that write did.
#[derive(Debug)]
struct Busy {
    inner: HashEmbedder,
    cheap: bool,
    store: Arc<SqliteStore>,
    packet: Arc<Mutex<Option<PacketEnvelope>>>,
    seen: std::sync::atomic::AtomicUsize,
    wrote: Arc<Mutex<Option<Result<(), String>>>>,
}

#[async_trait::async_trait]
impl l9_memory::Embedder for Busy {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn dims(&self) -> usize {
        self.inner.dims()
    }
    fn cheap(&self) -> bool {
        self.cheap
    }
    async fn embed(&self, t: &[String]) -> l9_memory::Result<Vec<Vec<f32>>> {
        let before = self.seen.fetch_add(t.len(), std::sync::atomic::Ordering::SeqCst);
        let packet = self.packet.lock().unwrap().clone();
        if before >= l9_memory::INGEST_PART
            && let Some(p) = packet
            && self.wrote.lock().unwrap().is_none()
        {
            let batch = WriteBatch { packets: vec![p], ..Default::default() };
            let r = match tokio::time::timeout(Duration::from_secs(2), self.store.write(&batch))
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("still waiting after 2 s".into()),
            };
            *self.wrote.lock().unwrap() = Some(r);
        }
        self.inner.embed(t).await
    }
}

#[tokio::test]
async fn a_model_embeds_a_large_load_ahead_of_its_write() {
    for cheap in [false, true] {
        let dir = l9_test_support::temp_dir();
        let opts = SqliteOptions::default();
        let store = Arc::new(SqliteStore::open(&dir.path().join("l9.db"), opts).await.unwrap());
        let packet = Arc::new(Mutex::new(None));
        let wrote = Arc::new(Mutex::new(None));
        let embedder = Busy {
            inner: HashEmbedder::default(),
            cheap,
            store: store.clone(),
            packet: packet.clone(),
            seen: 0.into(),
            wrote: wrote.clone(),
        };
        let mem = MemoryService::open(
            store.clone(),
            Arc::new(embedder),
            Arc::new(ManualClock::at_epoch_2026()),
            Arc::new(SeededRng::from_seed(1)),
        )
        .await
        .unwrap();
        assert_eq!(mem.embeds_ahead(), !cheap);
        let other = mem.seal(PacketDraft::new("note").text("written meanwhile"), vec![], None);
        *packet.lock().unwrap() = Some(other.unwrap().packet);
        let n = l9_memory::INGEST_PART * 2 + 100;
        let items: Vec<_> = (0..n)
            .map(|i| {
                let text = format!("note {i} about topic {} and word{i}", i % 17);
                mem.seal(PacketDraft::new("note").text(text), vec![], None).unwrap()
            })
            .collect();
        let r = mem.ingest(items).await.unwrap();
        assert_eq!((r.packets_inserted, r.embeddings_inserted), (n, n));
        let meanwhile = wrote.lock().unwrap().clone().expect("the embedder wrote");
        if cheap {
            // Embedded inside the load's transaction: the other writer waited.
            assert!(meanwhile.is_err(), "{meanwhile:?}");
        } else {
            assert_eq!(meanwhile, Ok(()));
            assert_eq!(store.count_packets(&Default::default()).await.unwrap() as usize, n + 1);
        }
    }
}
