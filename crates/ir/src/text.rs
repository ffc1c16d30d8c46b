//! Text helpers shared by every front end: byte offsets → line/column, sentence splitting,
//! words and content terms, RFC 2119 strength, document ids like `REQ-12`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use l9_types::Span;
use regex::Regex;

use crate::model::Strength;

/// Maps byte offsets of one source to 1-based line and column (columns count characters).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex<'a> {
    file: &'a str,
    text: &'a str,
    starts: Vec<usize>,
    /// Per line, whether it is ASCII (a column is then its byte offset, not a count of the
    /// characters before it — which, per span, made a long line quadratic).
    ascii: Vec<bool>,
    /// Per long line that is not ASCII, every [`MARK_BYTES`] bytes: (byte offset, characters
    /// from the line's start to it). A column then counts from the mark before it (a minified
    /// JSON spec is one line of megabytes; counting from the line's start per span was
    /// quadratic: 25 s for Microsoft Graph's 20 MB description).
    marks: HashMap<usize, Vec<(usize, usize)>>,
}

/// How far apart the marks of a long line that is not ASCII are, in bytes.
const MARK_BYTES: usize = 4096;

impl<'a> LineIndex<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        let ascii = starts
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let e = starts.get(k + 1).copied().unwrap_or(text.len());
                text.as_bytes()[s..e].is_ascii()
            })
            .collect::<Vec<bool>>();
        let mut marks = HashMap::new();
        for (k, &s) in starts.iter().enumerate() {
            let e = starts.get(k + 1).copied().unwrap_or(text.len());
            if ascii[k] || e - s <= MARK_BYTES {
                continue;
            }
            let mut line_marks = Vec::new();
            let (mut next, mut chars) = (s + MARK_BYTES, 0);
            for (i, _) in text[s..e].char_indices() {
                if s + i >= next {
                    line_marks.push((s + i, chars));
                    next = s + i + MARK_BYTES;
                }
                chars += 1;
            }
            marks.insert(k, line_marks);
        }
        LineIndex { file, text, starts, ascii, marks }
    }

    pub(crate) fn span(&self, start: usize, end: usize) -> Span {
        let start = floor_char(self.text, start.min(self.text.len()));
        let end = floor_char(self.text, end.clamp(start, self.text.len()));
        let line = self.starts.partition_point(|&s| s <= start).max(1);
        let line_start = self.starts[line - 1];
        let column = if self.ascii.get(line - 1).copied().unwrap_or(false) {
            start - line_start + 1
        } else {
            let marks = self.marks.get(&(line - 1)).map_or(&[][..], Vec::as_slice);
            let (from, before) = match marks.partition_point(|&(b, _)| b <= start) {
                0 => (line_start, 0),
                k => marks[k - 1],
            };
            before + self.text[from..start].chars().count() + 1
        };
        Span {
            file: self.file.to_string(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            start,
            end,
        }
    }

    /// Byte offset of the start of 1-based `line`.
    pub(crate) fn line_start(&self, line: usize) -> usize {
        self.starts.get(line.saturating_sub(1)).copied().unwrap_or(self.text.len())
    }
}

pub(crate) fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Collapses runs of whitespace into one space and trims.
pub(crate) fn normalize_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "cf", "mr", "mrs", "ms", "dr", "no", "fig", "sec", "approx", "incl",
    "al", "min", "max", "st", "jr", "inc", "ltd", "co", "resp", "viz", "ca", "p", "pp", "vol",
];

