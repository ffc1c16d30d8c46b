//! `l9 ingest git` and `l9 dora`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use l9_engine::Engine;
use l9_engine::ingest::{
    DEFAULT_TAGS, Deploys, DoraOptions, DoraReport, IngestOptions, Period, Row, Since,
};

use crate::error::CliError;
use crate::output::{Out, printable};

#[derive(Debug, Subcommand)]
pub(crate) enum IngestCommand {
    /// A repository's history into memory: each commit a `git.commit` packet (lineage: its
    /// parents) with files changed, lines added/removed and renames; files and modules as
    /// knowledge-graph entities; `co_changes` relations (valid from the commits' times); fix
    /// and revert commits, and by SZZ the commits that introduced what they fixed; hotspots
    /// and fragile files. The world model learns one statement per notable file (hidden
    /// constraints, fragility, couplings; anchored to the file) and retires ones the history
    /// no longer supports. Incremental (a second run reads only new commits) and idempotent;
    /// a killed ingest resumes where it stopped.
    Git(GitArgs),
    /// A repository's code: definitions and references of its Rust, Python, JavaScript,
    /// TypeScript, Go, Java, C, C++, Ruby, C#, PHP, Kotlin, Swift, Scala, Elixir, Dart and Lua
    /// files read with
    /// tree-sitter, each definition a `code.symbol`
    /// packet with text and embedding (`l9 memory search --kind code.symbol "…"`; every
    /// version ever indexed, lineage: the version before). Incremental by file content: a
    /// second run parses only changed files. `l9 map` shows the ranked map.
    Code(crate::code_cmd::CodeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GitArgs {
    /// The repository (default: the current directory).
    repo: Option<PathBuf>,
    /// Only commits after REV (a hash, branch or tag) or authored on or after DATE
    /// (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "REV|DATE")]
    since: Option<String>,
    /// Threads for diffs and blame (default: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Do not blame fixes (SZZ): faster on very large histories.
    #[arg(long)]
    no_szz: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum By {
    Week,
    Month,
}

#[derive(Debug, Args)]
pub(crate) struct DoraArgs {
    /// The repository (default: the current directory).
    repo: Option<PathBuf>,
    /// Only deployments after REV or on or after DATE (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "REV|DATE")]
    since: Option<String>,
    /// One row per week or per month.
    #[arg(long, value_enum, default_value = "month")]
    by: By,
    /// Deployments are tags matching this regular expression.
    #[arg(long, default_value = DEFAULT_TAGS, conflicts_with = "merges")]
    tags: String,
    /// Deployments are the merge commits on the main branch instead of tags.
    #[arg(long)]
    merges: bool,
    /// A fix this many days after a deployment can mark it failed.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=3650))]
    window_days: u32,
    /// Count any fix or revert in the window as a failure, without blaming (SZZ) what it
    /// fixed.
    #[arg(long)]
    no_szz: bool,
    /// Threads for diffs and blame (default: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub(crate) fn repo_path(repo: Option<PathBuf>) -> Result<PathBuf, CliError> {
    match repo {
        Some(p) => Ok(p),
        None => std::env::current_dir()
            .map_err(|e| CliError::input(format!("cannot read the current directory: {e}"))),
    }
}

/// `DATE` (YYYY-MM-DD or RFC 3339) or a revision.
fn parse_since(s: &str) -> Since {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Since::Date(t.and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Since::Date(t.with_timezone(&Utc));
    }
    Since::Rev(s.to_owned())
}

pub(crate) async fn run_ingest(
    cmd: IngestCommand,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let a = match cmd {
        IngestCommand::Git(a) => a,
        IngestCommand::Code(a) => return crate::code_cmd::run_code(a, root, db, out).await,
    };
    let repo = repo_path(a.repo)?;
    // A path that is no repository creates no project.
    l9_engine::ingest::repo_root(&repo)?;
    let engine = Engine::open(root, db).await?;
    let opts = IngestOptions {
        since: a.since.as_deref().map(parse_since),
        threads: a.threads,
        no_szz: a.no_szz,
    };
    let tty = std::io::stderr().is_terminal();
    let progress = move |stage: &str, done: usize, total: usize| {
        if tty {
            if total > 0 {
                eprint!("\r{stage}: {done}/{total}   ");
            } else {
                eprint!("\r{stage}…{:20}", "");
            }
        }
    };
    let r = engine.ingest_git(&repo, &opts, &progress).await;
    if tty {
        eprint!("\r{:60}\r", "");
    }
    let r = r?;
    out.value(&r, || {
        let mut s = String::new();
        let head = r.head.as_deref().map_or("empty".to_string(), |h| h[..12.min(h.len())].to_string());
        let _ = writeln!(
            s,
            "Ingested {} (HEAD {head}): {} commits read, {} stored ({} were already), {} fixes, {} reverts, {} SZZ links",
            r.repo, r.read, r.stored, r.already_stored, r.fixes, r.reverts, r.szz_links
        );
        if r.unblamed_files > 0 {
            let _ = writeln!(s, "  {}", unblamed(r.unblamed_files as u64));
        }
        if r.shallow > 0 {
            let _ = writeln!(s, "  {}", shallow(r.shallow));
        }
        let _ = writeln!(
            s,
            "  in total: {} commits, {} fixes, {} files; knowledge graph +{} entities, +{} relations, {} closed",
            r.total_commits, r.total_fixes, r.files, r.entities_added, r.relations_added, r.relations_closed
        );
        if r.world_learned + r.world_retired > 0 {
            let _ = writeln!(
                s,
                "  world model: {} statement(s) about files learned, {} no longer supported retired (`l9 world query FILE`)",
                r.world_learned, r.world_retired
            );
        }
        let _ = writeln!(s, "  read {:.1} s, done in {:.1} s (commits are stored while later ones are read)",
            r.read_ms as f64 / 1e3,
            r.total_ms as f64 / 1e3
        );
        if !r.hotspots.is_empty() {
            let _ = writeln!(s, "Hotspots (commits × lines):");
            for h in &r.hotspots {
                let _ = writeln!(s, "  {:<50} {:>4} commits {:>6} lines {:>3} fixes", h.path, h.commits, h.lines, h.fixes);
            }
        }
        if !r.fragile.is_empty() {
            let _ = writeln!(s, "Fragile (most fixes):");
            for h in &r.fragile {
                let _ = writeln!(s, "  {:<50} {:>3} fixes in {} commits", h.path, h.fixes, h.commits);
            }
        }
        if !r.couplings.is_empty() {
            let _ = writeln!(s, "Change together:");
            for c in &r.couplings {
                let _ = writeln!(s, "  {} ↔ {}  {} times ({:.0}%)", c.a, c.b, c.together, c.degree * 100.0);
            }
        }
        if !r.hidden_constraints.is_empty() {
            let _ = writeln!(s, "Hidden constraints (a change without its partner, then a fix to the partner):");
            for h in &r.hidden_constraints {
                let _ = writeln!(s, "  {} without {}: {} times", h.changed, h.missed, h.incidents);
            }
        }
        printable(s.trim_end()).into_owned()
    })
}

pub(crate) async fn run_dora(
    a: DoraArgs,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let repo = repo_path(a.repo)?;
    let deploys = if a.merges { Deploys::Merges } else { l9_engine::ingest::tag_deploys(&a.tags)? };
    let since = match a.since.as_deref().map(parse_since) {
        None => None,
        Some(Since::Date(d)) => Some(d),
        Some(Since::Rev(r)) => Some(l9_engine::ingest::time_of_rev(&repo, &r)?),
    };
    let by = match a.by {
        By::Week => Period::Week,
        By::Month => Period::Month,
    };
    let opts = DoraOptions {
        deploys,
        by,
        window: chrono::Duration::days(i64::from(a.window_days)),
        since,
    };
    let report = l9_engine::ingest::repo_dora(&repo, opts, a.no_szz, a.threads).await?;
    // L9's own runs, when this is a project that has some.
    let runs = match crate::open_existing(root, db).await {
        Ok(engine) => Some(engine.runs_dora(by, since).await?).filter(|r| r.runs > 0),
        Err(_) => None,
    };
    let json = serde_json::json!({ "repository": report, "l9_runs": runs });
    out.value(&json, || {
        let mut s = render(&report);
        match &runs {
            Some(r) => {
                let _ = writeln!(s, "\nL9's own runs in this project ({} finished; a run that merged is a deployment):", r.runs);
                table(&mut s, &r.rows, &r.total);
            }
            None => {
                let _ = writeln!(s, "\nL9's own runs: none finished in this project yet.");
            }
        }
        printable(s.trim_end()).into_owned()
    })
}

fn render(r: &DoraReport) -> String {
    let mut s = String::new();
    let failed = r.deployments.iter().filter(|d| d.failed).count();
    let _ = writeln!(
        s,
        "DORA from history: {} deployments ({}), {} failed (a fix or revert within {} days repairing what it shipped)",
        r.deployments.len(),
        r.deploys,
        failed,
        r.window_days
    );
    table(&mut s, &r.rows, &r.total);
    if r.unblamed_files > 0 {
        let _ = writeln!(s, "{}", unblamed(r.unblamed_files));
    }
    if r.shallow > 0 {
        let _ = writeln!(s, "{}", shallow(r.shallow));
    }
    if r.deployments.is_empty() && r.other_tags.is_empty() && r.deploys.starts_with("tags") {
        let _ = writeln!(
            s,
            "the repository has no tags — pass --merges to count the merges on the main branch"
        );
    }
    if !r.other_tags.is_empty() {
        let _ = writeln!(
            s,
            "no tag matches; the newest tags are {} — pass --tags REGEX to match them, or --merges",
            r.other_tags.join(", ")
        );
    }
    s
}

/// What a shallow clone leaves out, and how to read it all.
fn shallow(n: usize) -> String {
    format!(
        "a shallow clone: the history starts at {n} commit(s) whose parents this clone does not hold, read as first commits (all their files added); after `git fetch --unshallow` (or `--deepen N`) the next `l9 ingest git` or `l9 dora` reads the history past them"
    )
}

/// What SZZ left out for size, and how to include it.
fn unblamed(n: u64) -> String {
    let l = l9_types::limits::BLAMED_FILE_BYTES;
    format!("SZZ left out {n} changed file(s) over {} bytes (not blamed; {})", l.get(), l.hint())
}

fn hours(h: Option<f64>) -> String {
    match h {
        None => "—".into(),
        Some(h) if h < 1.0 => format!("{:.0} min", h * 60.0),
        Some(h) if h < 48.0 => format!("{h:.1} h"),
        Some(h) => format!("{:.1} d", h / 24.0),
    }
}

fn table(s: &mut String, rows: &[Row], total: &Row) {
    let _ = writeln!(
        s,
        "  {:<9} {:>7} {:>8} {:>11} {:>8} {:>11}",
        "period", "deploys", "changes", "lead time", "failure", "restore"
    );
    for r in rows.iter().chain(std::iter::once(total)) {
        let _ = writeln!(
            s,
            "  {:<9} {:>7} {:>8} {:>11} {:>8} {:>11}",
            r.period,
            r.deployments,
            r.changes,
            hours(r.lead_time_median_h),
            r.change_failure_rate.map_or("—".into(), |c| format!("{:.0}%", c * 100.0)),
            hours(r.time_to_restore_median_h)
        );
    }
}
