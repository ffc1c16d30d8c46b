//! Long-term knowledge ingestors (`l9 ingest git`) and DORA from a repository's history
//! (`l9 dora`), next to the same figures for L9's own runs.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use l9_ingest::IngestError;
use l9_ingest::dora::median;
use l9_store::TaskFilter;
use l9_types::Diagnostic;
use serde::Serialize;

use crate::{Engine, EngineError, Result};

pub use l9_ingest::dora::{
    DEFAULT_TAGS, Deployment, Deploys, DoraOptions, DoraReport, Period, Row,
};
pub use l9_ingest::history::{Coupling, Hotspot};
pub use l9_ingest::{IngestOptions, IngestReport, Since};

impl From<IngestError> for EngineError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Input(m) => EngineError::Input(vec![Diagnostic::error("L9-INGEST", m)]),
            IngestError::Git { path, message } => EngineError::Input(vec![
                Diagnostic::error("L9-GIT", format!("{}: {message}", path.display()))
                    .with_help("check that the repository is readable (git fsck)"),
            ]),
            IngestError::Memory(m) => EngineError::Memory(m),
            IngestError::Store(s) => EngineError::Store(s),
        }
    }
}

impl Engine {
    /// Reads what is new in the repository at `path` into this project's memory.
    /// The world model learns what the history says (hidden constraints, fragile files,
    /// couplings, anchored to the files): statements new since the last ingest are recorded,
    /// ones it no longer supports retired.
    pub async fn ingest_git(
        &self,
        path: &Path,
        opts: &IngestOptions,
        progress: &(dyn Fn(&str, usize, usize) + Sync),
    ) -> Result<IngestReport> {
        let root = repo_root(path)?.display().to_string();
        let before = l9_ingest::latest_state(self.memory(), &root).await?.map(|(_, s)| s);
        let mut r = l9_ingest::ingest_git(self.memory(), path, opts, progress).await?;
        if let Some((id, now)) = l9_ingest::latest_state(self.memory(), &root).await? {
            let (learned, retired) =
                self.learn_from_history(&root, before.as_ref(), &now, id).await?;
            r.world_learned = learned;
            r.world_retired = retired;
        }
        // The command that brought the vectors pays for their index, not the next search
        // (SQLite builds it in the background; a short-lived process would leave it unbuilt).
        self.store().wait_for_index().await?;
        Ok(r)
    }

    /// Records in the world model what `now` says and `before` did not (and retires what
    /// `before` said and `now` does not), once per repository and head.
    async fn learn_from_history(
        &self,
        root: &str,
        before: Option<&l9_ingest::history::State>,
        now: &l9_ingest::history::State,
        evidence: l9_types::PacketId,
    ) -> Result<(usize, usize)> {
        use l9_world::learn::constraint_id;
        use l9_world::{Anchor, Delta, Observation};
        let Some(head) = now.head.clone() else { return Ok((0, 0)) };
        let old: Vec<(String, String)> = before.map(|b| b.lessons(LESSONS)).unwrap_or_default();
        let new = now.lessons(LESSONS);
        let at =
            time_of_rev(Path::new(root), &head).unwrap_or_else(|_| self.memory().clock().now());
        let mut deltas = Vec::new();
        for (file, text) in new.iter().filter(|l| !old.contains(l)) {
            let anchor = Anchor { path: file.clone(), commit: Some(head.clone()) };
            deltas.push(
                Observation::new(
                    Delta::HiddenConstraint { trigger: file.clone(), text: text.clone() },
                    at,
                )
                .anchored(Some(anchor)),
            );
        }
        let learned = deltas.len();
        for (file, text) in old.iter().filter(|l| !new.contains(l)) {
            deltas.push(Observation::new(
                Delta::Retire {
                    item: constraint_id(file, text),
                    reason: format!(
                        "the history up to {} no longer says so",
                        &head[..head.len().min(12)]
                    ),
                },
                at,
            ));
        }
        let retired = deltas.len() - learned;
        if deltas.is_empty() {
            return Ok((0, 0));
        }
        // One recording per repository and head: a second ingest of it records nothing.
        let run = l9_types::RunId(l9_ingest::derived_id("world", &format!("{root}\0{head}")));
        let rec = self.world().record_run_deltas(run, &deltas, Some(evidence)).await?;
        Ok(if rec.new { (learned, retired) } else { (0, 0) })
    }

