//! `l9-ir` — the IR Engine (tier T1, pure).
//!
//! Spec text in, typed IR graph plus diagnostics out. Read it in this order:
//!
//! * [`model`]: the IR — nodes (goal, requirement, constraint, component, interface,
//!   acceptance criterion, assumption, question, risk, non-goal) and edges (refines,
//!   depends_on, constrains, verifies, implements, conflicts_with, mitigates), each node with
//!   a stable id, its source span and a confidence.
//! * [`compile`]: detects the format (or takes `--format`) and runs one front end —
//!   Markdown, RFC-style text, Gherkin, OpenAPI 3.x (JSON/YAML) or plain prose — into a shared
//!   builder that assigns ids, links `verifies`/`depends_on` edges and classifies every
//!   requirement ([`classify`]: functional vs quality + PROMISE category, with the features
//!   that decided it).
//! * [`challenge`]: requirement smells, MUST without acceptance, numeric conflicts,
//!   duplicates, and hidden constraints handed in by the caller; [`validate`]: named rules
//!   with stable codes; [`deliberate`]: the proposer/critic protocol; [`plan`]: plan
//!   candidates by strategy; [`eval`]: scoring the classifier and smell detectors on labelled
//!   CSV data.
//!
//! What it is not: it does no IO and has no async. Parsing never fails and never panics:
//! bad input yields diagnostics with file, line and column and whatever IR could be built.

pub mod challenge;
pub mod classify;
pub mod deliberate;
pub mod eval;
pub mod learn;
pub mod model;
pub mod plan;
pub mod render;
pub mod smells;
pub mod validate;

mod builder;
mod gherkin;
mod markdown;
mod openapi;
mod prose;
mod records;
mod rfc;
mod text;

use l9_types::Diagnostic;

pub use challenge::{Finding, HiddenConstraint};
pub use classify::Classifier;
pub use model::{
    Classification, Edge, EdgeKind, Format, IR_VERSION, InterfaceDetail, Ir, Node, NodeKind,
    Parameter, QualityCategory, ReqClass, ScenarioDetail, SourceInfo, Step, Strength,
};

/// The compiler's answer: always an IR (possibly empty) and the problems found on the way.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub ir: Ir,
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == l9_types::Severity::Error)
    }
}

/// Guesses the format from the file name, then from the content.
pub fn detect_format(file: &str, text: &str) -> Format {
    let lower = file.to_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let head: &str = &text[..text::floor_char(text, text.len().min(4096))];
    let looks_openapi = head.contains("\"openapi\"")
        || head.contains("\"swagger\"")
        || head.lines().any(|l| l.starts_with("openapi:") || l.starts_with("swagger:"));
    match ext {
        "md" | "markdown" | "mdown" | "mkd" => return Format::Markdown,
        "rst" | "rest" => return Format::Rst,
        "adoc" | "asciidoc" | "asc" => return Format::Asciidoc,
        "feature" => return Format::Gherkin,
        "json" | "yaml" | "yml" => return Format::Openapi,
        _ => {}
    }
    if looks_openapi {
        return Format::Openapi;
    }
    let first_keyword_line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@'));
    // Only Gherkin opens with `# language:` (its keywords are then that language's).
    if first_keyword_line.is_some_and(|l| l.starts_with("Feature:"))
        || text.trim_start().starts_with("# language:")
    {
        return Format::Gherkin;
    }
    if head.contains("Request for Comments:")
        || head.contains("Internet-Draft")
        || head.contains("Network Working Group")
    {
        return Format::Rfc;
    }
    let markdown_lines = head
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            (t.starts_with('#')
                && t.trim_start_matches('#').starts_with(' ')
                && !t.starts_with("# language"))
                || t.starts_with("- ")
                || t.starts_with("* ")
                || t.starts_with("```")
        })
        .count();
    if ext == "txt" || ext == "text" {
        return Format::Prose;
    }
    if markdown_lines >= 2 { Format::Markdown } else { Format::Prose }
}

