//! The application context: built once per process and shared by every front-end (`render`,
//! `argocd generate`/`init`, the KRM function and ksops plugin, `versions`, `check`, `refresh`,
//! the sops verbs).
//!
//! It holds:
//! - the [`Settings`], loaded once (with `-s`, the settings Secret is merged in after the
//!   environment was checked for guarded `ARGOCD_ENV_*` variables, so an Application cannot
//!   make the sidecar contact the cluster);
//! - the run's tenant under a tenancy policy, selected once ([`crate::policy::for_run`]);
//! - the Vault client, built on first use and shared: Vault references, sops files' transit
//!   keys and helm's sops values files all use one client and one login (the tenant's under a
//!   policy).
//!
//! Async work runs on the process's one runtime ([`crate::runtime`]). Front-ends take their
//! engine options and backends from here; nothing else builds a Vault client or decryption
//! options from the settings.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::backend::sops::{SopsBackend, decrypt_options_with};
use crate::backend::vault::{VaultBackend, VaultClient};
use crate::backend::{Backend, BackendKind, Backends};
use crate::error::{Error, Result};
use crate::policy::Tenant;
use crate::resolve::RenderOptions;
use crate::settings::{DefaultBackend, Flags, Settings};
use crate::sops::DecryptOptions;

/// What the front-ends of one process share (see the module documentation).
pub struct Context {
    settings: Settings,
    tenant: Option<Arc<Tenant>>,
    vault: OnceLock<std::result::Result<VaultClient, String>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("tenant", &self.tenant.as_ref().map(|t| t.name.clone()))
            .field("vault_client_built", &self.vault.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Loads the settings of the process (flags, environment, config file) and selects the
    /// tenant under a tenancy policy.
    pub fn load(flags: &Flags) -> Result<Context> {
        Context::new(Settings::load(flags)?)
    }

    /// [`load`](Self::load) with argocd-vault-plugin's `-s/--secret-name [NAMESPACE:]NAME`:
    /// guarded `ARGOCD_ENV_*` variables are refused before the cluster is contacted; the
    /// Secret's settings then sit below the environment and the config file.
    pub fn load_with_secret(mut flags: Flags, secret_name: Option<&str>) -> Result<Context> {
        if let Some(name) = secret_name {
            Settings::check_process_env()?;
            flags.secret = Some(secret_settings(name, flags.deadline)?);
        }
        Context::load(&flags)
    }

    /// The context of `settings`, with the tenant its policy selects for this process's
    /// Argo CD Application (none without a policy).
    pub fn new(settings: Settings) -> Result<Context> {
        let tenant = crate::policy::for_run(&settings)?;
        Ok(Context {
            settings,
            tenant,
            vault: OnceLock::new(),
        })
    }

    /// The context of `settings` with its own login whatever the policy says: commands that
    /// act for the operator, not for an Application (`refresh`, `policy check`).
    pub fn operator(settings: Settings) -> Context {
        Context {
            settings,
            tenant: None,
            vault: OnceLock::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The run's tenant under a tenancy policy.
    pub fn tenant(&self) -> Option<&Arc<Tenant>> {
        self.tenant.as_ref()
    }

    /// The engine options: sops files resolve below `sops_root` (default: the working
    /// directory); the operator's fingerprint key and version record; the tenant.
    pub fn render_options(&self, sops_root: Option<PathBuf>) -> Result<RenderOptions> {
        let settings = &self.settings;
        let path_validation = match &settings.path_validation {
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
            kv_version: settings.kv_version,
            path_validation,
            vault_path_prefix: settings.path_prefix.clone(),
            max_output: settings.max_output,
            tenant: self.tenant.clone(),
            redact: None,
            fingerprint_key: fingerprint_key(false)?,
            record_versions: record_versions()?,
        })
    }

    /// The process's Vault client — the sidecar's own login, or the tenant's — built on first
    /// use; a configuration problem is kept and reported where Vault is needed.
    pub fn vault_client(&self) -> std::result::Result<VaultClient, String> {
        self.vault
            .get_or_init(|| self.connect())
            .as_ref()
            .cloned()
            .map_err(Clone::clone)
    }

    fn connect(&self) -> std::result::Result<VaultClient, String> {
        let settings = &self.settings;
        let config = match &self.tenant {
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

    /// The Vault backend of a run (behind the tenant's path guard under a policy).
    pub fn vault_backend(&self, opts: &RenderOptions) -> Arc<dyn Backend> {
        let vault: Arc<dyn Backend> = match self.vault_client() {
            Ok(client) => Arc::new(
                VaultBackend::new(client)
                    .with_path_prefix(opts.vault_path_prefix.clone())
                    .with_fingerprint_key(opts.fingerprint_key.clone()),
            ),
            Err(e) => Arc::new(VaultBackend::unconfigured(e)),
        };
        match &self.tenant {
            None => vault,
            Some(t) => Arc::new(crate::policy::guard::GuardedVault::new(
                vault,
                t.clone(),
                opts.vault_path_prefix.clone(),
            )),
        }
    }

    /// The sops decryption options: the environment's key sources with transit through the
    /// process's Vault client; under a policy only the tenant's age keys and transit mounts
    /// (never the sidecar's PGP keyring or AWS identity).
    pub fn sops_options(&self) -> DecryptOptions {
        let base = decrypt_options_with(self.vault_client());
        match &self.tenant {
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

    /// The sops backend of files below `root` (a backend that fails every reference when
    /// `root` is unusable).
    pub fn sops_backend(&self, root: &Path) -> Arc<dyn Backend> {
        match SopsBackend::new(root, self.sops_options()) {
            Ok(b) => Arc::new(b),
            Err(e) => Arc::new(crate::backend::Unavailable(e)),
        }
    }

    /// The backends of a run: Vault (a configuration problem is reported only if a Vault
    /// reference is used) and sops files below `opts.sops_root`.
    pub fn backends(&self, opts: &RenderOptions) -> Backends {
        Backends::new()
            .with(BackendKind::Vault, self.vault_backend(opts))
            .with(BackendKind::Sops, self.sops_backend(&opts.sops_root))
    }
}

/// The operator's `SEALBRIDGE_RECORD_VERSIONS` (read from the process environment only: an
/// Application cannot switch it).
pub fn record_versions() -> Result<bool> {
    match std::env::var("SEALBRIDGE_RECORD_VERSIONS") {
        Ok(v) if !v.trim().is_empty() => crate::settings::parse_bool(&v).ok_or_else(|| {
            Error::Usage(format!(
                "SEALBRIDGE_RECORD_VERSIONS={v:?} is not a boolean (true or false)"
            ))
        }),
        _ => Ok(false),
    }
}

/// The operator's fingerprint key (`SEALBRIDGE_FINGERPRINT_KEY_FILE`, at least 16 bytes), for
/// `render --redact` and the `version` of KV v1 secrets. `required`: an error when unset.
pub fn fingerprint_key(required: bool) -> Result<Option<Arc<zeroize::Zeroizing<Vec<u8>>>>> {
    let Some(path) = std::env::var_os("SEALBRIDGE_FINGERPRINT_KEY_FILE").filter(|p| !p.is_empty())
    else {
        if required {
            return Err(Error::Usage(
                "--redact needs a fingerprint key: set SEALBRIDGE_FINGERPRINT_KEY_FILE to a file \
                 with at least 16 random bytes (without a key the fingerprints would be an \
                 offline guessing oracle for weak values)"
                    .to_owned(),
            ));
        }
        return Ok(None);
    };
    let key = zeroize::Zeroizing::new(
        std::fs::read(&path).map_err(|e| Error::io(PathBuf::from(&path), e))?,
    );
    if key.len() < 16 {
        return Err(Error::Usage(
            "SEALBRIDGE_FINGERPRINT_KEY_FILE holds fewer than 16 bytes; use at least 16 random \
             bytes"
                .to_owned(),
        ));
    }
    Ok(Some(Arc::new(key)))
}

/// Reads the `-s/--secret-name` Secret (the only source of its name is the command line, i.e.
/// the plugin configuration: no environment variable, so no `ARGOCD_ENV_*`, can choose it).
#[cfg(feature = "kube")]
fn secret_settings(
    name: &str,
    deadline: Option<std::time::Duration>,
) -> Result<crate::settings::SecretSettings> {
    use crate::cluster;
    let r = cluster::SecretRef::parse(name)?;
    let timeout = deadline.map_or(cluster::DEFAULT_TIMEOUT, |d| {
        d.min(cluster::DEFAULT_TIMEOUT)
    });
    Ok(cluster::read_settings(
        &r,
        &cluster::ClusterEnv::from_process(),
        timeout,
    )?)
}

/// Without the `kube` feature `-s` is refused (exit 2) with what to do instead.
#[cfg(not(feature = "kube"))]
fn secret_settings(
    _name: &str,
    _deadline: Option<std::time::Duration>,
) -> Result<crate::settings::SecretSettings> {
    Err(Error::Usage(
        "--secret-name (settings from a Kubernetes Secret) needs sealbridge built with the \
         Kubernetes client: `cargo install sealbridge --features kube` (or build with \
         `--features kube`); or mount the Secret as environment variables (envFrom) or use \
         --config FILE"
            .to_owned(),
    ))
}
