//! Requirement lists as documents from other projects write them: ids without a hyphen
//! (`FR1`, `REQ_001`, `R1.2`), a table's priority column, quantities opening a line, HTML inside Markdown.

use l9_ir::{EdgeKind, NodeKind, Strength};

use crate::requirements;

#[test]
fn ids_without_a_hyphen_name_requirements_and_are_referenced() {
    let src = "1. Functional requirements\n\n\
        FR1: The system shall allow a member to borrow up to five books.\n\
        FR2 The system shall send a reminder two days before a loan is due.\n\
        FR3. The system shall block borrowing when fines exceed 10 EUR, see FR1.\n\
        [REQ_004] The librarian shall be able to waive fines (see FR3 and FR9).\n\
        Passwords must be stored as SHA256 hashes and sent over HTTP2 only.\n\
        S3 Buckets shall be private.\n";
    let c = l9_ir::compile("srs.txt", src, None);
    let reqs = requirements(&c);
    let got: Vec<(&str, &str)> = reqs.iter().map(|n| (n.id.as_str(), n.text.as_str())).collect();
    assert_eq!(got.len(), 6, "{got:#?}");
    assert_eq!(got[0], ("FR1", "The system shall allow a member to borrow up to five books."));
    assert_eq!(got[1].0, "FR2");
    // "FR3." does not end a sentence of its own.
    assert_eq!(
        got[2],
        ("FR3", "The system shall block borrowing when fines exceed 10 EUR, see FR1.")
    );
    assert_eq!(got[3].0, "REQ_004");
    // A product or standard name is not an id: the statement keeps it.
    assert!(got[4].1.starts_with("Passwords must") && !got[4].0.starts_with("SHA"), "{got:?}");
    assert_eq!(got[5].1, "S3 Buckets shall be private.");
    let depends = |from: &str, to: &str| {
        c.ir.edges.iter().any(|e| e.from == from && e.to == to && e.kind == EdgeKind::DependsOn)
    };
    assert!(depends("FR3", "FR1") && depends("REQ_004", "FR3"), "{:#?}", c.ir.edges);
    assert!(!c.ir.edges.iter().any(|e| e.to.starts_with("SHA") || e.to.starts_with("HTTP")));
    // FR9 has the prefix of the document's ids but names nothing: a dangling reference;
    // SHA256 and HTTP2 do not.
    let dangling: Vec<String> = l9_ir::validate::validate(&c.ir)
        .into_iter()
        .filter(|f| f.code == "L9-VAL-002")
        .flat_map(|f| f.words)
        .collect();
    assert_eq!(dangling, ["FR9"]);
}

#[test]
fn markdown_ids_without_a_hyphen_in_tables_headings_and_items() {
    let src = "# Library\n\n## Requirements\n\n| ID | Requirement |\n|---|---|\n\
        | REQ_001 | The system shall let members renew a loan once. |\n\n\
        ### UC3 Renew a loan\n\n- R1.1 The member must be logged in.\n\
        - R1.2: The renewal must extend the due date by 14 days (see REQ_001).\n";
    let c = l9_ir::compile("t.md", src, None);
    let ids: Vec<(NodeKind, &str)> = c.ir.nodes.iter().map(|n| (n.kind, n.id.as_str())).collect();
    for want in [
        (NodeKind::Requirement, "REQ_001"),
        (NodeKind::Component, "UC3"),
        (NodeKind::Requirement, "R1.1"),
        (NodeKind::Requirement, "R1.2"),
    ] {
        assert!(ids.contains(&want), "{want:?} in {ids:?}");
    }
    let r12 = c.ir.nodes.iter().find(|n| n.id == "R1.2").unwrap();
    assert_eq!(r12.text, "The renewal must extend the due date by 14 days (see REQ_001).");
    assert!(c.ir.edges.iter().any(|e| e.from == "R1.2" && e.to == "REQ_001"));
}

