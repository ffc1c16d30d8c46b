//! Markdown specs (YAML front matter skipped). The first H1 is the goal; other headings are
//! components unless their title names a section kind (acceptance criteria, constraints, non-goals, assumptions,
//! risks, questions, goals, requirements). List items and sentences with a normative keyword
//! (or a document id, or anywhere under a requirements heading) become requirements; fenced
//! shell blocks under acceptance criteria become runnable gates. MoSCoW headings ("Must
//! have", "Should have", "Could have", "Won't have") give their items a strength (or make them
//! non-goals); a sub-item comes after its item; a heading that states a requirement (a
//! normative keyword and an id or a full stop: `### REQ-1 The system shall export PDF`) is
//! that requirement. HTML blocks are read as the Markdown around them would be (`html.rs`);
//! reStructuredText is read into the same blocks (`rst.rs`) and compiled by the same loop.

use l9_types::Diagnostic;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::builder::{Builder, Draft};
use crate::model::{EdgeKind, NodeKind, Strength};
use crate::records;
use crate::text::{self, KeywordMode};

mod adoc;
pub(crate) mod html;
mod rst;
mod table;

pub(crate) use table::{Priority, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SectionKind {
    Plain,
    Goals,
    Requirements,
    Acceptance,
    Constraints,
    NonGoals,
    Assumptions,
    Risks,
    Questions,
}

/// What a heading's title says its section holds.
pub(crate) fn section_kind(title: &str) -> SectionKind {
    let t = title.to_lowercase();
    let has = |w: &[&str]| w.iter().any(|x| t.contains(x));
    if has(&[
        "acceptance",
        "definition of done",
        "done when",
        "success criteria",
        "test plan",
        "verification",
    ]) {
        SectionKind::Acceptance
    } else if has(&[
        "non-goal",
        "non goal",
        "nongoal",
        "out of scope",
        "not in scope",
        "won't have",
        "won’t have",
        "wont have",
        "will not have",
    ]) {
        SectionKind::NonGoals
    } else if has(&["constraint", "limitation"]) {
        SectionKind::Constraints
    } else if has(&["assumption"]) {
        SectionKind::Assumptions
    } else if has(&["risk"]) {
        SectionKind::Risks
    } else if has(&["open question", "questions", "unknowns"]) {
        SectionKind::Questions
    } else if has(&["goal", "objective", "purpose"]) {
        SectionKind::Goals
    } else if has(&[
        "requirement",
        "user stories",
        "features",
        "must have",
        "should have",
        "could have",
        "nice to have",
        "capabilities",
    ]) {
        SectionKind::Requirements
    } else {
        SectionKind::Plain
    }
}

#[derive(Debug)]
enum Block {
    Heading {
        level: usize,
        text: String,
        start: usize,
        end: usize,
    },
    /// A list item, or a table row; a row may carry its priority column's ranking.
    Item {
        text: String,
        start: usize,
        end: usize,
        priority: Option<Priority>,
    },
    Paragraph {
        start: usize,
        end: usize,
    },
    /// The text of an HTML element, with anchors from its offsets to the source's.
    Text {
        text: String,
        anchors: Vec<(usize, usize)>,
        start: usize,
        end: usize,
    },
    Code {
        lang: String,
        code: String,
        start: usize,
        end: usize,
    },
}

fn blocks(src: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut heading: Option<(usize, String, usize, usize)> = None;
    // One buffer per open list item: text, first and last byte of its own text.
    let mut items: Vec<(String, usize, usize)> = Vec::new();
    let mut item_para_depth = 0usize;
    let mut code: Option<(String, String, usize, usize)> = None;
    let mut table: Option<Table> = None;
    // YAML front matter (`---` … `---` at the top) is metadata, not a heading and text.
    let mut in_metadata = false;
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    for (event, range) in Parser::new_ext(src, opts).into_offset_iter() {
        match event {
            Event::Start(Tag::MetadataBlock(_)) => in_metadata = true,
            Event::End(TagEnd::MetadataBlock(_)) => in_metadata = false,
            _ if in_metadata => {}
            // A list inside an item: the item's own text is whole; it comes before its
            // sub-items (which end first).
            Event::Start(Tag::List(_)) => {
                if let Some(item) = items.last_mut()
                    && item.1 != usize::MAX
                {
                    let (text, start, end) =
                        std::mem::replace(item, (String::new(), usize::MAX, 0));
                    out.push(Block::Item { text, start, end, priority: None });
                }
            }
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some((heading_level(level), String::new(), range.start, range.end));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text, start, end)) = heading.take() {
                    out.push(Block::Heading { level, text: text.trim().to_string(), start, end });
                }
            }
            Event::Start(Tag::Item) => items.push((String::new(), usize::MAX, 0)),
            Event::End(TagEnd::Item) => {
                if let Some((text, start, end)) = items.pop()
                    && start != usize::MAX
                {
                    out.push(Block::Item { text, start, end, priority: None });
                }
            }
            Event::Start(Tag::HtmlBlock) if items.is_empty() && table.is_none() => {
                html::blocks(&src[range.start..range.end], range.start, &mut out);
            }
            Event::Start(Tag::Paragraph) if items.is_empty() && table.is_none() => {
                out.push(Block::Paragraph { start: range.start, end: range.end });
            }
            Event::Start(Tag::Paragraph) => item_para_depth += 1,
            Event::End(TagEnd::Paragraph) => item_para_depth = item_para_depth.saturating_sub(1),
            Event::Start(Tag::Table(_)) => table = Some(Table::default()),
            Event::End(TagEnd::Table) => {
                if let Some(t) = table.take() {
                    out.extend(t.statements());
                }
            }
            Event::Start(Tag::TableHead) => {
                if let Some(t) = table.as_mut() {
                    t.in_head = true;
                }
            }
            Event::End(TagEnd::TableHead) => {
                if let Some(t) = table.as_mut() {
                    t.in_head = false;
                    t.header = std::mem::take(&mut t.row).into_iter().map(|c| c.0).collect();
                }
            }
            Event::End(TagEnd::TableRow) => {
                if let Some(t) = table.as_mut().filter(|t| !t.in_head) {
                    let row = std::mem::take(&mut t.row);
                    t.rows.push(row);
                }
            }
            Event::Start(Tag::TableCell) => {
                if let Some(t) = table.as_mut() {
                    t.row.push((String::new(), range.start, range.end));
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(l) => {
                        l.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((lang, String::new(), range.start, range.end));
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((lang, code_text, start, end)) = code.take() {
                    out.push(Block::Code { lang, code: code_text, start, end });
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(cell) = table.as_mut().and_then(|tb| tb.row.last_mut()) {
                    cell.0.push_str(&t);
                } else if let Some(c) = code.as_mut() {
                    c.1.push_str(&t);
                } else if let Some(h) = heading.as_mut() {
                    h.1.push_str(&t);
                } else if let Some(item) = items.last_mut() {
                    item.0.push_str(&t);
                    item.1 = item.1.min(range.start);
                    item.2 = item.2.max(range.end);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(item) = items.last_mut() {
                    item.0.push(' ');
                } else if let Some(h) = heading.as_mut() {
                    h.1.push(' ');
                }
            }
            _ => {}
        }
    }
    out
}

fn heading_level(level: HeadingLevel) -> usize {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Removes the inline markup a sentence taken from the source may carry.
pub(crate) fn strip_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '*' | '`' => {}
            '_' if chars.peek().map(|p| p.1) == Some('_') => {
                chars.next();
            }
            '[' => {}
            // An inline HTML tag (`<b>must</b>`): its text stays, the tag goes.
            '<' => match html::tag(&s[i..]).filter(|t| html::INLINE_TAGS.contains(&t.0.as_str())) {
                Some((name, _, len)) => {
                    while chars.peek().is_some_and(|&(j, _)| j < i + len) {
                        chars.next();
                    }
                    // A line break parts the words around it.
                    if name == "br" {
                        out.push(' ');
                    }
                }
                None => out.push(c),
            },
            ']' if chars.peek().map(|p| p.1) == Some('(') => {
                for (_, c) in chars.by_ref() {
                    if c == ')' {
                        break;
                    }
                }
            }
            ']' => {}
            _ => out.push(c),
        }
    }
    text::normalize_ws(&out)
}

