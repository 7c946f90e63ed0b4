//! Which kpt package an item (or a functionConfig) belongs to, from the orchestrator's
//! annotations, and how far that is trusted.
//!
//! What kpt passes (checked against kpt v1.0.0-beta.56, `internal/util/render/executor.go`,
//! `internal/pkg/pkg.go`, `thirdparty/kyaml/runfn/runfn.go`, and by running it):
//! - `kpt fn render`: every item read from a package carries
//!   `internal.config.kubernetes.io/package-path` (the package's absolute directory: a
//!   subpackage's items carry the subpackage's) and `internal.config.kubernetes.io/path`
//!   relative to that directory. kpt sets both itself, over anything written in the file. The
//!   function runs in kpt's working directory, wherever that is.
//! - `kpt fn eval DIR`: items carry only the path annotation, relative to `DIR` (subpackage
//!   files included, e.g. `sub/cm.yaml`, their `sub/Kptfile` too); `package-path` is NOT set by
//!   kpt, so one written in a file reaches the function unchanged. The function runs in kpt's
//!   working directory and is not told `DIR`.
//! - kustomize: no package path; the function runs in the kustomization directory.
//!
//! So a `package-path` annotation may be forged (under eval), and is only believed when it
//! names a kpt package (a directory holding a `Kptfile`) at or below the working directory:
//! the directory the user chose to run kpt in bounds everything a package can point at.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use super::KrmError;
use super::function::{PACKAGE_PATH_ANNOTATION, PATH_ANNOTATIONS};
use crate::yaml::Node;

/// kpt's package file name.
pub const KPTFILE: &str = "Kptfile";

fn annotation<'a>(n: &'a Node, key: &str) -> Option<&'a str> {
    n.get_path(&["metadata", "annotations", key])
        .and_then(Node::as_str)
}

/// `Kind/name` of an object, for messages.
pub fn label(n: &Node) -> String {
    format!(
        "{}/{}",
        n.get("kind").and_then(Node::as_str).unwrap_or("?"),
        n.get_path(&["metadata", "name"])
            .and_then(Node::as_str)
            .unwrap_or("?")
    )
}

/// The orchestrator's file path of `n` (relative to its package), if any.
pub fn file_path(n: &Node) -> Option<&str> {
    PATH_ANNOTATIONS.iter().find_map(|k| annotation(n, k))
}

/// The canonical working directory (the root everything is bounded by).
pub fn root(cwd: &Path) -> Result<PathBuf, KrmError> {
    cwd.canonicalize().map_err(|e| {
        KrmError::Config(format!(
            "the working directory {} cannot be used: {e}",
            cwd.display()
        ))
    })
}

/// The package directory named by `n`'s `package-path` annotation (kpt render), checked:
/// absolute, an existing kpt package (has a `Kptfile`), at or below `root` (canonical).
/// `Ok(None)`: no such annotation.
pub fn annotated_package(n: &Node, root: &Path) -> Result<Option<PathBuf>, KrmError> {
    let Some(p) = annotation(n, PACKAGE_PATH_ANNOTATION) else {
        return Ok(None);
    };
    let what = label(n);
    let refuse = |why: String| {
        KrmError::Path(format!(
            "{what}: {PACKAGE_PATH_ANNOTATION} {p:?} {why}; sealbridge only uses kpt packages at or \
             below its working directory {} (run kpt from the package directory or one of its \
             parents)",
            root.display()
        ))
    };
    if !Path::new(p).is_absolute() {
        return Err(refuse("is not an absolute path".to_owned()));
    }
    let dir = Path::new(p)
        .canonicalize()
        .map_err(|e| refuse(format!("cannot be opened ({e})")))?;
    if !dir.starts_with(root) {
        return Err(refuse("is outside the working directory".to_owned()));
    }
    if !dir.join(KPTFILE).is_file() {
        return Err(refuse("is not a kpt package (no Kptfile)".to_owned()));
    }
    Ok(Some(dir))
}

/// The subpackage directories (relative to the working directory) announced by `Kptfile`
/// items without a package path (kpt eval lists `sub/Kptfile` among the items).
fn eval_subpackages(items: &[&Node]) -> BTreeSet<PathBuf> {
    items
        .iter()
        .copied()
        .filter(|n| {
            n.get("kind").and_then(Node::as_str) == Some(KPTFILE)
                && annotation(n, PACKAGE_PATH_ANNOTATION).is_none()
        })
        .filter_map(file_path)
        .filter_map(|p| {
            let p = Path::new(p);
            (p.file_name()? == KPTFILE).then(|| p.parent().map(Path::to_path_buf))?
        })
        .filter(|d| {
            !d.as_os_str().is_empty() && d.components().all(|c| matches!(c, Component::Normal(_)))
        })
        .collect()
}