/// Sentence byte ranges of `text` (relative to `text`), trimmed of surrounding whitespace.
pub(crate) fn sentences(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if matches!(b, b'.' | b'?' | b'!') {
            let mut j = i + 1;
            while j < bytes.len() && matches!(bytes[j], b'.' | b'?' | b'!' | b'"' | b'\'' | b')') {
                j += 1;
            }
            let at_end = j >= bytes.len();
            let followed_by_space = !at_end && bytes[j].is_ascii_whitespace();
            if (at_end || followed_by_space) && !is_abbreviation(text, start, i) {
                let mut k = j;
                while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                    k += 1;
                }
                let next_ok = k >= bytes.len() || !bytes[k].is_ascii_lowercase() || b != b'.';
                if next_ok {
                    push_trimmed(text, start, j, &mut out);
                    start = j;
                    i = j;
                    continue;
                }
            }
            i = j;
            continue;
        }
        i += 1;
    }
    push_trimmed(text, start, text.len(), &mut out);
    out
}

fn is_abbreviation(text: &str, sentence_start: usize, dot: usize) -> bool {
    if text.as_bytes()[dot] != b'.' {
        return false;
    }
    let head = &text[sentence_start..dot];
    let word: String = head
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if word.is_empty() {
        return false;
    }
    // "FR3. The system …": the id opening a statement does not end a sentence.
    if is_whole_id(head.trim_start_matches(|c: char| c.is_whitespace() || c == '[' || c == '*')) {
        return true;
    }
    // "3.5" is handled by the space check; a single capital letter ("J. Smith") or a known
    // abbreviation does not end a sentence.
    ABBREVIATIONS.contains(&word.as_str())
        || (word.len() == 1 && word.chars().all(|c| c.is_ascii_alphabetic()))
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let slice = &text[start..end];
    let lead = slice.len() - slice.trim_start().len();
    let trail = slice.len() - slice.trim_end().len();
    let (s, e) = (start + lead, end - trail);
    if e > s && text[s..e].chars().any(|c| c.is_alphanumeric()) {
        out.push((s, e));
    }
}

/// Word tokens with their byte ranges: letters, digits, `'`, `-` and `_` inside a word.
pub(crate) fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let inner = c.is_alphanumeric() || ((c == '\'' || c == '-' || c == '_') && start.is_some());
        match (inner, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(trim_word(text, s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(trim_word(text, s, text.len()));
    }
    out
}

fn trim_word(text: &str, s: usize, mut e: usize) -> (usize, usize) {
    while e > s && matches!(text.as_bytes()[e - 1], b'\'' | b'-' | b'_') {
        e -= 1;
    }
    (s, e)
}

/// Whether `w` (lower case) is a stop word: function words, modal verbs and the words every
/// requirement shares ("system", "user"). A `match`, not a scan of a list: it runs for every
/// word of every requirement.
#[rustfmt::skip]
pub(crate) fn is_stop_word(w: &str) -> bool {
    matches!(
        w,
        "a" | "an" | "the" | "and" | "or" | "of" | "to" | "in" | "on" | "for" | "by" | "with"
            | "at" | "from" | "as" | "is" | "are" | "be" | "been" | "being" | "was" | "were"
            | "it" | "its" | "this" | "that" | "these" | "those" | "shall" | "must" | "should"
            | "may" | "will" | "can" | "could" | "would" | "not" | "no" | "all" | "any" | "each"
            | "every" | "which" | "who" | "when" | "then" | "than" | "if" | "into" | "there"
            | "their" | "they" | "them" | "he" | "she" | "we" | "our" | "you" | "your" | "i"
            | "so" | "such" | "do" | "does" | "has" | "have" | "had" | "also" | "only" | "per"
            | "via" | "system" | "user" | "users" | "given" | "but" | "able" | "allow"
            | "allows"
    )
}

/// A crude stem: lower-case, strip common English suffixes. Enough to match "logs in" with
/// "log in" and "passwords" with "password".
pub(crate) fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    for suffix in ["ing", "ies", "es", "ed", "s"] {
        if w.len() > suffix.len() + 3 && w.ends_with(suffix) {
            let base = &w[..w.len() - suffix.len()];
            return if suffix == "ies" { format!("{base}y") } else { base.to_string() };
        }
    }
    w
}

