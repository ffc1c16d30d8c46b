//! What the simulator believes about tasks of each kind: a Beta prior on an attempt's
//! failure probability and a log-normal prior on its duration, plus tokens and money per
//! attempt. The world model learns these from runs; [`Priors::engineering`] is the starting
//! point when nothing was learned yet.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KindPrior {
    /// Beta(α, β) over the failure probability of one attempt.
    pub fail_alpha: f64,
    pub fail_beta: f64,
    /// Log-normal duration of one attempt per size point: ln(minutes) ~ N(mu, sigma).
    pub dur_mu: f64,
    pub dur_sigma: f64,
    /// Mean tokens and micro-dollars of one attempt per size point.
    pub tokens: u64,
    pub micro_usd: u64,
}

impl KindPrior {
    pub fn failure_mean(&self) -> f64 {
        self.fail_alpha / (self.fail_alpha + self.fail_beta).max(f64::MIN_POSITIVE)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Priors {
    /// Changes whenever a prior changes (part of the simulation cache key).
    pub version: String,
    pub kinds: BTreeMap<String, KindPrior>,
}

impl Priors {
    /// Defaults for the plan adapter's task kinds, before any run was observed.
    pub fn engineering() -> Self {
        let k =
            |fa: f64, fb: f64, minutes: f64, sigma: f64, tokens: u64, micro_usd: u64| KindPrior {
                fail_alpha: fa,
                fail_beta: fb,
                dur_mu: minutes.ln(),
                dur_sigma: sigma,
                tokens,
                micro_usd,
            };
        let mut kinds = BTreeMap::new();
        kinds.insert("design".into(), k(1.0, 19.0, 20.0, 0.5, 20_000, 60_000));
        kinds.insert("implement".into(), k(3.0, 7.0, 30.0, 0.7, 60_000, 180_000));
        kinds.insert("test".into(), k(2.0, 8.0, 15.0, 0.6, 30_000, 90_000));
        kinds.insert("review".into(), k(2.0, 18.0, 10.0, 0.5, 15_000, 45_000));
        kinds.insert("integrate".into(), k(1.5, 13.5, 10.0, 0.5, 10_000, 30_000));
        kinds.insert("verify".into(), k(1.0, 9.0, 5.0, 0.4, 5_000, 15_000));
        Priors { version: "engineering-defaults-1".into(), kinds }
    }

    pub fn get(&self, kind: &str) -> KindPrior {
        self.kinds.get(kind).copied().unwrap_or(KindPrior {
            fail_alpha: 2.0,
            fail_beta: 8.0,
            dur_mu: 20f64.ln(),
            dur_sigma: 0.6,
            tokens: 30_000,
            micro_usd: 90_000,
        })
    }
}
