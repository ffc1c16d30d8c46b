//! `l9.agent`: one coding task end to end as a durable workflow — a worktree on its own
//! branch, the coder + reviewer cell (model-backed or an external agent CLI) with every model
//! call, tool call, gate run and review journaled (so each is a packet in the lineage and a
//! resumed run does not repeat a finished call), then a commit with trailers and the merge
//! back. The task fails when the gate never passed or the merge conflicts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use l9_agents::AgentError;
use l9_agents::adapter::Adapter;
use l9_agents::agent::AgentConfig;
use l9_agents::cell::{self, Coder};
use l9_agents::git::{Merged, Repo, Worktree};
use l9_agents::process::Sandbox;
pub use l9_agents::process::sandbox_available;
use l9_agents::process::{Runner, SystemRunner};
use l9_agents::steps::{AgentStep, StepFuture, Steps};
use l9_agents::tools::Tools;
use l9_agents::workspace::Workspace;
use l9_models::{Provider, Recorder};
use l9_tasks::{Ctx, Registry, WfError};
use l9_types::Effect;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::models::ModelsConfig;
use crate::{EngineError, Result};

/// Reads an environment variable (the process environment in production).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What `l9.agent` needs from the project: providers, agents, the process runner.
pub struct AgentEnv {
    pub root: PathBuf,
    pub models: ModelsConfig,
    pub runner: Arc<dyn Runner>,
    env: EnvLookup,
    /// Built providers (and ones a test put in place).
    providers: Mutex<BTreeMap<String, Arc<dyn Provider>>>,
    /// Replaces the coder's system prompt (a prompt-template change; replays notice it).
    pub coder_system: Option<String>,
    /// `--record FILE`: every provider of this run records into one cassette.
    pub record: Option<PathBuf>,
    sink: Mutex<Option<l9_models::cassette::Sink>>,
    /// The project's memory: coding tasks get `search_code` and history notes on the files
    /// they write from the repository's code index and ingested history.
    pub memory: Option<l9_memory::MemoryService>,
    /// `[agents] sandbox`, `allow_run`, `network`.
    pub commands: crate::config::CommandPolicy,
}

impl std::fmt::Debug for AgentEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentEnv")
            .field("root", &self.root)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

impl AgentEnv {
    pub fn new(root: PathBuf, models: ModelsConfig, env: EnvLookup) -> Self {
        AgentEnv {
            root,
            models,
            runner: Arc::new(SystemRunner),
            env,
            providers: Mutex::new(BTreeMap::new()),
            record: None,
            coder_system: None,
            sink: Mutex::new(None),
            memory: None,
            commands: crate::config::CommandPolicy::default(),
        }
    }

    /// The sandbox for commands run in `dir` (the `run` tool, gates, the verify step), as
    /// `[agents] sandbox` says: the directory writable, the project's `.l9/` hidden, the
    /// network as `[agents] network` says. `Err` when the sandbox is required and cannot
    /// work here.
    pub fn sandbox_for(&self, dir: &Path) -> Result<Option<Sandbox>, String> {
        use crate::config::SandboxMode;
        let available = match self.commands.sandbox {
            SandboxMode::Off => return Ok(None),
            mode => match l9_agents::process::sandbox_available() {
                Ok(_) => true,
                Err(why) if mode == SandboxMode::Required => {
                    return Err(format!(
                        "commands must run in a sandbox ([agents] sandbox = \"required\") but {why}: install Debian's `bubblewrap`, or set [agents] sandbox = \"auto\" or \"off\" in .l9/l9.toml"
                    ));
                }
                Err(_) => false,
            },
        };
        if !available {
            return Ok(None);
        }
        let mut sb = Sandbox::for_dir(dir);
        sb.writable.extend(self.commands.writable.iter().cloned());
        sb.hidden.push(self.root.join(crate::STATE_DIR));
        sb.network = self.commands.network;
        Ok(Some(sb))
    }

