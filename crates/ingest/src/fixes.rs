//! Which commits fix something, and which revert another, judged from the message alone by
//! the conventions projects write them in:
//!
//! * a revert: `git revert`'s own text (`This reverts commit <hash>.`) or a subject starting
//!   `Revert "`;
//! * a fix: a Conventional Commits `fix:`/`fix(scope):` subject, a subject with the words fix,
//!   fixes, fixed, bug, bugfix, hotfix, regression, crash, panic, segfault, defect, deadlock,
//!   a memory (resource, fd, handle, connection) leak, NPE or race condition — words that name a
//!   defect whatever the project's habits; "leak" alone does not ("Leak the buffer on purpose"
//!   is a design choice) —, or a
//!   body that closes an issue with `Fixes #N` / `Fixed #N` / `Closes #N` / `Resolves
//!   PROJ-123` (a tracker key, as Jira writes them), a Linux-style `Fixes: <hash> ("…")`
//!   trailer or OpenStack's `Closes-Bug:` / `Partial-Bug:`;
//! * but not a fix when the subject says what was fixed is text or tooling — a typo, docs,
//!   comments, spelling, formatting, lints and warnings, CI, the changelog — the usual false
//!   positives of keyword SZZ (no behaviour was wrong, so nothing "introduced" it).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What a commit's message says it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kind {
    pub fix: bool,
    /// The commit a revert undoes (as written: a full or abbreviated hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts: Option<String>,
}

static REVERTS: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)this reverts commit ([0-9a-f]{7,40})"));
static CONVENTIONAL_FIX: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)^(fix|bugfix|hotfix)(\([^)]*\))?!?:"));
static FIX_WORD: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(fix|fixes|fixed|fixing|bug|bugs|bugfix|hotfix|regression|crash|crashes|panic|panics|segfault|defects?|deadlocks?|(memory|resource|fd|handle|connection) leaks?|npe|nullpointerexception|race conditions?|data races?|off-by-one)\b",
    )
});
static CLOSES_ISSUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?im)^\s*(fix|fixes|fixed|close|closes|closed|resolve|resolves|resolved):?\s+(#\d+|[\w.-]+/[\w.-]+#\d+|https?://\S+/issues/\d+|(?-i:[A-Z][A-Z0-9]+-\d+\b))",
    )
});
/// Trailers that say a commit fixes something: the Linux kernel's `Fixes: <hash> ("subject")`
/// (the commit that introduced it, named by its author), OpenStack's `Closes-Bug: #N` and
/// `Partial-Bug: #N`.
static FIX_TRAILER: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^\s*(Fixes:\s+[0-9a-f]{8,40}\b|(Closes|Partial)-Bug:\s*#?\d+)"));
static NOT_BEHAVIOUR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(typos?|docs?|documentation|doc ?comments?|comments?|spelling|grammar|wording|readme|changelog|fmt|rustfmt|formatting|format|whitespace|lints?|clippy|warnings?|ci|travis|appveyor|github actions|badge|links?)\b",
    )
});

/// A fixed pattern (the unit test compiles every one).
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("pattern {pattern}: {e}"))
}

/// Classifies a commit message.
pub fn classify(message: &str) -> Kind {
    let subject = message.lines().next().unwrap_or("").trim();
    let reverts =
        REVERTS.captures(message).and_then(|c| c.get(1)).map(|m| m.as_str().to_lowercase());
    let reverts = reverts.or_else(|| {
        // A hand-written `Revert "…"` without git's line names no commit; it is still a revert.
        subject.starts_with("Revert \"").then(String::new)
    });
    let said_fix = CONVENTIONAL_FIX.is_match(subject)
        || FIX_WORD.is_match(subject)
        || CLOSES_ISSUE.is_match(message)
        || FIX_TRAILER.is_match(message);
    let fix = said_fix && !NOT_BEHAVIOUR.is_match(subject);
    Kind { fix, reverts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_reverts_and_what_is_not_a_fix() {
        let k = |m: &str| classify(m);
        assert!(k("fix(printer): wrong column with -b").fix);
        assert!(k("Fix crash when the path is empty").fix);
        assert!(k("searcher: handle CRLF\n\nFixes #1234").fix);
        assert!(k("regression: --files lists hidden files").fix);
        assert!(!k("Fix typo in README").fix, "text, not behaviour");
        assert!(!k("fix clippy warnings").fix);
        assert!(!k("Add prefix option").fix, "fix inside a word");
        assert!(!k("Release 1.2.3").fix);
        // Defects by other names, and the trailers and tracker keys other projects use.
        assert!(k("Avoid a deadlock when the pool drains").fix);
        assert!(k("NPE in ConfigLoader when the file is empty").fix);
        assert!(k("Plug a memory leak in the parser").fix);
        assert!(!k("Leak all memory allocated during macro expansion").fix, "on purpose");
        assert!(k("Guard the cache against a race condition").fix);
        assert!(
            k("net: sched: check the queue length\n\nFixes: 1234567890ab (\"net: add q\")").fix
        );
        assert!(k("Handle empty input\n\nCloses-Bug: #1876543").fix);
        assert!(k("Make retries configurable\n\nResolves HADOOP-1234").fix);
        assert!(!k("Make retries configurable\n\nRelated-Bug: #1876543").fix);
        assert!(!k("Resolves utf-8 handling in the reader").fix, "utf-8 is no tracker key");
        assert!(!k("HADOOP-1234. Make retries configurable").fix, "a key alone says no fix");
        assert!(!k("Add a leak detector to the docs").fix, "docs");
        let r = k(
            "Revert \"add a thing\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.",
        );
        assert_eq!(r.reverts.as_deref(), Some("0123456789abcdef0123456789abcdef01234567"));
        assert_eq!(k("Revert \"x\"").reverts.as_deref(), Some(""));
        assert_eq!(k("add x").reverts, None);
    }
}
