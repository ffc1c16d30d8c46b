//! The PacketEnvelope: the unit of L9's memory.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{write_canonical, write_json};
use crate::{Clock, ContentHash, IdSource, PacketId, RunId, TaskId};

/// The envelope format version this build writes. It reads this one and every older one
/// (a stored packet keeps the version, and so the hash, it was sealed with).
///
/// * **1**: the hash covers kind, parents, body and blobs ([`PacketEnvelope::content_hash`]);
///   text, actor, time, run, task, effect and schema could be changed unnoticed.
/// * **2**: the hash covers every field of the envelope but the hash itself
///   ([`PacketEnvelope::expected_hash`]).
pub const ENVELOPE_VERSION: u32 = 2;

/// The oldest envelope version this build reads.
pub const OLDEST_ENVELOPE_VERSION: u32 = 1;

/// The blake3 `derive_key` contexts of packet hashes. Changing one changes every hash.
const HASH_CONTEXT: &str = "l9 2026 packet envelope v1";
const HASH_CONTEXT_V2: &str = "l9 2026 packet envelope v2";

/// What running a tool call does to the world: decides whether an interrupted step may be
/// re-run after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum Effect {
    /// No effect outside its result: always safe to re-run.
    Pure,
    /// Safe to re-run with the same key: the effect happens at most once per key.
    Idempotent { key: String },
    /// Has an effect that can be undone by a compensating action.
    Compensable,
    /// Happens for real and cannot be undone or de-duplicated.
    Irreversible,
}

/// A reference to a content-addressed blob, stored once however often it is referenced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    pub hash: ContentHash,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One record in the memory substrate. See ARCHITECTURE.md, "Memory Substrate".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacketEnvelope {
    /// Envelope format version ([`ENVELOPE_VERSION`]).
    pub v: u32,
    pub id: PacketId,
    /// What this packet is, e.g. `note`, `model.call`, `tool.result`, `ir`.
    pub kind: String,
    /// Version of the body's schema for this kind.
    #[serde(default = "one")]
    pub schema: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<TaskId>,
    /// Lineage: the packets this one was derived from.
    #[serde(default)]
    pub parents: Vec<PacketId>,
    pub actor: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub body: Value,
    /// Searchable text (full-text index and embedding input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default)]
    pub blobs: Vec<BlobRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// blake3 over the canonical encoding of the envelope's other fields (version 2), or of
    /// kind, parents, body and blobs (version 1).
    pub hash: ContentHash,
}

fn one() -> u32 {
    1
}

/// Why an envelope is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error(
        "unsupported envelope version {0} (this build reads versions {OLDEST_ENVELOPE_VERSION} to {ENVELOPE_VERSION}: a newer L9 wrote it)"
    )]
    Version(u32),
    #[error(
        "invalid kind {0:?}: use 1-64 characters from a-z, 0-9, '.', '_', '-', '/', starting with a letter"
    )]
    Kind(String),
    #[error("packet {0} lists itself as a parent")]
    SelfParent(PacketId),
    #[error("packet {id} lists parent {parent} twice")]
    DuplicateParent { id: PacketId, parent: PacketId },
    #[error("packet {id} hash does not verify: stored {stored}, computed {computed}")]
    HashMismatch { id: PacketId, stored: ContentHash, computed: ContentHash },
    #[error("invalid actor {0:?}: use 1-128 characters without control characters")]
    Actor(String),
    #[error("packet {0} text contains a NUL character, which no backend can store")]
    TextNul(PacketId),
}

