//! The streaming render engine through the real binary (issue 11): documents that cannot hold a
//! reference come out byte for byte (over the repository's corpora and real kustomize/helm
//! output), document indexes in messages are the parser's, and the run still fails closed.

use std::path::{Path, PathBuf};
use std::process::Command;

use sealbridge::manifest::stream::{simple_kind, split, unusual_bytes};
use sealbridge::resolve::triage::needs_tree;

use crate::render::{failed, run, stderr, stdout};
use crate::support;

/// The passthrough documents of `text` (what the engine must copy byte for byte), as the
/// triage rules say: not JSON, no unusual bytes, a usual split, no trigger, a simple `kind`.
fn passthrough_segments(text: &str) -> Vec<&str> {
    if text.trim_start().starts_with(['{', '[']) || unusual_bytes(text) {
        return Vec::new();
    }
    let Ok(segments) = split(text).collect::<Result<Vec<_>, _>>() else {
        return Vec::new();
    };
    segments
        .into_iter()
        .filter(|s| s.content)
        .map(|s| (&text[s.text.clone()], &text[s.body.clone()]))
        .filter(|(t, body)| !needs_tree(t) && !t.contains("sops") && simple_kind(body))
        .map(|(t, _)| t)
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        {
            out.push(p);
        }
    }
}

/// Renders `text` (stdin, no backend configured) and checks every passthrough document is in
/// the output byte for byte. Returns how many were checked (0 when the render failed: a
/// document with references and no backend — fail closed, nothing written).
fn check_passthrough(dir: &Path, what: &str, text: &str) -> usize {
    let o = run(None, dir, &["render", "-"], Some(text), &[]);
    if !o.status.success() {
        assert!(o.stdout.is_empty(), "{what}: output on failure");
        return 0;
    }
    let out = stdout(&o);
    let docs = passthrough_segments(text);
    for d in &docs {
        assert!(
            out.contains(d),
            "{what}: the document\n{d}\nis not in the output byte for byte:\n{out}"
        );
    }
    docs.len()
}

/// kubectl kustomize / helm template output of the examples (real tools).
fn tool_outputs() -> Vec<(String, String)> {
    let root = support::project_root();
    let mut outs = Vec::new();
    let home = support::tempdir();
    // `helm create`'s starter chart (Deployment, Service, ServiceAccount, tests, notes),
    // rendered with every optional template on.
    let helm = |args: &[&str]| {
        let mut cmd = Command::new(support::tool("helm"));
        support::clean_env(&mut cmd, home.path());
        cmd.args(args).current_dir(home.path()).output().unwrap()
    };
    let o = helm(&["create", "starter"]);
    assert!(
        o.status.success(),
        "helm create: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = helm(&[
        "template",
        "r",
        "starter",
        "--set",
        "ingress.enabled=true,autoscaling.enabled=true,httpRoute.enabled=true",
    ]);
    assert!(
        o.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    outs.push((
        "helm template".to_owned(),
        String::from_utf8(o.stdout).unwrap(),
    ));
    // The kustomize example's resources without its generator plugin, plus built-in
    // generators and transformers.
    let kdir = home.path().join("k");
    std::fs::create_dir_all(&kdir).unwrap();
    std::fs::copy(
        root.join("examples/argocd/apps/kustomize/deployment.yaml"),
        kdir.join("deployment.yaml"),
    )
    .unwrap();
    std::fs::write(
        kdir.join("kustomization.yaml"),
        "resources: [deployment.yaml]\nnamePrefix: p-\nlabels:\n- pairs: {team: a}\n\
         configMapGenerator:\n- name: cfg\n  literals: [a=1, b=on]\n",
    )
    .unwrap();
    let mut k = Command::new(support::kubectl());
    support::clean_env(&mut k, home.path());
    let o = k.args(["kustomize"]).arg(&kdir).output().unwrap();
    assert!(
        o.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    outs.push((
        "kubectl kustomize".to_owned(),
        String::from_utf8(o.stdout).unwrap(),
    ));
    outs
}

#[test]
fn untouched_documents_pass_through_byte_for_byte_over_the_corpora() {
    let root = support::project_root();
    let dir = support::tempdir();
    let mut files = Vec::new();
    for d in ["examples", "tests/fixtures", "fuzz"] {
        yaml_files(&root.join(d), &mut files);
    }
    let mut checked = 0;
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        checked += check_passthrough(dir.path(), &f.display().to_string(), &text);
    }
    for (what, text) in tool_outputs() {
        let n = check_passthrough(dir.path(), &what, &text);
        assert!(n > 0, "{what}: no passthrough document checked");
        checked += n;
    }
    assert!(checked >= 10, "only {checked} documents checked");
}

