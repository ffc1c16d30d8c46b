//! The IR Engine's operations for the edges: read a spec file, compile, challenge, validate,
//! deliberate, plan; store the IR as a packet; evaluate on labelled data; benchmark.

use std::path::{Path, PathBuf};

use l9_ir::challenge::{self, Finding};
use l9_ir::deliberate::{self, Deliberation, RuleCritic, RuleProposer};
use l9_ir::eval;
use l9_ir::learn::{self, Learned, ModelInfo, Params};
use l9_ir::plan::{self, PlanCandidate};
use l9_ir::{Classifier, Compiled, Ir};
use l9_types::{Diagnostic, PacketDraft, PacketEnvelope, Severity};
use serde::Serialize;

use crate::{Engine, EngineError, Result};

mod classifier;
mod smells;
pub use classifier::{cli_classifier, minilm_classifier, spec_classifier};
pub use smells::{
    SmellEval, SmellFile, SmellOptions, TaggerTrained, eval_duplicates, eval_smells,
    eval_train_smells, is_smell_data, read_tagger, smell_judge,
};

/// The IR's types the edges render, by name.
pub use l9_ir::challenge::HiddenConstraint;
pub use l9_ir::deliberate::asked_questions;
pub use l9_ir::eval::{ClassScores, Counts, LearnedReport, PUBLISHED_BINARY, arta_f1};
pub use l9_ir::render::Renderer;
pub use l9_ir::smells::Smell;
pub use l9_ir::{Format, Node, NodeKind, QualityCategory, ReqClass};

/// A spec file read from disk and compiled, with every finding.
#[derive(Debug, Clone)]
pub struct Checked {
    pub path: PathBuf,
    pub source: String,
    pub compiled: Compiled,
    /// Challenger and validator findings (deduplicated by code and node).
    pub findings: Vec<Finding>,
    /// The smells of each text, judged once: [`deliberate`] starts from them.
    pub smells: challenge::SmellMemo,
}

impl Checked {
    pub fn ir(&self) -> &Ir {
        &self.compiled.ir
    }

    /// Parse diagnostics followed by findings, errors first within each.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut all = self.compiled.diagnostics.clone();
        all.extend(self.findings.iter().map(Finding::to_diagnostic));
        all.sort_by_key(|d| std::cmp::Reverse(d.severity));
        all
    }

    pub fn errors(&self) -> usize {
        self.diagnostics().iter().filter(|d| d.severity == Severity::Error).count()
    }
}

/// A spec file's bytes: a regular file (not a device, FIFO or directory) of at most
/// [`l9_types::limits::SPEC_BYTES`], read no further than that.
pub(crate) fn read_spec(path: &Path) -> Result<(String, Vec<u8>)> {
    let setting = &l9_types::limits::SPEC_BYTES;
    let bytes = read_bounded(path).map_err(|e| match e {
        Unread::Io(e) => EngineError::io(path, e),
        Unread::Refused(m) => {
            EngineError::Input(vec![Diagnostic::error("L9-IR-002", m).with_help(format!(
                "a spec is a regular file of at most {} bytes ({})",
                setting.get(),
                setting.hint()
            ))])
        }
    })?;
    not_a_document(path, &bytes)?;
    Ok((path.display().to_string(), bytes))
}

/// Why a spec file was not read.
enum Unread {
    Io(std::io::Error),
    /// Not a regular file, or over `L9_MAX_SPEC_BYTES`.
    Refused(String),
}

