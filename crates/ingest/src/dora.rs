//! DORA's four keys from a repository's history.
//!
//! * **Deployments**: tags matching a pattern (default: plain version tags such as `1.2.3`
//!   or `v1.2.3`), or the merge commits on the main branch's first-parent line (`--merges`).
//! * **Lead time for changes**: for each commit, from its author time to the first deployment
//!   that contains it (deployments in time order, each claiming the commits it is the first
//!   to contain).
//! * **Change failure rate**: the share of deployments that failed — a fix or revert authored
//!   within the window after the deployment that repairs what the deployment shipped: a
//!   revert of one of its commits, or a fix whose SZZ-blamed introducing commits include one
//!   of them. Without SZZ (`--no-szz`), any fix or revert in the window counts.
//! * **Time to restore**: from a failed deployment to the first later deployment containing
//!   the repairing commit.
//!
//! Figures are grouped by the deployment's week (ISO) or month.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, Utc};
use regex::Regex;
use serde::Serialize;

use crate::fixes;
use crate::git::{Commit, History};
use crate::szz::Introducers;

/// The default deployment tags: a version of two to four numbers, led by `v`, `release-` or
/// `rel/` or by nothing (`v1.2.3`, `1.2`, `release-2.0.1`, `1.2.3.4`), or a package's release
/// as monorepo tools tag it (`web@1.4.0`, `@acme/api@2.0.0`). Pre-releases (`-rc1`) are not
/// deployments; tags named after a package with a hyphen (`globset-0.4.1`) are not either.
pub const DEFAULT_TAGS: &str =
    r"^((v|release[-/_]|rel[-/_])?|(@[\w.-]+/)?[\w.-]+@v?)[0-9]+(\.[0-9]+){1,3}$";

#[derive(Debug, Clone)]
pub enum Deploys {
    Tags(Regex),
    Merges,
}

