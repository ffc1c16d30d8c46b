//! `$ref`s to other files (`schemas/pet.yaml`, `../common/types.json#/parameters/Id`): the
//! documents they name, read through the caller's [`RefLoader`] (the IR engine does no IO)
//! and parsed once each, so a multi-file API description (split by hand, or as Azure's and
//! many generators' are) reads as its bundled form would.
//!
//! Every external `$ref` is rewritten to one key, the named file's path relative to the
//! spec's directory (`./a/../b.yaml` → `b.yaml`) and its fragment: `b.yaml#/Pet`. A `$ref`
//! inside a read document is resolved against that document's directory, and one that stays
//! inside it (`#/definitions/Pet`) gets its file's key, so [`super::Doc::deref`] needs no
//! notion of which document a value came from. Remote references (`https://…`) are never
//! fetched: L9 reads no network at compile time.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::Value;

use crate::RefLoader;

/// How many other documents one spec may bring in.
pub(super) const MAX_DOCUMENTS: usize = 256;

/// The documents a spec's `$ref`s name, and those that could not be read.
#[derive(Debug, Default)]
pub(super) struct Externals {
    /// Key (path relative to the spec's directory) → parsed document.
    pub(super) docs: HashMap<String, Value>,
    /// Key → why it was not read (the first `$ref` that named it is reported).
    pub(super) failed: BTreeMap<String, String>,
    /// Rewritten `$ref` → the text it was written as, to find it in the spec.
    pub(super) written: HashMap<String, String>,
}

impl Externals {
    /// The document (or part of it) a rewritten external `$ref` names; `Err` says why not.
    pub(super) fn resolve(&self, r: &str) -> Result<&Value, String> {
        let (file, frag) = r.split_once('#').unwrap_or((r, ""));
        if let Some(why) = self.failed.get(file) {
            return Err(why.clone());
        }
        let doc = self.docs.get(file).ok_or_else(|| format!("`{file}` was not read"))?;
        super::pointer(doc, &percent_decoded(frag))
            .ok_or_else(|| format!("`{file}` has no `{frag}`"))
    }

    /// How the spec wrote a rewritten `$ref`.
    pub(super) fn as_written<'s>(&'s self, r: &'s str) -> &'s str {
        self.written.get(r).map_or(r, String::as_str)
    }
}

/// Reads every document `root`'s external `$ref`s name (and theirs, transitively), rewriting
/// the references to their keys. Without a loader nothing is read and nothing is rewritten.
pub(super) fn read(root: &mut Value, loader: Option<&dyn RefLoader>) -> Externals {
    let mut ext = Externals::default();
    let Some(loader) = loader else { return ext };
    let mut queue = VecDeque::new();
    // All the other documents together are held to what one spec may be.
    let mut budget = l9_types::limits::SPEC_BYTES.get_usize();
    rewrite(root, "", &mut ext, &mut queue, 0);
    while let Some(key) = queue.pop_front() {
        if ext.docs.contains_key(&key) || ext.failed.contains_key(&key) {
            continue;
        }
        if ext.docs.len() >= MAX_DOCUMENTS {
            ext.failed.insert(
                key,
                format!("the spec's references name more than {MAX_DOCUMENTS} other documents"),
            );
            continue;
        }
        let parsed = loader.load(&key).and_then(|text| {
            budget = budget.checked_sub(text.len()).ok_or_else(|| {
                format!(
                    "the documents the spec refers to pass {} bytes together ({})",
                    l9_types::limits::SPEC_BYTES.get(),
                    l9_types::limits::SPEC_BYTES.hint()
                )
            })?;
            parse(&key, &text)
        });
        match parsed {
            Ok(mut doc) => {
                rewrite(&mut doc, &key, &mut ext, &mut queue, 0);
                ext.docs.insert(key, doc);
            }
            Err(why) => {
                ext.failed.insert(key, why);
            }
        }
    }
    ext
}

