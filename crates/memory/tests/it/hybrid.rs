use std::sync::Arc;

use l9_memory::{BlobInput, HashEmbedder, MemoryService, SearchMode, SearchQuery};
use l9_store::{Direction, PacketFilter};
use l9_store_sqlite::{SqliteOptions, SqliteStore};
use l9_types::{ManualClock, PacketDraft, SeededRng};

async fn service(dir: &std::path::Path) -> MemoryService {
    let store = SqliteStore::open(&dir.join("l9.db"), SqliteOptions::default()).await.unwrap();
    MemoryService::open(
        Arc::new(store),
        Arc::new(HashEmbedder::default()),
        Arc::new(ManualClock::at_epoch_2026()),
        Arc::new(SeededRng::from_seed(1)),
    )
    .await
    .unwrap()
}

const CORPUS: &[(&str, &str)] = &[
    ("decision", "Use PostgreSQL with pgvector for scale-out storage of embeddings"),
    ("decision", "Retry failed model calls with exponential backoff and jitter"),
    ("note", "The cache layer invalidates entries when the schema migration runs"),
    ("note", "Workers claim tasks with a lease and renew it with heartbeats"),
    ("failure", "Migration failed because the database was locked by another writer"),
    ("note", "Kittens sleep most of the day"),
];

#[tokio::test]
async fn hybrid_search_fuses_text_and_vectors() {
    let dir = l9_test_support::temp_dir();
    let mem = service(dir.path()).await;
    let mut ids = Vec::new();
    for (kind, text) in CORPUS {
        ids.push(mem.put(PacketDraft::new(*kind).text(*text), vec![]).await.unwrap().id);
    }
    let q = |text: &str, mode, filter| SearchQuery { text: text.into(), filter, k: 3, mode };
    // Morphological variant: "migrations" is not a stored term, but trigrams carry it.
    let vec_only = mem
        .search(&q("database migrations locked", SearchMode::Vector, Default::default()))
        .await
        .unwrap();
    assert_eq!(vec_only[0].id, ids[4]);
    let hybrid = mem
        .search(&q("database migration locked", SearchMode::Hybrid, Default::default()))
        .await
        .unwrap();
    assert_eq!(hybrid[0].id, ids[4]);
    assert!(hybrid[0].text_rank.is_some() && hybrid[0].vector_rank.is_some());
    assert!(hybrid.windows(2).all(|w| w[0].score >= w[1].score));
    let text_only =
        mem.search(&q("heartbeats", SearchMode::Text, Default::default())).await.unwrap();
    assert_eq!(text_only.iter().map(|h| h.id).collect::<Vec<_>>(), vec![ids[3]]);
    // Filters apply to both lists.
    let only_notes = PacketFilter { kinds: vec!["note".into()], ..Default::default() };
    let hits = mem.search(&q("database migration", SearchMode::Hybrid, only_notes)).await.unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h.packet.kind == "note"));
    assert!(
        mem.search(&q("   ", SearchMode::Hybrid, Default::default())).await.unwrap().is_empty()
    );
}

#[tokio::test]
async fn put_with_blobs_and_lineage() {
    let dir = l9_test_support::temp_dir();
    let mem = service(dir.path()).await;
    let spec = mem.put(PacketDraft::new("spec").text("a small spec"), vec![]).await.unwrap();
    let out = mem
        .put(
            PacketDraft::new("tool.result").text("test output").parent(spec.id),
            vec![BlobInput {
                data: b"ok 12 passed".to_vec(),
                media_type: Some("text/plain".into()),
                name: None,
            }],
        )
        .await
        .unwrap();
    assert_eq!(mem.blob(&out.blobs[0].hash).await.unwrap().unwrap(), b"ok 12 passed");
    let up = mem.lineage(out.id, Direction::Up, 5).await.unwrap();
    assert_eq!(up.iter().map(|e| e.id).collect::<Vec<_>>(), vec![spec.id]);
    assert!(mem.store().has_embedding(out.id).await.unwrap());
}

#[tokio::test]
async fn another_embedder_is_refused() {
    let dir = l9_test_support::temp_dir();
    drop(service(dir.path()).await);
    let store =
        SqliteStore::open(&dir.path().join("l9.db"), SqliteOptions::default()).await.unwrap();
    #[derive(Debug)]
    struct Other;
    #[async_trait::async_trait]
    impl l9_memory::Embedder for Other {
        fn name(&self) -> String {
            "other".into()
        }
        fn dims(&self) -> usize {
            384
        }
        async fn embed(&self, t: &[String]) -> l9_memory::Result<Vec<Vec<f32>>> {
            Ok(vec![vec![1.0; 384]; t.len()])
        }
    }
    let err = MemoryService::open(
        Arc::new(store),
        Arc::new(Other),
        Arc::new(ManualClock::at_epoch_2026()),
        Arc::new(SeededRng::from_seed(1)),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("hash-v1"), "{err}");
}

