//! The kustomization graph, read before kustomize runs: which plugins a tree would make
//! kustomize execute, and which of its entries leave the repository.
//!
//! With `--enable-alpha-plugins`, kustomize turns every generator, transformer and validator
//! configuration whose `apiVersion` is not `builtin` into the path of an executable:
//! `$KUSTOMIZE_PLUGIN_HOME/<group>/<version>/<lowercase kind>/<kind>`. Both come from the
//! repository, so `kind: ../../../../bin/sh` runs a program of the repository's choosing, and a
//! KRM-function configuration (`config.kubernetes.io/function`) is silently skipped when exec
//! functions are off (a Secret goes missing without an error). [`walk`] reads the whole local
//! graph — `resources`, `bases` and `components` directories, `generators`, `transformers` and
//! `validators` entries (files, inline YAML, directories, remote URLs) — and
//!
//! * refuses any configuration that is not a kustomize builtin (`apiVersion: builtin`, an
//!   identifier kind) or exactly one of the allowed exec plugins (sealbridge's
//!   `sealbridge.io/v1alpha1` `SecretGenerator`, ksops' `viaduct.ai/v1` `ksops`, plus what the
//!   operator lists), and every KRM-function configuration;
//! * refuses absolute entries and entries that resolve (symbolic links included) outside the
//!   repository root;
//! * reports remote entries (kustomize would `git clone` or download them) and directory
//!   entries of the configuration lists (their build output becomes configurations), which
//!   it cannot look into.
//!
//! The caller enables exec plugins only when the tree uses an allowed one *and* has no entry
//! it could not look into ([`Graph::plugins_safe`]): then every configuration kustomize loads
//! has been checked here.
//!
//! Bounded: at most [`MAX_KUSTOMIZATIONS`] kustomizations and [`MAX_CONFIG_FILES`]
//! configuration files of at most [`MAX_FILE_BYTES`] each are read. Nothing here reads a
//! secret: kustomizations and generator configurations hold file names, not values.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// kustomize's file names for a kustomization, in its order.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];
/// Most kustomizations read in one walk.
pub const MAX_KUSTOMIZATIONS: usize = 2_000;
/// Most configuration files read in one walk.
pub const MAX_CONFIG_FILES: usize = 5_000;
/// Largest kustomization or configuration file read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The exec plugins a tree may use without operator configuration: the two that
/// `plugins/kustomize/install.sh` installs.
pub const DEFAULT_PLUGINS: &[(&str, &str)] = &[
    ("sealbridge.io/v1alpha1", "SecretGenerator"),
    ("viaduct.ai/v1", "ksops"),
];

/// The annotations that make a configuration a KRM function.
const FUNCTION_ANNOTATIONS: &[&str] = &["config.kubernetes.io/function", "config.k8s.io/function"];

/// The kustomization fields whose entries are resources, bases or components.
const RESOURCE_FIELDS: &[&str] = &["resources", "bases", "components"];
/// The kustomization fields whose entries are plugin configurations.
const CONFIG_FIELDS: &[&str] = &["generators", "transformers", "validators"];

