//! Plain prose: paragraphs split into sentences; a sentence with a modal verb (must, shall,
//! should, will, may, can) is a requirement with a confidence that says how strong the cue
//! was. A line opening with a bracketed number (`[12] The system …`) is one requirement, as
//! in extracted requirement lists. A short first line without a full stop is the title.

use crate::builder::{Builder, Draft};
use crate::model::{EdgeKind, NodeKind};
use crate::text::{self, KeywordMode};

pub(crate) fn compile(b: &mut Builder<'_>) {
    let src = b.text;
    let (upper, _) = text::keyword_cases(src);
    let mode = if upper { KeywordMode::UpperOnly } else { KeywordMode::AnyCase };
    let mut goal = None;
    let mut para_start: Option<usize> = None;
    let mut pos = 0;
    let mut first = true;
    let mut paragraphs: Vec<(usize, usize, bool)> = Vec::new();
    for raw in src.split_inclusive('\n') {
        let end = pos + raw.trim_end_matches(['\n', '\r']).len();
        let line = &src[pos..end];
        let t = line.trim();
        if first && !t.is_empty() {
            first = false;
            let title = t.trim_start_matches('#').trim();
            if title.len() <= 100 && !title.ends_with('.') && text::keyword(title, mode).is_none() {
                let lead = line.len() - line.trim_start().len();
                goal = Some(b.add(Draft::new(NodeKind::Goal, title, pos + lead, end)));
                pos += raw.len();
                continue;
            }
        }
        if t.starts_with('#') || t.is_empty() {
            if let Some(s) = para_start.take() {
                paragraphs.push((s, pos, false));
            }
        } else if t.starts_with('[') && t.find(']').is_some_and(|i| i < 24) {
            if let Some(s) = para_start.take() {
                paragraphs.push((s, pos, false));
            }
            paragraphs.push((pos, end, true));
        } else if para_start.is_none() {
            para_start = Some(pos);
        }
        pos += raw.len();
    }
    if let Some(s) = para_start {
        paragraphs.push((s, src.len(), false));
    }
    for (start, end, item) in paragraphs {
        let text = &src[start..end];
        if item {
            let lead = text.len() - text.trim_start().len();
            let close = text.find(']').map_or(0, |i| i + 1);
            let inner = text[lead + 1..close.saturating_sub(1).max(lead + 1)].trim();
            let label = text::leading_id(inner).map(|(id, _)| id);
            // A section number after the bracket ("[12] 2.1.1 The network …") is not text.
            let after = &text[close..];
            let after_trim = after.trim_start();
            let number_len = after_trim
                .split_whitespace()
                .next()
                .filter(|w| w.contains('.') && w.chars().all(|c| c.is_ascii_digit() || c == '.'))
                .map_or(0, str::len);
            let skip = close + (after.len() - after_trim.len()) + number_len;
            let body = text[skip..].trim();
            if body.is_empty() {
                continue;
            }
            let body_start = start + skip + (text[skip..].len() - text[skip..].trim_start().len());
            let kw = text::keyword(body, mode);
            let id = b.add(
                Draft::new(NodeKind::Requirement, body, body_start, end)
                    .label(label)
                    .strength(kw.as_ref().map(|k| k.strength))
                    .confidence(kw.as_ref().map_or(0.5, |k| k.confidence)),
            );
            if let Some(g) = &goal {
                b.edge(&id, g, EdgeKind::Refines, "document");
            }
            continue;
        }
        for (s, e) in text::sentences(text) {
            let sentence = &text[s..e];
            let kind = match text::keyword(sentence, mode) {
                Some(_) => NodeKind::Requirement,
                None if sentence.ends_with('?') => NodeKind::Question,
                None => continue,
            };
            let kw = text::keyword(sentence, mode);
            let (label, body_off) = match text::leading_id(sentence) {
                Some((id, off)) => (Some(id), off),
                None => (None, 0),
            };
            let conf = kw.as_ref().map_or(0.6, |k| k.confidence * 0.9);
            let id = b.add(
                Draft::new(kind, &sentence[body_off..], start + s + body_off, start + e)
                    .label(label)
                    .strength(kw.map(|k| k.strength))
                    .confidence(conf),
            );
            if let Some(g) = &goal {
                b.edge(&id, g, EdgeKind::Refines, "document");
            }
        }
    }
}
