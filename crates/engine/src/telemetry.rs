//! OpenTelemetry: with `[telemetry] otlp_endpoint`, every run that ends sends its trace and
//! metrics to that collector over OTLP/HTTP (protobuf; `opentelemetry-proto`'s messages).
//!
//! The trace is rebuilt from the durable journal when the run ends, not from in-memory
//! spans, so it is exact across crashes, resumes and workers: the run's id is its trace id;
//! the run span holds a span per journaled stage step and per task (plan, agent tasks,
//! integrate, verify, review — nested as they were spawned), and each task a span per
//! journaled step: model calls (tokens, cost, model, provider), tool calls, gates (passed,
//! exit code), merges. A span starts when the step before it completed. Span ids are hashes
//! of what they stand for, so a trace sent twice is the same trace. Metrics: the run's
//! duration, steps and steps per second, tokens, cost, DORA, and the task queue's depth.

use chrono::{DateTime, Utc};
use l9_store::{JournalStatus, TaskFilter, TaskRecord, TaskState};
use l9_types::{ContentHash, TaskId};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message;
use serde_json::Value;

use crate::events::Entry;
use crate::{Engine, EngineError, Result};

/// Tasks below a run that are walked (a larger tree is cut, and the cut is an attribute).
const MAX_TASKS: usize = 2000;

/// What one export sent.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Exported {
    pub spans: usize,
    pub metrics: usize,
}

/// How a run ends, told by the workflow that is ending it (its task's record is written
/// only after the workflow returns).
#[derive(Debug, Clone)]
pub struct Ending {
    pub result: Option<Value>,
    pub error: Option<String>,
}

/// An attribute value.
enum A {
    S(String),
    I(i64),
    F(f64),
    B(bool),
}

fn kv(key: &str, v: A) -> KeyValue {
    let value = match v {
        A::S(s) => any_value::Value::StringValue(s),
        A::I(i) => any_value::Value::IntValue(i),
        A::F(f) => any_value::Value::DoubleValue(f),
        A::B(b) => any_value::Value::BoolValue(b),
    };
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn nanos(t: DateTime<Utc>) -> u64 {
    t.timestamp_nanos_opt().map_or(0, |n| n.max(0) as u64)
}

/// An 8-byte span id standing for `what` (never all zero).
fn span_id(what: &str) -> Vec<u8> {
    let h = ContentHash::of_bytes(what.as_bytes()).to_string();
    let hex = h.rsplit(':').next().unwrap_or(&h);
    let mut out: Vec<u8> = (0..8)
        .map(|i| {
            hex.get(2 * i..2 * i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()).unwrap_or(0)
        })
        .collect();
    if out.iter().all(|b| *b == 0) {
        out[7] = 1;
    }
    out
}

fn trace_id(run: TaskId) -> Vec<u8> {
    run.as_uuid().as_bytes().to_vec()
}

/// The trace being built.
struct Trace {
    trace: Vec<u8>,
    spans: Vec<Span>,
    tokens: u64,
    cost_micro_usd: u64,
    steps: usize,
}

impl Trace {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: Vec<u8>,
        parent: Option<&[u8]>,
        name: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        attributes: Vec<KeyValue>,
        error: Option<String>,
    ) {
        let status = match error {
            Some(message) => Status { message, code: status::StatusCode::Error as i32 },
            None => Status { message: String::new(), code: status::StatusCode::Ok as i32 },
        };
        self.spans.push(Span {
            trace_id: self.trace.clone(),
            span_id: id,
            parent_span_id: parent.map(<[u8]>::to_vec).unwrap_or_default(),
            name,
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: nanos(start),
            end_time_unix_nano: nanos(end.max(start)),
            attributes,
            status: Some(status),
            ..Default::default()
        });
    }

    /// A span per journaled step of `entries` under `parent`, each from the completion of
    /// the one before (or `start`).
    fn steps(
        &mut self,
        owner: &str,
        parent: &[u8],
        start: DateTime<Utc>,
        entries: &[Entry],
        prefix: &str,
    ) {
        let mut from = start;
        for e in entries {
            let Some(k) = &e.key else { continue };
            if k.kind != l9_kernel::journal::EntryKind::Step || e.status == JournalStatus::Started {
                continue;
            }
            self.steps += 1;
            let v = &e.value;
            let mut attrs = vec![kv("l9.step.key", A::S(e.raw_key.clone()))];
            let step = e.agent_step();
            let name = match &step {
                Some(l9_agents::steps::AgentStep::Model { .. }) => {
                    let (i, o) =
                        (v["usage"]["input_tokens"].as_u64(), v["usage"]["output_tokens"].as_u64());
                    let cost = v["cost_micro_usd"].as_u64().unwrap_or(0);
                    self.tokens += i.unwrap_or(0) + o.unwrap_or(0);
                    self.cost_micro_usd += cost;
                    attrs.push(kv("gen_ai.usage.input_tokens", A::I(i.unwrap_or(0) as i64)));
                    attrs.push(kv("gen_ai.usage.output_tokens", A::I(o.unwrap_or(0) as i64)));
                    attrs.push(kv("l9.cost.usd", A::F(cost as f64 / 1e6)));
                    if let Some(m) = v["model"].as_str() {
                        attrs.push(kv("gen_ai.request.model", A::S(m.into())));
                    }
                    if let Some(p) = v["provider"].as_str() {
                        attrs.push(kv("gen_ai.system", A::S(p.into())));
                    }
                    "model call".to_string()
                }
                Some(l9_agents::steps::AgentStep::Tool { tool, .. }) => {
                    attrs.push(kv("l9.tool.name", A::S(tool.clone())));
                    format!("tool call {tool}")
                }
                Some(l9_agents::steps::AgentStep::Gate { .. }) => "gate".to_string(),
                Some(l9_agents::steps::AgentStep::Adapter { agent, .. }) => {
                    format!("agent {agent}")
                }
                Some(other) => other.name(),
                None => k.name.clone(),
            };
            if let Some(p) = v.get("passed").and_then(Value::as_bool) {
                attrs.push(kv("l9.gate.passed", A::B(p)));
            }
            if let Some(c) = v.get("exit_code").and_then(Value::as_i64) {
                attrs.push(kv("process.exit.code", A::I(c)));
            }
            let error = match e.status {
                JournalStatus::Failed => Some(v.as_str().unwrap_or("the step failed").to_string()),
                _ if v.get("passed") == Some(&Value::Bool(false)) => Some("the gate failed".into()),
                _ => None,
            };
            let id = span_id(&format!("{owner}/{}", e.raw_key));
            self.push(id, Some(parent), format!("{prefix}{name}"), from, e.at, attrs, error);
            from = e.at;
        }
    }
}

