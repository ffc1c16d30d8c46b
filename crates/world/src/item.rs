//! World-model items: what they are, where they came from, and a small relevance query.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pack {
    Pattern,
    Heuristic,
    Reflection,
    TaskKind,
    Relation,
    /// Constraints a spec did not state that runs discovered (learned, not seeded).
    Constraint,
}

impl Pack {
    pub const ALL: [Pack; 6] = [
        Pack::Pattern,
        Pack::Heuristic,
        Pack::Reflection,
        Pack::TaskKind,
        Pack::Relation,
        Pack::Constraint,
    ];

    /// The packet kind items of this pack are stored under.
    pub fn packet_kind(self) -> &'static str {
        match self {
            Pack::Pattern => "world.pattern",
            Pack::Heuristic => "world.heuristic",
            Pack::Reflection => "world.reflection",
            Pack::TaskKind => "world.task_kind",
            Pack::Relation => "world.relation",
            Pack::Constraint => "world.constraint",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pack::Pattern => "architectural patterns",
            Pack::Heuristic => "coding heuristics",
            Pack::Reflection => "reflections",
            Pack::TaskKind => "task kinds",
            Pack::Relation => "task relations",
            Pack::Constraint => "hidden constraints",
        }
    }
}

/// One item. `body` is the pack entry as written; `source` says where it came from (`seed`,
/// or `run <id>` for what a run learned). When it holds (valid time) and when L9 learned it
/// (record time) live on the item's entity in the knowledge graph, not here: items are
/// immutable, their validity is not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub pack: Pack,
    pub title: String,
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub body: Value,
    pub source: String,
    /// Where in the code it applies, when it came from a run (a file and the commit that
    /// was current when it was learned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Anchor>,
}

/// A code anchor: a path in the repository and, optionally, the commit it refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl Item {
    pub fn new(
        id: &str,
        pack: Pack,
        title: &str,
        text: &str,
        tags: Vec<String>,
        body: Value,
    ) -> Self {
        Item {
            id: id.into(),
            pack,
            title: title.into(),
            text: text.into(),
            tags,
            body,
            source: "seed".into(),
            anchor: None,
        }
    }
}

fn terms(s: &str) -> BTreeSet<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 3)
        .map(|w| {
            let w = w.to_lowercase();
            w.strip_suffix('s').filter(|b| b.len() >= 3).map(str::to_string).unwrap_or(w)
        })
        .collect()
}

/// The items most relevant to `context` by shared rare terms (title and tags count double).
/// A fallback when the memory substrate's hybrid search is not at hand.
pub fn relevant<'a>(items: &'a [Item], context: &str, k: usize) -> Vec<(f64, &'a Item)> {
    let q = terms(context);
    let docs: Vec<(BTreeSet<String>, BTreeSet<String>)> = items
        .iter()
        .map(|i| (terms(&i.text), terms(&format!("{} {}", i.title, i.tags.join(" ")))))
        .collect();
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for (t, h) in &docs {
        for w in t.union(h) {
            *df.entry(w.as_str()).or_default() += 1;
        }
    }
    let n = items.len().max(1) as f64;
    let mut scored: Vec<(f64, &Item)> = items
        .iter()
        .zip(&docs)
        .map(|(item, (t, h))| {
            let s: f64 = q
                .iter()
                .map(|w| {
                    let idf =
                        (n / (1.0 + *df.get(w.as_str()).unwrap_or(&0) as f64)).ln().max(0.0) + 0.1;
                    idf * (f64::from(u8::from(t.contains(w)))
                        + 2.0 * f64::from(u8::from(h.contains(w))))
                })
                .sum();
            (s, item)
        })
        .filter(|(s, _)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
    scored.truncate(k);
    scored
}
