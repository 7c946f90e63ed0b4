//! Every Vault auth method against the real OpenBao: enable the method at a custom mount,
//! create the role/user, log in through `VaultClient`, read a secret with the token.

use std::path::Path;

use serde_json::{Value, json};

use sealbridge::backend::vault::{
    AuthConfig, SecretSource, VaultClient, VaultConfig, VaultErrorKind,
};
use sealbridge::secret::{SecretValue, Sensitive};
use sealbridge::settings::{Flags, Settings};

use crate::support::{self, OpenBao};
use crate::vault::s;

/// A KV v2 mount with `app` = {user: alice}, and a policy that may read it. Returns
/// (mount, policy).
pub(crate) fn kv_with_policy(bao: &OpenBao) -> (String, String) {
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "app", json!({"user": "alice"}));
    let policy = support::unique("read-");
    bao.api(
        "PUT",
        &format!("/v1/sys/policies/acl/{policy}"),
        Some(json!({"policy": format!("path \"{mount}/*\" {{ capabilities = [\"read\"] }}")})),
    );
    (mount, policy)
}

pub(crate) fn enable_auth(bao: &OpenBao, kind: &str) -> String {
    let mount = support::unique(&format!("{kind}-"));
    bao.api(
        "POST",
        &format!("/v1/sys/auth/{mount}"),
        Some(json!({"type": kind})),
    );
    mount
}

pub(crate) fn no_cache(mut cfg: VaultConfig) -> VaultConfig {
    cfg.token_cache.enabled = false;
    cfg
}

pub(crate) async fn reads_alice(cfg: &VaultConfig, mount: &str) {
    sealbridge::cli::install_crypto_provider();
    let c = VaultClient::connect(cfg).unwrap();
    let v = c.read(&format!("{mount}/app"), None).await.unwrap();
    match v {
        SecretValue::Map(m) => assert_eq!(m["user"], s("alice")),
        other => panic!("{}", other.type_name()),
    }
}

