//! `l9 ir …` and `l9 eval …`: the IR Engine from the command line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use l9_engine::ir;
use l9_engine::ir::{self as engine_ir, Checked, NodeKind, ReqClass};

use crate::error::CliError;
use crate::output::{Out, snippet};

#[derive(Debug, Subcommand)]
pub(crate) enum IrCommand {
    /// Compile SPEC (Markdown, reStructuredText, AsciiDoc, RFC-style text, Gherkin, OpenAPI 3.x or Swagger 2.0
    /// JSON/YAML — its `$ref`s to other files read beside it —, prose) and print a summary of its
    /// IR, or the IR itself with --json.
    Compile {
        /// The spec file.
        spec: PathBuf,
        /// Force the input format: markdown, rst, asciidoc, rfc, gherkin, openapi, prose.
        #[arg(long)]
        format: Option<String>,
        /// Also store the IR in the memory substrate (a packet of kind `ir`, IR JSON as blob).
        #[arg(long)]
        store: bool,
        /// A MiniLM model directory (config.json, tokenizer.json, model.safetensors): classify
        /// requirements with the shipped model trained on its sentence embeddings (needs a build
        /// with `--features local-embed`). Default: the project's, when its `[memory] embedder`
        /// is "local-bert"; else the hashed-feature model.
        #[arg(long, value_name = "DIR")]
        embeddings: Option<PathBuf>,
    },
    /// Compile SPEC, challenge and validate it; print diagnostics with source excerpts. Exits
    /// with 1 when there are errors.
    Check {
        /// The spec file.
        spec: PathBuf,
        /// Force the input format: markdown, rst, asciidoc, rfc, gherkin, openapi, prose.
        #[arg(long)]
        format: Option<String>,
        /// Hidden constraints to check for (JSON list of {id, text, triggers, severity}).
        #[arg(long, value_name = "FILE")]
        hidden: Option<PathBuf>,
        /// A MiniLM model directory (config.json, tokenizer.json, model.safetensors): classify
        /// requirements with the shipped model trained on its sentence embeddings (needs a build
        /// with `--features local-embed`). Default: the project's, when its `[memory] embedder`
        /// is "local-bert"; else the hashed-feature model.
        #[arg(long, value_name = "DIR")]
        embeddings: Option<PathBuf>,
    },
    /// Compile SPEC, deliberate (rule-based proposer and critic), and print the questions it
    /// asked and plan candidates by strategy with their tasks, gates, sizes and MUST coverage.
    Plan {
        /// The spec file.
        spec: PathBuf,
        /// Force the input format: markdown, rst, asciidoc, rfc, gherkin, openapi, prose.
        #[arg(long)]
        format: Option<String>,
        /// Deliberation round limit.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// A MiniLM model directory (config.json, tokenizer.json, model.safetensors): classify
        /// requirements with the shipped model trained on its sentence embeddings (needs a build
        /// with `--features local-embed`). Default: the project's, when its `[memory] embedder`
        /// is "local-bert"; else the hashed-feature model.
        #[arg(long, value_name = "DIR")]
        embeddings: Option<PathBuf>,
    },
}

fn format_arg(f: &Option<String>) -> Result<Option<ir::Format>, CliError> {
    f.as_deref().map(engine_ir::parse_format).transpose().map_err(CliError::from)
}

