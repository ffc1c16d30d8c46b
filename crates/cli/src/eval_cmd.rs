//! `l9 eval …`: scoring the IR Engine's classifier and smell detectors on labelled data, and
//! training the learned classifier.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Subcommand;
use l9_engine::ir;
use l9_engine::ir::{
    self as engine_ir, ClassScores, ClassifyOptions, LearnedReport, SmellEval, SmellOptions,
};

use crate::error::CliError;
use crate::output::Out;

#[derive(Debug, Subcommand)]
pub(crate) enum EvalCommand {
    /// Functional vs quality and PROMISE categories: P/R/F1 per class for the hand-set lexicon,
    /// the calibrated lexicon (leave-one-project-out), the shipped learned model (marked SEEN on
    /// rows it was trained on) and the learned model by strict leave-one-project-out (feature
    /// set and L2 chosen inside each fold; mean and spread across folds; confusion matrix),
    /// next to published figures. Given several files, each fold trains on the other projects
    /// of all of them, pooled as `l9 eval train` pools them; projects that share a requirement
    /// text (the same document in two files) are left out together.
    Classify {
        /// CSV files (ProjectID,RequirementText,class,IsNFR) or directories of them.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// Also score this model file (from `l9 eval train --out FILE`).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Skip the learned model's leave-one-project-out (it trains a model per fold).
        #[arg(long)]
        no_lopo: bool,
        /// A MiniLM model directory (config.json, tokenizer.json, model.safetensors): its
        /// sentence embeddings join the leave-one-project-out's candidate features (needs a
        /// build with `--features local-embed`).
        #[arg(long, value_name = "DIR")]
        embeddings: Option<PathBuf>,
    },
    /// Train a learned model on labelled CSV files (seeded, reproducible) and write it with the
    /// hash of the data it came from: the requirement classifier from classification data, the
    /// smell tagger from smell data (ARTA-style columns; told apart by the first file's
    /// header). The default output is the model `l9` embeds when it is next built.
    Train {
        /// CSV files (ProjectID,RequirementText,class,IsNFR, or ARTA smell columns) or
        /// directories of them.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// Where to write the model [default: crates/ir/models/requirements.l9cls, or
        /// crates/ir/models/smells.l9sml for smell data].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of the training order.
        #[arg(long, default_value_t = 9)]
        seed: u64,
        /// A MiniLM model directory: train the requirement classifier with its sentence
        /// embeddings as features as well [default --out:
        /// crates/ir/models/requirements-minilm.l9cls] (needs `--features local-embed`).
        #[arg(long, value_name = "DIR")]
        embeddings: Option<PathBuf>,
    },
    /// The challenger's duplicate-requirement judgement on labelled pairs of requirements
    /// (spec,a,b,duplicate — node ids and 0/1): P/R/F1 per document for the challenger as
    /// shipped, the earlier word-overlap rule, and the share of common terms chosen by
    /// leave-one-document-out.
    Duplicates {
        /// The labelled pairs (the repository's are bench/duplicate_pairs.csv).
        #[arg(long, default_value = "bench/duplicate_pairs.csv")]
        pairs: PathBuf,
        /// The directory the pairs' spec paths are relative to (the corpora).
        #[arg(long)]
        specs: PathBuf,
    },
    /// Requirement smells against expert labels (ARTA DS1–DS4 style CSV): P/R/F1 per smell
    /// for the word lists, the shipped tagger (marked SEEN on rows it was trained on) and the
    /// tagger by strict leave-one-project-out (documents shared between files held out
    /// together; thresholds chosen inside each fold; a fold names the smells its training rows
    /// marked too rarely for a head, whose figures are the word lists') — also after the
    /// challenger's own rules (RFC keywords, context), as `l9 ir check` reports smells — next to
    /// ARTA's published F1.
    Smells {
        /// Labelled CSV files, or directories of them.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// Score this tagger file (from `l9 eval train --out FILE`) instead of the shipped one.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Skip the leave-one-project-out (it trains a tagger per held-out project).
        #[arg(long)]
        no_lopo: bool,
    },
    /// Conflict prediction on a repository's real merges: from the two sides' commit
    /// messages alone (history folded only up to the merge base), do they touch the same
    /// files? Precision and recall against the files they really both changed and against
    /// `git merge-tree`'s textual conflicts, next to predicting a collision every time.
    Conflicts(crate::code_cmd::ConflictArgs),
}

