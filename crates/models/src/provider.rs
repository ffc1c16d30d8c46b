//! The `Provider` trait, the sleeping seam retries use, and JSON answers validated against
//! the requested schema.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::{ModelError, Result};
use crate::types::{ChatRequest, ChatResponse, StreamEvent};

/// A chat model. `chat_stream` reports deltas as they arrive and returns the assembled
/// answer; providers without streaming report the whole answer as one delta.
#[async_trait]
pub trait Provider: Send + Sync + Debug {
    /// The configured name (`providers.NAME`).
    fn name(&self) -> &str;

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse>;

    /// The most `req` can cost, before it is sent: its input as estimated from its text
    /// (a token per 4 characters, tool specs and schema included) plus the output cap
    /// (`req.max_tokens`, else the provider's), at the provider's prices. Budgets are checked
    /// against it, so a call that could cross a limit is not made. Providers without prices
    /// forecast their tokens and no cost.
    fn forecast(&self, req: &ChatRequest) -> crate::types::Forecast {
        crate::types::Forecast::of(req, 4096, crate::types::Prices::default())
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        on: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ChatResponse> {
        let resp = self.chat(req).await?;
        if !resp.content.is_empty() {
            on(StreamEvent::Text(resp.content.clone()));
        }
        for (index, call) in resp.tool_calls.iter().enumerate() {
            on(StreamEvent::ToolCallDelta {
                index,
                id: Some(call.id.clone()),
                name: Some(call.name.clone()),
                arguments: call.arguments.to_string(),
            });
        }
        Ok(resp)
    }
}

/// How retries wait: the real clock in production, a recorder in tests.
pub trait Sleeper: Send + Sync + Debug {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Asks for a JSON answer (`req.json` must be set) and validates it against the schema.
pub async fn chat_json(p: &dyn Provider, req: &ChatRequest) -> Result<(Value, ChatResponse)> {
    let Some(spec) = &req.json else {
        return Err(ModelError::Schema {
            provider: p.name().into(),
            schema: "-".into(),
            message: "the request names no schema (set ChatRequest::json)".into(),
        });
    };
    let resp = p.chat(req).await?;
    let text = strip_fences(&resp.content);
    let value: Value = serde_json::from_str(text).map_err(|e| ModelError::Schema {
        provider: p.name().into(),
        schema: spec.name.clone(),
        message: format!("not JSON: {e}"),
    })?;
    crate::schema::validate(&spec.schema, &value).map_err(|message| ModelError::Schema {
        provider: p.name().into(),
        schema: spec.name.clone(),
        message,
    })?;
    Ok((value, resp))
}

/// ```` ```json … ``` ```` → the inside.
fn strip_fences(s: &str) -> &str {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("```") else { return t };
    let rest = rest.split_once('\n').map_or("", |(_, r)| r);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}
