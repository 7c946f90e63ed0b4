//! The shipped `sealbridge-helm` plugin under attack: Application parameters and names that try
//! to become helm flags (`--set-file`, `--post-renderer`), values files that are URLs (SSRF) or
//! that leave the application directory. Each run goes through the CMP harness (tests/it/cmp.rs:
//! exactly what argocd-cmp-server does) with the real helm.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cmp::{Sidecar, checkout, example_secret, generate, load_plugin};

const CANARY: &str = "CANARY-7f3a9c-sidecar-file";

/// A sidecar file the Application must never read, a post-renderer that would leave a marker,
/// and a template in the (attacker-controlled) chart that would print `.Values.x`.
struct Attack {
    sidecar: Sidecar,
    canary: PathBuf,
    canary_values: PathBuf,
    script: PathBuf,
    marker: PathBuf,
}

impl Attack {
    fn new() -> Attack {
        example_secret();
        let sidecar = Sidecar::new().with_openbao().with_helm();
        let d = sidecar.dir.path().to_path_buf();
        let canary = d.join("canary.txt");
        std::fs::write(&canary, CANARY).unwrap();
        let canary_values = d.join("canary-values.yaml");
        std::fs::write(&canary_values, format!("x: {CANARY}\n")).unwrap();
        let marker = d.join("post-renderer-ran");
        let script = d.join("post-renderer.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\ntouch '{}'\nexec cat\n", marker.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        Attack {
            sidecar,
            canary,
            canary_values,
            script,
            marker,
        }
    }

    fn app(&self) -> (tempfile::TempDir, PathBuf) {
        let (work, app) = checkout("helm");
        std::fs::write(
            app.join("templates/leak.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  x: {{ .Values.x | default \"none\" | quote }}\n",
        )
        .unwrap();
        (work, app)
    }

    fn env(&self, app_name: &str, params: Value) -> BTreeMap<String, String> {
        self.sidecar
            .app_env(app_name, "examples/argocd/apps/helm", params)
    }

    /// Runs the plugin; asserts it failed with nothing leaked and nothing executed.
    fn refused(
        &self,
        app: &Path,
        env: &BTreeMap<String, String>,
        what: &str,
    ) -> (Option<i32>, String) {
        let p = load_plugin("sealbridge-helm");
        let result = generate(&p, app, env);
        assert!(
            !self.marker.exists(),
            "{what}: the Application made helm run a program of its choice"
        );
        match result {
            Ok(objects) => {
                let text = format!("{objects:?}");
                assert!(
                    !text.contains(CANARY),
                    "{what}: a sidecar file leaked: {text}"
                );
                panic!("{what}: expected a refusal, got {objects:#?}");
            }
            Err((code, stderr, stdout)) => {
                assert!(
                    stdout.is_empty(),
                    "{what}: a failed generate must print nothing, printed {}",
                    String::from_utf8_lossy(&stdout)
                );
                assert!(!stderr.contains(CANARY), "{what}: {stderr}");
                assert_ne!(code, Some(0), "{what}");
                (code, stderr)
            }
        }
    }
}

#[test]
fn helm_release_name_flag_injection_is_refused() {
    let a = Attack::new();
    for release in [
        format!("--set-file=x={}", a.canary.display()),
        format!("--post-renderer={}", a.script.display()),
        "-".to_owned(),
    ] {
        let (_work, app) = a.app();
        let env = a.env(
            "guestbook-helm",
            json!([{"name": "release-name", "string": release}]),
        );
        let (code, stderr) = a.refused(&app, &env, &release);
        assert_eq!(code, Some(2), "{release}: {stderr}");
        assert!(
            stderr.contains("release-name"),
            "{release}: names the parameter: {stderr}"
        );
    }
}

#[test]
fn helm_values_file_url_is_refused() {
    let a = Attack::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for url in [
        format!("http://127.0.0.1:{port}/values.yaml"),
        format!("https://127.0.0.1:{port}/values.yaml"),
        format!("http:127.0.0.1:{port}/values.yaml"),
    ] {
        let (_work, app) = a.app();
        let env = a.env(
            "guestbook-helm",
            json!([{"name": "values-files", "array": [url]}]),
        );
        let (code, stderr) = a.refused(&app, &env, &url);
        assert_eq!(code, Some(2), "{url}: {stderr}");
        assert!(stderr.contains("values-files"), "{url}: {stderr}");
    }
    // Every run has ended: a connection helm made would be waiting in the backlog.
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Ok((_, peer)) => panic!("helm fetched a values file from a URL (connection from {peer})"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
}

#[test]
fn helm_values_file_outside_the_app_is_refused() {
    let a = Attack::new();
    for case in [
        "dotdot",
        "absolute",
        "dash-set-file",
        "dash-stdin",
        "symlink",
        "directory",
    ] {
        let (work, app) = a.app();
        // A file beside the app in the checkout: reachable with `..`.
        std::fs::copy(
            &a.canary_values,
            work.path().join("examples/argocd/apps/up.yaml"),
        )
        .unwrap();
        let value = match case {
            "dotdot" => "../up.yaml".to_owned(),
            "absolute" => a.canary_values.display().to_string(),
            "dash-set-file" => format!("--set-file=x={}", a.canary.display()),
            "dash-stdin" => "-".to_owned(),
            "symlink" => {
                std::os::unix::fs::symlink(&a.canary_values, app.join("link.yaml")).unwrap();
                "link.yaml".to_owned()
            }
            _ => "templates".to_owned(),
        };
        let env = a.env(
            "guestbook-helm",
            json!([{"name": "values-files", "array": ["values.yaml", value]}]),
        );
        let (code, stderr) = a.refused(&app, &env, case);
        assert_eq!(code, Some(2), "{case}: {stderr}");
        assert!(
            stderr.contains("values-files[1]"),
            "{case}: names the parameter: {stderr}"
        );
    }
}

#[test]
fn helm_app_name_default_release_is_validated() {
    let a = Attack::new();
    // No release-name parameter: the Application's name is the default release name.
    for name in [
        format!("--post-renderer={}", a.script.display()),
        format!("--set-file=x={}", a.canary.display()),
        "Guestbook".to_owned(),
        "x".repeat(54),
    ] {
        let (_work, app) = a.app();
        let env = a.env(&name, Value::Null);
        let (code, stderr) = a.refused(&app, &env, &name);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains("release-name"),
            "{name}: says what to set: {stderr}"
        );
    }
    // An Application outside Argo CD's namespace is named `<namespace>_<name>`: the release is
    // `<name>`.
    let (_work, app) = a.app();
    let env = a.env("team-a_guestbook-helm", Value::Null);
    let objects = generate(&load_plugin("sealbridge-helm"), &app, &env)
        .unwrap_or_else(|(code, stderr, _)| panic!("generate failed ({code:?}): {stderr}"));
    assert!(
        objects
            .iter()
            .any(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "guestbook-helm-credentials"),
        "{objects:#?}"
    );
    // Values files and skip-crds that are valid still work.
    let (_work, app) = a.app();
    std::fs::write(app.join("extra.yaml"), "x: fine\n").unwrap();
    let env = a.env(
        "guestbook-helm",
        json!([
            {"name": "values-files", "array": ["values.yaml", "./extra.yaml"]},
            {"name": "skip-crds", "string": "true"}
        ]),
    );
    let objects = generate(&load_plugin("sealbridge-helm"), &app, &env)
        .unwrap_or_else(|(code, stderr, _)| panic!("generate failed ({code:?}): {stderr}"));
    assert!(
        objects
            .iter()
            .any(|o| o["kind"] == "ConfigMap" && o["data"]["x"] == "fine"),
        "{objects:#?}"
    );
    let env = a.env(
        "guestbook-helm",
        json!([{"name": "skip-crds", "string": "--post-renderer=x"}]),
    );
    let (code, stderr) = a.refused(&app, &env, "skip-crds");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("skip-crds"), "{stderr}");
}

#[test]
fn helm_failure_is_forwarded_and_prints_nothing() {
    let a = Attack::new();
    let (_work, app) = a.app();
    std::fs::write(
        app.join("templates/broken.yaml"),
        "{{ .Values.x | nosuchfunc }}\n",
    )
    .unwrap();
    let env = a.env("guestbook-helm", Value::Null);
    let (code, stderr) = a.refused(&app, &env, "broken chart");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("nosuchfunc"),
        "helm's message is shown: {stderr}"
    );
    assert!(stderr.contains("helm template failed"), "{stderr}");

