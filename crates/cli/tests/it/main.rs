//! End-to-end tests of the `l9` binary: exit codes, messages, import atomicity, export →
//! import round trips, and the PostgreSQL backend selected by `--db`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test
#![allow(clippy::disallowed_methods)] // tests spawn the binary under test

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json as jsonv};

fn l9(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(args)
        .current_dir(dir)
        .env_remove("L9_DB")
        .env("NO_COLOR", "1")
        .output()
        .expect("run l9")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = l9(dir, args);
    assert!(
        o.status.success(),
        "l9 {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(dir, &a)).unwrap()
}

fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let o = l9(dir, args);
    assert_eq!(o.status.code(), Some(code), "l9 {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stderr).unwrap()
}

#[test]
fn init_is_idempotent_and_memory_round_trips() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    assert!(ok(d, &["init"]).contains("Initialised"));
    assert!(ok(d, &["init"]).contains("Already initialised"));
    assert!(d.join(".l9/l9.toml").is_file() && d.join(".l9/l9.db").is_file());

    let a = json(
        d,
        &[
            "memory",
            "put",
            "--kind",
            "decision",
            "--text",
            "Use PostgreSQL for scale-out",
            "--body",
            r#"{"why":"pgvector"}"#,
        ],
    );
    let a_id = a["id"].as_str().unwrap().to_owned();
    let b = json(
        d,
        &[
            "memory",
            "put",
            "--kind",
            "task",
            "--text",
            "Write the schema migration",
            "--parent",
            &a_id,
        ],
    );
    let b_id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(json(d, &["memory", "get", &a_id]), a, "a stored packet reads back exactly as put");
    let got = json(d, &["memory", "get", &b_id]);
    assert_eq!(got["parents"][0], a_id.as_str());
    assert!(ok(d, &["memory", "get", &a_id]).contains("pgvector"));

    let hits = json(d, &["memory", "search", "postgres scale", "-k", "1"]);
    assert_eq!(hits[0]["id"], a_id.as_str());
    let hits = json(d, &["memory", "search", "migration", "--kind", "decision"]);
    assert!(hits.as_array().unwrap().iter().all(|h| h["packet"]["kind"] == "decision"));
    let up = json(d, &["memory", "lineage", &b_id]);
    assert_eq!(up[0]["id"], a_id.as_str());
    let down = json(d, &["memory", "lineage", &a_id, "--down", "--depth", "1"]);
    assert_eq!(down[0]["id"], b_id.as_str());

    // From a subdirectory the project is found.
    std::fs::create_dir(d.join("sub")).unwrap();
    assert!(ok(&d.join("sub"), &["memory", "get", &a_id]).contains("decision"));
}

#[test]
fn errors_have_kinds_and_say_what_to_do() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let e = fails(d, &["memory", "get", "not-an-id"], 3);
    assert!(e.contains("not a valid id"), "{e}");
    let e = fails(d, &["memory", "get", "019b76da-a800-7001-8891-7925c63f45f3"], 5);
    assert!(e.contains("no packet"), "{e}");
    let e = fails(d, &["memory", "put", "--kind", "Bad Kind", "--text", "x"], 3);
    assert!(e.contains("invalid kind"), "{e}");
    let e = fails(d, &["memory", "put", "--kind", "note", "--text", "x", "--body", "{"], 3);
    assert!(e.contains("--body is not valid JSON"), "{e}");
    let e = fails(d, &["memory", "import", "missing.jsonl"], 5);
    assert!(e.contains("missing.jsonl"), "{e}");
    std::fs::write(d.join(".l9/l9.toml"), "[memory]\nembedder = \"nope\"\n").unwrap();
    let e = fails(d, &["memory", "search", "x"], 4);
    assert!(e.contains("l9.toml:2") && e.contains("memory.embedder"), "{e}");
    std::fs::write(d.join(".l9/l9.toml"), "[store]\nurl = \"sqlite://.l9/l9.db\"\n").unwrap();
    let e = fails(d, &["memory", "search", "x", "--db", "mysql://x"], 4);
    assert!(e.contains("store.url"), "{e}");
    fails(d, &["memory", "frobnicate"], 2);
}

#[test]
fn import_is_atomic_and_reports_every_bad_line() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let file = d.join("bad.jsonl");
    std::fs::write(
        &file,
        concat!(
            "{\"ref\":\"a\",\"kind\":\"note\",\"text\":\"fine\"}\n",
            "{\"ref\":\"b\",\"kind\":\"note\",\"text\":\"child\",\"parents\":[\"a\"]}\n",
            "{not json\n",
            "\n",
            "{\"kind\":\"note\",\"parents\":[\"zzz\"]}\n",
            "{\"kind\":\"note\",\"txet\":\"typo\"}\n",
        ),
    )
    .unwrap();
    let e = fails(d, &["memory", "import", "bad.jsonl"], 3);
    assert!(e.contains("nothing was written"), "{e}");
    assert!(e.contains("bad.jsonl:3:1: error[L9-IMPORT-001]"), "{e}");
    assert!(e.contains("bad.jsonl:5:1: error[L9-IMPORT-008]"), "{e}");
    assert!(e.contains("bad.jsonl:6:1: error[L9-IMPORT-007]") && e.contains("txet"), "{e}");
    assert!(!e.contains("bad.jsonl:1:"), "good lines are not reported: {e}");
    let hits = json(d, &["memory", "search", "fine", "--kind", "note"]);
    assert_eq!(hits.as_array().unwrap().len(), 0, "nothing was written");

    std::fs::write(&file, "{\"ref\":\"a\",\"kind\":\"note\",\"text\":\"fine\"}\n{\"kind\":\"note\",\"text\":\"child\",\"parents\":[\"a\"]}\n").unwrap();
    let r = json(d, &["memory", "import", "bad.jsonl"]);
    assert_eq!(r["packets_inserted"], 2);
}

