//! The Vault/OpenBao client: auth, KV and raw reads, transit, with timeouts, retries, a run
//! deadline and bounded concurrency.
//!
//! This is our own small client on reqwest rather than vaultrs (see the "Vault" section of
//! `docs/design.md`): vaultrs has no timeout or retry control, parses bodies into plain
//! `String`s, logs failed requests with their bodies, reads `VAULT_*` itself (treating any odd
//! `VAULT_SKIP_VERIFY` as "skip"), and wraps neither `sys/internal/ui/mounts` nor GitHub login.
//!
//! A [`VaultClient`] is cheap to clone (an `Arc`); all clones share the token, the mount cache,
//! the concurrency bound and the run deadline. Nothing touches the network until the first
//! request; the first request logs in (or reuses a cached token).
//!
//! `crate::cli::install_crypto_provider()` must have run before [`VaultClient::connect`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::backend::KvVersion;
use crate::secret::{SecretValue, Sensitive};

mod auth;
mod backend;
mod cache;
mod config;
mod error;
mod http;
mod json;
mod paths;
mod tls;
pub mod transit;

pub use backend::{VaultBackend, down_for_the_run};

/// Why a reference's Vault path (with the run's path prefix) is refused before any request
/// (system areas: `auth/`, `sys/`, `identity/`, `cubbyhole/`, … in any spelling), for the plan
/// step (`render --list`, `check`); `None` when the client would send it.
pub fn refused_path(path: &str, prefix: Option<&str>) -> Option<String> {
    let full = match prefix
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(p) => format!("{p}/{path}"),
        None => path.to_owned(),
    };
    match http::path_segments(&full) {
        Ok(segs) => paths::refusal_before_lookup(&segs),
        Err(e) => Some(e.detail().to_owned()),
    }
}
pub use config::{
    AuthConfig, DEFAULT_CONCURRENCY, DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RUN_DEADLINE, SecretSource, TlsConfig, TokenCacheConfig, VaultConfig,
};
pub use error::{VaultError, VaultErrorKind};

use auth::Token;
use http::{Request, Response, Transport};
use json::{Envelope, ZStr, Zv};

/// What is mounted at the start of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Engine {
    Kv1,
    Kv2,
    /// Any other engine (`database`, `pki`, `aws`, …): raw GET.
    Other(String),
    /// The lookup was refused or failed (with this HTTP status): fall back to the configured
    /// default KV version.
    Unknown(u16),
}

#[derive(Clone, Debug)]
struct Mount {
    /// The mount path with a trailing slash (`secret/`), relative to the namespace.
    path: String,
    engine: Engine,
}

#[derive(Default)]
struct MountCache {
    /// (namespace, mount path) → engine.
    known: HashMap<(String, String), Engine>,
    /// (namespace, first path segment) → the HTTP status of a lookup that failed (the token
    /// cannot see the mount).
    unknown: HashMap<(String, String), u16>,
}

impl MountCache {
    fn find(&self, ns: &str, path: &str) -> Option<Mount> {
        let mut best: Option<Mount> = None;
        for ((n, m), engine) in &self.known {
            if n == ns
                && (path.starts_with(m.as_str()) || format!("{path}/") == *m)
                && best.as_ref().is_none_or(|b| m.len() > b.path.len())
            {
                best = Some(Mount {
                    path: m.clone(),
                    engine: engine.clone(),
                });
            }
        }
        if best.is_none() {
            let first = path.split('/').next().unwrap_or_default().to_owned();
            if let Some(&status) = self.unknown.get(&(ns.to_owned(), first)) {
                return Some(Mount {
                    path: String::new(),
                    engine: Engine::Unknown(status),
                });
            }
        }
        best
    }
}

struct Inner {
    transport: Transport,
    auth: AuthConfig,
    /// The current token; the lock is held during a login so concurrent requests log in once.
    token: tokio::sync::Mutex<Option<(u64, Token)>>,
    /// Token generation counter (bumped by every new token).
    generation: std::sync::atomic::AtomicU64,
    /// Re-logins after a 403 in this run.
    relogins: AtomicU32,
    /// Successful responses since the current token was installed.
    progress: AtomicU64,
    mounts: tokio::sync::Mutex<MountCache>,
    default_kv_version: Option<KvVersion>,
    cache: Option<cache::TokenCache>,
    path_prefix: Option<String>,
}