/// The package directory of every item (canonical), in order:
/// - kpt render: the item's `package-path` (checked by [`annotated_package`]);
/// - otherwise (kpt eval, kustomize, a piped list): the working directory, or, for an item in
///   a subpackage that kpt eval listed (`sub/Kptfile` among the items), that subpackage's
///   directory below it. This gives the same answer as render when eval runs from the
///   package directory.
pub fn item_packages(items: &[&Node], cwd: &Path) -> Result<Vec<PathBuf>, KrmError> {
    let root = root(cwd)?;
    let subpackages = eval_subpackages(items);
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for n in items {
        match item_package(n, &root, &subpackages) {
            Ok(d) => out.push(d),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(KrmError::Path(errors.join("\n")));
    }
    Ok(out)
}

fn item_package(
    n: &Node,
    root: &Path,
    subpackages: &BTreeSet<PathBuf>,
) -> Result<PathBuf, KrmError> {
    if let Some(dir) = annotated_package(n, root)? {
        return Ok(dir);
    }
    let Some(file) = file_path(n) else {
        return Ok(root.to_path_buf());
    };
    let parent = Path::new(file).parent().unwrap_or(Path::new(""));
    // The deepest listed subpackage that contains the item's file.
    let Some(sub) = subpackages
        .iter()
        .filter(|d| parent.starts_with(d))
        .max_by_key(|d| d.components().count())
    else {
        return Ok(root.to_path_buf());
    };
    let dir = root.join(sub).canonicalize().map_err(|e| {
        KrmError::Path(format!(
            "{}: its subpackage {} is not in the working directory {} ({e}); run kpt fn eval \
             from the package directory",
            label(n),
            sub.display(),
            root.display()
        ))
    })?;
    if !dir.starts_with(root) {
        return Err(KrmError::Path(format!(
            "{}: its subpackage {} leads outside the working directory {} through a symbolic link",
            label(n),
            sub.display(),
            root.display()
        )));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<Node> {
        crate::yaml::parse_stream(text)
            .unwrap()
            .into_iter()
            .map(|d| d.root)
            .collect()
    }

    fn item(name: &str, annotations: &[(&str, &str)]) -> String {
        let mut s = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
        if !annotations.is_empty() {
            s.push_str("  annotations:\n");
            for (k, v) in annotations {
                s.push_str(&format!("    {k}: '{v}'\n"));
            }
        }
        s
    }

    #[test]
    fn render_package_paths_are_trusted_only_below_the_working_directory() {
        let outer = tempfile::tempdir().unwrap();
        let cwd = outer.path().join("work");
        let pkg = cwd.join("pkg");
        std::fs::create_dir_all(pkg.join("sub")).unwrap();
        std::fs::create_dir_all(cwd.join("nokptfile")).unwrap();
        std::fs::write(pkg.join(KPTFILE), "x").unwrap();
        std::fs::write(pkg.join("sub").join(KPTFILE), "x").unwrap();
        std::fs::create_dir_all(outer.path().join("other")).unwrap();
        std::fs::write(outer.path().join("other").join(KPTFILE), "x").unwrap();
        std::os::unix::fs::symlink(outer.path().join("other"), cwd.join("link")).unwrap();
        let pp = PACKAGE_PATH_ANNOTATION;
        let ok = |dir: &Path| {
            let text = item(
                "a",
                &[(pp, dir.to_str().unwrap()), (PATH_ANNOTATIONS[0], "a.yaml")],
            );
            let n = items(&text);
            item_packages(&[&n[0]], &cwd)
        };
        let canon = |p: &Path| p.canonicalize().unwrap();
        assert_eq!(ok(&pkg).unwrap(), vec![canon(&pkg)]);
        assert_eq!(ok(&pkg.join("sub")).unwrap(), vec![canon(&pkg.join("sub"))]);
        for bad in [
            outer.path().join("other"),
            cwd.join("link"),
            cwd.join("nokptfile"),
            cwd.join("missing"),
            pkg.join("sub/../../../other"),
            PathBuf::from("pkg"),
        ] {
            let e = ok(&bad).unwrap_err();
            assert!(matches!(e, KrmError::Path(_)), "{}: {e}", bad.display());
            assert!(e.to_string().contains("ConfigMap/a"), "{e}");
        }
    }

    #[test]
    fn eval_items_follow_listed_subpackages() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("sub/deeper/more")).unwrap();
        std::fs::create_dir_all(d.path().join("dir")).unwrap();
        let p = PATH_ANNOTATIONS[0];
        let text = [
            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: top\n  annotations:\n    internal.config.kubernetes.io/path: Kptfile\n".to_owned(),
            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: sub\n  annotations:\n    internal.config.kubernetes.io/path: sub/Kptfile\n".to_owned(),
            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: deeper\n  annotations:\n    internal.config.kubernetes.io/path: sub/deeper/Kptfile\n".to_owned(),
            item("top", &[(p, "cm.yaml")]),
            item("indir", &[(p, "dir/cm.yaml")]),
            item("insub", &[(p, "sub/cm.yaml")]),
            item("deep", &[(p, "sub/deeper/more/cm.yaml")]),
            item("piped", &[]),
        ]
        .join("---\n");
        let n = items(&text);
        let refs: Vec<&Node> = n.iter().collect();
        let got = item_packages(&refs, d.path()).unwrap();
        let root = d.path().canonicalize().unwrap();
        assert_eq!(got[0], root);
        assert_eq!(got[1], root.join("sub"));
        assert_eq!(got[3], root);
        assert_eq!(got[4], root);
        assert_eq!(got[5], root.join("sub"));
        assert_eq!(got[6], root.join("sub/deeper"));
        assert_eq!(got[7], root);
    }
}
