//! The world model in a project: seed packs and learned items stored as `world.*` packets in
//! the memory substrate (once: loading twice changes nothing), searched with the substrate's
//! hybrid search, projected into the bitemporal knowledge graph (one entity per item, the
//! task relations and causal edges as relations), and the cross-task graph as the simulator's
//! priors.
//!
//! Time: a delta packet's time is when L9 learned it (record time); its `valid_at` is when
//! the fact became true (valid time). Every query takes an optional [`Slice`] — "the world at
//! `valid_at` as known at `known_at`" — and answers from the deltas and entities that slice
//! sees; without one it answers with everything known now.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use l9_memory::{Ingest, SearchMode, SearchQuery};
use l9_store::{
    AsOf, Entity, EntityId, EntityQuery, PacketFilter, Page, Relation, RelationDirection,
    RelationId, RelationQuery,
};
use l9_types::{PacketDraft, PacketEnvelope, PacketId, RunId};
use l9_world::{Delta, Item, Observation, Pack, Recorded, Slice, learned_item, seeds};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Engine, EngineError, Result};

#[derive(Debug, Clone, Serialize)]
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

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

/// The packet kind deltas are stored under.
pub const DELTA_KIND: &str = "world.delta";
/// Graph entity kind of a cause or effect named by causal edges.
const FACTOR: &str = "world.factor";
/// Graph relation kind of a causal edge (attrs: evidence count).
const CAUSES: &str = "causes";

fn as_of(slice: &Slice) -> AsOf {
    AsOf { valid_at: slice.valid_at, known_at: slice.known_at }
}

/// How votes move an item's search score (ExpeL-style): (up + 1) / (down + 1), kept within
/// [¼, 4] so one vote nudges and many decide.
pub fn vote_factor(votes: (u32, u32)) -> f64 {
    ((f64::from(votes.0) + 1.0) / (f64::from(votes.1) + 1.0)).clamp(0.25, 4.0)
}

impl Engine {
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

    /// Stores the built-in seed packs; items already stored (by id) are kept as they are.
    /// Then brings the knowledge graph up to date (an entity per item, the task relations).
    pub async fn load_seeds(&self) -> Result<SeedReport> {
        let items = seeds::builtin().map_err(EngineError::Input)?;
        let have: BTreeSet<String> = self
            .world_packets()
            .await?
            .iter()
            .filter_map(|p| p.body.get("id").and_then(|v| v.as_str()).map(str::to_string))
            .collect();
        let mut report = SeedReport { added: 0, kept: 0 };
        let mut batch = Vec::new();
        for item in items {
            if have.contains(&item.id) {
                report.kept += 1;
                continue;
            }
            batch.push(Ingest { packet: self.item_packet(&item, None, None)?, blobs: Vec::new() });
            report.added += 1;
        }
        if !batch.is_empty() {
            self.memory().ingest(batch).await?;
        }
        self.sync_world_graph().await?;
        Ok(report)
    }

    fn item_packet(
        &self,
        item: &Item,
        run: Option<RunId>,
        parent: Option<PacketId>,
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
        draft.seal(&self.memory().ids()).map_err(internal)
    }

    /// The world-model items most relevant to `text` (hybrid search over `world.*` packets),
    /// as seen by `slice` (default: now): retired items and items not valid or not yet known
    /// in the slice are left out; votes from earlier runs re-weigh the rest. After the `k`
    /// hits come up to six graph neighbours of the best three (marked with `via`).
    pub async fn world_query(
        &self,
        text: &str,
        k: usize,
        slice: Option<&Slice>,
    ) -> Result<Vec<WorldHit>> {
        let q = SearchQuery {
            text: text.to_string(),
            filter: PacketFilter { kinds: world_kinds(), ..PacketFilter::default() },
            // Over-fetch: the slice and retirements filter, votes re-rank.
            k: k.saturating_mul(3).max(k),
            mode: SearchMode::Hybrid,
        };
        let hits = self.memory().search(&q).await?;
        let state = self.world_state_at(slice).await?;
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
        let neighbours = self.neighbours(&out, slice, &state).await?;
        out.extend(neighbours);
        Ok(out)
    }

