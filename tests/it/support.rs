//! Real test services: the tools installed by `scripts/setup` and a real OpenBao dev server.
//!
//! Nothing here is a mock. A missing tool is a test failure that says "run scripts/setup",
//! never a skip.
//!
//! The OpenBao dev server is started once per test process (under `cargo test` that is once per
//! test binary; `cargo nextest` runs each test in its own process, so each gets its own server)
//! with a file audit device, so a test can count the requests sealbridge made. Tests that share a
//! server use unique mount paths from [`unique`]. The server runs under a small `sh` guard that
//! kills it when this process exits (its stdin is a pipe held by the test process: when the
//! process ends, for any reason, the pipe closes and the guard kills the server).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The project root (where `Cargo.toml` is).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    project_root().join("tests/fixtures").join(rel)
}

/// The folder `scripts/setup` installs into (`SEALBRIDGE_TOOLS_DIR` overrides it).
pub fn tools_bin() -> PathBuf {
    match std::env::var_os("SEALBRIDGE_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir).join("bin"),
        None => project_root().join(".tools/bin"),
    }
}

/// A tool installed by `scripts/setup`; panics with a clear message when it is missing.
pub fn tool(name: &str) -> PathBuf {
    let path = tools_bin().join(name);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => path,
        _ => panic!(
            "{name} is not installed at {}: run scripts/setup (it installs OpenBao, sops, age and links kubectl/kpt)",
            path.display()
        ),
    }
}

/// The real Go sops 3.11.0.
pub fn sops() -> PathBuf {
    tool("sops")
}
/// The real OpenBao CLI/server.
pub fn bao() -> PathBuf {
    tool("bao")
}
/// Debian's `age`.
pub fn age() -> PathBuf {
    tool("age")
}
/// Debian's `age-keygen`.
pub fn age_keygen() -> PathBuf {
    tool("age-keygen")
}
/// The machine's `ssh-keygen` (OpenSSH client; linked or installed by `scripts/setup`).
pub fn ssh_keygen() -> PathBuf {
    tool("ssh-keygen")
}
/// The machine's `kubectl` (for `kubectl kustomize`).
pub fn kubectl() -> PathBuf {
    tool("kubectl")
}
/// The machine's `kpt`.
pub fn kpt() -> PathBuf {
    tool("kpt")
}

/// A `Command` for the sealbridge binary under test, with a clean, predictable environment:
/// no inherited `VAULT_*`, `SOPS_*`, `AVP_*`, `ARGOCD_*` or `SEALBRIDGE_*` variables, and `HOME` /
/// `XDG_*` pointing into a fresh directory so no user key or token cache is picked up.
pub fn sealbridge(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealbridge"));
    clean_env(&mut cmd, home);
    cmd
}

/// Removes sealbridge-relevant variables from `cmd` and points HOME/XDG dirs at `home`.
pub fn clean_env(cmd: &mut Command, home: &Path) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if [
            "VAULT_",
            "SOPS_",
            "AVP_",
            "ARGOCD_",
            "SEALBRIDGE_",
            "XDG_",
            "KUBE",
        ]
        .iter()
        .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1");
}

/// A name unique in this process and across processes (pid + counter), for mounts and paths.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `check` until it returns `Some`, or panics after `deadline` with `what`.
pub fn poll<T>(deadline: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A free loopback port (bound then released; callers retry on a lost race).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A running OpenBao dev server.
pub struct OpenBao {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The root token.
    pub token: String,
    /// The file audit log (one JSON object per request and per response).
    pub audit_log: PathBuf,
    /// The server's own log (stdout/stderr).
    pub server_log: PathBuf,
    dir: PathBuf,
    guard: Mutex<Option<(Child, ChildStdin)>>,
}

/// Options for a private OpenBao server (see [`OpenBao::start`]).
#[derive(Default, Clone)]
pub struct OpenBaoOptions {
    /// Extra HCL appended to the server config (listeners, etc.).
    pub extra_config: String,
    /// Extra command-line arguments for `bao server`.
    pub extra_args: Vec<String>,
}

/// The shared dev server of this test process (started on first use).
pub fn openbao() -> &'static OpenBao {
    static SERVER: OnceLock<OpenBao> = OnceLock::new();
    SERVER.get_or_init(|| OpenBao::start(OpenBaoOptions::default()))
}

