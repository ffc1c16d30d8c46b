//! The loop's typed values: what `l9 run` asks for ([`RunRequest`]), what each stage hands
//! the next and journals ([`Understood`], [`Simulated`], [`Recalled`], [`Reflected`]), and
//! what a run returns ([`RunReport`]). The pipeline writes these, the report and the event
//! follower read them: renaming a field breaks the build, not the output. Their JSON is the
//! journal's (runs recorded before these types read back the same).

use std::collections::BTreeMap;

use l9_ir::plan::PlanCandidate;
use l9_types::Severity;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What `l9 run` (or the HTTP API) asks the loop to do: the `l9.run` workflow's payload.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunRequest {
    /// The spec's path.
    pub spec: String,
    /// The repository to change (none: only the deterministic stages run).
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub adapter: Option<String>,
    #[serde(default)]
    pub scenario: Option<String>,
    /// The example's scripted provider (`provider.yaml` next to the spec), used when no
    /// provider is configured.
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default = "trials")]
    pub trials: u32,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub budget: l9_kernel::Budget,
    /// `l9 retry`: the run this one retries, and the plan tasks it finished (name → result),
    /// which the plan counts as done.
    #[serde(default)]
    pub retry_of: Option<String>,
    #[serde(default)]
    pub keep: serde_json::Map<String, Value>,
    /// `l9 run --no-learn`: record the run without learning from it.
    #[serde(default)]
    pub no_learn: bool,
}

fn trials() -> u32 {
    1000
}

/// A finding as the run keeps it (all of them: `l9 ir check SPEC`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingLine {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    #[serde(default)]
    pub line: Option<u32>,
    #[serde(default)]
    pub fix: String,
}

/// A plan candidate and the MUST requirements it leaves uncovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub plan: PlanCandidate,
    #[serde(default)]
    pub uncovered: Vec<String>,
}

/// A constraint an earlier run learned, and the word that makes it apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    #[serde(default)]
    pub trigger: Option<String>,
    pub text: String,
    /// The world-model item it comes from (runs recorded before 2026-12 have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// compile → challenge → deliberate → plan candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Understood {
    /// The IR's packet (its parent is the spec's).
    pub ir_packet: String,
    pub nodes: usize,
    pub requirements: usize,
    pub findings: usize,
    /// The findings `l9 show` lists: the most severe, a few of each code.
    #[serde(default)]
    pub finding_list: Vec<FindingLine>,
    /// How many findings of each code.
    #[serde(default)]
    pub finding_codes: BTreeMap<String, usize>,
    pub errors: usize,
    pub hidden_constraints: usize,
    pub amendments: usize,
    pub settled: bool,
    /// The questions the deliberation asked (`ID text`): each answers its finding for the
    /// deliberation and stays open for a person.
    #[serde(default)]
    pub questions: Vec<String>,
    pub candidates: Vec<Candidate>,
    /// What the coder reads: node id → statement (requirements, constraints, criteria,
    /// interfaces, and the open questions an approval gate shows).
    #[serde(default)]
    pub texts: BTreeMap<String, String>,
    #[serde(default)]
    pub learned: Vec<Learned>,
    /// The spec's runnable acceptance gates and what each checks.
    #[serde(default)]
    pub acceptance: Vec<AcceptanceGate>,
    /// The MUST requirements: a run succeeds only with passing evidence for each.
    #[serde(default)]
    pub musts: Vec<String>,
    /// The requirement classifier that read the spec and the features it used.
    #[serde(default)]
    pub classifier: Option<String>,
}

/// A runnable acceptance gate of the spec: its criterion, its command and the requirements
/// it verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptanceGate {
    pub criterion: String,
    pub command: String,
    #[serde(default)]
    pub requirements: Vec<String>,
}

/// One gate run on a run's result in a clean checkout: stored as an evidence packet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The evidence packet (in the run's lineage).
    #[serde(default)]
    pub packet: Option<String>,
    /// `acceptance` (a gate of the spec) or `project test` (the repository's own command).
    pub source: String,
    pub command: String,
    /// The acceptance criteria whose gate this is.
    #[serde(default)]
    pub criteria: Vec<String>,
    /// The requirements it is evidence for.
    #[serde(default)]
    pub requirements: Vec<String>,
    pub exit_code: Option<i32>,
    pub passed: bool,
    /// The end of its output.
    pub tail: String,
    /// The commit it ran on.
    pub commit: String,
}

