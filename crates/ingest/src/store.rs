//! `l9 ingest git`: a history into the memory substrate and the knowledge graph.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use l9_memory::{BlobInput, MemoryService};
use l9_store::{Entity, EntityId, Relation, RelationDirection, RelationId, RelationQuery};
use l9_types::{PacketDraft, PacketId};
use serde::Serialize;
use serde_json::json;

use crate::git::{self, Commit, History, ReadOptions};
use crate::history::{
    Coupling, HiddenConstraint, Hotspot, MIN_CO_CHANGES, State, changed_together,
};
use crate::{IngestError, Result, derived_id, fixes, szz};

/// Commits per write transaction: a kill loses at most one batch's work, never half of one.
const BATCH: usize = 500;

/// Where a first ingest starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Since {
    /// Commits reachable from this revision are left out.
    Rev(String),
    /// Commits authored before this are left out.
    Date(DateTime<Utc>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestOptions {
    pub since: Option<Since>,
    /// Threads for diffs and blame (0: one per core).
    pub threads: usize,
    /// Skip SZZ (blame of every fix): faster on very large histories.
    pub no_szz: bool,
}

/// What an ingest did and what the history says.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub repo: String,
    pub head: Option<String>,
    /// Commits read from the repository this time (new since the last ingest).
    pub read: usize,
    /// Commit packets written (the rest were already stored: an interrupted ingest resumed).
    pub stored: usize,
    pub already_stored: usize,
    pub fixes: usize,
    pub reverts: usize,
    /// Fix → introducing-commit links found by SZZ this time.
    pub szz_links: usize,
    /// Files fixes changed that SZZ left out as over `L9_MAX_BLAMED_FILE_BYTES`, this time.
    pub unblamed_files: usize,
    /// A shallow clone's boundary commits, read as first commits (after `git fetch
    /// --unshallow` or `--deepen` the next ingest reads past them; commits an ingest read as
    /// first ones stay so).
    pub shallow: usize,
    pub files: usize,
    pub entities_added: usize,
    pub relations_added: usize,
    pub relations_closed: usize,
    /// Totals over everything ingested so far.
    pub total_commits: u64,
    pub total_fixes: u64,
    pub hotspots: Vec<Hotspot>,
    pub fragile: Vec<Hotspot>,
    pub couplings: Vec<Coupling>,
    /// Changing one file of a coupled pair without the other, followed by a fix to the other.
    pub hidden_constraints: Vec<HiddenConstraint>,
    /// The `git.repo` packet holding the accumulated state.
    pub state_packet: Option<String>,
    /// Until the last commit was read (commits are stored while later ones are read).
    pub read_ms: u64,
    /// The whole ingest.
    pub total_ms: u64,
    /// What the world model learned from the history this time (set by the engine, which
    /// records it): new statements, and earlier ones the history no longer supports.
    pub world_learned: usize,
    pub world_retired: usize,
}

fn meta_key(root: &str) -> String {
    format!("ingest.git:{root}")
}

fn commit_id(sha: &str) -> PacketId {
    PacketId(derived_id("commit", sha))
}

/// The last ingest's state of the repository at `root` (canonical path), with its packet.
pub async fn latest_state(memory: &MemoryService, root: &str) -> Result<Option<(PacketId, State)>> {
    let Some(id) = memory.store().get_meta(&meta_key(root)).await? else { return Ok(None) };
    let Ok(id) = id.parse::<PacketId>() else { return Ok(None) };
    let Some(p) = memory.get(id).await? else { return Ok(None) };
    let Some(b) = p.blobs.first() else { return Ok(None) };
    let Some(bytes) = memory.blob(&b.hash).await? else { return Ok(None) };
    let state: State = serde_json::from_slice(&bytes).map_err(|e| {
        IngestError::Input(format!(
            "the stored state of {root} does not read back ({e}); ingest into a new database"
        ))
    })?;
    Ok(Some((id, state)))
}