    /// Graph neighbours of the best hits (task kinds related to a task kind, heuristics that
    /// apply to it, the kinds a heuristic applies to): at most two per hit for the top three,
    /// scored at half their hit's score (re-weighed by their own votes).
    async fn neighbours(
        &self,
        hits: &[WorldHit],
        slice: Option<&Slice>,
        state: &l9_world::WorldState,
    ) -> Result<Vec<WorldHit>> {
        let as_of = Some(
            slice.map_or(AsOf { valid_at: self.memory().clock().now(), known_at: None }, as_of),
        );
        let mut have: BTreeSet<String> = hits.iter().map(|h| h.id.clone()).collect();
        let mut out = Vec::new();
        for h in hits.iter().take(3) {
            let Some(pack) = Pack::ALL.iter().find(|p| p.name() == h.pack) else { continue };
            let q = EntityQuery {
                kind: Some(pack.packet_kind().into()),
                name: Some(h.id.clone()),
                as_of,
            };
            let Some(e) = self.store().entities(&q).await?.into_iter().next() else { continue };
            let rq = RelationQuery {
                entity: Some(e.id),
                direction: RelationDirection::Both,
                kind: None,
                as_of,
            };
            let mut found = Vec::new();
            for r in self.store().relations(&rq).await? {
                let other = if r.from == e.id { r.to } else { r.from };
                let Some(o) = self.store().get_entity(other).await? else { continue };
                let Some(opack) = Pack::ALL.iter().find(|p| p.packet_kind() == o.kind) else {
                    continue;
                };
                if have.contains(&o.name) || state.retired.contains_key(&o.name) {
                    continue;
                }
                let (from, to) = if r.from == e.id { (&h.id, &o.name) } else { (&o.name, &h.id) };
                let votes = state.votes.get(&o.name).copied().unwrap_or_default();
                found.push(WorldHit {
                    id: o.name.clone(),
                    pack: opack.name().into(),
                    title: o.attrs["title"].as_str().unwrap_or("").to_string(),
                    score: h.score * 0.5 * vote_factor(votes),
                    packet: o.source.map(|p| p.to_string()).unwrap_or_default(),
                    votes,
                    via: Some(format!("{from} {} {to}", r.kind)),
                });
            }
            found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
            for n in found.into_iter().take(2) {
                have.insert(n.id.clone());
                out.push(n);
            }
        }
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
    async fn item_visible(&self, item: &Item, slice: &Slice) -> Result<bool> {
        if self.item_entities(item, None).await?.is_empty() {
            return Ok(true);
        }
        Ok(!self.item_entities(item, Some(as_of(slice))).await?.is_empty())
    }

    /// One item by its id (`AP-008`, `CH-011`, `TK-implement`, `HC-…`), with its validity and
    /// votes; `None` if there is no such item or it is not visible in `slice`.
    pub async fn world_item(&self, id: &str, slice: Option<&Slice>) -> Result<Option<WorldItem>> {
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
    pub async fn world_stats(&self, slice: Option<&Slice>) -> Result<BTreeMap<String, usize>> {
        let mut out: BTreeMap<String, usize> =
            Pack::ALL.iter().map(|p| (p.name().to_string(), 0)).collect();
        let state = self.world_state_at(slice).await?;
        let visible: Option<BTreeSet<(String, String)>> = match slice {
            None => None,
            Some(s) => Some(
                self.store()
                    .entities(&EntityQuery { as_of: Some(as_of(s)), ..EntityQuery::default() })
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

impl Engine {
    /// Records one observation valid from now; `evidence` is the packet it was learned from.
    pub async fn record_delta(
        &self,
        delta: &Delta,
        evidence: Option<PacketId>,
    ) -> Result<PacketEnvelope> {
        let now = self.memory().clock().now();
        let obs = [Observation::new(delta.clone(), now)];
        let (packets, _) = self.delta_packets(&obs, None, evidence).await?;
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
                packets.push(self.item_packet(&item, run, Some(parent))?);
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
    pub async fn world_state_at(&self, slice: Option<&Slice>) -> Result<l9_world::WorldState> {
        let items = seeds::builtin().map_err(EngineError::Input)?;
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
            return Err(EngineError::Store(l9_store::StoreError::NotFound(format!(
                "world-model item {id:?}; `l9 world query TEXT` lists ids"
            ))));
        };
        if let Some(why) = found.retired {
            return Err(EngineError::Input(vec![l9_types::Diagnostic::error(
                "L9-WORLD-001",
                format!("{id} is already retired ({why})"),
            )]));
        }
        let at = valid_to.unwrap_or_else(|| self.memory().clock().now());
        if found.valid_from.is_some_and(|f| at <= f) {
            return Err(EngineError::Input(vec![
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
        let obs = [Observation::new(d, at)];
        let (packets, _) = self.delta_packets(&obs, None, found.packet.parse().ok()).await?;
        let first = packets.first().cloned().ok_or_else(|| internal("no delta packet"))?;
        self.memory()
            .ingest(
                packets.into_iter().map(|packet| Ingest { packet, blobs: Vec::new() }).collect(),
            )
            .await?;
        self.sync_world_graph().await?;
        Ok(first)
    }

    /// Brings the knowledge graph in line with the stored items and deltas: an entity per
    /// item (valid from when it became true), task relations between task kinds, retired
    /// items' entities ended at their retirement, and one current `causes` relation per
    /// causal pair carrying its evidence count (a new count ends the old version). Safe to
    /// run again at any time: what is already there is left alone.
    pub async fn sync_world_graph(&self) -> Result<()> {
        let now = l9_store::to_micros(self.memory().clock().now());
        let deltas = self.world_deltas().await?;
        // When each learned item became true: the valid time of the delta that taught it.
        let mut taught: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for r in &deltas {
            if let Some(item) = learned_item(&r.delta, "") {
                taught.entry(item.id).or_insert(r.valid_at);
            }
        }
        let entities = self.store().entities(&EntityQuery::default()).await?;
        let mut by_name: BTreeMap<(String, String), Vec<Entity>> = BTreeMap::new();
        for e in entities {
            by_name.entry((e.kind.clone(), e.name.clone())).or_default().push(e);
        }
        let mut kinds: BTreeMap<String, EntityId> = BTreeMap::new();
        let mut relations = Vec::new();
        let mut applies = Vec::new();
        for p in self.world_packets().await? {
            let Ok(item) = serde_json::from_value::<Item>(p.body.clone()) else { continue };
            let key = (item.pack.packet_kind().to_string(), item.id.clone());
            let id = match by_name.get(&key).and_then(|v| v.first()) {
                Some(e) => e.id,
                None => {
                    let valid_from = taught.get(&item.id).copied().unwrap_or(p.at);
                    let e = self.entity(
                        &key.0,
                        &key.1,
                        json!({"title": item.title}),
                        valid_from,
                        now,
                        Some(p.id),
                    );
                    self.store().put_entity(&e).await?;
                    by_name.entry(key.clone()).or_default().push(e.clone());
                    e.id
                }
            };
            if item.pack == Pack::TaskKind {
                kinds.insert(item.title.clone(), id);
            }
            if item.pack == Pack::Relation {
                relations.push((item, p.at, p.id));
            } else if item.pack == Pack::Heuristic {
                applies.push((id, item, p.at, p.id));
            }
        }
        // Task relations (precedes, verifies, reviews, feeds) between task-kind entities.
        for (item, at, packet) in relations {
            let (Some(from), Some(to)) = (
                item.body["from"].as_str().and_then(|k| kinds.get(k)),
                item.body["to"].as_str().and_then(|k| kinds.get(k)),
            ) else {
                continue;
            };
            let kind = item.body["relation"].as_str().unwrap_or("relates").to_string();
            let have = self
                .store()
                .relations(&RelationQuery {
                    entity: Some(*from),
                    direction: RelationDirection::Out,
                    kind: Some(kind.clone()),
                    as_of: None,
                })
                .await?;
            if !have.iter().any(|r| r.to == *to) {
                let r = self.relation(
                    &kind,
                    *from,
                    *to,
                    json!({"item": item.id}),
                    at,
                    now,
                    Some(packet),
                );
                self.store().put_relation(&r).await?;
            }
        }
        // Heuristics → the task kinds they apply to.
        for (from, item, at, packet) in applies {
            let have = self
                .store()
                .relations(&RelationQuery {
                    entity: Some(from),
                    direction: RelationDirection::Out,
                    kind: Some("applies_to".into()),
                    as_of: None,
                })
                .await?;
            for kind in item.body["applies_to"].as_array().into_iter().flatten() {
                let Some(to) = kind.as_str().and_then(|k| kinds.get(k)) else { continue };
                if !have.iter().any(|r| r.to == *to) {
                    let r =
                        self.relation("applies_to", from, *to, json!({}), at, now, Some(packet));
                    self.store().put_relation(&r).await?;
                }
            }
        }
        // Retirements end the item's entity.
        for r in &deltas {
            let Delta::Retire { item, .. } = &r.delta else { continue };
            for ((_, name), versions) in &by_name {
                if name != item {
                    continue;
                }
                for e in versions.iter().filter(|e| e.valid_to.is_none()) {
                    let end = l9_store::to_micros(
                        r.valid_at.max(e.valid_from + chrono::Duration::microseconds(1)),
                    );
                    self.store().invalidate_entity(e.id, end, now).await?;
                }
            }
        }
        // Causal edges: one current relation per (cause, effect) with its evidence count.
        let mut causes: BTreeMap<(String, String), (u32, DateTime<Utc>)> = BTreeMap::new();
        for r in &deltas {
            if let Delta::CausalEdge { cause, effect } = &r.delta {
                let c = causes.entry((cause.clone(), effect.clone())).or_insert((0, r.valid_at));
                c.0 += 1;
                c.1 = c.1.max(r.valid_at);
            }
        }
        for ((cause, effect), (n, valid_at)) in causes {
            let from = self.factor(&mut by_name, &cause, valid_at, now).await?;
            let to = self.factor(&mut by_name, &effect, valid_at, now).await?;
            let current: Vec<Relation> = self
                .store()
                .relations(&RelationQuery {
                    entity: Some(from),
                    direction: RelationDirection::Out,
                    kind: Some(CAUSES.into()),
                    as_of: None,
                })
                .await?
                .into_iter()
                .filter(|r| r.to == to && r.valid_to.is_none())
                .collect();
            if current.iter().any(|r| r.attrs["evidence"] == json!(n)) {
                continue;
            }
            let mut start = valid_at;
            for old in &current {
                let end = l9_store::to_micros(
                    valid_at.max(old.valid_from + chrono::Duration::microseconds(1)),
                );
                self.store().invalidate_relation(old.id, end, now).await?;
                start = start.max(end);
            }
            let r = self.relation(CAUSES, from, to, json!({"evidence": n}), start, now, None);
            self.store().put_relation(&r).await?;
        }
        Ok(())
    }

    async fn factor(
        &self,
        by_name: &mut BTreeMap<(String, String), Vec<Entity>>,
        name: &str,
        valid_from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<EntityId> {
        let key = (FACTOR.to_string(), name.to_string());
        if let Some(e) = by_name.get(&key).and_then(|v| v.first()) {
            return Ok(e.id);
        }
        let e = self.entity(FACTOR, name, json!({}), valid_from, now, None);
        self.store().put_entity(&e).await?;
        by_name.entry(key).or_default().push(e.clone());
        Ok(e.id)
    }

    fn entity(
        &self,
        kind: &str,
        name: &str,
        attrs: Value,
        valid_from: DateTime<Utc>,
        now: DateTime<Utc>,
        source: Option<PacketId>,
    ) -> Entity {
        Entity {
            id: EntityId(self.memory().ids().uuid()),
            kind: kind.into(),
            name: name.into(),
            attrs,
            valid_from: l9_store::to_micros(valid_from.min(now)),
            valid_to: None,
            recorded_at: now,
            invalidated_at: None,
            source,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn relation(
        &self,
        kind: &str,
        from: EntityId,
        to: EntityId,
        attrs: Value,
        valid_from: DateTime<Utc>,
        now: DateTime<Utc>,
        source: Option<PacketId>,
    ) -> Relation {
        Relation {
            id: RelationId(self.memory().ids().uuid()),
            kind: kind.into(),
            from,
            to,
            attrs,
            valid_from: l9_store::to_micros(valid_from),
            valid_to: None,
            recorded_at: now,
            invalidated_at: None,
            source,
        }
    }

    /// Causal edges in the knowledge graph as seen by `slice` (default: now):
    /// (cause, effect, evidence count).
    pub async fn world_causes(&self, slice: Option<&Slice>) -> Result<Vec<(String, String, u64)>> {
        let as_of = Some(
            slice.map_or(AsOf { valid_at: self.memory().clock().now(), known_at: None }, as_of),
        );
        let factors: BTreeMap<EntityId, String> = self
            .store()
            .entities(&EntityQuery { kind: Some(FACTOR.into()), ..EntityQuery::default() })
            .await?
            .into_iter()
            .map(|e| (e.id, e.name))
            .collect();
        let mut out: Vec<(String, String, u64)> = self
            .store()
            .relations(&RelationQuery {
                kind: Some(CAUSES.into()),
                as_of,
                ..RelationQuery::default()
            })
            .await?
            .into_iter()
            .filter_map(|r| {
                Some((
                    factors.get(&r.from)?.clone(),
                    factors.get(&r.to)?.clone(),
                    r.attrs["evidence"].as_u64().unwrap_or(0),
                ))
            })
            .collect();
        out.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        Ok(out)
    }
}
