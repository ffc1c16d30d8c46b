//! AsciiDoc, read into the blocks Markdown is read into (and so compiled alike): the
//! document title (`= Title`) and section titles (`==` … `======`), block titles (`.Acceptance
//! criteria` names the block after it, as a heading would), unordered, ordered and checklist
//! items (`*`, `-`, `.`, `1.`, nested as `**`, `..`), description lists (`term:: text`),
//! admonitions (`NOTE: …`), paragraphs, tables (`|===`: a requirements table's rows are
//! statements, as in Markdown), and listing and literal blocks as code (`[source,sh]` over
//! `----` names the language). Not text: comments (`//`, `////` blocks), attribute entries
//! (`:toc:`), block attribute lines (`[NOTE]`, `[[anchor]]`), preprocessor directives
//! (`include::`, `ifdef::`), block macros (`image::`), passthrough blocks and the header's
//! author and revision lines. Example, sidebar, quote and open blocks are read as the text
//! they hold.

use super::Block;
use super::table::Table;

/// A delimiter line: four or more of one of these characters (`--` for an open block).
fn delimiter(t: &str) -> Option<char> {
    if t == "--" {
        return Some('-');
    }
    let c = t.chars().next()?;
    (t.len() >= 4 && "-.=*_/+".contains(c) && t.chars().all(|x| x == c)).then_some(c)
}

/// A section or document title: its level (`=` is 1) and text.
fn title(t: &str) -> Option<(usize, &str)> {
    let level = t.chars().take_while(|&c| c == '=').count();
    let rest = t[level..].strip_prefix(' ')?;
    (level > 0 && level <= 6 && !rest.trim().is_empty()).then(|| (level, rest.trim()))
}

/// The length of a list marker opening `t` (with the space after it), 0 otherwise:
/// `* `, `** `, `- `, `. `, `.. `, `1. `, `a. `, and a checklist's `[x] ` after it.
fn marker(t: &str) -> usize {
    let stars = t.chars().take_while(|&c| c == '*').count();
    let dots = t.chars().take_while(|&c| c == '.').count();
    let len = if stars > 0 && t[stars..].starts_with(' ') {
        stars + 1
    } else if dots > 0 && t[dots..].starts_with(' ') {
        dots + 1
    } else if t.starts_with("- ") {
        2
    } else {
        let n = t.chars().take_while(char::is_ascii_alphanumeric).count();
        if n > 0
            && n <= 3
            && t[n..].starts_with(". ")
            && (n == 1 || t[..n].chars().all(|c| c.is_ascii_digit()))
        {
            n + 2
        } else {
            return 0;
        }
    };
    let rest = &t[len..];
    for check in ["[ ] ", "[x] ", "[X] ", "[*] "] {
        if rest.starts_with(check) {
            return len + check.len();
        }
    }
    len
}

/// A line that is not text at all: a comment, an attribute entry, a block attribute line,
/// a preprocessor directive or a block macro.
fn not_text(t: &str) -> bool {
    (t.starts_with("//") && !t.starts_with("////"))
        || (t.starts_with(':')
            && t[1..].find(':').is_some_and(|i| {
                let name = &t[1..=i];
                !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || "-_!".contains(c))
            }))
        || (t.starts_with('[') && t.ends_with(']'))
        || [
            "include::",
            "ifdef::",
            "ifndef::",
            "ifeval::",
            "endif::",
            "image::",
            "video::",
            "audio::",
            "toc::",
        ]
        .iter()
        .any(|p| t.starts_with(p))
}

