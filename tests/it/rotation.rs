//! Rotation awareness: the `version` modifier gives a secret's version instead of its value
//! (a pod-template annotation that changes when the secret changes, without hashing plaintext
//! into the manifest). Real OpenBao (KV v2 metadata; the audit log shows the value is never
//! read) and real sops files (a fingerprint of the MAC, no key needed).

use serde_json::json;

use crate::render::{failed, run, stdout};
use crate::support;

fn deployment(reference: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    metadata:\n      annotations:\n        checksum/db: \"{reference}\"\n"
    )
}

/// The rendered annotation.
fn annotation(o: &std::process::Output) -> String {
    let text = stdout(o);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("checksum/db: "))
        .unwrap_or_else(|| panic!("no annotation in {text}"))
        .trim_matches(['"', '\''])
        .to_owned()
}

#[test]
fn version_modifier_follows_kv2_versions_without_reading_the_value() {
    let bao = support::openbao();
    let kv = bao.new_kv2();
    bao.kv2_put(&kv, "db", json!({"password": "rotation-secret-1"}));
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(
        d.join("app.yaml"),
        deployment(&format!("<path:{kv}/data/db#password | version>")),
    )
    .unwrap();
    let data_reads = || {
        bao.audit_requests()
            .iter()
            .filter(|v| {
                v["request"]["operation"] == "read"
                    && v["request"]["path"].as_str() == Some(&format!("{kv}/data/db"))
            })
            .count()
    };
    let before = data_reads();
    let o = run(Some(bao), d, &["render", "app.yaml"], None, &[]);
    assert_eq!(annotation(&o), "1");
    assert!(!stdout(&o).contains("rotation-secret"));
    bao.kv2_put(&kv, "db", json!({"password": "rotation-secret-2"}));
    let o = run(Some(bao), d, &["render", "app.yaml"], None, &[]);
    assert_eq!(annotation(&o), "2");
    assert_eq!(data_reads(), before, "the value was read");
    assert!(bao.count_requests(&format!("{kv}/metadata/db")) >= 2);
    // Further modifiers apply to the version.
    std::fs::write(
        d.join("app.yaml"),
        deployment(&format!(
            "<path:{kv}/data/db#password | version | sha256sum>"
        )),
    )
    .unwrap();
    let o = run(Some(bao), d, &["render", "app.yaml"], None, &[]);
    assert_eq!(annotation(&o).len(), 64);

    // Where it cannot work, it says so.
    let kv1 = bao.new_kv1();
    bao.kv1_put(&kv1, "db", json!({"password": "x"}));
    for (reference, want) in [
        (
            format!("<path:{kv1}/db#password | version>"),
            "keeps no versions",
        ),
        (
            format!("<path:{kv}/data/db#password#1 | version>"),
            "pinned version",
        ),
        (
            format!("<path:{kv}/data/db#password | base64encode | version>"),
            "first modifier",
        ),
        (format!("<path:{kv}/data/nope#password | version>"), "nope"),
    ] {
        std::fs::write(d.join("app.yaml"), deployment(&reference)).unwrap();
        let err = failed(&run(Some(bao), d, &["render", "app.yaml"], None, &[]));
        assert!(err.contains(want), "{reference}: {err}");
    }
}

#[test]
fn version_modifier_fingerprints_a_sops_file_without_its_key() {
    let dir = support::tempdir();
    let d = dir.path();
    let (identity, recipient) = support::age_keypair();
    std::fs::write(d.join("age.txt"), identity).unwrap();
    let encrypt = |plain: &str| {
        std::fs::write(d.join("plain.yaml"), plain).unwrap();
        let home = support::tempdir();
        let o = support::sealbridge(home.path())
            .current_dir(d)
            .args(["encrypt", "--age", &recipient, "plain.yaml"])
            .output()
            .unwrap();
        assert!(o.status.success());
        std::fs::write(d.join("db.enc.yaml"), o.stdout).unwrap();
    };
    encrypt("password: first\n");
    std::fs::write(
        d.join("app.yaml"),
        deployment("<path:sops://db.enc.yaml#password | version>"),
    )
    .unwrap();
    // No age identity in the environment: the fingerprint needs no decryption.
    let first = annotation(&run(None, d, &["render", "app.yaml"], None, &[]));
    assert!(first.starts_with("sops-") && first.len() == 21, "{first}");
    let again = annotation(&run(None, d, &["render", "app.yaml"], None, &[]));
    assert_eq!(first, again, "stable while the file is unchanged");
    encrypt("password: second\n");
    let second = annotation(&run(None, d, &["render", "app.yaml"], None, &[]));
    assert_ne!(first, second, "a changed file has a new fingerprint");
}
