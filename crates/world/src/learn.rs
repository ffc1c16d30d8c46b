//! Learning as `apply(Delta)`: every observation is a delta, stored as a packet, and the
//! world state is the fold of all deltas over the seeded base — so the state at any past
//! moment is the fold of the deltas recorded until then (the recorded-time axis), and each
//! delta carries when the observed fact became true (the valid-time axis).
//!
//! * task outcomes update the kind's Beta failure prior and its log-normal duration;
//! * insight votes count how often an item helped (ExpeL-style up/down votes);
//! * reflections from failed attempts join the reflection memory;
//! * hidden constraints discovered by runs are kept; two that contradict each other (same
//!   trigger, different statement) are both kept and reported, never merged;
//! * causal edges accumulate evidence counts;
//! * predictions next to actual results give calibration (Brier score, interval coverage);
//! * a retirement ends an item's validity (a learned constraint that no longer holds): from
//!   its valid time on the item is out of queries, before it the item is still seen.
//!
//! Time: every delta is [`Recorded`] with two times — `recorded_at` (when L9 learned it; the
//! packet's time) and `valid_at` (when the observed fact became true). [`fold`] answers
//! "what did we believe at `known_at` about the world at `valid_at`" ([`AsOf`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use l9_types::AsOf;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::item::{Item, Pack};
use crate::seeds::TaskKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    TaskOutcome {
        kind: String,
        success: bool,
        minutes: f64,
        /// Who did the work (`provider:NAME`, `adapter:NAME`): executor success rates.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        executor: Option<String>,
        /// What kind of executor: `model` (a model-backed coder: the forecasts' own kind),
        /// `scripted` (scripted or replayed providers) or `agent` (an external agent CLI).
        /// Outcomes of other kinds than `model` keep beliefs of their own
        /// (`implement@scripted`), so instant scripted runs never move real forecasts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        executor_kind: Option<String>,
    },
    InsightVote {
        item: String,
        helpful: bool,
    },
    Reflection {
        signature: String,
        lesson: String,
        fix: String,
    },
    HiddenConstraint {
        trigger: String,
        text: String,
    },
    CausalEdge {
        cause: String,
        effect: String,
    },
    Prediction {
        subject: String,
        success_p: f64,
        p50_minutes: f64,
        p90_minutes: f64,
        succeeded: bool,
        minutes: f64,
        /// Who did the work, for calibration per executor.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        executor: Option<String>,
        /// The forecast cost and the actual one (USD), when both are known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forecast_cost_usd: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// The item stops holding (from the delta's valid time on); nothing is deleted.
    Retire {
        item: String,
        reason: String,
    },
}

/// A delta as stored: the delta and when the fact it observes became true. Deltas recorded
/// before valid time existed have none and count as valid from when they were recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    #[serde(flatten)]
    pub delta: Delta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_at: Option<DateTime<Utc>>,
    /// Where in the code the observation applies (carried to the item it teaches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<crate::item::Anchor>,
}

impl Observation {
    pub fn new(delta: Delta, valid_at: DateTime<Utc>) -> Self {
        Observation { delta, valid_at: Some(valid_at), anchor: None }
    }

    pub fn anchored(mut self, anchor: Option<crate::item::Anchor>) -> Self {
        self.anchor = anchor;
        self
    }
}

/// A delta with both of its times.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub delta: Delta,
    pub valid_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// The state `base` moves to under the deltas `slice` sees (all of them without a slice), in
/// recorded order.
pub fn fold(mut base: WorldState, deltas: &[Recorded], slice: Option<&AsOf>) -> WorldState {
    for r in deltas {
        // A delta holds from its valid time on; it is seen once recorded by `known_at`.
        if slice.is_none_or(|s| s.sees(r.valid_at, None, r.recorded_at, None)) {
            apply(&mut base, &r.delta);
        }
    }
    base
}

fn short_hash(parts: &[&str]) -> String {
    let h = l9_types::ContentHash::of_bytes(parts.join("\u{1f}").as_bytes()).to_hex();
    h[..8].to_string()
}

