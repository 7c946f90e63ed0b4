//! The record a render keeps of the secret versions it was built from, so a later run can
//! tell that a rendered object is stale without rendering it again (`sealbridge refresh`).
//!
//! With `SEALBRIDGE_RECORD_VERSIONS=true`, every rendered object whose values came from Vault
//! KV secrets that can be checked again by metadata carries two annotations:
//!
//! - [`SOURCES_ANNOTATION`] — the secrets, `kv2:secret/data/app,kv1:kv/legacy` (paths, which
//!   the repository shows anyway; never a value);
//! - [`VERSIONS_ANNOTATION`] — `sha256:` and the hex SHA-256 of the sorted
//!   `source TAB version LF` lines: KV v2 version numbers, and for KV v1 (which keeps no
//!   versions) a keyed fingerprint with the operator's key, so the digest is no guessing
//!   oracle for the values.
//!
//! Pinned versions (they cannot change), sops files (they change with a commit, which Argo CD
//! sees itself) and other engines (dynamic secrets change at every read) are not recorded.

use std::collections::BTreeSet;

use sha2::Digest as _;

use crate::backend::Stamp;
use crate::yaml::{Node, NodeKind};

/// The annotation that lists the secrets an object was rendered from.
pub const SOURCES_ANNOTATION: &str = "sealbridge.io/secret-sources";

/// The annotation with the digest of (secret, version) pairs an object was rendered from.
pub const VERSIONS_ANNOTATION: &str = "sealbridge.io/secret-versions";

/// At most this many sources in one annotation (an object listing more is not checked).
pub const MAX_SOURCES: usize = 256;

/// One secret a rendered object records: what `refresh` asks about again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A KV v2 secret: its data path (`secret/data/app`).
    Kv2(String),
    /// A KV v1 secret: its path.
    Kv1(String),
}

impl Source {
    /// Reads `kv2:path` or `kv1:path` (a Vault path: no spaces, commas, `..` or empty
    /// segments, at most 512 bytes).
    pub fn parse(text: &str) -> Result<Source, String> {
        let (kind, path) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?} is not kv2:PATH or kv1:PATH"))?;
        let path_ok = !path.is_empty()
            && path.len() <= 512
            && path
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != "..")
            && path
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b'?' | b'#' | b'%' | b'\\'));
        if !path_ok {
            return Err(format!("{text:?}: not a Vault path"));
        }
        match kind {
            "kv2" => Ok(Source::Kv2(path.to_owned())),
            "kv1" => Ok(Source::Kv1(path.to_owned())),
            _ => Err(format!("{text:?} is not kv2:PATH or kv1:PATH")),
        }
    }

    /// The Vault path.
    pub fn path(&self) -> &str {
        match self {
            Source::Kv2(p) | Source::Kv1(p) => p,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Kv2(p) => write!(f, "kv2:{p}"),
            Source::Kv1(p) => write!(f, "kv1:{p}"),
        }
    }
}

/// Reads a [`SOURCES_ANNOTATION`] value.
pub fn parse_sources(text: &str) -> Result<BTreeSet<Source>, String> {
    let mut out = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if out.len() == MAX_SOURCES {
            return Err(format!("more than {MAX_SOURCES} sources"));
        }
        out.insert(Source::parse(part)?);
    }
    if out.is_empty() {
        return Err("no source".to_owned());
    }
    Ok(out)
}

