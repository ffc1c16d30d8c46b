//! `l9 world …`: query, show, stats and retire, each optionally as of another moment;
//! quarantine and trust for imported world knowledge.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use l9_types::AsOf;
use l9_types::{Clock, SystemClock};
use serde_json::json;

use crate::error::CliError;
use crate::output::{Out, snippet};

#[derive(Debug, Subcommand)]
pub(crate) enum WorldCommand {
    /// The items most relevant to TEXT (hybrid search over the world model, re-weighed by
    /// the votes of runs that were shown them; retired items left out).
    Query {
        /// What the work is about.
        text: String,
        /// How many items.
        #[arg(short, long, default_value_t = 8)]
        k: usize,
        #[command(flatten)]
        time: TimeArgs,
    },
    /// One item by id (AP-008, CH-011, RM-005, TK-implement, HC-…), with its validity and votes.
    Show {
        /// The item's id.
        id: String,
        #[command(flatten)]
        time: TimeArgs,
    },
    /// Items per pack, learned task priors (per executor kind: `implement@scripted` is kept
    /// apart from the model-backed `implement`), calibration overall and per executor (Brier,
    /// actual/forecast duration and cost), causal edges, contradictions.
    Stats {
        #[command(flatten)]
        time: TimeArgs,
    },
    /// Retire an item that no longer holds (e.g. a learned constraint the project dropped):
    /// queries and runs stop using it from --valid-to on; views of earlier moments still see it.
    /// Nothing is deleted.
    Retire {
        /// The item's id.
        id: String,
        /// Why it no longer holds (kept with the item).
        #[arg(long)]
        reason: String,
        /// When it stopped holding (RFC 3339 or YYYY-MM-DD; default now).
        #[arg(long)]
        valid_to: Option<String>,
    },
    /// World-model packets `l9 memory import` put in quarantine (imported knowledge reaches
    /// the world model, forecasts and prompts only once trusted), oldest first.
    Quarantine,
    /// Take quarantined packets into the world model (ids from `l9 world quarantine`: the
    /// holder's or the packet's, whole or a unique prefix). Each is verified again and stored
    /// exactly as it was sealed.
    Trust {
        /// The packets to trust.
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
        /// Trust every quarantined packet.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

/// A bitemporal view: the world at --as-of, as known at --known-at.
#[derive(Debug, Args)]
pub(crate) struct TimeArgs {
    /// Show the world as it was at this moment (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long)]
    as_of: Option<String>,
    /// ...as L9 knew it at this moment (default: everything recorded so far).
    #[arg(long)]
    known_at: Option<String>,
}

fn parse_time(flag: &str, s: &str) -> Result<DateTime<Utc>, CliError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(CliError::input(format!(
        "{flag} {s:?} is not a time: use RFC 3339 (2026-11-27T10:00:00Z) or a date (2026-11-27)"
    )))
}

impl TimeArgs {
    fn slice(&self) -> Result<Option<AsOf>, CliError> {
        if self.as_of.is_none() && self.known_at.is_none() {
            return Ok(None);
        }
        let valid_at = match &self.as_of {
            Some(s) => parse_time("--as-of", s)?,
            None => SystemClock.now(),
        };
        let known_at = self.known_at.as_deref().map(|s| parse_time("--known-at", s)).transpose()?;
        Ok(Some(AsOf { valid_at, known_at }))
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

pub(crate) async fn run_world(
    cmd: WorldCommand,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    let engine = crate::open_existing(root, db).await?;
    match cmd {
        WorldCommand::Query { text, k, time } => {
            let slice = time.slice()?;
            let hits = engine.world_query(&text, k, slice.as_ref()).await?;
            out.value(&hits, || {
                if hits.is_empty() {
                    return "No world-model items match (is the project initialised? `l9 init` loads the seed packs)".to_string();
                }
                hits.iter()
                    .map(|h| {
                        let votes = if h.votes == (0, 0) {
                            String::new()
                        } else {
                            format!("  (+{} −{})", h.votes.0, h.votes.1)
                        };
                        let via = h.via.as_deref().map_or(String::new(), |v| format!("  [via {v}]"));
                        format!(
                            "{:<16} {:<22} {:.4}  {}{votes}{via}",
                            h.id,
                            h.pack,
                            h.score,
                            snippet(&h.title, 70)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        WorldCommand::Show { id, time } => {
            let slice = time.slice()?;
            match engine.world_item(&id, slice.as_ref()).await? {
                Some(w) => out.value(&w, || {
                    let body = serde_json::to_string_pretty(&w.item.body).unwrap_or_default();
                    let mut s = format!(
                        "{} ({}, from {}; packet {})\n{}\n",
                        w.item.id,
                        w.item.pack.name(),
                        w.item.source,
                        w.packet,
                        w.item.title
                    );
                    s.push_str(&format!(
                        "valid {} → {}; recorded {}{}\n",
                        when(w.valid_from),
                        w.valid_to.map_or("now".into(), |t| when(Some(t))),
                        when(w.recorded_at),
                        w.invalidated_at
                            .map_or(String::new(), |t| format!(", end recorded {}", when(Some(t))))
                    ));
                    if let Some(a) = &w.item.anchor {
                        s.push_str(&format!(
                            "anchor: {}{}\n",
                            a.path,
                            a.commit
                                .as_deref()
                                .map_or(String::new(), |c| format!(" @ {}", &c[..c.len().min(12)]))
                        ));
                    }
                    if let Some(r) = &w.retired {
                        s.push_str(&format!("retired: {r}\n"));
                    }
                    if w.votes != (0, 0) {
                        s.push_str(&format!(
                            "votes from runs: {} helpful, {} not\n",
                            w.votes.0, w.votes.1
                        ));
                    }
                    format!("{s}\n{body}")
                }),
                None if slice.is_some() => Err(CliError::not_found(format!(
                    "world-model item {id:?} in that view (it did not hold, or was not known yet, then); drop --as-of/--known-at to see it now"
                ))),
                None => Err(CliError::not_found(format!(
                    "world-model item {id:?}; `l9 world query TEXT` lists ids"
                ))),
            }
        }
        WorldCommand::Stats { time } => {
            let slice = time.slice()?;
            let stats = engine.world_stats(slice.as_ref()).await?;
            let state = engine.world_state_at(slice.as_ref()).await?;
            let causes = engine.world_causes(slice.as_ref()).await?;
            let calibration = state.calibration();
            let contradictions: Vec<serde_json::Value> = state
                .contradictions()
                .iter()
                .map(|(a, b)| json!({"trigger": a.trigger, "one": a.text, "other": b.text}))
                .collect();
            let causal: Vec<serde_json::Value> = causes
                .iter()
                .map(|(c, e, n)| json!({"cause": c, "effect": e, "evidence": n}))
                .collect();
            let v = json!({
                "items": stats, "kinds": state.kinds, "deltas": state.deltas,
                "calibration": calibration, "contradictions": contradictions,
                "causal_edges": causal, "votes": state.votes, "retired": state.retired,
                "executors": state.executors.keys().map(|e| (e.clone(), json!({"succeeded": state.executors[e].0, "failed": state.executors[e].1, "rate": state.executor_rate(e)}))).collect::<serde_json::Map<String, serde_json::Value>>(),
                "calibration_by_executor": state.calibration_by_executor(),
                "as_of": slice,
            });
            out.value(&v, || {
                let mut s: Vec<String> = stats.iter().map(|(k, v)| format!("{k:<24} {v}")).collect();
                s.push(format!("\nlearned from {} observation(s); task kinds (failure mean, median / p90 minutes per point, runs seen):", state.deltas));
                for (k, b) in &state.kinds {
                    s.push(format!(
                        "  {k:<10} {:>5.1}%  {:>6.1} / {:>6.1}  {}",
                        b.failure_mean() * 100.0,
                        b.median_minutes(),
                        b.p90_minutes(),
                        b.observed
                    ));
                }
                match calibration {
                    Some(c) => s.push(format!(
                        "calibration over {} run(s): Brier {:.3} (0 perfect, 0.25 a coin flip); {:.0}% of durations within the predicted p90",
                        c.n, c.brier, c.p90_coverage * 100.0
                    )),
                    None => s.push("calibration: no predicted-vs-actual runs recorded yet".to_string()),
                }
                for (e, c) in state.calibration_by_executor() {
                    let ratio = |r: Option<f64>| {
                        r.map_or("n/a".to_string(), |r| format!("×{:.2}", r.exp()))
                    };
                    s.push(format!(
                        "forecast error of {e}: {} run(s), Brier {:.3}; actual/forecast duration {}, cost {}",
                        c.n,
                        c.brier,
                        ratio(c.duration_log_ratio),
                        ratio(c.cost_log_ratio)
                    ));
                }
                for (e, (good, bad)) in &state.executors {
                    s.push(format!(
                        "executor {e}: {good} of {} task(s) succeeded (routing rate {:.2})",
                        good + bad,
                        state.executor_rate(e)
                    ));
                }
                for (c, e, n) in &causes {
                    s.push(format!("causal: {c} → {e} (evidence {n})"));
                }
                if !state.votes.is_empty() {
                    let mut v: Vec<_> = state.votes.iter().collect();
                    v.sort_by_key(|(id, (up, down))| (std::cmp::Reverse(up + down), (*id).clone()));
                    let top: Vec<String> =
                        v.iter().take(5).map(|(id, (up, down))| format!("{id} +{up} −{down}")).collect();
                    s.push(format!("insight votes ({} items): {}", state.votes.len(), top.join(", ")));
                }
                if !state.retired.is_empty() {
                    s.push(format!("retired: {}", state.retired.keys().cloned().collect::<Vec<_>>().join(", ")));
                }
                for c in &contradictions {
                    s.push(format!("contradiction on {}: {:?} vs {:?}", c["trigger"], c["one"], c["other"]));
                }
                s.join("\n")
            })
        }
        WorldCommand::Quarantine => {
            let q = engine.quarantined().await?;
            out.value(&q, || {
                if q.is_empty() {
                    return "Nothing in quarantine.".to_string();
                }
                let mut s: Vec<String> = q
                    .iter()
                    .map(|h| {
                        format!(
                            "{}  {:<18} by {:<16} from {}  {}",
                            &h.packet[..13.min(h.packet.len())],
                            h.kind,
                            snippet(&h.actor, 16),
                            h.source,
                            snippet(h.text.as_deref().unwrap_or(""), 60)
                        )
                    })
                    .collect();
                s.push(format!(
                    "{} packet(s) in quarantine; `l9 memory get HOLDER-ID` shows one whole; `l9 world trust ID|--all` takes them in",
                    q.len()
                ));
                s.join("\n")
            })
        }
        WorldCommand::Trust { ids, all } => {
            let report = engine.trust(if all { &[] } else { &ids }).await?;
            out.value(&report, || {
                format!(
                    "trusted {} packet(s); the world model now uses them: {}",
                    report.trusted.len(),
                    report.trusted.join(", ")
                )
            })
        }
        WorldCommand::Retire { id, reason, valid_to } => {
            let at = valid_to.as_deref().map(|s| parse_time("--valid-to", s)).transpose()?;
            if engine.world_item(&id, None).await?.is_none() {
                return Err(CliError::not_found(format!(
                    "world-model item {id:?}; `l9 world query TEXT` lists ids"
                )));
            }
            let p = engine.world_retire(&id, &reason, at).await?;
            out.value(&json!({"retired": id, "packet": p.id.to_string()}), || {
                format!("retired {id} ({reason}); delta packet {}", p.id)
            })
        }
    }
}
