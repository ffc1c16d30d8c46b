//! The learned smell tagger: context decides, training is deterministic, the file round-trips,
//! documents shared between data sets are held out together, and the shipped tagger reads.

use l9_ir::eval;
use l9_ir::learn::Params;
use l9_ir::learn::tagger::{self, SmellTagger};
use l9_ir::smells::{Smell, SmellRow};

/// Two projects whose annotators mark "not" as a negative statement only where it negates
/// the obligation ("shall not"), never in a condition ("if not").
fn rows() -> Vec<SmellRow> {
    let mut csv = String::from("text,file,negative_statements\n");
    for p in ["alpha", "beta"] {
        for i in 0..50 {
            let (text, marked) = if i % 2 == 0 {
                (format!("The operator shall not delete log {i} of {p}."), "not")
            } else {
                (format!("The operator shall archive log {i} of {p} if not busy."), "-")
            };
            csv.push_str(&format!("\"{text}\",{p},{marked}\n"));
        }
    }
    eval::read_smells("t.csv", &csv).unwrap()
}

fn negative(t: &SmellTagger, text: &str) -> bool {
    t.detect_only(text, &[Smell::Negative]).iter().any(|h| h.smell == Smell::Negative)
}

#[test]
fn the_tagger_learns_which_words_the_experts_mark_in_context() {
    let rows = rows();
    let t = SmellTagger::train(&rows, Params::DEFAULT, "test");
    assert_eq!(t.info.heads.len(), 1, "{:?}", t.info.heads);
    assert!(t.covers(Smell::Negative, None) && !t.covers(Smell::Subjective, None));
    assert!(negative(&t, "The clerk shall not print report 7."));
    assert!(!negative(&t, "The clerk shall print report 7 if not busy."));
    // The word lists flag both: the context is what the tagger adds.
    let listed = |s: &str| l9_ir::smells::detect_only(s, &[Smell::Negative]).len();
    assert_eq!(listed("The clerk shall print report 7 if not busy."), 1);
    // Smells without a head stay with the word lists.
    let hits = t.detect_only("The UI shall be user friendly.", &[Smell::Subjective]);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].words, "user friendly");
}

#[test]
fn tagger_training_is_deterministic_and_the_file_round_trips() {
    let rows = rows();
    let a = SmellTagger::train(&rows, Params::DEFAULT, "test");
    let b = SmellTagger::train(&rows, Params::DEFAULT, "test");
    assert_eq!(a.to_bytes(), b.to_bytes());
    let c = SmellTagger::from_bytes(&a.to_bytes()).unwrap();
    assert_eq!(c.info, a.info);
    assert!(c.has_seen(&rows[0].text) && !c.has_seen("Something else entirely."));
    let text = "The clerk shall not print report 7 if not busy.";
    assert_eq!(c.detect_only(text, &Smell::ALL), a.detect_only(text, &Smell::ALL));
    let bytes = a.to_bytes();
    let err = SmellTagger::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(err.contains("ends early"), "{err}");
    let err = SmellTagger::from_bytes(b"L9CLS1\nxx").unwrap_err();
    assert!(err.contains("L9SML1"), "{err}");
}

#[test]
fn too_little_evidence_leaves_a_smell_to_its_word_list() {
    let few: Vec<SmellRow> = rows().into_iter().take(30).collect();
    let t = SmellTagger::train(&few, Params::DEFAULT, "test");
    assert!(
        t.info.heads.is_empty(),
        "15 marked rows are under the minimum of {}",
        tagger::MIN_SMELLY
    );
    assert!(negative(&t, "The clerk shall print report 7 if not busy."));
}

