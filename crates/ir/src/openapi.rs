//! OpenAPI 3.0 and 3.1 (webhooks and callbacks included) and Swagger 2.0, JSON or YAML (merge keys applied).
//! The API's title is the goal; tags (or the first path segment when an operation has none)
//! are components; every operation is an interface with its parameters and request/response
//! schemas by name; every documented response is an acceptance criterion that verifies its
//! operation; security schemes are constraints on the
//! operations they guard; a sentence of the API's or an operation's description with a firm
//! normative keyword is a requirement (`stated.rs`). `$ref`s are resolved inside the document
//! and, when the caller gives a [`crate::RefLoader`], in the other files they name
//! (`external.rs`); cycles and references that name nothing are tolerated and reported once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use l9_types::Diagnostic;
use serde_json::Value;

use crate::builder::{Builder, Draft};
use crate::model::{EdgeKind, InterfaceDetail, NodeKind, Parameter};

mod external;
mod locate;
mod stated;

use locate::Locator;

/// Why an operation implements a requirement its description states (the challenger
/// compares such requirements per operation).
pub(crate) const OPERATION_DESCRIPTION: &str = "operation description";

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Parses JSON or YAML into a value, or reports where it broke.
pub(crate) fn parse(b: &mut Builder<'_>) -> Option<Value> {
    let src = b.text;
    if src.trim_start().starts_with('{') {
        match serde_json::from_str::<Value>(src) {
            Ok(v) => Some(v),
            Err(e) => {
                let at = b.idx.line_start(e.line()) + e.column().saturating_sub(1);
                b.diag(
                    Diagnostic::error("L9-IR-010", format!("the document is not valid JSON: {e}"))
                        .with_help("fix the JSON at this position (a validator such as `jq .` shows the same place)"),
                    at,
                    at,
                );
                None
            }
        }
    } else {
        if let Some((line, why)) = l9_types::yaml_depth::check(src) {
            let at = b.idx.line_start(line);
            b.diag(
                Diagnostic::error("L9-IR-010", format!("the document is {why}")).with_help(
                    "an API description is a few dozen levels deep at most; check the file",
                ),
                at,
                at,
            );
            return None;
        }
        match yaml_serde::from_str::<Value>(src) {
            Ok(mut v) => {
                merge_keys(&mut v, 0);
                Some(v)
            }
            Err(e) => {
                let at = e.location().map_or(0, |l| l.index());
                let help = if e.to_string().contains("repetition limit") {
                    "the document's aliases (`*name`) expand it too many times (an alias bomb); write the repeated parts out or reference them with `$ref`"
                } else {
                    "fix the YAML at this position; indentation and unquoted `:` are the usual causes"
                };
                b.diag(
                    Diagnostic::error("L9-IR-010", format!("the document is not valid YAML: {e}"))
                        .with_help(help),
                    at,
                    at,
                );
                None
            }
        }
    }
}

/// Applies YAML merge keys (`<<: *common`, `<<: [*a, *b]`), which the parser leaves as a key
/// named `<<`: the merged mappings' entries join the mapping where it has no such key (of
/// several, the first listed wins), recursively. The depth is bounded as the YAML's is.
fn merge_keys(v: &mut Value, depth: usize) {
    if depth > 256 {
        return;
    }
    match v {
        Value::Object(map) => {
            if let Some(merged) = map.remove("<<") {
                let sources = match merged {
                    Value::Array(list) => list,
                    one => vec![one],
                };
                for source in sources {
                    if let Value::Object(entries) = source {
                        for (k, val) in entries {
                            map.entry(k).or_insert(val);
                        }
                    }
                }
            }
            for val in map.values_mut() {
                merge_keys(val, depth + 1);
            }
        }
        Value::Array(list) => list.iter_mut().for_each(|x| merge_keys(x, depth + 1)),
        _ => {}
    }
}

#[derive(Debug)]
struct Doc<'v> {
    root: &'v Value,
    ext: &'v external::Externals,
    reported: BTreeSet<String>,
    /// A `$ref` that names nothing, and why when its file could not be read.
    unresolved: Vec<(String, Option<String>)>,
}

