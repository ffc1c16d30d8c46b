//! The learned smell tagger: per smell, a logistic head that judges each word of a requirement
//! in its context — is this word, here, the smell the experts would mark?
//!
//! A word's features: the word itself, its neighbours one and two to each side, the word
//! paired with each direct neighbour, its last three letters, its shape (capitalised inside a
//! sentence, all capitals, first word), and which word lists of [`crate::smells`] match it
//! after their context rules (the lists stay, as features the model may weigh or not). The
//! features are hashed into 2^18 buckets and scaled to unit length. Labels come from the
//! labelled data sets (ARTA DS1–DS4): a word is positive for a smell when the experts wrote it
//! in that smell's column. Each head is trained only on the files that carry that smell's
//! column, without class weights (so a probability of 0.5 means even odds), by seeded AdaGrad,
//! starting from prior odds: of an unlisted word being marked, and of each listed word — its
//! own rate among the scheme's rows, smoothed towards the whole list's rate (a listed word the
//! annotators leave alone is not judged as the list's commonest words are; lending each word
//! the other schemes' rate was measured and hurt, see `models/README.md`); a requirement has
//! the smell when one of its words reaches the smell's threshold.
//!
//! Data sets labelled by different people follow different guides (one marks every "not", one
//! hardly any; one calls "all" and "each" vague pronouns), so heads are learned per labelling
//! scheme — the file's smell headers — and a caller says whose judgement it wants (by default
//! the scheme with the fullest catalogue). Smells with too little labelled evidence
//! ([`MIN_SMELLY`]) and those no data set labels (TBD) stay with the word lists.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::file::{Reader, put_hashes, put_head, put_u32};
use super::{FNV_OFFSET, Head, Params, fnv, fnv_from};
use crate::smells::{self, Hit, Smell, SmellRow};

const MAGIC: &[u8] = b"L9SML1\n";

/// log2 of the tagger's hash buckets.
pub const BITS: u8 = 18;

/// A head is learned only from at least this many requirements the experts marked with the
/// smell; below it the word list judges (too few examples teach a head to never fire).
pub const MIN_SMELLY: usize = 20;

/// A smell the tagger learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadInfo {
    /// The labelling scheme the head learned (see [`SmellRow::scheme`]).
    pub scheme: String,
    pub smell: Smell,
    /// A word at or above this probability carries the smell.
    pub threshold: f32,
    /// The prior the head starts from (log-odds): of a word the word list flags for this smell
    /// being marked by the experts, and of any other word being marked (measured on the
    /// training rows, smoothed). The learned weights correct it in context.
    pub listed: f32,
    pub unlisted: f32,
    /// The prior of each listed word seen in training (log-odds): its own rate among this
    /// scheme's rows, smoothed towards [`Self::listed`] (see [`WORD_PRIOR_WEIGHT`]). A listed
    /// word not in it starts from `listed`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub word_priors: BTreeMap<String, f32>,
    /// Requirements and words it was trained on, and how many of each the experts marked.
    pub rows: usize,
    pub smelly_rows: usize,
    pub words: usize,
    pub marked_words: usize,
}

/// What a tagger file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaggerInfo {
    pub bits: u8,
    /// Every labelling scheme among the training rows (some may have no head: too little
    /// evidence, so their word lists judge).
    pub schemes: Vec<String>,
    pub params: Params,
    pub heads: Vec<HeadInfo>,
    pub rows: usize,
    pub projects: usize,
    pub data_hash: String,
    pub trained_by: String,
}

/// A trained tagger.
#[derive(Debug, Clone)]
pub struct SmellTagger {
    pub info: TaggerInfo,
    heads: Vec<Head>,
    /// Hashes of the training texts ([`super::text_hash`]), sorted.
    seen: Vec<u64>,
}

/// A word of a requirement: its byte range and its folded form (lower case, numbers as
/// `<num>`). A possessive `'s` is a word of its own.
#[derive(Debug, Clone)]
struct Tok {
    s: usize,
    e: usize,
    w: String,
}

