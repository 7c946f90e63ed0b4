//! The tenancy policy (`--policy` / `SEALBRIDGE_POLICY`, docs/policy.md): two teams share one
//! sidecar. Real OpenBao with one AppRole and one Vault policy per team, real sops files for
//! two age keys; every Application is rendered through the shipped plugin file the way
//! argocd-cmp-server runs it (tests/it/cmp.rs), with the build environment Argo CD sets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::cmp;
use crate::support::{self, OpenBao};

/// The shared world: one KV v2 and one KV v1 mount with a secret per team, one transit mount
/// per team, an AppRole per team whose Vault policy reads only that team's paths, an age key
/// per team, and the policy file.
struct World {
    kv2: String,
    kv1: String,
    transit: [String; 2],
    approle: String,
    dir: tempfile::TempDir,
    policy: PathBuf,
    age_recipient: [String; 2],
}

const TEAMS: [&str; 2] = ["team-a", "team-b"];

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let bao = support::openbao();
        let kv2 = bao.new_kv2();
        let kv1 = bao.new_kv1();
        let transit = TEAMS.map(|_| {
            let m = support::unique("transit-");
            bao.enable_secrets(&m, "transit", json!({}));
            bao.api("POST", &format!("/v1/{m}/keys/sops"), Some(json!({})));
            m
        });
        let approle = support::unique("approle-");
        bao.api(
            "POST",
            &format!("/v1/sys/auth/{approle}"),
            Some(json!({"type": "approle"})),
        );
        let dir = support::tempdir();
        let mut ages = Vec::new();
        let mut tenants = String::new();
        for (i, team) in TEAMS.iter().enumerate() {
            bao.kv2_put(&kv2, &format!("{team}/db"), json!({"password": format!("{team}-pass")}));
            bao.kv1_put(&kv1, &format!("{team}/db"), json!({"password": format!("{team}-v1-pass")}));
            let pol = format!("{team}-{approle}");
            let t = &transit[i];
            bao.api(
                "PUT",
                &format!("/v1/sys/policies/acl/{pol}"),
                Some(json!({"policy": format!(
                    "path \"{kv2}/data/{team}/*\" {{ capabilities = [\"read\"] }}\n\
                     path \"{kv1}/{team}/*\" {{ capabilities = [\"read\"] }}\n\
                     path \"{t}/decrypt/sops\" {{ capabilities = [\"update\"] }}\n\
                     path \"{t}/keys/sops\" {{ capabilities = [\"read\"] }}\n"
                )})),
            );
            bao.api(
                "POST",
                &format!("/v1/auth/{approle}/role/{team}"),
                Some(json!({"token_policies": [pol], "token_ttl": "1h"})),
            );
            let rid = bao.api("GET", &format!("/v1/auth/{approle}/role/{team}/role-id"), None)
                ["data"]["role_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let sid = bao.api(
                "POST",
                &format!("/v1/auth/{approle}/role/{team}/secret-id"),
                None,
            )["data"]["secret_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let sid_file = dir.path().join(format!("{team}.secret-id"));
            std::fs::write(&sid_file, sid).unwrap();
            let key_file = dir.path().join(format!("{team}.age.txt"));
            let recipient = support::age_key_file(&key_file);
            ages.push(recipient);
            tenants.push_str(&format!(
                "  - name: {team}\n    match:\n      projects: [{team}]\n    vault:\n      auth:\n        \
                 method: approle\n        mount: {approle}\n        role_id: {rid}\n        \
                 secret_id_file: {}\n      paths:\n        - {kv2}/data/{team}/**\n        \
                 - {kv1}/{team}/**\n    sops:\n      age_key_files: [{}]\n      transit_mounts: [{t}]\n",
                sid_file.display(),
                key_file.display()
            ));
        }
        let policy = dir.path().join("policy.yaml");
        std::fs::write(&policy, format!("version: 1\ntenants:\n{tenants}")).unwrap();
        World {
            kv2,
            kv1,
            transit,
            approle,
            dir,
            policy,
            age_recipient: [ages[0].clone(), ages[1].clone()],
        }
    })
}

