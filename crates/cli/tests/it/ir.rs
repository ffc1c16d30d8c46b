//! The IR engine and the simulator through the CLI.

use super::*;

#[test]
fn ir_check_prints_excerpts_and_exits_1_on_errors() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.md"), SPEC).unwrap();
    let o = l9(d, &["ir", "check", "spec.md"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("error[L9-CHAL-002]: REQ-1: numeric conflict"), "{out}");
    assert!(
        out.contains(
            "  --> spec.md:4:3\n  |\n4 | - REQ-1: A save MUST complete within 50 ms.\n  |   ^^^"
        ),
        "{out}"
    );
    assert!(out.contains("= help: the bounds cannot both hold"), "{out}");
    assert!(
        out.contains("warning[L9-VAL-004]: REQ-2: MUST requirement without acceptance criteria"),
        "{out}"
    );
    assert!(out.lines().last().unwrap().starts_with("spec.md: 1 error(s)"), "{out}");
    let o = l9(d, &["ir", "check", "spec.md", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["diagnostics"].as_array().unwrap().iter().any(|x| x["code"] == "L9-CHAL-002"));
    assert!(v["classifier"].as_str().unwrap().starts_with("learned:"), "{v}");
    assert!(v["smells"].as_str().unwrap().starts_with("learned smell tagger"), "{v}");

    std::fs::write(d.join("ok.md"), "# T\n\n- REQ-1: Notes MUST be saved.\n\n## Acceptance criteria\n- REQ-1: a saved note is listed.\n").unwrap();
    let out = ok(d, &["ir", "check", "ok.md"]);
    assert!(out.contains("0 error(s)"), "{out}");
    let err = fails(d, &["ir", "check", "missing.md"], 5);
    assert!(err.contains("missing.md"), "{err}");
    let err = fails(d, &["ir", "compile", "spec.md", "--format", "word"], 3);
    assert!(
        err.contains("unknown format `word`")
            && err.contains("markdown, rst, asciidoc, rfc, gherkin, openapi, prose"),
        "{err}"
    );
}

#[test]
fn ir_compile_summarises_emits_json_and_stores_a_packet() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.md"), SPEC).unwrap();
    let out = ok(d, &["ir", "compile", "spec.md"]);
    assert!(out.contains("spec.md (markdown, "), "{out}");
    assert!(out.contains("requirements: 2 MUST"), "{out}");
    let ir = json(d, &["ir", "compile", "spec.md"]);
    assert_eq!(ir["version"], 1);
    assert!(
        ir["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "REQ-1" && n["strength"] == "must")
    );
    ok(d, &["init"]);
    let out = ok(d, &["ir", "compile", "spec.md", "--store"]);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("stored as packet "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let p = json(d, &["memory", "get", &id]);
    assert_eq!(p["kind"], "ir");
    assert_eq!(p["body"]["nodes"]["requirement"], 3);
    assert_eq!(p["blobs"][0]["media_type"], "application/json");
}

#[test]
fn ir_plan_prints_three_candidates_covering_every_must() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.md"), SPEC).unwrap();
    let out = ok(d, &["ir", "plan", "spec.md"]);
    for s in ["tests-first", "component-by-component", "vertical-slices"] {
        assert!(out.contains(&format!("\n{s} — ")), "{out}");
    }
    assert_eq!(out.matches("every MUST covered").count(), 3, "{out}");
    assert!(out.starts_with("Deliberation: "), "{out}");
    // The questions the deliberation asked are listed: settled, they stay open for a person,
    // and each is an approval gate of the task that works from its requirement in every plan.
    assert!(out.contains("\nQuestions asked: "), "{out}");
    assert!(out.contains("Which limit is right for REQ-1: "), "{out}");
    assert_eq!(out.matches("approval gate: ").count(), 3, "{out}");
    let v = json(d, &["ir", "plan", "spec.md"]);
    assert_eq!(v["candidates"].as_array().unwrap().len(), 3);
    // Requirements with nothing to check them: the gates say they have no criteria of their
    // own, not "0 criteria".
    std::fs::write(
        d.join("p.txt"),
        "# Peering\n\n[1] The format is defined\n[2] Policies are in place\n",
    )
    .unwrap();
    let out = ok(d, &["ir", "plan", "p.txt"]);
    assert!(
        out.contains("gate: no criteria of its own") && !out.contains("gate: 0 criteria"),
        "{out}"
    );
}

#[test]
fn eval_and_bench_ir_run_on_small_data() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(
        d.join("c.csv"),
        "ProjectID,RequirementText,class,IsNFR\n1,The system shall display the list of orders.,F,0\n1,The product shall respond within 2 seconds.,PE,1\n2,Only authorized users shall access payroll data.,SE,1\n2,The system shall allow a clerk to add a customer.,F,0\n",
    )
    .unwrap();
    let out = ok(d, &["eval", "classify", "--data", "c.csv"]);
    assert!(
        out.contains("macro F1 (F vs NFR)") && out.contains("leave-one-project-out (2 projects"),
        "{out}"
    );
    assert!(out.contains("Kurtanović & Maalej 2017"), "{out}");
    assert!(out.contains("learned, strict leave-one-project-out (2 projects"), "{out}");
    assert!(out.contains("confusion (rows: gold, columns: predicted)"), "{out}");
    // Train a model on the file, then score it: every row is marked as seen.
    let out = ok(d, &["eval", "train", "--data", "c.csv", "--out", "m.l9cls"]);
    assert!(
        out.starts_with("wrote m.l9cls (") && out.contains("trained on 4 rows of 2 projects"),
        "{out}"
    );
    let out = ok(d, &["eval", "classify", "--data", "c.csv", "--model", "m.l9cls", "--no-lopo"]);
    assert!(out.contains("--model (") && out.contains("SEEN: 4 of 4 rows"), "{out}");
    assert!(!out.contains("learned, strict"), "--no-lopo skips it: {out}");
    // Sentence embeddings join the candidate features when a MiniLM model is given.
    #[cfg(feature = "local-embed")]
    if let Some(m) = std::env::var_os("L9_TEST_MINILM_DIR").filter(|m| !m.is_empty()) {
        let m = m.to_str().unwrap();
        let out = ok(d, &["eval", "classify", "--data", "c.csv", "--embeddings", m]);
        assert!(out.contains("sentence embeddings: local-bert:"), "{out}");
        assert!(out.contains("384-d sentence embedding"), "{out}");
        // A model trained with them is scored only with them.
        let out =
            ok(d, &["eval", "train", "--data", "c.csv", "--embeddings", m, "--out", "d.l9cls"]);
        assert!(out.contains("384-d sentence embedding"), "{out}");
        let err = fails(d, &["eval", "classify", "--data", "c.csv", "--model", "d.l9cls"], 3);
        assert!(err.contains("needs 384-d sentence embeddings"), "{err}");
        let out = ok(
            d,
            &[
                "eval",
                "classify",
                "--data",
                "c.csv",
                "--model",
                "d.l9cls",
                "--embeddings",
                m,
                "--no-lopo",
            ],
        );
        assert!(out.contains("SEEN: 4 of 4 rows"), "{out}");
        // `l9 ir compile` classifies with the shipped MiniLM model: given --embeddings, or
        // where the project's embedder is the local model; the IR says so.
        std::fs::write(d.join("spec.md"), "# S\n\n- Pages MUST load within 2 seconds.\n- The clerk MUST be able to add a customer.\n").unwrap();
        let by = |out: &str| -> String {
            let v: serde_json::Value = serde_json::from_str(out).unwrap();
            v["classifier"].as_str().unwrap_or("").to_string()
        };
        let plain = by(&ok(d, &["ir", "compile", "spec.md", "--json"]));
        assert!(!plain.contains("sentence embedding"), "{plain}");
        let given = by(&ok(d, &["ir", "compile", "spec.md", "--json", "--embeddings", m]));
        assert!(given.contains("384-d sentence embedding by local-bert:"), "{given}");
        std::fs::create_dir_all(d.join(".l9")).unwrap();
        std::fs::write(
            d.join(".l9/l9.toml"),
            format!("[memory]\nembedder = \"local-bert\"\nlocal_bert.dir = {m:?}\n"),
        )
        .unwrap();
        let project = by(&ok(d, &["ir", "compile", "spec.md", "--json"]));
        assert_eq!(project, given);
        let out = ok(d, &["ir", "compile", "spec.md"]);
        assert!(out.contains("classified by learned:") && out.contains("by local-bert:"), "{out}");
        std::fs::remove_dir_all(d.join(".l9")).unwrap();
    }
    std::fs::write(d.join("spec.md"), "# S\n\n- Pages MUST load within 2 seconds.\n").unwrap();
    let err = fails(d, &["ir", "compile", "spec.md", "--embeddings", "no-model"], 3);
    assert!(err.contains("L9-EVAL-006"), "{err}");
    let err = fails(d, &["eval", "classify", "--data", "c.csv", "--embeddings", "no-model"], 3);
    assert!(err.contains("L9-EVAL-006"), "{err}");
    let err = fails(d, &["eval", "classify", "--data", "c.csv", "--model", "c.csv"], 3);
    assert!(err.contains("L9-EVAL-003") && err.contains("not an L9 classifier model"), "{err}");
    let err = fails(d, &["eval", "train", "--data", "c.csv", "--out", "no/such/dir/m.l9cls"], 3);
    assert!(err.contains("L9-EVAL-004") && err.contains("--out"), "{err}");
    std::fs::write(
        d.join("s.csv"),
        "text,file,negative_statements\n\"It shall not fail.\",a,not\nIt shall work.,a,-\n",
    )
    .unwrap();
    let out = ok(d, &["eval", "smells", "--data", "s.csv"]);
    let row = out.lines().find(|l| l.trim_start().starts_with("negative statement")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2..4], ["1", "1.000"], "support, then the word lists' F1: {out}");
    assert_eq!(cells.last(), Some(&"0.44"), "ARTA's published F1: {out}");
    assert!(out.contains("leave-one-project-out: 1 folds"), "{out}");
    assert!(
        out.contains("+ challenger") && out.contains("as the challenger reports them"),
        "{out}"
    );
    // A data set with enough marked rows trains a tagger that learns the annotators' context.
    let mut csv = String::from("text,file,negative_statements\n");
    for p in ["alpha", "beta"] {
        for i in 0..50 {
            if i % 2 == 0 {
                csv.push_str(&format!("The operator shall not delete log {i} of {p}.,{p},not\n"));
            } else {
                csv.push_str(&format!(
                    "The operator shall archive log {i} of {p} if not busy.,{p},-\n"
                ));
            }
        }
    }
    std::fs::write(d.join("t.csv"), csv).unwrap();
    let out = ok(d, &["eval", "train", "--data", "t.csv", "--out", "t.l9sml"]);
    assert!(out.starts_with("wrote t.l9sml (") && out.contains("smell tagger, 1 heads"), "{out}");
    let out = ok(d, &["eval", "smells", "--data", "t.csv", "--model", "t.l9sml"]);
    assert!(out.contains("tagger SEEN (100 of 100 rows trained on)"), "{out}");
    let row = out.lines().find(|l| l.trim_start().starts_with("negative statement")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2..6], ["50", "0.667", "1.000", "1.00/1.00/1.000"], "{out}");
    let err = fails(d, &["eval", "smells", "--data", "t.csv", "--model", "c.csv"], 3);
    assert!(err.contains("L9-EVAL-003") && err.contains("L9SML1"), "{err}");
    std::fs::write(d.join("bad.csv"), "ProjectID,RequirementText,class,IsNFR\n1,x,F,maybe\n")
        .unwrap();
    let err = fails(d, &["eval", "classify", "--data", "bad.csv"], 3);
    assert!(err.contains("bad.csv:2:1: error[L9-EVAL-001]"), "{err}");

    // Labelled duplicate pairs are scored per document, by node id.
    std::fs::write(
        d.join("d.md"),
        "# D\n\n- REQ-1: The radio MUST retain stored numbers when switched off.\n- REQ-2: The radio SHOULD retain stored numbers when switched off.\n- REQ-3: The radio MUST retain stored settings when switched off.\n",
    )
    .unwrap();
    std::fs::write(d.join("p.csv"), "spec,a,b,duplicate\nd.md,REQ-1,REQ-2,1\nd.md,REQ-1,REQ-3,0\n")
        .unwrap();
    let out = ok(d, &["eval", "duplicates", "--pairs", "p.csv", "--specs", "."]);
    let row = out.lines().find(|l| l.starts_with("d.md")).unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>()[..4],
        ["d.md", "2", "1", "1.00/1.00/1.00"],
        "{out}"
    );
    std::fs::write(d.join("q.csv"), "spec,a,b,duplicate\nd.md,REQ-1,REQ-9,1\n").unwrap();
    let err = fails(d, &["eval", "duplicates", "--pairs", "q.csv", "--specs", "."], 3);
    assert!(err.contains("L9-EVAL-005") && err.contains("REQ-9"), "{err}");

    std::fs::create_dir(d.join("specs")).unwrap();
    std::fs::write(d.join("specs/spec.md"), SPEC).unwrap();
    let out = ok(d, &["bench", "ir", "specs", "--repeat", "1"]);
    assert!(out.contains("total: 1 files") && out.contains("MB/s"), "{out}");
    assert!(out.contains("classification alone, 1000 requirement sentences"), "{out}");
    assert!(out.contains("smell findings per 100 requirements"), "{out}");
    let err = fails(d, &["bench", "ir", "specs", "--repeat", "1", "--embeddings", "no-model"], 3);
    assert!(err.contains("L9-EVAL-006") || err.contains("without sentence embeddings"), "{err}");
}

