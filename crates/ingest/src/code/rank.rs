//! The repo map: files ranked by PageRank over the reference graph (a file that mentions a
//! name points at the files defining it), each file's rank shared out to the definitions it
//! is reached through, and the best definitions rendered — grouped by file, signatures with
//! line numbers — within a token budget. Names a task mentions, and files it names, pull
//! the ranking towards them (personalised PageRank).

use std::collections::{BTreeSet, HashMap};

use super::parse::FileSymbols;

const DAMPING: f64 = 0.85;
const ITERATIONS: usize = 100;
/// A name defined in more files than this is generic (`new`, `run`): its edges count less.
const GENERIC_DEFINERS: usize = 5;

/// What the ranking should lean towards.
#[derive(Debug, Clone, Default)]
pub struct Focus {
    /// Files (paths relative to the repository) the task names.
    pub files: BTreeSet<String>,
    /// Identifiers the task names.
    pub idents: BTreeSet<String>,
}

impl Focus {
    /// Files and identifiers named in free text (a task, a requirement), as far as they
    /// exist in `files`.
    pub fn from_text(text: &str, files: &[(&str, &FileSymbols)]) -> Focus {
        let defined: BTreeSet<&str> =
            files.iter().flat_map(|(_, f)| f.defs.iter().map(|d| d.name.as_str())).collect();
        let paths: BTreeSet<&str> = files.iter().map(|(p, _)| *p).collect();
        let mut focus = Focus::default();
        for word in text.split(|c: char| c.is_whitespace() || "`'\"(),;[]{}<>".contains(c)) {
            let w = word.trim_matches(|c: char| matches!(c, '.' | ':' | '!' | '?'));
            if w.is_empty() {
                continue;
            }
            if paths.contains(w) {
                focus.files.insert(w.to_owned());
            } else if w.contains('/')
                && let Some(p) = paths.iter().find(|p| p.ends_with(&format!("/{w}")))
            {
                focus.files.insert((*p).to_owned());
            }
            // `Engine::open`, `obj.method()`: each part is a name.
            for part in w.split([':', '.']).filter(|p| p.len() >= 3) {
                if defined.contains(part) {
                    focus.idents.insert(part.to_owned());
                }
            }
        }
        focus
    }
}

/// A definition with its rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked<'a> {
    pub path: &'a str,
    pub def: &'a super::parse::Def,
    pub rank: f64,
}

/// Test and example code: its definitions are rarely what a map is for (references from
/// it still count: what tests use is important).
pub fn is_test_path(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    let file = p.rsplit('/').next().unwrap_or(&p);
    p.split('/')
        .any(|d| matches!(d, "tests" | "test" | "testdata" | "examples" | "benches" | "__tests__"))
        || file.starts_with("test_")
        || file.starts_with("testutil")
        || file.ends_with("_test.go")
        || file.ends_with("_test.py")
        || file.contains(".test.")
        || file.contains(".spec.")
}

fn is_descriptive(ident: &str) -> bool {
    ident.len() >= 8
        && (ident.contains('_') || ident.chars().skip(1).any(|c| c.is_ascii_uppercase()))
}

