//! The routes. [`Api`] registers each route on the axum router and records it (method,
//! path, summary, request body schema) for `/openapi.json`: the document is generated from
//! the code that serves it, so the two cannot drift.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use l9_engine::Engine;
use l9_engine::runtime::IdScope;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::openapi::{RouteDoc, document};

/// What a request may take (the event stream excepted).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) type ApiResult = Result<Json<Value>, ApiError>;

/// What every handler can reach: the engine, and the hub of run event feeds.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub engine: Engine,
    pub hub: Arc<crate::events::Hub>,
}

impl axum::extract::FromRef<AppState> for Engine {
    fn from_ref(s: &AppState) -> Engine {
        s.engine.clone()
    }
}

/// The router under construction and the documentation of every route on it.
pub(crate) struct Api {
    router: Router<AppState>,
    pub docs: Vec<RouteDoc>,
}

impl Api {
    fn route(
        mut self,
        method: Method,
        path: &'static str,
        summary: &'static str,
        body: Option<(&'static str, schemars::Schema)>,
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.docs.push(RouteDoc { method, path, summary, body });
        self.router = self.router.route(path, handler);
        self
    }
}

fn schema<T: JsonSchema>(name: &'static str) -> Option<(&'static str, schemars::Schema)> {
    Some((name, schemars::schema_for!(T)))
}

/// Every route, each with the project's token required; `/mcp` (streamable HTTP MCP) among
/// them, its streams closed when `stop` is cancelled. `mcp`: the `Host` names and origins
/// `/mcp` accepts besides the loopback hosts and `[serve] cors_origins`.
pub fn router(
    engine: Engine,
    token: String,
    stop: l9_mcp::CancellationToken,
    mut mcp: l9_mcp::HttpOptions,
) -> Router {
    let api = Api { router: Router::new(), docs: Vec::new() }
        .route(Method::GET, "/api/v1/runs", "List loop runs, newest first (`?limit=`)", None, get(list_runs))
        .route(Method::POST, "/api/v1/runs", "Start a run from a spec path or spec text; a worker executes it", schema::<StartRun>("StartRun"), post(start_run))
        .route(Method::GET, "/api/v1/runs/{id}", "A run: stages, simulation, result, timeline, lineage, evidence, events", None, get(show_run))
        .route(Method::GET, "/api/v1/runs/{id}/events", "The run's events as Server-Sent Events, from the journal; resumable with Last-Event-ID", None, get(crate::events::stream))
        .route(Method::POST, "/api/v1/runs/{id}/cancel", "Cancel a run and its tasks", None, post(cancel_run))
        .route(Method::POST, "/api/v1/runs/{id}/resume", "Continue a run: leases of dead processes given back, an adapter, provider or higher budget applied", schema::<ResumeRun>("ResumeRun"), post(resume_run))
        .route(Method::POST, "/api/v1/runs/{id}/retry", "Run a failed run again, keeping the tasks that succeeded", None, post(retry_run))
        .route(Method::GET, "/api/v1/tasks", "List tasks (`?kind=`, `?limit=`)", None, get(list_tasks))
        .route(Method::GET, "/api/v1/tasks/{id}", "A task with its journal, signals and children", None, get(show_task))
        .route(Method::POST, "/api/v1/tasks/{id}/approve", "Approve what a task waits for", schema::<Note>("Note"), post(approve))
        .route(Method::POST, "/api/v1/tasks/{id}/reject", "Reject what a task waits for", schema::<Note>("Note"), post(reject))
        .route(Method::POST, "/api/v1/tasks/{id}/signal", "Send a task a signal", schema::<SignalBody>("Signal"), post(signal))
        .route(Method::POST, "/api/v1/tasks/{id}/resolve", "Resolve an escalated step: it happened (with its value) or it may run again", schema::<ResolveBody>("Resolve"), post(resolve))
        .route(Method::POST, "/api/v1/memory", "Store a packet", schema::<PutPacket>("PutPacket"), post(put_packet))
        .route(Method::GET, "/api/v1/memory/search", "Hybrid search of the memory (`?q=`, `?k=`)", None, get(search))
        .route(Method::GET, "/api/v1/memory/{id}", "One packet", None, get(get_packet))
        .route(Method::GET, "/api/v1/memory/{id}/lineage", "A packet's ancestors (`?down=true`: descendants) to `?depth=` (default 50)", None, get(lineage))
        .route(Method::GET, "/api/v1/world/stats", "The world model: items per pack, task priors, executors, calibration (`?as_of=` RFC 3339: as it held then)", None, get(world_stats))
        .route(Method::GET, "/api/v1/world/query", "World-model items relevant to `?q=`, best first (`?k=`, `?as_of=`)", None, get(world_query))
        .route(Method::GET, "/api/v1/world/items/{id}", "One world-model item with its validity, votes and retirement", None, get(world_item))
        .route(Method::POST, "/api/v1/world/items/{id}/retire", "Retire a learned item (it stops holding from now; earlier views keep it)", schema::<Retire>("Retire"), post(world_retire))
        .route(
            Method::POST,
            "/api/v1/ir/compile",
            "Compile spec text into the IR",
            schema::<CheckSpec>("CheckSpec"),
            post(ir_compile),
        )
        .route(Method::POST, "/api/v1/ir/check", "Compile, challenge and validate spec text", schema::<CheckSpec>("CheckSpec"), post(ir_check));
    let doc = Arc::new(document(&api.docs));
    let token = Arc::new(token);
    let origins = engine.config().cors_origins.clone();
    mcp.origins.extend(origins.iter().cloned());
    let mcp = l9_mcp::http_service(engine.clone(), mcp, stop);
    let app = api
        .router
        .route("/openapi.json", get(move || async move { Json((*doc).clone()) }))
        .route_service("/mcp", mcp)
        .layer(axum::middleware::from_fn(timeout))
        .layer(DefaultBodyLimit::max(l9_types::limits::REQUEST_BYTES.get_usize()))
        .layer(axum::middleware::from_fn_with_state(token, crate::auth::require))
        .layer(axum::middleware::from_fn(traced))
        // The dashboard's shell (no data in it) needs no token; its data does.
        .merge(crate::dashboard::routes())
        .with_state(AppState { engine, hub: Arc::default() });
    crate::cors::layer(app, &origins)
}

/// A span per request: method and path (never the query, which may hold the token), then
/// the status it got.
async fn traced(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path());
    let r = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    span.in_scope(|| tracing::info!(status = r.status().as_u16(), "answered"));
    r
}

