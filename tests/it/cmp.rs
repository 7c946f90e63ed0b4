//! Argo CD config-management plugin: the shipped `plugins/argocd` files, run the way
//! argocd-cmp-server runs them, on the shipped `examples/argocd` applications.
//!
//! The harness follows argo-cd's `cmpserver/plugin/plugin.go`: `discover.find.command`,
//! `init` and `generate` are exec'd directly (`command[0]` with `command[1..] + args`, no
//! shell unless the plugin file itself says `sh -c`), with cwd = the application directory,
//! the sidecar's environment plus Argo CD's build environment, in a new process group;
//! discovery matches on exit 0 with non-empty stdout; generate's stdout (trailing newline
//! trimmed) is split into YAML documents and every one must be a Kubernetes object.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::support;

/// One parsed `plugin.yaml`.
pub struct Plugin {
    pub name: String,
    pub spec: Value,
    pub file: PathBuf,
}

pub fn plugin_dir() -> PathBuf {
    support::project_root().join("plugins/argocd/component/plugins")
}

pub fn load_plugin(name: &str) -> Plugin {
    let file = plugin_dir().join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let v: Value = serde_saphyr::from_str(&text).unwrap();
    // argo-cd ValidatePluginConfig.
    assert_eq!(
        v["apiVersion"],
        "argoproj.io/v1alpha1",
        "{}",
        file.display()
    );
    assert_eq!(v["kind"], "ConfigManagementPlugin", "{}", file.display());
    let pname = v["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(pname, name);
    assert!(
        v["spec"]["generate"]["command"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{name}: spec.generate.command must be non-empty"
    );
    Plugin {
        name: pname,
        spec: v["spec"].clone(),
        file,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The sidecar: a PATH with `sealbridge` (the binary under test), `kustomize` (kubectl's
/// embedded kustomize under the standalone CLI's name: `kustomize build ARGS` runs
/// `kubectl kustomize ARGS`), and the system's `sh`, `grep`, … ; the kustomize plugin home
/// made by the shipped `plugins/kustomize/install.sh`; the demo age key.
pub struct Sidecar {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl Sidecar {
    pub fn new() -> Sidecar {
        let dir = support::tempdir();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sealbridge"), bin.join("sealbridge"))
            .unwrap();
        let kubectl = support::kubectl();
        std::fs::write(
            bin.join("kustomize"),
            format!(
                "#!/bin/sh\n# kubectl's embedded kustomize under the standalone name.\n\
                 [ \"$1\" = build ] || {{ echo \"kustomize stand-in: only 'build' is supported\" >&2; exit 2; }}\n\
                 shift\nexec '{}' kustomize \"$@\"\n",
                kubectl.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            bin.join("kustomize"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let plugin_home = dir.path().join("kustomize-plugins");
        let out = Command::new(support::project_root().join("plugins/kustomize/install.sh"))
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_sealbridge"))
            .arg(&plugin_home)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "install.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_string(),
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        );
        env.insert("HOME".to_string(), home.display().to_string());
        env.insert(
            "KUSTOMIZE_PLUGIN_HOME".to_string(),
            plugin_home.display().to_string(),
        );
        env.insert(
            "SOPS_AGE_KEY_FILE".to_string(),
            support::project_root()
                .join("examples/argocd/demo-age-key.txt")
                .display()
                .to_string(),
        );
        Sidecar { dir, env }
    }

    /// Puts the real `helm` (installed by scripts/setup) on the sidecar's PATH.
    pub fn with_helm(self) -> Sidecar {
        std::os::unix::fs::symlink(support::tool("helm"), self.dir.path().join("bin/helm"))
            .unwrap();
        self
    }

    /// Adds the OpenBao address and token (the sidecar's own configuration).
    pub fn with_openbao(mut self) -> Sidecar {
        for (k, v) in support::openbao().env() {
            self.env.insert(k.to_string(), v);
        }
        self
    }

    /// The environment a plugin command runs with for one application: the sidecar's plus
    /// Argo CD's build environment ([`argo_env`]).
    pub fn app_env(&self, app: &str, source_path: &str, params: Value) -> BTreeMap<String, String> {
        let mut env = self.env.clone();
        env.extend(argo_env(app, source_path, params));
        env
    }
}

/// `kubectl kustomize --enable-alpha-plugins .` in `app` with exactly `env`: what kustomize
/// itself does with the tree (the traps the plugin guards against).
fn kubectl_kustomize_alpha(app: &Path, env: &BTreeMap<String, String>) -> Output {
    Command::new(support::kubectl())
        .args(["kustomize", "--enable-alpha-plugins", "."])
        .current_dir(app)
        .env_clear()
        .envs(env)
        .output()
        .unwrap()
}

/// Argo CD's build environment for an application (`reposerver/repository` newEnv +
/// getPluginEnvs + ApplicationSourcePluginParameters.Environ).
pub fn argo_env(app: &str, source_path: &str, params: Value) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("ARGOCD_APP_NAME", app),
        ("ARGOCD_APP_NAMESPACE", "guestbook"),
        ("ARGOCD_APP_PROJECT_NAME", "default"),
        (
            "ARGOCD_APP_REVISION",
            "4f1c7d0e9b2a6c8d5e3f1a7b9c0d2e4f6a8b1c3d",
        ),
        ("ARGOCD_APP_REVISION_SHORT", "4f1c7d0"),
        ("ARGOCD_APP_REVISION_SHORT_8", "4f1c7d0e"),
        (
            "ARGOCD_APP_SOURCE_REPO_URL",
            "https://git.example.com/platform/apps.git",
        ),
        ("ARGOCD_APP_SOURCE_PATH", source_path),
        ("ARGOCD_APP_SOURCE_TARGET_REVISION", "main"),
        ("KUBE_VERSION", "1.31.2"),
        ("KUBE_API_VERSIONS", "v1,apps/v1,apps/v1/Deployment"),
    ] {
        env.insert(k.to_string(), v.to_string());
    }
    env.insert("ARGOCD_APP_PARAMETERS".to_string(), params.to_string());
    for p in params.as_array().cloned().unwrap_or_default() {
        let base = format!(
            "PARAM_{}",
            p["name"]
                .as_str()
                .unwrap()
                .to_uppercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                })
                .collect::<String>()
        );
        if let Some(s) = p["string"].as_str() {
            env.insert(base.clone(), s.to_string());
        }
        if let Some(a) = p["array"].as_array() {
            for (i, v) in a.iter().enumerate() {
                env.insert(format!("{base}_{i}"), v.as_str().unwrap().to_string());
            }
        }
        if let Some(m) = p["map"].as_object() {
            for (k, v) in m {
                env.insert(
                    format!("{base}_{}", k.to_uppercase()),
                    v.as_str().unwrap().to_string(),
                );
            }
        }
    }
    env
}

/// runCommand: exec'd directly, cwd = app dir, env = sidecar + Argo CD, own process group.
pub fn run_step(step: &Value, app_dir: &Path, env: &BTreeMap<String, String>) -> Output {
    let command = strings(&step["command"]);
    let args = strings(&step["args"]);
    assert!(!command.is_empty(), "Command is empty");
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..])
        .args(&args)
        .current_dir(app_dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .process_group(0);
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command))
}

/// matchRepository with `discover.find.command`.
pub fn discovers(plugin: &Plugin, app_dir: &Path, env: &BTreeMap<String, String>) -> bool {
    let find = &plugin.spec["discover"]["find"];
    assert!(
        plugin.spec["discover"]["fileName"].is_null() && find["glob"].is_null(),
        "{}: the harness implements find.command discovery (what the shipped plugins use)",
        plugin.name
    );
    let out = run_step(find, app_dir, env);
    assert!(
        out.status.success(),
        "{}: discovery must never fail (Argo CD reports it as an error): {}",
        plugin.name,
        String::from_utf8_lossy(&out.stderr)
    );
    !String::from_utf8_lossy(&out.stdout)
        .trim_end_matches('\n')
        .is_empty()
}

/// generateManifest: init (if any), then generate; Ok(objects) or Err(stderr).
pub fn generate(
    plugin: &Plugin,
    app_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Vec<Value>, (Option<i32>, String, Vec<u8>)> {
    if plugin.spec["init"]["command"].is_array() {
        let out = run_step(&plugin.spec["init"], app_dir, env);
        if !out.status.success() {
            return Err((
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
                out.stdout,
            ));
        }
    }
    let out = run_step(&plugin.spec["generate"], app_dir, env);
    if !out.status.success() {
        return Err((
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.stdout,
        ));
    }
    let text = String::from_utf8(out.stdout).expect("generate printed non-UTF-8");
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text.trim_end_matches('\n')).unwrap_or_else(|e| {
            panic!(
                "{}: generate printed an invalid YAML stream: {e}",
                plugin.name
            )
        });
    let objects: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    for o in &objects {
        assert!(
            o["apiVersion"].is_string()
                && o["kind"].is_string()
                && o["metadata"]["name"].is_string(),
            "{}: generate printed something that is not a Kubernetes object",
            plugin.name
        );
    }
    Ok(objects)
}

/// Copies an example application into a fresh "repository" work dir (as argocd-cmp-server
/// extracts the tarball), returning (workdir guard, app dir).
pub fn checkout(example: &str) -> (tempfile::TempDir, PathBuf) {
    let work = support::tempdir();
    let src = support::project_root()
        .join("examples/argocd/apps")
        .join(example);
    let dst = work.path().join("examples/argocd/apps").join(example);
    copy_dir(&src, &dst);
    (work, dst)
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

#[test]
fn plugin_files_are_valid_and_use_no_shell_for_sealbridge_steps() {
    for name in ["sealbridge", "sealbridge-helm", "sealbridge-kustomize"] {
        let p = load_plugin(name);
        // Discovery runs sealbridge directly (no shell, no grep pipeline that could fail).
        assert_eq!(
            strings(&p.spec["discover"]["find"]["command"])[..3],
            ["sealbridge", "argocd", "discover"],
            "{}",
            p.file.display()
        );
        let generate = strings(&p.spec["generate"]["command"]);
        assert_eq!(generate[0], "sealbridge", "{name} needs no shell");
        assert!(
            p.spec["generate"]["args"].is_null(),
            "{name}: one command line"
        );
    }
}

#[test]
fn overlay_builds_offline_with_kubectl_kustomize() {
    let out = Command::new(support::kubectl())
        .arg("kustomize")
        .arg(support::project_root().join("plugins/argocd"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap();
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("plugin ConfigMap");
    let cm_name = cm["metadata"]["name"].as_str().unwrap();
    assert!(
        cm_name.starts_with("sealbridge-cmp-plugins-"),
        "hash suffix: {cm_name}"
    );
    assert_eq!(cm["metadata"]["namespace"], "argocd");
    let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(deploy["metadata"]["name"], "argocd-repo-server");
    let pod = &deploy["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert!(containers.iter().any(|c| c["name"] == "argocd-repo-server"));
    assert_eq!(
        deploy["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"],
        "argocd-repo-server"
    );
    let volumes = pod["volumes"].as_array().unwrap();
    let vol = |n: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == n)
            .unwrap_or_else(|| panic!("volume {n}"))
    };
    // The generated ConfigMap's hashed name is wired into the volume.
    assert_eq!(vol("sealbridge-cmp-plugins")["configMap"]["name"], cm_name);
    assert!(
        vol("sealbridge-vault-token")["projected"]["sources"][0]["serviceAccountToken"].is_object()
    );
    assert_eq!(vol("sealbridge-age-key")["secret"]["optional"], true);
    for variant in ["sealbridge", "sealbridge-helm", "sealbridge-kustomize"] {
        let c = containers
            .iter()
            .find(|c| c["name"] == variant)
            .unwrap_or_else(|| panic!("sidecar {variant}"));
        assert_eq!(c["command"], json!(["/var/run/argocd/argocd-cmp-server"]));
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsUser"], 999);
        assert_eq!(sc["runAsNonRoot"], true);
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        let mounts = c["volumeMounts"].as_array().unwrap();
        let mount = |p: &str| {
            mounts
                .iter()
                .find(|m| m["mountPath"] == p)
                .unwrap_or_else(|| panic!("{variant}: mount {p}"))
        };
        assert_eq!(mount("/var/run/argocd")["name"], "var-files");
        assert_eq!(mount("/home/argocd/cmp-server/plugins")["name"], "plugins");
        let cfg = mount("/home/argocd/cmp-server/config/plugin.yaml");
        let key = cfg["subPath"].as_str().unwrap();
        // The mounted plugin file is the shipped one with the sidecar's name.
        let shipped: Value = serde_saphyr::from_str(cm["data"][key].as_str().unwrap()).unwrap();
        assert_eq!(shipped["metadata"]["name"], variant);
        let tmp = mount("/tmp");
        assert_eq!(
            tmp["name"],
            format!("{variant}-tmp"),
            "own /tmp, not the repo-server's"
        );
        assert!(vol(tmp["name"].as_str().unwrap())["emptyDir"].is_object());
        assert_eq!(mount("/etc/sealbridge/age")["readOnly"], true);
        let env = c["env"].as_array().unwrap();
        assert!(
            env.iter().any(|e| e["name"] == "SOPS_AGE_KEY_FILE"
                && e["value"] == "/etc/sealbridge/age/keys.txt")
        );
    }
}

#[test]
fn dockerfile_installs_what_the_plugin_files_call() {
    let dockerfile =
        std::fs::read_to_string(support::project_root().join("plugins/argocd/Dockerfile")).unwrap();
    for needle in [
        "USER 999:999",
        "/usr/local/bin/sealbridge",
        "/usr/local/bin/helm",
        "kustomize",
        "plugins/kustomize/install.sh",
        "KUSTOMIZE_PLUGIN_HOME=/usr/local/lib/kustomize/plugin",
        "HELM_CACHE_HOME=/tmp",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks {needle:?}");
    }
    // Every COPY source exists in the repository.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let src = line.split_whitespace().nth(1).unwrap();
        assert!(
            support::project_root().join(src).exists(),
            "COPY {src}: no such path"
        );
    }
}

/// Both images (the CMP sidecar, the CI image the GitLab recipe names): a non-root user, an
/// exec-form entrypoint (no shell needed to start), every COPY source present, downloads
/// checked when a checksum is given, no `curl … | sh`.
#[test]
fn dockerfiles_run_as_non_root_and_copy_only_what_exists() {
    for file in ["plugins/argocd/Dockerfile", "examples/ci/Dockerfile"] {
        let text = std::fs::read_to_string(support::project_root().join(file)).unwrap();
        let user = text
            .lines()
            .filter_map(|l| l.strip_prefix("USER "))
            .next_back()
            .unwrap_or_else(|| panic!("{file}: no USER"));
        let uid: u32 = user
            .split(':')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{file}: USER {user} is not numeric"));
        assert_ne!(uid, 0, "{file}: runs as root");
        let entry = text
            .lines()
            .find_map(|l| l.strip_prefix("ENTRYPOINT "))
            .unwrap_or_else(|| panic!("{file}: no ENTRYPOINT"));
        assert!(
            entry.trim().starts_with('['),
            "{file}: ENTRYPOINT must be exec form"
        );
        for line in text
            .lines()
            .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        {
            let parts: Vec<&str> = line.split_whitespace().collect();
            for src in &parts[1..parts.len() - 1] {
                assert!(
                    support::project_root().join(src).exists(),
                    "{file}: COPY {src}: no such path"
                );
            }
        }
        let piped_to_shell = text.split('|').skip(1).any(|after| {
            let w = after.split_whitespace().next().unwrap_or("");
            w == "sh" || w == "bash"
        });
        assert!(!piped_to_shell, "{file}: pipes a download into a shell");
        let downloads = text.matches("curl -fsSLo").count();
        let checks = text.matches("sha256sum -c").count();
        assert_eq!(
            downloads, checks,
            "{file}: every download has a checksum check"
        );
    }
    let gitlab =
        std::fs::read_to_string(support::project_root().join("examples/ci/gitlab-ci.yaml"))
            .unwrap();
    assert!(
        gitlab.contains("sealbridge-ci"),
        "the recipe names the CI image"
    );
}

#[test]
fn discovery_picks_only_applications_with_references() {
    let sidecar = Sidecar::new();
    let cases = [
        ("plain", [true, false, false]),
        ("helm", [false, true, false]),
        ("kustomize", [false, false, true]),
        ("not-ours", [false, false, false]),
    ];
    for (example, expected) in cases {
        let (_work, app) = checkout(example);
        let env = app_env(&sidecar, example);
        for (plugin, want) in ["sealbridge", "sealbridge-helm", "sealbridge-kustomize"]
            .iter()
            .zip(expected)
        {
            let p = load_plugin(plugin);
            assert_eq!(discovers(&p, &app, &env), want, "{plugin} on {example}");
        }
    }
}

/// The secret the example applications reference: KV v2 mount `sealbridge-example`, path
/// `guestbook`, key `password` (created once per OpenBao server).
pub fn example_secret() -> &'static str {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let bao = support::openbao();
        let (status, _) = bao
            .try_request(
                "POST",
                "/v1/sys/mounts/sealbridge-example",
                Some(&json!({"type": "kv", "options": {"version": "2"}})),
            )
            .unwrap();
        assert!(status == 204 || status == 400, "mount: {status}");
        bao.kv2_put(
            "sealbridge-example",
            "guestbook",
            json!({"password": "s3cr3t-from-openbao"}),
        );
    });
    "s3cr3t-from-openbao"
}

