//! SSH keys as age recipients/identities (sops ≥ 3.10): keys made by the real `ssh-keygen`,
//! files made by the real Go sops decrypted by sealbridge (SOPS_AGE_SSH_PRIVATE_KEY_FILE and
//! the default ~/.ssh keys), files made by sealbridge decrypted by the real sops, refusal of
//! passphrase-protected keys, and the `render` sops backend on an SSH-recipient file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::render::{ok_docs, run, string};
use crate::support::{self, stderr};

const PLAIN: &str =
    "name: Alice\npassword: s3cr3t-ssh-value\nnested:\n    list:\n        - one\n        - 2\n";

/// Generates a key with the real ssh-keygen; returns (private key path, public key line).
fn keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let mut c = Command::new(support::ssh_keygen());
    c.args([
        "-q",
        "-t",
        kind,
        "-N",
        passphrase,
        "-C",
        "sealbridge-test",
        "-f",
    ])
    .arg(&path)
    .stdin(Stdio::null());
    if kind == "rsa" {
        c.args(["-b", "3072"]);
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub")))
        .unwrap()
        .trim()
        .to_string();
    (path, public)
}

use crate::support::ok_stdout as ok;

/// The real sops in `dir` with a clean env, `HOME=home` and `env`.
fn sops(dir: &Path, home: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = support::sops_cmd(home);
    c.stdin(Stdio::null());
    support::run_in(c, dir, env, args)
}

/// sealbridge in `dir` with `HOME=home` and `env`.
fn sb(dir: &Path, home: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = support::sealbridge(home);
    c.stdin(Stdio::null());
    support::run_in(c, dir, env, args)
}

/// `sops encrypt --age RECIPIENT plain.yaml` with the real sops; writes `out`.
fn sops_encrypt(dir: &Path, recipient: &str, out: &str) {
    let home = support::tempdir();
    let o = sops(
        dir,
        home.path(),
        &["encrypt", "--age", recipient, "plain.yaml"],
        &[],
    );
    let enc = ok(&o, "sops encrypt");
    assert!(enc.contains(&format!("recipient: {recipient}")), "{enc}");
    std::fs::write(dir.join(out), enc).unwrap();
}

/// An empty HOME with `~/.ssh/<name>` = a copy of `key` (0600).
fn home_with_key(key: &Path, name: &str) -> tempfile::TempDir {
    let home = support::tempdir();
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::copy(key, ssh.join(name)).unwrap();
    home
}