/// A connection to one Vault/OpenBao server (one address, one default namespace, one identity).
#[derive(Clone)]
pub struct VaultClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for VaultClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultClient")
            .field("address", &self.inner.transport.addr)
            .field("namespace", &self.inner.transport.namespace)
            .field("auth", &self.inner.auth.method())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct MountData {
    #[serde(default)]
    path: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    options: Option<HashMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct Kv2Data {
    #[serde(default)]
    data: Option<Zv>,
    #[serde(default)]
    metadata: Option<Kv2Meta>,
}

#[derive(Deserialize, Default)]
struct Kv2Meta {
    #[serde(default)]
    deletion_time: String,
    #[serde(default)]
    destroyed: bool,
    #[serde(default)]
    version: Option<u64>,
}

/// What a [`VaultClient::read_kv_stamped`] read, when metadata alone can tell later whether
/// it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOrigin {
    /// The latest version of a KV v2 secret: the data path (`secret/data/app`) and the version
    /// the response named.
    Kv2 {
        /// `mount/data/path`.
        path: String,
        /// The version read.
        version: u64,
    },
    /// A secret in a mount the lookup found to be KV v1: its path.
    Kv1 {
        /// `mount/path`.
        path: String,
    },
}

/// `GET {mount}/metadata/{path}` of KV v2 (only the fields used).
#[derive(Deserialize, Default)]
struct Kv2Metadata {
    #[serde(default)]
    current_version: Option<u64>,
    #[serde(default)]
    updated_time: String,
}

#[derive(Deserialize)]
struct TransitCipher {
    ciphertext: String,
}

#[derive(Deserialize)]
struct TransitPlain {
    plaintext: ZStr,
}

/// The part of `path` that names the mount. The server reports the mount path `reported`
/// relative to the request's namespace, or (when the path itself starts with child
/// namespaces) including them; either way the mount's part of our path is its longest prefix,
/// in whole segments, that is a suffix of `reported`.
fn mount_prefix(path: &str, reported: &str) -> String {
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let m: Vec<&str> = reported.split('/').filter(|s| !s.is_empty()).collect();
    for k in (1..=p.len().min(m.len())).rev() {
        if p[..k] == m[m.len() - k..] {
            return format!("{}/", p[..k].join("/"));
        }
    }
    reported.to_owned()
}

fn parse<'a, T: Deserialize<'a>>(
    addr: &str,
    path: &str,
    body: &'a [u8],
) -> Result<Envelope<T>, VaultError> {
    serde_json::from_slice(body).map_err(|e| {
        // serde_json's message names a position and the expected type, never input text.
        VaultError::new(
            VaultErrorKind::BadResponse,
            format!("the response is not the expected Vault JSON ({e})"),
        )
        .at(addr, path)
    })
}

impl VaultClient {
    /// Validates the configuration (address, TLS files) and builds the client. No network
    /// traffic: the login (or token cache lookup) happens at the first request.
    pub fn connect(config: &VaultConfig) -> Result<VaultClient, VaultError> {
        let transport = Transport::new(config)?;
        let cache = if config.token_cache.enabled
            && !matches!(config.auth, AuthConfig::Token(_) | AuthConfig::None)
        {
            cache::TokenCache::new(config, &transport.addr)
        } else {
            None
        };
        Ok(VaultClient {
            inner: Arc::new(Inner {
                transport,
                auth: config.auth.clone(),
                token: tokio::sync::Mutex::new(None),
                generation: std::sync::atomic::AtomicU64::new(0),
                relogins: AtomicU32::new(0),
                progress: AtomicU64::new(0),
                mounts: tokio::sync::Mutex::new(MountCache::default()),
                default_kv_version: config.default_kv_version,
                cache,
                path_prefix: config
                    .path_prefix
                    .as_deref()
                    .map(|p| p.trim_matches('/').to_owned())
                    .filter(|p| !p.is_empty()),
            }),
        })
    }

    /// Checks a server address the way [`connect`](Self::connect) does (a configuration error
    /// naming the problem; never a panic).
    pub fn check_address(address: &str) -> Result<(), VaultError> {
        http::parse_address(address).map(|_| ())
    }

    /// The server address (normalized, without a trailing slash).
    pub fn address(&self) -> &str {
        &self.inner.transport.addr
    }

    /// Whether `address` names this client's server (same scheme, host, port and path,
    /// ignoring case and a trailing `/`). Callers that get an address from untrusted input
    /// (a sops file's `vault_address`) check it before sending anything with this client.
    pub fn serves(&self, address: &str) -> bool {
        fn key(u: &reqwest::Url) -> (String, String, Option<u16>, String) {
            (
                u.scheme().to_owned(),
                u.host_str().unwrap_or_default().to_ascii_lowercase(),
                u.port_or_known_default(),
                u.path().trim_end_matches('/').to_owned(),
            )
        }
        match (
            http::parse_address(address),
            http::parse_address(self.address()),
        ) {
            (Ok(a), Ok(b)) => key(&a) == key(&b),
            _ => false,
        }
    }

