//! What a repository's history says about its files: per file the commits, churn, fixes and
//! bug-introducing commits; pairs of files that change together; hotspots (change frequency ×
//! size) and fragile files (many fixes). Kept as one state that an ingest extends with new
//! commits only, so a second ingest reads only what is new.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::git::Commit;

/// Commits that touch more files than this say nothing about coupling (mass renames,
/// reformatting, licence headers) and are left out of the pair counts.
pub const MAX_CHANGESET: usize = 30;

/// File names too common to say which file a text means (`index`, `utils`, `mod`…).
pub const GENERIC_STEMS: &[&str] = &[
    "index",
    "utils",
    "util",
    "types",
    "tests",
    "test",
    "common",
    "config",
    "error",
    "errors",
    "build",
    "setup",
    "__init__",
    "helpers",
    "constants",
    "models",
    "main",
    "lib",
    "mod",
    "readme",
];

/// Pairs changed together at least this often become `co_changes` relations in the
/// knowledge graph and are reported.
pub const MIN_CO_CHANGES: u32 = 3;

/// Whether `path` is something a change can break: not a lock file (written by tools), not
/// prose (docs, changelogs, licences). Hotspots, fragile files, reported couplings and SZZ
/// consider these only; the counts keep every file.
pub fn is_code(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    let lock = lower.ends_with(".lock")
        || matches!(
            lower.as_str(),
            "package-lock.json" | "go.sum" | "pnpm-lock.yaml" | "npm-shrinkwrap.json"
        );
    let prose = [".md", ".markdown", ".rst", ".txt", ".adoc", ".asciidoc"]
        .iter()
        .any(|e| lower.ends_with(e))
        || [
            "changelog",
            "changes",
            "news",
            "history",
            "license",
            "licence",
            "copying",
            "authors",
            "contributors",
            "notice",
        ]
        .iter()
        .any(|p| {
            lower == *p
                || lower.starts_with(&format!("{p}-"))
                || lower.starts_with(&format!("{p}."))
                || lower.starts_with(&format!("{p}_"))
        });
    !(lock || prose)
}

/// The pairs of files `c` changed together, `(a, b)` with `a < b` — none for a commit of more
/// than [`MAX_CHANGESET`] files. What the pair counts count, and what the co-change
/// relations' times are taken from.
pub fn changed_together(c: &Commit) -> Vec<(&str, &str)> {
    if c.files.len() > MAX_CHANGESET {
        return Vec::new();
    }
    let mut paths: Vec<&str> = c.files.iter().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    let mut out = Vec::new();
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            out.push((*a, *b));
        }
    }
    out
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileStats {
    pub commits: u32,
    pub added: u64,
    pub removed: u64,
    /// Fix commits that touched the file.
    pub fixes: u32,
    /// Lines now (added − removed over the history read; exact when the file was created in
    /// it).
    pub lines: i64,
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    /// Deleted or renamed away at `last_at`.
    #[serde(default)]
    pub gone: bool,
    /// Commits weighted by recency: each counts 1 at `last_at`, halving every
    /// [`HALF_LIFE_DAYS`] before it (`None` in states stored before this existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent: Option<f64>,
}

/// The half-life of a commit's weight in a file's recent churn.
pub const HALF_LIFE_DAYS: f64 = 365.0;

fn decay(days: f64) -> f64 {
    0.5f64.powf(days.max(0.0) / HALF_LIFE_DAYS)
}

impl FileStats {
    /// Commits weighted by recency as of `at`.
    pub fn recent_at(&self, at: Option<DateTime<Utc>>) -> f64 {
        let Some(r) = self.recent else { return f64::from(self.commits) };
        match (at, self.last_at) {
            (Some(at), Some(last)) => r * decay((at - last).num_seconds() as f64 / 86_400.0),
            _ => r,
        }
    }
}

