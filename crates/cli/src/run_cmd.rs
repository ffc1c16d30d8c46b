//! `l9 run`, `l9 resume`, `l9 status`, `l9 show`: the loop from the command line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use l9_engine::Engine;
use l9_engine::TaskState;
use l9_engine::WorkerOptions;
use l9_engine::events::Follower;
use l9_engine::pipeline::RunStep;
use l9_engine::runtime::{EnqueueOptions, IdScope};
use l9_engine::stages::{Recalled, RunReport, Simulated, Understood, read};
use l9_types::TaskId;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::output::{Out, snippet};
use crate::progress::{Detail, Render};

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The spec (Markdown, RFC-style text, Gherkin, OpenAPI, prose).
    pub spec: PathBuf,
    /// The git repository to change: its top directory (default: a fresh one at
    /// l9-out/<spec name>).
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// The provider for the coder (default: [roles] coder, routed by success rate when it
    /// lists several; the example's provider.yaml when none is configured).
    #[arg(long)]
    pub provider: Option<String>,
    /// An external agent CLI as the coder (cursor, claude, codex, aider or [agents.NAME]).
    #[arg(long)]
    pub adapter: Option<String>,
    /// What-if overrides for the simulation (YAML, see `l9 sim --help`).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Monte Carlo trials per plan candidate (1 to 1,000,000).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub trials: u32,
    /// Pause the run (and ask) before spending more than this many dollars.
    #[arg(long)]
    pub budget_usd: Option<f64>,
    /// Pause the run before spending more than this many tokens.
    #[arg(long)]
    pub budget_tokens: Option<u64>,
    /// Stop after choosing a plan (no repository, no agents).
    #[arg(long)]
    pub plan_only: bool,
    /// Record the run (journal, evidence, report) without learning from it: no priors,
    /// votes, reflections, constraints or calibration change.
    #[arg(long)]
    pub no_learn: bool,
    #[command(flatten)]
    pub follow: FollowArgs,
}

/// How much of a run to print while following it.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct FollowArgs {
    /// Print only stages, waits and escalations (not tasks, turns, gates).
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print every model call, each spend update and whole gate output tails; a run
    /// executed here also logs its tasks, steps, model calls, tool calls and gates as spans.
    #[arg(short, long)]
    pub verbose: bool,
}