const SHELL_LANGS: &[&str] = &["sh", "bash", "shell", "console", "zsh", "shell-session", "gate"];

#[derive(Debug)]
struct Section {
    level: usize,
    title: String,
    kind: SectionKind,
    /// The node this section's content refines (goal or component), if any.
    node: Option<String>,
    /// A section opened by a label paragraph (`**Acceptance criteria:**`) rather than a
    /// heading, and how many blocks it has held: it ends at the next heading, label, or a
    /// paragraph after its first block.
    label: Option<usize>,
}

pub(crate) fn compile(b: &mut Builder<'_>) {
    let read = blocks(b.text);
    compile_blocks(b, read);
}

/// reStructuredText, read into the same blocks (`rst.rs`) and compiled alike.
pub(crate) fn compile_rst(b: &mut Builder<'_>) {
    let read = rst::blocks(b.text);
    compile_blocks(b, read);
}

pub(crate) fn compile_adoc(b: &mut Builder<'_>) {
    let read = adoc::blocks(b.text);
    compile_blocks(b, read);
    // What an `include::` would bring in is not read: said where it is written.
    for (start, end) in adoc::includes(b.text) {
        b.diag(
            Diagnostic::warning("L9-IR-044", format!("`{}` is not read", &b.text[start..end]))
                .with_help("L9 reads one file: compile the included file on its own, or flatten the document first (e.g. `asciidoctor-reducer`)"),
            start,
            end,
        );
    }
}

