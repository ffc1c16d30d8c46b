//! Learning hygiene: failures that say nothing about the work (a missing key, a missing
//! agent binary, an unreachable endpoint) teach nothing; `--no-learn` records a run and
//! learns nothing from it.

use super::run::adder_project;
use super::*;

/// What learning has touched: reflections, votes, executors, observed task kinds,
/// calibration runs, deltas.
fn learned(proj: &Path) -> Value {
    let w = json(proj, &["world", "stats"]);
    let observed: u64 =
        w["kinds"].as_object().unwrap().values().map(|k| k["observed"].as_u64().unwrap()).sum();
    jsonv!({
        "reflections": w["items"]["reflections"],
        "votes": w["votes"],
        "executors": w["executors"],
        "observed": observed,
        "calibration": w["calibration"],
        "deltas": w["deltas"],
    })
}

#[test]
fn failures_that_are_not_the_works_teach_nothing() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), false);
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str(
        "\n[providers.keyless]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nmodel = \"m\"\napi_key_env = \"L9_TEST_KEY_THAT_IS_NOT_SET\"\n\
         \n[providers.gone]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nmodel = \"m\"\napi_key_env = \"\"\nmax_retries = 0\ntimeout_s = 2\n\
         \n[agents.ghost]\ncommand = [\"/nonexistent/l9-test-agent\"]\n",
    );
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    let before = learned(&proj);
    for (how, args, class) in [
        ("a missing API key", vec!["--provider", "keyless"], "configuration"),
        ("an unreachable endpoint", vec!["--provider", "gone"], "infrastructure"),
        ("a missing agent binary", vec!["--adapter", "ghost"], "infrastructure"),
    ] {
        let mut a = vec!["run", "spec.md", "--repo", "repo", "--trials", "100"];
        a.extend(args);
        let o = Command::new(env!("CARGO_BIN_EXE_l9"))
            .args(&a)
            .current_dir(&proj)
            .env_remove("L9_DB")
            .env_remove("L9_TEST_KEY_THAT_IS_NOT_SET")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{how}: {}", String::from_utf8_lossy(&o.stdout));
        let show = json_any(&proj, &["show", "last"]);
        let reflected = show["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "stage_finished" && e["stage"] == "reflect");
        assert!(reflected, "{how}: the run reached its reflect stage");
        assert_eq!(learned(&proj), before, "{how} taught the world model something");
        // The reflect step says why nothing was learned.
        let run = show["run"].as_str().unwrap();
        let journal = json(&proj, &["tasks", "show", run, "--step", "step:reflect#0"]);
        let not = journal["value"]["not_learned"].as_array().unwrap().clone();
        assert!(!not.is_empty() && not.iter().all(|n| n["class"] == class), "{how}: {not:?}");
    }
}

#[test]
fn no_learn_records_the_run_and_learns_nothing() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    let before = learned(&proj);
    let out = ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100", "--no-learn"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    assert_eq!(learned(&proj), before, "--no-learn learned something");
    let show = json(&proj, &["show", "last"]);
    assert_eq!(show["result"]["learned"]["learning_off"], true);
    assert!(show["evidence"]["requirements"]["REQ-1"].as_array().is_some_and(|e| !e.is_empty()));
    // The same run learning: outcomes, calibration, per executor.
    std::fs::remove_dir_all(proj.join("repo")).unwrap();
    std::fs::create_dir_all(proj.join("repo")).unwrap();
    std::fs::write(proj.join("repo/README.md"), "adder\n").unwrap();
    git(&proj.join("repo"), &["init", "-q", "-b", "main"]);
    git(&proj.join("repo"), &["add", "-A"]);
    git(&proj.join("repo"), &["commit", "-qm", "init"]);
    ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    let w = json(&proj, &["world", "stats"]);
    assert_ne!(learned(&proj), before);
    let c = &w["calibration_by_executor"]["provider:coder"];
    assert_eq!(c["n"], 1, "{w}");
    assert!(c["brier"].as_f64().is_some() && c["duration_log_ratio"].as_f64().is_some(), "{c}");
    let text = ok(&proj, &["world", "stats"]);
    assert!(text.contains("forecast error of provider:coder: 1 run(s), Brier"), "{text}");
}

/// `l9 bench learning`, short: learning cuts first-gate failures; the injected
/// infrastructure failures record nothing.
#[test]
fn bench_learning_shows_learning_cut_first_gate_failures() {
    let dir = l9_test_support::temp_dir();
    let b = json(dir.path(), &["bench", "learning", "--specs", "8", "--inject-every", "3"]);
    assert_eq!(b["injected"], jsonv!([3, 6]));
    let (on, off) = (&b["on"], &b["off"]);
    assert!(
        on["first_gate_failures"].as_u64() < off["first_gate_failures"].as_u64(),
        "{on}\n{off}"
    );
    assert_eq!(on["learned_from_injected"], 0);
    // Learning off: every real run fails its first gate; on: only a tool's first run.
    assert_eq!(off["first_gate_failures"], 6, "{off}");
    assert_eq!(on["first_gate_failures"], 4, "{on}");
    for r in on["runs"].as_array().unwrap().iter().filter(|r| r["injected"] == true) {
        assert_eq!((r["outcome"].as_str(), r["deltas"].as_u64()), (Some("dead"), Some(0)), "{r}");
    }
    assert!(on["brier"]["scripted example"][1].as_f64().unwrap() < 0.25, "{on}");
}