/// The team's sops file (`secrets.enc.yaml`, `api: {key: <team>-sops}`) encrypted with the real
/// `sops` for `recipient` (an age recipient or a transit key URI).
fn sops_file(dir: &Path, name: &str, team: &str, age: Option<&str>, transit: Option<&str>) {
    std::fs::write(
        dir.join("plain.yaml"),
        format!("api:\n    key: {team}-sops\n"),
    )
    .unwrap();
    let mut args = vec!["encrypt"];
    let mut env = vec![];
    if let Some(r) = age {
        args.extend(["--age", r]);
    }
    if let Some(uri) = transit {
        args.extend(["--hc-vault-transit", uri]);
        env.push(("VAULT_TOKEN", support::openbao().token.as_str()));
    }
    args.push("plain.yaml");
    let enc = support::sops_ok(dir, &env, &args);
    std::fs::write(dir.join(name), &enc).unwrap();
    std::fs::remove_file(dir.join("plain.yaml")).unwrap();
}

/// An application directory with `files` (name, text).
fn app(files: &[(&str, String)]) -> (tempfile::TempDir, PathBuf) {
    let work = support::tempdir();
    let dir = work.path().join("apps/app");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    (work, dir)
}

fn secret(entries: &[(&str, &str)]) -> String {
    let mut s =
        String::from("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n");
    for (k, v) in entries {
        s.push_str(&format!("  {k}: {v}\n"));
    }
    s
}

/// The sidecar (sidecar env: VAULT_ADDR, the policy, the demo age key as the sidecar's own
/// default) and Argo CD's build environment for an Application of `project`.
fn env_for(project: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let w = world();
    // One sidecar for every run of this process (one HOME: one token cache for all tenants).
    static SIDECAR: OnceLock<cmp::Sidecar> = OnceLock::new();
    let mut env = SIDECAR.get_or_init(cmp::Sidecar::new).env.clone();
    env.insert("VAULT_ADDR".into(), support::openbao().addr.clone());
    env.insert("SEALBRIDGE_POLICY".into(), w.policy.display().to_string());
    env.extend(cmp::argo_env("web", "apps/app", json!(null)));
    env.insert("ARGOCD_APP_PROJECT_NAME".into(), project.into());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    env
}

