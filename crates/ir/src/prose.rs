//! Plain prose: paragraphs split into sentences; a sentence with a modal verb (must, shall,
//! should, will, may, can) is a requirement with a confidence that says how strong the cue
//! was. A line opening with a bracketed number (`[12] The system …`) is one requirement, as
//! in extracted requirement lists. A short first line without a full stop is the title.
//!
//! Requirement lists as documents write them without markup: a line that opens with an id
//! (`FR-3 The system …`) or a section number and a statement (`3.2.1 The system …`) starts a
//! new statement even without a blank line before it (the number is not text), and so does a
//! bullet or an enumerator (`•`, `-`, `a)`, `(iv)`: not text either); a numbered
//! heading (`3.1.2 Catalogue`, a table of contents' `1. Introduction ..... 1`) ends the
//! paragraph before it, is no statement, and names the section of the statements after it
//! (within the headings of fewer numbers: `Specific Requirements`, `Functional`, `Catalogue`).
//!
//! Page furniture (page numbers, running headers and footers, form feeds) is no text, and a
//! sentence continues across the page break that interrupts it (`furniture.rs`).

mod furniture;
mod tables;

use crate::builder::{Builder, Draft};
use crate::model::{EdgeKind, NodeKind};
use crate::records;
use crate::text::{self, KeywordMode};

