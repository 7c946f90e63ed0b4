//! The sops backend of `render` with real sops-made files: AVP and vals syntax, typed values,
//! the sops default backend, mixing Vault and sops in one run, decrypt-once (counted on a Vault
//! transit key in OpenBao's audit log), and path confinement.

use serde_json::json;

use sealbridge::yaml::Resolved;

use crate::render::{failed, node, ok_docs, run, stderr, string};
use crate::support::{self, write};

/// A temp working directory with the sops fixtures under `secrets/`, and the age key path.
fn workdir() -> (tempfile::TempDir, String) {
    let dir = support::tempdir();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for f in ["basic.enc.yaml", "basic.enc.json", "basic.enc.env"] {
        std::fs::copy(
            support::fixture(&format!("render/sops/{f}")),
            secrets.join(f),
        )
        .unwrap();
    }
    let key = support::fixture("render/sops/age1.txt")
        .display()
        .to_string();
    (dir, key)
}

#[test]
fn avp_and_vals_references_into_sops_files() {
    let (dir, key) = workdir();
    write(
        dir.path(),
        "app.yaml",
        r#"kind: Deployment
apiVersion: apps/v1
metadata:
  name: <path:sops://secrets/basic.enc.yaml#name>
spec:
  replicas: <path:sops://secrets/basic.enc.yaml#age>
  template:
    spec:
      containers:
      - name: app
        image: "repo/<path:sops://./secrets/basic.enc.yaml#name>:v1"
        env:
        - name: LIST_ITEM
          value: ref+sops://secrets/basic.enc.yaml#/nested/deeper/list/1
        - name: NESTED
          value: ref+sops://secrets/basic.enc.yaml#/nested/key
        - name: FROM_JSON
          value: ref+sops://secrets/basic.enc.json#/nested/list/2/three
        - name: DOTENV
          value: <path:sops://secrets/basic.enc.env#DB_PASS>
        - name: MULTILINE
          value: <path:sops://secrets/basic.enc.yaml#multiline>
"#,
    );
    let o = run(
        None,
        dir.path(),
        &["render", "app.yaml"],
        None,
        &[("SOPS_AGE_KEY_FILE", &key)],
    );
    let docs = ok_docs(&o);
    let d = &docs[0];
    assert_eq!(string(d, &["metadata", "name"]), "Alice");
    assert_eq!(node(d, &["spec", "replicas"]).resolve(), Resolved::Int(30));
    let c = &node(d, &["spec", "template", "spec", "containers"])
        .as_sequence()
        .unwrap()[0];
    assert_eq!(c.get("image").unwrap().as_str(), Some("repo/Alice:v1"));
    let env = c.get("env").unwrap().as_sequence().unwrap();
    let value = |i: usize| env[i].get("value").unwrap();
    assert_eq!(value(0).resolve(), Resolved::Int(2));
    assert_eq!(value(1).as_str(), Some("value"));
    assert_eq!(value(2).resolve(), Resolved::Int(3));
    assert_eq!(value(3).as_str(), Some("s3cr3t=with=equals"));
    assert_eq!(value(4).as_str(), Some("line one\nline two\n"));
}

#[test]
fn sops_as_default_backend_with_generic_references_and_mixed_with_vault() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "app", json!({"token": "vault-token-value"}));
    let (dir, key) = workdir();
    let src = format!(
        r#"kind: Secret
apiVersion: v1
metadata:
  name: mixed
  annotations:
    avp.kubernetes.io/path: secrets/basic.enc.yaml
stringData:
  name: <name>
  age: <age>
  from-vault: <path:vault://{mount}/app#token>
  password: <password_unencrypted>
"#
    );
    for var in ["AVP_TYPE", "SEALBRIDGE_BACKEND"] {
        let o = run(
            Some(bao),
            dir.path(),
            &["render", "-"],
            Some(&src),
            &[("SOPS_AGE_KEY_FILE", &key), (var, "sops")],
        );
        let docs = ok_docs(&o);
        assert_eq!(string(&docs[0], &["stringData", "name"]), "Alice");
        assert_eq!(string(&docs[0], &["stringData", "age"]), "30");
        assert_eq!(
            string(&docs[0], &["stringData", "from-vault"]),
            "vault-token-value"
        );
        assert_eq!(string(&docs[0], &["stringData", "password"]), "visible");
    }
}