fn compile_blocks(b: &mut Builder<'_>, read: Vec<Block>) {
    let src = b.text;
    let (upper, lower) = text::keyword_cases(src);
    let mode = if upper { KeywordMode::UpperOnly } else { KeywordMode::AnyCase };
    if let (true, Some((pos, word))) = (upper, lower) {
        b.diag(
            Diagnostic::warning(
                "L9-IR-020",
                format!("the document uses upper-case RFC 2119 keywords but also lower-case `{word}`; only upper-case ones count as normative"),
            )
            .with_help(format!("write `{}` where you mean a requirement, or rephrase the sentence", word.to_uppercase())),
            pos,
            pos + word.len(),
        );
    }
    let mut stack: Vec<Section> = Vec::new();
    let mut goal: Option<String> = None;
    let mut depends = records::Depends::new();
    for block in read {
        match block {
            Block::Heading { level, text, start, end } => {
                while stack.last().is_some_and(|s| s.level >= level || s.label.is_some()) {
                    stack.pop();
                }
                let kind = section_kind(&text);
                // A heading that is itself a statement (`### REQ-1 The system shall export
                // PDF`, `### Reports must be signed.`) is one, in the section around it; what
                // follows it belongs to that section. A keyword alone does not make a title a
                // statement ("## How the system should behave", "## Requirements the system
                // must meet"): it takes an id, or a full stop in a section of no kind.
                let goal_heading = goal.is_none() && (level == 1 || stack.is_empty());
                let (label, title) = split_label(&text);
                if !goal_heading
                    && text::keyword(&title, mode).is_some()
                    && (label.is_some() || (kind == SectionKind::Plain && title.ends_with('.')))
                {
                    let outer = stack.last().map_or(SectionKind::Plain, |s| s.kind);
                    let item = Statement { raw: &text, start, end, is_item: true, ranked: None };
                    statement(b, &stack, &goal, mode, outer, item);
                    stack.push(Section {
                        level,
                        title: text,
                        kind: outer,
                        node: None,
                        label: None,
                    });
                    continue;
                }
                let path: Vec<String> = stack.iter().map(|s| s.title.clone()).collect();
                let node = if kind != SectionKind::Plain {
                    None
                } else if goal_heading {
                    let id =
                        b.add(Draft::new(NodeKind::Goal, text.clone(), start, end).section(&path));
                    goal = Some(id.clone());
                    Some(id)
                } else {
                    let id = b.add(
                        Draft::new(NodeKind::Component, title, start, end)
                            .section(&path)
                            .label(label),
                    );
                    if let Some(parent) = container(&stack, &goal) {
                        b.edge(&id, &parent, EdgeKind::Refines, "heading");
                    }
                    Some(id)
                };
                stack.push(Section { level, title: text, kind, node, label: None });
            }
            Block::Item { text, start, end, priority } => {
                count_in_label(&mut stack);
                let kind = match priority {
                    Some(Priority::WontHave) => SectionKind::NonGoals,
                    _ => stack.last().map_or(SectionKind::Plain, |s| s.kind),
                };
                let ranked = match priority {
                    Some(Priority::Rank(s)) => Some(s),
                    _ => None,
                };
                let item = Statement { raw: &text, start, end, is_item: true, ranked };
                statement(b, &stack, &goal, mode, kind, item);
            }
            Block::Paragraph { start, end } => {
                let para = &src[start..end];
                // A requirement written as labelled fields (`**ID:** FR1`, `Description: …`).
                if let Some(recs) = records::records(para) {
                    count_in_label(&mut stack);
                    let path = path_of(&stack);
                    for r in recs {
                        let Some(id) = records::emit(b, r, start, &path, &mut depends) else {
                            continue;
                        };
                        if let Some(parent) = container(&stack, &goal) {
                            if goal.as_deref() == Some(parent.as_str()) {
                                b.edge(&id, &parent, EdgeKind::Refines, "section");
                            } else {
                                b.edge(&parent, &id, EdgeKind::Implements, "section");
                            }
                        }
                    }
                    continue;
                }
                // A paragraph that is only a section's name (`**Acceptance criteria:**`,
                // `Out of scope`) opens that section for what follows it, as a heading would.
                if let Some((title, kind)) = label(para, mode) {
                    if stack.last().is_some_and(|s| s.label.is_some()) {
                        stack.pop();
                    }
                    let level = stack.last().map_or(1, |s| s.level) + 1;
                    stack.push(Section { level, title, kind, node: None, label: Some(0) });
                    continue;
                }
                if stack.last().is_some_and(|s| s.label.is_some_and(|n| n > 0)) {
                    stack.pop();
                }
                count_in_label(&mut stack);
                let kind = stack.last().map_or(SectionKind::Plain, |s| s.kind);
                for (s, e) in text::sentences(para) {
                    let sentence = strip_inline(&para[s..e]);
                    let item = Statement {
                        raw: &sentence,
                        start: start + s,
                        end: start + e,
                        is_item: false,
                        ranked: None,
                    };
                    statement(b, &stack, &goal, mode, kind, item);
                }
            }
            Block::Text { text, anchors, start, end } => {
                let kind = stack.last().map_or(SectionKind::Plain, |s| s.kind);
                for (s, e) in text::sentences(&text) {
                    let sentence = text::normalize_ws(&text[s..e]);
                    let item = Statement {
                        raw: &sentence,
                        start: html::source_offset(&anchors, s).clamp(start, end),
                        end: html::source_offset(&anchors, e).clamp(start, end),
                        is_item: false,
                        ranked: None,
                    };
                    statement(b, &stack, &goal, mode, kind, item);
                }
            }
            Block::Code { lang, code, start, end } => {
                let kind = stack.last().map_or(SectionKind::Plain, |s| s.kind);
                if kind == SectionKind::Acceptance && SHELL_LANGS.contains(&lang.as_str()) {
                    let command: Vec<&str> = code
                        .lines()
                        .map(|l| l.trim().trim_start_matches("$ "))
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .collect();
                    if !command.is_empty() {
                        let command = command.join("\n");
                        let mut d = Draft::new(
                            NodeKind::AcceptanceCriterion,
                            format!("`{command}` succeeds"),
                            start,
                            end,
                        )
                        .section(&path_of(&stack));
                        d.gate = Some(command);
                        d.confidence = 0.95;
                        b.add(d);
                    }
                }
            }
        }
    }
    records::link(b, depends);
}

