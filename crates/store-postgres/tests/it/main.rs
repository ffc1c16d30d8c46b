//! Integration tests of the PostgreSQL backend against the private cluster that
//! `scripts/test` starts (`L9_TEST_PG_URL`). Each test gets its own schema.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test

use l9_store::Store;
use l9_store::conformance::DIMS;
use l9_store_postgres::{PgOptions, PgStore};

/// A fresh store in a new schema, or `None` when no cluster is configured (outside CI).
async fn pg(dims: usize) -> Option<PgStore> {
    pg_pool(dims, 4).await
}

/// [`pg`] with a pool of `max_connections`.
async fn pg_pool(dims: usize, max_connections: u32) -> Option<PgStore> {
    let url = l9_test_support::pg_url()?;
    let opts = PgOptions {
        dims,
        schema: Some(l9_test_support::unique_schema("t")),
        max_connections,
        ..Default::default()
    };
    Some(PgStore::open(&url, opts).await.expect("open the test cluster"))
}

macro_rules! pg_or_skip {
    ($dims:expr) => {
        match pg($dims).await {
            Some(s) => s,
            None => return,
        }
    };
}

/// One number a query answers (any integer type).
async fn scalar(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    let sql = format!("SELECT ({sql})::int8");
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.unwrap()
}

async fn fresh() -> Option<PgStore> {
    pg(DIMS).await
}

async fn done(store: PgStore) {
    store.drop_schema().await.unwrap();
}

mod conformance {
    use super::{done, fresh};
    l9_store::conformance_tests!(fresh, done);
}

/// A fresh SQLite store (in `dir`) and a fresh PostgreSQL schema, for differential tests.
async fn pair(
    url: &str,
    dir: &l9_test_support::TempDir,
) -> (l9_store_sqlite::SqliteStore, PgStore) {
    let sqlite = l9_store_sqlite::SqliteStore::open(
        &dir.path().join("l9.db"),
        l9_store_sqlite::SqliteOptions { dims: DIMS, ..Default::default() },
    )
    .await
    .unwrap();
    let opts = PgOptions {
        dims: DIMS,
        schema: Some(l9_test_support::unique_schema("diff")),
        max_connections: 2,
        ..Default::default()
    };
    (sqlite, PgStore::open(url, opts).await.unwrap())
}

/// The same random operation sequences on SQLite and PostgreSQL; every answer compared.
#[tokio::test]
async fn differential_sqlite_vs_postgres() {
    let Some(url) = l9_test_support::pg_url() else { return };
    for seed in [1u64, 2, 3, 4] {
        let dir = l9_test_support::temp_dir();
        let (sqlite, pg) = pair(&url, &dir).await;
        l9_store::conformance::differential(&sqlite, &pg, seed, 300).await;
        pg.drop_schema().await.unwrap();
    }
}

/// The same for the Task Runtime's queue: every answer and the task table compared.
#[tokio::test]
async fn sqlite_and_postgres_agree_on_random_queue_operations() {
    let Some(url) = l9_test_support::pg_url() else { return };
    for seed in [3, 4, 5] {
        let dir = l9_test_support::temp_dir();
        let (sqlite, pg) = pair(&url, &dir).await;
        l9_store::conformance::differential_tasks(&sqlite, &pg, seed, 250).await;
        pg.drop_schema().await.unwrap();
    }
}