/// The accumulated state of one repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub head: Option<String>,
    /// The shallow boundary HEAD's history had when it was read (empty for a full clone):
    /// a later ingest of a deepened clone reads what lies past it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shallow: Vec<String>,
    pub commits: u64,
    pub fixes: u64,
    pub reverts: u64,
    pub files: BTreeMap<String, FileStats>,
    /// `(a, b)` with `a < b` → how many commits changed both.
    #[serde(with = "pairs")]
    pub pairs: HashMap<(String, String), u32>,
    /// `(changed, missed)` → how often changing one of a coupled pair without the other was
    /// followed by a fix to the other.
    #[serde(default, with = "pairs")]
    pub omissions: HashMap<(String, String), Omission>,
    /// `(changed, missed)` → the last change that left `missed` out, until `missed` changes.
    #[serde(default, with = "pairs")]
    pub pending: HashMap<(String, String), String>,
}

/// A map keyed by a pair of paths, stored as a sorted list of `(a, b, value)`.
mod pairs {
    use std::collections::HashMap;

    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    type P<V> = HashMap<(String, String), V>;

    pub fn serialize<V: Serialize + Ord, S: Serializer>(p: &P<V>, s: S) -> Result<S::Ok, S::Error> {
        let mut v: Vec<(&String, &String, &V)> = p.iter().map(|((a, b), n)| (a, b, n)).collect();
        v.sort();
        v.serialize(s)
    }

    pub fn deserialize<'de, V: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<P<V>, D::Error> {
        let v: Vec<(String, String, V)> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|(a, b, n)| ((a, b), n)).collect())
    }
}

/// A hidden constraint the history shows: commits that changed one file of a coupled pair
/// without the other were followed, the next time the other changed, by a fix to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Omission {
    pub incidents: u32,
    /// (the change that left the file out, the fix that followed), the first five.
    pub evidence: Vec<(String, String)>,
}

/// An [`Omission`] with its files, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HiddenConstraint {
    pub changed: String,
    pub missed: String,
    pub incidents: u32,
    pub evidence: Vec<(String, String)>,
}

/// Omissions seen at least this often are reported.
pub const MIN_INCIDENTS: u32 = 2;

/// A pair of files and how strongly they change together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coupling {
    pub a: String,
    pub b: String,
    pub together: u32,
    /// `together / min(commits of a, commits of b)`.
    pub degree: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hotspot {
    pub path: String,
    pub commits: u32,
    pub lines: i64,
    pub fixes: u32,
    /// `commits × lines`, the change-frequency × size product of hotspot analysis.
    pub score: f64,
}

impl State {
    /// Adds commits (parents first) that `fix` classifies.
    pub fn extend(&mut self, commits: &[Commit], is_fix: &dyn Fn(&Commit) -> (bool, bool)) {
        // Each file's coupled partners (pairs changed together at least MIN_CO_CHANGES times).
        let mut partners: HashMap<String, Vec<String>> = HashMap::new();
        for ((a, b), n) in &self.pairs {
            if *n >= MIN_CO_CHANGES {
                partners.entry(a.clone()).or_default().push(b.clone());
                partners.entry(b.clone()).or_default().push(a.clone());
            }
        }
        for c in commits {
            self.commits += 1;
            let (fix, revert) = is_fix(c);
            if c.files.len() <= MAX_CHANGESET {
                self.omissions_of(c, fix, &partners);
            }
            self.fixes += u64::from(fix);
            self.reverts += u64::from(revert);
            for f in &c.files {
                if let Some(from) = &f.from {
                    // A rename carries the history over to the new path.
                    let mut old = self.files.remove(from).unwrap_or_default();
                    old.gone = false;
                    self.files.insert(f.path.clone(), old);
                    self.rename_pairs(from, &f.path);
                }
                let s = self.files.entry(f.path.clone()).or_default();
                s.commits += 1;
                s.added += u64::from(f.added.unwrap_or(0));
                s.removed += u64::from(f.removed.unwrap_or(0));
                s.lines += i64::from(f.added.unwrap_or(0)) - i64::from(f.removed.unwrap_or(0));
                s.fixes += u32::from(fix);
                s.first_at.get_or_insert(c.authored_at);
                // (A state stored before recency was kept counts its earlier commits whole.)
                let before = match s.recent {
                    Some(_) => s.recent_at(Some(c.authored_at)),
                    None => f64::from(s.commits - 1),
                };
                s.recent = Some(before + 1.0);
                s.last_at = Some(c.authored_at);
                s.gone = f.status == 'D';
            }
            for (a, b) in changed_together(c) {
                let n = self.pairs.entry((a.to_owned(), b.to_owned())).or_insert(0);
                *n += 1;
                if *n == MIN_CO_CHANGES {
                    partners.entry(a.to_owned()).or_default().push(b.to_owned());
                    partners.entry(b.to_owned()).or_default().push(a.to_owned());
                }
            }
        }
    }