#[test]
fn export_then_import_elsewhere_is_identical_and_tamper_evident() {
    let src = l9_test_support::temp_dir();
    let dst = l9_test_support::temp_dir();
    ok(src.path(), &["init"]);
    ok(dst.path(), &["init"]);
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/memory/project-history.jsonl");
    let r = json(src.path(), &["memory", "import", example.to_str().unwrap()]);
    assert_eq!(r["packets_inserted"], 20);
    let exported = ok(src.path(), &["memory", "export"]);
    assert_eq!(exported.lines().count(), 20);
    std::fs::write(dst.path().join("e.jsonl"), &exported).unwrap();
    json(dst.path(), &["memory", "import", "e.jsonl"]);
    assert_eq!(ok(dst.path(), &["memory", "export"]), exported);
    // Importing again is a no-op.
    let again = json(dst.path(), &["memory", "import", "e.jsonl"]);
    assert_eq!(
        (again["packets_inserted"].as_u64(), again["packets_present"].as_u64()),
        (Some(0), Some(20))
    );
    // A changed body is caught by the hash.
    let tampered =
        exported.replacen("\"chosen\":\"PostgreSQL + LRU\"", "\"chosen\":\"MongoDB\"", 1);
    assert_ne!(tampered, exported);
    let fresh = l9_test_support::temp_dir();
    ok(fresh.path(), &["init"]);
    std::fs::write(fresh.path().join("t.jsonl"), tampered).unwrap();
    let e = fails(fresh.path(), &["memory", "import", "t.jsonl"], 3);
    assert!(e.contains("L9-IMPORT-004") && e.contains("hash does not verify"), "{e}");
}

#[test]
fn demo_runs_on_the_embedded_default() {
    let dir = l9_test_support::temp_dir();
    let out = ok(dir.path(), &["memory", "demo"]);
    assert!(out.contains("Imported 20 packets"), "{out}");
    assert!(out.contains("[failure] The database migration failed"), "{out}");
    assert!(out.contains("lineage of"), "{out}");
    assert!(!dir.path().join(".l9").exists(), "the demo works in a temporary project");
}

#[test]
fn postgres_backend_through_db_flag() {
    let Some(url) = l9_test_support::pg_url() else { return };
    // A fresh database per test run keeps this independent of other tests' schemas.
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let db = format!("l9_cli_{}", std::process::id());
    let admin = url.rsplit_once('/').map(|(base, _)| format!("{base}/postgres")).unwrap();
    let psql = |sql: &str| {
        let o =
            Command::new("psql").args([admin.as_str(), "-q", "-c", sql]).output().expect("psql");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    psql(&format!("DROP DATABASE IF EXISTS {db}"));
    psql(&format!("CREATE DATABASE {db}"));
    let pg = format!("{}/{db}", url.rsplit_once('/').unwrap().0);
    ok(d, &["init", "--db", &pg]);
    let toml = std::fs::read_to_string(d.join(".l9/l9.toml")).unwrap();
    assert!(toml.contains(&pg));
    let p = json(d, &["memory", "put", "--kind", "note", "--text", "pgvector keeps the vectors"]);
    let hits = json(d, &["memory", "search", "vectors"]);
    assert_eq!(hits[0]["id"], p["id"]);
    let e = fails(d, &["memory", "search", "x", "--db", "postgres://l9:pw@127.0.0.1:1/none"], 6);
    assert!(e.contains("unavailable") && !e.contains(":pw@"), "{e}");
    // The whole loop on PostgreSQL: the example run completes, merges and learns.
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adder/spec.md");
    let out = ok(d, &["run", spec.to_str().unwrap(), "--trials", "100"]);
    assert!(out.contains("outcome:     succeeded") && out.contains("merged:"), "{out}");
    assert_eq!(
        std::fs::read_to_string(d.join("l9-out/adder/add.sh")).unwrap(),
        "echo $(($1 + $2))\n"
    );
    let w = json(d, &["world", "stats"]);
    assert_eq!(w["calibration"]["n"], 1);
    assert_eq!(w["causal_edges"][0]["evidence"], 1, "the graph on PostgreSQL: {w}");
    let id = out.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(json(d, &["show", &id])["lineage"]["complete"], true);
    psql(&format!("DROP DATABASE {db} WITH (FORCE)"));
}

#[test]
fn bench_memory_smoke() {
    let dir = l9_test_support::temp_dir();
    let r = json(dir.path(), &["bench", "memory", "--packets", "300", "--queries", "5"]);
    assert_eq!(r["packets"], 300);
    assert!(r["recall_at_10"].as_f64().unwrap() > 0.9);
    assert!(r["ingest_packets_per_s"].as_f64().unwrap() > 0.0);
}

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
    assert!(fails(d, &["tasks", "show", "nope"], 3).contains("not a valid id"));
    let missing = "01a21b17-4335-7425-a611-788049e6ddd0";
    assert!(fails(d, &["tasks", "show", missing], 5).contains("not found"));
    assert!(
        fails(d, &["tasks", "enqueue", "l9.echo", "--payload", "{bad"], 3)
            .contains("not valid JSON")
    );
    fails(d, &["tasks", "list", "--state", "bogus"], 2);
    assert!(fails(d, &["worker", "--concurrency", "0"], 3).contains("--concurrency"));

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
    ok(d, &["tasks", "signal", &id, "approve:ship"]);
    ok(d, &["worker", "--exit-when-idle"]);
    let shown = json(d, &["tasks", "show", &id]);
    assert_eq!(shown["task"]["result"]["outcome"], "Succeeded", "{shown}");
    assert_eq!(shown["children"].as_array().unwrap().len(), 2);
    assert!(
        fails(d, &["tasks", "signal", &id, "x", "--payload", "nope"], 3).contains("not valid JSON")
    );
}

