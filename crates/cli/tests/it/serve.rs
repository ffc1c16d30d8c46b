//! `l9 serve` as users start it: a process, with a provider key in its environment. Nothing
//! a response or an event carries holds the key or the API token.

use std::io::{BufRead, Read, Write};

use super::*;

/// One GET over a fresh connection; the body as text.
fn get(addr: &str, path: &str, token: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, raw.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string()))
}

pub(crate) fn post(addr: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, raw.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string()))
}

/// `l9 serve --addr 127.0.0.1:0 ARGS…` in `proj` with `env`: the process and the address it
/// listens on.
pub(crate) fn start(
    proj: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .current_dir(proj)
        .env_remove("L9_DB")
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut err = std::io::BufReader::new(server.stderr.take().unwrap());
    err.read_line(&mut line).unwrap();
    // Keep reading what it says, so that it can go on saying it.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let addr =
        line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    (server, addr)
}

#[test]
fn no_response_or_event_carries_a_secret() {
    let dir = l9_test_support::temp_dir();
    let proj = super::run::adder_project(dir.path(), false);
    // A provider whose key is in the environment, at an endpoint nothing listens on.
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str("\n[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nmodel = \"m\"\napi_key_env = \"L9_TEST_AUDIT_KEY\"\nmax_retries = 0\n\n[roles]\ncoder = \"p\"\n");
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    let secret = "sk-audit-7f3a9c2e51d84b6a";
    let token = std::fs::read_to_string(proj.join(".l9/token")).unwrap();
    let (mut server, addr) = start(&proj, &["--worker"], &[("L9_TEST_AUDIT_KEY", secret)]);
    let (st, body) = post(
        &addr,
        "/api/v1/runs",
        &token,
        r#"{"spec": "spec.md", "repo": "repo", "trials": 100}"#,
    );
    assert_eq!(st, 201, "{body}");
    let run: Value = serde_json::from_str(&body).unwrap();
    let run = run["run"].as_str().unwrap().to_string();
    let mut state = String::new();
    for _ in 0..300 {
        let (_, v) = get(&addr, &format!("/api/v1/runs/{run}"), &token);
        state = serde_json::from_str::<Value>(&v).unwrap()["state"].as_str().unwrap().to_string();
        if state == "dead" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(state, "dead", "the unreachable provider failed the run");
    // Everything a client can read about it.
    let mut seen = Vec::new();
    for path in [
        "/api/v1/runs".to_string(),
        format!("/api/v1/runs/{run}"),
        format!("/api/v1/runs/{run}/events"),
        "/api/v1/tasks?limit=100".to_string(),
        "/api/v1/world/stats".to_string(),
        "/openapi.json".to_string(),
    ] {
        let (st, body) = get(&addr, &path, &token);
        assert_eq!(st, 200, "{path}: {body}");
        seen.push((path, body));
    }
    let tasks: Value = serde_json::from_str(&seen[3].1).unwrap();
    for t in tasks.as_array().unwrap() {
        let (st, body) =
            get(&addr, &format!("/api/v1/tasks/{}", t["id"].as_str().unwrap()), &token);
        assert_eq!(st, 200);
        seen.push((format!("task {}", t["id"]), body));
    }
    assert!(seen[1].1.contains("127.0.0.1:9"), "the run's error is there to read: {}", seen[1].1);
    for (path, body) in &seen {
        assert!(!body.contains(secret), "{path} shows the provider key");
        assert!(!body.contains(token.trim()), "{path} shows the API token");
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// Several `l9 serve` processes and an `l9 worker` on one PostgreSQL database: a run started
/// through one server stays queued while no worker runs (a server without `--worker` runs
/// nothing), is executed by the worker once it starts, and is followed to the end through
/// the other server, events included.
#[test]
fn two_servers_and_a_worker_share_one_postgres_database() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let dir = l9_test_support::temp_dir();
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let ex = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adder");
    std::fs::copy(ex.join("spec.md"), proj.join("spec.md")).unwrap();
    std::fs::copy(ex.join("provider.yaml"), proj.join("provider.yaml")).unwrap();
    let (pg, drop_db) = fresh_database(&url, &format!("l9_multi_{}", std::process::id()));
    ok(&proj, &["init", "--db", &pg]);
    let token = std::fs::read_to_string(proj.join(".l9/token")).unwrap();
    let token = token.trim();
    let (mut a, addr_a) = start(&proj, &[], &[]);
    let (mut b, addr_b) = start(&proj, &[], &[]);

    let (st, body) = post(&addr_a, "/api/v1/runs", token, r#"{"spec": "spec.md", "trials": 100}"#);
    assert_eq!(st, 201, "{body}");
    let run: Value = serde_json::from_str(&body).unwrap();
    let run = run["run"].as_str().unwrap().to_string();
    let state = |addr: &str| {
        let (_, v) = get(addr, &format!("/api/v1/runs/{run}"), token);
        serde_json::from_str::<Value>(&v).unwrap()["state"].as_str().unwrap().to_string()
    };
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!((state(&addr_a), state(&addr_b)), ("queued".into(), "queued".into()));

    let mut worker = spawn(&proj, &["worker", "--exit-when-idle"]);
    let mut last = String::new();
    for _ in 0..600 {
        last = state(&addr_b);
        if last == "succeeded" || last == "dead" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(last, "succeeded");
    // The other server streams the whole run from the shared journal.
    let (st, events) = get(&addr_b, &format!("/api/v1/runs/{run}/events"), token);
    assert_eq!(st, 200);
    for kind in [
        "event: run_started",
        "event: task_finished",
        "event: gate_finished",
        "event: run_finished",
    ] {
        assert!(events.contains(kind), "{kind} in the stream from the other server");
    }
    let (_, v) = get(&addr_a, &format!("/api/v1/runs/{run}"), token);
    let v: Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["result"]["outcome"], "succeeded", "{}", v["result"]);
    let _ = worker.wait();
    for s in [&mut a, &mut b] {
        let _ = s.kill();
        let _ = s.wait();
    }
    drop_db();
}
