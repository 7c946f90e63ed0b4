//! The KRM function: a `ResourceList` on stdin, a `ResourceList` on stdout (KRM Functions
//! Specification v1, as kustomize and kpt run exec functions).
//!
//! Mode, from the input:
//! - `functionConfig` is a generator (`SecretGenerator` or `ksops`) → generate from it; input
//!   items pass through untouched (kustomize drops its local-config echo of the generator; kpt
//!   keeps the package's files);
//! - else (no functionConfig, a kpt `ConfigMap`, or `sealbridge.io/v1alpha1` `Resolver`) →
//!   transformer: resolve secret references in every item. Generator configurations among the
//!   items are left alone: only a `functionConfig` makes sealbridge generate (kustomize and kpt
//!   always pass one), so `kpt fn eval` without `--fn-config` never consumes a package file.
//!
//! On failure the output has no items, one `error` result per problem (no values), and the
//! exit code is non-zero: kpt prints the results, kustomize fails the build.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::config::{self, ConfigKind, GeneratorConfig};
use super::generate::{self, Generated};
use super::paths::Root;
use super::{KrmError, SopsSource};
use crate::yaml::{self, Document, Node, Scalar};

/// The ResourceList API version written when the input had none.
pub const RESOURCE_LIST_API_VERSION: &str = "config.kubernetes.io/v1";
/// kpt's (render) absolute package directory annotation.
pub const PACKAGE_PATH_ANNOTATION: &str = "internal.config.kubernetes.io/package-path";
/// The orchestrator's file path annotations (current and legacy).
pub const PATH_ANNOTATIONS: &[&str] = &[
    "internal.config.kubernetes.io/path",
    "config.kubernetes.io/path",
];

/// [`crate::manifest::Origin::file`] of an item without the orchestrator's path annotation
/// (its index is then its position in the ResourceList).
pub const ITEMS_ORIGIN: &str = "ResourceList items";

/// What a KRM run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The ResourceList to print (on failure: no items, only `results`).
    pub output: Zeroizing<String>,
    /// The failure, if any (the exit code comes from it).
    pub error: Option<KrmError>,
}

/// Resolves secret references in the items (transformer mode). `cwd` is the directory sops
/// file references are relative to.
pub type Transformer<'a> = &'a dyn Fn(&mut [Document], &Path) -> Result<(), KrmError>;

/// Processes one ResourceList read from stdin.
pub fn process(
    input: &str,
    cwd: &Path,
    sops: &dyn SopsSource,
    transform: Transformer<'_>,
) -> Outcome {
    match run(input, cwd, sops, transform) {
        Ok(output) => Outcome {
            output,
            error: None,
        },
        Err(error) => Outcome {
            output: failure_list(&error),
            error: Some(error),
        },
    }
}

struct ResourceList {
    api_version: String,
    items: Vec<Node>,
    function_config: Option<Node>,
}

fn parse(input: &str) -> Result<ResourceList, KrmError> {
    let docs = yaml::parse_stream(input)
        .map_err(|e| KrmError::Config(format!("stdin: not a YAML ResourceList: {e}")))?;
    let mut docs: Vec<Document> = docs.into_iter().filter(|d| !d.is_empty()).collect();
    if docs.len() != 1 {
        return Err(KrmError::Config(format!(
            "stdin: expected one ResourceList document, found {} documents (run under kustomize \
             or kpt, or pipe `kind: ResourceList`)",
            docs.len()
        )));
    }
    let mut root = docs.remove(0).root;
    if root.get("kind").and_then(Node::as_str) != Some("ResourceList") {
        return Err(KrmError::Config(
            "stdin: the input is not a `kind: ResourceList` (a KRM function reads one from \
             kustomize or kpt; for a generator file use `sealbridge FILE`)"
                .to_string(),
        ));
    }
    let api_version = root
        .get("apiVersion")
        .and_then(Node::as_str)
        .unwrap_or(RESOURCE_LIST_API_VERSION)
        .to_string();
    let items = match root.remove("items") {
        None => Vec::new(),
        Some(n) if n.is_null() => Vec::new(),
        Some(n) => match n.kind {
            yaml::NodeKind::Sequence(items) => items,
            _ => {
                return Err(KrmError::Config(
                    "ResourceList: items is not a list".to_string(),
                ));
            }
        },
    };
    let function_config = root.remove("functionConfig").filter(|n| !n.is_null());
    Ok(ResourceList {
        api_version,
        items,
        function_config,
    })
}

