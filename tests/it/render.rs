//! `sealbridge render` / `generate` through the real binary against a real OpenBao dev server:
//! every reference syntax, typed values, Secret/ConfigMap rules, annotations, fail-closed
//! reporting, request counting from OpenBao's audit log, inputs (stdin, files, directories).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use sealbridge::yaml::{self, Document, Node, Resolved};

use crate::support::{self, OpenBao};

/// Runs sealbridge in `dir` with the OpenBao env (token cache off) and `stdin`.
pub(crate) fn run(
    bao: Option<&OpenBao>,
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd: Command = support::sealbridge(&home);
    cmd.current_dir(dir).args(args);
    if let Some(b) = bao {
        cmd.envs(b.env())
            .env("SEALBRIDGE_VAULT_TOKEN_CACHE", "false");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    support::output_with_stdin(cmd, stdin.map(str::as_bytes))
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Asserts success and parses the output stream.
pub(crate) fn ok_docs(o: &Output) -> Vec<Document> {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr:\n{}",
        o.status.code(),
        stderr(o)
    );
    yaml::parse_stream(&stdout(o)).unwrap()
}

/// Asserts a fail-closed failure: exit 1, nothing on stdout. Returns stderr.
pub(crate) fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stderr:\n{}", stderr(o));
    assert!(o.stdout.is_empty(), "stdout must be empty on failure");
    stderr(o)
}

pub(crate) fn node<'a>(d: &'a Document, path: &[&str]) -> &'a Node {
    d.root
        .get_path(path)
        .unwrap_or_else(|| panic!("no {path:?}"))
}

/// The string at `path`; asserts Kubernetes (YAML 1.1) and YAML 1.2 read it as a string.
pub(crate) fn string(d: &Document, path: &[&str]) -> String {
    let n = node(d, path);
    assert!(
        matches!(n.resolve(), Resolved::Str),
        "{path:?} is not a string"
    );
    let s = n.as_scalar().unwrap();
    if s.style() == yaml::ScalarStyle::Plain {
        assert!(
            !yaml::is_yaml11_nonstring(s.value()),
            "{path:?} = plain {:?} is not a string for YAML 1.1",
            s.value()
        );
    }
    s.value().to_owned()
}

use crate::support::write;

/// AVP's end-to-end seed data, under fresh mounts: (kv1 mount, kv2 mount).
fn seed(bao: &OpenBao) -> (String, String) {
    let kv1 = bao.new_kv1();
    let kv2 = bao.new_kv2();
    bao.kv1_put(
        &kv1,
        "testing",
        json!({"name": "test-name", "namespace": "test-namespace", "version": "1.0",
               "replicas": "2", "tag": "1.0", "secret-var-clear": "test-password",
               "secret-var-value": "dGVzdC1wYXNzd29yZA==", "secret-num": "MQ=="}),
    );
    bao.kv1_put(
        &kv1,
        "json",
        json!({"data": {"service": {"enableTLS": true, "ports": [80, 8080]},
                         "deployment": {"replicas": 2, "image": {"name": "json-test", "tag": "latest"}}}}),
    );
    bao.kv1_put(
        &kv1,
        "jsonstring",
        json!({"secret": "{\"credentials\":{\"user\":\"test-user\",\"pass\":\"test-password\"}}"}),
    );
    bao.kv1_put(
        &kv1,
        "base64",
        json!({"encoded_secret": "ewogICJrZXkxIjogInNlY3JldDEiLAogICJrZXkyIjogInNlY3JldDIiLAogICJrZXkzIjogInNlY3JldDMiCn0="}),
    );
    bao.kv1_put(
        &kv1,
        "yaml",
        json!({"secret": "---\nkey1: secret1\nkey2: secret2\nkey3: secret3"}),
    );
    bao.kv1_put(&kv1, "foo", json!({"secret": "bar"}));
    bao.kv2_put(
        &kv2,
        "testing",
        json!({"name": "test-kv-name", "namespace": "test-kv-namespace", "version": "1.2",
               "replicas": "3", "tag": "1.1", "target-port": 80}),
    );
    bao.kv2_put(&kv2, "versioned", json!({"secret": "version1"}));
    bao.kv2_put(&kv2, "versioned", json!({"secret": "version2"}));
    (kv1, kv2)
}

