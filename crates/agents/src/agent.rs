//! The agent loop: model ↔ tools until the model answers without a tool call, with a step
//! limit, loop detection (the same call with the same arguments again and again while
//! nothing changes) and a budget of tokens and money. Every model call and tool call is a
//! step of [`Steps`] under a deterministic name, so a durable run resumes without repeating
//! a finished call.

use l9_models::{ChatRequest, ChatResponse, Message, Provider, Usage};
use serde_json::Value;

use crate::error::{AgentError, Result};
use crate::steps::{AgentStep, Steps};
use crate::tools::{ToolOutput, Tools};

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Who is asking (coder, reviewer…): providers and scripts see it.
    pub role: String,
    pub system: String,
    pub max_steps: usize,
    /// The same call (name + arguments) this many times in a row without a change stops it.
    pub repeat_limit: usize,
    /// Limits on the task's total spend (what was spent before this loop, `spent_before`,
    /// included); the journaling seam may set a tighter allowance.
    pub max_tokens: Option<u64>,
    pub max_cost_micro_usd: Option<u64>,
    /// What the task spent before this loop (earlier rounds and reviews): tokens, µ$.
    pub spent_before: (u64, u64),
}

impl AgentConfig {
    pub fn coder() -> Self {
        AgentConfig {
            role: "coder".into(),
            system: "You are a careful software engineer working in a git worktree. Use the tools to read and change files. \
                     When the task is done, run run_tests, then answer with a short summary and no tool call."
                .into(),
            max_steps: 30,
            repeat_limit: 3,
            max_tokens: None,
            max_cost_micro_usd: None,
            spent_before: (0, 0),
        }
    }
}

/// One executed tool call, for logs and lineage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolRecord {
    pub step: String,
    pub name: String,
    pub arguments: Value,
    pub output: ToolOutput,
}

#[derive(Debug, Clone, Default)]
pub struct AgentRun {
    pub messages: Vec<Message>,
    pub model_calls: usize,
    pub usage: Usage,
    pub cost_micro_usd: u64,
    /// The model's last answer (its claim; the gate decides).
    pub summary: String,
    pub tools: Vec<ToolRecord>,
}

/// Runs the loop as the coder's `round` (its steps are named by [`AgentStep`]).
pub async fn run(
    provider: &dyn Provider,
    tools: &Tools,
    steps: &dyn Steps,
    cfg: &AgentConfig,
    round: usize,
    mut messages: Vec<Message>,
) -> Result<AgentRun> {
    if !messages.iter().any(|m| m.role == l9_models::Role::System) {
        messages.insert(0, Message::system(cfg.system.clone()));
    }
    let mut out = AgentRun::default();
    let mut last_call: Option<(String, usize)> = None;
    for i in 1..=cfg.max_steps {
        let mut req = ChatRequest::new(messages.clone());
        req.tools = tools.specs();
        req.role = Some(cfg.role.clone());
        let name = AgentStep::Model { round, turn: i }.name();
        req.step = Some(name.clone());
        // Budgets are checked before the call, against its forecast, so no call can cross
        // them (a recorded call replays the same check with the same answer).
        let spent = (
            cfg.spent_before.0 + out.usage.input_tokens + out.usage.output_tokens,
            cfg.spent_before.1 + out.cost_micro_usd,
        );
        crate::ensure_budget(
            steps,
            &name,
            spent,
            (cfg.max_tokens, cfg.max_cost_micro_usd),
            provider.forecast(&req),
        )
        .await?;
        let v = steps
            .step(
                &name,
                l9_types::Effect::Idempotent { key: name.clone() },
                Box::pin(async move {
                    let r = provider.chat(&req).await.map_err(|e| e.to_string())?;
                    tracing::info!(
                        provider = %r.provider,
                        model = %r.model,
                        input_tokens = r.usage.input_tokens,
                        output_tokens = r.usage.output_tokens,
                        cost_micro_usd = r.cost_micro_usd,
                        tool_calls = r.tool_calls.len(),
                        "model call"
                    );
                    serde_json::to_value(r).map_err(|e| e.to_string())
                }),
            )
            .await?;
        let resp: ChatResponse = serde_json::from_value(v).map_err(|e| {
            AgentError::Journal(format!("a recorded model answer does not parse: {e}"))
        })?;
        out.model_calls += 1;
        out.usage.input_tokens += resp.usage.input_tokens;
        out.usage.output_tokens += resp.usage.output_tokens;
        out.cost_micro_usd += resp.cost_micro_usd;
        messages.push(Message::assistant(resp.content.clone(), resp.tool_calls.clone()));
        if resp.tool_calls.is_empty() {
            out.summary = resp.content;
            out.messages = messages;
            return Ok(out);
        }
        for (k, call) in resp.tool_calls.iter().enumerate() {
            let signature = format!("{}:{}", call.name, call.arguments);
            let count = match &last_call {
                Some((s, n)) if *s == signature => n + 1,
                _ => 1,
            };
            if count >= cfg.repeat_limit.max(2) {
                out.messages = messages;
                return Err(AgentError::Stopped(format!(
                    "loop: `{}` called {count} times in a row with the same arguments and nothing changed",
                    call.name
                )));
            }
            let tool_step = AgentStep::Tool { round, turn: i, k, tool: call.name.clone() }.name();
            let effect = tools.effect(&call.name, &call.arguments);
            let (tname, targs) = (call.name.clone(), call.arguments.clone());
            let v = steps
                .step(
                    &tool_step,
                    effect,
                    Box::pin(async move {
                        let o = tools.call(&tname, &targs).await;
                        tracing::info!(tool = %tname, ok = o.ok, changed = o.changed, "tool call");
                        serde_json::to_value(o).map_err(|e| e.to_string())
                    }),
                )
                .await?;
            let output: ToolOutput = serde_json::from_value(v).map_err(|e| {
                AgentError::Journal(format!("a recorded tool result does not parse: {e}"))
            })?;
            last_call = if output.changed { None } else { Some((signature, count)) };
            let text =
                if output.ok { output.text.clone() } else { format!("ERROR: {}", output.text) };
            messages.push(Message::tool(call.id.clone(), text));
            out.tools.push(ToolRecord {
                step: tool_step,
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                output,
            });
        }
    }
    out.messages = messages;
    Err(AgentError::Stopped(format!("step limit: {} model calls without finishing", cfg.max_steps)))
}
