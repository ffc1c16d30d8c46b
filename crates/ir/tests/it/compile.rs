use expect_test::expect_file;
use l9_ir::{EdgeKind, Format, NodeKind, Strength};

use crate::{compile_fixture, dump, fixture, requirements};

#[test]
fn markdown_snapshot() {
    expect_file!["snapshots/markdown.txt"].assert_eq(&dump(&compile_fixture("notes.md")));
}

#[test]
fn gherkin_snapshot() {
    expect_file!["snapshots/gherkin.txt"].assert_eq(&dump(&compile_fixture("login.feature")));
}

#[test]
fn a_plain_requirements_list_keeps_ids_sections_and_statements_apart() {
    let c = compile_fixture("srs-plain.txt");
    let reqs = requirements(&c);
    let got: Vec<(Option<&str>, &str, String)> = reqs
        .iter()
        // A document's own id is the node's; the others get `REQ-` and a hash.
        .map(|n| {
            (
                (!n.id.starts_with("REQ-")).then_some(n.id.as_str()),
                n.text.as_str(),
                n.section.join(" / "),
            )
        })
        .collect();
    let want = [
        (
            Some("FR-1"),
            "The system shall allow a librarian to log in with a user name and password.",
            "Specific Requirements / Functional Requirements / Login",
        ),
        (
            Some("FR-2"),
            "The system shall lock an account after three failed login attempts.",
            "Specific Requirements / Functional Requirements / Login",
        ),
        (
            Some("FR-3"),
            "The system shall let a member search the catalogue by title, author or ISBN.",
            "Specific Requirements / Functional Requirements / Catalogue",
        ),
        (
            Some("FR-4"),
            "The system should display search results within 2 seconds.",
            "Specific Requirements / Functional Requirements / Catalogue",
        ),
        (
            Some("FR-5"),
            "The system shall allow a librarian to add, edit and delete books.",
            "Specific Requirements / Functional Requirements / Catalogue",
        ),
        (
            Some("NFR-1"),
            "The system shall be available 99.5% of the time.",
            "Specific Requirements / Non-functional Requirements",
        ),
        (
            Some("NFR-2"),
            "The user interface shall be easy to use.",
            "Specific Requirements / Non-functional Requirements",
        ),
        (
            Some("NFR-3"),
            "All passwords shall be stored hashed with a per-user salt.",
            "Specific Requirements / Non-functional Requirements",
        ),
        // A table's rows: the id column opens each, the priority column is not text.
        (
            Some("R-1"),
            "The system shall produce a monthly loans report.",
            "Specific Requirements / Non-functional Requirements",
        ),
        (
            Some("R-2"),
            "The system shall export reports as CSV.",
            "Specific Requirements / Non-functional Requirements",
        ),
        // A numbered statement: the number is not text; a wrapped line continues it.
        (
            None,
            "The system shall e-mail a member two days before a loan is due, and again on the day it is due.",
            "Specific Requirements / Notifications",
        ),
        (
            None,
            "The system should send at most one reminder a day.",
            "Specific Requirements / Notifications",
        ),
    ];
    let want: Vec<(Option<&str>, &str, String)> =
        want.iter().map(|(l, t, s)| (*l, *t, s.to_string())).collect();
    assert_eq!(got, want);
    let first = &reqs[0].span;
    assert_eq!((first.line, first.column), (18, 7));
}