    /// The default namespace (`VAULT_NAMESPACE`), if any.
    pub fn namespace(&self) -> Option<&str> {
        self.inner.transport.namespace.as_deref()
    }

    fn addr(&self) -> &str {
        &self.inner.transport.addr
    }

    /// The current token: the static one, a cached one, or a fresh login (once, even when many
    /// requests ask at the same time).
    async fn token(&self) -> Result<(u64, Token), VaultError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let token = self.obtain_token(false).await?;
        let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        *slot = Some((generation, token.clone()));
        Ok((generation, token))
    }

    async fn obtain_token(&self, fresh: bool) -> Result<Token, VaultError> {
        let inner = &self.inner;
        if let AuthConfig::None = &inner.auth {
            return Ok(Token {
                token: Sensitive::default(),
                expires_at: None,
                renewable: false,
                from_login: false,
            });
        }
        if let AuthConfig::Token(src) = &inner.auth {
            let token = auth::read_source(src, "the Vault token (VAULT_TOKEN or ~/.vault-token)")
                .map_err(|e| e.with_addr(self.addr()))?;
            return Ok(Token {
                token,
                expires_at: None,
                renewable: false,
                from_login: false,
            });
        }
        if let Some(cache) = &inner.cache {
            if fresh {
                cache.remove();
            } else if let Some(t) = cache.load(&inner.transport).await {
                return Ok(t);
            }
        }
        let token = auth::login(&inner.transport, &inner.auth).await?;
        if let Some(cache) = &inner.cache {
            cache.store(&token);
        }
        Ok(token)
    }

    /// Sends an authenticated request. On a 403 with a token we obtained by logging in, checks
    /// whether the token itself died (expired, revoked, out of uses); if so logs in again and
    /// repeats the request once. A run may log in again whenever the previous token did some
    /// work (tokens limited to N uses, AVP #490), but never twice in a row without progress.
    async fn call(&self, req: &Request<'_>) -> Result<Response, VaultError> {
        let (generation, token) = self.token().await?;
        let bearer = (!token.token.is_empty()).then_some(&token.token);
        let resp = self.inner.transport.send(req, bearer).await?;
        if resp.status != StatusCode::FORBIDDEN || !token.from_login {
            if resp.status != StatusCode::FORBIDDEN
                && self.inner.generation.load(Ordering::SeqCst) == generation
            {
                self.inner.progress.fetch_add(1, Ordering::SeqCst);
            }
            return Ok(resp);
        }
        if auth::token_is_valid(&self.inner.transport, &token.token).await? {
            return Ok(resp); // a real "permission denied"
        }
        let fresh = {
            let mut slot = self.inner.token.lock().await;
            match slot.as_ref() {
                Some((g, t)) if *g != generation => t.clone(), // someone else re-logged in
                _ => {
                    let relogins = self.inner.relogins.load(Ordering::SeqCst);
                    let progress = self.inner.progress.load(Ordering::SeqCst);
                    if (relogins > 0 && progress == 0) || relogins >= 100 {
                        tracing::warn!(
                            "vault: a fresh login's token was refused at once; not logging in again"
                        );
                        return Ok(resp);
                    }
                    tracing::info!(
                        "vault: the token was revoked, expired or used up during the run; logging \
                         in again"
                    );
                    let t = self.obtain_token(true).await?;
                    let g = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    self.inner.relogins.fetch_add(1, Ordering::SeqCst);
                    self.inner.progress.store(0, Ordering::SeqCst);
                    *slot = Some((g, t.clone()));
                    t
                }
            }
        };
        self.inner.transport.send(req, Some(&fresh.token)).await
    }

    fn status_error(&self, path: &str, resp: &Response) -> VaultError {
        let msg = resp.vault_errors();
        let (kind, detail) = match resp.status {
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => (
                VaultErrorKind::PermissionDenied,
                if msg.is_empty() || msg == "permission denied" {
                    "the token's policies do not allow this (or the token expired)".to_owned()
                } else {
                    msg
                },
            ),
            StatusCode::NOT_FOUND => (
                VaultErrorKind::NotFound,
                if msg.contains("no handler for route") {
                    "no secrets engine is mounted at this path".to_owned()
                } else if msg.is_empty() {
                    "no secret at this path".to_owned()
                } else {
                    msg
                },
            ),
            s => (
                VaultErrorKind::BadResponse,
                if msg.is_empty() {
                    format!("HTTP {s}")
                } else {
                    format!("HTTP {s}: {msg}")
                },
            ),
        };
        VaultError::new(kind, detail).at(self.addr(), path)
    }

    /// Which engine is mounted at `path` (looked up once per mount and namespace via
    /// `sys/internal/ui/mounts/<path>`, which any token with access to the mount may call).
    async fn mount_for(&self, ns: Option<&str>, path: &str) -> Result<Mount, VaultError> {
        let ns_key = ns.or(self.namespace()).unwrap_or("").to_owned();
        let mut cache = self.inner.mounts.lock().await;
        if let Some(m) = cache.find(&ns_key, path) {
            return Ok(m);
        }
        let lookup = format!("sys/internal/ui/mounts/{path}");
        let mut req = Request::get(&lookup);
        req.namespace = ns;
        // Errors name the caller's path, not the lookup endpoint.
        let resp = self.call(&req).await.map_err(|e| match e.kind() {
            VaultErrorKind::Unreachable | VaultErrorKind::Tls | VaultErrorKind::Deadline => {
                e.with_path(path)
            }
            _ => e,
        })?;
        if resp.status == StatusCode::OK {
            let env: Envelope<MountData> = parse(self.addr(), &lookup, &resp.body)?;
            if let Some(d) = env.data
                && !d.path.is_empty()
            {
                let engine = match d.kind.as_str() {
                    "kv" | "generic" => {
                        let v2 = d
                            .options
                            .as_ref()
                            .and_then(|o| o.get("version"))
                            .is_some_and(|v| v == "2" || v == 2);
                        if v2 { Engine::Kv2 } else { Engine::Kv1 }
                    }
                    other => Engine::Other(other.to_owned()),
                };
                let full = mount_prefix(path, &d.path);
                cache
                    .known
                    .insert((ns_key.clone(), full.clone()), engine.clone());
                return Ok(Mount { path: full, engine });
            }
        }
        // 403 (no access to anything in the mount, or no such mount), 404 (very old servers),
        // anything else: fall back to the configured default. The read itself then reports
        // the real problem.
        tracing::debug!(
            "vault: mount lookup for {path} answered HTTP {}; using the default KV version",
            resp.status.as_u16()
        );
        let first = path.split('/').next().unwrap_or_default().to_owned();
        let status = resp.status.as_u16();
        cache.unknown.insert((ns_key, first), status);
        Ok(Mount {
            path: String::new(),
            engine: Engine::Unknown(status),
        })
    }

    /// The secrets engine mounted at `path` in the client's namespace, looked up like
    /// [`read`](Self::read) does (once per mount): `Some((mount, type))` with the mount path
    /// (trailing `/`) and the engine type as the server reports it (`kv` for KV v1 and v2,
    /// `transit`, `pki`, …); `None` when the server refused or failed the lookup.
    pub async fn mount_type(&self, path: &str) -> Result<Option<(String, String)>, VaultError> {
        let segs = http::path_segments(path).map_err(|e| e.with_addr(self.addr()))?;
        let mount = self.mount_for(None, &segs.join("/")).await?;
        Ok(match mount.engine {
            Engine::Kv1 | Engine::Kv2 => Some((mount.path, "kv".to_owned())),
            Engine::Other(kind) => Some((mount.path, kind)),
            Engine::Unknown(_) => None,
        })
    }

    /// Reads the secret at `path` and returns its data as a [`SecretValue::Map`].
    ///
    /// - KV v2: `secret/app` or `secret/data/app` (both work); `version` pins a version.
    /// - KV v1: `kv/app`; a `version` is ignored (KV v1 has none), as in AVP.
    /// - Anything else (`database/creds/ro`, `pki/cert/ca`, …): a raw GET of the path;
    ///   dynamic secrets create a new lease at every read.
    pub async fn read(&self, path: &str, version: Option<u64>) -> Result<SecretValue, VaultError> {
        self.read_in(None, path, version).await
    }

    /// [`read`](Self::read) in another namespace than the client's (`Some("")`: the root).
    pub async fn read_in(
        &self,
        namespace: Option<&str>,
        path: &str,
        version: Option<u64>,
    ) -> Result<SecretValue, VaultError> {
        self.read_kv(namespace, path, version, None).await
    }

    /// [`read`](Self::read) with a KV version hint (AVP's `avp.kubernetes.io/kv-version`
    /// annotation):
    /// - `Some(1)`: the path is read exactly as written with a plain GET, no mount lookup
    ///   (AVP's KV v1 mode, which also serves any non-KV path);
    /// - `Some(2)` or `None`: the mount is looked up; where the lookup is refused, `Some(2)`
    ///   reads the path as KV v2 (`/data/` must then be in it, as in AVP) and `None` follows
    ///   the configured default.
    pub async fn read_kv(
        &self,
        namespace: Option<&str>,
        path: &str,
        version: Option<u64>,
        kv_hint: Option<KvVersion>,
    ) -> Result<SecretValue, VaultError> {
        self.read_kv_stamped(namespace, path, version, kv_hint)
            .await
            .map(|(v, _)| v)
    }

    /// [`read_kv`](Self::read_kv), and what the read was when it can be checked again by
    /// metadata alone ([`ReadOrigin`]): a KV v2 read of the latest version, or a read in a
    /// mount the lookup found to be KV v1. `None` for a pinned version, a path read without a
    /// mount lookup (kv-version 1, a refused lookup) and any other engine (dynamic secrets).
    pub async fn read_kv_stamped(
        &self,
        namespace: Option<&str>,
        path: &str,
        version: Option<u64>,
        kv_hint: Option<KvVersion>,
    ) -> Result<(SecretValue, Option<ReadOrigin>), VaultError> {
        let (path, owned) = self.checked_segments(path)?;
        let segs: Vec<&str> = owned.iter().map(String::as_str).collect();
        let refused = |why: String, path: &str| {
            VaultError::new(VaultErrorKind::Refused, why).at(self.addr(), path)
        };
        if kv_hint == Some(KvVersion::V1) {
            if let Some(why) = paths::refusal_after_lookup(&segs, false, None) {
                return Err(refused(why, &path));
            }
            return Ok((self.read_raw(namespace, &path).await?, None));
        }
        let default_kv = kv_hint.or(self.inner.default_kv_version);
        let mount = self.mount_for(namespace, &path).await?;
        let (kv, mount_type) = match &mount.engine {
            Engine::Kv1 | Engine::Kv2 => (true, None),
            Engine::Other(t) => (false, Some(t.as_str())),
            Engine::Unknown(_) => (false, None),
        };
        if let Some(why) = paths::refusal_after_lookup(&segs, kv, mount_type) {
            return Err(refused(why, &path));
        }
        match mount.engine {
            Engine::Kv2 => {
                let rest = path
                    .strip_prefix(mount.path.as_str())
                    .unwrap_or_default()
                    .trim_start_matches('/');
                if rest.is_empty() || rest == "data" {
                    return Err(VaultError::new(
                        VaultErrorKind::InvalidPath,
                        format!("this names the KV mount {}, not a secret in it", mount.path),
                    )
                    .at(self.addr(), &path));
                }
                let api = if rest.starts_with("data/") {
                    path.clone()
                } else {
                    format!("{}data/{rest}", mount.path)
                };
                let (value, read) = self.read_kv2(namespace, &api, version).await?;
                let origin = match (version, read) {
                    (None, Some(v)) => Some(ReadOrigin::Kv2 {
                        path: api,
                        version: v,
                    }),
                    _ => None,
                };
                Ok((value, origin))
            }
            Engine::Unknown(_) if default_kv != Some(KvVersion::V1) && path.contains("/data/") => {
                Ok((self.read_kv2(namespace, &path, version).await?.0, None))
            }
            Engine::Unknown(status) => {
                if let Some(v) = version {
                    let why = if default_kv == Some(KvVersion::V1) {
                        "the KV version is set to 1"
                    } else {
                        "the path has no /data/ segment (write it with /data/ to read it as KV v2)"
                    };
                    tracing::debug!(
                        "vault: the mount type of {path} could not be looked up (HTTP {status}); \
                         assuming KV v1 and reading the path as written because {why}, so \
                         version {v} is ignored"
                    );
                }
                Ok((self.read_raw(namespace, &path).await?, None))
            }
            Engine::Kv1 | Engine::Other(_) => {
                if let Some(v) = version {
                    tracing::debug!(
                        "vault: {path} is not in a KV v2 mount; version {v} is ignored"
                    );
                }
                let kv1 = matches!(mount.engine, Engine::Kv1);
                let value = self.read_raw_with(namespace, &path, kv1).await?;
                Ok((value, kv1.then_some(ReadOrigin::Kv1 { path })))
            }
        }
    }

    /// The request a [`read_kv`](Self::read_kv) of `path` makes, as a de-duplication key:
    /// `kv/app` and `kv/data/app` in a KV v2 mount give the same key, and so do spellings
    /// with extra `/`. Looks up the mount like the read does (once per mount; the read then
    /// uses the cache). `None` when the request depends on something the lookup could not
    /// establish (the lookup was refused or failed, or the path is invalid): the caller then
    /// keeps such a path apart.
    pub async fn request_key(
        &self,
        namespace: Option<&str>,
        path: &str,
        kv_hint: Option<KvVersion>,
    ) -> Option<String> {
        let full;
        let path = match &self.inner.path_prefix {
            Some(prefix) => {
                full = format!("{prefix}/{path}");
                full.as_str()
            }
            None => path,
        };
        let segs = http::path_segments(path).ok()?;
        if paths::refusal_before_lookup(&segs).is_some() {
            // The read refuses it, before any request; no lookup for it either.
            return None;
        }
        let path = segs.join("/");
        let ns = namespace.or(self.namespace()).unwrap_or("");
        // A raw GET and a KV v2 read of the same path answer differently: keep them apart.
        if kv_hint == Some(KvVersion::V1) {
            return Some(format!("{ns}|raw|{path}"));
        }
        let mount = self.mount_for(namespace, &path).await.ok()?;
        match mount.engine {
            Engine::Kv2 => {
                let rest = path
                    .strip_prefix(mount.path.as_str())
                    .unwrap_or_default()
                    .trim_start_matches('/');
                if rest.is_empty() || rest == "data" {
                    return None;
                }
                let rest = rest.strip_prefix("data/").unwrap_or(rest);
                Some(format!("{ns}|kv2|{}data/{rest}", mount.path))
            }
            Engine::Kv1 | Engine::Other(_) => Some(format!("{ns}|raw|{path}")),
            Engine::Unknown(_) => None,
        }
    }

    /// A reference's path with the client's prefix, as checked segments (no `.`/`..`, no
    /// empty segment) and joined; refused before any request when it names a system area.
    fn checked_segments(&self, path: &str) -> Result<(String, Vec<String>), VaultError> {
        let full = match &self.inner.path_prefix {
            Some(prefix) => format!("{prefix}/{path}"),
            None => path.to_owned(),
        };
        let segs = http::path_segments(&full).map_err(|e| e.with_addr(self.addr()))?;
        let joined = segs.join("/");
        if let Some(why) = paths::refusal_before_lookup(&segs) {
            return Err(VaultError::new(VaultErrorKind::Refused, why).at(self.addr(), &joined));
        }
        Ok((joined, segs.iter().map(|s| (*s).to_owned()).collect()))
    }

    /// The path of `path`'s secret (with the client's prefix) when the mount lookup finds a
    /// KV v1 mount, else `None` (another engine, a refused lookup, an invalid path).
    pub async fn kv1_path(&self, path: &str) -> Option<String> {
        let (path, _) = self.checked_segments(path).ok()?;
        let mount = self.mount_for(None, &path).await.ok()?;
        matches!(mount.engine, Engine::Kv1).then_some(path)
    }

    /// The version metadata of a KV v2 secret, without reading its value: a map with
    /// `version` (the current version) and `updated` (its time), and the secret's data path
    /// (`secret/data/app`, what a read of it requests). `path` is the reference's path (with
    /// or without `data/`). A KV v1 mount or another engine keeps no versions.
    pub async fn kv_metadata(
        &self,
        path: &str,
        kv_hint: Option<KvVersion>,
    ) -> Result<(SecretValue, String), VaultError> {
        let (path, _) = self.checked_segments(path)?;
        let no_versions = |what: &str| {
            VaultError::new(
                VaultErrorKind::InvalidPath,
                format!("{what} keeps no versions; `version` needs a secret in a KV v2 mount"),
            )
            .at(self.addr(), &path)
        };
        if kv_hint == Some(KvVersion::V1) {
            return Err(no_versions("a KV v1 read (kv-version 1)"));
        }
        let mount = self.mount_for(None, &path).await?;
        if matches!(mount.engine, Engine::Kv1) {
            return Err(no_versions(&format!(
                "the KV v1 mount {} (its secrets get a keyed fingerprint as version when the \
                 operator sets SEALBRIDGE_FINGERPRINT_KEY_FILE)",
                mount.path
            )));
        }
        if !matches!(mount.engine, Engine::Kv2) {
            return Err(no_versions(&format!("the mount {}", mount.path)));
        }
        let rest = path
            .strip_prefix(mount.path.as_str())
            .unwrap_or_default()
            .trim_start_matches('/');
        let rest = rest.strip_prefix("data/").unwrap_or(rest);
        if rest.is_empty() {
            return Err(no_versions("a KV mount itself"));
        }
        let api = format!("{}metadata/{rest}", mount.path);
        let data_path = format!("{}data/{rest}", mount.path);
        let resp = self.call(&Request::get(&api)).await?;
        if resp.status == StatusCode::NOT_FOUND {
            return Err(
                VaultError::new(VaultErrorKind::NotFound, "no secret at this path")
                    .at(self.addr(), &api),
            );
        }
        if resp.status != StatusCode::OK {
            return Err(self.status_error(&api, &resp));
        }
        let env: Envelope<Kv2Metadata> = parse(self.addr(), &api, &resp.body)?;
        let meta = env.data.unwrap_or_default();
        let Some(version) = meta.current_version.filter(|v| *v > 0) else {
            return Err(
                VaultError::new(VaultErrorKind::NotFound, "no secret at this path")
                    .at(self.addr(), &api),
            );
        };
        Ok((
            crate::backend::version_map(&version.to_string(), &meta.updated_time),
            data_path,
        ))
    }

    async fn read_kv2(
        &self,
        namespace: Option<&str>,
        api: &str,
        version: Option<u64>,
    ) -> Result<(SecretValue, Option<u64>), VaultError> {
        let mut req = Request::get(api);
        req.namespace = namespace;
        if let Some(v) = version {
            req.query.push(("version", v.to_string()));
        }
        let shown = match version {
            Some(v) => format!("{api}?version={v}"),
            None => api.to_owned(),
        };
        let resp = self.call(&req).await?;
        if resp.status == StatusCode::OK || resp.status == StatusCode::NOT_FOUND {
            let env: Envelope<Kv2Data> = match parse(self.addr(), &shown, &resp.body) {
                Ok(env) => env,
                Err(e) if resp.status == StatusCode::OK => return Err(e),
                Err(_) => return Err(self.status_error(&shown, &resp)),
            };
            if let Some(d) = env.data {
                let meta = d.metadata.unwrap_or_default();
                if let Some(Zv(v @ SecretValue::Map(_))) = d.data {
                    return Ok((v, meta.version));
                }
                let which = match (version, meta.version) {
                    (Some(v), _) | (None, Some(v)) => format!("version {v}"),
                    _ => "the current version".to_owned(),
                };
                let detail = if meta.destroyed {
                    format!("{which} of this secret was destroyed")
                } else if !meta.deletion_time.is_empty() {
                    format!("{which} of this secret was deleted")
                } else {
                    format!("{which} of this secret has no data")
                };
                return Err(
                    VaultError::new(VaultErrorKind::NotFound, detail).at(self.addr(), &shown)
                );
            }
            if resp.status == StatusCode::NOT_FOUND {
                let mut e = self.status_error(&shown, &resp);
                if version.is_some() && e.detail() == "no secret at this path" {
                    e = VaultError::new(
                        VaultErrorKind::NotFound,
                        "no such secret or no such version",
                    )
                    .at(self.addr(), &shown);
                }
                return Err(e);
            }
            return Err(VaultError::new(
                VaultErrorKind::BadResponse,
                "the KV v2 response has no data",
            )
            .at(self.addr(), &shown));
        }
        Err(self.status_error(&shown, &resp))
    }

    async fn read_raw(
        &self,
        namespace: Option<&str>,
        path: &str,
    ) -> Result<SecretValue, VaultError> {
        // The mount is unknown (AVP's KV v1 mode, or the lookup was refused): read as KV.
        self.read_raw_with(namespace, path, true).await
    }

    /// A plain `GET` of `path`; `idempotent: false` (a non-KV engine) is not retried once it
    /// may have reached the server (see `http::Request::not_idempotent`).
    async fn read_raw_with(
        &self,
        namespace: Option<&str>,
        path: &str,
        idempotent: bool,
    ) -> Result<SecretValue, VaultError> {
        let mut req = Request::get(path);
        req.namespace = namespace;
        req.not_idempotent = !idempotent;
        let resp = self.call(&req).await?;
        match resp.status {
            StatusCode::OK => {
                let env: Envelope<Zv> = parse(self.addr(), path, &resp.body)?;
                if env.lease_id.as_deref().is_some_and(|l| !l.is_empty()) {
                    tracing::debug!(
                        "vault: reading {path} created a lease of {} s (dynamic secret)",
                        env.lease_duration.unwrap_or(0)
                    );
                }
                match env.data {
                    Some(Zv(v @ SecretValue::Map(_))) => Ok(v),
                    Some(Zv(other)) => Err(VaultError::new(
                        VaultErrorKind::BadResponse,
                        format!("the secret's data is a {}, not a map", other.type_name()),
                    )
                    .at(self.addr(), path)),
                    None => Err(VaultError::new(
                        VaultErrorKind::NotFound,
                        "the response has no data",
                    )
                    .at(self.addr(), path)),
                }
            }
            StatusCode::NO_CONTENT => Err(VaultError::new(
                VaultErrorKind::NotFound,
                "the path returned no data",
            )
            .at(self.addr(), path)),
            StatusCode::NOT_FOUND => {
                // A KV v2 mount read without `data/` answers 404 with a warning.
                let env: Option<Envelope<Zv>> = serde_json::from_slice(&resp.body).ok();
                if let Some(w) = env
                    .and_then(|e| e.warnings)
                    .and_then(|w| w.into_iter().find(|w| w.contains("versioned K/V")))
                {
                    let _ = w;
                    return Err(VaultError::new(
                        VaultErrorKind::NotFound,
                        "this is a KV v2 mount: write the path as MOUNT/data/PATH or give the \
                         token access to sys/internal/ui/mounts",
                    )
                    .at(self.addr(), path));
                }
                Err(self.status_error(path, &resp))
            }
            _ => Err(self.status_error(path, &resp)),
        }
    }

    /// Encrypts `plaintext` with the transit key `key` of the transit engine at `mount`
    /// (`PUT <mount>/encrypt/<key> {"plaintext": base64}`) and returns the `vault:vN:…`
    /// ciphertext, exactly as sops does for `hc_vault` keys.
    pub async fn transit_encrypt(
        &self,
        mount: &str,
        key: &str,
        plaintext: &[u8],
    ) -> Result<String, VaultError> {
        use base64::Engine as _;
        let path = format!(
            "{}/encrypt/{}",
            mount.trim_matches('/'),
            key.trim_matches('/')
        );
        let mut b64 = Zeroizing::new(String::with_capacity(plaintext.len().div_ceil(3) * 4 + 4));
        base64::engine::general_purpose::STANDARD.encode_string(plaintext, &mut b64);
        let body = auth::json_object(&[("plaintext", b64.as_bytes())]);
        let resp = self
            .call(&Request::with_body(Method::PUT, &path, body))
            .await?;
        if resp.status != StatusCode::OK {
            return Err(self.status_error(&path, &resp));
        }
        let env: Envelope<TransitCipher> = parse(self.addr(), &path, &resp.body)?;
        match env.data {
            Some(d) if d.ciphertext.starts_with("vault:") => Ok(d.ciphertext),
            _ => Err(VaultError::new(
                VaultErrorKind::BadResponse,
                "the transit response has no vault: ciphertext",
            )
            .at(self.addr(), &path)),
        }
    }

    /// Decrypts a `vault:vN:…` ciphertext with the transit key `key` at `mount`
    /// (`PUT <mount>/decrypt/<key> {"ciphertext": …}`); returns the plaintext bytes.
    pub async fn transit_decrypt(
        &self,
        mount: &str,
        key: &str,
        ciphertext: &str,
    ) -> Result<Sensitive, VaultError> {
        use base64::Engine as _;
        let path = format!(
            "{}/decrypt/{}",
            mount.trim_matches('/'),
            key.trim_matches('/')
        );
        let body = auth::json_object(&[("ciphertext", ciphertext.as_bytes())]);
        let resp = self
            .call(&Request::with_body(Method::PUT, &path, body))
            .await?;
        if resp.status != StatusCode::OK {
            return Err(self.status_error(&path, &resp));
        }
        let env: Envelope<TransitPlain> = parse(self.addr(), &path, &resp.body)?;
        let Some(d) = env.data else {
            return Err(VaultError::new(
                VaultErrorKind::BadResponse,
                "the transit response has no plaintext",
            )
            .at(self.addr(), &path));
        };
        let b64 = d.plaintext.0.expose();
        let mut out = Zeroizing::new(Vec::with_capacity(b64.len() / 4 * 3 + 3));
        base64::engine::general_purpose::STANDARD
            .decode_vec(b64, &mut out)
            .map_err(|_| {
                VaultError::new(
                    VaultErrorKind::BadResponse,
                    "the transit plaintext is not base64",
                )
                .at(self.addr(), &path)
            })?;
        Ok(Sensitive::new(std::mem::take(&mut *out)))
    }
}

/// Runs `fut` to completion on the process's runtime ([`crate::runtime`]), for synchronous
/// callers outside any runtime (library users; a sops decryption outside the render engine).
/// Fails if called from inside a runtime.
pub fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, VaultError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(VaultError::config(
            "vault::block_on called inside an async runtime; await the client instead",
        ));
    }
    crate::runtime::block_on(fut).map_err(VaultError::config)
}

#[cfg(test)]
mod tests {
    use super::mount_prefix;

    #[test]
    fn mount_prefix_handles_namespace_prefixes() {
        assert_eq!(mount_prefix("secret/app", "secret/"), "secret/");
        assert_eq!(mount_prefix("secret/data/app", "secret/"), "secret/");
        assert_eq!(mount_prefix("team/kv/app", "team/kv/"), "team/kv/");
        assert_eq!(mount_prefix("child/kv/app", "team/child/kv/"), "child/kv/");
        assert_eq!(mount_prefix("a/b/c/x", "a/b/c/"), "a/b/c/");
        assert_eq!(mount_prefix("kv/kv/x", "ns/kv/"), "kv/");
    }
}