#[test]
fn a_priority_column_ranks_its_rows_and_wont_have_is_a_non_goal() {
    let src = "# Library\n\n## Requirements\n\n| ID | Requirement | Priority |\n|---|---|---|\n\
        | L-1 | The system shall let members renew a loan once. | Must |\n\
        | L-2 | The system shall suggest similar books. | Could |\n\
        | L-3 | The system shall print receipts. | Won't |\n\
        | L-4 | Members can rate books. | Medium |\n\
        | L-5 | The system shall export loans. | tbd |\n\n\
        | Requirement | Status |\n|---|---|\n| The system should keep a history of loans. | Low |\n";
    let c = l9_ir::compile("t.md", src, None);
    let node = |id: &str| c.ir.nodes.iter().find(|n| n.id == id).unwrap();
    assert_eq!(node("L-1").strength, Some(Strength::Must));
    // The column is the document's ranking, over the row's "shall".
    assert_eq!(node("L-2").strength, Some(Strength::May));
    assert_eq!(node("L-3").kind, NodeKind::NonGoal);
    assert_eq!(node("L-4").strength, Some(Strength::Should));
    // A cell that ranks nothing leaves the keyword's strength; so does a column that is not a
    // priority ("Status: Low").
    assert_eq!(node("L-5").strength, Some(Strength::Must));
    let history = requirements(&c).into_iter().find(|n| n.text.contains("history")).unwrap();
    assert_eq!(history.strength, Some(Strength::Should));
}

#[test]
fn a_quantity_opening_a_line_is_text_not_a_section_number() {
    let src = "Archive\n\nStorage\n\n3.5 GB of disk space shall be reserved for each user.\n\
        2.5 Mbps upload speed shall be sustained.\n4.2 Retention\n\
        Reports shall be kept for ten years.\n";
    let c = l9_ir::compile("a.txt", src, None);
    let got: Vec<(&str, Vec<String>)> =
        requirements(&c).iter().map(|n| (n.text.as_str(), n.section.clone())).collect();
    assert_eq!(
        got,
        [
            ("3.5 GB of disk space shall be reserved for each user.", vec![]),
            ("2.5 Mbps upload speed shall be sustained.", vec![]),
            ("Reports shall be kept for ten years.", vec!["Retention".to_string()]),
        ]
    );
}

#[test]
fn html_inside_markdown_is_read_as_markdown_would_be() {
    let src = "# Shop\n\n## Requirements\n\n\
        <details>\n<summary>Payments</summary>\nThe system must accept card payments.\n</details>\n\n\
        <table>\n<tr><th>ID</th><th>Requirement</th><th>Priority</th></tr>\n\
        <tr><td>SH-1</td><td>The cart shall keep items for 30&nbsp;days &amp; nights.</td><td>Low</td>\n\
        <tr><td>SH-2</td><td>The checkout should take under 3 steps.</td><td>High</td></tr>\n</table>\n\n\
        <!-- The system must not show this comment. -->\n\n\
        <p align=\"center\">Orders <b>must</b> be confirmed by email.</p>\n\n\
        <ul>\n<li>Receipts are sent as PDF</li>\n</ul>\n\n\
        <h2>Non-goals</h2>\n\n- Gift cards.\n\n\
        Refunds <em>should</em> take 5 days.\n";
    let c = l9_ir::compile("t.md", src, None);
    let got: Vec<(NodeKind, &str, Option<Strength>, u32, u32)> =
        c.ir.nodes
            .iter()
            .skip(1)
            .map(|n| (n.kind, n.text.as_str(), n.strength, n.span.line, n.span.column))
            .collect();
    assert_eq!(
        got,
        [
            (
                NodeKind::Requirement,
                "The system must accept card payments.",
                Some(Strength::Must),
                7,
                1
            ),
            // The row whose `</tr>` is left out is a row; `Low` ranks it.
            (
                NodeKind::Requirement,
                "The cart shall keep items for 30 days & nights.",
                Some(Strength::May),
                12,
                22
            ),
            (
                NodeKind::Requirement,
                "The checkout should take under 3 steps.",
                Some(Strength::Must),
                13,
                22
            ),
            (
                NodeKind::Requirement,
                "Orders must be confirmed by email.",
                Some(Strength::Must),
                18,
                19
            ),
            // Under a requirements heading an item is a requirement, keyword or not.
            (NodeKind::Requirement, "Receipts are sent as PDF", None, 21, 5),
            (NodeKind::NonGoal, "Gift cards.", None, 26, 3),
            (NodeKind::NonGoal, "Refunds should take 5 days.", Some(Strength::Should), 28, 1),
        ],
        "{got:#?}"
    );
}

