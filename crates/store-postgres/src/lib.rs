//! `l9-store-postgres` — the scale-out backend: PostgreSQL ≥ 15 with pgvector (tier T3).
//!
//! Selected by a `postgres://` URL. Full text is a generated `tsvector` column
//! (`simple` configuration: no stemming, the same terms as SQLite's FTS5) with a GIN
//! index; vectors are a `vector(N)` column with an HNSW index (`vector_cosine_ops`),
//! searched with pgvector's iterative scans so filtered queries still return `k` rows.
//! Writes check everything with a few set lookups and insert with `unnest`, in one
//! transaction. Migrations run under an advisory lock.
//!
//! Requires the `vector` extension to be installable (`CREATE EXTENSION vector`): the role
//! needs the privilege, or an administrator creates it once.

/// Raw-SQL floors for `l9 bench` (feature `baseline`).
#[cfg(feature = "baseline")]
pub mod baseline;
mod codec;
mod graph;
mod journal;
mod lanes;
mod mode;
pub use journal::GroupCommitStats;
mod schema;
mod tail;
mod tasks;
mod terms;
mod write;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use l9_store::{
    Backend, Direction, Entity, EntityId, EntityQuery, LineageEntry, PacketFilter, PacketPage,
    Page, Relation, RelationId, RelationQuery, Result, Store, StoreError, TextHit, TextQuery,
    VectorHit, VectorQuery, WriteBatch, WriteParts, WriteReport, normalized, tokenize,
};
use l9_types::{ContentHash, PacketEnvelope, PacketId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use codec::{PACKET_COLUMNS, db, packet_from_row, push_filter};

/// Whether `scheme://user:password@host/…` carries a password.
fn url_has_password(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(auth, _)| auth.split_once(':'))
        .is_some_and(|(_, pw)| !pw.is_empty())
}

/// How a PostgreSQL store is opened.
#[derive(Clone)]
pub struct PgOptions {
    /// Embedding dimension for a new database; an existing one must match.
    pub dims: usize,
    /// Keep L9's tables in this schema (created if missing) instead of `public`.
    pub schema: Option<String>,
    pub max_connections: u32,
    /// pgvector's `hnsw.ef_search` (beam width of approximate searches).
    pub ef_search: u32,
    /// Most `maintenance_work_mem` (MiB) a large load may use to rebuild the vector index
    /// in memory; a graph larger than this is built on disk, much more slowly.
    pub index_memory_mb: u32,
    /// The password, when the URL has none (from a password file). Without either, libpq's
    /// `PGPASSWORD` and `PGPASSFILE` (or `~/.pgpass`) are read.
    pub password: Option<String>,
    /// A pooled connection idle at least this long is pinged before it is handed out (and
    /// replaced when dead). One that served a statement more recently is handed out as it is:
    /// sqlx's own test pinged every connection on every acquire, a round trip before each
    /// statement. Zero pings every time.
    pub ping_after_idle: Duration,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("dims", &self.dims)
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("ef_search", &self.ef_search)
            .field("index_memory_mb", &self.index_memory_mb)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("ping_after_idle", &self.ping_after_idle)
            .finish()
    }
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            dims: 384,
            schema: None,
            max_connections: 8,
            ef_search: 100,
            index_memory_mb: 4096,
            password: None,
            ping_after_idle: Duration::from_secs(1),
        }
    }
}

