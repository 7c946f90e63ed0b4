//! File paths of generator configurations: relative to the kustomization (or package)
//! directory and confined to it.
//!
//! A repository is untrusted input (an Argo CD Application, a pull request in CI): a generator
//! must not be able to read the sidecar's own age key or token through `../`, an absolute path,
//! or a symbolic link that leaves the directory.

use std::path::{Path, PathBuf};

use super::KrmError;

/// The directory file paths are resolved against, canonicalized once.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// Canonicalizes `dir` (which must exist).
    pub fn new(dir: &Path) -> Result<Root, KrmError> {
        let dir = dir.canonicalize().map_err(|e| {
            KrmError::Config(format!(
                "the directory {} cannot be used as the root for generator files: {e}",
                dir.display()
            ))
        })?;
        Ok(Root { dir })
    }

    /// The canonical directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Resolves `rel` (as written in a configuration) to a file inside the root, by the
    /// render engine's rule ([`crate::backend::sops::confine_file`]).
    ///
    /// Refused: empty and absolute paths, any `..` component, and any path whose real
    /// location (symbolic links followed) is outside the root.
    pub fn resolve(&self, rel: &str, origin: &str) -> Result<PathBuf, KrmError> {
        use crate::backend::sops::{Escape, confine_file};
        let outside = |why: &str| {
            KrmError::Path(format!(
                "{origin}: file {rel:?} {why}; generator files must be relative paths inside {}",
                self.dir.display()
            ))
        };
        confine_file(&self.dir, rel).map_err(|e| match e {
            Escape::Empty => outside("is empty"),
            Escape::Absolute => outside("is absolute"),
            Escape::ParentDir => outside("has a `..` component"),
            Escape::Open(e) => KrmError::Path(format!(
                "{origin}: cannot open {rel:?} (in {}): {e}",
                self.dir.display()
            )),
            Escape::Symlink => outside("is a symbolic link that leads outside the directory"),
            Escape::NotAFile => KrmError::Path(format!("{origin}: {rel:?} is not a regular file")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confines_paths() {
        let outer = tempfile::tempdir().unwrap();
        let root_dir = outer.path().join("app");
        std::fs::create_dir_all(root_dir.join("sub")).unwrap();
        std::fs::write(root_dir.join("a.yaml"), "a").unwrap();
        std::fs::write(root_dir.join("sub/b.yaml"), "b").unwrap();
        std::fs::write(outer.path().join("key.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(outer.path().join("key.txt"), root_dir.join("link.txt"))
            .unwrap();
        std::os::unix::fs::symlink(root_dir.join("a.yaml"), root_dir.join("inner-link.yaml"))
            .unwrap();
        let root = Root::new(&root_dir).unwrap();
        assert!(root.resolve("a.yaml", "o").is_ok());
        assert!(root.resolve("./sub/b.yaml", "o").is_ok());
        assert!(root.resolve("inner-link.yaml", "o").is_ok());
        for bad in [
            "../key.txt",
            "/etc/passwd",
            "sub/../../key.txt",
            "sub/../a.yaml",
            "link.txt",
            "",
            "sub",
        ] {
            let e = root.resolve(bad, "gen.yaml").unwrap_err();
            assert!(matches!(e, KrmError::Path(_)), "{bad}: {e}");
            assert!(!e.to_string().contains("secret"));
        }
        let e = root
            .resolve("missing.yaml", "gen.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gen.yaml") && e.contains("missing.yaml"), "{e}");
    }
}
