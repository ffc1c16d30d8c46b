//! Steering a run from outside: the fresh repository a run without `--repo` works in,
//! raising a run's budget (`l9 resume --budget-usd`), and retrying a failed run
//! (`l9 retry`).

use std::path::PathBuf;
use std::sync::Arc;

use l9_types::TaskId;
use serde_json::{Value, json};

use crate::Engine;
use crate::pipeline::PLAN_KIND;

impl Engine {
    /// The repository a run without `--repo` works in: a fresh git repository at
    /// `l9-out/<spec name>` under the project (`<dir name>` for a file named `spec.*`), with
    /// a README and a first commit. Made already: returned as is. A run killed while making
    /// it left it half made (no commit yet, maybe git's lock): the job is finished.
    pub async fn fresh_repository(&self, spec: &std::path::Path) -> crate::Result<PathBuf> {
        use l9_agents::git::Repo;
        use l9_agents::process::{Runner, SystemRunner};
        let stem = spec.file_stem().and_then(|s| s.to_str()).unwrap_or("project").to_string();
        let name = if stem.eq_ignore_ascii_case("spec") {
            spec.canonicalize()
                .ok()
                .and_then(|p| {
                    p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned())
                })
                .unwrap_or(stem)
        } else {
            stem
        };
        let dir = self.root().join("l9-out").join(name);
        let runner: Arc<dyn Runner> = Arc::new(SystemRunner);
        let repo = Repo::new(&dir, runner);
        let git_failed = |what: &str, e: String| {
            crate::EngineError::Config(format!("git {what} in {}: {e}", dir.display()))
        };
        // Two runs of one spec start together: one makes the repository, the other waits and
        // finds it made (they raced, and the second's commit found nothing to commit).
        let out = self.root().join("l9-out");
        std::fs::create_dir_all(&out).map_err(|e| crate::EngineError::io(&out, e))?;
        let lock =
            out.join(format!(".{}.lock", dir.file_name().unwrap_or_default().to_string_lossy()));
        let _held = l9_agents::lockfile::FileLock::take(&lock)
            .await
            .map_err(|e| crate::EngineError::io(&lock, e))?;
        if dir.join(".git").exists() {
            let head = repo.git(&dir, &["rev-parse", "--verify", "-q", "HEAD"]).await;
            if head.is_ok_and(|o| o.success()) {
                return Ok(dir);
            }
            let _ = std::fs::remove_file(dir.join(".git/index.lock"));
        }
        std::fs::create_dir_all(&dir).map_err(|e| crate::EngineError::io(&dir, e))?;
        let readme = dir.join("README.md");
        if !readme.exists() {
            std::fs::write(&readme, format!("Built by L9 from {}.\n", spec.display()))
                .map_err(|e| crate::EngineError::io(&readme, e))?;
        }
        // Ignore what the languages the spec talks about leave behind (caches, builds,
        // dependencies), so gates and agents never get those into a commit.
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            let text = std::fs::read_to_string(spec).unwrap_or_default();
            std::fs::write(&ignore, gitignore_for(&text))
                .map_err(|e| crate::EngineError::io(&ignore, e))?;
        }
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["add", "-A"],
            &["commit", "-q", "-m", "Start (L9)"],
        ] {
            let what = args.join(" ");
            let o = repo.git(&dir, args).await.map_err(|e| git_failed(&what, e.to_string()))?;
            if !o.success() {
                return Err(git_failed(&what, o.combined()));
            }
        }
        Ok(dir)
    }
}

/// A repository given to work on (`--repo`, the API's `repo`): its canonical path once it is
/// checked to be a git repository's top directory; otherwise what is wrong and what to give.
pub async fn check_repository(dir: &std::path::Path) -> Result<PathBuf, String> {
    use l9_agents::git::Repo;
    use l9_agents::process::SystemRunner;
    let canon = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    Repo::new(&canon, Arc::new(SystemRunner)).check_repo().await.map_err(|e| match e {
        l9_agents::AgentError::Git { message, .. } => message,
        e => e.to_string(),
    })?;
    Ok(canon)
}

