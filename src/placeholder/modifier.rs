//! Modifiers: `<ref | base64encode | jsonPath {.a} | default "x">`, applied left to right.
//!
//! The set and semantics follow argocd-vault-plugin, with these deliberate differences
//! (documented in `docs/placeholders.md`): `base64decode` rejects invalid input, `indent`
//! keeps the value's own relative indentation and blank lines, string modifiers accept numbers
//! and booleans (as their text), `jsonParse`/`yamlParse` pass already-structured values
//! through, and `default "value"` supplies a fallback for a missing value.

use base64::Engine as _;
use sha2::Digest as _;

use super::Missing;
use super::jsonpath::JsonPath;
use super::value::{parse_json, parse_yaml, scalar_text};
use crate::secret::{SecretValue, Sensitive};

/// One modifier of a reference's chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Modifier {
    /// Standard base64 with padding.
    Base64Encode,
    /// Strict standard base64 decoding (line breaks are ignored, anything else invalid fails).
    Base64Decode,
    /// A Kubernetes JSONPath template; the result is always text.
    JsonPath(JsonPath),
    /// Parses text as JSON into a structured value.
    JsonParse,
    /// Parses text as YAML into a structured value.
    YamlParse,
    /// Indents every line after the first by N spaces (keeping their own indentation).
    Indent(usize),
    /// Lower-case hex SHA-256 of the text.
    Sha256Sum,
    /// Replaces a missing value (no such key, path or JSONPath field; or null) with this text.
    Default(String),
    /// The secret's version instead of its value (first in the chain only): Vault KV v2's
    /// current version, a sops file's MAC fingerprint. The value is never read.
    Version,
}

/// A value flowing through a modifier chain: present, or missing (and why).
#[derive(Debug, Clone)]
pub enum Flow {
    /// The value.
    Value(SecretValue),
    /// No value; the reason is reported unless a `default` follows.
    Missing(Missing),
}

/// At most this many modifiers in one reference's chain: each step may grow the value (a
/// chain of `base64encode` grows it by 4/3 per step), so a short file could otherwise ask for
/// gigabytes.
pub const MAX_MODIFIERS: usize = 16;

/// The error of a modifier whose result would exceed the per-value bound (sizes only).
pub(crate) fn too_large(size: usize, max: usize) -> String {
    format!(
        "the result would be {size} bytes, more than the bound of {max} bytes per value (a \
         sixteenth of SEALBRIDGE_MAX_OUTPUT, which the operator may raise)"
    )
}

/// Fails unless `size` fits in `max`.
fn fits(size: Option<usize>, max: usize) -> Result<(), String> {
    match size {
        Some(n) if n <= max => Ok(()),
        Some(n) => Err(too_large(n, max)),
        None => Err(too_large(usize::MAX, max)),
    }
}

/// The names of every modifier, for "unknown modifier" messages.
pub const MODIFIER_NAMES: &[&str] = &[
    "base64encode",
    "base64decode",
    "jsonPath",
    "jsonParse",
    "yamlParse",
    "indent",
    "sha256sum",
    "default",
    "version",
];