/// Reads what is new in the repository at `path` and stores it.
pub async fn ingest_git(
    memory: &MemoryService,
    path: &Path,
    opts: &IngestOptions,
    progress: &(dyn Fn(&str, usize, usize) + Sync),
) -> Result<IngestReport> {
    let root = {
        let repo = git::open(path)?;
        git::root_of(&repo).display().to_string()
    };
    let previous = latest_state(memory, &root).await?;
    let mut state = previous.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
    let mut read = ReadOptions { threads: opts.threads, ..Default::default() };
    read.earlier =
        state.head.clone().map(|head| git::Earlier { head, boundary: state.shallow.clone() });
    match &opts.since {
        Some(Since::Rev(rev)) => {
            let repo = git::open(path)?;
            read.hide.push(git::resolve(&repo, rev)?);
        }
        Some(Since::Date(d)) => read.since = Some(*d),
        None => {}
    }
    progress("reading history", 0, 0);
    let clock = memory.clock();
    let t0 = clock.now();
    // The reader diffs (and blames) on every core and hands over batches in order; each is
    // stored while the next ones are read.
    read.szz = !opts.no_szz;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Commit>>(2);
    let owned = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || -> Result<History> {
        git::read_batches(&owned, &read, BATCH, &mut |b| {
            tx.blocking_send(b).map_err(|_| IngestError::Input("the ingest stopped".into()))
        })
    });
    let mut commits: Vec<Commit> = Vec::new();
    let mut parents_known: HashSet<PacketId> = HashSet::new();
    let (mut stored, mut already_stored, mut szz_links, mut unblamed_files) = (0, 0, 0, 0);
    while let Some(batch) = rx.recv().await {
        let ids: HashSet<PacketId> = batch.iter().map(|c| commit_id(&c.sha)).collect();
        let listed: Vec<PacketId> = ids.iter().copied().collect();
        // What an interrupted ingest stored is skipped.
        let present: HashSet<PacketId> =
            memory.store().get_packets(&listed).await?.into_iter().map(|p| p.id).collect();
        already_stored += present.len();
        // Parents from an earlier ingest are stored too.
        let outside: Vec<PacketId> = batch
            .iter()
            .flat_map(|c| c.parents.iter().map(|p| commit_id(p)))
            .filter(|id| !parents_known.contains(id) && !ids.contains(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !outside.is_empty() {
            for p in memory.store().get_packets(&outside).await? {
                parents_known.insert(p.id);
            }
        }
        let mut items = Vec::with_capacity(batch.len());
        for c in &batch {
            let id = commit_id(&c.sha);
            if present.contains(&id) {
                parents_known.insert(id);
                continue;
            }
            let kind = fixes::classify(&c.message);
            szz_links += c.introduced.as_ref().map_or(0, |m| m.len());
            unblamed_files += c.unblamed as usize;
            let parents: Vec<PacketId> = c
                .parents
                .iter()
                .map(|p| commit_id(p))
                .filter(|id| parents_known.contains(id))
                .collect();
            let draft = commit_packet(c, &kind, c.introduced.as_ref(), parents);
            // Sealed as `put` seals: a key pasted into a commit message is not stored.
            items.push(memory.seal(draft, Vec::new(), Some(id))?);
            parents_known.insert(id);
        }
        stored += crate::store_derived(memory, items).await?;
        progress("storing commits", stored, 0);
        commits.extend(batch);
    }
    let history = reader.await.map_err(|e| IngestError::Git {
        path: path.to_owned(),
        message: format!("the reader stopped: {e}"),
    })??;
    let t1 = clock.now();
    let kinds: HashMap<&str, fixes::Kind> =
        commits.iter().map(|c| (c.sha.as_str(), fixes::classify(&c.message))).collect();

    // The accumulated state, then its projection into the knowledge graph.
    let old = state.clone();
    state.extend(&commits, &|c: &Commit| {
        let k = kinds.get(c.sha.as_str()).cloned().unwrap_or_default();
        (k.fix, k.reverts.is_some())
    });
    if history.head.is_some() {
        state.head = history.head.clone();
        state.shallow.clone_from(&history.boundary);
    }
    progress("updating the knowledge graph", 0, 0);
    let (entities_added, relations_added, relations_closed) =
        project(memory, &root, &old, &state, &commits).await?;
    let state_packet = if commits.is_empty() && previous.is_some() {
        previous.as_ref().map(|(id, _)| *id)
    } else {
        Some(store_state(memory, &root, &state, previous.as_ref().map(|(id, _)| *id)).await?)
    };
    let t2 = clock.now();
    let ms =
        |a: DateTime<Utc>, b: DateTime<Utc>| u64::try_from((b - a).num_milliseconds()).unwrap_or(0);
    Ok(IngestReport {
        repo: root,
        head: state.head.clone(),
        read: commits.len(),
        stored,
        already_stored,
        fixes: kinds.values().filter(|k| k.fix).count(),
        reverts: kinds.values().filter(|k| k.reverts.is_some()).count(),
        szz_links,
        unblamed_files,
        shallow: history.shallow,
        files: state.files.len(),
        entities_added,
        relations_added,
        relations_closed,
        total_commits: state.commits,
        total_fixes: state.fixes,
        hotspots: state.hotspots(10),
        fragile: state.fragile(10),
        couplings: state.couplings().into_iter().take(10).collect(),
        hidden_constraints: state.hidden_constraints().into_iter().take(10).collect(),
        state_packet: state_packet.map(|p| p.to_string()),
        read_ms: ms(t0, t1),
        total_ms: ms(t0, t2),
        world_learned: 0,
        world_retired: 0,
    })
}

fn commit_packet(
    c: &Commit,
    kind: &fixes::Kind,
    introduced: Option<&szz::Introducers>,
    parents: Vec<PacketId>,
) -> PacketDraft {
    let mut body = json!({
        "sha": c.sha,
        "parents": c.parents,
        "author": c.author,
        "email": c.email,
        "authored_at": c.authored_at,
        "committed_at": c.committed_at,
        "message": c.message,
        "files": c.files,
        "fix": kind.fix,
    });
    if let Some(r) = &kind.reverts {
        body["reverts"] = json!(r);
    }
    if let Some(i) = introduced {
        body["introduced_by"] = json!(i);
    }
    let files: Vec<&str> = c.files.iter().map(|f| f.path.as_str()).take(50).collect();
    let mut text = c.message.trim().chars().take(4000).collect::<String>();
    if !files.is_empty() {
        text.push_str("\nfiles: ");
        text.push_str(&files.join(" "));
    }
    let mut d = PacketDraft::new("git.commit");
    d.actor = "git".into();
    d.parents = parents;
    d.body = body;
    d.text = Some(text);
    d
}

async fn store_state(
    memory: &MemoryService,
    root: &str,
    state: &State,
    previous: Option<PacketId>,
) -> Result<PacketId> {
    let bytes = serde_json::to_vec(state).map_err(|e| IngestError::Input(format!("state: {e}")))?;
    let couplings: Vec<Coupling> = state.couplings().into_iter().take(20).collect();
    let hotspots = state.hotspots(20);
    let fragile = state.fragile(20);
    let mut d = PacketDraft::new("git.repo");
    d.actor = "git".into();
    d.parents = previous.into_iter().collect();
    d.body = json!({
        "repo": root,
        "head": state.head,
        "commits": state.commits,
        "fixes": state.fixes,
        "reverts": state.reverts,
        "files": state.files.values().filter(|s| !s.gone).count(),
        "hotspots": hotspots,
        "fragile": fragile,
        "couplings": couplings,
        "hidden_constraints": state.hidden_constraints().into_iter().take(20).collect::<Vec<_>>(),
    });
    let mut text = format!("repository {root}: {} commits, {} fixes", state.commits, state.fixes);
    if !hotspots.is_empty() {
        let h: Vec<&str> = hotspots.iter().take(5).map(|h| h.path.as_str()).collect();
        text.push_str(&format!("; hotspots {}", h.join(", ")));
    }
    d.text = Some(text);
    let blob = BlobInput {
        data: bytes,
        media_type: Some("application/json".into()),
        name: Some("state.json".into()),
    };
    // One state per HEAD and, for a shallow clone, per boundary (a deepened clone has the
    // same HEAD and more history).
    let mut key = format!("{root}\0{}", state.head.as_deref().unwrap_or(""));
    for b in &state.shallow {
        key.push('\0');
        key.push_str(b);
    }
    let id = PacketId(derived_id("repo", &key));
    crate::store_derived(memory, vec![memory.seal(d, vec![blob], Some(id))?]).await?;
    memory.store().set_meta(&meta_key(root), &id.to_string()).await?;
    Ok(id)
}

fn entity_id(root: &str, kind: &str, name: &str) -> EntityId {
    EntityId(derived_id(kind, &format!("{root}\0{name}")))
}

fn module_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(".", |(d, _)| d)
}

