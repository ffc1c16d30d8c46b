//! Integration tests of l9-ingest: synthetic repositories built with `git` whose answers are
//! known by construction.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod code;
mod conflict;
mod dora;
mod ingest;

use std::path::PathBuf;
use std::process::Command;

/// A repository built commit by commit with fixed author and committer dates.
#[derive(Debug)]
pub struct Repo {
    pub dir: tempfile::TempDir,
    /// Seconds since the epoch of the next commit.
    pub clock: i64,
}

impl Repo {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Repo {
        let dir = l9_test_support::temp_dir();
        let r = Repo { dir, clock: 1_700_000_000 };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let date = format!("@{} +0000", self.clock);
        let out = Command::new("git")
            .args(args)
            .current_dir(self.dir.path())
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn write(&self, file: &str, text: &str) {
        let p = self.dir.path().join(file);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(p, text).unwrap();
    }

    /// Commits everything `hours` after the previous commit; returns the hash.
    pub fn commit(&mut self, hours: i64, message: &str) -> String {
        self.clock += hours * 3600;
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// An annotated tag made `hours` after the previous commit.
    pub fn tag(&mut self, hours: i64, name: &str) {
        self.clock += hours * 3600;
        self.git(&["tag", "-a", name, "-m", name]);
    }
}

pub fn lines(n: usize, tag: &str) -> String {
    (1..=n).map(|i| format!("{tag} line {i}\n")).collect()
}
