//! `GET /api/v1/runs/{id}/events`: the run's events as Server-Sent Events, read from the
//! journal by the same [`Follower`] `l9 run` and `l9 watch` use. Each message's `id` is the
//! event's stable id; a client that reconnects with `Last-Event-ID` gets what came after it
//! and nothing twice. The stream ends when the run ends (or waits for a person: the last
//! event says so).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use l9_engine::Engine;
use l9_engine::events::Follower;
use l9_engine::runtime::IdScope;

use crate::error::ApiError;

struct Feed {
    engine: Engine,
    follower: Follower,
    queue: VecDeque<l9_engine::events::Event>,
    /// Skip events up to this id (a reconnect).
    after: Option<String>,
    done: bool,
}

pub(crate) async fn stream(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let run = engine.resolve_id(&id, IdScope::Runs).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|s| !s.is_empty());
    let feed =
        Feed { engine, follower: Follower::new(run), queue: VecDeque::new(), after, done: false };
    let s = futures_util::stream::unfold(feed, |mut f| async move {
        loop {
            if let Some(e) = f.queue.pop_front() {
                let data = serde_json::to_string(&e).unwrap_or_default();
                let kind = serde_json::to_value(&e.event)
                    .ok()
                    .and_then(|v| v["event"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "event".into());
                let msg = Event::default().id(e.id.clone()).event(kind).data(data);
                return Some((Ok(msg), f));
            }
            if f.done {
                return None;
            }
            match f.follower.poll(&f.engine).await {
                Ok(events) => {
                    for e in events {
                        match &f.after {
                            Some(a) if *a == e.id => f.after = None,
                            Some(_) => {}
                            None => f.queue.push_back(e),
                        }
                    }
                }
                Err(_) => f.done = true,
            }
            if f.follower.finished() || f.follower.waiting().is_some() {
                f.done = true;
                continue;
            }
            if f.queue.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()))
}
