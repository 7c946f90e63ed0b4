//! The login-token cache: one file per identity (address, namespace, auth method, mount,
//! role/user), mode 0600 in a 0700 directory (`$XDG_CACHE_HOME/sealbridge`, else
//! `~/.cache/sealbridge`).
//!
//! A cached token is used while its remaining TTL is at least twice the run's deadline; a
//! shorter-lived renewable token is renewed (`auth/token/renew-self`); otherwise the client logs
//! in again. The file name is a hash of the identity, so role ids and user names are not
//! written to disk. Files or directories with looser permissions are not trusted.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::auth::{self, Token};
use super::config::VaultConfig;
use super::http::Transport;
use super::json::ZStr;

pub(crate) struct TokenCache {
    dir: PathBuf,
    file: PathBuf,
    /// A cached token is reused only while it has at least this much life left.
    min_ttl: Duration,
}

#[derive(Deserialize)]
struct Entry {
    token: ZStr,
    #[serde(default)]
    expires_at: Option<u64>,
    #[serde(default)]
    renewable: bool,
}

/// The default cache directory.
pub(crate) fn default_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            return Some(p.join("sealbridge"));
        }
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("sealbridge"))
}

/// The cache file name for an identity: a hash, so nothing about the identity is on disk.
pub(crate) fn key_file_name(
    addr: &str,
    namespace: &str,
    method: &str,
    mount: &str,
    principal: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        "sealbridge-vault-token-v1",
        addr,
        namespace,
        method,
        mount,
        principal,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    format!("vault-token-{}.json", &hex::encode(h.finalize())[..32])
}

/// Whether `meta` belongs to the effective user: a cache entry or directory another user owns
/// (and so could have planted or can rewrite) is never trusted.
fn ours(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.uid() == nix::unistd::geteuid().as_raw()
}

/// Makes sure `dir` exists, is a real directory (not a symlink) owned by this user and is
/// private (0700).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) => {
            if !m.is_dir() {
                return Err(std::io::Error::other("not a directory"));
            }
            if !ours(&m) {
                return Err(std::io::Error::other("owned by another user"));
            }
            if m.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::DirBuilder::new().mode(0o700).create(dir)?;
            // The umask may have narrowed it further; make it exactly 0700.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        }
        Err(e) => Err(e),
    }
}

impl TokenCache {
    pub(super) fn new(config: &VaultConfig, addr: &str) -> Option<TokenCache> {
        let dir = match config.token_cache.dir.clone().or_else(default_dir) {
            Some(d) => d,
            None => {
                tracing::debug!("vault: no cache directory (HOME unset); token cache off");
                return None;
            }
        };
        let name = key_file_name(
            addr,
            config.namespace.as_deref().unwrap_or("").trim_matches('/'),
            config.auth.method(),
            config
                .auth
                .mount()
                .trim_matches('/')
                .trim_start_matches("auth/"),
            config.auth.principal(),
        );
        Some(TokenCache {
            file: dir.join(name),
            dir,
            min_ttl: (config.run_deadline * 2).max(Duration::from_secs(60)),
        })
    }

    fn read_entry(&self) -> Option<Entry> {
        let meta = std::fs::symlink_metadata(&self.file).ok()?;
        if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 || !ours(&meta) {
            tracing::warn!(
                "vault: ignoring the token cache file {}: not a private (0600) regular file \
                 owned by this user",
                self.file.display()
            );
            let _ = std::fs::remove_file(&self.file);
            return None;
        }
        if std::fs::symlink_metadata(&self.dir)
            .map(|m| !m.is_dir() || m.permissions().mode() & 0o077 != 0 || !ours(&m))
            .unwrap_or(true)
        {
            tracing::warn!(
                "vault: ignoring the token cache in {}: the directory is not private (0700) \
                 and owned by this user",
                self.dir.display()
            );
            return None;
        }
        let raw = Zeroizing::new(std::fs::read(&self.file).ok()?);
        match serde_json::from_slice::<Entry>(&raw) {
            Ok(e) if !e.token.0.is_empty() => Some(e),
            _ => {
                tracing::debug!("vault: unreadable token cache entry; logging in");
                let _ = std::fs::remove_file(&self.file);
                None
            }
        }
    }

