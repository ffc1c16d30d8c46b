//! No input panics: random bytes, and truncated or mutated real specs, through every front
//! end (the same bodies as the cargo-fuzz targets in `fuzz/`).

use l9_ir::Format;
use l9_types::SeededRng;

use crate::fixture;

const FIXTURES: &[&str] =
    &["notes.md", "login.feature", "notes-api.yaml", "pets.json", "rfc-mini.txt", "prose.txt"];

fn all_formats(_name: &str, bytes: &[u8]) {
    for f in Format::ALL {
        l9_ir::exercise(Some(f), bytes);
    }
    l9_ir::exercise(None, bytes);
}

#[test]
fn random_bytes_do_not_panic() {
    let rng = SeededRng::from_seed(7);
    for i in 0..300 {
        let len = (rng.next_u64() % 400) as usize;
        let alphabet: &[u8] = if i % 2 == 0 {
            b"#-*`|@:{}[]\"' \n\tMUSTshallFeatureScenario:/$ref0123456789.%<>="
        } else {
            &[]
        };
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if alphabet.is_empty() {
                    rng.next_u64() as u8
                } else {
                    alphabet[(rng.next_u64() % alphabet.len() as u64) as usize]
                }
            })
            .collect();
        all_formats("random", &bytes);
    }
}

#[test]
fn truncated_and_mutated_fixtures_do_not_panic() {
    let rng = SeededRng::from_seed(11);
    for name in FIXTURES {
        let text = fixture(name).into_bytes();
        for cut in (0..text.len()).step_by(17) {
            all_formats(name, &text[..cut]);
        }
        for _ in 0..60 {
            let mut m = text.clone();
            for _ in 0..1 + rng.next_u64() % 8 {
                let at = (rng.next_u64() % m.len().max(1) as u64) as usize;
                match rng.next_u64() % 4 {
                    0 if !m.is_empty() => {
                        m.remove(at.min(m.len() - 1));
                    }
                    1 => m.insert(
                        at.min(m.len()),
                        b"\n\t{[\"#|@:\xff\xc3"[(rng.next_u64() % 11) as usize],
                    ),
                    2 if !m.is_empty() => {
                        let i = at.min(m.len() - 1);
                        m[i] = rng.next_u64() as u8;
                    }
                    _ => {
                        let span = (rng.next_u64() % 40) as usize;
                        let from = at.min(m.len());
                        let piece: Vec<u8> = m[from..(from + span).min(m.len())].to_vec();
                        m.splice(from..from, piece);
                    }
                }
            }
            all_formats(name, &m);
        }
    }
}

#[test]
fn deeply_nested_and_huge_inputs_are_handled() {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    all_formats("deep.json", deep.as_bytes());
    let yaml_deep = format!(
        "openapi: 3.0.0\npaths:\n{}",
        (0..300).map(|i| format!("{}a:\n", " ".repeat(i + 2))).collect::<String>()
    );
    all_formats("deep.yaml", yaml_deep.as_bytes());
    let long_line = "The system MUST ".repeat(20_000);
    let c = l9_ir::compile("long.md", &long_line, None);
    assert!(!c.ir.nodes.is_empty());
}

/// Found by fuzzing (`scripts/fuzz run openapi`): a path whose key is the empty string
/// (`'': …`) made the key locator search for "" from the same offset for ever.
#[test]
fn an_empty_key_in_an_openapi_document_ends() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let doc = b"openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  '':\n    get:\n      responses: {'200': {description: ok}}\n";
        let n = l9_ir::exercise(Some(Format::Openapi), doc);
        let _ = tx.send(n);
    });
    assert!(
        rx.recv_timeout(std::time::Duration::from_secs(60)).is_ok(),
        "compiling an OpenAPI document with an empty path key did not end in 60 s"
    );
}

