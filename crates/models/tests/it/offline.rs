use std::sync::Arc;

use l9_models::{
    ChatRequest, Message, ModelError, Provider, Recorder, ReplayProvider, ScriptedProvider, schema,
};
use serde_json::json;

const SCRIPT: &str = r#"
rules:
  - name: first attempt
    when: { role: coder, prompt: "implement add", call: 1 }
    reply: "Writing a first version"
    tool_calls:
      - name: write_file
        arguments: { path: src/lib.rs, content: "pub fn add(a: i32, b: i32) -> i32 { a - b }\n" }
  - name: fix after review
    when: { role: coder, regex: "(?i)review: .*wrong" }
    reply: "Fixed"
  - name: reviewer
    when: { role: reviewer, step: review }
    reply: '{"verdict": "approve"}'
    usage: { input: 100, output: 7 }
"#;

fn req(role: &str, step: Option<&str>, prompt: &str) -> ChatRequest {
    let mut r = ChatRequest::new(vec![Message::system("sys"), Message::user(prompt)]);
    r.role = Some(role.into());
    r.step = step.map(str::to_string);
    r
}

#[tokio::test]
async fn scripted_rules_match_by_role_step_prompt_regex_and_call_count() {
    let p = ScriptedProvider::parse("script", "coder.yaml", SCRIPT).unwrap();
    let r = p.chat(&req("coder", None, "please implement add")).await.unwrap();
    assert_eq!(r.tool_calls[0].name, "write_file");
    assert_eq!(r.tool_calls[0].arguments["path"], "src/lib.rs");
    assert_eq!(r.finish_reason, "tool_calls");
    assert!(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
    // The second "implement add" call: rule 1 wants call 1 only.
    let e = p.chat(&req("coder", None, "please implement add")).await.unwrap_err();
    let ModelError::Unmatched { closest, .. } = &e else { panic!("{e}") };
    assert!(
        closest.contains("\"first attempt\"") && closest.contains("this is call 2"),
        "{closest}"
    );
    let r = p.chat(&req("coder", None, "Review: the sign is wrong")).await.unwrap();
    assert_eq!(r.content, "Fixed");
    let r = p.chat(&req("reviewer", Some("review"), "diff")).await.unwrap();
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (100, 7));
    let e = p.chat(&req("reviewer", Some("merge"), "diff")).await.unwrap_err().to_string();
    assert!(
        e.contains(
            "closest rule: \"reviewer\" (did not match: step \"review\" (call has \"merge\"))"
        ),
        "{e}"
    );
}

#[test]
fn bad_scripts_name_file_and_line() {
    let e = ScriptedProvider::parse("s", "bad.yaml", "rules:\n  - name: x\n    wen: {}\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.yaml:3:") && e.contains("unknown field `wen`"), "{e}");
    let e = ScriptedProvider::parse(
        "s",
        "bad.yaml",
        "rules:\n  - name: x\n    when: { regex: \"(\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("bad.yaml:3:") && e.contains("bad regex"), "{e}");
    // A hundred thousand compact sequence levels are refused before the parser sees them.
    let deep = format!("rules:\n{}x\n", "- ".repeat(100_000));
    let e = ScriptedProvider::parse("s", "deep.yaml", &deep).unwrap_err().to_string();
    assert!(
        e.starts_with("deep.yaml:2:")
            && e.contains("levels deep (at most 256; set L9_MAX_YAML_DEPTH"),
        "{e}"
    );
}

#[tokio::test]
async fn record_then_replay_and_fail_loudly_on_a_different_request() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("calls.jsonl");
    let inner: Arc<dyn Provider> =
        Arc::new(ScriptedProvider::parse("script", "coder.yaml", SCRIPT).unwrap());
    let rec = Recorder::create(inner, path.clone()).unwrap();
    let a = rec.chat(&req("coder", None, "please implement add")).await.unwrap();
    let b = rec.chat(&req("reviewer", Some("review"), "diff")).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);

    let replay = ReplayProvider::parse("replay", "calls.jsonl", &text).unwrap();
    assert_eq!(replay.chat(&req("coder", None, "please implement add")).await.unwrap(), a);
    let e = replay
        .chat(&req("reviewer", Some("review"), "a different diff"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("call 2 differs from the cassette calls.jsonl"), "{e}");
    assert!(
        e.contains("-       \"content\": \"diff\"")
            && e.contains("+       \"content\": \"a different diff\""),
        "{e}"
    );
    assert_eq!(replay.chat(&req("reviewer", Some("review"), "diff")).await.unwrap(), b);
    let e = replay.chat(&req("x", None, "y")).await.unwrap_err().to_string();
    assert!(e.contains("all 2 recorded calls were served; this call is new"), "{e}");
    let e = ReplayProvider::parse("r", "c.jsonl", "{}\n").unwrap_err().to_string();
    assert!(e.starts_with("c.jsonl:1: not a cassette entry"), "{e}");
}

#[test]
fn schema_subset_reports_the_path() {
    let s = json!({"type": "object", "required": ["files"], "properties": {"files": {"type": "array", "items": {"type": "string"}, "minItems": 1}, "n": {"type": "integer", "minimum": 0}}});
    assert_eq!(schema::validate(&s, &json!({"files": ["a"], "n": 2})), Ok(()));
    assert_eq!(
        schema::validate(&s, &json!({"files": []})),
        Err("$.files: needs at least 1 items".into())
    );
    assert_eq!(
        schema::validate(&s, &json!({"files": ["a", 3]})),
        Err("$.files[1]: expected string, got number".into())
    );
    assert_eq!(
        schema::validate(&s, &json!({"n": 1})),
        Err("$: missing required property `files`".into())
    );
    assert_eq!(
        schema::validate(&s, &json!({"files": ["a"], "n": -1})),
        Err("$.n: -1 is below the minimum 0".into())
    );
}