/// An AppRole at a fresh mount with a role `r1`; returns (auth mount, role id, secret id).
pub(crate) fn approle(bao: &OpenBao, policy: &str, role_extra: Value) -> (String, String, String) {
    let am = enable_auth(bao, "approle");
    let mut role = json!({"token_policies": [policy], "token_ttl": "1h"});
    if let (Some(r), Some(extra)) = (role.as_object_mut(), role_extra.as_object()) {
        r.extend(extra.clone());
    }
    bao.api("POST", &format!("/v1/auth/{am}/role/r1"), Some(role));
    let rid = bao.api("GET", &format!("/v1/auth/{am}/role/r1/role-id"), None)["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sid =
        bao.api("POST", &format!("/v1/auth/{am}/role/r1/secret-id"), None)["data"]["secret_id"]
            .as_str()
            .unwrap()
            .to_owned();
    (am, rid, sid)
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An Ed25519 key for signing test JWTs: (key pair, public key PEM).
pub(crate) fn jwt_signer() -> (ring::signature::Ed25519KeyPair, String) {
    use base64::Engine as _;
    use ring::signature::KeyPair as _;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let kp = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    // SubjectPublicKeyInfo for Ed25519: a fixed 12-byte prefix and the 32-byte key.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(kp.public_key().as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&spki)
    );
    (kp, pem)
}

pub(crate) fn sign_jwt(kp: &ring::signature::Ed25519KeyPair, claims: &Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = claims.clone();
    claims["iat"] = json!(now);
    claims["nbf"] = json!(now - 5);
    claims["exp"] = json!(now + 600);
    let signing_input = format!(
        "{}.{}",
        b64url(br#"{"alg":"EdDSA","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    );
    let sig = kp.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(sig.as_ref()))
}

/// A `jwt` auth method at a fresh mount trusting `pem`, with role `role` bound to audience
/// `sealbridge` and `sub` = `subject`.
pub(crate) fn jwt_method(
    bao: &OpenBao,
    pem: &str,
    role: &str,
    subject: &str,
    policy: &str,
) -> String {
    let m = enable_auth(bao, "jwt");
    bao.api(
        "POST",
        &format!("/v1/auth/{m}/config"),
        Some(json!({"jwt_validation_pubkeys": [pem], "jwt_supported_algs": ["EdDSA"]})),
    );
    bao.api(
        "POST",
        &format!("/v1/auth/{m}/role/{role}"),
        Some(json!({
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": ["sealbridge"],
            "bound_subject": subject,
            "token_policies": [policy],
        })),
    );
    m
}

fn secret(v: &str) -> SecretSource {
    SecretSource::Value(Sensitive::from_str_copy(v))
}

#[tokio::test]
async fn approle_with_secret_id_value_and_file() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (am, rid, sid) = approle(bao, &policy, json!({}));
    let cfg = no_cache(VaultConfig::new(
        &bao.addr,
        AuthConfig::AppRole {
            mount: am.clone(),
            role_id: rid.clone(),
            secret_id: secret(&sid),
        },
    ));
    reads_alice(&cfg, &kv).await;

    let dir = support::tempdir();
    let f = dir.path().join("secret-id");
    std::fs::write(&f, format!("{sid}\n")).unwrap();
    let cfg = no_cache(VaultConfig::new(
        &bao.addr,
        AuthConfig::AppRole {
            mount: format!("auth/{am}"), // AVP's AVP_MOUNT_PATH form
            role_id: rid.clone(),
            secret_id: SecretSource::File(f),
        },
    ));
    reads_alice(&cfg, &kv).await;
    assert_eq!(bao.count_requests(&format!("auth/{am}/login")), 2);

    // A wrong secret id: a login error naming the mount, never the secret id.
    let cfg = no_cache(VaultConfig::new(
        &bao.addr,
        AuthConfig::AppRole {
            mount: am.clone(),
            role_id: rid,
            secret_id: secret("00000000-not-the-secret-id"),
        },
    ));
    let e = VaultClient::connect(&cfg)
        .unwrap()
        .read(&format!("{kv}/app"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Auth, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("auth/{am}/login")), "{msg}");
    assert!(!msg.contains("not-the-secret-id"), "{msg}");
}

#[tokio::test]
async fn approle_from_avp_environment_names() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (am, rid, sid) = approle(bao, &policy, json!({}));
    let env = [
        ("VAULT_ADDR", bao.addr.as_str()),
        ("AVP_TYPE", "vault"),
        ("AVP_AUTH_TYPE", "approle"),
        ("AVP_ROLE_ID", rid.as_str()),
        ("AVP_SECRET_ID", sid.as_str()),
        ("AVP_MOUNT_PATH", &format!("auth/{am}")),
        ("SEALBRIDGE_VAULT_TOKEN_CACHE", "false"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let settings = Settings::load_from(&Flags::default(), env).unwrap();
    let cfg = settings.vault_config().unwrap();
    assert!(!cfg.token_cache.enabled);
    reads_alice(&cfg, &kv).await;
    assert_eq!(bao.count_requests(&format!("auth/{am}/login")), 1);
}

#[tokio::test]
async fn userpass_login_at_a_custom_mount() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let um = enable_auth(bao, "userpass");
    bao.api(
        "POST",
        &format!("/v1/auth/{um}/users/bob"),
        Some(json!({"password": "pa\"ss wörd", "token_policies": [policy]})),
    );
    let cfg = no_cache(VaultConfig::new(
        &bao.addr,
        AuthConfig::Userpass {
            mount: um.clone(),
            username: "bob".into(),
            password: secret("pa\"ss wörd"),
        },
    ));
    reads_alice(&cfg, &kv).await;
    let bad = no_cache(VaultConfig::new(
        &bao.addr,
        AuthConfig::Userpass {
            mount: um.clone(),
            username: "bob".into(),
            password: secret("wrong-password-xyz"),
        },
    ));
    let e = VaultClient::connect(&bad)
        .unwrap()
        .read(&format!("{kv}/app"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains("wrong-password-xyz"), "{e}");
}

#[tokio::test]
async fn jwt_login_with_a_signed_workload_token_from_a_file() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (kp, pem) = jwt_signer();
    let jm = jwt_method(bao, &pem, "ci", "repo:org/app:ref:refs/heads/main", &policy);
    let jwt = sign_jwt(
        &kp,
        &json!({"iss": "https://token.actions.example", "sub": "repo:org/app:ref:refs/heads/main", "aud": "sealbridge"}),
    );
    let dir = support::tempdir();
    let f = dir.path().join("id-token");
    std::fs::write(&f, &jwt).unwrap();
    let cfg = no_cache(VaultConfig::new(
        &bao.addr,
        AuthConfig::Jwt {
            mount: jm.clone(),
            role: Some("ci".into()),
            jwt: SecretSource::File(f.clone()),
        },
    ));
    reads_alice(&cfg, &kv).await;
    assert_eq!(bao.count_requests(&format!("auth/{jm}/login")), 1);

    // A token for another subject is refused by the role's binding.
    let other = sign_jwt(&kp, &json!({"sub": "repo:evil/app", "aud": "sealbridge"}));
    std::fs::write(&f, &other).unwrap();
    let e = VaultClient::connect(&cfg)
        .unwrap()
        .read(&format!("{kv}/app"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains(&other), "{e}");
}

/// OpenBao's `kubernetes` method validates the service-account token with a TokenReview call
/// to a Kubernetes API server, which this machine does not have. The login request of the
/// `kubernetes` method (`POST auth/<mount>/login {"role", "jwt"}`) has exactly the shape of the
/// `jwt` method's, so this test mounts the real server's `jwt` method at a custom path, signs a
/// token with the claims a projected service-account token carries, puts it in a file as the
/// kubelet would, and logs in with `AuthConfig::Kubernetes` (built from AVP's variable names).
#[tokio::test]
async fn kubernetes_login_request_shape_via_the_jwt_method() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (kp, pem) = jwt_signer();
    let sub = "system:serviceaccount:argocd:argocd-repo-server";
    let km = jwt_method(bao, &pem, "argocd", sub, &policy);
    let jwt = sign_jwt(
        &kp,
        &json!({"iss": "https://kubernetes.default.svc.cluster.local", "sub": sub, "aud": "sealbridge",
                "kubernetes.io": {"namespace": "argocd", "serviceaccount": {"name": "argocd-repo-server"}}}),
    );
    let dir = support::tempdir();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, &jwt).unwrap();
    let env = [
        ("VAULT_ADDR", bao.addr.clone()),
        ("AVP_AUTH_TYPE", "k8s".to_owned()),
        ("AVP_K8S_ROLE", "argocd".to_owned()),
        ("AVP_K8S_MOUNT_PATH", format!("auth/{km}")),
        ("AVP_K8S_TOKEN_PATH", token_path.display().to_string()),
        ("SEALBRIDGE_VAULT_TOKEN_CACHE", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let cfg = Settings::load_from(&Flags::default(), env)
        .unwrap()
        .vault_config()
        .unwrap();
    assert!(matches!(cfg.auth, AuthConfig::Kubernetes { .. }));
    reads_alice(&cfg, &kv).await;
    assert_eq!(bao.count_requests(&format!("auth/{km}/login")), 1);
}

#[tokio::test]
async fn unreadable_credential_files_are_config_errors() {
    let bao = support::openbao();
    sealbridge::cli::install_crypto_provider();
    let cfg = no_cache(VaultConfig::new(
        &bao.addr,
        AuthConfig::Kubernetes {
            mount: "kubernetes".into(),
            role: "r".into(),
            jwt: SecretSource::File(Path::new("/nonexistent/sa/token").into()),
        },
    ));
    let e = VaultClient::connect(&cfg)
        .unwrap()
        .read("secret/x", None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Config, "{e}");
    assert!(e.to_string().contains("/nonexistent/sa/token"), "{e}");
}

/// OpenBao 2.x no longer ships the `github` auth method (enabling it answers "plugin not found
/// in the catalog: github"), so no real server can validate a GitHub login here. The test puts
/// the fault proxy in front of the real OpenBao: it checks the exact login request sealbridge
/// sends for `AVP_AUTH_TYPE=github` (`POST /v1/auth/<mount>/login {"token": …}`) and answers
/// it the way Vault's github method does, with a real token minted by the real OpenBao; every
/// other request (the secret read) goes to the real server.
#[tokio::test]
async fn github_login_request_and_token_use() {
    let bao = support::openbao();
    let (status, body) = bao
        .try_request(
            "POST",
            &format!("/v1/sys/auth/{}", support::unique("gh-")),
            Some(&json!({"type": "github"})),
        )
        .unwrap();
    assert_eq!(
        status, 400,
        "OpenBao now ships github auth: test it for real: {body}"
    );
    let (kv, policy) = kv_with_policy(bao);
    let minted = bao.api(
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": [policy], "ttl": "1h"})),
    )["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let proxy = crate::vault_retry::Proxy::start(bao);
    let ghp = "ghp_sealbridgeTestToken0123456789";
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let token = minted.clone();
    proxy.intercept(Box::new(move |req: &str| {
        let (head, body) = req.split_once("\r\n\r\n")?;
        if !head.starts_with("POST /v1/auth/team-github/login ") {
            return None;
        }
        log.lock().unwrap().push(body.to_owned());
        let v: Value = serde_json::from_str(body).ok()?;
        (v == json!({"token": "ghp_sealbridgeTestToken0123456789"})).then(|| {
            json!({"auth": {"client_token": token, "lease_duration": 3600, "renewable": true,
                            "policies": ["default"], "metadata": {"org": "sealbridge-org", "username": "octocat"}}})
            .to_string()
        })
    }));
    let env = [
        ("VAULT_ADDR", proxy.addr.clone()),
        ("AVP_AUTH_TYPE", "github".to_owned()),
        ("AVP_GITHUB_TOKEN", ghp.to_owned()),
        ("AVP_MOUNT_PATH", "auth/team-github".to_owned()),
        ("SEALBRIDGE_VAULT_TOKEN_CACHE", "f".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let cfg = Settings::load_from(&Flags::default(), env)
        .unwrap()
        .vault_config()
        .unwrap();
    assert!(matches!(cfg.auth, AuthConfig::Github { .. }));
    reads_alice(&cfg, &kv).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "one login");
}

/// Kills the child process when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real OpenBao Proxy (`bao proxy`, the Vault Agent equivalent) with auto-auth from a token
/// file and `use_auto_auth_token = "force"`: with `VAULT_AGENT_ADDR` set and no token of our
/// own, sealbridge sends no token and the proxy adds its own.
#[tokio::test]
async fn vault_agent_address_without_a_token_goes_through_the_real_proxy() {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let token = bao.api(
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": [policy], "ttl": "1h"})),
    )["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = support::tempdir();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).unwrap();
    let port = support::free_port();
    let config = dir.path().join("proxy.hcl");
    std::fs::write(
        &config,
        format!(
            "vault {{ address = \"{}\" }}\nauto_auth {{\n  method \"token_file\" {{\n    config = {{ token_file_path = \"{}\" }}\n  }}\n}}\napi_proxy {{ use_auto_auth_token = \"force\" }}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = true\n}}\n",
            bao.addr,
            token_file.display()
        ),
    )
    .unwrap();
    let _proxy = KillOnDrop(
        std::process::Command::new(support::bao())
            .arg("proxy")
            .arg(format!("-config={}", config.display()))
            .env_remove("VAULT_ADDR")
            .env_remove("VAULT_TOKEN")
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let agent = format!("http://127.0.0.1:{port}");
    support::poll(
        std::time::Duration::from_secs(20),
        "the OpenBao proxy",
        || {
            support::http_request(&agent, "GET", "/v1/sys/health", &[], None)
                .ok()
                .filter(|(status, _)| *status == 200)
        },
    );
    let env = [
        ("VAULT_ADDR", "http://127.0.0.1:9".to_owned()), // the agent address wins
        ("VAULT_AGENT_ADDR", agent.clone()),
        ("HOME", dir.path().display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let cfg = Settings::load_from(&Flags::default(), env)
        .unwrap()
        .vault_config()
        .unwrap();
    assert!(matches!(cfg.auth, AuthConfig::None));
    assert_eq!(cfg.address, agent);
    reads_alice(&cfg, &kv).await;
}
