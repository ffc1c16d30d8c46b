//! Canonical JSON: the byte encoding that packet hashes are computed over.
//!
//! Object keys are sorted by their UTF-8 bytes, no insignificant whitespace, strings and
//! numbers as `serde_json` writes them. We do not rely on `serde_json::Map` ordering, which
//! changes when any crate in the build enables `preserve_order`.

use serde_json::Value;

/// Encodes `value` canonically (sorted keys, compact).
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    // Only JSON text was written, which is UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the canonical encoding of `value` to `out`: the bytes `canonical_json` returns,
/// without building intermediate strings (hashing a packet is on every journal step).
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            write_json(value, out);
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(key.as_str(), out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
    }
}

/// A scalar or string exactly as `serde_json` writes it (`Value::to_string`).
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing JSON scalars into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The encoding this module had first (through `Value::to_string`), which stored
    /// hashes were computed with.
    fn reference(value: &Value, out: &mut String) {
        match value {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    reference(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    reference(&map[key], out);
                }
                out.push('}');
            }
            _ => out.push_str(&value.to_string()),
        }
    }

    #[test]
    fn the_encoding_is_byte_for_byte_the_first_one() {
        let cases = [
            json!(null),
            json!({"b": 1, "a": {"z": [true, null], "y": "s\"q"}, "": -0.5, "é": "\u{1}\n\t"}),
            json!([1.0e300, -3, 18446744073709551615u64, 0.1, "\\/", {"Z": 1, "a": 2, "_": 3}]),
            json!({"ключ": "значение", "emoji": "😀", "k\u{7f}": 2.5e-8}),
        ];
        for v in cases {
            let mut want = String::new();
            reference(&v, &mut want);
            assert_eq!(canonical_json(&v), want);
        }
    }

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [true, null], "y": "s\"q"}});
        assert_eq!(canonical_json(&v), r#"{"a":{"y":"s\"q","z":[true,null]},"b":1}"#);
    }
}

#[cfg(test)]
mod float_tests {
    /// Journals store values as JSON and replays compare results exactly, so every f64 must
    /// survive a JSON round trip bit for bit (serde_json's `float_roundtrip` feature; without
    /// it parsing is best-effort and a replay of a run with durations or forecasts can differ
    /// in the last bit).
    #[test]
    fn floats_survive_a_json_round_trip_exactly() {
        let rng = crate::SeededRng::from_seed(9);
        let mut checked = 0;
        for _ in 0..20_000 {
            let x = f64::from_bits(rng.next_u64());
            if !x.is_finite() {
                continue;
            }
            let v = serde_json::json!(x);
            let back: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
            assert_eq!(back.as_f64().map(f64::to_bits), Some(x.to_bits()), "{x:e}");
            checked += 1;
        }
        assert!(checked > 19_000);
    }
}
