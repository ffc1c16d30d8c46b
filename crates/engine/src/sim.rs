//! `l9 sim`: plan candidates from a spec (or a plan file) simulated under a scenario,
//! ranked; results cached under `.l9/sim-cache/<content hash>.json`.

use std::path::Path;

use l9_ir::plan::PlanCandidate;
use l9_kernel::{Spend, TaskSpec};
use l9_sim::{Metrics, Priors, Ranked, Scenario, SimPlan, SimTask, Weights};
use l9_types::Diagnostic;

use crate::{EngineError, Result, STATE_DIR};

/// A plan adapter candidate as the simulator's plan (same DAG, kinds, sizes).
pub(crate) fn to_sim(c: &PlanCandidate, priors: &Priors) -> SimPlan {
    let index: std::collections::HashMap<&str, usize> =
        c.tasks.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
    let tasks = c
        .tasks
        .iter()
        .map(|t| {
            let kind = t.kind.name();
            let prior = priors.get(kind);
            let points = f64::from(t.points).max(0.1);
            let mut spec = TaskSpec::new(t.id.clone());
            spec.deps = t.deps.iter().filter_map(|d| index.get(d.as_str()).copied()).collect();
            spec.estimate = Spend {
                tokens: (prior.tokens as f64 * points) as u64,
                micro_usd: (prior.micro_usd as f64 * points) as u64,
            };
            SimTask { spec, kind: kind.into(), points }
        })
        .collect();
    let mut limits = l9_kernel::Limits::default();
    limits.queues.insert("default".into(), 4);
    SimPlan { name: c.strategy.name().into(), tasks, limits }
}

/// What `l9 sim` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimReport {
    pub source: String,
    pub scenario: String,
    pub trials: u32,
    pub seed: u64,
    /// The priors' version (seed hash, plus learned deltas).
    pub priors: String,
    pub ranked: Vec<Ranked>,
    /// How many candidates came from the cache.
    pub cached: usize,
}

/// Loads the plans to simulate: a JSON file holding a `SimPlan` or a list of them, or a
/// spec compiled and turned into the plan adapter's candidates.
pub fn plans(path: &Path, priors: &Priors) -> Result<Vec<SimPlan>> {
    let (name, bytes) = crate::ir::read_spec(path)?;
    if path.extension().is_some_and(|e| e == "json") {
        let text = String::from_utf8_lossy(&bytes);
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            EngineError::Input(vec![
                Diagnostic::error("L9-SIM-001", format!("not JSON: {e}")).with_span(
                    l9_types::Span::line(name.clone(), u32::try_from(e.line()).unwrap_or(1)),
                ),
            ])
        })?;
        if v.get("openapi").is_none() && v.get("swagger").is_none() {
            let list = if v.is_array() { v } else { serde_json::Value::Array(vec![v]) };
            return serde_json::from_value(list).map_err(|e| {
                EngineError::Input(vec![Diagnostic::error("L9-SIM-002", format!("not a plan: {e}")).with_span(l9_types::Span::line(name, 1)).with_help("a plan is {\"name\": …, \"tasks\": [{\"spec\": {\"name\": …, \"deps\": [0]}, \"kind\": \"implement\", \"points\": 1.0}]}")])
            });
        }
    }
    let plans: Vec<SimPlan> =
        crate::ir::spec_plans(path)?.iter().map(|(c, _)| to_sim(c, priors)).collect();
    if plans.is_empty() {
        return Err(EngineError::Input(vec![
            Diagnostic::error(
                "L9-SIM-003",
                format!("{name}: the spec yields no plan (nothing to build)"),
            )
            .with_help("see `l9 ir check` for why"),
        ]));
    }
    Ok(plans)
}

pub(crate) fn read_scenario(path: Option<&Path>) -> Result<Scenario> {
    let Some(p) = path else { return Ok(Scenario::default()) };
    let text = std::fs::read_to_string(p).map_err(|e| EngineError::io(p, e))?;
    Scenario::parse(&p.display().to_string(), &text)
        .map_err(|m| EngineError::Input(vec![Diagnostic::error("L9-SIM-004", m)]))
}

/// Simulates every plan (cache first) and ranks them, with the seeded priors.
pub fn run(
    root: &Path,
    source: &Path,
    scenario_path: Option<&Path>,
    trials: u32,
    seed: u64,
) -> Result<SimReport> {
    run_with(root, source, scenario_path, trials, seed, &l9_world_store::seed_priors())
}

/// Like [`run`] with the given priors (a project's learned world state: `Engine::sim_priors`).
pub fn run_with(
    root: &Path,
    source: &Path,
    scenario_path: Option<&Path>,
    trials: u32,
    seed: u64,
    priors: &Priors,
) -> Result<SimReport> {
    let priors = priors.clone();
    let scenario = read_scenario(scenario_path)?;
    let plans = plans(source, &priors)?;
    let cache_dir = root.join(STATE_DIR).join("sim-cache");
    let mut cached = 0;
    let mut results: Vec<(String, Metrics)> = Vec::new();
    for plan in &plans {
        let key = l9_sim::cache_key(plan, &scenario, &priors.version, seed, trials);
        let file = cache_dir.join(format!("{key}.json"));
        if let Some(m) =
            std::fs::read(&file).ok().and_then(|b| serde_json::from_slice::<Metrics>(&b).ok())
        {
            cached += 1;
            results.push((plan.name.clone(), m));
            continue;
        }
        let m = l9_sim::simulate(plan, &priors, &scenario, seed, trials)
            .map_err(|e| EngineError::Input(vec![Diagnostic::error("L9-SIM-005", e)]))?;
        if std::fs::create_dir_all(&cache_dir).is_ok()
            && let Ok(bytes) = serde_json::to_vec(&m)
        {
            // A cache that cannot be written only costs a re-run.
            let _ = std::fs::write(&file, bytes);
        }
        results.push((plan.name.clone(), m));
    }
    Ok(SimReport {
        source: source.display().to_string(),
        scenario: if scenario.name.is_empty() {
            scenario_path.map_or("baseline".into(), |p| p.display().to_string())
        } else {
            scenario.name.clone()
        },
        trials,
        seed,
        priors: priors.version.clone(),
        ranked: l9_sim::rank(results, Weights::default()),
        cached,
    })
}