/// The PostgreSQL [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    opts: PgOptions,
    /// `LISTEN` connection of idle workers (see `TaskStore::wait_for_work`).
    listener: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::postgres::PgListener>>>,
    /// Tasks enqueued since the last `ANALYZE tasks` (see `TaskStore::enqueue`).
    enqueued: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Packets written since the last `ANALYZE packets` (see `Store::write`).
    written: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Common full-text terms' frequencies, for query-term pruning.
    terms: std::sync::Arc<terms::TermStats>,
    /// Group commit of journal appends; `None`: each append commits on its own (the
    /// benchmark's side-by-side baseline).
    committer: Option<std::sync::Arc<journal::Committer>>,
    /// The journal's unfiled tail (`tail.rs`): every method that reads `packets`,
    /// `packet_parents`, the full-text index or `journal`, or writes packets that may
    /// descend from journal entries, calls `self.tail.filed()` first — except where the
    /// answer cannot depend on it: a packet found by id (stored packets never change), and
    /// vector search and embeddings (an entry in the tail has no embedding: embeddings are
    /// written by `write`, which files first).
    tail: std::sync::Arc<tail::Tail>,
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub use l9_types::redact::redact_url;

impl PgStore {
    /// After a write: full-text term pruning reads the common terms from `pg_stats`; after
    /// many writes refresh them at once rather than waiting for autovacuum (until then a
    /// query ranks every document holding a common word). A large load analyzes inside its
    /// write.
    async fn written(&self, report: &WriteReport) -> Result<()> {
        use std::sync::atomic::Ordering;
        let n = report.packets_inserted as u64;
        if report.ann_index_build_ms.is_some() {
            self.written.store(0, Ordering::Relaxed);
            self.terms.invalidate();
        } else if self.written.fetch_add(n, Ordering::Relaxed) + n >= 10_000 {
            self.written.store(0, Ordering::Relaxed);
            sqlx::query("ANALYZE packets").execute(&self.pool).await.map_err(db)?;
            self.terms.invalidate();
        }
        Ok(())
    }

    /// The filed packets among `ids`, by id.
    async fn packets_by_id(
        &self,
        ids: &[PacketId],
    ) -> Result<std::collections::HashMap<PacketId, PacketEnvelope>> {
        let uuids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
        let (sql, reuse) = codec::for_keys(
            &format!("SELECT {PACKET_COLUMNS} FROM packets p WHERE p.id = ANY($1)"),
            uuids.len(),
        );
        let rows = sqlx::query(sql)
            .bind(&uuids)
            .persistent(reuse)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(|r| packet_from_row(r).map(|p| (p.id, p))).collect()
    }

    /// The same store (same pool) with each journal append committed on its own, as before
    /// group commit: the benchmark runs it next to the default to show what grouping buys.
    pub fn without_group_commit(&self) -> PgStore {
        PgStore { committer: None, ..self.clone() }
    }

    /// What group commit has done so far (`None` without it).
    pub fn group_commit_stats(&self) -> Option<journal::GroupCommitStats> {
        self.committer.as_ref().map(|c| c.stats())
    }

