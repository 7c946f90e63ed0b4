//! The top-level error: every failure maps to a kind, and each kind to an exit code.
//!
//! Messages name the file, object, field path and reference, never a secret value.

use std::path::PathBuf;

pub use crate::exit::ExitStatus;

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
    /// A front-end component failed: the KRM function or exec plugin (`krm::KrmError`), the
    /// Argo CD plugin (`cmp::CmpError`), the kustomization walk (`kustomize::TreeError`), the
    /// cluster client (`cluster::ClusterError`). Each module converts its own error (with its
    /// exit status) so that this module imports none of them.
    #[error("{error}")]
    Component {
        /// The component's error.
        #[source]
        error: Box<dyn std::error::Error + Send + Sync>,
        /// Its exit status.
        status: ExitStatus,
    },
    /// The Vault/OpenBao client failed (configuration errors exit 2, the rest 1).
    #[error(transparent)]
    Vault(#[from] crate::backend::vault::VaultError),
    /// Rendering manifests failed (unreadable input or unresolved references; exit 1).
    #[error(transparent)]
    Render(#[from] crate::resolve::RenderError),
    /// A check refused something it explains on stdout (`policy check`; exit 1).
    #[error("{0}")]
    Refused(String),
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_) => ExitStatus::Usage,
            Error::Io { .. } | Error::Refused(_) => ExitStatus::Failure,
            Error::Component { status, .. } => *status,
            Error::Sops(e) if e.is_usage() => ExitStatus::Usage,
            Error::Sops(_) => ExitStatus::Failure,
            Error::Vault(e) if e.is_config() => ExitStatus::Usage,
            Error::Vault(_) => ExitStatus::Failure,
            Error::Render(crate::resolve::RenderError::Config(_)) => ExitStatus::Usage,
            Error::Render(_) => ExitStatus::Failure,
        }
    }

    /// A component's error with its exit status (see [`Error::Component`]).
    pub fn component(
        error: impl std::error::Error + Send + Sync + 'static,
        status: ExitStatus,
    ) -> Self {
        Error::Component {
            error: Box::new(error),
            status,
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
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut s = e.source();
    while let Some(inner) = s {
        // Many errors already print their cause: say it once.
        let text = inner.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        s = inner.source();
    }
    msg
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
