//! Who changed which file of a task's worktree: the agent (its writes, its shell commands,
//! an external agent's run) or a gate run (test caches, coverage files, build output). A
//! commit takes only what the agent wrote; a file that changed only while a gate ran is a
//! byproduct and is never committed.
//!
//! What was seen is kept beside the worktree in the repository's git directory
//! (`<worktree>.provenance`, never committed): a crash loses nothing of it, and a worktree
//! made again starts from an empty record.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::process::{CommandSpec, Runner};

/// Who changed a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Agent,
    Gate,
}

impl Source {
    fn tag(self) -> &'static str {
        match self {
            Source::Agent => "agent",
            Source::Gate => "gate",
        }
    }
}

/// The record of a worktree.
pub fn record_file(worktree: &Path) -> PathBuf {
    let mut p = worktree.as_os_str().to_owned();
    p.push(".provenance");
    PathBuf::from(p)
}

/// Starts the record of a new worktree afresh.
pub fn reset(worktree: &Path) {
    let _ = std::fs::remove_file(record_file(worktree));
}

/// Notes that `source` changed `paths` (relative to the worktree).
pub fn note(worktree: &Path, source: Source, paths: &[String]) {
    if paths.is_empty() {
        return;
    }
    let Ok(mut f) =
        std::fs::OpenOptions::new().create(true).append(true).open(record_file(worktree))
    else {
        return;
    };
    for p in paths {
        let _ = writeln!(f, "{}\t{p}", source.tag());
    }
}

/// Files only gate runs changed: never committed.
pub fn byproducts(worktree: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(record_file(worktree)).unwrap_or_default();
    let (mut gate, mut agent) = (BTreeSet::new(), BTreeSet::new());
    for line in text.lines() {
        match line.split_once('\t') {
            Some(("gate", p)) => gate.insert(p.to_string()),
            Some(("agent", p)) => agent.insert(p.to_string()),
            _ => false,
        };
    }
    gate.difference(&agent).cloned().collect()
}

/// The worktree's content as a git tree (tracked and untracked files git does not ignore);
/// `None` outside a git worktree.
pub async fn tree(runner: &dyn Runner, worktree: &Path) -> Option<String> {
    let add = runner.run(&CommandSpec::new("git", &["add", "-A"], worktree)).await.ok()?;
    if !add.success() {
        return None;
    }
    let t = runner.run(&CommandSpec::new("git", &["write-tree"], worktree)).await.ok()?;
    t.success().then(|| t.stdout.trim().to_string())
}

/// The files that differ between two trees.
pub async fn changed(
    runner: &dyn Runner,
    worktree: &Path,
    before: &str,
    after: &str,
) -> Vec<String> {
    if before == after {
        return Vec::new();
    }
    let spec = CommandSpec::new(
        "git",
        &["diff-tree", "-r", "--name-only", "--no-renames", before, after],
        worktree,
    );
    match runner.run(&spec).await {
        Ok(o) if o.success() => o.stdout.lines().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Notes what changed in the worktree between `before` (a [`tree`]) and now.
pub async fn note_since(
    runner: &dyn Runner,
    worktree: &Path,
    source: Source,
    before: Option<&str>,
) {
    let Some(before) = before else { return };
    if let Some(after) = tree(runner, worktree).await {
        note(worktree, source, &changed(runner, worktree, before, &after).await);
    }
}
