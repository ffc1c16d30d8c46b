use super::*;

#[test]
fn words_split_possessives_and_fold_numbers() {
    let t: Vec<String> =
        tokens("The user's 3 well-known items- doesn't").into_iter().map(|t| t.w).collect();
    assert_eq!(t, ["the", "user", "'s", "<num>", "well-known", "items", "doesn't"]);
}

/// The hits found by the word they overlap are the hits a walk over all of them finds
/// for that word, in the same order: phrases over several words, words over several
/// hits, possessives, hyphens, words with no hit.
#[test]
fn hits_by_word_are_the_hits_overlapping_the_word() {
    let texts = [
        "The system should be easy to use, user friendly and fast as far as possible.",
        "It's the user's job: they can't, won't and don't; TBD (todo) - to be determined.",
        "A state-of-the-art, high quality, cost-effective tool; some, many, few of them.",
        "",
        "no smells here at all?",
        // A hit ending where the next word begins.
        "if needed's part, as far as's",
    ];
    let mut seen = 0;
    for text in texts {
        let toks = tokens(text);
        let hits = smells::detect(text);
        let listed = Listed::new(&toks, hits.clone());
        for t in &toks {
            let walk: Vec<&Hit> = hits.iter().filter(|h| h.start < t.e && t.s < h.end).collect();
            assert_eq!(listed.on(t).collect::<Vec<_>>(), walk, "{text}: {}", t.w);
            seen += walk.len();
        }
    }
    assert!(seen > 20, "{seen}");
}

/// Featurising a window of words at a time finds what featurising the whole text finds (the
/// former way, kept here as the oracle): texts of several windows, every scheme, words marked
/// across the windows' edges.
#[test]
fn detection_by_windows_is_detection_of_the_whole_text() {
    let tagger = shipped().expect("models/smells.l9sml is a valid tagger");
    let sentences = [
        "The system should be easy to use and user friendly",
        "it may respond quickly if possible, and some of them can't fail",
        "TBD: the many items it keeps are as fast as possible",
    ];
    let mut schemes: Vec<Option<&str>> =
        tagger.info.heads.iter().map(|h| Some(h.scheme.as_str())).collect();
    schemes.dedup();
    schemes.push(None);
    let mut compared = 0;
    for (k, words) in [(0, 10), (1, WINDOW - 2), (2, 2 * WINDOW + 7)] {
        let mut text = String::new();
        let mut n = 0;
        while n < words {
            let s = sentences[(n / 7 + k) % sentences.len()];
            text.push_str(s);
            text.push_str(if n % 3 == 0 { ". " } else { " " });
            n += s.split_whitespace().count();
        }
        for &scheme in &schemes {
            let sc = tagger.resolve(scheme);
            let (toks, xs, lex) = featurise(&text);
            let mut want: Vec<Hit> =
                lex.hits.iter().filter(|h| !tagger.covers(h.smell, scheme)).cloned().collect();
            for (info, head) in tagger.info.heads.iter().zip(&tagger.heads) {
                if Some(info.scheme.as_str()) != sc {
                    continue;
                }
                let mut ranges: Vec<(usize, usize)> = Vec::new();
                for (t, x) in toks.iter().zip(&xs) {
                    if word_probability(info, head, &lex, t, x) >= info.threshold {
                        let phrase = lex
                            .on(t)
                            .find(|h| h.smell == info.smell)
                            .map_or((t.s, t.e), |h| (h.start.min(t.s), h.end.max(t.e)));
                        match ranges.last_mut() {
                            Some(last) if phrase.0 < last.1 => last.1 = last.1.max(phrase.1),
                            _ => ranges.push(phrase),
                        }
                    }
                }
                want.extend(ranges.into_iter().map(|(a, b)| Hit {
                    smell: info.smell,
                    start: a,
                    end: b,
                    words: text[a..b].to_string(),
                }));
            }
            want.sort_by_key(|h| (h.start, h.smell));
            let got = tagger.detect_in_scheme(&text, &Smell::ALL, scheme);
            assert_eq!(got, want, "{words} words, scheme {scheme:?}");
            compared += got.len();
        }
    }
    assert!(compared > 1000, "{compared}");
}

