//! The token every route requires: `Authorization: Bearer TOKEN`, or `access_token=TOKEN` in
//! the query (a browser's `EventSource` cannot set headers). Compared in constant time.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Equal bytes, in time that depends on the lengths only.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

fn presented(req: &Request) -> Option<String> {
    if let Some(h) = req.headers().get(axum::http::header::AUTHORIZATION) {
        return h.to_str().ok()?.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("access_token=").map(str::to_string))
}

pub(crate) async fn require(
    State(token): State<std::sync::Arc<String>>,
    req: Request,
    next: Next,
) -> Response {
    match presented(&req) {
        Some(t) if same(t.as_bytes(), token.as_bytes()) => next.run(req).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the token is wrong")
            .help("use the token in .l9/token of the project `l9 serve` runs in")
            .into_response(),
        None => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "no token given")
            .help("send `Authorization: Bearer TOKEN` with the token in .l9/token")
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
        assert!(!super::same(b"", b"a"));
    }
}
