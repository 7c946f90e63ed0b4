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
    body: String,
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
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length.min(1 << 20)];
    if stream.read_exact(&mut body).is_err() {
        return;
    }
    let req = Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let authorized = req.header("authorization") == Some(&format!("Bearer {KUBE_TOKEN}"));
    let (status, body) = if !authorized {
        (
            401,
            status_object(401, "Unauthorized", "Unauthorized", None),
        )
    } else {
        // `METHOD path`, then the path, then the path without its query.
        let bare = req.path.split('?').next().unwrap_or("");
        routes
            .get(&format!("{} {}", req.method, req.path))
            .or_else(|| routes.get(&format!("{} {bare}", req.method)))
            .or_else(|| {
                (req.method == "GET")
                    .then(|| routes.get(&req.path))
                    .flatten()
            })
            .or_else(|| (req.method == "GET").then(|| routes.get(bare)).flatten())
            .cloned()
            .unwrap_or_else(|| {
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

// ---------------------------------------------------------------------------------------------
// `sealbridge refresh`: Argo CD Applications whose recorded secret versions changed get
// `argocd.argoproj.io/refresh: hard`, exactly as `kubectl annotate` would set it.

const APPS: &str = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications";
const METADATA_ACCEPT: &str = "as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const SOURCES: &str = "sealbridge.io/secret-sources";
const VERSIONS: &str = "sealbridge.io/secret-versions";

/// An Argo CD `Application` as the API returns it, managing `resources` (kind, ns, name).
fn application(name: &str, resources: &[(&str, &str, &str)], pending: bool) -> Value {
    let resources: Vec<Value> = resources
        .iter()
        .map(|(kind, ns, n)| {
            let (group, version) = match *kind {
                "Deployment" => ("apps", "v1"),
                _ => ("", "v1"),
            };
            json!({"group": group, "version": version, "kind": kind, "namespace": ns,
                   "name": n, "status": "Synced", "health": {"status": "Healthy"}})
        })
        .collect();
    let mut annotations = serde_json::Map::new();
    if pending {
        annotations.insert("argocd.argoproj.io/refresh".into(), json!("normal"));
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "annotations": annotations,
                     "resourceVersion": "99120", "uid": format!("uid-{name}")},
        "spec": {"project": "default",
                 "source": {"repoURL": "https://git.example/apps.git", "path": name,
                            "plugin": {"name": "sealbridge"}},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": name}},
        "status": {"resources": resources, "sync": {"status": "Synced"}}
    })
}

/// What `GET …` with the `PartialObjectMetadata` Accept header returns for an object.
fn partial_metadata(name: &str, ns: &str, annotations: &[(String, String)]) -> (u16, Value) {
    let ann: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    (
        200,
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
               "metadata": {"name": name, "namespace": ns, "annotations": ann,
                            "resourceVersion": "77", "uid": format!("uid-{ns}-{name}")}}),
    )
}

