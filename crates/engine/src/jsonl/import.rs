//! `l9 memory import`: JSON Lines in, one transaction out, without holding the file.
//!
//! Two passes over the lines. The first checks every line — JSON, hashes, parents, blobs,
//! refs, ids stored with other content — and keeps only what the second needs: per line
//! whether and as what it is written (a draft's id), a checksum of the line, the refs and run
//! names, and the world-model packets bound for quarantine. Any problem is reported with its
//! line number and nothing is written. The second pass reads the lines again and hands them
//! to `Store::write_parts` [`PART`] packets at a time, each part embedded just before it is
//! written: the whole import is one transaction (all or nothing), and the process holds one
//! part. A line that changed between the passes stops the import (nothing written). Where the
//! store holds off other writers while it writes (SQLite) and the embedder is a model, a pass
//! between the two reads the lines once more and embeds them ahead into a temporary file
//! (`l9_memory::spill`), so the write lock is held for the write only.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use l9_memory::Ingest;
use l9_store::{LoadSize, StoreError, WriteBatch, WriteParts};
use l9_types::interchange::{self, BlobData, DraftLine, ImportLine};
use l9_types::{ContentHash, Diagnostic, PacketDraft, PacketEnvelope, PacketId, RunId, Span};

use super::{ImportReport, same_key, stored_hashes};
use crate::{EngineError, Result, quarantine};

/// Packets per part of the write.
pub const PART: usize = 2_048;

/// A source of the file's lines, read from the start each time it is called (the two passes).
pub type Lines<'a> =
    dyn Fn() -> Box<dyn Iterator<Item = std::io::Result<String>> + Send + 'a> + Sync + 'a;

/// What the second pass does with a line.
#[derive(Clone, Copy)]
enum Plan {
    /// Blank, already stored, or held for quarantine (written at the end from memory).
    Skip,
    /// An envelope, written as it is.
    Envelope,
    /// A draft, sealed again with the id the first pass gave it.
    Draft(PacketId),
}

/// What the first pass learned.
struct Checked {
    plans: Vec<(Plan, u64)>,
    refs: HashMap<String, PacketId>,
    runs: BTreeMap<String, RunId>,
    /// Holders of quarantined packets, written after everything else.
    held: Vec<Ingest>,
    quarantined: usize,
    kept: usize,
    writes: usize,
}

fn checksum(line: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut h);
    h.finish()
}

/// Checks every line of `file` and, if all are good, stores them in one transaction.
/// `progress(done, total)` is called as packets are embedded.
pub async fn import_lines(
    engine: &crate::Engine,
    file: &str,
    lines: &Lines<'_>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImportReport> {
    let mut checked = check(engine, file, lines).await?;
    let held = std::mem::take(&mut checked.held);
    let total = checked.writes;
    let size = LoadSize { packets: total, embeddings: total };
    let mut parts = Parts {
        engine,
        file,
        lines: lines(),
        at: 0,
        checked: &checked,
        held: None,
        done: 0,
        total,
        size,
        progress,
        spill: None,
        failed: None,
    };
    if engine.memory().embeds_ahead() {
        // A third read of the lines, before the write: see `l9_memory::spill`.
        parts.spill = Some(parts.embed_ahead(&held).await?);
        parts.lines = lines();
        parts.at = 0;
    }
    parts.held = Some(held);
    let mut report = match engine.store().write_parts(&mut parts).await {
        Ok(r) => r,
        Err(e) => return Err(parts.failed.take().unwrap_or(EngineError::Store(e))),
    };
    // The import pays for the vector index it makes necessary, not the next search.
    engine.store().wait_for_index().await?;
    report.packets_present += checked.kept;
    Ok(ImportReport { report, quarantined: checked.quarantined })
}

fn diag(file: &str, line: usize, code: &str, msg: String, help: &str) -> Diagnostic {
    Diagnostic::error(code, msg).with_span(Span::line(file, line as u32)).with_help(help)
}

/// A draft's parent as its line names it.
enum Parent {
    /// A ref of an earlier line.
    Ref,
    /// A packet id, earlier in the file or stored.
    Id(PacketId),
    /// Neither.
    Unknown(String),
}

