//! Gherkin `.feature` files, in any of the spoken languages Gherkin knows (`# language: de`;
//! English without that line). Feature → goal (its free-text description,
//! usually a user story, → a requirement; without one, the Feature's name is the requirement
//! its scenarios verify); Rule → requirement (both with the strength of a
//! normative keyword they state: "Rule: Orders must be paid within 7 days" is a MUST; none
//! without one); Scenario, Example and Scenario
//! Outline (with Examples) → acceptance criteria that keep their Given/When/Then steps, the
//! Background steps and the tags in force.

use l9_types::Diagnostic;

use crate::builder::{Builder, Draft};
use crate::model::{EdgeKind, NodeKind, ScenarioDetail, Step, Strength};
use crate::text;

mod dialect;

use dialect::Dialect;

#[derive(Debug, Default)]
struct Scenario {
    name: String,
    start: usize,
    end: usize,
    tags: Vec<String>,
    steps: Vec<Step>,
    examples: Vec<Vec<String>>,
    outline: bool,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Block {
    None,
    FeatureDescription,
    Background,
    Scenario,
    Examples,
    RuleDescription,
}

#[derive(Debug)]
struct State {
    goal: Option<String>,
    feature_name: Vec<String>,
    feature_tags: Vec<String>,
    feature_desc: Vec<(usize, usize)>,
    feature_req: Option<String>,
    /// Where the `Feature:` line is.
    feature_at: (usize, usize),
    rule: Option<(String, Vec<String>)>,
    rule_desc_done: bool,
    background: Vec<Step>,
    rule_background: Vec<Step>,
    pending_tags: Vec<String>,
    scenario: Option<Scenario>,
    block: Block,
    in_docstring: Option<&'static str>,
    /// Where the open doc string started (for the warning when it never closes).
    docstring_at: (usize, usize),
    /// The open doc string's lines so far, and the column its delimiter stands at.
    docstring: (Vec<String>, usize),
    /// The first and last line of text before the `Feature:` line, and how many lines.
    before_feature: Option<(usize, usize, usize)>,
    /// A `# language:` other than English.
    language: Option<String>,
    /// The keywords of the file's language.
    words: &'static Dialect,
}

pub(crate) fn compile(b: &mut Builder<'_>) {
    let src = b.text;
    let mut st = State {
        goal: None,
        feature_name: Vec::new(),
        feature_tags: Vec::new(),
        feature_desc: Vec::new(),
        feature_req: None,
        feature_at: (0, 0),
        rule: None,
        rule_desc_done: true,
        background: Vec::new(),
        rule_background: Vec::new(),
        pending_tags: Vec::new(),
        scenario: None,
        block: Block::None,
        in_docstring: None,
        docstring_at: (0, 0),
        docstring: (Vec::new(), 0),
        before_feature: None,
        language: None,
        words: dialect::english(),
    };
    let mut pos = 0;
    for raw in src.split_inclusive('\n') {
        let end = pos + raw.trim_end_matches(['\n', '\r']).len();
        let line_start = pos;
        pos += raw.len();
        let line = &src[line_start..end];
        let t = line.trim();
        let lead = line.len() - line.trim_start().len();
        let (s, e) = (line_start + lead, end);
        if let Some(delim) = st.in_docstring {
            if t.starts_with(delim) {
                st.in_docstring = None;
                let text = std::mem::take(&mut st.docstring.0).join("\n");
                if let Some(step) = last_step(&mut st) {
                    step.doc_string = Some(text);
                }
            } else {
                // As in Gherkin, the delimiter's indentation is removed from each line.
                let cut = line.char_indices().nth(st.docstring.1).map_or(line.len(), |(i, _)| i);
                let kept =
                    if line[..cut].trim().is_empty() { &line[cut..] } else { line.trim_start() };
                st.docstring.0.push(kept.replace("\\\"\\\"\\\"", "\"\"\""));
            }
            continue;
        }
        if t.starts_with("\"\"\"") || t.starts_with("```") {
            st.in_docstring = Some(if t.starts_with("```") { "```" } else { "\"\"\"" });
            st.docstring_at = (s, e);
            st.docstring = (Vec::new(), line[..lead].chars().count());
            continue;
        }
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            let c = c.trim();
            if let Some(lang) = c.strip_prefix("language:") {
                let lang = lang.trim();
                match dialect::of(lang) {
                    Some(words) => st.words = words,
                    None => b.diag(
                        Diagnostic::warning("L9-IR-031", format!("Gherkin knows no language `{lang}`; keywords are read as English"))
                            .with_help("use one of Gherkin's language codes (`en`, `de`, `fr`, `es`, `pt-BR`, `zh-CN`…) or remove the `# language:` line"),
                        s,
                        e,
                    ),
                }
                if lang != "en" {
                    st.language = Some(lang.to_string());
                }
            }
            continue;
        }
        if t.starts_with('@') {
            st.pending_tags.extend(
                t.split_whitespace().take_while(|w| !w.starts_with('#')).map(|w| w.to_string()),
            );
            continue;
        }
        if let Some(name) = Dialect::block(&st.words.feature, t) {
            end_scenario(b, &mut st);
            finish_feature_desc(b, &mut st);
            let tags = std::mem::take(&mut st.pending_tags);
            st.feature_tags = tags.clone();
            st.feature_name = vec![name.to_string()];
            st.feature_at = (s, e);
            st.goal =
                Some(b.add(Draft::new(NodeKind::Goal, name, s, e).tags(tags).confidence(0.95)));
            st.block = Block::FeatureDescription;
            continue;
        }
        if let Some(name) = Dialect::block(&st.words.rule, t) {
            end_scenario(b, &mut st);
            finish_feature_desc(b, &mut st);
            let tags = std::mem::take(&mut st.pending_tags);
            let section = section(&st);
            let id = b.add(
                Draft::new(NodeKind::Requirement, name, s, e)
                    .section(&section)
                    .tags(tags.clone())
                    .strength(stated_strength(name))
                    .confidence(0.85),
            );
            if let Some(g) = &st.goal {
                b.edge(&id, g, EdgeKind::Refines, "rule of feature");
            }
            st.rule = Some((id, tags));
            st.rule_background.clear();
            st.rule_desc_done = false;
            st.block = Block::RuleDescription;
            continue;
        }
        if Dialect::block(&st.words.background, t).is_some() {
            end_scenario(b, &mut st);
            finish_feature_desc(b, &mut st);
            st.pending_tags.clear();
            st.block = Block::Background;
            continue;
        }
        if let Some((name, outline)) = Dialect::block(&st.words.scenario_outline, t)
            .map(|n| (n, true))
            .or_else(|| Dialect::block(&st.words.scenario, t).map(|n| (n, false)))
        {
            end_scenario(b, &mut st);
            finish_feature_desc(b, &mut st);
            st.rule_desc_done = true;
            let tags = std::mem::take(&mut st.pending_tags);
            st.scenario = Some(Scenario {
                name: name.to_string(),
                start: s,
                end: e,
                tags,
                outline,
                ..Scenario::default()
            });
            st.block = Block::Scenario;
            continue;
        }
        if Dialect::block(&st.words.examples, t).is_some() {
            st.pending_tags.clear();
            st.block = Block::Examples;
            continue;
        }
        if t.starts_with('|') {
            let cells = table_cells(t);
            if st.block == Block::Examples
                && let Some(sc) = st.scenario.as_mut()
            {
                if sc.examples.first() != Some(&cells) {
                    sc.examples.push(cells);
                }
                sc.end = e;
            } else if let Some(step) = last_step(&mut st) {
                step.table.push(cells);
            }
            continue;
        }
        // In a Feature's or Rule's description a line that starts like a step (`And I want
        // …` of a user story) is description, as in the official Gherkin parser.
        let describing = matches!(st.block, Block::FeatureDescription | Block::RuleDescription);
        if let Some(step) = step_line(st.words, t).filter(|_| !describing) {
            match st.block {
                Block::Background => {
                    if st.rule.is_some() {
                        st.rule_background.push(step);
                    } else {
                        st.background.push(step);
                    }
                }
                Block::Scenario => {
                    if let Some(sc) = st.scenario.as_mut() {
                        sc.steps.push(step);
                        sc.end = e;
                    }
                }
                Block::None => note_before_feature(&mut st, s, e),
                _ => b.diag(
                    Diagnostic::warning("L9-IR-030", "a step outside a Scenario or Background")
                        .with_help("put the step under a `Scenario:` or `Background:` line"),
                    s,
                    e,
                ),
            }
            continue;
        }
        match st.block {
            Block::FeatureDescription => st.feature_desc.push((s, e)),
            Block::RuleDescription
            | Block::Scenario
            | Block::Background
            | Block::Examples
            | Block::None => {
                if st.block == Block::None {
                    note_before_feature(&mut st, s, e);
                }
                // Free-text descriptions under rules and scenarios are allowed by Gherkin.
            }
        }
    }
    end_scenario(b, &mut st);
    finish_feature_desc(b, &mut st);
    if st.in_docstring.is_some() {
        let (s, e) = st.docstring_at;
        b.diag(
            Diagnostic::warning(
                "L9-IR-033",
                "this doc string is never closed; the rest of the file was read as its text",
            )
            .with_help("close it with the same delimiter (`\"\"\"` or ```) on a line of its own"),
            s,
            e,
        );
    }
    match (st.goal.is_some(), st.before_feature) {
        // No Feature line: one error, at the first line of text (where it was expected).
        (false, first) if !src.trim().is_empty() => {
            let (s, e) = first.map_or((0, 0), |(s, e, _)| (s, e));
            let feature = st.words.feature.first().map_or("Feature", String::as_str);
            let help = match &st.language {
                Some(lang) => format!("a .feature file in `{lang}` needs `{feature}: name`; use --format to read the file as another kind"),
                None => "a .feature file needs `Feature: name` (or a `# language:` line first, for keywords in another language); use --format to read the file as another kind".into(),
            };
            b.diag(
                Diagnostic::error("L9-IR-032", "no `Feature:` line found").with_help(help),
                s,
                e,
            );
        }
        // Text before the Feature line: one warning for all of it.
        (true, Some((s, e, lines))) => {
            let msg = if lines == 1 {
                "text before the `Feature:` line".to_string()
            } else {
                format!("{lines} lines of text before the `Feature:` line")
            };
            b.diag(
                Diagnostic::warning("L9-IR-030", msg)
                    .with_help("a .feature file starts with `Feature: name` (tags and comments may come first)"),
                s,
                e,
            );
        }
        _ => {}
    }
}

