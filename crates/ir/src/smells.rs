//! Requirement smells (ISO/IEC/IEEE 29148 §5.2.7, Femmer et al. 2017, the ARTA catalogue):
//! each detector is a list of words and phrases, matched as whole words, case-insensitively.
//! A hit keeps its byte range so the challenger can point at the offending words.

use crate::text;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Smell {
    Subjective,
    Ambiguous,
    Loophole,
    NonVerifiable,
    Superlative,
    Comparative,
    Negative,
    VaguePronoun,
    UncertainVerb,
    Polysemy,
    Tbd,
}

impl Smell {
    pub const ALL: [Smell; 11] = [
        Smell::Subjective,
        Smell::Ambiguous,
        Smell::Loophole,
        Smell::NonVerifiable,
        Smell::Superlative,
        Smell::Comparative,
        Smell::Negative,
        Smell::VaguePronoun,
        Smell::UncertainVerb,
        Smell::Polysemy,
        Smell::Tbd,
    ];

    /// Stable finding code.
    pub fn code(self) -> &'static str {
        match self {
            Smell::Subjective => "L9-SMELL-001",
            Smell::Ambiguous => "L9-SMELL-002",
            Smell::Loophole => "L9-SMELL-003",
            Smell::NonVerifiable => "L9-SMELL-004",
            Smell::Superlative => "L9-SMELL-005",
            Smell::Comparative => "L9-SMELL-006",
            Smell::Negative => "L9-SMELL-007",
            Smell::VaguePronoun => "L9-SMELL-008",
            Smell::UncertainVerb => "L9-SMELL-009",
            Smell::Polysemy => "L9-SMELL-010",
            Smell::Tbd => "L9-SMELL-011",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Smell::Subjective => "subjective language",
            Smell::Ambiguous => "ambiguous adverb or adjective",
            Smell::Loophole => "loophole",
            Smell::NonVerifiable => "non-verifiable term",
            Smell::Superlative => "superlative",
            Smell::Comparative => "comparative",
            Smell::Negative => "negative statement",
            Smell::VaguePronoun => "vague pronoun",
            Smell::UncertainVerb => "uncertain verb",
            Smell::Polysemy => "polysemy",
            Smell::Tbd => "TBD",
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            Smell::Subjective => {
                "replace the judgement with something a test can check (a number, a named standard, a user task and its success rate)"
            }
            Smell::Ambiguous => "replace the vague qualifier with a measurable value or range",
            Smell::Loophole => {
                "decide: either the requirement holds or it names the exact condition under which it does not"
            }
            Smell::NonVerifiable => "say what exactly is provided and how a tester confirms it",
            Smell::Superlative => "state the required level instead of 'best' or 'most'",
            Smell::Comparative => "say compared with what, and by how much",
            Smell::Negative => {
                "state what the system does instead of what it does not, or bound the negative precisely"
            }
            Smell::VaguePronoun => "name the thing the pronoun refers to",
            Smell::UncertainVerb => {
                "use MUST/SHALL for obligations; move options to an explicit MAY"
            }
            Smell::Polysemy => "use one term with one meaning, defined in a glossary",
            Smell::Tbd => "resolve the open item or turn it into a question with an owner",
        }
    }

    /// Words and phrases (lower case). A trailing `*` matches any ending.
    fn lexicon(self) -> &'static [&'static str] {
        match self {
            Smell::Subjective => &[
                "user friendly",
                "user-friendly",
                "friendly",
                "easy",
                "easily",
                "easy to use",
                "simple",
                "simply",
                "fast",
                "normal",
                "professional",
                "appealing",
                "suitable",
                "attractive",
                "nice",
                "good",
                "understandable",
                "intuitive",
                "intuitively",
                "efficient",
                "efficiently",
                "effective",
                "convenient",
                "powerful",
                "seamless",
                "seamlessly",
                "robust",
                "cost effective",
                "cost-effective",
                "high quality",
                "satisfied",
                "pleasant",
                "elegant",
                "modern",
                "distinctive",
                "simplest",
                "easier",
                "rugged",
                "readable",
                "usable",
                "comfortable",
                "smooth",
                "smoothly",
                "state of the art",
            ],
            Smell::Ambiguous => &[
                "some",
                "several",
                "many",
                "few",
                "various",
                "significant",
                "significantly",
                "minimal",
                "almost",
                "approximately",
                "about",
                "roughly",
                "nearly",
                "usually",
                "generally",
                "typically",
                "often",
                "sometimes",
                "occasionally",
                "frequently",
                "rarely",
                "relatively",
                "reasonably",
                "sufficiently",
                "adequately",
                "appropriately",
                "properly",
                "correctly",
                "quickly",
                "slowly",
                "timely",
                "soon",
                "recent",
                "recently",
                "currently",
                "high",
                "low",
                "medium",
                "large",
                "small",
                "long",
                "short",
                "capable",
                "possible",
                "direct",
                "necessary",
                "common",
                "general",
                "specific",
                "similar",
                "particularly",
                "automatically",
                "accidental",
                "atleast",
                "minimum",
                "maximum",
                "actually",
                "freely",
                "rather",
                "detailed",
                "available",
                "additional",
                "full",
                "successful",
                "logical",
                "different",
                "external",
                "mobile",
                "national",
                "long-term",
                "much",
                "easily",
            ],
            Smell::Loophole => &[
                "if possible",
                "as possible",
                "where possible",
                "when possible",
                "as appropriate",
                "if appropriate",
                "where appropriate",
                "as applicable",
                "if applicable",
                "where applicable",
                "if necessary",
                "as necessary",
                "when necessary",
                "where necessary",
                "if needed",
                "as needed",
                "when needed",
                "to the extent",
                "optionally",
                "optional",
                "unless otherwise",
                "preferably",
                "if practical",
                "where practical",
                "minimize",
                "minimise",
                "maximize",
                "maximise",
                "as far as",
                "as required",
                "as desired",
                "minimum",
                "maximum",
                "most",
                "best",
                "full",
            ],
            Smell::NonVerifiable => &[
                "support",
                "supports",
                "supported",
                "supporting",
                "provide support",
                "but not limited to",
                "and so on",
                "etc",
                "as a minimum",
                "sufficient",
                "sufficiently",
                "adequate",
                "adequately",
                "appropriate",
                "appropriately",
                "suitable",
                "improve",
                "improved",
                "enhance",
                "enhanced",
                "optimize",
                "optimise",
                "optimal",
                "indication",
                "details",
                "detail",
                "acceptable",
                "complete",
                "full",
                "fully",
                "well",
                "rather",
                "quite",
                "fairly",
                "average",
                "reliable",
                "capable",
                "multiple",
                "many",
                "additional",
                "information",
                "competent",
                "satisfaction",
                "readable",
                "understandable",
                "robust",
                "flexible",
                "maximum",
                "minimum",
            ],
            Smell::Superlative => &[
                "best",
                "most",
                "least",
                "highest",
                "lowest",
                "largest",
                "smallest",
                "fastest",
                "slowest",
                "greatest",
                "worst",
                "longest",
                "shortest",
                "nearest",
                "simplest",
                "easiest",
                "optimal",
                "ultimate",
                "maximum",
                "biggest",
                "strongest",
                "newest",
                "latest",
            ],
            Smell::Comparative => &[
                "more",
                "less",
                "fewer",
                "better",
                "worse",
                "higher",
                "lower",
                "greater",
                "larger",
                "smaller",
                "longer",
                "shorter",
                "faster",
                "slower",
                "earlier",
                "bigger",
                "easier",
                "friendlier",
                "cheaper",
                "stronger",
                "weaker",
            ],
            Smell::Negative => &[
                "not",
                "no",
                "never",
                "none",
                "neither",
                "nor",
                "without",
                "cannot",
                "can't",
                "won't",
                "don't",
                "doesn't",
                "isn't",
                "aren't",
                "shouldn't",
                "mustn't",
                "nothing",
                "nobody",
                "unable",
                "non",
            ],
            Smell::VaguePronoun => &[
                "it", "its", "this", "that", "these", "those", "they", "them", "their", "which",
                "such", "other", "another", "who", "what", "whose", "all", "any", "each", "one",
                "either",
            ],
            Smell::UncertainVerb => &[
                "may", "might", "could", "can", "should", "would", "possibly", "perhaps",
                "probably",
            ],
            Smell::Polysemy => &[
                "call",
                "calls",
                "called",
                "calling",
                "following",
                "function",
                "functional",
                "functions",
                "action",
                "actions",
                "set",
                "sets",
                "type",
                "types",
                "means",
                "mean",
                "direct",
                "store",
                "fixed",
                "point",
                "points",
                "power",
                "run",
                "runs",
                "record",
                "records",
                "key",
                "table",
                "form",
                "case",
                "state",
                "service",
                "applications",
                "account",
                "charge",
                "check",
                "close",
                "cover",
                "issue",
                "lines",
                "mark",
                "open",
                "post",
                "right",
                "rule",
                "sign",
                "track",
                "value",
                "work",
                "party",
                "unit",
                "mode",
                "channel",
                "number",
                "area",
                "group",
                "display",
                "system",
                "process",
                "release",
                "report",
                "object",
                "class",
                "instance",
                "interface",
                "model",
                "command",
                "message",
            ],
            Smell::Tbd => &[
                "tbd",
                "tbs",
                "tbr",
                "tba",
                "tbc",
                "todo",
                "to do",
                "fixme",
                "xxx",
                "to be determined",
                "to be defined",
                "to be decided",
                "to be confirmed",
                "to be specified",
                "to be supplied",
                "???",
            ],
        }
    }
}