fn ended(t: &TaskRecord, now: DateTime<Utc>) -> DateTime<Utc> {
    match t.state {
        TaskState::Succeeded | TaskState::Dead | TaskState::Cancelled => t.updated_at,
        _ => now,
    }
}

impl Engine {
    /// The run's trace (resource spans) and its metrics, as sent to a collector.
    pub async fn run_telemetry(
        &self,
        run: TaskId,
        ending: Option<&Ending>,
    ) -> Result<(ExportTraceServiceRequest, ExportMetricsServiceRequest)> {
        let now = l9_types::Clock::now(&*self.clock());
        let mut task = self.task(run).await?;
        if let Some(e) = ending {
            task.state = if e.error.is_some() { TaskState::Dead } else { TaskState::Succeeded };
            task.result = e.result.clone();
            task.error = e.error.clone();
            task.updated_at = now;
        }
        let mut t = Trace {
            trace: trace_id(run),
            spans: Vec::new(),
            tokens: 0,
            cost_micro_usd: 0,
            steps: 0,
        };
        let root = span_id(&format!("task:{run}"));
        let end = ended(&task, now);
        // Stages: the run's own steps.
        let journal = self.journal_entries(l9_tasks::run_of(run)).await?;
        t.steps(&format!("task:{run}"), &root, task.created_at, &journal, "stage ");
        // Tasks, nested as spawned.
        let mut queue = vec![(run, root.clone())];
        let mut walked = 0usize;
        while let Some((parent, parent_span)) = queue.pop() {
            let f = TaskFilter { parent: Some(parent), ..Default::default() };
            for c in self.list_tasks(&f, None, 1000).await?.tasks {
                walked += 1;
                if walked > MAX_TASKS {
                    break;
                }
                let id = span_id(&format!("task:{}", c.id));
                let name = c.payload["plan_task"].as_str().or_else(|| c.payload["stage"].as_str());
                let mut attrs = vec![
                    kv("l9.task.id", A::S(c.id.to_string())),
                    kv("l9.task.kind", A::S(c.kind.clone())),
                    kv("l9.task.state", A::S(c.state.as_str().into())),
                    kv("l9.task.attempts", A::I(i64::from(c.attempts))),
                ];
                if let Some(n) = name {
                    attrs.push(kv("l9.task.name", A::S(n.into())));
                }
                let title = match name {
                    Some(n) => format!("task {} {n}", c.kind),
                    None => format!("task {}", c.kind),
                };
                let entries = self.journal_entries(l9_tasks::run_of(c.id)).await?;
                t.steps(&format!("task:{}", c.id), &id, c.created_at, &entries, "");
                t.push(
                    id.clone(),
                    Some(&parent_span),
                    title,
                    c.created_at,
                    ended(&c, now),
                    attrs,
                    c.error.clone(),
                );
                queue.push((c.id, id));
            }
        }
        let report: Option<crate::stages::RunReport> =
            task.result.as_ref().and_then(crate::stages::read);
        let mut attrs = vec![
            kv("l9.run.id", A::S(run.to_string())),
            kv("l9.run.state", A::S(task.state.as_str().into())),
            kv("l9.spec", A::S(task.payload["spec"].as_str().unwrap_or("").into())),
            kv("l9.cost.usd", A::F(t.cost_micro_usd as f64 / 1e6)),
            kv("gen_ai.usage.total_tokens", A::I(t.tokens as i64)),
            kv("l9.run.tasks", A::I(walked.min(MAX_TASKS) as i64)),
            kv("l9.run.tasks_cut", A::B(walked > MAX_TASKS)),
        ];
        if let Some(r) = &report {
            attrs.push(kv("l9.run.outcome", A::S(r.outcome.clone())));
            attrs.push(kv("l9.plan.chosen", A::S(r.chosen.clone())));
        }
        t.push(root, None, "l9.run".into(), task.created_at, end, attrs, task.error.clone());

        // Metrics.
        let secs = (end - task.created_at).num_milliseconds().max(0) as f64 / 1000.0;
        let queued = TaskFilter { state: Some(TaskState::Queued), ..Default::default() };
        let depth = self.list_tasks(&queued, None, 10_000).await?.tasks.len();
        let dora = report.as_ref().and_then(|r| r.dora.clone());
        let run_attr = || {
            vec![
                kv("l9.run.id", A::S(run.to_string())),
                kv("l9.run.state", A::S(task.state.as_str().into())),
            ]
        };
        let mut metrics = vec![
            gauge("l9.run.duration", "s", "How long the run took", secs, run_attr(), end),
            gauge(
                "l9.run.steps",
                "{step}",
                "Journaled steps of the run and its tasks",
                t.steps as f64,
                run_attr(),
                end,
            ),
            gauge(
                "l9.run.steps_per_second",
                "{step}/s",
                "Steps per second of the run",
                if secs > 0.0 { t.steps as f64 / secs } else { 0.0 },
                run_attr(),
                end,
            ),
            gauge(
                "l9.run.tokens",
                "{token}",
                "Model tokens the run used",
                t.tokens as f64,
                run_attr(),
                end,
            ),
            gauge(
                "l9.run.cost",
                "USD",
                "What the run's model calls cost",
                t.cost_micro_usd as f64 / 1e6,
                run_attr(),
                end,
            ),
            gauge(
                "l9.queue.depth",
                "{task}",
                "Tasks queued when the run ended",
                depth as f64,
                vec![],
                end,
            ),
        ];
        if let Some(d) = dora {
            metrics.push(gauge(
                "l9.dora.lead_time",
                "min",
                "DORA lead time of the run",
                d.lead_time_minutes,
                run_attr(),
                end,
            ));
            if let Some(c) = d.change_failure_rate {
                metrics.push(gauge(
                    "l9.dora.change_failure_rate",
                    "1",
                    "DORA change failure rate",
                    c,
                    run_attr(),
                    end,
                ));
            }
            if let Some(r) = d.time_to_restore_minutes {
                metrics.push(gauge(
                    "l9.dora.time_to_restore",
                    "min",
                    "DORA time to restore",
                    r,
                    run_attr(),
                    end,
                ));
            }
        }
        let resource = Some(Resource {
            attributes: vec![
                kv("service.name", A::S("l9".into())),
                kv("service.version", A::S(env!("CARGO_PKG_VERSION").into())),
                kv("l9.project", A::S(self.root().display().to_string())),
            ],
            ..Default::default()
        });
        let scope = Some(InstrumentationScope {
            name: "l9".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        });
        let traces = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource.clone(),
                scope_spans: vec![ScopeSpans {
                    scope: scope.clone(),
                    spans: t.spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let metrics = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource,
                scope_metrics: vec![ScopeMetrics { scope, metrics, ..Default::default() }],
                ..Default::default()
            }],
        };
        Ok((traces, metrics))
    }

    /// Sends the run's trace and metrics to `[telemetry] otlp_endpoint` (nothing when none
    /// is configured).
    pub async fn export_run_telemetry(
        &self,
        run: TaskId,
        ending: Option<&Ending>,
    ) -> Result<Option<Exported>> {
        let Some(base) = self.config().otlp_endpoint.clone() else { return Ok(None) };
        let (traces, metrics) = self.run_telemetry(run, ending).await?;
        let spans =
            traces.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
        let count = metrics
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len())
            .sum();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| EngineError::Internal(format!("telemetry: {e}")))?;
        for (path, body) in
            [("/v1/traces", traces.encode_to_vec()), ("/v1/metrics", metrics.encode_to_vec())]
        {
            let url = format!("{base}{path}");
            let r = http
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    EngineError::Config(format!("telemetry: cannot send to {url}: {e}"))
                })?;
            if !r.status().is_success() {
                return Err(EngineError::Config(format!(
                    "telemetry: {url} answered {}: check [telemetry] otlp_endpoint",
                    r.status()
                )));
            }
        }
        Ok(Some(Exported { spans, metrics: count }))
    }
}

fn gauge(
    name: &str,
    unit: &str,
    what: &str,
    value: f64,
    attributes: Vec<KeyValue>,
    at: DateTime<Utc>,
) -> Metric {
    Metric {
        name: name.into(),
        description: what.into(),
        unit: unit.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes,
                time_unix_nano: nanos(at),
                value: Some(number_data_point::Value::AsDouble(value)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}
