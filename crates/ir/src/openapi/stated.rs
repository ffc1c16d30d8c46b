//! Requirements an API description states in words: a sentence of the API's or an
//! operation's `description` with a normative keyword ("Clients must authenticate with
//! OAuth 2.", "The order must not be shipped."). Descriptions are CommonMark: list items are
//! statements of their own, inline markup is not text; one written in HTML (Stripe's, AWS's)
//! is read as the Markdown it stands for. Only firm keywords count (`must`,
//! `shall`, `should`, `required to`, and upper-case BCP 14 words); "will" and "may" describe
//! behaviour more often than they require it. A statement that ends in a colon is completed by
//! the list after it ("The token must have the following permission set:" and its items); one
//! that speaks of "it" or "they" keeps the sentence before it, which says what that is ("The
//! `production` branch can be a specific branch. When set to a specific branch it must exist.").
//! Parameter and schema descriptions are left to the schema, which states the same
//! constraints exactly.

use crate::model::Strength;
use crate::text;

/// The statements of `description` with a firm normative keyword: text and strength.
pub(super) fn requirements(description: &str) -> Vec<(String, Strength)> {
    let mut out = Vec::new();
    let description = crate::markdown::html::as_markdown(description);
    let chunks: Vec<(String, bool)> = chunks(&description)
        .into_iter()
        .map(|(c, item)| (crate::markdown::strip_inline(&c), item))
        .collect();
    for (i, (chunk, _)) in chunks.iter().enumerate() {
        let sentences = text::sentences(chunk);
        for (n, &(s, e)) in sentences.iter().enumerate() {
            let sentence = &chunk[s..e];
            if let Some(k) = text::firm_keyword(sentence)
                && !points_elsewhere(sentence)
            {
                let mut text = sentence.to_string();
                if n > 0 && refers_back(&sentence[..k.start]) {
                    let (ps, _) = sentences[n - 1];
                    text = chunk[ps..e].to_string();
                }
                if n + 1 == sentences.len() && text.ends_with(':') {
                    let items: Vec<&str> = chunks[i + 1..]
                        .iter()
                        .take_while(|(_, item)| *item)
                        .take(MAX_ITEMS)
                        .map(|(c, _)| c.trim().trim_end_matches(['.', ';', ',']))
                        .collect();
                    if !items.is_empty() {
                        text = format!("{text} {}.", items.join("; "));
                    }
                }
                out.push((text, k.strength));
            }
        }
    }
    out
}

/// Whether a sentence's subject is something named before it: "it", "they", "these" or
/// "those" in `ahead`, the sentence before its normative keyword ("These users must have an
/// SSH key", "When set to a specific branch it must exist"). Not "this": an operation's
/// description says "this endpoint" of the operation itself; not a pronoun after the keyword,
/// which its own clause names ("OAuth apps must use their client ID").
fn refers_back(ahead: &str) -> bool {
    let lower = ahead.to_lowercase();
    text::words(&lower)
        .into_iter()
        .any(|(s, e)| matches!(&lower[s..e], "it" | "they" | "these" | "those"))
}

/// Whether a sentence only points to other documentation: "To create name patterns that
/// branches must match, see …" / "For the fields a token must carry, see …" — its keyword is in
/// the clause that says what the pointer is for.
fn points_elsewhere(sentence: &str) -> bool {
    let lower = sentence.trim_start().to_lowercase();
    (lower.starts_with("to ") || lower.starts_with("for "))
        && lower.split_once(", see ").is_some_and(|(purpose, _)| !purpose.contains(", "))
}

/// How many list items complete a statement that ends in a colon.
const MAX_ITEMS: usize = 20;

