//! A Secret the generator builds, and its YAML form written straight into a zeroizing buffer.
//!
//! Every scalar is written double-quoted (JSON-compatible escapes), so no value can be misread
//! by a YAML 1.1 or 1.2 reader, whatever it contains. kustomize and kpt re-serialize the
//! objects anyway.

use std::collections::BTreeMap;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::secret::Sensitive;

/// kustomize's content-hash request annotation.
pub const NEEDS_HASH_ANNOTATION: &str = "kustomize.config.k8s.io/needs-hash";
/// kustomize's merge-behaviour annotation.
pub const BEHAVIOR_ANNOTATION: &str = "kustomize.config.k8s.io/behavior";

/// A Secret to emit.
#[derive(Debug, Default)]
pub struct GeneratedSecret {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `type` (omitted when `None`).
    pub secret_type: Option<String>,
    /// `immutable: true` when set.
    pub immutable: bool,
    /// `data`: raw bytes, base64-encoded on output. Keys sorted.
    pub data: BTreeMap<String, Sensitive>,
    /// `stringData`: UTF-8 text. Keys sorted.
    pub string_data: BTreeMap<String, Sensitive>,
}

impl GeneratedSecret {
    /// True when a key is already used in `data` or `stringData`.
    pub fn has_key(&self, key: &str) -> bool {
        self.data.contains_key(key) || self.string_data.contains_key(key)
    }

    /// The number of bytes the values take (to size the output buffer once).
    pub fn value_bytes(&self) -> usize {
        self.data
            .values()
            .chain(self.string_data.values())
            .map(|v| v.len() * 2 + 16)
            .sum()
    }

    /// Appends the Secret as one YAML document (no `---`) to `out`.
    pub fn write_yaml(&self, out: &mut Zeroizing<String>) {
        out.reserve(self.value_bytes() + 512);
        out.push_str("apiVersion: v1\nkind: Secret\nmetadata:\n  name: ");
        push_quoted(out, &self.name);
        out.push('\n');
        if let Some(ns) = &self.namespace {
            out.push_str("  namespace: ");
            push_quoted(out, ns);
            out.push('\n');
        }
        write_string_map(out, "labels", &self.labels);
        write_string_map(out, "annotations", &self.annotations);
        if let Some(t) = &self.secret_type {
            out.push_str("type: ");
            push_quoted(out, t);
            out.push('\n');
        }
        if self.immutable {
            out.push_str("immutable: true\n");
        }
        // Callers route non-UTF-8 values to `data`; one that reached `stringData` anyway goes
        // there too (base64, byte-exact), never as an empty or lossy string.
        let binary: Vec<(&String, &Sensitive)> = self
            .string_data
            .iter()
            .filter(|(_, v)| v.expose_str().is_none())
            .collect();
        if !self.data.is_empty() || !binary.is_empty() {
            out.push_str("data:\n");
            let mut all: Vec<(&String, &Sensitive)> = self.data.iter().chain(binary).collect();
            all.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in all {
                out.push_str("  ");
                push_quoted(out, k);
                out.push_str(": \"");
                base64::engine::general_purpose::STANDARD.encode_string(v.expose(), out);
                out.push_str("\"\n");
            }
        }
        let text: Vec<(&String, &str)> = self
            .string_data
            .iter()
            .filter_map(|(k, v)| v.expose_str().map(|s| (k, s)))
            .collect();
        if !text.is_empty() {
            out.push_str("stringData:\n");
            for (k, s) in text {
                out.push_str("  ");
                push_quoted(out, k);
                out.push_str(": ");
                push_quoted(out, s);
                out.push('\n');
            }
        }
    }
}

fn write_string_map(out: &mut Zeroizing<String>, field: &str, map: &BTreeMap<String, String>) {
    if map.is_empty() {
        return;
    }
    out.push_str("  ");
    out.push_str(field);
    out.push_str(":\n");
    for (k, v) in map {
        out.push_str("    ");
        push_quoted(out, k);
        out.push_str(": ");
        push_quoted(out, v);
        out.push('\n');
    }
}

