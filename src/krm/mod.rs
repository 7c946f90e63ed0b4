//! kustomize / kpt integration: the KRM function (ResourceList in, ResourceList out) and the
//! legacy exec plugin (argv[1] = configuration file, YAML stream out), both generating Secrets
//! from sops files (sealbridge's `SecretGenerator` and ksops' `ksops` kinds) or, as a
//! transformer, resolving secret references in every item.
//!
//! Fail closed: a run that cannot produce every object produces none, exits non-zero and says
//! why on stderr (and, for KRM, in `results`) without any secret value.

use std::path::Path;

use crate::exit::ExitStatus;
use crate::secret::{SecretValue, Sensitive};

pub mod config;
pub mod function;
pub mod generate;
pub mod packages;
pub mod paths;
pub mod secret;
pub mod sops_source;
pub mod transform;

/// What can go wrong in the KRM function or exec plugin. Messages name files, objects and
/// keys, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KrmError {
    /// The configuration or the input is wrong (exit 2).
    #[error("{0}")]
    Config(String),
    /// A file path is outside the allowed directory or unreadable (exit 2).
    #[error("{0}")]
    Path(String),
    /// A sops file could not be decrypted (exit 1).
    #[error("{0}")]
    Decrypt(String),
    /// A key or reference could not be resolved (exit 1).
    #[error("{0}")]
    Resolve(String),
    /// Transformer mode: secret references in the items could not be resolved (exit 1). Each
    /// failure becomes its own KRM result (object, field path, file).
    #[error("{0}")]
    Unresolved(crate::resolve::RenderFailure),
}

impl KrmError {
    /// The exit code for this error.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            KrmError::Config(_) | KrmError::Path(_) => ExitStatus::Usage,
            KrmError::Decrypt(_) | KrmError::Resolve(_) | KrmError::Unresolved(_) => {
                ExitStatus::Failure
            }
        }
    }

    /// Prefixes the message with the configuration and file it concerns.
    pub fn in_file(self, origin: &str, file: &str) -> KrmError {
        let wrap = |m: String| format!("{origin}: {file}: {m}");
        match self {
            KrmError::Config(m) => KrmError::Config(wrap(m)),
            KrmError::Path(m) => KrmError::Path(wrap(m)),
            KrmError::Decrypt(m) => KrmError::Decrypt(wrap(m)),
            KrmError::Resolve(m) => KrmError::Resolve(wrap(m)),
            KrmError::Unresolved(f) => KrmError::Unresolved(f),
        }
    }
}

/// A decrypted sops file.
#[derive(Debug)]
pub struct Plaintext {
    /// The file as `sops decrypt` prints it (in its own format; raw bytes for binary files).
    pub text: Sensitive,
    /// The decrypted tree (a map for YAML/JSON/dotenv/INI files).
    pub tree: SecretValue,
}

/// Decrypts sops files for the generator (the real implementation uses [`crate::sops`]; tests
/// of the generator logic may substitute plaintext files).
pub trait SopsSource {
    /// Decrypts the file at `path` (already confined to the root by the caller).
    fn decrypt(&self, path: &Path) -> Result<Plaintext, KrmError>;
}
impl From<KrmError> for crate::error::Error {
    fn from(e: KrmError) -> Self {
        let status = e.exit_status();
        crate::error::Error::component(e, status)
    }
}