/// A sops-encrypted file among the input resources (kpt reads every YAML file of a package,
/// kustomize every entry of `resources`) would come out still encrypted, next to what is
/// generated from it: refused, naming the file and the fix.
fn refuse_sops_items(items: &[Node]) -> Result<(), KrmError> {
    for (i, item) in items.iter().enumerate() {
        let encrypted = item
            .get("sops")
            .is_some_and(|m| m.is_mapping() && m.get("mac").is_some());
        if !encrypted {
            continue;
        }
        let file = annotation(item, "internal.config.kubernetes.io/path")
            .or_else(|| annotation(item, "config.kubernetes.io/path"))
            .map_or_else(|| format!("item {i}"), str::to_owned);
        return Err(KrmError::Config(format!(
            "{file}: a sops-encrypted file is among the input resources; it would be written out \
             still encrypted next to the Secret generated from it. kpt: list it in the package's \
             .krmignore (sealbridge reads it from disk by its path); kustomize: remove it from \
             resources (docs/kustomize.md)"
        )));
    }
    Ok(())
}

fn kind_of(n: &Node) -> Option<ConfigKind> {
    ConfigKind::detect(
        n.get("apiVersion").and_then(Node::as_str).unwrap_or(""),
        n.get("kind").and_then(Node::as_str).unwrap_or(""),
    )
}

fn annotation<'a>(n: &'a Node, key: &str) -> Option<&'a str> {
    n.get_path(&["metadata", "annotations", key])
        .and_then(Node::as_str)
}

/// The directory a generator's files are relative to: under kpt render, the configuration
/// file's directory in its package (the package path is believed only as
/// [`super::packages::annotated_package`] allows); otherwise the function's working directory
/// (kustomize runs it in the kustomization directory; run kpt eval from the package directory).
fn base_dir(config: &Node, items: &[Node], cwd: &Path) -> Result<PathBuf, KrmError> {
    let same = |n: &&Node| {
        n.get("kind").and_then(Node::as_str) == config.get("kind").and_then(Node::as_str)
            && n.get_path(&["metadata", "name"]).and_then(Node::as_str)
                == config
                    .get_path(&["metadata", "name"])
                    .and_then(Node::as_str)
    };
    let annotated = std::iter::once(config)
        .chain(items.iter().filter(same))
        .find(|n| annotation(n, PACKAGE_PATH_ANNOTATION).is_some());
    let Some(n) = annotated else {
        return Ok(cwd.to_path_buf());
    };
    let root = super::packages::root(cwd)?;
    let Some(mut dir) = super::packages::annotated_package(n, &root)? else {
        return Ok(cwd.to_path_buf());
    };
    if let Some(p) = PATH_ANNOTATIONS.iter().find_map(|k| annotation(n, k))
        && let Some(parent) = Path::new(p).parent()
    {
        dir.push(parent);
    }
    Ok(dir)
}

fn run(
    input: &str,
    cwd: &Path,
    sops: &dyn SopsSource,
    transform: Transformer<'_>,
) -> Result<Zeroizing<String>, KrmError> {
    let list = parse(input)?;
    refuse_sops_items(&list.items)?;
    let fc_kind = list.function_config.as_ref().and_then(kind_of);
    let mut out_items: Vec<Node>;
    match (&list.function_config, fc_kind) {
        (Some(fc), Some(k)) if k.is_generator() => {
            let origin = super::packages::label(fc);
            let cfg = config::from_json(&to_json(fc, &origin)?, &origin)?;
            let generated = run_generator(&cfg, &base_dir(fc, &list.items, cwd)?, sops, &origin)?;
            out_items = list.items;
            out_items.extend(generated);
        }
        _ => {
            let mut docs: Vec<Document> = list.items.into_iter().map(Document::new).collect();
            transform(&mut docs, cwd)?;
            out_items = docs.into_iter().map(|d| d.root).collect();
        }
    }
    let mut root = Node::mapping();
    root.insert("apiVersion", Node::str(list.api_version.as_str()));
    root.insert("kind", Node::str("ResourceList"));
    let mut items = Node::sequence();
    if let Some(seq) = items.as_sequence_mut() {
        seq.extend(out_items);
    }
    root.insert("items", items);
    if let Some(fc) = list.function_config {
        root.insert("functionConfig", fc);
    }
    // The same last-line check as `render`: what is written must read back as the data.
    yaml::emit_manifest_checked(&[Document::new(root)])
        .map_err(|e| KrmError::Resolve(e.to_string()))
}