/// A draft line's packet draft, parents resolved, its run named by `run_of`.
fn draft_of(
    draft: &DraftLine,
    refs: &HashMap<String, PacketId>,
    run_of: &mut dyn FnMut(&str) -> RunId,
) -> (PacketDraft, Vec<Parent>) {
    let mut d = draft.draft();
    if let Some(r) = &draft.run {
        let run = r.parse::<RunId>().unwrap_or_else(|_| run_of(r));
        d = d.run(run);
    }
    let mut parents = Vec::new();
    for p in &draft.parents {
        if let Some(id) = refs.get(p) {
            d = d.parent(*id);
            parents.push(Parent::Ref);
        } else if let Ok(id) = p.parse::<PacketId>() {
            d = d.parent(id);
            parents.push(Parent::Id(id));
        } else {
            parents.push(Parent::Unknown(p.clone()));
        }
    }
    (d, parents)
}

/// The first pass (see the module docs).
async fn check(engine: &crate::Engine, file: &str, lines: &Lines<'_>) -> Result<Checked> {
    let mem = engine.memory();
    let mut diags = Vec::new();
    let mut plans = Vec::new();
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
    let (mut kept, mut writes) = (0usize, 0usize);
    // World knowledge goes into quarantine (`crate::quarantine`): (line, key, packet, blob
    // bytes), and each held packet's holder.
    let mut held: Vec<(usize, String, PacketEnvelope, Vec<Vec<u8>>)> = Vec::new();
    let mut holders: BTreeMap<PacketId, PacketId> = BTreeMap::new();
    let needs_hold = |p: &PacketEnvelope, holders: &BTreeMap<PacketId, PacketId>| {
        quarantine::needs_quarantine(&p.kind) || p.parents.iter().any(|q| holders.contains_key(q))
    };
    // Envelope lines (line, id, hash): one whose id is stored with other content is refused.
    let mut envelopes: Vec<(usize, PacketId, ContentHash)> = Vec::new();
    let err = |line: usize, code: &str, msg: String, help: &str| diag(file, line, code, msg, help);
    let new_run = || RunId(mem.ids().uuid());

    for (i, raw) in lines().enumerate() {
        let line = i + 1;
        let raw = match raw {
            Ok(r) => r,
            Err(e) => {
                diags.push(err(
                    line,
                    "L9-IMPORT-013",
                    format!("cannot read the line: {e}"),
                    "JSON Lines files are UTF-8 text; re-export the file",
                ));
                plans.push((Plan::Skip, 0));
                continue;
            }
        };
        let sum = checksum(&raw);
        let mut plan = Plan::Skip;
        match interchange::read_line(&raw) {
            Ok(None) => {}
            Err(e) => diags.push(err(line, e.code, e.message, e.help)),
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
                    plan = Plan::Envelope;
                    writes += 1;
                }
            }
            Ok(Some(ImportLine::Draft(draft))) => {
                let mut run_of = |name: &str| *runs.entry(name.to_string()).or_insert_with(new_run);
                let (d, parents) = draft_of(&draft, &refs, &mut run_of);
                let mut ok = true;
                for p in parents {
                    match p {
                        Parent::Id(id) if !in_file.contains_key(&id) => external.push((line, id)),
                        Parent::Id(_) | Parent::Ref => {}
                        Parent::Unknown(name) => {
                            diags.push(err(
                                line,
                                "L9-IMPORT-008",
                                format!(
                                    "parent {name:?} is neither a ref from an earlier line nor a packet id"
                                ),
                                "define the parent on an earlier line with \"ref\"",
                            ));
                            ok = false;
                        }
                    }
                }
                // A draft that goes into quarantine gets an id derived from its content, so
                // the same file imported again names the same packets (its children's parents
                // included).
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
                        plans.push((Plan::Skip, sum));
                        continue;
                    }
                };
                if !stored.contains_key(&draft.kind) {
                    let hashes = stored_hashes(engine, &draft.kind).await?;
                    stored.insert(draft.kind.clone(), hashes);
                }
                let already =
                    stored.get(&draft.kind).and_then(|h| h.get(&same_key(&packet))).copied();
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
                        plan = Plan::Draft(packet.id);
                        writes += 1;
                    }
                }
            }
        }
        plans.push((plan, sum));
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
    let mut holders_out = Vec::new();
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
            holders_out.push(Ingest { packet: sealed, blobs: blobs.clone() });
        }
    }
    let quarantined = holders_out.len();
    Ok(Checked {
        plans,
        refs,
        runs,
        held: holders_out,
        quarantined,
        kept,
        writes: writes + quarantined,
    })
}

