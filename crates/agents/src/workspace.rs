//! A task's workspace: every path a tool names is resolved inside the worktree root.
//! Absolute paths, `..` that leaves the root, and symlinks that point outside are refused
//! with the reason.

use std::path::{Component, Path, PathBuf};

use crate::error::{AgentError, Result};

#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    pub fn new(root: &Path) -> Result<Self> {
        let root = root.canonicalize().map_err(|e| AgentError::Path {
            path: root.display().to_string(),
            reason: format!("the workspace root is unusable: {e}"),
        })?;
        Ok(Workspace { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of `rel` inside the workspace (which need not exist yet).
    pub fn resolve(&self, rel: &str) -> Result<PathBuf> {
        let refuse =
            |reason: &str| AgentError::Path { path: rel.to_string(), reason: reason.to_string() };
        if rel.trim().is_empty() {
            return Err(refuse("empty path"));
        }
        let p = Path::new(rel);
        if p.is_absolute() {
            return Err(refuse(
                "absolute paths are not allowed; use a path relative to the workspace root",
            ));
        }
        let mut out = self.root.clone();
        let mut depth = 0usize;
        for c in p.components() {
            match c {
                Component::Normal(x) => {
                    out.push(x);
                    depth += 1;
                }
                Component::CurDir => {}
                Component::ParentDir => {
                    if depth == 0 {
                        return Err(refuse("`..` leaves the workspace"));
                    }
                    out.pop();
                    depth -= 1;
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(refuse("absolute paths are not allowed"));
                }
            }
        }
        if out
            .strip_prefix(&self.root)
            // Any case: `.GIT/x` is the same directory on a case-insensitive file system,
            // and a `.GIT` tree breaks the commit anyway.
            .is_ok_and(|rel| {
                rel.components()
                    .any(|c| c.as_os_str().to_str().is_some_and(|s| s.eq_ignore_ascii_case(".git")))
            })
        {
            return Err(refuse("the .git directory is not a workspace file"));
        }
        // The deepest existing ancestor, with symlinks resolved, must still be inside.
        let mut probe = out.as_path();
        loop {
            if probe.exists() || probe.symlink_metadata().is_ok() {
                let real = probe
                    .canonicalize()
                    .map_err(|_| refuse("a symlink on the way points nowhere"))?;
                if !real.starts_with(&self.root) {
                    return Err(refuse("a symlink on the way points outside the workspace"));
                }
                break;
            }
            match probe.parent() {
                Some(parent) => probe = parent,
                None => break,
            }
        }
        Ok(out)
    }

    /// The path relative to the root, with `/` separators (for messages and listings).
    pub fn relative(&self, abs: &Path) -> String {
        abs.strip_prefix(&self.root).unwrap_or(abs).to_string_lossy().replace('\\', "/")
    }
}