/// Why a tree is refused. Every message names the kustomization or configuration file (relative
/// to the repository root), the field and the entry, and says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The application directory holds no kustomization file.
    #[error("{0}: no kustomization.yaml, kustomization.yml or Kustomization")]
    NotAKustomization(String),
    /// An entry is an absolute path or resolves outside the repository.
    #[error(
        "{at}: {field} entry {entry:?} {why}; entries must be relative paths inside the \
         repository"
    )]
    Outside {
        /// The kustomization file.
        at: String,
        /// `resources`, `generators`, …
        field: &'static str,
        /// The entry as written.
        entry: String,
        /// "is absolute", "leaves the repository", …
        why: &'static str,
    },
    /// A configuration names a plugin that is neither a builtin nor allowed.
    #[error(
        "{at}: {field} configuration (document {doc}) is apiVersion {api_version:?} kind \
         {kind:?}, which kustomize would run as the program \
         <plugin home>/{api_version}/<kind>/<kind>; the sealbridge-kustomize plugin runs only \
         kustomize's builtins (apiVersion: builtin), sealbridge.io/v1alpha1 SecretGenerator and \
         viaduct.ai/v1 ksops (an operator can allow more with SEALBRIDGE_KUSTOMIZE_PLUGINS)"
    )]
    Plugin {
        /// The configuration file (or the kustomization, for inline configurations).
        at: String,
        /// `generators`, `transformers` or `validators`.
        field: &'static str,
        /// 1-based document index in the file.
        doc: usize,
        /// As written (shown quoted, so control characters are escaped).
        api_version: String,
        /// As written.
        kind: String,
    },
    /// A configuration in KRM-function form: kustomize skips it silently unless exec
    /// functions are enabled, which this plugin never does.
    #[error(
        "{at}: {field} configuration (document {doc}, kind {kind:?}) is a KRM function \
         (annotation {annotation}); the sealbridge-kustomize plugin does not run KRM functions \
         and kustomize would skip it silently (a missing Secret). Remove the annotation to use \
         the exec-plugin form (docs/kustomize.md), or render the package with kpt"
    )]
    Function {
        /// The configuration file.
        at: String,
        /// `generators`, `transformers` or `validators`.
        field: &'static str,
        /// 1-based document index.
        doc: usize,
        /// The configuration's kind.
        kind: String,
        /// The annotation found.
        annotation: &'static str,
    },
    /// A configuration is not an object with string `apiVersion` and `kind`.
    #[error("{at}: {field} configuration (document {doc}) {why}")]
    BadConfig {
        /// The configuration file.
        at: String,
        /// `generators`, `transformers` or `validators`.
        field: &'static str,
        /// 1-based document index.
        doc: usize,
        /// What is wrong.
        why: String,
    },
    /// A kustomization or configuration file cannot be read or parsed.
    #[error("{at}: {why}")]
    Unreadable {
        /// The file.
        at: String,
        /// What went wrong (never file content).
        why: String,
    },
    /// The tree is larger than the walk reads.
    #[error(
        "the kustomization tree has more than {0} kustomizations or configuration files; \
         split the application"
    )]
    TooLarge(usize),
    /// Exec plugins are needed but kustomize would also read something the walk cannot
    /// check.
    #[error(
        "{at}: {field} entry {entry:?} is {what}, and this tree uses exec plugins \
         ({plugin}): kustomize would run the plugin configurations in it unchecked. List the \
         configuration files themselves, or vendor the remote base into the repository"
    )]
    Unchecked {
        /// The kustomization file.
        at: String,
        /// The field.
        field: &'static str,
        /// The entry as written.
        entry: String,
        /// "a remote URL", "a directory (its build output becomes configurations)".
        what: &'static str,
        /// The first plugin use, `file: apiVersion kind`.
        plugin: String,
    },
    /// A remote entry without the operator's opt-in.
    #[error(
        "{at}: {field} entry {entry:?} is remote (kustomize would fetch it from the sidecar); \
         remote bases are off unless the operator sets SEALBRIDGE_KUSTOMIZE_REMOTE=true on the \
         sidecar. Vendor it into the repository"
    )]
    Remote {
        /// The kustomization file.
        at: String,
        /// The field.
        field: &'static str,
        /// The entry as written.
        entry: String,
    },
}

/// An allowed exec plugin that a configuration uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginUse {
    /// The configuration file, relative to the repository root (or the kustomization, inline).
    pub at: String,
    /// 1-based document index.
    pub doc: usize,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
}

impl fmt::Display for PluginUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.at, self.api_version, self.kind)
    }
}

/// An entry the walk could not look into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opaque {
    /// The kustomization file.
    pub at: String,
    /// The field.
    pub field: &'static str,
    /// The entry as written.
    pub entry: String,
    /// Remote (else a directory in a configuration list).
    pub remote: bool,
}

