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

mod learning {
    use l9_world::{Delta, WorldState, apply, seeds};

    fn base() -> WorldState {
        WorldState::seeded(&seeds::task_kinds(&seeds::builtin().unwrap()))
    }

    #[test]
    fn outcomes_move_the_beta_and_log_normal_priors() {
        let mut s = base();
        let before = s.kinds["implement"];
        assert!((before.failure_mean() - 0.3).abs() < 1e-9);
        assert!((before.median_minutes() - 30.0).abs() < 1e-6);
        assert!((before.p90_minutes() - 75.0).abs() < 0.5);
        for _ in 0..10 {
            apply(
                &mut s,
                &Delta::TaskOutcome {
                    kind: "implement".into(),
                    success: false,
                    minutes: 120.0,
                    executor: Some("provider:a".into()),
                    executor_kind: None,
                },
            );
        }
        let after = s.kinds["implement"];
        assert_eq!((after.fail_alpha, after.fail_beta, after.observed), (13.0, 7.0, 10));
        assert!(after.failure_mean() > 0.6);
        // The seed weighs as five observations: the median moves to the weighted log mean.
        let expected = ((5.0 * 30f64.ln() + 10.0 * 120f64.ln()) / 15.0).exp();
        assert!((after.median_minutes() - expected).abs() < 1e-6, "{}", after.median_minutes());
        // A kind nobody seeded is learned from scratch.
        let docs = Delta::TaskOutcome {
            kind: "docs".into(),
            success: true,
            minutes: 10.0,
            executor: Some("provider:b".into()),
            executor_kind: Some("model".into()),
        };
        apply(&mut s, &docs);
        assert_eq!(s.kinds["docs"].observed, 1);
        // Executor success rates route the next task: b (1 of 1) beats an untried c (a coin
        // flip) beats a (0 of 10).
        assert_eq!(s.executors["provider:a"], (0, 10));
        assert!((s.executor_rate("provider:b") - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.executor_rate("provider:c") - 0.5).abs() < 1e-12);
        let names = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let order = names(&["provider:a", "provider:c", "provider:b"]);
        assert_eq!(s.best_executor(&order).unwrap(), "provider:b");
        let tie = names(&["provider:c", "provider:d"]);
        assert_eq!(s.best_executor(&tie).unwrap(), "provider:c", "ties: the first listed");
        assert!(s.best_executor(&[]).is_none());
    }

    #[test]
    fn scripted_and_agent_outcomes_never_move_the_model_priors() {
        let mut s = base();
        let before = s.kinds["implement"];
        for kind in ["scripted", "agent"] {
            apply(
                &mut s,
                &Delta::TaskOutcome {
                    kind: "implement".into(),
                    success: true,
                    minutes: 0.01,
                    executor: Some(format!("{kind}:x")),
                    executor_kind: Some(kind.into()),
                },
            );
            assert_eq!(s.kinds[&format!("implement@{kind}")].observed, 1);
        }
        assert_eq!(s.kinds["implement"], before, "the forecasts' belief did not move");
    }

    #[test]
    fn a_far_off_duration_moves_the_belief_without_blowing_up_its_spread() {
        let mut s = base();
        let before = s.kinds["implement"];
        let seconds = |s: &mut WorldState| {
            apply(
                s,
                &Delta::TaskOutcome {
                    kind: "implement".into(),
                    success: true,
                    minutes: 0.004,
                    executor: None,
                    executor_kind: None,
                },
            )
        };
        seconds(&mut s);
        let one = s.kinds["implement"];
        assert!(one.median_minutes() < before.median_minutes(), "it moves");
        assert!(
            one.p90_minutes() < 2.0 * before.p90_minutes(),
            "{} vs {}",
            one.p90_minutes(),
            before.p90_minutes()
        );
        // Without the winsorising this one observation took p90 from 75 min to ~520.
        for _ in 0..30 {
            seconds(&mut s);
        }
        let many = s.kinds["implement"];
        assert!(many.median_minutes() < one.median_minutes() / 4.0, "a series keeps moving it");
        assert!(many.p90_minutes() < before.p90_minutes(), "{}", many.p90_minutes());
    }

    #[test]
    fn votes_reflections_edges_and_contradictions_are_kept_side_by_side() {
        let mut s = base();
        apply(&mut s, &Delta::InsightVote { item: "CH-008".into(), helpful: true });
        apply(&mut s, &Delta::InsightVote { item: "CH-008".into(), helpful: false });
        apply(&mut s, &Delta::InsightVote { item: "CH-008".into(), helpful: true });
        assert_eq!(s.votes["CH-008"], (2, 1));
        apply(
            &mut s,
            &Delta::HiddenConstraint {
                trigger: "export".into(),
                text: "Exports must be encrypted".into(),
            },
        );
        apply(
            &mut s,
            &Delta::HiddenConstraint {
                trigger: "Export".into(),
                text: "Exports must be encrypted".into(),
            },
        );
        apply(
            &mut s,
            &Delta::HiddenConstraint {
                trigger: "export".into(),
                text: "Exports must stay plain CSV".into(),
            },
        );
        assert_eq!(s.constraints.len(), 2);
        assert_eq!(s.constraints[0].seen, 2);
        assert_eq!(s.contradictions().len(), 1, "kept side by side and surfaced");
        apply(&mut s, &Delta::CausalEdge { cause: "flaky test".into(), effect: "retry".into() });
        apply(&mut s, &Delta::CausalEdge { cause: "flaky test".into(), effect: "retry".into() });
        assert_eq!(s.causes[&("flaky test".to_string(), "retry".to_string())], 2);
        apply(
            &mut s,
            &Delta::Reflection {
                signature: "patch does not apply".into(),
                lesson: "re-read".into(),
                fix: "write whole file".into(),
            },
        );
        assert_eq!(s.reflections.len(), 1);
        assert_eq!(s.deltas, 9);
    }