fn scores_table(s: &mut String, m: &ClassScores) {
    let _ = writeln!(s, "  {}", m.model);
    let _ = writeln!(s, "    {:<22} {:>6} {:>6} {:>6} {:>8}", "class", "P", "R", "F1", "support");
    let row = |s: &mut String, name: &str, c: &ir::Counts| {
        let _ = writeln!(
            s,
            "    {:<22} {:>6.3} {:>6.3} {:>6.3} {:>8}",
            name,
            c.precision(),
            c.recall(),
            c.f1(),
            c.support()
        );
    };
    row(s, "functional (F)", &m.functional);
    row(s, "quality (NFR)", &m.quality);
    let _ = writeln!(s, "    {:<22} {:>20.3}", "macro F1 (F vs NFR)", m.binary_macro_f1());
    for (code, c) in &m.categories {
        if c.support() > 0 {
            let name = ir::QualityCategory::from_code(code).map_or(code.as_str(), |q| q.name());
            row(s, name, c);
        }
    }
    let _ = writeln!(s, "    {:<22} {:>20.3}", "macro F1 (categories)", m.category_macro_f1());
    let _ = writeln!(s, "    {:<22} {:>20.3}", "avg F1 (O, PE, SE, US)", m.frequent_four_f1());
}

fn learned_text(s: &mut String, r: &LearnedReport) {
    scores_table(s, &r.scores);
    let _ = writeln!(s, "    candidate features: {}", r.features);
    let _ = writeln!(
        s,
        "    across {} folds: macro F1 (classes present in the fold) mean {:.3}, sd {:.3}",
        r.folds.len(),
        r.fold_macro_f1.0,
        r.fold_macro_f1.1
    );
    let _ = writeln!(
        s,
        "    {:<8} {:>4} {:>4} {:>7} {:>7}  chosen",
        "project", "F", "NFR", "F F1", "NFR F1"
    );
    let cell = |n: u32, f1: f64| if n == 0 { "-".to_string() } else { format!("{f1:.3}") };
    for f in &r.folds {
        let _ = writeln!(
            s,
            "    {:<8} {:>4} {:>4} {:>7} {:>7}  {}, L2 {}",
            f.project,
            f.functional,
            f.quality,
            cell(f.functional, f.functional_f1),
            cell(f.quality, f.quality_f1),
            f.features,
            f.lambda
        );
    }
    let _ = writeln!(s, "    confusion (rows: gold, columns: predicted)");
    let _ = write!(s, "    {:>5}", "");
    for c in &r.classes {
        let _ = write!(s, " {c:>4}");
    }
    s.push('\n');
    for (gold, row) in r.classes.iter().zip(&r.confusion) {
        if row.iter().all(|x| *x == 0) {
            continue;
        }
        let _ = write!(s, "    {gold:>5}");
        for x in row {
            let _ = write!(s, " {x:>4}");
        }
        s.push('\n');
    }
}

