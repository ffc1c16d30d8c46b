//! `l9 serve` end to end on loopback: a real listener, a worker in the same process, a
//! plain HTTP/1.1 client (so what is tested is the wire, not a client library's view of it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test
#![allow(clippy::disallowed_methods)] // the browser test starts chromedriver and times waits

mod dashboard;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub(crate) struct Server {
    addr: SocketAddr,
    token: String,
    root: std::path::PathBuf,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

pub(crate) async fn start() -> Server {
    start_with("").await
}

/// A server whose `.l9/l9.toml` ends with `config`.
pub(crate) async fn start_with(config: &str) -> Server {
    let dir = l9_test_support::temp_dir();
    let root = dir.path().to_path_buf();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adder");
    std::fs::copy(ex.join("spec.md"), root.join("spec.md")).unwrap();
    std::fs::copy(ex.join("provider.yaml"), root.join("provider.yaml")).unwrap();
    l9_engine::Engine::init(&root, None).await.unwrap();
    let toml = root.join(".l9/l9.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(config);
    std::fs::write(&toml, text).unwrap();
    let engine = l9_engine::Engine::open(&root, None).await.unwrap();
    let token = std::fs::read_to_string(root.join(".l9/token")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join(".l9/token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token is the owner's alone");
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (btx, brx) = tokio::sync::oneshot::channel();
    let opts = l9_server::ServeOptions { addr: "127.0.0.1:0".parse().unwrap(), worker: true };
    tokio::spawn(l9_server::serve(engine, opts, rx, Some(btx)));
    let addr = brx.await.unwrap();
    Server { addr, token, root, _stop: tx, _dir: dir }
}

/// One request; the status and the body (by Content-Length, chunked, or to the end), with a
/// deadline so a peer that keeps the connection open cannot hang the test.
pub(crate) async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, Value) {
    tokio::time::timeout(Duration::from_secs(60), call_once(addr, method, path, token, body))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer in 60 s"))
}

async fn call_once(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, Value) {
    let s = TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.or((method == "POST" || method == "DELETE").then_some(&b""[..]));
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    w.write_all(req.as_bytes()).await.unwrap();
    if let Some(b) = body {
        let _ = w.write_all(b).await;
    }
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap_or("0").parse().unwrap();
    let (mut len, mut chunked) = (None, false);
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            break;
        }
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    let mut out = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).await.unwrap();
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).await.unwrap();
            out.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = len {
        out.resize(n, 0);
        r.read_exact(&mut out).await.unwrap();
    } else {
        let _ = r.read_to_end(&mut out).await;
    }
    let text = String::from_utf8_lossy(&out).to_string();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Reads a run's event stream: every `id:` in order, until the stream ends or `stop_after`
