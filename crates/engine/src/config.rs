//! Configuration: `.l9/l9.toml`, overridden by environment variables, overridden by
//! command-line flags. Every key is in [`KEYS`], the one registry; `l9 config` prints it.

use std::path::{Path, PathBuf};

use crate::{CONFIG_FILE, EngineError, Result, STATE_DIR};

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
pub(crate) const KEYS: &[ConfigKey] = &[
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

/// Which embedder, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderKind {
    Hash,
    OpenAi { base_url: String, model: String, api_key_env: Option<String> },
    LocalBert { dir: PathBuf },
}

/// How the commands of tasks (the `run` tool, gates, the verify step) are confined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPolicy {
    pub sandbox: SandboxMode,
    pub allow_run: bool,
    pub network: bool,
    /// Directories sandboxed commands may write besides their worktree.
    pub writable: Vec<PathBuf>,
}

impl Default for CommandPolicy {
    fn default() -> Self {
        CommandPolicy {
            sandbox: SandboxMode::Auto,
            allow_run: true,
            network: false,
            writable: Vec::new(),
        }
    }
}

/// `[agents] sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// Sandboxed, or refused where the sandbox is unavailable.
    Required,
    /// Sandboxed where bubblewrap works, else unconfined (with a warning).
    Auto,
    Off,
}

/// A password: shown as `[redacted]` by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub store_url: String,
    /// The PostgreSQL password from `store.password_file`, when one is configured.
    pub store_password: Option<Password>,
    pub sqlite_sync_full: bool,
    pub embedder: EmbedderKind,
    pub dims: usize,
    /// `[providers.NAME]`, `[agents.NAME]` and `[roles]`.
    pub models: crate::models::ModelsConfig,
    /// `[schedules.NAME]`: recurring tasks `l9 worker` enqueues (once per tick, whatever the
    /// number of workers).
    pub schedules: Vec<ScheduleConfig>,
    /// `[agents] sandbox`, `allow_run`, `network`: how commands for tasks are confined.
    pub commands: CommandPolicy,
    /// `[project] test`: the repository's own test command, when configured.
    pub project_test: Option<String>,
    /// `[serve] cors_origins`: browser origins allowed to call `l9 serve`.
    pub cors_origins: Vec<String>,
    /// `[telemetry] otlp_endpoint`: where traces and metrics go (OTLP/HTTP protobuf).
    pub otlp_endpoint: Option<String>,
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
    /// Every setting in force, in the order `l9 config` prints them: each registry key with
    /// its value and where it came from (`file:line`, an environment variable, or the
    /// default), then every key of `[providers.*]`, `[agents.*]`, `[roles]` and
    /// `[schedules.*]` with its `file:line`. Passwords in URLs are masked.
    pub settings: Vec<Setting>,
}

/// One setting in force and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
    /// `file:line`, `environment variable NAME` or `default`.
    pub from: String,
    /// The environment variable that overrides it (registry keys only).
    pub env: Option<&'static str>,
    pub doc: Option<&'static str>,
}

/// One `[schedules.NAME]` table: `cron` (5 fields, or 6 with seconds first), `kind` (a
/// registered workflow), optional `queue` (default `default`) and `payload` (any TOML value).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    pub name: String,
    pub cron: String,
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    /// `file:line` of the table, for messages.
    pub origin: String,
}

impl ScheduleConfig {
    /// The runnable schedule (the cron expression was checked when the file was read).
    pub fn schedule(&self) -> Result<l9_tasks::Schedule> {
        l9_tasks::Schedule::new(
            &self.name,
            &self.cron,
            &self.queue,
            &self.kind,
            self.payload.clone(),
        )
        .map_err(|e| EngineError::Config(format!("{}: {e}", self.origin)))
    }
}

