//! `l9-store-sqlite` — the embedded default backend (tier T3).
//!
//! One file (`.l9/l9.db` by default), WAL journal, `busy_timeout` so several processes can
//! share it, writes in `BEGIN IMMEDIATE` transactions. Full text is FTS5 (contentless,
//! `unicode61`); vectors are rows of little-endian `f32` and are searched through an
//! in-process [`ann`] cache that holds them normalised, exactly for small sets and with an
//! HNSW graph beyond [`SqliteOptions::exact_threshold`]. The table is the source of truth:
//! the cache catches up on rows written by any process before each search.
//!
//! Durability: `synchronous=NORMAL` by default (a power loss may drop the last commits,
//! never corrupts); `FULL` syncs every commit. See `SqliteOptions::synchronous`.

mod ann;
pub use ann::VectorFile;
/// Raw-SQL floors for `l9 bench` (feature `baseline`).
#[cfg(feature = "baseline")]
pub mod baseline;
mod checkpoint;
mod codec;
mod fast;
mod fastq;
mod graph;
mod hnsw;
mod holders;
mod index;
pub mod salvage;
mod schema;
mod tail;
mod tasks;
mod vectors;
mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use l9_store::{
    Backend, Direction, Entity, EntityId, EntityQuery, LineageEntry, PacketFilter, PacketPage,
    Page, Relation, RelationId, RelationQuery, Result, Store, StoreError, TextHit, TextQuery,
    VectorHit, VectorQuery, WriteBatch, WriteParts, WriteReport, tokenize,
};
use l9_types::{ContentHash, PacketEnvelope, PacketId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row};
use tokio::sync::Mutex;

use codec::{PACKET_COLUMNS, db, packet_from_row, push_filter};

/// Extra full-text candidates fetched so score ties at the k-th place break by id.
const TIE_SLACK: i64 = 32;

/// How a SQLite store is opened.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Embedding dimension for a new database; an existing one must match.
    pub dims: usize,
    /// `true`: `synchronous=FULL` (every commit synced); `false`: `NORMAL` (WAL default).
    pub sync_full: bool,
    /// Vector searches over at most this many candidates are exact.
    pub exact_threshold: usize,
    /// HNSW parameters. The search beam's default, 240, is where `l9 bench memory` at 100k ×
    /// 384 reaches recall@10 0.987 (160: 0.977; 200: 0.983) at p95 ~1.6 ms; a larger build
    /// beam (`ef_construction` 140) did not raise recall there, only the build time.
    pub hnsw_m: usize,
    pub hnsw_ef_construction: usize,
    pub hnsw_ef_search: usize,
    /// Build the HNSW graph in the background after writes (`false`: only when
    /// [`Store::wait_for_index`] asks; searches scan unindexed vectors exactly either way).
    pub background_index: bool,
    /// Threads for the graph build (0: one per core).
    pub index_threads: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            dims: 384,
            sync_full: false,
            exact_threshold: 4096,
            hnsw_m: 16,
            hnsw_ef_construction: 100,
            hnsw_ef_search: 240,
            background_index: true,
            index_threads: 0,
        }
    }
}

/// The file beside the database where its vectors are shared between processes
/// (`<database>-vectors`; a cache, safe to delete while no l9 runs).
pub fn vectors_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-vectors");
    PathBuf::from(p)
}

