use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use l9_agents::AgentError;
use l9_agents::adapter::Adapter;
use l9_agents::agent::{self, AgentConfig};
use l9_agents::cell::{self, Coder};
use l9_agents::git::Merged;
use l9_agents::steps::{Direct, MemoryJournal};
use l9_agents::tools::Tools;
use l9_agents::workspace::Workspace;
use l9_models::{ChatRequest, ChatResponse, Message, Provider, ScriptedProvider};

use crate::{repo_with, runner};

/// Counts the calls that reach the model.
#[derive(Debug)]
struct Counting(ScriptedProvider, AtomicUsize);

#[async_trait]
impl Provider for Counting {
    fn name(&self) -> &str {
        self.0.name()
    }
    async fn chat(&self, req: &ChatRequest) -> l9_models::Result<ChatResponse> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.chat(req).await
    }
}

const CODER: &str = r#"
rules:
  - name: write the buggy version
    when: { role: coder, step: "r1/coder/model#1" }
    tool_calls:
      - name: write_file
        arguments: { path: add.sh, content: "echo $(($1 - $2))\n" }
  - name: claim done
    when: { role: coder, step: "r1/coder/model#2" }
    reply: "Implemented add.sh"
  - name: fix it
    when: { role: coder, step: "r2/coder/model#1", prompt: "subtracts" }
    tool_calls:
      - name: apply_patch
        arguments: { patch: "--- a/add.sh\n+++ b/add.sh\n@@ -1 +1 @@\n-echo $(($1 - $2))\n+echo $(($1 + $2))\n" }
  - name: claim fixed
    when: { role: coder, step: "r2/coder/model#2" }
    reply: "Fixed the sign"
"#;

const REVIEWER: &str = r#"
rules:
  - name: ask for a fix
    when: { role: reviewer, step: "r1/review" }
    reply: '{"verdict": "changes", "comments": "add.sh subtracts; it must add"}'
  - name: approve
    when: { role: reviewer, step: "r2/review", prompt: "Gate passed" }
    reply: '{"verdict": "approve", "comments": "looks right"}'
"#;

#[tokio::test]
async fn a_bug_a_failed_gate_a_review_a_fix_a_passing_gate_and_a_merge() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "adder\n")]).await;
    let wt = repo.worktree("add").await.unwrap();
    let tools = Tools::new(
        Workspace::new(&wt.path).unwrap(),
        runner(),
        Some("test \"$(sh add.sh 2 2)\" = 4".into()),
    );
    let coder = Counting(
        ScriptedProvider::parse("coder", "coder.yaml", CODER).unwrap(),
        AtomicUsize::new(0),
    );
    let reviewer = ScriptedProvider::parse("reviewer", "reviewer.yaml", REVIEWER).unwrap();
    let journal = MemoryJournal::default();
    let c = Coder::Model(&coder, AgentConfig::coder());
    let out = cell::run(
        &c,
        Some(&reviewer),
        &tools,
        &journal,
        &repo,
        &wt,
        "write add.sh that prints the sum of its two arguments",
        3,
    )
    .await
    .unwrap();
    assert!(out.done);
    assert_eq!(out.rounds.len(), 2);
    assert!(out.first_gate_failed());
    assert_eq!(out.rounds[0].review.verdict, "changes");
    assert!(out.rounds[1].gate.passed);
    assert_eq!(std::fs::read_to_string(wt.path.join("add.sh")).unwrap(), "echo $(($1 + $2))\n");
    // Every model call, tool call, gate and review is a named step, in order.
    let order = journal.order.lock().unwrap().clone();
    assert_eq!(
        order,
        [
            "prompt templates",
            "r1/coder/model#1",
            "r1/coder/tool#1.0:write_file",
            "r1/coder/model#2",
            "r1/gate",
            "r1/review",
            "r2/coder/model#1",
            "r2/coder/tool#1.0:apply_patch",
            "r2/coder/model#2",
            "r2/gate",
            "r2/review",
        ]
    );
    repo.commit(&wt, "Add add.sh", "T-add", "P-1").await.unwrap();
    assert!(matches!(repo.merge(&wt).await.unwrap(), Merged::FastForward { .. }));
    assert_eq!(std::fs::read_to_string(dir.path().join("add.sh")).unwrap(), "echo $(($1 + $2))\n");
    assert_eq!(coder.1.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_resumed_cell_does_not_repeat_finished_model_calls() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "adder\n")]).await;
    let wt = repo.worktree("add").await.unwrap();
    let tools = Tools::new(
        Workspace::new(&wt.path).unwrap(),
        runner(),
        Some("test \"$(sh add.sh 2 2)\" = 4".into()),
    );
    let coder = Counting(
        ScriptedProvider::parse("coder", "coder.yaml", CODER).unwrap(),
        AtomicUsize::new(0),
    );
    let reviewer = ScriptedProvider::parse("reviewer", "reviewer.yaml", REVIEWER).unwrap();
    let journal = MemoryJournal::default();
    *journal.fail_after.lock().unwrap() = Some(7); // "crash" after round 2's first model call
    let c = Coder::Model(&coder, AgentConfig::coder());
    let task = "write add.sh that prints the sum of its two arguments";
    let e =
        cell::run(&c, Some(&reviewer), &tools, &journal, &repo, &wt, task, 3).await.unwrap_err();
    assert!(e.to_string().contains("simulated crash before r2/coder/tool#1.0:apply_patch"), "{e}");
    assert_eq!(coder.1.load(Ordering::SeqCst), 3);
    *journal.fail_after.lock().unwrap() = None;
    // The coder's script would fail on a repeated call ("r1/coder/model#1" again would still
    // match, but the count shows it is not asked): only the last model call is new.
    let out = cell::run(&c, Some(&reviewer), &tools, &journal, &repo, &wt, task, 3).await.unwrap();
    assert!(out.done);
    assert_eq!(coder.1.load(Ordering::SeqCst), 4, "finished model calls came from the journal");
}