fn tokens(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let push = |s: usize, e: usize, out: &mut Vec<Tok>| {
        let raw = &text[s..e];
        let w = if raw.starts_with(|c: char| c.is_ascii_digit()) {
            "<num>".to_string()
        } else {
            raw.to_lowercase()
        };
        out.push(Tok { s, e, w });
    };
    let mut k = 0;
    while k < chars.len() {
        let (i, c) = chars[k];
        let next = chars.get(k + 1).map(|x| x.1);
        let after = chars.get(k + 2).map(|x| x.1);
        let possessive = (c == '\'' || c == '’')
            && matches!(next, Some('s' | 'S'))
            && after.is_none_or(|a| !a.is_alphanumeric());
        if possessive {
            if let Some(s) = start.take() {
                push(s, i, &mut out);
            }
            let end = chars.get(k + 2).map_or(text.len(), |x| x.0);
            out.push(Tok { s: i, e: end, w: "'s".into() });
            k += 2;
            continue;
        }
        // Inside a word: letters and digits, a hyphen, an apostrophe before a letter
        // ("doesn't" is one word; a possessive 's was split off above).
        let inner = c.is_alphanumeric()
            || (start.is_some()
                && (c == '-'
                    || ((c == '\'' || c == '’') && next.is_some_and(char::is_alphabetic))));
        match (inner, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                push(s, i, &mut out);
                start = None;
            }
            _ => {}
        }
        k += 1;
    }
    if let Some(s) = start {
        push(s, text.len(), &mut out);
    }
    // A word never ends in a hyphen ("well-" before a line break).
    for t in &mut out {
        while t.e > t.s && text[..t.e].ends_with('-') {
            t.e -= 1;
            t.w.pop();
        }
    }
    out.retain(|t| t.e > t.s);
    out
}

/// The hashed names of the word `toks[i]`'s features, in order: each name is hashed from its
/// parts as [`fnv`] would hash the joined name (`w:word`, `pw:previous word`, …), so no name
/// is ever built — this runs for every word of every requirement the challenger reads.
fn word_feature_hashes(text: &str, toks: &[Tok], lexicon: &Listed, i: usize, out: &mut Vec<u64>) {
    let at = |i: isize| -> &str {
        if i < 0 { "<s>" } else { toks.get(i as usize).map_or("</s>", |t| t.w.as_str()) }
    };
    let t = &toks[i];
    let i = i as isize;
    let w = t.w.as_str();
    out.clear();
    out.extend([
        fnv_parts(&["w:", w]),
        fnv_parts(&["p:", at(i - 1)]),
        fnv_parts(&["n:", at(i + 1)]),
        fnv_parts(&["p2:", at(i - 2)]),
        fnv_parts(&["n2:", at(i + 2)]),
        fnv_parts(&["pw:", at(i - 1), " ", w]),
        fnv_parts(&["wn:", w, " ", at(i + 1)]),
        fnv(b"bias"),
    ]);
    // The last three letters of a word of five or more.
    let mut back = w.char_indices().rev().map(|(k, _)| k);
    if let (Some(last3), true) = (back.nth(2), w.chars().nth(4).is_some()) {
        out.push(fnv_parts(&["s3:", &w[last3..]]));
    }
    let raw = &text[t.s..t.e];
    if raw.chars().nth(1).is_some() && raw.chars().all(|c| !c.is_lowercase()) {
        out.push(fnv(b"shape:caps"));
    } else if i > 0 && raw.starts_with(char::is_uppercase) {
        out.push(fnv(b"shape:capitalised"));
    }
    if i == 0 {
        out.push(fnv(b"shape:first"));
    }
    for h in lexicon.on(t) {
        out.push(fnv_parts(&["x:", h.smell.code()]));
        if h.words.contains(' ') {
            out.push(fnv_parts(&["xp:", h.smell.code()]));
        }
    }
}

/// [`fnv`] of the parts joined.
fn fnv_parts(parts: &[&str]) -> u64 {
    parts.iter().fold(FNV_OFFSET, |h, p| fnv_from(h, p.as_bytes()))
}

/// How many words [`SmellTagger::detect_in_scheme`] featurises at a time.
const WINDOW: usize = 4096;

/// The hashed features of the words `toks[from..to]`.
fn hashed_features(
    text: &str,
    toks: &[Tok],
    lexicon: &Listed,
    from: usize,
    to: usize,
) -> Vec<Vec<(u32, f32)>> {
    let mut names = Vec::with_capacity(24);
    (from..to)
        .map(|i| {
            word_feature_hashes(text, toks, lexicon, i, &mut names);
            hashed(&names)
        })
        .collect()
}

/// Hashed features at unit length.
fn hashed(names: &[u64]) -> Vec<(u32, f32)> {
    let mask = (1u64 << BITS) - 1;
    let v = 1.0 / (names.len().max(1) as f32).sqrt();
    let mut x: Vec<(u32, f32)> = names.iter().map(|n| ((n & mask) as u32, v)).collect();
    x.sort_unstable_by_key(|e| e.0);
    let mut merged: Vec<(u32, f32)> = Vec::with_capacity(x.len());
    for (i, v) in x {
        match merged.last_mut() {
            Some(last) if last.0 == i => last.1 += v,
            _ => merged.push((i, v)),
        }
    }
    merged
}

