//! `l9 bench ingest`: reading and storing a repository's history, side by side in the same
//! run with `git log --numstat -M` on the same history (the floor: git itself) and, when it is
//! installed, PyDriller iterating the same commits with their file stats. Rounds alternate
//! (git, L9, git, L9, …) so a noisy machine slows both; medians are reported. The code
//! index is measured the same way on the repository's working tree, next to reading and
//! hashing its files and to universal-ctags.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time and runs git by definition

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use l9_ingest::git::{self, ReadOptions};
use l9_ingest::{IngestOptions, ingest_git};
use l9_memory::{HashEmbedder, MemoryService};
use l9_store::Store;
use l9_types::{SeededRng, SystemClock};
use serde::Serialize;

use crate::{BenchError, Result};

#[derive(Debug, Clone, Serialize)]
pub struct IngestBench {
    pub repo: String,
    pub commits: usize,
    pub rounds: usize,
    /// Seconds, medians over the rounds.
    pub git_log_numstat_s: f64,
    pub l9_read_s: f64,
    /// A first ingest into a fresh store, without SZZ.
    pub l9_ingest_s: f64,
    /// SZZ (blame of every fix) on its own.
    pub l9_szz_s: f64,
    pub fixes_blamed: usize,
    /// A second ingest of the unchanged repository.
    pub l9_reingest_s: f64,
    /// `None`: PyDriller is not installed (bench/pydriller.sh installs it).
    pub pydriller_s: Option<f64>,
    pub backend: String,
    /// The code index on the same repository's working tree.
    pub code: CodeBench,
}

/// The code index: parsing every source file, a first `ingest_code` into the round's store
/// (symbols stored with embeddings), a second of the unchanged tree; next to reading and
/// hashing the same files (the floor) and universal-ctags over them when it is installed.
#[derive(Debug, Clone, Serialize)]
pub struct CodeBench {
    pub files: usize,
    pub lines: u64,
    pub definitions: usize,
    /// Seconds, medians over the rounds.
    pub read_hash_s: f64,
    pub l9_parse_s: f64,
    pub l9_ingest_s: f64,
    pub l9_reindex_s: f64,
    /// `None`: no `ctags` on the PATH.
    pub ctags_s: Option<f64>,
}

impl CodeBench {
    pub fn lines_per_s(&self, s: f64) -> f64 {
        self.lines as f64 / s.max(1e-9)
    }
}

fn read_hash(root: &Path, files: &[String]) -> f64 {
    let t = Instant::now();
    for f in files {
        if let Ok(b) = std::fs::read(root.join(f)) {
            std::hint::black_box(blake3::hash(&b));
        }
    }
    t.elapsed().as_secs_f64()
}

/// universal-ctags over the same files (line numbers on), output discarded.
fn ctags(root: &Path, files: &[String]) -> Option<f64> {
    let list = files.join("\n");
    let t = Instant::now();
    let mut c = Command::new("ctags")
        .args(["--fields=+n", "-L", "-", "-f", "/dev/null"])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    {
        use std::io::Write as _;
        c.stdin.take()?.write_all(list.as_bytes()).ok()?;
    }
    let ok = c.wait().ok()?.success();
    ok.then(|| t.elapsed().as_secs_f64())
}