/// Languages told apart by words a spec uses, and what each leaves behind.
const IGNORES: &[(&str, &[&str], &str)] = &[
    (
        "Python",
        &["python", "pytest", ".py", "pip ", "pyproject", "django", "flask"],
        "__pycache__/\n*.py[cod]\n.pytest_cache/\n.mypy_cache/\n.ruff_cache/\n.venv/\nvenv/\n*.egg-info/\n.coverage\nhtmlcov/\n",
    ),
    ("Rust", &["cargo", "rust", ".rs", "crate"], "target/\n"),
    (
        "JavaScript/TypeScript",
        &["npm", "node", "javascript", "typescript", "package.json", "jest", "yarn", "pnpm"],
        "node_modules/\ndist/\ncoverage/\n*.tsbuildinfo\n",
    ),
    ("Go", &["go test", "golang", "go.mod", "go build"], "*.test\n*.out\n"),
    ("Java/Kotlin", &["java", "gradle", "maven", "kotlin"], "*.class\nbuild/\n.gradle/\ntarget/\n"),
    ("C#/.NET", &["c#", "csharp", "dotnet", ".net", ".csproj", "nuget"], "bin/\nobj/\n*.user\n"),
    (
        "Ruby",
        &["ruby", "rails", "bundler", "rspec", "gemfile"],
        ".bundle/\nvendor/bundle/\nlog/\ntmp/\n",
    ),
    ("PHP", &["php", "composer", "laravel", "phpunit"], "vendor/\n.phpunit.result.cache\n"),
    ("C/C++", &["cmake", "c++", "gcc", "clang"], "build/\n*.o\n*.a\n*.so\n"),
];

/// A `.gitignore` for a fresh repository: editor and OS files, and the caches and build
/// output of every language the spec mentions.
pub(crate) fn gitignore_for(spec: &str) -> String {
    let lower = spec.to_lowercase();
    let mut s = String::from(
        "# Written by L9 for a fresh repository.\n.DS_Store\n*.swp\n*~\n.idea/\n.vscode/\n",
    );
    for (lang, words, lines) in IGNORES {
        if words.iter().any(|w| lower.contains(w)) {
            s.push_str(&format!("\n# {lang}\n{lines}"));
        }
    }
    s
}

/// What raising a run's budget did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetRaise {
    /// The plan's budget before, in millionths of a dollar (`None`: it had none).
    pub before_micro_usd: Option<u64>,
    pub now_micro_usd: u64,
    /// Tasks that had stopped at their share and now go on.
    pub tasks_continued: usize,
}

impl Engine {
    /// Raises a run's budget to `micro_usd`: the plan's budget, and for each task that stopped
    /// at its share (its last journal entry is a budget stop), that share by an equal part of
    /// the increase. Lowering it is refused. A run that has no plan yet gets it with its
    /// `resume` signal instead.
    pub async fn raise_budget(
        &self,
        run: TaskId,
        micro_usd: u64,
    ) -> crate::Result<Option<BudgetRaise>> {
        use l9_agents::steps::AgentStep;
        let f = l9_store::TaskFilter {
            parent: Some(run),
            kind: Some(PLAN_KIND.into()),
            ..Default::default()
        };
        let Some(plan) = self.list_tasks(&f, None, 10).await?.tasks.into_iter().next() else {
            return Ok(None);
        };
        let signals = self.store().tasks().signals(plan.id).await?;
        let current = signals
            .iter()
            .filter(|s| s.name == "budget")
            .max_by_key(|s| s.seq)
            .map_or(plan.payload["budget"].clone(), |s| s.payload.clone());
        let mut budget: l9_kernel::Budget = serde_json::from_value(current).unwrap_or_default();
        let before = budget.micro_usd;
        if let Some(b) = before
            && micro_usd <= b
        {
            return Err(crate::EngineError::Config(format!(
                "the run's budget is already ${:.4}; give --budget-usd more than that to raise it",
                b as f64 / 1e6
            )));
        }
        budget.micro_usd = Some(micro_usd);
        self.signal(plan.id, "budget", &serde_json::to_value(budget).unwrap_or(Value::Null))
            .await?;
        // Tasks stopped at their share.
        let f = l9_store::TaskFilter { parent: Some(plan.id), ..Default::default() };
        let mut stopped = Vec::new();
        for t in self.list_tasks(&f, None, 10_000).await?.tasks {
            if t.state != l9_store::TaskState::Waiting || t.kind != "l9.agent" {
                continue;
            }
            let journal = self.task_journal(t.id).await?;
            if let Some(last) = journal.last()
                && matches!(last.agent_step(), Some(AgentStep::BudgetStop { .. }))
            {
                stopped.push((t.id, last.value["stop"]["limit_micro_usd"].as_u64().unwrap_or(0)));
            }
        }
        let increase = micro_usd - before.unwrap_or(0);
        let n = stopped.len() as u64;
        for (task, limit) in &stopped {
            let share = limit + increase / n.max(1);
            self.signal(*task, "budget", &json!({"micro_usd": share})).await?;
        }
        Ok(Some(BudgetRaise {
            before_micro_usd: before,
            now_micro_usd: micro_usd,
            tasks_continued: stopped.len(),
        }))
    }
}

