//! Requirement records: a requirement written as labelled fields, one per line, as SRS
//! templates and Volere snow cards lay them out —
//!
//! ```text
//! ID: FR2
//! TITLE: Show arrival times
//! DESC: The application shall show the arrival time of the next three buses.
//! DEP: FR1
//! PRIORITY: Low
//! Fit Criterion: Every reading is recorded within 10 seconds of its arrival.
//! ```
//!
//! The id names the requirement, the description (else the title) is its text, the priority
//! ranks it, the dependencies are `depends_on` edges and a fit criterion is an acceptance
//! criterion that verifies it. Other fields (rationale, source, history, …) are not
//! statements.

use l9_types::Diagnostic;

use crate::builder::{Builder, Draft};
use crate::model::{EdgeKind, NodeKind, Strength};
use crate::text::{self, KeywordMode};

/// A record's dependency, linked once every record has its id: (from, to, span).
pub(crate) type Depends = Vec<(String, String, usize, usize)>;

/// One record: the requirement (a non-goal when its priority is `Won't`) and its fit
/// criteria verifying it; its dependencies are kept in `depends` for [`link`]. `at` is where
/// the record's paragraph starts. Returns the requirement's id.
pub(crate) fn emit(
    b: &mut Builder<'_>,
    r: Record,
    at: usize,
    section: &[String],
    depends: &mut Depends,
) -> Option<String> {
    let (body, s, e) = r.text?;
    let kw = text::keyword(&body, KeywordMode::AnyCase);
    let kind = if r.wont { NodeKind::NonGoal } else { NodeKind::Requirement };
    let id = b.add(
        Draft::new(kind, body, at + s, at + e)
            .section(section)
            .label(r.id)
            .strength(r.strength.or(kw.map(|k| k.strength)))
            .confidence(0.9),
    );
    for (fit, fs, fe) in r.fits {
        let ac = b.add(
            Draft::new(NodeKind::AcceptanceCriterion, fit, at + fs, at + fe)
                .section(section)
                .confidence(0.9),
        );
        b.edge(&ac, &id, EdgeKind::Verifies, "fit criterion");
    }
    depends.extend(r.depends.into_iter().map(|d| (id.clone(), d, at + s, at + e)));
    Some(id)
}

/// The records' dependencies as `depends_on` edges; one that names no node is reported.
pub(crate) fn link(b: &mut Builder<'_>, depends: Depends) {
    for (from, to, s, e) in depends {
        if b.has_id(&to) {
            b.edge(&from, &to, EdgeKind::DependsOn, "record");
        } else {
            b.diag(
                Diagnostic::warning(
                    "L9-IR-043",
                    format!("{from} depends on {to}, which is not defined in this spec"),
                )
                .with_help("define it, or correct the id in the dependencies field"),
                s,
                e,
            );
        }
    }
}

/// What a field of a record is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Id,
    /// `Use Case: UC-3 Withdraw cash`: an id and a title.
    UseCase,
    Title,
    Text,
    Priority,
    Depends,
    Fit,
    Other,
}

/// Field labels, lower case, by what they hold.
const FIELDS: &[(Field, &[&str])] = &[
    (
        Field::Id,
        &[
            "id",
            "req id",
            "req. id",
            "requirement id",
            "requirement #",
            "requirement no",
            "requirement no.",
            "requirement number",
            "req #",
            "req no",
            "ref",
            "reference",
        ],
    ),
    (Field::UseCase, &["use case", "use-case", "use case name"]),
    (Field::Title, &["title", "name", "summary", "short name"]),
    (Field::Text, &["desc", "description", "statement", "requirement", "requirement text", "text"]),
    (Field::Priority, &["priority", "prio", "importance", "moscow"]),
    (Field::Depends, &["dep", "deps", "dependency", "dependencies", "depends on", "requires"]),
    (
        Field::Fit,
        &[
            "fit criterion",
            "fit criteria",
            "acceptance criterion",
            "acceptance criteria",
            "acceptance",
            "verification",
            "verification method",
            "postcondition",
            "postconditions",
            "post-condition",
            "post-conditions",
            "success guarantee",
            "success guarantees",
        ],
    ),
    (
        Field::Other,
        &[
            "rat",
            "rationale",
            "reason",
            "source",
            "originator",
            "history",
            "status",
            "owner",
            "version",
            "type",
            "requirement type",
            "category",
            "stakeholder",
            "stakeholders",
            "conflicts",
            "supporting materials",
            "customer satisfaction",
            "customer dissatisfaction",
            "event/buc/puc #",
            "risk",
            "comment",
            "comments",
            "notes",
            "note",
            "author",
            "date",
            "release",
            "stability",
            "input",
            "inputs",
            "output",
            "outputs",
            "precondition",
            "preconditions",
            "pre-condition",
            "pre-conditions",
            "actor",
            "actors",
            "primary actor",
            "secondary actors",
            "trigger",
            "goal",
            "scope",
            "level",
            "main success scenario",
            "main flow",
            "basic flow",
            "main scenario",
            "alternative flows",
            "alternate flows",
            "extensions",
            "exceptions",
            "frequency",
        ],
    ),
];

fn field(label: &str) -> Option<Field> {
    let l = label.trim().to_lowercase();
    FIELDS.iter().find(|(_, names)| names.contains(&l.as_str())).map(|(f, _)| *f)
}

/// Whether `line` opens a record (`ID: FR1`, `Description: …`, `Use Case: …`, `Title: …`).
pub(crate) fn field_line(line: &str) -> bool {
    labelled(line.trim())
        .is_some_and(|(f, _)| matches!(f, Field::Id | Field::UseCase | Field::Text | Field::Title))
}

