//! Commands in the sandbox (bubblewrap): they write their directory and a private /tmp and
//! nothing else, do not see hidden directories, run in their own PID namespace without
//! network (unless allowed), and die with L9.

#![allow(clippy::disallowed_methods)] // the test is a process harness by definition

use std::path::Path;
use std::time::{Duration, Instant};

use l9_agents::process::{CommandSpec, Output, Runner, Sandbox, SystemRunner, sandbox_available};

/// Whether the sandbox works here; in CI it must (scripts/test installs bubblewrap).
fn available() -> bool {
    match sandbox_available() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "the sandbox must work in CI (scripts/test installs bubblewrap): {why}"
            );
            eprintln!("skipped: {why}");
            false
        }
    }
}

async fn sh(script: &str, dir: &Path, sandbox: &Sandbox) -> Output {
    let mut c = CommandSpec::shell(script, dir);
    c.sandbox = Some(sandbox.clone());
    c.timeout = Duration::from_secs(30);
    SystemRunner.run(&c).await.unwrap()
}

#[tokio::test]
async fn a_sandboxed_command_reaches_its_directory_and_nothing_else() {
    if !available() {
        return;
    }
    let work = l9_test_support::temp_dir();
    let other = l9_test_support::temp_dir();
    let hidden = l9_test_support::temp_dir();
    std::fs::write(hidden.path().join("secret"), "the database").unwrap();
    let mut sb = Sandbox::for_dir(work.path());
    sb.hidden.push(hidden.path().to_path_buf());
    let w = work.path();

    let o = sh("echo inside > inside.txt && mkdir -p sub && echo x > sub/y", w, &sb).await;
    assert!(o.success(), "{}", o.combined());
    assert_eq!(std::fs::read_to_string(w.join("inside.txt")).unwrap(), "inside\n");

    let outside = other.path().join("outside.txt");
    let o = sh(&format!("echo x > {}", outside.display()), w, &sb).await;
    assert!(!o.success() && !outside.exists(), "wrote outside its directory: {}", o.combined());
    let o = sh("echo x > \"$HOME/.l9-sandbox-probe\"", w, &sb).await;
    assert!(!o.success(), "wrote into HOME: {}", o.combined());

    let o = sh(&format!("cat {}/secret", hidden.path().display()), w, &sb).await;
    assert!(!o.success() && !o.stdout.contains("the database"), "{}", o.combined());

    // A private /tmp: written inside, never seen outside.
    let probe = format!("l9-sandbox-tmp-{}", std::process::id());
    let o = sh(&format!("echo t > /tmp/{probe} && cat /tmp/{probe}"), w, &sb).await;
    assert!(o.success() && o.stdout == "t\n", "{}", o.combined());
    assert!(!Path::new("/tmp").join(&probe).exists());

    // Its own PID namespace: the shell is one of the first processes there.
    let o = sh("echo $$", w, &sb).await;
    let pid: u32 = o.stdout.trim().parse().unwrap();
    assert!(pid < 10, "pid {pid}: not in a PID namespace of its own");

    // No network unless allowed: a listener on the host's loopback is out of reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect =
        format!("python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 3)\"");
    let o = sh(&connect, w, &sb).await;
    assert!(!o.success(), "reached the network: {}", o.combined());
    sb.network = true;
    let o = sh(&connect, w, &sb).await;
    assert!(o.success(), "network allowed but unreachable: {}", o.combined());
}

/// A git worktree's commands can read the repository (git works), not write it.
#[tokio::test]
async fn git_reads_the_repository_of_a_sandboxed_worktree() {
    if !available() {
        return;
    }
    let dir = l9_test_support::temp_dir();
    let repo = super::repo_with(dir.path(), &[("a.txt", "a\n")]).await;
    let wt = repo.worktree("l9/task-sandbox").await.unwrap();
    let sb = Sandbox::for_dir(&wt.path);
    let o = sh("git log --oneline | wc -l && cat a.txt", &wt.path, &sb).await;
    assert!(o.success() && o.stdout.contains("a\n"), "{}", o.combined());
    let o = sh("git commit --allow-empty -qm x", &wt.path, &sb).await;
    assert!(!o.success(), "committed into the repository from the sandbox");
}

const ROLE: &str = "L9_TEST_SANDBOX_OUTLIVE";

/// Whether a process whose command line holds `needle` runs (zombies do not count).
fn any_running(needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.flatten().any(|e| {
        let p = e.path();
        let cmd = std::fs::read(p.join("cmdline")).unwrap_or_default();
        let zombie = std::fs::read_to_string(p.join("stat"))
            .map(|s| s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
            .unwrap_or(true);
        !zombie && String::from_utf8_lossy(&cmd).replace('\0', " ").contains(needle)
    })
}

#[test]
fn a_sandboxed_command_dies_with_l9() {
    let needle = "314159";
    if let Ok(dir) = std::env::var(ROLE) {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = Path::new(&dir);
            let mut c = CommandSpec::shell(&format!("touch started; sleep {needle}"), dir);
            c.sandbox = Some(Sandbox::for_dir(dir));
            let _ = SystemRunner.run(&c).await;
        });
        return;
    }
    if !available() {
        return;
    }
    let dir = l9_test_support::temp_dir();
    let mut l9 = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["sandbox::a_sandboxed_command_dies_with_l9", "--exact", "--nocapture"])
        .env(ROLE, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !dir.path().join("started").exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(any_running(&format!("sleep {needle}")));
    l9.kill().unwrap();
    l9.wait().unwrap();
    let t = Instant::now();
    while any_running(&format!("sleep {needle}")) {
        assert!(t.elapsed() < Duration::from_secs(10), "the sandboxed command outlived L9");
        std::thread::sleep(Duration::from_millis(50));
    }
}
