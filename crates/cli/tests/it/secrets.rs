//! No secret is kept or shown: a provider that echoes the API key (and another key-shaped
//! string) in its error body fails a run, and neither appears in the database files, an
//! export, the run's view or anything `l9` printed; and `.l9/` is the owner's alone.

use std::io::{Read, Write};

use super::*;

/// A provider that answers every request 400, quoting `body`.
fn echoing_provider(body: String) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 65536];
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_key_echoed_by_a_provider_is_never_stored_or_printed() {
    let secret = "sk-leak-5a1f0c93be7d4e21a0b6c8d2";
    let other = "ghp_0123456789abcdefghijABCDEFGHIJklmn";
    let base = echoing_provider(format!(
        r#"{{"error": {{"message": "Incorrect API key provided: {secret}. Also seen: {other}", "type": "invalid_request_error"}}}}"#
    ));
    let dir = l9_test_support::temp_dir();
    let proj = super::run::adder_project(dir.path(), false);
    let mut toml = std::fs::read_to_string(proj.join(".l9/l9.toml")).unwrap();
    toml.push_str(&format!("\n[providers.p]\nkind = \"openai\"\nbase_url = \"{base}\"\nmodel = \"m\"\napi_key_env = \"L9_TEST_LEAK_KEY\"\nmax_retries = 0\n\n[roles]\ncoder = \"p\"\n"));
    std::fs::write(proj.join(".l9/l9.toml"), toml).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["run", "spec.md", "--repo", "repo", "--trials", "100", "-v"])
        .current_dir(&proj)
        .env_remove("L9_DB")
        .env("L9_TEST_LEAK_KEY", secret)
        .output()
        .unwrap();
    assert!(!o.status.success(), "the run fails on the provider's 400");
    let mut seen = vec![
        ("stdout".to_string(), String::from_utf8_lossy(&o.stdout).to_string()),
        ("stderr".to_string(), String::from_utf8_lossy(&o.stderr).to_string()),
    ];
    assert!(seen[1].1.contains("failed: provider p"), "the failure is reported: {}", seen[1].1);
    let env_run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_l9"))
            .args(args)
            .current_dir(&proj)
            .env_remove("L9_DB")
            .env("L9_TEST_LEAK_KEY", secret)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    };
    seen.push(("export".into(), env_run(&["memory", "export"])));
    seen.push(("show".into(), env_run(&["show", "last", "--json"])));
    assert!(seen[3].1.contains("[redacted]"), "the error is kept, redacted: {}", seen[3].1);
    for f in ["l9.db", "l9.db-wal"] {
        if let Ok(bytes) = std::fs::read(proj.join(".l9").join(f)) {
            seen.push((f.into(), String::from_utf8_lossy(&bytes).to_string()));
        }
    }
    // What holds them is the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&proj.join(".l9")), 0o700);
        for f in ["l9.db", "l9.db-wal", "token", "l9.toml"] {
            let p = proj.join(".l9").join(f);
            if p.exists() {
                assert_eq!(mode(&p), 0o600, "{f}");
            }
        }
    }
    for (what, text) in &seen {
        assert!(!text.contains(secret), "{what} holds the API key");
        assert!(!text.contains(other), "{what} holds a key-shaped string");
    }
}