/// The [`VERSIONS_ANNOTATION`] value of `stamps`.
pub fn digest<'a>(stamps: impl IntoIterator<Item = &'a Stamp>) -> String {
    let lines: BTreeSet<(&str, &str)> = stamps
        .into_iter()
        .map(|s| (s.source.as_str(), s.version.as_str()))
        .collect();
    let mut h = sha2::Sha256::new();
    for (source, version) in lines {
        h.update(source.as_bytes());
        h.update(b"\t");
        h.update(version.as_bytes());
        h.update(b"\n");
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The [`SOURCES_ANNOTATION`] value of `stamps`.
pub fn sources_text<'a>(stamps: impl IntoIterator<Item = &'a Stamp>) -> String {
    let sources: BTreeSet<&str> = stamps.into_iter().map(|s| s.source.as_str()).collect();
    sources.into_iter().collect::<Vec<_>>().join(",")
}

/// Sets the two annotations on a document's root mapping (creating `metadata` and
/// `metadata.annotations` when needed). With no stamps, removes them (an object rendered
/// from nothing checkable records nothing, whatever its input said). Returns whether the
/// root is a mapping.
pub fn annotate(root: &mut Node, stamps: &BTreeSet<Stamp>) -> bool {
    if !root.is_mapping() {
        return false;
    }
    let stamps: BTreeSet<&Stamp> = stamps.iter().filter(|s| recheckable(s)).collect();
    if stamps.is_empty() {
        if let Some(ann) = root
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
            && let Some(entries) = ann.as_mapping_mut()
        {
            let before = entries.len();
            entries.retain(|(k, _)| {
                !matches!(k.as_str(), Some(SOURCES_ANNOTATION | VERSIONS_ANNOTATION))
            });
            if entries.len() != before {
                ann.clear_span();
            }
        }
        return true;
    }
    set_annotations(
        root,
        [
            (SOURCES_ANNOTATION, sources_text(stamps.iter().copied())),
            (VERSIONS_ANNOTATION, digest(stamps.iter().copied())),
        ],
    )
}

/// Sets `metadata.annotations` entries of `node` (a mapping; `metadata` and `annotations` are
/// created when missing or null). The annotations are written by the manifest writer (their
/// text no longer describes them). False when `node` or one of them is not a mapping.
fn set_annotations<const N: usize>(node: &mut Node, entries: [(&str, String); N]) -> bool {
    let Some(ann) = child_mapping(node, "metadata").and_then(|m| child_mapping(m, "annotations"))
    else {
        return false;
    };
    for (key, value) in entries {
        ann.insert(key, Node::str(value));
    }
    ann.clear_span();
    true
}

/// Whether `refresh` can check a stamp again by metadata (a KV v2 or KV v1 secret, latest
/// version); pinned versions and sops files only count for pod-template checksums.
pub fn recheckable(s: &Stamp) -> bool {
    s.source.starts_with("kv2:") || s.source.starts_with("kv1:")
}

/// The annotation on a workload that asks for a pod-template checksum of Secrets rendered in
/// the same run: their names (comma-separated) or `auto` (every Secret its pod template uses).
pub const CHECKSUM_OF_ANNOTATION: &str = "sealbridge.io/checksum-of";

/// The pod-template annotation written for [`CHECKSUM_OF_ANNOTATION`]: `sha256:` and the
/// digest of the versions the named Secrets were rendered from.
pub const CHECKSUM_ANNOTATION: &str = "sealbridge.io/checksum";

/// A document index and a text (a checksum, or a problem).
pub type ByDocument = (usize, String);

/// The pod-template checksum of each workload asking for one (by document index), or every
/// problem found (document index, message). `stamps`: the stamps of each document with
/// references. Values are never part of it: KV versions, sops MAC fingerprints, pinned versions.
pub fn checksums(
    docs: &[crate::yaml::Document],
    stamps: &std::collections::BTreeMap<usize, BTreeSet<Stamp>>,
) -> (Vec<ByDocument>, Vec<ByDocument>) {
    let (mut out, mut problems) = (Vec::new(), Vec::new());
    // Rendered Secrets (with references): (namespace, name) → document.
    let secrets: Vec<(String, String, usize)> = docs
        .iter()
        .enumerate()
        .filter(|(i, d)| {
            d.root.get("kind").and_then(Node::as_str) == Some("Secret") && stamps.contains_key(i)
        })
        .filter_map(|(i, d)| {
            let name = d.root.get_path(&["metadata", "name"])?.as_str()?.to_owned();
            let ns = d
                .root
                .get_path(&["metadata", "namespace"])
                .and_then(Node::as_str)
                .unwrap_or("")
                .to_owned();
            Some((ns, name, i))
        })
        .collect();
    for (i, d) in docs.iter().enumerate() {
        let Some(want) = checksum_of(&d.root) else {
            continue;
        };
        let Some(want) = want.as_str() else {
            problems.push((i, "must be a string".to_owned()));
            continue;
        };
        let Some(template) = pod_template(&d.root) else {
            problems.push((
                i,
                "needs a workload with a pod template (spec.template, or \
                 spec.jobTemplate.spec.template of a CronJob)"
                    .to_owned(),
            ));
            continue;
        };
        let ns = d
            .root
            .get_path(&["metadata", "namespace"])
            .and_then(Node::as_str)
            .unwrap_or("");
        let find = |name: &str| {
            secrets
                .iter()
                .find(|(sns, sname, _)| {
                    sname == name && (sns == ns || sns.is_empty() || ns.is_empty())
                })
                .map(|(_, _, doc)| *doc)
        };
        let mut found: BTreeSet<usize> = BTreeSet::new();
        if want.trim() == "auto" {
            found.extend(secrets_used(template).iter().filter_map(|n| find(n)));
            if found.is_empty() {
                problems.push((
                    i,
                    "auto: the pod template uses no Secret this run renders from references \
                     (name them instead, or remove the annotation)"
                        .to_owned(),
                ));
                continue;
            }
        } else {
            let names: Vec<&str> = want
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            if names.is_empty() {
                problems.push((i, "names no Secret".to_owned()));
                continue;
            }
            let mut missing = Vec::new();
            for n in names {
                match find(n) {
                    Some(doc) => {
                        found.insert(doc);
                    }
                    None => missing.push(n),
                }
            }
            if !missing.is_empty() {
                problems.push((
                    i,
                    format!(
                        "names {}, which this run does not render from references (a Secret \
                         of the same render, by metadata.name)",
                        missing.join(", ")
                    ),
                ));
                continue;
            }
        }
        let all: Vec<&Stamp> = found
            .iter()
            .filter_map(|doc| stamps.get(doc))
            .flatten()
            .collect();
        out.push((i, digest(all)));
    }
    (out, problems)
}

/// The [`CHECKSUM_OF_ANNOTATION`] of a document root.
fn checksum_of(root: &Node) -> Option<&Node> {
    root.get_path(&["metadata", "annotations", CHECKSUM_OF_ANNOTATION])
}

/// Whether a document asks for a pod-template checksum ([`CHECKSUM_OF_ANNOTATION`]).
pub fn asks_for_checksum(root: &Node) -> bool {
    checksum_of(root).is_some()
}

/// Writes [`CHECKSUM_ANNOTATION`] into the pod template of `root`.
pub fn set_checksum(root: &mut Node, checksum: &str) -> bool {
    let mut cur = root;
    for key in template_path(cur) {
        let Some(next) = cur.get_mut(key) else {
            return false;
        };
        cur = next;
    }
    set_annotations(cur, [(CHECKSUM_ANNOTATION, checksum.to_owned())])
}

/// Where a workload's pod template is: `spec.template`, a CronJob's
/// `spec.jobTemplate.spec.template`.
fn template_path(root: &Node) -> &'static [&'static str] {
    if root.get("kind").and_then(Node::as_str) == Some("CronJob") {
        &["spec", "jobTemplate", "spec", "template"]
    } else {
        &["spec", "template"]
    }
}