    /// Before `c` is counted: a change to a file that `c` touches and an earlier change left
    /// out is an incident when `c` is a fix; files `c` changes without their strongly coupled
    /// partners (together in at least half of the rarer one's commits) leave those out.
    fn omissions_of(&mut self, c: &Commit, fix: bool, partners: &HashMap<String, Vec<String>>) {
        let touched: std::collections::HashSet<&str> =
            c.files.iter().map(|f| f.path.as_str()).collect();
        let resolved: Vec<(String, String)> = self
            .pending
            .keys()
            .filter(|(_, missed)| touched.contains(missed.as_str()))
            .cloned()
            .collect();
        for key in resolved {
            let Some(change) = self.pending.remove(&key) else { continue };
            if fix {
                let o = self.omissions.entry(key).or_default();
                o.incidents += 1;
                if o.evidence.len() < 5 {
                    o.evidence.push((change, c.sha.clone()));
                }
            }
        }
        for x in &touched {
            let Some(ys) = partners.get(*x) else { continue };
            for y in ys {
                if touched.contains(y.as_str()) || !self.live(y) {
                    continue;
                }
                let together = self.pair_count(x, y);
                let base = self.commits_of(x).min(self.commits_of(y)).max(1);
                if f64::from(together) / f64::from(base) >= 0.5 {
                    self.pending.insert(((*x).to_owned(), y.clone()), c.sha.clone());
                }
            }
        }
    }

    fn pair_count(&self, a: &str, b: &str) -> u32 {
        let key = if a < b { (a.to_owned(), b.to_owned()) } else { (b.to_owned(), a.to_owned()) };
        self.pairs.get(&key).copied().unwrap_or(0)
    }

    fn commits_of(&self, p: &str) -> u32 {
        self.files.get(p).map_or(0, |s| s.commits)
    }

    /// Omissions seen at least [`MIN_INCIDENTS`] times between live files, most first.
    pub fn hidden_constraints(&self) -> Vec<HiddenConstraint> {
        let mut out: Vec<HiddenConstraint> = self
            .omissions
            .iter()
            .filter(|((x, y), o)| {
                o.incidents >= MIN_INCIDENTS
                    && self.live(x)
                    && self.live(y)
                    && is_code(x)
                    && is_code(y)
            })
            .map(|((x, y), o)| HiddenConstraint {
                changed: x.clone(),
                missed: y.clone(),
                incidents: o.incidents,
                evidence: o.evidence.clone(),
            })
            .collect();
        out.sort_by(|a, b| {
            b.incidents
                .cmp(&a.incidents)
                .then_with(|| (&a.changed, &a.missed).cmp(&(&b.changed, &b.missed)))
        });
        out
    }

    /// Moves the pair counts of `from` to `to`.
    fn rename_pairs(&mut self, from: &str, to: &str) {
        let moved: Vec<((String, String), u32)> = self
            .pairs
            .iter()
            .filter(|((a, b), _)| a == from || b == from)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        for ((a, b), n) in moved {
            self.pairs.remove(&(a.clone(), b.clone()));
            let other = if a == from { b } else { a };
            if other == to {
                continue;
            }
            let key =
                if other.as_str() < to { (other, to.to_owned()) } else { (to.to_owned(), other) };
            *self.pairs.entry(key).or_insert(0) += n;
        }
    }