/// Paragraphs and list items of a CommonMark description, each joined into one line and
/// marked whether it is a list item; code blocks and headings are not statements.
fn chunks(description: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut current = String::new();
    let mut item = false;
    let mut fenced = false;
    let flush = |current: &mut String, item: bool, out: &mut Vec<(String, bool)>| {
        if !current.trim().is_empty() {
            out.push((std::mem::take(current), item));
        }
        current.clear();
    };
    for line in description.lines() {
        // A blockquote's text is text (its `>` markers are not); a GitHub alert's kind
        // (`> [!NOTE]`, `[!WARNING]`…) is no statement.
        let mut t = line.trim();
        while let Some(rest) = t.strip_prefix('>') {
            t = rest.trim_start();
        }
        if t.starts_with("[!") && t.ends_with(']') {
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            flush(&mut current, item, &mut out);
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with("    ") && current.is_empty() {
            continue;
        }
        if t.is_empty() || t.starts_with('#') || t.starts_with('|') {
            flush(&mut current, item, &mut out);
            continue;
        }
        let marker = text::list_marker(t).max(text::numbered_marker(t));
        if marker > 0 {
            flush(&mut current, item, &mut out);
            item = true;
        } else if current.is_empty() {
            // A paragraph: a line after a blank one that is no item (an item's continuation
            // lines join the item while no blank line comes between).
            item = false;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&t[marker..]);
    }
    flush(&mut current, item, &mut out);
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

    /// A statement that ends in a colon is completed by the list after it (and only that list).
    #[test]
    fn a_statement_ending_in_a_colon_takes_its_list() {
        let d = "The fine-grained token must have the following permission set:\n\n\
                 * \"Checks\" repository permissions (read)\n\
                 * \"Contents\" repository permissions (write).\n\n\
                 Installation tokens are not supported.\n\n\
                 Callers must send one of:\n\nNothing else.";
        let got = requirements(d);
        assert_eq!(
            got,
            [
                (
                    "The fine-grained token must have the following permission set: \"Checks\" \
                     repository permissions (read); \"Contents\" repository permissions (write)."
                        .to_string(),
                    Strength::Must
                ),
                ("Callers must send one of:".to_string(), Strength::Must),
            ]
        );
    }

    /// A statement that speaks of "it" keeps the sentence that says what it is: the same words
    /// in two paragraphs are about two things (Bitbucket's branching model settings).
    #[test]
    fn a_statement_about_it_keeps_what_it_is() {
        let d = "Update the model.\n\nThe `development` branch can be a specific branch. When set \
                 to a specific branch it must currently exist.\n\nThe `production` branch can be \
                 disabled. When set to a specific branch it must currently exist. Callers must \
                 send a token. You must use a JWT to access this endpoint. OAuth apps must use \
                 their client ID.\n\n> [!NOTE]\n> If you use this endpoint and the \"Delete\" \
                 endpoint in parallel, requests conflict.\n> You must use these endpoints \
                 serially.\n\n> [!IMPORTANT]\n> Tokens must be rotated.\n\nTo create name patterns \
                 that branches must match, see \"Deployment branch policies.\" To delete a team, \
                 the user must be an owner.\n\n<p>Accepts a request.</p> <p>The attachment \
                 <b>must</b> be pending &amp; valid.</p><ul><li>Refunds must be paid</li>\
                 <li>in EUR</li></ul><p>A List<String> of names must be sent.</p>";
        let got: Vec<String> = requirements(d).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            got,
            [
                "The development branch can be a specific branch. When set to a specific branch \
                 it must currently exist.",
                "The production branch can be disabled. When set to a specific branch it must \
                 currently exist.",
                "Callers must send a token.",
                "You must use a JWT to access this endpoint.",
                "OAuth apps must use their client ID.",
                // A GitHub alert: a blockquote whose first line names its kind (no `>` nor
                // `[!NOTE]` in its text).
                "You must use these endpoints serially.",
                "Tokens must be rotated.",
                "To delete a team, the user must be an owner.",
                "The attachment must be pending & valid.",
                "Refunds must be paid",
                "A List<String> of names must be sent.",
            ]
        );
    }
}
