//! The JSON Lines interchange of packets (`l9 memory export` writes it, `l9 memory import`
//! reads it), one line at a time and without a store: what a line says, or why it is refused.
//!
//! A line is one of two things:
//! * an **envelope** (it has `id` and `hash`), as an export writes it: the envelope's fields
//!   plus `blob_data` (blob hash → base64 bytes) for the blobs it references. Reading it
//!   verifies the hash and each given blob's bytes against the blob's hash.
//! * a **draft**, for files written by people: `{"ref": "a", "kind": "note", "text": "…",
//!   "parents": ["b"], "body": {…}, "actor": "…", "run": "name-or-uuid"}`. What the names
//!   in `ref`, `parents` and `run` stand for is the importer's business (earlier lines, the
//!   store).
//!
//! Everything here is pure, so the reader is fuzzed on its own (`fuzz/`, target `import`).

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::{ContentHash, PacketDraft, PacketEnvelope};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A draft line's fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftLine {
    /// A name later lines may give as a parent.
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub body: Option<Value>,
    /// Refs of earlier lines or packet ids.
    #[serde(default)]
    pub parents: Vec<String>,
    #[serde(default)]
    pub actor: Option<String>,
    /// A run's id, or a name that stands for one new run across the file.
    #[serde(default)]
    pub run: Option<String>,
}

impl DraftLine {
    /// The draft without its parents and run (which name things outside the line).
    pub fn draft(&self) -> PacketDraft {
        let mut d = PacketDraft::new(self.kind.clone());
        if let Some(t) = &self.text {
            d = d.text(t.clone());
        }
        if let Some(b) = &self.body {
            d = d.body(b.clone());
        }
        if let Some(a) = &self.actor {
            d = d.actor(a.clone());
        }
        d
    }
}

/// The bytes a line gives for one of its envelope's blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobData {
    /// Given, and they hash to the blob's hash.
    Given(Vec<u8>),
    /// Given, but not base64 or not the blob's bytes.
    Mismatch,
    /// Not in the line: the blob must be stored already.
    Absent,
}

/// What a line says.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportLine {
    /// A verified envelope and, for each of its blobs in order, what the line gives for it.
    Envelope {
        packet: PacketEnvelope,
        blobs: Vec<BlobData>,
    },
    Draft(DraftLine),
}

/// Why a line is refused: a stable code, a message and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub code: &'static str,
    pub message: String,
    pub help: &'static str,
}

fn refuse(code: &'static str, message: String, help: &'static str) -> LineError {
    LineError { code, message, help }
}

/// Reads one line; `None` for a blank one.
pub fn read_line(raw: &str) -> Result<Option<ImportLine>, LineError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let one_object = "each line must be one JSON object";
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| refuse("L9-IMPORT-001", format!("not valid JSON: {e}"), one_object))?;
    if !value.is_object() {
        return Err(refuse("L9-IMPORT-002", "not a JSON object".into(), one_object));
    }
    if value.get("id").is_none() || value.get("hash").is_none() {
        let draft: DraftLine = serde_json::from_value(value).map_err(|e| {
            refuse(
                "L9-IMPORT-007",
                format!("not a draft: {e}"),
                "a draft line has kind and optionally ref, text, body, parents, actor, run",
            )
        })?;
        return Ok(Some(ImportLine::Draft(draft)));
    }
    let blob_data = value.get("blob_data").cloned();
    let packet: PacketEnvelope = serde_json::from_value(value).map_err(|e| {
        refuse(
            "L9-IMPORT-003",
            format!("not a packet envelope: {e}"),
            "export files carry whole envelopes; drafts carry no id or hash",
        )
    })?;
    packet.verify().map_err(|e| {
        refuse(
            "L9-IMPORT-004",
            e.to_string(),
            "the line was changed after export; restore it or remove its id and hash to import it as a draft",
        )
    })?;
    let blobs = packet
        .blobs
        .iter()
        .map(|b| match blob_data.as_ref().and_then(|d| d.get(b.hash.to_hex())) {
            None => BlobData::Absent,
            Some(v) => match v.as_str().and_then(|s| B64.decode(s).ok()) {
                Some(bytes) if ContentHash::of_bytes(&bytes) == b.hash => BlobData::Given(bytes),
                _ => BlobData::Mismatch,
            },
        })
        .collect();
    Ok(Some(ImportLine::Envelope { packet, blobs }))
}