/// A field line's field and value.
fn labelled(t: &str) -> Option<(Field, &str)> {
    // `**ID:** FR1` in Markdown: the emphasis is no part of label or value.
    t.split_once(':').and_then(|(label, value)| {
        let label = label.trim_matches(|c: char| c == '*' || c == '_' || c.is_whitespace());
        (label.len() <= 30 && !label.is_empty()).then_some(())?;
        field(label).map(|f| (f, value.trim_start_matches(['*', '_']).trim()))
    })
}

/// One record: its id, text, strength, dependencies and fit criteria, with spans (byte
/// ranges in the paragraph's text).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Record {
    pub(crate) id: Option<String>,
    pub(crate) text: Option<(String, usize, usize)>,
    pub(crate) strength: Option<Strength>,
    /// A `Won't` priority: out of scope.
    pub(crate) wont: bool,
    pub(crate) depends: Vec<String>,
    pub(crate) fits: Vec<(String, usize, usize)>,
}

/// The records of a paragraph, or `None` when it is not made of labelled fields (two known
/// labels at least, and an id or a text among them). A new id field starts a new record.
pub(crate) fn records(para: &str) -> Option<Vec<Record>> {
    // (field, value, start, end) per field line; continuation lines extend the value.
    let mut fields: Vec<(Field, String, usize, usize)> = Vec::new();
    let mut pos = 0;
    for raw in para.split_inclusive('\n') {
        let line = raw.trim_end();
        let lead = line.len() - line.trim_start().len();
        let t = line.trim();
        match (labelled(t), fields.last_mut()) {
            (Some((f, value)), _) => {
                let vstart =
                    pos + lead + t.len() - t.split_once(':').map_or(t, |x| x.1).trim_start().len();
                fields.push((f, value.to_string(), vstart, pos + line.len()));
            }
            (None, Some(last)) if !t.is_empty() => {
                last.1.push(' ');
                last.1.push_str(t);
                last.3 = pos + line.len();
            }
            (None, None) if !t.is_empty() => return None,
            _ => {}
        }
        pos += raw.len();
    }
    let known = fields.iter().filter(|f| f.0 != Field::Other).count();
    let anchored = fields.iter().any(|f| matches!(f.0, Field::Id | Field::Text | Field::UseCase));
    // Two fields that say what the requirement is, or three fields around an id (a use case
    // with its actor and flows).
    if !anchored || fields.len() < 2 || (known < 2 && fields.len() < 3) {
        return None;
    }
    let mut out: Vec<Record> = Vec::new();
    let mut title: Option<(String, usize, usize)> = None;
    for (f, value, s, e) in fields {
        if matches!(f, Field::Id | Field::UseCase) && out.last().is_some_and(|r| r.id.is_some()) {
            finish(out.last_mut(), title.take());
            out.push(Record::default());
        }
        let r = match out.last_mut() {
            Some(r) => r,
            None => {
                out.push(Record::default());
                out.last_mut()?
            }
        };
        match f {
            Field::Id => r.id = id_of(&value),
            Field::UseCase => {
                let (id, rest) = match text::leading_id(&value) {
                    Some((id, e)) => (Some(id), value[e..].trim().to_string()),
                    None => (None, value.clone()),
                };
                r.id = id;
                let start = e - rest.len();
                title = Some((rest, start, e));
            }
            Field::Title => title = Some((value, s, e)),
            Field::Text => r.text = Some((value, s, e)),
            Field::Priority => match crate::markdown::Priority::of(&value) {
                Some(crate::markdown::Priority::Rank(st)) => r.strength = Some(st),
                Some(crate::markdown::Priority::WontHave) => r.wont = true,
                None => {}
            },
            Field::Depends => r.depends.extend(
                value
                    .split([',', ';', ' '])
                    .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
                    .filter_map(id_of),
            ),
            Field::Fit if !value.is_empty() => r.fits.push((value, s, e)),
            Field::Fit | Field::Other => {}
        }
    }
    finish(out.last_mut(), title);
    out.retain(|r| r.text.is_some());
    Some(out)
}

/// A record without a description takes its title as its text.
fn finish(r: Option<&mut Record>, title: Option<(String, usize, usize)>) {
    if let Some(r) = r
        && r.text.is_none()
    {
        r.text = title;
    }
}

/// An id field's value as a node id: the document's id (`FR1`, `REQ-7`), or a bare number
/// as `REQ-75`; words ("None", "n/a") are no id.
fn id_of(value: &str) -> Option<String> {
    let v = value.trim().trim_start_matches('#').trim();
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Some(format!("REQ-{v}"));
    }
    text::leading_id(v).filter(|(_, e)| *e >= v.len()).map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_make_records_and_prose_does_not() {
        let para = "ID: FR1\nTITLE: Download\nDESC: A user should be able to\n  download the app.\nDEP: None\nID: FR2\nTITLE: Arrival times\nDEP: FR1, REQ-3\nPRIORITY: Low\n";
        let rs = records(para).unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].id.as_deref(), Some("FR1"));
        let (text, s, e) = rs[0].text.clone().unwrap();
        assert_eq!(text, "A user should be able to download the app.");
        assert_eq!(&para[s..e], "A user should be able to\n  download the app.");
        assert!(rs[0].depends.is_empty());
        assert_eq!(rs[1].text.as_ref().unwrap().0, "Arrival times");
        assert_eq!(rs[1].depends, ["FR1", "REQ-3"]);
        assert_eq!(rs[1].strength, Some(Strength::May));
        assert_eq!(records("Note: the system shall log.\nIt shall also alert.\n"), None);
        assert_eq!(records("Rationale: x\nSource: y\n"), None, "no id, no text");
        assert_eq!(id_of("75").as_deref(), Some("REQ-75"));
        assert_eq!(id_of("None"), None);
    }
}