/// What `verify` found: evidence per MUST requirement, and whether the result was delivered
/// to the user's branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    /// The commit verified (the tip of the run's integration branch).
    pub commit: String,
    pub evidence: Vec<Evidence>,
    /// MUST requirement → indexes into `evidence`.
    pub requirements: BTreeMap<String, Vec<usize>>,
    /// MUST requirements without passing evidence.
    #[serde(default)]
    pub unproven: Vec<String>,
    /// Where the verified result went: `{"branch", "how", "commit"}`.
    #[serde(default)]
    pub delivered: Option<Value>,
    /// The design records the run wrote, stored as `design` packets: `{"path", "packet"}`.
    #[serde(default)]
    pub designs: Vec<Value>,
    /// The repository's test command found by its files but not run, and why (its program
    /// is not installed here): no evidence either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_not_run: Option<String>,
}

/// Every candidate simulated with the learned priors, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulated {
    /// The priors' version (`seeds-…+N`).
    pub priors: String,
    pub ranked: Vec<l9_sim::Ranked>,
}

impl Simulated {
    /// The chosen candidate's forecast.
    pub fn forecast(&self) -> Option<&l9_sim::Metrics> {
        self.ranked.first().map(|r| &r.metrics)
    }
}

/// A heuristic or reflection shown to a coding task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    pub id: String,
    pub title: String,
}

/// The coder chosen among several by their success rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub rates: BTreeMap<String, f64>,
}

/// The chosen plan stored, insights recalled per coding task, the coder routed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recalled {
    pub plan_packet: String,
    #[serde(default)]
    pub insights: BTreeMap<String, Vec<Insight>>,
    #[serde(default)]
    pub route: Option<Route>,
    /// Per coding task: what the repository's ingested history says about the files it
    /// names (fragile files, files that change with them).
    #[serde(default)]
    pub history: BTreeMap<String, Vec<String>>,
    /// Per coding task: the repo map, leaning towards what the task names.
    #[serde(default)]
    pub maps: BTreeMap<String, String>,
    /// Coding tasks that could run in parallel but are predicted to touch the same files:
    /// the later one waits for the earlier one.
    #[serde(default)]
    pub collisions: Vec<l9_ingest::conflict::Collision>,
}

/// What the run taught the world model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reflected {
    pub deltas: usize,
    pub items_learned: usize,
    pub coding_tasks: u32,
    pub first_gate_failed: u32,
    pub change_failure_rate: Option<f64>,
    pub time_to_restore_minutes: Option<f64>,
    pub restores: usize,
    pub insight_votes: u32,
    pub causal_edges: u32,
    #[serde(default)]
    pub merged: Vec<String>,
    /// Failures that were not outcomes of real work (configuration, infrastructure, agent
    /// errors): `{"task", "class", "message"}`; they taught nothing.
    #[serde(default)]
    pub not_learned: Vec<Value>,
    /// `l9 run --no-learn`: the run was recorded, nothing was learned.
    #[serde(default)]
    pub learning_off: bool,
    /// The kind of executor that did the work (`model`, `scripted`, `agent`).
    #[serde(default)]
    pub executor_kind: Option<String>,
}

/// DORA figures of the run next to their forecasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dora {
    pub lead_time_minutes: f64,
    pub forecast_lead_time_h: Option<f64>,
    pub change_failure_rate: Option<f64>,
    pub time_to_restore_minutes: Option<f64>,
    pub forecast_change_failure_rate: Option<f64>,
    #[serde(default)]
    pub merged: Vec<String>,
}

/// What a run returns (its task's result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub spec: String,
    pub stages: Understood,
    pub simulation: Simulated,
    pub chosen: String,
    pub forecast: Option<l9_sim::Metrics>,
    pub plan_packet: String,
    #[serde(default)]
    pub route: Option<Route>,
    /// `succeeded`, `failed`, or `planned (…)` for a run without a repository.
    pub outcome: String,
    /// The plan's own result (its tasks' statuses, what it spent, its log).
    #[serde(default)]
    pub execution: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub learned: Option<Reflected>,
    #[serde(default)]
    pub dora: Option<Dora>,
    /// The verify step's evidence (evidence-gated done).
    #[serde(default)]
    pub verified: Option<Verified>,
}

/// Reads a journaled stage value back as its type (`None`: absent or of another shape).
pub fn read<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
    serde_json::from_value(v.clone()).ok()
}
