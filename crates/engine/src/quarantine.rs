//! Imported world knowledge is quarantined until trusted (issue 19 §2).
//!
//! `l9 memory import` never stores a `world.*` packet as it is: text in one would become a
//! "learned constraint" in every coder prompt, and a forged outcome would move the
//! forecasts. Such a packet (and any packet of the file that descends from one) is stored
//! inside a `quarantine.world` packet instead — the original envelope, verified, in the
//! body with where it came from (file and line). The world model reads `world.*` kinds
//! only, so a quarantined packet changes nothing until `l9 world trust` takes it out:
//! its envelope is verified again and stored as it was sealed (same id, same hash),
//! parents first, and the knowledge graph is brought up to date.

use std::collections::{BTreeMap, BTreeSet};

use l9_memory::Ingest;
use l9_store::{PacketFilter, Page};
use l9_types::{PacketDraft, PacketEnvelope, PacketId, derived_uuid};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Engine, EngineError, Result};

/// The kind of the packet holding a quarantined one.
pub const QUARANTINE_KIND: &str = "quarantine.world";

/// Whether an imported packet of `kind` must be quarantined.
pub(crate) fn needs_quarantine(kind: &str) -> bool {
    kind.starts_with("world.")
}

/// Why a packet of `kind` may not be stored from outside (`l9 serve`'s API, an editor's
/// agent over MCP): world-model packets are written by L9 itself, or come in through
/// `l9 memory import`, which quarantines them.
pub fn refuse_external_kind(kind: &str) -> Option<String> {
    (needs_quarantine(kind) || kind == QUARANTINE_KIND).then(|| {
        format!(
            "kind {kind:?} belongs to the world model, which only L9 writes; store a note or a decision instead, or import world knowledge with `l9 memory import` (it is quarantined until trusted)"
        )
    })
}

/// The packet that holds `packet` in quarantine (sealed with [`holder_id`], derived from what
/// it holds, so the same file imported twice quarantines each packet once); its parents are
/// the packet's, quarantined ones replaced by their holders, so lineage still shows.
pub(crate) fn hold(
    packet: &PacketEnvelope,
    file: &str,
    line: usize,
    holders: &BTreeMap<PacketId, PacketId>,
) -> PacketDraft {
    let mut d = PacketDraft::new(QUARANTINE_KIND)
        .actor("l9-import")
        .text(format!(
            "quarantined {} by {:?} from {file}:{line}: {}",
            packet.kind,
            packet.actor,
            packet.text.as_deref().unwrap_or("")
        ))
        .body(json!({
            "packet": packet,
            "source": {"file": file, "line": line},
        }));
    for p in &packet.parents {
        d = d.parent(*holders.get(p).unwrap_or(p));
    }
    for b in &packet.blobs {
        d = d.blob(b.clone());
    }
    d
}

/// The holder's id for a packet known by `key` (its id, or a draft's content key).
pub(crate) fn holder_id(key: &str) -> PacketId {
    PacketId(derived_uuid("quarantine.world", key))
}

fn refused(message: String) -> EngineError {
    EngineError::Input(vec![l9_types::Diagnostic::error("L9-TRUST-001", message)])
}

/// One quarantined packet, as `l9 world quarantine` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    /// The holder's id.
    pub id: String,
    /// The quarantined packet's id, kind, actor and text.
    pub packet: String,
    pub kind: String,
    pub actor: String,
    pub text: Option<String>,
    /// Where it was imported from (`file:line`), and when.
    pub source: String,
    pub imported_at: String,
}

/// What `l9 world trust` did.
#[derive(Debug, Clone, Serialize)]
pub struct TrustReport {
    /// The packets now in the world model (their own ids).
    pub trusted: Vec<String>,
}

struct Held {
    holder: PacketEnvelope,
    packet: PacketEnvelope,
}

