//! The sops verbs' command line: `--config` (the `.sops.yaml`, as in sops) vs the settings
//! file (`--settings` / `SEALBRIDGE_CONFIG`), exec-file/exec-env process handling, set/unset,
//! and age SSH recipients — against the real sops, age and OpenBao.

use std::path::Path;
use std::process::Output;

use serde_json::json;

use crate::support::{self, stderr};

/// sealbridge in `dir` with a clean environment plus `env`.
fn sb(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let home = support::tempdir();
    support::run_in(support::sealbridge(home.path()), dir, env, args)
}

/// The real sops in `dir` with a clean environment plus `env`.
fn sops(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let home = support::tempdir();
    support::run_in(support::sops_cmd(home.path()), dir, env, args)
}

/// The age recipients a sops YAML file is encrypted for.
fn recipients(enc: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(enc)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- recipient: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn config_names_the_sops_yaml_and_the_settings_file_is_separate() {
    let bao = support::openbao();
    let (_, r1) = support::age_keypair();
    let (_, r2) = support::age_keypair();
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("s.yaml"), "password: hunter2\n").unwrap();
    std::fs::write(
        d.join(".sops.yaml"),
        format!("creation_rules:\n  - age: {r1}\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("other.sops.yaml"),
        format!("creation_rules:\n  - age: {r2}\n"),
    )
    .unwrap();
    // A settings file: the Vault address only comes from here.
    std::fs::write(
        d.join("settings.yaml"),
        format!("vault:\n  address: {}\n", bao.addr),
    )
    .unwrap();
    let settings = d.join("settings.yaml");
    let settings = settings.to_str().unwrap();

    // SEALBRIDGE_CONFIG is the settings file, never the .sops.yaml.
    let o = sb(
        d,
        &[("SEALBRIDGE_CONFIG", settings)],
        &["encrypt", "s.yaml"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(recipients(&o.stdout), vec![r1.clone()]);
    // --config after the verb and before it (sops' global flag form): the .sops.yaml.
    for args in [
        &["encrypt", "--config", "other.sops.yaml", "s.yaml"][..],
        &["--config", "other.sops.yaml", "encrypt", "s.yaml"][..],
        &[
            "--settings",
            settings,
            "encrypt",
            "--config",
            "other.sops.yaml",
            "s.yaml",
        ][..],
    ] {
        let o = sb(d, &[("SEALBRIDGE_CONFIG", settings)], args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(recipients(&o.stdout), vec![r2.clone()], "{args:?}");
    }
    // Two different .sops.yaml: a usage error.
    let o = sb(
        d,
        &[],
        &[
            "--config",
            ".sops.yaml",
            "encrypt",
            "--config",
            "other.sops.yaml",
            "s.yaml",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("--settings"), "{}", stderr(&o));

    // The settings file applies to the sops verbs: an hc_vault file decrypts with the address
    // from `--settings` / SEALBRIDGE_CONFIG (only the token is in the environment).
    let mount = support::unique("transit-cfg-");
    bao.enable_secrets(&mount, "transit", json!({}));
    bao.api("POST", &format!("/v1/{mount}/keys/k"), Some(json!({})));
    let uri = format!("{}/v1/{mount}/keys/k", bao.addr);
    let o = sops(
        d,
        &[("VAULT_TOKEN", &bao.token)],
        &["encrypt", "--hc-vault-transit", &uri, "s.yaml"],
    );
    assert!(o.status.success(), "sops: {}", stderr(&o));
    std::fs::write(d.join("v.enc.yaml"), &o.stdout).unwrap();
    let token = [("VAULT_TOKEN", bao.token.as_str())];
    for (env, args) in [
        (
            vec![("SEALBRIDGE_CONFIG", settings)],
            &["decrypt", "--config", "other.sops.yaml", "v.enc.yaml"][..],
        ),
        (
            vec![],
            &["--settings", settings, "decrypt", "v.enc.yaml"][..],
        ),
        (
            vec![],
            &["decrypt", "--settings", settings, "v.enc.yaml"][..],
        ),
    ] {
        let env: Vec<(&str, &str)> = env.into_iter().chain(token).collect();
        let o = sb(d, &env, args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(o.stdout, b"password: hunter2\n", "{args:?}");
    }
    // Without the settings file there is no Vault address.
    let o = sb(d, &token, &["decrypt", "v.enc.yaml"]);
    assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));

    // For the other commands --config still names the settings file (before or after the verb).
    std::fs::write(d.join("bad.yaml"), "no_such_setting: 1\n").unwrap();
    for args in [
        &["--config", "bad.yaml", "render", "s.yaml"][..],
        &["render", "--config", "bad.yaml", "s.yaml"][..],
        &["render", "--settings", "bad.yaml", "s.yaml"][..],
    ] {
        let o = sb(d, &[], args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("bad.yaml"), "{args:?}: {}", stderr(&o));
    }
    let o = sb(d, &[], &["render", "s.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

// ---- exec-file / exec-env ----------------------------------------------------------------

fn vectors() -> std::path::PathBuf {
    support::fixture("sops")
}

fn age1() -> String {
    vectors()
        .join("keys/age1.txt")
        .to_string_lossy()
        .into_owned()
}

fn exec(args: &[&str]) -> Output {
    sb(&vectors(), &[("SOPS_AGE_KEY_FILE", &age1())], args)
}

#[test]
fn exec_file_uses_a_fifo_by_default_and_a_0600_file_with_no_fifo() {
    let plain = std::fs::read(vectors().join("expected/basic.ini")).unwrap();
    // Default: a FIFO (nothing on disk), read once, in a 0700 directory.
    let o = exec(&[
        "exec-file",
        "--filename",
        "app.ini",
        "basic.enc.ini",
        "--",
        "test -p {} && stat -c '%a %n' {} \"$(dirname {})\" | sed 's|/.*/||' && cat {}",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = b"600 app.ini\n700 .sealbridge-";
    assert!(
        o.stdout.starts_with(want),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(o.stdout.ends_with(&plain), "the FIFO carries the plaintext");
    // --no-fifo: a regular 0600 file (sops: `tmp-file` + a random suffix without --filename).
    let o = exec(&[
        "exec-file",
        "--no-fifo",
        "basic.enc.ini",
        "--",
        "test -f {} && ! test -p {} && basename {} && stat -c %a {} && cat {} && cat {}",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.starts_with("tmp-file") && out.contains("\n600\n"),
        "{out}"
    );
    let twice = [plain.clone(), plain.clone()].concat();
    assert!(o.stdout.ends_with(&twice), "a file can be read twice");
    // --background is refused for exec-file (the plaintext must be removed after the command).
    let o = exec(&["exec-file", "--background", "basic.enc.ini", "--", "true"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // The child's exit code is passed on.
    let o = exec(&[
        "exec-file",
        "basic.enc.ini",
        "--",
        "cat {} >/dev/null; exit 9",
    ]);
    assert_eq!(o.status.code(), Some(9), "{}", stderr(&o));
}

/// Starts `exec-file` on a command that records the plaintext path and sleeps; sends `sig` to
/// sealbridge once the plaintext exists; returns (exit status, plaintext path).
fn exec_file_killed(
    extra: &[&str],
    sig: nix::sys::signal::Signal,
) -> (std::process::ExitStatus, String) {
    use std::time::Duration;
    let work = support::tempdir();
    let marker = work.path().join("path");
    let home = support::tempdir();
    let mut c = support::sealbridge(home.path());
    c.current_dir(vectors())
        .env("SOPS_AGE_KEY_FILE", age1())
        .arg("exec-file")
        .args(extra)
        .args(["basic.enc.ini", "--"])
        .arg(format!(
            "echo {{}} > {}.tmp && mv {0}.tmp {0} && exec sleep 600",
            marker.display()
        ))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let path = support::poll(Duration::from_secs(30), "the command to start", || {
        let p = std::fs::read_to_string(&marker).ok()?;
        let p = p.trim().to_owned();
        Path::new(&p).exists().then_some(p)
    });
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, sig).unwrap();
    let status = support::poll(Duration::from_secs(30), "sealbridge to exit", || {
        child.try_wait().unwrap()
    });
    (status, path)
}

#[test]
fn exec_file_removes_the_plaintext_when_sealbridge_is_signalled() {
    use nix::sys::signal::Signal;
    for (extra, sig) in [
        (&["--no-fifo"][..], Signal::SIGTERM),
        (&[][..], Signal::SIGTERM),
        (&["--no-fifo"][..], Signal::SIGINT),
        (&["--no-fifo"][..], Signal::SIGHUP),
    ] {
        let (status, path) = exec_file_killed(extra, sig);
        // The signal went to the command (sleep), which it ended: 128 + N, like a shell.
        assert_eq!(status.code(), Some(128 + sig as i32), "{extra:?} {sig}");
        assert!(
            !Path::new(&path).exists(),
            "{extra:?} {sig}: {path} removed"
        );
        assert!(
            !Path::new(&path).parent().unwrap().exists(),
            "{extra:?} {sig}: the private directory is removed"
        );
    }
}

#[test]
fn exec_env_same_process_background_and_user() {
    // --same-process: sealbridge becomes the command (same PID).
    let home = support::tempdir();
    let mut c = support::sealbridge(home.path());
    let child = c
        .current_dir(vectors())
        .env("SOPS_AGE_KEY_FILE", age1())
        .args([
            "exec-env",
            "--same-process",
            "basic.enc.env",
            "--",
            "echo $$ \"$DB_PASS\"",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{pid} s3cr3t=with=equals\n")
    );
    let o = exec(&[
        "exec-env",
        "--same-process",
        "--background",
        "basic.enc.env",
        "--",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // --background: sealbridge exits 0 at once; the command still runs with the secrets.
    let work = support::tempdir();
    let out = work.path().join("out");
    let o = exec(&[
        "exec-env",
        "--background",
        "basic.enc.env",
        "--",
        &format!(
            "printf %s \"$DB_PASS\" > {0}.tmp && mv {0}.tmp {0}",
            out.display()
        ),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = support::poll(
        std::time::Duration::from_secs(30),
        "the background command",
        || std::fs::read_to_string(&out).ok(),
    );
    assert_eq!(got, "s3cr3t=with=equals");

    // --user: as in sops, only root may switch users.
    let root = nix::unistd::geteuid().is_root();
    let o = exec(&[
        "exec-env",
        "--user",
        "nobody",
        "basic.enc.env",
        "--",
        "id -un; printf %s \"$DB_PASS\"",
    ]);
    let f = exec(&[
        "exec-file",
        "--user",
        "nobody",
        "basic.enc.ini",
        "--",
        "id -un; cat {}",
    ]);
    if root {
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "nobody\ns3cr3t=with=equals"
        );
        assert!(f.status.success(), "{}", stderr(&f));
        let plain = std::fs::read(vectors().join("expected/basic.ini")).unwrap();
        assert_eq!(f.stdout, [b"nobody\n".as_slice(), &plain].concat());
    } else {
        for o in [o, f] {
            assert_ne!(o.status.code(), Some(0), "not root: switching users fails");
            assert!(o.stdout.is_empty());
        }
    }
    let o = exec(&[
        "exec-env",
        "--user",
        "no-such-user-x",
        "basic.enc.env",
        "--",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no such user"), "{}", stderr(&o));
}

// ---- set / unset ---------------------------------------------------------------------------

/// Runs sealbridge with `stdin`.
fn sb_stdin(dir: &Path, env: &[(&str, &str)], args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let home = support::tempdir();
    let mut c = support::sealbridge(home.path());
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A child that fails before reading closes the pipe: its exit status and stderr, checked by
    // the caller, say why (a write error here would hide it).
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn set_and_unset_rewrite_the_file_and_real_sops_decrypts_it() {
    let (identity, recipient) = support::age_keypair();
    let dir = support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("age.txt"), identity).unwrap();
    let key = d.join("age.txt");
    let env = [("SOPS_AGE_KEY_FILE", key.to_str().unwrap())];
    std::fs::write(
        d.join("s.yaml"),
        "# top\na:\n    b: old\n    keep: 1\ngone: x\nlist:\n    - one\n    - two\nplain_unencrypted: p\n",
    )
    .unwrap();
    let o = sops(d, &[], &["encrypt", "--age", &recipient, "s.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(d.join("s.enc.yaml"), &o.stdout).unwrap();

    let ok = |o: &Output| {
        assert!(
            o.status.success(),
            "exit {:?}: {}",
            o.status.code(),
            stderr(o)
        )
    };
    ok(&sb(
        d,
        &env,
        &["set", "s.enc.yaml", r#"["a"]["b"]"#, r#""new""#],
    ));
    ok(&sb(
        d,
        &env,
        &[
            "set",
            "s.enc.yaml",
            r#"["a"]["n"]"#,
            r#"{"x": [1, true], "y": null}"#,
        ],
    ));
    ok(&sb(
        d,
        &env,
        &["set", "s.enc.yaml", r#"["list"][1]"#, r#""TWO""#],
    ));
    ok(&sb(d, &env, &["set", "s.enc.yaml", r#"["list"][9]"#, "3"]));
    ok(&sb_stdin(
        d,
        &env,
        &["set", "--value-stdin", "s.enc.yaml", r#"["pw"]"#],
        b"\"hunter2\"\n",
    ));
    std::fs::write(d.join("v.json"), r#""from-file""#).unwrap();
    ok(&sb(
        d,
        &env,
        &["set", "--value-file", "s.enc.yaml", r#"["f"]"#, "v.json"],
    ));
    ok(&sb(d, &env, &["unset", "s.enc.yaml", r#"["gone"]"#]));
    ok(&sb(d, &env, &["unset", "s.enc.yaml", r#"["list"][0]"#]));

    let enc = std::fs::read_to_string(d.join("s.enc.yaml")).unwrap();
    assert!(!enc.contains("hunter2") && !enc.contains("from-file") && !enc.contains("TWO"));
    assert!(
        enc.contains("plain_unencrypted: p"),
        "the file's rules still apply"
    );
    // (go-yaml quotes the YAML 1.1 booleans `n` and `y`.)
    let expected = "# top\na:\n    b: new\n    keep: 1\n    \"n\":\n        x:\n            - 1\n            - true\n        \"y\": null\nlist:\n    - TWO\n    - 3\nplain_unencrypted: p\npw: hunter2\nf: from-file\n";
    // The real sops verifies the new MAC and decrypts.
    let o = sops(d, &env, &["decrypt", "s.enc.yaml"]);
    assert!(o.status.success(), "sops decrypt: {}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected);
    let o = sb(d, &env, &["decrypt", "s.enc.yaml"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected);

    // Failures leave the file as it was and never print the value.
    let before = std::fs::read(d.join("s.enc.yaml")).unwrap();
    let o = sb(d, &env, &["unset", "s.enc.yaml", r#"["nope"]"#]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
    let o = sb(
        d,
        &env,
        &["set", "s.enc.yaml", r#"["a"]"#, "s3cr3t-not-json"],
    );
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(!stderr(&o).contains("s3cr3t"), "{}", stderr(&o));
    let o = sb(d, &[], &["set", "s.enc.yaml", r#"["a"]"#, "1"]);
    assert_eq!(o.status.code(), Some(128), "no key: {}", stderr(&o));
    assert_eq!(std::fs::read(d.join("s.enc.yaml")).unwrap(), before);
    // --idempotent: nothing to do, nothing written.
    let o = sb(
        d,
        &env,
        &["unset", "--idempotent", "s.enc.yaml", r#"["nope"]"#],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sb(
        d,
        &env,
        &[
            "set",
            "--idempotent",
            "s.enc.yaml",
            r#"["pw"]"#,
            r#""hunter2""#,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(d.join("s.enc.yaml")).unwrap(), before);
    // Without --idempotent sops rewrites (new lastmodified and MAC).
    let o = sb(d, &env, &["set", "s.enc.yaml", r#"["pw"]"#, r#""hunter2""#]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(d.join("s.enc.yaml")).unwrap(), before);
    let o = sops(d, &env, &["decrypt", "s.enc.yaml"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected);
}

/// sops' own syntax: one command string after the file, run with `/bin/sh -c`; or, after
/// `--`, the program and its arguments run directly. Not both.
#[test]
fn exec_env_and_exec_file_accept_sops_command_string_and_argv_after_dashes() {
    let o = exec(&["exec-env", "basic.enc.env", "echo \"$DB_USER\""]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, b"admin\n");
    let o = exec(&["exec-env", "basic.enc.env", "--", "printenv", "DB_USER"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, b"admin\n");
    let plain = std::fs::read(vectors().join("expected/basic.ini")).unwrap();
    let o = exec(&["exec-file", "basic.enc.ini", "cat {}"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, plain);
    let o = exec(&["exec-file", "--no-fifo", "basic.enc.ini", "--", "cat", "{}"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, plain);
    for verb in ["exec-env", "exec-file"] {
        let file = if verb == "exec-env" {
            "basic.enc.env"
        } else {
            "basic.enc.ini"
        };
        let o = exec(&[verb, file, "true", "--", "true"]);
        assert_eq!(o.status.code(), Some(2), "{verb}: {}", stderr(&o));
        let o = exec(&[verb, file]);
        assert_eq!(o.status.code(), Some(2), "{verb}: {}", stderr(&o));
        let o = exec(&[verb, file, "echo", "two"]);
        assert_eq!(o.status.code(), Some(2), "{verb}: {}", stderr(&o));
    }
}
