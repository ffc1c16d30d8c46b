//! The OpenAI-compatible embedder against a fake server on 127.0.0.1 speaking the real
//! wire format.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use l9_memory::{Embedder, OpenAiEmbedder, OpenAiEmbedderConfig};
use serde_json::{Value, json};

#[derive(Clone)]
struct Fake {
    mode: &'static str,
    calls: Arc<AtomicUsize>,
}

async fn embeddings(
    State(f): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let n = f.calls.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "bad key"}})))
            .into_response();
    }
    if f.mode == "429-once" && n == 0 {
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down")
            .into_response();
    }
    if f.mode == "garbage" {
        return (StatusCode::OK, "{not json").into_response();
    }
    let inputs = body["input"].as_array().cloned().unwrap_or_default();
    let dims = if f.mode == "wrong-dims" { 3 } else { 4 };
    // Answer out of order: clients must sort by index.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| {
            let len = t.as_str().unwrap_or("").len() as f32;
            let v: Vec<f32> = (0..dims).map(|d| if d == 0 { len } else { 1.0 }).collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"]})).into_response()
}

async fn serve(mode: &'static str) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(Fake { mode, calls: calls.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), calls)
}

fn cfg(base: &str, key_env: &str) -> OpenAiEmbedderConfig {
    OpenAiEmbedderConfig {
        base_url: base.into(),
        model: "fake-embed".into(),
        api_key_env: Some(key_env.into()),
        dims: 4,
        timeout: Duration::from_secs(5),
        batch: 2,
        setting_prefix: "memory.openai".into(),
    }
}

fn key(k: &'static str) -> impl Fn(&str) -> Option<String> {
    move |var| (var == "TEST_KEY").then(|| k.to_owned())
}

fn embedder(base: &str, k: &'static str) -> l9_memory::Result<OpenAiEmbedder> {
    OpenAiEmbedder::with_env(cfg(base, "TEST_KEY"), &key(k))
}

#[tokio::test]
async fn embeds_in_batches_sorted_by_index_and_normalised() {
    let (base, calls) = serve("ok").await;
    let e = embedder(&format!("{base}/v1/"), "sk-test").unwrap();
    let texts: Vec<String> = ["a", "bbb", "", "cc", "dddd"].iter().map(|s| s.to_string()).collect();
    let out = e.embed(&texts).await.unwrap();
    assert_eq!(out.len(), 5);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "4 non-empty texts in batches of 2");
    assert!(out[2].iter().all(|x| *x == 0.0), "empty text gets no call and a zero vector");
    // Longer text → larger first component after normalisation, in input order.
    assert!(out[4][0] > out[1][0] && out[1][0] > out[3][0] && out[3][0] > out[0][0]);
    for v in [&out[0], &out[1], &out[3], &out[4]] {
        assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    }
    assert_eq!(e.name(), "openai:fake-embed");
}

#[tokio::test]
async fn retries_429_then_succeeds() {
    let (base, calls) = serve("429-once").await;
    let e = embedder(&base, "sk-test").unwrap();
    e.embed(&["x".to_string()]).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn errors_name_the_setting_to_fix() {
    let (base, _) = serve("ok").await;
    // Missing API key: caught before any call.
    let err = OpenAiEmbedder::with_env(cfg(&base, "L9_KEY_NEVER_SET"), &|_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("L9_KEY_NEVER_SET") && err.contains("memory.openai.api_key_env"), "{err}");
    // Wrong key.
    let e = embedder(&base, "sk-wrong").unwrap();
    let err = e.embed(&["x".to_string()]).await.unwrap_err().to_string();
    assert!(
        err.contains("refused the API key") && err.contains("memory.openai.api_key_env"),
        "{err}"
    );
    // Wrong dimension.
    let (base2, _) = serve("wrong-dims").await;
    let e = embedder(&base2, "sk-test").unwrap();
    let err = e.embed(&["x".to_string()]).await.unwrap_err().to_string();
    assert!(err.contains("3-dimensional") && err.contains("memory.dims"), "{err}");
    // Malformed body.
    let (base3, _) = serve("garbage").await;
    let e = embedder(&base3, "sk-test").unwrap();
    let err = e.embed(&["x".to_string()]).await.unwrap_err().to_string();
    assert!(err.contains("not an embeddings list"), "{err}");
    // Unreachable endpoint (a port nobody listens on).
    let e = embedder("http://127.0.0.1:9", "sk-test").unwrap();
    let err = e.embed(&["x".to_string()]).await.unwrap_err().to_string();
    assert!(err.contains("cannot reach") && err.contains("memory.openai.base_url"), "{err}");
    // Bad URL scheme.
    let err = embedder("ftp://x", "sk-test").unwrap_err().to_string();
    assert!(err.contains("memory.openai.base_url"), "{err}");
}
