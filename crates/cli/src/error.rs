//! CLI errors: every failure has a kind, an exit code and a message that says what to do.

use l9_engine::{EngineError, ErrorKind};

#[derive(Debug)]
pub(crate) struct CliError {
    kind: ErrorKind,
    message: String,
    broken_pipe: bool,
    /// Exit with this code and print nothing more (the output already said it all).
    silent: Option<u8>,
    /// A stable name for `--json` errors (`not_project`, `waiting`, …); by kind otherwise.
    code: Option<&'static str>,
    /// What to do about it.
    help: Option<String>,
    /// An exit code other than the kind's.
    exit: Option<u8>,
}

/// A run waits for a person (or is paused): `l9 run`, `resume`, `watch` and `show` exit so.
pub(crate) const EXIT_WAITING: u8 = 75;
/// Interrupted by Ctrl-C (128 + SIGINT).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

impl CliError {
    pub(crate) fn input(message: impl Into<String>) -> Self {
        CliError {
            kind: ErrorKind::Input,
            message: message.into(),
            broken_pipe: false,
            silent: None,
            code: None,
            help: None,
            exit: None,
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        CliError {
            kind: ErrorKind::NotFound,
            message: message.into(),
            broken_pipe: false,
            silent: None,
            code: None,
            help: None,
            exit: None,
        }
    }

    /// `l9 ir check` found errors: exit 1 after printing them.
    pub(crate) fn findings() -> Self {
        CliError {
            kind: ErrorKind::Input,
            message: String::new(),
            broken_pipe: false,
            silent: Some(1),
            code: Some("failed"),
            help: None,
            exit: None,
        }
    }

    /// A service did not answer; the output already said which and why: exit 6.
    pub(crate) fn unavailable_silent() -> Self {
        CliError { silent: Some(6), code: Some("unavailable"), ..Self::findings() }
    }

    /// The run waits for a person: exit 75 after the report said why and what to run.
    pub(crate) fn waiting() -> Self {
        CliError { silent: Some(EXIT_WAITING), code: Some("waiting"), ..Self::findings() }
    }

    /// Ctrl-C: the message says how to continue.
    pub(crate) fn interrupted(message: impl Into<String>) -> Self {
        CliError { exit: Some(EXIT_INTERRUPTED), code: Some("interrupted"), ..Self::input(message) }
    }

    /// A reading command outside an L9 project: nothing is created.
    pub(crate) fn not_project(dir: &std::path::Path) -> Self {
        CliError {
            code: Some("not_project"),
            help: Some(
                "run `l9 init` here to make one, `-C DIR` to use another directory, or --db URL to read a database directly"
                    .into(),
            ),
            ..Self::not_found(format!(
                "{} is not an L9 project (no .l9/l9.toml here or in a parent directory)",
                dir.display()
            ))
        }
    }

    pub(crate) fn is_silent(&self) -> bool {
        self.silent.is_some()
    }

    pub(crate) fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }

    pub(crate) fn exit_code(&self) -> u8 {
        if let Some(code) = self.silent.or(self.exit) {
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
        if let Some(h) = self.help() {
            s.push_str("\n  ");
            s.push_str(&h);
        }
        s
    }

    fn help(&self) -> Option<String> {
        if let Some(h) = &self.help {
            return Some(h.clone());
        }
        match self.kind {
            ErrorKind::Internal => {
                Some("this is a bug in l9; please report it with the command you ran".into())
            }
            ErrorKind::Unavailable => Some(
                "check that the database is running and the URL (--db, L9_DB or store.url in .l9/l9.toml) is right"
                    .into(),
            ),
            _ => None,
        }
    }

    /// The error as `--json` prints it on stdout: `{"error": {"code", "message", "help",
    /// "exit"}}`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let code = self.code.unwrap_or(match self.kind {
            ErrorKind::Input => "input",
            ErrorKind::Config => "config",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        });
        serde_json::json!({"error": {
            "code": code, "message": self.message, "help": self.help(), "exit": self.exit_code(),
        }})
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        if let EngineError::NotProject(dir) = &e {
            return CliError::not_project(dir);
        }
        // A full, read-only or damaged database: the cause and what to do, not "a bug".
        if let Some((fault, detail)) = e.environment() {
            return CliError {
                help: Some(fault.to_string()),
                code: Some("storage"),
                ..CliError::input(format!("{} {detail}", l9_engine::STORAGE_MARK))
            }
            .with_kind(ErrorKind::Unavailable);
        }
        let message = match &e {
            // Diagnostics are already complete lines (file:line: error[CODE]: … help: …).
            EngineError::Input(d) => format!(
                "{} problem{} found; nothing was written\n{e}",
                d.len(),
                if d.len() == 1 { "" } else { "s" }
            ),
            _ => e.to_string(),
        };
        CliError {
            kind: e.kind(),
            message,
            broken_pipe: false,
            silent: None,
            code: None,
            help: None,
            exit: None,
        }
    }
}

impl CliError {
    fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError {
            kind: ErrorKind::Input,
            broken_pipe: e.kind() == std::io::ErrorKind::BrokenPipe,
            message: e.to_string(),
            silent: None,
            code: None,
            help: None,
            exit: None,
        }
    }
}

impl From<l9_bench::BenchError> for CliError {
    fn from(e: l9_bench::BenchError) -> Self {
        use l9_bench::BenchError as B;
        match e {
            B::Store(s) => EngineError::from(s).into(),
            B::Memory(m) => EngineError::from(m).into(),
            B::Task(t) => EngineError::from(t).into(),
            B::Io(m) => CliError::input(m),
            B::Failed(m) => CliError { kind: ErrorKind::Internal, ..CliError::input(m) },
        }
    }
}