    /// Puts a provider in place under `name` (tests; embedding applications).
    pub fn set_provider(&self, name: &str, p: Arc<dyn Provider>) {
        if let Ok(mut m) = self.providers.lock() {
            m.insert(name.to_string(), p);
        }
    }

    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>> {
        if let Some(p) = self.providers.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(p);
        }
        let mut p = self.models.build(name, &self.root, &*self.env)?;
        if let Some(path) = &self.record {
            let mut sink = self
                .sink
                .lock()
                .map_err(|_| EngineError::Internal("recorder lock poisoned".into()))?;
            if sink.is_none() {
                *sink = Some(Recorder::sink(path).map_err(|e| EngineError::Config(e.to_string()))?);
            }
            if let Some(s) = sink.as_ref() {
                p = Arc::new(Recorder::with_sink(p, path.clone(), s.clone()));
            }
        }
        if let Ok(mut m) = self.providers.lock() {
            m.insert(name.to_string(), p.clone());
        }
        Ok(p)
    }

    /// A scripted provider from a rule file (cached by path).
    pub(crate) fn script_provider(&self, path: &str) -> Result<Arc<dyn Provider>> {
        let key = format!("script:{path}");
        if let Some(p) = self.providers.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            EngineError::Config(format!("cannot read the scripted provider {path}: {e}"))
        })?;
        let p: Arc<dyn Provider> = Arc::new(
            l9_models::ScriptedProvider::parse("example", path, &text)
                .map_err(|e| EngineError::Config(e.to_string()))?,
        );
        if let Ok(mut m) = self.providers.lock() {
            m.insert(key, p.clone());
        }
        Ok(p)
    }

    /// The agent `name`: configured in `[agents.NAME]`, or a shipped template.
    pub(crate) fn adapter(&self, name: &str) -> Result<Adapter> {
        let Some(a) = self.models.agents.get(name) else {
            // A shipped template works without configuration.
            return Adapter::template(name, self.runner.clone()).ok_or_else(|| {
                EngineError::Config(format!("agent {name:?} is not configured; add [agents.{name}] with template or command to .l9/l9.toml"))
            });
        };
        let mut adapter = match (&a.command, &a.template) {
            (Some(cmd), _) => Adapter::new(name, cmd.clone(), self.runner.clone()),
            (None, Some(t)) => Adapter::template(t, self.runner.clone())
                .ok_or_else(|| EngineError::Config(format!("unknown agent template {t:?}")))?,
            (None, None) => {
                return Err(EngineError::Config(format!(
                    "[agents.{name}] needs template or command"
                )));
            }
        };
        if let Some(t) = a.timeout_s {
            adapter.timeout = std::time::Duration::from_secs(t);
        }
        for var in &a.env {
            if let Some(v) = (self.env)(var) {
                adapter.env.insert(var.clone(), v);
            }
        }
        Ok(adapter)
    }
}

impl AgentEnv {
    /// The reviewer: `[roles] reviewer`, else the coder's provider, else the example's
    /// script; `None` when none is configured (an external agent run alone).
    pub(crate) fn reviewer(
        &self,
        reviewer: Option<&str>,
        provider: Option<&str>,
        script: Option<&str>,
    ) -> Result<Option<Arc<dyn Provider>>> {
        match (
            self.models
                .resolve(reviewer, "reviewer")
                .or_else(|_| self.models.resolve(provider, "coder")),
            script,
        ) {
            (Ok(name), _) => Ok(Some(self.provider(&name)?)),
            (Err(_), Some(script)) => Ok(Some(self.script_provider(script)?)),
            (Err(_), None) => Ok(None),
        }
    }
}

/// The durable `Ctx` as the agents' journaling seam. A control-flow error of the runtime
/// (escalation, storage trouble) is kept so the workflow can return it unchanged.
pub(crate) struct CtxSteps<'a> {
    ctx: &'a Ctx,
    control: Mutex<Option<WfError>>,
    /// The task's allowance, raised by `budget` signals.
    allowance: Mutex<TaskBudget>,
    /// Budget stops so far in this execution (the same ones recur, in order, on replay).
    stops: Mutex<usize>,
}