fn generate(
    dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Vec<Value>, (Option<i32>, String, Vec<u8>)> {
    let plugin = cmp::load_plugin("sealbridge");
    cmp::generate(&plugin, dir, env)
}

/// A refused run: exit `code`, nothing on stdout, the stderr (checked to hold no value).
fn refused(dir: &Path, env: &BTreeMap<String, String>, code: i32) -> String {
    match generate(dir, env) {
        Ok(objects) => panic!("rendered {objects:?}"),
        Err((c, stderr, stdout)) => {
            assert!(
                stdout.is_empty(),
                "stdout: {}",
                String::from_utf8_lossy(&stdout)
            );
            assert_eq!(c, Some(code), "{stderr}");
            for t in TEAMS {
                assert!(!stderr.contains(&format!("{t}-pass")), "{stderr}");
                assert!(!stderr.contains(&format!("{t}-sops")), "{stderr}");
            }
            stderr
        }
    }
}

/// Requests in the audit log whose path mentions `needle`, except the test's own (root)
/// set-up requests: (path, AppRole role name).
fn requests_touching(bao: &OpenBao, needle: &str) -> Vec<(String, String)> {
    bao.audit_requests()
        .iter()
        .filter_map(|v| {
            let p = v["request"]["path"].as_str()?;
            let root = v["auth"]["policies"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p == "root"));
            (!root && p.contains(needle)).then(|| {
                (
                    p.to_owned(),
                    v["auth"]["metadata"]["role_name"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                )
            })
        })
        .collect()
}

#[test]
fn tenancy_two_tenants_share_one_sidecar_each_with_its_own_identity_and_keys() {
    let w = world();
    let bao = support::openbao();
    for (i, team) in TEAMS.iter().enumerate() {
        let (_work, dir) = app(&[(
            "secret.yaml",
            secret(&[
                (
                    "password",
                    &format!("<path:{}/data/{team}/db#password>", w.kv2),
                ),
                ("v1", &format!("<path:{}/{team}/db#password>", w.kv1)),
                ("api", "ref+sops://secrets.enc.yaml#/api/key"),
                ("transit", "ref+sops://transit.enc.yaml#/api/key"),
            ]),
        )]);
        sops_file(
            &dir,
            "secrets.enc.yaml",
            team,
            Some(&w.age_recipient[i]),
            None,
        );
        let uri = format!("{}/v1/{}/keys/sops", bao.addr, w.transit[i]);
        sops_file(&dir, "transit.enc.yaml", team, None, Some(&uri));
        let objects =
            generate(&dir, &env_for(team, &[])).unwrap_or_else(|e| panic!("{team}: {}", e.1));
        let data = &objects[0]["stringData"];
        assert_eq!(data["password"], format!("{team}-pass"));
        assert_eq!(data["v1"], format!("{team}-v1-pass"));
        assert_eq!(data["api"], format!("{team}-sops"));
        assert_eq!(data["transit"], format!("{team}-sops"));
    }
    // Each team's secrets were read with that team's own AppRole, and only with it.
    for team in TEAMS {
        let reads = requests_touching(bao, &format!("/{team}/db"));
        assert!(!reads.is_empty());
        for (path, role) in reads {
            assert_eq!(role, team, "{path} was requested as {role:?}");
        }
    }
}

#[test]
fn tenancy_cross_tenant_vault_paths_are_refused_before_any_request() {
    let w = world();
    let bao = support::openbao();
    let (kv2, kv1) = (&w.kv2, &w.kv1);
    let upper = kv2.to_uppercase();
    let attempts: Vec<(String, Vec<(&str, String)>)> = vec![
        (format!("<path:{kv2}/data/team-b/db#password>"), vec![]),
        (format!("<path:{kv2}/team-b/db#password>"), vec![]),
        (format!("ref+vault://{kv2}/team-b/db#/password"), vec![]),
        (
            format!("<path:{kv2}/data/team-a/../team-b/db#password>"),
            vec![],
        ),
        (
            format!("<path:{kv2}/data/team-a/%2e%2e/team-b/db#password>"),
            vec![],
        ),
        (
            format!("<path:{kv2}/data/team-a/..%2fteam-b/db#password>"),
            vec![],
        ),
        (format!("<path:{upper}/data/team-b/db#password>"), vec![]),
        (format!("<path:{kv2}/data/TEAM-B/db#password>"), vec![]),
        (format!("<path:{kv2}/data/team-ab/db#password>"), vec![]),
        (format!("<path:{kv2}/metadata/team-b/db#password>"), vec![]),
        (format!("<path:{kv1}/team-b/db#password>"), vec![]),
        (format!("<path:{kv1}/data/team-b/db#password>"), vec![]),
        ("<path:sys/mounts#x>".to_owned(), vec![]),
        (
            format!("<path:auth/{}/role/team-b/secret-id#x>", w.approle),
            vec![],
        ),
        // An Application-set prefix (allowed in ARGOCD_ENV_) cannot point across.
        (
            "<path:db#password>".to_owned(),
            vec![(
                "ARGOCD_ENV_SEALBRIDGE_PATH_PREFIX",
                format!("{kv2}/data/team-b"),
            )],
        ),
        (
            "<path:../team-b/db#password>".to_owned(),
            vec![(
                "ARGOCD_ENV_SEALBRIDGE_PATH_PREFIX",
                format!("{kv2}/data/team-a"),
            )],
        ),
    ];
    let before = requests_touching(bao, "team-b").len();
    for (reference, extra) in &attempts {
        let (_work, dir) = app(&[("secret.yaml", secret(&[("password", reference)]))]);
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let stderr = refused(&dir, &env_for("team-a", &extra), 1);
        assert!(
            stderr.contains("tenant \"team-a\"") && stderr.contains("rule vault.paths"),
            "{reference}: {stderr}"
        );
        assert!(
            stderr.contains("secret.yaml"),
            "the refusal names the file: {stderr}"
        );
    }
    // The annotation form (AVP's generic placeholders with avp.kubernetes.io/path).
    let annotated = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  annotations:\n    \
         avp.kubernetes.io/path: {kv2}/data/team-b/db\nstringData:\n  password: <password>\n"
    );
    let (_work, dir) = app(&[("secret.yaml", annotated)]);
    let stderr = refused(&dir, &env_for("team-a", &[]), 1);
    assert!(stderr.contains("rule vault.paths"), "{stderr}");
    // KV v1 forced by annotation: the path is read as written, still checked.
    let v1 = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  annotations:\n    \
         avp.kubernetes.io/kv-version: \"1\"\nstringData:\n  password: <path:{kv2}/data/team-b/db#password>\n"
    );
    let (_work, dir) = app(&[("secret.yaml", v1)]);
    refused(&dir, &env_for("team-a", &[]), 1);
    // Not one request about team-b's paths left the sidecar (not even a mount lookup).
    assert_eq!(
        requests_touching(bao, "team-b").len(),
        before,
        "{:?}",
        requests_touching(bao, "team-b")
    );
}

