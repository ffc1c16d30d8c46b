//! OpenAI-compatible chat completions (`POST {base}/v1/chat/completions`): OpenAI, Ollama,
//! vLLM, LM Studio, llama.cpp's server. Tools, streaming with tool-call deltas assembled by
//! index, `response_format: json_schema` where configured, usage from the final chunk.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::error::Result;
use crate::http::{Http, HttpConfig};
use crate::provider::{Provider, Sleeper};
use crate::types::{ChatRequest, ChatResponse, Message, Role, StreamEvent, ToolCall, Usage};

#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    http: Http,
}

impl OpenAiProvider {
    /// Checks the configuration (key present, URL well-formed) without calling out.
    pub fn new(cfg: HttpConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(OpenAiProvider { http: Http::new(cfg, env, None)? })
    }

    /// With a sleeping seam (tests record the waits instead of sleeping).
    pub fn with_sleeper(
        cfg: HttpConfig,
        env: &dyn Fn(&str) -> Option<String>,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<Self> {
        Ok(OpenAiProvider { http: Http::new(cfg, env, Some(sleeper))? })
    }

    fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let messages: Vec<Value> = req.messages.iter().map(wire_message).collect();
        let mut body = json!({ "model": self.http.cfg.model, "messages": messages });
        if !req.tools.is_empty() {
            body["tools"] = Value::Array(
                req.tools
                    .iter()
                    .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
                    .collect(),
            );
        }
        if let Some(j) = &req.json
            && self.http.cfg.json_schema
        {
            body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": j.name, "schema": j.schema, "strict": true}});
        }
        if let Some(m) = req.max_tokens {
            body["max_tokens"] = json!(m);
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        self.http
            .key
            .as_ref()
            .map(|k| vec![("authorization", format!("Bearer {k}"))])
            .unwrap_or_default()
    }

    fn finish(
        &self,
        content: String,
        tool_calls: Vec<ToolCall>,
        usage: Usage,
        model: String,
        finish: String,
    ) -> ChatResponse {
        self.http.response(content, tool_calls, usage, model, finish)
    }
}

fn wire_message(m: &Message) -> Value {
    match m.role {
        Role::Tool => {
            json!({"role": "tool", "tool_call_id": m.tool_call_id.clone().unwrap_or_default(), "content": m.content})
        }
        Role::Assistant if !m.tool_calls.is_empty() => json!({
            "role": "assistant",
            "content": if m.content.is_empty() { Value::Null } else { Value::String(m.content.clone()) },
            "tool_calls": m.tool_calls.iter().map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}})).collect::<Vec<_>>(),
        }),
        role => json!({"role": role_name(role), "content": m.content}),
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// Tool-call arguments arrive as a JSON string; an unparsable one is kept as a string so
/// the agent can tell the model what was wrong.
pub(crate) fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

fn usage_of(v: &Value) -> Usage {
    Usage {
        input_tokens: v.pointer("/usage/prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        output_tokens: v.pointer("/usage/completion_tokens").and_then(Value::as_u64).unwrap_or(0),
    }
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.http.cfg.name
    }

    fn forecast(&self, req: &ChatRequest) -> crate::types::Forecast {
        crate::types::Forecast::of(req, self.http.cfg.max_tokens, self.http.cfg.prices)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse> {
        let resp =
            self.http.post("/v1/chat/completions", &self.body(req, false), &self.headers()).await?;
        let v = self.http.json(resp).await?;
        let choice = v.pointer("/choices/0").ok_or_else(|| {
            self.http.protocol(format!(
                "the answer has no choices: {}",
                crate::http::snippet(v.to_string())
            ))
        })?;
        let msg = &choice["message"];
        let content = msg["content"].as_str().unwrap_or("").to_string();
        let tool_calls = msg["tool_calls"]
            .as_array()
            .map(|calls| {
                calls
                    .iter()
                    .map(|c| ToolCall {
                        id: c["id"].as_str().unwrap_or("").to_string(),
                        name: c
                            .pointer("/function/name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        arguments: parse_arguments(
                            c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or(""),
                        ),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let finish = choice["finish_reason"].as_str().unwrap_or("stop").to_string();
        let model = v["model"].as_str().unwrap_or("").to_string();
        Ok(self.finish(content, tool_calls, usage_of(&v), model, finish))
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        on: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ChatResponse> {
        let resp =
            self.http.post("/v1/chat/completions", &self.body(req, true), &self.headers()).await?;
        let mut content = String::new();
        let mut calls: BTreeMap<usize, PartialCall> = BTreeMap::new();
        let mut usage = Usage::default();
        let mut finish = String::new();
        let mut model = String::new();
        let http = &self.http;
        let done = self
            .http
            .sse(resp, &mut |_, data| {
                if data.trim() == "[DONE]" {
                    return Ok(false);
                }
                let v: Value = serde_json::from_str(data).map_err(|e| {
                    http.protocol(format!(
                        "a stream chunk is not JSON ({e}): {}",
                        crate::http::snippet(data.to_string())
                    ))
                })?;
                if v.get("usage").is_some_and(|u| !u.is_null()) {
                    usage = usage_of(&v);
                }
                if let Some(m) = v["model"].as_str() {
                    model = m.to_string();
                }
                let Some(choice) = v.pointer("/choices/0") else { return Ok(true) };
                if let Some(f) = choice["finish_reason"].as_str() {
                    finish = f.to_string();
                }
                let delta = &choice["delta"];
                if let Some(t) = delta["content"].as_str()
                    && !t.is_empty()
                {
                    content.push_str(t);
                    on(StreamEvent::Text(t.to_string()));
                }
                for tc in delta["tool_calls"].as_array().into_iter().flatten() {
                    let index =
                        tc["index"].as_u64().and_then(|i| usize::try_from(i).ok()).unwrap_or(0);
                    let entry = calls.entry(index).or_default();
                    let id = tc["id"].as_str().map(str::to_string);
                    let name =
                        tc.pointer("/function/name").and_then(Value::as_str).map(str::to_string);
                    let args = tc
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    if let Some(id) = &id {
                        entry.id = id.clone();
                    }
                    if let Some(n) = &name {
                        entry.name.push_str(n);
                    }
                    entry.arguments.push_str(&args);
                    on(StreamEvent::ToolCallDelta { index, id, name, arguments: args });
                }
                Ok(true)
            })
            .await?;
        if !done {
            return Err(self
                .http
                .protocol("the stream ended before [DONE]: the answer is incomplete".into()));
        }
        let tool_calls = calls
            .into_values()
            .map(|c| ToolCall { id: c.id, name: c.name, arguments: parse_arguments(&c.arguments) })
            .collect();
        Ok(self.finish(
            content,
            tool_calls,
            usage,
            model,
            if finish.is_empty() { "stop".into() } else { finish },
        ))
    }
}
