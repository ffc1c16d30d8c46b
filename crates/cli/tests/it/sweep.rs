//! Kill sweeps of the whole binary: `l9 run` (resumed with `l9 resume`) and `l9 memory
//! import`, SIGKILLed at seeded moments on SQLite and PostgreSQL. The suite runs short ones;
//! `scripts/kill-sweep --target run|import` runs the long ones (the `#[ignore]`d tests here,
//! sized by `L9_SWEEP_KILLS`, `L9_SWEEP_SEED`, `L9_SWEEP_BACKEND`).
//!
//! Invariants: nothing is lost (the run succeeds with the code an uninterrupted run makes; an
//! import leaves all of its file or none, and importing again completes it without doubles),
//! and no irreversible effect happens twice (each task's merge commit lands once).

use std::collections::BTreeMap;
use std::time::Duration;

use l9_types::SeededRng;

use super::*;

/// The adder example with a slower gate (so kills land inside the run) in `d/ex`.
fn slow_adder(d: &Path) {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adder");
    std::fs::create_dir_all(d.join("ex")).unwrap();
    let spec = std::fs::read_to_string(ex.join("spec.md")).unwrap();
    let slow =
        spec.replace("test \"$(sh add.sh 2 2)\" = 4", "sleep 0.5; test \"$(sh add.sh 2 2)\" = 4");
    assert_ne!(spec, slow);
    std::fs::write(d.join("ex/spec.md"), slow).unwrap();
    std::fs::copy(ex.join("provider.yaml"), d.join("ex/provider.yaml")).unwrap();
}

/// What a sweep cycle saw.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Kills {
    pub kills: usize,
    /// Kills that landed while `l9` was still running.
    pub mid_run: usize,
}

/// `l9 run` of the slowed adder in project `d`, killed at seeded moments and resumed after
/// each kill, until it got through or `max` kills; then one `l9 resume` finishes it. Checks
/// the invariants and returns the run's chosen plan.
pub(super) fn run_kill_cycle(d: &Path, rng: &SeededRng, max: usize, seen: &mut Kills) -> String {
    slow_adder(d);
    let mut id = None::<String>;
    for _ in 0..max {
        let args: Vec<&str> = match &id {
            None => vec!["run", "ex/spec.md"],
            Some(r) => vec!["resume", r.as_str()],
        };
        let mut child = spawn(d, &args);
        std::thread::sleep(Duration::from_millis(80 + rng.below(700)));
        if child.try_wait().unwrap().is_none() {
            seen.mid_run += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        seen.kills += 1;
        if id.is_none() {
            id = json(d, &["status"])
                .as_array()
                .unwrap()
                .first()
                .map(|r| r["run"].as_str().unwrap().to_string());
        }
        if id.as_ref().is_some_and(|r| json(d, &["status", r])[0]["state"] == "succeeded") {
            break; // it got through between two kills
        }
    }
    let id = id.expect("a run was started");
    // The killed processes' leases are given back at once, so one `l9 resume` finishes it.
    let out = ok(d, &["resume", &id]);
    assert!(out.contains("outcome:     succeeded"), "{out}");
    let repo = d.join("l9-out/ex");
    assert_eq!(std::fs::read_to_string(repo.join("add.sh")).unwrap(), "echo $(($1 + $2))\n");
    assert_eq!(json(d, &["status"]).as_array().unwrap().len(), 1, "one run, resumed");
    // Each task's work lands on main once: no merge made twice.
    let log = git(&repo, &["log", "--format=%B"]);
    let mut landed: BTreeMap<&str, usize> = BTreeMap::new();
    for t in log.lines().filter_map(|l| l.strip_prefix("L9-Task: ")) {
        *landed.entry(t.trim()).or_default() += 1;
    }
    assert!(!landed.is_empty(), "{log}");
    assert!(landed.values().all(|n| *n == 1), "a task's commit landed twice: {landed:?}");
    json(d, &["show", &id])["result"]["chosen"].as_str().unwrap_or("").to_string()
}

/// A JSON Lines file of `n` notes.
fn notes_file(d: &Path, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"kind\": \"note\", \"text\": \"note {i}: the {} service keeps {} records\"}}\n",
            ["billing", "search", "auth"][i % 3],
            i * 7
        ));
    }
    std::fs::write(d.join("notes.jsonl"), s).unwrap();
    "notes.jsonl".into()
}

fn notes_in(d: &Path) -> usize {
    ok(d, &["memory", "export"]).lines().filter(|l| l.contains("\"kind\":\"note\"")).count()
}