impl Modifier {
    /// Parses one modifier segment: a name, then its arguments (already whitespace-normalised).
    pub fn parse(name: &str, args: &str) -> Result<Modifier, String> {
        let no_args = |m: Modifier| {
            if args.is_empty() {
                Ok(m)
            } else {
                Err(format!("{name} takes no arguments"))
            }
        };
        match name {
            "base64encode" => no_args(Modifier::Base64Encode),
            "base64decode" => no_args(Modifier::Base64Decode),
            "jsonParse" => no_args(Modifier::JsonParse),
            "yamlParse" => no_args(Modifier::YamlParse),
            "sha256sum" => no_args(Modifier::Sha256Sum),
            "version" => no_args(Modifier::Version),
            "jsonPath" => {
                if args.is_empty() {
                    return Err("jsonPath needs a template, e.g. jsonPath {.key}".to_owned());
                }
                JsonPath::parse(args)
                    .map(Modifier::JsonPath)
                    .map_err(|e| format!("jsonPath: invalid template: {e}"))
            }
            "indent" => {
                let n: usize = args
                    .parse()
                    .map_err(|_| "indent needs one number of spaces, e.g. indent 4".to_owned())?;
                if n > 1000 {
                    return Err("indent: at most 1000 spaces".to_owned());
                }
                Ok(Modifier::Indent(n))
            }
            "default" => parse_default(args).map(Modifier::Default),
            "" => Err("empty modifier (two `|` in a row, or a trailing `|`)".to_owned()),
            other => {
                let hint = crate::suggest::nearest(other, MODIFIER_NAMES.iter().copied())
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                Err(format!(
                    "unknown modifier `{other}` ({hint}known: {})",
                    MODIFIER_NAMES.join(", ")
                ))
            }
        }
    }

    /// The modifier's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            Modifier::Base64Encode => "base64encode",
            Modifier::Base64Decode => "base64decode",
            Modifier::JsonPath(_) => "jsonPath",
            Modifier::JsonParse => "jsonParse",
            Modifier::YamlParse => "yamlParse",
            Modifier::Indent(_) => "indent",
            Modifier::Sha256Sum => "sha256sum",
            Modifier::Default(_) => "default",
            Modifier::Version => "version",
        }
    }

    /// Applies the modifier; a text result may hold at most `max` bytes, checked before the
    /// result is allocated where its size can be computed from the input. Errors describe the
    /// problem, never the value.
    pub fn apply(&self, input: Flow, max: usize) -> Result<Flow, String> {
        let value = match input {
            Flow::Missing(m) => {
                return Ok(match self {
                    Modifier::Default(d) => {
                        Flow::Value(SecretValue::String(Sensitive::from_str_copy(d)))
                    }
                    _ => Flow::Missing(m),
                });
            }
            Flow::Value(v) => v,
        };
        let out = match self {
            Modifier::Default(_) => value,
            Modifier::Version => match &value {
                // The engine fetched the metadata for this reference (`SecretId::metadata`).
                SecretValue::Map(m) => match m.get("version") {
                    Some(v @ SecretValue::String(_)) => v.clone(),
                    _ => return Err("no version in the secret's metadata".to_owned()),
                },
                _ => {
                    return Err(
                        "version must come first in the modifier chain (it replaces the value \
                         with the secret's version)"
                            .to_owned(),
                    );
                }
            },
            Modifier::Base64Encode => {
                let t = self.text(&value)?;
                fits(base64::encoded_len(t.expose().len(), true), max)?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(t.expose());
                SecretValue::String(Sensitive::from(encoded))
            }
            Modifier::Base64Decode => {
                let t = self.text(&value)?;
                let cleaned: Vec<u8> = t
                    .expose()
                    .iter()
                    .copied()
                    .filter(|b| *b != b'\n' && *b != b'\r')
                    .collect();
                let cleaned = Sensitive::new(cleaned);
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(cleaned.expose())
                    .map_err(|_| "the value is not valid standard base64".to_owned())?;
                SecretValue::String(Sensitive::new(decoded))
            }
            Modifier::Sha256Sum => {
                let t = self.text(&value)?;
                let digest = sha2::Sha256::digest(t.expose());
                SecretValue::String(Sensitive::from(hex::encode(digest)))
            }
            Modifier::Indent(n) => {
                let t = self.text(&value)?;
                let s = t
                    .expose_str()
                    .ok_or_else(|| "indent: the value is not UTF-8 text".to_owned())?;
                let lines = s.bytes().filter(|b| *b == b'\n').count();
                fits(
                    lines.checked_mul(*n).and_then(|p| p.checked_add(s.len())),
                    max,
                )?;
                SecretValue::String(Sensitive::from(indent(s, *n)))
            }
            Modifier::JsonParse => match value {
                SecretValue::String(s) => parse_json(s.expose())?,
                other => other,
            },
            Modifier::YamlParse => match value {
                SecretValue::String(s) => {
                    let text = s
                        .expose_str()
                        .ok_or_else(|| "the value is not UTF-8 text".to_owned())?;
                    parse_yaml(text)?
                }
                other => other,
            },
            Modifier::JsonPath(jp) => {
                let data = match value {
                    SecretValue::String(s) => parse_json(s.expose())
                        .map_err(|e| format!("the value is {e}; jsonPath needs JSON"))?,
                    other => other,
                };
                match jp.execute_bounded(&data, max) {
                    Ok(text) => SecretValue::String(Sensitive::from_str_copy(&text)),
                    Err(e) if crate::placeholder::jsonpath::is_not_found(&e) => {
                        return Ok(Flow::Missing(Missing::JsonPath(e)));
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(Flow::Value(out))
    }

    fn text(&self, v: &SecretValue) -> Result<Sensitive, String> {
        scalar_text(v).ok_or_else(|| {
            format!(
                "expects text but the value is a {} (use jsonPath to pick a field)",
                v.type_name()
            )
        })
    }
}

/// `default "text"`, `default 'text'` or `default text`.
fn parse_default(args: &str) -> Result<String, String> {
    let usage = "default needs a value, e.g. default \"fallback\"";
    if args.is_empty() {
        return Err(usage.to_owned());
    }
    let bytes = args.as_bytes();
    let (first, last) = (bytes[0], bytes[bytes.len() - 1]);
    if first == b'"' || first == b'\'' {
        if args.len() < 2 || last != first {
            return Err(format!("{usage} (unbalanced quotes)"));
        }
        let inner = &args[1..args.len() - 1];
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(e) => out.push(e),
                    None => return Err(format!("{usage} (dangling backslash)")),
                }
            } else if c as u32 == u32::from(first) {
                return Err(format!("{usage} (unescaped quote inside the value)"));
            } else {
                out.push(c);
            }
        }
        Ok(out)
    } else {
        Ok(args.to_owned())
    }
}

