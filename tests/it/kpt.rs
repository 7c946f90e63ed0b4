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
