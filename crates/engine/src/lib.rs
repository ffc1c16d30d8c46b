//! `l9-engine` — the Unified Controller's façade: the one API the edges (CLI, HTTP server,
//! MCP) use (tier T4).
//!
//! It owns what needs every runtime at once: configuration ([`config`]: `.l9/l9.toml`,
//! then the environment, every setting with its origin), the storage backend chosen from a
//! URL, the embedder, the loop (`l9.run` in [`pipeline`] with its typed values in
//! [`stages`], `l9.agent` in [`agent`]), the run as one typed event stream ([`events`]),
//! the Task Runtime's operations for the edges ([`runtime`]), memory import and export
//! ([`jsonl`]), the IR Engine's file-level operations ([`ir`]), the world model's operations
//! the edges use ([`world`]) and reports ([`report`]).
//!
//! What it is not: no argument parsing, no terminal output (edges render what it returns),
//! and no runtime re-exported whole: the plan driver lives in `l9-tasks`, the world model's
//! storage in `l9-world-store`, the benchmarks in `l9-bench`.

pub mod agent;
pub mod approvals;
pub mod bench_learning;
/// `.l9/l9.toml` and the environment (read by the `l9-config` crate).
pub mod config {
    pub use l9_config::{
        CommandPolicy, Config, ConfigKey, EmbedderKind, KEYS, PASSWORD_FILE, Password, SandboxMode,
        ScheduleConfig, Setting, template,
    };
}
pub mod db;
mod error;
pub mod events;
mod execute;
mod fanout;
pub mod gc;
pub mod ingest;
pub mod ir;
pub mod jsonl;
/// Model providers and coding agents from `l9.toml` (read by the `l9-config` crate).
pub mod models {
    pub use l9_config::models::{AgentCmdConfig, ModelsConfig, ProviderConfig, ProviderKind};
}
pub mod pipeline;
pub mod quarantine;
mod reflect;
pub mod report;
pub mod review;
pub mod runtime;
pub mod sim;
pub mod stages;
pub mod steer;
pub mod surface;
pub mod telemetry;
pub mod verify;
pub mod world;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use l9_memory::{Embedder, HashEmbedder, OpenAiEmbedder, OpenAiEmbedderConfig};
use l9_store_postgres::{PgOptions, PgStore};
use l9_store_sqlite::{SqliteOptions, SqliteStore};
use l9_types::{SeededRng, SystemClock};

pub use config::{Config, EmbedderKind};
pub use error::{EngineError, ErrorKind, Result};
// The runtimes' types the edges handle, by name (no crate is re-exported whole: an edge
// reaches a runtime only through what this façade chose to show).
pub use l9_kernel::Budget;
pub use l9_memory::{MemoryService, SearchMode, SearchQuery};
pub use l9_store::{
    Direction, PacketFilter, Page, Signal, Store, TaskFilter, TaskPage, TaskRecord, TaskState,
};
pub use l9_tasks::{TaskError, WorkerOptions, WorkerReport, run_of};
/// A database URL with its password replaced by `***`, for messages.
pub use l9_types::redact::redact_url;

/// How an error of the database's surroundings begins (full, read-only, damaged, unreachable).
pub const STORAGE_MARK: &str = l9_store::ENVIRONMENT_MARK;

pub use l9_config::{CONFIG_FILE, STATE_DIR};

/// An opened project: configuration, store and memory service.
#[derive(Debug, Clone)]
pub struct Engine {
    root: PathBuf,
    config: Config,
    store: Arc<dyn Store>,
    memory: MemoryService,
}

/// Puts the limits set in the environment (`env` reads a variable) in force for this process,
/// checked before any work: a value that is not a number a limit takes is refused
/// (`L9-LIMIT-001`, exit 3), naming the variable and what it takes, instead of being ignored.
/// See [`l9_types::limits`].
pub fn install_limits(env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    let limits = l9_types::limits::Limits::from_env(env).map_err(|bad| {
        EngineError::Input(
            bad.into_iter().map(|m| l9_types::Diagnostic::error("L9-LIMIT-001", m)).collect(),
        )
    })?;
    l9_types::limits::install(limits);
    Ok(())
}

/// Finds the project root: the nearest ancestor of `start` holding `.l9/l9.toml`, else
/// `start` itself.
pub fn find_root(start: &Path) -> PathBuf {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if d.join(STATE_DIR).join(CONFIG_FILE).is_file() {
            return d.to_owned();
        }
        dir = d.parent();
    }
    start.to_owned()
}

/// What `init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    pub root: PathBuf,
    pub config_created: bool,
    /// The seed packs: items added now, items already there.
    pub seeds: l9_world_store::SeedReport,
    pub store_url: String,
}

impl Engine {
    /// The requirement classifier for this project's specs (see [`ir::spec_classifier`]).
    pub fn spec_classifier(&self) -> Result<l9_ir::Classifier> {
        ir::spec_classifier(&self.config)
    }

