//! `l9 eval smells` and training the smell tagger (`l9 eval train` on smell data).

use std::path::{Path, PathBuf};

use l9_ir::eval::{self, Counts, SmellLopo};
use l9_ir::learn::Params;
use l9_ir::learn::tagger::{SmellTagger, TaggerInfo};
use l9_ir::smells::{Smell, SmellRow};
use l9_types::Diagnostic;
use serde::Serialize;

use super::{csv_files, read_text};
use crate::{EngineError, Result};

/// What `l9 eval smells` scores besides the word lists.
#[derive(Debug, Clone, Default)]
pub struct SmellOptions {
    /// A tagger file from `l9 eval train --out FILE` to score instead of the shipped one.
    pub model: Option<PathBuf>,
    /// Run the tagger's leave-one-project-out (trains a tagger per held-out project).
    pub lopo: bool,
}

/// One file's smell scores.
#[derive(Debug, Clone, Serialize)]
pub struct SmellFile {
    pub file: String,
    pub rows: usize,
    /// The file's labelling scheme (its smell headers).
    pub scheme: String,
    /// The word lists alone.
    pub lexicon: Vec<(Smell, Counts)>,
    /// The shipped (or `--model`) tagger; `seen` rows were among its training rows, so these
    /// figures are not an estimate of unseen data when `seen > 0`.
    pub tagger: Vec<(Smell, Counts)>,
    pub seen: usize,
    /// The tagger by strict leave-one-project-out (when asked for).
    pub lopo: Option<SmellLopo>,
}

/// Smell scores per file, and pooled over the files.
#[derive(Debug, Clone, Serialize)]
pub struct SmellEval {
    /// What the scored tagger is.
    pub tagger: String,
    pub files: Vec<SmellFile>,
    pub pooled_lexicon: Vec<(Smell, Counts)>,
    pub pooled_tagger: Vec<(Smell, Counts)>,
}

/// Every smell CSV named, as (path, its rows): files named directly must read; files of a named
/// directory that are not smell data are skipped.
pub(crate) fn smell_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Vec<SmellRow>)>> {
    let mut out = Vec::new();
    for (path, explicit) in csv_files(paths)? {
        let name = path.display().to_string();
        match eval::read_smells(&name, &read_text(&path)?) {
            Ok(rows) => out.push((path, rows)),
            Err(_) if !explicit => continue,
            Err(d) => return Err(EngineError::Input(vec![*d])),
        }
    }
    Ok(out)
}

/// Whether the labelled files named are smell data (their first CSV has smell columns) rather
/// than classification data.
pub fn is_smell_data(paths: &[PathBuf]) -> Result<bool> {
    let Some((first, _)) = csv_files(paths)?.into_iter().next() else { return Ok(false) };
    let text = read_text(&first)?;
    let header = text.lines().next().unwrap_or("");
    Ok(header.split(',').any(|h| eval::smell_column(h.trim_matches('"')).is_some()))
}

/// Reads a tagger file written by `l9 eval train`.
pub fn read_tagger(path: &Path) -> Result<SmellTagger> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
    SmellTagger::from_bytes(&bytes).map_err(|e| {
        EngineError::Input(vec![
            Diagnostic::error("L9-EVAL-003", format!("{}: {e}", path.display()))
                .with_help("give a file written by `l9 eval train --out FILE` on smell data"),
        ])
    })
}

fn add(into: &mut std::collections::BTreeMap<Smell, Counts>, from: &[(Smell, Counts)]) {
    for (s, c) in from {
        into.entry(*s).or_default().merge(c);
    }
}