#[test]
fn documents_shared_between_data_sets_are_one_held_out_group() {
    let csv1 = "text,file,negative_statements\nA shall not b.,doc-one,not\nC shall d.,doc-two,-\n";
    let csv2 = "Requirement,File name,negative_sentence\n\"A  shall NOT b.\",copy-of-one,not\nE shall f.,other,-\n";
    let mut all = eval::read_smells("a.csv", csv1).unwrap();
    all.extend(eval::read_smells("b.csv", csv2).unwrap());
    let g = eval::project_groups(&all);
    assert_eq!(g[0], g[2], "the same text (case and spacing folded) joins the projects");
    assert_ne!(g[0], g[1]);
    assert_ne!(g[1], g[3]);
    assert_ne!(all[0].scheme, all[2].scheme, "the two files label under different headers");
}

#[test]
fn leave_one_project_out_never_trains_on_the_held_out_project() {
    let rows = rows();
    let target: Vec<usize> = (0..rows.len()).collect();
    let r = eval::smell_lopo(&rows, &target, Params::DEFAULT);
    assert_eq!(r.folds.len(), 2);
    for f in &r.folds {
        assert_eq!((f.rows, f.trained_on), (50, 50), "{:?}", f.projects);
    }
    let c = r.learned[&Smell::Negative];
    assert_eq!((c.tp, c.fp, c.fn_), (50, 0, 0), "context carries over to the unseen project");
    let lists = r.lexicon[&Smell::Negative];
    assert_eq!((lists.tp, lists.fp), (50, 50));
}

/// A fold whose training rows mark too few requirements with a smell for a head says so: its
/// figure for that smell is the word list's, not the tagger's.
#[test]
fn a_fold_says_which_smells_its_word_lists_judged() {
    // "alpha" marks 50 rows, "beta" only 10: holding alpha out leaves too few for a head.
    let mut rows: Vec<SmellRow> = rows().into_iter().take(50).collect();
    let mut csv = String::from("text,file,negative_statements\n");
    for i in 0..20 {
        let marked = if i < 10 { "not" } else { "-" };
        csv.push_str(&format!("\"The clerk shall not file form {i}.\",beta,{marked}\n"));
    }
    rows.extend(eval::read_smells("t.csv", &csv).unwrap());
    let target: Vec<usize> = (0..rows.len()).collect();
    let r = eval::smell_lopo(&rows, &target, Params::DEFAULT);
    let by = |p: &str| r.folds.iter().find(|f| f.projects == [p]).unwrap().by_lists.clone();
    assert_eq!(by("alpha"), [Smell::Negative], "trained on beta's 10 marked rows: no head");
    assert!(by("beta").is_empty(), "trained on alpha's 25 marked rows: a head");
}

/// `l9 eval smells` also scores the tagger's hits as the challenger reports them: an
/// upper-case NOT is part of an RFC keyword (MUST NOT), a precise prohibition, so the
/// challenger drops what annotators who mark every "not" would count.
#[test]
fn leave_one_project_out_also_scores_what_the_challenger_reports() {
    let mut csv = String::from("text,file,negative_statements\n");
    for p in ["alpha", "beta"] {
        for i in 0..50 {
            if i % 2 == 0 {
                csv.push_str(&format!("The operator MUST NOT delete log {i} of {p}.,{p},NOT\n"));
            } else {
                csv.push_str(&format!("The operator MUST archive log {i} of {p}.,{p},-\n"));
            }
        }
    }
    let rows = eval::read_smells("caps.csv", &csv).unwrap();
    let target: Vec<usize> = (0..rows.len()).collect();
    let r = eval::smell_lopo(&rows, &target, Params::DEFAULT);
    let (learned, challenged) = (r.learned[&Smell::Negative], r.challenged[&Smell::Negative]);
    assert_eq!(learned.tp, 50, "the tagger finds every marked NOT");
    assert_eq!((challenged.tp, challenged.fn_), (0, 50), "the challenger reports none of them");
}

#[test]
fn the_shipped_tagger_reads_and_judges_by_the_fullest_catalogue() {
    let t = tagger::shipped().expect("models/smells.l9sml is a valid tagger");
    let default = t.default_scheme().unwrap();
    assert!(default.contains("Polysemy"), "the ARTA DS1 scheme labels all ten smells: {default}");
    assert!(t.describe().starts_with("learned smell tagger"));
}
