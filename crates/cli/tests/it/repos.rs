//! What L9 does to the repositories it works on when more than one thing happens at once or
//! the repository is not as expected: two runs of one spec, a directory inside a
//! repository, a checkout with changes in the way, a spec that yields no plan.

use super::*;

/// Two `l9 run`s of one spec at once, in one project: both make (or find) the fresh
/// repository, one may do the other's work, and each follows its own run to its end.
#[test]
fn two_runs_of_one_spec_at_once_both_finish() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path().to_path_buf();
    ok(&d, &["init"]);
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adder/spec.md");
    let spec = spec.to_str().unwrap().to_string();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (d, spec) = (d.clone(), spec.clone());
            std::thread::spawn(move || l9(&d, &["run", &spec, "--trials", "100"]))
        })
        .collect();
    for r in runs {
        let o = r.join().unwrap();
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
        assert!(out.contains("outcome:     succeeded"), "{out}\n{err}");
    }
    let repo = d.join("l9-out/adder");
    let o = Command::new("sh")
        .args(["-c", "test \"$(sh add.sh 2 2)\" = 4"])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(o.status.success(), "the merged code passes its gate");
    // One start commit: the second run found the repository made.
    let log = git(&repo, &["log", "--format=%s"]);
    assert_eq!(log.lines().filter(|l| *l == "Start (L9)").count(), 1, "{log}");
}

/// `--repo` naming a directory inside a repository is refused before anything is made:
/// git would commit at the repository's top while L9 reported the directory.
#[test]
fn a_directory_inside_a_repository_is_refused() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let repo = d.join("repo");
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    std::fs::write(repo.join("sub/x"), "x\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "init"]);
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adder/spec.md");
    let work = d.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let sub = repo.join("sub");
    let err = fails(&work, &["run", spec.to_str().unwrap(), "--repo", sub.to_str().unwrap()], 3);
    let top = repo.canonicalize().unwrap();
    assert!(
        err.contains("is inside the git repository at")
            && err.contains(&format!("give the repository's top directory ({})", top.display())),
        "{err}"
    );
    assert!(!work.join(".l9").exists() && !work.join("l9-out").exists(), "nothing was made");
    let plain = d.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let err = fails(&work, &["run", spec.to_str().unwrap(), "--repo", plain.to_str().unwrap()], 3);
    assert!(err.contains("is not a git repository"), "{err}");
}

/// A merge into the user's checkout that git refuses (an untracked file of the user's in the
/// way) is reported as such — the file, what to do, where the work is — and nothing of the
/// user's is touched.
#[test]
fn a_merge_refused_by_the_checkout_says_why_and_touches_nothing() {
    let dir = l9_test_support::temp_dir();
    let (proj, repo) = super::agents::agent_project(dir.path());
    std::fs::write(repo.join("add.sh"), "# mine, not committed\n").unwrap();
    let o = l9(&proj, super::agents::ADD_TASK);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("git would not merge l9/")
            && out.contains("untracked working tree files would be overwritten by merge add.sh")
            && out.contains("commit or stash the changes there")
            && out.contains("the work stays on branch l9/"),
        "{out}"
    );
    assert!(!out.contains("conflicts in"), "{out}");
    assert_eq!(std::fs::read_to_string(repo.join("add.sh")).unwrap(), "# mine, not committed\n");
    assert!(!repo.join(".git/MERGE_HEAD").exists());
    assert_eq!(git(&repo, &["log", "--format=%s"]).trim(), "init");
}

/// A spec that yields no plan: its first stage is marked failed, the run exits 1, and no
/// fresh repository was made for code that will never come.
#[test]
fn a_spec_without_a_plan_fails_at_its_first_stage() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("empty.md"), "Hello.\n").unwrap();
    let o = l9(d, &["run", "empty.md"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("✗ compile → challenge → deliberate → plan: 0 nodes"), "{err}");
    assert!(!err.contains("✓ compile"), "{err}");
    assert!(!err.contains("the code goes to"), "{err}");
    assert!(!d.join("l9-out").exists(), "no repository is made for a spec without a plan");
}
