//! Integration tests of the SQLite backend: the shared conformance suite plus what only
//! this backend has (file behaviour, the HNSW path, reopen).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test

use l9_store::conformance::{DIMS, Fx};
use l9_store::{Store, VectorQuery, WriteBatch};
use l9_store_sqlite::{SqliteOptions, SqliteStore};
use l9_test_support::TempDir;

/// A fresh store; its temp dir is leaked so it outlives the store for the test's lifetime.
async fn fresh() -> Option<SqliteStore> {
    let dir: &'static TempDir = Box::leak(Box::new(l9_test_support::temp_dir()));
    let opts = SqliteOptions { dims: DIMS, ..Default::default() };
    Some(SqliteStore::open(&dir.path().join("l9.db"), opts).await.unwrap())
}

async fn done(_: SqliteStore) {}

mod conformance {
    use super::{done, fresh};
    l9_store::conformance_tests!(fresh, done);
}

#[tokio::test]
async fn reopen_keeps_data_and_refuses_other_dims() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let fx = Fx::default();
    let p = fx.note("persisted");
    {
        let s = SqliteStore::open(&path, SqliteOptions { dims: DIMS, ..Default::default() })
            .await
            .unwrap();
        s.write(&WriteBatch { packets: vec![p.clone()], ..Default::default() }).await.unwrap();
    }
    let s =
        SqliteStore::open(&path, SqliteOptions { dims: DIMS, ..Default::default() }).await.unwrap();
    assert_eq!(s.get_packet(p.id).await.unwrap().unwrap(), p);
    let err = SqliteStore::open(&path, SqliteOptions { dims: DIMS + 1, ..Default::default() })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("dimensional"), "{err}");
}

/// Above the exact threshold the HNSW path answers; its recall against the exact path
/// must be high, and a second store written by another handle is seen (catch-up).
#[tokio::test]
async fn hnsw_path_recall_and_catch_up() {
    use rand::{RngExt, SeedableRng};
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let dims = 32;
    let opts = SqliteOptions { dims, exact_threshold: 100, ..Default::default() };
    let store = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let fx = Fx::default();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(3);
    let mut batch = WriteBatch::default();
    for i in 0..1500 {
        let p = fx.note(&format!("v{i}"));
        let v: Vec<f32> = (0..dims).map(|_| rng.random_range(-1.0..1.0f32)).collect();
        batch.embeddings.push((p.id, v));
        batch.packets.push(p);
    }
    store.write(&batch).await.unwrap();
    let mut hit = 0;
    for _ in 0..30 {
        let v: Vec<f32> = (0..dims).map(|_| rng.random_range(-1.0..1.0f32)).collect();
        let q = |exact| VectorQuery { vector: v.clone(), filter: Default::default(), k: 10, exact };
        let truth = store.vector_search(&q(true)).await.unwrap();
        let approx = store.vector_search(&q(false)).await.unwrap();
        assert_eq!(approx.len(), 10);
        hit += approx.iter().filter(|h| truth.iter().any(|t| t.id == h.id)).count();
    }
    let recall = hit as f64 / 300.0;
    assert!(recall >= 0.9, "recall@10 {recall}");

    // The graph was persisted; a fresh handle loads it and answers identically.
    assert_eq!(store.index_snapshot_nodes().await.unwrap(), Some(1500));
    let fresh = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let probe: Vec<f32> = (0..dims).map(|i| (i as f32 * 0.37).sin()).collect();
    let pq = VectorQuery { vector: probe, filter: Default::default(), k: 10, exact: false };
    assert_eq!(fresh.vector_search(&pq).await.unwrap(), store.vector_search(&pq).await.unwrap());
    // A damaged snapshot is ignored (rebuilt), never trusted.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("UPDATE ann_snapshot SET graph = x'00010203'").execute(&pool).await.unwrap();
    let rebuilt = SqliteStore::open(&path, opts.clone()).await.unwrap();
    assert_eq!(rebuilt.vector_search(&pq).await.unwrap(), store.vector_search(&pq).await.unwrap());
    let graph: Vec<u8> =
        sqlx::query_scalar("SELECT graph FROM ann_snapshot").fetch_one(&pool).await.unwrap();
    assert!(graph.len() > 1000, "the damaged snapshot was replaced by a good one");

    // Another handle writes; this one sees it on the next search.
    let other = SqliteStore::open(&path, opts).await.unwrap();
    let p = fx.note("late");
    let v: Vec<f32> = (0..dims).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
    other
        .write(&WriteBatch {
            packets: vec![p.clone()],
            embeddings: vec![(p.id, v.clone())],
            blobs: vec![],
        })
        .await
        .unwrap();
    let hits = store
        .vector_search(&VectorQuery { vector: v, filter: Default::default(), k: 1, exact: false })
        .await
        .unwrap();
    assert_eq!(hits[0].id, p.id);
}