/// Flow style, comments, odd indentation, quoting, a missing final line feed: a stream without
/// references comes out exactly as it went in (before: re-emitted in block style).
#[test]
fn a_reference_free_stream_comes_out_unchanged() {
    let dir = support::tempdir();
    let text = "# Source: chart/templates/a.yaml\n---\napiVersion: apps/v1\nkind: Deployment\n\
                metadata: {name: web,   labels: {app: web}}   # flow\nspec:\n    replicas: 3\n    \
                template:\n        spec:\n            containers:\n            - name: app\n              \
                args: [\"--a\",   '--b']\n              env:\n              - {name: X, value: \"0644\"}\n\
                # between\n---\n---\nkind: ConfigMap\ndata:\n  k: |\n    line\n\n    more\n  z: on";
    let o = run(None, dir.path(), &["render", "-"], Some(text), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The empty document (`---` alone) disappears; the last line gets its line feed.
    let want = text.replacen("---\n---\n", "---\n", 1) + "\n";
    assert_eq!(stdout(&o), want);
}

/// A document that needs the tree among passthrough ones: messages count documents as the
/// parser does (empty and leading-comment documents included), and nothing is written.
#[test]
fn document_numbers_in_messages_are_the_parsers() {
    let dir = support::tempdir();
    let text =
        "# lead\n---\nkind: A\n---\n---\nkind: B\nx: {a: 1}\n---\nkind: C\nv: <path:kv/x#>\n";
    let o = run(None, dir.path(), &["render", "-"], Some(text), &[]);
    let err = failed(&o);
    assert!(
        err.contains("<stdin>: document 4 (C): .v: <path:kv/x#>"),
        "{err}"
    );
}

/// Non-Kubernetes documents are still skipped with a warning (they are parsed: triage cannot
/// prove a `kind`), sops-encrypted files quietly, and Argo CD's "no objects" check still holds.
#[test]
fn triage_keeps_the_skip_rules() {
    let dir = support::tempdir();
    let text =
        "replicaCount: 3\n---\nkind: A\n---\nkind: B\nsops:\n  mac: ENC[x]\n  version: 3.9.0\n";
    let o = run(None, dir.path(), &["render", "-"], Some(text), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "---\nkind: A\n");
    assert!(
        stderr(&o).contains("<stdin>: document 1: not a Kubernetes object"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("document 3"), "{}", stderr(&o));
}

/// `count` ConfigMaps, each with two references to its own Vault path under `mount`.
fn many_refs(count: usize, mount: &str) -> String {
    (0..count)
        .map(|i| {
            format!(
                "---\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  a: <path:{mount}/app{i}#user>\n  b: <path:{mount}/app{i}#pass>\n"
            )
        })
        .collect()
}

/// A Vault server that cannot be reached is one line (not one per reference), with a hint
/// about the server (not about the deadline), and the run does not wait for its deadline:
/// the first connection failure ends every other request (a 2-minute deadline would
/// otherwise be reached with 150 paths and report "raise it with SEALBRIDGE_DEADLINE").
#[test]
fn unreachable_vault_is_one_line_with_a_hint_about_the_server() {
    let dir = support::tempdir();
    let addr = format!("http://127.0.0.1:{}", support::free_port());
    let text = many_refs(150, "secret/data");
    let o = run(
        None,
        dir.path(),
        &["render", "--deadline", "2m", "-"],
        Some(&text),
        &[
            ("VAULT_ADDR", &addr),
            ("VAULT_TOKEN", "t"),
            ("SEALBRIDGE_VAULT_TOKEN_CACHE", "false"),
        ],
    );
    let err = failed(&o);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.contains("1 problem found"), "{err}");
    assert!(
        err.contains("<stdin>: document 1 (ConfigMap/c0): .data.a: <path:secret/data/app0#user>"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "vault {addr}: server unreachable: connection failed"
        )),
        "{err}"
    );
    assert!(
        err.contains("(300 references fail for this reason; this is the first)"),
        "{err}"
    );
    assert!(err.contains("check that the server is running"), "{err}");
    assert!(!err.contains("SEALBRIDGE_DEADLINE"), "{err}");
}

