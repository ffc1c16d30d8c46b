//! The one place nodes and edges are created: stable ids, spans, and the linking pass every
//! front end shares (explicit id references, `verifies` edges, classification).

use std::collections::{HashMap, HashSet};

use l9_types::{ContentHash, Diagnostic};

use crate::classify::Classifier;
use crate::model::{
    Edge, EdgeKind, Format, IR_VERSION, InterfaceDetail, Ir, Node, NodeKind, ScenarioDetail,
    SourceInfo, Strength,
};
use crate::text::{self, LineIndex};

mod links;

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
    /// Where other files a spec refers to are read from (none: they are not read).
    pub(crate) loader: Option<&'a dyn crate::RefLoader>,
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
            loader: None,
        }
    }

    /// The requirement added last, when it is in the section `path`.
    pub(crate) fn last_requirement_in(&self, path: &[String]) -> Option<String> {
        self.nodes
            .iter()
            .rev()
            .find(|n| n.kind == NodeKind::Requirement)
            .filter(|n| n.section == path)
            .map(|n| n.id.clone())
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
    /// A criterion that names a component (`### FR-12: User login` over the statement it
    /// holds) verifies the requirements that component implements.
    fn link_mentions(&mut self) {
        let mut new = Vec::new();
        // Component → the requirements it implements, found once.
        let mut implemented_by: std::collections::HashMap<&str, Vec<&str>> = self
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Component)
            .map(|n| (n.id.as_str(), Vec::new()))
            .collect();
        for x in self.edges.iter().filter(|x| x.kind == EdgeKind::Implements) {
            if let Some(v) = implemented_by.get_mut(x.from.as_str()) {
                v.push(x.to.as_str());
            }
        }
        for n in &self.nodes {
            let spaced = text::spaced_mentions(&n.text);
            let mentions = text::explicit_ids(&n.text)
                .into_iter()
                .map(|(s, e)| n.text[s..e].to_string())
                .chain(spaced);
            for target in mentions {
                let target = target.as_str();
                if target == n.id || !self.ids.contains(target) {
                    continue;
                }
                if n.kind == NodeKind::AcceptanceCriterion
                    && let Some(implemented) = implemented_by.get(target).filter(|v| !v.is_empty())
                {
                    for r in implemented {
                        new.push((n.id.clone(), r.to_string(), EdgeKind::Verifies));
                    }
                    continue;
                }
                let kind = if n.kind == NodeKind::AcceptanceCriterion {
                    EdgeKind::Verifies
                } else {
                    EdgeKind::DependsOn
                };
                new.push((n.id.clone(), target.to_string(), kind));
            }
        }
        for (from, to, kind) in new {
            self.edge(&from, &to, kind, "explicit id");
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
