use std::sync::Arc;
use std::time::Duration;

use l9_models::{
    AnthropicProvider, ChatRequest, HttpConfig, JsonOutput, Message, ModelError, OpenAiProvider,
    Prices, Provider, StreamEvent, ToolCall, ToolSpec, chat_json,
};
use serde_json::{Value, json};

use crate::fake::{Fake, RecordingSleeper, Reply};

fn env(var: &str) -> Option<String> {
    (var == "TEST_KEY").then(|| "sk-test".to_string())
}

fn cfg(base: &str) -> HttpConfig {
    let mut c = HttpConfig::new("main", base, "gpt-test");
    c.api_key_env = Some("TEST_KEY".into());
    c.prices = Prices { input_per_mtok: 2_500_000, output_per_mtok: 10_000_000 };
    c.max_retries = 2;
    c
}

fn openai(base: &str) -> (OpenAiProvider, Arc<RecordingSleeper>) {
    let sleeper = Arc::new(RecordingSleeper::default());
    (OpenAiProvider::with_sleeper(cfg(base), &env, sleeper.clone()).unwrap(), sleeper)
}

fn request() -> ChatRequest {
    let mut r = ChatRequest::new(vec![Message::system("You code."), Message::user("Add a file")]);
    r.tools = vec![ToolSpec {
        name: "write_file".into(),
        description: "Write a file".into(),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    }];
    r
}

#[tokio::test]
async fn openai_chat_with_tool_calls_usage_and_cost() {
    let fake = Fake::start(vec![Reply::Json(
        200,
        json!({
            "model": "gpt-test-2025",
            "choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "write_file", "arguments": "{\"path\":\"a.txt\"}"}}
            ]}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 200}
        }),
    )])
    .await;
    let (p, _) = openai(&fake.base);
    let mut req = request();
    req.messages.push(Message::assistant(
        "",
        vec![ToolCall {
            id: "c0".into(),
            name: "list_dir".into(),
            arguments: json!({"path": "."}),
        }],
    ));
    req.messages.push(Message::tool("c0", "src/"));
    let r = p.chat(&req).await.unwrap();
    assert_eq!(
        r.tool_calls,
        vec![ToolCall {
            id: "call_1".into(),
            name: "write_file".into(),
            arguments: json!({"path": "a.txt"})
        }]
    );
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (1000, 200));
    assert_eq!(r.cost_micro_usd, 2500 + 2000, "$2.50/Mtok in, $10/Mtok out");
    assert_eq!(
        (r.model.as_str(), r.provider.as_str(), r.finish_reason.as_str()),
        ("gpt-test-2025", "main", "tool_calls")
    );
    // The wire format: bearer key, tools as functions, the assistant's tool call and the tool result.
    assert_eq!(fake.headers(0)["authorization"], "Bearer sk-test");
    let body = &fake.requests()[0];
    assert_eq!(body["tools"][0]["function"]["name"], "write_file");
    assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"path\":\".\"}");
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "tool_call_id": "c0", "content": "src/"})
    );
    assert!(body.get("stream").is_none());
}

fn chunk(delta: Value) -> (Option<&'static str>, String) {
    (None, json!({"model": "gpt-test", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]}).to_string())
}

#[tokio::test]
async fn openai_stream_assembles_interleaved_tool_call_deltas() {
    let events = vec![
        chunk(json!({"role": "assistant", "content": "Writing "})),
        chunk(json!({"content": "two files."})),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "write_file", "arguments": ""}}]}),
        ),
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "write_file", "arguments": "{\"pa"}}]}),
        ),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"path\": \"a"}}]})),
        chunk(json!({"tool_calls": [{"index": 1, "function": {"arguments": "th\":\"b\"}"}}]})),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": ".rs\"}"}}]})),
        (
            None,
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
                .to_string(),
        ),
        (
            None,
            json!({"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 20}})
                .to_string(),
        ),
        (None, "[DONE]".into()),
    ];
    let fake = Fake::start(vec![Reply::Sse(events)]).await;
    let (p, _) = openai(&fake.base);
    let mut seen = Vec::new();
    let r = p.chat_stream(&request(), &mut |e| seen.push(e)).await.unwrap();
    assert_eq!(r.content, "Writing two files.");
    assert_eq!(
        r.tool_calls,
        vec![
            ToolCall {
                id: "call_a".into(),
                name: "write_file".into(),
                arguments: json!({"path": "a.rs"})
            },
            ToolCall {
                id: "call_b".into(),
                name: "write_file".into(),
                arguments: json!({"path": "b"})
            },
        ]
    );
    assert_eq!(
        (r.usage.input_tokens, r.usage.output_tokens, r.finish_reason.as_str()),
        (50, 20, "tool_calls")
    );
    assert_eq!(seen[0], StreamEvent::Text("Writing ".into()));
    assert!(seen.contains(&StreamEvent::ToolCallDelta {
        index: 1,
        id: None,
        name: None,
        arguments: "th\":\"b\"}".into()
    }));
    let body = &fake.requests()[0];
    assert_eq!(
        (body["stream"].clone(), body["stream_options"]["include_usage"].clone()),
        (json!(true), json!(true))
    );
}

