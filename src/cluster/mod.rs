//! Settings from a Kubernetes Secret: argocd-vault-plugin's `-s/--secret-name [namespace:]name`
//! (built with the `kube` cargo feature).
//!
//! One request, `GET /api/v1/namespaces/{namespace}/secrets/{name}` — a read by name, never a
//! LIST or WATCH — so RBAC restricted with `resourceNames: [name]` is enough. Credentials come
//! from a kubeconfig (`KUBECONFIG`, `~/.kube/config`) when there is one, else from the pod's
//! service account (`KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`, the token and CA in
//! `/var/run/secrets/kubernetes.io/serviceaccount/`, or the directory named by
//! `SEALBRIDGE_KUBE_SERVICEACCOUNT_DIR`).
//!
//! The response body is copied into a zeroizing buffer and each `data` value is base64-decoded
//! straight into a [`Sensitive`]; nothing here formats a value. Errors name the Secret and the
//! API server, never a value. (The HTTP stack's own read buffers are outside our control, as
//! for the Vault client.)

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::chain;
use crate::secret::Sensitive;
use crate::settings::SecretSettings;

pub mod refresh;

/// The namespace of `-s name` without `namespace:` (as in argocd-vault-plugin).
pub const DEFAULT_NAMESPACE: &str = "argocd";

/// Where a pod's service-account token, CA and namespace are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Environment variable that moves [`SERVICE_ACCOUNT_DIR`] (a projected token elsewhere).
pub const SERVICE_ACCOUNT_DIR_VAR: &str = "SEALBRIDGE_KUBE_SERVICEACCOUNT_DIR";

/// Bound on connecting to, and reading from, the API server.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Failures reading the settings Secret. Messages name the Secret, never a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// `-s` is not `[namespace:]name` with valid Kubernetes names.
    #[error("--secret-name {given:?}: {why} (expected [namespace:]name, e.g. argocd:avp-config)")]
    BadName {
        /// What was given.
        given: String,
        /// What is wrong.
        why: String,
    },
    /// No way to reach a cluster, or the kubeconfig / service account files are unusable.
    #[error("cannot read Secret {secret}: {detail}")]
    Config {
        /// `namespace/name`.
        secret: SecretRef,
        /// What is missing or wrong.
        detail: String,
    },
    /// The API server could not be reached or did not answer in time.
    #[error(
        "cannot read Secret {secret}: the Kubernetes API server {server} could not be reached: {detail}"
    )]
    Unreachable {
        /// `namespace/name`.
        secret: SecretRef,
        /// The API server URL.
        server: String,
        /// What failed.
        detail: String,
    },
    /// HTTP 404.
    #[error(
        "Secret {secret} was not found (API server {server}): create it, or fix -s/--secret-name"
    )]
    NotFound {
        /// `namespace/name`.
        secret: SecretRef,
        /// The API server URL.
        server: String,
    },
    /// HTTP 401/403.
    #[error(
        "reading Secret {secret} was refused (HTTP {status}): {message}; the service account \
         needs `get` on secrets named {name} in namespace {namespace} (see docs/argocd.md)",
        name = secret.name, namespace = secret.namespace
    )]
    Denied {
        /// `namespace/name`.
        secret: SecretRef,
        /// 401 or 403.
        status: u16,
        /// The API server's `Status.message`.
        message: String,
    },
    /// Any other unexpected answer.
    #[error("cannot read Secret {secret}: the API server {server} answered {detail}")]
    Response {
        /// `namespace/name`.
        secret: SecretRef,
        /// The API server URL.
        server: String,
        /// Status and message (never the body of a successful response).
        detail: String,
    },
}

impl ClusterError {
    /// True for errors of the command line or the environment (exit 2); the rest exit 1.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ClusterError::BadName { .. } | ClusterError::Config { .. }
        )
    }
}

/// `[namespace:]name` of the settings Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The namespace (default [`DEFAULT_NAMESPACE`]).
    pub namespace: String,
    /// The Secret's name.
    pub name: String,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A DNS-1123 subdomain (Secret names) or, with `label`, a DNS-1123 label (namespaces).
