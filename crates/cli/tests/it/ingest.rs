//! `l9 ingest git` and `l9 dora` end to end: a history made with `git fast-import`, ingests
//! killed at seeded points and resumed on both backends, DORA's table and its errors.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::*;

/// A repository of `n` commits, each changing two of 40 files, one in ten a fix, a version
/// tag every 100 commits — made in one `git fast-import` (milliseconds, not minutes).
fn synthetic_history(dir: &Path, n: usize) {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut s = String::new();
    for i in 0..n {
        let t = 1_600_000_000 + i * 3600;
        let msg = if i % 10 == 9 { format!("Fix bug {i}") } else { format!("change {i}") };
        s += &format!("commit refs/heads/main\nmark :{}\n", i + 1);
        s += &format!("author A <a@x> {t} +0000\ncommitter A <a@x> {t} +0000\n");
        s += &format!("data {}\n{msg}\n", msg.len());
        if i > 0 {
            s += &format!("from :{i}\n");
        }
        for f in [i % 40, (i * 7 + 3) % 40] {
            let body = format!("file {f} version {i}\nline two\n");
            s += &format!("M 100644 inline src/f{f}.rs\ndata {}\n{body}\n", body.len());
        }
        if i % 100 == 99 {
            s += &format!(
                "tag v0.{}.0\nfrom :{}\ntagger A <a@x> {} +0000\ndata 0\n",
                i / 100,
                i + 1,
                t + 60
            );
        }
    }
    let mut c = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
    git(dir, &["checkout", "-q", "main"]);
}

fn commits_in_memory(d: &Path, db: &[&str]) -> usize {
    let mut a = db.to_vec();
    a.extend(["memory", "export"]);
    let out = ok(d, &a);
    out.lines().filter(|l| l.contains("\"kind\":\"git.commit\"")).count()
}

/// Kills `l9 ingest git` at fractions of an uninterrupted ingest's time, each in a fresh
/// project, then ingests to the end there: every commit stored once, the state complete.
/// Returns how many kills left commits stored without the state that records them.
fn kill_and_resume(repo: &Path, pg: Option<&str>, n: usize) -> usize {
    kill_and_resume_at(repo, pg, n, &[0.2, 0.45, 0.7, 0.9])
}

/// [`kill_and_resume`] at the given fractions of an uninterrupted ingest's time.
fn kill_and_resume_at(repo: &Path, pg: Option<&str>, n: usize, fractions: &[f64]) -> usize {
    let repo = repo.to_str().unwrap();
    let ingest = ["ingest", "git", repo, "--no-szz"];
    let whole = {
        let cal = Project::new(pg, "ingest_0");
        let t0 = std::time::Instant::now();
        ok(cal.path(), &cal.args(&ingest));
        t0.elapsed()
    };
    let mut partial = 0;
    for (k, &f) in fractions.iter().enumerate() {
        let p = Project::new(pg, &format!("ingest_{}", k + 1));
        let d = p.path();
        let db: Vec<&str> = p.args(&[]);
        let mut a = p.args(&ingest);
        let mut child = spawn(d, &a);
        std::thread::sleep(whole.mul_f64(f));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let stored = commits_in_memory(d, &db);
        assert!(stored <= n, "killed at {f}: {stored} commits stored of {n}");
        a.push("--json");
        let r: Value = serde_json::from_str(&ok(d, &a)).unwrap();
        // Killed after writing commits and before its state: the resumed ingest read the
        // history again and found them stored.
        partial += usize::from(r["already_stored"].as_u64().unwrap_or(0) > 0);
        assert_eq!(r["total_commits"], n as u64, "killed at {f}: {r}");
        assert_eq!(commits_in_memory(d, &db), n, "killed at {f}: nothing lost, nothing doubled");
        let again: Value = serde_json::from_str(&ok(d, &a)).unwrap();
        assert_eq!((again["read"].as_u64(), again["stored"].as_u64()), (Some(0), Some(0)));
    }
    eprintln!(
        "{partial} of {} kills left commits without their state ({whole:?} uninterrupted)",
        fractions.len()
    );
    partial
}

