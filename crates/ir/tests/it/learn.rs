//! The learned classifier: deterministic training, the model file, strict
//! leave-one-project-out, and the shipped model.

use l9_ir::classify::{Classifier, Embeddings, Example, SHIPPED_MODEL};
use l9_ir::eval;
use l9_ir::learn::{self, FeatureConfig, Learned, Params};

fn ex(project: &str, text: &str, code: &str) -> Example {
    let csv = format!(
        "ProjectID,RequirementText,class,IsNFR\n{project},\"{text}\",{code},{}\n",
        u8::from(code != "F")
    );
    eval::read_classification("t.csv", &csv).unwrap().remove(0)
}

/// Features of the sentence embedding alone (`dims` wide).
fn dense_only(dims: u32) -> FeatureConfig {
    FeatureConfig {
        words: false,
        bigrams: false,
        char_min: 0,
        char_max: 0,
        lexicon: false,
        prior: false,
        dense: dims,
        ..FeatureConfig::HASHED
    }
}

fn small() -> Vec<Example> {
    let mut v = Vec::new();
    for p in ["1", "2", "3"] {
        v.push(ex(p, &format!("The system shall display the orders of clerk {p}."), "F"));
        v.push(ex(p, &format!("The system shall let a clerk {p} add a customer."), "F"));
        v.push(ex(p, &format!("Pages of shop {p} shall load within 2 seconds."), "PE"));
        v.push(ex(p, &format!("Only authorized users of site {p} shall see payroll data."), "SE"));
        v.push(ex(p, &format!("The interface {p} shall be easy to learn for new users."), "US"));
    }
    v
}

#[test]
fn training_is_deterministic_and_the_file_round_trips() {
    let rows = small();
    let a = Learned::train(&rows, FeatureConfig::HASHED, Params::DEFAULT, "test");
    let b = Learned::train(&rows, FeatureConfig::HASHED, Params::DEFAULT, "test");
    let bytes = learn::to_bytes(&a);
    assert_eq!(bytes, learn::to_bytes(&b), "same data and seed, same model");
    let back = learn::from_bytes(&bytes).unwrap();
    assert_eq!(learn::to_bytes(&back), bytes);
    for e in &rows {
        assert_eq!(a.predict(&e.text, None), back.predict(&e.text, None));
        assert!(back.has_seen(&e.text));
    }
    assert!(!back.has_seen("A sentence it never saw."));
    assert_eq!(back.info.data_hash, learn::data_hash(&rows));
    assert_eq!(back.info.rows, 15);
    assert_eq!(back.info.projects, 3);
    let other = Learned::train(
        &rows,
        FeatureConfig::HASHED,
        Params { seed: 10, ..Params::DEFAULT },
        "test",
    );
    assert_eq!(other.info.params.seed, 10);
}

#[test]
fn a_broken_model_file_is_an_error_not_a_panic() {
    let good =
        learn::to_bytes(&Learned::train(&small(), FeatureConfig::HASHED, Params::DEFAULT, "t"));
    assert!(learn::from_bytes(b"hello").unwrap_err().contains("not an L9 classifier model"));
    for cut in [7, 11, 40, good.len() / 2, good.len() - 1] {
        let e = learn::from_bytes(&good[..cut]).unwrap_err();
        assert!(e.contains("ends early") || e.contains("header"), "{cut}: {e}");
    }
    let mut extra = good.clone();
    extra.push(0);
    assert!(learn::from_bytes(&extra).unwrap_err().contains("unexpected bytes"));
    // Every single-byte corruption either loads or is refused; none panics.
    for at in (0..good.len()).step_by(97) {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        let _ = learn::from_bytes(&bad);
    }
}

/// Ten sentences of project A (functional), the same ten relabelled as security requirements
/// in project B, and other functional sentences in `others`.
fn relabelled(b_project: &str) -> (Vec<Example>, Vec<Example>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..10 {
        let t = format!("The operator shall frobnicate widget number {i} daily.");
        a.push(ex("A", &t, "F"));
        b.push(ex(b_project, &t, "SE"));
    }
    (a, b)
}

fn functional(project: &str) -> Vec<Example> {
    (0..10)
        .map(|i| ex(project, &format!("Users shall be able to print invoice {i}."), "F"))
        .collect()
}

#[test]
fn leave_one_project_out_never_trains_on_the_project_it_scores() {
    // A and B share their texts, so they are left out together: A's fold learns from C alone
    // (all functional) and gets A right; had it seen B, it would call A's sentences security.
    let (a, b) = relabelled("B");
    let rows: Vec<Example> = [a, b, functional("C")].concat();
    let r = eval::learned_lopo(&rows, Params::DEFAULT).unwrap();
    assert_eq!(r.folds.len(), 3);
    let fold = |p: &str| r.folds.iter().find(|f| f.project == p).unwrap();
    assert_eq!(fold("A").functional_f1, 1.0, "{:?}", fold("A"));
    assert_eq!(fold("B").quality_f1, 0.0, "{:?}", fold("B"));
    // The confusion matrix counts every row once.
    let total: u32 = r.confusion.iter().flatten().sum();
    assert_eq!(total, 30);
    assert_eq!(r.classes[0], "F");
    assert!(eval::learned_lopo(&rows[..1], Params::DEFAULT).is_none(), "one project: no LOPO");
}

