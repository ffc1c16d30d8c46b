//! The loop: `l9 run`, `resume`, `show`, routing and learning across runs, the world model.

use super::*;

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
    // One journal entry whole: the first gate's value, by key or by sequence number.
    let agent = show["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "l9.agent")
        .unwrap()["task"]
        .as_str()
        .unwrap()
        .to_string();
    let gate = json(&proj, &["tasks", "show", &agent, "--step", "step:r1/gate#0"]);
    assert_eq!(
        (gate["value"]["passed"].clone(), gate["value"]["exit_code"].clone()),
        (jsonv!(false), jsonv!(1))
    );
    let seq = gate["seq"].to_string();
    assert_eq!(json(&proj, &["tasks", "show", &agent, "--step", &seq])["key"], "step:r1/gate#0");
    let e = fails(&proj, &["tasks", "show", &agent, "--step", "step:nope#0"], 5);
    assert!(e.contains("no journal entry") && e.contains("step:r1/gate#0"), "{e}");
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

/// The NDJSON events `l9 run --json` streams, in order.
fn events(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn run_streams_typed_events_that_show_reconstructs_from_the_journal() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let live = events(&String::from_utf8(o.stdout).unwrap());
    let kinds: Vec<&str> = live.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for k in [
        "run_started",
        "stage_started",
        "stage_finished",
        "task_started",
        "agent_turn",
        "model_call",
        "gate_started",
        "gate_finished",
        "review_verdict",
        "merge",
        "task_finished",
        "budget_update",
        "run_finished",
    ] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    assert_eq!(live.last().unwrap()["outcome"], "succeeded");
    // The first gate failed with its exit code and output; the turn that wrote add.sh says so.
    let gates: Vec<&Value> = live.iter().filter(|e| e["event"] == "gate_finished").collect();
    assert_eq!(gates[0]["passed"], false, "{gates:?}");
    assert_eq!(gates[0]["exit_code"], 1, "{gates:?}");
    assert_eq!(gates[0]["command"], "test \"$(sh add.sh 2 2)\" = 4");
    assert_eq!(gates.last().unwrap()["passed"], true);
    let wrote = live
        .iter()
        .find(|e| e["event"] == "agent_turn" && e["tools"] == jsonv!(["write_file"]))
        .unwrap_or_else(|| panic!("no write_file turn: {live:?}"));
    assert_eq!(wrote["files_changed"], jsonv!(["add.sh"]));
    // Ids are unique.
    let ids: std::collections::HashSet<&str> =
        live.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), live.len());

    // `l9 show` rebuilds the same events from the journal: the same set, the same order
    // within each task, the same final spend.
    let id = live[0]["run"].as_str().unwrap().to_string();
    let show = json(&proj, &["show", &id]);
    let after = show["events"].as_array().unwrap().clone();
    let key = |e: &Value| {
        let mut e = e.clone();
        if e["event"] == "budget_update" {
            // Running totals depend on the order tasks were polled in.
            e["spent_tokens"] = Value::Null;
            e["spent_micro_usd"] = Value::Null;
        }
        e.to_string()
    };
    let mut a: Vec<String> = live.iter().map(key).collect();
    let mut b: Vec<String> = after.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the stream and the report disagree");
    let total = |evs: &[Value]| {
        evs.iter()
            .filter(|e| e["event"] == "budget_update")
            .map(|e| e["spent_tokens"].as_u64().unwrap())
            .max()
    };
    assert_eq!(total(&live), total(&after));
    assert!(total(&live).unwrap() > 0);
}