const SPEC: &str = "# Notes\n\n## Storage\n- REQ-1: A save MUST complete within 50 ms.\n- REQ-2: A save MUST complete in at least 80 ms.\n- REQ-3: Notes SHOULD be exported as Markdown.\n\n## Acceptance criteria\n- REQ-1 is checked by the save benchmark.\n";

#[test]
fn ir_check_prints_excerpts_and_exits_1_on_errors() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.md"), SPEC).unwrap();
    let o = l9(d, &["ir", "check", "spec.md"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("error[L9-CHAL-002]: REQ-1: numeric conflict"), "{out}");
    assert!(
        out.contains(
            "  --> spec.md:4:3\n  |\n4 | - REQ-1: A save MUST complete within 50 ms.\n  |   ^^^"
        ),
        "{out}"
    );
    assert!(out.contains("= help: the bounds cannot both hold"), "{out}");
    assert!(
        out.contains("warning[L9-VAL-004]: REQ-2: MUST requirement without acceptance criteria"),
        "{out}"
    );
    assert!(out.lines().last().unwrap().starts_with("spec.md: 1 error(s)"), "{out}");
    let o = l9(d, &["ir", "check", "spec.md", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["diagnostics"].as_array().unwrap().iter().any(|x| x["code"] == "L9-CHAL-002"));

    std::fs::write(d.join("ok.md"), "# T\n\n- REQ-1: Notes MUST be saved.\n\n## Acceptance criteria\n- REQ-1: a saved note is listed.\n").unwrap();
    let out = ok(d, &["ir", "check", "ok.md"]);
    assert!(out.contains("0 error(s)"), "{out}");
    let err = fails(d, &["ir", "check", "missing.md"], 5);
    assert!(err.contains("missing.md"), "{err}");
    let err = fails(d, &["ir", "compile", "spec.md", "--format", "word"], 3);
    assert!(
        err.contains("unknown format `word`")
            && err.contains("markdown, rfc, gherkin, openapi, prose"),
        "{err}"
    );
}

#[test]
fn ir_compile_summarises_emits_json_and_stores_a_packet() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.md"), SPEC).unwrap();
    let out = ok(d, &["ir", "compile", "spec.md"]);
    assert!(out.contains("spec.md (markdown, "), "{out}");
    assert!(out.contains("requirements: 2 MUST"), "{out}");
    let ir = json(d, &["ir", "compile", "spec.md"]);
    assert_eq!(ir["version"], 1);
    assert!(
        ir["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "REQ-1" && n["strength"] == "must")
    );
    ok(d, &["init"]);
    let out = ok(d, &["ir", "compile", "spec.md", "--store"]);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("stored as packet "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let p = json(d, &["memory", "get", &id]);
    assert_eq!(p["kind"], "ir");
    assert_eq!(p["body"]["nodes"]["requirement"], 3);
    assert_eq!(p["blobs"][0]["media_type"], "application/json");
}

#[test]
fn ir_plan_prints_three_candidates_covering_every_must() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.md"), SPEC).unwrap();
    let out = ok(d, &["ir", "plan", "spec.md"]);
    for s in ["tests-first", "component-by-component", "vertical-slices"] {
        assert!(out.contains(&format!("\n{s} — ")), "{out}");
    }
    assert_eq!(out.matches("every MUST covered").count(), 3, "{out}");
    assert!(out.starts_with("Deliberation: "), "{out}");
    let v = json(d, &["ir", "plan", "spec.md"]);
    assert_eq!(v["candidates"].as_array().unwrap().len(), 3);
}

#[test]
fn eval_and_bench_ir_run_on_small_data() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(
        d.join("c.csv"),
        "ProjectID,RequirementText,class,IsNFR\n1,The system shall display the list of orders.,F,0\n1,The product shall respond within 2 seconds.,PE,1\n2,Only authorized users shall access payroll data.,SE,1\n2,The system shall allow a clerk to add a customer.,F,0\n",
    )
    .unwrap();
    let out = ok(d, &["eval", "classify", "--data", "c.csv"]);
    assert!(
        out.contains("macro F1 (F vs NFR)") && out.contains("leave-one-project-out (2 projects)"),
        "{out}"
    );
    assert!(out.contains("Kurtanović & Maalej 2017"), "{out}");
    std::fs::write(
        d.join("s.csv"),
        "text,file,negative_statements\n\"It shall not fail.\",a,not\nIt shall work.,a,-\n",
    )
    .unwrap();
    let out = ok(d, &["eval", "smells", "--data", "s.csv"]);
    let row = out.lines().find(|l| l.starts_with("negative statement")).unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["negative", "statement", "1.000", "1.000", "1.000", "1", "0.44", "better"]
    );
    std::fs::write(d.join("bad.csv"), "ProjectID,RequirementText,class,IsNFR\n1,x,F,maybe\n")
        .unwrap();
    let err = fails(d, &["eval", "classify", "--data", "bad.csv"], 3);
    assert!(err.contains("bad.csv:2:1: error[L9-EVAL-001]"), "{err}");

    std::fs::create_dir(d.join("specs")).unwrap();
    std::fs::write(d.join("specs/spec.md"), SPEC).unwrap();
    let out = ok(d, &["bench", "ir", "specs", "--repeat", "1"]);
    assert!(out.contains("total: 1 files") && out.contains("MB/s"), "{out}");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn agent_run_fixes_a_bug_after_review_and_merges() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let proj = d.join("proj");
    let repo = d.join("repo");
    std::fs::create_dir_all(proj.join("examples/agent")).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agent");
    for f in ["coder.yaml", "reviewer.yaml"] {
        std::fs::copy(ex.join(f), proj.join("examples/agent").join(f)).unwrap();
    }
    ok(&proj, &["init"]);
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str(&std::fs::read_to_string(ex.join("l9.toml")).unwrap());
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    std::fs::write(repo.join("README.md"), "adder\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "init"]);

    let list = ok(&proj, &["models", "list"]);
    assert!(
        list.contains("coder        scripted")
            && list.contains("roles: coder → coder, reviewer → reviewer"),
        "{list}"
    );

    let out = ok(
        &proj,
        &[
            "agent",
            "run",
            "--task",
            "write add.sh that prints the sum of its two arguments",
            "--repo",
            "../repo",
            "--gate",
            "test \"$(sh add.sh 2 2)\" = 4",
        ],
    );
    assert!(out.contains("round 1: coder: Implemented add.sh; gate FAILED; reviewer: changes add.sh subtracts; it must add"), "{out}");
    assert!(
        out.contains("round 2: coder: Fixed the sign; gate passed; reviewer: approve"),
        "{out}"
    );
    assert!(out.contains("merged (fast-forward)"), "{out}");
    // The world model learned from the run.
    let w = json(&proj, &["world", "stats"]);
    assert_eq!(w["deltas"], 1);
    assert_eq!(w["kinds"]["implement"]["observed"], 1);
    // and the simulator's priors in this project are the learned ones.
    std::fs::write(proj.join("spec.md"), SPEC).unwrap();
    let sim = json(&proj, &["sim", "spec.md", "--trials", "50"]);
    assert!(sim["priors"].as_str().unwrap().ends_with("+1"), "{sim}");
    assert_eq!(std::fs::read_to_string(repo.join("add.sh")).unwrap(), "echo $(($1 + $2))\n");
    let log = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(log.contains("L9-Task: ") && log.contains("L9-Packet: "), "{log}");
    // Every step is in the journal (and so in the lineage).
    let id =
        out.lines().last().unwrap().rsplit(' ').next().unwrap().trim_end_matches('`').to_string();
    let show = json(&proj, &["tasks", "show", &id]);
    let keys: Vec<String> = show["journal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["key"].as_str().unwrap().to_string())
        .collect();
    for k in [
        "step:worktree#0",
        "step:r1/coder/model#1#0",
        "step:r1/gate#0",
        "step:r1/review#0",
        "step:r2/coder/tool#1.0:apply_patch#0",
        "step:commit#0",
        "step:merge#0",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
    }
    assert!(
        show["journal"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["packet"].as_str().is_some_and(|p| !p.is_empty()))
    );

    // A gate that never passes: not done, exit code 1, the reason printed.
    let o = l9(
        &proj,
        &[
            "agent",
            "run",
            "--task",
            "write add.sh",
            "--repo",
            "../repo",
            "--gate",
            "false",
            "--rounds",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("round 1: coder: Implemented add.sh; gate FAILED; reviewer: changes"),
        "{out}"
    );
    assert!(out.contains("not done: not done after 1 round(s): the gate did not pass"), "{out}");
    // Record the same task on a fresh repo, then replay the cassette: same rounds, no script.
    let repo2 = d.join("repo2");
    std::fs::create_dir_all(&repo2).unwrap();
    std::fs::write(repo2.join("README.md"), "adder\n").unwrap();
    git(&repo2, &["init", "-q", "-b", "main"]);
    git(&repo2, &["add", "-A"]);
    git(&repo2, &["commit", "-qm", "init"]);
    let args = [
        "agent",
        "run",
        "--task",
        "write add.sh that prints the sum of its two arguments",
        "--repo",
        "../repo2",
        "--gate",
        "test \"$(sh add.sh 2 2)\" = 4",
    ];
    let mut rec = args.to_vec();
    rec.extend(["--record", "calls.jsonl"]);
    ok(&proj, &rec);
    let cassette = std::fs::read_to_string(proj.join("calls.jsonl")).unwrap();
    assert_eq!(cassette.lines().count(), 6, "4 coder calls and 2 reviews");
    git(&repo2, &["reset", "-q", "--hard", "HEAD~1"]);
    let toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    let replay = toml
        .replace(
            "kind = \"scripted\"\nscript = \"examples/agent/coder.yaml\"",
            "kind = \"replay\"\ncassette = \"calls.jsonl\"",
        )
        .replace(
            "kind = \"scripted\"\nscript = \"examples/agent/reviewer.yaml\"",
            "kind = \"replay\"\ncassette = \"calls.jsonl\"",
        );
    assert_ne!(replay, toml);
    std::fs::write(proj.join(".l9/l9.toml"), replay).unwrap();
    let out2 = ok(&proj, &args);
    assert!(
        out2.contains("round 2: coder: Fixed the sign; gate passed; reviewer: approve"),
        "{out2}"
    );
}

#[test]
fn agent_configuration_errors_name_the_provider_and_the_setting() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let base = std::fs::read_to_string(d.join(".l9/l9.toml")).unwrap();
    std::fs::write(d.join(".l9/l9.toml"), format!("{base}\n[providers.gpt]\nkind = \"openai\"\nmodel = \"gpt-4.1\"\napi_key_env = \"L9_TEST_NO_SUCH_KEY\"\n")).unwrap();
    let err = fails(d, &["agent", "run", "--task", "x", "--repo", "."], 4);
    assert!(
        err.contains(
            "provider gpt: the API key environment variable L9_TEST_NO_SUCH_KEY is not set"
        ) && err.contains("providers.gpt.api_key_env"),
        "{err}"
    );
    std::fs::write(d.join(".l9/l9.toml"), format!("{base}\n[providers.gpt]\nkind = \"opneai\"\n"))
        .unwrap();
    let err = fails(d, &["models", "list"], 4);
    assert!(err.contains("l9.toml:") && err.contains("unknown variant `opneai`"), "{err}");
    std::fs::write(d.join(".l9/l9.toml"), format!("{base}\n[roles]\ncoder = \"nobody\"\n"))
        .unwrap();
    let err = fails(d, &["models", "list"], 4);
    assert!(
        err.contains("roles.coder names provider \"nobody\", which is not configured"),
        "{err}"
    );
    std::fs::write(d.join(".l9/l9.toml"), base).unwrap();
    let err = fails(d, &["agent", "run", "--task", "x", "--repo", "."], 4);
    assert!(err.contains("no provider for the coder role"), "{err}");
}

#[test]
fn sim_ranks_a_specs_candidates_caches_them_and_reads_scenarios() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.md"), SPEC).unwrap();
    let first = ok(d, &["sim", "spec.md", "--trials", "300"]);
    for s in ["tests-first", "component-by-component", "vertical-slices"] {
        assert!(first.contains(&format!("\n{s} ")), "{first}");
    }
    assert!(!first.contains("from cache"), "{first}");
    let again = ok(d, &["sim", "spec.md", "--trials", "300"]);
    assert!(again.contains("(3 from cache)"), "{again}");
    assert_eq!(
        first.lines().skip(1).collect::<Vec<_>>(),
        again.lines().skip(1).collect::<Vec<_>>()
    );
    let v = json(d, &["sim", "spec.md", "--trials", "300"]);
    assert_eq!(v["ranked"].as_array().unwrap().len(), 3);
    std::fs::write(d.join("flaky.yaml"), "name: flaky tests\nkinds:\n  test: { failure: 0.9 }\n")
        .unwrap();
    let flaky = ok(d, &["sim", "spec.md", "--trials", "300", "--scenario", "flaky.yaml"]);
    assert!(flaky.contains("scenario flaky tests"), "{flaky}");
    assert_ne!(flaky.lines().nth(2), first.lines().nth(2));
    std::fs::write(d.join("bad.yaml"), "kinds:\n  test: { failure: 2 }\n").unwrap();
    let err = fails(d, &["sim", "spec.md", "--scenario", "bad.yaml"], 3);
    assert!(err.contains("kinds.test.failure must be between 0 and 1"), "{err}");
}

