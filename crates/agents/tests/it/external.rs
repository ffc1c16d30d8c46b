//! External agents run alone (the gate judges), their cost, their timeouts; gate byproducts
//! stay out of commits; worktrees made side by side.

use std::time::Duration;

use l9_agents::adapter::{Adapter, AgentRun};
use l9_agents::cell::{self, Coder};
use l9_agents::process::Output;
use l9_agents::steps::Direct;
use l9_agents::tools::Tools;
use l9_agents::workspace::Workspace;

use crate::{repo_with, runner};

fn agent(dir: &std::path::Path, body: &str) -> Adapter {
    let script = dir.join("agent.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    Adapter::new("shell", vec!["sh".into(), script.display().to_string()], runner())
}

#[tokio::test]
async fn an_agent_alone_sees_the_gate_command_and_the_gate_judges() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "x\n")]).await;
    let wt = repo.worktree("alone").await.unwrap();
    let gate = "test \"$(sh add.sh 1 2)\" = 3";
    let tools = Tools::new(Workspace::new(&wt.path).unwrap(), runner(), Some(gate.into()));
    let outside = dir.path().join("prompt.txt");
    let a = agent(
        dir.path(),
        &format!("cat > {}\necho 'echo $(($1 + $2))' > add.sh\necho done", outside.display()),
    );
    let out = cell::run(&Coder::External(&a), None, &tools, &Direct, &repo, &wt, "write add.sh", 2)
        .await
        .unwrap();
    assert!(out.done, "{out:?}");
    assert_eq!(out.rounds.len(), 1);
    assert!(out.rounds[0].review.comments.contains("no reviewer"), "{out:?}");
    let prompt = std::fs::read_to_string(&outside).unwrap();
    assert!(prompt.contains("Task: write add.sh") && prompt.contains(gate), "{prompt}");
    // It printed no report of its cost: unknown, not zero.
    assert!(out.cost_unknown);
}

#[tokio::test]
async fn a_failing_gate_without_a_reviewer_means_another_round() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "x\n")]).await;
    let wt = repo.worktree("rounds").await.unwrap();
    let tools = Tools::new(Workspace::new(&wt.path).unwrap(), runner(), Some("test -f b".into()));
    // First run writes a, the second (seeing a) writes b.
    let a = agent(dir.path(), "if [ -f a ]; then touch b; else touch a; fi");
    let out = cell::run(&Coder::External(&a), None, &tools, &Direct, &repo, &wt, "make b", 3)
        .await
        .unwrap();
    assert!(out.done && out.rounds.len() == 2 && out.first_gate_failed(), "{out:?}");
    assert_eq!(out.rounds[0].review.verdict, "changes");
}

#[tokio::test]
async fn an_agents_own_cost_report_is_read() {
    let out = |stdout: &str| Output {
        code: Some(0),
        stdout: stdout.into(),
        stderr: String::new(),
        timed_out: false,
        timeout: None,
    };
    let r = AgentRun::read(out(
        "{\"type\":\"result\",\"result\":\"Added add.sh\",\"total_cost_usd\":0.0123,\"usage\":{\"input_tokens\":100,\"output_tokens\":20}}\n",
    ));
    assert_eq!(r.cost_micro_usd, Some(12_300));
    assert_eq!(r.tokens, Some(120));
    assert_eq!(r.summary, "Added add.sh");
    let r = AgentRun::read(out("working…\n{\"cost_usd\": 0.5}\n"));
    assert_eq!(r.cost_micro_usd, Some(500_000));
    let r = AgentRun::read(out("edited add.sh\n"));
    assert_eq!((r.cost_micro_usd, r.tokens), (None, None));
    assert_eq!(r.summary, "edited add.sh\n");
}

