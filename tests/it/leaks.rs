//! Leak audit through the real binary: distinctive canary values stored in the real OpenBao and
//! in sops files made by the real `sops` are driven through every failure mode we know of, with
//! `--verbose` and `SEALBRIDGE_LOG=trace`. The canaries — and the Vault token, secret ids, JWTs,
//! passwords, age identities and the sops data key — must never show up on stderr; on failure
//! stdout is empty (KRM: a ResourceList without values) and the exit code is 1 or 2; nothing
//! panics; `exec-file` leaves no temp file behind.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::json;

use crate::support::{self, OpenBao};
use sealbridge::yaml::{self, Node};

/// Canary secret values: distinctive, never produced by anything but a leak.
const C_PLAIN: &str = "Cnry7QwZplainXv3Lk9Pd";
const C_NOTB64: &str = "Cnry8RtYnotb64Hh2Mm!!*";
const C_JSON: &str = "{\"broken\": Cnry9UiOjsonBb5Nn";
const C_YAML: &str = "key: [unclosed, Cnry1PaSyamlGg6Jj\n  - : {";
const C_INNER: &str = "Cnry2DfGinnerKk7Ll";
const C_MULTI: &str = "first Cnry3HjKmultiQq8Ww\n\t  odd\tindent\r\n";
const C_SOPS_A: &str = "Cnry4ZxCsopsaEe9Rr";
const C_SOPS_B: &str = "Cnry5VbNsopsbTt0Yy";
const C_SOPS_NOTB64: &str = "Cnry6MqWsopsnb64%%";
const C_TOKEN: &str = "hvs.Cnry0TokenAaBbCcDdEeFf";
const C_SECRET_ID: &str = "Cnry0SecretIdGgHhIiJj";
const C_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJDbnJ5MEp3dCI6MX0.Cnry0JwtSigKkLlMm";
const C_PASSWORD: &str = "Cnry0PasswordNnOoPp";

/// Every canary of this file, for a blanket check.
const ALL: &[&str] = &[
    C_PLAIN,
    C_NOTB64,
    C_JSON,
    C_YAML,
    C_INNER,
    C_MULTI,
    C_SOPS_A,
    C_SOPS_B,
    C_SOPS_NOTB64,
    C_TOKEN,
    C_SECRET_ID,
    C_JWT,
    C_PASSWORD,
];

/// Runs sealbridge with `--verbose`, `SEALBRIDGE_LOG=trace` and the token cache off.
fn run(dir: &Path, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd: Command = support::sealbridge(&home);
    cmd.current_dir(dir)
        .arg("--verbose")
        .args(args)
        .env("SEALBRIDGE_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        .env("SEALBRIDGE_VAULT_TOKEN_CACHE", "false");
    for (k, v) in env {
        cmd.env(k, v);
    }
    support::output_with_stdin(cmd, stdin.map(str::as_bytes))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Fragments of a secret that must not appear: the whole value, every 10-character window of
/// it (a truncated or partly quoted value still leaks), its base64 and its JSON-escaped form.
fn fragments(secret: &str) -> Vec<String> {
    let mut out = vec![
        secret.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        serde_json::to_string(secret).unwrap(),
        format!("{secret:?}"),
    ];
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() > 10 {
        for w in chars.windows(10) {
            let s: String = w.iter().collect();
            if s.trim().len() == 10 {
                out.push(s);
            }
        }
    }
    out
}

/// Asserts that none of `secrets` (nor any fragment) occurs in `haystack`.
fn assert_absent(what: &str, haystack: &str, secrets: &[&str]) {
    for s in secrets {
        for f in fragments(s) {
            assert!(
                !haystack.contains(&f),
                "{what} leaks a secret fragment {f:?}:\n{haystack}"
            );
        }
    }
}

/// A failure done right: exit 1 or 2, nothing on stdout, no panic, no secret on stderr.
/// Returns stderr.
fn failed_without_leak(o: &Output, secrets: &[&str]) -> String {
    // `LEAKS_SHOW=1 cargo test --test it leaks:: -- --nocapture` prints every message for review.
    if std::env::var_os("LEAKS_SHOW").is_some() {
        eprintln!("=== exit {:?}\n{}", o.status.code(), text(&o.stderr));
    }
    let err = text(&o.stderr);
    let code = o.status.code();
    // 1/2, or for the sops verbs one of sops' failure codes (docs/sops.md).
    assert!(
        matches!(
            code,
            Some(1 | 2 | 3 | 4 | 7 | 25 | 51 | 91 | 92 | 100 | 128 | 203)
        ),
        "exit code {code:?} (want 1, 2 or a sops failure code)\nstderr:\n{err}"
    );
    assert!(
        o.stdout.is_empty(),
        "stdout must be empty on failure, got:\n{}",
        text(&o.stdout)
    );
    assert!(!err.contains("panicked"), "panic:\n{err}");
    assert!(!err.trim().is_empty(), "a failure must say what went wrong");
    assert_absent("stderr", &err, secrets);
    assert_absent("stderr", &err, ALL);
    err
}

/// Stores the Vault canaries in a fresh KV v2 mount; returns `mount/app`.
fn vault_canaries(bao: &OpenBao) -> String {
    let mount = bao.new_kv2();
    bao.kv2_put(
        &mount,
        "app",
        json!({
            "plain": C_PLAIN,
            "notb64": C_NOTB64,
            "json": C_JSON,
            "yaml": C_YAML,
            "obj": format!("{{\"inner\": \"{C_INNER}\"}}"),
            "multi": C_MULTI,
            "nested": {"inner": C_INNER},
        }),
    );
    format!("{mount}/app")
}

fn bao_env(bao: &OpenBao) -> Vec<(&'static str, String)> {
    bao.env().to_vec()
}

fn with_env<'a>(
    base: &'a [(&'static str, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    v.extend_from_slice(extra);
    v
}

/// A manifest where `good` resolves (so a resolved value is in memory when the run fails) and
/// `bad` fails.
fn secret_doc(good: &str, bad: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\nstringData:\n  good: '{good}'\n  bad: '{bad}'\n"
    )
}

