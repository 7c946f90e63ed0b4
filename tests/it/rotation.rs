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

/// Encrypts `plain` for `recipient` with sealbridge into `d/target` (through `d/plain.yaml`).
fn encrypt_to(d: &std::path::Path, recipient: &str, plain: &str, target: &str) {
    std::fs::write(d.join("plain.yaml"), plain).unwrap();
    let home = support::tempdir();
    let o = support::sealbridge(home.path())
        .current_dir(d)
        .args(["encrypt", "--age", recipient, "plain.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::write(d.join(target), o.stdout).unwrap();
}

#[test]
fn version_modifier_fingerprints_a_sops_file_without_its_key() {
    let dir = support::tempdir();
    let d = dir.path();
    let (identity, recipient) = support::age_keypair();
    std::fs::write(d.join("age.txt"), identity).unwrap();
    let encrypt = |plain: &str| encrypt_to(d, &recipient, plain, "db.enc.yaml");
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

#[test]
fn versions_lists_each_secret_once_with_its_version_and_users_never_a_value() {
    let bao = support::openbao();
    let kv = bao.new_kv2();
    bao.kv2_put(&kv, "api", json!({"token": "versions-secret-a"}));
    bao.kv2_put(&kv, "api", json!({"token": "versions-secret-b"}));
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("k8s")).unwrap();
    // Two references to one secret (two spellings of its path), one to a missing secret.
    std::fs::write(
        d.join("k8s/a.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  t: <path:{kv}/data/api#token>\n  u: <path:{kv}/api#token>\n"
        ),
    )
    .unwrap();
    let o = run(
        Some(bao),
        d,
        &["versions", "--format", "json", "k8s"],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(!text.contains("versions-secret"), "a value leaked: {text}");
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "one secret: {text}");
    assert_eq!(rows[0]["version"], "2");
    assert_eq!(rows[0]["used_by"].as_array().unwrap().len(), 2);
    std::fs::write(
        d.join("k8s/b.yaml"),
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\nstringData:\n  t: <path:{kv}/data/gone#token>\n"),
    )
    .unwrap();
    let o = run(Some(bao), d, &["versions", "k8s"], None, &[]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("version 2") && text.contains("NO VERSION"),
        "{text}"
    );
}

#[test]
fn render_redact_shows_which_values_changed_without_the_values() {
    let bao = support::openbao();
    let kv = bao.new_kv2();
    bao.kv2_put(
        &kv,
        "app",
        json!({"a": "redact-value-one", "b": "redact-value-two"}),
    );
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("key"), b"0123456789abcdef-operator-key").unwrap();
    std::fs::write(
        d.join("s.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: <path:{kv}/data/app#a>\n  b: <path:{kv}/data/app#b>\n"
        ),
    )
    .unwrap();
    let key = d.join("key");
    let env = [("SEALBRIDGE_FINGERPRINT_KEY_FILE", key.to_str().unwrap())];
    let render = || {
        let o = run(Some(bao), d, &["render", "--redact", "s.yaml"], None, &env);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        stdout(&o)
    };
    let first = render();
    assert!(!first.contains("redact-value"), "{first}");
    let fp = |text: &str, k: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{k}: ")))
            .unwrap()
            .to_owned()
    };
    assert!(fp(&first, "a").contains("redacted:"), "{first}");
    assert_ne!(fp(&first, "a"), fp(&first, "b"));
    bao.kv2_put(
        &kv,
        "app",
        json!({"a": "redact-value-one", "b": "redact-value-changed"}),
    );
    let second = render();
    assert_eq!(
        fp(&first, "a"),
        fp(&second, "a"),
        "unchanged value, same fingerprint"
    );
    assert_ne!(
        fp(&first, "b"),
        fp(&second, "b"),
        "changed value, new fingerprint"
    );
    // Without the operator's key it refuses (an unkeyed hash would be a guessing oracle).
    let o = run(Some(bao), d, &["render", "--redact", "s.yaml"], None, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

#[test]
fn version_of_a_kv1_secret_is_a_keyed_fingerprint_with_the_operators_key() {
    let bao = support::openbao();
    let kv1 = bao.new_kv1();
    bao.kv1_put(&kv1, "db", json!({"password": "kv1-value-1"}));
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("key"), b"0123456789abcdef-fingerprints").unwrap();
    std::fs::write(
        d.join("app.yaml"),
        deployment(&format!("<path:{kv1}/db#password | version>")),
    )
    .unwrap();
    let key = d.join("key");
    let env = [("SEALBRIDGE_FINGERPRINT_KEY_FILE", key.to_str().unwrap())];
    let first = annotation(&run(Some(bao), d, &["render", "app.yaml"], None, &env));
    assert!(first.starts_with("kv1-") && first.len() == 28, "{first}");
    assert_eq!(
        first,
        annotation(&run(Some(bao), d, &["render", "app.yaml"], None, &env)),
        "stable"
    );
    bao.kv1_put(&kv1, "db", json!({"password": "kv1-value-2"}));
    let second = annotation(&run(Some(bao), d, &["render", "app.yaml"], None, &env));
    assert_ne!(first, second);
}

/// The value of annotation `name` in the output (first occurrence).
fn recorded(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
        .map(|v| v.trim_matches(['"', '\'']).to_owned())
}

const SOURCES: &str = "sealbridge.io/secret-sources";
const VERSIONS: &str = "sealbridge.io/secret-versions";

#[test]
fn rendered_objects_record_their_secret_versions_and_never_a_value() {
    let bao = support::openbao();
    let kv = bao.new_kv2();
    let kv1 = bao.new_kv1();
    bao.kv2_put(&kv, "db", json!({"password": "record-secret-1"}));
    bao.kv2_put(&kv, "pinned", json!({"token": "record-pinned"}));
    bao.kv1_put(&kv1, "legacy", json!({"key": "record-legacy-1"}));
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("key"), b"0123456789abcdef-fingerprints").unwrap();
    let key = d.join("key");
    // A forged record on an object the render rewrites is replaced; one on an object without
    // checkable references (only a pinned version) is removed.
    std::fs::write(
        d.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  annotations:\n    \
             {SOURCES}: kv1:sys/raw/x\n    {VERSIONS}: sha256:00\ntype: Opaque\nstringData:\n  \
             password: <path:{kv}/data/db#password>\n  legacy: <path:{kv1}/legacy#key>\n\
             ---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: pinned\n  annotations:\n    \
             {VERSIONS}: sha256:00\nstringData:\n  token: <path:{kv}/data/pinned#token#1>\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  a: b\n"
        ),
    )
    .unwrap();
    let env = [
        ("SEALBRIDGE_RECORD_VERSIONS", "true"),
        ("SEALBRIDGE_FINGERPRINT_KEY_FILE", key.to_str().unwrap()),
    ];
    let o = run(Some(bao), d, &["render", "app.yaml"], None, &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = stdout(&o);
    assert_eq!(
        recorded(&first, SOURCES).as_deref(),
        Some(format!("kv1:{kv1}/legacy,kv2:{kv}/data/db").as_str()),
        "{first}"
    );
    let digest = recorded(&first, VERSIONS).unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(first.matches(VERSIONS).count(), 1, "{first}");
    assert!(!first.contains("sys/raw"));
    for value in ["record-secret-1", "record-legacy-1"] {
        assert_eq!(first.matches(value).count(), 1, "{first}");
    }

    // Same versions, same record; a new KV v2 version or a changed KV v1 secret changes it.
    let again = stdout(&run(Some(bao), d, &["render", "app.yaml"], None, &env));
    assert_eq!(recorded(&again, VERSIONS).unwrap(), digest);
    bao.kv2_put(&kv, "db", json!({"password": "record-secret-2"}));
    let second = recorded(
        &stdout(&run(Some(bao), d, &["render", "app.yaml"], None, &env)),
        VERSIONS,
    )
    .unwrap();
    assert_ne!(second, digest);
    bao.kv1_put(&kv1, "legacy", json!({"key": "record-legacy-2"}));
    let third = recorded(
        &stdout(&run(Some(bao), d, &["render", "app.yaml"], None, &env)),
        VERSIONS,
    )
    .unwrap();
    assert_ne!(third, second);

    // Without the key a KV v1 secret is not recorded (no unkeyed digest of a value); off by
    // default.
    let o = run(
        Some(bao),
        d,
        &["render", "app.yaml"],
        None,
        &[("SEALBRIDGE_RECORD_VERSIONS", "true")],
    );
    assert_eq!(
        recorded(&stdout(&o), SOURCES).as_deref(),
        Some(format!("kv2:{kv}/data/db").as_str())
    );
    let o = run(Some(bao), d, &["render", "app.yaml"], None, &[]);
    assert!(recorded(&stdout(&o), SOURCES).unwrap().contains("sys/raw"));
}

