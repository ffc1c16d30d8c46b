//! The dashboard in a real browser: Debian's headless Chromium driven over WebDriver
//! (`chromedriver`, which `scripts/test` installs). It watches a scripted run's tasks appear
//! and change state live, reads the evidence per requirement, and answers an approval gate
//! with the page's button; screenshots go to `target/test-artifacts/dashboard/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Server, call, start};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    driver: Child,
    at: SocketAddr,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The programs, from `scripts/test`'s exports or Debian's paths; `None` outside CI when
/// they are not installed (with CI=true their absence fails the test).
fn programs() -> Option<(String, String)> {
    let driver =
        std::env::var("L9_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let chromium = std::env::var("L9_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let there = std::path::Path::new(&driver).exists() && std::path::Path::new(&chromium).exists();
    if !there {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
            "chromium or chromedriver is missing but CI=true: scripts/test installs them"
        );
        eprintln!(
            "skipping the browser test: {driver} or {chromium} is not installed (scripts/test installs them)"
        );
        return None;
    }
    Some((driver, chromium))
}

async fn wd(b: &Browser, method: &str, path: &str, body: Option<Value>) -> Value {
    let raw = body.map(|v| v.to_string().into_bytes());
    let (status, v) =
        call(b.at, method, &format!("/session/{}{path}", b.session), None, raw.as_deref()).await;
    assert!(status < 300 || path.ends_with("/element"), "webdriver {method} {path}: {status} {v}");
    v
}

async fn open_browser() -> Option<Browser> {
    let (driver, chromium) = programs()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let at: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = Instant::now();
    while tokio::net::TcpStream::connect(at).await.is_err()
        || call(at, "GET", "/status", None, None).await.0 != 200
    {
        assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": chromium,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
    }}}});
    let raw = caps.to_string().into_bytes();
    let (status, v) = call(at, "POST", "/session", None, Some(&raw)).await;
    assert_eq!(status, 200, "a browser session: {v}");
    let session = v["value"]["sessionId"].as_str().unwrap().to_string();
    Some(Browser { driver: child, at, session })
}

/// The element a CSS selector finds now, if any.
async fn find(b: &Browser, css: &str) -> Option<String> {
    let v = wd(b, "POST", "/element", Some(json!({"using": "css selector", "value": css}))).await;
    v["value"][ELEMENT].as_str().map(str::to_string)
}

