//! End-to-end tests of the `l9` binary (one test binary; the Task Runtime, IR, agents and
//! the loop in modules of their own): exit codes, messages, import atomicity, export →
//! import round trips, and the PostgreSQL backend selected by `--db`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test
#![allow(clippy::disallowed_methods)] // tests spawn the binary under test

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json as jsonv};

fn l9(dir: &Path, args: &[&str]) -> Output {
    l9_env(dir, &[], args)
}

/// [`l9`] with more environment variables set.
fn l9_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(args)
        .current_dir(dir)
        .env_remove("L9_DB")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run l9")
}

/// `l9 ARGS…` started in `dir` in the background, its output discarded.
fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(args)
        .current_dir(dir)
        .env_remove("L9_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start l9")
}

/// A fresh database `name` on the test cluster: its URL, and a function that drops it.
fn fresh_database(url: &str, name: &str) -> (String, impl Fn() + use<>) {
    let admin = url.rsplit_once('/').map(|(base, _)| format!("{base}/postgres")).unwrap();
    let psql = move |sql: &str| {
        let o =
            Command::new("psql").args([admin.as_str(), "-q", "-c", sql]).output().expect("psql");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let drop_name = name.to_string();
    (format!("{}/{name}", url.rsplit_once('/').unwrap().0), move || {
        psql(&format!("DROP DATABASE {drop_name} WITH (FORCE)"))
    })
}

/// A fresh, initialised project: on a SQLite file, or (`pg`: the test cluster's URL) on a
/// fresh database `l9_<name>_<pid>` of its own, which is dropped with the project.
struct Project {
    dir: tempfile::TempDir,
    /// `["--db", URL]` for PostgreSQL (also written to the project's `l9.toml`), else empty.
    db: Vec<String>,
    drop_db: Option<Box<dyn Fn()>>,
}

impl Project {
    fn new(pg: Option<&str>, name: &str) -> Project {
        let dir = l9_test_support::temp_dir();
        let mut db = Vec::new();
        let mut drop_db: Option<Box<dyn Fn()>> = None;
        if let Some(url) = pg {
            let (u, d) = fresh_database(url, &format!("l9_{name}_{}", std::process::id()));
            db = vec!["--db".into(), u];
            drop_db = Some(Box::new(d));
        }
        let mut a: Vec<&str> = db.iter().map(String::as_str).collect();
        a.push("init");
        ok(dir.path(), &a);
        Project { dir, db, drop_db }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `--db URL` (or nothing), then `args`.
    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        self.db.iter().map(String::as_str).chain(args.iter().copied()).collect()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if let Some(d) = &self.drop_db {
            d();
        }
    }
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

/// `--json` output of a command whatever its exit code (a waiting run exits 75).
fn json_any(dir: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = l9(dir, &a);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("l9 {args:?}: {e}"))
}

fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let o = l9(dir, args);
    assert_eq!(o.status.code(), Some(code), "l9 {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stderr).unwrap()
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

const SPEC: &str = "# Notes\n\n## Storage\n- REQ-1: A save MUST complete within 50 ms.\n- REQ-2: A save MUST complete in at least 80 ms.\n- REQ-3: Notes SHOULD be exported as Markdown.\n\n## Acceptance criteria\n- REQ-1 is checked by the save benchmark.\n";

mod agents;
mod embed_ahead;
mod example;
mod execute;
mod ingest;
mod integrity;
mod ir;
mod learning;
mod limits;
mod mcp;
mod repos;
mod run;
mod secrets;
mod serve;
mod steer;
mod sweep;
mod tasks;
mod telemetry;

#[test]
fn init_is_idempotent_and_memory_round_trips() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    assert!(ok(d, &["init"]).contains("Initialised"));
    assert!(ok(d, &["init"]).contains("Already initialised"));
    assert!(d.join(".l9/l9.toml").is_file() && d.join(".l9/l9.db").is_file());
    // The template shows, commented, how to add providers, agents, roles and schedules.
    let toml = std::fs::read_to_string(d.join(".l9/l9.toml")).unwrap();
    for s in
        ["# [providers.gpt]", "# [agents.claude]", "# [roles]", "# [schedules.nightly]", "price_in"]
    {
        assert!(toml.contains(s), "{s} missing from the template:\n{toml}");
    }

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

    // A deep lineage prints in linear space: indentation stops at 16 levels, the depth is
    // written out beyond (it grew with depth², 2.5 GB at depth 2,000).
    let chain: String = (0..300)
        .map(|i| {
            let parents =
                if i > 0 { format!(",\"parents\":[\"p{}\"]", i - 1) } else { String::new() };
            format!("{{\"ref\":\"p{i}\",\"kind\":\"note\",\"text\":\"link {i}\"{parents}}}\n")
        })
        .collect();
    std::fs::write(d.join("chain.jsonl"), chain).unwrap();
    ok(d, &["memory", "import", "chain.jsonl"]);
    let last =
        json(d, &["memory", "search", "link 299", "-k", "1"])[0]["id"].as_str().unwrap().to_owned();
    let text = ok(d, &["memory", "lineage", &last, "--depth", "400"]);
    assert_eq!(text.lines().count(), 299, "{text}");
    assert!(text.lines().all(|l| l.chars().count() < 130), "{text}");
    assert!(text.lines().last().unwrap().contains("(299) ↑ note"), "{text}");
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
    // A line that is not UTF-8 is named (the file is read line by line, not whole).
    std::fs::write(&file, b"{\"kind\":\"note\",\"text\":\"fine\"}\n{\"kind\":\"\xff\xfe\"}\n")
        .unwrap();
    let e = fails(d, &["memory", "import", "bad.jsonl"], 3);
    assert!(e.contains("bad.jsonl:2:1: error[L9-IMPORT-013]"), "{e}");
    assert!(!e.contains("bad.jsonl:1:"), "{e}");

    std::fs::write(&file, "{\"ref\":\"a\",\"kind\":\"note\",\"text\":\"fine\"}\n{\"kind\":\"note\",\"text\":\"child\",\"parents\":[\"a\"]}\n").unwrap();
    let r = json(d, &["memory", "import", "bad.jsonl"]);
    assert_eq!(r["packets_inserted"], 2);
    // The same drafts again add nothing (refs resolve to the stored packets); a draft that
    // differs only in its text (not covered by the hash) is new.
    let r = json(d, &["memory", "import", "bad.jsonl"]);
    assert_eq!(
        (r["packets_inserted"].clone(), r["packets_present"].clone()),
        (jsonv!(0), jsonv!(2)),
        "{r}"
    );
    std::fs::write(&file, "{\"ref\":\"a\",\"kind\":\"note\",\"text\":\"fine\"}\n{\"kind\":\"note\",\"text\":\"another child\",\"parents\":[\"a\"]}\n").unwrap();
    let r = json(d, &["memory", "import", "bad.jsonl"]);
    assert_eq!(
        (r["packets_inserted"].clone(), r["packets_present"].clone()),
        (jsonv!(1), jsonv!(1)),
        "{r}"
    );
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
    let (pg, drop_db) = fresh_database(&url, &format!("l9_cli_{}", std::process::id()));
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
    drop_db();
}

#[test]
fn bench_serve_smoke() {
    let dir = l9_test_support::temp_dir();
    let args = [
        "bench",
        "serve",
        "--packets",
        "50",
        "--requests",
        "40",
        "--connections",
        "4",
        "--clients",
        "10",
    ];
    let r = json(dir.path(), &args);
    let rows = r["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|x| x["http"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["memory search", "run show", "event stream (whole run)"]);
    for x in rows {
        assert!(
            x["http"]["n"].as_u64().unwrap() > 0
                && x["in_process"]["per_s"].as_f64().unwrap() > 0.0,
            "{x}"
        );
        assert!(x["p50_ratio"].as_f64().unwrap() > 0.0, "{x}");
    }
    assert!(r["events_per_stream"].as_u64().unwrap() > 10, "{r}");
}

/// `l9 bench queue` on SQLite: every job done once, each figure next to its raw-SQL floor
/// (the floor's one-at-a-time and batched claims take different paths). On PostgreSQL also
/// with several claimers, whose run (and floor) must still complete every job exactly once
/// (the bench refuses a run that did more or less); SQLite refuses several claimers.
#[test]
fn bench_queue_smoke() {
    let dir = l9_test_support::temp_dir();
    let args = ["bench", "queue", "--single", "40", "--jobs", "300", "--batch", "25"];
    let figures = |r: &Value| {
        for k in [
            "single_jobs_per_s",
            "batched_jobs_per_s",
            "enqueue_jobs_per_s",
            "baseline_single_jobs_per_s",
            "baseline_batched_jobs_per_s",
            "baseline_durable_inserts_per_s",
        ] {
            assert!(r[k].as_f64().is_some_and(|v| v > 0.0), "{k}: {r}");
        }
    };
    let r = json(dir.path(), &args);
    assert_eq!((&r["backend"], &r["clients"]), (&jsonv!("sqlite"), &jsonv!(1)), "{r}");
    figures(&r);
    let mut several = args.to_vec();
    several.extend(["--clients", "3"]);
    let err = fails(dir.path(), &several, 3);
    assert!(err.contains("--clients above 1 needs --db postgres"), "{err}");
    if let Some(url) = l9_test_support::pg_url() {
        several.extend(["--db", &url]);
        let r = json(dir.path(), &several);
        assert_eq!((&r["backend"], &r["clients"]), (&jsonv!("postgres"), &jsonv!(3)), "{r}");
        figures(&r);
    }
}

/// `l9 bench workflow` on both backends: every figure next to its in-run floors (a one-row
/// insert, and the rows a step writes by raw SQL into tables shaped like the store's).
#[test]
fn bench_workflow_smoke() {
    let dir = l9_test_support::temp_dir();
    let args = ["bench", "workflow", "--steps", "8", "--workflows", "2"];
    let r = json(dir.path(), &args);
    assert_eq!(r["backend"], "sqlite (synchronous=NORMAL)", "{r}");
    for k in
        ["one_workflow_steps_per_s", "concurrent_steps_per_s", "baseline_one_writer_inserts_per_s"]
    {
        assert!(r[k].as_f64().is_some_and(|v| v > 0.0), "{k}: {r}");
    }
    assert!(r["baseline_one_writer_step_rows_per_s"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    if let Some(url) = l9_test_support::pg_url() {
        let mut args = args.to_vec();
        args.extend(["--db", &url]);
        let r = json(dir.path(), &args);
        assert_eq!(r["backend"], "postgres", "{r}");
        for k in [
            "concurrent_steps_per_s",
            "concurrent_steps_no_group_commit_per_s",
            "baseline_concurrent_inserts_per_s",
            "baseline_one_writer_step_rows_per_s",
            "baseline_concurrent_step_rows_per_s",
        ] {
            assert!(r[k].as_f64().is_some_and(|v| v > 0.0), "{k}: {r}");
        }
    }
}

#[test]
fn bench_memory_smoke() {
    let dir = l9_test_support::temp_dir();
    let r = json(dir.path(), &["bench", "memory", "--packets", "300", "--queries", "5"]);
    assert_eq!(r["packets"], 300);
    assert!(r["recall_at_10"].as_f64().unwrap() > 0.9);
    assert!(r["ingest_packets_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["index_build_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(r["incremental_packets"], 30);
    assert!(r["floor_copy_packets_per_s"].is_null(), "no COPY floor on SQLite: {r}");
    // 300 packets are searched exactly on SQLite: hybrid's vector half is the exact one.
    assert_eq!(r["hybrid_vector_recall_at_50"].as_f64(), Some(1.0), "{r}");
    assert_eq!(r["hybrid_top10_agreement"].as_f64(), Some(1.0), "{r}");
    assert_eq!(r["narrow_beam_top10_agreement"].as_f64(), Some(1.0), "{r}");
    // A new handle on 300 vectors loads them the incremental way (the indexes-only first
    // load is for stores of 20,000 and more), all from the shared file.
    assert_eq!(r["reopen_keys_from_indexes"], 0, "{r}");
    assert_eq!(r["reopen_vectors_from_table"], 0, "{r}");
    // PostgreSQL: the same, next to one COPY of the same rows into tables of the same shape.
    if let Some(url) = l9_test_support::pg_url() {
        let r = json(
            dir.path(),
            &["bench", "memory", "--packets", "300", "--queries", "5", "--db", &url],
        );
        assert_eq!(r["backend"], "postgres");
        assert!(r["recall_at_10"].as_f64().unwrap() > 0.9, "{r}");
        assert!(r["floor_copy_packets_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["floor_index_build_s"].as_f64().unwrap() >= 0.0, "{r}");
        let agreement = r["hybrid_top10_agreement"].as_f64().unwrap();
        assert!((0.5..=1.0).contains(&agreement), "{r}");
    }
}
