//! `l9 memory …`

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use l9_engine::Engine;
use l9_engine::{Direction, PacketFilter};
use l9_engine::{SearchMode, SearchQuery};
use l9_types::{PacketDraft, PacketEnvelope, PacketId, RunId};

use crate::error::CliError;
use crate::output::{Out, snippet};

#[derive(Debug, Subcommand)]
pub(crate) enum MemoryCommand {
    /// Store one packet (its text is indexed and embedded).
    Put(PutArgs),
    /// Show one packet.
    Get {
        /// Packet id.
        id: String,
    },
    /// Hybrid search (full text + vectors, fused by reciprocal rank fusion).
    Search(SearchArgs),
    /// Walk a packet's ancestors (--up, the default) or descendants (--down).
    Lineage {
        /// Packet id.
        id: String,
        /// Walk to its ancestors (the default).
        #[arg(long, conflicts_with = "down")]
        up: bool,
        /// Walk to its descendants.
        #[arg(long)]
        down: bool,
        /// How many generations to walk.
        #[arg(long, default_value_t = 10)]
        depth: u32,
    },
    /// Import a JSON Lines file in one transaction (read and written a part at a time, never
    /// held whole); a bad line is reported and nothing is written.
    Import {
        /// A file of envelopes (as `export` writes) or drafts ({"ref","kind","text","parents",…}).
        file: PathBuf,
    },
    /// Write packets as JSON Lines to standard output (the world model's seed items, which
    /// every project gets from `l9 init`, are left out).
    Export {
        /// Only this run's packets.
        #[arg(long)]
        run: Option<String>,
    },
    /// A tour of the memory substrate on the bundled example (in a temporary project).
    Demo {
        /// The JSON Lines file to tour (default: the bundled examples/memory/project-history.jsonl).
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// The packet's kind (decision, note, …).
    #[arg(long)]
    kind: String,
    /// Its text (indexed for search and embedded).
    #[arg(long)]
    text: String,
    /// A parent packet id (repeatable).
    #[arg(long = "parent")]
    parents: Vec<String>,
    /// The packet body as JSON.
    #[arg(long)]
    body: Option<String>,
    /// Who made it.
    #[arg(long, default_value = "user")]
    actor: String,
    /// Run id this packet belongs to.
    #[arg(long)]
    run: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// What to search for.
    query: String,
    /// Only packets of this kind (repeatable).
    #[arg(long)]
    kind: Vec<String>,
    /// Only packets of this run.
    #[arg(long)]
    run: Option<String>,
    /// How many results.
    #[arg(short = 'k', default_value_t = 10)]
    k: usize,
    /// hybrid, text or vector.
    #[arg(long, default_value = "hybrid")]
    mode: String,
}

fn packet_id(s: &str) -> Result<PacketId, CliError> {
    s.parse().map_err(|e: l9_types::IdParseError| CliError::input(e.to_string()))
}

fn run_id(s: &str) -> Result<RunId, CliError> {
    s.parse().map_err(|e: l9_types::IdParseError| CliError::input(format!("--run: {e}")))
}

/// Lineage levels shown by indentation; deeper ones carry their depth.
const MAX_INDENT: usize = 16;

pub(crate) async fn run(
    cmd: MemoryCommand,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let open = || async { Engine::open(root, db).await.map_err(CliError::from) };
    // Reading commands need a project; they never create one.
    let existing = || crate::open_existing(root, db);
    match cmd {
        MemoryCommand::Put(a) => {
            let engine = open().await?;
            let mem = engine.memory();
            let mut d = PacketDraft::new(a.kind).text(a.text).actor(a.actor);
            for p in &a.parents {
                d = d.parent(packet_id(p)?);
            }
            if let Some(b) = &a.body {
                let body = serde_json::from_str(b)
                    .map_err(|e| CliError::input(format!("--body is not valid JSON: {e}")))?;
                d = d.body(body);
            }
            if let Some(r) = &a.run {
                d = d.run(run_id(r)?);
            }
            let p = mem.put(d, vec![]).await.map_err(l9_engine::EngineError::from)?;
            out.value(&p, || format!("{}\n  hash {}", p.id, p.hash))
        }
        MemoryCommand::Get { id } => {
            let engine = existing().await?;
            let mem = engine.memory();
            let id = packet_id(&id)?;
            let p = mem.get(id).await.map_err(l9_engine::EngineError::from)?;
            let p = p.ok_or_else(|| CliError::not_found(format!("no packet {id}")))?;
            out.value(&p, || render_packet(&p))
        }
        MemoryCommand::Search(a) => {
            let engine = existing().await?;
            let mem = engine.memory();
            let mode = match a.mode.as_str() {
                "hybrid" => SearchMode::Hybrid,
                "text" => SearchMode::Text,
                "vector" => SearchMode::Vector,
                m => {
                    return Err(CliError::input(format!(
                        "--mode {m:?}: use hybrid, text or vector"
                    )));
                }
            };
            let filter = PacketFilter {
                kinds: a.kind,
                run: a.run.as_deref().map(run_id).transpose()?,
                ..Default::default()
            };
            let hits = mem
                .search(&SearchQuery { text: a.query, filter, k: a.k, mode })
                .await
                .map_err(l9_engine::EngineError::from)?;
            out.value(&hits, || {
                if hits.is_empty() {
                    return "no matches".to_owned();
                }
                hits.iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let ranks = format!(
                            "text {} · vector {}",
                            h.text_rank.map_or("-".into(), |r| format!("#{r}")),
                            h.vector_rank.map_or("-".into(), |r| format!("#{r}"))
                        );
                        format!(
                            "{:>2}. {:.4}  {:<14} {}  ({ranks})\n    {}",
                            i + 1,
                            h.score,
                            h.packet.kind,
                            h.id,
                            snippet(h.packet.text.as_deref().unwrap_or(""), 100)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        MemoryCommand::Lineage { id, up: _, down, depth } => {
            let engine = existing().await?;
            let mem = engine.memory();
            let id = packet_id(&id)?;
            let dir = if down { Direction::Down } else { Direction::Up };
            let entries =
                mem.lineage(id, dir, depth).await.map_err(l9_engine::EngineError::from)?;
            let mut rows = Vec::new();
            for e in &entries {
                if let Some(p) = mem.get(e.id).await.map_err(l9_engine::EngineError::from)? {
                    rows.push((e.depth, p));
                }
            }
            let json: Vec<_> = rows
                .iter()
                .map(|(d, p)| serde_json::json!({"depth": d, "id": p.id, "kind": p.kind, "text": p.text}))
                .collect();
            out.value(&json, || {
                if rows.is_empty() {
                    return format!(
                        "{id} has no {}",
                        if down { "descendants" } else { "ancestors" }
                    );
                }
                let arrow = if down { "↓" } else { "↑" };
                rows.iter()
                    .map(|(d, p)| {
                        // Indentation stops growing at MAX_INDENT levels (the depth is
                        // written out instead): deep lineages print in linear, not
                        // quadratic, space.
                        let level = (*d as usize).saturating_sub(1);
                        let indent = if level > MAX_INDENT {
                            format!("{}({d}) ", "  ".repeat(MAX_INDENT))
                        } else {
                            "  ".repeat(level)
                        };
                        format!(
                            "{indent}{arrow} {:<14} {}  {}",
                            p.kind,
                            p.id,
                            snippet(p.text.as_deref().unwrap_or(""), 70)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        MemoryCommand::Import { file } => import(&open().await?, &file, out).await,
        MemoryCommand::Export { run } => {
            let run = run.as_deref().map(run_id).transpose()?;
            let engine = existing().await?;
            let mut stdout = std::io::stdout().lock();
            let mut buf = std::io::BufWriter::new(&mut stdout);
            let n =
                l9_engine::jsonl::export(&engine, run, &mut buf).await.map_err(|e| match e {
                    l9_engine::EngineError::Io { source, .. } => CliError::from(source),
                    other => CliError::from(other),
                })?;
            buf.flush()?;
            drop(buf);
            eprintln!("exported {n} packets");
            Ok(())
        }
        MemoryCommand::Demo { file } => demo(file, out).await,
    }
}

async fn import(engine: &Engine, file: &Path, out: &mut Out) -> Result<(), CliError> {
    // A device or FIFO would be read forever (`/dev/zero`): only regular files.
    if file.exists() && !file.is_file() {
        return Err(CliError::input(format!(
            "{}: not a regular file; give a JSON Lines file (l9 memory export writes one)",
            file.display()
        )));
    }
    // Opened here for a clear error; the import reads it line by line, never whole.
    std::fs::File::open(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            CliError::not_found(format!("{}: no such file", file.display()))
        }
        _ => CliError::input(format!("{}: {e}", file.display())),
    })?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("embedding");
    let name = file.display().to_string();
    let report = l9_engine::jsonl::import_file(engine, file, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await;
    bar.finish_and_clear();
    let imported = report?;
    let report = &imported.report;
    out.value(&imported, || {
        let mut s = format!(
            "imported {} packets from {} ({} already present, {} blobs, {} embeddings)",
            report.packets_inserted,
            name,
            report.packets_present,
            report.blobs_inserted,
            report.embeddings_inserted
        );
        if imported.quarantined > 0 {
            s.push_str(&format!(
                "\n{} world-model packet(s) quarantined: imported knowledge does not reach the world model, forecasts or prompts until you trust it (`l9 world quarantine` lists them, `l9 world trust ID|--all` takes them in)",
                imported.quarantined
            ));
        }
        s
    })
}

fn render_packet(p: &PacketEnvelope) -> String {
    let mut s = format!(
        "{} {}\n  at      {}\n  actor   {}\n  hash    {}",
        p.kind,
        p.id,
        p.at.to_rfc3339(),
        p.actor,
        p.hash
    );
    if let Some(r) = p.run_id {
        s.push_str(&format!("\n  run     {r}"));
    }
    if let Some(t) = p.task_id {
        s.push_str(&format!("\n  task    {t}"));
    }
    for parent in &p.parents {
        s.push_str(&format!("\n  parent  {parent}"));
    }
    for b in &p.blobs {
        s.push_str(&format!("\n  blob    {} ({} bytes)", b.hash, b.size));
    }
    if let Some(t) = &p.text {
        s.push_str(&format!("\n\n{t}"));
    }
    if p.body.as_object().is_some_and(|o| !o.is_empty()) {
        s.push_str(&format!("\n\n{}", serde_json::to_string_pretty(&p.body).unwrap_or_default()));
    }
    s
}

const BUNDLED: &str = include_str!("../../../examples/memory/project-history.jsonl");

/// The README's first command: a tour of the memory substrate in a temporary project.
async fn demo(file: Option<PathBuf>, out: &mut Out) -> Result<(), CliError> {
    let (name, text) = match &file {
        Some(f) => (
            f.display().to_string(),
            std::fs::read_to_string(f)
                .map_err(|e| CliError::input(format!("{}: {e}", f.display())))?,
        ),
        None => ("examples/memory/project-history.jsonl (bundled)".to_owned(), BUNDLED.to_owned()),
    };
    let dir = tempfile::Builder::new()
        .prefix("l9-demo-")
        .tempdir()
        .map_err(|e| CliError::input(format!("cannot create a temporary directory: {e}")))?;
    // The demo always uses the embedded default, whatever L9_DB says.
    let embedded = format!("sqlite://{}", dir.path().join(".l9").join("l9.db").display());
    Engine::init(dir.path(), Some(&embedded)).await?;
    let engine = Engine::open(dir.path(), None).await?;
    let report = l9_engine::jsonl::import(&engine, &name, &text, &|_, _| {}).await?.report;
    let mem = engine.memory();
    let mut lines = vec![
        format!("L9 memory demo — embedded SQLite at {}", dir.path().join(".l9/l9.db").display()),
        format!("Imported {} packets from {name} in one transaction.", report.packets_inserted),
    ];
    let mut json =
        serde_json::json!({"imported": report.packets_inserted, "searches": [], "lineage": []});
    for q in [
        "why did the database migration fail",
        "retry flaky model calls",
        "where do embeddings live",
    ] {
        let hits = mem
            .search(&SearchQuery {
                text: q.into(),
                filter: Default::default(),
                k: 3,
                mode: SearchMode::Hybrid,
            })
            .await
            .map_err(l9_engine::EngineError::from)?;
        lines.push(format!("\nhybrid search: {q:?}"));
        for (i, h) in hits.iter().enumerate() {
            lines.push(format!(
                "  {}. [{}] {}",
                i + 1,
                h.packet.kind,
                snippet(h.packet.text.as_deref().unwrap_or(""), 90)
            ));
        }
        if let Some(arr) = json["searches"].as_array_mut() {
            arr.push(serde_json::json!({"query": q, "hits": hits.iter().map(|h| &h.packet.text).collect::<Vec<_>>()}));
        }
    }
    // The lineage of the newest packet: how the project got there.
    let newest = mem
        .list(&PacketFilter::default(), &l9_engine::Page { after: None, limit: 10_000 })
        .await
        .map_err(l9_engine::EngineError::from)?
        .packets
        .into_iter()
        .rev()
        .find(|p| !p.parents.is_empty());
    if let Some(p) = newest {
        lines.push(format!(
            "\nlineage of [{}] {}:",
            p.kind,
            snippet(p.text.as_deref().unwrap_or(""), 70)
        ));
        for e in mem.lineage(p.id, Direction::Up, 10).await.map_err(l9_engine::EngineError::from)? {
            if let Some(a) = mem.get(e.id).await.map_err(l9_engine::EngineError::from)? {
                lines.push(format!(
                    "  {}↑ [{}] {}",
                    "  ".repeat(e.depth as usize - 1),
                    a.kind,
                    snippet(a.text.as_deref().unwrap_or(""), 70)
                ));
                if let Some(arr) = json["lineage"].as_array_mut() {
                    arr.push(serde_json::json!({"depth": e.depth, "kind": a.kind, "text": a.text}));
                }
            }
        }
    }
    lines.push("\nTry it on your own project: l9 init && l9 memory import FILE.jsonl && l9 memory search \"…\"".into());
    out.value(&json, || lines.join("\n"))
}