/// Appends `s` as a YAML double-quoted scalar (escapes valid in YAML 1.1, 1.2 and JSON).
pub fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || c == '\u{7f}'
                || c == '\u{85}'
                || c == '\u{2028}'
                || c == '\u{2029}'
                || c == '\u{feff}'
                || ('\u{80}'..='\u{9f}').contains(&c) =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_string_data_is_written_to_data_never_empty() {
        let mut s = GeneratedSecret {
            name: "app".into(),
            ..Default::default()
        };
        s.data.insert("b".into(), Sensitive::new(vec![1]));
        s.string_data
            .insert("a".into(), Sensitive::new(vec![0xff, 0]));
        s.string_data
            .insert("t".into(), Sensitive::from_str_copy("x"));
        let mut out = Zeroizing::new(String::new());
        s.write_yaml(&mut out);
        let v: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(v["data"]["a"], "/wA=");
        assert_eq!(v["data"]["b"], "AQ==");
        assert_eq!(v["stringData"]["t"], "x");
        assert!(v["stringData"]["a"].is_null(), "{}", out.as_str());
    }

    #[test]
    fn writes_a_secret_that_parses_back() {
        let mut s = GeneratedSecret {
            name: "app".into(),
            namespace: Some("prod".into()),
            secret_type: Some("Opaque".into()),
            immutable: true,
            ..Default::default()
        };
        s.labels.insert("team".into(), "yes".into());
        s.annotations
            .insert(NEEDS_HASH_ANNOTATION.into(), "true".into());
        s.data
            .insert("bin".into(), Sensitive::new(vec![0, 159, 255]));
        s.string_data.insert(
            "text".into(),
            Sensitive::from_str_copy("line 1\n\"quoted\" \\ \u{2028} tab\t: # no"),
        );
        s.string_data
            .insert("octal".into(), Sensitive::from_str_copy("0644"));
        let mut out = Zeroizing::new(String::new());
        s.write_yaml(&mut out);
        let v: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(v["metadata"]["name"], "app");
        assert_eq!(v["metadata"]["labels"]["team"], "yes");
        assert_eq!(v["metadata"]["annotations"][NEEDS_HASH_ANNOTATION], "true");
        assert_eq!(v["immutable"], true);
        assert_eq!(v["data"]["bin"], "AJ//");
        assert_eq!(
            v["stringData"]["text"],
            "line 1\n\"quoted\" \\ \u{2028} tab\t: # no"
        );
        assert_eq!(v["stringData"]["octal"], "0644");
        // Deterministic key order.
        let octal = out.find("\"octal\"").unwrap();
        let text = out.find("\"text\"").unwrap();
        assert!(octal < text);
    }

    #[test]
    fn quoting_round_trips_any_text() {
        use proptest::prelude::*;
        proptest!(|(s in "\\PC*|[\\x00-\\x7f]*")| {
            let mut out = String::from("k: ");
            push_quoted(&mut out, &s);
            let v: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
            prop_assert_eq!(v["k"].as_str().unwrap(), s.as_str());
        });
    }
}

#[cfg(test)]
pub(crate) mod golden {
    //! Today's exact output bytes (the legacy plugin prints them as they are; kpt keeps their
    //! quoting when it writes the Secret into a package).
    use super::*;

    pub(crate) fn sample() -> GeneratedSecret {
        let mut s = GeneratedSecret {
            name: "app".into(),
            namespace: Some("prod".into()),
            secret_type: Some("Opaque".into()),
            immutable: true,
            ..Default::default()
        };
        s.labels.insert("team".into(), "yes".into());
        s.labels
            .insert("app.kubernetes.io/name".into(), "0644".into());
        s.annotations
            .insert(NEEDS_HASH_ANNOTATION.into(), "true".into());
        s.data
            .insert("bin".into(), Sensitive::new(vec![0, 159, 255]));
        s.data.insert("empty".into(), Sensitive::default());
        s.string_data
            .insert("zbin".into(), Sensitive::new(vec![0xff, 0]));
        s.string_data.insert(
            "text".into(),
            Sensitive::from_str_copy("line 1\n\"quoted\" \\ tab\t: # no é\u{a0}x\r\n"),
        );
        s.string_data
            .insert("octal".into(), Sensitive::from_str_copy("0644"));
        s.string_data
            .insert("plain".into(), Sensitive::from_str_copy("hello world"));
        s.string_data.insert("blank".into(), Sensitive::default());
        s
    }

    pub(crate) const SAMPLE: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"app\"\n  namespace: \"prod\"\n  labels:\n    \"app.kubernetes.io/name\": \"0644\"\n    \"team\": \"yes\"\n  annotations:\n    \"kustomize.config.k8s.io/needs-hash\": \"true\"\ntype: \"Opaque\"\nimmutable: true\ndata:\n  \"bin\": \"AJ//\"\n  \"empty\": \"\"\n  \"zbin\": \"/wA=\"\nstringData:\n  \"blank\": \"\"\n  \"octal\": \"0644\"\n  \"plain\": \"hello world\"\n  \"text\": \"line 1\\n\\\"quoted\\\" \\\\ tab\\t: # no é\u{a0}x\\r\\n\"\n";

    #[test]
    fn secret_bytes_are_unchanged() {
        let mut out = Zeroizing::new(String::new());
        sample().write_yaml(&mut out);
        assert_eq!(out.as_str(), SAMPLE);
        let mut out = Zeroizing::new(String::new());
        GeneratedSecret {
            name: "bare".into(),
            ..Default::default()
        }
        .write_yaml(&mut out);
        assert_eq!(
            out.as_str(),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"bare\"\n"
        );
    }
}
