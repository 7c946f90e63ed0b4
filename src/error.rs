//! The top-level error: every failure maps to a kind, and each kind to an exit code.
//!
//! Messages name the file, object, field path and reference, never a secret value.

use std::path::PathBuf;

/// The process exit codes (documented in `docs/cli.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything resolved or decrypted.
    Success = 0,
    /// A reference could not be resolved, a file could not be decrypted, a backend failed.
    Failure = 1,
    /// The command line, the configuration or the environment is wrong.
    Usage = 2,
}

/// Everything that can go wrong in sealbridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line or configuration is wrong; the message says what to change.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A sops file could not be decrypted, encrypted or configured.
    #[error(transparent)]
    Sops(#[from] crate::sops::Error),
    /// The kustomize/kpt KRM function or exec plugin failed.
    #[error(transparent)]
    Krm(#[from] crate::krm::KrmError),
    /// The Argo CD plugin front-end failed.
    #[error(transparent)]
    Cmp(#[from] crate::cmp::CmpError),
    /// A kustomization tree was refused before kustomize ran (exit 1).
    #[error(transparent)]
    Tree(#[from] crate::kustomize::TreeError),
    /// The Vault/OpenBao client failed (configuration errors exit 2, the rest 1).
    #[error(transparent)]
    Vault(#[from] crate::backend::vault::VaultError),
    /// Rendering manifests failed (unreadable input or unresolved references; exit 1).
    #[error(transparent)]
    Render(#[from] crate::resolve::RenderError),
    /// Reading the settings Secret from Kubernetes failed (`-s/--secret-name`).
    #[cfg(feature = "kube")]
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// A check refused something it explains on stdout (`policy check`; exit 1).
    #[error("{0}")]
    Refused(String),
    /// A feature that is not built yet.
    #[error("`{0}` is not implemented yet in this build of sealbridge")]
    NotImplemented(&'static str),
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_) | Error::NotImplemented(_) => ExitStatus::Usage,
            Error::Io { .. } | Error::Refused(_) | Error::Tree(_) => ExitStatus::Failure,
            Error::Sops(e) if e.is_usage() => ExitStatus::Usage,
            Error::Sops(_) => ExitStatus::Failure,
            Error::Krm(e) => e.exit_status(),
            Error::Cmp(e) => e.exit_status(),
            Error::Vault(e) if e.is_config() => ExitStatus::Usage,
            Error::Vault(_) => ExitStatus::Failure,
            Error::Render(crate::resolve::RenderError::Config(_)) => ExitStatus::Usage,
            Error::Render(_) => ExitStatus::Failure,
            #[cfg(feature = "kube")]
            Error::Cluster(e) if e.is_usage() => ExitStatus::Usage,
            #[cfg(feature = "kube")]
            Error::Cluster(_) => ExitStatus::Failure,
        }
    }

    /// Shorthand for an I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// An error and its sources, `: `-joined (for messages from library errors that keep the cause
/// in `source()`, like reqwest's).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut s = e.source();
    while let Some(inner) = s {
        msg.push_str(": ");
        msg.push_str(&inner.to_string());
        s = inner.source();
    }
    msg
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