fn pod_template(root: &Node) -> Option<&Node> {
    root.get_path(template_path(root))
        .filter(|t| t.is_mapping())
}

/// The Secret names a pod template uses: env `secretKeyRef`, `envFrom` `secretRef`, secret and
/// projected volumes.
fn secrets_used(template: &Node) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |n: Option<&Node>| {
        if let Some(s) = n.and_then(Node::as_str) {
            out.insert(s.to_owned());
        }
    };
    let spec = template.get("spec");
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in spec
            .and_then(|s| s.get(list))
            .and_then(Node::as_sequence)
            .into_iter()
            .flatten()
        {
            for e in c
                .get("env")
                .and_then(Node::as_sequence)
                .into_iter()
                .flatten()
            {
                add(e.get_path(&["valueFrom", "secretKeyRef", "name"]));
            }
            for e in c
                .get("envFrom")
                .and_then(Node::as_sequence)
                .into_iter()
                .flatten()
            {
                add(e.get_path(&["secretRef", "name"]));
            }
        }
    }
    for v in spec
        .and_then(|s| s.get("volumes"))
        .and_then(Node::as_sequence)
        .into_iter()
        .flatten()
    {
        add(v.get_path(&["secret", "secretName"]));
        for src in v
            .get_path(&["projected", "sources"])
            .and_then(Node::as_sequence)
            .into_iter()
            .flatten()
        {
            add(src.get_path(&["secret", "name"]));
        }
    }
    out
}

