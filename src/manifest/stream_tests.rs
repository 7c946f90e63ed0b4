use super::*;
use crate::manifest::kind_of;
use proptest::prelude::*;

fn segs(text: &str) -> Result<Vec<Segment>, Unusual> {
    split(text).collect()
}

/// Lines the generator joins: document markers in every spelling, directives, comments, block
/// and flow collections, every scalar style (multi-line ones whose continuation lines may look
/// like markers), tabs, and the `kind` forms triage reads.
const LINES: &[&str] = &[
    "---",
    "--- ",
    "---\t",
    "----",
    "---x",
    " ---",
    "....",
    "# comment",
    "  # indented comment",
    "",
    "  ",
    "\t",
    "kind: A",
    "kind: Secret",
    "kind: 1",
    "kind:",
    "kind: \"\"",
    "kind: 'B'",
    "kind: !!str C",
    "kind: &k D",
    "kind: *k",
    "kind: E # note",
    "\"kind\": F",
    "? kind",
    ": G",
    "kind: H",
    "apiVersion: v1",
    "apiVersion: apps/v1",
    "metadata:",
    "  name: x",
    "  kind: nested",
    "a: b",
    "a: \"open",
    "close\"",
    "a: 'open",
    "close'",
    "a: |",
    "a: >-",
    "  text",
    "text",
    "  ---",
    "- x",
    "- kind: L",
    "  - y",
    "{kind: M,",
    "}",
    "[a,",
    "]",
    "a: {kind: N}",
    "&x a: 1",
    "*x : 2",
    "b: *x",
    "key with spaces: v",
    "a:\tb",
    "a: b: c",
    "kind: A\tB",
];

/// Lines that make a stream unusual (rarer: most streams must reach the comparison).
const UNUSUAL: &[&str] = &[
    "--- # c",
    "--- |",
    "--- !tag",
    "--- {a: 1}",
    "...",
    "... # end",
    "%YAML 1.2",
    "%TAG ! tag:x,2000:",
];

fn stream() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop_oneof![
                30 => prop::sample::select(LINES),
                1 => prop::sample::select(UNUSUAL),
            ],
            0..24,
        ),
        any::<bool>(),
    )
        .prop_map(|(lines, newline)| {
            let mut s = lines.join("\n");
            if newline && !s.is_empty() {
                s.push('\n');
            }
            s
        })
}

/// Valid multi-line pieces of a document (the line generator rarely makes valid streams).
const BLOCKS: &[&str] = &[
    "kind: A\n",
    "kind: Secret\n",
    "kind: \"\"\n",
    "kind: 1\n",
    "\"kind\": Z\n",
    "apiVersion: v1\n",
    "metadata:\n  name: x\n",
    "# comment\n",
    "\n",
    "  # indented comment\n",
    "lit: |\n  text\n\n  ---\n  more\n",
    "fold: >-\n  folded\n   more\n",
    "dq: \"q\n  w\"\n",
    "sq: 'q\n  w'\n",
    "pl: plain\n  continued\n",
    "fs: [1,\n  2]\n",
    "fm: {k: v,\n  x: y}\n",
    "anc: &x v\n",
    "ali: *x\n",
    "tag: !!str v\n",
    "seq:\n- 1\n- kind: L\n",
    "nested:\n  kind: N\n",
    "? complex\n: value\n",
];

/// Separators between documents.
const SEPARATORS: &[&str] = &["---\n", "--- \n", "# c\n---\n", "\n---\n", "---\n# x\n", ""];

fn block_stream() -> impl Strategy<Value = String> {
    let doc = prop::collection::vec(
        prop_oneof![
            20 => prop::sample::select(BLOCKS),
            1 => prop::sample::select(LINES),
        ],
        0..6,
    );
    (
        prop::collection::vec((prop::sample::select(SEPARATORS), doc), 1..5),
        any::<bool>(),
    )
        .prop_map(|(docs, newline)| {
            let mut s = String::new();
            for (i, (sep, blocks)) in docs.iter().enumerate() {
                if i > 0 || !sep.is_empty() {
                    s.push_str(if sep.is_empty() { "---\n" } else { sep });
                }
                for b in blocks {
                    s.push_str(b);
                    if !b.ends_with('\n') {
                        s.push('\n');
                    }
                }
            }
            if !newline {
                s.pop();
            }
            s
        })
}

/// The data of a document, for comparing two parses (positions differ).
fn data(d: &Document) -> (Option<String>, Option<serde_json::Value>, bool) {
    (
        kind_of(&d.root).map(str::to_owned),
        // (An error's line number is relative to the text parsed.)
        yaml::to_json(&d.root).ok(),
        d.is_empty(),
    )
}

