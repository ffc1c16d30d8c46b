//! The IR graph: nodes, edges, and the small typed details some node kinds carry.

use std::collections::BTreeMap;

use l9_types::Span;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bumped when the JSON shape changes incompatibly; `schema/ir.schema.json` is regenerated
/// from these types and a test fails when the checked-in copy drifts.
pub const IR_VERSION: u32 = 1;

/// A compiled spec: what it came from, the nodes, the edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ir {
    pub version: u32,
    pub source: SourceInfo,
    /// Which classifier labelled the requirements, and its features (`learned: word 1-2
    /// grams, lexicon cues and shapes …; trained on … (data <blake3>)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<String>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceInfo {
    /// The name the caller gave (usually the path).
    pub file: String,
    pub format: Format,
    /// blake3 of the source bytes, hex.
    pub hash: String,
    pub bytes: usize,
}

/// Input formats the compiler understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Markdown,
    Rfc,
    Gherkin,
    Openapi,
    Prose,
    Rst,
    Asciidoc,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Markdown,
        Format::Rfc,
        Format::Gherkin,
        Format::Openapi,
        Format::Prose,
        Format::Rst,
        Format::Asciidoc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Markdown => "markdown",
            Format::Rfc => "rfc",
            Format::Gherkin => "gherkin",
            Format::Openapi => "openapi",
            Format::Prose => "prose",
            Format::Rst => "rst",
            Format::Asciidoc => "asciidoc",
        }
    }

    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name.to_ascii_lowercase())
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Goal,
    Requirement,
    Constraint,
    Component,
    Interface,
    AcceptanceCriterion,
    Assumption,
    Question,
    Risk,
    NonGoal,
}

impl NodeKind {
    pub const ALL: [NodeKind; 10] = [
        NodeKind::Goal,
        NodeKind::Requirement,
        NodeKind::Constraint,
        NodeKind::Component,
        NodeKind::Interface,
        NodeKind::AcceptanceCriterion,
        NodeKind::Assumption,
        NodeKind::Question,
        NodeKind::Risk,
        NodeKind::NonGoal,
    ];

    /// Prefix of generated ids (`REQ-3f2a91c0`).
    pub fn prefix(self) -> &'static str {
        match self {
            NodeKind::Goal => "GOAL",
            NodeKind::Requirement => "REQ",
            NodeKind::Constraint => "CON",
            NodeKind::Component => "CMP",
            NodeKind::Interface => "IF",
            NodeKind::AcceptanceCriterion => "AC",
            NodeKind::Assumption => "ASM",
            NodeKind::Question => "Q",
            NodeKind::Risk => "RISK",
            NodeKind::NonGoal => "NG",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Goal => "goal",
            NodeKind::Requirement => "requirement",
            NodeKind::Constraint => "constraint",
            NodeKind::Component => "component",
            NodeKind::Interface => "interface",
            NodeKind::AcceptanceCriterion => "acceptance criterion",
            NodeKind::Assumption => "assumption",
            NodeKind::Question => "question",
            NodeKind::Risk => "risk",
            NodeKind::NonGoal => "non-goal",
        }
    }
}

/// RFC 2119 / 8174 strength. `Required` and `Shall` fold into `Must`; `Recommended` into
/// `Should`; `Optional` into `May`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    Must,
    MustNot,
    Should,
    ShouldNot,
    May,
}

impl Strength {
    pub fn is_mandatory(self) -> bool {
        matches!(self, Strength::Must | Strength::MustNot)
    }
}

/// Functional or quality; quality requirements carry a PROMISE category.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReqClass {
    Functional,
    Quality,
}

/// The PROMISE NFR categories.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum QualityCategory {
    Availability,
    FaultTolerance,
    Legal,
    LookAndFeel,
    Maintainability,
    Operational,
    Performance,
    Portability,
    Scalability,
    Security,
    Usability,
}

impl QualityCategory {
    pub const ALL: [QualityCategory; 11] = [
        QualityCategory::Availability,
        QualityCategory::FaultTolerance,
        QualityCategory::Legal,
        QualityCategory::LookAndFeel,
        QualityCategory::Maintainability,
        QualityCategory::Operational,
        QualityCategory::Performance,
        QualityCategory::Portability,
        QualityCategory::Scalability,
        QualityCategory::Security,
        QualityCategory::Usability,
    ];

