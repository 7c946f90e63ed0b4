//! Property tests: created trees → emit → parse keep every value and type.

use super::*;
use proptest::prelude::*;

fn interesting_string() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "Y",
        "NO",
        "true",
        "False",
        "null",
        "~",
        "",
        "0644",
        "0x1F",
        "1e3",
        "1:20",
        ".inf",
        "-.inf",
        ".nan",
        "1_000",
        "+5",
        "2024-01-02",
        "<<",
        "=",
        "-",
        "- ",
        "? ",
        ": ",
        "#",
        " #",
        "a: b",
        "'",
        "\"",
        "\\",
        "\t",
        "\n",
        "\r",
        "\r\n",
        " ",
        "---",
        "...",
        "@",
        "`",
        "%",
        "&a",
        "*a",
        "!t",
        "|",
        ">",
        "[",
        "]",
        "{",
        "}",
        ",",
        "é",
        "日本",
        "😀",
        "\u{7f}",
        "\u{1}",
        "\u{0}",
        "\u{feff}",
        "\u{a0}",
        "\u{85}",
        "\u{2028}",
        "\u{2029}",
        "\u{1b}",
        "\u{9b}",
        "\u{200b}",
        "\u{fffe}",
        "\u{ffff}",
        "\u{10ffff}",
        "x",
        "word",
        "1",
        "0",
    ]);
    prop::collection::vec(
        prop_oneof![
            3 => atoms.prop_map(str::to_owned),
            1 => "[a-zA-Z0-9 .:_/-]{0,12}",
            1 => any::<char>()
                .prop_filter("YAML 1.1/1.2 disagree on NEL/LS/PS", |c| {
                    !matches!(*c, '\u{85}' | '\u{2028}' | '\u{2029}')
                })
                .prop_map(|c| c.to_string()),
        ],
        0..5,
    )
    .prop_map(|parts| parts.concat())
}

#[derive(Debug, Clone)]
enum T {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Seq(Vec<T>),
    Map(Vec<(String, T)>),
}

fn tree() -> impl Strategy<Value = T> {
    let leaf = prop_oneof![
        4 => interesting_string().prop_map(T::Str),
        1 => any::<i64>().prop_map(T::Int),
        // Non-integral finite floats: go-yaml prints 2.0 as `2` (an int when read back).
        1 => (-1e6f64..1e6).prop_filter("non-integral", |f| f.fract() != 0.0).prop_map(T::Float),
        1 => any::<bool>().prop_map(T::Bool),
        1 => Just(T::Null),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(T::Seq),
            prop::collection::vec((key_string(), inner), 0..5).prop_map(|v| {
                // Unique keys (sops rejects duplicates).
                let mut seen = std::collections::HashSet::new();
                T::Map(
                    v.into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .collect(),
                )
            }),
        ]
    })
}

fn build(t: &T) -> Node {
    match t {
        T::Str(s) => Node::str(s.as_str()),
        T::Int(i) => Node::scalar(Scalar::new_int(*i)),
        T::Float(f) => Node::scalar(Scalar::new_float(*f)),
        T::Bool(b) => Node::scalar(Scalar::new_bool(*b)),
        T::Null => Node::null(),
        T::Seq(v) => Node::new(NodeKind::Sequence(v.iter().map(build).collect())),
        T::Map(v) => Node::new(NodeKind::Mapping(
            v.iter()
                .map(|(k, v)| (Node::str(k.as_str()), build(v)))
                .collect(),
        )),
    }
}

/// go-yaml (and so sops) writes a multi-line value that starts with a space or line break
/// as `|4-` with content at an indentation its own reader (and YAML) disagrees with when the
/// block sits in a mapping inside a list: keep such values out of the sops round trip.
///
/// go-yaml also writes U+0085, U+2028 and U+2029 raw inside a literal block, where its reader
/// takes them for line breaks (sops has the same problem); the sops writer copies go-yaml, so
/// they stay out too. The manifest writer handles them (`created_multi_line_strings_…`).
fn sops_safe(t: &T) -> T {
    match t {
        T::Str(s) if s.contains(['\u{85}', '\u{2028}', '\u{2029}']) => {
            sops_safe(&T::Str(s.replace(['\u{85}', '\u{2028}', '\u{2029}'], "x")))
        }
        T::Str(s) if s.contains('\n') && s.starts_with([' ', '\n']) => T::Str(format!("x{s}")),
        T::Seq(v) => T::Seq(v.iter().map(sops_safe).collect()),
        T::Map(v) => T::Map(v.iter().map(|(k, v)| (k.clone(), sops_safe(v))).collect()),
        other => other.clone(),
    }
}

