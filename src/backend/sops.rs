//! sops-encrypted files as a backend: `<path:sops://FILE#key>`, `ref+sops://FILE#/pointer`.
//!
//! A file is decrypted once per run (the engine de-duplicates by path) with the sops module,
//! and the whole plaintext tree is returned; the engine picks keys and pointers from it.
//!
//! Paths are **confined to a root directory** (the working directory by default): an absolute
//! path, a `..` component, or a symlink whose target leaves the root is refused before anything
//! is read. An Argo CD repository is untrusted input: it must not be able to make the sidecar
//! decrypt (and print) files outside the application's directory, such as its own key files.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::{Backend, BackendError, BackendKind, FetchFuture, SecretId};
use crate::secret::SecretValue;
use crate::sops::keys::{HttpTransit, Transit};
use crate::sops::{self, DecryptOptions, KeySources, VaultKey};

/// The sops backend of one run.
#[derive(Debug, Clone)]
pub struct SopsBackend {
    root: PathBuf,
    options: Arc<DecryptOptions>,
}

impl SopsBackend {
    /// Files are looked up below `root` (canonicalised now; it must exist) and decrypted with
    /// `options` (key sources: `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`, … by default).
    pub fn new(root: &Path, options: DecryptOptions) -> Result<Self, BackendError> {
        let root = root.canonicalize().map_err(|e| {
            BackendError::NotConfigured(format!(
                "the sops root directory {} cannot be used: {e}",
                root.display()
            ))
        })?;
        Ok(SopsBackend {
            root,
            options: Arc::new(options),
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks `path` (relative to the root) and returns the canonical file to read.
    pub fn confine(&self, path: &str) -> Result<PathBuf, BackendError> {
        confine(&self.root, path)
    }

    fn decrypt(&self, file: &Path) -> Result<SecretValue, BackendError> {
        sops::decrypt_file(file, &self.options)
            .map(|d| d.to_secret_value())
            .map_err(|e| BackendError::Decrypt(e.to_string()))
    }
}

/// Vault transit for sops files read by the render engine, limited to trusted Vault addresses.
///
/// A sops file names its own `vault_address`, and the transit call carries the sidecar's
/// `VAULT_TOKEN`. A file in an untrusted repository could name a server its author controls
/// and receive the token. This guard only talks to the listed addresses (the configured
/// `VAULT_ADDR`); any other address fails that key (other keys of the file, e.g. age, still
/// work).
#[derive(Debug, Clone)]
pub struct GuardedTransit {
    allowed: Vec<String>,
}

impl GuardedTransit {
    /// Allows transit calls only to these addresses (compared without a trailing `/`).
    pub fn new(allowed: impl IntoIterator<Item = String>) -> Self {
        GuardedTransit {
            allowed: allowed.into_iter().map(|a| normalize_addr(&a)).collect(),
        }
    }

    fn check(&self, key: &VaultKey) -> Result<(), String> {
        let addr = normalize_addr(&key.vault_address);
        if self.allowed.contains(&addr) {
            // The request goes to `{addr}/v1/{engine_path}/decrypt/{key_name}`; URL
            // normalisation would resolve `..` (also `%2e%2e`), so a file could otherwise make
            // the sidecar `PUT` its token and a body to any path of the trusted server.
            check_transit_path("engine_path", &key.engine_path, true)?;
            check_transit_path("key_name", &key.key_name, false)
        } else {
            Err(format!(
                "the file's Vault transit key names {addr}, which is not the configured Vault \
                 address (VAULT_ADDR); refusing to send the Vault token there"
            ))
        }
    }
}

/// A transit mount path (`/`-separated when `nested`) or key name: non-empty segments of
/// ASCII letters, digits, `-`, `_` and `.`, none of them `.` or `..`.
fn check_transit_path(field: &str, value: &str, nested: bool) -> Result<(), String> {
    let ok_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let ok = if nested {
        value.split('/').all(ok_segment)
    } else {
        ok_segment(value)
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the file's Vault transit key has an invalid {field} {value:?} (allowed: letters, \
             digits, `-`, `_`, `.`{}; no `.`/`..` segments); refusing to use it",
            if nested { ", `/` between segments" } else { "" }
        ))
    }
}

fn normalize_addr(a: &str) -> String {
    a.trim().trim_end_matches('/').to_ascii_lowercase()
}

impl Transit for GuardedTransit {
    fn encrypt(&self, key: &VaultKey, plaintext: &[u8]) -> Result<String, String> {
        self.check(key)?;
        HttpTransit.encrypt(key, plaintext)
    }
    fn decrypt(&self, key: &VaultKey, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        self.check(key)?;
        HttpTransit.decrypt(key, ciphertext)
    }
}

/// Decryption options for the render engine: age keys from the environment, Vault transit
/// only towards `vault_addr` (the configured `VAULT_ADDR`; `None` disables transit).
pub fn render_decrypt_options(vault_addr: Option<&str>) -> DecryptOptions {
    let allowed: Vec<String> = vault_addr.map(str::to_owned).into_iter().collect();
    DecryptOptions {
        keys: KeySources::from_env().with_transit(Arc::new(GuardedTransit::new(allowed))),
        ..DecryptOptions::default()
    }
}

/// The confinement rule (see the module documentation).
pub fn confine(root: &Path, path: &str) -> Result<PathBuf, BackendError> {
    if path.is_empty() {
        return Err(BackendError::Refused("the file path is empty".to_owned()));
    }
    let rel = Path::new(path);
    if rel.is_absolute() || rel.has_root() {
        return Err(BackendError::Refused(
            "absolute paths are not allowed; give a path relative to the working directory"
                .to_owned(),
        ));
    }
    for c in rel.components() {
        match c {
            Component::ParentDir => {
                return Err(BackendError::Refused(
                    "`..` is not allowed in sops paths".to_owned(),
                ));
            }
            Component::Prefix(_) | Component::RootDir => {
                return Err(BackendError::Refused(
                    "absolute paths are not allowed".to_owned(),
                ));
            }
            Component::CurDir | Component::Normal(_) => {}
        }
    }
    let joined = root.join(rel);
    let canonical = match joined.canonicalize() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackendError::NotFound { version: None });
        }
        Err(e) => return Err(BackendError::Other(format!("cannot open the file: {e}"))),
    };
    if !canonical.starts_with(root) {
        return Err(BackendError::Refused(
            "the path leaves the working directory through a symbolic link".to_owned(),
        ));
    }
    if !canonical.is_file() {
        return Err(BackendError::Refused("not a regular file".to_owned()));
    }
    Ok(canonical)
}