/// A regular file of at most `L9_MAX_SPEC_BYTES`, or why not.
fn read_bounded(path: &Path) -> std::result::Result<Vec<u8>, Unread> {
    use std::io::Read;
    let limit = l9_types::limits::SPEC_BYTES.get();
    let refused = |m: String| Err(Unread::Refused(m));
    let meta = std::fs::metadata(path).map_err(Unread::Io)?;
    if !meta.is_file() {
        return refused(format!("{} is not a regular file", path.display()));
    }
    if meta.len() > limit {
        return refused(format!(
            "{} is {} bytes, over the limit of {limit} bytes",
            path.display(),
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(Unread::Io)?;
    if bytes.len() as u64 > limit {
        return refused(format!(
            "{} grew past the limit of {limit} bytes while read",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Reads the files a spec's references name (OpenAPI `$ref`s), relative to the spec's
/// directory, each as a spec is read (a regular text file within `L9_MAX_SPEC_BYTES`). An
/// absolute path is not read: a spec names its parts relative to itself.
#[derive(Debug)]
struct BesideSpec {
    dir: PathBuf,
}

impl l9_ir::RefLoader for BesideSpec {
    fn load(&self, path: &str) -> std::result::Result<String, String> {
        if Path::new(path).is_absolute() {
            return Err(format!(
                "`{path}` is an absolute path; name the file relative to the document that refers to it"
            ));
        }
        let full = self.dir.join(path);
        let bytes = read_bounded(&full).map_err(|e| match e {
            Unread::Io(e) => format!("{}: {e}", full.display()),
            Unread::Refused(m) => m,
        })?;
        if let Some((what, _)) = l9_ir::not_text(&bytes) {
            return Err(format!("{} is {what}, not text", full.display()));
        }
        Ok(l9_ir::text_of(&bytes))
    }
}

/// Refuses a spec file that is a PDF, Word or RTF document ([`l9_ir::not_text`]), reading
/// only its first bytes; other files (and those that cannot be read) pass, for the reader
/// proper to judge.
pub fn refuse_documents(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut head = Vec::with_capacity(16);
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(16).read_to_end(&mut head);
    }
    not_a_document(path, &head)
}

fn not_a_document(path: &Path, bytes: &[u8]) -> Result<()> {
    match l9_ir::not_text(bytes) {
        Some((what, help)) => Err(EngineError::Input(vec![
            Diagnostic::error("L9-IR-003", format!("{} is {what}, not text", path.display()))
                .with_help(help.replace("FILE", &path.display().to_string())),
        ])),
        None => Ok(()),
    }
}

pub fn parse_format(name: &str) -> Result<Format> {
    Format::parse(name).ok_or_else(|| {
        EngineError::Input(vec![
            Diagnostic::error("L9-IR-001", format!("unknown format `{name}`"))
                .with_help("use one of: markdown, rst, asciidoc, rfc, gherkin, openapi, prose"),
        ])
    })
}

/// Compiles, challenges and validates a spec file. `hidden` come from the world model.
pub fn check_file(
    path: &Path,
    format: Option<Format>,
    hidden: &[challenge::HiddenConstraint],
) -> Result<Checked> {
    check_file_with(path, format, hidden, &Classifier::default())
}

/// [`check_file`] with a given requirement classifier (see [`spec_classifier`]).
pub fn check_file_with(
    path: &Path,
    format: Option<Format>,
    hidden: &[challenge::HiddenConstraint],
    classifier: &Classifier,
) -> Result<Checked> {
    let (name, bytes) = read_spec(path)?;
    let dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    let loader = BesideSpec { dir };
    let compiled = l9_ir::compile_bytes_loading(&name, &bytes, format, classifier, Some(&loader));
    let source = String::from_utf8_lossy(&bytes).into_owned();
    Ok(check(path.to_path_buf(), source, compiled, hidden))
}

/// The plan candidates of the spec at `path`: compiled, challenged, deliberated and planned
/// as a run's first stage does, without the world model's hidden constraints (they add
/// constraints, never the requirements a plan is made of). `l9 sim` simulates them; `l9 run`
/// asks whether there are any before it makes a fresh repository for the code.
pub fn spec_plans(path: &Path) -> Result<Vec<(PlanCandidate, Vec<String>)>> {
    let checked = check_file(path, None, &[])?;
    Ok(plans(&deliberate(&checked, &[], 3)))
}

/// Compiles spec text; `name` (a file name) tells its format (`spec.md`, `api.yaml`,
/// `x.feature`, …), as a file's name would.
pub fn compile_text(name: &str, text: &str, classifier: &Classifier) -> Ir {
    l9_ir::compile_bytes_with(name, text.as_bytes(), None, classifier).ir
}

/// Compiles, challenges and validates spec text (`name` tells its format).
pub fn check_text(name: &str, text: &str) -> Checked {
    check_text_with(name, text, &Classifier::default())
}

/// [`check_text`] with a given requirement classifier (see [`spec_classifier`]).
pub fn check_text_with(name: &str, text: &str, classifier: &Classifier) -> Checked {
    let compiled = l9_ir::compile_bytes_with(name, text.as_bytes(), None, classifier);
    check(PathBuf::from(name), text.to_string(), compiled, &[])
}

pub fn check(
    path: PathBuf,
    source: String,
    mut compiled: Compiled,
    hidden: &[challenge::HiddenConstraint],
) -> Checked {
    let mut smells = challenge::SmellMemo::default();
    let mut findings =
        challenge::challenge_keeping(&compiled.ir, Some(&source), hidden, &mut smells);
    // Validate before the challenger's conflicts become edges (they are reported already).
    let validated = l9_ir::validate::validate(&compiled.ir);
    challenge::link_conflicts(&mut compiled.ir, &findings);
    let mut seen: std::collections::BTreeSet<(String, Option<String>, String)> =
        findings.iter().map(|f| (f.code.clone(), f.node.clone(), f.message.clone())).collect();
    for f in validated {
        if f.code == "L9-VAL-004" {
            continue; // the challenger already reports a MUST without acceptance
        }
        if seen.insert((f.code.clone(), f.node.clone(), f.message.clone())) {
            findings.push(f);
        }
    }
    Checked { path, source, compiled, findings, smells }
}

/// Runs the deliberation cell with the rule-based proposer and critic.
pub fn deliberate(
    checked: &Checked,
    hidden: &[challenge::HiddenConstraint],
    rounds: u32,
) -> Deliberation {
    let mut critic = RuleCritic::new(Some(checked.source.clone()), hidden.to_vec())
        .with_memo(checked.smells.clone());
    deliberate::deliberate(checked.ir(), &mut RuleProposer, &mut critic, rounds)
}

/// Plan candidates for a deliberated IR, each with the MUSTs it leaves uncovered. Every
/// question the deliberation asked about a blocking finding (a TBD, two limits that disagree,
/// whatever blocking finding it could not settle by an assumed acceptance criterion) is an
/// approval gate of the plan (`PlanTask::questions`): the task that works from the node the
/// question is about waits for an operator's answer instead of building on the assumption
/// unseen, and the plan never ends unresolved for open questions.
pub fn plans(d: &Deliberation) -> Vec<(PlanCandidate, Vec<String>)> {
    let ir = &d.ir;
    plan::candidates(ir)
        .into_iter()
        .map(|mut c| {
            plan::gate_open_questions(ir, &mut c);
            let missing = plan::coverage(ir, &c);
            (c, missing)
        })
        .collect()
}

impl Engine {
    /// Stores a checked spec in the memory substrate: the spec itself (a packet of kind
    /// `spec` with the source text as a content-addressed blob) and its IR (a packet of kind
    /// `ir` whose body summarises it, whose blob is the IR's JSON, and whose parent is the
    /// spec packet). Returns the IR packet.
    pub async fn store_ir(&self, checked: &Checked) -> Result<PacketEnvelope> {
        self.store_ir_in(checked, None).await
    }

    /// [`Engine::store_ir`] for a run: both packets carry the run's id, and what an earlier
    /// execution of the same step stored for the same source (it crashed before its journal
    /// entry was filed) is reused instead of written again.
    pub async fn store_ir_for_run(
        &self,
        checked: &Checked,
        run: l9_types::RunId,
    ) -> Result<PacketEnvelope> {
        self.store_ir_in(checked, Some(run)).await
    }

    /// A packet of `kind` this run stored for the source with this hash, if any.
    async fn stored_for_run(
        &self,
        kind: &str,
        run: l9_types::RunId,
        source_hash: &str,
    ) -> Result<Option<PacketEnvelope>> {
        let filter = l9_store::PacketFilter {
            kinds: vec![kind.to_string()],
            run: Some(run),
            ..Default::default()
        };
        let page =
            self.store().list_packets(&filter, &l9_store::Page { after: None, limit: 100 }).await?;
        Ok(page.packets.into_iter().find(|p| p.body["source_hash"].as_str() == Some(source_hash)))
    }

    async fn store_ir_in(
        &self,
        checked: &Checked,
        run: Option<l9_types::RunId>,
    ) -> Result<PacketEnvelope> {
        let ir = checked.ir();
        let hash = ir.source.hash.to_string();
        if let Some(run) = run {
            if let Some(ir_packet) = self.stored_for_run("ir", run, &hash).await? {
                return Ok(ir_packet);
            }
            if let Some(spec) = self.stored_for_run("spec", run, &hash).await? {
                return self.store_ir_of(ir, Some(spec.id), Some(run)).await;
            }
        }
        let mut spec = PacketDraft::new("spec")
            .text(format!(
                "spec {}: {}",
                ir.source.file,
                checked.source.chars().take(400).collect::<String>()
            ))
            .body(serde_json::json!({
                "file": ir.source.file,
                "path": checked.path.display().to_string(),
                "source_hash": ir.source.hash,
                "bytes": checked.source.len(),
            }))
            .actor("l9-ir");
        if let Some(run) = run {
            spec = spec.run(run);
        }
        let blob = l9_memory::BlobInput {
            data: checked.source.clone().into_bytes(),
            media_type: Some("text/plain".into()),
            name: Some(ir.source.file.clone()),
        };
        let spec = self.memory().put(spec, vec![blob]).await?;
        self.store_ir_of(ir, Some(spec.id), run).await
    }

    /// Stores a chosen plan: a packet of kind `plan` (strategy, tasks, forecast) whose parent
    /// is the IR it was planned from.
    pub(crate) async fn store_plan(
        &self,
        plan: &l9_ir::plan::PlanCandidate,
        forecast: &serde_json::Value,
        ir: Option<l9_types::PacketId>,
    ) -> Result<PacketEnvelope> {
        let tasks: Vec<serde_json::Value> = plan
            .tasks
            .iter()
            .map(|t| serde_json::json!({"id": t.id, "kind": t.kind.name(), "title": t.title, "deps": t.deps}))
            .collect();
        let mut draft = PacketDraft::new("plan")
            .text(format!("plan {} ({} tasks)", plan.strategy.name(), plan.tasks.len()))
            .body(serde_json::json!({"strategy": plan.strategy.name(), "tasks": tasks, "forecast": forecast}))
            .actor("l9-plan");
        if let Some(p) = ir {
            draft = draft.parent(p);
        }
        Ok(self.memory().put(draft, Vec::new()).await?)
    }

    /// Stores an IR (see [`Engine::store_ir`]) with `spec` as its parent, for `run`.
    async fn store_ir_of(
        &self,
        ir: &Ir,
        spec: Option<l9_types::PacketId>,
        run: Option<l9_types::RunId>,
    ) -> Result<PacketEnvelope> {
        let json = serde_json::to_vec(ir)
            .map_err(|e| EngineError::Internal(format!("cannot serialize the IR: {e}")))?;
        let counts: serde_json::Map<String, serde_json::Value> = l9_ir::NodeKind::ALL
            .iter()
            .map(|k| (k.name().replace(' ', "_"), serde_json::Value::from(ir.count(*k))))
            .collect();
        let body = serde_json::json!({
            "file": ir.source.file,
            "format": ir.source.format.name(),
            "source_hash": ir.source.hash,
            "ir_version": ir.version,
            "nodes": counts,
            "edges": ir.edges.len(),
        });
        let goal = ir
            .nodes
            .iter()
            .find(|n| n.kind == l9_ir::NodeKind::Goal)
            .map_or("", |n| n.text.as_str());
        let mut draft = PacketDraft::new("ir")
            .text(format!("IR of {} ({}): {goal}", ir.source.file, ir.source.format.name()))
            .body(body)
            .actor("l9-ir");
        if let Some(p) = spec {
            draft = draft.parent(p);
        }
        if let Some(run) = run {
            draft = draft.run(run);
        }
        let blob = l9_memory::BlobInput {
            data: json,
            media_type: Some("application/json".into()),
            name: Some("ir.json".into()),
        };
        Ok(self.memory().put(draft, vec![blob]).await?)
    }
}

/// Every CSV named (files, or directories of `.csv` files, sorted); `true` when the file
/// was named directly (a directory's files that do not fit the evaluation are skipped).
pub(crate) fn csv_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| EngineError::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                .collect();
            entries.sort();
            out.extend(entries.into_iter().map(|e| (e, false)));
        } else {
            out.push((p.clone(), true));
        }
    }
    if out.is_empty() {
        return Err(EngineError::Input(vec![
            Diagnostic::error("L9-EVAL-002", "no CSV files given")
                .with_help("pass --data FILE.csv (or a directory of them)"),
        ]));
    }
    Ok(out)
}

pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Classification scores per data file.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyEval {
    pub file: String,
    pub rows: usize,
    pub projects: usize,
    /// The baselines and the model under test (the shipped one, or `--model`).
    pub scores: Vec<ClassScores>,
    /// The learned model by strict leave-one-project-out on this file (none with one project
    /// or when not asked for).
    pub learned: Option<LearnedReport>,
    /// The sentence embedder whose vectors joined the candidate features (`--embeddings`).
    pub embedder: Option<String>,
}

/// What `l9 eval classify` scores besides the baselines.
#[derive(Debug, Clone, Default)]
pub struct ClassifyOptions {
    /// A model file from `l9 eval train` to score next to the shipped one.
    pub model: Option<PathBuf>,
    /// Run the learned model's leave-one-project-out (trains a model per fold).
    pub lopo: bool,
    /// A MiniLM (BERT-family) model directory: its sentence embeddings join the candidate
    /// features of the leave-one-project-out (needs the `local-embed` build).
    pub embeddings: Option<PathBuf>,
}

/// Sentence embeddings of `texts` by the BERT-family model in `dir` (all-MiniLM-L6-v2), and
/// the embedder's name.
#[cfg(feature = "local-embed")]
pub fn embed_texts(dir: &Path, texts: &[String]) -> Result<(String, Vec<Vec<f32>>)> {
    use l9_memory::Embedder as _;
    let m = sentence_model(dir)?;
    Ok((m.name(), m.embed_now(texts).map_err(|e| no_embeddings(e.to_string()))?))
}

/// Requirements are sentences: cut at 128 word pieces, what all-MiniLM-L6-v2 was trained on
/// (and what the shipped MiniLM classifier was trained with).
#[cfg(feature = "local-embed")]
const SENTENCE_PIECES: usize = 128;

/// The sentence model in `dir`, as requirements are embedded (loaded anew on every call).
#[cfg(feature = "local-embed")]
fn sentence_model(dir: &Path) -> Result<l9_memory::LocalBertEmbedder> {
    l9_memory::LocalBertEmbedder::load_truncating(dir, SENTENCE_PIECES)
        .map_err(|e| no_embeddings(e.to_string()))
}

/// [`embed_texts`] by candle's own `BertModel` on padded batches: the baseline
/// `l9 bench ir --embeddings` times next to it.
#[cfg(feature = "local-embed")]
pub fn embed_texts_padded(dir: &Path, texts: &[String]) -> Result<(String, Vec<Vec<f32>>)> {
    let v = l9_memory::reference_embeddings(dir, SENTENCE_PIECES, texts)
        .map_err(|e| no_embeddings(format!("{}: {e}", dir.display())))?;
    Ok(("candle BertModel (padded)".into(), v))
}

/// The model directory given to `--embeddings` does not embed.
#[cfg(feature = "local-embed")]
fn no_embeddings(message: String) -> EngineError {
    EngineError::Input(vec![Diagnostic::error("L9-EVAL-006", message).with_help(
        "give --embeddings the directory holding config.json, tokenizer.json and model.safetensors",
    )])
}

/// Without the `local-embed` build there is no sentence embedder.
#[cfg(not(feature = "local-embed"))]
pub fn embed_texts_padded(dir: &Path, texts: &[String]) -> Result<(String, Vec<Vec<f32>>)> {
    embed_texts(dir, texts)
}

/// Without the `local-embed` build there is no sentence embedder.
#[cfg(not(feature = "local-embed"))]
pub fn embed_texts(_dir: &Path, _texts: &[String]) -> Result<(String, Vec<Vec<f32>>)> {
    Err(without_local_embed())
}

/// What asking for sentence embeddings says in a build without them.
#[cfg(not(feature = "local-embed"))]
fn without_local_embed() -> EngineError {
    EngineError::Input(vec![
        Diagnostic::error("L9-EVAL-006", "this l9 was built without sentence embeddings")
            .with_help(
                "rebuild with `cargo build --release --features local-embed` to use --embeddings",
            ),
    ])
}

/// Reads a model file written by `l9 eval train`.
pub fn read_model(path: &Path) -> Result<Learned> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
    let bad = |e: String| {
        EngineError::Input(vec![
            Diagnostic::error("L9-EVAL-003", format!("{}: {e}", path.display()))
                .with_help("give a file written by `l9 eval train --out FILE`"),
        ])
    };
    learn::from_bytes(&bytes).map_err(bad)
}

/// Every classification CSV named, as (path, its rows): files named directly must read;
/// files of a named directory that are not classification data are skipped.
fn classification_files(
    paths: &[PathBuf],
) -> Result<Vec<(PathBuf, Vec<l9_ir::classify::Example>)>> {
    let mut out = Vec::new();
    for (path, explicit) in csv_files(paths)? {
        let name = path.display().to_string();
        match eval::read_classification(&name, &read_text(&path)?) {
            Ok(rows) => out.push((path, rows)),
            Err(_) if !explicit => continue,
            Err(d) => return Err(EngineError::Input(vec![*d])),
        }
    }
    Ok(out)
}

pub fn eval_classify(paths: &[PathBuf], opts: &ClassifyOptions) -> Result<Vec<ClassifyEval>> {
    let model = opts.model.as_deref().map(read_model).transpose()?;
    if let (Some(m), Some(path)) = (&model, &opts.model)
        && m.info.features.dense > 0
        && opts.embeddings.is_none()
    {
        // Its scores would be wrong without the sentence embeddings it was trained with.
        return Err(EngineError::Input(vec![
            Diagnostic::error(
                "L9-EVAL-003",
                format!(
                    "{}: the model needs {}-d sentence embeddings",
                    path.display(),
                    m.info.features.dense
                ),
            )
            .with_help("give --embeddings DIR, the MiniLM model it was trained with"),
        ]));
    }
    let mut files = Vec::new();
    let mut embedder = None;
    for (path, mut rows) in classification_files(paths)? {
        if let Some(dir) = &opts.embeddings {
            let texts: Vec<String> = rows.iter().map(|r| r.text.clone()).collect();
            let (name, vectors) = embed_texts(dir, &texts)?;
            for (r, v) in rows.iter_mut().zip(vectors) {
                r.dense = Some(v);
            }
            embedder = Some(name);
        }
        files.push((path, rows));
    }
    // Each file's leave-one-project-out folds train on the other projects of every file given,
    // as the shipped model is trained on them all.
    let pooled: Vec<&[l9_ir::classify::Example]> =
        files.iter().map(|(_, r)| r.as_slice()).collect();
    let mut out = Vec::new();
    for (i, (path, rows)) in files.iter().enumerate() {
        let embedder = embedder.clone();
        let mut scores = eval::classification(rows);
        if let Some(m) = &model {
            scores.push(eval::model_scores("--model", m, rows).0);
        }
        let learned =
            if opts.lopo { eval::learned_lopo_pooled(&pooled, i, Params::DEFAULT) } else { None };
        out.push(ClassifyEval {
            embedder,
            file: path.display().to_string(),
            rows: rows.len(),
            projects: eval::projects_of(rows).len(),
            scores,
            learned,
        });
    }
    Ok(out)
}

/// What `l9 eval train` made.
#[derive(Debug, Clone, Serialize)]
pub struct Trained {
    pub out: String,
    pub bytes: usize,
    pub info: ModelInfo,
    /// Rows dropped because an earlier file had the same text.
    pub duplicates: usize,
}

/// A data file's name as a model's `trained_by` records it (the path when it has none).
pub(crate) fn base_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Where a trained model goes is checked before the training, not after.
pub(crate) fn check_out_dir(out: &Path, default: &str) -> Result<()> {
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if dir.is_dir() {
        return Ok(());
    }
    Err(EngineError::Input(vec![
        Diagnostic::error(
            "L9-EVAL-004",
            format!("cannot write {}: {} is not a directory", out.display(), dir.display()),
        )
        .with_help(format!(
            "run from the L9 repository (the default is {default}) or give --out FILE"
        )),
    ]))
}

/// Trains the learned classifier on labelled CSV files (rows deduplicated by text, first
/// file first), choosing the feature set and L2 by project-grouped cross-validation, and
/// writes the model file to `out` (atomically: a temporary file, then a rename).
pub fn eval_train(
    paths: &[PathBuf],
    out: &Path,
    seed: u64,
    embeddings: Option<&Path>,
) -> Result<Trained> {
    check_out_dir(out, "crates/ir/models/requirements.l9cls")?;
    let mut all = Vec::new();
    let mut names = Vec::new();
    for (path, rows) in classification_files(paths)? {
        all.extend(rows);
        names.push(base_name(&path));
    }
    let total = all.len();
    let mut rows = eval::dedup_examples(all);
    let mut by = String::new();
    if let Some(dir) = embeddings {
        let texts: Vec<String> = rows.iter().map(|r| r.text.clone()).collect();
        let (name, vectors) = embed_texts(dir, &texts)?;
        for (r, v) in rows.iter_mut().zip(vectors) {
            r.dense = Some(v);
        }
        by = format!(" --embeddings ({name})");
    }
    let trained_by = format!("l9 eval train --seed {seed}{by} --data {}", names.join(" "));
    let model = eval::train_selected(&rows, Params { seed, ..Params::DEFAULT }, &trained_by);
    let bytes = learn::to_bytes(&model);
    let tmp = out.with_extension("l9cls.tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| EngineError::io(&tmp, e))?;
    std::fs::rename(&tmp, out).map_err(|e| EngineError::io(out, e))?;
    Ok(Trained {
        out: out.display().to_string(),
        bytes: bytes.len(),
        info: model.info,
        duplicates: total - rows.len(),
    })
}