pub(crate) fn run_eval(cmd: EvalCommand, out: &mut Out) -> Result<(), CliError> {
    match cmd {
        EvalCommand::Conflicts(a) => crate::code_cmd::eval_conflicts(a, out),
        EvalCommand::Classify { data, model, no_lopo, embeddings } => {
            let opts = ClassifyOptions { model, lopo: !no_lopo, embeddings };
            let evals = engine_ir::eval_classify(&data, &opts)?;
            out.value(&evals, || {
                let mut s = String::new();
                for e in &evals {
                    let _ = writeln!(
                        s,
                        "{} — {} requirements, {} projects",
                        e.file, e.rows, e.projects
                    );
                    if let Some(name) = &e.embedder {
                        let _ = writeln!(s, "  sentence embeddings: {name}");
                    }
                    for m in &e.scores {
                        scores_table(&mut s, m);
                    }
                    if let Some(r) = &e.learned {
                        learned_text(&mut s, r);
                    }
                }
                s.push_str("published (their data split, not ours):\n");
                for (who, fig) in ir::PUBLISHED_BINARY {
                    let _ = writeln!(s, "  {who}: {fig}");
                }
                s.trim_end().to_string()
            })
        }
        EvalCommand::Train { data, out: path, seed, embeddings } => {
            if engine_ir::is_smell_data(&data)? {
                if embeddings.is_some() {
                    return Err(CliError::input(
                        "--embeddings trains the requirement classifier; the smell tagger uses none (drop --embeddings)",
                    ));
                }
                let path = path.unwrap_or_else(|| "crates/ir/models/smells.l9sml".into());
                let t = engine_ir::eval_train_smells(&data, &path, seed)?;
                return out.value(&t, || {
                    let mut s = format!(
                        "wrote {} ({} bytes): smell tagger, {} heads, seed {}\ntrained on {} rows of {} projects; data blake3 {}\n",
                        t.out,
                        t.bytes,
                        t.info.heads.len(),
                        t.info.params.seed,
                        t.info.rows,
                        t.info.projects,
                        t.info.data_hash
                    );
                    for h in &t.info.heads {
                        let _ = writeln!(
                            s,
                            "  {:<30} threshold {:.1}  {} of {} rows marked  scheme {}",
                            h.smell.name(),
                            h.threshold,
                            h.smelly_rows,
                            h.rows,
                            h.scheme
                        );
                    }
                    s.push_str("rebuild l9 to embed it (cargo build --release)");
                    s
                });
            }
            let path = path.unwrap_or_else(|| match embeddings {
                Some(_) => "crates/ir/models/requirements-minilm.l9cls".into(),
                None => "crates/ir/models/requirements.l9cls".into(),
            });
            let t = engine_ir::eval_train(&data, &path, seed, embeddings.as_deref())?;
            out.value(&t, || {
                format!(
                    "wrote {} ({} bytes): {}, L2 {}, {} epochs, seed {}\ntrained on {} rows of {} projects ({} duplicate rows dropped); data blake3 {}\nrebuild l9 to embed it (cargo build --release)",
                    t.out,
                    t.bytes,
                    t.info.features.describe(),
                    t.info.params.lambda,
                    t.info.params.epochs,
                    t.info.params.seed,
                    t.info.rows,
                    t.info.projects,
                    t.duplicates,
                    t.info.data_hash
                )
            })
        }
        EvalCommand::Duplicates { pairs, specs } => {
            let scores = engine_ir::eval_duplicates(&pairs, &specs)?;
            out.value(&scores, || {
                let mut s = format!(
                    "{:<28} {:>6} {:>6}  {:<20} {:<20} {}\n",
                    "spec",
                    "pairs",
                    "dupes",
                    "challenger P/R/F1",
                    "word overlap P/R/F1",
                    "held out: share chosen on the others, P/R/F1"
                );
                let prf = |c: &ir::Counts| {
                    format!("{:.2}/{:.2}/{:.2}", c.precision(), c.recall(), c.f1())
                };
                for d in &scores {
                    let _ = writeln!(
                        s,
                        "{:<28} {:>6} {:>6}  {:<20} {:<20} {}",
                        d.spec,
                        d.pairs,
                        d.challenger.support(),
                        prf(&d.challenger),
                        prf(&d.word_overlap),
                        match (d.held_out_share, &d.held_out) {
                            (Some(x), Some(c)) => format!("{x:.1}: {} (fp {})", prf(c), c.fp),
                            _ => "-".to_string(),
                        }
                    );
                }
                s.trim_end().to_string()
            })
        }
        EvalCommand::Smells { data, model, no_lopo } => {
            let e = engine_ir::eval_smells(&data, &SmellOptions { model, lopo: !no_lopo })?;
            out.value(&e, || smells_text(&e))
        }
    }
}