/// Rewrites the `$ref`s of a document named `key` ("" for the spec itself), queueing the
/// other documents they name.
fn rewrite(
    v: &mut Value,
    key: &str,
    ext: &mut Externals,
    queue: &mut VecDeque<String>,
    depth: usize,
) {
    if depth > 256 {
        return;
    }
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(new) = rewritten(r, key, ext, queue)
            {
                ext.written.entry(new.clone()).or_insert_with(|| r.clone());
                *r = new;
            }
            for (k, val) in map.iter_mut() {
                if k != "$ref" {
                    rewrite(val, key, ext, queue, depth + 1);
                }
            }
        }
        Value::Array(list) => {
            list.iter_mut().for_each(|x| rewrite(x, key, ext, queue, depth + 1));
        }
        _ => {}
    }
}

/// The key a `$ref` written in document `key` becomes, if it changes: `None` for a reference
/// inside the spec itself. A remote reference is marked failed, under its own text.
fn rewritten(
    r: &str,
    key: &str,
    ext: &mut Externals,
    queue: &mut VecDeque<String>,
) -> Option<String> {
    let (file, frag) = r.split_once('#').unwrap_or((r, ""));
    if file.is_empty() {
        return (!key.is_empty()).then(|| format!("{key}#{frag}"));
    }
    if file.contains("://") || file.starts_with("//") {
        ext.failed.entry(file.to_string()).or_insert_with(|| {
            "remote references are not fetched (L9 reads no network while compiling); save \
             the document beside the spec and point the `$ref` at the file"
                .to_string()
        });
        return Some(r.to_string());
    }
    let dir = key.rsplit_once('/').map_or("", |(d, _)| d);
    let target = normalized(dir, &percent_decoded(file));
    queue.push_back(target.clone());
    Some(if frag.is_empty() { target } else { format!("{target}#{frag}") })
}

/// `dir` joined with `rel`, `.` and `a/..` taken out; `..` past the start is kept (a
/// document beside the spec's directory), an absolute path stays absolute.
fn normalized(dir: &str, rel: &str) -> String {
    let absolute = rel.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    let joined = if absolute || dir.is_empty() { rel.to_string() } else { format!("{dir}/{rel}") };
    for part in joined.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            p => parts.push(p),
        }
    }
    let path = parts.join("/");
    if absolute { format!("/{path}") } else { path }
}

/// `%20`-style escapes decoded (a URI reference's path and fragment may carry them).
pub(super) fn percent_decoded(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// A read document as JSON or YAML; the error names the file and where it broke.
fn parse(key: &str, text: &str) -> Result<Value, String> {
    let text = text.trim_start_matches('\u{feff}');
    if text.trim_start().starts_with('{') || text.trim_start().starts_with('[') {
        return serde_json::from_str(text).map_err(|e| {
            format!("`{key}` is not valid JSON at line {}, column {}: {e}", e.line(), e.column())
        });
    }
    if let Some((line, why)) = l9_types::yaml_depth::check(text) {
        return Err(format!("`{key}` is {why} (line {line})"));
    }
    let mut v: Value = yaml_serde::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map_or(String::new(), |l| format!(" at line {}, column {}", l.line(), l.column()));
        format!("`{key}` is not valid YAML{at}: {e}")
    })?;
    super::merge_keys(&mut v, 0);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_against_the_referring_document() {
        assert_eq!(normalized("", "./schemas/pet.yaml"), "schemas/pet.yaml");
        assert_eq!(normalized("paths", "../schemas/pet.yaml"), "schemas/pet.yaml");
        assert_eq!(normalized("a/b", "../../../common/t.json"), "../common/t.json");
        assert_eq!(normalized("", "../../x.json"), "../../x.json");
        assert_eq!(normalized("a", "/etc/x.yaml"), "/etc/x.yaml");
        assert_eq!(normalized("", "my%20file.yaml"), "my%20file.yaml");
        assert_eq!(percent_decoded("my%20file.yaml"), "my file.yaml");
        assert_eq!(percent_decoded("100%"), "100%");
        assert_eq!(percent_decoded("%7Bid%7D"), "{id}");
    }
}