/// The id of a learned hidden constraint (stable: the same trigger and statement, the same id).
pub fn constraint_id(trigger: &str, text: &str) -> String {
    format!("HC-{}", short_hash(&[&trigger.to_lowercase(), text]))
}

/// The world-model item a delta teaches, if it teaches one: a reflection from a failed
/// attempt or a hidden constraint. `source` names where it was learned (`run <id>`).
pub fn learned_item(d: &Delta, source: &str) -> Option<Item> {
    let mut item = match d {
        Delta::Reflection { signature, lesson, fix } => Item::new(
            &format!("RL-{}", short_hash(&[signature, lesson, fix])),
            Pack::Reflection,
            &signature.chars().take(100).collect::<String>(),
            &format!("{signature} Lesson: {lesson} Fix: {fix}"),
            vec!["learned".into()],
            json!({"signature": signature, "lesson": lesson, "fix": fix}),
        ),
        Delta::HiddenConstraint { trigger, text } => Item::new(
            &constraint_id(trigger, text),
            Pack::Constraint,
            &format!("hidden constraint on {trigger}"),
            text,
            vec!["learned".into(), trigger.clone()],
            json!({"trigger": trigger, "text": text}),
        ),
        _ => return None,
    };
    item.source = source.to_string();
    Some(item)
}

/// What the world model believes about one task kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KindBelief {
    pub fail_alpha: f64,
    pub fail_beta: f64,
    /// Log-normal duration: mean and spread of ln(minutes), with the weight of the evidence
    /// (the seed counts as `prior_weight` observations).
    pub ln_mean: f64,
    pub ln_var: f64,
    pub weight: f64,
    /// Real observations applied.
    pub observed: u32,
}

impl KindBelief {
    pub fn failure_mean(&self) -> f64 {
        self.fail_alpha / (self.fail_alpha + self.fail_beta)
    }

    pub fn median_minutes(&self) -> f64 {
        self.ln_mean.exp()
    }

    pub fn p90_minutes(&self) -> f64 {
        (self.ln_mean + 1.2816 * self.ln_var.max(0.0).sqrt()).exp()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    pub id: String,
    pub trigger: String,
    pub text: String,
    pub seen: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorldState {
    pub kinds: BTreeMap<String, KindBelief>,
    /// item id → (helpful, not helpful).
    pub votes: BTreeMap<String, (u32, u32)>,
    pub reflections: Vec<(String, String, String)>,
    pub constraints: Vec<Constraint>,
    /// (cause, effect) → evidence count.
    pub causes: BTreeMap<(String, String), u32>,
    pub predictions: Vec<(f64, f64, f64, bool, f64)>,
    /// Retired items: id → reason.
    pub retired: BTreeMap<String, String>,
    /// Executor → (succeeded, failed) tasks.
    #[serde(default)]
    pub executors: BTreeMap<String, (u32, u32)>,
    /// Every run's forecast next to what happened, with its executor.
    #[serde(default)]
    pub forecasts: Vec<ForecastError>,
    pub deltas: u32,
}

/// One run's forecast error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastError {
    pub executor: String,
    pub success_p: f64,
    pub succeeded: bool,
    /// ln(actual minutes / forecast p50 minutes).
    pub duration_log_ratio: Option<f64>,
    /// ln(actual cost / forecast cost).
    pub cost_log_ratio: Option<f64>,
}

/// Calibration of one executor's forecasts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExecutorCalibration {
    pub n: usize,
    /// Brier score of the success forecasts (0 is perfect; 0.25 a coin flip).
    pub brier: f64,
    /// Mean ln(actual / forecast) of durations and of costs (0: unbiased; +1: e times
    /// longer or dearer than forecast).
    pub duration_log_ratio: Option<f64>,
    pub cost_log_ratio: Option<f64>,
}

/// How far (in standard deviations of ln minutes) one observation can pull a duration belief.
pub const OUTLIER_SDS: f64 = 2.0;

/// The seed's weight in observations: a seeded prior moves after a handful of real runs.
pub const PRIOR_WEIGHT: f64 = 5.0;