#[tokio::test]
async fn reopen_refuses_other_dims_and_bad_urls_are_clear() {
    let store = pg_or_skip!(DIMS);
    let url = l9_test_support::pg_url().unwrap();
    let err = PgStore::open(
        "postgres://l9:secret@127.0.0.1:1/nowhere",
        PgOptions { dims: DIMS, ..Default::default() },
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cannot open the database"), "{msg}");
    assert!(!msg.contains("secret"), "passwords are redacted: {msg}");
    let name = l9_test_support::unique_schema("dims");
    let a = PgStore::open(
        &url,
        PgOptions { dims: DIMS, schema: Some(name.clone()), ..Default::default() },
    )
    .await
    .unwrap();
    let err =
        PgStore::open(&url, PgOptions { dims: DIMS + 1, schema: Some(name), ..Default::default() })
            .await
            .unwrap_err();
    assert!(err.to_string().contains("dimensional"), "{err}");
    a.drop_schema().await.unwrap();
    store.drop_schema().await.unwrap();
}

/// Filtered approximate search still returns k results (pgvector iterative scans).
#[tokio::test]
async fn filtered_hnsw_returns_k() {
    use l9_store::conformance::Fx;
    use l9_store::{PacketFilter, VectorQuery, WriteBatch};
    use l9_types::PacketDraft;
    use rand::{RngExt, SeedableRng};
    let store = pg_or_skip!(16);
    let fx = Fx::default();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(9);
    let mut batch = WriteBatch::default();
    for i in 0..2000 {
        let p = fx.seal(PacketDraft::new(if i % 50 == 0 { "rare" } else { "common" }).text("x"));
        batch.embeddings.push((p.id, (0..16).map(|_| rng.random_range(-1.0..1.0f32)).collect()));
        batch.packets.push(p);
    }
    store.write(&batch).await.unwrap();
    sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    let v: Vec<f32> = (0..16).map(|_| rng.random_range(-1.0..1.0f32)).collect();
    let q = VectorQuery {
        vector: v,
        filter: PacketFilter { kinds: vec!["rare".into()], ..Default::default() },
        k: 10,
        exact: false,
        beam: None,
    };
    let hits = store.vector_search(&q).await.unwrap();
    assert_eq!(hits.len(), 10);

    // A query's own beam: a narrow one still returns k, a wide one finds the exact top k,
    // and it is set for that query only, never left on a pooled connection.
    let q = VectorQuery { filter: Default::default(), k: 40, beam: Some(5), ..q };
    assert_eq!(store.vector_search(&q).await.unwrap().len(), 40);
    let wide = store.vector_search(&VectorQuery { beam: Some(400), ..q.clone() }).await.unwrap();
    let exact = store.vector_search(&VectorQuery { exact: true, ..q.clone() }).await.unwrap();
    let same = wide.iter().filter(|a| exact.iter().any(|e| e.id == a.id)).count();
    assert!(same >= 38, "a wide beam finds nearly all of the exact top 40 ({same})");
    for _ in 0..4 {
        let ef: String =
            sqlx::query_scalar("SHOW hnsw.ef_search").fetch_one(store.pool()).await.unwrap();
        assert_eq!(ef, "100", "the connection keeps the store's setting");
    }
    store.drop_schema().await.unwrap();
}

/// A large load rebuilds the vector index in one pass inside its transaction: the index is
/// there afterwards and serves searches that agree with the exact scan; a large load that
/// fails half-way (a bad vector at its end) leaves the index and the data as they were; a
/// small write into a large store keeps the index up per row.
#[tokio::test]
async fn a_large_load_rebuilds_the_vector_index_atomically() {
    use l9_store::conformance::Fx;
    use l9_store::{StoreError, VectorQuery, WriteBatch};
    use rand::{RngExt, SeedableRng};
    let store = pg_or_skip!(8);
    let fx = Fx::default();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(4);
    let mut vec8 = || (0..8).map(|_| rng.random_range(-1.0..1.0f32)).collect::<Vec<f32>>();
    let index_exists = |s: &PgStore| {
        let pool = s.pool().clone();
        async move {
            scalar(
                &pool,
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'embeddings_hnsw' AND schemaname = current_schema()",
            )
            .await
                == 1
        }
    };
    let mut batch = WriteBatch::default();
    for i in 0..12_000 {
        let p = fx.note(&format!("n{i}"));
        batch.embeddings.push((p.id, vec8()));
        batch.packets.push(p);
    }
    let report = store.write(&batch).await.unwrap();
    assert_eq!(report.packets_inserted, 12_000);
    assert_eq!(report.embeddings_inserted, 12_000);
    assert!(report.ann_index_build_ms.is_some(), "a large load rebuilds the index");
    assert!(index_exists(&store).await);
    let q =
        VectorQuery { vector: vec8(), filter: Default::default(), k: 10, exact: false, beam: None };
    let approx = store.vector_search(&q).await.unwrap();
    let exact = store.vector_search(&VectorQuery { exact: true, ..q.clone() }).await.unwrap();
    let same = approx.iter().filter(|a| exact.iter().any(|e| e.id == a.id)).count();
    assert!(same >= 8, "approximate search agrees with the exact scan ({same}/10)");

    // A failing large load: nothing of it is stored, the index stays.
    let mut bad = WriteBatch::default();
    for i in 0..12_000 {
        let p = fx.note(&format!("b{i}"));
        bad.embeddings.push((p.id, if i == 11_999 { vec![1.0; 3] } else { vec8() }));
        bad.packets.push(p);
    }
    let err = store.write(&bad).await.unwrap_err();
    assert!(matches!(err, StoreError::Dimension { .. }), "{err}");
    assert!(index_exists(&store).await);
    assert_eq!(store.count_packets(&Default::default()).await.unwrap(), 12_000);

    // A small write into the loaded store keeps the index up per row.
    let p = fx.note("one more");
    let small =
        WriteBatch { packets: vec![p.clone()], embeddings: vec![(p.id, vec8())], blobs: vec![] };
    assert_eq!(store.write(&small).await.unwrap().ann_index_build_ms, None);
    assert!(index_exists(&store).await);

    // A load in parts that announces its size takes the same path: the index is rebuilt
    // once at its end; one that fails in its last part leaves the index and the data.
    let mut parts = Vec::new();
    for k in 0..6 {
        let mut part = WriteBatch::default();
        for i in 0..2_000 {
            let p = fx.note(&format!("p{k}-{i}"));
            part.embeddings.push((p.id, vec8()));
            part.packets.push(p);
        }
        parts.push(part);
    }
    let size = l9_store::LoadSize { packets: 12_000, embeddings: 12_000 };
    let mut bad_parts = InParts { parts: parts.clone().into(), size };
    let last = bad_parts.parts.back_mut().unwrap();
    last.embeddings[1_999].1 = vec![1.0; 3];
    let err = store.write_parts(&mut bad_parts).await.unwrap_err();
    assert!(matches!(err, StoreError::Dimension { .. }), "{err}");
    assert!(index_exists(&store).await);
    assert_eq!(store.count_packets(&Default::default()).await.unwrap(), 12_001);
    let report = store.write_parts(&mut InParts { parts: parts.into(), size }).await.unwrap();
    assert_eq!((report.packets_inserted, report.embeddings_inserted), (12_000, 12_000));
    assert!(report.ann_index_build_ms.is_some(), "a large load in parts rebuilds the index");
    assert!(index_exists(&store).await);
    let approx = store.vector_search(&q).await.unwrap();
    let exact = store.vector_search(&VectorQuery { exact: true, ..q.clone() }).await.unwrap();
    let same = approx.iter().filter(|a| exact.iter().any(|e| e.id == a.id)).count();
    assert!(same >= 8, "approximate search agrees with the exact scan ({same}/10)");
    store.drop_schema().await.unwrap();
}

/// A load's parts, handed out in order, with the size announced.
struct InParts {
    parts: std::collections::VecDeque<l9_store::WriteBatch>,
    size: l9_store::LoadSize,
}

#[async_trait::async_trait]
impl l9_store::WriteParts for InParts {
    fn size(&self) -> l9_store::LoadSize {
        self.size
    }

    async fn next_part(&mut self) -> l9_store::Result<Option<l9_store::WriteBatch>> {
        Ok(self.parts.pop_front())
    }
}

/// Full-text entries do not wait in a long GIN pending list (every search reads the whole
/// list): connections keep it at 256 kB, and a large write merges its own at the end. A
/// packet written in each way is found.
#[tokio::test]
async fn full_text_entries_do_not_wait_in_a_long_pending_list() {
    use l9_store::conformance::Fx;
    use l9_store::{TextQuery, WriteBatch};
    let store = pg_or_skip!(8);
    let fx = Fx::default();
    let limit: String =
        sqlx::query_scalar("SHOW gin_pending_list_limit").fetch_one(store.pool()).await.unwrap();
    assert_eq!(limit, "256kB");
    // pgstattuple reads the index's metapage (the extension goes to public: the test's
    // schema is dropped afterwards). Concurrent creators may race: retry once.
    let create = "CREATE EXTENSION IF NOT EXISTS pgstattuple SCHEMA public";
    if sqlx::query(create).execute(store.pool()).await.is_err() {
        sqlx::query(create).execute(store.pool()).await.unwrap();
    }
    let pending = || {
        scalar(
            store.pool(),
            "SELECT pending_pages FROM public.pgstatginindex('packets_tsv'::regclass)",
        )
    };
    let words = |i: usize| format!("alpha{} beta{} gamma{} delta{i}", i % 97, i % 89, i % 83);
    let batch = WriteBatch {
        packets: (0..3_000).map(|i| fx.note(&words(i))).collect(),
        ..Default::default()
    };
    store.write(&batch).await.unwrap();
    assert_eq!(pending().await, 0, "a large write merges its pending list");
    for i in 3_000..3_600 {
        store
            .write(&WriteBatch { packets: vec![fx.note(&words(i))], ..Default::default() })
            .await
            .unwrap();
    }
    let p = pending().await;
    assert!(p <= 33, "the pending list stays near 256 kB: {p} pages");
    for q in ["delta17", "delta3511"] {
        let hits = store
            .text_search(&TextQuery { query: q.into(), filter: Default::default(), k: 5 })
            .await
            .unwrap();
        assert_eq!(hits.len(), 1, "{q}");
    }
    store.drop_schema().await.unwrap();
}

/// An idle worker blocked in `wait_for_work` with a long poll is woken by the NOTIFY of an
/// enqueue from another connection (the 20 s bound is a hang guard, not a speed check).
#[tokio::test]
async fn enqueue_notifies_idle_workers() {
    let store = pg_or_skip!(DIMS);
    let other = PgStore::open(
        &l9_test_support::pg_url().unwrap(),
        PgOptions {
            dims: DIMS,
            schema: store_schema(&store),
            max_connections: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Establish the LISTEN first.
    store.tasks().wait_for_work(std::time::Duration::from_millis(1)).await.unwrap();
    let waiter = {
        let s = store.clone();
        tokio::spawn(
            async move { s.tasks().wait_for_work(std::time::Duration::from_secs(3600)).await },
        )
    };
    let fx = l9_store::conformance::Fx::default();
    let t = l9_store::NewTask::new(l9_types::TaskId(fx.uuid()), "q", "k", serde_json::json!(null));
    other
        .tasks()
        .enqueue(&[t], chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap())
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), waiter)
        .await
        .expect("the NOTIFY must wake the waiting worker")
        .unwrap()
        .unwrap();
    store.drop_schema().await.unwrap();
}

fn store_schema(s: &PgStore) -> Option<String> {
    s.schema().map(str::to_string)
}

#[tokio::test]
async fn concurrent_appends_share_one_statement_and_a_spoiled_group_falls_back() {
    let store = pg_or_skip!(DIMS);
    l9_store::conformance::concurrent_journal_appends_are_answered_one_by_one(&store).await;
    let s = store.group_commit_stats().unwrap();
    // The first round holds an entry whose sequence number is taken: the statement refuses
    // the group and each entry is answered on its own; the clean round is one statement.
    assert!(s.fallbacks >= 1, "{s:?}");
    assert!(s.grouped >= 1 && s.grouped_entries >= 3, "{s:?}");
    assert!(store.without_group_commit().group_commit_stats().is_none());
    done(store).await;
}

/// On a disk that makes each commit wait (here a deferred trigger sleeping 4 ms once per
/// transaction, at its commit, stands in for a slow WAL flush), the committer sends a
/// second statement while the first waits, and every run's journal still holds its steps
/// in order (each step the parent of the next: one written early would be refused).
#[tokio::test]
async fn slow_statements_open_a_second_lane_and_runs_keep_their_order() {
    let Some(store) = pg_pool(DIMS, 8).await else { return };
    sqlx::raw_sql(
        "CREATE FUNCTION slow_flush() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
           IF current_setting('l9test.flushed', true) IS DISTINCT FROM 'y' THEN
             PERFORM set_config('l9test.flushed', 'y', true);
             PERFORM pg_sleep(0.004);
           END IF;
           RETURN NULL;
         END $$;
         CREATE CONSTRAINT TRIGGER slow_flush AFTER INSERT ON journal_pending
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_flush();",
    )
    .execute(store.pool())
    .await
    .unwrap();
    l9_store::conformance::concurrent_runs_keep_their_journal_order_with(
        &store,
        8,
        20,
        std::time::Duration::from_millis(1),
    )
    .await;
    let s = store.group_commit_stats().unwrap();
    // The timed statements wait longer than they work, and the lanes open (4 for a
    // pool of 8).
    assert!(s.wait_us > s.work_us, "{s:?}");
    assert_eq!(s.lanes, 4, "{s:?}");
    assert!(s.overlapped >= 1, "a second statement went while one waited: {s:?}");
    done(store).await;
}

/// A schema made before version 3 (its state index over every task, its idempotency keys a
/// unique constraint over every row) is migrated on open: the state index then holds only tasks
/// neither queued nor leased, the key index only keyed tasks; counts, listings and a key
/// enqueued before the migration agree. The later migrations run again after it.
#[tokio::test]
async fn a_schema_from_version_2_gets_the_narrower_indexes() {
    use l9_store::conformance::{assert_tasks_in_three_states, tasks_in_three_states};
    let Some(url) = l9_test_support::pg_url() else { return };
    let opts = PgOptions {
        dims: DIMS,
        schema: Some(l9_test_support::unique_schema("v2")),
        max_connections: 2,
        ..Default::default()
    };
    let s = PgStore::open(&url, opts.clone()).await.unwrap();
    tasks_in_three_states(&s).await;
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let keyed = |n: u128, name: &str| {
        let mut t = l9_store::NewTask::new(
            l9_types::TaskId(uuid::Uuid::from_u128(n)),
            "keys",
            "k",
            serde_json::json!({ "name": name }),
        );
        t.idempotency_key = Some("order-17".into());
        t
    };
    let first = keyed(0x17, "first");
    s.tasks().enqueue(std::slice::from_ref(&first), at).await.unwrap();
    // Back to version 2 as it was written.
    sqlx::raw_sql(
        "DROP INDEX tasks_state; CREATE INDEX tasks_state ON tasks(state, id); \
         DROP INDEX tasks_idem_key; ALTER TABLE tasks ADD CONSTRAINT tasks_idem_key_key UNIQUE (idem_key); \
         DROP TABLE journal_pending; DELETE FROM l9_schema WHERE version >= 3;",
    )
    .execute(s.pool())
    .await
    .unwrap();
    drop(s);
    let s = PgStore::open(&url, opts).await.unwrap();
    let def = |name: &str| {
        sqlx::query_scalar::<_, String>(
            "SELECT indexdef FROM pg_indexes WHERE indexname = $1 AND schemaname = current_schema()",
        )
        .bind(name.to_string())
        .fetch_one(s.pool())
    };
    let state = def("tasks_state").await.unwrap();
    assert!(state.contains("WHERE (state <> ALL"), "{state}");
    let key = def("tasks_idem_key").await.unwrap();
    assert!(key.contains("UNIQUE") && key.contains("WHERE (idem_key IS NOT NULL)"), "{key}");
    let key_indexes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'tasks' AND schemaname = current_schema() \
         AND indexdef LIKE '%(idem_key)%'",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(key_indexes, 1, "one index on the key, not the old constraint beside the new");
    // Schema 6: lineage rows carry no foreign keys (the write paths check parents), and its
    // migration runs again without complaint over a schema that already lost them.
    let fks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' \
         AND conrelid = 'packet_parents'::regclass",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(fks, 0, "packet_parents keeps no foreign keys");
    // The key enqueued before the migration still names its task.
    let again = keyed(0x18, "again");
    assert_eq!(
        s.tasks().enqueue(std::slice::from_ref(&again), at).await.unwrap(),
        [l9_store::Enqueued::Existing(first.id)]
    );
    sqlx::query("DELETE FROM tasks WHERE id = $1")
        .bind(first.id.0)
        .execute(s.pool())
        .await
        .unwrap();
    assert_tasks_in_three_states(&s).await;
    s.drop_schema().await.unwrap();
}

/// A lookup of many keys (`id = ANY($1)`) is planned for its own list, never run on a
/// connection's generic plan: one made while the table was small compares every row with
/// every key (a load into a new store spent most of its time there). Short lists keep the
/// prepared statement.
#[tokio::test]
async fn lookups_of_many_keys_are_planned_for_their_own_list() {
    use l9_store::WriteBatch;
    use l9_store::conformance::Fx;
    // One connection, so its prepared statements are the ones every write used.
    let Some(store) = pg_pool(DIMS, 1).await else { return };
    // How many times the lookup ran on the connection's prepared statement.
    let prepared_runs = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT coalesce(sum(generic_plans + custom_plans), 0)::int8 FROM pg_prepared_statements \
             WHERE statement = 'SELECT id, hash FROM packets WHERE id = ANY($1)'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap()
    };
    let fx = Fx::new(11);
    let before = prepared_runs().await;
    for round in 0..8 {
        let batch = WriteBatch {
            packets: (0..100).map(|i| fx.note(&format!("r{round} n{i}"))).collect(),
            ..Default::default()
        };
        store.write(&batch).await.unwrap();
    }
    assert_eq!(prepared_runs().await, before, "a lookup of 100 keys ran on the prepared statement");
    for round in 0..8 {
        let one =
            WriteBatch { packets: vec![fx.note(&format!("one {round}"))], ..Default::default() };
        store.write(&one).await.unwrap();
    }
    assert_eq!(
        prepared_runs().await,
        before + 8,
        "a lookup of one key keeps the prepared statement"
    );
    // Now the connection holds the short lookup's prepared statement: long lists still do
    // not run on it (sqlx finds a cached statement by its text before it looks at
    // `persistent`).
    for round in 8..12 {
        let batch = WriteBatch {
            packets: (0..100).map(|i| fx.note(&format!("r{round} n{i}"))).collect(),
            ..Default::default()
        };
        store.write(&batch).await.unwrap();
    }
    assert_eq!(
        prepared_runs().await,
        before + 8,
        "a lookup of 100 keys ran on the prepared statement made for one key"
    );
    store.drop_schema().await.unwrap();
}

