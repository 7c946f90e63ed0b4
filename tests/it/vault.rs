//! The Vault/OpenBao client against a real OpenBao dev server: KV v2 (with and without
//! `/data/`, pinned and deleted versions), KV v1, raw reads of non-KV paths, transit, mount
//! lookups counted in the audit log, and the error kinds.

use serde_json::json;

use sealbridge::backend::vault::{
    AuthConfig, SecretSource, VaultClient, VaultConfig, VaultErrorKind,
};
use sealbridge::secret::{SecretValue, Sensitive};

use crate::support::{self, OpenBao};

/// A client with the root token and no token cache.
pub(crate) fn root_client(bao: &OpenBao) -> VaultClient {
    sealbridge::cli::install_crypto_provider();
    let mut cfg = VaultConfig::with_token(&bao.addr, &bao.token);
    cfg.token_cache.enabled = false;
    VaultClient::connect(&cfg).unwrap()
}

pub(crate) fn s(v: &str) -> SecretValue {
    SecretValue::String(Sensitive::from_str_copy(v))
}

fn get<'a>(v: &'a SecretValue, key: &str) -> &'a SecretValue {
    match v {
        SecretValue::Map(m) => m
            .get(key)
            .unwrap_or_else(|| panic!("no key {key}; keys: {:?}", v.key_names())),
        other => panic!("not a map: {}", other.type_name()),
    }
}

#[tokio::test]
async fn kv2_reads_with_and_without_data_segment_and_looks_the_mount_up_once() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(
        &mount,
        "app/db",
        json!({"user": "alice", "port": 5432, "tls": true, "nested": {"a": [1, "x"]}}),
    );
    bao.kv2_put(&mount, "app/other", json!({"k": "v"}));
    let c = root_client(bao);

    let plain = c.read(&format!("{mount}/app/db"), None).await.unwrap();
    assert_eq!(get(&plain, "user"), &s("alice"));
    assert_eq!(get(&plain, "port"), &SecretValue::Int(5432));
    assert_eq!(get(&plain, "tls"), &SecretValue::Bool(true));
    assert!(matches!(get(&plain, "nested"), SecretValue::Map(_)));
    // The server's key order (Vault stores maps sorted).
    assert_eq!(plain.key_names(), ["nested", "port", "tls", "user"]);

    let with_data = c.read(&format!("{mount}/data/app/db"), None).await.unwrap();
    assert_eq!(with_data, plain);
    let other = c.read(&format!("/{mount}/app/other/"), None).await.unwrap();
    assert_eq!(get(&other, "k"), &s("v"));

    // Three reads in one mount: exactly one mount lookup.
    assert_eq!(
        bao.count_requests(&format!("sys/internal/ui/mounts/{mount}/")),
        1,
        "the mount must be looked up once per client"
    );
    assert_eq!(bao.count_requests(&format!("{mount}/data/app/db")), 3); // 1 write + 2 reads
}

#[tokio::test]
async fn kv2_pinned_versions_and_deleted_versions() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "v", json!({"secret": "version1"}));
    bao.kv2_put(&mount, "v", json!({"secret": "version2"}));
    bao.kv2_put(&mount, "v", json!({"secret": "version3"}));
    bao.api(
        "POST",
        &format!("/v1/{mount}/delete/v"),
        Some(json!({"versions": [2]})),
    );
    let c = root_client(bao);
    let path = format!("{mount}/v");

    assert_eq!(
        get(&c.read(&path, Some(1)).await.unwrap(), "secret"),
        &s("version1")
    );
    assert_eq!(
        get(&c.read(&path, None).await.unwrap(), "secret"),
        &s("version3")
    );

    let e = c.read(&path, Some(2)).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::NotFound, "{e}");
    assert!(
        e.to_string()
            .contains("version 2 of this secret was deleted"),
        "{e}"
    );
    assert!(
        e.to_string().contains(&format!("{mount}/data/v?version=2")),
        "{e}"
    );

    let e = c.read(&path, Some(9)).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("no such secret or no such version"),
        "{e}"
    );

    let e = c.read(&format!("{mount}/missing"), None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::NotFound);
    assert!(e.to_string().contains(&bao.addr), "{e}");
    assert!(
        e.to_string().contains(&format!("{mount}/data/missing")),
        "{e}"
    );

    let e = c.read(&mount, None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::InvalidPath, "{e}");
}

