//! The generator configurations the KRM function and the legacy exec plugin accept.
//!
//! Two kinds, detected from `apiVersion`/`kind`:
//! - sealbridge's own `apiVersion: sealbridge.io/v1alpha1`, `kind: SecretGenerator`, shaped like
//!   kustomize's built-in `SecretGenerator` (one Secret per configuration: `metadata.name`,
//!   `metadata.namespace`, `type`, `behavior`, `options`), with sops files as sources: `files`
//!   (a whole decrypted file under one key), `envs` (every top-level key of a decrypted
//!   dotenv/YAML/JSON/INI file) and `keys` (selected values by JSON pointer);
//! - ksops' `apiVersion: viaduct.ai/v1` (or `v2`), `kind: ksops`: `files` (encrypted manifests,
//!   emitted decrypted) and `secretFrom` (`files`, `binaryFiles`, `envs`), exactly as ksops reads it.
//!
//! Configurations hold paths and names only, never secret values.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::KrmError;

/// sealbridge's own API group/version.
pub const SEALBRIDGE_API_VERSION: &str = "sealbridge.io/v1alpha1";
/// sealbridge's generator kind.
pub const SECRET_GENERATOR_KIND: &str = "SecretGenerator";
/// sealbridge's transformer kind (optional functionConfig of the transformer mode).
pub const RESOLVER_KIND: &str = "Resolver";
/// ksops' API group.
pub const KSOPS_GROUP: &str = "viaduct.ai";
/// ksops' kind.
pub const KSOPS_KIND: &str = "ksops";

/// What a configuration object is, from its `apiVersion` and `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// `sealbridge.io/v1alpha1` `SecretGenerator`.
    SecretGenerator,
    /// `viaduct.ai/v*` `ksops`.
    Ksops,
    /// `sealbridge.io/v1alpha1` `Resolver` (transformer options).
    Resolver,
}

impl ConfigKind {
    /// Classifies an object by `apiVersion` and `kind`; `None` for anything else.
    pub fn detect(api_version: &str, kind: &str) -> Option<ConfigKind> {
        let group = api_version.split('/').next().unwrap_or("");
        match (group, kind) {
            ("sealbridge.io", SECRET_GENERATOR_KIND) => Some(ConfigKind::SecretGenerator),
            ("sealbridge.io", RESOLVER_KIND) => Some(ConfigKind::Resolver),
            (KSOPS_GROUP, KSOPS_KIND) => Some(ConfigKind::Ksops),
            _ => None,
        }
    }

    /// True for the two generator kinds.
    pub fn is_generator(self) -> bool {
        matches!(self, ConfigKind::SecretGenerator | ConfigKind::Ksops)
    }
}

/// `metadata` of a configuration or of a Secret to create.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// kustomize's generator options (`options:` of a `secretGenerator` entry).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    /// Labels added to the Secret.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the Secret.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Do not append the content-hash suffix to the name (default: append, as kustomize does).
    #[serde(default)]
    pub disable_name_suffix_hash: bool,
    /// Mark the Secret immutable.
    #[serde(default)]
    pub immutable: bool,
}

/// Where the values of a generated Secret go.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum DataField {
    /// Base64 in `data` (the default, as kustomize's secretGenerator; binary-safe).
    #[default]
    #[serde(rename = "data")]
    Data,
    /// Text in `stringData` (values that are not UTF-8 still go to `data`).
    #[serde(rename = "stringData")]
    StringData,
}

/// kustomize's merge behaviour for a generated object (`kustomize.config.k8s.io/behavior`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    /// A new object (the default).
    Create,
    /// Merge into an object of the same name from a base.
    Merge,
    /// Replace an object of the same name from a base.
    Replace,
}

impl Behavior {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Create => "create",
            Behavior::Merge => "merge",
            Behavior::Replace => "replace",
        }
    }
}

/// One selected value: `{key: NAME, file: PATH, path: /json/pointer}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeySource {
    /// The key in the Secret.
    pub key: String,
    /// The sops file.
    pub file: String,
    /// A JSON pointer (`/db/password`, RFC 6901 escapes) or a top-level key (`password`).
    pub path: String,
}