fn parse_schedules(
    t: &toml::Value,
    origin: &dyn Fn(&str) -> String,
) -> Result<Vec<ScheduleConfig>> {
    let toml::Value::Table(t) = t else {
        return Err(EngineError::Config(format!(
            "{}: [schedules] must be a table",
            origin("schedules")
        )));
    };
    let mut out = Vec::new();
    for (name, v) in t {
        let key = format!("schedules.{name}");
        let toml::Value::Table(s) = v else {
            return Err(EngineError::Config(format!(
                "{}: [{key}] must be a table with cron = \"…\" and kind = \"…\"",
                origin(&key)
            )));
        };
        for k in s.keys() {
            if !["cron", "kind", "queue", "payload"].contains(&k.as_str()) {
                return Err(EngineError::Config(format!(
                    "{}: [{key}] has unknown key {k:?}; keys are cron, kind, queue, payload",
                    origin(&format!("{key}.{k}"))
                )));
            }
        }
        let text = |k: &str| -> Result<Option<String>> {
            match s.get(k) {
                None => Ok(None),
                Some(toml::Value::String(x)) if !x.trim().is_empty() => Ok(Some(x.clone())),
                Some(_) => Err(EngineError::Config(format!(
                    "{}: {key}.{k} must be a non-empty string",
                    origin(&format!("{key}.{k}"))
                ))),
            }
        };
        let (Some(cron), Some(kind)) = (text("cron")?, text("kind")?) else {
            return Err(EngineError::Config(format!(
                "{}: [{key}] needs cron = \"*/5 * * * *\" and kind = \"WORKFLOW\"",
                origin(&key)
            )));
        };
        let payload = match s.get("payload") {
            None => serde_json::Value::Null,
            Some(p) => serde_json::to_value(p).map_err(|e| {
                EngineError::Config(format!(
                    "{}: {key}.payload: {e}",
                    origin(&format!("{key}.payload"))
                ))
            })?,
        };
        let c = ScheduleConfig {
            name: name.clone(),
            cron,
            kind,
            queue: text("queue")?.unwrap_or_else(|| "default".into()),
            payload,
            origin: origin(&format!("{key}.cron")),
        };
        c.schedule()?;
        out.push(c);
    }
    Ok(out)
}

/// The `l9.toml` that `l9 init` writes.
/// The file `l9 init --db URL` keeps a URL's password in, inside [`STATE_DIR`].
pub(crate) const PASSWORD_FILE: &str = "db-password";

/// The `l9.toml` of a new project (`password_file`: the URL's password went to
/// [`PASSWORD_FILE`]).
pub fn template(db: Option<&str>, password_file: bool) -> String {
    let url = db.unwrap_or("sqlite://.l9/l9.db");
    let password = if password_file {
        format!(
            "# The password is not kept here: it is read from this file (owner-only).\npassword_file = \"{STATE_DIR}/{PASSWORD_FILE}\"\n"
        )
    } else {
        String::new()
    };
    format!(
        "# L9 project configuration. Every key can be overridden by an environment variable;\n\
         # `l9 config` lists them all.\n\n\
         [store]\n\
         # sqlite://PATH (embedded, the default) or postgres://USER@HOST:PORT/DB (scale-out)\n\
         url = {url:?}\n{password}\n\
         [memory]\n\
         # hash (built in), openai (any /v1/embeddings server) or local-bert\n\
         embedder = \"hash\"\n\
         dims = 384\n\n\
         # Model providers (kind: openai, anthropic, scripted, replay). API keys are read from\n\
         # the environment variable named here, never written in this file.\n\
         # [providers.gpt]\n\
         # kind = \"openai\"                 # any OpenAI-compatible server (Ollama, vLLM, …)\n\
         # model = \"gpt-4.1-mini\"\n\
         # base_url = \"https://api.openai.com\"\n\
         # api_key_env = \"OPENAI_API_KEY\"\n\
         # price_in = 0.4                    # USD per million input tokens (budgets use it)\n\
         # price_out = 1.6\n\
         # [providers.claude]\n\
         # kind = \"anthropic\"\n\
         # model = \"claude-sonnet-4-5\"\n\n\
         # External coding agents (a shipped template: cursor, claude, codex, aider; or a command).\n\
         # [agents.claude]\n\
         # template = \"claude\"\n\
         # env = [\"ANTHROPIC_API_KEY\"]     # variables passed through to the agent (nothing else)\n\
         # timeout_s = 1800\n\n\
         # The repository's own test command, run by every run's verify step (default: detected\n\
         # from Cargo.toml, pytest files, package.json, go.mod or a Makefile's test target).\n\
         # [project]\n\
         # test = \"pytest -q\"\n\n\
         # Which provider plays which role (coder may list several: routed by success rate).\n\
         # [roles]\n\
         # coder = \"gpt\"\n\
         # reviewer = \"claude\"\n\n\
         # Recurring tasks `l9 worker` starts (cron: 5 fields, or 6 with seconds first).\n\
         # [schedules.nightly]\n\
         # cron = \"0 3 * * *\"\n\
         # kind = \"l9.echo\"\n\
         # payload = {{ note = \"hi\" }}\n"
    )
}

