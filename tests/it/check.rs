//! `sealbridge check` through the real binary, over the corpus in tests/fixtures/check/: every
//! finding id has a directory that produces it (`bad/`) and a near miss that must be clean
//! (`ok/`); exit codes 0/1/2; the text, JSON and SARIF shapes; `check` and `render` agree on
//! what does not parse; and no output ever holds a planted value.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support;

fn corpus() -> std::path::PathBuf {
    support::fixture("check")
}

/// Runs `sealbridge check ARGS` in `dir`.
fn check_in(dir: &Path, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = support::sealbridge(home.path());
    cmd.current_dir(dir)
        .arg("check")
        .args(args)
        .env("SEALBRIDGE_LOG", "trace");
    cmd.output().unwrap()
}

fn check(args: &[&str]) -> Output {
    check_in(&corpus(), args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn json(args: &[&str]) -> (Output, Vec<Value>) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let o = check(&all);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    (o, v.as_array().unwrap().clone())
}

/// (corpus directory, the id its `bad/` produces).
const CASES: &[(&str, &str)] = &[
    ("sb001/bad", "SB001"),
    ("sb002/bad", "SB002"),
    ("sb003/bad", "SB003"),
    ("sb004/bad", "SB004"),
    ("sb005/bad", "SB005"),
    ("sb006/bad", "SB006"),
    ("sb007/bad", "SB007"),
    ("sb008/bad", "SB008"),
    ("sb009/bad", "SB009"),
    ("sb009/krm", "SB009"),
];

const NEAR_MISSES: &[&str] = &[
    "sb001/ok", "sb002/ok", "sb003/ok", "sb004/ok", "sb005/ok", "sb006/ok", "sb007/ok", "sb008/ok",
    "sb009/ok",
];

#[test]
fn every_finding_has_a_fixture_that_produces_it() {
    for (dir, id) in CASES {
        let (o, findings) = json(&[dir]);
        assert_eq!(o.status.code(), Some(1), "{dir}: {}", stderr(&o));
        assert!(
            findings.iter().any(|f| f["id"] == *id),
            "{dir} must produce {id}: {findings:#?}"
        );
    }
}

#[test]
fn every_near_miss_is_clean() {
    for dir in NEAR_MISSES {
        let o = check(&[dir]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{dir}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert_eq!(stdout(&o), "no findings\n");
    }
}

#[test]
fn annotation_typo_that_render_ships_as_literal_is_reported_with_a_suggestion() {
    // Today render prints `<password>` unchanged with exit 0: the silent failure.
    let home = tempfile::tempdir().unwrap();
    let r = support::sealbridge(home.path())
        .current_dir(corpus())
        .args(["render", "sb003/bad"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0));
    assert!(stdout(&r).contains("<password>"));
    let (_, findings) = json(&["sb003/bad"]);
    let typo = findings.iter().find(|f| f["id"] == "SB003").unwrap();
    assert_eq!(typo["file"], "sb003/bad/secret.yaml");
    assert_eq!(typo["line"], 6);
    assert_eq!(typo["column"], 5);
    assert_eq!(typo["document"], 1);
    assert_eq!(
        typo["field"],
        ".metadata.annotations[\"avp.kubernetes.io/paht\"]"
    );
    let msg = typo["message"].as_str().unwrap();
    assert!(
        msg.contains("did you mean `avp.kubernetes.io/path`?"),
        "{msg}"
    );
    // The placeholder it leaves unresolved is reported too.
    assert!(
        findings
            .iter()
            .any(|f| f["id"] == "SB004" && f["field"] == ".stringData.password")
    );
}

#[test]
fn check_and_render_agree_on_references_that_do_not_parse() {
    let home = tempfile::tempdir().unwrap();
    let r = support::sealbridge(home.path())
        .current_dir(corpus())
        .args(["render", "sb001/bad"])
        .env("VAULT_ADDR", "http://127.0.0.1:1")
        .env("VAULT_TOKEN", "unused")
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let (_, findings) = json(&["sb001/bad"]);
    let ours: Vec<&Value> = findings.iter().filter(|f| f["id"] == "SB001").collect();
    assert_eq!(ours.len(), 2, "{findings:#?}");
    let render_err = stderr(&r);
    assert!(render_err.contains("2 problems found"), "{render_err}");
    for f in ours {
        // Same field, same reference, same problem text.
        let field = f["field"].as_str().unwrap();
        assert!(render_err.contains(field), "{field} / {render_err}");
        let msg = f["message"].as_str().unwrap();
        let reference = msg.split('`').nth(1).unwrap();
        assert!(render_err.contains(reference), "{reference} / {render_err}");
    }
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown modifier `base64decod`")
    );
    assert_eq!(findings[0]["line"], 13);
    assert_eq!(findings[0]["column"], 22);
}

#[test]
fn plaintext_secret_values_in_git_are_reported_by_key_name_only() {
    let (_, findings) = json(&["sb005/bad"]);
    let fields: Vec<&str> = findings
        .iter()
        .filter(|f| f["id"] == "SB005")
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    // `username` is a reference: not a finding.
    assert_eq!(fields, [".data.password", ".stringData.api-token"]);
}

#[test]
fn private_key_material_in_git_is_reported_without_the_key() {
    let (_, findings) = json(&["sb006/bad"]);
    let got: Vec<(String, u64)> = findings
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("sb006/bad/age-key.txt".to_owned(), 3),
            ("sb006/bad/ci.env".to_owned(), 2),
            ("sb006/bad/tls.yaml".to_owned(), 7),
        ]
    );
    // Allow-listed files (file name, `**` glob, exact path) are not reported.
    let o = check(&[
        "sb006/bad",
        "--allow-key-file",
        "age-key.txt",
        "--allow-key-file",
        "**/ci.env",
        "--allow-key-file",
        "sb006/bad/tls.yaml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn sops_file_with_cleartext_or_without_mac_is_reported() {
    let (_, findings) = json(&["sb007/bad", "sb008/bad"]);
    let got: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f["field"].as_str().unwrap()))
        .collect();
    // `host_unencrypted` matches the file's unencrypted_suffix: not a finding.
    assert_eq!(
        got,
        [
            ("SB007", ".port"),
            ("SB008", ".sops.mac"),
            ("SB008", ".sops.mac")
        ]
    );
}