/// The criterion an item states: the text after a criterion's label (`Acceptance:`,
/// `Acceptance criterion:`, `AC:`, `AC1:`, `Test:`, `Verify:`), or a whole `Given … then …`.
fn criterion_item(body: &str) -> Option<String> {
    if let Some((label, rest)) = body.split_once(':') {
        let l = label.trim().to_lowercase();
        let ac_n = l.strip_prefix("ac").is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
        let named = matches!(
            l.as_str(),
            "acceptance"
                | "acceptance criterion"
                | "acceptance criteria"
                | "test"
                | "verify"
                | "verification"
                | "done when"
        );
        if (ac_n || named) && !rest.trim().is_empty() {
            return Some(rest.trim().to_string());
        }
    }
    let lower = body.to_lowercase();
    (lower.starts_with("given ") && lower.contains(" then ")).then(|| body.to_string())
}

/// A paragraph that names a section and says nothing else (`**Acceptance criteria:**`,
/// `Out of scope`, `Open questions:`): its title and kind. A statement is no label.
fn label(para: &str, mode: KeywordMode) -> Option<(String, SectionKind)> {
    let t = para.trim();
    if t.len() > 60 || t.contains('\n') {
        return None;
    }
    let title = strip_inline(t);
    let title = title.trim().trim_end_matches(':').trim();
    let kind = section_kind(title);
    let short = title.split_whitespace().count() <= 5;
    (kind != SectionKind::Plain && short && text::keyword(title, mode).is_none())
        .then(|| (title.to_string(), kind))
}