/// Remembers a line of text (or a step) met before any `Feature:` line.
fn note_before_feature(st: &mut State, s: usize, e: usize) {
    st.before_feature = Some(match st.before_feature {
        Some((first_s, first_e, n)) => (first_s, first_e, n + 1),
        None => (s, e, 1),
    });
}

fn section(st: &State) -> Vec<String> {
    st.feature_name.clone()
}

/// The cells of a table row, `| a | b\|c |` → `a`, `b|c` (`\\` is a backslash, `\n` a line
/// break, as in Gherkin).
fn table_cells(row: &str) -> Vec<String> {
    let inner = row.trim().strip_prefix('|').unwrap_or(row);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('|') => cell.push('|'),
                Some('n') => cell.push('\n'),
                Some('\\') => cell.push('\\'),
                Some(other) => {
                    cell.push('\\');
                    cell.push(other);
                }
                None => cell.push('\\'),
            },
            '|' => cells.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
    }
    // Text after the last `|` is no cell.
    cells
}

/// The step the current block ended on (a doc string or a table belongs to it).
fn last_step(st: &mut State) -> Option<&mut Step> {
    match st.block {
        Block::Scenario => st.scenario.as_mut().and_then(|sc| sc.steps.last_mut()),
        Block::Background if st.rule.is_some() => st.rule_background.last_mut(),
        Block::Background => st.background.last_mut(),
        _ => None,
    }
}

