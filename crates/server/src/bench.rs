//! `l9 bench serve`: what the HTTP API costs on loopback. A fresh project with `packets`
//! memory packets and one finished run; then memory search and run show, each `requests`
//! times over HTTP/1.1 keep-alive connections (`connections` at once) next to the same
//! engine calls made in-process by as many concurrent tasks, and `clients` event-stream
//! clients at once reading the run's whole stream next to the same number of in-process
//! followers. Ratios are HTTP over in-process, measured side by side in one process.

#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use l9_engine::Engine;
use l9_engine::events::Follower;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Latencies of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub name: String,
    pub n: usize,
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub http: Timing,
    pub in_process: Timing,
    /// HTTP p50 over in-process p50.
    pub p50_ratio: f64,
    /// In-process throughput over HTTP throughput.
    pub throughput_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServeBench {
    pub packets: usize,
    pub connections: usize,
    pub clients: usize,
    pub events_per_stream: usize,
    pub rows: Vec<Row>,
}

fn timing(name: &str, mut lat: Vec<Duration>, wall: Duration) -> Timing {
    lat.sort();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Timing {
        name: name.to_string(),
        n: lat.len(),
        per_s: lat.len() as f64 / wall.as_secs_f64().max(1e-9),
        p50_ms: q(0.5),
        p99_ms: q(0.99),
    }
}

fn row(http: Timing, inp: Timing) -> Row {
    Row {
        p50_ratio: http.p50_ms / inp.p50_ms.max(1e-6),
        throughput_ratio: inp.per_s / http.per_s.max(1e-9),
        http,
        in_process: inp,
    }
}

/// A keep-alive HTTP/1.1 connection that reads `Content-Length` bodies.
struct Conn {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    token: String,
}

impl Conn {
    async fn open(addr: SocketAddr, token: &str) -> std::io::Result<Conn> {
        let (r, w) = TcpStream::connect(addr).await?.into_split();
        Ok(Conn { r: BufReader::new(r), w, token: token.to_string() })
    }

    async fn get(&mut self, path: &str) -> std::io::Result<u16> {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: l9\r\nAuthorization: Bearer {}\r\n\r\n",
            self.token
        );
        self.w.write_all(req.as_bytes()).await?;
        let mut line = String::new();
        self.r.read_line(&mut line).await?;
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        self.r.read_exact(&mut body).await?;
        Ok(status)
    }
}