/// Every request but the event streams (a run's, MCP's) gets [`REQUEST_TIMEOUT`].
async fn timeout(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.uri().path().ends_with("/events") || req.uri().path() == "/mcp" {
        return next.run(req).await;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the request took longer than 30 s",
        )
        .into_response(),
    }
}

/// A JSON body, or a 400 that names the problem (413 past the size limit).
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match b {
        Ok(Json(t)) => Ok(t),
        Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the body is over {} bytes ({})",
                    l9_types::limits::REQUEST_BYTES.get(),
                    l9_types::limits::REQUEST_BYTES.hint()
                ),
            ))
        }
        Err(e) => Err(ApiError::input(format!(
            "the request body is not what this route takes: {}",
            e.body_text()
        ))
        .help("see /openapi.json for the route's body")),
    }
}

async fn id_of(engine: &Engine, given: &str, scope: IdScope) -> Result<l9_types::TaskId, ApiError> {
    Ok(engine.resolve_id(given, scope).await?)
}

#[derive(Debug, Deserialize)]
struct Limit {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    kind: Option<String>,
}

async fn list_runs(State(e): State<Engine>, Query(q): Query<Limit>) -> ApiResult {
    Ok(Json(json!(e.run_rows(q.limit.unwrap_or(50).min(1000)).await?)))
}

