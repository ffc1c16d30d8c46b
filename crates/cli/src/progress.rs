//! Following a run: the engine's typed events ([`l9_engine::events`]) rendered as they land
//! — plain lines for people (stderr), NDJSON for machines (stdout, `--json`), and on a
//! terminal a live status line with the elapsed time, the current stage and the spend
//! against the forecast and the budget.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use l9_engine::Engine;
use l9_engine::events::{Event, Follower, LiveLine, RunEvent, Stage};
use l9_types::TaskId;

use crate::error::CliError;
use crate::output::snippet;

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Stages, waits and escalations only.
    Quiet,
    /// Also tasks, turns, gates, reviews and merges.
    Normal,
    /// Also every model call, spend update and the whole gate output tail.
    Verbose,
}

/// Where the events go.
pub(crate) struct Render {
    json: bool,
    detail: Detail,
    names: HashMap<String, String>,
    /// When the run started (its first event): elapsed times are the run's, whoever follows.
    started: Option<chrono::DateTime<chrono::Utc>>,
    stage: Option<Stage>,
    spend: (u64, u64),
    limit_usd: Option<f64>,
    forecast_usd: Option<f64>,
    bar: Option<ProgressBar>,
}

fn usd(micro: u64) -> String {
    format!("${:.4}", micro as f64 / 1e6)
}

impl Render {
    pub(crate) fn new(json: bool, detail: Detail) -> Self {
        let tty = !json && std::io::stderr().is_terminal();
        let bar = tty.then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Render {
            json,
            detail,
            names: HashMap::new(),
            started: None,
            stage: None,
            spend: (0, 0),
            limit_usd: None,
            forecast_usd: None,
            bar,
        }
    }

    fn name(&self, task: &str) -> String {
        self.names.get(task).cloned().unwrap_or_else(|| task.chars().take(13).collect())
    }