#[test]
fn sim_ranks_a_specs_candidates_caches_them_and_reads_scenarios() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.md"), SPEC).unwrap();
    let first = ok(d, &["sim", "spec.md", "--trials", "300"]);
    for s in ["tests-first", "component-by-component", "vertical-slices"] {
        assert!(first.contains(&format!("\n{s} ")), "{first}");
    }
    assert!(!first.contains("from cache"), "{first}");
    let again = ok(d, &["sim", "spec.md", "--trials", "300"]);
    assert!(again.contains("(3 from cache)"), "{again}");
    assert_eq!(
        first.lines().skip(1).collect::<Vec<_>>(),
        again.lines().skip(1).collect::<Vec<_>>()
    );
    let v = json(d, &["sim", "spec.md", "--trials", "300"]);
    assert_eq!(v["ranked"].as_array().unwrap().len(), 3);
    std::fs::write(d.join("flaky.yaml"), "name: flaky tests\nkinds:\n  test: { failure: 0.9 }\n")
        .unwrap();
    let flaky = ok(d, &["sim", "spec.md", "--trials", "300", "--scenario", "flaky.yaml"]);
    assert!(flaky.contains("scenario flaky tests"), "{flaky}");
    assert_ne!(flaky.lines().nth(2), first.lines().nth(2));
    std::fs::write(d.join("bad.yaml"), "kinds:\n  test: { failure: 2 }\n").unwrap();
    let err = fails(d, &["sim", "spec.md", "--scenario", "bad.yaml"], 3);
    assert!(err.contains("kinds.test.failure must be between 0 and 1"), "{err}");
}

