//! One file's definitions and references, read with tree-sitter.
//!
//! Definitions come from the grammar's tags query (`@definition.KIND` with its `@name`).
//! References are every identifier of the syntax tree that is not a definition's name,
//! counted: broader than the queries' `@reference.*` captures (which see calls, rarely
//! types or fields), and what the ranking needs — who mentions a name, how often.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Parser, QueryCursor};

use super::lang::Lang;

const SIGNATURE_CHARS: usize = 200;

/// A definition: a function, method, type, trait, module, constant…
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Def {
    pub name: String,
    /// The query's kind: function, method, class, interface, module, macro, constant, type…
    pub kind: String,
    /// 1-based lines of the definition.
    pub line: u32,
    pub end_line: u32,
    /// Its first line (a function's signature, a type's header).
    pub signature: String,
    /// A hash of the definition's text: a symbol packet changes only when this does.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSymbols {
    pub lang: Lang,
    pub lines: u32,
    pub defs: Vec<Def>,
    /// Identifiers used in the file (not at a definition's name) and how often.
    pub refs: BTreeMap<String, u32>,
}

/// Reads `src` as `lang`. `None` when the parser gives up (it never panics on input; a file
/// with syntax errors still yields what parses).
pub fn extract(lang: Lang, src: &[u8]) -> Result<Option<FileSymbols>, String> {
    let query = lang.query()?;
    let mut parser = Parser::new();
    parser
        .set_language(&lang.language())
        .map_err(|e| format!("the {} grammar does not load: {e}", lang.name()))?;
    let Some(tree) = parser.parse(src, None) else { return Ok(None) };
    let names = query.capture_names();
    // A name node can match two patterns (a Rust method is also a function item): the
    // earlier pattern, the more specific one, wins.
    let mut defs: HashMap<usize, (usize, Def)> = HashMap::new();
    let mut cursor = QueryCursor::new();
    let mut matches = cursor.matches(query, tree.root_node(), src);
    while let Some(m) = matches.next() {
        let mut name: Option<Node> = None;
        let mut def: Option<(&str, Node)> = None;
        for c in m.captures() {
            let cap = names.get(c.index as usize).copied().unwrap_or("");
            if cap == "name" {
                name = Some(c.node);
            } else if let Some(kind) = cap.strip_prefix("definition.") {
                def = Some((kind, c.node));
            }
        }
        let (Some(n), Some((kind, node))) = (name, def) else { continue };
        if in_a_body(node) {
            continue;
        }
        let Ok(text) = n.utf8_text(src) else { continue };
        if text.is_empty() || text.len() > 200 {
            continue;
        }
        let key = n.start_byte();
        if defs.get(&key).is_some_and(|(p, _)| *p <= m.pattern_index) {
            continue;
        }
        let body = src.get(node.start_byte()..node.end_byte()).unwrap_or_default();
        let d = Def {
            name: text.to_owned(),
            kind: kind.to_owned(),
            line: node.start_position().row as u32 + 1,
            end_line: node.end_position().row as u32 + 1,
            signature: signature(body),
            hash: blake3::hash(body).to_hex()[..16].to_owned(),
        };
        defs.insert(key, (m.pattern_index, d));
    }
    let mut refs: BTreeMap<String, u32> = BTreeMap::new();
    let mut c = tree.walk();
    'walk: loop {
        let node = c.node();
        if node.child_count() == 0
            // Ruby names classes and modules with `constant` nodes, PHP everything with `name`,
            // Elixir modules with `alias` (only a named node: Ruby's `alias` keyword is not).
            && (node.kind().ends_with("identifier")
                || matches!(node.kind(), "constant" | "name")
                || (node.kind() == "alias" && node.is_named()))
            && !defs.contains_key(&node.start_byte())
            && let Ok(t) = node.utf8_text(src)
            && !t.is_empty()
            && t.len() <= 200
        {
            *refs.entry(t.to_owned()).or_default() += 1;
        }
        // `#[derive(Debug)]` names a derive, not something this repository defines.
        let attribute = matches!(node.kind(), "attribute_item" | "inner_attribute_item");
        if !attribute && c.goto_first_child() {
            continue;
        }
        while !c.goto_next_sibling() {
            if !c.goto_parent() {
                break 'walk;
            }
        }
    }
    let mut defs: Vec<Def> = defs.into_values().map(|(_, d)| d).collect();
    defs.sort_by(|a, b| (a.line, &a.name).cmp(&(b.line, &b.name)));
    let lines = src.iter().filter(|b| **b == b'\n').count() as u32
        + u32::from(!src.is_empty() && !src.ends_with(b"\n"));
    Ok(Some(FileSymbols { lang, lines, defs, refs }))
}

/// A C or C++ declarator inside a function's body: a local variable built with arguments
/// (`std::string Res(FileLen);` reads like a prototype), not something the file defines.
fn in_a_body(node: Node) -> bool {
    if node.kind() != "function_declarator" {
        return false;
    }
    let mut at = node.parent();
    while let Some(p) = at {
        if p.kind() == "compound_statement" {
            return true;
        }
        at = p.parent();
    }
    false
}

/// A definition's first line, without the opening brace or colon, whitespace collapsed.
/// Annotations and decorators before it (`@Override`, `@Component({ … })`, which Java's and
/// TypeScript's grammars count as part of the definition) are passed over.
fn signature(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut depth = 0i32;
    let first = text
        .lines()
        .find(|l| {
            let l = l.trim();
            if depth == 0 && !l.starts_with('@') {
                return true;
            }
            depth += l.matches(['(', '{']).count() as i32 - l.matches([')', '}']).count() as i32;
            depth = depth.max(0);
            false
        })
        .or_else(|| text.lines().next())
        .unwrap_or("")
        .trim();
    let first = first.trim_end_matches(['{', ':']).trim_end();
    let mut s: String = first.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > SIGNATURE_CHARS {
        s = s.chars().take(SIGNATURE_CHARS).collect::<String>() + "…";
    }
    s
}