impl WorldState {
    /// The base state from the seeded task kinds.
    pub fn seeded(kinds: &[TaskKind]) -> Self {
        let mut s = WorldState::default();
        for k in kinds {
            let median = k.duration_minutes.median.max(0.01);
            let sigma = ((k.duration_minutes.p90.max(median)).ln() - median.ln()) / 1.2816;
            s.kinds.insert(
                k.kind.clone(),
                KindBelief {
                    fail_alpha: k.failure.alpha,
                    fail_beta: k.failure.beta,
                    ln_mean: median.ln(),
                    ln_var: sigma * sigma,
                    weight: PRIOR_WEIGHT,
                    observed: 0,
                },
            );
        }
        s
    }

    /// An executor's success rate as believed now: the mean of Beta(1 + succeeded,
    /// 1 + failed), so an untried executor counts as a coin flip.
    pub fn executor_rate(&self, executor: &str) -> f64 {
        let (ok, bad) = self.executors.get(executor).copied().unwrap_or_default();
        (f64::from(ok) + 1.0) / (f64::from(ok) + f64::from(bad) + 2.0)
    }

    /// Routing: the candidate with the best success rate (ties: the first listed), or None
    /// for no candidates.
    pub fn best_executor<'a>(&self, candidates: &'a [String]) -> Option<&'a String> {
        let mut best: Option<(&String, f64)> = None;
        for c in candidates {
            let r = self.executor_rate(c);
            if best.is_none_or(|(_, b)| r > b) {
                best = Some((c, r));
            }
        }
        best.map(|(c, _)| c)
    }

    /// The hidden constraints that hold (learned and not retired).
    pub fn active_constraints(&self) -> Vec<&Constraint> {
        self.constraints.iter().filter(|c| !self.retired.contains_key(&c.id)).collect()
    }

    /// Hidden constraints that contradict another one (same trigger, different statement);
    /// both are kept and both are used until one is retired.
    pub fn contradictions(&self) -> Vec<(&Constraint, &Constraint)> {
        let active = self.active_constraints();
        let mut out = Vec::new();
        for (i, a) in active.iter().enumerate() {
            for b in &active[i + 1..] {
                if a.trigger.eq_ignore_ascii_case(&b.trigger) && a.text != b.text {
                    out.push((*a, *b));
                }
            }
        }
        out
    }

    /// Forecast calibration per executor: Brier score of the success forecasts, mean
    /// log-ratios of actual to forecast duration and cost.
    pub fn calibration_by_executor(&self) -> BTreeMap<String, ExecutorCalibration> {
        let mut by: BTreeMap<String, Vec<&ForecastError>> = BTreeMap::new();
        for f in &self.forecasts {
            by.entry(f.executor.clone()).or_default().push(f);
        }
        let mean =
            |xs: Vec<f64>| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
        by.into_iter()
            .map(|(e, fs)| {
                let n = fs.len();
                let brier = fs
                    .iter()
                    .map(|f| (f.success_p - f64::from(u8::from(f.succeeded))).powi(2))
                    .sum::<f64>()
                    / n as f64;
                let c = ExecutorCalibration {
                    n,
                    brier,
                    duration_log_ratio: mean(
                        fs.iter().filter_map(|f| f.duration_log_ratio).collect(),
                    ),
                    cost_log_ratio: mean(fs.iter().filter_map(|f| f.cost_log_ratio).collect()),
                };
                (e, c)
            })
            .collect()
    }

    /// Brier score of success predictions (lower is better; 0.25 is a coin flip) and the share
    /// of actual durations at or below the predicted p90 (0.9 if calibrated).
    pub fn calibration(&self) -> Option<Calibration> {
        if self.predictions.is_empty() {
            return None;
        }
        let n = self.predictions.len() as f64;
        let brier = self
            .predictions
            .iter()
            .map(|(p, _, _, ok, _)| (p - f64::from(u8::from(*ok))).powi(2))
            .sum::<f64>()
            / n;
        let covered =
            self.predictions.iter().filter(|(_, _, p90, _, m)| m <= p90).count() as f64 / n;
        let below_median =
            self.predictions.iter().filter(|(_, p50, _, _, m)| m <= p50).count() as f64 / n;
        Some(Calibration {
            n: self.predictions.len(),
            brier,
            p90_coverage: covered,
            p50_coverage: below_median,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub n: usize,
    pub brier: f64,
    pub p90_coverage: f64,
    pub p50_coverage: f64,
}

/// Applies one delta. Pure and order-dependent only where order matters (running means).
pub fn apply(s: &mut WorldState, d: &Delta) {
    s.deltas += 1;
    match d {
        Delta::TaskOutcome { kind, success, minutes, executor, executor_kind } => {
            if let Some(e) = executor {
                let c = s.executors.entry(e.clone()).or_default();
                if *success {
                    c.0 += 1;
                } else {
                    c.1 += 1;
                }
            }
            // Model-backed work (and outcomes recorded before executor kinds) moves the
            // forecasts' beliefs; other kinds keep their own.
            let key = match executor_kind.as_deref() {
                None | Some("model") => kind.clone(),
                Some(k) => format!("{kind}@{k}"),
            };
            let b = s.kinds.entry(key).or_insert(KindBelief {
                fail_alpha: 1.0,
                fail_beta: 1.0,
                ln_mean: 20f64.ln(),
                ln_var: 0.36,
                weight: 1.0,
                observed: 0,
            });
            if *success {
                b.fail_beta += 1.0;
            } else {
                b.fail_alpha += 1.0;
            }
            if minutes.is_finite() && *minutes > 0.0 {
                // Weighted running mean and variance of ln(minutes) (West's update), with
                // each observation winsorised to within `OUTLIER_SDS` standard deviations of
                // the current belief: one run far off (a scripted example done in a second
                // against a prior of half an hour) moves the belief a step, instead of
                // blowing the spread up; a series of them keeps moving it.
                let sd = b.ln_var.max(1e-6).sqrt();
                let x =
                    minutes.ln().clamp(b.ln_mean - OUTLIER_SDS * sd, b.ln_mean + OUTLIER_SDS * sd);
                let w = b.weight + 1.0;
                let delta = x - b.ln_mean;
                let mean = b.ln_mean + delta / w;
                b.ln_var = (b.ln_var * b.weight + delta * (x - mean)) / w;
                b.ln_mean = mean;
                b.weight = w;
            }
            b.observed += 1;
        }
        Delta::InsightVote { item, helpful } => {
            let v = s.votes.entry(item.clone()).or_default();
            if *helpful {
                v.0 += 1;
            } else {
                v.1 += 1;
            }
        }
        Delta::Reflection { signature, lesson, fix } => {
            s.reflections.push((signature.clone(), lesson.clone(), fix.clone()))
        }
        Delta::HiddenConstraint { trigger, text } => match s
            .constraints
            .iter_mut()
            .find(|c| c.trigger.eq_ignore_ascii_case(trigger) && c.text == *text)
        {
            Some(c) => c.seen += 1,
            None => s.constraints.push(Constraint {
                id: constraint_id(trigger, text),
                trigger: trigger.clone(),
                text: text.clone(),
                seen: 1,
            }),
        },
        Delta::CausalEdge { cause, effect } => {
            *s.causes.entry((cause.clone(), effect.clone())).or_default() += 1
        }
        Delta::Prediction {
            success_p,
            p50_minutes,
            p90_minutes,
            succeeded,
            minutes,
            executor,
            forecast_cost_usd,
            cost_usd,
            ..
        } => {
            s.predictions.push((*success_p, *p50_minutes, *p90_minutes, *succeeded, *minutes));
            let ratio = |actual: f64, forecast: f64| {
                (actual > 0.0 && forecast > 0.0).then(|| (actual / forecast).ln())
            };
            s.forecasts.push(ForecastError {
                executor: executor.clone().unwrap_or_else(|| "unknown".into()),
                success_p: *success_p,
                succeeded: *succeeded,
                duration_log_ratio: ratio(*minutes, *p50_minutes),
                cost_log_ratio: match (cost_usd, forecast_cost_usd) {
                    (Some(a), Some(f)) => ratio(*a, *f),
                    _ => None,
                },
            });
        }
        Delta::Retire { item, reason } => {
            s.retired.entry(item.clone()).or_insert_with(|| reason.clone());
        }
    }
}
