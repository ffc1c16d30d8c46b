//! `l9 bench learning`: does the loop learn, and only from real work? A family of related
//! specs (four small tools, each in several variants) runs in sequence with scripted coders
//! whose first try is right only when the constraint an earlier run learned is in their
//! prompt; some runs get an unreachable model endpoint instead (an infrastructure failure).
//! The same sequence runs twice, in fresh projects: learning on, and `--no-learn`. It reports
//! first-gate failures per run, the forecast Brier score per executor, and whether the
//! injected failures changed the world model at all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::runtime::EnqueueOptions;
use crate::{Engine, EngineError, Result, WorkerOptions};

/// One tool of the family: its script, what it does, the wrong first version, the right
/// one, and what the reviewer says about the wrong one (the constraint a run learns).
struct Tool {
    file: &'static str,
    does: &'static str,
    wrong: &'static str,
    right: &'static str,
    lesson: &'static str,
}

const TOOLS: &[Tool] = &[
    Tool {
        file: "add.sh",
        does: "prints the sum of its two arguments",
        wrong: "echo $(($1 - $2))",
        right: "echo $(($1 + $2))",
        lesson: "add.sh subtracts; it must add its arguments",
    },
    Tool {
        file: "mul.sh",
        does: "prints the product of its two arguments",
        wrong: "echo $(($1 + $2))",
        right: "echo $(($1 * $2))",
        lesson: "mul.sh adds; it must multiply its arguments",
    },
    Tool {
        file: "greet.sh",
        does: "prints a greeting for the name it is given",
        wrong: "echo \"Hi $1\"",
        right: "echo \"Hello, $1!\"",
        lesson: "greet.sh must print exactly Hello, NAME!",
    },
    Tool {
        file: "shout.sh",
        does: "prints its argument in capitals",
        wrong: "echo \"$1\"",
        right: "echo \"$1\" | tr a-z A-Z",
        lesson: "shout.sh must upper-case its argument",
    },
];

/// The acceptance gate of variant `v` of a tool.
fn gate(tool: &Tool, v: usize) -> String {
    let (a, b) = (v + 2, v + 3);
    match tool.file {
        "add.sh" => format!("test \"$(sh add.sh {a} {b})\" = {}", a + b),
        "mul.sh" => format!("test \"$(sh mul.sh {a} {b})\" = {}", a * b),
        "greet.sh" => format!("test \"$(sh greet.sh Ada{v})\" = \"Hello, Ada{v}!\""),
        _ => format!("test \"$(sh shout.sh hey{v})\" = HEY{v}"),
    }
}

fn spec(tool: &Tool, v: usize) -> String {
    format!(
        "# {} v{v}\n\n## Script\n- REQ-1: The repository MUST contain `{}`, which {}.\n\n## Acceptance criteria\n- REQ-1 holds when the script answers as below.\n\n```sh\n{}\n```\n",
        tool.file,
        tool.file,
        tool.does,
        gate(tool, v)
    )
}

/// The scripted coder and reviewer of one spec: the design record and tests as any coder
/// would write them; the script right at once only with the lesson in the prompt.
fn script(tool: &Tool, v: usize) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let right = q(&format!("#!/bin/sh\n{}\n", tool.right));
    let wrong = q(&format!("#!/bin/sh\n{}\n", tool.wrong));
    let design = q(
        "# Design\n## Context\nOne small script.\n## Decision\nPOSIX sh.\n## Consequences\nNo dependencies.\n",
    );
    let tests = q(&format!("{}\n", gate(tool, v)));
    let lesson = q(tool.lesson);
    let file = tool.file;
    format!(
        r#"rules:
  - {{ name: design, when: {{ role: coder, step: "r1/coder/model#1", prompt: "Write the design record" }}, tool_calls: [{{ name: write_file, arguments: {{ path: docs/design/architecture.md, content: {design} }} }}] }}
  - {{ name: design done, when: {{ role: coder, step: "r1/coder/model#2", prompt: "docs/design/" }}, reply: "wrote the record" }}
  - {{ name: tests, when: {{ role: coder, step: "r1/coder/model#1", prompt: "Write the tests for script " }}, tool_calls: [{{ name: write_file, arguments: {{ path: tests/script.sh, content: {tests} }} }}] }}
  - {{ name: tests done, when: {{ role: coder, step: "r1/coder/model#2", prompt: "tests/script.sh" }}, reply: "wrote the tests" }}
  - {{ name: integration, when: {{ role: coder, step: "r1/coder/model#1", prompt: "Integration:" }}, tool_calls: [{{ name: write_file, arguments: {{ path: {file}, content: {right} }} }}] }}
  - {{ name: told up front, when: {{ role: coder, step: "r1/coder/model#1", prompt: {lesson} }}, tool_calls: [{{ name: write_file, arguments: {{ path: {file}, content: {right} }} }}] }}
  - {{ name: first try, when: {{ role: coder, step: "r1/coder/model#1" }}, tool_calls: [{{ name: write_file, arguments: {{ path: {file}, content: {wrong} }} }}] }}
  - {{ name: fixed after review, when: {{ role: coder, step: "r2/coder/model#1" }}, tool_calls: [{{ name: write_file, arguments: {{ path: {file}, content: {right} }} }}] }}
  - {{ name: done, when: {{ role: coder }}, reply: "done" }}
  - {{ name: whole change, when: {{ role: reviewer, step: "review" }}, reply: '{{"verdict": "approve", "comments": "fine"}}' }}
  - {{ name: passed, when: {{ role: reviewer, prompt: "Gate passed" }}, reply: '{{"verdict": "approve", "comments": "fine"}}' }}
  - {{ name: failed, when: {{ role: reviewer, prompt: "Gate FAILED" }}, reply: {reply} }}
"#,
        reply = q(&json!({"verdict": "changes", "comments": tool.lesson}).to_string()),
    )
}