#[test]
fn vault_render_failures_never_show_values_or_the_token() {
    let bao = support::openbao();
    let path = vault_canaries(bao);
    let dir = support::tempdir();
    let env = bao_env(bao);
    let env = with_env(&env, &[]);
    let good = format!("<path:{path}#plain>");
    let cases: Vec<(&str, String, &str)> = vec![
        ("missing key", format!("<path:{path}#nope>"), "nope"),
        (
            "missing path",
            format!(
                "<path:{}/nothing-here#plain>",
                path.trim_end_matches("/app")
            ),
            "nothing-here",
        ),
        (
            "base64decode of a non-base64 value",
            format!("<path:{path}#notb64 | base64decode>"),
            "base64",
        ),
        (
            "jsonParse of a non-JSON value",
            format!("<path:{path}#json | jsonParse>"),
            "JSON",
        ),
        (
            "yamlParse of broken YAML",
            format!("<path:{path}#yaml | yamlParse>"),
            "YAML",
        ),
        (
            "jsonPath on a non-JSON value",
            format!("<path:{path}#json | jsonPath {{.broken}}>"),
            "JSON",
        ),
        (
            "jsonPath that finds nothing",
            format!("<path:{path}#obj | jsonPath {{.nothing}}>"),
            "nothing",
        ),
        (
            "indent of a map",
            format!("<path:{path}#obj | jsonParse | indent 2>"),
            "map",
        ),
        (
            "base64decode of a map",
            format!("<path:{path}#nested | base64decode>"),
            "map",
        ),
        (
            "vals pointer below a string",
            format!("ref+vault://{path}#/multi/deeper"),
            "multi",
        ),
        (
            "unknown modifier",
            format!("<path:{path}#plain | nosuchmodifier>"),
            "nosuchmodifier",
        ),
        (
            "version that does not exist",
            format!("<path:{path}#plain#99>"),
            "99",
        ),
    ];
    for (what, bad, mentions) in cases {
        let src = secret_doc(&good, &bad);
        let o = run(dir.path(), &["render", "-"], Some(&src), &env);
        let err = failed_without_leak(&o, &[&bao.token]);
        assert!(
            err.contains(mentions),
            "{what}: the message should mention {mentions:?}:\n{err}"
        );
        assert!(
            err.contains(".stringData.bad"),
            "{what}: no field path:\n{err}"
        );
    }

    // All failures at once, spread over documents and a data field: still nothing.
    let mut src = String::new();
    for (i, bad) in [
        format!("<path:{path}#notb64 | base64decode>"),
        format!("<path:{path}#json | jsonParse>"),
        format!("<path:{path}#yaml | yamlParse>"),
    ]
    .iter()
    .enumerate()
    {
        src.push_str(&format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\ndata:\n  good: <path:{path}#multi>\n  bad: '{bad}'\n"
        ));
    }
    let o = run(dir.path(), &["render", "-"], Some(&src), &env);
    failed_without_leak(&o, &[&bao.token]);

    // Sanity: the same input without the bad reference does print the value, so the checks
    // above look at the right thing — and a successful traced run logs no value either.
    let o = run(
        dir.path(),
        &["render", "-"],
        Some(&secret_doc(
            &good,
            &format!("<path:{path}#multi | base64encode>"),
        )),
        &env,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(C_PLAIN));
    let err = text(&o.stderr);
    assert!(
        err.contains("GET") || err.contains("get") || err.contains("request"),
        "--verbose should log requests:\n{err}"
    );
    assert_absent("stderr of a successful run", &err, ALL);
    assert_absent("stderr of a successful run", &err, &[&bao.token]);
}

