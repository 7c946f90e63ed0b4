//! TLS against a real OpenBao TLS listener whose certificates come from a CA generated in the
//! test (the real OpenBao PKI engine of the shared dev server): the right CA (file and
//! directory), a wrong CA (clear error), `VAULT_SKIP_VERIFY`, and `cert` auth with a client
//! certificate from the same PKI.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use sealbridge::backend::vault::{AuthConfig, VaultClient, VaultConfig, VaultErrorKind};
use sealbridge::settings::{Flags, Settings};

use crate::support::{self, OpenBao, OpenBaoOptions};
use crate::vault_auth::{kv_with_policy, reads_alice};

/// A root CA in a fresh PKI mount of the shared server; returns (mount, CA PEM).
fn new_ca(bao: &OpenBao, name: &str) -> (String, String) {
    let m = support::unique("pki-");
    bao.enable_secrets(&m, "pki", json!({}));
    bao.api(
        "POST",
        &format!("/v1/sys/mounts/{m}/tune"),
        Some(json!({"max_lease_ttl": "48h"})),
    );
    let ca = bao.api(
        "POST",
        &format!("/v1/{m}/root/generate/internal"),
        Some(json!({"common_name": name, "ttl": "24h", "key_type": "ec", "key_bits": 256})),
    );
    bao.api(
        "POST",
        &format!("/v1/{m}/roles/any"),
        Some(
            json!({"allow_any_name": true, "allow_ip_sans": true, "enforce_hostnames": false,
                    "key_type": "ec", "key_bits": 256, "ttl": "2h",
                    "server_flag": true, "client_flag": true}),
        ),
    );
    (m, ca["data"]["certificate"].as_str().unwrap().to_owned())
}

fn issue(bao: &OpenBao, pki: &str, cn: &str) -> Value {
    bao.api(
        "POST",
        &format!("/v1/{pki}/issue/any"),
        Some(json!({"common_name": cn, "ip_sans": "127.0.0.1", "alt_names": "localhost"})),
    )["data"]
        .clone()
}

struct TlsBao {
    server: OpenBao,
    https: String,
    dir: tempfile::TempDir,
    ca: PathBuf,
    ca_dir: PathBuf,
    wrong_ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

/// One OpenBao with an extra TLS listener for every test in this module.
fn tls_bao() -> &'static TlsBao {
    static S: OnceLock<TlsBao> = OnceLock::new();
    S.get_or_init(|| {
        let issuer = support::openbao();
        let (pki, ca_pem) = new_ca(issuer, "sealbridge test CA");
        let (_, wrong_pem) = new_ca(issuer, "some other CA");
        let server_cert = issue(issuer, &pki, "127.0.0.1");
        let client = issue(issuer, &pki, "sealbridge-client");
        let dir = support::tempdir();
        let w = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let cert = w("server.pem", server_cert["certificate"].as_str().unwrap());
        let key = w("server-key.pem", server_cert["private_key"].as_str().unwrap());
        let ca = w("ca.pem", &ca_pem);
        let ca_dir = dir.path().join("cas");
        std::fs::create_dir(&ca_dir).unwrap();
        std::fs::write(ca_dir.join("wrong.pem"), &wrong_pem).unwrap();
        std::fs::write(ca_dir.join("right.crt"), &ca_pem).unwrap();
        let wrong_ca = w("wrong-ca.pem", &wrong_pem);
        let client_cert = w("client.pem", client["certificate"].as_str().unwrap());
        let client_key = w("client-key.pem", client["private_key"].as_str().unwrap());

        let port = support::free_port();
        let server = OpenBao::start(OpenBaoOptions {
            extra_config: format!(
                "listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n}}\n",
                cert.display(),
                key.display()
            ),
            extra_args: Vec::new(),
        });
        support::poll(Duration::from_secs(20), "the OpenBao TLS listener", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        TlsBao {
            server,
            https: format!("https://127.0.0.1:{port}"),
            dir,
            ca,
            ca_dir,
            wrong_ca,
            client_cert,
            client_key,
        }
    })
}

fn token_cfg(t: &TlsBao) -> VaultConfig {
    sealbridge::cli::install_crypto_provider();
    let mut cfg = VaultConfig::with_token(&t.https, &t.server.token);
    cfg.token_cache.enabled = false;
    cfg
}

#[tokio::test]
async fn custom_ca_file_and_directory() {
    let t = tls_bao();
    let (kv, _) = kv_with_policy(&t.server);
    let mut cfg = token_cfg(t);
    cfg.tls.ca_cert = Some(t.ca.clone());
    reads_alice(&cfg, &kv).await;
    let mut cfg = token_cfg(t);
    cfg.tls.ca_path = Some(t.ca_dir.clone());
    reads_alice(&cfg, &kv).await;
}

#[tokio::test]
async fn wrong_ca_or_system_roots_fail_with_a_clear_tls_error() {
    let t = tls_bao();
    for ca in [Some(t.wrong_ca.clone()), None] {
        let mut cfg = token_cfg(t);
        cfg.tls.ca_cert = ca.clone();
        let e = VaultClient::connect(&cfg)
            .unwrap()
            .read("secret/x", None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), VaultErrorKind::Tls, "{ca:?}: {e}");
        assert_eq!(e.attempts(), 1, "TLS failures are not retried: {e}");
        let msg = e.to_string();
        assert!(msg.contains(&t.https), "{msg}");
        assert!(msg.contains("VAULT_CACERT"), "{msg}");
        assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    }
}

