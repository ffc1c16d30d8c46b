//! `l9-mcp` — L9 as a Model Context Protocol server (tier T5), on `rmcp`.
//!
//! `l9 mcp` serves it on stdio (an editor starts it as a child process); `l9 serve` mounts
//! it at `/mcp` (streamable HTTP, behind the project's token). An editor's agent gets:
//!
//! * tools (`tools.rs`): `memory_search`, `memory_put`, `run_spec`, `run_status`,
//!   `run_show`, `task_approve`, `task_reject`, `world_query`, `ir_check`, each with a JSON
//!   schema generated from its argument type;
//! * resources: runs (`l9://run/ID`, listed), packets (`l9://packet/ID`) and world-model
//!   items (`l9://world/ID`) as templates.
//!
//! Every tool call is remembered as two packets: `mcp.call` (who asked — the client's
//! name and version, the transport — the tool and its arguments) and `mcp.result` (what came
//! back, or the error) derived from it; what a call stores (`memory_put`) derives from its
//! `mcp.call` too, so `l9 memory lineage` shows who put it there. Neither packet has search
//! text: a search does not find the searches made before it. The crate reaches the runtimes
//! only through `l9-engine`.

pub mod tools;

use std::sync::Arc;

use l9_engine::Engine;
use l9_engine::runtime::IdScope;
use l9_types::{PacketDraft, PacketId};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    CompletionInfo, ContentBlock, Implementation, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Reference, Resource, ResourceContents, ResourceTemplate,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

pub use rmcp::transport::streamable_http_server::StreamableHttpService;
pub use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
pub use tokio_util::sync::CancellationToken;

/// A result kept in an `mcp.result` packet is cut past this many bytes of JSON.
pub const RESULT_KEEP_BYTES: usize = 256 * 1024;

const INSTRUCTIONS: &str = "L9 is an autonomous engineering system with a durable memory. \
Search what it remembers with memory_search before deciding; keep decisions with memory_put. \
Check a spec with ir_check, start work with run_spec, follow it with run_status and run_show, \
and answer approval gates with task_approve or task_reject.";

/// The MCP server of one project.
#[derive(Debug, Clone)]
pub struct L9Mcp {
    engine: Engine,
    transport: &'static str,
}

impl L9Mcp {
    /// A server over `engine`, telling calls made through `transport` (`stdio`, `http`).
    pub fn new(engine: Engine, transport: &'static str) -> Self {
        L9Mcp { engine, transport }
    }

    async fn remember(&self, draft: PacketDraft) -> Result<PacketId, String> {
        self.engine.memory().put(draft, vec![]).await.map(|p| p.id).map_err(|e| e.to_string())
    }

    /// Answers a tool call and remembers it (`mcp.call` → `mcp.result`).
    pub async fn call(
        &self,
        tool: &str,
        arguments: Value,
        client: (String, String),
    ) -> CallToolResult {
        let (who, version) = client;
        let asked = PacketDraft::new("mcp.call").actor(format!("mcp:{who}")).body(json!({
            "tool": tool, "arguments": arguments, "transport": self.transport,
            "client": {"name": who, "version": version},
        }));
        let call = match self.remember(asked).await {
            Ok(id) => id,
            Err(e) => return failed(format!("L9 could not record the call: {e}")),
        };
        let span =
            tracing::info_span!("mcp tool call", tool, client = %who, transport = self.transport);
        let out = tracing::Instrument::instrument(
            tools::call(&self.engine, tool, arguments, call),
            span.clone(),
        )
        .await;
        span.in_scope(|| tracing::info!(ok = out.is_ok(), "answered"));
        let kept = match &out {
            Ok(v) => json!({"tool": tool, "ok": true, "result": keepable(v)}),
            Err(e) => json!({"tool": tool, "ok": false, "error": e}),
        };
        let answered = PacketDraft::new("mcp.result").actor("l9-mcp").parent(call).body(kept);
        let result = match self.remember(answered).await {
            Ok(id) => id,
            Err(e) => return failed(format!("L9 could not record the result: {e}")),
        };
        let meta = json!({"call": call.to_string(), "result": result.to_string()});
        match out {
            Ok(v) => {
                let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string());
                let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
                r.structured_content = Some(with_packets(v, meta));
                r
            }
            Err(e) => failed(e),
        }
    }

    async fn resources(&self) -> Result<Vec<Resource>, String> {
        let rows = self.engine.run_rows(50).await.map_err(|e| e.to_string())?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id = r["run"].as_str()?;
                let spec = r["spec"].as_str().unwrap_or("");
                let state = r["state"].as_str().unwrap_or("");
                Some(
                    Resource::new(
                        format!("l9://run/{id}"),
                        format!("run {}", &id[..8.min(id.len())]),
                    )
                    .with_description(format!("{state}: {spec}"))
                    .with_mime_type("application/json"),
                )
            })
            .collect())
    }

    /// The JSON behind a resource URI, or `None` when there is nothing there.
    pub async fn read(&self, uri: &str) -> Result<Option<Value>, String> {
        let e = &self.engine;
        if let Some(id) = uri.strip_prefix("l9://run/") {
            let Ok(tid) = e.resolve_id(id, IdScope::Runs).await else { return Ok(None) };
            return e.run_view(tid).await.map(Some).map_err(|x| x.to_string());
        }
        if let Some(id) = uri.strip_prefix("l9://packet/") {
            let Ok(pid) = id.parse::<PacketId>() else { return Ok(None) };
            let p = e.memory().get(pid).await.map_err(|x| x.to_string())?;
            return Ok(p.map(|p| json!(p)));
        }
        if let Some(id) = uri.strip_prefix("l9://world/") {
            let item = e.world_item(id, None).await.map_err(|x| x.to_string())?;
            return Ok(item.map(|i| json!(i)));
        }
        Ok(None)
    }
}

