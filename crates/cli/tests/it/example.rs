//! `examples/todo-api`: every task kind leaves evidence — with the scripted coder and
//! reviewer, and with a shell-script agent alone.

use super::*;

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/todo-api").canonicalize().unwrap()
}

/// The events of the last run, and the tasks started of a kind.
fn events_of(show: &Value) -> Vec<Value> {
    show["events"].as_array().unwrap().clone()
}

fn started(evs: &[Value], kind: &str) -> Vec<String> {
    evs.iter()
        .filter(|e| e["event"] == "task_started" && e["kind"] == kind)
        .map(|e| e["task"].as_str().unwrap().to_string())
        .collect()
}

fn position(evs: &[Value], event: &str, task: &str) -> usize {
    evs.iter().position(|e| e["event"] == event && e["task"] == task).unwrap()
}

#[test]
fn the_todo_api_example_puts_every_task_kind_to_work() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let spec = example().join("spec.md");
    // Every gate, test run and verify command of it in the sandbox (CI has bubblewrap; the
    // run fails rather than run one unconfined).
    ok(d, &["init"]);
    if std::env::var("CI").is_ok() || std::path::Path::new("/usr/bin/bwrap").exists() {
        let toml = d.join(".l9/l9.toml");
        let text = std::fs::read_to_string(&toml).unwrap();
        std::fs::write(&toml, format!("{text}\n[agents]\nsandbox = \"required\"\n")).unwrap();
        assert!(ok(d, &["config"]).contains("required"));
    }
    let out = ok(d, &["run", spec.to_str().unwrap(), "--trials", "100"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    let repo = d.join("l9-out/todo-api");
    let show = json(d, &["show", "last"]);
    let evs = events_of(&show);
    assert_eq!(show["result"]["chosen"], "tests-first", "{}", show["result"]["chosen"]);
    // A design record, merged and stored with lineage to the IR.
    assert!(repo.join("docs/design/architecture.md").exists());
    let design = &show["evidence"]["designs"][0];
    let p = json(d, &["memory", "get", design["packet"].as_str().unwrap()]);
    assert_eq!(p["kind"], "design");
    assert_eq!(p["parents"][0], show["result"]["stages"]["ir_packet"], "{p}");
    // Tests written first and proven red for the right reason.
    for t in started(&evs, "test") {
        let g = evs.iter().find(|e| e["event"] == "gate_finished" && e["task"] == t).unwrap();
        assert_eq!((g["passed"].clone(), g["exit_code"].clone()), (jsonv!(true), jsonv!(1)), "{g}");
        assert!(g["output_tail"].as_str().unwrap().contains("red for the right reason"), "{g}");
    }
    // Two implement tasks in parallel: both started before either finished.
    let imp = started(&evs, "implement");
    assert_eq!(imp.len(), 2);
    let first_end = imp.iter().map(|t| position(&evs, "task_finished", t)).min().unwrap();
    assert!(imp.iter().all(|t| position(&evs, "task_started", t) < first_end), "not parallel");
    // The integration found what the two broke together and got it fixed.
    let integrate = &json(d, &["tasks", "list", "--kind", "l9.integrate"])[0];
    let r = &json(d, &["tasks", "show", integrate["id"].as_str().unwrap()])["task"]["result"];
    assert_eq!(r["fixed"], true, "{r}");
    let broken: Vec<&Value> =
        r["first_gates"].as_array().unwrap().iter().filter(|g| g["passed"] == false).collect();
    assert_eq!(broken.len(), 1, "{r}");
    assert!(broken[0]["command"].as_str().unwrap().contains("test -x"), "{r}");
    // The review asked for one change, which was made.
    let review = &json(d, &["tasks", "list", "--kind", "l9.review"])[0];
    let r = &json(d, &["tasks", "show", review["id"].as_str().unwrap()])["task"]["result"];
    assert_eq!((r["approved"].clone(), r["fixes"].as_array().unwrap().len()), (jsonv!(true), 1));
    assert!(repo.join("USAGE").exists());
    // Verify: evidence per requirement, and main has the verified result.
    let text = ok(d, &["show", "last"]);
    for line in
        ["REQ-1      ✓ `sh tests/storage.sh` exit 0", "REQ-2      ✓ `sh tests/commands.sh` exit 0"]
    {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(text.contains("delivered to main (fast-forward)"), "{text}");
    let modes = git(&repo, &["ls-files", "-s", "store.sh", "todo.sh"]);
    assert_eq!(modes.lines().filter(|l| l.starts_with("100755")).count(), 2, "{modes}");
}

#[test]
fn the_todo_api_example_runs_with_a_shell_script_agent_and_no_model() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let log = d.join("agent.log");
    let mut toml = std::fs::read_to_string(d.join(".l9/l9.toml")).unwrap();
    toml.push_str(&format!(
        "\n[agents.todo]\ncommand = [\"sh\", \"{}\"]\nenv = [\"L9_TODO_AGENT_LOG\"]\n",
        example().join("agent.sh").display()
    ));
    std::fs::write(d.join(".l9/l9.toml"), toml).unwrap();
    let spec = example().join("spec.md");
    let o = Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["run", spec.to_str().unwrap(), "--trials", "100", "--adapter", "todo"])
        .current_dir(d)
        .env_remove("L9_DB")
        .env("NO_COLOR", "1")
        .env("L9_TODO_AGENT_LOG", &log)
        .env("L9_TEST_SECRET", "never-leak")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("unknown (the agent does not report its cost"), "{out}");
    let text = ok(d, &["show", "last"]);
    assert!(text.contains("delivered to main") && !text.contains(" ✗ "), "{text}");
    for req in ["REQ-1      ✓", "REQ-2      ✓"] {
        assert!(text.contains(req), "{text}");
    }
    // No reviewer: the review step says it was skipped, the gates judged.
    let review = &json(d, &["tasks", "list", "--kind", "l9.review"])[0];
    let r = &json(d, &["tasks", "show", review["id"].as_str().unwrap()])["task"]["result"];
    assert!(r["skipped"].as_str().unwrap().contains("no reviewer"), "{r}");
    // The agent saw each task's gate command, and only the variables it was allowed.
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(seen.contains("sh tests/storage.sh") && seen.contains("test -x"), "{seen}");
    assert!(seen.contains("L9_TODO_AGENT_LOG") && !seen.contains("L9_TEST_SECRET"), "{seen}");
    let repo = d.join("l9-out/todo-api");
    let modes = git(&repo, &["ls-files", "-s", "store.sh", "todo.sh"]);
    assert_eq!(modes.lines().filter(|l| l.starts_with("100755")).count(), 2, "{modes}");
}
