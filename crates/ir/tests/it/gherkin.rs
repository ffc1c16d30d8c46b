//! Gherkin as other projects write it: step arguments (doc strings, data tables), escaped
//! table cells, `Scenario Template` and `Scenarios`.

use l9_ir::NodeKind;

#[test]
fn step_arguments_and_escaped_cells_are_kept() {
    let src = "Feature: Invoices\n\n  Background:\n    Given the customers:\n      | name | city |\n      | ACME | Köln |\n\n\
        \x20 Scenario Template: total for <net>\n    Given an invoice line of <net> EUR\n    Then the total is <gross> EUR\n\n\
        \x20   Scenarios:\n      | net | gross |\n      # a comment between rows\n      | 10  | 12    |\n      | a\\|b | c\\\\d\\n |\n\n\
        \x20 Example: a note\n    Given the note:\n      \"\"\"markdown\n      Pay within **30** days.\n        Indented.\n      \\\"\\\"\\\"\n      \"\"\"\n\
        \x20   Then the PDF contains:\n      | field | value |\n      | due   | 30    |\n    And it is sent\n";
    let c = l9_ir::compile("i.feature", src, None);
    let acs: Vec<&l9_ir::Node> =
        c.ir.nodes.iter().filter(|n| n.kind == NodeKind::AcceptanceCriterion).collect();
    assert_eq!(acs.len(), 2, "{:#?}", c.ir.nodes);
    let outline = acs[0].scenario.as_ref().unwrap();
    assert_eq!(outline.background[0].table, [["name", "city"], ["ACME", "Köln"]]);
    assert_eq!(outline.examples, [["net", "gross"], ["10", "12"], ["a|b", "c\\d"]]);
    assert!(outline.steps.iter().all(|s| s.table.is_empty() && s.doc_string.is_none()));
    let note = acs[1].scenario.as_ref().unwrap();
    let texts: Vec<&str> = note.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["the note:", "the PDF contains:", "it is sent"]);
    assert_eq!(
        note.steps[0].doc_string.as_deref(),
        Some("Pay within **30** days.\n  Indented.\n\"\"\"")
    );
    assert_eq!(note.steps[1].table, [["field", "value"], ["due", "30"]]);
    assert!(note.steps[2].table.is_empty() && note.steps[2].doc_string.is_none());
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
}