#[test]
fn vault_credentials_never_reach_stderr() {
    let bao = support::openbao();
    let path = vault_canaries(bao);
    let dir = support::tempdir();
    let src = secret_doc(&format!("<path:{path}#plain>"), "x");

    // A bad token.
    let o = run(
        dir.path(),
        &["render", "-"],
        Some(&src),
        &[("VAULT_ADDR", &bao.addr), ("VAULT_TOKEN", C_TOKEN)],
    );
    let err = failed_without_leak(&o, &[C_TOKEN, &bao.token]);
    assert!(
        err.contains("permission denied") || err.contains("403"),
        "{err}"
    );

    // Unreachable server, with retries off so the run is quick.
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let o = run(
        dir.path(),
        &["render", "-"],
        Some(&src),
        &[
            ("VAULT_ADDR", &closed),
            ("VAULT_TOKEN", C_TOKEN),
            ("SEALBRIDGE_VAULT_MAX_RETRIES", "0"),
        ],
    );
    let err = failed_without_leak(&o, &[C_TOKEN]);
    assert!(err.contains("unreachable"), "{err}");

    // Login methods with canary credentials against a server where they do not work.
    let jwt_file = dir.path().join("jwt");
    std::fs::write(&jwt_file, C_JWT).unwrap();
    let jwt_file = jwt_file.display().to_string();
    let logins: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("SEALBRIDGE_VAULT_AUTH", "approle"),
            ("SEALBRIDGE_VAULT_ROLE_ID", "leak-role"),
            ("SEALBRIDGE_VAULT_SECRET_ID", C_SECRET_ID),
        ],
        vec![
            ("AVP_AUTH_TYPE", "approle"),
            ("AVP_ROLE_ID", "leak-role"),
            ("AVP_SECRET_ID", C_SECRET_ID),
        ],
        vec![
            ("SEALBRIDGE_VAULT_AUTH", "jwt"),
            ("SEALBRIDGE_VAULT_ROLE", "leak"),
            ("SEALBRIDGE_VAULT_JWT", C_JWT),
        ],
        vec![
            ("SEALBRIDGE_VAULT_AUTH", "kubernetes"),
            ("SEALBRIDGE_VAULT_ROLE", "leak"),
            ("SEALBRIDGE_VAULT_JWT_FILE", &jwt_file),
        ],
        vec![
            ("SEALBRIDGE_VAULT_AUTH", "userpass"),
            ("SEALBRIDGE_VAULT_USERNAME", "leak"),
            ("SEALBRIDGE_VAULT_PASSWORD", C_PASSWORD),
        ],
        vec![
            ("SEALBRIDGE_VAULT_AUTH", "github"),
            ("SEALBRIDGE_VAULT_GITHUB_TOKEN", C_TOKEN),
        ],
    ];
    for login in logins {
        let mut env = vec![
            ("VAULT_ADDR", bao.addr.as_str()),
            ("SEALBRIDGE_VAULT_MAX_RETRIES", "0"),
        ];
        env.extend(login.iter().copied());
        let o = run(dir.path(), &["render", "-"], Some(&src), &env);
        let err = failed_without_leak(&o, &[C_SECRET_ID, C_JWT, C_PASSWORD, C_TOKEN]);
        assert!(
            err.contains("login") || err.contains("auth"),
            "{login:?}: {err}"
        );
    }

    // The same credentials given as a settings file.
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "vault:\n  address: {}\n  auth:\n    method: approle\n    role_id: leak-role\n    secret_id_file: {}\n",
            bao.addr, jwt_file
        ),
    )
    .unwrap();
    let o = run(
        dir.path(),
        &["--config", &cfg.display().to_string(), "render", "-"],
        Some(&src),
        &[("SEALBRIDGE_VAULT_MAX_RETRIES", "0")],
    );
    failed_without_leak(&o, &[C_JWT]);
}

/// A sops working directory: an age key pair, a wrong key, and `secrets.enc.yaml` made by the
/// real sops with the canaries (plus an unencrypted value covered by the MAC).
struct SopsDir {
    dir: tempfile::TempDir,
    identity: String,
    key_file: String,
    wrong_identity: String,
    enc: String,
}

/// `name` in `dir` encrypted by the real sops (YAML in and out) for `recipient`.
fn sops_encrypt_yaml(dir: &tempfile::TempDir, recipient: &str, name: &str) -> Vec<u8> {
    support::sops_ok(
        dir.path(),
        support::NO_ENV,
        &[
            "encrypt",
            "--age",
            recipient,
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            name,
        ],
    )
}