#[test]
fn a_waiting_run_exits_75_and_says_how_to_continue_and_watch_follows_it() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), false);
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert_eq!(o.status.code(), Some(75), "{}", String::from_utf8_lossy(&o.stderr));
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let id = stdout.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    assert!(stderr.contains(&format!("continue with: l9 resume {id}")), "{stderr}");
    // `watch` from another process: the same stages, and it stops at the wait.
    let w = l9(&proj, &["watch", "last"]);
    assert_eq!(w.status.code(), Some(75));
    let ws = String::from_utf8_lossy(&w.stderr);
    assert!(ws.contains("✓ simulate:") && ws.contains("… waiting: no model provider"), "{ws}");
    // `show` and `status` take a prefix; `show` exits like the run.
    let prefix = &id[..13];
    assert_eq!(l9(&proj, &["show", prefix]).status.code(), Some(75));
    assert_eq!(json(&proj, &["status", prefix])[0]["run"], id.as_str());
    // Bad budgets are refused before anything is sent.
    let e = fails(&proj, &["resume", "last", "--budget-usd", "NaN"], 3);
    assert!(e.contains("--budget-usd"), "{e}");
    add_providers(&proj);
    let r = l9(&proj, &["resume", prefix, "--budget-usd", "5"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("outcome:     succeeded"));
    let w = l9(&proj, &["watch", &id, "--json"]);
    assert!(w.status.success());
    let evs = events(&String::from_utf8(w.stdout).unwrap());
    assert_eq!(evs.last().unwrap()["event"], "run_finished");
    assert!(evs.iter().any(|e| e["event"] == "waiting"), "the wait is part of the history");
    // The budget given to resume reached the plan.
    let b = evs.iter().rev().find(|e| e["event"] == "budget_update").unwrap();
    assert_eq!(b["limit_micro_usd"], 5_000_000, "{b}");
    // Two runs now: a 4-character prefix common to both is ambiguous.
    let second = l9(&proj, &["run", "spec.md", "--plan-only", "--trials", "100", "--json"]);
    assert!(second.status.success());
    let e = fails(&proj, &["show", &id[..4]], 3);
    assert!(e.contains("ambiguous") && e.contains(&id), "{e}");
    let e = fails(&proj, &["show", "ffff"], 5);
    assert!(e.contains("no run id starts with"), "{e}");
}

#[test]
fn reading_commands_outside_a_project_create_nothing() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    for args in [
        &["status"][..],
        &["runs"],
        &["tasks", "list"],
        &["world", "stats"],
        &["memory", "search", "x"],
        &["show", "last"],
        &["watch", "last"],
    ] {
        let e = fails(d, args, 5);
        assert!(e.contains("is not an L9 project") && e.contains("l9 init"), "{args:?}: {e}");
        assert!(!d.join(".l9").exists(), "{args:?} created .l9/");
    }
    // --json: the error is one JSON object on stdout, with the same exit code.
    let o = l9(d, &["status", "--json"]);
    assert_eq!(o.status.code(), Some(5));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "not_project");
    assert_eq!(v["error"]["exit"], 5);
    assert!(v["error"]["help"].as_str().unwrap().contains("l9 init"));
    assert!(!d.join(".l9").exists());
}

