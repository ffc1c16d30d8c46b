//! Rustc-style rendering of diagnostics with a source excerpt.

use l9_types::Diagnostic;

/// Renders many diagnostics of one source, its lines found once (finding a line per
/// diagnostic by walking the source made `l9 ir check` quadratic in the spec).
#[derive(Debug)]
pub struct Renderer<'a> {
    source: &'a str,
    /// Where each line starts.
    starts: Vec<usize>,
}

impl<'a> Renderer<'a> {
    pub fn new(source: &'a str) -> Renderer<'a> {
        let starts = std::iter::once(0)
            .chain(source.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1))
            .collect();
        Renderer { source, starts }
    }

    /// Line `n` (1-based) as `str::lines` gives it.
    fn line(&self, n: usize) -> Option<&'a str> {
        let start = *self.starts.get(n.checked_sub(1)?)?;
        if start == self.source.len() {
            return None; // after a final line break: no line
        }
        let end = self.starts.get(n).map_or(self.source.len(), |next| next - 1);
        let line = &self.source[start..end];
        Some(line.strip_suffix('\r').filter(|_| end < self.source.len()).unwrap_or(line))
    }

    /// ```text
    /// warning[L9-VAL-004]: REQ-1: MUST requirement without acceptance criteria
    ///   --> spec.md:12:3
    ///    |
    /// 12 | - REQ-1: The system MUST export reports.
    ///    |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
    ///    = help: add an acceptance criterion …
    /// ```
    pub fn render(&self, d: &Diagnostic) -> String {
        let source = self.source;
        let mut out = format!("{}[{}]: {}\n", d.severity, d.code, d.message);
        if let Some(span) = &d.span {
            out.push_str(&format!("  --> {}:{}:{}\n", span.file, span.line, span.column));
            let line_no = span.line as usize;
            if let Some(line) = self.line(line_no) {
                let line = line.trim_end_matches('\r');
                let width = line_no.to_string().len();
                let pad = " ".repeat(width);
                // 160 characters of the line, from 40 before the column where the column is
                // further in (a minified JSON spec is one line): `…` marks what was left out.
                let at = (span.column as usize).saturating_sub(1);
                let skip = if at >= SHOWN { at - 40 } else { 0 };
                let mark = if skip > 0 { "…" } else { "" };
                // Found from the span's byte offset, 40 characters back, where it is on this
                // line (not by walking the line's characters up to it for every diagnostic).
                let line_start = self.starts[line_no - 1];
                let from = span
                    .start
                    .checked_sub(line_start)
                    .filter(|&b| skip > 0 && b <= line.len() && line.is_char_boundary(b))
                    .and_then(|b| line[..b].char_indices().rev().nth(39).map(|(i, _)| i));
                let rest = match from {
                    Some(i) => &line[i..],
                    None => line,
                };
                let skipped = if from.is_some() { 0 } else { skip };
                let shown: String =
                    mark.chars().chain(rest.chars().skip(skipped).take(SHOWN)).collect();
                out.push_str(&format!("{pad} |\n{line_no} | {shown}\n"));
                let col = (at - skip + mark.chars().count()).min(shown.chars().count());
                let len = if span.end > span.start {
                    let bytes = span.end - span.start;
                    // At most what can be underlined (160 characters of up to 4 bytes), not the
                    // whole span: a finding's span may be a megabyte-long line.
                    source.get(span.start..span.end).map_or(bytes, |s| {
                        let mut end = s.len().min(4 * 161);
                        while !s.is_char_boundary(end) {
                            end -= 1;
                        }
                        s[..end].lines().next().unwrap_or("").chars().count()
                    })
                } else {
                    1
                };
                let len = len.clamp(1, shown.chars().count().saturating_sub(col).max(1));
                let lead: String =
                    shown.chars().take(col).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
                out.push_str(&format!("{pad} | {lead}{}\n", "^".repeat(len)));
            }
            if let Some(help) = &d.help {
                out.push_str(&format!(
                    "{} = help: {help}\n",
                    " ".repeat(line_no.to_string().len())
                ));
            }
        } else if let Some(help) = &d.help {
            out.push_str(&format!("  = help: {help}\n"));
        }
        out
    }
}

/// How many characters of a line an excerpt shows.
const SHOWN: usize = 160;

#[cfg(test)]
mod tests {
    use super::*;

    /// A span far into a long line (a minified JSON spec) is shown with what surrounds it.
    #[test]
    fn a_span_far_into_a_long_line_is_shown() {
        let source = format!("{}\"must\": 1{}", "x".repeat(7_000), "y".repeat(500));
        let span = l9_types::Span {
            file: "a.json".into(),
            line: 1,
            column: 7_001,
            start: 7_000,
            end: 7_006,
        };
        let d = Diagnostic::warning("L9-X", "here").with_span(span);
        let out = Renderer::new(&source).render(&d);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[3].starts_with("1 | …xxx") && lines[3].contains("\"must\": 1"), "{out}");
        let (code, caret) = (lines[3].find('"').unwrap(), lines[4].find('^').unwrap());
        assert_eq!(lines[3][..code].chars().count(), lines[4][..caret].chars().count(), "{out}");
        assert!(lines[4].ends_with("^^^^^^"), "{out}");
        // Near the start, the line is shown from its start as before.
        let near =
            Renderer::new("ab MUST cd").render(&Diagnostic::warning("L9-X", "here").with_span(
                l9_types::Span { file: "a".into(), line: 1, column: 4, start: 3, end: 7 },
            ));
        assert!(near.contains("1 | ab MUST cd\n  |    ^^^^\n"), "{near}");
    }

    #[test]
    fn lines_are_found_as_str_lines_finds_them() {
        for source in
            ["", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\n", "x\r", "x\ry\n\rz\r\n\r", "é\n\nü\r\nz"]
        {
            let r = Renderer::new(source);
            for n in 0usize..6 {
                let want = n.checked_sub(1).and_then(|k| source.lines().nth(k));
                assert_eq!(r.line(n), want, "{source:?} line {n}");
            }
        }
    }
}