#[test]
fn avp_generic_and_inline_references_with_typed_values() {
    let bao = support::openbao();
    let (kv1, kv2) = seed(bao);
    let dir = support::tempdir();
    let src = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    avp.kubernetes.io/path: {kv1}/testing
    avp.kubernetes.io/kv-version: "1"
  name: <name>
  namespace: <namespace>
  labels:
    version: <version>
spec:
  replicas: <replicas>
  template:
    spec:
      containers:
      - name: <name>
        image: foo.com/<name>:<tag>
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    avp.kubernetes.io/path: {kv2}/data/testing
  name: <name>
  labels:
    port: "<target-port>"
spec:
  ports:
  - port: 443
    targetPort: <target-port>
---
kind: Secret
apiVersion: v1
metadata:
  name: versioned
  annotations:
    avp.kubernetes.io/path: {kv2}/versioned
    avp.kubernetes.io/secret-version: "1"
stringData:
  generic: <secret>
  latest: <path:{kv2}/data/versioned#secret>
  pinned: <path:{kv2}/versioned#secret#2>
  vals: ref+vault://{kv2}/versioned?version=1#/secret
  multi: "<path:{kv1}/testing#name>,<path:{kv1}/testing#tag>"
"#
    );
    write(dir.path(), "app.yaml", &src);
    let docs = ok_docs(&run(
        Some(bao),
        dir.path(),
        &["render", "app.yaml"],
        None,
        &[],
    ));
    assert_eq!(docs.len(), 3);
    let d = &docs[0];
    assert_eq!(string(d, &["metadata", "name"]), "test-name");
    assert_eq!(string(d, &["metadata", "labels", "version"]), "1.0");
    // A Vault string "2" stays the string "2".
    assert_eq!(string(d, &["spec", "replicas"]), "2");
    let c = &node(d, &["spec", "template", "spec", "containers"])
        .as_sequence()
        .unwrap()[0];
    assert_eq!(
        c.get("image").unwrap().as_str(),
        Some("foo.com/test-name:1.0")
    );
    // A Vault number 80 becomes the integer 80.
    let port = &node(&docs[1], &["spec", "ports"]).as_sequence().unwrap()[0];
    assert_eq!(port.get("targetPort").unwrap().resolve(), Resolved::Int(80));
    assert_eq!(string(&docs[1], &["metadata", "name"]), "test-kv-name");
    // Written quoted: a string even though the secret is a number.
    assert_eq!(string(&docs[1], &["metadata", "labels", "port"]), "80");
    let s = &docs[2];
    assert_eq!(string(s, &["stringData", "generic"]), "version1");
    assert_eq!(string(s, &["stringData", "latest"]), "version2");
    assert_eq!(string(s, &["stringData", "pinned"]), "version2");
    assert_eq!(string(s, &["stringData", "vals"]), "version1");
    assert_eq!(string(s, &["stringData", "multi"]), "test-name,1.0");
    // The annotations are kept.
    assert!(
        node(s, &["metadata", "annotations"])
            .get("avp.kubernetes.io/path")
            .is_some()
    );
}

#[test]
fn avp_modifiers_fixture() {
    let bao = support::openbao();
    let (kv1, _) = seed(bao);
    let dir = support::tempdir();
    let src = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    avp.kubernetes.io/path: {kv1}/json
  name: modifiers-test
spec:
  replicas: <  data |jsonPath  {{.deployment.replicas}}|  jsonParse >
  template:
    spec:
      containers:
      - name: modifiers-test
        image: foo.com/<data | jsonPath {{.deployment.image.name}}>:<data | jsonPath {{.deployment.image.tag}}>
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    avp.kubernetes.io/path: {kv1}/json
  name: modifiers-test
spec:
  ports: >-
    <data | jsonPath
    {{'['}}
    {{range .service.ports[0:-1:1]}}
    {{'{{"protocol":"TCP",'}}
    {{'"port":'}}{{@}}
    {{',"targetPort":'}}{{@}}
    {{'}},'}}
    {{end}}
    {{'{{"protocol":"TCP",'}}
    {{'"port":'}}{{.service.ports[-1]}}
    {{',"targetPort":'}}{{.service.ports[-1]}}
    {{'}}]'}} | jsonParse >
---
apiVersion: v1
kind: Secret
metadata:
  name: modifiers-test
type: Opaque
data:
  USER: <path:{kv1}/jsonstring#secret | jsonParse | jsonPath {{.credentials.user}} | base64encode>
  PASSWORD: {password_b64}
  ESECRET: <path:{kv1}/base64#encoded_secret | base64decode | jsonPath {{.key2}} | base64encode>
  YAML: <path:{kv1}/yaml#secret | yamlParse | jsonPath {{.key1}} | base64encode>
  SHA256SUM: <path:{kv1}/foo#secret | sha256sum | base64encode>
"#,
        password_b64 = b64(&format!(
            "<path:{kv1}/jsonstring#secret | jsonParse | jsonPath {{.credentials.pass}}>"
        )),
    );
    write(dir.path(), "m.yaml", &src);
    let docs = ok_docs(&run(
        Some(bao),
        dir.path(),
        &["render", "m.yaml"],
        None,
        &[],
    ));
    assert_eq!(
        node(&docs[0], &["spec", "replicas"]).resolve(),
        Resolved::Int(2)
    );
    let c = &node(&docs[0], &["spec", "template", "spec", "containers"])
        .as_sequence()
        .unwrap()[0];
    assert_eq!(
        c.get("image").unwrap().as_str(),
        Some("foo.com/json-test:latest")
    );
    let ports = node(&docs[1], &["spec", "ports"]).as_sequence().unwrap();
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[1].get("port").unwrap().resolve(), Resolved::Int(8080));
    assert_eq!(ports[1].get("protocol").unwrap().as_str(), Some("TCP"));
    let s = &docs[2];
    assert_eq!(string(s, &["data", "USER"]), "dGVzdC11c2Vy");
    assert_eq!(string(s, &["data", "PASSWORD"]), "dGVzdC1wYXNzd29yZA==");
    assert_eq!(string(s, &["data", "ESECRET"]), "c2VjcmV0Mg==");
    assert_eq!(string(s, &["data", "YAML"]), "c2VjcmV0MQ==");
    assert_eq!(
        string(s, &["data", "SHA256SUM"]),
        b64("fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9")
    );
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn secret_data_is_encoded_and_configmaps_stringified_and_remove_missing() {
    let bao = support::openbao();
    let (kv1, kv2) = seed(bao);
    let dir = support::tempdir();
    let src = format!(
        r#"kind: Secret
apiVersion: v1
metadata:
  name: s
  annotations:
    avp.kubernetes.io/path: {kv2}/testing
    avp.kubernetes.io/remove-missing: "true"
data:
  plain: <path:{kv1}/testing#secret-var-clear>
  chained: <path:{kv1}/testing#secret-var-clear | base64encode>
  stored-b64: <path:{kv1}/testing#secret-var-value | base64decode>
  PORT: <target-port>
  MISSING_VALUE: <nope>
  literal: aGVsbG8=
stringData:
  port: <target-port>
---
kind: ConfigMap
apiVersion: v1
metadata:
  name: c
data:
  port: <path:{kv2}/testing#target-port>
  text: "port=<path:{kv2}/testing#target-port>"
"#
    );
    write(dir.path(), "s.yaml", &src);
    let docs = ok_docs(&run(
        Some(bao),
        dir.path(),
        &["render", "s.yaml"],
        None,
        &[],
    ));
    let s = &docs[0];
    assert_eq!(string(s, &["data", "plain"]), "dGVzdC1wYXNzd29yZA==");
    assert_eq!(string(s, &["data", "chained"]), "dGVzdC1wYXNzd29yZA==");
    assert_eq!(string(s, &["data", "stored-b64"]), "dGVzdC1wYXNzd29yZA==");
    assert_eq!(string(s, &["data", "PORT"]), "ODA=");
    assert!(node(s, &["data"]).get("MISSING_VALUE").is_none());
    assert_eq!(string(s, &["data", "literal"]), "aGVsbG8=");
    assert_eq!(string(s, &["stringData", "port"]), "80");
    assert_eq!(string(&docs[1], &["data", "port"]), "80");
    assert_eq!(string(&docs[1], &["data", "text"]), "port=80");
}

