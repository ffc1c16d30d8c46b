//! Seed packs and the loader.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step is a failed test

use l9_world::{Pack, relevant, seeds};

#[test]
fn the_builtin_packs_load_and_meet_the_minimums() {
    let items = seeds::builtin().unwrap_or_else(|d| {
        panic!("{}", d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("\n"))
    });
    let count = |p: Pack| items.iter().filter(|i| i.pack == p).count();
    assert!(count(Pack::Pattern) >= 25, "{}", count(Pack::Pattern));
    assert!(count(Pack::Heuristic) >= 40);
    assert!(count(Pack::Reflection) >= 20);
    assert!(count(Pack::TaskKind) >= 6 && count(Pack::Relation) >= 5);
    let kinds = seeds::task_kinds(&items);
    for k in ["design", "implement", "test", "review", "integrate", "verify"] {
        assert!(kinds.iter().any(|t| t.kind == k), "{k}");
    }
    // Loading twice gives the same items (the engine stores them once by id).
    assert_eq!(seeds::builtin().unwrap(), items);
}

#[test]
fn bad_entries_are_reported_with_file_and_line() {
    let text = "patterns:\n  - id: AP-001\n    name: A\n    context: c\n    forces: [f]\n    solution: s\n    consequences: [c]\n    applies_when: [w]\n  - id: AP-001\n    name: ''\n    context: c\n    forces: []\n    solution: s\n    consequences: [c]\n    applies_when: [w]\n";
    let d = seeds::load("seeds/architectural_patterns.yaml", text).unwrap_err();
    let shown: Vec<String> =
        d.iter().map(|x| x.to_string().lines().next().unwrap().to_string()).collect();
    assert!(
        shown.contains(
            &"seeds/architectural_patterns.yaml:9:1: error[L9-SEED-003]: id AP-001 is used twice"
                .to_string()
        ),
        "{shown:?}"
    );
    assert!(shown.iter().any(|s| s.contains("`name` is empty")), "{shown:?}");
    assert!(shown.iter().any(|s| s.contains("`forces` needs at least one")), "{shown:?}");
    let d = seeds::load(
        "seeds/coding_heuristics.yaml",
        "heuristics:\n  - id: CH-1\n    rule: r\n    whyy: w\n",
    )
    .unwrap_err();
    assert!(d[0].to_string().starts_with("seeds/coding_heuristics.yaml:4:"), "{}", d[0]);
    assert!(d[0].message.contains("whyy"));
    let d = seeds::load("seeds/cross_task_graph.yaml", "task_kinds:\n  - kind: a\n    description: d\n    duration_minutes: { median: 5, p90: 2 }\n    failure: { alpha: 1, beta: 1 }\n    tokens_per_point: 1\nrelations:\n  - { from: a, to: b, relation: likes, note: n }\n").unwrap_err();
    let msgs: Vec<&str> = d.iter().map(|x| x.message.as_str()).collect();
    assert!(msgs.iter().any(|m| m.contains("0 < median <= p90")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("unknown task kind \"b\"")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("\"likes\" is not one of")), "{msgs:?}");
}

#[test]
fn relevant_items_for_a_context() {
    let items = seeds::builtin().unwrap();
    let hits = relevant(&items, "workers crash and the queue job is never finished; leases", 3);
    assert!(
        hits.iter().any(|(_, i)| i.id == "RM-005" || i.id == "AP-008"),
        "{:?}",
        hits.iter().map(|h| &h.1.id).collect::<Vec<_>>()
    );
    let hits = relevant(&items, "SQL injection in a query built by string concatenation", 2);
    assert_eq!(hits[0].1.id, "CH-011");
}