#[test]
fn pooled_folds_leave_out_the_same_document_in_another_file() {
    // File 1: A and C; file 2: B (A relabelled, under another project name) and D. A's fold
    // trains on C and D only: B is the same document.
    let (a, b) = relabelled("P7");
    let one: Vec<Example> = [a, functional("C")].concat();
    let two: Vec<Example> = [b, functional("D")].concat();
    let r = eval::learned_lopo_pooled(&[&one, &two], 0, Params::DEFAULT).unwrap();
    assert_eq!(r.folds.len(), 2, "the target file's projects");
    let a = r.folds.iter().find(|f| f.project == "A").unwrap();
    assert_eq!(a.functional_f1, 1.0, "{a:?}");
    assert!(r.scores.model.contains("all 2 files"), "{}", r.scores.model);
    // Scored on file 2, its B fold leaves A out: nothing else calls these sentences security.
    let r = eval::learned_lopo_pooled(&[&one, &two], 1, Params::DEFAULT).unwrap();
    let b = r.folds.iter().find(|f| f.project == "P7").unwrap();
    assert_eq!(b.quality_f1, 0.0, "{b:?}");
}

#[test]
fn the_shipped_model_loads_and_is_the_default() {
    let m = learn::from_bytes(SHIPPED_MODEL).expect("the embedded model file loads");
    assert!(m.info.trained_by.starts_with("l9 eval train"), "{}", m.info.trained_by);
    assert_eq!(m.info.data_hash.len(), 64);
    let c = Classifier::default();
    assert!(c.model().is_some());
    assert!(c.describe().starts_with("learned: "), "{}", c.describe());
    let k = c.classify("The p99 latency of a save MUST be at most 20 ms.");
    assert_eq!(k.category.map(|q| q.code()), Some("PE"), "{k:?}");
    assert!(!k.features.is_empty());
    let f = c.classify("The system shall print an invoice for each order.");
    assert_eq!(f.class, l9_ir::ReqClass::Functional, "{f:?}");
    // The IR says which classifier labelled it.
    let ir =
        l9_ir::compile("s.md", "# S\n\n- The service MUST respond within 2 seconds.\n", None).ir;
    assert!(ir.classifier.as_deref().unwrap_or("").starts_with("learned: "));
    // The MiniLM model: the same data, with 384-d sentence embeddings, used only with them.
    let mini = learn::from_bytes(l9_ir::classify::SHIPPED_MINILM_MODEL).expect("it loads");
    assert_eq!(mini.info.features.dense, 384);
    assert_eq!(mini.info.data_hash, m.info.data_hash, "trained on the same rows");
    assert!(mini.info.trained_by.contains("--embeddings"), "{}", mini.info.trained_by);
    assert!(!Classifier::default().uses_embeddings());
}

#[test]
fn embeddings_join_the_candidates_only_when_every_row_has_one() {
    let mut rows = small();
    assert!(eval::candidates(&rows).iter().all(|c| c.dense == 0));
    // A toy embedding that separates the classes: training on it alone is learnable.
    for e in rows.iter_mut() {
        e.dense = Some(if e.quality { vec![1.0, 0.0, 0.2] } else { vec![0.0, 1.0, 0.2] });
    }
    let cands = eval::candidates(&rows);
    assert!(cands.iter().all(|c| c.dense == 3), "{cands:?}");
    let cfg = dense_only(cands[0].dense);
    let m = Learned::train(&rows, cfg, Params::DEFAULT, "t");
    for e in &rows {
        assert_eq!(m.predict(&e.text, e.dense.as_deref()).index != 0, e.quality, "{}", e.text);
    }
    let back = learn::from_bytes(&learn::to_bytes(&m)).unwrap();
    assert_eq!(back.info.features.dense, 3);
    rows[0].dense = None;
    assert!(eval::candidates(&rows).iter().all(|c| c.dense == 0), "one row without: none");
}

/// A toy embedder keyed on words the texts share: "fast" sentences are quality, others not.
fn toy_embeddings(calls: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Embeddings {
    Embeddings::new("toy", move |texts: &[String]| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(texts
            .iter()
            .map(|t| if t.contains("fast") { vec![1.0, 0.0, 0.2] } else { vec![0.0, 1.0, 0.2] })
            .collect())
    })
}

