//! The real [`SopsSource`]: decrypts with [`crate::sops`] and the key sources of the
//! environment (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, the default age key file, Vault transit).
//!
//! Vault transit goes through the same guarded client as the render engine
//! ([`crate::context::Context::sops_options`]): a sops file names its own `vault_address`, and
//! the transit call carries the sidecar's Vault credentials, so only the configured Vault
//! address is ever contacted. An entry that names another server is skipped (the file's other
//! keys are still tried) instead of receiving the token.

use std::path::Path;

use super::{KrmError, Plaintext, SopsSource};
use crate::secret::Sensitive;
use crate::sops::{self, DecryptOptions};

/// Decrypts sops files with the process's key configuration (age identities are read once).
#[derive(Debug)]
pub struct Sops {
    opts: DecryptOptions,
}

impl Sops {
    /// Decrypts with `opts`: the run's key sources from the application context
    /// ([`crate::context::Context::sops_options`]: age identities from the environment, Vault
    /// transit through the process's client and only towards its address; under a tenancy
    /// policy only the tenant's age keys and transit mounts).
    pub fn new(opts: DecryptOptions) -> Sops {
        Sops { opts }
    }
}

fn krm_error(e: sops::Error) -> KrmError {
    if e.is_usage() {
        KrmError::Config(e.to_string())
    } else {
        KrmError::Decrypt(e.to_string())
    }
}

impl SopsSource for Sops {
    fn decrypt(&self, path: &Path) -> Result<Plaintext, KrmError> {
        let decrypted = sops::decrypt_file(path, &self.opts).map_err(krm_error)?;
        let mut text = decrypted.emit(decrypted.format).map_err(krm_error)?;
        Ok(Plaintext {
            text: Sensitive::new(std::mem::take(&mut *text)),
            tree: decrypted.to_secret_value(),
        })
    }
}
