//! Tables in plain text, read as Markdown's are (`markdown/table.rs`): pipe tables
//! (`| FR-1 | The system shall … | High |`) and grid tables (`+------+-----+` borders, a row's
//! text on several lines, as pandoc, reStructuredText and PDF extraction write them). The
//! header is the row above a separator (`|---|`, `+===+`), else a first row of short cells
//! without a keyword; a row whose first cell is empty continues the row above.

use crate::markdown::Table;
use crate::text::{self, KeywordMode};

/// A line of a table: a border or separator (`+---+`, `|:--|`), or a row of cells.
fn border(t: &str) -> bool {
    (t.starts_with('+') || t.starts_with('|'))
        && t.len() >= 3
        && t.chars().all(|c| matches!(c, '+' | '-' | '=' | '|' | ':' | ' '))
        && t.contains(['-', '='])
}

fn row(t: &str) -> bool {
    t.len() >= 3 && t.starts_with('|') && t.ends_with('|') && !border(t)
}

/// The tables among `lines` (byte ranges of `src`'s lines): each as its first and last line
/// and the table read from them.
pub(super) fn tables(src: &str, lines: &[(usize, usize)]) -> Vec<(usize, usize, Table)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = |k: usize| src[lines[k].0..lines[k].1].trim();
        if !(border(t(i)) || row(t(i))) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < lines.len() && (border(t(j)) || row(t(j))) {
            j += 1;
        }
        if let Some(table) = read(src, &lines[i..j]) {
            out.push((i, j - 1, table));
        }
        i = j;
    }
    out
}

/// One table from its lines.
fn read(src: &str, lines: &[(usize, usize)]) -> Option<Table> {
    let grid = lines.iter().any(|&(s, e)| src[s..e].trim().starts_with('+'));
    // Rows of cells (text, start, end); whether a separator follows each row.
    let mut rows: Vec<Vec<(String, usize, usize)>> = Vec::new();
    let mut separated: Vec<bool> = Vec::new();
    let mut open = false;
    for &(s, e) in lines {
        let line = &src[s..e];
        let t = line.trim();
        if border(t) {
            if let Some(last) = separated.last_mut() {
                *last |= t.contains('=') || (!grid && t.contains('-'));
            }
            open = false;
            continue;
        }
        let cells = cells(line, s);
        let continues = open && grid
            || (!grid
                && !rows.is_empty()
                && cells.first().is_some_and(|c| c.0.is_empty())
                && cells.iter().skip(1).any(|c| !c.0.is_empty()));
        match rows.last_mut() {
            Some(last) if continues => {
                for (k, c) in cells.into_iter().enumerate() {
                    match last.get_mut(k) {
                        Some(cell) if !c.0.is_empty() => {
                            if cell.0.is_empty() {
                                cell.1 = c.1;
                            } else {
                                cell.0.push(' ');
                            }
                            cell.0.push_str(&c.0);
                            cell.2 = c.2;
                        }
                        Some(_) => {}
                        None => last.push(c),
                    }
                }
            }
            _ => {
                rows.push(cells);
                separated.push(false);
            }
        }
        open = true;
    }
    if rows.is_empty() {
        return None;
    }
    let short = |r: &[(String, usize, usize)]| {
        r.iter().all(|c| {
            c.0.split_whitespace().count() <= 3
                && text::keyword(&c.0, KeywordMode::AnyCase).is_none()
        })
    };
    let header = if separated[0] || (rows.len() > 1 && short(&rows[0])) {
        Some(rows.remove(0))
    } else {
        None
    };
    Some(Table {
        in_head: false,
        header: header.map(|h| h.into_iter().map(|c| c.0).collect()).unwrap_or_default(),
        row: Vec::new(),
        rows,
    })
}

/// The cells of a row line `| a | b |` that starts at byte `at`: text, start, end.
fn cells(line: &str, at: usize) -> Vec<(String, usize, usize)> {
    let bars: Vec<usize> = line.match_indices('|').map(|(i, _)| i).collect();
    bars.windows(2)
        .map(|w| {
            let raw = &line[w[0] + 1..w[1]];
            let lead = raw.len() - raw.trim_start().len();
            let s = at + w[0] + 1 + lead;
            (raw.trim().to_string(), s, s + raw.trim().len())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_pipe_tables() {
        let src = "+----+-------------------+\n| ID | Requirement       |\n+====+===================+\n| F1 | The system shall  |\n|    | log in.           |\n+----+-------------------+\n| F2 | It shall log out. |\n+----+-------------------+\ntext\n| a | b |\n|---|---|\n| c | d |\n|   | e |\n";
        let mut lines = Vec::new();
        let mut pos = 0;
        for raw in src.split_inclusive('\n') {
            lines.push((pos, pos + raw.trim_end().len()));
            pos += raw.len();
        }
        let ts = tables(src, &lines);
        assert_eq!(ts.len(), 2);
        let (first, last, grid) = &ts[0];
        assert_eq!((*first, *last), (0, 7));
        assert_eq!(grid.header, ["ID", "Requirement"]);
        let texts: Vec<&str> = grid.rows.iter().map(|r| r[1].0.as_str()).collect();
        assert_eq!(texts, ["The system shall log in.", "It shall log out."]);
        let (s, e) = (grid.rows[0][1].1, grid.rows[0][1].2);
        assert!(src[s..e].starts_with("The system shall") && src[s..e].ends_with("log in."));
        let pipe = &ts[1].2;
        assert_eq!(pipe.header, ["a", "b"]);
        let cells: Vec<Vec<&str>> =
            pipe.rows.iter().map(|r| r.iter().map(|c| c.0.as_str()).collect()).collect();
        assert_eq!(cells, [["c", "d e"]], "a row with an empty first cell continues the one above");
    }
}
