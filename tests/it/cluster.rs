//! `-s/--secret-name [namespace:]name` (the `kube` feature): settings read from a Kubernetes
//! Secret through the Kubernetes API.
//!
//! No API server can run here, so, as kube's own tests do, an in-process HTTP server on
//! loopback plays it: it answers `GET /api/v1/namespaces/{ns}/secrets/{name}` with exactly what
//! the real API returns (a `v1` Secret with base64 `data`; `Status` objects for 401/403/404) and
//! records every request the real kube client in the real binary sends. The binary reaches it
//! through a kubeconfig (plain HTTP) and through the in-cluster form (KUBERNETES_SERVICE_HOST/
//! PORT, a token file and a CA, over TLS with a certificate from the real OpenBao PKI engine;
//! the service-account directory is moved with SEALBRIDGE_KUBE_SERVICEACCOUNT_DIR). Vault values
//! come from the real OpenBao.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{self, OpenBao};

const KUBE_TOKEN: &str = "kube-sa-token-5d1c9e0a7f";

/// One request as the fake API server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The stand-in API server: `path → (status, body)`; anything else is the real 404 Status.
struct FakeApi {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type Tls = Arc<rustls::ServerConfig>;

impl FakeApi {
    fn start(routes: HashMap<String, (u16, Value)>, tls: Option<Tls>) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let (s, r) = (seen.clone(), routes.clone());
        let scheme = if tls.is_some() { "https" } else { "http" };
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, r, tls) = (s.clone(), r.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    Some(cfg) => {
                        let Ok(server) = rustls::ServerConnection::new(cfg) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(server, conn), &s, &r);
                    }
                    None => serve(conn, &s, &r),
                });
            }
        });
        FakeApi {
            url: format!("{scheme}://127.0.0.1:{port}"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Error",
    }
}

/// Reads one request head, records it, answers and closes.
fn serve<S: Read + Write>(
    mut stream: S,
    seen: &Mutex<Vec<Seen>>,
    routes: &HashMap<String, (u16, Value)>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let req = Seen {
        method,
        path,
        headers,
    };
    let authorized = req.header("authorization") == Some(&format!("Bearer {KUBE_TOKEN}"));
    let (status, body) = if !authorized {
        (
            401,
            status_object(401, "Unauthorized", "Unauthorized", None),
        )
    } else {
        routes.get(&req.path).cloned().unwrap_or_else(|| {
            let name = req.path.rsplit('/').next().unwrap_or("").to_owned();
            not_found(&name)
        })
    };
    seen.lock().unwrap().push(req);
    let body = body.to_string();
    let resp = format!(
        "HTTP/1.1 {status} {}\r\nAudit-Id: 0f1e2d3c\r\nCache-Control: no-cache, private\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes());
    let _ = stream.flush();
}

/// A `metav1.Status` exactly as kube-apiserver writes it.
fn status_object(code: u16, reason: &str, message: &str, name: Option<&str>) -> Value {
    let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code});
    if let Some(n) = name {
        v["details"] = json!({"name": n, "kind": "secrets"});
    }
    v
}

fn not_found(name: &str) -> (u16, Value) {
    (
        404,
        status_object(
            404,
            "NotFound",
            &format!("secrets \"{name}\" not found"),
            Some(name),
        ),
    )
}

fn forbidden(ns: &str, name: &str) -> (u16, Value) {
    (
        403,
        status_object(
            403,
            "Forbidden",
            &format!(
                "secrets \"{name}\" is forbidden: User \"system:serviceaccount:argocd:argocd-repo-server\" \
                 cannot get resource \"secrets\" in API group \"\" in the namespace \"{ns}\""
            ),
            Some(name),
        ),
    )
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A `v1` Secret as `GET /api/v1/namespaces/{ns}/secrets/{name}` returns it.
fn secret_object(ns: &str, name: &str, data: &[(&str, &str)]) -> (u16, Value) {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(b64(v))))
        .collect();
    (
        200,
        json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": "6c1b2f7e-3f0e-4a7c-9a51-0d2c5e8b1a44",
                "resourceVersion": "418221",
                "creationTimestamp": "2026-11-20T09:14:03Z",
                "managedFields": [{
                    "manager": "kubectl-create",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-11-20T09:14:03Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {".": {}}, "f:type": {}}
                }]
            },
            "data": data,
            "type": "Opaque"
        }),
    )
}