/// One more block in the label section the stack ends with, if it does.
fn count_in_label(stack: &mut [Section]) {
    if let Some(n) = stack.last_mut().and_then(|s| s.label.as_mut()) {
        *n += 1;
    }
}

/// The strength a MoSCoW heading gives its items ("Must have", "Should have", "Could have" or
/// "Nice to have"), from the innermost heading that names one.
fn moscow(stack: &[Section]) -> Option<Strength> {
    stack.iter().rev().find_map(|s| {
        let t = s.title.to_lowercase();
        if t.contains("must have") {
            Some(Strength::Must)
        } else if t.contains("should have") {
            Some(Strength::Should)
        } else if t.contains("could have") || t.contains("nice to have") {
            Some(Strength::May)
        } else {
            None
        }
    })
}

fn path_of(stack: &[Section]) -> Vec<String> {
    stack.iter().map(|s| s.title.clone()).collect()
}

fn container(stack: &[Section], goal: &Option<String>) -> Option<String> {
    stack.iter().rev().find_map(|s| s.node.clone()).or_else(|| goal.clone())
}

/// `FR-3 Login` → (`FR-3`, `Login`).
fn split_label(text: &str) -> (Option<String>, String) {
    match text::leading_id(text) {
        Some((id, rest)) if rest < text.len() => (Some(id), text[rest..].trim().to_string()),
        _ => (None, text.to_string()),
    }
}

/// One statement for [`statement`]: its raw text and span, whether it is a list item (or
/// table row), and the rank its table's priority column gives it.
struct Statement<'s> {
    raw: &'s str,
    start: usize,
    end: usize,
    is_item: bool,
    ranked: Option<Strength>,
}

