//! Conformance: full-text and vector search.

use l9_types::{PacketDraft, PacketId};

use super::fixtures::{DIMS, Fx, axis, put};
use crate::{PacketFilter, Store, StoreError, TextQuery, VectorQuery, WriteBatch};

async fn text(store: &dyn Store, q: &str, filter: PacketFilter, k: usize) -> Vec<PacketId> {
    store
        .text_search(&TextQuery { query: q.into(), filter, k })
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

pub async fn text_search_ranks_and_filters(store: &dyn Store) {
    let fx = Fx::default();
    let once = fx.note("the cache layer stores things for a long while in memory");
    let thrice = fx.note("cache cache cache");
    let other = fx.seal(PacketDraft::new("decision").text("we chose a write-through cache"));
    let unrelated = fx.note("database migrations run at startup");
    put(store, &[once.clone(), thrice.clone(), other.clone(), unrelated.clone()]).await;

    let hits = store
        .text_search(&TextQuery { query: "Cache".into(), filter: Default::default(), k: 10 })
        .await
        .unwrap();
    let ids: Vec<_> = hits.iter().map(|h| h.id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], thrice.id, "the packet dense in the term ranks first");
    assert!(!ids.contains(&unrelated.id));
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "scores descend");

    // Any term matches; k caps.
    assert_eq!(text(store, "migrations cache", Default::default(), 10).await.len(), 4);
    assert_eq!(text(store, "migrations cache", Default::default(), 2).await.len(), 2);
    let f = PacketFilter { kinds: vec!["decision".into()], ..Default::default() };
    assert_eq!(text(store, "cache", f, 10).await, vec![other.id]);
    assert!(text(store, "absent", Default::default(), 10).await.is_empty());

    // Equal scores break by id, even when storage order differs from id order.
    let twins: Vec<_> = (0..4).map(|_| fx.note("zebra crossing")).collect();
    let reversed: Vec<_> = twins.iter().rev().cloned().collect();
    put(store, &reversed).await;
    assert_eq!(text(store, "zebra", Default::default(), 2).await, vec![twins[0].id, twins[1].id]);
    assert!(text(store, "", Default::default(), 10).await.is_empty());
}

pub async fn text_search_is_injection_safe(store: &dyn Store) {
    let fx = Fx::default();
    let p = fx.note("quotes \"and\" stars* and NEAR(x) OR parentheses");
    put(store, std::slice::from_ref(&p)).await;
    for q in ["\"", "*", "OR", "NEAR(", "') OR 1=1 --", "a:b", "&|!", "\u{0}"] {
        // Must not error; may or may not match.
        store
            .text_search(&TextQuery { query: q.into(), filter: Default::default(), k: 5 })
            .await
            .unwrap_or_else(|e| panic!("query {q:?} failed: {e}"));
    }
    assert_eq!(text(store, "stars\" OR \"", Default::default(), 5).await, vec![p.id]);
}

pub async fn vector_search_exact_and_filtered(store: &dyn Store) {
    let fx = Fx::default();
    let mut packets = Vec::new();
    let mut embeddings = Vec::new();
    for i in 0..DIMS * 2 {
        let kind = if i % 2 == 0 { "even" } else { "odd" };
        let p = fx.seal(PacketDraft::new(kind).text(format!("v{i}")));
        embeddings.push((p.id, axis(i, i + 1, 0.1 * (i / DIMS) as f32)));
        packets.push(p);
    }
    let r = store
        .write(&WriteBatch { packets: packets.clone(), embeddings, blobs: vec![] })
        .await
        .unwrap();
    assert_eq!(r.embeddings_inserted, DIMS * 2);
    assert!(store.has_embedding(packets[0].id).await.unwrap());

    for exact in [true, false] {
        let hits = store
            .vector_search(&VectorQuery {
                vector: axis(3, 3, 0.0),
                filter: Default::default(),
                k: 3,
                exact,
                beam: None,
            })
            .await
            .unwrap();
        assert_eq!(hits.len(), 3);
        assert_eq!(hits[0].id, packets[3].id, "exact={exact}");
        assert!(hits[0].distance.abs() < 1e-5);
        assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
        // Scale does not matter for cosine distance.
        let scaled: Vec<f32> = axis(3, 3, 0.0).iter().map(|x| x * 5.0).collect();
        let again = store
            .vector_search(&VectorQuery {
                vector: scaled,
                filter: Default::default(),
                k: 3,
                exact,
                beam: None,
            })
            .await
            .unwrap();
        assert_eq!(
            again.iter().map(|h| h.id).collect::<Vec<_>>(),
            hits.iter().map(|h| h.id).collect::<Vec<_>>()
        );

        let odd = PacketFilter { kinds: vec!["odd".into()], ..Default::default() };
        let hits = store
            .vector_search(&VectorQuery {
                vector: axis(3, 3, 0.0),
                filter: odd,
                k: 100,
                exact,
                beam: None,
            })
            .await
            .unwrap();
        assert_eq!(hits.len(), DIMS);
        assert!(hits.iter().all(|h| packets.iter().any(|p| p.id == h.id && p.kind == "odd")));
    }
    // Writing the same embedding again is a no-op.
    let again = store
        .write(&WriteBatch {
            embeddings: vec![(packets[0].id, axis(0, 1, 0.0))],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(again.embeddings_inserted, 0);
}

pub async fn vector_errors_are_clear(store: &dyn Store) {
    let fx = Fx::default();
    let p = fx.note("p");
    put(store, std::slice::from_ref(&p)).await;
    let err = store
        .write(&WriteBatch { embeddings: vec![(p.id, vec![1.0; DIMS + 1])], ..Default::default() })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Dimension { expected, got } if expected == DIMS && got == DIMS + 1)
    );
    let ghost = fx.note("ghost");
    let err = store
        .write(&WriteBatch { embeddings: vec![(ghost.id, vec![1.0; DIMS])], ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingPacket(id) if id == ghost.id), "{err:?}");
    let err = store
        .vector_search(&VectorQuery {
            vector: vec![1.0; 3],
            filter: Default::default(),
            k: 1,
            exact: true,
            beam: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Dimension { .. }));
    let err = store
        .write(&WriteBatch { embeddings: vec![(p.id, vec![0.0; DIMS])], ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "a zero vector has no direction: {err:?}");
    assert!(
        store
            .vector_search(&VectorQuery {
                vector: vec![1.0; DIMS],
                filter: Default::default(),
                k: 5,
                exact: false,
                beam: None
            })
            .await
            .unwrap()
            .is_empty()
    );
}
