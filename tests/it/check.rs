//! `sealbridge check`: each finding produced by a real-looking mistake, a near miss that is
//! clean, the three output formats, and no value in any output.

use std::path::Path;
use std::process::Output;

use crate::support::{self, write};

const PLANTED: &[&str] = &[
    "hunter2-literal",
    "AGE-SECRET-KEY-1QQQQ",
    "hvs.CAESIPlantedTokenValue0123456789",
    "sops-clear-value",
];

fn check(dir: &Path, args: &[&str]) -> Output {
    let home = support::tempdir();
    support::sealbridge(home.path())
        .current_dir(dir)
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

/// `check` found nothing: exit 0 (stdout, the findings, in the message otherwise).
#[track_caller]
fn assert_clean(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// `sealbridge encrypt --age RECIPIENT plain.yaml` in `dir`; returns the encrypted file.
fn sealbridge_encrypt(dir: &Path, recipient: &str) -> String {
    let home = support::tempdir();
    let o = support::sealbridge(home.path())
        .current_dir(dir)
        .args(["encrypt", "--age", recipient, "plain.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

/// A sops file made by sealbridge, then a clear value added by hand (as happens when someone
/// edits an encrypted file without sops).
fn sops_file_with_a_clear_value(dir: &Path) {
    let (_, recipient) = support::age_keypair();
    write(dir, "plain.yaml", "password: secret-value\n");
    let enc = sealbridge_encrypt(dir, &recipient);
    std::fs::remove_file(dir.join("plain.yaml")).unwrap();
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
    assert_clean(&o);
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
        let all = support::all_output(o);
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
    assert_clean(&o);
    assert_eq!(check(d, &["nowhere"]).status.code(), Some(2));
}

#[test]
fn check_reports_sops_recipient_drift_without_decrypting() {
    let t = support::tempdir();
    let d = t.path();
    let (_, old) = support::age_keypair();
    let (_, new) = support::age_keypair();
    write(d, "p/plain.yaml", "password: drift-value\n");
    write(d, "p/db.enc.yaml", &sealbridge_encrypt(&d.join("p"), &old));
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
        c.current_dir(d).arg("check").args(args).envs(bao.env());
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

/// Encrypts `plain` with the real Go sops (`extra` flags), in `dir`.
fn go_sops_encrypt(dir: &Path, recipient: &str, name: &str, plain: &str, extra: &[&str]) -> String {
    write(dir, name, plain);
    let mut args = vec!["encrypt", "--age", recipient];
    args.extend_from_slice(extra);
    args.push(name);
    let enc = support::sops_ok(dir, support::NO_ENV, &args);
    std::fs::remove_file(dir.join(name)).unwrap();
    String::from_utf8(enc).unwrap()
}

#[test]
fn sops_clear_value_detection_follows_the_file_rule_without_false_findings() {
    let t = support::tempdir();
    let d = t.path();
    let (_, recipient) = support::age_keypair();
    // Go sops leaves empty strings and nulls in clear: a file straight from sops is clean.
    let default_rule = go_sops_encrypt(
        d,
        &recipient,
        "a.yaml",
        "password: pw-one\nempty: \"\"\nnothing: null\nlist:\n  - item-one\n",
        &[],
    );
    write(d, "good/default.enc.yaml", &default_rule);
    // With an encrypted_regex only the matching keys are encrypted; the rest is clear by design.
    let regex_rule = go_sops_encrypt(
        d,
        &recipient,
        "b.yaml",
        "password: pw-two\nhost: db.internal\ntokens:\n  - tok-one\n  - tok-two\n",
        &["--encrypted-regex", "^(password|tokens)$"],
    );
    write(d, "good/regex.enc.yaml", &regex_rule);
    let o = check(d, &["good"]);
    assert_clean(&o);
    // Values put in clear by hand where the rule encrypts: under the regex rule, and inside
    // a list (sequences are leaves too).
    let mut tampered = String::new();
    let mut in_tokens = false;
    for line in regex_rule.lines() {
        let line = if line.starts_with("password: ENC[") {
            "password: sops-clear-value".to_owned()
        } else if in_tokens && line.starts_with("    - ENC[") {
            in_tokens = false;
            "    - sops-clear-value".to_owned()
        } else {
            in_tokens |= line == "tokens:";
            line.to_owned()
        };
        tampered.push_str(&line);
        tampered.push('\n');
    }
    write(d, "bad/regex.enc.yaml", &tampered);
    let o = check(d, &["bad", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let msg = v[0]["message"].as_str().unwrap();
    assert_eq!(v[0]["id"], "SB004");
    assert!(msg.contains("(.password, .tokens[0])"), "{msg}");
    assert!(!msg.contains(".host"), "{msg}");
    let all = support::all_output(&o);
    assert!(!all.contains("sops-clear-value") && !all.contains("db.internal"));
}

#[test]
fn legacy_vault_token_committed_as_a_value_is_reported_without_the_token() {
    let t = support::tempdir();
    let d = t.path();
    let token = "s.PlantedLegacyTok01234567";
    write(
        d,
        "bad/ci.env",
        &format!("VAULT_ADDR=https://vault\nVAULT_TOKEN={token}\n"),
    );
    // Near miss: `s.` inside an image name or a sentence is not a token.
    write(
        d,
        "good/deploy.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  image: registry.example.com/s.PlantedLegacyTok01234567\n",
    );
    let o = check(d, &["good"]);
    assert_clean(&o);
    let o = check(d, &["bad"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("bad/ci.env:2: SB003") && out.contains("a legacy Vault token"),
        "{out}"
    );
    assert!(!out.contains(token) && !String::from_utf8_lossy(&o.stderr).contains(token));
}

#[test]
fn pem_marker_in_prose_is_not_key_material_but_a_block_scalar_key_is() {
    let t = support::tempdir();
    let d = t.path();
    write(
        d,
        "good/README.md",
        "Keep the `-----BEGIN PRIVATE KEY-----` block of `tls.key` in Vault, never in Git.\n",
    );
    write(
        d,
        "bad/tls.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tls\ndata:\n  tls.key: |\n    -----BEGIN EC PRIVATE KEY-----\n    MHcCAQEEIPlantedPemBody\n    -----END EC PRIVATE KEY-----\n",
    );
    let o = check(d, &["good"]);
    assert_clean(&o);
    let o = check(d, &["bad"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("bad/tls.yaml:7: SB003"), "{out}");
    assert!(!out.contains("PlantedPemBody"));
}

#[test]
fn check_reports_hashes_of_secret_values_but_not_of_versions() {
    let t = support::tempdir();
    let d = t.path();
    let deploy = |name: &str, reference: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    \
             metadata:\n      annotations:\n        checksum/db: \"{reference}\"\n"
        )
    };
    write(
        d,
        "hashed.yaml",
        &deploy("hashed", "<path:kv/data/db#password | sha256sum>"),
    );
    write(
        d,
        "versioned.yaml",
        &deploy(
            "versioned",
            "<path:kv/data/db#password | version | sha256sum>",
        ),
    );
    let o = check(d, &["--format", "json", "."]);
    let text = String::from_utf8_lossy(&o.stdout);
    let findings: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sb011: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "SB011")
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(sb011.len(), 1, "{text}");
    assert!(sb011[0].ends_with("hashed.yaml"), "{text}");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn check_ignore_file_skips_paths_and_drops_named_findings_only() {
    let t = support::tempdir();
    let d = t.path();
    let (identity, _) = support::age_keypair();
    write(d, "build/out/key.txt", &identity);
    write(d, "fixtures/key.txt", &identity);
    write(d, "app/key.txt", &identity);
    write(
        d,
        "fixtures/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  p: hunter2-literal\n",
    );
    write(
        d,
        ".sealbridge-check-ignore",
        "# build output\nbuild/**\nfixtures/** SB003 # keys only\n",
    );
    let o = check(d, &["--format", "json", "."]);
    let text = String::from_utf8_lossy(&o.stdout);
    let findings: serde_json::Value = serde_json::from_str(&text).unwrap();
    let got: Vec<(String, String)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["file"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("./")
                    .to_owned(),
            )
        })
        .collect();
    // The key outside the rules and the literal Secret (SB002 is not ignored there) remain.
    assert_eq!(
        got,
        [
            ("SB003".to_owned(), "app/key.txt".to_owned()),
            ("SB002".to_owned(), "fixtures/secret.yaml".to_owned())
        ],
        "{text}"
    );
    // A named file that does not exist, or a malformed rule, is a usage error.
    let o = check(d, &["--ignore-file", "missing", "."]);
    assert_eq!(o.status.code(), Some(2));
    write(d, ".sealbridge-check-ignore", "fixtures/** SB3\n");
    let o = check(d, &["."]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(".sealbridge-check-ignore:1: \"SB3\""),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// This repository passes its own `check` (its `.sealbridge-check-ignore` names the test data
/// and the marked demo keys).
#[test]
fn the_repository_passes_its_own_check() {
    let o = check(&support::project_root(), &["."]);
    assert_clean(&o);
}

/// The GitHub recipe's own steps, run by bash in a real git repository as the runner would
/// (`GITHUB_BASE_REF`, `RUNNER_TEMP`, `origin/<base>`): a pull request that adds a key *and*
/// an ignore rule for it is still reported, because the base branch's rules apply.
#[test]
fn a_pull_request_cannot_silence_its_own_findings_with_an_ignore_rule() {
    let t = support::tempdir();
    let d = t.path();
    let runner_temp = support::tempdir();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .current_dir(d)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    write(d, ".sealbridge-check-ignore", "build/**\n");
    write(
        d,
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "base"]);
    git(&["update-ref", "refs/remotes/origin/main", "HEAD"]);
    // The pull request: a key and a rule that would hide it.
    let (identity, _) = support::age_keypair();
    write(d, "app/key.txt", &identity);
    write(d, ".sealbridge-check-ignore", "build/**\napp/** SB003\n");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "pr"]);
    // Alone, the pull request's rule would hide it.
    let o = check(d, &["."]);
    assert_clean(&o);

    let job: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(support::project_root().join("examples/ci/github-check.yaml"))
            .unwrap(),
    )
    .unwrap();
    let script: Vec<&str> = job["jobs"]["check"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .filter(|r| !r.starts_with("cargo install"))
        .collect();
    assert_eq!(script.len(), 2, "{script:?}");
    let bin_dir = support::tempdir();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_sealbridge"),
        bin_dir.path().join("sealbridge"),
    )
    .unwrap();
    let home = support::tempdir();
    let o = std::process::Command::new("bash")
        .current_dir(d)
        .args(["-ec", &script.join("\n")])
        .env("GITHUB_BASE_REF", "main")
        .env("RUNNER_TEMP", runner_temp.path())
        .env("HOME", home.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    // `sealbridge check` exits 1 on findings, which fails the step as it should.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("sealbridge.sarif")).unwrap())
            .unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "SB003"), "{sarif}");
}
