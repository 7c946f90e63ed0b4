use proptest::prelude::*;

use super::*;

const PLAIN: ScanContext = ScanContext { generic: false };
const GENERIC: ScanContext = ScanContext { generic: true };

fn one(text: &str, ctx: ScanContext) -> Reference {
    let p = parse(text, ctx);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    p.single_reference()
        .cloned()
        .expect("exactly one reference")
}

fn err(text: &str, ctx: ScanContext) -> String {
    let p = parse(text, ctx);
    assert_eq!(p.errors.len(), 1, "{p:?}");
    p.errors[0].message.clone()
}

fn rebuild(p: &Parsed) -> String {
    p.segments
        .iter()
        .map(|s| match s {
            Segment::Text(t) => t.as_str(),
            Segment::Ref(r) => r.raw.as_str(),
        })
        .collect()
}

#[test]
fn avp_inline_forms() {
    let r = one("<path:secret/data/app#password>", PLAIN);
    assert_eq!(r.syntax, Syntax::AvpInline);
    assert_eq!(r.backend, None);
    assert_eq!(r.path.as_deref(), Some("secret/data/app"));
    assert_eq!(r.selector, Selector::Key("password".into()));
    assert_eq!(r.version, None);

    let r = one("<path:kv/versioned#secret#2>", PLAIN);
    assert_eq!(r.version, Some(2));

    let r = one("<path:vault://kv/app#k>", PLAIN);
    assert_eq!(r.backend, Some(BackendKind::Vault));
    assert_eq!(r.path.as_deref(), Some("kv/app"));

    let r = one("<path:sops://./secrets/app.enc.yaml#db_password>", PLAIN);
    assert_eq!(r.backend, Some(BackendKind::Sops));
    assert_eq!(r.path.as_deref(), Some("secrets/app.enc.yaml"));

    // Paths and keys are trimmed; spaces after `<` are allowed.
    let r = one("< path: a/b # k >", PLAIN);
    assert_eq!(r.path.as_deref(), Some("a/b"));
    assert_eq!(r.selector, Selector::Key("k".into()));
}

#[test]
fn avp_inline_with_modifiers() {
    let r = one(
        "<path:secret/jsonstring#secret | jsonParse | jsonPath {.credentials.user} | base64encode>",
        PLAIN,
    );
    let names: Vec<_> = r.modifiers.iter().map(Modifier::name).collect();
    assert_eq!(names, ["jsonParse", "jsonPath", "base64encode"]);
    assert!(r.ends_with_base64encode());

    // `>` and `|` inside a JSONPath action or quotes do not end the placeholder.
    let r = one(
        "<path:a#b | jsonPath {.items[?(@.n > 1)].x} | default \"a|b>c\">",
        PLAIN,
    );
    assert_eq!(r.modifiers.len(), 2);
    assert_eq!(r.modifiers[1], Modifier::Default("a|b>c".into()));
}

#[test]
fn avp_generic_only_with_annotation() {
    let p = parse("supported options: <beep>, <boop>", PLAIN);
    assert!(!p.has_references());
    assert_eq!(rebuild(&p), "supported options: <beep>, <boop>");

    let p = parse("foo.com/<name>:<tag>", GENERIC);
    let keys: Vec<_> = p.references().map(|r| r.selector.clone()).collect();
    assert_eq!(
        keys,
        [Selector::Key("name".into()), Selector::Key("tag".into())]
    );
    assert_eq!(p.segments[0], Segment::Text("foo.com/".into()));
    assert_eq!(p.segments[2], Segment::Text(":".into()));

    // The fixture's whitespace tolerance.
    let r = one(
        "<  data |jsonPath  {.deployment.replicas}|  jsonParse >",
        GENERIC,
    );
    assert_eq!(r.selector, Selector::Key("data".into()));
    assert_eq!(r.modifiers.len(), 2);
    assert_eq!(r.syntax, Syntax::AvpGeneric);

    // Inline references work in annotated documents too, and mix with generic ones.
    let p = parse("<path:a#x>,<y>", GENERIC);
    assert_eq!(p.references().count(), 2);

    // `<<key>>` is `<`, a reference, `>`.
    let p = parse("<<key>>", GENERIC);
    assert_eq!(p.segments.len(), 3);
    assert_eq!(p.segments[0], Segment::Text("<".into()));
    assert_eq!(p.segments[2], Segment::Text(">".into()));

    // No closing `>` on the line: not a placeholder.
    let p = parse("a < b\nc > d", GENERIC);
    assert!(!p.has_references());

    assert!(err("x <> y", GENERIC).contains("empty placeholder"));
}