#[test]
fn devices_fifos_and_oversized_files_are_refused_at_once() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let e = fails(d, &["ir", "compile", "/dev/zero"], 3);
    assert!(
        e.contains("/dev/zero is not a regular file") && e.contains("L9_MAX_SPEC_BYTES"),
        "{e}"
    );
    let fifo = d.join("pipe.md");
    let o = Command::new("mkfifo").arg(&fifo).output().unwrap();
    assert!(o.status.success());
    let e = fails(d, &["ir", "compile", fifo.to_str().unwrap()], 3);
    assert!(e.contains("is not a regular file"), "{e}");
    ok(d, &["init"]);
    let e = fails(d, &["memory", "import", "/dev/zero"], 3);
    assert!(e.contains("not a regular file"), "{e}");
    std::fs::write(
        d.join("big.md"),
        "# Big\n\n".to_string() + &"- The tool MUST work.\n".repeat(100),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_l9"))
        .args(["ir", "compile", "big.md"])
        .current_dir(d)
        .env("L9_MAX_SPEC_BYTES", "1000")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(e.contains("over the limit of 1000 bytes"), "{e}");
}

/// A PDF or a Word file is refused with how to make text of it; UTF-16 and a byte order mark
/// (what Windows editors write) are read.
#[test]
fn documents_that_are_not_text_are_refused_and_utf_16_is_read() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.pdf"), b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n").unwrap();
    let e = fails(d, &["ir", "compile", "spec.pdf"], 3);
    assert!(e.contains("spec.pdf is a PDF document, not text") && e.contains("pdftotext"), "{e}");
    std::fs::write(d.join("spec.docx"), b"PK\x03\x04\x14\x00word/document.xml").unwrap();
    let e = fails(d, &["run", "spec.docx"], 3);
    assert!(e.contains("Word .docx") && e.contains("pandoc spec.docx"), "{e}");
    assert!(!d.join(".l9").exists() && !d.join("l9-out").exists(), "nothing was written");
    let text = "# Title\n\n- The tool MUST work.\n";
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(d.join("u16.md"), utf16).unwrap();
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(text.as_bytes());
    std::fs::write(d.join("bom.md"), bom).unwrap();
    for f in ["u16.md", "bom.md"] {
        let out = ok(d, &["ir", "compile", f]);
        assert!(out.contains("goal: Title") && out.contains("The tool MUST work."), "{f}: {out}");
    }
}