/// The first line of a password file, which only its owner may read (as ssh and libpq
/// insist for theirs).
fn read_password_file(file: &Path, from: &str) -> Result<String> {
    let cannot = |why: String| {
        EngineError::Config(format!("{from}: store.password_file {} {why}", file.display()))
    };
    let meta = std::fs::metadata(file).map_err(|e| cannot(format!("cannot be read: {e}")))?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        return Err(cannot("is not a regular file of at most 64 KiB".into()));
    }
    let text = std::fs::read_to_string(file).map_err(|e| cannot(format!("cannot be read: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).map(|m| m.permissions().mode()).unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(EngineError::Config(format!(
                "{from}: store.password_file {} can be read by others (mode {:o}); run `chmod 600 {}`",
                file.display(),
                mode & 0o777,
                file.display()
            )));
        }
    }
    let pw = text.lines().next().unwrap_or("").trim_end_matches('\r').to_string();
    if pw.is_empty() {
        return Err(EngineError::Config(format!(
            "{from}: store.password_file {} is empty; put the password on its first line",
            file.display()
        )));
    }
    Ok(pw)
}

/// Where a value came from, for error messages.
fn origin(file: &Path, text: &str, key: &str) -> String {
    match line_of(text, key) {
        Some(line) => format!("{}:{line}", file.display()),
        None => file.display().to_string(),
    }
}

/// The line (1-based) where dotted `key` is assigned, tracking `[section]` headers.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let (section, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = h.trim().to_owned();
            continue;
        }
        if let Some((k, _)) = t.split_once('=') {
            let k = k.trim().trim_matches('"');
            let full = if current.is_empty() { k.to_owned() } else { format!("{current}.{k}") };
            if full == key || (current == section && k == leaf) {
                return Some(i + 1);
            }
        }
    }
    None
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => out.push((key, other.clone())),
        }
    }
}