#[test]
fn tenancy_kv_version_confusion_is_refused_on_the_exact_request_path() {
    // A policy written for KV v2 (`<mount>/data/team-a/**`) over a mount that is KV v1: the
    // reference passes the lexical check (the client might insert `data/`), the mount lookup
    // shows KV v1, and the request path (`<mount>/team-a/…`) is outside: refused, not read.
    let w = world();
    let bao = support::openbao();
    let v1 = bao.new_kv1();
    bao.kv1_put(&v1, "team-a/db", json!({"password": "team-a-pass"}));
    let policy = w.dir.path().join("kv-confusion.yaml");
    let text = std::fs::read_to_string(&w.policy).unwrap().replace(
        &format!("- {}/data/team-a/**", w.kv2),
        &format!("- {v1}/data/team-a/**"),
    );
    std::fs::write(&policy, text).unwrap();
    let (_work, dir) = app(&[(
        "secret.yaml",
        secret(&[("password", &format!("<path:{v1}/team-a/db#password>"))]),
    )]);
    let env = env_for("team-a", &[("SEALBRIDGE_POLICY", policy.to_str().unwrap())]);
    let stderr = refused(&dir, &env, 1);
    assert!(
        stderr.contains("request path") && stderr.contains("rule vault.paths"),
        "{stderr}"
    );
    assert!(
        requests_touching(bao, &format!("{v1}/team-a/db"))
            .iter()
            .all(|(p, _)| p.starts_with("sys/internal/ui/mounts/")),
        "only the mount lookup may have been sent"
    );
}

#[test]
fn tenancy_sops_files_of_another_tenant_or_the_sidecar_key_do_not_decrypt() {
    let w = world();
    let bao = support::openbao();
    let demo =
        std::fs::read_to_string(support::project_root().join("examples/argocd/demo-age-key.txt"))
            .unwrap();
    let demo_recipient = demo
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    // team-b's age file, and a file for the sidecar's own default key (SOPS_AGE_KEY_FILE).
    for recipient in [w.age_recipient[1].clone(), demo_recipient] {
        let (_work, dir) = app(&[(
            "secret.yaml",
            secret(&[("api", "ref+sops://secrets.enc.yaml#/api/key")]),
        )]);
        sops_file(&dir, "secrets.enc.yaml", "team-b", Some(&recipient), None);
        let stderr = refused(&dir, &env_for("team-a", &[]), 1);
        assert!(stderr.contains("cannot decrypt"), "{stderr}");
    }
    // team-b's transit key: refused before any request to team-b's transit mount.
    let before = requests_touching(bao, &w.transit[1]).len();
    let (_work, dir) = app(&[(
        "secret.yaml",
        secret(&[("api", "ref+sops://transit.enc.yaml#/api/key")]),
    )]);
    let uri = format!("{}/v1/{}/keys/sops", bao.addr, w.transit[1]);
    sops_file(&dir, "transit.enc.yaml", "team-b", None, Some(&uri));
    let stderr = refused(&dir, &env_for("team-a", &[]), 1);
    assert!(stderr.contains("rule sops.transit_mounts"), "{stderr}");
    let after: Vec<_> = requests_touching(bao, &w.transit[1])
        .into_iter()
        .filter(|(_, role)| role == "team-a")
        .collect();
    assert!(after.is_empty(), "{after:?}");
    assert!(requests_touching(bao, &w.transit[1]).len() >= before);
}