#[tokio::test]
async fn kv1_reads_and_ignores_versions() {
    let bao = support::openbao();
    let mount = bao.new_kv1();
    bao.kv1_put(
        &mount,
        "testing",
        json!({"name": "test-name", "replicas": "2", "port": 80}),
    );
    let c = root_client(bao);
    let v = c.read(&format!("{mount}/testing"), None).await.unwrap();
    assert_eq!(get(&v, "name"), &s("test-name"));
    assert_eq!(get(&v, "replicas"), &s("2"));
    assert_eq!(get(&v, "port"), &SecretValue::Int(80));
    // KV v1 has no versions: a pinned version reads the same data, as in AVP.
    assert_eq!(
        c.read(&format!("{mount}/testing"), Some(7)).await.unwrap(),
        v
    );
    let e = c.read(&format!("{mount}/nope"), None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn raw_reads_of_non_kv_paths() {
    let bao = support::openbao();
    let transit = support::unique("transit-");
    bao.enable_secrets(&transit, "transit", json!({}));
    bao.api("POST", &format!("/v1/{transit}/keys/k1"), Some(json!({})));
    let c = root_client(bao);
    // A non-KV engine: the transit key's description is a plain GET.
    let v = c.read(&format!("{transit}/keys/k1"), None).await.unwrap();
    assert_eq!(get(&v, "name"), &s("k1"));
    assert_eq!(get(&v, "type"), &s("aes256-gcm96"));
    // No engine mounted at all: not found, with a clear reason.
    let e = c.read("no-such-mount-here/x", None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("no secrets engine is mounted"),
        "{e}"
    );
}

#[tokio::test]
async fn transit_round_trip_as_sops_does_it() {
    let bao = support::openbao();
    let transit = support::unique("transit-");
    bao.enable_secrets(&transit, "transit", json!({}));
    bao.api(
        "POST",
        &format!("/v1/{transit}/keys/sops-key"),
        Some(json!({})),
    );
    let c = root_client(bao);
    let data_key: Vec<u8> = (0u8..32).collect();
    let ct = c
        .transit_encrypt(&transit, "sops-key", &data_key)
        .await
        .unwrap();
    assert!(ct.starts_with("vault:v1:"), "{ct}");
    let pt = c.transit_decrypt(&transit, "sops-key", &ct).await.unwrap();
    assert_eq!(pt.expose(), &data_key[..]);
    // The ciphertext is really OpenBao's: its own decrypt endpoint gives the same base64.
    let direct = bao.api(
        "POST",
        &format!("/v1/{transit}/decrypt/sops-key"),
        Some(json!({"ciphertext": ct})),
    );
    use base64::Engine as _;
    assert_eq!(
        direct["data"]["plaintext"],
        base64::engine::general_purpose::STANDARD.encode(&data_key)
    );
    let e = c
        .transit_decrypt(&transit, "sops-key", "vault:v1:AAAA")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::BadResponse, "{e}");
    let e = c
        .transit_decrypt(&transit, "no-key", &ct)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(&format!("{transit}/decrypt/no-key")),
        "{e}"
    );
}