/// The count of findings left out names its setting, and the setting changes how many are
/// listed (every limit's refusal of a bad value: `limits.rs`).
#[test]
fn the_findings_per_smell_setting_lists_that_many_and_counts_the_rest() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(
        d.join("spec.md"),
        format!("# S\n\n- The tool MUST {}.\n", "keep TBD and TBD ".repeat(30)),
    )
    .unwrap();
    let with = |var: &str, value: &str, args: &[&str]| l9_env(d, &[(var, value)], args);
    let items = |o: std::process::Output| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let all = v["diagnostics"].as_array().cloned().unwrap_or_default();
        all.into_iter().filter(|f| f["code"] == "L9-SMELL-011").collect()
    };
    // 60 open items: 20 listed and a count by default, 3 and a count when set, all when
    // the setting is larger.
    let default = items(with("L9_UNRELATED", "", &["--json", "ir", "check", "spec.md"]));
    assert_eq!(default.len(), 21, "{default:?}");
    let three = items(with("L9_FINDINGS_PER_SMELL", "3", &["--json", "ir", "check", "spec.md"]));
    assert_eq!(three.len(), 4, "{three:?}");
    let count = three[3]["message"].as_str().unwrap();
    assert!(count.contains("57 more") && count.contains("L9_FINDINGS_PER_SMELL"), "{count}");
    let all = items(with("L9_FINDINGS_PER_SMELL", "100", &["--json", "ir", "check", "spec.md"]));
    assert_eq!(all.len(), 60, "{all:?}");
}

