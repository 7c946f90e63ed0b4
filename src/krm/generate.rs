//! Turning a generator configuration into objects: Secrets built from sops files, and (ksops'
//! `files:`) decrypted manifests.

use zeroize::Zeroizing;

use super::config::{
    DataField, GeneratorConfig, KsopsConfig, SecretGeneratorConfig, check_data_key,
    split_file_source,
};
use super::paths::Root;
use super::secret::{BEHAVIOR_ANNOTATION, GeneratedSecret, NEEDS_HASH_ANNOTATION};
use super::{KrmError, SopsSource};
use crate::secret::{JsonEscapes, SecretBuf, SecretValue, Sensitive};

/// One generated output.
#[derive(Debug)]
pub enum Generated {
    /// A Secret.
    Secret(GeneratedSecret),
    /// A decrypted manifest file (ksops `files:`), as sops prints it.
    Manifests {
        /// The file as written in the configuration (for messages).
        origin: String,
        /// The plaintext YAML/JSON stream.
        text: Sensitive,
    },
}

/// Runs one configuration. Files are resolved inside `root`; nothing is returned unless every
/// file decrypted.
pub fn generate(
    config: &GeneratorConfig,
    root: &Root,
    sops: &dyn SopsSource,
    origin: &str,
) -> Result<Vec<Generated>, KrmError> {
    match config {
        GeneratorConfig::SecretGenerator(c) => Ok(vec![Generated::Secret(secret_generator(
            c, root, sops, origin,
        )?)]),
        GeneratorConfig::Ksops(c) => ksops(c, root, sops, origin),
    }
}

fn decrypt(
    root: &Root,
    sops: &dyn SopsSource,
    rel: &str,
    origin: &str,
) -> Result<super::Plaintext, KrmError> {
    let path = root.resolve(rel, origin)?;
    sops.decrypt(&path).map_err(|e| e.in_file(origin, rel))
}

fn insert(
    secret: &mut GeneratedSecret,
    key: String,
    value: Sensitive,
    field: DataField,
    origin: &str,
) -> Result<(), KrmError> {
    check_data_key(&key, origin)?;
    if secret.has_key(&key) {
        return Err(KrmError::Config(format!(
            "{origin}: Secret {} would get the key {key:?} twice; give one of the sources another key",
            secret.name
        )));
    }
    if field == DataField::StringData && value.expose_str().is_some() {
        secret.string_data.insert(key, value);
    } else {
        secret.data.insert(key, value);
    }
    Ok(())
}

fn secret_generator(
    c: &SecretGeneratorConfig,
    root: &Root,
    sops: &dyn SopsSource,
    origin: &str,
) -> Result<GeneratedSecret, KrmError> {
    let mut s = GeneratedSecret {
        name: c.metadata.name.clone(),
        namespace: c.metadata.namespace.clone(),
        labels: c.options.labels.clone(),
        annotations: c.options.annotations.clone(),
        secret_type: Some(
            c.secret_type
                .clone()
                .unwrap_or_else(|| "Opaque".to_string()),
        ),
        immutable: c.options.immutable,
        ..Default::default()
    };
    if !c.options.disable_name_suffix_hash {
        s.annotations
            .insert(NEEDS_HASH_ANNOTATION.to_string(), "true".to_string());
    }
    if let Some(b) = c.behavior {
        s.annotations
            .insert(BEHAVIOR_ANNOTATION.to_string(), b.as_str().to_string());
    }
    for source in &c.files {
        let (key, rel) = split_file_source(source, origin)?;
        let plain = decrypt(root, sops, &rel, origin)?;
        insert(&mut s, key, plain.text, c.data_field, origin)?;
    }
    for rel in &c.envs {
        let plain = decrypt(root, sops, rel, origin)?;
        let SecretValue::Map(map) = &plain.tree else {
            return Err(KrmError::Config(format!(
                "{origin}: envs: {rel} does not decrypt to a map of keys (it is a {}); use `files` for a whole file",
                plain.tree.type_name()
            )));
        };
        for (k, v) in map {
            let value = value_text(v, &format!("{origin}: envs: {rel}: key {k}"))?;
            insert(&mut s, k.clone(), value, c.data_field, origin)?;
        }
    }
    for ks in &c.keys {
        let plain = decrypt(root, sops, &ks.file, origin)?;
        let what = format!("{origin}: keys: {}: {}#{}", ks.key, ks.file, ks.path);
        let v = lookup(&plain.tree, &ks.path, &what)?;
        let value = value_text(v, &what)?;
        insert(&mut s, ks.key.clone(), value, c.data_field, origin)?;
    }
    Ok(s)
}

