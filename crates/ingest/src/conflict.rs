//! Conflict prediction before a parallel fan-out: which files a piece of work will likely
//! touch, from its text alone — files and names it mentions, definitions whose names it
//! spells out in words, files named by their stem, hits of a semantic search the caller ran,
//! and the files that change together with those — and which pairs of parallel tasks are
//! therefore likely to collide.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::code::CodeIndex;
use crate::history::{GENERIC_STEMS, State};

/// Top files per task compared for a collision.
pub const TOP_FILES: usize = 5;
/// A file counts for a collision only with at least this score on both sides: one direct
/// piece of evidence (a name, a stem, a path), not only a co-change partner or a weak hit.
pub const MIN_SCORE: f64 = 1.0;

/// Words too common to say anything about files.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "from", "into", "that", "this", "when", "then", "than", "are",
    "was", "were", "not", "but", "all", "any", "can", "its", "has", "have", "had", "out", "our",
    "you", "your", "use", "via", "also", "some", "more", "only", "should", "must", "will",
];

/// What past commit messages say about the files changed with them: for each word, the
/// commits that used it and the files those commits changed. A text's words then point at
/// files the way similar past changes did (weighted by how rare each word is).
#[derive(Debug, Clone, Default)]
pub struct MessageModel {
    commits: u32,
    df: HashMap<String, u32>,
    files: HashMap<String, HashMap<String, u32>>,
}

impl MessageModel {
    /// Adds a commit (large change sets — reformatting, vendoring — say nothing and are
    /// skipped, as co-change skips them).
    pub fn add<'f>(&mut self, message: &str, files: impl IntoIterator<Item = &'f str>) {
        let files: Vec<&str> = files.into_iter().collect();
        if files.is_empty() || files.len() > crate::history::MAX_CHANGESET {
            return;
        }
        self.commits += 1;
        for w in words(message) {
            if w.len() < 3
                || STOPWORDS.contains(&w.as_str())
                || w.chars().all(|c| c.is_ascii_digit())
            {
                continue;
            }
            *self.df.entry(w.clone()).or_default() += 1;
            let per = self.files.entry(w).or_default();
            for f in &files {
                *per.entry((*f).to_owned()).or_default() += 1;
            }
        }
    }

    pub fn commits(&self) -> u32 {
        self.commits
    }

    /// Files with, for each, the idf-weighted average over the text's known words of the
    /// share of that word's commits that changed the file (0–1).
    pub fn score(&self, text: &str) -> Vec<(String, f64)> {
        let n = f64::from(self.commits.max(1));
        let mut total_idf = 0.0;
        let mut acc: HashMap<&str, f64> = HashMap::new();
        for w in words(text) {
            let Some(df) = self.df.get(&w) else { continue };
            let idf = (n / f64::from(*df)).ln();
            if idf <= 0.0 {
                continue;
            }
            total_idf += idf;
            for (f, c) in &self.files[&w] {
                *acc.entry(f.as_str()).or_default() += idf * f64::from(*c) / f64::from(*df);
            }
        }
        let mut out: Vec<(String, f64)> =
            acc.into_iter().map(|(f, s)| (f.to_owned(), s / total_idf.max(1e-9))).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// Weight of the message model: a file every past commit with the text's words changed.
const MESSAGE_WEIGHT: f64 = 3.0;

/// A file a task will likely touch, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Likely {
    pub file: String,
    pub score: f64,
    pub why: Vec<String>,
}

/// Two tasks predicted to touch the same files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collision {
    pub a: String,
    pub b: String,
    pub files: Vec<String>,
    /// Why, per shared file: each side's evidence.
    pub why: Vec<String>,
}

