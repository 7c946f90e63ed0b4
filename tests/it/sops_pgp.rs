//! PGP master keys through the real GnuPG (Debian `gnupg`, a private GNUPGHOME and gpg-agent
//! per test): files the real Go sops encrypts for a fingerprint decrypt with sealbridge, files
//! sealbridge encrypts (`--pgp`, `.sops.yaml` `pgp:` and `key_groups`) decrypt with sops,
//! `rotate --add-pgp`, a missing secret key fails with the fingerprint named, and the `render`
//! sops backend reads a PGP file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support;

const PLAIN: &str =
    "name: Alice\npassword: s3cr3t-pgp-value\nnested:\n    list:\n        - one\n        - 2\n";

/// A private GnuPG home with one unprotected key; its agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
    fp: String,
}

/// An empty private GnuPG home (0700). Short path: gpg-agent's socket path must fit in a
/// sockaddr_un.
fn gnupg_home() -> tempfile::TempDir {
    let home = tempfile::Builder::new()
        .prefix("sb-gpg-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(
        home.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    home
}

/// Stops the gpg-agent of the GnuPG home `gnupg`.
fn kill_agent(gnupg: &Path) {
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", gnupg)
        .output();
}

impl Gpg {
    fn new() -> Gpg {
        let home = gnupg_home();
        let mut g = Gpg {
            home,
            fp: String::new(),
        };
        let o = g
            .gpg()
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--quick-gen-key",
                "sealbridge test <pgp-test@example.com>",
                "default",
                "default",
                "never",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "gpg --quick-gen-key: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = g
            .gpg()
            .args(["--with-colons", "--list-secret-keys"])
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&o.stdout).into_owned();
        let fp = listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("a fingerprint")
            .to_owned();
        g.fp = fp;
        g
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new(support::tool("gpg"));
        c.env("GNUPGHOME", self.path()).stdin(Stdio::null());
        c
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        kill_agent(self.path());
    }
}

/// `prog` in `dir` with a clean environment (fresh HOME), the GnuPG home `gnupg`, the real
/// gpg as `SOPS_GPG_EXEC`, and `env`.
fn run(prog: &Path, dir: &Path, gnupg: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let home = support::tempdir();
    let mut c = Command::new(prog);
    support::clean_env(&mut c, home.path());
    c.current_dir(dir)
        .args(args)
        .env("GNUPGHOME", gnupg)
        .env("SOPS_GPG_EXEC", support::tool("gpg"))
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    c.output().unwrap()
}

fn sops(dir: &Path, gnupg: &Path, args: &[&str]) -> Output {
    run(&support::sops(), dir, gnupg, &[], args)
}

fn sb(dir: &Path, gnupg: &Path, args: &[&str]) -> Output {
    run(
        Path::new(env!("CARGO_BIN_EXE_sealbridge")),
        dir,
        gnupg,
        &[],
        args,
    )
}

/// sealbridge with the age identity `age.txt` of `dir` (see [`age_encrypted`]).
fn sb_with_age(dir: &Path, gnupg: &Path, args: &[&str]) -> Output {
    let key = dir.join("age.txt");
    run(
        Path::new(env!("CARGO_BIN_EXE_sealbridge")),
        dir,
        gnupg,
        &[("SOPS_AGE_KEY_FILE", &key)],
        args,
    )
}

use crate::support::ok_stdout as ok;

fn workdir() -> (tempfile::TempDir, PathBuf) {
    support::tempdir_with("plain.yaml", PLAIN)
}

/// A new age identity in `dir/age.txt`, and `dir/s.enc.yaml` = `plain.yaml` encrypted by
/// sealbridge for it; returns the recipient.
fn age_encrypted(dir: &Path, gnupg: &Path) -> String {
    let recipient = support::age_key_file(&dir.join("age.txt"));
    let enc = ok(
        &sb(dir, gnupg, &["encrypt", "--age", &recipient, "plain.yaml"]),
        "encrypt",
    );
    std::fs::write(dir.join("s.enc.yaml"), enc).unwrap();
    recipient
}

/// `dir/s.enc.yaml` = `plain.yaml` encrypted by the real sops for the key of `gpg`.
fn sops_pgp_encrypted(dir: &Path, gpg: &Gpg) {
    let enc = ok(
        &sops(
            dir,
            gpg.path(),
            &["encrypt", "--pgp", &gpg.fp, "plain.yaml"],
        ),
        "sops encrypt",
    );
    assert!(enc.contains(&format!("fp: {}", gpg.fp)), "{enc}");
    std::fs::write(dir.join("s.enc.yaml"), &enc).unwrap();
}