pub fn eval_smells(paths: &[PathBuf], opts: &SmellOptions) -> Result<SmellEval> {
    let custom = opts.model.as_deref().map(read_tagger).transpose()?;
    let tagger = match &custom {
        Some(t) => Some(t),
        None => l9_ir::learn::tagger::shipped(),
    };
    let loaded = smell_files(paths)?;
    let all: Vec<SmellRow> = loaded.iter().flat_map(|(_, rows)| rows.iter().cloned()).collect();
    let mut files = Vec::new();
    let mut at = 0;
    let (mut pooled_lexicon, mut pooled_tagger) = Default::default();
    for (path, rows) in &loaded {
        let target: Vec<usize> = (at..at + rows.len()).collect();
        at += rows.len();
        let lexicon: Vec<(Smell, Counts)> = eval::smells(rows).into_iter().collect();
        let (scored, seen) = match tagger {
            Some(t) => (
                eval::tagger_scores(t, rows).into_iter().collect(),
                rows.iter().filter(|r| t.has_seen(&r.text)).count(),
            ),
            None => (lexicon.clone(), 0),
        };
        add(&mut pooled_lexicon, &lexicon);
        add(&mut pooled_tagger, &scored);
        let lopo = opts.lopo.then(|| eval::smell_lopo(&all, &target, Params::DEFAULT));
        files.push(SmellFile {
            file: path.display().to_string(),
            rows: rows.len(),
            scheme: rows.first().map(|r| r.scheme.clone()).unwrap_or_default(),
            lexicon,
            tagger: scored,
            seen,
            lopo,
        });
    }
    Ok(SmellEval {
        tagger: tagger
            .map_or_else(|| "word lists (no tagger shipped)".into(), SmellTagger::describe),
        files,
        pooled_lexicon: pooled_lexicon.into_iter().collect(),
        pooled_tagger: pooled_tagger.into_iter().collect(),
    })
}

/// What `l9 eval train` made of smell data.
#[derive(Debug, Clone, Serialize)]
pub struct TaggerTrained {
    pub out: String,
    pub bytes: usize,
    pub info: TaggerInfo,
}

/// Trains the smell tagger on labelled smell CSV files and writes it to `out` (atomically).
pub fn eval_train_smells(paths: &[PathBuf], out: &Path, seed: u64) -> Result<TaggerTrained> {
    super::check_out_dir(out, "crates/ir/models/smells.l9sml")?;
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for (path, r) in smell_files(paths)? {
        rows.extend(r);
        names.push(super::base_name(&path));
    }
    let trained_by = format!("l9 eval train --seed {seed} --data {}", names.join(" "));
    let tagger = SmellTagger::train(&rows, Params { seed, ..Params::DEFAULT }, &trained_by);
    let bytes = tagger.to_bytes();
    let tmp = out.with_extension("l9sml.tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| EngineError::io(&tmp, e))?;
    std::fs::rename(&tmp, out).map_err(|e| EngineError::io(out, e))?;
    Ok(TaggerTrained { out: out.display().to_string(), bytes: bytes.len(), info: tagger.info })
}

/// Scores the challenger's duplicate judgement on labelled pairs (`spec,a,b,duplicate`, ids of
/// requirement nodes), compiling each spec from `specs` (a spec path is relative to it).
pub fn eval_duplicates(pairs: &Path, specs: &Path) -> Result<Vec<eval::DuplicateScores>> {
    let name = pairs.display().to_string();
    let ids =
        eval::read_pair_ids(&name, &read_text(pairs)?).map_err(|d| EngineError::Input(vec![*d]))?;
    let mut compiled: std::collections::BTreeMap<
        String,
        std::collections::HashMap<String, String>,
    > = Default::default();
    let mut labelled = Vec::new();
    for (spec, a, b, duplicate, line) in ids {
        if !compiled.contains_key(&spec) {
            let path = specs.join(&spec);
            let bytes = std::fs::read(&path).map_err(|e| EngineError::io(&path, e))?;
            let c = l9_ir::compile_bytes(&path.display().to_string(), &bytes, None);
            let texts = c.ir.nodes.into_iter().map(|n| (n.id, n.text)).collect();
            compiled.insert(spec.clone(), texts);
        }
        let texts = &compiled[&spec];
        let text = |id: &str| {
            texts.get(id).cloned().ok_or_else(|| {
                EngineError::Input(vec![
                    Diagnostic::error(
                        "L9-EVAL-005",
                        format!("{spec} has no requirement {id} (named on line {line})"),
                    )
                    .with_span(l9_types::Span::line(&name, line))
                    .with_help("the pairs were labelled on another version of the spec or its compiler; relabel them"),
                ])
            })
        };
        labelled.push(eval::LabelledPair { a: text(&a)?, b: text(&b)?, spec, duplicate });
    }
    Ok(eval::duplicate_scores(&labelled))
}

/// What judges smells in the challenger: the shipped tagger, or the word lists alone.
pub fn smell_judge() -> String {
    l9_ir::learn::tagger::shipped().map_or_else(|| "word lists".to_string(), SmellTagger::describe)
}
