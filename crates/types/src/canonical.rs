//! Canonical JSON: the byte encoding that packet hashes are computed over.
//!
//! Object keys are sorted by their UTF-8 bytes, no insignificant whitespace, strings and
//! numbers as `serde_json` writes them. We do not rely on `serde_json::Map` ordering, which
//! changes when any crate in the build enables `preserve_order`.

use serde_json::Value;

/// Encodes `value` canonically (sorted keys, compact).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            out.push_str(&value.to_string());
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
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
                if let Some(v) = map.get(key) {
                    write_value(v, out);
                }
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
