//! SZZ (Śliwerski, Zimmermann, Zeller 2005): the commits that introduced what a fix fixed are
//! the last commits to touch the lines the fix removed or changed. For each file a fix
//! modified, the lines it removed or replaced are found by a line diff of the file before
//! and after, and the fix's parent is blamed at exactly those lines (`gix` blame, renames
//! followed). Lock files and prose are not blamed ([`crate::history::is_code`]): a fix that
//! edits the changelog introduced nothing there. Blank lines are skipped (they carry no behaviour and blame to whatever
//! reformatting touched them last). A fix whose message names the commit that introduced the
//! bug (`Fixes: <hash> ("subject")`, the Linux kernel's trailer) is linked to that commit: its
//! author knew, blame only guesses.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use gix::bstr::ByteSlice;
use gix::diff::blob::{Algorithm, Diff, InternedInput};

use crate::git::Commit;

/// The commits blamed for a fix, with the number of fixed lines each last touched.
pub type Introducers = BTreeMap<String, u32>;

/// What SZZ found for one fix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blamed {
    pub introducers: Introducers,
    /// Files the fix changed that were over `L9_MAX_BLAMED_FILE_BYTES` and so not blamed.
    pub too_large: u32,
}

/// The commits that introduced the lines `fix` removed or changed (none for a merge or a
/// root commit). Errors reading one file skip that file: SZZ is evidence, not a must; files
/// over the size limit are skipped too, and counted.
pub fn introducers(repo: &gix::Repository, fix: &Commit) -> Blamed {
    let mut blamed = Blamed::default();
    let out = &mut blamed.introducers;
    let [parent] = fix.parents.as_slice() else { return blamed };
    let (Ok(parent_id), Ok(fix_id)) =
        (gix::ObjectId::from_hex(parent.as_bytes()), gix::ObjectId::from_hex(fix.sha.as_bytes()))
    else {
        return blamed;
    };
    for f in &fix.files {
        if !matches!(f.status, 'M' | 'R')
            || f.removed.unwrap_or(0) == 0
            || !crate::history::is_code(&f.path)
        {
            continue;
        }
        let old_path = f.from.as_deref().unwrap_or(&f.path);
        let (Some(before), Some(after)) =
            (blob_at(repo, parent_id, old_path), blob_at(repo, fix_id, &f.path))
        else {
            continue;
        };
        // Larger files are not blamed (generated files, vendored code), but counted.
        if before.len() > l9_types::limits::BLAMED_FILE_BYTES.get_usize() {
            blamed.too_large += 1;
            continue;
        }
        if before.contains(&0) {
            continue;
        }
        let ranges = changed_lines(&before, &after);
        if ranges.is_empty() {
            continue;
        }
        let Ok(ranges) = gix::blame::BlameRanges::from_one_based_inclusive_ranges(ranges) else {
            continue;
        };
        let opts = gix::repository::blame_file::Options {
            ranges,
            rewrites: Some(gix::diff::Rewrites::default()),
            ..Default::default()
        };
        let Ok(outcome) = repo.blame_file(old_path.as_bytes().as_bstr(), parent_id, opts) else {
            continue;
        };
        for e in outcome.entries {
            *out.entry(e.commit_id.to_string()).or_insert(0) += e.len.get();
        }
    }
    // The fix's author named what introduced the bug (the Linux kernel's `Fixes: <hash>
    // ("subject")` trailer): that is the answer, blame only counts its lines.
    let named = named_introducers(repo, &fix.message);
    if !named.is_empty() {
        let counted = std::mem::take(out);
        for sha in named {
            let n = counted.get(&sha).copied().unwrap_or(1);
            out.insert(sha, n);
        }
    }
    blamed
}

/// The commits a message's `Fixes: <hash>` trailers name, resolved in `repo` (a hash that
/// names no commit there is passed over).
fn named_introducers(repo: &gix::Repository, message: &str) -> Vec<String> {
    message
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Fixes:"))
        .filter_map(|rest| {
            let hash = rest.split_whitespace().next()?;
            (hash.len() >= 8 && hash.chars().all(|c| c.is_ascii_hexdigit())).then_some(hash)
        })
        .filter_map(|hash| {
            let id = repo.rev_parse_single(hash.as_bytes().as_bstr()).ok()?;
            let commit = id.object().ok()?.peel_to_commit().ok()?;
            Some(commit.id.to_string())
        })
        .collect()
}

/// SZZ over every fix of a history.
#[derive(Debug, Clone, Default)]
pub struct FixesBlamed {
    /// The introducers of each fix that has any.
    pub introduced: std::collections::HashMap<String, Introducers>,
    /// Files over `L9_MAX_BLAMED_FILE_BYTES` left out, over all fixes.
    pub too_large: u64,
}

/// SZZ for every fix among `commits`, on every core.
pub fn blame_fixes(
    path: &std::path::Path,
    commits: &[Commit],
    threads: usize,
) -> crate::Result<FixesBlamed> {
    let fixes: Vec<&Commit> = commits
        .iter()
        .filter(|c| c.parents.len() == 1 && crate::fixes::classify(&c.message).fix)
        .collect();
    if fixes.is_empty() {
        return Ok(FixesBlamed::default());
    }
    let repo = crate::git::open(path)?.into_sync();
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .clamp(1, 16);
    let chunk = fixes.len().div_ceil(threads).max(1);
    let found: Vec<Vec<(String, Blamed)>> = std::thread::scope(|s| {
        let handles: Vec<_> = fixes
            .chunks(chunk)
            .map(|part| {
                let repo = &repo;
                s.spawn(move || {
                    let r = repo.to_thread_local();
                    part.iter().map(|c| (c.sha.clone(), introducers(&r, c))).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut all = FixesBlamed::default();
    for (sha, b) in found.into_iter().flatten() {
        all.too_large += u64::from(b.too_large);
        if !b.introducers.is_empty() {
            all.introduced.insert(sha, b.introducers);
        }
    }
    Ok(all)
}

fn blob_at(repo: &gix::Repository, commit: gix::ObjectId, path: &str) -> Option<Vec<u8>> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.lookup_entry_by_path(path).ok()??;
    let obj = entry.object().ok()?;
    Some(obj.detach().data)
}

/// The 1-based line ranges of `before` that the diff to `after` removes or replaces, blank
/// lines left out.
pub fn changed_lines(before: &[u8], after: &[u8]) -> Vec<RangeInclusive<u32>> {
    let input = InternedInput::new(before, after);
    let diff = Diff::compute(Algorithm::Histogram, &input);
    let lines: Vec<&[u8]> = before.lines().collect();
    let mut out: Vec<RangeInclusive<u32>> = Vec::new();
    for h in diff.hunks() {
        for i in h.before.clone() {
            let blank = lines.get(i as usize).is_none_or(|l| l.trim().is_empty());
            if blank {
                continue;
            }
            let n = i + 1;
            match out.last_mut() {
                Some(r) if *r.end() + 1 == n => *r = *r.start()..=n,
                _ => out.push(n..=n),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_are_the_removed_and_replaced_ones_without_blanks() {
        let before = b"a\nb\n\nc\nd\ne\n";
        let after = b"a\nB\n\nc\ne\nf\n";
        // b replaced (2), d removed (5); blank line 3 untouched anyway; f only added.
        assert_eq!(changed_lines(before, after), vec![2..=2, 5..=5]);
        let after = b"a\n";
        assert_eq!(changed_lines(before, after), vec![2..=2, 4..=6]);
    }
}
