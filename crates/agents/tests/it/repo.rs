use l9_agents::AgentError;
use l9_agents::git::Merged;

use crate::repo_with;

#[tokio::test]
async fn worktree_commit_with_trailers_and_fast_forward_merge() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "hello\n")]).await;
    let wt = repo.worktree("task-1").await.unwrap();
    assert_eq!(wt.branch, "l9/task-1");
    assert!(wt.path.join("README.md").is_file());
    assert!(!wt.path.starts_with(dir.path().join("README.md")));
    std::fs::write(wt.path.join("a.txt"), "a\n").unwrap();
    assert!(repo.diff(&wt).await.unwrap().contains("+a"));
    let commit = repo.commit(&wt, "Add a", "T-1", "P-1").await.unwrap().unwrap();
    assert_eq!(repo.commit(&wt, "nothing", "T-1", "P-1").await.unwrap(), None);
    let body = repo.git(&wt.path, &["log", "-1", "--format=%B"]).await.unwrap().stdout;
    assert!(body.contains("L9-Task: T-1") && body.contains("L9-Packet: P-1"), "{body}");
    assert_eq!(repo.merge(&wt).await.unwrap(), Merged::FastForward { commit: commit.clone() });
    assert!(dir.path().join("a.txt").is_file());
    assert_eq!(repo.merge(&wt).await.unwrap(), Merged::NothingToMerge);
    // The main checkout stays clean: worktrees live under .git.
    assert_eq!(repo.git(dir.path(), &["status", "--porcelain"]).await.unwrap().stdout, "");
    repo.remove(&wt).await.unwrap();
}

#[tokio::test]
async fn diverged_branches_merge_with_a_commit_and_conflicts_list_the_files() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("a.txt", "1\n"), ("b.txt", "1\n")]).await;
    let wt = repo.worktree("t2").await.unwrap();
    std::fs::write(wt.path.join("b.txt"), "task\n").unwrap();
    repo.commit(&wt, "task edits b", "T", "P").await.unwrap();
    std::fs::write(dir.path().join("a.txt"), "main\n").unwrap();
    repo.git(dir.path(), &["commit", "-qam", "main edits a"]).await.unwrap();
    assert!(matches!(repo.merge(&wt).await.unwrap(), Merged::MergeCommit { .. }));

    let wt3 = repo.worktree("t3").await.unwrap();
    std::fs::write(wt3.path.join("a.txt"), "task3\n").unwrap();
    repo.commit(&wt3, "task3 edits a", "T", "P").await.unwrap();
    std::fs::write(dir.path().join("a.txt"), "main again\n").unwrap();
    repo.git(dir.path(), &["commit", "-qam", "main edits a again"]).await.unwrap();
    let e = repo.merge(&wt3).await.unwrap_err();
    assert!(
        matches!(&e, AgentError::Conflict { files, .. } if files == &vec!["a.txt".to_string()]),
        "{e}"
    );
    assert_eq!(e.to_string(), "merging l9/t3 conflicts in: a.txt");
    assert_eq!(
        repo.git(dir.path(), &["status", "--porcelain"]).await.unwrap().stdout,
        "",
        "the merge was aborted"
    );

    let not_repo = l9_test_support::temp_dir();
    let r = l9_agents::git::Repo::new(not_repo.path(), crate::runner());
    assert!(r.worktree("x").await.unwrap_err().to_string().contains("is not a git repository"));
}

#[tokio::test]
async fn a_worktree_step_rerun_after_a_crash_starts_over_from_what_was_left() {
    let dir = l9_test_support::temp_dir();
    let repo = repo_with(dir.path(), &[("README.md", "hello\n")]).await;
    // A crash inside `git worktree add`: the branch exists, the directory is half made.
    repo.git(dir.path(), &["branch", "l9/t9"]).await.unwrap();
    let wt = repo.worktree("t9").await.unwrap();
    std::fs::remove_file(wt.path.join("README.md")).unwrap();
    std::fs::write(wt.path.join("junk.txt"), "half\n").unwrap();
    // The same step again: a whole worktree on the branch, reset to the base.
    let again = repo.worktree("t9").await.unwrap();
    assert_eq!((again.path.clone(), again.branch.clone()), (wt.path.clone(), wt.branch.clone()));
    assert!(again.path.join("README.md").is_file() && !again.path.join("junk.txt").exists());
    // A git that died while holding the worktree's index lock does not block the next add.
    let gitdir = repo.git(&again.path, &["rev-parse", "--absolute-git-dir"]).await.unwrap().stdout;
    std::fs::write(std::path::Path::new(gitdir.trim()).join("index.lock"), "").unwrap();
    std::fs::write(again.path.join("a.txt"), "a\n").unwrap();
    assert!(repo.commit(&again, "Add a", "T", "P").await.unwrap().is_some());
    // A lock on the main checkout is not ours: the merge says what to do instead.
    let lock = dir.path().join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let impatient = repo.clone().with_lock_polls(1);
    let e = impatient.merge(&again).await.unwrap_err().to_string();
    assert!(e.contains("index.lock stayed in place") && e.contains("branch l9/t9"), "{e}");
    std::fs::remove_file(&lock).unwrap();
    assert!(matches!(repo.merge(&again).await.unwrap(), Merged::FastForward { .. }));
}
