//! Stage-by-stage progress of an `l9.run` while the worker drives it: each journaled stage,
//! each coding task's gates, reviews and merge, as they land (read from the journal, so
//! what is printed is what was recorded).

use std::collections::HashSet;

use l9_engine::Engine;
use l9_engine::store::{TaskFilter, TaskState};
use l9_engine::types::TaskId;
use serde_json::Value;

use crate::output::snippet;

#[derive(Default)]
pub(crate) struct Progress {
    seen: HashSet<String>,
    /// Tasks whose end was printed: their journals are not read again.
    done: HashSet<TaskId>,
}

fn short(s: &str) -> &str {
    &s[..s.len().min(10)]
}

impl Progress {
    /// New lines since the last poll. Reading errors end nothing: progress is best effort,
    /// the run itself is unaffected.
    pub(crate) async fn poll(&mut self, engine: &Engine, run: TaskId) -> Vec<String> {
        let (mut out, mut after) = (Vec::new(), Vec::new());
        let Ok(d) = engine.task_detail(run).await else { return out };
        let mut plan = None;
        for j in &d.journal {
            // Stages after the plan (reflect) print after the plan's tasks.
            let out = if plan.is_some() { &mut after } else { &mut out };
            if !self.seen.insert(format!("{run}/{}", j.key)) {
                if j.key == "child:l9.plan#0" {
                    plan = j.value.as_ref().and_then(Value::as_str).and_then(|s| s.parse().ok());
                }
                continue;
            }
            let v = j.value.clone().unwrap_or(Value::Null);
            let line = match j.key.as_str() {
                "step:compile+challenge+deliberate+plan#0" => format!(
                    "  ✓ compile → challenge → deliberate → plan: {} nodes, {} finding(s), {} hidden constraint(s) known, {} plan candidates",
                    v["nodes"],
                    v["findings"],
                    v["hidden_constraints"],
                    v["candidates"].as_array().map_or(0, Vec::len)
                ),
                "step:simulate#0" => format!(
                    "  ✓ simulate: {}",
                    v["ranked"][0]["explanation"].as_str().unwrap_or("ranked")
                ),
                "step:choose+recall#0" => {
                    let n: usize = v["insights"]
                        .as_object()
                        .map_or(0, |m| m.values().filter_map(Value::as_array).map(Vec::len).sum());
                    let route = v["route"]["provider"]
                        .as_str()
                        .map_or(String::new(), |p| format!("; coder routed to {p}"));
                    format!(
                        "  ✓ choose: plan stored; {n} heuristic(s) recalled for the coder{route}"
                    )
                }
                "step:waiting for a provider#0" => {
                    format!("  … waiting: {}", v.as_str().unwrap_or(""))
                }
                "child:l9.plan#0" => {
                    plan = v.as_str().and_then(|s| s.parse().ok());
                    "  → execute: the plan runs on the Task Runtime".to_string()
                }
                "step:reflect#0" => format!(
                    "  ✓ reflect: {} observation(s) recorded in the world model",
                    v["deltas"]
                ),
                _ => continue,
            };
            out.push(line);
        }
        if let Some(plan) = plan {
            self.tasks(engine, plan, &mut out).await;
        }
        out.extend(after);
        out
    }

    async fn tasks(&mut self, engine: &Engine, plan: TaskId, out: &mut Vec<String>) {
        let f = TaskFilter { parent: Some(plan), ..Default::default() };
        let Ok(page) = engine.list_tasks(&f, None, 1000).await else { return };
        let mut kids = page.tasks;
        kids.sort_by_key(|t| (t.created_at, t.id));
        for t in kids {
            if self.done.contains(&t.id) {
                continue;
            }
            let name = t.payload["plan_task"]
                .as_str()
                .or_else(|| t.payload["stage"].as_str())
                .unwrap_or(&t.kind)
                .to_string();
            if t.kind == "l9.agent"
                && let Ok(d) = engine.task_detail(t.id).await
            {
                for j in &d.journal {
                    if !self.seen.insert(format!("{}/{}", t.id, j.key)) {
                        continue;
                    }
                    let v = j.value.clone().unwrap_or(Value::Null);
                    let key = j.key.trim_end_matches("#0");
                    let line = if let Some(r) = key.strip_suffix("/gate") {
                        let passed = v["passed"] == Value::Bool(true);
                        format!(
                            "    {name}: {} gate {}",
                            r.trim_start_matches("step:"),
                            if passed { "passed" } else { "FAILED" }
                        )
                    } else if let Some(r) = key.strip_suffix("/review") {
                        format!(
                            "    {name}: {} review: {} — {}",
                            r.trim_start_matches("step:"),
                            v["review"]["verdict"].as_str().unwrap_or("?"),
                            snippet(v["review"]["comments"].as_str().unwrap_or(""), 60)
                        )
                    } else if key == "step:merge" {
                        format!(
                            "    {name}: merged ({} {})",
                            v["how"].as_str().unwrap_or(""),
                            short(v["commit"].as_str().unwrap_or(""))
                        )
                    } else {
                        continue;
                    };
                    out.push(line);
                }
            }
            let ended =
                matches!(t.state, TaskState::Succeeded | TaskState::Dead | TaskState::Cancelled);
            if ended && self.done.insert(t.id) {
                let mark = if t.state == TaskState::Succeeded { "✓" } else { "✗" };
                out.push(format!("    {mark} {name} {}", t.state.as_str()));
            }
        }
    }
}
