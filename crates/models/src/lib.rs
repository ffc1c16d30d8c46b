//! `l9-models` — model providers (tier T3).
//!
//! One [`Provider`] trait (chat with tools, streaming, structured JSON output via
//! [`chat_json`]) and its implementations:
//!
//! * [`OpenAiProvider`]: OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, LM Studio,
//!   llama.cpp's server); [`AnthropicProvider`]: Anthropic messages. Both share `http.rs`:
//!   retries on 429/5xx/timeouts that honour `Retry-After` (through the [`Sleeper`] seam),
//!   request timeouts, and errors that name the provider and the setting to fix.
//! * [`ScriptedProvider`]: YAML rules → replies and tool calls; what tests and examples use.
//! * [`Recorder`] and [`ReplayProvider`]: write a cassette from any provider; serve it back
//!   and fail with a diff when a request differs from the recorded one.
//!
//! Every response carries token usage and its cost from the configured [`Prices`], which
//! the engine feeds to the kernel's budget and records on the call's envelope.
//!
//! What it is not: it does not decide what to ask (agents and the engine do) and it does
//! not journal (the durable `Ctx` does, around each call).

mod anthropic;
pub mod cassette;
mod error;
mod http;
mod openai;
mod provider;
pub mod retry;
pub mod schema;
mod scripted;
mod types;

pub use anthropic::AnthropicProvider;
pub use cassette::{Recorder, ReplayProvider};
pub use error::{ModelError, Result};
pub use http::HttpConfig;
pub use openai::OpenAiProvider;
pub use provider::{Provider, Sleeper, TokioSleeper, chat_json};
pub use retry::{PostFailure, RetryPolicy, post_with_retries};
pub use scripted::ScriptedProvider;
pub use types::{
    ChatRequest, ChatResponse, Forecast, JsonOutput, Message, Prices, Role, StreamEvent, ToolCall,
    ToolSpec, Usage,
};
