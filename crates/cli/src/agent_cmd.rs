//! `l9 agent run` and `l9 models list`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use l9_engine::Engine;
use l9_engine::WorkerOptions;
use l9_engine::events::AgentStep;
use l9_engine::runtime::EnqueueOptions;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::output::{Out, snippet};

#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Run one coding task end to end: a worktree on its own branch, the coder (a configured
    /// provider or an external agent CLI) and the reviewer for up to --rounds rounds, the
    /// gate, a commit with L9 trailers and the merge back. Durable: every model call, tool
    /// call, gate run and review is journaled (`l9 tasks show ID`).
    Run {
        /// What to do, in words.
        #[arg(long)]
        task: String,
        /// The git repository to work on.
        #[arg(long)]
        repo: PathBuf,
        /// The acceptance gate: a shell command run in the worktree; the task is done only when it passes.
        #[arg(long)]
        gate: Option<String>,
        /// Provider for the coder (default: [roles] coder, or the only provider configured).
        #[arg(long)]
        provider: Option<String>,
        /// Provider for the reviewer (default: [roles] reviewer, else the coder's).
        #[arg(long)]
        reviewer: Option<String>,
        /// Use an external agent CLI as the coder: a name under [agents], or cursor, claude, codex, aider.
        #[arg(long)]
        adapter: Option<String>,
        /// Coder → gate → reviewer rounds at most.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Write every model call of this run to a cassette (replay it with a `replay` provider).
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// Show configured providers, agents and roles, and whether their API keys are set.
    List,
    /// Check that providers answer: one small request each (a 16-token cap), with the time
    /// it took and what it cost. Exit 6 when one does not answer.
    Test {
        /// Providers to check (default: every configured one).
        names: Vec<String>,
    },
}

