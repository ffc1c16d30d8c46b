//! `POST {base_url}/v1/embeddings`: the OpenAI embeddings wire format, which OpenAI,
//! Ollama, vLLM, LM Studio and llama.cpp's server all speak.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{Embedder, l2_normalise};
use crate::{MemoryError, Result};

/// Where and how to call an OpenAI-compatible embeddings endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiEmbedderConfig {
    /// e.g. `https://api.openai.com` or `http://127.0.0.1:11434` (a trailing `/v1` is fine).
    pub base_url: String,
    pub model: String,
    /// The name of the environment variable holding the API key (`None`: send no key,
    /// as local servers expect).
    pub api_key_env: Option<String>,
    pub dims: usize,
    pub timeout: Duration,
    /// Texts per request.
    pub batch: usize,
    /// The configuration prefix named in error messages, e.g. `memory.openai`.
    pub setting_prefix: String,
}

impl Default for OpenAiEmbedderConfig {
    fn default() -> Self {
        OpenAiEmbedderConfig {
            base_url: "https://api.openai.com".into(),
            model: "text-embedding-3-small".into(),
            api_key_env: Some("OPENAI_API_KEY".into()),
            dims: 384,
            timeout: Duration::from_secs(60),
            batch: 64,
            setting_prefix: "memory.openai".into(),
        }
    }
}

#[derive(Debug)]
pub struct OpenAiEmbedder {
    cfg: OpenAiEmbedderConfig,
    url: String,
    key: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    #[serde(default)]
    index: usize,
}

/// Installs rustls' ring provider once (reqwest is built without a default provider).
pub(crate) fn ensure_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl OpenAiEmbedder {
    /// Checks the configuration (API key present, URL well-formed) without calling out.
    /// The key is read from the process environment.
    pub fn new(cfg: OpenAiEmbedderConfig) -> Result<Self> {
        Self::with_env(cfg, &|var| std::env::var(var).ok())
    }

    /// Like [`OpenAiEmbedder::new`] with the environment as a seam.
    pub fn with_env(
        cfg: OpenAiEmbedderConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        ensure_tls_provider();
        let name = format!("openai:{}", cfg.model);
        let err = |message: String, key: &str| MemoryError::Embed {
            embedder: name.clone(),
            message,
            setting: format!("{}.{key}", cfg.setting_prefix),
        };
        let base = cfg.base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(err(
                format!("base URL {:?} must start with http:// or https://", cfg.base_url),
                "base_url",
            ));
        }
        let key = match &cfg.api_key_env {
            None => None,
            Some(var) if var.is_empty() => None,
            Some(var) => match env(var) {
                Some(k) if !k.trim().is_empty() => Some(k),
                _ => {
                    return Err(err(
                        format!(
                            "the API key environment variable {var} is not set; export it, or set api_key_env = \"\" for a server that needs no key"
                        ),
                        "api_key_env",
                    ));
                }
            },
        };
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| err(format!("cannot build an HTTP client: {e}"), "base_url"))?;
        Ok(OpenAiEmbedder { url: format!("{base}/v1/embeddings"), key, http, cfg })
    }

    fn err(&self, message: String, key: &str) -> MemoryError {
        MemoryError::Embed {
            embedder: self.name(),
            message,
            setting: format!("{}.{key}", self.cfg.setting_prefix),
        }
    }

    async fn call(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>> {
        use l9_models::{PostFailure, RetryPolicy, TokioSleeper, post_with_retries};
        let body = json!({ "model": self.cfg.model, "input": inputs });
        let policy = RetryPolicy { max_retries: 2, timeout: self.cfg.timeout };
        let sent = post_with_retries(
            &self.http,
            &self.url,
            &body,
            &[],
            self.key.as_deref(),
            policy,
            &TokioSleeper,
        )
        .await;
        let url = &self.url;
        let resp = sent.map_err(|f| match f {
            PostFailure::Unreachable { message } => {
                self.err(format!("cannot reach {url}: {message}"), "base_url")
            }
            PostFailure::TimedOut { attempts, timeout } => self.err(
                format!("{url} did not answer within {timeout:?} ({attempts} attempts)"),
                "base_url",
            ),
            PostFailure::Overloaded { status, attempts, .. } => {
                self.err(format!("{url} answered {status} {attempts} times"), "base_url")
            }
            PostFailure::Refused { status } => {
                self.err(format!("{url} refused the API key ({status})"), "api_key_env")
            }
            PostFailure::NotFound => self.err(
                format!(
                    "{url} answered 404: the URL or the model {:?} is unknown there",
                    self.cfg.model
                ),
                "model",
            ),
            PostFailure::Status { status, body } => {
                self.err(format!("{url} answered {status}: {body}"), "base_url")
            }
        })?;
        let parsed: Response = resp.json().await.map_err(|e| {
            self.err(
                format!("{} sent a response that is not an embeddings list: {e}", self.url),
                "base_url",
            )
        })?;
        if parsed.data.len() != inputs.len() {
            return Err(self.err(
                format!("asked for {} embeddings, got {}", inputs.len(), parsed.data.len()),
                "base_url",
            ));
        }
        let mut data = parsed.data;
        data.sort_by_key(|d| d.index);
        let mut out = Vec::with_capacity(data.len());
        for d in data {
            if d.embedding.len() != self.cfg.dims {
                return Err(MemoryError::Embed {
                    embedder: self.name(),
                    message: format!(
                        "the model returns {}-dimensional vectors but {} are configured",
                        d.embedding.len(),
                        self.cfg.dims
                    ),
                    setting: "memory.dims".into(),
                });
            }
            let mut v = d.embedding;
            l2_normalise(&mut v);
            out.push(v);
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn name(&self) -> String {
        format!("openai:{}", self.cfg.model)
    }

    fn dims(&self) -> usize {
        self.cfg.dims
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![Vec::new(); texts.len()];
        let non_empty: Vec<usize> =
            (0..texts.len()).filter(|&i| !texts[i].trim().is_empty()).collect();
        for chunk in non_empty.chunks(self.cfg.batch.max(1)) {
            let inputs: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
            for (i, v) in chunk.iter().zip(self.call(&inputs).await?) {
                out[*i] = v;
            }
        }
        for v in &mut out {
            if v.is_empty() {
                *v = vec![0.0; self.cfg.dims];
            }
        }
        Ok(out)
    }
}