fn statement(
    b: &mut Builder<'_>,
    stack: &[Section],
    goal: &Option<String>,
    mode: KeywordMode,
    kind: SectionKind,
    item: Statement<'_>,
) {
    let Statement { raw, start, end, is_item, ranked } = item;
    // Outside requirement lists a leading id that names an existing node is a reference
    // ("REQ-1 is verified by …"), not the new node's own id.
    let (label, body) = match text::leading_id(raw) {
        Some((id, _))
            if kind != SectionKind::Requirements && kind != SectionKind::Plain && b.has_id(&id) =>
        {
            (None, raw.trim().to_string())
        }
        Some((id, rest)) => (Some(id), raw[rest..].trim().to_string()),
        None => (None, raw.trim().to_string()),
    };
    if body.is_empty() {
        return;
    }
    let path = path_of(stack);
    // An item that says it is a criterion (`- Acceptance: …`, `- AC: …`, `- Given … then …`)
    // among requirements verifies the requirement before it — the item it is nested under.
    if is_item
        && matches!(kind, SectionKind::Requirements | SectionKind::Plain)
        && let Some(criterion) = criterion_item(raw.trim())
        && let Some(req) = b.last_requirement_in(&path)
    {
        let ac = b.add(
            Draft::new(NodeKind::AcceptanceCriterion, criterion, start, end)
                .section(&path)
                .confidence(0.85),
        );
        b.edge(&ac, &req, EdgeKind::Verifies, "criterion under it");
        return;
    }
    let kw = text::keyword(&body, mode);
    let strength = kw.as_ref().map(|k| k.strength);
    let parent = container(stack, goal);
    let node_kind = match kind {
        SectionKind::Acceptance => NodeKind::AcceptanceCriterion,
        SectionKind::NonGoals => NodeKind::NonGoal,
        SectionKind::Constraints => NodeKind::Constraint,
        SectionKind::Assumptions => NodeKind::Assumption,
        SectionKind::Risks => NodeKind::Risk,
        SectionKind::Questions => NodeKind::Question,
        SectionKind::Goals if is_item => NodeKind::Goal,
        SectionKind::Goals => return,
        SectionKind::Requirements if is_item || kw.is_some() || label.is_some() => {
            NodeKind::Requirement
        }
        SectionKind::Plain if kw.is_some() || label.is_some() || text::user_story(&body) => {
            NodeKind::Requirement
        }
        SectionKind::Plain if body.ends_with('?') => NodeKind::Question,
        SectionKind::Requirements | SectionKind::Plain => return,
    };
    // A table's priority column ranks its row, over the row's own keyword ("The system shall
    // … | Low" is optional: the column is the document's ranking, "shall" its house style).
    // Under a MoSCoW heading a requirement without a keyword of its own has the heading's.
    let strength = match node_kind {
        NodeKind::Requirement => ranked.or(strength).or_else(|| moscow(stack)),
        _ => strength,
    };
    let confidence = match (node_kind, &kw) {
        (NodeKind::Requirement, Some(k)) => k.confidence,
        (NodeKind::Requirement, None) => 0.6,
        _ => 0.9,
    };
    let id = b.add(
        Draft::new(node_kind, body, start, end)
            .section(&path)
            .label(label)
            .strength(strength)
            .confidence(confidence),
    );
    if let Some(parent) = parent {
        // A requirement under a component heading is what that component implements; under
        // the goal it refines the goal.
        let under_component =
            stack.iter().rev().find_map(|s| s.node.clone()).is_some_and(|p| p == parent)
                && goal.as_deref() != Some(parent.as_str());
        match node_kind {
            NodeKind::Constraint => b.edge(&id, &parent, EdgeKind::Constrains, "section"),
            NodeKind::AcceptanceCriterion => {}
            NodeKind::Requirement if under_component => {
                b.edge(&parent, &id, EdgeKind::Implements, "section")
            }
            _ => b.edge(&id, &parent, EdgeKind::Refines, "section"),
        }
    }
}