#[test]
fn tenancy_spoofed_argocd_env_cannot_choose_the_tenant() {
    let w = world();
    let (_work, dir) = app(&[(
        "secret.yaml",
        secret(&[(
            "password",
            &format!("<path:{}/data/team-b/db#password>", w.kv2),
        )]),
    )]);
    // Argo CD prefixes every plugin env entry with ARGOCD_ENV_: an Application of a project no
    // tenant matches cannot claim team-b's project, namespace or repository that way.
    let spoof = env_for(
        "team-c",
        &[
            ("ARGOCD_ENV_ARGOCD_APP_PROJECT_NAME", "team-b"),
            ("ARGOCD_ENV_ARGOCD_APP_NAME", "team-b_web"),
            (
                "ARGOCD_ENV_ARGOCD_APP_SOURCE_REPO_URL",
                "https://git.example.com/team-b/apps",
            ),
            ("PARAM_ARGOCD_APP_PROJECT_NAME", "team-b"),
        ],
    );
    let stderr = refused(&dir, &spoof, 2);
    assert!(
        stderr.contains("has no tenant for") && stderr.contains("project team-c"),
        "{stderr}"
    );
    // Nor can it name another policy file.
    let evil = w.dir.path().join("evil.yaml");
    std::fs::write(&evil, "version: 1\ntenants: []\n").unwrap();
    let stderr = refused(
        &dir,
        &env_for(
            "team-a",
            &[("ARGOCD_ENV_SEALBRIDGE_POLICY", evil.to_str().unwrap())],
        ),
        2,
    );
    assert!(stderr.contains("ARGOCD_ENV_SEALBRIDGE_POLICY"), "{stderr}");
}

#[test]
fn tenancy_policy_file_errors_and_unmatched_applications_exit_2_printing_nothing() {
    let w = world();
    let (_work, dir) = app(&[("secret.yaml", secret(&[("password", "plain")]))]);
    let good = std::fs::read_to_string(&w.policy).unwrap();
    for (name, text, want) in [
        (
            "unknown-key.yaml",
            good.replacen("    match:\n", "    match:\n      project: [x]\n", 1),
            "line 5 column 7: unknown field `project`".to_owned(),
        ),
        (
            "bad-glob.yaml",
            good.replacen("projects: [team-a]", "projects: [\"team-{a,b}\"]", 1),
            "line 5: tenant \"team-a\": projects: \"team-{a,b}\" is not a valid glob".to_owned(),
        ),
        (
            "inline-secret.yaml",
            good.replacen("secret_id_file:", "secret_id:", 1),
            "unknown field `secret_id`".to_owned(),
        ),
    ] {
        let f = w.dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        let stderr = refused(
            &dir,
            &env_for("team-a", &[("SEALBRIDGE_POLICY", f.to_str().unwrap())]),
            2,
        );
        assert!(
            stderr.contains(&want) && stderr.contains(name),
            "{name}: {stderr}"
        );
    }
    // A missing policy file is an error, never single-tenant mode.
    let stderr = refused(
        &dir,
        &env_for(
            "team-a",
            &[("SEALBRIDGE_POLICY", "/nonexistent/policy.yaml")],
        ),
        2,
    );
    assert!(stderr.contains("/nonexistent/policy.yaml"), "{stderr}");
    // No tenant for the Application: exit 2, even with nothing to resolve.
    let stderr = refused(&dir, &env_for("team-z", &[]), 2);
    assert!(stderr.contains("has no tenant"), "{stderr}");
}

/// A copy of the world's policy with `edit` applied to its text.
fn policy_with(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let w = world();
    let f = w.dir.path().join(name);
    std::fs::write(&f, edit(std::fs::read_to_string(&w.policy).unwrap())).unwrap();
    f
}

/// team-a's tenant block gets `extra` (YAML lines at the tenant's indentation) after `match:`.
fn team_a_with(text: String, extra: &str) -> String {
    text.replacen(
        "    match:\n      projects: [team-a]\n",
        &format!("    match:\n      projects: [team-a]\n{extra}"),
        1,
    )
}