fn sops_dir() -> SopsDir {
    let dir = support::tempdir();
    let (identity, recipient) = support::age_keypair();
    let (wrong_identity, _) = support::age_keypair();
    let key_file = dir.path().join("age.txt");
    std::fs::write(&key_file, &identity).unwrap();
    let plain = dir.path().join("secrets.yaml");
    std::fs::write(
        &plain,
        format!(
            "a: {C_SOPS_A}\nb: {C_SOPS_B}\nnotb64: '{C_SOPS_NOTB64}'\nyaml: '{}'\nnested:\n    deeper: {C_SOPS_A}\nlist:\n    - {C_SOPS_B}\nnote_unencrypted: visible\n",
            C_YAML.replace('\n', "\\n").replace('\'', "''")
        ),
    )
    .unwrap();
    let enc = sops_encrypt_yaml(&dir, &recipient, "secrets.yaml");
    std::fs::remove_file(&plain).unwrap();
    let enc = text(&enc);
    std::fs::write(dir.path().join("secrets.enc.yaml"), &enc).unwrap();
    // A flat file (usable as an environment).
    let flat = dir.path().join("flat.yaml");
    std::fs::write(&flat, format!("A: {C_SOPS_A}\nB: {C_SOPS_B}\n")).unwrap();
    let flat_enc = sops_encrypt_yaml(&dir, &recipient, "flat.yaml");
    std::fs::remove_file(&flat).unwrap();
    std::fs::write(dir.path().join("flat.enc.yaml"), &flat_enc).unwrap();
    SopsDir {
        key_file: key_file.display().to_string(),
        dir,
        identity,
        wrong_identity,
        enc,
    }
}

/// The `AGE-SECRET-KEY-…` line of an identity file.
fn secret_key_line(identity: &str) -> &str {
    identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
}

/// The sops data key, unwrapped with the real `age` (hex and base64 forms are checked).
fn data_key(s: &SopsDir) -> Vec<u8> {
    let enc = &s.enc;
    let start = enc.find("-----BEGIN AGE ENCRYPTED FILE-----").unwrap();
    let end = enc.find("-----END AGE ENCRYPTED FILE-----").unwrap()
        + "-----END AGE ENCRYPTED FILE-----".len();
    let armored: String = enc[start..end]
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n");
    let f = s.dir.path().join("dk.age");
    std::fs::write(&f, format!("{armored}\n")).unwrap();
    let out = Command::new(support::age())
        .args(["-d", "-i", &s.key_file])
        .arg(&f)
        .output()
        .unwrap();
    std::fs::remove_file(&f).unwrap();
    assert!(out.status.success(), "age -d: {}", text(&out.stderr));
    assert_eq!(out.stdout.len(), 32, "a sops data key is 32 bytes");
    out.stdout
}

fn key_forms(dk: &[u8]) -> Vec<String> {
    vec![
        hex::encode(dk),
        hex::encode_upper(dk),
        base64::engine::general_purpose::STANDARD.encode(dk),
        format!("{dk:?}"),
    ]
}

fn assert_no_key(what: &str, err: &str, dk: &[u8], identities: &[&str]) {
    for f in key_forms(dk) {
        assert!(
            !err.contains(&f),
            "{what}: the sops data key leaks ({f}):\n{err}"
        );
    }
    for id in identities {
        let line = secret_key_line(id);
        assert!(
            !err.contains(line) && !err.contains(&line[15..35]),
            "{what}: an age identity leaks:\n{err}"
        );
    }
}