#[test]
fn several_references_keep_surrounding_text() {
    let p = parse(
        "postgres://<path:db#user>:<path:db#pass>@host/<path:db#name>?x=1",
        PLAIN,
    );
    assert_eq!(p.references().count(), 3);
    assert_eq!(
        rebuild(&p),
        "postgres://<path:db#user>:<path:db#pass>@host/<path:db#name>?x=1"
    );
    assert!(p.single_reference().is_none());
}

#[test]
fn malformed_inline_references_are_errors() {
    assert!(err("<path:a#b#c#d>", PLAIN).contains("expected <path:PATH#KEY>"));
    assert!(err("<path:a>", PLAIN).contains("expected"));
    assert!(err("x <path:a#b", PLAIN).contains("unterminated"));
    assert!(err("<path:a#b#latest>", PLAIN).contains("not a positive integer"));
    assert!(err("<path:aws://x#b>", PLAIN).contains("unsupported backend"));
    assert!(err("<path:a#b | nope>", PLAIN).contains("unknown modifier"));
    assert!(err("<path:a#b | >", PLAIN).contains("empty modifier"));
    assert!(err("<path:a#b || base64encode>", PLAIN).contains("empty modifier"));
    assert!(err("<path:#b>", PLAIN).contains("path is empty"));
    assert!(err("<path:a# >", PLAIN).contains("key is empty"));
    // The broken reference stays in the text.
    let p = parse("a <path:a#b#c#d> b", PLAIN);
    assert_eq!(rebuild(&p), "a <path:a#b#c#d> b");
}

