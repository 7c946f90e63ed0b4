//! Errors of the Vault/OpenBao client.
//!
//! Every message names the server address and the Vault path (or the setting) involved, never a
//! token, a secret id, a JWT or a secret value.

use std::fmt;

/// What kind of failure a [`VaultError`] is (for callers that map kinds to their own errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultErrorKind {
    /// The path, the secret, the key version or the secrets engine does not exist.
    NotFound,
    /// The server refused the token for this path (HTTP 403).
    PermissionDenied,
    /// Logging in failed (bad credentials, unknown role, unreadable credential file).
    Auth,
    /// The server could not be reached, or kept failing (connect errors, timeouts, 5xx, 429,
    /// 412) after every retry.
    Unreachable,
    /// The TLS handshake failed (unknown CA, wrong host name, client certificate refused).
    Tls,
    /// The run's deadline passed before the request could complete.
    Deadline,
    /// The server answered something we cannot use (unexpected status or body).
    BadResponse,
    /// The configuration is wrong (address, TLS files, auth settings); the message says which.
    Config,
    /// The reference's path is not a valid Vault path (empty, `.` or `..` segments).
    InvalidPath,
    /// The path is one references may never read (Vault's own system, auth, identity,
    /// cubbyhole or token areas; see `backend::vault::paths`). No request was made.
    Refused,
}

/// An error of the Vault/OpenBao client.
#[derive(Debug, Clone)]
pub struct VaultError {
    kind: VaultErrorKind,
    /// The server address (`https://vault:8200`), when known.
    addr: Option<String>,
    /// The Vault path (`secret/data/app`), when the error is about one request.
    path: Option<String>,
    /// What went wrong, without secrets.
    detail: String,
    /// How many attempts were made (for retried requests).
    attempts: u32,
}

impl VaultError {
    pub(crate) fn new(kind: VaultErrorKind, detail: impl Into<String>) -> Self {
        VaultError {
            kind,
            addr: None,
            path: None,
            detail: detail.into(),
            attempts: 0,
        }
    }

    /// A configuration error (exit code 2).
    pub fn config(detail: impl Into<String>) -> Self {
        Self::new(VaultErrorKind::Config, detail)
    }

    pub(crate) fn at(mut self, addr: &str, path: &str) -> Self {
        self.addr = Some(addr.to_owned());
        self.path = Some(path.to_owned());
        self
    }

    pub(crate) fn with_path(mut self, path: &str) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    pub(crate) fn with_addr(mut self, addr: &str) -> Self {
        self.addr = Some(addr.to_owned());
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> VaultErrorKind {
        self.kind
    }

    /// The Vault path the failing request was for, if any.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The server address, if known.
    pub fn address(&self) -> Option<&str> {
        self.addr.as_deref()
    }

    /// How many attempts were made before giving up (0 when not applicable).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The detail text (without address and path).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// True for configuration errors (exit code 2 rather than 1).
    pub fn is_config(&self) -> bool {
        self.kind == VaultErrorKind::Config
    }
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            VaultErrorKind::NotFound => "not found",
            VaultErrorKind::PermissionDenied => "permission denied",
            VaultErrorKind::Auth => "login failed",
            VaultErrorKind::Unreachable => "server unreachable",
            VaultErrorKind::Tls => "TLS error",
            VaultErrorKind::Deadline => "deadline exceeded",
            VaultErrorKind::BadResponse => "unexpected response",
            VaultErrorKind::Config => "configuration error",
            VaultErrorKind::InvalidPath => "invalid path",
            VaultErrorKind::Refused => "refused",
        };
        f.write_str("vault")?;
        if let Some(addr) = &self.addr {
            write!(f, " {addr}")?;
        }
        if let Some(path) = &self.path {
            write!(f, ": {path}")?;
        }
        write!(f, ": {what}")?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for VaultError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_address_path_and_attempts() {
        let e = VaultError::new(VaultErrorKind::Unreachable, "HTTP 503 Service Unavailable")
            .at("http://127.0.0.1:8200", "secret/data/app")
            .with_attempts(4);
        assert_eq!(
            e.to_string(),
            "vault http://127.0.0.1:8200: secret/data/app: server unreachable: HTTP 503 Service \
             Unavailable (after 4 attempts)"
        );
        assert_eq!(e.kind(), VaultErrorKind::Unreachable);
        assert_eq!(e.attempts(), 4);
    }

    #[test]
    fn config_errors_have_no_address() {
        let e = VaultError::config("VAULT_ADDR is not set");
        assert_eq!(
            e.to_string(),
            "vault: configuration error: VAULT_ADDR is not set"
        );
        assert!(e.is_config());
    }
}
