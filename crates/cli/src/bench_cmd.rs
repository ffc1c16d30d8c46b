//! `l9 bench …`

use std::path::Path;
use std::sync::Arc;

use clap::Subcommand;
use l9_engine::Store;

use crate::error::CliError;
use crate::output::Out;

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Simulation: Monte Carlo trials of a synthetic plan through the kernel's scheduler on
    /// one thread, next to drawing the same samples without scheduling.
    Sim {
        /// Tasks in the synthetic plan (at least 3).
        #[arg(long, default_value_t = 500)]
        tasks: usize,
        /// Monte Carlo trials.
        #[arg(long, default_value_t = 10_000)]
        trials: u32,
    },
    /// IR Engine: compile (and check) every spec under DIR; per-file time and MB/s next to
    /// parsing alone, then the specs' requirements (cycled to 1,000) classified by the learned
    /// model next to the hand lexicon (best of --repeat runs).
    Ir {
        /// A spec file, or a directory searched for specs (.md, .feature, .json, .yaml, .txt).
        dir: std::path::PathBuf,
        /// Compiles per file; the best is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// A MiniLM model directory: also time sentence embeddings of the same 1,000
        /// requirement sentences (each distinct one once), packed batches next to candle's
        /// padded BertModel (needs a build with `--features local-embed`).
        #[arg(long, value_name = "DIR")]
        embeddings: Option<std::path::PathBuf>,
    },
    /// Long-term knowledge: a repository's history read and ingested (fresh store, no SZZ),
    /// SZZ on its own and a second ingest of the unchanged repository, next to `git log
    /// --numstat -M` on the same history in the same run (rounds alternate; medians) and
    /// PyDriller when its Python can import it (bench/pydriller.sh installs one); then the code
    /// index (parse, ingest, re-index) next to reading the files and universal-ctags. A
    /// temporary SQLite store, or fresh schemas of the --db PostgreSQL database.
    Ingest {
        /// The repository (e.g. a clone of a bundle under ../shared/corpora/git/).
        #[arg(long)]
        repo: std::path::PathBuf,
        /// Rounds of git, then L9.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// The Python that runs PyDriller (skipped when it cannot import pydriller).
        #[arg(long, default_value = "python3")]
        python: String,
    },
    /// Memory substrate: a bulk load (one atomic write, handed over in parts of 10,000 so no
    /// process holds the whole load) next to one transaction per packet and, on PostgreSQL,
    /// one COPY of the same rows; the vector index build timed on its own;
    /// further ingest in batches; hybrid and vector search p50/p95, ANN recall@10, the quality of
    /// hybrid's vector half (recall@50, top 10 against an exact half); peak
    /// memory. Runs on a fresh temporary SQLite file, or in a fresh schema of the --db
    /// PostgreSQL database (dropped afterwards).
    Memory {
        /// Packets to ingest.
        #[arg(long, default_value_t = 100_000)]
        packets: usize,
        /// Search queries to time.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Keep the SQLite database in DIR (for inspection) instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        keep: Option<std::path::PathBuf>,
    },
    /// Learning: a family of related specs run in sequence with scripted coders that get it
    /// right first time only with the constraint an earlier run learned in their prompt,
    /// some runs given an unreachable endpoint instead; the same runs with learning off
    /// next to them. Prints first-gate failures per run and the forecast Brier score per
    /// executor; fails unless learning cut first-gate failures and learned nothing from the
    /// injected failures.
    Learning {
        /// Specs in the sequence (four tools, in variants).
        #[arg(long, default_value_t = 20)]
        specs: usize,
        /// Every Nth run gets an unreachable model endpoint (0: none).
        #[arg(long, default_value_t = 6)]
        inject_every: usize,
        /// Keep the two projects in DIR (for inspection) instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        keep: Option<std::path::PathBuf>,
    },
    /// The HTTP API (`l9 serve`) on loopback: requests/s and p50/p99 for memory search and
    /// run show over keep-alive connections, and concurrent event-stream clients each reading
    /// a whole run's stream, next to the same engine calls made in-process (the API's
    /// overhead as a ratio). Temporary project unless --keep.
    Serve {
        /// Memory packets to search.
        #[arg(long, default_value_t = 2_000)]
        packets: usize,
        /// Memory searches (run show gets a quarter as many).
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Concurrent event-stream clients.
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// Keep the project in DIR instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        keep: Option<std::path::PathBuf>,
    },
    /// Task queue: jobs/s for claim + complete one at a time and in batches, next to raw-SQL
    /// baselines on the same database. Temporary SQLite file, or a fresh schema of --db.
    Queue {
        /// Jobs for the one-at-a-time run.
        #[arg(long, default_value_t = 1_000)]
        single: usize,
        /// Jobs for the batched run.
        #[arg(long, default_value_t = 50_000)]
        jobs: usize,
        /// Jobs claimed and completed per call in the batched run.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Concurrent claimers in the batched run, each on its own connection; the raw-SQL
        /// batched floor runs with as many. PostgreSQL only: SQLite has one writer, so more
        /// than 1 is refused there.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// SQLite: sync every commit (synchronous=FULL) instead of NORMAL.
        #[arg(long)]
        sqlite_full: bool,
    },
    /// Durable workflows: journaled steps/s for one workflow and for N concurrent ones,
    /// next to committed single-row inserts (the disk's durable-write ceiling) and to the
    /// rows a step's entry is stored in, written by raw SQL straight into tables shaped like
    /// the store's, one transaction per step (what the schema alone costs; L9 writes a
    /// step to its journal's tail and files those rows in bulk).
    Workflow {
        /// Steps of the single workflow (each concurrent workflow runs a quarter of this).
        #[arg(long, default_value_t = 1_000)]
        steps: usize,
        /// Concurrent workflows in the second run.
        #[arg(long, default_value_t = 16)]
        workflows: usize,
        /// SQLite: sync every commit (synchronous=FULL) instead of NORMAL.
        #[arg(long)]
        sqlite_full: bool,
    },
}