/// Text extracted from a PDF: page numbers, a running header repeated on every page, form
/// feeds, and a sentence that a page break interrupts.
#[test]
fn page_furniture_in_extracted_text_is_no_text_and_sentences_continue_across_it() {
    let page = |n: usize| {
        format!("\n\nDigitalHome SRS v1.3                        Page {n} of 9\n\n\u{c}")
    };
    let src = format!(
        "DigitalHome SRS v1.3\n\n3.1 Thermostat\n\n\
         The system shall allow a user to set the temperature of{}the home to any value between 60 and 80 degrees.\n\
         The thermostat shall report its reading every 5 minutes.{}\
         The system shall store the last 30 days\n\n- 3 -\n\nof readings.\n\n\
         Confidential - DigitalHome Inc\nThe user shall be able to view readings on\n\
         Confidential - DigitalHome Inc\na phone.\nConfidential - DigitalHome Inc\n\n\
         [4] The format is defined\n[5] The format is defined\n[6] The format is defined\n{}",
        page(1),
        page(2),
        page(3)
    );
    let c = l9_ir::compile("srs.txt", &src, None);
    assert_eq!(c.ir.nodes[0].text, "DigitalHome SRS v1.3", "the title is not furniture");
    let got: Vec<&str> = requirements(&c).iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        got,
        [
            "The system shall allow a user to set the temperature of the home to any value between 60 and 80 degrees.",
            "The thermostat shall report its reading every 5 minutes.",
            "The system shall store the last 30 days of readings.",
            "The user shall be able to view readings on a phone.",
            "The format is defined",
            "The format is defined",
            "The format is defined",
        ]
    );
    let first = requirements(&c)[0];
    assert_eq!((first.span.line, &src[first.span.start..first.span.start + 10]), (5, "The system"));
}

/// A product requirements document as issue trackers export them: each story's acceptance
/// criteria under a bold label or a plain line, not a heading.
#[test]
fn a_label_paragraph_opens_its_section_as_a_heading_would() {
    let src = "# Loyalty\n\n## User stories\n\n### Story 1: Earn points\n\n\
        As a shopper, I want to earn points on every purchase.\n\n\
        **Acceptance criteria:**\n- Given a purchase of 10 EUR, when it completes, then 10 points are added.\n\n\
        Points must be shown on the receipt.\n\n\
        ### Story 2: Redeem points\n\nAs a shopper, I want to redeem 100 points of a purchase for a 5 EUR voucher.\n\n\
        Acceptance Criteria\n\nA voucher is issued when 100 points are redeemed.\n\n\
        Out of scope:\n- Points for returns.\n\n\
        **Acceptance criteria must be reviewed by the team.**\n";
    let c = l9_ir::compile("prd.md", src, None);
    let got: Vec<(NodeKind, &str)> =
        c.ir.nodes
            .iter()
            .skip(1)
            .map(|n| (n.kind, n.text.as_str()))
            .filter(|n| n.0 != NodeKind::Component)
            .collect();
    assert_eq!(
        got,
        [
            (NodeKind::Requirement, "As a shopper, I want to earn points on every purchase."),
            (
                NodeKind::AcceptanceCriterion,
                "Given a purchase of 10 EUR, when it completes, then 10 points are added."
            ),
            // A paragraph after the label's list is the story's again.
            (NodeKind::Requirement, "Points must be shown on the receipt."),
            (
                NodeKind::Requirement,
                "As a shopper, I want to redeem 100 points of a purchase for a 5 EUR voucher."
            ),
            (NodeKind::AcceptanceCriterion, "A voucher is issued when 100 points are redeemed."),
            (NodeKind::NonGoal, "Points for returns."),
            // A statement that names a section is no label.
            (NodeKind::Requirement, "Acceptance criteria must be reviewed by the team."),
        ]
    );
    let ac = c.ir.nodes.iter().find(|n| n.text.starts_with("A voucher")).unwrap();
    let story = c.ir.nodes.iter().find(|n| n.text.contains("redeem 100")).unwrap();
    assert!(c.ir.edges.iter().any(|e| e.from == ac.id && e.to == story.id));
    // A story's criterion verifies its story, not another that shares terms with it (EUR,
    // points).
    let earn = c.ir.nodes.iter().find(|n| n.text.starts_with("Given a purchase")).unwrap();
    let verified: Vec<&str> =
        c.ir.edges.iter().filter(|e| e.from == earn.id).map(|e| e.to.as_str()).collect();
    let story1 = c.ir.nodes.iter().find(|n| n.text.contains("earn points")).unwrap();
    assert_eq!(verified, [story1.id.as_str()]);
}

