//! `l9` — the command-line edge of L9.
//!
//! Parses arguments, calls `l9-engine`, renders results for people (default) or machines
//! (`--json`), and maps failures to exit codes by kind (see `--help`).

mod agent_cmd;
mod bench_cmd;
mod code_cmd;
mod db_cmd;
mod error;
mod eval_cmd;
mod ingest_cmd;
mod ir_cmd;
mod memory_cmd;
mod output;
mod progress;
mod run_cmd;
mod tasks_cmd;
mod world_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;
use crate::output::Out;

const EXIT_CODES: &str = "Exit codes: 0 success, 1 a run (or check) failed, 2 usage error, \
3 bad input (a file or value to fix), 4 configuration error, 5 not found (also: not an L9 project), \
6 database or service unavailable, 70 internal error, 75 the run waits for a person or is paused \
(the output names the command that continues it), 130 interrupted by Ctrl-C (the run stays \
resumable). With --json an error is one JSON object on stdout: {\"error\":{\"code\",\"message\",\"help\",\"exit\"}}.

Run and task ids: the whole id, a unique prefix of it (4+ characters), or `last`.";

/// L9: an autonomous engineering OS. Specs in, verified code out, durably; everything
/// remembered.
#[derive(Debug, Parser)]
#[command(name = "l9", version, about, after_help = format!("{EXIT_CODES}\n\n{}", l9_types::limits::help()))]
struct Cli {
    /// Database URL (sqlite://PATH or postgres://USER@HOST:PORT/DB); overrides l9.toml.
    #[arg(long, global = true, env = "L9_DB")]
    db: Option<String>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create .l9/ with l9.toml and the database (idempotent).
    Init,
    /// Store, search and inspect the memory substrate.
    #[command(subcommand)]
    Memory(memory_cmd::MemoryCommand),
    /// Long-term knowledge: read a repository's history into memory and the knowledge graph.
    #[command(subcommand)]
    Ingest(ingest_cmd::IngestCommand),
    /// DORA's four keys from a repository's history (deployments: version tags, or merges on
    /// the main branch), by week or month, next to the same figures for L9's own runs.
    Dora(ingest_cmd::DoraArgs),
    /// The repo map: the definitions of a repository ranked by PageRank over who references
    /// what, signatures with line numbers, within a token budget (what a coding task sees).
    Map(code_cmd::MapArgs),
    /// Measure performance against baselines run in the same process.
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
    /// Every setting in force — each key with its value and where it came from (file:line,
    /// environment variable, default), providers, agents, roles and schedules included, then
    /// the limits (environment variables only).
    Config,
    /// Run queued tasks and workflows until stopped (SIGTERM/Ctrl-C finish or release work),
    /// and fire the `[schedules.NAME]` of l9.toml meanwhile.
    Worker(tasks_cmd::WorkerArgs),
    /// Inspect and steer tasks (every task, children included): list, show, enqueue, retry,
    /// cancel, approve, reject, resolve, replay, fork.
    #[command(subcommand)]
    Tasks(tasks_cmd::TasksCommand),
    /// Run a coding task with an agent (worktree, coder + reviewer, gate, merge).
    #[command(subcommand)]
    Agent(agent_cmd::AgentCommand),
    /// Show the configured model providers, agents and roles.
    #[command(subcommand)]
    Models(agent_cmd::ModelsCommand),
    /// Run the loop on a spec: compile, challenge, deliberate, plan, simulate, choose, then
    /// execute the chosen plan with agents and gates on the run's own branch (in --repo, or a
    /// fresh repository at l9-out/<spec name>), integrate, verify every MUST in a clean
    /// checkout (evidence), update your branch only when verified, and learn. Prints each
    /// stage as it is journaled.
    Run(run_cmd::RunArgs),
    /// Continue a run: one that waits (e.g. for a provider to be configured), one whose
    /// `l9 run` was interrupted or killed (its leases are given back and the journal picks
    /// up; an interrupted step that can be re-run is re-run).
    Resume(run_cmd::ResumeArgs),
    /// Run a failed run again after its cause was fixed (configuration, provider): a new run
    /// that keeps the failed one's spec, plan and every task that succeeded, and runs the
    /// rest. Exits like `l9 run`.
    Retry(run_cmd::RetryArgs),
    /// Follow a run started elsewhere (another `l9 run`, a worker) from its start; exits
    /// when it ends (0 succeeded, 1 failed) or waits for a person (75).
    Watch(run_cmd::WatchArgs),
    /// Serve L9's JSON API (runs, their live events over SSE, tasks, memory, world, IR) and
    /// its OpenAPI document at /openapi.json. Every route needs the token in .l9/token
    /// (`Authorization: Bearer TOKEN`). Runs start here are executed by `l9 worker`
    /// processes, or by this one with --worker.
    Serve {
        /// Where to listen (loopback by default).
        #[arg(long, default_value = "127.0.0.1:7439")]
        addr: std::net::SocketAddr,
        /// Also run a worker in this process.
        #[arg(long)]
        worker: bool,
        /// Log each request, and each task, step, model call and gate it runs, as spans on
        /// stderr.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Serve L9 to an editor's agent over the Model Context Protocol on stdin/stdout (Claude
    /// Code, Cursor, Codex start it as a child process): tools memory_search, memory_put,
    /// run_spec, run_status, run_show, task_approve, task_reject, world_query, ir_check;
    /// resources l9://run/ID, l9://packet/ID, l9://world/ID. Each tool call is remembered
    /// (mcp.call and mcp.result packets). `l9 serve` offers the same at /mcp over HTTP.
    Mcp {
        /// Log each tool call (and the work it does) as spans on stderr.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Remove the worktrees and branches finished runs left in their repositories
    /// (`l9/run-…`, `l9/task-…`, `.git/l9-worktrees/…`): a succeeded run's at once, a failed
    /// or cancelled run's once it is older than --older-than.
    Gc {
        /// Keep what failed or cancelled runs left for this long (e.g. 7d, 12h, 30m, 0s).
        #[arg(long, default_value = "7d", value_parser = parse_age)]
        older_than: chrono::Duration,
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Loop runs (`l9 run`), newest first, or one run's state. `l9 runs` lists every
    /// workflow run started from outside (loop runs and enqueued workflows).
    Status {
        /// One run (an id, a unique prefix, or `last`).
        run: Option<String>,
    },
    /// A run stage by stage: IR findings, simulation table, tasks, outcome, DORA, and (with
    /// --json) its events, the same ones `l9 run --json` streamed.
    Show {
        /// The run (an id, a unique prefix, or `last`).
        run: String,
    },
    /// Re-run a run's code against its journal with no effects; reports any divergence.
    Replay {
        /// The run (an id, a unique prefix, or `last`).
        run: String,
    },
    /// The world model: patterns, heuristics, reflections, task kinds (seeded by `l9 init`).
    #[command(subcommand)]
    World(world_cmd::WorldCommand),
    /// The database itself: check that it is sound, or salvage what a damaged one holds.
    #[command(subcommand)]
    Db(db_cmd::DbCommand),
    /// Simulate a spec's plan candidates (or a plan file) under a scenario and rank them.
    Sim {
        /// A spec (compiled into plan candidates) or a JSON plan file.
        source: PathBuf,
        /// What-if overrides (YAML: kinds: {test: {failure: 0.3}}, budget: {usd: 10}).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Monte Carlo trials per candidate (1 to 1,000,000).
        #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        trials: u32,
        /// The random seed (the same seed gives the same table).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Compile a spec into the IR, check it, and derive plan candidates.
    #[command(subcommand, after_help = l9_types::limits::help())]
    Ir(ir_cmd::IrCommand),
    /// Score the IR Engine on labelled public data (classification, smells).
    #[command(subcommand)]
    Eval(eval_cmd::EvalCommand),
    /// List runs, newest first: loop runs (`l9 run`) and every other workflow started from
    /// outside (`l9 tasks enqueue`, schedules). `l9 status` shows loop runs only, with their
    /// specs; `l9 tasks list` shows every task, the runs' children included.
    Runs {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only runs in this state: queued, leased, waiting, succeeded, dead, cancelled.
        #[arg(long, value_parser = tasks_cmd::parse_state)]
        state: Option<l9_engine::TaskState>,
        /// Only runs of this workflow kind (e.g. l9.run for loop runs, l9.plan, l9.echo).
        #[arg(long)]
        kind: Option<String>,
    },
}

/// Opens the project at `root` for a command that reads it (`Engine::open_existing`: not a
/// project → exit 5, nothing created).
pub(crate) async fn open_existing(
    root: &std::path::Path,
    db: Option<&str>,
) -> Result<l9_engine::Engine, CliError> {
    Ok(l9_engine::Engine::open_existing(root, db).await?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if wants_logs(&cli.command) {
        // Spans as log lines on stderr: each task, step, model call, tool call, gate, MCP
        // tool call and HTTP request, with what it took when it closes.
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_max_level(tracing::Level::INFO)
            .try_init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    let json = cli.json;
    let mut out = Out::new(json);
    match runtime.block_on(run(cli, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) if e.is_silent() => ExitCode::from(e.exit_code()),
        Err(e) => {
            if json {
                // Machines read stdout; people still see the message on stderr.
                let _ = out.line(&l9_types::redact::redact(&e.to_json().to_string()));
            }
            eprintln!("{}", output::printable(&l9_types::redact::redact(&e.render())));
            ExitCode::from(e.exit_code())
        }
    }
}

/// `-v` on a command that does work (run, resume, retry, watch, worker, serve, mcp).
fn wants_logs(c: &Command) -> bool {
    match c {
        Command::Run(a) => a.follow.verbose,
        Command::Resume(a) => a.follow.verbose,
        Command::Retry(a) => a.follow.verbose,
        Command::Watch(a) => a.follow.verbose,
        Command::Worker(a) => a.verbose,
        Command::Serve { verbose, .. } | Command::Mcp { verbose } => *verbose,
        _ => false,
    }
}

async fn run(cli: Cli, out: &mut Out) -> Result<(), CliError> {
    l9_engine::install_limits(&|v| std::env::var(v).ok())?;
    let cwd = match &cli.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir()
            .map_err(|e| CliError::input(format!("cannot read the current directory: {e}")))?,
    };
    let root = l9_engine::find_root(&cwd);
    match cli.command {
        Command::Init => {
            let r = l9_engine::Engine::init(&cwd, cli.db.as_deref()).await?;
            let seeds = &r.seeds;
            out.value(
                &serde_json::json!({
                    "root": r.root, "config_created": r.config_created, "store": l9_engine::redact_url(&r.store_url),
                    "world": {"added": seeds.added, "kept": seeds.kept}
                }),
                || {
                    let verb = if r.config_created { "Initialised" } else { "Already initialised:" };
                    format!(
                        "{verb} {}\n  config: {}\n  store:  {}\n  world model: {} seed items added, {} already there",
                        r.root.display(),
                        r.root.join(".l9").join("l9.toml").display(),
                        l9_engine::redact_url(&r.store_url),
                        seeds.added,
                        seeds.kept
                    )
                },
            )
        }
        Command::Memory(cmd) => memory_cmd::run(cmd, &root, cli.db.as_deref(), out).await,
        Command::Ingest(cmd) => ingest_cmd::run_ingest(cmd, &root, cli.db.as_deref(), out).await,
        Command::Dora(a) => ingest_cmd::run_dora(a, &root, cli.db.as_deref(), out).await,
        Command::Map(a) => code_cmd::run_map(a, &root, cli.db.as_deref(), out).await,
        Command::Bench(cmd) => bench_cmd::run(cmd, &root, cli.db.as_deref(), out).await,
        Command::Worker(args) => tasks_cmd::run_worker(args, &root, cli.db.as_deref(), out).await,
        Command::Tasks(cmd) => tasks_cmd::run_tasks(cmd, &root, cli.db.as_deref(), out).await,
        Command::Agent(cmd) => agent_cmd::run_agent(cmd, &root, cli.db.as_deref(), out).await,
        Command::Models(cmd) => agent_cmd::run_models(cmd, &root, out).await,
        Command::Run(a) => run_cmd::run(a, &root, cli.db.as_deref(), out).await,
        Command::Resume(a) => run_cmd::resume(a, &root, cli.db.as_deref(), out).await,
        Command::Watch(a) => run_cmd::watch(a, &root, cli.db.as_deref(), out).await,
        Command::Retry(a) => run_cmd::retry(a, &root, cli.db.as_deref(), out).await,
        Command::Status { run } => {
            run_cmd::status(run.as_deref(), &root, cli.db.as_deref(), out).await
        }
        Command::Show { run } => run_cmd::show_cmd(&run, &root, cli.db.as_deref(), out).await,
        Command::Replay { run } => {
            let engine = open_existing(&root, cli.db.as_deref()).await?;
            let id = engine.resolve_id(&run, l9_engine::runtime::IdScope::Runs).await?;
            let cmd = tasks_cmd::TasksCommand::Replay { id: id.to_string() };
            tasks_cmd::run_tasks(cmd, &root, cli.db.as_deref(), out).await
        }
        Command::World(cmd) => world_cmd::run_world(cmd, &root, cli.db.as_deref(), out).await,
        Command::Db(cmd) => db_cmd::run_db(cmd, &root, cli.db.as_deref(), out).await,
        Command::Sim { source, scenario, trials, seed } => {
            if trials == 0 {
                return Err(CliError::input("--trials must be at least 1"));
            }
            // In an initialised project the priors are what its world model has learned.
            let r = if l9_engine::Engine::is_project(&root) {
                let engine = l9_engine::Engine::open(&root, cli.db.as_deref()).await?;
                let priors = engine.sim_priors().await?;
                l9_engine::sim::run_with(
                    &root,
                    &source,
                    scenario.as_deref(),
                    trials,
                    seed,
                    &priors,
                )?
            } else {
                l9_engine::sim::run(&root, &source, scenario.as_deref(), trials, seed)?
            };
            out.value(&r, || {
                let mut s = format!(
                    "{} — scenario {}, {} trials, seed {}{}\n",
                    r.source,
                    r.scenario,
                    r.trials,
                    r.seed,
                    if r.cached > 0 {
                        format!(" ({} from cache)", r.cached)
                    } else {
                        String::new()
                    }
                );
                s.push_str(&format!(
                    "{:<24} {:>7} {:>8} {:>8} {:>9} {:>8} {:>7} {:>6}  pareto\n",
                    "candidate", "success", "p50 h", "p90 h", "cost $", "retries", "CFR", "score"
                ));
                for x in &r.ranked {
                    let m = &x.metrics;
                    s.push_str(&format!(
                        "{:<24} {:>6.0}% {:>8.1} {:>8.1} {:>9.2} {:>8.1} {:>6.0}% {:>6.3}  {}\n",
                        x.name,
                        m.success * 100.0,
                        m.makespan_p50_h,
                        m.makespan_p90_h,
                        m.expected_cost_usd,
                        m.expected_retries,
                        m.change_failure_rate * 100.0,
                        x.score,
                        if x.pareto { "yes" } else { "no" }
                    ));
                }
                for x in &r.ranked {
                    s.push_str(&format!("  {}\n", x.explanation));
                }
                s.trim_end().to_string()
            })
        }
        Command::Ir(cmd) => ir_cmd::run_ir(cmd, &root, cli.db.as_deref(), out).await,
        Command::Eval(cmd) => eval_cmd::run_eval(cmd, out),
        Command::Runs { limit, state, kind } => {
            tasks_cmd::run_runs(limit, state, kind, &root, cli.db.as_deref(), out).await
        }
        Command::Mcp { .. } => {
            let engine = open_existing(&root, cli.db.as_deref()).await?;
            l9_mcp::serve_stdio(engine).await.map_err(CliError::input)
        }
        Command::Serve { addr, worker, .. } => {
            let engine = open_existing(&root, cli.db.as_deref()).await?;
            let (tx, rx) = tokio::sync::watch::channel(false);
            let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
            let opts = l9_server::ServeOptions { addr, worker };
            let server = tokio::spawn(l9_server::serve(engine, opts, rx, Some(bound_tx)));
            if let Ok(at) = bound_rx.await {
                eprintln!(
                    "l9 serve: http://{at} (token in {}; OpenAPI at /openapi.json){}",
                    root.join(".l9").join("token").display(),
                    if at.ip().is_loopback() {
                        ""
                    } else {
                        " — reachable from the network: keep the token secret"
                    }
                );
            }
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
                let _ = tx.send(true);
            };
            tokio::pin!(server);
            tokio::select! {
                r = &mut server => {
                    return r.map_err(|e| CliError::input(e.to_string()))?.map_err(CliError::input);
                }
                () = stop => {}
            }
            server.await.map_err(|e| CliError::input(e.to_string()))?.map_err(CliError::input)
        }
        Command::Gc { older_than, dry_run } => {
            use l9_types::Clock as _;
            let engine = open_existing(&root, cli.db.as_deref()).await?;
            let now = l9_types::SystemClock.now();
            let r = engine.gc(older_than, now, dry_run).await?;
            out.value(&r, || {
                let verb = if r.dry_run { "would remove" } else { "removed" };
                let mut s = Vec::new();
                for run in &r.removed {
                    s.push(format!(
                        "run {} ({}): {verb} {} branch(es), {} worktree(s) in {}",
                        run.run,
                        run.state,
                        run.branches.len(),
                        run.worktrees.len(),
                        run.repo
                    ));
                    for b in &run.branches {
                        s.push(format!("  branch {b}"));
                    }
                }
                s.push(format!(
                    "{} run(s) cleaned; {} finished run(s) kept (failed ones younger than the limit, or a branch still in use)",
                    r.removed.len(),
                    r.kept
                ));
                s.join("\n")
            })
        }
        Command::Config => {
            let config = l9_engine::Config::load(&root, &|v| std::env::var(v).ok())
                .map_err(l9_engine::EngineError::from)?;
            let file = config.file.as_ref().map(|f| f.display().to_string());
            let limits = l9_types::limits::in_force();
            let json =
                serde_json::json!({"file": file, "settings": config.settings, "limits": limits});
            out.value(&json, || {
                let mut s = format!(
                    "Configuration file: {}\n\n",
                    file.as_deref().unwrap_or("(none here; defaults and environment)")
                );
                for k in &config.settings {
                    s.push_str(&format!("{:<32} = {:<28} from {}\n", k.key, k.value, k.from));
                    if let (Some(env), Some(doc)) = (k.env, k.doc) {
                        s.push_str(&format!("    {doc} (environment: {env})\n"));
                    }
                }
                s.push_str("\nLimits (environment variables only, for every command):\n");
                for l in &limits {
                    s.push_str(&format!(
                        "{:<32} = {:<28} from {}\n    {}\n",
                        l.env, l.value, l.from, l.doc
                    ));
                }
                s.trim_end().to_string()
            })
        }
    }
}

/// An age: a whole number and a unit, `d`ays, `h`ours, `m`inutes or `s`econds (`7d`).
fn parse_age(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().map_err(|_| format!("{s:?} is not an age; write 7d, 12h, 30m or 0s"))?;
    match unit {
        "d" => Ok(chrono::Duration::days(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "s" => Ok(chrono::Duration::seconds(n)),
        _ => Err(format!("{s:?}: the unit must be d, h, m or s (7d, 12h, 30m, 0s)")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command, positional argument and option says what it is for.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let p = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{p} (the command)"));
                }
                walk(sub, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "l9", &mut missing);
        assert!(missing.is_empty(), "no help text for:\n{}", missing.join("\n"));
    }
}