    /// Creates `.l9/` with `l9.toml` and the database under `root`. Idempotent: an existing
    /// configuration is kept (a `db` different from the configured one is an error).
    pub async fn init(root: &Path, db: Option<&str>) -> Result<InitReport> {
        let dir = root.join(STATE_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
        let path = dir.join(CONFIG_FILE);
        let mut created = false;
        if !path.exists() {
            created = create_config(&dir, &path, db)?;
        } else if let Some(db) = db {
            let existing = Config::load(root, &|_| None)?;
            let bare = split_password(db).map_or_else(|| db.to_string(), |(bare, _)| bare);
            if existing.store_url != db && existing.store_url != bare {
                return Err(EngineError::Config(format!(
                    "{} already configures store.url = {:?}; edit it there to switch databases",
                    path.display(),
                    existing.store_url
                )));
            }
        }
        let engine = Engine::open_unseeded(root, None).await?;
        let seeds = engine.load_seeds().await?;
        // The API token `l9 serve` requires (`.l9/token`, owner-only).
        surface::ensure_token(&dir)?;
        Ok(InitReport {
            root: root.to_owned(),
            config_created: created,
            store_url: engine.config.store_url.clone(),
            seeds,
        })
    }

    /// Whether `root` holds an L9 project (`.l9/l9.toml`).
    pub fn is_project(root: &Path) -> bool {
        root.join(STATE_DIR).join(CONFIG_FILE).is_file()
    }

    /// Opens the project at `root` for reading: without `.l9/l9.toml` there (and no database
    /// named by `db_override`) it is not an L9 project, and nothing is created.
    pub async fn open_existing(root: &Path, db_override: Option<&str>) -> Result<Engine> {
        if db_override.is_none() && !Engine::is_project(root) {
            return Err(EngineError::NotProject(root.to_owned()));
        }
        Engine::open(root, db_override).await
    }

    /// Opens the project at `root` (configuration from its `.l9/l9.toml` if any, then the
    /// environment, then `db_override`).
    pub async fn open(root: &Path, db_override: Option<&str>) -> Result<Engine> {
        let engine = Engine::open_unseeded(root, db_override).await?;
        // A store gets the four seed packs however it was created (`l9 init`, or `l9 run`
        // in a directory that had none): a world model without them forecasts nothing.
        let world = engine.world();
        if !world.is_seeded().await? {
            world.load_seeds().await?;
        }
        Ok(engine)
    }

    async fn open_unseeded(root: &Path, db_override: Option<&str>) -> Result<Engine> {
        let mut config = Config::load(root, &|v| std::env::var(v).ok())?;
        if let Some(db) = db_override {
            config.store_url = db.to_owned();
        }
        register_secrets(root, &config);
        let embedder = build_embedder(&config)?;
        let store = open_store(root, &config, embedder.dims()).await?;
        owner_only(&root.join(STATE_DIR));
        let memory = MemoryService::open(
            store.clone(),
            embedder,
            Arc::new(SystemClock),
            Arc::new(SeededRng::from_entropy()),
        )
        .await?;
        Ok(Engine { root: root.to_owned(), config, store, memory })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What `l9.agent` needs: providers and agents from the configuration, keys from the
    /// process environment.
    pub fn agent_env(&self) -> agent::AgentEnv {
        let mut env = agent::AgentEnv::new(
            self.root.clone(),
            self.config.models.clone(),
            Arc::new(|v: &str| std::env::var(v).ok()),
        );
        env.memory = Some(self.memory().clone());
        env.commands = self.config.commands.clone();
        env
    }

    /// Every workflow a worker of this project runs: the built-ins and `l9.agent`.
    pub fn registry(&self) -> l9_tasks::Registry {
        self.registry_with(Arc::new(self.agent_env()))
    }

    pub fn registry_with(&self, env: Arc<agent::AgentEnv>) -> l9_tasks::Registry {
        let mut reg = l9_tasks::builtin::builtin();
        agent::register(&mut reg, env.clone());
        verify::register(&mut reg, self.clone(), env.clone());
        review::register(&mut reg, env.clone());
        pipeline::register(&mut reg, self.clone(), env);
        reg
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn memory(&self) -> &MemoryService {
        &self.memory
    }

    /// The project's world model (its storage and queries live in `l9-world-store`).
    pub fn world(&self) -> l9_world_store::WorldModel {
        l9_world_store::WorldModel::new(self.memory.clone())
    }

    /// The store (memory, queue and journal live in the same database).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// Builds the configured embedder (no network call is made here).
pub(crate) fn build_embedder(config: &Config) -> Result<Arc<dyn Embedder>> {
    Ok(match &config.embedder {
        EmbedderKind::Hash => Arc::new(HashEmbedder::new(config.dims)),
        EmbedderKind::OpenAi { base_url, model, api_key_env } => {
            Arc::new(OpenAiEmbedder::new(OpenAiEmbedderConfig {
                base_url: base_url.clone(),
                model: model.clone(),
                api_key_env: api_key_env.clone(),
                dims: config.dims,
                ..Default::default()
            })?)
        }
        EmbedderKind::LocalBert { dir } => local_bert(dir)?,
    })
}

#[cfg(feature = "local-embed")]
fn local_bert(dir: &Path) -> Result<Arc<dyn Embedder>> {
    Ok(Arc::new(l9_memory::LocalBertEmbedder::load(dir)?))
}

#[cfg(not(feature = "local-embed"))]
fn local_bert(_dir: &Path) -> Result<Arc<dyn Embedder>> {
    Err(EngineError::Config(
        "memory.embedder = \"local-bert\" needs an l9 built with the `local-embed` feature (cargo build --release --features local-embed)"
            .into(),
    ))
}

/// Opens the store a URL names: `postgres://` / `postgresql://` or `sqlite://PATH` (a
/// relative path is relative to the project root).
pub(crate) async fn open_store(
    root: &Path,
    config: &Config,
    dims: usize,
) -> Result<Arc<dyn Store>> {
    let url = config.store_url.as_str();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let opts = PgOptions {
            dims,
            password: config.store_password.as_ref().map(|p| p.0.clone()),
            ..Default::default()
        };
        return Ok(Arc::new(PgStore::open(url, opts).await?));
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
    let Some(path) = path else {
        return Err(EngineError::Config(format!(
            "store.url {url:?} is neither sqlite://PATH nor postgres://…; set it in .l9/l9.toml, with --db or L9_DB"
        )));
    };
    let path = root.join(path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
    }
    let opts = SqliteOptions { dims, sync_full: config.sqlite_sync_full, ..Default::default() };
    Ok(Arc::new(SqliteStore::open(&path, opts).await?))
}

/// Registers what must never be kept or shown ([`l9_types::redact`]): the values of the
/// environment variables the configuration names as holding keys (`*api_key_env`, and an
/// agent's pass-through variables whose names say KEY, TOKEN, SECRET or PASSWORD), the
/// password of a database URL, and the project's API token.
fn register_secrets(root: &Path, config: &Config) {
    use l9_types::redact::register_secret;
    for s in &config.settings {
        let names: Vec<&str> = if s.key.ends_with("api_key_env") {
            vec![s.value.as_str()]
        } else if s.key.starts_with("agents.") && s.key.ends_with(".env") {
            s.value
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|n| {
                    let u = n.to_ascii_uppercase();
                    ["KEY", "TOKEN", "SECRET", "PASSWORD"].iter().any(|w| u.contains(w))
                })
                .collect()
        } else {
            vec![]
        };
        for n in names.into_iter().filter(|n| !n.is_empty()) {
            if let Ok(v) = std::env::var(n) {
                register_secret(&v);
            }
        }
    }
    if let Some(pw) = url_password(&config.store_url) {
        register_secret(&pw);
    }
    if let Some(pw) = &config.store_password {
        register_secret(&pw.0);
    }
    if let Ok(pw) = std::env::var("PGPASSWORD") {
        register_secret(&pw);
    }
    if let Ok(t) = std::fs::read_to_string(root.join(STATE_DIR).join(surface::TOKEN_FILE)) {
        register_secret(&t);
    }
}

/// Writes `l9.toml` for a new project unless another process just did (two `l9 init`s at
/// once): the file appears whole or not at all (written aside, then linked into place,
/// which fails if it exists). A password in `db` goes to `.l9/db-password` (owner-only),
/// never into `l9.toml`. Returns whether this process created it.
fn create_config(dir: &Path, path: &Path, db: Option<&str>) -> Result<bool> {
    let (db, password) = match db {
        Some(url) => match split_password(url) {
            Some((bare, pw)) => (Some(bare), Some(pw)),
            None => (Some(url.to_string()), None),
        },
        None => (None, None),
    };
    if let Some(pw) = &password {
        let file = dir.join(config::PASSWORD_FILE);
        write_owner_only(&file, format!("{pw}\n").as_bytes())?;
    }
    let text = config::template(db.as_deref(), password.is_some());
    let aside = dir.join(format!(".{CONFIG_FILE}.{}", std::process::id()));
    std::fs::write(&aside, text).map_err(|e| EngineError::io(&aside, e))?;
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(EngineError::io(path, e)),
    }
}

/// Creates or replaces `file` readable by its owner only.
fn write_owner_only(file: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(file).map_err(|e| EngineError::io(file, e))?;
    f.write_all(data).map_err(|e| EngineError::io(file, e))
}

/// `scheme://user:password@host/…` → (`scheme://user@host/…`, password); `None` without one.
fn split_password(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (auth, host) = rest.split_once('@')?;
    let (user, pw) = auth.split_once(':')?;
    (!pw.is_empty()).then(|| (format!("{scheme}://{user}@{host}"), pw.to_string()))
}

/// The password in `scheme://user:password@host/…`, if any.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let auth = rest.split_once('@')?.0;
    auth.split_once(':').map(|(_, p)| p.to_string()).filter(|p| !p.is_empty())
}

/// `.l9/` and what it holds are the owner's alone: the directory 0700, the database files
/// and the token 0600 (they hold everything L9 remembers, and the key to `l9 serve`).
fn owner_only(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if !dir.is_dir() {
            return;
        }
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        for f in
            ["l9.db", "l9.db-wal", "l9.db-shm", "l9.db-vectors", surface::TOKEN_FILE, CONFIG_FILE]
        {
            let p = dir.join(f);
            if p.is_file() {
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
}
