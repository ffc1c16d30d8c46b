//! `reflect`, the run's last stage: what the run teaches the world model, in one atomic
//! recording. Learning takes only outcomes of real work: every failure is classified
//! (`l9_world::failure`), and a configuration or infrastructure failure (no provider, an
//! unreachable endpoint, a missing agent binary, a budget stop) or an agent error becomes no
//! reflection, no vote, no executor failure and no prior. Outcomes are kept per executor
//! kind (`model`, `scripted`, `agent`): only model-backed work moves the forecasts' priors.
//! `l9 run --no-learn` records the run and learns nothing from it.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::Engine;
use crate::stages::Reflected;

/// What the pipeline knows about the finished run.
pub(crate) struct RunFacts<'a> {
    pub plan: l9_types::TaskId,
    pub run: l9_types::RunId,
    pub evidence: Option<l9_types::PacketId>,
    pub forecast: Option<&'a l9_sim::Metrics>,
    pub ok: bool,
    pub minutes: f64,
    pub finished: DateTime<Utc>,
    pub error: Option<String>,
    /// Who did the work (`provider:NAME`, `adapter:NAME`, `scripted example`).
    pub executor: String,
    /// `model`, `scripted` or `agent`.
    pub executor_kind: String,
    /// What the run cost, when known.
    pub cost_usd: Option<f64>,
    /// `false`: `l9 run --no-learn`.
    pub learn: bool,
}

/// The kind of an executor: `agent` for external agents, `scripted` for scripted and
/// replayed providers (and the examples' scripts), `model` for model-backed providers.
pub(crate) fn executor_kind(engine: &Engine, executor: &str) -> &'static str {
    if executor.starts_with("adapter:") {
        return "agent";
    }
    match executor.strip_prefix("provider:") {
        Some(name) => match engine.config().models.providers.get(name).map(|p| p.kind) {
            Some(crate::models::ProviderKind::Scripted | crate::models::ProviderKind::Replay) => {
                "scripted"
            }
            _ => "model",
        },
        None => "scripted",
    }
}

/// The thing a task is about, taken from its requirements: the first file-like name
/// (`add.sh`, `src/lib.rs`, `parse_args`), else the longest word.
pub(crate) fn trigger_of(text: &str) -> Option<String> {
    let body = text.split_once("Requirements:").map_or(text, |(_, r)| r);
    let body = body.split_once("Constraints learned").map_or(body, |(b, _)| b);
    let body = body.split_once("Heuristics from the world model").map_or(body, |(b, _)| b);
    let body = body.split_once("What this repository's history says").map_or(body, |(b, _)| b);
    let body = body.split_once(crate::pipeline::MAP_HEADING).map_or(body, |(b, _)| b);
    let words: Vec<&str> = body
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '(' | ')' | '`' | '"'))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| w.len() >= 3 && !w.starts_with("REQ-") && w.chars().any(char::is_alphabetic))
        .collect();
    words
        .iter()
        .find(|w| w.contains(['.', '_', '/']))
        .or_else(|| words.iter().filter(|w| w.len() >= 6).max_by_key(|w| w.len()))
        .map(|w| w.to_lowercase())
}

/// Passing and failing gates of an agent task, in order: (when, passed).
async fn gate_history(
    engine: &Engine,
    task: l9_types::TaskId,
) -> crate::Result<Vec<(DateTime<Utc>, bool)>> {
    Ok(engine
        .journal_entries(l9_tasks::run_of(task))
        .await?
        .into_iter()
        .filter(|e| matches!(e.agent_step(), Some(l9_agents::steps::AgentStep::Gate { .. })))
        .map(|e| (e.at, e.value["passed"] == json!(true)))
        .collect())
}

