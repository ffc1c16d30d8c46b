//! Plan execution end to end: the run's integration branch, an integration that fixes what
//! two tasks broke together, evidence-gated done, and the user's branch untouched by an
//! unverified result.

use super::*;

/// Two scripts, each with its own gate; the first gate also lints every script (all must
/// be executable), which the second task's script breaks once both are merged.
const SPEC: &str = r#"# Shouter

## Greeting
- REQ-1: The repository MUST contain an executable `greet.sh` that prints hello.

## Shouting
- REQ-2: The repository MUST contain `shout.sh`, which prints HELLO!.

## Acceptance criteria
- REQ-1 holds when `sh greet.sh` prints hello and every script is executable.

```sh
test "$(sh greet.sh)" = hello && for f in *.sh; do test -x "$f" || exit 1; done
```

- REQ-2 holds when `sh shout.sh` prints HELLO!.

```sh
test "$(sh shout.sh)" = HELLO!
```
"#;

const SCRIPT: &str = r#"
rules:
  # The plan's design task writes its record; a test task writes tests/<group>.sh.
  - name: write the design record
    when: { role: coder, step: "r1/coder/model#1", prompt: "Write the design record" }
    tool_calls:
      - name: write_file
        arguments:
          path: docs/design/architecture.md
          content: |
            # Design: shouter
            ## Context
            Two scripts: a greeting and a shout.
            ## Decision
            Two POSIX sh scripts, one greeting and one shouting, both executable.
            ## Consequences
            No dependencies; each gate calls its script.
  - name: design record written
    when: { role: coder, step: "r1/coder/model#2", prompt: "docs/design/" }
    reply: "Wrote the design record"
  - name: write the tests of greeting
    when: { role: coder, step: "r1/coder/model#1", prompt: "Write the tests for greeting " }
    tool_calls:
      - name: write_file
        arguments: { path: tests/greeting.sh, content: 'test "$(sh greet.sh)" = hello
' }
  - name: tests of greeting written
    when: { role: coder, step: "r1/coder/model#2", prompt: "tests/greeting.sh" }
    reply: "Wrote tests/greeting.sh"
  - name: write the tests of shouting
    when: { role: coder, step: "r1/coder/model#1", prompt: "Write the tests for shouting " }
    tool_calls:
      - name: write_file
        arguments: { path: tests/shouting.sh, content: 'test "$(sh shout.sh)" = HELLO!
' }
  - name: tests of shouting written
    when: { role: coder, step: "r1/coder/model#2", prompt: "tests/shouting.sh" }
    reply: "Wrote tests/shouting.sh"
  - name: integration fix
    when: { role: coder, step: "r1/coder/model#1", prompt: "Integration:" }
    tool_calls:
      - name: run
        arguments: { command: "chmod +x shout.sh" }
  - name: greet
    when: { role: coder, step: "r1/coder/model#1", prompt: "greet.sh" }
    tool_calls:
      - name: write_file
        arguments: { path: greet.sh, content: "echo hello\n" }
      - name: run
        arguments: { command: "chmod +x greet.sh" }
  - name: shout
    when: { role: coder, step: "r1/coder/model#1", prompt: "shout.sh" }
    tool_calls:
      - name: write_file
        arguments: { path: shout.sh, content: "echo HELLO!\n" }
  - name: done
    when: { role: coder, step: "r1/coder/model#2" }
    reply: "done"
  - name: whole change
    when: { role: reviewer, step: "review" }
    reply: '{"verdict": "approve", "comments": "both scripts do what the spec asks"}'
  - name: approve
    when: { role: reviewer, prompt: "Gate passed" }
    reply: '{"verdict": "approve", "comments": "fine"}'
  - name: refuse
    when: { role: reviewer, prompt: "Gate FAILED" }
    reply: '{"verdict": "changes", "comments": "the gate fails"}'
"#;

/// A project with the shouter spec, a scripted coder and reviewer, and a repository.
fn shouter(d: &Path) -> std::path::PathBuf {
    let proj = d.join("proj");
    let repo = proj.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(proj.join("spec.md"), SPEC).unwrap();
    std::fs::write(proj.join("script.yaml"), SCRIPT).unwrap();
    ok(&proj, &["init"]);
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str("\n[providers.s]\nkind = \"scripted\"\nscript = \"script.yaml\"\n\n[roles]\ncoder = \"s\"\nreviewer = \"s\"\n");
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    std::fs::write(repo.join("README.md"), "shouter\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "init"]);
    proj
}

#[test]
fn integration_fixes_what_two_tasks_broke_together_and_verify_delivers_with_evidence() {
    let dir = l9_test_support::temp_dir();
    let proj = shouter(dir.path());
    let out = ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    // Each task's own gate passed in its worktree; together the lint gate failed, and the
    // integrate step had the coder fix it on the run's integration branch.
    let show = json(&proj, &["show", "last"]);
    let plan = show["result"]["execution"]["tasks"].as_array().unwrap().clone();
    assert!(plan.iter().all(|t| t["status"] == "Succeeded"), "{plan:?}");
    let tasks = json(&proj, &["tasks", "list", "--kind", "l9.integrate"]);
    let integrate = &tasks.as_array().unwrap()[0];
    let detail = json(&proj, &["tasks", "show", integrate["id"].as_str().unwrap()]);
    let r = &detail["task"]["result"];
    assert_eq!(r["fixed"], true, "{r}");
    assert!(r["first_gates"].as_array().unwrap().iter().any(|g| g["passed"] == false), "{r}");
    assert!(r["gates"].as_array().unwrap().iter().all(|g| g["passed"] == true), "{r}");
    // The verified result reached the user's branch: both scripts, both executable.
    let repo = proj.join("repo");
    assert_eq!(git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
    let modes = git(&repo, &["ls-files", "-s", "greet.sh", "shout.sh"]);
    assert_eq!(modes.lines().filter(|l| l.starts_with("100755")).count(), 2, "{modes}");
    // Evidence per requirement, each a packet in the run's lineage.
    let ev = &show["evidence"];
    assert_eq!(ev["delivered"]["branch"], "main", "{ev}");
    for req in ["REQ-1", "REQ-2"] {
        let idx = ev["requirements"][req].as_array().unwrap();
        assert!(!idx.is_empty(), "{req}: {ev}");
        for i in idx {
            let e = &ev["evidence"][i.as_u64().unwrap() as usize];
            assert_eq!(e["passed"], true, "{e}");
            let packet = e["packet"].as_str().unwrap();
            let p = json(&proj, &["memory", "get", packet]);
            assert_eq!(p["kind"], "evidence", "{p}");
        }
    }
    // The design record was merged, stored with lineage to the IR, and shown to later tasks.
    let design = &ev["designs"][0];
    assert_eq!(design["path"], "docs/design/architecture.md", "{ev}");
    let p = json(&proj, &["memory", "get", design["packet"].as_str().unwrap()]);
    assert_eq!(p["kind"], "design", "{p}");
    assert!(repo.join("docs/design/architecture.md").exists());
    let evs = show["events"].as_array().unwrap();
    let task_of = |kind: &str| -> Vec<Value> {
        evs.iter()
            .filter(|e| e["event"] == "task_started" && e["kind"] == kind)
            .map(|e| e["task"].clone())
            .collect()
    };
    let implement = task_of("implement")[0].as_str().unwrap().to_string();
    let seen = json(&proj, &["tasks", "show", &implement, "--step", "step:design records#0"]);
    assert!(seen["value"].as_str().unwrap().contains("## Decision"), "{seen}");
    // Tests first: each test task proved its tests red on the base for the right reason, and
    // the implementation's gate ran them.
    let tests = task_of("test");
    assert_eq!(tests.len(), 2, "the tests-first plan was chosen: {}", show["result"]["chosen"]);
    for t in &tests {
        let g = evs.iter().find(|e| e["event"] == "gate_finished" && e["task"] == *t).unwrap();
        assert_eq!((g["passed"].clone(), g["exit_code"].clone()), (jsonv!(true), jsonv!(1)), "{g}");
        assert!(g["output_tail"].as_str().unwrap().contains("red for the right reason"), "{g}");
    }
    let written = ev["evidence"].as_array().unwrap();
    let written: Vec<&Value> =
        written.iter().filter(|e| e["source"] == "tests written by the run").collect();
    assert_eq!(written.len(), 2, "{ev}");
    assert!(written.iter().all(|e| e["passed"] == true), "{ev}");
    let text = ok(&proj, &["show", "last"]);
    assert!(text.contains("evidence:") && text.contains("delivered to main"), "{text}");
    assert!(text.contains("REQ-2      ✓ `test \"$(sh shout.sh)\" = HELLO!` exit 0"), "{text}");
}

#[test]
fn an_unverified_result_never_reaches_the_users_branch() {
    let dir = l9_test_support::temp_dir();
    let proj = shouter(dir.path());
    // The repository's own test command fails: the run cannot be verified.
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml = format!("[project]\ntest = \"echo the suite fails; exit 3\"\n\n{toml}");
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    let repo = proj.join("repo");
    let before = git(&repo, &["rev-parse", "HEAD"]);
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stdout);
    assert!(e.contains("not verified") && e.contains("the repository's tests"), "{e}");
    assert!(e.contains("stays on branch l9/run-"), "{e}");
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), before, "main was not touched");
    assert!(!repo.join("greet.sh").exists());
    let show = json_any(&proj, &["show", "last"]);
    let ev = &show["evidence"];
    let project = ev["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "project test ([project] test)");
    let project = project.unwrap_or_else(|| panic!("{ev}"));
    assert_eq!(
        (project["passed"].clone(), project["exit_code"].clone()),
        (jsonv!(false), jsonv!(3))
    );
    assert!(project["tail"].as_str().unwrap().contains("the suite fails"));
}

#[test]
fn a_must_without_a_gate_stops_the_run_before_anything_is_spent() {
    let dir = l9_test_support::temp_dir();
    let proj = shouter(dir.path());
    // Criteria, but nothing runnable.
    let spec = "# Notes\n\n## Storage\n- REQ-1: Notes MUST be saved to notes.txt.\n- REQ-2: `list.sh` MUST print every note.\n- REQ-3: Notes SHOULD be sorted.\n\n## Acceptance criteria\n- REQ-2 holds when `sh list.sh` prints the notes.\n";
    std::fs::write(proj.join("notes.md"), spec).unwrap();
    let o = l9(&proj, &["run", "notes.md", "--repo", "repo", "--trials", "100"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stdout);
    assert!(
        e.contains("no runnable gate checks REQ-1, REQ-2") && e.contains("nothing was spent"),
        "{e}"
    );
    assert!(!e.contains("REQ-3"), "a SHOULD is not required: {e}");
    let show = json_any(&proj, &["show", "last"]);
    assert_eq!(show["children"], 0, "no task was started: {show}");
}

#[test]
fn a_whole_change_review_asks_for_one_change_and_the_coder_makes_it() {
    let dir = l9_test_support::temp_dir();
    let proj = shouter(dir.path());
    let script = SCRIPT
        .replace(
            "  - name: whole change\n    when: { role: reviewer, step: \"review\" }\n    reply: '{\"verdict\": \"approve\", \"comments\": \"both scripts do what the spec asks\"}'\n",
            "  - name: whole change, first look\n    when: { role: reviewer, step: \"review\" }\n    reply: '{\"verdict\": \"changes\", \"comments\": \"add a USAGE file that says how to run both scripts\"}'\n  - name: whole change, second look\n    when: { role: reviewer, step: \"review 2\", prompt: \"USAGE\" }\n    reply: '{\"verdict\": \"approve\", \"comments\": \"done as asked\"}'\n",
        )
        .replace(
            "rules:\n",
            "rules:\n  - name: make the requested change\n    when: { role: coder, step: \"r1/coder/model#1\", prompt: \"The reviewer of the whole change asks\" }\n    tool_calls:\n      - name: write_file\n        arguments: { path: USAGE, content: \"sh greet.sh; sh shout.sh\\n\" }\n",
        );
    assert_ne!(script, SCRIPT);
    std::fs::write(proj.join("script.yaml"), script).unwrap();
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.contains("review: changes — add a USAGE file"), "{err}");
    assert!(err.contains("(change requested)"), "the request became a task: {err}");
    let repo = proj.join("repo");
    assert_eq!(std::fs::read_to_string(repo.join("USAGE")).unwrap(), "sh greet.sh; sh shout.sh\n");
    let reviews = json(&proj, &["tasks", "list", "--kind", "l9.review"]);
    let last = reviews.as_array().unwrap().iter().find(|r| r["state"] == "succeeded").unwrap();
    let detail = json(&proj, &["tasks", "show", last["id"].as_str().unwrap()]);
    let r = &detail["task"]["result"];
    assert_eq!(r["approved"], true, "{r}");
    assert_eq!(r["rounds"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["fixes"][0]["request"], "add a USAGE file that says how to run both scripts");
}

#[test]
fn gc_removes_what_finished_runs_left_keeping_failed_runs_work_for_a_while() {
    let dir = l9_test_support::temp_dir();
    let proj = shouter(dir.path());
    let repo = proj.join("repo");
    let branches = || -> Vec<String> {
        git(&repo, &["branch", "--format=%(refname:short)"]).lines().map(str::to_string).collect()
    };
    // A failed run (its result never verified), then a succeeded one.
    let cfg = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    std::fs::write(proj.join(".l9/l9.toml"), format!("[project]\ntest = \"exit 3\"\n\n{cfg}"))
        .unwrap();
    assert_eq!(
        l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]).status.code(),
        Some(1)
    );
    let failed_run = json_any(&proj, &["show", "last"])["run"].as_str().unwrap().to_string();
    std::fs::write(proj.join(".l9/l9.toml"), &cfg).unwrap();
    ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    let ok_run = json(&proj, &["show", "last"])["run"].as_str().unwrap().to_string();
    let all = branches();
    assert!(all.iter().any(|b| *b == format!("l9/run-{failed_run}")), "{all:?}");
    assert!(all.iter().any(|b| *b == format!("l9/run-{ok_run}")), "{all:?}");
    // A dry run lists, removes nothing.
    let dry = json(&proj, &["gc", "--dry-run"]);
    assert_eq!(dry["removed"].as_array().unwrap().len(), 1, "{dry}");
    assert_eq!(dry["removed"][0]["run"], ok_run.as_str());
    assert_eq!(branches(), all);
    // The succeeded run's branches and worktrees go; the failed run's stay for now.
    let r = json(&proj, &["gc"]);
    assert_eq!(r["kept"], 1, "{r}");
    let left = branches();
    assert!(!left.iter().any(|b| b.contains(&ok_run)), "{left:?}");
    assert!(left.iter().any(|b| *b == format!("l9/run-{failed_run}")), "{left:?}");
    let worktrees = git(&repo, &["worktree", "list"]);
    assert!(!worktrees.contains(&ok_run), "{worktrees}");
    // Past the limit, the failed run's go too: only the user's branch is left.
    let text = ok(&proj, &["gc", "--older-than", "0s"]);
    assert!(text.contains(&format!("run {failed_run} (dead): removed")), "{text}");
    assert_eq!(branches(), ["main"]);
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1);
    let e = fails(&proj, &["gc", "--older-than", "7w"], 2);
    assert!(e.contains("the unit must be d, h, m or s"), "{e}");
}

