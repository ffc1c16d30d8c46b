//! Conformance: the bitemporal knowledge graph.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::fixtures::Fx;
use crate::{
    AsOf, Entity, EntityId, EntityQuery, Relation, RelationDirection, RelationId, RelationQuery,
    Store, StoreError,
};

fn t(days: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap() + Duration::days(days)
}

fn entity(fx: &Fx, kind: &str, name: &str, at: DateTime<Utc>) -> Entity {
    Entity {
        id: EntityId(fx.uuid()),
        kind: kind.into(),
        name: name.into(),
        attrs: json!({"n": name}),
        valid_from: at,
        valid_to: None,
        recorded_at: at,
        invalidated_at: None,
        source: None,
    }
}

fn relation(fx: &Fx, kind: &str, from: &Entity, to: &Entity, at: DateTime<Utc>) -> Relation {
    Relation {
        id: RelationId(fx.uuid()),
        kind: kind.into(),
        from: from.id,
        to: to.id,
        attrs: json!({}),
        valid_from: at,
        valid_to: None,
        recorded_at: at,
        invalidated_at: None,
        source: None,
    }
}

pub async fn graph_as_of_and_invalidation(store: &dyn Store) {
    let fx = Fx::default();
    let svc = entity(&fx, "service", "billing", t(0));
    let pg = entity(&fx, "database", "postgres", t(0));
    let my = entity(&fx, "database", "mysql", t(0));
    for e in [&svc, &pg, &my] {
        store.put_entity(e).await.unwrap();
    }
    assert_eq!(store.get_entity(svc.id).await.unwrap().unwrap(), svc);
    // billing used mysql from day 0; on day 20 we record that it stopped on day 10 and
    // used postgres from day 10.
    let old = relation(&fx, "uses", &svc, &my, t(0));
    store.put_relation(&old).await.unwrap();
    store.invalidate_relation(old.id, t(10), t(20)).await.unwrap();
    let mut new = relation(&fx, "uses", &svc, &pg, t(10));
    new.recorded_at = t(20);
    store.put_relation(&new).await.unwrap();

    let uses = |valid_at, known_at| RelationQuery {
        entity: Some(svc.id),
        direction: RelationDirection::Out,
        kind: Some("uses".into()),
        as_of: Some(AsOf { valid_at, known_at }),
    };
    let targets = |rs: Vec<Relation>| rs.into_iter().map(|r| r.to).collect::<Vec<_>>();
    assert_eq!(targets(store.relations(&uses(t(5), None)).await.unwrap()), vec![my.id]);
    assert_eq!(targets(store.relations(&uses(t(15), None)).await.unwrap()), vec![pg.id]);
    // What we believed on day 15 about day 15: still mysql.
    assert_eq!(targets(store.relations(&uses(t(15), Some(t(15)))).await.unwrap()), vec![my.id]);
    // Nothing is deleted: without as-of both versions are there.
    let all = store
        .relations(&RelationQuery { entity: Some(svc.id), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let closed = all.iter().find(|r| r.id == old.id).unwrap();
    assert_eq!((closed.valid_to, closed.invalidated_at), (Some(t(10)), Some(t(20))));
    // Incoming direction and kind filter.
    let incoming = store
        .relations(&RelationQuery {
            entity: Some(pg.id),
            direction: RelationDirection::In,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(incoming.iter().map(|r| r.id).collect::<Vec<_>>(), vec![new.id]);
    let both = store
        .relations(&RelationQuery {
            entity: Some(my.id),
            direction: RelationDirection::Both,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(both.len(), 1);

    // Entities by kind, as of a time, after invalidating one.
    store.invalidate_entity(my.id, t(30), t(31)).await.unwrap();
    let dbs = |valid_at| EntityQuery {
        kind: Some("database".into()),
        name: None,
        as_of: Some(AsOf { valid_at, known_at: None }),
    };
    let mut expect = vec![pg.id, my.id];
    expect.sort();
    assert_eq!(
        store.entities(&dbs(t(29))).await.unwrap().iter().map(|e| e.id).collect::<Vec<_>>(),
        expect
    );
    assert_eq!(
        store.entities(&dbs(t(30))).await.unwrap().iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![pg.id]
    );
    let by_name = EntityQuery { name: Some("mysql".into()), ..Default::default() };
    assert_eq!(store.entities(&by_name).await.unwrap().len(), 1, "invalidated, not deleted");

    // Invalidating twice is refused; so is an end before the start, and an unknown id.
    let err = store.invalidate_entity(my.id, t(40), t(41)).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = store.invalidate_entity(pg.id, t(-1), t(41)).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = store.invalidate_relation(RelationId(fx.uuid()), t(1), t(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

pub async fn graph_refuses_dangling_relations(store: &dyn Store) {
    let fx = Fx::default();
    let a = entity(&fx, "service", "a", t(0));
    store.put_entity(&a).await.unwrap();
    let ghost = entity(&fx, "service", "ghost", t(0));
    let r = relation(&fx, "calls", &a, &ghost, t(0));
    let err = store.put_relation(&r).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    // Putting the same entity twice is idempotent; changing it is a conflict.
    store.put_entity(&a).await.unwrap();
    let mut changed = a.clone();
    changed.name = "renamed".into();
    assert!(matches!(store.put_entity(&changed).await, Err(StoreError::Invalid(_))));
}

pub async fn graph_batches_are_atomic(store: &dyn Store) {
    let fx = Fx::default();
    let (a, b) = (entity(&fx, "file", "a.rs", t(0)), entity(&fx, "file", "b.rs", t(1)));
    let ghost = entity(&fx, "file", "ghost.rs", t(0));
    // A relation to an entity neither stored nor in the batch: nothing of the batch stays.
    let bad = relation(&fx, "co_changes", &a, &ghost, t(1));
    let err = store.put_graph(&[a.clone(), b.clone()], &[bad]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(store.get_entity(a.id).await.unwrap().is_none(), "rolled back");
    // Relations may name entities of the same batch; putting the batch again is a no-op.
    let r = relation(&fx, "co_changes", &a, &b, t(1));
    store.put_graph(&[a.clone(), b.clone()], std::slice::from_ref(&r)).await.unwrap();
    store.put_graph(&[a.clone(), b.clone()], std::slice::from_ref(&r)).await.unwrap();
    let q =
        RelationQuery { entity: Some(a.id), kind: Some("co_changes".into()), ..Default::default() };
    assert_eq!(store.relations(&q).await.unwrap(), vec![r.clone()]);
    // A changed fact in a batch is refused like a single put.
    let mut changed = b.clone();
    changed.name = "c.rs".into();
    assert!(matches!(store.put_graph(&[changed], &[]).await, Err(StoreError::Invalid(_))));
    assert_eq!(store.get_entity(b.id).await.unwrap().unwrap().name, "b.rs");
}
