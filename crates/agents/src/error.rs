use thiserror::Error;

#[derive(Debug, Error)]
pub enum AgentError {
    /// A path outside the task's worktree, or otherwise unusable.
    #[error("path {path:?} is refused: {reason}")]
    Path { path: String, reason: String },
    /// A patch that does not apply.
    #[error("the patch does not apply: {0}")]
    Patch(String),
    /// A git operation failed.
    #[error("git {command}: {message}")]
    Git { command: String, message: String },
    /// Merging the task branch back conflicts.
    #[error("merging {branch} conflicts in: {}", files.join(", "))]
    Conflict { branch: String, files: Vec<String> },
    /// A process could not be started.
    #[error("cannot run {program}: {message}")]
    Spawn { program: String, message: String },
    #[error(transparent)]
    Model(#[from] l9_models::ModelError),
    /// The agent stopped: step limit, loop, budget.
    #[error("the agent stopped: {0}")]
    Stopped(String),
    #[error("{0}")]
    Io(String),
    /// A journaled step failed (the durable runtime's own error).
    #[error("journal: {0}")]
    Journal(String),
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;
