//! The Task Runtime through the CLI: tasks, workers, schedules, gated plans.

use super::*;

#[test]
fn tasks_enqueue_run_approve_inspect_replay_fork() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let echo = json(d, &["tasks", "enqueue", "l9.echo", "--payload", r#"{"hello":1}"#]);
    let echo_id = echo["id"].as_str().unwrap().to_string();
    let again = json(d, &["tasks", "enqueue", "l9.echo", "--key", "k1"]);
    let dup = json(d, &["tasks", "enqueue", "l9.echo", "--key", "k1"]);
    assert_eq!(
        (again["id"].clone(), dup["created"].clone()),
        (dup["id"].clone(), Value::Bool(false))
    );
    let gate = json(d, &["tasks", "enqueue", "l9.approval", "--payload", r#"{"what":"deploy"}"#]);
    let gate_id = gate["id"].as_str().unwrap().to_string();
    let report = json(d, &["worker", "--exit-when-idle"]);
    assert_eq!(
        (report["succeeded"].as_u64(), report["suspended"].as_u64()),
        (Some(2), Some(1)),
        "{report}"
    );

    let runs = json(d, &["runs"]);
    let states: Vec<&str> =
        runs.as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["waiting", "succeeded", "succeeded"]);
    assert!(ok(d, &["tasks", "list", "--state", "waiting"]).contains(&gate_id));

    ok(d, &["tasks", "approve", &gate_id, "--note", "lgtm"]);
    ok(d, &["worker", "--exit-when-idle"]);
    let shown = json(d, &["tasks", "show", &gate_id]);
    assert_eq!(shown["task"]["result"]["approved"], Value::Bool(true));
    assert_eq!(shown["journal"][0]["key"], "signal:approval#0");
    let text = ok(d, &["tasks", "show", &echo_id]);
    assert!(text.contains("state:     succeeded") && text.contains(r#"{"hello":1}"#), "{text}");

    assert!(ok(d, &["tasks", "replay", &gate_id]).contains("same path, same result"));
    let forked = json(d, &["tasks", "fork", &gate_id, "--from", "0"]);
    ok(d, &["tasks", "reject", forked["id"].as_str().unwrap()]);
    ok(d, &["worker", "--exit-when-idle"]);
    let f = json(d, &["tasks", "show", forked["id"].as_str().unwrap()]);
    assert_eq!(f["task"]["result"]["approved"], Value::Bool(false), "the fork asked again");

    // Misuse gets clear errors and exit codes.
    assert!(fails(d, &["tasks", "cancel", &echo_id], 3).contains("already ended"));
    assert!(fails(d, &["tasks", "retry", &echo_id], 3).contains("only dead or cancelled"));
    assert!(fails(d, &["tasks", "show", "nope"], 3).contains("is not a task id"));
    // Ids by prefix and `last` (the newest task started from outside: the fork).
    let last = json(d, &["tasks", "show", "last"]);
    assert_eq!(last["task"]["id"], forked["id"]);
    let by_prefix = json(d, &["tasks", "show", &echo_id[..echo_id.len() - 3]]);
    assert_eq!(by_prefix["task"]["id"], echo_id.as_str());
    // The run whose journal holds its steps is recorded (its own).
    assert_eq!(by_prefix["task"]["run_id"], echo_id.as_str());
    // An unknown workflow kind is refused with the known ones, and nothing is enqueued.
    let e = fails(d, &["tasks", "enqueue", "l9.nope"], 3);
    assert!(e.contains("no workflow \"l9.nope\"") && e.contains("l9.echo, "), "{e}");
    assert!(!ok(d, &["tasks", "list"]).contains("l9.nope"));
    // `l9 runs` filters by state and kind.
    let waiting = json(d, &["runs", "--state", "succeeded", "--kind", "l9.approval"]);
    assert_eq!(waiting.as_array().unwrap().len(), 2, "{waiting}");
    let missing = "01a21b17-4335-7425-a611-788049e6ddd0";
    assert!(fails(d, &["tasks", "show", missing], 5).contains("not found"));
    assert!(
        fails(d, &["tasks", "enqueue", "l9.echo", "--payload", "{bad"], 3)
            .contains("not valid JSON")
    );
    fails(d, &["tasks", "list", "--state", "bogus"], 2);
    assert!(fails(d, &["worker", "--concurrency", "0"], 3).contains("--concurrency"));

    // --exit-when-idle waits for a timer still to come: the sleep finishes before it exits.
    let nap = json(d, &["tasks", "enqueue", "l9.sleep", "--payload", r#"{"seconds":1}"#]);
    let r = json(d, &["worker", "--exit-when-idle"]);
    assert_eq!((r["succeeded"].as_u64(), r["suspended"].as_u64()), (Some(1), Some(1)), "{r}");
    assert_eq!(
        json(d, &["tasks", "show", nap["id"].as_str().unwrap()])["task"]["state"],
        "succeeded"
    );

    // A cancelled task can be retried.
    let slow = json(d, &["tasks", "enqueue", "l9.sleep", "--payload", r#"{"seconds":600}"#]);
    let slow_id = slow["id"].as_str().unwrap();
    ok(d, &["tasks", "cancel", slow_id]);
    ok(d, &["tasks", "retry", slow_id]);
    assert_eq!(json(d, &["tasks", "show", slow_id])["task"]["state"], "queued");
}

/// `l9 worker --json` in `d` for `ms` milliseconds, then SIGTERM; it must exit cleanly.
fn worker_until_sigterm(d: &Path, ms: u64) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["worker", "--json"])
        .current_dir(d)
        .env_remove("L9_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(ms));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

#[test]
fn worker_stops_gracefully_on_sigterm() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let o = worker_until_sigterm(d, 700);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["claimed"], 0);
}

#[test]
fn schedules_in_l9_toml_fire_while_the_worker_runs() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let cfg = d.join(".l9/l9.toml");
    let base = std::fs::read_to_string(&cfg).unwrap();
    // Problems name the file and line and say what to do (exit 4: configuration).
    let schedule = |body: &str| {
        std::fs::write(&cfg, format!("{base}\n[schedules.tick]\n{body}\n")).unwrap();
    };
    schedule("cron = \"every second\"\nkind = \"l9.echo\"");
    let e = fails(d, &["worker", "--exit-when-idle"], 4);
    assert!(e.contains("l9.toml:") && e.contains("not a cron expression"), "{e}");
    schedule("cron = \"* * * * * *\"\nkind = \"l9.nope\"");
    let e = fails(d, &["worker", "--exit-when-idle"], 4);
    assert!(e.contains("which no worker knows") && e.contains("l9.echo"), "{e}");
    // Every second, an l9.echo with a payload.
    schedule("cron = \"* * * * * *\"\nkind = \"l9.echo\"\npayload = { note = \"hi\" }");
    worker_until_sigterm(d, 2600);
    let list = json(d, &["tasks", "list", "--kind", "l9.echo"]);
    let tasks = list.as_array().or_else(|| list["tasks"].as_array()).unwrap().clone();
    // (A tick enqueued as the worker stopped may still be queued.)
    assert!(tasks.iter().any(|t| t["state"] == "succeeded"), "no tick ran in 2.6 s: {list}");
    assert!(tasks.iter().all(|t| t["payload"]["note"] == "hi"), "{list}");
}

#[test]
fn a_plan_runs_through_the_cli_with_a_signalled_gate() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let plan = r#"{"tasks":[{"name":"build","kind":"l9.echo"},{"name":"ship","kind":"l9.echo","deps":[0],"needs_approval":true}]}"#;
    let id = json(d, &["tasks", "enqueue", "l9.plan", "--payload", plan])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(d, &["worker", "--exit-when-idle"]);
    assert_eq!(json(d, &["tasks", "show", &id])["task"]["state"], "waiting");
    // Its children do not name their plan tasks; matched by kind, input and order, the
    // gate that waits is found and answered without naming it.
    let a = json(d, &["tasks", "approve", &id]);
    assert_eq!(a["gates"][0]["task"], "ship", "{a}");
    ok(d, &["worker", "--exit-when-idle"]);
    let shown = json(d, &["tasks", "show", &id]);
    assert_eq!(shown["task"]["result"]["outcome"], "Succeeded", "{shown}");
    assert_eq!(shown["children"].as_array().unwrap().len(), 2);
    assert!(
        fails(d, &["tasks", "signal", &id, "x", "--payload", "nope"], 3).contains("not valid JSON")
    );
    // A gated task an earlier run finished (`completed`, as `l9 retry` sends it) passed its
    // gate then: the plan does not wait at it again.
    let kept = r#"{"tasks":[{"name":"build","kind":"l9.echo"},{"name":"ship","kind":"l9.echo","deps":[0],"needs_approval":true}],"completed":{"ship":{}}}"#;
    let id = json(d, &["tasks", "enqueue", "l9.plan", "--payload", kept])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(d, &["worker", "--exit-when-idle"]);
    let shown = json(d, &["tasks", "show", &id]);
    assert_eq!(shown["task"]["result"]["outcome"], "Succeeded", "{shown}");
    // A gate is answered by name ahead of time too; before it is reached, an approval
    // without the name is refused, saying which gates there are.
    let id = json(d, &["tasks", "enqueue", "l9.plan", "--payload", plan])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = fails(d, &["tasks", "approve", &id], 3);
    assert!(e.contains("--gate ship"), "{e}");
    let a = json(d, &["tasks", "approve", &id, "--gate", "ship"]);
    assert_eq!(a["gates"][0]["task"], "ship", "{a}");
    ok(d, &["worker", "--exit-when-idle"]);
    let shown = json(d, &["tasks", "show", &id]);
    assert_eq!(shown["task"]["result"]["outcome"], "Succeeded", "{shown}");
}
