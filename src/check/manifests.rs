//! Findings in Kubernetes manifests: SB001 (references render refuses — the same scan and plan
//! as `render`), SB002 (annotation values render refuses), SB003 (unknown annotation keys),
//! SB004 (a generic `<key>` placeholder without a path annotation), SB005 (literal Secret
//! values).

use super::{Finding, edit_distance, node_at, rule};
use crate::manifest::{Loaded, Origin};
use crate::placeholder::{self, ScanContext, Syntax};
use crate::resolve::{ANNOTATION_NAMES, ANNOTATION_PREFIXES};
use crate::yaml::{Document, Node, NodeKind, Resolved};

/// Checks the documents of one manifest file.
pub(super) fn check_docs(file: &str, docs: Vec<Document>, findings: &mut Vec<Finding>) {
    let mut loaded = Loaded::default();
    crate::manifest::classify(file, docs, &mut loaded);
    let (docs, origins): (Vec<Document>, Vec<Origin>) = loaded
        .documents
        .into_iter()
        .map(|d| (d.doc, d.origin))
        .unzip();
    for ((doc, path), f) in crate::resolve::static_failures(&docs, &origins) {
        let root = docs.get(doc).map(|d| &d.root);
        let pos = root
            .and_then(|r| node_at(r, &path))
            .map(|n| n.pos)
            .unwrap_or_default();
        let (id, message) = if f.reference.is_empty() {
            (
                "SB002",
                format!(
                    "{}; fix the annotation value (docs/placeholders.md lists the annotations)",
                    f.problem
                ),
            )
        } else {
            (
                "SB001",
                format!(
                    "reference `{}`: {}; render would refuse this document",
                    f.reference, f.problem
                ),
            )
        };
        let (line, column) = if path.is_empty() || pos.line == 0 {
            annotation_pos(root, &f.field)
        } else {
            (pos.line, pos.col)
        };
        findings.push(Finding {
            rule: rule(id),
            file: file.to_owned(),
            line,
            column,
            document: Some(f.origin.index + 1),
            field: f.field,
            message,
        });
    }
    for (doc, origin) in docs.iter().zip(&origins) {
        annotations(file, &doc.root, origin, findings);
        generic_without_path(file, &doc.root, origin, findings);
        literal_secret(file, &doc.root, origin, findings);
    }
}

/// Position of `.metadata.annotations["key"]` (annotation problems carry no node path).
fn annotation_pos(root: Option<&Node>, field: &str) -> (u32, u32) {
    let key = field
        .strip_prefix(".metadata.annotations[\"")
        .and_then(|k| k.strip_suffix("\"]"));
    let ann = root.and_then(|r| r.get_path(&["metadata", "annotations"]));
    match (ann, key) {
        (Some(a), Some(k)) => a
            .as_mapping()
            .and_then(|m| m.iter().find(|(n, _)| n.as_str() == Some(k)))
            .map_or((a.pos.line, a.pos.col), |(n, _)| (n.pos.line, n.pos.col)),
        (Some(a), None) => (a.pos.line, a.pos.col),
        _ => (0, 0),
    }
}

fn annotation_keys(root: &Node) -> Vec<(&Node, &str)> {
    root.get_path(&["metadata", "annotations"])
        .and_then(Node::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, _)| k.as_str().map(|s| (k, s)))
                .collect()
        })
        .unwrap_or_default()
}

