//! A peer we did not write: `fakellm` from PyPI (a mock of the OpenAI and Anthropic APIs),
//! installed by `scripts/setup-test-assets` and started on a loopback port. Required when
//! `CI=true`; skipped with a message otherwise.

use std::sync::Arc;
use std::time::Duration;

use l9_models::{
    AnthropicProvider, ChatRequest, HttpConfig, Message, ModelError, OpenAiProvider, Provider,
    ToolSpec,
};
use serde_json::json;

use crate::fake::RecordingSleeper;

const CONFIG: &str = r#"version: 1
defaults:
  fallback: deterministic_echo
rules:
  - name: tool
    when:
      messages_contain: "write the file"
    respond:
      tool_calls:
        - name: write_file
          arguments: { path: "a.txt", content: "hi" }
  - name: greet
    when:
      messages_contain: "hello"
    respond:
      content: "Hi there!"
  - name: limited
    when:
      messages_contain: "rate limit me"
    respond:
      status: 429
      error: "Rate limit exceeded (mock)"
"#;

struct Server {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(clippy::disallowed_methods)] // the test starts the peer server itself
fn start() -> Option<Server> {
    let exe = match std::env::var("L9_TEST_FAKELLM") {
        Ok(p) => p,
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("L9_TEST_FAKELLM is not set: run the tests through scripts/test")
        }
        Err(_) => {
            eprintln!(
                "skipping the fakellm peer test: L9_TEST_FAKELLM is not set (scripts/test sets it)"
            );
            return None;
        }
    };
    let dir = l9_test_support::temp_dir();
    let config = dir.path().join("fakellm.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = std::process::Command::new(exe)
        .args([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--config",
            &config.display().to_string(),
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start fakellm");
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), _dir: dir };
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fakellm did not start listening on {port}");
}

fn cfg(base: &str, name: &str) -> HttpConfig {
    let mut c = HttpConfig::new(name, base, "gpt-4o-mini");
    c.api_key_env = Some("FAKE_KEY".into());
    c.max_retries = 1;
    c
}

fn env(_: &str) -> Option<String> {
    Some("not-used".into())
}

fn ask(text: &str) -> ChatRequest {
    let mut r = ChatRequest::new(vec![Message::system("test"), Message::user(text)]);
    r.tools = vec![ToolSpec {
        name: "write_file".into(),
        description: "write".into(),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}),
    }];
    r
}

#[tokio::test]
async fn our_clients_against_fakellm() {
    let Some(server) = start() else { return };
    let sleeper = Arc::new(RecordingSleeper::default());
    let openai =
        OpenAiProvider::with_sleeper(cfg(&server.base, "fakellm-openai"), &env, sleeper.clone())
            .unwrap();
    let r = openai.chat(&ask("hello there")).await.unwrap();
    assert_eq!(r.content, "Hi there!");
    let r = openai.chat_stream(&ask("hello there"), &mut |_| {}).await.unwrap();
    assert_eq!(r.content, "Hi there!");
    let r = openai.chat(&ask("please write the file")).await.unwrap();
    assert_eq!(r.tool_calls.len(), 1, "{r:?}");
    assert_eq!(
        (r.tool_calls[0].name.as_str(), &r.tool_calls[0].arguments),
        ("write_file", &json!({"path": "a.txt", "content": "hi"}))
    );
    let r = openai.chat_stream(&ask("please write the file"), &mut |_| {}).await.unwrap();
    assert_eq!(r.tool_calls[0].arguments, json!({"path": "a.txt", "content": "hi"}), "{r:?}");
    let e = openai.chat(&ask("rate limit me")).await.unwrap_err();
    assert!(matches!(e, ModelError::Unavailable { .. }), "{e}");
    assert_eq!(sleeper.0.lock().unwrap().len(), 1, "one retry, then the error");

    let anthropic = AnthropicProvider::with_sleeper(
        cfg(&server.base, "fakellm-anthropic"),
        &env,
        sleeper.clone(),
    )
    .unwrap();
    let r = anthropic.chat(&ask("hello there")).await.unwrap();
    assert_eq!(r.content, "Hi there!");
    let r = anthropic.chat_stream(&ask("hello there"), &mut |_| {}).await.unwrap();
    assert_eq!(r.content, "Hi there!");
    let r = anthropic.chat(&ask("please write the file")).await.unwrap();
    assert_eq!(r.tool_calls[0].arguments, json!({"path": "a.txt", "content": "hi"}), "{r:?}");
}