/// The words of a text, their feature vectors and the word lists' hits.
type Featurised = (Vec<Tok>, Vec<Vec<(u32, f32)>>, Listed);

fn featurise(text: &str) -> Featurised {
    let toks = tokens(text);
    let lexicon = Listed::new(&toks, smells::detect(text));
    let xs = hashed_features(text, &toks, &lexicon, 0, toks.len());
    (toks, xs, lexicon)
}

/// The word-list hits of a text, found by the word they overlap (a lookup per word, not a
/// walk over every hit: long texts hold thousands of both).
struct Listed {
    hits: Vec<Hit>,
    /// Per word with hits, by start: the word's start and the hits overlapping it, in order.
    by_word: Vec<(usize, Vec<u32>)>,
}

impl Listed {
    fn new(toks: &[Tok], hits: Vec<Hit>) -> Listed {
        let mut over: Vec<Vec<u32>> = vec![Vec::new(); toks.len()];
        for (i, h) in hits.iter().enumerate() {
            // Words are in order and disjoint: the first one ending after the hit's start,
            // then on while they start before its end.
            let first = toks.partition_point(|t| t.e <= h.start);
            for (k, t) in toks.iter().enumerate().skip(first) {
                if t.s >= h.end {
                    break;
                }
                if h.start < t.e {
                    over[k].push(i as u32);
                }
            }
        }
        let by_word =
            toks.iter().zip(over).filter(|(_, o)| !o.is_empty()).map(|(t, o)| (t.s, o)).collect();
        Listed { hits, by_word }
    }

    /// The hits overlapping the word `t`, in order of position.
    fn on<'a>(&'a self, t: &Tok) -> impl Iterator<Item = &'a Hit> + 'a {
        let at = self.by_word.binary_search_by_key(&t.s, |(s, _)| *s).ok();
        let ids = at.map_or(&[][..], |i| self.by_word[i].1.as_slice());
        ids.iter().filter_map(|&i| self.hits.get(i as usize))
    }
}

/// Whether the word list of `smell` flags the word `t`.
fn is_listed(lexicon: &Listed, smell: Smell, t: &Tok) -> bool {
    lexicon.on(t).any(|h| h.smell == smell)
}

/// The folded words the experts wrote in a label cell (`word*other words*…`).
fn label_words(cell: &[String]) -> BTreeSet<String> {
    cell.iter().flat_map(|p| tokens(p).into_iter().map(|t| t.w)).collect()
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn word_probability(info: &HeadInfo, head: &Head, lex: &Listed, t: &Tok, x: &[(u32, f32)]) -> f32 {
    sigmoid(info.prior(lex, t) + head.first_score(x))
}

impl HeadInfo {
    /// The log-odds a word starts from before the learned weights: its own prior when it is
    /// listed and was seen in training, the list's otherwise.
    fn prior(&self, lex: &Listed, t: &Tok) -> f32 {
        if !is_listed(lex, self.smell, t) {
            return self.unlisted;
        }
        self.word_priors.get(&t.w).copied().unwrap_or(self.listed)
    }
}

/// blake3 of the training rows (project, labels, text), so a tagger names the data it came from.
pub fn data_hash(rows: &[SmellRow]) -> String {
    let mut buf = Vec::new();
    for r in rows {
        buf.extend_from_slice(r.project.as_bytes());
        buf.push(0x1f);
        for (s, words) in &r.words {
            buf.extend_from_slice(s.code().as_bytes());
            buf.push(b'=');
            buf.extend_from_slice(words.join("*").as_bytes());
            buf.push(0x1e);
        }
        buf.push(0x1f);
        buf.extend_from_slice(r.text.as_bytes());
        buf.push(b'\n');
    }
    l9_types::ContentHash::of_bytes(&buf).to_hex()
}

/// The tagger `l9` embeds (`models/smells.l9sml`, made by `l9 eval train` on the
/// development smell data; see `models/README.md`).
pub fn shipped() -> Option<&'static SmellTagger> {
    static SHIPPED: std::sync::LazyLock<Option<SmellTagger>> = std::sync::LazyLock::new(|| {
        SmellTagger::from_bytes(include_bytes!("../../models/smells.l9sml")).ok()
    });
    SHIPPED.as_ref()
}

