//! `l9 ingest code` and `l9 map`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use l9_engine::Engine;

use crate::error::CliError;
use crate::ingest_cmd::repo_path;
use crate::output::{Out, printable};

#[derive(Debug, Args)]
pub(crate) struct CodeArgs {
    /// The repository or source directory (default: the current directory).
    repo: Option<PathBuf>,
    /// Threads for parsing (default: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Debug, Args)]
pub(crate) struct MapArgs {
    /// The repository or source directory (default: the current directory).
    repo: Option<PathBuf>,
    /// The map's size in tokens (about four characters each).
    #[arg(long, default_value_t = l9_engine::ingest::MAP_TOKENS as u32,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    tokens: u32,
    /// Lean the ranking towards the files and names this text mentions (a task, a
    /// question), as a coding task's map does.
    #[arg(long, value_name = "TEXT")]
    focus: Option<String>,
    /// Instead of the map: the definitions that best answer QUERY (names first, then full
    /// text and embeddings), as the coder's `search_code` tool answers.
    #[arg(long, value_name = "QUERY", conflicts_with = "focus")]
    search: Option<String>,
}

/// The directory a code command reads (default: the current one), which must exist.
fn source_dir(repo: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let repo = repo_path(repo)?;
    if !repo.is_dir() {
        return Err(CliError::input(format!(
            "{}: no such directory; give the path of a repository or source directory",
            repo.display()
        )));
    }
    Ok(repo)
}

pub(crate) async fn run_code(
    a: CodeArgs,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let repo = source_dir(a.repo)?;
    let engine = Engine::open(root, db).await?;
    let r = engine.ingest_code(&repo, a.threads).await?;
    out.value(&r, || {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Indexed {}: {} files, {} lines, {} definitions",
            r.repo, r.scan.files, r.lines, r.definitions
        );
        let _ = writeln!(
            s,
            "  parsed {} files ({} lines), {} unchanged, {} gone, {} left out (not parsed)",
            r.scan.parsed,
            r.scan.lines_parsed,
            r.scan.reused,
            r.scan.removed,
            r.scan.skipped - r.scan.too_large - r.scan.minified - r.scan.generated
        );
        if r.scan.minified > 0 {
            let _ = writeln!(
                s,
                "  {} minified files or checked-in dependencies (node_modules, vendor, third_party) left out",
                r.scan.minified
            );
        }
        if r.scan.generated > 0 {
            let _ = writeln!(
                s,
                "  {} generated files left out (a `Code generated … DO NOT EDIT` or `@generated` header, protobuf output)",
                r.scan.generated
            );
        }
        if r.scan.too_large > 0 {
            let limit = &l9_types::limits::SOURCE_FILE_BYTES;
            let _ = writeln!(
                s,
                "  {} files over {} bytes left out ({})",
                r.scan.too_large,
                limit.get(),
                limit.hint()
            );
        }
        let _ = writeln!(
            s,
            "  {} symbol packets stored ({} were already); scan {:.2} s, done in {:.2} s",
            r.stored,
            r.already_stored,
            r.scan_ms as f64 / 1e3,
            r.total_ms as f64 / 1e3
        );
        printable(s.trim_end()).into_owned()
    })
}

pub(crate) async fn run_map(
    a: MapArgs,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let repo = source_dir(a.repo)?;
    let engine = Engine::open(root, db).await?;
    if let Some(q) = a.search {
        let (root, index) = engine.code_index(&repo).await?;
        let hits = engine.search_code(&root, &index, &q, 20).await?;
        return out.value(&hits, || {
            if hits.is_empty() {
                return format!("no definitions match {q:?}");
            }
            let lines: Vec<String> = hits.iter().map(ToString::to_string).collect();
            printable(&lines.join("\n")).into_owned()
        });
    }
    let map = engine.repo_map(&repo, a.focus.as_deref().unwrap_or(""), a.tokens as usize).await?;
    out.value(&serde_json::json!({ "map": map }), || {
        if map.is_empty() {
            "no definitions found (L9 reads Rust, Python, JavaScript, TypeScript, Go, Java, C, C++, Ruby, C#, PHP, Kotlin, Swift, Scala, Elixir, Dart and Lua)".into()
        } else {
            printable(map.trim_end()).into_owned()
        }
    })
}

#[derive(Debug, Args)]
pub(crate) struct ConflictArgs {
    /// The repository (e.g. a clone of ../shared/corpora/git/serde.bundle).
    #[arg(long)]
    repo: PathBuf,
    /// At most this many merges (oldest merge base first).
    #[arg(long)]
    limit: Option<usize>,
    /// Without the code index (names and stems of files, co-change only).
    #[arg(long)]
    no_code: bool,
}

pub(crate) fn eval_conflicts(a: ConflictArgs, out: &mut Out) -> Result<(), CliError> {
    let repo = a.repo;
    l9_engine::ingest::repo_root(&repo)?;
    let index = if a.no_code { None } else { Some(l9_engine::ingest::scan_code(&repo)?) };
    let r = l9_bench::conflicts::eval_conflicts(&repo, index.as_ref(), a.limit)?;
    out.value(&r, || {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "conflict prediction on {}: {} merges, {} with commits on both sides since their base{}",
            r.repo,
            r.merges,
            r.evaluated,
            if r.code_index { "" } else { " (no code index)" }
        );
        let _ = writeln!(s, "  {:<44} {:>9} {:>7} {:>5} {:>5} {:>5}", "", "precision", "recall", "tp", "fp", "fn");
        let row = |s: &mut String, name: &str, sc: &l9_bench::conflicts::Scores| {
            let _ = writeln!(
                s,
                "  {name:<44} {:>9.2} {:>7.2} {:>5} {:>5} {:>5}",
                sc.precision(),
                sc.recall(),
                sc.tp,
                sc.fp,
                sc.fn_
            );
        };
        row(&mut s, "predicted overlap vs real overlap", &r.overlap);
        let _ = writeln!(s, "  {:<44} {:>9.2} {:>7.2}", "  always predicting a collision", r.overlap.base_rate(), 1.0);
        row(&mut s, "predicted overlap vs git merge-tree conflict", &r.conflict);
        let _ = writeln!(s, "  {:<44} {:>9.2} {:>7.2}", "  always predicting a collision", r.conflict.base_rate(), 1.0);
        row(&mut s, "real overlap vs git merge-tree conflict", &r.overlap_as_conflict);
        let _ = writeln!(s, "(the predictor sees the sides' commit messages only; history up to the merge base)");
        printable(s.trim_end()).into_owned()
    })
}
