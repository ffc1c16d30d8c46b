//! Engine errors, sorted into kinds the edges map to exit codes.

use std::path::Path;

use l9_memory::MemoryError;
use l9_store::StoreError;
use l9_types::Diagnostic;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// What kind of failure, for exit codes and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input is wrong (a file, an argument value): fix the input.
    Input,
    /// Configuration is wrong or incomplete: fix the configuration.
    Config,
    /// Something asked for does not exist.
    NotFound,
    /// A database or service cannot be reached.
    Unavailable,
    /// A bug or an unexpected state.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Config(String),
    /// A bug or an unexpected state (not the user's to fix).
    #[error("{0}")]
    Internal(String),
    /// Input problems, each with file, line and what to do.
    #[error("{}", render(.0))]
    Input(Vec<Diagnostic>),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Task(#[from] l9_tasks::TaskError),
    /// A command that reads a project ran where there is none (nothing was created).
    #[error("{} is not an L9 project (no .l9/l9.toml here or in a parent directory)", .0.display())]
    NotProject(std::path::PathBuf),
}

fn render(d: &[Diagnostic]) -> String {
    d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl EngineError {
    /// The database's surroundings failed (full, read-only, damaged, unreachable): what is
    /// wrong with what to do, and the database's own words.
    pub fn environment(&self) -> Option<(l9_store::Fault, &str)> {
        let store = match self {
            EngineError::Store(s) | EngineError::Memory(MemoryError::Store(s)) => s,
            EngineError::Task(l9_tasks::TaskError::Store(s)) => s,
            _ => return None,
        };
        match store {
            StoreError::Environment { fault, detail } => Some((*fault, detail.as_str())),
            _ => None,
        }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        EngineError::Io { path: path.display().to_string(), source }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Config(_) => ErrorKind::Config,
            EngineError::Internal(_) => ErrorKind::Internal,
            EngineError::Input(_) => ErrorKind::Input,
            EngineError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            EngineError::Io { .. } => ErrorKind::Input,
            EngineError::Memory(MemoryError::Store(s)) | EngineError::Store(s) => store_kind(s),
            EngineError::Memory(MemoryError::Config(_))
            | EngineError::Memory(MemoryError::Embed { .. }) => ErrorKind::Config,
            EngineError::Memory(MemoryError::Envelope(_)) => ErrorKind::Input,
            EngineError::NotProject(_) => ErrorKind::NotFound,
            EngineError::Task(t) => match t {
                l9_tasks::TaskError::Store(s) => store_kind(s),
                l9_tasks::TaskError::NotFound(_) => ErrorKind::NotFound,
                l9_tasks::TaskError::Invalid(_) | l9_tasks::TaskError::UnknownWorkflow(_) => {
                    ErrorKind::Input
                }
                l9_tasks::TaskError::Diverged(_) => ErrorKind::Internal,
            },
        }
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::Envelope(_)
        | StoreError::MissingParent { .. }
        | StoreError::MissingBlob { .. }
        | StoreError::Conflict { .. }
        | StoreError::MissingPacket(_)
        | StoreError::Dimension { .. }
        | StoreError::Invalid(_) => ErrorKind::Input,
        StoreError::NotFound(_) => ErrorKind::NotFound,
        StoreError::Unavailable(_) | StoreError::Environment { .. } => ErrorKind::Unavailable,
        StoreError::Migration(_) => ErrorKind::Config,
        StoreError::Backend(_) | StoreError::LeaseLost(_) => ErrorKind::Internal,
    }
}

impl From<l9_config::ConfigError> for EngineError {
    fn from(e: l9_config::ConfigError) -> Self {
        match e {
            l9_config::ConfigError::Invalid(m) => EngineError::Config(m),
            l9_config::ConfigError::Io { path, source } => EngineError::io(&path, source),
        }
    }
}

impl From<l9_world_store::WorldError> for EngineError {
    fn from(e: l9_world_store::WorldError) -> Self {
        use l9_world_store::WorldError as W;
        match e {
            W::Memory(m) => EngineError::Memory(m),
            W::Store(s) => EngineError::Store(s),
            W::Input(d) => EngineError::Input(d),
            W::Internal(m) => EngineError::Internal(m),
        }
    }
}