#[test]
fn a_compile_classifies_with_sentence_embeddings_when_the_model_has_them() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Rows whose words say nothing of their class; only the embedding does.
    let mut rows = Vec::new();
    for p in ["1", "2", "3"] {
        for (i, quality) in [(1, true), (2, false), (3, true), (4, false)] {
            let mut e =
                ex(p, &format!("Widget {p}{i} shall work."), if quality { "PE" } else { "F" });
            e.dense = Some(if quality { vec![1.0, 0.0, 0.2] } else { vec![0.0, 1.0, 0.2] });
            rows.push(e);
        }
    }
    let cfg = dense_only(3);
    let model = Arc::new(Learned::train(&rows, cfg, Params::DEFAULT, "t"));
    assert!(
        Classifier::learned_with(
            Arc::new(Learned::train(&small(), FeatureConfig::HASHED, Params::DEFAULT, "t")),
            toy_embeddings(Arc::default())
        )
        .is_err()
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Classifier::learned_with(model.clone(), toy_embeddings(calls.clone())).unwrap();
    assert!(c.uses_embeddings());
    let spec =
        "# S\n\n- The cache MUST be fast.\n- The gadget MUST be blue.\n- The page MUST be fast.\n";
    let compiled = l9_ir::compile_with("s.md", spec, None, &c);
    let classes: Vec<_> = compiled
        .ir
        .nodes
        .iter()
        .filter(|n| n.kind == l9_ir::NodeKind::Requirement)
        .map(|n| n.class.clone().unwrap())
        .collect();
    assert_eq!(classes.len(), 3);
    assert_eq!(
        classes.iter().map(|k| k.class).collect::<Vec<_>>(),
        [l9_ir::ReqClass::Quality, l9_ir::ReqClass::Functional, l9_ir::ReqClass::Quality]
    );
    assert!(classes[0].features.iter().any(|f| f == "sentence embedding"), "{classes:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one embedder call for the whole spec");
    let by = compiled.ir.classifier.unwrap();
    assert!(by.contains("3-d sentence embedding by toy"), "{by}");
    assert!(!compiled.diagnostics.iter().any(|d| d.code == "L9-IR-041"));

    // An embedder that fails: the shipped model classifies, and a warning says why.
    let broken = Embeddings::new("broken", |_: &[String]| Err("no model files".to_string()));
    let c = Classifier::learned_with(model.clone(), broken).unwrap();
    let compiled = l9_ir::compile_with("s.md", spec, None, &c);
    let w = compiled.diagnostics.iter().find(|d| d.code == "L9-IR-041").expect("a warning");
    assert!(w.message.contains("no model files"), "{}", w.message);
    assert_eq!(compiled.ir.classifier, Some(Classifier::default().describe()));
    // Vectors of the wrong width are refused the same way.
    let wide = Embeddings::new("wide", |t: &[String]| Ok(vec![vec![0.0; 5]; t.len()]));
    let c = Classifier::learned_with(model, wide).unwrap();
    let compiled = l9_ir::compile_with("s.md", spec, None, &c);
    assert!(
        compiled.diagnostics.iter().any(|d| d.code == "L9-IR-041" && d.message.contains("5-d"))
    );
}

/// With `binary_prior` the functional-or-quality head learns a bias only: texts that differ in
/// words the lexicon has no cue for get the same quality probability (a model whose binary
/// head learns from the words tells them apart), the categories still learn from the words,
/// and the file keeps the choice.
#[test]
fn a_binary_prior_model_decides_functional_or_quality_by_the_lexicon_alone() {
    let rows = small();
    let words = FeatureConfig { char_min: 0, char_max: 0, ..FeatureConfig::HASHED };
    let cfg = FeatureConfig { binary_prior: true, ..words };
    assert!(eval::candidates(&rows).contains(&cfg), "a candidate of the selection");
    let m = Learned::train(&rows, cfg, Params::DEFAULT, "t");
    let full = Learned::train(&rows, words, Params::DEFAULT, "t");
    let (a, b) = ("The clerk shall see the orders.", "The clerk shall see the payroll.");
    assert_eq!(m.predict(a, None).quality, m.predict(b, None).quality);
    assert_ne!(full.predict(a, None).quality, full.predict(b, None).quality);
    let cat = |t: &str| m.predict(t, None).category;
    assert_ne!(cat("Pages of shop 9 shall load"), cat("Only authorized users shall see payroll"));
    let back = learn::from_bytes(&learn::to_bytes(&m)).unwrap();
    assert!(back.info.features.binary_prior);
    assert_eq!(back.predict(a, None), m.predict(a, None));
    // A model without the choice writes no trace of it (the shipped files keep their bytes).
    let plain = String::from_utf8_lossy(&learn::to_bytes(&full)).into_owned();
    assert!(!plain.contains("binary_prior"));
}