#[test]
fn sops_decrypt_failures_never_show_values_or_keys() {
    let s = sops_dir();
    let dk = data_key(&s);
    let dir = s.dir.path();
    let key_env = [("SOPS_AGE_KEY_FILE", s.key_file.as_str())];
    let ids = [s.identity.as_str(), s.wrong_identity.as_str()];

    // Sanity: the file decrypts, so the failures below are the cases' own.
    let o = run(dir, &["decrypt", "secrets.enc.yaml"], None, &key_env);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(C_SOPS_A));
    let err = text(&o.stderr);
    assert_absent("stderr of a successful decrypt", &err, ALL);
    assert_no_key("successful decrypt", &err, &dk, &ids);

    // Wrong key, given inline (SOPS_AGE_KEY) and as a file.
    let wrong_line = secret_key_line(&s.wrong_identity).to_owned();
    let o = run(
        dir,
        &["decrypt", "secrets.enc.yaml"],
        None,
        &[("SOPS_AGE_KEY", &wrong_line)],
    );
    let err = failed_without_leak(&o, &[]);
    assert_no_key("wrong key", &err, &dk, &ids);
    assert!(
        err.contains("age1"),
        "the message should name the recipient: {err}"
    );

    // MAC mismatch: an unencrypted value changed.
    let tampered = s
        .enc
        .replace("note_unencrypted: visible", "note_unencrypted: visiblE");
    assert_ne!(tampered, s.enc);
    std::fs::write(dir.join("mac.enc.yaml"), &tampered).unwrap();
    let o = run(dir, &["decrypt", "mac.enc.yaml"], None, &key_env);
    let err = failed_without_leak(&o, &[]);
    assert!(err.contains("MAC mismatch"), "{err}");
    assert_no_key("MAC mismatch", &err, &dk, &ids);

    // A tampered ciphertext (one data character flipped) of the first value.
    let at = s.enc.find("data:").unwrap() + 6;
    let mut bytes = s.enc.clone().into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(dir.join("tampered.enc.yaml"), &bytes).unwrap();
    let o = run(dir, &["decrypt", "tampered.enc.yaml"], None, &key_env);
    let err = failed_without_leak(&o, &[]);
    assert_no_key("tampered value", &err, &dk, &ids);

    // A malformed ENC[] value (truncated tag).
    let malformed = s.enc.replacen(",type:str]", ",type:]", 1);
    std::fs::write(dir.join("malformed.enc.yaml"), malformed).unwrap();
    let o = run(dir, &["decrypt", "malformed.enc.yaml"], None, &key_env);
    let err = failed_without_leak(&o, &[]);
    assert_no_key("malformed value", &err, &dk, &ids);

    // Extract of a path that does not exist; output type that cannot hold the tree.
    for args in [
        &[
            "decrypt",
            "--extract",
            "[\"nested\"][\"nope\"]",
            "secrets.enc.yaml",
        ][..],
        &[
            "decrypt",
            "--extract",
            "[\"a\"][\"below-a-string\"]",
            "secrets.enc.yaml",
        ][..],
        &["decrypt", "--output-type", "dotenv", "secrets.enc.yaml"][..],
        &["decrypt", "--input-type", "json", "secrets.enc.yaml"][..],
    ] {
        let o = run(dir, args, None, &key_env);
        let err = failed_without_leak(&o, &[]);
        assert_no_key(&format!("{args:?}"), &err, &dk, &ids);
    }

    // Missing metadata: a plaintext file is refused without printing it.
    std::fs::write(dir.join("plain.yaml"), format!("a: {C_SOPS_A}\n")).unwrap();
    let o = run(dir, &["decrypt", "plain.yaml"], None, &key_env);
    failed_without_leak(&o, &[]);
}

#[test]
fn sops_exec_failures_leak_nothing_and_leave_no_temp_file() {
    let s = sops_dir();
    let dir = s.dir.path();
    let key_env = [("SOPS_AGE_KEY_FILE", s.key_file.as_str())];

    // exec-file: the child fails; the temp file it saw must be gone afterwards, and the child
    // saw it private (0600).
    let seen = dir.join("seen");
    let script = format!(
        "stat -c %a {{}} > '{0}.mode'; printf %s {{}} > '{0}'; exit 3",
        seen.display()
    );
    let o = run(
        dir,
        &["exec-file", "secrets.enc.yaml", "--", "sh", "-c", &script],
        None,
        &key_env,
    );
    assert_ne!(
        o.status.code(),
        Some(0),
        "the child's failure must not be success"
    );
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_absent("exec-file stderr", &err, ALL);
    let path = std::fs::read_to_string(&seen).unwrap();
    assert!(!path.is_empty());
    assert!(
        !Path::new(&path).exists(),
        "exec-file left its plaintext file behind at {path}"
    );
    let mode = std::fs::read_to_string(format!("{}.mode", seen.display())).unwrap();
    assert_eq!(mode.trim(), "600", "the plaintext file must be private");

    // exec-env with a command that does not exist.
    let o = run(
        dir,
        &[
            "exec-env",
            "flat.enc.yaml",
            "--",
            "/nonexistent/cnry-command",
        ],
        None,
        &key_env,
    );
    // (run through `sh -c` like sops: the shell's 127 is passed on)
    assert_ne!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_absent("exec-env stderr", &err, ALL);

    // exec-env with the wrong key: the child must not run at all.
    let marker = dir.join("ran");
    let o = run(
        dir,
        &[
            "exec-env",
            "flat.enc.yaml",
            "--",
            "sh",
            "-c",
            &format!("touch '{}'", marker.display()),
        ],
        None,
        &[("SOPS_AGE_KEY", secret_key_line(&s.wrong_identity))],
    );
    failed_without_leak(&o, &[]);
    assert!(!marker.exists(), "the child ran although decryption failed");
}

