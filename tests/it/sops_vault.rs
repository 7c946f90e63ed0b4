//! sops `hc_vault` keys through the project's Vault client, against the real OpenBao and files
//! made by the real sops: AppRole auth (not only a token), and the address guard (a file
//! naming another Vault server never gets our credentials sent there; counted in that
//! server's audit log).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::{self, OpenBao, OpenBaoOptions, stderr};
use crate::vault_auth::approle;

/// A transit mount with key `k` on `bao`; returns the mount.
fn transit(bao: &OpenBao, mount: &str) {
    bao.enable_secrets(mount, "transit", json!({}));
    bao.api("POST", &format!("/v1/{mount}/keys/k"), Some(json!({})));
}

/// The real sops encrypts `s.json` in `dir` for `args` (keys), with the root token of `bao`.
fn sops_encrypt(bao: &OpenBao, dir: &Path, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["encrypt"];
    all.extend_from_slice(args);
    all.push("s.json");
    support::sops_ok(dir, &[("VAULT_TOKEN", &bao.token)], &all)
}

/// The data keys are in sorted order, so re-serialising the parsed file keeps the MAC valid.
const PLAIN: &str = "{\"password\": \"hunter2\", \"port\": 5432}";
const DECRYPTED: &[u8] = b"{\n\t\"password\": \"hunter2\",\n\t\"port\": 5432\n}\n";

