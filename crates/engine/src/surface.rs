//! What every surface (the CLI, `l9 serve`, later MCP) shows of runs, in one place: the run
//! list, a run's whole view (stages, simulation, result, timeline, lineage, evidence,
//! events), starting a run, and the project's API token.

use std::path::Path;

use l9_types::TaskId;
use serde_json::{Value, json};

use crate::pipeline::RunStep;
use crate::runtime::EnqueueOptions;
use crate::stages::{Simulated, Understood, read};
use crate::{Engine, EngineError, Result};

/// The file under `.l9/` holding the API token.
pub const TOKEN_FILE: &str = "token";

impl Engine {
    /// Loop runs, newest first: `{run, state, spec, updated, error, approval_gates}` (the
    /// tasks of a waiting run's plan at an approval gate; empty for the others).
    pub async fn run_rows(&self, limit: usize) -> Result<Vec<Value>> {
        let f = l9_store::TaskFilter { kind: Some("l9.run".into()), ..Default::default() };
        let mut rows = Vec::new();
        for t in self.list_tasks(&f, None, limit).await?.tasks {
            rows.push(self.row_of(&t).await?);
        }
        Ok(rows)
    }

    /// One run's row (as in [`Engine::run_rows`]).
    pub async fn run_row(&self, tid: TaskId) -> Result<Value> {
        self.row_of(&self.task(tid).await?).await
    }

    async fn row_of(&self, t: &l9_store::TaskRecord) -> Result<Value> {
        let gates = self.gates_of(t).await?;
        Ok(json!({"run": t.id.to_string(), "state": t.state.as_str(), "spec": t.payload["spec"],
                  "updated": t.updated_at, "error": t.error, "approval_gates": gates}))
    }

    /// The tasks of the run's plan at an approval gate now (`l9 tasks approve RUN` answers
    /// them): looked for only while the run waits.
    async fn gates_of(&self, t: &l9_store::TaskRecord) -> Result<Vec<crate::approvals::Gate>> {
        if t.state == l9_store::TaskState::Waiting {
            self.approval_gates(t.id).await
        } else {
            Ok(Vec::new())
        }
    }

    /// A run as `l9 show RUN --json` and `GET /api/v1/runs/{id}` give it.
    pub async fn run_view(&self, tid: TaskId) -> Result<Value> {
        let d = self.task_detail(tid).await?;
        let entries = self.task_journal(tid).await?;
        let value = |step: RunStep| {
            entries.iter().find(|e| e.run_step() == Some(step)).map(|e| e.value.clone())
        };
        let front: Option<Understood> = value(RunStep::Front).and_then(|v| read(&v));
        let sim: Option<Simulated> = value(RunStep::Simulate).and_then(|v| read(&v));
        let events = self.run_events(tid).await?;
        let timeline = self.run_timeline(tid).await?;
        let lineage = self.run_lineage(tid).await?;
        let evidence = self.run_evidence(tid).await?;
        let gates = self.gates_of(&d.task).await?;
        Ok(json!({
            "run": tid.to_string(), "state": d.task.state.as_str(), "stages": front,
            "simulation": sim, "result": d.task.result.clone().unwrap_or(Value::Null),
            "error": d.task.error, "children": d.children.len(), "journal": d.journal.len(),
            "timeline": timeline, "lineage": lineage, "evidence": evidence, "events": events,
            "approval_gates": gates,
        }))
    }

    /// Starts a loop run (`l9.run` on the `run` queue): a worker executes it.
    pub async fn start_run(&self, request: &crate::stages::RunRequest) -> Result<TaskId> {
        let payload = serde_json::to_value(request)
            .map_err(|e| EngineError::Internal(format!("cannot write the run request: {e}")))?;
        let opts = EnqueueOptions { queue: "run".into(), ..Default::default() };
        Ok(self.enqueue("l9.run", payload, &opts).await?.0)
    }

