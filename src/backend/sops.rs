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

use super::vault::VaultClient;
use super::vault::transit::VaultTransit;
use super::{Backend, BackendError, BackendKind, Fetch, FetchFuture, SecretId, Stamp};
use crate::secret::SecretValue;
use crate::sops::{self, DecryptOptions, KeySources};

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

    /// The `version` of a sops file without decrypting it: a fingerprint of its MAC (which
    /// is ciphertext, and changes with every change of the values), and `lastmodified`.
    fn fingerprint(file: &Path) -> Result<SecretValue, BackendError> {
        let bytes = std::fs::read(file)
            .map_err(|e| BackendError::Decrypt(format!("cannot read the file: {e}")))?;
        let (_, md) = sops::load_encrypted(&bytes, sops::Format::from_path(file))
            .map_err(|e| BackendError::Decrypt(e.to_string()))?;
        Ok(super::version_map(
            &mac_fingerprint(&md.mac),
            &md.last_modified,
        ))
    }

    /// Decrypts `file`; the stamp is `sops:PATH` at its MAC fingerprint (for pod-template
    /// checksums; a sops file changes with a commit, so nothing re-checks it).
    fn decrypt(&self, file: &Path, path: &str) -> Result<Fetch, BackendError> {
        sops::decrypt_file(file, &self.options)
            .map(|d| Fetch {
                value: d.to_secret_value(),
                stamp: Some(Stamp {
                    source: format!("sops:{path}"),
                    version: mac_fingerprint(&d.metadata.mac),
                }),
            })
            .map_err(|e| BackendError::Decrypt(e.to_string()))
    }
}

/// Decryption options for files read by the render engine and the KRM functions: age keys
/// from the environment, Vault transit through `client` (the run's one Vault client, shared
/// with the Vault backend), which talks only to its own configured address: a file in an
/// untrusted repository that names another `vault_address` cannot get the token sent there
/// (the guard is [`VaultTransit`]). `Err(why)`: Vault is not configured.
pub fn decrypt_options_with(client: Result<VaultClient, String>) -> DecryptOptions {
    let transit = match client {
        Ok(c) => VaultTransit::new(c),
        Err(why) => VaultTransit::unconfigured(why),
    };
    DecryptOptions {
        keys: KeySources::from_env()
            .with_transit(Arc::new(transit))
            .with_kms(Arc::new(crate::backend::aws::AwsKms::new())),
        ..DecryptOptions::default()
    }
}

/// Why [`confine_file`] refused a path or could not open it (no file content, only the rule).
#[derive(Debug)]
pub enum Escape {
    /// The path is empty.
    Empty,
    /// The path is absolute.
    Absolute,
    /// The path has a `..` component.
    ParentDir,
    /// The file could not be opened (missing, permission, a dangling link, …).
    Open(std::io::Error),
    /// Symbolic links followed, the file is outside the root.
    Symlink,
    /// It is not a regular file (a directory, a device, a FIFO).
    NotAFile,
}

/// The one confinement rule for a file a repository names (`sops://` references, the KRM
/// generators' `files`/`envs`/`keys`, directory walks): a relative path without any `..`
/// component that, symbolic links followed, is a regular file inside `root` (canonical).
/// Returns the canonical file.
///
/// `..` is refused even when it stays inside (`sub/../a.yaml`): a lexical reader (kustomize,
/// a reviewer) takes that for `a.yaml`, the kernel for `a.yaml` next to wherever `sub` links
/// to, so the same text could name two files; a file inside the root never needs it.
pub fn confine_file(root: &Path, path: &str) -> Result<PathBuf, Escape> {
    if path.is_empty() {
        return Err(Escape::Empty);
    }
    let rel = Path::new(path);
    if rel.is_absolute() || rel.has_root() {
        return Err(Escape::Absolute);
    }
    for c in rel.components() {
        match c {
            Component::ParentDir => return Err(Escape::ParentDir),
            Component::Prefix(_) | Component::RootDir => return Err(Escape::Absolute),
            Component::CurDir | Component::Normal(_) => {}
        }
    }
    let canonical = root.join(rel).canonicalize().map_err(Escape::Open)?;
    if !canonical.starts_with(root) {
        return Err(Escape::Symlink);
    }
    if !canonical.is_file() {
        return Err(Escape::NotAFile);
    }
    Ok(canonical)
}

