//! The repo reader/writer: one git worktree per task on its own branch, commits carrying the
//! task id and packet id as trailers, and merging the branch back (fast-forward, or a merge
//! commit; a conflict aborts the merge and lists the files).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{AgentError, Result};
use crate::lockfile::FileLock;
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

    /// The process runner git runs through.
    pub fn runner(&self) -> &dyn Runner {
        self.runner.as_ref()
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
        self.worktree_from(name, None).await
    }

    /// [`Repo::worktree`] starting from `from` (a branch or commit) instead of HEAD: a task
    /// of a run starts from the run's integration branch.
    pub async fn worktree_from(&self, name: &str, from: Option<&str>) -> Result<Worktree> {
        self.check_repo().await?;
        let base = match from {
            Some(f) => self.ok(&self.root, &["rev-parse", "--verify", f]).await?,
            None => self.head().await?,
        };
        let branch = format!("l9/{name}");
        let path = self.fresh_worktree_dir(name).await?;
        let p = path.display().to_string();
        let _guard = self.lock().await?;
        // -B: a branch left by the unfinished call is reset to the base.
        self.ok(&self.root, &["worktree", "add", "-B", &branch, &p, &base]).await?;
        crate::provenance::reset(&path);
        Ok(Worktree { path, branch, base })
    }

    /// The worktree of an integration branch `l9/<name>`: made on the branch when it exists
    /// already (a retried run goes on with its run's branch), else on a new branch from HEAD.
    pub async fn integration_worktree(&self, name: &str) -> Result<Worktree> {
        self.check_repo().await?;
        let branch = format!("l9/{name}");
        let path = self.fresh_worktree_dir(name).await?;
        let p = path.display().to_string();
        let _guard = self.lock().await?;
        let exists = self
            .git(&self.root, &["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")])
            .await?
            .success();
        let base = self.head().await?;
        if exists {
            self.ok(&self.root, &["worktree", "add", &p, &branch]).await?;
        } else {
            self.ok(&self.root, &["worktree", "add", "-b", &branch, &p, &base]).await?;
        }
        crate::provenance::reset(&path);
        Ok(Worktree { path, branch, base })
    }

    /// A clean checkout of `commit` (detached, nothing else in it) under
    /// `<git dir>/l9-worktrees/<name>`: where a run's result is verified.
    pub async fn clean_checkout(&self, name: &str, commit: &str) -> Result<PathBuf> {
        self.check_repo().await?;
        let path = self.fresh_worktree_dir(name).await?;
        let p = path.display().to_string();
        let _guard = self.lock().await?;
        self.ok(&self.root, &["worktree", "add", "--detach", &p, commit]).await?;
        Ok(path)
    }

    /// That the root is a git repository's top directory. A directory inside one is refused:
    /// git commits and merges the whole repository, so work asked for in `sub/` would be
    /// committed at the top while L9 reported `sub/`.
    pub async fn check_repo(&self) -> Result<()> {
        let top = match self.ok(&self.root, &["rev-parse", "--show-toplevel"]).await {
            Ok(top) => top,
            Err(_) => {
                return Err(AgentError::Git {
                    command: "rev-parse".into(),
                    message: format!(
                        "{} is not a git repository (run `git init` and commit once)",
                        self.root.display()
                    ),
                });
            }
        };
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        if !same(Path::new(&top), &self.root) {
            return Err(AgentError::Git {
                command: "rev-parse".into(),
                message: format!(
                    "{} is inside the git repository at {top}, not its top: git commits and merges a whole repository; give the repository's top directory ({top})",
                    self.root.display()
                ),
            });
        }
        Ok(())
    }

    /// The repository's lock for worktree changes and merges into L9's branches: `git
    /// worktree add` and `prune` running side by side break each other (`fatal: failed to
    /// read …/commondir`), and two merges into one integration branch must not interleave.
    async fn lock(&self) -> Result<FileLock> {
        let common = self
            .ok(&self.root, &["rev-parse", "--path-format=absolute", "--git-common-dir"])
            .await?;
        worktree_lock(Path::new(&common)).await
    }

    /// Where the worktree `name` goes, cleared of anything an unfinished earlier call left.
    async fn fresh_worktree_dir(&self, name: &str) -> Result<PathBuf> {
        let common = self
            .ok(&self.root, &["rev-parse", "--path-format=absolute", "--git-common-dir"])
            .await?;
        let path = PathBuf::from(&common).join("l9-worktrees").join(name);
        let p = path.display().to_string();
        let _guard = worktree_lock(Path::new(&common)).await?;
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
        Ok(path)
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

    /// Stages the worktree's changes except the byproducts of gate runs (files only a gate
    /// changed, see [`crate::provenance`]), which stay as they were.
    async fn stage(&self, wt: &Worktree) -> Result<()> {
        self.clear_stale_lock(wt).await;
        self.ok(&wt.path, &["add", "-A"]).await?;
        let byproducts = crate::provenance::byproducts(&wt.path);
        for chunk in byproducts.chunks(200) {
            let mut args = vec!["reset", "-q", "--"];
            args.extend(chunk.iter().map(String::as_str));
            self.ok(&wt.path, &args).await?;
        }
        Ok(())
    }

    /// Commits what the agent changed in the worktree (never the byproducts of gate runs)
    /// with L9 trailers; `None` when nothing changed.
    pub async fn commit(
        &self,
        wt: &Worktree,
        message: &str,
        task: &str,
        packet: &str,
    ) -> Result<Option<String>> {
        self.stage(wt).await?;
        if self.git(&wt.path, &["diff", "--cached", "--quiet"]).await?.success() {
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
        self.stage(wt).await?;
        let out = self.git(&wt.path, &["diff", "--cached", &wt.base]).await?;
        Ok(out.stdout)
    }

    /// Merges the task branch into the repo's current branch (the user's checkout).
    pub async fn merge(&self, wt: &Worktree) -> Result<Merged> {
        self.merge_in(&self.root, &wt.branch).await
    }

    /// Merges `branch` into the branch checked out in `target` (a run's integration
    /// worktree), one merge at a time per repository.
    pub async fn merge_into(&self, target: &Worktree, branch: &str) -> Result<Merged> {
        let _guard = self.lock().await?;
        self.merge_in(&target.path, branch).await
    }

    /// Starts merging `branch` into `target` and leaves a conflict in place for someone to
    /// resolve (the merge is completed by the next commit there): the conflicting files, or
    /// `None` when it merged cleanly (and was committed).
    pub async fn merge_leaving_conflicts(
        &self,
        target: &Worktree,
        branch: &str,
    ) -> Result<Option<Vec<String>>> {
        let _guard = self.lock().await?;
        let dir = &target.path;
        let msg = format!("Merge {branch} (L9)");
        let out = self.git(dir, &["merge", "--no-ff", "-q", "-m", &msg, branch]).await?;
        if out.success() {
            return Ok(None);
        }
        let files = self.ok(dir, &["diff", "--name-only", "--diff-filter=U"]).await?;
        if files.is_empty() {
            return Err(AgentError::Git { command: "merge".into(), message: out.combined() });
        }
        Ok(Some(files.lines().map(str::to_string).collect()))
    }

    async fn merge_in(&self, dir: &Path, branch: &str) -> Result<Merged> {
        // A lock on the main checkout's index belongs to a git command running there (maybe
        // the user's) or to one that crashed: either way not ours to remove. Wait for it a
        // while (`lock_wait` polls), then say so plainly instead of reporting a conflict.
        if let Ok(git_dir) = self.ok(dir, &["rev-parse", "--absolute-git-dir"]).await {
            let lock = PathBuf::from(git_dir).join("index.lock");
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
                        dir.display(),
                        branch
                    ),
                });
            }
        }
        let ahead = self.ok(dir, &["rev-list", "--count", &format!("HEAD..{branch}")]).await?;
        if ahead == "0" {
            return Ok(Merged::NothingToMerge);
        }
        if self.git(dir, &["merge", "--ff-only", "-q", branch]).await?.success() {
            return Ok(Merged::FastForward { commit: self.ok(dir, &["rev-parse", "HEAD"]).await? });
        }
        let msg = format!("Merge {branch} (L9)");
        let out = self.git(dir, &["merge", "--no-ff", "-q", "-m", &msg, branch]).await?;
        if out.success() {
            return Ok(Merged::MergeCommit { commit: self.ok(dir, &["rev-parse", "HEAD"]).await? });
        }
        let files =
            self.ok(dir, &["diff", "--name-only", "--diff-filter=U"]).await.unwrap_or_default();
        if files.is_empty() {
            // Refused before it began (local changes in the way, or a merge of the user's own
            // in progress): there is nothing of ours to abort, and aborting would throw away
            // the user's merge.
            return Err(AgentError::MergeRefused {
                branch: branch.to_string(),
                dir: dir.display().to_string(),
                reason: refusal(&out.combined()),
            });
        }
        let _ = self.git(dir, &["merge", "--abort"]).await;
        Err(AgentError::Conflict {
            branch: branch.to_string(),
            files: files.lines().map(str::to_string).collect(),
        })
    }

    /// Removes the worktree (the branch stays for inspection).
    pub async fn remove(&self, wt: &Worktree) -> Result<()> {
        let p = wt.path.display().to_string();
        self.ok(&self.root, &["worktree", "remove", "--force", &p]).await.map(|_| ())
    }
}

/// Git's reason for refusing a merge, on one line: its first message and the files it lists
/// (git indents them with a tab).
fn refusal(output: &str) -> String {
    let first = output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("hint:"))
        .unwrap_or("no reason given");
    let first = first.trim_start_matches("error: ").trim_start_matches("fatal: ");
    let files: Vec<&str> =
        output.lines().filter(|l| l.starts_with('\t')).map(str::trim).take(20).collect();
    match files.is_empty() {
        true => first.trim_end_matches(['.', ':']).to_string(),
        false => format!("{} {}", first.trim_end_matches(':'), files.join(", ")),
    }
}

/// Serialises worktree creation in one repository: an advisory lock on a file in the git
/// directory, shared by the tasks of one worker and by workers in other processes; released
/// by the kernel when its holder dies.
async fn worktree_lock(common: &Path) -> Result<FileLock> {
    let file = common.join("l9-worktree.lock");
    FileLock::take(&file).await.map_err(|e| AgentError::Git {
        command: "worktree add".into(),
        message: format!("cannot take the lock {}: {e}", file.display()),
    })
}
