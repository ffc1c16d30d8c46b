//! Gherkin as other projects write it: step arguments (doc strings, data tables), escaped
//! table cells, `Scenario Template` and `Scenarios`.

use l9_ir::{NodeKind, Strength};

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

/// A Rule, and a Feature's description, that state a firm normative keyword carry its
/// strength (a rule that must hold is a MUST its examples verify); without one, none.
#[test]
fn rules_that_say_must_are_musts() {
    let src = "Feature: Checkout\n  Customers must be able to pay by card.\n\n\
        \x20 Rule: Orders must be paid within 7 days\n    Example: late\n      Given an order of 8 days ago\n      Then it is cancelled\n\n\
        \x20 Rule: A sale cannot happen without stock\n    Example: none left\n      Given no stock\n      Then the sale fails\n\n\
        \x20 Rule: Refunds may be partial\n    Example: half\n      Given a refund of half\n      Then half is paid back\n";
    let ir = l9_ir::compile("checkout.feature", src, None).ir;
    let strength = |text: &str| {
        let n = ir.nodes.iter().find(|n| n.kind == NodeKind::Requirement && n.text == text);
        n.unwrap_or_else(|| panic!("{text}: {:?}", ir.nodes)).strength
    };
    assert_eq!(strength("Customers must be able to pay by card."), Some(Strength::Must));
    assert_eq!(strength("Orders must be paid within 7 days"), Some(Strength::Must));
    assert_eq!(strength("A sale cannot happen without stock"), None);
    assert_eq!(strength("Refunds may be partial"), None);
    // The description's MUST has no example of its own: said in Gherkin's terms.
    let f = l9_ir::validate::validate(&ir);
    let unverified: Vec<_> = f.iter().filter(|f| f.code == "L9-VAL-004").collect();
    assert_eq!(unverified.len(), 1, "{unverified:?}");
    assert!(unverified[0].fix.contains("`Example:`"), "{}", unverified[0].fix);
}

/// A Feature without a description is what its name says: the requirement its scenarios verify
/// (e-petitions' "Moderator updates petition scheduled debate date" had none, so its plan was
/// empty and `l9 run` had nothing to build). A described Feature keeps its description.
#[test]
fn a_feature_without_a_description_is_its_name() {
    let src = "@admin\nFeature: Moderator updates a debate date\n\n  Scenario: updating\n    Given an open petition\n    When I set the debate date\n    Then I see it\n\n  Scenario: clearing\n    Given a debate date\n    When I clear it\n    Then it is gone\n";
    let ir = l9_ir::compile("d.feature", src, None).ir;
    let reqs: Vec<_> = ir.nodes.iter().filter(|n| n.kind == NodeKind::Requirement).collect();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!((reqs[0].text.as_str(), reqs[0].span.line), ("Moderator updates a debate date", 2));
    assert_eq!(reqs[0].tags, ["@admin"]);
    let verifying = ir
        .edges
        .iter()
        .filter(|e| e.kind == l9_ir::EdgeKind::Verifies && e.to == reqs[0].id)
        .count();
    assert_eq!(verifying, 2);
    let plans = l9_ir::plan::candidates(&ir);
    assert!(!plans.is_empty() && plans.iter().all(|p| !p.tasks.is_empty()));
    let described = "Feature: F\n  As a user I want x\n\n  Scenario: s\n    Given a\n    Then b\n";
    let ir = l9_ir::compile("f.feature", described, None).ir;
    let texts: Vec<_> =
        ir.nodes.iter().filter(|n| n.kind == NodeKind::Requirement).map(|n| &n.text).collect();
    assert_eq!(texts, ["As a user I want x"]);
}
