//! Duplicate requirements: two that say the same thing (one's terms contain the other's and
//! they share most of them), found without comparing every pair.

use std::collections::HashMap;

use l9_types::Severity;

use super::{DUPLICATE, Finding};
use crate::model::{EdgeKind, Ir, Node, NodeKind};
use crate::openapi::OPERATION_DESCRIPTION;
use crate::text;

/// Words that do not make two requirements about different things: articles, prepositions,
/// conjunctions, pronouns, auxiliaries and modal verbs (a change of strength alone still says
/// the same thing). Negations, actors and numbers are not among them.
/// (A `match`, not a scan of a list: it runs for every word of every requirement.)
#[rustfmt::skip]
fn is_function_word(w: &str) -> bool {
    matches!(
        w,
        "a" | "an" | "the" | "and" | "or" | "of" | "to" | "in" | "on" | "for" | "by" | "with"
            | "at" | "from" | "as" | "is" | "are" | "be" | "been" | "being" | "was" | "were"
            | "it" | "its" | "this" | "that" | "these" | "those" | "shall" | "must" | "should"
            | "may" | "will" | "can" | "could" | "would" | "might" | "which" | "who" | "whom"
            | "whose" | "when" | "then" | "than" | "if" | "into" | "there" | "their" | "they"
            | "them" | "he" | "she" | "his" | "her" | "we" | "our" | "you" | "your" | "i" | "so"
            | "such" | "do" | "does" | "has" | "have" | "had" | "also" | "able" | "both"
            | "every" | "all" | "any" | "each" | "via" | "upon" | "onto" | "whether" | "but"
    )
}

