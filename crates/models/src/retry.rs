//! Sending a JSON POST with retries, for every HTTP client L9 has (the model providers and
//! the OpenAI-compatible embedder): 429 and 5xx answers are retried after what `Retry-After`
//! says (else an exponential backoff), timeouts and refused connections after the backoff;
//! the other failures come back classified, so each caller names its own setting.

use std::time::Duration;

use serde_json::Value;

use crate::provider::Sleeper;

/// How often and how long to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The client's timeout (for messages).
    pub timeout: Duration,
}

/// Why a POST did not get a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostFailure {
    /// No connection after every attempt.
    Unreachable { message: String },
    /// No answer within the timeout, every attempt.
    TimedOut { attempts: u32, timeout: Duration },
    /// 429 or 5xx on every attempt.
    Overloaded { status: u16, attempts: u32, body: String },
    /// 401 or 403: the key.
    Refused { status: u16 },
    /// 404: the URL or the model.
    NotFound,
    /// Any other answer that is not a success.
    Status { status: u16, body: String },
}

/// The first 300 characters of a body, on one line.
pub fn snippet(s: String) -> String {
    let s: String = s.chars().take(300).collect();
    s.replace('\n', " ")
}

/// The wait the server asks for: `retry-after-ms`, else `Retry-After` in seconds.
pub fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = h
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_millis(ms));
    }
    h.get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// POSTs `body` as JSON to `url` with `headers` (and a bearer key, if any), retrying as the
/// module says; returns the successful response.
pub async fn post_with_retries(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    headers: &[(&str, String)],
    bearer: Option<&str>,
    policy: RetryPolicy,
    sleeper: &dyn Sleeper,
) -> Result<reqwest::Response, PostFailure> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let mut req = client.post(url).json(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(k) = bearer {
            req = req.bearer_auth(k);
        }
        let backoff = Duration::from_millis(500u64.saturating_mul(1 << attempt.min(6)))
            .min(Duration::from_secs(30));
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if attempt <= policy.max_retries && (e.is_timeout() || e.is_connect()) => {
                sleeper.sleep(backoff).await;
                continue;
            }
            Err(e) if e.is_timeout() => {
                return Err(PostFailure::TimedOut { attempts: attempt, timeout: policy.timeout });
            }
            Err(e) => return Err(PostFailure::Unreachable { message: e.to_string() }),
        };
        let status = resp.status();
        if status.as_u16() == 429 || status.is_server_error() {
            if attempt <= policy.max_retries {
                let wait =
                    retry_after(resp.headers()).unwrap_or(backoff).min(Duration::from_secs(120));
                sleeper.sleep(wait).await;
                continue;
            }
            let body = snippet(resp.text().await.unwrap_or_default());
            return Err(PostFailure::Overloaded {
                status: status.as_u16(),
                attempts: attempt,
                body,
            });
        }
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(PostFailure::Refused { status: status.as_u16() });
        }
        if status.as_u16() == 404 {
            return Err(PostFailure::NotFound);
        }
        if !status.is_success() {
            let body = snippet(resp.text().await.unwrap_or_default());
            return Err(PostFailure::Status { status: status.as_u16(), body });
        }
        return Ok(resp);
    }
}
