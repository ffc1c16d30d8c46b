//! The end of a run's plan: `l9.integrate` and `l9.verify`.
//!
//! A run works on an integration branch of its own (`l9/run-<id>`, in a worktree under the
//! repository's git directory, never the user's checkout): every task starts from it and
//! merges back into it. `l9.integrate` merges what could not merge by itself (a conflict:
//! the coder resolves it in the integration worktree), then runs every gate of the plan
//! there; a gate that fails on the combined result gets the coder to fix it, and every gate
//! runs again. `l9.verify` checks the result out clean, re-runs every acceptance gate and the
//! repository's own test command, stores each run as an evidence packet in the run's
//! lineage, and only when every MUST requirement has passing evidence merges the
//! integration branch into the user's branch (a fast-forward when the user's branch has not
//! moved). A kill at any point leaves the user's branch as it was or fully updated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use l9_agents::git::{Merged, Repo};
use l9_agents::process::{CommandSpec, Runner};
use l9_tasks::{Ctx, Registry, WfError};
use l9_types::Effect;
use l9_types::PacketDraft;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Engine;
use crate::agent::{AgentEnv, WorktreeRef};
use crate::stages::{Evidence, Verified};

mod detect;
pub use detect::{detect_test_command, runnable};

/// Lines of a gate's output kept as its evidence's tail.
const TAIL_LINES: usize = 20;

/// A gate of the plan, with what it is evidence for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateSpec {
    pub command: String,
    #[serde(default)]
    pub criteria: Vec<String>,
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Where it comes from when not the spec's acceptance criteria (`tests written by the
    /// run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The coder a run's integration fixes use (the run's own).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CoderRef {
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub adapter: Option<String>,
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default)]
    pub executor: Option<String>,
}

/// The payload of `l9.integrate`.
#[derive(Debug, Clone, Deserialize)]
struct IntegrateTask {
    repo: String,
    integration: WorktreeRef,
    gates: Vec<GateSpec>,
    #[serde(default)]
    coder: CoderRef,
    #[serde(default)]
    plan_task: Option<String>,
    /// Its share of the run's budget, for the coder tasks it starts.
    #[serde(default)]
    budget: crate::agent::TaskBudget,
}

/// The payload of `l9.verify`.
#[derive(Debug, Clone, Deserialize)]
struct VerifyTask {
    repo: String,
    integration: WorktreeRef,
    /// The user's branch the verified result goes to.
    user_branch: String,
    gates: Vec<GateSpec>,
    musts: Vec<String>,
    /// `[project] test`, when configured (evidence for MUSTs without a gate of their own).
    #[serde(default)]
    project_test: Option<String>,
    #[serde(default)]
    ir_packet: Option<String>,
}

/// One gate run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRun {
    pub command: String,
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub tail: String,
}

/// Runs `command` with `sh -c` in `dir`.
pub(crate) async fn run_gate(
    runner: &dyn Runner,
    dir: &Path,
    command: &str,
    sandbox: Option<l9_agents::process::Sandbox>,
) -> GateRun {
    let mut spec = CommandSpec::shell(command, dir);
    spec.sandbox = sandbox;
    match runner.run(&spec).await {
        Ok(o) => GateRun {
            command: command.to_string(),
            passed: o.success(),
            exit_code: o.code,
            tail: crate::events::tail(&o.combined(), TAIL_LINES),
        },
        Err(e) => GateRun {
            command: command.to_string(),
            passed: false,
            exit_code: None,
            tail: e.to_string(),
        },
    }
}

fn failed(e: impl std::fmt::Display) -> WfError {
    WfError::failed(e.to_string())
}

/// Registers `l9.integrate` and `l9.verify`.
pub fn register(reg: &mut Registry, engine: Engine, env: Arc<AgentEnv>) {
    let e = env.clone();
    reg.register("l9.integrate", move |ctx: Ctx, v: Value| {
        let env = e.clone();
        async move { integrate(env, ctx, v).await }
    });
    reg.register("l9.verify", move |ctx: Ctx, v: Value| {
        let (engine, env) = (engine.clone(), env.clone());
        async move { verify(engine, env, ctx, v).await }
    });
}