fn to_json(n: &Node, origin: &str) -> Result<serde_json::Value, KrmError> {
    yaml::to_json(n).map_err(|e| KrmError::Config(format!("{origin}: {e}")))
}

/// Runs one generator and parses its output into items. Never returns an empty set.
fn run_generator(
    cfg: &GeneratorConfig,
    dir: &Path,
    sops: &dyn SopsSource,
    origin: &str,
) -> Result<Vec<Node>, KrmError> {
    let root = Root::new(dir)?;
    let generated = generate::generate(cfg, &root, sops, origin)?;
    let mut nodes = Vec::new();
    for g in generated {
        let (what, text) = match g {
            Generated::Secret(s) => {
                nodes.push(s.to_node());
                continue;
            }
            Generated::Manifests { origin: f, text } => (format!("{origin}: {f}"), text),
        };
        // sops prints YAML/JSON; a non-UTF-8 manifest cannot be a Kubernetes object.
        let docs = yaml::parse_stream(text.expose_str().unwrap_or("")).map_err(|e| {
            KrmError::Config(format!("{what}: the decrypted file is not YAML: {e}"))
        })?;
        for d in docs.into_iter().filter(|d| !d.is_empty()) {
            if !d.root.is_mapping() || d.root.get("kind").is_none() {
                return Err(KrmError::Config(format!(
                    "{what}: a decrypted document is not a Kubernetes object (no kind)"
                )));
            }
            nodes.push(d.root);
        }
    }
    if nodes.is_empty() {
        return Err(KrmError::Config(format!(
            "{origin}: the configuration generates no objects (an empty result would silently \
             drop Secrets, ksops#217); list at least one file"
        )));
    }
    Ok(nodes)
}

/// A ResourceList with no items and one error result per problem (messages name files,
/// objects, fields and references, never values).
pub fn failure_list(error: &KrmError) -> Zeroizing<String> {
    let mut results = Vec::new();
    match error {
        KrmError::Unresolved(failure) => {
            for f in &failure.failures {
                let mut r = result(&failure_message(f));
                if let Some((kind, name)) = f.object.split_once('/') {
                    r.insert("resourceRef", quoted_map(&[("kind", kind), ("name", name)]));
                }
                if !f.field.is_empty() {
                    let path = f.field.trim_start_matches('.');
                    r.insert("field", quoted_map(&[("path", path)]));
                }
                if f.origin.file != ITEMS_ORIGIN {
                    let mut file = quoted_map(&[("path", &f.origin.file)]);
                    let index = i64::try_from(f.origin.index).unwrap_or(i64::MAX);
                    file.insert("index", Node::scalar(Scalar::new_int(index)));
                    r.insert("file", file);
                }
                results.push(r);
            }
        }
        other => results.push(result(&other.to_string())),
    }
    let mut root = Node::mapping();
    root.insert("apiVersion", Node::str(RESOURCE_LIST_API_VERSION));
    root.insert("kind", Node::str("ResourceList"));
    root.insert("items", Node::sequence());
    root.insert("results", Node::new(yaml::NodeKind::Sequence(results)));
    yaml::emit_manifest(&[Document::new(root)])
}

/// One `error` result with its message.
fn result(message: &str) -> Node {
    let mut r = Node::mapping();
    r.insert("severity", Node::str("error"));
    r.insert("message", Node::scalar(Scalar::new_quoted(message)));
    r
}

/// A mapping of plain keys to double-quoted values.
fn quoted_map(entries: &[(&str, &str)]) -> Node {
    let mut m = Node::mapping();
    for (k, v) in entries {
        m.insert(k, Node::scalar(Scalar::new_quoted(*v)));
    }
    m
}

