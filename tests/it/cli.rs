//! The binary's own contract: help, version, exit codes.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sealbridge"))
}

#[test]
fn version_prints_version_commit_and_features() {
    let out = bin().arg("version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(&format!("sealbridge {}\n", env!("CARGO_PKG_VERSION"))));
    assert!(text.contains("\ncommit: "));
    assert!(text.contains("\nfeatures: "));
}

#[test]
fn unknown_flag_is_a_usage_error_with_exit_2() {
    let out = bin().arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

/// Without the `kube` feature, `-s/--secret-name` is a usage error that says how to get it.
#[cfg(not(feature = "kube"))]
#[test]
fn secret_name_without_the_kube_feature_is_exit_2_with_a_hint() {
    let home = crate::support::tempdir();
    for args in [
        &["generate", "-s", "avp-config", "-"][..],
        &[
            "argocd",
            "generate",
            "--secret-name",
            "argocd:avp-config",
            ".",
        ],
    ] {
        let out = crate::support::sealbridge(home.path())
            .args(args)
            .current_dir(home.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
        assert!(err.contains("--features kube"), "{err}");
    }
}

/// `sealbridge --settings FILE krm` reads that settings file (as every other command does):
/// the Vault address comes from it, and an invalid file is an error, not ignored.
#[test]
fn krm_reads_the_settings_file_given_on_the_command_line() {
    let bao = crate::support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "app", serde_json::json!({"user": "alice"}));
    let dir = crate::support::tempdir();
    std::fs::write(
        dir.path().join("s.yaml"),
        format!("vault:\n  address: {}\n", bao.addr),
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "no_such_setting: 1\n").unwrap();
    let rl = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n  data:\n    u: <path:{mount}/data/app#user>\n"
    );
    let token = [("VAULT_TOKEN", bao.token.as_str())];
    let o = crate::render::run(
        None,
        dir.path(),
        &["--settings", "s.yaml", "krm"],
        Some(&rl),
        &token,
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("u: alice"), "{out}");

    let o = crate::render::run(
        None,
        dir.path(),
        &["--settings", "bad.yaml", "krm"],
        Some(&rl),
        &token,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.yaml"), "{err}");
}

/// `argocd generate --config FILE` (and AVP's `-c` / `--config-path`) names the settings file,
/// as docs/cli.md says and the `-s` hint suggests.
#[test]
fn argocd_generate_takes_the_settings_file_as_config() {
    let bao = crate::support::openbao();
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "app", serde_json::json!({"user": "alice"}));
    let dir = crate::support::tempdir();
    std::fs::write(
        dir.path().join("s.yaml"),
        format!("vault:\n  address: {}\n", bao.addr),
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "no_such_setting: 1\n").unwrap();
    std::fs::create_dir(dir.path().join("app")).unwrap();
    std::fs::write(
        dir.path().join("app/cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  u: <path:{mount}/data/app#user>\n"),
    )
    .unwrap();
    let token = [("VAULT_TOKEN", bao.token.as_str())];
    for flag in ["--config", "-c", "--config-path"] {
        let o = crate::render::run(
            None,
            dir.path(),
            &["argocd", "generate", flag, "s.yaml", "app"],
            None,
            &token,
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{flag}: {err}");
        assert!(String::from_utf8_lossy(&o.stdout).contains("u: alice"));

        let o = crate::render::run(
            None,
            dir.path(),
            &["argocd", "generate", flag, "bad.yaml", "app"],
            None,
            &token,
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains("bad.yaml"), "{flag}: {err}");
        assert!(o.stdout.is_empty());
    }
}

/// The `exec-file` summary says what the default is: a FIFO, not a temporary file.
#[test]
fn exec_file_help_names_the_fifo_default() {
    let out = bin().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("exec-file"))
        .unwrap_or_default();
    assert!(line.contains("FIFO"), "{text}");
}

#[test]
fn completions_bash_script_completes_subcommands_in_real_bash() {
    let out = bin().args(["completions", "bash"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sealbridge.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let probe = format!(
        "source '{}'; COMP_WORDS=(sealbridge re); COMP_CWORD=1; _sealbridge sealbridge re sealbridge; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let run = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .expect("bash must be installed to test the completion script");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let replies = String::from_utf8_lossy(&run.stdout);
    assert!(
        replies.lines().any(|l| l == "render"),
        "COMPREPLY: {replies}"
    );
}

#[test]
fn completions_zsh_and_fish_scripts_name_the_subcommands() {
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("render"), "{shell}: {text}");
    }
}

#[test]
fn man_page_parses_with_groff() {
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains(".TH sealbridge 1") && page.contains(".SH"),
        "{page}"
    );
    let mut groff = std::process::Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groff must be installed to test the man page: run scripts/setup");
    use std::io::Write as _;
    groff.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let res = groff.wait_with_output().unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        res.stderr.is_empty(),
        "groff warnings: {}",
        String::from_utf8_lossy(&res.stderr)
    );
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert!(dir.path().join("sealbridge.1").is_file());
    assert!(dir.path().join("sealbridge-render.1").is_file());
}

