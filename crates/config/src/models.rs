//! Model providers and coding agents from `l9.toml`:
//!
//! ```toml
//! [providers.gpt]          # kind: openai (any /v1/chat/completions server), anthropic, scripted, replay
//! kind = "openai"
//! base_url = "https://api.openai.com"
//! model = "gpt-4.1"
//! api_key_env = "OPENAI_API_KEY"   # "" for local servers (Ollama, vLLM, LM Studio, llama.cpp)
//! price_in = 2.0                   # USD per million input tokens
//! price_out = 8.0
//!
//! [providers.script]
//! kind = "scripted"
//! script = "examples/agent/coder.yaml"   # relative to the project root
//!
//! [agents.claude]          # external agent CLIs: a shipped template or a command
//! template = "claude"      # cursor, claude, codex, aider
//! # command = ["my-agent", "--task", "{prompt}"]
//! env = ["ANTHROPIC_API_KEY"] # variables passed through to the agent (nothing else leaks)
//! timeout_s = 1800
//!
//! [roles]                  # coder, reviewer, compiler, critic, reflector → provider names
//! coder = "gpt"              # or a list, coder = ["gpt", "claude"]: `l9 run` routes to the
//!                            # one with the best success rate in the world model
//! reviewer = "gpt"
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use l9_models::{
    AnthropicProvider, HttpConfig, OpenAiProvider, Prices, Provider, ReplayProvider,
    ScriptedProvider,
};
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Scripted,
    Replay,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub timeout_s: Option<u64>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub json_schema: Option<bool>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// USD per million input / output tokens.
    #[serde(default)]
    pub price_in: Option<f64>,
    #[serde(default)]
    pub price_out: Option<f64>,
    /// `scripted`: the YAML rule file.
    #[serde(default)]
    pub script: Option<String>,
    /// `replay`: the cassette to serve.
    #[serde(default)]
    pub cassette: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentCmdConfig {
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub timeout_s: Option<u64>,
    /// Environment variables passed through to the agent (its API keys); nothing else of
    /// L9's environment reaches it besides PATH, HOME, LANG, TMPDIR, CARGO_HOME, RUSTUP_HOME.
    #[serde(default)]
    pub env: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelsConfig {
    pub providers: BTreeMap<String, ProviderConfig>,
    pub agents: BTreeMap<String, AgentCmdConfig>,
    pub roles: BTreeMap<String, String>,
    /// Roles given a list of providers (`coder = ["a", "b"]`): `l9 run` routes each run to
    /// the one the world model has seen succeed most often (see `l9_world` executors).
    pub routes: BTreeMap<String, Vec<String>>,
}

pub(crate) const ROLES: &[&str] = &["coder", "reviewer", "compiler", "critic", "reflector"];

impl ModelsConfig {
    /// Parses the `providers`, `agents` and `roles` tables; `origin` turns a dotted key into
    /// `file:line` for messages.
    pub fn parse(t: &toml::Table, origin: &dyn Fn(&str) -> String) -> Result<Self> {
        let mut out = ModelsConfig::default();
        let table = |name: &str| -> Result<toml::Table> {
            match t.get(name) {
                None => Ok(toml::Table::new()),
                Some(toml::Value::Table(x)) => Ok(x.clone()),
                Some(_) => {
                    Err(ConfigError::Invalid(format!("{}: [{name}] must be a table", origin(name))))
                }
            }
        };
        for (name, v) in table("providers")? {
            let key = format!("providers.{name}");
            let p: ProviderConfig = v.clone().try_into().map_err(|e: toml::de::Error| {
                ConfigError::Invalid(format!(
                    "{}: [{key}] {}; kind is one of openai, anthropic, scripted, replay",
                    origin(&format!("{key}.kind")),
                    e.message()
                ))
            })?;
            if p.kind == ProviderKind::Scripted && p.script.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "{}: [{key}] is scripted but names no script = \"FILE.yaml\"",
                    origin(&format!("{key}.kind"))
                )));
            }
            if p.kind == ProviderKind::Replay && p.cassette.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "{}: [{key}] is replay but names no cassette = \"FILE.jsonl\"",
                    origin(&format!("{key}.kind"))
                )));
            }
            out.providers.insert(name, p);
        }
        for (name, v) in table("agents")? {
            let key = format!("agents.{name}");
            let a: AgentCmdConfig = v.clone().try_into().map_err(|e: toml::de::Error| {
                ConfigError::Invalid(format!("{}: [{key}] {}", origin(&key), e.message()))
            })?;
            if a.template.is_none() && a.command.as_ref().is_none_or(|c| c.is_empty()) {
                return Err(ConfigError::Invalid(format!(
                    "{}: [{key}] needs template = \"cursor|claude|codex|aider\" or command = [\"prog\", \"{{prompt}}\"]",
                    origin(&key)
                )));
            }
            if let Some(t) = &a.template
                && !l9_agents::adapter::TEMPLATES.iter().any(|(n, _)| n == t)
            {
                return Err(ConfigError::Invalid(format!(
                    "{}: unknown agent template {t:?}; use cursor, claude, codex or aider, or give a command",
                    origin(&format!("{key}.template"))
                )));
            }
            out.agents.insert(name, a);
        }
        for (role, v) in table("roles")? {
            let key = format!("roles.{role}");
            let names: Vec<&str> = match &v {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(a) if !a.is_empty() && a.iter().all(|x| x.is_str()) => {
                    a.iter().filter_map(|x| x.as_str()).collect()
                }
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "{}: {key} must name a provider (\"NAME\") or list several ([\"A\", \"B\"]) to route between",
                        origin(&key)
                    )));
                }
            };
            if !ROLES.contains(&role.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "{}: unknown role {role:?}; roles are {}",
                    origin(&key),
                    ROLES.join(", ")
                )));
            }
            for p in &names {
                if !out.providers.contains_key(*p) {
                    return Err(ConfigError::Invalid(format!(
                        "{}: {key} names provider {p:?}, which is not configured under [providers]",
                        origin(&key)
                    )));
                }
            }
            out.roles.insert(role.clone(), names[0].to_string());
            if names.len() > 1 {
                out.routes.insert(role, names.iter().map(|n| n.to_string()).collect());
            }
        }
        Ok(out)
    }

    /// The providers a role may be routed to: its list, else its one provider.
    pub fn candidates(&self, role: &str) -> Vec<String> {
        match (self.routes.get(role), self.roles.get(role)) {
            (Some(list), _) => list.clone(),
            (None, Some(one)) => vec![one.clone()],
            (None, None) => Vec::new(),
        }
    }

    /// The provider for a role, or the given name, or the only provider configured.
    pub fn resolve(&self, name: Option<&str>, role: &str) -> Result<String> {
        if let Some(n) = name {
            if self.providers.contains_key(n) {
                return Ok(n.to_string());
            }
            return Err(ConfigError::Invalid(format!(
                "provider {n:?} is not configured; add [providers.{n}] to .l9/l9.toml (`l9 models list` shows what is)"
            )));
        }
        if let Some(n) = self.roles.get(role) {
            return Ok(n.clone());
        }
        if self.providers.len() == 1
            && let Some(n) = self.providers.keys().next()
        {
            return Ok(n.clone());
        }
        Err(ConfigError::Invalid(format!(
            "no provider for the {role} role: configure one under [providers.NAME] in .l9/l9.toml and set [roles] {role} = \"NAME\" (or pass --provider)"
        )))
    }

    /// Builds a provider; configuration problems name the provider and the setting.
    pub fn build(
        &self,
        name: &str,
        root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn Provider>> {
        let Some(p) = self.providers.get(name) else {
            return Err(ConfigError::Invalid(format!("provider {name:?} is not configured")));
        };
        let model_err = |e: l9_models::ModelError| ConfigError::Invalid(e.to_string());
        let http = |default_url: &str, default_key: &str| {
            let mut c = HttpConfig::new(
                name,
                p.base_url.as_deref().unwrap_or(default_url),
                p.model.as_deref().unwrap_or(""),
            );
            c.api_key_env = Some(p.api_key_env.clone().unwrap_or_else(|| default_key.to_string()));
            c.timeout = Duration::from_secs(p.timeout_s.unwrap_or(120));
            c.max_retries = p.max_retries.unwrap_or(3);
            c.json_schema = p.json_schema.unwrap_or(true);
            c.max_tokens = p.max_tokens.unwrap_or(4096);
            let usd = |x: Option<f64>| x.map_or(0, |v| (v * 1e6).round().max(0.0) as u64);
            c.prices =
                Prices { input_per_mtok: usd(p.price_in), output_per_mtok: usd(p.price_out) };
            c
        };
        let read = |rel: &str, what: &str| -> Result<(String, String)> {
            let path = root.join(rel);
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid(format!("provider {name}: cannot read the {what} {}: {e} (setting: providers.{name}.{what})", path.display())))?;
            Ok((path.display().to_string(), text))
        };
        Ok(match p.kind {
            ProviderKind::Openai => Arc::new(
                OpenAiProvider::new(http("https://api.openai.com", "OPENAI_API_KEY"), env)
                    .map_err(model_err)?,
            ),
            ProviderKind::Anthropic => Arc::new(
                AnthropicProvider::new(http("https://api.anthropic.com", "ANTHROPIC_API_KEY"), env)
                    .map_err(model_err)?,
            ),
            ProviderKind::Scripted => {
                let (file, text) = read(p.script.as_deref().unwrap_or(""), "script")?;
                let usd = |x: Option<f64>| x.map_or(0, |v| (v * 1e6).round().max(0.0) as u64);
                let prices =
                    Prices { input_per_mtok: usd(p.price_in), output_per_mtok: usd(p.price_out) };
                Arc::new(
                    ScriptedProvider::parse(name, &file, &text)
                        .map_err(model_err)?
                        .priced(prices, p.max_tokens.unwrap_or(1024)),
                )
            }
            ProviderKind::Replay => {
                let (file, text) = read(p.cassette.as_deref().unwrap_or(""), "cassette")?;
                Arc::new(ReplayProvider::parse(name, &file, &text).map_err(model_err)?)
            }
        })
    }
}
