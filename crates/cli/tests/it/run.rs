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

pub(crate) fn adder_project(d: &Path, with_provider: bool) -> std::path::PathBuf {
    adder_project_with(d, with_provider, None)
}

/// [`adder_project`], its `.l9/l9.toml` written as `config` before `l9 init` when given.
pub(crate) fn adder_project_with(
    d: &Path,
    with_provider: bool,
    config: Option<&str>,
) -> std::path::PathBuf {
    let proj = d.join("proj");
    if let Some(c) = config {
        std::fs::create_dir_all(proj.join(".l9")).unwrap();
        std::fs::write(proj.join(".l9/l9.toml"), c).unwrap();
    }
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

/// Lets the sandboxed gates of the project at `proj` write `dir` (`[agents] writable`).
pub(crate) fn sandbox_may_write(proj: &Path, dir: &Path) {
    let toml = proj.join(".l9/l9.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        format!("{text}\n[agents]\nwritable = {:?}\n", dir.display().to_string()),
    )
    .unwrap();
}

/// The start of a shell-script stand-in for a coding agent on the adder: it reads its
/// prompt into `$p` and does the plan's design and test tasks as a real agent would (writes
/// the design record, writes `tests/script.sh`) and exits; what follows handles the code.
pub(crate) const ADDER_AGENT_PRELUDE: &str = "p=$(cat)\n\
case \"$p\" in *'Write the design record'*) mkdir -p docs/design; printf '## Context\\nadd\\n## Decision\\nsh\\n## Consequences\\nnone\\n' > docs/design/architecture.md; echo wrote the record; exit 0;; esac\n\
case \"$p\" in *'Write the tests for'*) mkdir -p tests; printf 'test \"$(sh add.sh 2 2)\" = 4\\n' > tests/script.sh; echo wrote the tests; exit 0;; esac\n";

pub(crate) fn add_providers(proj: &Path) {
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
    assert!(!out.contains("question(s) asked"), "{out}");
    // A spec with an open item: the deliberation asks about it and settles; the run lists the
    // question, and `l9 show` keeps it.
    std::fs::write(
        proj.join("tbd.md"),
        "# Export\n\n- The tool MUST export reports in a format TBD.\n",
    )
    .unwrap();
    let out = ok(&proj, &["run", "tbd.md", "--plan-only", "--trials", "100"]);
    assert!(out.contains("settled\n    1 question(s) asked, each an approval gate of the task it concerns:\n    Q-"), "{out}");
    assert!(out.contains("TBD"), "{out}");
    let id = out.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    let show = json(&proj, &["show", &id]);
    let asked = show["stages"]["questions"].as_array().unwrap();
    assert_eq!(asked.len(), 1, "{show}");
    assert!(asked[0].as_str().unwrap().starts_with("Q-"), "{show}");
    // Many findings of a few codes, one TBD last: the summary lists warnings first, takes
    // findings in turns of three per code (so the lone TBD is listed), and counts the rest by
    // code.
    let mut many = String::from("# Calls\n\n");
    for i in 0..30 {
        many.push_str(&format!(
            "- The system MUST set the calls of line {i} as appropriate, and may log them.\n"
        ));
    }
    many.push_str("- The tool MUST export reports in a format TBD.\n");
    std::fs::write(proj.join("many.md"), many).unwrap();
    let out = ok(&proj, &["run", "many.md", "--plan-only", "--trials", "100"]);
    let listed: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("  challenge:"))
        .skip(1)
        .take_while(|l| l.starts_with("    ") && !l.starts_with("    …"))
        .collect();
    assert_eq!(listed.len(), 20, "{out}");
    assert!(listed.iter().any(|l| l.starts_with("    warning L9-SMELL-011")), "{out}");
    assert!(listed[0].starts_with("    warning"), "{out}");
    for code in ["L9-VAL-004", "L9-SMELL-010", "L9-SMELL-009"] {
        let n = listed.iter().filter(|l| l.contains(code)).count();
        // In turns of three per code: with five codes, no code gets a third turn.
        assert!((1..=6).contains(&n), "{code} listed {n} times:\n{out}");
    }
    assert!(out.contains("many.md`); in all, by code: L9-SMELL-010 60, L9-VAL-004 31"), "{out}");
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
    // A scripted coder's outcome is kept apart from the model-backed forecasts' belief.
    assert_eq!(w["kinds"]["implement@scripted"]["observed"], 1, "{w}");
    assert_eq!(w["kinds"]["implement"]["observed"], 0, "{w}");
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
        .find(|t| t["kind"] == "l9.agent" && t["name"] == "implement:script")
        .unwrap_or_else(|| panic!("{}", show["timeline"]))["task"]
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
    // A careless coder: writes the design record and the tests like the other one, but
    // the buggy version of the code, and claims done whatever the review says.
    let coder = std::fs::read_to_string(proj.join("examples/agent/coder.yaml")).unwrap();
    let (records, _) = coder.split_once("  - name: write the buggy version").unwrap();
    std::fs::write(
        proj.join("careless.yaml"),
        format!("{records}  - name: buggy\n    when: {{ role: coder, step: \"r1/coder/model#1\" }}\n    tool_calls:\n      - name: write_file\n        arguments: {{ path: add.sh, content: \"echo $(($1 - $2))\\n\" }}\n  - name: done\n    when: {{ role: coder }}\n    reply: \"done\"\n"),
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
    // The failure says truthfully where the work is: committed on its branch, not merged.
    let at = out.find("the work is committed on branch l9/task-").expect("where the work is");
    let branch = out[at..].split_whitespace().nth(6).unwrap().to_string();
    let wip = git(&proj.join("repo"), &["show", &format!("{branch}:add.sh")]);
    assert_eq!(wip, "echo $(($1 - $2))\n", "the careless version, kept on {branch}");
    let w = json(&proj, &["world", "stats"]);
    let shown = json_any(&proj, &["show", "last"]);
    assert_eq!(w["executors"]["provider:careless"]["failed"], 1, "{w}\n{}", shown["error"]);
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
    // The short version of `scripts/kill-sweep --target run` (see `sweep.rs`).
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let mut seen = super::sweep::Kills::default();
    super::sweep::run_kill_cycle(d, &l9_types::SeededRng::from_seed(0), 20, &mut seen);
    eprintln!("{} kills, {} while l9 was running", seen.kills, seen.mid_run);
    // Kills land mid-run until the run gets through (the engine's crash test kills workers
    // twenty times mid-run and counts model calls); at least one must have.
    assert!(seen.mid_run >= 1, "no kill landed while l9 was running ({} kills)", seen.kills);
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
        let ignore = std::fs::read_to_string(repo.join(".gitignore")).unwrap();
        assert!(ignore.contains(".DS_Store"), "a fresh repository gets a .gitignore: {ignore}");
    }
    // No `l9 init` ran here, yet the store has the seed packs.
    let w = json(d, &["world", "stats"]);
    for pack in ["architectural patterns", "coding heuristics", "task kinds"] {
        assert!(w["items"][pack].as_u64().unwrap_or(0) > 0, "{pack}: {}", w["items"]);
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
    assert!(first.contains("challenge:   0 findings (0 errors)"), "a clean spec: {first}");
    assert!(first.contains("change failure rate 100%"), "{first}");
    let first_id = first.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    let show1 = json(d, &["show", &first_id]);
    // Lineage: spec → IR → plan → the task → its gates → its merge, every link checked.
    assert_eq!(show1["lineage"]["complete"], true, "{}", show1["lineage"]);
    // The timeline shows the coding task's failed then passing gate; DORA's time to restore
    // is the time between them.
    let timeline = show1["timeline"].as_array().unwrap();
    let coding = timeline
        .iter()
        .find(|t| t["kind"] == "l9.agent" && t["name"] == "implement:script")
        .unwrap();
    let linked = show1["lineage"]["tasks"].as_array().unwrap();
    let linked = linked.iter().find(|t| t["task"] == coding["task"]).unwrap();
    assert_eq!(linked["gates"], 2, "{}", show1["lineage"]);
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
    assert!(
        second.lines().any(|l| l.starts_with("    ") && l.contains(" L9-CHAL-004")),
        "findings listed: {second}"
    );
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
pub(crate) fn events(stdout: &str) -> Vec<Value> {
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
    // The implementation's first gate failed with its exit code and output; the turn that
    // wrote add.sh says so.
    let implement = live
        .iter()
        .find(|e| e["event"] == "task_started" && e["kind"] == "implement")
        .map(|e| e["task"].clone())
        .unwrap();
    let gates: Vec<&Value> =
        live.iter().filter(|e| e["event"] == "gate_finished" && e["task"] == implement).collect();
    assert_eq!(gates[0]["passed"], false, "{gates:?}");
    assert_eq!(gates[0]["exit_code"], 1, "{gates:?}");
    assert_eq!(gates[0]["command"], "test \"$(sh add.sh 2 2)\" = 4");
    assert_eq!(gates.last().unwrap()["passed"], true);
    let wrote = live
        .iter()
        .find(|e| {
            e["event"] == "agent_turn"
                && e["task"] == implement
                && e["tools"] == jsonv!(["write_file"])
        })
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
    // The gate waits for a file in the test's directory, outside its worktree.
    sandbox_may_write(&proj, dir.path());
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

#[test]
fn a_run_checks_what_it_is_asked_before_making_anything() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let e = fails(d, &["run", "missing.md"], 5);
    assert!(e.contains("spec missing.md: does not exist"), "{e}");
    std::fs::create_dir_all(d.join("a-dir.md")).unwrap();
    let e = fails(d, &["run", "a-dir.md"], 5);
    assert!(e.contains("is not a regular file"), "{e}");
    std::fs::write(d.join("spec.md"), "# S\n\n- The tool MUST work.\n").unwrap();
    let e = fails(d, &["run", "spec.md", "--budget-usd", "NaN"], 3);
    assert!(e.contains("--budget-usd NaN"), "{e}");
    let e = fails(d, &["run", "spec.md", "--trials", "0"], 2);
    assert!(e.contains("--trials"), "{e}");
    let e = fails(d, &["sim", "spec.md", "--trials", "4000000000"], 2);
    assert!(e.contains("--trials"), "{e}");
    assert!(!d.join("l9-out").exists() && !d.join(".l9").exists(), "nothing was made");
}

/// With the project's embedder set to the local MiniLM model, a whole `l9 run` works with
/// real sentence embeddings: its memory is embedded by the model, the spec is classified by
/// the shipped MiniLM classifier, and `l9 show` says so.
#[cfg(feature = "local-embed")]
#[test]
fn a_run_with_the_local_minilm_model_classifies_and_remembers_with_it() {
    let Some(m) = std::env::var_os("L9_TEST_MINILM_DIR").filter(|m| !m.is_empty()) else {
        eprintln!("skipped: needs L9_TEST_MINILM_DIR");
        return;
    };
    let dir = l9_test_support::temp_dir();
    // The embedder is chosen before the store is made (a store keeps its embedder).
    let config = format!(
        "[memory]\nembedder = \"local-bert\"\ndims = 384\nlocal_bert.dir = {:?}\n",
        m.to_str().unwrap()
    );
    let proj = adder_project_with(dir.path(), true, Some(&config));
    let out = ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    let id = out.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    let show = json(&proj, &["show", &id]);
    let by = show["stages"]["classifier"].as_str().unwrap_or_default().to_string();
    assert!(by.contains("384-d sentence embedding by local-bert:"), "{show}");
    assert!(ok(&proj, &["show", &id]).contains("classified by learned:"));
    // What the run remembered is found by meaning through the same model.
    let hits = json(&proj, &["memory", "search", "adding two numbers", "--mode", "vector"]);
    assert!(hits.as_array().is_some_and(|h| !h.is_empty()), "{hits}");
}

/// A test command the repository's files name but whose program is not installed is not run
/// (it could only fail) and the report says so; the run still verifies by its gates.
#[test]
fn a_found_test_command_without_its_program_is_not_run_and_said() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    let repo = proj.join("repo");
    std::fs::write(repo.join("composer.json"), r#"{"scripts": {"test": "phpunit"}}"#).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "composer"]);
    let installed = std::process::Command::new("sh")
        .args(["-c", "command -v composer"])
        .output()
        .is_ok_and(|o| o.status.success());
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    let out = String::from_utf8_lossy(&o.stdout);
    if installed {
        // Composer is here: its test runs as evidence for the whole (pass or fail).
        assert!(out.contains("`composer test` exit"), "{out}");
    } else {
        assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
        assert!(out.contains("outcome:     succeeded"), "{out}");
        assert!(
            out.contains(
                "(whole)    – not run: `composer test` (composer.json): `composer` is not installed here"
            ),
            "{out}"
        );
    }
}
