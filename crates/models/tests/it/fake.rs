//! A fake model server: replies are queued per test; every request body is recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::Value;

#[derive(Debug, Clone)]
pub enum Reply {
    Json(u16, Value),
    Headers(u16, Vec<(&'static str, &'static str)>, String),
    Raw(u16, String),
    /// Server-sent events, each `(event name, data)`; written as separate body chunks.
    Sse(Vec<(Option<&'static str>, String)>),
}

#[derive(Debug, Default)]
pub struct Shared {
    pub replies: Mutex<Vec<Reply>>,
    pub requests: Mutex<Vec<(String, HeaderMap, Value)>>,
}

pub struct Fake {
    pub base: String,
    pub shared: Arc<Shared>,
}

impl Fake {
    pub async fn start(replies: Vec<Reply>) -> Fake {
        let shared =
            Arc::new(Shared { replies: Mutex::new(replies), requests: Mutex::new(Vec::new()) });
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .route("/v1/messages", post(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake { base: format!("http://{addr}"), shared }
    }

    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().iter().map(|r| r.2.clone()).collect()
    }

    pub fn headers(&self, i: usize) -> HeaderMap {
        self.shared.requests.lock().unwrap()[i].1.clone()
    }
}

async fn handle(
    State(s): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    s.requests.lock().unwrap().push((uri.path().to_string(), headers, json));
    let reply = {
        let mut r = s.replies.lock().unwrap();
        if r.is_empty() { Reply::Raw(500, "no reply queued".into()) } else { r.remove(0) }
    };
    match reply {
        Reply::Json(status, v) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        Reply::Headers(status, hs, body) => {
            let mut b = Response::builder().status(status);
            for (k, v) in hs {
                b = b.header(k, v);
            }
            b.body(Body::from(body)).unwrap()
        }
        Reply::Raw(status, text) => Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .body(Body::from(text))
            .unwrap(),
        Reply::Sse(events) => {
            let chunks: Vec<Result<String, std::io::Error>> = events
                .into_iter()
                .map(|(event, data)| {
                    Ok(match event {
                        Some(e) => format!("event: {e}\ndata: {data}\n\n"),
                        None => format!("data: {data}\n\n"),
                    })
                })
                .collect();
            let stream = futures_util::stream::iter(chunks).then(|c| async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                c
            });
            Response::builder()
                .status(200)
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

use futures_util::StreamExt as _;

/// Records the waits a provider asks for instead of sleeping.
#[derive(Debug, Default)]
pub struct RecordingSleeper(pub Mutex<Vec<Duration>>);

impl l9_models::Sleeper for RecordingSleeper {
    fn sleep(
        &self,
        d: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        self.0.lock().unwrap().push(d);
        Box::pin(async {})
    }
}