#[tokio::test]
async fn a_timeout_is_a_failed_attempt_with_the_limit_and_the_output_tail() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "x\n")]).await;
    let wt = repo.worktree("slow").await.unwrap();
    let tools = Tools::new(Workspace::new(&wt.path).unwrap(), runner(), Some("true".into()));
    let mut a = agent(dir.path(), "echo thinking hard; echo still going; sleep 30");
    a.timeout = Duration::from_secs(1);
    let out = cell::run(&Coder::External(&a), None, &tools, &Direct, &repo, &wt, "slow", 1)
        .await
        .unwrap();
    assert!(!out.done, "a timed-out agent is not done even though the gate would pass");
    let g = &out.rounds[0].gate;
    assert!(!g.passed);
    assert!(g.output.contains("timed out after 1s"), "{}", g.output);
    assert!(g.output.contains("timeout_s"), "names the setting: {}", g.output);
    assert!(g.output.contains("still going"), "keeps the output tail: {}", g.output);
}

#[tokio::test]
async fn files_only_a_gate_produced_are_never_committed() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "x\n"), ("cache.txt", "base\n")]).await;
    let wt = repo.worktree("byproducts").await.unwrap();
    // The gate leaves a cache directory, a report, and rewrites a tracked file.
    let gate = "mkdir -p __cache__ && echo x > __cache__/m.bin && date +%N > report.out && echo run >> cache.txt && sh add.sh 1 2";
    let mut tools = Tools::new(Workspace::new(&wt.path).unwrap(), runner(), Some(gate.into()));
    tools.track = true;
    // The agent writes add.sh, and report.out too when a gate has run before it.
    let a = agent(
        dir.path(),
        "echo 'echo $(($1 + $2))' > add.sh\nif [ -f __cache__/m.bin ]; then echo mine > report.out; exit 0; fi",
    );
    let out =
        cell::run(&Coder::External(&a), None, &tools, &Direct, &repo, &wt, "add", 1).await.unwrap();
    assert!(out.done, "{out:?}");
    let commit = repo.commit(&wt, "Add", "T", "P").await.unwrap().expect("a commit");
    let files = repo.git(&wt.path, &["show", "--name-only", "--format=", &commit]).await.unwrap();
    assert_eq!(files.stdout.trim(), "add.sh", "only the agent's file is committed");
    // A file the gate wrote first and the agent then wrote too is the agent's: committed.
    let wt2 = repo.worktree("byproducts-2").await.unwrap();
    let mut tools2 = Tools::new(Workspace::new(&wt2.path).unwrap(), runner(), Some(gate.into()));
    tools2.track = true;
    assert!(!tools2.gate().await.unwrap().success(), "no add.sh yet");
    let again = cell::run(&Coder::External(&a), None, &tools2, &Direct, &repo, &wt2, "add", 1)
        .await
        .unwrap();
    assert!(again.done, "{again:?}");
    let c2 = repo.commit(&wt2, "Add", "T", "P").await.unwrap().expect("a commit");
    let files = repo.git(&wt2.path, &["show", "--name-only", "--format=", &c2]).await.unwrap();
    let mut names: Vec<&str> = files.stdout.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["add.sh", "report.out"], "the agent wrote report.out itself");
}

#[tokio::test]
async fn many_worktrees_made_at_once_all_succeed() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "x\n")]).await;
    let made = futures_join(&repo, 16).await;
    for (i, r) in made.iter().enumerate() {
        let wt = r.as_ref().unwrap_or_else(|e| panic!("worktree {i}: {e}"));
        assert!(wt.path.join("README.md").exists(), "worktree {i} is checked out");
    }
    let list = repo.git(dir.path(), &["worktree", "list"]).await.unwrap();
    assert_eq!(list.stdout.lines().count(), 17, "{}", list.stdout);
}

async fn futures_join(
    repo: &l9_agents::git::Repo,
    n: usize,
) -> Vec<l9_agents::Result<l9_agents::git::Worktree>> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let r = repo.clone();
        set.spawn(async move { (i, r.worktree(&format!("race-{i}")).await) });
    }
    let mut out: Vec<(usize, _)> = Vec::new();
    while let Some(j) = set.join_next().await {
        out.push(j.unwrap());
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}
