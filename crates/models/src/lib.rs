//! `l9-models` — model providers (tier T3).
//!
//! This crate will hold one `Provider` trait (chat with tools, streaming, structured JSON
//! output) and its implementations: OpenAI-compatible chat completions (OpenAI, Ollama,
//! vLLM, LM Studio, llama.cpp), Anthropic messages, the `scripted` provider driven by a YAML
//! rule file, and recording/replay of cassettes. Retries honour `Retry-After`; every call
//! carries token and cost accounting for the kernel's budget.
//!
//! What it is not: it does not decide what to ask; agents and the engine do. Nothing is
//! implemented here yet: it lands with the Models and agents issue.
