//! A BERT-family sentence embedder run locally with candle (pure Rust, CPU).
//!
//! Loads a directory holding `config.json`, `tokenizer.json` and `model.safetensors`
//! (e.g. all-MiniLM-L6-v2), runs the encoder, mean-pools the last hidden states over the
//! attention mask and L2-normalises: what sentence-transformers does for these models.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::Embedder;
use crate::{MemoryError, Result};

/// Tokens per input beyond which text is truncated.
const MAX_TOKENS: usize = 256;

#[derive(Debug, Clone)]
pub struct LocalBertEmbedder {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    model: BertModel,
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
        tokenizer.with_padding(Some(PaddingParams::default()));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| err(dir, format!("tokenizer truncation: {e}")))?;
        let weights = read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| err(dir, format!("model.safetensors does not load: {e}")))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| err(dir, format!("model.safetensors does not match config.json: {e}")))?;
        let dims = config.hidden_size;
        Ok(LocalBertEmbedder {
            inner: Arc::new(Inner { dir: dir.to_owned(), model, tokenizer, dims }),
        })
    }

    /// One unit vector per text, computed on this thread (what [`Embedder::embed`] does, for
    /// callers without an async runtime). An empty text yields a zero vector.
    pub fn embed_now(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        // Batches of texts of similar length: a batch is padded to its longest text, and
        // attention costs the square of that, so one long text must not slow a batch of
        // short ones. The vectors go back in the callers' order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| (texts[i].len(), i));
        // The batches are shared out over the machine's cores (the model is read-only).
        let chunks: Vec<&[usize]> = order.chunks(16).collect();
        let workers =
            std::thread::available_parallelism().map_or(1, |n| n.get()).min(chunks.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        type Part = Result<Vec<(usize, Vec<f32>)>>;
        let done: Vec<Part> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(chunk) = chunks.get(k) else { return Ok(mine) };
                            let batch: Vec<String> =
                                chunk.iter().map(|&i| texts[i].clone()).collect();
                            mine.extend(chunk.iter().copied().zip(self.embed_batch(&batch)?));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(err(&self.inner.dir, "an embedding thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut out = vec![Vec::new(); texts.len()];
        for part in done {
            for (i, v) in part? {
                out[i] = v;
            }
        }
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
        let mask: Vec<Vec<u32>> = enc.iter().map(|x| x.get_attention_mask().to_vec()).collect();
        let dev = &Device::Cpu;
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::new(ids, dev)?;
            let mask = Tensor::new(mask, dev)?;
            let types = ids.zeros_like()?;
            let hidden = inner.model.forward(&ids, &types, Some(&mask))?; // (b, t, h)
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (b, t, 1)
            let summed = hidden.broadcast_mul(&m)?.sum(1)?; // (b, h)
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?; // (b, 1)
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(|x| e(format!("inference: {x}")))
    }
}

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