/// Requirements written as labelled fields (SRS templates, Volere snow cards), in plain text
/// and in Markdown with bold labels.
#[test]
fn requirement_records_are_requirements_with_their_fields() {
    let txt = "Bus tracker SRS\n\n3.2 Functional requirements\n\n\
        ID: FR1\nTITLE: Download\nDESC: A user should be able to download the app\n  from a store.\nRAT: Users need it.\nDEP: None\n\n\
        ID: FR2\nTITLE: Arrival times\nDESC: The app shall show the next three arrivals.\nDEP: FR1, FR9\nPRIORITY: Low\n\n\
        Requirement #: 75\nDescription: The product shall record the readings.\n\
        Fit Criterion: Every reading is recorded within 10 seconds.\nPriority: Won't\n";
    let md = "# Bus tracker\n\n## Arrivals\n\n**ID:** FR2  \n**Description:** The app shall show arrivals.  \n\
        **Dependencies:** FR1\n\n**ID:** FR1  \n**Title:** Download the app\n";
    for (name, src) in [("srs.txt", txt), ("prd.md", md)] {
        let c = l9_ir::compile(name, src, None);
        let node = |id: &str| {
            c.ir.nodes
                .iter()
                .find(|n| n.id == id)
                .unwrap_or_else(|| panic!("{name}: {id}: {:#?}", c.ir.nodes))
        };
        let edge = |from: &str, kind: EdgeKind, to: &str| {
            c.ir.edges.iter().any(|e| e.from == from && e.to == to && e.kind == kind)
        };
        assert!(edge("FR2", EdgeKind::DependsOn, "FR1"), "{name}: {:#?}", c.ir.edges);
        if name == "prd.md" {
            // No description: the title is the text.
            assert_eq!(node("FR1").text, "Download the app");
            continue;
        }
        assert_eq!(node("FR1").text, "A user should be able to download the app from a store.");
        assert_eq!((node("FR1").strength, node("FR1").span.line), (Some(Strength::Should), 7));
        assert_eq!(node("FR2").strength, Some(Strength::May), "the priority ranks it");
        assert_eq!(node("REQ-75").kind, NodeKind::NonGoal);
        let fit = c.ir.nodes.iter().find(|n| n.kind == NodeKind::AcceptanceCriterion).unwrap();
        assert_eq!(fit.text, "Every reading is recorded within 10 seconds.");
        assert!(edge(&fit.id, EdgeKind::Verifies, "REQ-75"));
        // Rationale and title are no statements; a dependency on nothing is reported.
        assert_eq!(c.ir.nodes.len(), 5, "{:#?}", c.ir.nodes);
        let d: Vec<&str> = c.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(d, ["FR2 depends on FR9, which is not defined in this spec"]);
    }
}

