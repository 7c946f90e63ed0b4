//! The render engine's Vault/OpenBao backend ([`crate::backend::Backend`] over the one
//! [`VaultClient`] of a run), next to the sops backend in `crate::backend::sops`.

use super::{ReadOrigin, VaultClient, VaultError, VaultErrorKind};
use crate::backend::{
    Backend, BackendError, CanonicalFuture, Fetch, FetchFuture, KvVersion, SecretId, Stamp,
    version_of,
};

/// The Vault/OpenBao backend: one shared client per run (its own concurrency bound, retries,
/// mount-version cache and token handling live in the client).
///
/// Fail fast: the first failure that every later request of the run would repeat (the server
/// cannot be reached after the client's retries, TLS, a refused login, the deadline — see
/// [`down_for_the_run`]) is kept, and every later lookup or fetch fails at once with it
/// instead of retrying until the run's deadline. Its message names the server, not a path, so
/// the report groups every reference it affected into one line.
pub struct VaultBackend {
    client: Result<VaultClient, String>,
    /// `SEALBRIDGE_PATH_PREFIX`, which the client puts in front of every path (the probe
    /// looks up the mount the client will).
    path_prefix: Option<String>,
    down: std::sync::OnceLock<BackendError>,
    /// The operator's fingerprint key (`SEALBRIDGE_FINGERPRINT_KEY_FILE`): the `version` of a
    /// KV v1 secret (which keeps no versions) is then a keyed fingerprint of its value.
    fingerprint_key: Option<std::sync::Arc<zeroize::Zeroizing<Vec<u8>>>>,
    /// One mount probe at a time (the client serialises mount lookups anyway): after a
    /// failure, the waiting probes see it instead of trying again.
    probe: tokio::sync::Mutex<()>,
}

impl VaultBackend {
    /// Wraps a connected client.
    pub fn new(client: VaultClient) -> Self {
        VaultBackend {
            client: Ok(client),
            path_prefix: None,
            fingerprint_key: None,
            down: std::sync::OnceLock::new(),
            probe: tokio::sync::Mutex::new(()),
        }
    }

    /// A backend that fails every fetch with "not configured: `why`" (so runs that need no
    /// Vault still work without `VAULT_ADDR`).
    pub fn unconfigured(why: String) -> Self {
        VaultBackend {
            client: Err(why),
            path_prefix: None,
            fingerprint_key: None,
            down: std::sync::OnceLock::new(),
            probe: tokio::sync::Mutex::new(()),
        }
    }

    /// The operator's fingerprint key, for the `version` of KV v1 secrets.
    pub fn with_fingerprint_key(
        mut self,
        key: Option<std::sync::Arc<zeroize::Zeroizing<Vec<u8>>>>,
    ) -> Self {
        self.fingerprint_key = key;
        self
    }

    /// The client's path prefix (`SEALBRIDGE_PATH_PREFIX`), for its mount probe.
    pub fn with_path_prefix(mut self, prefix: Option<String>) -> Self {
        self.path_prefix = prefix;
        self
    }

    /// Keeps `e` when it is a failure of the whole server; returns the error to report.
    fn note(&self, e: VaultError, id: &SecretId) -> BackendError {
        if down_for_the_run(&e) {
            let whole = VaultError::new(e.kind(), e.detail()).with_addr(e.address().unwrap_or(""));
            let whole = match (e.kind(), e.path()) {
                // The login endpoint says which auth method failed.
                (VaultErrorKind::Auth, Some(p)) => whole.with_path(p),
                _ => whole,
            };
            let err = match e.kind() {
                VaultErrorKind::Auth => BackendError::Other(whole.to_string()),
                _ => BackendError::Unreachable(whole.to_string()),
            };
            return self.down.get_or_init(|| err).clone();
        }
        vault_error(e, id)
    }
}

/// True for a Vault failure that no later request of the run can avoid: no connection to the
/// server after the client's retries (refused, no route, DNS), a TLS failure, a refused
/// login, the run's deadline. Not a timeout, a cut-off response or an HTTP 5xx: those may be
/// one request's or one path's (a slow dynamic-secrets engine).
pub fn down_for_the_run(e: &VaultError) -> bool {
    match e.kind() {
        VaultErrorKind::Tls | VaultErrorKind::Auth | VaultErrorKind::Deadline => true,
        VaultErrorKind::Unreachable => e.detail().starts_with("connection failed"),
        _ => false,
    }
}