/// Stemmed content words (no stop words, no numbers, at least 3 letters).
pub(crate) fn content_terms(text: &str) -> BTreeSet<String> {
    words(text)
        .into_iter()
        .map(|(s, e)| &text[s..e])
        .filter(|w| w.len() >= 3 && w.chars().any(|c| c.is_alphabetic()))
        .map(str::to_lowercase)
        .filter(|w| !is_stop_word(w))
        .map(|w| stem(&w))
        .collect()
}

static ID_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b[A-Z][A-Z0-9]{0,7}-[0-9]+(?:\.[0-9]+)*\b").ok());

/// A user story: "As a member, I want to renew a loan (so that …)".
static USER_STORY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\W*as\s+(?:an?|the)\s+[^,.;]{1,80}?,?\s+i\s+(?:want|need|would\s+like|wish|expect|can|must|should|am\s+able)\b",
    )
    .ok()
});

/// Whether `text` is written as a user story ("As a ROLE, I want …"): a requirement without
/// a modal verb.
pub(crate) fn user_story(text: &str) -> bool {
    USER_STORY.as_ref().is_some_and(|r| r.is_match(text))
}

/// [`ID_RE`] at the start of a text only.
static ID_AT_START: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9]{0,7}-[0-9]+(?:\.[0-9]+)*\b").ok());

/// An id written without a hyphen (`FR1`, `NFR12`, `REQ_001`, `R1.2`): letters, then digits.
/// Such a word is also a product or standard name (`HTTP2`, `SHA256`, `S3`), so it is an id
/// only where a statement opens with it and a separator or a requirement prefix says so
/// ([`bare_leading_id`]), and a mention only where the document defines it.
static BARE_ID: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b[A-Z]{1,6}_?[0-9]{1,5}(?:\.[0-9]+)*\b").ok());

/// [`BARE_ID`] at the start of a text only.
static BARE_ID_AT_START: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[A-Z]{1,6}_?[0-9]{1,5}(?:\.[0-9]+)*\b").ok());

/// Whether `text` is one id and nothing else (`FR-3`, `FR3`).
fn is_whole_id(text: &str) -> bool {
    [ID_AT_START.as_ref(), BARE_ID_AT_START.as_ref()]
        .into_iter()
        .flatten()
        .any(|re| re.find(text).is_some_and(|m| m.end() == text.len()))
}

/// Prefixes that name requirements: an id with one of them opens a statement even when only
/// a space follows it ("FR1 The system shall …", "### UC3 Renew a loan").
const REQUIREMENT_PREFIXES: &[&str] = &[
    "R", "REQ", "RQ", "FR", "NFR", "NF", "F", "SR", "SRS", "SYS", "UR", "US", "UC", "BR", "QR",
    "CR", "DR", "IR", "PR", "TR", "SEC", "PERF", "USE",
];

/// Whether `text` holds a hyphen followed by a digit, which every id has: most texts do not,
/// and are then not searched (the search stops at every hyphen of a text).
fn may_hold_id(text: &str) -> bool {
    memchr::memchr_iter(b'-', text.as_bytes())
        .any(|i| text.as_bytes().get(i + 1).is_some_and(u8::is_ascii_digit))
}

/// Whether `text` holds an upper-case letter (or `_`) followed by a digit, which every id
/// without a hyphen has.
fn may_hold_bare_id(text: &str) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|w| (w[0].is_ascii_uppercase() || w[0] == b'_') && w[1].is_ascii_digit())
}

/// Document ids mentioned in `text` (`REQ-12`, `FR-3`, `NFR-1.2`, and the hyphen-less
/// `FR3`, `REQ_001`), with their byte ranges, in order. A hyphen-less one is a reference only
/// to an id the document defines: callers look each up.
pub(crate) fn explicit_ids(text: &str) -> Vec<(usize, usize)> {
    search_ids(text, true)
}