impl Config {
    /// Reads `root/.l9/l9.toml` (if present), then the environment through `env`.
    pub fn load(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let path = root.join(STATE_DIR).join(CONFIG_FILE);
        let mut values: std::collections::BTreeMap<&'static str, (String, String)> =
            Default::default();
        let mut file = None;
        let mut extra: Vec<Setting> = Vec::new();
        let mut models = crate::models::ModelsConfig::default();
        let mut schedules = Vec::new();
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| EngineError::io(&path, e))?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
                EngineError::Config(format!(
                    "{}{}: not valid TOML: {}",
                    path.display(),
                    line.map(|l| format!(":{l}")).unwrap_or_default(),
                    e.message()
                ))
            })?;
            let mut table = table;
            // `[agents]` holds the agents' tables and a few settings of its own (`allow_run`,
            // `sandbox`, `network`): those are registry keys like any other.
            let mut agent_settings = toml::Table::new();
            if let Some(toml::Value::Table(t)) = table.get_mut("agents") {
                let scalars: Vec<String> =
                    t.iter().filter(|(_, v)| !v.is_table()).map(|(k, _)| k.clone()).collect();
                for k in scalars {
                    if let Some(v) = t.remove(&k) {
                        agent_settings.insert(k, v);
                    }
                }
            }
            for section in ["providers", "agents", "roles", "schedules"] {
                if let Some(toml::Value::Table(t)) = table.get(section) {
                    let mut flat = Vec::new();
                    flatten(section, t, &mut flat);
                    for (key, value) in flat {
                        let value = match value {
                            toml::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        let from = origin(&path, &text, &key);
                        extra.push(Setting { key, value, from, env: None, doc: None });
                    }
                }
            }
            let sections: toml::Table = ["providers", "agents", "roles"]
                .iter()
                .filter_map(|k| table.remove(*k).map(|v| (k.to_string(), v)))
                .collect();
            models =
                crate::models::ModelsConfig::parse(&sections, &|key| origin(&path, &text, key))?;
            if let Some(t) = table.remove("schedules") {
                schedules = parse_schedules(&t, &|key| origin(&path, &text, key))?;
            }
            if !agent_settings.is_empty() {
                table.insert("agents".into(), toml::Value::Table(agent_settings));
            }
            let mut flat = Vec::new();
            flatten("", &table, &mut flat);
            for (key, value) in flat {
                let Some(k) = KEYS.iter().find(|k| k.key == key) else {
                    let known: Vec<&str> = KEYS.iter().map(|k| k.key).collect();
                    return Err(EngineError::Config(format!(
                        "{}: unknown key {key:?}; known keys: {}",
                        origin(&path, &text, &key),
                        known.join(", ")
                    )));
                };
                let s = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(EngineError::Config(format!(
                            "{}: {key} must be a string or a number, not {}",
                            origin(&path, &text, &key),
                            other.type_str()
                        )));
                    }
                };
                values.insert(k.key, (s, origin(&path, &text, &key)));
            }
            file = Some(path.clone());
        }
        for k in KEYS {
            if let Some(v) = env(k.env) {
                values.insert(k.key, (v, format!("environment variable {}", k.env)));
            }
        }
        let get = |key: &str| -> (String, String) {
            values.get(key).cloned().unwrap_or_else(|| {
                let d = KEYS.iter().find(|k| k.key == key).map(|k| k.default).unwrap_or("");
                (d.to_owned(), "default".to_owned())
            })
        };
        let bad = |key: &str, from: &str, what: &str| {
            EngineError::Config(format!("{from}: {key} {what}"))
        };

        let (store_url, _) = get("store.url");
        let (password_file, from) = get("store.password_file");
        let store_password = if password_file.trim().is_empty() {
            None
        } else {
            Some(Password(read_password_file(&root.join(password_file.trim()), &from)?))
        };
        let (sync, from) = get("store.sqlite_synchronous");
        let sqlite_sync_full = match sync.to_ascii_lowercase().as_str() {
            "normal" => false,
            "full" => true,
            _ => {
                return Err(bad(
                    "store.sqlite_synchronous",
                    &from,
                    &format!("is {sync:?}; use \"normal\" or \"full\""),
                ));
            }
        };
        let flag = |key: &str| -> Result<bool> {
            let (v, from) = get(key);
            match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(bad(key, &from, &format!("is {v:?}; use true or false"))),
            }
        };
        let (mode, from) = get("agents.sandbox");
        let commands = CommandPolicy {
            sandbox: match mode.trim().to_ascii_lowercase().as_str() {
                "required" => SandboxMode::Required,
                "auto" => SandboxMode::Auto,
                "off" => SandboxMode::Off,
                _ => {
                    return Err(bad(
                        "agents.sandbox",
                        &from,
                        &format!("is {mode:?}; use \"required\", \"auto\" or \"off\""),
                    ));
                }
            },
            allow_run: flag("agents.allow_run")?,
            network: flag("agents.network")?,
            writable: get("agents.writable")
                .0
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| match (p.strip_prefix("~/"), env("HOME")) {
                    (Some(rest), Some(home)) => Path::new(&home).join(rest),
                    _ => root.join(p),
                })
                .collect(),
        };
        let (dims_s, from) = get("memory.dims");
        let dims: usize =
            dims_s.parse().ok().filter(|d| (1..=16_000).contains(d)).ok_or_else(|| {
                bad(
                    "memory.dims",
                    &from,
                    &format!("is {dims_s:?}; use a whole number from 1 to 16000"),
                )
            })?;
        let (kind, from) = get("memory.embedder");
        let embedder = match kind.as_str() {
            "hash" => EmbedderKind::Hash,
            "openai" => {
                let key_env = get("memory.openai.api_key_env").0;
                EmbedderKind::OpenAi {
                    base_url: get("memory.openai.base_url").0,
                    model: get("memory.openai.model").0,
                    api_key_env: (!key_env.is_empty()).then_some(key_env),
                }
            }
            "local-bert" => {
                let (dir, from) = get("memory.local_bert.dir");
                if dir.is_empty() {
                    return Err(bad(
                        "memory.local_bert.dir",
                        &from,
                        "is empty; set it to a directory with config.json, tokenizer.json and model.safetensors",
                    ));
                }
                EmbedderKind::LocalBert { dir: root.join(dir) }
            }
            other => {
                return Err(bad(
                    "memory.embedder",
                    &from,
                    &format!("is {other:?}; use \"hash\", \"openai\" or \"local-bert\""),
                ));
            }
        };
        let (origins, from) = get("serve.cors_origins");
        let mut cors_origins = Vec::new();
        for o in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let rest = o.strip_prefix("http://").or_else(|| o.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains('/')) {
                return Err(bad(
                    "serve.cors_origins",
                    &from,
                    &format!(
                        "holds {o:?}; give origins like \"http://localhost:3000\" (scheme, host, optional port; no path), comma-separated"
                    ),
                ));
            }
            cors_origins.push(o.to_string());
        }
        let (otlp, from) = get("telemetry.otlp_endpoint");
        let otlp = otlp.trim().trim_end_matches('/').to_string();
        if !otlp.is_empty() && !otlp.starts_with("http://") && !otlp.starts_with("https://") {
            return Err(bad(
                "telemetry.otlp_endpoint",
                &from,
                &format!(
                    "is {otlp:?}; give the collector's OTLP/HTTP base URL, like \"http://127.0.0.1:4318\""
                ),
            ));
        }
        let mut settings: Vec<Setting> = KEYS
            .iter()
            .map(|k| {
                let (value, from) = get(k.key);
                let value = if k.key == "store.url" {
                    l9_store_postgres::redact_url(&value)
                } else {
                    value
                };
                Setting { key: k.key.to_string(), value, from, env: Some(k.env), doc: Some(k.doc) }
            })
            .collect();
        settings.extend(extra);
        Ok(Config {
            store_url,
            store_password,
            sqlite_sync_full,
            embedder,
            dims,
            models,
            schedules,
            commands,
            project_test: Some(get("project.test").0).filter(|t| !t.trim().is_empty()),
            cors_origins,
            otlp_endpoint: (!otlp.is_empty()).then_some(otlp),
            file,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        std::fs::create_dir_all(dir.join(STATE_DIR)).unwrap();
        std::fs::write(dir.join(STATE_DIR).join(CONFIG_FILE), text).unwrap();
    }

    #[test]
    fn agents_settings_sit_beside_the_agents() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(dir.path(), &|_| None).unwrap();
        assert_eq!(c.commands, CommandPolicy::default());
        write(
            dir.path(),
            "[agents]\nsandbox = \"required\"\nallow_run = false\nnetwork = true\n\n[agents.mine]\ncommand = [\"my-agent\", \"{prompt}\"]\n",
        );
        let c = Config::load(dir.path(), &|_| None).unwrap();
        assert_eq!(
            c.commands,
            CommandPolicy {
                sandbox: SandboxMode::Required,
                allow_run: false,
                network: true,
                writable: Vec::new()
            }
        );
        let c = Config::load(dir.path(), &|v| match v {
            "L9_AGENTS_WRITABLE" => Some("~/.cargo, /var/cache/x".into()),
            "HOME" => Some("/home/me".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            c.commands.writable,
            vec![PathBuf::from("/home/me/.cargo"), PathBuf::from("/var/cache/x")]
        );
        assert!(c.models.agents.contains_key("mine") && c.models.agents.len() == 1);
        let c = Config::load(dir.path(), &|v| (v == "L9_SANDBOX").then(|| "off".into())).unwrap();
        assert_eq!(c.commands.sandbox, SandboxMode::Off);
        write(dir.path(), "[agents]\nsandbox = \"sometimes\"\n");
        let e = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
        assert!(
            e.contains("l9.toml:2") && e.contains("agents.sandbox") && e.contains("\"required\""),
            "{e}"
        );
    }

    #[test]
    fn defaults_file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(dir.path(), &|_| None).unwrap();
        assert_eq!(c.store_url, "sqlite://.l9/l9.db");
        assert_eq!(c.embedder, EmbedderKind::Hash);
        write(dir.path(), &template(Some("postgres://x@h/db"), false));
        let c = Config::load(dir.path(), &|_| None).unwrap();
        assert_eq!(c.store_url, "postgres://x@h/db");
        let c =
            Config::load(dir.path(), &|v| (v == "L9_DB").then(|| "sqlite://other.db".to_owned()))
                .unwrap();
        assert_eq!(c.store_url, "sqlite://other.db");
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "[store]\nurl = \"sqlite://x\"\n\n[memory]\nembeder = \"hash\"\n");
        let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
        assert!(
            err.contains("l9.toml:5") && err.contains("unknown key \"memory.embeder\""),
            "{err}"
        );
        write(dir.path(), "[memory]\ndims = 0\n");
        let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
        assert!(err.contains("l9.toml:2") && err.contains("memory.dims"), "{err}");
        write(dir.path(), "[memory\n");
        let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
        assert!(err.contains("l9.toml:1") && err.contains("not valid TOML"), "{err}");
        let err = Config::load(dir.path().join("nowhere").as_path(), &|v| {
            (v == "L9_EMBEDDER").then(|| "bogus".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("environment variable L9_EMBEDDER"), "{err}");
    }

    #[test]
    fn origins_and_the_collector_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "[serve]\ncors_origins = \"http://localhost:3000, https://app.example.com:8443\"\n\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/\"\n",
        );
        let c = Config::load(dir.path(), &|_| None).unwrap();
        assert_eq!(c.cors_origins, ["http://localhost:3000", "https://app.example.com:8443"]);
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        write(dir.path(), "[serve]\ncors_origins = \"localhost:3000\"\n");
        let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
        assert!(err.contains("l9.toml:2") && err.contains("serve.cors_origins"), "{err}");
        write(dir.path(), "[telemetry]\notlp_endpoint = \"grpc://x:4317\"\n");
        let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
        assert!(err.contains("l9.toml:2") && err.contains("OTLP/HTTP base URL"), "{err}");
        let c = Config::load(dir.path().join("none").as_path(), &|_| None).unwrap();
        assert!(c.cors_origins.is_empty() && c.otlp_endpoint.is_none());
    }
}