/// The blocks of an AsciiDoc document.
pub(super) fn blocks(src: &str) -> Vec<Block> {
    let lines = crate::text::line_spans(src);
    let text = |k: usize| src[lines[k].0..lines[k].1].trim();
    let mut out = Vec::new();
    let mut level = 1;
    // The language a `[source,LANG]` line gives the listing block under it.
    let mut source_lang = String::new();
    let mut k = 0;
    while k < lines.len() {
        let t = text(k);
        if t.is_empty() {
            k += 1;
            continue;
        }
        // Delimited blocks: comments and passthroughs skipped, listings and literals code,
        // tables read, the rest (example, sidebar, quote, open) read as what they hold.
        if let Some(c) = delimiter(t) {
            let close = (k + 1..lines.len()).find(|&j| text(j) == t);
            match (c, close) {
                ('/' | '+', Some(j)) => k = j + 1,
                ('-' | '.', Some(j)) if t != "--" => {
                    if j > k + 1 {
                        let (s, e) = (lines[k + 1].0, lines[j - 1].1);
                        out.push(Block::Code {
                            lang: std::mem::take(&mut source_lang),
                            code: src[s..e].to_string(),
                            start: s,
                            end: e,
                        });
                    }
                    k = j + 1;
                }
                _ => k += 1,
            }
            continue;
        }
        if t.starts_with("|===") {
            let close = (k + 1..lines.len()).find(|&j| text(j).starts_with("|==="));
            let end = close.unwrap_or(lines.len());
            out.extend(table(src, &lines[k + 1..end]));
            k = end + 1;
            continue;
        }
        if not_text(t) {
            if let Some(args) = t.strip_prefix("[source").and_then(|r| r.strip_suffix(']')) {
                source_lang =
                    args.trim_start_matches(',').split(',').next().unwrap_or("").trim().to_string();
            }
            k += 1;
            continue;
        }
        if let Some((n, heading)) = title(t) {
            let (s, e) = lines[k];
            let at = s + (src[s..e].len() - src[s..e].trim_start().len()) + n + 1;
            level = n;
            out.push(Block::Heading { level: n, text: heading.to_string(), start: at, end: e });
            k += 1;
            // The header's author and revision lines, right under the document title.
            if n == 1 {
                while k < lines.len()
                    && !text(k).is_empty()
                    && !not_text(text(k))
                    && title(text(k)).is_none()
                {
                    k += 1;
                }
            }
            continue;
        }
        // A block title names the block under it: a heading one level down.
        if let Some(name) = t.strip_prefix('.')
            && !name.starts_with(['.', ' '])
            && marker(t) == 0
            && !name.is_empty()
        {
            let (s, e) = lines[k];
            out.push(Block::Heading {
                level: level + 1,
                text: name.trim().to_string(),
                start: s + 1,
                end: e,
            });
            k += 1;
            continue;
        }
        // A paragraph, a list item or a description list entry: lines up to a blank line,
        // a delimiter, or (for an item) the next item.
        let m = marker(t);
        let mut end = k + 1;
        while end < lines.len() {
            let next = text(end);
            if next.is_empty()
                || delimiter(next).is_some()
                || next.starts_with("|===")
                || title(next).is_some()
                || not_text(next)
                || marker(next) > 0
                || next == "+"
            {
                break;
            }
            end += 1;
        }
        let (s0, e) = (lines[k].0, lines[end - 1].1);
        let s = s0 + (src[s0..lines[k].1].len() - src[s0..lines[k].1].trim_start().len());
        let body = &src[s..e];
        if m > 0 {
            let joined = body[m..].split_whitespace().collect::<Vec<_>>().join(" ");
            out.push(Block::Item {
                text: super::strip_inline(&joined),
                start: s + m,
                end: e,
                priority: None,
            });
        } else if let Some((term, def)) =
            body.split_once(":: ").filter(|(term, _)| !term.contains('\n'))
        {
            let joined = format!(
                "{}: {}",
                term.trim(),
                def.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            out.push(Block::Item {
                text: super::strip_inline(&joined),
                start: s,
                end: e,
                priority: None,
            });
        } else {
            out.push(Block::Paragraph { start: s, end: e });
        }
        k = end;
        // A `+` line joins the next block to the item above: it is no text itself.
        while k < lines.len() && text(k) == "+" {
            k += 1;
        }
    }
    out
}

/// Where `include::` directives are written (outside comment blocks): byte spans.
pub(super) fn includes(src: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut comment: Option<&str> = None;
    for raw in src.split_inclusive('\n') {
        let line = raw.trim_end_matches(['\n', '\r']);
        let t = line.trim();
        if comment == Some(t) {
            comment = None;
        } else if comment.is_none() && delimiter(t) == Some('/') {
            comment = Some(t);
        } else if comment.is_none() && t.starts_with("include::") {
            let at = pos + (line.len() - line.trim_start().len());
            out.push((at, at + t.len()));
        }
        pos += raw.len();
    }
    out
}

/// A table's rows (`|` opens each cell; the first row is the header when a blank line
/// follows it, as AsciiDoc's implicit header rule has it) as statements.
fn table(src: &str, lines: &[(usize, usize)]) -> Vec<Block> {
    let mut cells: Vec<(String, usize, usize)> = Vec::new();
    let mut columns = 0;
    let mut header_ends = None;
    for (i, &(s, e)) in lines.iter().enumerate() {
        let line = &src[s..e];
        if line.trim().is_empty() {
            if i == 1 && header_ends.is_none() {
                header_ends = Some(cells.len());
            }
            continue;
        }
        if !line.trim_start().starts_with('|') {
            // A cell's text continued on the next line.
            if let Some(last) = cells.last_mut() {
                last.0.push(' ');
                last.0.push_str(line.trim());
                last.2 = e;
            }
            continue;
        }
        let mut at = s + line.find('|').unwrap_or(0);
        let parts: Vec<&str> = src[at..e].split('|').skip(1).collect();
        if i == 0 {
            columns = parts.len();
        }
        for p in parts {
            at += 1;
            let lead = p.len() - p.trim_start().len();
            cells.push((p.trim().to_string(), at + lead, at + lead + p.trim().len()));
            at += p.len();
        }
    }
    if columns == 0 {
        return Vec::new();
    }
    let mut t = Table::default();
    let mut rows = cells.chunks(columns);
    if header_ends == Some(columns) {
        t.header = rows.next().map(|r| r.iter().map(|c| c.0.clone()).collect()).unwrap_or_default();
    }
    t.rows = rows.map(<[_]>::to_vec).collect();
    t.statements()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_titles_and_delimiters() {
        assert_eq!(marker("* item"), 2);
        assert_eq!(marker("** nested"), 3);
        assert_eq!(marker(". first"), 2);
        assert_eq!(marker("1. first"), 3);
        assert_eq!(marker("* [x] done"), 6);
        assert_eq!(marker("*bold* text"), 0);
        assert_eq!(marker(".Block title"), 0);
        assert_eq!(marker("3.5 GB of disk"), 0);
        assert_eq!(title("== Scope"), Some((2, "Scope")));
        assert_eq!(title("==Scope"), None);
        assert_eq!(delimiter("----"), Some('-'));
        assert_eq!(delimiter("--"), Some('-'));
        assert_eq!(delimiter("---"), None);
        assert!(not_text(":toc: left") && not_text("// a comment") && not_text("[source,java]"));
        assert!(!not_text("The system shall log in: always."));
    }
}
