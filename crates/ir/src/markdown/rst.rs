//! reStructuredText, read into the blocks Markdown is read into (and so compiled alike):
//! section titles (underlined, or over- and underlined, with any punctuation; levels in the
//! order their styles first appear, as docutils assigns them), bullet and enumerated lists
//! (`-`, `*`, `+`, `#.`, `1.`, `(a)`), paragraphs, literal and code blocks (`::`,
//! `.. code-block::`), admonitions (`.. note::` — their text is text), and sphinx-needs
//! requirements (`.. req:: Title` with `:id:` and its content: one requirement with that id).
//! Comments and other directives (`.. toctree::`, `.. image::`, `.. _label:`) are not text.

use super::Block;
use crate::text;

/// Whether `t` (trimmed) is a line of one repeated punctuation character, 3 or more long.
fn adornment(t: &str) -> Option<char> {
    let c = t.chars().next()?;
    (t.len() >= 3 && c.is_ascii_punctuation() && t.chars().all(|x| x == c)).then_some(c)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The length of a list marker opening `t` and the space after it (`-`, `*`, `+`, `#.`,
/// `1.`, `(a)`, `a)`); 0 otherwise.
fn list_marker(t: &str) -> usize {
    text::list_marker(t).max(text::numbered_marker(t))
}

/// How deep admonitions nest before their text is read as text no further (a document of
/// thousands of nested `.. note::` must not exhaust the stack).
const MAX_DEPTH: usize = 16;

/// The blocks of a reStructuredText document.
pub(super) fn blocks(src: &str) -> Vec<Block> {
    blocks_nested(src, 0)
}

fn blocks_nested(src: &str, depth: usize) -> Vec<Block> {
    let lines = text::line_spans(src);
    let text = |k: usize| &src[lines[k].0..lines[k].1];
    let blank = |k: usize| text(k).trim().is_empty();
    let mut out = Vec::new();
    // Title styles (character, overlined) in the order they appear: a style's level.
    let mut styles: Vec<(char, bool)> = Vec::new();
    let mut level_of = |style: (char, bool)| match styles.iter().position(|s| *s == style) {
        Some(i) => i + 1,
        None => {
            styles.push(style);
            styles.len()
        }
    };
    let mut k = 0;
    while k < lines.len() {
        if blank(k) {
            k += 1;
            continue;
        }
        let t = text(k).trim();
        // An overlined title: adornment, title, adornment.
        if let Some(c) = adornment(t)
            && k + 2 < lines.len()
            && !blank(k + 1)
            && adornment(text(k + 2).trim()) == Some(c)
        {
            let (s, e) = lines[k + 1];
            let title = src[s..e].trim().to_string();
            out.push(Block::Heading { level: level_of((c, true)), text: title, start: s, end: e });
            k += 3;
            continue;
        }
        // An underlined title.
        if k + 1 < lines.len()
            && indent(text(k)) == 0
            && let Some(c) = adornment(text(k + 1).trim())
            && adornment(t).is_none()
        {
            let (s, e) = lines[k];
            out.push(Block::Heading {
                level: level_of((c, false)),
                text: t.to_string(),
                start: s,
                end: e,
            });
            k += 2;
            continue;
        }
        // A directive or comment: `.. name:: args` and its indented body.
        if let Some(rest) = t.strip_prefix("..") {
            let base = indent(text(k));
            let mut end = k + 1;
            while end < lines.len() && (blank(end) || indent(text(end)) > base) {
                end += 1;
            }
            directive(src, rest.trim(), &lines[k..end], depth, &mut out);
            k = end;
            continue;
        }
        // A paragraph or a list item: lines up to a blank line (an item: up to the next item).
        let base = indent(text(k));
        let marker = list_marker(t);
        let mut end = k + 1;
        while end < lines.len() && !blank(end) {
            let next = text(end).trim();
            // The next item, a directive, or a title (a line with an underline under it).
            if (marker > 0 && list_marker(next) > 0 && indent(text(end)) <= base)
                || next.starts_with("..")
                || (end + 1 < lines.len()
                    && adornment(next).is_none()
                    && adornment(text(end + 1).trim()).is_some())
            {
                break;
            }
            end += 1;
        }
        let (s, e) = (lines[k].0 + indent(text(k)), lines[end - 1].1);
        let body = &src[s..e];
        // A paragraph ending in `::` introduces a literal block: the block is no text.
        let literal = body.trim_end().ends_with("::");
        if marker > 0 {
            let item = super::strip_inline(&body[marker..]);
            out.push(Block::Item { text: item, start: s + marker, end: e, priority: None });
        } else {
            out.push(Block::Paragraph { start: s, end: e });
        }
        k = end;
        if literal {
            while k < lines.len() && (blank(k) || indent(text(k)) > base) {
                k += 1;
            }
        }
    }
    out
}

/// One directive's blocks: admonitions' text, code blocks, sphinx-needs requirements.
fn directive(src: &str, head: &str, lines: &[(usize, usize)], depth: usize, out: &mut Vec<Block>) {
    let Some((name, args)) = head.split_once("::") else { return }; // a comment
    let name = name.trim().to_lowercase();
    let body: Vec<(usize, usize)> = lines[1..].to_vec();
    let options: Vec<(&str, &str)> = body
        .iter()
        .map(|&(s, e)| src[s..e].trim())
        .take_while(|t| t.starts_with(':'))
        .filter_map(|t| t[1..].split_once(':').map(|(k, v)| (k, v.trim())))
        .collect();
    let content: Vec<(usize, usize)> = body
        .iter()
        .copied()
        .skip_while(|&(s, e)| src[s..e].trim().starts_with(':'))
        .filter(|&(s, e)| !src[s..e].trim().is_empty())
        .collect();
    match name.as_str() {
        "note" | "warning" | "important" | "tip" | "attention" | "caution" | "danger" | "hint"
        | "admonition" | "topic" | "sidebar" => {
            // The body's paragraphs, as a document of their own.
            if let (Some(first), Some(last)) = (body.first(), body.last())
                && depth < MAX_DEPTH
            {
                let inner = &src[first.0..last.1];
                for b in blocks_at(inner, first.0, depth + 1) {
                    out.push(b);
                }
            }
        }
        "code-block" | "code" | "sourcecode" => {
            if let (Some(first), Some(last)) = (content.first(), content.last()) {
                let code =
                    content.iter().map(|&(s, e)| src[s..e].trim()).collect::<Vec<_>>().join("\n");
                out.push(Block::Code {
                    lang: args.trim().to_string(),
                    code,
                    start: first.0,
                    end: last.1,
                });
            }
        }
        "req" | "spec" | "need" | "story" | "requirement" => {
            let id = options.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")).map(|(_, v)| *v);
            let (text, s, e) = match (content.first(), content.last()) {
                (Some(first), Some(last)) => {
                    let t = content
                        .iter()
                        .map(|&(s, e)| src[s..e].trim())
                        .collect::<Vec<_>>()
                        .join(" ");
                    (t, first.0 + indent(&src[first.0..first.1]), last.1)
                }
                _ => (args.trim().to_string(), lines[0].0, lines[0].1),
            };
            if text.is_empty() {
                return;
            }
            let text = match id {
                Some(id) if !id.is_empty() => format!("{id}: {}", super::strip_inline(&text)),
                _ => super::strip_inline(&text),
            };
            out.push(Block::Item { text, start: s, end: e, priority: None });
        }
        _ => {}
    }
}

/// [`blocks`] of a part of the source that starts at byte `at`, spans in the whole source.
fn blocks_at(part: &str, at: usize, depth: usize) -> Vec<Block> {
    blocks_nested(part, depth)
        .into_iter()
        .map(|b| match b {
            Block::Heading { level, text, start, end } => {
                Block::Heading { level, text, start: start + at, end: end + at }
            }
            Block::Item { text, start, end, priority } => {
                Block::Item { text, start: start + at, end: end + at, priority }
            }
            Block::Paragraph { start, end } => {
                Block::Paragraph { start: start + at, end: end + at }
            }
            Block::Text { text, anchors, start, end } => Block::Text {
                text,
                anchors: anchors.into_iter().map(|(o, s)| (o, s + at)).collect(),
                start: start + at,
                end: end + at,
            },
            Block::Code { lang, code, start, end } => {
                Block::Code { lang, code, start: start + at, end: end + at }
            }
        })
        .collect()
}
