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
//! line number and nothing is written. The whole file is stored in one transaction.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use l9_memory::Ingest;
use l9_store::{PacketFilter, Page, WriteReport};
use l9_types::interchange::{self, BlobData, ImportLine};
use l9_types::{ContentHash, Diagnostic, PacketEnvelope, PacketId, RunId, Span};
use serde::Serialize;

use crate::{EngineError, Result, quarantine};

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
    let mem = engine.memory();
    let mut diags = Vec::new();
    let mut items: Vec<Ingest> = Vec::new();
    let mut refs: HashMap<String, PacketId> = HashMap::new();
    let mut in_file: HashMap<PacketId, usize> = HashMap::new();
    let mut runs: BTreeMap<String, RunId> = BTreeMap::new();
    // Parents not in the file: checked against the store after the scan.
    let mut external: Vec<(usize, PacketId)> = Vec::new();
    // Drafts already stored (the same file imported again): a draft whose content hash
    // (kind, parents, body, blobs) and text are a stored packet's is that packet — its id,
    // time and envelope hash are new on every seal. Loaded per kind, on the first draft of
    // the kind.
    let mut stored: HashMap<String, HashMap<String, PacketId>> = HashMap::new();
    let mut kept = 0usize;
    // World knowledge goes into quarantine (`crate::quarantine`): (line, key, packet, blob
    // bytes), and each held packet's holder.
    let mut held: Vec<(usize, String, PacketEnvelope, Vec<Vec<u8>>)> = Vec::new();
    let mut holders: BTreeMap<PacketId, PacketId> = BTreeMap::new();
    let needs_hold = |p: &PacketEnvelope, holders: &BTreeMap<PacketId, PacketId>| {
        quarantine::needs_quarantine(&p.kind) || p.parents.iter().any(|q| holders.contains_key(q))
    };
    // Envelope lines (line, id, hash): one whose id is stored with other content is refused.
    let mut envelopes: Vec<(usize, PacketId, ContentHash)> = Vec::new();
    let err = |line: usize, code: &str, msg: String, help: &str| {
        Diagnostic::error(code, msg).with_span(Span::line(file, line as u32)).with_help(help)
    };

    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let draft = match interchange::read_line(raw) {
            Ok(None) => continue,
            Err(e) => {
                diags.push(err(line, e.code, e.message, e.help));
                continue;
            }
            Ok(Some(ImportLine::Envelope { packet, blobs: data })) => {
                let mut blobs = Vec::new();
                for (b, data) in packet.blobs.iter().zip(data) {
                    match data {
                        BlobData::Given(bytes) => blobs.push(bytes),
                        BlobData::Mismatch => diags.push(err(
                            line,
                            "L9-IMPORT-005",
                            format!("blob {} data does not match its hash", b.hash),
                            "re-export the packet",
                        )),
                        BlobData::Absent => {
                            if mem.blob(&b.hash).await?.is_none() {
                                diags.push(err(
                                    line,
                                    "L9-IMPORT-005",
                                    format!(
                                        "blob {} has no data in blob_data and is not stored",
                                        b.hash
                                    ),
                                    "re-export the packet with its blobs",
                                ));
                            }
                        }
                    }
                }
                for parent in &packet.parents {
                    if !in_file.contains_key(parent) {
                        external.push((line, *parent));
                    }
                }
                if in_file.insert(packet.id, line).is_some() {
                    diags.push(err(
                        line,
                        "L9-IMPORT-006",
                        format!("packet {} appears twice in the file", packet.id),
                        "remove the duplicate line",
                    ));
                }
                envelopes.push((line, packet.id, packet.hash));
                if needs_hold(&packet, &holders) {
                    let key = packet.id.to_string();
                    holders.insert(packet.id, quarantine::holder_id(&key));
                    held.push((line, key, packet, blobs));
                } else {
                    items.push(Ingest { packet, blobs });
                }
                continue;
            }
            Ok(Some(ImportLine::Draft(draft))) => draft,
        };
        let mut d = draft.draft();
        if let Some(r) = draft.run {
            let run = match r.parse::<RunId>() {
                Ok(id) => id,
                Err(_) => *runs.entry(r).or_insert_with(|| RunId(mem.ids().uuid())),
            };
            d = d.run(run);
        }
        let mut ok = true;
        for p in &draft.parents {
            if let Some(id) = refs.get(p) {
                d = d.parent(*id);
            } else if let Ok(id) = p.parse::<PacketId>() {
                if !in_file.contains_key(&id) {
                    external.push((line, id));
                }
                d = d.parent(id);
            } else {
                diags.push(err(
                    line,
                    "L9-IMPORT-008",
                    format!("parent {p:?} is neither a ref from an earlier line nor a packet id"),
                    "define the parent on an earlier line with \"ref\"",
                ));
                ok = false;
            }
        }
        // A draft that goes into quarantine gets an id derived from its content, so the same
        // file imported again names the same packets (its children's parents included).
        let sealed = d.clone().seal(&mem.ids()).and_then(|p| {
            if needs_hold(&p, &holders) {
                let id = PacketId(l9_types::derived_uuid("import.held", &same_key(&p)));
                d.seal_as(id, mem.clock())
            } else {
                Ok(p)
            }
        });
        let packet = match sealed {
            Ok(p) => p,
            Err(e) => {
                diags.push(err(
                    line,
                    "L9-IMPORT-009",
                    e.to_string(),
                    "fix the field the message names",
                ));
                continue;
            }
        };
        if !stored.contains_key(&draft.kind) {
            let hashes = stored_hashes(engine, &draft.kind).await?;
            stored.insert(draft.kind.clone(), hashes);
        }
        let already = stored.get(&draft.kind).and_then(|h| h.get(&same_key(&packet))).copied();
        let id = already.unwrap_or(packet.id);
        if let Some(r) = draft.reference
            && refs.insert(r.clone(), id).is_some()
        {
            diags.push(err(
                line,
                "L9-IMPORT-010",
                format!("ref {r:?} is defined twice"),
                "give each line its own ref",
            ));
        }
        if ok && already.is_some() {
            kept += 1;
        } else if ok {
            in_file.insert(packet.id, line);
            if needs_hold(&packet, &holders) {
                let key = same_key(&packet);
                holders.insert(packet.id, quarantine::holder_id(&key));
                held.push((line, key, packet, Vec::new()));
            } else {
                items.push(Ingest { packet, blobs: Vec::new() });
            }
        }
    }
    for (line, parent) in external {
        if mem.get(parent).await?.is_none() {
            diags.push(err(
                line,
                "L9-IMPORT-011",
                format!("parent {parent} is not stored and not earlier in the file"),
                "import the parent first or put it on an earlier line",
            ));
        }
    }
    for chunk in envelopes.chunks(1000) {
        let ids: Vec<PacketId> = chunk.iter().map(|(_, id, _)| *id).collect();
        let stored: HashMap<PacketId, PacketEnvelope> =
            mem.store().get_packets(&ids).await?.into_iter().map(|p| (p.id, p)).collect();
        for (line, id, hash) in chunk {
            if let Some(have) = stored.get(id).filter(|have| have.hash != *hash) {
                diags.push(err(
                    *line,
                    "L9-IMPORT-012",
                    format!(
                        "packet {id} is already stored with other content (stored hash {}, this line's {hash}; stored {} by {:?})",
                        have.hash,
                        have.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        have.actor
                    ),
                    "a packet never changes once stored: remove the line, or remove its id and hash to import it as a new draft",
                ));
            }
        }
    }
    if !diags.is_empty() {
        return Err(EngineError::Input(diags));
    }
    // Held packets already trusted (stored as they are), or already held (the same file
    // imported again), are kept; the rest go into quarantine after everything else (a
    // holder may cite a packet of the file; nothing cites a holder).
    let mut quarantined = 0;
    for chunk in held.chunks(500) {
        let mut ids: Vec<PacketId> = chunk.iter().map(|(_, _, p, _)| p.id).collect();
        ids.extend(chunk.iter().map(|(_, key, _, _)| quarantine::holder_id(key)));
        let stored: std::collections::HashSet<PacketId> =
            mem.store().get_packets(&ids).await?.into_iter().map(|p| p.id).collect();
        for (line, key, packet, blobs) in chunk {
            let holder = quarantine::holder_id(key);
            if stored.contains(&packet.id) || stored.contains(&holder) {
                kept += 1;
                continue;
            }
            let draft = quarantine::hold(packet, file, *line, &holders);
            let sealed = draft
                .seal_as(holder, mem.clock())
                .map_err(|e| EngineError::Internal(format!("quarantining line {line}: {e}")))?;
            items.push(Ingest { packet: sealed, blobs: blobs.clone() });
            quarantined += 1;
        }
    }
    let mut report = mem.ingest_with_progress(items, progress).await?;
    // The import pays for the vector index it makes necessary, not the next search.
    engine.store().wait_for_index().await?;
    report.packets_present += kept;
    Ok(ImportReport { report, quarantined })
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
