//! Conformance: packets, blobs, lists, lineage, meta.

use chrono::Duration;
use l9_types::{BlobRef, ContentHash, PacketDraft, PacketEnvelope, RunId, TaskId};
use serde_json::json;

use super::fixtures::{Fx, put};
use crate::{Direction, LineageEntry, PacketFilter, Page, Store, StoreError, WriteBatch};

pub async fn put_get_round_trip(store: &dyn Store) {
    let fx = Fx::default();
    let run = RunId(fx.uuid());
    let p = fx.seal(
        PacketDraft::new("model.call")
            .text("héllo wörld")
            .body(json!({"b": [1, 2.5, null], "a": {"nested": true}, "big": 12345678901234i64}))
            .run(run)
            .task(TaskId(fx.uuid()))
            .actor("coder")
            .effect(l9_types::Effect::Idempotent { key: "k".into() }),
    );
    let r = put(store, std::slice::from_ref(&p)).await;
    assert_eq!(r.packets_inserted, 1);
    let back = store.get_packet(p.id).await.unwrap().expect("stored");
    assert_eq!(back, p);
    back.verify().unwrap();
    assert!(store.get_packet(fx.note("x").id).await.unwrap().is_none());
    // Batched reads keep the order asked for and skip unknown ids.
    let q = fx.child("child", &[p.id]);
    put(store, std::slice::from_ref(&q)).await;
    let ghost = fx.note("ghost").id;
    let got = store.get_packets(&[q.id, ghost, p.id]).await.unwrap();
    assert_eq!(got, vec![q, p]);
    assert!(store.get_packets(&[]).await.unwrap().is_empty());
}

pub async fn put_is_idempotent_and_conflicts_are_refused(store: &dyn Store) {
    let fx = Fx::default();
    let p = fx.note("one");
    assert_eq!(put(store, std::slice::from_ref(&p)).await.packets_inserted, 1);
    let again = put(store, std::slice::from_ref(&p)).await;
    assert_eq!((again.packets_inserted, again.packets_present), (0, 1));
    // Same id, other content (re-hashed so it verifies on its own).
    let mut other = p.clone();
    other.body = json!({"changed": true});
    other.hash = other.expected_hash();
    let err =
        store.write(&WriteBatch { packets: vec![other], ..Default::default() }).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { id } if id == p.id), "{err:?}");
    // Other text, actor or time under the same id is other content too (envelope v2).
    let mut retexted = p.clone();
    retexted.text = Some("two".into());
    retexted.actor = "l9-world".into();
    retexted.hash = retexted.expected_hash();
    let err = store
        .write(&WriteBatch { packets: vec![retexted], ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { id } if id == p.id), "{err:?}");
    assert_eq!(store.get_packet(p.id).await.unwrap().unwrap(), p);
}

pub async fn tampered_packets_are_refused(store: &dyn Store) {
    let fx = Fx::default();
    let mut p = fx.note("original");
    p.body = json!({"tampered": 1});
    let err = store.write(&WriteBatch { packets: vec![p.clone()], ..Default::default() }).await;
    assert!(matches!(err, Err(StoreError::Envelope(_))), "{err:?}");
    assert!(store.get_packet(p.id).await.unwrap().is_none());
}

pub async fn missing_parents_are_refused_atomically(store: &dyn Store) {
    let fx = Fx::default();
    let ghost = fx.note("never stored");
    let ok = fx.note("fine");
    let orphan = fx.child("orphan", &[ghost.id]);
    let blob = b"blob in a failed batch".to_vec();
    let err = store
        .write(&WriteBatch {
            blobs: vec![blob.clone()],
            packets: vec![ok.clone(), orphan.clone()],
            embeddings: vec![],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MissingParent { id, parent } if id == orphan.id && parent == ghost.id),
        "{err:?}"
    );
    assert!(store.get_packet(ok.id).await.unwrap().is_none(), "batch must be atomic");
    assert!(store.get_blob(&ContentHash::of_bytes(&blob)).await.unwrap().is_none());
}

pub async fn parents_may_come_earlier_in_the_batch(store: &dyn Store) {
    let fx = Fx::default();
    let a = fx.note("a");
    let b = fx.child("b", &[a.id]);
    let c = fx.child("c", &[a.id, b.id]);
    let r = put(store, &[a.clone(), b.clone(), c.clone()]).await;
    assert_eq!(r.packets_inserted, 3);
    assert_eq!(store.get_packet(c.id).await.unwrap().unwrap().parents, vec![a.id, b.id]);
}

