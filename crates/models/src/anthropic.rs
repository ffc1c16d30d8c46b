//! Anthropic messages (`POST {base}/v1/messages`): system prompt apart, tool use as content
//! blocks, tool results as `tool_result` blocks in a user turn, streaming events
//! (`message_start`, `content_block_*` with `text_delta` and `input_json_delta`,
//! `message_delta`, `message_stop`). JSON output is asked for in the system prompt and
//! validated here.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::error::Result;
use crate::http::{Http, HttpConfig, snippet};
use crate::openai::parse_arguments;
use crate::provider::{Provider, Sleeper};
use crate::types::{ChatRequest, ChatResponse, Role, StreamEvent, ToolCall, Usage};

pub const API_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone)]
pub struct AnthropicProvider {
    http: Http,
}

impl AnthropicProvider {
    pub fn new(cfg: HttpConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(AnthropicProvider { http: Http::new(cfg, env, None)? })
    }

    pub fn with_sleeper(
        cfg: HttpConfig,
        env: &dyn Fn(&str) -> Option<String>,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<Self> {
        Ok(AnthropicProvider { http: Http::new(cfg, env, Some(sleeper))? })
    }

    fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let mut system: Vec<String> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.clone())
            .collect();
        if let Some(j) = &req.json {
            system.push(format!(
                "Answer with one JSON value only, no prose, matching this JSON Schema ({}):\n{}",
                j.name, j.schema
            ));
        }
        let mut messages: Vec<Value> = Vec::new();
        for m in req.messages.iter().filter(|m| m.role != Role::System) {
            match m.role {
                Role::User => messages.push(json!({"role": "user", "content": m.content})),
                Role::Assistant => {
                    let mut blocks = Vec::new();
                    if !m.content.is_empty() {
                        blocks.push(json!({"type": "text", "text": m.content}));
                    }
                    for c in &m.tool_calls {
                        blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}));
                    }
                    messages.push(json!({"role": "assistant", "content": blocks}));
                }
                Role::Tool => {
                    let block = json!({"type": "tool_result", "tool_use_id": m.tool_call_id.clone().unwrap_or_default(), "content": m.content});
                    // Consecutive tool results share one user turn.
                    match messages.last_mut() {
                        Some(last) if last["role"] == "user" && last["content"].is_array() => {
                            if let Some(a) = last["content"].as_array_mut() {
                                a.push(block);
                            }
                        }
                        _ => messages.push(json!({"role": "user", "content": [block]})),
                    }
                }
                Role::System => {}
            }
        }
        let mut body = json!({
            "model": self.http.cfg.model,
            "max_tokens": req.max_tokens.unwrap_or(self.http.cfg.max_tokens),
            "messages": messages,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if !req.tools.is_empty() {
            body["tools"] = Value::Array(req.tools.iter().map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters})).collect());
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if stream {
            body["stream"] = json!(true);
        }
        body
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![("anthropic-version", API_VERSION.to_string())];
        if let Some(k) = &self.http.key {
            h.push(("x-api-key", k.clone()));
        }
        h
    }

    fn finish(
        &self,
        content: String,
        tool_calls: Vec<ToolCall>,
        usage: Usage,
        model: String,
        stop: String,
    ) -> ChatResponse {
        let finish = match stop.as_str() {
            "tool_use" => "tool_calls".to_string(),
            "" => "stop".to_string(),
            _ => stop,
        };
        self.http.response(content, tool_calls, usage, model, finish)
    }
}

