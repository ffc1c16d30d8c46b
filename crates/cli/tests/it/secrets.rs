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

/// `l9 init --db URL` with a password keeps the password in `.l9/db-password` (0600), not in
/// `l9.toml`; the store opens with it; a file others can read, or a wrong password, is a
/// clear error; without the file, libpq's `PGPASSWORD` is read.
#[test]
fn a_postgres_password_is_kept_in_an_owner_only_file() {
    let Some(url) = l9_test_support::pg_url() else { return };
    let Ok(with_pw) = std::env::var("L9_TEST_PG_PASSWORD_URL") else {
        assert!(std::env::var("CI").is_err(), "scripts/pg-cluster sets L9_TEST_PG_PASSWORD_URL");
        return;
    };
    let name = format!("l9_pw_{}", std::process::id());
    let (_, drop_db) = fresh_database(&url, &name);
    let pg = format!("{}/{name}", with_pw.rsplit_once('/').unwrap().0);
    let secret = pg
        .split_once("://")
        .unwrap()
        .1
        .split_once('@')
        .unwrap()
        .0
        .split_once(':')
        .unwrap()
        .1
        .to_string();
    let bare = pg.replace(&format!(":{secret}@"), "@");
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init", "--db", &pg]);
    ok(d, &["init", "--db", &pg]);
    let toml = std::fs::read_to_string(d.join(".l9/l9.toml")).unwrap();
    assert!(!toml.contains(&secret) && toml.contains(&bare), "{toml}");
    let file = d.join(".l9/db-password");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), secret);
    json(d, &["memory", "put", "--kind", "note", "--text", "opened with the password file"]);
    let shown = ok(d, &["config"]);
    assert!(!shown.contains(&secret) && shown.contains("store.password_file"), "{shown}");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = fails(d, &["memory", "search", "password"], 4);
    assert!(e.contains("can be read by others") && e.contains("chmod 600"), "{e}");
    // Not a password file (here a directory; a file over 64 KiB alike): named, with what to do.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let e = fails(d, &["memory", "search", "password"], 4);
    assert!(e.contains("not a regular file of at most 64 KiB") && e.contains("first line"), "{e}");
    std::fs::remove_dir(&file).unwrap();
    std::fs::write(&file, "not-the-password\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = fails(d, &["memory", "search", "password"], 6);
    assert!(e.contains("password authentication failed") && !e.contains(&secret), "{e}");

    // No file: PGPASSWORD, as libpq reads it.
    std::fs::write(d.join(".l9/l9.toml"), toml.replace("password_file", "# password_file"))
        .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["memory", "search", "password", "--json"])
        .current_dir(d)
        .env_remove("L9_DB")
        .env("PGPASSWORD", &secret)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("opened with the password file"));
    drop_db();
}