#[test]
fn sops_failures_name_the_reference_not_the_value() {
    let (dir, key) = workdir();
    let src = "kind: Secret\napiVersion: v1\nmetadata:\n  name: s\nstringData:\n  a: <path:sops://secrets/basic.enc.yaml#nope>\n  b: ref+sops://secrets/basic.enc.yaml#/nested/nope\n  c: <path:sops://secrets/missing.enc.yaml#x>\n  d: <path:sops://secrets/basic.enc.yaml#name#2>\n";
    let err = failed(&run(
        None,
        dir.path(),
        &["render", "-"],
        Some(src),
        &[("SOPS_AGE_KEY_FILE", &key)],
    ));
    assert!(err.contains(".stringData.a: <path:sops://secrets/basic.enc.yaml#nope>: no such key `nope` (available keys: name, age, height"), "{err}");
    assert!(
        err.contains("nothing at pointer `/nested/nope` (available keys: key, deeper)"),
        "{err}"
    );
    assert!(
        err.contains(".stringData.c")
            && err.contains("no secret at sops://secrets/missing.enc.yaml"),
        "{err}"
    );
    assert!(err.contains("sops files have no versions"), "{err}");
    assert!(!err.contains("Alice") && !err.contains("s3cr3t"), "{err}");

    // The wrong key: a decryption failure, exit 1, nothing printed.
    let wrong = support::fixture("render/sops/age2.txt")
        .display()
        .to_string();
    let err = failed(&run(
        None,
        dir.path(),
        &["render", "-"],
        Some("kind: X\nspec:\n  a: <path:sops://secrets/basic.enc.yaml#name>\n"),
        &[("SOPS_AGE_KEY_FILE", &wrong)],
    ));
    assert!(err.contains("cannot decrypt"), "{err}");
}

#[test]
fn sops_paths_are_confined_to_the_working_directory() {
    let (dir, key) = workdir();
    // A sops file outside the working directory (e.g. the sidecar's own secrets), reachable by
    // `..`, by absolute path, and by a symlink committed to the repository.
    let outside = support::tempdir();
    std::fs::copy(
        support::fixture("render/sops/basic.enc.yaml"),
        outside.path().join("private.enc.yaml"),
    )
    .unwrap();
    let abs = outside.path().join("private.enc.yaml");
    std::os::unix::fs::symlink(&abs, dir.path().join("secrets/link.enc.yaml")).unwrap();
    let inner = dir.path().join("app");
    std::fs::create_dir_all(&inner).unwrap();
    let rel_up = format!(
        "../{}/private.enc.yaml",
        outside.path().file_name().unwrap().to_string_lossy()
    );
    let src = format!(
        "kind: X\nspec:\n  a: <path:sops://{rel_up}#name>\n  b: <path:sops://{}#name>\n  c: ref+sops://secrets/link.enc.yaml#/name\n  d: <path:sops://secrets/../secrets/basic.enc.yaml#name>\n",
        abs.display()
    );
    let err = failed(&run(
        None,
        dir.path(),
        &["render", "-"],
        Some(&src),
        &[("SOPS_AGE_KEY_FILE", &key)],
    ));
    assert!(
        err.contains(".spec.a") && err.contains("`..` is not allowed"),
        "{err}"
    );
    assert!(
        err.contains(".spec.b") && err.contains("absolute paths are not allowed"),
        "{err}"
    );
    assert!(
        err.contains(".spec.c")
            && err.contains("leaves the working directory through a symbolic link"),
        "{err}"
    );
    assert!(
        err.contains(".spec.d") && err.contains("`..` is not allowed"),
        "{err}"
    );
    assert!(!err.contains("Alice"), "{err}");

    // --sops-root moves the root: the same file is then inside it.
    let o = run(
        None,
        dir.path(),
        &[
            "render",
            "-",
            "--sops-root",
            &outside.path().display().to_string(),
        ],
        Some("kind: X\nspec:\n  a: <path:sops://private.enc.yaml#name>\n"),
        &[("SOPS_AGE_KEY_FILE", &key)],
    );
    assert_eq!(string(&ok_docs(&o)[0], &["spec", "a"]), "Alice");
}

