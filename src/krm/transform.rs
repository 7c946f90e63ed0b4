//! Transformer mode: resolve secret references in every item with the render engine, each
//! item's `sops://` paths relative to **and confined to its own package directory**
//! ([`super::packages`]): kpt render's package path (a subpackage's items: the subpackage),
//! else the working directory (kpt eval run from the package directory, kustomize's
//! kustomization directory). The confinement is the render engine's own
//! ([`crate::backend::sops::confine`] through [`SopsBackend`]).
//!
//! Items are rendered in groups, one per package directory, with one sops backend rooted
//! there; Vault is one client for the whole run and each distinct secret is fetched once
//! ([`Memo`]). Nothing changes unless every group resolved; every failure is reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::KrmError;
use super::function::ITEMS_ORIGIN;
use super::packages;
use crate::backend::{
    Backend, BackendError, BackendKind, Backends, CanonicalFuture, Fetch, FetchFuture, SecretId,
};
use crate::context::Context;
use crate::manifest::Origin;
use crate::resolve::{self, RenderFailure};
use crate::yaml::{Document, Node};

/// Resolves every item's references (see the module documentation). `cwd` is the function's
/// working directory.
pub fn transform(ctx: &Context, docs: &mut [Document], cwd: &Path) -> Result<(), KrmError> {
    let start = Instant::now();
    let root = packages::root(cwd)?;
    let nodes: Vec<&Node> = docs.iter().map(|d| &d.root).collect();
    let dirs = packages::item_packages(&nodes, cwd)?;
    let origins: Vec<Origin> = docs
        .iter()
        .zip(&dirs)
        .enumerate()
        .map(|(i, (d, dir))| item_origin(&d.root, i, dir, &root))
        .collect();

    let mut opts = ctx
        .render_options(Some(root.clone()))
        .map_err(|e| KrmError::Config(e.to_string()))?;
    // The process's one Vault client: Vault references and sops files' transit keys share it
    // (a tenant's own login, paths and keys under a tenancy policy); one fetch per secret
    // across packages.
    let vault: Arc<dyn Backend> = Arc::new(Memo::new(ctx.vault_backend(&opts)));

    // Groups in order of first appearance.
    let mut groups: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        match groups.iter_mut().find(|(d, _)| d == dir) {
            Some((_, members)) => members.push(i),
            None => groups.push((dir.clone(), vec![i])),
        }
    }

    let mut failures: Vec<(usize, resolve::Failure)> = Vec::new();
    let mut rendered: Vec<(Vec<usize>, Vec<Document>)> = Vec::new();
    for (dir, members) in groups {
        let sops = ctx.sops_backend(&dir);
        let backends = Backends::new()
            .with(BackendKind::Vault, vault.clone())
            .with(BackendKind::Sops, sops);
        opts.sops_root = dir;
        // One deadline for the whole run.
        opts.deadline = ctx.settings().deadline.saturating_sub(start.elapsed());
        let mut group_docs: Vec<Document> = members
            .iter()
            .filter_map(|&i| docs.get(i).map(|d| Document::new(d.root.clone())))
            .collect();
        let group_origins: Vec<Origin> = members
            .iter()
            .filter_map(|&i| origins.get(i).cloned())
            .collect();
        match resolve::render_documents_blocking(&mut group_docs, &group_origins, &backends, &opts)
        {
            Ok(_) => rendered.push((members, group_docs)),
            Err(resolve::RenderError::Resolve(f)) => {
                for failure in f.failures {
                    let at = group_origins
                        .iter()
                        .position(|o| *o == failure.origin)
                        .and_then(|p| members.get(p).copied())
                        .unwrap_or(usize::MAX);
                    failures.push((at, failure));
                }
            }
            Err(resolve::RenderError::Config(m)) => return Err(KrmError::Config(m)),
            Err(e) => return Err(KrmError::Resolve(e.to_string())),
        }
    }
    if !failures.is_empty() {
        failures.sort_by_key(|(at, _)| *at);
        return Err(KrmError::Unresolved(RenderFailure {
            failures: failures.into_iter().map(|(_, f)| f).collect(),
        }));
    }
    for (members, group_docs) in rendered {
        for (i, d) in members.into_iter().zip(group_docs) {
            if let Some(slot) = docs.get_mut(i) {
                slot.root = d.root;
            }
        }
    }
    Ok(())
}

