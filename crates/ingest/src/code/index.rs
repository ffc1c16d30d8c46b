//! Scanning a repository's source files into a [`CodeIndex`], incrementally: a file whose
//! content hash is the one indexed before is not parsed again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::lang::Lang;
use super::parse::{self, FileSymbols};
use crate::{IngestError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedFile {
    /// blake3 of the content (hex, 32 characters).
    pub hash: String,
    pub symbols: FileSymbols,
}

/// The source files of a repository with their definitions and references.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeIndex {
    pub files: BTreeMap<String, IndexedFile>,
}

impl CodeIndex {
    /// Each file with its symbols, by path: what ranking and search read.
    pub fn view(&self) -> Vec<(&str, &FileSymbols)> {
        self.files.iter().map(|(p, f)| (p.as_str(), &f.symbols)).collect()
    }

    pub fn lines(&self) -> u64 {
        self.files.values().map(|f| u64::from(f.symbols.lines)).sum()
    }

    pub fn definitions(&self) -> usize {
        self.files.values().map(|f| f.symbols.defs.len()).sum()
    }

    /// A hash of every file's path and content hash: the index's identity.
    pub fn digest(&self) -> String {
        let mut h = blake3::Hasher::new();
        for (p, f) in &self.files {
            h.update(p.as_bytes());
            h.update(&[0]);
            h.update(f.hash.as_bytes());
        }
        h.finalize().to_hex()[..32].to_owned()
    }
}

/// What a scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    pub files: usize,
    /// Files parsed this time (new or changed).
    pub parsed: usize,
    pub reused: usize,
    pub removed: usize,
    /// Files left out: too large, minified, or the parser gave up.
    pub skipped: usize,
    /// Of the skipped, those over [`l9_types::limits::SOURCE_FILE_BYTES`] (generated or
    /// vendored code, minified bundles): not read at all.
    pub too_large: usize,
    /// Of the skipped, minified code (a `.min.js` name, or lines far longer than anyone
    /// writes) and dependencies checked in (`node_modules/`, `vendor/`, `third_party/`, …):
    /// nobody's source to map.
    pub minified: usize,
    /// Of the skipped, generated code: a `Code generated … DO NOT EDIT.` or `@generated`
    /// header (Go's and Meta's conventions), protobuf's output (`.pb.go`, `_pb2.py`, …).
    pub generated: usize,
    pub lines_parsed: u64,
    pub bytes_parsed: u64,
}

/// The canonical path naming the repository (or directory) at `path`, and its source
/// files (relative paths, `/`-separated): a git repository's tracked files, otherwise a
/// walk that leaves out hidden directories, `target` and checked-in dependencies.
pub fn source_files(path: &Path) -> Result<(PathBuf, Vec<String>)> {
    if !path.is_dir() {
        return Err(IngestError::Input(format!(
            "{}: no such directory; give the path of a repository or source directory",
            path.display()
        )));
    }
    let mut files = Vec::new();
    let root = match gix::discover(path) {
        Ok(repo) if repo.workdir().is_some() => {
            let root = crate::git::root_of(&repo);
            let index = repo.index_or_empty().map_err(|e| IngestError::Git {
                path: root.clone(),
                message: format!("the git index does not read: {e}"),
            })?;
            for e in index.entries() {
                let p = e.path(&index).to_string();
                if Lang::of_path(&p).is_some() {
                    files.push(p);
                }
            }
            root
        }
        _ => {
            let root = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
            walk(&root, "", &mut files);
            root
        }
    };
    files.sort();
    files.dedup();
    Ok((root, files))
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if ft.is_dir() {
            if !name.starts_with('.')
                && name != "target"
                && !DEPENDENCY_DIRS.contains(&name.as_str())
            {
                walk(&e.path(), &rel, out);
            }
        } else if ft.is_file() && Lang::of_path(&rel).is_some() {
            out.push(rel);
        }
    }
}

enum Outcome {
    Same(String),
    Parsed(String, IndexedFile, u64, u64),
    Skipped,
    TooLarge,
    Minified,
    Generated,
}

/// Directories that hold other projects' code checked in (npm's, Bower's, Go's and
/// Composer's `vendor`, the common `third_party` spellings, Godep's workspace), as GitHub's
/// linguist counts them vendored.
const DEPENDENCY_DIRS: &[&str] = &[
    "node_modules",
    "bower_components",
    "vendor",
    "third_party",
    "third-party",
    "thirdparty",
    "ThirdParty",
    "Godeps",
];

/// Whether the file at `rel` was written by a tool: protobuf's and other generators' file
/// names (Dart's `build_runner` parts too), or a comment in its first five lines saying so
/// (`// Code generated by … DO NOT EDIT.`, `# Generated by … DO NOT EDIT!`, `@generated`,
/// `<auto-generated>`, `// GENERATED CODE - DO NOT MODIFY BY HAND`).
fn generated(rel: &str, bytes: &[u8]) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    const NAMES: &[&str] = &[
        ".pb.go",
        ".pb.cc",
        ".pb.h",
        "_pb2.py",
        "_pb2_grpc.py",
        "_pb2.pyi",
        ".pb.rs",
        ".g.dart",
        ".freezed.dart",
        ".pb.dart",
    ];
    if NAMES.iter().any(|n| name.ends_with(n))
        || name.contains(".generated.")
        || name.contains("_generated.")
    {
        return true;
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).into_owned();
    head.lines().take(5).any(|l| {
        // The comment's text: Go's rule is a line `// Code generated … DO NOT EDIT.`.
        let text = l.trim_start().trim_start_matches(['/', '#', '*', '-', ';', ' ', '\t']);
        ((text.starts_with("Code generated") || text.starts_with("Generated by"))
            && l.contains("DO NOT EDIT"))
            || l.contains("@generated")
            || l.contains("GENERATED CODE - DO NOT MODIFY BY HAND")
            || l.to_lowercase().contains("<auto-generated")
    })
}