#[test]
fn help_lists_global_options_under_their_own_heading() {
    let out = bin().args(["render", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let (own, global) = help.split_once("Global options:").expect(&help);
    assert!(
        global.contains("--verbose") && global.contains("--disable-token-cache"),
        "{help}"
    );
    assert!(!own.contains("--disable-token-cache"), "{help}");
    let out = bin().args(["--verbose", "version"]).output().unwrap();
    assert!(out.status.success());
}

#[test]
fn render_help_shows_an_example_and_the_environment_it_reads() {
    let out = bin().args(["render", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Example:",
        "sealbridge render examples/quickstart",
        "VAULT_ADDR",
        "VAULT_TOKEN",
        "AVP_",
        "SEALBRIDGE_",
        "SOPS_AGE_KEY_FILE",
    ] {
        assert!(help.contains(needle), "{needle} missing from: {help}");
    }
}

#[test]
fn render_of_an_empty_stdin_fails_instead_of_printing_nothing() {
    // `kustomize build . | sealbridge render -` after kustomize failed: empty stdin.
    for input in ["", "\n", "# only a comment\n---\n"] {
        let home = crate::support::tempdir();
        let mut c = crate::support::sealbridge(home.path());
        c.args(["render", "-"]);
        let o = crate::support::output_with_stdin(c, Some(input.as_bytes()));
        assert_eq!(o.status.code(), Some(1), "{input:?}");
        assert!(o.stdout.is_empty());
        assert!(String::from_utf8_lossy(&o.stderr).contains("standard input held no document"));
    }
}

#[test]
fn verbose_sensitive_output_after_the_command_turns_on_debug_logging() {
    // argocd-vault-plugin's form: `generate --verbose-sensitive-output PATH`.
    let dir = crate::support::tempdir();
    let cm = dir.path().join("cm.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let home = crate::support::tempdir();
        let o = crate::support::sealbridge(home.path())
            .args(args)
            .arg(&cm)
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(run(&["generate", "--verbose-sensitive-output"]).contains("DEBUG"));
    assert!(run(&["render", "--verbose-sensitive-output"]).contains("DEBUG"));
    assert!(!run(&["generate"]).contains("DEBUG"));
}

#[test]
fn a_config_file_of_the_other_kind_gets_a_hint() {
    let dir = crate::support::tempdir();
    let d = dir.path();
    std::fs::write(d.join("rules.yaml"), "creation_rules:\n  - age: age1x\n").unwrap();
    std::fs::write(
        d.join("settings.yaml"),
        "vault:\n  address: http://127.0.0.1:1\n",
    )
    .unwrap();
    std::fs::write(d.join("plain.yaml"), "a: 1\n").unwrap();
    let run = |args: &[&str]| {
        let home = crate::support::tempdir();
        crate::support::sealbridge(home.path())
            .current_dir(d)
            .args(args)
            .output()
            .unwrap()
    };
    // A .sops.yaml given as the settings file.
    let o = run(&["render", "--config", "rules.yaml", "plain.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("looks like a .sops.yaml"));
    // A settings file given as a sops verb's --config.
    let o = run(&[
        "encrypt",
        "--config",
        "settings.yaml",
        "--age",
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        "plain.yaml",
    ]);
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("looks like a sealbridge settings file"));
}

#[test]
fn typos_in_annotations_and_modifiers_fail_with_did_you_mean() {
    // `avp.kubernetes.io/paht` would leave `<password>` unresolved without a word.
    let dir = crate::support::tempdir();
    let d = dir.path();
    std::fs::write(
        d.join("a.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  annotations:\n    avp.kubernetes.io/paht: secret/data/x\nstringData:\n  a: <password>\n",
    )
    .unwrap();
    std::fs::write(
        d.join("m.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: y\nstringData:\n  a: <path:secret/data/x#y | base64encod>\n",
    )
    .unwrap();
    for (file, want) in [
        ("a.yaml", "did you mean avp.kubernetes.io/path?"),
        ("m.yaml", "did you mean `base64encode`?"),
    ] {
        let home = crate::support::tempdir();
        let o = crate::support::sealbridge(home.path())
            .current_dir(d)
            .args(["render", file])
            .env("VAULT_ADDR", "http://127.0.0.1:1")
            .env("VAULT_TOKEN", "unused")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{file}");
        assert!(o.stdout.is_empty());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{file}: {err}");
    }
}

#[test]
fn render_list_shows_what_each_reference_would_read_without_fetching() {
    // No Vault address, no key: nothing is contacted or decrypted.
    let dir = crate::support::tempdir();
    let d = dir.path();
    std::fs::write(
        d.join("l.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  a: <path:kv/data/app#password>\n  b: ref+sops://s.enc.yaml#/a\n  c: <path:sys/config/state#x>\n",
    )
    .unwrap();
    let home = crate::support::tempdir();
    let o = crate::support::sealbridge(home.path())
        .current_dir(d)
        .args(["render", "--list", "l.yaml"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(".stringData.a") && out.contains("vault://kv/data/app"),
        "{out}"
    );
    assert!(out.contains("sops://s.enc.yaml"), "{out}");
    // A Vault system path is refused in the plan step, so the listing shows it.
    assert!(
        out.lines()
            .any(|l| l.starts_with("REFUSED") && l.contains(".stringData.c")),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
}

#[test]
fn global_options_that_do_nothing_for_a_command_are_not_in_its_help() {
    let help = |args: &[&str]| {
        let home = crate::support::tempdir();
        let o = crate::support::sealbridge(home.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    for cmd in ["version", "filestatus", "completions", "man"] {
        let h = help(&[cmd, "--help"]);
        assert!(h.starts_with("Print") || h.contains("Usage:"), "{cmd}: {h}");
        for hidden in ["--disable-token-cache", "--settings", "--policy"] {
            assert!(!h.contains(hidden), "{cmd} --help shows {hidden}:\n{h}");
        }
    }
    let h = help(&["render", "--help"]);
    assert!(
        h.contains("--disable-token-cache") && h.contains("--policy"),
        "{h}"
    );
    // Still accepted (hidden, not removed): scripts that pass them everywhere keep working.
    help(&["--disable-token-cache", "version"]);
}

#[test]
fn render_explain_names_who_would_fetch_and_no_credential() {
    let dir = crate::support::tempdir();
    let d = dir.path();
    std::fs::write(
        d.join("l.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  a: <path:kv/data/app#password>\n",
    )
    .unwrap();
    let home = crate::support::tempdir();
    let o = crate::support::sealbridge(home.path())
        .current_dir(d)
        .args(["render", "--explain", "l.yaml"])
        .env("VAULT_ADDR", "http://127.0.0.1:8200")
        .env("AVP_AUTH_TYPE", "approle")
        .env("AVP_ROLE_ID", "role-id-not-to-print")
        .env("AVP_SECRET_ID", "secret-id-not-to-print")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("# vault: http://127.0.0.1:8200 auth approle at auth/approle"),
        "{out}"
    );
    assert!(out.contains("# tenant: none"), "{out}");
    assert!(out.contains("vault://kv/data/app"), "{out}");
    assert!(!out.contains("not-to-print"), "{out}");
}
