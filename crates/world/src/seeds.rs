//! The four seed packs (`seeds/*.yaml`): typed schemas, and a loader that reports every bad
//! entry with file, line and what to fix. The packs ship inside the binary (`BUILTIN`).

use std::collections::BTreeSet;

use l9_types::{Diagnostic, Span};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::item::{Item, Pack};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    pub id: String,
    pub name: String,
    pub context: String,
    pub forces: Vec<String>,
    pub solution: String,
    pub consequences: Vec<String>,
    pub applies_when: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heuristic {
    pub id: String,
    pub rule: String,
    pub why: String,
    pub applies_to: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reflection {
    pub id: String,
    pub signature: String,
    pub context: String,
    pub lesson: String,
    pub fix: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Minutes {
    pub median: f64,
    pub p90: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetaPrior {
    pub alpha: f64,
    pub beta: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskKind {
    pub kind: String,
    pub description: String,
    pub duration_minutes: Minutes,
    pub failure: BetaPrior,
    pub tokens_per_point: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relation {
    pub from: String,
    pub to: String,
    pub relation: String,
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternsFile {
    patterns: Vec<Pattern>,
}
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeuristicsFile {
    heuristics: Vec<Heuristic>,
}
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReflectionsFile {
    reflections: Vec<Reflection>,
}
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphFile {
    task_kinds: Vec<TaskKind>,
    relations: Vec<Relation>,
}

/// The packs compiled into the binary: (file name, text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("architectural_patterns.yaml", include_str!("../../../seeds/architectural_patterns.yaml")),
    ("coding_heuristics.yaml", include_str!("../../../seeds/coding_heuristics.yaml")),
    ("reflection_memory.yaml", include_str!("../../../seeds/reflection_memory.yaml")),
    ("cross_task_graph.yaml", include_str!("../../../seeds/cross_task_graph.yaml")),
];

/// The line on which `needle` first appears (1-based), for messages.
fn line_of(text: &str, needle: &str) -> u32 {
    text.find(needle).map_or(1, |p| u32::try_from(text[..p].lines().count().max(1)).unwrap_or(1))
}

struct Check<'a> {
    file: &'a str,
    text: &'a str,
    diags: Vec<Diagnostic>,
    ids: BTreeSet<String>,
}

impl Check<'_> {
    fn bad(&mut self, needle: &str, msg: String, help: &str) {
        let line = line_of(self.text, needle);
        self.diags.push(
            Diagnostic::error("L9-SEED-002", msg)
                .with_span(Span::line(self.file, line))
                .with_help(help.to_string()),
        );
    }

    fn id(&mut self, id: &str, prefix: &str) {
        let ok = id
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if !ok {
            self.bad(
                &format!("id: {id}"),
                format!("id {id:?} should look like {prefix}-NNN"),
                "use the pack's prefix and a number",
            );
        }
        if !self.ids.insert(id.to_string()) {
            let needle = format!("id: {id}");
            let second = self.text.match_indices(&needle).nth(1).map(|(p, _)| p).unwrap_or(0);
            let line = u32::try_from(self.text[..second].lines().count().max(1)).unwrap_or(1);
            self.diags.push(
                Diagnostic::error("L9-SEED-003", format!("id {id} is used twice"))
                    .with_span(Span::line(self.file, line))
                    .with_help("give every entry its own id"),
            );
        }
    }

    fn text(&mut self, id: &str, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.bad(
                &format!("id: {id}"),
                format!("{id}: `{field}` is empty"),
                "write what the field asks for (see the schema at the top of the file)",
            );
        }
    }

    fn list(&mut self, id: &str, field: &str, value: &[String]) {
        if value.is_empty() || value.iter().any(|v| v.trim().is_empty()) {
            self.bad(
                &format!("id: {id}"),
                format!("{id}: `{field}` needs at least one non-empty entry"),
                "list the entries in [brackets] or as `- item` lines",
            );
        }
    }
}

/// Parses and validates one pack. All problems are reported, each with file and line.
pub fn load(file: &str, text: &str) -> Result<Vec<Item>, Vec<Diagnostic>> {
    let yaml_err = |e: yaml_serde::Error| {
        vec![
            Diagnostic::error("L9-SEED-001", format!("not a valid seed pack: {e}"))
                .with_span(Span::line(
                    file,
                    e.location().map_or(1, |l| u32::try_from(l.line()).unwrap_or(1)),
                ))
                .with_help("compare with the schema comment at the top of the file"),
        ]
    };
    let base = file.rsplit('/').next().unwrap_or(file);
    let mut c = Check { file, text, diags: Vec::new(), ids: BTreeSet::new() };
    let mut items = Vec::new();
    match base {
        "architectural_patterns.yaml" => {
            let f: PatternsFile = yaml_serde::from_str(text).map_err(yaml_err)?;
            for p in f.patterns {
                c.id(&p.id, "AP");
                for (k, v) in
                    [("name", &p.name), ("context", &p.context), ("solution", &p.solution)]
                {
                    c.text(&p.id, k, v);
                }
                for (k, v) in [
                    ("forces", &p.forces),
                    ("consequences", &p.consequences),
                    ("applies_when", &p.applies_when),
                ] {
                    c.list(&p.id, k, v);
                }
                let text = format!(
                    "{}. Context: {} Solution: {} When: {}",
                    p.name,
                    p.context,
                    p.solution,
                    p.applies_when.join("; ")
                );
                items.push(Item::new(
                    &p.id,
                    Pack::Pattern,
                    &p.name,
                    &text,
                    p.tags.clone(),
                    json!(p),
                ));
            }
        }
        "coding_heuristics.yaml" => {
            let f: HeuristicsFile = yaml_serde::from_str(text).map_err(yaml_err)?;
            for h in f.heuristics {
                c.id(&h.id, "CH");
                c.text(&h.id, "rule", &h.rule);
                c.text(&h.id, "why", &h.why);
                c.list(&h.id, "applies_to", &h.applies_to);
                let text = format!("{} Why: {}", h.rule, h.why);
                items.push(Item::new(
                    &h.id,
                    Pack::Heuristic,
                    &h.rule,
                    &text,
                    h.tags.clone(),
                    json!(h),
                ));
            }
        }
        "reflection_memory.yaml" => {
            let f: ReflectionsFile = yaml_serde::from_str(text).map_err(yaml_err)?;
            for r in f.reflections {
                c.id(&r.id, "RM");
                for (k, v) in [
                    ("signature", &r.signature),
                    ("context", &r.context),
                    ("lesson", &r.lesson),
                    ("fix", &r.fix),
                ] {
                    c.text(&r.id, k, v);
                }
                let text = format!(
                    "{} Context: {} Lesson: {} Fix: {}",
                    r.signature, r.context, r.lesson, r.fix
                );
                items.push(Item::new(
                    &r.id,
                    Pack::Reflection,
                    &r.signature,
                    &text,
                    r.tags.clone(),
                    json!(r),
                ));
            }
        }
        "cross_task_graph.yaml" => {
            let f: GraphFile = yaml_serde::from_str(text).map_err(yaml_err)?;
            let kinds: BTreeSet<String> = f.task_kinds.iter().map(|k| k.kind.clone()).collect();
            for k in &f.task_kinds {
                let needle = format!("kind: {}", k.kind);
                if !(k.duration_minutes.median > 0.0
                    && k.duration_minutes.p90 >= k.duration_minutes.median)
                {
                    c.bad(
                        &needle,
                        format!("task kind {}: duration_minutes needs 0 < median <= p90", k.kind),
                        "give minutes per size point",
                    );
                }
                if !(k.failure.alpha > 0.0 && k.failure.beta > 0.0) {
                    c.bad(
                        &needle,
                        format!("task kind {}: failure alpha and beta must be positive", k.kind),
                        "e.g. { alpha: 2, beta: 8 } for a 20% failure rate",
                    );
                }
                c.text(&k.kind, "description", &k.description);
                items.push(Item::new(
                    &format!("TK-{}", k.kind),
                    Pack::TaskKind,
                    &k.kind,
                    &k.description,
                    Vec::new(),
                    json!(k),
                ));
            }
            for (i, r) in f.relations.iter().enumerate() {
                for end in [&r.from, &r.to] {
                    if !kinds.contains(end) {
                        c.bad(
                            &format!("from: {}", r.from),
                            format!("relation {}: unknown task kind {end:?}", i + 1),
                            "use a kind listed under task_kinds",
                        );
                    }
                }
                if !["precedes", "verifies", "reviews", "feeds"].contains(&r.relation.as_str()) {
                    c.bad(
                        &format!("relation: {}", r.relation),
                        format!(
                            "relation {}: {:?} is not one of precedes, verifies, reviews, feeds",
                            i + 1,
                            r.relation
                        ),
                        "pick one of the four relations",
                    );
                }
                let text = format!("{} {} {}: {}", r.from, r.relation, r.to, r.note);
                items.push(Item::new(
                    &format!("TR-{}-{}-{}", r.from, r.relation, r.to),
                    Pack::Relation,
                    &format!("{} {} {}", r.from, r.relation, r.to),
                    &text,
                    Vec::new(),
                    json!(r),
                ));
            }
        }
        _ => {
            return Err(vec![Diagnostic::error("L9-SEED-004", format!("unknown seed pack {base}"))
                .with_span(Span::line(file, 1))
                .with_help("packs are architectural_patterns.yaml, coding_heuristics.yaml, reflection_memory.yaml, cross_task_graph.yaml")]);
        }
    }
    if c.diags.is_empty() { Ok(items) } else { Err(c.diags) }
}

/// Loads the packs compiled into the binary.
pub fn builtin() -> Result<Vec<Item>, Vec<Diagnostic>> {
    let mut all = Vec::new();
    let mut diags = Vec::new();
    for (file, text) in BUILTIN {
        match load(&format!("seeds/{file}"), text) {
            Ok(items) => all.extend(items),
            Err(d) => diags.extend(d),
        }
    }
    if diags.is_empty() { Ok(all) } else { Err(diags) }
}

/// The task kinds of the cross-task graph (for the simulator's priors).
pub fn task_kinds(items: &[Item]) -> Vec<TaskKind> {
    items
        .iter()
        .filter(|i| i.pack == Pack::TaskKind)
        .filter_map(|i| serde_json::from_value::<TaskKind>(i.body.clone()).ok())
        .collect()
}

/// Relevance scores need the raw value of a field sometimes.
pub fn field<'a>(item: &'a Item, key: &str) -> Option<&'a Value> {
    item.body.get(key)
}