#[async_trait]
impl Steps for CtxSteps<'_> {
    async fn step<'a>(
        &self,
        name: &str,
        effect: Effect,
        f: StepFuture<'a>,
    ) -> l9_agents::Result<Value> {
        match self.ctx.step(name, effect, move || f).await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.keep(e)),
        }
    }

    fn allowance(&self) -> (Option<u64>, Option<u64>) {
        self.allowance.lock().map_or((None, None), |a| (a.tokens, a.micro_usd))
    }

    /// Journals the stop (the call is not made), parks the task until a `budget` signal
    /// raises its allowance, and lets the call be checked again.
    async fn budget_stop(&self, stop: l9_agents::BudgetStop) -> l9_agents::Result<()> {
        let n = {
            let mut s = self.stops.lock().map_err(|_| AgentError::Journal("poisoned".into()))?;
            *s += 1;
            *s
        };
        let v = json!({"stop": stop, "message": stop.to_string()});
        self.ctx
            .step(&AgentStep::BudgetStop { n }.name(), Effect::Pure, move || async move {
                Ok::<Value, String>(v)
            })
            .await
            .map_err(|e| self.keep(e))?;
        let raised = self.ctx.wait_for_signal("budget").await.map_err(|e| self.keep(e))?;
        let raised: TaskBudget = serde_json::from_value(raised).unwrap_or_default();
        if let Ok(mut a) = self.allowance.lock() {
            a.tokens = raised.tokens.or(a.tokens);
            a.micro_usd = raised.micro_usd.or(a.micro_usd);
        }
        Ok(())
    }
}

impl<'a> CtxSteps<'a> {
    /// The journaling seam of `ctx`, with `allowance` for the model calls made through it.
    pub(crate) fn new(ctx: &'a Ctx, allowance: TaskBudget) -> Self {
        CtxSteps {
            ctx,
            control: Mutex::new(None),
            allowance: Mutex::new(allowance),
            stops: Mutex::new(0),
        }
    }

    fn keep(&self, e: WfError) -> AgentError {
        let msg = e.to_string();
        if let Ok(mut c) = self.control.lock() {
            *c = Some(e);
        }
        AgentError::Journal(msg)
    }

    pub(crate) fn to_wf(&self, e: AgentError) -> WfError {
        match self.control.lock().ok().and_then(|mut c| c.take()) {
            Some(wf) => wf,
            None => WfError::failed(e.to_string()),
        }
    }
}

/// The payload of `l9.agent`.
#[derive(Debug, Clone, Deserialize)]
pub struct AgentTask {
    pub task: String,
    pub repo: String,
    #[serde(default)]
    pub gate: Option<String>,
    /// Provider for the coder (default: `[roles] coder`, or the only provider).
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub reviewer: Option<String>,
    /// An external agent CLI instead of the model-backed coder.
    #[serde(default)]
    pub adapter: Option<String>,
    #[serde(default = "three")]
    pub rounds: usize,
    /// A scripted provider file (an example's `provider.yaml`) for coder and reviewer when
    /// no provider is configured.
    #[serde(default)]
    pub script: Option<String>,
    /// What the task may spend in all (its share of the run's budget, given by the plan);
    /// raised by a `budget` signal when it stopped at it.
    #[serde(default)]
    pub budget: TaskBudget,
    /// A task of a run: its worktree starts from the run's integration branch, and its
    /// branch merges back into that branch (in the integration worktree, never the user's
    /// checkout). A conflict there is left to the run's `integrate` step.
    #[serde(default)]
    pub into: Option<WorktreeRef>,
    /// Work in this existing worktree instead of a new one, and commit there (no merge): the
    /// integrate step's fixes and conflict resolutions.
    #[serde(default)]
    pub workdir: Option<WorktreeRef>,
    /// The plan task's kind (`design`, `test`, `implement`, …).
    #[serde(default)]
    pub plan_kind: Option<String>,
    /// The gate proves tests red for the right reason (tests written before their code).
    #[serde(default)]
    pub expect_red: bool,
}

/// The design records (`docs/design/*.md`) in a worktree, for a task's prompt: each file
/// whole up to 6 KiB, 24 KiB in all, in name order.
pub(crate) fn design_records(worktree: &std::path::Path) -> String {
    let dir = worktree.join("docs/design");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut out = String::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        let text: String = text.chars().take(6 * 1024).collect();
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if out.len() + text.len() > 24 * 1024 {
            break;
        }
        out.push_str(&format!("\n--- docs/design/{name}\n{text}"));
    }
    out
}