/// Compiles `text` (named `file` in spans) with the default classifier.
pub fn compile(file: &str, text: &str, format: Option<Format>) -> Compiled {
    compile_with(file, text, format, &Classifier::default())
}

pub fn compile_with(
    file: &str,
    text: &str,
    format: Option<Format>,
    classifier: &Classifier,
) -> Compiled {
    compile_loading(file, text, format, classifier, None)
}

/// Reads the other files a spec refers to (an OpenAPI `$ref` to `schemas/pet.yaml`), for
/// the IR engine, which does no IO itself. `path` is relative to the spec's directory,
/// normalised (`a/../b.yaml` is `b.yaml`; it may start with `../`). An `Err` says why the
/// file was not read, and is reported as a warning at the `$ref`.
pub trait RefLoader: std::fmt::Debug {
    fn load(&self, path: &str) -> Result<String, String>;
}

/// [`compile_with`], reading the files the spec refers to through `loader`.
pub fn compile_loading(
    file: &str,
    text: &str,
    format: Option<Format>,
    classifier: &Classifier,
    loader: Option<&dyn RefLoader>,
) -> Compiled {
    let format = format.unwrap_or_else(|| detect_format(file, text));
    let mut b = builder::Builder::new(file, text, format);
    b.loader = loader;
    match format {
        Format::Markdown => markdown::compile(&mut b),
        Format::Rfc => rfc::compile(&mut b),
        Format::Gherkin => gherkin::compile(&mut b),
        Format::Openapi => openapi::compile(&mut b),
        Format::Prose => prose::compile(&mut b),
        Format::Rst => markdown::compile_rst(&mut b),
        Format::Asciidoc => markdown::compile_adoc(&mut b),
    }
    let (ir, diagnostics) = b.finish(classifier);
    Compiled { ir, diagnostics }
}

/// Runs `bytes` through one front end: the IR and its diagnostics, rendered against the
/// source. The body of the per-format fuzz targets in `fuzz/` (`scripts/fuzz`): it must
/// never panic.
pub fn exercise_front(format: Format, bytes: &[u8]) -> usize {
    let c = compile_bytes("fuzz", bytes, Some(format));
    let source = String::from_utf8_lossy(bytes);
    let renderer = render::Renderer::new(&source);
    let rendered: usize = c.diagnostics.iter().map(|x| renderer.render(x).len()).sum();
    c.ir.nodes.len() + c.ir.edges.len() + rendered
}

/// Runs `bytes` through one front end and everything downstream (challenger, validator,
/// deliberation, plan adapter, diagnostic rendering). The body of the `pipeline` fuzz target
/// and of the robustness property tests: it must never panic.
pub fn exercise(format: Option<Format>, bytes: &[u8]) -> usize {
    let c = compile_bytes("fuzz", bytes, format);
    let source = String::from_utf8_lossy(bytes);
    let mut memo = challenge::SmellMemo::default();
    let findings = challenge::challenge_keeping(&c.ir, Some(&source), &[], &mut memo);
    let valid = validate::validate(&c.ir);
    let mut critic =
        deliberate::RuleCritic::new(Some(source.to_string()), Vec::new()).with_memo(memo);
    let d = deliberate::deliberate(&c.ir, &mut deliberate::RuleProposer, &mut critic, 2);
    let plans = plan::candidates(&d.ir);
    let renderer = render::Renderer::new(&source);
    let rendered: usize = c.diagnostics.iter().map(|x| renderer.render(x).len()).sum();
    c.ir.nodes.len() + findings.len() + valid.len() + plans.len() + rendered
}