    /// A cached token with enough life left, renewing it if needed and possible.
    pub(super) async fn load(&self, transport: &Transport) -> Option<Token> {
        let entry = self.read_entry()?;
        let expires_at = entry
            .expires_at
            .map(|s| UNIX_EPOCH + Duration::from_secs(s));
        let remaining = match expires_at {
            None => {
                return Some(Token {
                    token: entry.token.0,
                    expires_at: None,
                    renewable: entry.renewable,
                    from_login: true,
                });
            }
            Some(at) => at.duration_since(SystemTime::now()).unwrap_or_default(),
        };
        if remaining >= self.min_ttl {
            tracing::debug!(
                "vault: reusing the cached token ({} s left)",
                remaining.as_secs()
            );
            return Some(Token {
                token: entry.token.0,
                expires_at,
                renewable: entry.renewable,
                from_login: true,
            });
        }
        if entry.renewable && remaining > Duration::from_secs(1) {
            match auth::renew_self(
                transport,
                &entry.token.0,
                self.min_ttl + Duration::from_secs(60),
            )
            .await
            {
                Ok(t) => {
                    let left = t
                        .expires_at
                        .and_then(|at| at.duration_since(SystemTime::now()).ok());
                    if left.is_none_or(|l| l >= self.min_ttl) {
                        tracing::debug!("vault: renewed the cached token");
                        self.store(&t);
                        return Some(t);
                    }
                    tracing::debug!("vault: the renewed token would not last the run; logging in");
                }
                Err(e) => tracing::debug!("vault: renewing the cached token failed: {e}"),
            }
        }
        self.remove();
        None
    }

    /// Writes the token (atomically: a private temporary file renamed over the entry).
    pub(super) fn store(&self, token: &Token) {
        if let Err(e) = self.try_store(token) {
            tracing::warn!(
                "vault: cannot write the token cache in {} ({e}); every run will log in",
                self.dir.display()
            );
        }
    }

    fn try_store(&self, token: &Token) -> std::io::Result<()> {
        private_dir(&self.dir)?;
        let Some(t) = token.token.expose_str() else {
            return Ok(());
        };
        #[derive(serde::Serialize)]
        struct Out<'a> {
            token: &'a str,
            expires_at: Option<u64>,
            renewable: bool,
        }
        let out = Out {
            token: t,
            expires_at: token
                .expires_at
                .map(|at| at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())),
            renewable: token.renewable,
        };
        // serde_json into a buffer that wipes what it outgrows (the token is in it).
        let mut body = crate::secret::SecretBuf::with_capacity(t.len() + 96);
        serde_json::to_writer(&mut body, &out).map_err(std::io::Error::other)?;
        body.write_all(b"\n")?;
        let body = body.into_zeroizing();
        let tmp = self.dir.join(format!(
            ".tmp-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.file)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Forgets the cached token (it was revoked or expired).
    pub(super) fn remove(&self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_separates_every_field() {
        let base = key_file_name("http://a", "", "approle", "approle", "r1");
        for other in [
            key_file_name("http://b", "", "approle", "approle", "r1"),
            key_file_name("http://a", "ns", "approle", "approle", "r1"),
            key_file_name("http://a", "", "userpass", "approle", "r1"),
            key_file_name("http://a", "", "approle", "approle2", "r1"),
            key_file_name("http://a", "", "approle", "approle", "r2"),
            // Length-prefixing: moving a boundary changes the key.
            key_file_name("http://a", "", "approle", "approler", "1"),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(
            base,
            key_file_name("http://a", "", "approle", "approle", "r1")
        );
        assert!(!base.contains("r1"));
    }

    #[test]
    fn private_dir_is_created_0700_and_tightened() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("a").join("sealbridge");
        private_dir(&d).unwrap();
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&d).unwrap();
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let f = root.path().join("file");
        std::fs::write(&f, "").unwrap();
        assert!(private_dir(&f).is_err());
    }
}
