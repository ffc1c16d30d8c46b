//! Requirements an API description states in words: a sentence of the API's or an
//! operation's `description` with a normative keyword ("Clients must authenticate with
//! OAuth 2.", "The order must not be shipped."). Descriptions are CommonMark: list items are
//! statements of their own, inline markup is not text. Only firm keywords count (`must`,
//! `shall`, `should`, `required to`, and upper-case BCP 14 words); "will" and "may" describe
//! behaviour more often than they require it. Parameter and schema descriptions are left to
//! the schema, which states the same constraints exactly.

use crate::model::Strength;
use crate::text::{self, KeywordMode};

/// The statements of `description` with a firm normative keyword: text and strength.
pub(super) fn requirements(description: &str) -> Vec<(String, Strength)> {
    let mut out = Vec::new();
    for chunk in chunks(description) {
        let chunk = crate::markdown::strip_inline(&chunk);
        for (s, e) in text::sentences(&chunk) {
            let sentence = &chunk[s..e];
            if let Some(k) = text::keyword(sentence, KeywordMode::AnyCase)
                && k.confidence >= 0.7
            {
                out.push((sentence.to_string(), k.strength));
            }
        }
    }
    out
}

/// Paragraphs and list items of a CommonMark description, each joined into one line; code
/// blocks and headings are not statements.
fn chunks(description: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut fenced = false;
    let flush = |current: &mut String, out: &mut Vec<String>| {
        if !current.trim().is_empty() {
            out.push(std::mem::take(current));
        }
        current.clear();
    };
    for line in description.lines() {
        let t = line.trim();
        if t.starts_with("```") || t.starts_with("~~~") {
            flush(&mut current, &mut out);
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with("    ") && current.is_empty() {
            continue;
        }
        if t.is_empty() || t.starts_with('#') || t.starts_with('|') {
            flush(&mut current, &mut out);
            continue;
        }
        let marker = text::list_marker(t).max(text::numbered_marker(t));
        if marker > 0 {
            flush(&mut current, &mut out);
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&t[marker..]);
    }
    flush(&mut current, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firm_keywords_in_paragraphs_and_items() {
        let d = "Orders for the shop. Clients **must** authenticate with [OAuth 2](https://oauth.net).\n\
                 The response will contain the order.\n\n\
                 - Orders should be paid\n  within 7 days.\n- An order may be cancelled.\n\n\
                 ```\nthe client must not see this\n```\n\n# Notes\n1. Refunds MUST be approved.";
        let got = requirements(d);
        assert_eq!(
            got,
            [
                ("Clients must authenticate with OAuth 2.".to_string(), Strength::Must),
                ("Orders should be paid within 7 days.".to_string(), Strength::Should),
                ("Refunds MUST be approved.".to_string(), Strength::Must),
            ]
        );
    }
}
