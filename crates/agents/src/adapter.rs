//! External coding agents (Cursor's agent CLI, Claude Code, Codex, Aider, or any CLI) run
//! on a task inside its worktree from a command template; the prompt goes on stdin or in
//! place of `{prompt}`. The gate, not the agent, decides whether the task is done.

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
    runner: Arc<dyn Runner>,
}

/// Shipped templates: `(name, command)`.
pub const TEMPLATES: &[(&str, &[&str])] = &[
    ("cursor", &["cursor-agent", "-p", "--force", "--output-format", "text", "{prompt}"]),
    ("claude", &["claude", "-p", "--permission-mode", "acceptEdits", "{prompt}"]),
    ("codex", &["codex", "exec", "--full-auto", "{prompt}"]),
    ("aider", &["aider", "--yes-always", "--no-auto-commits", "--message", "{prompt}"]),
];

impl Adapter {
    pub fn new(name: &str, command: Vec<String>, runner: Arc<dyn Runner>) -> Self {
        Adapter { name: name.into(), command, timeout: Duration::from_secs(1800), runner }
    }

    /// One of the shipped templates by name.
    pub fn template(name: &str, runner: Arc<dyn Runner>) -> Option<Self> {
        TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, c)| Adapter::new(n, c.iter().map(|s| s.to_string()).collect(), runner))
    }

    pub async fn run(&self, worktree: &Path, prompt: &str) -> Result<Output> {
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
        if !uses_arg {
            spec.stdin = Some(prompt.to_string());
        }
        self.runner.run(&spec).await
    }
}
