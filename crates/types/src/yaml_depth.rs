//! A linear pre-check of YAML nesting before a parser sees it: a document of a hundred
//! thousand `[[[…]]]` (or `- - - …`) levels otherwise costs the parser a minute before its
//! recursion limit fires. Flow collections are counted outside quotes and comments; block
//! nesting is bounded by a line's indentation plus its compact `- ` sequence markers.

/// Where `text` nests deeper than the limit in force ([`crate::limits::YAML_DEPTH`]): the line
/// (1-based) and the words of the refusal, which name the limit and its setting.
pub fn check(text: &str) -> Option<(usize, String)> {
    let limit = &crate::limits::YAML_DEPTH;
    let max = limit.get_usize();
    too_deep(text, max).map(|(line, depth)| {
        (line, format!("nested {depth} levels deep (at most {max}; {})", limit.hint()))
    })
}

/// The first line (1-based) where `text` nests deeper than `max`, with the depth reached.
pub fn too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let mut flow = 0usize;
    // Quote state carries across lines (flow scalars may span them).
    let mut quote: Option<char> = None;
    for (i, line) in text.lines().enumerate() {
        let ln = i + 1;
        if quote.is_none() && flow == 0 {
            let indent = line.len() - line.trim_start_matches(' ').len();
            let mut rest = line.trim_start();
            let mut dashes = 0;
            while let Some(r) = rest.strip_prefix("- ").or_else(|| (rest == "-").then_some("")) {
                dashes += 1;
                rest = r.trim_start();
            }
            if indent + dashes > max {
                return Some((ln, indent + dashes));
            }
        }
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('\'') => {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            quote = None;
                        }
                    }
                }
                Some(_) => {
                    if c == '\\' {
                        chars.next();
                    } else if c == '"' {
                        quote = None;
                    }
                }
                None => match c {
                    '#' if prev.is_whitespace() => break,
                    '\'' | '"' if prev.is_whitespace() || "[{,:".contains(prev) => quote = Some(c),
                    '[' | '{' => {
                        flow += 1;
                        if flow > max {
                            return Some((ln, flow));
                        }
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_and_block_nesting_are_found_and_ordinary_yaml_passes() {
        let deep = format!("a: {}1{}", "[".repeat(300), "]".repeat(300));
        assert_eq!(too_deep(&deep, 256), Some((1, 257)));
        let dashes = format!("x:\n{}1\n", "- ".repeat(300));
        assert_eq!(too_deep(&dashes, 256), Some((2, 300)));
        let ok = "rules:\n  - name: \"a [ quoted { bracket\"\n    when: { role: coder, step: 'it''s [' }\n    reply: done # a comment with [[[[\n";
        assert_eq!(too_deep(ok, 8), None);
        assert_eq!(too_deep("a: [[[x]]]\n", 2), Some((1, 3)));
        let spread = format!("a: {}\n{}\n", "[".repeat(200), "]".repeat(200));
        assert_eq!(too_deep(&spread, 256), None);
    }
}
