//! Where a mapping key is written in the raw text (JSON or YAML spelling), so that every node
//! of an API description has its span: the parsed value keeps no positions.

use std::collections::HashMap;

/// Finds where a mapping key is written, from a byte offset on (JSON or YAML spelling).
#[derive(Debug)]
pub(super) struct Locator<'a> {
    pub(super) text: &'a str,
}

impl Locator<'_> {
    pub(super) fn key(&self, key: &str, from: usize) -> Option<usize> {
        // An empty key (`"": …`, which YAML allows) is found everywhere and locates nothing;
        // searching for it never advanced.
        if key.is_empty() {
            return None;
        }
        let bytes = self.text.as_bytes();
        let finder = memchr::memmem::Finder::new(key.as_bytes());
        let mut at = from.min(bytes.len());
        while let Some(p) = finder.find(&bytes[at..]) {
            let s = at + p;
            let e = s + key.len();
            let before = if s == 0 { b'\n' } else { bytes[s - 1] };
            let mut k = e;
            if k < bytes.len() && matches!(bytes[k], b'"' | b'\'') {
                k += 1;
            }
            while k < bytes.len() && bytes[k] == b' ' {
                k += 1;
            }
            if matches!(before, b'"' | b'\'' | b' ' | b'\n' | b'\t' | b'{' | b',')
                && k < bytes.len()
                && bytes[k] == b':'
            {
                return Some(if matches!(before, b'"' | b'\'') { s - 1 } else { s });
            }
            at = e.max(s + 1);
        }
        None
    }
}

impl<'a> Locator<'a> {
    /// Where each key that starts with `/` (a path, `/pets/{id}`) is first written from
    /// `from` on, found in one pass over the text: looking each path up with [`Locator::key`]
    /// read the text once per path (serde_json's maps are sorted, not in the document's
    /// order, so a search cannot go on from the path before).
    pub(super) fn path_keys(&self, from: usize) -> HashMap<&'a str, usize> {
        let (t, b) = (self.text, self.text.as_bytes());
        let mut out = HashMap::new();
        let from = from.min(b.len());
        for i in memchr::memchr_iter(b'/', &b[from..]).map(|i| i + from) {
            let before = if i == 0 { b'\n' } else { b[i - 1] };
            let quote = matches!(before, b'"' | b'\'').then_some(before);
            if quote.is_none() && !matches!(before, b' ' | b'\n' | b'\t') {
                continue;
            }
            // The key ends at its closing quote, or (unquoted YAML) at a `:` followed by a
            // space or the line's end (`/v1/{name}:cancel:` is one key).
            let end = match quote {
                Some(q) => memchr::memchr(q, &b[i..]).map(|e| i + e),
                None => {
                    let line_end = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |e| i + e);
                    memchr::memchr_iter(b':', &b[i..line_end])
                        .map(|e| i + e)
                        .find(|&e| e + 1 >= line_end || matches!(b[e + 1], b' ' | b'\r' | b'\t'))
                }
            };
            let Some(end) = end else { continue };
            let mut k = end + usize::from(quote.is_some());
            while k < b.len() && b[k] == b' ' {
                k += 1;
            }
            if k >= b.len() || b[k] != b':' {
                continue;
            }
            if let Some(key) = t.get(i..end) {
                out.entry(key).or_insert(if quote.is_some() { i - 1 } else { i });
            }
        }
        out
    }

    /// Where a key of the document's top-level mapping is written (`tags`, `paths`): in
    /// YAML at the start of a line, in JSON at the first level of braces. A key of the same
    /// name deeper down (an operation's `tags`) is not it.
    pub(super) fn top(&self, key: &str) -> Option<usize> {
        let bytes = self.text.as_bytes();
        if !self.text.trim_start().starts_with('{') {
            let mut from = 0;
            while let Some(at) = self.key(key, from) {
                if at == 0 || bytes[at - 1] == b'\n' {
                    return Some(at);
                }
                from = at + 1;
            }
            return None;
        }
        // JSON: walk the text once, keeping the depth of braces and brackets outside strings.
        let (mut depth, mut i) = (0usize, 0usize);
        while i < bytes.len() {
            match bytes[i] {
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.saturating_sub(1),
                b'"' => {
                    let start = i;
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    if depth == 1 && self.text.get(start + 1..i) == Some(key) {
                        let rest = self.text.get(i + 1..).unwrap_or("").trim_start();
                        if rest.starts_with(':') {
                            return Some(start);
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }
}
