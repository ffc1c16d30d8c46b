#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    l9_ir::exercise_front(l9_ir::Format::Asciidoc, data);
});
