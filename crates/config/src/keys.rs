//! The registry of configuration keys.

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// Dotted path in `l9.toml` (`[store] url = …` is `store.url`).
    pub key: &'static str,
    /// The environment variable that overrides it.
    pub env: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

/// Every configuration key L9 reads.
pub const KEYS: &[ConfigKey] = &[
    ConfigKey {
        key: "store.url",
        env: "L9_DB",
        default: "sqlite://.l9/l9.db",
        doc: "Database: sqlite://PATH (relative to the project root) or postgres://USER@HOST:PORT/DB",
    },
    ConfigKey {
        key: "store.password_file",
        env: "L9_DB_PASSWORD_FILE",
        default: "",
        doc: "A file (relative to the project root) whose first line is the PostgreSQL password, readable by its owner only (chmod 600); `l9 init --db URL` with a password writes .l9/db-password. Also read: PGPASSWORD and PGPASSFILE/~/.pgpass, as libpq does. A password in store.url works but is shown nowhere",
    },
    ConfigKey {
        key: "store.sqlite_synchronous",
        env: "L9_SQLITE_SYNCHRONOUS",
        default: "normal",
        doc: "SQLite durability: \"normal\" (WAL; a power cut may lose the last commits) or \"full\" (fsync every commit)",
    },
    ConfigKey {
        key: "memory.embedder",
        env: "L9_EMBEDDER",
        default: "hash",
        doc: "Embedder: \"hash\" (built in, deterministic), \"openai\" (any /v1/embeddings server) or \"local-bert\" (feature local-embed)",
    },
    ConfigKey {
        key: "memory.dims",
        env: "L9_EMBED_DIMS",
        default: "384",
        doc: "Embedding dimension",
    },
    ConfigKey {
        key: "memory.openai.base_url",
        env: "L9_OPENAI_BASE_URL",
        default: "https://api.openai.com",
        doc: "Base URL of an OpenAI-compatible server (Ollama: http://127.0.0.1:11434)",
    },
    ConfigKey {
        key: "memory.openai.model",
        env: "L9_OPENAI_EMBED_MODEL",
        default: "text-embedding-3-small",
        doc: "Embedding model name",
    },
    ConfigKey {
        key: "memory.openai.api_key_env",
        env: "L9_OPENAI_API_KEY_ENV",
        default: "OPENAI_API_KEY",
        doc: "Name of the environment variable holding the API key (\"\" for none)",
    },
    ConfigKey {
        key: "memory.local_bert.dir",
        env: "L9_LOCAL_BERT_DIR",
        default: "",
        doc: "Directory with config.json, tokenizer.json and model.safetensors",
    },
    ConfigKey {
        key: "agents.sandbox",
        env: "L9_SANDBOX",
        default: "auto",
        doc: "Where the agent's `run` tool, task gates and the verify step's commands run: \"required\" (in a bubblewrap sandbox — the worktree writable, the rest read-only, /tmp private, .l9/ hidden, own PID namespace, no network unless agents.network — and refused where bwrap is unavailable), \"auto\" (sandboxed where bwrap works, else unconfined with a warning) or \"off\"",
    },
    ConfigKey {
        key: "agents.writable",
        env: "L9_AGENTS_WRITABLE",
        default: "",
        doc: "More directories sandboxed commands may write (comma-separated; ~/ is your home), e.g. \"~/.cargo\" for cargo's package cache; the task's worktree is always writable",
    },
    ConfigKey {
        key: "agents.allow_run",
        env: "L9_AGENTS_ALLOW_RUN",
        default: "true",
        doc: "Whether a model-backed coder may run shell commands (the `run` tool); gates run either way",
    },
    ConfigKey {
        key: "agents.network",
        env: "L9_AGENTS_NETWORK",
        default: "false",
        doc: "Whether sandboxed commands (`run`, gates) reach the network",
    },
    ConfigKey {
        key: "project.test",
        env: "L9_PROJECT_TEST",
        default: "",
        doc: "The repository's own test command, run by every run's verify step (\"\": detected from Cargo.toml, pytest files (pytest.ini, conftest.py, test_*.py), package.json, go.mod or a Makefile's test target); when set, it is also evidence for MUST requirements that have no gate of their own",
    },
    ConfigKey {
        key: "serve.cors_origins",
        env: "L9_SERVE_CORS_ORIGINS",
        default: "",
        doc: "Browser origins (scheme://host[:port], comma-separated) allowed to call `l9 serve`'s API and /mcp from their pages (\"\": none, no CORS headers are sent and /mcp refuses any request with an Origin)",
    },
    ConfigKey {
        key: "telemetry.otlp_endpoint",
        env: "L9_OTLP_ENDPOINT",
        default: "",
        doc: "An OpenTelemetry collector's OTLP/HTTP base URL (e.g. http://127.0.0.1:4318): runs' traces go to /v1/traces and metrics to /v1/metrics as protobuf (\"\": none are sent)",
    },
];