#[test]
fn files_sops_encrypts_for_a_pgp_key_decrypt_with_sealbridge() {
    let gpg = Gpg::new();
    let (_d, dir) = workdir();
    sops_pgp_encrypted(&dir, &gpg);
    let out = ok(
        &sb(&dir, gpg.path(), &["decrypt", "s.enc.yaml"]),
        "sealbridge decrypt",
    );
    assert_eq!(out, PLAIN);
    // The render backend reads it too.
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  p: ref+sops://s.enc.yaml#/password\n",
    )
    .unwrap();
    let out = ok(
        &sb(&dir, gpg.path(), &["render", "cm.yaml"]),
        "sealbridge render",
    );
    assert!(out.contains("s3cr3t-pgp-value"), "{out}");
}

#[test]
fn files_sealbridge_encrypts_for_a_pgp_key_decrypt_with_sops() {
    let gpg = Gpg::new();
    let (_d, dir) = workdir();
    // --pgp
    let enc = ok(
        &sb(
            &dir,
            gpg.path(),
            &["encrypt", "--pgp", &gpg.fp, "plain.yaml"],
        ),
        "sealbridge encrypt",
    );
    assert!(enc.contains("-----BEGIN PGP MESSAGE-----"), "{enc}");
    assert!(!enc.contains("s3cr3t-pgp-value"));
    std::fs::write(dir.join("a.enc.yaml"), &enc).unwrap();
    assert_eq!(
        ok(
            &sops(&dir, gpg.path(), &["decrypt", "a.enc.yaml"]),
            "sops decrypt"
        ),
        PLAIN
    );
    // .sops.yaml: a creation rule's `pgp:` and a key group's `pgp:` list.
    for rule in [
        format!("creation_rules:\n  - pgp: {}\n", gpg.fp),
        format!(
            "creation_rules:\n  - key_groups:\n      - pgp:\n          - {}\n",
            gpg.fp
        ),
    ] {
        std::fs::write(dir.join(".sops.yaml"), &rule).unwrap();
        let enc = ok(&sb(&dir, gpg.path(), &["encrypt", "plain.yaml"]), &rule);
        std::fs::write(dir.join("b.enc.yaml"), &enc).unwrap();
        assert_eq!(
            ok(&sops(&dir, gpg.path(), &["decrypt", "b.enc.yaml"]), &rule),
            PLAIN
        );
    }
}

#[test]
fn rotate_adds_a_pgp_key_to_an_age_file() {
    let gpg = Gpg::new();
    let (_d, dir) = workdir();
    age_encrypted(&dir, gpg.path());
    let rotated = ok(
        &sb_with_age(
            &dir,
            gpg.path(),
            &["rotate", "--add-pgp", &gpg.fp, "s.enc.yaml"],
        ),
        "rotate --add-pgp",
    );
    std::fs::write(dir.join("r.enc.yaml"), rotated).unwrap();
    // sops with only the PGP key (no age identity in its environment) opens it.
    assert_eq!(
        ok(
            &sops(&dir, gpg.path(), &["decrypt", "r.enc.yaml"]),
            "sops decrypt"
        ),
        PLAIN
    );
}

#[test]
fn a_missing_pgp_secret_key_names_the_fingerprint_and_leaks_nothing() {
    let gpg = Gpg::new();
    let (_d, dir) = workdir();
    sops_pgp_encrypted(&dir, &gpg);
    let empty = gnupg_home();
    let o = sb(&dir, empty.path(), &["decrypt", "s.enc.yaml"]);
    kill_agent(empty.path());
    assert_eq!(
        o.status.code(),
        Some(128),
        "sops' exit code for no usable key"
    );
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&gpg.fp), "{err}");
    assert!(!err.contains("s3cr3t-pgp-value"), "{err}");
}

#[test]
fn updatekeys_moves_a_file_to_the_pgp_key_of_its_rule() {
    let gpg = Gpg::new();
    let (_d, dir) = workdir();
    let recipient = age_encrypted(&dir, gpg.path());
    std::fs::write(
        dir.join(".sops.yaml"),
        format!("creation_rules:\n  - pgp: {}\n", gpg.fp),
    )
    .unwrap();
    let o = sb_with_age(&dir, gpg.path(), &["updatekeys", "-y", "s.enc.yaml"]);
    let summary = ok(&o, "updatekeys");
    assert!(summary.contains(&format!("+++ {}", gpg.fp)), "{summary}");
    let text = std::fs::read_to_string(dir.join("s.enc.yaml")).unwrap();
    assert!(
        text.contains(&format!("fp: {}", gpg.fp)) && !text.contains(&recipient),
        "{text}"
    );
    assert_eq!(
        ok(
            &sops(&dir, gpg.path(), &["decrypt", "s.enc.yaml"]),
            "sops decrypt"
        ),
        PLAIN
    );
}