#[test]
fn a_sops_made_hc_vault_file_decrypts_and_encrypts_with_approle_auth() {
    let bao = support::openbao();
    let mount = support::unique("transit-ar-");
    transit(bao, &mount);
    let policy = support::unique("transit-");
    bao.api(
        "PUT",
        &format!("/v1/sys/policies/acl/{policy}"),
        Some(json!({"policy": format!(
            "path \"{mount}/decrypt/k\" {{ capabilities = [\"update\"] }}\n\
             path \"{mount}/encrypt/k\" {{ capabilities = [\"update\"] }}"
        )})),
    );
    let (am, rid, sid) = approle(bao, &policy, json!({}));
    let dir = support::tempdir();
    std::fs::write(dir.path().join("s.json"), PLAIN).unwrap();
    let uri = format!("{}/v1/{mount}/keys/k", bao.addr);
    let enc = sops_encrypt(bao, dir.path(), &["--hc-vault-transit", &uri]);
    std::fs::write(dir.path().join("s.enc.json"), &enc).unwrap();

    let home = support::tempdir();
    let approle_env = |c: &mut Command| {
        c.current_dir(dir.path())
            .env("VAULT_ADDR", &bao.addr)
            .env("SEALBRIDGE_VAULT_AUTH", "approle")
            .env("SEALBRIDGE_VAULT_AUTH_MOUNT", &am)
            .env("SEALBRIDGE_VAULT_ROLE_ID", &rid)
            .env("SEALBRIDGE_VAULT_SECRET_ID", &sid);
    };
    let logins = || bao.count_requests(&format!("auth/{am}/login"));
    let decrypts = || bao.count_requests(&format!("{mount}/decrypt/k"));
    let (l0, d0) = (logins(), decrypts());
    let mut c = support::sealbridge(home.path());
    approle_env(&mut c);
    let o = c
        .args(["--disable-token-cache", "decrypt", "s.enc.json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, DECRYPTED);
    assert_eq!(logins() - l0, 1, "one AppRole login");
    assert_eq!(decrypts() - d0, 1, "one transit decrypt");

    // exec-env with the same credentials: the child sees the value.
    let mut c = support::sealbridge(home.path());
    approle_env(&mut c);
    let o = c
        .args(["exec-env", "s.enc.json", "--", "printf %s \"$password\""])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, b"hunter2");

    // We encrypt for the transit key with AppRole; the real sops decrypts it (root token).
    let mut c = support::sealbridge(home.path());
    approle_env(&mut c);
    let o = c
        .args(["encrypt", "--hc-vault-transit", &uri, "s.json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(dir.path().join("ours.enc.json"), &o.stdout).unwrap();
    let mut c = support::sops_cmd(home.path());
    let s = c
        .current_dir(dir.path())
        .args(["decrypt", "ours.enc.json"])
        .env("VAULT_TOKEN", &bao.token)
        .output()
        .unwrap();
    assert!(s.status.success(), "sops decrypt: {}", stderr(&s));
    assert_eq!(s.stdout, DECRYPTED);

    // Without a configured Vault the key fails with a message saying what to set.
    let mut c = support::sealbridge(home.path());
    let o = c
        .current_dir(dir.path())
        .args(["decrypt", "s.enc.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains(&format!("hc_vault {uri}")) && stderr(&o).contains("VAULT_ADDR"),
        "{}",
        stderr(&o)
    );
}

/// `enc` (a sops JSON file) with its `hc_vault` entries replaced by `entries`.
fn with_vault_entries(enc: &[u8], entries: Vec<Value>) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(enc).unwrap();
    v["sops"]["hc_vault"] = Value::Array(entries);
    serde_json::to_vec_pretty(&v).unwrap()
}

#[test]
fn a_file_naming_another_vault_server_never_gets_our_credentials() {
    let bao = support::openbao();
    // A second, real server: it would accept the request, and its audit log counts it.
    let foreign = OpenBao::start(OpenBaoOptions::default());
    let mount = support::unique("transit-guard-");
    transit(bao, &mount);
    transit(&foreign, &mount);
    let (identity, recipient) = support::age_keypair();
    let dir = support::tempdir();
    std::fs::write(dir.path().join("s.json"), PLAIN).unwrap();
    std::fs::write(dir.path().join("age.txt"), identity).unwrap();
    let uri = format!("{}/v1/{mount}/keys/k", bao.addr);
    let enc = sops_encrypt(
        bao,
        dir.path(),
        &["--hc-vault-transit", &uri, "--age", &recipient],
    );
    let parsed: Value = serde_json::from_slice(&enc).unwrap();
    let ours = parsed["sops"]["hc_vault"][0].clone();
    let mut theirs = ours.clone();
    theirs["vault_address"] = json!(foreign.addr);
    let foreign_uri = format!("{}/v1/{mount}/keys/k", foreign.addr);

    // Only the foreign entry (+ an age key we do not hold): refused, the entry is named.
    let mut only_foreign: Value = serde_json::from_slice(&enc).unwrap();
    only_foreign["sops"]["hc_vault"] = json!([theirs.clone()]);
    std::fs::write(
        dir.path().join("foreign.enc.json"),
        serde_json::to_vec_pretty(&only_foreign).unwrap(),
    )
    .unwrap();
    // The foreign entry first, then one for the configured server.
    std::fs::write(
        dir.path().join("both.enc.json"),
        with_vault_entries(&enc, vec![theirs.clone(), ours.clone()]),
    )
    .unwrap();
    // The foreign entry and the age key, whose identity we hold.
    std::fs::write(
        dir.path().join("age.enc.json"),
        with_vault_entries(&enc, vec![theirs]),
    )
    .unwrap();

    let foreign_before = foreign.audit_requests().len();
    let run = |args: &[&str], age: bool, input: Option<&str>| -> Output {
        let home = support::tempdir();
        let mut c = support::sealbridge(home.path());
        c.current_dir(dir.path())
            .args(args)
            .env("VAULT_ADDR", &bao.addr)
            .env("VAULT_TOKEN", &bao.token);
        if age {
            c.env("SOPS_AGE_KEY_FILE", dir.path().join("age.txt"));
        }
        support::output_with_stdin(c, input.map(str::as_bytes))
    };

    let o = run(&["decrypt", "foreign.enc.json"], false, None);
    assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(
        err.contains(&format!("hc_vault {foreign_uri}")) && err.contains("not the configured"),
        "{err}"
    );
    assert!(!err.contains(&bao.token), "{err}");

    let decrypts = || bao.count_requests(&format!("{mount}/decrypt/k"));
    let d0 = decrypts();
    let o = run(&["decrypt", "both.enc.json"], false, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, DECRYPTED);
    assert_eq!(decrypts() - d0, 1, "the configured server's key was used");
    assert!(
        stderr(&o).contains(&format!("hc_vault {foreign_uri}")),
        "the skipped entry is named: {}",
        stderr(&o)
    );

    let o = run(&["decrypt", "age.enc.json"], true, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, DECRYPTED);

    // The render engine's sops backend follows the same rule.
    let o = run(
        &["render", "-"],
        false,
        Some("kind: X\nspec:\n  a: <path:sops://both.enc.json#password>\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("a: hunter2"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run(
        &["render", "-"],
        false,
        Some("kind: X\nspec:\n  a: <path:sops://foreign.enc.json#password>\n"),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not the configured"), "{}", stderr(&o));

    // Rotating onto the foreign key is refused too (wrapping would send the data key there).
    let o = run(
        &[
            "rotate",
            "--add-hc-vault-transit",
            &foreign_uri,
            "age.enc.json",
        ],
        true,
        None,
    );
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());

    assert_eq!(
        foreign.audit_requests().len(),
        foreign_before,
        "the foreign server was never contacted"
    );
}

#[test]
fn an_hc_vault_entry_naming_a_non_transit_mount_is_refused_before_any_write() {
    let bao = support::openbao();
    let mount = support::unique("transit-mc-");
    transit(bao, &mount);
    // Someone else's KV v1 mount on the same (trusted) server: `PUT kv/decrypt/k` would store
    // the request body there as a secret.
    let kv = bao.new_kv1();
    let dir = support::tempdir();
    std::fs::write(dir.path().join("s.json"), PLAIN).unwrap();
    let uri = format!("{}/v1/{mount}/keys/k", bao.addr);
    let enc = sops_encrypt(bao, dir.path(), &["--hc-vault-transit", &uri]);
    let parsed: Value = serde_json::from_slice(&enc).unwrap();
    let ours = parsed["sops"]["hc_vault"][0].clone();
    let mut evil = ours.clone();
    evil["engine_path"] = json!(kv);
    let evil_uri = format!("{}/v1/{kv}/keys/k", bao.addr);
    // Inside the transit mount but not the mount itself.
    let mut nested = ours.clone();
    nested["engine_path"] = json!(format!("{mount}/keys"));
    std::fs::write(
        dir.path().join("kv.enc.json"),
        with_vault_entries(&enc, vec![evil.clone()]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kv-then-transit.enc.json"),
        with_vault_entries(&enc, vec![evil, nested, ours]),
    )
    .unwrap();

    let run = |args: &[&str]| -> Output {
        let home = support::tempdir();
        let mut c = support::sealbridge(home.path());
        c.current_dir(dir.path())
            .args(args)
            .env("VAULT_ADDR", &bao.addr)
            .env("VAULT_TOKEN", &bao.token)
            .output()
            .unwrap()
    };
    let decrypts = || bao.count_requests(&format!("{mount}/decrypt/k"));
    let d0 = decrypts();

    let o = run(&["decrypt", "kv.enc.json"]);
    assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(
        err.contains(&format!("hc_vault {evil_uri}"))
            && err.contains("not a transit secrets engine")
            && err.contains("refusing"),
        "the entry is named: {err}"
    );

    // The other entries of the file are still tried: the real transit mount decrypts.
    let o = run(&["decrypt", "kv-then-transit.enc.json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, DECRYPTED);
    assert_eq!(decrypts() - d0, 1, "the transit mount was used once");
    let err = stderr(&o);
    assert!(
        err.contains(&format!("hc_vault {evil_uri}")) && err.contains("not a transit"),
        "the refused entry is named even when another key decrypts: {err}"
    );

    // Encrypting for a "transit key" on the KV mount is refused too (it would write the data
    // key's plaintext there).
    let o = run(&["encrypt", "--hc-vault-transit", &evil_uri, "s.json"]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains("not a transit secrets engine"),
        "{}",
        stderr(&o)
    );

    // Nothing ever reached the KV mount (the lookup is `sys/internal/ui/mounts/…`), and it
    // holds no secret at the paths a transit call would have written.
    assert_eq!(
        bao.count_requests(&format!("{kv}/")),
        0,
        "no request to the KV mount"
    );
    for p in ["decrypt/k", "encrypt/k"] {
        let (status, _) = bao
            .try_request("GET", &format!("/v1/{kv}/{p}"), None)
            .unwrap();
        assert_eq!(status, 404, "{kv}/{p} does not exist");
    }
    assert_eq!(
        bao.count_requests(&format!("{mount}/keys/decrypt")),
        0,
        "the nested engine_path was never used"
    );
}

#[test]
fn decryption_order_decides_which_key_is_asked_first() {
    // A file for an age recipient and a transit key: sops tries age first, so Vault is never
    // asked; `--decryption-order hc_vault,age` (or SOPS_DECRYPTION_ORDER) asks Vault first.
    let bao = support::openbao();
    let mount = support::unique("transit-order");
    transit(bao, &mount);
    let dir = support::tempdir();
    std::fs::write(dir.path().join("s.json"), PLAIN).unwrap();
    let key_file = dir.path().join("age.txt");
    let recipient = support::age_key_file(&key_file);
    let uri = format!("{}/v1/{mount}/keys/k", bao.addr);
    let enc = sops_encrypt(
        bao,
        dir.path(),
        &["--age", &recipient, "--hc-vault-transit", &uri],
    );
    std::fs::write(dir.path().join("s.enc.json"), enc).unwrap();
    let decrypt = |args: &[&str], env: &[(&str, &str)]| {
        let home = support::tempdir();
        let mut c = support::sealbridge(home.path());
        c.current_dir(dir.path())
            .arg("decrypt")
            .args(args)
            .arg("s.enc.json")
            .env("SOPS_AGE_KEY_FILE", &key_file)
            .env("VAULT_ADDR", &bao.addr)
            .env("VAULT_TOKEN", &bao.token);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(o.stdout, DECRYPTED);
    };
    let asked = || bao.count_requests(&format!("{mount}/decrypt"));
    let before = asked();
    decrypt(&[], &[]);
    assert_eq!(asked(), before, "age first: Vault is not asked");
    decrypt(&["--decryption-order", "hc_vault,age"], &[]);
    assert_eq!(asked(), before + 1, "hc_vault first");
    decrypt(&[], &[("SOPS_DECRYPTION_ORDER", "hc_vault")]);
    assert_eq!(asked(), before + 2, "from the environment");
    // An unknown type is a usage error, before any key is tried.
    let home = support::tempdir();
    let o = support::sealbridge(home.path())
        .current_dir(dir.path())
        .args(["decrypt", "--decryption-order", "age,rot13", "s.enc.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("rot13"));
}
