//! L9's MCP server against peers no one here wrote: the official conformance suite
//! (`@modelcontextprotocol/conformance`, npm) over both transports — `/mcp` on `l9 serve`,
//! and `l9 mcp` on stdio reached through `mcp-proxy` (PyPI) — with its output kept under
//! `target/test-artifacts/mcp-conformance/`; and the official Python SDK (`mcp`, PyPI) as a
//! client that lists the tools and calls each (`mcp_client.py`). `scripts/setup-peers`
//! installs them; without them a test says so and stops, except under CI where it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

/// The scenarios that test what a server offering tools, resources and completions must do.
/// The suite's other scenarios call its own fixtures (`test_simple_text`,
/// `test://static-text`, prompts such as `test_simple_prompt`), or features L9 does not
/// offer (logging, deprecated by SEP-2577; resource subscriptions; sampling and elicitation
/// from a tool), so they cannot apply to any server but the suite's reference one.
const APPLICABLE_HTTP: &[&str] = &[
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "completion-complete",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
];

/// Over stdio the HTTP layer is mcp-proxy's, so its scenarios (DNS rebinding, SSE streams)
/// say nothing of L9.
const APPLICABLE_STDIO: &[&str] =
    &["server-initialize", "ping", "tools-list", "resources-list", "completion-complete"];

struct Peers {
    node: String,
    suite: String,
    python: String,
    proxy: String,
}

fn peers() -> Option<Peers> {
    let var = |k: &str| std::env::var(k).ok().filter(|p| Path::new(p).exists());
    match (
        var("L9_TEST_NODE"),
        var("L9_TEST_MCP_CONFORMANCE"),
        var("L9_TEST_PEER_PYTHON"),
        var("L9_TEST_MCP_PROXY"),
    ) {
        (Some(node), Some(suite), Some(python), Some(proxy)) => {
            Some(Peers { node, suite, python, proxy })
        }
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "the MCP peers are missing but CI is set: scripts/test installs them (scripts/setup-peers)"
            );
            eprintln!("skipped: run scripts/setup-peers and export what it prints");
            None
        }
    }
}

fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = l9_test_support::temp_dir();
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    ok(&proj, &["init"]);
    (dir, proj)
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on {port}");
}

/// Runs the whole suite against `url`, keeping its output in `out`: scenario → (checks
/// passed, checks failed, warnings).
fn conformance(p: &Peers, url: &str, out: &Path) -> BTreeMap<String, (u32, u32, u32)> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let o = Command::new(&p.node)
        .args([p.suite.as_str(), "server", "--url", url, "-o"])
        .arg(out)
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    std::fs::write(out.join("suite-output.txt"), &text).unwrap();
    let mut results = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let dir = entry.unwrap().path();
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        let Ok(checks) = std::fs::read_to_string(dir.join("checks.json")) else { continue };
        // `server-<scenario>-<YYYY-MM-DDTHH-MM-SS-mmmZ>`
        let scenario = name.strip_prefix("server-").unwrap_or(&name);
        let scenario = scenario[..scenario.len().saturating_sub(25)].to_string();
        let checks: Value = serde_json::from_str(&checks).unwrap();
        let count =
            |s: &str| checks.as_array().unwrap().iter().filter(|c| c["status"] == s).count() as u32;
        results.insert(scenario, (count("SUCCESS"), count("FAILURE"), count("WARNING")));
    }
    assert!(!results.is_empty(), "the suite ran no scenario: {text}");
    results
}

fn judge(
    transport: &str,
    results: &BTreeMap<String, (u32, u32, u32)>,
    applicable: &[&str],
    out: &Path,
) {
    let mut summary = String::new();
    for (s, (pass, fail, warn)) in results {
        let verdict =
            if applicable.contains(&s.as_str()) { "applicable" } else { "not applicable" };
        summary
            .push_str(&format!("{s}: {pass} passed, {fail} failed, {warn} warnings ({verdict})\n"));
    }
    std::fs::write(out.join("summary.txt"), &summary).unwrap();
    for s in applicable {
        let Some((pass, fail, _)) = results.get(*s) else {
            panic!("{transport}: the suite did not run {s}:\n{summary}")
        };
        assert!(*fail == 0 && *pass > 0, "{transport}: {s} did not pass:\n{summary}");
    }
}

fn artifacts(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifacts/mcp-conformance")
        .join(name)
}

#[test]
fn the_conformance_suite_passes_every_applicable_scenario_over_http_and_stdio() {
    let Some(p) = peers() else { return };
    let (_dir, proj) = project();
    let token = std::fs::read_to_string(proj.join(".l9/token")).unwrap();
    let (server, addr) = super::serve::start(&proj, &[], &[]);
    let _server = Kill(server);
    // The suite sends no headers of its own: the token rides in the query.
    let url = format!("http://{addr}/mcp?access_token={}", token.trim());
    let http = conformance(&p, &url, &artifacts("http"));
    judge("http", &http, APPLICABLE_HTTP, &artifacts("http"));

    let port = free_port();
    let proxy = Command::new(&p.proxy)
        .args(["--port", &port.to_string(), "--transport", "streamablehttp"])
        .arg(env!("CARGO_BIN_EXE_l9"))
        .arg("mcp")
        .current_dir(&proj)
        .env_remove("L9_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _proxy = Kill(proxy);
    wait_listening(port);
    let stdio = conformance(&p, &format!("http://127.0.0.1:{port}/mcp"), &artifacts("stdio"));
    judge("stdio", &stdio, APPLICABLE_STDIO, &artifacts("stdio"));
}

#[test]
fn the_python_sdk_lists_the_tools_and_calls_each_over_stdio_and_http() {
    let Some(p) = peers() else { return };
    let (_dir, proj) = project();
    let approval = |what: &str| {
        let v = json(
            &proj,
            &["tasks", "enqueue", "l9.approval", "--payload", &format!(r#"{{"what": "{what}"}}"#)],
        );
        v["id"].as_str().unwrap().to_string()
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_client.py");
    let run = |args: &[&str]| {
        let o = Command::new(&p.python).arg(&script).args(args).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success() && out.trim_end().ends_with("OK"),
            "mcp_client.py {args:?}:\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    };
    let (a, b) = (approval("ship it"), approval("drop the table"));
    let bin = env!("CARGO_BIN_EXE_l9");
    let stdio = run(&["stdio", bin, proj.to_str().unwrap(), &a, &b]);
    assert_eq!(stdio.lines().filter(|l| l.starts_with('{')).count(), 10, "{stdio}");

    let (c, d) = (approval("ship it too"), approval("drop it too"));
    let token = std::fs::read_to_string(proj.join(".l9/token")).unwrap();
    let (server, addr) = super::serve::start(&proj, &[], &[]);
    let _server = Kill(server);
    run(&["http", &format!("http://{addr}/mcp"), token.trim(), &c, &d]);

    // The answers reached the tasks, each with its note.
    for (task, approved) in [(&a, true), (&b, false), (&c, true), (&d, false)] {
        let t = json(&proj, &["tasks", "show", task]);
        let signals = t["signals"].to_string();
        assert!(signals.contains(&format!("\"approved\":{approved}")), "{task}: {signals}");
    }
    // Both sessions' calls are remembered, each naming who asked.
    let calls: Vec<Value> = ok(&proj, &["memory", "export"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|p| p["kind"] == "mcp.call")
        .collect();
    assert_eq!(calls.len(), 24, "12 tool calls per transport (the two refused ones included)");
    assert!(calls.iter().all(|c| c["actor"] == "mcp:python-sdk-peer"));
}
