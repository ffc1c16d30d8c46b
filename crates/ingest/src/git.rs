//! Reading a repository's history with gitoxide (`gix`): commits with their parents, author,
//! times and message, and for each commit with one parent (or none) the files it changed with
//! added/removed lines and renames — what `git log --numstat -M` shows, read from the object
//! database directly. Merges list no files (as `git log` without `-m`): their changes are
//! their sides' commits.
//!
//! Diffs run on every core (commits are independent once listed); the result is in
//! topological order, parents before children, whatever the clocks of the commits say.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use gix::bstr::ByteSlice;
use gix::object::tree::diff::Change;
use serde::{Deserialize, Serialize};

use crate::{IngestError, Result};

/// What one commit did to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    /// The file's earlier path, for a rename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `A` added, `D` deleted, `M` modified, `R` renamed (possibly modified too).
    pub status: char,
    /// Lines added and removed (`None` for binary content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<u32>,
}

/// One commit as read from the repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub parents: Vec<String>,
    pub author: String,
    pub email: String,
    /// When the change was written (author time): what lead time is measured from.
    pub authored_at: DateTime<Utc>,
    pub committed_at: DateTime<Utc>,
    pub message: String,
    pub files: Vec<FileChange>,
    /// For a fix read with SZZ on: the commits that introduced the lines it fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<crate::szz::Introducers>,
    /// For a fix read with SZZ on: files it changed too large to blame
    /// (`L9_MAX_BLAMED_FILE_BYTES`), left out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unblamed: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Commit {
    /// The message's first line.
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or("").trim()
    }

    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }
}

/// A tag and the commit it points at (peeled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub name: String,
    pub sha: String,
    /// The tagger's time for an annotated tag, else the commit's committer time.
    pub at: DateTime<Utc>,
}

/// Where a read starts from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// Commits reachable from these are not read (already ingested, or `--since REV`).
    pub hide: Vec<String>,
    /// Commits authored before this are not read (`--since DATE`).
    pub since: Option<DateTime<Utc>>,
    /// Threads for the diffs (0: one per core).
    pub threads: usize,
    /// Blame each fix (SZZ) as it is read: [`Commit::introduced`].
    pub szz: bool,
    /// What an earlier read took: HEAD's history then, down to the shallow boundary it had.
    /// Its commits are not read again; where the clone has been deepened since (`git fetch
    /// --unshallow` or `--deepen`), the history past that boundary is.
    pub earlier: Option<Earlier>,
}

/// An earlier read of a repository: the HEAD it read to and, for a shallow clone, the
/// commits its history started at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Earlier {
    pub head: String,
    pub boundary: Vec<String>,
}

/// A read history: the commits (parents first), HEAD and the tags.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The repository's working directory (or git directory when bare), canonical.
    pub root: PathBuf,
    pub head: Option<String>,
    pub commits: Vec<Commit>,
    pub tags: Vec<Tag>,
    /// In a shallow clone, the commits the history starts at, whose parents the clone does not
    /// hold: each is read as a first commit (its files all added), as `git log` shows it.
    pub shallow: usize,
    /// Those commits (a later read that finds them deepened reads past them).
    pub boundary: Vec<String>,
}

fn git_err(root: &Path, what: &str, e: impl std::fmt::Display) -> IngestError {
    IngestError::Git { path: root.to_owned(), message: format!("{what}: {e}") }
}

/// Opens the repository at or above `path`.
pub fn open(path: &Path) -> Result<gix::Repository> {
    if !path.exists() {
        return Err(IngestError::Input(format!(
            "{}: no such directory; give the path of a git repository",
            path.display()
        )));
    }
    gix::discover(path).map_err(|e| IngestError::Input(format!(
        "{}: not a git repository ({e}); give the path of a git repository (a clone, or `git clone FILE.bundle DIR` for a bundle)",
        path.display()
    )))
}