/// A worktree by path, branch and base commit (a journaled value).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WorktreeRef {
    pub path: PathBuf,
    pub branch: String,
    pub base: String,
}

impl WorktreeRef {
    pub fn of(w: &Worktree) -> Self {
        WorktreeRef { path: w.path.clone(), branch: w.branch.clone(), base: w.base.clone() }
    }
    pub fn worktree(&self) -> Worktree {
        Worktree { path: self.path.clone(), branch: self.branch.clone(), base: self.base.clone() }
    }
}

/// A task's allowance: tokens and millionths of a dollar (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize)]
pub struct TaskBudget {
    #[serde(default)]
    pub tokens: Option<u64>,
    #[serde(default)]
    pub micro_usd: Option<u64>,
}

fn three() -> usize {
    3
}

/// Registers `l9.agent` next to the built-in workflows.
pub fn register(reg: &mut Registry, env: Arc<AgentEnv>) {
    reg.register("l9.agent", move |ctx: Ctx, v: Value| {
        let env = env.clone();
        async move { run(env, ctx, v).await }
    });
}

fn wt_json(w: &Worktree) -> Value {
    json!({"path": w.path, "branch": w.branch, "base": w.base})
}

async fn run(env: Arc<AgentEnv>, ctx: Ctx, v: Value) -> Result<Value, WfError> {
    let t: AgentTask = serde_json::from_value(v)
        .map_err(|e| WfError::failed(format!("l9.agent: bad payload: {e}")))?;
    let repo_path = env.root.join(&t.repo);
    let repo = Repo::new(&repo_path, env.runner.clone());
    // The whole id: UUIDv7 prefixes are time, so two tasks of one minute would share one.
    let name = format!("task-{}", ctx.task().id);
    let wt = match &t.workdir {
        Some(w) => w.worktree(),
        None => {
            let (r, n) = (repo.clone(), name.clone());
            let from = t.into.as_ref().map(|i| i.branch.clone());
            let wt_v = ctx
                .step(
                    &AgentStep::Worktree.name(),
                    Effect::Idempotent { key: format!("worktree:{name}") },
                    move || async move {
                        r.worktree_from(&n, from.as_deref())
                            .await
                            .map(|w| wt_json(&w))
                            .map_err(|e| e.to_string())
                    },
                )
                .await?;
            Worktree {
                path: PathBuf::from(wt_v["path"].as_str().unwrap_or_default()),
                branch: wt_v["branch"].as_str().unwrap_or_default().to_string(),
                base: wt_v["base"].as_str().unwrap_or_default().to_string(),
            }
        }
    };
    let ws = Workspace::new(&wt.path).map_err(|e| WfError::failed(e.to_string()))?;
    let mut tools = Tools::new(ws, env.runner.clone(), t.gate.clone());
    tools.sandbox = env.sandbox_for(&wt.path).map_err(WfError::failed)?;
    tools.allow_run = env.commands.allow_run;
    tools.track = true;
    tools.expect_red = t.expect_red;
    if let Some(m) = &env.memory {
        tools.knowledge =
            Some(Arc::new(crate::ingest::RepoCode::new(m.clone(), repo_path.clone())));
    }
    // A task of a run reads the design records merged before it started (journaled: a
    // resumed task sees what it saw).
    let mut task_text = t.task.clone();
    if t.into.is_some() && t.plan_kind.as_deref() != Some("design") {
        let dir = wt.path.clone();
        let records = ctx
            .step("design records", Effect::Pure, move || async move {
                Ok::<Value, String>(json!(design_records(&dir)))
            })
            .await?;
        if let Some(r) = records.as_str().filter(|r| !r.is_empty()) {
            task_text.push_str("\n\nDesign records of this project (follow them):");
            task_text.push_str(r);
        }
    }
    let coder_provider;
    let adapter;
    let coder = match &t.adapter {
        Some(a) => {
            adapter = env.adapter(a).map_err(|e| WfError::failed(e.to_string()))?;
            Coder::External(&adapter)
        }
        None => {
            coder_provider = match (env.models.resolve(t.provider.as_deref(), "coder"), &t.script) {
                (Ok(pname), _) => {
                    env.provider(&pname).map_err(|e| WfError::failed(e.to_string()))?
                }
                (Err(_), Some(script)) => {
                    env.script_provider(script).map_err(|e| WfError::failed(e.to_string()))?
                }
                (Err(e), None) => return Err(WfError::failed(e.to_string())),
            };
            let mut cfg = AgentConfig::coder();
            if let Some(s) = &env.coder_system {
                cfg.system = s.clone();
            }
            Coder::Model(coder_provider.as_ref(), cfg)
        }
    };
    // The reviewer: `[roles] reviewer`, else the coder's provider. An external agent run
    // alone (no provider configured) has none: the gate is the judge.
    let reviewer = env
        .reviewer(t.reviewer.as_deref(), t.provider.as_deref(), t.script.as_deref())
        .map_err(|e| WfError::failed(e.to_string()))?;
    if reviewer.is_none() && t.adapter.is_none() {
        let e = env.models.resolve(t.provider.as_deref(), "coder").err();
        return Err(WfError::failed(
            e.map_or("no reviewer is configured".into(), |e| e.to_string()),
        ));
    }
    // The task's allowance covers every coder and reviewer call; a call that could cross it
    // is not made: the stop is journaled and the task waits for a `budget` signal (`l9
    // resume RUN --budget-usd N`), then goes on from that very call.
    let steps = CtxSteps::new(&ctx, t.budget);
    let outcome =
        cell::run(&coder, reviewer.as_deref(), &tools, &steps, &repo, &wt, &task_text, t.rounds)
            .await
            .map_err(|e| steps.to_wf(e))?;
    let allowance = steps.allowance.lock().map(|a| *a).unwrap_or_default();
    let rounds = serde_json::to_value(&outcome.rounds).unwrap_or(Value::Null);
    let spend = json!({
        "tokens": outcome.usage.input_tokens + outcome.usage.output_tokens,
        "micro_usd": outcome.cost_micro_usd,
        "cost_unknown": outcome.cost_unknown,
    });
    if !outcome.done && t.workdir.is_some() {
        let last = outcome.rounds.last();
        return Err(WfError::failed(format!(
            "not done after {} round(s): the gate {}; the work is uncommitted in {} (branch {})",
            outcome.rounds.len(),
            if last.is_some_and(|r| r.gate.passed) { "passed" } else { "did not pass" },
            wt.path.display(),
            wt.branch
        )));
    }
    if !outcome.done {
        // The work is kept where the user can see it: committed on the task's branch (never
        // merged), so the message can say truthfully where it is.
        let (r, w, task_id) = (repo.clone(), wt.clone(), ctx.task().id.to_string());
        let msg =
            format!("WIP (not done, not merged): {}", t.task.lines().next().unwrap_or("L9 task"));
        let kept = ctx
            .step(
                &AgentStep::Commit.name(),
                Effect::Idempotent { key: format!("commit:{name}") },
                move || async move {
                    r.commit(&w, &msg, &task_id, "")
                        .await
                        .map(|c| json!(c))
                        .map_err(|e| e.to_string())
                },
            )
            .await?;
        let last = outcome.rounds.last();
        let gate = last.map(|r| &r.gate);
        let verdict = if reviewer.is_some() {
            format!(" and the reviewer said {:?}", last.map_or("", |r| r.review.verdict.as_str()))
        } else {
            String::new()
        };
        let where_ = match kept.as_str() {
            Some(c) => format!(
                "the work is committed on branch {} as {} (not merged; `git log -p {}..{}`)",
                wt.branch,
                &c[..c.len().min(12)],
                &wt.base[..wt.base.len().min(12)],
                wt.branch
            ),
            None => "the coder changed nothing".to_string(),
        };
        return Err(WfError::failed(format!(
            "not done after {} round(s): the gate {}{verdict}; {where_}{}",
            outcome.rounds.len(),
            if gate.is_some_and(|g| g.passed) { "passed" } else { "did not pass" },
            gate.filter(|g| !g.passed)
                .map(|g| format!("\n{}", crate::events::tail(&g.output, 15)))
                .unwrap_or_default()
        )));
    }
    let packet = ctx.last_packet().map(|p| p.to_string()).unwrap_or_default();
    let task_id = ctx.task().id.to_string();
    let (r, w, msg) = (
        repo.clone(),
        wt.clone(),
        format!(
            "{}\n\nGate: {}",
            t.task.lines().next().unwrap_or("L9 task"),
            t.gate.as_deref().unwrap_or("-")
        ),
    );
    let commit = ctx
        .step(
            &AgentStep::Commit.name(),
            Effect::Idempotent { key: format!("commit:{name}") },
            move || async move {
                r.commit(&w, &msg, &task_id, &packet)
                    .await
                    .map(|c| json!(c))
                    .map_err(|e| e.to_string())
            },
        )
        .await?;
    let (r, w, into) = (repo.clone(), wt.clone(), t.into.clone());
    let in_place = t.workdir.is_some();
    let merged = ctx
        .step(
            &AgentStep::Merge.name(),
            Effect::Idempotent { key: format!("merge:{name}") },
            move || async move {
                let merged = match (&into, in_place) {
                    (_, true) => {
                        return Ok(json!({"how": "committed in place", "branch": w.branch}));
                    }
                    (Some(i), false) => r.merge_into(&i.worktree(), &w.branch).await,
                    (None, false) => r.merge(&w).await,
                };
                match merged {
                    Ok(Merged::FastForward { commit }) => {
                        Ok(json!({"how": "fast-forward", "commit": commit}))
                    }
                    Ok(Merged::MergeCommit { commit }) => {
                        Ok(json!({"how": "merge commit", "commit": commit}))
                    }
                    Ok(Merged::NothingToMerge) => Ok(json!({"how": "nothing to merge"})),
                    // Into a run's integration branch: the integrate step resolves it.
                    Err(AgentError::Conflict { branch, files }) if into.is_some() => {
                        Ok(json!({"how": "conflict", "branch": branch, "files": files}))
                    }
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await?;
    Ok(json!({
        "done": true,
        "branch": wt.branch,
        "worktree": wt.path,
        "commit": commit,
        "merged": merged,
        "first_gate_failed": outcome.first_gate_failed(),
        "spend": spend,
        "budget": allowance,
        "rounds": rounds,
    }))
}

/// What `l9 models test` found for one provider.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub provider: String,
    pub ok: bool,
    /// How long the call took, in milliseconds.
    pub millis: i64,
    pub model: Option<String>,
    /// The start of the answer.
    pub reply: Option<String>,
    pub tokens: Option<u64>,
    pub cost_micro_usd: Option<u64>,
    /// What went wrong, with the setting to fix.
    pub error: Option<String>,
}

impl crate::Engine {
    /// Sends each named provider (all configured ones when `names` is empty) one small
    /// request — a system line asking for "OK" and a 16-token cap — and reports whether it
    /// answered, how fast, and what it cost.
    pub async fn probe_providers(&self, names: &[String]) -> Result<Vec<Probe>> {
        use l9_types::Clock as _;
        let env = self.agent_env();
        let names: Vec<String> = if names.is_empty() {
            env.models.providers.keys().cloned().collect()
        } else {
            names.to_vec()
        };
        let clock = l9_types::SystemClock;
        let mut out = Vec::new();
        for name in names {
            let mut req = l9_models::ChatRequest::new(vec![
                l9_models::Message::system("Reply with the single word OK."),
                l9_models::Message::user("ping"),
            ]);
            req.max_tokens = Some(16);
            req.role = Some("probe".into());
            req.step = Some("probe".into());
            let t0 = clock.now();
            let answer = match env.provider(&name) {
                Ok(p) => p.chat(&req).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let millis = (clock.now() - t0).num_milliseconds();
            out.push(match answer {
                Ok(r) => Probe {
                    provider: name,
                    ok: true,
                    millis,
                    model: Some(r.model),
                    reply: Some(r.content.chars().take(60).collect()),
                    tokens: Some(r.usage.input_tokens + r.usage.output_tokens),
                    cost_micro_usd: Some(r.cost_micro_usd),
                    error: None,
                },
                Err(e) => Probe {
                    provider: name,
                    ok: false,
                    millis,
                    model: None,
                    reply: None,
                    tokens: None,
                    cost_micro_usd: None,
                    error: Some(e),
                },
            });
        }
        Ok(out)
    }
}