/// A requirement's terms for duplicate judgement, as sorted ids into `vocab`: every word but
/// function words, lower-cased and stemmed; numbers and identifiers (`1005`, `rsv1`) kept.
fn duplicate_terms(text: &str, vocab: &mut HashMap<String, u32>) -> Vec<u32> {
    let lower = text.to_lowercase();
    let mut ids: Vec<u32> = text::words(&lower)
        .into_iter()
        .map(|(s, e)| &lower[s..e])
        .filter(|w| !is_function_word(w))
        .filter(|w| w.len() >= 2 || w.chars().any(|c| c.is_ascii_digit()))
        .map(|w| {
            let t = text::stem(w);
            let next = u32::try_from(vocab.len()).unwrap_or(u32::MAX);
            *vocab.entry(t).or_insert(next)
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The share of terms two requirements must have in common to say the same thing, chosen on
/// labelled pairs of the development specs (see `bench/duplicate_pairs.csv` and `l9 eval
/// duplicates`).
pub const DUPLICATE_JACCARD: f32 = 0.8;

/// Whether two requirements (their [`duplicate_terms`]) say the same thing, and the share of
/// terms they have in common. They do when neither puts a term of its own in place of one of
/// the other's — one's terms contain the other's, so "the driver" against "the user", `1005`
/// against `1006` or `|Sec-WebSocket-Key|` against `|Sec-WebSocket-Version|` are different
/// things however much else they share — and they share at least [`DUPLICATE_JACCARD`] of
/// their terms.
fn same_requirement(a: &[u32], b: &[u32]) -> Option<f32> {
    same_requirement_at(a, b, DUPLICATE_JACCARD)
}

fn same_requirement_at(a: &[u32], b: &[u32], share: f32) -> Option<f32> {
    let (small, large) = (a.len().min(b.len()), a.len().max(b.len()));
    // Containment means the intersection is the smaller set, so Jaccard is small / large.
    if small < 3 || (small as f32) < share * large as f32 {
        return None;
    }
    let inter = sorted_intersection(a, b);
    (inter == small).then(|| inter as f32 / large as f32)
}

/// Whether two requirement texts say the same thing (the challenger's duplicate judgement),
/// with the share of terms they have in common.
pub fn duplicate_judgement(a: &str, b: &str) -> Option<f32> {
    duplicate_judgement_at(a, b, DUPLICATE_JACCARD)
}

/// [`duplicate_judgement`] with another share of common terms (for choosing it).
pub fn duplicate_judgement_at(a: &str, b: &str, share: f32) -> Option<f32> {
    let mut vocab = HashMap::new();
    let ta = duplicate_terms(a, &mut vocab);
    let tb = duplicate_terms(b, &mut vocab);
    same_requirement_at(&ta, &tb, share)
}

/// The operation a requirement was stated for: an API operation's description speaks of that
/// operation ("You must use a JWT to access this endpoint."), so the same words on two
/// operations are two requirements, not one written twice.
fn operation_of(ir: &Ir) -> HashMap<&str, &str> {
    ir.edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Implements && e.why == OPERATION_DESCRIPTION)
        .map(|e| (e.to.as_str(), e.from.as_str()))
        .collect()
}

pub(super) fn duplicates(ir: &Ir) -> Vec<Finding> {
    // Terms as sorted integer ids, so a pair costs one merge instead of string compares.
    let mut vocab: HashMap<String, u32> = HashMap::new();
    let reqs: Vec<(&Node, Vec<u32>)> = ir
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Requirement)
        .map(|n| (n, duplicate_terms(&n.text, &mut vocab)))
        .filter(|(_, t)| t.len() >= 3)
        .collect();
    // Each requirement against the first earlier one it says the same as: one finding per
    // repetition, not one per pair (a requirement written 2,000 times made ~2 million).
    // Requirements of one operation are compared among themselves; the rest, together.
    let operation = operation_of(ir);
    let mut scopes: HashMap<Option<&str>, Vec<usize>> = HashMap::new();
    for (k, (n, _)) in reqs.iter().enumerate() {
        scopes.entry(operation.get(n.id.as_str()).copied()).or_default().push(k);
    }
    let limit = &l9_types::limits::DUPLICATE_CANDIDATES;
    let mut first: Vec<Option<usize>> = vec![None; reqs.len()];
    let mut cut: Vec<usize> = Vec::new();
    for members in scopes.values() {
        let sets: Vec<&[u32]> = members.iter().map(|&k| reqs[k].1.as_slice()).collect();
        let (found, stopped) = first_same(&sets, vocab.len(), limit.get_usize());
        for (j, i) in found.into_iter().enumerate() {
            first[members[j]] = i.map(|i| members[i]);
        }
        cut.extend(stopped.into_iter().map(|j| members[j]));
    }
    let mut out = Vec::new();
    for (j, i) in first.into_iter().enumerate() {
        let (b, tb) = &reqs[j];
        let Some(i) = i else { continue };
        let (a, ta) = &reqs[i];
        if let Some(jaccard) = same_requirement(ta, tb) {
            let strength = if a.strength == b.strength {
                String::new()
            } else {
                " — with a different strength".to_string()
            };
            out.push(Finding {
                code: DUPLICATE.into(),
                severity: Severity::Warning,
                message: format!(
                    "says the same as {} ({:.0}% of its terms are shared, none replaced){strength}",
                    a.id,
                    jaccard * 100.0
                ),
                node: Some(b.id.clone()),
                span: Some(b.span.clone()),
                words: Vec::new(),
                fix: format!("keep one of {} and {}, or make the difference explicit", a.id, b.id),
                related: vec![a.id.clone()],
                blocking: false,
            });
        }
    }
    if !cut.is_empty() {
        let cut = cut.len();
        out.push(Finding {
            code: DUPLICATE.into(),
            severity: Severity::Info,
            message: format!(
                "the search for duplicates was cut for {cut} requirements: each was compared \
                 with the first {} earlier ones sharing its rarest terms, and more shared them \
                 (requirements drawn from a few words)",
                limit.get()
            ),
            node: None,
            span: None,
            words: Vec::new(),
            fix: format!("{} to compare more", limit.hint()),
            related: Vec::new(),
            blocking: false,
        });
    }
    out
}

/// Sets that are at most this many variants (the set less up to `own` of its terms, below)
/// are paired by exact lookups of their variants; sets with more, through the pair index.
const VARIANTS: usize = 128;

/// For each set (of sorted, distinct terms), the first earlier set it is the same requirement
/// as ([`same_requirement`]) among the first `budget` candidates the index gives it; and the
/// sets that had more candidates than that (their search was cut).
fn first_same(all: &[&[u32]], vocab: usize, budget: usize) -> (Vec<Option<usize>>, Vec<usize>) {
    first_same_with(all, vocab, VARIANTS, content_key, budget)
}

/// A pair needs one set (the smaller) inside the other (the larger), the smaller holding at
/// least [`DUPLICATE_JACCARD`] of the larger's terms: the larger has at most `own = |larger| -
/// ⌈0.8·|larger|⌉` terms of its own, so the smaller is the larger less at most `own` terms.
///
/// A larger set of at most `variants` such variants (requirements of up to 14 terms: 106) is
/// found exactly: each set's content is looked up among its earlier variants' and each set's
/// variants among earlier contents — a few hash lookups per requirement, however few words a
/// spec draws on. A larger set with more variants is found through an index of term pairs:
/// with the terms of each set ordered rarest first (over all sets), every term of the larger
/// rarer than the smaller's rarest `w1` is one of its own, so `w1` sits at most `own` places
/// into it and the smaller's second rarest `w2` at most `own + 1`. Every set is indexed by its
/// two rarest terms ("as the smaller"), and each set of many variants by every pair of terms at
/// places `a < b`, `a ≤ own`, `b ≤ own + 1` ("as the larger"). Candidates are tried in order
/// until the first that pairs.
fn first_same_with(
    all: &[&[u32]],
    vocab: usize,
    variants: usize,
    content_key: fn(&[u32]) -> u64,
    budget: usize,
) -> (Vec<Option<usize>>, Vec<usize>) {
    let mut freq = vec![0u32; vocab];
    for t in all.iter().copied().flatten() {
        freq[*t as usize] += 1;
    }
    // Content hash → the first earlier set with that content; variant hash → the first earlier
    // set (of few variants) with that variant; (rarest, second rarest) → earlier sets; (term at
    // a, term at b) → (earlier set of many variants, a, b). An equal content or variant always
    // pairs (its size is within `own`), so the first of each is the only candidate; a hash that
    // names a set that does not pair is a collision, and that set is then compared with every
    // earlier one instead.
    let mut content: HashMap<u64, usize> = HashMap::new();
    let mut variant: HashMap<u64, usize> = HashMap::new();
    let mut smaller: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
    let mut larger: HashMap<(u32, u32), Vec<Placed>> = HashMap::new();
    let mut out = Vec::new();
    let mut cut = Vec::new();
    for (j, tb) in all.iter().enumerate() {
        let m = tb.len();
        // Candidates compared through the pair index (a few lookups otherwise), and whether
        // the budget stopped the search.
        let mut tried = 0usize;
        let mut stopped = false;
        let own = m - (DUPLICATE_JACCARD * m as f32).ceil() as usize;
        let few = variants_of(m, own) <= variants;
        let mut best: Option<usize> = None;
        let mut collided = false;
        let mut first_at = |at: Option<&usize>, best: &mut Option<usize>| {
            if let Some(&i) = at
                && !best.is_some_and(|x| x <= i)
            {
                if same_requirement(all[i], tb).is_some() {
                    *best = Some(i);
                } else {
                    collided = true;
                }
            }
        };
        // As the smaller: an earlier set of few variants with this one among them.
        let key = content_key(tb);
        first_at(variant.get(&key), &mut best);
        let mut order: Vec<u32> = tb.to_vec();
        order.sort_unstable_by_key(|t| (freq[*t as usize], *t));
        let places: Vec<(usize, usize)> = (0..=own)
            .flat_map(|a| (a + 1..=own + 1).map(move |b| (a, b)))
            .filter(|&(_, b)| b < m)
            .collect();
        // As the larger.
        if few {
            each_variant(tb, own, &mut |v| first_at(content.get(&content_key(v)), &mut best));
        } else {
            'places: for &(a, b) in &places {
                for &i in smaller.get(&(order[a], order[b])).into_iter().flatten() {
                    if best.is_some_and(|x| x <= i) {
                        break;
                    }
                    if tried == budget {
                        stopped = true;
                        break 'places;
                    }
                    tried += 1;
                    let n = all[i].len();
                    if n <= m
                        && a <= m - n
                        && b <= m - n + 1
                        && same_requirement(all[i], tb).is_some()
                    {
                        best = Some(i);
                        break;
                    }
                }
            }
        }
        // As the smaller: an earlier set of many variants with this one's two rarest terms
        // near its start.
        if m >= 2 {
            let pair = (order[0], order[1]);
            for &(i, a, b) in larger.get(&pair).into_iter().flatten() {
                if best.is_some_and(|x| x <= i) {
                    break;
                }
                if tried == budget {
                    stopped = true;
                    break;
                }
                tried += 1;
                let n = all[i].len();
                if n >= m && a <= n - m && b <= n - m + 1 && same_requirement(all[i], tb).is_some()
                {
                    best = Some(i);
                    break;
                }
            }
            smaller.entry(pair).or_default().push(j);
        }
        if collided {
            // A hash collision: every earlier set in turn, within the budget. What it finds is
            // never later than a pair the lookups found (that one would be within reach); a
            // pair the lookups found stays when the scan stops short of it.
            let scanned = (0..j).take(budget).find(|&i| same_requirement(all[i], tb).is_some());
            stopped |= scanned.is_none() && j > budget;
            best = scanned.or(best);
        }
        content.entry(key).or_insert(j);
        if few {
            each_variant(tb, own, &mut |v| {
                variant.entry(content_key(v)).or_insert(j);
            });
        } else {
            for &(a, b) in &places {
                larger.entry((order[a], order[b])).or_default().push((j, a, b));
            }
        }
        if stopped {
            cut.push(j);
        }
        out.push(best);
    }
    (out, cut)
}