fn path(ns: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{ns}/secrets/{name}")
}

fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let p = dir.join("kubeconfig");
    std::fs::write(
        &p,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
             users:\n- name: repo-server\n  user:\n    token: {KUBE_TOKEN}\ncontexts:\n- name: fake\n  \
             context:\n    cluster: fake\n    user: repo-server\n    namespace: default\n\
             current-context: fake\n"
        ),
    )
    .unwrap();
    p
}

/// A kv2 secret in the real OpenBao and a manifest referencing it; returns (manifest dir, value).
fn seeded_app(bao: &OpenBao, dir: &Path) -> (PathBuf, String) {
    let mount = bao.new_kv2();
    let value = support::unique("db-password-");
    bao.kv2_put(&mount, "app", json!({ "password": value }));
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("secret.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\nstringData:\n  \
             password: <path:{mount}/data/app#password>\n"
        ),
    )
    .unwrap();
    (app, value)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Nothing credential-like in `text`: the Vault token, the Kubernetes token, their base64.
fn assert_clean(text: &str, bao: &OpenBao) {
    for needle in [
        bao.token.clone(),
        b64(&bao.token),
        KUBE_TOKEN.to_owned(),
        b64(KUBE_TOKEN),
    ] {
        assert!(
            !text.contains(&needle),
            "a credential leaked into stderr:\n{text}"
        );
    }
}

fn vault_settings(bao: &OpenBao) -> Vec<(&'static str, String)> {
    vec![
        ("VAULT_ADDR", bao.addr.clone()),
        ("VAULT_TOKEN", bao.token.clone()),
    ]
}

fn secret_with(ns: &str, name: &str, data: &[(&str, String)]) -> (u16, Value) {
    let d: Vec<(&str, &str)> = data.iter().map(|(k, v)| (*k, v.as_str())).collect();
    secret_object(ns, name, &d)
}

#[test]
fn vault_settings_only_from_the_secret_via_kubeconfig() {
    let bao = support::openbao();
    let dir = support::tempdir();
    let (app, value) = seeded_app(bao, dir.path());
    let api = FakeApi::start(
        HashMap::from([(
            path("team-a", "avp-config"),
            secret_with("team-a", "avp-config", &vault_settings(bao)),
        )]),
        None,
    );
    let kc = kubeconfig(dir.path(), &api.url);
    let out = run(support::sealbridge(dir.path())
        .args(["--verbose", "generate", "-s", "team-a:avp-config"])
        .arg(&app)
        .env("KUBECONFIG", &kc)
        .env("SEALBRIDGE_LOG", "trace"));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout(&out).contains(&value), "{}", stdout(&out));
    // Exactly one request: a GET by name (so `resourceNames` RBAC applies), with the bearer
    // token from the kubeconfig.
    let seen = api.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/api/v1/namespaces/team-a/secrets/avp-config");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {KUBE_TOKEN}").as_str())
    );
    // --verbose and SEALBRIDGE_LOG=trace log the request, never a credential or the value.
    assert!(err.contains("team-a/avp-config"), "{err}");
    assert_clean(&err, bao);
    assert!(!err.contains(&value), "{err}");
}

