use std::sync::Arc;

use l9_ingest::git::{self, ReadOptions};
use l9_ingest::{IngestOptions, Since, ingest_git};
use l9_memory::{HashEmbedder, MemoryService};
use l9_store::{Direction, EntityQuery, PacketFilter, RelationQuery};
use l9_store_sqlite::{SqliteOptions, SqliteStore};
use l9_types::{ManualClock, SeededRng};

use crate::{Repo, lines};

pub(crate) async fn memory(dir: &std::path::Path) -> MemoryService {
    let store = SqliteStore::open(&dir.join("l9.db"), SqliteOptions::default()).await.unwrap();
    MemoryService::open(
        Arc::new(store),
        Arc::new(HashEmbedder::default()),
        Arc::new(ManualClock::at_epoch_2026()),
        Arc::new(SeededRng::from_seed(1)),
    )
    .await
    .unwrap()
}

fn quiet(_: &str, _: usize, _: usize) {}

async fn commits_stored(m: &MemoryService) -> u64 {
    let f = PacketFilter { kinds: vec!["git.commit".into()], ..Default::default() };
    m.store().count_packets(&f).await.unwrap()
}

#[test]
fn history_has_files_lines_renames_and_merges_in_parent_order() {
    let mut r = Repo::new();
    r.write("src/a.rs", &lines(3, "a"));
    r.write("src/b.rs", &lines(10, "b"));
    let c1 = r.commit(1, "start");
    r.write("src/a.rs", "a line 1\nA LINE 2\na line 3\nnew\n");
    let c2 = r.commit(1, "change a");
    std::fs::create_dir_all(r.path().join("lib")).unwrap();
    r.git(&["mv", "src/b.rs", "lib/b.rs"]);
    let c3 = r.commit(1, "move b");
    r.git(&["checkout", "-q", "-b", "side", &c2]);
    r.write("side.rs", "x\n");
    let s1 = r.commit(1, "side work");
    r.git(&["checkout", "-q", "main"]);
    r.clock += 3600;
    r.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);

    let h = git::read(&r.path(), &ReadOptions::default()).unwrap();
    let shas: Vec<&str> = h.commits.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(h.commits.len(), 5);
    let pos = |s: &str| shas.iter().position(|x| *x == s).unwrap();
    assert!(
        pos(&c1) < pos(&c2) && pos(&c2) < pos(&c3) && pos(&c2) < pos(&s1),
        "parents come first"
    );
    let merge = h.commits.last().unwrap();
    assert_eq!(merge.parents.len(), 2);
    assert!(merge.files.is_empty(), "a merge lists no files, as git log does");

    let first = &h.commits[pos(&c1)];
    assert_eq!(first.files.len(), 2);
    assert_eq!(
        (first.files[0].path.as_str(), first.files[0].status, first.files[0].added),
        ("src/a.rs", 'A', Some(3))
    );
    let second = &h.commits[pos(&c2)];
    let a = &second.files[0];
    assert_eq!(
        (a.status, a.added, a.removed),
        ('M', Some(2), Some(1)),
        "one line replaced, one added"
    );
    let moved = &h.commits[pos(&c3)].files[0];
    assert_eq!(
        (moved.path.as_str(), moved.from.as_deref(), moved.status),
        ("lib/b.rs", Some("src/b.rs"), 'R')
    );
    assert_eq!(second.authored_at.timestamp(), 1_700_000_000 + 2 * 3600);
    assert_eq!(first.author, "Ada");
    // git log --numstat says the same.
    let numstat = r.git(&["log", "--numstat", "--format=", &c2, "-1"]);
    assert_eq!(numstat.split_whitespace().take(2).collect::<Vec<_>>(), ["2", "1"]);
}