#[tokio::test]
async fn permission_denied_names_the_path_and_never_the_token() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "allowed", json!({"a": "1"}));
    bao.kv2_put(&mount, "secret", json!({"b": "2"}));
    let policy = support::unique("p-");
    bao.api(
        "PUT",
        &format!("/v1/sys/policies/acl/{policy}"),
        Some(json!({"policy": format!("path \"{mount}/data/allowed\" {{ capabilities = [\"read\"] }}")})),
    );
    let created = bao.api(
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": [policy], "no_default_policy": true})),
    );
    let token = created["auth"]["client_token"].as_str().unwrap().to_owned();
    sealbridge::cli::install_crypto_provider();
    let mut cfg = VaultConfig::new(
        &bao.addr,
        AuthConfig::Token(SecretSource::Value(Sensitive::from_str_copy(&token))),
    );
    cfg.token_cache.enabled = false;
    let c = VaultClient::connect(&cfg).unwrap();

    assert_eq!(
        get(
            &c.read(&format!("{mount}/allowed"), None).await.unwrap(),
            "a"
        ),
        &s("1")
    );
    let e = c.read(&format!("{mount}/secret"), None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::PermissionDenied, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("{mount}/data/secret")), "{msg}");
    assert!(!msg.contains(&token), "{msg}");
    // A mount the token cannot see at all: the lookup is refused; the read says why.
    let e = c.read("cubbyhole-not/x", None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::PermissionDenied, "{e}");
}

