//! The world model in a project: seed packs stored as `world.*` packets in the memory
//! substrate (once: loading twice changes nothing), searched with the substrate's hybrid
//! search, and the cross-task graph as the simulator's priors.

use std::collections::{BTreeMap, BTreeSet};

use l9_memory::{SearchMode, SearchQuery};
use l9_store::{PacketFilter, Page};
use l9_types::{PacketDraft, PacketEnvelope};
use l9_world::{Item, Pack, seeds};
use serde::Serialize;

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
}

fn world_kinds() -> Vec<String> {
    Pack::ALL.iter().map(|p| p.packet_kind().to_string()).collect()
}

impl Engine {
    /// Every stored world-model packet.
    pub async fn world_packets(&self) -> Result<Vec<PacketEnvelope>> {
        let filter = PacketFilter { kinds: world_kinds(), ..PacketFilter::default() };
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

    /// Stores the built-in seed packs; items already stored (by id) are kept as they are.
    pub async fn load_seeds(&self) -> Result<SeedReport> {
        let items = seeds::builtin().map_err(EngineError::Input)?;
        let have: BTreeSet<String> = self
            .world_packets()
            .await?
            .iter()
            .filter_map(|p| p.body.get("id").and_then(|v| v.as_str()).map(str::to_string))
            .collect();
        let mut report = SeedReport { added: 0, kept: 0 };
        for item in items {
            if have.contains(&item.id) {
                report.kept += 1;
                continue;
            }
            let body =
                serde_json::to_value(&item).map_err(|e| EngineError::Internal(e.to_string()))?;
            let draft = PacketDraft::new(item.pack.packet_kind())
                .text(format!("{} — {}", item.title, item.text))
                .body(body)
                .actor("l9-world");
            self.memory().put(draft, Vec::new()).await?;
            report.added += 1;
        }
        Ok(report)
    }

    /// The world-model items most relevant to `text` (hybrid search over `world.*` packets).
    pub async fn world_query(&self, text: &str, k: usize) -> Result<Vec<WorldHit>> {
        let q = SearchQuery {
            text: text.to_string(),
            filter: PacketFilter { kinds: world_kinds(), ..PacketFilter::default() },
            k,
            mode: SearchMode::Hybrid,
        };
        let hits = self.memory().search(&q).await?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let item: Item = serde_json::from_value(h.packet.body.clone()).ok()?;
                Some(WorldHit {
                    id: item.id,
                    pack: item.pack.name().into(),
                    title: item.title,
                    score: h.score,
                    packet: h.id.to_string(),
                })
            })
            .collect())
    }

    /// One item by its id (`AP-008`, `CH-011`, `TK-implement`).
    pub async fn world_item(&self, id: &str) -> Result<Option<(Item, String)>> {
        Ok(self.world_packets().await?.into_iter().find_map(|p| {
            let item: Item = serde_json::from_value(p.body.clone()).ok()?;
            (item.id == id).then(|| (item, p.id.to_string()))
        }))
    }

    /// Items per pack.
    pub async fn world_stats(&self) -> Result<BTreeMap<String, usize>> {
        let mut out: BTreeMap<String, usize> =
            Pack::ALL.iter().map(|p| (p.name().to_string(), 0)).collect();
        for p in self.world_packets().await? {
            if let Ok(item) = serde_json::from_value::<Item>(p.body.clone()) {
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

/// The packet kind deltas are stored under.
pub const DELTA_KIND: &str = "world.delta";

impl Engine {
    /// Records what a run observed; `evidence` is the packet it was learned from.
    pub async fn record_delta(
        &self,
        delta: &l9_world::Delta,
        evidence: Option<l9_types::PacketId>,
    ) -> Result<PacketEnvelope> {
        let body = serde_json::to_value(delta).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut draft = PacketDraft::new(DELTA_KIND)
            .text(format!("world model learned: {}", body))
            .body(body)
            .actor("l9-world-learn");
        if let Some(p) = evidence {
            draft = draft.parent(p);
        }
        Ok(self.memory().put(draft, Vec::new()).await?)
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
        let items = seeds::builtin().map_err(EngineError::Input)?;
        let mut state = l9_world::WorldState::seeded(&seeds::task_kinds(&items));
        let filter =
            PacketFilter { kinds: vec![DELTA_KIND.to_string()], ..PacketFilter::default() };
        let mut page = Page { after: None, limit: 500 };
        loop {
            let p = self.store().list_packets(&filter, &page).await?;
            for packet in &p.packets {
                if let Ok(d) = serde_json::from_value::<l9_world::Delta>(packet.body.clone()) {
                    l9_world::apply(&mut state, &d);
                }
            }
            match p.next {
                Some(next) => page.after = Some(next),
                None => return Ok(state),
            }
        }
    }
}