/// A requirement with, per smell column present in its file, whether experts marked it and
/// the words they marked (ARTA data sets: `word*other words*…`, `-` for none).
#[derive(Debug, Clone)]
pub struct SmellRow {
    pub text: String,
    /// The project or document the requirement comes from (the file column).
    pub project: String,
    /// The labelling scheme: the file's smell column headers as written (data sets labelled
    /// by different people under different guides spell them differently).
    pub scheme: String,
    pub labels: std::collections::BTreeMap<Smell, bool>,
    pub words: std::collections::BTreeMap<Smell, Vec<String>>,
}

/// One smell occurrence: byte range in the analysed text and the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub smell: Smell,
    pub start: usize,
    pub end: usize,
    pub words: String,
}

/// Every smell in `text`, in order of position.
pub fn detect(text: &str) -> Vec<Hit> {
    detect_only(text, &Smell::ALL)
}

pub fn detect_only(text: &str, which: &[Smell]) -> Vec<Hit> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        // Case mapping changed byte lengths (rare scripts): match on the original text.
        return detect_in(text, text, which);
    }
    detect_in(text, &lower, which)
}

/// Each smell's phrases are matched in order, longest first ("easy to use" wins over "easy"),
/// and a phrase occurrence overlapping one already taken for the same smell is skipped.
/// Single words are looked up once per word of the text in [`index`] (not once per phrase);
/// phrases with spaces or punctuation are searched for when their first run of letters and
/// digits occurs in the text.
fn detect_in(original: &str, lower: &str, which: &[Smell]) -> Vec<Hit> {
    let idx = index();
    // Per smell of `which`: (rank of the phrase in its sorted lexicon, start, end).
    let mut found: Vec<Vec<(usize, usize, usize)>> = vec![Vec::new(); Smell::ALL.len()];
    let wanted: Vec<bool> = Smell::ALL.iter().map(|s| which.contains(s)).collect();
    for (s, e) in text::words(lower) {
        for &(smell, rank) in idx.words.get(&lower[s..e]).map_or(&[][..], Vec::as_slice) {
            if wanted[smell] {
                found[smell].push((rank, s, e));
            }
        }
    }
    let mut runs: Option<std::collections::HashSet<&str>> = None;
    for (smell, scanned) in idx.scanned.iter().enumerate() {
        if !wanted[smell] {
            continue;
        }
        for &(rank, phrase) in scanned {
            // A phrase found as whole words begins with a maximal run of letters and digits of
            // the text: a phrase whose first run is not one of them is not there (no scan).
            let first = phrase.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("");
            let runs = runs.get_or_insert_with(|| {
                lower.split(|c: char| !c.is_alphanumeric()).filter(|r| !r.is_empty()).collect()
            });
            if !first.is_empty() && !runs.contains(first) {
                continue;
            }
            found[smell].extend(scan(lower, phrase).into_iter().map(|(s, e)| (rank, s, e)));
        }
    }
    let mut hits = Vec::new();
    for (i, mut cands) in found.into_iter().enumerate() {
        let smell = Smell::ALL[i];
        // Phrase order, then position: what the phrase-by-phrase scan visits.
        cands.sort_unstable();
        // Taken ranges by start; they never overlap, so the one starting last before `e` is
        // the only one that can reach past `s`.
        let mut taken: std::collections::BTreeMap<usize, usize> = Default::default();
        for (_, s, e) in cands {
            if taken.range(..e).next_back().is_some_and(|(_, &b)| b > s) {
                continue;
            }
            if !context_ok(smell, original, lower, s, e) {
                continue;
            }
            taken.insert(s, e);
            hits.push(Hit { smell, start: s, end: e, words: original[s..e].to_string() });
        }
    }
    hits.sort_by_key(|h| (h.start, h.smell));
    hits
}

