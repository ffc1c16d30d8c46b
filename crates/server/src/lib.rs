//! `l9-server` — the HTTP API and web dashboard (tier T5).
//!
//! This crate will hold `/api/v1/…` (documented by a checked-in OpenAPI file that a test
//! keeps in sync) and the dashboard at `/` (runs, IR graph, challenges, simulation ranking,
//! task timeline, lineage, memory search, world model, DORA metrics). It reaches the
//! runtimes only through `l9-engine`.
//!
//! Nothing is implemented here yet.
