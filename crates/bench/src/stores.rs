//! Fresh stores for benchmarks: a temporary SQLite file, or a throwaway schema in a
//! PostgreSQL database.

use std::path::Path;
use std::sync::Arc;

use l9_store::Store;
use l9_store_postgres::{PgOptions, PgStore};
use l9_store_sqlite::{SqliteOptions, SqliteStore};

use crate::Result;

/// A fresh 384-dimensional SQLite store in `dir`.
pub async fn sqlite(dir: &Path) -> Result<Arc<dyn Store>> {
    sqlite_with(dir, "bench.db", false).await
}

/// A fresh SQLite store `dir/name`, with `synchronous=FULL` when `full`.
pub async fn sqlite_with(dir: &Path, name: &str, full: bool) -> Result<Arc<dyn Store>> {
    let opts = SqliteOptions { sync_full: full, ..Default::default() };
    Ok(Arc::new(SqliteStore::open(&dir.join(name), opts).await?))
}

/// A store in a new schema of a PostgreSQL database, dropped by [`PgBenchStore::drop`].
#[derive(Debug)]
pub struct PgBenchStore {
    store: PgStore,
}

impl PgBenchStore {
    pub async fn open(url: &str) -> Result<Self> {
        let schema = format!("l9_bench_{}", std::process::id());
        // Enough connections for 16 concurrent workflows plus their heartbeats.
        let opts = PgOptions { schema: Some(schema), max_connections: 40, ..Default::default() };
        Ok(PgBenchStore { store: PgStore::open(url, opts).await? })
    }

    /// A store in the new schema `schema`.
    pub async fn open_named(url: &str, schema: &str) -> Result<Self> {
        let opts =
            PgOptions { schema: Some(schema.to_owned()), max_connections: 8, ..Default::default() };
        Ok(PgBenchStore { store: PgStore::open(url, opts).await? })
    }

    pub fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.store.clone())
    }

    /// The PostgreSQL store itself, for raw-SQL baselines in the same schema.
    pub fn pg(&self) -> &PgStore {
        &self.store
    }

    pub async fn drop(self) -> Result<()> {
        Ok(self.store.drop_schema().await?)
    }
}

/// Seconds a freshly opened SQLite store (as a new `l9` process would open it) takes to
/// answer its first approximate query (finding its vectors and loading the persisted HNSW
/// graph), and where the handle found its vectors.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition
pub async fn sqlite_reopen_first_query(dir: &Path) -> Result<(f64, l9_store_sqlite::VectorFile)> {
    use l9_memory::HashEmbedder;
    let t = std::time::Instant::now();
    let store = SqliteStore::open(&dir.join("bench.db"), SqliteOptions::default()).await?;
    let v = HashEmbedder::new(store.dims()).embed_one("retry the failed migration");
    store
        .vector_search(&l9_store::VectorQuery {
            vector: v,
            filter: Default::default(),
            k: 10,
            exact: false,
            beam: None,
        })
        .await?;
    let secs = t.elapsed().as_secs_f64();
    Ok((secs, store.vector_file().await))
}