    #[test]
    fn calibration_scores_predictions() {
        let mut s = base();
        assert!(s.calibration().is_none());
        for (p, ok, m) in
            [(0.9, true, 50.0), (0.9, true, 70.0), (0.2, false, 200.0), (0.8, false, 90.0)]
        {
            apply(
                &mut s,
                &Delta::Prediction {
                    subject: "run".into(),
                    success_p: p,
                    p50_minutes: 60.0,
                    p90_minutes: 100.0,
                    succeeded: ok,
                    minutes: m,
                    executor: Some(if p > 0.5 { "provider:a" } else { "provider:b" }.into()),
                    forecast_cost_usd: Some(1.0),
                    cost_usd: Some(m / 60.0),
                },
            );
        }
        let by = s.calibration_by_executor();
        let a = by["provider:a"];
        assert_eq!(a.n, 3);
        assert!((a.brier - (0.01 + 0.01 + 0.64) / 3.0).abs() < 1e-9, "{a:?}");
        let mean_ln = ((50f64 / 60.0).ln() + (70f64 / 60.0).ln() + (90f64 / 60.0).ln()) / 3.0;
        assert!((a.duration_log_ratio.unwrap() - mean_ln).abs() < 1e-9, "{a:?}");
        assert!((a.cost_log_ratio.unwrap() - mean_ln).abs() < 1e-9, "{a:?}");
        assert_eq!(by["provider:b"].n, 1);
        let c = s.calibration().unwrap();
        assert_eq!(c.n, 4);
        assert!((c.brier - (0.01 + 0.01 + 0.04 + 0.64) / 4.0).abs() < 1e-9, "{c:?}");
        assert!((c.p90_coverage - 0.75).abs() < 1e-9);
        assert!((c.p50_coverage - 0.25).abs() < 1e-9);
    }

    #[test]
    fn bitemporal_views_fold_what_was_known_about_each_moment() {
        use chrono::{DateTime, Utc};
        use l9_types::AsOf;
        use l9_world::{Observation, Recorded, fold, learned_item};
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let hc = Delta::HiddenConstraint { trigger: "add.sh".into(), text: "print only".into() };
        let id = learned_item(&hc, "run r1").unwrap().id;
        assert!(
            id.starts_with("HC-") && id == l9_world::learn::constraint_id("ADD.SH", "print only")
        );
        let log = vec![
            // Learned at 100 about a fact true since 50.
            Recorded { delta: hc.clone(), valid_at: t(50), recorded_at: t(100) },
            // Learned at 300 that it stopped holding at 200.
            Recorded {
                delta: Delta::Retire { item: id.clone(), reason: "spec changed".into() },
                valid_at: t(200),
                recorded_at: t(300),
            },
        ];
        let active = |slice: Option<AsOf>| {
            let s = fold(base(), &log, slice.as_ref());
            s.active_constraints().iter().map(|c| c.id.clone()).collect::<Vec<_>>()
        };
        let at = |v: i64, k: Option<i64>| Some(AsOf { valid_at: t(v), known_at: k.map(t) });
        assert!(active(at(40, None)).is_empty(), "not valid yet at 40");
        assert_eq!(active(at(60, Some(90))), Vec::<String>::new(), "valid at 60 but unknown at 90");
        assert_eq!(active(at(60, Some(100))), vec![id.clone()]);
        assert_eq!(active(at(250, Some(250))), vec![id.clone()], "its end was not known at 250");
        assert!(active(at(250, Some(300))).is_empty(), "known at 300: ended at 200");
        assert_eq!(active(at(150, None)), vec![id.clone()], "still true at 150, as we know now");
        assert!(active(None).is_empty(), "today it is retired");
        assert_eq!(fold(base(), &log, None).retired[&id], "spec changed");
        // Stored form: the delta's fields plus its valid time; older deltas without one parse.
        let o = Observation::new(hc.clone(), t(50))
            .anchored(Some(l9_world::Anchor { path: "add.sh".into(), commit: Some("abc".into()) }));
        let text = serde_json::to_string(&o).unwrap();
        assert!(text.contains("\"type\":\"hidden_constraint\"") && text.contains("valid_at"));
        assert_eq!(serde_json::from_str::<Observation>(&text).unwrap(), o);
        let old: Observation =
            serde_json::to_value(&hc).map(serde_json::from_value).unwrap().unwrap();
        assert_eq!((old.delta, old.valid_at, old.anchor), (hc, None, None));
    }
}