/// What [`walk`] found.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Kustomization files read (relative to the repository root), in walk order.
    pub kustomizations: Vec<String>,
    /// Uses of allowed exec plugins.
    pub plugins: Vec<PluginUse>,
    /// Entries the walk could not look into.
    pub opaque: Vec<Opaque>,
}

impl Graph {
    /// True when the tree uses an exec plugin.
    pub fn needs_plugins(&self) -> bool {
        !self.plugins.is_empty()
    }

    /// Whether exec plugins may be enabled for this tree: an error when it uses one and has an
    /// entry the walk could not check.
    pub fn plugins_safe(&self) -> Result<(), TreeError> {
        let (Some(p), Some(o)) = (self.plugins.first(), self.opaque.first()) else {
            return Ok(());
        };
        Err(TreeError::Unchecked {
            at: o.at.clone(),
            field: o.field,
            entry: o.entry.clone(),
            what: if o.remote {
                "a remote URL"
            } else {
                "a directory (its build output becomes configurations)"
            },
            plugin: p.to_string(),
        })
    }

    /// The first remote entry, as the error for a sidecar that does not allow them.
    pub fn remote_error(&self) -> Option<TreeError> {
        self.opaque
            .iter()
            .find(|o| o.remote)
            .map(|o| TreeError::Remote {
                at: o.at.clone(),
                field: o.field,
                entry: o.entry.clone(),
            })
    }
}

/// What the walk allows.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The repository root (canonical): no entry may resolve outside it.
    pub root: PathBuf,
    /// Allowed exec plugins, `(apiVersion, kind)`.
    pub plugins: Vec<(String, String)>,
}

impl Rules {
    /// The default plugins plus `extra`: a comma- or whitespace-separated list of
    /// `group/version/Kind` (the operator's `SEALBRIDGE_KUSTOMIZE_PLUGINS`).
    pub fn new(root: PathBuf, extra: Option<&str>) -> Result<Rules, String> {
        let mut plugins: Vec<(String, String)> = DEFAULT_PLUGINS
            .iter()
            .map(|(a, k)| ((*a).to_owned(), (*k).to_owned()))
            .collect();
        for item in extra
            .unwrap_or("")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let parts: Vec<&str> = item.split('/').collect();
            let [group, version, kind] = parts.as_slice() else {
                return Err(format!(
                    "SEALBRIDGE_KUSTOMIZE_PLUGINS entry {item:?} is not group/version/Kind"
                ));
            };
            if !is_dns_subdomain(group) || !is_identifier(version) || !is_identifier(kind) {
                return Err(format!(
                    "SEALBRIDGE_KUSTOMIZE_PLUGINS entry {item:?}: the group must be a DNS name, \
                     the version and kind identifiers (letters and digits)"
                ));
            }
            plugins.push((format!("{group}/{version}"), (*kind).to_owned()));
        }
        Ok(Rules { root, plugins })
    }
}

/// Reads the kustomization graph rooted at `app_dir` (see the module documentation).
pub fn walk(app_dir: &Path, rules: &Rules) -> Result<Graph, TreeError> {
    let mut w = Walker {
        rules,
        graph: Graph::default(),
        seen: BTreeSet::new(),
        configs_read: 0,
    };
    let start = app_dir.canonicalize().map_err(|e| TreeError::Unreadable {
        at: app_dir.display().to_string(),
        why: e.to_string(),
    })?;
    if find_kustomization(&start).is_none() {
        return Err(TreeError::NotAKustomization(w.rel(&start)));
    }
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        if !w.seen.insert(dir.clone()) {
            continue;
        }
        if w.seen.len() > MAX_KUSTOMIZATIONS {
            return Err(TreeError::TooLarge(MAX_KUSTOMIZATIONS));
        }
        let Some(file) = find_kustomization(&dir) else {
            // kustomize itself reports a resources directory without a kustomization.
            continue;
        };
        let mut next = w.kustomization(&dir, &file)?;
        next.reverse();
        stack.extend(next);
    }
    Ok(w.graph)
}

