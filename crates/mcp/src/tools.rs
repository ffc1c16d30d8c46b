//! The tools an editor's agent calls: their names, descriptions and input schemas (from the
//! argument types), and what each does with the engine. Each call made through MCP is
//! remembered as packets (`lib.rs`); this module only answers it.

use std::sync::Arc;

use l9_engine::Engine;
use l9_engine::runtime::IdScope;
use l9_types::{PacketDraft, PacketId};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// `memory_search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorySearch {
    /// What to look for, in plain words (keyword and semantic search combined).
    pub query: String,
    /// How many results (default 10, at most 100).
    #[serde(default)]
    pub k: Option<usize>,
    /// Only packets of these kinds (e.g. `note`, `decision`, `l9.run.result`).
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// `memory_put`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryPut {
    /// What to remember, in plain words (it is indexed for search).
    pub text: String,
    /// The packet's kind (default `note`; e.g. `decision`, `fact`, `todo`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Structured data to keep with it.
    #[serde(default)]
    pub body: Option<Value>,
    /// Ids of packets this one derives from (its lineage).
    #[serde(default)]
    pub parents: Vec<String>,
}

/// `run_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStatus {
    /// A run id (or a unique prefix of one); without it, the latest runs.
    #[serde(default)]
    pub run: Option<String>,
    /// How many runs to list when no run is given (default 20).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `run_show`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunShow {
    /// A run id (or a unique prefix of one).
    pub run: String,
}

/// `task_approve` and `task_reject`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decide {
    /// The id (or a unique prefix) of the task waiting for an answer: an approval gate
    /// or an escalation (`run_show` lists them under `events`), or a run whose plan has
    /// tasks at approval gates (`run_show` lists them under `approval_gates`).
    pub task: String,
    /// Why, kept with the answer.
    #[serde(default)]
    pub note: Option<String>,
    /// For a run (or its plan): only this plan task's approval gate (e.g.
    /// `implement:storage`), not every one that waits.
    #[serde(default)]
    pub gate: Option<String>,
}

/// `world_query`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorldQuery {
    /// What the world model should know about (a task, a component, a failure).
    pub query: String,
    /// How many items (default 10, at most 100).
    #[serde(default)]
    pub k: Option<usize>,
}

/// `ir_check`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IrCheck {
    /// The spec's text.
    pub text: String,
    /// A file name telling its format: `spec.md` (default), `api.yaml` (OpenAPI),
    /// `x.feature` (Gherkin).
    #[serde(default)]
    pub name: Option<String>,
}

struct Def {
    name: &'static str,
    description: &'static str,
    schema: fn() -> Arc<JsonObject>,
    read_only: bool,
}

fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_input::<T>()
        .unwrap_or_else(|_| rmcp::handler::server::common::schema_for_type::<T>())
}

const DEFS: &[Def] = &[
    Def {
        name: "memory_search",
        description: "Search L9's memory (every spec, plan, decision, gate result and note it \
            has kept) by keywords and meaning; returns the best packets with their text.",
        schema: schema::<MemorySearch>,
        read_only: true,
    },
    Def {
        name: "memory_put",
        description: "Remember something in L9's memory (a note, a decision, a fact), \
            optionally derived from other packets; returns the stored packet's id.",
        schema: schema::<MemoryPut>,
        read_only: false,
    },
    Def {
        name: "run_spec",
        description: "Start an L9 run of a spec (a file of the project or the spec's text): \
            L9 compiles it, plans, executes the plan with coding agents, runs the tests and \
            merges. Returns the run id at once; a worker (`l9 worker` or `l9 serve --worker`) \
            does the work. Follow it with run_status and run_show.",
        schema: schema::<l9_engine::surface::RunStart>,
        read_only: false,
    },
    Def {
        name: "run_status",
        description: "The state of one run (queued, running, waiting, succeeded, failed, \
            cancelled), or of the latest runs when no run is given.",
        schema: schema::<RunStatus>,
        read_only: true,
    },
    Def {
        name: "run_show",
        description: "Everything about one run: stages, simulation, plan tasks and their \
            states, gate results, evidence per requirement, lineage, cost and events.",
        schema: schema::<RunShow>,
        read_only: true,
    },
    Def {
        name: "task_approve",
        description: "Approve what a task waits for (an approval gate or an escalation); \
            the run continues.",
        schema: schema::<Decide>,
        read_only: false,
    },
    Def {
        name: "task_reject",
        description: "Reject what a task waits for (an approval gate or an escalation); \
            the task fails with the note as its reason.",
        schema: schema::<Decide>,
        read_only: false,
    },
    Def {
        name: "world_query",
        description: "What L9's world model holds about a subject: learned rules, failure \
            causes, task priors and constraints, best first, each with its validity.",
        schema: schema::<WorldQuery>,
        read_only: true,
    },
    Def {
        name: "ir_check",
        description: "Compile a spec's text into L9's typed IR and challenge it: returns \
            the requirements, the findings (ambiguities, conflicts, missing acceptance \
            criteria) and the errors, each with what to do.",
        schema: schema::<IrCheck>,
        read_only: true,
    },
];

/// Every tool, as `tools/list` gives them.
pub fn list() -> Vec<Tool> {
    DEFS.iter()
        .map(|d| {
            Tool::new(d.name, d.description, (d.schema)()).annotate(
                ToolAnnotations::new()
                    .read_only(d.read_only)
                    .destructive(false)
                    .open_world(d.name == "run_spec"),
            )
        })
        .collect()
}

