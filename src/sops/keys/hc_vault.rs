//! Vault / OpenBao transit key source (spec §7.4): the data key is wrapped with
//! `PUT {address}/v1/{engine}/encrypt/{key}` and unwrapped with `…/decrypt/{key}`.
//!
//! This is the format side: the [`Transit`] trait. The application implements it with its one
//! Vault client (`crate::backend::vault::transit::VaultTransit`: every auth method, token
//! cache, TLS settings, retries, run deadline, namespace); a key source without one uses
//! [`Unconfigured`].
//!
//! **The address guard.** A sops file is untrusted input and names its own `vault_address`.
//! sops itself sends `VAULT_TOKEN` to whatever address the file names; sealbridge does not:
//! the configured credentials go only to the configured Vault address (`VAULT_ADDR`,
//! `vault.address`). An `hc_vault` entry naming another server is skipped with a message naming
//! the entry, before any connection is made; another key of the file (age, or an `hc_vault`
//! entry for the configured server) may still decrypt it. `VaultTransit` is the only
//! network [`Transit`] implementation, so the guard applies to every caller: the CLI verbs, the
//! render engine's sops backend and the KRM functions.

use zeroize::Zeroizing;

use crate::sops::metadata::VaultKey;

/// Transit encrypt/decrypt of a data key (or Shamir share).
pub trait Transit: Send + Sync {
    /// Wraps `plaintext`; returns the `vault:v1:…` ciphertext.
    fn encrypt(&self, key: &VaultKey, plaintext: &[u8]) -> Result<String, String>;
    /// Unwraps a `vault:v1:…` ciphertext.
    fn decrypt(&self, key: &VaultKey, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, String>;
}

/// A [`Transit`] for key sources without a Vault client: every `hc_vault` key fails with the
/// reason and what to set.
#[derive(Debug, Clone)]
pub struct Unconfigured(pub String);

impl Unconfigured {
    fn message(&self) -> String {
        format!(
            "no Vault is configured for sops hc_vault keys ({}); set VAULT_ADDR to the key's \
             server and the Vault credentials (docs/vault.md)",
            self.0
        )
    }
}

impl Transit for Unconfigured {
    fn encrypt(&self, _: &VaultKey, _: &[u8]) -> Result<String, String> {
        Err(self.message())
    }
    fn decrypt(&self, _: &VaultKey, _: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        Err(self.message())
    }
}
