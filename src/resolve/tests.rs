//! Engine unit tests with an in-memory backend (behaviour tests use real OpenBao and sops files
//! in `tests/it/render*.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::backend::{Backend, CanonicalFuture, FetchFuture};
use crate::placeholder::value::parse_json;
use crate::secret::SecretValue;
use crate::yaml::{self, Node};

#[derive(Default)]
struct MemoryBackend {
    secrets: HashMap<String, SecretValue>,
    calls: AtomicUsize,
    seen: Mutex<Vec<SecretId>>,
}

impl MemoryBackend {
    fn with(mut self, path: &str, json: &str) -> Self {
        self.secrets
            .insert(path.to_owned(), parse_json(json.as_bytes()).unwrap());
        self
    }
}

impl Backend for MemoryBackend {
    fn fetch<'a>(&'a self, id: &'a SecretId) -> FetchFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.seen.lock().unwrap().push(id.clone());
            match id.path.as_str() {
                "denied" => Err(BackendError::PermissionDenied("403".into())),
                p => self
                    .secrets
                    .get(p.replace("kv/data/", "kv/").as_str())
                    .cloned()
                    .map(crate::backend::Fetch::from)
                    .ok_or(BackendError::NotFound {
                        version: id.version,
                        reason: None,
                    }),
            }
        })
    }

    /// Like a KV v2 mount at `kv/`: `kv/app` and `kv/data/app` are one secret.
    fn canonical<'a>(&'a self, id: &'a SecretId) -> CanonicalFuture<'a> {
        Box::pin(async move { Some(id.path.replace("kv/data/", "kv/")) })
    }
}

fn backend() -> Arc<MemoryBackend> {
    Arc::new(
        MemoryBackend::default()
            .with(
                "secret/testing",
                r#"{"name":"test-name","replicas":"2","port":80,"ratio":1.5,"on":true,
                    "clear":"test-password","multi":"a:\n  b: 1\n","nested":{"x":[1,2]},
                    "json":"{\"credentials\":{\"user\":\"test-user\",\"pass\":\"test-password\"}}",
                    "nul":null}"#,
            )
            .with("kv/app", r#"{"user":"u","pass":"p"}"#),
    )
}

fn render(src: &str, be: &Arc<MemoryBackend>) -> Result<Vec<Document>, RenderFailure> {
    let mut docs = yaml::parse_stream(src).unwrap();
    let origins: Vec<Origin> = (0..docs.len())
        .map(|index| Origin {
            file: "in.yaml".into(),
            index,
        })
        .collect();
    let backends = Backends::new().with(BackendKind::Vault, be.clone() as Arc<dyn Backend>);
    render_documents_blocking(&mut docs, &origins, &backends, &RenderOptions::default()).map_err(
        |e| match e {
            RenderError::Resolve(f) => f,
            other => panic!("{other}"),
        },
    )?;
    Ok(docs)
}

fn at<'a>(doc: &'a Document, path: &[&str]) -> &'a Node {
    doc.root.get_path(path).unwrap()
}

fn str_at(doc: &Document, path: &[&str]) -> String {
    let n = at(doc, path);
    assert!(
        matches!(n.resolve(), yaml::Resolved::Str),
        "{path:?} is not a string"
    );
    n.as_str().unwrap().to_owned()
}