#[test]
fn vals_forms() {
    let r = one("ref+vault://secret/app#/password", PLAIN);
    assert_eq!(r.syntax, Syntax::Vals);
    assert_eq!(r.backend, Some(BackendKind::Vault));
    assert_eq!(r.path.as_deref(), Some("secret/app"));
    assert_eq!(r.selector, Selector::Pointer(vec!["password".into()]));

    let r = one("ref+vault://secret/app/password", PLAIN);
    assert_eq!(r.path.as_deref(), Some("secret/app"));
    assert_eq!(r.selector, Selector::Key("password".into()));

    let r = one("ref+openbao://kv/app?version=3#/db/pass~1word+", PLAIN);
    assert_eq!(r.version, Some(3));
    assert_eq!(
        r.selector,
        Selector::Pointer(vec!["db".into(), "pass/word".into()])
    );

    let r = one("secretref+sops://secrets.enc.yaml#/a/0", PLAIN);
    assert_eq!(r.backend, Some(BackendKind::Sops));
    assert_eq!(r.selector, Selector::Pointer(vec!["a".into(), "0".into()]));

    let r = one("ref+sops://secrets.enc.yaml", PLAIN);
    assert_eq!(r.selector, Selector::Whole);

    // Embedded, ended by `+`, whitespace, a quote or a comma.
    let p = parse("user=ref+vault://a#/u+ pass=ref+vault://a#/p+@h", PLAIN);
    assert_eq!(p.references().count(), 2);
    assert_eq!(p.segments.last(), Some(&Segment::Text("@h".into())));
    let p = parse(r#"{"pw":"ref+vault://a#/p","x":1}"#, PLAIN);
    assert_eq!(p.references().count(), 1);
    assert_eq!(
        p.segments.last(),
        Some(&Segment::Text(r#"","x":1}"#.into()))
    );

    // Not a reference at all.
    assert!(!parse("git ref+main and sref", PLAIN).has_references());

    assert!(err("ref+awssecrets://x#/y", PLAIN).contains("unsupported vals backend"));
    assert!(err("ref+vault://x?address=http://evil#/y", PLAIN).contains("unsupported query"));
    assert!(err("ref+vault://x", PLAIN).contains("needs a key"));
    assert!(err("ref+vault://x#/a~2", PLAIN).contains("escape"));
}

#[test]
fn multi_line_template_in_folded_scalar() {
    // What a `>-` block of the AVP modifiers fixture becomes.
    let text = "<data | jsonPath {'['} {range .service.ports[0:-1:1]} {'{\"protocol\":\"TCP\",'} \
                {'\"port\":'}{@} {'},'} {end} {'}]'} | jsonParse >";
    let r = one(text, GENERIC);
    assert_eq!(r.modifiers.len(), 2);
    // And with real newlines (a literal block).
    let text = "<path:a#b | jsonPath {.x}\n  {.y} | jsonParse>";
    let r = one(text, PLAIN);
    assert_eq!(r.modifiers.len(), 2);
}

#[test]
fn select_keys_and_pointers() {
    let v = value::parse_json(br#"{"a":{"b":[10,{"c":null}]},"k":"v"}"#).unwrap();
    assert!(matches!(
        select(&v, &Selector::Key("k".into())),
        Flow::Value(_)
    ));
    match select(&v, &Selector::Key("nope".into())) {
        Flow::Missing(m) => assert_eq!(m.to_string(), "no such key `nope` (available keys: a, k)"),
        _ => panic!(),
    }
    assert!(matches!(
        select(
            &v,
            &Selector::Pointer(vec!["a".into(), "b".into(), "0".into()])
        ),
        Flow::Value(SecretValue::Int(10))
    ));
    assert!(matches!(
        select(
            &v,
            &Selector::Pointer(vec!["a".into(), "b".into(), "1".into(), "c".into()])
        ),
        Flow::Missing(Missing::Null { .. })
    ));
    match select(&v, &Selector::Pointer(vec!["a".into(), "x".into()])) {
        Flow::Missing(m) => assert_eq!(
            m.to_string(),
            "nothing at pointer `/a/x` (available keys: b)"
        ),
        _ => panic!(),
    }
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.-]{1,12}"
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..4).prop_map(|v| v.join("/"))
}

fn filler() -> impl Strategy<Value = String> {
    // Text that cannot start a reference.
    "[a-qt-zA-Z0-9 :=/,.@-]{0,10}"
}

#[derive(Debug, Clone)]
enum Gen {
    Inline(String, String, Option<u64>, bool),
    Vals(String, String, Option<u64>),
    Generic(String),
}

fn gen_ref() -> impl Strategy<Value = Gen> {
    prop_oneof![
        (path(), word(), prop::option::of(1u64..1000), any::<bool>())
            .prop_map(|(p, k, v, m)| Gen::Inline(p, k, v, m)),
        (path(), word(), prop::option::of(1u64..1000)).prop_map(|(p, k, v)| Gen::Vals(p, k, v)),
        word().prop_map(Gen::Generic),
    ]
}

fn render(g: &Gen) -> String {
    match g {
        Gen::Inline(p, k, v, m) => {
            let v = v.map(|v| format!("#{v}")).unwrap_or_default();
            let m = if *m {
                " | jsonPath {.a[?(@.b > 1)]} | base64encode"
            } else {
                ""
            };
            format!("<path:{p}#{k}{v}{m}>")
        }
        Gen::Vals(p, k, v) => {
            let q = v.map(|v| format!("?version={v}")).unwrap_or_default();
            format!("ref+vault://{p}{q}#/{k}+")
        }
        Gen::Generic(k) => format!("<{k}>"),
    }
}

proptest! {
    #[test]
    fn any_text_rebuilds_exactly_and_never_panics(s in ".{0,200}", generic in any::<bool>()) {
        let p = parse(&s, ScanContext { generic });
        prop_assert_eq!(rebuild(&p), s);
    }

    #[test]
    fn tricky_text_rebuilds(s in "[<>|#{}'\" a-z:/+\n]{0,80}", generic in any::<bool>()) {
        let p = parse(&s, ScanContext { generic });
        prop_assert_eq!(rebuild(&p), s);
    }

    #[test]
    fn text_without_openers_is_untouched(s in "[^<rs]{0,100}", generic in any::<bool>()) {
        let p = parse(&s, ScanContext { generic });
        prop_assert!(!p.has_references());
        prop_assert_eq!(rebuild(&p), s);
    }

    #[test]
    fn generated_references_are_found_in_order(
        parts in prop::collection::vec((filler(), gen_ref()), 1..5),
        tail in filler(),
    ) {
        let mut text = String::new();
        for (f, g) in &parts {
            text.push_str(f);
            text.push_str(&render(g));
        }
        text.push_str(&tail);
        let p = parse(&text, GENERIC);
        prop_assert!(p.errors.is_empty(), "{:?} in {:?}", p.errors, text);
        let refs: Vec<&Reference> = p.references().collect();
        prop_assert_eq!(refs.len(), parts.len());
        for ((_, g), r) in parts.iter().zip(refs) {
            match g {
                Gen::Inline(path, k, v, m) => {
                    prop_assert_eq!(r.syntax, Syntax::AvpInline);
                    prop_assert_eq!(r.path.as_deref(), Some(path.as_str()));
                    prop_assert_eq!(&r.selector, &Selector::Key(k.clone()));
                    prop_assert_eq!(r.version, *v);
                    prop_assert_eq!(r.modifiers.len(), if *m { 2 } else { 0 });
                }
                Gen::Vals(path, k, v) => {
                    prop_assert_eq!(r.syntax, Syntax::Vals);
                    prop_assert_eq!(r.path.as_deref(), Some(path.as_str()));
                    prop_assert_eq!(&r.selector, &Selector::Pointer(vec![k.clone()]));
                    prop_assert_eq!(r.version, *v);
                }
                Gen::Generic(k) => {
                    prop_assert_eq!(r.syntax, Syntax::AvpGeneric);
                    prop_assert_eq!(&r.selector, &Selector::Key(k.clone()));
                }
            }
        }
        prop_assert_eq!(rebuild(&p), text);
    }
}
