use l9_agents::patch;
use l9_agents::tools::Tools;
use l9_agents::workspace::Workspace;
use serde_json::json;

use crate::runner;

#[test]
fn paths_stay_inside_the_workspace() {
    let dir = l9_test_support::temp_dir();
    let root = dir.path().join("ws");
    std::fs::create_dir_all(root.join("src")).unwrap();
    let outside = dir.path().join("secret");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    let ws = Workspace::new(&root).unwrap();
    assert!(ws.resolve("src/lib.rs").unwrap().ends_with("ws/src/lib.rs"));
    assert!(ws.resolve("src/../new.txt").is_ok());
    for (p, why) in [
        ("/etc/passwd", "absolute paths are not allowed"),
        ("../secret/x", "`..` leaves the workspace"),
        ("src/../../x", "`..` leaves the workspace"),
        ("link/x", "points outside the workspace"),
        (".git/config", "the .git directory"),
        (".GIT/x", "the .git directory"),
        ("src/.Git/hooks/pre-commit", "the .git directory"),
        ("", "empty path"),
    ] {
        let e = ws.resolve(p).unwrap_err().to_string();
        assert!(e.contains(why), "{p}: {e}");
    }
}

#[test]
fn patches_apply_all_or_nothing_and_say_why_not() {
    let fp = &patch::parse("--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n")
        .unwrap()[0];
    assert_eq!(
        patch::apply_file(fp, Some("one\ntwo\nthree\n")).unwrap().as_deref(),
        Some("one\nTWO\nthree\n")
    );
    // Context found a few lines away (the file grew above the hunk).
    assert_eq!(
        patch::apply_file(fp, Some("zero\nhalf\none\ntwo\nthree\n")).unwrap().as_deref(),
        Some("zero\nhalf\none\nTWO\nthree\n")
    );
    let e = patch::apply_file(fp, Some("one\n2\nthree\n")).unwrap_err().to_string();
    assert_eq!(
        e,
        "the patch does not apply: f.txt: hunk 1 (@@ -1,3 +1,3 @@) does not match: expected line 2 to be `two`, found `2`"
    );
    let new = &patch::parse("--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,2 @@\n+a\n+b\n").unwrap()[0];
    assert_eq!(patch::apply_file(new, None).unwrap().as_deref(), Some("a\nb\n"));
    assert!(patch::apply_file(new, Some("x")).unwrap_err().to_string().contains("already exists"));
    assert!(patch::parse("just words").unwrap_err().to_string().contains("send a unified diff"));
}

#[tokio::test]
async fn tools_read_write_patch_list_search_run_and_gate() {
    let dir = l9_test_support::temp_dir();
    let ws = Workspace::new(dir.path()).unwrap();
    let t = Tools::new(ws, runner(), Some("test \"$(cat out.txt)\" = ok".into()));
    let w = t.call("write_file", &json!({"path": "src/a.txt", "content": "alpha\nbeta\n"})).await;
    assert!(w.ok && w.changed, "{w:?}");
    assert_eq!(t.call("read_file", &json!({"path": "src/a.txt"})).await.text, "alpha\nbeta\n");
    let p = t.call("apply_patch", &json!({"patch": "--- a/src/a.txt\n+++ b/src/a.txt\n@@ -1,2 +1,2 @@\n alpha\n-beta\n+gamma\n"})).await;
    assert!(p.ok, "{p:?}");
    let bad = t.call("apply_patch", &json!({"patch": "--- a/src/a.txt\n+++ b/src/a.txt\n@@ -1,2 +1,2 @@\n alpha\n-beta\n+delta\n"})).await;
    assert!(!bad.ok && bad.text.contains("expected line 2 to be `beta`, found `gamma`"), "{bad:?}");
    assert_eq!(
        t.call("read_file", &json!({"path": "src/a.txt"})).await.text,
        "alpha\ngamma\n",
        "a rejected patch changes nothing"
    );
    assert_eq!(t.call("list_dir", &json!({})).await.text, "src/");
    assert_eq!(t.call("search", &json!({"pattern": "gam+a"})).await.text, "src/a.txt:2: gamma");
    assert!(!t.call("read_file", &json!({"path": "../x"})).await.ok);
    let gate = t.call("run_tests", &json!({})).await;
    assert!(!gate.ok && gate.text.starts_with("gate FAILED"));
    let run = t.call("run", &json!({"command": "printf ok > out.txt; echo done"})).await;
    assert!(run.ok && run.text.starts_with("exit 0\ndone"), "{run:?}");
    assert!(t.call("run_tests", &json!({})).await.ok);
    assert_eq!(t.effect("read_file", &json!({})), l9_types::Effect::Pure);
    assert!(matches!(
        t.effect("write_file", &json!({"path": "a"})),
        l9_types::Effect::Idempotent { .. }
    ));
    assert_eq!(t.effect("run", &json!({})), l9_types::Effect::Irreversible);
    assert!(t.call("fly", &json!({})).await.text.contains("unknown tool `fly`"));
}

