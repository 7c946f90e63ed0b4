//! The sops verbs' command line: `--config` (the `.sops.yaml`, as in sops) vs the settings
//! file (`--settings` / `SEALBRIDGE_CONFIG`), exec-file/exec-env process handling, set/unset,
//! and age SSH recipients — against the real sops, age and OpenBao.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::support;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// sealbridge in `dir` with a clean environment plus `env`.
fn sb(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let home = support::tempdir();
    let mut c = support::sealbridge(home.path());
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The real sops in `dir` with a clean environment plus `env`.
fn sops(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let home = support::tempdir();
    let mut c = Command::new(support::sops());
    support::clean_env(&mut c, home.path());
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
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
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

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
