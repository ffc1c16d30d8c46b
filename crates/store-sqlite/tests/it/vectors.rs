//! The SQLite backend's vectors: the HNSW path and its catch-up, exact search of what the graph
//! does not cover yet, the vector cache, and the memory-mapped vector file shared by handles.

use l9_store::conformance::Fx;
use l9_store::{Store, VectorQuery, WriteBatch};
use l9_store_sqlite::{SqliteOptions, SqliteStore};

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
        let q = |exact| VectorQuery {
            vector: v.clone(),
            filter: Default::default(),
            k: 10,
            exact,
            beam: None,
        };
        let truth = store.vector_search(&q(true)).await.unwrap();
        let approx = store.vector_search(&q(false)).await.unwrap();
        assert_eq!(approx.len(), 10);
        hit += approx.iter().filter(|h| truth.iter().any(|t| t.id == h.id)).count();
    }
    let recall = hit as f64 / 300.0;
    assert!(recall >= 0.9, "recall@10 {recall}");

    // The graph is built in the background and persisted; a fresh handle loads it and
    // answers identically.
    store.wait_for_index().await.unwrap();
    assert_eq!(store.index_snapshot_nodes().await.unwrap(), Some(1500));
    let fresh = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let probe: Vec<f32> = (0..dims).map(|i| (i as f32 * 0.37).sin()).collect();
    let pq =
        VectorQuery { vector: probe, filter: Default::default(), k: 10, exact: false, beam: None };
    assert_eq!(fresh.vector_search(&pq).await.unwrap(), store.vector_search(&pq).await.unwrap());
    // A damaged snapshot is ignored (rebuilt), never trusted.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("UPDATE ann_snapshot SET graph = x'00010203'").execute(&pool).await.unwrap();
    let rebuilt = SqliteStore::open(&path, opts.clone()).await.unwrap();
    rebuilt.wait_for_index().await.unwrap();
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
        .vector_search(&VectorQuery {
            vector: v,
            filter: Default::default(),
            k: 1,
            exact: false,
            beam: None,
        })
        .await
        .unwrap();
    assert_eq!(hits[0].id, p.id);
}

/// Vectors not yet in the HNSW graph are searched exactly, so answers are complete before,
/// during and after a build: with background builds off, an approximate search over a
/// store with no graph equals the exact one; after `wait_for_index` the graph covers every
/// vector (and is persisted); vectors written later are found at once, before any build.
#[tokio::test]
async fn unindexed_vectors_are_searched_exactly_until_the_graph_covers_them() {
    use rand::{RngExt, SeedableRng};
    let dir = l9_test_support::temp_dir();
    let dims = 16;
    let opts =
        SqliteOptions { dims, exact_threshold: 100, background_index: false, ..Default::default() };
    let store = SqliteStore::open(&dir.path().join("l9.db"), opts).await.unwrap();
    let fx = Fx::default();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(11);
    let mut vec16 = || (0..dims).map(|_| rng.random_range(-1.0..1.0f32)).collect::<Vec<f32>>();
    let mut batch = WriteBatch::default();
    for i in 0..1200 {
        let p = fx.note(&format!("u{i}"));
        batch.embeddings.push((p.id, vec16()));
        batch.packets.push(p);
    }
    store.write(&batch).await.unwrap();
    let q = |v: Vec<f32>, exact| VectorQuery {
        vector: v,
        filter: Default::default(),
        k: 10,
        exact,
        beam: None,
    };
    for _ in 0..5 {
        let v = vec16();
        let approx = store.vector_search(&q(v.clone(), false)).await.unwrap();
        assert_eq!(approx, store.vector_search(&q(v, true)).await.unwrap(), "no graph yet: exact");
    }
    assert_eq!(store.index_snapshot_nodes().await.unwrap(), None);
    store.wait_for_index().await.unwrap();
    assert_eq!(store.index_snapshot_nodes().await.unwrap(), Some(1200));
    // A query's own beam as wide as the graph walks all of it: the exact answer.
    for _ in 0..5 {
        let v = vec16();
        let wide = VectorQuery { beam: Some(1200), ..q(v.clone(), false) };
        assert_eq!(
            store.vector_search(&wide).await.unwrap(),
            store.vector_search(&q(v, true)).await.unwrap()
        );
    }
    // New vectors are in the exact tail until the next build, and found at once.
    let p = fx.note("late");
    let v = vec16();
    let late =
        WriteBatch { packets: vec![p.clone()], embeddings: vec![(p.id, v.clone())], blobs: vec![] };
    store.write(&late).await.unwrap();
    let hits = store.vector_search(&q(v, false)).await.unwrap();
    assert_eq!(hits[0].id, p.id);
    assert!(hits[0].distance < 1e-5, "{hits:?}");
}