    /// DORA figures of this project's own loop runs, by period: a run that merged is a
    /// deployment (at its end), its lead time is the run's; a run that ended dead is a
    /// failed change; time to restore is the runs' own (failed gate → next passing one).
    pub async fn runs_dora(&self, by: Period, since: Option<DateTime<Utc>>) -> Result<RunsDora> {
        let filter =
            TaskFilter { kind: Some("l9.run".into()), roots_only: true, ..Default::default() };
        let mut after = None;
        let mut runs: Vec<FinishedRun> = Vec::new();
        loop {
            let page = self.list_tasks(&filter, after, 500).await?;
            for t in &page.tasks {
                let done = match t.state {
                    l9_store::TaskState::Succeeded => true,
                    l9_store::TaskState::Dead => false,
                    _ => continue,
                };
                if since.is_some_and(|s| t.updated_at < s) {
                    continue;
                }
                let dora =
                    t.result.as_ref().and_then(|r| r.get("dora")).and_then(|d| {
                        serde_json::from_value::<crate::stages::Dora>(d.clone()).ok()
                    });
                runs.push(FinishedRun { at: t.updated_at, ok: done, dora });
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let mut groups: BTreeMap<String, Vec<&FinishedRun>> = BTreeMap::new();
        for r in &runs {
            groups.entry(by.key(r.at)).or_default().push(r);
        }
        let row = |period: String, rs: &[&FinishedRun]| {
            let deployed: Vec<_> = rs
                .iter()
                .filter(|r| r.ok && r.dora.as_ref().is_some_and(|d| !d.merged.is_empty()))
                .collect();
            let mut leads: Vec<f64> = deployed
                .iter()
                .filter_map(|r| r.dora.as_ref().map(|d| d.lead_time_minutes / 60.0))
                .collect();
            let mut restores: Vec<f64> = rs
                .iter()
                .filter_map(|r| {
                    r.dora.as_ref().and_then(|d| d.time_to_restore_minutes).map(|m| m / 60.0)
                })
                .collect();
            let failed = rs.iter().filter(|r| !r.ok).count();
            Row {
                period,
                deployments: deployed.len(),
                changes: deployed
                    .iter()
                    .filter_map(|r| r.dora.as_ref().map(|d| d.merged.len()))
                    .sum(),
                lead_time_median_h: median(&mut leads),
                change_failure_rate: (!rs.is_empty()).then(|| failed as f64 / rs.len() as f64),
                time_to_restore_median_h: median(&mut restores),
            }
        };
        let rows: Vec<Row> = groups.iter().map(|(p, rs)| row(p.clone(), rs)).collect();
        let all: Vec<_> = runs.iter().collect();
        Ok(RunsDora { runs: runs.len(), rows, total: row("all".into(), &all) })
    }
}

/// A loop run that ended: when, whether it succeeded, its DORA figures.
#[derive(Debug)]
struct FinishedRun {
    at: DateTime<Utc>,
    ok: bool,
    dora: Option<crate::stages::Dora>,
}

/// DORA of L9's own runs.
#[derive(Debug, Clone, Serialize)]
pub struct RunsDora {
    /// Finished loop runs considered.
    pub runs: usize,
    pub rows: Vec<Row>,
    pub total: Row,
}

/// The canonical root of the repository at or above `path` (an error naming the path when
/// there is none).
pub fn repo_root(path: &Path) -> Result<std::path::PathBuf> {
    Ok(l9_ingest::git::root_of(&l9_ingest::git::open(path)?))
}

/// The commit time of `rev` in the repository at `path`.
pub fn time_of_rev(path: &Path, rev: &str) -> Result<DateTime<Utc>> {
    Ok(l9_ingest::git::time_of_rev(path, rev)?)
}

/// Deployments are tags matching `pattern`.
pub fn tag_deploys(pattern: &str) -> Result<Deploys> {
    Ok(Deploys::tags(pattern)?)
}

/// DORA from the history of the repository at `path` (read whole; SZZ on its fixes unless
/// `no_szz`).
pub async fn repo_dora(
    path: &Path,
    opts: DoraOptions,
    no_szz: bool,
    threads: usize,
) -> Result<DoraReport> {
    let path = path.to_owned();
    let report = tokio::task::spawn_blocking(move || -> Result<DoraReport> {
        let h = l9_ingest::git::read(
            &path,
            &l9_ingest::git::ReadOptions { threads, ..Default::default() },
        )?;
        let blamed = if no_szz {
            None
        } else {
            Some(l9_ingest::szz::blame_fixes(&path, &h.commits, threads)?)
        };
        let mut report =
            l9_ingest::dora::compute(&h, blamed.as_ref().map(|b| &b.introduced), &opts);
        report.unblamed_files = blamed.map_or(0, |b| b.too_large);
        Ok(report)
    })
    .await
    .map_err(|e| EngineError::Internal(format!("the history reader stopped: {e}")))??;
    Ok(report)
}

pub use l9_ingest::code::{CodeIndex, CodeReport, Focus, SymbolHit};

/// Files of a repository the world model keeps a statement about from its history.
const LESSONS: usize = 40;

/// Tokens of the repo map a coding task gets.
pub const MAP_TOKENS: usize = 1024;

impl Engine {
    /// Indexes the source files of the repository (or directory) at `path`: what changed
    /// since the last code ingest is parsed, new definitions stored as `code.symbol` packets.
    pub async fn ingest_code(&self, path: &Path, threads: usize) -> Result<CodeReport> {
        let r = l9_ingest::code::ingest_code(self.memory(), path, threads).await?;
        self.store().wait_for_index().await?; // as in `ingest_git`
        Ok(r)
    }

    /// The code index of the repository at `path`, brought up to date first.
    pub async fn code_index(&self, path: &Path) -> Result<(String, CodeIndex)> {
        let r = self.ingest_code(path, 0).await?;
        let index = l9_ingest::code::latest_code(self.memory(), &r.repo)
            .await?
            .map(|(_, i)| i)
            .unwrap_or_default();
        Ok((r.repo, index))
    }

    /// The repo map of `path` within `tokens`, leaning towards the files and names `focus`
    /// (free text: a task, a question) mentions.
    pub async fn repo_map(&self, path: &Path, focus: &str, tokens: usize) -> Result<String> {
        let (_, index) = self.code_index(path).await?;
        Ok(l9_ingest::code::map_for_text(&index, focus, tokens))
    }

    /// The definitions of `index` (of the repository at `root`) that best answer `query`.
    pub async fn search_code(
        &self,
        root: &str,
        index: &CodeIndex,
        query: &str,
        k: usize,
    ) -> Result<Vec<SymbolHit>> {
        Ok(l9_ingest::code::search_code(self.memory(), root, index, query, k).await?)
    }
}

/// A coding task's knowledge of its repository: the code index and the history the run's
/// recall stage brought up to date, read once, on first use.
#[derive(Debug)]
pub struct RepoCode {
    memory: l9_memory::MemoryService,
    repo: std::path::PathBuf,
    loaded: tokio::sync::OnceCell<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    root: String,
    index: Option<CodeIndex>,
    history: Option<l9_ingest::history::State>,
}

impl RepoCode {
    pub fn new(memory: l9_memory::MemoryService, repo: std::path::PathBuf) -> Self {
        RepoCode { memory, repo, loaded: tokio::sync::OnceCell::new() }
    }

    async fn loaded(&self) -> &Loaded {
        self.loaded
            .get_or_init(|| async {
                let root = l9_ingest::code::index::source_files(&self.repo)
                    .map(|(r, _)| r.display().to_string())
                    .unwrap_or_else(|_| self.repo.display().to_string());
                let index = l9_ingest::code::latest_code(&self.memory, &root)
                    .await
                    .ok()
                    .flatten()
                    .map(|(_, i)| i);
                let history = l9_ingest::latest_state(&self.memory, &root)
                    .await
                    .ok()
                    .flatten()
                    .map(|(_, s)| s);
                Loaded { root, index, history }
            })
            .await
    }
}

#[async_trait::async_trait]
impl l9_agents::tools::RepoKnowledge for RepoCode {
    async fn search_code(&self, query: &str, k: usize) -> std::result::Result<Vec<String>, String> {
        let l = self.loaded().await;
        let Some(index) = &l.index else {
            return Err("this repository's code is not indexed (`l9 ingest code`)".into());
        };
        let hits = l9_ingest::code::search_code(&self.memory, &l.root, index, query, k)
            .await
            .map_err(|e| e.to_string())?;
        Ok(hits.iter().map(ToString::to_string).collect())
    }

    async fn notes_for(&self, path: &str) -> Vec<String> {
        let l = self.loaded().await;
        l.history.as_ref().map(|h| h.notes_for_path(path, 3)).unwrap_or_default()
    }
}

/// The code index of the source files at `path`, parsed now and kept in memory (nothing is
/// stored): what an evaluation over history reads.
pub fn scan_code(path: &Path) -> Result<CodeIndex> {
    let (root, files) = l9_ingest::code::index::source_files(path)?;
    Ok(l9_ingest::code::index::scan(&root, &files, None, 0)?.0)
}
