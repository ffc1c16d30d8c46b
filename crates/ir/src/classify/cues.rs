//! The lexicon's cue phrases: per quality category, and the functional ones.

use foldhash::{HashMap, HashMapExt};
use std::sync::OnceLock;

use crate::model::QualityCategory;

use QualityCategory as Q;

/// Cue phrases (lower case, whole words; `*` at the end matches any ending).
pub(super) const CUES: &[(Q, &[&str])] = &[
    (
        Q::Performance,
        &[
            "response time",
            "respond",
            "responds",
            "second*",
            "millisecond*",
            "ms",
            "minute*",
            "per second",
            "fast*",
            "quick*",
            "latency",
            "throughput",
            "performance",
            "speed",
            "delay",
            "real time",
            "real-time",
            "refresh*",
            "load time",
            "timely",
            "instant*",
            "no longer than",
            "no more than",
            "take no",
            "takes no",
            "hour*",
            "perform*",
            "efficien*",
        ],
    ),
    (
        Q::Scalability,
        &[
            "scal*",
            "concurrent*",
            "simultaneous*",
            "up to",
            "capacity",
            "volume",
            "growth",
            "grow",
            "increase*",
            "expand*",
            "number of users",
            "additional",
            "handle",
            "peak",
            "at least",
            "thousand*",
            "million*",
            "minimum of",
            "same time",
            "number of",
            "per day",
            "records per",
        ],
    ),
    (
        Q::Availability,
        &[
            "availability",
            "be available",
            "is available",
            "uptime",
            "down time",
            "downtime",
            "24/7",
            "24 hours",
            "24x7",
            "7 days",
            "365",
            "outage",
            "hours a day",
            "days a week",
            "business hours",
            "maintenance window",
            "accessible",
        ],
    ),
    (
        Q::FaultTolerance,
        &[
            "fail*",
            "recover*",
            "backup*",
            "back up",
            "redundan*",
            "restart*",
            "crash*",
            "fault*",
            "lost",
            "loss",
            "degrad*",
            "fallback",
            "robust*",
            "resilien*",
            "interrupt*",
            "corrupt*",
            "mirror*",
            "disaster",
        ],
    ),
    (
        Q::Security,
        &[
            "authori*",
            "unauthori*",
            "authenticat*",
            "login",
            "log in",
            "log on",
            "logon",
            "password*",
            "encrypt*",
            "secur*",
            "permission*",
            "privilege*",
            "role*",
            "attack*",
            "virus*",
            "firewall*",
            "ssl",
            "https",
            "credential*",
            "confidential*",
            "privacy",
            "private",
            "protect*",
            "access",
            "only",
            "tamper*",
            "integrity",
            "cookie*",
            "login*",
            "log into",
            "logged",
            "eula",
            "intrusion",
            "audit*",
            "sensitive",
            "hack*",
            "malicious",
        ],
    ),
    (
        Q::Usability,
        &[
            "easy",
            "easi*",
            "intuitive*",
            "user friendly",
            "user-friendly",
            "learn*",
            "training",
            "train*",
            "understand*",
            "navigat*",
            "usab*",
            "satisf*",
            "novice*",
            "convenien*",
            "accessibility",
            "disabilit*",
            "efficient*",
            "help",
            "familiar",
            "simple",
            "clear*",
            "percent of",
            "first time",
            "minimal",
            "effort",
            "mistake*",
            "self-explanatory",
            "productiv*",
            "nomenclature",
            "terminology",
            "point and click",
            "mouse",
            "keyboard",
        ],
    ),
    (
        Q::LookAndFeel,
        &[
            "look",
            "looks",
            "appearance",
            "colo*",
            "font*",
            "logo*",
            "style*",
            "professional*",
            "appeal*",
            "attractive",
            "layout",
            "branding",
            "theme*",
            "icon*",
            "aesthetic*",
            "visual*",
            "graphic*",
            "consistent",
            "look and feel",
            "resolution*",
            "pixel*",
            "display appropriately",
        ],
    ),
    (
        Q::Legal,
        &[
            "law*",
            "legal*",
            "regulat*",
            "compl*",
            "policy",
            "policies",
            "licen*",
            "copyright*",
            "act",
            "hipaa",
            "sarbanes",
            "gdpr",
            "government*",
            "statut*",
            "jurisdiction",
            "court",
            "conform*",
            "certif*",
            "liabilit*",
            "sarbanes-oxley",
            "adhere*",
            "guideline*",
        ],
    ),
    (
        Q::Maintainability,
        &[
            "maintain*",
            "maintenance",
            "upgrad*",
            "modif*",
            "modular*",
            "extensib*",
            "extend*",
            "code",
            "documentation",
            "document*",
            "configur*",
            "new version*",
            "patch*",
            "testab*",
            "reusab*",
            "change*",
            "updat*",
            "readab*",
            "coding standard*",
            "support",
        ],
    ),
    (
        Q::Operational,
        &[
            "operat*",
            "environment*",
            "server*",
            "database*",
            "interface with",
            "integrat*",
            "run on",
            "runs on",
            "hardware",
            "network*",
            "install*",
            "deploy*",
            "existing",
            "workstation*",
            "internet",
            "web",
            "browser*",
            "email",
            "microsoft",
            "oracle",
            "sql",
            "platform*",
            "equipment",
            "conditions",
            "spreadsheet",
            "internet explorer",
            "firefox",
            "mozilla",
            "chrome",
            "safari",
            "middleware",
        ],
    ),
    (
        Q::Portability,
        &[
            "portab*",
            "port",
            "ported",
            "platform*",
            "operating system*",
            "mobile",
            "device*",
            "migrat*",
            "compatib*",
            "cross-platform",
            "windows",
            "mac",
            "macintosh",
            "unix",
            "linux",
            "pda",
            "handheld",
            "independent",
        ],
    ),
];