impl Backend for SopsBackend {
    fn fetch<'a>(&'a self, id: &'a SecretId) -> FetchFuture<'a> {
        Box::pin(async move {
            if id.backend != BackendKind::Sops {
                return Err(BackendError::Other("not a sops reference".to_owned()));
            }
            if id.version.is_some() {
                return Err(BackendError::Refused(
                    "sops files have no versions".to_owned(),
                ));
            }
            let file = self.confine(&id.path)?;
            let this = self.clone();
            // Decryption is CPU work (age, AES-GCM, MAC): keep it off the async thread.
            match tokio::task::spawn_blocking(move || this.decrypt(&file)).await {
                Ok(r) => r,
                Err(_) => Err(BackendError::Other("decryption was interrupted".to_owned())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transit_only_to_the_configured_address() {
        let g = GuardedTransit::new(["http://127.0.0.1:8200/".to_owned()]);
        let key = |addr: &str| VaultKey {
            vault_address: addr.to_owned(),
            engine_path: "transit".into(),
            key_name: "k".into(),
            created_at: String::new(),
            enc: "vault:v1:x".into(),
        };
        assert!(g.check(&key("http://127.0.0.1:8200")).is_ok());
        let e = g.check(&key("https://evil.example")).unwrap_err();
        assert!(e.contains("refusing"), "{e}");
        assert!(
            GuardedTransit::new([])
                .check(&key("http://127.0.0.1:8200"))
                .is_err()
        );
    }

    #[test]
    fn transit_paths_cannot_climb_out_of_the_mount() {
        let g = GuardedTransit::new(["http://127.0.0.1:8200".to_owned()]);
        let key = |engine: &str, name: &str| VaultKey {
            vault_address: "http://127.0.0.1:8200".to_owned(),
            engine_path: engine.into(),
            key_name: name.into(),
            created_at: String::new(),
            enc: "vault:v1:x".into(),
        };
        assert!(g.check(&key("transit", "app-key_1.v2")).is_ok());
        assert!(g.check(&key("team/transit", "k")).is_ok());
        for (engine, name) in [
            ("transit", "../../secret/data/x"),
            ("transit", "a/b"),
            ("transit", "%2e%2e"),
            ("transit", "k?x=1"),
            ("transit", "k#f"),
            ("transit", ""),
            ("..", "k"),
            ("transit/../sys", "k"),
            ("/transit", "k"),
            ("transit/", "k"),
            ("tran sit", "k"),
        ] {
            let e = g.check(&key(engine, name)).unwrap_err();
            assert!(e.contains("refusing"), "{engine} {name}: {e}");
        }
    }

    #[test]
    fn confinement_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/ok.enc.yaml"), "a: b\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keys.txt"), "AGE-SECRET-KEY-1\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("keys.txt"), root.join("link.yaml"))
            .unwrap();
        std::os::unix::fs::symlink(root.join("sub/ok.enc.yaml"), root.join("inside.yaml")).unwrap();

        assert!(confine(&root, "sub/ok.enc.yaml").is_ok());
        assert!(confine(&root, "./sub/ok.enc.yaml").is_ok());
        assert!(confine(&root, "inside.yaml").is_ok());
        let refused = |p: &str| match confine(&root, p) {
            Err(BackendError::Refused(m)) => m,
            other => panic!("{p}: {other:?}"),
        };
        assert!(refused("../x.yaml").contains(".."));
        assert!(refused("sub/../sub/ok.enc.yaml").contains(".."));
        assert!(refused("/etc/passwd").contains("absolute"));
        assert!(refused("link.yaml").contains("symbolic link"));
        assert!(refused("sub").contains("regular file"));
        assert!(matches!(
            confine(&root, "missing.yaml"),
            Err(BackendError::NotFound { .. })
        ));
    }
}