/// Predicts files from text over a code index and a history (either may be missing).
#[derive(Debug)]
pub struct Predictor<'a> {
    /// Files that exist (in the index or live in the history).
    files: HashSet<&'a str>,
    /// Definition name → files defining it.
    definers: HashMap<&'a str, Vec<&'a str>>,
    /// Lower-case stem → files.
    stems: HashMap<String, Vec<&'a str>>,
    /// Names of two words or more, with their words.
    multiword: Vec<(&'a str, Vec<String>)>,
    /// Strongly coupled pairs of the history.
    couplings: Vec<crate::history::Coupling>,
    messages: Option<&'a MessageModel>,
}

/// Lower-case words of `text`, identifiers split at `_` and case changes.
pub fn words(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for token in text.split(|c: char| !c.is_alphanumeric() && c != '_') {
        if token.is_empty() {
            continue;
        }
        out.insert(token.to_lowercase());
        out.extend(crate::code::split_identifier(token));
    }
    out
}

fn stem(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split('.').next().unwrap_or(file).to_lowercase()
}

impl<'a> Predictor<'a> {
    /// `live` restricts the candidates to files that existed at the time predicted for
    /// (evaluation on history); `None`: every file known.
    pub fn new(
        index: Option<&'a CodeIndex>,
        history: Option<&'a State>,
        messages: Option<&'a MessageModel>,
        live: Option<&HashSet<String>>,
    ) -> Self {
        let mut files: HashSet<&'a str> = HashSet::new();
        let mut definers: HashMap<&'a str, Vec<&'a str>> = HashMap::new();
        let ok = |p: &str| live.is_none_or(|l| l.contains(p));
        if let Some(ix) = index {
            for (p, f) in ix.files.iter().filter(|(p, _)| ok(p)) {
                files.insert(p.as_str());
                for d in &f.symbols.defs {
                    let v = definers.entry(d.name.as_str()).or_default();
                    if v.last() != Some(&p.as_str()) {
                        v.push(p.as_str());
                    }
                }
            }
        }
        if let Some(h) = history {
            for (p, _) in h.files.iter().filter(|(p, s)| !s.gone && ok(p)) {
                files.insert(p.as_str());
            }
        }
        let mut stems: HashMap<String, Vec<&'a str>> = HashMap::new();
        for p in &files {
            let s = stem(p);
            if s.len() >= 4 && !GENERIC_STEMS.contains(&s.as_str()) {
                stems.entry(s).or_default().push(p);
            }
        }
        let multiword = definers
            .keys()
            .filter_map(|name| {
                let parts: Vec<String> =
                    words(name).into_iter().filter(|w| !name.eq_ignore_ascii_case(w)).collect();
                (parts.len() >= 2).then_some((*name, parts))
            })
            .collect();
        let couplings = history.map(State::couplings).unwrap_or_default();
        Predictor { files, definers, stems, multiword, couplings, messages }
    }