/// Phrases that say "the system does something for someone": functional cues.
pub(super) const FUNCTIONAL: &[&str] = &[
    "allow*",
    "display*",
    "enabl*",
    "provide the ability",
    "ability to",
    "record*",
    "create*",
    "add",
    "adds",
    "delete*",
    "remov*",
    "edit*",
    "view*",
    "search*",
    "select*",
    "send*",
    "notif*",
    "generat*",
    "calculat*",
    "print*",
    "store*",
    "submit*",
    "assign*",
    "enter*",
    "import*",
    "export*",
    "retriev*",
    "list*",
    "report*",
    "schedul*",
    "track*",
    "email*",
    "let",
    "lets",
    "show*",
    "captur*",
    "sav*",
    "upload*",
    "download*",
    "request*",
    "cancel*",
    "approv*",
    "reject*",
    "register*",
    "choose",
    "indicat*",
    "produc*",
    "maintain a",
    "keep track",
    "log",
    "logs",
    "link*",
];

/// Every cue of [`CUES`] and [`FUNCTIONAL`], filed by what a sentence must contain for it to
/// match, so a sentence is matched by looking up its own words (a few dozen lookups) instead
/// of trying each of the ~320 cues in turn.
///
/// Its maps use foldhash, not SipHash: their keys are L9's own cue words, so a spec's words
/// only look them up (a lookup is bounded by the fixed table). Maps whose keys come from the
/// input keep std's SipHash, which resists crafted collisions — `l9 serve` compiles posted
/// specs in a long-running process, which foldhash does not claim to defend.
pub(super) struct CueIndex {
    /// The feature names, indexed by the numbers below (`cue:PE:fast*`, `fn:list*`).
    pub names: Vec<String>,
    /// Single-word cues, by the word.
    pub words: HashMap<&'static str, Vec<usize>>,
    /// `word*` cues, by the word's beginning; `prefix_lens` lists their lengths in bytes.
    pub prefixes: HashMap<&'static str, Vec<usize>>,
    pub prefix_lens: Vec<usize>,
    /// `some words*` and `%*` cues: found anywhere in the sentence.
    pub contained: Vec<(&'static str, usize)>,
    /// Multi-word cues (or ones with `/`, `%`, `-`), by their first run of letters and digits;
    /// `unanchored` are those that begin with neither.
    pub phrases: HashMap<&'static str, Vec<(&'static str, usize)>>,
    pub unanchored: Vec<(&'static str, usize)>,
}

/// Is the cue matched as whole words of the joined sentence rather than as one word?
pub(super) fn is_phrase(cue: &str) -> bool {
    cue.contains(' ') || cue.contains('/') || cue.contains('%') || cue.contains('-')
}

/// The first run of letters and digits of a phrase cue (empty if it begins with neither).
fn first_run(cue: &str) -> &str {
    cue.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("")
}

/// The index, built once.
pub(super) fn index() -> &'static CueIndex {
    static INDEX: OnceLock<CueIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut ix = CueIndex {
            names: Vec::new(),
            words: HashMap::new(),
            prefixes: HashMap::new(),
            prefix_lens: Vec::new(),
            contained: Vec::new(),
            phrases: HashMap::new(),
            unanchored: Vec::new(),
        };
        let all = CUES
            .iter()
            .flat_map(|(cat, cues)| {
                cues.iter().map(move |c| (format!("cue:{}:{c}", cat.code()), *c))
            })
            .chain(FUNCTIONAL.iter().map(|c| (format!("fn:{c}"), *c)));
        for (name, cue) in all {
            let n = ix.names.len();
            ix.names.push(name);
            if let Some(prefix) = cue.strip_suffix('*') {
                if prefix.contains(' ') || prefix.contains('%') {
                    ix.contained.push((prefix, n));
                } else {
                    ix.prefixes.entry(prefix).or_default().push(n);
                    ix.prefix_lens.push(prefix.len());
                }
            } else if is_phrase(cue) {
                match first_run(cue) {
                    "" => ix.unanchored.push((cue, n)),
                    first => ix.phrases.entry(first).or_default().push((cue, n)),
                }
            } else {
                ix.words.entry(cue).or_default().push(n);
            }
        }
        ix.prefix_lens.sort_unstable();
        ix.prefix_lens.dedup();
        ix
    })
}