pub(crate) fn compile(b: &mut Builder<'_>) {
    let src = b.text;
    // Page furniture is masked out (offsets stay), and the lines a page break leaves are
    // skipped so a sentence continues across it.
    let lines = furniture::lines(src);
    let statement = |t: &str| {
        t.starts_with('[')
            || text::keyword(t, KeywordMode::AnyCase).is_some()
            || text::leading_id(t).is_some()
            || item_prefix(t) > 0
    };
    let (masked, skip) = furniture::mask(src, &lines, &statement);
    let src = masked.as_str();
    let (upper, _) = text::keyword_cases(src);
    let mode = if upper { KeywordMode::UpperOnly } else { KeywordMode::AnyCase };
    let mut goal = None;
    let mut para_start: Option<usize> = None;
    let mut pos = 0;
    let mut first = true;
    // (start, end, one bracketed item, the section it is in)
    let mut paragraphs: Vec<(usize, usize, bool, Option<Vec<String>>)> = Vec::new();
    // The numbered headings in force: (depth, title), outermost first.
    let mut headings: Vec<(usize, String)> = Vec::new();
    let mut section: Option<Vec<String>> = None;
    // Whether the paragraph being read opens with a record's field (`ID: FR1`).
    let mut in_record = false;
    // Tables (pipe or grid): their lines are no paragraph text; each is read in its place.
    let ranges: Vec<(usize, usize)> = lines.iter().map(|l| (l.start, l.end)).collect();
    let mut tables: Vec<Option<(usize, usize, crate::markdown::Table)>> =
        tables::tables(src, &ranges).into_iter().map(Some).collect();
    let mut table_of_line: Vec<Option<usize>> = vec![None; lines.len()];
    for (t, table) in tables.iter().enumerate() {
        if let Some((first, last, _)) = table {
            table_of_line[*first..=*last].iter_mut().for_each(|x| *x = Some(t));
        }
    }
    // Paragraph index → the table read there.
    let mut table_at: std::collections::HashMap<usize, usize> = Default::default();
    for (k, raw) in src.split_inclusive('\n').enumerate() {
        if skip[k] {
            pos += raw.len();
            continue;
        }
        if let Some(t) = table_of_line[k] {
            if let Some(s) = para_start.take() {
                paragraphs.push((s, pos, false, section.clone()));
            }
            if k == 0 || table_of_line[k - 1] != Some(t) {
                table_at.insert(paragraphs.len(), t);
                paragraphs.push((pos, pos, false, section.clone()));
            }
            pos += raw.len();
            continue;
        }
        let end = pos + raw.trim_end_matches(['\n', '\r']).len();
        let line = &src[pos..end];
        let t = line.trim();
        if first && !t.is_empty() {
            first = false;
            let title = t.trim_start_matches('#').trim();
            if title.len() <= 100 && !title.ends_with('.') && text::keyword(title, mode).is_none() {
                let lead = line.len() - line.trim_start().len();
                goal = Some(b.add(Draft::new(NodeKind::Goal, title, pos + lead, end)));
                pos += raw.len();
                continue;
            }
        }
        if t.starts_with('#') || t.is_empty() {
            if let Some(s) = para_start.take() {
                paragraphs.push((s, pos, false, section.clone()));
            }
        } else if t.starts_with('[') && t.find(']').is_some_and(|i| i < 24) {
            if let Some(s) = para_start.take() {
                paragraphs.push((s, pos, false, section.clone()));
            }
            paragraphs.push((pos, end, true, section.clone()));
        } else if let Some(title) = numbered_heading(t, mode) {
            if let Some(s) = para_start.take() {
                paragraphs.push((s, pos, false, section.clone()));
            }
            let depth = t
                .split_whitespace()
                .next()
                .map_or(1, |n| n.split('.').filter(|p| !p.is_empty()).count());
            headings.retain(|(d, _)| *d < depth);
            headings.push((depth, title.to_string()));
            section = Some(headings.iter().map(|(_, t)| t.clone()).collect());
        } else if (text::leading_id(t).is_some() || item_prefix(t) > 0)
            && !(in_record && para_start.is_some())
        {
            // (A record's numbered lines — a use case's steps — are its field's value.)
            if let Some(s) = para_start.take() {
                paragraphs.push((s, pos, false, section.clone()));
            }
            para_start = Some(pos);
            in_record = records::field_line(t);
        } else if para_start.is_none() {
            para_start = Some(pos);
            in_record = records::field_line(t);
        }
        pos += raw.len();
    }
    if let Some(s) = para_start {
        paragraphs.push((s, src.len(), false, section.clone()));
    }
    // Records' dependencies, linked once every record has its id: (from, to, where).
    let mut depends: Vec<(String, String, usize, usize)> = Vec::new();
    for (p, (start, end, item, section)) in paragraphs.into_iter().enumerate() {
        let section = section.unwrap_or_default();
        if let Some((_, _, table)) = table_at.get(&p).and_then(|t| tables[*t].take()) {
            table_rows(b, table, &section, goal.as_deref(), mode);
            continue;
        }
        let text = &src[start..end];
        if item {
            let lead = text.len() - text.trim_start().len();
            let close = text.find(']').map_or(0, |i| i + 1);
            let inner = text[lead + 1..close.saturating_sub(1).max(lead + 1)].trim();
            let label = text::leading_id(inner).map(|(id, _)| id);
            // A section number after the bracket ("[12] 2.1.1 The network …") is not text.
            let after = &text[close..];
            let after_trim = after.trim_start();
            let number_len = after_trim
                .split_whitespace()
                .next()
                .filter(|w| w.contains('.') && w.chars().all(|c| c.is_ascii_digit() || c == '.'))
                .map_or(0, str::len);
            let skip = close + (after.len() - after_trim.len()) + number_len;
            let body = text[skip..].trim();
            if body.is_empty() {
                continue;
            }
            let body_start = start + skip + (text[skip..].len() - text[skip..].trim_start().len());
            let kw = text::keyword(body, mode);
            let id = b.add(
                Draft::new(NodeKind::Requirement, body, body_start, end)
                    .section(&section)
                    .label(label)
                    .strength(kw.as_ref().map(|k| k.strength))
                    .confidence(kw.as_ref().map_or(0.5, |k| k.confidence)),
            );
            if let Some(g) = &goal {
                b.edge(&id, g, EdgeKind::Refines, "document");
            }
            continue;
        }
        // A requirement written as labelled fields (`ID: FR2`, `DESC: …`, `DEP: FR1`).
        if let Some(recs) = records::records(text) {
            for r in recs {
                if let Some(id) = records::emit(b, r, start, &section, &mut depends)
                    && let Some(g) = &goal
                {
                    b.edge(&id, g, EdgeKind::Refines, "document");
                }
            }
            continue;
        }
        // A section number or list marker that opens the paragraph ("3.2.1 The system …",
        // "• The system …", "b) Records …") is not text.
        let number = item_prefix(text.trim_start());
        let skip = if number > 0 { text.len() - text.trim_start().len() + number } else { 0 };
        let (start, text) = (start + skip, &text[skip..]);
        for (s, e) in text::sentences(text) {
            let sentence = &text[s..e];
            let kind = match text::keyword(sentence, mode) {
                Some(_) => NodeKind::Requirement,
                None if text::user_story(sentence) => NodeKind::Requirement,
                None if sentence.ends_with('?') => NodeKind::Question,
                None => continue,
            };
            let kw = text::keyword(sentence, mode);
            let (label, body_off) = match text::leading_id(sentence) {
                Some((id, off)) => (Some(id), off),
                None => (None, 0),
            };
            let conf = kw.as_ref().map_or(0.6, |k| k.confidence * 0.9);
            let id = b.add(
                Draft::new(
                    kind,
                    dehyphenate(&sentence[body_off..]),
                    start + s + body_off,
                    start + e,
                )
                .section(&section)
                .label(label)
                .strength(kw.map(|k| k.strength))
                .confidence(conf),
            );
            if let Some(g) = &goal {
                b.edge(&id, g, EdgeKind::Refines, "document");
            }
        }
    }
    records::link(b, depends);
}

