//! The world model as the edges see it: the few operations `l9 world`, `l9 init` and
//! `l9 sim` need, over [`Engine::world`] (storage and queries live in `l9-world-store`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use l9_store::AsOf;
use l9_types::PacketEnvelope;
pub use l9_world_store::{SeedReport, WorldHit, WorldItem};

use crate::{Engine, Result};

impl Engine {
    /// Loads the four seed packs (idempotent: items already there are kept).
    pub async fn load_seeds(&self) -> Result<SeedReport> {
        Ok(self.world().load_seeds().await?)
    }

    /// Items relevant to `text`, best first, as of `slice` (now when `None`).
    pub async fn world_query(
        &self,
        text: &str,
        k: usize,
        slice: Option<&AsOf>,
    ) -> Result<Vec<WorldHit>> {
        Ok(self.world().world_query(text, k, slice).await?)
    }

    /// One item with its validity, votes and retirement.
    pub async fn world_item(&self, id: &str, slice: Option<&AsOf>) -> Result<Option<WorldItem>> {
        Ok(self.world().world_item(id, slice).await?)
    }

    /// Items per pack.
    pub async fn world_stats(&self, slice: Option<&AsOf>) -> Result<BTreeMap<String, usize>> {
        Ok(self.world().world_stats(slice).await?)
    }

    /// The learned state (priors, executor rates, calibration, votes) as of `slice`.
    pub async fn world_state_at(&self, slice: Option<&AsOf>) -> Result<l9_world::WorldState> {
        Ok(self.world().world_state_at(slice).await?)
    }

    /// Causal edges with their evidence counts.
    pub async fn world_causes(&self, slice: Option<&AsOf>) -> Result<Vec<(String, String, u64)>> {
        Ok(self.world().world_causes(slice).await?)
    }

    /// Retires a learned item: it stops holding at `valid_to` (now by default).
    pub async fn world_retire(
        &self,
        id: &str,
        reason: &str,
        valid_to: Option<DateTime<Utc>>,
    ) -> Result<PacketEnvelope> {
        Ok(self.world().world_retire(id, reason, valid_to).await?)
    }

    /// What a standalone coding task (`l9 agent run`) teaches: the implement kind's outcome
    /// and duration under its executor (evidence: the task's last journal packet).
    pub async fn learn_from_agent_task(
        &self,
        detail: &crate::runtime::TaskDetail,
        success: bool,
        executor: &str,
    ) -> Result<()> {
        let t = &detail.task;
        // Only outcomes of real work teach (see `l9_world::failure`).
        if !success && !l9_world::failure::classify(t.error.as_deref().unwrap_or("")).teaches() {
            return Ok(());
        }
        let minutes = (t.updated_at - t.created_at).num_milliseconds().max(0) as f64 / 60_000.0;
        let evidence = detail.journal.last().and_then(|j| j.packet.parse().ok());
        let delta = l9_world::Delta::TaskOutcome {
            kind: "implement".into(),
            success,
            minutes,
            executor: Some(executor.to_string()),
            executor_kind: Some(crate::reflect::executor_kind(self, executor).to_string()),
        };
        self.world().record_delta(&delta, evidence).await?;
        Ok(())
    }

    /// The simulator's priors: the seeded cross-task graph plus what runs taught.
    pub async fn sim_priors(&self) -> Result<l9_sim::Priors> {
        Ok(self.world().sim_priors().await?)
    }
}