/// The kustomization file in `dir`, if any.
pub fn find_kustomization(dir: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

struct Walker<'r> {
    rules: &'r Rules,
    graph: Graph,
    seen: BTreeSet<PathBuf>,
    configs_read: usize,
}

impl Walker<'_> {
    /// `path` relative to the repository root, for messages.
    fn rel(&self, path: &Path) -> String {
        let shown = path.strip_prefix(&self.rules.root).unwrap_or(path);
        if shown.as_os_str().is_empty() {
            ".".to_owned()
        } else {
            shown.display().to_string()
        }
    }

    /// Reads one kustomization; returns the directories to walk next.
    fn kustomization(&mut self, dir: &Path, file: &Path) -> Result<Vec<PathBuf>, TreeError> {
        let at = self.rel(file);
        let docs = read_yaml(file, &at)?;
        self.graph.kustomizations.push(at.clone());
        let Some(k) = docs.into_iter().next() else {
            return Ok(Vec::new());
        };
        let Some(k) = k.as_object() else {
            return Err(TreeError::Unreadable {
                at,
                why: "not a mapping".to_owned(),
            });
        };
        let mut next = Vec::new();
        for &field in RESOURCE_FIELDS {
            for entry in strings(k.get(field)) {
                if looks_remote(entry) {
                    self.opaque(&at, field, entry, true);
                    continue;
                }
                let Some(path) = self.local(dir, &at, field, entry)? else {
                    continue;
                };
                if path.is_dir() {
                    next.push(path);
                }
            }
        }
        for &field in CONFIG_FIELDS {
            for entry in strings(k.get(field)) {
                if looks_inline(entry) {
                    let docs = parse_docs(entry).map_err(|why| TreeError::Unreadable {
                        at: format!("{at} ({field}, inline)"),
                        why,
                    })?;
                    self.configs(&format!("{at} ({field}, inline)"), field, docs)?;
                    continue;
                }
                if looks_remote(entry) {
                    self.opaque(&at, field, entry, true);
                    continue;
                }
                let Some(path) = self.local(dir, &at, field, entry)? else {
                    continue;
                };
                if path.is_dir() {
                    self.opaque(&at, field, entry, false);
                    // Its kustomization is walked too (its own generators are checked).
                    next.push(path);
                    continue;
                }
                self.configs_read += 1;
                if self.configs_read > MAX_CONFIG_FILES {
                    return Err(TreeError::TooLarge(MAX_CONFIG_FILES));
                }
                let shown = self.rel(&path);
                let docs = read_yaml(&path, &shown)?;
                self.configs(&shown, field, docs)?;
            }
        }
        Ok(next)
    }

    fn opaque(&mut self, at: &str, field: &'static str, entry: &str, remote: bool) {
        self.graph.opaque.push(Opaque {
            at: at.to_owned(),
            field,
            entry: entry.to_owned(),
            remote,
        });
    }

    /// A local entry, canonical and inside the root; `None` when it does not exist (kustomize
    /// reports that itself).
    fn local(
        &self,
        dir: &Path,
        at: &str,
        field: &'static str,
        entry: &str,
    ) -> Result<Option<PathBuf>, TreeError> {
        let outside = |why| TreeError::Outside {
            at: at.to_owned(),
            field,
            entry: entry.to_owned(),
            why,
        };
        if Path::new(entry).is_absolute() {
            return Err(outside("is absolute"));
        }
        let Ok(path) = dir.join(entry).canonicalize() else {
            return Ok(None);
        };
        if !path.starts_with(&self.rules.root) {
            return Err(outside("resolves outside the repository"));
        }
        Ok(Some(path))
    }

    /// Checks the configuration documents of one file or inline entry.
    fn configs(
        &mut self,
        at: &str,
        field: &'static str,
        docs: Vec<serde_json::Value>,
    ) -> Result<(), TreeError> {
        for (i, doc) in docs.iter().enumerate() {
            let doc_no = i + 1;
            let bad = |why: &str| TreeError::BadConfig {
                at: at.to_owned(),
                field,
                doc: doc_no,
                why: why.to_owned(),
            };
            let Some(obj) = doc.as_object() else {
                return Err(bad("is not an object"));
            };
            let (Some(api_version), Some(kind)) = (
                obj.get("apiVersion").and_then(|v| v.as_str()),
                obj.get("kind").and_then(|v| v.as_str()),
            ) else {
                return Err(bad("has no string apiVersion and kind"));
            };
            let annotations = obj
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.as_object());
            if let Some(annotation) = FUNCTION_ANNOTATIONS
                .iter()
                .find(|a| annotations.is_some_and(|m| m.contains_key(**a)))
            {
                return Err(TreeError::Function {
                    at: at.to_owned(),
                    field,
                    doc: doc_no,
                    kind: kind.to_owned(),
                    annotation,
                });
            }
            if api_version == "builtin" && is_identifier(kind) && !kind.ends_with("List") {
                continue;
            }
            if self
                .rules
                .plugins
                .iter()
                .any(|(a, k)| a == api_version && k == kind)
            {
                self.graph.plugins.push(PluginUse {
                    at: at.to_owned(),
                    doc: doc_no,
                    api_version: api_version.to_owned(),
                    kind: kind.to_owned(),
                });
                continue;
            }
            return Err(TreeError::Plugin {
                at: at.to_owned(),
                field,
                doc: doc_no,
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            });
        }
        Ok(())
    }
}

