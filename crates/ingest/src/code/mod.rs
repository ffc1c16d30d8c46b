//! The code index: definitions and references of a repository's source files read with
//! tree-sitter (Rust, Python, JavaScript, TypeScript, Go, Java, C, C++, Ruby, C#, PHP, Kotlin,
//! Swift, Scala, Elixir, Dart, Lua), a repo map ranked by PageRank
//! over the reference graph within a token budget, symbols stored as packets with text and
//! embeddings, and a search over them. Incremental by file content hash.

pub mod index;
pub mod lang;
pub mod parse;
pub mod rank;
mod store;

pub use index::{CodeIndex, IndexedFile, ScanStats};
pub use lang::Lang;
pub use parse::{Def, FileSymbols};
pub use rank::{Focus, Ranked};
pub use store::{
    CodeReport, INDEX_KIND, SYMBOL_KIND, SymbolHit, ingest_code, latest_code, search_code,
    symbol_id,
};

/// The repo map of `index` for `focus`, within `budget` tokens.
pub fn repo_map(index: &CodeIndex, focus: &Focus, budget: usize) -> String {
    let view = index.view();
    let ranked = rank::rank(&view, focus);
    rank::render(&ranked, budget)
}

/// The repo map of `index` leaning towards the files and names `text` (a task) mentions.
pub fn map_for_text(index: &CodeIndex, text: &str, budget: usize) -> String {
    let view = index.view();
    let focus = Focus::from_text(text, &view);
    rank::render(&rank::rank(&view, &focus), budget)
}

/// The lower-case words of an identifier, in order: split at `_`, `-` and where lower case
/// turns to upper (`openLedger_fast` → open, ledger, fast).
pub fn split_identifier(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let boundary = c == '_' || c == '-' || (c.is_uppercase() && prev_lower);
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        if c != '_' && c != '-' {
            cur.extend(c.to_lowercase());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