    // `-` (the rendered stream on stdin) still works for custom plugin files.
    let (_work, app) = a.app();
    let rendered = std::process::Command::new(crate::support::tool("helm"))
        .args(["template", "guestbook-helm", "."])
        .current_dir(&app)
        .output()
        .unwrap();
    assert!(rendered.status.success());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sealbridge"))
        .args(["argocd", "generate", "--kind", "helm", "-"])
        .current_dir(&app)
        .env_clear()
        .envs(&env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &rendered.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(example_secret()));
}

#[test]
fn helm_binary_cannot_be_chosen_by_the_application() {
    let a = Attack::new();
    let (_work, app) = a.app();
    let mut env = a.env("guestbook-helm", Value::Null);
    env.insert(
        "ARGOCD_ENV_SEALBRIDGE_HELM".to_owned(),
        a.script.display().to_string(),
    );
    let (code, stderr) = a.refused(&app, &env, "ARGOCD_ENV_SEALBRIDGE_HELM");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("SEALBRIDGE_HELM"), "{stderr}");
}

/// Adds a dependency with `repository` to the chart's Chart.yaml.
fn with_dependency(app: &Path, repository: &str) {
    let chart = app.join("Chart.yaml");
    let mut text = std::fs::read_to_string(&chart).unwrap();
    text.push_str(&format!(
        "dependencies:\n  - name: sub\n    version: 0.1.0\n    repository: \"{repository}\"\n"
    ));
    std::fs::write(&chart, text).unwrap();
}

