//! Conformance: what a journal append refuses, whether or not the entries it meets have been
//! read back yet (a backend may keep fresh entries in an unfiled tail until a reader comes).

use l9_types::{PacketDraft, PacketId, RunId};
use serde_json::json;

use super::fixtures::Fx;
use super::tasks::{leased, task};
use crate::{Direction, Fence, JournalAppend, JournalStatus, Store, StoreError};

/// A step entry of `run` at `seq` whose packet has `parents`, in order.
fn step(fx: &Fx, run: RunId, seq: u64, parents: &[PacketId]) -> JournalAppend {
    let mut d = PacketDraft::new("journal.step")
        .run(run)
        .body(json!({"key": format!("step:s#{seq}"), "value": seq}))
        .text(format!("stepnumber{seq}"));
    for p in parents {
        d = d.parent(*p);
    }
    JournalAppend {
        run,
        seq,
        key: format!("step:s#{seq}"),
        status: JournalStatus::Completed,
        packet: fx.seal(d),
        blob: None,
    }
}

/// A sequence number already taken (before and after anything read the journal), an
/// unknown parent, and a packet already stored are refused and leave nothing; a parent that
/// is another run's fresh entry, or the run's own previous one, is known; lineage keeps the
/// parents' order.
pub async fn journal_appends_refuse_taken_numbers_stored_packets_and_unknown_parents(
    store: &dyn Store,
) {
    let q = store.tasks();
    let fx = Fx::default();
    let (a, b) = (task(&fx, "a"), task(&fx, "b"));
    leased(q, &a).await;
    leased(q, &b).await;
    let (fa, fb) =
        (Fence { task: a.id, worker: "w".into() }, Fence { task: b.id, worker: "w".into() });
    let (ra, rb) = (RunId(a.id.0), RunId(b.id.0));
    let a0 = step(&fx, ra, 0, &[]);
    q.append_journal(&fa, &a0).await.unwrap();
    // Taken while nothing has read it back.
    let again = step(&fx, ra, 0, &[]);
    let r = q.append_journal(&fa, &again).await;
    assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{r:?}");
    // A parent nobody stored.
    let ghost = PacketId(fx.uuid());
    let orphan = step(&fx, ra, 1, &[a0.packet.id, ghost]);
    let r = q.append_journal(&fa, &orphan).await;
    assert!(matches!(r, Err(StoreError::MissingParent { parent, .. }) if parent == ghost), "{r:?}");
    // Parents: the run's previous entry and another run's entry, both fresh.
    let b0 = step(&fx, rb, 0, &[]);
    q.append_journal(&fb, &b0).await.unwrap();
    let a1 = step(&fx, ra, 1, &[a0.packet.id, b0.packet.id]);
    q.append_journal(&fa, &a1).await.unwrap();
    let a2 = step(&fx, ra, 2, &[b0.packet.id, a1.packet.id]);
    q.append_journal(&fa, &a2).await.unwrap();
    // Read back: three entries, the refused ones left nothing.
    let rows = q.load_journal(ra).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.seq, r.packet)).collect::<Vec<_>>(),
        [(0, a0.packet.id), (1, a1.packet.id), (2, a2.packet.id)]
    );
    for refused in [&again, &orphan] {
        assert!(store.get_packet(refused.packet.id).await.unwrap().is_none());
    }
    let got = store.get_packet(a2.packet.id).await.unwrap().unwrap();
    assert_eq!(got.parents, [b0.packet.id, a1.packet.id], "parents keep their order");
    let up: Vec<PacketId> =
        store.lineage(a1.packet.id, Direction::Up, 1).await.unwrap().iter().map(|e| e.id).collect();
    assert!(up.contains(&a0.packet.id) && up.contains(&b0.packet.id), "{up:?}");
    // Taken once read back too; a stored packet under a new number is a conflict.
    let r = q.append_journal(&fa, &step(&fx, ra, 2, &[a1.packet.id])).await;
    assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{r:?}");
    let mut resent = a2.clone();
    resent.seq = 3;
    let r = q.append_journal(&fa, &resent).await;
    assert!(matches!(r, Err(StoreError::Conflict { id }) if id == a2.packet.id), "{r:?}");
    assert_eq!(q.load_journal(ra).await.unwrap().len(), 3);
    // Full text finds a fresh entry of the other run.
    let b1 = step(&fx, rb, 1, &[b0.packet.id]);
    q.append_journal(&fb, &b1).await.unwrap();
    let query = crate::TextQuery { query: "stepnumber1".into(), filter: Default::default(), k: 5 };
    let hits = store.text_search(&query).await.unwrap();
    assert!(hits.iter().any(|h| h.id == b1.packet.id), "{hits:?}");
    // And a word only a fresh entry holds.
    let mut b2 = step(&fx, rb, 2, &[b1.packet.id]);
    b2.packet = fx
        .seal(PacketDraft::new("journal.step").run(rb).text("onlyinthetail").parent(b1.packet.id));
    q.append_journal(&fb, &b2).await.unwrap();
    let query =
        crate::TextQuery { query: "onlyinthetail".into(), filter: Default::default(), k: 5 };
    let hits = store.text_search(&query).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [b2.packet.id]);
}