impl FollowArgs {
    fn render(self, json: bool) -> Render {
        let detail = if self.quiet {
            Detail::Quiet
        } else if self.verbose {
            Detail::Verbose
        } else {
            Detail::Normal
        };
        Render::new(json, detail)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ResumeArgs {
    /// The run (an id, a unique prefix of one, or `last`).
    pub run: String,
    /// Use this external agent CLI as the coder from now on (cursor, claude, codex, aider
    /// or [agents.NAME]); applies when the run waits for a coder.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Use this provider for the coder from now on; applies when the run waits for a coder.
    #[arg(long)]
    pub provider: Option<String>,
    /// A new budget in dollars for the work not yet started.
    #[arg(long)]
    pub budget_usd: Option<f64>,
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RetryArgs {
    /// The failed run (an id, a unique prefix of one, or `last`).
    pub run: String,
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct WatchArgs {
    /// The run (an id, a unique prefix of one, or `last`).
    pub run: String,
    #[command(flatten)]
    pub follow: FollowArgs,
}

/// Runs a worker until the run's queue is idle, rendering the run's events as they are
/// journaled. Ctrl-C stops the worker (running steps get two seconds, then their leases are
/// given back), says how to resume, and exits 130; the run stays resumable.
async fn drive(engine: &Engine, run: TaskId, render: &mut Render) -> Result<(), CliError> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let opts = WorkerOptions {
        id: l9_engine::runtime::default_worker_id(),
        queues: vec!["run".into()],
        concurrency: 4,
        lease: Duration::from_secs(60),
        exit_when_idle: true,
        wait_for_timers: true,
        shutdown_grace: Duration::from_secs(2),
        ..Default::default()
    };
    // The worker runs as a task of its own: polled only from the select below, it would
    // stand still while a render pumps events, and a worker holding SQLite's write lock in
    // a claim while the pump waits for that lock to file the journal's tail stalls both
    // for the busy timeout (30 s).
    let start = || {
        let (engine, opts, rx) = (engine.clone(), opts.clone(), rx.clone());
        tokio::spawn(async move { engine.run_worker(engine.registry(), opts, rx).await })
    };
    let mut worker = Some(start());
    let mut follower = Follower::new(run);
    let mut interrupted = false;
    // Polls since this process's worker found nothing to do while the run went on.
    let mut idle_polls = 0u32;
    loop {
        tokio::select! {
            r = async {
                match worker.as_mut() {
                    Some(w) => w.await,
                    None => std::future::pending().await,
                }
            }, if worker.is_some() => {
                worker = None;
                crate::progress::pump(engine, &mut follower, render).await?;
                r.map_err(|e| CliError::input(format!("the worker stopped: {e}")))??;
                if interrupted || follower.finished() || follower.waiting().is_some() {
                    render.finish();
                    break;
                }
                // Another process's worker holds the run's work (two runs share a
                // project): follow it to its end, and work again should that process
                // stop (its lease runs out and the work can be claimed).
                if idle_polls == 0 {
                    render.note(format!(
                        "run {run}: another process is doing its work now; following it (Ctrl-C stops following, the run goes on)"
                    ));
                }
                idle_polls = 1;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                crate::progress::pump(engine, &mut follower, render).await?;
                if worker.is_none() {
                    if follower.finished() || follower.waiting().is_some() {
                        render.finish();
                        break;
                    }
                    idle_polls += 1;
                    if idle_polls > 25 {
                        idle_polls = 1;
                        worker = Some(start());
                    }
                }
            }
            r = tokio::signal::ctrl_c(), if !interrupted => {
                if r.is_ok() {
                    interrupted = true;
                    let _ = tx.send(true);
                    eprintln!("\ninterrupted: stopping; the run stays resumable");
                    if worker.is_none() {
                        render.finish();
                        break;
                    }
                }
            }
        }
    }
    if interrupted {
        return Err(CliError::interrupted(format!(
            "interrupted; continue the run with `l9 resume {run}`"
        )));
    }
    Ok(())
}

/// The exit status a run's state calls for: succeeded (or still going elsewhere) 0, failed
/// or cancelled 1, waiting for a person 75.
pub(crate) fn exit_for(state: TaskState) -> Result<(), CliError> {
    match state {
        TaskState::Dead | TaskState::Cancelled => Err(CliError::findings()),
        TaskState::Waiting => Err(CliError::waiting()),
        TaskState::Succeeded | TaskState::Queued | TaskState::Leased => Ok(()),
    }
}

fn abs(p: &Path) -> Result<String, CliError> {
    p.canonicalize()
        .map(|p| p.display().to_string())
        .map_err(|e| CliError::input(format!("{}: {e}", p.display())))
}

pub(crate) async fn run(
    a: RunArgs,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    // What is asked is checked before anything is made (no project, no `l9-out/`).
    if let Some(b) = a.budget_usd
        && !(b.is_finite() && b >= 0.0)
    {
        return Err(CliError::input(format!(
            "--budget-usd {b}: give a dollar amount of 0 or more"
        )));
    }
    if !a.spec.is_file() {
        let what = if a.spec.exists() { "is not a regular file" } else { "does not exist" };
        return Err(CliError::not_found(format!(
            "spec {}: {what}; give the path of a spec file (Markdown, reStructuredText, AsciiDoc, plain or RFC text, Gherkin .feature or OpenAPI YAML/JSON)",
            a.spec.display()
        )));
    }
    // A PDF or Word file is refused before anything is written.
    l9_engine::ir::refuse_documents(&a.spec)?;
    let a = match &a.repo {
        Some(r) => {
            let r = l9_engine::steer::check_repository(r)
                .await
                .map_err(|e| CliError::input(format!("--repo: {e}")))?;
            RunArgs { repo: Some(r), ..a }
        }
        None => a,
    };
    // Run outside a project: make one here, as `l9 init` would (configuration, database,
    // the world model's seed packs), so everything after it (show, watch, world) works.
    if db.is_none() && !Engine::is_project(root) {
        let r = Engine::init(root, None).await?;
        if !out.json {
            eprintln!(
                "initialised an L9 project in {} (world model: {} seed items)",
                root.display(),
                r.seeds.added + r.seeds.kept
            );
        }
    }
    let engine = Engine::open(root, db).await?;
    let script = l9_engine::surface::example_script(&a.spec, a.adapter.as_deref());
    // No fresh repository for a spec that yields no plan: the run ends at its first stage.
    // (A spec that cannot be read is left to the run to report.)
    let a = if a.repo.is_none()
        && !a.plan_only
        && l9_engine::ir::spec_plans(&a.spec).map_or(true, |p| !p.is_empty())
    {
        let dir = engine.fresh_repository(&a.spec).await?;
        if !out.json {
            eprintln!("no --repo: the code goes to {}", dir.display());
        }
        RunArgs { repo: Some(dir), ..a }
    } else {
        a
    };
    let budget = json!({
        "tokens": a.budget_tokens,
        "micro_usd": a.budget_usd.map(|u| (u * 1e6).round() as u64),
    });
    let payload = json!({
        "spec": abs(&a.spec)?,
        "repo": a.repo.as_deref().map(abs).transpose()?,
        "provider": a.provider, "adapter": a.adapter,
        "scenario": a.scenario.as_deref().map(abs).transpose()?,
        "trials": a.trials, "budget": budget,
        "script": script.as_deref().map(abs).transpose()?,
        "no_learn": a.no_learn,
    });
    let (id, _) = engine
        .enqueue("l9.run", payload, &EnqueueOptions { queue: "run".into(), ..Default::default() })
        .await?;
    let mut render = a.follow.render(out.json);
    if !out.json {
        eprintln!(
            "run {id}: compile → challenge → deliberate → plan → simulate → execute → reflect"
        );
        if engine.config().commands.sandbox == l9_engine::config::SandboxMode::Auto
            && let Err(why) = l9_engine::agent::sandbox_available()
        {
            eprintln!(
                "note: gates and the coder's commands run unconfined: {why} (install Debian's `bubblewrap` to confine them, or set [agents] sandbox = \"required\" to refuse to run without it)"
            );
        }
        if let (Some(agent), Some(usd)) = (&a.adapter, a.budget_usd) {
            eprintln!(
                "note: the agent {agent} is counted against the ${usd} budget only by the cost it reports itself (claude's JSON output does); when it reports none its cost is unknown and the budget bounds only L9's own model calls"
            );
        }
    }
    drive(&engine, id, &mut render).await?;
    finish(&engine, id, out).await
}

/// After following a run: the report (text) or nothing more (`--json`: the events were the
/// output), and the exit status of its outcome.
async fn finish(engine: &Engine, id: TaskId, out: &mut Out) -> Result<(), CliError> {
    if out.json {
        return exit_for(engine.task(id).await?.state);
    }
    show(engine, &id.to_string(), out).await
}

/// `l9 retry RUN`: a failed run again, after its cause was fixed, keeping what succeeded.
pub(crate) async fn retry(
    a: RetryArgs,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let engine = crate::open_existing(root, db).await?;
    let id = engine.resolve_id(&a.run, IdScope::Runs).await?;
    let r = engine.retry_run(id).await?;
    let mut render = a.follow.render(out.json);
    if !out.json {
        eprintln!(
            "run {}: a retry of {id}; kept {} finished task(s){}",
            r.run,
            r.kept.len(),
            if r.kept.is_empty() { String::new() } else { format!(" ({})", r.kept.join(", ")) }
        );
    }
    drive(&engine, r.run, &mut render).await?;
    finish(&engine, r.run, out).await
}

/// `l9 watch RUN`: follows a run that another process or a worker drives, from its start,
/// until it ends or waits for a person.
pub(crate) async fn watch(
    a: WatchArgs,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let engine = crate::open_existing(root, db).await?;
    let id = engine.resolve_id(&a.run, IdScope::Runs).await?;
    let mut render = a.follow.render(out.json);
    crate::progress::watch(&engine, id, &mut render).await?;
    exit_for(engine.task(id).await?.state)
}

pub(crate) async fn resume(
    a: ResumeArgs,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let engine = crate::open_existing(root, db).await?;
    let tid = engine.resolve_id(&a.run, IdScope::Runs).await?;
    let id = tid.to_string();
    if let Some(b) = a.budget_usd
        && !(b.is_finite() && b >= 0.0)
    {
        return Err(CliError::input(format!(
            "--budget-usd {b}: give a dollar amount of 0 or more"
        )));
    }
    let t = engine.task(tid).await?;
    // A killed `l9 run` leaves its leases behind: they are given back (their processes are
    // gone), so the run continues now rather than when the leases run out.
    let r =
        engine.resume_run(tid, a.adapter.as_deref(), a.provider.as_deref(), a.budget_usd).await?;
    if !out.json && r.freed > 0 {
        eprintln!("reclaimed {} lease(s) held by a process that is no longer running", r.freed);
    }
    if t.state == l9_engine::TaskState::Leased && r.freed == 0 && !out.json {
        eprintln!(
            "run {id} is being worked on by {} (lease until {}); this command helps with the rest",
            t.lease_owner.as_deref().unwrap_or("another worker"),
            t.lease_until.map(|u| u.to_rfc3339()).unwrap_or_default()
        );
    }
    if let Some(raised) = &r.raised
        && !out.json
    {
        eprintln!(
            "budget raised from {} to ${:.4}; {} task(s) that stopped at their share go on",
            raised
                .before_micro_usd
                .map_or("none".to_string(), |b| format!("${:.4}", b as f64 / 1e6)),
            raised.now_micro_usd as f64 / 1e6,
            raised.tasks_continued
        );
    }
    let mut render = a.follow.render(out.json);
    drive(&engine, tid, &mut render).await?;
    finish(&engine, tid, out).await
}

pub(crate) async fn status(
    id: Option<&str>,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let engine = crate::open_existing(root, db).await?;
    let rows: Vec<Value> = match id {
        Some(id) => vec![engine.run_row(engine.resolve_id(id, IdScope::Runs).await?).await?],
        None => engine.run_rows(20).await?,
    };
    out.value(&rows, || {
        if rows.is_empty() {
            return "No runs yet: `l9 run SPEC` starts one.".into();
        }
        rows.iter()
            .map(|r| {
                let gates: Vec<&str> = r["approval_gates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g["task"].as_str())
                    .collect();
                let at = if gates.is_empty() {
                    String::new()
                } else {
                    format!("at approval gate: {} (`l9 tasks approve`)", gates.join(", "))
                };
                format!(
                    "{}  {:<10} {}  {}{at}",
                    r["run"].as_str().unwrap_or(""),
                    r["state"].as_str().unwrap_or(""),
                    r["spec"].as_str().unwrap_or(""),
                    r["error"].as_str().map(|e| snippet(e, 60)).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

pub(crate) async fn show_cmd(
    id: &str,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let engine = crate::open_existing(root, db).await?;
    let id = engine.resolve_id(id, IdScope::Runs).await?;
    show(&engine, &id.to_string(), out).await
}

async fn show(engine: &Engine, id: &str, out: &mut Out) -> Result<(), CliError> {
    let tid = engine.resolve_id(id, IdScope::Runs).await?;
    let d = engine.task_detail(tid).await?;
    let entries = engine.task_journal(tid).await?;
    let value = |step: RunStep| {
        entries.iter().find(|e| e.run_step() == Some(step)).map(|e| e.value.clone())
    };
    let front: Option<Understood> = value(RunStep::Front).and_then(|v| read(&v));
    let sim: Option<Simulated> = value(RunStep::Simulate).and_then(|v| read(&v));
    let waiting = value(RunStep::WaitingForProvider);
    let recall: Option<Recalled> = value(RunStep::Recall).and_then(|v| read(&v));
    let state = format!("{:?}", d.task.state).to_lowercase();
    let result = d.task.result.clone().unwrap_or(Value::Null);
    let report: Option<RunReport> = read(&result);
    let timeline = engine.run_timeline(tid).await?;
    let lineage = engine.run_lineage(tid).await?;
    let evidence = engine.run_evidence(tid).await?;
    let v = engine.run_view(tid).await?;
    out.value(&v, || {
        let mut s = format!("run {id} — {state}\n");
        if let Some(front) = &front {
            let _ = writeln!(
                s,
                "  compile:     {} nodes, {} requirements (IR packet {})",
                front.nodes, front.requirements, front.ir_packet
            );
            if let Some(c) = &front.classifier {
                let _ = writeln!(s, "    classified by {}", snippet(c, 300));
            }
            let _ = writeln!(s, "  challenge:   {} findings ({} errors), {} hidden constraint(s) from the world model", front.findings, front.errors, front.hidden_constraints);
            for f in &front.finding_list {
                let _ = writeln!(
                    s,
                    "    {} {}{}: {}",
                    f.severity,
                    f.code,
                    f.line.map_or(String::new(), |l| format!(" (line {l})")),
                    snippet(&f.message, 90)
                );
            }
            if front.findings > front.finding_list.len() && !front.finding_list.is_empty() {
                let spec = d.task.payload["spec"].as_str().unwrap_or("SPEC");
                let mut codes: Vec<(&String, &usize)> = front.finding_codes.iter().collect();
                codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let by: Vec<String> =
                    codes.iter().take(6).map(|(c, n)| format!("{c} {n}")).collect();
                let _ = writeln!(
                    s,
                    "    … {} more (`l9 ir check {spec}`){}",
                    front.findings - front.finding_list.len(),
                    if by.is_empty() { String::new() } else { format!("; in all, by code: {}", by.join(", ")) }
                );
            }
            let _ = writeln!(s, "  deliberate:  {} amendment(s), {}", front.amendments, if front.settled { "settled" } else { "blocking findings open" });
            if !front.questions.is_empty() {
                let _ = writeln!(s, "    {} question(s) asked, each an approval gate of the task it concerns:", front.questions.len());
                for q in front.questions.iter().take(5) {
                    let _ = writeln!(s, "    {}", snippet(q, 110));
                }
                if front.questions.len() > 5 {
                    let _ = writeln!(s, "    … {} more (`l9 show --json`)", front.questions.len() - 5);
                }
            }
            let _ = writeln!(s, "  plan:        {} candidates", front.candidates.len());
        }
        if let Some(sim) = &sim {
            let _ = writeln!(s, "  simulate:    priors {}", sim.priors);
            for x in &sim.ranked {
                let _ = writeln!(s, "    {}", x.explanation);
            }
            let _ = writeln!(s, "  choose:      {}", sim.ranked.first().map_or("-", |x| x.name.as_str()));
        }
        if let Some(route) = recall.as_ref().and_then(|r| r.route.as_ref())
            && let Some(p) = &route.provider
        {
            let rates: Vec<String> = route.rates.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
            let _ = writeln!(s, "  route:       coder {p} (success rates: {})", rates.join(", "));
        }
        for c in recall.as_ref().map(|r| r.collisions.as_slice()).unwrap_or_default() {
            let _ = writeln!(
                s,
                "  serialise:   {} waits for {}: both likely touch {} ({})",
                c.b,
                c.a,
                c.files.join(", "),
                snippet(&c.why.join("; "), 160)
            );
        }
        if let Some(w) = &waiting
            && state != "succeeded"
        {
            let _ = writeln!(s, "  execute:     waiting — {}", w.as_str().unwrap_or(""));
        }
        for g in v["approval_gates"].as_array().into_iter().flatten() {
            let asked = g["questions"].as_array().map_or(0, Vec::len);
            let _ = writeln!(
                s,
                "  execute:     waiting — {} at an approval gate ({asked} open question(s)); answer with `l9 tasks approve {id}` (or `l9 tasks reject {id} --note WHY`), then `l9 resume {id}`",
                g["task"].as_str().unwrap_or("?")
            );
            for q in g["questions"].as_array().into_iter().flatten().take(5) {
                let _ = writeln!(s, "    {} {}", q["id"].as_str().unwrap_or(""), snippet(q["text"].as_str().unwrap_or(""), 110));
            }
        }
        if let Some(of) = d.task.payload["retry_of"].as_str() {
            let kept: Vec<&String> = d.task.payload["keep"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
            let _ = writeln!(s, "  retry of:    {of}; kept as done: {}", if kept.is_empty() { "nothing".to_string() } else { kept.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ") });
        }
        let _ = writeln!(s, "  tasks:       {} child task(s); journal of {} entries (`l9 tasks show {id}`)", d.children.len(), d.journal.len());
        for t in &timeline {
            let minutes = t.ended.map_or("running".to_string(), |e| dur((e - t.started).num_milliseconds() as f64 / 60_000.0));
            let gates: Vec<&str> = t.gates.iter().map(|g| if g.1 { "pass" } else { "FAIL" }).collect();
            let gates = if gates.is_empty() { String::new() } else { format!("  gates {}", gates.join(" → ")) };
            let merged = t.merged.as_deref().map_or(String::new(), |c| format!("  merged {}", &c[..c.len().min(10)]));
            let _ = writeln!(
                s,
                "    {} {:<32} {:<9} {:<10} {:>12}{gates}{merged}",
                t.started.format("%H:%M:%S"),
                snippet(&t.name, 32),
                t.kind,
                t.state,
                minutes
            );
        }
        if let Some(ev) = &evidence {
            write_evidence(&mut s, ev);
        }
        if let Some(r) = &report {
            let _ = writeln!(s, "  outcome:     {}", r.outcome);
        }
        if let Some(dora) = report.as_ref().and_then(|r| r.dora.as_ref()) {
            let _ = writeln!(
                s,
                "  DORA:        lead time {} (forecast {:.1} h); change failure rate {} (forecast {:.0}%); time to restore {}",
                dur(dora.lead_time_minutes),
                dora.forecast_lead_time_h.unwrap_or(0.0),
                dora.change_failure_rate.map_or("n/a".to_string(), |c| format!("{:.0}%", c * 100.0)),
                dora.forecast_change_failure_rate.unwrap_or(0.0) * 100.0,
                dora.time_to_restore_minutes.map_or("n/a (no failed gate)".to_string(), dur)
            );
            if !dora.merged.is_empty() {
                let _ = writeln!(s, "  merged:      {}", dora.merged.join(", "));
            }
        }
        if let Some(r) = &report
            && let Some(spent) = r.execution.as_ref().and_then(|e| e.get("spent"))
        {
            let unknown = r.execution.as_ref().is_some_and(|e| e["cost_unknown"] == true);
            let _ = writeln!(
                s,
                "  cost:        {} tokens, {} (forecast {:.0} tokens, ${:.2})",
                spent["tokens"],
                if unknown {
                    format!(
                        "unknown (the agent does not report its cost; model calls ${:.4})",
                        spent["micro_usd"].as_f64().unwrap_or(0.0) / 1e6
                    )
                } else {
                    format!("${:.4}", spent["micro_usd"].as_f64().unwrap_or(0.0) / 1e6)
                },
                r.forecast.as_ref().map_or(0.0, |f| f.expected_tokens),
                r.forecast.as_ref().map_or(0.0, |f| f.expected_cost_usd)
            );
        }
        if let Some(repo) = d.task.payload["repo"].as_str() {
            let _ = writeln!(s, "  code:        {repo}");
        }
        if lineage.ir.is_some() {
            let short = |p: &Option<String>| p.as_deref().map_or("-".to_string(), |p| p.chars().take(13).collect());
            let linked = lineage.tasks.iter().filter(|t| t.linked).count();
            let _ = writeln!(
                s,
                "  lineage:     spec {} → IR {} → plan {} → {} coding task(s) → gates → merge: {}",
                short(&lineage.spec),
                short(&lineage.ir),
                short(&lineage.plan),
                lineage.tasks.len(),
                if lineage.complete { "every link holds".to_string() } else { format!("{linked} of {} merges linked", lineage.tasks.len()) }
            );
        }
        if let Some(e) = &d.task.error {
            let _ = writeln!(s, "  error:       {e}");
        }
        let mut inspect = vec![format!("l9 tasks show {id}")];
        if let Some(plan) = d.children.iter().find(|c| c.kind == "l9.plan") {
            inspect.push(format!("l9 tasks show {}", plan.id));
        }
        if let Some(m) = lineage.tasks.iter().find_map(|t| t.merge.as_deref()) {
            inspect.push(format!("l9 memory lineage {m} --up --depth 200"));
        }
        inspect.push(format!("l9 replay {id}"));
        let _ = writeln!(s, "  inspect:     {}", inspect.join(" · "));
        s.trim_end().to_string()
    })?;
    exit_for(d.task.state)
}

/// A duration given in minutes, in the unit that reads best.
fn dur(minutes: f64) -> String {
    if minutes < 1.0 {
        format!("{:.1} s", minutes * 60.0)
    } else if minutes < 120.0 {
        format!("{minutes:.1} min")
    } else {
        format!("{:.1} h", minutes / 60.0)
    }
}

/// The verify step's evidence, per MUST requirement.
fn write_evidence(s: &mut String, ev: &l9_engine::stages::Verified) {
    use std::fmt::Write as _;
    let short = |c: &str| c.chars().take(10).collect::<String>();
    let delivered = match &ev.delivered {
        Some(d) => format!(
            "delivered to {} ({})",
            d["branch"].as_str().unwrap_or("?"),
            d["how"].as_str().unwrap_or("?")
        ),
        None => "not delivered".into(),
    };
    let _ = writeln!(
        s,
        "  evidence:    {} gate run(s) on {} in a clean checkout; {}",
        ev.evidence.len(),
        short(&ev.commit),
        delivered
    );
    for (req, idx) in &ev.requirements {
        if idx.is_empty() {
            let _ = writeln!(s, "    {req:<10} ✗ no gate checks it");
        }
        for i in idx {
            let e = &ev.evidence[*i];
            let _ = writeln!(
                s,
                "    {req:<10} {} `{}` exit {} (evidence {})",
                if e.passed { "✓" } else { "✗" },
                e.command,
                e.exit_code.map_or("-".into(), |c| c.to_string()),
                e.packet
                    .as_deref()
                    .map_or("-".to_string(), |p| p.chars().take(13).collect::<String>())
            );
        }
    }
    if let Some(why) = &ev.tests_not_run {
        let _ = writeln!(s, "    {:<10} – not run: {why}", "(whole)");
    }
    for e in ev.evidence.iter().filter(|e| e.requirements.is_empty()) {
        let _ = writeln!(
            s,
            "    {:<10} {} `{}` exit {} ({})",
            "(whole)",
            if e.passed { "✓" } else { "✗" },
            e.command,
            e.exit_code.map_or("-".into(), |c| c.to_string()),
            e.source
        );
    }
}