    /// Connects to `url` (`postgres://…`) and migrates the schema.
    pub async fn open(url: &str, opts: PgOptions) -> Result<Self> {
        if opts.dims == 0 || opts.dims > 16_000 {
            return Err(StoreError::Invalid(format!(
                "embedding dimension {} is out of range",
                opts.dims
            )));
        }
        if let Some(s) = &opts.schema
            && !valid_schema_name(s)
        {
            return Err(StoreError::Invalid(format!(
                "invalid schema name {s:?}: use lower-case letters, digits and _"
            )));
        }
        let shown = redact_url(url);
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("{shown}: {e}")))?
            .application_name("l9");
        if let Some(pw) = &opts.password
            && !url_has_password(url)
        {
            connect = connect.password(pw);
        }
        let search_path = match &opts.schema {
            Some(s) => format!("{s},public"),
            None => "\"$user\",public".to_owned(),
        };
        let ef = opts.ef_search.to_string();
        connect = connect.options([
            ("search_path", search_path.as_str()),
            ("hnsw.ef_search", ef.as_str()),
            ("hnsw.iterative_scan", "strict_order"),
            // Full-text inserts queue in the GIN index's pending list, which every search
            // reads in full until it is merged: keep it short (the default, 4 MB, cost a
            // search up to ~10 ms). Large writes raise it for themselves and merge at the end.
            ("gin_pending_list_limit", write::GIN_PENDING_KB),
        ]);
        let idle = opts.ping_after_idle;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(Duration::from_secs(15))
            // Instead of sqlx's ping on every acquire, only a connection that has sat idle
            // (a server may have restarted meanwhile) is tested; see `ping_after_idle`.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= idle {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{shown}: {e}")))?;
        let lanes = lanes::lanes_for_pool(opts.max_connections);
        let opts_schema = opts.schema.clone();
        let store = PgStore {
            pool,
            opts,
            listener: Default::default(),
            enqueued: Default::default(),
            written: Default::default(),
            terms: Default::default(),
            committer: Some(std::sync::Arc::new(journal::Committer::new(lanes))),
            tail: tail::Tail::new(opts_schema.as_deref().unwrap_or("public")),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Drops this store's schema (only when opened with `schema`). For tests and tools.
    pub async fn drop_schema(&self) -> Result<()> {
        if let Some(s) = &self.opts.schema {
            let sql = format!("DROP SCHEMA IF EXISTS {s} CASCADE");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await.map_err(db)?;
        }
        Ok(())
    }

    /// The schema this store keeps its tables in (`None`: the search path's default).
    pub fn schema(&self) -> Option<&str> {
        self.opts.schema.as_deref()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<()> {
        let mig = |e: sqlx::Error| StoreError::Migration(e.to_string());
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SELECT pg_advisory_xact_lock(7301042)")
            .execute(&mut *tx)
            .await
            .map_err(mig)?;
        sqlx::query("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::Migration(format!(
                    "cannot enable pgvector ({e}); install pgvector on the server (scripts/setup-postgres does) or have an administrator run CREATE EXTENSION vector"
                ))
            })?;
        if let Some(s) = &self.opts.schema {
            let sql = format!("CREATE SCHEMA IF NOT EXISTS {s}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(mig)?;
        }
        sqlx::query("CREATE TABLE IF NOT EXISTS l9_schema (version INTEGER NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(mig)?;
        let current: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM l9_schema")
            .fetch_one(&mut *tx)
            .await
            .map_err(mig)?;
        let current = i64::from(current.unwrap_or(0));
        let migrations = schema::migrations(self.opts.dims);
        let latest = migrations.last().map(|m| m.0).unwrap_or(0);
        if current > latest {
            return Err(StoreError::Migration(format!(
                "the database has schema version {current}, newer than this build knows ({latest}); upgrade l9"
            )));
        }
        for (version, sql) in migrations.into_iter().filter(|m| m.0 > current) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(mig)?;
            sqlx::query("INSERT INTO l9_schema (version) VALUES ($1)")
                .bind(version as i32)
                .execute(&mut *tx)
                .await
                .map_err(mig)?;
        }
        let dims: Option<String> =
            sqlx::query_scalar("SELECT value FROM l9_meta WHERE key = 'store.dims'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(mig)?;
        match dims {
            None => {
                sqlx::query("INSERT INTO l9_meta (key, value) VALUES ('store.dims', $1)")
                    .bind(self.opts.dims.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(mig)?;
            }
            Some(d) if d == self.opts.dims.to_string() => {}
            Some(d) => {
                return Err(StoreError::Migration(format!(
                    "the database holds {d}-dimensional embeddings but {} were configured; use an embedder with {d} dimensions or a new database",
                    self.opts.dims
                )));
            }
        }
        tx.commit().await.map_err(db)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn tasks(&self) -> &dyn l9_store::TaskStore {
        self
    }

    fn dims(&self) -> usize {
        self.opts.dims
    }

    async fn write(&self, batch: &WriteBatch) -> Result<WriteReport> {
        self.tail.filed(&self.pool).await?;
        let report =
            write::write(&self.pool, self.opts.dims, self.opts.index_memory_mb, batch).await?;
        self.written(&report).await?;
        Ok(report)
    }

    async fn write_parts(&self, parts: &mut dyn WriteParts) -> Result<WriteReport> {
        self.tail.filed(&self.pool).await?;
        let report =
            write::write_parts(&self.pool, self.opts.dims, self.opts.index_memory_mb, parts)
                .await?;
        self.written(&report).await?;
        Ok(report)
    }

    /// A stored packet never changes, so one found needs no filing of the journal's tail
    /// first; only one not found may be waiting there.
    async fn get_packet(&self, id: PacketId) -> Result<Option<PacketEnvelope>> {
        let found = self.packets_by_id(&[id]).await?;
        if !found.is_empty() || !self.tail.filed(&self.pool).await? {
            return Ok(found.into_values().next());
        }
        Ok(self.packets_by_id(&[id]).await?.into_values().next())
    }

    /// As [`Self::get_packet`]: the tail is filed only when a packet asked for is not found.
    async fn get_packets(&self, ids: &[PacketId]) -> Result<Vec<PacketEnvelope>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_id = self.packets_by_id(ids).await?;
        let all = ids.iter().all(|id| by_id.contains_key(id));
        if !all && self.tail.filed(&self.pool).await? {
            by_id = self.packets_by_id(ids).await?;
        }
        Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
    }

    async fn list_packets(&self, filter: &PacketFilter, page: &Page) -> Result<PacketPage> {
        self.tail.filed(&self.pool).await?;
        let limit = page.limit.clamp(1, 10_000);
        let mut qb =
            QueryBuilder::new(format!("SELECT {PACKET_COLUMNS} FROM packets p WHERE true"));
        push_filter(&mut qb, filter);
        if let Some(after) = page.after {
            qb.push(" AND p.id > ").push_bind(after.0);
        }
        qb.push(" ORDER BY p.id LIMIT ").push_bind(i64::from(limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        let mut packets = rows.iter().map(packet_from_row).collect::<Result<Vec<_>>>()?;
        let more = packets.len() > limit as usize;
        packets.truncate(limit as usize);
        let next = if more { packets.last().map(|p| p.id) } else { None };
        Ok(PacketPage { packets, next })
    }

    async fn count_packets(&self, filter: &PacketFilter) -> Result<u64> {
        self.tail.filed(&self.pool).await?;
        let mut qb = QueryBuilder::new("SELECT count(*) FROM packets p WHERE true");
        push_filter(&mut qb, filter);
        let n: i64 = qb.build_query_scalar().fetch_one(&self.pool).await.map_err(db)?;
        Ok(n as u64)
    }

    async fn lineage(&self, id: PacketId, dir: Direction, depth: u32) -> Result<Vec<LineageEntry>> {
        self.tail.filed(&self.pool).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM packets WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("packet {id}")));
        }
        if depth == 0 {
            return Ok(Vec::new());
        }
        let (from, to) = match dir {
            Direction::Up => ("child_id", "parent_id"),
            Direction::Down => ("parent_id", "child_id"),
        };
        let sql = format!(
            "WITH RECURSIVE walk(id, depth) AS (
                SELECT {to}, 1 FROM packet_parents WHERE {from} = $1
                UNION
                SELECT pp.{to}, w.depth + 1 FROM packet_parents pp JOIN walk w ON pp.{from} = w.id
                WHERE w.depth < $2
             )
             SELECT id, min(depth) AS d FROM walk GROUP BY id ORDER BY d, id"
        );
        let rows: Vec<(Uuid, i32)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .bind(depth.min(i32::MAX as u32) as i32)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(id, d)| LineageEntry { depth: d as u32, id: PacketId(id) })
            .collect())
    }

    async fn put_blob(&self, bytes: &[u8]) -> Result<ContentHash> {
        self.write(&WriteBatch { blobs: vec![bytes.to_vec()], ..Default::default() }).await?;
        Ok(ContentHash::of_bytes(bytes))
    }

    async fn get_blob(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT data FROM blobs WHERE hash = $1")
            .bind(hash.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    /// The statement also says whether the journal's tail holds anything (one probe in the
    /// same snapshot, so no round trip of its own): if it does, or nothing was found (the
    /// flag comes with the rows), the tail is filed and the search runs again.
    async fn text_search(&self, q: &TextQuery) -> Result<Vec<TextHit>> {
        let terms = tokenize(&q.query);
        if terms.is_empty() || q.k == 0 {
            return Ok(Vec::new());
        }
        let mut terms = self.terms.prune(&self.pool, terms).await?;
        let mut seen = std::collections::HashSet::new();
        terms.retain(|t| seen.insert(t.clone()));
        let k = q.k.min(100_000) as i64;
        let (hits, pending) = text_hits(&self.pool, &terms, &q.filter, k).await?;
        let refiled = match pending {
            Some(false) => false,
            // Hits, and the tail holds some entries; or no hits, and nothing said.
            Some(true) | None => self.tail.filed(&self.pool).await?,
        };
        if !refiled {
            return Ok(hits);
        }
        Ok(text_hits(&self.pool, &terms, &q.filter, k).await?.0)
    }

    async fn vector_search(&self, q: &VectorQuery) -> Result<Vec<VectorHit>> {
        if q.vector.len() != self.opts.dims {
            return Err(StoreError::Dimension { expected: self.opts.dims, got: q.vector.len() });
        }
        normalized(&q.vector)?;
        if q.k == 0 {
            return Ok(Vec::new());
        }
        // The vector travels as binary `real[]` (not 384 numbers in text to parse), and the
        // packets are joined only for a filter (every embedding has its packet).
        let mut qb = QueryBuilder::new("SELECT e.packet_id, (e.embedding <=> ");
        qb.push_bind(q.vector.clone()).push("::real[]::vector)::float8 AS d FROM embeddings e");
        if !q.filter.is_empty() {
            qb.push(" JOIN packets p ON p.id = e.packet_id WHERE true");
            push_filter(&mut qb, &q.filter);
        }
        qb.push(" ORDER BY e.embedding <=> ")
            .push_bind(q.vector.clone())
            .push("::real[]::vector LIMIT ")
            .push_bind(q.k as i64);
        // A setting for this query only: exact (the index forbidden), or another beam than
        // the connection's `hnsw.ef_search` (pgvector returns at most that many rows).
        let local = if q.exact {
            Some("SET LOCAL enable_indexscan = off".to_string())
        } else {
            q.beam
                .map(|b| b.max(q.k).clamp(1, 1000))
                .filter(|b| *b != self.opts.ef_search as usize)
                .map(|b| format!("SET LOCAL hnsw.ef_search = {b}"))
        };
        let rows = match local {
            Some(set) => {
                let mut tx = self.pool.begin().await.map_err(db)?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(set)).execute(&mut *tx).await.map_err(db)?;
                let rows = qb.build().fetch_all(&mut *tx).await.map_err(db)?;
                tx.commit().await.map_err(db)?;
                rows
            }
            None => qb.build().fetch_all(&self.pool).await.map_err(db)?,
        };
        let mut hits = rows
            .iter()
            .map(|r| {
                let d: f64 = r.try_get(1).map_err(db)?;
                Ok(VectorHit {
                    id: PacketId(r.try_get(0).map_err(db)?),
                    distance: (d as f32).max(0.0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
        Ok(hits)
    }

    async fn has_embedding(&self, id: PacketId) -> Result<bool> {
        let n: Option<i32> = sqlx::query_scalar("SELECT 1 FROM embeddings WHERE packet_id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(n.is_some())
    }

    async fn put_entity(&self, e: &Entity) -> Result<()> {
        graph::put_entity(&mut *self.pool.acquire().await.map_err(db)?, e).await
    }

    async fn put_relation(&self, r: &Relation) -> Result<()> {
        graph::put_relation(&mut *self.pool.acquire().await.map_err(db)?, r).await
    }

    async fn put_graph(&self, entities: &[Entity], relations: &[Relation]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
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
        graph::invalidate(&self.pool, "kg_entities", "entity", id.0, valid_to, at).await
    }

    async fn invalidate_relation(
        &self,
        id: RelationId,
        valid_to: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        graph::invalidate(&self.pool, "kg_relations", "relation", id.0, valid_to, at).await
    }

    async fn entities(&self, q: &EntityQuery) -> Result<Vec<Entity>> {
        graph::entities(&self.pool, q).await
    }

    async fn relations(&self, q: &RelationQuery) -> Result<Vec<Relation>> {
        graph::relations(&self.pool, q).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM l9_meta WHERE key = $1")
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO l9_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key.to_owned())
            .bind(value.to_owned())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

/// The full-text statement of [`Store::text_search`] for the pruned `terms`: the hits, best
/// first, and whether the journal's tail held anything in the
/// statement's snapshot (`None` when there were no hits to carry the flag).
async fn text_hits(
    pool: &PgPool,
    terms: &[String],
    filter: &PacketFilter,
    k: i64,
) -> Result<(Vec<TextHit>, Option<bool>)> {
    // Terms are alphanumeric runs: no tsquery syntax can get through.
    let any = terms.join(" | ");
    // The queries are parsed once, in `FROM` (as function scans): in an expression,
    // `to_tsquery` ran again for every candidate row whenever the prepared statement went
    // to its generic plan (~4 µs a row, seen with `plan_cache_mode = force_generic_plan`).
    let rank =
        "SELECT p.id, ts_rank(p.tsv, q)::float8 AS score FROM packets p, to_tsquery('simple', ";
    let mut qb = QueryBuilder::new(
        "SELECT t.id, t.score, \
        (SELECT EXISTS (SELECT 1 FROM journal_pending)) AS pending FROM (",
    );
    match terms::at_least_two(terms) {
        // Documents with two or more of the terms first, ranked; the one-term documents
        // only when those are fewer than k (`terms::at_least_two` says why that is exact).
        Some(two) => {
            qb.push("WITH strong AS (").push(rank).push_bind(any.clone());
            qb.push(") q, to_tsquery('simple', ").push_bind(two.clone());
            qb.push(") q2 WHERE p.tsv @@ q2");
            push_filter(&mut qb, filter);
            qb.push(" ORDER BY score DESC, p.id LIMIT ").push_bind(k);
            qb.push(") SELECT id, score FROM (SELECT id, score FROM strong UNION ALL (")
                .push(rank)
                .push_bind(any);
            qb.push(") q, to_tsquery('simple', ").push_bind(two);
            qb.push(") q2 WHERE (SELECT count(*) FROM strong) < ").push_bind(k);
            qb.push(" AND p.tsv @@ q AND NOT p.tsv @@ q2");
            push_filter(&mut qb, filter);
            qb.push(" ORDER BY score DESC, p.id LIMIT ").push_bind(k);
            qb.push(")) u ORDER BY score DESC, id LIMIT ").push_bind(k);
        }
        None => {
            qb.push(rank).push_bind(any).push(") q WHERE p.tsv @@ q");
            push_filter(&mut qb, filter);
            qb.push(" ORDER BY score DESC, p.id LIMIT ").push_bind(k);
        }
    }
    qb.push(") t ORDER BY t.score DESC, t.id");
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    let pending = match rows.first() {
        Some(r) => Some(r.try_get::<bool, _>(2).map_err(db)?),
        None => None,
    };
    let hits = rows
        .iter()
        .map(|r| {
            Ok(TextHit {
                id: PacketId(r.try_get(0).map_err(db)?),
                score: r.try_get(1).map_err(db)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((hits, pending))
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(super::redact_url("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(super::redact_url("postgres://h/db"), "postgres://h/db");
    }
}