/// [`explicit_ids`], with or without the shortcuts that skip texts holding no id.
fn search_ids(text: &str, shortcut: bool) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = match ID_RE.as_ref() {
        Some(re) if !shortcut || may_hold_id(text) => re
            .find_iter(text)
            .filter(|m| !text[m.start()..m.end()].starts_with("RFC-"))
            .map(|m| (m.start(), m.end()))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(re) = BARE_ID.as_ref().filter(|_| !shortcut || may_hold_bare_id(text)) {
        let before = out.len();
        out.extend(
            re.find_iter(text)
                .filter(|m| !text[m.start()..m.end()].starts_with("RFC"))
                // "FR-3.1" holds no hyphen-less id; "FR3-2" is not one either.
                .filter(|m| !text[..m.start()].ends_with('-') && !text[m.end()..].starts_with('-'))
                .map(|m| (m.start(), m.end())),
        );
        if before > 0 && out.len() > before {
            out.sort_unstable();
        }
    }
    out
}

/// The letters an id starts with: `FR` for `FR-3`, `FR3` and `FR_3`.
pub(crate) fn id_prefix(id: &str) -> &str {
    let end = id.find(|c: char| c == '-' || c == '_' || c.is_ascii_digit()).unwrap_or(id.len());
    &id[..end]
}

/// An id that opens the text (`REQ-12: The system …`, `[FR-3] …`, `**NFR-1** …`, `FR1: …`,
/// `REQ_001 The system …`): the id and the byte offset where the statement proper starts.
pub(crate) fn leading_id(text: &str) -> Option<(String, usize)> {
    let trimmed =
        text.trim_start_matches(|c: char| c.is_whitespace() || c == '[' || c == '*' || c == '(');
    let offset = text.len() - trimmed.len();
    let e = match ID_AT_START.as_ref()?.find(trimmed) {
        Some(m) => m.end(),
        None => match bare_leading_id(trimmed) {
            Some(e) => e,
            None => return spaced_leading_id(trimmed).map(|(id, e)| (id, offset + e)),
        },
    };
    if trimmed.starts_with("RFC-") {
        return None;
    }
    let rest = &trimmed[e..];
    let after = rest.trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, ':' | ']' | ')' | '*' | '-' | '.' | '–' | '—')
    });
    Some((trimmed[..e].to_string(), offset + e + (rest.len() - after.len())))
}

/// Ids mentioned as a word and a number (`see Requirement 1`, `FR 3`, `Use case 2.1`), as
/// [`spaced_leading_id`] names them (`REQ-1`, `FR-3`, `UC-2.1`). Capitalised words only ("the
/// timing requirement 3 seconds" is none); a mention links only to an id the document defines.
pub(crate) fn spaced_mentions(text: &str) -> Vec<String> {
    static MENTION: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"\b(Requirement|Req\.?|REQ|FR|NFR|UC|Use [Cc]ase|User [Ss]tory|US)\s+([0-9]{1,4}(?:\.[0-9]+)*)\b",
        )
        .ok()
    });
    let Some(re) = MENTION.as_ref() else { return Vec::new() };
    if !text.contains(|c: char| c.is_ascii_digit()) {
        return Vec::new();
    }
    re.captures_iter(text)
        .filter_map(|c| {
            let word = c.get(1)?.as_str().to_lowercase();
            let prefix = match word.as_str() {
                "requirement" | "req" | "req." => "REQ".to_string(),
                "use case" => "UC".to_string(),
                "user story" => "US".to_string(),
                w => w.to_uppercase(),
            };
            Some(format!("{prefix}-{}", c.get(2)?.as_str()))
        })
        .collect()
}

/// An id written as a word and a number (`Requirement 1:`, `FR 3 -`, `Use case 2.1:`), which
/// a separator must follow: the id as the document would write it with a hyphen (`REQ-1`,
/// `FR-3`, `UC-2.1`) and where the statement starts.
fn spaced_leading_id(text: &str) -> Option<(String, usize)> {
    static SPACED: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^(requirement|req\.?|fr|nfr|sr|ur|uc|use\s+case|us|user\s+story)\s+([0-9]{1,4}(?:\.[0-9]+)*)\s*[:–—\-)]\s*",
        )
        .ok()
    });
    let c = SPACED.as_ref()?.captures(text)?;
    let word = c.get(1)?.as_str().to_lowercase();
    let prefix = match word.split_whitespace().collect::<Vec<_>>().join(" ").as_str() {
        "requirement" | "req" | "req." => "REQ",
        "use case" | "uc" => "UC",
        "user story" | "us" => "US",
        w => {
            return Some((format!("{}-{}", w.to_uppercase(), c.get(2)?.as_str()), c.get(0)?.end()));
        }
    };
    Some((format!("{prefix}-{}", c.get(2)?.as_str()), c.get(0)?.end()))
}