impl PacketEnvelope {
    /// The hash of a packet's content: kind, parents, body and blobs — what a version 1
    /// envelope carries as its hash. Two packets with the same content hash and text were
    /// made from the same draft (`l9 memory import` finds re-imported drafts by it).
    pub fn content_hash(
        kind: &str,
        parents: &[PacketId],
        body: &Value,
        blobs: &[BlobRef],
    ) -> ContentHash {
        // The canonical encoding of {"kind", "parents", "body", "blobs"} (the test
        // `hash_is_that_of_the_canonical_document` builds it), written directly.
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"blobs\":");
        write_blobs(blobs, &mut out);
        out.extend_from_slice(b",\"body\":");
        write_canonical(body, &mut out);
        out.extend_from_slice(b",\"kind\":");
        write_json(kind, &mut out);
        out.extend_from_slice(b",\"parents\":");
        write_parents(parents, &mut out);
        out.push(b'}');
        ContentHash::derive(HASH_CONTEXT, &out)
    }

    /// The hash this envelope must carry for its version. Version 2: the canonical encoding
    /// of every field but `hash` — `{"actor", "at", "blobs", "body", "effect", "id", "kind",
    /// "parents", "run_id", "schema", "task_id", "text", "v"}`, absent options as `null`, the
    /// time as RFC 3339 in whole microseconds (the test `v2_hash_is_that_of_the_canonical_document`
    /// builds the document), written directly: a journal step hashes one.
    pub fn expected_hash(&self) -> ContentHash {
        if self.v < 2 {
            return Self::content_hash(&self.kind, &self.parents, &self.body, &self.blobs);
        }
        let mut out = Vec::with_capacity(384 + self.text.as_ref().map_or(0, String::len));
        out.extend_from_slice(b"{\"actor\":");
        write_json(&self.actor, &mut out);
        out.extend_from_slice(b",\"at\":");
        write_json(&self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), &mut out);
        out.extend_from_slice(b",\"blobs\":");
        write_blobs(&self.blobs, &mut out);
        out.extend_from_slice(b",\"body\":");
        write_canonical(&self.body, &mut out);
        out.extend_from_slice(b",\"effect\":");
        match &self.effect {
            // An effect is a small tagged object; its canonical form via a Value.
            Some(e) => write_canonical(&serde_json::to_value(e).unwrap_or(Value::Null), &mut out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"id\":");
        write_json(&self.id.to_string(), &mut out);
        out.extend_from_slice(b",\"kind\":");
        write_json(&self.kind, &mut out);
        out.extend_from_slice(b",\"parents\":");
        write_parents(&self.parents, &mut out);
        out.extend_from_slice(b",\"run_id\":");
        write_json(&self.run_id.map(|r| r.to_string()), &mut out);
        out.extend_from_slice(b",\"schema\":");
        write_json(&self.schema, &mut out);
        out.extend_from_slice(b",\"task_id\":");
        write_json(&self.task_id.map(|t| t.to_string()), &mut out);
        out.extend_from_slice(b",\"text\":");
        write_json(&self.text, &mut out);
        out.extend_from_slice(b",\"v\":");
        write_json(&self.v, &mut out);
        out.push(b'}');
        ContentHash::derive(HASH_CONTEXT_V2, &out)
    }

    /// Checks everything that can be checked without a store: version, kind, actor,
    /// parents, and that the hash verifies.
    pub fn verify(&self) -> Result<(), EnvelopeError> {
        self.check_fields()?;
        let computed = self.expected_hash();
        if computed != self.hash {
            return Err(EnvelopeError::HashMismatch { id: self.id, stored: self.hash, computed });
        }
        Ok(())
    }

    /// Everything [`PacketEnvelope::verify`] checks but the hash.
    fn check_fields(&self) -> Result<(), EnvelopeError> {
        if !(OLDEST_ENVELOPE_VERSION..=ENVELOPE_VERSION).contains(&self.v) {
            return Err(EnvelopeError::Version(self.v));
        }
        validate_kind(&self.kind)?;
        validate_actor(&self.actor)?;
        if self.text.as_ref().is_some_and(|t| t.contains('\0')) {
            return Err(EnvelopeError::TextNul(self.id));
        }
        for (i, p) in self.parents.iter().enumerate() {
            if *p == self.id {
                return Err(EnvelopeError::SelfParent(self.id));
            }
            if self.parents[..i].contains(p) {
                return Err(EnvelopeError::DuplicateParent { id: self.id, parent: *p });
            }
        }
        Ok(())
    }
}

/// Blob references as canonical JSON: `[{"hash", "media_type", "name", "size"}, …]`.
fn write_blobs(blobs: &[BlobRef], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, b) in blobs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"hash\":");
        write_json(&b.hash.to_hex(), out);
        out.extend_from_slice(b",\"media_type\":");
        write_json(&b.media_type, out);
        out.extend_from_slice(b",\"name\":");
        write_json(&b.name, out);
        out.extend_from_slice(b",\"size\":");
        write_json(&b.size, out);
        out.push(b'}');
    }
    out.push(b']');
}

/// Packet ids as canonical JSON: an array of strings.
fn write_parents(parents: &[PacketId], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, p) in parents.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(&p.to_string(), out);
    }
    out.push(b']');
}

