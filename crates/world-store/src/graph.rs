//! The world model's knowledge-graph projection: an entity per item (valid from when it
//! became true), task relations between task kinds, heuristics linked to the kinds they
//! apply to, retirements ending an item's entity, one current `causes` relation per causal
//! pair carrying its evidence count; and the graph-side queries (neighbours of search hits,
//! causal edges as of a moment).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use l9_store::{
    AsOf, Entity, EntityId, EntityQuery, Relation, RelationDirection, RelationId, RelationQuery,
};
use l9_types::{PacketId, derived_uuid};
use l9_world::{Delta, Item, Pack, learned_item};
use serde_json::{Value, json};

use crate::model::{WorldHit, vote_factor};
use crate::{Result, WorldModel};

/// Graph entity kind of a cause or effect named by causal edges.
const FACTOR: &str = "world.factor";
/// Graph relation kind of a causal edge (attrs: evidence count).
const CAUSES: &str = "causes";

impl WorldModel {
    /// Graph neighbours of the best hits (task kinds related to a task kind, heuristics that
    /// apply to it, the kinds a heuristic applies to): at most two per hit for the top three,
    /// scored at half their hit's score (re-weighed by their own votes).
    pub(crate) async fn neighbours(
        &self,
        hits: &[WorldHit],
        slice: Option<&AsOf>,
        state: &l9_world::WorldState,
    ) -> Result<Vec<WorldHit>> {
        let as_of = Some(
            slice
                .copied()
                .unwrap_or_else(|| AsOf { valid_at: self.memory().clock().now(), known_at: None }),
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
                    self.put_entity_once(&e).await?;
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
                self.put_relation_once(&r).await?;
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
                    self.put_relation_once(&r).await?;
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
                    self.invalidate_entity_once(e.id, end, now).await?;
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
                self.invalidate_relation_once(old, end, now).await?;
                start = start.max(end);
            }
            let r = self.relation(CAUSES, from, to, json!({"evidence": n}), start, now, None);
            self.put_relation_once(&r).await?;
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
        self.put_entity_once(&e).await?;
        by_name.entry(key).or_default().push(e.clone());
        Ok(e.id)
    }

    /// Puts `e`, unless another process put its (derived) id first: two runs that sync the
    /// graph at once compute the same entity at slightly different times, and the first
    /// one stored stands.
    async fn put_entity_once(&self, e: &Entity) -> Result<()> {
        match self.store().put_entity(e).await {
            Ok(()) => Ok(()),
            Err(err) => match self.store().get_entity(e.id).await? {
                Some(_) => Ok(()),
                None => Err(err.into()),
            },
        }
    }

    /// Puts `r`, unless another process put its (derived) id first.
    async fn put_relation_once(&self, r: &Relation) -> Result<()> {
        match self.store().put_relation(r).await {
            Ok(()) => Ok(()),
            Err(err) => match self.stored_relation(r).await? {
                Some(_) => Ok(()),
                None => Err(err.into()),
            },
        }
    }

    async fn stored_relation(&self, r: &Relation) -> Result<Option<Relation>> {
        let q = RelationQuery {
            entity: Some(r.from),
            direction: RelationDirection::Out,
            kind: Some(r.kind.clone()),
            as_of: None,
        };
        Ok(self.store().relations(&q).await?.into_iter().find(|x| x.id == r.id))
    }

    /// Ends entity `id`, unless another process ended it first.
    async fn invalidate_entity_once(
        &self,
        id: EntityId,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match self.store().invalidate_entity(id, end, now).await {
            Ok(()) => Ok(()),
            Err(err) => match self.store().get_entity(id).await? {
                Some(e) if e.valid_to.is_some() => Ok(()),
                _ => Err(err.into()),
            },
        }
    }

    /// Ends relation `r`, unless another process ended it first.
    async fn invalidate_relation_once(
        &self,
        r: &Relation,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match self.store().invalidate_relation(r.id, end, now).await {
            Ok(()) => Ok(()),
            Err(err) => match self.stored_relation(r).await? {
                Some(x) if x.valid_to.is_some() => Ok(()),
                _ => Err(err.into()),
            },
        }
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
            // Derived from what it stands for and the packet it comes from: two processes
            // syncing the graph at once put the same entity (stored once), not two.
            id: EntityId(derived_uuid(
                "world.entity",
                &format!("{kind}\0{name}\0{}", source.map(|p| p.to_string()).unwrap_or_default()),
            )),
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
            // A sourced relation is derived from its packet; a counted one (causes) from
            // when its version starts.
            id: RelationId(derived_uuid(
                "world.relation",
                &format!(
                    "{kind}\0{}\0{}\0{}",
                    from.0,
                    to.0,
                    source.map_or_else(
                        || l9_store::to_micros(valid_from).to_rfc3339(),
                        |p| p.to_string()
                    )
                ),
            )),
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
    pub async fn world_causes(&self, slice: Option<&AsOf>) -> Result<Vec<(String, String, u64)>> {
        let as_of = Some(
            slice
                .copied()
                .unwrap_or_else(|| AsOf { valid_at: self.memory().clock().now(), known_at: None }),
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