/// `[agents] allow_run = false`: the model is not offered `run` and a call is refused; the
/// gate still runs.
#[tokio::test]
async fn run_can_be_switched_off() {
    let dir = l9_test_support::temp_dir();
    let mut t = Tools::new(Workspace::new(dir.path()).unwrap(), runner(), Some("true".into()));
    t.allow_run = false;
    assert!(!t.specs().iter().any(|s| s.name == "run"));
    let o = t.call("run", &json!({"command": "touch ran"})).await;
    assert!(!o.ok && o.text.contains("allow_run = false"), "{o:?}");
    assert!(!dir.path().join("ran").exists());
    assert!(t.call("run_tests", &json!({})).await.ok);
}

#[tokio::test]
async fn run_has_a_timeout_an_output_cap_and_a_clean_environment() {
    let dir = l9_test_support::temp_dir();
    let mut t = Tools::new(Workspace::new(dir.path()).unwrap(), runner(), None);
    t.timeout = std::time::Duration::from_millis(200);
    t.output_cap = 10;
    let o = t.call("run", &json!({"command": "sleep 5"})).await;
    assert!(!o.ok && o.text.contains("[timed out after "), "{o:?}");
    t.timeout = std::time::Duration::from_secs(10);
    let o = t.call("run", &json!({"command": "seq 1 100"})).await;
    assert!(o.text.contains("more bytes cut; L9_TOOL_OUTPUT_BYTES keeps 10 bytes]"), "{o:?}");
    // Cargo sets CARGO_MANIFEST_DIR for this test process; commands must not see it.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    let o =
        t.call("run", &json!({"command": "echo \"[$CARGO_MANIFEST_DIR][${PATH:+path}]\""})).await;
    assert!(o.text.contains("[][path]"), "{o:?}");
}

/// Output is read as it comes: memory keeps the first `output_cap` bytes of each pipe and
/// counts the rest, while a tee file receives every byte (what a running gate's followers
/// read).
#[tokio::test]
async fn output_past_the_cap_is_counted_and_teed_whole() {
    use l9_agents::process::{CommandSpec, Runner, SystemRunner};
    let dir = l9_test_support::temp_dir();
    let mut cmd =
        CommandSpec::shell("head -c 200000 /dev/zero | tr '\\0' x; echo done >&2", dir.path());
    cmd.output_cap = 100;
    cmd.tee = Some(dir.path().join("live.log"));
    let o = SystemRunner.run(&cmd).await.unwrap();
    assert!(o.success(), "{o:?}");
    assert!(o.stdout.starts_with(&"x".repeat(100)), "{}", &o.stdout[..120.min(o.stdout.len())]);
    assert!(
        o.stdout.ends_with("[… 199900 more bytes cut; L9_COMMAND_OUTPUT_BYTES keeps 100 bytes]"),
        "{}",
        &o.stdout[100..]
    );
    assert_eq!(o.stderr, "done\n");
    let teed = std::fs::read(dir.path().join("live.log")).unwrap();
    assert_eq!(teed.len(), 200_000 + "done\n".len());
}

