//! The login-token cache against the real OpenBao: two runs ⇒ one login (counted in the audit
//! log), 0600 files in a 0700 directory, one entry per identity, renewal of short-lived
//! renewable tokens, re-login after revocation (mid-run and between runs), and no re-login on
//! a real "permission denied".

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use sealbridge::backend::vault::{
    AuthConfig, SecretSource, VaultClient, VaultConfig, VaultErrorKind,
};
use sealbridge::secret::Sensitive;

use crate::support::{self, OpenBao};
use crate::vault_auth::{approle, kv_with_policy, reads_alice};

fn approle_cfg(bao: &OpenBao, am: &str, rid: &str, sid: &str, cache_dir: &Path) -> VaultConfig {
    let mut cfg = VaultConfig::new(
        &bao.addr,
        AuthConfig::AppRole {
            mount: am.to_owned(),
            role_id: rid.to_owned(),
            secret_id: SecretSource::Value(Sensitive::from_str_copy(sid)),
        },
    );
    cfg.token_cache.dir = Some(cache_dir.to_owned());
    cfg
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn cached_token(dir: &Path) -> String {
    let files = entries(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn two_runs_one_login_with_private_files() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (am, rid, sid) = approle(bao, &policy, json!({}));
    let home = support::tempdir();
    let dir = home.path().join("cache").join("sealbridge");
    let cfg = approle_cfg(bao, &am, &rid, &sid, &dir);

    reads_alice(&cfg, &kv).await; // run 1: logs in, stores the token
    reads_alice(&cfg, &kv).await; // run 2: reuses it
    assert_eq!(
        bao.count_requests(&format!("auth/{am}/login")),
        1,
        "two runs, one login"
    );
    assert_eq!(bao.count_requests(&format!("{kv}/data/app")), 3); // the write + 2 reads

    assert_eq!(mode(&dir), 0o700);
    let files = entries(&dir);
    assert_eq!(files.len(), 1);
    assert_eq!(mode(&files[0]), 0o600);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(!name.contains(&rid) && !name.contains(&am), "{name}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(!text.contains(&sid), "the secret id is never cached");
}

#[tokio::test]
async fn each_identity_has_its_own_entry() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (am1, rid1, sid1) = approle(bao, &policy, json!({}));
    let (am2, rid2, sid2) = approle(bao, &policy, json!({}));
    let home = support::tempdir();
    let dir = home.path().join("c");
    let a = approle_cfg(bao, &am1, &rid1, &sid1, &dir);
    let b = approle_cfg(bao, &am2, &rid2, &sid2, &dir);
    reads_alice(&a, &kv).await;
    reads_alice(&b, &kv).await;
    reads_alice(&a, &kv).await;
    reads_alice(&b, &kv).await;
    assert_eq!(bao.count_requests(&format!("auth/{am1}/login")), 1);
    assert_eq!(bao.count_requests(&format!("auth/{am2}/login")), 1);
    assert_eq!(entries(&dir).len(), 2);
    // Another address (same server, other name) is another identity: a fresh login, never
    // the other entry's token.
    let mut c = a.clone();
    c.address = format!("{}/", bao.addr.replace("127.0.0.1", "localhost"));
    reads_alice(&c, &kv).await;
    assert_eq!(bao.count_requests(&format!("auth/{am1}/login")), 2);
    assert_eq!(entries(&dir).len(), 3);
}

#[tokio::test]
async fn short_lived_renewable_tokens_are_renewed_not_relogged() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (am, rid, sid) = approle(
        bao,
        &policy,
        json!({"token_ttl": "100s", "token_max_ttl": "1h"}),
    );
    let home = support::tempdir();
    let dir = home.path().join("c");
    let cfg = approle_cfg(bao, &am, &rid, &sid, &dir); // deadline 45 s: needs 90 s left
    reads_alice(&cfg, &kv).await;
    let first = cached_token(&dir);
    // A run with a 60 s deadline needs 120 s of life left: the 100 s token is renewed.
    let mut longer = cfg.clone();
    longer.run_deadline = Duration::from_secs(60);
    reads_alice(&longer, &kv).await;
    assert_eq!(bao.count_requests(&format!("auth/{am}/login")), 1);
    // Renewals by this test's token (other tests' clients and proxies renew theirs).
    let renewals = bao
        .audit_requests()
        .into_iter()
        .filter(|r| {
            r["request"]["path"] == "auth/token/renew-self"
                && r["auth"]["policies"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p == policy.as_str()))
        })
        .count();
    assert_eq!(renewals, 1);
    assert_eq!(cached_token(&dir), first, "renewal keeps the token");
}

