//! A BERT-family sentence embedder run locally with candle (pure Rust, CPU).
//!
//! Loads a directory holding `config.json`, `tokenizer.json` and `model.safetensors`
//! (e.g. all-MiniLM-L6-v2), runs the encoder, mean-pools the last hidden states over the
//! attention mask and L2-normalises: what sentence-transformers does for these models.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use tokenizers::{Tokenizer, TruncationParams};

use super::Embedder;
use super::packed_bert::{PackedBert, distinct, l2_normalised, over_cores};
use crate::{MemoryError, Result};

/// Tokens per input beyond which text is truncated.
const MAX_TOKENS: usize = 256;

#[derive(Debug, Clone)]
pub struct LocalBertEmbedder {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    model: PackedBert,
    tokenizer: Tokenizer,
    dims: usize,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBert").field("dir", &self.dir).field("dims", &self.dims).finish()
    }
}

fn err(dir: &Path, message: String) -> MemoryError {
    MemoryError::Embed {
        embedder: format!("local-bert:{}", dir.display()),
        message,
        setting: "memory.local_bert.dir".into(),
    }
}

impl LocalBertEmbedder {
    /// Loads the model in `dir`. Errors name the missing or broken file.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_truncating(dir, MAX_TOKENS)
    }

    /// [`Self::load`], truncating every text to `max_tokens` word pieces (at most 512, BERT's
    /// positions). Attention costs the square of a text's length, so a caller embedding
    /// sentences (all-MiniLM-L6-v2 was trained on 128) need not pay for 256.
    pub fn load_truncating(dir: &Path, max_tokens: usize) -> Result<Self> {
        let max_tokens = max_tokens.clamp(8, 512);
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|e| err(dir, format!("cannot read {}: {e}", p.display())))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| err(dir, format!("config.json is not a BERT config: {e}")))?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| err(dir, format!("tokenizer.json does not load: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| err(dir, format!("tokenizer truncation: {e}")))?;
        let weights = read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| err(dir, format!("model.safetensors does not load: {e}")))?;
        let model = PackedBert::load(vb, &config)
            .map_err(|e| err(dir, format!("model.safetensors does not match config.json: {e}")))?;
        let dims = config.hidden_size;
        Ok(LocalBertEmbedder {
            inner: Arc::new(Inner { dir: dir.to_owned(), model, tokenizer, dims }),
        })
    }

    /// One unit vector per text, computed on this thread (what [`Embedder::embed`] does, for
    /// callers without an async runtime). An empty text yields a zero vector.
    pub fn embed_now(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let (distinct, slot) = distinct(texts);
        // A batch is packed without padding, so its texts' lengths need not match.
        let order: Vec<usize> = (0..distinct.len()).collect();
        let vectors = over_cores(
            &order,
            BATCH,
            |idx| self.embed_batch(&idx.iter().map(|&i| distinct[i].clone()).collect::<Vec<_>>()),
            || err(&self.inner.dir, "an embedding thread panicked".into()),
        )?;
        let mut out: Vec<Vec<f32>> = slot.iter().map(|&i| vectors[i].clone()).collect();
        for (v, t) in out.iter_mut().zip(texts) {
            if t.trim().is_empty() {
                v.iter_mut().for_each(|x| *x = 0.0);
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let inner = &self.inner;
        let e = |m: String| err(&inner.dir, m);
        let enc = inner
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|x| e(format!("tokenize: {x}")))?;
        let ids: Vec<Vec<u32>> = enc.iter().map(|x| x.get_ids().to_vec()).collect();
        let run = || l2_normalised(&inner.model.mean_pooled(&ids)?);
        run().map_err(|x| e(format!("inference: {x}")))
    }
}

/// Texts per packed batch (one worker's unit of work).
const BATCH: usize = 32;

#[async_trait]
impl Embedder for LocalBertEmbedder {
    fn name(&self) -> String {
        let model = self
            .inner
            .dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("local-bert:{model}")
    }

    fn dims(&self) -> usize {
        self.inner.dims
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.embed_now(texts)
    }
}

#[cfg(test)]
mod tests {
    /// The packed encoder against candle's own padded `BertModel`
    /// (`bert_reference`) on the real all-MiniLM-L6-v2, which `scripts/test` fetches
    /// (`L9_TEST_MINILM_DIR`): texts of very different lengths in one batch, one of them twice.
    #[test]
    fn the_packed_encoder_agrees_with_candles_bert_model() {
        let Some(dir) = std::env::var_os("L9_TEST_MINILM_DIR").filter(|d| !d.is_empty()) else {
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "CI needs the model");
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        let ours = super::LocalBertEmbedder::load_truncating(&dir, 128).unwrap();
        let long = "the server MUST close the connection when a frame arrives whose reserved \
                    bits are set and no negotiated extension defines them; "
            .repeat(8);
        let texts: Vec<String> = [
            "the cat sat on the mat",
            "The system shall refresh the access token before it expires, and report failures.",
            "x",
            "",
            long.as_str(),
            "the cat sat on the mat",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = ours.embed_now(&texts).unwrap();
        let want = crate::reference_embeddings(&dir, 128, &texts).unwrap();
        for ((t, g), w) in texts.iter().zip(&got).zip(&want) {
            if t.trim().is_empty() {
                assert!(g.iter().all(|x| *x == 0.0), "an empty text has a zero vector");
                continue;
            }
            let cos: f32 = g.iter().zip(w).map(|(a, b)| a * b).sum();
            assert!(cos > 0.99999, "{t:?}: cosine {cos}");
        }
    }
}