/// Reads one whole event stream; returns how many events came.
async fn read_stream(addr: SocketAddr, token: &str, run: &str) -> std::io::Result<usize> {
    let (r, mut w) = TcpStream::connect(addr).await?.into_split();
    let req = format!(
        "GET /api/v1/runs/{run}/events HTTP/1.1\r\nHost: l9\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    w.write_all(req.as_bytes()).await?;
    let mut lines = BufReader::new(r).lines();
    let mut n = 0;
    while let Some(l) = lines.next_line().await? {
        if l.starts_with("id:") {
            n += 1;
        }
    }
    Ok(n)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs the benchmark in a fresh project under `dir`.
pub async fn serve_bench(
    dir: &Path,
    packets: usize,
    requests: usize,
    connections: usize,
    clients: usize,
) -> Result<ServeBench, String> {
    let ex_spec = "# Adder\n\n## Script\n- REQ-1: The repository MUST contain `add.sh`, which prints the sum of its two arguments.\n\n## Acceptance criteria\n- REQ-1 holds when `sh add.sh 2 2` prints 4.\n\n```sh\ntest \"$(sh add.sh 2 2)\" = 4\n```\n";
    let script = "rules:\n  - { name: design, when: { role: coder, step: \"r1/coder/model#1\", prompt: \"Write the design record\" }, tool_calls: [{ name: write_file, arguments: { path: docs/design/architecture.md, content: \"## Context\\nx\\n## Decision\\ny\\n## Consequences\\nz\\n\" } }] }\n  - { name: tests, when: { role: coder, step: \"r1/coder/model#1\", prompt: \"Write the tests for\" }, tool_calls: [{ name: write_file, arguments: { path: tests/script.sh, content: \"test \\\"$(sh add.sh 2 2)\\\" = 4\\n\" } }] }\n  - { name: code, when: { role: coder, step: \"r1/coder/model#1\" }, tool_calls: [{ name: write_file, arguments: { path: add.sh, content: \"echo $(($1 + $2))\\n\" } }] }\n  - { name: done, when: { role: coder }, reply: done }\n  - { name: review, when: { role: reviewer }, reply: '{\"verdict\": \"approve\"}' }\n";
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::write(dir.join("spec.md"), ex_spec).map_err(err)?;
    std::fs::write(dir.join("provider.yaml"), script).map_err(err)?;
    Engine::init(dir, None).await.map_err(err)?;
    let engine = Engine::open(dir, None).await.map_err(err)?;
    // The memory: packets of varied text.
    let words = [
        "queue", "lease", "vector", "journal", "gate", "merge", "budget", "spec", "lineage",
        "worker",
    ];
    for i in 0..packets {
        let text = format!(
            "{} {} note {i} about {}",
            words[i % 10],
            words[(i / 10) % 10],
            words[(i * 7) % 10]
        );
        let d = l9_types::PacketDraft::new("note").text(text).actor("bench");
        engine.memory().put(d, vec![]).await.map_err(err)?;
    }
    let (stop, rx) = tokio::sync::watch::channel(false);
    let (btx, brx) = tokio::sync::oneshot::channel();
    let opts = crate::ServeOptions { addr: "127.0.0.1:0".parse().map_err(err)?, worker: true };
    let server = tokio::spawn(crate::serve(engine.clone(), opts, rx, Some(btx)));
    let addr = brx.await.map_err(err)?;
    let token = engine.api_token().map_err(err)?;
    // One finished run for run show and the event stream.
    let request = l9_engine::stages::RunRequest {
        spec: dir.join("spec.md").display().to_string(),
        repo: Some(
            engine.fresh_repository(&dir.join("spec.md")).await.map_err(err)?.display().to_string(),
        ),
        script: Some(dir.join("provider.yaml").display().to_string()),
        trials: 200,
        ..Default::default()
    };
    let run = engine.start_run(&request).await.map_err(err)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = engine.task(run).await.map_err(err)?.state;
        if s == l9_engine::TaskState::Succeeded {
            break;
        }
        if Instant::now() > deadline
            || matches!(s, l9_engine::TaskState::Dead | l9_engine::TaskState::Cancelled)
        {
            return Err(format!("the benchmark's run ended {s:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run_s = run.to_string();
    let mut rows = Vec::new();
    let queries: Vec<String> =
        (0..requests).map(|i| format!("{} {}", words[i % 10], words[(i * 3) % 10])).collect();
    // Memory search.
    let http = http_load(
        addr,
        &token,
        connections,
        queries
            .iter()
            .map(|q| format!("/api/v1/memory/search?q={}&k=10", q.replace(' ', "+")))
            .collect(),
    )
    .await?;
    let inp = inproc_load(&engine, connections, queries.clone(), |e, q| async move {
        let query = l9_engine::SearchQuery {
            text: q,
            filter: Default::default(),
            k: 10,
            mode: l9_engine::SearchMode::Hybrid,
        };
        e.memory().search(&query).await.map(|h| h.len()).map_err(err)
    })
    .await?;
    rows.push(row(timing("memory search", http.0, http.1), timing("memory search", inp.0, inp.1)));
    // Run show.
    let n_show = (requests / 4).max(10);
    let http = http_load(
        addr,
        &token,
        connections,
        (0..n_show).map(|_| format!("/api/v1/runs/{run_s}")).collect(),
    )
    .await?;
    let inp = inproc_load(&engine, connections, vec![run; n_show], |e, r| async move {
        // The same work the route does: the view, written as JSON.
        let v: Value = e.run_view(r).await.map_err(err)?;
        Ok(json!(v).to_string().len())
    })
    .await?;
    rows.push(row(timing("run show", http.0, http.1), timing("run show", inp.0, inp.1)));
    // The event stream: `clients` readers at once, each the whole stream.
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (t, r) = (token.clone(), run_s.clone());
        set.spawn(async move {
            let s = Instant::now();
            let n = read_stream(addr, &t, &r).await;
            (s.elapsed(), n)
        });
    }
    let mut lat = Vec::new();
    let mut events = 0;
    while let Some(j) = set.join_next().await {
        let (d, n) = j.map_err(err)?;
        events = n.map_err(err)?;
        lat.push(d);
    }
    let http_t = timing("event stream (whole run)", lat, t0.elapsed());
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let e = engine.clone();
        set.spawn(async move {
            let s = Instant::now();
            let mut f = Follower::new(run);
            let mut n = 0;
            while !f.finished() {
                n += f.poll(&e).await.map(|v| v.len()).unwrap_or(0);
            }
            (s.elapsed(), n)
        });
    }
    let mut lat = Vec::new();
    while let Some(j) = set.join_next().await {
        lat.push(j.map_err(err)?.0);
    }
    rows.push(row(http_t, timing("event stream (whole run)", lat, t0.elapsed())));
    let _ = stop.send(true);
    let _ = server.await;
    Ok(ServeBench { packets, connections, clients, events_per_stream: events, rows })
}

/// `items` split over `tasks` concurrent workers, each made by `worker` and handling its
/// share in order: every item's latency, and the wall time of all.
async fn fan_out<T, W, Fut>(
    items: Vec<T>,
    tasks: usize,
    worker: W,
) -> Result<(Vec<Duration>, Duration), String>
where
    T: Clone + Send + 'static,
    W: Fn(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Duration>, String>> + Send + 'static,
{
    let per = items.len().div_ceil(tasks.max(1)).max(1);
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for chunk in items.chunks(per) {
        set.spawn(worker(chunk.to_vec()));
    }
    let mut all = Vec::new();
    while let Some(j) = set.join_next().await {
        all.extend(j.map_err(err)??);
    }
    Ok((all, t0.elapsed()))
}

/// `paths` fetched over `connections` keep-alive connections at once.
async fn http_load(
    addr: SocketAddr,
    token: &str,
    connections: usize,
    paths: Vec<String>,
) -> Result<(Vec<Duration>, Duration), String> {
    fan_out(paths, connections, |chunk| {
        let token = token.to_string();
        async move {
            let mut c = Conn::open(addr, &token).await.map_err(err)?;
            let mut lat = Vec::new();
            for p in chunk {
                let t = Instant::now();
                let status = c.get(&p).await.map_err(err)?;
                if status != 200 {
                    return Err(format!("GET {p}: {status}"));
                }
                lat.push(t.elapsed());
            }
            Ok(lat)
        }
    })
    .await
}

/// `items` handled by `f` in `tasks` concurrent tasks (as many as the HTTP connections).
async fn inproc_load<T, F, Fut>(
    engine: &Engine,
    tasks: usize,
    items: Vec<T>,
    f: F,
) -> Result<(Vec<Duration>, Duration), String>
where
    T: Clone + Send + 'static,
    F: Fn(Engine, T) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<usize, String>> + Send,
{
    fan_out(items, tasks, |chunk| {
        let (e, f) = (engine.clone(), f.clone());
        async move {
            let mut lat = Vec::new();
            for item in chunk {
                let t = Instant::now();
                std::hint::black_box(f(e.clone(), item).await?);
                lat.push(t.elapsed());
            }
            Ok(lat)
        }
    })
    .await
}