/// sealbridge's `SecretGenerator`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretGeneratorConfig {
    /// `sealbridge.io/v1alpha1`.
    pub api_version: String,
    /// `SecretGenerator`.
    pub kind: String,
    /// `name` (required) and `namespace` of the Secret; labels/annotations here are the
    /// configuration's own (not copied: use `options`).
    pub metadata: ObjectMeta,
    /// The Secret's `type` (default `Opaque`).
    #[serde(default, rename = "type")]
    pub secret_type: Option<String>,
    /// kustomize merge behaviour.
    #[serde(default)]
    pub behavior: Option<Behavior>,
    /// `data` (default) or `stringData`.
    #[serde(default)]
    pub data_field: DataField,
    /// Whole files: `PATH` (key = file name) or `KEY=PATH`.
    #[serde(default)]
    pub files: Vec<String>,
    /// Files whose top-level keys all become keys.
    #[serde(default)]
    pub envs: Vec<String>,
    /// Selected values.
    #[serde(default)]
    pub keys: Vec<KeySource>,
    /// kustomize generator options.
    #[serde(default)]
    pub options: GeneratorOptions,
    /// kustomize's legacy exec-plugin argument fields (accepted and ignored).
    #[serde(default)]
    pub args_one_liner: Option<String>,
    /// See `args_one_liner`.
    #[serde(default)]
    pub args_from_file: Option<String>,
}

/// One `secretFrom` entry of a ksops configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KsopsSecretFrom {
    /// The Secret's metadata (copied as given: name, namespace, labels, annotations).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The Secret's `type`.
    #[serde(default, rename = "type")]
    pub secret_type: Option<String>,
    /// `PATH` or `KEY=PATH`: the decrypted file as text in `stringData`.
    #[serde(default)]
    pub files: Vec<String>,
    /// `PATH` or `KEY=PATH`: the decrypted file base64 in `data`.
    #[serde(default)]
    pub binary_files: Vec<String>,
    /// Encrypted dotenv files: each pair into `stringData`.
    #[serde(default)]
    pub envs: Vec<String>,
}

/// ksops' configuration (unknown fields are ignored, as ksops does).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KsopsConfig {
    /// Its metadata (only for messages).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Encrypted manifests, emitted decrypted.
    #[serde(default)]
    pub files: Option<Vec<String>>,
    /// Secrets built from encrypted files.
    #[serde(default)]
    pub secret_from: Option<Vec<KsopsSecretFrom>>,
}

/// A parsed generator configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum GeneratorConfig {
    /// sealbridge's kind.
    SecretGenerator(Box<SecretGeneratorConfig>),
    /// ksops' kind.
    Ksops(KsopsConfig),
}