fn find<'a>(objects: &'a [Value], kind: &str, name_prefix: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(name_prefix))
        })
        .unwrap_or_else(|| panic!("no {kind}/{name_prefix}* in {objects:#?}"))
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn app_env(sidecar: &Sidecar, example: &str) -> BTreeMap<String, String> {
    sidecar.app_env(
        &format!("guestbook-{example}"),
        &format!("examples/argocd/apps/{example}"),
        Value::Null,
    )
}

fn generated(plugin: &str, app: &Path, env: &BTreeMap<String, String>) -> Vec<Value> {
    let p = load_plugin(plugin);
    assert!(discovers(&p, app, env), "{plugin} must discover the app");
    generate(&p, app, env).unwrap_or_else(|(code, stderr, _)| {
        panic!("{plugin}: generate failed ({code:?}): {stderr}")
    })
}

fn refused(plugin: &str, app: &Path, env: &BTreeMap<String, String>) -> (Option<i32>, String) {
    let p = load_plugin(plugin);
    match generate(&p, app, env) {
        Ok(objects) => panic!("{plugin}: expected a failure, got {objects:#?}"),
        Err((code, stderr, stdout)) => {
            assert!(
                stdout.is_empty(),
                "{plugin}: a failed generate must print nothing, printed {}",
                String::from_utf8_lossy(&stdout)
            );
            assert_ne!(code, Some(0));
            (code, stderr)
        }
    }
}

