//! `l9-server` — `l9 serve`: L9's JSON API over HTTP (tier T5).
//!
//! Routes under `/api/v1` (runs: list, start, show, cancel, approve/reject, events as
//! Server-Sent Events resumable with `Last-Event-ID`; tasks; memory; world; IR) and
//! `/openapi.json`, generated from the same table that registers the routes (`api::Api`);
//! and the dashboard at `/` (`dashboard.rs`).
//! Every route requires the project's token (`.l9/token`, made by `l9 init`, mode 0600) as
//! `Authorization: Bearer TOKEN` (or `?access_token=` for browsers' event streams), compared
//! in constant time. Errors are one JSON shape with the CLI's codes: `{"error": {"code",
//! "message", "help"}}`. Request bodies are limited to 1 MiB; a request gets 30 s. The
//! server runs no work itself unless started with `--worker`. It reaches the runtimes only
//! through `l9-engine`.

mod api;
mod auth;
pub mod bench;
mod cors;
mod dashboard;
mod error;
mod events;
mod openapi;

use std::net::SocketAddr;

pub use api::router;
pub use error::ApiError;

/// How `l9 serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// Also run a worker in this process (otherwise `l9 worker` processes do the work).
    pub worker: bool,
}

/// Connections waiting to be accepted. The default (`std`'s 128) overflowed when 200
/// dashboard or event-stream clients connected at once: the kernel dropped their SYNs and
/// they came back a second later (`l9 bench serve` showed p99 ≈ 1 s; `nstat` showed
/// `ListenOverflows`). The kernel caps it at `net.core.somaxconn`.
pub const ACCEPT_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Serves until `shutdown` turns true. Binds first, so a taken port is an error at once.
pub async fn serve(
    engine: l9_engine::Engine,
    opts: ServeOptions,
    shutdown: tokio::sync::watch::Receiver<bool>,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), String> {
    let token = engine.api_token().map_err(|e| e.to_string())?;
    let listener = listen(opts.addr).map_err(|e| format!("cannot listen on {}: {e}", opts.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(tx) = bound {
        let _ = tx.send(local);
    }
    let streams = l9_mcp::CancellationToken::new();
    // `/mcp` takes requests naming this server as their Host (any, when bound to every
    // interface) and pages of its own origin (the dashboard's).
    let hosts = match opts.addr.ip() {
        ip if ip.is_unspecified() => vec!["*".to_string()],
        ip => vec![ip.to_string(), local.to_string()],
    };
    let origins = vec![format!("http://{local}"), format!("http://localhost:{}", local.port())];
    let mcp = l9_mcp::HttpOptions { hosts, origins };
    let app = router(engine.clone(), token, streams.clone(), mcp);
    let mut stop = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        // Open MCP streams end with the server.
        streams.cancel();
    });
    if opts.worker {
        let w = engine.clone();
        let rx = shutdown.clone();
        let worker = tokio::spawn(async move {
            let opts = l9_engine::WorkerOptions {
                id: l9_engine::runtime::default_worker_id(),
                queues: vec!["run".into(), "default".into()],
                concurrency: 4,
                ..Default::default()
            };
            w.run_worker(w.registry(), opts, rx).await
        });
        let r = server.await.map_err(|e| e.to_string());
        let _ = worker.await;
        return r;
    }
    server.await.map_err(|e| e.to_string())
}