/// A refused login is one line naming the auth method, with a hint about credentials.
#[test]
fn a_refused_login_is_one_line_with_a_hint_about_credentials() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    let policy = support::unique("read-");
    bao.api(
        "PUT",
        &format!("/v1/sys/policies/acl/{policy}"),
        Some(serde_json::json!({"policy": format!("path \"{mount}/*\" {{ capabilities = [\"read\"] }}")})),
    );
    let (am, rid, _) = crate::vault_auth::approle(bao, &policy, serde_json::json!({}));
    let dir = support::tempdir();
    let text = many_refs(20, &mount);
    let o = run(
        None,
        dir.path(),
        &["render", "-"],
        Some(&text),
        &[
            ("VAULT_ADDR", &bao.addr),
            ("AVP_AUTH_TYPE", "approle"),
            ("AVP_ROLE_ID", &rid),
            ("AVP_SECRET_ID", "not-the-secret-id"),
            ("AVP_MOUNT_PATH", &format!("auth/{am}")),
            ("SEALBRIDGE_VAULT_TOKEN_CACHE", "false"),
        ],
    );
    let err = failed(&o);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains(&format!("auth/{am}/login: login failed")),
        "{err}"
    );
    assert!(
        err.contains("(40 references fail for this reason; this is the first)"),
        "{err}"
    );
    assert!(
        err.contains("check the auth method's settings and credentials"),
        "{err}"
    );
    assert!(!err.contains("not-the-secret-id"), "{err}");
}

/// Problems of one reference keep one line each, next to a grouped server failure's line.
#[test]
fn reference_problems_keep_their_own_lines() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "app0", serde_json::json!({"user": "u"}));
    let dir = support::tempdir();
    // app0 has `user` but no `pass`; app1 and app2 do not exist.
    let text = many_refs(3, &mount);
    let o = run(Some(bao), dir.path(), &["render", "-"], Some(&text), &[]);
    let err = failed(&o);
    assert!(err.contains("5 problems found"), "{err}");
    assert_eq!(err.lines().count(), 6, "{err}");
    assert!(
        err.contains(&format!(".data.b: <path:{mount}/app0#pass>: ")),
        "{err}"
    );
    assert!(!err.contains("fail for this reason"), "{err}");
}

/// A sops file that cannot be decrypted (no key) is one line per file, however many references
/// read it; a second file is its own line.
#[test]
fn an_undecryptable_sops_file_is_one_line_per_file() {
    let dir = support::tempdir();
    for f in ["a.enc.yaml", "b.enc.yaml"] {
        std::fs::copy(support::fixture("sops/basic.enc.yaml"), dir.path().join(f)).unwrap();
    }
    let mut text = String::new();
    for i in 0..10 {
        text.push_str(&format!(
            "---\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  a: ref+sops://a.enc.yaml#/name\n  b: ref+sops://a.enc.yaml#/age\n"
        ));
    }
    text.push_str(
        "---\nkind: ConfigMap\nmetadata:\n  name: z\ndata:\n  a: ref+sops://b.enc.yaml#/name\n",
    );
    let o = run(None, dir.path(), &["render", "-"], Some(&text), &[]);
    let err = failed(&o);
    assert_eq!(err.lines().count(), 3, "{err}");
    assert!(
        err.contains("(20 references fail for this reason; this is the first)"),
        "{err}"
    );
    assert!(
        err.contains(
            "document 11 (ConfigMap/z): .data.a: ref+sops://b.enc.yaml#/name: cannot decrypt"
        ),
        "{err}"
    );
}

/// The fail-fast probe looks up the mount the client will read (with `SEALBRIDGE_PATH_PREFIX`
/// in front): still one mount lookup per mount, no lookup of the unprefixed path.
#[test]
fn the_fail_fast_probe_adds_no_request() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    let name = support::unique("probe");
    for i in 0..3 {
        bao.kv2_put(
            &mount,
            &format!("{name}{i}"),
            serde_json::json!({"user": "u", "pass": "p"}),
        );
    }
    let dir = support::tempdir();
    let text = many_refs(3, "").replace("<path:/app", &format!("<path:{name}"));
    let writes = bao.count_requests(&format!("{mount}/data/{name}"));
    let o = run(
        Some(bao),
        dir.path(),
        &["render", "-"],
        Some(&text),
        &[("SEALBRIDGE_PATH_PREFIX", &mount)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        bao.count_requests(&format!("sys/internal/ui/mounts/{name}")),
        0
    );
    assert_eq!(
        bao.count_requests(&format!("sys/internal/ui/mounts/{mount}/{name}")),
        1
    );
    assert_eq!(
        bao.count_requests(&format!("{mount}/data/{name}")) - writes,
        3
    );
}