#[test]
fn values_that_yaml_1_1_reads_as_non_strings_stay_strings() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    let risky = [
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "Yes",
        "ON",
        "true",
        "False",
        "null",
        "~",
        "",
        "0644",
        "0x1F",
        "1e3",
        "1_000",
        "12:30:45",
        "0o17",
        ".inf",
        "-.NaN",
        "2024-01-02",
        "+5",
        "- a",
        "a: b",
        "#x",
        "@x",
        "*x",
        "&x",
        "!x",
        "%x",
        "|",
        ">",
        "'q'",
        "\"d\"",
        " lead",
        "trail ",
        "multi\nline",
        "tab\there",
    ];
    let mut data = serde_json::Map::new();
    for (i, v) in risky.iter().enumerate() {
        data.insert(format!("k{i}"), json!(v));
    }
    bao.kv2_put(&mount, "risky", serde_json::Value::Object(data));
    let dir = support::tempdir();
    let mut src = String::from(
        "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: risky\n  labels:\n    untouched-yes: \"yes\"\n    untouched-octal: \"0644\"\n    untouched-float: \"1e3\"\n    untouched-null: \"null\"\n    untouched-on: 'on'\ndata:\n",
    );
    for i in 0..risky.len() {
        src.push_str(&format!("  k{i}: <path:{mount}/risky#k{i}>\n"));
    }
    src.push_str("---\nkind: Pod\napiVersion: v1\nmetadata:\n  name: p\nspec:\n");
    for i in 0..risky.len() {
        src.push_str(&format!("  k{i}: ref+vault://{mount}/risky#/k{i}\n"));
    }
    write(dir.path(), "r.yaml", &src);
    let docs = ok_docs(&run(Some(bao), dir.path(), &["render", "."], None, &[]));
    for d in &docs {
        let top = if manifest_kind(d) == "ConfigMap" {
            "data"
        } else {
            "spec"
        };
        for (i, v) in risky.iter().enumerate() {
            assert_eq!(&string(d, &[top, &format!("k{i}")]), v, "k{i}");
        }
    }
    for l in [
        "untouched-yes",
        "untouched-octal",
        "untouched-float",
        "untouched-null",
        "untouched-on",
    ] {
        string(&docs[0], &["metadata", "labels", l]);
    }
}

fn manifest_kind(d: &Document) -> &str {
    d.root.get("kind").and_then(Node::as_str).unwrap_or("")
}

#[test]
fn failures_are_all_reported_and_nothing_is_written() {
    let bao = support::openbao();
    let (kv1, kv2) = seed(bao);
    let dir = support::tempdir();
    let src = format!(
        r#"kind: Deployment
apiVersion: apps/v1
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - name: OK
          value: <path:{kv1}/testing#name>
        - name: BAD
          value: <path:{kv1}/testing#no-such-key>
---
kind: Secret
apiVersion: v1
metadata:
  name: db
stringData:
  gone: <path:{kv2}/no/such/secret#x>
  modifier: <path:{kv1}/testing#name | jsonParse>
  unknown: <path:{kv1}/testing#name | frobnicate>
  b64: <path:{kv1}/testing#name | base64decode>
"#
    );
    write(dir.path(), "bad.yaml", &src);
    let err = failed(&run(
        Some(bao),
        dir.path(),
        &["render", "bad.yaml"],
        None,
        &[],
    ));
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("bad.yaml")).collect();
    assert_eq!(lines.len(), 5, "{err}");
    assert!(err.contains(&format!(
        "bad.yaml: document 1 (Deployment/web): .spec.template.spec.containers[0].env[1].value: <path:{kv1}/testing#no-such-key>: no such key `no-such-key` (available keys: name, namespace, replicas, secret-num, secret-var-clear, secret-var-value, tag, version)"
    )), "{err}");
    assert!(
        err.contains("document 2 (Secret/db): .stringData.gone"),
        "{err}"
    );
    assert!(err.contains("no secret at vault://"), "{err}");
    assert!(
        err.contains(".stringData.modifier") && err.contains("jsonParse: not valid JSON"),
        "{err}"
    );
    assert!(err.contains("unknown modifier `frobnicate`"), "{err}");
    assert!(
        err.contains("base64decode: the value is not valid standard base64"),
        "{err}"
    );
    for secret in ["test-name", "test-password", "test-kv-name"] {
        assert!(!err.contains(secret), "a value leaked into stderr: {err}");
    }
}

