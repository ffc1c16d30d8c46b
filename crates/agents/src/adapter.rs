//! External coding agents (Cursor's agent CLI, Claude Code, Codex, Aider, or any CLI) run
//! on a task inside its worktree from a command template; the prompt goes on stdin or in
//! place of `{prompt}`. The gate, not the agent, decides whether the task is done.
//!
//! An agent sees only the process seam's base environment (PATH, HOME, LANG, …) and the
//! variables its configuration names (`[agents.NAME] env = ["ANTHROPIC_API_KEY"]`). What it
//! cost comes from its own report when it prints one (a JSON object with `total_cost_usd` or
//! `cost_usd`, as `claude -p --output-format json` does); otherwise it is unknown, never 0.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::process::{CommandSpec, Output, Runner};

#[derive(Debug, Clone)]
pub struct Adapter {
    pub name: String,
    /// Program and arguments; an argument `{prompt}` is replaced by the prompt, otherwise
    /// the prompt is written to stdin.
    pub command: Vec<String>,
    pub timeout: Duration,
    /// Variables passed to the agent besides the base environment (name → value).
    pub env: BTreeMap<String, String>,
    runner: Arc<dyn Runner>,
}

/// One run of an agent: what it printed, and what it reported about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRun {
    pub output: Output,
    /// The agent's own account of what it did (its JSON report's `result`), else its output.
    pub summary: String,
    /// What the run cost by the agent's own report; `None`: unknown.
    pub cost_micro_usd: Option<u64>,
    pub tokens: Option<u64>,
}

impl AgentRun {
    /// Reads the agent's report from its output: the last line (or the whole output) that is
    /// a JSON object with a cost or a result.
    pub fn read(output: Output) -> AgentRun {
        let whole = output.stdout.trim();
        let report = std::iter::once(whole)
            .chain(output.stdout.lines().rev().map(str::trim))
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| {
                v.get("total_cost_usd").is_some()
                    || v.get("cost_usd").is_some()
                    || v.get("result").is_some_and(serde_json::Value::is_string)
            });
        let cost = report.as_ref().and_then(|v| {
            v.get("total_cost_usd")
                .or_else(|| v.get("cost_usd"))
                .and_then(serde_json::Value::as_f64)
                .filter(|c| c.is_finite() && *c >= 0.0)
                .map(|c| (c * 1e6).round() as u64)
        });
        let tokens = report.as_ref().and_then(|v| {
            let u = v.get("usage")?;
            let n = |k: &str| u.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
            Some(n("input_tokens") + n("output_tokens"))
        });
        let summary = report
            .as_ref()
            .and_then(|v| v.get("result").and_then(serde_json::Value::as_str))
            .map_or_else(|| output.combined(), str::to_string);
        AgentRun { output, summary, cost_micro_usd: cost, tokens }
    }
}

/// Shipped templates: `(name, command)`.
pub const TEMPLATES: &[(&str, &[&str])] = &[
    ("cursor", &["cursor-agent", "-p", "--force", "--output-format", "text", "{prompt}"]),
    (
        "claude",
        &[
            "claude",
            "-p",
            "--permission-mode",
            "acceptEdits",
            "--output-format",
            "json",
            "{prompt}",
        ],
    ),
    ("codex", &["codex", "exec", "--full-auto", "{prompt}"]),
    ("aider", &["aider", "--yes-always", "--no-auto-commits", "--message", "{prompt}"]),
];

impl Adapter {
    pub fn new(name: &str, command: Vec<String>, runner: Arc<dyn Runner>) -> Self {
        Adapter {
            name: name.into(),
            command,
            timeout: Duration::from_secs(1800),
            env: BTreeMap::new(),
            runner,
        }
    }

    /// One of the shipped templates by name.
    pub fn template(name: &str, runner: Arc<dyn Runner>) -> Option<Self> {
        TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, c)| Adapter::new(n, c.iter().map(|s| s.to_string()).collect(), runner))
    }

    pub async fn run(&self, worktree: &Path, prompt: &str) -> Result<AgentRun> {
        let Some((program, args)) = self.command.split_first() else {
            return Err(crate::AgentError::Spawn {
                program: self.name.clone(),
                message: "the adapter's command is empty".into(),
            });
        };
        let uses_arg = args.iter().any(|a| a.contains("{prompt}"));
        let args: Vec<String> = args.iter().map(|a| a.replace("{prompt}", prompt)).collect();
        let mut spec = CommandSpec::new(program.clone(), &[], worktree);
        spec.args = args;
        spec.timeout = self.timeout;
        spec.env = self.env.clone();
        if !uses_arg {
            spec.stdin = Some(prompt.to_string());
        }
        self.runner.run(&spec).await.map(AgentRun::read)
    }
}