/// A heading with a requirement's id over the statement it holds: a criterion naming the id
/// verifies that statement, not the heading's component.
#[test]
fn a_criterion_naming_a_heading_id_verifies_the_statements_under_it() {
    let src = "# Shop\n\n## Functional requirements\n\n### FR-12: User login\n\n\
        The system shall allow users to log in with email and password.\n\n\
        ### FR-13 Password reset\n\nUsers must be able to reset their password by email.\n\n\
        ## Acceptance\n\n- A user with a valid password logs in (FR-12).\n";
    let c = l9_ir::compile("shop.md", src, None);
    let login = c.ir.nodes.iter().find(|n| n.text.starts_with("The system shall allow")).unwrap();
    let ac = c.ir.nodes.iter().find(|n| n.kind == NodeKind::AcceptanceCriterion).unwrap();
    let verified: Vec<&str> =
        c.ir.edges.iter().filter(|e| e.from == ac.id).map(|e| e.to.as_str()).collect();
    assert_eq!(verified, [login.id.as_str()]);
}

/// A use case laid out as fields: the use case is a requirement, its postconditions what
/// verifies it; its numbered steps are no statements of their own.
#[test]
fn a_use_case_is_a_requirement_its_postconditions_verify() {
    let src = "ATM use cases\n\nUse Case: UC-3 Withdraw cash\nPrimary Actor: Customer\n\
        Preconditions: The customer has a valid card.\nMain Success Scenario:\n\
        1. The customer inserts the card.\n2. The system shall ask for the PIN.\n\
        Extensions:\n2a. The PIN is wrong: the system asks again.\n\
        Postconditions: The cash is dispensed and the account is debited.\n\n\
        Note: the ATM is offline at night.\n1. The system shall queue requests.\n";
    let c = l9_ir::compile("uc.txt", src, None);
    let got: Vec<(NodeKind, &str, &str)> =
        c.ir.nodes.iter().skip(1).map(|n| (n.kind, n.id.as_str(), n.text.as_str())).collect();
    assert_eq!(got[0], (NodeKind::Requirement, "UC-3", "Withdraw cash"));
    assert_eq!(got[1].0, NodeKind::AcceptanceCriterion);
    assert_eq!(got[1].2, "The cash is dispensed and the account is debited.");
    assert!(c.ir.edges.iter().any(|e| e.from == got[1].1 && e.to == "UC-3"));
    // After a paragraph that is no record, a numbered line is a statement again.
    assert_eq!(got[2].2, "The system shall queue requests.");
    assert_eq!(got.len(), 3, "{got:#?}");
}

/// Tables in plain text — a grid table with a row on two lines, a lone pipe row — are read
/// as Markdown's tables are, not as sentences full of borders.
#[test]
fn plain_text_tables_are_read_row_by_row() {
    let src = "Library SRS\n\n\
        +------+-----------------------------------------------+----------+\n\
        | ID   | Requirement                                   | Priority |\n\
        +======+===============================================+==========+\n\
        | FR-1 | The system shall let members borrow books.    | High     |\n\
        +------+-----------------------------------------------+----------+\n\
        | FR-2 | The system shall send reminders before the    | Low      |\n\
        |      | due date.                                     |          |\n\
        +------+-----------------------------------------------+----------+\n\n\
        | FR-3 | The system should keep a history of every loan. | Medium |\n\n\
        The system shall print receipts.\n";
    let c = l9_ir::compile("srs.txt", src, None);
    let got: Vec<(&str, &str, Option<Strength>, u32)> = requirements(&c)
        .iter()
        .map(|n| (n.id.as_str(), n.text.as_str(), n.strength, n.span.line))
        .collect();
    assert_eq!(
        got[..3],
        [
            ("FR-1", "The system shall let members borrow books.", Some(Strength::Must), 6),
            (
                "FR-2",
                "The system shall send reminders before the due date.",
                Some(Strength::May),
                8
            ),
            ("FR-3", "The system should keep a history of every loan.", Some(Strength::Should), 12),
        ]
    );
    assert_eq!(got[3].1, "The system shall print receipts.");
    assert_eq!(got.len(), 4);
}