/// Whether `name` is one of the tools.
pub fn known(name: &str) -> bool {
    DEFS.iter().any(|d| d.name == name)
}

fn args<T: serde::de::DeserializeOwned>(tool: &str, a: Value) -> Result<T, String> {
    serde_json::from_value(a).map_err(|e| format!("{tool}: {e} (see the tool's input schema)"))
}

fn packet_id(s: &str) -> Result<PacketId, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a packet id (a UUID like those memory_search returns)"))
}

/// Answers a call of the tool `name` (known) with `a`. `call` is the packet remembering the
/// call: what the tool stores derives from it.
pub async fn call(e: &Engine, name: &str, a: Value, call: PacketId) -> Result<Value, String> {
    let err = |x: l9_engine::EngineError| x.to_string();
    match name {
        "memory_search" => {
            let q: MemorySearch = args(name, a)?;
            let query = l9_engine::SearchQuery {
                text: q.query,
                filter: l9_engine::PacketFilter { kinds: q.kinds, ..Default::default() },
                k: q.k.unwrap_or(10).clamp(1, 100),
                mode: l9_engine::SearchMode::Hybrid,
            };
            let hits = e.memory().search(&query).await.map_err(|x| x.to_string())?;
            let mut out = Vec::new();
            for h in hits {
                if let Some(p) = e.memory().get(h.id).await.map_err(|x| x.to_string())? {
                    out.push(json!({
                        "id": p.id.to_string(), "kind": p.kind, "score": h.score,
                        "text": p.text, "at": p.at, "run": p.run_id,
                        "uri": format!("l9://packet/{}", p.id),
                    }));
                }
            }
            Ok(json!({"hits": out}))
        }
        "memory_put" => {
            let p: MemoryPut = args(name, a)?;
            let kind = p.kind.unwrap_or_else(|| "note".into());
            if let Some(why) = l9_engine::quarantine::refuse_external_kind(&kind) {
                return Err(why);
            }
            let mut d = PacketDraft::new(kind).text(p.text).actor("mcp").parent(call);
            if let Some(b) = p.body {
                d = d.body(b);
            }
            for parent in &p.parents {
                d = d.parent(packet_id(parent)?);
            }
            let stored = e.memory().put(d, vec![]).await.map_err(|x| x.to_string())?;
            Ok(json!({"id": stored.id.to_string(), "uri": format!("l9://packet/{}", stored.id)}))
        }
        "run_spec" => {
            let r: l9_engine::surface::RunStart = args(name, a)?;
            let id = e.start_run_from(&r).await.map_err(err)?;
            Ok(json!({"run": id.to_string(), "state": "queued", "uri": format!("l9://run/{id}")}))
        }
        "run_status" => {
            let r: RunStatus = args(name, a)?;
            match r.run {
                Some(run) => {
                    let id = e.resolve_id(&run, IdScope::Runs).await.map_err(err)?;
                    e.run_row(id).await.map_err(err)
                }
                None => Ok(json!({"runs": e
                    .run_rows(r.limit.unwrap_or(20).clamp(1, 1000))
                    .await
                    .map_err(err)?})),
            }
        }
        "run_show" => {
            let r: RunShow = args(name, a)?;
            let id = e.resolve_id(&r.run, IdScope::Runs).await.map_err(err)?;
            e.run_view(id).await.map_err(err)
        }
        "task_approve" | "task_reject" => {
            let d: Decide = args(name, a)?;
            let id = e.resolve_id(&d.task, IdScope::Tasks).await.map_err(err)?;
            let approved = name == "task_approve";
            let r =
                e.decide(id, approved, d.note.as_deref(), d.gate.as_deref()).await.map_err(err)?;
            Ok(
                json!({"task": id.to_string(), "approved": approved, "answered": r.answered, "gates": r.gates}),
            )
        }
        "world_query" => {
            let q: WorldQuery = args(name, a)?;
            let items = e
                .world_query(&q.query, q.k.unwrap_or(10).clamp(1, 100), None)
                .await
                .map_err(err)?;
            Ok(json!({"items": items}))
        }
        "ir_check" => {
            let c: IrCheck = args(name, a)?;
            let file = c.name.unwrap_or_else(|| "spec.md".into());
            if file.contains('/') || file.contains("..") {
                return Err("name is a file name (spec.md, api.yaml, x.feature), not a path".into());
            }
            let classifier = e.spec_classifier().map_err(err)?;
            let checked = l9_engine::ir::check_text_with(&file, &c.text, &classifier);
            Ok(
                json!({"ir": checked.ir(), "findings": checked.findings, "errors": checked.errors()}),
            )
        }
        other => Err(format!("no tool {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_tool_has_an_object_schema_with_described_properties() {
        let tools = super::list();
        assert_eq!(tools.len(), 9);
        for t in tools {
            let s = t.schema_as_json_value();
            assert_eq!(s["type"], "object", "{}", t.name);
            assert!(s["properties"].is_object(), "{}: {s}", t.name);
            for (k, v) in s["properties"].as_object().unwrap() {
                assert!(v.get("description").is_some(), "{}.{k} has no description", t.name);
            }
        }
    }
}