#[test]
fn init_seeds_the_world_model_once_and_it_answers_queries() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    assert!(ok(d, &["init"]).contains("world model: 108 seed items added, 0 already there"));
    assert!(ok(d, &["init"]).contains("world model: 0 seed items added, 108 already there"));
    let stats = json(d, &["world", "stats"]);
    assert_eq!(stats["items"]["architectural patterns"], 27);
    assert_eq!(stats["items"]["coding heuristics"], 44);
    assert_eq!(stats["items"]["reflections"], 22);
    let hits = json(d, &["world", "query", "SQL injection from string concatenation", "-k", "3"]);
    assert_eq!(hits[0]["id"], "CH-011", "{hits}");
    let item = json(d, &["world", "show", "AP-008"]);
    assert_eq!(item["item"]["title"], "Competing consumers with leases");
    let err = fails(d, &["world", "show", "NOPE-1"], 5);
    assert!(err.contains("world-model item \"NOPE-1\""), "{err}");
    let stats = ok(d, &["world", "stats"]);
    assert!(
        stats.contains("learned from 0 observation(s)")
            && stats.contains("calibration: no predicted-vs-actual"),
        "{stats}"
    );
}

fn adder_project(d: &Path, with_provider: bool) -> std::path::PathBuf {
    let proj = d.join("proj");
    let repo = proj.join("repo");
    std::fs::create_dir_all(proj.join("examples/agent")).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for f in ["coder.yaml", "reviewer.yaml"] {
        std::fs::copy(ex.join("agent").join(f), proj.join("examples/agent").join(f)).unwrap();
    }
    std::fs::copy(ex.join("adder/spec.md"), proj.join("spec.md")).unwrap();
    ok(&proj, &["init"]);
    if with_provider {
        add_providers(&proj);
    }
    std::fs::write(repo.join("README.md"), "adder\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "init"]);
    proj
}

fn add_providers(proj: &Path) {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agent/l9.toml");
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str(&std::fs::read_to_string(ex).unwrap());
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
}

#[test]
fn run_without_a_repo_runs_the_deterministic_stages() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), false);
    let out = ok(&proj, &["run", "spec.md", "--plan-only", "--trials", "100"]);
    for s in [
        "compile:     5 nodes, 1 requirements",
        "challenge:",
        "deliberate:",
        "plan:        3 candidates",
        "simulate:    priors seeds-",
        "choose:",
        "outcome:     planned (no --repo",
    ] {
        assert!(out.contains(s), "{s} missing:\n{out}");
    }
    let status = ok(&proj, &["status"]);
    assert!(status.contains("succeeded") && status.contains("spec.md"), "{status}");
}