impl GeneratorConfig {
    /// A short label for messages: `SecretGenerator/NAME` or `ksops/NAME`.
    pub fn label(&self) -> String {
        match self {
            GeneratorConfig::SecretGenerator(c) => format!("SecretGenerator/{}", c.metadata.name),
            GeneratorConfig::Ksops(c) => format!("ksops/{}", c.metadata.name),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

/// Parses a generator configuration from a JSON value (a KRM `functionConfig` or item).
pub fn from_json(value: &serde_json::Value, origin: &str) -> Result<GeneratorConfig, KrmError> {
    let meta: TypeMeta = serde_json::from_value(value.clone())
        .map_err(|e| KrmError::Config(format!("{origin}: not a Kubernetes object: {e}")))?;
    match ConfigKind::detect(&meta.api_version, &meta.kind) {
        Some(ConfigKind::SecretGenerator) => {
            let c: SecretGeneratorConfig = serde_json::from_value(value.clone()).map_err(|e| {
                KrmError::Config(format!("{origin}: invalid {SECRET_GENERATOR_KIND}: {e}"))
            })?;
            validate_secret_generator(&c, origin)?;
            Ok(GeneratorConfig::SecretGenerator(Box::new(c)))
        }
        Some(ConfigKind::Ksops) => {
            let c: KsopsConfig = serde_json::from_value(value.clone())
                .map_err(|e| KrmError::Config(format!("{origin}: invalid ksops config: {e}")))?;
            if c.files.is_none() && c.secret_from.is_none() {
                return Err(KrmError::Config(format!(
                    "{origin}: missing the required 'files' or 'secretFrom' key in the ksops configuration"
                )));
            }
            Ok(GeneratorConfig::Ksops(c))
        }
        _ => Err(KrmError::Config(format!(
            "{origin}: apiVersion {:?} kind {:?} is not a generator sealbridge knows; use \
             apiVersion: {SEALBRIDGE_API_VERSION}, kind: {SECRET_GENERATOR_KIND} or ksops' \
             apiVersion: viaduct.ai/v1, kind: ksops",
            meta.api_version, meta.kind
        ))),
    }
}

/// Parses a generator configuration file (the legacy exec plugin's argv[1]).
pub fn from_yaml_text(text: &str, origin: &str) -> Result<GeneratorConfig, KrmError> {
    let value: serde_json::Value = serde_saphyr::from_str(text)
        .map_err(|e| KrmError::Config(format!("{origin}: not valid YAML: {e}")))?;
    from_json(&value, origin)
}

fn validate_secret_generator(c: &SecretGeneratorConfig, origin: &str) -> Result<(), KrmError> {
    if c.metadata.name.is_empty() {
        return Err(KrmError::Config(format!(
            "{origin}: metadata.name is required (it is the name of the Secret)"
        )));
    }
    if c.files.is_empty() && c.envs.is_empty() && c.keys.is_empty() {
        return Err(KrmError::Config(format!(
            "{origin}: {SECRET_GENERATOR_KIND} {} lists no sources: add `files`, `envs` or `keys`",
            c.metadata.name
        )));
    }
    if c.behavior.is_some() && c.metadata.name.is_empty() {
        return Err(KrmError::Config(format!("{origin}: behavior needs a name")));
    }
    Ok(())
}

/// Splits a `KEY=PATH` or `PATH` file source (kustomize's and ksops' syntax) into key and path.
/// The default key is the file name.
pub fn split_file_source(source: &str, origin: &str) -> Result<(String, String), KrmError> {
    let parts: Vec<&str> = source.split('=').collect();
    match parts.as_slice() {
        [path] => {
            let key = std::path::Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if key.is_empty() {
                return Err(KrmError::Config(format!(
                    "{origin}: file source {source:?} has no file name"
                )));
            }
            Ok((key, (*path).to_string()))
        }
        [key, path] if !key.is_empty() && !path.is_empty() => {
            Ok(((*key).to_string(), (*path).to_string()))
        }
        _ => Err(KrmError::Config(format!(
            "{origin}: invalid file source {source:?}: use PATH or KEY=PATH"
        ))),
    }
}

/// Checks a Secret data key the way Kubernetes does (`[-._a-zA-Z0-9]+`, at most 253 bytes).
pub fn check_data_key(key: &str, origin: &str) -> Result<(), KrmError> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && key != "."
        && key != "..";
    if ok {
        Ok(())
    } else {
        Err(KrmError::Config(format!(
            "{origin}: {key:?} is not a valid Secret key (letters, digits, '-', '_', '.')"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds() {
        assert_eq!(
            ConfigKind::detect("sealbridge.io/v1alpha1", "SecretGenerator"),
            Some(ConfigKind::SecretGenerator)
        );
        assert_eq!(
            ConfigKind::detect("viaduct.ai/v1", "ksops"),
            Some(ConfigKind::Ksops)
        );
        assert_eq!(
            ConfigKind::detect("viaduct.ai/v2", "ksops"),
            Some(ConfigKind::Ksops)
        );
        assert_eq!(ConfigKind::detect("v1", "ConfigMap"), None);
        assert_eq!(ConfigKind::detect("example.com/v1", "ksops"), None);
    }

    #[test]
    fn parses_secret_generator() {
        let text = r#"
apiVersion: sealbridge.io/v1alpha1
kind: SecretGenerator
metadata:
  name: app
  namespace: prod
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: sealbridge
type: kubernetes.io/tls
behavior: merge
dataField: stringData
files:
  - tls.crt=certs/tls.enc.crt
envs: [app.enc.env]
keys:
  - {key: DB_PASSWORD, file: db.enc.yaml, path: /db/password}
options:
  disableNameSuffixHash: true
  labels: {team: a}
"#;
        let GeneratorConfig::SecretGenerator(c) = from_yaml_text(text, "gen.yaml").unwrap() else {
            panic!("wrong kind")
        };
        assert_eq!(c.metadata.name, "app");
        assert_eq!(c.metadata.namespace.as_deref(), Some("prod"));
        assert_eq!(c.secret_type.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(c.behavior, Some(Behavior::Merge));
        assert_eq!(c.data_field, DataField::StringData);
        assert_eq!(c.files, vec!["tls.crt=certs/tls.enc.crt"]);
        assert_eq!(c.keys[0].path, "/db/password");
        assert!(c.options.disable_name_suffix_hash);
        assert_eq!(c.options.labels["team"], "a");
    }

    #[test]
    fn secret_generator_rejects_unknown_fields_and_empty_sources() {
        let unknown = "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata: {name: a}\nfile: [x]\n";
        let e = from_yaml_text(unknown, "g.yaml").unwrap_err().to_string();
        assert!(e.contains("g.yaml") && e.contains("file"), "{e}");
        let empty =
            "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata: {name: a}\n";
        let e = from_yaml_text(empty, "g.yaml").unwrap_err().to_string();
        assert!(e.contains("no sources"), "{e}");
        let noname =
            "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata: {}\nfiles: [a]\n";
        let e = from_yaml_text(noname, "g.yaml").unwrap_err().to_string();
        assert!(e.contains("metadata.name"), "{e}");
    }

    #[test]
    fn parses_ksops_like_ksops() {
        let text = r#"
apiVersion: viaduct.ai/v1
kind: ksops
metadata:
  name: gen
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ksops
files:
  - ./secret.enc.yaml
secretFrom:
- metadata:
    name: mysecret
    namespace: test
    labels: {foo: bar}
    annotations: {abc: xyz}
  type: Opaque
  files: [./a.enc.yaml, k=./b.enc.yaml]
  binaryFiles: [./c.enc.bin]
  envs: [./secret.enc.env]
someUnknownField: ignored
"#;
        let GeneratorConfig::Ksops(c) = from_yaml_text(text, "g.yaml").unwrap() else {
            panic!("wrong kind")
        };
        assert_eq!(
            c.files.as_deref(),
            Some(&["./secret.enc.yaml".to_string()][..])
        );
        let sf = &c.secret_from.as_ref().unwrap()[0];
        assert_eq!(sf.metadata.name, "mysecret");
        assert_eq!(sf.metadata.labels["foo"], "bar");
        assert_eq!(sf.binary_files, vec!["./c.enc.bin"]);
        assert_eq!(sf.envs, vec!["./secret.enc.env"]);
        let missing = "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata: {name: x}\n";
        let e = from_yaml_text(missing, "g.yaml").unwrap_err().to_string();
        assert!(e.contains("'files' or 'secretFrom'"), "{e}");
    }

    #[test]
    fn other_kinds_are_refused_with_a_hint() {
        let e = from_yaml_text("apiVersion: v1\nkind: ConfigMap\n", "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("SecretGenerator") && e.contains("ksops"), "{e}");
    }

    #[test]
    fn file_sources() {
        assert_eq!(
            split_file_source("dir/tls.enc.crt", "o").unwrap(),
            ("tls.enc.crt".to_string(), "dir/tls.enc.crt".to_string())
        );
        assert_eq!(
            split_file_source("tls.crt=dir/x", "o").unwrap(),
            ("tls.crt".to_string(), "dir/x".to_string())
        );
        assert!(split_file_source("a=b=c", "o").is_err());
        assert!(split_file_source("=b", "o").is_err());
        assert!(split_file_source("a=", "o").is_err());
    }

    #[test]
    fn data_keys() {
        assert!(check_data_key("tls.crt", "o").is_ok());
        assert!(check_data_key("A_b-1", "o").is_ok());
        assert!(check_data_key("a/b", "o").is_err());
        assert!(check_data_key("", "o").is_err());
        assert!(check_data_key("..", "o").is_err());
    }
}