impl<'v> Doc<'v> {
    /// Follows `$ref`s (up to 32 hops, so cycles end) to the value they name.
    fn deref(&mut self, mut v: &'v Value) -> &'v Value {
        let mut seen = BTreeSet::new();
        for _ in 0..32 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else { return v };
            if !seen.insert(r.to_string()) {
                return v;
            }
            let found = match r.strip_prefix('#') {
                // A `$ref` is a URI: its fragment may be percent-encoded (`%7Bid%7D` for `{id}`).
                Some(p) => pointer(self.root, p)
                    .or_else(|| pointer(self.root, &external::percent_decoded(p)))
                    .ok_or(None),
                None if self.ext.docs.is_empty() && self.ext.failed.is_empty() => Err(None),
                None => self.ext.resolve(r).map_err(Some),
            };
            match found {
                Ok(target) => v = target,
                Err(why) => {
                    if self.reported.insert(r.to_string()) {
                        self.unresolved.push((r.to_string(), why));
                    }
                    return v;
                }
            }
        }
        v
    }

    /// A schema by name: `User`, `User[]`, `A | B`, `string`, `object`.
    fn schema_name(&mut self, v: &'v Value, depth: usize) -> String {
        if depth > 8 {
            return "…".into();
        }
        if let Some(r) = v.get("$ref").and_then(Value::as_str) {
            return ref_name(r);
        }
        for (key, sep) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
            if let Some(list) = v.get(key).and_then(Value::as_array) {
                let names: Vec<String> =
                    list.iter().map(|x| self.schema_name(x, depth + 1)).collect();
                return names.join(sep);
            }
        }
        match v.get("type") {
            Some(Value::String(t)) if t == "array" => {
                let items = v
                    .get("items")
                    .map_or_else(|| "any".to_string(), |i| self.schema_name(i, depth + 1));
                format!("{items}[]")
            }
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => {
                ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | ")
            }
            _ if v.get("properties").is_some() => "object".into(),
            _ => "any".into(),
        }
    }

    fn content_schema(&mut self, body: &'v Value) -> Option<String> {
        let body = self.deref(body);
        let content = body.get("content")?.as_object()?;
        let media = content
            .get("application/json")
            .or_else(|| content.iter().find(|(k, _)| k.contains("json")).map(|(_, v)| v))
            .or_else(|| content.values().next())?;
        let schema = media.get("schema")?;
        Some(self.schema_name(schema, 0))
    }
}

/// The name a `$ref` gives its schema: the pointer's last step (`#/components/schemas/User`,
/// `common.yaml#/Error`), or the file's stem when it names a whole file (`schemas/Pet.yaml`).
fn ref_name(r: &str) -> String {
    match r.split_once('#') {
        Some((_, frag)) if !frag.is_empty() => frag.rsplit('/').next().unwrap_or(frag),
        _ => {
            let file = r.split('#').next().unwrap_or(r);
            let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
            base.split_once('.').map_or(base, |(stem, _)| stem)
        }
    }
    .to_string()
}

/// JSON pointer (`/components/schemas/User`, with `~1` and `~0` escapes).
fn pointer<'v>(root: &'v Value, p: &str) -> Option<&'v Value> {
    if p.is_empty() {
        return Some(root);
    }
    let mut v = root;
    for part in p.strip_prefix('/')?.split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        v = match v {
            Value::Object(m) => m.get(&part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Which OpenAPI a document is written in. Swagger 2.0 keeps a parameter's type on the
/// parameter itself, a response's schema on the response, a request body in an `in: body`
/// (or `in: formData`) parameter and its security schemes under `securityDefinitions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Swagger2,
    Oas3,
}

/// What every operation of a document is read against.
struct Api<'a> {
    loc: Locator<'a>,
    dialect: Dialect,
    title: String,
    goal: String,
    /// Tag → component node.
    components: HashMap<String, String>,
    /// Security scheme name → constraint node.
    schemes: BTreeMap<String, String>,
    global_security: Vec<String>,
}