#[test]
fn generate_plain_directory_resolves_openbao_and_sops_references() {
    let password = example_secret();
    let sidecar = Sidecar::new().with_openbao();
    let (_work, app) = checkout("plain");
    let objects = generated("sealbridge", &app, &app_env(&sidecar, "plain"));
    assert_eq!(objects.len(), 2, "the sops file itself is not a manifest");
    let secret = find(&objects, "Secret", "guestbook-credentials");
    assert_eq!(secret["stringData"]["password"], password);
    assert_eq!(secret["stringData"]["api-key"], "demo-api-key-123");
    assert_eq!(secret["stringData"]["endpoint"], "https://api.example.com");
    find(&objects, "Deployment", "guestbook");
}

#[test]
fn generate_kustomize_runs_the_legacy_generator_and_resolves_references() {
    let password = example_secret();
    let sidecar = Sidecar::new().with_openbao();
    let (_work, app) = checkout("kustomize");
    let objects = generated(
        "sealbridge-kustomize",
        &app,
        &app_env(&sidecar, "kustomize"),
    );
    let db = find(&objects, "Secret", "db-credentials-");
    let db_name = db["metadata"]["name"].as_str().unwrap();
    assert_ne!(db_name, "db-credentials", "kustomize's hash suffix");
    assert_eq!(b64(&db["data"]["DB_USER"]), "app");
    assert_eq!(b64(&db["data"]["DB_PASSWORD"]), "demo-db-password");
    assert_eq!(
        find(&objects, "Secret", "api")["stringData"]["password"],
        password
    );
    let deploy = find(&objects, "Deployment", "db-client");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"],
        db_name,
        "kustomize rewrote the reference to the hashed name"
    );
}