#[tokio::test]
async fn unreachable_server_reports_attempts() {
    sealbridge::cli::install_crypto_provider();
    let port = support::free_port(); // nothing listens there
    let mut cfg = VaultConfig::with_token(format!("http://127.0.0.1:{port}"), "t");
    cfg.max_retries = 2;
    cfg.token_cache.enabled = false;
    let c = VaultClient::connect(&cfg).unwrap();
    let e = c.read("secret/x", None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Unreachable, "{e}");
    assert_eq!(e.attempts(), 3);
    let msg = e.to_string();
    assert!(msg.contains("after 3 attempts"), "{msg}");
    assert!(msg.contains("connection failed"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
}

#[test]
fn bad_addresses_are_config_errors_not_panics() {
    sealbridge::cli::install_crypto_provider();
    for addr in [
        "",
        "vault:8200",
        "http//x",
        "http://u:p@h:1",
        "https://h:70000",
    ] {
        let e = VaultClient::connect(&VaultConfig::with_token(addr, "t")).unwrap_err();
        assert_eq!(e.kind(), VaultErrorKind::Config, "{addr}: {e}");
    }
}

#[tokio::test]
async fn missing_token_is_a_config_error() {
    let bao = support::openbao();
    sealbridge::cli::install_crypto_provider();
    let dir = support::tempdir();
    let mut cfg = VaultConfig::new(
        &bao.addr,
        AuthConfig::Token(SecretSource::File(dir.path().join(".vault-token"))),
    );
    cfg.token_cache.enabled = false;
    let c = VaultClient::connect(&cfg).unwrap();
    let e = c.read("secret/x", None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Config, "{e}");
    assert!(e.to_string().contains(".vault-token"), "{e}");
    // The token file is read at first use, trimmed.
    std::fs::write(dir.path().join(".vault-token"), format!("{}\n", bao.token)).unwrap();
    let mount = bao.new_kv1();
    bao.kv1_put(&mount, "x", json!({"k": "v"}));
    let c = VaultClient::connect(&cfg).unwrap();
    assert_eq!(
        get(&c.read(&format!("{mount}/x"), None).await.unwrap(), "k"),
        &s("v")
    );
}

/// OpenBao namespaces: `VAULT_NAMESPACE`, a per-call namespace, a namespace prefix in the path
/// itself (Vault resolves `team/kv/app` to `kv/app` in namespace `team`), and nested ones.
#[tokio::test]
async fn namespaces() {
    let bao = support::openbao();
    let ns = support::unique("team-");
    bao.api("POST", &format!("/v1/sys/namespaces/{ns}"), Some(json!({})));
    bao.api(
        "POST",
        &format!("/v1/{ns}/sys/namespaces/child"),
        Some(json!({})),
    );
    let kv = support::unique("nskv-");
    for prefix in [ns.clone(), format!("{ns}/child")] {
        bao.api(
            "POST",
            &format!("/v1/{prefix}/sys/mounts/{kv}"),
            Some(json!({"type": "kv", "options": {"version": "2"}})),
        );
        bao.api(
            "POST",
            &format!("/v1/{prefix}/{kv}/data/app"),
            Some(json!({"data": {"where": prefix}})),
        );
    }
    sealbridge::cli::install_crypto_provider();
    let mut cfg = VaultConfig::with_token(&bao.addr, &bao.token);
    cfg.token_cache.enabled = false;
    cfg.namespace = Some(format!("/{ns}/"));
    let in_ns = VaultClient::connect(&cfg).unwrap();
    assert_eq!(in_ns.namespace(), Some(ns.as_str()));
    let want_ns = s(&ns);
    let want_child = s(&format!("{ns}/child"));

    let v = in_ns.read(&format!("{kv}/app"), None).await.unwrap();
    assert_eq!(get(&v, "where"), &want_ns);
    // A child namespace as a path prefix, relative to VAULT_NAMESPACE.
    let v = in_ns.read(&format!("child/{kv}/app"), None).await.unwrap();
    assert_eq!(get(&v, "where"), &want_child);

    let root = root_client(bao);
    let v = root.read(&format!("{ns}/{kv}/app"), None).await.unwrap();
    assert_eq!(get(&v, "where"), &want_ns);
    let v = root
        .read_in(Some(&format!("{ns}/child")), &format!("{kv}/app"), None)
        .await
        .unwrap();
    assert_eq!(get(&v, "where"), &want_child);
    // Without the namespace the mount does not exist.
    let e = root.read(&format!("{kv}/app"), None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::NotFound, "{e}");

    // Each (namespace, mount) is looked up once.
    in_ns.read(&format!("{kv}/app"), None).await.unwrap();
    root.read(&format!("{ns}/{kv}/app"), None).await.unwrap();
    let lookups: Vec<_> = bao
        .audit_requests()
        .into_iter()
        .filter(|r| {
            r["request"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("sys/internal/ui/mounts/") && p.contains(&kv))
        })
        .collect();
    // in_ns: kv in ns, child/kv in ns; root: ns/kv, kv in ns/child, kv in root.
    assert_eq!(lookups.len(), 5, "{lookups:#?}");
}

/// AVP's `kv-version` annotation as a per-call hint: 1 reads the path exactly as written
/// without a mount lookup; 2 (or none) detects the mount.
#[tokio::test]
async fn kv_version_hint() {
    let bao = support::openbao();
    let kv2 = bao.new_kv2();
    bao.kv2_put(&kv2, "app", json!({"k": "v2"}));
    let kv1 = bao.new_kv1();
    bao.kv1_put(&kv1, "app", json!({"k": "v1"}));
    let c = root_client(bao);
    let v = c
        .read_kv(
            None,
            &format!("{kv1}/app"),
            None,
            Some(sealbridge::backend::KvVersion::V1),
        )
        .await
        .unwrap();
    assert_eq!(get(&v, "k"), &s("v1"));
    assert_eq!(
        bao.count_requests(&format!("sys/internal/ui/mounts/{kv1}/")),
        0
    );
    // KV v1 mode on a KV v2 path written with /data/: the raw response's data map.
    let v = c
        .read_kv(
            None,
            &format!("{kv2}/data/app"),
            None,
            Some(sealbridge::backend::KvVersion::V1),
        )
        .await
        .unwrap();
    assert_eq!(v.key_names(), ["data", "metadata"]);
    let v = c
        .read_kv(
            None,
            &format!("{kv2}/app"),
            None,
            Some(sealbridge::backend::KvVersion::V2),
        )
        .await
        .unwrap();
    assert_eq!(get(&v, "k"), &s("v2"));
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `--verbose` logs every request's method, path, status and timing at debug level, and never
/// a token, a credential or a value (here with every target at TRACE).
#[tokio::test]
async fn verbose_logging_shows_paths_statuses_and_timing_only() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "app", json!({"password": "hunter2-very-secret"}));
    let (am, rid, sid) = crate::vault_auth::approle(
        bao,
        &{
            let p = support::unique("p-");
            bao.api(
                "PUT",
                &format!("/v1/sys/policies/acl/{p}"),
                Some(json!({"policy": format!("path \"{mount}/*\" {{ capabilities = [\"read\"] }}")})),
            );
            p
        },
        json!({}),
    );
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    sealbridge::cli::install_crypto_provider();
    let mut cfg = VaultConfig::new(
        &bao.addr,
        AuthConfig::AppRole {
            mount: am.clone(),
            role_id: rid.clone(),
            secret_id: SecretSource::Value(Sensitive::from_str_copy(&sid)),
        },
    );
    let cache = support::tempdir();
    cfg.token_cache.dir = Some(cache.path().to_owned());
    let c = VaultClient::connect(&cfg).unwrap();
    let v = c.read(&format!("{mount}/app"), None).await.unwrap();
    assert_eq!(get(&v, "password"), &s("hunter2-very-secret"));
    let entry = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let cached: serde_json::Value = serde_json::from_slice(&std::fs::read(entry).unwrap()).unwrap();
    let token = cached["token"].as_str().unwrap().to_owned();
    drop(_guard);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains(&format!("vault POST /v1/auth/{am}/login -> 200 in ")),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "vault GET /v1/sys/internal/ui/mounts/{mount}/app -> 200 in "
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("vault GET /v1/{mount}/data/app -> 200 in ")),
        "{log}"
    );
    for secret in [
        sid.as_str(),
        "hunter2-very-secret",
        &bao.token,
        &token,
        &rid,
    ] {
        assert!(!log.contains(secret), "a secret reached the log:\n{log}");
    }
    assert!(!log.contains("client_token"), "{log}");
}

