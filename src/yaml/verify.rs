//! The manifest writer's safety net: read what [`emit_manifest`] wrote with our own parser and
//! check it holds exactly the data of the tree that was written (document count, structure,
//! keys and values with their types and tags, anchors and aliases). Comments and scalar styles
//! may differ; nothing else may.

use super::{Document, Node, NodeKind, Resolved, parse_stream};
use zeroize::Zeroizing;

/// Why a written manifest does not read back as the tree: where (document index and a key
/// path), never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "internal error: the manifest writer produced output that does not read back as the data \
     it was given (document {doc}{}: {what}); nothing was written. This is a sealbridge bug: \
     please report it with the shape (not the values) of the manifest",
    if path.is_empty() { String::new() } else { format!(", at {path}") }
)]
pub struct EmitCheckError {
    /// 0-based index among the written (non-empty) documents.
    pub doc: usize,
    /// ` at .a.b[2]`-style location, or empty.
    pub path: String,
    /// What differs (`document count`, `type`, `value`, `key count`, …).
    pub what: String,
}

/// [`super::emit_manifest`], with the output returned only when it reads back as `docs`.
///
/// Cheap enough for every render: each written document is read back on its own (its byte
/// range in the output), except documents made only of what the writer copies verbatim —
/// collections of untouched single-line plain or quoted scalars and literal (`|`) blocks
/// (comments on those scalars allowed), no tags, anchors, aliases — whose text cannot change
/// meaning. A document with any created or replaced value, folded block, multi-line
/// flow/quoted scalar, tag, anchor, alias or comment on a collection is always checked.
pub fn emit_manifest_checked(docs: &[Document]) -> Result<Zeroizing<String>, EmitCheckError> {
    let (out, ranges) = super::manifest::emit_manifest_ranges(docs);
    let written: Vec<&Document> = docs.iter().filter(|d| !d.is_empty()).collect();
    let err = |doc: usize, path: String, what: &str| EmitCheckError {
        doc,
        path,
        what: what.to_owned(),
    };
    if written.len() != ranges.len() {
        return Err(err(0, String::new(), "document count"));
    }
    for (i, (d, r)) in written.iter().zip(&ranges).enumerate() {
        if verbatim_only(&d.root, 0) {
            continue;
        }
        let text = out.get(r.clone()).unwrap_or("");
        let back = parse_stream(text).map_err(|e| {
            err(
                i,
                String::new(),
                &format!("unreadable output, line {} column {}", e.line, e.col),
            )
        })?;
        let [b] = back.as_slice() else {
            return Err(err(i, String::new(), "document count"));
        };
        let mut path = String::new();
        if let Some(what) = diff(&d.root, &b.root, &mut path) {
            return Err(err(i, path, what));
        }
    }
    Ok(out)
}

/// True when the writer copies this subtree's text verbatim (nothing it writes can read
/// differently): untouched single-line plain/quoted scalars and literal blocks (with
/// comments) in block or flow collections (flow input is written in block style, where flow
/// scalars stay valid), no tags, anchors, aliases, folded blocks, comments on collections,
/// or root keys that look like document markers. See [`emit_manifest_checked`].
fn verbatim_only(n: &Node, depth: usize) -> bool {
    if n.tag.is_some() || n.anchor.is_some() {
        return false;
    }
    match &n.kind {
        // Untouched literal blocks: the writer's `|` path is a line copy (property-tested);
        // folded blocks and everything created are always checked.
        NodeKind::Scalar(s) if s.style() == super::ScalarStyle::Literal => {
            depth > 0 && s.is_parsed()
        }
        NodeKind::Scalar(s) => {
            depth > 0
                && s.is_parsed()
                && matches!(
                    s.style(),
                    super::ScalarStyle::Plain
                        | super::ScalarStyle::SingleQuoted
                        | super::ScalarStyle::DoubleQuoted
                )
                && !s.value().is_empty()
                && !s
                    .value()
                    .contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
                && s.raw().is_none_or(|r| !r.contains(['\n', '\r']))
                && !(depth == 1 && (s.value().starts_with("---") || s.value().starts_with("...")))
        }
        NodeKind::Alias(_) => false,
        NodeKind::Sequence(items) => {
            n.comments().is_empty() && items.iter().all(|x| verbatim_only(x, depth + 1))
        }
        NodeKind::Mapping(entries) => {
            n.comments().is_empty()
                && entries
                    .iter()
                    .all(|(k, v)| verbatim_only(k, depth + 1) && verbatim_only(v, depth + 1))
        }
    }
}

/// Parses `emitted` and compares it with the non-empty documents of `docs` (the ones
/// `emit_manifest` writes): every document, whole stream.
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

/// Where a node sits below its parent.
#[derive(Clone, Copy)]
enum Step<'n> {
    Root,
    Index(usize),
    /// The key (or the value under the key) of entry `usize`.
    Key(&'n Node, usize, bool),
}