/// A write hands the vectors it committed to its handle's cache when nothing lies between
/// them and what the cache holds, so a search right after a large write does not read them
/// back; when another handle wrote in between, the cache reads back in rowid order instead.
/// Either way every handle finds every vector.
#[tokio::test]
async fn a_write_hands_its_vectors_to_the_cache_unless_another_wrote_between() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let dims = 8;
    let opts = SqliteOptions { dims, background_index: false, ..Default::default() };
    let a = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let b = SqliteStore::open(&path, opts).await.unwrap();
    let fx = Fx::default();
    let mut all = Vec::new();
    let mut n = 0usize;
    let mut write = |k: usize| {
        let mut batch = WriteBatch::default();
        for _ in 0..k {
            n += 1;
            let p = fx.note(&format!("v{n}"));
            // Distinct directions: vector n points mostly along axis n % dims, tilted by n.
            let v: Vec<f32> = (0..dims)
                .map(|i| if i == n % dims { 1.0 } else { n as f32 * 1e-3 * i as f32 })
                .collect();
            batch.embeddings.push((p.id, v.clone()));
            all.push((p.id, v));
            batch.packets.push(p);
        }
        batch
    };
    let first = write(10);
    a.write(&first).await.unwrap();
    assert_eq!(a.cached_vectors().await, 10, "taken from the write, not read back");
    let between = write(5);
    b.write(&between).await.unwrap();
    assert_eq!(b.cached_vectors().await, 0, "b's cache is behind: left to catch_up");
    let last = write(5);
    a.write(&last).await.unwrap();
    assert_eq!(a.cached_vectors().await, 10, "b wrote between: not taken");
    for store in [&a, &b] {
        each_finds_itself(store, &all).await;
    }
    assert_eq!((a.cached_vectors().await, b.cached_vectors().await), (20, 20));
}

/// `n` packets with seeded random vectors.
pub(crate) fn with_vectors(
    fx: &Fx,
    seed: u64,
    n: usize,
    dims: usize,
) -> Vec<(l9_types::PacketEnvelope, Vec<f32>)> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let v: Vec<f32> = (0..dims).map(|_| rng.random_range(-1.0..1.0f32)).collect();
            (fx.note(&format!("s{seed}-{i}")), v)
        })
        .collect()
}

/// Writes `items` through `store` in one batch; returns (id, vector) pairs.
pub(crate) async fn put(
    store: &SqliteStore,
    items: &[(l9_types::PacketEnvelope, Vec<f32>)],
) -> Vec<(l9_types::PacketId, Vec<f32>)> {
    let batch = WriteBatch {
        packets: items.iter().map(|(p, _)| p.clone()).collect(),
        embeddings: items.iter().map(|(p, v)| (p.id, v.clone())).collect(),
        blobs: vec![],
    };
    store.write(&batch).await.unwrap();
    items.iter().map(|(p, v)| (p.id, v.clone())).collect()
}

/// Writes `n` packets with seeded random vectors through `store`.
pub(crate) async fn write_vectors(
    store: &SqliteStore,
    fx: &Fx,
    seed: u64,
    n: usize,
    dims: usize,
) -> Vec<(l9_types::PacketId, Vec<f32>)> {
    put(store, &with_vectors(fx, seed, n, dims)).await
}

/// Every vector's nearest neighbour (exact and through the graph) is its own packet.
pub(crate) async fn each_finds_itself(store: &SqliteStore, all: &[(l9_types::PacketId, Vec<f32>)]) {
    for exact in [true, false] {
        for (id, v) in all {
            let q = VectorQuery {
                vector: v.clone(),
                filter: Default::default(),
                k: 1,
                exact,
                beam: None,
            };
            let hits = store.vector_search(&q).await.unwrap();
            assert_eq!(hits[0].id, *id, "exact={exact}");
            assert!(hits[0].distance < 1e-5, "exact={exact} {hits:?}");
        }
    }
}

