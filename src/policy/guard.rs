//! The tenant's guards around the run's backends:
//!
//! - [`GuardedVault`]: before each Vault read, the exact path the client will request (after
//!   the mount lookup: `data/` inserted for KV v2, `SEALBRIDGE_PATH_PREFIX` in front) must be
//!   inside the tenant's `vault.paths`. The plan step has already refused every path that
//!   could not be inside ([`super::Tenant::check_reference`]); this second check closes the
//!   gap the unknown mount type leaves (a KV v1 mount, a path already written with `data/`).
//! - [`TenantTransit`]: a sops file's `hc_vault` key may only use the tenant's transit mounts.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::Tenant;
use crate::backend::{Backend, BackendError, CanonicalFuture, FetchFuture, SecretId};
use crate::sops::keys::Transit;
use crate::sops::metadata::VaultKey;

/// The Vault backend of a tenant's run (see the module documentation).
pub struct GuardedVault {
    inner: Arc<dyn Backend>,
    tenant: Arc<Tenant>,
    prefix: Option<String>,
}

impl GuardedVault {
    /// Guards `inner` (the tenant's own Vault client) with `tenant`'s paths; `prefix` is the
    /// `SEALBRIDGE_PATH_PREFIX` the client puts in front of every path.
    pub fn new(inner: Arc<dyn Backend>, tenant: Arc<Tenant>, prefix: Option<String>) -> Self {
        GuardedVault {
            inner,
            tenant,
            prefix,
        }
    }
}

impl Backend for GuardedVault {
    fn fetch<'a>(&'a self, id: &'a SecretId) -> FetchFuture<'a> {
        Box::pin(async move {
            // The client's de-duplication key is `namespace|kind|request path`; without it (no
            // mount lookup, or KV v1 by annotation) the client requests the path as written.
            let looked_up = self.inner.canonical(id).await;
            let request = match &looked_up {
                Some(key) => key.splitn(3, '|').nth(2).map(str::to_owned),
                None => None,
            }
            .unwrap_or_else(|| {
                super::with_prefix(self.prefix.as_deref(), &id.path)
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("/")
            });
            if !self.tenant.path_allowed(&request) {
                let hint = if looked_up.is_none() {
                    " (the mount type could not be looked up, so the path would be requested as \
                     written; write it as the tenant's paths do, e.g. with data/ for KV v2)"
                } else {
                    ""
                };
                let msg = self.tenant.refusal(
                    "vault.paths",
                    format!(
                        "the Vault request path {request:?} is outside the tenant's paths{hint}"
                    ),
                );
                // BackendError::Refused prints "refused: …" itself.
                let msg = msg.strip_prefix("refused ").unwrap_or(&msg).to_owned();
                return Err(BackendError::Refused(msg));
            }
            self.inner.fetch(id).await
        })
    }

    fn canonical<'a>(&'a self, id: &'a SecretId) -> CanonicalFuture<'a> {
        self.inner.canonical(id)
    }

    fn location(&self) -> Option<String> {
        self.inner.location()
    }
}

/// Vault transit limited to the tenant's `sops.transit_mounts`.
pub struct TenantTransit {
    inner: Arc<dyn Transit>,
    tenant: Arc<Tenant>,
}

impl TenantTransit {
    /// Limits `inner` (the tenant's transit through its own Vault client).
    pub fn new(inner: Arc<dyn Transit>, tenant: Arc<Tenant>) -> Self {
        TenantTransit { inner, tenant }
    }

    fn check(&self, key: &VaultKey) -> Result<(), String> {
        let mount = key.engine_path.trim_matches('/');
        if self.tenant.sops.transit_mounts.iter().any(|m| m == mount) {
            Ok(())
        } else {
            Err(self.tenant.refusal(
                "sops.transit_mounts",
                format!("the transit mount {mount:?} is not one of the tenant's"),
            ))
        }
    }
}

impl Transit for TenantTransit {
    fn encrypt(&self, key: &VaultKey, plaintext: &[u8]) -> Result<String, String> {
        self.check(key)?;
        self.inner.encrypt(key, plaintext)
    }

    fn decrypt(&self, key: &VaultKey, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        self.check(key)?;
        self.inner.decrypt(key, ciphertext)
    }
}