/// `vault::block_on` serves synchronous callers (a sops decryption outside the engine) and
/// refuses to nest inside a runtime.
#[test]
fn block_on_for_synchronous_callers() {
    let bao = support::openbao();
    let transit = support::unique("transit-");
    bao.enable_secrets(&transit, "transit", json!({}));
    bao.api("POST", &format!("/v1/{transit}/keys/k"), Some(json!({})));
    let c = root_client(bao);
    let ct = sealbridge::backend::vault::block_on(c.transit_encrypt(&transit, "k", b"data key"))
        .unwrap()
        .unwrap();
    let pt = sealbridge::backend::vault::block_on(c.transit_decrypt(&transit, "k", &ct))
        .unwrap()
        .unwrap();
    assert_eq!(pt.expose(), b"data key");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let nested = rt.block_on(async { sealbridge::backend::vault::block_on(async { 1 }) });
    assert!(nested.unwrap_err().is_config());
}

/// `SEALBRIDGE_PATH_PREFIX` (allowed from an Argo CD Application) is prepended to every path.
#[tokio::test]
async fn path_prefix_is_prepended() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "team-a/app", json!({"k": "v"}));
    sealbridge::cli::install_crypto_provider();
    let env = [
        ("VAULT_ADDR", bao.addr.clone()),
        ("VAULT_TOKEN", bao.token.clone()),
        (
            "ARGOCD_ENV_SEALBRIDGE_PATH_PREFIX",
            format!("/{mount}/team-a/"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let cfg = sealbridge::settings::Settings::load_from(&Default::default(), env)
        .unwrap()
        .vault_config()
        .unwrap();
    let c = VaultClient::connect(&cfg).unwrap();
    assert_eq!(get(&c.read("app", None).await.unwrap(), "k"), &s("v"));
    let e = c.read("nope", None).await.unwrap_err();
    assert!(
        e.to_string().contains(&format!("{mount}/data/team-a/nope")),
        "{e}"
    );
}
