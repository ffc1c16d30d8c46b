//! One error type for every provider; each names the provider and, when the fix is a
//! setting, the setting (`providers.NAME.api_key_env`).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    /// The configuration is wrong or incomplete.
    #[error("provider {provider}: {message} (setting: {setting})")]
    Config { provider: String, setting: String, message: String },
    /// The endpoint could not be reached or kept failing.
    #[error("provider {provider}: {message} (check {setting})")]
    Unavailable { provider: String, setting: String, message: String },
    /// The endpoint answered something that is not the wire format.
    #[error("provider {provider}: {message}")]
    Protocol { provider: String, message: String },
    /// A scripted provider has no rule for this call.
    #[error("provider {provider}: no rule matches this call ({detail}); closest rule: {closest}")]
    Unmatched { provider: String, detail: String, closest: String },
    /// A replayed call differs from the recorded one.
    #[error("provider {provider}: call {call} differs from the cassette {cassette}:\n{diff}")]
    ReplayMismatch { provider: String, cassette: String, call: usize, diff: String },
    /// The model's JSON answer does not match the requested schema.
    #[error("provider {provider}: the answer does not match the schema {schema}: {message}")]
    Schema { provider: String, schema: String, message: String },
    /// A script or cassette file is malformed.
    #[error("{file}:{line}: {message}")]
    File { file: String, line: usize, message: String },
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