#[test]
fn tenancy_plaintext_only_in_secrets_keeps_values_out_of_configmaps_and_annotations() {
    let w = world();
    let policy = policy_with("plaintext.yaml", |t| {
        team_a_with(t, "    plaintext_only_in_secrets: true\n")
    });
    let env = env_for("team-a", &[("SEALBRIDGE_POLICY", policy.to_str().unwrap())]);
    let own = format!("<path:{}/data/team-a/db#password>", w.kv2);
    let configmap = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  password: {own}\n"
    );
    let annotation = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  annotations:\n    leak: {own}\nstringData:\n  ok: {own}\n"
    );
    let env_var = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          env:\n            - name: P\n              value: {own}\n"
    );
    for doc in [configmap, annotation, env_var] {
        let (_work, dir) = app(&[("app.yaml", doc)]);
        let stderr = refused(&dir, &env, 1);
        assert!(
            stderr.contains("rule plaintext_only_in_secrets"),
            "{stderr}"
        );
    }
    // Secret data and stringData, and a checksum anywhere, are allowed.
    let ok = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  a: {own}\ndata:\n  b: {own}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  annotations:\n    checksum: <path:{}/data/team-a/db#password | sha256sum>\ndata:\n  x: y\n",
        w.kv2
    );
    let (_work, dir) = app(&[("app.yaml", ok)]);
    let objects = generate(&dir, &env).unwrap_or_else(|e| panic!("{}", e.1));
    assert_eq!(objects[0]["stringData"]["a"], "team-a-pass");
    assert_eq!(
        objects[1]["metadata"]["annotations"]["checksum"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn tenancy_limits_cap_references_and_output_before_anything_is_written() {
    let w = world();
    let bao = support::openbao();
    let own = format!("<path:{}/data/team-a/db#password>", w.kv2);
    let policy = policy_with("max-refs.yaml", |t| {
        team_a_with(t, "    limits:\n      max_references: 1\n")
    });
    let env = env_for("team-a", &[("SEALBRIDGE_POLICY", policy.to_str().unwrap())]);
    let (_work, dir) = app(&[("secret.yaml", secret(&[("a", &own), ("b", &own)]))]);
    let before = requests_touching(bao, "team-a").len();
    let stderr = refused(&dir, &env, 2);
    assert!(
        stderr.contains("rule limits.max_references") && stderr.contains("2 references"),
        "{stderr}"
    );
    assert_eq!(
        requests_touching(bao, "team-a").len(),
        before,
        "nothing was fetched"
    );
    let policy = policy_with("max-out.yaml", |t| {
        team_a_with(t, "    limits:\n      max_output_bytes: 64\n")
    });
    let env = env_for("team-a", &[("SEALBRIDGE_POLICY", policy.to_str().unwrap())]);
    let stderr = refused(&dir, &env, 2);
    assert!(stderr.contains("rule limits.max_output_bytes"), "{stderr}");
}

#[test]
fn tenancy_policy_check_explains_without_fetching() {
    let w = world();
    let bao = support::openbao();
    let (_work, dir) = app(&[(
        "secret.yaml",
        secret(&[
            ("mine", &format!("<path:{}/data/team-a/db#password>", w.kv2)),
            (
                "theirs",
                &format!("<path:{}/data/team-b/db#password>", w.kv2),
            ),
        ]),
    )]);
    let count = || bao.audit_requests().len();
    let before = count();
    let home = support::tempdir();
    let run = |project: &str| {
        support::sealbridge(home.path())
            .args(["--policy", w.policy.to_str().unwrap(), "policy", "check"])
            .args(["--app-name", "web", "--project", project])
            .args(["--repo", "https://git.example.com/team-a/apps.git"])
            .arg(&dir)
            .env("VAULT_ADDR", &bao.addr)
            .output()
            .unwrap()
    };
    let out = run("team-a");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("tenant: team-a"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("ok") && l.contains(".stringData.mine")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("REFUSED")
            && l.contains(".stringData.theirs")
            && l.contains("rule vault.paths")),
        "{stdout}"
    );
    let out = run("team-z");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no tenant"));
    assert_eq!(count(), before, "policy check sent a request");
}

#[test]
fn tenancy_applies_to_the_kustomize_variant_and_its_sops_generator() {
    // The shipped kustomize example (a sealbridge SecretGenerator over a sops file for the demo
    // key, and a Vault reference) through the kustomize plugin: the generator runs as a
    // kustomize exec plugin and reads the Application's tenant from the environment kustomize
    // passes on. team-a holds the demo key; team-b, the same Vault access but its own key.
    let w = world();
    let password = cmp::example_secret();
    let bao = support::openbao();
    let token = w.dir.path().join("root-token");
    std::fs::write(&token, &bao.token).unwrap();
    let demo = support::project_root().join("examples/argocd/demo-age-key.txt");
    let tenant = |team: &str, key: &Path| {
        format!(
            "  - name: {team}\n    match:\n      projects: [{team}]\n    vault:\n      auth:\n        \
             method: token\n        token_file: {}\n      paths: [sealbridge-example/data/guestbook]\n    \
             sops:\n      age_key_files: [{}]\n",
            token.display(),
            key.display()
        )
    };
    let policy = w.dir.path().join("kustomize.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\ntenants:\n{}{}",
            tenant("team-a", &demo),
            tenant("team-b", &w.dir.path().join("team-b.age.txt"))
        ),
    )
    .unwrap();
    let plugin = cmp::load_plugin("sealbridge-kustomize");
    let (_work, dir) = cmp::checkout("kustomize");
    let run = |team: &str| {
        let mut env = env_for(team, &[("SEALBRIDGE_POLICY", policy.to_str().unwrap())]);
        env.insert(
            "ARGOCD_APP_SOURCE_PATH".into(),
            "examples/argocd/apps/kustomize".into(),
        );
        cmp::generate(&plugin, &dir, &env)
    };
    let objects = run("team-a").unwrap_or_else(|e| panic!("{}", e.1));
    let api = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "api")
        .unwrap();
    assert_eq!(api["stringData"]["password"], password);
    // team-b: the generator's sops file is not for its key.
    match run("team-b") {
        Ok(objects) => panic!("rendered {objects:?}"),
        Err((_, stderr, stdout)) => {
            assert!(stdout.is_empty());
            assert!(
                stderr.contains("db.enc.env") && stderr.contains("age keys of tenant \"team-b\""),
                "{stderr}"
            );
            assert!(!stderr.contains("demo-db-password"), "{stderr}");
        }
    }
    // An Application of no tenant is refused by the generator too.
    assert!(run("team-z").is_err());
}