#[test]
fn escape_sequences_in_a_spec_are_shown_not_sent_to_the_terminal() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(
        d.join("esc.md"),
        "# T\n\n- The tool MUST print \u{1b}]0;pwned\u{7} and \u{1b}[2J fast.\n",
    )
    .unwrap();
    let o = l9(d, &["ir", "check", "esc.md"]);
    let all = [o.stdout, o.stderr].concat();
    assert!(!all.contains(&0x1b) && !all.contains(&0x07), "raw control bytes reached the terminal");
    assert!(String::from_utf8_lossy(&all).contains("\\x1b]0;pwned\\x07"), "they are shown escaped");
}

/// The public corpora (`../shared/corpora` next to the repository, or `L9_CORPORA`).
fn corpora() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("L9_CORPORA") {
        return Some(p.into());
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.ancestors()
        .map(|a| a.join("shared/corpora"))
        .find(|p| p.join("requirements_classification").is_dir())
}

#[test]
fn the_shipped_classifier_is_reproduced_by_l9_eval_train() {
    let Some(c) = corpora() else {
        eprintln!("skipped: no shared/corpora next to the repository and no L9_CORPORA");
        return;
    };
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let data = c.join("requirements_classification");
    let (a, b) = (data.join("promise_exp_969.csv"), data.join("promise_nfr_625.csv"));
    let out = ok(
        d,
        &["eval", "train", "--data", a.to_str().unwrap(), b.to_str().unwrap(), "--out", "m.l9cls"],
    );
    assert!(out.contains("trained on 408 rows of 24 projects"), "{out}");
    let shipped = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ir/models/requirements.l9cls"),
    )
    .unwrap();
    assert!(
        std::fs::read(d.join("m.l9cls")).unwrap() == shipped,
        "the checked-in model is not what `l9 eval train` makes from the corpora: {out}"
    );
}