#[tokio::test]
async fn loops_step_limits_and_budgets_stop_the_agent() {
    let dir = l9_test_support::temp_dir();
    let tools = Tools::new(Workspace::new(dir.path()).unwrap(), runner(), None);
    let looping = ScriptedProvider::parse(
        "m",
        "loop.yaml",
        "rules:\n  - name: again\n    tool_calls:\n      - name: list_dir\n        arguments: {}\n",
    )
    .unwrap();
    let e =
        agent::run(&looping, &tools, &Direct, &AgentConfig::coder(), 1, vec![Message::user("go")])
            .await
            .unwrap_err();
    assert!(
        matches!(&e, AgentError::Stopped(m) if m.starts_with("loop: `list_dir` called 3 times")),
        "{e}"
    );
    let writing = ScriptedProvider::parse("m", "w.yaml", "rules:\n  - name: write\n    tool_calls:\n      - name: write_file\n        arguments: { path: a, content: x }\n").unwrap();
    let mut cfg = AgentConfig::coder();
    cfg.max_steps = 4;
    let e = agent::run(&writing, &tools, &Direct, &cfg, 1, vec![Message::user("go")])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("step limit: 4 model calls"), "{e}");
    let mut cfg = AgentConfig::coder();
    cfg.max_tokens = Some(10);
    let e = agent::run(
        &writing,
        &tools,
        &Direct,
        &cfg,
        1,
        vec![Message::user("go, and this prompt is long enough to cost more than ten tokens")],
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("budget:") && e.to_string().contains("the limit is 10"), "{e}");
}

#[tokio::test]
async fn an_external_agent_edits_files_and_the_gate_decides() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "x\n")]).await;
    let wt = repo.worktree("ext").await.unwrap();
    // A fake agent CLI: reads the prompt on stdin and writes it to a file.
    let script = dir.path().join("fake-agent.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat > prompt.txt\necho 'echo $(($1 + $2))' > add.sh\necho edited\n",
    )
    .unwrap();
    let adapter = Adapter::new("fake", vec!["sh".into(), script.display().to_string()], runner());
    let tools = Tools::new(
        Workspace::new(&wt.path).unwrap(),
        runner(),
        Some("test \"$(sh add.sh 1 2)\" = 3".into()),
    );
    let reviewer = ScriptedProvider::parse("reviewer", "r.yaml", "rules:\n  - name: ok\n    when: { role: reviewer }\n    reply: '{\"verdict\": \"approve\"}'\n").unwrap();
    let c = Coder::External(&adapter);
    let out = cell::run(&c, Some(&reviewer), &tools, &Direct, &repo, &wt, "write add.sh", 1)
        .await
        .unwrap();
    assert!(out.done, "{out:?}");
    assert_eq!(out.rounds[0].coder_summary.trim(), "edited");
    assert!(
        std::fs::read_to_string(wt.path.join("prompt.txt")).unwrap().contains("Task: write add.sh")
    );
    // The shipped templates exist for the four CLIs and put the prompt in an argument.
    for name in ["cursor", "claude", "codex", "aider"] {
        let a = Adapter::template(name, Arc::new(l9_agents::process::SystemRunner)).unwrap();
        assert!(a.command.iter().any(|x| x == "{prompt}"), "{name}");
    }
}