#[test]
fn markdown_tables_of_requirements_are_read_row_by_row() {
    let src = "# Parking\n\n## Requirements\n\n| ID | Requirement | Priority |\n|---|---|---|\n\
        | PA-1 | The app must show free spots within 500 m. | High |\n\
        | PA-2 | Users **should** be able to pay by card. | Low |\n\n\
        | Owner | Need |\n|---|---|\n| ops | The service must restart within 30 seconds of a crash. |\n\n\
        | Requirement ID | Context of the need, at length | Statement |\n|---|---|---|\n\
        | PA-9 | Operators asked for this after the outage of last spring, twice. | Logs must be kept. |\n\n\
        ## Glossary\n\n| Term | Meaning |\n|---|---|\n| spot | a bay |\n\n\
        ## Acceptance criteria\n\n| Criterion |\n|---|\n| A user near 3 free spots sees 3 spots (PA-1). |\n";
    let c = l9_ir::compile("t.md", src, None);
    let got: Vec<(NodeKind, &str, &str, u32)> =
        c.ir.nodes.iter().map(|n| (n.kind, n.id.as_str(), n.text.as_str(), n.span.line)).collect();
    let reqs: Vec<_> = got.iter().filter(|g| g.0 == NodeKind::Requirement).collect();
    assert_eq!(reqs.len(), 4, "{got:#?}");
    assert_eq!(
        (reqs[0].1, reqs[0].2, reqs[0].3),
        ("PA-1", "The app must show free spots within 500 m.", 7)
    );
    assert_eq!((reqs[1].1, reqs[1].2), ("PA-2", "Users should be able to pay by card."));
    // No header names the statement: the column of the longest cells is it.
    assert_eq!(reqs[2].2, "The service must restart within 30 seconds of a crash.");
    // "Statement" names the column, not "Context"; "Requirement ID" names the id.
    assert_eq!((reqs[3].1, reqs[3].2), ("PA-9", "Logs must be kept."));
    // A glossary's short cells are not statements.
    assert!(got.iter().all(|g| !g.2.contains("bay")), "{got:#?}");
    let ac = got.iter().find(|g| g.0 == NodeKind::AcceptanceCriterion).unwrap();
    assert!(
        c.ir.edges.iter().any(|e| e.from == ac.1 && e.to == "PA-1" && e.kind == EdgeKind::Verifies)
    );
}

#[test]
fn prose_bullets_and_enumerators_start_statements_and_are_not_text() {
    let src = "Payroll\n\nThe following apply:\n• The system shall compute net pay.\n\
               • The system shall print pay slips\n- Pay slips should be e-mailed.\n\
               a) Records shall be kept for 7 years.\n(b) Records must be encrypted,\n\
               at rest and in transit.\n";
    let c = l9_ir::compile("p.txt", src, Some(Format::Prose));
    let texts: Vec<&str> = requirements(&c).iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "The system shall compute net pay.",
            "The system shall print pay slips",
            "Pay slips should be e-mailed.",
            "Records shall be kept for 7 years.",
            "Records must be encrypted, at rest and in transit.",
        ]
    );
}

#[test]
fn markdown_front_matter_moscow_headings_and_nested_items() {
    let md = [
        "---",
        "title: Booking service",
        "owner: team-a",
        "---",
        "",
        "# Booking service",
        "",
        "## Must have",
        "",
        "- Book a room for a date range.",
        "- Cancel a booking up to 24 hours before it starts.",
        "  - A cancellation later than that costs one night.",
        "",
        "### Acceptance criteria",
        "",
        "- A booked room shows as taken.",
        "",
        "## Should have",
        "",
        "- Email a confirmation.",
        "",
        "## Could have",
        "",
        "- Dark mode.",
        "",
        "## Won't have",
        "",
        "- Loyalty points.",
    ]
    .join("\n");
    let c = l9_ir::compile("b.md", &md, None);
    let got: Vec<(NodeKind, Option<Strength>, &str)> =
        c.ir.nodes.iter().map(|n| (n.kind, n.strength, n.text.as_str())).collect();
    assert_eq!(
        got,
        [
            // The front matter is not a heading: the H1 is the goal.
            (NodeKind::Goal, None, "Booking service"),
            (NodeKind::Requirement, Some(Strength::Must), "Book a room for a date range."),
            (
                NodeKind::Requirement,
                Some(Strength::Must),
                "Cancel a booking up to 24 hours before it starts."
            ),
            // A sub-item comes after its item.
            (
                NodeKind::Requirement,
                Some(Strength::Must),
                "A cancellation later than that costs one night."
            ),
            // A criterion under a MoSCoW heading gets no strength: it is not a requirement.
            (NodeKind::AcceptanceCriterion, None, "A booked room shows as taken."),
            (NodeKind::Requirement, Some(Strength::Should), "Email a confirmation."),
            (NodeKind::Requirement, Some(Strength::May), "Dark mode."),
            (NodeKind::NonGoal, None, "Loyalty points."),
        ]
    );
}