    /// Files present now.
    pub fn live(&self, path: &str) -> bool {
        self.files.get(path).is_some_and(|s| !s.gone)
    }

    /// Pairs of live files changed together at least [`MIN_CO_CHANGES`] times, strongest
    /// first.
    pub fn couplings(&self) -> Vec<Coupling> {
        let mut out: Vec<Coupling> = self
            .pairs
            .iter()
            .filter(|((a, b), n)| {
                **n >= MIN_CO_CHANGES && self.live(a) && self.live(b) && is_code(a) && is_code(b)
            })
            .map(|((a, b), n)| {
                let ca = self.files.get(a).map_or(1, |s| s.commits.max(1));
                let cb = self.files.get(b).map_or(1, |s| s.commits.max(1));
                Coupling {
                    a: a.clone(),
                    b: b.clone(),
                    together: *n,
                    degree: f64::from(*n) / f64::from(ca.min(cb)),
                }
            })
            .collect();
        out.sort_by(|x, y| {
            y.together
                .cmp(&x.together)
                .then(y.degree.total_cmp(&x.degree))
                .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
        });
        out
    }

    /// Live files by `commits × lines`, highest first.
    /// Hotspots: change frequency over time × size — commits weighted by recency (a commit
    /// a year before the repository's last one counts half) times the file's lines.
    pub fn hotspots(&self, n: usize) -> Vec<Hotspot> {
        let now = self.files.values().filter_map(|s| s.last_at).max();
        let mut out: Vec<Hotspot> = self
            .files
            .iter()
            .filter(|(p, s)| !s.gone && s.lines > 0 && is_code(p))
            .map(|(p, s)| Hotspot {
                path: p.clone(),
                commits: s.commits,
                lines: s.lines,
                fixes: s.fixes,
                score: s.recent_at(now) * s.lines as f64,
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.path.cmp(&b.path)));
        out.truncate(n);
        out
    }