impl OpenBao {
    /// Starts a new dev server with its own directory, port, root token and audit log.
    /// It is killed when the returned value is dropped or when the test process exits.
    pub fn start(opts: OpenBaoOptions) -> OpenBao {
        let bao = bao();
        let token = format!("root-{}", unique("t"));
        let mut last_log = String::new();
        for _attempt in 0..5 {
            // A fresh, randomly named directory per attempt: a name made from the pid could
            // meet the audit log of an earlier test process with the same pid (its requests
            // would be counted), and a failed attempt removes its own directory.
            let dir = tempfile::Builder::new()
                .prefix("sealbridge-openbao-")
                .tempdir()
                .unwrap()
                .keep();
            let audit_log = dir.join("audit.log");
            let server_log = dir.join("server.log");
            let config = dir.join("config.hcl");
            std::fs::write(
                &config,
                format!(
                    "audit \"file\" \"counter\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n{}\n",
                    audit_log.display(),
                    opts.extra_config
                ),
            )
            .unwrap();
            let port = free_port();
            let addr = format!("http://127.0.0.1:{port}");
            let mut args = vec![
                "server".to_string(),
                "-dev".to_string(),
                format!("-dev-listen-address=127.0.0.1:{port}"),
                format!("-dev-root-token-id={token}"),
                format!("-config={}", config.display()),
            ];
            args.extend(opts.extra_args.iter().cloned());
            let quoted: Vec<String> = std::iter::once(bao.display().to_string())
                .chain(args)
                .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                .collect();
            // The guard: start the server, wait for stdin to close, then kill it and remove its
            // directory (the shared server lives in a static and is never dropped).
            let script = format!(
                "{} >'{}' 2>&1 </dev/null & p=$!; cat >/dev/null; kill $p 2>/dev/null; wait $p; rm -rf '{}'",
                quoted.join(" "),
                server_log.display(),
                dir.display()
            );
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(&script)
                .env("HOME", &dir)
                .env_remove("VAULT_ADDR")
                .env_remove("VAULT_TOKEN")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot run sh to start OpenBao");
            let stdin = child.stdin.take().unwrap();
            let server = OpenBao {
                addr,
                token: token.clone(),
                audit_log: audit_log.clone(),
                server_log: server_log.clone(),
                dir: dir.clone(),
                guard: Mutex::new(Some((child, stdin))),
            };
            let end = Instant::now() + Duration::from_secs(30);
            let mut healthy = false;
            while Instant::now() < end {
                if let Ok((200, _)) = server.try_request("GET", "/v1/sys/health", None) {
                    healthy = true;
                    break;
                }
                if server.exited() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if healthy {
                // The dev server's audit device is enabled once the server is up.
                poll(Duration::from_secs(10), "the OpenBao audit log", || {
                    audit_log.exists().then_some(())
                });
                return server;
            }
            last_log = std::fs::read_to_string(&server_log).unwrap_or_default();
            server.stop();
        }
        panic!("OpenBao dev server did not become healthy; last server log:\n{last_log}");
    }

    fn exited(&self) -> bool {
        let mut guard = self.guard.lock().unwrap();
        match guard.as_mut() {
            Some((child, _)) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Stops the server now.
    pub fn stop(&self) {
        if let Some((mut child, stdin)) = self.guard.lock().unwrap().take() {
            drop(stdin);
            let _ = child.wait();
        }
    }

    /// The environment a client needs: `VAULT_ADDR` and `VAULT_TOKEN` (root).
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("VAULT_ADDR", self.addr.clone()),
            ("VAULT_TOKEN", self.token.clone()),
        ]
    }

    /// One HTTP request to the API with the root token; returns (status, JSON body or Null).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        http_request(
            &self.addr,
            method,
            path,
            &[("X-Vault-Token", &self.token)],
            body,
        )
    }

    /// Like [`try_request`](Self::try_request) but panics unless the status is 2xx.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, json) = self
            .try_request(method, path, body.as_ref())
            .unwrap_or_else(|e| panic!("OpenBao {method} {path}: {e}"));
        assert!(
            (200..300).contains(&status),
            "OpenBao {method} {path} returned {status}: {json}"
        );
        json
    }

    /// Mounts a secrets engine (`kv` with `version` option for KV, `transit`, …) at `path`.
    pub fn enable_secrets(&self, path: &str, engine: &str, options: Value) {
        let kv2 = engine == "kv" && options["version"] == "2";
        self.api(
            "POST",
            &format!("/v1/sys/mounts/{path}"),
            Some(serde_json::json!({ "type": engine, "options": options })),
        );
        if kv2 {
            // A new KV v2 mount first upgrades its storage and answers 400 ("Upgrading from
            // non-versioned to versioned data") for a moment: wait until a read of a missing
            // secret gets its normal 404.
            poll(
                Duration::from_secs(30),
                "the new KV v2 mount to finish its upgrade",
                || match self.try_request("GET", &format!("/v1/{path}/data/sealbridge-probe"), None)
                {
                    Ok((404 | 200, _)) => Some(()),
                    _ => None,
                },
            );
        }
    }

    /// Mounts a new KV v2 engine at a unique path and returns the path.
    pub fn new_kv2(&self) -> String {
        let mount = unique("kv2-");
        self.enable_secrets(&mount, "kv", serde_json::json!({ "version": "2" }));
        mount
    }

    /// Mounts a new KV v1 engine at a unique path and returns the path.
    pub fn new_kv1(&self) -> String {
        let mount = unique("kv1-");
        self.enable_secrets(&mount, "kv", serde_json::json!({ "version": "1" }));
        mount
    }

    /// Writes a KV v2 secret (`data` is the map) and returns the new version number.
    pub fn kv2_put(&self, mount: &str, path: &str, data: Value) -> u64 {
        let api = format!("/v1/{mount}/data/{path}");
        let body = serde_json::json!({ "data": data });
        // A mount still upgrading its storage answers 400 "Upgrading from non-versioned to
        // versioned data" (seen once even after the read probe of `enable_secrets` passed):
        // retry that answer only, until a deadline.
        let resp = poll(
            Duration::from_secs(30),
            "a KV v2 write to a mount that is still upgrading",
            || match self.try_request("POST", &api, Some(&body)) {
                Ok((400, json)) if json.to_string().contains("Upgrading") => None,
                other => Some(other),
            },
        );
        let (status, json) = resp.unwrap_or_else(|e| panic!("OpenBao POST {api}: {e}"));
        assert!(
            (200..300).contains(&status),
            "OpenBao POST {api} returned {status}: {json}"
        );
        json["data"]["version"].as_u64().unwrap()
    }

    /// Writes a KV v1 secret.
    pub fn kv1_put(&self, mount: &str, path: &str, data: Value) {
        self.api("POST", &format!("/v1/{mount}/{path}"), Some(data));
    }

    /// The audit log's request entries (`"type":"request"`), parsed.
    pub fn audit_requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.audit_log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["type"] == "request")
            .collect()
    }

    /// How many requests in the audit log have a path starting with `prefix` (e.g. a mount).
    pub fn count_requests(&self, prefix: &str) -> usize {
        self.audit_requests()
            .iter()
            .filter(|v| {
                v["request"]["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(prefix))
            })
            .count()
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal blocking HTTP/1.1 client for loopback test servers (plain HTTP only).
pub fn http_request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let hostport = base
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// is supported"))?;
    let mut stream = TcpStream::connect(hostport)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("malformed HTTP response"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed HTTP status line"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let json = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
    Ok((status, json))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A fresh temporary directory, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sealbridge-test-")
        .tempdir()
        .unwrap()
}

/// Generates an age identity with the real `age-keygen`; returns (identity file text, recipient).
pub fn age_keypair() -> (String, String) {
    let out = Command::new(age_keygen()).output().unwrap();
    assert!(out.status.success(), "age-keygen failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    (text, recipient)
}

/// The stdout of a successful run, as text; on failure a panic with `what`, the exit code and
/// stderr.
#[track_caller]
pub fn ok_stdout(o: &std::process::Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: exit {:?}, stderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

// Running the binary under test and the real tools, and the files their runs need. The test
// modules build on these so every run gets the same clean environment.

/// A `Command` for the real Go sops with the same clean environment as [`sealbridge`]: no
/// inherited `VAULT_*`/`SOPS_*`/… variables, `HOME`/`XDG_*` in `home`.
pub fn sops_cmd(home: &Path) -> Command {
    let mut cmd = Command::new(sops());
    clean_env(&mut cmd, home);
    cmd
}

/// Runs `cmd` with `stdin` written to a pipe (`None`: stdin is `/dev/null`) and returns its
/// output (stdout and stderr captured).
pub fn output_with_stdin(mut cmd: Command, stdin: Option<&[u8]>) -> std::process::Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// A run's stderr, as text (invalid UTF-8 replaced).
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A run's stdout followed by its stderr, as text: what a "no value in any output" check
/// searches.
pub fn all_output(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Writes `text` to `dir/rel`, creating the parent directories.
pub fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A fresh temporary directory holding `name` = `text`; returns it and its path.
pub fn tempdir_with(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempdir();
    std::fs::write(dir.path().join(name), text).unwrap();
    let p = dir.path().to_path_buf();
    (dir, p)
}

/// Generates an age identity with the real `age-keygen` and writes it to `path`; returns the
/// recipient.
pub fn age_key_file(path: &Path) -> String {
    let (identity, recipient) = age_keypair();
    std::fs::write(path, identity).unwrap();
    recipient
}

/// No extra environment, for [`run_in`] and [`sops_ok`].
pub const NO_ENV: &[(&str, &str)] = &[];

/// Runs `cmd` in `dir` with `args` and the extra `env`; returns its output.
pub fn run_in<V: AsRef<std::ffi::OsStr>>(
    mut cmd: Command,
    dir: &Path,
    env: &[(&str, V)],
    args: &[&str],
) -> std::process::Output {
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The real Go sops (see [`sops_cmd`], with a fresh HOME) run in `dir` with `env` and `args`;
/// returns its stdout, panicking with its stderr when it fails.
#[track_caller]
pub fn sops_ok<V: AsRef<std::ffi::OsStr>>(dir: &Path, env: &[(&str, V)], args: &[&str]) -> Vec<u8> {
    let home = tempdir();
    let out = run_in(sops_cmd(home.path()), dir, env, args);
    assert!(out.status.success(), "sops {args:?}: {}", stderr(&out));
    out.stdout
}

/// The recipient an age identity file names on its `# public key: ` line.
pub fn age_recipient_of(key_file: &Path) -> String {
    std::fs::read_to_string(key_file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("the key file names its recipient")
        .trim()
        .to_owned()
}
