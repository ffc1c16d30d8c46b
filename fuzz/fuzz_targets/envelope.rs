#![no_main]
//! Packet envelopes as `l9 memory import` reads them: any bytes decode or are refused without
//! a panic; one that decodes verifies or is refused; one that verifies survives encoding and
//! decoding unchanged (what an export writes, an import reads back as the same packet).

use libfuzzer_sys::fuzz_target;
use l9_types::PacketEnvelope;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = serde_json::from_slice::<PacketEnvelope>(data) else { return };
    if p.verify().is_err() {
        return;
    }
    let text = serde_json::to_string(&p).expect("a verified envelope encodes");
    let back: PacketEnvelope = serde_json::from_str(&text).expect("an encoded envelope decodes");
    assert_eq!(back, p, "an envelope changed through encoding");
    assert!(back.verify().is_ok(), "an envelope stopped verifying through encoding");
});