async fn bench_store(
    db: Option<&str>,
    dir: &Path,
    full: bool,
) -> Result<(Arc<dyn Store>, Option<l9_bench::stores::PgBenchStore>), CliError> {
    match db {
        Some(url) if url.starts_with("postgres") => {
            let pg = l9_bench::stores::PgBenchStore::open(url).await?;
            Ok((pg.store(), Some(pg)))
        }
        Some(other) => Err(CliError::input(format!(
            "--db {other:?}: this benchmark uses a temporary SQLite file by default; pass --db only for PostgreSQL"
        ))),
        None => Ok((l9_bench::stores::sqlite_with(dir, "bench.db", full).await?, None)),
    }
}

/// The raw-SQL baseline on the same database as the store under test.
fn baseline<'a>(
    pg: &'a Option<l9_bench::stores::PgBenchStore>,
    dir: &'a Path,
    full: bool,
) -> l9_bench::tasks::Baseline<'a> {
    match pg {
        Some(p) => l9_bench::tasks::Baseline::Postgres(p.pg()),
        None => l9_bench::tasks::Baseline::Sqlite { dir, full },
    }
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "n/a".into(),
    }
}

fn tempdir() -> Result<tempfile::TempDir, CliError> {
    tempfile::Builder::new()
        .prefix("l9-bench-")
        .tempdir()
        .map_err(|e| CliError::input(format!("cannot create a temporary directory: {e}")))
}

