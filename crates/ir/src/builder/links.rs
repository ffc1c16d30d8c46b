//! The linking passes over a whole spec: acceptance criteria to the requirements they verify,
//! requirements and constraints to the risks they mitigate. Both find their pairs through an
//! index of terms, never by comparing every node with every other, and the edges a criterion
//! makes by its section alone are bounded in all: a spec of 4,000 criteria and 4,000
//! requirements under one heading took 84 s and 7.5 GB to compile when every criterion was
//! compared with every requirement and each one that shared no telling terms verified all 4,000.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use l9_types::Diagnostic;

use super::{Builder, parent_section};
use crate::model::{EdgeKind, NodeKind};
use crate::text;

use l9_types::limits::{LINK_WORK, Limit, SECTION_LINKS};

/// Edges that criteria make by their section alone, in all: [`SECTION_LINKS`] per requirement,
/// plus this. A criterion verifies every requirement of its section when it shares no telling
/// terms with one; in a section of thousands, thousands of criteria doing so would make
/// millions of edges that say nothing.
pub(crate) const SECTION_EDGES_BASE: usize = 4096;

/// The work of matching criteria to requirements by terms, in all: [`LINK_WORK`] steps per
/// term of the spec's requirements and criteria, plus this.
pub(crate) const TERM_WORK_BASE: usize = 1 << 20;

/// A requirement sharing fewer terms, or weighing less, is not what a criterion verifies.
const MIN_SHARED: usize = 2;
const MIN_WEIGHT: f32 = 0.6;

/// A requirement as the acceptance pass sees it.
struct Req {
    id: String,
    section: Vec<String>,
    terms: BTreeSet<String>,
}

