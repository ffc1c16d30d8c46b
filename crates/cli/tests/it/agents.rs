//! Coding agents through the CLI: a run that fixes a bug after review, configuration errors.

use super::*;

/// `d/proj`, an L9 project whose coder and reviewer are the scripted ones of
/// `examples/agent` (the coder writes add.sh, first wrong), and `d/repo`, a repository with
/// one commit.
pub(crate) fn agent_project(d: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
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
    (proj, repo)
}

/// `l9 agent run` of the add.sh task on `../repo` with its gate.
pub(crate) const ADD_TASK: &[&str] = &[
    "agent",
    "run",
    "--task",
    "write add.sh that prints the sum of its two arguments",
    "--repo",
    "../repo",
    "--gate",
    "test \"$(sh add.sh 2 2)\" = 4",
];

#[test]
fn agent_run_fixes_a_bug_after_review_and_merges() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let (proj, repo) = agent_project(d);

    let list = ok(&proj, &["models", "list"]);
    assert!(
        list.contains("coder        scripted")
            && list.contains("roles: coder → coder, reviewer → reviewer"),
        "{list}"
    );

    let out = ok(&proj, ADD_TASK);
    assert!(out.contains("round 1: coder: Implemented add.sh; gate FAILED; reviewer: changes add.sh subtracts; it must add"), "{out}");
    assert!(
        out.contains("round 2: coder: Fixed the sign; gate passed; reviewer: approve"),
        "{out}"
    );
    assert!(out.contains("merged (fast-forward)"), "{out}");
    // The world model learned from the run.
    let w = json(&proj, &["world", "stats"]);
    assert_eq!(w["deltas"], 1);
    assert_eq!(
        w["kinds"]["implement@scripted"]["observed"], 1,
        "scripted work keeps its own belief"
    );
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
fn models_test_says_which_providers_answer() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    std::fs::write(d.join("probe.yaml"), "rules:\n  - name: anything\n    reply: \"OK\"\n")
        .unwrap();
    let mut toml = std::fs::read_to_string(d.join(".l9/l9.toml")).unwrap();
    toml.push_str(
        "\n[providers.fake]\nkind = \"scripted\"\nscript = \"probe.yaml\"\n\n\
         [providers.down]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nmodel = \"m\"\n\
         api_key_env = \"\"\nmax_retries = 0\ntimeout_s = 5\n",
    );
    std::fs::write(d.join(".l9/l9.toml"), toml).unwrap();
    let one = json(d, &["models", "test", "fake"]);
    assert_eq!(
        (one[0]["ok"].clone(), one[0]["reply"].clone()),
        (jsonv!(true), jsonv!("OK")),
        "{one}"
    );
    let o = l9(d, &["models", "test"]);
    assert_eq!(o.status.code(), Some(6));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("fake") && text.contains("ok"), "{text}");
    assert!(
        text.contains("down") && text.contains("FAILED") && text.contains("providers.down"),
        "{text}"
    );
    // `l9 config` names where each provider setting came from.
    let c = json(d, &["config"]);
    let s = c["settings"].as_array().unwrap();
    let url = s.iter().find(|k| k["key"] == "providers.down.base_url").unwrap();
    let from = url["from"].as_str().unwrap();
    let line = from.rsplit_once("l9.toml:").map_or("", |(_, l)| l);
    assert!(line.parse::<u32>().is_ok(), "file:line expected: {from}");
    let dims = s.iter().find(|k| k["key"] == "memory.dims").unwrap();
    assert_eq!(dims["value"], "384");
}

/// An external agent with no model provider configured: the gate judges, the agent sees the
/// task, the requirement and the exact gate command, only the variables `[agents.NAME] env`
/// names reach it, and its cost is "unknown" (it does not report one), never $0. A gate
/// that leaves byproducts gets none of them committed.
#[test]
fn an_external_agent_runs_alone_with_only_its_allowed_variables() {
    let dir = l9_test_support::temp_dir();
    let proj = super::run::adder_project(dir.path(), false);
    let seen = dir.path().join("seen");
    std::fs::create_dir_all(&seen).unwrap();
    let script = seen.join("agent.sh");
    std::fs::write(
        &script,
        format!(
            "{prelude}\
             printf '%s' \"$p\" > {s}/prompt.txt\nenv > {s}/env.txt\nprintf 'echo $(($1 + $2))\\n' > add.sh\necho wrote add.sh\n",
            s = seen.display(),
            prelude = super::run::ADDER_AGENT_PRELUDE
        ),
    )
    .unwrap();
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str(&format!(
        "\n[agents.sh]\ncommand = [\"sh\", \"{}\"]\nenv = [\"L9_TEST_AGENT_KEY\"]\n",
        script.display()
    ));
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    // The adder's gate, plus a byproduct the way a Python test run leaves __pycache__.
    let spec = std::fs::read_to_string(proj.join("spec.md")).unwrap().replace(
        "test \"$(sh add.sh 2 2)\" = 4",
        "mkdir -p __pycache__ && touch __pycache__/add.cpython-311.pyc && test \"$(sh add.sh 2 2)\" = 4",
    );
    std::fs::write(proj.join("spec.md"), spec).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["run", "spec.md", "--repo", "repo", "--trials", "100", "--adapter", "sh"])
        .current_dir(&proj)
        .env_remove("L9_DB")
        .env("NO_COLOR", "1")
        .env("L9_TEST_AGENT_KEY", "let-me-in")
        .env("L9_TEST_SECRET", "never-leak")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("outcome:     succeeded"), "{out}");
    assert!(out.contains("unknown (the agent does not report its cost"), "{out}");
    let env = std::fs::read_to_string(seen.join("env.txt")).unwrap();
    assert!(env.contains("L9_TEST_AGENT_KEY=let-me-in"), "{env}");
    assert!(!env.contains("never-leak"), "an unlisted variable leaked: {env}");
    let prompt = std::fs::read_to_string(seen.join("prompt.txt")).unwrap();
    assert!(
        prompt.contains("REQ-1") && prompt.contains("test \"$(sh add.sh 2 2)\" = 4"),
        "{prompt}"
    );
    let repo = proj.join("repo");
    assert_eq!(std::fs::read_to_string(repo.join("add.sh")).unwrap(), "echo $(($1 + $2))\n");
    let files = git(&repo, &["log", "--name-only", "--format="]);
    assert!(!files.contains("__pycache__"), "a gate byproduct was committed: {files}");
    assert!(files.contains("add.sh"), "{files}");
}
