use super::*;
use crate::yaml::{Scalar, parse_stream};

/// Parses `src`, replaces the value at each key path, splices.
fn splice_with(src: &str, edits: &[(&[&str], Node)]) -> Spliced {
    let mut docs = parse_stream(src).unwrap();
    let doc = &mut docs[0];
    for (path, node) in edits {
        let mut cur = &mut doc.root;
        for k in *path {
            cur = match k.parse::<usize>() {
                Ok(i) if cur.is_sequence() => &mut cur.as_sequence_mut().unwrap()[i],
                _ => cur.get_mut(k).unwrap(),
            };
        }
        let anchor = cur.anchor.take();
        cur.replace(node.clone());
        cur.anchor = anchor;
    }
    splice_document(src, doc)
}

fn text(s: Spliced) -> String {
    match s {
        Spliced::Text(t) => t.to_string(),
        other => panic!("not spliced: {other:?}"),
    }
}

#[test]
fn only_the_replaced_scalars_change() {
    let src = "# head\napiVersion: v1\nkind: Secret   # odd spacing\nmetadata: {name: x,   labels: {a: b}}\nstringData:\n    password: <path:kv#pw>   # the password\n    list: [ \"<path:kv#a>\" , x ]\n    other:   'keep'\n";
    let out = text(splice_with(
        src,
        &[
            (&["stringData", "password"], Node::str("hunter2")),
            (&["stringData", "list", "0"], Node::str("a,b")),
        ],
    ));
    assert_eq!(
        out,
        "# head\napiVersion: v1\nkind: Secret   # odd spacing\nmetadata: {name: x,   labels: {a: b}}\nstringData:\n    password: hunter2   # the password\n    list: [ \"a,b\" , x ]\n    other:   'keep'\n"
    );
}

#[test]
fn values_that_need_quotes_are_quoted() {
    for (v, want) in [
        ("yes", "a: \"yes\" # c\n"),
        (": x", "a: \": x\" # c\n"),
        (" lead", "a: \" lead\" # c\n"),
        ("#x", "a: \"#x\" # c\n"),
        ("x #y", "a: \"x #y\" # c\n"),
        ("0644", "a: \"0644\" # c\n"),
        ("", "a: \"\" # c\n"),
        ("tab\there", "a: \"tab\\there\" # c\n"),
        ("bell\u{7}", "a: \"bell\\a\" # c\n"),
        ("nel\u{85}", "a: \"nel\\N\" # c\n"),
        ("bom\u{feff}", "a: \"bom\\uFEFF\" # c\n"),
        ("a\nb", "a: |- # c\n  a\n  b\n"),
        ("a\nb\n", "a: | # c\n  a\n  b\n"),
        ("a\n\n", "a: \"a\\n\\n\" # c\n"),
        (" a\nb", "a: \" a\\nb\" # c\n"),
        ("a \nb", "a: \"a \\nb\" # c\n"),
    ] {
        let src = "a: <path:x#y> # c\n";
        let out = text(splice_with(src, &[(&["a"], Node::str(v))]));
        assert_eq!(out, want, "{v:?}");
        let back = parse_stream(&out).unwrap();
        assert_eq!(back[0].root.get("a").unwrap().as_str(), Some(v));
    }
}

#[test]
fn quoting_of_the_source_is_kept_when_it_can_hold_the_value() {
    let src = "a: \"<r>\"\nb: '<r>'\nc: '<r>'\nd: <r>\n";
    let out = text(splice_with(
        src,
        &[
            (&["a"], Node::str("x")),
            (&["b"], Node::str("it's")),
            (&["c"], Node::str("two\nlines")),
            (&["d"], Node::scalar(Scalar::new_int(42))),
        ],
    ));
    assert_eq!(out, "a: \"x\"\nb: 'it''s'\nc: \"two\\nlines\"\nd: 42\n");
}

