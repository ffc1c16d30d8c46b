//! Unified diffs (`diff -u`, `git diff`): parsed, checked against the files, applied all or
//! nothing. A hunk whose context does not match (even after looking up to 50 lines away)
//! rejects the whole patch with the file, the hunk and the first line that differs.

use crate::error::{AgentError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePatch {
    /// `None` for a new file (`--- /dev/null`).
    pub old: Option<String>,
    /// `None` for a deleted file (`+++ /dev/null`).
    pub new: Option<String>,
    pub hunks: Vec<Hunk>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub header: String,
    pub old_start: usize,
    /// (' ' | '-' | '+', text)
    pub lines: Vec<(char, String)>,
}

fn strip_prefix(p: &str) -> Option<String> {
    let p = p.split('\t').next().unwrap_or(p).trim();
    if p == "/dev/null" {
        return None;
    }
    Some(p.strip_prefix("a/").or_else(|| p.strip_prefix("b/")).unwrap_or(p).to_string())
}

pub fn parse(diff: &str) -> Result<Vec<FilePatch>> {
    let mut files: Vec<FilePatch> = Vec::new();
    let mut lines = diff.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(old) = line.strip_prefix("--- ") {
            let Some(new_line) = lines.next().and_then(|l| l.strip_prefix("+++ ")) else {
                return Err(AgentError::Patch(format!(
                    "`--- {old}` is not followed by a `+++` line"
                )));
            };
            files.push(FilePatch {
                old: strip_prefix(old),
                new: strip_prefix(new_line),
                hunks: Vec::new(),
            });
            continue;
        }
        if let Some(rest) = line.strip_prefix("@@ ") {
            let Some(file) = files.last_mut() else {
                return Err(AgentError::Patch("a hunk before any `---`/`+++` file header".into()));
            };
            let old = rest.split_whitespace().next().unwrap_or("-0");
            let old_start: usize = old
                .trim_start_matches('-')
                .split(',')
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| AgentError::Patch(format!("bad hunk header `{line}`")))?;
            let mut hunk = Hunk { header: line.to_string(), old_start, lines: Vec::new() };
            while let Some(next) = lines.peek() {
                if next.starts_with("@@ ") || next.starts_with("--- ") || next.starts_with("diff ")
                {
                    break;
                }
                let next = lines.next().unwrap_or("");
                if next.starts_with('\\') {
                    continue; // "\ No newline at end of file"
                }
                let (tag, text) = match next.chars().next() {
                    Some(c @ (' ' | '-' | '+')) => (c, next[1..].to_string()),
                    None => (' ', String::new()),
                    Some(_) => {
                        return Err(AgentError::Patch(format!(
                            "{}: unexpected line in a hunk: `{next}`",
                            hunk.header
                        )));
                    }
                };
                hunk.lines.push((tag, text));
            }
            file.hunks.push(hunk);
        }
    }
    if files.is_empty() {
        return Err(AgentError::Patch(
            "no `---`/`+++` file headers found; send a unified diff".into(),
        ));
    }
    Ok(files)
}

/// Applies one file's hunks to its current text (`None`: the file does not exist).
pub fn apply_file(fp: &FilePatch, current: Option<&str>) -> Result<Option<String>> {
    let name = fp.new.clone().or_else(|| fp.old.clone()).unwrap_or_default();
    if fp.old.is_some() && current.is_none() {
        return Err(AgentError::Patch(format!("{name}: the file does not exist")));
    }
    if fp.old.is_none() && current.is_some() {
        return Err(AgentError::Patch(format!(
            "{name}: the patch creates it, but it already exists"
        )));
    }
    let text = current.unwrap_or("");
    let trailing_newline = text.is_empty() || text.ends_with('\n');
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Apply hunks bottom-up so earlier positions stay valid.
    let mut offset: isize = 0;
    let mut placed: Vec<(usize, &Hunk)> = Vec::new();
    for (k, h) in fp.hunks.iter().enumerate() {
        let old: Vec<&str> =
            h.lines.iter().filter(|(t, _)| *t != '+').map(|(_, s)| s.as_str()).collect();
        let want = (h.old_start.max(1) as isize - 1 + offset).max(0) as usize;
        let fits = |at: usize| {
            at + old.len() <= lines.len()
                && lines[at..at + old.len()].iter().zip(&old).all(|(a, b)| a == b)
        };
        let at = if old.is_empty() {
            Some(want.min(lines.len()))
        } else {
            (0..=50)
                .flat_map(|d| [want.checked_add(d), want.checked_sub(d)])
                .flatten()
                .find(|&a| fits(a))
        };
        let Some(at) = at else {
            let first_diff = old
                .iter()
                .enumerate()
                .find(|(i, l)| lines.get(want + i).map(String::as_str) != Some(**l));
            let detail = match first_diff {
                Some((i, l)) => format!(
                    "expected line {} to be `{l}`, found `{}`",
                    want + i + 1,
                    lines.get(want + i).map_or("<end of file>", String::as_str)
                ),
                None => "the context runs past the end of the file".into(),
            };
            return Err(AgentError::Patch(format!(
                "{name}: hunk {} ({}) does not match: {detail}",
                k + 1,
                h.header
            )));
        };
        let added = h.lines.iter().filter(|(t, _)| *t == '+').count() as isize;
        offset += at as isize - want as isize + added - old.len() as isize;
        placed.push((at, h));
    }
    for (at, h) in placed.into_iter().rev() {
        let old_len = h.lines.iter().filter(|(t, _)| *t != '+').count();
        let new: Vec<String> =
            h.lines.iter().filter(|(t, _)| *t != '-').map(|(_, s)| s.clone()).collect();
        lines.splice(at..at + old_len, new);
    }
    if fp.new.is_none() {
        return Ok(None);
    }
    let mut out = lines.join("\n");
    if trailing_newline && !out.is_empty() {
        out.push('\n');
    }
    Ok(Some(out))
}