fn validate_kind(kind: &str) -> Result<(), EnvelopeError> {
    let ok = (1..=64).contains(&kind.len())
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/')
        });
    if ok { Ok(()) } else { Err(EnvelopeError::Kind(kind.to_owned())) }
}

fn validate_actor(actor: &str) -> Result<(), EnvelopeError> {
    let ok = (1..=128).contains(&actor.chars().count()) && !actor.chars().any(char::is_control);
    if ok { Ok(()) } else { Err(EnvelopeError::Actor(actor.to_owned())) }
}

/// An envelope before it has an id, a time and a hash.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketDraft {
    pub kind: String,
    pub schema: u32,
    pub run_id: Option<RunId>,
    pub task_id: Option<TaskId>,
    pub parents: Vec<PacketId>,
    pub actor: String,
    pub body: Value,
    pub text: Option<String>,
    pub blobs: Vec<BlobRef>,
    pub effect: Option<Effect>,
}

impl PacketDraft {
    pub fn new(kind: impl Into<String>) -> Self {
        PacketDraft {
            kind: kind.into(),
            schema: 1,
            run_id: None,
            task_id: None,
            parents: Vec::new(),
            actor: "user".to_owned(),
            body: Value::Object(Default::default()),
            text: None,
            blobs: Vec::new(),
            effect: None,
        }
    }

    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = body;
        self
    }

    pub fn parent(mut self, parent: PacketId) -> Self {
        if !self.parents.contains(&parent) {
            self.parents.push(parent);
        }
        self
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    pub fn run(mut self, run: RunId) -> Self {
        self.run_id = Some(run);
        self
    }

    pub fn task(mut self, task: TaskId) -> Self {
        self.task_id = Some(task);
        self
    }

    pub fn blob(mut self, blob: BlobRef) -> Self {
        self.blobs.push(blob);
        self
    }

    pub fn effect(mut self, effect: Effect) -> Self {
        self.effect = Some(effect);
        self
    }

    /// Assigns an id and a time and computes the hash. Fails on an invalid kind, actor or
    /// parent list.
    pub fn seal(self, ids: &IdSource<'_>) -> Result<PacketEnvelope, EnvelopeError> {
        let id = PacketId::new(ids);
        self.seal_as(id, ids.clock)
    }

    /// Like [`PacketDraft::seal`] with a given id.
    pub fn seal_as(self, id: PacketId, clock: &dyn Clock) -> Result<PacketEnvelope, EnvelopeError> {
        let mut env = PacketEnvelope {
            v: ENVELOPE_VERSION,
            id,
            kind: self.kind,
            schema: self.schema,
            run_id: self.run_id,
            task_id: self.task_id,
            parents: self.parents,
            actor: self.actor,
            // Microseconds: the precision every store keeps, so a stored packet reads back
            // exactly as it was sealed.
            at: DateTime::<Utc>::from_timestamp_micros(clock.now().timestamp_micros())
                .unwrap_or_default(),
            body: self.body,
            text: self.text,
            blobs: self.blobs,
            effect: self.effect,
            hash: ContentHash::from_bytes([0; 32]),
        };
        env.check_fields()?;
        env.hash = env.expected_hash();
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, SeededRng, canonical_json};
    use serde_json::json;

    /// How packet hashes were first computed: a JSON document, canonically encoded.
    fn hash_of_document(
        kind: &str,
        parents: &[PacketId],
        body: &Value,
        blobs: &[BlobRef],
    ) -> ContentHash {
        let blobs: Vec<Value> = blobs
            .iter()
            .map(|b| json!({"hash": b.hash.to_hex(), "size": b.size, "media_type": b.media_type, "name": b.name}))
            .collect();
        let parents: Vec<String> = parents.iter().map(|p| p.to_string()).collect();
        let doc = json!({ "kind": kind, "parents": parents, "body": body, "blobs": blobs });
        ContentHash::derive(HASH_CONTEXT, canonical_json(&doc).as_bytes())
    }

    #[test]
    fn hash_is_that_of_the_canonical_document() {
        let clock = ManualClock::at_epoch_2026();
        let rng = SeededRng::from_seed(7);
        let ids = IdSource { clock: &clock, rng: &rng };
        let parents = [PacketId::new(&ids), PacketId::new(&ids)];
        let blobs = [
            BlobRef { hash: ContentHash::of_bytes(b"a"), size: 1, media_type: None, name: None },
            BlobRef {
                hash: ContentHash::of_bytes(b"b"),
                size: u64::MAX,
                media_type: Some("text/plain".into()),
                name: Some("é \"x\".txt".into()),
            },
        ];
        let bodies = [
            json!(null),
            json!({"key": "step#1", "value": {"z": [1.5, -2], "a": "\u{0}\n"}, "ü": true}),
            json!([{"b": 1, "a": 2}]),
        ];
        for body in &bodies {
            for np in 0..=2 {
                for nb in 0..=2 {
                    let want = hash_of_document("journal.step", &parents[..np], body, &blobs[..nb]);
                    let got = PacketEnvelope::content_hash(
                        "journal.step",
                        &parents[..np],
                        body,
                        &blobs[..nb],
                    );
                    assert_eq!(got, want, "body {body} parents {np} blobs {nb}");
                }
            }
        }
    }

    fn fixed() -> PacketEnvelope {
        let clock = ManualClock::at_epoch_2026();
        let rng = SeededRng::from_seed(42);
        let ids = IdSource { clock: &clock, rng: &rng };
        let parent = PacketId::new(&ids);
        PacketDraft::new("note")
            .text("the cat sat on the mat")
            .body(json!({"title": "cats", "tags": ["a", "b"], "n": 3}))
            .parent(parent)
            .blob(BlobRef {
                hash: ContentHash::of_bytes(b"blob"),
                size: 4,
                media_type: Some("text/plain".into()),
                name: None,
            })
            .effect(Effect::Idempotent { key: "k1".into() })
            .seal(&ids)
            .unwrap()
    }

    /// `fixed()` as version 1 sealed it: the hash over kind, parents, body and blobs.
    fn fixed_v1() -> PacketEnvelope {
        let mut env = fixed();
        env.v = 1;
        env.hash = PacketEnvelope::content_hash(&env.kind, &env.parents, &env.body, &env.blobs);
        env
    }

    /// The golden hashes. If this test fails, every stored packet's hash would change:
    /// that needs a new envelope version, not a new constant.
    #[test]
    fn golden_hash_never_changes_silently() {
        let env = fixed();
        assert_eq!(env.v, 2);
        assert_eq!(
            env.hash.to_hex(),
            "6ffcf9d36096783dfb16ae6e8d01df4baf826db1760adac7128a386d04caa01f"
        );
        assert_eq!(env.id.to_string(), "019b76da-a800-7001-8891-7925c63f45f3");
        let v1 = fixed_v1();
        assert_eq!(
            v1.hash.to_hex(),
            "b96e75efcc00ffc91200de4bae3245f5205437a033d40f0de63efd06e01bba12"
        );
        v1.verify().unwrap();
    }

    #[test]
    fn v2_hash_is_that_of_the_canonical_document() {
        let clock = ManualClock::at_epoch_2026();
        clock.advance(chrono::Duration::microseconds(1_234_567));
        let rng = SeededRng::from_seed(9);
        let ids = IdSource { clock: &clock, rng: &rng };
        let parent = PacketId::new(&ids);
        let full = PacketDraft::new("journal.step")
            .text("ü \"quoted\"\n")
            .body(json!({"z": [1.5, -2], "a": {"y": null, "b": "x"}}))
            .parent(parent)
            .actor("coder")
            .run(RunId(ids.uuid()))
            .task(crate::TaskId(ids.uuid()))
            .blob(BlobRef {
                hash: ContentHash::of_bytes(b"b"),
                size: 1,
                media_type: Some("text/plain".into()),
                name: None,
            })
            .effect(Effect::Idempotent { key: "k\u{1}".into() });
        for draft in [full, PacketDraft::new("note")] {
            let env = draft.seal(&ids).unwrap();
            let doc = json!({
                "actor": env.actor,
                "at": env.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "blobs": env.blobs.iter().map(|b| json!({"hash": b.hash.to_hex(), "size": b.size, "media_type": b.media_type, "name": b.name})).collect::<Vec<_>>(),
                "body": env.body,
                "effect": env.effect,
                "id": env.id.to_string(),
                "kind": env.kind,
                "parents": env.parents.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "run_id": env.run_id.map(|r| r.to_string()),
                "schema": env.schema,
                "task_id": env.task_id.map(|t| t.to_string()),
                "text": env.text,
                "v": env.v,
            });
            let want = ContentHash::derive(HASH_CONTEXT_V2, canonical_json(&doc).as_bytes());
            assert_eq!(env.hash, want, "{doc}");
        }
    }

    /// Version 2 covers what version 1 left open: each field changed alone is detected.
    #[test]
    fn every_field_is_covered() {
        let base = fixed();
        let other = RunId(uuid::Uuid::from_u128(7));
        type Change = Box<dyn Fn(&mut PacketEnvelope)>;
        let changes: Vec<(&str, Change)> = vec![
            ("text", Box::new(|e| e.text = Some("the dog".into()))),
            ("actor", Box::new(|e| e.actor = "l9-world".into())),
            ("at", Box::new(|e| e.at += chrono::Duration::microseconds(1))),
            ("run_id", Box::new(move |e| e.run_id = Some(other))),
            ("task_id", Box::new(|e| e.task_id = Some(crate::TaskId(uuid::Uuid::from_u128(8))))),
            ("effect", Box::new(|e| e.effect = Some(Effect::Irreversible))),
            ("schema", Box::new(|e| e.schema = 2)),
            ("id", Box::new(|e| e.id = PacketId(uuid::Uuid::from_u128(9)))),
            ("body", Box::new(|e| e.body["n"] = json!(4))),
        ];
        for (field, change) in changes {
            let mut env = base.clone();
            change(&mut env);
            assert!(
                matches!(env.verify(), Err(EnvelopeError::HashMismatch { .. })),
                "a changed {field} went unnoticed"
            );
        }
        // A version 1 packet stays readable, and what its hash covers stays covered.
        let mut v1 = fixed_v1();
        v1.text = Some("changed".into());
        v1.verify().unwrap();
        v1.body["n"] = json!(4);
        assert!(v1.verify().is_err());
        // Claiming version 1 for a version 2 hash does not verify.
        let mut down = fixed();
        down.v = 1;
        assert!(down.verify().is_err());
        let mut future = fixed();
        future.v = 3;
        assert!(matches!(future.verify(), Err(EnvelopeError::Version(3))));
    }

    #[test]
    fn json_round_trip_keeps_the_hash_valid() {
        let env = fixed();
        let text = serde_json::to_string(&env).unwrap();
        let back: PacketEnvelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, env);
        back.verify().unwrap();
    }

    #[test]
    fn hash_ignores_key_order_but_not_content() {
        let a = PacketEnvelope::content_hash("k", &[], &json!({"a": 1, "b": 2}), &[]);
        let b = PacketEnvelope::content_hash("k", &[], &json!({"b": 2, "a": 1}), &[]);
        let c = PacketEnvelope::content_hash("k", &[], &json!({"a": 1, "b": 3}), &[]);
        let d = PacketEnvelope::content_hash("j", &[], &json!({"a": 1, "b": 2}), &[]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn tampering_is_detected() {
        let mut env = fixed();
        env.body["n"] = json!(4);
        assert!(matches!(env.verify(), Err(EnvelopeError::HashMismatch { .. })));
        let mut env = fixed();
        env.parents.clear();
        assert!(matches!(env.verify(), Err(EnvelopeError::HashMismatch { .. })));
    }

    #[test]
    fn sealed_times_are_whole_microseconds() {
        let clock = ManualClock::at_epoch_2026();
        clock.advance(chrono::Duration::nanoseconds(1_234_567));
        let rng = SeededRng::from_seed(1);
        let p = PacketDraft::new("note").seal(&IdSource { clock: &clock, rng: &rng }).unwrap();
        assert_eq!(p.at.timestamp_subsec_nanos(), 1_234_000);
    }

    #[test]
    fn invalid_kinds_and_parents_are_rejected() {
        let clock = ManualClock::at_epoch_2026();
        let rng = SeededRng::from_seed(1);
        let ids = IdSource { clock: &clock, rng: &rng };
        for bad in ["", "Note", "1abc", "has space", &"x".repeat(65)] {
            assert!(matches!(PacketDraft::new(bad).seal(&ids), Err(EnvelopeError::Kind(_))));
        }
        let mut env = fixed();
        env.parents.push(env.id);
        assert!(matches!(env.verify(), Err(EnvelopeError::SelfParent(_))));
    }
}
