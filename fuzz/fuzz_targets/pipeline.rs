#![no_main]
//! Any bytes, their format detected, through the front end and everything downstream:
//! challenger, validator, deliberation, plan adapter, diagnostic rendering.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    l9_ir::exercise(None, data);
});
