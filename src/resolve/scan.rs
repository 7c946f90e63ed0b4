//! Scan: find every reference in every string value, with its location and substitution mode.

use base64::Engine as _;

use super::annotations::{self, GenericPath};
use super::{Failure, Found};
use crate::backend::KvVersion;
use crate::manifest::{self, Origin};
use crate::placeholder::{self, Reference, ScanContext, Segment};
use crate::yaml::{Document, Node, NodeKind, Resolved, ScalarStyle};

/// What the engine knows about one document.
#[derive(Debug, Clone)]
pub(crate) struct DocCtx {
    pub origin: Origin,
    /// `Kind/name`.
    pub object: String,
    pub generic_path: Option<GenericPath>,
    pub secret_version: Option<u64>,
    pub kv_version: Option<KvVersion>,
    pub remove_missing: bool,
}

/// How a resolved value is written into its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Typed when the value is exactly one reference; text otherwise.
    Plain,
    /// Always text (ConfigMap fields, Secret `stringData`).
    Stringify,
    /// Base64 of the value unless the chain ends with `base64encode` (Secret `data`,
    /// ConfigMap `binaryData`).
    Base64Data,
}

/// A piece of a site's string.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Text(String),
    /// Index into `Site::refs`.
    Ref(usize),
}

/// One string value that holds references.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// Index of the document.
    pub doc: usize,
    /// Index path from the root: mapping entry index or sequence index per level.
    pub path: Vec<usize>,
    /// `.spec.containers[0].image`.
    pub field: String,
    pub mode: Mode,
    /// The value was base64 text whose decoded form holds the references (Secret `data`):
    /// decode, replace, re-encode.
    pub base64_wrapped: bool,
    pub pieces: Vec<Piece>,
    pub refs: Vec<Reference>,
    /// The value is a mapping entry (may be removed by `remove-missing`).
    pub in_mapping: bool,
    /// The source wrote the value quoted (`"…"`, `'…'`): it stays a string even when it is
    /// exactly one reference to a number. (Block scalars may still become typed values:
    /// argocd-vault-plugin users fold long `jsonPath … | jsonParse` chains into `>-` blocks.)
    pub quoted: bool,
}

/// The result of scanning all documents.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    pub docs: Vec<DocCtx>,
    pub sites: Vec<Site>,
}

pub(crate) fn scan(docs: &[Document], origins: &[Origin], failures: &mut Found) -> Scanned {
    let mut out = Scanned::default();
    for (i, doc) in docs.iter().enumerate() {
        let origin = origins.get(i).cloned().unwrap_or_else(|| Origin {
            file: "<input>".to_owned(),
            index: i,
        });
        let root = &doc.root;
        let kind = manifest::kind_of(root).unwrap_or("").to_owned();
        let object = match (kind.as_str(), manifest::name_of(root)) {
            ("", _) => String::new(),
            (k, Some(n)) => format!("{k}/{n}"),
            (k, None) => k.to_owned(),
        };
        let (ann, problems) = annotations::read(root);
        let ctx = DocCtx {
            origin: origin.clone(),
            object: object.clone(),
            generic_path: ann.generic_path.clone(),
            secret_version: ann.secret_version,
            kv_version: ann.kv_version,
            remove_missing: ann.remove_missing,
        };
        out.docs.push(ctx);
        if ann.ignore {
            continue;
        }
        for (field, problem) in problems {
            failures.push((
                (i, Vec::new()),
                Failure {
                    origin: origin.clone(),
                    object: object.clone(),
                    field,
                    reference: String::new(),
                    problem,
                },
            ));
        }
        let walk = Walk {
            doc: i,
            kind: &kind,
            scan: ScanContext {
                generic: ann.generic_path.is_some(),
            },
            origin: &origin,
            object: &object,
        };
        let mut path = Vec::new();
        let mut field = String::new();
        walk.node(
            root,
            &mut path,
            &mut field,
            &[],
            false,
            &mut out.sites,
            failures,
        );
    }
    out
}

/// Where a scalar is.
struct Place<'a> {
    path: &'a [usize],
    field: &'a str,
    keys: &'a [&'a str],
    in_mapping: bool,
    quoted: bool,
}