/// Renders a Secret referencing `refs` (key → `path#key`) with the record on; returns its two
/// recorded annotations.
fn rendered_record(
    bao: &OpenBao,
    dir: &Path,
    name: &str,
    refs: &[&str],
    env: &[(&str, &Path)],
) -> Vec<(String, String)> {
    let mut yaml =
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\nstringData:\n");
    for (i, r) in refs.iter().enumerate() {
        yaml.push_str(&format!("  k{i}: <path:{r}>\n"));
    }
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealbridge"));
    cmd.args(["render", file.to_str().unwrap()])
        .envs(vault_settings(bao))
        .env("SEALBRIDGE_RECORD_VERSIONS", "true")
        .envs(env.iter().copied())
        .env_remove("KUBECONFIG");
    let o = run(&mut cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    [SOURCES, VERSIONS]
        .iter()
        .map(|k| {
            let v = text
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{k}: ")))
                .unwrap_or_else(|| panic!("no {k} in {text}"));
            ((*k).to_owned(), v.trim_matches(['"', '\'']).to_owned())
        })
        .collect()
}

fn refresh(bao: &OpenBao, dir: &Path, api: &FakeApi, args: &[&str]) -> Output {
    refresh_with(bao, dir, api, args, &[])
}

fn refresh_with(
    bao: &OpenBao,
    dir: &Path,
    api: &FakeApi,
    args: &[&str],
    env: &[(&str, &Path)],
) -> Output {
    let kubeconfig = kubeconfig(dir, &api.url);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealbridge"));
    cmd.arg("refresh")
        .args(args)
        .current_dir(dir)
        .envs(vault_settings(bao))
        .envs(env.iter().copied())
        .env("KUBECONFIG", &kubeconfig);
    run(&mut cmd)
}

fn patches(api: &FakeApi) -> Vec<Seen> {
    api.seen()
        .into_iter()
        .filter(|s| s.method != "GET")
        .collect()
}

#[test]
fn refresh_patches_only_the_applications_whose_secrets_changed() {
    let bao = support::openbao();
    let kv = bao.new_kv2();
    bao.kv2_put(&kv, "db", json!({"password": "refresh-db-1"}));
    bao.kv2_put(&kv, "api", json!({"token": "refresh-api-1"}));
    bao.kv2_put(&kv, "other", json!({"x": "refresh-other-1"}));
    let dir = support::tempdir();
    let d = dir.path();
    let db = format!("{kv}/data/db#password");
    let apikey = format!("{kv}/data/api#token");
    let other = format!("{kv}/data/other#x");
    let rec_a = rendered_record(bao, d, "a", &[&db], &[]);
    let rec_b = rendered_record(bao, d, "b", &[&db, &apikey], &[]);
    let rec_c = rendered_record(bao, d, "c", &[&apikey], &[]);
    let rec_d = rendered_record(bao, d, "d", &[&other], &[]);

    let mut routes: HashMap<String, (u16, Value)> = HashMap::new();
    routes.insert(
        APPS.to_owned(),
        (
            200,
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationList",
                   "metadata": {"resourceVersion": "99121"},
                   "items": [
                       application("app-a", &[("Secret", "team-a", "a"), ("Deployment", "team-a", "web")], false),
                       application("app-b", &[("Secret", "team-b", "b"), ("Service", "team-b", "svc")], false),
                       application("app-c", &[("Secret", "team-c", "c")], false),
                       application("app-d", &[("Secret", "team-d", "d")], true),
                       application("app-e", &[("ConfigMap", "team-e", "plain")], false),
                   ]}),
        ),
    );
    for (ns, name, rec) in [
        ("team-a", "a", &rec_a),
        ("team-b", "b", &rec_b),
        ("team-c", "c", &rec_c),
        ("team-d", "d", &rec_d),
    ] {
        routes.insert(
            format!("/api/v1/namespaces/{ns}/secrets/{name}"),
            partial_metadata(name, ns, rec),
        );
    }
    routes.insert(
        "/api/v1/namespaces/team-e/configmaps/plain".to_owned(),
        partial_metadata("plain", "team-e", &[]),
    );
    for app in ["app-a", "app-b", "app-c", "app-d", "app-e"] {
        routes.insert(
            format!("PATCH {APPS}/{app}"),
            (200, application(app, &[], true)),
        );
    }

    // Nothing changed yet: nothing is patched.
    let api = FakeApi::start(routes.clone(), None);
    let o = refresh(bao, d, &api, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(patches(&api).is_empty(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("5 application(s): 0 refreshed, 4 up to date, 0 pending, 1 without records, 0 not checked; 4 recorded object(s), 3 secret(s) read"),
        "{}",
        stdout(&o)
    );

    // db and other rotate: the two Applications using db are refreshed; app-d's refresh is
    // already pending; app-c (api only) and app-e (no record) are left alone.
    bao.kv2_put(&kv, "db", json!({"password": "refresh-db-2"}));
    bao.kv2_put(&kv, "other", json!({"x": "refresh-other-2"}));
    let data_reads_before = bao.count_requests(&format!("{kv}/data/"));
    let meta_before = |s: &str| bao.count_requests(&format!("{kv}/metadata/{s}"));
    let before: Vec<usize> = ["db", "api", "other"]
        .iter()
        .map(|s| meta_before(s))
        .collect();
    let api = FakeApi::start(routes.clone(), None);
    let o = refresh(bao, d, &api, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let patched: Vec<String> = patches(&api)
        .iter()
        .map(|s| s.path.split('?').next().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        patched,
        [format!("{APPS}/app-a"), format!("{APPS}/app-b")],
        "{out}"
    );
    for p in patches(&api) {
        assert_eq!(p.method, "PATCH");
        assert_eq!(
            p.header("content-type"),
            Some("application/merge-patch+json")
        );
        let body: Value = serde_json::from_str(&p.body).unwrap();
        assert_eq!(
            body,
            json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}})
        );
    }
    assert!(
        out.contains("argocd/app-a: refreshed (changed secrets: Secret team-a/a)"),
        "{out}"
    );
    assert!(out.contains("argocd/app-d: refresh pending"), "{out}");
    assert!(!out.contains("app-c"), "{out}");
    // Objects were read as metadata only (a Secret's data never crosses the wire).
    for s in api.seen().iter().filter(|s| s.path.contains("/secrets/")) {
        assert!(
            s.header("accept")
                .is_some_and(|a| a.contains(METADATA_ACCEPT)),
            "{s:?}"
        );
    }
    // One metadata read per distinct secret, shared by the Applications; no value read.
    let after: Vec<usize> = ["db", "api", "other"]
        .iter()
        .map(|s| meta_before(s))
        .collect();
    let reads: Vec<usize> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(reads, [1, 1, 1]);
    assert_eq!(
        bao.count_requests(&format!("{kv}/data/")),
        data_reads_before
    );
    for v in ["refresh-db", "refresh-api", "refresh-other"] {
        assert!(!out.contains(v) && !stderr(&o).contains(v));
    }
    assert_clean(&stderr(&o), bao);

    // --dry-run says the same and patches nothing; JSON has one object per cycle.
    let api = FakeApi::start(routes.clone(), None);
    let o = refresh(bao, d, &api, &["--dry-run", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(patches(&api).is_empty());
    let report: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let outcome = |app: &str| {
        report["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["application"] == format!("argocd/{app}"))
            .map(|a| a["outcome"].as_str().unwrap().to_owned())
    };
    assert_eq!(outcome("app-a").as_deref(), Some("would-refresh"));
    assert_eq!(outcome("app-b").as_deref(), Some("would-refresh"));
    assert_eq!(outcome("app-c").as_deref(), Some("up-to-date"));
    assert_eq!(outcome("app-d").as_deref(), Some("pending"));
    assert_eq!(outcome("app-e").as_deref(), Some("not-recorded"));

    // --watch: a cycle every --interval, here two of them, each patching again (this stand-in
    // does not remove the annotation as Argo CD does).
    let api = FakeApi::start(routes, None);
    let o = refresh(
        bao,
        d,
        &api,
        &[
            "--watch",
            "--interval",
            "1s",
            "--jitter",
            "100ms",
            "--cycles",
            "2",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(patches(&api).len(), 4);
    assert_eq!(stdout(&o).matches("application(s):").count(), 2);
}

#[test]
fn refresh_treats_recorded_sources_as_untrusted() {
    let bao = support::openbao();
    let kv = bao.new_kv2();
    bao.kv2_put(&kv, "db", json!({"password": "untrusted-db-1"}));
    let dir = support::tempdir();
    let d = dir.path();
    // A tenant's own manifest can carry any annotation: a system path, a dynamic-secrets
    // path, a malformed list. None is read; the Application is reported, not patched.
    let forged = |sources: &str| {
        vec![
            (SOURCES.to_owned(), sources.to_owned()),
            (VERSIONS.to_owned(), "sha256:00".to_owned()),
        ]
    };
    let mut routes: HashMap<String, (u16, Value)> = HashMap::new();
    routes.insert(
        APPS.to_owned(),
        (
            200,
            json!({"kind": "ApplicationList", "apiVersion": "argoproj.io/v1alpha1",
            "metadata": {}, "items": [
                application("sys", &[("Secret", "t", "sys")], false),
                application("dyn", &[("Secret", "t", "dyn")], false),
                application("bad", &[("Secret", "t", "bad")], false),
                application("path", &[("Secret", "../../../apis/x", "y")], false),
            ]}),
        ),
    );
    routes.insert(
        "/api/v1/namespaces/t/secrets/sys".into(),
        partial_metadata("sys", "t", &forged("kv2:sys/raw/core")),
    );
    routes.insert(
        "/api/v1/namespaces/t/secrets/dyn".into(),
        partial_metadata("dyn", "t", &forged("kv1:database/creds/admin")),
    );
    routes.insert(
        "/api/v1/namespaces/t/secrets/bad".into(),
        partial_metadata("bad", "t", &forged("kv2:a/../../sys/raw")),
    );
    let api = FakeApi::start(routes, None);
    let key = d.join("key");
    std::fs::write(&key, b"0123456789abcdef-refresh-key").unwrap();
    let kubeconfig = kubeconfig(d, &api.url);
    let o = run(Command::new(env!("CARGO_BIN_EXE_sealbridge"))
        .args(["refresh"])
        .envs(vault_settings(bao))
        .env("KUBECONFIG", &kubeconfig)
        .env("SEALBRIDGE_FINGERPRINT_KEY_FILE", &key));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(patches(&api).is_empty());
    let out = stdout(&o);
    for app in ["sys", "dyn", "bad", "path"] {
        assert!(out.contains(&format!("argocd/{app}: NOT CHECKED")), "{out}");
    }
    assert!(out.contains("not a valid object reference"), "{out}");
    // Nothing but mount lookups reached Vault for those paths.
    for v in bao.audit_requests() {
        let p = v["request"]["path"].as_str().unwrap_or("");
        assert!(
            !p.starts_with("sys/raw") && !p.starts_with("database/"),
            "refresh requested {p}"
        );
    }
    assert!(!api.seen().iter().any(|s| s.path.contains("/apis/x")));
}

#[test]
fn refresh_checks_kv1_secrets_by_the_operators_keyed_fingerprint() {
    let bao = support::openbao();
    let kv1 = bao.new_kv1();
    bao.kv1_put(&kv1, "legacy", json!({"key": "refresh-kv1-1"}));
    let dir = support::tempdir();
    let d = dir.path();
    let key = d.join("fingerprint.key");
    std::fs::write(&key, b"0123456789abcdef-refresh-kv1").unwrap();
    let env = [("SEALBRIDGE_FINGERPRINT_KEY_FILE", key.as_path())];
    let rec = rendered_record(bao, d, "legacy", &[&format!("{kv1}/legacy#key")], &env);
    assert_eq!(rec[0].1, format!("kv1:{kv1}/legacy"));
    let mut routes: HashMap<String, (u16, Value)> = HashMap::new();
    routes.insert(
        APPS.to_owned(),
        (
            200,
            json!({"kind": "ApplicationList", "apiVersion": "argoproj.io/v1alpha1",
                   "metadata": {}, "items": [application("legacy", &[("Secret", "t", "legacy")], false)]}),
        ),
    );
    routes.insert(
        "/api/v1/namespaces/t/secrets/legacy".into(),
        partial_metadata("legacy", "t", &rec),
    );
    routes.insert(
        format!("PATCH {APPS}/legacy"),
        (200, application("legacy", &[], true)),
    );
    // Unchanged: up to date. Without the key the source cannot be checked (exit 1, no patch).
    let api = FakeApi::start(routes.clone(), None);
    let o = refresh_with(bao, d, &api, &[], &env);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(patches(&api).is_empty());
    let o = refresh(bao, d, &api, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("SEALBRIDGE_FINGERPRINT_KEY_FILE"),
        "{}",
        stdout(&o)
    );
    assert!(patches(&api).is_empty());
    // Changed: refreshed.
    bao.kv1_put(&kv1, "legacy", json!({"key": "refresh-kv1-2"}));
    let o = refresh_with(bao, d, &api, &[], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(patches(&api).len(), 1, "{}", stdout(&o));
    assert!(!stdout(&o).contains("refresh-kv1"));

    // Applications in any namespace (-A): listed cluster-wide, patched in their own namespace.
    let mut app = application("legacy", &[("Secret", "t", "legacy")], false);
    app["metadata"]["namespace"] = json!("team-apps");
    routes.insert(
        "/apis/argoproj.io/v1alpha1/applications".to_owned(),
        (
            200,
            json!({"kind": "ApplicationList", "apiVersion": "argoproj.io/v1alpha1",
                   "metadata": {}, "items": [app]}),
        ),
    );
    routes.insert(
        "PATCH /apis/argoproj.io/v1alpha1/namespaces/team-apps/applications/legacy".to_owned(),
        (200, application("legacy", &[], true)),
    );
    let api = FakeApi::start(routes, None);
    let o = refresh_with(bao, d, &api, &["--all-namespaces"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let patched: Vec<String> = patches(&api).iter().map(|p| p.path.clone()).collect();
    assert_eq!(patched.len(), 1, "{}", stdout(&o));
    assert!(
        patched[0]
            .starts_with("/apis/argoproj.io/v1alpha1/namespaces/team-apps/applications/legacy"),
        "{patched:?}"
    );
    assert!(
        stdout(&o).contains("team-apps/legacy: refreshed"),
        "{}",
        stdout(&o)
    );
}

/// `refresh --watch` in a Deployment: SIGTERM between cycles ends it at once with exit 0.
#[test]
fn refresh_watch_stops_cleanly_on_sigterm_between_cycles() {
    use std::io::BufRead as _;
    let bao = support::openbao();
    let dir = support::tempdir();
    let d = dir.path();
    let mut routes: HashMap<String, (u16, Value)> = HashMap::new();
    routes.insert(
        APPS.to_owned(),
        (
            200,
            json!({"kind": "ApplicationList", "apiVersion": "argoproj.io/v1alpha1",
                   "metadata": {}, "items": []}),
        ),
    );
    let api = FakeApi::start(routes, None);
    let kubeconfig = kubeconfig(d, &api.url);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sealbridge"))
        .args(["refresh", "--watch", "--interval", "1h"])
        .envs(vault_settings(bao))
        .env("KUBECONFIG", &kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // The first cycle's summary, then the hour-long wait.
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the first cycle's summary");
    assert!(line.contains("0 application(s)"), "{line}");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = support::poll(
        std::time::Duration::from_secs(30),
        "refresh --watch to exit after SIGTERM",
        || child.try_wait().unwrap(),
    );
    assert_eq!(status.code(), Some(0), "{status:?}");
}
