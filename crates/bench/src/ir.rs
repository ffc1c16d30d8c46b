//! `l9 bench ir`: every spec under a directory compiled, and compiled and checked, next to
//! the cost of merely parsing the same bytes, in the same process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use l9_ir::Format;
use l9_ir::challenge;
use serde::Serialize;

use crate::{BenchError, Result};

/// One compiled file in `l9 bench ir`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchFile {
    pub file: String,
    pub bytes: usize,
    pub format: String,
    pub nodes: usize,
    /// Best of the repeats.
    pub compile: Duration,
    /// Compile plus challenge and validate, best of the repeats.
    pub check: Duration,
    /// Requirement-like nodes (requirements, constraints, acceptance criteria).
    pub requirements: usize,
    /// Smell findings of the challenger (learned tagger) and of the word lists alone.
    pub smells: usize,
    pub smells_lists: usize,
    /// Baseline in the same process: parsing only (serde_json/yaml for OpenAPI, a line scan
    /// otherwise) — what any tool must pay to read the file at all.
    pub baseline: Duration,
}

/// Compiles every spec under `dir` (recursively) `repeat` times.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition
pub fn bench(dir: &Path, repeat: usize) -> Result<Vec<BenchFile>> {
    let start = std::time::Instant::now();
    let clock = || start.elapsed();
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let name = path.display().to_string();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let format = l9_ir::detect_format(&name, &text);
        let (mut compile, mut check_t, mut baseline) =
            (Duration::MAX, Duration::MAX, Duration::MAX);
        let mut nodes = 0;
        for _ in 0..repeat.max(1) {
            let t0 = clock();
            let c = l9_ir::compile(&name, &text, Some(format));
            let t1 = clock();
            let findings = challenge::challenge(&c.ir, Some(&text), &[]);
            let v = l9_ir::validate::validate(&c.ir);
            let t2 = clock();
            std::hint::black_box((&findings, &v));
            nodes = c.ir.nodes.len();
            compile = compile.min(t1 - t0);
            check_t = check_t.min(t2 - t0);
            let t3 = clock();
            let parsed = baseline_parse(format, &text);
            let t4 = clock();
            std::hint::black_box(parsed);
            baseline = baseline.min(t4 - t3);
        }
        let c = l9_ir::compile(&name, &text, Some(format));
        let count = |judge| {
            challenge::challenge_judged(&c.ir, Some(&text), &[], judge)
                .iter()
                .filter(|f| f.code.starts_with("L9-SMELL"))
                .count()
        };
        out.push(BenchFile {
            file: name,
            bytes: bytes.len(),
            format: format.name().into(),
            nodes,
            requirements: c
                .ir
                .nodes
                .iter()
                .filter(|n| {
                    matches!(
                        n.kind,
                        l9_ir::NodeKind::Requirement
                            | l9_ir::NodeKind::Constraint
                            | l9_ir::NodeKind::AcceptanceCriterion
                    )
                })
                .count(),
            smells: count(challenge::SmellJudge::Tagger),
            smells_lists: count(challenge::SmellJudge::WordLists),
            compile,
            check: check_t,
            baseline,
        });
    }
    Ok(out)
}

/// Classification alone: requirement sentences classified by the shipped learned model and by
/// the hand lexicon, side by side, over the same texts.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyBench {
    /// Sentences classified per model (the requirements of the specs, cycled up to 1,000).
    pub requirements: usize,
    /// Distinct requirement texts found in the specs.
    pub distinct: usize,
    pub learned: Duration,
    pub lexicon: Duration,
    /// What the learned model uses.
    pub features: String,
    /// Sentence embeddings of the same sentences (`--embeddings`), best of the repeats, and
    /// the embedder's name.
    pub embed: Option<Duration>,
    pub embedder: Option<String>,
    /// The same sentences through the baseline embedder (candle's padded `BertModel`).
    pub embed_baseline: Option<Duration>,
}

/// Embeds texts with the caller's sentence embedder (`true`: its baseline implementation)
/// and names it, or says why not.
pub type EmbedFn<'a> = &'a dyn Fn(&[String], bool) -> std::result::Result<String, String>;

/// Classifies the requirements of every spec under `dir` (at least 1,000 sentences, cycling
/// through them) with the shipped learned model and with the hand lexicon; best of `repeat`.
/// `None` when the specs have no requirement.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition
pub fn bench_classify(
    dir: &Path,
    repeat: usize,
    embed: Option<EmbedFn<'_>>,
) -> Result<Option<ClassifyBench>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut texts = Vec::new();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let c = l9_ir::compile_bytes(&path.display().to_string(), &bytes, None);
        texts.extend(
            c.ir.nodes
                .into_iter()
                .filter(|n| n.kind == l9_ir::NodeKind::Requirement)
                .map(|n| n.text),
        );
    }
    if texts.is_empty() {
        return Ok(None);
    }
    let distinct = texts.iter().collect::<std::collections::HashSet<_>>().len();
    let n = texts.len().max(1000);
    let sentences: Vec<&str> = texts.iter().cycle().take(n).map(String::as_str).collect();
    let learned = l9_ir::Classifier::default();
    let lexicon = l9_ir::Classifier::lexicon();
    let start = std::time::Instant::now();
    let time = |c: &l9_ir::Classifier| {
        let t0 = start.elapsed();
        for s in &sentences {
            std::hint::black_box(c.classify(s));
        }
        start.elapsed() - t0
    };
    let (mut l, mut x) = (Duration::MAX, Duration::MAX);
    for _ in 0..repeat.max(1) {
        l = l.min(time(&learned));
        x = x.min(time(&lexicon));
    }
    let (mut embed_t, mut embedder, mut embed_base) = (None, None, None);
    if let Some(f) = embed {
        let owned: Vec<String> = sentences.iter().map(|s| s.to_string()).collect();
        let (mut best, mut best_base) = (Duration::MAX, Duration::MAX);
        // Alternating, so both see the same machine.
        for _ in 0..repeat.max(1) {
            let t0 = start.elapsed();
            embedder = Some(f(&owned, false).map_err(BenchError::Io)?);
            best = best.min(start.elapsed() - t0);
            let t0 = start.elapsed();
            f(&owned, true).map_err(BenchError::Io)?;
            best_base = best_base.min(start.elapsed() - t0);
        }
        embed_t = Some(best);
        embed_base = Some(best_base);
    }
    Ok(Some(ClassifyBench {
        requirements: n,
        distinct,
        learned: l,
        lexicon: x,
        features: learned.describe(),
        embed: embed_t,
        embedder,
        embed_baseline: embed_base,
    }))
}

fn baseline_parse(format: Format, text: &str) -> usize {
    match format {
        Format::Openapi if text.trim_start().starts_with('{') => {
            serde_json::from_str::<serde_json::Value>(text)
                .map(|v| v.as_object().map_or(0, |o| o.len()))
                .unwrap_or(0)
        }
        Format::Openapi => yaml_serde::from_str::<serde_json::Value>(text)
            .map(|v| v.as_object().map_or(0, |o| o.len()))
            .unwrap_or(0),
        _ => text.lines().filter(|l| !l.trim().is_empty()).count(),
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    for entry in
        std::fs::read_dir(dir).map_err(|e| BenchError::Io(format!("{}: {e}", dir.display())))?
    {
        let Ok(entry) = entry else { continue };
        let p = entry.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| {
            ["md", "markdown", "feature", "json", "yaml", "yml", "txt"].iter().any(|e| x == *e)
        }) {
            out.push(p);
        }
    }
    Ok(())
}