/// Pooled connections are tested before use only once idle for `ping_after_idle`: with it at
/// zero, a connection the network dropped while it sat in the pool is found dead before a
/// statement runs on it and replaced, so the statement succeeds; with a long threshold the
/// same dropped connection is handed out and the statement fails (the trade-off the default of
/// one second makes for the round trip it saves), and the pool recovers on the next one.
#[tokio::test]
async fn idle_connections_are_tested_before_use() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let proxy = l9_test_support::FaultProxy::for_url(&url).unwrap();
    let schema = l9_test_support::unique_schema("ping");
    let via = proxy.url(&url);
    let open = |ping_after_idle| {
        PgStore::open(
            &via,
            PgOptions {
                dims: DIMS,
                schema: Some(schema.clone()),
                max_connections: 1,
                ping_after_idle,
                ..Default::default()
            },
        )
    };
    let count = |s: &PgStore| {
        let pool = s.pool().clone();
        async move { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tasks").fetch_one(&pool).await }
    };
    // sqlx pings a connection as it comes back to the pool (spawned, after the statement
    // returns): cut only once it is back, idle.
    let idle = |s: &PgStore| {
        let pool = s.pool().clone();
        async move {
            while pool.num_idle() < 1 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    };
    let tested = open(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(count(&tested).await.unwrap(), 0);
    idle(&tested).await;
    proxy.cut();
    assert_eq!(count(&tested).await.unwrap(), 0, "the dead connection was replaced");
    let untested = open(std::time::Duration::from_secs(3600)).await.unwrap();
    assert_eq!(count(&untested).await.unwrap(), 0);
    idle(&untested).await;
    proxy.cut();
    assert!(count(&untested).await.is_err(), "handed out untested, the dropped connection fails");
    assert_eq!(count(&untested).await.unwrap(), 0, "and the pool opens a new one");
    tested.drop_schema().await.unwrap();
}

/// Full-text search ranks the documents holding two or more query terms first and the
/// one-term documents only when those are fewer than k: the answers (ids, order and scores)
/// are those of ranking every match, with and without a filter, on both paths.
#[tokio::test]
async fn full_text_top_k_is_that_of_ranking_every_match() {
    use l9_store::conformance::Fx;
    use l9_store::{PacketFilter, TextQuery, WriteBatch};
    use l9_types::{PacketDraft, SeededRng};
    let store = pg_or_skip!(DIMS);
    let fx = Fx::new(11);
    let rng = SeededRng::from_seed(5);
    // 60 words, some far more common than others; notes of 2-7 words, two kinds.
    let word = |rng: &SeededRng| format!("w{}", rng.below(1 + rng.below(60)));
    let packets = (0..800)
        .map(|i| {
            let n = 2 + rng.below(6);
            let text = (0..n).map(|_| word(&rng)).collect::<Vec<_>>().join(" ");
            fx.seal(PacketDraft::new(if i % 3 == 0 { "other" } else { "note" }).text(&text))
        })
        .collect();
    store.write(&WriteBatch { packets, ..Default::default() }).await.unwrap();
    let every_match = "SELECT p.id, ts_rank(p.tsv, to_tsquery('simple', $1))::float8 \
         FROM packets p WHERE p.tsv @@ to_tsquery('simple', $1) AND ($3 OR p.kind = 'note') \
         ORDER BY 2 DESC, p.id LIMIT $2";
    let strong = "SELECT count(*) FROM packets p WHERE ($2 OR p.kind = 'note') AND \
         (SELECT count(*) FROM unnest($1::text[]) t WHERE p.tsv @@ to_tsquery('simple', t)) >= 2";
    let (mut enough, mut fewer) = (0, 0);
    for i in 0..120 {
        let mut terms: Vec<String> = (0..2 + rng.below(5)).map(|_| word(&rng)).collect();
        terms.push(terms[0].clone()); // a repeated word counts once
        let k = [3usize, 10, 40][i % 3];
        let all_kinds = i % 2 == 0;
        let filter = if all_kinds {
            PacketFilter::default()
        } else {
            PacketFilter { kinds: vec!["note".into()], ..Default::default() }
        };
        let got: Vec<(uuid::Uuid, f64)> = store
            .text_search(&TextQuery { query: terms.join(" "), filter, k })
            .await
            .unwrap()
            .into_iter()
            .map(|h| (h.id.0, h.score))
            .collect();
        let want: Vec<(uuid::Uuid, f64)> = sqlx::query_as(every_match)
            .bind(terms.join(" | "))
            .bind(k as i64)
            .bind(all_kinds)
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(got, want, "query {terms:?}, k {k}, all kinds {all_kinds}");
        let mut distinct = terms.clone();
        distinct.sort();
        distinct.dedup();
        let n: i64 = sqlx::query_scalar(strong)
            .bind(&distinct)
            .bind(all_kinds)
            .fetch_one(store.pool())
            .await
            .unwrap();
        if distinct.len() >= 2 && n >= k as i64 {
            enough += 1;
        } else if distinct.len() >= 2 && n > 0 {
            fewer += 1;
        }
    }
    assert!(enough >= 20 && fewer >= 20, "both paths ran: {enough} and {fewer} queries");
    // A term PostgreSQL's parser splits (`1e5x`: the number 1e5, then x) is a phrase the first
    // note does not match, yet ranking counts its parts there: that note ranks first.
    let odd = [fx.note("zb 1e5 zq x"), fx.note("zb zc")];
    let first = odd[0].id.0;
    store.write(&WriteBatch { packets: odd.to_vec(), ..Default::default() }).await.unwrap();
    let hits = store
        .text_search(&TextQuery { query: "1e5x zb zc".into(), filter: Default::default(), k: 1 })
        .await
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.id.0).collect::<Vec<_>>(), [first]);
    store.drop_schema().await.unwrap();
}

