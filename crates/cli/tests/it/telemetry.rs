//! OpenTelemetry out of a real run: the adder example runs with `[telemetry] otlp_endpoint`
//! pointing at a small OTLP/HTTP receiver on 127.0.0.1 that decodes the protobuf payloads
//! with the official `opentelemetry-proto` package (PyPI; `scripts/setup-peers`), and the
//! span tree and metrics it received are checked.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use super::*;

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

fn int(v: Option<&Value>) -> Option<i64> {
    // protobuf's JSON mapping writes 64-bit integers as strings
    v.and_then(|v| v["intValue"].as_str()).and_then(|s| s.parse().ok())
}

#[test]
fn a_run_sends_its_span_tree_and_metrics_to_the_collector() {
    let Some(python) = std::env::var("L9_TEST_PEER_PYTHON").ok().filter(|p| Path::new(p).exists())
    else {
        assert!(std::env::var("CI").is_err(), "L9_TEST_PEER_PYTHON is missing but CI is set");
        eprintln!("skipped: run scripts/setup-peers and export what it prints");
        return;
    };
    let dir = l9_test_support::temp_dir();
    let out = dir.path().join("otlp.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/otlp_receiver.py");
    let mut receiver = Command::new(&python)
        .arg(&script)
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufReader::new(receiver.stdout.take().unwrap()).read_line(&mut port).unwrap();
    let port = port.trim().to_string();

    let proj = super::run::adder_project(dir.path(), true);
    let toml = proj.join(".l9/l9.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!("\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\n"));
    std::fs::write(&toml, text).unwrap();
    let events = ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100", "--json"]);
    let _ = receiver.kill();
    let _ = receiver.wait();
    let run_id = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|e| e["run"].as_str().map(str::to_string));

    let got: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let traces: Vec<&Value> = got.iter().filter(|g| g["path"] == "/v1/traces").collect();
    let metrics: Vec<&Value> = got.iter().filter(|g| g["path"] == "/v1/metrics").collect();
    assert_eq!((traces.len(), metrics.len()), (1, 1), "one trace and one metrics export");
    let rs = &traces[0]["body"]["resourceSpans"][0];
    assert!(rs["resource"].to_string().contains("\"stringValue\":\"l9\""), "service.name: {rs}");
    let spans = rs["scopeSpans"][0]["spans"].as_array().unwrap();
    let by_id = |id: &Value| spans.iter().find(|s| s["spanId"] == *id);
    let parent = |s: &Value| {
        s.get("parentSpanId").and_then(&by_id).map(|p| p["name"].as_str().unwrap().to_string())
    };

    // One trace; one root, the run.
    assert!(spans.iter().all(|s| s["traceId"] == spans[0]["traceId"]));
    let roots: Vec<&Value> = spans.iter().filter(|s| s.get("parentSpanId").is_none()).collect();
    assert_eq!(roots.len(), 1, "{roots:?}");
    let root = roots[0];
    assert_eq!(root["name"], "l9.run");
    assert_eq!(attr(root, "l9.run.state").unwrap()["stringValue"], "succeeded");
    if let Some(id) = run_id {
        assert_eq!(attr(root, "l9.run.id").unwrap()["stringValue"], id.as_str());
    }
    // Every span but the root hangs from a span of the trace, and ends after it starts.
    for s in spans {
        if s.get("parentSpanId").is_some() {
            assert!(parent(s).is_some(), "{} has a parent outside the trace", s["name"]);
        }
        let (a, b): (u64, u64) = (
            s["startTimeUnixNano"].as_str().unwrap().parse().unwrap(),
            s["endTimeUnixNano"].as_str().unwrap().parse().unwrap(),
        );
        assert!(a <= b && a > 0, "{}: {a} .. {b}", s["name"]);
    }
    let named = |prefix: &str| {
        spans.iter().filter(|s| s["name"].as_str().unwrap().starts_with(prefix)).collect::<Vec<_>>()
    };
    // Stages under the run, tasks nested as spawned: run → plan → agent tasks.
    let front = named("stage compile+challenge");
    assert_eq!(
        front.len(),
        1,
        "the compile stage: {:?}",
        spans.iter().map(|s| &s["name"]).collect::<Vec<_>>()
    );
    assert_eq!(parent(front[0]).as_deref(), Some("l9.run"));
    let plan = named("task l9.plan");
    assert_eq!(plan.len(), 1);
    assert_eq!(parent(plan[0]).as_deref(), Some("l9.run"));
    let agents = named("task l9.agent");
    assert!(agents.len() >= 2, "the plan's agent tasks");
    assert!(agents.iter().all(|a| parent(a).as_deref() == Some(plan[0]["name"].as_str().unwrap())));
    for kind in ["task l9.integrate", "task l9.verify"] {
        assert!(!named(kind).is_empty(), "{kind}");
    }
    // Model calls with tokens and cost; gates with their verdict and exit code; tool calls.
    let models = named("model call");
    assert!(!models.is_empty());
    for m in &models {
        assert!(parent(m).unwrap().starts_with("task l9.agent"), "{}", m);
        assert!(int(attr(m, "gen_ai.usage.input_tokens")).unwrap() > 0, "{m}");
        assert!(attr(m, "l9.cost.usd").is_some() && attr(m, "gen_ai.request.model").is_some());
    }
    let gates = named("gate");
    assert!(!gates.is_empty());
    assert!(gates.iter().any(|g| attr(g, "l9.gate.passed").unwrap()["boolValue"] == true));
    assert!(gates.iter().all(|g| int(attr(g, "process.exit.code")).is_some()
        || attr(g, "l9.gate.passed").unwrap()["boolValue"] == false));
    assert!(!named("tool call").is_empty());
    assert!(int(attr(root, "gen_ai.usage.total_tokens")).unwrap() > 0);

    // Metrics: duration, steps, steps/s, tokens, cost, queue depth, DORA.
    let ms =
        metrics[0]["body"]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].as_array().unwrap();
    let names: Vec<&str> = ms.iter().map(|m| m["name"].as_str().unwrap()).collect();
    for want in [
        "l9.run.duration",
        "l9.run.steps",
        "l9.run.steps_per_second",
        "l9.run.tokens",
        "l9.run.cost",
        "l9.queue.depth",
        "l9.dora.lead_time",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let steps = ms.iter().find(|m| m["name"] == "l9.run.steps").unwrap();
    let step_spans = spans
        .iter()
        .filter(|s| s["name"] != "l9.run" && !s["name"].as_str().unwrap().starts_with("task "))
        .count();
    assert_eq!(steps["gauge"]["dataPoints"][0]["asDouble"].as_f64().unwrap(), step_spans as f64);
}

#[test]
fn dash_v_logs_the_spans_of_the_work_and_no_flag_keeps_stderr_quiet() {
    let dir = l9_test_support::temp_dir();
    let proj = super::run::adder_project(dir.path(), true);
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100", "-v"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        "task{kind=l9.run",
        "task{kind=l9.agent",
        "step{key=step:r1/coder/model#",
        "model call",
        "input_tokens=",
        "tool call",
        "gate",
        "exit_code=Some(0)",
        "time.busy=",
    ] {
        assert!(err.contains(want), "-v logs {want:?}:\n{err}");
    }
    let dir = l9_test_support::temp_dir();
    let proj = super::run::adder_project(dir.path(), true);
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("time.busy="), "no spans without -v");
}