#[test]
fn kustomize_generator_inputs_missing_or_plaintext_are_reported() {
    let (_, findings) = json(&["sb009/bad"]);
    let msgs: Vec<&str> = findings
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(msgs[0].contains("\"db-password.enc.txt\" does not exist"));
    assert!(msgs[1].contains("\"db.env\" is not a sops-encrypted file"));
    let (_, krm) = json(&["sb009/krm"]);
    assert!(
        krm[0]["message"]
            .as_str()
            .unwrap()
            .contains("is a KRM function"),
        "{krm:#?}"
    );
}

#[test]
fn text_output_names_location_level_id_document_and_field() {
    let o = check(&["sb004/bad"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "sb004/bad/configmap.yaml:6:12: error[SB004] document 1 .data.api-key: `<api-key>` is a generic placeholder"
        ),
        "{out}"
    );
    assert!(
        out.ends_with("1 finding (docs/check.md explains each id)\n"),
        "{out}"
    );
    assert_eq!(stderr(&o), "sealbridge: 1 finding\n");
}

#[test]
fn sarif_output_is_minimal_valid_sarif_2_1_0() {
    let o = check(&["sb002/bad", "--format", "sarif"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "sealbridge");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["id"] == "SB002"));
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["ruleId"], "SB002");
    assert_eq!(r["level"], "error");
    assert_eq!(
        rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "SB002"
    );
    assert!(r["message"]["text"].as_str().unwrap().contains("kvVersion"));
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "sb002/bad/secret.yaml");
    assert_eq!(loc["region"]["startLine"], 7);
    assert_eq!(loc["region"]["startColumn"], 5);
    // Clean: a valid log with no results, exit 0.
    let o = check(&["sb002/ok", "--format", "sarif"]);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 0);
}

#[test]
fn json_output_is_an_array_of_findings_and_empty_when_clean() {
    let (o, findings) = json(&["sb008/bad"]);
    assert_eq!(o.status.code(), Some(1));
    for f in &findings {
        for key in [
            "id", "name", "level", "file", "line", "column", "document", "field", "message",
        ] {
            assert!(f.get(key).is_some(), "{key} missing in {f}");
        }
        assert_eq!(f["name"], "sops-bad-metadata");
    }
    let (o, findings) = json(&["sb008/ok"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(findings.is_empty());
}

#[test]
fn usage_errors_exit_2_and_default_path_is_the_working_directory() {
    for args in [
        &["no/such/dir"][..],
        &["--format", "xml", "sb001/ok"],
        &["-"],
        &["--allow-key-file", "[bad", "sb001/ok"],
    ] {
        let o = check(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    let o = check_in(&corpus().join("sb005/ok"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = check_in(&corpus().join("sb005/bad"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("./secret.yaml:7:13: error[SB005]"));
}

/// Every planted value of the corpus contains `Cnry` (any case), or is the base64 of one.
const PLANTED: &[&str] = &["cnry", "Q25yeU", "hvs.", "AGE-SECRET-KEY-1C", "MIIC"];

#[test]
fn no_finding_output_ever_holds_a_planted_value() {
    for format in ["text", "json", "sarif"] {
        let o = check(&[".", "--format", format]);
        assert_eq!(o.status.code(), Some(1));
        let all = format!("{}{}", stdout(&o), stderr(&o));
        for p in PLANTED {
            assert!(
                !all.to_lowercase().contains(&p.to_lowercase()),
                "{format} output holds {p}"
            );
        }
        // Every id is exercised by this run.
        for (_, id) in CASES {
            assert!(all.contains(id), "{format}: {id}");
        }
    }
}
