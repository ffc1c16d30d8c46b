//! Scenario files: what-if overrides of the priors, and a budget cap.
//!
//! ```yaml
//! name: flaky tests, slow reviews, tight budget
//! kinds:
//!   test:   { failure: 0.35 }     # failure probability of one attempt
//!   review: { slower: 2.0 }       # durations times two
//!   implement: { failure_times: 1.5, cost_times: 2.0 }
//! budget: { tokens: 2000000, usd: 25.0, hours: 24 }
//! ```

use std::collections::BTreeMap;

use l9_kernel::Budget;
use serde::{Deserialize, Serialize};

use crate::priors::KindPrior;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Replaces the failure probability of one attempt.
    #[serde(default)]
    pub failure: Option<f64>,
    #[serde(default)]
    pub failure_times: Option<f64>,
    /// Durations multiplied by this.
    #[serde(default)]
    pub slower: Option<f64>,
    #[serde(default)]
    pub cost_times: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    #[serde(default)]
    pub tokens: Option<u64>,
    #[serde(default)]
    pub usd: Option<f64>,
    #[serde(default)]
    pub hours: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kinds: BTreeMap<String, Override>,
    #[serde(default)]
    pub budget: Option<BudgetSpec>,
}

impl Scenario {
    /// Parses a scenario; errors give the line and what is expected.
    pub fn parse(file: &str, yaml: &str) -> Result<Scenario, String> {
        if let Some((line, why)) = l9_types::yaml_depth::check(yaml) {
            return Err(format!(
                "{file}:{line}: {why}; a scenario is a few levels deep — check the file"
            ));
        }
        let s: Scenario = yaml_serde::from_str(yaml).map_err(|e| {
            format!(
                "{file}:{}: not a scenario: {e}; expected name, kinds: {{KIND: {{failure, failure_times, slower, cost_times}}}}, budget: {{tokens, usd, hours}}",
                e.location().map_or(1, |l| l.line())
            )
        })?;
        for (kind, o) in &s.kinds {
            if let Some(p) = o.failure
                && !(0.0..=1.0).contains(&p)
            {
                return Err(format!(
                    "{file}: kinds.{kind}.failure must be between 0 and 1, not {p}"
                ));
            }
            for (name, v) in [
                ("failure_times", o.failure_times),
                ("slower", o.slower),
                ("cost_times", o.cost_times),
            ] {
                if let Some(v) = v
                    && !(v > 0.0 && v.is_finite())
                {
                    return Err(format!(
                        "{file}: kinds.{kind}.{name} must be a positive number, not {v}"
                    ));
                }
            }
        }
        Ok(s)
    }

    pub fn budget(&self) -> Budget {
        let Some(b) = &self.budget else { return Budget::default() };
        Budget {
            tokens: b.tokens,
            micro_usd: b.usd.map(|u| (u * 1e6).round().max(0.0) as u64),
            wall_ms: b.hours.map(|h| (h * 3_600_000.0).round().max(0.0) as u64),
        }
    }

    /// A kind's prior with this scenario's overrides applied; returns (prior, failure p).
    pub fn apply(&self, kind: &str, prior: KindPrior) -> (KindPrior, f64) {
        let mut p = prior;
        let mut fail = prior.failure_mean();
        if let Some(o) = self.kinds.get(kind) {
            if let Some(f) = o.failure {
                fail = f;
            }
            if let Some(t) = o.failure_times {
                fail = (fail * t).min(1.0);
            }
            if let Some(s) = o.slower {
                p.dur_mu += s.ln();
            }
            if let Some(c) = o.cost_times {
                p.tokens = (p.tokens as f64 * c) as u64;
                p.micro_usd = (p.micro_usd as f64 * c) as u64;
            }
        }
        (p, fail)
    }
}