#[test]
fn render_with_sops_files_fails_without_values() {
    let s = sops_dir();
    let dk = data_key(&s);
    let dir = s.dir.path();
    let key_env = [("SOPS_AGE_KEY_FILE", s.key_file.as_str())];
    let ids = [s.identity.as_str(), s.wrong_identity.as_str()];
    let good = "<path:sops://secrets.enc.yaml#a>";
    let cases = [
        "<path:sops://secrets.enc.yaml#notb64 | base64decode>",
        "<path:sops://secrets.enc.yaml#a | jsonParse>",
        "<path:sops://secrets.enc.yaml#yaml | yamlParse>",
        "<path:sops://secrets.enc.yaml#nested | indent 4>",
        "<path:sops://secrets.enc.yaml#nope>",
        "ref+sops://secrets.enc.yaml#/list/3",
        "ref+sops://secrets.enc.yaml#/a/below",
        "<path:sops://../secrets.enc.yaml#a>",
        "<path:sops://missing.enc.yaml#a>",
    ];
    for bad in cases {
        let o = run(
            dir,
            &["render", "-"],
            Some(&secret_doc(good, bad)),
            &key_env,
        );
        let err = failed_without_leak(&o, &[]);
        assert_no_key(bad, &err, &dk, &ids);
        assert!(err.contains(".stringData.bad"), "{bad}: {err}");
    }

    // Tampered and wrong-key files through the render engine.
    let at = s.enc.find("data:").unwrap() + 6;
    let mut bytes = s.enc.clone().into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(dir.join("tampered.enc.yaml"), &bytes).unwrap();
    let o = run(
        dir,
        &["render", "-"],
        Some(&secret_doc(good, "<path:sops://tampered.enc.yaml#b>")),
        &key_env,
    );
    let err = failed_without_leak(&o, &[]);
    assert_no_key("render tampered", &err, &dk, &ids);
    let o = run(
        dir,
        &["render", "-"],
        Some(&secret_doc(good, good)),
        &[("SOPS_AGE_KEY", secret_key_line(&s.wrong_identity))],
    );
    let err = failed_without_leak(&o, &[]);
    assert_no_key("render wrong key", &err, &dk, &ids);

    // Sanity: the good reference alone renders, and tracing logs no value.
    let o = run(
        dir,
        &["render", "-"],
        Some(&secret_doc(good, "<path:sops://secrets.enc.yaml#b>")),
        &key_env,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(C_SOPS_A));
    let err = text(&o.stderr);
    assert_absent("stderr of a successful render", &err, ALL);
    assert_no_key("successful render", &err, &dk, &ids);
}

#[test]
fn a_sops_file_cannot_send_the_token_to_an_address_the_repo_names() {
    // A listener that records whatever reaches it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let evil = format!("http://{}", listener.local_addr().unwrap());
    let bao = support::openbao();
    let s = sops_dir();
    let dir = s.dir.path();
    // A file whose data key is (also) wrapped by a transit key at the attacker's address.
    let forged = s.enc.replacen(
        "    age:\n",
        &format!(
            "    hc_vault:\n        - vault_address: {evil}\n          engine_path: transit\n          key_name: k\n          created_at: \"2024-01-01T00:00:00Z\"\n          enc: vault:v1:AAAA\n    age:\n"
        ),
        1,
    );
    assert_ne!(forged, s.enc, "the sops metadata layout changed");
    std::fs::write(dir.join("forged.enc.yaml"), forged).unwrap();
    // Transit keys are tried before age keys; with no age key the transit key is the only way.
    let o = run(
        dir,
        &["render", "-"],
        Some(&secret_doc("x", "<path:sops://forged.enc.yaml#a>")),
        &[("VAULT_ADDR", &bao.addr), ("VAULT_TOKEN", C_TOKEN)],
    );
    let err = failed_without_leak(&o, &[C_TOKEN]);
    assert!(err.contains("refusing"), "{err}");
    match listener.accept() {
        Ok(_) => panic!("sealbridge connected to the address named in the repository"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
    }

    // A transit key at the configured address whose path climbs out of the transit mount
    // (`../../secret/data/x`) must be refused too: it would make the sidecar `PUT` elsewhere.
    let climbing = s.enc.replacen(
        "    age:\n",
        &format!(
            "    hc_vault:\n        - vault_address: {}\n          engine_path: transit\n          key_name: ../../leakwrite/data/x\n          created_at: \"2024-01-01T00:00:00Z\"\n          enc: vault:v1:AAAA\n    age:\n",
            bao.addr
        ),
        1,
    );
    std::fs::write(dir.join("climb.enc.yaml"), climbing).unwrap();
    let mount = bao.new_kv2();
    let climbing = std::fs::read_to_string(dir.join("climb.enc.yaml"))
        .unwrap()
        .replace("leakwrite", &mount);
    std::fs::write(dir.join("climb.enc.yaml"), climbing).unwrap();
    let before = bao.count_requests(&format!("{mount}/"));
    let o = run(
        dir,
        &["render", "-"],
        Some(&secret_doc("x", "<path:sops://climb.enc.yaml#a>")),
        &[("VAULT_ADDR", &bao.addr), ("VAULT_TOKEN", &bao.token)],
    );
    failed_without_leak(&o, &[&bao.token]);
    assert_eq!(
        bao.count_requests(&format!("{mount}/")),
        before,
        "a transit key path reached another mount"
    );
}

#[test]
fn argocd_and_krm_failures_leak_nothing() {
    let bao = support::openbao();
    let path = vault_canaries(bao);
    let s = sops_dir();
    let dir = s.dir.path();
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("secret.yaml"),
        secret_doc(
            &format!("<path:{path}#plain>"),
            &format!("<path:{path}#notb64 | base64decode>"),
        ),
    )
    .unwrap();
    let env = bao_env(bao);
    let env = with_env(
        &env,
        &[("ARGOCD_APP_NAME", "leak"), ("ARGOCD_APP_NAMESPACE", "x")],
    );
    let o = run(dir, &["argocd", "generate", "app"], None, &env);
    failed_without_leak(&o, &[&bao.token]);

    // KRM generator with the wrong key: a ResourceList with an error result, no values.
    let rl = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n  apiVersion: sealbridge.io/v1alpha1\n  kind: SecretGenerator\n  metadata:\n    name: leak\n  envs:\n    - secrets.enc.yaml\n";
    let o = run(
        dir,
        &["krm"],
        Some(rl),
        &[("SOPS_AGE_KEY", secret_key_line(&s.wrong_identity))],
    );
    let out = text(&o.stdout);
    let err = text(&o.stderr);
    assert!(matches!(o.status.code(), Some(1 | 2)), "{err}\n{out}");
    assert!(!err.contains("panicked"), "{err}");
    assert_absent("krm stderr", &err, ALL);
    assert_absent("krm stdout", &out, ALL);
    assert!(
        !out.contains("kind: Secret\n"),
        "no Secret on failure:\n{out}"
    );
}