/// Files and modules as entities (`contains` module → file, `renamed_to` old → new), and the
/// `co_changes` relations whose count changed: the old count's relation ends when the new
/// one starts. Returns (entities added, relations added, relations closed).
async fn project(
    memory: &MemoryService,
    root: &str,
    old: &State,
    new: &State,
    commits: &[Commit],
) -> Result<(usize, usize, usize)> {
    let store = memory.store();
    let now = l9_store::to_micros(memory.clock().now());
    let (mut ents, mut rels, mut closed) = (0, 0, 0);
    let mut seen: HashSet<EntityId> = HashSet::new();
    let mut renames: Vec<(&str, &str, DateTime<Utc>)> = Vec::new();
    let mut first: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for c in commits {
        for f in &c.files {
            first.entry(f.path.as_str()).or_insert(c.authored_at);
            if let Some(from) = &f.from {
                first.entry(from.as_str()).or_insert(c.authored_at);
                renames.push((from.as_str(), f.path.as_str(), c.authored_at));
            }
        }
    }
    // Entities and their structural relations, in one transaction.
    let (mut entities, mut relations) = (Vec::new(), Vec::new());
    let mut known: HashSet<EntityId> = HashSet::new();
    // What is stored already, in two reads rather than one per file.
    let mut stored: HashSet<EntityId> = HashSet::new();
    for kind in ["file", "module"] {
        let q = l9_store::EntityQuery { kind: Some(kind.into()), ..Default::default() };
        stored.extend(store.entities(&q).await?.into_iter().map(|e| e.id));
    }
    for (path, at) in &first {
        let at = l9_store::to_micros(*at);
        let fid = entity_id(root, "file", path);
        if !seen.insert(fid) {
            continue;
        }
        if stored.contains(&fid) {
            known.insert(fid);
            continue;
        }
        entities.push(entity(fid, "file", path, json!({"repo": root}), at, now));
        known.insert(fid);
        let module = module_of(path);
        let mid = entity_id(root, "module", module);
        if seen.insert(mid) && !stored.contains(&mid) {
            entities.push(entity(mid, "module", module, json!({"repo": root}), at, now));
        }
        let rid = RelationId(derived_id("contains", &format!("{root}\0{path}")));
        relations.push(relation(rid, "contains", mid, fid, json!({}), at, now));
    }
    for (from, to, at) in renames {
        let rid = RelationId(derived_id("renamed_to", &format!("{root}\0{from}\0{to}\0{at}")));
        let (a, b) = (entity_id(root, "file", from), entity_id(root, "file", to));
        relations.push(relation(rid, "renamed_to", a, b, json!({}), l9_store::to_micros(at), now));
    }
    ents += entities.len();
    rels += relations.len();
    store.put_graph(&entities, &relations).await?;
    // Files deleted or renamed away end their validity.
    for (path, s) in &new.files {
        if !s.gone || old.files.get(path).is_some_and(|o| o.gone) {
            continue;
        }
        let fid = entity_id(root, "file", path);
        if let (Some(e), Some(end)) = (store.get_entity(fid).await?, s.last_at) {
            let end = l9_store::to_micros(end);
            if e.valid_to.is_none() && end > e.valid_from {
                store.invalidate_entity(fid, end, now).await?;
            }
        }
    }
    // Couplings whose count changed.
    let last_together: HashMap<(&str, &str), DateTime<Utc>> = {
        let mut m = HashMap::new();
        for c in commits {
            for pair in changed_together(c) {
                m.insert(pair, c.authored_at);
            }
        }
        m
    };
    let mut couplings = Vec::new();
    for ((a, b), n) in &new.pairs {
        let before = old.pairs.get(&(a.clone(), b.clone())).copied().unwrap_or(0);
        if *n < MIN_CO_CHANGES || *n == before {
            continue;
        }
        let (ea, eb) = (entity_id(root, "file", a), entity_id(root, "file", b));
        let mut stored = true;
        for e in [ea, eb] {
            if !known.contains(&e) {
                stored = store.get_entity(e).await?.is_some();
                if stored {
                    known.insert(e);
                } else {
                    break;
                }
            }
        }
        if !stored {
            continue; // a pair carried over a rename of a file this ingest never saw
        }
        let at = last_together.get(&(a.as_str(), b.as_str())).copied().unwrap_or(now);
        let at = l9_store::to_micros(at);
        if before >= MIN_CO_CHANGES {
            let q = RelationQuery {
                entity: Some(ea),
                direction: RelationDirection::Out,
                kind: Some("co_changes".into()),
                as_of: None,
            };
            for r in store.relations(&q).await? {
                if r.to == eb && r.valid_to.is_none() && at > r.valid_from {
                    store.invalidate_relation(r.id, at, now).await?;
                    closed += 1;
                }
            }
        }
        let rid = RelationId(derived_id("co_changes", &format!("{root}\0{a}\0{b}\0{n}")));
        couplings.push(relation(rid, "co_changes", ea, eb, json!({"count": n}), at, now));
    }
    rels += couplings.len();
    store.put_graph(&[], &couplings).await?;
    Ok((ents, rels, closed))
}