fn ksops(
    c: &KsopsConfig,
    root: &Root,
    sops: &dyn SopsSource,
    origin: &str,
) -> Result<Vec<Generated>, KrmError> {
    let mut out = Vec::new();
    for rel in c.files.iter().flatten() {
        let plain = decrypt(root, sops, rel, origin)?;
        if plain.text.expose_str().is_none() {
            // Never an empty string in its place: a manifest left out is a pruned resource.
            return Err(KrmError::Config(format!(
                "{origin}: files: {rel} decrypts to binary data (not UTF-8 text), which cannot \
                 be a Kubernetes manifest; `files` take sops-encrypted manifests (put binary \
                 content in a Secret with secretFrom binaryFiles)"
            )));
        }
        out.push(Generated::Manifests {
            origin: rel.clone(),
            text: plain.text,
        });
    }
    for sf in c.secret_from.iter().flatten() {
        let mut s = GeneratedSecret {
            name: sf.metadata.name.clone(),
            namespace: sf.metadata.namespace.clone(),
            labels: sf.metadata.labels.clone(),
            annotations: sf.metadata.annotations.clone(),
            secret_type: sf.secret_type.clone().filter(|t| !t.is_empty()),
            ..Default::default()
        };
        // ksops: later sources overwrite earlier keys; files and envs → stringData,
        // binaryFiles → data.
        for source in &sf.files {
            let (key, rel) = split_file_source(source, origin)?;
            let plain = decrypt(root, sops, &rel, origin)?;
            put_ksops(&mut s, key, plain.text, false);
        }
        for source in &sf.binary_files {
            let (key, rel) = split_file_source(source, origin)?;
            let plain = decrypt(root, sops, &rel, origin)?;
            put_ksops(&mut s, key, plain.text, true);
        }
        for rel in &sf.envs {
            let plain = decrypt(root, sops, rel, origin)?;
            let pairs = parse_dotenv(&plain.text, &format!("{origin}: envs: {rel}"))?;
            for (k, v) in pairs {
                put_ksops(&mut s, k, v, false);
            }
        }
        out.push(Generated::Secret(s));
    }
    Ok(out)
}

fn put_ksops(s: &mut GeneratedSecret, key: String, value: Sensitive, binary: bool) {
    s.data.remove(&key);
    s.string_data.remove(&key);
    if binary || value.expose_str().is_none() {
        s.data.insert(key, value);
    } else {
        s.string_data.insert(key, value);
    }
}

/// A scalar as Secret text; maps and lists as compact JSON.
fn value_text(v: &SecretValue, what: &str) -> Result<Sensitive, KrmError> {
    Ok(match v {
        SecretValue::String(s) => s.clone(),
        SecretValue::Null => Sensitive::default(),
        SecretValue::Bool(b) => Sensitive::from_str_copy(if *b { "true" } else { "false" }),
        SecretValue::Int(i) => Sensitive::from(i.to_string()),
        SecretValue::Float(f) => Sensitive::from(f.to_string()),
        SecretValue::List(_) | SecretValue::Map(_) => {
            check_json(v, what)?;
            let mut out = SecretBuf::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut out, JSON_FORMAT);
            serde::Serialize::serialize(&Json(v), &mut ser).map_err(|_| {
                KrmError::Config(format!("{what}: the value cannot be written as JSON"))
            })?;
            out.into_sensitive()
        }
    })
}

/// What JSON cannot hold (serde_json would write a non-finite number as `null`), named
/// before anything is written.
fn check_json(v: &SecretValue, what: &str) -> Result<(), KrmError> {
    match v {
        SecretValue::Float(f) if !f.is_finite() => Err(KrmError::Config(format!(
            "{what}: a non-finite number cannot be written as JSON"
        ))),
        SecretValue::String(s) if s.expose_str().is_none() => Err(KrmError::Config(format!(
            "{what}: holds binary data inside a map or list; select it with its own key"
        ))),
        SecretValue::List(items) => items.iter().try_for_each(|i| check_json(i, what)),
        SecretValue::Map(m) => m.values().try_for_each(|i| check_json(i, what)),
        _ => Ok(()),
    }
}