impl Deploys {
    /// Tags matching `pattern` (a regular expression).
    pub fn tags(pattern: &str) -> crate::Result<Self> {
        Regex::new(pattern).map(Deploys::Tags).map_err(|e| {
            crate::IngestError::Input(format!(
                "--tags {pattern}: not a regular expression ({e}); e.g. '^v[0-9]+\\.[0-9]+\\.[0-9]+$'"
            ))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Week,
    Month,
}

impl Period {
    pub fn key(self, t: DateTime<Utc>) -> String {
        match self {
            Period::Week => {
                let w = t.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month => format!("{}-{:02}", t.year(), t.month()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DoraOptions {
    pub deploys: Deploys,
    pub by: Period,
    /// A fix this long after a deployment can mark it failed.
    pub window: Duration,
    /// Deployments before this are not reported (their commits still count as shipped).
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub name: String,
    pub sha: String,
    pub at: DateTime<Utc>,
    /// Commits this deployment is the first to contain.
    pub changes: usize,
    /// Median lead time of those changes, hours.
    pub lead_time_h: Option<f64>,
    pub failed: bool,
    /// The fix or revert that repaired it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaired_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_h: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub period: String,
    pub deployments: usize,
    pub changes: usize,
    pub lead_time_median_h: Option<f64>,
    pub change_failure_rate: Option<f64>,
    pub time_to_restore_median_h: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoraReport {
    pub deploys: String,
    pub by: Period,
    pub window_days: i64,
    pub rows: Vec<Row>,
    pub total: Row,
    pub deployments: Vec<Deployment>,
    /// Files SZZ left out as over `L9_MAX_BLAMED_FILE_BYTES` (set by the caller that ran it).
    pub unblamed_files: u64,
    /// A shallow clone's boundary commits (see [`History::shallow`]): the history is cut there.
    pub shallow: usize,
    /// When no tag names a deployment: the newest tag names the repository has (up to 8),
    /// so the pattern can be fitted to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_tags: Vec<String>,
}

pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn hours(d: Duration) -> f64 {
    d.num_seconds().max(0) as f64 / 3600.0
}

/// Computes the report. `introduced` maps fix commits to their SZZ introducers (`None`:
/// SZZ was not run; any fix in the window counts).
pub fn compute(
    h: &History,
    introduced: Option<&HashMap<String, Introducers>>,
    opts: &DoraOptions,
) -> DoraReport {
    let by_sha: HashMap<&str, &Commit> = h.commits.iter().map(|c| (c.sha.as_str(), c)).collect();
    // Deployments in time order.
    let mut deps: Vec<(String, String, DateTime<Utc>)> = match &opts.deploys {
        Deploys::Tags(re) => h
            .tags
            .iter()
            .filter(|t| re.is_match(&t.name) && by_sha.contains_key(t.sha.as_str()))
            .map(|t| (t.name.clone(), t.sha.clone(), t.at))
            .collect(),
        Deploys::Merges => {
            let mut out = Vec::new();
            let mut cur = h.head.clone();
            while let Some(sha) = cur {
                let Some(c) = by_sha.get(sha.as_str()) else { break };
                if c.is_merge() {
                    out.push((
                        c.sha[..12.min(c.sha.len())].to_owned(),
                        c.sha.clone(),
                        c.committed_at,
                    ));
                }
                cur = c.parents.first().cloned();
            }
            out
        }
    };
    deps.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0)));
    // Each deployment claims the commits it is the first to contain.
    let mut shipped_in: HashMap<&str, usize> = HashMap::new();
    let mut claimed: Vec<Vec<&str>> = vec![Vec::new(); deps.len()];
    for (i, (_, sha, _)) in deps.iter().enumerate() {
        let mut stack = vec![sha.as_str()];
        while let Some(s) = stack.pop() {
            if shipped_in.contains_key(s) {
                continue;
            }
            let Some(c) = by_sha.get(s) else { continue };
            shipped_in.insert(s, i);
            claimed[i].push(s);
            stack.extend(c.parents.iter().map(String::as_str));
        }
    }
    // Fixes and reverts, with what they repair.
    let repairs: Vec<(&Commit, HashSet<String>)> = h
        .commits
        .iter()
        .filter_map(|c| {
            let k = fixes::classify(&c.message);
            let mut blamed: HashSet<String> = HashSet::new();
            if let Some(r) = k.reverts.as_deref().filter(|r| !r.is_empty()) {
                // An abbreviated hash names the commit it prefixes.
                if let Some(full) = h.commits.iter().find(|x| x.sha.starts_with(r)) {
                    blamed.insert(full.sha.clone());
                }
            }
            if k.fix
                && let Some(m) = introduced.and_then(|i| i.get(&c.sha))
            {
                blamed.extend(m.keys().cloned());
            }
            (k.fix || k.reverts.is_some()).then_some((c, blamed))
        })
        .collect();
    let mut out = Vec::with_capacity(deps.len());
    for (i, (name, sha, at)) in deps.iter().enumerate() {
        let mut leads: Vec<f64> = claimed[i]
            .iter()
            .filter_map(|s| by_sha.get(s))
            .map(|c| hours(*at - c.authored_at))
            .collect();
        let mine: HashSet<&str> = claimed[i].iter().copied().collect();
        let end = *at + opts.window;
        let repair = repairs.iter().find(|(c, blamed)| {
            c.authored_at > *at
                && c.authored_at <= end
                && !mine.contains(c.sha.as_str())
                && match introduced {
                    Some(_) => blamed.iter().any(|b| mine.contains(b.as_str())),
                    None => true,
                }
        });
        let restored = repair.and_then(|(c, _)| shipped_in.get(c.sha.as_str())).map(|&j| deps[j].2);
        out.push(Deployment {
            name: name.clone(),
            sha: sha.clone(),
            at: *at,
            changes: claimed[i].len(),
            lead_time_h: median(&mut leads),
            failed: repair.is_some(),
            repaired_by: repair.map(|(c, _)| c.sha.clone()),
            restore_h: restored.map(|r| hours(r - *at)),
        });
    }
    if let Some(since) = opts.since {
        out.retain(|d| d.at >= since);
    }
    // Lead times per period come from every change, not the per-deployment medians.
    let lead_of = |d: &Deployment| -> Vec<f64> {
        let i = deps.iter().position(|x| x.1 == d.sha && x.0 == d.name).unwrap_or(0);
        claimed[i]
            .iter()
            .filter_map(|s| by_sha.get(s))
            .map(|c| hours(d.at - c.authored_at))
            .collect()
    };
    let row = |period: String, ds: &[&Deployment]| -> Row {
        let mut leads: Vec<f64> = ds.iter().flat_map(|d| lead_of(d)).collect();
        let mut restores: Vec<f64> = ds.iter().filter_map(|d| d.restore_h).collect();
        let failed = ds.iter().filter(|d| d.failed).count();
        Row {
            period,
            deployments: ds.len(),
            changes: ds.iter().map(|d| d.changes).sum(),
            lead_time_median_h: median(&mut leads),
            change_failure_rate: (!ds.is_empty()).then(|| failed as f64 / ds.len() as f64),
            time_to_restore_median_h: median(&mut restores),
        }
    };
    let mut groups: BTreeMap<String, Vec<&Deployment>> = BTreeMap::new();
    for d in &out {
        groups.entry(opts.by.key(d.at)).or_default().push(d);
    }
    let rows: Vec<Row> = groups.into_iter().map(|(p, ds)| row(p, &ds)).collect();
    let all: Vec<&Deployment> = out.iter().collect();
    let total = row("all".into(), &all);
    let deployments_empty = out.is_empty();
    DoraReport {
        deploys: match &opts.deploys {
            Deploys::Tags(re) => format!("tags matching {}", re.as_str()),
            Deploys::Merges => "merges on the main branch".into(),
        },
        by: opts.by,
        window_days: opts.window.num_days(),
        rows,
        total,
        deployments: out,
        unblamed_files: 0,
        shallow: h.shallow,
        other_tags: match &opts.deploys {
            Deploys::Tags(_) if deployments_empty => {
                h.tags.iter().rev().take(8).map(|t| t.name.clone()).collect()
            }
            _ => Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_deployment_tags_are_the_release_conventions() {
        let re = regex::Regex::new(super::DEFAULT_TAGS).unwrap();
        for t in
            ["v1.2.3", "1.2", "release-2.0.1", "rel/1.0", "1.2.3.4", "web@1.4.0", "@acme/api@2.0.0"]
        {
            assert!(re.is_match(t), "{t}");
        }
        for t in ["v0.8.0-rc1", "globset-0.4.1", "v1", "nightly-2023", "1.2.3.4.5", "release-notes"]
        {
            assert!(!re.is_match(t), "{t}");
        }
    }
}
