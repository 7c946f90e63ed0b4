//! Conversions between text and [`SecretValue`] that never leave a secret in a plain `String`:
//! JSON/YAML parsing straight into `SecretValue`, Go-compatible JSON encoding and number
//! formatting (the output of `jsonPath` must match argocd-vault-plugin's), and stringification.

use zeroize::Zeroizing;

use crate::secret::{JsonEscapes, SecretBuf, SecretValue, Sensitive};
use crate::yaml::gofmt;

/// Parses JSON text into a value. The error says where, never what.
pub(crate) fn parse_json(text: &[u8]) -> Result<SecretValue, String> {
    serde_json::from_slice::<SecretValue>(text).map_err(|e| {
        format!(
            "not valid JSON ({} at line {} column {})",
            json_error_kind(&e),
            e.line(),
            e.column()
        )
    })
}

fn json_error_kind(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected data",
        Category::Eof => "unexpected end of input",
    }
}

/// Parses YAML text (one document; a leading `---` is allowed) into a value, typing plain
/// scalars as YAML 1.1 the way Kubernetes (sigs.k8s.io/yaml, go-yaml v2) does: `0644` is the
/// octal 420, `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0x1F`, `0b101`, `0o17` and `1_000`
/// are integers; timestamps and base-60 (`1:20`) stay text. Differences, see
/// docs/placeholders.md: booleans in mixed case (`yEs`) are booleans here, and `.inf`, `.nan` or
/// an out-of-range float (`1e400`) are errors.
pub(crate) fn parse_yaml(text: &str) -> Result<SecretValue, String> {
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    serde_saphyr::from_str_with_options::<SecretValue>(text, options)
        .map_err(|_| "not valid YAML".to_owned())
}

/// Formats a float like Go's `fmt.Print` (`%v`), see [`gofmt::float_v`].
pub(crate) fn go_format_float(f: f64) -> String {
    let mut s = String::new();
    gofmt::float_v(f, &mut s);
    s
}

/// A keyed fingerprint of a value: the first 24 hex digits of HMAC-SHA256(key, its text, or its
/// canonical JSON when it is not a string). `render --redact` and the `version` of KV v1 secrets.
pub(crate) fn keyed_fingerprint(key: &[u8], v: &SecretValue) -> String {
    let text: Zeroizing<Vec<u8>> = match v {
        SecretValue::String(s) => Zeroizing::new(s.expose().to_vec()),
        other => to_go_json(other)
            .map(|j| Zeroizing::new(j.as_bytes().to_vec()))
            .unwrap_or_default(),
    };
    let mac = crate::secret::hmac_sha256(key, &text);
    hex::encode(mac)[..24].to_owned()
}

/// Encodes a value as compact JSON the way Go's `json.Marshal` does for a decoded document:
/// map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, numbers as Go writes them.
/// Written by serde_json into a [`SecretBuf`] (no copy of the value left behind by growth).
pub(crate) fn to_go_json(v: &SecretValue) -> Result<Zeroizing<String>, String> {
    let mut out = SecretBuf::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GO_JSON_FORMAT);
    serde::Serialize::serialize(&GoJson(v), &mut ser).map_err(|e| {
        // The messages are ours (below), never a value.
        let m = e.to_string();
        if m.starts_with("binary") || m.starts_with("a non-finite") {
            m
        } else {
            "the value cannot be written as JSON".to_owned()
        }
    })?;
    out.into_text()
        .ok_or_else(|| "the value cannot be written as JSON".to_owned())
}

/// A value as Go's `json.Marshal` of a decoded document sees it (map keys sorted).
struct GoJson<'a>(&'a SecretValue);

impl serde::Serialize for GoJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        match self.0 {
            SecretValue::Null => s.serialize_unit(),
            SecretValue::Bool(b) => s.serialize_bool(*b),
            SecretValue::Int(i) => s.serialize_i64(*i),
            SecretValue::Float(f) if !f.is_finite() => Err(S::Error::custom(
                "a non-finite number cannot be written as JSON",
            )),
            SecretValue::Float(f) => s.serialize_f64(*f),
            SecretValue::String(t) => match t.expose_str() {
                Some(text) => s.serialize_str(text),
                None => Err(S::Error::custom("binary data cannot be written as JSON")),
            },
            SecretValue::List(items) => s.collect_seq(items.iter().map(GoJson)),
            SecretValue::Map(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                s.collect_map(
                    keys.into_iter()
                        .filter_map(|k| m.get(k).map(|v| (k, GoJson(v)))),
                )
            }
        }
    }
}