#[test]
fn typed_injection_and_strings_stay_strings() {
    let be = backend();
    let docs = render(
        "kind: Deployment\nmetadata:\n  name: <path:secret/testing#name>\nspec:\n  replicas: <path:secret/testing#replicas>\n  port: <path:secret/testing#port>\n  ratio: <path:secret/testing#ratio>\n  on: <path:secret/testing#on>\n  nested: <path:secret/testing#nested>\n  image: foo.com/<path:secret/testing#name>:<path:secret/testing#port>\n",
        &be,
    )
    .unwrap();
    let d = &docs[0];
    assert_eq!(str_at(d, &["metadata", "name"]), "test-name");
    assert_eq!(str_at(d, &["spec", "replicas"]), "2");
    assert_eq!(at(d, &["spec", "port"]).resolve(), yaml::Resolved::Int(80));
    assert_eq!(
        at(d, &["spec", "ratio"]).resolve(),
        yaml::Resolved::Float(1.5)
    );
    assert_eq!(at(d, &["spec", "on"]).resolve(), yaml::Resolved::Bool(true));
    assert!(at(d, &["spec", "nested", "x"]).is_sequence());
    assert_eq!(str_at(d, &["spec", "image"]), "foo.com/test-name:80");
    // Quoted scalars stay strings; block scalars do not (AVP folds typed chains into `>-`).
    let docs = render(
        "kind: X\nspec:\n  a: \"<path:secret/testing#port>\"\n  b: '<path:secret/testing#on>'\n  c: |-\n    <path:secret/testing#port>\n  d: <path:secret/testing#port>\n",
        &be,
    )
    .unwrap();
    assert_eq!(str_at(&docs[0], &["spec", "a"]), "80");
    assert_eq!(str_at(&docs[0], &["spec", "b"]), "true");
    assert_eq!(
        at(&docs[0], &["spec", "c"]).resolve(),
        yaml::Resolved::Int(80)
    );
    assert_eq!(
        at(&docs[0], &["spec", "d"]).resolve(),
        yaml::Resolved::Int(80)
    );
    // One fetch per run for one distinct path (two runs here).
    assert_eq!(be.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn generic_references_use_the_annotation() {
    let be = backend();
    let src = "kind: Secret\nmetadata:\n  name: x\n  annotations:\n    avp.kubernetes.io/path: secret/testing\nstringData:\n  a: <clear>\n  b: <port>\n  c: \"<name>-<port>\"\n";
    let docs = render(src, &be).unwrap();
    assert_eq!(str_at(&docs[0], &["stringData", "a"]), "test-password");
    // stringData is always text.
    assert_eq!(str_at(&docs[0], &["stringData", "b"]), "80");
    assert_eq!(str_at(&docs[0], &["stringData", "c"]), "test-name-80");

    // Without the annotation `<x>` stays.
    let docs = render(
        "kind: CRD\nspec:\n  d: supported options <beep>, <boop>\n",
        &be,
    )
    .unwrap();
    assert_eq!(
        str_at(&docs[0], &["spec", "d"]),
        "supported options <beep>, <boop>"
    );
}

#[test]
fn secret_data_is_base64_unless_the_chain_encodes() {
    let be = backend();
    let src = "kind: Secret\nmetadata:\n  name: s\ndata:\n  a: <path:secret/testing#clear>\n  b: <path:secret/testing#clear | base64encode>\n  c: <path:secret/testing#port>\n  d: PHBhdGg6c2VjcmV0L3Rlc3RpbmcjY2xlYXI+\n  e: c29tZQ==<path:secret/testing#clear | base64encode>dmFsdWU=\n  f: PHBhdGg6c2VjcmV0L3Rlc3RpbmcjY2xlYXIgfCBiYXNlNjRlbmNvZGU+\n";
    let docs = render(src, &be).unwrap();
    let d = &docs[0];
    assert_eq!(str_at(d, &["data", "a"]), "dGVzdC1wYXNzd29yZA==");
    assert_eq!(str_at(d, &["data", "b"]), "dGVzdC1wYXNzd29yZA==");
    assert_eq!(str_at(d, &["data", "c"]), "ODA=");
    // base64("<path:secret/testing#clear>") → decoded, replaced, re-encoded.
    assert_eq!(str_at(d, &["data", "d"]), "dGVzdC1wYXNzd29yZA==");
    assert_eq!(
        str_at(d, &["data", "e"]),
        "c29tZQ==dGVzdC1wYXNzd29yZA==dmFsdWU="
    );
    // base64("<… | base64encode>") → double encoding, as in AVP.
    assert_eq!(str_at(d, &["data", "f"]), "ZEdWemRDMXdZWE56ZDI5eVpBPT0=");
}

#[test]
fn configmap_values_are_stringified() {
    let be = backend();
    let docs = render(
        "kind: ConfigMap\nmetadata:\n  name: c\ndata:\n  port: <path:secret/testing#port>\n  on: <path:secret/testing#on>\n",
        &be,
    )
    .unwrap();
    assert_eq!(str_at(&docs[0], &["data", "port"]), "80");
    assert_eq!(str_at(&docs[0], &["data", "on"]), "true");
    let err = render(
        "kind: ConfigMap\nmetadata:\n  name: c\ndata:\n  n: <path:secret/testing#nested>\n",
        &be,
    )
    .unwrap_err();
    assert!(err.to_string().contains("must be text"), "{err}");
}

#[test]
fn remove_missing_deletes_only_missing_keys() {
    let be = backend();
    let src = "kind: Secret\nmetadata:\n  name: s\n  annotations:\n    avp.kubernetes.io/path: secret/testing\n    avp.kubernetes.io/remove-missing: \"true\"\nstringData:\n  PORT: <port>\n  MISSING: <nope>\n  NUL: <nul>\n";
    let docs = render(src, &be).unwrap();
    let keys: Vec<_> = at(&docs[0], &["stringData"])
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["PORT"]);

    let err = render(
        "kind: Service\nmetadata:\n  name: s\n  annotations:\n    avp.kubernetes.io/remove-missing: \"true\"\n",
        &be,
    )
    .unwrap_err();
    assert!(err.to_string().contains(
        "avp.kubernetes.io/remove-missing annotation can only be used on Secret or ConfigMap resources"
    ));
}

#[test]
fn all_failures_are_reported_and_nothing_changes() {
    let be = backend();
    let src = "kind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - env:\n        - value: ok\n        - value: <path:secret/testing#nope>\n      - image: <path:denied#x>\n---\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: <path:gone#x>\n  b: <path:secret/testing#json | jsonPath {.credentials.missing}>\n  c: <path:a#b#c#d>\n";
    let err = render(src, &be).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.failures.len(), 5, "{text}");
    assert!(text.contains("in.yaml: document 1 (Deployment/web): .spec.template.spec.containers[0].env[1].value: <path:secret/testing#nope>: no such key `nope` (available keys: name, replicas, port, ratio, on, clear, multi, nested, json, nul)"), "{text}");
    assert!(
        text.contains(
            ".spec.template.spec.containers[1].image: <path:denied#x>: permission denied"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "document 2 (Secret/s): .stringData.a: <path:gone#x>: no secret at vault://gone"
        ),
        "{text}"
    );
    assert!(text.contains("jsonPath: missing is not found"), "{text}");
    assert!(text.contains("expected <path:PATH#KEY>"), "{text}");
    // Never a value.
    assert!(
        !text.contains("test-password") && !text.contains("test-name"),
        "{text}"
    );
}

