//! `/openapi.json`: an OpenAPI 3.1 document generated from the routes as registered.

use axum::http::Method;
use serde_json::{Map, Value, json};

/// One registered route.
#[derive(Debug, Clone)]
pub(crate) struct RouteDoc {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    /// The request body: its schema's name and the schema.
    pub body: Option<(&'static str, schemars::Schema)>,
}

pub(crate) fn document(routes: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "help": {"type": ["string", "null"]}},
            "required": ["code", "message"]}}, "required": ["error"]}),
    );
    for r in routes {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}, "description": "an id, a unique prefix of one, or `last`"}))
            .collect();
        let mut op = json!({
            "summary": r.summary,
            "operationId": operation_id(&r.method, r.path),
            "parameters": params,
            "security": [{"token": []}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "401": {"description": "no token, or a wrong one", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "4XX": {"description": "the request is wrong; the error names the problem", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if r.path.ends_with("/events") {
            op["responses"]["200"] = json!({"description": "Server-Sent Events: one `RunEvent` per message, `id` = the event id", "content": {"text/event-stream": {}}});
        }
        if let Some((name, schema)) = &r.body {
            let mut s = serde_json::to_value(schema).unwrap_or(Value::Null);
            if let Some(o) = s.as_object_mut() {
                o.remove("$schema");
            }
            schemas.insert((*name).to_string(), s);
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}});
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.as_str().to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "L9", "version": env!("CARGO_PKG_VERSION"), "description": "L9's API: runs, their events, tasks, memory, world model, IR. Every route requires the project's token (.l9/token)."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    })
}

fn operation_id(m: &Method, path: &str) -> String {
    let words: Vec<&str> =
        path.trim_start_matches("/api/v1/").split('/').filter(|s| !s.starts_with('{')).collect();
    format!("{}_{}", m.as_str().to_lowercase(), words.join("_"))
}