fn valid_name(s: &str, label: bool) -> bool {
    let max = if label { 63 } else { 253 };
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    !s.is_empty()
        && s.len() <= max
        && if label {
            part_ok(s)
        } else {
            s.split('.').all(|p| part_ok(p) && p.len() <= 63)
        }
}

impl SecretRef {
    /// Parses `name` or `namespace:name`; both must be valid Kubernetes names, so the request
    /// path needs no escaping and cannot be steered elsewhere.
    pub fn parse(given: &str) -> Result<SecretRef, ClusterError> {
        let bad = |why: &str| ClusterError::BadName {
            given: given.to_owned(),
            why: why.to_owned(),
        };
        let (namespace, name) = match given.split_once(':') {
            Some((ns, name)) => (ns, name),
            None => (DEFAULT_NAMESPACE, given),
        };
        if !valid_name(namespace, true) {
            return Err(bad(
                "the namespace must be a DNS label (lower-case letters, digits, '-')",
            ));
        }
        if !valid_name(name, false) {
            return Err(bad(
                "the Secret name must be a DNS subdomain (lower-case letters, digits, '-', '.')",
            ));
        }
        Ok(SecretRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The API path of the one request made: a GET by name.
    pub fn api_path(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/secrets/{}",
            self.namespace, self.name
        )
    }
}

/// Where the Kubernetes credentials come from (read from the process environment by
/// [`ClusterEnv::from_process`]).
#[derive(Debug, Clone, Default)]
pub struct ClusterEnv {
    /// `KUBECONFIG` (kube reads it itself; kept to decide whether a kubeconfig exists).
    pub kubeconfig: Option<String>,
    /// `HOME` (for `~/.kube/config`).
    pub home: Option<PathBuf>,
    /// `KUBERNETES_SERVICE_HOST`.
    pub service_host: Option<String>,
    /// `KUBERNETES_SERVICE_PORT`.
    pub service_port: Option<String>,
    /// The service-account directory (token, ca.crt).
    pub service_account_dir: PathBuf,
}

impl ClusterEnv {
    /// Reads the variables above from the environment.
    pub fn from_process() -> ClusterEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        ClusterEnv {
            kubeconfig: var("KUBECONFIG"),
            home: var("HOME").map(PathBuf::from),
            service_host: var("KUBERNETES_SERVICE_HOST"),
            service_port: var("KUBERNETES_SERVICE_PORT"),
            service_account_dir: var(SERVICE_ACCOUNT_DIR_VAR)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR)),
        }
    }

    fn has_kubeconfig(&self) -> bool {
        self.kubeconfig.is_some()
            || self
                .home
                .as_ref()
                .is_some_and(|h| h.join(".kube").join("config").is_file())
    }
}

/// Reads the Secret `r` and returns its decoded `data` as settings. Blocking (on the process's
/// runtime, [`crate::runtime`]); bounded by `timeout`.
pub fn read_settings(
    r: &SecretRef,
    env: &ClusterEnv,
    timeout: Duration,
) -> Result<SecretSettings, ClusterError> {
    crate::runtime::block_on(read_settings_async(r, env, timeout)).map_err(|detail| {
        ClusterError::Config {
            secret: r.clone(),
            detail,
        }
    })?
}