/// A decrypted tree as JSON (map keys in the file's order).
struct Json<'a>(&'a SecretValue);

impl serde::Serialize for Json<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        match self.0 {
            SecretValue::Null => s.serialize_unit(),
            SecretValue::Bool(b) => s.serialize_bool(*b),
            SecretValue::Int(i) => s.serialize_i64(*i),
            SecretValue::Float(f) => s.serialize_f64(*f),
            SecretValue::String(t) => match t.expose_str() {
                Some(text) => s.serialize_str(text),
                None => Err(S::Error::custom("binary data")),
            },
            SecretValue::List(items) => s.collect_seq(items.iter().map(Json)),
            SecretValue::Map(m) => s.collect_map(m.iter().map(|(k, v)| (k, Json(v)))),
        }
    }
}

/// serde_json's compact output with the escapes sealbridge has always written (valid in JSON
/// and in YAML 1.1 and 1.2): C0 controls, DEL, C1 controls, U+2028, U+2029 and U+FEFF as
/// lower-case `\uXXXX`; numbers as Rust prints them.
const JSON_FORMAT: JsonEscapes = JsonEscapes {
    extra: |c| {
        matches!(
            c,
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
        )
    },
    float: None,
};

/// Looks up `path` in a decrypted tree: a JSON pointer (`/a/b`, `~0`/`~1` escapes, list
/// indices) or a top-level key.
pub fn lookup<'a>(
    tree: &'a SecretValue,
    path: &str,
    what: &str,
) -> Result<&'a SecretValue, KrmError> {
    let tokens: Vec<String> = match path.strip_prefix('/') {
        Some(rest) => rest
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
        None => vec![path.to_string()],
    };
    let mut cur = tree;
    for t in &tokens {
        cur = match cur {
            SecretValue::Map(m) => m.get(t).ok_or_else(|| {
                KrmError::Resolve(format!(
                    "{what}: no key {t:?}; available keys: {}",
                    m.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                ))
            })?,
            SecretValue::List(l) => {
                t.parse::<usize>()
                    .ok()
                    .and_then(|i| l.get(i))
                    .ok_or_else(|| {
                        KrmError::Resolve(format!(
                            "{what}: no list index {t:?} (the list has {} items)",
                            l.len()
                        ))
                    })?
            }
            other => {
                return Err(KrmError::Resolve(format!(
                    "{what}: cannot look up {t:?} in a {}",
                    other.type_name()
                )));
            }
        };
    }
    Ok(cur)
}

/// Parses decrypted dotenv text the way ksops does (godotenv): `KEY=value` or `KEY: value`,
/// an optional `export ` prefix, `#` comments, single quotes literal, double quotes with
/// `\n`, `\"` and `\\` escapes, unquoted values trimmed and cut at ` #`. (godotenv's `${VAR}`
/// expansion is not done.)
pub fn parse_dotenv(text: &Sensitive, what: &str) -> Result<Vec<(String, Sensitive)>, KrmError> {
    let Some(text) = text.expose_str() else {
        return Err(KrmError::Config(format!("{what}: is not UTF-8 text")));
    };
    let mut out: Vec<(String, Sensitive)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let sep = line
            .find(['=', ':'])
            .ok_or_else(|| KrmError::Config(format!("{what}: line {} is not KEY=value", n + 1)))?;
        let key = line[..sep].trim().to_string();
        if key.is_empty() {
            return Err(KrmError::Config(format!(
                "{what}: line {} has no key",
                n + 1
            )));
        }
        let rest = line[sep + 1..].trim_start();
        let mut value = Zeroizing::new(String::new());
        if let Some(q) = rest.strip_prefix('\'') {
            let end = q.rfind('\'').ok_or_else(|| {
                KrmError::Config(format!("{what}: line {}: unterminated quote", n + 1))
            })?;
            value.push_str(&q[..end]);
        } else if let Some(q) = rest.strip_prefix('"') {
            let end = q.rfind('"').ok_or_else(|| {
                KrmError::Config(format!("{what}: line {}: unterminated quote", n + 1))
            })?;
            let mut chars = q[..end].chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some(o) => value.push(o),
                        None => value.push('\\'),
                    }
                } else {
                    value.push(c);
                }
            }
        } else {
            let v = match rest.find(" #") {
                Some(i) => &rest[..i],
                None => rest,
            };
            value.push_str(v.trim_end());
        }
        let value = Sensitive::from_str_copy(&value);
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            out.push((key, value));
        }
    }
    Ok(out)
}