#[test]
fn one_read_per_distinct_secret() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    for i in 0..50 {
        bao.kv2_put(
            &mount,
            &format!("app/s{i}"),
            json!({"a": format!("v{i}"), "b": i}),
        );
    }
    let dir = support::tempdir();
    let mut src = String::new();
    for d in 0..10 {
        src.push_str(&format!(
            "---\nkind: ConfigMap\napiVersion: v1\nmetadata:\n  name: c{d}\ndata:\n"
        ));
        for j in 0..100 {
            let i = (d * 100 + j) % 50;
            let r = match j % 3 {
                0 => format!("<path:{mount}/app/s{i}#a>"),
                1 => format!("<path:{mount}/data/app/s{i}#b>"),
                _ => format!("ref+vault://{mount}/app/s{i}#/a"),
            };
            src.push_str(&format!("  k{j}: {r}\n"));
        }
    }
    write(dir.path(), "many.yaml", &src);
    let before_reads = bao.count_requests(&format!("{mount}/data/app/"));
    let before_mounts = bao.count_requests(&format!("sys/internal/ui/mounts/{mount}"));
    let docs = ok_docs(&run(
        Some(bao),
        dir.path(),
        &["render", "many.yaml"],
        None,
        &[],
    ));
    assert_eq!(docs.len(), 10);
    assert_eq!(string(&docs[3], &["data", "k0"]), "v0");
    let reads = bao.count_requests(&format!("{mount}/data/app/")) - before_reads;
    let mounts = bao.count_requests(&format!("sys/internal/ui/mounts/{mount}")) - before_mounts;
    // `mount/app/sN`, `mount/data/app/sN` and `vault://mount/app/sN` are the same KV v2
    // secret: 50 distinct secrets, 50 reads, after the mount's one lookup.
    assert_eq!(reads, 50, "one read per secret");
    assert_eq!(mounts, 1, "mount lookups");
}

#[test]
fn every_spelling_of_one_secret_is_one_request() {
    let bao = support::openbao();
    let kv2 = bao.new_kv2();
    bao.kv2_put(&kv2, "app", json!({"a": "one"}));
    bao.kv2_put(&kv2, "app", json!({"a": "two"}));
    let kv1 = bao.new_kv1();
    bao.kv1_put(&kv1, "app", json!({"a": "v1"}));
    let src = format!(
        "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: c\ndata:\n\
         \x20 a: <path:{kv2}/app#a>\n\
         \x20 b: <path:{kv2}/data/app#a>\n\
         \x20 c: <path:vault://{kv2}/app#a>\n\
         \x20 d: <path:openbao://{kv2}/data/app#a>\n\
         \x20 e: ref+vault://{kv2}/data/app#/a\n\
         \x20 f: <path:/{kv2}//app/#a>\n\
         \x20 g: <path:{kv2}/app#a#1>\n\
         \x20 h: <path:{kv2}/data/app#a#1>\n\
         \x20 i: ref+vault://{kv2}/app?version=1#/a\n\
         \x20 j: <path:{kv1}/app#a>\n\
         \x20 k: <path:vault://{kv1}//app#a>\n\
         \x20 l: ref+openbao://{kv1}/app#/a\n"
    );
    let dir = support::tempdir();
    write(dir.path(), "c.yaml", &src);
    let count = |p: &str| bao.count_requests(p);
    let before = (
        count(&format!("{kv2}/data/app")),
        count(&format!("{kv1}/app")),
    );
    let docs = ok_docs(&run(
        Some(bao),
        dir.path(),
        &["render", "c.yaml"],
        None,
        &[],
    ));
    for k in ["a", "b", "c", "d", "e", "f"] {
        assert_eq!(string(&docs[0], &["data", k]), "two", "{k}");
    }
    for k in ["g", "h", "i"] {
        assert_eq!(string(&docs[0], &["data", k]), "one", "{k}");
    }
    for k in ["j", "k", "l"] {
        assert_eq!(string(&docs[0], &["data", k]), "v1", "{k}");
    }
    // KV v2: the latest version once and version 1 once; KV v1: once.
    assert_eq!(count(&format!("{kv2}/data/app")) - before.0, 2);
    assert_eq!(count(&format!("{kv1}/app")) - before.1, 1);
    assert_eq!(count(&format!("sys/internal/ui/mounts/{kv2}/")), 1);
    assert_eq!(count(&format!("sys/internal/ui/mounts/{kv1}/")), 1);
}