/// Async form of [`read_settings`].
pub async fn read_settings_async(
    r: &SecretRef,
    env: &ClusterEnv,
    timeout: Duration,
) -> Result<SecretSettings, ClusterError> {
    // kube builds rustls configs with the process-wide provider; install ring first (a no-op
    // when the CLI already did) so provider selection can never panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = config(r, env, timeout).await?;
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_owned();
    let client = kube::Client::try_from(config).map_err(|e| ClusterError::Config {
        secret: r.clone(),
        detail: format!("cannot build the Kubernetes client: {}", chain(&e)),
    })?;
    let unreachable = |detail: String| ClusterError::Unreachable {
        secret: r.clone(),
        server: server.clone(),
        detail,
    };
    // kube's own request builder: `GET {url_path}/{name}` with no query (a GET by name).
    let request = kube::core::Request::new(format!("/api/v1/namespaces/{}/secrets", r.namespace))
        .get(&r.name, &kube::api::GetParams::default())
        .map_err(|e| ClusterError::Config {
            secret: r.clone(),
            detail: format!("cannot build the request: {e}"),
        })?
        .map(kube::client::Body::from);
    tracing::debug!(secret = %r, server = %server, "reading settings Secret");
    let fetch = async {
        let res = client
            .send(request)
            .await
            .map_err(|e| unreachable(chain(&e)))?;
        let status = res.status().as_u16();
        let body = res
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| unreachable(chain(&e)))?;
        Ok::<_, ClusterError>((status, Zeroizing::new(Vec::from(body))))
    };
    let (status, body) = tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| unreachable(format!("no answer within {timeout:?}")))??;
    match status {
        200 => {
            let values = decode_secret(&body).map_err(|detail| ClusterError::Response {
                secret: r.clone(),
                server: server.clone(),
                detail,
            })?;
            tracing::debug!(
                secret = %r,
                keys = ?values.keys().collect::<Vec<_>>(),
                "read settings Secret"
            );
            Ok(SecretSettings {
                origin: format!("Secret {r}"),
                values,
            })
        }
        404 => Err(ClusterError::NotFound {
            secret: r.clone(),
            server,
        }),
        401 | 403 => Err(ClusterError::Denied {
            secret: r.clone(),
            status,
            message: status_message(&body).unwrap_or_else(|| {
                if status == 401 {
                    "unauthorized (the token was not accepted)".to_owned()
                } else {
                    "forbidden".to_owned()
                }
            }),
        }),
        _ => Err(ClusterError::Response {
            secret: r.clone(),
            server,
            detail: match status_message(&body) {
                Some(m) => format!("HTTP {status}: {m}"),
                None => format!("HTTP {status}"),
            },
        }),
    }
}

/// The kubeconfig when there is one (as kube and client-go do), else the pod's service account.
async fn config(
    r: &SecretRef,
    env: &ClusterEnv,
    timeout: Duration,
) -> Result<kube::Config, ClusterError> {
    kube_config(env, timeout, "-s/--secret-name")
        .await
        .map_err(|detail| ClusterError::Config {
            secret: r.clone(),
            detail,
        })
}

/// The client configuration: the kubeconfig when there is one (as kube and client-go do), else
/// the pod's service account; connect and read bounded by `timeout`. `needed_by` names what
/// needs a cluster, for the error when there is none.
pub(crate) async fn kube_config(
    env: &ClusterEnv,
    timeout: Duration,
    needed_by: &str,
) -> Result<kube::Config, String> {
    let mut config = if env.has_kubeconfig() {
        kube::Config::from_kubeconfig(&kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| format!("the kubeconfig is unusable: {}", chain(&e)))?
    } else if let Some(host) = &env.service_host {
        in_cluster(host, env)?
    } else {
        return Err(format!(
            "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset) and no \
             kubeconfig (KUBECONFIG, ~/.kube/config); {needed_by} needs one of them"
        ));
    };
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    Ok(config)
}

/// The in-cluster configuration, as kube's `Config::incluster_env` builds it but with the
/// service-account directory taken from `env`.
fn in_cluster(host: &str, env: &ClusterEnv) -> Result<kube::Config, String> {
    let port = match &env.service_port {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("KUBERNETES_SERVICE_PORT {p:?} is not a port number"))?,
        None => {
            return Err(
                "KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not".to_owned(),
            );
        }
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let url = format!("https://{host}:{port}")
        .parse()
        .map_err(|e| format!("KUBERNETES_SERVICE_HOST {host:?}: not a host name: {e}"))?;
    let dir = &env.service_account_dir;
    let ca_file = dir.join("ca.crt");
    let token_file = dir.join("token");
    let roots = read_ca(&ca_file)?;
    if let Err(e) = std::fs::metadata(&token_file) {
        return Err(format!(
            "the service-account token {}: {e} (is automountServiceAccountToken off?)",
            token_file.display()
        ));
    }
    let mut config = kube::Config::new(url);
    config.root_cert = Some(roots);
    config.auth_info.token_file = Some(token_file.display().to_string());
    Ok(config)
}

