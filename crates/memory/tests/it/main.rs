//! Memory Substrate tests: hybrid search over a real SQLite store, the OpenAI-compatible
//! embedder against a fake server on 127.0.0.1, and the local BERT embedder on the real
//! all-MiniLM-L6-v2 files (feature `local-embed`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test

mod hybrid;
#[cfg(feature = "local-embed")]
mod local_bert;
mod openai;
mod spill;