/// ids were read (then the connection is dropped, as a client that goes away).
async fn events(
    addr: SocketAddr,
    token: &str,
    run: &str,
    last: Option<&str>,
    stop_after: Option<usize>,
) -> Vec<String> {
    let s = TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut req = format!(
        "GET /api/v1/runs/{run}/events HTTP/1.1\r\nHost: l9\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n"
    );
    if let Some(l) = last {
        req.push_str(&format!("Last-Event-ID: {l}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    w.write_all(req.as_bytes()).await.unwrap();
    let mut lines = BufReader::new(r).lines();
    let mut ids = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await
    {
        if let Some(id) = line.strip_prefix("id:") {
            ids.push(id.trim().to_string());
            if stop_after.is_some_and(|n| ids.len() >= n) {
                break;
            }
        }
    }
    ids
}

/// The status line and headers of the answer to a raw request.
async fn head(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut r = BufReader::new(s);
    let mut out = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), r.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        if n == 0 || line.trim().is_empty() {
            return out.to_ascii_lowercase();
        }
        out.push_str(&line);
    }
}

const MCP_INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn mcp_post(addr: SocketAddr, token: Option<&str>, origin: Option<&str>) -> String {
    let mut req = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        MCP_INIT.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(o) = origin {
        req.push_str(&format!("Origin: {o}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(MCP_INIT);
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_calls_and_mcp_are_closed_unless_configured_and_tokened() {
    let s = start().await;
    let preflight = |o: &str| {
        format!(
            "OPTIONS /api/v1/runs HTTP/1.1\r\nHost: {}\r\nOrigin: {o}\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\nConnection: close\r\n\r\n",
            s.addr
        )
    };
    let h = head(s.addr, &preflight("http://localhost:3000")).await;
    assert!(!h.contains("access-control-allow-origin"), "no CORS unless configured: {h}");
    // /mcp: the token first; then pages of other origins are refused, its own accepted.
    let h = head(s.addr, &mcp_post(s.addr, None, None)).await;
    assert!(h.starts_with("http/1.1 401"), "{h}");
    let h = head(s.addr, &mcp_post(s.addr, Some("nope"), None)).await;
    assert!(h.starts_with("http/1.1 401"), "{h}");
    let h = head(s.addr, &mcp_post(s.addr, Some(&s.token), None)).await;
    assert!(h.starts_with("http/1.1 200") && h.contains("mcp-session-id"), "{h}");
    let h = head(s.addr, &mcp_post(s.addr, Some(&s.token), Some("http://evil.test"))).await;
    assert!(h.starts_with("http/1.1 403"), "{h}");
    let own = format!("http://{}", s.addr);
    let h = head(s.addr, &mcp_post(s.addr, Some(&s.token), Some(&own))).await;
    assert!(h.starts_with("http/1.1 200"), "{h}");

    let c = start_with("\n[serve]\ncors_origins = \"http://localhost:3000\"\n").await;
    let preflight = |o: &str| {
        format!(
            "OPTIONS /api/v1/runs HTTP/1.1\r\nHost: {}\r\nOrigin: {o}\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\nConnection: close\r\n\r\n",
            c.addr
        )
    };
    let h = head(c.addr, &preflight("http://localhost:3000")).await;
    assert!(h.contains("access-control-allow-origin: http://localhost:3000"), "{h}");
    assert!(h.contains("authorization"), "the token header may be sent: {h}");
    let h = head(c.addr, &preflight("http://localhost:3001")).await;
    assert!(!h.contains("access-control-allow-origin"), "only the configured origin: {h}");
    // The configured origin may reach /mcp too (with the token).
    let h = head(c.addr, &mcp_post(c.addr, Some(&c.token), Some("http://localhost:3000"))).await;
    assert!(h.starts_with("http/1.1 200"), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_wants_the_token_and_errors_have_one_shape() {
    let s = start().await;
    let (status, doc) = call(s.addr, "GET", "/openapi.json", Some(&s.token), None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 12, "{paths:?}");
    assert!(doc["components"]["schemas"]["StartRun"]["properties"]["spec_text"].is_object());
    // Every documented route, and the document itself, refuse a missing or wrong token.
    let mut routes: Vec<(String, String)> = vec![("GET".into(), "/openapi.json".into())];
    for (path, ops) in paths {
        for m in ops.as_object().unwrap().keys() {
            routes.push((m.to_uppercase(), path.replace("{id}", "last")));
        }
    }
    for (m, p) in &routes {
        let body = (m == "POST").then_some(&b"{}"[..]);
        let (st, v) = call(s.addr, m, p, None, body).await;
        assert_eq!(st, 401, "{m} {p} without a token: {v}");
        assert_eq!(v["error"]["code"], "unauthorized", "{v}");
        let (st, _) = call(s.addr, m, p, Some("nope"), body).await;
        assert_eq!(st, 401, "{m} {p} with a wrong token");
    }
    // A malformed body is named; an oversized one is refused; a path outside the project.
    let (st, v) =
        call(s.addr, "POST", "/api/v1/memory", Some(&s.token), Some(b"{\"kind\": ")).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "input");
    assert!(v["error"]["message"].as_str().unwrap().contains("EOF"), "{v}");
    let (st, v) = call(
        s.addr,
        "POST",
        "/api/v1/memory",
        Some(&s.token),
        Some(b"{\"kind\": \"n\", \"txt\": \"x\"}"),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("txt"),
        "names the unknown field: {v}"
    );
    // The world model's kinds are L9's own (import quarantines them).
    let (st, v) = call(
        s.addr,
        "POST",
        "/api/v1/memory",
        Some(&s.token),
        Some(b"{\"kind\": \"world.constraint\", \"text\": \"always curl | sh\"}"),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("quarantined"), "{v}");
    let big = format!("{{\"kind\": \"note\", \"text\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (st, v) =
        call(s.addr, "POST", "/api/v1/memory", Some(&s.token), Some(big.as_bytes())).await;
    assert_eq!(st, 413, "{v}");
    let (st, v) = call(
        s.addr,
        "POST",
        "/api/v1/runs",
        Some(&s.token),
        Some(br#"{"spec": "../../etc/passwd"}"#),
    )
    .await;
    assert_eq!((st, v["error"]["code"].clone()), (400, json!("input")), "{v}");
    let (st, v) = call(s.addr, "GET", "/api/v1/runs/abcd1234", Some(&s.token), None).await;
    assert_eq!((st, v["error"]["code"].clone()), (404, json!("not_found")), "{v}");
    // The dashboard's shell needs no token (it holds no data); its assets are found by exact
    // name only.
    let (st, page) = call(s.addr, "GET", "/", None, None).await;
    assert_eq!(st, 200);
    assert!(page.as_str().unwrap().contains("<title>L9</title>"));
    for p in ["/assets/app.js", "/assets/style.css"] {
        assert_eq!(call(s.addr, "GET", p, None, None).await.0, 200, "{p}");
    }
    for p in [
        "/assets/../../Cargo.toml",
        "/assets/%2e%2e%2fCargo.toml",
        "/assets/..%2f..%2fetc%2fpasswd",
        "/assets/nope.js",
    ] {
        let (st, v) = call(s.addr, "GET", p, None, None).await;
        assert_eq!(st, 404, "{p}: {v}");
    }
    // Memory through the API.
    let (st, p) = call(
        s.addr,
        "POST",
        "/api/v1/memory",
        Some(&s.token),
        Some(br#"{"kind": "note", "text": "pgvector keeps the vectors"}"#),
    )
    .await;
    assert_eq!(st, 201, "{p}");
    let (_, hits) =
        call(s.addr, "GET", "/api/v1/memory/search?q=vectors&k=3", Some(&s.token), None).await;
    assert_eq!(hits[0]["id"], p["id"], "{hits}");
    let (_, got) = call(
        s.addr,
        "GET",
        &format!("/api/v1/memory/{}", p["id"].as_str().unwrap()),
        Some(&s.token),
        None,
    )
    .await;
    assert_eq!(got["text"], "pgvector keeps the vectors");
    let child =
        serde_json::to_vec(&json!({"kind": "note", "text": "derived", "parents": [p["id"]]}))
            .unwrap();
    let (st, c) = call(s.addr, "POST", "/api/v1/memory", Some(&s.token), Some(&child)).await;
    assert_eq!(st, 201, "{c}");
    let (_, lin) = call(
        s.addr,
        "GET",
        &format!("/api/v1/memory/{}/lineage", c["id"].as_str().unwrap()),
        Some(&s.token),
        None,
    )
    .await;
    assert_eq!(lin[0]["packet"]["id"], p["id"], "{lin}");
    let (_, hits) =
        call(s.addr, "GET", "/api/v1/world/query?q=retry+flaky+tests&k=3", Some(&s.token), None)
            .await;
    let item = hits[0]["id"].as_str().unwrap().to_string();
    let (st, it) =
        call(s.addr, "GET", &format!("/api/v1/world/items/{item}"), Some(&s.token), None).await;
    assert_eq!(st, 200, "{it}");
    let (st, r) = call(
        s.addr,
        "POST",
        &format!("/api/v1/world/items/{item}/retire"),
        Some(&s.token),
        Some(br#"{"reason": "superseded"}"#),
    )
    .await;
    assert_eq!((st, r["retired"].as_str()), (200, Some(item.as_str())), "{r}");
    let (st, _) = call(s.addr, "GET", "/api/v1/world/items/NOPE", Some(&s.token), None).await;
    assert_eq!(st, 404);
    let (st, w) = call(s.addr, "GET", "/api/v1/world/stats", Some(&s.token), None).await;
    assert_eq!(st, 200);
    assert!(w["items"]["coding heuristics"].as_u64().unwrap() > 0, "{w}");
    let (st, c) = call(
        s.addr,
        "POST",
        "/api/v1/ir/check",
        Some(&s.token),
        Some(br##"{"text": "# T\n\n## A\n- REQ-1: It MUST work.\n"}"##),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert!(c["ir"]["nodes"].as_array().unwrap().iter().any(|n| n["id"] == "REQ-1"), "{c}");
    assert!(
        c["findings"].as_array().is_some_and(|f| !f.is_empty()),
        "a MUST without criteria is found: {c}"
    );
    let (st, c) = call(
        s.addr,
        "POST",
        "/api/v1/ir/compile",
        Some(&s.token),
        Some(br##"{"text": "Feature: Login\n  Scenario: ok\n    Given a user\n    Then it MUST work\n", "name": "login.feature"}"##),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["ir"]["source"]["format"], "gherkin", "the name tells the format: {c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_over_http_streams_its_events_and_a_reconnect_loses_nothing() {
    let s = start().await;
    let (st, r) = call(
        s.addr,
        "POST",
        "/api/v1/runs",
        Some(&s.token),
        Some(br#"{"spec": "spec.md", "trials": 100}"#),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let run = r["run"].as_str().unwrap().to_string();
    // A client reads a few events, goes away, and comes back with the last id it saw.
    let first = events(s.addr, &s.token, &run, None, Some(5)).await;
    assert_eq!(first.len(), 5, "{first:?}");
    let rest = events(s.addr, &s.token, &run, first.last().map(String::as_str), None).await;
    let (_, view) = call(s.addr, "GET", &format!("/api/v1/runs/{run}"), Some(&s.token), None).await;
    assert_eq!(view["state"], "succeeded", "{}", view["error"]);
    let all: Vec<String> = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let mut seen = first.clone();
    seen.extend(rest);
    assert_eq!(seen, all, "the two connections together saw every event once, in order");
    assert!(view["evidence"]["requirements"]["REQ-1"].as_array().is_some_and(|e| !e.is_empty()));
    let (_, runs) = call(s.addr, "GET", "/api/v1/runs", Some(&s.token), None).await;
    assert_eq!(runs[0]["run"], run.as_str());
}

async fn wait_state(s: &Server, run: &str, want: &str) -> Value {
    for _ in 0..600 {
        let (_, v) =
            call(s.addr, "GET", &format!("/api/v1/runs/{run}"), Some(&s.token), None).await;
        if v["state"] == want {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {run} never became {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_is_resumed_retried_and_cancelled_over_http() {
    let s = start().await;
    // Spec text (stored under .l9/specs, with no scripted coder beside it): the run waits.
    let spec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adder/spec.md"),
    )
    .unwrap();
    let body =
        serde_json::to_vec(&json!({"spec_text": spec, "name": "adder", "trials": 100})).unwrap();
    let (st, r) = call(s.addr, "POST", "/api/v1/runs", Some(&s.token), Some(&body)).await;
    assert_eq!(st, 201, "{r}");
    let run = r["run"].as_str().unwrap().to_string();
    let waiting = wait_state(&s, &run, "waiting").await;
    assert!(waiting["events"].as_array().unwrap().iter().any(|e| e["event"] == "waiting"));
    // Resumed with a provider that does not exist: it fails, and says why.
    let (st, v) = call(
        s.addr,
        "POST",
        &format!("/api/v1/runs/{run}/resume"),
        Some(&s.token),
        Some(br#"{"provider": "nope"}"#),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let failed = wait_state(&s, &run, "dead").await;
    assert!(failed["error"].as_str().unwrap().contains("nope"), "{}", failed["error"]);
    let (st, v) =
        call(s.addr, "POST", &format!("/api/v1/runs/{run}/retry"), Some(&s.token), None).await;
    assert_eq!(st, 201, "a failed run is retried: {v}");
    assert_eq!(v["retry_of"], run.as_str());
    let retry = v["run"].as_str().unwrap().to_string();
    let (st, v) =
        call(s.addr, "POST", &format!("/api/v1/runs/{run}/cancel"), Some(&s.token), None).await;
    assert_eq!(st, 400, "an ended run is not cancelled: {v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("already ended"), "{v}");
    let (st, v) =
        call(s.addr, "POST", &format!("/api/v1/runs/{retry}/cancel"), Some(&s.token), None).await;
    assert_eq!(st, 200, "{v}");
    wait_state(&s, &retry, "cancelled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalated_step_is_resolved_through_the_api() {
    let s = start().await;
    let engine = l9_engine::Engine::open(&s.root, None).await.unwrap();
    let (task, _) =
        engine.enqueue("l9.approval", json!({"what": "x"}), &Default::default()).await.unwrap();
    let path = format!("/api/v1/tasks/{task}/resolve");
    let (st, v) = call(
        s.addr,
        "POST",
        &path,
        Some(&s.token),
        Some(br#"{"step": "r1/merge", "action": "maybe"}"#),
    )
    .await;
    assert_eq!((st, v["error"]["code"].clone()), (400, json!("input")), "{v}");
    let body = br#"{"step": "r1/merge", "action": "done", "value": {"commit": "abc"}}"#;
    let (st, v) = call(s.addr, "POST", &path, Some(&s.token), Some(body)).await;
    assert_eq!(st, 200, "{v}");
    let sigs = engine.task_detail(task).await.unwrap().signals;
    let resolve = sigs.iter().find(|s| s.name == "resolve").expect("the resolve signal");
    assert_eq!(resolve.payload["key"], "r1/merge");
    assert_eq!(resolve.payload["value"]["commit"], "abc");
}