/// An earlier set and the places `a < b` of a pair of its terms.
type Placed = (usize, usize, usize);

/// How many sets `m` terms less at most `own` of them are (saturating).
fn variants_of(m: usize, own: usize) -> usize {
    let mut total = 0usize;
    let mut choose = 1usize;
    for k in 0..=own.min(m) {
        total = total.saturating_add(choose);
        choose = choose.saturating_mul(m - k) / (k + 1);
    }
    total
}

/// Calls `f` with `set` less every choice of at most `own` of its terms (the set itself first).
fn each_variant(set: &[u32], own: usize, f: &mut dyn FnMut(&[u32])) {
    fn drop_from(kept: &mut Vec<u32>, from: usize, left: usize, f: &mut dyn FnMut(&[u32])) {
        f(kept);
        if left == 0 {
            return;
        }
        for k in from..kept.len() {
            let t = kept.remove(k);
            drop_from(kept, k, left - 1, f);
            kept.insert(k, t);
        }
    }
    drop_from(&mut set.to_vec(), 0, own, f);
}

/// A set's content as a hash (a collision is found out: the set it names does not pair).
fn content_key(set: &[u32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for t in set {
        h = (h ^ u64::from(*t)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ set.len() as u64
}

fn sorted_intersection(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The former search, every earlier set in turn: the oracle.
    fn first_same_scan(all: &[&[u32]]) -> Vec<Option<usize>> {
        (0..all.len())
            .map(|j| (0..j).find(|&i| same_requirement(all[i], all[j]).is_some()))
            .collect()
    }

    #[test]
    fn the_index_finds_what_comparing_every_pair_finds() {
        // Seeded sets over a small vocabulary, many of them near one another: drawn from a few
        // bases with terms dropped, added or replaced.
        let rng = l9_types::SeededRng::from_seed(0x9e37_79b9_7f4a_7c15);
        let next = |n: u64| rng.below(n);
        for round in 0..200 {
            let vocab = 6 + next(20) as u32;
            let bases: Vec<Vec<u32>> = (0..1 + next(4))
                .map(|_| (0..3 + next(12)).map(|_| next(vocab as u64) as u32).collect())
                .collect();
            let mut sets: Vec<Vec<u32>> = Vec::new();
            for _ in 0..2 + next(40) {
                let mut s = bases[next(bases.len() as u64) as usize].clone();
                for _ in 0..next(3) {
                    match next(3) {
                        0 if !s.is_empty() => {
                            s.remove(next(s.len() as u64) as usize);
                        }
                        1 => s.push(next(vocab as u64) as u32),
                        _ if !s.is_empty() => {
                            let at = next(s.len() as u64) as usize;
                            s[at] = next(vocab as u64) as u32;
                        }
                        _ => {}
                    }
                }
                s.sort_unstable();
                s.dedup();
                if s.len() >= 3 {
                    sets.push(s);
                }
            }
            let all: Vec<&[u32]> = sets.iter().map(Vec::as_slice).collect();
            let scan = first_same_scan(&all);
            // Every set by its variants, every set by the pair index, and the mix; and with a
            // hash that collides for every two sets of a size.
            for budget in [usize::MAX, 0, VARIANTS, 40] {
                assert_eq!(
                    first_same_with(&all, vocab as usize, budget, content_key, usize::MAX),
                    (scan.clone(), vec![]),
                    "round {round}, variants {budget}: {sets:?}"
                );
            }
            let by_size: fn(&[u32]) -> u64 = |s| s.len() as u64;
            assert_eq!(
                first_same_with(&all, vocab as usize, usize::MAX, by_size, usize::MAX),
                (scan, vec![])
            );
        }
    }

    /// Long requirements drawn from few words (every pair of terms common, so the pair index
    /// gives each thousands of candidates), and shorter ones: under a budget, every pair found is a same
    /// requirement no earlier than the scan's, sets found otherwise are counted as cut, and a
    /// budget above the need finds what the scan finds.
    #[test]
    fn a_budget_bounds_the_search_and_counts_what_it_cut() {
        let rng = l9_types::SeededRng::from_seed(17);
        let mut sets: Vec<Vec<u32>> = Vec::new();
        for k in 0..600 {
            let mut s: Vec<u32> = if k % 10 == 9 {
                // Another earlier one less a term or two.
                let mut s = sets[rng.below(sets.len() as u64) as usize].clone();
                for _ in 0..1 + rng.below(2) {
                    s.remove(rng.below(s.len() as u64) as usize);
                }
                s
            } else {
                // Sets of 17 terms (many variants: the pair index) and of 10 (few: lookups).
                let keep = if k % 10 < 3 { 10 } else { 17 };
                let mut s: Vec<u32> = (0..24).collect();
                while s.len() > keep {
                    s.remove(rng.below(s.len() as u64) as usize);
                }
                s
            };
            s.sort_unstable();
            sets.push(s);
        }
        let all: Vec<&[u32]> = sets.iter().map(Vec::as_slice).collect();
        let scan = first_same_scan(&all);
        assert!(scan.iter().filter(|f| f.is_some()).count() >= 50, "{scan:?}");
        let full = first_same_with(&all, 24, VARIANTS, content_key, usize::MAX);
        assert_eq!(full, (scan.clone(), vec![]));
        // Through the index, and with a hash that collides for every two sets of a size (each
        // then compared with the earlier sets in turn).
        let by_size: fn(&[u32]) -> u64 = |s| s.len() as u64;
        for key in [content_key, by_size] {
            let (bounded, cut) = first_same_with(&all, 24, VARIANTS, key, 8);
            assert!(cut.len() > 100, "{}", cut.len());
            let differ: Vec<usize> = (0..all.len()).filter(|&j| bounded[j] != scan[j]).collect();
            assert!(!differ.is_empty() && differ.iter().all(|j| cut.contains(j)), "{differ:?}");
            for (j, (b, s)) in bounded.iter().zip(&scan).enumerate() {
                if let Some(i) = *b {
                    assert!(same_requirement(all[i], all[j]).is_some() && Some(i) >= *s, "{j}");
                }
            }
        }
        assert_eq!(first_same_with(&all, 24, VARIANTS, content_key, 100_000), (scan, vec![]));
    }

    /// A collision sends a set to the scan of earlier sets; under a budget the scan stops
    /// before a pair the lookups already found, which is kept (it was dropped).
    #[test]
    fn a_cut_scan_keeps_the_pair_the_lookups_found() {
        let run = |from: u32, n: u32| (from..from + n).collect::<Vec<u32>>();
        // Five unrelated sets of 9 and 8 terms, then one of 10 twice (few variants each).
        let sets = [run(100, 9), run(200, 8), run(300, 9), run(400, 8), run(500, 9), run(0, 10)];
        let mut all: Vec<&[u32]> = sets.iter().map(Vec::as_slice).collect();
        all.push(&sets[5]);
        // Every two sets of a size collide: the twin's 9-term variants meet the first 9-term set.
        let by_size: fn(&[u32]) -> u64 = |s| s.len() as u64;
        let (found, cut) = first_same_with(&all, 510, VARIANTS, by_size, 2);
        assert_eq!(found[6], Some(5), "{found:?}");
        assert!(cut.contains(&6), "the scan stopped short: counted as cut ({cut:?})");
        assert_eq!(
            first_same_with(&all, 510, VARIANTS, by_size, 100),
            (first_same_scan(&all), vec![])
        );
    }

    #[test]
    fn variants_are_every_set_less_at_most_own_terms_once() {
        for (m, own) in [(3, 0), (5, 1), (8, 1), (10, 2), (14, 2), (15, 3)] {
            let set: Vec<u32> = (0..m as u32).map(|t| t * 3).collect();
            let mut seen = std::collections::BTreeSet::new();
            each_variant(&set, own, &mut |v| {
                assert!(v.len() + own >= m && v.windows(2).all(|w| w[0] < w[1]), "{v:?}");
                assert!(seen.insert(v.to_vec()), "{v:?} twice");
            });
            assert_eq!(seen.len(), variants_of(m, own), "{m} {own}");
        }
        assert_eq!(variants_of(14, 2), 106);
        assert!(variants_of(16, 3) > VARIANTS, "long requirements go to the pair index");
    }

    #[test]
    fn the_index_agrees_on_the_requirements_of_the_fixtures() {
        for text in [
            include_str!("../../tests/fixtures/notes.md"),
            include_str!("../../tests/fixtures/rfc-mini.txt"),
            include_str!("../../tests/fixtures/prose.txt"),
        ] {
            let mut vocab = HashMap::new();
            let sets: Vec<Vec<u32>> = text
                .lines()
                .map(|l| duplicate_terms(l, &mut vocab))
                .filter(|t| t.len() >= 3)
                .collect();
            let all: Vec<&[u32]> = sets.iter().map(Vec::as_slice).collect();
            assert_eq!(first_same(&all, vocab.len(), 1000), (first_same_scan(&all), vec![]));
        }
    }
}