/// A file that is not text, by its first bytes: what it is and how to make text of it (a
/// PDF, a Word or OpenDocument file, RTF). Specs are text; these are refused, not read as
/// garbage.
pub fn not_text(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(b"%PDF-") {
        Some(("a PDF document", "convert it to text first, e.g. `pdftotext -layout FILE spec.txt`"))
    } else if bytes.starts_with(b"PK\x03\x04") {
        Some((
            "a zip archive (a Word .docx or OpenDocument file?)",
            "save it as Markdown or plain text, e.g. `pandoc FILE -t gfm -o spec.md`",
        ))
    } else if bytes.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        Some(("an old Word or Excel document", "save it as plain text or Markdown"))
    } else if bytes.starts_with(b"{\\rtf") {
        Some(("an RTF document", "save it as plain text, e.g. `pandoc FILE -t gfm -o spec.md`"))
    } else {
        None
    }
}

/// The text of a file's bytes: a UTF-8 byte order mark dropped, UTF-16 (with a byte order
/// mark, or the zero bytes of mostly-ASCII text) decoded; `None` for other bytes, which are
/// read as UTF-8.
/// Bytes as text: a byte order mark dropped, UTF-16 decoded, bad UTF-8 replaced.
pub fn text_of(bytes: &[u8]) -> String {
    decoded(bytes).unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

fn decoded(bytes: &[u8]) -> Option<String> {
    let units = |b: &[u8], le: bool| -> String {
        let u16s = b.chunks_exact(2).map(|c| {
            if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) }
        });
        char::decode_utf16(u16s).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
    };
    let text = match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        [0xFF, 0xFE, rest @ ..] => units(rest, true),
        [0xFE, 0xFF, rest @ ..] => units(rest, false),
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => units(bytes, true),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => units(bytes, false),
        _ => return None,
    };
    // A byte order mark written twice (UTF-8 text converted to UTF-16) is no text either.
    Some(text.trim_start_matches('\u{feff}').to_string())
}

/// Bytes that may not be UTF-8: decoded lossily, with a diagnostic naming the first bad byte.
/// A byte order mark is dropped and UTF-16 decoded; a PDF, Word or RTF file is refused with
/// an error that says how to make text of it.
pub fn compile_bytes(file: &str, bytes: &[u8], format: Option<Format>) -> Compiled {
    compile_bytes_with(file, bytes, format, &Classifier::default())
}

/// [`compile_bytes`] with a given requirement classifier.
pub fn compile_bytes_with(
    file: &str,
    bytes: &[u8],
    format: Option<Format>,
    classifier: &Classifier,
) -> Compiled {
    compile_bytes_loading(file, bytes, format, classifier, None)
}

/// [`compile_bytes_with`], reading the files the spec refers to through `loader`.
pub fn compile_bytes_loading(
    file: &str,
    bytes: &[u8],
    format: Option<Format>,
    classifier: &Classifier,
    loader: Option<&dyn RefLoader>,
) -> Compiled {
    let compile_with = |file: &str, text: &str, format, classifier: &Classifier| {
        compile_loading(file, text, format, classifier, loader)
    };
    if let Some((what, help)) = not_text(bytes) {
        let mut c = compile_with(file, "", format, classifier);
        c.diagnostics.insert(
            0,
            Diagnostic::error("L9-IR-003", format!("{file} is {what}, not text")).with_help(help),
        );
        return c;
    }
    if let Some(text) = decoded(bytes) {
        return compile_with(file, &text, format, classifier);
    }
    match std::str::from_utf8(bytes) {
        Ok(t) => compile_with(file, t, format, classifier),
        Err(e) => {
            let text = String::from_utf8_lossy(bytes);
            let mut c = compile_with(file, &text, format, classifier);
            let at = e.valid_up_to();
            let idx = text::LineIndex::new(file, &text);
            c.diagnostics.insert(
                0,
                Diagnostic::warning("L9-IR-002", format!("the file is not valid UTF-8 (first bad byte at offset {at}); bad bytes were replaced"))
                    .with_span(idx.span(at, at))
                    .with_help("save the file as UTF-8"),
            );
            c
        }
    }
}
