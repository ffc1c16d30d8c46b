//! RFC-style plain text (IETF RFCs and documents written like them): numbered section
//! headings at the left margin, indented paragraphs, page headers and footers between pages.
//! Only upper-case BCP 14 keywords are normative (RFC 8174).

use crate::builder::{Builder, Draft};
use crate::model::{EdgeKind, NodeKind};
use crate::text::{self, KeywordMode};

#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
}

/// Page furniture: `Fette & Melnikov   Standards Track   [Page 3]`, `RFC 6455   Title   December 2011`.
fn is_furniture(line: &str) -> bool {
    let t = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{c}');
    if t.is_empty() {
        return line.contains('\u{c}');
    }
    (t.ends_with(']') && t.contains("[Page "))
        || (t.starts_with("RFC ") && ends_with_year(t) && t.contains("   "))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Whether a page break between `prev` (the last text line of a page) and `next` (the first
/// of the next) also ends a paragraph: the page ends a sentence and the next line starts at
/// another indentation (a new list item such as `refresh_token`, a figure, body text after a
/// list), or starts a list item or grammar rule of its own.
fn page_ends_paragraph(prev: &str, next: &str) -> bool {
    let ended = prev.trim_end().ends_with(['.', ':', ';', ')']) || grammar_line(prev);
    ended && (indent(prev) != indent(next) || grammar_line(next) || list_item(next))
}

/// `o  item`, `-  item`, `1.  item`, `(a) item`.
fn list_item(line: &str) -> bool {
    let t = line.trim_start();
    let (head, _) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    head == "o"
        || head == "-"
        || head == "*"
        || (head.ends_with('.')
            && head.len() <= 4
            && head[..head.len() - 1].chars().all(|c| c.is_ascii_digit()))
        || (head.starts_with('(') && head.ends_with(')') && head.len() <= 5)
}

/// A line of ABNF: `name = …`, or a continuation starting with `/`, `|` or a `;` comment.
fn grammar_line(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with(';') || t.starts_with("/ ") || t.starts_with("| ") {
        return true;
    }
    let Some((name, rest)) = t.split_once('=') else { return false };
    let name = name.trim_end();
    !name.is_empty()
        && !rest.starts_with('=')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn ends_with_year(t: &str) -> bool {
    let tail: String = t.chars().rev().take(4).collect();
    tail.len() == 4 && tail.chars().all(|c| c.is_ascii_digit())
}

/// `4.2.1.  Reading the Client's Opening Handshake` → ("4.2.1", title). Also `Appendix A.`.
fn section_heading(line: &str) -> Option<(String, String)> {
    if line.starts_with(char::is_whitespace) || line.contains("....") {
        return None;
    }
    let (num, rest) = line.split_once(char::is_whitespace)?;
    let num = num.trim_end_matches('.');
    let numbered = !num.is_empty()
        && num.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && num.len() <= 12;
    let appendix = line.starts_with("Appendix ") && rest.len() > 2;
    let title = rest.trim();
    if title.is_empty() || title.len() > 90 {
        return None;
    }
    if numbered {
        return Some((num.to_string(), title.to_string()));
    }
    if appendix {
        let (letter, title) = title.split_once(char::is_whitespace).unwrap_or((title, ""));
        return Some((
            format!("Appendix {}", letter.trim_end_matches('.')),
            title.trim().to_string(),
        ));
    }
    None
}

pub(crate) fn compile(b: &mut Builder<'_>) {
    let src = b.text;
    let mut lines = Vec::new();
    let mut pos = 0;
    for raw in src.split_inclusive('\n') {
        let end = pos + raw.trim_end_matches(['\n', '\r']).len();
        lines.push(Line { start: pos, end });
        pos += raw.len();
    }
    // Drop page furniture and the blank lines around it so paragraphs continue across pages,
    // unless the page ends a paragraph: then the next kept line starts a new one.
    let mut keep = vec![true; lines.len()];
    let mut starts_paragraph = vec![false; lines.len()];
    for i in 0..lines.len() {
        if is_furniture(&src[lines[i].start..lines[i].end]) {
            keep[i] = false;
            let mut j = i;
            while j > 0 && src[lines[j - 1].start..lines[j - 1].end].trim().is_empty() {
                j -= 1;
                keep[j] = false;
            }
            let mut k = i + 1;
            while k < lines.len() && src[lines[k].start..lines[k].end].trim().is_empty() {
                keep[k] = false;
                k += 1;
            }
            let before =
                (0..j).rev().find(|&x| keep[x]).map(|x| &src[lines[x].start..lines[x].end]);
            if let (Some(prev), Some(next)) = (before, lines.get(k)) {
                let next = &src[next.start..next.end];
                if !is_furniture(next) && page_ends_paragraph(prev, next) {
                    starts_paragraph[k] = true;
                }
            }
        }
    }
    let title = document_title(src, &lines);
    let goal = title.map(|(t, s, e)| b.add(Draft::new(NodeKind::Goal, t, s, e).confidence(0.9)));
    // Section stack: (number, title, node id).
    let mut stack: Vec<(String, String, String)> = Vec::new();
    let mut para: Vec<Line> = Vec::new();
    let mut skip_section = false;
    for (i, line) in lines.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let t = &src[line.start..line.end];
        if t.trim().is_empty() {
            flush(b, &mut para, &stack, &goal, skip_section);
            continue;
        }
        // A page that ended a paragraph, or a list item's first line, starts one.
        let item = list_item(t)
            && !grammar_line(t)
            && t.trim().split_once(char::is_whitespace).is_some()
            // A wrapped line of the paragraph (hanging further in) that opens with a number
            // (`13.`) is not a new item.
            && para.first().is_none_or(|f| indent(t) <= indent(&src[f.start..f.end]));
        if starts_paragraph[i] || item {
            flush(b, &mut para, &stack, &goal, skip_section);
        }
        if let Some((num, title)) = section_heading(t) {
            flush(b, &mut para, &stack, &goal, skip_section);
            let depth = num.split('.').count();
            while stack.len() >= depth {
                stack.pop();
            }
            let path: Vec<String> = stack.iter().map(|s| format!("{} {}", s.0, s.1)).collect();
            let label = format!("§{num}");
            let id = b.add(
                Draft::new(NodeKind::Component, title.clone(), line.start, line.end)
                    .section(&path)
                    .label(Some(label)),
            );
            let parent = stack.last().map(|s| s.2.clone()).or_else(|| goal.clone());
            if let Some(parent) = parent {
                b.edge(&id, &parent, EdgeKind::Refines, "section number");
            }
            let lower = title.to_lowercase();
            skip_section = lower.contains("terminology")
                || lower.contains("requirements language")
                || lower.contains("conventions")
                || lower.contains("references")
                || lower.contains("acknowledg");
            stack.push((num, title, id));
            continue;
        }
        para.push(*line);
    }
    flush(b, &mut para, &stack, &goal, skip_section);
}

fn document_title(src: &str, lines: &[Line]) -> Option<(String, usize, usize)> {
    // The header block runs to the first blank line; the title is the first centred line
    // after it (continued on the next line when that is centred too).
    let text = |l: &Line| &src[l.start..l.end];
    let first_blank = lines.iter().take(40).position(|l| text(l).trim().is_empty()).unwrap_or(0);
    let mut it = lines.iter().skip(first_blank).skip_while(|l| text(l).trim().is_empty());
    let first = it.next()?;
    let t = text(first);
    let lead = t.len() - t.trim_start().len();
    if lead < 8 || t.trim().len() < 3 {
        return None;
    }
    let mut title = t.trim().to_string();
    let mut end = first.end;
    if let Some(next) = it.next() {
        let n = text(next);
        if n.len() - n.trim_start().len() >= 8 && !n.trim().is_empty() {
            title.push(' ');
            title.push_str(n.trim());
            end = next.end;
        }
    }
    Some((title, first.start + lead, end))
}

fn flush(
    b: &mut Builder<'_>,
    para: &mut Vec<Line>,
    stack: &[(String, String, String)],
    goal: &Option<String>,
    skip: bool,
) {
    if para.is_empty() {
        return;
    }
    let src = b.text;
    // The paragraph as one string, with a map from its offsets back to the source.
    let mut joined = String::new();
    let mut map: Vec<(usize, usize)> = Vec::new();
    // An aside (RFC v3 text marks each of its lines with `|`) is read as prose.
    let aside = para.iter().all(|l| src[l.start..l.end].trim_start().starts_with("| "));
    for (n, l) in para.iter().enumerate() {
        let mut t = &src[l.start..l.end];
        if aside {
            let at = t.find('|').map_or(0, |i| i + 1);
            t = &src[l.start + at..l.end];
        }
        // A list item's marker (`o`, `*`, `-`, `1.`, `(a)`) is not text.
        if n == 0 && list_item(t) {
            let lead = t.len() - t.trim_start().len();
            let marker = t[lead..].find(char::is_whitespace).map_or(0, |m| lead + m);
            t = &t[marker..];
        }
        let l = Line { start: l.end - t.len(), end: l.end };
        let lead = t.len() - t.trim_start().len();
        // RFCs break lines at a word's own hyphen and never hyphenate a word, so a line that
        // ends inside a hyphenated word (`|Sec-WebSocket-` / `Key|`, a GUID's `258EAFA5-` /
        // `E914-…`) continues that word.
        let in_word = joined.ends_with('-')
            && joined[..joined.len() - 1].ends_with(|c: char| c.is_alphanumeric());
        if !joined.is_empty() && !in_word {
            joined.push(' ');
        }
        map.push((joined.len(), l.start + lead));
        joined.push_str(t.trim());
    }
    let to_src = |off: usize| -> usize {
        let i = map.partition_point(|m| m.0 <= off).saturating_sub(1);
        map.get(i).map_or(0, |m| m.1 + (off - m.0))
    };
    let path: Vec<String> = stack.iter().map(|s| format!("{} {}", s.0, s.1)).collect();
    let parent = stack.last().map(|s| s.2.clone()).or_else(|| goal.clone());
    let lines: Vec<Line> = std::mem::take(para);
    if skip {
        return;
    }
    let grammar =
        if aside { 0 } else { lines.iter().filter(|l| grammar_line(&src[l.start..l.end])).count() };
    if grammar * 2 >= lines.len() && grammar > 0 {
        grammar_comments(b, &lines, &path, &parent);
        return;
    }
    let sentences = text::sentences(&joined);
    for (k, &(s, e)) in sentences.iter().enumerate() {
        let sentence = &joined[s..e];
        let Some(kw) = text::keyword(sentence, KeywordMode::UpperOnly) else { continue };
        if sentence.contains("\"MUST\"") || sentence.contains("are to be interpreted") {
            continue;
        }
        // A list item that is a name and a bare keyword (`access_token REQUIRED.`) says what
        // is required in the sentences after it: they belong to it, up to one with a keyword
        // of its own.
        let e = match bare_keyword_item(sentence, &kw) {
            true => sentences[k + 1..]
                .iter()
                .take_while(|(s, e)| {
                    text::keyword(&joined[*s..*e], KeywordMode::UpperOnly).is_none()
                })
                .last()
                .map_or(e, |x| x.1),
            false => e,
        };
        let sentence = &joined[s..e];
        let id = b.add(
            Draft::new(NodeKind::Requirement, sentence, to_src(s), to_src(e.saturating_sub(1)) + 1)
                .section(&path)
                .strength(Some(kw.strength))
                .confidence(kw.confidence),
        );
        if let Some(parent) = &parent {
            b.edge(&id, parent, EdgeKind::Refines, "section");
        }
    }
}

/// Whether `sentence` is only a keyword and at most the name before it (`REQUIRED.`,
/// `refresh_token OPTIONAL.`): an item of a list of parameters or fields.
fn bare_keyword_item(sentence: &str, kw: &text::Keyword) -> bool {
    let rest = sentence[kw.end..].trim_matches(|c: char| c.is_whitespace() || c == '.' || c == ',');
    rest.is_empty() && sentence[..kw.start].split_whitespace().count() <= 1
}

/// A grammar (ABNF) block is not prose: only what its `;` comments require is kept, one
/// requirement per rule, named by the rule (`frame-rsv1: 1 bit in length, MUST be 0 unless
/// negotiated otherwise`), spanning the comment.
fn grammar_comments(b: &mut Builder<'_>, lines: &[Line], path: &[String], parent: &Option<String>) {
    let src = b.text;
    // (rule name, comment text, span start, span end)
    let mut rules: Vec<(String, String, usize, usize)> = Vec::new();
    for l in lines {
        let t = &src[l.start..l.end];
        let trimmed = t.trim_start();
        if !trimmed.starts_with(';')
            && !trimmed.starts_with('/')
            && !trimmed.starts_with('|')
            && let Some((name, _)) = trimmed.split_once('=').filter(|_| grammar_line(t))
        {
            rules.push((name.trim().to_string(), String::new(), 0, 0));
        }
        if let (Some(at), Some(rule)) = (t.find(';'), rules.last_mut()) {
            let comment = t[at + 1..].trim();
            if comment.is_empty() {
                continue;
            }
            if rule.1.is_empty() {
                rule.2 = l.start + at + 1 + (t[at + 1..].len() - t[at + 1..].trim_start().len());
            } else {
                rule.1.push(' ');
            }
            rule.1.push_str(comment);
            rule.3 = l.end;
        }
    }
    for (name, comment, start, end) in rules {
        let Some(kw) = text::keyword(&comment, KeywordMode::UpperOnly) else { continue };
        let id = b.add(
            Draft::new(NodeKind::Requirement, format!("{name}: {comment}"), start, end.max(start))
                .section(path)
                .strength(Some(kw.strength))
                .confidence(kw.confidence * 0.9),
        );
        if let Some(parent) = parent {
            b.edge(&id, parent, EdgeKind::Refines, "section");
        }
    }
}