#[test]
fn run_executes_with_agents_merges_and_learns() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    let out = ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    assert!(out.contains("change failure rate 100%"), "the first gate failed:\n{out}");
    assert!(out.contains("merged:      "), "{out}");
    assert_eq!(std::fs::read_to_string(proj.join("repo/add.sh")).unwrap(), "echo $(($1 + $2))\n");
    let w = json(&proj, &["world", "stats"]);
    assert_eq!(w["kinds"]["implement"]["observed"], 1, "{w}");
    assert_eq!(w["calibration"]["n"], 1, "{w}");
    // The run is inspectable afterwards and replays without effects.
    let id = out.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    let show = json(&proj, &["show", &id]);
    assert_eq!(show["state"], "succeeded");
    let replay = json(&proj, &["replay", &id]);
    if replay["matches_recorded"] != jsonv!(true) {
        let recorded = serde_json::to_string_pretty(&show["result"]).unwrap();
        let replayed = serde_json::to_string_pretty(&replay["output"]).unwrap();
        let diff: Vec<String> = recorded
            .lines()
            .zip(replayed.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .take(10)
            .collect();
        panic!("replay differs from the recorded result:\n{}", diff.join("\n"));
    }
    assert_eq!(show["result"]["chosen"], show["simulation"]["ranked"][0]["name"]);
}