struct Walk<'a> {
    doc: usize,
    kind: &'a str,
    scan: ScanContext,
    origin: &'a Origin,
    object: &'a str,
}

/// `.key`, or `["key"]` when the key is not a simple name.
fn push_key(field: &mut String, key: &str) {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        field.push('.');
        field.push_str(key);
    } else {
        field.push_str("[\"");
        field.push_str(&key.replace('\\', "\\\\").replace('"', "\\\""));
        field.push_str("\"]");
    }
}

impl Walk<'_> {
    #[allow(clippy::too_many_arguments)]
    fn node(
        &self,
        node: &Node,
        path: &mut Vec<usize>,
        field: &mut String,
        keys: &[&str],
        in_mapping: bool,
        sites: &mut Vec<Site>,
        failures: &mut Found,
    ) {
        match &node.kind {
            NodeKind::Mapping(entries) => {
                for (i, (k, v)) in entries.iter().enumerate() {
                    let key = k.as_str().unwrap_or("?");
                    let len = field.len();
                    push_key(field, key);
                    path.push(i);
                    let mut child_keys = keys.to_vec();
                    child_keys.push(key);
                    self.node(v, path, field, &child_keys, true, sites, failures);
                    path.pop();
                    field.truncate(len);
                }
            }
            NodeKind::Sequence(items) => {
                for (i, v) in items.iter().enumerate() {
                    let len = field.len();
                    field.push_str(&format!("[{i}]"));
                    path.push(i);
                    let mut child_keys = keys.to_vec();
                    child_keys.push("[]");
                    self.node(v, path, field, &child_keys, false, sites, failures);
                    path.pop();
                    field.truncate(len);
                }
            }
            NodeKind::Scalar(s) => {
                if !matches!(node.resolve(), Resolved::Str) {
                    return;
                }
                let quoted = matches!(
                    s.style(),
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
                );
                let at = Place {
                    path,
                    field,
                    keys,
                    in_mapping,
                    quoted,
                };
                self.scalar(s.value(), &at, sites, failures);
            }
            NodeKind::Alias(_) => {}
        }
    }

    fn scalar(&self, text: &str, at: &Place<'_>, sites: &mut Vec<Site>, failures: &mut Found) {
        let Place {
            path,
            field,
            keys,
            in_mapping,
            quoted,
        } = *at;
        let mode = match (self.kind, keys) {
            ("Secret", ["data", _]) => Mode::Base64Data,
            ("Secret", ["stringData", _]) => Mode::Stringify,
            ("ConfigMap", ["binaryData", _]) => Mode::Base64Data,
            ("ConfigMap", _) => Mode::Stringify,
            _ => Mode::Plain,
        };
        let mut parsed = placeholder::parse(text, self.scan);
        let mut base64_wrapped = false;
        let mut field = field.to_owned();
        if !parsed.has_references()
            && mode == Mode::Base64Data
            && let Some(decoded) = base64_text(text)
        {
            let inner = placeholder::parse(&decoded, self.scan);
            if inner.has_references() {
                parsed = inner;
                base64_wrapped = true;
                field.push_str(" (base64-decoded)");
            }
        }
        if !parsed.has_references() {
            return;
        }
        for e in &parsed.errors {
            failures.push((
                (self.doc, path.to_vec()),
                Failure {
                    origin: self.origin.clone(),
                    object: self.object.to_owned(),
                    field: field.clone(),
                    reference: e.raw.clone(),
                    problem: e.message.clone(),
                },
            ));
        }
        if !parsed.errors.is_empty() {
            return;
        }
        let mut pieces = Vec::new();
        let mut refs = Vec::new();
        for seg in parsed.segments {
            match seg {
                Segment::Text(t) => pieces.push(Piece::Text(t)),
                Segment::Ref(r) => {
                    pieces.push(Piece::Ref(refs.len()));
                    refs.push(r);
                }
            }
        }
        sites.push(Site {
            doc: self.doc,
            path: path.to_vec(),
            field,
            mode,
            base64_wrapped,
            pieces,
            refs,
            in_mapping,
            quoted,
        });
    }
}

/// The text inside a strictly base64-encoded UTF-8 value, if it is one.
fn base64_text(s: &str) -> Option<String> {
    if s.len() < 4 {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
}
