//! Page furniture in text extracted from a PDF or a word processor: page numbers (`12`,
//! `- 12 -`, `Page 12 of 40`), a running header or footer (a short line repeated on three or
//! more pages, page numbers aside: `SRS for DigitalHome    Page 12 of 40`, `Copyright © 2009
//! …`) and form feeds. It is no text: it is masked out, and a sentence that a page break
//! interrupts (the page ends without a full stop, the next page opens in lower case)
//! continues across it.

use std::collections::HashMap;

/// One line of the source: its byte range without the line break.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// The source's lines.
pub(super) fn lines(src: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut pos = 0;
    for raw in src.split_inclusive('\n') {
        out.push(Line { start: pos, end: pos + raw.trim_end_matches(['\n', '\r']).len() });
        pos += raw.len();
    }
    out
}

/// The source with its furniture masked (each byte a space, so offsets stay), and per line
/// whether the reader skips it: furniture, and the blank lines around it where a sentence
/// continues across the page break.
/// `statement` says which lines open or hold a statement (a keyword, an id, a list marker),
/// which are never furniture; nor is the first line, the document's title.
pub(super) fn mask(
    src: &str,
    lines: &[Line],
    statement: &dyn Fn(&str) -> bool,
) -> (String, Vec<bool>) {
    let text = |l: &Line| &src[l.start..l.end];
    let mut furniture = furniture_lines(src, lines, statement);
    if let Some(title) = lines.iter().position(|l| !text(l).trim().is_empty()) {
        furniture[title] = false;
    }
    let mut skip = furniture.clone();
    let blank =
        |l: &Line| text(l).trim_matches(|c: char| c.is_whitespace() || c == '\u{c}').is_empty();
    let mut i = 0;
    while i < lines.len() {
        if !(furniture[i] || blank(&lines[i])) {
            i += 1;
            continue;
        }
        // A run of blank lines and furniture: with furniture in it, a page break.
        let j =
            (i..lines.len()).find(|&k| !(furniture[k] || blank(&lines[k]))).unwrap_or(lines.len());
        let page_break = (i..j).any(|k| furniture[k] || text(&lines[k]).contains('\u{c}'));
        let prev = (0..i).rev().find(|&k| !blank(&lines[k])).map(|k| text(&lines[k]).trim_end());
        let next = lines
            .get(j)
            .map(|l| text(l).trim_start_matches(|c: char| c.is_whitespace() || c == '\u{c}'));
        let continues = prev.is_some_and(|p| !p.ends_with(['.', '!', '?', ':', ';']))
            && next.is_some_and(|n| n.starts_with(char::is_lowercase));
        if page_break && continues {
            skip[i..j].iter_mut().for_each(|s| *s = true);
        }
        i = j;
    }
    let mut masked = src.as_bytes().to_vec();
    for (k, l) in lines.iter().enumerate() {
        let bytes = &mut masked[l.start..l.end];
        if furniture[k] {
            bytes.fill(b' ');
        } else {
            bytes.iter_mut().filter(|b| **b == 0x0c).for_each(|b| *b = b' ');
        }
    }
    // Whole lines (all their bytes) or single form feeds were replaced by spaces: the text is
    // still UTF-8.
    let masked = String::from_utf8(masked).unwrap_or_else(|_| src.to_string());
    (masked, skip)
}

/// Which lines are furniture: a page number, a `Page N` line, or a short line without a
/// sentence's end that stands, page numbers aside, three or more times in the document.
fn furniture_lines(src: &str, lines: &[Line], statement: &dyn Fn(&str) -> bool) -> Vec<bool> {
    let trimmed =
        |l: &Line| src[l.start..l.end].trim_matches(|c: char| c.is_whitespace() || c == '\u{c}');
    let keys: Vec<Option<String>> = lines
        .iter()
        .map(|l| Some(trimmed(l)).filter(|t| !statement(t)).and_then(running_key))
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for k in keys.iter().flatten() {
        *counts.entry(k.as_str()).or_default() += 1;
    }
    lines
        .iter()
        .zip(&keys)
        .map(|(l, key)| {
            let t = trimmed(l);
            page_number(t)
                || key.as_deref().is_some_and(|k| counts.get(k).copied().unwrap_or(0) >= 3)
        })
        .collect()
}

/// `12`, `- 12 -`, `Page 12`, `page 12 of 40`, `12 of 40`, `Seite 3`, or a line that ends or
/// opens with `Page 12 of 40` after wide spacing (a header's right or left column).
fn page_number(t: &str) -> bool {
    let bare = |s: &str| {
        let s = s.trim_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '–' | '—' | '|'));
        let s = ["page ", "p. ", "pg. ", "seite ", "página ", "pagina "]
            .iter()
            .find_map(|p| {
                s.get(..p.len())
                    .filter(|h| h.eq_ignore_ascii_case(p))
                    .map(|_| s[p.len()..].trim_start())
            })
            .unwrap_or(s);
        let (n, of) = match s.split_once(" of ").or_else(|| s.split_once('/')) {
            Some((n, of)) => (n.trim(), Some(of.trim())),
            None => (s, None),
        };
        let number =
            |x: &str| !x.is_empty() && x.len() <= 4 && x.chars().all(|c| c.is_ascii_digit());
        let roman = |x: &str| {
            !x.is_empty() && x.len() <= 6 && x.chars().all(|c| matches!(c, 'i' | 'v' | 'x'))
        };
        (number(n) || roman(n)) && of.is_none_or(number)
    };
    if t.is_empty() {
        return false;
    }
    if bare(t) {
        return true;
    }
    // A header's column: "SRS for DigitalHome          Page 12 of 40".
    let lower = t.to_ascii_lowercase();
    lower.find("page ").is_some_and(|i| {
        let (before, after) = (&t[..i], &t[i..]);
        (before.is_empty() || before.ends_with("   ") || before.ends_with('\t')) && {
            let column = after.split("   ").next().unwrap_or(after);
            bare(column) && (after.len() == column.len() || before.is_empty())
        }
    })
}

/// The key a running header or footer is counted by: the line with its numbers folded, when
/// it is short and no sentence (`Copyright © 2009 …` is one key for every page), else none.
fn running_key(t: &str) -> Option<String> {
    if t.len() < 4 || t.len() > 100 || !t.chars().any(char::is_alphabetic) {
        return None;
    }
    let mut key = String::with_capacity(t.len());
    let mut in_number = false;
    for c in t.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                key.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            if !c.is_whitespace() || !key.ends_with(' ') {
                key.push(if c.is_whitespace() { ' ' } else { c });
            }
        }
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers() {
        for yes in [
            "12",
            "- 12 -",
            "Page 12",
            "page 12 of 40",
            "12 of 40",
            "ix",
            "3/17",
            "– 4 –",
            "SRS for DigitalHome          Page 12 of 40",
            "Page 3         Version 1.2",
        ] {
            assert!(page_number(yes), "{yes}");
        }
        for no in [
            "12 users",
            "The page 12 shows",
            "Page",
            "See page 4 of the manual.",
            "2021. Annual report",
            "mix",
            "Pages 3",
        ] {
            assert!(!page_number(no), "{no}");
        }
    }
}
