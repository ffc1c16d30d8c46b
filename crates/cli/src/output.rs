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
        writeln!(o, "{s}")?;
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
