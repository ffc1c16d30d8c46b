//! Embedders: text → unit vectors.

use async_trait::async_trait;

use crate::Result;

#[cfg(feature = "local-embed")]
pub(crate) mod bert_reference;
pub(crate) mod hash;
#[cfg(feature = "local-embed")]
pub(crate) mod local_bert;
pub(crate) mod openai;
#[cfg(feature = "local-embed")]
mod packed_bert;

/// Turns texts into vectors of [`Embedder::dims`] dimensions, L2-normalised.
#[async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// A stable name including the model, recorded in the store so vectors from different
    /// models are never mixed (e.g. `hash-v1`, `openai:text-embedding-3-small`).
    fn name(&self) -> String;
    fn dims(&self) -> usize;
    /// One vector per text, in order. An empty text yields a zero vector (not stored).
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
    /// Computed in the process at a few microseconds a text (no model): a load is not
    /// embedded ahead of its write for it (see [`crate::spill`]).
    fn cheap(&self) -> bool {
        false
    }
}

/// Scales `v` to unit length in place (leaves a zero vector alone).
pub(crate) fn l2_normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}
