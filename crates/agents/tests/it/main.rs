//! The agent crate at its boundary, on real git repositories in temporary directories and
//! real processes; models are scripted. No network.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test

mod cell;
mod death;
mod external;
mod repo;
mod sandbox;
mod tools;

use std::path::Path;
use std::sync::Arc;

use l9_agents::git::Repo;
use l9_agents::process::{CommandSpec, Runner, SystemRunner};

pub(crate) fn runner() -> Arc<dyn Runner> {
    Arc::new(SystemRunner)
}

/// A git repository with one commit holding `files`.
pub(crate) async fn repo_with(dir: &Path, files: &[(&str, &str)]) -> Repo {
    let r = runner();
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"],
    ] {
        let o = r.run(&CommandSpec::new("git", args, dir)).await.unwrap();
        assert!(o.success(), "git {args:?}: {}", o.combined());
    }
    Repo::new(dir, r)
}
