//! `l9 gc`: removes the worktrees and branches finished runs left in their repositories —
//! the run's integration branch (`l9/run-<id>`), each task's branch (`l9/task-<id>`) and the
//! worktrees under `<git dir>/l9-worktrees/`. A succeeded run's are removed at once (its
//! result is on the user's branch); a failed or cancelled run keeps its own until it is older
//! than the limit (7 days by default), so the work stays where its failure message says.
//! A branch a run still in progress uses (a retry goes on with its run's branch) is kept.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use l9_agents::process::SystemRunner;
use l9_store::{TaskFilter, TaskRecord, TaskState};
use serde::Serialize;

use crate::{Engine, Result};

/// What `gc` did (or would do, with `dry_run`) for one run.
#[derive(Debug, Clone, Serialize)]
pub struct GcRun {
    pub run: String,
    pub state: String,
    pub repo: String,
    pub branches: Vec<String>,
    pub worktrees: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub removed: Vec<GcRun>,
    /// Finished runs kept: too recent (failed ones), or their branch is still in use.
    pub kept: usize,
}

fn finished(s: TaskState) -> bool {
    matches!(s, TaskState::Succeeded | TaskState::Dead | TaskState::Cancelled)
}

impl Engine {
    /// Every task under `root` (its children, theirs, …).
    async fn descendants(&self, root: &TaskRecord) -> Result<Vec<TaskRecord>> {
        let mut out = Vec::new();
        let mut todo = vec![root.id];
        while let Some(id) = todo.pop() {
            let f = TaskFilter { parent: Some(id), ..Default::default() };
            for t in self.list_tasks(&f, None, 1000).await?.tasks {
                todo.push(t.id);
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Removes the branches and worktrees of finished runs: succeeded ones at any age,
    /// others once they are older than `older_than` (the time their run last changed).
    pub async fn gc(
        &self,
        older_than: chrono::Duration,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<GcReport> {
        let f = TaskFilter { kind: Some("l9.run".into()), ..Default::default() };
        let runs = self.list_tasks(&f, None, 10_000).await?.tasks;
        // Branches runs in progress still use: their own and the ones they retry.
        let mut in_use: BTreeSet<String> = BTreeSet::new();
        for r in runs.iter().filter(|r| !finished(r.state)) {
            in_use.insert(format!("l9/run-{}", r.id));
            if let Some(of) = r.payload["retry_of"].as_str() {
                in_use.insert(format!("l9/run-{of}"));
            }
        }
        let mut report = GcReport { dry_run, removed: Vec::new(), kept: 0 };
        for r in runs.iter().filter(|r| finished(r.state)) {
            let Some(repo) = r.payload["repo"].as_str() else { continue };
            let old = now - r.updated_at >= older_than;
            let own = format!(
                "l9/run-{}",
                r.payload["retry_of"].as_str().map_or(r.id.to_string(), str::to_string)
            );
            if (r.state != TaskState::Succeeded && !old) || in_use.contains(&own) {
                report.kept += 1;
                continue;
            }
            let repo = self.root().join(repo);
            let mut branches = vec![own.clone()];
            let mut dirs = vec![own.trim_start_matches("l9/").to_string()];
            for t in self.descendants(r).await? {
                match t.kind.as_str() {
                    "l9.agent" if t.payload.get("workdir").is_none_or(|w| w.is_null()) => {
                        branches.push(format!("l9/task-{}", t.id));
                        dirs.push(format!("task-{}", t.id));
                    }
                    "l9.verify" => dirs.push(format!("verify-{}", t.id)),
                    _ => {}
                }
            }
            let done = remove(&repo, &branches, &dirs, dry_run).await;
            if !done.0.is_empty() || !done.1.is_empty() {
                report.removed.push(GcRun {
                    run: r.id.to_string(),
                    state: r.state.as_str().to_string(),
                    repo: repo.display().to_string(),
                    branches: done.0,
                    worktrees: done.1,
                });
            }
        }
        Ok(report)
    }
}

/// Removes the worktrees named `dirs` (under the repository's `l9-worktrees`) and the
/// `branches` that exist; returns what existed (and was removed unless `dry_run`).
async fn remove(
    repo: &Path,
    branches: &[String],
    dirs: &[String],
    dry_run: bool,
) -> (Vec<String>, Vec<String>) {
    let git = l9_agents::git::Repo::new(repo, Arc::new(SystemRunner));
    let common =
        match git.git(repo, &["rev-parse", "--path-format=absolute", "--git-common-dir"]).await {
            Ok(o) if o.success() => PathBuf::from(o.stdout.trim()),
            _ => return (Vec::new(), Vec::new()),
        };
    let mut worktrees = Vec::new();
    for d in dirs {
        let path = common.join("l9-worktrees").join(d);
        if !path.exists() {
            continue;
        }
        if !dry_run {
            let p = path.display().to_string();
            let _ = git.git(repo, &["worktree", "remove", "--force", &p]).await;
            if path.exists() {
                let _ = std::fs::remove_dir_all(&path);
            }
            for suffix in [".gate.log", ".provenance"] {
                let mut side = path.as_os_str().to_owned();
                side.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(side));
            }
        }
        worktrees.push(path.display().to_string());
    }
    if !dry_run {
        let _ = git.git(repo, &["worktree", "prune"]).await;
    }
    let mut removed = Vec::new();
    for b in branches {
        let exists = git
            .git(repo, &["rev-parse", "--verify", "-q", &format!("refs/heads/{b}")])
            .await
            .is_ok_and(|o| o.success());
        if !exists {
            continue;
        }
        if !dry_run {
            let _ = git.git(repo, &["branch", "-D", b]).await;
        }
        removed.push(b.clone());
    }
    (removed, worktrees)
}
