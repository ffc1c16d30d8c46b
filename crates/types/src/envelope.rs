//! The PacketEnvelope: the unit of L9's memory.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{write_canonical, write_json};
use crate::{Clock, ContentHash, IdSource, PacketId, RunId, TaskId};

/// The envelope format version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// The blake3 `derive_key` context of packet hashes. Changing it changes every hash.
const HASH_CONTEXT: &str = "l9 2026 packet envelope v1";

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
    /// blake3 over the canonical encoding of kind, parents, body and blobs.
    pub hash: ContentHash,
}

fn one() -> u32 {
    1
}

/// Why an envelope is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("unsupported envelope version {0} (this build reads version {ENVELOPE_VERSION})")]
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
    /// Computes the hash this envelope must carry.
    pub fn compute_hash(
        kind: &str,
        parents: &[PacketId],
        body: &Value,
        blobs: &[BlobRef],
    ) -> ContentHash {
        // The canonical encoding of {"kind", "parents", "body", "blobs"} (the test
        // `hash_is_that_of_the_canonical_document` builds it), written directly.
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"blobs\":[");
        for (i, b) in blobs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"hash\":");
            write_json(&b.hash.to_hex(), &mut out);
            out.extend_from_slice(b",\"media_type\":");
            write_json(&b.media_type, &mut out);
            out.extend_from_slice(b",\"name\":");
            write_json(&b.name, &mut out);
            out.extend_from_slice(b",\"size\":");
            write_json(&b.size, &mut out);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"body\":");
        write_canonical(body, &mut out);
        out.extend_from_slice(b",\"kind\":");
        write_json(kind, &mut out);
        out.extend_from_slice(b",\"parents\":[");
        for (i, p) in parents.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json(&p.to_string(), &mut out);
        }
        out.extend_from_slice(b"]}");
        ContentHash::derive(HASH_CONTEXT, &out)
    }

    /// Checks everything that can be checked without a store: version, kind, actor,
    /// parents, and that the hash verifies.
    pub fn verify(&self) -> Result<(), EnvelopeError> {
        if self.v != ENVELOPE_VERSION {
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
        let computed = Self::compute_hash(&self.kind, &self.parents, &self.body, &self.blobs);
        if computed != self.hash {
            return Err(EnvelopeError::HashMismatch { id: self.id, stored: self.hash, computed });
        }
        Ok(())
    }
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
        let hash = PacketEnvelope::compute_hash(&self.kind, &self.parents, &self.body, &self.blobs);
        let env = PacketEnvelope {
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
            hash,
        };
        env.verify()?;
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
                    let got = PacketEnvelope::compute_hash(
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

    /// The golden hash. If this test fails, every stored packet's hash would change:
    /// that needs a new envelope version, not a new constant.
    #[test]
    fn golden_hash_never_changes_silently() {
        let env = fixed();
        assert_eq!(
            env.hash.to_hex(),
            "b96e75efcc00ffc91200de4bae3245f5205437a033d40f0de63efd06e01bba12"
        );
        assert_eq!(env.id.to_string(), "019b76da-a800-7001-8891-7925c63f45f3");
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
        let a = PacketEnvelope::compute_hash("k", &[], &json!({"a": 1, "b": 2}), &[]);
        let b = PacketEnvelope::compute_hash("k", &[], &json!({"b": 2, "a": 1}), &[]);
        let c = PacketEnvelope::compute_hash("k", &[], &json!({"a": 1, "b": 3}), &[]);
        let d = PacketEnvelope::compute_hash("j", &[], &json!({"a": 1, "b": 2}), &[]);
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