/// Indents lines 2.. by `n` spaces; keeps each line's own indentation, blank lines stay blank.
fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    let mut out = String::with_capacity(s.len() + n * 8);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.trim().is_empty() {
                out.push_str(&pad);
            }
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Flow {
        Flow::Value(SecretValue::String(Sensitive::from_str_copy(v)))
    }

    fn text(f: Flow) -> String {
        match f {
            Flow::Value(SecretValue::String(s)) => s.expose_str().unwrap().to_owned(),
            other => panic!("not text: {other:?}"),
        }
    }

    fn m(name: &str, args: &str) -> Modifier {
        Modifier::parse(name, args).unwrap()
    }

    #[test]
    fn base64() {
        assert_eq!(
            text(
                m("base64encode", "")
                    .apply(s("mysecret"), usize::MAX)
                    .unwrap()
            ),
            "bXlzZWNyZXQ="
        );
        assert_eq!(
            text(
                m("base64decode", "")
                    .apply(s("bXlzZWNyZXQ="), usize::MAX)
                    .unwrap()
            ),
            "mysecret"
        );
        assert_eq!(
            text(
                m("base64decode", "")
                    .apply(s("bXlz\nZWNyZXQ=\n"), usize::MAX)
                    .unwrap()
            ),
            "mysecret"
        );
        let e = m("base64decode", "")
            .apply(s("not base64!"), usize::MAX)
            .unwrap_err();
        assert!(e.contains("not valid"), "{e}");
        assert!(!e.contains("not base64!"));
        assert!(
            m("base64decode", "")
                .apply(s("bXlzZWNyZXQ"), usize::MAX)
                .is_err(),
            "padding required"
        );
        assert_eq!(
            text(
                m("base64encode", "")
                    .apply(Flow::Value(SecretValue::Int(80)), usize::MAX)
                    .unwrap()
            ),
            "ODA="
        );
        assert!(Modifier::parse("base64encode", "x").is_err());
    }

    #[test]
    fn results_are_bounded_before_they_are_allocated() {
        let e = m("base64encode", "").apply(s("abcd"), 7).unwrap_err();
        assert!(e.contains("8 bytes") && e.contains("7 bytes"), "{e}");
        assert!(m("base64encode", "").apply(s("abcd"), 8).is_ok());
        let e = m("indent", "10").apply(s("a\nb\nc"), 20).unwrap_err();
        assert!(e.contains("25 bytes"), "{e}");
        let list = format!("[{}]", vec!["\"xxxxxxxx\""; 100].join(","));
        let e = m("jsonPath", "{range [*]}{@}{@}{end}")
            .apply(s(&list), 100)
            .unwrap_err();
        assert!(e.contains("bound of 100 bytes"), "{e}");
        assert!(!e.contains("xxxx"), "{e}");
    }

    #[test]
    fn sha256() {
        assert_eq!(
            text(m("sha256sum", "").apply(s("mysecret"), usize::MAX).unwrap()),
            "652c7dc687d98c9889304ed2e408c74b611e86a40caa51c4b43f1dd5913c5cd0"
        );
    }

    #[test]
    fn indent_keeps_relative_indentation() {
        assert_eq!(
            text(
                m("indent", "3")
                    .apply(s("a\nmulti-line\nstring"), usize::MAX)
                    .unwrap()
            ),
            "a\n   multi-line\n   string"
        );
        assert_eq!(
            text(m("indent", "3").apply(s("single"), usize::MAX).unwrap()),
            "single"
        );
        assert_eq!(
            text(
                m("indent", "2")
                    .apply(s("a:\n  b: 1\n\n  c: 2\n"), usize::MAX)
                    .unwrap()
            ),
            "a:\n    b: 1\n\n    c: 2\n"
        );
        assert!(Modifier::parse("indent", "x").is_err());
        assert!(Modifier::parse("indent", "").is_err());
    }

    #[test]
    fn parse_modifiers() {
        let v = m("jsonParse", "")
            .apply(s(r#"{"a":[1,2]}"#), usize::MAX)
            .unwrap();
        let Flow::Value(SecretValue::Map(map)) = v else {
            panic!()
        };
        assert_eq!(
            map["a"],
            SecretValue::List(vec![SecretValue::Int(1), SecretValue::Int(2)])
        );
        let v = m("yamlParse", "")
            .apply(s("---\nkey1: secret1\n"), usize::MAX)
            .unwrap();
        assert_eq!(
            text(m("jsonPath", "{.key1}").apply(v, usize::MAX).unwrap()),
            "secret1"
        );
        assert!(m("jsonParse", "").apply(s("{oops"), usize::MAX).is_err());
    }

    /// docs/placeholders.md: `yamlParse` types as YAML 1.1, as Kubernetes does.
    #[test]
    fn yaml_parse_types_as_yaml_1_1_like_kubernetes() {
        let one = |t: &str| -> Result<SecretValue, String> {
            match m("yamlParse", "").apply(s(&format!("v: {t}\n")), usize::MAX)? {
                Flow::Value(SecretValue::Map(mut map)) => Ok(map.swap_remove("v").unwrap()),
                _ => panic!("not a map"),
            }
        };
        let int = |t: &str, i: i64| assert_eq!(one(t).unwrap(), SecretValue::Int(i), "{t}");
        let txt = |t: &str, want: &str| {
            assert_eq!(
                one(t).unwrap(),
                SecretValue::String(Sensitive::from_str_copy(want)),
                "{t}"
            );
        };
        int("0644", 420);
        int("0_644", 420);
        int("00", 0);
        int("0o17", 15);
        int("0x1F", 31);
        int("-0x1F", -31);
        int("0b101", 5);
        int("1_000", 1000);
        int("+5", 5);
        assert_eq!(one("089").unwrap(), SecretValue::Float(89.0));
        assert_eq!(one("1e3").unwrap(), SecretValue::Float(1000.0));
        assert_eq!(one(".5").unwrap(), SecretValue::Float(0.5));
        for (t, b) in [
            ("y", true),
            ("Y", true),
            ("yes", true),
            ("Yes", true),
            ("YES", true),
            ("on", true),
            ("On", true),
            ("ON", true),
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("n", false),
            ("N", false),
            ("no", false),
            ("No", false),
            ("NO", false),
            ("off", false),
            ("Off", false),
            ("OFF", false),
            ("false", false),
            ("False", false),
            ("FALSE", false),
        ] {
            assert_eq!(one(t).unwrap(), SecretValue::Bool(b), "{t}");
        }
        for t in ["null", "Null", "NULL", "~", ""] {
            assert_eq!(one(t).unwrap(), SecretValue::Null, "{t:?}");
        }
        txt("'0644'", "0644");
        txt("\"yes\"", "yes");
        txt("!!str 0644", "0644");
        txt("2024-01-02", "2024-01-02");
        txt("2024-01-02T10:20:30Z", "2024-01-02T10:20:30Z");
        txt("1:20", "1:20");
        txt("9223372036854775808", "9223372036854775808");
        // Keys are typed too, then written as text (sigs.k8s.io/yaml): `yes:` is "true".
        let Flow::Value(v) = m("yamlParse", "")
            .apply(s("yes: a\n0644: b\n"), usize::MAX)
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(v.key_names(), ["true", "420"]);
        // Documented differences from Kubernetes: non-finite and out-of-range floats are errors.
        for t in [".inf", "-.inf", ".nan", "1e400"] {
            assert!(one(t).is_err(), "{t}");
        }
    }

    #[test]
    fn json_path_on_string_and_missing() {
        let data = s(r#"{"credentials":{"user":"u","pass":"p"}}"#);
        assert_eq!(
            text(
                m("jsonPath", "{.credentials.user}:{.credentials.pass}")
                    .apply(data.clone(), usize::MAX)
                    .unwrap()
            ),
            "u:p"
        );
        let out = m("jsonPath", "{.nope}").apply(data, usize::MAX).unwrap();
        assert!(matches!(out, Flow::Missing(Missing::JsonPath(_))));
        let out = m("default", "\"x y\"").apply(out, usize::MAX).unwrap();
        assert_eq!(text(out), "x y");
        assert!(
            m("jsonPath", "{.a}")
                .apply(s("hi, how are you"), usize::MAX)
                .is_err()
        );
    }

    #[test]
    fn default_forms() {
        assert_eq!(parse_default("\"a \\\"b\\\"\"").unwrap(), "a \"b\"");
        assert_eq!(parse_default("'x'").unwrap(), "x");
        assert_eq!(parse_default("plain words").unwrap(), "plain words");
        assert_eq!(parse_default("\"\"").unwrap(), "");
        assert!(parse_default("").is_err());
        assert!(parse_default("\"open").is_err());
        assert_eq!(
            text(m("default", "x").apply(s("present"), usize::MAX).unwrap()),
            "present"
        );
    }

    #[test]
    fn unknown_and_empty() {
        assert!(
            Modifier::parse("undefinedModifier", "")
                .unwrap_err()
                .contains("unknown modifier")
        );
        assert!(
            Modifier::parse("", "")
                .unwrap_err()
                .contains("empty modifier")
        );
    }

    #[test]
    fn structured_values_are_refused_by_text_modifiers() {
        let map = Flow::Value(SecretValue::Map(Default::default()));
        let e = m("base64encode", "").apply(map, usize::MAX).unwrap_err();
        assert!(e.contains("map"), "{e}");
    }
}
