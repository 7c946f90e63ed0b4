//! Helm post-renderer contract (`render -`: stdin → stdout) on the hand-made
//! `examples/helm/rendered.yaml` and under the real `helm template --post-renderer`; and the CI
//! recipe `examples/ci/deploy.sh` (render piped into `$APPLY`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::cmp::example_secret;
use crate::support;

fn objects(stdout: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(stdout).unwrap();
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// `sealbridge render -` with `input` on stdin, the OpenBao configuration, cwd `dir`.
fn post_render(dir: &Path, input: &[u8]) -> Output {
    let home = support::tempdir();
    let mut child = support::sealbridge(home.path())
        .args(["render", "-"])
        .current_dir(dir)
        .envs(support::openbao().env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn post_renderer_contract_on_a_rendered_chart_stream() {
    let password = example_secret();
    let root = support::project_root();
    let input = std::fs::read(root.join("examples/helm/rendered.yaml")).unwrap();
    let out = post_render(&root, &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let docs = objects(&out.stdout);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["stringData"]["password"], password);
    // Untouched values keep their exact text: Kubernetes would read `on` as a boolean.
    assert!(text.contains("mode: \"on\"\n"), "{text}");
    assert!(text.contains("replicas: \"3\"\n"), "{text}");

    // A reference that does not resolve: nothing on stdout (Helm aborts), exit 1.
    let broken = String::from_utf8(input)
        .unwrap()
        .replace("data/guestbook#", "data/nope#");
    let out = post_render(&root, broken.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sealbridge-example/data/nope#password"),
        "{stderr}"
    );
}

/// `helm template … --post-renderer sealbridge --post-renderer-args render
/// --post-renderer-args -` with the real helm, on a copy of the Argo CD example chart.
fn helm_template(chart: &Path) -> Output {
    let tmp = support::tempdir();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sealbridge"), bin.join("sealbridge")).unwrap();
    let mut cmd = Command::new(support::tool("helm"));
    support::clean_env(&mut cmd, tmp.path());
    cmd.args(["template", "guestbook", "."])
        .args(["--namespace", "guestbook"])
        .args(["--post-renderer", "sealbridge"])
        .args([
            "--post-renderer-args",
            "render",
            "--post-renderer-args",
            "-",
        ])
        .current_dir(chart)
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .envs(support::openbao().env());
    cmd.output().unwrap()
}

#[test]
fn helm_template_with_sealbridge_as_post_renderer() {
    let password = example_secret();
    let work = support::tempdir();
    let chart = work.path().join("chart");
    crate::cmp::copy_dir(
        &support::project_root().join("examples/argocd/apps/helm"),
        &chart,
    );
    let out = helm_template(&chart);
    assert!(
        out.status.success(),
        "helm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = objects(&out.stdout);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["metadata"]["name"], "guestbook-credentials");
    assert_eq!(docs[0]["stringData"]["password"], password);

    // A failing post-render aborts helm with nothing printed.
    let values = chart.join("values.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    std::fs::write(&values, text.replace("data/guestbook#", "data/nope#")).unwrap();
    let out = helm_template(&chart);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("post render"), "{stderr}");
    assert!(!stderr.contains(password), "{stderr}");
}

/// `bash examples/ci/deploy.sh` with `APPLY=cat` (what kubectl would receive is stdout).
fn deploy(manifests: &Path) -> Output {
    let tmp = support::tempdir();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sealbridge"), bin.join("sealbridge")).unwrap();
    let mut cmd = Command::new("bash");
    support::clean_env(&mut cmd, tmp.path());
    cmd.arg(support::project_root().join("examples/ci/deploy.sh"))
        .env("MANIFESTS", manifests)
        .env("APPLY", "cat")
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .envs(support::openbao().env())
        .stdin(Stdio::null());
    cmd.output().unwrap()
}

#[test]
fn ci_deploy_script_applies_resolved_manifests_and_fails_closed() {
    let password = example_secret();
    let work = support::tempdir();
    let k8s = work.path().join("k8s");
    std::fs::create_dir_all(&k8s).unwrap();
    std::fs::copy(
        support::project_root().join("examples/helm/rendered.yaml"),
        k8s.join("app.yaml"),
    )
    .unwrap();
    let out = deploy(&k8s);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = objects(&out.stdout);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["stringData"]["password"], password);

    // A failing reference: the apply step receives nothing and the job fails (pipefail).
    let text = std::fs::read_to_string(k8s.join("app.yaml")).unwrap();
    std::fs::write(
        k8s.join("app.yaml"),
        text.replace("data/guestbook#", "data/nope#"),
    )
    .unwrap();
    let out = deploy(&k8s);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("data/nope#password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// helm-secrets' `helm secrets template -f secrets.enc.yaml` without a plugin: bash process
/// substitution hands helm the decrypted values through a pipe (nothing on disk), as
/// docs/helm.md shows.
#[test]
fn sops_values_reach_helm_through_process_substitution() {
    let tmp = support::tempdir();
    let chart = tmp.path().join("chart");
    crate::cmp::copy_dir(
        &support::project_root().join("examples/argocd/apps/helm"),
        &chart,
    );
    std::fs::write(
        chart.join("templates/extra.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  x: {{ .Values.extra | quote }}\n",
    )
    .unwrap();
    let key = tmp.path().join("age.txt");
    let recipient = support::age_key_file(&key);
    std::fs::write(
        tmp.path().join("v.yaml"),
        "extra: from-a-sops-values-file\n",
    )
    .unwrap();
    let o = support::sealbridge(tmp.path())
        .current_dir(tmp.path())
        .args(["encrypt", "--age", &recipient, "v.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::write(chart.join("secrets.enc.yaml"), o.stdout).unwrap();
    let script = format!(
        "set -euo pipefail; '{}' template guestbook . -f <('{}' decrypt secrets.enc.yaml) --show-only templates/extra.yaml",
        support::tool("helm").display(),
        env!("CARGO_BIN_EXE_sealbridge")
    );
    let mut cmd = Command::new("bash");
    support::clean_env(&mut cmd, tmp.path());
    let o = cmd
        .args(["-c", &script])
        .current_dir(&chart)
        .env("SOPS_AGE_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("from-a-sops-values-file"));
}

/// The Helm 4 post-renderer plugin (Helm 4 cannot be installed here): its manifest has the
/// shape Helm 4's subprocess runtime reads, and its command, fed a rendered stream the way
/// Helm feeds it, resolves it and fails closed.
#[test]
fn helm4_postrenderer_plugin_manifest_and_command() {
    let dir = support::project_root().join("plugins/helm/sealbridge-postrenderer");
    let manifest: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("plugin.yaml")).unwrap()).unwrap();
    assert_eq!(manifest["apiVersion"], "v1");
    assert_eq!(manifest["type"], "postrenderer/v1");
    assert_eq!(manifest["runtime"], "subprocess");
    let command = manifest["runtimeConfig"]["platformCommand"][0]["command"]
        .as_str()
        .unwrap();
    let script = dir.join(command.strip_prefix("${HELM_PLUGIN_DIR}/").unwrap());
    let run = |input: &[u8]| {
        let tmp = support::tempdir();
        let mut cmd = Command::new(&script);
        support::clean_env(&mut cmd, tmp.path());
        cmd.env("SEALBRIDGE_BIN", env!("CARGO_BIN_EXE_sealbridge"))
            .env("HELM_PLUGIN_DIR", &dir)
            .envs(support::openbao().env())
            .env("SEALBRIDGE_VAULT_TOKEN_CACHE", "false")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    let bao = support::openbao();
    let kv = bao.new_kv2();
    bao.kv2_put(&kv, "app", serde_json::json!({"pw": "helm4-secret"}));
    let o = run(format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  pw: <path:{kv}/data/app#pw>\n"
    )
    .as_bytes());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("helm4-secret"));
    let o = run(format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  pw: <path:{kv}/data/gone#pw>\n"
    )
    .as_bytes());
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
}