#[derive(Debug, Default)]
struct Block {
    kind: String,
    text: String,
    id: String,
    name: String,
    json: String,
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.http.cfg.name
    }

    fn forecast(&self, req: &ChatRequest) -> crate::types::Forecast {
        crate::types::Forecast::of(req, self.http.cfg.max_tokens, self.http.cfg.prices)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse> {
        let resp = self.http.post("/v1/messages", &self.body(req, false), &self.headers()).await?;
        let v = self.http.json(resp).await?;
        let Some(blocks) = v["content"].as_array() else {
            return Err(self.http.protocol(format!(
                "the answer has no content blocks: {}",
                snippet(v.to_string())
            )));
        };
        let mut content = String::new();
        let mut calls = Vec::new();
        for b in blocks {
            match b["type"].as_str() {
                Some("text") => content.push_str(b["text"].as_str().unwrap_or("")),
                Some("tool_use") => calls.push(ToolCall {
                    id: b["id"].as_str().unwrap_or("").into(),
                    name: b["name"].as_str().unwrap_or("").into(),
                    arguments: b.get("input").cloned().unwrap_or_else(|| json!({})),
                }),
                _ => {}
            }
        }
        let usage = Usage {
            input_tokens: v.pointer("/usage/input_tokens").and_then(Value::as_u64).unwrap_or(0),
            output_tokens: v.pointer("/usage/output_tokens").and_then(Value::as_u64).unwrap_or(0),
        };
        let model = v["model"].as_str().unwrap_or("").to_string();
        let stop = v["stop_reason"].as_str().unwrap_or("").to_string();
        Ok(self.finish(content, calls, usage, model, stop))
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        on: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ChatResponse> {
        let resp = self.http.post("/v1/messages", &self.body(req, true), &self.headers()).await?;
        let mut blocks: BTreeMap<usize, Block> = BTreeMap::new();
        let mut usage = Usage::default();
        let mut model = String::new();
        let mut stop = String::new();
        let http = &self.http;
        let done = self
            .http
            .sse(resp, &mut |event, data| {
                let v: Value = serde_json::from_str(data).map_err(|e| {
                    http.protocol(format!(
                        "a stream event is not JSON ({e}): {}",
                        snippet(data.to_string())
                    ))
                })?;
                let kind = if event.is_empty() { v["type"].as_str().unwrap_or("") } else { event };
                let index = v["index"].as_u64().and_then(|i| usize::try_from(i).ok()).unwrap_or(0);
                match kind {
                    "message_start" => {
                        model = v
                            .pointer("/message/model")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        usage.input_tokens = v
                            .pointer("/message/usage/input_tokens")
                            .and_then(Value::as_u64)
                            .unwrap_or(0);
                    }
                    "content_block_start" => {
                        let b = &v["content_block"];
                        let block = Block {
                            kind: b["type"].as_str().unwrap_or("").into(),
                            text: b["text"].as_str().unwrap_or("").into(),
                            id: b["id"].as_str().unwrap_or("").into(),
                            name: b["name"].as_str().unwrap_or("").into(),
                            json: String::new(),
                        };
                        if block.kind == "tool_use" {
                            on(StreamEvent::ToolCallDelta {
                                index,
                                id: Some(block.id.clone()),
                                name: Some(block.name.clone()),
                                arguments: String::new(),
                            });
                        }
                        blocks.insert(index, block);
                    }
                    "content_block_delta" => {
                        let d = &v["delta"];
                        let block = blocks.entry(index).or_default();
                        match d["type"].as_str() {
                            Some("text_delta") => {
                                let t = d["text"].as_str().unwrap_or("");
                                block.text.push_str(t);
                                on(StreamEvent::Text(t.to_string()));
                            }
                            Some("input_json_delta") => {
                                let p = d["partial_json"].as_str().unwrap_or("");
                                block.json.push_str(p);
                                on(StreamEvent::ToolCallDelta {
                                    index,
                                    id: None,
                                    name: None,
                                    arguments: p.to_string(),
                                });
                            }
                            _ => {}
                        }
                    }
                    "message_delta" => {
                        if let Some(s) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                            stop = s.to_string();
                        }
                        if let Some(o) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                            usage.output_tokens = o;
                        }
                    }
                    "message_stop" => return Ok(false),
                    "error" => {
                        return Err(http.protocol(format!(
                            "the stream reported an error: {}",
                            snippet(v["error"].to_string())
                        )));
                    }
                    _ => {}
                }
                Ok(true)
            })
            .await?;
        if !done {
            return Err(self.http.protocol(
                "the stream ended before message_stop: the answer is incomplete".into(),
            ));
        }
        let mut content = String::new();
        let mut calls = Vec::new();
        for b in blocks.into_values() {
            match b.kind.as_str() {
                "text" => content.push_str(&b.text),
                "tool_use" => calls.push(ToolCall {
                    id: b.id,
                    name: b.name,
                    arguments: parse_arguments(&b.json),
                }),
                _ => {}
            }
        }
        Ok(self.finish(content, calls, usage, model, stop))
    }
}