fn entity(
    id: EntityId,
    kind: &str,
    name: &str,
    attrs: serde_json::Value,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Entity {
    Entity {
        id,
        kind: kind.into(),
        name: name.into(),
        attrs,
        valid_from: at,
        valid_to: None,
        recorded_at: now,
        invalidated_at: None,
        source: None,
    }
}

fn relation(
    id: RelationId,
    kind: &str,
    from: EntityId,
    to: EntityId,
    attrs: serde_json::Value,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Relation {
    Relation {
        id,
        kind: kind.into(),
        from,
        to,
        attrs,
        valid_from: at,
        valid_to: None,
        recorded_at: now,
        invalidated_at: None,
        source: None,
    }
}

/// The message model of every ingested commit (`git.commit` packets): what their words say
/// about the files changed with them.
pub async fn message_model(memory: &MemoryService) -> Result<crate::conflict::MessageModel> {
    let mut model = crate::conflict::MessageModel::default();
    let filter = l9_store::PacketFilter { kinds: vec!["git.commit".into()], ..Default::default() };
    let mut after = None;
    loop {
        let page =
            memory.store().list_packets(&filter, &l9_store::Page { after, limit: 1000 }).await?;
        for p in &page.packets {
            let message = p.body["message"].as_str().unwrap_or_default();
            let files: Vec<&str> = p.body["files"]
                .as_array()
                .map(|fs| fs.iter().filter_map(|f| f["path"].as_str()).collect())
                .unwrap_or_default();
            model.add(message, files);
        }
        match page.next {
            Some(n) if !page.packets.is_empty() => after = Some(n),
            _ => break,
        }
    }
    Ok(model)
}