/// Under `script` l9's output is a pseudo-terminal: the live status line is drawn, and a
/// Ctrl-C typed at the terminal (0x03 through the line discipline, not a signal sent by
/// the test) stops the run, says how to resume and exits 130; `l9 resume` then finishes it.
#[test]
fn on_a_terminal_a_status_line_runs_and_ctrl_c_leaves_the_run_resumable() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    let (started, go) = (dir.path().join("gate-started"), dir.path().join("go"));
    // A gate that holds until the test lets it go.
    let spec = std::fs::read_to_string(proj.join("spec.md")).unwrap().replace(
        "test \"$(sh add.sh 2 2)\" = 4",
        &format!(
            "touch {}; while [ ! -f {} ]; do sleep 0.1; done; test \"$(sh add.sh 2 2)\" = 4",
            started.display(),
            go.display()
        ),
    );
    std::fs::write(proj.join("spec.md"), spec).unwrap();
    let cmd = format!("{} run spec.md --repo repo --trials 100", env!("CARGO_BIN_EXE_l9"));
    let mut child = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .current_dir(&proj)
        .env_remove("L9_DB")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs l9 on a pseudo-terminal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !started.exists() {
        assert!(std::time::Instant::now() < deadline, "the gate never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500)); // a status-line tick or more
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let status = child.wait().unwrap();
    let mut screen = String::new();
    child.stdout.take().unwrap().read_to_string(&mut screen).unwrap();
    assert_eq!(status.code(), Some(130), "{screen}");
    assert!(screen.contains("continue the run with `l9 resume "), "{screen}");
    // The status line: elapsed time and the stage, redrawn in place.
    assert!(screen.contains("00:00:0") && screen.contains("execute —"), "{screen}");
    // Nothing was recorded for the interrupted gate: resume runs it again and finishes.
    std::fs::write(&go, "").unwrap();
    let out = ok(&proj, &["resume", "last"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    let show = json(&proj, &["show", "last"]);
    let gates: Vec<&Value> = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "gate_finished")
        .collect();
    assert_eq!(
        gates.len(),
        2,
        "r1 FAIL (subtracts), r2 pass; none for the interrupted run: {gates:?}"
    );
}

/// Scripted providers priced at $1,000 per million tokens: budgets are checked against each
/// call's forecast before it is made, so a run never spends past its budget; it stops, says
/// what it spent and which command raises the budget, and finishes once raised.
#[test]
fn a_budget_is_never_overspent_and_resume_raises_it() {
    let priced = |proj: &Path| {
        let toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
        let toml = toml.replace(
            "kind = \"scripted\"",
            "kind = \"scripted\"\nprice_in = 1000.0\nprice_out = 1000.0\nmax_tokens = 200",
        );
        std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    };
    let spent = |evs: &[Value]| {
        evs.iter()
            .filter(|e| e["event"] == "budget_update")
            .map(|e| e["spent_micro_usd"].as_u64().unwrap())
            .max()
            .unwrap_or(0)
    };
    // What the whole run costs with room to spare.
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    priced(&proj);
    let o = l9(
        &proj,
        &["run", "spec.md", "--repo", "repo", "--trials", "100", "--budget-usd", "1000", "--json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let full = spent(&events(&String::from_utf8(o.stdout).unwrap()));
    assert!(full > 1_000_000, "the priced run costs something: {full} µ$");

    // 85% of it (each call's forecast is an upper bound: its input estimated high plus the
    // 200-token output cap, about $0.90 against $0.17-0.21 spent per call here): the run
    // does some of the work and stops before the call that could cross the limit.
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    priced(&proj);
    let limit = full * 85 / 100;
    let usd = format!("{:.6}", limit as f64 / 1e6);
    let o =
        l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100", "--budget-usd", &usd]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("stopped before a call: budget:"), "{stderr}");
    let id = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(stderr.contains(&format!("continue with: l9 resume {id} --budget-usd ")), "{stderr}");
    let show = json_any(&proj, &["show", &id]);
    let evs = show["events"].as_array().unwrap();
    let at_stop = spent(evs);
    assert!(at_stop <= limit, "spent {at_stop} µ$ of a {limit} µ$ budget");
    assert!(at_stop > 0, "it did some of the work first");
    // Lowering is refused; raising lets it finish, from where it stopped.
    let e = fails(&proj, &["resume", &id, "--budget-usd", "0.000001"], 4);
    assert!(e.contains("already"), "{e}");
    let r = l9(&proj, &["resume", &id, "--budget-usd", "1000"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("1 task(s) that stopped at their share go on")
    );
    let show = json(&proj, &["show", &id]);
    let evs = show["events"].as_array().unwrap();
    assert_eq!(show["state"], "succeeded");
    // Nothing was paid twice: the finished run costs what the unhindered one did.
    assert_eq!(spent(evs), full);
}

/// A run that failed on configuration is retried once the user fixed it: the new run keeps
/// the spec, the plan and the tasks that succeeded, and runs the rest.
#[test]
fn retry_reruns_a_failed_runs_failed_tasks_after_the_fix() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    let toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    let broken = toml.replace("examples/agent/reviewer.yaml", "examples/agent/missing.yaml");
    std::fs::write(proj.join(".l9/l9.toml"), &broken).unwrap();
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let failed = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    // The user fixes the configuration and retries; a succeeded run is refused afterwards.
    std::fs::write(proj.join(".l9/l9.toml"), &toml).unwrap();
    let o = l9(&proj, &["retry", "last"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "a retry of {failed}; kept 1 finished task(s) (design:architecture)"
        )),
        "{stderr}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("outcome:     succeeded") && out.contains(&format!("retry of:    {failed}")),
        "{out}"
    );
    let show = json(&proj, &["show", "last"]);
    let names: Vec<&str> =
        show["timeline"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(
        !names.contains(&"design:architecture") && names.contains(&"implement:script"),
        "{names:?}"
    );
    assert_eq!(std::fs::read_to_string(proj.join("repo/add.sh")).unwrap(), "echo $(($1 + $2))\n");
    let e = fails(&proj, &["retry", "last"], 3);
    assert!(e.contains("is succeeded, not failed: there is nothing to retry"), "{e}");
}

/// An external agent killed mid-run (with the `l9 run` driving it) is run again by `l9
/// resume` alone: the worktree goes back to the snapshot taken before the agent started
/// (its partial changes undone), and no person is asked.
#[test]
fn resume_reruns_an_interrupted_agent_from_the_saved_worktree() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    let t = dir.path().join("agent-state");
    std::fs::create_dir_all(&t).unwrap();
    let script = t.join("agent.sh");
    std::fs::write(
        &script,
        format!(
            "n=$(cat {t}/count 2>/dev/null || echo 0); echo $((n+1)) > {t}/count\n\
             [ -f junk.txt ] && echo dirty >> {t}/saw\n\
             echo partial > junk.txt\n\
             echo $$ > {t}/agent.pid\n\
             while [ ! -f {t}/go ]; do sleep 0.1; done\n\
             rm -f junk.txt\n\
             printf 'echo $(($1 + $2))\\n' > add.sh\n",
            t = t.display()
        ),
    )
    .unwrap();
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str(&format!("\n[agents.sh]\ncommand = [\"sh\", \"{}\"]\n", script.display()));
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["run", "spec.md", "--repo", "repo", "--trials", "100", "--adapter", "sh"])
        .current_dir(&proj)
        .env_remove("L9_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !t.join("agent.pid").exists() {
        assert!(std::time::Instant::now() < deadline, "the agent never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // kill -9 both: l9 and the agent it ran (in a process group of its own).
    run.kill().unwrap();
    run.wait().unwrap();
    let pid = std::fs::read_to_string(t.join("agent.pid")).unwrap();
    Command::new("kill").args(["-9", pid.trim()]).status().unwrap();
    std::fs::write(t.join("go"), "").unwrap();
    let out = ok(&proj, &["resume", "last"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    // r1 cut short, r1 again from the snapshot, then r2 (the scripted reviewer always asks
    // for a second round).
    assert_eq!(std::fs::read_to_string(t.join("count")).unwrap().trim(), "3");
    assert!(!t.join("saw").exists(), "the second run found the first one's partial changes");
    assert_eq!(std::fs::read_to_string(proj.join("repo/add.sh")).unwrap(), "echo $(($1 + $2))\n");
    assert!(!proj.join("repo/junk.txt").exists());
    let show = json(&proj, &["show", "last"]);
    let escalated = show["events"].as_array().unwrap().iter().any(|e| e["event"] == "escalation");
    assert!(!escalated, "nobody was asked");
}

/// A gate's output is shown while the gate runs: the gate prints a line and holds until the
/// test has read that line from `l9 run -v` (so it cannot have come from the gate's result).
#[test]
fn a_running_gates_output_is_streamed() {
    use std::io::BufRead;
    use std::process::Stdio;
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    let go = dir.path().join("go");
    let spec = std::fs::read_to_string(proj.join("spec.md")).unwrap().replace(
        "test \"$(sh add.sh 2 2)\" = 4",
        &format!(
            "echo checking-the-sum; while [ ! -f {} ]; do sleep 0.1; done; test \"$(sh add.sh 2 2)\" = 4",
            go.display()
        ),
    );
    std::fs::write(proj.join("spec.md"), spec).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["run", "spec.md", "--repo", "repo", "--trials", "100", "-v"])
        .current_dir(&proj)
        .env_remove("L9_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let streamed = loop {
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(l) if l.contains('┆') && l.contains("r1 checking-the-sum") => break l,
            Ok(l) => seen.push(l),
            Err(e) => panic!("no streamed gate line ({e}): {seen:#?}"),
        }
    };
    assert!(streamed.contains("implement:script"), "{streamed}");
    std::fs::write(&go, "").unwrap();
    assert!(child.wait().unwrap().success());
}

/// A run waiting for a coder takes one from `l9 resume --provider`; `-q` prints stages only.
#[test]
fn resume_takes_a_provider_and_quiet_prints_stages_only() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), false);
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100", "-q"]);
    assert_eq!(o.status.code(), Some(75));
    // Providers, but no coder role: only --provider says which one codes.
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agent/l9.toml");
    let providers = std::fs::read_to_string(ex).unwrap().replace("coder = \"coder\"\n", "");
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str(&providers);
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    let r = l9(&proj, &["resume", "last", "--provider", "coder", "-q"]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&r.stdout).contains("outcome:     succeeded"));
    assert!(stderr.contains("✓ reflect:"), "{stderr}");
    assert!(
        !stderr.contains(" gate ") && !stderr.contains("▸ "),
        "-q prints no task lines: {stderr}"
    );
    let show = json(&proj, &["show", "last"]);
    let started = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "task_started" && e["kind"] == "implement")
        .cloned()
        .unwrap();
    assert_eq!(started["executor"], "provider:coder", "{started}");
}
