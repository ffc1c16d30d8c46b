//! A coding task's journal entries (agent turns, tool calls, model calls, gates, review,
//! merge) as run events.

use serde_json::Value;

use super::*;

impl Follower {
    pub(super) fn agent_entry(
        &mut self,
        t: &TaskRecord,
        ts: &str,
        e: &Entry,
        out: &mut Vec<Event>,
    ) {
        let task = t.id.to_string();
        let gate_cmd = t.payload["gate"].as_str().map(str::to_string);
        let base = format!("{ts}:{}", e.seq);
        let v = &e.value;
        let mut spend: Option<(u64, u64)> = None;
        let mut events: Vec<RunEvent> = Vec::new();
        let mut turn_done: Option<Turn> = None;
        let limits = self.limits;
        let seen = self.tasks.entry(t.id).or_default();
        seen.next_seq = e.seq + 1;
        // Any later entry means the task went on past its budget stop.
        seen.budget_wait = None;
        match e.agent_step() {
            Some(AgentStep::Model { round, turn }) => {
                let (call, spent) =
                    model_call(&task, "coder", AgentStep::Model { round, turn }.name(), v);
                spend = Some(spent);
                events.push(call);
                let calls: Vec<(String, Vec<String>)> = v["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let name = c["name"].as_str().unwrap_or("?").to_string();
                        let files = files_named(&name, &c["arguments"]);
                        (name, files)
                    })
                    .collect();
                let t = Turn {
                    round,
                    turn,
                    at: Some(e.at),
                    id: base.clone(),
                    text: first_lines(v["content"].as_str().unwrap_or(""), 3),
                    calls,
                    results: 0,
                    changed: Vec::new(),
                };
                if t.calls.is_empty() {
                    // The coder's round ends here; the gate runs next.
                    turn_done = Some(t);
                    seen.gate = open_gate(seen.worktree.as_deref(), round);
                    events.push(RunEvent::GateStarted {
                        task: task.clone(),
                        round,
                        command: gate_cmd.clone(),
                    });
                } else {
                    seen.turn = Some(t);
                }
            }
            Some(AgentStep::Tool { round, turn, k, .. }) => {
                if let Some(cur) = seen.turn.as_mut().filter(|c| c.round == round && c.turn == turn)
                {
                    cur.results += 1;
                    if v["changed"] == Value::Bool(true)
                        && let Some((_, files)) = cur.calls.get(k)
                    {
                        for f in files {
                            if !cur.changed.contains(f) {
                                cur.changed.push(f.clone());
                            }
                        }
                    }
                    if cur.results >= cur.calls.len() {
                        turn_done = seen.turn.take();
                    }
                }
            }
            Some(AgentStep::Adapter { round, agent }) => {
                events.push(RunEvent::AgentTurn {
                    task: task.clone(),
                    round,
                    turn: 1,
                    tools: vec![format!("adapter:{agent}")],
                    files_changed: Vec::new(),
                    text: tail(v.as_str().unwrap_or(""), 3),
                });
                seen.gate = open_gate(seen.worktree.as_deref(), round);
                events.push(RunEvent::GateStarted {
                    task: task.clone(),
                    round,
                    command: gate_cmd.clone(),
                });
            }
            Some(AgentStep::Gate { round }) => {
                seen.gate = None;
                let output = v["output"].as_str().unwrap_or("");
                events.push(RunEvent::GateFinished {
                    task: task.clone(),
                    round,
                    command: gate_cmd.clone(),
                    passed: v["passed"] == Value::Bool(true),
                    exit_code: v["exit_code"].as_i64().and_then(|c| i32::try_from(c).ok()),
                    output_tail: tail(output, TAIL_LINES),
                });
            }
            Some(AgentStep::Review { round }) => {
                let (call, spent) =
                    model_call(&task, "reviewer", AgentStep::Review { round }.name(), v);
                spend = Some(spent);
                events.push(call);
                events.push(RunEvent::ReviewVerdict {
                    task: task.clone(),
                    round,
                    verdict: v["review"]["verdict"].as_str().unwrap_or("?").into(),
                    comments: v["review"]["comments"].as_str().unwrap_or("").into(),
                });
            }
            Some(AgentStep::Merge) => events.push(RunEvent::Merge {
                task: task.clone(),
                how: v["how"].as_str().unwrap_or("").into(),
                commit: v["commit"].as_str().map(str::to_string),
            }),
            Some(AgentStep::BudgetStop { .. }) => {
                let message = v["message"].as_str().unwrap_or("budget reached").to_string();
                // A suggestion that covers the call with room to spare: the run's limit plus
                // twice the forecast, in cents.
                let forecast = v["stop"]["forecast_micro_usd"].as_u64().unwrap_or(0);
                let suggest =
                    (limits.1.unwrap_or(0) + 2 * forecast).div_ceil(10_000) as f64 / 100.0;
                let reason = format!(
                    "{} stopped before a call: {message}",
                    t.payload["plan_task"].as_str().unwrap_or("a task")
                );
                seen.budget_wait = Some(reason.clone());
                events.push(RunEvent::Waiting {
                    reason,
                    resolve: format!("l9 resume {} --budget-usd {suggest:.2}", self.run),
                });
            }
            Some(AgentStep::Worktree) => {
                seen.worktree = v["path"].as_str().map(std::path::PathBuf::from);
            }
            Some(AgentStep::Templates | AgentStep::Snapshot { .. } | AgentStep::Commit) | None => {}
        }
        // A finished turn is reported under the id of the model call that began it.
        if let Some(turn) = turn_done {
            let mut b = self.batch(out, format!("{}.turn", turn.id), turn.at.unwrap_or(e.at));
            b.push(RunEvent::AgentTurn {
                task: task.clone(),
                round: turn.round,
                turn: turn.turn,
                tools: turn.calls.iter().map(|c| c.0.clone()).collect(),
                files_changed: turn.changed,
                text: turn.text,
            });
        }
        let mut b = self.batch(out, base, e.at);
        for ev in events {
            b.push(ev);
        }
        if let Some((tokens, cost)) = spend {
            self.spent.0 += tokens;
            self.spent.1 += cost;
            let (spent_tokens, spent_micro_usd) = self.spent;
            let (limit_tokens, limit_micro_usd) = self.limits;
            let forecast_cost_usd = self.forecast_cost_usd;
            let mut b = self.batch(out, format!("{ts}:{}.budget", e.seq), e.at);
            b.push(RunEvent::BudgetUpdate {
                spent_tokens,
                spent_micro_usd,
                limit_tokens,
                limit_micro_usd,
                forecast_cost_usd,
            });
        }
    }
}

/// The files a tool call's arguments name (what a write or patch would change).
fn files_named(tool: &str, args: &Value) -> Vec<String> {
    let args: Value = match args {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    match tool {
        "write_file" => args["path"].as_str().map(|p| vec![p.to_string()]).unwrap_or_default(),
        "apply_patch" => l9_agents::patch::parse(args["patch"].as_str().unwrap_or(""))
            .map(|files| files.into_iter().filter_map(|f| f.new.or(f.old)).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}