#[test]
fn a_heading_that_states_a_requirement_is_one() {
    let md = "# Reports\n\n## Requirements the system must meet\n\n### REQ-001 The system shall export PDF\n\n\
              Rationale: auditors need PDFs.\n\n### Reports must be signed.\n\n### How reports should look\n\n- Reports must be kept.\n";
    let c = l9_ir::compile("h.md", md, None);
    let got: Vec<(NodeKind, &str, &str)> =
        c.ir.nodes.iter().map(|n| (n.kind, n.id.as_str(), n.text.as_str())).collect();
    assert_eq!(got.len(), 5, "{got:#?}");
    assert_eq!(
        (got[1].0, got[1].1, got[1].2),
        (NodeKind::Requirement, "REQ-001", "The system shall export PDF")
    );
    assert_eq!((got[2].0, got[2].2), (NodeKind::Requirement, "Reports must be signed."));
    // A title with a keyword is a component, not a statement; "Requirements the system must
    // meet" names a section.
    assert_eq!((got[3].0, got[3].2), (NodeKind::Component, "How reports should look"));
    assert_eq!((got[4].0, got[4].2), (NodeKind::Requirement, "Reports must be kept."));
}

#[test]
fn prose_words_hyphenated_at_a_line_end_are_whole_again() {
    let src = "Clinic\n\nThe system shall store every appoint-\nment for ten years. The nurse should be able to re-\n  schedule an X-\nray and a well-\nKnown test.\n";
    let c = l9_ir::compile("h.txt", src, Some(Format::Prose));
    let texts: Vec<&str> = requirements(&c).iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "The system shall store every appointment for ten years.",
            // One letter before the hyphen, or a capital after the break: left as written.
            "The nurse should be able to reschedule an X- ray and a well- Known test.",
        ]
    );
}

#[test]
fn user_stories_are_requirements_under_any_heading_and_in_prose() {
    let md = "# Library\n\n## Stories\n\n- As a member, I want to renew a loan so that I keep it longer.\n\
              - As a librarian I need to see overdue loans.\n- Renewals are popular.\n";
    let c = l9_ir::compile("s.md", md, None);
    let texts: Vec<&str> = requirements(&c).iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "As a member, I want to renew a loan so that I keep it longer.",
            "As a librarian I need to see overdue loans."
        ]
    );
    let c = l9_ir::compile(
        "s.txt",
        "Library\n\nAs an administrator, I would like to export loans. Loans are kept for a year.\n",
        Some(Format::Prose),
    );
    let texts: Vec<&str> = requirements(&c).iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["As an administrator, I would like to export loans."]);
}

#[test]
fn rfc_list_markers_and_asides() {
    let src = [
        "1.  Rules",
        "",
        "   o  A client MUST send a key.",
        "   o  A server MUST NOT echo it; the value of this header field MUST be",
        "      13.",
        "   9.   The request MUST include a header field with the name",
        "        |Sec-WebSocket-Version|.  The value of this header field MUST be",
        "        13.",
        "",
        "   |  *Note:* This specification does not use ABNF rules here.  A",
        "   |  recipient MUST parse such a pair leniently.",
        "",
        "     OWS = *( SP / HTAB )",
        "         ; MUST be ignored",
    ]
    .join("\n");
    let c = l9_ir::compile("r.txt", &src, Some(Format::Rfc));
    let texts: Vec<&str> = requirements(&c).iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "A client MUST send a key.",
            "A server MUST NOT echo it; the value of this header field MUST be 13.",
            "The request MUST include a header field with the name |Sec-WebSocket-Version|.",
            "The value of this header field MUST be 13.",
            "A recipient MUST parse such a pair leniently.",
            "OWS: MUST be ignored",
        ]
    );
}