fn step_line(words: &Dialect, t: &str) -> Option<Step> {
    words.step(t).map(|(keyword, text)| Step {
        keyword: keyword.to_string(),
        text: text.to_string(),
        doc_string: None,
        table: Vec::new(),
    })
}

/// The feature's description (usually "In order to … As a … I want …") is its requirement.
/// The strength of the firm normative keyword a Rule or a Feature's description states (as an
/// API description's sentences are read: `must`, `shall`, `should`, `required to`, BCP 14's
/// upper-case words), if any.
fn stated_strength(text: &str) -> Option<Strength> {
    text::firm_keyword(text).map(|k| k.strength)
}

fn finish_feature_desc(b: &mut Builder<'_>, st: &mut State) {
    if st.feature_desc.is_empty() || st.feature_req.is_some() {
        st.feature_desc.clear();
        return;
    }
    let (s, _) = st.feature_desc[0];
    let (_, e) = st.feature_desc[st.feature_desc.len() - 1];
    let text: Vec<&str> = st.feature_desc.iter().map(|&(s, e)| b.text[s..e].trim()).collect();
    let text = text.join(" ");
    let strength = stated_strength(&text);
    let id = b.add(
        Draft::new(NodeKind::Requirement, text, s, e)
            .section(&section(st))
            .tags(st.feature_tags.clone())
            .strength(strength)
            .confidence(0.7),
    );
    if let Some(g) = &st.goal {
        b.edge(&id, g, EdgeKind::Refines, "feature description");
    }
    st.feature_req = Some(id);
    st.feature_desc.clear();
}

