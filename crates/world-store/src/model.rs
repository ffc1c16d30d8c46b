//! The world model in a project: seed packs and learned items stored as `world.*` packets in
//! the memory substrate (once: loading twice changes nothing), searched with the substrate's
//! hybrid search, projected into the bitemporal knowledge graph (one entity per item, the
//! task relations and causal edges as relations), and the cross-task graph as the simulator's
//! priors.
//!
//! Time: a delta packet's time is when L9 learned it (record time); its `valid_at` is when
//! the fact became true (valid time). Every query takes an optional [`AsOf`] — "the world at
//! `valid_at` as known at `known_at`" — and answers from the deltas and entities that slice
//! sees; without one it answers with everything known now.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use l9_memory::{Ingest, SearchMode, SearchQuery};
use l9_store::{AsOf, Entity, EntityQuery, PacketFilter, Page};
use l9_types::{PacketDraft, PacketEnvelope, PacketId, RunId, derived_uuid};
use l9_world::{Delta, Item, Observation, Pack, Recorded, learned_item, seeds};
use serde::Serialize;

use crate::{Result, WorldError, WorldModel};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    pub added: usize,
    pub kept: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorldHit {
    pub id: String,
    pub pack: String,
    pub title: String,
    pub score: f64,
    pub packet: String,
    /// (helpful, not helpful) votes from runs that were shown the item.
    pub votes: (u32, u32),
    /// For a graph neighbour of a search hit: the relation that brought it
    /// (`TK-test verifies TK-implement`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// One item with its validity (from its entity in the knowledge graph) and its votes.
#[derive(Debug, Clone, Serialize)]
pub struct WorldItem {
    pub item: Item,
    pub packet: String,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub invalidated_at: Option<DateTime<Utc>>,
    pub votes: (u32, u32),
    /// Why it was retired, if it was.
    pub retired: Option<String>,
}

/// What a run taught the world model, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Recording {
    pub deltas: usize,
    pub items: usize,
    /// False when the run's deltas were already recorded (a re-run of the recording step).
    pub new: bool,
}

fn world_kinds() -> Vec<String> {
    Pack::ALL.iter().map(|p| p.packet_kind().to_string()).collect()
}

fn internal(e: impl std::fmt::Display) -> WorldError {
    WorldError::Internal(e.to_string())
}

/// The packet kind deltas are stored under.
pub const DELTA_KIND: &str = "world.delta";

/// How votes move an item's search score (ExpeL-style): (up + 1) / (down + 1), kept within
/// [¼, 4] so one vote nudges and many decide.
pub fn vote_factor(votes: (u32, u32)) -> f64 {
    ((f64::from(votes.0) + 1.0) / (f64::from(votes.1) + 1.0)).clamp(0.25, 4.0)
}