#[test]
fn rfc_snapshot() {
    expect_file!["snapshots/rfc.txt"].assert_eq(&dump(&compile_fixture("rfc-mini.txt")));
}

#[test]
fn prose_snapshot() {
    expect_file!["snapshots/prose.txt"].assert_eq(&dump(&compile_fixture("prose.txt")));
}

#[test]
fn formats_are_detected_by_extension_then_content() {
    let cases = [
        ("a.md", "# x\n", Format::Markdown),
        ("a.feature", "Feature: x\n", Format::Gherkin),
        ("a.yaml", "openapi: 3.0.0\n", Format::Openapi),
        ("spec", "{\"openapi\": \"3.1.0\"}", Format::Openapi),
        ("spec", "# language: de\nFunktionalität: x\n", Format::Gherkin),
        ("spec", "@tag\nFeature: x\n  Scenario: y\n", Format::Gherkin),
        ("spec", "Network Working Group\nRequest for Comments: 1\n", Format::Rfc),
        ("spec", "# Title\n\n- a\n- b\n", Format::Markdown),
        ("notes.txt", "# Title\n\n- a\n- b\n", Format::Prose),
        ("spec", "The system shall work.", Format::Prose),
    ];
    for (file, text, want) in cases {
        assert_eq!(l9_ir::detect_format(file, text), want, "{file}: {text:?}");
    }
}

#[test]
fn document_ids_and_strengths_are_kept() {
    let c = compile_fixture("notes.md");
    let req = |id: &str| c.ir.node(id).unwrap_or_else(|| panic!("{id} missing"));
    assert_eq!(req("REQ-1").strength, Some(Strength::Must));
    assert_eq!(req("REQ-2").strength, Some(Strength::MustNot));
    assert_eq!(req("REQ-4").strength, Some(Strength::Should));
    assert_eq!(req("FR-7").kind, NodeKind::Requirement);
    // Spans point at the statement: line and column of "The service MUST persist…".
    let span = &req("REQ-1").span;
    let src = fixture("notes.md");
    assert!(
        src[span.start..span.end].starts_with("REQ-1: The service MUST persist"),
        "{:?}",
        &src[span.start..span.end]
    );
    assert_eq!((span.line, span.column), (10, 3));
    // FR-7 mentions REQ-4: depends_on with the reason.
    assert!(c.ir.edges.iter().any(|e| e.from == "FR-7"
        && e.to == "REQ-4"
        && e.kind == EdgeKind::DependsOn
        && e.why == "explicit id"));
}

#[test]
fn mixed_case_keywords_are_reported_once_and_lower_case_is_not_normative() {
    let c = compile_fixture("notes.md");
    let mixed: Vec<_> = c.diagnostics.iter().filter(|d| d.code == "L9-IR-020").collect();
    assert_eq!(mixed.len(), 1, "{:?}", c.diagnostics);
    assert_eq!(mixed[0].span.as_ref().unwrap().line, 15);
    // "The storage layer must be simple to operate." is not a requirement in an RFC-style
    // document; "Backups MAY run hourly." is.
    assert!(!c.ir.nodes.iter().any(|n| n.text.contains("simple to operate")));
    assert!(
        c.ir.nodes
            .iter()
            .any(|n| n.text == "Backups MAY run hourly." && n.strength == Some(Strength::May))
    );
}

#[test]
fn prose_reads_lower_case_modals_with_lower_confidence() {
    let c = compile_fixture("prose.txt");
    let submit = c.ir.nodes.iter().find(|n| n.text.starts_with("Employees must")).unwrap();
    assert_eq!(submit.strength, Some(Strength::Must));
    assert!(submit.confidence < 0.9);
    assert!(c.ir.nodes.iter().any(|n| n.kind == NodeKind::Question));
}

