//! The repo reader/writer: one git worktree per task on its own branch, commits carrying the
//! task id and packet id as trailers, and merging the branch back (fast-forward, or a merge
//! commit; a conflict aborts the merge and lists the files).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{AgentError, Result};
use crate::process::{CommandSpec, Output, Runner};

#[derive(Debug, Clone)]
pub struct Repo {
    pub root: PathBuf,
    runner: Arc<dyn Runner>,
    /// How many times a merge polls a foreign `index.lock` before giving up.
    lock_polls: u32,
}

/// The pause between polls of a foreign `index.lock` (150 polls: 30 s).
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// A task's worktree.
#[derive(Debug, Clone)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
    pub base: String,
}

/// How a branch came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    FastForward { commit: String },
    MergeCommit { commit: String },
    NothingToMerge,
}

impl Repo {
    pub fn new(root: &Path, runner: Arc<dyn Runner>) -> Self {
        Repo { root: root.to_path_buf(), runner, lock_polls: 150 }
    }

    /// The same repository with another patience for a foreign `index.lock` (tests).
    pub fn with_lock_polls(mut self, polls: u32) -> Self {
        self.lock_polls = polls;
        self
    }

    pub async fn git(&self, cwd: &Path, args: &[&str]) -> Result<Output> {
        let mut spec = CommandSpec::new("git", args, cwd);
        for (k, v) in [
            ("GIT_AUTHOR_NAME", "L9"),
            ("GIT_AUTHOR_EMAIL", "l9@localhost"),
            ("GIT_COMMITTER_NAME", "L9"),
            ("GIT_COMMITTER_EMAIL", "l9@localhost"),
        ] {
            spec.env.insert(k.into(), v.into());
        }
        self.runner.run(&spec).await
    }

    async fn ok(&self, cwd: &Path, args: &[&str]) -> Result<String> {
        let out = self.git(cwd, args).await?;
        if !out.success() {
            return Err(AgentError::Git {
                command: args.join(" "),
                message: out.combined().trim().to_string(),
            });
        }
        Ok(out.stdout.trim().to_string())
    }

    pub async fn head(&self) -> Result<String> {
        self.ok(&self.root, &["rev-parse", "HEAD"]).await
    }

    pub async fn current_branch(&self) -> Result<String> {
        self.ok(&self.root, &["rev-parse", "--abbrev-ref", "HEAD"]).await
    }

    /// A new worktree under `<git dir>/l9-worktrees/<name>` (never tracked, never in the way
    /// of the main checkout) on branch `l9/<name>` from HEAD.
    pub async fn worktree(&self, name: &str) -> Result<Worktree> {
        if self.ok(&self.root, &["rev-parse", "--is-inside-work-tree"]).await.is_err() {
            return Err(AgentError::Git {
                command: "rev-parse".into(),
                message: format!(
                    "{} is not a git repository (run `git init` and commit once)",
                    self.root.display()
                ),
            });
        }
        let base = self.head().await?;
        let branch = format!("l9/{name}");
        let common = self
            .ok(&self.root, &["rev-parse", "--path-format=absolute", "--git-common-dir"])
            .await?;
        let path = PathBuf::from(common).join("l9-worktrees").join(name);
        let p = path.display().to_string();
        // Called again only when an earlier call did not finish (a journaled step re-run
        // after a crash): nothing has been done in what it left behind — a half-made
        // directory, a registered worktree, a branch — so it is made again from scratch.
        if path.exists() {
            let _ = self.git(&self.root, &["worktree", "remove", "--force", &p]).await;
            if path.exists() {
                std::fs::remove_dir_all(&path).map_err(|e| AgentError::Git {
                    command: "worktree add".into(),
                    message: format!("cannot clear the unfinished worktree {p}: {e}"),
                })?;
            }
        }
        let _ = self.git(&self.root, &["worktree", "prune"]).await;
        // -B: a branch left by the unfinished call is reset to the base.
        self.ok(&self.root, &["worktree", "add", "-B", &branch, &p, &base]).await?;
        Ok(Worktree { path, branch, base })
    }

    /// Removes the worktree's `index.lock` if one was left behind: the worktree belongs to
    /// one task, whose lease says no one else works in it, so a lock there is a crashed
    /// git's (the next `git add` would otherwise fail for good).
    async fn clear_stale_lock(&self, wt: &Worktree) {
        if let Ok(dir) = self.ok(&wt.path, &["rev-parse", "--absolute-git-dir"]).await {
            let lock = PathBuf::from(dir).join("index.lock");
            if lock.exists() {
                let _ = std::fs::remove_file(lock);
            }
        }
    }