/// Copies `plugins/argocd/{stand-in,component,refresh}` and builds them with the real
/// `kubectl kustomize`, as an operator adds the optional refresher.
#[test]
fn refresh_component_records_versions_in_every_sidecar_with_least_privilege() {
    let dir = support::tempdir();
    let d = dir.path();
    for part in ["stand-in", "component", "refresh"] {
        let from = support::project_root().join("plugins/argocd").join(part);
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(&from)
            .arg(d.join(part))
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::fs::write(
        d.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: argocd\n\
         resources: [stand-in]\ncomponents: [component, refresh]\n",
    )
    .unwrap();
    let out = std::process::Command::new(support::kubectl())
        .arg("kustomize")
        .arg(d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    };
    // Every sidecar records versions, and keeps its other settings.
    let repo = find("Deployment", "argocd-repo-server");
    for c in repo["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("sealbridge"))
    {
        let env = c["env"].as_array().unwrap();
        let has = |n: &str| env.iter().any(|e| e["name"] == n);
        assert!(
            env.iter()
                .any(|e| e["name"] == "SEALBRIDGE_RECORD_VERSIONS" && e["value"] == "true"),
            "{c}"
        );
        assert!(has("SOPS_AGE_KEY_FILE"), "{c}");
    }
    assert_eq!(
        repo["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["env"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["name"] == "SEALBRIDGE_RECORD_VERSIONS")))
            .count(),
        3
    );
    // Least privilege: Applications get/list/patch in Argo CD's namespace; objects `get` only.
    let role = find("Role", "sealbridge-refresh");
    assert_eq!(role["metadata"]["namespace"], "argocd");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["argoproj.io"], "resources": ["applications"],
                "verbs": ["get", "list", "patch"]}])
    );
    let cluster_role = find("ClusterRole", "sealbridge-refresh-records");
    for rule in cluster_role["rules"].as_array().unwrap() {
        assert_eq!(rule["verbs"], json!(["get"]), "{rule}");
        assert!(!rule["resources"].to_string().contains('*'), "{rule}");
    }
    let binding = find("ClusterRoleBinding", "sealbridge-refresh-records");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "sealbridge-refresh", "namespace": "argocd"}])
    );
    let refresher = find("Deployment", "sealbridge-refresh");
    let pod = &refresher["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "sealbridge-refresh");
    let command: Vec<&str> = pod["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&command[..2], ["sealbridge", "refresh"]);
    assert!(command.contains(&"--watch"));
    assert_eq!(
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    // The command line is one the binary accepts (parsing only: --help stops there).
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sealbridge"))
        .args(&command[1..])
        .arg("--help")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The pod-template checksum of a workload rendered with `sealbridge.io/checksum-of`.
fn checksum(text: &str, object: &str) -> Option<String> {
    let doc = text
        .split("\n---")
        .find(|d| d.contains(&format!("name: {object}\n")))?;
    recorded(doc, "sealbridge.io/checksum")
}

#[test]
fn checksum_of_rolls_a_workload_when_a_secret_it_uses_changes_and_only_then() {
    let bao = support::openbao();
    let kv = bao.new_kv2();
    bao.kv2_put(&kv, "db", json!({"password": "checksum-db-1"}));
    bao.kv2_put(&kv, "cache", json!({"password": "checksum-cache-1"}));
    let dir = support::tempdir();
    let d = dir.path();
    let (identity, recipient) = support::age_keypair();
    std::fs::write(d.join("age.txt"), &identity).unwrap();
    let encrypt = |plain: &str| encrypt_to(d, &recipient, plain, "tls.enc.yaml");
    encrypt("key: tls-key-1\n");
    let workload = |kind: &str, name: &str, checksum_of: &str, pod: &str| {
        let template = format!(
            "template:\n      metadata:\n        labels: {{app: {name}}}\n      spec:\n{pod}"
        );
        let spec = if kind == "CronJob" {
            format!(
                "spec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      {}",
                template.replace("\n", "\n    ")
            )
        } else {
            format!("spec:\n  {template}")
        };
        format!(
            "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  annotations:\n    \
             sealbridge.io/checksum-of: \"{checksum_of}\"\n{spec}\n"
        )
    };
    let pod_db = "        containers:\n        - name: app\n          image: app\n          env:\n          - name: DB\n            valueFrom: {secretKeyRef: {name: db, key: password}}\n          envFrom:\n          - secretRef: {name: external-not-rendered}\n";
    let pod_cache = "        containers:\n        - name: app\n          image: app\n        volumes:\n        - name: c\n          secret: {secretName: cache}\n";
    let manifests = [
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: <path:{kv}/data/db#password>\n  tls: <path:sops://tls.enc.yaml#key>\n"
        ),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cache\nstringData:\n  password: <path:{kv}/data/cache#password>\n"
        ),
        workload("Deployment", "web", "auto", pod_db),
        workload("CronJob", "nightly", "auto", pod_cache),
        workload("StatefulSet", "both", "db, cache", "        containers: []\n"),
    ]
    .join("---\n");
    std::fs::write(d.join("app.yaml"), manifests).unwrap();
    let age = d.join("age.txt");
    let env = [("SOPS_AGE_KEY_FILE", age.to_str().unwrap())];
    let render = || {
        let o = run(Some(bao), d, &["render", "app.yaml"], None, &env);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = stdout(&o);
        let sums: Vec<String> = ["web", "nightly", "both"]
            .iter()
            .map(|w| checksum(&text, w).unwrap_or_else(|| panic!("no checksum on {w}: {text}")))
            .collect();
        for v in ["checksum-db", "checksum-cache", "tls-key"] {
            assert_eq!(text.matches(v).count(), 1, "{text}");
        }
        sums
    };
    let first = render();
    assert!(
        first
            .iter()
            .all(|s| s.starts_with("sha256:") && s.len() == 71)
    );
    assert_eq!(first, render(), "stable while nothing changes");
    // cache rotates: the CronJob using it and the StatefulSet naming it roll; web does not.
    bao.kv2_put(&kv, "cache", json!({"password": "checksum-cache-2"}));
    let second = render();
    assert_eq!(second[0], first[0]);
    assert_ne!(second[1], first[1]);
    assert_ne!(second[2], first[2]);
    // The sops file db uses changes (a commit): web rolls.
    encrypt("key: tls-key-2\n");
    let third = render();
    assert_ne!(third[0], second[0]);
    assert_eq!(third[1], second[1]);

    // A name that is not a Secret rendered here (a typo) fails the run instead of never rolling.
    std::fs::write(
        d.join("typo.yaml"),
        [
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: <path:{kv}/data/db#password>\n"
            ),
            workload("Deployment", "web", "db, dbb", pod_db),
        ]
        .join("---\n"),
    )
    .unwrap();
    let o = run(Some(bao), d, &["render", "typo.yaml"], None, &env);
    let err = failed(&o);
    assert!(
        err.contains(
            "(Deployment/web): .metadata.annotations[\"sealbridge.io/checksum-of\"]: names dbb, "
        ),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}