    /// Starts a run as a surface asks for it ([`RunStart`]: `POST /api/v1/runs`, the MCP
    /// `run_spec` tool): the spec is a file of the project or text stored under
    /// `.l9/specs/NAME.md`; the repository is the one named (inside the project) or a fresh
    /// one at `l9-out/NAME`.
    pub async fn start_run_from(&self, r: &RunStart) -> Result<TaskId> {
        let root = self.root().to_path_buf();
        let bad =
            |m: String| EngineError::Input(vec![l9_types::Diagnostic::error("L9-RUN-REQUEST", m)]);
        let spec = match (&r.spec, &r.spec_text) {
            (Some(p), None) => {
                let path = root.join(p);
                if !path.starts_with(&root) || p.contains("..") || !path.is_file() {
                    return Err(bad(format!(
                        "spec {p:?} is not a file of the project: give a path relative to {}",
                        root.display()
                    )));
                }
                path
            }
            (None, Some(text)) => {
                let name = r.name.clone().unwrap_or_else(|| "spec".into());
                if name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(bad("name may hold letters, digits, - and _ only".into()));
                }
                let dir = root.join(".l9/specs");
                std::fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
                let path = dir.join(format!("{name}.md"));
                std::fs::write(&path, text).map_err(|e| EngineError::io(&path, e))?;
                path
            }
            _ => return Err(bad("give either spec (a path) or spec_text".into())),
        };
        let repo = match &r.repo {
            Some(rp) if rp.contains("..") => {
                return Err(bad(format!("repo {rp:?} must stay inside the project")));
            }
            Some(rp) => crate::steer::check_repository(&root.join(rp))
                .await
                .map_err(|e| bad(format!("repo: {e}")))?,
            None => self.fresh_repository(&spec).await?,
        };
        if let Some(b) = r.budget_usd
            && !(b.is_finite() && b >= 0.0)
        {
            return Err(bad(format!("budget {b}: give a dollar amount of 0 or more")));
        }
        if let Some(t) = r.trials
            && !(1..=1_000_000).contains(&t)
        {
            return Err(bad(format!("trials {t}: give 1 to 1000000")));
        }
        let script = example_script(&spec, r.adapter.as_deref());
        let request = crate::stages::RunRequest {
            spec: spec.display().to_string(),
            repo: Some(repo.display().to_string()),
            provider: r.provider.clone(),
            adapter: r.adapter.clone(),
            script: script.map(|s| s.display().to_string()),
            trials: r.trials.unwrap_or(1000),
            budget: crate::Budget {
                micro_usd: r.budget_usd.map(|u| (u * 1e6).round() as u64),
                ..Default::default()
            },
            no_learn: r.no_learn,
            ..Default::default()
        };
        self.start_run(&request).await
    }

    /// Continues a run (`l9 resume`, `POST /api/v1/runs/{id}/resume`): gives back the leases
    /// of processes that are gone, raises the budget when asked (the plan's, and the share
    /// of each task that stopped at its own), and signals `resume` with what the run uses
    /// from here on (an adapter, a provider, a budget).
    pub async fn resume_run(
        &self,
        run: TaskId,
        adapter: Option<&str>,
        provider: Option<&str>,
        budget_usd: Option<f64>,
    ) -> Result<Resumed> {
        if let Some(b) = budget_usd
            && !(b.is_finite() && b >= 0.0)
        {
            return Err(EngineError::Config(format!(
                "budget {b}: give a dollar amount of 0 or more"
            )));
        }
        let freed = self.reclaim_dead_leases(run).await?.len();
        let raised = match budget_usd {
            Some(usd) => self.raise_budget(run, (usd * 1e6).round() as u64).await?,
            None => None,
        };
        let overrides = json!({
            "adapter": adapter, "provider": provider,
            "budget": budget_usd.map(|u| json!({"micro_usd": (u * 1e6).round() as u64})),
        });
        self.signal(run, "resume", &overrides).await?;
        Ok(Resumed { freed, raised })
    }

    /// The project's API token (`.l9/token`, made with mode 0600 when missing): every route
    /// of `l9 serve` requires it.
    pub fn api_token(&self) -> Result<String> {
        ensure_token(&self.root().join(crate::STATE_DIR))
    }
}

/// How a surface starts a run: a spec by path (relative to the project) or its text.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStart {
    /// A spec file, relative to the project root.
    #[serde(default)]
    pub spec: Option<String>,
    /// The spec's text (stored under `.l9/specs/NAME.md`).
    #[serde(default)]
    pub spec_text: Option<String>,
    /// The name for `spec_text` (default `spec`).
    #[serde(default)]
    pub name: Option<String>,
    /// The repository to change, relative to the project (default: a fresh one at
    /// `l9-out/NAME`).
    #[serde(default)]
    pub repo: Option<String>,
    /// A model provider configured in `.l9/l9.toml`.
    #[serde(default)]
    pub provider: Option<String>,
    /// An external coding agent configured in `.l9/l9.toml`.
    #[serde(default)]
    pub adapter: Option<String>,
    /// Simulation trials per candidate plan (default 1000).
    #[serde(default)]
    pub trials: Option<u32>,
    /// The run's budget in dollars.
    #[serde(default)]
    pub budget_usd: Option<f64>,
    /// Record the run without learning from it.
    #[serde(default)]
    pub no_learn: bool,
}

/// An example's scripted coder and reviewer: `provider.yaml` beside the spec, which stands
/// in when no coder is given. A run with an external agent (`adapter`) uses the agent alone.
pub fn example_script(spec: &Path, adapter: Option<&str>) -> Option<std::path::PathBuf> {
    spec.parent().map(|d| d.join("provider.yaml")).filter(|p| p.is_file() && adapter.is_none())
}

/// Reads the token in `dir`, making one (32 random bytes, hex; readable by the owner only)
/// when there is none.
pub(crate) fn ensure_token(dir: &Path) -> Result<String> {
    let path = dir.join(TOKEN_FILE);
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if t.len() >= 32 {
            return Ok(t);
        }
    }
    // Production randomness through the seam: seeded from the operating system.
    let mut bytes = [0u8; 32];
    l9_types::SeededRng::from_entropy().fill(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(&path).map_err(|e| EngineError::io(&path, e))?;
    std::io::Write::write_all(&mut f, token.as_bytes()).map_err(|e| EngineError::io(&path, e))?;
    Ok(token)
}

/// What [`Engine::resume_run`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resumed {
    /// Leases given back (their holders are gone).
    pub freed: usize,
    /// The budget raise, when one was asked for and made.
    pub raised: Option<crate::steer::BudgetRaise>,
}