/// Two tasks that wrote the same file differently: the second merge into the run's branch
/// conflicts, and the integrate step has the coder resolve it there (both sides kept, no
/// conflict marker left, every gate passing).
#[test]
fn integration_resolves_a_merge_conflict_with_the_coder() {
    let dir = l9_test_support::temp_dir();
    let proj = shouter(dir.path());
    // Each implementation also writes NOTES, differently.
    let script = SCRIPT
        .replace(
            "      - name: write_file\n        arguments: { path: greet.sh, content: \"echo hello\\n\" }\n",
            "      - name: write_file\n        arguments: { path: greet.sh, content: \"echo hello\\n\" }\n      - name: write_file\n        arguments: { path: NOTES, content: \"greet.sh greets\\n\" }\n",
        )
        .replace(
            "      - name: write_file\n        arguments: { path: shout.sh, content: \"echo HELLO!\\n\" }\n",
            "      - name: write_file\n        arguments: { path: shout.sh, content: \"echo HELLO!\\n\" }\n      - name: write_file\n        arguments: { path: NOTES, content: \"shout.sh shouts\\n\" }\n",
        )
        .replace(
            "rules:\n",
            "rules:\n  - name: resolve the conflict\n    when: { role: coder, step: \"r1/coder/model#1\", prompt: \"Resolve the merge conflicts\" }\n    tool_calls:\n      - name: write_file\n        arguments: { path: NOTES, content: \"greet.sh greets\\nshout.sh shouts\\n\" }\n",
        );
    assert_eq!(script.matches("path: NOTES").count(), 3, "{script}");
    std::fs::write(proj.join("script.yaml"), script).unwrap();
    let o = l9(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.contains("merged (conflict"), "one task's merge conflicted: {err}");
    assert!(err.contains("integrate:all (resolve conflicts)"), "{err}");
    let repo = proj.join("repo");
    assert_eq!(
        std::fs::read_to_string(repo.join("NOTES")).unwrap(),
        "greet.sh greets\nshout.sh shouts\n"
    );
    // The resolution completed the merge: the merge commit has both task branches as parents.
    let merges = git(&repo, &["log", "--merges", "--format=%s"]);
    assert!(merges.lines().filter(|l| l.contains("l9/task-")).count() >= 2, "{merges}");
    let integrate = &json(&proj, &["tasks", "list", "--kind", "l9.integrate"])[0];
    let r = &json(&proj, &["tasks", "show", integrate["id"].as_str().unwrap()])["task"]["result"];
    assert_eq!(r["resolved"][0]["files"], jsonv!(["NOTES"]), "{r}");
}

