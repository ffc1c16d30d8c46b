#![no_main]
//! `l9 memory import`'s line reader (`l9_types::interchange`): any text reads line by line or
//! is refused with a code, without a panic; an envelope line that reads is verified and its
//! given blob bytes match their hashes; what reads, written back as an export line, reads back
//! the same; a draft line seals or is refused, and a sealed draft survives the same round trip.

use l9_types::interchange::{BlobData, ImportLine, export_line, read_line};
use l9_types::{ContentHash, ManualClock, PacketEnvelope, PacketId};
use libfuzzer_sys::fuzz_target;

fn round_trip(packet: &PacketEnvelope, given: &[(ContentHash, Vec<u8>)]) {
    let line = export_line(packet, given).expect("a verified envelope encodes");
    match read_line(&line) {
        Ok(Some(ImportLine::Envelope { packet: back, blobs })) => {
            assert_eq!(&back, packet, "an envelope changed through an export line");
            for ((h, bytes), b) in given.iter().zip(&back.blobs) {
                assert_eq!(*h, b.hash);
                assert!(blobs.contains(&BlobData::Given(bytes.clone())), "a blob's bytes were lost");
            }
        }
        other => panic!("an export line did not read back: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
    for raw in text.lines() {
        match read_line(raw) {
            Ok(None) => assert!(raw.trim().is_empty()),
            Err(e) => assert!(e.code.starts_with("L9-IMPORT-") && !e.message.is_empty()),
            Ok(Some(ImportLine::Envelope { packet, blobs })) => {
                assert!(packet.verify().is_ok(), "an envelope read without verifying");
                assert_eq!(blobs.len(), packet.blobs.len());
                let mut given = Vec::new();
                for (b, data) in packet.blobs.iter().zip(blobs) {
                    if let BlobData::Given(bytes) = data {
                        assert_eq!(ContentHash::of_bytes(&bytes), b.hash, "a blob read with other bytes");
                        given.push((b.hash, bytes));
                    }
                }
                round_trip(&packet, &given);
            }
            Ok(Some(ImportLine::Draft(d))) => {
                if let Ok(p) = d.draft().seal_as(PacketId(l9_types::derived_uuid("fuzz.import", raw)), &clock) {
                    assert!(p.verify().is_ok(), "a sealed draft does not verify");
                    round_trip(&p, &[]);
                }
            }
        }
    }
});