/// The end of a hyphen-less id that opens `text`, when it stands alone, a separator follows
/// it (`FR1:`, `FR1.` and a space, `[FR1]`, `FR1 –`), or its prefix names requirements and a
/// space follows (`FR1 The system …`). `HTTP2 support`, `SHA256 hashes` and `A4 paper` are
/// not ids.
fn bare_leading_id(text: &str) -> Option<usize> {
    let e = BARE_ID_AT_START.as_ref()?.find(text)?.end();
    let id = &text[..e];
    if id.starts_with("RFC") {
        return None;
    }
    let rest = &text[e..];
    let next = rest.trim_start();
    let separated = next.is_empty()
        || next.starts_with([':', ']', ')', '*', '|', '–', '—'])
        || next.starts_with("- ")
        || (rest.starts_with('.') && rest[1..].starts_with(char::is_whitespace));
    let spaced = rest.starts_with(char::is_whitespace)
        && REQUIREMENT_PREFIXES.contains(&id_prefix(id))
        && next.starts_with(|c: char| c.is_uppercase() || c == '"' || c == '“');
    (separated || spaced).then_some(e)
}

/// The length of a list marker that opens `t` and the space after it, when text follows it: a
/// bullet (`•`, `-`, `*`, `+`, `–`, `▪`, `◦`, `●`, `‣`, `■`, `□`, reStructuredText's `#.`) or
/// a letter or number in parentheses (`a)`, `(b)`, `iv)`, `2)`); 0 otherwise. `1.` is not
/// one: in plain text it is also a section number ([`numbered_marker`] reads it where it is
/// not).
pub(crate) fn list_marker(t: &str) -> usize {
    let head = t.split(char::is_whitespace).next().unwrap_or("");
    let bullet =
        matches!(head, "•" | "-" | "*" | "+" | "–" | "▪" | "◦" | "●" | "‣" | "■" | "□" | "#.");
    let inner = head.strip_prefix('(').unwrap_or(head).strip_suffix(')');
    let enumerated = inner.is_some_and(|i| {
        !i.is_empty() && i.len() <= 4 && i.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if head.len() == t.len() || !(bullet || enumerated) {
        return 0;
    }
    let after = t[head.len()..].trim_start();
    if after.is_empty() { 0 } else { t.len() - after.len() }
}

/// The length of a numbered item's marker (`1. `, `12. `) opening `t`, when text follows it;
/// 0 otherwise.
pub(crate) fn numbered_marker(t: &str) -> usize {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &t[digits..];
    match rest.strip_prefix('.') {
        Some(after) if (1..=3).contains(&digits) && after.starts_with(char::is_whitespace) => {
            let text = after.trim_start();
            if text.is_empty() { 0 } else { t.len() - text.len() }
        }
        _ => 0,
    }
}

/// How keywords are read: RFC-style documents count only upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeywordMode {
    UpperOnly,
    AnyCase,
}

/// A normative keyword found in a sentence.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Keyword {
    pub(crate) strength: Strength,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) confidence: f32,
}

const UPPER: &[(&str, Strength)] = &[
    ("MUST NOT", Strength::MustNot),
    ("SHALL NOT", Strength::MustNot),
    ("SHOULD NOT", Strength::ShouldNot),
    ("NOT RECOMMENDED", Strength::ShouldNot),
    ("MUST", Strength::Must),
    ("SHALL", Strength::Must),
    ("REQUIRED", Strength::Must),
    ("SHOULD", Strength::Should),
    ("RECOMMENDED", Strength::Should),
    ("MAY", Strength::May),
    ("OPTIONAL", Strength::May),
];