/// The former way of naming a word's features, kept as the oracle of the hashed names.
fn named_features(text: &str, toks: &[Tok], lexicon: &Listed, i: usize) -> Vec<String> {
    let at = |i: isize| -> &str {
        if i < 0 { "<s>" } else { toks.get(i as usize).map_or("</s>", |t| t.w.as_str()) }
    };
    let t = &toks[i];
    let i = i as isize;
    let w = t.w.as_str();
    let mut f = vec![
        format!("w:{w}"),
        format!("p:{}", at(i - 1)),
        format!("n:{}", at(i + 1)),
        format!("p2:{}", at(i - 2)),
        format!("n2:{}", at(i + 2)),
        format!("pw:{} {w}", at(i - 1)),
        format!("wn:{w} {}", at(i + 1)),
        "bias".to_string(),
    ];
    let letters: Vec<char> = w.chars().collect();
    if letters.len() >= 5 {
        f.push(format!("s3:{}", letters[letters.len() - 3..].iter().collect::<String>()));
    }
    let raw = &text[t.s..t.e];
    if raw.chars().count() > 1 && raw.chars().all(|c| !c.is_lowercase()) {
        f.push("shape:caps".into());
    } else if i > 0 && raw.starts_with(char::is_uppercase) {
        f.push("shape:capitalised".into());
    }
    if i == 0 {
        f.push("shape:first".into());
    }
    for h in lexicon.on(t) {
        f.push(format!("x:{}", h.smell.code()));
        if h.words.contains(' ') {
            f.push(format!("xp:{}", h.smell.code()));
        }
    }
    f
}

/// Each word's features are hashed from their parts to what hashing the joined names gives
/// (the shipped tagger's weights are keyed by those hashes): short and long words, words of
/// several-byte letters, capitals, phrases from the word lists, numbers, texts of one word.
#[test]
fn hashed_names_are_the_hashes_of_the_joined_names() {
    let texts = [
        "The system should be easy to use, user friendly and fast as far as possible.",
        "ÉTÉ naïve Größe ÜBER Straße: the API shall NOT be slow; it's TBD.",
        "A",
        "x y",
        "Wherever applicable, the operator's 30 consoles shall be user-friendly.",
        "日本語のテキスト and emoji 🙂 words, also CAPS and Capitalised Words inside.",
    ];
    let mut words = 0;
    let mut hashes = Vec::new();
    for text in texts {
        let toks = tokens(text);
        let lex = Listed::new(&toks, smells::detect(text));
        for i in 0..toks.len() {
            word_feature_hashes(text, &toks, &lex, i, &mut hashes);
            let names = named_features(text, &toks, &lex, i);
            let oracle: Vec<u64> = names.iter().map(|n| fnv(n.as_bytes())).collect();
            assert_eq!(hashes, oracle, "{text}: word {i} {names:?}");
            words += 1;
        }
    }
    assert!(words >= 50, "{words}");
}

/// A listed word starts from its own rate among its scheme's rows, smoothed towards the whole
/// list's rate: a word the annotators never mark starts low, one they always mark high, one
/// seen once near the list's rate; words off the list get no prior of their own.
#[test]
fn listed_words_start_from_their_own_smoothed_odds() {
    let row = |text: &str, marked: &[&str]| SmellRow {
        text: text.into(),
        project: "p".into(),
        scheme: "a".into(),
        labels: [(Smell::VaguePronoun, !marked.is_empty())].into(),
        words: [(Smell::VaguePronoun, marked.iter().map(|w| w.to_string()).collect())].into(),
    };
    let mut rows = Vec::new();
    for i in 0..30 {
        rows.push(row(&format!("Report {i} MUST show this value."), &["this"]));
        rows.push(row(&format!("Unit {i} MUST log its state."), &[]));
    }
    rows.push(row("The radio MUST keep them.", &[]));
    let feats: Vec<Featurised> = rows.iter().map(|r| featurise(&r.text)).collect();
    let on: Vec<usize> = (0..rows.len()).collect();
    let odds = |p: f32| (p / (1.0 - p)).ln();
    let f = fit::fit(&rows, &feats, &on, Smell::VaguePronoun, &Params::DEFAULT).unwrap();
    let (priors, listed) = (&f.info.word_priors, f.info.listed);
    // "its": 0 of 30; "this": 30 of 30; "them": 0 of 1, near the list's odds (30 of 61).
    assert!(priors["its"] < odds(0.1), "{priors:?}");
    assert!(priors["this"] > odds(0.9), "{priors:?}");
    assert!(priors["them"] > odds(0.3) && priors["them"] < listed, "{priors:?} {listed}");
    assert!(!priors.contains_key("report") && !priors.contains_key("unit"), "{priors:?}");
    // Only the rows given count: without the "its" rows it has no prior of its own.
    let some: Vec<usize> = on.iter().copied().filter(|i| i % 2 == 0).collect();
    let fewer = fit::fit(&rows, &feats, &some, Smell::VaguePronoun, &Params::DEFAULT).unwrap();
    let fewer = &fewer.info.word_priors;
    assert!(!fewer.contains_key("its") && fewer.contains_key("this"), "{fewer:?}");
}
