//! Cross-origin access: none unless `[serve] cors_origins` names origins. Then those
//! origins (exactly) may call the API from a page, with the token in `Authorization`; every
//! other origin gets no CORS headers, so browsers keep its pages out.

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `app`, answering CORS for `origins` (unchanged when there are none).
pub(crate) fn layer(app: Router, origins: &[String]) -> Router {
    let allowed: Vec<HeaderValue> =
        origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if allowed.is_empty() {
        return app;
    }
    app.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::HeaderName::from_static("last-event-id"),
                header::HeaderName::from_static("mcp-session-id"),
                header::HeaderName::from_static("mcp-protocol-version"),
            ])
            .expose_headers([header::HeaderName::from_static("mcp-session-id")]),
    )
}