/// [`confine_file`] with the render engine's errors.
pub fn confine(root: &Path, path: &str) -> Result<PathBuf, BackendError> {
    let refused = |m: &str| BackendError::Refused(m.to_owned());
    confine_file(root, path).map_err(|e| match e {
        Escape::Empty => refused("the file path is empty"),
        Escape::Absolute => {
            refused("absolute paths are not allowed; give a path relative to the working directory")
        }
        Escape::ParentDir => refused("`..` is not allowed in sops paths"),
        Escape::Open(e) if e.kind() == std::io::ErrorKind::NotFound => BackendError::NotFound {
            version: None,
            reason: None,
        },
        Escape::Open(e) => BackendError::Other(format!("cannot open the file: {e}")),
        Escape::Symlink => refused("the path leaves the working directory through a symbolic link"),
        Escape::NotAFile => refused("not a regular file"),
    })
}

/// `sops-` and the first 16 hex digits of SHA-256 of a file's MAC (which is ciphertext and
/// changes with every change of the values): a sops file's version.
pub fn mac_fingerprint(mac: &str) -> String {
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(mac.as_bytes()));
    format!("sops-{}", &digest[..16])
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
            if id.metadata {
                let value = Self::fingerprint(&file)?;
                let version = super::version_of(&value);
                return Ok(Fetch {
                    stamp: version.map(|version| Stamp {
                        source: format!("sops:{}", id.path),
                        version,
                    }),
                    value,
                });
            }
            let this = self.clone();
            let path = id.path.clone();
            // Decryption is CPU work (age, AES-GCM, MAC): keep it off the async thread.
            match tokio::task::spawn_blocking(move || this.decrypt(&file, &path)).await {
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
    /// The render engine (`confine`) and the KRM generators (`krm::paths::Root`) use one rule;
    /// the generators used to accept a `..` that stays inside (`sub/../a.yaml`).
    #[test]
    fn dotdot_paths_that_a_reader_and_the_kernel_resolve_differently_are_refused_everywhere() {
        use crate::krm::{KrmError, paths::Root};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("deep/dir")).unwrap();
        std::fs::write(root.join("a.yaml"), "shown: to a reviewer\n").unwrap();
        std::fs::write(root.join("deep/a.yaml"), "read: by the kernel\n").unwrap();
        // `sub/../a.yaml` reads as `a.yaml`; the kernel resolves `sub` first: deep/a.yaml.
        std::os::unix::fs::symlink(root.join("deep/dir"), root.join("sub")).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("sub/../a.yaml")).unwrap(),
            "read: by the kernel\n"
        );
        let krm = Root::new(&root).unwrap();
        for p in [
            "sub/../a.yaml",
            "./deep/../a.yaml",
            "../x.yaml",
            "deep/dir/../../../x",
        ] {
            assert!(
                matches!(confine_file(&root, p), Err(Escape::ParentDir)),
                "{p}"
            );
            assert!(
                matches!(confine(&root, p), Err(BackendError::Refused(m)) if m.contains("`..`")),
                "{p}"
            );
            let e = krm.resolve(p, "gen.yaml").unwrap_err();
            assert!(matches!(e, KrmError::Path(_)), "{p}: {e}");
            assert!(e.to_string().contains("`..` component"), "{p}: {e}");
        }
        for p in ["a.yaml", "./deep/a.yaml", "deep/./a.yaml"] {
            let want = confine_file(&root, p).unwrap();
            assert_eq!(confine(&root, p).unwrap(), want);
            assert_eq!(krm.resolve(p, "gen.yaml").unwrap(), want);
        }
        assert!(matches!(confine_file(&root, ""), Err(Escape::Empty)));
        assert!(matches!(
            confine_file(&root, "/etc/passwd"),
            Err(Escape::Absolute)
        ));
        assert!(matches!(confine_file(&root, "deep"), Err(Escape::NotAFile)));
        assert!(matches!(confine_file(&root, "nope"), Err(Escape::Open(_))));
    }
}