#[test]
fn a_sops_file_is_decrypted_once_per_run() {
    // A sops file whose only key is a Vault transit key in the real OpenBao: every decryption
    // is one transit request in the audit log.
    let bao = support::openbao();
    let transit = support::unique("transit-");
    bao.enable_secrets(&transit, "transit", json!({}));
    bao.api("POST", &format!("/v1/{transit}/keys/sops"), Some(json!({})));
    let dir = support::tempdir();
    std::fs::write(
        dir.path().join("plain.yaml"),
        "password: hunter2\nport: 5432\n",
    )
    .unwrap();
    let enc = support::sops_ok(
        dir.path(),
        &[("VAULT_TOKEN", &bao.token)],
        &[
            "encrypt",
            "--hc-vault-transit",
            &format!("{}/v1/{transit}/keys/sops", bao.addr),
            "plain.yaml",
        ],
    );
    std::fs::write(dir.path().join("db.enc.yaml"), &enc).unwrap();
    std::fs::remove_file(dir.path().join("plain.yaml")).unwrap();

    let mut src =
        String::from("kind: Secret\napiVersion: v1\nmetadata:\n  name: db\nstringData:\n");
    for i in 0..100 {
        src.push_str(&format!(
            "  p{i}: <path:sops://db.enc.yaml#password>\n  n{i}: ref+sops://db.enc.yaml#/port\n"
        ));
    }
    let decrypt_path = format!("{transit}/decrypt/sops");
    let before = bao.count_requests(&decrypt_path);
    let o = run(Some(bao), dir.path(), &["render", "-"], Some(&src), &[]);
    let docs = ok_docs(&o);
    assert_eq!(string(&docs[0], &["stringData", "p99"]), "hunter2");
    assert_eq!(string(&docs[0], &["stringData", "n0"]), "5432");
    assert_eq!(
        bao.count_requests(&decrypt_path) - before,
        1,
        "one decryption for 200 references"
    );

    // The same file claiming another Vault address is refused: the token is not sent there.
    let text = String::from_utf8(enc).unwrap();
    let evil_port = support::free_port();
    let evil = text.replace(&bao.addr, &format!("http://127.0.0.1:{evil_port}"));
    std::fs::write(dir.path().join("evil.enc.yaml"), evil).unwrap();
    let o = run(
        Some(bao),
        dir.path(),
        &["render", "-"],
        Some("kind: X\nspec:\n  a: <path:sops://evil.enc.yaml#password>\n"),
        &[],
    );
    let err = failed(&o);
    assert!(err.contains("not the configured Vault address"), "{err}");
    assert!(!stderr(&o).contains(&bao.token));
}

#[test]
fn the_quickstart_example_renders_with_its_demo_key() {
    let root = support::project_root();
    let key = root.join("examples/quickstart/demo-age-key.txt");
    let o = run(
        None,
        &root,
        &["render", "examples/quickstart"],
        None,
        &[("SOPS_AGE_KEY_FILE", &key.display().to_string())],
    );
    let docs = ok_docs(&o);
    assert_eq!(docs.len(), 4, "the sops file itself is skipped");
    assert!(!stderr(&o).contains("WARN"), "{}", stderr(&o));
    assert_eq!(
        string(&docs[0], &["stringData", "password"]),
        "correct-horse-battery-staple"
    );
    assert_eq!(
        string(&docs[0], &["stringData", "url"]),
        "postgres://app:correct-horse-battery-staple@db:5432/shop"
    );
    assert_eq!(
        string(&docs[1], &["stringData", "webhook"]),
        "not-configured"
    );
    assert_eq!(string(&docs[2], &["data", "enabled"]), "yes");
    assert_eq!(string(&docs[2], &["data", "beta"]), "search cart");
    assert_eq!(
        node(&docs[3], &["spec", "replicas"]).resolve(),
        Resolved::Int(3)
    );
    let env = &node(&docs[3], &["spec", "template", "spec", "containers"])
        .as_sequence()
        .unwrap()[0]
        .get("env")
        .unwrap()
        .as_sequence()
        .unwrap()[0];
    assert_eq!(env.get("value").unwrap().resolve(), Resolved::Str);

    // Without a key: fails closed, nothing printed.
    let err = failed(&run(
        None,
        &root,
        &["render", "examples/quickstart"],
        None,
        &[],
    ));
    assert!(err.contains("cannot decrypt"), "{err}");
}