/// Appends every generated object to a YAML stream (documents separated by `---`): Secrets
/// written by the manifest writer (checked to read back as the tree), decrypted manifests as
/// sops printed them.
pub fn write_stream(generated: &[Generated], out: &mut Zeroizing<String>) -> Result<(), KrmError> {
    let mut secrets = Vec::new();
    for g in generated {
        if let Generated::Secret(s) = g {
            let doc = crate::yaml::Document::new(s.to_node());
            secrets.push(
                crate::yaml::emit_manifest_checked(&[doc])
                    .map_err(|e| KrmError::Resolve(e.to_string()))?,
            );
        }
    }
    let mut secrets = secrets.iter();
    let pieces: Vec<&str> = generated
        .iter()
        .map(|g| match g {
            Generated::Secret(_) => secrets.next().map_or("", |s| s.as_str()),
            // sops prints YAML/JSON; a non-UTF-8 manifest cannot be a Kubernetes object.
            Generated::Manifests { text, .. } => text.expose_str().unwrap_or(""),
        })
        .collect();
    // One allocation of the final size: growing would leave copies in freed memory.
    out.reserve(pieces.iter().map(|p| p.len() + 5).sum::<usize>() + 1);
    for piece in pieces {
        if !out.is_empty() {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("---\n");
        }
        out.push_str(piece);
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Plaintext;
    use super::*;
    use crate::krm::config::from_yaml_text;

    /// Test-only source: "decrypts" plaintext fixtures written by the test (YAML maps, dotenv
    /// or raw bytes) so the generator logic is tested without the sops module.
    struct PlainFiles;
    impl SopsSource for PlainFiles {
        fn decrypt(&self, path: &Path) -> Result<Plaintext, KrmError> {
            let bytes = std::fs::read(path).map_err(|e| KrmError::Decrypt(e.to_string()))?;
            let text = Sensitive::new(bytes.clone());
            let tree = if path.extension().is_some_and(|e| e == "env") {
                let pairs = parse_dotenv(&text, "t")?;
                SecretValue::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k, SecretValue::String(v)))
                        .collect(),
                )
            } else if let Ok(v) = serde_saphyr::from_slice::<serde_json::Value>(&bytes) {
                from_json(&v)
            } else {
                SecretValue::String(text.clone())
            };
            Ok(Plaintext { text, tree })
        }
    }

    fn from_json(v: &serde_json::Value) -> SecretValue {
        match v {
            serde_json::Value::Null => SecretValue::Null,
            serde_json::Value::Bool(b) => SecretValue::Bool(*b),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(SecretValue::Int)
                .unwrap_or(SecretValue::Float(n.as_f64().unwrap_or(0.0))),
            serde_json::Value::String(s) => SecretValue::String(Sensitive::from_str_copy(s)),
            serde_json::Value::Array(a) => SecretValue::List(a.iter().map(from_json).collect()),
            serde_json::Value::Object(o) => {
                SecretValue::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
            }
        }
    }

    fn run(dir: &Path, config: &str) -> Result<serde_json::Value, KrmError> {
        let cfg = from_yaml_text(config, "gen.yaml")?;
        let root = Root::new(dir)?;
        let g = generate(&cfg, &root, &PlainFiles, "gen.yaml")?;
        let mut out = Zeroizing::new(String::new());
        write_stream(&g, &mut out).unwrap();
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&out).unwrap();
        Ok(serde_json::Value::Array(docs))
    }

    fn fixture_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("db.yaml"),
            "db:\n  password: s3cr3t\n  port: 5432\n  opts: {a: 1}\nlist: [one, two]\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("app.env"),
            "# c\nexport A=1\nB='two words'\nC=\"x\\ny\"\nD: plain # comment\n",
        )
        .unwrap();
        std::fs::write(d.path().join("blob.bin"), [0u8, 255, 1]).unwrap();
        std::fs::write(d.path().join("cert.pem"), "-----BEGIN X-----\nabc\n").unwrap();
        d
    }

    #[test]
    fn secret_generator_builds_one_secret() {
        let d = fixture_dir();
        let out = run(
            d.path(),
            r#"
apiVersion: sealbridge.io/v1alpha1
kind: SecretGenerator
metadata: {name: app, namespace: prod}
behavior: replace
files: [tls.crt=cert.pem, blob.bin]
envs: [app.env]
keys:
  - {key: DB_PASSWORD, file: db.yaml, path: /db/password}
  - {key: DB_PORT, file: db.yaml, path: /db/port}
  - {key: OPTS, file: db.yaml, path: /db/opts}
  - {key: SECOND, file: db.yaml, path: /list/1}
options:
  labels: {team: a}
"#,
        )
        .unwrap();
        let s = &out[0];
        assert_eq!(out.as_array().unwrap().len(), 1);
        assert_eq!(s["kind"], "Secret");
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["metadata"]["name"], "app");
        assert_eq!(s["metadata"]["namespace"], "prod");
        assert_eq!(s["metadata"]["labels"]["team"], "a");
        assert_eq!(s["metadata"]["annotations"][NEEDS_HASH_ANNOTATION], "true");
        assert_eq!(s["metadata"]["annotations"][BEHAVIOR_ANNOTATION], "replace");
        let b64 = |k: &str| {
            use base64::Engine as _;
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(s["data"][k].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(b64("tls.crt"), "-----BEGIN X-----\nabc\n");
        assert_eq!(s["data"]["blob.bin"], "AP8B");
        assert_eq!(b64("A"), "1");
        assert_eq!(b64("B"), "two words");
        assert_eq!(b64("C"), "x\ny");
        assert_eq!(b64("D"), "plain");
        assert_eq!(b64("DB_PASSWORD"), "s3cr3t");
        assert_eq!(b64("DB_PORT"), "5432");
        assert_eq!(b64("OPTS"), "{\"a\":1}");
        assert_eq!(b64("SECOND"), "two");
    }

    #[test]
    fn secret_generator_string_data_and_options() {
        let d = fixture_dir();
        let out = run(
            d.path(),
            "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata: {name: x}\n\
             type: kubernetes.io/tls\ndataField: stringData\nfiles: [cert.pem, blob.bin]\n\
             options: {disableNameSuffixHash: true, immutable: true}\n",
        )
        .unwrap();
        let s = &out[0];
        assert_eq!(s["type"], "kubernetes.io/tls");
        assert_eq!(s["immutable"], true);
        assert_eq!(s["stringData"]["cert.pem"], "-----BEGIN X-----\nabc\n");
        // Not UTF-8: stays binary-safe in data.
        assert_eq!(s["data"]["blob.bin"], "AP8B");
        assert!(s["metadata"].get("annotations").is_none());
    }

    #[test]
    fn secret_generator_errors_name_the_source_never_the_value() {
        let d = fixture_dir();
        let cfg = |body: &str| {
            format!(
                "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata: {{name: x}}\n{body}"
            )
        };
        let e = run(
            d.path(),
            &cfg("keys: [{key: K, file: db.yaml, path: /db/nope}]"),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("nope") && msg.contains("password, port, opts"),
            "{msg}"
        );
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(matches!(e, KrmError::Resolve(_)));
        let e = run(d.path(), &cfg("files: [a=cert.pem, a=blob.bin]")).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let e = run(d.path(), &cfg("files: [../etc/passwd]")).unwrap_err();
        assert!(matches!(e, KrmError::Path(_)), "{e}");
        let e = run(d.path(), &cfg("envs: [cert.pem]")).unwrap_err();
        assert!(e.to_string().contains("does not decrypt to a map"), "{e}");
        let e = run(d.path(), &cfg("files: [bad/key=cert.pem]")).unwrap_err();
        assert!(e.to_string().contains("not a valid Secret key"), "{e}");
    }

    #[test]
    fn ksops_secret_from_and_files() {
        let d = fixture_dir();
        std::fs::write(
            d.path().join("manifest.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: m\nstringData:\n  a: b\n",
        )
        .unwrap();
        let out = run(
            d.path(),
            r#"
apiVersion: viaduct.ai/v1
kind: ksops
metadata: {name: gen}
files: [./manifest.yaml]
secretFrom:
- metadata:
    name: mysecret
    namespace: test
    labels: {foo: bar}
    annotations: {abc: xyz}
  type: Opaque
  files: [./cert.pem, k=./app.env]
  binaryFiles: [./cert.pem]
  envs: [./app.env]
"#,
        )
        .unwrap();
        assert_eq!(out[0]["metadata"]["name"], "m");
        let s = &out[1];
        assert_eq!(s["metadata"]["annotations"]["abc"], "xyz");
        assert_eq!(s["metadata"]["labels"]["foo"], "bar");
        assert_eq!(s["metadata"]["namespace"], "test");
        assert_eq!(s["type"], "Opaque");
        // binaryFiles overwrote the stringData entry of the same key, as in ksops' map order.
        assert!(s["stringData"].get("cert.pem").is_none());
        assert_eq!(s["data"]["cert.pem"], "LS0tLS1CRUdJTiBYLS0tLS0KYWJjCg==");
        assert_eq!(s["stringData"]["B"], "two words");
        assert!(
            s["stringData"]["k"]
                .as_str()
                .unwrap()
                .contains("export A=1")
        );
        assert!(
            s["metadata"]["annotations"]
                .get(NEEDS_HASH_ANNOTATION)
                .is_none()
        );
    }

    #[test]
    fn dotenv_parsing() {
        let pairs = parse_dotenv(
            &Sensitive::from_str_copy(
                "A=1\nA=2\n\n# x\nexport B = 'q # not comment'\nC=\"a\\\"b\"\n",
            ),
            "t",
        )
        .unwrap();
        let got: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k, v.expose_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("A".into(), "2".into()),
                ("B".into(), "q # not comment".into()),
                ("C".into(), "a\"b".into())
            ]
        );
        assert!(parse_dotenv(&Sensitive::from_str_copy("novalue\n"), "t").is_err());
    }

    #[test]
    fn json_pointer_escapes() {
        let tree = from_json(&serde_json::json!({"a/b": {"~c": "v"}}));
        let v = lookup(&tree, "/a~1b/~0c", "t").unwrap();
        assert!(matches!(v, SecretValue::String(s) if s.expose() == b"v"));
    }
    #[test]
    fn stream_bytes_are_unchanged() {
        let g = vec![
            Generated::Manifests {
                origin: "m.yaml".into(),
                text: Sensitive::from_str_copy("a: 1\n---\nb: 2"),
            },
            Generated::Secret(crate::krm::secret::golden::sample()),
            Generated::Manifests {
                origin: "n.yaml".into(),
                text: Sensitive::from_str_copy("# only\n"),
            },
        ];
        let mut out = Zeroizing::new(String::new());
        write_stream(&g, &mut out).unwrap();
        let want = format!(
            "a: 1\n---\nb: 2\n---\n{}---\n# only\n",
            crate::krm::secret::golden::SAMPLE
        );
        assert_eq!(out.as_str(), want);
    }
    #[test]
    fn json_values_read_back_as_the_tree() {
        use proptest::prelude::*;
        proptest!(|(k in "\\PC*", s in "\\PC*|[\\x00-\\x7f\\u{80}-\\u{a0}\\u{2028}\\u{feff}]*")| {
            let mut m = indexmap::IndexMap::new();
            m.insert(k.clone(), SecretValue::List(vec![
                SecretValue::String(Sensitive::from_str_copy(&s)),
                SecretValue::Int(-7),
            ]));
            let out = value_text(&SecretValue::Map(m), "t").unwrap();
            let v: serde_json::Value = serde_json::from_slice(out.expose()).unwrap();
            prop_assert_eq!(v[&k][0].as_str().unwrap(), s.as_str());
            prop_assert_eq!(v[&k][1].as_i64().unwrap(), -7);
        });
        let floats = SecretValue::List(vec![SecretValue::Float(3.0), SecretValue::Float(-0.5)]);
        assert_eq!(value_text(&floats, "t").unwrap().expose(), b"[3,-0.5]");
        let e = value_text(&SecretValue::List(vec![SecretValue::Float(f64::NAN)]), "t");
        assert!(e.unwrap_err().to_string().contains("non-finite"));
        let bin = SecretValue::String(Sensitive::new(vec![0xff]));
        let e = value_text(&SecretValue::List(vec![bin]), "t");
        assert!(e.unwrap_err().to_string().contains("binary data"));
    }
}