/// The canonical path that names a repository in the store.
pub fn root_of(repo: &gix::Repository) -> PathBuf {
    let p = repo.workdir().unwrap_or_else(|| repo.git_dir());
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

fn time_of(t: gix::date::Time) -> DateTime<Utc> {
    Utc.timestamp_opt(t.seconds, 0).single().unwrap_or_default()
}

/// Resolves `rev` (a hash, branch, tag or any rev-spec) to a commit hash.
pub fn resolve(repo: &gix::Repository, rev: &str) -> Result<String> {
    let root = root_of(repo);
    let id = repo.rev_parse_single(rev.as_bytes().as_bstr()).map_err(|e| {
        IngestError::Input(format!(
            "{}: `{rev}` names no revision ({e}); give a commit hash, branch or tag, or a date (YYYY-MM-DD)",
            root.display()
        ))
    })?;
    let commit = id.object().map_err(|e| git_err(&root, "reading an object", e))?;
    let commit = commit.peel_to_commit().map_err(|e| {
        IngestError::Input(format!("{}: `{rev}` is not a commit ({e})", root.display()))
    })?;
    Ok(commit.id.to_string())
}

/// The committer time of the commit `rev` names in the repository at `path`.
pub fn time_of_rev(path: &Path, rev: &str) -> Result<DateTime<Utc>> {
    let repo = open(path)?;
    let sha = resolve(&repo, rev)?;
    let root = root_of(&repo);
    let id =
        gix::ObjectId::from_hex(sha.as_bytes()).map_err(|e| git_err(&root, "a commit id", e))?;
    let c = repo.find_commit(id).map_err(|e| git_err(&root, "reading a commit", e))?;
    Ok(c.time().map(time_of).unwrap_or_default())
}

/// The tags whose target peels to a commit, oldest first (ties by name).
pub fn tags(repo: &gix::Repository) -> Result<Vec<Tag>> {
    let root = root_of(repo);
    let refs = repo.references().map_err(|e| git_err(&root, "listing references", e))?;
    let mut out = Vec::new();
    for r in refs.tags().map_err(|e| git_err(&root, "listing tags", e))? {
        let Ok(mut r) = r else { continue };
        let name = r.name().shorten().to_string();
        let direct = r.id().detach();
        let Ok(commit) = r.peel_to_commit() else { continue };
        let mut at = commit.time().map(time_of).unwrap_or_default();
        if let Ok(obj) = repo.find_object(direct)
            && let Ok(tag) = obj.try_into_tag()
            && let Ok(Some(tagger)) = tag.tagger()
            && let Ok(t) = tagger.time()
        {
            at = time_of(t);
        }
        out.push(Tag { name, sha: commit.id.to_string(), at });
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// Reads HEAD's history (minus `opts.hide`'s and what precedes `opts.since`).
pub fn read(path: &Path, opts: &ReadOptions) -> Result<History> {
    let mut commits = Vec::new();
    let mut h = read_batches(path, opts, 256, &mut |batch| {
        commits.extend(batch);
        Ok(())
    })?;
    h.commits = commits;
    Ok(h)
}

/// Like [`read`], handing the commits to `each` in batches of about `batch`, parents first,
/// while the next batches are still being diffed (on every core): a caller stores one batch
/// while the reader works on the next. The returned history has no commits.
pub fn read_batches(
    path: &Path,
    opts: &ReadOptions,
    batch: usize,
    each: &mut dyn FnMut(Vec<Commit>) -> Result<()>,
) -> Result<History> {
    let mut repo = open(path)?;
    let root = root_of(&repo);
    let tags = tags(&repo)?;
    let head = match repo.head_id() {
        Ok(id) => id.detach(),
        // An empty repository (no commit yet): nothing to read.
        Err(_) => {
            return Ok(History {
                root,
                head: None,
                commits: Vec::new(),
                tags,
                shallow: 0,
                boundary: Vec::new(),
            });
        }
    };
    let boundary_now: HashSet<gix::ObjectId> = repo
        .shallow_commits()
        .ok()
        .flatten()
        .map(|c| c.iter().copied().collect())
        .unwrap_or_default();
    let shallow = boundary_now.len();
    let size = repo
        .index_or_empty()
        .map(|i| repo.compute_object_cache_size_for_tree_diffs(&i))
        .unwrap_or(4 << 20);
    repo.object_cache_size_if_unset(size);
    let mut hidden = Vec::new();
    for h in &opts.hide {
        match gix::ObjectId::from_hex(h.as_bytes()) {
            // A hidden tip that no longer exists (history rewritten) hides nothing.
            Ok(id) if repo.find_object(id).is_ok() => hidden.push(id),
            _ => {}
        }
    }
    // What an earlier read took: hidden by its HEAD while the boundary it stopped at still
    // holds; else (the clone was deepened) listed, so what lies past the boundary is read.
    let mut read_before = HashSet::new();
    if let Some(e) = &opts.earlier
        && let Ok(id) = gix::ObjectId::from_hex(e.head.as_bytes())
        && repo.find_object(id).is_ok()
    {
        let cut: HashSet<gix::ObjectId> =
            e.boundary.iter().filter_map(|b| gix::ObjectId::from_hex(b.as_bytes()).ok()).collect();
        if cut.iter().all(|c| boundary_now.contains(c)) {
            hidden.push(id);
        } else {
            read_before = reachable_above(&repo, id, &cut);
        }
    }
    let walk = repo
        .rev_walk([head])
        .with_hidden(hidden)
        .all()
        .map_err(|e| git_err(&root, "walking the history", e))?;
    let mut listed: Vec<(gix::ObjectId, Vec<gix::ObjectId>)> = Vec::new();
    for info in walk {
        let info = info.map_err(|e| git_err(&root, "walking the history", e))?;
        if !read_before.contains(&info.id) {
            listed.push((info.id, info.parent_ids.iter().copied().collect()));
        }
    }
    let order = topological(&listed);
    let ids: Vec<gix::ObjectId> = order.iter().map(|&i| listed[i].0).collect();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    } else {
        opts.threads
    }
    .clamp(1, 16);
    let shared = repo.into_sync();
    let chunks: Vec<&[gix::ObjectId]> = ids.chunks(batch.max(1)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let since = opts.since;
    let szz = opts.szz;
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Result<Vec<Commit>>)>(threads * 2);
        for _ in 0..threads {
            let (tx, shared, root, chunks, next, stop) =
                (tx.clone(), &shared, &root, &chunks, &next, &stop);
            s.spawn(move || {
                let repo = shared.to_thread_local();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= chunks.len() || stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let r = read_commits(&repo, root, chunks[i]).map(|mut cs| {
                        if szz {
                            for c in cs.iter_mut() {
                                if c.parents.len() == 1 && crate::fixes::classify(&c.message).fix {
                                    let found = crate::szz::introducers(&repo, c);
                                    c.unblamed = found.too_large;
                                    c.introduced = (!found.introducers.is_empty())
                                        .then_some(found.introducers);
                                }
                            }
                        }
                        cs
                    });
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Deliver in order: hold what arrives early.
        let mut pending: std::collections::BTreeMap<usize, Vec<Commit>> = Default::default();
        let mut want = 0;
        let mut outcome = Ok(());
        for (i, r) in rx {
            if outcome.is_err() {
                continue; // drain so the workers can finish
            }
            match r {
                Ok(cs) => {
                    pending.insert(i, cs);
                }
                Err(e) => {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    outcome = Err(e);
                    continue;
                }
            }
            while let Some(mut cs) = pending.remove(&want) {
                want += 1;
                if let Some(since) = since {
                    cs.retain(|c| c.authored_at >= since);
                }
                if let Err(e) = each(cs) {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    outcome = Err(e);
                    break;
                }
            }
        }
        outcome
    })?;
    let mut boundary: Vec<String> = boundary_now.iter().map(ToString::to_string).collect();
    boundary.sort();
    Ok(History { root, head: Some(head.to_string()), commits: Vec::new(), tags, shallow, boundary })
}

/// The commits reachable from `tip` without going past `cut` (whose parents are not
/// followed): the history a read of a shallow clone cut there took.
fn reachable_above(
    repo: &gix::Repository,
    tip: gix::ObjectId,
    cut: &HashSet<gix::ObjectId>,
) -> HashSet<gix::ObjectId> {
    let mut seen = HashSet::from([tip]);
    let mut todo = vec![tip];
    while let Some(id) = todo.pop() {
        if cut.contains(&id) {
            continue;
        }
        let Ok(commit) = repo.find_commit(id) else { continue };
        for p in commit.parent_ids() {
            let p = p.detach();
            if seen.insert(p) {
                todo.push(p);
            }
        }
    }
    seen
}

/// Indices of `listed` with every commit after its parents (parents outside the list are
/// already known or hidden).
fn topological(listed: &[(gix::ObjectId, Vec<gix::ObjectId>)]) -> Vec<usize> {
    let index: HashMap<gix::ObjectId, usize> =
        listed.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
    let mut done: HashSet<usize> = HashSet::with_capacity(listed.len());
    let mut order = Vec::with_capacity(listed.len());
    // The walk lists children first: start from the oldest listed so the output reads
    // roughly in time, then depth-first through the parents still to place.
    for start in (0..listed.len()).rev() {
        if done.contains(&start) {
            continue;
        }
        let mut stack = vec![(start, false)];
        while let Some((i, expanded)) = stack.pop() {
            if done.contains(&i) {
                continue;
            }
            if expanded {
                done.insert(i);
                order.push(i);
                continue;
            }
            stack.push((i, true));
            for p in listed[i].1.iter().rev() {
                if let Some(&j) = index.get(p)
                    && !done.contains(&j)
                {
                    stack.push((j, false));
                }
            }
        }
    }
    order
}

fn read_commits(repo: &gix::Repository, root: &Path, ids: &[gix::ObjectId]) -> Result<Vec<Commit>> {
    let mut cache =
        repo.diff_resource_cache_for_tree_diff().map_err(|e| git_err(root, "diff cache", e))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let commit =
            repo.find_commit(*id).map_err(|e| git_err(root, &format!("reading commit {id}"), e))?;
        let author = commit.author().map_err(|e| git_err(root, &format!("commit {id}"), e))?;
        let authored_at = author.time().map(time_of).unwrap_or_default();
        let encoding = commit.decode().ok().and_then(|c| c.encoding.map(|e| e.to_string()));
        let (name, email) = (
            text_of(author.name, encoding.as_deref()).trim().to_owned(),
            author.email.to_str_lossy().trim().to_owned(),
        );
        let committed_at = commit.time().map(time_of).unwrap_or(authored_at);
        let message = text_of(commit.message_raw_sloppy(), encoding.as_deref());
        // A parent the repository does not hold (a shallow clone's boundary) is no parent: the
        // commit is read as a first one, as `git log` shows it.
        let parents: Vec<gix::ObjectId> =
            commit.parent_ids().map(|p| p.detach()).filter(|p| repo.has_object(p)).collect();
        let files = if parents.len() > 1 {
            Vec::new()
        } else {
            changed_files(repo, root, &commit, parents.first(), &mut cache)?
        };
        out.push(Commit {
            sha: id.to_string(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            author: name,
            email,
            authored_at,
            committed_at,
            message,
            files,
            introduced: None,
            unblamed: 0,
        });
    }
    Ok(out)
}

/// A commit's text (message, author name) as a string: UTF-8 as git assumes, or Latin-1 /
/// Windows-1252 when the commit's `encoding` header says so or the bytes are not UTF-8 (what
/// old repositories' messages are written in); other encodings replace what is not UTF-8.
/// C1 control characters are read as the Windows-1252 characters they stand for.
fn text_of(bytes: &gix::bstr::BStr, encoding: Option<&str>) -> String {
    let latin = |e: &str| {
        let e = e.to_ascii_lowercase().replace(['-', '_'], "");
        matches!(e.as_str(), "iso88591" | "latin1" | "l1" | "cp1252" | "windows1252" | "iso885915")
    };
    match std::str::from_utf8(bytes) {
        // Git stores a message that is not UTF-8 as if it were Latin-1, so Windows-1252's
        // quotes and dashes arrive as C1 controls (U+0093): they are what was meant.
        Ok(s) if encoding.is_none_or(|e| !latin(e)) => s
            .chars()
            .map(|c| match u8::try_from(u32::from(c)) {
                Ok(b @ 0x80..=0x9f) => windows_1252(b),
                _ => c,
            })
            .collect(),
        Err(_) if encoding.is_some_and(|e| !latin(e)) => bytes.to_str_lossy().into_owned(),
        _ => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

/// A byte of Windows-1252 (Latin-1 with printable characters where Latin-1 has C1 controls).
pub(crate) fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

fn changed_files(
    repo: &gix::Repository,
    root: &Path,
    commit: &gix::Commit<'_>,
    parent: Option<&gix::ObjectId>,
    cache: &mut gix::diff::blob::Platform,
) -> Result<Vec<FileChange>> {
    let err =
        |e: &dyn std::fmt::Display| git_err(root, &format!("diffing commit {}", commit.id), e);
    let tree = commit.tree().map_err(|e| err(&e))?;
    let before = match parent {
        Some(p) => repo.find_commit(*p).map_err(|e| err(&e))?.tree().map_err(|e| err(&e))?,
        None => repo.empty_tree(),
    };
    let mut files = Vec::new();
    let mut changes = before.changes().map_err(|e| err(&e))?;
    changes.options(|o| {
        o.track_path().track_rewrites(Some(gix::diff::Rewrites::default()));
    });
    changes
        .for_each_to_obtain_tree(&tree, |ch| {
            // Files, symbolic links and submodules, as `git log --numstat` lists them (a
            // submodule's change has no line counts); not trees.
            let mode = ch.entry_mode();
            if !(mode.is_blob_or_symlink() || mode.is_commit()) {
                return Ok::<_, gix::Error>(std::ops::ControlFlow::Continue(()));
            }
            let (status, from) = match &ch {
                Change::Addition { .. } => ('A', None),
                Change::Deletion { .. } => ('D', None),
                Change::Modification { .. } => ('M', None),
                Change::Rewrite { source_location, copy, .. } => {
                    if *copy {
                        ('A', None)
                    } else {
                        ('R', Some(source_location.to_str_lossy().into_owned()))
                    }
                }
            };
            let counts = if mode.is_commit() {
                None
            } else {
                ch.diff(cache).ok().and_then(|mut p| p.line_counts().ok().flatten())
            };
            cache.clear_resource_cache_keep_allocation();
            files.push(FileChange {
                path: ch.location().to_str_lossy().into_owned(),
                from,
                status,
                added: counts.map(|c| c.insertions),
                removed: counts.map(|c| c.removals),
            });
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .map_err(|e| err(&e))?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}
