//! `l9-agents` — the coding agent, its tools and the repo reader/writer (tier T3).
//!
//! This crate will hold the agent loop (model ↔ tools with step limits, loop detection and
//! budget checks), the workspace tools (`read_file`, `write_file`, `apply_patch`,
//! `list_dir`, `search`, `run`, `run_tests`) with their effect classes, one git worktree per
//! task branch with paths confined to it, the coder + reviewer cell, and adapters that run
//! external coding-agent CLIs (Cursor's agent, Claude Code, Codex, Aider) from command
//! templates. A task is done only when its acceptance gate passed.
//!
//! Nothing is implemented here yet: it lands with the Models and agents issue.
