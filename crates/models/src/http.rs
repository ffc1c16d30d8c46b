//! What both HTTP providers share: configuration, the client, sending with retries that
//! honour `Retry-After`, error messages that name the provider and the setting, and an
//! SSE line splitter for streamed answers.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::error::{ModelError, Result};
use crate::provider::{Sleeper, TokioSleeper};
use crate::types::Prices;

/// One configured HTTP provider (`[providers.NAME]` in `l9.toml`).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The provider's configured name; errors and envelopes carry it.
    pub name: String,
    /// e.g. `https://api.openai.com` or `http://127.0.0.1:11434` (a trailing `/v1` is fine).
    pub base_url: String,
    pub model: String,
    /// Environment variable holding the API key; `None` or empty: send none (local servers).
    pub api_key_env: Option<String>,
    pub timeout: Duration,
    /// Retries after the first attempt on 429, 5xx, timeouts and refused connections.
    pub max_retries: u32,
    pub prices: Prices,
    /// Send `response_format: json_schema` (OpenAI, vLLM, recent Ollama support it).
    pub json_schema: bool,
    /// Default `max_tokens` (Anthropic requires one).
    pub max_tokens: u32,
}

impl HttpConfig {
    pub fn new(name: &str, base_url: &str, model: &str) -> Self {
        HttpConfig {
            name: name.into(),
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: None,
            timeout: Duration::from_secs(120),
            max_retries: 3,
            prices: Prices::default(),
            json_schema: true,
            max_tokens: 4096,
        }
    }

    pub(crate) fn setting(&self, key: &str) -> String {
        format!("providers.{}.{key}", self.name)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub(crate) cfg: HttpConfig,
    pub(crate) base: String,
    pub(crate) key: Option<String>,
    client: reqwest::Client,
    sleeper: Arc<dyn Sleeper>,
}

/// Installs rustls' ring provider once (reqwest is built without a default provider).
fn ensure_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Http {
    pub(crate) fn new(
        cfg: HttpConfig,
        env: &dyn Fn(&str) -> Option<String>,
        sleeper: Option<Arc<dyn Sleeper>>,
    ) -> Result<Self> {
        ensure_tls_provider();
        let base = cfg.base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base).to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ModelError::Config {
                provider: cfg.name.clone(),
                setting: cfg.setting("base_url"),
                message: format!("base URL {:?} must start with http:// or https://", cfg.base_url),
            });
        }
        if cfg.model.trim().is_empty() {
            return Err(ModelError::Config {
                provider: cfg.name.clone(),
                setting: cfg.setting("model"),
                message: "no model is configured".into(),
            });
        }
        let key = match cfg.api_key_env.as_deref() {
            None | Some("") => None,
            Some(var) => match env(var) {
                Some(k) if !k.trim().is_empty() => Some(k),
                _ => {
                    return Err(ModelError::Config {
                        provider: cfg.name.clone(),
                        setting: cfg.setting("api_key_env"),
                        message: format!(
                            "the API key environment variable {var} is not set; export it, or set api_key_env = \"\" for a server that needs no key"
                        ),
                    });
                }
            },
        };
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ModelError::Config {
                provider: cfg.name.clone(),
                setting: cfg.setting("base_url"),
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Http {
            cfg,
            base,
            key,
            client,
            sleeper: sleeper.unwrap_or_else(|| Arc::new(TokioSleeper)),
        })
    }

    fn unavailable(&self, key: &str, message: String) -> ModelError {
        ModelError::Unavailable {
            provider: self.cfg.name.clone(),
            setting: self.cfg.setting(key),
            message,
        }
    }

    /// A response with this provider's name, its model as the default, and the cost of
    /// `usage` at the configured prices.
    pub(crate) fn response(
        &self,
        content: String,
        tool_calls: Vec<crate::types::ToolCall>,
        usage: crate::types::Usage,
        model: String,
        finish_reason: String,
    ) -> crate::types::ChatResponse {
        crate::types::ChatResponse {
            content,
            tool_calls,
            cost_micro_usd: self.cfg.prices.cost(usage),
            usage,
            model: if model.is_empty() { self.cfg.model.clone() } else { model },
            provider: self.cfg.name.clone(),
            finish_reason,
        }
    }

    pub(crate) fn protocol(&self, message: String) -> ModelError {
        ModelError::Protocol { provider: self.cfg.name.clone(), message }
    }

    /// POSTs `body` to `path`, retrying 429/5xx (waiting what `Retry-After` says), timeouts
    /// and refused connections; maps the other failures to errors that say what to fix.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        use crate::retry::{PostFailure, RetryPolicy, post_with_retries};
        let url = format!("{}{path}", self.base);
        let policy = RetryPolicy { max_retries: self.cfg.max_retries, timeout: self.cfg.timeout };
        let sent = post_with_retries(
            &self.client,
            &url,
            body,
            headers,
            None,
            policy,
            self.sleeper.as_ref(),
        )
        .await;
        sent.map_err(|f| match f {
            PostFailure::TimedOut { attempts, timeout } => self.unavailable(
                "timeout_s",
                format!("{url} did not answer within {timeout:?} ({attempts} attempts)"),
            ),
            PostFailure::Unreachable { message } => {
                self.unavailable("base_url", format!("cannot reach {url}: {message}"))
            }
            PostFailure::Overloaded { status, attempts, body } => self.unavailable(
                "max_retries",
                format!("{url} answered {status} {attempts} times: {body}"),
            ),
            PostFailure::Refused { status } => ModelError::Config {
                provider: self.cfg.name.clone(),
                setting: self.cfg.setting("api_key_env"),
                message: format!("{url} refused the API key ({status})"),
            },
            PostFailure::NotFound => ModelError::Config {
                provider: self.cfg.name.clone(),
                setting: self.cfg.setting("model"),
                message: format!(
                    "{url} answered 404: the URL or the model {:?} is unknown there",
                    self.cfg.model
                ),
            },
            PostFailure::Status { status, body } => {
                self.protocol(format!("{url} answered {status}: {body}"))
            }
        })
    }

    pub(crate) async fn json(&self, resp: reqwest::Response) -> Result<Value> {
        let text =
            resp.text().await.map_err(|e| self.protocol(format!("the answer broke off: {e}")))?;
        serde_json::from_str(&text).map_err(|e| {
            self.protocol(format!("the answer is not JSON ({e}): {}", snippet(text.clone())))
        })
    }

    /// Feeds each SSE event's `data` (lines joined) to `on` until it returns `false` (done).
    /// Returns whether the stream was finished by `on` rather than cut off.
    pub(crate) async fn sse(
        &self,
        resp: reqwest::Response,
        on: &mut (dyn FnMut(&str, &str) -> Result<bool> + Send),
    ) -> Result<bool> {
        let mut stream = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.protocol(format!("the stream broke off: {e}")))?;
            buf.extend_from_slice(&chunk);
            while let Some(end) = find_event_end(&buf) {
                let raw: Vec<u8> = buf.drain(..end.0 + end.1).collect();
                let text = String::from_utf8_lossy(&raw[..end.0]);
                let mut event = String::new();
                let mut data = String::new();
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if !data.is_empty() && !on(&event, &data)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// End of the first SSE event in `buf`: (position, separator length).
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| (p, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// `Retry-After: 3` (seconds) or `retry-after-ms: 250`.
pub(crate) use crate::retry::snippet;
