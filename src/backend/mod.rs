//! The one interface the render engine sees for fetching secrets: [`Backend`].
//!
//! A backend turns a [`SecretId`] (backend, path, version) into the whole secret at that path
//! as a typed [`SecretValue`] (a map of keys for Vault, the decrypted tree for a sops file).
//! Key lookup, JSON pointers and modifiers happen in the engine, so one fetch serves every
//! reference to the same secret.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::secret::SecretValue;

pub mod aws;
pub mod sops;
pub mod vault;

/// Which kind of store a reference points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackendKind {
    /// HashiCorp Vault or OpenBao (KV v1/v2 or any readable logical path).
    Vault,
    /// A sops-encrypted file below the working directory.
    Sops,
}

impl BackendKind {
    /// Parses a scheme or `SEALBRIDGE_BACKEND`/`AVP_TYPE` value (`vault`, `openbao`, `sops`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "vault" | "openbao" | "bao" => Some(BackendKind::Vault),
            "sops" => Some(BackendKind::Sops),
            _ => None,
        }
    }

    /// The lower-case name (`vault`, `sops`).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Vault => "vault",
            BackendKind::Sops => "sops",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// KV engine version forced by `avp.kubernetes.io/kv-version` (otherwise detected per mount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KvVersion {
    /// KV v1 (or any logical path): read as written, versions are not supported.
    V1,
    /// KV v2: the client inserts `data/` when the path does not have it.
    V2,
}

/// One distinct secret to fetch: the de-duplication key of a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretId {
    /// The store.
    pub backend: BackendKind,
    /// Vault: the path as written (with or without `/data/`); sops: the file path relative to
    /// the working directory, normalised (no `./`).
    pub path: String,
    /// A pinned version (KV v2 only); `None` means the latest.
    pub version: Option<u64>,
    /// A KV version forced by annotation; `None` means detect it.
    pub kv_version: Option<KvVersion>,
    /// Fetch the secret's version metadata instead of its value (the `version` modifier):
    /// Vault KV v2 `version`/`updated`, a sops file's MAC fingerprint. The value is not read.
    pub metadata: bool,
}

impl fmt::Display for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.backend, self.path)?;
        if self.metadata {
            write!(f, " (metadata)")?;
        }
        if let Some(v) = self.version {
            write!(f, " (version {v})")?;
        }
        Ok(())
    }
}

/// Why a fetch failed. Messages never contain secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// Nothing at that path (or that version).
    #[error("no secret at this path{}{}", version_suffix(.version), reason_suffix(.reason))]
    NotFound {
        /// The version asked for, if any.
        version: Option<u64>,
        /// The backend's more specific reason, if it has one (e.g. "version 1 of this secret
        /// was deleted").
        reason: Option<String>,
    },
    /// The credentials may not read that path.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The backend could not be reached (network, TLS, timeout).
    #[error("backend unreachable: {0}")]
    Unreachable(String),
    /// The reference is not allowed (e.g. a sops path outside the working directory).
    #[error("refused: {0}")]
    Refused(String),
    /// The backend is not configured (e.g. no `VAULT_ADDR`).
    #[error("not configured: {0}")]
    NotConfigured(String),
    /// A sops file could not be read or decrypted.
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    /// Anything else the backend reported.
    #[error("{0}")]
    Other(String),
}

fn version_suffix(v: &Option<u64>) -> String {
    match v {
        Some(v) => format!(" with version {v}"),
        None => String::new(),
    }
}

fn reason_suffix(r: &Option<String>) -> String {
    match r {
        Some(r) => format!(": {r}"),
        None => String::new(),
    }
}

/// What a rendered value was built from, for the record a render keeps of it
/// (`crate::rotation`): a Vault KV secret (`kv2:` or `kv1:` and the request path) and its
/// version (KV v2: the version number; KV v1: a keyed fingerprint of the secret). Never a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stamp {
    /// `kv2:secret/data/app`, `kv1:kv/app`: what `sealbridge refresh` asks about again.
    pub source: String,
    /// `3`, or `kv1-<fingerprint>`.
    pub version: String,
}

/// A fetched secret and, when it can be checked again without rendering, its [`Stamp`].
/// `stamp` is `None` for a pinned version (it cannot change), a sops file (it changes with a
/// commit), a dynamic secret (it changes at every read) or a KV v1 secret without the
/// operator's fingerprint key.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// The whole secret.
    pub value: SecretValue,
    /// Where it came from and its version.
    pub stamp: Option<Stamp>,
}