/// What `l9 retry` started.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Retry {
    pub run: TaskId,
    /// Plan tasks the failed run finished, kept as they are.
    pub kept: Vec<String>,
}

impl Engine {
    /// Retries a failed (or cancelled) run after its cause was fixed: a new run that reuses
    /// the failed one's journal up to its plan (the spec, IR, simulation and choice stay as
    /// they were) and whose plan counts the tasks that succeeded as done, so only the rest
    /// run again — with the configuration of now.
    pub async fn retry_run(&self, run: TaskId) -> crate::Result<Retry> {
        use l9_kernel::journal::EntryKind;
        let t = self.task(run).await?;
        if t.kind != "l9.run" {
            return Err(crate::EngineError::Task(l9_tasks::TaskError::Invalid(format!(
                "{run} is a {} task, not a run of `l9 run`; `l9 tasks retry` re-queues a task",
                t.kind
            ))));
        }
        if !matches!(t.state, l9_store::TaskState::Dead | l9_store::TaskState::Cancelled) {
            return Err(crate::EngineError::Task(l9_tasks::TaskError::Invalid(format!(
                "run {run} is {}, not failed: {}",
                t.state.as_str(),
                if t.state == l9_store::TaskState::Succeeded {
                    "there is nothing to retry"
                } else {
                    "`l9 resume` continues it"
                }
            ))));
        }
        let journal = self.task_journal(run).await?;
        let spawn = journal.iter().find(|e| {
            e.key.as_ref().is_some_and(|k| k.kind == EntryKind::Child && k.name == PLAN_KIND)
        });
        let (upto, plan) = match spawn {
            // Everything before the plan is kept; the tasks it finished are kept as done.
            Some(e) => (
                e.seq,
                journal
                    .iter()
                    .find(|x| {
                        x.seq >= e.seq
                            && x.status == l9_store::JournalStatus::Completed
                            && x.key == e.key
                    })
                    .and_then(|x| x.value.as_str().and_then(|s| s.parse::<TaskId>().ok())),
            ),
            // It failed before its plan: it starts over (its stages read the spec again).
            None => (0, None),
        };
        let mut keep = serde_json::Map::new();
        if let Some(plan) = plan {
            let f = l9_store::TaskFilter { parent: Some(plan), ..Default::default() };
            for c in self.list_tasks(&f, None, 10_000).await?.tasks {
                let name = c.payload["plan_task"].as_str().or_else(|| c.payload["stage"].as_str());
                if c.state == l9_store::TaskState::Succeeded
                    && let Some(name) = name
                {
                    keep.insert(name.to_string(), c.result.clone().unwrap_or(Value::Null));
                }
            }
        }
        let mut payload = t.payload.clone();
        payload["retry_of"] = json!(run.to_string());
        payload["keep"] = Value::Object(keep.clone());
        let new = self.fork(run, upto, Some(payload)).await?;
        Ok(Retry { run: new, kept: keep.keys().cloned().collect() })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_fresh_repository_ignores_what_the_specs_languages_leave_behind() {
        let py = super::gitignore_for("Run `pytest -q` on the CLI");
        assert!(
            py.contains("__pycache__/")
                && py.contains(".pytest_cache/")
                && !py.contains("node_modules")
        );
        let both = super::gitignore_for("A Rust crate (cargo test) with an npm front end");
        assert!(both.contains("target/") && both.contains("node_modules/"));
        let dotnet = super::gitignore_for("A C# service (dotnet test)");
        assert!(dotnet.contains("# C#/.NET\nbin/\nobj/") && !dotnet.contains("vendor/"));
        let php = super::gitignore_for("A Laravel app with PHPUnit tests");
        assert!(php.contains("# PHP\nvendor/"), "{php}");
        let none = super::gitignore_for("Write add.sh");
        assert!(none.contains(".DS_Store") && !none.contains("target/"));
    }
}
