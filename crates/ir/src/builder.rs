//! The one place nodes and edges are created: stable ids, spans, and the linking pass every
//! front end shares (explicit id references, `verifies` edges, classification).

use std::collections::{BTreeSet, HashMap, HashSet};

use l9_types::{ContentHash, Diagnostic};

use crate::classify::Classifier;
use crate::model::{
    Edge, EdgeKind, Format, IR_VERSION, InterfaceDetail, Ir, Node, NodeKind, ScenarioDetail,
    SourceInfo, Strength,
};
use crate::text::{self, LineIndex};

/// A node before it has an id.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub(crate) kind: NodeKind,
    pub(crate) text: String,
    pub(crate) section: Vec<String>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) confidence: f32,
    pub(crate) strength: Option<Strength>,
    pub(crate) label: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) interface: Option<InterfaceDetail>,
    pub(crate) scenario: Option<ScenarioDetail>,
    pub(crate) gate: Option<String>,
}

impl Draft {
    pub(crate) fn new(kind: NodeKind, text: impl Into<String>, start: usize, end: usize) -> Self {
        Draft {
            kind,
            text: text.into(),
            section: Vec::new(),
            start,
            end,
            confidence: 0.9,
            strength: None,
            label: None,
            tags: Vec::new(),
            interface: None,
            scenario: None,
            gate: None,
        }
    }

    pub(crate) fn section(mut self, section: &[String]) -> Self {
        self.section = section.to_vec();
        self
    }

    pub(crate) fn confidence(mut self, c: f32) -> Self {
        self.confidence = c;
        self
    }

    pub(crate) fn strength(mut self, s: Option<Strength>) -> Self {
        self.strength = s;
        self
    }

    pub(crate) fn label(mut self, l: Option<String>) -> Self {
        self.label = l;
        self
    }

    pub(crate) fn tags(mut self, t: Vec<String>) -> Self {
        self.tags = t;
        self
    }
}

