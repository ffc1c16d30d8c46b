//! `l9 bench …`

use std::path::Path;
use std::sync::Arc;

use clap::Subcommand;
use l9_engine::store::Store;

use crate::error::CliError;
use crate::output::Out;

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Memory substrate: ingest packets/s, hybrid and vector search p50/p95, ANN recall@10.
    /// Runs on a fresh temporary SQLite file, or in a fresh schema of the --db PostgreSQL
    /// database (dropped afterwards).
    Memory {
        #[arg(long, default_value_t = 100_000)]
        packets: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Keep the SQLite database in DIR (for inspection) instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        keep: Option<std::path::PathBuf>,
    },
}

pub(crate) async fn run(
    cmd: BenchCommand,
    _root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    match cmd {
        BenchCommand::Memory { packets, queries, keep } => {
            if packets == 0 || queries == 0 {
                return Err(CliError::input("--packets and --queries must be at least 1"));
            }
            let tmp = tempfile::Builder::new().prefix("l9-bench-").tempdir().map_err(|e| {
                CliError::input(format!("cannot create a temporary directory: {e}"))
            })?;
            let (store, pg): (Arc<dyn Store>, Option<l9_engine::bench_support::PgBenchStore>) =
                match db {
                    Some(url) if url.starts_with("postgres") => {
                        let pg = l9_engine::bench_support::PgBenchStore::open(url).await?;
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
                        (l9_engine::bench_support::sqlite(dir).await?, None)
                    }
                };
            let json = out.json;
            let progress = |stage: &str, done: usize, total: usize| {
                if !json {
                    eprint!("\r{stage}: {done}/{total}          ");
                }
            };
            let r = l9_engine::bench::memory(store, packets, queries, &progress).await;
            let reopen = match (&r, &pg) {
                (Ok(_), None) => {
                    let dir = keep.as_deref().unwrap_or(tmp.path());
                    Some(l9_engine::bench_support::sqlite_reopen_first_query_s(dir).await?)
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
            r.reopen_first_query_s = reopen;
            out.value(&r, || {
                let reopen = r
                    .reopen_first_query_s
                    .map(|s| format!("\nnew process, first query    {s:>10.2} s (loads vectors + persisted HNSW graph)"))
                    .unwrap_or_default();
                format!(
                    "l9 bench memory — {} backend, {} packets, {} dims, {} queries\n\
                     ingest (batches of 1000)    {:>10.0} packets/s   baseline one-tx-per-packet {:.0}/s  → {:.1}×\n\
                     ANN index build             {:>10.2} s (first approximate query)\n\
                     vector search, approximate  p50 {:>6.2} ms  p95 {:>6.2} ms   recall@10 {:.3}\n\
                     vector search, exact scan   p50 {:>6.2} ms  p95 {:>6.2} ms   (baseline) → p95 {:.1}× faster\n\
                     full-text search (top 50)   p50 {:>6.2} ms  p95 {:>6.2} ms\n\
                     hybrid search (text+vector) p50 {:>6.2} ms  p95 {:>6.2} ms{reopen}",
                    r.backend,
                    r.packets,
                    r.dims,
                    r.queries,
                    r.ingest_packets_per_s,
                    r.baseline_single_packets_per_s,
                    r.ingest_packets_per_s / r.baseline_single_packets_per_s.max(1e-9),
                    r.index_build_s,
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
                )
            })
        }
    }
}