pub(crate) fn compile(b: &mut Builder<'_>) {
    let Some(mut root) = parse(b) else { return };
    let ext = external::read(&mut root, b.loader);
    let openapi = root.get("openapi").and_then(Value::as_str).unwrap_or("");
    let swagger = match root.get("swagger") {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let dialect = if openapi.starts_with("3.") {
        Dialect::Oas3
    } else if swagger == "2.0" || swagger == "2" {
        Dialect::Swagger2
    } else {
        let (msg, help) = if root.get("swagger").is_some() {
            (
                format!(
                    "Swagger {swagger} documents are not supported (only Swagger 2.0 and OpenAPI 3.x are)"
                ),
                "convert it to OpenAPI 3 (e.g. with swagger2openapi) and compile that",
            )
        } else {
            (
                "not an OpenAPI 3 or Swagger 2.0 document (no `openapi: 3.x` or `swagger: \"2.0\"` field)".to_string(),
                "add the `openapi` field, or pass --format to read the file as another kind",
            )
        };
        b.diag(Diagnostic::error("L9-IR-011", msg).with_help(help), 0, 0);
        return;
    };
    let loc = Locator { text: b.text };
    let mut doc = Doc { root: &root, ext: &ext, reported: BTreeSet::new(), unresolved: Vec::new() };
    let title = root.pointer("/info/title").and_then(Value::as_str).unwrap_or("API").to_string();
    let title_at = loc.top("info").and_then(|i| loc.key("title", i)).unwrap_or(0);
    let goal =
        b.add(Draft::new(NodeKind::Goal, title.clone(), title_at, title_at + 5).confidence(0.95));
    // What the API's description requires in words.
    if let Some(desc) = root.pointer("/info/description").and_then(Value::as_str) {
        let at = loc.top("info").and_then(|i| loc.key("description", i)).unwrap_or(title_at);
        for (text, strength) in stated::requirements(desc) {
            let id = b.add(
                Draft::new(NodeKind::Requirement, text, at, at + "description".len())
                    .section(std::slice::from_ref(&title))
                    .strength(Some(strength))
                    .confidence(0.8),
            );
            b.edge(&id, &goal, EdgeKind::Refines, "API description");
        }
    }
    let mut api = Api {
        loc,
        dialect,
        title,
        goal,
        components: HashMap::new(),
        schemes: BTreeMap::new(),
        global_security: security_names(root.get("security")),
    };

    // Tags → components.
    let tags_at = api.loc.top("tags").unwrap_or(0);
    if let Some(tags) = root.get("tags").and_then(Value::as_array) {
        // A list keeps the document's order: each tag is looked for after the one before.
        let mut cursor = tags_at;
        for t in tags {
            let Some(name) = t.get("name").and_then(Value::as_str) else { continue };
            let at = api.loc.key("name", cursor).unwrap_or(tags_at);
            cursor = at + "name".len() + 1;
            let id = b.add(
                Draft::new(NodeKind::Component, name, at, at + 4).section(&[api.title.clone()]),
            );
            b.edge(&id, &api.goal, EdgeKind::Refines, "tag");
            api.components.insert(name.to_string(), id);
        }
    }

    // Security schemes → constraints.
    let (schemes_at, schemes_key) = match dialect {
        Dialect::Oas3 => ("/components/securitySchemes", "securitySchemes"),
        Dialect::Swagger2 => ("/securityDefinitions", "securityDefinitions"),
    };
    if let Some(map) = root.pointer(schemes_at).and_then(Value::as_object) {
        let base = match dialect {
            Dialect::Oas3 => api.loc.top("components").and_then(|c| api.loc.key(schemes_key, c)),
            Dialect::Swagger2 => api.loc.top(schemes_key),
        }
        .unwrap_or(0);
        for (name, scheme) in map {
            let scheme = doc.deref(scheme);
            let at = api.loc.key(name, base).unwrap_or(base);
            let text = describe_scheme(name, scheme);
            let id = b.add(
                Draft::new(NodeKind::Constraint, text, at, at + name.len())
                    .section(&[api.title.clone()]),
            );
            b.edge(&id, &api.goal, EdgeKind::Constrains, "security scheme");
            api.schemes.insert(name.clone(), id);
        }
    }

    let paths = root.get("paths").and_then(Value::as_object);
    // Azure's extension: paths that differ from others only by their query string.
    let ms_paths = root.get("x-ms-paths").and_then(Value::as_object);
    // OpenAPI 3.1: the requests the API sends to its consumers.
    let webhooks = root.get("webhooks").and_then(Value::as_object);
    if paths.is_none() && ms_paths.is_none() && webhooks.is_none() {
        b.diag(
            Diagnostic::warning("L9-IR-014", "the document has no `paths`").with_help(
                "an OpenAPI document without paths (or 3.1 webhooks) yields no interfaces",
            ),
            0,
            0,
        );
    }
    for (key, map, webhook) in
        [("paths", paths, false), ("x-ms-paths", ms_paths, false), ("webhooks", webhooks, true)]
    {
        let origin = if webhook { Origin::Webhook } else { Origin::Path };
        let Some(map) = map else { continue };
        let base = api.loc.top(key).unwrap_or(0);
        // Paths are many and start with `/`: located in one pass. Webhooks are few and named.
        let located = if webhook { HashMap::new() } else { api.loc.path_keys(base) };
        for (path, item) in map {
            let at = located
                .get(path.as_str())
                .copied()
                .or_else(|| api.loc.key(path, base))
                .unwrap_or(base);
            api.path_item(b, &mut doc, path, at, item, &origin);
        }
    }
    report_unresolved(b, &doc);
}

impl Api<'_> {
    /// The operations of one path item (or 3.1 webhook): an interface each, its documented
    /// responses as acceptance criteria, its security schemes as constraints.
    fn path_item<'v>(
        &mut self,
        b: &mut Builder<'_>,
        doc: &mut Doc<'v>,
        path: &str,
        path_at: usize,
        item: &'v Value,
        origin: &Origin,
    ) {
        let webhook = !matches!(origin, Origin::Path);
        // An item kept elsewhere (`$ref`) has its operations there, not after its path here.
        let referred = item.get("$ref").is_some();
        let item = doc.deref(item);
        let shared_params: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let title = self.title.clone();
        for &method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let op_at =
                if referred { path_at } else { self.loc.key(method, path_at).unwrap_or(path_at) };
            let tag = op
                .get("tags")
                .and_then(Value::as_array)
                .and_then(|t| t.first())
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    match origin {
                        Origin::Webhook => return "webhooks".to_string(),
                        Origin::Callback(tag) => return tag.clone(),
                        Origin::Path => {}
                    }
                    path.trim_start_matches('/')
                        .split('/')
                        .find(|s| !s.is_empty() && !s.starts_with('{'))
                        .unwrap_or("root")
                        .to_string()
                });
            let component = match self.components.get(&tag) {
                Some(id) => id.clone(),
                None => {
                    let id = b.add(
                        Draft::new(NodeKind::Component, tag.clone(), op_at, op_at + method.len())
                            .section(std::slice::from_ref(&title))
                            .confidence(0.7),
                    );
                    let why = if webhook { "webhooks" } else { "path segment" };
                    b.edge(&id, &self.goal, EdgeKind::Refines, why);
                    self.components.insert(tag.clone(), id.clone());
                    id
                }
            };
            let mut params = Vec::new();
            let mut request = op.get("requestBody").and_then(|r| doc.content_schema(r));
            for p in shared_params
                .iter()
                .copied()
                .chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten())
            {
                let p = doc.deref(p);
                let Some(name) = p.get("name").and_then(Value::as_str) else { continue };
                let location = p.get("in").and_then(Value::as_str).unwrap_or("query").to_string();
                let schema = match self.dialect {
                    Dialect::Oas3 => p.get("schema").map(|s| doc.schema_name(s, 0)),
                    // Swagger 2.0: a body parameter is the request body; form fields make
                    // one (an object, as a conversion to OpenAPI 3 writes it); any other
                    // parameter carries its type itself.
                    Dialect::Swagger2 if location == "body" => {
                        request = p.get("schema").map(|s| doc.schema_name(s, 0));
                        continue;
                    }
                    Dialect::Swagger2 if location == "formData" => {
                        request.get_or_insert_with(|| "object".to_string());
                        continue;
                    }
                    Dialect::Swagger2 => Some(doc.schema_name(p, 0)),
                };
                let required =
                    p.get("required").and_then(Value::as_bool).unwrap_or(location == "path");
                params.retain(|x: &Parameter| !(x.name == name && x.location == location));
                params.push(Parameter { name: name.to_string(), location, required, schema });
            }
            let mut responses = BTreeMap::new();
            let summary = op
                .get("summary")
                .or_else(|| op.get("operationId"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let upper = method.to_uppercase();
            let what = match origin {
                Origin::Path => format!("{upper} {path}"),
                Origin::Webhook => format!("{upper} webhook {path}"),
                Origin::Callback(_) => format!("{upper} callback {path}"),
            };
            let text = if summary.is_empty() { what.clone() } else { format!("{what}: {summary}") };
            let mut d = Draft::new(NodeKind::Interface, text, op_at, op_at + method.len() + 2)
                .section(&[title.clone(), tag.clone()]);
            let op_tags: Vec<String> = op
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            d.tags = op_tags;
            let mut acs = Vec::new();
            if let Some(map) = op.get("responses").and_then(Value::as_object) {
                let resp_at = self.loc.key("responses", op_at).unwrap_or(op_at);
                for (code, resp) in map {
                    let resp = doc.deref(resp);
                    let schema = match self.dialect {
                        Dialect::Oas3 => doc.content_schema(resp),
                        Dialect::Swagger2 => resp.get("schema").map(|s| doc.schema_name(s, 0)),
                    }
                    .unwrap_or_else(|| "-".into());
                    responses.insert(code.clone(), schema.clone());
                    let desc = resp.get("description").and_then(Value::as_str).unwrap_or("").trim();
                    let at = self.loc.key(code, resp_at).unwrap_or(resp_at);
                    let body =
                        if schema == "-" { String::new() } else { format!(" with {schema}") };
                    let said = if desc.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", first_line(desc))
                    };
                    acs.push((format!("{what} responds {code}{body}{said}"), at, at + code.len()));
                }
            }
            d.interface = Some(InterfaceDetail {
                method: upper.clone(),
                path: path.to_string(),
                operation_id: op.get("operationId").and_then(Value::as_str).map(str::to_string),
                parameters: params,
                request,
                responses,
                deprecated: op.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
            });
            let iface = b.add(d);
            b.edge(&iface, &component, EdgeKind::Refines, "tag");
            // What the operation's description requires in words: the operation implements it.
            let stated = op.get("description").and_then(Value::as_str).map(stated::requirements);
            for (text, strength) in stated.unwrap_or_default() {
                let req = b.add(
                    Draft::new(NodeKind::Requirement, text, op_at, op_at + method.len())
                        .section(&[title.clone(), tag.clone()])
                        .strength(Some(strength))
                        .confidence(0.8),
                );
                b.edge(&iface, &req, EdgeKind::Implements, OPERATION_DESCRIPTION);
            }
            for (text, s, e) in acs {
                let ac = b.add(
                    Draft::new(NodeKind::AcceptanceCriterion, text, s, e)
                        .section(&[title.clone(), tag.clone()])
                        .confidence(0.9),
                );
                b.edge(&ac, &iface, EdgeKind::Verifies, "documented response");
            }
            // The API's own security guards what clients call, not the calls it makes back.
            let security = if op.get("security").is_some() {
                security_names(op.get("security"))
            } else if matches!(origin, Origin::Callback(_)) {
                Vec::new()
            } else {
                self.global_security.clone()
            };
            let defined_at = match self.dialect {
                Dialect::Oas3 => "components.securitySchemes",
                Dialect::Swagger2 => "securityDefinitions",
            };
            for name in security {
                if let Some(con) = self.schemes.get(&name) {
                    b.edge(con, &iface, EdgeKind::Constrains, "security requirement");
                } else {
                    b.diag(
                        Diagnostic::warning(
                            "L9-IR-013",
                            format!(
                                "{what} requires security scheme `{name}`, which is not defined"
                            ),
                        )
                        .with_help(format!("define it under {defined_at}")),
                        op_at,
                        op_at + method.len(),
                    );
                }
            }
            // OpenAPI 3 callbacks: the requests the API sends back to a client in answer to
            // this operation, each an interface of the operation's component (one level: a
            // callback's own callbacks are not read).
            if matches!(origin, Origin::Path)
                && let Some(callbacks) = op.get("callbacks").and_then(Value::as_object)
            {
                let at = self.loc.key("callbacks", op_at).unwrap_or(op_at);
                for (name, callback) in callbacks {
                    let Some(exprs) = doc.deref(callback).as_object() else { continue };
                    for (expr, item) in exprs {
                        let origin = Origin::Callback(tag.clone());
                        self.path_item(b, doc, &format!("{name} {expr}"), at, item, &origin);
                    }
                }
            }
        }
    }
}

