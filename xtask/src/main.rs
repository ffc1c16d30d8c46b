//! `cargo run -p xtask -- tidy`: repository checks that are not compiler checks.
//!
//! The layering check reads `cargo metadata` and fails on a dependency edge the tiers of
//! ARCHITECTURE.md forbid. It also runs as a test (`cargo test -p xtask`), so
//! `cargo test --workspace` enforces it.

#![allow(clippy::disallowed_methods)] // a dev tool: it spawns cargo directly

mod layering;

use std::process::ExitCode;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("tidy") => match layering::check_workspace() {
            Ok(v) if v.is_empty() => {
                println!("layering: ok");
                ExitCode::SUCCESS
            }
            Ok(v) => {
                for x in v {
                    eprintln!("layering: {x}");
                }
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("layering: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo run -p xtask -- tidy");
            ExitCode::from(2)
        }
    }
}