/// The shipped MiniLM classifier is what `l9 eval train --embeddings` makes (byte for byte
/// on this machine; where the CPU's matrix kernels round differently, the same model up to
/// that rounding: same data, same features, the same scores on every row).
#[cfg(feature = "local-embed")]
#[test]
fn the_shipped_minilm_classifier_is_reproduced_by_l9_eval_train() {
    let (Some(c), Some(m)) =
        (corpora(), std::env::var_os("L9_TEST_MINILM_DIR").filter(|m| !m.is_empty()))
    else {
        eprintln!("skipped: needs the corpora and L9_TEST_MINILM_DIR");
        return;
    };
    let m = m.to_str().unwrap();
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let data = c.join("requirements_classification");
    let (a, b) = (data.join("promise_exp_969.csv"), data.join("promise_nfr_625.csv"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = ok(d, &["eval", "train", "--data", a, b, "--embeddings", m, "--out", "m.l9cls"]);
    assert!(out.contains("trained on 408 rows of 24 projects"), "{out}");
    assert!(out.contains("384-d sentence embedding"), "{out}");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ir/models/requirements-minilm.l9cls");
    if std::fs::read(d.join("m.l9cls")).unwrap() == std::fs::read(&shipped).unwrap() {
        return;
    }
    let scores = |model: &str| -> Value {
        let v = json(
            d,
            &["eval", "classify", "--data", b, "--model", model, "--embeddings", m, "--no-lopo"],
        );
        let s = v[0]["scores"].as_array().unwrap();
        s.iter().find(|x| x["model"].as_str().unwrap_or("").starts_with("--model")).unwrap().clone()
    };
    let mut ours = scores("m.l9cls");
    let mut theirs = scores(shipped.to_str().unwrap());
    for v in [&mut ours, &mut theirs] {
        v["model"] = Value::Null;
    }
    assert_eq!(ours, theirs, "the checked-in MiniLM model is not what `l9 eval train` makes");
}

#[test]
fn the_shipped_smell_tagger_is_reproduced_by_l9_eval_train() {
    let Some(c) = corpora() else {
        eprintln!("skipped: no shared/corpora next to the repository and no L9_CORPORA");
        return;
    };
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    let data = c.join("requirements_smells");
    let files: Vec<String> = (1..=4)
        .map(|i| data.join(format!("arta_DS{i}_smells.csv")).display().to_string())
        .collect();
    let mut args = vec!["eval", "train", "--out", "s.l9sml", "--data"];
    args.extend(files.iter().map(String::as_str));
    let out = ok(d, &args);
    assert!(out.contains("trained on 2774 rows of 12 projects"), "{out}");
    let shipped = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ir/models/smells.l9sml"),
    )
    .unwrap();
    assert!(
        std::fs::read(d.join("s.l9sml")).unwrap() == shipped,
        "the checked-in tagger is not what `l9 eval train` makes from the corpora: {out}"
    );
}

#[test]
fn the_labelled_duplicate_pairs_resolve_and_the_challenger_scores_them() {
    let Some(c) = corpora() else {
        eprintln!("skipped: no shared/corpora next to the repository and no L9_CORPORA");
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pairs = root.join("bench/duplicate_pairs.csv");
    let out = ok(
        &root,
        &[
            "eval",
            "duplicates",
            "--json",
            "--pairs",
            pairs.to_str().unwrap(),
            "--specs",
            c.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let docs = v.as_array().unwrap();
    assert_eq!(docs.len(), 3, "{out}");
    for d in docs {
        // No pair about different things is called a duplicate on any document.
        assert_eq!(d["challenger"]["fp"], 0, "{d}");
    }
}

/// YAML nested a hundred thousand levels is refused before a parser sees it (it took the
/// parser a minute to reach its recursion limit): scenarios and API descriptions here,
/// scripts in l9-models' tests.
#[test]
fn deeply_nested_yaml_is_refused_at_once() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::write(d.join("spec.md"), SPEC).unwrap();
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(d.join("deep.yaml"), format!("name: deep\nkinds: {deep}\n")).unwrap();
    let e = fails(d, &["sim", "spec.md", "--scenario", "deep.yaml"], 3);
    assert!(
        e.contains("deep.yaml:2: nested 257 levels deep (at most 256; set L9_MAX_YAML_DEPTH"),
        "{e}"
    );
    std::fs::write(d.join("api.yaml"), format!("openapi: 3.0.0\npaths: {deep}\n")).unwrap();
    let o = l9(d, &["ir", "check", "api.yaml"]);
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success() && text.contains("levels deep (at most 256; set"), "{text}");
}

/// An OpenAPI description split into files is read as its bundled form would be: the files
/// are named relative to the document that refers to them; an absolute path, a file too
/// large or one that is not there is a warning at its `$ref`, and the rest is read.
#[test]
fn an_openapi_description_split_into_files_is_read_from_beside_it() {
    let dir = l9_test_support::temp_dir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("api/paths")).unwrap();
    std::fs::create_dir_all(d.join("common")).unwrap();
    std::fs::write(
        d.join("api/openapi.yaml"),
        "openapi: 3.0.3\ninfo: {title: Pets, version: '1'}\npaths:\n  /pets:\n    \
         $ref: paths/pets.yaml\n  /big:\n    $ref: big.yaml\n  /abs:\n    $ref: /etc/hostname\n  \
         /a:\n    $ref: a.yaml\n  /b:\n    $ref: b.yaml\n",
    )
    .unwrap();
    std::fs::write(
        d.join("api/paths/pets.yaml"),
        "get:\n  parameters:\n    - $ref: '../../common/params.yaml#/Limit'\n  \
         responses: {'200': {description: pets}}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("common/params.yaml"),
        "Limit: {name: limit, in: query, schema: {type: integer}}\n",
    )
    .unwrap();
    std::fs::write(d.join("api/big.yaml"), "get: {}\n".repeat(200)).unwrap();
    // Each under the limit, the two together over it.
    let padded = format!("get: {{}}\n{}", "# padding\n".repeat(60));
    std::fs::write(d.join("api/a.yaml"), &padded).unwrap();
    std::fs::write(d.join("api/b.yaml"), &padded).unwrap();
    let run = |cmd: &str| -> serde_json::Value {
        let o = Command::new(env!("CARGO_BIN_EXE_l9"))
            .args(["--json", "ir", cmd, "api/openapi.yaml"])
            .current_dir(d)
            .env("L9_MAX_SPEC_BYTES", "1000")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = run("compile");
    let nodes = v["nodes"].as_array().unwrap();
    let pets = nodes.iter().find(|n| n["text"] == "GET /pets").unwrap();
    assert_eq!(pets["interface"]["parameters"][0]["name"], "limit", "{pets}");
    assert_eq!(pets["interface"]["parameters"][0]["schema"], "integer");
    let v = run("check");
    let warnings: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "L9-IR-012")
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].contains("`/etc/hostname` is an absolute path"), "{warnings:?}");
    assert!(
        warnings[1].contains("`b.yaml`")
            && warnings[1].contains("the documents the spec refers to pass 1000 bytes together"),
        "{warnings:?}"
    );
    assert!(warnings[2].contains("big.yaml is 1600 bytes, over the limit of 1000"), "{warnings:?}");
}
