//! Conflict prediction before a plan's parallel fan-out: the coding tasks that may run at
//! the same time (neither waits for the other) are predicted the files they will touch —
//! from their text through the code index's names, a search over the symbols (full text and
//! embeddings), the files past commits with the same words changed, and co-change — and a
//! pair predicted to touch the same file is serialised: the later task waits for the
//! earlier one and starts from its merged result instead of conflicting with it.

use std::collections::{BTreeMap, BTreeSet};

use l9_ingest::code::CodeIndex;
use l9_ingest::conflict::{Collision, Predictor, TOP_FILES, collisions};
use l9_ingest::history::State;
use l9_ir::plan::{PlanCandidate, TaskKind};

use crate::stages::Understood;
use crate::{Engine, Result};

/// Each task's transitive dependencies.
fn ancestors(plan: &PlanCandidate) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    // Tasks are emitted in dependency order.
    for t in &plan.tasks {
        let mut all = BTreeSet::new();
        for d in &t.deps {
            all.insert(d.as_str());
            if let Some(a) = out.get(d.as_str()) {
                all.extend(a.iter().copied());
            }
        }
        out.insert(&t.id, all);
    }
    out
}

/// The pairs of coding tasks of `plan` that may run in parallel and are predicted to touch
/// the same files (none without a code index or history to predict from).
pub(crate) async fn predict(
    eng: &Engine,
    plan: &PlanCandidate,
    front: &Understood,
    code: Option<&(String, CodeIndex)>,
    history: Option<&State>,
) -> Result<Vec<Collision>> {
    let implement: Vec<&l9_ir::plan::PlanTask> =
        plan.tasks.iter().filter(|t| t.kind == TaskKind::Implement).collect();
    if implement.len() < 2 || (code.is_none() && history.is_none()) {
        return Ok(Vec::new());
    }
    let messages = l9_ingest::message_model(eng.memory()).await?;
    let predictor = Predictor::new(code.map(|(_, i)| i), history, Some(&messages), None);
    let mut likely = Vec::new();
    for t in &implement {
        let text = crate::pipeline::task_text(t, front);
        let mut semantic: Vec<String> = Vec::new();
        if let Some((root, index)) = code {
            for h in eng.search_code(root, index, &text, 10).await? {
                if !semantic.contains(&h.path) {
                    semantic.push(h.path);
                }
            }
        }
        likely.push((t.id.clone(), predictor.likely_files(&text, &semantic, TOP_FILES)));
    }
    let anc = ancestors(plan);
    let waits = |a: &str, b: &str| anc.get(a).is_some_and(|s| s.contains(b));
    Ok(collisions(&likely, |i, j| {
        let (a, b) = (likely[i].0.as_str(), likely[j].0.as_str());
        !waits(a, b) && !waits(b, a)
    }))
}

/// `plan` with each predicted collision serialised: the task later in the plan waits for
/// the earlier one (every added edge points backwards, so no cycle can form).
pub(crate) fn serialise(plan: &PlanCandidate, found: &[Collision]) -> PlanCandidate {
    let mut out = plan.clone();
    let order: BTreeMap<String, usize> =
        plan.tasks.iter().enumerate().map(|(i, t)| (t.id.clone(), i)).collect();
    for c in found {
        let (Some(&ia), Some(&ib)) = (order.get(&c.a), order.get(&c.b)) else { continue };
        let (first, later) = if ia < ib { (&c.a, ib) } else { (&c.b, ia) };
        let t = &mut out.tasks[later];
        if !t.deps.contains(first) {
            t.deps.push(first.clone());
        }
    }
    out
}