#[test]
fn files_sops_encrypts_for_ssh_keys_decrypt_with_the_key_file_env_and_the_default_ssh_keys() {
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("plain.yaml"), PLAIN).unwrap();
    let keys = support::tempdir();
    let (ed, ed_pub) = keygen(keys.path(), "ed", "ed25519", "");
    let (rsa, rsa_pub) = keygen(keys.path(), "rsa", "rsa", "");
    let (other, _) = keygen(keys.path(), "other", "ed25519", "");
    sops_encrypt(d, &ed_pub, "ed.enc.yaml");
    sops_encrypt(d, &rsa_pub, "rsa.enc.yaml");

    for (file, key, default_name) in [
        ("ed.enc.yaml", &ed, "id_ed25519"),
        ("rsa.enc.yaml", &rsa, "id_rsa"),
    ] {
        // What real sops prints with the same key is the reference.
        let empty = support::tempdir();
        let want = ok(
            &sops(
                d,
                empty.path(),
                &["decrypt", file],
                &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key)],
            ),
            "sops decrypt",
        );
        assert_eq!(want, PLAIN);
        let got = sb(
            d,
            empty.path(),
            &["decrypt", file],
            &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key)],
        );
        assert_eq!(ok(&got, "SOPS_AGE_SSH_PRIVATE_KEY_FILE"), want, "{file}");

        // The default ~/.ssh key (HOME is a temp dir holding only that key).
        let home = home_with_key(key, default_name);
        let got = sb(d, home.path(), &["decrypt", file], &[]);
        assert_eq!(
            ok(&got, default_name),
            want,
            "{file} via ~/.ssh/{default_name}"
        );

        // --extract through the same key.
        let got = sb(
            d,
            home.path(),
            &["decrypt", "--extract", "[\"password\"]", file],
            &[],
        );
        assert_eq!(ok(&got, "extract"), "s3cr3t-ssh-value");
    }

    // SOPS_AGE_SSH_PRIVATE_KEY_CMD: the key printed by a command.
    let empty = support::tempdir();
    let cmd = PathBuf::from(format!("cat '{}'", ed.display()));
    let o = sb(
        d,
        empty.path(),
        &["decrypt", "ed.enc.yaml"],
        &[("SOPS_AGE_SSH_PRIVATE_KEY_CMD", &cmd)],
    );
    assert_eq!(ok(&o, "SOPS_AGE_SSH_PRIVATE_KEY_CMD"), PLAIN);

    // Another SSH key: refused, exit 1, nothing on stdout, the sources named, no value leaked.
    let o = sb(
        d,
        empty.path(),
        &["decrypt", "ed.enc.yaml"],
        &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &other)],
    );
    assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(
        err.contains("none of the 1 age identities")
            && err.contains(&format!(
                "SOPS_AGE_SSH_PRIVATE_KEY_FILE={}",
                other.display()
            )),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
    // No key at all: the message says where keys are looked for, SSH included.
    let o = sb(d, empty.path(), &["decrypt", "ed.enc.yaml"], &[]);
    assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("SOPS_AGE_SSH_PRIVATE_KEY_FILE"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn sealbridge_encrypts_for_ssh_recipients_and_real_sops_decrypts() {
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("plain.yaml"), PLAIN).unwrap();
    let keys = support::tempdir();
    let (ed, ed_pub) = keygen(keys.path(), "ed", "ed25519", "");
    let (rsa, rsa_pub) = keygen(keys.path(), "rsa", "rsa", "");
    let age_key = keys.path().join("age.txt");
    let age_r = support::age_key_file(&age_key);
    let empty = support::tempdir();

    // --age with SSH recipients (comments included, as `cat id.pub` gives them) and an age1 one.
    let recipients = format!("{ed_pub},{rsa_pub},{age_r}");
    let enc = ok(
        &sb(
            d,
            empty.path(),
            &["encrypt", "--age", &recipients, "plain.yaml"],
            &[],
        ),
        "sealbridge encrypt",
    );
    assert!(enc.contains(&format!("recipient: {ed_pub}")), "{enc}");
    assert!(enc.contains(&format!("recipient: {rsa_pub}")), "{enc}");
    std::fs::write(d.join("sb.enc.yaml"), &enc).unwrap();
    for (var, key) in [
        ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &ed),
        ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &rsa),
        ("SOPS_AGE_KEY_FILE", &age_key),
    ] {
        let got = sops(d, empty.path(), &["decrypt", "sb.enc.yaml"], &[(var, key)]);
        assert_eq!(ok(&got, "sops decrypt"), PLAIN, "{}", key.display());
    }
    // sops with the key at the default ~/.ssh/id_ed25519.
    let home = home_with_key(&ed, "id_ed25519");
    let got = sops(d, home.path(), &["decrypt", "sb.enc.yaml"], &[]);
    assert_eq!(ok(&got, "sops decrypt ~/.ssh"), PLAIN);

    // .sops.yaml creation rule naming an SSH recipient.
    std::fs::write(
        d.join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: plain\\.yaml$\n    age: '{ed_pub}'\n"),
    )
    .unwrap();
    let enc = ok(
        &sb(d, empty.path(), &["encrypt", "plain.yaml"], &[]),
        "encrypt via .sops.yaml",
    );
    std::fs::write(d.join("rule.enc.yaml"), &enc).unwrap();
    let got = sops(
        d,
        empty.path(),
        &["decrypt", "rule.enc.yaml"],
        &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &ed)],
    );
    assert_eq!(ok(&got, "sops decrypt rule file"), PLAIN);

    // Recipients age cannot use are a usage error (exit 2) that names them.
    for bad in [
        "ssh-ed25519 AAAAnot-a-key",
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBbq",
    ] {
        let o = sb(
            d,
            empty.path(),
            &["encrypt", "--age", bad, "plain.yaml"],
            &[],
        );
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
        assert!(
            stderr(&o).contains(bad.split(' ').next().unwrap()),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn a_passphrase_protected_ssh_key_is_refused_naming_the_file() {
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("plain.yaml"), PLAIN).unwrap();
    let keys = support::tempdir();
    let passphrase = "correct-horse-passphrase";
    let (locked, locked_pub) = keygen(keys.path(), "locked", "ed25519", passphrase);
    let (locked_rsa, locked_rsa_pub) = keygen(keys.path(), "locked_rsa", "rsa", passphrase);
    sops_encrypt(d, &locked_pub, "locked.enc.yaml");
    sops_encrypt(d, &locked_rsa_pub, "locked_rsa.enc.yaml");

    let empty = support::tempdir();
    for (file, key) in [
        ("locked.enc.yaml", &locked),
        ("locked_rsa.enc.yaml", &locked_rsa),
    ] {
        let o = sb(
            d,
            empty.path(),
            &["decrypt", file],
            &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key)],
        );
        assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "the data key is encrypted for the SSH key SOPS_AGE_SSH_PRIVATE_KEY_FILE={}, which is passphrase-protected",
                key.display()
            )) && err.contains("never prompts"),
            "{err}"
        );
        assert!(
            !err.contains(passphrase) && !err.contains("s3cr3t"),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "one message: {err}");
    }
    // The same key at the default path is named by its path.
    let home = home_with_key(&locked, "id_ed25519");
    let o = sb(d, home.path(), &["decrypt", "locked.enc.yaml"], &[]);
    assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));
    let path = home.path().join(".ssh/id_ed25519");
    assert!(
        stderr(&o).contains(&format!(
            "SSH key {}, which is passphrase-protected",
            path.display()
        )),
        "{}",
        stderr(&o)
    );

    // A passphrase-protected ~/.ssh/id_rsa does not get in the way of a file it was not used
    // for: the age key decrypts it.
    let age_key = keys.path().join("age.txt");
    let age_r = support::age_key_file(&age_key);
    sops_encrypt(d, &age_r, "age.enc.yaml");
    let home = home_with_key(&locked_rsa, "id_rsa");
    let o = sb(
        d,
        home.path(),
        &["decrypt", "age.enc.yaml"],
        &[("SOPS_AGE_KEY_FILE", &age_key)],
    );
    assert_eq!(ok(&o, "age key next to a locked ssh key"), PLAIN);
}

#[test]
fn render_decrypts_an_ssh_recipient_sops_file() {
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("plain.yaml"), PLAIN).unwrap();
    let keys = support::tempdir();
    let (ed, ed_pub) = keygen(keys.path(), "ed", "ed25519", "");
    sops_encrypt(d, &ed_pub, "app.enc.yaml");
    let src = "kind: Secret\napiVersion: v1\nmetadata:\n  name: s\nstringData:\n  name: <path:sops://app.enc.yaml#name>\n  password: ref+sops://app.enc.yaml#/password\n";
    let key = ed.display().to_string();
    let o = run(
        None,
        d,
        &["render", "-"],
        Some(src),
        &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)],
    );
    let docs = ok_docs(&o);
    assert_eq!(string(&docs[0], &["stringData", "name"]), "Alice");
    assert_eq!(
        string(&docs[0], &["stringData", "password"]),
        "s3cr3t-ssh-value"
    );
}