#[test]
fn run_without_a_provider_waits_and_resumes_once_configured() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), false);
    let out = ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert!(out.contains("waiting — no model provider or agent adapter is configured"), "{out}");
    let id = out.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    assert!(ok(&proj, &["status", &id]).contains("waiting"));
    add_providers(&proj);
    let out = ok(&proj, &["resume", &id]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
}

#[test]
fn several_coders_are_routed_by_what_the_world_model_has_seen() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    // A careless coder: writes the buggy version and claims done whatever the review says.
    std::fs::write(
        proj.join("careless.yaml"),
        "rules:\n  - name: buggy\n    when: { role: coder, step: \"r1/coder/model#1\" }\n    tool_calls:\n      - name: write_file\n        arguments: { path: add.sh, content: \"echo $(($1 - $2))\\n\" }\n  - name: done\n    when: { role: coder }\n    reply: \"done\"\n",
    )
    .unwrap();
    let cfg = proj.join(".l9/l9.toml");
    let toml = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("coder = \"coder\"", "coder = [\"careless\", \"coder\"]")
        + "\n[providers.careless]\nkind = \"scripted\"\nscript = \"careless.yaml\"\n";
    std::fs::write(&cfg, toml).unwrap();
    assert!(ok(&proj, &["models", "list"]).contains("coder → careless | coder"));
    // Nothing known yet: both are a coin flip, the first listed gets the work and fails.
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("route:       coder careless"), "{out}");
    let w = json(&proj, &["world", "stats"]);
    assert_eq!(w["executors"]["provider:careless"]["failed"], 1, "{w}");
    // The next run goes to the other one, which gets it done.
    let out = ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert!(
        out.contains(
            "route:       coder coder (success rates: provider:careless 0.33, provider:coder 0.50)"
        ),
        "{out}"
    );
    assert!(out.contains("outcome:     succeeded"), "{out}");
    assert_eq!(std::fs::read_to_string(proj.join("repo/add.sh")).unwrap(), "echo $(($1 + $2))\n");
}