#[test]
fn acceptance_criteria_verify_by_id_terms_or_section() {
    let c = compile_fixture("notes.md");
    let verifies: Vec<(&str, &str, &str)> =
        c.ir.edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Verifies)
            .map(|e| (e.from.as_str(), e.to.as_str(), e.why.as_str()))
            .collect();
    let by_id = verifies.iter().find(|(_, to, why)| *to == "REQ-1" && *why == "explicit id");
    assert!(by_id.is_some(), "{verifies:?}");
    assert!(
        verifies.iter().any(|(_, to, why)| *to == "REQ-5" && why.starts_with("shared terms")),
        "{verifies:?}"
    );
    // The fenced shell block under the acceptance heading is a runnable gate.
    let gate = c.ir.nodes.iter().find(|n| n.gate.is_some()).unwrap();
    assert_eq!(gate.gate.as_deref(), Some("cargo test --test search"));
    assert!(
        verifies.iter().any(|(from, _, why)| *from == gate.id && *why == "same section"),
        "{verifies:?}"
    );
}

#[test]
fn ids_are_stable_when_unrelated_text_changes() {
    let a = compile_fixture("prose.txt");
    let edited = fixture("prose.txt")
        .replace("Expense reports", "Expense reports\n\nAn unrelated sentence first.");
    let b = l9_ir::compile("prose.txt", &edited, None);
    let ids = |c: &l9_ir::Compiled| {
        c.ir.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Requirement)
            .map(|n| n.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&a), ids(&b));
}

#[test]
fn duplicate_document_ids_get_a_diagnostic_and_a_fresh_id() {
    let c = l9_ir::compile("d.md", "# X\n\n- REQ-1: A MUST be.\n- REQ-1: B MUST be.\n", None);
    assert_eq!(c.ir.count(NodeKind::Requirement), 2);
    let d = c.diagnostics.iter().find(|d| d.code == "L9-IR-040").unwrap();
    assert_eq!(d.span.as_ref().unwrap().line, 4);
}

#[test]
fn gherkin_language_and_stray_lines_are_reported() {
    // A language Gherkin knows is read in its own keywords; steps keep English kinds.
    let fr = "# language: fr\nFonctionnalité: Connexion\n  Scénario: ok\n    Soit un utilisateur\n    Quand il se connecte\n    Alors il voit sa page\n";
    let c = l9_ir::compile("x.feature", fr, Some(Format::Gherkin));
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let ac = c.ir.nodes.iter().find(|n| n.kind == NodeKind::AcceptanceCriterion).unwrap();
    let steps: Vec<(&str, &str)> = ac
        .scenario
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .map(|s| (s.keyword.as_str(), s.text.as_str()))
        .collect();
    assert_eq!(
        steps,
        [("Given", "un utilisateur"), ("When", "il se connecte"), ("Then", "il voit sa page")]
    );
    let de = "# language: de\nFunktionalität: Anmeldung\n  Szenariogrundriss: x\n    Gegeben seien <n> Nutzer\n    Beispiele:\n      | n |\n      | 2 |\n";
    let c = l9_ir::compile("d.feature", de, Some(Format::Gherkin));
    let ac = c.ir.nodes.iter().find(|n| n.kind == NodeKind::AcceptanceCriterion).unwrap();
    let sc = ac.scenario.as_ref().unwrap();
    assert_eq!((sc.steps[0].keyword.as_str(), sc.steps[0].text.as_str()), ("Given", "<n> Nutzer"));
    assert_eq!(sc.examples.len(), 2);
    // A language it does not know: the language warning and one error where `Feature:` was
    // expected; no warning per line.
    let c =
        l9_ir::compile("x.feature", "# language: xx\nFonctionnalité: x\n", Some(Format::Gherkin));
    let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, vec!["L9-IR-031", "L9-IR-032"]);
}

#[test]
fn the_ir_serializes_and_the_checked_in_schema_is_current() {
    let c = compile_fixture("notes.md");
    let json = serde_json::to_string(&c.ir).unwrap();
    let back: l9_ir::Ir = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c.ir);
    let schema = serde_json::to_string_pretty(&l9_ir::Ir::json_schema()).unwrap() + "\n";
    expect_file!["../../schema/ir.schema.json"].assert_eq(&schema);
}