impl Engine {
    /// Every packet still in quarantine, oldest first.
    pub async fn quarantined(&self) -> Result<Vec<Quarantined>> {
        Ok(self
            .held()
            .await?
            .into_iter()
            .map(|h| Quarantined {
                id: h.holder.id.to_string(),
                packet: h.packet.id.to_string(),
                kind: h.packet.kind.clone(),
                actor: h.packet.actor.clone(),
                text: h.packet.text.clone(),
                source: format!(
                    "{}:{}",
                    h.holder.body["source"]["file"].as_str().unwrap_or("?"),
                    h.holder.body["source"]["line"]
                ),
                imported_at: h.holder.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
            .collect())
    }

    /// Takes packets out of quarantine into the world model: `which` names holders or the
    /// packets they hold (whole ids or unique prefixes); empty means all. A packet whose
    /// quarantined parent is not trusted with it (or before) is refused.
    pub async fn trust(&self, which: &[String]) -> Result<TrustReport> {
        let held = self.held().await?;
        let mut chosen: Vec<&Held> = Vec::new();
        for w in which {
            let w = w.trim().to_ascii_lowercase();
            let hits: Vec<&Held> = held
                .iter()
                .filter(|h| {
                    w.len() >= 4
                        && (h.holder.id.to_string().starts_with(&w)
                            || h.packet.id.to_string().starts_with(&w))
                })
                .collect();
            match hits.as_slice() {
                [one] => chosen.push(one),
                [] => {
                    return Err(EngineError::Store(l9_store::StoreError::NotFound(format!(
                        "quarantined packet {w:?} (`l9 world quarantine` lists them)"
                    ))));
                }
                _ => {
                    return Err(refused(format!(
                        "{w:?} names {} quarantined packets; give more of the id",
                        hits.len()
                    )));
                }
            }
        }
        if which.is_empty() {
            chosen = held.iter().collect();
        }
        // Parents first: the held packets in the order they were sealed.
        chosen.sort_by_key(|h| (h.packet.at, h.packet.id));
        chosen.dedup_by_key(|h| h.packet.id);
        let still_held: BTreeSet<PacketId> = held.iter().map(|h| h.packet.id).collect();
        let mut trusting: BTreeSet<PacketId> = BTreeSet::new();
        let mut items = Vec::new();
        for h in &chosen {
            h.packet.verify().map_err(|e| {
                EngineError::Internal(format!("quarantined packet {}: {e}", h.packet.id))
            })?;
            if let Some(p) =
                h.packet.parents.iter().find(|p| still_held.contains(p) && !trusting.contains(p))
            {
                return Err(refused(format!(
                    "{} descends from {p}, which is still quarantined: trust that one first (or both together)",
                    h.packet.id
                )));
            }
            trusting.insert(h.packet.id);
            items.push(Ingest { packet: h.packet.clone(), blobs: Vec::new() });
        }
        let trusted = items.iter().map(|i| i.packet.id.to_string()).collect();
        if !items.is_empty() {
            self.memory().ingest(items).await?;
            self.world().sync_world_graph().await?;
        }
        Ok(TrustReport { trusted })
    }

    /// Holders whose packet is not stored (not trusted yet), oldest first.
    async fn held(&self) -> Result<Vec<Held>> {
        let filter = PacketFilter { kinds: vec![QUARANTINE_KIND.into()], ..Default::default() };
        let mut holders = Vec::new();
        let mut page = Page { after: None, limit: 500 };
        loop {
            let res = self.store().list_packets(&filter, &page).await?;
            holders.extend(res.packets);
            match res.next {
                Some(n) => page.after = Some(n),
                None => break,
            }
        }
        let mut out = Vec::new();
        for chunk in holders.chunks(500) {
            let inner: Vec<(PacketEnvelope, PacketEnvelope)> = chunk
                .iter()
                .filter_map(|h| {
                    let p: PacketEnvelope = serde_json::from_value(
                        h.body.get("packet").cloned().unwrap_or(Value::Null),
                    )
                    .ok()?;
                    Some((h.clone(), p))
                })
                .collect();
            let ids: Vec<PacketId> = inner.iter().map(|(_, p)| p.id).collect();
            let stored: BTreeSet<PacketId> =
                self.store().get_packets(&ids).await?.into_iter().map(|p| p.id).collect();
            out.extend(
                inner
                    .into_iter()
                    .filter(|(_, p)| !stored.contains(&p.id))
                    .map(|(holder, packet)| Held { holder, packet }),
            );
        }
        out.sort_by_key(|h| (h.packet.at, h.packet.id));
        Ok(out)
    }
}