fn key_string() -> impl Strategy<Value = String> {
    // Multi-line keys make go-yaml write `? |` blocks it cannot read back itself.
    interesting_string().prop_map(|s| s.replace(['\n', '\r'], ""))
}

fn root_map() -> impl Strategy<Value = T> {
    prop::collection::vec((key_string(), tree()), 0..6).prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        T::Map(
            v.into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect(),
        )
    })
}

/// Every plain scalar that reads as a string must also be a string for YAML 1.1 readers.
fn assert_yaml11_safe(n: &Node) {
    match &n.kind {
        NodeKind::Scalar(s) => {
            if s.style() == ScalarStyle::Plain && n.tag.is_none() && n.resolve() == Resolved::Str {
                assert!(
                    !is_yaml11_nonstring(s.value()),
                    "plain {:?} is not a YAML 1.1 string",
                    s.value()
                );
            }
        }
        NodeKind::Sequence(v) => v.iter().for_each(assert_yaml11_safe),
        NodeKind::Mapping(v) => v.iter().for_each(|(k, v)| {
            assert_yaml11_safe(k);
            assert_yaml11_safe(v);
        }),
        NodeKind::Alias(_) => {}
    }
}

/// Every line-break-like, control, format and non-character code point, inside a multi-line
/// value (written as a literal block when the block holds it exactly), and alone.
#[test]
fn every_break_and_control_character_reads_back() {
    let special = (0u32..0x100)
        .chain(0x2000..0x2070)
        .chain([
            0xfeff, 0xfff9, 0xfffa, 0xfffb, 0xfffc, 0xfffd, 0xfffe, 0xffff,
        ])
        .chain([0xe000, 0xf8ff, 0x1_fffe, 0xe_0001, 0x10_fffe, 0x10_ffff])
        .filter_map(char::from_u32);
    for c in special {
        for v in [
            format!("line1\nmid{c}dle\nline3"),
            format!("{c}\nx"),
            format!("x\n{c}"),
            format!("x\n{c}\n"),
            format!("mid{c}dle"),
            c.to_string(),
        ] {
            let mut doc = Document::new(Node::mapping());
            doc.root.insert("v", Node::str(v.as_str()));
            let out = emit_manifest_checked(std::slice::from_ref(&doc))
                .unwrap_or_else(|e| panic!("U+{:04X} in {v:?}: {e}", c as u32));
            let back = parse_stream(&out).unwrap();
            assert_eq!(
                back[0].root.get("v").and_then(Node::as_str),
                Some(v.as_str()),
                "U+{:04X}: {}",
                c as u32,
                out.as_str()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn manifest_round_trip_keeps_values_and_types(t in root_map(), t2 in root_map()) {
        let docs = vec![Document::new(build(&t)), Document::new(build(&t2))];
        let out = emit_manifest(&docs);
        let back = parse_stream(&out).unwrap_or_else(|e| panic!("{e}\n{}", out.as_str()));
        prop_assert_eq!(back.len(), 2, "{}", out.as_str());
        for (a, b) in docs.iter().zip(&back) {
            prop_assert_eq!(to_json(&a.root).unwrap(), to_json(&b.root).unwrap(), "{}", out.as_str());
            assert_yaml11_safe(&b.root);
        }
        // Untouched re-emission is byte-identical.
        let again = emit_manifest(&back);
        prop_assert_eq!(again.as_str(), out.as_str());
    }

    #[test]
    fn sops_round_trip_keeps_values_and_is_a_fixed_point(t in root_map()) {
        let t = sops_safe(&t);
        let docs = vec![Document::new(build(&t))];
        let out = emit_sops(&docs);
        let back = parse_stream(&out).unwrap_or_else(|e| panic!("{e}\n{}", out.as_str()));
        prop_assert_eq!(
            to_secret_value(&docs[0].root).unwrap(),
            to_secret_value(&back[0].root).unwrap(),
            "{}", out.as_str()
        );
        let again = emit_sops(&back);
        prop_assert_eq!(again.as_str(), out.as_str());
    }

    #[test]
    fn created_multi_line_strings_with_any_character_read_back(
        pre in "[a-z ]{0,3}",
        c in any::<char>(),
        post in "[a-z\n ]{0,4}",
    ) {
        for v in [format!("{pre}\n{c}{post}"), format!("{pre}{c}\n{post}"), format!("{c}")] {
            let mut doc = Document::new(Node::mapping());
            doc.root.insert("v", Node::str(v.as_str()));
            let out = emit_manifest_checked(std::slice::from_ref(&doc));
            prop_assert!(out.is_ok(), "{:?}: {:?}", v, out.err());
        }
    }

    #[test]
    fn parser_never_panics(s in "\\PC{0,64}") {
        let _ = parse_stream(&s);
    }
}
