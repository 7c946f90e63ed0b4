//! AWS KMS master keys against moto's server mode (scripts/setup installs it): a local KMS and
//! STS speaking the real AWS wire protocol, with moto's IAM authentication ON after the setup
//! calls, so every request sealbridge makes must carry a valid SigV4 signature of a real moto
//! IAM user. Files the real Go sops encrypts for a KMS key (with an encryption context)
//! decrypt with sealbridge and the reverse; `role` is assumed through STS; credentials from
//! the environment and from a shared credentials file profile; wrong credentials fail with
//! the key named and nothing printed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::support;

const PLAIN: &str = "name: Alice\npassword: s3cr3t-kms-value\n";

/// What the setup created in moto.
struct Moto {
    endpoint: String,
    access_key: String,
    secret_key: String,
    key_arn: String,
    role_arn: String,
    _guard: Mutex<(Child, ChildStdin)>,
}

/// Creates an IAM user with an access key and a KMS/STS policy, a role it may assume, and a
/// KMS key; prints them as JSON. These are the unauthenticated calls moto allows before it
/// enforces authentication (`INITIAL_NO_AUTH_ACTION_COUNT`).
const SETUP: &str = r#"
import json, sys, boto3
ep = sys.argv[1]
kw = dict(region_name="us-east-1", endpoint_url=ep, aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **kw)
iam.create_user(UserName="ci")
k = iam.create_access_key(UserName="ci")["AccessKey"]
pol = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:*", "sts:*"], "Resource": "*"}]})
iam.put_user_policy(UserName="ci", PolicyName="p", PolicyDocument=pol)
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})
role = iam.create_role(RoleName="sops", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
iam.put_role_policy(RoleName="sops", PolicyName="p", PolicyDocument=pol)
arn = boto3.client("kms", **kw).create_key()["KeyMetadata"]["Arn"]
print(json.dumps({"ak": k["AccessKeyId"], "sk": k["SecretAccessKey"], "arn": arn, "role": role}))
"#;
/// The number of calls in SETUP.
const SETUP_CALLS: usize = 6;

fn moto() -> &'static Moto {
    static M: OnceLock<Moto> = OnceLock::new();
    M.get_or_init(|| start(true))
}

/// A second server without authentication: moto's IAM check refuses `sts:AssumeRole` to any
/// user, so the `role` path runs here (STS is called, its session credentials are used).
fn moto_open() -> &'static Moto {
    static M: OnceLock<Moto> = OnceLock::new();
    M.get_or_init(|| start(false))
}

fn start(auth: bool) -> Moto {
    let python = support::tool("moto-python");
    let port = support::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let script = format!(
        "'{}' -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 </dev/null & p=$!; cat >/dev/null; kill $p 2>/dev/null; wait $p",
        python.display()
    );
    let mut cmd = Command::new("sh");
    if auth {
        cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_CALLS.to_string());
    }
    let mut child = cmd
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start moto");
    let stdin = child.stdin.take().unwrap();
    support::poll(Duration::from_secs(60), "moto to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let out = Command::new(&python)
        .arg("-c")
        .arg(SETUP)
        .arg(&endpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "moto setup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    Moto {
        endpoint,
        access_key: s("ak"),
        secret_key: s("sk"),
        key_arn: s("arn"),
        role_arn: s("role"),
        _guard: Mutex::new((child, stdin)),
    }
}

/// `tool` in `dir` with a clean environment, the AWS endpoint and `creds` (None: none).
fn run(tool: &Path, dir: &Path, args: &[&str], creds: Option<(&str, &str)>) -> Output {
    run_at(moto(), tool, dir, args, creds)
}

/// `tool` with the clean environment of [`support::clean_env`] (HOME = `home`) and no
/// inherited `AWS_*` variable.
fn aws_clean(tool: &Path, home: &Path) -> Command {
    let mut c = Command::new(tool);
    support::clean_env(&mut c, home);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c
}