/// The gates of the plan, each run once, in the integration worktree.
async fn run_gates(
    ctx: &Ctx,
    env: &Arc<AgentEnv>,
    dir: &Path,
    gates: &[GateSpec],
    name: &str,
) -> Result<Vec<GateRun>, WfError> {
    let mut out = Vec::new();
    for (i, g) in gates.iter().enumerate() {
        let (runner, dir, command) = (env.runner.clone(), dir.to_path_buf(), g.command.clone());
        let sandbox = env.sandbox_for(&dir).map_err(failed)?;
        let step = format!("{name} {}", i + 1);
        let v = ctx
            .step(&step, Effect::Idempotent { key: step.clone() }, move || async move {
                serde_json::to_value(run_gate(runner.as_ref(), &dir, &command, sandbox).await)
                    .map_err(|e| e.to_string())
            })
            .await?;
        out.push(serde_json::from_value(v).map_err(failed)?);
    }
    Ok(out)
}

/// A coder task in the integration worktree (a child `l9.agent` committing in place).
async fn fix_in_place(
    ctx: &Ctx,
    t: &IntegrateTask,
    spent: &mut (u64, u64),
    what: &str,
    task: String,
    gate: String,
) -> Result<Value, WfError> {
    let name = format!("{} ({what})", t.plan_task.as_deref().unwrap_or("integrate"));
    let payload = json!({
        "plan_task": name, "plan_kind": "integrate", "task": task, "repo": t.repo,
        "gate": gate, "provider": t.coder.provider, "adapter": t.coder.adapter,
        "script": t.coder.script, "executor": t.coder.executor, "workdir": t.integration,
        "budget": {
            "tokens": t.budget.tokens.map(|l| l.saturating_sub(spent.0)),
            "micro_usd": t.budget.micro_usd.map(|l| l.saturating_sub(spent.1)),
        },
    });
    let child = ctx.spawn_child("l9.agent", payload).await?;
    let v = ctx.join(child).await?;
    spent.0 += v["spend"]["tokens"].as_u64().unwrap_or(0);
    spent.1 += v["spend"]["micro_usd"].as_u64().unwrap_or(0);
    Ok(v)
}

/// `l9.integrate`: every task branch merged into the integration branch, in dependency
/// order (conflicts resolved by the coder), then every gate of the plan run on the whole;
/// what fails gets the coder to fix it.
async fn integrate(env: Arc<AgentEnv>, ctx: Ctx, v: Value) -> Result<Value, WfError> {
    let t: IntegrateTask =
        serde_json::from_value(v).map_err(|e| failed(format!("l9.integrate: bad payload: {e}")))?;
    let repo = Repo::new(&env.root.join(&t.repo), env.runner.clone());
    let wt = t.integration.worktree();
    // Branches that could not merge by themselves (their tasks recorded a conflict), in the
    // order their tasks finished.
    let conflicted = {
        let ctx2 = ctx.clone();
        ctx.step("conflicted branches", Effect::Pure, move || async move {
            Ok::<Value, String>(json!(conflicted_branches(&ctx2).await))
        })
        .await?
    };
    let mut resolved = Vec::new();
    let mut spent = (0u64, 0u64);
    for branch in conflicted.as_array().into_iter().flatten().filter_map(Value::as_str) {
        let (r, w, b) = (repo.clone(), wt.clone(), branch.to_string());
        let step = format!("merge {branch}");
        let files = ctx
            .step(&step, Effect::Idempotent { key: step.clone() }, move || async move {
                r.merge_leaving_conflicts(&w, &b).await.map(|f| json!(f)).map_err(|e| e.to_string())
            })
            .await?;
        let Some(files) = files.as_array().filter(|f| !f.is_empty()) else { continue };
        let files: Vec<String> =
            files.iter().filter_map(Value::as_str).map(str::to_string).collect();
        // Resolved: no conflict marker left in the files. Whether the whole still passes
        // every gate is the next thing this step checks (and has fixed).
        let gate = format!(
            "! grep -n -e '^<<<<<<< ' -e '^=======$' -e '^>>>>>>> ' -- {}",
            files.iter().map(|f| shell_quote(f)).collect::<Vec<_>>().join(" ")
        );
        fix_in_place(
            &ctx,
            &t,
            &mut spent,
            "resolve conflicts",
            format!(
                "Resolve the merge conflicts of branch {branch} in {}: keep what both sides meant and remove every conflict marker. The gates of the plan run on the result next.",
                files.join(", ")
            ),
            gate,
        )
        .await?;
        resolved.push(json!({"branch": branch, "files": files}));
    }
    let first = run_gates(&ctx, &env, &wt.path, &t.gates, "integration gate").await?;
    let failing: Vec<&GateRun> = first.iter().filter(|g| !g.passed).collect();
    let mut fix = Value::Null;
    let mut last = first.clone();
    if !failing.is_empty() {
        let what: Vec<String> =
            failing.iter().map(|g| format!("`{}` failed:\n{}", g.command, g.tail)).collect();
        let all = t.gates.iter().map(|g| g.command.clone()).collect::<Vec<_>>().join(" && ");
        fix = fix_in_place(
            &ctx,
            &t,
            &mut spent,
            "fix",
            format!(
                "Integration: after merging every task's branch, these gates fail on the combined result. Fix the code so that every gate passes, without breaking the others.\n\n{}",
                what.join("\n\n")
            ),
            all,
        )
        .await?;
        last = run_gates(&ctx, &env, &wt.path, &t.gates, "integration gate").await?;
        if let Some(g) = last.iter().find(|g| !g.passed) {
            return Err(failed(format!(
                "the integrated result still fails `{}` after the fix:\n{}\n(the work is on branch {})",
                g.command, g.tail, wt.branch
            )));
        }
    }
    let head = repo.git(&wt.path, &["rev-parse", "HEAD"]).await.map_err(failed)?;
    Ok(json!({
        "branch": wt.branch,
        "head": head.stdout.trim(),
        "resolved": resolved,
        "gates": last,
        "first_gates": first,
        "fixed": !fix.is_null(),
        "fix": fix,
        "spend": {"tokens": spent.0, "micro_usd": spent.1},
    }))
}

