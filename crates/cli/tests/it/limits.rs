//! The limits on work per input are settings: each variable is refused before any work when it
//! is not a number it takes, is listed by `l9 config`, and each refusal or cut names it.

use super::*;

#[test]
fn every_limit_is_a_setting_refused_when_not_a_number_and_listed() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    for l in l9_types::limits::ALL {
        let o = l9_env(d, &[(l.env, "lots")], &["status"]);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{}: {e}", l.env);
        assert!(
            e.contains(&format!("{}=\"lots\" is not a", l.env)) && e.contains("unset it"),
            "{e}"
        );
    }
    let o = l9_env(d, &[("L9_MAX_YAML_DEPTH", "0")], &["--json", "status"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("L9-LIMIT-001"), "{v}");
    let o = l9_env(d, &[("L9_MAX_YAML_DEPTH", "12")], &["--json", "config"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let limits = v["limits"].as_array().unwrap();
    assert_eq!(limits.len(), l9_types::limits::ALL.len(), "{v}");
    for l in limits {
        if l["env"] == "L9_MAX_YAML_DEPTH" {
            assert_eq!(
                (l["value"].as_u64(), l["from"].as_str()),
                (Some(12), Some("environment variable L9_MAX_YAML_DEPTH")),
                "{l}"
            );
        } else {
            assert_eq!(
                (l["value"].clone(), l["from"].as_str()),
                (l["default"].clone(), Some("default")),
                "{l}"
            );
        }
    }
    let help = ok(d, &["ir", "--help"]);
    assert!(help.contains("L9_MAX_SOURCE_FILE_BYTES"), "{help}");
}

/// Nesting the default takes is refused under a smaller setting, and the refusal names it.
#[test]
fn yaml_nesting_refusals_name_the_setting() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let nested = format!("{}1{}", "[".repeat(20), "]".repeat(20));
    std::fs::write(d.join("api.yaml"), format!("openapi: 3.0.0\nx-deep: {nested}\npaths: {{}}\n"))
        .unwrap();
    let text = |o: Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    let default = text(l9_env(d, &[], &["ir", "check", "api.yaml"]));
    assert!(!default.contains("levels deep"), "{default}");
    let o = l9_env(d, &[("L9_MAX_YAML_DEPTH", "10")], &["ir", "check", "api.yaml"]);
    assert!(!o.status.success());
    let t = text(o);
    assert!(
        t.contains("nested 11 levels deep (at most 10; set L9_MAX_YAML_DEPTH to change the limit)"),
        "{t}"
    );
}

/// Source files over the limit are not read; the report counts them and names the setting.
#[test]
fn ingest_code_counts_files_over_the_limit_and_names_it() {
    let repo = l9_test_support::temp_dir();
    let r = repo.path();
    std::fs::write(r.join("small.rs"), "pub fn a() {}\n").unwrap();
    std::fs::write(r.join("large.rs"), format!("pub fn b() {{}}\n{}", "// filler\n".repeat(20)))
        .unwrap();
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let rs = r.to_str().unwrap();
    let o = l9_env(d, &[("L9_MAX_SOURCE_FILE_BYTES", "100")], &["ingest", "code", rs]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(t.contains("1 files, 1 lines, 1 definitions"), "{t}");
    assert!(
        t.contains(
            "1 files over 100 bytes left out (set L9_MAX_SOURCE_FILE_BYTES to change the limit)"
        ),
        "{t}"
    );
    let v = json(d, &["ingest", "code", rs]);
    assert_eq!((v["files"].as_u64(), v["too_large"].as_u64()), (Some(2), Some(0)), "{v}");
}

/// A request body over the setting is refused with 413, naming it.
#[test]
fn the_request_body_limit_is_a_setting() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    ok(d, &["init"]);
    let token = std::fs::read_to_string(d.join(".l9/token")).unwrap();
    let (mut server, addr) = super::serve::start(d, &[], &[("L9_MAX_REQUEST_BYTES", "200")]);
    let small = r#"{"kind": "note", "text": "fits"}"#;
    let (st, body) = super::serve::post(&addr, "/api/v1/memory", &token, small);
    assert!((200..300).contains(&st), "{st} {body}");
    let big = format!(r#"{{"kind": "note", "text": "{}"}}"#, "x".repeat(300));
    let (st, body) = super::serve::post(&addr, "/api/v1/memory", &token, &big);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(st, 413, "{body}");
    assert!(body.contains("over 200 bytes") && body.contains("L9_MAX_REQUEST_BYTES"), "{body}");
}

/// Long requirements drawn from a few words: a small candidate budget cuts the duplicate
/// search, and one finding says so and names the setting; a large one cuts nothing here.
#[test]
fn the_duplicate_search_budget_is_a_setting() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let words: Vec<String> = (0..24).map(|i| format!("w{}ord", char::from(b'a' + i))).collect();
    let rng = l9_types::SeededRng::from_seed(5);
    let items: String = (0..300)
        .map(|_| {
            let mut pick: Vec<&str> = words.iter().map(String::as_str).collect();
            while pick.len() > 16 {
                pick.remove(rng.below(pick.len() as u64) as usize);
            }
            format!("- The system MUST {}.\n", pick.join(" "))
        })
        .collect();
    std::fs::write(d.join("spec.md"), format!("# S\n\n## Requirements\n\n{items}")).unwrap();
    let cut = |env: &[(&str, &str)]| -> Vec<String> {
        let o = l9_env(d, env, &["--json", "ir", "check", "spec.md"]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let all = v["diagnostics"].as_array().cloned().unwrap_or_default();
        all.iter()
            .filter(|x| x["message"].as_str().is_some_and(|m| m.contains("was cut for")))
            .map(|x| x.to_string())
            .collect()
    };
    assert!(cut(&[("L9_DUPLICATE_CANDIDATES", "100000")]).is_empty());
    let small = cut(&[("L9_DUPLICATE_CANDIDATES", "2")]);
    assert_eq!(small.len(), 1, "{small:?}");
    assert!(small[0].contains("L9_DUPLICATE_CANDIDATES"), "{small:?}");
}
