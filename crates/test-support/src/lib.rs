//! `l9-test-support` — fixtures for tests only (a dev-dependency, never a normal one).
//!
//! Temporary directories, the PostgreSQL URL of the private test cluster, unique schema
//! names so tests sharing one cluster never see each other's data, and a TCP proxy that
//! breaks the network on demand ([`FaultProxy`]), and network namespaces joined by a link
//! that can be cut ([`NetNs`]).

#![allow(clippy::expect_used, clippy::panic)] // test fixtures: failing loudly is the point

use std::sync::atomic::{AtomicU32, Ordering};

pub use tempfile::TempDir;

mod proxy;
pub use proxy::FaultProxy;

mod netns;
pub use netns::NetNs;

/// The environment variable `scripts/test` sets to the private cluster's URL.
pub const PG_URL_VAR: &str = "L9_TEST_PG_URL";

/// A fresh temporary directory, removed on drop.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new().prefix("l9-test-").tempdir().expect("create a temp dir")
}

/// The test cluster's URL. `None` means "skip PostgreSQL tests" — allowed only outside CI:
/// with `CI=true` a missing URL fails the test, so CI can never pass by skipping.
pub fn pg_url() -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!(
                    "{PG_URL_VAR} is not set but CI=true: PostgreSQL tests must run in CI (scripts/test starts the cluster)"
                );
            }
            eprintln!(
                "note: {PG_URL_VAR} not set; skipping a PostgreSQL test (run scripts/test to include it)"
            );
            None
        }
    }
}

/// A schema name unique to this process and call.
pub fn unique_schema(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}