const LOWER: &[(&str, Strength, f32)] = &[
    ("must not", Strength::MustNot, 0.8),
    ("shall not", Strength::MustNot, 0.8),
    ("cannot", Strength::MustNot, 0.5),
    ("should not", Strength::ShouldNot, 0.7),
    ("will not", Strength::MustNot, 0.6),
    ("must", Strength::Must, 0.8),
    ("shall", Strength::Must, 0.8),
    ("is required to", Strength::Must, 0.7),
    ("are required to", Strength::Must, 0.7),
    ("needs to", Strength::Must, 0.6),
    ("has to", Strength::Must, 0.6),
    ("should", Strength::Should, 0.7),
    ("will", Strength::Must, 0.6),
    ("may", Strength::May, 0.5),
    ("can", Strength::May, 0.4),
];

/// A firm normative keyword of prose that is not all requirements (an API's or a feature's
/// description): `must`, `shall`, `should`, `required to`, BCP 14's upper-case words — not
/// "will" or "may", which describe behaviour more often than they require it.
pub(crate) fn firm_keyword(sentence: &str) -> Option<Keyword> {
    keyword(sentence, KeywordMode::AnyCase).filter(|k| k.confidence >= 0.7)
}

/// The first (strongest on ties) normative keyword of `sentence`.
pub(crate) fn keyword(sentence: &str, mode: KeywordMode) -> Option<Keyword> {
    let mut found: Vec<Keyword> = Vec::new();
    for &(kw, strength) in UPPER {
        if let Some(start) = find_word(sentence, kw, true) {
            found.push(Keyword { strength, start, end: start + kw.len(), confidence: 0.95 });
        }
    }
    if mode == KeywordMode::AnyCase && found.is_empty() {
        let lower = sentence.to_lowercase();
        if lower.len() == sentence.len() {
            for &(kw, strength, confidence) in LOWER {
                if let Some(start) = find_word(&lower, kw, false) {
                    found.push(Keyword { strength, start, end: start + kw.len(), confidence });
                }
            }
        }
    }
    // The earliest keyword wins; on the same start the longer phrase ("MUST NOT") wins.
    found.into_iter().min_by_key(|k| (k.start, std::cmp::Reverse(k.end)))
}

/// `needle` as whole words in `hay` (exact case when `exact`).
pub(crate) fn find_word(hay: &str, needle: &str, exact: bool) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = hay[from..].find(needle) {
        let s = from + pos;
        let e = s + needle.len();
        let before_ok = hay[..s].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after_ok = hay[e..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok && (exact || !hay[..s].ends_with('-')) {
            return Some(s);
        }
        from = e;
    }
    None
}