/// The vectors live in one memory-mapped file beside the database, shared by every handle:
/// a second handle reads none back from the table; records another handle appended are
/// taken after their keys check out; a torn record at the end is cut.
#[tokio::test]
async fn vectors_are_shared_through_a_file_beside_the_database() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let dims = 8;
    let opts = SqliteOptions { dims, exact_threshold: 50, ..Default::default() };
    let fx = Fx::default();
    let a = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let mut all = write_vectors(&a, &fx, 1, 300, dims).await;
    let side = l9_store_sqlite::vectors_path(&path);
    let st = a.vector_file().await;
    assert_eq!((st.cached, st.mapped, st.read_from_table, st.error), (300, 300, 0, None));
    let len = std::fs::metadata(&side).unwrap().len();
    assert_eq!(len, 64 + 300 * (24 + 4 * dims as u64), "header and 300 records");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&side).unwrap().permissions().mode() & 0o777, 0o600);

    let b = SqliteStore::open(&path, opts.clone()).await.unwrap();
    each_finds_itself(&b, &all).await;
    let st = b.vector_file().await;
    assert_eq!((st.cached, st.mapped, st.read_from_table), (300, 300, 0), "none read back");

    // b appends; a takes b's records from the file; a crash's torn record is cut.
    all.extend(write_vectors(&b, &fx, 2, 100, dims).await);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&side).unwrap();
        f.write_all(&[7u8; 10]).unwrap();
    }
    each_finds_itself(&a, &all).await;
    let st = a.vector_file().await;
    assert_eq!((st.cached, st.mapped, st.read_from_table), (400, 400, 0));
    all.extend(write_vectors(&a, &fx, 3, 20, dims).await);
    assert_eq!(std::fs::metadata(&side).unwrap().len(), 64 + 420 * (24 + 4 * dims as u64));
    let c = SqliteStore::open(&path, opts).await.unwrap();
    each_finds_itself(&c, &all).await;
    assert_eq!(c.vector_file().await.read_from_table, 0);
}