/// Go's `encoding/json` escapes and number text: C0 controls as `\u00xx` (but `\n`, `\r`,
/// `\t`); `<`, `>`, `&`, U+2028, U+2029 as `\uXXXX`; floats as Go writes them for JSON
/// ([`gofmt::float_json`]).
const GO_JSON_FORMAT: JsonEscapes = JsonEscapes {
    extra: |c| matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}'),
    float: Some(gofmt::float_json),
};

/// The text of a scalar value (strings as they are, numbers and booleans as Go prints them).
/// `None` for null, maps and lists.
pub(crate) fn scalar_text(v: &SecretValue) -> Option<Sensitive> {
    match v {
        SecretValue::String(s) => Some(s.clone()),
        SecretValue::Int(i) => Some(Sensitive::from(i.to_string())),
        SecretValue::Float(f) => Some(Sensitive::from(go_format_float(*f))),
        SecretValue::Bool(b) => Some(Sensitive::from(b.to_string())),
        SecretValue::Null | SecretValue::List(_) | SecretValue::Map(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formats() {
        assert_eq!(go_format_float(2.0), "2");
        assert_eq!(go_format_float(1.5), "1.5");
        assert_eq!(go_format_float(1e21), "1e+21");
        assert_eq!(go_format_float(123456789.0), "123456789");
        assert_eq!(go_format_float(0.00001), "1e-05");
        assert_eq!(go_format_float(0.0001), "0.0001");
        let json = |f| {
            let mut s = String::new();
            gofmt::float_json(f, &mut s).unwrap();
            s
        };
        assert_eq!(json(1e21), "1e+21");
        assert_eq!(json(1e-7), "1e-7");
        assert_eq!(json(0.5), "0.5");
    }

    #[test]
    fn json_round_trip_sorted_and_escaped() {
        let v = parse_json(br#"{"b":[1,2.5,true,null],"a":"x<y>&\n"}"#).unwrap();
        assert_eq!(
            to_go_json(&v).unwrap().as_str(),
            r#"{"a":"x\u003cy\u003e\u0026\n","b":[1,2.5,true,null]}"#
        );
    }

    #[test]
    fn go_json_escapes_controls_separators_and_floats_like_go() {
        let v = parse_json(
            "{\"k\":\"q\\\"b\\\\s\\t\\r\\u0001\\u0008\\u000c\u{2028}\u{2029}/é\",\"f\":[1e21,1e-7,0.1,-0]}"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            to_go_json(&v).unwrap().as_str(),
            "{\"f\":[1e+21,1e-7,0.1,-0],\"k\":\"q\\\"b\\\\s\\t\\r\\u0001\\u0008\\u000c\\u2028\\u2029/é\"}"
        );
        let bin = SecretValue::List(vec![SecretValue::String(Sensitive::new(vec![0xff]))]);
        assert!(to_go_json(&bin).unwrap_err().contains("binary"));
        let inf = SecretValue::Map(
            [("x".to_owned(), SecretValue::Float(f64::INFINITY))]
                .into_iter()
                .collect(),
        );
        assert!(to_go_json(&inf).unwrap_err().contains("non-finite"));
    }

    #[test]
    fn json_integers_beyond_i64_keep_their_digits() {
        assert_eq!(
            parse_json(b"18446744073709551615").unwrap(),
            SecretValue::String(Sensitive::from_str_copy("18446744073709551615"))
        );
        assert_eq!(
            parse_yaml("v: 9223372036854775808\n").unwrap(),
            parse_json(br#"{"v":"9223372036854775808"}"#).unwrap()
        );
    }

    #[test]
    fn json_errors_carry_no_input() {
        let e = parse_json(b"{\"pass\": hunter2}").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn yaml_parses_into_values() {
        let v = parse_yaml("---\nkey1: secret1\nnum: 3\nl: [a, b]\n").unwrap();
        assert_eq!(v.key_names(), vec!["key1", "num", "l"]);
        let SecretValue::Map(m) = v else { panic!() };
        assert_eq!(m["num"], SecretValue::Int(3));
    }
}