/// The split is the parser's: whenever it does not call the text unusual, the parser reads as
/// many documents, each segment's text alone parses to the same document, `content` is "not
/// empty", and [`simple_kind`] never claims a `kind` the parser does not see. When the parser
/// rejects the stream, some segment alone is rejected too (so the full parse runs and reports
/// the error), unless every segment is a passthrough without a parse.
fn check_split(text: &str) -> Result<(), TestCaseError> {
    let Ok(segments) = segs(text) else {
        return Ok(());
    };
    let alone: Vec<Result<Vec<Document>, yaml::Error>> = segments
        .iter()
        .map(|s| yaml::parse_stream(&text[s.text.clone()]))
        .collect();
    match yaml::parse_stream(text) {
        Ok(docs) => {
            prop_assert_eq!(docs.len(), segments.len(), "document count of {:?}", text);
            for ((seg, doc), one) in segments.iter().zip(&docs).zip(&alone) {
                prop_assert_eq!(seg.content, !doc.is_empty(), "content of {:?}", text);
                if simple_kind(&text[seg.body.clone()]) {
                    prop_assert!(kind_of(&doc.root).is_some(), "kind of {:?}", text);
                }
                let one = one
                    .as_ref()
                    .map_err(|e| TestCaseError::fail(format!("segment of {text:?} alone: {e}")))?;
                prop_assert_eq!(one.len(), 1, "segment alone of {:?}", text);
                prop_assert_eq!(data(&one[0]), data(doc), "segment data of {:?}", text);
            }
        }
        Err(_) => {
            // Either a segment alone fails, or every segment is one triage would parse
            // (simple_kind false) and ... no: a segment may be a passthrough. Then the parser's
            // complaint must be inside that passthrough segment's own text.
            let some_fails = alone.iter().any(Result::is_err);
            prop_assert!(some_fails, "every segment of {:?} parses alone", text);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn text_split_agrees_with_the_parser(text in stream()) {
        check_split(&text)?;
    }

    #[test]
    fn text_split_agrees_with_the_parser_on_valid_streams(text in block_stream()) {
        check_split(&text)?;
    }

    /// A stream of passthrough documents comes out byte for byte.
    #[test]
    fn passthrough_streams_are_byte_identical(
        docs in prop::collection::vec(
            (prop::sample::select(&["", "# lead\n", "\n"][..]),
             prop::sample::select(&["kind: A\n", "apiVersion: v1\nkind: B\nspec:\n  x: [1, {a: b}]\n",
                                   "kind: C # c\nmetadata:\n  name: n\n# tail\n"][..])),
            1..6),
        newline in any::<bool>(),
    ) {
        let mut text = String::new();
        for (i, (lead, body)) in docs.iter().enumerate() {
            if i == 0 { text.push_str(lead); }
            if i > 0 || !lead.is_empty() { text.push_str("---\n"); }
            text.push_str(body);
        }
        if !newline { text.pop(); }
        let out = render_text(&text);
        let expected = if newline { text.clone() } else { format!("{text}\n") };
        prop_assert_eq!(out, expected);
    }
}

fn load_one(text: &str) -> Stream {
    let mut stream = Stream {
        sources: Vec::new(),
        items: Vec::new(),
        docs: Vec::new(),
        origins: Vec::new(),
        skipped: Vec::new(),
        passthrough: 0,
        texts: Vec::new(),
    };
    add_source(
        &mut stream,
        0,
        "t.yaml",
        text,
        false,
        &crate::resolve::triage::needs_tree,
    )
    .unwrap();
    stream.sources.push(Source {
        name: "t.yaml".to_owned(),
        text: Zeroizing::new(text.to_owned()),
    });
    stream
}

fn render_text(text: &str) -> String {
    load_one(text).into_output().unwrap().to_text().to_string()
}

#[test]
fn split_regressions() {
    for t in [
        "# c\n---\nkind: A\n",
        "---\n---\nkind: A\n",
        "# c\n",
        "",
        "---",
        "kind: A\n---\n# c\n",
        "a: \"x\n---\nkind: B\"\n",
        "a: |\n  x\n---\n  y\n",
        "kind: A\n---\n---\n",
    ] {
        check_split(t).unwrap();
    }
}

#[test]
fn unusual_streams_go_to_the_full_parser() {
    for t in [
        "kind: A\n...\n",
        "%YAML 1.2\n---\nkind: A\n",
        "--- |\n  x\n",
        "--- # c\nkind: A\n",
        "--- !t\nkind: A\n",
    ] {
        assert_eq!(segs(t), Err(Unusual), "{t:?}");
    }
    for t in [
        "kind: A\r\n",
        "\u{feff}kind: A\n",
        "kind: A\u{85}",
        "kind: A\u{2028}",
        "kind: A\u{2029}",
        "kind: \u{1}A\n",
    ] {
        assert!(unusual_bytes(t), "{t:?}");
    }
    assert!(!unusual_bytes("kind: \u{e9}t\u{e9}\n\tx: \u{20ac}\n"));
}

#[test]
fn simple_kind_is_conservative() {
    for t in [
        "kind: A\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        "# Source: x\napiVersion: apps/v1\n\nkind: Deployment # c\nspec: {a: 1}\n- x\n",
        "apiVersion:\nkind: X\n",
    ] {
        assert!(simple_kind(t), "{t:?}");
    }
    for t in [
        "",
        "kind:\n",
        "kind: \"\"\n",
        "kind: 'A'\n",
        "kind: !!str A\n",
        "kind: &a A\n",
        "metadata:\n  name: x\nkind: A\n",
        "kind: A\nkind: B\n",
        "kind: A\n\"kind\": 1\n",
        "kind: A\n? kind\n",
        "{kind: A}\n",
        "- kind: A\n",
        "a: \"x\nkind: A\n",
        "kind: A:B\n",
        "kind:\tA\n",
        "kind: A#b\n",
    ] {
        assert!(!simple_kind(t), "{t:?}");
    }
}

#[test]
fn documents_join_with_markers_and_keep_their_text() {
    // The first document of a file has no `---`: one is written before it when it is not the
    // first thing written; a missing final line feed is added.
    let mut stream = load_one("kind: A\nspec: {x: [1,2]}   # flow stays flow\n");
    let second = load_one("kind: B\n---\nkind: C");
    let base = stream.sources.len();
    for item in second.items {
        if let Item::Text { range, marker, .. } = item {
            stream.items.push(Item::Text {
                source: base,
                range,
                marker,
            });
        }
    }
    stream.sources.extend(second.sources);
    let out = stream.into_output().unwrap().to_text();
    assert_eq!(
        &*out,
        "kind: A\nspec: {x: [1,2]}   # flow stays flow\n---\nkind: B\n---\nkind: C\n"
    );
}

#[test]
fn documents_that_need_the_tree_are_parsed_and_the_rest_pass_through() {
    let text = "kind: A\nx:   {a: 1}\n---\nkind: Secret\nstringData: {a: b}\n---\n\
                # only a comment\n---\nreplicas: 3\n---\nkind: B\ny: [1,  2]\n";
    let stream = load_one(text);
    assert_eq!(stream.passthrough, 2);
    assert_eq!(stream.docs.len(), 1);
    assert_eq!(stream.origins[0].index, 1);
    assert_eq!(stream.skipped.len(), 1);
    assert_eq!(stream.skipped[0].origin.index, 3);
    let out = stream.into_output().unwrap().to_text();
    assert_eq!(
        &*out,
        "kind: A\nx:   {a: 1}\n---\nkind: Secret\nstringData: {a: b}\n---\nkind: B\ny: [1,  2]\n"
    );
}

#[test]
fn sops_files_and_json_are_parsed() {
    let s = load_one("kind: Secret\ndata:\n  a: ENC[x]\nsops:\n  mac: ENC[y]\n");
    assert_eq!((s.passthrough, s.docs.len(), s.skipped.len()), (0, 0, 1));
    let s = load_one("kind: A\nsops:\n  version: 3.9.0\n");
    assert_eq!((s.passthrough, s.docs.len(), s.skipped.len()), (0, 0, 1));
    let s = load_one("{\"kind\": \"A\"}\n");
    assert_eq!((s.passthrough, s.docs.len()), (0, 1));
}

#[test]
fn a_segment_the_parser_rejects_makes_the_whole_file_report_its_error() {
    let text = "kind: A\n---\nx: [\nkind: B\n";
    let mut stream = Stream {
        sources: Vec::new(),
        items: Vec::new(),
        docs: Vec::new(),
        origins: Vec::new(),
        skipped: Vec::new(),
        passthrough: 0,
        texts: Vec::new(),
    };
    // `x: [` is not simple: parsed alone, rejected, then the whole file is parsed.
    let err = add_source(&mut stream, 0, "t.yaml", text, false, &|_: &str| false).unwrap_err();
    assert!(err.starts_with("invalid YAML: line "), "{err}");
}

#[test]
#[ignore = "statistics of the split generator"]
fn generator_statistics() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut unusual, mut parsed, mut failed, mut multi) = (0, 0, 0, 0);
    for i in 0..8000 {
        let t = if i % 2 == 0 {
            stream().new_tree(&mut runner).unwrap().current()
        } else {
            block_stream().new_tree(&mut runner).unwrap().current()
        };
        match segs(&t) {
            Err(_) => unusual += 1,
            Ok(s) => match yaml::parse_stream(&t) {
                Ok(_) => {
                    parsed += 1;
                    if s.len() > 1 {
                        multi += 1;
                    }
                }
                Err(_) => failed += 1,
            },
        }
    }
    eprintln!("unusual {unusual} parsed {parsed} (multi {multi}) rejected {failed}");
}