#[test]
fn flow_collections_never_get_block_scalars() {
    let src = "a: {k: <r>, j: [<r>]}\n";
    let out = text(splice_with(
        src,
        &[
            (&["a", "k"], Node::str("x\ny")),
            (&["a", "j", "0"], Node::str("a]b")),
        ],
    ));
    assert_eq!(out, "a: {k: \"x\\ny\", j: [\"a]b\"]}\n");
}

#[test]
fn literal_blocks_take_the_indentation_of_their_key() {
    let src = "spec:\n  - name: x\n    value: <r>\n  - y\n";
    let out = text(splice_with(
        src,
        &[(&["spec", "0", "value"], Node::str("l1\nl2\n"))],
    ));
    assert_eq!(
        out,
        "spec:\n  - name: x\n    value: |\n      l1\n      l2\n  - y\n"
    );
    // A more indented comment after the value would continue the block: quoted instead.
    let src = "a: <r>\n    # deep\nb: 1\n";
    let out = text(splice_with(src, &[(&["a"], Node::str("l1\nl2"))]));
    assert_eq!(out, "a: \"l1\\nl2\"\n    # deep\nb: 1\n");
}

#[test]
fn block_scalars_are_replaced_from_their_header() {
    let src = "a: |  # config\n  user: x\n  pass: <r>\n\nb: >-\n    <r> | jsonParse\nc: 1\n";
    let out = text(splice_with(
        src,
        &[
            (&["a"], Node::str("user: x\npass: s3\n")),
            (&["b"], Node::scalar(Scalar::new_int(7))),
        ],
    ));
    assert_eq!(out, "a: |  # config\n  user: x\n  pass: s3\n\nb: 7\nc: 1\n");
    // A value a block cannot hold: one quoted line, the comment kept.
    let out = text(splice_with(src, &[(&["a"], Node::str(" lead\n"))]));
    assert_eq!(
        out,
        "a: \" lead\\n\"  # config\n\nb: >-\n    <r> | jsonParse\nc: 1\n"
    );
    let out = text(splice_with(
        "- &x |-\n  <r>\n- *x\n",
        &[(&["0"], Node::str("v"))],
    ));
    assert_eq!(out, "- &x v\n- *x\n");
}

#[test]
fn anchors_and_aliases_read_the_new_value() {
    let src = "a: &x <r>\nb: *x\nc:\n  <<: {k: *x}\n";
    let out = text(splice_with(src, &[(&["a"], Node::str("v"))]));
    assert_eq!(out, "a: &x v\nb: *x\nc:\n  <<: {k: *x}\n");
}

#[test]
fn unchanged_documents_are_unchanged() {
    let docs = parse_stream("a: {b: [1, 2]}\n").unwrap();
    assert!(matches!(
        splice_document("a: {b: [1, 2]}\n", &docs[0]),
        Spliced::Unchanged
    ));
}

