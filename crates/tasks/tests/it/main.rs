#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Task Runtime tests: workflows in-process on a manual clock, then the crash harness that
//! SIGKILLs worker processes (this test binary re-executed as a child), and workers in
//! network namespaces of their own whose links are cut.

mod crash;
mod faults;
mod netns;
mod rig;
mod workflows;
