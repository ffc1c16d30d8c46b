//! The collaborative cell: a coder and a reviewer. Each round the coder works (agent loop or
//! external adapter), the acceptance gate runs, and the reviewer sees the diff and the gate
//! output and approves or asks for changes. Done means the gate ran and passed *and* the
//! reviewer approved; a claim alone never completes a task. At most `rounds` rounds. With
//! no reviewer (an external agent run alone) the gate is the judge.

use l9_models::{ChatRequest, JsonOutput, Message, Provider};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::adapter::Adapter;
use crate::agent::{self, AgentConfig};
use crate::error::{AgentError, Result};
use crate::git::{Repo, Worktree};
use crate::steps::{AgentStep, Steps};
use crate::tools::Tools;

/// Who writes the code.
#[derive(Debug)]
pub enum Coder<'a> {
    Model(&'a dyn Provider, AgentConfig),
    External(&'a Adapter),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub verdict: String,
    #[serde(default)]
    pub comments: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub passed: bool,
    pub output: String,
    /// The gate command's exit code (`None`: killed, timed out, no gate, or recorded before
    /// codes were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    pub round: usize,
    pub coder_summary: String,
    pub gate: Gate,
    pub review: Review,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellOutcome {
    pub done: bool,
    pub rounds: Vec<Round>,
    /// Tokens and money the coder's and reviewer's model calls used.
    pub usage: l9_models::Usage,
    pub cost_micro_usd: u64,
    /// Some of the work's cost is not known (an external agent that does not report it):
    /// `cost_micro_usd` is then only what is known, and must not be shown as the cost.
    #[serde(default)]
    pub cost_unknown: bool,
}

impl CellOutcome {
    pub fn first_gate_failed(&self) -> bool {
        self.rounds.first().is_some_and(|r| !r.gate.passed)
    }
}

/// A short hash of what the cell sends besides the task: the coder's system prompt, the tool
/// specs, the reviewer's instructions and schema.
fn template_hash(coder: &Coder<'_>, tools: &Tools) -> String {
    let coder_system = match coder {
        Coder::Model(_, cfg) => cfg.system.clone(),
        Coder::External(a) => format!("{}\n{EXTERNAL_PROMPT}", a.command.join(" ")),
    };
    let v = json!({"coder": coder_system, "tools": tools.specs(), "reviewer": REVIEWER_SYSTEM, "schema": review_schema()});
    l9_types::ContentHash::of_bytes(v.to_string().as_bytes()).to_hex()[..12].to_string()
}

/// What an external agent is told besides the task, before the gate command.
const EXTERNAL_PROMPT: &str = "Work in the current directory (a git worktree of the project). Do not commit. The task is done when this acceptance gate, run from this directory, exits 0:";

/// The review when no reviewer is configured: the gate decides.
fn gate_verdict(gate: &Gate) -> Review {
    Review {
        verdict: if gate.passed { "approve" } else { "changes" }.into(),
        comments: "no reviewer is configured: the acceptance gate decides".into(),
    }
}

const REVIEWER_SYSTEM: &str = "You review a change. Answer JSON {\"verdict\": \"approve\"|\"changes\", \"comments\": \"…\"}. Approve only if the gate passed and the diff does what the task asks.";

fn review_schema() -> serde_json::Value {
    json!({"type": "object", "properties": {"verdict": {"enum": ["approve", "changes"]}, "comments": {"type": "string"}}, "required": ["verdict"]})
}

#[allow(clippy::too_many_arguments)] // the cell's collaborators, each named at the call site
pub async fn run(
    coder: &Coder<'_>,
    reviewer: Option<&dyn Provider>,
    tools: &Tools,
    steps: &dyn Steps,
    repo: &Repo,
    wt: &Worktree,
    task: &str,
    rounds: usize,
) -> Result<CellOutcome> {
    let mut out = CellOutcome {
        done: false,
        rounds: Vec::new(),
        usage: l9_models::Usage::default(),
        cost_micro_usd: 0,
        cost_unknown: false,
    };
    // The prompt templates this code uses, journaled: a replay (or resume) under changed
    // templates is a different program and says so instead of mixing two of them.
    let template = template_hash(coder, tools);
    let expected = template.clone();
    let recorded = steps
        .step(
            &AgentStep::Templates.name(),
            l9_types::Effect::Pure,
            Box::pin(async move { Ok(json!(expected)) }),
        )
        .await?;
    if recorded != json!(template) {
        return Err(AgentError::Journal(format!(
            "the prompt templates changed since this run was recorded (recorded {}, now {template}): the run diverges here",
            recorded.as_str().unwrap_or("?")
        )));
    }
    // The task's budget (the coder's `max_tokens`/`max_cost_micro_usd`, and the journaling
    // seam's allowance) covers every round's coder and reviewer calls; each call is checked
    // against what is left before it is made.
    let limits = match coder {
        Coder::Model(_, cfg) => (cfg.max_tokens, cfg.max_cost_micro_usd),
        Coder::External(_) => (None, None),
    };
    let spent = |o: &CellOutcome| (o.usage.input_tokens + o.usage.output_tokens, o.cost_micro_usd);
    let mut feedback: Option<String> = None;
    let mut messages = vec![Message::user(format!("Task: {task}"))];
    // Set when the external agent ran out of time in this round: the round failed.
    let mut timed_out: Option<String>;
    for round in 1..=rounds.max(1) {
        if let Some(f) = feedback.take() {
            messages.push(Message::user(f));
        }
        let summary = match coder {
            Coder::Model(p, cfg) => {
                timed_out = None;
                let mut cfg = cfg.clone();
                cfg.spent_before = spent(&out);
                let run = agent::run(*p, tools, steps, &cfg, round, messages.clone()).await?;
                messages = run.messages;
                out.usage.input_tokens += run.usage.input_tokens;
                out.usage.output_tokens += run.usage.output_tokens;
                out.cost_micro_usd += run.cost_micro_usd;
                run.summary
            }
            Coder::External(adapter) => {
                let prompt = messages
                    .iter()
                    .filter(|m| m.role == l9_models::Role::User)
                    .map(|m| m.content.as_str())
                    .collect::<Vec<_>>()
                    .join("\n\n");
                // The worktree is saved before the agent runs, and the run starts from that
                // state: a run cut short (a kill, a crash) is simply run again on resume,
                // after its partial changes are undone.
                let snap = AgentStep::Snapshot { round }.name();
                let tree = steps
                    .step(
                        &snap,
                        l9_types::Effect::Idempotent { key: snap.clone() },
                        Box::pin(async move {
                            repo.snapshot(wt).await.map(|t| json!(t)).map_err(|e| e.to_string())
                        }),
                    )
                    .await?;
                let tree = tree.as_str().unwrap_or_default().to_string();
                let name = AgentStep::Adapter { round, agent: adapter.name.clone() }.name();
                let prompt = format!(
                    "{prompt}\n\n{EXTERNAL_PROMPT}\n    {}",
                    tools.gate.as_deref().unwrap_or("(none: say so and stop)")
                );
                let v = steps
                    .step(
                        &name,
                        l9_types::Effect::Idempotent { key: name.clone() },
                        Box::pin(async move {
                            repo.restore(wt, &tree).await.map_err(|e| e.to_string())?;
                            let r =
                                adapter.run(&wt.path, &prompt).await.map_err(|e| e.to_string())?;
                            if tools.track {
                                crate::provenance::note_since(
                                    repo.runner(),
                                    &wt.path,
                                    crate::provenance::Source::Agent,
                                    Some(&tree),
                                )
                                .await;
                            }
                            Ok(json!({
                                "output": r.output.combined(),
                                "summary": r.summary,
                                "timed_out": r.output.timed_out,
                                "timeout_s": adapter.timeout.as_secs(),
                                "exit_code": r.output.code,
                                "cost_micro_usd": r.cost_micro_usd,
                                "tokens": r.tokens,
                            }))
                        }),
                    )
                    .await?;
                // Journals of older versions kept the output alone.
                let output = v["output"].as_str().or(v.as_str()).unwrap_or("").to_string();
                match v["cost_micro_usd"].as_u64() {
                    Some(c) => out.cost_micro_usd += c,
                    None => out.cost_unknown = true,
                }
                if let Some(t) = v["tokens"].as_u64() {
                    out.usage.output_tokens += t;
                }
                timed_out = (v["timed_out"] == json!(true)).then(|| {
                    format!(
                        "the agent {} timed out after {}s (the limit: [agents.{}] timeout_s); the gate was not run. Its output ended:\n{}",
                        adapter.name,
                        v["timeout_s"].as_u64().unwrap_or(0),
                        adapter.name,
                        tail_lines(&output, 20)
                    )
                });
                v["summary"].as_str().map_or(output, str::to_string)
            }
        };
        let gate_step = AgentStep::Gate { round }.name();
        let v = steps
            .step(
                &gate_step,
                l9_types::Effect::Idempotent { key: gate_step.clone() },
                Box::pin(async move {
                    if let Some(why) = timed_out {
                        let g = Gate { passed: false, output: why, exit_code: None };
                        return serde_json::to_value(g).map_err(|e| e.to_string());
                    }
                    let g = match tools.gate().await {
                        Some(o) => {
                            let (passed, output) = tools.judge(&o);
                            Gate { passed, output, exit_code: o.code }
                        }
                        None => Gate {
                            passed: false,
                            output: "no acceptance gate is configured: the task cannot be verified"
                                .into(),
                            exit_code: None,
                        },
                    };
                    tracing::info!(passed = g.passed, exit_code = ?g.exit_code, "gate");
                    serde_json::to_value(g).map_err(|e| e.to_string())
                }),
            )
            .await?;
        let gate: Gate =
            serde_json::from_value(v).map_err(|e| AgentError::Journal(e.to_string()))?;
        let review = match reviewer {
            Some(reviewer) => {
                let (review, usage, cost) = review_round(
                    reviewer,
                    steps,
                    repo,
                    wt,
                    task,
                    &gate,
                    round,
                    spent(&out),
                    limits,
                )
                .await?;
                out.usage.input_tokens += usage.input_tokens;
                out.usage.output_tokens += usage.output_tokens;
                out.cost_micro_usd += cost;
                review
            }
            None => gate_verdict(&gate),
        };
        let approved = review.verdict == "approve";
        out.rounds.push(Round {
            round,
            coder_summary: summary,
            gate: gate.clone(),
            review: review.clone(),
        });
        if gate.passed && approved {
            out.done = true;
            return Ok(out);
        }
        feedback = Some(format!(
            "Review: {}\n\nThe acceptance gate {}:\n{}",
            if review.comments.is_empty() {
                review.verdict.clone()
            } else {
                review.comments.clone()
            },
            if gate.passed { "passed" } else { "FAILED" },
            gate.output
        ));
    }
    Ok(out)
}

/// The last `n` lines of `text`.
fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The reviewer's turn of a round: the diff and the gate's result in, a verdict out
/// (journaled; checked against the budget before the call is made).
#[allow(clippy::too_many_arguments)]
async fn review_round(
    reviewer: &dyn Provider,
    steps: &dyn Steps,
    repo: &Repo,
    wt: &Worktree,
    task: &str,
    gate: &Gate,
    round: usize,
    spent: (u64, u64),
    limits: (Option<u64>, Option<u64>),
) -> Result<(Review, l9_models::Usage, u64)> {
    let diff = repo.diff(wt).await?;
    let mut req = ChatRequest::new(vec![
        Message::system(REVIEWER_SYSTEM),
        Message::user(format!(
            "Task: {task}\n\nGate {}:\n{}\n\nDiff:\n{diff}",
            if gate.passed { "passed" } else { "FAILED" },
            gate.output
        )),
    ]);
    req.role = Some("reviewer".into());
    let review_step = AgentStep::Review { round }.name();
    req.step = Some(review_step.clone());
    req.json = Some(JsonOutput { name: "review".into(), schema: review_schema() });
    crate::ensure_budget(steps, &review_step, spent, limits, reviewer.forecast(&req)).await?;
    let v = steps
        .step(
            &review_step,
            l9_types::Effect::Idempotent { key: review_step.clone() },
            Box::pin(async move {
                let (v, resp) =
                    l9_models::chat_json(reviewer, &req).await.map_err(|e| e.to_string())?;
                Ok(json!({"review": v, "usage": resp.usage, "cost_micro_usd": resp.cost_micro_usd}))
            }),
        )
        .await?;
    let review: Review = serde_json::from_value(v["review"].clone())
        .map_err(|e| AgentError::Journal(e.to_string()))?;
    let usage = serde_json::from_value::<l9_models::Usage>(v["usage"].clone()).unwrap_or_default();
    Ok((review, usage, v["cost_micro_usd"].as_u64().unwrap_or(0)))
}