/// Ids written as a word and a number (`Requirement 1:`, `FR 3 -`) name their requirement.
#[test]
fn ids_written_as_a_word_and_a_number_name_requirements() {
    let src = "Shop SRS\n\nRequirement 1: The system shall let users log in.\n\
        FR 3: Orders shall be confirmed by email, once Requirement 1 is met.\n\
        REQ 4 - The cart shall keep items for a week.\n\
        Requirement 5 is what the shop needs most: it shall be fast.\n";
    let c = l9_ir::compile("srs.txt", src, None);
    let got: Vec<(&str, &str)> =
        requirements(&c).iter().map(|n| (n.id.as_str(), n.text.as_str())).collect();
    assert_eq!(
        got[..3],
        [
            ("REQ-1", "The system shall let users log in."),
            ("FR-3", "Orders shall be confirmed by email, once Requirement 1 is met."),
            ("REQ-4", "The cart shall keep items for a week."),
        ]
    );
    assert!(got[3].1.starts_with("Requirement 5 is"), "no separator, no id: {got:?}");
    // A mention in that form links to the id it names.
    assert!(c.ir.edges.iter().any(|e| e.from == "FR-3" && e.to == "REQ-1"), "{:?}", c.ir.edges);
}

/// Criteria written as items under a requirement's item (`- Acceptance: …`, `- AC1: …`,
/// `- Given … then …`) verify that requirement.
#[test]
fn criterion_items_under_a_requirement_verify_it() {
    let src = "# Notes app\n\n## Requirements\n\n\
        - REQ-1: Users must be able to create a note.\n  - Acceptance: a created note appears at the top.\n\
        \x20 - AC2: an empty note is not saved.\n\
        - REQ-2: Notes should sync within 5 seconds.\n  - Given a note made on the phone, then the laptop shows it within 5 s.\n\
        - REQ-3: Notes may be shared.\n  - Sharing needs an account.\n";
    let c = l9_ir::compile("notes.md", src, None);
    let acs: Vec<(&str, Vec<&str>)> = c
        .ir
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::AcceptanceCriterion)
        .map(|n| {
            let to = c.ir.edges.iter().filter(|e| e.from == n.id).map(|e| e.to.as_str()).collect();
            (n.text.as_str(), to)
        })
        .collect();
    assert_eq!(
        acs,
        [
            ("a created note appears at the top.", vec!["REQ-1"]),
            ("an empty note is not saved.", vec!["REQ-1"]),
            ("Given a note made on the phone, then the laptop shows it within 5 s.", vec!["REQ-2"]),
        ]
    );
    // An item that is no criterion stays a requirement.
    assert!(requirements(&c).iter().any(|n| n.text == "Sharing needs an account."));
}

/// reStructuredText: titles by their adornment styles, lists, admonitions, sphinx-needs
/// requirements; literal blocks and comments are not text.
#[test]
fn restructured_text_is_read_as_markdown_is() {
    let src = "==============\nPayment system\n==============\n\nRequirements\n============\n\n\
        - The system shall accept card payments.\n- The system shall refund\n  within 5 days.\n\n\
        .. note::\n\n   Refunds must be approved by a manager.\n\n\
        .. req:: Card payments\n   :id: PAY_001\n   :status: open\n\n   The system shall accept Visa.\n\n\
        A literal block follows::\n\n    The system must not read this.\n\n\
        .. The system must not read this comment.\n\n\
        Acceptance criteria\n===================\n\n#. A refund of 10 EUR is shown in the account.\n";
    let c = l9_ir::compile("spec.rst", src, None);
    assert_eq!(c.ir.source.format, l9_ir::Format::Rst);
    let got: Vec<(NodeKind, &str, &str, u32)> =
        c.ir.nodes
            .iter()
            .map(|n| (n.kind, n.id.as_str(), n.text.as_str(), n.span.line))
            .filter(|n| n.0 != NodeKind::Goal)
            .collect();
    assert_eq!(c.ir.nodes[0].text, "Payment system");
    let texts: Vec<(NodeKind, &str)> = got.iter().map(|g| (g.0, g.2)).collect();
    assert_eq!(
        texts,
        [
            (NodeKind::Requirement, "The system shall accept card payments."),
            (NodeKind::Requirement, "The system shall refund within 5 days."),
            (NodeKind::Requirement, "Refunds must be approved by a manager."),
            (NodeKind::Requirement, "The system shall accept Visa."),
            (NodeKind::AcceptanceCriterion, "A refund of 10 EUR is shown in the account."),
        ]
    );
    assert_eq!((got[3].1, got[3].3), ("PAY_001", 20));
    assert_eq!(got[1].3, 9);
}