fn run_at(m: &Moto, tool: &Path, dir: &Path, args: &[&str], creds: Option<(&str, &str)>) -> Output {
    let home = support::tempdir();
    let mut c = aws_clean(tool, home.path());
    c.current_dir(dir)
        .args(args)
        .env("AWS_ENDPOINT_URL", &m.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .stdin(Stdio::null());
    if let Some((ak, sk)) = creds {
        c.env("AWS_ACCESS_KEY_ID", ak)
            .env("AWS_SECRET_ACCESS_KEY", sk);
    }
    c.output().unwrap()
}

fn creds() -> Option<(&'static str, &'static str)> {
    let m = moto();
    Some((m.access_key.as_str(), m.secret_key.as_str()))
}

fn sops(dir: &Path, args: &[&str]) -> Output {
    run(&support::sops(), dir, args, creds())
}

fn sb(dir: &Path, args: &[&str]) -> Output {
    run(
        Path::new(env!("CARGO_BIN_EXE_sealbridge")),
        dir,
        args,
        creds(),
    )
}

use crate::support::ok_stdout as ok;

fn workdir() -> (tempfile::TempDir, PathBuf) {
    support::tempdir_with("plain.yaml", PLAIN)
}

/// `dir/s.enc.yaml` = `plain.yaml` encrypted by the real sops for the key of [`moto`].
fn sops_encrypted(dir: &Path) {
    let enc = ok(
        &sops(dir, &["encrypt", "--kms", &moto().key_arn, "plain.yaml"]),
        "sops encrypt",
    );
    std::fs::write(dir.join("s.enc.yaml"), &enc).unwrap();
}

#[test]
fn files_sops_encrypts_for_a_kms_key_decrypt_with_sealbridge() {
    let m = moto();
    let (_d, dir) = workdir();
    let enc = ok(
        &sops(
            &dir,
            &[
                "encrypt",
                "--kms",
                &m.key_arn,
                "--encryption-context",
                "team:a,env:prod",
                "plain.yaml",
            ],
        ),
        "sops encrypt",
    );
    assert!(enc.contains("context:") && enc.contains("team: a"), "{enc}");
    std::fs::write(dir.join("s.enc.yaml"), &enc).unwrap();
    assert_eq!(
        ok(&sb(&dir, &["decrypt", "s.enc.yaml"]), "sealbridge decrypt"),
        PLAIN
    );
    // The encryption context is part of the ciphertext: a changed context fails.
    std::fs::write(dir.join("t.enc.yaml"), enc.replace("team: a", "team: b")).unwrap();
    let o = sb(&dir, &["decrypt", "--ignore-mac", "t.enc.yaml"]);
    assert_eq!(
        o.status.code(),
        Some(128),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn files_sealbridge_encrypts_for_a_kms_key_decrypt_with_sops() {
    let m = moto();
    let (_d, dir) = workdir();
    let enc = ok(
        &sb(
            &dir,
            &[
                "encrypt",
                "--kms",
                &m.key_arn,
                "--encryption-context",
                "env:prod",
                "plain.yaml",
            ],
        ),
        "sealbridge encrypt",
    );
    assert!(enc.contains(&format!("arn: {}", m.key_arn)), "{enc}");
    assert!(!enc.contains("s3cr3t-kms-value"));
    std::fs::write(dir.join("a.enc.yaml"), &enc).unwrap();
    assert_eq!(
        ok(&sops(&dir, &["decrypt", "a.enc.yaml"]), "sops decrypt"),
        PLAIN
    );
    // .sops.yaml: a key group entry with a context.
    let rule = format!(
        "creation_rules:\n  - key_groups:\n      - kms:\n          - arn: {}\n            context:\n              app: x\n",
        m.key_arn
    );
    std::fs::write(dir.join(".sops.yaml"), &rule).unwrap();
    let enc = ok(&sb(&dir, &["encrypt", "plain.yaml"]), &rule);
    assert!(enc.contains("app: x"), "{enc}");
    std::fs::write(dir.join("b.enc.yaml"), &enc).unwrap();
    assert_eq!(ok(&sops(&dir, &["decrypt", "b.enc.yaml"]), &rule), PLAIN);
    assert_eq!(ok(&sb(&dir, &["decrypt", "b.enc.yaml"]), &rule), PLAIN);
}

#[test]
fn kms_credentials_come_from_a_shared_credentials_profile() {
    let m = moto();
    let (_d, dir) = workdir();
    sops_encrypted(&dir);
    let home = support::tempdir();
    let file = home.path().join("credentials");
    let mut f = std::fs::File::create(&file).unwrap();
    write!(
        f,
        "[default]\naws_access_key_id = AKIAWRONG\naws_secret_access_key = wrong\n\n[team]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        m.access_key, m.secret_key
    )
    .unwrap();
    let o = aws_clean(Path::new(env!("CARGO_BIN_EXE_sealbridge")), home.path())
        .current_dir(&dir)
        .args(["decrypt", "s.enc.yaml"])
        .env("AWS_ENDPOINT_URL", &m.endpoint)
        .env("AWS_SHARED_CREDENTIALS_FILE", &file)
        .env("AWS_PROFILE", "team")
        .output()
        .unwrap();
    assert_eq!(ok(&o, "profile team"), PLAIN);
}

#[test]
fn wrong_aws_credentials_fail_with_the_key_named_and_nothing_printed() {
    let m = moto();
    let (_d, dir) = workdir();
    sops_encrypted(&dir);
    // A valid access key id with a wrong secret: moto checks the SigV4 signature.
    let o = run(
        Path::new(env!("CARGO_BIN_EXE_sealbridge")),
        &dir,
        &["decrypt", "s.enc.yaml"],
        Some((&m.access_key, "not-the-secret")),
    );
    assert_eq!(o.status.code(), Some(128));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&m.key_arn), "{err}");
    assert!(
        !err.contains("s3cr3t-kms-value") && !err.contains(&m.secret_key),
        "{err}"
    );
    // No credentials at all: the message says where they are looked for.
    let o = run(
        Path::new(env!("CARGO_BIN_EXE_sealbridge")),
        &dir,
        &["decrypt", "s.enc.yaml"],
        None,
    );
    assert_eq!(o.status.code(), Some(128));
    assert!(String::from_utf8_lossy(&o.stderr).contains("AWS_ACCESS_KEY_ID"));
}

#[test]
fn a_kms_role_is_assumed_through_sts() {
    let m = moto_open();
    let (_d, dir) = workdir();
    std::fs::write(
        dir.join(".sops.yaml"),
        format!("creation_rules:\n  - kms: {}+{}\n", m.key_arn, m.role_arn),
    )
    .unwrap();
    let sb_bin = Path::new(env!("CARGO_BIN_EXE_sealbridge"));
    let c = Some((m.access_key.as_str(), m.secret_key.as_str()));
    let enc = ok(
        &run_at(m, sb_bin, &dir, &["encrypt", "plain.yaml"], c),
        "encrypt with role",
    );
    assert!(enc.contains(&format!("role: {}", m.role_arn)), "{enc}");
    std::fs::write(dir.join("r.enc.yaml"), &enc).unwrap();
    assert_eq!(
        ok(
            &run_at(m, &support::sops(), &dir, &["decrypt", "r.enc.yaml"], c),
            "sops"
        ),
        PLAIN
    );
    assert_eq!(
        ok(
            &run_at(m, sb_bin, &dir, &["decrypt", "r.enc.yaml"], c),
            "sealbridge"
        ),
        PLAIN
    );
}

#[test]
fn a_web_identity_token_is_exchanged_for_credentials() {
    // EKS IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, no static keys.
    let m = moto_open();
    let (_d, dir) = workdir();
    let c = Some((m.access_key.as_str(), m.secret_key.as_str()));
    let enc = ok(
        &run_at(
            m,
            &support::sops(),
            &dir,
            &["encrypt", "--kms", &m.key_arn, "plain.yaml"],
            c,
        ),
        "sops encrypt",
    );
    std::fs::write(dir.join("s.enc.yaml"), &enc).unwrap();
    let token = dir.join("token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXJnb2NkOnJlcG8ifQ.c2ln\n",
    )
    .unwrap();
    let home = support::tempdir();
    let o = aws_clean(Path::new(env!("CARGO_BIN_EXE_sealbridge")), home.path())
        .current_dir(&dir)
        .args(["decrypt", "s.enc.yaml"])
        .env("AWS_ENDPOINT_URL", &m.endpoint)
        .env("AWS_ROLE_ARN", &m.role_arn)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(ok(&o, "web identity"), PLAIN);
}
