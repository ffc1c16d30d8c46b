//! Output: text for people or JSON for machines, written without panicking on a closed
//! pipe (`l9 memory export | head` must not crash).

use std::io::Write;

use serde::Serialize;

use crate::error::CliError;

#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) json: bool,
}

impl Out {
    pub(crate) fn new(json: bool) -> Self {
        Out { json }
    }

    /// Prints `value` as JSON with `--json`, else the text `human()` makes.
    pub(crate) fn value<T: Serialize>(
        &mut self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> Result<(), CliError> {
        if self.json {
            let s =
                serde_json::to_string_pretty(value).map_err(|e| CliError::input(e.to_string()))?;
            self.line(&s)
        } else {
            self.line(&human())
        }
    }

    pub(crate) fn line(&mut self, s: &str) -> Result<(), CliError> {
        let mut o = std::io::stdout().lock();
        writeln!(o, "{}", printable(s))?;
        o.flush()?;
        Ok(())
    }
}

/// The first `n` characters of `s` on one line.
pub(crate) fn snippet(s: &str, n: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= n {
        flat
    } else {
        let cut: String = flat.chars().take(n.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// `s` safe for a terminal: control characters other than newline and tab (an escape
/// sequence in a spec or a stored text could retitle the window, hide text or worse) are
/// shown as `\x1b`-style escapes. JSON output holds none (serde escapes them).
pub(crate) fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(super::printable("a\tb\nc"), "a\tb\nc");
        assert_eq!(super::printable("x\u{1b}]0;pwned\u{7}y"), "x\\x1b]0;pwned\\x07y");
        assert_eq!(super::printable("\u{9b}31m"), "\\x9b31m");
    }
}
