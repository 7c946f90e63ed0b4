//! `sealbridge check`: each finding produced by a real-looking mistake, a near miss that is
//! clean, the three output formats, and no value in any output.

use std::path::Path;
use std::process::Output;

use crate::support;

const PLANTED: &[&str] = &[
    "hunter2-literal",
    "AGE-SECRET-KEY-1QQQQ",
    "hvs.CAESIPlantedTokenValue0123456789",
    "sops-clear-value",
];

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn check(dir: &Path, args: &[&str]) -> Output {
    let home = support::tempdir();
    support::sealbridge(home.path())
        .current_dir(dir)
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

/// A sops file made by sealbridge, then a clear value added by hand (as happens when someone
/// edits an encrypted file without sops).
fn sops_file_with_a_clear_value(dir: &Path) {
    let (_, recipient) = support::age_keypair();
    write(dir, "plain.yaml", "password: secret-value\n");
    let home = support::tempdir();
    let o = support::sealbridge(home.path())
        .current_dir(dir)
        .args(["encrypt", "--age", &recipient, "plain.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::remove_file(dir.join("plain.yaml")).unwrap();
    let enc = String::from_utf8(o.stdout).unwrap();
    write(
        dir,
        "bad/db.enc.yaml",
        &format!("added: sops-clear-value\n{enc}"),
    );
    write(dir, "good/db.enc.yaml", &enc);
}

#[test]
fn check_finds_each_mistake_and_passes_the_near_misses() {
    let t = support::tempdir();
    let d = t.path();
    // Mistakes.
    write(
        d,
        "bad/ref.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  p: <path:kv/data/x#y | base64encod>\n",
    );
    write(
        d,
        "bad/typo.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n  annotations:\n    avp.kubernetes.io/paht: kv/data/x\nstringData:\n  p: <password>\n",
    );
    write(
        d,
        "bad/literal.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: c\nstringData:\n  password: hunter2-literal\n  token: <path:kv/data/x#t>\n",
    );
    write(
        d,
        "bad/key.txt",
        "# notes\nAGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n",
    );
    write(
        d,
        "bad/env.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: e\ndata:\n  t: hvs.CAESIPlantedTokenValue0123456789\n",
    );
    write(
        d,
        "bad/kust/kustomization.yaml",
        "resources: []\ngenerators: [gen.yaml]\n",
    );
    write(
        d,
        "bad/kust/gen.yaml",
        "apiVersion: x/v1\nkind: ../../bin/sh\nmetadata:\n  name: g\n",
    );
    sops_file_with_a_clear_value(d);
    // Near misses.
    write(
        d,
        "good/refs.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ok\ndata:\n  b: PHBhdGg6a3YvZGF0YS94I3k+\nstringData:\n  p: <path:kv/data/x#y | base64encode>\n  q: ref+vault://kv/data/x#/q\n",
    );
    write(d, "good/notes.txt", "a token looks like hvs.short\n");
    write(
        d,
        "good/kust/kustomization.yaml",
        "resources: []\ngenerators: [gen.yaml]\n",
    );
    write(
        d,
        "good/kust/gen.yaml",
        "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata:\n  name: g\nenvs: []\n",
    );

    let o = check(d, &["good"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(o.stdout.is_empty());

    let o = check(d, &["--format", "json", "bad"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    let findings: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids = |file: &str| -> Vec<String> {
        findings
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["file"].as_str().unwrap().ends_with(file))
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("ref.yaml"), ["SB001"], "{text}");
    assert_eq!(ids("typo.yaml"), ["SB001"], "{text}");
    assert_eq!(ids("literal.yaml"), ["SB002"], "{text}");
    assert_eq!(ids("key.txt"), ["SB003"], "{text}");
    assert_eq!(ids("env.yaml"), ["SB003"], "{text}");
    assert_eq!(ids("db.enc.yaml"), ["SB004"], "{text}");
    assert_eq!(ids("kustomization.yaml"), ["SB005"], "{text}");
    assert!(
        text.contains("password") && text.contains("did you mean"),
        "{text}"
    );
    let key = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with("key.txt"))
        .unwrap();
    assert_eq!(key["line"], 2);

    // Text and SARIF say the same; no output holds a planted value.
    let text_out = check(d, &["bad"]);
    assert_eq!(text_out.status.code(), Some(1));
    let sarif = check(d, &["--format", "sarif", "bad"]);
    let log: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.as_array().unwrap().len());
    assert!(
        results
            .iter()
            .all(|r| r["ruleId"].as_str().unwrap().starts_with("SB")
                && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string())
    );
    for o in [&o, &text_out, &sarif] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        for v in PLANTED {
            assert!(!all.contains(v), "{v} leaked");
        }
    }
    // --allow takes a demo key file out; a missing path is a usage error.
    let o = check(
        d,
        &[
            "--allow",
            "bad/key.txt",
            "--allow",
            "bad/env.yaml",
            "bad/key.txt",
            "bad/env.yaml",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(check(d, &["nowhere"]).status.code(), Some(2));
}

#[test]
fn check_reports_sops_recipient_drift_without_decrypting() {
    let t = support::tempdir();
    let d = t.path();
    let (_, old) = support::age_keypair();
    let (_, new) = support::age_keypair();
    write(d, "p/plain.yaml", "password: drift-value\n");
    let home = support::tempdir();
    let o = support::sealbridge(home.path())
        .current_dir(d.join("p"))
        .args(["encrypt", "--age", &old, "plain.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success());
    write(d, "p/db.enc.yaml", &String::from_utf8(o.stdout).unwrap());
    std::fs::remove_file(d.join("p/plain.yaml")).unwrap();
    // The rule names the same key: clean.
    write(
        d,
        "p/.sops.yaml",
        &format!("creation_rules:\n  - age: {old}\n"),
    );
    assert_eq!(check(d, &["p"]).status.code(), Some(0));
    // The rule moved on to a new key that the file was never updated for.
    write(
        d,
        "p/.sops.yaml",
        &format!("creation_rules:\n  - age: {new}\n"),
    );
    let o = check(d, &["p"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("SB007") && out.contains(&new) && out.contains("updatekeys"),
        "{out}"
    );
    assert!(!out.contains("drift-value"));
}

#[test]
fn check_reports_generator_files_that_are_missing_or_in_clear() {
    let t = support::tempdir();
    let d = t.path();
    write(
        d,
        "k/kustomization.yaml",
        "generators: [gen.yaml, ksops.yaml]\n",
    );
    write(
        d,
        "k/gen.yaml",
        "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata:\n  name: g\nenvs: [db.env]\n",
    );
    write(d, "k/db.env", "PASSWORD=generator-plain-value\n");
    write(
        d,
        "k/ksops.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: k\nfiles: [missing.enc.yaml]\n",
    );
    let o = check(d, &["--format", "json", "k"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    let findings: serde_json::Value = serde_json::from_str(&text).unwrap();
    let msgs: Vec<String> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "SB008")
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(msgs.len(), 2, "{text}");
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("db.env is not sops-encrypted")),
        "{text}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("missing.enc.yaml does not exist")),
        "{text}"
    );
    assert!(!text.contains("generator-plain-value"));
}

#[test]
fn check_resolve_reports_references_that_do_not_resolve_and_prints_no_value() {
    let bao = support::openbao();
    let kv = bao.new_kv2();
    bao.kv2_put(
        &kv,
        "app",
        serde_json::json!({"user": "check-resolve-secret"}),
    );
    let t = support::tempdir();
    let d = t.path();
    write(
        d,
        "m/s.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  ok: <path:{kv}/data/app#user>\n  nokey: <path:{kv}/data/app#password>\n  nosecret: <path:{kv}/data/gone#user>\n"
        ),
    );
    let run = |args: &[&str]| {
        let home = support::tempdir();
        let mut c = support::sealbridge(home.path());
        c.current_dir(d).arg("check").args(args);
        for (k, v) in bao.env() {
            c.env(k, v);
        }
        c.env("SEALBRIDGE_VAULT_TOKEN_CACHE", "false")
            .output()
            .unwrap()
    };
    // Offline: the references are well-formed.
    assert_eq!(run(&["m"]).status.code(), Some(0));
    let o = run(&["--resolve", "--format", "json", "m"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    let findings: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sb009: Vec<&serde_json::Value> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "SB009")
        .collect();
    assert_eq!(sb009.len(), 2, "{text}");
    assert!(
        text.contains(".stringData.nokey") && text.contains(".stringData.nosecret"),
        "{text}"
    );
    assert!(
        !text.contains("check-resolve-secret"),
        "a value leaked: {text}"
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("check-resolve-secret"));
}

#[test]
fn check_reports_sops_rules_that_select_no_file() {
    let t = support::tempdir();
    let d = t.path();
    let (_, r) = support::age_keypair();
    write(d, "s/app.enc.yaml", "a: 1\n");
    write(
        d,
        "s/.sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    age: {r}\n  - path_regex: \\.secrets\\.yaml$\n    age: {r}\n  - path_regex: app\\.enc\\.yaml$\n    age: {r}\n"
        ),
    );
    let o = check(d, &["--format", "json", "s"]);
    let text = String::from_utf8_lossy(&o.stdout);
    let findings: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rules: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "SB010")
        .map(|f| f["location"].as_str().unwrap())
        .collect();
    // The second matches nothing; the third is shadowed by the first.
    assert_eq!(rules, ["creation_rules[1]", "creation_rules[2]"], "{text}");
}

#[test]
fn the_shipped_check_recipes_call_check_and_parse() {
    let root = support::project_root();
    let hook: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root.join("examples/ci/pre-commit-config.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(hook["repos"][0]["hooks"][0]["entry"], "sealbridge check");
    let job: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root.join("examples/ci/github-check.yaml")).unwrap(),
    )
    .unwrap();
    let steps = job["jobs"]["check"]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.starts_with("sealbridge check --format sarif"))
    }));
}
