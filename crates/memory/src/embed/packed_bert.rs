//! A BERT encoder over *packed* sequences: the word pieces of a whole batch of texts stacked
//! into one `(tokens, hidden)` matrix, with no padding.
//!
//! candle's `BertModel` takes a padded `(batch, length, hidden)` tensor: every linear layer
//! becomes one small matrix product per text (its weights broadcast over the batch), and
//! every text pays for the batch's longest. Here the linear layers (query, key and value
//! fused into one) are single matrix products over all of the batch's tokens, and only
//! attention, which mixes tokens of one text, runs per text. Same weights, same arithmetic
//! up to floating-point summation order: a test holds it to candle's model.

use candle_core::{D, DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct};

/// A linear layer kept as `x · Wᵀ + b` with `Wᵀ` stored contiguous.
struct Dense {
    wt: Tensor,
    b: Tensor,
}

impl Dense {
    fn load(vb: &VarBuilder, inp: usize, out: usize) -> Result<Self> {
        let w = vb.get((out, inp), "weight")?;
        Ok(Dense { wt: w.t()?.contiguous()?, b: vb.get(out, "bias")? })
    }

    /// Query, key and value as one `(inp, 3·out)` product.
    fn fused(parts: &[Dense]) -> Result<Self> {
        let wt = Tensor::cat(&parts.iter().map(|d| &d.wt).collect::<Vec<_>>(), 1)?;
        let b = Tensor::cat(&parts.iter().map(|d| &d.b).collect::<Vec<_>>(), 0)?;
        Ok(Dense { wt: wt.contiguous()?, b })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.wt)?.broadcast_add(&self.b)
    }
}

struct Norm {
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl Norm {
    fn load(vb: &VarBuilder, dim: usize, eps: f64) -> Result<Self> {
        Ok(Norm { w: vb.get(dim, "weight")?, b: vb.get(dim, "bias")?, eps: eps as f32 })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.w, &self.b, self.eps)
    }
}

struct Layer {
    qkv: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    up: Dense,
    down: Dense,
    out_norm: Norm,
}

/// The encoder's weights.
pub(crate) struct PackedBert {
    words: Tensor,
    positions: Tensor,
    type0: Tensor,
    embed_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    act: HiddenAct,
    max_positions: usize,
}

impl PackedBert {
    /// Loads the weights a `BertModel` would (with or without a `bert.` prefix).
    pub(crate) fn load(vb: VarBuilder, c: &Config) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let h = c.hidden_size;
        if c.num_attention_heads == 0 || !h.is_multiple_of(c.num_attention_heads) {
            candle_core::bail!(
                "hidden_size {h} is not a multiple of num_attention_heads {}",
                c.num_attention_heads
            );
        }
        let e = vb.pp("embeddings");
        let types = e.get((c.type_vocab_size, h), "token_type_embeddings.weight")?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            let s = a.pp("self");
            let qkv = Dense::fused(&[
                Dense::load(&s.pp("query"), h, h)?,
                Dense::load(&s.pp("key"), h, h)?,
                Dense::load(&s.pp("value"), h, h)?,
            ])?;
            layers.push(Layer {
                qkv,
                attn_out: Dense::load(&a.pp("output.dense"), h, h)?,
                attn_norm: Norm::load(&a.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
                up: Dense::load(&l.pp("intermediate.dense"), h, c.intermediate_size)?,
                down: Dense::load(&l.pp("output.dense"), c.intermediate_size, h)?,
                out_norm: Norm::load(&l.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
            });
        }
        Ok(PackedBert {
            words: e.get((c.vocab_size, h), "word_embeddings.weight")?,
            positions: e.get((c.max_position_embeddings, h), "position_embeddings.weight")?,
            type0: types.get(0)?,
            embed_norm: Norm::load(&e.pp("LayerNorm"), h, c.layer_norm_eps)?,
            layers,
            heads: c.num_attention_heads,
            head_dim: h / c.num_attention_heads,
            act: c.hidden_act,
            max_positions: c.max_position_embeddings,
        })
    }

    /// Mean-pooled last hidden states, one row per sequence of word-piece ids (none empty,
    /// none longer than the model's positions).
    pub(crate) fn mean_pooled(&self, seqs: &[Vec<u32>]) -> Result<Tensor> {
        let dev = &Device::Cpu;
        let lens: Vec<usize> = seqs.iter().map(Vec::len).collect();
        if lens.iter().any(|&n| n == 0 || n > self.max_positions) {
            candle_core::bail!("a sequence is empty or longer than {}", self.max_positions);
        }
        let ids: Vec<u32> = seqs.concat();
        let pos: Vec<u32> = lens.iter().flat_map(|&n| 0..n as u32).collect();
        let ids = Tensor::new(ids, dev)?;
        let pos = Tensor::new(pos, dev)?;
        let x = self.words.index_select(&ids, 0)?;
        let x = (x + self.positions.index_select(&pos, 0)?)?.broadcast_add(&self.type0)?;
        let mut x = self.embed_norm.forward(&x)?;
        for layer in &self.layers {
            x = self.layer(layer, &x, &lens)?;
        }
        let mut pooled = Vec::with_capacity(lens.len());
        let mut at = 0;
        for &n in &lens {
            pooled.push(x.narrow(0, at, n)?.mean(0)?);
            at += n;
        }
        Tensor::stack(&pooled, 0)
    }

