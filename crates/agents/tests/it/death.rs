//! A command started through the process seam does not outlive L9: the test binary runs
//! itself as an "L9" that starts a long command, is SIGKILLed, and the command's process
//! group must be gone soon after.

#![allow(clippy::disallowed_methods)] // the test is a process harness by definition

use std::time::{Duration, Instant};

use l9_agents::process::{CommandSpec, Runner, SystemRunner};

const ROLE: &str = "L9_TEST_OUTLIVE_MARKER";

/// Whether `pid` is still running (a zombie waiting for a reaper counts as gone).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn a_command_does_not_outlive_l9_killed_by_sigkill() {
    if let Ok(marker) = std::env::var(ROLE) {
        // The "L9" side: start a command that would run for five minutes, and wait.
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = std::path::Path::new(&marker).parent().unwrap().to_owned();
            let spec = CommandSpec::shell(
                &format!(
                    "echo $$ > {marker}.tmp && mv {marker}.tmp {marker}; sleep 300; echo done"
                ),
                dir,
            );
            let _ = SystemRunner.run(&spec).await;
        });
        return;
    }
    if !std::path::Path::new("/proc/self/stat").exists() {
        eprintln!("skipped: no /proc");
        return;
    }
    let dir = l9_test_support::temp_dir();
    let marker = dir.path().join("pid");
    let mut l9 = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["death::a_command_does_not_outlive_l9_killed_by_sigkill", "--exact", "--nocapture"])
        .env(ROLE, &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !marker.exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = std::fs::read_to_string(&marker).unwrap().trim().to_owned();
    assert!(running(&pid), "the command runs while L9 does");
    l9.kill().unwrap(); // SIGKILL: no destructor, no kill_on_drop
    l9.wait().unwrap();
    let t = Instant::now();
    while running(&pid) {
        assert!(t.elapsed() < Duration::from_secs(10), "the command {pid} outlived L9");
        std::thread::sleep(Duration::from_millis(50));
    }
}