#[tokio::test]
async fn skip_verify_from_the_environment_is_strict() {
    let t = tls_bao();
    let (kv, _) = kv_with_policy(&t.server);
    let env = |skip: &str| {
        [
            ("VAULT_ADDR", t.https.clone()),
            ("VAULT_TOKEN", t.server.token.clone()),
            ("VAULT_SKIP_VERIFY", skip.to_owned()),
            ("SEALBRIDGE_VAULT_TOKEN_CACHE", "false".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    sealbridge::cli::install_crypto_provider();
    let cfg = Settings::load_from(&Flags::default(), env("true"))
        .unwrap()
        .vault_config()
        .unwrap();
    assert!(cfg.tls.skip_verify);
    reads_alice(&cfg, &kv).await;
    // vaultrs would read "yes" as "skip"; we refuse it.
    let e = Settings::load_from(&Flags::default(), env("yes")).unwrap_err();
    assert!(e.to_string().contains("VAULT_SKIP_VERIFY"), "{e}");
}

#[tokio::test]
async fn cert_auth_with_a_client_certificate() {
    let t = tls_bao();
    let (kv, policy) = kv_with_policy(&t.server);
    let cm = crate::vault_auth::enable_auth(&t.server, "cert");
    let ca_pem = std::fs::read_to_string(&t.ca).unwrap();
    t.server.api(
        "POST",
        &format!("/v1/auth/{cm}/certs/ci"),
        Some(json!({"certificate": ca_pem, "token_policies": [policy], "allowed_common_names": ["sealbridge-client"]})),
    );
    let env = [
        ("VAULT_ADDR", t.https.clone()),
        ("VAULT_CACERT", t.ca.display().to_string()),
        ("VAULT_CLIENT_CERT", t.client_cert.display().to_string()),
        ("VAULT_CLIENT_KEY", t.client_key.display().to_string()),
        ("SEALBRIDGE_VAULT_AUTH", "cert".to_owned()),
        ("SEALBRIDGE_VAULT_AUTH_MOUNT", cm.clone()),
        ("SEALBRIDGE_VAULT_ROLE", "ci".to_owned()),
        (
            "SEALBRIDGE_CACHE_DIR",
            t.dir.path().join("cache").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    sealbridge::cli::install_crypto_provider();
    let cfg = Settings::load_from(&Flags::default(), env)
        .unwrap()
        .vault_config()
        .unwrap();
    assert!(matches!(cfg.auth, AuthConfig::Cert { .. }));
    reads_alice(&cfg, &kv).await;
    reads_alice(&cfg, &kv).await;
    assert_eq!(t.server.count_requests(&format!("auth/{cm}/login")), 1);

    // Without the client certificate the login is refused.
    let mut no_cert = cfg.clone();
    no_cert.tls.client_cert = None;
    no_cert.tls.client_key = None;
    no_cert.token_cache.enabled = false;
    let e = VaultClient::connect(&no_cert)
        .unwrap()
        .read(&format!("{kv}/app"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Auth, "{e}");
}

#[test]
fn bad_tls_files_are_config_errors() {
    let t = tls_bao();
    sealbridge::cli::install_crypto_provider();
    let mut cfg = token_cfg(t);
    cfg.tls.ca_cert = Some(t.dir.path().join("missing.pem"));
    let e = VaultClient::connect(&cfg).unwrap_err();
    assert!(
        e.is_config() && e.to_string().contains("VAULT_CACERT"),
        "{e}"
    );
    let mut cfg = token_cfg(t);
    cfg.tls.ca_cert = Some(t.client_key.clone()); // a key, not a certificate
    let e = VaultClient::connect(&cfg).unwrap_err();
    assert!(e.is_config(), "{e}");
    let mut cfg = token_cfg(t);
    cfg.tls.client_cert = Some(t.client_cert.clone());
    let e = VaultClient::connect(&cfg).unwrap_err();
    assert!(e.to_string().contains("VAULT_CLIENT_KEY"), "{e}");
}

#[tokio::test]
async fn https_address_on_a_plain_http_server_says_so() {
    // The shared dev server speaks plain HTTP; an https:// address reaches it with TLS.
    sealbridge::cli::install_crypto_provider();
    let bao = support::openbao();
    let https = bao.addr.replacen("http://", "https://", 1);
    let mut cfg = VaultConfig::with_token(&https, &bao.token);
    cfg.token_cache.enabled = false;
    let e = VaultClient::connect(&cfg)
        .unwrap()
        .read("secret/x", None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Tls, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("plain HTTP") && msg.contains("http://"),
        "{msg}"
    );
    assert!(!msg.contains(&bao.token), "{msg}");
}