impl WorldModel {
    async fn all_packets(&self, kinds: Vec<String>) -> Result<Vec<PacketEnvelope>> {
        let filter = PacketFilter { kinds, ..PacketFilter::default() };
        let mut page = Page { after: None, limit: 500 };
        let mut out = Vec::new();
        loop {
            let p = self.store().list_packets(&filter, &page).await?;
            out.extend(p.packets);
            match p.next {
                Some(next) => page.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Every stored world-model item packet (seeded and learned).
    pub async fn world_packets(&self) -> Result<Vec<PacketEnvelope>> {
        self.all_packets(world_kinds()).await
    }

    /// Whether the seed packs are in the store (one read of at most one packet).
    pub async fn is_seeded(&self) -> Result<bool> {
        let filter = PacketFilter {
            kinds: vec![Pack::TaskKind.packet_kind().to_string()],
            ..PacketFilter::default()
        };
        let page = self.store().list_packets(&filter, &Page { after: None, limit: 1 }).await?;
        Ok(!page.packets.is_empty())
    }

    /// Stores the built-in seed packs; items already stored (by id) are kept as they are.
    /// Then brings the knowledge graph up to date (an entity per item, the task relations).
    ///
    /// Safe when several processes seed one store at once (`l9 init` twice, two `l9 run`s
    /// in a fresh directory): a seed item's packet has an id derived from the item's id, so
    /// one store holds it once; a process that loses the race to store them finds them
    /// stored and keeps them.
    pub async fn load_seeds(&self) -> Result<SeedReport> {
        let items = seeds::builtin().map_err(WorldError::Input)?;
        let have = self.stored_item_ids().await?;
        let mut report = SeedReport { added: 0, kept: 0 };
        let mut batch = Vec::new();
        for item in &items {
            if have.contains(&item.id) {
                report.kept += 1;
                continue;
            }
            let id = PacketId(derived_uuid("world.seed", &item.id));
            batch.push(Ingest {
                packet: self.item_packet(item, None, None, Some(id))?,
                blobs: Vec::new(),
            });
            report.added += 1;
        }
        if !batch.is_empty()
            && let Err(e) = self.memory().ingest(batch).await
        {
            // Another process stored them between our read and our write (its packets have
            // the same ids and other times: a conflict, or a unique-key error on PostgreSQL).
            let have = self.stored_item_ids().await?;
            if !items.iter().all(|i| have.contains(&i.id)) {
                return Err(e.into());
            }
            report = SeedReport { added: 0, kept: items.len() };
        }
        self.sync_world_graph().await?;
        Ok(report)
    }

    /// The item ids of every stored world packet.
    async fn stored_item_ids(&self) -> Result<BTreeSet<String>> {
        Ok(self
            .world_packets()
            .await?
            .iter()
            .filter_map(|p| p.body.get("id").and_then(|v| v.as_str()).map(str::to_string))
            .collect())
    }

    fn item_packet(
        &self,
        item: &Item,
        run: Option<RunId>,
        parent: Option<PacketId>,
        id: Option<PacketId>,
    ) -> Result<PacketEnvelope> {
        let body = serde_json::to_value(item).map_err(internal)?;
        let mut draft = PacketDraft::new(item.pack.packet_kind())
            .text(format!("{} — {}", item.title, item.text))
            .body(body)
            .actor("l9-world");
        if let Some(r) = run {
            draft = draft.run(r);
        }
        if let Some(p) = parent {
            draft = draft.parent(p);
        }
        match id {
            Some(id) => draft.seal_as(id, self.memory().clock()).map_err(internal),
            None => draft.seal(&self.memory().ids()).map_err(internal),
        }
    }

    /// The world-model items most relevant to `text` (hybrid search over `world.*` packets),
    /// as seen by `slice` (default: now): retired items and items not valid or not yet known
    /// in the slice are left out; votes from earlier runs re-weigh the rest. After the `k`
    /// hits come up to six graph neighbours of the best three (marked with `via`).
    pub async fn world_query(
        &self,
        text: &str,
        k: usize,
        slice: Option<&AsOf>,
    ) -> Result<Vec<WorldHit>> {
        let state = self.world_state_at(slice).await?;
        self.world_query_in(text, k, slice, &state).await
    }

    /// [`WorldModel::world_query`] against a world state already folded for `slice` (several
    /// queries in a row fold the deltas once).
    pub async fn world_query_in(
        &self,
        text: &str,
        k: usize,
        slice: Option<&AsOf>,
        state: &l9_world::WorldState,
    ) -> Result<Vec<WorldHit>> {
        let q = SearchQuery {
            text: text.to_string(),
            filter: PacketFilter { kinds: world_kinds(), ..PacketFilter::default() },
            // Over-fetch: the slice and retirements filter, votes re-rank.
            k: k.saturating_mul(3).max(k),
            mode: SearchMode::Hybrid,
        };
        let hits = self.memory().search(&q).await?;
        let mut out = Vec::new();
        for h in hits {
            let Ok(item) = serde_json::from_value::<Item>(h.packet.body.clone()) else { continue };
            if state.retired.contains_key(&item.id) {
                continue;
            }
            if let Some(s) = slice
                && !self.item_visible(&item, s).await?
            {
                continue;
            }
            let votes = state.votes.get(&item.id).copied().unwrap_or_default();
            out.push(WorldHit {
                id: item.id,
                pack: item.pack.name().into(),
                title: item.title,
                score: h.score * vote_factor(votes),
                packet: h.id.to_string(),
                votes,
                via: None,
            });
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        out.truncate(k);
        // Then the graph neighbours of the best hits, after them (they did not match the text).
        let neighbours = self.neighbours(&out, slice, state).await?;
        out.extend(neighbours);
        Ok(out)
    }

    async fn item_entities(&self, item: &Item, as_of: Option<AsOf>) -> Result<Vec<Entity>> {
        Ok(self
            .store()
            .entities(&EntityQuery {
                kind: Some(item.pack.packet_kind().into()),
                name: Some(item.id.clone()),
                as_of,
            })
            .await?)
    }

    /// Whether the item's entity is valid and known in `slice`. Items stored before the
    /// graph projection existed have no entity until the next `l9 init`; they count as valid.
    async fn item_visible(&self, item: &Item, slice: &AsOf) -> Result<bool> {
        if self.item_entities(item, None).await?.is_empty() {
            return Ok(true);
        }
        Ok(!self.item_entities(item, Some(*slice)).await?.is_empty())
    }

    /// One item by its id (`AP-008`, `CH-011`, `TK-implement`, `HC-…`), with its validity and
    /// votes; `None` if there is no such item or it is not visible in `slice`.
    pub async fn world_item(&self, id: &str, slice: Option<&AsOf>) -> Result<Option<WorldItem>> {
        let found = self.world_packets().await?.into_iter().find_map(|p| {
            let item: Item = serde_json::from_value(p.body.clone()).ok()?;
            (item.id == id).then(|| (item, p.id.to_string()))
        });
        let Some((item, packet)) = found else { return Ok(None) };
        if let Some(s) = slice
            && !self.item_visible(&item, s).await?
        {
            return Ok(None);
        }
        let state = self.world_state_at(slice).await?;
        // The newest version of its entity (an invalidated one shows when it ended).
        let entity =
            self.item_entities(&item, None).await?.into_iter().max_by_key(|e| e.recorded_at);
        Ok(Some(WorldItem {
            votes: state.votes.get(&item.id).copied().unwrap_or_default(),
            retired: state.retired.get(&item.id).cloned(),
            valid_from: entity.as_ref().map(|e| e.valid_from),
            valid_to: entity.as_ref().and_then(|e| e.valid_to),
            recorded_at: entity.as_ref().map(|e| e.recorded_at),
            invalidated_at: entity.as_ref().and_then(|e| e.invalidated_at),
            item,
            packet,
        }))
    }

    /// Items per pack, as seen by `slice` (default: now, retired items left out).
    pub async fn world_stats(&self, slice: Option<&AsOf>) -> Result<BTreeMap<String, usize>> {
        let mut out: BTreeMap<String, usize> =
            Pack::ALL.iter().map(|p| (p.name().to_string(), 0)).collect();
        let state = self.world_state_at(slice).await?;
        let visible: Option<BTreeSet<(String, String)>> = match slice {
            None => None,
            Some(s) => Some(
                self.store()
                    .entities(&EntityQuery { as_of: Some(*s), ..EntityQuery::default() })
                    .await?
                    .into_iter()
                    .map(|e| (e.kind, e.name))
                    .collect(),
            ),
        };
        for p in self.world_packets().await? {
            if let Ok(item) = serde_json::from_value::<Item>(p.body.clone()) {
                if state.retired.contains_key(&item.id) {
                    continue;
                }
                if let Some(v) = &visible
                    && !v.contains(&(item.pack.packet_kind().to_string(), item.id.clone()))
                {
                    continue;
                }
                *out.entry(item.pack.name().to_string()).or_default() += 1;
            }
        }
        Ok(out)
    }
}

/// The simulator's priors from the seeded cross-task graph: log-normal durations from the
/// median and p90 (σ = (ln p90 − ln median) / 1.2816), Beta failure priors, tokens per point
/// (money at $3 per million tokens until prices are learned).
pub fn sim_priors() -> l9_sim::Priors {
    let Ok(items) = seeds::builtin() else { return l9_sim::Priors::engineering() };
    let kinds = seeds::task_kinds(&items);
    if kinds.is_empty() {
        return l9_sim::Priors::engineering();
    }
    let mut priors = l9_sim::Priors { version: String::new(), kinds: BTreeMap::new() };
    for k in &kinds {
        let median = k.duration_minutes.median.max(0.01);
        let sigma = ((k.duration_minutes.p90.max(median)).ln() - median.ln()) / 1.2816;
        priors.kinds.insert(
            k.kind.clone(),
            l9_sim::KindPrior {
                fail_alpha: k.failure.alpha,
                fail_beta: k.failure.beta,
                dur_mu: median.ln(),
                dur_sigma: sigma.max(0.01),
                tokens: k.tokens_per_point,
                micro_usd: k.tokens_per_point.saturating_mul(3),
            },
        );
    }
    let v = serde_json::to_string(&priors.kinds).unwrap_or_default();
    priors.version =
        format!("seeds-{}", &l9_types::ContentHash::of_bytes(v.as_bytes()).to_hex()[..12]);
    priors
}

impl WorldModel {
    /// Records one observation valid from now; `evidence` is the packet it was learned from.
    pub async fn record_delta(
        &self,
        delta: &Delta,
        evidence: Option<PacketId>,
    ) -> Result<PacketEnvelope> {
        let now = self.memory().clock().now();
        self.record_observation(Observation::new(delta.clone(), now), evidence).await
    }

    /// Stores one observation (and the item it teaches, if any), then brings the knowledge
    /// graph up to date; returns the delta's packet.
    async fn record_observation(
        &self,
        obs: Observation,
        evidence: Option<PacketId>,
    ) -> Result<PacketEnvelope> {
        let (packets, _) = self.delta_packets(&[obs], None, evidence).await?;
        let first = packets.first().cloned().ok_or_else(|| internal("no delta packet"))?;
        self.memory()
            .ingest(
                packets.into_iter().map(|packet| Ingest { packet, blobs: Vec::new() }).collect(),
            )
            .await?;
        self.sync_world_graph().await?;
        Ok(first)
    }

    /// Records what run `run` observed, atomically and once: the delta packets and the items
    /// they teach go in one transaction; if the run's deltas are already stored (the
    /// recording step re-ran after a crash) nothing is written again. Each observation
    /// carries its valid time (and a code anchor, if any); `evidence` is the packet the run
    /// learned it from.
    pub async fn record_run_deltas(
        &self,
        run: RunId,
        deltas: &[Observation],
        evidence: Option<PacketId>,
    ) -> Result<Recording> {
        let filter = PacketFilter {
            kinds: vec![DELTA_KIND.to_string()],
            run: Some(run),
            ..PacketFilter::default()
        };
        let already = self.store().count_packets(&filter).await? as usize;
        if already > 0 {
            let items =
                PacketFilter { kinds: world_kinds(), run: Some(run), ..PacketFilter::default() };
            let items = self.store().count_packets(&items).await? as usize;
            self.sync_world_graph().await?;
            return Ok(Recording { deltas: already, items, new: false });
        }
        let (packets, items) = self.delta_packets(deltas, Some(run), evidence).await?;
        self.memory()
            .ingest(
                packets.into_iter().map(|packet| Ingest { packet, blobs: Vec::new() }).collect(),
            )
            .await?;
        self.sync_world_graph().await?;
        Ok(Recording { deltas: deltas.len(), items, new: true })
    }

    /// Delta packets (and packets for the items they teach that are not stored yet), sealed.
    async fn delta_packets(
        &self,
        deltas: &[Observation],
        run: Option<RunId>,
        evidence: Option<PacketId>,
    ) -> Result<(Vec<PacketEnvelope>, usize)> {
        let mut have: BTreeSet<String> = BTreeSet::new();
        if deltas.iter().any(|o| learned_item(&o.delta, "").is_some()) {
            have = self
                .world_packets()
                .await?
                .iter()
                .filter_map(|p| p.body.get("id").and_then(|v| v.as_str()).map(str::to_string))
                .collect();
        }
        let source = run.map_or_else(|| "l9".to_string(), |r| format!("run {r}"));
        let (mut packets, mut items) = (Vec::new(), 0);
        for obs in deltas {
            let delta = &obs.delta;
            let body = serde_json::to_value(obs).map_err(internal)?;
            let mut draft = PacketDraft::new(DELTA_KIND)
                .text(format!(
                    "world model learned: {}",
                    serde_json::to_value(delta).map_err(internal)?
                ))
                .body(body)
                .actor("l9-world-learn");
            if let Some(p) = evidence {
                draft = draft.parent(p);
            }
            if let Some(r) = run {
                draft = draft.run(r);
            }
            let packet = draft.seal(&self.memory().ids()).map_err(internal)?;
            let parent = packet.id;
            packets.push(packet);
            if let Some(mut item) = learned_item(delta, &source)
                && have.insert(item.id.clone())
            {
                item.anchor = obs.anchor.clone();
                // The item's lineage: the observation that taught it.
                packets.push(self.item_packet(&item, run, Some(parent), None)?);
                items += 1;
            }
        }
        Ok((packets, items))
    }

    /// Every recorded delta with its record and valid times, in record order.
    pub async fn world_deltas(&self) -> Result<Vec<Recorded>> {
        Ok(self
            .all_packets(vec![DELTA_KIND.to_string()])
            .await?
            .into_iter()
            .filter_map(|p| {
                let o: Observation = serde_json::from_value(p.body).ok()?;
                Some(Recorded {
                    delta: o.delta,
                    valid_at: o.valid_at.unwrap_or(p.at),
                    recorded_at: p.at,
                })
            })
            .collect())
    }

    /// The simulator's priors from what this project's world model believes now (seeded
    /// kinds moved by every recorded outcome); the version names the number of deltas.
    pub async fn sim_priors(&self) -> Result<l9_sim::Priors> {
        let state = self.world_state().await?;
        let base = sim_priors();
        let mut priors = l9_sim::Priors {
            version: format!("{}+{}", base.version, state.deltas),
            kinds: base.kinds,
        };
        for (kind, b) in &state.kinds {
            let tokens = priors.kinds.get(kind).map_or(30_000, |p| p.tokens);
            priors.kinds.insert(
                kind.clone(),
                l9_sim::KindPrior {
                    fail_alpha: b.fail_alpha,
                    fail_beta: b.fail_beta,
                    dur_mu: b.ln_mean,
                    dur_sigma: b.ln_var.max(0.0).sqrt().max(0.01),
                    tokens,
                    micro_usd: tokens.saturating_mul(3),
                },
            );
        }
        Ok(priors)
    }

    /// The world state: the seeded task kinds with every recorded delta applied in order.
    pub async fn world_state(&self) -> Result<l9_world::WorldState> {
        self.world_state_at(None).await
    }

    /// The world state as seen by `slice` (None: everything recorded).
    pub async fn world_state_at(&self, slice: Option<&AsOf>) -> Result<l9_world::WorldState> {
        let items = seeds::builtin().map_err(WorldError::Input)?;
        let base = l9_world::WorldState::seeded(&seeds::task_kinds(&items));
        Ok(l9_world::fold(base, &self.world_deltas().await?, slice))
    }

    /// Retires item `id` from `valid_to` on (default now): queries stop returning it, views of
    /// earlier moments still see it. Nothing is deleted.
    pub async fn world_retire(
        &self,
        id: &str,
        reason: &str,
        valid_to: Option<DateTime<Utc>>,
    ) -> Result<PacketEnvelope> {
        let Some(found) = self.world_item(id, None).await? else {
            return Err(WorldError::Store(l9_store::StoreError::NotFound(format!(
                "world-model item {id:?}"
            ))));
        };
        if let Some(why) = found.retired {
            return Err(WorldError::Input(vec![l9_types::Diagnostic::error(
                "L9-WORLD-001",
                format!("{id} is already retired ({why})"),
            )]));
        }
        let at = valid_to.unwrap_or_else(|| self.memory().clock().now());
        if found.valid_from.is_some_and(|f| at <= f) {
            return Err(WorldError::Input(vec![
                l9_types::Diagnostic::error(
                    "L9-WORLD-002",
                    format!(
                        "{id} became valid at {}; it cannot stop holding before that",
                        found.valid_from.map(|f| f.to_rfc3339()).unwrap_or_default()
                    ),
                )
                .with_help("give a later --valid-to, or leave it out to retire it now"),
            ]));
        }
        let d = Delta::Retire { item: id.to_string(), reason: reason.to_string() };
        self.record_observation(Observation::new(d, at), found.packet.parse().ok()).await
    }
}
