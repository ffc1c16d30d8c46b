//! `l9-mcp` — the Model Context Protocol server (tier T5).
//!
//! This crate will expose L9 to IDE agents over MCP: `l9 mcp` on stdio and `/mcp`
//! (streamable HTTP) on `l9 serve`, so an IDE agent can pull tasks, read memory and report
//! results. It reaches the runtimes only through `l9-engine`.
//!
//! Nothing is implemented here yet.