#[test]
fn tenancy_helm_sops_values_files_decrypt_only_with_the_tenants_keys() {
    // The helm variant decrypts `secrets://` values files before helm runs: with the tenant's
    // age keys only — a values file for another team's key (or the sidecar's) is refused.
    let w = world();
    let plugin = cmp::load_plugin("sealbridge-helm");
    let run = |recipient: &str| {
        let (work, app) = cmp::checkout("helm");
        std::fs::write(
            app.join("templates/extra.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  k: {{ .Values.api.key | quote }}\n",
        )
        .unwrap();
        sops_file(&app, "secrets.enc.yaml", "team-b", Some(recipient), None);
        // The chart's own Vault reference is outside team-a's paths; values only.
        std::fs::write(
            app.join("values.yaml"),
            "credentials:\n  password: literal\n",
        )
        .unwrap();
        let mut env = env_for("team-a", &[]);
        env.extend(cmp::argo_env(
            "web",
            "examples/argocd/apps/helm",
            json!([{"name": "values-files", "array": ["secrets://secrets.enc.yaml"]}]),
        ));
        env.insert("ARGOCD_APP_PROJECT_NAME".into(), "team-a".into());
        std::os::unix::fs::symlink(support::tool("helm"), work.path().join("helm")).unwrap();
        let path = env.get("PATH").cloned().unwrap_or_default();
        env.insert("PATH".into(), format!("{}:{path}", work.path().display()));
        let r = cmp::generate(&plugin, &app, &env);
        (work, r)
    };
    // team-a's own key: decrypted into the chart.
    let (_w, r) = run(&w.age_recipient[0]);
    let objects = r.unwrap_or_else(|e| panic!("{}", e.1));
    let extra = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "extra")
        .unwrap();
    assert_eq!(extra["data"]["k"], "team-b-sops");
    // team-b's key: refused, nothing printed, no value in the message.
    let (_w, r) = run(&w.age_recipient[1]);
    match r {
        Ok(objects) => panic!("rendered {objects:?}"),
        Err((code, stderr, stdout)) => {
            assert_eq!(code, Some(1), "{stderr}");
            assert!(stdout.is_empty());
            assert!(stderr.contains("secrets.enc.yaml"), "{stderr}");
            assert!(!stderr.contains("team-b-sops"), "{stderr}");
        }
    }
}