/// The first difference in data between two trees (`None` when they hold the same data), with
/// `path` set to where it is. Iterative (no recursion: any nesting depth the parser accepts).
pub(crate) fn diff(a: &Node, b: &Node, path: &mut String) -> Option<&'static str> {
    let mut work: Vec<(&Node, &Node, usize, Step<'_>)> = vec![(a, b, 0, Step::Root)];
    let mut trail: Vec<Step<'_>> = Vec::new();
    while let Some((a, b, depth, step)) = work.pop() {
        trail.truncate(depth);
        trail.push(step);
        if let Some(what) = diff_here(a, b, depth, &mut work) {
            for s in &trail {
                match *s {
                    Step::Root => {}
                    Step::Index(i) => path.push_str(&format!("[{i}]")),
                    Step::Key(k, i, _) => match k.as_str() {
                        Some(text) if k.resolve() == Resolved::Str => {
                            path.push('.');
                            path.push_str(text);
                        }
                        _ => path.push_str(&format!(".<key {i}>")),
                    },
                }
            }
            let is_key = matches!(step, Step::Key(_, _, true));
            return Some(if is_key && what == "scalar" {
                "key"
            } else {
                what
            });
        }
    }
    None
}

/// Compares one node pair; pushes the children to compare next (in document order).
fn diff_here<'n>(
    a: &'n Node,
    b: &'n Node,
    depth: usize,
    work: &mut Vec<(&'n Node, &'n Node, usize, Step<'n>)>,
) -> Option<&'static str> {
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
                // A created integral float is written like go-yaml/sops do (`3`, read back as
                // an int): the same number for JSON and Kubernetes.
                (Resolved::Float(f), Resolved::Int(i)) | (Resolved::Int(i), Resolved::Float(f)) => {
                    f.fract() == 0.0 && *i as f64 == *f
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
            for (i, (p, q)) in x.iter().zip(y).enumerate().rev() {
                work.push((p, q, depth + 1, Step::Index(i)));
            }
            None
        }
        (NodeKind::Mapping(x), NodeKind::Mapping(y)) => {
            if x.len() != y.len() {
                return Some("key count");
            }
            for (i, ((ka, va), (kb, vb))) in x.iter().zip(y).enumerate().rev() {
                work.push((va, vb, depth + 1, Step::Key(ka, i, false)));
                work.push((ka, kb, depth + 1, Step::Key(ka, i, true)));
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
    fn deep_nesting_is_compared_without_recursion() {
        // As deep as the parser accepts.
        let n = 120;
        let src = format!("{}1{}\n", "[".repeat(n), "]".repeat(n));
        let docs = parse_stream(&src).unwrap();
        let mut path = String::new();
        assert_eq!(diff(&docs[0].root, &docs[0].root, &mut path), None);
        let other = parse_stream(&format!("{}2{}\n", "[".repeat(n), "]".repeat(n))).unwrap();
        assert_eq!(
            diff(&docs[0].root, &other[0].root, &mut path),
            Some("scalar")
        );
        assert_eq!(path, "[0]".repeat(n));
        let out = crate::yaml::emit_manifest_checked(&docs).unwrap();
        assert!(check_emitted(&docs, &out).is_ok());
    }

    #[test]
    fn types_tags_and_anchors_count() {
        let docs = parse_stream("a: &x yes\nb: *x\nc: !!str 1\nd: 1.0\n").unwrap();
        for bad in [
            "a: &x true\nb: *x\nc: !!str 1\nd: 1.0\n",
            "a: &y yes\nb: *y\nc: !!str 1\nd: 1.0\n",
            "a: &x yes\nb: *x\nc: 1\nd: 1.0\n",
            "a: &x yes\nb: *x\nc: !!str 1\nd: 1.5\n",
            "a: &x yes\nb: *x\nc: !!str 1\nd: '1'\n",
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

#[cfg(test)]
mod alias_cycles {
    use crate::yaml::{emit_manifest_checked, emit_sops, parse_stream, to_json, to_secret_value};

    /// Self-referencing and mutually referencing anchors (a redefined anchor name) never
    /// overflow the stack in any writer or converter (test threads have a 2 MB stack).
    #[test]
    fn alias_cycles_end_in_errors_not_stack_overflows() {
        for src in [
            "base: &a\n  x: 1\n  <<: *a\nuse: *a\n",
            "- &a x\n- &b [*a, *a]\n- &a [*b, *b]\n- *a\n",
            "- &a x\n- &b {k: *a}\n- &a {k: *b}\n- *b\n- *a\n",
        ] {
            let mut docs = parse_stream(src).unwrap();
            let _ = emit_sops(&docs);
            let _ = emit_manifest_checked(&docs).unwrap();
            let _ = to_json(&docs[0].root);
            let _ = to_secret_value(&docs[0].root);
            let _ = docs[0].expand_aliases(10_000);
        }
    }
}