/// Whether the file at `rel` is minified or a checked-in dependency: a `.min.js`-style name,
/// a path under one of [`DEPENDENCY_DIRS`], or text whose lines average over 300
/// bytes with one over 2,000 (people write lines of under a hundred; minifiers write one).
fn minified(rel: &str, bytes: &[u8]) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if name.contains(".min.") || name.contains("-min.") || name.contains(".bundle.") {
        return true;
    }
    let dirs = rel.rsplit_once('/').map_or("", |(d, _)| d);
    if dirs.split('/').any(|d| DEPENDENCY_DIRS.contains(&d)) {
        return true;
    }
    let (mut lines, mut longest) = (0usize, 0usize);
    for line in bytes.split(|&b| b == b'\n') {
        lines += 1;
        longest = longest.max(line.len());
    }
    bytes.len() / lines.max(1) > 300 && longest > 2_000
}

/// A source file's text: UTF-8, or else Latin-1 / Windows-1252 (older Python and C files
/// declare `# -*- coding: latin-1 -*-`), each byte one character.
fn source_text(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match std::str::from_utf8(bytes) {
        Ok(_) => std::borrow::Cow::Borrowed(bytes),
        Err(_) => std::borrow::Cow::Owned(
            bytes.iter().map(|&b| crate::git::windows_1252(b)).collect::<String>().into_bytes(),
        ),
    }
}

/// Indexes `files` under `root`, reusing `previous` for files whose content is unchanged;
/// `threads` parse in parallel (0: one per core).
pub fn scan(
    root: &Path,
    files: &[String],
    previous: Option<&CodeIndex>,
    threads: usize,
) -> Result<(CodeIndex, ScanStats)> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let chunk = files.len().div_ceil(threads.max(1)).max(1);
    let one = |rel: &String| -> std::result::Result<Outcome, String> {
        let Some(lang) = Lang::of_path(rel) else { return Ok(Outcome::Skipped) };
        // A tracked file missing from the working tree (deleted, not yet committed) is gone.
        let path = root.join(rel);
        // Not through a symlink: a tracked link may point anywhere, outside the repository too.
        let Ok(meta) = std::fs::symlink_metadata(&path) else { return Ok(Outcome::Skipped) };
        if !meta.is_file() {
            return Ok(Outcome::Skipped);
        }
        if meta.len() > l9_types::limits::SOURCE_FILE_BYTES.get() {
            return Ok(Outcome::TooLarge);
        }
        let Ok(bytes) = std::fs::read(&path) else { return Ok(Outcome::Skipped) };
        if bytes.len() as u64 > l9_types::limits::SOURCE_FILE_BYTES.get() {
            return Ok(Outcome::Skipped);
        }
        if minified(rel, &bytes) {
            return Ok(Outcome::Minified);
        }
        if generated(rel, &bytes) {
            return Ok(Outcome::Generated);
        }
        let hash = blake3::hash(&bytes).to_hex()[..32].to_owned();
        let bytes = source_text(&bytes);
        if previous.and_then(|p| p.files.get(rel)).is_some_and(|f| f.hash == hash) {
            return Ok(Outcome::Same(rel.clone()));
        }
        Ok(match parse::extract(lang, &bytes)? {
            Some(symbols) => {
                let lines = u64::from(symbols.lines);
                Outcome::Parsed(
                    rel.clone(),
                    IndexedFile { hash, symbols },
                    lines,
                    bytes.len() as u64,
                )
            }
            None => Outcome::Skipped,
        })
    };
    let results: Vec<std::result::Result<Vec<Outcome>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || part.iter().map(one).collect::<std::result::Result<Vec<_>, _>>())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a parser thread stopped".into())))
            .collect()
    });
    let mut index = CodeIndex::default();
    let mut stats = ScanStats::default();
    for r in results {
        for o in r.map_err(IngestError::Input)? {
            match o {
                Outcome::Same(rel) => {
                    if let Some(f) = previous.and_then(|p| p.files.get(&rel)) {
                        index.files.insert(rel, f.clone());
                        stats.reused += 1;
                    }
                }
                Outcome::Parsed(rel, f, lines, bytes) => {
                    stats.parsed += 1;
                    stats.lines_parsed += lines;
                    stats.bytes_parsed += bytes;
                    index.files.insert(rel, f);
                }
                Outcome::Skipped => stats.skipped += 1,
                Outcome::TooLarge => {
                    stats.skipped += 1;
                    stats.too_large += 1;
                }
                Outcome::Minified => {
                    stats.skipped += 1;
                    stats.minified += 1;
                }
                Outcome::Generated => {
                    stats.skipped += 1;
                    stats.generated += 1;
                }
            }
        }
    }
    stats.files = index.files.len();
    stats.removed =
        previous.map_or(0, |p| p.files.keys().filter(|k| !index.files.contains_key(*k)).count());
    Ok((index, stats))
}