pub(crate) async fn run(
    cmd: BenchCommand,
    _root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    match cmd {
        BenchCommand::Ir { dir, repeat, embeddings } => {
            crate::ir_cmd::bench(&dir, repeat, embeddings.as_deref(), out)
        }
        BenchCommand::Serve { packets, requests, connections, clients, keep } => {
            if requests == 0 || connections == 0 || clients == 0 {
                return Err(CliError::input(
                    "--requests, --connections and --clients must be at least 1",
                ));
            }
            let tmp = tempfile::tempdir()
                .map_err(|e| CliError::input(format!("cannot make a temporary directory: {e}")))?;
            let dir = keep.unwrap_or_else(|| tmp.path().to_path_buf());
            let b = l9_server::bench::serve_bench(&dir, packets, requests, connections, clients)
                .await
                .map_err(CliError::input)?;
            out.value(&b, || {
                let mut s = vec![format!(
                    "serve: {} packets, {} keep-alive connections, {} event-stream clients ({} events each)",
                    b.packets, b.connections, b.clients, b.events_per_stream
                )];
                s.push(format!("{:<26} {:>10} {:>9} {:>9}   {:>10} {:>9} {:>9}   {:>9} {:>11}", "operation", "HTTP /s", "p50 ms", "p99 ms", "in-proc /s", "p50 ms", "p99 ms", "p50 ratio", "thr. ratio"));
                for r in &b.rows {
                    s.push(format!(
                        "{:<26} {:>10.0} {:>9.2} {:>9.2}   {:>10.0} {:>9.2} {:>9.2}   {:>8.2}x {:>10.2}x",
                        r.http.name, r.http.per_s, r.http.p50_ms, r.http.p99_ms,
                        r.in_process.per_s, r.in_process.p50_ms, r.in_process.p99_ms,
                        r.p50_ratio, r.throughput_ratio
                    ));
                }
                s.push("ratios: HTTP p50 over in-process p50; in-process throughput over HTTP throughput".into());
                s.join("\n")
            })
        }
        BenchCommand::Learning { specs, inject_every, keep } => {
            if specs == 0 {
                return Err(CliError::input("--specs must be at least 1"));
            }
            let tmp = tempfile::tempdir()
                .map_err(|e| CliError::input(format!("cannot make a temporary directory: {e}")))?;
            let dir = keep.unwrap_or_else(|| tmp.path().to_path_buf());
            let b = l9_engine::bench_learning::learning_bench(&dir, specs, inject_every).await?;
            let verdict = b.verdict();
            out.value(&b, || {
                let mut s = vec![format!(
                    "learning: {} related specs in sequence; runs {:?} get an unreachable endpoint (injected infrastructure failures)",
                    b.specs, b.injected
                )];
                s.push("run  spec          first-gate failures: learning on | off".to_string());
                for (on, off) in b.on.runs.iter().zip(&b.off.runs) {
                    let f = |r: &l9_engine::bench_learning::BenchRun| match r.first_gate_failures {
                        Some(n) => n.to_string(),
                        None if r.injected => format!("- (injected, {} delta(s) recorded)", r.deltas),
                        None => format!("- ({})", r.outcome),
                    };
                    s.push(format!("{:>3}  {:<12}  {:>22} | {}", on.n, on.spec, f(on), f(off)));
                }
                s.push(format!(
                    "first-gate failures in all: {} with learning, {} without",
                    b.on.first_gate_failures, b.off.first_gate_failures
                ));
                for (name, pass) in [("on", &b.on), ("off", &b.off)] {
                    for (e, (n, brier)) in &pass.brier {
                        s.push(format!("forecast Brier, learning {name}: {e} {brier:.3} over {n} run(s)"));
                    }
                }
                s.push(format!(
                    "learned from the injected failures: {} delta(s)",
                    b.on.learned_from_injected
                ));
                s.push(match &verdict {
                    Ok(()) => "verdict: learning cut first-gate failures and learned nothing from infrastructure failures".into(),
                    Err(e) => format!("verdict: FAILED — {e}"),
                });
                s.join("\n")
            })?;
            verdict.map_err(CliError::input)
        }
        BenchCommand::Sim { tasks, trials } => {
            if tasks < 3 || trials == 0 {
                return Err(CliError::input("--tasks must be at least 3 and --trials at least 1"));
            }
            let b = l9_bench::sim::run(tasks, trials).map_err(CliError::input)?;
            let per = b.simulate.as_secs_f64() * 1e9 / (b.trials as f64 * b.tasks as f64);
            out.value(&b, || {
                format!(
                    "sim: {} trials of a {}-task plan in {:.2} s ({:.0} ns per task-trial; target < 2 s)\nbaseline (same samples, no scheduler): {:.2} s; simulate/baseline = {:.1}x\nforecast: {:.0}% success, p90 makespan {:.1} h",
                    b.trials,
                    b.tasks,
                    b.simulate.as_secs_f64(),
                    per,
                    b.baseline.as_secs_f64(),
                    b.simulate.as_secs_f64() / b.baseline.as_secs_f64().max(1e-9),
                    b.success * 100.0,
                    b.makespan_p90_h
                )
            })
        }
        BenchCommand::Queue { single, jobs, batch, clients, sqlite_full } => {
            if single == 0 || jobs == 0 || batch == 0 {
                return Err(CliError::input("--single, --jobs and --batch must be at least 1"));
            }
            if !(1..=16).contains(&clients) {
                return Err(CliError::input("--clients must be between 1 and 16"));
            }
            if clients > 1 && !db.is_some_and(|u| u.starts_with("postgres")) {
                return Err(CliError::input(
                    "--clients above 1 needs --db postgres://…: SQLite has one writer, so \
                     concurrent claimers only take turns",
                ));
            }
            let tmp = tempdir()?;
            let (store, pg) = bench_store(db, tmp.path(), sqlite_full).await?;
            let baseline = baseline(&pg, tmp.path(), sqlite_full);
            let r = l9_bench::tasks::queue(store, baseline, single, jobs, batch, clients).await;
            if let Some(pg) = pg {
                pg.drop().await?;
            }
            let r = r?;
            out.value(&r, || {
                format!(
                    "l9 bench queue — {} backend\n\
                     claim + complete, one at a time   {:>9.0} jobs/s   raw SQL {:>9}   → {}\n\
                     claim + complete, batches of {:<5}{:>9.0} jobs/s   raw SQL {:>9}   → {}{}\n\
                     enqueue, batches of {:<14}{:>9.0} jobs/s\n\
                     durable single-row inserts (ceiling, same database): {:.0}/s",
                    r.backend,
                    r.single_jobs_per_s,
                    r.baseline_single_jobs_per_s.map_or("n/a".into(), |b| format!("{b:.0}/s")),
                    ratio(r.single_jobs_per_s, r.baseline_single_jobs_per_s),
                    r.batch,
                    r.batched_jobs_per_s,
                    r.baseline_batched_jobs_per_s.map_or("n/a".into(), |b| format!("{b:.0}/s")),
                    ratio(r.batched_jobs_per_s, r.baseline_batched_jobs_per_s),
                    if r.clients > 1 {
                        format!("   ({} claimers; the raw SQL as many)", r.clients)
                    } else {
                        String::new()
                    },
                    r.batch,
                    r.enqueue_jobs_per_s,
                    r.baseline_durable_inserts_per_s,
                )
            })
        }
        BenchCommand::Workflow { steps, workflows, sqlite_full } => {
            if steps < 4 || workflows == 0 || workflows > 256 {
                return Err(CliError::input(
                    "--steps must be at least 4 and --workflows between 1 and 256",
                ));
            }
            let tmp = tempdir()?;
            let (store, pg) = bench_store(db, tmp.path(), sqlite_full).await?;
            let baseline = baseline(&pg, tmp.path(), sqlite_full);
            let r = l9_bench::tasks::workflow(store, baseline, steps, workflows).await;
            if let Some(pg) = pg {
                pg.drop().await?;
            }
            let r = r?;
            out.value(&r, || {
                format!(
                    "l9 bench workflow — {} backend\n\
                     effectful steps (idempotent; each committed before the next step starts):\n\
                     \x20 one workflow, {} steps        {:>8.0} steps/s   committed inserts, 1 writer  {:>8.0}/s → {:.2}×\n\
                     \x20 {} workflows × {} steps      {:>8.0} steps/s   committed inserts, {} writers {:>8.0}/s → {:.2}×\n\
                     {}\
                     \x20 the same rows by raw SQL (tables shaped like the store's; one transaction per step):\n\
                     \x20   1 writer  {:>8.0} steps/s → L9 {:.2}×   {} writers {:>8.0} steps/s → L9 {:.2}×\n\
                     pure steps (journaled write-behind; flushed before any effect and before the task ends):\n\
                     \x20 one workflow, {} steps        {:>8.0} steps/s\n\
                     \x20 {} workflows × {} steps      {:>8.0} steps/s",
                    r.backend,
                    r.steps,
                    r.one_workflow_steps_per_s,
                    r.baseline_one_writer_inserts_per_s,
                    r.one_workflow_steps_per_s / r.baseline_one_writer_inserts_per_s.max(1e-9),
                    r.workflows,
                    r.steps_per_workflow,
                    r.concurrent_steps_per_s,
                    r.workflows,
                    r.baseline_concurrent_inserts_per_s,
                    r.concurrent_steps_per_s / r.baseline_concurrent_inserts_per_s.max(1e-9),
                    r.concurrent_steps_no_group_commit_per_s.map_or(String::new(), |u| format!(
                        "  same {} workflows, each append committed on its own (no group commit) {u:>8.0} steps/s → group commit {:.2}× ({:.1} entries per statement; {} of {} batches sent beside another, {} by their callers; a timed statement works {:.2} ms and waits {:.2} ms for its flush → {} lane(s); ended {}, {} mode changes)\n",
                        r.workflows,
                        r.concurrent_steps_per_s / u.max(1e-9),
                        r.group_commit_mean_entries.unwrap_or(1.0),
                        r.group_commit_overlapped.unwrap_or(0),
                        r.group_commit_batches.unwrap_or(0),
                        r.group_commit_bypassed.unwrap_or(0),
                        r.group_commit_work_ms.unwrap_or(0.0),
                        r.group_commit_wait_ms.unwrap_or(0.0),
                        r.group_commit_lanes.unwrap_or(1),
                        if r.group_commit_spread.unwrap_or(false) { "spreading appends over the lanes" } else { "grouping appends" },
                        r.group_commit_mode_switches.unwrap_or(0),
                    )),
                    r.baseline_one_writer_step_rows_per_s,
                    r.one_workflow_steps_per_s / r.baseline_one_writer_step_rows_per_s.max(1e-9),
                    r.workflows,
                    r.baseline_concurrent_step_rows_per_s,
                    r.concurrent_steps_per_s / r.baseline_concurrent_step_rows_per_s.max(1e-9),
                    r.steps,
                    r.one_workflow_pure_steps_per_s,
                    r.workflows,
                    r.steps_per_workflow,
                    r.concurrent_pure_steps_per_s,
                )
            })
        }
        BenchCommand::Ingest { repo, rounds, python } => {
            let tmp = tempfile::Builder::new().prefix("l9-bench-").tempdir().map_err(|e| {
                CliError::input(format!("cannot create a temporary directory: {e}"))
            })?;
            l9_engine::ingest::repo_root(&repo)?;
            let pg_url = match db {
                Some(url) if url.starts_with("postgres") => Some(url.to_owned()),
                Some(other) => {
                    return Err(CliError::input(format!(
                        "--db {other:?}: the ingest benchmark uses temporary SQLite files by default; pass --db only for PostgreSQL"
                    )));
                }
                None => None,
            };
            let pgs = std::sync::Mutex::new(Vec::new());
            let fresh = |round: usize| {
                let dir = tmp.path().join(format!("round{round}"));
                let pg_url = pg_url.clone();
                let pgs = &pgs;
                async move {
                    match pg_url {
                        Some(url) => {
                            let pg = l9_bench::stores::PgBenchStore::open_named(
                                &url,
                                &format!("l9_bench_ingest_{}_{round}", std::process::id()),
                            )
                            .await?;
                            let s = pg.store();
                            if let Ok(mut v) = pgs.lock() {
                                v.push(pg);
                            }
                            Ok(s)
                        }
                        None => {
                            std::fs::create_dir_all(&dir)
                                .map_err(|e| l9_bench::BenchError::Io(e.to_string()))?;
                            l9_bench::stores::sqlite(&dir).await
                        }
                    }
                }
            };
            let b = l9_bench::ingest::ingest_bench(&repo, rounds, Some(&python), fresh).await;
            for pg in pgs.into_inner().unwrap_or_default() {
                pg.drop().await?;
            }
            let b = b?;
            out.value(&b, || {
                let row = |name: &str, s: f64| format!("  {name:<34} {s:>8.3} s {:>10.0} commits/s {:>7.2}x", b.per_s(s), b.git_log_numstat_s / s.max(1e-9));
                let mut s = vec![
                    format!("ingest: {} ({} commits), {} rounds alternating, medians; store: {}", b.repo, b.commits, b.rounds, b.backend),
                    format!("  {:<34} {:>10} {:>18} {:>8}", "", "time", "throughput", "vs git"),
                    row("git log --numstat -M (the floor)", b.git_log_numstat_s),
                    row("L9 read (gix, every core)", b.l9_read_s),
                    row("L9 ingest (read + store, no SZZ)", b.l9_ingest_s),
                    row("L9 second ingest, unchanged", b.l9_reingest_s),
                    format!("  {:<34} {:>8.3} s for {} fixes blamed", "L9 SZZ (blame of every fix)", b.l9_szz_s, b.fixes_blamed),
                ];
                match b.pydriller_s {
                    Some(p) => {
                        s.push(row("PyDriller (commits + file stats)", p));
                        s.push(format!("  L9 ingest is {:.1}x PyDriller's speed", p / b.l9_ingest_s.max(1e-9)));
                    }
                    None => s.push(format!("  PyDriller: not importable by {python} (bench/pydriller.sh installs it in a venv)")),
                }
                s.push("vs git: git log's time over the row's (above 1 is faster than git)".into());
                let c = &b.code;
                let crow = |name: &str, t: f64| format!("  {name:<34} {t:>8.3} s {:>10.0} lines/s", c.lines_per_s(t));
                s.push(format!("code index: {} source files, {} lines, {} definitions (target: parse ≥ 50000 lines/s; re-index of an unchanged tree < 1 s)", c.files, c.lines, c.definitions));
                s.push(crow("read + hash every file (the floor)", c.read_hash_s));
                s.push(crow("L9 parse (tree-sitter, every core)", c.l9_parse_s));
                s.push(crow("L9 ingest code (parse + store)", c.l9_ingest_s));
                s.push(format!("  {:<34} {:>8.3} s", "L9 second ingest code, unchanged", c.l9_reindex_s));
                match c.ctags_s {
                    Some(t) => {
                        s.push(crow("universal-ctags (definitions only)", t));
                        s.push(format!("  L9 parse is {:.2}x ctags' speed (L9 also reads every reference)", t / c.l9_parse_s.max(1e-9)));
                    }
                    None => s.push("  universal-ctags: not on the PATH (apt-get install universal-ctags)".into()),
                }
                s.join("\n")
            })
        }
        BenchCommand::Memory { packets, queries, keep } => {
            if packets == 0 || queries == 0 {
                return Err(CliError::input("--packets and --queries must be at least 1"));
            }
            let tmp = tempfile::Builder::new().prefix("l9-bench-").tempdir().map_err(|e| {
                CliError::input(format!("cannot create a temporary directory: {e}"))
            })?;
            let (store, pg): (Arc<dyn Store>, Option<l9_bench::stores::PgBenchStore>) = match db {
                Some(url) if url.starts_with("postgres") => {
                    let pg = l9_bench::stores::PgBenchStore::open(url).await?;
                    (pg.store(), Some(pg))
                }
                Some(other) => {
                    return Err(CliError::input(format!(
                        "--db {other:?}: the memory benchmark uses a temporary SQLite file by default; pass --db only for PostgreSQL"
                    )));
                }
                None => {
                    let dir = keep.as_deref().unwrap_or(tmp.path());
                    std::fs::create_dir_all(dir)?;
                    if dir.join("bench.db").exists() {
                        return Err(CliError::input(format!(
                            "{} already holds a bench.db; pick an empty directory",
                            dir.display()
                        )));
                    }
                    (l9_bench::stores::sqlite(dir).await?, None)
                }
            };
            let json = out.json;
            let progress = |stage: &str, done: usize, total: usize| {
                if !json {
                    eprint!("\r{stage}: {done}/{total}          ");
                }
            };
            let floor = pg.as_ref().map(|p| p.pg());
            let r = l9_bench::memory::memory(store, floor, packets, queries, &progress).await;
            let reopen = match (&r, &pg) {
                (Ok(_), None) => {
                    let dir = keep.as_deref().unwrap_or(tmp.path());
                    Some(l9_bench::stores::sqlite_reopen_first_query(dir).await?)
                }
                _ => None,
            };
            if !json {
                eprintln!();
            }
            if let Some(pg) = pg {
                pg.drop().await?;
            }
            let mut r = r?;
            if let Some((secs, file)) = reopen {
                r.reopen_first_query_s = Some(secs);
                r.reopen_vectors_from_file = Some(file.mapped);
                r.reopen_vectors_from_table = Some(file.read_from_table);
                r.reopen_keys_from_indexes = Some(file.keys_from_indexes);
            }
            out.value(&r, || {
                let reopen = match (r.reopen_first_query_s, r.reopen_vectors_from_file, r.reopen_vectors_from_table) {
                    (Some(s), Some(file), Some(table)) => format!(
                        "\nnew handle, first query     {s:>10.2} s (finds its vectors: {file} in the shared vector file, {table} read from the table; {} keys from the indexes alone; loads the persisted HNSW graph)",
                        r.reopen_keys_from_indexes.unwrap_or(0)
                    ),
                    _ => String::new(),
                };
                let split = match (r.rss_anon_mib, r.rss_file_mib) {
                    (Some(a), Some(f)) => format!("; at the end {a:.0} MiB its own + {f:.0} MiB of mapped files"),
                    _ => String::new(),
                };
                let floor = match (r.floor_copy_packets_per_s, r.floor_index_build_s) {
                    (Some(rate), Some(build)) => format!(
                        "\nfloor: one COPY, same rows  {rate:>10.0} packets/s   → L9 load {:.2}× the floor; floor index build {build:.1} s",
                        r.ingest_packets_per_s / rate.max(1e-9)
                    ),
                    _ => String::new(),
                };
                let rss = |x: Option<f64>| x.map_or("n/a".to_owned(), |m| format!("{m:.0} MiB"));
                let depth = r.hybrid_depth;
                format!(
                    "l9 bench memory — {} backend, {} packets, {} dims, {} queries\n\
                     bulk load (one write)       {:>10.0} packets/s   baseline one-tx-per-packet {:.0}/s  → {:.1}×{floor}\n\
                     vector index build          {:>10.1} s ({}) → searchable after {:.0} packets/s\n\
                     more ingest, batches of 1000{:>10.0} packets/s   ({} packets into the loaded store, index kept up)\n\
                     query right after the load  {:>10.3} s\n\
                     vector search, approximate  p50 {:>6.2} ms  p95 {:>6.2} ms   recall@10 {:.3}\n\
                     vector search, exact scan   p50 {:>6.2} ms  p95 {:>6.2} ms   (baseline) → p95 {:.1}× faster\n\
                     full-text search (top 50)   p50 {:>6.2} ms  p95 {:>6.2} ms\n\
                     hybrid search (text+vector) p50 {:>6.2} ms  p95 {:>6.2} ms\n\
                       its two queries together  p50 {:>6.2} ms  p95 {:>6.2} ms   (text ‖ vector, {depth} each; the rest is fusion and fetching)\n\
                       its vector half           recall@{depth} {:.3}   its top 10 the same as with an exact half: {:.3}\n\
                       that half, beam {depth}      p50 {:>6.2} ms  p95 {:>6.2} ms   recall@{depth} {:.3}   top 10 the same: {:.3} (not what hybrid uses)\n\
                     peak memory of this process: load {}, searches {}{split}{reopen}",
                    r.backend,
                    r.packets,
                    r.dims,
                    r.queries,
                    r.ingest_packets_per_s,
                    r.baseline_single_packets_per_s,
                    r.ingest_packets_per_s / r.baseline_single_packets_per_s.max(1e-9),
                    r.index_build_s,
                    if r.backend == "postgres" {
                        "one pass after the load, inside its transaction"
                    } else {
                        "in the background after the load, all cores"
                    },
                    r.searchable_packets_per_s,
                    r.incremental_packets_per_s,
                    r.incremental_packets,
                    r.first_query_s,
                    r.vector_ann.p50_ms,
                    r.vector_ann.p95_ms,
                    r.recall_at_10,
                    r.vector_exact.p50_ms,
                    r.vector_exact.p95_ms,
                    r.vector_exact.p95_ms / r.vector_ann.p95_ms.max(1e-9),
                    r.text.p50_ms,
                    r.text.p95_ms,
                    r.hybrid.p50_ms,
                    r.hybrid.p95_ms,
                    r.hybrid_halves.p50_ms,
                    r.hybrid_halves.p95_ms,
                    r.hybrid_vector_recall_at_50,
                    r.hybrid_top10_agreement,
                    r.narrow_beam.p50_ms,
                    r.narrow_beam.p95_ms,
                    r.narrow_beam_recall_at_50,
                    r.narrow_beam_top10_agreement,
                    rss(r.peak_rss_ingest_mib),
                    rss(r.peak_rss_search_mib),
                )
            })
        }
    }
}