#[test]
fn what_cannot_be_spliced_is_re_emitted() {
    // A collection from a secret.
    let mut map = Node::mapping();
    map.insert("k", Node::str("v"));
    assert!(matches!(
        splice_with("a: <r>\n", &[(&["a"], map)]),
        Spliced::Reemit(_)
    ));
    // A removed entry.
    let mut docs = parse_stream("a: <r>\nb: 1\n").unwrap();
    docs[0].root.as_mapping_mut().unwrap().remove(0);
    docs[0].root.clear_span();
    assert!(matches!(
        splice_document("a: <r>\nb: 1\n", &docs[0]),
        Spliced::Reemit(_)
    ));
    // A tag the replacement dropped: the read-back check catches it.
    assert!(matches!(
        splice_with(
            "a: !!str <r>\n",
            &[(&["a"], Node::scalar(Scalar::new_int(1)))]
        ),
        Spliced::Reemit(_)
    ));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Documents with a reference in many syntactic positions, and the path to it.
    const POSITIONS: &[(&str, &[&str])] = &[
        ("a: <r>\n", &["a"]),
        ("a: \"<r>\" # c\nb: 1\n", &["a"]),
        ("a: '<r>'\n", &["a"]),
        ("a:   <r>\n", &["a"]),
        ("a: <r>", &["a"]),
        ("- <r>\n- x\n", &["0"]),
        ("a:\n- <r>   # c\n- y\n", &["a", "0"]),
        ("a:\n  - <r>\n  # c\nb: 1\n", &["a", "0"]),
        ("a: {k: <r>, j: 1}\n", &["a", "k"]),
        ("a: [x, <r>]\n", &["a", "1"]),
        ("a: [\n  x,\n  <r>\n  ]\n", &["a", "1"]),
        ("a:\n    b:     <r>\n  # c\nd: 1\n", &["a", "b"]),
        ("- k: <r>\n  j: 2\n", &["0", "k"]),
        ("a: &x <r>\nb: *x\n", &["a"]),
        ("a:\n  <r>\nb: 1\n", &["a"]),
        ("a: <r>\n\n\n  # deep comment\nb: 1\n", &["a"]),
        ("a: \"multi\n  <r>\" # c\n", &["a"]),
        ("a: plain\n  <r>\n", &["a"]),
        ("é: <r>\nb: x\n", &["é"]),
        ("? x\n: <r>\n", &["x"]),
        ("a: |\n  <r>\nb: 1\n", &["a"]),
        ("a: >- # c\n   x <r>\n\n\n  # c2\nb: 1\n", &["a"]),
        ("- |2\n   <r>\n- k: |+\n    <r>\n\n", &["1", "k"]),
        ("a: &t\n  |\n  <r>\n", &["a"]),
        ("a:\n  - |\n    <r>\n  - x\n", &["a", "0"]),
    ];

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(
                &[
                    "yes",
                    "no",
                    "on",
                    "~",
                    "null",
                    "1",
                    "0x1f",
                    "1e3",
                    "2024-01-02",
                    "- a",
                    ": x",
                    "a: b",
                    "#x",
                    "x #y",
                    " lead",
                    "trail ",
                    "",
                    "=",
                    "<<",
                    "---",
                    "...",
                    "'",
                    "\"",
                    "a\nb",
                    "a\nb\n",
                    "a\n\n",
                    "\n",
                    "x\n  y\n",
                    "|",
                    ">",
                    "[a]",
                    "{a}",
                    "a,b",
                    "\t",
                    "a\u{85}b",
                    "é\u{2028}",
                    "\u{feff}x",
                    "\u{7f}",
                    "\u{1}"
                ][..]
            )
            .prop_map(str::to_owned),
            "[ -~\n\t#:'\"é\u{85}]{0,16}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Every string, in every position, is spliced (never re-emitted) and reads back as
        /// exactly that string; the text before the scalar is untouched.
        #[test]
        fn spliced_text_reads_back_as_the_value(
            pos in prop::sample::select(POSITIONS),
            v in value(),
        ) {
            let (src, path) = pos;
            let out = match splice_with(src, &[(path, Node::str(v.as_str()))]) {
                Spliced::Text(t) => t.to_string(),
                other => return Err(TestCaseError::fail(format!("{other:?} for {src:?} / {v:?}"))),
            };
            let back = parse_stream(&out).unwrap();
            let mut cur = &back[0].root;
            for k in path {
                cur = match k.parse::<usize>() {
                    Ok(i) if cur.is_sequence() => &cur.as_sequence().unwrap()[i],
                    _ => cur.get(k).unwrap(),
                };
            }
            prop_assert_eq!(cur.as_str(), Some(v.as_str()), "{:?} → {:?}", src, out);
            prop_assert_eq!(cur.resolve(), crate::yaml::Resolved::Str);
            // The text before the scalar is untouched.
            let docs = parse_stream(src).unwrap();
            let mut orig = &docs[0].root;
            for k in path {
                orig = match k.parse::<usize>() {
                    Ok(i) if orig.is_sequence() => &orig.as_sequence().unwrap()[i],
                    _ => orig.get(k).unwrap(),
                };
            }
            let at = orig.span().unwrap().start as usize;
            prop_assert_eq!(&out[..at], &src[..at]);
        }
    }
}