/// The group (index) of every row: projects joined when they share a requirement text (the
/// same document labelled in two data sets is one group).
pub fn project_groups(rows: &[SmellRow]) -> Vec<usize> {
    crate::text::groups_by_shared_text(
        &rows.iter().map(|r| (r.project.as_str(), r.text.as_str())).collect::<Vec<_>>(),
    )
}

impl SmellTagger {
    /// Trains, per labelling scheme, one head per smell with enough labelled evidence, each
    /// with a threshold chosen inside its training rows. Deterministic for `params.seed`.
    pub fn train(rows: &[SmellRow], params: Params, trained_by: &str) -> Self {
        let feats: Vec<Featurised> = rows.iter().map(|r| featurise(&r.text)).collect();
        let mut heads = Vec::new();
        let mut infos = Vec::new();
        let schemes: BTreeSet<&str> = rows.iter().map(|r| r.scheme.as_str()).collect();
        for (scheme, smell) in schemes.iter().flat_map(|sc| Smell::ALL.map(|s| (*sc, s))) {
            let on: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].scheme == scheme).collect();
            let Some(f) = fit(rows, &feats, &on, smell, &params) else { continue };
            let threshold = choose_threshold(rows, &feats, &on, smell, &params);
            infos.push(HeadInfo { scheme: scheme.to_string(), threshold, ..f.info });
            heads.push(f.head);
        }
        let projects: BTreeSet<&str> = rows.iter().map(|r| r.project.as_str()).collect();
        let mut seen: Vec<u64> = rows.iter().map(|r| super::text_hash(&r.text)).collect();
        seen.sort_unstable();
        seen.dedup();
        SmellTagger {
            seen,
            info: TaggerInfo {
                bits: BITS,
                schemes: schemes.iter().map(|s| s.to_string()).collect(),
                params,
                heads: infos,
                rows: rows.len(),
                projects: projects.len(),
                data_hash: data_hash(rows),
                trained_by: trained_by.to_string(),
            },
            heads,
        }
    }

    /// The scheme a caller gets when it names none or one the tagger does not know: the one
    /// whose annotators labelled the most smells (the fullest catalogue; ties: more learned
    /// heads, then the name).
    pub fn default_scheme(&self) -> Option<&str> {
        self.info
            .schemes
            .iter()
            .map(|sc| {
                let heads = self.info.heads.iter().filter(|h| &h.scheme == sc).count();
                (sc.split(',').count(), heads, std::cmp::Reverse(sc.as_str()))
            })
            .max()
            .map(|(_, _, std::cmp::Reverse(sc))| sc)
    }

    fn resolve<'a>(&'a self, scheme: Option<&'a str>) -> Option<&'a str> {
        match scheme {
            Some(s) if self.info.schemes.iter().any(|k| k == s) => Some(s),
            _ => self.default_scheme(),
        }
    }

    /// Whether `text` was among the training rows.
    pub fn has_seen(&self, text: &str) -> bool {
        self.seen.binary_search(&super::text_hash(text)).is_ok()
    }

    /// One line on what the tagger is: its heads per scheme and the data it came from.
    pub fn describe(&self) -> String {
        let sc = self.default_scheme().unwrap_or("");
        let learned: Vec<&str> =
            self.info.heads.iter().filter(|h| h.scheme == sc).map(|h| h.smell.name()).collect();
        format!(
            "learned smell tagger (word in context: neighbours, suffix, shape, word-list hits; hashed 2^{}) for {}; word lists for the rest; trained on {} rows of {} projects (data {})",
            self.info.bits,
            learned.join(", "),
            self.info.rows,
            self.info.projects,
            &self.info.data_hash[..self.info.data_hash.len().min(12)]
        )
    }

    /// Whether the tagger judges `smell` under `scheme` (otherwise the word list does).
    pub fn covers(&self, smell: Smell, scheme: Option<&str>) -> bool {
        let sc = self.resolve(scheme);
        self.info.heads.iter().any(|h| h.smell == smell && Some(h.scheme.as_str()) == sc)
    }

    /// The highest word probability per learned smell (for choosing thresholds).
    pub fn row_scores(&self, text: &str, scheme: Option<&str>) -> BTreeMap<Smell, f32> {
        let sc = self.resolve(scheme);
        let (toks, xs, lex) = featurise(text);
        self.info
            .heads
            .iter()
            .zip(&self.heads)
            .filter(|(info, _)| Some(info.scheme.as_str()) == sc)
            .map(|(info, head)| {
                let best = toks
                    .iter()
                    .zip(&xs)
                    .map(|(t, x)| word_probability(info, head, &lex, t, x))
                    .fold(0.0f32, f32::max);
                (info.smell, best)
            })
            .collect()
    }

    /// The smells among `which` in `text`: learned smells word by word, the others by their
    /// word lists. In order of position.
    pub fn detect_only(&self, text: &str, which: &[Smell]) -> Vec<Hit> {
        self.detect_in_scheme(text, which, None)
    }

    /// [`Self::detect_only`] as the annotators of a labelling scheme the tagger was trained
    /// on would mark (their file's smell headers); an unknown scheme or none gets
    /// [`Self::default_scheme`].
    pub fn detect_in_scheme(&self, text: &str, which: &[Smell], scheme: Option<&str>) -> Vec<Hit> {
        let sc = self.resolve(scheme);
        let learned = |smell: Smell| {
            self.info.heads.iter().any(|h| h.smell == smell && Some(h.scheme.as_str()) == sc)
        };
        let rest: Vec<Smell> = which.iter().copied().filter(|s| !learned(*s)).collect();
        let toks = tokens(text);
        let lex = Listed::new(&toks, smells::detect(text));
        // Each smell's word list is matched on its own: the hits of all lists, kept for
        // `rest`, are what matching only `rest` finds.
        let mut hits: Vec<Hit> =
            lex.hits.iter().filter(|h| rest.contains(&h.smell)).cloned().collect();
        let heads: Vec<(&HeadInfo, &Head)> = self
            .info
            .heads
            .iter()
            .zip(&self.heads)
            .filter(|(info, _)| which.contains(&info.smell) && Some(info.scheme.as_str()) == sc)
            .collect();
        // Per head, the marked ranges; a marked word inside a listed phrase reports the phrase
        // ("user friendly"). The words are featurised a window at a time: one statement of a
        // million words would otherwise hold all their features at once.
        let mut ranges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); heads.len()];
        let mut from = 0;
        while from < toks.len() && !heads.is_empty() {
            let to = toks.len().min(from + WINDOW);
            let xs = hashed_features(text, &toks, &lex, from, to);
            for ((info, head), ranges) in heads.iter().zip(&mut ranges) {
                for (t, x) in toks[from..to].iter().zip(&xs) {
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
            }
            from = to;
        }
        for ((info, _), ranges) in heads.iter().zip(ranges) {
            hits.extend(ranges.into_iter().map(|(a, b)| Hit {
                smell: info.smell,
                start: a,
                end: b,
                words: text[a..b].to_string(),
            }));
        }
        hits.sort_by_key(|h| (h.start, h.smell));
        hits
    }

    /// The bytes of a tagger file: `L9SML1\n`, a JSON header, then each head.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let header = serde_json::to_vec(&self.info).unwrap_or_default();
        put_u32(&mut out, header.len() as u32);
        out.extend_from_slice(&header);
        put_hashes(&mut out, &self.seen);
        for h in &self.heads {
            put_head(&mut out, h);
        }
        out
    }

    /// Reads a tagger file, or says what is wrong with it.
    pub fn from_bytes(b: &[u8]) -> Result<Self, String> {
        if !b.starts_with(MAGIC) {
            return Err("not an L9 smell tagger (it must start with L9SML1)".into());
        }
        let mut r = Reader { b, at: MAGIC.len() };
        let len = r.u32()? as usize;
        let info: TaggerInfo = serde_json::from_slice(r.take(len)?)
            .map_err(|e| format!("the tagger's header is not valid: {e}"))?;
        if info.bits != BITS {
            return Err(format!(
                "the tagger uses 2^{} features; this l9 reads 2^{BITS}",
                info.bits
            ));
        }
        let mut seen = HashMap::new();
        for h in &info.heads {
            if seen.insert((h.scheme.as_str(), h.smell), ()).is_some()
                || !(0.0..=1.0).contains(&h.threshold)
                || h.word_priors.values().any(|p| !p.is_finite())
            {
                return Err(format!("the tagger's head for {} is not valid", h.smell.name()));
            }
        }
        let seen = r.hashes()?;
        let heads = (0..info.heads.len())
            .map(|_| r.head(1, 1usize << BITS))
            .collect::<Result<Vec<_>, _>>()?;
        if r.at != b.len() {
            return Err(format!("{} unexpected bytes after the tagger", b.len() - r.at));
        }
        Ok(SmellTagger { info, heads, seen })
    }
}

mod fit;
pub use fit::{KEEP_FEATURES, THRESHOLDS, WORD_PRIOR_WEIGHT};
use fit::{choose_threshold, fit};

#[cfg(test)]
mod tests;
