#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Task Runtime tests: workflows in-process on a manual clock, then the crash harness that
//! SIGKILLs worker processes (this test binary re-executed as a child).

mod crash;
mod rig;
mod workflows;