/// A loopback server that counts the connections made to it and closes each at once.
struct Listener {
    addr: std::net::SocketAddr,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Listener {
    fn new() -> Listener {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        std::thread::spawn(move || {
            for stream in l.incoming() {
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        Listener { addr, count }
    }

    fn url(&self) -> String {
        format!("http://{}/charts", self.addr)
    }

    /// Connections so far (read after the client process exited: it connected before).
    fn connections(&self) -> usize {
        self.count.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn helm_dependency_repository_urls_are_not_fetched_from_the_sidecar() {
    let a = Attack::new();
    let listener = Listener::new();
    let (_work, app) = a.app();
    with_dependency(&app, &listener.url());
    let env = a.env("guestbook-helm", Value::Null);

    // The hole: `helm dependency build` (the former init step) fetches the repository's URL.
    let out = std::process::Command::new(crate::support::tool("helm"))
        .args(["dependency", "build"])
        .current_dir(&app)
        .env_clear()
        .envs(&env)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        listener.connections() > 0,
        "helm dependency build should have contacted the chart's URL: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, stderr) = a.refused(&app, &env, "dependency URL");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("SEALBRIDGE_HELM_REPOSITORIES") && stderr.contains("dependencies[0]"),
        "{stderr}"
    );
    assert_eq!(listener.connections(), 0, "the sidecar fetched the URL");

    // The operator's list lets it through to helm (which then fails on the silent server).
    let mut env2 = env.clone();
    env2.insert("SEALBRIDGE_HELM_REPOSITORIES".to_owned(), listener.url());
    let _ = a.refused(&app, &env2, "listed URL, no chart there");
    assert!(listener.connections() > 0, "a listed repository is fetched");
}

#[test]
fn helm_file_dependencies_stay_inside_the_repository() {
    let a = Attack::new();
    let env = a.env("guestbook-helm", Value::Null);
    // A chart elsewhere on the sidecar (another checkout, a system directory).
    let outside = a.sidecar.dir.path().join("other-repo/chart");
    std::fs::create_dir_all(outside.join("templates")).unwrap();
    std::fs::write(
        outside.join("Chart.yaml"),
        "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        outside.join("templates/cm.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  x: {CANARY}\n"
        ),
    )
    .unwrap();
    for repo in [
        format!("file://{}", outside.display()),
        format!(
            "file://{}{}",
            "../".repeat(30),
            outside.display().to_string().trim_start_matches('/')
        ),
    ] {
        let (_work, app) = a.app();
        with_dependency(&app, &repo);
        let (code, stderr) = a.refused(&app, &env, &repo);
        assert_eq!(code, Some(1), "{repo}: {stderr}");
        assert!(stderr.contains("repository"), "{repo}: {stderr}");
    }
    // A subchart inside the repository is built and rendered.
    let (work, app) = a.app();
    let sub = work.path().join("charts-common/sub");
    crate::cmp::copy_dir(&outside, &sub);
    std::fs::write(
        sub.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  x: y\n",
    )
    .unwrap();
    with_dependency(&app, "file://../../../../charts-common/sub");
    let objects = generate(&load_plugin("sealbridge-helm"), &app, &env).unwrap_or_else(|e| {
        panic!("{}", e.1);
    });
    assert!(
        objects.iter().any(|o| o["metadata"]["name"] == "shared"),
        "{objects:#?}"
    );
}

/// A stand-in helm (operator-configured via SEALBRIDGE_HELM) that starts a grandchild, records
/// its pid, and never finishes.
fn slow_tool(dir: &Path) -> (PathBuf, PathBuf) {
    let pid_file = dir.join("grandchild.pid");
    let fake = dir.join("slow-tool");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nsleep 600 >/dev/null 2>&1 </dev/null &\necho $! > '{}'\nwhile :; do sleep 1; done\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (fake, pid_file)
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn helm_and_its_children_cannot_outlive_the_run_deadline() {
    let a = Attack::new();
    let (_work, app) = a.app();
    let (fake, pid_file) = slow_tool(a.sidecar.dir.path());
    let mut env = a.env("guestbook-helm", Value::Null);
    env.insert("SEALBRIDGE_HELM".to_owned(), fake.display().to_string());
    env.insert("SEALBRIDGE_DEADLINE".to_owned(), "2s".to_owned());
    let (code, stderr) = a.refused(&app, &env, "slow helm");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("deadline"), "{stderr}");
    let pid = std::fs::read_to_string(&pid_file).expect("the stand-in started its child");
    // generate has exited: the whole process group must be gone (a grandchild kept alive
    // would hold the sidecar's resources after Argo CD gave up).
    crate::support::poll(
        std::time::Duration::from_secs(10),
        "helm's grandchild to be killed",
        || (!alive(&pid)).then_some(()),
    );
}

#[test]
fn helm_output_over_the_limit_is_refused_and_helm_stopped() {
    let a = Attack::new();
    let (_work, app) = a.app();
    let fake = a.sidecar.dir.path().join("chatty-helm");
    std::fs::write(&fake, "#!/bin/sh\nexec yes 'kind: ConfigMap'\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut env = a.env("guestbook-helm", Value::Null);
    env.insert("SEALBRIDGE_HELM".to_owned(), fake.display().to_string());
    env.insert("SEALBRIDGE_MAX_OUTPUT".to_owned(), "1MiB".to_owned());
    let (code, stderr) = a.refused(&app, &env, "endless helm output");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("SEALBRIDGE_MAX_OUTPUT"), "{stderr}");
}

/// The demo key's recipient (the sidecar's SOPS_AGE_KEY_FILE).
fn demo_recipient() -> String {
    let key = crate::support::project_root().join("examples/argocd/demo-age-key.txt");
    std::fs::read_to_string(key)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .expect("the demo key file names its public key")
}

/// Encrypts `plain` into `app/name` for the demo key with sealbridge.
fn sops_values(app: &Path, name: &str, plain: &str) {
    let dir = crate::support::tempdir();
    std::fs::write(dir.path().join("v.yaml"), plain).unwrap();
    let home = crate::support::tempdir();
    let o = crate::support::sealbridge(home.path())
        .current_dir(dir.path())
        .args(["encrypt", "--age", &demo_recipient(), "v.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(app.join(name), o.stdout).unwrap();
}

#[test]
fn helm_sops_values_files_are_decrypted_into_fifos_never_onto_disk() {
    let a = Attack::new();
    let plugin = load_plugin("sealbridge-helm");
    let tmp = crate::support::tempdir();
    for (entry, file) in [
        ("secrets://secrets.enc.yaml", "secrets.enc.yaml"),
        // A plain entry naming a sops file is decrypted too (helm would template ENC[…]).
        ("values.sops.yaml", "values.sops.yaml"),
    ] {
        let (_work, app) = a.app();
        sops_values(&app, file, "x: helm-sops-value-42\n");
        let mut env = a.env(
            "guestbook-helm",
            json!([{"name": "values-files", "array": [entry]}]),
        );
        env.insert("TMPDIR".to_owned(), tmp.path().display().to_string());
        let objects = generate(&plugin, &app, &env).unwrap_or_else(|e| panic!("{entry}: {}", e.1));
        let leak = objects
            .iter()
            .find(|o| o["metadata"]["name"] == "leak")
            .unwrap();
        assert_eq!(leak["data"]["x"], "helm-sops-value-42", "{entry}");
        // Nothing of it stays in the temporary directory.
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "{entry}: left behind: {left:?}");
    }
    // secrets:// naming a file that is not sops-encrypted fails, as helm-secrets does.
    let (_work, app) = a.app();
    std::fs::write(app.join("plain.yaml"), "x: plain\n").unwrap();
    let env = a.env(
        "guestbook-helm",
        json!([{"name": "values-files", "array": ["secrets://plain.yaml"]}]),
    );
    let (code, stderr) = a.refused(&app, &env, "secrets:// of a plain file");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("plain.yaml"), "{stderr}");
    // …and secrets:// cannot leave the application directory.
    let env = a.env(
        "guestbook-helm",
        json!([{"name": "values-files", "array": [format!("secrets://{}", a.canary_values.display())]}]),
    );
    let (code, _) = a.refused(&app, &env, "secrets:// absolute");
    assert_eq!(code, Some(2));
}

#[test]
fn helm_inline_values_parameter_is_data() {
    let a = Attack::new();
    let plugin = load_plugin("sealbridge-helm");
    let (_work, app) = a.app();
    let env = a.env(
        "guestbook-helm",
        json!([{"name": "values", "string": "x: from-the-values-parameter\n"}]),
    );
    let objects = generate(&plugin, &app, &env).unwrap_or_else(|e| panic!("{}", e.1));
    let leak = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "leak")
        .unwrap();
    assert_eq!(leak["data"]["x"], "from-the-values-parameter");
    // Not a mapping: refused before helm runs.
    let env = a.env(
        "guestbook-helm",
        json!([{"name": "values", "string": "--set-file=x=/etc/passwd"}]),
    );
    let (code, stderr) = a.refused(&app, &env, "values not a mapping");
    assert_eq!(code, Some(2), "{stderr}");
}