/// Every definition of `files`, best first (ties by path and line, so the order is stable).
pub fn rank<'a>(files: &[(&'a str, &'a FileSymbols)], focus: &Focus) -> Vec<Ranked<'a>> {
    let paths: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
    let index: HashMap<&str, usize> = paths.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let mut definers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (_, f)) in files.iter().enumerate() {
        let mut names: Vec<&str> = f.defs.iter().map(|d| d.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            definers.entry(n).or_default().push(i);
        }
    }
    // Edges: referencing file → defining file, through a name, weighted.
    let n = paths.len();
    let mut edges: Vec<Vec<(usize, &str, f64)>> = vec![Vec::new(); n];
    for (r, (_, f)) in files.iter().enumerate() {
        for (ident, count) in &f.refs {
            let Some(ds) = definers.get(ident.as_str()) else { continue };
            let mut mul = 1.0;
            if focus.idents.contains(ident) {
                mul *= 10.0;
            }
            if is_descriptive(ident) {
                mul *= 10.0;
            }
            if ident.starts_with('_') {
                mul *= 0.1;
            }
            if ds.len() > GENERIC_DEFINERS {
                mul *= 0.1;
            }
            let w = mul * f64::from(*count).sqrt();
            for &d in ds.iter().filter(|d| **d != r) {
                edges[r].push((d, ident.as_str(), w));
            }
        }
    }
    let out: Vec<f64> = edges.iter().map(|e| e.iter().map(|(_, _, w)| w).sum()).collect();
    // Personalisation: uniform, or the focus files.
    let focused: Vec<usize> =
        focus.files.iter().filter_map(|p| index.get(p.as_str()).copied()).collect();
    let mut p = vec![0.0; n];
    if focused.is_empty() {
        p.iter_mut().for_each(|x| *x = 1.0 / n.max(1) as f64);
    } else {
        for &i in &focused {
            p[i] = 1.0 / focused.len() as f64;
        }
    }
    let mut pr = p.clone();
    for _ in 0..ITERATIONS {
        let dangling: f64 = (0..n).filter(|i| out[*i] == 0.0).map(|i| pr[i]).sum();
        let mut next: Vec<f64> =
            p.iter().map(|x| (1.0 - DAMPING + DAMPING * dangling) * x).collect();
        for (r, es) in edges.iter().enumerate() {
            for (d, _, w) in es {
                next[*d] += DAMPING * pr[r] * w / out[r];
            }
        }
        let delta: f64 = next.iter().zip(&pr).map(|(a, b)| (a - b).abs()).sum();
        pr = next;
        if delta < 1e-10 {
            break;
        }
    }
    // A file's rank flows to the names it is reached through.
    let mut by_name: HashMap<(usize, &str), f64> = HashMap::new();
    for (r, es) in edges.iter().enumerate() {
        for (d, ident, w) in es {
            *by_name.entry((*d, ident)).or_default() += pr[r] * w / out[r];
        }
    }
    let mut ranked: Vec<Ranked> = Vec::new();
    for (i, &(path, f)) in files.iter().enumerate() {
        let floor = pr[i] * 1e-3 / f.defs.len().max(1) as f64;
        // A name defined several times in a file (a method of several impls) shares its rank.
        let mut same: HashMap<&str, usize> = HashMap::new();
        for d in &f.defs {
            *same.entry(d.name.as_str()).or_default() += 1;
        }
        for d in &f.defs {
            let share = same.get(d.name.as_str()).copied().unwrap_or(1) as f64;
            let mut rank =
                by_name.get(&(i, d.name.as_str())).copied().unwrap_or(0.0) / share + floor;
            if is_test_path(path) && !focus.files.contains(path) {
                rank *= 0.1;
            }
            ranked.push(Ranked { path, def: d, rank });
        }
    }
    // What the task names comes first, however little the rest of the code uses it.
    let top = ranked.iter().map(|r| r.rank).fold(0.0, f64::max);
    for r in ranked.iter_mut().filter(|r| focus.idents.contains(&r.def.name)) {
        r.rank += top;
    }
    ranked.sort_by(|a, b| {
        b.rank
            .total_cmp(&a.rank)
            .then_with(|| a.path.cmp(b.path))
            .then_with(|| a.def.line.cmp(&b.def.line))
    });
    ranked
}

/// An estimate of a text's tokens (about four characters each, as model tokenizers do on
/// code).
pub fn tokens(text: &str) -> usize {
    text.len().div_ceil(4)
}

/// The map of the `count` best definitions: files in the order of their best definition,
/// each with its definitions by line.
fn render_top(ranked: &[Ranked], count: usize) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut per: HashMap<&str, Vec<&Ranked>> = HashMap::new();
    for r in ranked.iter().take(count) {
        if !per.contains_key(r.path) {
            order.push(r.path);
        }
        per.entry(r.path).or_default().push(r);
    }
    let mut out = String::new();
    for path in order {
        out.push_str(path);
        out.push_str(":\n");
        let mut defs = per.remove(path).unwrap_or_default();
        defs.sort_by_key(|r| r.def.line);
        for r in defs {
            out.push_str(&format!("{:>5}│ {}\n", r.def.line, r.def.signature));
        }
    }
    out
}

/// The repo map within `budget` tokens: as many of the best definitions as fit.
pub fn render(ranked: &[Ranked], budget: usize) -> String {
    let (mut lo, mut hi) = (0usize, ranked.len());
    // The largest count whose map fits (the map grows with the count).
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if tokens(&render_top(ranked, mid)) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    render_top(ranked, lo)
}
