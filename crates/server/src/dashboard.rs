//! The dashboard: one page and its assets, compiled into the binary (no CDN, no build
//! step at run time). The shell holds no data, so it is served without the token; every
//! piece of data it shows comes from the API with the token the page was opened with
//! (`/?access_token=TOKEN`). Runs list; a run's stage timeline, task graph (live states),
//! tasks live over SSE, gate FAIL → pass history with output, evidence per requirement,
//! lineage, cost/duration against the forecast and DORA (`run.js`); approvals answered with
//! a button; the world model with an as-of slider, executor rates and calibration, and
//! memory search (`world.js`).

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("../assets/app.js")),
    ("run.js", "text/javascript; charset=utf-8", include_str!("../assets/run.js")),
    ("world.js", "text/javascript; charset=utf-8", include_str!("../assets/world.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../assets/style.css")),
];

const INDEX: &str = include_str!("../assets/index.html");

fn page(kind: &str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// An asset by its exact name; anything else (`../…` included) is not found.
async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => page(kind, body),
        None => crate::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no asset {name:?}"),
        )
        .into_response(),
    }
}

pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(index)).route("/assets/{name}", get(asset))
}
