//! `l9-tasks` — the Task Runtime and the durable `Ctx` (tier T3).
//!
//! This crate will hold the durable queue over `l9-store` (enqueue with priorities,
//! delays and idempotency keys; leases with heartbeats; retries, dead letters,
//! cancellation), cron schedules, checkpoints for long tasks, the in-process worker pool and
//! the `l9 worker` loop, and the journaled workflow context whose steps survive `kill -9`
//! and resume exactly.
//!
//! Nothing is implemented here yet: it lands with the Durable execution issue.