#[test]
fn generate_helm_renders_the_chart_and_resolves_references() {
    let password = example_secret();
    let sidecar = Sidecar::new().with_openbao().with_helm();
    let (_work, app) = checkout("helm");
    let objects = generated("sealbridge-helm", &app, &app_env(&sidecar, "helm"));
    assert_eq!(objects.len(), 1);
    let secret = find(&objects, "Secret", "guestbook-helm-credentials");
    assert_eq!(secret["metadata"]["namespace"], "guestbook");
    assert_eq!(secret["stringData"]["password"], password);

    // The release-name parameter (PARAM_RELEASE_NAME) is honoured.
    let env = sidecar.app_env(
        "guestbook-helm",
        "examples/argocd/apps/helm",
        json!([{"name": "release-name", "string": "shop"}]),
    );
    let objects = generated("sealbridge-helm", &app, &env);
    find(&objects, "Secret", "shop-credentials");
}

#[test]
fn a_failing_run_prints_nothing_and_fails_in_every_variant() {
    example_secret();
    let sidecar = Sidecar::new().with_openbao().with_helm();
    for (plugin, example) in [
        ("sealbridge", "plain"),
        ("sealbridge-kustomize", "kustomize"),
        ("sealbridge-helm", "helm"),
    ] {
        // A reference to a secret that does not exist.
        let (_work, app) = checkout(example);
        let file = match example {
            "plain" => app.join("secret.yaml"),
            "kustomize" => app.join("api-secret.yaml"),
            _ => app.join("values.yaml"),
        };
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace("data/guestbook#", "data/missing#")).unwrap();
        let (code, stderr) = refused(plugin, &app, &app_env(&sidecar, example));
        assert_eq!(code, Some(1), "{plugin}: {stderr}");
        assert!(
            stderr.contains("sealbridge-example/data/missing#password"),
            "{plugin}: names the reference: {stderr}"
        );
    }
    // Without the age key the sops files cannot be decrypted.
    let mut no_key = sidecar.env.clone();
    no_key.remove("SOPS_AGE_KEY_FILE");
    for (plugin, example) in [
        ("sealbridge", "plain"),
        ("sealbridge-kustomize", "kustomize"),
    ] {
        let (_work, app) = checkout(example);
        let mut env = no_key.clone();
        env.extend(argo_env("guestbook", example, Value::Null));
        let (_, stderr) = refused(plugin, &app, &env);
        assert!(
            stderr.contains(".enc."),
            "{plugin}: names the file: {stderr}"
        );
        assert!(!stderr.contains("demo-"), "{plugin}: no values: {stderr}");
    }
}

