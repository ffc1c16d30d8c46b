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
    // Drop page furniture and the blank lines around it so paragraphs continue across pages.
    let mut keep = vec![true; lines.len()];
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
    for l in para.iter() {
        let t = &src[l.start..l.end];
        let lead = t.len() - t.trim_start().len();
        if !joined.is_empty() {
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
    para.clear();
    if skip {
        return;
    }
    for (s, e) in text::sentences(&joined) {
        let sentence = &joined[s..e];
        let Some(kw) = text::keyword(sentence, KeywordMode::UpperOnly) else { continue };
        if sentence.contains("\"MUST\"") || sentence.contains("are to be interpreted") {
            continue;
        }
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
