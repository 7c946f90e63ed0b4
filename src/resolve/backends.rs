//! The run's backends built from [`Settings`]: Vault/OpenBao (through the Vault client) and
//! sops files (confined to the sops root).

use std::sync::Arc;

use super::RenderOptions;
use crate::backend::sops::{SopsBackend, decrypt_options_with};
pub use crate::backend::vault::VaultBackend;
use crate::backend::vault::VaultClient;
use crate::backend::{Backend, BackendKind, Backends};
use crate::error::{Error, Result};
use crate::settings::{DefaultBackend, Settings};
use crate::sops::DecryptOptions;
use std::path::PathBuf;

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
            VaultBackend::new(client.clone())
                .with_path_prefix(opts.vault_path_prefix.clone())
                .with_fingerprint_key(opts.fingerprint_key.clone()),
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
        Err(e) => backends.with(BackendKind::Sops, Arc::new(crate::backend::Unavailable(e))),
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
        kv_version: settings.kv_version,
        path_validation,
        vault_path_prefix: settings.path_prefix.clone(),
        max_output: settings.max_output,
        tenant: crate::policy::for_run(settings)?,
        redact: None,
        fingerprint_key: fingerprint_key(false)?,
        record_versions: record_versions()?,
    })
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
