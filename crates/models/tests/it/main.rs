//! Providers against a fake server on 127.0.0.1 that speaks the real wire formats (JSON,
//! SSE with tool-call deltas, 429 with Retry-After, malformed JSON, a dropped stream), and
//! the scripted, recording and replay providers. No network.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test

mod fake;
mod http_providers;
mod offline;
mod peer;