#[test]
fn a_killed_l9_run_is_finished_by_l9_resume() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    // The adder example with a slower gate, so that kills land inside the run.
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adder");
    std::fs::create_dir_all(d.join("ex")).unwrap();
    let spec = std::fs::read_to_string(ex.join("spec.md")).unwrap();
    let slow =
        spec.replace("test \"$(sh add.sh 2 2)\" = 4", "sleep 0.5; test \"$(sh add.sh 2 2)\" = 4");
    assert_ne!(spec, slow);
    std::fs::write(d.join("ex/spec.md"), slow).unwrap();
    std::fs::copy(ex.join("provider.yaml"), d.join("ex/provider.yaml")).unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut id, mut mid_run, mut kills) = (None::<String>, 0, 0);
    while kills < 20 {
        let args: Vec<&str> = match &id {
            None => vec!["run", "ex/spec.md"],
            Some(r) => vec!["resume", r.as_str()],
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_l9"))
            .args(&args)
            .current_dir(d)
            .env_remove("L9_DB")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        std::thread::sleep(std::time::Duration::from_millis(80 + (seed >> 33) % 700));
        if child.try_wait().unwrap().is_none() {
            mid_run += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        if id.is_none() {
            id = json(d, &["status"])
                .as_array()
                .unwrap()
                .first()
                .map(|r| r["run"].as_str().unwrap().to_string());
        }
        kills += 1;
        if id.as_ref().is_some_and(|r| json(d, &["status", r])[0]["state"] == "succeeded") {
            break; // it got through between two kills
        }
    }
    eprintln!("{kills} kills, {mid_run} while l9 was running");
    let id = id.expect("a run was started");
    // The killed processes' leases are given back at once, so one `l9 resume` finishes it.
    let out = ok(d, &["resume", &id]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    assert_eq!(std::fs::read_to_string(d.join("l9-out/ex/add.sh")).unwrap(), "echo $(($1 + $2))\n");
    // Kills land mid-run until the run gets through (the engine's crash test kills workers
    // twenty times mid-run and counts model calls); at least one must have.
    assert!(mid_run >= 1, "no kill landed while l9 was running ({kills} kills)");
    assert_eq!(json(d, &["status"]).as_array().unwrap().len(), 1, "one run, resumed");
}

#[test]
fn the_readme_example_runs_with_one_command_and_leaves_working_code() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    // A run killed while it was making the greeter's workspace left it half made.
    let half = d.join("l9-out/greeter");
    std::fs::create_dir_all(&half).unwrap();
    git(&half, &["init", "-q", "-b", "main"]);
    std::fs::write(half.join(".git/index.lock"), "").unwrap();
    for name in ["adder", "greeter"] {
        let spec = ex.join(name).join("spec.md");
        let out = ok(d, &["run", spec.to_str().unwrap(), "--trials", "100"]);
        assert!(out.contains("outcome:     succeeded"), "{name}: {out}");
        let repo = d.join("l9-out").join(name);
        let gate = if name == "adder" {
            "test \"$(sh add.sh 2 2)\" = 4"
        } else {
            "test \"$(sh greet.sh Ada)\" = \"Hello, Ada!\""
        };
        let o = Command::new("sh").args(["-c", gate]).current_dir(&repo).output().unwrap();
        assert!(o.status.success(), "{name}: the merged code passes its gate");
        assert!(git(&repo, &["log", "--format=%B"]).contains("L9-Task: "));
    }
}

#[test]
fn a_second_run_knows_what_the_first_learned_and_fails_fewer_gates() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adder/spec.md");
    let first = ok(d, &["run", spec.to_str().unwrap(), "--trials", "100"]);
    assert!(first.contains("0 hidden constraint(s) from the world model"), "{first}");
    assert!(
        first.contains("info L9-SMELL-008 (line 9): vague pronoun"),
        "findings listed: {first}"
    );
    assert!(first.contains("change failure rate 100%"), "{first}");
    let first_id = first.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    let show1 = json(d, &["show", &first_id]);
    // Lineage: spec → IR → plan → the task → its gates → its merge, every link checked.
    assert_eq!(show1["lineage"]["complete"], true, "{}", show1["lineage"]);
    assert_eq!(show1["lineage"]["tasks"][0]["gates"], 2, "{}", show1["lineage"]);
    // The timeline shows the coding task's failed then passing gate; DORA's time to restore
    // is the time between them.
    let timeline = show1["timeline"].as_array().unwrap();
    let coding = timeline.iter().find(|t| t["kind"] == "l9.agent").unwrap();
    let passed: Vec<bool> =
        coding["gates"].as_array().unwrap().iter().map(|g| g[1].as_bool().unwrap()).collect();
    assert_eq!(passed, [false, true], "{coding}");
    assert!(show1["result"]["dora"]["time_to_restore_minutes"].as_f64().unwrap() >= 0.0);
    let w = json(d, &["world", "stats"]);
    assert_eq!(w["items"]["hidden constraints"], 1, "{w}");
    let edge = |w: &serde_json::Value, cause: &str| {
        w["causal_edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["cause"] == cause)
            .map(|e| e["evidence"].as_u64().unwrap())
    };
    assert_eq!(edge(&w, "unstated constraint on add.sh"), Some(1), "{w}");
    assert_eq!(edge(&w, "reviewer feedback"), Some(1), "{w}");
    // The insights shown to the task whose first gate failed were voted down (ExpeL).
    let votes = w["votes"].as_object().unwrap();
    assert!(!votes.is_empty(), "{w}");
    assert!(votes.values().all(|v| v[0] == 0 && v[1] == 1), "{w}");
    // Bitemporal: as known when the first run's tasks started, no constraint had been learned;
    // and no seed item was valid in 2000.
    let before = coding["started"].as_str().unwrap();
    let then = json(d, &["world", "stats", "--known-at", before]);
    assert_eq!(then["items"]["hidden constraints"], 0, "{then}");
    let y2000 = json(d, &["world", "stats", "--as-of", "2000-01-01"]);
    assert_eq!(y2000["items"]["coding heuristics"], 0, "{y2000}");
    // A fresh repository for the second run of the same spec family.
    std::fs::remove_dir_all(d.join("l9-out")).unwrap();
    let second = ok(d, &["run", spec.to_str().unwrap(), "--trials", "100"]);
    assert!(second.contains("1 hidden constraint(s) from the world model"), "{second}");
    assert!(second.contains("change failure rate 0%"), "the coder was told up front:\n{second}");
    assert_eq!(
        std::fs::read_to_string(d.join("l9-out/adder/add.sh")).unwrap(),
        "echo $(($1 + $2))\n"
    );
    // The challenger raised it before planning.
    let id = second.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    let show = json(d, &["show", &id]);
    assert_eq!(show["stages"]["hidden_constraints"], 1);
    assert_eq!(
        show["stages"]["findings"].as_u64().unwrap(),
        first_findings(&first) + 1,
        "L9-CHAL-004 raised"
    );
    let w = json(d, &["world", "stats"]);
    assert_eq!(edge(&w, "learned constraint on add.sh"), Some(1), "{w}");
    assert!(w["votes"].as_object().unwrap().values().any(|v| v[0] == 1), "up votes: {w}");
    // Retiring the learned constraint: the next run no longer raises it; a view of the
    // moment before the retirement still has it.
    let hc = json(d, &["world", "query", "add.sh must add", "-k", "20"])
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["pack"] == "hidden constraints")
        .map(|h| h["id"].as_str().unwrap().to_string())
        .unwrap();
    let before_retire = show["timeline"][0]["started"].as_str().unwrap().to_string();
    ok(d, &["world", "retire", &hc, "--reason", "add.sh was replaced"]);
    let e = fails(d, &["world", "retire", &hc, "--reason", "again"], 3);
    assert!(e.contains("L9-WORLD-001") && e.contains("already retired"), "{e}");
    assert!(fails(d, &["world", "retire", "NOPE", "--reason", "x"], 5).contains("lists ids"));
    assert!(fails(d, &["world", "stats", "--as-of", "yesterday"], 3).contains("RFC 3339"));
    assert_eq!(json(d, &["world", "stats"])["items"]["hidden constraints"], 0);
    let then = json(d, &["world", "show", &hc, "--as-of", &before_retire]);
    assert_eq!((&then["item"]["id"], &then["retired"]), (&jsonv!(hc), &jsonv!(null)), "{then}");
    let now = json(d, &["world", "show", &hc]);
    assert_eq!(now["retired"], "add.sh was replaced", "{now}");
    // Provenance: learned in the first run, anchored to the file at the commit that fixed it.
    assert_eq!(now["item"]["anchor"]["path"], "add.sh", "{now}");
    assert_eq!(now["item"]["anchor"]["commit"], show1["result"]["dora"]["merged"][0], "{now}");
    assert_eq!(now["item"]["source"], format!("run {first_id}"));
    std::fs::remove_dir_all(d.join("l9-out")).unwrap();
    let third = ok(d, &["run", spec.to_str().unwrap(), "--trials", "100"]);
    assert!(third.contains("0 hidden constraint(s) from the world model"), "{third}");
}

fn first_findings(show_text: &str) -> u64 {
    let line = show_text.lines().find(|l| l.trim_start().starts_with("challenge:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