/// The SQLite [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    opts: SqliteOptions,
    ann: std::sync::Arc<Mutex<ann::VectorCache>>,
    builder: std::sync::Arc<index::Builder>,
    /// The journal's hot path (see `fast.rs`). Every method that reads `packets`,
    /// `packet_parents`, the full-text index or `journal` (or writes packets that may descend
    /// from journal entries) calls `self.fast.tail_filed()` first: journal entries wait in
    /// the tail (`tail.rs`) until then.
    fast: std::sync::Arc<fast::FastWriter>,
    /// This open's lock in `<database>.holders/` (see `holders.rs`).
    _holder: Option<holders::Holder>,
    /// Every write asks it first: none once SQLite reported the file damaged and a check
    /// confirmed it; checks the file as the store closes too.
    gate: holders::WriteGate,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path, opts: SqliteOptions) -> Result<Self> {
        if opts.dims == 0 || opts.dims > 16_000 {
            return Err(StoreError::Invalid(format!(
                "embedding dimension {} is out of range",
                opts.dims
            )));
        }
        holders::refuse_if_marked(path)?;
        let (holder, unclean) = holders::register(path);
        if unclean {
            let p = path.to_owned();
            tokio::task::spawn_blocking(move || holders::check_after_crash(&p)).await.map_err(
                |e| StoreError::Unavailable(format!("the integrity check stopped: {e}")),
            )??;
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if opts.sync_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            .pragma("cache_size", "-32000");
        // Opening a new file while other processes open it too can meet SQLITE_BUSY at once,
        // without the busy timeout's wait (switching the file into WAL, or its shared memory
        // being set up, holds a lock that SQLite reports busy instead of waiting for): such an
        // open is tried again, for as long as the busy timeout.
        let pool = fast::while_busy_async(|| async {
            SqlitePoolOptions::new().max_connections(4).connect_with(connect.clone()).await.map_err(
                |e| match db(e) {
                    StoreError::Environment { fault: l9_store::Fault::Busy, .. } => {
                        fast::Attempt::Busy
                    }
                    other => fast::Attempt::Failed(other),
                },
            )
        })
        .await
        .map_err(|e| match e {
            StoreError::Environment { fault, detail } => {
                StoreError::Environment { fault, detail: format!("{}: {detail}", path.display()) }
            }
            other => StoreError::Unavailable(format!("{}: {other}", path.display())),
        })?;
        let fast = fast::FastWriter::open(path, opts.sync_full).await?;
        let store = SqliteStore {
            fast: std::sync::Arc::new(fast),
            pool,
            path: path.to_owned(),
            ann: std::sync::Arc::new(Mutex::new(ann::VectorCache::new(
                opts.dims,
                opts.hnsw_m,
                opts.hnsw_ef_construction,
            ))),
            builder: std::sync::Arc::new(index::Builder::new(
                opts.index_threads,
                opts.exact_threshold,
                opts.background_index,
            )),
            opts,
            _holder: holder,
            gate: holders::WriteGate::new(path),
        };
        let instance = store.migrate().await?;
        store.ann.lock().await.use_file(vectors_path(path), instance, path.to_owned());
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many vectors this handle's cache holds (from its own writes, the shared vector
    /// file or the table; see [`SqliteStore::vector_file`] for which).
    pub async fn cached_vectors(&self) -> usize {
        self.ann.lock().await.len()
    }

    /// Where this handle's cached vectors came from and where they are held (see
    /// [`vectors_path`]).
    pub async fn vector_file(&self) -> VectorFile {
        self.ann.lock().await.file_state()
    }

    /// How many vectors the stored HNSW snapshot covers, if there is one.
    pub async fn index_snapshot_nodes(&self) -> Result<Option<u64>> {
        let n: Option<i64> = sqlx::query_scalar("SELECT nodes FROM ann_snapshot WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(n.map(|n| n as u64))
    }

    /// Migrates the schema; returns the store's instance id (made on first open).
    async fn migrate(&self) -> Result<[u8; 16]> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS l9_schema (version INTEGER NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let current: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM l9_schema")
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let current = current.unwrap_or(0);
        let latest = schema::MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if current > latest {
            return Err(StoreError::Migration(format!(
                "{} has schema version {current}, newer than this build knows ({latest}); upgrade l9",
                self.path.display()
            )));
        }
        for (version, sql) in schema::MIGRATIONS.iter().filter(|m| m.0 > current) {
            sqlx::raw_sql(*sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Migration(e.to_string()))?;
            sqlx::query("INSERT INTO l9_schema (version) VALUES (?)")
                .bind(version)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let dims: Option<String> =
            sqlx::query_scalar("SELECT value FROM l9_meta WHERE key = 'store.dims'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        match dims {
            None => {
                sqlx::query("INSERT INTO l9_meta (key, value) VALUES ('store.dims', ?)")
                    .bind(self.opts.dims.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            Some(d) if d == self.opts.dims.to_string() => {}
            Some(d) => {
                return Err(StoreError::Migration(format!(
                    "{} holds {d}-dimensional embeddings but {} were configured; use an embedder with {d} dimensions or a new database",
                    self.path.display(),
                    self.opts.dims
                )));
            }
        }
        // Names this database among others at the same path over time (a deleted and
        // re-created store gets a new one), so caches beside it are never taken for its own.
        #[allow(clippy::disallowed_methods)]
        // a cache's identity, never part of a run or its replay
        let fresh = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO l9_meta (key, value) VALUES ('store.instance', ?) ON CONFLICT(key) DO NOTHING")
            .bind(fresh)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let instance: String =
            sqlx::query_scalar("SELECT value FROM l9_meta WHERE key = 'store.instance'")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(*codec::parse_uuid(&instance)?.as_bytes())
    }

    async fn rowid_of(&self, id: PacketId) -> Result<Option<i64>> {
        sqlx::query_scalar("SELECT rowid FROM packets WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn parents_of(
        &self,
        ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, Vec<PacketId>>> {
        let mut out: std::collections::HashMap<i64, Vec<PacketId>> = Default::default();
        if ids.is_empty() {
            return Ok(out);
        }
        for chunk in ids.chunks(500) {
            let mut qb = QueryBuilder::new(
                "SELECT pp.child, p.id FROM packet_parents pp JOIN packets p ON p.rowid = pp.parent WHERE pp.child IN (",
            );
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(") ORDER BY pp.child, pp.ord");
            for row in qb.build().fetch_all(&self.pool).await.map_err(db)? {
                let child: i64 = row.try_get(0).map_err(db)?;
                let id: String = row.try_get(1).map_err(db)?;
                out.entry(child).or_default().push(PacketId(codec::parse_uuid(&id)?));
            }
        }
        Ok(out)
    }

    /// Rows `(rowid, packet)` with parents filled in.
    async fn hydrate(&self, rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<PacketEnvelope>> {
        let mut rowids = Vec::with_capacity(rows.len());
        let mut packets = Vec::with_capacity(rows.len());
        for row in &rows {
            rowids.push(row.try_get::<i64, _>("rowid").map_err(db)?);
            packets.push(packet_from_row(row)?);
        }
        let mut parents = self.parents_of(&rowids).await?;
        for (rowid, p) in rowids.iter().zip(packets.iter_mut()) {
            p.parents = parents.remove(rowid).unwrap_or_default();
        }
        Ok(packets)
    }

    /// Drops common query terms (see `l9_store::prune_common_terms`), with document
    /// frequencies from the FTS5 vocabulary.
    async fn prune(&self, terms: Vec<String>) -> Result<Vec<String>> {
        let total: Option<i64> = sqlx::query_scalar("SELECT max(rowid) FROM packets")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let total = total.unwrap_or(0) as u64;
        if total <= l9_store::QUERY_POSTINGS_BUDGET {
            return Ok(terms);
        }
        let mut qb = QueryBuilder::new("SELECT term, doc FROM packet_fts_vocab WHERE term IN (");
        let mut sep = qb.separated(", ");
        for t in &terms {
            sep.push_bind(t.clone());
        }
        qb.push(")");
        let mut df = std::collections::HashMap::new();
        for row in qb.build().fetch_all(&self.pool).await.map_err(db)? {
            let t: String = row.try_get(0).map_err(db)?;
            let d: i64 = row.try_get(1).map_err(db)?;
            df.insert(t, d as u64);
        }
        Ok(l9_store::prune_common_terms(terms, total, |t| df.get(t).copied().unwrap_or(0)))
    }

    /// Packet rowids with embeddings that pass `filter`.
    async fn filtered_vector_rows(&self, filter: &PacketFilter) -> Result<Vec<i64>> {
        let mut qb = QueryBuilder::new(
            "SELECT p.rowid FROM packets p JOIN embeddings e ON e.packet = p.rowid WHERE 1=1",
        );
        push_filter(&mut qb, filter);
        qb.build_query_scalar().fetch_all(&self.pool).await.map_err(db)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn dims(&self) -> usize {
        self.opts.dims
    }

    fn tasks(&self) -> &dyn l9_store::TaskStore {
        self
    }

    async fn write(&self, batch: &WriteBatch) -> Result<WriteReport> {
        self.gate.open().await?;
        self.fast.tail_filed().await?;
        let (report, fresh) = write::write(&self.pool, self.opts.dims, batch).await?;
        if report.embeddings_inserted > 0 {
            // The vectors just written go to the cache as they are (when nothing lies between
            // them and what it holds), so the next search needs not read them back.
            let rows: Vec<(i64, i64, PacketId, &[f32])> = fresh
                .iter()
                .map(|&(r, p, id, i)| (r, p, id, batch.embeddings[i].1.as_slice()))
                .collect();
            // The rows are committed: a vector the cache cannot take (it would refuse it the
            // same way when reading it back) is no reason to report the write as failed.
            let mut cache = self.ann.clone().lock_owned().await;
            let _ = cache.adopt(&rows);
            // Writing them to the shared file (156 MB for 100k × 384) is file I/O: off the
            // async threads, the cache still locked (as catch-up does it).
            let _ = ann::VectorCache::flushed(cache).await;
            self.builder.kick(&self.ann, &self.pool);
        }
        Ok(report)
    }

    fn serialises_writes(&self) -> bool {
        true
    }

    async fn write_parts(&self, parts: &mut dyn WriteParts) -> Result<WriteReport> {
        self.gate.open().await?;
        self.fast.tail_filed().await?;
        // The cache caught up and all in the shared file, the load's vectors follow there as
        // its parts are written, and the cache takes them from the file once it commits: a
        // search right after a million-packet load reads none back from the table.
        let mut appender = {
            let cache =
                ann::VectorCache::catch_up(self.ann.clone().lock_owned().await, &self.pool).await?;
            ann::VectorCache::flushed(cache).await?.appender()
        };
        let (report, keys) =
            write::write_parts(&self.pool, self.opts.dims, parts, appender.as_mut()).await?;
        if report.embeddings_inserted > 0 {
            // The rows are committed: a failure to take them here leaves them to the next
            // catch-up, no reason to report the write as failed.
            let cache = self.ann.clone().lock_owned().await;
            let _ = ann::VectorCache::take_written(cache, &self.pool, &keys).await;
            // The index is built in the background as after any write.
            self.builder.kick(&self.ann, &self.pool);
        }
        Ok(report)
    }

    async fn wait_for_index(&self) -> Result<()> {
        self.builder.wait(&self.ann, &self.pool).await
    }

    async fn get_packet(&self, id: PacketId) -> Result<Option<PacketEnvelope>> {
        self.fast.tail_filed().await?;
        let sql =
            format!("SELECT {PACKET_COLUMNS}, p.rowid AS rowid FROM packets p WHERE p.id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            None => Ok(None),
            Some(row) => Ok(self.hydrate(vec![row]).await?.pop()),
        }
    }

    async fn get_packets(&self, ids: &[PacketId]) -> Result<Vec<PacketEnvelope>> {
        self.fast.tail_filed().await?;
        let mut by_id = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {PACKET_COLUMNS}, p.rowid AS rowid FROM packets p WHERE p.id IN ("
            ));
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.to_string());
            }
            qb.push(")");
            let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
            for p in self.hydrate(rows).await? {
                by_id.insert(p.id, p);
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
    }

    async fn list_packets(&self, filter: &PacketFilter, page: &Page) -> Result<PacketPage> {
        self.fast.tail_filed().await?;
        let limit = page.limit.clamp(1, 10_000);
        let mut qb = QueryBuilder::new(format!(
            "SELECT {PACKET_COLUMNS}, p.rowid AS rowid FROM packets p WHERE 1=1"
        ));
        push_filter(&mut qb, filter);
        if let Some(after) = page.after {
            qb.push(" AND p.id > ").push_bind(after.to_string());
        }
        qb.push(" ORDER BY p.id LIMIT ").push_bind(i64::from(limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        let mut packets = self.hydrate(rows).await?;
        let more = packets.len() > limit as usize;
        packets.truncate(limit as usize);
        let next = if more { packets.last().map(|p| p.id) } else { None };
        Ok(PacketPage { packets, next })
    }

    async fn count_packets(&self, filter: &PacketFilter) -> Result<u64> {
        self.fast.tail_filed().await?;
        let mut qb = QueryBuilder::new("SELECT count(*) FROM packets p WHERE 1=1");
        push_filter(&mut qb, filter);
        let n: i64 = qb.build_query_scalar().fetch_one(&self.pool).await.map_err(db)?;
        Ok(n as u64)
    }

    async fn lineage(&self, id: PacketId, dir: Direction, depth: u32) -> Result<Vec<LineageEntry>> {
        self.fast.tail_filed().await?;
        let Some(start) = self.rowid_of(id).await? else {
            return Err(StoreError::NotFound(format!("packet {id}")));
        };
        if depth == 0 {
            return Ok(Vec::new());
        }
        let (from, to) = match dir {
            Direction::Up => ("child", "parent"),
            Direction::Down => ("parent", "child"),
        };
        let sql = format!(
            "WITH RECURSIVE walk(r, depth) AS (
                SELECT {to}, 1 FROM packet_parents WHERE {from} = ?1
                UNION
                SELECT pp.{to}, w.depth + 1 FROM packet_parents pp JOIN walk w ON pp.{from} = w.r
                WHERE w.depth < ?2
             )
             SELECT p.id, min(w.depth) AS d FROM walk w JOIN packets p ON p.rowid = w.r
             GROUP BY w.r ORDER BY d, p.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(start)
            .bind(i64::from(depth))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0).map_err(db)?;
                let d: i64 = r.try_get(1).map_err(db)?;
                Ok(LineageEntry { depth: d as u32, id: PacketId(codec::parse_uuid(&id)?) })
            })
            .collect()
    }

    async fn put_blob(&self, bytes: &[u8]) -> Result<ContentHash> {
        let batch = WriteBatch { blobs: vec![bytes.to_vec()], ..Default::default() };
        self.write(&batch).await?;
        Ok(ContentHash::of_bytes(bytes))
    }

    async fn get_blob(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT data FROM blobs WHERE hash = ?")
            .bind(hash.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn text_search(&self, q: &TextQuery) -> Result<Vec<TextHit>> {
        self.fast.tail_filed().await?;
        let terms = tokenize(&q.query);
        if terms.is_empty() || q.k == 0 {
            return Ok(Vec::new());
        }
        let terms = self.prune(terms).await?;
        let expr = terms.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" OR ");
        let k = q.k.min(100_000) as i64;
        let rows = if q.filter.is_empty() {
            // Rank inside FTS5 alone, then resolve ids for the top k only.
            sqlx::query(
                "SELECT p.id, f.r FROM (SELECT rowid, bm25(packet_fts) AS r FROM packet_fts
                 WHERE packet_fts MATCH ? ORDER BY r LIMIT ?) f JOIN packets p ON p.rowid = f.rowid
                 ORDER BY f.r, p.id LIMIT ?",
            )
            .bind(expr)
            // A little slack so exact score ties at the boundary are broken by id, as on
            // the filtered path and on PostgreSQL.
            .bind(k + TIE_SLACK)
            .bind(k)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
        } else {
            let mut qb = QueryBuilder::new(
                "SELECT p.id, bm25(packet_fts) AS rank FROM packet_fts JOIN packets p ON p.rowid = packet_fts.rowid WHERE packet_fts MATCH ",
            );
            qb.push_bind(expr);
            push_filter(&mut qb, &q.filter);
            qb.push(" ORDER BY rank, p.id LIMIT ").push_bind(k);
            qb.build().fetch_all(&self.pool).await.map_err(db)?
        };
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0).map_err(db)?;
                let rank: f64 = r.try_get(1).map_err(db)?;
                Ok(TextHit { id: PacketId(codec::parse_uuid(&id)?), score: -rank })
            })
            .collect()
    }

    async fn vector_search(&self, q: &VectorQuery) -> Result<Vec<VectorHit>> {
        self.fast.tail_filed().await?;
        let query = codec::checked_unit(&q.vector, self.opts.dims)?;
        if q.k == 0 {
            return Ok(Vec::new());
        }
        let mut cache =
            ann::VectorCache::catch_up(self.ann.clone().lock_owned().await, &self.pool).await?;
        let allowed = if q.filter.is_empty() {
            None
        } else {
            Some(self.filtered_vector_rows(&q.filter).await?)
        };
        // A stored graph is loaded (not built) on a handle's first search.
        cache.prepare(&self.pool).await?;
        if cache.wants_build() && cache.len() > self.opts.exact_threshold {
            self.builder.kick(&self.ann, &self.pool);
        }
        cache.search(&query, q.k, allowed.as_deref(), q.exact, q.beam, &self.opts)
    }

    async fn has_embedding(&self, id: PacketId) -> Result<bool> {
        self.fast.tail_filed().await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM embeddings e JOIN packets p ON p.rowid = e.packet WHERE p.id = ?",
        )
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(n > 0)
    }

    async fn put_entity(&self, e: &Entity) -> Result<()> {
        self.gate.open().await?;
        graph::put_entity(&mut *self.pool.acquire().await.map_err(db)?, e).await
    }

    async fn put_relation(&self, r: &Relation) -> Result<()> {
        self.gate.open().await?;
        graph::put_relation(&mut *self.pool.acquire().await.map_err(db)?, r).await
    }

    async fn put_graph(&self, entities: &[Entity], relations: &[Relation]) -> Result<()> {
        self.gate.open().await?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        graph::put_graph(&mut tx, entities, relations).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_entity(&self, id: EntityId) -> Result<Option<Entity>> {
        graph::get_entity(&mut *self.pool.acquire().await.map_err(db)?, id).await
    }

    async fn invalidate_entity(
        &self,
        id: EntityId,
        valid_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.gate.open().await?;
        graph::invalidate(&self.pool, "kg_entities", "entity", id.0, valid_to, at).await
    }

    async fn invalidate_relation(
        &self,
        id: RelationId,
        valid_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.gate.open().await?;
        graph::invalidate(&self.pool, "kg_relations", "relation", id.0, valid_to, at).await
    }

    async fn entities(&self, q: &EntityQuery) -> Result<Vec<Entity>> {
        graph::entities(&self.pool, q).await
    }

    async fn relations(&self, q: &RelationQuery) -> Result<Vec<Relation>> {
        graph::relations(&self.pool, q).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM l9_meta WHERE key = ?")
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.gate.open().await?;
        sqlx::query("INSERT INTO l9_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key.to_owned())
            .bind(value.to_owned())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