pub(crate) async fn run_models(
    cmd: ModelsCommand,
    root: &Path,
    out: &mut Out,
) -> Result<(), CliError> {
    match cmd {
        ModelsCommand::Test { names } => {
            let engine = crate::open_existing(root, None).await?;
            let probes = engine.probe_providers(&names).await?;
            if probes.is_empty() {
                return Err(CliError::not_found(
                    "no providers are configured: add [providers.NAME] to .l9/l9.toml (`l9 init` writes a commented example)",
                ));
            }
            out.value(&probes, || {
                probes
                    .iter()
                    .map(|p| match &p.error {
                        None => format!(
                            "{:<12} ok      {:>6} ms  {}  {} tokens, ${:.6}: {:?}",
                            p.provider,
                            p.millis,
                            p.model.as_deref().unwrap_or("-"),
                            p.tokens.unwrap_or(0),
                            p.cost_micro_usd.unwrap_or(0) as f64 / 1e6,
                            p.reply.as_deref().unwrap_or("")
                        ),
                        Some(e) => format!("{:<12} FAILED  {:>6} ms  {e}", p.provider, p.millis),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
            if probes.iter().all(|p| p.ok) { Ok(()) } else { Err(CliError::unavailable_silent()) }
        }
        ModelsCommand::List => {
            let config = l9_engine::Config::load(root, &|v| std::env::var(v).ok())
                .map_err(l9_engine::EngineError::from)?;
            let m = &config.models;
            out.value(m, || {
                let mut s = String::new();
                if m.providers.is_empty() {
                    s.push_str("No providers configured. Add one to .l9/l9.toml, e.g.\n\n  [providers.local]\n  kind = \"openai\"          # or anthropic, scripted, replay\n  base_url = \"http://127.0.0.1:11434\"\n  model = \"qwen2.5-coder\"\n  api_key_env = \"\"\n\n  [roles]\n  coder = \"local\"\n");
                    return s;
                }
                let _ = writeln!(s, "{:<12} {:<10} {:<28} {:<32} key", "provider", "kind", "model", "endpoint / file");
                for (name, p) in &m.providers {
                    let kind = format!("{:?}", p.kind).to_lowercase();
                    let endpoint = p.base_url.clone().or_else(|| p.script.clone()).or_else(|| p.cassette.clone()).unwrap_or_else(|| "(default)".into());
                    let key = match (&p.kind, p.api_key_env.as_deref()) {
                        (l9_engine::models::ProviderKind::Scripted | l9_engine::models::ProviderKind::Replay, _) => "-".to_string(),
                        (_, Some("")) => "none needed".to_string(),
                        (k, var) => {
                            let var = var.map(str::to_string).unwrap_or_else(|| if *k == l9_engine::models::ProviderKind::Anthropic { "ANTHROPIC_API_KEY".into() } else { "OPENAI_API_KEY".into() });
                            format!("{var} ({})", if std::env::var(&var).is_ok_and(|v| !v.is_empty()) { "set" } else { "NOT SET" })
                        }
                    };
                    let _ = writeln!(s, "{:<12} {:<10} {:<28} {:<32} {key}", name, kind, p.model.as_deref().unwrap_or("-"), snippet(&endpoint, 32));
                }
                if !m.roles.is_empty() {
                    let roles: Vec<String> = m
                        .roles
                        .keys()
                        .map(|r| format!("{r} → {}", m.candidates(r).join(" | ")))
                        .collect();
                    let _ = writeln!(s, "roles: {}", roles.join(", "));
                }
                for (name, a) in &m.agents {
                    let what = a.command.as_ref().map(|c| c.join(" ")).or_else(|| a.template.clone().map(|t| format!("template {t}"))).unwrap_or_default();
                    let _ = writeln!(s, "agent {name}: {what}");
                }
                s.trim_end().to_string()
            })
        }
    }
}

pub(crate) async fn run_agent(
    cmd: AgentCommand,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let AgentCommand::Run { task, repo, gate, provider, reviewer, adapter, rounds, record } = cmd;
    let repo = repo
        .canonicalize()
        .map_err(|e| CliError::input(format!("--repo {}: {e}", repo.display())))?;
    let engine = Engine::open(root, db).await?;
    let mut env = engine.agent_env();
    env.record = record.clone();
    // Configuration problems surface now, before anything is queued.
    let executor = match &adapter {
        Some(a) => format!("adapter:{a}"),
        None => {
            let name = env
                .models
                .resolve(provider.as_deref(), "coder")
                .map_err(l9_engine::EngineError::from)?;
            env.provider(&name)?;
            format!("provider:{name}")
        }
    };
    let repo = l9_engine::steer::check_repository(&repo)
        .await
        .map_err(|e| CliError::input(format!("--repo: {e}")))?;
    let env = Arc::new(env);
    let payload = json!({
        "task": task, "repo": repo, "gate": gate, "provider": provider, "reviewer": reviewer,
        "adapter": adapter, "rounds": rounds,
    });
    let (id, _) = engine
        .enqueue(
            "l9.agent",
            payload,
            &EnqueueOptions { queue: "agent".into(), ..Default::default() },
        )
        .await?;
    if !out.json {
        eprintln!(
            "task {id}: working in a worktree of {} (gate: {})",
            repo.display(),
            gate.as_deref().unwrap_or("none: the task cannot pass")
        );
    }
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let opts = WorkerOptions {
        id: l9_engine::runtime::default_worker_id(),
        queues: vec!["agent".into()],
        concurrency: 1,
        lease: Duration::from_secs(60),
        exit_when_idle: true,
        ..Default::default()
    };
    engine.run_worker(engine.registry_with(env), opts, rx).await?;
    let detail = engine.task_detail(id).await?;
    let t = &detail.task;
    let result = t.result.clone().unwrap_or(Value::Null);
    let ok = result.get("done").and_then(Value::as_bool) == Some(true);
    let steps: Vec<String> = detail.journal.iter().map(|j| j.key.clone()).collect();
    engine.learn_from_agent_task(&detail, ok, &executor).await?;
    // A failed task has no result: rebuild its rounds from the journaled gates and reviews.
    let mut result = result;
    if result.get("rounds").is_none() {
        let entries = engine.task_journal(id).await?;
        let value = |step: AgentStep| {
            entries.iter().find(|e| e.agent_step() == Some(step.clone())).map(|e| e.value.clone())
        };
        let mut rounds = Vec::new();
        for r in 1.. {
            let Some(gate) = value(AgentStep::Gate { round: r }) else { break };
            let review = value(AgentStep::Review { round: r })
                .map(|v| v["review"].clone())
                .unwrap_or(Value::Null);
            let summary = (1..)
                .map_while(|i| value(AgentStep::Model { round: r, turn: i }))
                .last()
                .and_then(|v| v["content"].as_str().map(str::to_string))
                .unwrap_or_default();
            rounds.push(
                json!({"round": r, "coder_summary": summary, "gate": gate, "review": review}),
            );
        }
        if !rounds.is_empty() {
            result = json!({"rounds": rounds});
        }
    }
    out.value(&json!({"task": id.to_string(), "state": format!("{:?}", t.state).to_lowercase(), "result": result, "error": t.error, "journal": steps}), || {
        let mut s = String::new();
        for r in result.get("rounds").and_then(Value::as_array).into_iter().flatten() {
            let _ = writeln!(
                s,
                "round {}: coder: {}; gate {}; reviewer: {} {}",
                r["round"],
                snippet(r["coder_summary"].as_str().unwrap_or(""), 60),
                if r["gate"]["passed"] == json!(true) { "passed" } else { "FAILED" },
                r["review"]["verdict"].as_str().unwrap_or("?"),
                snippet(r["review"]["comments"].as_str().unwrap_or(""), 60)
            );
        }
        if ok {
            let _ = writeln!(s, "done: branch {} merged ({}) at {}", result["branch"].as_str().unwrap_or(""), result["merged"]["how"].as_str().unwrap_or(""), result["merged"]["commit"].as_str().unwrap_or("-"));
        } else {
            let _ = writeln!(s, "not done: {}", t.error.as_deref().unwrap_or("see the journal"));
        }
        let _ = write!(s, "{} journaled steps; inspect with `l9 tasks show {id}`", steps.len());
        s
    })?;
    if ok { Ok(()) } else { Err(CliError::findings()) }
}
