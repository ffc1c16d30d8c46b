//! CLI errors: every failure has a kind, an exit code and a message that says what to do.

use l9_engine::{EngineError, ErrorKind};

#[derive(Debug)]
pub(crate) struct CliError {
    kind: ErrorKind,
    message: String,
    broken_pipe: bool,
    /// Exit with this code and print nothing more (the output already said it all).
    silent: Option<u8>,
}

impl CliError {
    pub(crate) fn input(message: impl Into<String>) -> Self {
        CliError {
            kind: ErrorKind::Input,
            message: message.into(),
            broken_pipe: false,
            silent: None,
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        CliError {
            kind: ErrorKind::NotFound,
            message: message.into(),
            broken_pipe: false,
            silent: None,
        }
    }

    /// `l9 ir check` found errors: exit 1 after printing them.
    pub(crate) fn findings() -> Self {
        CliError {
            kind: ErrorKind::Input,
            message: String::new(),
            broken_pipe: false,
            silent: Some(1),
        }
    }

    pub(crate) fn is_silent(&self) -> bool {
        self.silent.is_some()
    }

    pub(crate) fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }

    pub(crate) fn exit_code(&self) -> u8 {
        if let Some(code) = self.silent {
            return code;
        }
        match self.kind {
            ErrorKind::Input => 3,
            ErrorKind::Config => 4,
            ErrorKind::NotFound => 5,
            ErrorKind::Unavailable => 6,
            ErrorKind::Internal => 70,
        }
    }

    pub(crate) fn render(&self) -> String {
        let label = match self.kind {
            ErrorKind::Input => "error",
            ErrorKind::Config => "configuration error",
            ErrorKind::NotFound => "not found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal error",
        };
        let mut s = format!("{label}: {}", self.message);
        if self.kind == ErrorKind::Internal {
            s.push_str("\n  this is a bug in l9; please report it with the command you ran");
        }
        if self.kind == ErrorKind::Unavailable {
            s.push_str("\n  check that the database is running and the URL (--db, L9_DB or store.url in .l9/l9.toml) is right");
        }
        s
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        let message = match &e {
            // Diagnostics are already complete lines (file:line: error[CODE]: … help: …).
            EngineError::Input(d) => format!(
                "{} problem{} found; nothing was written\n{e}",
                d.len(),
                if d.len() == 1 { "" } else { "s" }
            ),
            _ => e.to_string(),
        };
        CliError { kind: e.kind(), message, broken_pipe: false, silent: None }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError {
            kind: ErrorKind::Input,
            broken_pipe: e.kind() == std::io::ErrorKind::BrokenPipe,
            message: e.to_string(),
            silent: None,
        }
    }
}
