use l9_ir::eval::{self, Counts};
use l9_ir::smells::Smell;

#[test]
fn counts_compute_precision_recall_f1() {
    let mut c = Counts::default();
    for (p, a) in [(true, true), (true, true), (true, false), (false, true), (false, false)] {
        c.add(p, a);
    }
    assert_eq!((c.tp, c.fp, c.fn_), (2, 1, 1));
    assert!((c.precision() - 2.0 / 3.0).abs() < 1e-9);
    assert!((c.f1() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(Counts::default().f1(), 0.0);
}

const CSV: &str = "ProjectID,RequirementText,class,IsNFR\n\
1,The system shall display the list of orders.,F,0\n\
1,The product shall respond within 2 seconds.,PE,1\n\
2,\"Only authorized users shall access payroll data, always.\",SE,1\n\
2,The system shall allow a clerk to add a customer.,F,0\n\
3,The website shall be easy to use for first time visitors.,US,1\n\
3,The system shall print an invoice for each order.,F,0\n";

#[test]
fn classification_reads_promise_csv_and_scores_both_models() {
    let rows = eval::read_classification("t.csv", CSV).unwrap();
    assert_eq!(rows.len(), 6);
    assert!(rows[2].text.contains("payroll data, always"));
    let scores = eval::classification(&rows);
    assert_eq!(scores.len(), 3);
    assert!(scores[1].model.starts_with("shipped learned model"), "{}", scores[1].model);
    assert!(scores[2].model.contains("leave-one-project-out (3 projects"));
    for s in &scores {
        assert_eq!(s.functional.support() + s.quality.support(), 6);
    }
    // The hand lexicon gets these textbook cases right.
    assert_eq!(scores[0].binary_macro_f1(), 1.0);
}

#[test]
fn bad_csv_names_file_line_and_fix() {
    let e = eval::read_classification("t.csv", "a,b\n1,2\n").unwrap_err();
    assert_eq!(
        e.to_string().lines().next().unwrap(),
        "t.csv:1:1: error[L9-EVAL-001]: missing columns: need RequirementText and class (and ProjectID, IsNFR)"
    );
    let e =
        eval::read_classification("t.csv", "ProjectID,RequirementText,class,IsNFR\n1,x,F,maybe\n")
            .unwrap_err();
    assert_eq!(e.span.unwrap().line, 2);
}

#[test]
fn smell_columns_of_every_arta_set_map_to_smells() {
    for (h, s) in [
        ("Subjective_lang.", Smell::Subjective),
        ("ambiguous_adverbs_adjectives", Smell::Ambiguous),
        ("Ambiguouse_adverb_and_adjective", Smell::Ambiguous),
        ("looples", Smell::Loophole),
        ("open_ended", Smell::NonVerifiable),
        ("Open ended NonVarifiable", Smell::NonVerifiable),
        ("Compratives", Smell::Comparative),
        ("vague_pronuns", Smell::VaguePronoun),
        ("negative_sentence", Smell::Negative),
        ("Uncertain_verb", Smell::UncertainVerb),
        ("Polysemy", Smell::Polysemy),
    ] {
        assert_eq!(eval::smell_column(h), Some(s), "{h}");
    }
    assert_eq!(eval::smell_column("File"), None);
}

#[test]
fn smells_are_scored_per_requirement() {
    let csv = "text,file,negative_statements,superlatives\n\
\"The system shall not crash.\",a,not,-\n\
The best UI.,a,-,best\n\
The UI shall load.,a,-,-\n";
    let rows = eval::read_smells("s.csv", csv).unwrap();
    let scores = eval::smells(&rows);
    assert_eq!(scores[&Smell::Negative], Counts { tp: 1, fp: 0, fn_: 0 });
    assert_eq!(scores[&Smell::Superlative], Counts { tp: 1, fp: 0, fn_: 0 });
    assert!(!scores.contains_key(&Smell::Polysemy), "only columns present in the file are scored");
}
