//! `emit_manifest`: Kubernetes manifests through the go-yaml v3 emitter port, indent 2.
//!
//! * Untouched scalars keep their exact source text (plain text, quoted forms with their
//!   escapes) and style; block scalars keep their style (`|`/`>`) and value.
//! * Created strings ([`super::Scalar::new_str`]) are written plain only when go-yaml v3
//!   (YAML 1.2 core) *and* YAML 1.1 readers (sigs.k8s.io/yaml, used by kubectl and Argo CD)
//!   read that plain text back as the same string; multi-line strings as a literal block when
//!   the block can hold them exactly; everything else double-quoted.
//! * Comments are kept (head lines above, line comments at the end of the line, trailing
//!   comments of a collection after its last entry); anchors, aliases and tags are kept.
//! * Documents with no content are dropped, with their comments (kubectl would read a `{}`
//!   or `null` placeholder as an object without `kind`); `---` separates the others.

use super::goemit::{self, GoDoc, GoKind, GoNode, Style, Val};
use super::node::Origin;
use super::resolve::{is_yaml11_nonstring, resolve_plain};
use super::{Document, Node, NodeKind, Resolved, Scalar, ScalarStyle};
use zeroize::Zeroizing;

/// Writes documents for Kubernetes (2-space indent, block style, `---` between documents).
pub fn emit_manifest(docs: &[Document]) -> Zeroizing<String> {
    emit_manifest_ranges(docs).0
}

/// [`emit_manifest`] and the byte range of each written (non-empty) document.
pub(crate) fn emit_manifest_ranges(
    docs: &[Document],
) -> (Zeroizing<String>, Vec<std::ops::Range<usize>>) {
    let godocs: Vec<GoDoc<'_>> = docs
        .iter()
        .filter(|d| !d.is_empty())
        .map(doc_to_go)
        .collect();
    if godocs.is_empty() {
        return (Zeroizing::new(String::new()), Vec::new());
    }
    let events = goemit::encode(&godocs);
    goemit::emit_fixed(&events, 2)
}

fn doc_to_go(d: &Document) -> GoDoc<'_> {
    let block = |v: &[super::Text]| goemit::comment_block(v.iter().map(|t| t.as_str()));
    GoDoc {
        head: goemit::ZStr::new(),
        foot: block(&d.foot_comments),
        root: Some(node_to_go(&d.root)),
    }
}

fn long_tag(t: &str) -> String {
    if let Some(rest) = t.strip_prefix("!!") {
        format!("tag:yaml.org,2002:{rest}")
    } else if let Some(uri) = t.strip_prefix("!<").and_then(|r| r.strip_suffix('>')) {
        uri.to_owned()
    } else {
        t.to_owned()
    }
}

fn node_to_go(n: &Node) -> GoNode<'_> {
    let mut g = match &n.kind {
        NodeKind::Scalar(s) => scalar_to_go(s),
        NodeKind::Alias(name) => GoNode::new(GoKind::Alias(name)),
        NodeKind::Sequence(items) => {
            let mut content: Vec<GoNode<'_>> = items.iter().map(node_to_go).collect();
            let foot = &n.comments().foot;
            let mut g = GoNode::new(GoKind::Seq(Vec::new()));
            if !foot.is_empty() {
                match content.last_mut() {
                    Some(last) => append_foot(last, foot),
                    None => g.foot = goemit::comment_block(foot.iter().map(|t| t.as_str())),
                }
            }
            g.kind = GoKind::Seq(content);
            g
        }
        NodeKind::Mapping(entries) => {
            let mut content = Vec::with_capacity(entries.len() * 2);
            for (k, v) in entries {
                content.push(node_to_go(k));
                content.push(node_to_go(v));
            }
            let foot = &n.comments().foot;
            let mut g = GoNode::new(GoKind::Map(Vec::new()));
            if !foot.is_empty() {
                let len = content.len();
                match len.checked_sub(2).and_then(|i| content.get_mut(i)) {
                    Some(last_key) => append_foot(last_key, foot),
                    None => g.foot = goemit::comment_block(foot.iter().map(|t| t.as_str())),
                }
            }
            g.kind = GoKind::Map(content);
            g
        }
    };
    g.anchor = n.anchor.as_deref();
    if let Some(t) = &n.tag {
        g.tag = Some(long_tag(t));
    }
    let c = n.comments();
    if let Some(l) = &c.line {
        if is_block(&g) {
            // A block collection has no line of its own: the comment goes above its first
            // entry (go-yaml leaves it pending and writes it wherever the next line comment
            // goes, even before a `[]` or after the next item).
            push_head(&mut g, goemit::comment_block([l.as_str()]));
        } else {
            g.line = goemit::comment_block([l.as_str()]);
        }
    }
    if !c.head.is_empty() {
        // Head comments of a block collection are written above its first scalar, where the
        // parser attaches them when it reads the output again (a stable round trip).
        push_head(
            &mut g,
            goemit::comment_block(c.head.iter().map(|t| t.as_str())),
        );
    }
    if matches!(n.kind, NodeKind::Scalar(_) | NodeKind::Alias(_)) && !c.foot.is_empty() {
        append_foot(&mut g, &c.foot);
    }
    g
}