#[test]
fn default_supplies_missing_values() {
    let be = backend();
    let docs = render(
        "kind: X\nspec:\n  a: <path:secret/testing#nope | default \"fallback\">\n  b: <path:nowhere#k | default 'x'>\n  c: <path:secret/testing#name | default \"unused\">\n",
        &be,
    )
    .unwrap();
    assert_eq!(str_at(&docs[0], &["spec", "a"]), "fallback");
    assert_eq!(str_at(&docs[0], &["spec", "b"]), "x");
    assert_eq!(str_at(&docs[0], &["spec", "c"]), "test-name");
}

#[test]
fn deduplicates_by_path_and_version() {
    let be = backend();
    let mut src = String::from("kind: X\nspec:\n");
    for i in 0..200 {
        src.push_str(&format!(
            "  k{i}: <path:secret/testing#name>-ref+vault://kv/app#/user+-<path:kv/app#pass#{}>\n",
            1 + i % 2
        ));
    }
    let err = render(&src, &be);
    // kv/app versions 1 and 2 are not in the memory backend's version model, but paths are.
    if let Err(e) = &err {
        panic!("{e}");
    }
    let mut seen = be.seen.lock().unwrap().clone();
    seen.sort();
    let paths: Vec<_> = seen.iter().map(|i| (i.path.as_str(), i.version)).collect();
    assert_eq!(
        paths,
        [
            ("kv/app", None),
            ("kv/app", Some(1)),
            ("kv/app", Some(2)),
            ("secret/testing", None)
        ]
    );
}

