//! The bitemporal view every layer shares: the knowledge graph's queries (`l9-store`) and
//! the world model's folds (`l9-world`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// "What did we know at `known_at` about the world at `valid_at`?" `known_at: None` means
/// everything recorded so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsOf {
    pub valid_at: DateTime<Utc>,
    pub known_at: Option<DateTime<Utc>>,
}

impl AsOf {
    /// The reference semantics of visibility that every backend implements in SQL.
    pub fn sees(
        &self,
        valid_from: DateTime<Utc>,
        valid_to: Option<DateTime<Utc>>,
        recorded_at: DateTime<Utc>,
        invalidated_at: Option<DateTime<Utc>>,
    ) -> bool {
        if self.known_at.is_some_and(|k| recorded_at > k) {
            return false;
        }
        // The end of validity counts only if it had been recorded by `known_at`.
        let end = match (valid_to, invalidated_at, self.known_at) {
            (Some(_), Some(inv), Some(k)) if inv > k => None,
            (end, _, _) => end,
        };
        valid_from <= self.valid_at && end.is_none_or(|e| self.valid_at < e)
    }
}
