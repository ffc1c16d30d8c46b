//! HTML inside Markdown, read as the Markdown around it would be: `<h1>`–`<h6>` are headings,
//! `<li>` list items, a `<table>`'s rows a table's (its header from a row of `<th>` cells),
//! the text of other block elements (`<p>`, `<div>`, `<details>`, `<summary>`, `<br>`)
//! paragraphs. Inline tags (`<b>must</b>`) are dropped, their text kept; comments, `<script>`
//! and `<style>` are skipped; common character references are decoded.

use super::{Block, Table};
use crate::text;

/// Elements whose edges end a run of text.
const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "details",
    "summary",
    "br",
    "hr",
    "ul",
    "ol",
    "section",
    "article",
    "blockquote",
    "dl",
    "dt",
    "dd",
    "header",
    "footer",
    "main",
    "aside",
    "figure",
    "figcaption",
    "center",
    "pre",
    "nav",
    "form",
    "fieldset",
    "legend",
    "caption",
    "thead",
    "tbody",
    "tfoot",
];

/// Inline elements, whose tags are dropped from a paragraph's text (`<b>must</b>` → `must`).
pub(super) const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "code", "del", "em", "i", "img", "ins", "kbd", "mark", "s", "small", "span",
    "strong", "sub", "sup", "u", "br",
];

/// Text being gathered: the text, and anchors from offsets in it to offsets in the source.
#[derive(Default)]
struct Run {
    text: String,
    anchors: Vec<(usize, usize)>,
    end: usize,
}

impl Run {
    fn push(&mut self, piece: &str, at: usize) {
        if piece.trim().is_empty() {
            if !self.text.is_empty() {
                self.text.push(' ');
            }
            return;
        }
        let lead = piece.len() - piece.trim_start().len();
        self.anchors.push((self.text.len(), at + lead));
        self.text.push_str(&decode(piece));
        self.end = at + piece.trim_end().len();
    }

    /// The gathered text as a block of `mode`'s kind, if any text was gathered.
    fn take(&mut self, mode: Mode) -> Option<Block> {
        let run = std::mem::take(self);
        let start = run.anchors.first()?.1;
        let end = run.end;
        let lead = run.text.len() - run.text.trim_start().len();
        let text = run.text.trim().to_string();
        Some(match mode {
            Mode::Heading(level) => {
                Block::Heading { level, text: text::normalize_ws(&text), start, end }
            }
            Mode::Item => {
                Block::Item { text: text::normalize_ws(&text), start, end, priority: None }
            }
            Mode::Text => {
                let anchors =
                    run.anchors.into_iter().map(|(o, s)| (o.saturating_sub(lead), s)).collect();
                Block::Text { text, anchors, start, end }
            }
        })
    }
}

/// What the text being gathered will be.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Text,
    Item,
    Heading(usize),
}

/// The blocks of one HTML block, `html`, which starts at byte `base` of the source.
pub(super) fn blocks(html: &str, base: usize, out: &mut Vec<Block>) {
    let mut run = Run::default();
    let mut mode = Mode::Text;
    let mut table: Option<Table> = None;
    let flush = |run: &mut Run, mode: Mode, out: &mut Vec<Block>| out.extend(run.take(mode));
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with("<!--") {
            i += rest.find("-->").map_or(rest.len(), |e| e + 3);
            continue;
        }
        let Some((name, closing, len)) = tag(rest) else {
            let first = rest.chars().next().map_or(1, char::len_utf8);
            let e = rest[first..].find('<').map_or(rest.len(), |e| e + first);
            let in_table = table.is_some();
            match table.as_mut().and_then(|t| t.row.last_mut()) {
                Some(cell) => {
                    if cell.0.is_empty() {
                        cell.1 = base + i + (rest[..e].len() - rest[..e].trim_start().len());
                    }
                    cell.0.push_str(&decode(&rest[..e]));
                    cell.2 = base + i + rest[..e].trim_end().len();
                }
                None if in_table => {}
                None => run.push(&rest[..e], base + i),
            }
            i += e;
            continue;
        };
        i += len;
        match (name.as_str(), closing) {
            ("script" | "style", false) => {
                let close = format!("</{name}");
                i += html[i..].to_ascii_lowercase().find(&close).unwrap_or(html.len() - i);
            }
            (h, _) if heading(h) => {
                flush(&mut run, mode, out);
                mode = if closing {
                    Mode::Text
                } else {
                    Mode::Heading(usize::from(h.as_bytes()[1] - b'0'))
                };
            }
            ("li", _) => {
                flush(&mut run, mode, out);
                mode = if closing { Mode::Text } else { Mode::Item };
            }
            ("table", false) => {
                flush(&mut run, mode, out);
                table = Some(Table::default());
            }
            ("table", true) => {
                if let Some(mut t) = table.take() {
                    end_row(&mut t);
                    out.extend(t.statements());
                }
            }
            ("tr", _) => {
                // A row ends at `</tr>`, or at the next `<tr>` where the closing tag is left
                // out, as HTML allows.
                if let Some(t) = table.as_mut() {
                    end_row(t);
                    t.in_head = !closing;
                }
            }
            (cell @ ("td" | "th"), false) => {
                if let Some(t) = table.as_mut() {
                    // A row is the header only when all its cells are `<th>`.
                    t.in_head &= cell == "th";
                    t.row.push((String::new(), base + i, base + i));
                }
            }
            (b, _) if BLOCK_TAGS.contains(&b) => flush(&mut run, mode, out),
            _ => {}
        }
    }
    if let Some(mut t) = table.take() {
        end_row(&mut t);
        out.extend(t.statements());
    }
    flush(&mut run, mode, out);
}