/// A collection written in block style (non-empty).
fn is_block(g: &GoNode<'_>) -> bool {
    matches!(&g.kind, GoKind::Seq(items) | GoKind::Map(items) if !items.is_empty())
}

/// Puts `head` above the first scalar (or alias, or empty collection) of `g`, before the
/// comments already there.
fn push_head(g: &mut GoNode<'_>, mut head: goemit::ZStr) {
    if is_block(g)
        && let GoKind::Seq(items) | GoKind::Map(items) = &mut g.kind
        && let Some(first) = items.first_mut()
    {
        push_head(first, head);
        return;
    }
    if !g.head.is_empty() {
        head.push('\n');
        head.push_str(&g.head);
    }
    g.head = head;
}

fn append_foot(g: &mut GoNode<'_>, foot: &[super::Text]) {
    let c = goemit::comment_block(foot.iter().map(|t| t.as_str()));
    if g.foot.is_empty() {
        g.foot = c;
    } else {
        g.foot.push('\n');
        g.foot.push_str(&c);
    }
}

/// True when `s`, written plain, reads back as the string `s` under YAML 1.2 (go-yaml v3)
/// and YAML 1.1 (go-yaml v2 / sigs.k8s.io/yaml) alike.
pub(crate) fn plain_safe(s: &str) -> bool {
    matches!(resolve_plain(s), Resolved::Str) && !is_yaml11_nonstring(s)
}

/// U+0085, U+2028 and U+2029: go-yaml writes them raw inside a block scalar, where YAML 1.1
/// readers (go-yaml, sigs.k8s.io/yaml, ours) take them for line breaks; such values are
/// written double-quoted, where they are escapes (`\N`, `\L`, `\P`) every reader agrees on.
fn has_odd_break(value: &str) -> bool {
    value.contains(['\u{85}', '\u{2028}', '\u{2029}'])
}

