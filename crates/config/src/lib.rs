//! Configuration: `.l9/l9.toml`, overridden by environment variables, overridden by
//! command-line flags. Every key is in [`KEYS`], the one registry; `l9 config` prints it.
//!
//! A crate of its own so the file's reader is fuzzed without the engine (`fuzz/`, target
//! `config`): [`Config::parse`] reads a file's text; [`Config::load`] finds and reads the file.

use std::path::{Path, PathBuf};

mod keys;
pub mod models;
mod schedules;

pub use keys::{ConfigKey, KEYS};
pub use schedules::ScheduleConfig;
use schedules::parse_schedules;

/// The project's state directory (database, configuration, tokens), under its root.
pub const STATE_DIR: &str = ".l9";
/// The configuration file inside [`STATE_DIR`].
pub const CONFIG_FILE: &str = "l9.toml";

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting or a file's contents, with where it came from and what to do.
    #[error("{0}")]
    Invalid(String),
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

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
    pub models: models::ModelsConfig,
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

/// The `l9.toml` that `l9 init` writes.
/// The file `l9 init --db URL` keeps a URL's password in, inside [`STATE_DIR`].
pub const PASSWORD_FILE: &str = "db-password";

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
        ConfigError::Invalid(format!("{from}: store.password_file {} {why}", file.display()))
    };
    let meta = std::fs::metadata(file).map_err(|e| cannot(format!("cannot be read: {e}")))?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        // A sanity check, not a limit on work: a password file holds one line.
        return Err(cannot(
            "is not a regular file of at most 64 KiB; point it at a file that holds the \
             password on its first line"
                .into(),
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| cannot(format!("cannot be read: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).map(|m| m.permissions().mode()).unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(ConfigError::Invalid(format!(
                "{from}: store.password_file {} can be read by others (mode {:o}); run `chmod 600 {}`",
                file.display(),
                mode & 0o777,
                file.display()
            )));
        }
    }
    let pw = text.lines().next().unwrap_or("").trim_end_matches('\r').to_string();
    if pw.is_empty() {
        return Err(ConfigError::Invalid(format!(
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
        let text = if path.is_file() {
            Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError::Io { path: path.clone(), source: e })?,
            )
        } else {
            None
        };
        Config::parse(root, &path, text.as_deref(), env)
    }

    /// The configuration of the project at `root` from the text of its `l9.toml` at `path`
    /// (`None`: there is none), then the environment through `env`. Reads nothing but the
    /// password file a setting names.
    pub fn parse(
        root: &Path,
        path: &Path,
        text: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let mut values: std::collections::BTreeMap<&'static str, (String, String)> =
            Default::default();
        let mut file = None;
        let mut extra: Vec<Setting> = Vec::new();
        let mut models = models::ModelsConfig::default();
        let mut schedules = Vec::new();
        if let Some(text) = text {
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
                ConfigError::Invalid(format!(
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
                        let from = origin(path, text, &key);
                        extra.push(Setting { key, value, from, env: None, doc: None });
                    }
                }
            }
            let sections: toml::Table = ["providers", "agents", "roles"]
                .iter()
                .filter_map(|k| table.remove(*k).map(|v| (k.to_string(), v)))
                .collect();
            models = models::ModelsConfig::parse(&sections, &|key| origin(path, text, key))?;
            if let Some(t) = table.remove("schedules") {
                schedules = parse_schedules(&t, &|key| origin(path, text, key))?;
            }
            if !agent_settings.is_empty() {
                table.insert("agents".into(), toml::Value::Table(agent_settings));
            }
            let mut flat = Vec::new();
            flatten("", &table, &mut flat);
            for (key, value) in flat {
                let Some(k) = KEYS.iter().find(|k| k.key == key) else {
                    let known: Vec<&str> = KEYS.iter().map(|k| k.key).collect();
                    return Err(ConfigError::Invalid(format!(
                        "{}: unknown key {key:?}; known keys: {}",
                        origin(path, text, &key),
                        known.join(", ")
                    )));
                };
                let s = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(ConfigError::Invalid(format!(
                            "{}: {key} must be a string or a number, not {}",
                            origin(path, text, &key),
                            other.type_str()
                        )));
                    }
                };
                values.insert(k.key, (s, origin(path, text, &key)));
            }
            file = Some(path.to_path_buf());
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
            ConfigError::Invalid(format!("{from}: {key} {what}"))
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
                let value =
                    if k.key == "store.url" { l9_types::redact::redact_url(&value) } else { value };
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
mod tests;