/// The row being read is done: the header when all its cells are `<th>` and the table has
/// none yet, else a row.
fn end_row(t: &mut Table) {
    let row = std::mem::take(&mut t.row);
    if row.is_empty() {
        return;
    }
    if t.in_head && t.header.is_empty() {
        t.header = row.into_iter().map(|c| c.0.trim().to_string()).collect();
    } else {
        t.rows.push(row);
    }
}

/// The tag that opens `s` (`<p …>`, `</td>`, `<br/>`): its lower-case name, whether it
/// closes, and its length; `None` when `s` does not open with a tag.
pub(super) fn tag(s: &str) -> Option<(String, bool, usize)> {
    let body = s.strip_prefix('<')?;
    let (closing, body) = match body.strip_prefix('/') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let name_len = body.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if name_len == 0 || !body.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let after = &body[name_len..];
    if !after.starts_with(|c: char| c == '>' || c == '/' || c.is_whitespace()) {
        return None;
    }
    let end = after.find('>')?;
    let len = s.len() - after.len() + end + 1;
    Some((body[..name_len].to_ascii_lowercase(), closing, len))
}

/// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;`, `&apos;`, `&nbsp;` and numeric references
/// decoded; others kept as written.
pub(super) fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The source offset of byte `o` of a run's text, by its anchors.
pub(super) fn source_offset(anchors: &[(usize, usize)], o: usize) -> usize {
    let k = anchors.partition_point(|a| a.0 <= o).saturating_sub(1);
    anchors.get(k).map_or(0, |&(t, s)| s + o.saturating_sub(t))
}

/// A description written in HTML (`<p>…</p><ul><li>…</li></ul>`, as Stripe's and AWS's API
/// descriptions are) as the Markdown lines it stands for: block elements' edges part
/// paragraphs, `<li>` opens a list item, a heading's text is a heading; inline tags are left
/// for the Markdown reader (it drops them), and what is no HTML element (`List<String>`) is
/// text; text without tags is returned as it is.
pub(crate) fn as_markdown(s: &str) -> String {
    if !s.contains('<') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match tag(rest) {
            Some((name, closing, len))
                if BLOCK_TAGS.contains(&name.as_str())
                    || matches!(name.as_str(), "li" | "table" | "tr" | "td" | "th")
                    || heading(&name) =>
            {
                out.push_str(match (name.as_str(), closing) {
                    ("li", false) => "\n- ",
                    (_, false) if heading(&name) => "\n\n# ",
                    ("br", _) => "\n",
                    _ => "\n\n",
                });
                rest = &rest[len..];
            }
            _ => {
                out.push('<');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    decode(&out)
}

/// `h1` … `h6`.
fn heading(name: &str) -> bool {
    name.len() == 2 && name.starts_with('h') && name.as_bytes()[1].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_references() {
        assert_eq!(tag("<p align=\"c\">x"), Some(("p".into(), false, 13)));
        assert_eq!(tag("</TD>"), Some(("td".into(), true, 5)));
        assert_eq!(tag("<br/>"), Some(("br".into(), false, 5)));
        for not_a_tag in ["< b>", "<3 seconds", "<=", "<b", "<_x>"] {
            assert_eq!(tag(not_a_tag), None, "{not_a_tag}");
        }
        assert_eq!(
            decode("a &amp; b &lt;c&gt; &#39;d&#x27; &copy; & e"),
            "a & b <c> 'd' &copy; & e"
        );
    }

    #[test]
    fn offsets_map_back_through_anchors() {
        let anchors = [(0, 10), (6, 30)];
        assert_eq!(source_offset(&anchors, 0), 10);
        assert_eq!(source_offset(&anchors, 5), 15);
        assert_eq!(source_offset(&anchors, 8), 32);
        assert_eq!(source_offset(&[], 3), 0);
    }
}
