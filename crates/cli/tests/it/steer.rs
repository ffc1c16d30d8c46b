//! Steering a run: waiting and resuming (with a provider, a budget), Ctrl-C on a terminal,
//! budgets that are never overspent, retrying a failed run, re-running an interrupted agent.

use super::run::{add_providers, adder_project, events};
use super::*;

/// `l9 ARGS…` in `dir` under `timeout 120`: a run that followed its own wait at an approval
/// gate would never end, and the test fails (exit 124) instead of hanging.
fn l9_within(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_l9"))
        .args(args)
        .current_dir(dir)
        .env_remove("L9_DB")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Waits up to two minutes for `path` to exist (a child process reached a point).
fn wait_for(path: &Path, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
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

/// A spec with an open item: the deliberation asks about it, and the task that builds what
/// it is about waits at an approval gate — `l9 run` says so and exits 75, `l9 show` lists the
/// gate and its question, `l9 tasks approve RUN` answers it, `l9 resume` finishes the run; a
/// rejected gate ends the run without building what was rejected.
#[test]
fn a_question_the_deliberation_asked_holds_its_task_until_an_operator_answers() {
    let dir = l9_test_support::temp_dir();
    for approve in [true, false] {
        let proj = adder_project(&dir.path().join(approve.to_string()), true);
        let spec = std::fs::read_to_string(proj.join("spec.md")).unwrap().replace(
            "sum of its two arguments.\n",
            "sum of its two arguments.\n- REQ-2: What `add.sh` prints on overflow is TBD.\n",
        );
        std::fs::write(proj.join("spec.md"), spec).unwrap();
        let o = l9_within(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
        let (stdout, stderr) =
            (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(75), "{stdout}\n{stderr}");
        let id = stdout.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
        assert!(stderr.contains("waits for approval of 1 open question(s): Q-"), "{stderr}");
        assert!(stderr.contains(&format!("continue with: l9 tasks approve {id}")), "{stderr}");
        // Nothing was built past the gate: the gated task has not started.
        // `show` exits like the run (75): read its JSON whatever the status.
        let show = |id: &str| -> serde_json::Value {
            serde_json::from_slice(&l9(&proj, &["show", id, "--json"]).stdout).unwrap()
        };
        let shown = show(&id);
        let gates = shown["approval_gates"].as_array().unwrap();
        assert_eq!(gates.len(), 1, "{shown}");
        let gate = gates[0]["task"].as_str().unwrap().to_string();
        assert!(gates[0]["questions"][0]["text"].as_str().unwrap().contains("TBD"), "{shown}");
        let names: Vec<&str> = shown["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert!(!names.contains(&gate.as_str()), "{names:?}");
        let status = ok(&proj, &["status"]);
        assert!(status.contains(&format!("at approval gate: {gate}")), "{status}");
        assert_eq!(json(&proj, &["status", &id])[0]["approval_gates"][0]["task"], gate.as_str());
        let text = String::from_utf8_lossy(&l9(&proj, &["show", &id]).stdout).into_owned();
        assert!(text.contains(&format!("waiting — {gate} at an approval gate")), "{text}");
        // A gate that does not wait is refused, naming the one that does.
        let e = fails(&proj, &["tasks", "approve", &id, "--gate", "implement:nothing"], 3);
        assert!(e.contains(&format!("these wait: {gate}")), "{e}");
        let verb = if approve { "approve" } else { "reject" };
        let a = json(&proj, &["tasks", verb, &id, "--note", "overflow: print an error"]);
        assert_eq!(a["gates"][0]["task"], gate.as_str(), "{a}");
        assert_eq!(show(&id)["approval_gates"], serde_json::json!([]));
        // Answered once: a second answer is refused, not reported as done.
        let e = fails(&proj, &["tasks", verb, &id], 3);
        assert!(e.contains("nothing of") && e.contains("waits for approval now"), "{e}");
        let r = l9(&proj, &["resume", &id]);
        let out = String::from_utf8_lossy(&r.stdout);
        if approve {
            assert!(r.status.success(), "{out}{}", String::from_utf8_lossy(&r.stderr));
            assert!(out.contains("outcome:     succeeded"), "{out}");
            assert!(proj.join("repo/add.sh").exists());
        } else {
            assert_eq!(r.status.code(), Some(1), "{out}");
            assert!(out.contains("overflow: print an error"), "{out}");
            assert!(!proj.join("repo/add.sh").exists());
        }
        // After the fact, the history keeps the answer: which gate, what was decided, why.
        let decision = if approve { "approved" } else { "rejected" };
        let answers: Vec<serde_json::Value> = show(&id)["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "gate_answered")
            .cloned()
            .collect();
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert_eq!(answers[0]["gate"], gate.as_str());
        assert_eq!(answers[0]["decision"], decision);
        assert_eq!(answers[0]["note"], "overflow: print an error");
        let text = String::from_utf8_lossy(&l9(&proj, &["watch", &id]).stderr).into_owned();
        assert!(
            text.contains(&format!("gate {gate} {decision}: overflow: print an error")),
            "{text}"
        );
    }
}

/// A gate passed in a run that then failed is not asked again by `l9 retry`: the retried run
/// keeps the approved task as done and goes on without stopping.
#[test]
fn a_retry_does_not_ask_again_for_a_gate_an_earlier_run_passed() {
    let dir = l9_test_support::temp_dir();
    let proj = adder_project(dir.path(), true);
    let spec = std::fs::read_to_string(proj.join("spec.md")).unwrap().replace(
        "sum of its two arguments.\n",
        "sum of its two arguments.\n- REQ-2: What `add.sh` prints on overflow is TBD.\n",
    );
    std::fs::write(proj.join("spec.md"), spec).unwrap();
    // A coder whose tests always fail: the task after the gated one fails.
    let toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    let coder = std::fs::read_to_string(proj.join("examples/agent/coder.yaml")).unwrap();
    let red = coder.replace(
        "content: 'test \"$(sh add.sh 2 2)\" = 4 && test \"$(sh add.sh 1 2)\" = 3\n'",
        "content: 'exit 1\n'",
    );
    assert_ne!(red, coder, "the coder's test rule changed");
    std::fs::write(proj.join("examples/agent/red.yaml"), red).unwrap();
    let broken = toml.replace("examples/agent/coder.yaml", "examples/agent/red.yaml");
    std::fs::write(proj.join(".l9/l9.toml"), &broken).unwrap();
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert_eq!(o.status.code(), Some(75), "{}", String::from_utf8_lossy(&o.stderr));
    let gate = json(&proj, &["tasks", "approve", "last"])["gates"][0]["task"]
        .as_str()
        .unwrap()
        .to_string();
    let r = l9(&proj, &["resume", "last"]);
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{out}");
    // The gated task finished before the run failed.
    let timeline = |id: &str| -> Vec<(String, String)> {
        let v: serde_json::Value =
            serde_json::from_slice(&l9(&proj, &["show", id, "--json"]).stdout).unwrap();
        v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().into(), t["state"].as_str().unwrap().into()))
            .collect()
    };
    assert!(timeline("last").contains(&(gate.clone(), "succeeded".into())), "{out}");
    std::fs::write(proj.join(".l9/l9.toml"), &toml).unwrap();
    let o = l9_within(&proj, &["retry", "last"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains(&gate) && !stderr.contains("waits for approval"), "{stderr}");
    assert!(stdout.contains("outcome:     succeeded"), "{stdout}");
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
    // A gate that holds until the test lets it go (through files outside its worktree).
    super::run::sandbox_may_write(&proj, dir.path());
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
    wait_for(&started, "the gate never started");
    std::thread::sleep(std::time::Duration::from_millis(500)); // a status-line tick or more
    // Ctrl-C, with a deadline: once (CI) the byte never became a SIGINT and the test waited
    // forever. It is sent again every 10 s, three times at most, then the run is killed and
    // the test fails saying so.
    let mut status = None;
    for attempt in 1..=3 {
        child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
        child.stdin.as_mut().unwrap().flush().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while status.is_none() && std::time::Instant::now() < deadline {
            status = child.try_wait().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if status.is_some() {
            break;
        }
        eprintln!("Ctrl-C #{attempt} did not stop l9 within 10 s; sending it again");
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        let mut screen = String::new();
        child.stdout.take().unwrap().read_to_string(&mut screen).unwrap();
        panic!("three Ctrl-C bytes on the terminal did not stop l9 in 30 s:\n{screen}");
    };
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
    let evs = show["events"].as_array().unwrap();
    let implement = evs
        .iter()
        .find(|e| e["event"] == "task_started" && e["kind"] == "implement")
        .map(|e| e["task"].clone())
        .unwrap();
    let gates: Vec<&Value> =
        evs.iter().filter(|e| e["event"] == "gate_finished" && e["task"] == implement).collect();
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
    assert!(at_stop > 0, "it did some of the work first: {show}");
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
    // A coder script that can write the design record but not the code: the implement
    // task fails (no rule answers it), after the design task succeeded.
    let toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    let coder = std::fs::read_to_string(proj.join("examples/agent/coder.yaml")).unwrap();
    let partial: String = coder.split("  - name: write the tests").next().unwrap().to_string();
    assert!(partial.contains("design record written"), "{partial}");
    std::fs::write(proj.join("examples/agent/partial.yaml"), partial).unwrap();
    let broken = toml.replace("examples/agent/coder.yaml", "examples/agent/partial.yaml");
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
            "{prelude}\
             n=$(cat {t}/count 2>/dev/null || echo 0); echo $((n+1)) > {t}/count\n\
             [ -f junk.txt ] && echo dirty >> {t}/saw\n\
             echo partial > junk.txt\n\
             echo $$ > {t}/agent.pid\n\
             while [ ! -f {t}/go ]; do sleep 0.1; done\n\
             rm -f junk.txt\n\
             printf 'echo $(($1 + $2))\\n' > add.sh\n",
            t = t.display(),
            prelude = super::run::ADDER_AGENT_PRELUDE
        ),
    )
    .unwrap();
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str(&format!("\n[agents.sh]\ncommand = [\"sh\", \"{}\"]\n", script.display()));
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    let mut run =
        spawn(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100", "--adapter", "sh"]);
    wait_for(&t.join("agent.pid"), "the agent never started");
    // kill -9 both: l9 and the agent it ran (in a process group of its own).
    run.kill().unwrap();
    run.wait().unwrap();
    let pid = std::fs::read_to_string(t.join("agent.pid")).unwrap();
    Command::new("kill").args(["-9", pid.trim()]).status().unwrap();
    std::fs::write(t.join("go"), "").unwrap();
    let out = ok(&proj, &["resume", "last"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    // r1 cut short, then r1 again from the snapshot (its gate passes and the reviewer
    // approves).
    assert_eq!(std::fs::read_to_string(t.join("count")).unwrap().trim(), "2");
    assert!(!t.join("saw").exists(), "the second run found the first one's partial changes");
    assert_eq!(std::fs::read_to_string(proj.join("repo/add.sh")).unwrap(), "echo $(($1 + $2))\n");
    assert!(!proj.join("repo/junk.txt").exists());
    let show = json(&proj, &["show", "last"]);
    let escalated = show["events"].as_array().unwrap().iter().any(|e| e["event"] == "escalation");
    assert!(!escalated, "nobody was asked");
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