// ---- Bounded work: memory and time (project issue 9, item 5) ----

/// Runs sealbridge in `dir` under an address-space limit of 1 GiB (`prlimit`), so that a run
/// that would allocate gigabytes dies instead of taking the machine with it.
fn run_limited(dir: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new("prlimit");
    support::clean_env(&mut cmd, &home);
    cmd.arg("--as=1073741824")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_sealbridge"))
        .args(args)
        .current_dir(dir)
        .env("SEALBRIDGE_VAULT_TOKEN_CACHE", "false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .expect("prlimit (util-linux) must be installed for the resource-limit tests");
    // A run refused before it reads its input closes the pipe early.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn config_map(values: &[String]) -> String {
    let mut doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n".to_owned();
    for (i, v) in values.iter().enumerate() {
        doc.push_str(&format!("  k{i}: '{v}'\n"));
    }
    doc
}

#[test]
fn modifier_chain_cannot_exhaust_memory() {
    let s = sops_dir();
    let key_env = [("SOPS_AGE_KEY_FILE", s.key_file.as_str())];
    // Under 1 KB: each base64encode grows the value by 4/3; 60 of them ask for gigabytes.
    let chain = " | base64encode".repeat(60);
    let doc = config_map(&[format!("<path:sops://secrets.enc.yaml#a{chain}>")]);
    assert!(doc.len() < 1200, "{}", doc.len());
    let o = run_limited(s.dir.path(), &["render", "-"], &doc, &key_env);
    let err = failed_without_leak(&o, &[]);
    assert!(
        err.contains("60 modifiers; a reference takes at most 16"),
        "{err}"
    );
}

#[test]
fn modifier_results_and_output_are_bounded_by_the_operator_setting() {
    let s = sops_dir();
    let dir = s.dir.path();
    let limit = ("SEALBRIDGE_MAX_OUTPUT", "1MiB");
    let key_env = [("SOPS_AGE_KEY_FILE", s.key_file.as_str()), limit];
    // 16 modifiers: 2 KB grows to ~200 KB, past a sixteenth of 1 MiB (64 KiB).
    let start = "x".repeat(2000);
    let chain = " | base64encode".repeat(15);
    let doc = config_map(&[format!(
        "<path:sops://secrets.enc.yaml#missing | default \"{start}\"{chain}>"
    )]);
    let o = run_limited(dir, &["render", "-"], &doc, &key_env);
    let err = failed_without_leak(&o, &[]);
    assert!(
        err.contains("base64encode: the result would be") && err.contains("65536 bytes per value"),
        "{err}"
    );
    // Many values each within the per-value bound add up past the output bound.
    let value = format!(
        "<path:sops://secrets.enc.yaml#missing | default \"{}\"{}>",
        "y".repeat(2000),
        " | base64encode".repeat(10)
    );
    let doc = config_map(&vec![value; 40]);
    let o = run_limited(dir, &["render", "-"], &doc, &key_env);
    let err = failed_without_leak(&o, &[]);
    assert!(err.contains("add up to more than 1048576 bytes"), "{err}");
    // The bound is the operator's: an Application cannot raise it.
    let o = run_limited(
        dir,
        &["render", "-"],
        &doc,
        &[
            ("SOPS_AGE_KEY_FILE", s.key_file.as_str()),
            ("ARGOCD_ENV_SEALBRIDGE_MAX_OUTPUT", "64GiB"),
        ],
    );
    let err = failed_without_leak(&o, &[]);
    assert!(err.contains("ARGOCD_ENV_SEALBRIDGE_MAX_OUTPUT"), "{err}");
}

/// Waits for `child` (at most `guard`: a hang is a failure, not a timing assertion).
fn wait_guarded(mut child: std::process::Child, guard: std::time::Duration) -> Output {
    let status = support::poll(guard, "sealbridge to end at its deadline", || {
        child.try_wait().unwrap()
    });
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read as _;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

#[test]
fn work_cannot_outlive_the_run_deadline() {
    let dir = support::tempdir();
    let home = dir.path().join(".home");
    // Input that never ends (a stuck reader): the deadline ends the run, stdout untouched.
    let mut cmd = support::sealbridge(&home);
    cmd.current_dir(dir.path())
        .args(["render", "-"])
        .env("SEALBRIDGE_DEADLINE", "1s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let o = wait_guarded(child, std::time::Duration::from_secs(60));
    drop(stdin);
    let err = failed_without_leak(&o, &[]);
    assert!(err.contains("run deadline of 1 s passed"), "{err}");
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn key_command_cannot_outlive_the_run_deadline() {
    let s = sops_dir();
    let dir = s.dir.path();
    let pid_file = dir.join("key-cmd.pid");
    // A key command that never answers, with a grandchild in its process group.
    let key_cmd = format!("sleep 600 & echo $! > {}; wait", pid_file.display());
    let home = dir.join(".home");
    let mut cmd = support::sealbridge(&home);
    cmd.current_dir(dir)
        .args(["render", "-"])
        .env("SEALBRIDGE_DEADLINE", "2s")
        .env("SOPS_AGE_KEY_CMD", &key_cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(secret_doc("<path:sops://secrets.enc.yaml#a>", "x").as_bytes())
        .unwrap();
    let o = wait_guarded(child, std::time::Duration::from_secs(60));
    let err = failed_without_leak(&o, &[]);
    assert!(err.contains("deadline"), "{err}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let pid = pid.trim().to_owned();
    support::poll(
        std::time::Duration::from_secs(30),
        "the key command's process group to be killed",
        || (!alive(&pid)).then_some(()),
    );
}

/// Anchors of anchors: `levels` levels of ten aliases each (10^levels nodes when expanded).
fn laughs(indent: &str, levels: usize) -> String {
    let mut s = format!("{indent}a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..=levels {
        let refs = vec![format!("*a{}", i - 1); 10].join(",");
        s.push_str(&format!("{indent}a{i}: &a{i} [{refs}]\n"));
    }
    s
}

#[test]
fn billion_laughs_resource_list_is_a_krm_error_in_bounded_memory() {
    let dir = support::tempdir();
    // In the generator's functionConfig, which is read as data (aliases expanded).
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n  \
         apiVersion: viaduct.ai/v1\n  kind: ksops\n  metadata:\n    name: laughs\n  files: []\n  \
         bomb:\n{}",
        laughs("    ", 9)
    );
    assert!(input.len() < 1200);
    let o = run_limited(dir.path(), &["krm"], &input, &[]);
    let out = text(&o.stdout);
    let err = text(&o.stderr);
    assert!(
        matches!(o.status.code(), Some(1 | 2)),
        "{:?}: {err}",
        o.status
    );
    assert!(
        !err.contains("internal error") && !err.contains("panicked"),
        "{err}"
    );
    let list = yaml::parse_stream(&out).unwrap_or_else(|e| panic!("{e}:\n{out}\n{err}"));
    let root = &list[0].root;
    assert_eq!(
        root.get("kind").and_then(Node::as_str),
        Some("ResourceList")
    );
    assert!(
        root.get("items")
            .and_then(Node::as_sequence)
            .is_some_and(|i| i.is_empty()),
        "{out}"
    );
    let results = yaml::to_json(root.get("results").unwrap()).unwrap();
    let message = results[0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("ksops/laughs") && message.contains("billion laughs"),
        "{out}"
    );
    // In the items, with a reference to resolve: aliases are kept, nothing is expanded.
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  \
         kind: ConfigMap\n  metadata:\n    name: laughs\n  data:\n    \
         ref: <path:sops://none.enc.yaml#a | default \"x\">\n{}",
        laughs("    ", 9)
    );
    let o = run_limited(dir.path(), &["krm"], &input, &[]);
    let err = text(&o.stderr);
    assert!(
        !err.contains("internal error") && !err.contains("panicked"),
        "{err}"
    );
    assert!(!text(&o.stdout).is_empty(), "{err}");
}