/// One line of an export: the envelope, and `blob_data` (hash → base64) for `blobs`.
pub fn export_line(
    p: &PacketEnvelope,
    blobs: &[(ContentHash, Vec<u8>)],
) -> Result<String, serde_json::Error> {
    let mut v = serde_json::to_value(p)?;
    if !blobs.is_empty()
        && let Value::Object(map) = &mut v
    {
        let data: serde_json::Map<String, Value> =
            blobs.iter().map(|(h, b)| (h.to_hex(), Value::String(B64.encode(b)))).collect();
        map.insert("blob_data".into(), Value::Object(data));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobRef, IdSource, ManualClock, SeededRng};

    fn sealed(blob: Option<&[u8]>) -> PacketEnvelope {
        let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
        let rng = SeededRng::from_seed(7);
        let ids = IdSource { clock: &clock, rng: &rng };
        let mut d = PacketDraft::new("note").text("hello");
        if let Some(b) = blob {
            d = d.blob(BlobRef {
                hash: ContentHash::of_bytes(b),
                size: b.len() as u64,
                media_type: None,
                name: None,
            });
        }
        d.seal(&ids).unwrap()
    }

    #[test]
    fn an_exported_line_reads_back_with_its_blobs() {
        let p = sealed(Some(b"bytes"));
        let line = export_line(&p, &[(p.blobs[0].hash, b"bytes".to_vec())]).unwrap();
        let Some(ImportLine::Envelope { packet, blobs }) = read_line(&line).unwrap() else {
            panic!("not an envelope")
        };
        assert_eq!(packet, p);
        assert_eq!(blobs, vec![BlobData::Given(b"bytes".to_vec())]);
        // Without its data the blob must be stored; with other bytes it is refused.
        let bare = export_line(&p, &[]).unwrap();
        assert!(matches!(
            read_line(&bare).unwrap(),
            Some(ImportLine::Envelope { blobs, .. }) if blobs == vec![BlobData::Absent]
        ));
        let other = export_line(&p, &[(p.blobs[0].hash, b"other".to_vec())]).unwrap();
        assert!(matches!(
            read_line(&other).unwrap(),
            Some(ImportLine::Envelope { blobs, .. }) if blobs == vec![BlobData::Mismatch]
        ));
    }

    #[test]
    fn each_refusal_has_its_code() {
        let p = sealed(None);
        let changed = export_line(&p, &[]).unwrap().replace("hello", "hullo");
        let code = |l: &str| read_line(l).unwrap_err().code;
        assert_eq!(code("{"), "L9-IMPORT-001");
        assert_eq!(code("[1]"), "L9-IMPORT-002");
        assert_eq!(code(r#"{"id": 1, "hash": 2}"#), "L9-IMPORT-003");
        assert_eq!(code(&changed), "L9-IMPORT-004");
        assert_eq!(code(r#"{"kind": "note", "colour": "red"}"#), "L9-IMPORT-007");
        assert_eq!(read_line("  ").unwrap(), None);
        let Some(ImportLine::Draft(d)) =
            read_line(r#"{"ref": "a", "kind": "note", "text": "t", "parents": ["b"]}"#).unwrap()
        else {
            panic!("not a draft")
        };
        assert_eq!((d.reference.as_deref(), d.parents.len()), (Some("a"), 1));
        assert_eq!(d.draft().text.as_deref(), Some("t"));
    }
}