/// A billion-laughs document (ten aliases of ten aliases, nine levels: 10^9 strings) is refused
/// by the YAML reader's repetition limit, at once, saying what it is.
#[test]
fn an_alias_bomb_is_refused_at_once() {
    let mut doc = String::from(
        "openapi: 3.0.0\ninfo: {title: t, version: '1'}\na0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(",");
        doc.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    doc.push_str("paths: {}\n");
    let c = l9_ir::compile_bytes("laughs.yaml", doc.as_bytes(), Some(Format::Openapi));
    let d = c.diagnostics.iter().find(|d| d.code == "L9-IR-010").expect("refused");
    assert!(d.message.contains("repetition limit"), "{d:?}");
    assert!(d.help.as_deref().is_some_and(|h| h.contains("alias bomb")), "{d:?}");
}

#[test]
fn html_in_markdown_does_not_panic() {
    let pieces = [
        "<p>",
        "</p>",
        "<table>",
        "</table>",
        "<tr>",
        "</tr>",
        "<td>",
        "<th>",
        "</td>",
        "<li>",
        "<h2>",
        "</h2>",
        "<b>",
        "</b>",
        "<!--",
        "-->",
        "<script>",
        "</script",
        "&amp;",
        "&#x",
        ";",
        "&",
        "é",
        "ü",
        "→",
        "<",
        ">",
        "/",
        " ",
        "\n",
        "\n\n",
        "must",
        "The system shall",
        "<br/>",
        "<details>",
        "# T\n",
        "- ",
    ];
    pieces_do_not_panic(
        13,
        600,
        40,
        "<div>",
        &pieces,
        &[Format::Markdown, Format::Rst, Format::Asciidoc],
    );
}

/// The shapes plain text, Markdown and reStructuredText are read in — records, tables, page
/// furniture, ids, titles and directives — in random order and pieces, through those front ends.
#[test]
fn records_tables_and_furniture_do_not_panic() {
    let pieces = [
        "ID: FR1",
        "ID:",
        "DESC: ",
        "Use Case: UC-3 x",
        "Postconditions:",
        "**ID:** ",
        "DEP: ",
        "Priority: Won't",
        "+----+----+",
        "+====+",
        "| a | b |",
        "|---|",
        "|",
        "+",
        "Page 3 of 9",
        "- 12 -",
        "\u{c}",
        "é",
        "→",
        "ü",
        "Requirement 1:",
        "FR 3 -",
        "FR1.",
        "3.5 GB ",
        "\n",
        "\n\n",
        " ",
        "The system shall ",
        "must",
        "- AC1: ",
        "- Given x then y",
        "**Acceptance:**",
        "<td>",
        "</tr>",
        "# T\n",
        "1. ",
        "[2] ",
        "====\n",
        "~~~\n",
        ".. req:: x\n",
        "   :id: A_1\n",
        ".. note::\n",
        "::\n",
        "   ",
        "#. ",
    ];
    pieces_do_not_panic(
        17,
        3000,
        30,
        "",
        &pieces,
        &[Format::Prose, Format::Markdown, Format::Rst, Format::Asciidoc],
    );
}

/// `runs` texts of up to `max` random `pieces` after `prefix`, each through the whole check
/// of every one of `formats`.
fn pieces_do_not_panic(
    seed: u64,
    runs: usize,
    max: u64,
    prefix: &str,
    pieces: &[&str],
    formats: &[Format],
) {
    let rng = SeededRng::from_seed(seed);
    for _ in 0..runs {
        let len = rng.next_u64() % max;
        let mut s = prefix.to_string();
        for _ in 0..len {
            s.push_str(pieces[(rng.next_u64() % pieces.len() as u64) as usize]);
        }
        for f in formats {
            l9_ir::exercise(Some(*f), s.as_bytes());
        }
    }
}

/// Admonitions nested thousands deep are read to a bounded depth: no stack is exhausted, even
/// a small one's (a server's worker threads).
#[test]
fn deeply_nested_rst_directives_are_bounded() {
    let src: String = (0..600).map(|i| format!("{}.. note::\n\n", " ".repeat(2 * i))).collect();
    let src = src + &" ".repeat(1200) + "The system must work.\n";
    let t = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || l9_ir::compile("deep.rst", &src, None).ir.nodes.len())
        .unwrap();
    assert_eq!(t.join().unwrap(), 0);
}

/// A minified JSON description (one line of megabytes) that is not ASCII: each span's column
/// counted from the line's start made compiling it quadratic (APIs.guru's Microsoft Graph, 20
/// MB: 25 s in a release build). A hang detector: 150,000 operations on one line (16 MB) take
/// ~7 s in a debug build; before, 20,000 took 4.1 s (0.5 s now), so these would take ~200 s.
/// The columns must still be right.
#[test]
fn a_one_line_description_that_is_not_ascii_compiles_in_linear_time() {
    let ops: Vec<String> = (0..150_000)
        .map(|i| format!(r#""/items{i}":{{"get":{{"summary":"Élément {i} — lire","responses":{{"200":{{"description":"ok"}}}}}}}}"#))
        .collect();
    let src = format!(
        r#"{{"openapi":"3.0.0","info":{{"title":"Éléments","version":"1"}},"paths":{{{}}}}}"#,
        ops.join(",")
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let text = src.clone();
    std::thread::spawn(move || {
        let _ = tx.send(l9_ir::compile("min.json", &text, None));
    });
    let c = rx.recv_timeout(std::time::Duration::from_secs(120)).expect("did not end in 120 s");
    let last = c.ir.nodes.iter().rfind(|n| n.kind == l9_ir::NodeKind::Interface).unwrap();
    let at = src[..last.span.start].chars().count();
    assert_eq!((last.span.line, last.span.column as usize), (1, at + 1));
}