#[test]
fn one_read_per_distinct_path_exactly() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    for i in 0..50 {
        bao.kv2_put(&mount, &format!("p/s{i}"), json!({"a": "x", "b": "y"}));
    }
    let dir = support::tempdir();
    let mut src = String::from("kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: c\ndata:\n");
    for j in 0..1000 {
        let i = j % 50;
        let key = if j % 2 == 0 { "a" } else { "b" };
        src.push_str(&format!("  k{j}: <path:{mount}/p/s{i}#{key}>\n"));
    }
    write(dir.path(), "many.yaml", &src);
    let writes = bao.count_requests(&format!("{mount}/data/p/"));
    assert_eq!(writes, 50);
    let docs = ok_docs(&run(
        Some(bao),
        dir.path(),
        &["render", "many.yaml"],
        None,
        &[],
    ));
    assert_eq!(string(&docs[0], &["data", "k999"]), "y");
    let reads = bao.count_requests(&format!("{mount}/data/p/")) - writes;
    let mounts = bao.count_requests(&format!("sys/internal/ui/mounts/{mount}"));
    assert_eq!(reads, 50, "1,000 references to 50 paths must make 50 reads");
    assert_eq!(mounts, 1, "one mount lookup for one mount");
}

#[test]
fn inputs_stdin_file_directory_and_empty() {
    let bao = support::openbao();
    let (kv1, _) = seed(bao);
    let dir = support::tempdir();
    let cm = |name: &str| {
        format!(
            "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: {name}\ndata:\n  n: <path:{kv1}/testing#name>\n"
        )
    };
    write(dir.path(), "m/b.yaml", &cm("b"));
    write(dir.path(), "m/a.yml", &cm("a"));
    write(
        dir.path(),
        "m/sub/c.json",
        &format!(
            "{{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{{\"name\":\"c\"}},\"data\":{{\"n\":\"<path:{kv1}/testing#name>\"}}}}"
        ),
    );
    write(dir.path(), "m/values.yaml", "replicaCount: 3\n");
    write(dir.path(), "m/notes.txt", "ignored");
    write(dir.path(), "m/.hidden/x.yaml", "kind: Broken\n  : :\n");

    // Directory: lexical order, nested, JSON, non-Kubernetes file skipped with a warning.
    let o = run(Some(bao), dir.path(), &["render", "m"], None, &[]);
    let docs = ok_docs(&o);
    let names: Vec<String> = docs
        .iter()
        .map(|d| string(d, &["metadata", "name"]))
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(string(&docs[2], &["data", "n"]), "test-name");
    assert!(
        stderr(&o).contains("values.yaml: document 1: not a Kubernetes object"),
        "{}",
        stderr(&o)
    );

    // One file.
    let docs = ok_docs(&run(
        Some(bao),
        dir.path(),
        &["render", "m/b.yaml"],
        None,
        &[],
    ));
    assert_eq!(docs.len(), 1);

    // stdin, with `-` and (render) without a path; `generate -` as in AVP.
    for args in [
        &["render", "-"][..],
        &["render"][..],
        &["generate", "-"][..],
    ] {
        let docs = ok_docs(&run(Some(bao), dir.path(), args, Some(&cm("s")), &[]));
        assert_eq!(string(&docs[0], &["data", "n"]), "test-name", "{args:?}");
    }

    // Empty stdin (nothing, separators, comments): a failure, not a silent empty success (the
    // command feeding the pipe probably failed); no server needed.
    for text in ["", "---\n---\n", "# only\n# comments\n---\n"] {
        let o = run(None, dir.path(), &["render", "-"], Some(text), &[]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
        assert!(stderr(&o).contains("standard input held no document"));
    }

    // Usage errors.
    let o = run(None, dir.path(), &["generate"], None, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("<path> argument required"));
    let o = run(None, dir.path(), &["render", "nowhere"], None, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    write(dir.path(), "empty/readme.md", "x");
    let o = run(None, dir.path(), &["render", "empty"], None, &[]);
    assert!(
        stderr(&o).contains("no YAML or JSON files"),
        "{}",
        stderr(&o)
    );

    // Invalid YAML fails with its position (a document that is parsed: it may hold a
    // reference; reference-free documents pass through unparsed, see docs/performance.md).
    let o = run(
        None,
        dir.path(),
        &["render", "-"],
        Some("kind: X\n  bad: [<path:kv/x#y>\n"),
        &[],
    );
    let err = failed(&o);
    assert!(err.contains("<stdin>: invalid YAML: line"), "{err}");
}

/// A Vault configuration problem is a configuration error (exit 2), said once, when the run
/// has Vault references; a run without them does not need Vault at all.
#[test]
fn vault_configuration_errors_exit_2_once_and_only_when_needed() {
    let dir = support::tempdir();
    let refs = "kind: X\nspec:\n  a: <path:secret/x#y>\n  b: <path:secret/x#z>\n";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "no Vault address: set VAULT_ADDR"),
        (
            &[("VAULT_ADDR", "ftp://x"), ("VAULT_TOKEN", "t")],
            "VAULT_ADDR \"ftp://x\" must start with https:// or http://",
        ),
        (
            &[
                ("VAULT_ADDR", "http://127.0.0.1:1"),
                ("AVP_AUTH_TYPE", "approle"),
            ],
            "approle auth needs a role id",
        ),
    ];
    for (env, want) in cases {
        let o = run(None, dir.path(), &["render", "-"], Some(refs), env);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{env:?}: {err}");
        assert!(o.stdout.is_empty(), "{env:?}");
        assert!(err.contains(want), "{env:?}: {err}");
        assert_eq!(err.matches(want).count(), 1, "said once: {err}");
        assert!(err.contains("needed by 2 references"), "{err}");
        assert!(!err.contains("VAULT_ADDR: VAULT_ADDR"), "{err}");
        assert!(!err.contains("not configured: "), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one message: {err}");
    }
    // No Vault reference: an unconfigured or misconfigured Vault does not matter.
    let o = run(
        None,
        dir.path(),
        &["render", "-"],
        Some("kind: X\nspec:\n  a: plain\n"),
        &[("VAULT_ADDR", "ftp://x")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("a: plain"));
}

#[test]
fn path_validation_refuses_before_any_request() {
    let bao = support::openbao();
    let (kv1, _) = seed(bao);
    let dir = support::tempdir();
    let before = bao.count_requests(&format!("{kv1}/"));
    let o = run(
        Some(bao),
        dir.path(),
        &["render", "-"],
        Some(&format!("kind: X\nspec:\n  a: <path:{kv1}/testing#name>\n")),
        &[("AVP_PATH_VALIDATION", "^allowed/")],
    );
    let err = failed(&o);
    assert!(
        err.contains("is disallowed by AVP_PATH_VALIDATION restriction"),
        "{err}"
    );
    assert_eq!(bao.count_requests(&format!("{kv1}/")), before);
}

#[test]
fn path_validation_sees_the_prefix_an_application_may_set() {
    // `SEALBRIDGE_PATH_PREFIX` is allow-listed for `ARGOCD_ENV_`: an Application must not be
    // able to use it to move its reads outside what AVP_PATH_VALIDATION allows.
    let bao = support::openbao();
    let (kv1, _) = seed(bao);
    let dir = support::tempdir();
    let before = bao.count_requests(&format!("{kv1}/"));
    let o = run(
        Some(bao),
        dir.path(),
        &["render", "-"],
        Some("kind: X\nspec:\n  a: <path:allowed/testing#name>\n"),
        &[
            ("AVP_PATH_VALIDATION", "^allowed/"),
            ("ARGOCD_ENV_SEALBRIDGE_PATH_PREFIX", &kv1),
        ],
    );
    let err = failed(&o);
    assert!(
        err.contains(&format!("the path {kv1}/allowed/testing is disallowed")),
        "{err}"
    );
    assert_eq!(bao.count_requests(&format!("{kv1}/")), before);

    // A prefix inside the allowed tree still works.
    let o = run(
        Some(bao),
        dir.path(),
        &["render", "-"],
        Some("kind: X\nspec:\n  a: <path:testing#name>\n"),
        &[
            ("AVP_PATH_VALIDATION", &format!("^{kv1}/")),
            ("ARGOCD_ENV_SEALBRIDGE_PATH_PREFIX", &kv1),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn permission_denied_and_unreachable_are_reported() {
    let bao = support::openbao();
    let (kv1, _) = seed(bao);
    let policy = support::unique("render-limited-");
    bao.api(
        "POST",
        &format!("/v1/sys/policies/acl/{policy}"),
        Some(json!({"policy": format!("path \"{kv1}/testing\" {{ capabilities = [\"read\"] }}")})),
    );
    let token = bao.api(
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": [policy], "ttl": "10m"})),
    )["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = support::tempdir();
    let src = format!(
        "kind: Secret\napiVersion: v1\nmetadata:\n  name: s\n  annotations:\n    avp.kubernetes.io/kv-version: \"1\"\nstringData:\n  ok: <path:{kv1}/testing#name>\n  denied: <path:{kv1}/foo#secret>\n"
    );
    let o = run(
        Some(bao),
        dir.path(),
        &["render", "-"],
        Some(&src),
        &[("VAULT_TOKEN", &token)],
    );
    let err = failed(&o);
    assert!(
        err.contains(&format!(
            ".stringData.denied: <path:{kv1}/foo#secret>: permission denied"
        )),
        "{err}"
    );
    assert!(!err.contains(".stringData.ok"), "{err}");
    assert!(!err.contains(&token), "the token leaked: {err}");

    // Nothing listens on this port: unreachable, reported per reference, exit 1.
    let port = support::free_port();
    let o = run(
        None,
        dir.path(),
        &["render", "-", "--deadline", "20s"],
        Some(&src),
        &[
            ("VAULT_ADDR", &format!("http://127.0.0.1:{port}")),
            ("VAULT_TOKEN", "t"),
            ("SEALBRIDGE_VAULT_TOKEN_CACHE", "false"),
        ],
    );
    let err = failed(&o);
    assert!(err.contains("unreachable"), "{err}");
}

#[test]
fn the_run_deadline_names_the_server_and_how_to_raise_it() {
    // A server that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let held = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in held.incoming().flatten() {
            open.push(stream);
        }
    });
    let dir = support::tempdir();
    let src = "kind: Secret\napiVersion: v1\nmetadata:\n  name: s\nstringData:\n  a: <path:secret/data/app#a>\n";
    let o = run(
        None,
        dir.path(),
        &["render", "-"],
        Some(src),
        &[
            ("VAULT_ADDR", &addr),
            ("VAULT_TOKEN", "t"),
            ("SEALBRIDGE_VAULT_TOKEN_CACHE", "false"),
            ("SEALBRIDGE_DEADLINE", "1s"),
        ],
    );
    let err = failed(&o);
    assert!(
        err.contains(".stringData.a: <path:secret/data/app#a>"),
        "{err}"
    );
    assert!(err.contains(&addr), "the Vault address is not named: {err}");
    assert!(
        err.contains("raise it with SEALBRIDGE_DEADLINE"),
        "no hint: {err}"
    );
    drop(listener);
}

#[test]
fn a_deleted_version_says_it_was_deleted() {
    let bao = support::openbao();
    let kv2 = bao.new_kv2();
    bao.kv2_put(&kv2, "app", json!({"a": "one"}));
    bao.kv2_put(&kv2, "app", json!({"a": "two"}));
    bao.api(
        "POST",
        &format!("/v1/{kv2}/delete/app"),
        Some(json!({"versions": [1]})),
    );
    let dir = support::tempdir();
    let src = format!(
        "kind: Secret\napiVersion: v1\nmetadata:\n  name: s\nstringData:\n  a: <path:{kv2}/data/app#a#1>\n"
    );
    let o = run(Some(bao), dir.path(), &["render", "-"], Some(&src), &[]);
    let err = failed(&o);
    assert!(
        err.contains(&format!(
            "<path:{kv2}/data/app#a#1>: no secret at vault://{kv2}/data/app (version 1): version 1 of this secret was deleted"
        )),
        "{err}"
    );
}

#[test]
fn a_refused_mount_lookup_is_logged_as_unknown_not_as_kv1() {
    let bao = support::openbao();
    let kv2 = bao.new_kv2();
    bao.kv2_put(&kv2, "app", json!({"a": "one"}));
    // The default policy alone sees no mount: the mount lookup answers 403.
    let token = bao.api(
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["default"], "ttl": "10m"})),
    )["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = support::tempdir();
    let src = format!(
        "kind: Secret\napiVersion: v1\nmetadata:\n  name: s\nstringData:\n  a: <path:{kv2}/app#a#2>\n"
    );
    let o = run(
        Some(bao),
        dir.path(),
        &["--verbose", "render", "-"],
        Some(&src),
        &[("VAULT_TOKEN", &token)],
    );
    let err = failed(&o);
    assert!(
        err.contains(&format!(
            "the mount type of {kv2}/app could not be looked up (HTTP 403); assuming KV v1"
        )),
        "{err}"
    );
    assert!(err.contains("version 2 is ignored"), "{err}");
    assert!(!err.contains("is not in a KV v2 mount"), "{err}");
    assert!(!err.contains(&token), "the token leaked: {err}");
}

// ---- The directory walk is confined to the application directory (issue 9, item 7) ----

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\ndata:\n  a: b\n";

/// An app directory with one good manifest; returns (outside dir, app dir).
fn app_dir() -> (tempfile::TempDir, tempfile::TempDir) {
    let outside = support::tempdir();
    std::fs::write(
        outside.path().join("stolen.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  key: SIDECAR-FILE\n",
    )
    .unwrap();
    let app = support::tempdir();
    std::fs::write(app.path().join("a.yaml"), CM).unwrap();
    (outside, app)
}

fn walk_fails(app: &Path, needle: &str) {
    for args in [&["render", "."][..], &["argocd", "generate", "."][..]] {
        let o = run(None, app, args, None, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: {}", stdout(&o));
        assert!(err.contains(needle), "{args:?}: want {needle:?} in:\n{err}");
    }
}

#[test]
fn symlink_out_of_the_app_dir_is_refused() {
    let (outside, app) = app_dir();
    let link = app.path().join("sub");
    std::fs::create_dir(&link).unwrap();
    std::os::unix::fs::symlink(outside.path().join("stolen.yaml"), link.join("z.yaml")).unwrap();
    walk_fails(
        app.path(),
        "sub/z.yaml: a symbolic link whose target is outside the directory",
    );
    // A linked directory that leaves the app directory, whatever its name.
    std::fs::remove_file(link.join("z.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.path(), app.path().join("base")).unwrap();
    walk_fails(app.path(), "base: a symbolic link whose target is outside");
    // Links that stay inside are fine (files are read, directories are not walked).
    std::fs::remove_file(app.path().join("base")).unwrap();
    std::os::unix::fs::symlink(app.path().join("a.yaml"), link.join("again.yaml")).unwrap();
    std::os::unix::fs::symlink(&link, app.path().join("loopdir")).unwrap();
    let o = run(None, app.path(), &["render", "."], None, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches("name: ok").count(), 2, "{}", stdout(&o));
}

#[test]
fn unreadable_entries_in_the_app_dir_are_errors_not_skipped() {
    use std::os::unix::net::UnixListener;
    // Dangling link: a manifest that cannot be read would be pruned.
    let (_outside, app) = app_dir();
    std::os::unix::fs::symlink(app.path().join("gone.yaml"), app.path().join("b.yaml")).unwrap();
    walk_fails(
        app.path(),
        "b.yaml: a symbolic link whose target does not exist",
    );
    // A link loop.
    let (_outside, app) = app_dir();
    std::os::unix::fs::symlink(app.path().join("y.yaml"), app.path().join("x.yaml")).unwrap();
    std::os::unix::fs::symlink(app.path().join("x.yaml"), app.path().join("y.yaml")).unwrap();
    walk_fails(
        app.path(),
        "x.yaml: a symbolic link that cannot be followed",
    );
    // A FIFO (reading it would block until the deadline) and a socket.
    let (_outside, app) = app_dir();
    let fifo = app.path().join("f.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    walk_fails(app.path(), "f.yaml: not a regular file");
    std::fs::remove_file(&fifo).unwrap();
    let _sock = UnixListener::bind(app.path().join("s.yml")).unwrap();
    walk_fails(app.path(), "s.yml: not a regular file");
}

// ---- Values with line-break-like characters (issue 9, item 11) ----

#[test]
fn unicode_line_separators_in_values_read_back_exactly() {
    let dir = support::tempdir();
    let recipient = support::age_key_file(&dir.path().join("age.txt"));
    // The secrets, made by the real sops: multi-line values with U+2028, U+2029, U+0085, BOM.
    let specials = [
        '\u{2028}', '\u{2029}', '\u{85}', '\u{feff}', '\u{200b}', '\u{1b}',
    ];
    let values: Vec<String> = specials
        .iter()
        .map(|c| format!("line1\nmid{c}dle\nline3\n"))
        .collect();
    let plain = serde_json::Value::Object(
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("k{i}"), json!(v)))
            .collect(),
    );
    std::fs::write(dir.path().join("s.json"), plain.to_string()).unwrap();
    let enc = support::sops_ok(
        dir.path(),
        support::NO_ENV,
        &["encrypt", "--age", &recipient, "s.json"],
    );
    std::fs::write(dir.path().join("s.enc.json"), &enc).unwrap();
    std::fs::remove_file(dir.path().join("s.json")).unwrap();
    let mut doc = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n".to_owned();
    for i in 0..values.len() {
        doc.push_str(&format!("  k{i}: <path:sops://s.enc.json#k{i}>\n"));
    }
    let key = dir.path().join("age.txt");
    let o = run(
        None,
        dir.path(),
        &["render", "-"],
        Some(&doc),
        &[("SOPS_AGE_KEY_FILE", key.to_str().unwrap())],
    );
    let docs = ok_docs(&o);
    for (i, v) in values.iter().enumerate() {
        let got = docs[0]
            .root
            .get_path(&["stringData", &format!("k{i}")])
            .and_then(Node::as_str);
        assert_eq!(got, Some(v.as_str()), "k{i}:\n{}", stdout(&o));
    }
    // An independent YAML 1.1 reader (PyYAML; kubectl and Argo CD read YAML 1.1) agrees.
    let read = crate::yaml11::pyyaml(&stdout(&o));
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            read[0]["stringData"][format!("k{i}")],
            json!(v),
            "k{i} (PyYAML)"
        );
    }
}

/// Audit-log requests that touch Vault's own areas (the client's mount lookups excluded).
fn system_area_requests(bao: &OpenBao) -> usize {
    bao.audit_requests()
        .iter()
        .filter_map(|v| v["request"]["path"].as_str().map(str::to_ascii_lowercase))
        .filter(|p| !p.starts_with("sys/internal/ui/mounts/"))
        .filter(|p| {
            p.contains("lookup-self")
                || p.contains("cubbyhole")
                || p.contains("identity/")
                || p.contains("sys/")
        })
        .count()
}

#[test]
fn vault_system_paths_are_denied_by_default() {
    // A reference is repository content: it must not read the sidecar's own token
    // (`auth/token/lookup-self` answers it in `data.id`), nor Vault's system, identity or
    // cubbyhole areas, in any spelling, and no request may leave for them.
    let bao = support::openbao();
    let (_, kv2) = seed(bao);
    let dir = support::tempdir();
    let before = system_area_requests(bao);
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("a: <path:auth/token/lookup-self#id>", &[]),
        ("a: <path:/auth//token/lookup-self/#id>", &[]),
        ("a: <path:AUTH/token/lookup-self#id>", &[]),
        ("a: ref+vault://auth/token/lookup-self#/id", &[]),
        (
            "a: <path:token/lookup-self#id>",
            &[("ARGOCD_ENV_SEALBRIDGE_PATH_PREFIX", "auth")],
        ),
        ("a: <path:team/auth/token/lookup-self#id>", &[]),
        ("a: <path:sys/wrapping/lookup#x>", &[]),
        ("a: <path:cubbyhole/x#y>", &[]),
        ("a: <path:identity/entity/name/x#id>", &[]),
        (
            "a: <path:auth/token/lookup-self#id>",
            &[("AVP_KV_VERSION", "1")],
        ),
    ];
    for (spec, env) in cases {
        let o = run(
            Some(bao),
            dir.path(),
            &["render", "-"],
            Some(&format!(
                "kind: ConfigMap\nmetadata:\n  name: x\ndata:\n  {spec}\n"
            )),
            env,
        );
        let err = failed(&o);
        assert!(err.contains("refused"), "{spec}: {err}");
        assert!(!err.contains(&bao.token), "{spec}: the token leaked: {err}");
    }
    // The AVP annotation form too.
    let o = run(
        Some(bao),
        dir.path(),
        &["render", "-"],
        Some(
            "kind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n    \
             avp.kubernetes.io/path: auth/token/lookup-self\ndata:\n  a: <id>\n",
        ),
        &[],
    );
    assert!(failed(&o).contains("refused"));
    assert_eq!(
        system_area_requests(bao),
        before,
        "no request may reach Vault's own areas"
    );

    // Secret names that happen to be system words stay readable in a KV mount.
    bao.kv2_put(&kv2, "token", json!({"k": "v1"}));
    bao.kv2_put(&kv2, "auth/db", json!({"k": "v2"}));
    let o = run(
        Some(bao),
        dir.path(),
        &["render", "-"],
        Some(&format!(
            "kind: X\nspec:\n  a: <path:{kv2}/data/token#k>\n  b: <path:{kv2}/data/auth/db#k>\n"
        )),
        &[],
    );
    let docs = ok_docs(&o);
    assert_eq!(string(&docs[0], &["spec", "a"]), "v1");
    assert_eq!(string(&docs[0], &["spec", "b"]), "v2");
}