    /// Commits everything in the worktree with L9 trailers; `None` when nothing changed.
    pub async fn commit(
        &self,
        wt: &Worktree,
        message: &str,
        task: &str,
        packet: &str,
    ) -> Result<Option<String>> {
        self.clear_stale_lock(wt).await;
        self.ok(&wt.path, &["add", "-A"]).await?;
        if self.ok(&wt.path, &["status", "--porcelain"]).await?.is_empty() {
            return Ok(None);
        }
        let t = format!("L9-Task: {task}");
        let p = format!("L9-Packet: {packet}");
        self.ok(&wt.path, &["commit", "-q", "-m", message, "--trailer", &t, "--trailer", &p])
            .await?;
        Ok(Some(self.ok(&wt.path, &["rev-parse", "HEAD"]).await?))
    }

    /// Saves the worktree as it is (tracked and untracked files git does not ignore) as a
    /// tree object, without committing; returns the tree's hash.
    pub async fn snapshot(&self, wt: &Worktree) -> Result<String> {
        self.clear_stale_lock(wt).await;
        self.ok(&wt.path, &["add", "-A"]).await?;
        self.ok(&wt.path, &["write-tree"]).await
    }

    /// Puts the worktree back to a [`Repo::snapshot`]: files are restored, files added since
    /// are removed (ignored files stay).
    pub async fn restore(&self, wt: &Worktree, tree: &str) -> Result<()> {
        self.clear_stale_lock(wt).await;
        self.ok(&wt.path, &["read-tree", "-u", "--reset", tree]).await?;
        self.ok(&wt.path, &["clean", "-fdq"]).await?;
        Ok(())
    }

    /// The worktree's changes against its base, as a unified diff (for reviewers).
    pub async fn diff(&self, wt: &Worktree) -> Result<String> {
        self.clear_stale_lock(wt).await;
        self.ok(&wt.path, &["add", "-A"]).await?;
        let out = self.git(&wt.path, &["diff", "--cached", &wt.base]).await?;
        Ok(out.stdout)
    }

    /// Merges the task branch into the repo's current branch.
    pub async fn merge(&self, wt: &Worktree) -> Result<Merged> {
        // A lock on the main checkout's index belongs to a git command running there (maybe
        // the user's) or to one that crashed: either way not ours to remove. Wait for it a
        // while (`lock_wait` polls), then say so plainly instead of reporting a conflict.
        if let Ok(dir) = self.ok(&self.root, &["rev-parse", "--absolute-git-dir"]).await {
            let lock = PathBuf::from(dir).join("index.lock");
            let mut polls = self.lock_polls;
            while lock.exists() && polls > 0 {
                tokio::time::sleep(LOCK_POLL).await;
                polls -= 1;
            }
            if lock.exists() {
                return Err(AgentError::Git {
                    command: "merge".into(),
                    message: format!(
                        "{} stayed in place: another git command is working in {} (or one crashed); when none is running, remove the file — the work is on branch {}",
                        lock.display(),
                        self.root.display(),
                        wt.branch
                    ),
                });
            }
        }
        let ahead =
            self.ok(&self.root, &["rev-list", "--count", &format!("HEAD..{}", wt.branch)]).await?;
        if ahead == "0" {
            return Ok(Merged::NothingToMerge);
        }
        if self.git(&self.root, &["merge", "--ff-only", "-q", &wt.branch]).await?.success() {
            return Ok(Merged::FastForward { commit: self.head().await? });
        }
        let msg = format!("Merge {} (L9)", wt.branch);
        let out = self.git(&self.root, &["merge", "--no-ff", "-q", "-m", &msg, &wt.branch]).await?;
        if out.success() {
            return Ok(Merged::MergeCommit { commit: self.head().await? });
        }
        let files = self
            .ok(&self.root, &["diff", "--name-only", "--diff-filter=U"])
            .await
            .unwrap_or_default();
        let _ = self.git(&self.root, &["merge", "--abort"]).await;
        Err(AgentError::Conflict {
            branch: wt.branch.clone(),
            files: files.lines().map(str::to_string).collect(),
        })
    }

    /// Removes the worktree (the branch stays for inspection).
    pub async fn remove(&self, wt: &Worktree) -> Result<()> {
        let p = wt.path.display().to_string();
        self.ok(&self.root, &["worktree", "remove", "--force", &p]).await.map(|_| ())
    }
}
