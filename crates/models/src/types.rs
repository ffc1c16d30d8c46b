//! The chat vocabulary every provider speaks: messages, tools, tool calls, requests,
//! responses with usage and cost, stream events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One tool invocation the model asked for. `arguments` is the parsed JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `Role::Tool`: the call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn system(text: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message { role: Role::Assistant, content: text.into(), tool_calls, tool_call_id: None }
    }

    pub fn tool(call_id: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

/// A tool the model may call: name, description, JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// Ask for a JSON answer matching `schema` (sent as `response_format` where the provider
/// supports it; always validated here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonOutput {
    pub name: String,
    pub schema: Value,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Who is asking (coder, reviewer, critic…): scripted rules match on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The journaled step this call belongs to: scripted rules match on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

impl ChatRequest {
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest { messages, ..ChatRequest::default() }
    }

    /// The text of the last user (or tool) message: what rules and logs call "the prompt".
    pub fn prompt(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| matches!(m.role, Role::User | Role::Tool))
            .map_or("", |m| m.content.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    /// Cost of this call in millionths of a dollar, from the configured prices.
    pub cost_micro_usd: u64,
    pub model: String,
    pub provider: String,
    /// `stop`, `tool_calls`, `length`, …
    pub finish_reason: String,
}

/// What a streaming call reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Text(String),
    /// A piece of a tool call: `index` orders calls; `id` and `name` arrive once.
    ToolCallDelta {
        index: usize,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
}

/// Prices per million tokens, in millionths of a dollar (so $2.50/Mtok = 2_500_000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Prices {
    pub input_per_mtok: u64,
    pub output_per_mtok: u64,
}

/// What a call may cost at most (see [`crate::Provider::forecast`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    pub tokens: u64,
    pub micro_usd: u64,
}

impl Forecast {
    /// `req`'s input estimated from its text plus `max_output` (or `req.max_tokens`), priced.
    pub fn of(req: &ChatRequest, max_output: u32, prices: Prices) -> Forecast {
        let chars: usize = req.messages.iter().map(|m| m.content.chars().count()).sum::<usize>()
            + req
                .tools
                .iter()
                .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
                .sum::<usize>()
            + req.json.as_ref().map_or(0, |j| j.schema.to_string().len());
        // A token per 3 characters: conservative for code and prose alike.
        let input = (chars as u64).div_ceil(3);
        let output = u64::from(req.max_tokens.unwrap_or(max_output));
        let usage = Usage { input_tokens: input, output_tokens: output };
        Forecast { tokens: input + output, micro_usd: prices.cost(usage) }
    }
}

impl Prices {
    pub fn cost(&self, usage: Usage) -> u64 {
        let cost = u128::from(usage.input_tokens) * u128::from(self.input_per_mtok)
            + u128::from(usage.output_tokens) * u128::from(self.output_per_mtok);
        u64::try_from(cost.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }
}