/// One run of the sequence.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRun {
    pub n: usize,
    pub spec: String,
    /// An unreachable endpoint instead of the scripted coder.
    pub injected: bool,
    pub outcome: String,
    /// Implementation tasks whose first gate failed.
    pub first_gate_failures: Option<u32>,
    pub executor: String,
    pub forecast_success: Option<f64>,
    /// World-model deltas the run recorded.
    pub deltas: u32,
}

/// One pass over the sequence.
#[derive(Debug, Clone, Serialize)]
pub struct BenchPass {
    pub learning: bool,
    pub runs: Vec<BenchRun>,
    pub first_gate_failures: u32,
    /// Brier score of the success forecasts per executor (real runs).
    pub brier: std::collections::BTreeMap<String, (usize, f64)>,
    /// Deltas the injected runs recorded (must be 0).
    pub learned_from_injected: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct LearningBench {
    pub specs: usize,
    pub injected: Vec<usize>,
    pub on: BenchPass,
    pub off: BenchPass,
}

/// Runs `specs` specs (every `inject_every`-th one with an unreachable endpoint) twice, in
/// fresh projects under `dir`: learning on, then off.
pub async fn learning_bench(
    dir: &Path,
    specs: usize,
    inject_every: usize,
) -> Result<LearningBench> {
    let injected: Vec<usize> =
        (1..=specs).filter(|n| inject_every > 0 && n % inject_every == 0).collect();
    let on = pass(&dir.join("learning-on"), specs, &injected, true).await?;
    let off = pass(&dir.join("learning-off"), specs, &injected, false).await?;
    Ok(LearningBench { specs, injected, on, off })
}

async fn pass(root: &Path, specs: usize, injected: &[usize], learning: bool) -> Result<BenchPass> {
    std::fs::create_dir_all(root).map_err(|e| EngineError::io(root, e))?;
    let io = |p: &Path, e| EngineError::io(p, e);
    Engine::init(root, None).await?;
    // The endpoint the injected runs are given: nothing listens on port 9.
    let cfg = root.join(".l9/l9.toml");
    let mut toml = std::fs::read_to_string(&cfg).map_err(|e| io(&cfg, e))?;
    // (A second provider, never used, so that neither is "the only provider" a run without
    // one would take: the other runs use their spec's scripted coder.)
    toml.push_str("\n[providers.gone]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nmodel = \"m\"\napi_key_env = \"\"\nmax_retries = 0\ntimeout_s = 2\n\n[providers.unused]\nkind = \"scripted\"\nscript = \"unused.yaml\"\n");
    let unused = root.join("unused.yaml");
    std::fs::write(&unused, "rules: []\n").map_err(|e| io(&unused, e))?;
    std::fs::write(&cfg, toml).map_err(|e| io(&cfg, e))?;
    let engine = Engine::open(root, None).await?;
    let mut runs = Vec::new();
    for n in 1..=specs {
        let tool = &TOOLS[(n - 1) % TOOLS.len()];
        let v = (n - 1) / TOOLS.len();
        let name = format!("{}-v{v}", tool.file.trim_end_matches(".sh"));
        let spec_path = root.join(format!("{name}.md"));
        std::fs::write(&spec_path, spec(tool, v)).map_err(|e| io(&spec_path, e))?;
        let script_path = root.join(format!("{name}.yaml"));
        std::fs::write(&script_path, script(tool, v)).map_err(|e| io(&script_path, e))?;
        let repo = fresh_repo(root, &name).await?;
        let is_injected = injected.contains(&n);
        let mut payload = json!({
            "spec": spec_path, "repo": repo, "trials": 200, "seed": n, "no_learn": !learning,
        });
        if is_injected {
            payload["provider"] = json!("gone");
        } else {
            payload["script"] = json!(script_path);
        }
        let before = engine.world().world_state().await?.deltas;
        let (id, _) = engine
            .enqueue(
                "l9.run",
                payload,
                &EnqueueOptions { queue: "run".into(), ..Default::default() },
            )
            .await?;
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let opts = WorkerOptions {
            id: format!("bench-learning-{n}"),
            queues: vec!["run".into()],
            concurrency: 4,
            lease: Duration::from_secs(60),
            exit_when_idle: true,
            wait_for_timers: true,
            ..Default::default()
        };
        engine.run_worker(engine.registry(), opts, rx).await?;
        let after = engine.world().world_state().await?.deltas;
        let task = engine.task(id).await?;
        let journal = engine.task_journal(id).await?;
        let step = |s: crate::pipeline::RunStep| {
            journal.iter().find(|e| e.run_step() == Some(s)).map(|e| e.value.clone())
        };
        let reflected: Option<crate::stages::Reflected> =
            step(crate::pipeline::RunStep::Reflect).and_then(|v| crate::stages::read(&v));
        let sim: Option<crate::stages::Simulated> =
            step(crate::pipeline::RunStep::Simulate).and_then(|v| crate::stages::read(&v));
        runs.push(BenchRun {
            n,
            spec: name,
            injected: is_injected,
            outcome: task.state.as_str().to_string(),
            first_gate_failures: reflected
                .as_ref()
                .filter(|_| !is_injected)
                .map(|r| r.first_gate_failed),
            executor: if is_injected { "provider:gone".into() } else { "scripted example".into() },
            forecast_success: sim.as_ref().and_then(|s| s.forecast()).map(|f| f.success),
            deltas: after.saturating_sub(before),
        });
    }
    let mut brier: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
    for r in runs.iter().filter(|r| !r.injected) {
        if let Some(p) = r.forecast_success {
            let ok = f64::from(u8::from(r.outcome == "succeeded"));
            let e = brier.entry(r.executor.clone()).or_default();
            e.1 = (e.1 * e.0 as f64 + (p - ok).powi(2)) / (e.0 + 1) as f64;
            e.0 += 1;
        }
    }
    Ok(BenchPass {
        learning,
        first_gate_failures: runs.iter().filter_map(|r| r.first_gate_failures).sum(),
        learned_from_injected: runs.iter().filter(|r| r.injected).map(|r| r.deltas).sum(),
        brier,
        runs,
    })
}

/// A git repository with one commit, for one run.
async fn fresh_repo(root: &Path, name: &str) -> Result<PathBuf> {
    use l9_agents::process::SystemRunner;
    let dir = root.join("repos").join(name);
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
    std::fs::write(dir.join("README.md"), format!("{name}\n"))
        .map_err(|e| EngineError::io(&dir, e))?;
    let repo = l9_agents::git::Repo::new(&dir, std::sync::Arc::new(SystemRunner));
    for args in
        [&["init", "-q", "-b", "main"][..], &["add", "-A"], &["commit", "-q", "-m", "start"]]
    {
        let o = repo.git(&dir, args).await.map_err(|e| EngineError::Internal(e.to_string()))?;
        if !o.success() {
            return Err(EngineError::Internal(format!("git {args:?}: {}", o.combined())));
        }
    }
    Ok(dir)
}

impl LearningBench {
    /// Whether learning did its job: fewer first-gate failures with it than without, and
    /// nothing learned from the injected failures.
    pub fn verdict(&self) -> std::result::Result<(), String> {
        if self.on.learned_from_injected > 0 {
            return Err(format!(
                "the injected infrastructure failures recorded {} world-model delta(s)",
                self.on.learned_from_injected
            ));
        }
        if self.on.first_gate_failures >= self.off.first_gate_failures {
            return Err(format!(
                "learning did not cut first-gate failures ({} with it, {} without)",
                self.on.first_gate_failures, self.off.first_gate_failures
            ));
        }
        Ok(())
    }
}
