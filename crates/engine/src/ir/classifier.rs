//! Which requirement classifier a compile uses: the shipped learned model over hashed word
//! and character features, or — where the project's embedder is the local MiniLM model
//! (`[memory] embedder = "local-bert"`) or `--embeddings DIR` names one — the shipped model
//! trained with all-MiniLM-L6-v2 sentence embeddings, fed by that model.

use std::path::Path;

use l9_ir::Classifier;

use crate::Result;
use crate::config::{Config, EmbedderKind};

/// The classifier for a project with `config`: with sentence embeddings where its embedder
/// is the local MiniLM model, else the shipped hashed-feature model.
pub fn spec_classifier(config: &Config) -> Result<Classifier> {
    match &config.embedder {
        EmbedderKind::LocalBert { dir } => minilm_classifier(dir),
        _ => Ok(Classifier::default()),
    }
}

/// The shipped MiniLM classifier fed by the model in `dir` (loaded once per directory and
/// process; requirements are embedded as in training, see `super::sentence_model`).
#[cfg(feature = "local-embed")]
pub fn minilm_classifier(dir: &Path) -> Result<Classifier> {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex, PoisonError};

    use l9_memory::Embedder as _;
    static LOADED: Mutex<Option<HashMap<PathBuf, Classifier>>> = Mutex::new(None);
    let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(c) = loaded.as_ref().and_then(|m| m.get(dir)) {
        return Ok(c.clone());
    }
    let m = Arc::new(super::sentence_model(dir)?);
    let embeddings = l9_ir::classify::Embeddings::new(m.name(), move |texts: &[String]| {
        m.embed_now(texts).map_err(|e| e.to_string())
    });
    let c = Classifier::shipped_with(embeddings)
        .map_err(|e| crate::EngineError::Internal(format!("the shipped MiniLM classifier: {e}")))?;
    loaded.get_or_insert_with(HashMap::new).insert(dir.to_path_buf(), c.clone());
    Ok(c)
}

/// Without the `local-embed` build there is no sentence embedder.
#[cfg(not(feature = "local-embed"))]
pub fn minilm_classifier(_dir: &Path) -> Result<Classifier> {
    Err(super::without_local_embed())
}

/// The classifier `l9 ir …` uses: `--embeddings DIR` if given, else the project's.
pub fn cli_classifier(embeddings: Option<&Path>, root: &Path) -> Result<Classifier> {
    match embeddings {
        Some(dir) => minilm_classifier(dir),
        None => spec_classifier(&Config::load(root, &|v| std::env::var(v).ok())?),
    }
}