/// The second pass: the lines again, [`PART`] packets at a time, embedded; the holders of
/// quarantined packets last.
struct Parts<'a> {
    engine: &'a crate::Engine,
    file: &'a str,
    lines: Box<dyn Iterator<Item = std::io::Result<String>> + Send + 'a>,
    at: usize,
    checked: &'a Checked,
    held: Option<Vec<Ingest>>,
    done: usize,
    total: usize,
    size: LoadSize,
    progress: &'a (dyn Fn(usize, usize) + Sync),
    /// The vectors of every packet written, embedded ahead of the write (in its order).
    spill: Option<l9_memory::spill::Spill>,
    /// Why the source stopped the load, if it did.
    failed: Option<EngineError>,
}

impl Parts<'_> {
    /// The next line's packet to write, if any; `Ok(None)` at the end of the file.
    fn next_item(&mut self) -> Result<Option<Option<Ingest>>> {
        let line = self.at + 1;
        let changed = || {
            EngineError::Input(vec![diag(
                self.file,
                line,
                "L9-IMPORT-014",
                "the file changed while it was imported; nothing was written".into(),
                "import it again once nothing writes to it",
            )])
        };
        let planned = self.checked.plans.get(self.at).copied();
        let (plan, raw) = match (self.lines.next(), planned) {
            (None, None) => return Ok(None),
            (Some(Ok(raw)), Some((plan, sum))) if checksum(&raw) == sum => {
                self.at += 1;
                if matches!(plan, Plan::Skip) {
                    return Ok(Some(None));
                }
                (plan, raw)
            }
            // Longer, shorter, unreadable or other than it was.
            _ => return Err(changed()),
        };
        match (plan, interchange::read_line(&raw)) {
            (Plan::Envelope, Ok(Some(ImportLine::Envelope { packet, blobs }))) => {
                let blobs = blobs
                    .into_iter()
                    .filter_map(|b| match b {
                        BlobData::Given(bytes) => Some(bytes),
                        _ => None,
                    })
                    .collect();
                Ok(Some(Some(Ingest { packet, blobs })))
            }
            (Plan::Draft(id), Ok(Some(ImportLine::Draft(draft)))) => {
                let mem = self.engine.memory();
                let runs = &self.checked.runs;
                let mut run_of =
                    |name: &str| runs.get(name).copied().unwrap_or_else(|| RunId(mem.ids().uuid()));
                let (d, _) = draft_of(&draft, &self.checked.refs, &mut run_of);
                let packet = d.seal_as(id, mem.clock()).map_err(|_| changed())?;
                Ok(Some(Some(Ingest { packet, blobs: Vec::new() })))
            }
            _ => Err(changed()),
        }
    }

    async fn part(&mut self) -> Result<Option<WriteBatch>> {
        let mut items = Vec::new();
        while items.len() < PART {
            match self.next_item()? {
                Some(Some(item)) => items.push(item),
                Some(None) => {}
                None => break,
            }
        }
        if items.is_empty() {
            match self.held.take() {
                Some(held) if !held.is_empty() => items = held,
                _ => return Ok(None),
            }
        }
        let (done, total, progress) = (self.done, self.total, self.progress);
        let n = items.len();
        let batch = match &mut self.spill {
            Some(spill) => l9_memory::MemoryService::part_from(items, spill)?,
            None => self.engine.memory().prepare(items, &|k, _| progress(done + k, total)).await?,
        };
        self.done += n;
        Ok(Some(batch))
    }

    /// Reads the lines as the write will (the same checks) and embeds every packet's text in
    /// the write's order — the lines' packets, then `held` — into a spill, a part at a time.
    async fn embed_ahead(&mut self, held: &[Ingest]) -> Result<l9_memory::spill::Spill> {
        let mem = self.engine.memory();
        let mut spill = mem.spill()?;
        let mut done = 0;
        loop {
            let mut texts = Vec::new();
            while texts.len() < PART {
                match self.next_item()? {
                    Some(Some(item)) => texts.push(item.packet.text.unwrap_or_default()),
                    Some(None) => {}
                    None => break,
                }
            }
            if texts.is_empty() {
                break;
            }
            mem.embed_into(&texts, &mut spill, done, self.total, self.progress).await?;
            done += texts.len();
        }
        let texts = l9_memory::texts_of(held);
        mem.embed_into(&texts, &mut spill, done, self.total, self.progress).await?;
        Ok(spill)
    }
}

#[async_trait::async_trait]
impl WriteParts for Parts<'_> {
    fn size(&self) -> LoadSize {
        self.size
    }

    async fn next_part(&mut self) -> l9_store::Result<Option<WriteBatch>> {
        match self.part().await {
            Ok(part) => Ok(part),
            Err(e) => {
                let message = format!("the import was stopped: {e}");
                self.failed = Some(e);
                Err(StoreError::Invalid(message))
            }
        }
    }
}