/// Where an item came from, for messages: the orchestrator's path/index annotations when
/// present (kpt, kustomize), the path shown from the working directory (a subpackage's
/// `cm.yaml` is `sub/cm.yaml`), else its position in the ResourceList.
pub fn item_origin(item: &Node, position: usize, package: &Path, root: &Path) -> Origin {
    let index = |keys: &[&str]| {
        keys.iter().find_map(|k| {
            item.get_path(&["metadata", "annotations", k])
                .and_then(Node::as_str)
                .and_then(|i| i.parse().ok())
        })
    };
    match packages::file_path(item) {
        Some(file) => {
            let shown = match package.strip_prefix(root) {
                Ok(rel) if !rel.as_os_str().is_empty() => rel.join(file).display().to_string(),
                _ => file.to_owned(),
            };
            Origin {
                file: shown,
                index: index(&[
                    "internal.config.kubernetes.io/index",
                    "config.kubernetes.io/index",
                ])
                .unwrap_or(0),
            }
        }
        None => Origin {
            file: ITEMS_ORIGIN.to_owned(),
            index: position,
        },
    }
}

/// Remembers what a backend returned per id, so the groups of one run fetch each secret once.
struct Memo<B> {
    inner: B,
    seen: Mutex<HashMap<SecretId, Result<Fetch, BackendError>>>,
}

impl<B> Memo<B> {
    fn new(inner: B) -> Self {
        Memo {
            inner,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, id: &SecretId) -> Option<Result<Fetch, BackendError>> {
        self.seen.lock().ok()?.get(id).cloned()
    }
}

impl<B: Backend> Backend for Memo<B> {
    fn fetch<'a>(&'a self, id: &'a SecretId) -> FetchFuture<'a> {
        Box::pin(async move {
            if let Some(r) = self.cached(id) {
                return r;
            }
            let r = self.inner.fetch(id).await;
            if let Ok(mut seen) = self.seen.lock() {
                seen.insert(id.clone(), r.clone());
            }
            r
        })
    }

    fn canonical<'a>(&'a self, id: &'a SecretId) -> CanonicalFuture<'a> {
        self.inner.canonical(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_show_subpackage_files_from_the_working_directory() {
        let docs = crate::yaml::parse_stream(
            "kind: A\nmetadata:\n  annotations:\n    internal.config.kubernetes.io/path: a.yaml\n    internal.config.kubernetes.io/index: '2'\n---\nkind: B\n",
        )
        .unwrap();
        let root = Path::new("/w");
        let a = item_origin(&docs[0].root, 0, root, root);
        assert_eq!((a.file.as_str(), a.index), ("a.yaml", 2));
        let a = item_origin(&docs[0].root, 0, Path::new("/w/pkg/sub"), root);
        assert_eq!((a.file.as_str(), a.index), ("pkg/sub/a.yaml", 2));
        let b = item_origin(&docs[1].root, 1, root, root);
        assert_eq!((b.file.as_str(), b.index), (ITEMS_ORIGIN, 1));
    }

    #[test]
    fn memo_fetches_each_id_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(AtomicUsize);
        impl Backend for Count {
            fn fetch<'a>(&'a self, _id: &'a SecretId) -> FetchFuture<'a> {
                Box::pin(async move {
                    self.0.fetch_add(1, Ordering::SeqCst);
                    Err(BackendError::NotFound {
                        version: None,
                        reason: None,
                    })
                })
            }
        }
        let m = Memo::new(Count(AtomicUsize::new(0)));
        let id = SecretId {
            backend: BackendKind::Vault,
            path: "kv/app".into(),
            version: None,
            kv_version: None,
            metadata: false,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for _ in 0..3 {
            assert!(rt.block_on(m.fetch(&id)).is_err());
        }
        assert_eq!(m.inner.0.load(Ordering::SeqCst), 1);
    }
}