/// A plain-text table's rows that state requirements (a keyword or an id): requirements,
/// ranked by a priority column (`Won't`: non-goals).
fn table_rows(
    b: &mut Builder<'_>,
    table: crate::markdown::Table,
    section: &[String],
    goal: Option<&str>,
    mode: KeywordMode,
) {
    use crate::markdown::Priority;
    for row in table.rows_as_statements() {
        let (label, body) = match text::leading_id(&row.text) {
            Some((id, e)) => (Some(id), row.text[e..].trim().to_string()),
            None => (None, row.text.clone()),
        };
        let kw = text::keyword(&body, mode);
        if body.is_empty() || (kw.is_none() && label.is_none()) {
            continue;
        }
        let (kind, ranked) = match row.priority {
            Some(Priority::WontHave) => (NodeKind::NonGoal, None),
            Some(Priority::Rank(s)) => (NodeKind::Requirement, Some(s)),
            None => (NodeKind::Requirement, None),
        };
        let id = b.add(
            Draft::new(kind, body, row.start, row.end)
                .section(section)
                .label(label)
                .strength(ranked.or(kw.as_ref().map(|k| k.strength)))
                .confidence(kw.as_ref().map_or(0.6, |k| k.confidence * 0.9)),
        );
        if let Some(g) = goal {
            b.edge(&id, g, EdgeKind::Refines, "document");
        }
    }
}

/// The length of a section number that opens `t` and the space after it (`3.2.1 `, `4. `),
/// when a statement follows it (a capital letter or an id); 0 otherwise. A bare number
/// without a dot ("2 seconds") is text: a wrapped sentence's next line may begin with one.
fn section_number(t: &str) -> usize {
    let number = t.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.').count();
    let token = &t[..number];
    if number == 0 || !token.contains('.') || token.contains("..") || token.starts_with('.') {
        return 0;
    }
    let rest = &t[number..];
    let after = rest.trim_start_matches([' ', '\t']);
    if after.len() == rest.len() || !after.starts_with(|c: char| c.is_uppercase()) {
        return 0;
    }
    // A quantity ("3.5 GB of disk space …") is text.
    let word = after.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("");
    if UNITS.contains(&word) {
        return 0;
    }
    t.len() - after.len()
}

/// Units written with a capital, which follow a number without making it a section number.
const UNITS: &[&str] = &[
    "B", "KB", "MB", "GB", "TB", "PB", "KiB", "MiB", "GiB", "TiB", "Kbps", "Mbps", "Gbps", "Hz",
    "KHz", "MHz", "GHz", "K", "M", "G", "V", "W", "kW", "MW", "A", "C", "F", "Ω", "USD", "EUR",
    "GBP", "CHF", "JPY",
];

/// What opens a statement of a list: a section number or a list marker (see both).
fn item_prefix(t: &str) -> usize {
    section_number(t).max(text::list_marker(t))
}

/// A numbered heading on a line of its own (`3.1.2 Catalogue`, `2. Overall Description`, a
/// table of contents' `1. Introduction ........ 1`): its title, when the line is short, states
/// nothing (no keyword, no full stop) and is not a sentence.
fn numbered_heading(t: &str, mode: KeywordMode) -> Option<&str> {
    let n = section_number(t);
    if n == 0 {
        return None;
    }
    let mut title = &t[n..];
    // A table of contents' dot leaders and page number.
    if let Some(i) = title.find("...") {
        title = title[..i].trim_end();
    } else if title.chars().count() > 80
        || title.ends_with(['.', ',', ';'])
        || text::keyword(title, mode).is_some()
    {
        return None;
    }
    (!title.is_empty()).then_some(title)
}

/// A word hyphenated at a line's end, as text extracted from a PDF is ("appoint-" / "ment"),
/// is one word again: a hyphen that ends a line after two lower-case letters, before a line
/// that opens with one, goes with the line break. (RFC text has its own front end, where such
/// a hyphen is the word's own.)
fn dehyphenate(text: &str) -> String {
    if !text.contains("-\n") && !text.contains("-\r\n") {
        return text.to_string();
    }
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut out = String::with_capacity(text.len());
    let mut glued = false;
    for (i, line) in lines.iter().enumerate() {
        let line = if glued { line.trim_start() } else { line };
        let next = lines.get(i + 1).map(|n| n.trim_start());
        let stem = line
            .strip_suffix('-')
            .filter(|w| w.chars().rev().take(2).filter(|c| c.is_lowercase()).count() == 2);
        glued = stem.is_some() && next.is_some_and(|n| n.starts_with(char::is_lowercase));
        match stem.filter(|_| glued) {
            Some(w) => out.push_str(w),
            None => {
                out.push_str(line);
                if i + 1 < lines.len() {
                    out.push('\n');
                }
            }
        }
    }
    out
}
