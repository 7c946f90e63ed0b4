//! One smoke test per real component: proves the services the suite uses are real and working.

use std::process::Command;

use serde_json::json;

use crate::support;

#[test]
fn openbao_is_real_kv2_write_then_read() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    let version = bao.kv2_put(&mount, "smoke", json!({"password": "s3cr3t", "n": 1}));
    assert_eq!(version, 1);
    let read = bao.api("GET", &format!("/v1/{mount}/data/smoke"), None);
    assert_eq!(read["data"]["data"]["password"], "s3cr3t");
    assert_eq!(read["data"]["metadata"]["version"], 1);
    // The audit device really records requests: the read above is in it.
    let reads = bao.count_requests(&format!("{mount}/data/smoke"));
    assert!(
        reads >= 2,
        "expected the write and the read in the audit log, saw {reads}"
    );
    // And the server says it is OpenBao.
    let out = Command::new(support::bao())
        .arg("version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("OpenBao v2."));
}

#[test]
fn sops_is_real_encrypts_with_an_age_key_from_age_keygen() {
    let dir = support::tempdir();
    let key_file = dir.path().join("keys.txt");
    let recipient = support::age_key_file(&key_file);
    let plain = dir.path().join("secret.yaml");
    std::fs::write(&plain, "password: hunter2\n").unwrap();

    let enc = Command::new(support::sops())
        .args(["encrypt", "--age", &recipient])
        .arg(&plain)
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .output()
        .unwrap();
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let text = String::from_utf8(enc.stdout).unwrap();
    assert!(text.contains("password: ENC[AES256_GCM,data:"));
    assert!(!text.contains("hunter2"));
    assert!(text.contains(&recipient));

    let enc_path = dir.path().join("secret.enc.yaml");
    std::fs::write(&enc_path, &text).unwrap();
    let dec = Command::new(support::sops())
        .args(["decrypt"])
        .arg(&enc_path)
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env("SOPS_AGE_KEY_FILE", &key_file)
        .output()
        .unwrap();
    assert!(
        dec.status.success(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    assert_eq!(dec.stdout, b"password: hunter2\n");
}

#[test]
fn age_is_real_round_trip() {
    let dir = support::tempdir();
    let key_file = dir.path().join("key.txt");
    let recipient = support::age_key_file(&key_file);
    let enc = dir.path().join("msg.age");
    let mut child = Command::new(support::age())
        .args(["-r", &recipient, "-o"])
        .arg(&enc)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello").unwrap();
    assert!(child.wait().unwrap().success());
    let out = Command::new(support::age())
        .arg("-d")
        .arg("-i")
        .arg(&key_file)
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"hello");
}

#[test]
fn a_missing_tool_is_a_failure_that_says_run_scripts_setup() {
    let result = std::panic::catch_unwind(|| support::tool("no-such-tool-sealbridge"));
    let err = result.expect_err("a missing tool must fail, not skip");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("run scripts/setup"), "{msg}");
}