#[tokio::test]
async fn knowledge_graph_through_the_service() {
    let dir = l9_test_support::temp_dir();
    let mem = service(dir.path()).await;
    let now = mem.clock().now();
    let a = mem.add_entity("service", "billing", serde_json::json!({}), now, None).await.unwrap();
    let b = mem.add_entity("database", "postgres", serde_json::json!({}), now, None).await.unwrap();
    let r = mem.relate("uses", a.id, b.id, now, None).await.unwrap();
    mem.invalidate_relation(r.id, now + chrono::Duration::days(1)).await.unwrap();
    let rels = mem.store().relations(&Default::default()).await.unwrap();
    assert_eq!(rels.len(), 1);
    assert!(rels[0].valid_to.is_some());
}

/// The hash embedder that fails once it has embedded `fail_after` texts.
#[derive(Debug)]
struct Flaky {
    inner: HashEmbedder,
    fail_after: usize,
    seen: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl l9_memory::Embedder for Flaky {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn dims(&self) -> usize {
        self.inner.dims()
    }
    async fn embed(&self, t: &[String]) -> l9_memory::Result<Vec<Vec<f32>>> {
        let before = self.seen.fetch_add(t.len(), std::sync::atomic::Ordering::SeqCst);
        if before + t.len() > self.fail_after {
            return Err(l9_memory::MemoryError::Embed {
                embedder: "flaky".into(),
                message: "gave up".into(),
                setting: "memory.embedder".into(),
            });
        }
        self.inner.embed(t).await
    }
}

/// A large ingest is embedded and written a part at a time, in one transaction: all of it
/// is stored and searchable, progress reaches the total; an embedder failing in a later
/// part stores nothing and its own error is what the caller sees.
#[tokio::test]
async fn a_large_ingest_goes_in_parts_all_or_nothing() {
    use l9_memory::Embedder;
    let n = l9_memory::INGEST_PART * 2 + 100;
    for fail_after in [n + 1, l9_memory::INGEST_PART + 10] {
        let dir = l9_test_support::temp_dir();
        let store =
            SqliteStore::open(&dir.path().join("l9.db"), SqliteOptions::default()).await.unwrap();
        let embedder = Flaky { inner: HashEmbedder::default(), fail_after, seen: 0.into() };
        let mem = MemoryService::open(
            Arc::new(store),
            Arc::new(embedder),
            Arc::new(ManualClock::at_epoch_2026()),
            Arc::new(SeededRng::from_seed(1)),
        )
        .await
        .unwrap();
        let items: Vec<_> = (0..n)
            .map(|i| {
                let text = format!("note {i} about topic {} and word{i}", i % 17);
                mem.seal(PacketDraft::new("note").text(text), vec![], None).unwrap()
            })
            .collect();
        let last = std::sync::atomic::AtomicUsize::new(0);
        let res = mem
            .ingest_with_progress(items, &|done, total| {
                assert_eq!(total, n);
                last.store(done, std::sync::atomic::Ordering::SeqCst);
            })
            .await;
        let stored = mem.store().count_packets(&Default::default()).await.unwrap();
        if fail_after > n {
            let r = res.unwrap();
            assert_eq!((r.packets_inserted, r.embeddings_inserted), (n, n));
            assert_eq!(last.into_inner(), n);
            assert_eq!(stored as usize, n);
            let q = SearchQuery {
                text: format!("word{}", n - 1),
                filter: Default::default(),
                k: 1,
                mode: SearchMode::Hybrid,
            };
            let hit = mem.search(&q).await.unwrap();
            assert!(hit[0].packet.text.as_deref().unwrap().ends_with(&format!("word{}", n - 1)));
            let texts = ["note 5 about topic 5 and word5".to_string()];
            let v = HashEmbedder::default().embed(&texts).await.unwrap().remove(0);
            let hits = mem
                .store()
                .vector_search(&l9_store::VectorQuery {
                    vector: v,
                    filter: Default::default(),
                    k: 1,
                    exact: true,
                    beam: None,
                })
                .await
                .unwrap();
            assert_eq!(hits.len(), 1, "the parts' vectors are stored");
        } else {
            let err = res.unwrap_err();
            assert!(matches!(err, l9_memory::MemoryError::Embed { .. }), "{err}");
            assert_eq!(stored, 0, "nothing of the earlier parts is stored");
        }
    }
}