#[test]
fn in_cluster_service_account_over_tls() {
    let bao = support::openbao();
    let dir = support::tempdir();
    let (app, value) = seeded_app(bao, dir.path());
    let (tls, ca_pem) = tls_server_config(bao);
    let api = FakeApi::start(
        HashMap::from([(
            path("argocd", "avp-config"),
            secret_with("argocd", "avp-config", &vault_settings(bao)),
        )]),
        Some(tls),
    );
    let port = api.url.rsplit(':').next().unwrap().to_owned();
    let sa = dir.path().join("serviceaccount");
    std::fs::create_dir(&sa).unwrap();
    std::fs::write(sa.join("token"), KUBE_TOKEN).unwrap();
    std::fs::write(sa.join("ca.crt"), &ca_pem).unwrap();
    std::fs::write(sa.join("namespace"), "argocd").unwrap();
    let out = run(support::sealbridge(dir.path())
        .args(["generate", "--secret-name", "avp-config"])
        .arg(&app)
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", &port)
        .env("SEALBRIDGE_KUBE_SERVICEACCOUNT_DIR", &sa));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&value));
    let seen = api.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/api/v1/namespaces/argocd/secrets/avp-config");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {KUBE_TOKEN}").as_str())
    );

    // A CA that did not sign the server's certificate: a clear TLS failure, exit 1.
    let (_, other_ca) = new_ca(bao, "not the cluster CA");
    std::fs::write(sa.join("ca.crt"), &other_ca).unwrap();
    let out = run(support::sealbridge(dir.path())
        .args(["generate", "-s", "avp-config"])
        .arg(&app)
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", &port)
        .env("SEALBRIDGE_KUBE_SERVICEACCOUNT_DIR", &sa));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("Secret argocd/avp-config") && err.contains("could not be reached"),
        "{err}"
    );
    // A missing token file: a configuration error (exit 2) naming the file.
    std::fs::remove_file(sa.join("token")).unwrap();
    let out = run(support::sealbridge(dir.path())
        .args(["generate", "-s", "avp-config"])
        .arg(&app)
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", &port)
        .env("SEALBRIDGE_KUBE_SERVICEACCOUNT_DIR", &sa));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("serviceaccount/token"), "{err}");
}

#[test]
fn environment_and_config_file_override_the_secret() {
    let bao = support::openbao();
    let dir = support::tempdir();
    let (app, value) = seeded_app(bao, dir.path());
    // The Secret's address and token are wrong; the environment's are right.
    let api = FakeApi::start(
        HashMap::from([(
            path("argocd", "avp-config"),
            secret_with(
                "argocd",
                "avp-config",
                &[
                    ("VAULT_ADDR", "http://127.0.0.1:9".to_owned()),
                    ("VAULT_TOKEN", bao.token.clone()),
                ],
            ),
        )]),
        None,
    );
    let kc = kubeconfig(dir.path(), &api.url);
    let out = run(support::sealbridge(dir.path())
        .args(["generate", "-s", "avp-config"])
        .arg(&app)
        .env("KUBECONFIG", &kc)
        .env("VAULT_ADDR", &bao.addr));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&value));

    // Without the environment the Secret's (unreachable) address is used: the Secret was read.
    let out = run(support::sealbridge(dir.path())
        .args(["generate", "-s", "avp-config"])
        .arg(&app)
        .env("KUBECONFIG", &kc));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_clean(&stderr(&out), bao);

    // A config file is merged with the Secret (not AVP's replace): the file's address wins,
    // the token still comes from the Secret.
    let cfg = dir.path().join("avp.yaml");
    std::fs::write(&cfg, format!("VAULT_ADDR: {}\n", bao.addr)).unwrap();
    let out = run(support::sealbridge(dir.path())
        .args(["generate", "-s", "avp-config", "-c"])
        .arg(&cfg)
        .arg(&app)
        .env("KUBECONFIG", &kc));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&value));
}

#[test]
fn argocd_generate_reads_the_secret_and_applications_cannot_choose_it() {
    let bao = support::openbao();
    let dir = support::tempdir();
    let (app, value) = seeded_app(bao, dir.path());
    let api = FakeApi::start(
        HashMap::from([(
            path("argocd", "avp-config"),
            secret_with("argocd", "avp-config", &vault_settings(bao)),
        )]),
        None,
    );
    let kc = kubeconfig(dir.path(), &api.url);
    // Application-set variables that try to move the lookup elsewhere are inert.
    let out = run(support::sealbridge(dir.path())
        .args(["argocd", "generate", "-s", "avp-config", "."])
        .current_dir(&app)
        .env("KUBECONFIG", &kc)
        .env("ARGOCD_APP_NAME", "guestbook")
        .env("ARGOCD_ENV_KUBECONFIG", "/dev/null")
        .env("ARGOCD_ENV_KUBERNETES_SERVICE_HOST", "203.0.113.9")
        .env("ARGOCD_ENV_SECRET_NAME", "team-b:their-config"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&value));
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/v1/namespaces/argocd/secrets/avp-config");

    // Guarded names are refused before the cluster is contacted.
    for var in [
        "ARGOCD_ENV_AVP_SECRET_NAME",
        "ARGOCD_ENV_SEALBRIDGE_SECRET_NAME",
        "ARGOCD_ENV_SEALBRIDGE_KUBE_SERVICEACCOUNT_DIR",
    ] {
        let out = run(support::sealbridge(dir.path())
            .args(["argocd", "generate", "-s", "avp-config", "."])
            .current_dir(&app)
            .env("KUBECONFIG", &kc)
            .env(var, "x"));
        assert_eq!(out.status.code(), Some(2), "{var}: {}", stderr(&out));
        assert!(stderr(&out).contains(var));
    }
    assert_eq!(api.seen().len(), 1, "no request after a refused variable");
}

