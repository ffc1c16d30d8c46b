//! `l9 ingest code`: a repository's definitions in the memory substrate, one `code.symbol`
//! packet per version of a definition (text and embedding: `l9 memory search --kind
//! code.symbol`), and the index itself as a `code.index` packet the next ingest starts from.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use l9_memory::{BlobInput, MemoryService, SearchMode, SearchQuery};
use l9_store::PacketFilter;
use l9_types::{PacketDraft, PacketId};
use serde::Serialize;
use serde_json::json;

use super::index::{self, CodeIndex, ScanStats};
use super::parse::Def;
use super::rank::{self, Focus};
use crate::{IngestError, Result, derived_id};

/// Symbol packets per write transaction: a kill loses at most one batch's work.
const BATCH: usize = 500;
pub const SYMBOL_KIND: &str = "code.symbol";
pub const INDEX_KIND: &str = "code.index";

fn meta_key(root: &str) -> String {
    format!("ingest.code:{root}")
}

/// The packet of one version of a definition: the same text at the same place is the same
/// packet in every ingest.
pub fn symbol_id(root: &str, path: &str, d: &Def) -> PacketId {
    PacketId(derived_id("symbol", &format!("{root}\0{path}\0{}\0{}\0{}", d.kind, d.name, d.hash)))
}

/// `snake_case` and `CamelCase` names as words, so a search in words finds them.
fn words(name: &str) -> String {
    super::split_identifier(name).join(" ")
}

fn symbol_packet(
    root: &str,
    path: &str,
    lang: &str,
    d: &Def,
    parent: Option<PacketId>,
) -> PacketDraft {
    let mut p = PacketDraft::new(SYMBOL_KIND).actor("l9 ingest code");
    p.parents = parent.into_iter().collect();
    p.body = json!({
        "repo": root, "path": path, "lang": lang, "name": d.name, "kind": d.kind,
        "line": d.line, "end_line": d.end_line, "signature": d.signature,
    });
    p.text = Some(format!("{} {} ({}) in {path}\n{}", d.kind, d.name, words(&d.name), d.signature));
    p
}

/// What a code ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct CodeReport {
    pub repo: String,
    #[serde(flatten)]
    pub scan: ScanStats,
    pub lines: u64,
    pub definitions: usize,
    /// Symbol packets written this time (new definitions, or new versions of old ones).
    pub stored: usize,
    pub already_stored: usize,
    pub index_packet: Option<String>,
    pub scan_ms: u64,
    pub total_ms: u64,
}

/// The last code ingest's index of the repository at `root` (canonical path).
pub async fn latest_code(
    memory: &MemoryService,
    root: &str,
) -> Result<Option<(PacketId, CodeIndex)>> {
    let Some(id) = memory.store().get_meta(&meta_key(root)).await? else { return Ok(None) };
    let Ok(id) = id.parse::<PacketId>() else { return Ok(None) };
    let Some(p) = memory.get(id).await? else { return Ok(None) };
    let Some(b) = p.blobs.first() else { return Ok(None) };
    let Some(bytes) = memory.blob(&b.hash).await? else { return Ok(None) };
    let index: CodeIndex = serde_json::from_slice(&bytes).map_err(|e| {
        IngestError::Input(format!(
            "the stored code index of {root} does not read back ({e}); run `l9 ingest code` into a new database"
        ))
    })?;
    Ok(Some((id, index)))
}

/// Indexes the source files of the repository at `path` (what changed since the last
/// ingest) and stores new symbol versions and the index.
pub async fn ingest_code(
    memory: &MemoryService,
    path: &Path,
    threads: usize,
) -> Result<CodeReport> {
    let clock = memory.clock();
    let t0 = clock.now();
    let (root_path, files) = index::source_files(path)?;
    let root = root_path.display().to_string();
    let previous = latest_code(memory, &root).await?;
    let prev_index = previous.as_ref().map(|(_, i)| i);
    let prev = prev_index.cloned();
    let (idx, stats) = tokio::task::spawn_blocking(move || {
        index::scan(&root_path, &files, prev.as_ref(), threads)
    })
    .await
    .map_err(|e| IngestError::Input(format!("the code scan stopped: {e}")))??;
    let t1 = clock.now();
    // Symbols of changed files, with the version they replace as parent.
    let mut drafts: Vec<(PacketId, PacketDraft)> = Vec::new();
    for (path, f) in &idx.files {
        let before = prev_index.and_then(|p| p.files.get(path));
        if before.is_some_and(|b| b.hash == f.hash) {
            continue;
        }
        let old: HashMap<(&str, &str), &Def> = before
            .map(|b| {
                b.symbols.defs.iter().map(|d| ((d.kind.as_str(), d.name.as_str()), d)).collect()
            })
            .unwrap_or_default();
        for d in &f.symbols.defs {
            let id = symbol_id(&root, path, d);
            let parent = old
                .get(&(d.kind.as_str(), d.name.as_str()))
                .filter(|o| o.hash != d.hash)
                .map(|o| symbol_id(&root, path, o));
            drafts.push((id, symbol_packet(&root, path, f.symbols.lang.name(), d, parent)));
        }
    }
    let (mut stored, mut already_stored) = (0, 0);
    let mut seen: HashSet<PacketId> = HashSet::new();
    drafts.retain(|(id, _)| seen.insert(*id));
    for batch in drafts.chunks(BATCH) {
        let ids: Vec<PacketId> = batch.iter().map(|(id, _)| *id).collect();
        let present: HashSet<PacketId> =
            memory.store().get_packets(&ids).await?.into_iter().map(|p| p.id).collect();
        already_stored += present.len();
        let mut items = Vec::new();
        for (id, d) in batch.iter().filter(|(id, _)| !present.contains(id)) {
            items.push(memory.seal(d.clone(), Vec::new(), Some(*id))?);
        }
        stored += crate::store_derived(memory, items).await?;
    }
    let index_packet = match &previous {
        Some((id, p)) if p.digest() == idx.digest() => Some(*id),
        _ => Some(store_index(memory, &root, &idx, previous.as_ref().map(|(id, _)| *id)).await?),
    };
    let t2 = clock.now();
    let ms = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
        (b - a).num_milliseconds().max(0) as u64
    };
    Ok(CodeReport {
        repo: root,
        lines: idx.lines(),
        definitions: idx.definitions(),
        scan: stats,
        stored,
        already_stored,
        index_packet: index_packet.map(|p| p.to_string()),
        scan_ms: ms(t0, t1),
        total_ms: ms(t0, t2),
    })
}