/// A vector file that is not the database's own is never trusted: one left by a deleted
/// store at the same path is replaced, even when the new store holds the same packets in the
/// same order (an export imported again, embedded differently); after the database is restored from an older copy,
/// records past the copy (other packets at the same rowids) are not taken.
#[tokio::test]
async fn a_vector_file_that_disagrees_with_the_table_is_replaced() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let side = l9_store_sqlite::vectors_path(&path);
    let dims = 8;
    let opts = SqliteOptions { dims, exact_threshold: 50, ..Default::default() };
    let fx = Fx::default();
    // A replacement a crashed process left half written is removed (nobody holds it).
    let stale = dir.path().join("l9.db-vectors.4242.tmp");
    std::fs::write(&stale, [0u8; 100]).unwrap();
    // A store, deleted with its database files but not the vector file, and made anew
    // with the same packets, other vectors.
    let first = with_vectors(&fx, 10, 150, dims);
    {
        let old = SqliteStore::open(&path, opts.clone()).await.unwrap();
        put(&old, &first).await;
    }
    for f in ["l9.db", "l9.db-wal", "l9.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    assert!(side.exists());
    let new = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let other: Vec<_> = with_vectors(&fx, 11, 150, dims)
        .into_iter()
        .zip(&first)
        .map(|((_, v), (p, _))| (p.clone(), v))
        .collect();
    let mut all = put(&new, &other).await;
    drop(new);
    assert!(!stale.exists(), "a stale half-written replacement is removed");
    let reader = SqliteStore::open(&path, opts.clone()).await.unwrap();
    each_finds_itself(&reader, &all).await;
    assert_eq!(reader.vector_file().await.read_from_table, 0, "the file was replaced, then used");
    drop(reader);

    // A copy of the database now, more writes, then the copy restored over it.
    let copy = dir.path().join("copy.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("VACUUM INTO ?").bind(copy.display().to_string()).execute(&pool).await.unwrap();
    pool.close().await;
    {
        let s = SqliteStore::open(&path, opts.clone()).await.unwrap();
        write_vectors(&s, &fx, 12, 100, dims).await; // rowids 151..250 in the file
    }
    for f in ["l9.db-wal", "l9.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    std::fs::rename(&copy, &path).unwrap();
    let restored = SqliteStore::open(&path, opts.clone()).await.unwrap();
    all.extend(write_vectors(&restored, &fx, 13, 100, dims).await); // rowids 151..250 again
    drop(restored);
    let reader = SqliteStore::open(&path, opts).await.unwrap();
    each_finds_itself(&reader, &all).await;
    let st = reader.vector_file().await;
    assert_eq!((st.cached, st.error), (250, None));
}

/// A short tail of vectors beyond the saved graph (fewer than a build step) is scanned
/// exactly by every handle, never rebuilt by each new one; `wait_for_index` still covers it,
/// and once a build step's worth gathers the background builds and saves it.
#[tokio::test]
#[allow(clippy::disallowed_methods)] // a wall-clock deadline for the background build
async fn a_short_unsaved_tail_is_scanned_not_rebuilt_by_each_handle() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let dims = 8;
    let opts = SqliteOptions { dims, exact_threshold: 50, ..Default::default() };
    let fx = Fx::default();
    let a = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let mut all = write_vectors(&a, &fx, 30, 1200, dims).await;
    a.wait_for_index().await.unwrap();
    assert_eq!(a.index_snapshot_nodes().await.unwrap(), Some(1200));
    all.extend(write_vectors(&a, &fx, 31, 30, dims).await);
    let b = SqliteStore::open(&path, opts.clone()).await.unwrap();
    each_finds_itself(&b, &all).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let st = b.vector_file().await;
    assert_eq!((st.cached, st.indexed), (1230, 1200), "the new handle left the tail to scans");
    assert_eq!(a.vector_file().await.indexed, 1200, "the writer too");
    b.wait_for_index().await.unwrap();
    assert_eq!(b.vector_file().await.indexed, 1230, "wait_for_index covers every vector");
    // A build step's worth: the background builds it, and saves it.
    all.extend(write_vectors(&b, &fx, 32, 1000, dims).await);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while b.vector_file().await.indexed < 2230 {
        assert!(std::time::Instant::now() < deadline, "the background never built the new step");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while b.index_snapshot_nodes().await.unwrap() != Some(2230) {
        assert!(std::time::Instant::now() < deadline, "the new step was not saved");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let c = SqliteStore::open(&path, opts).await.unwrap();
    each_finds_itself(&c, &all).await;
    assert_eq!(c.vector_file().await.indexed, 2230);
}

/// A new handle on a large store takes every embedding's keys from the indexes and its
/// vectors from the shared file, reading none from the table; without the file it reads
/// them all from the table. Either way every vector is where its packet says.
#[tokio::test]
async fn a_new_handle_on_a_large_store_loads_keys_from_the_indexes() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let dims = 4;
    let opts = SqliteOptions {
        dims,
        exact_threshold: 100_000,
        background_index: false,
        ..Default::default()
    };
    let fx = Fx::default();
    let a = SqliteStore::open(&path, opts.clone()).await.unwrap();
    // Packets made in one order and stored in another: ids (time-ordered) do not follow
    // rowids, as with an import of older packets.
    let later = with_vectors(&fx, 41, 10_000, dims);
    let mut all = write_vectors(&a, &fx, 40, 15_000, dims).await;
    all.extend(put(&a, &later).await);
    drop(a);
    let sample: Vec<_> = all.iter().step_by(97).chain(all.last()).cloned().collect();
    let b = SqliteStore::open(&path, opts.clone()).await.unwrap();
    each_finds_itself(&b, &sample).await;
    let st = b.vector_file().await;
    assert_eq!((st.cached, st.mapped, st.read_from_table), (25_000, 25_000, 0));
    assert_eq!(st.keys_from_indexes, 25_000, "the first load read its keys from the indexes");
    drop(b);
    std::fs::remove_file(l9_store_sqlite::vectors_path(&path)).unwrap();
    let c = SqliteStore::open(&path, opts.clone()).await.unwrap();
    each_finds_itself(&c, &sample).await;
    let st = c.vector_file().await;
    assert_eq!((st.cached, st.read_from_table), (25_000, 25_000));
    assert_eq!(st.mapped, 25_000, "what was read from the table went into the file");
    drop(c);
    // Most packets without an embedding: the first load walks the embeddings' index instead.
    let bare = WriteBatch {
        packets: (0..30_000).map(|i| fx.note(&format!("bare {i}"))).collect(),
        ..Default::default()
    };
    let w = SqliteStore::open(&path, opts.clone()).await.unwrap();
    w.write(&bare).await.unwrap();
    drop(w);
    let d = SqliteStore::open(&path, opts).await.unwrap();
    each_finds_itself(&d, &sample).await;
    let st = d.vector_file().await;
    assert_eq!((st.cached, st.read_from_table, st.keys_from_indexes), (25_000, 0, 25_000));
}

/// Where the file cannot be used, vectors stay in memory, searches stay right, and the
/// handle says why.
#[tokio::test]
async fn without_a_usable_vector_file_vectors_stay_in_memory() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    std::fs::create_dir(l9_store_sqlite::vectors_path(&path)).unwrap(); // not a file
    let dims = 8;
    let opts = SqliteOptions { dims, exact_threshold: 50, ..Default::default() };
    let fx = Fx::default();
    let s = SqliteStore::open(&path, opts).await.unwrap();
    let all = write_vectors(&s, &fx, 20, 120, dims).await;
    each_finds_itself(&s, &all).await;
    let st = s.vector_file().await;
    assert_eq!((st.cached, st.mapped), (120, 0));
    assert!(st.error.as_deref().is_some_and(|e| e.contains("l9.db-vectors")), "{st:?}");
}
