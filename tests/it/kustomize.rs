//! kustomize: the legacy exec plugin under the real `kubectl kustomize --enable-alpha-plugins`
//! (kubectl's embedded kustomize), with the plugin home made by the shipped
//! `plugins/kustomize/install.sh`, on the shipped `examples/kustomize` trees.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support;

/// A plugin home (KUSTOMIZE_PLUGIN_HOME) with SecretGenerator and ksops linked to the binary.
pub fn plugin_home(dir: &Path) -> PathBuf {
    let home = dir.join("plugin-home");
    let out = Command::new(support::project_root().join("plugins/kustomize/install.sh"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_sealbridge"))
        .arg(&home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "install.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    home
}

/// `kubectl kustomize --enable-alpha-plugins DIR` with a clean environment, the plugin home
/// and the demo age key.
pub fn kustomize(dir: &Path, extra_env: &[(&str, &Path)]) -> Output {
    let tmp = support::tempdir();
    let home = plugin_home(tmp.path());
    let mut cmd = Command::new(support::kubectl());
    support::clean_env(&mut cmd, tmp.path());
    cmd.arg("kustomize")
        .arg("--enable-alpha-plugins")
        .arg(dir)
        .env("KUSTOMIZE_PLUGIN_HOME", &home)
        .env(
            "SOPS_AGE_KEY_FILE",
            support::project_root().join("examples/kustomize/demo-age-key.txt"),
        );
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn docs(out: &Output) -> Vec<Value> {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn b64(v: &Value) -> String {
    use base64::Engine as _;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// Copies a tree into a temp dir (tests never write into the repository).
fn copy_example(rel: &str) -> (tempfile::TempDir, PathBuf) {
    let t = support::tempdir();
    let dst = t.path().join("k");
    crate::cmp::copy_dir(&support::project_root().join(rel), &dst);
    (t, dst)
}

#[test]
fn legacy_plugin_generates_hashed_secrets_and_ksops_files() {
    let out = kustomize(
        &support::project_root().join("examples/kustomize/legacy"),
        &[],
    );
    assert!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objs = docs(&out);
    let secret = |prefix: &str| {
        objs.iter()
            .find(|o| {
                o["kind"] == "Secret"
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("no Secret {prefix}*"))
    };
    // SecretGenerator: kustomize's content-hash suffix, annotations consumed by kustomize.
    let db = secret("db-credentials-");
    let db_name = db["metadata"]["name"].as_str().unwrap();
    assert_ne!(db_name, "db-credentials-", "hash suffix expected");
    assert!(
        db["metadata"]["annotations"].is_null(),
        "generator annotations are kustomize's"
    );
    assert_eq!(
        db["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "demo"
    );
    assert_eq!(b64(&db["data"]["DB_USER"]), "app");
    assert_eq!(b64(&db["data"]["DB_PASSWORD"]), "demo-db-password");
    assert_eq!(b64(&db["data"]["tls.key"]), "demo-private-key");
    assert!(b64(&db["data"]["tls.crt"]).starts_with("-----BEGIN CERTIFICATE-----\n"));
    // ksops `files:`: the decrypted manifest, with its own needs-hash annotation honoured.
    let api = secret("api-token-");
    assert_eq!(api["stringData"]["token"], "demo-api-token");
    assert!(api["sops"].is_null());
    // The Deployment's references follow the hashed names.
    let deploy = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let refs = &deploy["spec"]["template"]["spec"]["containers"][0]["envFrom"];
    assert_eq!(refs[0]["secretRef"]["name"], db_name);
    assert_eq!(refs[1]["secretRef"]["name"], api["metadata"]["name"]);
}

#[test]
fn legacy_plugin_failure_fails_the_build_with_nothing_on_stdout() {
    // A path that leaves the kustomization: refused before anything is read.
    let (_t, dir) = copy_example("examples/kustomize/legacy");
    std::fs::write(
        dir.join("secret-generator.yaml"),
        "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata:\n  name: db\nfiles:\n  - ../../outside.txt\n",
    )
    .unwrap();
    let out = kustomize(&dir, &[]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no partial output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SecretGenerator/db") && err.contains("outside.txt"),
        "{err}"
    );
    assert!(err.contains("relative paths inside"), "{err}");
}

#[test]
fn a_generator_that_would_produce_nothing_is_an_error_not_an_empty_secret_set() {
    // ksops#217: an empty result must never pass silently.
    let (_t, dir) = copy_example("examples/kustomize/legacy");
    std::fs::write(
        dir.join("ksops-generator.yaml"),
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: ksops-secrets\nfiles: []\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources: [deployment.yaml]\ngenerators: [ksops-generator.yaml]\n",
    )
    .unwrap();
    let out = kustomize(&dir, &[]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("generates no objects"), "{err}");
}

#[test]
fn a_wrong_key_fails_the_build_and_names_the_file_not_the_value() {
    let (_t, dir) = copy_example("examples/kustomize/legacy");
    let wrong = support::tempdir();
    let key = wrong.path().join("wrong.txt");
    support::age_key_file(&key);
    let out = kustomize(&dir, &[("SOPS_AGE_KEY_FILE", &key)]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("db.enc.env")
            || err.contains("tls.enc.yaml")
            || err.contains("api-token.enc.yaml"),
        "{err}"
    );
    assert!(!err.contains("demo-db-password") && !err.contains("demo-private-key"));
}

#[test]
fn kubectl_kustomize_silently_skips_krm_exec_functions() {
    // Why docs/kustomize.md says: the KRM form needs standalone `kustomize build
    // --enable-alpha-plugins --enable-exec`; kubectl has no --enable-exec and drops the
    // generator without a word. (If this ever changes, the docs must change.)
    let out = kustomize(&support::project_root().join("examples/kustomize/krm"), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(docs(&out).iter().all(|o| o["kind"] != "Secret"));
    let mut cmd = Command::new(support::kubectl());
    let out = cmd
        .args(["kustomize", "--enable-alpha-plugins", "--enable-exec"])
        .arg(support::project_root().join("examples/kustomize/krm"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flag: --enable-exec"));
}

/// What standalone kustomize (`--enable-alpha-plugins --enable-exec`) pipes into an exec KRM
/// generator (kustomize api `fnplugin`): the generator as `functionConfig`, marked local-config,
/// and the same object as the only item; cwd = the kustomization directory.
fn kustomize_resource_list(config: &str) -> String {
    let mut cfg: Value = serde_saphyr::from_str(config).unwrap();
    cfg["metadata"]["annotations"]["config.kubernetes.io/local-config"] = Value::from("true");
    let list = serde_json::json!({
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": [cfg.clone()],
        "functionConfig": cfg,
    });
    list.to_string()
}

#[test]
fn ksops_name_runs_an_unchanged_ksops_krm_configuration() {
    // ksops users switch by replacing the `ksops` binary: argv[0] = ksops, no arguments, a
    // ResourceList on stdin (kustomize's `exec: {path: ksops}`).
    let tmp = support::tempdir();
    let ksops = tmp.path().join("ksops");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sealbridge"), &ksops).unwrap();
    let dir = support::project_root().join("examples/kustomize/legacy");
    let config = std::fs::read_to_string(dir.join("ksops-generator.yaml")).unwrap();
    let mut cmd = Command::new(&ksops);
    support::clean_env(&mut cmd, tmp.path());
    cmd.current_dir(&dir).env(
        "SOPS_AGE_KEY_FILE",
        support::project_root().join("examples/kustomize/demo-age-key.txt"),
    );
    let out = support::output_with_stdin(cmd, Some(kustomize_resource_list(&config).as_bytes()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_saphyr::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(list["kind"], "ResourceList");
    let items = list["items"].as_array().unwrap();
    let secret = items.iter().find(|i| i["kind"] == "Secret").unwrap();
    assert_eq!(secret["metadata"]["name"], "api-token");
    assert_eq!(secret["stringData"]["token"], "demo-api-token");
    assert_eq!(
        secret["metadata"]["annotations"]["kustomize.config.k8s.io/needs-hash"],
        "true"
    );
}

#[test]
fn vault_transit_goes_only_to_the_configured_vault_address() {
    use std::io::Read as _;
    // A sops file whose data key is wrapped by a transit key in the real OpenBao.
    let bao = support::openbao();
    let transit = support::unique("transit-");
    bao.enable_secrets(&transit, "transit", serde_json::json!({}));
    bao.api("POST", &format!("/v1/{transit}/keys/sops"), None);
    let (_t, dir) = copy_example("examples/kustomize/legacy");
    std::fs::write(dir.join("plain.env"), "TOKEN=from-transit\n").unwrap();
    let enc = support::sops_ok(
        &dir,
        &[("VAULT_TOKEN", &bao.token)],
        &[
            "encrypt",
            "--hc-vault-transit",
            &format!("{}/v1/{transit}/keys/sops", bao.addr),
            "--input-type",
            "dotenv",
            "--output-type",
            "dotenv",
            "plain.env",
        ],
    );
    std::fs::remove_file(dir.join("plain.env")).unwrap();
    let genuine = String::from_utf8(enc).unwrap();
    std::fs::write(dir.join("transit.enc.env"), &genuine).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        "generators:\n  - transit-generator.yaml\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("transit-generator.yaml"),
        "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata:\n  name: t\n\
         envs:\n  - transit.enc.env\n",
    )
    .unwrap();
    let run = || {
        let tmp = support::tempdir();
        let home = plugin_home(tmp.path());
        let mut cmd = Command::new(support::kubectl());
        support::clean_env(&mut cmd, tmp.path());
        cmd.args(["kustomize", "--enable-alpha-plugins"])
            .arg(&dir)
            .env("KUSTOMIZE_PLUGIN_HOME", &home)
            .envs(bao.env());
        cmd.output().unwrap()
    };
    // The configured VAULT_ADDR: decrypted through the real transit key.
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objs = docs(&out);
    assert_eq!(b64(&objs[0]["data"]["TOKEN"]), "from-transit");

    // The same file naming another server (the repository's author's): refused before any
    // connection, so the sidecar's VAULT_TOKEN is never sent there.
    let evil = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    evil.set_nonblocking(true).unwrap();
    let evil_addr = format!("http://{}", evil.local_addr().unwrap());
    std::fs::write(
        dir.join("transit.enc.env"),
        genuine.replace(&bao.addr, &evil_addr),
    )
    .unwrap();
    let out = run();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not the configured Vault address"),
        "{stderr}"
    );
    assert!(!stderr.contains(&bao.token), "{stderr}");
    match evil.accept() {
        Ok((mut conn, _)) => {
            let mut seen = Vec::new();
            let _ = conn.read_to_end(&mut seen);
            panic!(
                "the foreign address was contacted: {}",
                String::from_utf8_lossy(&seen)
            );
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
    }
}

/// Bytes that are not UTF-8, as a sops binary file made by the real sops (demo key).
pub(crate) const BINARY: &[u8] = b"\xff\xfe\x00\x80not text\n";

pub(crate) fn sops_encrypt_binary(dst: &Path, key_file: &Path) {
    let recipient = support::age_recipient_of(key_file);
    let tmp = support::tempdir();
    std::fs::write(tmp.path().join("blob.raw"), BINARY).unwrap();
    let enc = support::sops_ok(
        tmp.path(),
        support::NO_ENV,
        &[
            "encrypt",
            "--age",
            &recipient,
            "--input-type",
            "binary",
            "--output-type",
            "json",
            "blob.raw",
        ],
    );
    std::fs::write(dst, enc).unwrap();
}

#[test]
fn ksops_files_that_decrypt_to_binary_fail_the_build_instead_of_vanishing() {
    let (_t, dir) = copy_example("examples/kustomize/legacy");
    let key = support::project_root().join("examples/kustomize/demo-age-key.txt");
    sops_encrypt_binary(&dir.join("blob.bin"), &key);
    // `files:` are manifests: binary content cannot be one (it used to become "" and the
    // Secret it should have been was silently missing from the build).
    std::fs::write(
        dir.join("ksops-generator.yaml"),
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: ksops-secrets\nfiles:\n- ./api-token.enc.yaml\n- ./blob.bin\n",
    )
    .unwrap();
    let out = kustomize(&dir, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("files: ./blob.bin decrypts to binary data"),
        "{err}"
    );
    // Where ksops takes binary content (secretFrom), it lands in `data`, byte for byte.
    std::fs::write(
        dir.join("ksops-generator.yaml"),
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: ksops-secrets\nsecretFrom:\n- metadata:\n    name: blobs\n  binaryFiles:\n  - blob=./blob.bin\n  files:\n  - raw=./blob.bin\n",
    )
    .unwrap();
    let out = kustomize(&dir, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = docs(&out);
    let s = all
        .iter()
        .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == "blobs")
        .expect("the blobs Secret");
    use base64::Engine as _;
    for k in ["blob", "raw"] {
        let got = base64::engine::general_purpose::STANDARD
            .decode(s["data"][k].as_str().unwrap())
            .unwrap();
        assert_eq!(got, BINARY, "data.{k}");
    }
}
