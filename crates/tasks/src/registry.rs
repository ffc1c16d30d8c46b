//! Workflows by name.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::WfError;

pub type WfFuture = Pin<Box<dyn Future<Output = Result<Value, WfError>> + Send>>;
pub type WorkflowFn = Arc<dyn Fn(Ctx, Value) -> WfFuture + Send + Sync>;

/// The workflows a worker can run, by task kind. A plain task is a workflow that does not
/// use the journal.
#[derive(Clone, Default)]
pub struct Registry {
    workflows: BTreeMap<String, WorkflowFn>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.workflows.keys()).finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers `f` under `kind` (JSON in, JSON out).
    pub fn register<F, Fut>(&mut self, kind: &str, f: F) -> &mut Self
    where
        F: Fn(Ctx, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, WfError>> + Send + 'static,
    {
        self.workflows.insert(kind.to_string(), Arc::new(move |ctx, v| Box::pin(f(ctx, v))));
        self
    }

    /// Registers a typed workflow: the payload is decoded into `I`, the result encoded.
    pub fn register_typed<I, O, F, Fut>(&mut self, kind: &str, f: F) -> &mut Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + 'static,
        F: Fn(Ctx, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, WfError>> + Send + 'static,
    {
        let f = Arc::new(f);
        let kind_name = kind.to_string();
        self.register(kind, move |ctx, v| {
            let f = f.clone();
            let kind_name = kind_name.clone();
            async move {
                let input: I = serde_json::from_value(v).map_err(|e| {
                    WfError::failed(format!(
                        "the payload of a `{kind_name}` task does not fit: {e}"
                    ))
                })?;
                let out = f(ctx, input).await?;
                Ok(serde_json::to_value(out)?)
            }
        })
    }

    pub fn get(&self, kind: &str) -> Option<&WorkflowFn> {
        self.workflows.get(kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.workflows.keys().map(String::as_str)
    }
}