/// `l9 memory import` of `n` notes killed at a seeded fraction of `whole` (an uninterrupted
/// import's time) in project `d`: the file is stored whole or not at all, and importing it
/// again (twice) leaves exactly `n`.
pub(super) fn import_kill_cycle(
    d: &Path,
    n: usize,
    whole: Duration,
    rng: &SeededRng,
    seen: &mut Kills,
) {
    let file = notes_file(d, n);
    let mut child = spawn(d, &["memory", "import", &file]);
    std::thread::sleep(whole.mul_f64(rng.below(1000) as f64 / 1000.0));
    if child.try_wait().unwrap().is_none() {
        seen.mid_run += 1;
    }
    let _ = child.kill();
    let _ = child.wait();
    seen.kills += 1;
    let after = notes_in(d);
    assert!(after == 0 || after == n, "a killed import left {after} of {n} notes");
    for _ in 0..2 {
        ok(d, &["memory", "import", &file]);
        assert_eq!(notes_in(d), n, "nothing lost, nothing doubled");
    }
    // Each note's vector is its own, whatever a killed load left in SQLite's vector file.
    let text = |i: usize| {
        format!(
            "note {i}: the {} service keeps {} records",
            ["billing", "search", "auth"][i % 3],
            i * 7
        )
    };
    for i in [0, n / 2, n - 1] {
        let hits = json(d, &["memory", "search", "--mode", "vector", "-k", "1", &text(i)]);
        assert_eq!(hits[0]["packet"]["text"], text(i).as_str(), "{hits}");
    }
}

/// The time of one uninterrupted import of `n` notes on a backend.
fn import_time(pg: Option<&str>, n: usize) -> Duration {
    let p = Project::new(pg, "sweep_calibrate");
    let file = notes_file(p.path(), n);
    let t0 = std::time::Instant::now();
    ok(p.path(), &["memory", "import", &file]);
    t0.elapsed()
}

pub(super) fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The backends a sweep covers (`L9_SWEEP_BACKEND`: sqlite, postgres or both; PostgreSQL
/// needs the test cluster).
pub(super) fn backends() -> Vec<Option<String>> {
    let which = std::env::var("L9_SWEEP_BACKEND").unwrap_or_else(|_| "both".into());
    let mut out = Vec::new();
    if which != "postgres" {
        out.push(None);
    }
    if which != "sqlite" {
        match l9_test_support::pg_url() {
            Some(u) => out.push(Some(u)),
            None => assert_eq!(which, "both", "L9_SWEEP_BACKEND=postgres needs the test cluster"),
        }
    }
    out
}

#[test]
fn a_killed_import_leaves_all_or_nothing_and_completes_on_sqlite_and_postgres() {
    let rng = SeededRng::from_seed(7);
    for pg in backends() {
        let whole = import_time(pg.as_deref(), 3000);
        let mut seen = Kills::default();
        for k in 0..3 {
            let p = Project::new(pg.as_deref(), &format!("sweep_import{k}"));
            import_kill_cycle(p.path(), 3000, whole, &rng, &mut seen);
        }
        eprintln!(
            "import: {} kills, {} mid-import ({whole:?} uninterrupted)",
            seen.kills, seen.mid_run
        );
    }
}

#[test]
#[ignore = "long: scripts/kill-sweep --target run"]
fn kill_sweep_of_l9_run() {
    let (total, seed) = (env_or("L9_SWEEP_KILLS", 100usize), env_or("L9_SWEEP_SEED", 1u64));
    for pg in backends() {
        let name = if pg.is_some() { "postgres" } else { "sqlite" };
        // The result an uninterrupted run comes to.
        let p = Project::new(pg.as_deref(), "sweep_run_base");
        slow_adder(p.path());
        let out = ok(p.path(), &["run", "ex/spec.md"]);
        assert!(out.contains("outcome:     succeeded"), "{out}");
        let expected = json(p.path(), &["show", "last"])["result"]["chosen"].clone();
        let (rng, mut seen, mut runs) = (SeededRng::from_seed(seed), Kills::default(), 0);
        while seen.kills < total {
            let p = Project::new(pg.as_deref(), &format!("sweep_run{runs}"));
            let chosen = run_kill_cycle(p.path(), &rng, 20, &mut seen);
            assert_eq!(jsonv!(chosen), expected, "a killed run came to another result");
            runs += 1;
        }
        eprintln!(
            "run kill sweep: {name}, seed {seed}: {} kills ({} while l9 ran) over {runs} runs, every invariant held",
            seen.kills, seen.mid_run
        );
    }
}

#[test]
#[ignore = "long: scripts/kill-sweep --target import"]
fn kill_sweep_of_memory_import() {
    let (total, seed) = (env_or("L9_SWEEP_KILLS", 100usize), env_or("L9_SWEEP_SEED", 1u64));
    let n = env_or("L9_SWEEP_LINES", 20_000usize);
    for pg in backends() {
        let name = if pg.is_some() { "postgres" } else { "sqlite" };
        let whole = import_time(pg.as_deref(), n);
        let (rng, mut seen) = (SeededRng::from_seed(seed), Kills::default());
        while seen.kills < total {
            let p = Project::new(pg.as_deref(), &format!("sweep_import{}", seen.kills));
            import_kill_cycle(p.path(), n, whole, &rng, &mut seen);
        }
        eprintln!(
            "import kill sweep: {name}, seed {seed}: {} kills of a {n}-line import ({} mid-import; {whole:?} uninterrupted), all or nothing every time",
            seen.kills, seen.mid_run
        );
    }
}