/// How to start a run (the engine's [`l9_engine::surface::RunStart`]).
pub type StartRun = l9_engine::surface::RunStart;

async fn start_run(
    State(e): State<Engine>,
    b: Result<Json<StartRun>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = e.start_run_from(&body(b)?).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"run": id.to_string(), "events": format!("/api/v1/runs/{id}/events")})),
    ))
}

async fn show_run(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult {
    let id = id_of(&e, &id, IdScope::Runs).await?;
    Ok(Json(e.run_view(id).await?))
}

async fn cancel_run(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult {
    let id = id_of(&e, &id, IdScope::Runs).await?;
    Ok(Json(json!({"cancelled": e.cancel_task(id).await?})))
}

/// What a resumed run uses from here on.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRun {
    #[serde(default)]
    pub adapter: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    /// A new (higher) budget in dollars.
    #[serde(default)]
    pub budget_usd: Option<f64>,
}

async fn resume_run(
    State(e): State<Engine>,
    Path(id): Path<String>,
    b: Result<Json<ResumeRun>, JsonRejection>,
) -> ApiResult {
    let r = match b {
        Err(JsonRejection::MissingJsonContentType(_)) => ResumeRun::default(),
        other => body(other)?,
    };
    let id = id_of(&e, &id, IdScope::Runs).await?;
    let done = e.resume_run(id, r.adapter.as_deref(), r.provider.as_deref(), r.budget_usd).await?;
    Ok(Json(json!({"run": id.to_string(), "resumed": done})))
}

async fn retry_run(
    State(e): State<Engine>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = id_of(&e, &id, IdScope::Runs).await?;
    let r = e.retry_run(id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"run": r.run.to_string(), "retry_of": id.to_string(), "kept": r.kept})),
    ))
}

async fn list_tasks(State(e): State<Engine>, Query(q): Query<Limit>) -> ApiResult {
    let f = l9_engine::TaskFilter { kind: q.kind, ..Default::default() };
    Ok(Json(json!(e.list_tasks(&f, None, q.limit.unwrap_or(100).min(1000)).await?.tasks)))
}

