//! Rustc-style rendering of diagnostics with a source excerpt.

use l9_types::Diagnostic;

/// ```text
/// warning[L9-VAL-004]: REQ-1: MUST requirement without acceptance criteria
///   --> spec.md:12:3
///    |
/// 12 | - REQ-1: The system MUST export reports.
///    |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
///    = help: add an acceptance criterion …
/// ```
pub fn render(d: &Diagnostic, source: &str) -> String {
    let mut out = format!("{}[{}]: {}\n", d.severity, d.code, d.message);
    if let Some(span) = &d.span {
        out.push_str(&format!("  --> {}:{}:{}\n", span.file, span.line, span.column));
        let line_no = span.line as usize;
        if let Some(line) = source.lines().nth(line_no.saturating_sub(1)) {
            let line = line.trim_end_matches('\r');
            let width = line_no.to_string().len();
            let pad = " ".repeat(width);
            let shown: String = line.chars().take(160).collect();
            out.push_str(&format!("{pad} |\n{line_no} | {shown}\n"));
            let col = (span.column as usize).saturating_sub(1).min(shown.chars().count());
            let len = if span.end > span.start {
                let bytes = span.end - span.start;
                source
                    .get(span.start..span.end)
                    .map_or(bytes, |s| s.lines().next().unwrap_or("").chars().count())
            } else {
                1
            };
            let len = len.clamp(1, shown.chars().count().saturating_sub(col).max(1));
            let lead: String =
                shown.chars().take(col).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            out.push_str(&format!("{pad} | {lead}{}\n", "^".repeat(len)));
        }
        if let Some(help) = &d.help {
            out.push_str(&format!("{} = help: {help}\n", " ".repeat(line_no.to_string().len())));
        }
    } else if let Some(help) = &d.help {
        out.push_str(&format!("  = help: {help}\n"));
    }
    out
}