fn internal(e: l9_engine::EngineError) -> ErrorData {
    ErrorData::internal_error(e.to_string(), None)
}

fn failed(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// `v` as an object with the packets remembering the call under `_l9`.
fn with_packets(v: Value, meta: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            m.insert("_l9".into(), meta);
            Value::Object(m)
        }
        other => json!({"value": other, "_l9": meta}),
    }
}

/// `v`, or a note of its size and its start when its JSON is longer than
/// [`RESULT_KEEP_BYTES`].
fn keepable(v: &Value) -> Value {
    let s = v.to_string();
    if s.len() <= RESULT_KEEP_BYTES {
        return v.clone();
    }
    let mut end = RESULT_KEEP_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    json!({"truncated": true, "bytes": s.len(), "head": &s[..end]})
}

impl ServerHandler for L9Mcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_completions()
                .build(),
        )
        .with_server_info(
            Implementation::new("l9", env!("CARGO_PKG_VERSION"))
                .with_title("L9 autonomous engineering OS"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        tools::list().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !tools::known(&request.name) {
            return Err(ErrorData::invalid_params(
                format!("no tool {:?}: tools/list names them", request.name),
                None,
            ));
        }
        let client = context
            .peer
            .peer_info()
            .map(|i| (i.client_info.name.clone(), i.client_info.version.clone()))
            .unwrap_or_else(|| ("unknown".into(), String::new()));
        let args = Value::Object(request.arguments.unwrap_or_default());
        Ok(self.call(&request.name, args, client).await.into())
    }

    /// Completes the `id` of a resource template: run ids (`l9://run/{id}`) and world-model
    /// item ids (`l9://world/{id}`) that start with what is typed; nothing for others.
    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let typed = request.argument.value.as_str();
        let mut values: Vec<String> = match &request.r#ref {
            Reference::Resource(r) if r.uri == "l9://run/{id}" => {
                let rows = self.engine.run_rows(1000).await.map_err(internal)?;
                rows.iter().filter_map(|r| r["run"].as_str().map(str::to_string)).collect()
            }
            Reference::Resource(r) if r.uri == "l9://world/{id}" => {
                let items = self.engine.world_query(typed, 100, None).await.map_err(internal)?;
                items.iter().filter_map(|i| json!(i)["id"].as_str().map(str::to_string)).collect()
            }
            _ => Vec::new(),
        };
        values.retain(|v| v.starts_with(typed));
        let total = values.len();
        values.truncate(CompletionInfo::MAX_VALUES);
        let more = total > values.len();
        let info = CompletionInfo::with_pagination(values, Some(total as u32), more)
            .map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let items = self.resources().await.map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(ListResourcesResult::with_all_items(items))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let t = |uri: &str, name: &str, what: &str| {
            ResourceTemplate::new(uri, name)
                .with_description(what)
                .with_mime_type("application/json")
        };
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            t(
                "l9://run/{id}",
                "run",
                "A run: stages, plan tasks, gates, evidence, lineage, events",
            ),
            t("l9://packet/{id}", "packet", "A packet of L9's memory, with its lineage links"),
            t("l9://world/{id}", "world item", "A world-model item with its validity and votes"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        match self.read(&uri).await.map_err(|e| ErrorData::internal_error(e, None))? {
            Some(v) => {
                let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string());
                let contents = ResourceContents::TextResourceContents {
                    uri,
                    mime_type: Some("application/json".into()),
                    text,
                    meta: None,
                };
                Ok(ReadResourceResult::new(vec![contents]).into())
            }
            None => Err(ErrorData::resource_not_found(
                format!(
                    "nothing at {uri}: runs are l9://run/ID, packets l9://packet/ID, world items l9://world/ID"
                ),
                Some(json!({"uri": uri})),
            )),
        }
    }
}

/// Serves MCP on stdin/stdout until the client closes them (`l9 mcp`).
pub async fn serve_stdio(engine: Engine) -> Result<(), String> {
    let running = L9Mcp::new(engine, "stdio")
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP on stdio: {e}"))?;
    running.waiting().await.map_err(|e| format!("MCP on stdio: {e}"))?;
    Ok(())
}

/// What `/mcp` on `l9 serve` accepts beyond the token: `Host` names (DNS-rebinding
/// protection) and browser origins (none unless configured).
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// `Host` values accepted besides `localhost`, `127.0.0.1` and `::1` (e.g. the bound
    /// address); `"*"` accepts any (a server bound to all interfaces, behind its token).
    pub hosts: Vec<String>,
    /// Browser origins allowed to call; empty: every request carrying an `Origin` is refused.
    pub origins: Vec<String>,
}

/// The streamable HTTP service for `/mcp`, stopped (streams closed) when `stop` is cancelled.
pub fn http_service(
    engine: Engine,
    opts: HttpOptions,
    stop: CancellationToken,
) -> StreamableHttpService<L9Mcp, LocalSessionManager> {
    let any_host = opts.hosts.iter().any(|h| h == "*");
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.extend(opts.hosts);
    let mut config = rmcp::transport::streamable_http_server::StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(opts.origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(l9_types::limits::REQUEST_BYTES.get_usize())
        .with_cancellation_token(stop);
    if any_host {
        config = config.disable_allowed_hosts();
    }
    StreamableHttpService::new(
        move || Ok(L9Mcp::new(engine.clone(), "http")),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