fn scalar_to_go(s: &Scalar) -> GoNode<'_> {
    let value = s.value();
    let mut verbatim = None;
    let mut analysis = None;
    let (val, style) = match &s.origin {
        Origin::Parsed { raw } => match (s.style(), raw) {
            (_, Some(raw)) => {
                verbatim = Some(raw.as_str());
                (Val::Borrowed(value), Style::Verbatim)
            }
            (ScalarStyle::Plain, None) if !value.contains(['\n', '\r']) => {
                (Val::Borrowed(value), Style::Verbatim)
            }
            (ScalarStyle::Plain, None) => (Val::Borrowed(value), Style::Plain),
            (ScalarStyle::SingleQuoted, None) => (Val::Borrowed(value), Style::SingleQuoted),
            (ScalarStyle::DoubleQuoted, None) => (Val::Borrowed(value), Style::DoubleQuoted),
            (ScalarStyle::Literal | ScalarStyle::Folded, None) if has_odd_break(value) => {
                (Val::Borrowed(value), Style::DoubleQuoted)
            }
            (ScalarStyle::Literal, None) => (Val::Borrowed(value), Style::Literal),
            (ScalarStyle::Folded, None) => (Val::Borrowed(value), Style::Folded),
        },
        Origin::Typed | Origin::Float(_) => (Val::Borrowed(value), Style::Verbatim),
        Origin::Str if s.style() == ScalarStyle::DoubleQuoted => {
            (Val::Borrowed(value), Style::DoubleQuoted)
        }
        Origin::Str => {
            let a = goemit::analyze(value);
            analysis = Some(a);
            let style = if value.contains('\n') && !has_odd_break(value) {
                Style::Literal
            } else if plain_safe(value) && a.block_plain_allowed {
                Style::Plain
            } else {
                Style::DoubleQuoted
            };
            (Val::Borrowed(value), style)
        }
    };
    GoNode::new(GoKind::Scalar {
        value: val,
        style,
        raw: verbatim,
        analysis,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{parse_stream, to_json};

    fn emit_one(n: Node) -> String {
        let mut doc = Document::new(Node::mapping());
        doc.root.insert("v", n);
        emit_manifest(&[doc]).to_string()
    }

    #[test]
    fn yaml11_unsafe_created_strings_stay_quoted() {
        for s in [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "Y",
            "NO",
            "On",
            "0644",
            "1e3",
            "null",
            "~",
            "true",
            "1:20",
            ".inf",
            "0x1F",
            "",
            "<<",
            "=",
            "2024-01-02",
            "1_000",
            "-",
            "- a",
            "a: b",
            "#x",
            " lead",
            "trail ",
            "@x",
            "*x",
            "&x",
            "!x",
            "%x",
            "`x",
            "'q",
            "\"q",
        ] {
            let out = emit_one(Node::str(s));
            let v = out.strip_prefix("v: ").unwrap().strip_suffix('\n').unwrap();
            assert!(v.starts_with('"'), "{s:?} written as {v}");
            // Reads back as the same string.
            let back = parse_stream(&out).unwrap();
            let node = back[0].root.get("v").unwrap();
            assert_eq!(node.as_str(), Some(s));
            assert_eq!(node.resolve(), Resolved::Str, "{s:?}");
        }
    }

    #[test]
    fn safe_created_strings_are_plain_and_typed_values_stay_plain() {
        assert_eq!(emit_one(Node::str("hello world")), "v: hello world\n");
        assert_eq!(emit_one(Node::str("a:b")), "v: a:b\n");
        assert_eq!(emit_one(Node::scalar(Scalar::new_int(42))), "v: 42\n");
        assert_eq!(emit_one(Node::scalar(Scalar::new_bool(true))), "v: true\n");
        assert_eq!(emit_one(Node::scalar(Scalar::new_float(1.5))), "v: 1.5\n");
        assert_eq!(emit_one(Node::null()), "v: null\n");
        assert_eq!(
            emit_one(Node::str("line1\nline2\n")),
            "v: |\n  line1\n  line2\n"
        );
        assert_eq!(emit_one(Node::str("a\nb")), "v: |-\n  a\n  b\n");
        assert_eq!(emit_one(Node::str("trail \nx")), "v: \"trail \\nx\"\n");
        assert_eq!(emit_one(Node::str("tab\there")), "v: \"tab\\there\"\n");
        assert_eq!(
            emit_one(Node::scalar(Scalar::new_quoted("a\nb \u{85}"))),
            "v: \"a\\nb \\N\"\n"
        );
        assert_eq!(
            emit_one(Node::scalar(Scalar::new_quoted("x"))),
            "v: \"x\"\n"
        );
    }

    #[test]
    fn untouched_scalars_keep_their_text() {
        let src = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x # the name\n  labels: {a: yes, b: 0644}\ndata:\n  mode: 0644\n  on: on\n  q: 'it''s'\n  d: \"\\u00e9\\t\"\n  f: 1.0e3\n  n: ~\n  lit: |\n    a\n    b\n  list:\n  - x\n  - 'y'\n---\n# second\nkind: Secret\n";
        let docs = parse_stream(src).unwrap();
        let out = emit_manifest(&docs);
        let want = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x # the name\n  labels:\n    a: yes\n    b: 0644\ndata:\n  mode: 0644\n  on: on\n  q: 'it''s'\n  d: \"\\u00e9\\t\"\n  f: 1.0e3\n  n: ~\n  lit: |\n    a\n    b\n  list:\n    - x\n    - 'y'\n---\n# second\nkind: Secret\n";
        assert_eq!(out.as_str(), want);
        // Idempotent.
        assert_eq!(emit_manifest(&parse_stream(&out).unwrap()).as_str(), want);
    }

    #[test]
    fn replaced_values_are_quoted_and_comments_kept() {
        let src = "data:\n  # the password\n  password: <path:kv#pw> # replaced\n  other: x\n";
        let mut docs = parse_stream(src).unwrap();
        let v = docs[0]
            .root
            .get_mut("data")
            .unwrap()
            .get_mut("password")
            .unwrap();
        v.replace(Node::str("no"));
        let out = emit_manifest(&docs);
        assert_eq!(
            out.as_str(),
            "data:\n  # the password\n  password: \"no\" # replaced\n  other: x\n"
        );
    }

    #[test]
    fn json_documents_are_read_and_written_as_block_yaml() {
        let src = "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"data\": {\"a\": \"yes\", \"n\": 1, \"l\": [true, null, \"\\u00e9\"]}}\n";
        let docs = parse_stream(src).unwrap();
        assert_eq!(
            docs[0].root.get_path(&["data", "a"]).and_then(Node::as_str),
            Some("yes")
        );
        let out = emit_manifest(&docs);
        assert_eq!(
            out.as_str(),
            "\"apiVersion\": \"v1\"\n\"kind\": \"Secret\"\n\"data\":\n  \"a\": \"yes\"\n  \"n\": 1\n  \"l\":\n    - true\n    - null\n    - \"\\u00e9\"\n"
        );
        let back = parse_stream(&out).unwrap();
        assert_eq!(
            to_json(&back[0].root).unwrap(),
            to_json(&docs[0].root).unwrap()
        );
    }

    #[test]
    fn anchors_aliases_tags_and_empty_documents() {
        let src = "---\na: &x {k: v}\nb: *x\nc: !!str 12\nd: !custom x\n---\n---\ne: 1\n";
        let out = emit_manifest(&parse_stream(src).unwrap());
        assert_eq!(
            out.as_str(),
            "a: &x\n  k: v\nb: *x\nc: !!str 12\nd: !custom x\n---\ne: 1\n"
        );
    }
}

#[cfg(test)]
mod regressions {
    //! The emit_manifest bugs the hardening fuzzer found (fuzz/ on wt/hardening) and the
    //! ones the generated-text property test (proptests_text.rs) found after them.
    use crate::yaml::{emit_manifest, parse_stream, to_json};

    fn round_trip(src: &str) -> String {
        let docs = parse_stream(src).unwrap();
        let out = emit_manifest(&docs);
        let back = parse_stream(&out).unwrap_or_else(|e| panic!("{e}:\n{}", out.as_str()));
        let a: Vec<_> = docs
            .iter()
            .filter(|d| !d.is_empty())
            .map(|d| to_json(&d.root).unwrap())
            .collect();
        let b: Vec<_> = back.iter().map(|d| to_json(&d.root).unwrap()).collect();
        assert_eq!(a, b, "{src:?} written as:\n{}", out.as_str());
        out.to_string()
    }

    #[test]
    fn folded_more_indented_line_keeps_its_value() {
        assert_eq!(
            round_trip("data:\n  a: >\n    x\n      y\n"),
            "data:\n  a: >\n    x\n      y\n"
        );
    }

    #[test]
    fn root_plain_dashes_is_quoted() {
        assert_eq!(round_trip("  ---\n"), "'---'\n");
    }

    #[test]
    fn root_key_like_a_marker_is_quoted() {
        assert_eq!(round_trip("? --- x\n: 1\n"), "'--- x': 1\n");
        assert_eq!(round_trip("{...: 1}\n"), "'...': 1\n");
    }

    #[test]
    fn tag_and_comment_on_block_collection() {
        assert_eq!(
            round_trip("e:\n  !foo # c\n  - 2\n"),
            "e: !foo\n  # c\n  - 2\n"
        );
    }

    #[test]
    fn comment_on_an_empty_collection_and_keep_block_before_a_comment() {
        assert_eq!(
            round_trip("k: ['a'] # c\ny: []\n"),
            "k:\n  # c\n  - 'a'\ny: []\n"
        );
        assert_eq!(round_trip("a: []  # c\nb: 1\n"), "a: [] # c\nb: 1\n");
        assert_eq!(round_trip("--- |+\n  x\n\n# foot\n"), "|+\n  x\n\n# foot\n");
        assert_eq!(round_trip("- &a {} # c\n- 1\n"), "- &a {} # c\n- 1\n");
        round_trip("- x\n- # c\n  k: v\n");
        // An alias key: `*a:` would name the anchor `a:`.
        let docs = parse_stream("- &a x\n- *a : 1\n").unwrap();
        let out = emit_manifest(&docs);
        assert_eq!(out.as_str(), "- &a x\n- *a : 1\n");
        assert!(crate::yaml::check_emitted(&docs, &out).is_ok());
        // An empty anchored key.
        let docs = parse_stream("? &a\n: 1\n").unwrap();
        let out = emit_manifest(&docs);
        assert_eq!(out.as_str(), "&a : 1\n");
        assert!(crate::yaml::check_emitted(&docs, &out).is_ok());
    }

    #[test]
    fn foot_comment_of_a_nested_collection_stays_before_the_next_flow_value() {
        // Found by manifest_round_trip_of_mutated_text (CI, seed 15551401808933650920): the
        // comment was written between `:` and `[]`, which then stood at column 0.
        let src = " -  : &2\n    -\n      -\n       : \"\"\n     #\n    : []\n";
        let docs = parse_stream(src).unwrap();
        let out = emit_manifest(&docs);
        assert_eq!(out.as_str(), "- : &2\n    - - : \"\"\n        #\n  : []\n");
        assert!(crate::yaml::check_emitted(&docs, &out).is_ok());
        assert_eq!(
            round_trip("a:\n  - - b: 1\n    # c\nd: [x]\n"),
            "a:\n  - - b: 1\n      # c\nd:\n  - x\n"
        );
    }

    #[test]
    fn empty_tagged_key() {
        assert_eq!(round_trip("? !!str\n"), "!!str '':\n");
    }
}