/// SB003: `avp.kubernetes.io/paht` is read by nothing; the document renders its placeholders
/// as literal text with exit 0.
fn annotations(file: &str, root: &Node, origin: &Origin, findings: &mut Vec<Finding>) {
    for (node, key) in annotation_keys(root) {
        let Some((prefix, name)) = ANNOTATION_PREFIXES
            .iter()
            .find_map(|p| key.strip_prefix(p).map(|n| (*p, n)))
        else {
            continue;
        };
        if ANNOTATION_NAMES.contains(&name) {
            continue;
        }
        let best = ANNOTATION_NAMES
            .iter()
            .map(|k| (edit_distance(name, k), *k))
            .min();
        let hint = match best {
            Some((d, k)) if d <= 2 => format!("did you mean `{prefix}{k}`?"),
            _ => format!(
                "known annotations: {}",
                ANNOTATION_NAMES
                    .iter()
                    .map(|k| format!("{prefix}{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        findings.push(Finding {
            rule: rule("SB003"),
            file: file.to_owned(),
            line: node.pos.line,
            column: node.pos.col,
            document: Some(origin.index + 1),
            field: format!(".metadata.annotations[\"{key}\"]"),
            message: format!(
                "unknown annotation `{key}`: nothing reads it, so this document's references \
                 are not configured by it; {hint}"
            ),
        });
    }
}

fn has_path_annotation(root: &Node) -> bool {
    annotation_keys(root).iter().any(|(_, k)| {
        ANNOTATION_PREFIXES
            .iter()
            .any(|p| k.strip_prefix(p) == Some("path"))
    })
}

fn ignored(root: &Node) -> bool {
    annotation_keys(root).iter().any(|(_, k)| {
        ANNOTATION_PREFIXES
            .iter()
            .any(|p| k.strip_prefix(p) == Some("ignore"))
    }) && ANNOTATION_PREFIXES.iter().any(|p| {
        root.get_path(&["metadata", "annotations"])
            .and_then(|a| a.get(&format!("{p}ignore")))
            .and_then(Node::as_str)
            .and_then(crate::resolve::parse_bool)
            == Some(true)
    })
}

/// Every string scalar outside `.metadata.annotations`, with its field path.
fn strings<'a>(node: &'a Node, field: &mut String, out: &mut Vec<(String, &'a Node)>) {
    match &node.kind {
        NodeKind::Mapping(entries) => {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or("?");
                if field == ".metadata" && key == "annotations" {
                    continue;
                }
                let len = field.len();
                push_key(field, key);
                strings(v, field, out);
                field.truncate(len);
            }
        }
        NodeKind::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = field.len();
                field.push_str(&format!("[{i}]"));
                strings(v, field, out);
                field.truncate(len);
            }
        }
        NodeKind::Scalar(_) => {
            if matches!(node.resolve(), Resolved::Str) {
                out.push((field.clone(), node));
            }
        }
        NodeKind::Alias(_) => {}
    }
}

fn push_key(field: &mut String, key: &str) {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        field.push('.');
        field.push_str(key);
    } else {
        field.push_str(&format!("[{key:?}]"));
    }
}

/// SB004: a value that is exactly one generic `<key>` placeholder, in a document without a
/// path annotation: render leaves the text `<key>` in place. Only whole values count (HTML or
/// prose in a ConfigMap holds `<tags>` that are not placeholders).
fn generic_without_path(file: &str, root: &Node, origin: &Origin, findings: &mut Vec<Finding>) {
    if has_path_annotation(root) || ignored(root) {
        return;
    }
    let mut all = Vec::new();
    strings(root, &mut String::new(), &mut all);
    for (field, node) in all {
        let Some(text) = node.as_str() else { continue };
        let parsed = placeholder::parse(text.trim(), ScanContext { generic: true });
        let Some(r) = parsed.single_reference() else {
            continue;
        };
        if r.syntax != Syntax::AvpGeneric {
            continue;
        }
        findings.push(Finding {
            rule: rule("SB004"),
            file: file.to_owned(),
            line: node.pos.line,
            column: node.pos.col,
            document: Some(origin.index + 1),
            field,
            message: format!(
                "`{}` is a generic placeholder, but the document has no \
                 avp.kubernetes.io/path (or sealbridge.io/path) annotation, so it is never \
                 resolved and ships as literal text; add the path annotation or write an inline \
                 reference `<path:SECRET_PATH#KEY>`",
                r.raw
            ),
        });
    }
}

/// SB005: `kind: Secret` with literal values (no reference) in `data`/`stringData`. Only key
/// names are reported.
fn literal_secret(file: &str, root: &Node, origin: &Origin, findings: &mut Vec<Finding>) {
    if crate::manifest::kind_of(root) != Some("Secret") {
        return;
    }
    // A `<key>` without a path annotation is SB004's finding, not a literal.
    let generic = true;
    for section in ["data", "stringData"] {
        let Some(entries) = root.get(section).and_then(Node::as_mapping) else {
            continue;
        };
        for (k, v) in entries {
            let Some(text) = v.as_str() else { continue };
            if text.trim().is_empty() || text.contains("{{") {
                continue;
            }
            if holds_reference(text, generic)
                || (section == "data"
                    && decoded(text).is_some_and(|d| holds_reference(&d, generic)))
            {
                continue;
            }
            let key = k.as_str().unwrap_or("?");
            let mut field = format!(".{section}");
            push_key(&mut field, key);
            findings.push(Finding {
                rule: rule("SB005"),
                file: file.to_owned(),
                line: v.pos.line,
                column: v.pos.col,
                document: Some(origin.index + 1),
                field,
                message: format!(
                    "Secret key `{key}` holds a literal value in Git; replace it with a reference \
                     (`<path:SECRET_PATH#{key}>`, `ref+sops://FILE#/{key}`) or move the Secret \
                     into a sops-encrypted file, and rotate the value: it is in the history"
                ),
            });
        }
    }
}

fn holds_reference(text: &str, generic: bool) -> bool {
    placeholder::parse(text, ScanContext { generic }).has_references()
}

fn decoded(text: &str) -> Option<zeroize::Zeroizing<String>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    String::from_utf8(bytes).ok().map(zeroize::Zeroizing::new)
}