/// Stores a packet whose parent is the IR (when known) and has the current step cite it.
async fn store_under(
    eng: &Engine,
    ctx: &Ctx,
    mut draft: PacketDraft,
    ir: Option<&str>,
) -> Result<String, String> {
    if let Some(p) = ir.and_then(|p| p.parse().ok()) {
        draft = draft.parent(p);
    }
    let p = eng.memory().put(draft, Vec::new()).await.map_err(|x| x.to_string())?;
    ctx.cite(p.id);
    Ok(p.id.to_string())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The branches of this plan's finished tasks that recorded a merge conflict.
async fn conflicted_branches(ctx: &Ctx) -> Vec<String> {
    let Some(parent) = ctx.task().parent else { return Vec::new() };
    let filter = l9_store::TaskFilter { parent: Some(parent), ..Default::default() };
    let Ok(page) = ctx.store().tasks().list_tasks(&filter, None, 1000).await else {
        return Vec::new();
    };
    let mut tasks: Vec<_> = page
        .tasks
        .into_iter()
        .filter(|t| t.result.as_ref().is_some_and(|r| r["merged"]["how"] == json!("conflict")))
        .collect();
    tasks.sort_by_key(|t| t.updated_at);
    tasks.iter().filter_map(|t| t.result.as_ref()?["branch"].as_str().map(str::to_string)).collect()
}

/// `l9.verify`: the result checked out clean, every acceptance gate and the repository's
/// own test command run there, each run stored as evidence; done only when every MUST
/// requirement has passing evidence, and only then is the user's branch updated.
async fn verify(engine: Engine, env: Arc<AgentEnv>, ctx: Ctx, v: Value) -> Result<Value, WfError> {
    let t: VerifyTask =
        serde_json::from_value(v).map_err(|e| failed(format!("l9.verify: bad payload: {e}")))?;
    let repo = Repo::new(&env.root.join(&t.repo), env.runner.clone());
    let (r, branch, name) =
        (repo.clone(), t.integration.branch.clone(), format!("verify-{}", ctx.task().id));
    let checkout = ctx
        .step("clean checkout", Effect::Idempotent { key: name.clone() }, move || async move {
            let tip = r.git(&r.root, &["rev-parse", &branch]).await.map_err(|e| e.to_string())?;
            let commit = tip.stdout.trim().to_string();
            let path = r.clean_checkout(&name, &commit).await.map_err(|e| e.to_string())?;
            Ok::<Value, String>(json!({"path": path, "commit": commit}))
        })
        .await?;
    let dir = PathBuf::from(checkout["path"].as_str().unwrap_or_default());
    let commit = checkout["commit"].as_str().unwrap_or_default().to_string();
    // The acceptance gates, each distinct command once.
    let mut gates: Vec<GateSpec> = Vec::new();
    for g in &t.gates {
        match gates.iter_mut().find(|x| x.command == g.command) {
            Some(x) => {
                x.criteria.extend(g.criteria.iter().cloned());
                x.requirements.extend(g.requirements.iter().cloned());
            }
            None => gates.push(g.clone()),
        }
    }
    let runs = run_gates(&ctx, &env, &dir, &gates, "evidence").await?;
    let mut evidence: Vec<Evidence> = gates
        .iter()
        .zip(&runs)
        .map(|(g, r)| {
            let mut reqs = g.requirements.clone();
            reqs.sort();
            reqs.dedup();
            Evidence {
                packet: None,
                source: g.source.clone().unwrap_or_else(|| "acceptance".into()),
                command: r.command.clone(),
                criteria: g.criteria.clone(),
                requirements: reqs,
                exit_code: r.exit_code,
                passed: r.passed,
                tail: r.tail.clone(),
                commit: commit.clone(),
            }
        })
        .collect();
    // The repository's own tests: configured (then evidence for MUSTs without a gate of
    // their own), or detected (evidence for the whole).
    let (d, configured) = (dir.clone(), t.project_test.clone());
    let project = ctx
        .step("project test command", Effect::Pure, move || async move {
            Ok::<Value, String>(match configured {
                Some(c) => json!({"command": c, "from": "[project] test"}),
                // A command found by the repository's files whose program is not installed
                // here is not run (it could only fail): said, not evidence.
                None => match detect_test_command(&d) {
                    Some((c, from)) if !runnable(&c, &d) => json!({
                        "not_run": format!("`{c}` ({from}): `{}` is not installed here", c.split_whitespace().next().unwrap_or(&c)),
                    }),
                    Some((c, from)) => json!({"command": c, "from": from}),
                    None => Value::Null,
                },
            })
        })
        .await?;
    if let Some(cmd) = project["command"].as_str() {
        let run = run_gates(
            &ctx,
            &env,
            &dir,
            &[GateSpec {
                command: cmd.into(),
                criteria: vec![],
                requirements: vec![],
                source: None,
            }],
            "project tests",
        )
        .await?;
        let ungated: Vec<String> = t
            .musts
            .iter()
            .filter(|m| !evidence.iter().any(|e| e.requirements.contains(m)))
            .cloned()
            .collect();
        let r = &run[0];
        evidence.push(Evidence {
            packet: None,
            source: format!("project test ({})", project["from"].as_str().unwrap_or("?")),
            command: r.command.clone(),
            criteria: vec![],
            requirements: if t.project_test.is_some() { ungated } else { vec![] },
            exit_code: r.exit_code,
            passed: r.passed,
            tail: r.tail.clone(),
            commit: commit.clone(),
        });
    }
    // Each run is an evidence packet whose parent is the IR: lineage runs spec → IR →
    // evidence, and the step's entry cites them.
    // The design records this run wrote, as they were verified.
    let range = format!("{}..HEAD", t.integration.base);
    let designs = repo
        .git(&dir, &["diff", "--name-only", &range, "--", "docs/design"])
        .await
        .map(|o| o.stdout.lines().map(str::to_string).collect::<Vec<_>>())
        .unwrap_or_default();
    let designs: Vec<(String, String)> = designs
        .into_iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(&f)).ok().map(|text| (f, text)))
        .collect();
    let (eng, ev, ir, c) = (engine.clone(), evidence.clone(), t.ir_packet.clone(), ctx.clone());
    let run_id = ctx.run_id();
    let commit2 = commit.clone();
    let stored = ctx
        .step(
            "store evidence",
            Effect::Idempotent { key: "store evidence".into() },
            move || async move {
                let mut ids = Vec::new();
                for e in &ev {
                    let d = PacketDraft::new("evidence")
                        .text(format!(
                            "evidence {}: `{}` {} on {} ({})",
                            if e.requirements.is_empty() {
                                "-".to_string()
                            } else {
                                e.requirements.join(", ")
                            },
                            e.command,
                            if e.passed { "passed" } else { "failed" },
                            &e.commit[..e.commit.len().min(12)],
                            e.source
                        ))
                        .body(serde_json::to_value(e).map_err(|x| x.to_string())?)
                        .actor("l9-verify")
                        .run(run_id);
                    ids.push(store_under(&eng, &c, d, ir.as_deref()).await?);
                }
                // Design records join the project's memory with lineage to the IR.
                let mut records = Vec::new();
                for (path, text) in &designs {
                    let excerpt: String = text.chars().take(2000).collect();
                    let d = PacketDraft::new("design")
                        .text(format!("design record {path}:\n{excerpt}"))
                        .body(json!({"path": path, "commit": commit2, "text": text}))
                        .actor("l9-verify")
                        .run(run_id);
                    let id = store_under(&eng, &c, d, ir.as_deref()).await?;
                    records.push(json!({"path": path, "packet": id}));
                }
                Ok::<Value, String>(json!({"evidence": ids, "designs": records}))
            },
        )
        .await?;
    // (Runs recorded before design records were stored kept a plain list.)
    let ids = stored.get("evidence").unwrap_or(&stored);
    for (e, id) in evidence.iter_mut().zip(ids.as_array().into_iter().flatten()) {
        e.packet = id.as_str().map(str::to_string);
    }
    let mut requirements: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for m in &t.musts {
        let idx: Vec<usize> = evidence
            .iter()
            .enumerate()
            .filter(|(_, e)| e.requirements.contains(m))
            .map(|(i, _)| i)
            .collect();
        requirements.insert(m.clone(), idx);
    }
    let unproven: Vec<String> = requirements
        .iter()
        .filter(|(_, idx)| idx.is_empty() || idx.iter().any(|i| !evidence[*i].passed))
        .map(|(m, _)| m.clone())
        .collect();
    let failing_project = evidence
        .iter()
        .find(|e| e.source.starts_with("project") && !e.passed)
        .map(|e| e.command.clone());
    let mut verified = Verified {
        commit: commit.clone(),
        evidence,
        requirements,
        unproven,
        delivered: None,
        designs: stored["designs"].as_array().cloned().unwrap_or_default(),
        tests_not_run: project["not_run"].as_str().map(str::to_string),
    };
    if !verified.unproven.is_empty() || failing_project.is_some() {
        let mut why: Vec<String> = verified
            .unproven
            .iter()
            .map(|m| {
                let idx = &verified.requirements[m];
                match idx.iter().find(|i| !verified.evidence[**i].passed) {
                    Some(i) => format!("{m}: `{}` failed", verified.evidence[*i].command),
                    None => format!("{m}: no gate checks it"),
                }
            })
            .collect();
        if let Some(p) = failing_project {
            why.push(format!("the repository's tests (`{p}`) failed"));
        }
        let v = serde_json::to_value(&verified).map_err(failed)?;
        ctx.step("verdict", Effect::Pure, move || async move { Ok::<Value, String>(v) }).await?;
        let _ = repo
            .git(&repo.root, &["worktree", "remove", "--force", &dir.display().to_string()])
            .await;
        return Err(failed(format!(
            "not verified — {}; the result stays on branch {} (not merged into {})",
            why.join("; "),
            t.integration.branch,
            t.user_branch
        )));
    }
    // Verified: the user's branch gets the result (a fast-forward unless it moved).
    let (r, branch, user) = (repo.clone(), t.integration.branch.clone(), t.user_branch.clone());
    let delivered = ctx
        .step("deliver", Effect::Idempotent { key: "deliver".into() }, move || async move {
            let current = r.current_branch().await.map_err(|e| e.to_string())?;
            if current != user {
                return Err(format!(
                    "the checkout of {} is on {current}, not {user} (where the run started): the verified result is on branch {branch}; merge it yourself with `git merge {branch}`",
                    r.root.display()
                ));
            }
            let wt = l9_agents::git::Worktree { path: PathBuf::new(), branch: branch.clone(), base: String::new() };
            match r.merge(&wt).await {
                Ok(Merged::FastForward { commit }) => Ok(json!({"branch": user, "how": "fast-forward", "commit": commit})),
                Ok(Merged::MergeCommit { commit }) => Ok(json!({"branch": user, "how": "merge commit", "commit": commit})),
                Ok(Merged::NothingToMerge) => Ok(json!({"branch": user, "how": "nothing to merge"})),
                Err(e @ l9_agents::AgentError::MergeRefused { .. }) => Err(format!("{e}; `l9 retry RUN` delivers it then")),
                Err(e) => Err(format!("{e}; the verified result is on branch {branch}")),
            }
        })
        .await?;
    verified.delivered = Some(delivered);
    // The clean checkout has served (a crash before this point finds it still in place).
    let _ =
        repo.git(&repo.root, &["worktree", "remove", "--force", &dir.display().to_string()]).await;
    serde_json::to_value(&verified).map_err(failed)
}