fn end_scenario(b: &mut Builder<'_>, st: &mut State) {
    let Some(sc) = st.scenario.take() else { return };
    let mut tags = st.feature_tags.clone();
    if let Some((_, rule_tags)) = &st.rule {
        tags.extend(rule_tags.iter().cloned());
    }
    tags.extend(sc.tags);
    tags.dedup();
    let mut background = st.background.clone();
    background.extend(st.rule_background.iter().cloned());
    // A Feature without a description (nor a Rule over this scenario) is what its name says:
    // that is the requirement its scenarios verify (else nothing would be there to build).
    if st.rule.is_none()
        && st.feature_req.is_none()
        && let (Some(g), Some(name)) = (st.goal.clone(), st.feature_name.first().cloned())
        && !name.trim().is_empty()
    {
        let (s, e) = st.feature_at;
        let id = b.add(
            Draft::new(NodeKind::Requirement, name.clone(), s, e)
                .section(&section(st))
                .tags(st.feature_tags.clone())
                .strength(stated_strength(&name))
                .confidence(0.6),
        );
        b.edge(&id, &g, EdgeKind::Refines, "feature name");
        st.feature_req = Some(id);
    }
    let mut d = Draft::new(NodeKind::AcceptanceCriterion, sc.name, sc.start, sc.end)
        .section(&section(st))
        .tags(tags)
        .confidence(if sc.outline && sc.examples.len() < 2 { 0.7 } else { 0.95 });
    d.scenario = Some(ScenarioDetail { background, steps: sc.steps, examples: sc.examples });
    let id = b.add(d);
    let target = st.rule.as_ref().map(|r| (r.0.clone(), "scenario of rule")).or_else(|| {
        st.feature_req
            .clone()
            .map(|r| (r, "scenario of feature"))
            .or_else(|| st.goal.clone().map(|g| (g, "scenario of feature")))
    });
    if let Some((target, why)) = target {
        b.edge(&id, &target, EdgeKind::Verifies, why);
    }
}