async fn show_task(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult {
    let id = id_of(&e, &id, IdScope::Tasks).await?;
    Ok(Json(json!(e.task_detail(id).await?)))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    #[serde(default)]
    pub note: Option<String>,
    /// For a run (or its plan): only this plan task's approval gate, not every one that waits.
    #[serde(default)]
    pub gate: Option<String>,
}

async fn decide(
    e: Engine,
    id: String,
    approved: bool,
    b: Result<Json<Note>, JsonRejection>,
) -> ApiResult {
    let note = match b {
        Err(JsonRejection::MissingJsonContentType(_)) => Note::default(),
        other => body(other)?,
    };
    let id = id_of(&e, &id, IdScope::Tasks).await?;
    let d = e.decide(id, approved, note.note.as_deref(), note.gate.as_deref()).await?;
    Ok(Json(json!({"answered": d.answered, "gates": d.gates})))
}

async fn approve(
    State(e): State<Engine>,
    Path(id): Path<String>,
    b: Result<Json<Note>, JsonRejection>,
) -> ApiResult {
    decide(e, id, true, b).await
}

async fn reject(
    State(e): State<Engine>,
    Path(id): Path<String>,
    b: Result<Json<Note>, JsonRejection>,
) -> ApiResult {
    decide(e, id, false, b).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalBody {
    pub name: String,
    #[serde(default)]
    pub payload: Value,
}

async fn signal(
    State(e): State<Engine>,
    Path(id): Path<String>,
    b: Result<Json<SignalBody>, JsonRejection>,
) -> ApiResult {
    let s = body(b)?;
    let id = id_of(&e, &id, IdScope::Tasks).await?;
    Ok(Json(json!({"delivered": e.signal(id, &s.name, &s.payload).await?})))
}

/// How an escalated step is resolved (`l9 tasks resolve`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// The step's journal key, as the escalation names it.
    pub step: String,
    /// `done`: the effect happened (give its `value`); `rerun`: it did not and may run again.
    pub action: String,
    #[serde(default)]
    pub value: Option<Value>,
}

async fn resolve(
    State(e): State<Engine>,
    Path(id): Path<String>,
    b: Result<Json<ResolveBody>, JsonRejection>,
) -> ApiResult {
    let r = body(b)?;
    let value = match r.action.as_str() {
        "done" => Some(r.value.unwrap_or(Value::Null)),
        "rerun" => None,
        other => {
            return Err(ApiError::input(format!("action {other:?}: use \"done\" or \"rerun\"")));
        }
    };
    let id = id_of(&e, &id, IdScope::Tasks).await?;
    Ok(Json(json!({"delivered": e.resolve(id, &r.step, value).await?})))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPacket {
    pub kind: String,
    pub text: String,
    #[serde(default)]
    pub body: Option<Value>,
    /// Packets this one derives from (its lineage).
    #[serde(default)]
    pub parents: Vec<String>,
}

async fn put_packet(
    State(e): State<Engine>,
    b: Result<Json<PutPacket>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let p = body(b)?;
    if let Some(why) = l9_engine::quarantine::refuse_external_kind(&p.kind) {
        return Err(ApiError::input(why));
    }
    let mut d = l9_types::PacketDraft::new(p.kind).text(p.text).actor("l9-serve");
    if let Some(b) = p.body {
        d = d.body(b);
    }
    for parent in &p.parents {
        let id: l9_types::PacketId = parent
            .parse()
            .map_err(|_| ApiError::input(format!("parent {parent:?} is not a packet id")))?;
        d = d.parent(id);
    }
    let stored = e.memory().put(d, vec![]).await.map_err(l9_engine::EngineError::from)?;
    Ok((StatusCode::CREATED, Json(json!(stored))))
}

#[derive(Debug, Deserialize)]
struct SearchQ {
    q: String,
    #[serde(default)]
    k: Option<usize>,
}

async fn search(State(e): State<Engine>, Query(q): Query<SearchQ>) -> ApiResult {
    let query = l9_engine::SearchQuery {
        text: q.q,
        filter: Default::default(),
        k: q.k.unwrap_or(10).min(100),
        mode: l9_engine::SearchMode::Hybrid,
    };
    let hits = e.memory().search(&query).await.map_err(l9_engine::EngineError::from)?;
    Ok(Json(json!(hits)))
}

async fn get_packet(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult {
    let pid: l9_types::PacketId =
        id.parse().map_err(|_| ApiError::input(format!("{id:?} is not a packet id")))?;
    match e.memory().get(pid).await.map_err(l9_engine::EngineError::from)? {
        Some(p) => Ok(Json(json!(p))),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no packet {id}"))),
    }
}

#[derive(Debug, Deserialize)]
struct Slice {
    /// RFC 3339: the world as it held then (valid time).
    #[serde(default)]
    as_of: Option<String>,
}

/// `?as_of=` as a slice of the world model (none: now).
fn slice(s: &Slice) -> Result<Option<l9_types::AsOf>, ApiError> {
    let Some(t) = s.as_of.as_deref().filter(|t| !t.is_empty()) else { return Ok(None) };
    let at = chrono::DateTime::parse_from_rfc3339(t.trim()).map_err(|_| {
        ApiError::input(format!(
            "as_of {t:?} is not a time: give RFC 3339, like 2026-12-03T10:00:00Z"
        ))
    })?;
    Ok(Some(l9_types::AsOf { valid_at: at.with_timezone(&chrono::Utc), known_at: None }))
}

async fn world_stats(State(e): State<Engine>, Query(q): Query<Slice>) -> ApiResult {
    let s = slice(&q)?;
    let items = e.world_stats(s.as_ref()).await?;
    let state = e.world_state_at(s.as_ref()).await?;
    let executors: serde_json::Map<String, Value> = state
        .executors
        .iter()
        .map(|(k, (ok, bad))| {
            (k.clone(), json!({"succeeded": ok, "failed": bad, "rate": state.executor_rate(k)}))
        })
        .collect();
    Ok(Json(json!({
        "items": items, "kinds": state.kinds, "deltas": state.deltas, "executors": executors,
        "calibration": state.calibration(), "calibration_by_executor": state.calibration_by_executor(),
    })))
}

#[derive(Debug, Deserialize)]
struct LineageQ {
    #[serde(default)]
    down: bool,
    #[serde(default)]
    depth: Option<u32>,
}

async fn lineage(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<LineageQ>,
) -> ApiResult {
    let pid: l9_types::PacketId =
        id.parse().map_err(|_| ApiError::input(format!("{id:?} is not a packet id")))?;
    let dir = if q.down { l9_engine::Direction::Down } else { l9_engine::Direction::Up };
    let entries = e
        .memory()
        .lineage(pid, dir, q.depth.unwrap_or(50).min(500))
        .await
        .map_err(l9_engine::EngineError::from)?;
    let mut rows = Vec::new();
    for x in entries {
        if let Some(p) = e.memory().get(x.id).await.map_err(l9_engine::EngineError::from)? {
            rows.push(json!({"depth": x.depth, "packet": p}));
        }
    }
    Ok(Json(json!(rows)))
}

#[derive(Debug, Deserialize)]
struct WorldQ {
    q: String,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    as_of: Option<String>,
}

async fn world_query(State(e): State<Engine>, Query(q): Query<WorldQ>) -> ApiResult {
    let s = slice(&Slice { as_of: q.as_of.clone() })?;
    Ok(Json(json!(e.world_query(&q.q, q.k.unwrap_or(10).min(100), s.as_ref()).await?)))
}

async fn world_item(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult {
    match e.world_item(&id, None).await? {
        Some(item) => Ok(Json(json!(item))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no world-model item {id:?}"),
        )
        .help("GET /api/v1/world/query?q=TEXT lists ids")),
    }
}

/// Why an item stops holding.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retire {
    pub reason: String,
}

async fn world_retire(
    State(e): State<Engine>,
    Path(id): Path<String>,
    b: Result<Json<Retire>, JsonRejection>,
) -> ApiResult {
    let r = body(b)?;
    if e.world_item(&id, None).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no world-model item {id:?}"),
        ));
    }
    let p = e.world_retire(&id, &r.reason, None).await?;
    Ok(Json(json!({"retired": id, "packet": p.id.to_string()})))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The spec's text.
    pub text: String,
    /// A file name telling its format (`spec.md`, `api.yaml`, `x.feature`; default `spec.md`).
    #[serde(default)]
    pub name: Option<String>,
}

fn spec_name(c: &CheckSpec) -> Result<String, ApiError> {
    let name = c.name.clone().unwrap_or_else(|| "spec.md".into());
    if name.contains('/') || name.contains("..") {
        return Err(ApiError::input("name is a file name, not a path"));
    }
    Ok(name)
}

async fn ir_check(State(e): State<Engine>, b: Result<Json<CheckSpec>, JsonRejection>) -> ApiResult {
    let c = body(b)?;
    let checked = l9_engine::ir::check_text_with(&spec_name(&c)?, &c.text, &e.spec_classifier()?);
    Ok(Json(json!({"ir": checked.ir(), "findings": checked.findings, "errors": checked.errors()})))
}

async fn ir_compile(
    State(e): State<Engine>,
    b: Result<Json<CheckSpec>, JsonRejection>,
) -> ApiResult {
    let c = body(b)?;
    let ir = l9_engine::ir::compile_text(&spec_name(&c)?, &c.text, &e.spec_classifier()?);
    Ok(Json(json!({ "ir": ir })))
}
