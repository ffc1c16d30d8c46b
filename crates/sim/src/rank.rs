//! Weighted scoring, the Pareto front (success up, p90 makespan down, cost down) and a
//! one-line explanation per candidate.

use serde::{Deserialize, Serialize};

use crate::monte_carlo::Metrics;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub success: f64,
    pub time: f64,
    pub cost: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { success: 0.5, time: 0.3, cost: 0.2 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub name: String,
    pub metrics: Metrics,
    pub score: f64,
    pub pareto: bool,
    pub explanation: String,
}

fn dominates(a: &Metrics, b: &Metrics) -> bool {
    let ge = a.success >= b.success
        && a.makespan_p90_h <= b.makespan_p90_h
        && a.expected_cost_usd <= b.expected_cost_usd;
    let gt = a.success > b.success
        || a.makespan_p90_h < b.makespan_p90_h
        || a.expected_cost_usd < b.expected_cost_usd;
    ge && gt
}

/// Best first. Time and cost are divided by the largest among the candidates.
pub fn rank(candidates: Vec<(String, Metrics)>, w: Weights) -> Vec<Ranked> {
    let max_t = candidates.iter().map(|c| c.1.makespan_p90_h).fold(f64::MIN_POSITIVE, f64::max);
    let max_c = candidates.iter().map(|c| c.1.expected_cost_usd).fold(f64::MIN_POSITIVE, f64::max);
    let best = |f: &dyn Fn(&Metrics) -> f64, lower: bool| -> Option<String> {
        candidates
            .iter()
            .min_by(|a, b| {
                let (x, y) = (f(&a.1), f(&b.1));
                if lower { x.total_cmp(&y) } else { y.total_cmp(&x) }
            })
            .map(|c| c.0.clone())
    };
    let (fastest, cheapest, safest) = (
        best(&|m| m.makespan_p90_h, true),
        best(&|m| m.expected_cost_usd, true),
        best(&|m| m.success, false),
    );
    let mut out: Vec<Ranked> = candidates
        .iter()
        .map(|(name, m)| {
            let score = w.success * m.success
                - w.time * m.makespan_p90_h / max_t
                - w.cost * m.expected_cost_usd / max_c;
            let pareto = !candidates.iter().any(|(_, o)| dominates(o, m));
            let mut why = Vec::new();
            if safest.as_deref() == Some(name.as_str()) {
                why.push("most likely to succeed");
            }
            if fastest.as_deref() == Some(name.as_str()) {
                why.push("fastest at p90");
            }
            if cheapest.as_deref() == Some(name.as_str()) {
                why.push("cheapest");
            }
            if pareto && why.is_empty() {
                why.push("a trade-off on the Pareto front");
            }
            if !pareto {
                why.push("dominated by another candidate");
            }
            let explanation = format!(
                "{name}: {:.0}% success, p50 {:.1} h / p90 {:.1} h, ${:.2}, {:.1} retries — {}",
                m.success * 100.0,
                m.makespan_p50_h,
                m.makespan_p90_h,
                m.expected_cost_usd,
                m.expected_retries,
                why.join(", ")
            );
            Ranked { name: name.clone(), metrics: m.clone(), score, pareto, explanation }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.name.cmp(&b.name)));
    out
}
