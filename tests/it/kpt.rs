//! kpt: the KRM function under the real `kpt fn eval --exec` and `kpt fn render --allow-exec`,
//! on the shipped `examples/kpt/package`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support;

/// A directory with `sealbridge` on PATH (kpt resolves a bare exec name through PATH).
pub fn bin_dir(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sealbridge"), bin.join("sealbridge")).unwrap();
    bin
}

/// Runs kpt in `cwd` with a clean environment, sealbridge on PATH and the demo age key.
pub fn kpt(cwd: &Path, args: &[&str], key: Option<&Path>) -> Output {
    kpt_env(cwd, args, key, &[])
}

/// [`kpt`] with extra environment variables (e.g. the OpenBao address and token).
pub fn kpt_env(cwd: &Path, args: &[&str], key: Option<&Path>, env: &[(&str, String)]) -> Output {
    let tmp = support::tempdir();
    let bin = bin_dir(tmp.path());
    let mut cmd = Command::new(support::kpt());
    support::clean_env(&mut cmd, tmp.path());
    let key = key
        .map(Path::to_path_buf)
        .unwrap_or_else(|| support::project_root().join("examples/kpt/demo-age-key.txt"));
    cmd.current_dir(cwd)
        .args(args)
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .env("SOPS_AGE_KEY_FILE", key);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A copy of the example package (kpt must never write into the repository).
pub fn package() -> (tempfile::TempDir, PathBuf) {
    let t = support::tempdir();
    let dst = t.path().join("package");
    crate::cmp::copy_dir(&support::project_root().join("examples/kpt/package"), &dst);
    (t, dst)
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn eval_failure_reports_results_and_writes_nothing() {
    let (_t, pkg) = package();
    std::fs::write(
        pkg.join("bad-generator.yaml"),
        "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata:\n  name: bad\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nfiles: [../../etc/passwd]\n",
    )
    .unwrap();
    let before = listing(&pkg);
    // Even in kpt's default in-place mode a failing function changes no file.
    let out = kpt(
        &pkg,
        &[
            "fn",
            "eval",
            ".",
            "--exec",
            "sealbridge",
            "--fn-config",
            "bad-generator.yaml",
        ],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[FAIL]"), "{err}");
    // The function's `results` entry, as kpt prints it.
    assert!(err.contains("[error]: SecretGenerator/bad: file"), "{err}");
    assert!(err.contains("relative paths inside"), "{err}");
    assert_eq!(listing(&pkg), before, "the package must be unchanged");
}

#[test]
fn render_refuses_exec_without_allow_exec() {
    let (_t, pkg) = package();
    let out = kpt(&pkg, &["fn", "render", ".", "-o", "unwrap"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("allow-exec"));
}

fn unwrap_docs(out: &Output) -> Vec<serde_json::Value> {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    serde_saphyr::from_multiple::<serde_json::Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn db_secret(docs: &[serde_json::Value]) -> &serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == "db-credentials")
        .expect("the generated Secret")
}

fn decoded(v: &serde_json::Value) -> String {
    use base64::Engine as _;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn eval_exec_generates_the_secret_on_stdout_and_leaves_the_package_alone() {
    let (_t, pkg) = package();
    let before = listing(&pkg);
    let out = kpt(
        &pkg,
        &[
            "fn",
            "eval",
            ".",
            "--exec",
            "sealbridge",
            "--fn-config",
            "secret-generator.yaml",
            "-o",
            "unwrap",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "kpt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = unwrap_docs(&out);
    let s = db_secret(&docs);
    assert_eq!(decoded(&s["data"]["DB_PASSWORD"]), "demo-db-password");
    assert_eq!(decoded(&s["data"]["DB_USER"]), "app");
    assert!(s["metadata"]["annotations"]["kustomize.config.k8s.io/needs-hash"].is_null());
    assert!(
        docs.iter().any(|d| d["kind"] == "Deployment"),
        "package resources pass through"
    );
    assert_eq!(
        listing(&pkg),
        before,
        "-o unwrap writes nothing into the package"
    );
}

#[test]
fn eval_in_place_would_write_the_plaintext_into_the_package() {
    // The reason docs/kustomize.md insists on `-o unwrap`: kpt's default output mode.
    let (_t, pkg) = package();
    let out = kpt(
        &pkg,
        &[
            "fn",
            "eval",
            ".",
            "--exec",
            "sealbridge",
            "--fn-config",
            "secret-generator.yaml",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "kpt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: Vec<String> = listing(&pkg)
        .into_iter()
        .filter(|(_, body)| String::from_utf8_lossy(body).contains("kind: Secret"))
        .map(|(name, _)| name)
        .collect();
    assert!(!written.is_empty(), "kpt wrote the Secret into the package");
}

#[test]
fn render_runs_the_kptfile_pipeline() {
    let (_t, pkg) = package();
    let before = listing(&pkg);
    let out = kpt(
        &pkg,
        &["fn", "render", ".", "--allow-exec", "-o", "unwrap"],
        None,
    );
    assert!(
        out.status.success(),
        "kpt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = unwrap_docs(&out);
    let s = db_secret(&docs);
    assert_eq!(decoded(&s["data"]["DB_PASSWORD"]), "demo-db-password");
    assert_eq!(listing(&pkg), before);
}

#[test]
fn render_from_another_directory_resolves_files_next_to_the_config() {
    // Under render the function sees the package path: files are relative to the config file,
    // wherever kpt runs.
    let (t, pkg) = package();
    let out = kpt(
        t.path(),
        &[
            "fn",
            "render",
            pkg.file_name().unwrap().to_str().unwrap(),
            "--allow-exec",
            "-o",
            "unwrap",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "kpt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        decoded(&db_secret(&unwrap_docs(&out))["data"]["DB_USER"]),
        "app"
    );
}

/// A package item with secret references of every kind the engine reads.
const REFERENCES: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: app
type: Opaque
stringData:
  password: <path:MOUNT/data/app#password>
  db-user: ref+sops://db.enc.env#/DB_USER
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-settings
  annotations:
    avp.kubernetes.io/path: MOUNT/data/app
data:
  replicas: <replicas>
";

#[test]
fn eval_exec_as_transformer_resolves_references_in_every_item() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(
        &mount,
        "app",
        serde_json::json!({"password": "from-openbao", "replicas": "3"}),
    );
    let (_t, pkg) = package();
    std::fs::write(pkg.join("app.yaml"), REFERENCES.replace("MOUNT", &mount)).unwrap();
    let before = listing(&pkg);
    let env: Vec<(&str, String)> = bao.env().into_iter().collect();
    // No --fn-config: transformer mode over every item of the package.
    let out = kpt_env(
        &pkg,
        &["fn", "eval", ".", "--exec", "sealbridge", "-o", "unwrap"],
        None,
        &env,
    );
    assert!(
        out.status.success(),
        "kpt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = unwrap_docs(&out);
    let secret = docs
        .iter()
        .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == "app")
        .unwrap();
    assert_eq!(secret["stringData"]["password"], "from-openbao");
    assert_eq!(secret["stringData"]["db-user"], "app");
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["data"]["replicas"], "3");
    assert!(
        docs.iter()
            .any(|d| d["kind"] == "SecretGenerator" && d["envs"][0] == "db.enc.env"),
        "a generator file among the items is left alone without --fn-config"
    );
    assert_eq!(listing(&pkg), before, "-o unwrap writes nothing");

    // A missing secret: kpt shows our result naming the reference, nothing is output.
    std::fs::write(
        pkg.join("app.yaml"),
        REFERENCES
            .replace("MOUNT", &mount)
            .replace("data/app#password", "data/missing#password"),
    )
    .unwrap();
    let before = listing(&pkg);
    let out = kpt_env(
        &pkg,
        &["fn", "eval", ".", "--exec", "sealbridge", "-o", "unwrap"],
        None,
        &env,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("data/missing#password"), "{stderr}");
    // One result per problem, with the object and field (kpt prints them).
    assert!(stderr.contains("Secret"), "{stderr}");
    assert!(stderr.contains("stringData.password"), "{stderr}");
    assert!(!stderr.contains("from-openbao"), "{stderr}");
    assert!(
        unwrap_docs(&out).iter().all(|d| d["kind"] != "Secret"),
        "no Secret printed on failure"
    );
    assert_eq!(listing(&pkg), before);
}

/// Encrypts `plain` (dotenv) with the real sops for the demo key into `dst`.
fn sops_encrypt_dotenv(plain: &str, dst: &Path) {
    let recipient =
        support::age_recipient_of(&support::project_root().join("examples/kpt/demo-age-key.txt"));
    let (_tmp, dir) = support::tempdir_with("plain.env", plain);
    let enc = support::sops_ok(
        &dir,
        support::NO_ENV,
        &[
            "encrypt",
            "--age",
            &recipient,
            "--input-type",
            "dotenv",
            "--output-type",
            "dotenv",
            "plain.env",
        ],
    );
    std::fs::write(dst, enc).unwrap();
}

/// A package whose Kptfile runs sealbridge as a transformer (no functionConfig), with
/// references in a file of a subdirectory (package-relative paths) and in a nested subpackage
/// (whose own sops file only exists there).
fn transformer_package() -> (tempfile::TempDir, PathBuf) {
    let t = support::tempdir();
    let pkg = t.path().join("pkg");
    std::fs::create_dir_all(pkg.join("manifests")).unwrap();
    std::fs::create_dir_all(pkg.join("sub")).unwrap();
    std::fs::write(
        pkg.join("Kptfile"),
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\npipeline:\n  mutators:\n    - exec: sealbridge\n",
    )
    .unwrap();
    std::fs::copy(
        support::project_root().join("examples/kpt/package/db.enc.env"),
        pkg.join("db.enc.env"),
    )
    .unwrap();
    std::fs::write(
        pkg.join("manifests/app.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: top\nstringData:\n  user: ref+sops://db.enc.env#/DB_USER\n  password: <path:sops://db.enc.env#DB_PASSWORD>\n",
    )
    .unwrap();
    std::fs::write(
        pkg.join("sub/Kptfile"),
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: sub\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\n",
    )
    .unwrap();
    sops_encrypt_dotenv(
        "API_TOKEN=from-the-subpackage\n",
        &pkg.join("sub/only-here.enc.env"),
    );
    std::fs::write(
        pkg.join("sub/app.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: nested\nstringData:\n  token: ref+sops://only-here.enc.env#/API_TOKEN\n",
    )
    .unwrap();
    (t, pkg)
}

fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                todo.push(p);
            } else {
                let body = std::fs::read(&p).unwrap_or_default();
                v.push((p.strip_prefix(dir).unwrap().to_path_buf(), body));
            }
        }
    }
    v.sort();
    v
}

fn secret<'a>(docs: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("Secret/{name} in {docs:?}"))
}

#[test]
fn render_transformer_resolves_sops_paths_per_item_package_from_any_directory() {
    let (t, pkg) = transformer_package();
    let before = tree(&pkg);
    // From the package directory, and from its parent: the same answers.
    for (cwd, arg) in [(pkg.as_path(), "."), (t.path(), "pkg")] {
        let out = kpt(
            cwd,
            &["fn", "render", arg, "--allow-exec", "-o", "unwrap"],
            None,
        );
        assert!(
            out.status.success(),
            "kpt in {}: {}",
            cwd.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let docs = unwrap_docs(&out);
        // manifests/app.yaml: paths are relative to the package, not to the item's file.
        let top = secret(&docs, "top");
        assert_eq!(top["stringData"]["user"], "app");
        assert_eq!(top["stringData"]["password"], "demo-db-password");
        // sub/app.yaml: relative to (and confined to) the subpackage.
        assert_eq!(
            secret(&docs, "nested")["stringData"]["token"],
            "from-the-subpackage"
        );
        assert_eq!(tree(&pkg), before, "-o unwrap writes nothing");
    }
}

#[test]
fn render_transformer_refuses_paths_leaving_the_items_package() {
    for (name, reference) in [
        ("dotdot", "ref+sops://../db.enc.env#/DB_USER"),
        ("absolute", "ref+sops:///etc/passwd#/root"),
        ("symlink", "ref+sops://link.enc.env#/DB_USER"),
    ] {
        let (t, pkg) = transformer_package();
        // The parent package's file exists and decrypts: only confinement stops it.
        std::os::unix::fs::symlink(pkg.join("db.enc.env"), pkg.join("sub/link.enc.env")).unwrap();
        std::fs::write(
            pkg.join("sub/escape.yaml"),
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: escape-{name}\nstringData:\n  stolen: {reference}\n"
            ),
        )
        .unwrap();
        let before = tree(&pkg);
        // kpt's default in-place mode: a failing pipeline must write nothing.
        let out = kpt(t.path(), &["fn", "render", "pkg", "--allow-exec"], None);
        assert!(!out.status.success(), "{name}: must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("escape-{name}")),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("stringData.stolen"), "{name}: {stderr}");
        assert!(stderr.contains("refused"), "{name}: {stderr}");
        assert!(!stderr.contains("demo-db-password") && !stderr.contains("from-the-subpackage"));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("demo-db-password"));
        assert_eq!(
            tree(&pkg),
            before,
            "{name}: nothing written into the package"
        );
    }
}

#[test]
fn eval_transformer_follows_subpackages_listed_in_the_package() {
    let (_t, pkg) = transformer_package();
    let before = tree(&pkg);
    let out = kpt(
        &pkg,
        &["fn", "eval", ".", "--exec", "sealbridge", "-o", "unwrap"],
        None,
    );
    assert!(
        out.status.success(),
        "kpt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = unwrap_docs(&out);
    assert_eq!(secret(&docs, "top")["stringData"]["user"], "app");
    assert_eq!(
        secret(&docs, "nested")["stringData"]["token"],
        "from-the-subpackage"
    );
    assert_eq!(tree(&pkg), before);
}

#[test]
fn eval_refuses_a_package_path_written_into_a_file() {
    // kpt eval passes internal.config.kubernetes.io/package-path from a file unchanged: a
    // package must not be able to move its sops root (here: to the directory above it).
    let (t, pkg) = transformer_package();
    std::fs::write(t.path().join("Kptfile"), "kind: Kptfile\n").unwrap();
    std::fs::write(
        pkg.join("forged.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: forged\n  annotations:\n    internal.config.kubernetes.io/package-path: {}\nstringData:\n  x: ref+sops://pkg/db.enc.env#/DB_USER\n",
            t.path().display()
        ),
    )
    .unwrap();
    let before = tree(&pkg);
    let out = kpt(&pkg, &["fn", "eval", ".", "--exec", "sealbridge"], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Secret/forged"), "{stderr}");
    assert!(stderr.contains("outside the working directory"), "{stderr}");
    assert_eq!(tree(&pkg), before);
}

#[test]
fn ksops_files_that_decrypt_to_binary_are_a_krm_error_not_a_missing_manifest() {
    let (_t, pkg) = package();
    let key = support::project_root().join("examples/kpt/demo-age-key.txt");
    crate::kustomize::sops_encrypt_binary(&pkg.join("blob.bin"), &key);
    std::fs::write(
        pkg.join("ksops.yaml"),
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: blobs\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nfiles:\n- ./blob.bin\n",
    )
    .unwrap();
    let out = kpt(
        &pkg,
        &[
            "fn",
            "eval",
            ".",
            "--exec",
            "sealbridge",
            "--fn-config",
            "ksops.yaml",
            "-o",
            "unwrap",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.contains("files: ./blob.bin decrypts to binary data"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kind: Deployment"));
}

/// ksops' layout in a kpt package: an encrypted Secret manifest (`files:`) and `.sops.yaml`
/// next to the Kptfile. kpt reads every YAML file as a resource: `.sops.yaml` breaks it, and
/// the encrypted manifest would be written out next to the decrypted Secret. A `.krmignore`
/// listing both is the fix; without it sealbridge refuses, naming the file.
#[test]
fn sops_files_inside_a_kpt_package_need_krmignore_and_are_never_passed_through() {
    let (_t, pkg) = package();
    std::fs::copy(
        support::project_root().join("examples/kpt/.sops.yaml"),
        pkg.join(".sops.yaml"),
    )
    .unwrap();
    let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  token: kpt-package-token\n";
    let key =
        std::fs::read_to_string(support::project_root().join("examples/kpt/demo-age-key.txt"))
            .unwrap();
    let recipient = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .trim();
    let tmp = support::tempdir();
    std::fs::write(tmp.path().join("api.yaml"), plain).unwrap();
    let home = support::tempdir();
    let o = support::sealbridge(home.path())
        .current_dir(tmp.path())
        .args([
            "encrypt",
            "--age",
            recipient,
            "--encrypted-regex",
            "^(data|stringData)$",
            "api.yaml",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::write(pkg.join("api.enc.yaml"), o.stdout).unwrap();
    std::fs::write(
        pkg.join("secret-generator.yaml"),
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: g\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nfiles:\n  - api.enc.yaml\n",
    )
    .unwrap();
    let _ = std::fs::remove_file(pkg.join(".krmignore"));
    let render = || {
        kpt(
            &pkg,
            &["fn", "render", ".", "--allow-exec", "-o", "unwrap"],
            None,
        )
    };

    // Without .krmignore: kpt itself stops at .sops.yaml.
    let o = render();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains(".sops.yaml"));
    // Only .sops.yaml ignored: the encrypted manifest reaches sealbridge, which refuses it.
    std::fs::write(pkg.join(".krmignore"), ".sops.yaml\n").unwrap();
    let o = render();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("api.enc.yaml") && err.contains(".krmignore"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("ENC["));
    // Both ignored: the decrypted Secret only.
    std::fs::write(pkg.join(".krmignore"), ".sops.yaml\n*.enc.yaml\n").unwrap();
    let o = render();
    let docs = unwrap_docs(&o);
    let api = secret(&docs, "api");
    let token = match api["stringData"]["token"].as_str() {
        Some(t) => t.to_owned(),
        None => decoded(&api["data"]["token"]),
    };
    assert_eq!(token, "kpt-package-token");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("ENC[") && !text.contains("sops:"), "{text}");
}