impl Builder<'_> {
    /// Acceptance criteria without an explicit target verify the requirements they share
    /// telling terms with (same section first: up to three, near the best), or else every
    /// requirement of their section.
    ///
    /// A term weighs 1 / the number of requirements holding it; a requirement qualifies with at
    /// least two shared terms weighing 0.6. So a requirement reached only through terms held by
    /// more than `k / 0.3` requirements (`k`: the criterion's terms) weighs under 0.3 and cannot
    /// qualify: only the requirements listed under the criterion's rarer terms are scored, and
    /// the result is the one comparing it with every requirement gives.
    pub(super) fn link_acceptance(&mut self) {
        let reqs: Vec<Req> = self
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Requirement)
            .map(|n| Req {
                id: n.id.clone(),
                section: n.section.clone(),
                terms: text::content_terms(&n.text),
            })
            .collect();
        if reqs.is_empty() {
            return;
        }
        // The requirements' terms as numbers given in the terms' order (so numeric order is
        // the terms' order), each requirement's in order; term → the requirements holding it
        // (its length is the term's df).
        let vocab: Vec<&str> = reqs
            .iter()
            .flat_map(|r| r.terms.iter().map(String::as_str))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let number: HashMap<&str, u32> =
            vocab.iter().enumerate().map(|(i, t)| (*t, i as u32)).collect();
        let req_terms: Vec<Vec<u32>> =
            reqs.iter().map(|r| r.terms.iter().map(|t| number[t.as_str()]).collect()).collect();
        let mut postings: Vec<Vec<u32>> = vec![Vec::new(); vocab.len()];
        for (i, terms) in req_terms.iter().enumerate() {
            for t in terms {
                postings[*t as usize].push(i as u32);
            }
        }
        // Requirements by section path: those under a section are one run of this order.
        let mut by_section: Vec<u32> = (0..reqs.len() as u32).collect();
        by_section.sort_by(|a, b| reqs[*a as usize].section.cmp(&reqs[*b as usize].section));
        let acs: Vec<(String, Vec<String>, BTreeSet<String>)> = self
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::AcceptanceCriterion)
            .filter(|n| !self.linked_acs.contains(&n.id))
            .map(|n| (n.id.clone(), n.section.clone(), text::content_terms(&n.text)))
            .collect();
        // The requirements under each section a criterion falls back to, in order, found once
        // (keyed by the criteria's own section paths: no copy per criterion).
        let mut under_of: HashMap<&[String], Vec<u32>> = HashMap::new();
        let all_terms: usize = reqs.iter().map(|r| r.terms.len()).sum::<usize>()
            + acs.iter().map(|a| a.2.len()).sum::<usize>();
        let mut work_left = LINK_WORK.get_usize().saturating_mul(all_terms) + TERM_WORK_BASE;
        let mut edges_left =
            SECTION_LINKS.get_usize().saturating_mul(reqs.len()) + SECTION_EDGES_BASE;
        let (mut unmatched, mut unsectioned) = (0usize, 0usize);
        // `marked[t] == stamp`: term `t` is the current criterion's.
        let mut marked: Vec<u32> = vec![0; vocab.len()];
        let mut new = Vec::new();
        for (stamp, (ac, section, terms)) in (1u32..).zip(&acs) {
            let parent = parent_section(section);
            if work_left == 0 {
                unmatched += 1;
                continue;
            }
            let mine: Vec<u32> =
                terms.iter().filter_map(|t| number.get(t.as_str()).copied()).collect();
            for t in &mine {
                marked[*t as usize] = stamp;
            }
            let cap = terms.len() * 10 / 3 + 2;
            let mut cands: Vec<u32> = mine
                .iter()
                .map(|t| &postings[*t as usize])
                .filter(|p| p.len() <= cap)
                .flatten()
                .copied()
                .collect();
            cands.sort_unstable();
            cands.dedup();
            let mut best: Vec<(f32, &str, Vec<u32>, bool)> = Vec::new();
            for c in cands {
                let r = &req_terms[c as usize];
                work_left = work_left.saturating_sub(1 + r.len());
                // In the requirement's order, which is the terms' order.
                let shared: Vec<u32> =
                    r.iter().copied().filter(|t| marked[*t as usize] == stamp).collect();
                // Terms that occur in few requirements say more than common ones.
                let weight: f32 =
                    shared.iter().map(|t| 1.0 / postings[*t as usize].len() as f32).sum();
                let req = &reqs[c as usize];
                let same = req.section.starts_with(parent) && !parent.is_empty();
                let score = weight + if same { 0.5 } else { 0.0 };
                if shared.len() >= MIN_SHARED && weight >= MIN_WEIGHT {
                    best.push((score, req.id.as_str(), shared, same));
                }
            }
            // A criterion written under a requirement's own section (a story's acceptance
            // criteria) verifies what that section holds, not what another one shares terms
            // with.
            if best.iter().any(|b| b.3) {
                best.retain(|b| b.3);
            }
            best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            if let Some(top) = best.first().map(|b| b.0) {
                for (score, id, shared, _) in best.iter().take(3) {
                    if *score >= top * 0.75 {
                        let words: Vec<&str> = shared.iter().map(|t| vocab[*t as usize]).collect();
                        let why = format!("shared terms: {}", words.join(", "));
                        new.push((ac.clone(), id.to_string(), why));
                    }
                }
                continue;
            }
            if parent.is_empty() {
                continue;
            }
            let under = under_of.entry(parent).or_insert_with(|| {
                let from =
                    by_section.partition_point(|i| reqs[*i as usize].section.as_slice() < parent);
                let mut under: Vec<u32> = by_section[from..]
                    .iter()
                    .take_while(|i| reqs[**i as usize].section.starts_with(parent))
                    .copied()
                    .collect();
                under.sort_unstable();
                under
            });
            if under.len() > edges_left {
                unsectioned += 1;
                continue;
            }
            edges_left -= under.len();
            for i in under.iter() {
                new.push((ac.clone(), reqs[*i as usize].id.clone(), "same section".to_string()));
            }
        }
        for (from, to, why) in new {
            self.edge(&from, &to, EdgeKind::Verifies, &why);
        }
        if unmatched > 0 {
            self.diags.push(too_many(
                "by the terms they share with requirements",
                unmatched,
                LINK_WORK,
            ));
        }
        if unsectioned > 0 {
            self.diags.push(too_many(
                "to every requirement of their section",
                unsectioned,
                SECTION_LINKS,
            ));
        }
    }

    /// A requirement or constraint that shares a rare term (held by at most three statements
    /// and risks) with a risk mitigates it ("alert when the disk is 90% full" ↔ "the disk
    /// fills up"). Each risk looks up the statements holding its rare terms.
    pub(super) fn link_mitigations(&mut self) {
        let risks: Vec<(String, BTreeSet<String>)> = self
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Risk)
            .map(|n| (n.id.clone(), text::content_terms(&n.text)))
            .collect();
        if risks.is_empty() {
            return;
        }
        let statements: Vec<(String, BTreeSet<String>)> = self
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Requirement | NodeKind::Constraint))
            .map(|n| (n.id.clone(), text::content_terms(&n.text)))
            .collect();
        let mut df: HashMap<&str, usize> = HashMap::new();
        for (_, terms) in statements.iter().chain(&risks) {
            for t in terms {
                *df.entry(t.as_str()).or_default() += 1;
            }
        }
        let rare = |t: &str| df.get(t).copied().unwrap_or(0) <= 3;
        let mut holders: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, (_, terms)) in statements.iter().enumerate() {
            for t in terms.iter().filter(|t| rare(t)) {
                holders.entry(t.as_str()).or_default().push(i as u32);
            }
        }
        let mut new = Vec::new();
        for (risk, rterms) in &risks {
            // Statement → the rare terms it shares with the risk, in term order.
            let mut shared: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
            for t in rterms {
                for s in holders.get(t.as_str()).into_iter().flatten() {
                    shared.entry(*s).or_default().push(t.as_str());
                }
            }
            for (s, terms) in shared {
                let id = statements[s as usize].0.clone();
                new.push((id, risk.clone(), format!("shared terms: {}", terms.join(", "))));
            }
        }
        for (from, to, why) in new {
            self.edge(&from, &to, EdgeKind::Mitigates, &why);
        }
    }
}

/// The warning for acceptance criteria left unlinked because a limit ran out: it names the
/// limit's setting and its value in force.
fn too_many(how: &str, n: usize, limit: Limit) -> Diagnostic {
    Diagnostic::warning(
        "L9-IR-042",
        format!(
            "{n} acceptance criteria were not linked {how}: the spec reached {}={} (its bound grows with the spec's size)",
            limit.env,
            limit.get_usize()
        ),
    )
    .with_help(format!(
        "name the requirements a criterion verifies by their ids (REQ-1, …), or raise {}",
        limit.env
    ))
}

#[cfg(test)]
mod tests;
