//! The manifest writer's safety net: read what [`emit_manifest`] wrote with our own parser and
//! check it holds exactly the data of the tree that was written (document count, structure,
//! keys and values with their types and tags, anchors and aliases). Comments and scalar styles
//! may differ; nothing else may.

use super::{Document, Node, NodeKind, Resolved, emit_manifest, parse_stream};
use zeroize::Zeroizing;

/// Why a written manifest does not read back as the tree: where (document index and a key
/// path), never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "internal error: the manifest writer produced output that does not read back as the data \
     it was given (document {doc}{path}: {what}); nothing was written. This is a sealbridge bug: \
     please report it with the shape (not the values) of the manifest"
)]
pub struct EmitCheckError {
    /// 0-based index among the written (non-empty) documents.
    pub doc: usize,
    /// ` at .a.b[2]`-style location, or empty.
    pub path: String,
    /// What differs (`document count`, `type`, `value`, `key count`, …).
    pub what: String,
}

/// [`emit_manifest`], then [`check_emitted`]: the output only when it reads back as `docs`.
pub fn emit_manifest_checked(docs: &[Document]) -> Result<Zeroizing<String>, EmitCheckError> {
    let out = emit_manifest(docs);
    check_emitted(docs, &out)?;
    Ok(out)
}

/// Parses `emitted` and compares it with the non-empty documents of `docs` (the ones
/// `emit_manifest` writes).
pub fn check_emitted(docs: &[Document], emitted: &str) -> Result<(), EmitCheckError> {
    let err = |doc: usize, path: String, what: &str| EmitCheckError {
        doc,
        path,
        what: what.to_owned(),
    };
    let back = parse_stream(emitted).map_err(|e| {
        err(
            0,
            String::new(),
            &format!("unreadable output, line {} column {}", e.line, e.col),
        )
    })?;
    let written: Vec<&Document> = docs.iter().filter(|d| !d.is_empty()).collect();
    let read: Vec<&Document> = back.iter().filter(|d| !d.is_empty()).collect();
    if written.len() != read.len() || back.len() != read.len() {
        return Err(err(
            written.len().min(read.len()),
            String::new(),
            "document count",
        ));
    }
    for (i, (a, b)) in written.iter().zip(&read).enumerate() {
        let mut path = String::new();
        if let Some(what) = diff(&a.root, &b.root, &mut path) {
            return Err(err(i, path, what));
        }
    }
    Ok(())
}

/// The first difference in data between two trees (`None` when they hold the same data), with
/// `path` set to where it is. Exposed to the crate's tests.
pub(crate) fn diff(a: &Node, b: &Node, path: &mut String) -> Option<&'static str> {
    if norm_tag(a.tag.as_deref()) != norm_tag(b.tag.as_deref()) {
        return Some("tag");
    }
    if a.anchor != b.anchor {
        return Some("anchor");
    }
    match (&a.kind, &b.kind) {
        (NodeKind::Scalar(x), NodeKind::Scalar(y)) => {
            let (rx, ry) = (a.resolve(), b.resolve());
            let same = match (&rx, &ry) {
                (Resolved::Float(f), Resolved::Float(g)) => {
                    f.to_bits() == g.to_bits() || (f.is_nan() && g.is_nan())
                }
                (Resolved::Str | Resolved::Invalid, _) => rx == ry && x.value() == y.value(),
                _ => rx == ry,
            };
            if same { None } else { Some("scalar") }
        }
        (NodeKind::Alias(x), NodeKind::Alias(y)) => (x != y).then_some("alias"),
        (NodeKind::Sequence(x), NodeKind::Sequence(y)) => {
            if x.len() != y.len() {
                return Some("item count");
            }
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                if let Some(w) = diff(p, q, path) {
                    return Some(w);
                }
                path.truncate(len);
            }
            None
        }
        (NodeKind::Mapping(x), NodeKind::Mapping(y)) => {
            if x.len() != y.len() {
                return Some("key count");
            }
            for (i, ((ka, va), (kb, vb))) in x.iter().zip(y).enumerate() {
                let len = path.len();
                match ka.as_str() {
                    Some(k) if ka.resolve() == Resolved::Str => {
                        path.push('.');
                        path.push_str(k);
                    }
                    _ => path.push_str(&format!(".<key {i}>")),
                }
                if let Some(w) = diff(ka, kb, path) {
                    return Some(if w == "scalar" { "key" } else { w });
                }
                if let Some(w) = diff(va, vb, path) {
                    return Some(w);
                }
                path.truncate(len);
            }
            None
        }
        _ => Some("node kind"),
    }
}

/// `!!str`, `!<tag:yaml.org,2002:str>` → one spelling.
fn norm_tag(t: Option<&str>) -> Option<std::borrow::Cow<'_, str>> {
    let t = t?;
    Some(if let Some(rest) = t.strip_prefix("!!") {
        format!("tag:yaml.org,2002:{rest}").into()
    } else if let Some(uri) = t.strip_prefix("!<").and_then(|r| r.strip_suffix('>')) {
        uri.into()
    } else {
        t.into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_value_is_caught_with_its_path_and_no_value() {
        let docs = parse_stream("a:\n  b: [1, x]\n---\nc: 1\n").unwrap();
        assert!(check_emitted(&docs, "a:\n  b: [1, x]\n---\nc: 1\n").is_ok());
        let e = check_emitted(&docs, "a:\n  b: [1, s3cr3t]\n---\nc: 1\n").unwrap_err();
        assert_eq!(
            (e.doc, e.path.as_str(), e.what.as_str()),
            (0, ".a.b[1]", "scalar")
        );
        assert!(!e.to_string().contains("s3cr3t"));
        let e = check_emitted(&docs, "a:\n  b: [1, x]\n---\nc: '1'\n").unwrap_err();
        assert_eq!((e.doc, e.path.as_str()), (1, ".c"));
        let e = check_emitted(&docs, "a:\n  b: [1, x]\n").unwrap_err();
        assert_eq!(e.what, "document count");
        let e = check_emitted(&docs, "a:\n  b: [1, x]\n---\n---\nc: 1\n").unwrap_err();
        assert_eq!(e.what, "document count");
        let e = check_emitted(&docs, "a: {b: [1, x]}\n---\nc: 1\nd: 2\n").unwrap_err();
        assert_eq!(e.what, "key count");
        let e = check_emitted(&docs, "a:\n  b: [1, x]\n---\nc: 1\n'").unwrap_err();
        assert!(e.what.starts_with("unreadable output"), "{e}");
        assert!(e.to_string().contains("report"));
    }

    #[test]
    fn types_tags_and_anchors_count() {
        let docs = parse_stream("a: &x yes\nb: *x\nc: !!str 1\nd: 1.0\n").unwrap();
        for bad in [
            "a: &x true\nb: *x\nc: !!str 1\nd: 1.0\n",
            "a: &y yes\nb: *y\nc: !!str 1\nd: 1.0\n",
            "a: &x yes\nb: *x\nc: 1\nd: 1.0\n",
            "a: &x yes\nb: *x\nc: !!str 1\nd: 1\n",
        ] {
            assert!(check_emitted(&docs, bad).is_err(), "{bad}");
        }
        assert!(
            check_emitted(
                &docs,
                "a: &x 'yes'\nb: *x\nc: !<tag:yaml.org,2002:str> 1\nd: 1.00\n"
            )
            .is_ok()
        );
    }
}