async fn wait_for(b: &Browser, css: &str, what: &str) -> String {
    let start = Instant::now();
    loop {
        if let Some(e) = find(b, css).await {
            return e;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "the page never showed {what} ({css})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn screenshot(b: &Browser, name: &str) -> PathBuf {
    use base64_png::decode;
    let v = wd(b, "GET", "/screenshot", None).await;
    let png = decode(v["value"].as_str().unwrap());
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

/// Base64 (standard alphabet) decoding for the screenshots, without another dependency.
mod base64_png {
    pub fn decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()).collect();
        let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
        for chunk in bytes.chunks(4) {
            let mut n = 0u32;
            for (i, c) in chunk.iter().enumerate() {
                n |= u32::from(val(*c)) << (18 - 6 * i);
            }
            let b = n.to_be_bytes();
            out.extend_from_slice(&b[1..chunk.len()]);
        }
        out
    }
}

/// What a script run in the page returns.
async fn script(b: &Browser, js: &str) -> Value {
    wd(b, "POST", "/execute/sync", Some(json!({"script": js, "args": []}))).await["value"].clone()
}

/// The text of the element a selector finds, once it holds `want`.
async fn wait_text(b: &Browser, css: &str, want: &str) -> String {
    let start = Instant::now();
    loop {
        let js =
            format!("const e = document.querySelector({css:?}); return e ? e.textContent : null;");
        if let Some(t) = script(b, &js).await.as_str().filter(|t| t.contains(want)) {
            return t.to_string();
        }
        assert!(start.elapsed() < Duration::from_secs(90), "{css} never held {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(b: &Browser, element: &str) {
    wd(b, "POST", &format!("/element/{element}/click"), Some(json!({}))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_run_live_and_answers_an_approval() {
    let Some(b) = open_browser().await else { return };
    let s: Server = start().await;
    // A slower adder (its gate waits a second) so the run is seen while it goes.
    let spec = std::fs::read_to_string(s.root.join("spec.md")).unwrap().replace(
        "test \"$(sh add.sh 2 2)\" = 4\n```",
        "sleep 1; test \"$(sh add.sh 2 2)\" = 4\n```",
    );
    std::fs::write(s.root.join("slow.md"), spec).unwrap();
    let url = format!("http://{}/?access_token={}", s.addr, s.token);
    wd(&b, "POST", "/url", Some(json!({"url": url}))).await;
    wait_for(&b, "#status", "the status").await;
    let (st, r) = call(
        s.addr,
        "POST",
        "/api/v1/runs",
        Some(&s.token),
        Some(br#"{"spec": "slow.md", "trials": 100}"#),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let run = r["run"].as_str().unwrap().to_string();
    let row = wait_for(&b, &format!("tr[data-run=\"{run}\"]"), "the run in the list").await;
    click(&b, &row).await;
    // Tasks appear while the run goes (a row without a final state), then finish.
    wait_for(&b, "#tasks tr[data-task-name]:not([data-state])", "a task in progress").await;
    let live = screenshot(&b, "run-in-progress").await;
    wait_for(
        &b,
        "#tasks tr[data-task-name=\"verify:all\"][data-state=\"succeeded\"]",
        "the verify task succeeded",
    )
    .await;
    wait_for(&b, "#evidence tr[data-requirement=\"REQ-1\"]", "evidence for REQ-1").await;
    let done = screenshot(&b, "run-succeeded").await;
    // The rest of the run page: stage timeline, task graph with states, gate history with
    // output, lineage, the forecast next to what happened, DORA.
    for stage in ["understand", "simulate", "choose", "execute", "reflect"] {
        wait_for(&b, &format!("#stages .bar.done[data-stage=\"{stage}\"]"), stage).await;
    }
    wait_for(&b, "#graph g[data-node=\"implement:script\"].succeeded", "the graph's state").await;
    wait_for(&b, "#graph line", "the graph's dependency edges").await;
    let gates = wait_text(&b, "#gates details[data-gates=\"implement:script\"]", "pass").await;
    assert!(gates.contains("implement:script: ") && gates.contains("exit 0"), "{gates}");
    wait_text(&b, "#lineage [data-lineage=\"complete\"]", "lineage complete ✓").await;
    let cost = wait_text(&b, "#forecast tr[data-row=\"cost\"]", "$").await;
    assert!(cost.matches('$').count() == 2, "forecast and actual cost: {cost}");
    wait_text(&b, "#dora tr[data-row=\"lead_time\"]", "min").await;
    let details = screenshot(&b, "run-details").await;
    // An escalation's button resolves the step through the API. (The event is handed to the
    // page directly — pausing a real step takes a killed worker — and the task is real.)
    let engine = l9_engine::Engine::open(&s.root, None).await.unwrap();
    let (paused, _) = engine
        .enqueue("l9.approval", json!({"what": "stands in for a paused task"}), &Default::default())
        .await
        .unwrap();
    let js = format!(
        "runEvent({{event: 'escalation', id: 'esc-test', at: new Date().toISOString(), task: '{paused}', \
         reason: 'paused: escalated: step `step:r1/merge#0` started but has no outcome', resolve: ''}}); \
         document.querySelector('#escalations tr[data-escalation=\"{paused}\"] button[data-resolve=\"rerun\"]').click(); return 1;"
    );
    script(&b, &js).await;
    let start = Instant::now();
    loop {
        let sigs = engine.task_detail(paused).await.unwrap().signals;
        if let Some(r) = sigs.iter().find(|s| s.name == "resolve") {
            assert_eq!(
                (r.payload["key"].clone(), r.payload["action"].clone()),
                (json!("step:r1/merge#0"), json!("rerun"))
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the button sent no resolve");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The world model: items per pack, the executor that ran the tasks, calibration, item
    // search; the as-of slider moved before the run shows the world without it.
    let world = format!("http://{}/?access_token={}#world", s.addr, s.token);
    wd(&b, "POST", "/url", Some(json!({"url": world}))).await;
    wait_for(&b, "#packs tr[data-pack]", "items per pack").await;
    let shown = "return ['runs', 'world', 'memory'].filter(v => getComputedStyle(document.querySelector('#' + v + '-view')).display !== 'none');";
    assert_eq!(script(&b, shown).await, json!(["world"]), "only the world page shows");
    wait_for(&b, "#executors tr[data-executor]", "an executor's success rate").await;
    wait_for(&b, "#world-items tr[data-item]", "world items about retries").await;
    wait_text(&b, "#calibration", "forecast(s) scored").await;
    let world_now = screenshot(&b, "world").await;
    script(&b, "const s = document.querySelector('#as-of'); s.value = 0; s.dispatchEvent(new Event('input')); return 1;").await;
    wait_text(&b, "#calibration", "no run has been scored").await;
    let rows = script(&b, "return document.querySelectorAll('#executors tbody tr').length;").await;
    assert_eq!(rows, json!(0), "before the run no executor had a record");
    assert_ne!(
        script(&b, "return document.querySelector('#as-of-label').textContent;").await,
        json!("now")
    );
    // Memory search.
    let memory = format!("http://{}/?access_token={}#memory", s.addr, s.token);
    wd(&b, "POST", "/url", Some(json!({"url": memory}))).await;
    script(&b, "document.querySelector('#memory-q').value = 'adder'; document.querySelector('#memory-search button').click(); return 1;").await;
    wait_for(&b, "#memory-hits tr[data-packet]", "memory hits").await;
    assert_eq!(script(&b, shown).await, json!(["memory"]), "only the memory page shows");
    let memory_shot = screenshot(&b, "memory").await;
    let runs = format!("http://{}/?access_token={}#runs", s.addr, s.token);
    wd(&b, "POST", "/url", Some(json!({"url": runs}))).await;
    let (_, view) = call(s.addr, "GET", &format!("/api/v1/runs/{run}"), Some(&s.token), None).await;
    assert_eq!(view["state"], "succeeded");
    // An approval gate, answered with the page's button.
    let (task, _) = engine
        .enqueue("l9.approval", json!({"what": "deploy to staging"}), &Default::default())
        .await
        .unwrap();
    let button =
        wait_for(&b, &format!("button[data-approve=\"{task}\"]"), "the approve button").await;
    let asking = screenshot(&b, "approval-waiting").await;
    click(&b, &button).await;
    let start = Instant::now();
    loop {
        let t = engine.task(task).await.unwrap();
        if t.state == l9_engine::TaskState::Succeeded {
            assert_eq!(t.result.unwrap()["approved"], true);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the approval never went on: {:?}",
            t.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A run whose spec leaves a question open waits at its plan's approval gate: the run page
    // shows the gate with the question, and its button lets the run go on to the end.
    let open = std::fs::read_to_string(s.root.join("spec.md")).unwrap().replace(
        "sum of its two arguments.\n",
        "sum of its two arguments.\n- REQ-2: What `add.sh` prints on overflow is TBD.\n",
    );
    std::fs::write(s.root.join("open.md"), open).unwrap();
    let body = br#"{"spec": "open.md", "trials": 100}"#;
    let (st, r) = call(s.addr, "POST", "/api/v1/runs", Some(&s.token), Some(body)).await;
    assert_eq!(st, 201, "{r}");
    let gated = r["run"].as_str().unwrap().to_string();
    // "Waiting for you" lists the run's gate; a click on it opens the run.
    let waits = format!("#run-gates tr[data-run=\"{gated}\"]");
    let listed = wait_text(&b, &waits, "1 open question(s)").await;
    assert!(listed.contains(":script"), "{listed}");
    let row = wait_for(&b, &waits, "the gated run's gate").await;
    click(&b, &row).await;
    let asked = wait_text(&b, "#approval-gates tr[data-gate]", "TBD").await;
    assert!(asked.contains("Q-"), "{asked}");
    // While the run waits, its graph is the chosen plan's (the simulation's best), not the
    // first candidate's.
    let js = "const v = lastView; const best = v.simulation.ranked[0].name; \
              const plan = v.stages.candidates.find(c => c.plan.strategy.replace(/_/g, '-') === best).plan; \
              const drawn = [...document.querySelectorAll('#graph g[data-node]')].map(g => g.dataset.node).sort(); \
              return [drawn, plan.tasks.map(t => t.id).sort()];";
    let graph = script(&b, js).await;
    assert_eq!(graph[0], graph[1], "{graph}");
    let gate_shot = screenshot(&b, "run-approval-gate").await;
    let (_, view) =
        call(s.addr, "GET", &format!("/api/v1/runs/{gated}"), Some(&s.token), None).await;
    assert_eq!(view["state"], "waiting", "{view}");
    let button =
        wait_for(&b, "#approval-gates button[data-approve-gate]", "the gate's approve").await;
    click(&b, &button).await;
    let start = Instant::now();
    loop {
        let (_, v) =
            call(s.addr, "GET", &format!("/api/v1/runs/{gated}"), Some(&s.token), None).await;
        if v["state"] == "succeeded" {
            assert_eq!(v["approval_gates"], json!([]));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "the gated run: {}", v["state"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for p in [&live, &done, &details, &world_now, &memory_shot, &asking, &gate_shot] {
        assert!(std::fs::metadata(p).unwrap().len() > 1000, "{} is a real screenshot", p.display());
    }
    eprintln!("screenshots in {}", live.parent().unwrap().display());
    let _ = call(b.at, "DELETE", &format!("/session/{}", b.session), None, None).await;
}
