//! A Secret the generator builds, and its YAML tree (written by the manifest writer,
//! [`crate::yaml::emit_manifest_checked`]).
//!
//! Every string of the Secret's own fields (names, keys, values) is written double-quoted, so
//! no value can be misread by a YAML 1.1 or 1.2 reader whatever it contains, and the output
//! keeps the quoting it has always had (kpt keeps it when it writes the Secret into a package).

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::secret::Sensitive;
use crate::yaml::{Node, NodeKind, Scalar, Text};

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

    /// The Secret as a YAML tree: `apiVersion`, `kind`, `metadata` (`name`, `namespace`,
    /// `labels`, `annotations`), `type`, `immutable`, `data`, `stringData`, in that order,
    /// fields without a value left out, map keys sorted. Values stay in zeroizing [`Text`].
    pub fn to_node(&self) -> Node {
        let mut metadata = Node::mapping();
        metadata.insert("name", quoted(self.name.as_str()));
        if let Some(ns) = &self.namespace {
            metadata.insert("namespace", quoted(ns.as_str()));
        }
        if !self.labels.is_empty() {
            metadata.insert("labels", string_map(&self.labels));
        }
        if !self.annotations.is_empty() {
            metadata.insert("annotations", string_map(&self.annotations));
        }
        let mut root = Node::mapping();
        root.insert("apiVersion", Node::str("v1"));
        root.insert("kind", Node::str("Secret"));
        root.insert("metadata", metadata);
        if let Some(t) = &self.secret_type {
            root.insert("type", quoted(t.as_str()));
        }
        if self.immutable {
            root.insert("immutable", Node::scalar(Scalar::new_bool(true)));
        }
        // Callers route non-UTF-8 values to `data`; one that reached `stringData` anyway goes
        // there too (base64, byte-exact), never as an empty or lossy string.
        let mut data: Vec<(&String, &Sensitive)> = self
            .data
            .iter()
            .chain(
                self.string_data
                    .iter()
                    .filter(|(_, v)| v.expose_str().is_none()),
            )
            .collect();
        data.sort_by(|a, b| a.0.cmp(b.0));
        if !data.is_empty() {
            let entries = data.into_iter().map(|(k, v)| (k.as_str(), base64(v)));
            root.insert("data", quoted_map(entries));
        }
        let text: Vec<(&str, Text)> = self
            .string_data
            .iter()
            .filter_map(|(k, v)| v.expose_str().map(|s| (k.as_str(), Text::from(s))))
            .collect();
        if !text.is_empty() {
            root.insert("stringData", quoted_map(text.into_iter()));
        }
        root
    }
}

/// A double-quoted string node.
fn quoted(s: impl Into<Text>) -> Node {
    Node::scalar(Scalar::new_quoted(s))
}

/// A mapping with double-quoted keys and values.
fn quoted_map<'a>(entries: impl Iterator<Item = (&'a str, Text)>) -> Node {
    Node::new(NodeKind::Mapping(
        entries.map(|(k, v)| (quoted(k), quoted(v))).collect(),
    ))
}

fn string_map(map: &BTreeMap<String, String>) -> Node {
    quoted_map(
        map.iter()
            .map(|(k, v)| (k.as_str(), Text::from(v.as_str()))),
    )
}

/// Standard base64 of a value, written straight into zeroizing text of the exact size.
fn base64(v: &Sensitive) -> Text {
    let mut out = String::with_capacity(v.len().div_ceil(3) * 4);
    base64::engine::general_purpose::STANDARD.encode_string(v.expose(), &mut out);
    Text::new(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The Secret as the generators write it.
    pub(crate) fn yaml(s: &GeneratedSecret) -> String {
        let doc = crate::yaml::Document::new(s.to_node());
        crate::yaml::emit_manifest_checked(&[doc])
            .unwrap()
            .to_string()
    }

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
        let out = yaml(&s);
        let v: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(v["data"]["a"], "/wA=");
        assert_eq!(v["data"]["b"], "AQ==");
        assert_eq!(v["stringData"]["t"], "x");
        assert!(v["stringData"]["a"].is_null(), "{out}");
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
        let out = yaml(&s);
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
        proptest!(|(k in "\\PC*", s in "\\PC*|[\\x00-\\x7f\\u{80}-\\u{a0}\\u{2028}\\u{feff}]*")| {
            let mut secret = GeneratedSecret { name: s.clone(), ..Default::default() };
            secret.labels.insert(k.clone(), s.clone());
            secret.string_data.insert(k.clone(), Sensitive::from_str_copy(&s));
            let out = yaml(&secret);
            let v: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
            prop_assert_eq!(v["metadata"]["name"].as_str().unwrap(), s.as_str());
            prop_assert_eq!(v["metadata"]["labels"][&k].as_str().unwrap(), s.as_str());
            prop_assert_eq!(v["stringData"][&k].as_str().unwrap(), s.as_str());
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

    /// The one change from the hand-written writer: characters that must be escaped and have
    /// no short JSON escape are spelled as go-yaml (and so kustomize and kpt) spell them
    /// (`\x01`, `\e`, `\N`, `\L`, `\uFEFF`) instead of `\u0001`-style; every YAML reader reads
    /// both as the same string.
    #[test]
    fn control_characters_use_go_yaml_escapes() {
        let s = GeneratedSecret {
            name: "a\u{1}\u{1b}\u{85}\u{2028}\u{feff}\u{7f}".into(),
            ..Default::default()
        };
        assert_eq!(
            super::tests::yaml(&s),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"a\\x01\\e\\N\\L\\uFEFF\\x7F\"\n"
        );
    }

    #[test]
    fn secret_bytes_are_unchanged() {
        assert_eq!(super::tests::yaml(&sample()), SAMPLE);
        let bare = GeneratedSecret {
            name: "bare".into(),
            ..Default::default()
        };
        assert_eq!(
            super::tests::yaml(&bare),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"bare\"\n"
        );
    }
}