/// `read_file` reads no more than the limit of a large file and counts the rest; a FIFO is
/// refused instead of blocking the step.
#[tokio::test]
#[allow(clippy::disallowed_methods)] // mkfifo makes the FIFO
async fn read_file_is_bounded_and_reads_regular_files_only() {
    let dir = l9_test_support::temp_dir();
    let t = Tools::new(Workspace::new(dir.path()).unwrap(), runner(), None);
    let limit = l9_types::limits::TOOL_READ_BYTES.default;
    std::fs::write(dir.path().join("big.txt"), "y".repeat(limit as usize + 5000)).unwrap();
    let o = t.call("read_file", &json!({"path": "big.txt"})).await;
    assert!(o.ok, "{o:?}");
    assert!(o.text.starts_with(&"y".repeat(limit as usize)), "{}", o.text.len());
    assert!(
        o.text.ends_with(&format!("\n[… 5000 more bytes; L9_TOOL_READ_BYTES shows {limit}]")),
        "{}",
        &o.text[limit as usize..]
    );
    let fifo = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let o = t.call("read_file", &json!({"path": "pipe"})).await;
    assert!(!o.ok && o.text.contains("not a regular file"), "{o:?}");
}

#[test]
fn tests_written_first_must_be_red_for_the_right_reason() {
    use l9_agents::process::Output;
    use l9_agents::tools::red_for_the_right_reason;
    let out = |code: Option<i32>, text: &str| Output {
        code,
        stdout: text.into(),
        stderr: String::new(),
        timed_out: false,
        timeout: None,
    };
    // The code under test is missing: red for the right reason.
    assert!(
        red_for_the_right_reason(&out(Some(1), "sh: 0: cannot open add.sh: No such file"), true)
            .is_ok()
    );
    assert!(
        red_for_the_right_reason(
            &out(Some(1), "E   ModuleNotFoundError: No module named 'todo'"),
            true
        )
        .is_ok()
    );
    // Green before the code exists, no test file, a syntax error, a runner that never started.
    let why = |o: &Output, exists: bool| red_for_the_right_reason(o, exists).unwrap_err();
    assert!(why(&out(Some(0), ""), true).contains("pass before"));
    assert!(why(&out(Some(1), ""), false).contains("do not exist"));
    assert!(
        why(&out(Some(2), "tests/t.sh: 3: Syntax error: end of file unexpected"), true)
            .contains("wrong reason")
    );
    assert!(
        why(&out(Some(1), "  File \"t.py\", line 2\nSyntaxError: invalid syntax"), true)
            .contains("syntaxerror")
    );
    assert!(why(&out(Some(127), "pytest: command not found"), true).contains("could not start"));
}

#[tokio::test]
async fn search_follows_no_symlink_out_of_the_worktree_or_round_in_a_loop() {
    let dir = l9_test_support::temp_dir();
    let root = dir.path().join("ws");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/a.txt"), "needle here\n").unwrap();
    let outside = dir.path().join("secret");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("key.txt"), "needle outside\n").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.join("key.txt"), root.join("key.txt")).unwrap();
    // Two links pointing at each other, and a directory that contains itself.
    std::os::unix::fs::symlink(root.join("b"), root.join("a")).unwrap();
    std::os::unix::fs::symlink(root.join("a"), root.join("b")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("src/self")).unwrap();
    std::fs::create_dir_all(root.join(".GIT")).unwrap();
    std::fs::write(root.join(".GIT/x"), "needle in git\n").unwrap();
    let t = Tools::new(Workspace::new(&root).unwrap(), runner(), None);
    let found = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        t.call("search", &json!({"pattern": "needle"})),
    )
    .await
    .expect("the search ends");
    assert_eq!(found.text, "src/a.txt:1: needle here", "{found:?}");
}