#[test]
fn not_found_forbidden_and_unreachable_name_the_secret() {
    let bao = support::openbao();
    let dir = support::tempdir();
    let (app, _) = seeded_app(bao, dir.path());
    let api = FakeApi::start(
        HashMap::from([(path("argocd", "locked"), forbidden("argocd", "locked"))]),
        None,
    );
    let kc = kubeconfig(dir.path(), &api.url);
    let gen_s = |name: &str, kc: &Path| {
        run(support::sealbridge(dir.path())
            .args(["--verbose", "generate", "-s", name])
            .arg(&app)
            .env("KUBECONFIG", kc)
            .env("SEALBRIDGE_LOG", "trace"))
    };

    let out = gen_s("argocd:nope", &kc);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("Secret argocd/nope was not found") && err.contains(&api.url),
        "{err}"
    );

    let out = gen_s("locked", &kc);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("reading Secret argocd/locked was refused (HTTP 403)")
            && err.contains("cannot get resource \"secrets\"")
            && err.contains("needs `get` on secrets named locked in namespace argocd"),
        "{err}"
    );

    // A token the API server does not accept: 401.
    let wrong = dir.path().join("wrong-kubeconfig");
    std::fs::write(
        &wrong,
        std::fs::read_to_string(&kc)
            .unwrap()
            .replace(KUBE_TOKEN, "expired-token"),
    )
    .unwrap();
    let out = gen_s("locked", &wrong);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refused (HTTP 401)"), "{err}");
    assert!(!err.contains("expired-token"), "{err}");

    // Nothing listening.
    let closed_dir = dir.path().join("closed");
    std::fs::create_dir(&closed_dir).unwrap();
    let closed = kubeconfig(
        &closed_dir,
        &format!("http://127.0.0.1:{}", support::free_port()),
    );
    let out = gen_s("avp-config", &closed);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("cannot read Secret argocd/avp-config")
            && err.contains("could not be reached"),
        "{err}"
    );

    // Neither a kubeconfig nor a pod: exit 2 with what to do.
    let out = run(support::sealbridge(dir.path())
        .args(["generate", "-s", "avp-config"])
        .arg(&app));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("KUBERNETES_SERVICE_HOST") && err.contains("KUBECONFIG"),
        "{err}"
    );

    // A name that is not a Kubernetes name never reaches the API server.
    let before = api.seen().len();
    let out = gen_s("argocd:../../nodes", &kc);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(api.seen().len(), before);
    assert_clean(&err, bao);
}

/// A root CA in a fresh PKI mount of the real OpenBao; returns (mount, CA PEM).
fn new_ca(bao: &OpenBao, name: &str) -> (String, String) {
    let m = support::unique("kpki-");
    bao.enable_secrets(&m, "pki", json!({}));
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
                    "key_type": "ec", "key_bits": 256, "ttl": "2h", "server_flag": true}),
        ),
    );
    (m, ca["data"]["certificate"].as_str().unwrap().to_owned())
}

/// A server certificate for 127.0.0.1 from a fresh CA; returns (rustls config, CA PEM).
fn tls_server_config(bao: &OpenBao) -> (Tls, String) {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    sealbridge::cli::install_crypto_provider();
    let (pki, ca_pem) = new_ca(bao, "kubernetes");
    let issued = bao.api(
        "POST",
        &format!("/v1/{pki}/issue/any"),
        Some(json!({"common_name": "kube-apiserver", "ip_sans": "127.0.0.1"})),
    )["data"]
        .clone();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(issued["certificate"].as_str().unwrap().as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key =
        PrivateKeyDer::from_pem_slice(issued["private_key"].as_str().unwrap().as_bytes()).unwrap();
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    (Arc::new(cfg), ca_pem)
}
