//! The bitemporal knowledge graph's value types.
//!
//! Two time axes: *valid time* (`valid_from`..`valid_to`: when the fact holds in the world)
//! and *record time* (`recorded_at`: when the store learned the fact; `invalidated_at`:
//! when it learned the fact stopped holding). An as-of query asks "what did we know at
//! `known_at` about the world at `valid_at`".

use chrono::{DateTime, Utc};
use l9_types::PacketId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntityId(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RelationId(pub Uuid);

impl std::fmt::Display for EntityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for RelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub id: EntityId,
    pub kind: String,
    pub name: String,
    pub attrs: Value,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
    /// When the store learned `valid_to` (None while the entity is open-ended).
    pub invalidated_at: Option<DateTime<Utc>>,
    /// The packet this fact came from.
    pub source: Option<PacketId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    pub id: RelationId,
    pub kind: String,
    pub from: EntityId,
    pub to: EntityId,
    pub attrs: Value,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
    pub invalidated_at: Option<DateTime<Utc>>,
    pub source: Option<PacketId>,
}

/// The bitemporal view, shared with the world model (`l9-world`): see [`l9_types::AsOf`].
pub use l9_types::AsOf;

impl Entity {
    pub fn visible(&self, as_of: &AsOf) -> bool {
        as_of.sees(self.valid_from, self.valid_to, self.recorded_at, self.invalidated_at)
    }

    /// Whether `other` states the same fact (putting it again is then a no-op).
    pub fn same_fact(&self, other: &Entity) -> bool {
        (&self.kind, &self.name, &self.attrs, crate::to_micros(self.valid_from))
            == (&other.kind, &other.name, &other.attrs, crate::to_micros(other.valid_from))
    }
}

impl Relation {
    pub fn visible(&self, as_of: &AsOf) -> bool {
        as_of.sees(self.valid_from, self.valid_to, self.recorded_at, self.invalidated_at)
    }

    /// Whether `other` states the same fact (putting it again is then a no-op).
    pub fn same_fact(&self, other: &Relation) -> bool {
        (&self.kind, self.from, self.to, &self.attrs, crate::to_micros(self.valid_from))
            == (&other.kind, other.from, other.to, &other.attrs, crate::to_micros(other.valid_from))
    }
}

/// Rules every backend applies to graph writes.
pub mod rules {
    use chrono::{DateTime, Utc};

    use crate::{Result, StoreError};

    /// A valid interval must end after it starts.
    pub fn check_interval(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Result<()> {
        if to.is_some_and(|t| t <= from) {
            return Err(StoreError::Invalid("valid_to must be after valid_from".into()));
        }
        Ok(())
    }

    /// `invalidated_at` as stored: when `valid_to` became known. A fact stored with its end
    /// already known was learned, end included, at `recorded_at`.
    pub fn invalidated_at(
        valid_to: Option<DateTime<Utc>>,
        invalidated_at: Option<DateTime<Utc>>,
        recorded_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        valid_to.map(|_| invalidated_at.unwrap_or(recorded_at))
    }

    /// What `put_graph` checks before it writes, on every backend: each interval is valid;
    /// the answer is the relations' ends that are not in the batch itself (sorted, once
    /// each), which must be found stored.
    pub fn graph_ends_to_find(
        entities: &[super::Entity],
        relations: &[super::Relation],
    ) -> Result<Vec<super::EntityId>> {
        for e in entities {
            check_interval(e.valid_from, e.valid_to)?;
        }
        for r in relations {
            check_interval(r.valid_from, r.valid_to)?;
        }
        let batch: std::collections::HashSet<super::EntityId> =
            entities.iter().map(|e| e.id).collect();
        Ok(relations
            .iter()
            .flat_map(|r| [r.from, r.to])
            .filter(|e| !batch.contains(e))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect())
    }

    /// The error for re-putting an id with another fact.
    pub fn immutable(what: &str, id: impl std::fmt::Display) -> StoreError {
        StoreError::Invalid(format!(
            "{what} {id} is already stored with other content; facts are immutable, invalidate it and add a new one"
        ))
    }

    /// Checks an invalidation against the stored interval.
    pub fn check_invalidation(
        what: &str,
        id: impl std::fmt::Display,
        valid_from: DateTime<Utc>,
        current_valid_to: Option<DateTime<Utc>>,
        valid_to: DateTime<Utc>,
    ) -> Result<()> {
        if current_valid_to.is_some() {
            return Err(StoreError::Invalid(format!("{what} {id} is already invalidated")));
        }
        if valid_to <= valid_from {
            return Err(StoreError::Invalid(format!(
                "{what} {id}: valid_to must be after valid_from"
            )));
        }
        Ok(())
    }
}

/// Entities by kind and/or exact name; `as_of: None` returns every version, including
/// invalidated ones. Results are ordered by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityQuery {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub as_of: Option<AsOf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelationDirection {
    /// Relations whose `from` is the entity.
    #[default]
    Out,
    /// Relations whose `to` is the entity.
    In,
    Both,
}

/// Relations touching `entity` (or all), optionally of one kind, ordered by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationQuery {
    pub entity: Option<EntityId>,
    pub direction: RelationDirection,
    pub kind: Option<String>,
    pub as_of: Option<AsOf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn as_of_respects_both_time_axes() {
        // Valid from 10 to 20; recorded at 5; the end recorded at 30.
        let vis = |valid_at, known_at| {
            AsOf { valid_at: t(valid_at), known_at }.sees(t(10), Some(t(20)), t(5), Some(t(30)))
        };
        assert!(!vis(9, None));
        assert!(vis(10, None));
        assert!(!vis(20, None));
        // At record time 25 we did not yet know it ended.
        assert!(vis(25, Some(t(25))));
        assert!(!vis(25, Some(t(30))));
        // Before it was recorded we knew nothing.
        assert!(!vis(15, Some(t(4))));
    }
}