    fn say(&self, line: String) {
        let line = crate::output::printable(&l9_types::redact::redact(&line)).into_owned();
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn spend_text(&self) -> String {
        let mut s = format!("spent {} ({} tokens)", usd(self.spend.1), self.spend.0);
        if let Some(f) = self.forecast_usd {
            s.push_str(&format!(", forecast ${f:.2}"));
        }
        if let Some(l) = self.limit_usd {
            s.push_str(&format!(", budget ${l:.2}"));
        }
        s
    }

    /// Prints one event.
    pub(crate) fn event(&mut self, e: &Event) -> Result<(), CliError> {
        if self.json {
            let line = serde_json::to_string(e).map_err(|x| CliError::input(x.to_string()))?;
            let mut out = crate::output::Out::new(true);
            return out.line(&line);
        }
        let started = *self.started.get_or_insert(e.at);
        let elapsed = (e.at - started).num_milliseconds().max(0) as f64 / 1000.0;
        let normal = self.detail != Detail::Quiet;
        let verbose = self.detail == Detail::Verbose;
        match &e.event {
            RunEvent::RunStarted { .. } | RunEvent::RunFinished { .. } => {}
            RunEvent::StageStarted { stage } => {
                self.stage = Some(*stage);
                if *stage == Stage::Execute {
                    self.say("  → execute: the plan runs on the Task Runtime".into());
                }
            }
            RunEvent::StageFinished { stage, summary, failed } => {
                let mark = if *failed { "✗" } else { "✓" };
                self.say(format!("  {mark} {}: {summary}", stage.label()));
            }
            RunEvent::TaskStarted { task, name, kind, executor } => {
                self.names.insert(task.clone(), name.clone());
                if normal {
                    self.say(format!("    ▸ {name} ({kind}; {executor})"));
                }
            }
            RunEvent::AgentTurn { task, round, turn, tools, files_changed, text } => {
                if normal {
                    let what = if tools.is_empty() {
                        format!("done: {}", snippet(text, 70))
                    } else {
                        tools.join(", ")
                    };
                    let files = if files_changed.is_empty() {
                        String::new()
                    } else {
                        format!(" → changed {}", files_changed.join(", "))
                    };
                    self.say(format!(
                        "    {}: r{round} turn {turn}: {what}{files}",
                        self.name(task)
                    ));
                }
            }
            RunEvent::ModelCall {
                task,
                role,
                step,
                input_tokens,
                output_tokens,
                cost_micro_usd,
            } => {
                if verbose {
                    self.say(format!(
                        "    {}: {role} {step}: {input_tokens}+{output_tokens} tokens, {}",
                        self.name(task),
                        usd(*cost_micro_usd)
                    ));
                }
            }
            RunEvent::GateStarted { task, round, command } => {
                if normal {
                    self.say(format!(
                        "    {}: r{round} gate: {}",
                        self.name(task),
                        command.as_deref().unwrap_or("(none configured)")
                    ));
                }
            }
            RunEvent::GateFinished { task, round, passed, exit_code, output_tail, command } => {
                if normal {
                    let code = exit_code.map_or(String::new(), |c| format!(" (exit {c})"));
                    let verdict = if *passed { "passed" } else { "FAILED" };
                    // Round 0: a gate an integrate or verify step ran on the whole result.
                    let which = if *round == 0 {
                        format!("gate `{}`", snippet(command.as_deref().unwrap_or("?"), 70))
                    } else {
                        format!("r{round} gate")
                    };
                    self.say(format!("    {}: {which} {verdict}{code}", self.name(task)));
                    let lines = if verbose {
                        usize::MAX
                    } else if *passed {
                        0
                    } else {
                        5
                    };
                    let tail = l9_engine::events::tail(output_tail, lines.min(1000));
                    for l in tail.lines().filter(|l| !l.trim().is_empty()) {
                        self.say(format!("      │ {}", snippet(l, 110)));
                    }
                }
            }
            RunEvent::ReviewVerdict { task, round, verdict, comments } => {
                if normal {
                    self.say(format!(
                        "    {}: r{round} review: {verdict} — {}",
                        self.name(task),
                        snippet(comments, 60)
                    ));
                }
            }
            RunEvent::Merge { task, how, commit } => {
                if normal {
                    let c = commit
                        .as_deref()
                        .map_or(String::new(), |c| format!(" {}", &c[..c.len().min(10)]));
                    self.say(format!("    {}: merged ({how}{c})", self.name(task)));
                }
            }
            RunEvent::TaskFinished { name, state, error, .. } => {
                if normal {
                    let mark = if state == "succeeded" { "✓" } else { "✗" };
                    let err =
                        error.as_deref().map_or(String::new(), |e| format!(": {}", snippet(e, 90)));
                    self.say(format!(
                        "    {mark} {name} {state}{err} [{elapsed:.1} s into the run; {}]",
                        self.spend_text()
                    ));
                }
            }
            RunEvent::BudgetUpdate {
                spent_tokens,
                spent_micro_usd,
                limit_micro_usd,
                forecast_cost_usd,
                ..
            } => {
                self.spend = (*spent_tokens, *spent_micro_usd);
                self.limit_usd = limit_micro_usd.map(|m| m as f64 / 1e6);
                self.forecast_usd = *forecast_cost_usd;
                if verbose {
                    self.say(format!("    {}", self.spend_text()));
                }
            }
            RunEvent::Waiting { reason, resolve } => {
                self.say(format!("  … waiting: {reason}\n    continue with: {resolve}"));
            }
            RunEvent::GateAnswered { gate, decision, note } => {
                let mark = if decision == "approved" { "✓" } else { "✗" };
                let note = note.as_deref().map_or(String::new(), |n| format!(": {n}"));
                self.say(format!("  {mark} gate {gate} {decision}{note}"));
            }
            RunEvent::Escalation { task, reason, resolve } => {
                self.say(format!(
                    "  ! {} paused: {reason}\n    answer with: {resolve}",
                    self.name(task)
                ));
            }
        }
        if let Some(b) = &self.bar {
            let stage = self.stage.map_or("starting", Stage::label);
            b.set_message(format!("{stage} — {}", self.spend_text()));
        }
        Ok(())
    }

    /// Lines a running gate printed: every one with `-v`; on a terminal the latest also
    /// stands in the status line.
    pub(crate) fn live(&mut self, lines: &[LiveLine]) {
        if self.json {
            return;
        }
        if self.detail == Detail::Verbose {
            for l in lines {
                self.say(format!(
                    "      ┆ {}: r{} {}",
                    self.name(&l.task),
                    l.round,
                    snippet(&l.line, 110)
                ));
            }
        }
        if let (Some(b), Some(last)) =
            (&self.bar, lines.iter().rev().find(|l| !l.line.trim().is_empty()))
        {
            let stage = self.stage.map_or("starting", Stage::label);
            b.set_message(format!(
                "{stage} — {} — gate r{}: {}",
                self.spend_text(),
                last.round,
                snippet(&last.line, 60)
            ));
        }
    }

    /// A line about the following itself (not an event of the run); nothing with `--json`.
    pub(crate) fn note(&self, line: String) {
        if !self.json {
            self.say(line);
        }
    }

    /// Ends the status line.
    pub(crate) fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// Polls `follower` and renders what is new; errors reading the store end nothing (the
/// run itself is unaffected), they are retried at the next poll.
pub(crate) async fn pump(
    engine: &Engine,
    follower: &mut Follower,
    render: &mut Render,
) -> Result<(), CliError> {
    if let Ok(events) = follower.poll(engine).await {
        for e in &events {
            render.event(e)?;
        }
        render.live(&follower.live());
    }
    Ok(())
}

/// Follows `run` until it ends or waits for a person (`l9 watch`).
pub(crate) async fn watch(
    engine: &Engine,
    run: TaskId,
    render: &mut Render,
) -> Result<(), CliError> {
    let mut f = Follower::new(run);
    loop {
        let events = f.poll(engine).await?;
        for e in &events {
            render.event(e)?;
        }
        render.live(&f.live());
        if f.finished() || f.waiting().is_some() {
            render.finish();
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