/// The lexicons, indexed once: single words (letters, digits, hyphens) by the word, with the
/// smell and the phrase's rank in its smell's lexicon sorted longest first; per smell, the
/// other phrases with their rank.
struct Index {
    words: foldhash::HashMap<&'static str, Vec<(usize, usize)>>,
    scanned: Vec<Vec<(usize, &'static str)>>,
}

fn index() -> &'static Index {
    static INDEX: std::sync::LazyLock<Index> = std::sync::LazyLock::new(|| {
        let mut words: foldhash::HashMap<&'static str, Vec<(usize, usize)>> = Default::default();
        let mut scanned = vec![Vec::new(); Smell::ALL.len()];
        for (i, smell) in Smell::ALL.iter().enumerate() {
            for (rank, &phrase) in sorted_lexicon(*smell).iter().enumerate() {
                if is_word(phrase) {
                    words.entry(phrase).or_default().push((i, rank));
                } else {
                    scanned[i].push((rank, phrase));
                }
            }
        }
        Index { words, scanned }
    });
    &INDEX
}

/// A phrase the word splitter returns whole: letters, digits and hyphens.
fn is_word(phrase: &str) -> bool {
    !phrase.contains(|c: char| !c.is_alphanumeric() && c != '-')
}

/// Each smell's lexicon, longest phrase first, sorted once.
fn sorted_lexicon(smell: Smell) -> &'static [&'static str] {
    static SORTED: std::sync::LazyLock<Vec<Vec<&'static str>>> = std::sync::LazyLock::new(|| {
        Smell::ALL
            .iter()
            .map(|s| {
                let mut lex = s.lexicon().to_vec();
                lex.sort_by_key(|p| std::cmp::Reverse(p.len()));
                lex
            })
            .collect()
    });
    let i = Smell::ALL.iter().position(|s| *s == smell).unwrap_or(0);
    SORTED.get(i).map_or(&[], Vec::as_slice)
}