/// The bench's raw-SQL floors make and drop their tables in the store's own schema: tables of
/// the same names further along the search path (`public`) are left as they were. An
/// unqualified `DROP TABLE IF EXISTS raw_jobs` dropped `public.raw_jobs`.
#[cfg(feature = "baseline")]
#[tokio::test]
async fn the_bench_floors_leave_tables_outside_the_store_s_schema_alone() {
    use l9_store_postgres::baseline;
    let Some(store) = fresh().await else { return };
    let pool = store.pool();
    let mark = store.schema().unwrap().to_owned();
    for t in ["raw_jobs", "raw_steps"] {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS public.{t} (note TEXT); \
             INSERT INTO public.{t} (note) VALUES ('{mark}')"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
    }
    assert_eq!(baseline::queue_single(&store, 5).await.unwrap().1, 5);
    assert_eq!(baseline::queue_batched(&store, 20, 7, 3).await.unwrap().1, 20);
    baseline::durable_inserts(&store, 6, 2).await.unwrap();
    for t in ["raw_jobs", "raw_steps"] {
        let sql = format!("SELECT count(*) FROM public.{t} WHERE note = '{mark}'");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.unwrap();
        assert_eq!(n, 1, "public.{t} kept its row");
        let sql = format!("DELETE FROM public.{t} WHERE note = '{mark}'");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
    }
    let left = scalar(
        pool,
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() \
         AND tablename IN ('raw_jobs', 'raw_steps')",
    )
    .await;
    assert_eq!(left, 0, "the floors drop their own tables");
    done(store).await;
}