#[derive(Debug)]
pub(crate) struct Builder<'a> {
    pub(crate) idx: LineIndex<'a>,
    pub(crate) text: &'a str,
    file: &'a str,
    format: Format,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    edge_set: HashSet<(String, String, EdgeKind)>,
    pub(crate) diags: Vec<Diagnostic>,
    ids: HashSet<String>,
    /// For a generated id that was taken, the next suffix to try (every one before it is
    /// taken: ids are never given back), so a text repeated n times costs n tries, not n²/2.
    next_suffix: HashMap<String, u32>,
    /// Nodes whose `verifies` edges the front end already decided.
    linked_acs: HashSet<String>,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str, format: Format) -> Self {
        Builder {
            idx: LineIndex::new(file, text),
            text,
            file,
            format,
            nodes: Vec::new(),
            edges: Vec::new(),
            edge_set: HashSet::new(),
            diags: Vec::new(),
            ids: HashSet::new(),
            next_suffix: HashMap::new(),
            linked_acs: HashSet::new(),
        }
    }

    pub(crate) fn has_id(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    pub(crate) fn diag(&mut self, d: Diagnostic, start: usize, end: usize) {
        let span = self.idx.span(start, end);
        self.diags.push(d.with_span(span));
    }

    pub(crate) fn add(&mut self, d: Draft) -> String {
        let text = text::normalize_ws(&d.text);
        let id = match d.label.clone() {
            Some(label) if !self.ids.contains(&label) => label,
            Some(label) => {
                let span = self.idx.span(d.start, d.end);
                self.diags.push(
                    Diagnostic::error("L9-IR-040", format!("id {label} is used twice"))
                        .with_span(span)
                        .with_help(
                            "give every requirement its own id; the second one got a generated id",
                        ),
                );
                self.generated_id(&d, &text)
            }
            None => self.generated_id(&d, &text),
        };
        self.ids.insert(id.clone());
        self.nodes.push(Node {
            id: id.clone(),
            kind: d.kind,
            text,
            section: d.section,
            strength: d.strength,
            class: None,
            span: self.idx.span(d.start, d.end),
            confidence: d.confidence,
            tags: d.tags,
            interface: d.interface,
            scenario: d.scenario,
            gate: d.gate,
            assumed: false,
        });
        id
    }

    fn generated_id(&mut self, d: &Draft, text: &str) -> String {
        let section = d.section.join("/");
        let root = format!(
            "{}-{}",
            d.kind.prefix(),
            text::short_hash(&[d.kind.name(), &section, &text.to_lowercase()])
        );
        if !self.ids.contains(&root) {
            return root;
        }
        let n = self.next_suffix.entry(root.clone()).or_insert(2);
        loop {
            let id = format!("{root}-{n}");
            *n += 1;
            if !self.ids.contains(&id) {
                return id;
            }
        }
    }

    pub(crate) fn edge(&mut self, from: &str, to: &str, kind: EdgeKind, why: &str) {
        if from == to {
            return;
        }
        if self.edge_set.insert((from.to_string(), to.to_string(), kind)) {
            if kind == EdgeKind::Verifies {
                self.linked_acs.insert(from.to_string());
            }
            self.edges.push(Edge { from: from.into(), to: to.into(), kind, why: why.into() });
        }
    }

    /// Links and classifies, then hands out the IR.
    pub(crate) fn finish(mut self, classifier: &Classifier) -> (Ir, Vec<Diagnostic>) {
        self.link_mentions();
        self.link_acceptance();
        self.link_mitigations();
        let texts: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Requirement)
            .map(|n| n.text.clone())
            .collect();
        let (classes, failed) = classifier.classify_all(&texts);
        let mut classes = classes.into_iter();
        for node in self.nodes.iter_mut().filter(|n| n.kind == NodeKind::Requirement) {
            node.class = classes.next();
        }
        let classifier = match failed {
            Some(why) => {
                self.diags.push(
                    Diagnostic::warning(
                        "L9-IR-041",
                        format!("requirements classified without sentence embeddings: {why}"),
                    )
                    .with_help("check the MiniLM model directory ([memory] local_bert.dir or --embeddings)"),
                );
                Classifier::default()
            }
            None => classifier.clone(),
        };
        let ir = Ir {
            version: IR_VERSION,
            source: SourceInfo {
                file: self.file.to_string(),
                format: self.format,
                hash: ContentHash::of_bytes(self.text.as_bytes()).to_hex(),
                bytes: self.text.len(),
            },
            classifier: Some(classifier.describe()),
            nodes: self.nodes,
            edges: self.edges,
        };
        (ir, self.diags)
    }

    /// `REQ-3` mentioned in a node's text: acceptance criteria verify it, others depend on it.
    fn link_mentions(&mut self) {
        let mut new = Vec::new();
        for n in &self.nodes {
            for (s, e) in text::explicit_ids(&n.text) {
                let target = &n.text[s..e];
                if target != n.id && self.ids.contains(target) {
                    let kind = if n.kind == NodeKind::AcceptanceCriterion {
                        EdgeKind::Verifies
                    } else {
                        EdgeKind::DependsOn
                    };
                    new.push((n.id.clone(), target.to_string(), kind));
                }
            }
        }
        for (from, to, kind) in new {
            self.edge(&from, &to, kind, "explicit id");
        }
    }

    /// Acceptance criteria without an explicit target verify the requirements they share
    /// terms with (same section first), or else every requirement of their section.
    fn link_acceptance(&mut self) {
        let reqs: Vec<(String, Vec<String>, BTreeSet<String>)> = self
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Requirement)
            .map(|n| (n.id.clone(), n.section.clone(), text::content_terms(&n.text)))
            .collect();
        if reqs.is_empty() {
            return;
        }
        let mut new = Vec::new();
        let mut df: HashMap<&str, usize> = HashMap::new();
        for (_, _, terms) in &reqs {
            for t in terms {
                *df.entry(t.as_str()).or_default() += 1;
            }
        }
        for ac in self.nodes.iter().filter(|n| n.kind == NodeKind::AcceptanceCriterion) {
            if self.linked_acs.contains(&ac.id) {
                continue;
            }
            let parent = parent_section(&ac.section);
            let terms = text::content_terms(&ac.text);
            let mut best: Vec<(f32, &str, Vec<&str>)> = Vec::new();
            for (id, section, rterms) in &reqs {
                let shared: Vec<&str> = terms.intersection(rterms).map(|s| s.as_str()).collect();
                // Terms that occur in few requirements say more than common ones.
                let weight: f32 =
                    shared.iter().map(|t| 1.0 / df.get(t).copied().unwrap_or(1) as f32).sum();
                let same = section.starts_with(parent) && !parent.is_empty();
                let score = weight + if same { 0.5 } else { 0.0 };
                if shared.len() >= 2 && weight >= 0.6 {
                    best.push((score, id.as_str(), shared));
                }
            }
            best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            if let Some(top) = best.first().map(|b| b.0) {
                for (score, id, shared) in best.iter().take(3) {
                    if *score >= top * 0.75 {
                        let why = format!("shared terms: {}", shared.join(", "));
                        new.push((ac.id.clone(), id.to_string(), why));
                    }
                }
                continue;
            }
            if !parent.is_empty() {
                for (id, section, _) in &reqs {
                    if section.starts_with(parent) {
                        new.push((ac.id.clone(), id.clone(), "same section".to_string()));
                    }
                }
            }
        }
        for (from, to, why) in new {
            self.edge(&from, &to, EdgeKind::Verifies, &why);
        }
    }
}

impl Builder<'_> {
    /// A requirement or constraint that shares a rare term with a risk mitigates it
    /// ("alert when the disk is 90% full" ↔ "the disk fills up").
    fn link_mitigations(&mut self) {
        let risks: Vec<(String, BTreeSet<String>)> = self
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Risk)
            .map(|n| (n.id.clone(), text::content_terms(&n.text)))
            .collect();
        if risks.is_empty() {
            return;
        }
        let statements: Vec<(String, BTreeSet<String>)> = self
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Requirement | NodeKind::Constraint))
            .map(|n| (n.id.clone(), text::content_terms(&n.text)))
            .collect();
        let mut df: HashMap<&str, usize> = HashMap::new();
        for (_, terms) in statements.iter().chain(&risks) {
            for t in terms {
                *df.entry(t.as_str()).or_default() += 1;
            }
        }
        let mut new = Vec::new();
        for (risk, rterms) in &risks {
            for (id, terms) in &statements {
                let rare: Vec<&str> = terms
                    .intersection(rterms)
                    .map(String::as_str)
                    .filter(|t| df.get(t).copied().unwrap_or(0) <= 3)
                    .collect();
                if !rare.is_empty() {
                    new.push((
                        id.clone(),
                        risk.clone(),
                        format!("shared terms: {}", rare.join(", ")),
                    ));
                }
            }
        }
        for (from, to, why) in new {
            self.edge(&from, &to, EdgeKind::Mitigates, &why);
        }
    }
}

/// The section an acceptance block belongs to: its path without the acceptance heading.
fn parent_section(section: &[String]) -> &[String] {
    match section.split_last() {
        Some((last, rest))
            if crate::markdown::section_kind(last) != crate::markdown::SectionKind::Plain =>
        {
            rest
        }
        _ => section,
    }
}
