//! Discovery for the three plugin variants: does this application directory belong to a
//! sealbridge plugin?
//!
//! argocd-cmp-server runs `discover.find.command` in the application's directory and matches
//! when the command exits 0 with a non-empty stdout; a non-zero exit is a discovery *error*.
//! So [`discover`] prints the first matching file and always succeeds. Matching is
//! deliberately narrow: a plugin found by discovery takes the application away from Argo CD's
//! built-in Helm/Kustomize/directory handling, so only applications that hold secret
//! references (or sops generators) are picked.

use std::path::{Path, PathBuf};

/// Which plugin variant asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    /// Plain directories of manifests (neither a chart nor a kustomization).
    Directory,
    /// Helm charts (`Chart.yaml`).
    Helm,
    /// Kustomizations (`kustomization.yaml`, `kustomization.yml`, `Kustomization`).
    Kustomize,
}

/// Markers of a secret reference in any syntax sealbridge resolves.
pub const REFERENCE_MARKERS: &[&str] = &[
    "<path:",
    "avp.kubernetes.io/path",
    "sealbridge.io/path",
    "ref+vault://",
    "ref+openbao://",
    "ref+sops://",
];

/// Markers of a sops generator configuration (kustomize variant only).
pub const GENERATOR_MARKERS: &[&str] = &["sealbridge.io/v1alpha1", "viaduct.ai/v"];

const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
const MAX_FILES: usize = 20_000;

/// Returns the first file (relative to `app_dir`) that makes `variant` responsible for the
/// application, or `None`.
pub fn discover(app_dir: &Path, variant: Variant, repo_root: Option<&Path>) -> Option<PathBuf> {
    let has = |name: &str| app_dir.join(name).is_file();
    let is_chart = has("Chart.yaml");
    let is_kustomization = KUSTOMIZATION_FILES.iter().any(|f| has(f));
    let applies = match variant {
        Variant::Directory => !is_chart && !is_kustomization,
        Variant::Helm => is_chart,
        Variant::Kustomize => is_kustomization,
    };
    if !applies {
        return None;
    }
    if let Some(found) = first_marked(app_dir, variant) {
        return Some(found);
    }
    if variant == Variant::Kustomize {
        return in_graph(app_dir, repo_root);
    }
    None
}

/// The kustomization graph beyond the application directory (bases, components, generator
/// files elsewhere in the repository): the first allowed exec-plugin configuration, else the
/// first marked file of another kustomization directory (as `<repo-relative dir>/<file>`).
/// A tree the walk refuses is not claimed (generate would refuse it too; Argo CD's own
/// handling reports its own error).
fn in_graph(app_dir: &Path, repo_root: Option<&Path>) -> Option<PathBuf> {
    let app = app_dir.canonicalize().ok()?;
    let root = repo_root
        .and_then(|r| r.canonicalize().ok())
        .unwrap_or_else(|| app.clone());
    let rules = crate::kustomize::Rules::new(root.clone(), None).ok()?;
    let graph = crate::kustomize::walk(&app, &rules).ok()?;
    if let Some(p) = graph.plugins.first() {
        return Some(PathBuf::from(&p.at));
    }
    graph.kustomizations.iter().skip(1).find_map(|k| {
        let dir = root.join(k).parent()?.to_path_buf();
        let found = first_marked(&dir, Variant::Directory)?;
        Some(Path::new(k).parent()?.join(found))
    })
}

/// The first file under `dir` (sorted, relative) holding a reference marker (and, for the
/// kustomize variant, a generator marker).
fn first_marked(app_dir: &Path, variant: Variant) -> Option<PathBuf> {
    let mut files = Vec::new();
    collect(app_dir, app_dir, &mut files);
    files.sort();
    files.into_iter().find(|rel| {
        let Ok(text) = std::fs::read(app_dir.join(rel)) else {
            return false;
        };
        let text = String::from_utf8_lossy(&text);
        REFERENCE_MARKERS.iter().any(|m| text.contains(m))
            || (variant == Variant::Kustomize && GENERATOR_MARKERS.iter().any(|m| text.contains(m)))
    })
}

/// Collects candidate files: `.yaml`, `.yml`, `.json` (and, for Helm charts, `.tpl`), not in
/// hidden directories, at most 4 MiB, symbolic links not followed.
fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if out.len() >= MAX_FILES {
            return;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(ft) = entry.file_type() else { continue };
        let path = entry.path();
        if ft.is_dir() {
            if !name.starts_with('.') {
                collect(root, &path, out);
            }
        } else if ft.is_file()
            && [".yaml", ".yml", ".json", ".tpl"]
                .iter()
                .any(|ext| name.ends_with(ext))
            && entry.metadata().is_ok_and(|m| m.len() <= MAX_FILE_BYTES)
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn plain_directories_need_a_reference() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a/deploy.yaml", "kind: Deployment\n");
        assert_eq!(discover(d.path(), Variant::Directory, None), None);
        write(
            d.path(),
            "b/secret.yaml",
            "stringData:\n  p: <path:kv/data/app#p>\n",
        );
        write(d.path(), ".git/x.yaml", "<path:x#y>");
        assert_eq!(
            discover(d.path(), Variant::Directory, None),
            Some(PathBuf::from("b/secret.yaml"))
        );
        assert_eq!(discover(d.path(), Variant::Helm, None), None);
        assert_eq!(discover(d.path(), Variant::Kustomize, None), None);
    }

    #[test]
    fn charts_and_kustomizations_go_to_their_variant() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "Chart.yaml", "name: c\n");
        write(d.path(), "values.yaml", "password: ref+vault://kv/app#/p\n");
        assert_eq!(discover(d.path(), Variant::Directory, None), None);
        assert_eq!(
            discover(d.path(), Variant::Helm, None),
            Some(PathBuf::from("values.yaml"))
        );
        let k = tempfile::tempdir().unwrap();
        write(k.path(), "kustomization.yaml", "generators: [gen.yaml]\n");
        assert_eq!(discover(k.path(), Variant::Kustomize, None), None);
        write(
            k.path(),
            "gen.yaml",
            "apiVersion: viaduct.ai/v1\nkind: ksops\n",
        );
        assert_eq!(
            discover(k.path(), Variant::Kustomize, None),
            Some(PathBuf::from("gen.yaml"))
        );
        assert_eq!(discover(k.path(), Variant::Directory, None), None);
    }

    #[test]
    fn kustomize_discovery_follows_bases_inside_the_repository() {
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        write(r, "app/kustomization.yaml", "resources: [../base]\n");
        write(r, "base/kustomization.yaml", "generators: [gen.yaml]\n");
        write(
            r,
            "base/gen.yaml",
            "apiVersion: viaduct.ai/v1\nkind: ksops\n",
        );
        let app = r.join("app");
        assert_eq!(discover(&app, Variant::Kustomize, None), None, "root = app");
        assert_eq!(
            discover(&app, Variant::Kustomize, Some(r)),
            Some(PathBuf::from("base/gen.yaml"))
        );
        write(r, "base/kustomization.yaml", "resources: [s.yaml]\n");
        write(
            r,
            "base/s.yaml",
            "kind: Secret\nstringData: {a: <path:kv/x#y>}\n",
        );
        assert_eq!(
            discover(&app, Variant::Kustomize, Some(r)),
            Some(PathBuf::from("base/s.yaml"))
        );
        // A tree the walk refuses is not claimed.
        write(
            r,
            "app/kustomization.yaml",
            "resources: [../base]\ngenerators: [/etc/x]\n",
        );
        assert_eq!(discover(&app, Variant::Kustomize, Some(r)), None);
    }
}