fn smells_text(e: &SmellEval) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "tagger: {}", e.tagger);
    let _ = writeln!(
        s,
        "a requirement counts as smelly when the experts marked words in that column; F1 per smell"
    );
    for f in &e.files {
        let _ = writeln!(s, "{} — {} requirements", f.file, f.rows);
        let seen = if f.seen > 0 {
            format!("tagger SEEN ({} of {} rows trained on)", f.seen, f.rows)
        } else {
            "tagger".to_string()
        };
        let _ = writeln!(
            s,
            "  {:<30} {:>7} {:>5} {:>26} {:>22} {:>16} {:>12} {:>8}",
            "smell",
            "support",
            "lists",
            seen,
            "tagger LOPO P/R/F1",
            "folds mean±sd",
            "+ challenger",
            "ARTA F1"
        );
        let lopo = f.lopo.as_ref();
        for (smell, lex) in &f.lexicon {
            if lex.support() == 0 {
                continue;
            }
            let tag = f.tagger.iter().find(|(x, _)| x == smell).map(|(_, c)| c.f1()).unwrap_or(0.0);
            let l = lopo.and_then(|l| l.learned.get(smell)).map_or("-".to_string(), |c| {
                format!("{:.2}/{:.2}/{:.3}", c.precision(), c.recall(), c.f1())
            });
            let spread = lopo
                .and_then(|l| l.fold_f1.get(smell))
                .map_or("-".to_string(), |(m, sd, n)| format!("{m:.2}±{sd:.2} ({n})"));
            let arta = ir::arta_f1(*smell).map_or("-".to_string(), |a| format!("{a:.2}"));
            let ch = lopo
                .and_then(|l| l.challenged.get(smell))
                .map_or("-".to_string(), |c| format!("{:.3}", c.f1()));
            let _ = writeln!(
                s,
                "  {:<30} {:>7} {:>5.3} {:>26.3} {:>22} {:>16} {:>12} {:>8}",
                smell.name(),
                lex.support(),
                lex.f1(),
                tag,
                l,
                spread,
                ch,
                arta
            );
        }
        if let Some(l) = lopo {
            let above = |scores: &std::collections::BTreeMap<ir::Smell, ir::Counts>| {
                let mut beat = (0, 0);
                for (smell, c) in scores {
                    if let Some(a) = ir::arta_f1(*smell)
                        && c.support() > 0
                    {
                        beat.1 += 1;
                        beat.0 += usize::from(c.f1() > a);
                    }
                }
                beat
            };
            let (beat, ch) = (above(&l.learned), above(&l.challenged));
            let _ = writeln!(
                s,
                "  leave-one-project-out: {} folds; tagger above ARTA's F1 on {} of {} smells present ({} of {} as the challenger reports them)",
                l.folds.len(),
                beat.0,
                beat.1,
                ch.0,
                ch.1
            );
            if l.folds.iter().any(|f| !f.by_lists.is_empty()) {
                let _ = writeln!(
                    s,
                    "    (word list): the fold's training rows marked too few requirements with that smell for a head — the figure is the word list's"
                );
            }
            for fold in &l.folds {
                let cells: Vec<String> = fold
                    .learned
                    .iter()
                    .filter(|(_, c)| c.support() > 0)
                    .map(|(sm, c)| {
                        let lists = if fold.by_lists.contains(sm) { " (word list)" } else { "" };
                        format!("{} {:.2}{lists}", sm.name(), c.f1())
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    "    held out {} ({} rows, trained on {}): {}",
                    fold.projects.join(" + "),
                    fold.rows,
                    fold.trained_on,
                    cells.join(", ")
                );
            }
        }
    }
    s.trim_end().to_string()
}