    /// The files `text` will likely touch, best first (at most `k`); `semantic` are files of
    /// a search the caller ran for the text, best first.
    pub fn likely_files(&self, text: &str, semantic: &[String], k: usize) -> Vec<Likely> {
        type Scores<'b> = BTreeMap<&'b str, (f64, Vec<String>)>;
        fn add<'b>(score: &mut Scores<'b>, f: &'b str, s: f64, why: String) {
            let e = score.entry(f).or_default();
            e.0 += s;
            if e.1.len() < 3 && !e.1.contains(&why) {
                e.1.push(why);
            }
        }
        let mut score: Scores<'a> = BTreeMap::new();
        let ws = words(text);
        for token in text.split(|c: char| c.is_whitespace() || "`'\"(),;[]{}<>".contains(c)) {
            let t = token.trim_matches(|c: char| matches!(c, '.' | ':' | '!' | '?'));
            if t.len() < 3 {
                continue;
            }
            // A path, or the unique file a partial path ends.
            if let Some(f) = self.files.get(t) {
                add(&mut score, f, 3.0, format!("names {t}"));
            } else if t.contains('/') {
                let ends: Vec<&&str> =
                    self.files.iter().filter(|f| f.ends_with(&format!("/{t}"))).collect();
                if let [f] = ends.as_slice() {
                    add(&mut score, f, 3.0, format!("names {t}"));
                }
            }
            // A definition's name, exactly (`Engine::open` names both).
            for part in t.split([':', '.']).filter(|p| p.len() >= 4) {
                if let Some(ds) = self.definers.get(part) {
                    for f in ds {
                        add(&mut score, f, 2.0 / ds.len() as f64, format!("defines {part}"));
                    }
                }
            }
        }
        // Definitions spelled out in words ("open the database" → open_database).
        for (name, parts) in &self.multiword {
            if parts.iter().all(|w| ws.contains(w)) {
                let ds = self.definers.get(name).map_or(&[][..], Vec::as_slice);
                for f in ds {
                    add(&mut score, f, 1.0 / ds.len() as f64, format!("defines {name}"));
                }
            }
        }
        for (s, fs) in &self.stems {
            if ws.contains(s) {
                for f in fs {
                    add(&mut score, f, 1.5 / fs.len() as f64, format!("file named {s}"));
                }
            }
        }
        if let Some(m) = self.messages {
            for (f, p) in m.score(text).into_iter().take(3 * TOP_FILES) {
                if let Some(f) = self.files.get(f.as_str()) {
                    add(&mut score, f, MESSAGE_WEIGHT * p, "past commits with these words".into());
                }
            }
        }
        for (i, f) in semantic.iter().enumerate() {
            if let Some(f) = self.files.get(f.as_str()) {
                add(&mut score, f, 1.0 / (i + 1) as f64, "semantic search".into());
            }
        }
        // Files that change together with the best direct ones.
        {
            let mut direct: Vec<(&str, f64)> = score.iter().map(|(f, (s, _))| (*f, *s)).collect();
            direct.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
            for (f, s) in direct.into_iter().take(TOP_FILES) {
                for c in self.couplings.iter().filter(|c| (c.a == f || c.b == f) && c.degree >= 0.5)
                {
                    let other = if c.a == f { c.b.as_str() } else { c.a.as_str() };
                    if let Some(o) = self.files.get(other) {
                        add(&mut score, o, 0.5 * s * c.degree, format!("changes with {f}"));
                    }
                }
            }
        }
        let mut out: Vec<Likely> = score
            .into_iter()
            .map(|(f, (s, why))| Likely { file: f.to_owned(), score: s, why })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.file.cmp(&b.file)));
        out.truncate(k);
        out
    }
}

/// Whether two tasks' likely files collide: the files in both top lists with at least
/// [`MIN_SCORE`] on each side.
pub fn shared(a: &[Likely], b: &[Likely]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for x in a.iter().take(TOP_FILES).filter(|x| x.score >= MIN_SCORE) {
        if let Some(y) = b.iter().take(TOP_FILES).find(|y| y.file == x.file && y.score >= MIN_SCORE)
        {
            out.push((
                x.file.clone(),
                format!("{}: {} / {}", x.file, x.why.join(", "), y.why.join(", ")),
            ));
        }
    }
    out
}

/// The pairs of `tasks` (id, likely files) that may run in parallel (`parallel(i, j)`) and
/// are predicted to touch the same files.
pub fn collisions(
    tasks: &[(String, Vec<Likely>)],
    parallel: impl Fn(usize, usize) -> bool,
) -> Vec<Collision> {
    let mut out = Vec::new();
    for i in 0..tasks.len() {
        for j in i + 1..tasks.len() {
            if !parallel(i, j) {
                continue;
            }
            let s = shared(&tasks[i].1, &tasks[j].1);
            if !s.is_empty() {
                out.push(Collision {
                    a: tasks[i].0.clone(),
                    b: tasks[j].0.clone(),
                    files: s.iter().map(|(f, _)| f.clone()).collect(),
                    why: s.into_iter().map(|(_, w)| w).collect(),
                });
            }
        }
    }
    out
}
