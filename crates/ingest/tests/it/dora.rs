use chrono::Duration;
use l9_ingest::dora::{self, DEFAULT_TAGS, Deploys, DoraOptions, Period};
use l9_ingest::git::{self, ReadOptions};

use crate::{Repo, lines};

fn file(changed: &[(usize, &str)]) -> String {
    let mut l: Vec<String> = lines(6, "lib").lines().map(str::to_owned).collect();
    for (i, t) in changed {
        l[*i - 1] = (*t).to_owned();
    }
    l.join("\n") + "\n"
}

/// A history whose DORA figures are known by construction (hours after the first commit):
/// v1.0 ships c1 (0 h) and c2 (10 h) at 12 h; c3 at 36 h fixes the line c2 wrote; v1.1
/// ships c3 and c4 at 42 h; c5 at 442 h; v1.2.0 at 443 h; c6 at 444 h is a docs "fix";
/// c7 at 445 h fixes a line c1 wrote (shipped in v1.0, not v1.2.0).
fn history() -> Repo {
    let mut r = Repo::new();
    r.write("src/lib.rs", &file(&[]));
    r.commit(0, "start");
    r.write("src/lib.rs", &file(&[(3, "let x = y.unwrap();")]));
    r.commit(10, "feature");
    r.tag(2, "v1.0");
    r.write("src/lib.rs", &file(&[(3, "let x = y?;")]));
    r.commit(24, "Fix panic in feature");
    r.write("README.md", "docs\n");
    r.commit(1, "docs");
    r.tag(5, "v1.1");
    r.write("src/other.rs", "more\n");
    r.commit(400, "feature two");
    r.tag(1, "1.2.0");
    r.tag(0, "nightly-2023");
    r.write("README.md", "docs, fixed\n");
    r.commit(1, "fix typo in docs");
    r.write("src/lib.rs", &file(&[(1, "lib line one, mended"), (3, "let x = y?;")]));
    r.commit(1, "Fix crash in the old path");
    r
}

fn opts(deploys: Deploys) -> DoraOptions {
    DoraOptions { deploys, by: Period::Month, window: Duration::days(14), since: None }
}

#[test]
fn dora_from_a_history_whose_answers_are_known() {
    let r = history();
    let h = git::read(&r.path(), &ReadOptions::default()).unwrap();
    let introduced = l9_ingest::szz::blame_fixes(&r.path(), &h.commits, 1).unwrap().introduced;
    let rep = dora::compute(&h, Some(&introduced), &opts(Deploys::tags(DEFAULT_TAGS).unwrap()));
    let names: Vec<&str> = rep.deployments.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["v1.0", "v1.1", "1.2.0"], "nightly-2023 is not a version tag");
    let [v10, v11, v12] = &rep.deployments[..] else { unreachable!() };
    assert_eq!((v10.changes, v11.changes, v12.changes), (2, 2, 1));
    // Lead times: v1.0 ships changes 12 h and 2 h old.
    assert_eq!(v10.lead_time_h, Some(7.0));
    assert!(v10.failed, "c3 fixes what c2 shipped in v1.0");
    assert_eq!(v10.restore_h, Some(30.0), "restored when v1.1 shipped the fix");
    assert!(!v11.failed);
    assert!(!v12.failed, "the fix after 1.2.0 repairs a v1.0 line; the docs fix is no fix");
    assert_eq!(rep.total.deployments, 3);
    assert!((rep.total.change_failure_rate.unwrap() - 1.0 / 3.0).abs() < 1e-9);
    // Every change's lead time: 12, 2 (v1.0), 6, 5 (v1.1), 1 (1.2.0) → median 5 h.
    assert_eq!(rep.total.lead_time_median_h, Some(5.0));
    assert_eq!(rep.total.time_to_restore_median_h, Some(30.0));
    assert_eq!(rep.rows.iter().map(|r| r.deployments).sum::<usize>(), 3);
    assert_eq!(rep.rows.len(), 2, "November and December 2023");

    // Without SZZ any fix in the window counts: 1.2.0 fails too.
    let blind = dora::compute(&h, None, &opts(Deploys::tags(DEFAULT_TAGS).unwrap()));
    let failed: Vec<bool> = blind.deployments.iter().map(|d| d.failed).collect();
    assert_eq!(failed, [true, false, true]);
    // A narrower window: c3, 24 h after v1.0, is outside 23 h.
    let mut o = opts(Deploys::tags(DEFAULT_TAGS).unwrap());
    o.window = Duration::hours(23);
    let narrow = dora::compute(&h, Some(&introduced), &o);
    assert!(!narrow.deployments[0].failed);
    // Weeks.
    o.by = Period::Week;
    assert_eq!(dora::compute(&h, Some(&introduced), &o).rows[0].period, "2023-W46");
    // A pattern that matches nothing: no deployments, no rates.
    let none = dora::compute(&h, Some(&introduced), &opts(Deploys::tags("^release-").unwrap()));
    assert_eq!((none.total.deployments, none.total.change_failure_rate), (0, None));
    // … and the tags the repository has, newest first, to fit the pattern to.
    assert_eq!(none.other_tags, ["nightly-2023", "1.2.0", "v1.1", "v1.0"]);
    assert!(rep.other_tags.is_empty());
    assert!(Deploys::tags("(").unwrap_err().to_string().contains("not a regular expression"));
}

#[test]
fn merges_on_the_main_line_are_deployments_when_asked() {
    let mut r = Repo::new();
    r.write("a.rs", "1\n");
    r.commit(0, "start");
    r.git(&["checkout", "-q", "-b", "topic"]);
    r.write("b.rs", "1\n");
    r.commit(3, "topic work");
    r.git(&["checkout", "-q", "main"]);
    r.clock += 3600;
    r.git(&["merge", "-q", "--no-ff", "-m", "merge topic", "topic"]);
    let h = git::read(&r.path(), &ReadOptions::default()).unwrap();
    let rep = dora::compute(&h, None, &opts(Deploys::Merges));
    assert_eq!(rep.deployments.len(), 1);
    assert_eq!(rep.deployments[0].changes, 3, "start, topic work and the merge itself");
    assert_eq!(rep.total.lead_time_median_h, Some(1.0));
}