/// One failure's message without the location (that is in the result's own fields).
fn failure_message(f: &crate::resolve::Failure) -> String {
    if f.reference.is_empty() {
        f.problem.clone()
    } else {
        format!("{}: {}", f.reference, f.problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitStatus;
    use crate::krm::Plaintext;
    use crate::secret::{SecretValue, Sensitive};

    struct Plain;
    impl SopsSource for Plain {
        fn decrypt(&self, path: &Path) -> Result<Plaintext, KrmError> {
            let text =
                std::fs::read_to_string(path).map_err(|e| KrmError::Decrypt(e.to_string()))?;
            let docs = yaml::parse_stream(&text).map_err(|e| KrmError::Decrypt(e.to_string()))?;
            let tree = docs
                .first()
                .map(|d| yaml::to_secret_value(&d.root).unwrap())
                .unwrap_or(SecretValue::Null);
            Ok(Plaintext {
                text: Sensitive::from(text),
                tree,
            })
        }
    }

    fn no_transform(_: &mut [Document], _: &Path) -> Result<(), KrmError> {
        Err(KrmError::Config("no transformer in this test".into()))
    }

    fn parse_out(out: &str) -> serde_json::Value {
        serde_saphyr::from_str(out).unwrap()
    }

    #[test]
    fn kustomize_style_generator() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("db.yaml"), "password: pw1\n").unwrap();
        let input = r#"apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: sealbridge.io/v1alpha1
  kind: SecretGenerator
  metadata:
    name: db
    annotations:
      config.kubernetes.io/local-config: "true"
  envs: [db.yaml]
functionConfig:
  apiVersion: sealbridge.io/v1alpha1
  kind: SecretGenerator
  metadata:
    name: db
    annotations:
      config.kubernetes.io/local-config: "true"
  envs: [db.yaml]
"#;
        let o = process(input, d.path(), &Plain, &no_transform);
        assert!(o.error.is_none(), "{:?}", o.error);
        let v = parse_out(&o.output);
        assert_eq!(v["kind"], "ResourceList");
        let items = v["items"].as_array().unwrap();
        assert_eq!(
            items.len(),
            2,
            "the local-config echo is kept (kustomize drops it)"
        );
        assert_eq!(items[1]["kind"], "Secret");
        assert_eq!(items[1]["metadata"]["name"], "db");
        assert_eq!(items[1]["data"]["password"], "cHcx");
    }

    #[test]
    fn ksops_from_function_config_and_generator_items_without_one_are_left_alone() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("s.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n",
        )
        .unwrap();
        let gen_cfg =
            "apiVersion: viaduct.ai/v1\n  kind: ksops\n  metadata: {name: g}\n  files: [s.yaml]\n";
        let input = format!("kind: ResourceList\nitems:\n- {gen_cfg}functionConfig:\n  {gen_cfg}");
        let o = process(&input, d.path(), &Plain, &no_transform);
        assert!(o.error.is_none(), "{:?}", o.error);
        let v = parse_out(&o.output);
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["metadata"]["name"], "s");
        assert_eq!(items[1]["stringData"]["a"], "b");
        // Without a functionConfig: transformer mode; the generator item is not consumed.
        let input = format!("kind: ResourceList\nitems:\n- {gen_cfg}");
        let keep = |docs: &mut [Document], _: &Path| {
            assert_eq!(docs.len(), 1);
            Ok(())
        };
        let o = process(&input, d.path(), &Plain, &keep);
        assert!(o.error.is_none(), "{:?}", o.error);
        let v = parse_out(&o.output);
        assert_eq!(v["items"][0]["kind"], "ksops");
        assert_eq!(v["apiVersion"], "config.kubernetes.io/v1");
    }

    #[test]
    fn kpt_render_paths_are_relative_to_the_config_file() {
        let pkg = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(pkg.path().join("secrets")).unwrap();
        std::fs::write(pkg.path().join("secrets/db.yaml"), "password: pw\n").unwrap();
        let input = format!(
            "kind: ResourceList\nitems:\n- apiVersion: sealbridge.io/v1alpha1\n  kind: SecretGenerator\n  metadata:\n    name: db\n    annotations:\n      internal.config.kubernetes.io/package-path: {}\n      internal.config.kubernetes.io/path: secrets/gen.yaml\n  envs: [db.yaml]\nfunctionConfig:\n  apiVersion: sealbridge.io/v1alpha1\n  kind: SecretGenerator\n  metadata: {{name: db}}\n  envs: [db.yaml]\n",
            pkg.path().display()
        );
        // kpt's package path is believed only for a kpt package at or below the working
        // directory (kpt eval passes a package-path written in a file through unchanged).
        let o = process(&input, pkg.path(), &Plain, &no_transform);
        assert!(matches!(o.error, Some(KrmError::Path(_))), "{:?}", o.error);
        assert!(o.output.contains("no Kptfile"), "{}", &*o.output);
        std::fs::write(pkg.path().join("Kptfile"), "kind: Kptfile\n").unwrap();
        let o = process(&input, pkg.path(), &Plain, &no_transform);
        assert!(o.error.is_none(), "{:?}", o.error);
        let parent = pkg.path().parent().unwrap();
        let o = process(&input, parent, &Plain, &no_transform);
        assert!(o.error.is_none(), "{:?}", o.error);
        let elsewhere = tempfile::tempdir().unwrap();
        let o = process(&input, elsewhere.path(), &Plain, &no_transform);
        assert!(matches!(o.error, Some(KrmError::Path(_))), "{:?}", o.error);
        assert!(
            o.output.contains("outside the working directory"),
            "{}",
            &*o.output
        );
    }

    #[test]
    fn failures_have_no_items_and_an_error_result() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("db.yaml"), "password: topsecret\n").unwrap();
        let input = "kind: ResourceList\nitems: []\nfunctionConfig:\n  apiVersion: sealbridge.io/v1alpha1\n  kind: SecretGenerator\n  metadata: {name: db}\n  keys: [{key: K, file: db.yaml, path: nope}]\n";
        let o = process(input, d.path(), &Plain, &no_transform);
        let e = o.error.expect("must fail");
        assert!(matches!(e, KrmError::Resolve(_)));
        let v = parse_out(&o.output);
        assert_eq!(v["items"].as_array().unwrap().len(), 0);
        assert_eq!(v["results"][0]["severity"], "error");
        let msg = v["results"][0]["message"].as_str().unwrap();
        assert!(msg.contains("nope") && msg.contains("password"), "{msg}");
        assert!(!o.output.contains("topsecret"));
        for bad in [
            "",
            "a: [",
            "kind: ConfigMap\n",
            "kind: ResourceList\nitems: 3\n",
            "kind: ResourceList\n---\nkind: ResourceList\n",
        ] {
            let o = process(bad, d.path(), &Plain, &no_transform);
            assert!(matches!(o.error, Some(KrmError::Config(_))), "{bad:?}");
        }
    }

    #[test]
    fn unresolved_references_become_one_result_each() {
        use crate::manifest::Origin;
        use crate::resolve::{Failure, RenderFailure};
        let failure = |file: &str, object: &str, field: &str| Failure {
            origin: Origin {
                file: file.into(),
                index: 1,
            },
            object: object.into(),
            field: field.into(),
            reference: "<path:kv/data/app#pw>".into(),
            problem: "not found".into(),
        };
        let e = KrmError::Unresolved(RenderFailure {
            failures: vec![
                failure("app.yaml", "Secret/app", ".stringData.pw"),
                failure(ITEMS_ORIGIN, "", ""),
            ],
        });
        let out = failure_list(&e);
        let v: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(v["items"], serde_json::json!([]));
        let r = v["results"].as_array().unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["severity"], "error");
        assert_eq!(r[0]["message"], "<path:kv/data/app#pw>: not found");
        assert_eq!(r[0]["resourceRef"]["kind"], "Secret");
        assert_eq!(r[0]["resourceRef"]["name"], "app");
        assert_eq!(r[0]["field"]["path"], "stringData.pw");
        assert_eq!(r[0]["file"]["path"], "app.yaml");
        assert_eq!(r[0]["file"]["index"], 1);
        assert!(r[1]["resourceRef"].is_null() && r[1]["file"].is_null());
        assert_eq!(e.exit_status(), ExitStatus::Failure);
    }

    #[test]
    fn transformer_mode_gets_every_item() {
        let input = "kind: ResourceList\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
        let seen = std::cell::Cell::new(0);
        let t = |docs: &mut [Document], _: &Path| {
            seen.set(docs.len());
            for d in docs.iter_mut() {
                d.root.insert("touched", Node::str("yes"));
            }
            Ok(())
        };
        let o = process(input, Path::new("."), &Plain, &t);
        assert!(o.error.is_none());
        assert_eq!(seen.get(), 2);
        let v = parse_out(&o.output);
        assert_eq!(v["items"][1]["touched"], "yes");
    }
    #[test]
    fn output_bytes_are_unchanged() {
        use crate::manifest::Origin;
        use crate::resolve::{Failure, RenderFailure};
        let e = KrmError::Unresolved(RenderFailure {
            failures: vec![
                Failure {
                    origin: Origin {
                        file: "app.yaml".into(),
                        index: 3,
                    },
                    object: "Secret/app".into(),
                    field: ".stringData.pw".into(),
                    reference: "<path:kv/data/app#pw>".into(),
                    problem: "not \"found\"".into(),
                },
                Failure {
                    origin: Origin {
                        file: ITEMS_ORIGIN.into(),
                        index: 0,
                    },
                    object: String::new(),
                    field: String::new(),
                    reference: String::new(),
                    problem: "bad".into(),
                },
            ],
        });
        assert_eq!(
            failure_list(&e).as_str(),
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nresults:\n  - severity: error\n    message: \"<path:kv/data/app#pw>: not \\\"found\\\"\"\n    resourceRef:\n      kind: \"Secret\"\n      name: \"app\"\n    field:\n      path: \"stringData.pw\"\n    file:\n      path: \"app.yaml\"\n      index: 3\n  - severity: error\n    message: \"bad\"\n"
        );
        let e = KrmError::Config("stdin: not\ta list: yes".into());
        assert_eq!(
            failure_list(&e).as_str(),
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nresults:\n  - severity: error\n    message: \"stdin: not\\ta list: yes\"\n"
        );
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("db.yaml"),
            "password: \"pw 1\\n\"\nport: 5432\nmap: {a: [1, 2.5, true, null, \"x\\u0085\\u0001\\u2028\\b/<\"], f: [3.0, 1e20, -0.5]}\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("m.yaml"),
            "# c\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata:\n  k: [a]\n",
        )
        .unwrap();
        let gen_cfg = "apiVersion: sealbridge.io/v1alpha1\n  kind: SecretGenerator\n  metadata: {name: g, labels: {x: y}}\n  envs: [db.yaml]\n  keys: [{key: M, file: db.yaml, path: map}]\n";
        let input = format!("kind: ResourceList\nitems:\n- {gen_cfg}functionConfig:\n  {gen_cfg}");
        let o = process(&input, d.path(), &Plain, &no_transform);
        assert!(o.error.is_none(), "{:?}", o.error);
        assert_eq!(
            o.output.as_str(),
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n  - apiVersion: sealbridge.io/v1alpha1\n    kind: SecretGenerator\n    metadata:\n      name: g\n      labels:\n        x: y\n    envs:\n      - db.yaml\n    keys:\n      - key: M\n        file: db.yaml\n        path: map\n  - apiVersion: v1\n    kind: Secret\n    metadata:\n      name: \"g\"\n      annotations:\n        \"kustomize.config.k8s.io/needs-hash\": \"true\"\n    type: \"Opaque\"\n    data:\n      \"M\": \"eyJhIjpbMSwyLjUsdHJ1ZSxudWxsLCJ4XHUwMDg1XHUwMDAxXHUyMDI4XHUwMDA4LzwiXSwiZiI6WzMsMTAwMDAwMDAwMDAwMDAwMDAwMDAwLC0wLjVdfQ==\"\n      \"map\": \"eyJhIjpbMSwyLjUsdHJ1ZSxudWxsLCJ4XHUwMDg1XHUwMDAxXHUyMDI4XHUwMDA4LzwiXSwiZiI6WzMsMTAwMDAwMDAwMDAwMDAwMDAwMDAwLC0wLjVdfQ==\"\n      \"password\": \"cHcgMQo=\"\n      \"port\": \"NTQzMg==\"\nfunctionConfig:\n  apiVersion: sealbridge.io/v1alpha1\n  kind: SecretGenerator\n  metadata:\n    name: g\n    labels:\n      x: y\n  envs:\n    - db.yaml\n  keys:\n    - key: M\n      file: db.yaml\n      path: map\n"
        );
        let ks = "apiVersion: viaduct.ai/v1\n  kind: ksops\n  metadata: {name: k}\n  files: [m.yaml]\n  secretFrom: [{metadata: {name: s}, envs: [db.yaml]}]\n";
        let input = format!("kind: ResourceList\nitems: []\nfunctionConfig:\n  {ks}");
        let o = process(&input, d.path(), &Plain, &no_transform);
        assert!(o.error.is_none(), "{:?}", o.error);
        assert_eq!(
            o.output.as_str(),
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n  - # c\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: m\n    data:\n      k:\n        - a\n  - apiVersion: v1\n    kind: Secret\n    metadata:\n      name: \"s\"\n    stringData:\n      \"map\": \"{a: [1, 2.5, true, null, \\\"x\\\\u0085\\\\u0001\\\\u2028\\\\b/<\\\"], f: [3.0, 1e20, -0.5]}\"\n      \"password\": \"pw 1\\n\"\n      \"port\": \"5432\"\nfunctionConfig:\n  apiVersion: viaduct.ai/v1\n  kind: ksops\n  metadata:\n    name: k\n  files:\n    - m.yaml\n  secretFrom:\n    - metadata:\n        name: s\n      envs:\n        - db.yaml\n"
        );
    }
}
