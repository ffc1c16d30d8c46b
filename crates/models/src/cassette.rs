//! Recording and replay. [`Recorder`] wraps any provider and appends each call (request and
//! response) to a JSON Lines cassette; [`ReplayProvider`] serves a cassette in order and fails
//! loudly, with a diff, on a request that differs from the recorded one.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::provider::Provider;
use crate::types::{ChatRequest, ChatResponse};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub request: ChatRequest,
    pub response: ChatResponse,
}

/// A cassette file several recorders can share (a coder and a reviewer in one run).
pub type Sink = Arc<Mutex<std::fs::File>>;

#[derive(Debug)]
pub struct Recorder {
    inner: Arc<dyn Provider>,
    path: PathBuf,
    file: Sink,
}

impl Recorder {
    /// Creates (truncates) the cassette at `path`.
    pub fn create(inner: Arc<dyn Provider>, path: PathBuf) -> Result<Self> {
        let sink = Self::sink(&path)?;
        Ok(Recorder { inner, path, file: sink })
    }

    /// Creates (truncates) a cassette file to share between recorders.
    pub fn sink(path: &std::path::Path) -> Result<Sink> {
        let file = std::fs::File::create(path).map_err(|e| ModelError::File {
            file: path.display().to_string(),
            line: 0,
            message: format!("cannot create the cassette: {e}"),
        })?;
        Ok(Arc::new(Mutex::new(file)))
    }

    /// Records into a shared cassette.
    pub fn with_sink(inner: Arc<dyn Provider>, path: PathBuf, sink: Sink) -> Self {
        Recorder { inner, path, file: sink }
    }
}

#[async_trait]
impl Provider for Recorder {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn forecast(&self, req: &ChatRequest) -> crate::types::Forecast {
        self.inner.forecast(req)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse> {
        let response = self.inner.chat(req).await?;
        let line =
            serde_json::to_string(&Entry { request: req.clone(), response: response.clone() })
                .map_err(|e| ModelError::Protocol {
                    provider: self.name().into(),
                    message: format!("cannot serialize a call: {e}"),
                })?;
        let mut f = self.file.lock().map_err(|_| ModelError::Protocol {
            provider: self.name().into(),
            message: "cassette lock poisoned".into(),
        })?;
        writeln!(f, "{line}").and_then(|()| f.flush()).map_err(|e| ModelError::File {
            file: self.path.display().to_string(),
            line: 0,
            message: format!("cannot write the cassette: {e}"),
        })?;
        Ok(response)
    }
}

#[derive(Debug)]
pub struct ReplayProvider {
    name: String,
    file: String,
    entries: Vec<Entry>,
    /// Which recorded calls were served already.
    used: Mutex<Vec<bool>>,
}

impl ReplayProvider {
    /// Parses a cassette; a bad line is reported with its number.
    pub fn parse(name: &str, file: &str, text: &str) -> Result<Self> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: Entry = serde_json::from_str(line).map_err(|e| ModelError::File {
                file: file.into(),
                line: i + 1,
                message: format!("not a cassette entry: {e}"),
            })?;
            entries.push(e);
        }
        let n = entries.len();
        Ok(ReplayProvider {
            name: name.into(),
            file: file.into(),
            entries,
            used: Mutex::new(vec![false; n]),
        })
    }
}

/// A line diff of two pretty-printed JSON values: common head and tail kept out, the
/// differing middle shown as `-` (recorded) and `+` (now).
pub fn diff(recorded: &serde_json::Value, now: &serde_json::Value) -> String {
    let a = serde_json::to_string_pretty(recorded).unwrap_or_default();
    let b = serde_json::to_string_pretty(now).unwrap_or_default();
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail =
        a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let mut out = String::new();
    for l in &a[head.saturating_sub(2)..head] {
        out.push_str(&format!("  {l}\n"));
    }
    for l in &a[head..a.len() - tail] {
        out.push_str(&format!("- {l}\n"));
    }
    for l in &b[head..b.len() - tail] {
        out.push_str(&format!("+ {l}\n"));
    }
    out
}

#[async_trait]
impl Provider for ReplayProvider {
    fn name(&self) -> &str {
        &self.name
    }

    /// Serves the first unserved recorded call whose request is identical (so calls of
    /// several roles may interleave); otherwise fails with a diff against the next unserved
    /// call of the same role.
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse> {
        let mut used = self.used.lock().map_err(|_| ModelError::Protocol {
            provider: self.name.clone(),
            message: "replay lock poisoned".into(),
        })?;
        let now = serde_json::to_value(req).unwrap_or_default();
        let recorded =
            |i: usize| serde_json::to_value(&self.entries[i].request).unwrap_or_default();
        if let Some(i) = (0..self.entries.len()).find(|&i| !used[i] && recorded(i) == now) {
            used[i] = true;
            return Ok(self.entries[i].response.clone());
        }
        let candidate = (0..self.entries.len())
            .find(|&i| !used[i] && self.entries[i].request.role == req.role)
            .or_else(|| (0..self.entries.len()).find(|&i| !used[i]));
        match candidate {
            Some(i) => Err(ModelError::ReplayMismatch {
                provider: self.name.clone(),
                cassette: self.file.clone(),
                call: i + 1,
                diff: diff(&recorded(i), &now),
            }),
            None => Err(ModelError::ReplayMismatch {
                provider: self.name.clone(),
                cassette: self.file.clone(),
                call: self.entries.len() + 1,
                diff: format!(
                    "all {} recorded calls were served; this call is new",
                    self.entries.len()
                ),
            }),
        }
    }
}