#[tokio::test]
async fn an_ingest_is_incremental_idempotent_and_resumes_what_a_kill_left() {
    let mut r = Repo::new();
    r.write("a.rs", &lines(5, "a"));
    r.write("b.rs", &lines(5, "b"));
    r.commit(1, "start");
    for i in 0..2 {
        r.write("a.rs", &lines(6 + i, "a"));
        r.write("b.rs", &lines(6 + i, "b"));
        r.commit(1, &format!("together {i}"));
    }
    r.write("c.rs", "c\n");
    r.commit(1, "alone");
    let dir = l9_test_support::temp_dir();
    let m = memory(dir.path()).await;
    let first = ingest_git(&m, &r.path(), &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!((first.read, first.stored, first.already_stored), (4, 4, 0));
    assert_eq!(commits_stored(&m).await, 4);
    assert_eq!(first.couplings.len(), 1, "a.rs and b.rs changed together three times");
    assert_eq!(first.couplings[0].together, 3);

    // Nothing new: nothing read, nothing written.
    let again = ingest_git(&m, &r.path(), &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!((again.read, again.stored), (0, 0));
    assert_eq!(again.state_packet, first.state_packet);
    assert_eq!(commits_stored(&m).await, 4);

    // One more co-change: only it is read; the relation's count moves from 3 to 4, the old
    // one ends when the new one starts (bitemporal: both stay).
    r.write("a.rs", &lines(9, "a"));
    r.write("b.rs", &lines(9, "b"));
    r.commit(1, "together again");
    let third = ingest_git(&m, &r.path(), &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!((third.read, third.stored, third.relations_closed), (1, 1, 1));
    assert_eq!(third.total_commits, 5);
    let a = m
        .store()
        .entities(&EntityQuery {
            kind: Some("file".into()),
            name: Some("a.rs".into()),
            as_of: None,
        })
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    let q = RelationQuery {
        entity: Some(a[0].id),
        kind: Some("co_changes".into()),
        ..Default::default()
    };
    let rels = m.store().relations(&q).await.unwrap();
    let mut counts: Vec<(u64, bool)> =
        rels.iter().map(|r| (r.attrs["count"].as_u64().unwrap(), r.valid_to.is_some())).collect();
    counts.sort();
    assert_eq!(counts, [(3, true), (4, false)]);

    // Lineage: a commit's packet has its parent's as parent.
    let head = third.head.clone().unwrap();
    let id = l9_types::PacketId(l9_ingest::derived_id("commit", &head));
    let up = m.lineage(id, Direction::Up, 10).await.unwrap();
    assert_eq!(up.len(), 4, "the four earlier commits are its ancestors");

    // A kill after the commits were written but before the state: the next ingest finds the
    // commits stored, writes none twice, and the state catches up.
    r.write("d.rs", "d\n");
    r.commit(1, "fourth file");
    let root = git::root_of(&git::open(&r.path()).unwrap()).display().to_string();
    let (state_id, _) = l9_ingest::latest_state(&m, &root).await.unwrap().unwrap();
    let before = commits_stored(&m).await;
    m.store().set_meta(&format!("ingest.git:{root}"), &state_id.to_string()).await.unwrap();
    let resumed = ingest_git(&m, &r.path(), &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!((resumed.read, resumed.stored), (1, 1));
    assert_eq!(commits_stored(&m).await, before + 1);
    m.store().set_meta(&format!("ingest.git:{root}"), &state_id.to_string()).await.unwrap();
    let replayed = ingest_git(&m, &r.path(), &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!((replayed.read, replayed.stored, replayed.already_stored), (1, 0, 1));
    assert_eq!(commits_stored(&m).await, before + 1, "nothing doubled");
    assert_eq!(replayed.total_commits, 6);
    assert_eq!(replayed.state_packet, resumed.state_packet, "the same state, the same packet");
}

#[tokio::test]
async fn since_a_revision_or_a_date_leaves_the_older_history_out() {
    let mut r = Repo::new();
    r.write("a.rs", "1\n");
    let c1 = r.commit(24, "one");
    r.write("a.rs", "2\n");
    r.commit(24, "two");
    r.write("a.rs", "3\n");
    r.commit(24, "three");
    let dir = l9_test_support::temp_dir();
    let m = memory(dir.path()).await;
    let o = IngestOptions { since: Some(Since::Rev(c1[..8].to_owned())), ..Default::default() };
    assert_eq!(ingest_git(&m, &r.path(), &o, &quiet).await.unwrap().read, 2);
    let dir = l9_test_support::temp_dir();
    let m = memory(dir.path()).await;
    let third_day = chrono::DateTime::from_timestamp(1_700_000_000 + 3 * 86_400, 0).unwrap();
    let o = IngestOptions { since: Some(Since::Date(third_day)), ..Default::default() };
    assert_eq!(ingest_git(&m, &r.path(), &o, &quiet).await.unwrap().read, 1);
    let bad = IngestOptions { since: Some(Since::Rev("no-such-rev".into())), ..Default::default() };
    let e = ingest_git(&m, &r.path(), &bad, &quiet).await.unwrap_err().to_string();
    assert!(e.contains("`no-such-rev` names no revision"), "{e}");
    let e = ingest_git(&m, &dir.path().join("nowhere"), &IngestOptions::default(), &quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such directory"), "{e}");
    let e = ingest_git(&m, dir.path(), &IngestOptions::default(), &quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a git repository"), "{e}");
}

#[test]
fn szz_blames_the_commit_that_introduced_the_fixed_line() {
    let mut r = Repo::new();
    r.write("src/parse.rs", &lines(6, "p"));
    r.commit(1, "parser");
    r.write("src/parse.rs", "p line 1\nBUG\np line 3\np line 4\np line 5\np line 6\n");
    let bad = r.commit(1, "faster parsing");
    r.write("src/parse.rs", "p line 1\nBUG\np line 3\np line 4\np line 5 tuned\np line 6\n");
    r.commit(1, "tune line five");
    r.write(
        "src/parse.rs",
        "p line 1\np line 2 fixed\np line 3\np line 4\np line 5 tuned\np line 6\n",
    );
    r.write("CHANGELOG.md", "fixed the parser\n");
    let fix = r.commit(1, "Fix crash on empty input");
    let h = git::read(&r.path(), &ReadOptions::default()).unwrap();
    let fix = h.commits.iter().find(|c| c.sha == fix).unwrap();
    let repo = git::open(&r.path()).unwrap();
    let found = l9_ingest::szz::introducers(&repo, fix);
    assert_eq!(found.too_large, 0);
    assert_eq!(found.introducers.into_iter().collect::<Vec<_>>(), vec![(bad, 1)]);
}

#[tokio::test]
async fn a_key_pasted_into_a_commit_message_is_not_stored() {
    let mut r = Repo::new();
    r.write("a.rs", "1\n");
    let sha =
        r.commit(1, "wire the client\n\nused OPENAI key sk-proj-abcdEFGH1234ijkl5678 to test");
    let dir = l9_test_support::temp_dir();
    let m = memory(dir.path()).await;
    ingest_git(&m, &r.path(), &IngestOptions::default(), &quiet).await.unwrap();
    let p =
        m.get(l9_types::PacketId(l9_ingest::derived_id("commit", &sha))).await.unwrap().unwrap();
    let stored = format!("{} {}", p.text.unwrap_or_default(), p.body);
    assert!(stored.contains("wire the client") && stored.contains("[redacted]"), "{stored}");
    assert!(!stored.contains("sk-proj-abcd"), "{stored}");
    // Sealed the same way again, it is the same packet: a second ingest of a fresh state
    // finds it stored.
    let root = git::root_of(&git::open(&r.path()).unwrap()).display().to_string();
    m.store().set_meta(&format!("ingest.git:{root}"), "none").await.unwrap();
    let again = ingest_git(&m, &r.path(), &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!((again.read, again.stored, again.already_stored), (1, 0, 1));
}

/// Hotspots weigh churn by recency: a file changed often years ago cools down next to one
/// changed less often lately (same size).
#[test]
fn hotspots_weigh_recent_changes_more() {
    use chrono::{Duration, TimeZone, Utc};
    use l9_ingest::git::{Commit, FileChange};
    let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let change = |path: &str, added: u32| FileChange {
        path: path.into(),
        from: None,
        status: 'M',
        added: Some(added),
        removed: Some(0),
    };
    let mut commits = Vec::new();
    let mut at = |days: i64, files: Vec<FileChange>| {
        let t = t0 + Duration::days(days);
        commits.push(Commit {
            sha: format!("{:040}", commits.len()),
            parents: Vec::new(),
            author: "a".into(),
            email: "a@x".into(),
            authored_at: t,
            committed_at: t,
            message: "change".into(),
            files,
            introduced: None,
            unblamed: 0,
        });
    };
    at(0, vec![change("old.rs", 100), change("new.rs", 100)]);
    for d in 1..10 {
        at(d, vec![change("old.rs", 0)]);
    }
    for d in 0..4 {
        at(3 * 365 + d, vec![change("new.rs", 0)]);
    }
    let mut s = l9_ingest::history::State::default();
    s.extend(&commits, &|_| (false, false));
    let h = s.hotspots(2);
    assert_eq!((h[0].path.as_str(), h[0].commits), ("new.rs", 5), "{h:?}");
    assert_eq!((h[1].path.as_str(), h[1].commits), ("old.rs", 10), "{h:?}");
    // Ten commits three years before the last one count about 10 / 8.
    assert!((h[1].score / 100.0 - 10.0 / 8.0).abs() < 0.1, "{h:?}");
}

/// What older and larger repositories hold: symbolic links and submodules (listed as `git log
/// --numstat` lists them), and messages and names in Latin-1, with or without an `encoding`
/// header.
#[test]
fn symlinks_submodules_and_latin_1_messages_are_read() {
    let mut r = Repo::new();
    r.write("main.rs", "fn main() {}\n");
    r.commit(1, "start");
    #[cfg(unix)]
    std::os::unix::fs::symlink("main.rs", r.path().join("link.rs")).unwrap();
    r.clock += 3600;
    r.git(&["add", "-A"]);
    // A submodule: a commit in the tree (its directory is not checked out).
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1234567890123456789012345678901234567890,vendor/sub",
    ]);
    r.git(&["commit", "-q", "-m", "link and submodule"]);
    // A message in Latin-1 with the header git writes for it, and one without a header.
    r.clock += 3600;
    let msg = r.path().join("msg");
    std::fs::write(&msg, b"caf\xe9 fix\n").unwrap();
    r.git(&["-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "--allow-empty", "-F", "msg"]);
    r.clock += 3600;
    std::fs::write(&msg, b"na\xefve \x93quote\x94\n").unwrap();
    r.git(&["commit", "-q", "--allow-empty", "-F", "msg"]);

    let h = git::read(&r.path(), &ReadOptions::default()).unwrap();
    let second = &h.commits[1];
    let files: Vec<(&str, char, Option<u32>)> =
        second.files.iter().map(|f| (f.path.as_str(), f.status, f.added)).collect();
    #[cfg(unix)]
    assert_eq!(files, [("link.rs", 'A', Some(1)), ("vendor/sub", 'A', None)]);
    assert_eq!(h.commits[2].message, "café fix\n");
    assert_eq!(h.commits[3].message, "naïve “quote”\n");
}

/// A shallow clone (what CI systems check out) is read: the commits it starts at have
/// parents it does not hold, and are read as first commits, as `git log` shows them.
#[test]
fn a_shallow_clone_is_read_from_where_it_starts() {
    let mut r = Repo::new();
    for i in 0..4 {
        r.write("a.rs", &lines(i + 1, "a"));
        r.write(&format!("f{i}.rs"), "x\n");
        r.commit(1, &format!("change {i}"));
    }
    let clone = l9_test_support::temp_dir();
    let url = format!("file://{}", r.path().display());
    let out = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "2", &url, "c"])
        .current_dir(clone.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let h = git::read(&clone.path().join("c"), &ReadOptions::default()).unwrap();
    assert_eq!((h.commits.len(), h.shallow), (2, 1));
    let first = &h.commits[0];
    assert!(first.parents.is_empty(), "{:?}", first.parents);
    let files: Vec<(&str, char)> =
        first.files.iter().map(|f| (f.path.as_str(), f.status)).collect();
    assert_eq!(files, [("a.rs", 'A'), ("f0.rs", 'A'), ("f1.rs", 'A'), ("f2.rs", 'A')]);
    assert_eq!(h.commits[1].parents, std::slice::from_ref(&first.sha));
    assert_eq!(git::read(&r.path(), &ReadOptions::default()).unwrap().shallow, 0);
}

/// A shallow clone ingested, then deepened (`git fetch --deepen`, `--unshallow`): the next
/// ingest reads the history past the old boundary and nothing it read before — not even a
/// commit the shallow clone held that is also an ancestor of what lay past the boundary.
#[tokio::test]
async fn a_deepened_clone_is_read_past_its_old_boundary_once() {
    let mut r = Repo::new();
    r.write("a.rs", "a\n");
    let root = r.commit(1, "A");
    for (i, c) in ["B", "C", "D", "E"].iter().enumerate() {
        r.write("a.rs", &lines(i + 2, "a"));
        r.commit(1, c);
    }
    // M has parents E and A: A is one step from M, and also the oldest ancestor of E.
    r.clock += 3600;
    let m = r.git(&["commit-tree", "HEAD^{tree}", "-p", "HEAD", "-p", &root, "-m", "M"]);
    r.git(&["reset", "-q", "--hard", &m]);
    let clone = l9_test_support::temp_dir();
    let url = format!("file://{}", r.path().display());
    let git = |args: &[&str], dir: &std::path::Path| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["clone", "-q", "--depth", "2", &url, "c"], clone.path());
    let c = clone.path().join("c");
    let dir = l9_test_support::temp_dir();
    let m = memory(dir.path()).await;
    let first = ingest_git(&m, &c, &IngestOptions::default(), &quiet).await.unwrap();
    // M, E and A, both of which git marks as the boundary (E's parent D is not in the clone).
    assert_eq!((first.read, first.shallow, first.total_commits), (3, 2, 3));
    let again = ingest_git(&m, &c, &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!(again.read, 0);
    git(&["fetch", "-q", "--deepen", "1"], &c);
    let deeper = ingest_git(&m, &c, &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!((deeper.read, deeper.total_commits), (1, 4), "D only");
    git(&["fetch", "-q", "--unshallow"], &c);
    let whole = ingest_git(&m, &c, &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!((whole.read, whole.shallow, whole.total_commits), (2, 0, 6), "C and B, not A again");
    assert_eq!(commits_stored(&m).await, 6);
    let last = ingest_git(&m, &c, &IngestOptions::default(), &quiet).await.unwrap();
    assert_eq!(last.read, 0);
}

/// A fix whose message names what introduced the bug (`Fixes: <hash> ("subject")`, as the
/// Linux kernel writes it) is linked to that commit, whatever blame says last touched the
/// lines it changed.
#[test]
fn a_fixes_trailer_names_the_introducer() {
    let mut r = Repo::new();
    r.write("src/parse.rs", &lines(6, "p"));
    r.commit(1, "parser");
    r.write("src/parse.rs", "p line 1\nBUG\np line 3\np line 4\np line 5\np line 6\n");
    let bad = r.commit(1, "faster parsing");
    r.write("src/parse.rs", "p line 1\nBUG tuned\np line 3\np line 4\np line 5\np line 6\n");
    let touched = r.commit(1, "tune line two");
    r.write("src/parse.rs", &lines(6, "p"));
    let message = format!("parse: restore line two\n\nFixes: {} (\"faster parsing\")", &bad[..12]);
    let fix = r.commit(1, &message);
    let h = git::read(&r.path(), &ReadOptions::default()).unwrap();
    let fix = h.commits.iter().find(|c| c.sha == fix).unwrap();
    assert!(l9_ingest::fixes::classify(&fix.message).fix, "the trailer says it is a fix");
    let repo = git::open(&r.path()).unwrap();
    let found = l9_ingest::szz::introducers(&repo, fix).introducers;
    assert_eq!(found.into_iter().collect::<Vec<_>>(), vec![(bad, 1)], "blame says {touched}");
}
