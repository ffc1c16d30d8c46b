//! candle's own `BertModel` over padded batches: the reference the packed encoder
//! (`packed_bert`) is tested against, and the baseline `l9 bench ir --embeddings` times it
//! next to. Distinct texts are sorted by length and cut into batches of 16, each padded to
//! its longest text and run on one of the machine's cores; mean pooling over the attention
//! mask, then unit length.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::packed_bert::{distinct, l2_normalised, over_cores};

/// One unit vector per text (an empty text's is computed like any other's), truncating at
/// `max_tokens` word pieces.
pub fn reference_embeddings(
    dir: &Path,
    max_tokens: usize,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, String> {
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let config: Config =
        serde_json::from_slice(&read("config.json")?).map_err(|e| e.to_string())?;
    let mut tokenizer =
        Tokenizer::from_bytes(read("tokenizer.json")?).map_err(|e| e.to_string())?;
    tokenizer.with_padding(Some(PaddingParams::default()));
    tokenizer
        .with_truncation(Some(TruncationParams { max_length: max_tokens, ..Default::default() }))
        .map_err(|e| e.to_string())?;
    let vb =
        VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &Device::Cpu)
            .map_err(|e| e.to_string())?;
    let model = BertModel::load(vb, &config).map_err(|e| e.to_string())?;
    let (texts, slot) = distinct(texts);
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| (texts[i].len(), i));
    let batch = |idx: &[usize]| -> Result<Vec<Vec<f32>>, String> {
        let owned: Vec<String> = idx.iter().map(|&i| texts[i].clone()).collect();
        let enc = tokenizer.encode_batch(owned, true).map_err(|e| e.to_string())?;
        let ids: Vec<Vec<u32>> = enc.iter().map(|x| x.get_ids().to_vec()).collect();
        let mask: Vec<Vec<u32>> = enc.iter().map(|x| x.get_attention_mask().to_vec()).collect();
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::new(ids, &Device::Cpu)?;
            let mask = Tensor::new(mask, &Device::Cpu)?;
            let hidden = model.forward(&ids, &ids.zeros_like()?, Some(&mask))?;
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let mean = hidden.broadcast_mul(&m)?.sum(1)?.broadcast_div(&m.sum(1)?)?;
            l2_normalised(&mean)
        };
        run().map_err(|e| e.to_string())
    };
    let vectors = over_cores(&order, 16, batch, || "an embedding thread panicked".to_string())?;
    Ok(slot.iter().map(|&i| vectors[i].clone()).collect())
}