/// Minimal diffs (issue 11): a document with a reference comes out as its own text with only
/// that scalar's text changed — flow style, comments, odd indentation and quoting elsewhere
/// stay byte for byte (the manifest writer used to re-emit the whole document in block style).
#[test]
fn reformatting_a_document_with_a_reference_changes_only_the_reference() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "app", serde_json::json!({"pass": "hunter2"}));
    let dir = support::tempdir();
    let doc = |v: &str| {
        format!(
            "# Source: chart/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata: {{name: app,   labels: {{tier: web}}}}  # flow\nstringData:\n      # odd indentation\n      password:   {v}   # the reference\n      other:  'keep  me'\nlist:\n- [1,2]\n-   {{a: b}}\n"
        )
    };
    let input = format!(
        "kind: ConfigMap\ndata: {{x: y}}\n---\n{}",
        doc(&format!("<path:{mount}/app#pass>"))
    );
    let o = run(Some(bao), dir.path(), &["render", "-"], Some(&input), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("kind: ConfigMap\ndata: {{x: y}}\n---\n{}", doc("hunter2"))
    );
}

/// Values that change meaning when written plain (YAML 1.1 booleans, indicators, leading
/// blanks, comments, line breaks) are quoted where they are spliced, in block and flow
/// positions, and PyYAML (a YAML 1.1 reader like sigs.k8s.io/yaml) reads exactly the values.
#[test]
fn spliced_values_that_need_quotes_read_back_exactly_in_yaml_1_1() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    let values = [
        ("boolish", "yes"),
        ("colon", ": x"),
        ("lead", " lead"),
        ("hash", "#x"),
        ("comment", "a #b"),
        ("multi", "line1\nline2\n"),
        ("num", "0644"),
    ];
    let data: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::json!(v)))
        .collect();
    bao.kv2_put(&mount, "tricky", serde_json::Value::Object(data));
    let mut input =
        String::from("apiVersion: v1\nkind: Secret\nmetadata: {name: t}\nstringData:\n");
    for (k, _) in &values {
        input.push_str(&format!("  {k}: <path:{mount}/tricky#{k}>  # c\n"));
    }
    input.push_str("flow: {");
    for (k, _) in &values {
        input.push_str(&format!("{k}: \"<path:{mount}/tricky#{k}>\", "));
    }
    input.push_str("end: 1}\nlist: [");
    for (k, _) in &values {
        input.push_str(&format!("<path:{mount}/tricky#{k}>, "));
    }
    input.push_str("z]\n");
    let dir = support::tempdir();
    let o = run(Some(bao), dir.path(), &["render", "-"], Some(&input), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // Spliced, not re-emitted: the flow collections and comments are still there.
    assert!(out.contains("metadata: {name: t}\n"), "{out}");
    assert!(out.contains("flow: {boolish: \"yes\", "), "{out}");
    assert!(
        out.contains("  multi: |  # c\n    line1\n    line2\n"),
        "{out}"
    );
    let got = crate::yaml11::pyyaml(&out);
    for (i, (k, v)) in values.iter().enumerate() {
        assert_eq!(got[0]["stringData"][k], serde_json::json!(v), "{k}:\n{out}");
        assert_eq!(got[0]["flow"][k], serde_json::json!(v), "{k}:\n{out}");
        assert_eq!(got[0]["list"][i], serde_json::json!(v), "{k}:\n{out}");
    }
}

/// A configuration file in a `|` block with an inline reference: the block is rewritten in
/// place (same header comment, same indentation), the rest of the document is unchanged.
#[test]
fn reformatting_a_config_block_with_an_inline_reference_changes_only_that_block() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "db", serde_json::json!({"pass": "s3cr3t"}));
    let dir = support::tempdir();
    let doc = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app}}\ndata:\n  app.ini: |   # rendered\n    [db]\n    user = app\n    pass = {v}\n\n  # next\n  other: {{a: 1}}\n"
        )
    };
    let input = doc(&format!("<path:{mount}/db#pass>"));
    let o = run(Some(bao), dir.path(), &["render", "-"], Some(&input), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), doc("s3cr3t"));
}
