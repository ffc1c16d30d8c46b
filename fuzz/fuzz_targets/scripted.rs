#![no_main]
//! The scripted provider's file format (`provider.yaml`): any text parses or is refused with
//! the file and a line, never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = l9_models::ScriptedProvider::parse("fuzz", "provider.yaml", text) {
        let message = e.to_string();
        assert!(message.contains("provider.yaml"), "an error without its file: {message}");
    }
});