#[test]
fn requirement_classes_are_explained() {
    let c = l9_ir::Classifier::default();
    let perf = c.classify("The search results shall be returned in under 2 seconds.");
    assert_eq!(perf.category, Some(l9_ir::QualityCategory::Performance));
    assert!(
        perf.features.iter().any(|f| f == "shape:duration" || f.starts_with("cue:PE")),
        "{:?}",
        perf.features
    );
    let func = c.classify("The system shall allow a manager to approve an expense report.");
    assert_eq!(func.class, l9_ir::ReqClass::Functional);
    assert!(func.features.iter().any(|f| f.starts_with("fn:")), "{:?}", func.features);
    let sec = c.classify("Only authorized users shall access the payroll data.");
    assert_eq!(sec.category, Some(l9_ir::QualityCategory::Security));
}

/// A page of an RFC-style document whose list of parameters runs across a page break, and a
/// grammar block with normative comments.
const RFC_PAGES: &str = "Network Working Group                                          A. Author
Request for Comments: 9999                                     Example Org
Category: Standards Track                                    October 2012


                    The Example Token Protocol

1.  Token Response

   The server responds with these parameters:

   access_token
         REQUIRED.  The access token issued by the authorization
         server.

   token_type
         REQUIRED.  The type of the token, case insensitive.



Author                       Standards Track                   [Page 43]
\u{c}
RFC 9999                  Example Token Protocol              October 2012


   refresh_token
         OPTIONAL.  The refresh token MAY be used to obtain new access
         tokens.

   A client MUST ignore unrecognized value names in the
   response.  The sizes of tokens are left undefined; the client SHOULD
   avoid making assumptions about value sizes.  The



Author                       Standards Track                   [Page 44]
\u{c}
RFC 9999                  Example Token Protocol              October 2012


   server MUST document the size of any value it issues.

2.  Grammar

      frame-rsv1    = %x0 / %x1
                      ; 1 bit in length, MUST be 0 unless
                      ; negotiated otherwise
      version       = DIGIT | (NZDIGIT DIGIT)
                      ; Limited to 0-255 range
";

#[test]
fn rfc_page_breaks_end_list_items_and_grammar_keeps_only_its_comments() {
    let c = l9_ir::compile("rfc9999.txt", RFC_PAGES, Some(Format::Rfc));
    let reqs: Vec<&str> = requirements(&c).iter().map(|n| n.text.as_str()).collect();
    // The item after the page footer is its own requirement, not glued to the previous one.
    // A bare keyword's item keeps the sentences that say what it requires, up to one with a
    // keyword of its own.
    assert!(reqs.contains(&"refresh_token OPTIONAL."), "{reqs:#?}");
    assert!(
        reqs.contains(
            &"access_token REQUIRED. The access token issued by the authorization server."
        ),
        "{reqs:#?}"
    );
    assert!(
        reqs.contains(&"token_type REQUIRED. The type of the token, case insensitive."),
        "{reqs:#?}"
    );
    assert!(reqs.iter().all(|r| !r.contains("server. refresh_token")), "{reqs:#?}");
    // A sentence that runs across a page break stays whole.
    assert!(
        reqs.contains(&"The server MUST document the size of any value it issues."),
        "{reqs:#?}"
    );
    // Grammar: the normative comment, named by its rule; no grammar text in requirements.
    assert!(
        reqs.contains(&"frame-rsv1: 1 bit in length, MUST be 0 unless negotiated otherwise"),
        "{reqs:#?}"
    );
    assert!(reqs.iter().all(|r| !r.contains("%x0") && !r.contains("NZDIGIT")), "{reqs:#?}");
    let n = c.ir.nodes.iter().find(|n| n.text.starts_with("frame-rsv1")).unwrap();
    assert_eq!((n.span.line, n.span.column), (46, 25), "the span starts at the comment");
}