pub async fn blobs_are_content_addressed_and_stored_once(store: &dyn Store) {
    let data = vec![7u8; 100_000];
    let h1 = store.put_blob(&data).await.unwrap();
    let h2 = store.put_blob(&data).await.unwrap();
    assert_eq!(h1, h2);
    assert_eq!(h1, ContentHash::of_bytes(&data));
    assert_eq!(store.get_blob(&h1).await.unwrap().unwrap(), data);
    let r = store
        .write(&WriteBatch { blobs: vec![data.clone(), b"x".to_vec()], ..Default::default() })
        .await
        .unwrap();
    assert_eq!(r.blobs_inserted, 1, "the first blob was already stored");
    assert!(store.get_blob(&ContentHash::of_bytes(b"nope")).await.unwrap().is_none());
    // A packet may reference stored blobs.
    let fx = Fx::default();
    let p = fx.seal(PacketDraft::new("tool.result").blob(BlobRef {
        hash: h1,
        size: data.len() as u64,
        media_type: Some("application/octet-stream".into()),
        name: Some("out.bin".into()),
    }));
    put(store, std::slice::from_ref(&p)).await;
    assert_eq!(store.get_packet(p.id).await.unwrap().unwrap().blobs, p.blobs);
}

pub async fn missing_blobs_are_refused(store: &dyn Store) {
    let fx = Fx::default();
    let hash = ContentHash::of_bytes(b"absent");
    let p = fx.seal(PacketDraft::new("tool.result").blob(BlobRef {
        hash,
        size: 6,
        media_type: None,
        name: None,
    }));
    let err = store.write(&WriteBatch { packets: vec![p.clone()], ..Default::default() }).await;
    assert!(matches!(err, Err(StoreError::MissingBlob { .. })), "{err:?}");
    // Blobs in the same batch count.
    let r = store
        .write(&WriteBatch {
            blobs: vec![b"absent".to_vec()],
            packets: vec![p],
            embeddings: vec![],
        })
        .await
        .unwrap();
    assert_eq!(r.packets_inserted, 1);
}

pub async fn list_filters_and_cursor_pagination(store: &dyn Store) {
    let fx = Fx::default();
    let run_a = RunId(fx.uuid());
    let run_b = RunId(fx.uuid());
    let task = TaskId(fx.uuid());
    let mut all = Vec::new();
    for i in 0..20 {
        let kind = ["note", "model.call", "tool.result"][i % 3];
        let mut d = PacketDraft::new(kind).text(format!("packet {i}")).actor(if i % 2 == 0 {
            "alice"
        } else {
            "bob"
        });
        d = d.run(if i < 10 { run_a } else { run_b });
        if i % 5 == 0 {
            d = d.task(task);
        }
        all.push(fx.seal(d));
    }
    put(store, &all).await;
    let check = |filter: PacketFilter| {
        let expected: Vec<_> = all.iter().filter(|p| filter.matches(p)).map(|p| p.id).collect();
        (filter, expected)
    };
    let t5 = all[5].at;
    let t15 = all[15].at;
    let cases = vec![
        check(PacketFilter::default()),
        check(PacketFilter { kinds: vec!["note".into()], ..Default::default() }),
        check(PacketFilter {
            kinds: vec!["note".into(), "tool.result".into()],
            ..Default::default()
        }),
        check(PacketFilter { run: Some(run_b), ..Default::default() }),
        check(PacketFilter { task: Some(task), ..Default::default() }),
        check(PacketFilter { actor: Some("bob".into()), ..Default::default() }),
        check(PacketFilter { since: Some(t5), until: Some(t15), ..Default::default() }),
        check(PacketFilter {
            kinds: vec!["note".into()],
            actor: Some("alice".into()),
            run: Some(run_a),
            ..Default::default()
        }),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            store.count_packets(&filter).await.unwrap(),
            expected.len() as u64,
            "{filter:?}"
        );
        let mut got = Vec::new();
        let mut page = Page { after: None, limit: 3 };
        loop {
            let res = store.list_packets(&filter, &page).await.unwrap();
            assert!(res.packets.len() <= 3);
            got.extend(res.packets.iter().map(|p| p.id));
            match res.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        assert_eq!(got, expected, "{filter:?}");
    }
    let none =
        PacketFilter { since: Some(all[19].at + Duration::seconds(1)), ..Default::default() };
    assert!(store.list_packets(&none, &Page::default()).await.unwrap().packets.is_empty());
}

pub async fn lineage_walks_with_depth(store: &dyn Store) {
    let fx = Fx::default();
    // a → b → c → d (child lists parent), and a diamond: a → x, a → y, {x, y} → z.
    let a = fx.note("a");
    let b = fx.child("b", &[a.id]);
    let c = fx.child("c", &[b.id]);
    let d = fx.child("d", &[c.id]);
    let x = fx.child("x", &[a.id]);
    let y = fx.child("y", &[a.id]);
    let z = fx.child("z", &[x.id, y.id, b.id]);
    put(store, &[a.clone(), b.clone(), c.clone(), d.clone(), x.clone(), y.clone(), z.clone()])
        .await;
    let entries = |v: &[(u32, &PacketEnvelope)]| {
        let mut e: Vec<LineageEntry> =
            v.iter().map(|(depth, p)| LineageEntry { depth: *depth, id: p.id }).collect();
        e.sort();
        e
    };
    assert_eq!(
        store.lineage(d.id, Direction::Up, 10).await.unwrap(),
        entries(&[(1, &c), (2, &b), (3, &a)])
    );
    assert_eq!(store.lineage(d.id, Direction::Up, 2).await.unwrap(), entries(&[(1, &c), (2, &b)]));
    assert_eq!(
        store.lineage(z.id, Direction::Up, 10).await.unwrap(),
        entries(&[(1, &x), (1, &y), (1, &b), (2, &a)]),
        "a is reached at depth 2 by three paths and reported once"
    );
    assert_eq!(
        store.lineage(a.id, Direction::Down, 1).await.unwrap(),
        entries(&[(1, &b), (1, &x), (1, &y)])
    );
    assert_eq!(
        store.lineage(a.id, Direction::Down, 10).await.unwrap(),
        entries(&[(1, &b), (1, &x), (1, &y), (2, &c), (2, &z), (3, &d)])
    );
    assert!(store.lineage(a.id, Direction::Up, 10).await.unwrap().is_empty());
    assert!(store.lineage(d.id, Direction::Up, 0).await.unwrap().is_empty());
}