/// The mapping at `key` of `parent` (a mapping), created when missing or null.
fn child_mapping<'a>(parent: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    let entries = parent.as_mapping_mut()?;
    let at = entries.iter().position(|(k, _)| k.as_str() == Some(key));
    let i = match at {
        Some(i) => {
            if entries[i].1.is_null() {
                entries[i].1 = Node::mapping();
            }
            i
        }
        None => {
            entries.push((Node::str(key), Node::mapping()));
            parent.clear_span();
            parent.as_mapping_mut()?.len() - 1
        }
    };
    let node = &mut parent.as_mapping_mut()?.get_mut(i)?.1;
    matches!(node.kind, NodeKind::Mapping(_)).then_some(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(source: &str, version: &str) -> Stamp {
        Stamp {
            source: source.to_owned(),
            version: version.to_owned(),
        }
    }

    #[test]
    fn digest_is_order_free_and_changes_with_a_version() {
        let a = [stamp("kv2:s/data/a", "1"), stamp("kv2:s/data/b", "7")];
        let b = [stamp("kv2:s/data/b", "7"), stamp("kv2:s/data/a", "1")];
        assert_eq!(digest(&a), digest(&b));
        assert!(digest(&a).starts_with("sha256:"));
        assert_eq!(digest(&a).len(), 7 + 64);
        let c = [stamp("kv2:s/data/a", "2"), stamp("kv2:s/data/b", "7")];
        assert_ne!(digest(&a), digest(&c));
        // A tab or newline in a path cannot make two records collide: sources never hold them.
        assert!(Source::parse("kv2:s/data/a\tb").is_err());
        assert_eq!(sources_text(&a), "kv2:s/data/a,kv2:s/data/b");
    }

    #[test]
    fn sources_parse_strictly() {
        let s = parse_sources("kv2:secret/data/app, kv1:kv/x").unwrap();
        assert_eq!(s.len(), 2);
        for bad in [
            "",
            "kv3:a/b",
            "secret/data/app",
            "kv2:",
            "kv2:a//b",
            "kv2:a/../sys/raw",
            "kv2:a b",
            "kv2:a?b=1",
            "kv2:a%2fb",
        ] {
            assert!(parse_sources(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..=MAX_SOURCES)
            .map(|i| format!("kv2:s/data/{i}"))
            .collect();
        assert!(parse_sources(&many.join(",")).is_err());
    }

    #[test]
    fn annotate_sets_creates_and_removes() {
        let mut docs = crate::yaml::parse_stream("kind: Secret\nmetadata:\n  name: a\n").unwrap();
        let root = &mut docs[0].root;
        let stamps: BTreeSet<Stamp> = [stamp("kv2:s/data/a", "3")].into();
        assert!(annotate(root, &stamps));
        let ann = root.get_path(&["metadata", "annotations"]).unwrap();
        assert_eq!(
            ann.get(SOURCES_ANNOTATION).and_then(Node::as_str),
            Some("kv2:s/data/a")
        );
        assert_eq!(
            ann.get(VERSIONS_ANNOTATION).and_then(Node::as_str),
            Some(digest(&stamps).as_str())
        );
        assert!(annotate(root, &BTreeSet::new()));
        let ann = root.get_path(&["metadata", "annotations"]).unwrap();
        assert!(ann.get(SOURCES_ANNOTATION).is_none());
        let mut docs = crate::yaml::parse_stream("kind: Secret\n").unwrap();
        assert!(annotate(&mut docs[0].root, &stamps));
        assert!(
            docs[0]
                .root
                .get_path(&["metadata", "annotations", VERSIONS_ANNOTATION])
                .is_some()
        );
        let mut docs = crate::yaml::parse_stream("- a\n").unwrap();
        assert!(!annotate(&mut docs[0].root, &stamps));
    }
}
