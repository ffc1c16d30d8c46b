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

#[derive(Debug)]
pub struct Recorder {
    inner: Arc<dyn Provider>,
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Recorder {
    /// Creates (truncates) the cassette at `path`.
    pub fn create(inner: Arc<dyn Provider>, path: PathBuf) -> Result<Self> {
        let file = std::fs::File::create(&path).map_err(|e| ModelError::File {
            file: path.display().to_string(),
            line: 0,
            message: format!("cannot create the cassette: {e}"),
        })?;
        Ok(Recorder { inner, path, file: Mutex::new(file) })
    }
}

#[async_trait]
impl Provider for Recorder {
    fn name(&self) -> &str {
        self.inner.name()
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
    next: Mutex<usize>,
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
        Ok(ReplayProvider { name: name.into(), file: file.into(), entries, next: Mutex::new(0) })
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

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse> {
        let mut next = self.next.lock().map_err(|_| ModelError::Protocol {
            provider: self.name.clone(),
            message: "replay lock poisoned".into(),
        })?;
        let i = *next;
        let Some(entry) = self.entries.get(i) else {
            return Err(ModelError::ReplayMismatch {
                provider: self.name.clone(),
                cassette: self.file.clone(),
                call: i + 1,
                diff: format!(
                    "the cassette holds {} calls; this is call {}",
                    self.entries.len(),
                    i + 1
                ),
            });
        };
        let recorded = serde_json::to_value(&entry.request).unwrap_or_default();
        let now = serde_json::to_value(req).unwrap_or_default();
        if recorded != now {
            return Err(ModelError::ReplayMismatch {
                provider: self.name.clone(),
                cassette: self.file.clone(),
                call: i + 1,
                diff: diff(&recorded, &now),
            });
        }
        *next += 1;
        Ok(entry.response.clone())
    }
}
