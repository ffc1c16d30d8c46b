//! Tables in Markdown: a requirements table's rows become list items (the statement column
//! found by its header or its length, an id column naming each row, a priority column ranking
//! it); a table whose cells are a few words (a glossary) is left alone.

use super::Block;
use crate::model::Strength;

/// A requirements table's row as a statement: `ID: text`, its span, its ranking.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) text: String,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) priority: Option<Priority>,
}
use crate::text;

/// A table being read: its header's cells, then each row's cells (text, span).
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) in_head: bool,
    pub(crate) header: Vec<String>,
    pub(crate) row: Vec<(String, usize, usize)>,
    pub(crate) rows: Vec<Vec<(String, usize, usize)>>,
}

impl Table {
    /// A requirements table's rows as list items: the statement is the column whose header
    /// says so (`Requirement`, `Description`, `Statement`, `Criterion`, `User story`, `Text`),
    /// else the column of the longest cells; an `ID` column (or one whose cells all open with
    /// an id) names each row; a `Priority` (or `MoSCoW`, `Importance`) column ranks it. Other
    /// columns (status, owner) are not text. A table
    /// whose longest cells are a few words (a glossary's terms, a field list) is left alone.
    pub(super) fn statements(self) -> Vec<Block> {
        self.rows_as_statements()
            .into_iter()
            .map(|r| Block::Item { text: r.text, start: r.start, end: r.end, priority: r.priority })
            .collect()
    }

    /// [`Table::statements`] as rows, for a front end of its own (plain text's tables).
    pub(crate) fn rows_as_statements(self) -> Vec<Row> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return Vec::new();
        }
        let header =
            |i: usize| self.header.get(i).map_or(String::new(), |h| h.trim().to_lowercase());
        let cells = |i: usize| self.rows.iter().filter_map(move |r| r.get(i)).map(|c| c.0.trim());
        let mean_len = |i: usize| {
            let n = cells(i).count().max(1);
            cells(i).map(str::len).sum::<usize>() / n
        };
        // Header words that name the statement column ("Requirement", "Description", "User
        // story", "Acceptance criteria"; not "Requirement ID", not "Context").
        const TEXT: &[&str] = &[
            "requirement",
            "requirements",
            "description",
            "statement",
            "criterion",
            "criteria",
            "story",
            "stories",
            "text",
            "shall",
        ];
        let named = (0..columns).find(|i| {
            let h = header(*i);
            let words: Vec<&str> =
                h.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
            words.iter().any(|w| TEXT.contains(w))
                && !words.iter().any(|w| matches!(*w, "id" | "no" | "nr" | "number" | "ref"))
                && !h.ends_with('#')
        });
        let text = named
            .or_else(|| (0..columns).max_by_key(|i| mean_len(*i)).filter(|i| mean_len(*i) >= 20));
        let Some(text) = text else { return Vec::new() };
        let id_column = (0..columns).filter(|i| *i != text).find(|i| {
            let h = header(*i);
            matches!(
                h.as_str(),
                "id" | "#"
                    | "ref"
                    | "ref."
                    | "key"
                    | "no"
                    | "no."
                    | "nr"
                    | "number"
                    | "req"
                    | "req."
                    | "req id"
                    | "requirement id"
                    | "requirement no"
                    | "requirement #"
            ) || (cells(*i).count() > 0
                && cells(*i).all(|c| text::leading_id(c).is_some_and(|(_, e)| e >= c.len())))
        });
        let priority_column = (0..columns).filter(|i| *i != text).find(|i| {
            let h = header(*i);
            h.split(|c: char| !c.is_alphanumeric()).any(|w| PRIORITY_HEADERS.contains(&w))
        });
        self.rows
            .iter()
            .filter_map(|r| {
                let (body, start, end) = r.get(text)?;
                let body = body.trim();
                if body.is_empty() {
                    return None;
                }
                let id = id_column
                    .and_then(|i| r.get(i))
                    .map(|c| c.0.trim())
                    .filter(|c| text::leading_id(c).is_some());
                let text = match id {
                    Some(id) => format!("{id}: {body}"),
                    None => body.to_string(),
                };
                let priority =
                    priority_column.and_then(|i| r.get(i)).and_then(|c| Priority::of(&c.0));
                Some(Row { text, start: *start, end: *end, priority })
            })
            .collect()
    }
}

/// Header words of a table column that ranks its rows.
const PRIORITY_HEADERS: &[&str] = &["priority", "prio", "moscow", "importance"];

/// A table row's ranking, from its priority column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Priority {
    Rank(Strength),
    /// MoSCoW's "Won't have": out of scope, a non-goal.
    WontHave,
}

impl Priority {
    /// `Must` / `M` / `High` / `Mandatory` / `1`, `Should` / `Medium`, `Could` / `Low` /
    /// `Nice to have`, `Won't`; anything else ranks nothing.
    pub(crate) fn of(cell: &str) -> Option<Priority> {
        let c = cell.trim().trim_matches('*').trim().to_lowercase().replace('’', "'");
        let first = c.split(|ch: char| !ch.is_alphanumeric() && ch != '\'').next().unwrap_or("");
        Some(match first {
            "must" | "m" | "high" | "mandatory" | "essential" | "critical" | "required" | "p0"
            | "p1" | "1" => Priority::Rank(Strength::Must),
            "should" | "s" | "medium" | "med" | "desirable" | "important" | "p2" | "2" => {
                Priority::Rank(Strength::Should)
            }
            "could" | "c" | "low" | "optional" | "nice" | "p3" | "3" => {
                Priority::Rank(Strength::May)
            }
            "won't" | "wont" | "w" => Priority::WontHave,
            _ => return None,
        })
    }
}