/// The string entries of a list field (anything else is kustomize's to report).
fn strings(v: Option<&serde_json::Value>) -> impl Iterator<Item = &str> {
    v.and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str())
}

/// An entry kustomize may fetch: a superset of what kustomize's repo-spec parser and its
/// `http(s)://` file loader accept (schemes, `git::`, `gh:`, `user@host:`, `github.com/…`,
/// Azure's `_git/`, a query, or any `:`), so nothing it would fetch is taken for local.
pub fn looks_remote(entry: &str) -> bool {
    let lower = entry.to_ascii_lowercase();
    entry.contains(':')
        || entry.contains('@')
        || entry.contains('?')
        || lower.contains("_git/")
        || lower.starts_with("github.com")
        || lower.starts_with("gitlab.com")
        || lower.starts_with("bitbucket.org")
}

/// An entry of a configuration list that kustomize reads as inline YAML (it tries that first;
/// a file name does not parse as an object).
fn looks_inline(entry: &str) -> bool {
    entry.contains('\n') || entry.trim_start().starts_with('{') || entry.contains(": ")
}

/// Reads and parses a YAML file of at most [`MAX_FILE_BYTES`].
fn read_yaml(path: &Path, at: &str) -> Result<Vec<serde_json::Value>, TreeError> {
    let unreadable = |why: String| TreeError::Unreadable {
        at: at.to_owned(),
        why,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("is not a regular file".to_owned()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(unreadable(format!("is larger than {MAX_FILE_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    parse_docs(&text).map_err(unreadable)
}

/// The non-empty documents of a YAML text, as JSON values.
fn parse_docs(text: &str) -> Result<Vec<serde_json::Value>, String> {
    let docs = crate::yaml::parse_stream(text).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(docs.len());
    for mut d in docs {
        if d.is_empty() {
            continue;
        }
        d.expand_aliases(100_000).map_err(|e| e.to_string())?;
        out.push(crate::yaml::to_json(&d.root).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// ASCII letters and digits, starting with a letter.
fn is_identifier(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// A DNS subdomain: dot-separated labels of lowercase letters, digits and `-`.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

impl From<TreeError> for crate::error::Error {
    fn from(e: TreeError) -> Self {
        crate::error::Error::component(e, crate::exit::ExitStatus::Failure)
    }
}

#[cfg(test)]
mod tests;