#[test]
fn ids_the_backend_calls_equal_are_fetched_once() {
    let be = backend();
    let src = "kind: X\nspec:\n  a: <path:kv/app#user>\n  b: <path:kv/data/app#pass>\n  \
               c: ref+vault://kv/data/app#/user\n  d: <path:kv/app#user#1>\n  \
               e: <path:kv/data/app#user#1>\n";
    let docs = render(src, &be).unwrap();
    assert_eq!(str_at(&docs[0], &["spec", "b"]), "p");
    assert_eq!(str_at(&docs[0], &["spec", "c"]), "u");
    // One fetch for the latest version, one for version 1.
    assert_eq!(be.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn ignore_annotation_and_kv_version() {
    let be = backend();
    let docs = render(
        "kind: Secret\nmetadata:\n  name: s\n  annotations:\n    avp.kubernetes.io/ignore: \"True\"\nstringData:\n  a: <path:nowhere#x>\n",
        &be,
    )
    .unwrap();
    assert_eq!(str_at(&docs[0], &["stringData", "a"]), "<path:nowhere#x>");
    assert_eq!(be.calls.load(Ordering::SeqCst), 0);

    render(
        "kind: X\nmetadata:\n  annotations:\n    sealbridge.io/kv-version: \"1\"\nspec:\n  a: <path:kv/app#user>\n",
        &be,
    )
    .unwrap();
    assert_eq!(be.seen.lock().unwrap()[0].kv_version, Some(KvVersion::V1));

    let err = render(
        "kind: X\nmetadata:\n  annotations:\n    avp.kubernetes.io/kv-version: \"3\"\n    avp.kubernetes.io/ignore: \"yes\"\n",
        &be,
    )
    .unwrap_err();
    assert_eq!(err.failures.len(), 2, "{err}");
}

#[test]
fn secret_version_applies_to_generic_only() {
    let be = backend();
    let src = "kind: X\nmetadata:\n  annotations:\n    avp.kubernetes.io/path: kv/app\n    avp.kubernetes.io/secret-version: \"1\"\nspec:\n  a: <user>\n  b: <path:kv/app#user>\n";
    render(src, &be).unwrap();
    let mut seen: Vec<_> = be.seen.lock().unwrap().iter().map(|i| i.version).collect();
    seen.sort();
    assert_eq!(seen, [None, Some(1)]);
}

#[test]
fn modifiers_chain_like_avp() {
    let be = backend();
    let docs = render(
        "kind: X\nspec:\n  u: <path:secret/testing#json | jsonParse | jsonPath {.credentials.user} | base64encode>\n  y: \"key: <path:secret/testing#multi | indent 2>\"\n  n: <path:secret/testing#json | jsonPath {.credentials} | jsonParse>\n",
        &be,
    )
    .unwrap();
    assert_eq!(str_at(&docs[0], &["spec", "u"]), "dGVzdC11c2Vy");
    assert_eq!(str_at(&docs[0], &["spec", "y"]), "key: a:\n    b: 1\n");
    assert!(at(&docs[0], &["spec", "n"]).is_mapping());
}

#[test]
fn embedded_map_is_an_error() {
    let be = backend();
    let err = render("kind: X\nspec:\n  a: x-<path:secret/testing#nested>\n", &be).unwrap_err();
    assert!(err.to_string().contains("the value is a map"), "{err}");
}