/// What the run teaches the world model: per implementation task its outcome (priors, under
/// its executor kind), votes on the insights it was shown (helpful when its first gate
/// passed), a hidden constraint when the reviewer's request after a failed first gate fixed
/// it, causal edges with their evidence, and DORA's time to restore (failed gate → next
/// passing gate); for the run, a prediction next to the actual result (with the executor,
/// for calibration) and a reflection if the work itself failed. Failures that are not
/// outcomes of real work are listed in `not_learned` and teach nothing.
pub(crate) async fn reflect(eng: &Engine, f: RunFacts<'_>) -> crate::Result<Reflected> {
    use l9_world::failure::classify;
    use l9_world::{Anchor, Delta, Observation};
    let filter = l9_store::TaskFilter { parent: Some(f.plan), ..Default::default() };
    let children = eng.list_tasks(&filter, None, 500).await?.tasks;
    let mut deltas: Vec<Observation> = Vec::new();
    let (mut coding, mut first_failed, mut merged) = (0u32, 0u32, Vec::new());
    let (mut restores, mut votes, mut causes) = (Vec::new(), 0u32, 0u32);
    let mut not_learned: Vec<Value> = Vec::new();
    let mut taught_failure: Option<String> = None;
    let kind_of_executor = Some(f.executor_kind.clone());
    for t in children.iter().filter(|t| t.kind.starts_with("l9.")) {
        let success = t.state == l9_store::TaskState::Succeeded;
        let plan_kind = t.payload["plan_kind"].as_str().unwrap_or("implement").to_string();
        if !success && t.state == l9_store::TaskState::Dead {
            let message = t.error.clone().unwrap_or_default();
            let class = classify(&message);
            if !class.teaches() {
                not_learned.push(json!({
                    "task": t.payload["plan_task"].as_str().unwrap_or(&t.kind),
                    "class": class.name(),
                    "message": message.chars().take(300).collect::<String>(),
                }));
                continue;
            }
            taught_failure.get_or_insert(message);
        }
        if t.kind != "l9.agent" {
            continue;
        }
        let minutes = (t.updated_at - t.created_at).num_milliseconds().max(0) as f64 / 60_000.0;
        // Design and test tasks teach their own kinds' priors; only implementation tasks are
        // changes for DORA and the lessons about them.
        if plan_kind != "implement" {
            if matches!(t.state, l9_store::TaskState::Succeeded | l9_store::TaskState::Dead) {
                deltas.push(Observation::new(
                    // Executor success rates (routing) are about implementation work.
                    Delta::TaskOutcome {
                        kind: plan_kind,
                        success,
                        minutes,
                        executor: None,
                        executor_kind: kind_of_executor.clone(),
                    },
                    t.updated_at,
                ));
            }
            continue;
        }
        coding += 1;
        let r = t.result.clone().unwrap_or(Value::Null);
        let gates = gate_history(eng, t.id).await?;
        let failed_first =
            gates.first().is_some_and(|g| !g.1) || r["first_gate_failed"] == json!(true);
        let task_text = t.payload["task"].as_str().unwrap_or("");
        let trigger = trigger_of(task_text);
        if failed_first {
            first_failed += 1;
            let failed_at = gates.iter().find(|g| !g.1).map_or(t.updated_at, |g| g.0);
            // What the reviewer asked for after the failed gate is a constraint the spec did
            // not state: remember it for specs that mention the same thing.
            let comment =
                r["rounds"][0]["review"]["comments"].as_str().unwrap_or("").trim().to_string();
            if r["done"] == json!(true)
                && !comment.is_empty()
                && !comment.starts_with("no reviewer is configured")
                && let Some(trigger) = &trigger
            {
                // Anchored where it applies: the file it names, at the commit that fixed it.
                let anchor = trigger.contains(['.', '/']).then(|| Anchor {
                    path: trigger.clone(),
                    commit: r["merged"]["commit"].as_str().map(str::to_string),
                });
                deltas.push(
                    Observation::new(
                        Delta::HiddenConstraint { trigger: trigger.clone(), text: comment },
                        failed_at,
                    )
                    .anchored(anchor),
                );
                deltas.push(Observation::new(
                    Delta::CausalEdge {
                        cause: format!("unstated constraint on {trigger}"),
                        effect: "first gate failed".into(),
                    },
                    failed_at,
                ));
                causes += 1;
            }
            // Time to restore: from the first failing gate to the next passing one.
            if let Some(fixed) = gates.iter().find(|g| g.1 && g.0 >= failed_at) {
                restores.push((fixed.0 - failed_at).num_milliseconds().max(0) as f64 / 60_000.0);
                deltas.push(Observation::new(
                    Delta::CausalEdge {
                        cause: "reviewer feedback".into(),
                        effect: "failed gate restored".into(),
                    },
                    fixed.0,
                ));
                causes += 1;
            }
        } else if success
            && task_text.contains("Constraints learned from earlier runs")
            && let Some(trigger) = &trigger
        {
            deltas.push(Observation::new(
                Delta::CausalEdge {
                    cause: format!("learned constraint on {trigger}"),
                    effect: "first gate passed".into(),
                },
                t.updated_at,
            ));
            causes += 1;
        }
        // ExpeL: an insight shown to a task that got it right first time helped.
        for item in t.payload["insights"].as_array().into_iter().flatten() {
            if let Some(id) = item["id"].as_str() {
                deltas.push(Observation::new(
                    Delta::InsightVote { item: id.to_string(), helpful: success && !failed_first },
                    t.updated_at,
                ));
                votes += 1;
            }
        }
        if let Some(c) = r["merged"]["commit"].as_str() {
            merged.push(c.to_string());
        }
        deltas.push(Observation::new(
            Delta::TaskOutcome {
                kind: "implement".into(),
                success,
                minutes,
                executor: t.payload["executor"].as_str().map(str::to_string),
                executor_kind: kind_of_executor.clone(),
            },
            t.updated_at,
        ));
    }
    // A run that failed with no task failing (the plan itself) is judged by its own error.
    if !f.ok
        && taught_failure.is_none()
        && not_learned.is_empty()
        && let Some(e) = &f.error
    {
        let class = classify(e);
        if class.teaches() {
            taught_failure = Some(e.clone());
        } else {
            not_learned.push(json!({"task": "run", "class": class.name(), "message": e.chars().take(300).collect::<String>()}));
        }
    }
    // The run failed for reasons that are not the work's: no forecast error to learn either.
    let real = f.ok || taught_failure.is_some();
    if real {
        deltas.push(Observation::new(
            Delta::Prediction {
                subject: "run".into(),
                success_p: f.forecast.map_or(0.0, |x| x.success),
                p50_minutes: f.forecast.map_or(0.0, |x| x.makespan_p50_h) * 60.0,
                p90_minutes: f.forecast.map_or(0.0, |x| x.makespan_p90_h) * 60.0,
                succeeded: f.ok,
                minutes: f.minutes,
                executor: Some(f.executor.clone()),
                forecast_cost_usd: f.forecast.map(|x| x.expected_cost_usd),
                cost_usd: f.cost_usd,
            },
            f.finished,
        ));
    }
    if let Some(message) = &taught_failure {
        // A lesson in words, not an error dump: what failed, how it ended.
        let first = message.lines().next().unwrap_or("").chars().take(160).collect::<String>();
        let last = message.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        deltas.push(Observation::new(
            Delta::Reflection {
                signature: first,
                lesson: format!("the work failed its checks; it ended with: {}", last.chars().take(160).collect::<String>()),
                fix: "read the failing gate's output (l9 show RUN) and state the missing requirement in the spec".into(),
            },
            f.finished,
        ));
    }
    let cfr = (coding > 0).then(|| f64::from(first_failed) / f64::from(coding));
    let restore =
        (!restores.is_empty()).then(|| restores.iter().sum::<f64>() / restores.len() as f64);
    let (recorded_deltas, items) = if f.learn && !deltas.is_empty() {
        let r = eng.world().record_run_deltas(f.run, &deltas, f.evidence).await?;
        (r.deltas, r.items)
    } else {
        (0, 0)
    };
    Ok(Reflected {
        deltas: recorded_deltas,
        items_learned: items,
        coding_tasks: coding,
        first_gate_failed: first_failed,
        change_failure_rate: cfr,
        time_to_restore_minutes: restore,
        restores: restores.len(),
        insight_votes: if f.learn { votes } else { 0 },
        causal_edges: if f.learn { causes } else { 0 },
        merged,
        not_learned,
        learning_off: !f.learn,
        executor_kind: Some(f.executor_kind.clone()),
    })
}