/// Where a path item is written: under `paths`, under 3.1's `webhooks`, or as a callback of
/// an operation (with that operation's component).
#[derive(Debug)]
enum Origin {
    Path,
    Webhook,
    Callback(String),
}

fn report_unresolved(b: &mut Builder<'_>, doc: &Doc<'_>) {
    for (r, why) in &doc.unresolved {
        let r = doc.ext.as_written(r);
        let loc = Locator { text: b.text };
        let found = memchr::memmem::find(b.text.as_bytes(), r.as_bytes()).or_else(|| loc.key(r, 0));
        let (at, len) = found.map_or((0, 0), |at| (at, r.len()));
        let (message, help) = match why {
            Some(why) => (
                format!("$ref `{r}` names nothing that could be read: {why}"),
                "fix the path or the pointer (a file is named relative to the document that refers to it)",
            ),
            None if r.starts_with('#') => {
                (format!("$ref `{r}` does not resolve inside this document"), "fix the pointer")
            }
            None => (
                format!(
                    "$ref `{r}` names another file, which is read only when the spec is compiled from a file"
                ),
                "compile the spec from its file (`l9 ir compile FILE`), or bundle it into one document (e.g. `redocly bundle`)",
            ),
        };
        b.diag(Diagnostic::warning("L9-IR-012", message).with_help(help), at, at + len);
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    if line.chars().count() > 120 {
        format!("{}…", line.chars().take(120).collect::<String>())
    } else {
        line.to_string()
    }
}

fn security_names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|reqs| {
            reqs.iter()
                .filter_map(Value::as_object)
                .flat_map(|o| o.keys().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default()
}

fn describe_scheme(name: &str, s: &Value) -> String {
    let kind = s.get("type").and_then(Value::as_str).unwrap_or("unknown");
    let detail = match kind {
        "http" => {
            let scheme = s.get("scheme").and_then(Value::as_str).unwrap_or("?");
            match s.get("bearerFormat").and_then(Value::as_str) {
                Some(f) => format!("HTTP {scheme} authentication ({f})"),
                None => format!("HTTP {scheme} authentication"),
            }
        }
        // Swagger 2.0's name for HTTP basic authentication.
        "basic" => "HTTP basic authentication".to_string(),
        "apiKey" => format!(
            "an API key in the {} `{}`",
            s.get("in").and_then(Value::as_str).unwrap_or("?"),
            s.get("name").and_then(Value::as_str).unwrap_or("?")
        ),
        "oauth2" => {
            // OpenAPI 3's `flows` by name, or Swagger 2.0's one `flow`.
            let flows: Vec<&str> = s
                .get("flows")
                .and_then(Value::as_object)
                .map(|f| f.keys().map(String::as_str).collect())
                .or_else(|| s.get("flow").and_then(Value::as_str).map(|f| vec![f]))
                .unwrap_or_default();
            format!("OAuth 2.0 ({})", flows.join(", "))
        }
        "openIdConnect" => "OpenID Connect".to_string(),
        "mutualTLS" => "mutual TLS".to_string(),
        other => other.to_string(),
    };
    format!("Requests authenticate with `{name}`: {detail}")
}