impl Backend for VaultBackend {
    fn fetch<'a>(&'a self, id: &'a SecretId) -> FetchFuture<'a> {
        Box::pin(async move {
            let client = self
                .client
                .as_ref()
                .map_err(|why| BackendError::NotConfigured(why.clone()))?;
            if let Some(down) = self.down.get() {
                return Err(down.clone());
            }
            if id.metadata {
                return match client.kv_metadata(&id.path, id.kv_version).await {
                    Ok((value, path)) => {
                        let stamp = version_of(&value).map(|version| Stamp {
                            source: format!("kv2:{path}"),
                            version,
                        });
                        Ok(Fetch { value, stamp })
                    }
                    Err(e)
                        if e.kind() == VaultErrorKind::InvalidPath
                            && e.detail().contains("keeps no versions") =>
                    {
                        let Some(key) = &self.fingerprint_key else {
                            return Err(self.note(e, id));
                        };
                        // KV v1 (a mount the lookup finds to be KV v1, or the kv-version 1
                        // annotation): a keyed fingerprint of the value stands in for a
                        // version. Never another engine: reading a dynamic secret makes new
                        // credentials, and its fingerprint changes at every read.
                        let kv1 = if id.kv_version == Some(KvVersion::V1) {
                            None
                        } else {
                            match client.kv1_path(&id.path).await {
                                Some(p) => Some(p),
                                None => return Err(self.note(e, id)),
                            }
                        };
                        let value = client
                            .read_kv(None, &id.path, None, id.kv_version)
                            .await
                            .map_err(|e| self.note(e, id))?;
                        let value = fingerprint(key, &value);
                        let stamp = kv1.and_then(|path| {
                            version_of(&value).map(|version| Stamp {
                                source: format!("kv1:{path}"),
                                version,
                            })
                        });
                        Ok(Fetch { value, stamp })
                    }
                    Err(e) => Err(self.note(e, id)),
                };
            }
            let (value, origin) = client
                .read_kv_stamped(None, &id.path, id.version, id.kv_version)
                .await
                .map_err(|e| self.note(e, id))?;
            let stamp = match origin {
                Some(ReadOrigin::Kv2 { path, version }) => Some(Stamp {
                    source: format!("kv2:{path}"),
                    version: version.to_string(),
                }),
                Some(ReadOrigin::Kv1 { path }) => self.fingerprint_key.as_ref().and_then(|key| {
                    version_of(&fingerprint(key, &value)).map(|version| Stamp {
                        source: format!("kv1:{path}"),
                        version,
                    })
                }),
                // A pinned version cannot change by itself (only with the commit that pins
                // another): a stamp for pod-template checksums, never re-checked.
                None => id.version.map(|v| Stamp {
                    source: format!("pinned:{}", id.path),
                    version: v.to_string(),
                }),
            };
            Ok(Fetch { value, stamp })
        })
    }

    fn canonical<'a>(&'a self, id: &'a SecretId) -> CanonicalFuture<'a> {
        Box::pin(async move {
            let client = self.client.as_ref().ok()?;
            if id.kv_version != Some(KvVersion::V1) {
                // The mount lookup `request_key` makes, with its error seen (the answer is
                // cached per mount by the client: no extra request when it succeeds).
                let _one = self.probe.lock().await;
                if self.down.get().is_some() {
                    return None;
                }
                let path = match self.path_prefix.as_deref().map(|p| p.trim_matches('/')) {
                    Some(prefix) if !prefix.is_empty() => format!("{prefix}/{}", id.path),
                    _ => id.path.clone(),
                };
                if let Err(e) = client.mount_type(&path).await {
                    self.note(e, id);
                }
            }
            if self.down.get().is_some() {
                return None;
            }
            client.request_key(None, &id.path, id.kv_version).await
        })
    }

    fn location(&self) -> Option<String> {
        let client = self.client.as_ref().ok()?;
        Some(format!("Vault at {}", client.address()))
    }
}

fn vault_error(e: VaultError, id: &SecretId) -> BackendError {
    match e.kind() {
        VaultErrorKind::NotFound => BackendError::NotFound {
            version: id.version,
            // The client's generic wordings add nothing to "no secret at <id>".
            reason: Some(e.detail().to_owned()).filter(|d| {
                d != "no secret at this path" && d != "no such secret or no such version"
            }),
        },
        VaultErrorKind::PermissionDenied => BackendError::PermissionDenied(e.detail().to_owned()),
        VaultErrorKind::Unreachable | VaultErrorKind::Tls | VaultErrorKind::Deadline => {
            BackendError::Unreachable(e.to_string())
        }
        VaultErrorKind::Config => BackendError::NotConfigured(e.to_string()),
        VaultErrorKind::Refused => BackendError::Refused(e.detail().to_owned()),
        _ => BackendError::Other(e.to_string()),
    }
}

/// `{version: "kv1-<24 hex of HMAC-SHA256(key, canonical JSON of the secret)>", updated: ""}`.
fn fingerprint(key: &[u8], value: &crate::secret::SecretValue) -> crate::secret::SecretValue {
    let version = format!(
        "kv1-{}",
        crate::placeholder::value::keyed_fingerprint(key, value)
    );
    crate::backend::version_map(&version, "")
}