/// The long sweep (`scripts/kill-sweep --target ingest`): `L9_SWEEP_KILLS` kills of `l9
/// ingest git` over a history of `L9_SWEEP_COMMITS` commits at seeded fractions of its
/// uninterrupted time (`L9_SWEEP_SEED`), on `L9_SWEEP_BACKEND`; the invariants of
/// [`kill_and_resume`] after each.
#[test]
#[ignore = "long: scripts/kill-sweep --target ingest"]
fn kill_sweep_of_l9_ingest() {
    use super::sweep::{backends, env_or};
    let (kills, seed) = (env_or("L9_SWEEP_KILLS", 20usize), env_or("L9_SWEEP_SEED", 1u64));
    let n = env_or("L9_SWEEP_COMMITS", 1000usize);
    let repo = l9_test_support::temp_dir();
    synthetic_history(repo.path(), n);
    for pg in backends() {
        let name = if pg.is_some() { "postgres" } else { "sqlite" };
        let rng = l9_types::SeededRng::from_seed(seed);
        let fractions: Vec<f64> = (0..kills).map(|_| rng.below(1000) as f64 / 1000.0).collect();
        let partial = kill_and_resume_at(repo.path(), pg.as_deref(), n, &fractions);
        eprintln!(
            "ingest kill sweep: {name}, seed {seed}: {kills} kills of a {n}-commit ingest ({partial} left commits without their state), every invariant held"
        );
    }
}

#[test]
fn a_killed_ingest_resumes_with_nothing_lost_or_doubled_on_sqlite_and_postgres() {
    let repo = l9_test_support::temp_dir();
    synthetic_history(repo.path(), 3000);
    // Kills at 20–90 % of an uninterrupted ingest's time on this machine: at least one lands
    // between the first stored batch and the state (two or three of four did here).
    assert!(kill_and_resume(repo.path(), None, 3000) >= 1, "no kill landed mid-ingest");
    let p = Project::new(None, "ingest_0");
    let r = json(p.path(), &["ingest", "git", repo.path().to_str().unwrap()]);
    assert_eq!(r["hotspots"].as_array().unwrap().len(), 10);
    assert!(r["fragile"].as_array().unwrap().iter().all(|h| h["fixes"].as_u64().unwrap() >= 3));

    let Some(url) = l9_test_support::pg_url() else { return };
    assert!(kill_and_resume(repo.path(), Some(&url), 3000) >= 1, "no kill landed mid-ingest");
}

#[test]
fn dora_prints_a_table_per_period_and_names_bad_input() {
    let repo = l9_test_support::temp_dir();
    synthetic_history(repo.path(), 400);
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let r = repo.path().to_str().unwrap();
    let text = ok(d, &["dora", r, "--by", "week"]);
    assert!(text.contains("DORA from history: 4 deployments"), "{text}");
    assert!(text.contains("lead time") && text.contains("all "), "{text}");
    assert!(text.contains("L9's own runs"), "{text}");
    let v = json(d, &["dora", r, "--no-szz"]);
    assert_eq!(v["repository"]["total"]["deployments"], 4);
    // v0.0.0 ships the first 100 commits, one an hour, a minute after the last: its median
    // change is 49.5 h (and a minute) old.
    let first = &v["repository"]["deployments"][0];
    assert_eq!(first["changes"], 100);
    let lead = first["lead_time_h"].as_f64().unwrap();
    assert!((lead - 49.5).abs() < 0.1, "{lead}");
    let e = fails(d, &["dora", r, "--tags", "("], 3);
    assert!(e.contains("not a regular expression"), "{e}");
    let e = fails(d, &["dora", d.join("nowhere").to_str().unwrap()], 3);
    assert!(e.contains("no such directory"), "{e}");
    let e = fails(d, &["ingest", "git", d.to_str().unwrap()], 3);
    assert!(e.contains("not a git repository"), "{e}");
    assert!(!d.join(".l9").exists(), "a refused ingest creates no project");
}

