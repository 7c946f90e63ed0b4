//! `sealbridge render` output read by an independent YAML 1.1 reader: PyYAML's `safe_load`
//! (YAML 1.1 resolution, like sigs.k8s.io/yaml / go-yaml v2 that kubectl and Argo CD use),
//! installed by scripts/setup (`.tools/bin/pyyaml-python`).
//!
//! The corpus (tests/fixtures/yaml/yaml11/manifests.yaml) holds untouched tricky scalars and
//! references that resolve (from a real OpenBao KV v2) to the YAML 1.1 trouble list. PyYAML
//! must read the output as exactly what it read from the input, with every reference replaced
//! by its secret string.
//!
//! Where PyYAML and go-yaml v2 differ (so the corpus keeps such text out of untouched plain
//! scalars, or the difference does not matter because sealbridge quotes created strings):
//! * `y`/`n`/`Y`/`N`: go-yaml v2 reads booleans, PyYAML strings (its bool regex has no
//!   single letters). Untouched text is written as is; created strings are quoted (for v2).
//! * `1e3` (no dot): go-yaml v2 reads a float, PyYAML a string. Untouched, it is written as is,
//!   so each reader sees the same thing before and after; created strings are quoted.
//! * `0o17`: go-yaml v2 (Go's ParseInt with base 0) reads 15, PyYAML the string "0o17".
//! * `1:20` (sexagesimal): PyYAML reads 80, go-yaml v2 a string.
//! * plain `=` and `<<` as values: PyYAML's safe loader refuses them (no constructor for the
//!   `value`/`merge` tags); go-yaml v2 reads strings. The corpus only has them quoted or as
//!   secret values (which sealbridge writes quoted).

use std::process::Command;

use serde_json::{Value, json};

use crate::render::{run, stderr, stdout};
use crate::support;

/// The YAML 1.1 trouble list as secret values (k01…).
const VALUES: &[&str] = &[
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "Y",
    "N",
    "0644",
    "0o17",
    "1e3",
    "1_000",
    "1:20",
    "null",
    "~",
    ".inf",
    "-.Inf",
    ".nan",
    "2024-01-02",
    "2001-12-14t21:59:43.10-05:00",
    "=",
    "<<",
    "true",
    "False",
    "0x1F",
    "+12",
    "1.5",
    "0b101",
    "",
    " lead",
    "trail  ",
    "x\n  y\n",
    "first\n  more indented\nback   \nlast\n",
    "a\n\n  b  \nc",
    "# not a comment",
    "- item",
    "key: v",
    "@at",
    "\ttab",
    "é 😀 日本",
    "--- doc",
    "...",
    "multi\nline\n\n",
    "\n\nleading breaks",
    "Null",
    "NO",
    "On",
    "0",
    "-0",
    "1.0",
];

/// What PyYAML reads from `text` (tests/fixtures/yaml/pyyaml_json.py's JSON encoding).
pub(crate) fn pyyaml(text: &str) -> Value {
    let python = support::tool("pyyaml-python");
    let script = support::fixture("yaml/pyyaml_json.py");
    let mut c = Command::new(python);
    c.arg(script);
    let out = support::output_with_stdin(c, Some(text.as_bytes()));
    assert!(
        out.status.success(),
        "PyYAML cannot read:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Replaces every reference `<path:MOUNT/tricky#kNN>` inside strings by its value.
fn substitute(v: &mut Value, mount: &str) {
    match v {
        Value::String(s) => {
            for (i, val) in VALUES.iter().enumerate().rev() {
                let r = format!("<path:{mount}/tricky#k{:02}>", i + 1);
                if s.contains(&r) {
                    *s = s.replace(&r, val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, mount)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute(x, mount)),
        _ => {}
    }
}

#[test]
fn pyyaml_reads_rendered_tricky_values_exactly() {
    assert_eq!(VALUES.len(), 50);
    let bao = support::openbao();
    let kv = bao.new_kv2();
    let data: serde_json::Map<String, Value> = VALUES
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("k{:02}", i + 1), json!(v)))
        .collect();
    bao.kv2_put(&kv, "tricky", Value::Object(data));

    let src = std::fs::read_to_string(support::fixture("yaml/yaml11/manifests.yaml"))
        .unwrap()
        .replace("{kv}", &kv);
    let dir = support::tempdir();
    std::fs::write(dir.path().join("in.yaml"), &src).unwrap();
    let out = run(Some(bao), dir.path(), &["render", "in.yaml"], None, &[]);
    assert!(out.status.success(), "stderr:\n{}", stderr(&out));
    let rendered = stdout(&out);

    let mut expected = pyyaml(&src);
    substitute(&mut expected, &kv);
    let got = pyyaml(&rendered);
    assert_eq!(
        got, expected,
        "PyYAML reads the output differently:\n{rendered}"
    );

    // The untouched document means the same before and after, and the oracle really tells
    // YAML 1.1 apart (a string `yes` would not be `true`).
    let spec = &got[0]["!map"];
    assert!(spec.is_null(), "document 0 has only string keys at the top");
    let bools = &got[0]["spec"]["!map"][0][1];
    assert_eq!(
        bools,
        &json!([true, false, true, false, "y", "n", "Y", "N", true, false])
    );
    // Every secret value is the exact string (the Secret's stringData).
    for (i, v) in VALUES.iter().enumerate() {
        assert_eq!(
            got[1]["stringData"][format!("k{:02}", i + 1)],
            json!(v),
            "k{:02}",
            i + 1
        );
    }
}