#[tokio::test]
async fn revoked_token_mid_run_logs_in_again_once() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (am, rid, sid) = approle(bao, &policy, json!({}));
    let home = support::tempdir();
    let dir = home.path().join("c");
    let cfg = approle_cfg(bao, &am, &rid, &sid, &dir);
    sealbridge::cli::install_crypto_provider();
    let client = VaultClient::connect(&cfg).unwrap();
    client.read(&format!("{kv}/app"), None).await.unwrap();
    let token = cached_token(&dir);
    bao.api(
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({"token": token})),
    );

    // Same run, next read: 403 → lookup-self says the token is dead → one new login.
    client.read(&format!("{kv}/app"), None).await.unwrap();
    assert_eq!(bao.count_requests(&format!("auth/{am}/login")), 2);
    let renewed = cached_token(&dir);
    assert_ne!(renewed, token, "the cache holds the new token");

    // Revoked between runs: the next run finds the dead token in the cache and recovers too.
    bao.api(
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({"token": renewed})),
    );
    reads_alice(&cfg, &kv).await;
    assert_eq!(bao.count_requests(&format!("auth/{am}/login")), 3);
}

#[tokio::test]
async fn real_permission_denied_does_not_log_in_again() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let other = bao.new_kv2();
    bao.kv2_put(&other, "x", json!({"k": "v"}));
    let (am, rid, sid) = approle(bao, &policy, json!({}));
    let home = support::tempdir();
    let cfg = approle_cfg(bao, &am, &rid, &sid, &home.path().join("c"));
    sealbridge::cli::install_crypto_provider();
    let client = VaultClient::connect(&cfg).unwrap();
    client.read(&format!("{kv}/app"), None).await.unwrap();
    let e = client
        .read(&format!("{other}/data/x"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::PermissionDenied, "{e}");
    assert_eq!(bao.count_requests(&format!("auth/{am}/login")), 1);
}

#[tokio::test]
async fn loose_permissions_are_not_trusted_and_cache_can_be_disabled() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (am, rid, sid) = approle(bao, &policy, json!({}));
    let home = support::tempdir();
    let dir = home.path().join("c");
    let cfg = approle_cfg(bao, &am, &rid, &sid, &dir);
    reads_alice(&cfg, &kv).await;
    let f = entries(&dir).remove(0);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    reads_alice(&cfg, &kv).await; // a world-readable entry is ignored (and replaced)
    assert_eq!(bao.count_requests(&format!("auth/{am}/login")), 2);
    assert_eq!(mode(&entries(&dir)[0]), 0o600);

    let mut off = cfg.clone();
    off.token_cache.enabled = false;
    off.token_cache.dir = Some(home.path().join("off"));
    reads_alice(&off, &kv).await;
    reads_alice(&off, &kv).await;
    assert_eq!(bao.count_requests(&format!("auth/{am}/login")), 4);
    assert!(!home.path().join("off").exists());
}

/// Tokens limited to a few uses (AVP #490: "403 after ~10 Secrets"): every time the token is
/// used up, the client logs in again and the run goes on.
#[tokio::test]
async fn tokens_with_few_uses_are_replaced_as_they_run_out() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    for i in 0..8 {
        bao.kv2_put(&kv, &format!("s{i}"), json!({"n": i}));
    }
    let (am, rid, sid) = approle(bao, &policy, json!({"token_num_uses": 3}));
    let home = support::tempdir();
    let cfg = approle_cfg(bao, &am, &rid, &sid, &home.path().join("c"));
    sealbridge::cli::install_crypto_provider();
    let client = VaultClient::connect(&cfg).unwrap();
    for i in 0..8 {
        client.read(&format!("{kv}/s{i}"), None).await.unwrap();
    }
    let logins = bao.count_requests(&format!("auth/{am}/login"));
    assert!(
        (3..=9).contains(&logins),
        "{logins} logins for 9 requests with 3 uses each"
    );
}

#[tokio::test]
async fn vault_token_cache_owned_by_another_user_is_not_trusted() {
    // Another local user who can write into the cache directory's parent could plant an
    // entry (a token of their choosing, e.g. one whose reads they audit): never use it.
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (am, rid, sid) = approle(bao, &policy, json!({}));
    let home = support::tempdir();
    let dir = home.path().join("cache");
    let cfg = approle_cfg(bao, &am, &rid, &sid, &dir);
    reads_alice(&cfg, &kv).await; // logs in and writes the entry
    assert_eq!(bao.count_requests(&format!("auth/{am}/login")), 1);
    let file = entries(&dir).remove(0);
    // Replace our token by the root token, in a 0600 file owned by another user.
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["token"] = json!(bao.token);
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    std::os::unix::fs::chown(&file, Some(4242), Some(4242)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    reads_alice(&cfg, &kv).await;
    assert_eq!(
        bao.count_requests(&format!("auth/{am}/login")),
        2,
        "the planted entry must be ignored and a fresh login made"
    );
    use std::os::unix::fs::MetadataExt;
    let file = entries(&dir).remove(0);
    assert_ne!(
        std::fs::metadata(&file).unwrap().uid(),
        4242,
        "replaced by our own entry"
    );
    assert_ne!(cached_token(&dir), bao.token, "the planted token is gone");
}
