//! Secrets out of everything L9 keeps or shows. Values registered as secrets (the API keys
//! the configuration names, read from the environment) and common key shapes (`sk-…`,
//! `ghp_…`, `AKIA…`, `xox?-…`, `AIza…`, `Bearer …`) are replaced by `[redacted]` before a
//! journal entry or packet is stored and before an error is printed.

use std::borrow::Cow;
use std::sync::RwLock;

use serde_json::Value;

/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers `value` as a secret for the rest of the process (values shorter than 8
/// characters are ignored: they would redact ordinary words).
pub fn register_secret(value: &str) {
    let v = value.trim();
    if v.len() < 8 {
        return;
    }
    let mut k = KNOWN.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !k.iter().any(|s| s == v) {
        k.push(v.to_string());
        // Longest first, so a secret that contains another is replaced whole.
        k.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// A key shape: a prefix, the characters that may follow, and how many at least.
struct Shape {
    prefix: &'static str,
    min: usize,
    body: fn(u8) -> bool,
}

fn token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn upper(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

fn bearer(c: u8) -> bool {
    token(c) || c == b'.' || c == b'~' || c == b'+' || c == b'/' || c == b'='
}

const SHAPES: &[Shape] = &[
    Shape { prefix: "sk-", min: 16, body: token },
    Shape { prefix: "ghp_", min: 20, body: token },
    Shape { prefix: "gho_", min: 20, body: token },
    Shape { prefix: "ghs_", min: 20, body: token },
    Shape { prefix: "github_pat_", min: 20, body: token },
    Shape { prefix: "AKIA", min: 16, body: upper },
    Shape { prefix: "xoxb-", min: 10, body: token },
    Shape { prefix: "xoxp-", min: 10, body: token },
    Shape { prefix: "AIza", min: 30, body: token },
    Shape { prefix: "Bearer ", min: 16, body: bearer },
];

/// `s` with every registered secret and key-shaped string replaced by [`REDACTED`].
pub fn redact(s: &str) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed(s);
    {
        let known = KNOWN.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        for k in known.iter() {
            if out.contains(k.as_str()) {
                out = Cow::Owned(out.replace(k.as_str(), REDACTED));
            }
        }
    }
    for shape in SHAPES {
        if !out.contains(shape.prefix) {
            continue;
        }
        let mut res = String::with_capacity(out.len());
        let mut rest: &str = &out;
        let mut changed = false;
        while let Some(i) = rest.find(shape.prefix) {
            let after = &rest[i + shape.prefix.len()..];
            let n = after.bytes().take_while(|c| (shape.body)(*c)).count();
            // A key starts a word: `task-sk-…` is not one.
            let before = if i > 0 { rest.as_bytes().get(i - 1) } else { res.as_bytes().last() };
            let starts_word = before.is_none_or(|c| !token(*c)) || shape.prefix == "Bearer ";
            if n >= shape.min && starts_word {
                res.push_str(&rest[..i]);
                if shape.prefix == "Bearer " {
                    res.push_str("Bearer ");
                }
                res.push_str(REDACTED);
                rest = &after[n..];
                changed = true;
            } else {
                let step = i + shape.prefix.len();
                res.push_str(&rest[..step]);
                rest = &rest[step..];
            }
        }
        if changed {
            res.push_str(rest);
            out = Cow::Owned(res);
        }
    }
    out
}

/// `v` with every string in it redacted; `None` when nothing needed to change.
pub fn redact_json(v: &Value) -> Option<Value> {
    fn walk(v: &mut Value) -> bool {
        match v {
            Value::String(s) => match redact(s) {
                Cow::Owned(r) => {
                    *s = r;
                    true
                }
                Cow::Borrowed(_) => false,
            },
            // Every element is walked (no short circuit): each may hold a secret.
            Value::Array(a) => a.iter_mut().map(walk).filter(|c| *c).count() > 0,
            Value::Object(m) => m.values_mut().map(walk).filter(|c| *c).count() > 0,
            _ => false,
        }
    }
    // Cheap test first: most values hold no secret.
    let text = v.to_string();
    if matches!(redact(&text), Cow::Borrowed(_)) {
        return None;
    }
    let mut out = v.clone();
    walk(&mut out).then_some(out)
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_key_shapes_are_redacted() {
        register_secret("hunter2-is-my-password");
        let s = "auth failed for hunter2-is-my-password; Incorrect API key provided: sk-proj-abcdEFGH1234ijkl5678. Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345";
        let r = redact(s);
        assert!(
            !r.contains("hunter2") && !r.contains("sk-proj") && !r.contains("abcdefghijklmnop"),
            "{r}"
        );
        assert_eq!(r.matches(REDACTED).count(), 3, "{r}");
        for keep in ["sk-short", "task-sk-0123456789abcdefghij", "the AKIA rule", "no secret here"]
        {
            assert_eq!(redact(keep), keep, "{keep}");
        }
        assert_eq!(redact("AKIAIOSFODNN7EXAMPLE now"), "[redacted] now");
        let v = serde_json::json!({"error": {"message": "key sk-abcdefghijklmnop1234 refused"}, "n": 1});
        let r = redact_json(&v).unwrap();
        assert_eq!(r["error"]["message"], "key [redacted] refused");
        assert!(redact_json(&serde_json::json!({"ok": true})).is_none());
    }
}