/// Each whole-word occurrence of `phrase`, left to right.
fn scan(lower: &str, phrase: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = text::find_word(&lower[from..], phrase, true) {
        out.push((from + p, from + p + phrase.len()));
        from += p + phrase.len();
    }
    out
}

/// Context rules that remove the commonest false alarms.
fn context_ok(smell: Smell, original: &str, lower: &str, s: usize, e: usize) -> bool {
    let before = lower[..s].trim_end();
    let after = lower[e..].trim_start();
    match smell {
        // "todo" and "to do" are open items only as markers — `TODO`, `todo:`, `(todo)`, at
        // the end — not as a product noun ("a todo list", "each todo") or a verb ("to do X").
        Smell::Tbd if matches!(&lower[s..e], "todo" | "to do") => {
            let written = original.get(s..e).unwrap_or("");
            written.chars().all(|c| !c.is_lowercase())
                || after.is_empty()
                || after.starts_with([':', ')', ']', '-'])
                || before.ends_with(['(', '['])
        }
        // "that" introducing a clause after a verb of saying is not a pronoun: "ensure that".
        Smell::VaguePronoun if &lower[s..e] == "that" => {
            !(before.ends_with("ensure")
                || before.ends_with("such")
                || before.ends_with("so")
                || before.ends_with("verify")
                || before.ends_with("indicate"))
        }
        // "can" in "can be" inside a MUST sentence is still uncertain; keep. "will" only when
        // it is the main modal of a requirement sentence ("the system will").
        Smell::UncertainVerb if &lower[s..e] == "will" => {
            !before.ends_with("user") && !after.starts_with("be able")
        }
        Smell::Negative if &lower[s..e] == "no" => {
            !after.starts_with('.') && !before.ends_with("yes/")
        }
        Smell::Comparative if &lower[s..e] == "than" => {
            // "than" alone is counted only when no comparative word precedes it (that one counts).
            ![
                "more", "less", "better", "worse", "greater", "fewer", "higher", "lower", "larger",
                "smaller", "longer", "shorter", "faster", "slower",
            ]
            .iter()
            .any(|w| before.ends_with(w))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phrase-by-phrase scan the index replaced: every phrase of every lexicon, longest
    /// first, searched for in the whole text.
    fn detect_by_scan(original: &str, lower: &str, which: &[Smell]) -> Vec<Hit> {
        let mut by_word: foldhash::HashMap<&str, Vec<(usize, usize)>> =
            foldhash::HashMap::default();
        for (s, e) in text::words(lower) {
            by_word.entry(&lower[s..e]).or_default().push((s, e));
        }
        let mut hits = Vec::new();
        for &smell in which {
            let mut taken: Vec<(usize, usize)> = Vec::new();
            for &phrase in sorted_lexicon(smell) {
                let occurrences = if is_word(phrase) {
                    by_word.get(phrase).cloned().unwrap_or_default()
                } else {
                    scan(lower, phrase)
                };
                for (s, e) in occurrences {
                    if taken.iter().any(|&(a, b)| s < b && a < e)
                        || !context_ok(smell, original, lower, s, e)
                    {
                        continue;
                    }
                    taken.push((s, e));
                    hits.push(Hit { smell, start: s, end: e, words: original[s..e].to_string() });
                }
            }
        }
        hits.sort_by_key(|h| (h.start, h.smell));
        hits
    }

    /// The index finds what a full scan finds: every phrase of every lexicon, in sentences,
    /// glued to other words, hyphenated, bracketed, at either end, in capitals, overlapping
    /// ("easy to use" and "easy", "as far as possible"), for all smells and for one.
    #[test]
    fn the_index_finds_what_a_full_scan_finds() {
        let mut texts = Vec::new();
        for smell in Smell::ALL {
            for phrase in smell.lexicon() {
                for t in [
                    format!("The system {phrase} works."),
                    format!("pre-{phrase}-post"),
                    format!("x{phrase}y and {phrase}"),
                    format!("({phrase})"),
                    phrase.to_string(),
                    format!("It's {}, TODO: {phrase}'s part", phrase.to_uppercase()),
                    format!("a_{phrase} {phrase}_b 1{phrase}2"),
                    format!("easy to use {phrase} easy, to be determined to do {phrase} it"),
                    // A shorter phrase starting first, overlapped by a longer one: the longer
                    // wins ("as possible" over "as far as").
                    format!("as far as possible {phrase} as far as {phrase}"),
                ] {
                    texts.push(t);
                }
            }
        }
        assert!(texts.len() > 500, "{}", texts.len());
        let mut found = 0;
        for t in &texts {
            let lower = t.to_lowercase();
            let (orig, low) = if lower.len() == t.len() {
                (t.as_str(), lower.as_str())
            } else {
                (t.as_str(), t.as_str())
            };
            let fast = detect_in(orig, low, &Smell::ALL);
            assert_eq!(fast, detect_by_scan(orig, low, &Smell::ALL), "{t}");
            for one in [Smell::Subjective, Smell::Loophole, Smell::Tbd, Smell::VaguePronoun] {
                let only = detect_in(orig, low, &[one]);
                assert_eq!(only, detect_by_scan(orig, low, &[one]), "{t}");
                // Each smell is matched on its own (the tagger filters one pass over all).
                let all_kept: Vec<Hit> = fast.iter().filter(|h| h.smell == one).cloned().collect();
                assert_eq!(only, all_kept, "{t}");
            }
            found += fast.len();
        }
        assert!(found > texts.len(), "the texts hold smells: {found}");
    }
}