impl From<SecretValue> for Fetch {
    fn from(value: SecretValue) -> Self {
        Fetch { value, stamp: None }
    }
}

/// What a metadata fetch (`SecretId::metadata`, the `version` modifier) returns: the map
/// `{version, updated}` (never a value of the secret).
pub fn version_map(version: &str, updated: &str) -> SecretValue {
    let mut m = indexmap::IndexMap::new();
    for (k, v) in [("version", version), ("updated", updated)] {
        m.insert(
            k.to_owned(),
            SecretValue::String(crate::secret::Sensitive::from_str_copy(v)),
        );
    }
    SecretValue::Map(m)
}

/// The `version` of a [`version_map`].
pub fn version_of(meta: &SecretValue) -> Option<String> {
    match meta {
        SecretValue::Map(m) => match m.get("version") {
            Some(SecretValue::String(v)) => v.expose_str().map(str::to_owned),
            _ => None,
        },
        _ => None,
    }
}

/// The future a [`Backend::fetch`] returns.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Fetch, BackendError>> + Send + 'a>>;

/// The future a [`Backend::canonical`] returns.
pub type CanonicalFuture<'a> = Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;

/// A secret store. `fetch` returns the whole secret at `id` (for Vault the map of its keys).
///
/// Implementations must be cheap to share (`Arc`) and safe to call concurrently; the engine
/// calls `fetch` once per distinct [`SecretId`] per run.
pub trait Backend: Send + Sync {
    /// Fetches the secret `id` (conceptually `async fn fetch(&self, id: &SecretId)`).
    fn fetch<'a>(&'a self, id: &'a SecretId) -> FetchFuture<'a>;

    /// A key that is equal for ids naming the same secret (Vault: `kv/app` and `kv/data/app`
    /// in a KV v2 mount), so the engine fetches it once. `None` (the default): the id is its
    /// own key. The id's version is compared separately.
    fn canonical<'a>(&'a self, _id: &'a SecretId) -> CanonicalFuture<'a> {
        Box::pin(async { None })
    }

    /// Where the backend fetches from, for errors the engine reports on its behalf (e.g.
    /// `Vault at https://vault:8200` when the run's deadline passes). `None` (the default):
    /// nothing worth naming.
    fn location(&self) -> Option<String> {
        None
    }
}

/// A shared backend is a backend (wrappers such as the KRM memo take `Arc<dyn Backend>`).
impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn fetch<'a>(&'a self, id: &'a SecretId) -> FetchFuture<'a> {
        (**self).fetch(id)
    }

    fn canonical<'a>(&'a self, id: &'a SecretId) -> CanonicalFuture<'a> {
        (**self).canonical(id)
    }

    fn location(&self) -> Option<String> {
        (**self).location()
    }
}

/// A backend that could not be set up: every fetch fails with the same error (a sops root that
/// does not exist, …), so runs that never use it still work.
#[derive(Debug, Clone)]
pub struct Unavailable(pub BackendError);

impl Backend for Unavailable {
    fn fetch<'a>(&'a self, _id: &'a SecretId) -> FetchFuture<'a> {
        Box::pin(async move { Err(self.0.clone()) })
    }
}

/// The backends of one run, by kind. A kind without a backend fails every reference to it
/// with a "not configured" error.
#[derive(Clone, Default)]
pub struct Backends {
    vault: Option<Arc<dyn Backend>>,
    sops: Option<Arc<dyn Backend>>,
}

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backends")
            .field("vault", &self.vault.is_some())
            .field("sops", &self.sops.is_some())
            .finish()
    }
}

impl Backends {
    /// No backends at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the backend for `kind`.
    pub fn with(mut self, kind: BackendKind, backend: Arc<dyn Backend>) -> Self {
        match kind {
            BackendKind::Vault => self.vault = Some(backend),
            BackendKind::Sops => self.sops = Some(backend),
        }
        self
    }

    /// The backend for `kind`, if configured.
    pub fn get(&self, kind: BackendKind) -> Option<Arc<dyn Backend>> {
        match kind {
            BackendKind::Vault => self.vault.clone(),
            BackendKind::Sops => self.sops.clone(),
        }
    }
}
