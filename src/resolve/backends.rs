//! The run's backends built from [`Settings`]: Vault/OpenBao (through the Vault client) and
//! sops files (confined to the sops root).

use std::sync::Arc;

use super::RenderOptions;
use crate::backend::sops::{SopsBackend, decrypt_options_with};
use crate::backend::vault::{VaultClient, VaultError, VaultErrorKind};
use crate::backend::{
    Backend, BackendError, BackendKind, Backends, CanonicalFuture, FetchFuture, KvVersion, SecretId,
};
use crate::error::{Error, Result};
use crate::settings::{DefaultBackend, Settings};
use crate::sops::DecryptOptions;
use std::path::PathBuf;

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
            down: std::sync::OnceLock::new(),
            probe: tokio::sync::Mutex::new(()),
        }
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
pub(crate) fn down_for_the_run(e: &VaultError) -> bool {
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
            client
                .read_kv(None, &id.path, id.version, Self::hint(id))
                .await
                .map_err(|e| self.note(e, id))
        })
    }

    fn canonical<'a>(&'a self, id: &'a SecretId) -> CanonicalFuture<'a> {
        Box::pin(async move {
            let client = self.client.as_ref().ok()?;
            if Self::hint(id) != Some(1) {
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
            client.request_key(None, &id.path, Self::hint(id)).await
        })
    }

    fn location(&self) -> Option<String> {
        let client = self.client.as_ref().ok()?;
        Some(format!("Vault at {}", client.address()))
    }
}

impl VaultBackend {
    fn hint(id: &SecretId) -> Option<u8> {
        id.kv_version.map(|k| match k {
            KvVersion::V1 => 1,
            KvVersion::V2 => 2,
        })
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

/// Builds the backends of a run. Vault is configured from the settings (a configuration
/// problem is reported only if a Vault reference is used); sops files are read below
/// `opts.sops_root` with key sources from the environment. Under a tenancy policy
/// (`opts.tenant`) the tenant's login, paths and sops keys replace the sidecar's defaults.
pub fn from_settings(settings: &Settings, opts: &RenderOptions) -> Backends {
    // One client for the run: Vault references and sops files' Vault transit keys share its
    // token (one login).
    let client = vault_client(settings, opts);
    let vault: Arc<dyn Backend> = match &client {
        Ok(client) => Arc::new(
            VaultBackend::new(client.clone()).with_path_prefix(opts.vault_path_prefix.clone()),
        ),
        Err(e) => Arc::new(VaultBackend::unconfigured(e.clone())),
    };
    let backends = Backends::new().with(BackendKind::Vault, guard_vault(vault, opts));
    with_sops(backends, opts, client)
}

/// The run's Vault client: the sidecar's own login, or the tenant's (`opts.tenant`).
pub fn vault_client(
    settings: &Settings,
    opts: &RenderOptions,
) -> std::result::Result<VaultClient, String> {
    let config = match &opts.tenant {
        None => settings.vault_config(),
        Some(t) => match &t.vault {
            None => {
                return Err(format!(
                    "tenant {:?} of the tenancy policy {} has no Vault access",
                    t.name, t.policy_file
                ));
            }
            Some(v) => settings.vault_config_with(v.auth.clone()).map(|mut c| {
                if v.namespace.is_some() {
                    c.namespace = v.namespace.clone();
                }
                c
            }),
        },
    };
    config
        .and_then(|c| VaultClient::connect(&c))
        .map_err(|e| e.to_string())
}

/// `vault` behind the tenant's path guard (as is without a tenant).
pub fn guard_vault(vault: Arc<dyn Backend>, opts: &RenderOptions) -> Arc<dyn Backend> {
    match &opts.tenant {
        None => vault,
        Some(t) => Arc::new(crate::policy::guard::GuardedVault::new(
            vault,
            t.clone(),
            opts.vault_path_prefix.clone(),
        )),
    }
}

/// The sops decryption options of a run: the environment's age keys and transit through
/// `client`, or only the tenant's age keys and transit mounts (`opts.tenant`).
pub fn sops_options(
    client: std::result::Result<VaultClient, String>,
    opts: &RenderOptions,
) -> DecryptOptions {
    let base = decrypt_options_with(client);
    match &opts.tenant {
        None => base,
        Some(t) => DecryptOptions {
            keys: base
                .keys
                .clone()
                .with_age(t.age_identities())
                .without_pgp()
                .with_kms(Arc::new(crate::sops::keys::kms::NoKms))
                .with_transit(Arc::new(crate::policy::guard::TenantTransit::new(
                    base.keys.transit(),
                    t.clone(),
                ))),
            ..base
        },
    }
}

fn with_sops(
    backends: Backends,
    opts: &RenderOptions,
    client: std::result::Result<VaultClient, String>,
) -> Backends {
    match SopsBackend::new(&opts.sops_root, sops_options(client, opts)) {
        Ok(b) => backends.with(BackendKind::Sops, Arc::new(b)),
        Err(e) => backends.with(BackendKind::Sops, Arc::new(Unavailable(e))),
    }
}

/// A backend that fails every fetch with the same error.
struct Unavailable(BackendError);

impl Backend for Unavailable {
    fn fetch<'a>(&'a self, _id: &'a SecretId) -> FetchFuture<'a> {
        Box::pin(async move { Err(self.0.clone()) })
    }
}

/// The engine options from the settings (`sops_root`: `--sops-root`, else the working
/// directory).
pub fn options_from_settings(
    settings: &Settings,
    sops_root: Option<PathBuf>,
) -> Result<RenderOptions> {
    let path_validation =
        match &settings.path_validation {
            Some(re) => Some(regex::Regex::new(re).map_err(|e| {
                Error::Usage(format!("{re} is not a valid regular expression: {e}"))
            })?),
            None => None,
        };
    let sops_root = match sops_root {
        Some(p) => p,
        None => std::env::current_dir()
            .map_err(|e| Error::Usage(format!("cannot read the working directory: {e}")))?,
    };
    Ok(RenderOptions {
        default_backend: match settings.backend {
            DefaultBackend::Vault => BackendKind::Vault,
            DefaultBackend::Sops => BackendKind::Sops,
        },
        concurrency: settings.concurrency.max(1),
        deadline: settings.deadline,
        sops_root,
        kv_version: match settings.kv_version {
            Some(1) => Some(KvVersion::V1),
            Some(2) => Some(KvVersion::V2),
            _ => None,
        },
        path_validation,
        vault_path_prefix: settings.path_prefix.clone(),
        max_output: settings.max_output,
        tenant: crate::policy::for_run(settings)?,
    })
}