/// Inline HTML in a Markdown paragraph: the tags go, a `<br>` parts the words around it.
#[test]
fn inline_html_in_a_paragraph_is_no_text() {
    let c = l9_ir::compile("t.md", "# T\n\nReceipts <b>must</b> be sent<br>by email.\n", None);
    assert_eq!(requirements(&c)[0].text, "Receipts must be sent by email.");
}

/// AsciiDoc: the document and section titles, lists (nested, ordered, checklists),
/// description lists with ids, a block title over the criteria, a table with its priority
/// column, quote blocks' text; the header's author line, attribute entries, comments,
/// comment blocks and listings are not text.
#[test]
fn asciidoc_is_read_as_markdown_is() {
    let src = "= Order Service\nAnn Author <ann@example.com>\n:toc: left\n\n\
        // The system must not read this comment.\n\n\
        == Requirements\n\n\
        FR-1:: The service shall reject an empty basket.\n\n\
        . The service must store an order within\n  200 ms.\n** A confirmation must name every item.\n\
        * [x] The API must require a key.\n\n\
        [source,sh]\n----\necho the system must not read this listing\n----\n\n\
        ////\nThe system must not read this block.\n////\n\n\
        |===\n|ID |Requirement |Priority\n\n|REQ-10 |The service shall keep orders. |Could\n|===\n\n\
        ____\nThe service shall answer within one second.\n____\n\n\
        .Acceptance criteria\n* An empty basket is refused with HTTP 422.\n";
    let c = l9_ir::compile("spec.adoc", src, None);
    assert_eq!(c.ir.source.format, l9_ir::Format::Asciidoc);
    assert_eq!(c.ir.nodes[0].text, "Order Service");
    let got: Vec<(NodeKind, &str, &str, Option<Strength>, u32)> =
        c.ir.nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Requirement | NodeKind::AcceptanceCriterion))
            .map(|n| (n.kind, n.id.as_str(), n.text.as_str(), n.strength, n.span.line))
            .collect();
    let texts: Vec<(&str, &str)> = got.iter().map(|g| (g.1, g.2)).collect();
    assert_eq!(
        texts[..],
        [
            ("FR-1", "The service shall reject an empty basket."),
            (texts[1].0, "The service must store an order within 200 ms."),
            (texts[2].0, "A confirmation must name every item."),
            (texts[3].0, "The API must require a key."),
            ("REQ-10", "The service shall keep orders."),
            (texts[5].0, "The service shall answer within one second."),
            (texts[6].0, "An empty basket is refused with HTTP 422."),
        ]
    );
    assert_eq!(got[1].4, 11, "the item's line");
    assert_eq!(got[4].3, Some(Strength::May), "the table's priority column ranks the row");
    assert_eq!(got[6].0, NodeKind::AcceptanceCriterion);
    let fr1 =
        c.ir.edges
            .iter()
            .any(|e| e.from == got[6].1 && e.to == "FR-1" && e.kind == EdgeKind::Verifies);
    assert!(fr1, "{:?}", c.ir.edges);
    // The listing is not a requirement, nor the comment block.
    assert!(!c.ir.nodes.iter().any(|n| n.text.contains("not read")));
    // An included file is not read, and the document says so where the include is.
    let c = l9_ir::compile(
        "book.adoc",
        "= Book\n\n////\ninclude::old.adoc[]\n////\ninclude::chapters/one.adoc[leveloffset=+1]\n",
        None,
    );
    let w: Vec<(&str, u32)> = c
        .diagnostics
        .iter()
        .filter(|d| d.code == "L9-IR-044")
        .map(|d| (d.message.as_str(), d.span.as_ref().unwrap().line))
        .collect();
    assert_eq!(w, [("`include::chapters/one.adoc[leveloffset=+1]` is not read", 6)]);
}