    fn layer(&self, l: &Layer, x: &Tensor, lens: &[usize]) -> Result<Tensor> {
        let h = self.heads * self.head_dim;
        let qkv = l.qkv.forward(x)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut ctx = Vec::with_capacity(lens.len());
        let mut at = 0;
        for &n in lens {
            let seq = qkv.narrow(0, at, n)?;
            // (n, h) → (heads, n, head_dim)
            let split = |k: usize| -> Result<Tensor> {
                seq.narrow(1, k * h, h)?
                    .reshape((n, self.heads, self.head_dim))?
                    .transpose(0, 1)?
                    .contiguous()
            };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let scores = (q.matmul(&k.t()?)? * scale)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            ctx.push(probs.matmul(&v)?.transpose(0, 1)?.reshape((n, h))?);
            at += n;
        }
        let ctx = Tensor::cat(&ctx, 0)?;
        let x = l.attn_norm.forward(&(l.attn_out.forward(&ctx)? + x)?)?;
        let up = l.up.forward(&x)?;
        let up = match self.act {
            HiddenAct::Gelu => gelu_erf(&up)?,
            HiddenAct::GeluApproximate => up.gelu()?,
            HiddenAct::Relu => up.relu()?,
        };
        l.out_norm.forward(&(l.down.forward(&up)? + x)?)
    }
}

/// GELU with the error function, `x/2 · (1 + erf(x/√2))`, with the error function by
/// Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7 exactly, < 1e-6 evaluated in f32); candle's
/// `gelu_erf` calls libm's `erff` per element, a tenth of the encoder's time.
fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    let mut v = x.flatten_all()?.to_vec1::<f32>()?;
    for a in &mut v {
        *a = 0.5 * *a * (1.0 + erf(*a * std::f32::consts::FRAC_1_SQRT_2));
    }
    Tensor::from_vec(v, x.shape(), x.device())
}

fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152_1, 1.061_405_4];
    let z = x.abs();
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let y = 1.0 - poly * (-z * z).exp();
    y.copysign(x)
}

/// Unit-length rows (zero rows stay zero).
pub(crate) fn l2_normalised(x: &Tensor) -> Result<Vec<Vec<f32>>> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)?.to_dtype(DType::F32)?.to_vec2::<f32>()
}

/// The distinct texts of `texts` (first occurrences, in order) and, per text, the index of
/// its distinct copy: a text given twice is embedded once.
pub(crate) fn distinct(texts: &[String]) -> (Vec<&String>, Vec<usize>) {
    let mut first: std::collections::HashMap<&str, usize> = Default::default();
    let mut distinct: Vec<&String> = Vec::new();
    let slot = texts
        .iter()
        .map(|t| {
            *first.entry(t.as_str()).or_insert_with(|| {
                distinct.push(t);
                distinct.len() - 1
            })
        })
        .collect();
    (distinct, slot)
}

/// Embeds `order` (indices of the caller's texts) in chunks of `size`, the chunks shared out
/// over the machine's cores (the model is read-only); one vector per index, back in index
/// order (`0..order.len()` must be a permutation of the indices).
pub(crate) fn over_cores<E: Send>(
    order: &[usize],
    size: usize,
    batch: impl Fn(&[usize]) -> std::result::Result<Vec<Vec<f32>>, E> + Sync,
    panicked: impl Fn() -> E,
) -> std::result::Result<Vec<Vec<f32>>, E> {
    type Part<E> = std::result::Result<Vec<(usize, Vec<f32>)>, E>;
    let chunks: Vec<&[usize]> = order.chunks(size.max(1)).collect();
    let workers =
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(chunks.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<Option<Part<E>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(chunk) = chunks.get(k) else { return Ok(mine) };
                        mine.extend(chunk.iter().copied().zip(batch(chunk)?));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let mut out = vec![Vec::new(); order.len()];
    for part in parts {
        for (i, v) in part.ok_or_else(&panicked)?? {
            out[i] = v;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn erf_is_within_a_millionth_of_the_series() {
        let mut worst = 0.0f32;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            worst = worst.max((super::erf(x) - reference_erf(x)).abs());
        }
        assert!(worst < 1e-6, "worst error {worst}");
    }

    /// erf by its Maclaurin series in f64 (|x| ≤ 3) or 1 beyond: the reference.
    fn reference_erf(x: f32) -> f32 {
        let x = f64::from(x);
        if x.abs() > 3.0 {
            let c = erfc_continued_fraction(x.abs());
            return ((1.0 - c) * x.signum()) as f32;
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        (sum * 2.0 / std::f64::consts::PI.sqrt()) as f32
    }

    /// erfc(x) for x > 3 by its continued fraction (ample precision there).
    fn erfc_continued_fraction(x: f64) -> f64 {
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = (k as f64 / 2.0) / (x + f);
        }
        (-x * x).exp() / std::f64::consts::PI.sqrt() / (x + f)
    }
}