pub async fn meta_round_trip(store: &dyn Store) {
    assert_eq!(store.get_meta("embedder").await.unwrap(), None);
    store.set_meta("embedder", "hash-v1").await.unwrap();
    store.set_meta("embedder", "hash-v2").await.unwrap();
    assert_eq!(store.get_meta("embedder").await.unwrap().as_deref(), Some("hash-v2"));
}

/// A load's parts handed out in order, then (if `fail`) an error from the source.
struct Parts {
    parts: std::collections::VecDeque<WriteBatch>,
    fail: bool,
}

#[async_trait::async_trait]
impl crate::WriteParts for Parts {
    async fn next_part(&mut self) -> crate::Result<Option<WriteBatch>> {
        match self.parts.pop_front() {
            Some(p) => Ok(Some(p)),
            None if self.fail => Err(StoreError::Invalid("the source gave up".into())),
            None => Ok(None),
        }
    }
}

/// A load written in parts: later parts may cite earlier parts' packets and blobs, the
/// report sums the parts, and an error from the source or from any part writes nothing.
pub async fn loads_in_parts_are_atomic(store: &dyn Store) {
    let fx = Fx::default();
    let blob = b"a blob of the first part".to_vec();
    let hash = ContentHash::of_bytes(&blob);
    let a = fx.note("alpha of part one");
    let b = fx.seal(PacketDraft::new("note").text("beta cites alpha").parent(a.id).blob(BlobRef {
        hash,
        size: blob.len() as u64,
        media_type: None,
        name: None,
    }));
    let c = fx.child("gamma cites both", &[a.id, b.id]);
    let first = WriteBatch {
        blobs: vec![blob.clone()],
        packets: vec![a.clone()],
        embeddings: vec![(a.id, super::fixtures::axis(1, 2, 0.0))],
    };
    let second = WriteBatch {
        packets: vec![b.clone()],
        embeddings: vec![(b.id, super::fixtures::axis(2, 1, 0.0))],
        ..Default::default()
    };
    // The source fails after a good part: nothing of it is stored.
    let mut failing = Parts { parts: vec![first.clone()].into(), fail: true };
    let err = store.write_parts(&mut failing).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref m) if m.contains("gave up")), "{err:?}");
    assert!(store.get_packet(a.id).await.unwrap().is_none(), "the load must be atomic");
    assert!(store.get_blob(&hash).await.unwrap().is_none());
    // A later part is refused (its parent is nowhere): nothing of the earlier ones is stored.
    let ghost = fx.note("never stored");
    let orphan =
        WriteBatch { packets: vec![fx.child("orphan", &[ghost.id])], ..Default::default() };
    let mut refused = Parts { parts: vec![first.clone(), orphan].into(), fail: false };
    let err = store.write_parts(&mut refused).await.unwrap_err();
    assert!(
        matches!(err, StoreError::MissingParent { parent, .. } if parent == ghost.id),
        "{err:?}"
    );
    assert!(store.get_packet(a.id).await.unwrap().is_none(), "the load must be atomic");
    assert!(!store.has_embedding(a.id).await.unwrap());
    // Three parts; the third repeats the first part's packet.
    let third = WriteBatch { packets: vec![a.clone(), c.clone()], ..Default::default() };
    let mut good = Parts { parts: vec![first, second, third].into(), fail: false };
    let r = store.write_parts(&mut good).await.unwrap();
    assert_eq!(
        (r.packets_inserted, r.packets_present, r.blobs_inserted, r.embeddings_inserted),
        (3, 1, 1, 2)
    );
    assert_eq!(store.get_packets(&[a.id, b.id, c.id]).await.unwrap(), vec![a.clone(), b, c]);
    assert_eq!(store.get_blob(&hash).await.unwrap(), Some(blob));
    let hits = store
        .vector_search(&crate::VectorQuery {
            vector: super::fixtures::axis(1, 1, 0.0),
            filter: Default::default(),
            k: 1,
            exact: true,
            beam: None,
        })
        .await
        .unwrap();
    assert_eq!(hits.first().map(|h| h.id), Some(a.id), "the parts' vectors are searchable");
    // An empty source writes nothing and reports nothing.
    let mut empty = Parts { parts: Default::default(), fail: false };
    assert_eq!(store.write_parts(&mut empty).await.unwrap(), crate::WriteReport::default());
}
