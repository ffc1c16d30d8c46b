//! `l9 memory import` of a large file on SQLite with a model embedder embeds it ahead of the
//! write: another command writes to the store while the model works, instead of waiting for
//! the import's write lock (up to the 30 s busy timeout, then failing).

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use super::*;

/// What the endpoint does beside answering: called with the number (from 0) of each request
/// whose first text is an imported note, before it is answered.
type Hook = Arc<dyn Fn(usize) + Send + Sync>;

/// An OpenAI-style `/v1/embeddings` endpoint on loopback (a thread per connection): each text
/// gets a vector of 384 from its bytes; `hook` runs on the import's requests.
fn embeddings_server(hook: Hook) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let (hook, seen) = (hook.clone(), seen.clone());
            std::thread::spawn(move || answer(s, &*hook, &seen));
        }
    });
    format!("http://{addr}")
}

/// While the import's second request waits, runs `l9 memory put` in `proj` and keeps its exit
/// status in `kept` (`None`: still waiting after 15 s).
fn put_meanwhile(proj: &Path, k: usize, kept: &Mutex<Option<Option<bool>>>) {
    if k != 1 {
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["memory", "put", "--kind", "note", "--text", "written meanwhile"])
        .current_dir(proj)
        .env_remove("L9_DB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = None;
    for _ in 0..150 {
        if let Some(st) = child.try_wait().unwrap() {
            status = Some(st.success());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    *kept.lock().unwrap() = Some(status);
}

fn answer(
    mut s: std::net::TcpStream,
    hook: &(dyn Fn(usize) + Send + Sync),
    seen: &std::sync::atomic::AtomicUsize,
) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut len = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    let req: Value = serde_json::from_slice(&body).unwrap();
    let texts: Vec<String> = req["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_string())
        .collect();
    if texts.first().is_some_and(|t| t.starts_with("imported note")) {
        hook(seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    }
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut v = vec![0.0f32; 384];
            for (k, b) in t.bytes().enumerate() {
                v[(usize::from(b) * 7 + k) % 384] += 1.0;
            }
            jsonv!({"index": i, "embedding": v})
        })
        .collect();
    let out = jsonv!({"data": data, "model": "m"}).to_string();
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
        out.len()
    );
}

/// A project whose memory embeds through the endpoint `hook` watches, and an import file
/// of `n` notes; returns the project and the file.
fn model_project(dir: &Path, hook: Hook, n: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let proj = dir.join("proj");
    std::fs::create_dir_all(proj.join(".l9")).unwrap();
    let base = embeddings_server(hook);
    std::fs::write(
        proj.join(".l9/l9.toml"),
        format!(
            "[memory]\nembedder = \"openai\"\ndims = 384\nopenai.base_url = \"{base}\"\n\
             openai.model = \"m\"\nopenai.api_key_env = \"\"\n"
        ),
    )
    .unwrap();
    ok(&proj, &["init"]);
    let lines: String = (0..n)
        .map(|i| {
            format!("{{\"kind\":\"note\",\"text\":\"imported note {i} on topic {}\"}}\n", i % 13)
        })
        .collect();
    let file = proj.join("big.jsonl");
    std::fs::write(&file, lines).unwrap();
    (proj, file)
}

#[test]
fn a_large_import_with_a_model_does_not_hold_other_writers_off() {
    let dir = l9_test_support::temp_dir();
    let meanwhile = Arc::new(Mutex::new(None));
    let kept = meanwhile.clone();
    let at = dir.path().join("proj");
    let hook: Hook = Arc::new(move |k| put_meanwhile(&at, k, &kept));
    let n = 2 * 2048 + 100;
    let (proj, _) = model_project(dir.path(), hook, n);
    let out = ok(&proj, &["memory", "import", "big.jsonl"]);
    assert!(out.contains(&format!("{n}")), "{out}");
    let status = *meanwhile.lock().unwrap();
    assert_eq!(status, Some(Some(true)), "`l9 memory put` during the import");
    let found =
        json(&proj, &["memory", "search", "written meanwhile", "-k", "1", "--mode", "text"]);
    assert_eq!(found[0]["packet"]["text"], "written meanwhile", "{found}");
    let last = json(&proj, &["memory", "search", &format!("imported note {}", n - 1), "-k", "1"]);
    assert!(last[0]["packet"]["text"].as_str().unwrap().starts_with("imported note"), "{last}");
}

/// The file changes while the import embeds it ahead (its third read) — in the middle of that
/// read, or after it and before the write reads it again: either way the import stops with
/// L9-IMPORT-014 and writes nothing.
#[test]
fn a_file_changed_while_it_is_embedded_ahead_writes_nothing() {
    let n = 2 * 2048 + 100;
    // 256 texts a request: requests 0..=16; the last is answered after every line was read.
    for at_request in [1, 16] {
        let dir = l9_test_support::temp_dir();
        let file = dir.path().join("proj/big.jsonl");
        let hook: Hook = Arc::new(move |k| {
            if k == at_request {
                let text = std::fs::read_to_string(&file).unwrap();
                let changed = text.replace("imported note 4000 on", "imported note 4000 in");
                assert_ne!(changed, text);
                std::fs::write(&file, changed).unwrap();
            }
        });
        let (proj, _) = model_project(dir.path(), hook, n);
        let stored = || ok(&proj, &["memory", "export"]).lines().count();
        let before = stored();
        let e = fails(&proj, &["memory", "import", "big.jsonl"], 3);
        assert!(e.contains("L9-IMPORT-014") && e.contains("nothing was written"), "{e}");
        assert_eq!(stored(), before, "changed at request {at_request}: nothing written");
    }
}