    /// What the history says about the files `text` names (by path, or by a file name of at
    /// least five letters that is not a generic one such as `index`): how often they were
    /// fixed, and which files changed with them in at least half of their commits. At most
    /// `max` notes, fragile files first. Notes are data for a prompt, not instructions.
    pub fn notes_for(&self, text: &str, max: usize) -> Vec<String> {
        let words: std::collections::HashSet<String> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| w.len() >= 5)
            .map(str::to_lowercase)
            .collect();
        let named: Vec<&String> = self
            .files
            .iter()
            .filter(|(p, s)| !s.gone && is_code(p))
            .map(|(p, _)| p)
            .filter(|p| {
                let stem = p
                    .rsplit('/')
                    .next()
                    .unwrap_or(p)
                    .split('.')
                    .next()
                    .unwrap_or("")
                    .to_lowercase();
                text.contains(p.as_str())
                    || (stem.len() >= 5
                        && !GENERIC_STEMS.contains(&stem.as_str())
                        && words.contains(&stem))
            })
            .collect();
        let couplings = self.couplings();
        let constraints = self.hidden_constraints();
        let (mut hidden, mut fragile, mut coupled) = (Vec::new(), Vec::new(), Vec::new());
        for p in named {
            let (h, f, c) = self.notes_on(p, &couplings, &constraints);
            hidden.extend(h);
            fragile.extend(f);
            coupled.extend(c);
        }
        hidden.into_iter().chain(fragile).chain(coupled).take(max).collect()
    }

    /// What the history says about changing `path` (a file a coder just wrote): hidden
    /// constraints, fragility, files it changes with.
    pub fn notes_for_path(&self, path: &str, max: usize) -> Vec<String> {
        if self.files.get(path).is_none_or(|s| s.gone) {
            return Vec::new();
        }
        let (h, f, c) = self.notes_on(path, &self.couplings(), &self.hidden_constraints());
        h.into_iter().chain(f).chain(c).take(max).collect()
    }

    /// What the history teaches the world model: one statement per file (so two statements
    /// on one file never stand side by side as a contradiction), the notes a coding task
    /// sees about it joined — for files with hidden constraints, the most fragile files and
    /// the strongest couplings; at most `max` files.
    pub fn lessons(&self, max: usize) -> Vec<(String, String)> {
        let couplings = self.couplings();
        let constraints = self.hidden_constraints();
        let mut files: Vec<String> = Vec::new();
        let mut push = |p: &str| {
            if !files.iter().any(|f| f == p) {
                files.push(p.to_owned());
            }
        };
        constraints.iter().for_each(|h| push(&h.changed));
        self.fragile(10).iter().for_each(|h| push(&h.path));
        for c in couplings.iter().filter(|c| c.degree >= 0.5).take(20) {
            push(&c.a);
            push(&c.b);
        }
        let mut out = Vec::new();
        for p in files.iter().take(max) {
            let (h, f, c) = self.notes_on(p, &couplings, &constraints);
            let notes: Vec<String> = h.into_iter().chain(f).chain(c).collect();
            if !notes.is_empty() {
                out.push((p.clone(), notes.join("; ")));
            }
        }
        out
    }

    /// Notes on one file: (hidden constraints, fragility, couplings).
    fn notes_on(
        &self,
        p: &str,
        couplings: &[Coupling],
        constraints: &[HiddenConstraint],
    ) -> (Vec<String>, Vec<String>, Vec<String>) {
        let (mut hidden, mut fragile, mut coupled) = (Vec::new(), Vec::new(), Vec::new());
        for h in constraints.iter().filter(|h| h.changed == p).take(2) {
            let eg = h.evidence.first().map_or(String::new(), |(a, b)| {
                format!(
                    " (e.g. {} was followed by fix {})",
                    &a[..a.len().min(10)],
                    &b[..b.len().min(10)]
                )
            });
            hidden.push(format!(
                "changes to {p} without {} were followed by a fix to {} {} times{eg}",
                h.missed, h.missed, h.incidents
            ));
        }
        if let Some(st) = self.files.get(p)
            && st.fixes >= 3
        {
            fragile.push(format!(
                "{p}: {} of its {} commits were fixes; change it with care and run its tests",
                st.fixes, st.commits
            ));
        }
        for c in couplings.iter().filter(|c| (c.a == p || c.b == p) && c.degree >= 0.5).take(2) {
            let other = if c.a == p { &c.b } else { &c.a };
            let base = self
                .files
                .get(p)
                .map_or(0, |s| s.commits)
                .min(self.files.get(other).map_or(0, |s| s.commits));
            coupled.push(format!(
                "{p} changed together with {other} in {} of {base} commits; check whether {other} needs the same change",
                c.together
            ));
        }
        (hidden, fragile, coupled)
    }

    /// Live files touched by at least three fixes, most fixes first.
    pub fn fragile(&self, n: usize) -> Vec<Hotspot> {
        let mut out: Vec<Hotspot> = self
            .files
            .iter()
            .filter(|(p, s)| !s.gone && s.fixes >= 3 && is_code(p))
            .map(|(p, s)| Hotspot {
                path: p.clone(),
                commits: s.commits,
                lines: s.lines,
                fixes: s.fixes,
                score: f64::from(s.fixes) / f64::from(s.commits.max(1)),
            })
            .collect();
        out.sort_by(|a, b| {
            b.fixes
                .cmp(&a.fixes)
                .then(b.score.total_cmp(&a.score))
                .then_with(|| a.path.cmp(&b.path))
        });
        out.truncate(n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(sha: &str, files: &[&str], message: &str) -> Commit {
        Commit {
            sha: sha.into(),
            parents: Vec::new(),
            author: "a".into(),
            email: "a@x".into(),
            authored_at: DateTime::<Utc>::default(),
            committed_at: DateTime::<Utc>::default(),
            message: message.into(),
            files: files
                .iter()
                .map(|p| crate::git::FileChange {
                    path: (*p).into(),
                    from: None,
                    status: 'M',
                    added: Some(1),
                    removed: Some(1),
                })
                .collect(),
            introduced: None,
            unblamed: 0,
        }
    }

    #[test]
    fn changing_one_of_a_coupled_pair_alone_then_fixing_the_other_is_a_hidden_constraint() {
        let mut st = State::default();
        let is_fix = |c: &Commit| (crate::fixes::classify(&c.message).fix, false);
        let mut history = vec![
            commit("c1", &["src/schema.rs", "src/migrate.rs"], "add a column"),
            commit("c2", &["src/schema.rs", "src/migrate.rs"], "another column"),
            commit("c3", &["src/schema.rs", "src/migrate.rs"], "rename a column"),
            // schema without migrate, then a fix to migrate: one incident.
            commit("c4", &["src/schema.rs"], "drop a column"),
            commit("c5", &["src/migrate.rs"], "Fix migration crash after the dropped column"),
            // schema alone, then migrate changed by no fix: no incident.
            commit("c6", &["src/schema.rs"], "widen a column"),
            commit("c7", &["src/migrate.rs"], "tidy migrations"),
        ];
        st.extend(&history, &is_fix);
        assert_eq!(
            st.omissions
                .get(&("src/schema.rs".into(), "src/migrate.rs".into()))
                .map(|o| o.incidents),
            Some(1)
        );
        assert!(st.hidden_constraints().is_empty(), "one incident is not yet a constraint");
        // A second incident, in a later ingest (the pending change survives the state's round
        // trip through JSON).
        let mut st: State = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        history = vec![
            commit("c8", &["src/schema.rs"], "add an index"),
            commit("c9", &["src/migrate.rs"], "fix: migrate the index"),
        ];
        st.extend(&history, &is_fix);
        let h = st.hidden_constraints();
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].changed.as_str(), h[0].missed.as_str(), h[0].incidents),
            ("src/schema.rs", "src/migrate.rs", 2)
        );
        assert_eq!(
            h[0].evidence,
            vec![("c4".to_string(), "c5".to_string()), ("c8".into(), "c9".into())]
        );
        let notes = st.notes_for("Change the schema of src/schema.rs", 3);
        assert!(notes[0].starts_with("changes to src/schema.rs without src/migrate.rs were followed by a fix to src/migrate.rs 2 times (e.g. c4 was followed by fix c5)"), "{notes:?}");
    }

    #[test]
    fn notes_name_fragile_and_coupled_files_the_text_mentions() {
        let mut st = State::default();
        let f = |p: &str| {
            (p.to_owned(), FileStats { commits: 10, fixes: 4, lines: 100, ..Default::default() })
        };
        st.files.extend([
            f("src/parser.rs"),
            f("tests/parse.rs"),
            f("src/index.rs"),
            f("src/lexer.rs"),
        ]);
        if let Some(s) = st.files.get_mut("tests/parse.rs") {
            s.fixes = 0;
        }
        st.pairs.insert(("src/parser.rs".into(), "tests/parse.rs".into()), 6);
        let notes = st.notes_for("Make the parser accept empty input (see index handling).", 5);
        assert_eq!(notes, vec![
            "src/parser.rs: 4 of its 10 commits were fixes; change it with care and run its tests".to_string(),
            "src/parser.rs changed together with tests/parse.rs in 6 of 10 commits; check whether tests/parse.rs needs the same change".to_string(),
        ]);
        assert!(
            st.notes_for("Add a lexer token", 5)[0].starts_with("src/lexer.rs: 4 of"),
            "lexer is five letters"
        );
        assert!(st.notes_for("Nothing relevant here", 5).is_empty());
    }

    #[test]
    fn code_is_what_a_change_can_break() {
        for p in [
            "src/main.rs",
            "Cargo.toml",
            "crates/core/flags/complete/rg.zsh",
            "tests/regression.rs",
            "ci/build.sh",
        ] {
            assert!(is_code(p), "{p}");
        }
        for p in [
            "Cargo.lock",
            "CHANGELOG.md",
            "README.md",
            "web/package-lock.json",
            "LICENSE-MIT",
            "COPYING",
            "go.sum",
            "doc/guide.txt",
        ] {
            assert!(!is_code(p), "{p}");
        }
    }
}