/// Does the text use upper-case RFC 2119 keywords? And lower-case normative words?
pub(crate) fn keyword_cases(text: &str) -> (bool, Option<(usize, &'static str)>) {
    let upper = ["MUST", "SHALL", "SHOULD", "REQUIRED", "RECOMMENDED"]
        .iter()
        .any(|k| find_word(text, k, true).is_some());
    let lower = ["must", "shall", "should"]
        .iter()
        .filter_map(|k| find_word(text, k, true).map(|p| (p, *k)))
        .min();
    (upper, lower)
}

/// A short, stable hash of parts, hex (8 characters).
pub(crate) fn short_hash(parts: &[&str]) -> String {
    let joined = parts.join("\u{1f}");
    let hash = l9_types::ContentHash::derive("l9-ir node id", joined.as_bytes()).to_hex();
    hash[..8].to_string()
}

/// Groups of projects that share a text (case and spacing folded): the same document in two
/// data sets, or one relabelled, is one group. `rows` are (project, text); the result holds
/// each row's group, numbered by the group's first project in sorted order.
pub fn groups_by_shared_text(rows: &[(&str, &str)]) -> Vec<usize> {
    let mut names: Vec<&str> = rows.iter().map(|r| r.0).collect();
    names.sort_unstable();
    names.dedup();
    let id = |p: &str| names.binary_search(&p).unwrap_or(0);
    let mut parent: Vec<usize> = (0..names.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first: BTreeMap<String, usize> = BTreeMap::new();
    for &(project, text) in rows {
        let p = id(project);
        let q = *first.entry(normalize_ws(&text.to_lowercase())).or_insert(p);
        let (a, b) = (root(&mut parent, p), root(&mut parent, q));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    }
    rows.iter().map(|r| root(&mut parent, id(r.0))).collect()
}

/// Each line's span in `src`, its end before the line break (`\n` or `\r\n`).
pub(crate) fn line_spans(src: &str) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut pos = 0;
    for raw in src.split_inclusive('\n') {
        lines.push((pos, pos + raw.trim_end_matches(['\n', '\r']).len()));
        pos += raw.len();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcuts of `explicit_ids` (texts without a hyphen before a digit, or without a
    /// capital before one, are not searched) and `leading_id` (an anchored search) answer as
    /// the plain search does, on texts drawn from the characters ids are made of and those
    /// around them.
    #[test]
    fn id_shortcuts_answer_as_the_plain_search() {
        let pieces = [
            "REQ", "RFC", "F", "Q9", "-", "1", "07", ".", " ", "é", "*", "[", "(", ":", "a", "_",
            "REQ-1", "RFC-2", "F-07.1", "Q9-3.", "-4", "FR3", "R_2",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n
        };
        let (mut with_ids, mut leading) = (0, 0);
        for _ in 0..20_000 {
            let len = next(9);
            let t: String = (0..len).map(|_| pieces[next(pieces.len())]).collect();
            let ids = explicit_ids(&t);
            assert_eq!(ids, search_ids(&t, false), "{t:?}");
            assert!(ids.windows(2).all(|w| w[0].1 <= w[1].0), "in order, apart: {t:?}");
            with_ids += usize::from(!ids.is_empty());
            let trimmed = t.trim_start_matches(|c: char| {
                c.is_whitespace() || c == '[' || c == '*' || c == '('
            });
            let hyphenated = ID_RE.as_ref().unwrap().find(trimmed).filter(|m| m.start() == 0);
            let got = leading_id(&t);
            if let Some(m) = hyphenated.filter(|m| !m.as_str().starts_with("RFC-")) {
                assert_eq!(got.as_ref().map(|(id, _)| id.as_str()), Some(m.as_str()), "{t:?}");
            }
            leading += usize::from(got.is_some());
        }
        assert!(with_ids > 500 && leading > 100, "the texts exercise both: {with_ids}, {leading}");
    }

    fn split(t: &str) -> Vec<&str> {
        sentences(t).into_iter().map(|(s, e)| &t[s..e]).collect()
    }

    #[test]
    fn sentences_respect_abbreviations_and_numbers() {
        assert_eq!(
            split("FR3. The system shall log. FR-4. Users may rate."),
            ["FR3. The system shall log.", "FR-4. Users may rate."]
        );
        assert_eq!(
            split("The p99 is 3.5 ms, e.g. for reads. It MUST log. Then stop!"),
            vec!["The p99 is 3.5 ms, e.g. for reads.", "It MUST log.", "Then stop!"]
        );
        assert_eq!(split("   "), Vec::<&str>::new());
    }

    #[test]
    fn keywords_by_mode() {
        let k = keyword("The client MUST NOT send", KeywordMode::UpperOnly).unwrap();
        assert_eq!(k.strength, Strength::MustNot);
        assert!(keyword("the client must send", KeywordMode::UpperOnly).is_none());
        assert_eq!(
            keyword("the client must send", KeywordMode::AnyCase).unwrap().strength,
            Strength::Must
        );
        assert!(keyword("a mustard field", KeywordMode::AnyCase).is_none());
    }

    #[test]
    fn leading_ids() {
        assert_eq!(leading_id("REQ-12: The system"), Some(("REQ-12".into(), 8)));
        assert_eq!(leading_id("**FR-3** Users"), Some(("FR-3".into(), 9)));
        assert_eq!(leading_id("The FR-3 thing"), None);
        // Without a hyphen: a separator, or a requirement prefix and a capital, makes an id.
        assert_eq!(leading_id("FR1: The system"), Some(("FR1".into(), 5)));
        assert_eq!(leading_id("[REQ_001] Users"), Some(("REQ_001".into(), 10)));
        assert_eq!(leading_id("NFR12 The page loads"), Some(("NFR12".into(), 6)));
        assert_eq!(leading_id("R1.2. Loans"), Some(("R1.2".into(), 6)));
        assert_eq!(leading_id("UC3"), Some(("UC3".into(), 3)));
        for not_an_id in ["HTTP2 Support", "SHA256 hashes are", "A4 paper", "RFC2119: keys", "FR1x"]
        {
            assert_eq!(leading_id(not_an_id), None, "{not_an_id}");
        }
        // A word and a number, with a separator.
        assert_eq!(leading_id("Requirement 1: The system"), Some(("REQ-1".into(), 15)));
        assert_eq!(leading_id("FR 3 - Orders"), Some(("FR-3".into(), 7)));
        assert_eq!(leading_id("Use case 2.1: Withdraw"), Some(("UC-2.1".into(), 14)));
        assert_eq!(leading_id("Requirement 1 is met"), None);
        assert_eq!(
            spaced_mentions("see Requirement 1 and FR 3.2, not requirement 4 s"),
            ["REQ-1", "FR-3.2"]
        );
        assert_eq!(id_prefix("FR-3"), "FR");
        assert_eq!(id_prefix("REQ_001"), "REQ");
        assert_eq!(explicit_ids("see FR3, NFR-2.1 and SHA256"), vec![(4, 7), (9, 16), (21, 27)]);
        assert_eq!(explicit_ids("FR-3.1 and FR3-2"), vec![(0, 6), (11, 16)]);
    }

    #[test]
    fn list_markers() {
        for (t, n) in [("- a", 2), ("+  a", 3), ("#. a", 3), ("(iv) a", 5), ("b) a", 3), ("• a", 4)]
        {
            assert_eq!(list_marker(t), n, "{t}");
        }
        for t in ["-", "- ", "1. a", "-a", "word a"] {
            assert_eq!(list_marker(t), 0, "{t}");
        }
        assert_eq!(
            (numbered_marker("12. a"), numbered_marker("1.a"), numbered_marker("2021. a")),
            (4, 0, 0)
        );
    }

    #[test]
    fn spans_count_characters() {
        let t = "ab\nçd x";
        let idx = LineIndex::new("f", t);
        let s = idx.span(t.find('x').unwrap(), t.len());
        assert_eq!((s.line, s.column), (2, 4));
        // ASCII lines (columns by byte offset) around a non-ASCII one, and the last line.
        let t = "abc de\nçé fg h\nxy z";
        let idx = LineIndex::new("f", t);
        let at = |needle: &str| {
            let s = idx.span(t.find(needle).unwrap(), t.len());
            (s.line, s.column)
        };
        assert_eq!([at("de"), at("fg"), at("h"), at("z")], [(1, 5), (2, 4), (2, 7), (3, 4)]);
        // A long line that is not ASCII (counted from marks): every column as counted.
        let t = format!("x\n{}\nz", "aé€𝄞 ".repeat(5_000));
        let idx = LineIndex::new("f", &t);
        for (chars, (i, c)) in t.char_indices().skip(2).take_while(|(_, c)| *c != '\n').enumerate()
        {
            let s = idx.span(i, i);
            assert_eq!((s.line, s.column as usize), (2, chars + 1), "at byte {i} ({c})");
        }
    }
}
