//! The journaling seam. The agent loop runs every model call and tool call through
//! [`Steps::step`] under a deterministic name; the durable runtime's implementation journals
//! it (a resumed run gets recorded results back instead of calling again), [`Direct`] just
//! runs it, and [`MemoryJournal`] keeps results in memory (tests, one-shot CLI runs).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use async_trait::async_trait;
use l9_types::Effect;
use serde_json::Value;

use crate::error::{AgentError, Result};

pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

#[async_trait]
pub trait Steps: Send + Sync {
    /// Runs `f` once under `name` (unique within the run) with effect class `effect`.
    async fn step<'a>(&self, name: &str, effect: Effect, f: StepFuture<'a>) -> Result<Value>;
}

/// Runs every step, journals nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Direct;

#[async_trait]
impl Steps for Direct {
    async fn step<'a>(&self, _name: &str, _effect: Effect, f: StepFuture<'a>) -> Result<Value> {
        f.await.map_err(AgentError::Journal)
    }
}

/// Results kept by step name: a second run over the same journal returns recorded results
/// without running them. `fail_after` simulates a crash after that many new steps.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    pub entries: Mutex<BTreeMap<String, Value>>,
    pub order: Mutex<Vec<String>>,
    pub fail_after: Mutex<Option<usize>>,
}

#[async_trait]
impl Steps for MemoryJournal {
    async fn step<'a>(&self, name: &str, _effect: Effect, f: StepFuture<'a>) -> Result<Value> {
        if let Some(v) =
            self.entries.lock().map_err(|_| AgentError::Journal("poisoned".into()))?.get(name)
        {
            return Ok(v.clone());
        }
        {
            let mut fail =
                self.fail_after.lock().map_err(|_| AgentError::Journal("poisoned".into()))?;
            if let Some(n) = fail.as_mut() {
                if *n == 0 {
                    return Err(AgentError::Journal(format!("simulated crash before {name}")));
                }
                *n -= 1;
            }
        }
        let v = f.await.map_err(AgentError::Journal)?;
        self.entries
            .lock()
            .map_err(|_| AgentError::Journal("poisoned".into()))?
            .insert(name.to_string(), v.clone());
        self.order
            .lock()
            .map_err(|_| AgentError::Journal("poisoned".into()))?
            .push(name.to_string());
        Ok(v)
    }
}