fn read_hidden(path: &Option<PathBuf>) -> Result<Vec<ir::HiddenConstraint>, CliError> {
    let Some(p) = path else { return Ok(Vec::new()) };
    let text =
        std::fs::read_to_string(p).map_err(|e| CliError::input(format!("{}: {e}", p.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::input(format!(
            "{}:{}:{}: not a JSON list of hidden constraints: {e}\n  help: write [{{\"id\": \"HC-1\", \"text\": \"…\", \"triggers\": [\"word\"]}}]",
            p.display(),
            e.line(),
            e.column()
        ))
    })
}

pub(crate) async fn run_ir(
    cmd: IrCommand,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    match cmd {
        IrCommand::Compile { spec, format, store, embeddings } => {
            let classifier = engine_ir::cli_classifier(embeddings.as_deref(), root)?;
            let checked =
                engine_ir::check_file_with(&spec, format_arg(&format)?, &[], &classifier)?;
            let packet = if store {
                let engine = l9_engine::Engine::open(root, db).await?;
                Some(engine.store_ir(&checked).await?)
            } else {
                None
            };
            if out.json {
                return out.value(checked.ir(), String::new);
            }
            let mut s = summary(&checked);
            if let Some(p) = packet {
                let _ = writeln!(s, "stored as packet {} (kind ir, IR JSON in blob)", p.id);
            }
            out.line(s.trim_end())
        }
        IrCommand::Check { spec, format, hidden, embeddings } => {
            let hidden = read_hidden(&hidden)?;
            let classifier = engine_ir::cli_classifier(embeddings.as_deref(), root)?;
            let checked =
                engine_ir::check_file_with(&spec, format_arg(&format)?, &hidden, &classifier)?;
            let diags = checked.diagnostics();
            if out.json {
                // Which models judged: the classifier that labelled the requirements and the
                // smell tagger the challenger used.
                let smells = engine_ir::smell_judge();
                out.value(
                    &serde_json::json!({
                        "file": checked.path,
                        "diagnostics": diags,
                        "classifier": checked.ir().classifier,
                        "smells": smells,
                    }),
                    String::new,
                )?;
            } else {
                let mut s = String::new();
                let renderer = ir::Renderer::new(&checked.source);
                for d in &diags {
                    s.push_str(&renderer.render(d));
                    s.push('\n');
                }
                let count = |sev| diags.iter().filter(|d| d.severity == sev).count();
                use l9_types::Severity;
                let _ = write!(
                    s,
                    "{}: {} error(s), {} warning(s), {} note(s) in {} nodes",
                    checked.path.display(),
                    count(Severity::Error),
                    count(Severity::Warning),
                    count(Severity::Info) + count(Severity::Hint),
                    checked.ir().nodes.len()
                );
                out.line(&s)?;
            }
            if checked.errors() > 0 { Err(CliError::findings()) } else { Ok(()) }
        }
        IrCommand::Plan { spec, format, rounds, embeddings } => {
            let classifier = engine_ir::cli_classifier(embeddings.as_deref(), root)?;
            let checked =
                engine_ir::check_file_with(&spec, format_arg(&format)?, &[], &classifier)?;
            let d = engine_ir::deliberate(&checked, &[], rounds);
            let plans = engine_ir::plans(&d);
            if out.json {
                let candidates: Vec<serde_json::Value> = plans
                    .iter()
                    .map(|(c, missing)| serde_json::json!({"candidate": c, "points": c.points(), "critical_path": c.critical_path(), "uncovered_musts": missing}))
                    .collect();
                return out.value(&serde_json::json!({"deliberation": {"turns": d.turns, "settled": d.settled}, "candidates": candidates}), String::new);
            }
            let mut s = String::new();
            let amendments: usize = d.turns.iter().map(|t| t.amendments.len()).sum();
            let open = d.open.iter().filter(|f| f.blocking).count();
            let _ = writeln!(
                s,
                "Deliberation: {} round(s), {amendments} amendment(s); {}",
                d.turns.iter().map(|t| t.round).max().unwrap_or(0),
                if d.settled {
                    "no blocking finding left".to_string()
                } else {
                    format!("{open} blocking finding(s) still open")
                }
            );
            // The questions the deliberation asked: each answers its finding for the
            // deliberation, stays open for a person, and is an approval gate of the plan.
            let questions: Vec<&ir::Node> = engine_ir::asked_questions(&d.ir).collect();
            if !questions.is_empty() {
                let _ = writeln!(
                    s,
                    "Questions asked: {} (each an approval gate of the task it concerns)",
                    questions.len()
                );
                for q in questions.iter().take(10) {
                    let _ = writeln!(s, "  {} {}", q.id, snippet(&q.text, 110));
                }
                if questions.len() > 10 {
                    let _ = writeln!(s, "  … {} more (use --json)", questions.len() - 10);
                }
            }
            if plans.is_empty() {
                s.push_str("No plan: the spec has nothing to build (see `l9 ir check`).");
            }
            for (c, missing) in &plans {
                let _ = writeln!(
                    s,
                    "\n{} — {} tasks, {:.1} points, critical path {:.1}; {}\n  {}",
                    c.strategy.name(),
                    c.tasks.len(),
                    c.points(),
                    c.critical_path(),
                    if missing.is_empty() {
                        "every MUST covered".to_string()
                    } else {
                        format!("UNCOVERED MUSTs: {}", missing.join(", "))
                    },
                    c.summary
                );
                for t in c.tasks.iter().take(40) {
                    let gate = match &t.gate {
                        Some(g) => match &g.command {
                            Some(cmd) => format!(
                                "  gate: `{}` + {} criteria",
                                snippet(cmd, 40),
                                g.criteria.len()
                            ),
                            // A group without criteria of its own: what its gate runs then
                            // comes from the task's kind (a test script, the verify gate).
                            None if g.criteria.is_empty() => {
                                "  gate: no criteria of its own".to_string()
                            }
                            None => format!("  gate: {} criteria", g.criteria.len()),
                        },
                        None => String::new(),
                    };
                    let deps = if t.deps.is_empty() {
                        String::new()
                    } else {
                        format!(" ← {}", t.deps.join(", "))
                    };
                    let approval = if t.questions.is_empty() {
                        String::new()
                    } else {
                        let shown: Vec<&str> =
                            t.questions.iter().take(5).map(String::as_str).collect();
                        let more = t.questions.len().saturating_sub(shown.len());
                        format!(
                            "  approval gate: {} open question(s) ({}{})",
                            t.questions.len(),
                            shown.join(", "),
                            if more > 0 { format!(", … {more} more") } else { String::new() }
                        )
                    };
                    let _ = writeln!(
                        s,
                        "  {:<34} {:>5.1}pt  {}{deps}{gate}{approval}",
                        t.id,
                        t.points,
                        snippet(&t.title, 60)
                    );
                }
                if c.tasks.len() > 40 {
                    let _ = writeln!(s, "  … {} more (use --json)", c.tasks.len() - 40);
                }
            }
            out.line(s.trim_end())
        }
    }
}

fn summary(c: &Checked) -> String {
    let ir = c.ir();
    let mut s =
        format!("{} ({}, {} bytes)\n", ir.source.file, ir.source.format.name(), ir.source.bytes);
    if let Some(goal) = ir.nodes.iter().find(|n| n.kind == NodeKind::Goal) {
        let _ = writeln!(s, "goal: {}", snippet(&goal.text, 100));
    }
    let counts: Vec<String> = NodeKind::ALL
        .iter()
        .filter(|k| ir.count(**k) > 0)
        .map(|k| format!("{} {}", ir.count(*k), k.name()))
        .collect();
    let _ = writeln!(s, "nodes: {} ({})", ir.nodes.len(), counts.join(", "));
    let _ = writeln!(s, "edges: {}", ir.edges.len());
    let reqs: Vec<&ir::Node> =
        ir.nodes.iter().filter(|n| n.kind == NodeKind::Requirement).collect();
    if !reqs.is_empty() {
        let quality = reqs
            .iter()
            .filter(|n| n.class.as_ref().is_some_and(|c| c.class == ReqClass::Quality))
            .count();
        let musts = reqs.iter().filter(|n| n.strength.is_some_and(|s| s.is_mandatory())).count();
        let _ = writeln!(
            s,
            "requirements: {} MUST, {} functional, {quality} quality",
            musts,
            reqs.len() - quality
        );
        for n in reqs.iter().take(8) {
            let class = n.class.as_ref().map_or(String::new(), |c| match c.category {
                Some(cat) => cat.name().to_string(),
                None => "functional".to_string(),
            });
            let strength = n.strength.map_or("-".to_string(), |s| format!("{s:?}").to_uppercase());
            let _ = writeln!(
                s,
                "  {:<14} {:<9} {:<15} {}",
                n.id,
                strength,
                class,
                snippet(&n.text, 70)
            );
        }
        if reqs.len() > 8 {
            let _ = writeln!(s, "  … {} more (use --json)", reqs.len() - 8);
        }
        if let Some(by) = &ir.classifier {
            let _ = writeln!(s, "classified by {by}");
        }
    }
    let diags = c.diagnostics();
    let errors = diags.iter().filter(|d| d.severity == l9_types::Severity::Error).count();
    let _ = writeln!(
        s,
        "findings: {} ({errors} error(s)); see `l9 ir check {}`",
        diags.len(),
        c.path.display()
    );
    s
}

/// `l9 bench ir DIR`.
pub(crate) fn bench(
    dir: &Path,
    repeat: usize,
    embeddings: Option<&Path>,
    out: &mut Out,
) -> Result<(), CliError> {
    let files = l9_bench::ir::bench(dir, repeat).map_err(|e| CliError::input(e.to_string()))?;
    let embed = |texts: &[String], baseline: bool| -> Result<String, String> {
        let Some(model) = embeddings else { return Err("no model".into()) };
        let r = if baseline {
            l9_engine::ir::embed_texts_padded(model, texts)
        } else {
            l9_engine::ir::embed_texts(model, texts)
        };
        r.map(|(name, _)| name).map_err(|e| e.to_string())
    };
    let embed_fn: Option<l9_bench::ir::EmbedFn<'_>> = embeddings.map(|_| &embed as _);
    let classify = l9_bench::ir::bench_classify(dir, repeat, embed_fn)
        .map_err(|e| CliError::input(e.to_string()))?;
    let report = serde_json::json!({"files": files, "classify": classify});
    out.value(&report, || {
        let mut s = format!("{:<60} {:>9} {:>9} {:>7} {:>10} {:>10} {:>9} {:>14}\n", "file", "bytes", "format", "nodes", "compile", "+check", "MB/s", "smells/100 req");
        let (mut bytes, mut time, mut base) = (0usize, 0f64, 0f64);
        let (mut reqs, mut tagged, mut listed) = (0usize, 0usize, 0usize);
        for f in &files {
            reqs += f.requirements;
            tagged += f.smells;
            listed += f.smells_lists;
            let per100 = |n: usize| 100.0 * n as f64 / f.requirements.max(1) as f64;
            let c = f.compile.as_secs_f64();
            bytes += f.bytes;
            time += c;
            base += f.baseline.as_secs_f64();
            let _ = writeln!(
                s,
                "{:<60} {:>9} {:>9} {:>7} {:>8.2}ms {:>8.2}ms {:>9.1} {:>14}",
                snippet(&f.file, 60),
                f.bytes,
                f.format,
                f.nodes,
                c * 1e3,
                f.check.as_secs_f64() * 1e3,
                f.bytes as f64 / 1e6 / c.max(1e-9),
                if f.requirements == 0 {
                    "-".to_string()
                } else {
                    format!("{:.0} ({:.0})", per100(f.smells), per100(f.smells_lists))
                }
            );
        }
        let _ = write!(
            s,
            "total: {} files, {:.2} MB in {:.1} ms = {:.1} MB/s; baseline (parse only: serde_json/yaml_serde for OpenAPI, line scan otherwise) {:.1} ms, compile/baseline = {:.1}x",
            files.len(),
            bytes as f64 / 1e6,
            time * 1e3,
            bytes as f64 / 1e6 / time.max(1e-9),
            base * 1e3,
            time / base.max(1e-9)
        );
        let _ = write!(
            s,
            "\nsmell findings per 100 requirements: {:.0} with the learned tagger, {:.0} with the word lists alone (in brackets per file); {} requirements",
            100.0 * tagged as f64 / reqs.max(1) as f64,
            100.0 * listed as f64 / reqs.max(1) as f64,
            reqs
        );
        if let Some(c) = &classify {
            let _ = write!(
                s,
                "\nclassification alone, {} requirement sentences ({} distinct, cycled): learned {:.1} ms ({:.1} µs each), hand lexicon {:.1} ms; learned/lexicon = {:.1}x; compile of all files above {:.1} ms\n  learned model: {}",
                c.requirements,
                c.distinct,
                c.learned.as_secs_f64() * 1e3,
                c.learned.as_secs_f64() * 1e6 / c.requirements as f64,
                c.lexicon.as_secs_f64() * 1e3,
                c.learned.as_secs_f64() / c.lexicon.as_secs_f64().max(1e-9),
                time * 1e3,
                c.features
            );
            if let (Some(t), Some(name)) = (c.embed, &c.embedder) {
                let _ = write!(
                    s,
                    "\n  sentence embeddings of the same {} sentences ({} distinct, each embedded once; {name}, packed batches, model load included): {:.1} ms ({:.2} ms per distinct sentence); embeddings + learned = {:.1}x the learned model alone",
                    c.requirements,
                    c.distinct,
                    t.as_secs_f64() * 1e3,
                    t.as_secs_f64() * 1e3 / c.distinct.max(1) as f64,
                    (t + c.learned).as_secs_f64() / c.learned.as_secs_f64().max(1e-9)
                );
                if let Some(b) = c.embed_baseline {
                    let _ = write!(
                        s,
                        "\n  baseline: candle's BertModel on padded batches of 16, same distinct sentences and cores: {:.1} ms → packed {:.2}x faster",
                        b.as_secs_f64() * 1e3,
                        b.as_secs_f64() / t.as_secs_f64().max(1e-9)
                    );
                }
            }
        }
        s
    })
}