#[test]
fn an_application_without_objects_is_refused_not_printed_empty() {
    let sidecar = Sidecar::new();
    let (_work, app) = checkout("plain");
    for f in ["deployment.yaml", "secret.yaml"] {
        std::fs::remove_file(app.join(f)).unwrap();
    }
    // Named explicitly (no discovery): only the sops file is left, no Kubernetes object.
    let (code, stderr) = refused("sealbridge", &app, &app_env(&sidecar, "plain"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no Kubernetes objects"), "{stderr}");
    assert!(
        stderr.contains("guestbook-plain"),
        "names the app: {stderr}"
    );
}

#[test]
fn an_application_cannot_override_guarded_settings_through_plugin_env() {
    example_secret();
    let sidecar = Sidecar::new().with_openbao();
    let (_work, app) = checkout("plain");
    let mut env = app_env(&sidecar, "plain");
    env.insert(
        "ARGOCD_ENV_VAULT_ADDR".to_string(),
        "http://attacker.example:8200".to_string(),
    );
    let (code, stderr) = refused("sealbridge", &app, &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("ARGOCD_ENV_VAULT_ADDR"), "{stderr}");

    // An allow-listed option is accepted.
    let mut env = app_env(&sidecar, "plain");
    env.insert("ARGOCD_ENV_AVP_KV_VERSION".to_string(), "2".to_string());
    let objects = generated("sealbridge", &app, &env);
    assert_eq!(objects.len(), 2);
}

#[test]
fn sigterm_ends_generate_promptly_with_nothing_on_stdout() {
    use std::io::Read;
    use std::time::Duration;
    // A "Vault" that accepts connections and never answers: generate is stuck in a fetch.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let mut sidecar = Sidecar::new();
    sidecar.env.insert("VAULT_ADDR".to_string(), addr);
    sidecar
        .env
        .insert("VAULT_TOKEN".to_string(), "s.placeholder".to_string());
    let (_work, app) = checkout("plain");
    let env = app_env(&sidecar, "plain");
    let p = load_plugin("sealbridge");
    let command = strings(&p.spec["generate"]["command"]);
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .current_dir(&app)
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut held = Vec::new();
    support::poll(
        Duration::from_secs(60),
        "generate to call Vault",
        || match listener.accept() {
            Ok((conn, _)) => {
                held.push(conn);
                Some(())
            }
            Err(_) => None,
        },
    );
    // argocd-cmp-server at its deadline: SIGTERM to the command's process group.
    let kill = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = support::poll(Duration::from_secs(10), "generate to exit", || {
        child.try_wait().unwrap()
    });
    assert!(!status.success());
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

/// A generator config whose kind climbs out of the plugin home to a program of the
/// repository's choosing (here a canary script that leaves a marker).
fn plugin_traversal_app(work: &Path, canary_dir: &Path) -> PathBuf {
    let script = canary_dir.join("evil");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    let marker = canary_dir.join("ran");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch {}\necho 'kind: ConfigMap'\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let up = "../".repeat(40);
    let kind = format!(
        "{up}{}",
        script.display().to_string().trim_start_matches('/')
    );
    let app = work.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources: [cm.yaml]\ngenerators: [gen.yaml]\n",
    )
    .unwrap();
    std::fs::write(
        app.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: <path:kv/x#y>\n",
    )
    .unwrap();
    std::fs::write(
        app.join("gen.yaml"),
        format!("apiVersion: x/v1\nkind: {kind}\nmetadata:\n  name: g\n"),
    )
    .unwrap();
    app
}

#[test]
fn kustomize_plugin_kind_traversal_cannot_choose_the_executable() {
    let plugin = load_plugin("sealbridge-kustomize");
    let work = support::tempdir();
    let canary = support::tempdir();
    let canary_dir = canary.path().join("canary");
    let app = plugin_traversal_app(work.path(), &canary_dir);
    let marker = canary_dir.join("ran");
    let sidecar = Sidecar::new();
    let env = sidecar.app_env("traversal", "app", Value::Null);

    // The hole this guards: kustomize with exec plugins on runs the kind's path.
    let out = kubectl_kustomize_alpha(&app, &env);
    assert!(
        marker.exists(),
        "kubectl kustomize --enable-alpha-plugins should run the kind's path: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&marker).unwrap();

    // The plugin reads the tree first and refuses it, naming the file and the kind.
    let (code, stderr, stdout) = generate(&plugin, &app, &env).unwrap_err();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(!marker.exists(), "the repository chose the executable");
    assert!(
        stderr.contains("gen.yaml") && stderr.contains("../../"),
        "{stderr}"
    );
    // Also when the generator sits in a base next to an allowed one (exec plugins needed).
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources: [cm.yaml]\ngenerators: [ok.yaml, gen.yaml]\n",
    )
    .unwrap();
    std::fs::write(
        app.join("ok.yaml"),
        "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata: {name: s}\nenvs: []\n",
    )
    .unwrap();
    let (code, stderr, _) = generate(&plugin, &app, &env).unwrap_err();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!marker.exists(), "the repository chose the executable");
}

/// A kustomization with a generator file and one more kustomization file entry.
fn generator_app(work: &Path, kustomization: &str, files: &[(&str, &str)]) -> PathBuf {
    let app = work.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("kustomization.yaml"), kustomization).unwrap();
    for (name, text) in files {
        let p = app.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    app
}

#[test]
fn kustomize_krm_function_generators_are_refused_not_silently_skipped() {
    // kustomize --enable-alpha-plugins without --enable-exec skips a KRM-function ksops config
    // and renders without its Secret; the plugin refuses the tree instead.
    let work = support::tempdir();
    let ksops = "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: k\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ksops\nfiles: [secret.enc.yaml]\n";
    let app = generator_app(
        work.path(),
        "resources: [cm.yaml]\ngenerators: [ksops.yaml]\n",
        &[
            (
                "cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
            ),
            ("ksops.yaml", ksops),
        ],
    );
    let sidecar = Sidecar::new();
    let env = sidecar.app_env("krm-form", "app", Value::Null);
    let out = kubectl_kustomize_alpha(&app, &env);
    assert!(
        out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("Secret"),
        "kustomize's silent skip (the trap this guards): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, stderr, stdout) =
        generate(&load_plugin("sealbridge-kustomize"), &app, &env).unwrap_err();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("app/ksops.yaml") && stderr.contains("KRM function"),
        "{stderr}"
    );
}

#[test]
fn kustomize_remote_bases_and_outside_entries_are_refused() {
    let plugin = load_plugin("sealbridge-kustomize");
    let sidecar = Sidecar::new();
    let env = sidecar.app_env("remote", "app", Value::Null);
    let cm = (
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: <path:kv/x#y>\n",
    );
    for (k, want) in [
        // A remote base would be fetched from the sidecar's network position.
        (
            "resources: [cm.yaml, \"https://127.0.0.1:9/org/repo//base?ref=v1\"]\n",
            "SEALBRIDGE_KUSTOMIZE_REMOTE",
        ),
        // A directory of the sidecar's file system.
        ("resources: [cm.yaml, /etc]\n", "is absolute"),
        (
            "resources: [cm.yaml, ../../../../../../etc]\n",
            "outside the repository",
        ),
    ] {
        let work = support::tempdir();
        let app = generator_app(work.path(), k, &[cm]);
        let (code, stderr, stdout) = generate(&plugin, &app, &env).unwrap_err();
        assert_eq!(code, Some(1), "{k}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains(want), "{k}: {stderr}");
    }
    // The operator's options cannot switch exec functions on.
    let work = support::tempdir();
    let app = generator_app(work.path(), "resources: [cm.yaml]\n", &[cm]);
    let mut env2 = env.clone();
    env2.insert("KUSTOMIZE_BUILD_OPTIONS".into(), "--enable-exec".into());
    let (code, stderr, _) = generate(&plugin, &app, &env2).unwrap_err();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--enable-exec"), "{stderr}");
}