impl IngestBench {
    pub fn per_s(&self, s: f64) -> f64 {
        self.commits as f64 / s.max(1e-9)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn git_log(repo: &Path) -> Result<(usize, f64)> {
    let t = Instant::now();
    let out = Command::new("git")
        .args(["log", "--numstat", "-M", "--format=%H %P"])
        .current_dir(repo)
        .output()
        .map_err(|e| BenchError::Io(format!("git log: {e}")))?;
    let s = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(BenchError::Failed(format!(
            "git log: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let commits = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| l.len() >= 40 && l[..40].iter().all(u8::is_ascii_hexdigit))
        .count();
    Ok((commits, s))
}

const PYDRILLER: &str = "import sys, time\nfrom pydriller import Repository\nt = time.time()\nn = 0\nfor c in Repository(sys.argv[1], only_in_branch=None).traverse_commits():\n    for f in c.modified_files:\n        f.added_lines, f.deleted_lines\n    n += 1\nprint(n, time.time() - t)\n";

fn pydriller(repo: &Path, python: &str) -> Option<f64> {
    let out = Command::new(python).args(["-c", PYDRILLER]).arg(repo).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout);
    s.split_whitespace().nth(1)?.parse().ok()
}

async fn fresh_memory(store: Arc<dyn Store>) -> Result<MemoryService> {
    Ok(MemoryService::open(
        store.clone(),
        Arc::new(HashEmbedder::new(store.dims())),
        Arc::new(SystemClock),
        Arc::new(SeededRng::from_seed(1)),
    )
    .await?)
}

/// Runs the benchmark; `fresh` makes an empty store for each round's ingest.
pub async fn ingest_bench<F, Fut>(
    repo: &Path,
    rounds: usize,
    python: Option<&str>,
    fresh: F,
) -> Result<IngestBench>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<Arc<dyn Store>>>,
{
    let rounds = rounds.max(1);
    let quiet = |_: &str, _: usize, _: usize| {};
    let no_szz = IngestOptions { no_szz: true, ..Default::default() };
    let (mut gits, mut reads, mut ingests, mut reingests) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (root, files) = l9_ingest::code::index::source_files(repo)
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    let (mut floors, mut parses, mut code_ingests, mut reindexes, mut ctagss) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut code_shape = (0, 0, 0);
    let mut commits = 0;
    let mut backend = String::new();
    for round in 0..rounds {
        let (n, s) = git_log(repo)?;
        commits = n;
        gits.push(s);
        let t = Instant::now();
        let path = repo.to_owned();
        let h = tokio::task::spawn_blocking(move || git::read(&path, &ReadOptions::default()))
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        reads.push(t.elapsed().as_secs_f64());
        if h.commits.len() != n {
            return Err(BenchError::Failed(format!(
                "L9 read {} commits, git log {n}",
                h.commits.len()
            )));
        }
        let store = fresh(round).await?;
        backend = format!("{:?}", store.backend()).to_lowercase();
        let memory = fresh_memory(store).await?;
        let t = Instant::now();
        ingest_git(&memory, repo, &no_szz, &quiet)
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        ingests.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let again = ingest_git(&memory, repo, &no_szz, &quiet)
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        reingests.push(t.elapsed().as_secs_f64());
        if again.read != 0 {
            return Err(BenchError::Failed(format!("a second ingest read {} commits", again.read)));
        }
        // The code index, alternating with its floor and ctags.
        floors.push(read_hash(&root, &files));
        if let Some(c) = ctags(&root, &files) {
            ctagss.push(c);
        }
        let (r, f) = (root.clone(), files.clone());
        let t = Instant::now();
        let (index, _) =
            tokio::task::spawn_blocking(move || l9_ingest::code::index::scan(&r, &f, None, 0))
                .await
                .map_err(|e| BenchError::Failed(e.to_string()))?
                .map_err(|e| BenchError::Failed(e.to_string()))?;
        parses.push(t.elapsed().as_secs_f64());
        code_shape = (index.files.len(), index.lines(), index.definitions());
        let t = Instant::now();
        l9_ingest::code::ingest_code(&memory, repo, 0)
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        code_ingests.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let again = l9_ingest::code::ingest_code(&memory, repo, 0)
            .await
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        reindexes.push(t.elapsed().as_secs_f64());
        if again.scan.parsed != 0 {
            return Err(BenchError::Failed(format!(
                "a second code ingest parsed {} files",
                again.scan.parsed
            )));
        }
    }
    let path = repo.to_owned();
    let t = Instant::now();
    let blamed = tokio::task::spawn_blocking(move || -> Result<usize> {
        let h = git::read(&path, &ReadOptions::default())
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        let m = l9_ingest::szz::blame_fixes(&path, &h.commits, 0)
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        Ok(m.introduced.len())
    })
    .await
    .map_err(|e| BenchError::Failed(e.to_string()))??;
    let szz = t.elapsed().as_secs_f64();
    let pydriller_s = python.and_then(|p| pydriller(repo, p));
    Ok(IngestBench {
        repo: repo.display().to_string(),
        commits,
        rounds,
        git_log_numstat_s: median(gits),
        l9_read_s: median(reads),
        l9_ingest_s: median(ingests),
        l9_szz_s: szz,
        fixes_blamed: blamed,
        l9_reingest_s: median(reingests),
        pydriller_s,
        backend,
        code: CodeBench {
            files: code_shape.0,
            lines: code_shape.1,
            definitions: code_shape.2,
            read_hash_s: median(floors),
            l9_parse_s: median(parses),
            l9_ingest_s: median(code_ingests),
            l9_reindex_s: median(reindexes),
            ctags_s: (!ctagss.is_empty()).then(|| median(ctagss)),
        },
    })
}
