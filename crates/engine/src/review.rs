//! `l9.review`: a whole-change review. The reviewer reads the run's integrated diff (its
//! integration branch against where the run started) with the requirements the review task
//! covers, and approves or asks for a concrete change. A request becomes a new task: a
//! coder in the integration worktree makes it (every gate must still pass), and the
//! reviewer looks again; a second refusal fails the review with the reviewer's words. With
//! no reviewer configured (an external agent run alone) the review is skipped and says so.

use std::sync::Arc;

use l9_agents::git::Repo;
use l9_models::{ChatRequest, JsonOutput, Message};
use l9_tasks::{Ctx, Registry, WfError};
use l9_types::Effect;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::agent::{AgentEnv, CtxSteps, TaskBudget, WorktreeRef};
use crate::verify::{CoderRef, GateSpec};

/// Review rounds: the first look, and one more after a requested change.
const ROUNDS: usize = 2;

const SYSTEM: &str = "You review a whole change against the requirements it must meet. Answer JSON {\"verdict\": \"approve\"|\"changes\", \"comments\": \"…\"}. Ask for changes only for something concrete that is wrong or missing, and say exactly what to change.";

#[derive(Debug, Clone, Deserialize)]
struct ReviewTask {
    repo: String,
    integration: WorktreeRef,
    /// What the review covers: its title and the requirements' statements.
    task: String,
    gates: Vec<GateSpec>,
    #[serde(default)]
    coder: CoderRef,
    #[serde(default)]
    reviewer: Option<String>,
    #[serde(default)]
    plan_task: Option<String>,
    #[serde(default)]
    budget: TaskBudget,
}

fn failed(e: impl std::fmt::Display) -> WfError {
    WfError::failed(e.to_string())
}

/// Registers `l9.review`.
pub fn register(reg: &mut Registry, env: Arc<AgentEnv>) {
    reg.register("l9.review", move |ctx: Ctx, v: Value| {
        let env = env.clone();
        async move { review(env, ctx, v).await }
    });
}

fn schema() -> Value {
    json!({"type": "object", "properties": {"verdict": {"enum": ["approve", "changes"]}, "comments": {"type": "string"}}, "required": ["verdict"]})
}

async fn review(env: Arc<AgentEnv>, ctx: Ctx, v: Value) -> Result<Value, WfError> {
    let t: ReviewTask =
        serde_json::from_value(v).map_err(|e| failed(format!("l9.review: bad payload: {e}")))?;
    let reviewer = env
        .reviewer(t.reviewer.as_deref(), t.coder.provider.as_deref(), t.coder.script.as_deref())
        .map_err(failed)?;
    let Some(reviewer) = reviewer else {
        return Ok(json!({
            "skipped": "no reviewer is configured ([roles] reviewer): the gates alone judged this change",
            "rounds": [],
        }));
    };
    let repo = Repo::new(&env.root.join(&t.repo), env.runner.clone());
    let wt = t.integration.worktree();
    let steps = CtxSteps::new(&ctx, t.budget);
    let (mut spent_tokens, mut spent_usd) = (0u64, 0u64);
    let mut rounds = Vec::new();
    let mut fixes = Vec::new();
    for round in 1..=ROUNDS {
        let diff = repo
            .git(&wt.path, &["diff", &format!("{}..HEAD", wt.base)])
            .await
            .map_err(failed)?
            .stdout;
        // The diff a reviewer reads, at most (the rest is cut with a marker).
        let setting = &l9_types::limits::REVIEW_DIFF_BYTES;
        let cap = setting.get_usize();
        let diff = if diff.len() > cap {
            let cut = (0..=cap).rev().find(|i| diff.is_char_boundary(*i)).unwrap_or(0);
            format!(
                "{}\n[… {} more bytes of diff; {} keeps {cut}]",
                &diff[..cut],
                diff.len() - cut,
                setting.env
            )
        } else {
            diff
        };
        let mut req = ChatRequest::new(vec![
            Message::system(SYSTEM),
            Message::user(format!("Review: {}\n\nThe whole change:\n{diff}", t.task)),
        ]);
        req.role = Some("reviewer".into());
        let step = if round == 1 { "review".to_string() } else { format!("review {round}") };
        req.step = Some(step.clone());
        req.json = Some(JsonOutput { name: "review".into(), schema: schema() });
        l9_agents::ensure_budget(
            &steps,
            &step,
            (spent_tokens, spent_usd),
            (None, None),
            reviewer.forecast(&req),
        )
        .await
        .map_err(|e| steps.to_wf(e))?;
        let r = reviewer.clone();
        let answer = ctx
            .step(&step, Effect::Idempotent { key: step.clone() }, move || async move {
                let (v, resp) = l9_models::chat_json(r.as_ref(), &req).await.map_err(|e| e.to_string())?;
                Ok::<Value, String>(json!({"review": v, "usage": resp.usage, "cost_micro_usd": resp.cost_micro_usd}))
            })
            .await?;
        spent_tokens += answer["usage"]["input_tokens"].as_u64().unwrap_or(0)
            + answer["usage"]["output_tokens"].as_u64().unwrap_or(0);
        spent_usd += answer["cost_micro_usd"].as_u64().unwrap_or(0);
        let verdict = answer["review"]["verdict"].as_str().unwrap_or("changes").to_string();
        let comments = answer["review"]["comments"].as_str().unwrap_or("").trim().to_string();
        rounds.push(json!({"round": round, "verdict": verdict, "comments": comments}));
        if verdict == "approve" {
            return Ok(json!({
                "approved": true, "rounds": rounds, "fixes": fixes,
                "spend": {"tokens": spent_tokens, "micro_usd": spent_usd},
            }));
        }
        if round == ROUNDS {
            break;
        }
        // The request becomes a task: the coder makes the change in the integration
        // worktree, every gate passing.
        let gate = t.gates.iter().map(|g| g.command.clone()).collect::<Vec<_>>().join(" && ");
        let name = format!("{} (change requested)", t.plan_task.as_deref().unwrap_or("review"));
        let payload = json!({
            "plan_task": name, "plan_kind": "review",
            "task": format!("The reviewer of the whole change asks for this:\n\n{comments}\n\nMake exactly this change; every gate must still pass.\n\nContext: {}", t.task),
            "repo": t.repo, "gate": (!gate.is_empty()).then_some(gate),
            "provider": t.coder.provider, "adapter": t.coder.adapter, "script": t.coder.script,
            "executor": t.coder.executor, "workdir": t.integration,
            "budget": {
                "tokens": t.budget.tokens.map(|l| l.saturating_sub(spent_tokens)),
                "micro_usd": t.budget.micro_usd.map(|l| l.saturating_sub(spent_usd)),
            },
        });
        let child = ctx.spawn_child("l9.agent", payload).await?;
        let fixed = ctx.join(child).await?;
        spent_tokens += fixed["spend"]["tokens"].as_u64().unwrap_or(0);
        spent_usd += fixed["spend"]["micro_usd"].as_u64().unwrap_or(0);
        fixes.push(
            json!({"task": child.to_string(), "request": comments, "commit": fixed["commit"]}),
        );
    }
    let last = rounds.last().and_then(|r| r["comments"].as_str()).unwrap_or("").to_string();
    Err(failed(format!(
        "the reviewer still asks for changes after {} round(s): {last} (the work is on branch {})",
        rounds.len(),
        wt.branch
    )))
}