fn read_ca(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let pem = std::fs::read(path)
        .map_err(|e| format!("the service-account CA {}: {e}", path.display()))?;
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the service-account CA {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "the service-account CA {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// `Status.message` of an error response, if it is a Kubernetes Status object.
pub(crate) fn status_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Status {
        kind: Option<String>,
        message: Option<String>,
    }
    let s: Status = serde_json::from_slice(body).ok()?;
    if s.kind.as_deref() != Some("Status") {
        return None;
    }
    // Bound what an unexpected server can put into our one-line message.
    s.message
        .filter(|m| !m.is_empty())
        .map(|m| m.chars().take(300).collect())
}

/// A base64 `data` value decoded straight into a [`Sensitive`].
struct Decoded(Sensitive);

impl<'de> Deserialize<'de> for Decoded {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Decoded;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Decoded, E> {
                let mut out = Zeroizing::new(Vec::with_capacity(s.len() / 4 * 3 + 3));
                base64::engine::general_purpose::STANDARD
                    .decode_vec(s, &mut out)
                    .map_err(|_| E::custom("a data value is not valid base64"))?;
                Ok(Decoded(Sensitive::new(std::mem::take(&mut *out))))
            }
        }
        d.deserialize_str(V)
    }
}

/// The decoded `data` of a Secret response; errors never quote the body.
fn decode_secret(body: &[u8]) -> Result<BTreeMap<String, Sensitive>, String> {
    #[derive(Deserialize)]
    struct Wire {
        kind: Option<String>,
        #[serde(default)]
        data: Option<BTreeMap<String, Decoded>>,
    }
    let w: Wire = serde_json::from_slice(body).map_err(|e| {
        format!(
            "a response that is not a Secret (line {} column {}: {})",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof =>
                    "invalid JSON",
                _ => "unexpected content",
            }
        )
    })?;
    if w.kind.as_deref() != Some("Secret") {
        return Err("a response that is not a Secret (kind is not \"Secret\")".to_owned());
    }
    Ok(w.data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

impl From<ClusterError> for crate::error::Error {
    fn from(e: ClusterError) -> Self {
        let status = if e.is_usage() {
            crate::exit::ExitStatus::Usage
        } else {
            crate::exit::ExitStatus::Failure
        };
        crate::error::Error::component(e, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let r = SecretRef::parse("avp-config").unwrap();
        assert_eq!(r.namespace, "argocd");
        assert_eq!(r.api_path(), "/api/v1/namespaces/argocd/secrets/avp-config");
        let r = SecretRef::parse("team-a:vault.creds").unwrap();
        assert_eq!(r.to_string(), "team-a/vault.creds");
        for bad in [
            "",
            ":x",
            "ns:",
            "a:b:c",
            "Avp",
            "../x",
            "x/y",
            "ns:x?watch=1",
            "-x",
            "a..b",
            "ns.dot:x",
        ] {
            let e = SecretRef::parse(bad).unwrap_err();
            assert!(e.is_usage(), "{bad}");
            assert!(e.to_string().contains("--secret-name"), "{e}");
        }
    }

    #[test]
    fn decodes_data_into_sensitive_values() {
        let body = br#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"x"},
            "data":{"VAULT_TOKEN":"cy5hYmM=","EMPTY":""},"type":"Opaque"}"#;
        let m = decode_secret(body).unwrap();
        assert_eq!(m["VAULT_TOKEN"].expose(), b"s.abc");
        assert!(m["EMPTY"].is_empty());
        assert!(
            decode_secret(br#"{"kind":"Secret","metadata":{}}"#)
                .unwrap()
                .is_empty()
        );
        let e =
            decode_secret(br#"{"kind":"Secret","data":{"K":"not base64!c2VjcmV0"}}"#).unwrap_err();
        assert!(!e.contains("c2VjcmV0") && !e.contains("not base64!"), "{e}");
        let e = decode_secret(br#"{"kind":"Secret","data":{"K":12345678}}"#).unwrap_err();
        assert!(!e.contains("12345678"), "{e}");
        let e = decode_secret(br#"{"kind":"ConfigMap","data":{}}"#).unwrap_err();
        assert!(e.contains("not a Secret"), "{e}");
    }

    #[test]
    fn status_messages() {
        let b = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"secrets \"x\" is forbidden","reason":"Forbidden","code":403}"#;
        assert_eq!(
            status_message(b).as_deref(),
            Some("secrets \"x\" is forbidden")
        );
        assert_eq!(status_message(b"<html>"), None);
    }
}