/// A line of an RFC that ends inside a hyphenated word continues that word: RFC 6455's
/// requirements named `|Sec-WebSocket- Key|` and the GUID `258EAFA5- E914-47DA-…` (with a
/// space an implementation copying it would get wrong); a hyphen after a space stays a dash.
#[test]
fn rfc_lines_broken_at_a_hyphen_keep_the_word_whole() {
    let text = "1.  Handshake\n\n   The server MUST concatenate the |Sec-WebSocket-\n   Key| with the string \"258EAFA5-E914-47DA-\n   95CA-C5AB0DC85B11\" and SHOULD log it -\n   once.\n";
    let c = l9_ir::compile("rfc.txt", text, Some(Format::Rfc));
    let reqs: Vec<&str> = requirements(&c).iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        reqs,
        vec![
            "The server MUST concatenate the |Sec-WebSocket-Key| with the string \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\" and SHOULD log it - once."
        ]
    );
    let n = c.ir.nodes.iter().find(|n| n.kind == NodeKind::Requirement).unwrap();
    assert_eq!((n.span.line, n.span.column), (3, 4));
}

fn codes(c: &l9_ir::Compiled) -> Vec<(String, u32, u32)> {
    c.diagnostics
        .iter()
        .map(|d| {
            let s = d.span.as_ref().unwrap();
            (d.code.to_string(), s.line, s.column)
        })
        .collect()
}

#[test]
fn gherkin_diagnostics_come_once_and_where_the_problem_is() {
    // A user story whose third line starts like a step is description, as in Gherkin itself.
    let story = "Feature: Archive\n  In order to see old petitions\n  As Joe\n  And I want them ordered by age\n\n  Scenario: s\n    Given a petition\n";
    let c = l9_ir::compile("a.feature", story, None);
    assert!(codes(&c).is_empty(), "{:?}", codes(&c));
    let req = c.ir.nodes.iter().find(|n| n.kind == NodeKind::Requirement).unwrap();
    assert!(req.text.ends_with("And I want them ordered by age"), "{}", req.text);

    // Text before the Feature line: one warning for all of it, at its first line.
    let c = l9_ir::compile(
        "b.feature",
        "Notes\nmore notes\nGiven x\nFeature: F\n  Scenario: s\n    Given y\n",
        None,
    );
    assert_eq!(codes(&c), [("L9-IR-030".to_string(), 1, 1)]);
    assert!(
        c.diagnostics[0].message.starts_with("3 lines of text"),
        "{}",
        c.diagnostics[0].message
    );

    // A file in a language Gherkin does not know: one error at the line where `Feature:` was
    // expected, and the warning about the language; nothing per line.
    let xx = "# language: xx\nFonctionnalité: Connexion\n  Scénario: ok\n    Soit un utilisateur\n";
    let c = l9_ir::compile("c.feature", xx, Some(Format::Gherkin));
    let mut got = codes(&c);
    got.sort();
    assert_eq!(got, [("L9-IR-031".to_string(), 1, 1), ("L9-IR-032".to_string(), 2, 1)]);
    let err = c.diagnostics.iter().find(|d| d.code == "L9-IR-032").unwrap();
    assert!(err.help.as_deref().unwrap_or("").contains("`xx`"), "{err:?}");

    // A doc string that never closes is reported where it opens.
    let c = l9_ir::compile(
        "d.feature",
        "Feature: D\n  Scenario: s\n    Given a doc\n      \"\"\"\n      text\n",
        None,
    );
    assert_eq!(codes(&c), [("L9-IR-033".to_string(), 4, 7)]);
}

#[test]
fn a_repeated_requirement_gets_numbered_ids_in_order() {
    let spec = format!("# S\n\n{}", "- Users MUST export notes.\n".repeat(5));
    let ir = l9_ir::compile("s.md", &spec, None).ir;
    let ids: Vec<&str> = ir
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Requirement)
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(ids.len(), 5);
    let root = ids[0];
    let numbered: Vec<String> = (2..=5).map(|n| format!("{root}-{n}")).collect();
    assert_eq!(ids[1..], numbered.iter().map(String::as_str).collect::<Vec<_>>()[..]);
}