#[tokio::test]
async fn a_dropped_stream_is_an_error_not_a_short_answer() {
    let fake = Fake::start(vec![Reply::Sse(vec![chunk(json!({"content": "half an ans"}))])]).await;
    let (p, _) = openai(&fake.base);
    let e = p.chat_stream(&request(), &mut |_| {}).await.unwrap_err();
    assert!(
        matches!(&e, ModelError::Protocol { provider, message } if provider == "main" && message.contains("ended before [DONE]")),
        "{e}"
    );
}

#[tokio::test]
async fn retries_honour_retry_after_then_give_up_naming_the_setting() {
    let fake = Fake::start(vec![
        Reply::Headers(429, vec![("retry-after", "7")], "slow down".into()),
        Reply::Headers(503, vec![("retry-after-ms", "250")], "busy".into()),
        Reply::Json(
            200,
            json!({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}),
        ),
    ])
    .await;
    let (p, sleeper) = openai(&fake.base);
    let r = p.chat(&request()).await.unwrap();
    assert_eq!(r.content, "ok");
    assert_eq!(
        *sleeper.0.lock().unwrap(),
        vec![Duration::from_secs(7), Duration::from_millis(250)]
    );

    let fake = Fake::start(vec![
        Reply::Raw(500, "a".into()),
        Reply::Raw(500, "b".into()),
        Reply::Raw(502, "c".into()),
    ])
    .await;
    let (p, _) = openai(&fake.base);
    let e = p.chat(&request()).await.unwrap_err();
    assert!(
        matches!(&e, ModelError::Unavailable { setting, message, .. } if setting == "providers.main.max_retries" && message.contains("3 times")),
        "{e}"
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn bad_answers_and_bad_settings_get_one_clear_message() {
    let fake = Fake::start(vec![
        Reply::Raw(200, "{not json".into()),
        Reply::Raw(401, "bad key".into()),
        Reply::Raw(404, "no model".into()),
    ])
    .await;
    let (p, _) = openai(&fake.base);
    let e = p.chat(&request()).await.unwrap_err().to_string();
    assert!(e.starts_with("provider main: the answer is not JSON"), "{e}");
    let e = p.chat(&request()).await.unwrap_err().to_string();
    assert!(e.contains("refused the API key") && e.contains("providers.main.api_key_env"), "{e}");
    let e = p.chat(&request()).await.unwrap_err().to_string();
    assert!(
        e.contains("\"gpt-test\" is unknown there") && e.contains("providers.main.model"),
        "{e}"
    );

    // Missing key, bad URL, unreachable port.
    let e = OpenAiProvider::new(
        HttpConfig { api_key_env: Some("NOPE_KEY".into()), ..cfg("http://127.0.0.1:1") },
        &env,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "provider main: the API key environment variable NOPE_KEY is not set; export it, or set api_key_env = \"\" for a server that needs no key (setting: providers.main.api_key_env)"
    );
    let e = OpenAiProvider::new(cfg("ftp://x"), &env).unwrap_err().to_string();
    assert!(e.contains("must start with http://") && e.contains("providers.main.base_url"), "{e}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (p, _) = openai(&format!("http://127.0.0.1:{port}"));
    let e = p.chat(&request()).await.unwrap_err().to_string();
    assert!(e.contains("cannot reach") && e.contains("(check providers.main.base_url)"), "{e}");
}

#[tokio::test]
async fn json_answers_are_validated_here_and_sent_as_response_format() {
    let schema = json!({"type": "object", "properties": {"verdict": {"enum": ["approve", "changes"]}}, "required": ["verdict"], "additionalProperties": false});
    let fake = Fake::start(vec![
        Reply::Json(200, json!({"choices": [{"message": {"content": "```json\n{\"verdict\": \"approve\"}\n```"}, "finish_reason": "stop"}]})),
        Reply::Json(200, json!({"choices": [{"message": {"content": "{\"verdict\": \"maybe\"}"}, "finish_reason": "stop"}]})),
    ])
    .await;
    let (p, _) = openai(&fake.base);
    let mut req = request();
    req.json = Some(JsonOutput { name: "review".into(), schema: schema.clone() });
    let (v, _) = chat_json(&p, &req).await.unwrap();
    assert_eq!(v, json!({"verdict": "approve"}));
    assert_eq!(fake.requests()[0]["response_format"]["json_schema"]["schema"], schema);
    let e = chat_json(&p, &req).await.unwrap_err().to_string();
    assert!(e.contains("does not match the schema review") && e.contains("$.verdict"), "{e}");
}

fn anthropic(base: &str) -> AnthropicProvider {
    let mut c = cfg(base);
    c.name = "claude".into();
    AnthropicProvider::with_sleeper(c, &env, Arc::new(RecordingSleeper::default())).unwrap()
}

#[tokio::test]
async fn anthropic_messages_with_tool_use_and_tool_results() {
    let fake = Fake::start(vec![Reply::Json(
        200,
        json!({"model": "claude-test", "stop_reason": "tool_use", "usage": {"input_tokens": 30, "output_tokens": 9},
               "content": [{"type": "text", "text": "Let me write it."}, {"type": "tool_use", "id": "toolu_1", "name": "write_file", "input": {"path": "a.rs"}}]}),
    )])
    .await;
    let p = anthropic(&fake.base);
    let mut req = request();
    req.messages.push(Message::assistant(
        "",
        vec![ToolCall { id: "t0".into(), name: "list_dir".into(), arguments: json!({}) }],
    ));
    req.messages.push(Message::tool("t0", "src/"));
    let r = p.chat(&req).await.unwrap();
    assert_eq!(r.content, "Let me write it.");
    assert_eq!(r.tool_calls[0].arguments, json!({"path": "a.rs"}));
    assert_eq!((r.finish_reason.as_str(), r.usage.input_tokens), ("tool_calls", 30));
    let h = fake.headers(0);
    assert_eq!(
        (h["x-api-key"].to_str().unwrap(), h["anthropic-version"].to_str().unwrap()),
        ("sk-test", "2023-06-01")
    );
    let body = &fake.requests()[0];
    assert_eq!(body["system"], "You code.");
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(
        body["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": "t0", "name": "list_dir", "input": {}})
    );
    assert_eq!(
        body["messages"][2],
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t0", "content": "src/"}]})
    );
}

#[tokio::test]
async fn anthropic_stream_assembles_text_and_partial_json() {
    let ev = |name: &'static str, v: Value| (Some(name), v.to_string());
    let events = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"model": "claude-test", "usage": {"input_tokens": 12}}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "On it"}}),
        ),
        ev("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_9", "name": "run", "input": {}}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"cmd\": \"car"}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "go test\"}"}}),
        ),
        ev("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 15}}),
        ),
        ev("message_stop", json!({"type": "message_stop"})),
    ];
    let fake =
        Fake::start(vec![Reply::Sse(events.clone()), Reply::Sse(events[..6].to_vec())]).await;
    let p = anthropic(&fake.base);
    let r = p.chat_stream(&request(), &mut |_| {}).await.unwrap();
    assert_eq!(r.content, "On it");
    assert_eq!(
        r.tool_calls,
        vec![ToolCall {
            id: "toolu_9".into(),
            name: "run".into(),
            arguments: json!({"cmd": "cargo test"})
        }]
    );
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (12, 15));
    let e = p.chat_stream(&request(), &mut |_| {}).await.unwrap_err().to_string();
    assert!(e.contains("ended before message_stop"), "{e}");
}