    /// The PROMISE label (`A`, `FT`, `L`, `LF`, `MN`, `O`, `PE`, `PO`, `SC`, `SE`, `US`).
    pub fn code(self) -> &'static str {
        match self {
            QualityCategory::Availability => "A",
            QualityCategory::FaultTolerance => "FT",
            QualityCategory::Legal => "L",
            QualityCategory::LookAndFeel => "LF",
            QualityCategory::Maintainability => "MN",
            QualityCategory::Operational => "O",
            QualityCategory::Performance => "PE",
            QualityCategory::Portability => "PO",
            QualityCategory::Scalability => "SC",
            QualityCategory::Security => "SE",
            QualityCategory::Usability => "US",
        }
    }

    pub fn from_code(code: &str) -> Option<QualityCategory> {
        QualityCategory::ALL.into_iter().find(|c| c.code() == code.trim())
    }

    pub fn name(self) -> &'static str {
        match self {
            QualityCategory::Availability => "availability",
            QualityCategory::FaultTolerance => "fault tolerance",
            QualityCategory::Legal => "legal",
            QualityCategory::LookAndFeel => "look and feel",
            QualityCategory::Maintainability => "maintainability",
            QualityCategory::Operational => "operational",
            QualityCategory::Performance => "performance",
            QualityCategory::Portability => "portability",
            QualityCategory::Scalability => "scalability",
            QualityCategory::Security => "security",
            QualityCategory::Usability => "usability",
        }
    }
}

/// What the classifier decided and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Classification {
    pub class: ReqClass,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<QualityCategory>,
    /// The features that decided it, strongest first (`"cue:response time"`, `"verb:display"`).
    pub features: Vec<String>,
}

/// One node of the IR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Node {
    /// Stable id: the document's own id (`REQ-12`, `FR-3`) when it has one, otherwise the
    /// kind's prefix and a hash of the kind, the section path and the normalized text.
    pub id: String,
    pub kind: NodeKind,
    /// The statement (or the title for goals, components and interfaces).
    pub text: String,
    /// Headings from the top of the document down to this node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub section: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<Strength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Classification>,
    pub span: Span,
    /// 0..=1: how sure the compiler is that this node is what it says.
    pub confidence: f32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<InterfaceDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioDetail>,
    /// A runnable acceptance gate (shell command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// Set by the deliberation cell on nodes it added by rule.
    #[serde(default, skip_serializing_if = "is_false")]
    pub assumed: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// An HTTP operation from an OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InterfaceDetail {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// Request body schema by name (`User`, `User[]`, `A | B`, `object`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Status → response schema by name (`"-"` when the response has no body).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub responses: BTreeMap<String, String>,
    /// The description marks the operation deprecated (`deprecated: true`): still part of the
    /// contract, on its way out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Parameter {
    pub name: String,
    /// `path`, `query`, `header` or `cookie`.
    #[serde(rename = "in")]
    pub location: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// A Gherkin scenario (or outline) kept step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioDetail {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub background: Vec<Step>,
    pub steps: Vec<Step>,
    /// Scenario Outline examples: header row first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// `Given`, `When`, `Then`, `And`, `But` or `*` (in English, whatever the language of the file).
    pub keyword: String,
    pub text: String,
    /// The step's doc string (`"""` or ```` ``` ```` block), its indentation removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_string: Option<String>,
    /// The step's data table, row by row (`\|` in a cell is a `|`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub table: Vec<Vec<String>>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Refines,
    DependsOn,
    Constrains,
    Verifies,
    Implements,
    ConflictsWith,
    Mitigates,
}

impl EdgeKind {
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Refines => "refines",
            EdgeKind::DependsOn => "depends_on",
            EdgeKind::Constrains => "constrains",
            EdgeKind::Verifies => "verifies",
            EdgeKind::Implements => "implements",
            EdgeKind::ConflictsWith => "conflicts_with",
            EdgeKind::Mitigates => "mitigates",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// Why the edge exists (`explicit id`, `shared terms: login, password`, `same section`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
}

impl Ir {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Each node by id (the first of its id, as [`Ir::node`] finds it): for code that looks
    /// up many nodes, which a scan per lookup would make quadratic in the spec.
    pub fn nodes_by_id(&self) -> std::collections::HashMap<&str, &Node> {
        self.nodes.iter().rev().map(|n| (n.id.as_str(), n)).collect()
    }

    pub fn count(&self, kind: NodeKind) -> usize {
        self.nodes.iter().filter(|n| n.kind == kind).count()
    }

    pub fn edges_from<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.from == id)
    }

    pub fn edges_to<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.to == id)
    }

    /// The JSON Schema of the serialized IR (checked in as `crates/ir/schema/ir.schema.json`).
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Ir)).unwrap_or(serde_json::Value::Null)
    }
}
