//! Memory import and export as JSON Lines.
//!
//! Export writes one packet per line: the envelope's fields, plus `blob_data` (hash →
//! base64) for the blobs it references, so a file is self-contained.
//!
//! Import reads two kinds of line:
//! * **envelopes** (lines with `id` and `hash`, as export writes them): verified as they
//!   are — hash, parents, blob bytes;
//! * **drafts**, for files written by people: `{"ref": "a", "kind": "note", "text": "…",
//!   "parents": ["b"], "body": {…}, "actor": "…", "run": "name-or-uuid"}`. Parents name a
//!   `ref` from an earlier line or a stored packet id. Ids, times and hashes are assigned.
//!
//! Every line is checked before anything is written; any problem is reported with its
//! line number and nothing is written. The whole file is stored in one transaction, read
//! and written a part at a time (`jsonl/import.rs`): a file is never held whole.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use l9_store::{PacketFilter, Page, WriteReport};
use l9_types::interchange;
use l9_types::{ContentHash, PacketEnvelope, PacketId, RunId};
use serde::Serialize;

use crate::{EngineError, Result};

mod import;
pub use import::{Lines, PART as IMPORT_PART, import_lines};

/// Writes packets (all, or one run's) as JSON Lines; returns how many.
pub async fn export(
    engine: &crate::Engine,
    run: Option<RunId>,
    out: &mut dyn Write,
) -> Result<u64> {
    let mem = engine.memory();
    let filter = PacketFilter { run, ..Default::default() };
    let mut page = Page { after: None, limit: 500 };
    let mut n = 0;
    loop {
        let res = mem.list(&filter, &page).await?;
        for p in res.packets.iter().filter(|p| exported(p)) {
            let mut blobs = Vec::new();
            for b in &p.blobs {
                let bytes = mem.blob(&b.hash).await?.ok_or_else(|| {
                    EngineError::Store(l9_store::StoreError::NotFound(format!("blob {}", b.hash)))
                })?;
                blobs.push((b.hash, bytes));
            }
            writeln!(out, "{}", export_line(p, &blobs)?)
                .map_err(|e| EngineError::io(Path::new("<stdout>"), e))?;
            n += 1;
        }
        match res.next {
            Some(next) => page.after = Some(next),
            None => return Ok(n),
        }
    }
}

/// Whether an export carries `p`: the world model's seed items come with the binary (`l9
/// init` stores them in every project), so exporting them would clash on import elsewhere.
pub(crate) fn exported(p: &PacketEnvelope) -> bool {
    !(p.kind.starts_with("world.") && p.actor == "l9-world")
}

/// One line of an export (see [`l9_types::interchange`]).
pub(crate) fn export_line(p: &PacketEnvelope, blobs: &[(ContentHash, Vec<u8>)]) -> Result<String> {
    interchange::export_line(p, blobs).map_err(|e| EngineError::Internal(e.to_string()))
}

/// Checks every line of `text` (the contents of `file`) and, if all are good, stores them
/// in one transaction. `progress(done, total)` is called while embedding.
pub async fn import(
    engine: &crate::Engine,
    file: &str,
    text: &str,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImportReport> {
    let lines = || -> Box<dyn Iterator<Item = std::io::Result<String>> + Send + '_> {
        Box::new(text.lines().map(|l| Ok(l.to_string())))
    };
    import::import_lines(engine, file, &lines, progress).await
}

/// [`import`] of the file at `path`, read line by line (twice: checked, then written a part
/// at a time), never whole.
pub async fn import_file(
    engine: &crate::Engine,
    path: &Path,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImportReport> {
    use std::io::BufRead;
    let lines = || -> Box<dyn Iterator<Item = std::io::Result<String>> + Send + '_> {
        match std::fs::File::open(path) {
            Ok(f) => Box::new(std::io::BufReader::with_capacity(1 << 16, f).lines()),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    };
    import::import_lines(engine, &path.display().to_string(), &lines, progress).await
}

/// What an import stored.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    #[serde(flatten)]
    pub report: WriteReport,
    /// World-model packets put in quarantine (`l9 world quarantine`, `l9 world trust`),
    /// counted in `packets_inserted` as their holders.
    pub quarantined: usize,
}

/// What makes two packets of a kind the same draft: their content hash and their text.
fn same_key(p: &PacketEnvelope) -> String {
    let content = PacketEnvelope::content_hash(&p.kind, &p.parents, &p.body, &p.blobs);
    format!("{content}\u{0}{}", p.text.as_deref().unwrap_or(""))
}

/// Hash and text → id of every stored packet of `kind`.
async fn stored_hashes(engine: &crate::Engine, kind: &str) -> Result<HashMap<String, PacketId>> {
    let filter = l9_store::PacketFilter { kinds: vec![kind.to_string()], ..Default::default() };
    let mut out = HashMap::new();
    let mut after = None;
    loop {
        let page =
            engine.store().list_packets(&filter, &l9_store::Page { after, limit: 1000 }).await?;
        for p in &page.packets {
            out.insert(same_key(p), p.id);
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}