#[test]
fn szz_counts_the_files_it_leaves_out_for_size() {
    let repo = l9_test_support::temp_dir();
    synthetic_history(repo.path(), 60);
    let r = repo.path().to_str().unwrap();
    let small = [("L9_MAX_BLAMED_FILE_BYTES", "10")];
    let run = |env: &[(&str, &str)], args: &[&str]| -> String {
        let dir = l9_test_support::temp_dir();
        let o = l9_env(dir.path(), env, args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let whole: Value = serde_json::from_str(&run(&[], &["ingest", "git", r, "--json"])).unwrap();
    assert!(whole["szz_links"].as_u64().unwrap() > 0, "{whole}");
    assert_eq!(whole["unblamed_files"], 0);
    // Every file is ~30 bytes: over 10, none is blamed, and each fix's file is counted.
    let cut: Value = serde_json::from_str(&run(&small, &["ingest", "git", r, "--json"])).unwrap();
    assert_eq!(cut["szz_links"], 0, "{cut}");
    assert!(cut["unblamed_files"].as_u64().unwrap() >= whole["szz_links"].as_u64().unwrap());
    let text = run(&small, &["ingest", "git", r]);
    assert!(
        text.contains("SZZ left out") && text.contains("set L9_MAX_BLAMED_FILE_BYTES"),
        "{text}"
    );
    let dora = run(&small, &["dora", r]);
    assert!(dora.contains("SZZ left out") && dora.contains("over 10 bytes"), "{dora}");
    assert!(!run(&[], &["dora", r]).contains("SZZ left out"));
}

#[test]
fn ingest_code_indexes_once_and_map_ranks_and_searches() {
    let repo = l9_test_support::temp_dir();
    let r = repo.path();
    std::fs::create_dir_all(r.join("src")).unwrap();
    std::fs::write(r.join("src/db.rs"), "pub struct Database;\n\nimpl Database {\n    pub fn open_database(path: &str) -> Database {\n        Database\n    }\n}\n").unwrap();
    std::fs::write(
        r.join("src/main.rs"),
        "fn main() {\n    let d = db::Database::open_database(\"x\");\n}\n",
    )
    .unwrap();
    std::fs::write(r.join("src/extra.rs"), "pub fn rarely_used() {}\n").unwrap();
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let rs = r.to_str().unwrap();
    ok(d, &["init"]);
    let text = ok(d, &["ingest", "code", rs]);
    assert!(text.contains("3 files, 11 lines, 4 definitions"), "{text}");
    let again = json(d, &["ingest", "code", rs]);
    assert_eq!((again["parsed"].as_u64(), again["reused"].as_u64()), (Some(0), Some(3)), "{again}");
    let map = ok(d, &["map", rs]);
    assert!(map.starts_with("src/db.rs:\n"), "{map}");
    assert!(map.contains("    4│ pub fn open_database(path: &str) -> Database"), "{map}");
    let focused = ok(d, &["map", rs, "--tokens", "12", "--focus", "call rarely_used from main"]);
    assert!(focused.contains("rarely_used") && !focused.contains("open_database"), "{focused}");
    let hits = json(d, &["map", rs, "--search", "open database"]);
    assert_eq!(hits[0]["name"], "open_database", "{hits}");
    assert_eq!(hits[0]["path"], "src/db.rs", "{hits}");
    // The symbols are in memory, searchable by kind.
    let found = ok(d, &["memory", "search", "--kind", "code.symbol", "open database"]);
    assert!(found.contains("open_database"), "{found}");
    let e = fails(d, &["map", d.join("nowhere").to_str().unwrap()], 3);
    assert!(e.contains("no such directory"), "{e}");
    let e = fails(d, &["map", rs, "--tokens", "0"], 2);
    assert!(e.contains("--tokens"), "{e}");
}

/// Three merges whose answers are known by construction: both sides name and edit the same
/// line of `ledger.py` (predicted, overlapping, conflicting); the sides name and edit
/// different files (neither); the sides edit different ends of `report.py` under vague
/// messages (overlapping, not predicted, no conflict).
#[test]
fn eval_conflicts_scores_predictions_against_real_merges() {
    let repo = l9_test_support::temp_dir();
    let r = repo.path();
    let w = |f: &str, text: &str| std::fs::write(r.join(f), text).unwrap();
    let commit = |msg: &str| {
        git(r, &["add", "-A"]);
        git(r, &["commit", "-qm", msg]);
    };
    git(r, &["init", "-q", "-b", "main"]);
    w("ledger.py", "def balance():\n    return 0\n");
    w("billing.py", "def invoice():\n    return 1\n");
    w("shipping.py", "def parcel():\n    return 2\n");
    let report: String = (0..40).map(|i| format!("line {i}\n")).collect();
    w("report.py", &report);
    commit("start");
    let merge = |branch: &str,
                 main_edit: &dyn Fn(),
                 main_msg: &str,
                 side_edit: &dyn Fn(),
                 side_msg: &str| {
        git(r, &["checkout", "-q", "-b", branch]);
        side_edit();
        commit(side_msg);
        git(r, &["checkout", "-q", "main"]);
        main_edit();
        commit(main_msg);
        // Conflicts are recorded as they are resolved: ours.
        let _ = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "merge",
                "-q",
                "--no-ff",
                "-m",
                branch,
                branch,
            ])
            .current_dir(r)
            .output()
            .unwrap();
        if git(r, &["status", "--porcelain"]).contains("UU") {
            git(r, &["checkout", "--ours", "."]);
            commit(&format!("merge {branch}"));
        }
    };
    merge(
        "both-ledger",
        &|| w("ledger.py", "def balance():\n    return 10\n"),
        "Make ledger.py start the balance at 10",
        &|| w("ledger.py", "def balance():\n    return 20\n"),
        "Make ledger.py start the balance at 20",
    );
    merge(
        "apart",
        &|| w("billing.py", "def invoice():\n    return 3\n"),
        "Change billing.py invoices",
        &|| w("shipping.py", "def parcel():\n    return 4\n"),
        "Change shipping.py parcels",
    );
    merge(
        "vague",
        &|| w("report.py", &report.replacen("line 0\n", "first\n", 1)),
        "tidy up",
        &|| w("report.py", &report.replacen("line 39\n", "last\n", 1)),
        "small tweak",
    );
    let dir = l9_test_support::temp_dir();
    let v = json(dir.path(), &["eval", "conflicts", "--repo", r.to_str().unwrap()]);
    assert_eq!((v["merges"].as_u64(), v["evaluated"].as_u64()), (Some(3), Some(3)), "{v}");
    let s = |k: &str| {
        let x = &v[k];
        (
            x["tp"].as_u64().unwrap(),
            x["fp"].as_u64().unwrap(),
            x["fn_"].as_u64().unwrap(),
            x["tn"].as_u64().unwrap(),
        )
    };
    assert_eq!(s("overlap"), (1, 0, 1, 1), "{v}");
    assert_eq!(s("conflict"), (1, 0, 0, 2), "{v}");
    assert_eq!(s("overlap_as_conflict"), (1, 1, 0, 1), "{v}");
    let text = ok(dir.path(), &["eval", "conflicts", "--repo", r.to_str().unwrap()]);
    assert!(text.contains("3 merges, 3 with commits on both sides"), "{text}");
    let e = fails(dir.path(), &["eval", "conflicts", "--repo", dir.path().to_str().unwrap()], 3);
    assert!(e.contains("not a git repository"), "{e}");
}