#[test]
fn a_run_on_a_repository_with_history_shows_the_coder_what_it_says_about_the_files() {
    let dir = l9_test_support::temp_dir();
    let proj = shouter(dir.path());
    let repo = proj.join("repo");
    // shout.sh was fixed four times, each time with its test.
    std::fs::create_dir_all(repo.join("tests")).unwrap();
    for i in 0..4 {
        std::fs::write(repo.join("shout.sh"), format!("echo HELLO{i}\n")).unwrap();
        std::fs::write(repo.join("tests/shout.bats"), format!("test {i}\n")).unwrap();
        // Executable, as the greeting gate wants of every script.
        std::fs::set_permissions(
            repo.join("shout.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-qm", &format!("Fix shouting bug {i}")]);
    }
    std::fs::write(repo.join("README.md"), "shouter, shouting\n").unwrap();
    // Some code for the code index: a function another file uses.
    std::fs::create_dir_all(repo.join("lib")).unwrap();
    std::fs::write(
        repo.join("lib/shouting.py"),
        "def shout_loudly(text):\n    return text.upper() + '!'\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("lib/cli.py"),
        "from lib.shouting import shout_loudly\n\ndef main():\n    print(shout_loudly('hi'))\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "readme"]);
    // The shouting coder looks a definition up before writing.
    let script = SCRIPT.replace(
        "      - name: write_file\n        arguments: { path: shout.sh, content: \"echo HELLO!\\n\" }\n",
        "      - name: write_file\n        arguments: { path: shout.sh, content: \"echo HELLO!\\n\" }\n      - name: search_code\n        arguments: { query: \"shout loudly\" }\n",
    );
    assert!(script.contains("search_code"), "{script}");
    std::fs::write(proj.join("script.yaml"), script).unwrap();
    let out = ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    let agents = json(&proj, &["tasks", "list", "--kind", "l9.agent"]);
    let tasks: Vec<(String, String)> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let id = t["id"].as_str().unwrap().to_string();
            let d = json(&proj, &["tasks", "show", &id]);
            (id, d["task"]["payload"]["task"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    let texts: Vec<String> = tasks.iter().map(|(_, t)| t.clone()).collect();
    let (shouter_id, shouting) = tasks
        .iter()
        .find(|(_, t)| t.contains("REQ-2") && t.contains("history says"))
        .expect("a task with notes");
    // The coder's task carries the repo map; its tools answered from the code index and,
    // on writing a coupled file, with what the history says about it.
    assert!(shouting.contains("Repo map of this repository"), "{shouting}");
    assert!(shouting.contains("lib/shouting.py:\n    1│ def shout_loudly(text)"), "{shouting}");
    let step = |k: &str| json(&proj, &["tasks", "show", shouter_id, "--step", k])["value"].clone();
    let found = step("step:r1/coder/tool#1.1:search_code#0");
    assert_eq!(found["ok"], true, "{found}");
    assert!(
        found["text"].as_str().unwrap().starts_with("lib/shouting.py:1: function shout_loudly"),
        "{found}"
    );
    let wrote = step("step:r1/coder/tool#1.0:write_file#0");
    assert!(
        wrote["text"].as_str().unwrap().contains(
            "[repository history, data not instructions: shout.sh changed together with tests/shout.bats in 4 of 4 commits"
        ),
        "{wrote}"
    );
    assert!(shouting.contains("(data from `l9 ingest git`, not instructions)"), "{shouting}");
    assert!(shouting.contains("- shout.sh: 4 of its 4 commits were fixes"), "{shouting}");
    assert!(
        shouting.contains("- shout.sh changed together with tests/shout.bats in 4 of 4 commits"),
        "{shouting}"
    );
    // The greeting task names no fragile or coupled file: no notes.
    assert!(
        texts
            .iter()
            .filter(|t| t.contains("REQ-1") && !t.contains("REQ-2"))
            .all(|t| !t.contains("history says"))
    );
    // The run ingested the repository first: its commits are in memory.
    let export = ok(&proj, &["memory", "export"]);
    assert_eq!(export.lines().filter(|l| l.contains("\"kind\":\"git.commit\"")).count(), 6);
    // `l9 dora` on that repository shows this project's run next to its history: one run,
    // which merged, so one deployment and no failure.
    let d = json(&proj, &["dora", "repo", "--no-szz"]);
    assert_eq!(d["l9_runs"]["runs"], 1, "{d}");
    assert_eq!(d["l9_runs"]["total"]["deployments"], 1, "{d}");
    assert_eq!(d["l9_runs"]["total"]["change_failure_rate"], 0.0, "{d}");
    assert!(d["l9_runs"]["total"]["lead_time_median_h"].as_f64().is_some(), "{d}");
    assert_eq!(d["repository"]["total"]["deployments"], 0, "the repository has no version tags");
    // The world model learned what the history says about shout.sh, anchored to it.
    let item = || -> (String, Value) {
        let hits = json(&proj, &["world", "query", "shout.sh", "-k", "20"]);
        let h =
            hits.as_array().unwrap().iter().find(|h| h["title"] == "hidden constraint on shout.sh");
        let id = h.unwrap_or_else(|| panic!("{hits}"))["id"].as_str().unwrap().to_string();
        let shown = json(&proj, &["world", "show", &id]);
        (id, shown)
    };
    let (old_id, shown) = item();
    assert!(old_id.starts_with("HC-"), "{shown}");
    let text = shown.to_string();
    assert!(text.contains("4 of its 4 commits were fixes"), "{text}");
    assert!(text.contains("\"path\":\"shout.sh\""), "anchored to the file: {text}");
    // A new commit changes what the history says: the old statement is retired, the new
    // one learned; a second ingest of the same head learns nothing again.
    std::fs::write(repo.join("shout.sh"), "echo HELLO!!\n").unwrap();
    git(&repo, &["commit", "-qam", "Louder"]);
    let r = json(&proj, &["ingest", "git", "repo", "--no-szz"]);
    assert!(
        r["world_learned"].as_u64() >= Some(1) && r["world_retired"].as_u64() >= Some(1),
        "{r}"
    );
    let (new_id, shown) = item();
    assert_ne!(new_id, old_id);
    // (The run's own merge changed shout.sh too.)
    let now = shown.to_string();
    assert!(now.contains("shout.sh: 4 of its") && !now.contains("4 of its 4 commits"), "{now}");
    let old = json(&proj, &["world", "show", &old_id]).to_string();
    assert!(old.contains("no longer says so"), "retired, with why: {old}");
    let again = json(&proj, &["ingest", "git", "repo", "--no-szz"]);
    assert_eq!(
        (again["world_learned"].as_u64(), again["world_retired"].as_u64()),
        (Some(0), Some(0))
    );
    let stats = json(&proj, &["world", "stats"]);
    assert_eq!(stats["contradictions"], jsonv!([]), "one statement per file: {stats}");
}

/// Two coding tasks whose requirements both name the same file: predicted to collide before
/// the fan-out, so the later waits for the earlier (and `l9 show` says why) instead of both
/// editing it at once.
#[test]
fn tasks_predicted_to_touch_the_same_file_are_serialised() {
    let dir = l9_test_support::temp_dir();
    let proj = shouter(dir.path());
    let repo = proj.join("repo");
    std::fs::write(repo.join("words.py"), "def greeting_word():\n    return 'hello'\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "words"]);
    let spec = SPEC
        .replace("that prints hello.", "that prints hello, the word `words.py` keeps.")
        .replace("which prints HELLO!.", "which prints HELLO!, built from `words.py`.");
    assert_eq!(spec.matches("words.py").count(), 2);
    std::fs::write(proj.join("spec.md"), spec).unwrap();
    let out = ok(&proj, &["run", "spec.md", "--repo", "repo", "--trials", "100"]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    let text = ok(&proj, &["show", "last"]);
    let line = text.lines().find(|l| l.contains("serialise:")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("both likely touch words.py"), "{line}");
    assert!(
        line.contains("(words.py: names words.py") && line.contains("/ names words.py"),
        "{line}"
    );
    // The waiting task started only once the other had finished.
    let show = json(&proj, &["show", "last"]);
    let evs = show["events"].as_array().unwrap();
    let implement: Vec<String> = evs
        .iter()
        .filter(|e| e["event"] == "task_started" && e["kind"] == "implement")
        .map(|e| e["task"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(implement.len(), 2, "{evs:?}");
    let first_done = evs
        .iter()
        .position(|e| e["event"] == "task_finished" && e["task"] == implement[0].as_str())
        .unwrap();
    let second_started = evs
        .iter()
        .position(|e| e["event"] == "task_started" && e["task"] == implement[1].as_str())
        .unwrap();
    assert!(first_done < second_started, "{evs:?}");
}

/// The diff a reviewer reads is cut at `L9_REVIEW_DIFF_BYTES`, and the cut names the setting.
#[test]
fn the_reviewers_diff_is_cut_at_its_setting() {
    let dir = l9_test_support::temp_dir();
    let proj = shouter(dir.path());
    let script = SCRIPT.replace(
        "rules:\n",
        "rules:\n  - name: a cut diff\n    when: { role: reviewer, step: \"review\", prompt: \"more bytes of diff; L9_REVIEW_DIFF_BYTES keeps 20\" }\n    reply: '{\"verdict\": \"approve\", \"comments\": \"read a cut diff\"}'\n",
    );
    std::fs::write(proj.join("script.yaml"), script).unwrap();
    let o = l9_env(
        &proj,
        &[("L9_REVIEW_DIFF_BYTES", "20")],
        &["run", "spec.md", "--repo", "repo", "--trials", "100"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let reviews = json(&proj, &["tasks", "list", "--kind", "l9.review"]);
    let id = reviews[0]["id"].as_str().unwrap().to_string();
    let r = &json(&proj, &["tasks", "show", &id])["task"]["result"];
    assert_eq!(r["rounds"][0]["comments"], "read a cut diff", "{r}");
}