async fn store_index(
    memory: &MemoryService,
    root: &str,
    idx: &CodeIndex,
    parent: Option<PacketId>,
) -> Result<PacketId> {
    let bytes = serde_json::to_vec(idx)
        .map_err(|e| IngestError::Input(format!("the code index does not serialise: {e}")))?;
    let mut d = PacketDraft::new(INDEX_KIND).actor("l9 ingest code");
    d.parents = parent.into_iter().collect();
    let view = idx.view();
    let ranked = rank::rank(&view, &Focus::default());
    let top: Vec<String> =
        ranked.iter().take(10).map(|r| format!("{}:{}", r.path, r.def.name)).collect();
    d.body = json!({
        "repo": root, "files": idx.files.len(), "lines": idx.lines(),
        "definitions": idx.definitions(), "top": top,
    });
    d.text = Some(format!(
        "code index of {root}: {} files, {} lines, {} definitions; most referenced {}",
        idx.files.len(),
        idx.lines(),
        idx.definitions(),
        top.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
    ));
    let blob = BlobInput {
        data: bytes,
        media_type: Some("application/json".into()),
        name: Some("code-index.json".into()),
    };
    let id = PacketId(derived_id("code", &format!("{root}\0{}", idx.digest())));
    crate::store_derived(memory, vec![memory.seal(d, vec![blob], Some(id))?]).await?;
    memory.store().set_meta(&meta_key(root), &id.to_string()).await?;
    Ok(id)
}

/// A definition found by [`search_code`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SymbolHit {
    pub path: String,
    pub line: u32,
    pub kind: String,
    pub name: String,
    pub signature: String,
}

impl std::fmt::Display for SymbolHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {} {} — {}", self.path, self.line, self.kind, self.name, self.signature)
    }
}

/// The current definitions of `index` that best answer `query`: exact names first (by
/// repo-map rank), then the memory's hybrid search (full text and embeddings) over symbol
/// packets, keeping only versions still in the index.
pub async fn search_code(
    memory: &MemoryService,
    root: &str,
    index: &CodeIndex,
    query: &str,
    k: usize,
) -> Result<Vec<SymbolHit>> {
    let symbols = index.view();
    let ranked = rank::rank(&symbols, &Focus::default());
    let hit = |path: &str, d: &Def| SymbolHit {
        path: path.to_owned(),
        line: d.line,
        kind: d.kind.clone(),
        name: d.name.clone(),
        signature: d.signature.clone(),
    };
    // Names first: a definition whose name's words are most of the query's (all of them,
    // or the name itself, best), by repo-map rank among equals.
    let terms: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    let squashed: String = terms.concat();
    let lexical = |name: &str| -> f64 {
        let ws: HashSet<String> = words(name).split(' ').map(str::to_owned).collect();
        if terms.is_empty() {
            return 0.0;
        }
        let matched = terms.iter().filter(|t| ws.contains(*t)).count() as f64 / terms.len() as f64;
        let whole = name.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
        matched + if whole == squashed { 1.0 } else { 0.0 }
    };
    let mut named: Vec<(f64, usize)> = ranked
        .iter()
        .enumerate()
        .map(|(i, r)| (lexical(&r.def.name), i))
        .filter(|(score, _)| *score >= 0.5)
        .collect();
    named.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<SymbolHit> =
        named.iter().take(k).map(|(_, i)| hit(ranked[*i].path, ranked[*i].def)).collect();
    if out.len() < k {
        let current: HashMap<PacketId, (&str, &Def)> = symbols
            .iter()
            .flat_map(|&(p, f)| f.defs.iter().map(move |d| (symbol_id(root, p, d), (p, d))))
            .collect();
        let q = SearchQuery {
            text: query.to_owned(),
            filter: PacketFilter { kinds: vec![SYMBOL_KIND.into()], ..Default::default() },
            k: (k * 8).max(40),
            mode: SearchMode::Hybrid,
        };
        for h in memory.search(&q).await? {
            if out.len() >= k {
                break;
            }
            if let Some((p, d)) = current.get(&h.id) {
                let candidate = hit(p, d);
                if !out.contains(&candidate) {
                    out.push(candidate);
                }
            }
        }
    }
    Ok(out)
}
