//! `GET /api/v1/runs/{id}/events`: the run's events as Server-Sent Events, read from the
//! journal by the engine's [`Follower`] — one per run, shared by every client of that run
//! ([`Hub`]): a hundred browsers on one run cost one journal reader, not a hundred. Each
//! message's `id` is the event's stable id; a client that reconnects with `Last-Event-ID`
//! gets what came after it and nothing twice. The stream ends when the run ends (or waits
//! for a person: the last event says so).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use l9_engine::Engine;
use l9_engine::events::{Event as RunEventRecord, Follower};
use l9_engine::runtime::IdScope;
use l9_types::TaskId;

use crate::api::AppState;
use crate::error::ApiError;

/// A run's events as read so far, shared by its clients.
pub(crate) struct Feed {
    events: RwLock<Vec<RunEventRecord>>,
    /// The run ended: no more events will come.
    done: AtomicBool,
    /// The run waits for a person (a stream ends there; a later one goes on).
    waiting: AtomicBool,
    clients: AtomicUsize,
    changed: tokio::sync::watch::Sender<usize>,
}

/// One [`Feed`] per run being watched.
#[derive(Default)]
pub(crate) struct Hub {
    feeds: Mutex<HashMap<TaskId, Arc<Feed>>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// Finished runs whose events are kept for late clients.
const KEEP_FINISHED: usize = 64;

impl Hub {
    /// The feed of `run`, started (one journal reader) if no one watches it yet.
    fn feed(self: &Arc<Self>, engine: &Engine, run: TaskId) -> Arc<Feed> {
        let mut feeds = self.feeds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = feeds.get(&run) {
            return f.clone();
        }
        if feeds.len() >= KEEP_FINISHED {
            feeds.retain(|_, f| {
                !f.done.load(Ordering::SeqCst) || f.clients.load(Ordering::SeqCst) > 0
            });
        }
        let (tx, _) = tokio::sync::watch::channel(0);
        let feed = Arc::new(Feed {
            events: RwLock::new(Vec::new()),
            done: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            clients: AtomicUsize::new(0),
            changed: tx,
        });
        feeds.insert(run, feed.clone());
        let (hub, f, e) = (self.clone(), feed.clone(), engine.clone());
        tokio::spawn(async move { read(hub, f, e, run).await });
        feed
    }
}

/// The one reader of a run's journal: polls while someone watches (and until the run ends),
/// then leaves the hub if the run has not ended, so a later client starts afresh.
async fn read(hub: Arc<Hub>, feed: Arc<Feed>, engine: Engine, run: TaskId) {
    let mut follower = Follower::new(run);
    let mut idle = 0u32;
    loop {
        match follower.poll(&engine).await {
            Ok(new) if !new.is_empty() => {
                let len = {
                    let mut ev =
                        feed.events.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                    ev.extend(new);
                    ev.len()
                };
                feed.changed.send_replace(len);
            }
            Ok(_) => {}
            Err(_) => {
                feed.done.store(true, Ordering::SeqCst);
            }
        }
        feed.waiting.store(follower.waiting().is_some(), Ordering::SeqCst);
        if follower.finished() {
            feed.done.store(true, Ordering::SeqCst);
        }
        if feed.done.load(Ordering::SeqCst) {
            feed.changed.send_modify(|_| {});
            return;
        }
        // Nobody has watched for a while (about 10 s): stop reading.
        idle = if feed.clients.load(Ordering::SeqCst) == 0 { idle + 1 } else { 0 };
        if idle > 50 {
            let mut feeds = hub.feeds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if feed.clients.load(Ordering::SeqCst) == 0 {
                feeds.remove(&run);
                return;
            }
        }
        if feed.waiting.load(Ordering::SeqCst) {
            feed.changed.send_modify(|_| {});
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One client's place in a feed.
struct Reader {
    feed: Arc<Feed>,
    next: usize,
    /// Skip events up to this id (a reconnect).
    after: Option<String>,
    rx: tokio::sync::watch::Receiver<usize>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.feed.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let run = state.engine.resolve_id(&id, IdScope::Runs).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|s| !s.is_empty());
    let feed = state.hub.feed(&state.engine, run);
    feed.clients.fetch_add(1, Ordering::SeqCst);
    let rx = feed.changed.subscribe();
    let reader = Reader { feed, next: 0, after, rx };
    let s = futures_util::stream::unfold(reader, |mut r| async move {
        loop {
            let next = {
                let ev = r.feed.events.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(a) = r.after.take() {
                    match ev.iter().position(|e| e.id == a) {
                        Some(i) => r.next = i + 1,
                        None => r.after = Some(a),
                    }
                }
                if r.after.is_none() { ev.get(r.next).cloned() } else { None }
            };
            if let Some(e) = next {
                r.next += 1;
                let data = serde_json::to_string(&e).unwrap_or_default();
                let kind = serde_json::to_value(&e.event)
                    .ok()
                    .and_then(|v| v["event"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "event".into());
                return Some((Ok(Event::default().id(e.id.clone()).event(kind).data(data)), r));
            }
            if r.feed.done.load(Ordering::SeqCst) || r.feed.waiting.load(Ordering::SeqCst) {
                return None;
            }
            if r.rx.changed().await.is_err() {
                return None;
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()))
}
