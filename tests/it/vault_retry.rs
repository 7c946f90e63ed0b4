//! Retries, timeouts, the run deadline and the concurrency bound, with an HTTP fault proxy in
//! front of the real OpenBao. The proxy (in-process, loopback only) injects exactly the faults
//! a real network and a busy Vault produce — dropped connections, slow answers, 503, 429, 412
//! — and passes every other request through to the real server unchanged.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use sealbridge::backend::vault::{VaultClient, VaultConfig, VaultErrorKind};

use crate::support::{self, OpenBao};
use crate::vault::s;

#[derive(Clone, Debug)]
enum Fault {
    /// Close the connection without answering.
    Drop,
    /// Wait, then pass the request through.
    Delay(Duration),
    /// Answer with this status and a Vault-style error body.
    Status(u16),
}

/// Answers a request itself instead of forwarding it (`None`: forward).
pub(crate) type Intercept = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub(crate) struct Proxy {
    pub(crate) addr: String,
    intercept: Arc<Mutex<Option<Intercept>>>,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    /// A fault applied to every request once the queue is empty (None: pass through).
    always: Arc<Mutex<Option<Fault>>>,
    seen: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

/// Reads one HTTP/1.1 request (head + Content-Length body); None at EOF.
fn read_request(c: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match c.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).ok()?;
    buf.extend_from_slice(&body);
    Some(buf)
}

/// Sends `req` to the real server on a fresh connection (asking it to close afterwards) and
/// returns the whole response.
fn forward(upstream: &str, req: &[u8]) -> std::io::Result<Vec<u8>> {
    let text = String::from_utf8_lossy(req);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut out = String::new();
    for line in head.lines() {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out.push_str(body);
    let mut u = TcpStream::connect(upstream)?;
    u.write_all(out.as_bytes())?;
    let mut resp = Vec::new();
    u.read_to_end(&mut resp)?;
    Ok(resp)
}

impl Proxy {
    pub(crate) fn start(bao: &OpenBao) -> Proxy {
        let upstream = bao.addr.strip_prefix("http://").unwrap().to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let p = Proxy {
            addr,
            intercept: Arc::default(),
            faults: Arc::default(),
            always: Arc::default(),
            seen: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let intercept = p.intercept.clone();
        let (faults, always, seen, in_flight, max_in_flight) = (
            p.faults.clone(),
            p.always.clone(),
            p.seen.clone(),
            p.in_flight.clone(),
            p.max_in_flight.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { continue };
                let intercept = intercept.clone();
                let (faults, always, seen, in_flight, max_in_flight, upstream) = (
                    faults.clone(),
                    always.clone(),
                    seen.clone(),
                    in_flight.clone(),
                    max_in_flight.clone(),
                    upstream.clone(),
                );
                std::thread::spawn(move || {
                    while let Some(req) = read_request(&mut c) {
                        seen.fetch_add(1, Ordering::SeqCst);
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        max_in_flight.fetch_max(now, Ordering::SeqCst);
                        let fault = faults
                            .lock()
                            .unwrap()
                            .pop_front()
                            .or_else(|| always.lock().unwrap().clone());
                        let answered = intercept
                            .lock()
                            .unwrap()
                            .as_ref()
                            .and_then(|f| f(&String::from_utf8_lossy(&req)));
                        let reply = match (answered, fault) {
                            (Some(body), _) => Some(
                                format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                    body.len()
                                )
                                .into_bytes(),
                            ),
                            (None, fault) => match fault {
                            Some(Fault::Drop) => None,
                            Some(Fault::Status(code)) => {
                                let body = format!(r#"{{"errors":["injected {code}"]}}"#);
                                let extra = if code == 429 {
                                    "Retry-After: 0\r\n"
                                } else {
                                    ""
                                };
                                Some(
                                    format!(
                                        "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                                        body.len()
                                    )
                                    .into_bytes(),
                                )
                            }
                            Some(Fault::Delay(d)) => {
                                std::thread::sleep(d);
                                forward(&upstream, &req).ok()
                            }
                            None => forward(&upstream, &req).ok(),
                            },
                        };
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        match reply {
                            // The forwarded response says "Connection: close": end here too.
                            Some(r) => {
                                let close = String::from_utf8_lossy(&r)
                                    .to_ascii_lowercase()
                                    .contains("connection: close");
                                if c.write_all(&r).is_err() || close {
                                    return;
                                }
                            }
                            None => return, // drop: close without a response
                        }
                    }
                });
            }
        });
        p
    }

    /// Answers matching requests itself from now on.
    pub(crate) fn intercept(&self, f: Intercept) {
        *self.intercept.lock().unwrap() = Some(f);
    }

    fn inject(&self, faults: &[Fault]) {
        self.faults.lock().unwrap().extend(faults.iter().cloned());
    }

    fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

fn client(proxy: &Proxy, bao: &OpenBao, tweak: impl FnOnce(&mut VaultConfig)) -> VaultClient {
    sealbridge::cli::install_crypto_provider();
    let mut cfg = VaultConfig::with_token(&proxy.addr, &bao.token);
    cfg.token_cache.enabled = false;
    tweak(&mut cfg);
    VaultClient::connect(&cfg).unwrap()
}

fn secret(bao: &OpenBao) -> String {
    let mount = bao.new_kv2();
    bao.kv2_put(&mount, "app", json!({"k": "v"}));
    format!("{mount}/app")
}

async fn read_ok(c: &VaultClient, path: &str) {
    let v = c.read(path, None).await.unwrap();
    match v {
        sealbridge::secret::SecretValue::Map(m) => assert_eq!(m["k"], s("v")),
        other => panic!("{}", other.type_name()),
    }
}

#[tokio::test]
async fn drop_503_429_and_412_are_retried_until_success() {
    let bao = support::openbao();
    let path = secret(bao);
    let proxy = Proxy::start(bao);
    proxy.inject(&[Fault::Drop, Fault::Status(503), Fault::Status(429)]);
    let c = client(&proxy, bao, |_| {});
    read_ok(&c, &path).await; // lookup: drop, 503, 429, ok (4 attempts, max_retries 3)
    assert_eq!(proxy.seen(), 5, "3 faults + the lookup + the read");
    proxy.inject(&[Fault::Status(412), Fault::Status(500)]);
    read_ok(&c, &path).await;
    assert_eq!(proxy.seen(), 8);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let bao = support::openbao();
    let path = secret(bao);
    let proxy = Proxy::start(bao);
    proxy.inject(&[Fault::Delay(Duration::from_secs(3))]);
    let c = client(&proxy, bao, |cfg| {
        cfg.request_timeout = Duration::from_millis(400)
    });
    read_ok(&c, &path).await;
    assert_eq!(proxy.seen(), 3, "the slow attempt, its retry, and the read");
}

#[tokio::test]
async fn persistent_failures_end_with_the_attempt_count() {
    let bao = support::openbao();
    let path = secret(bao);
    let proxy = Proxy::start(bao);
    *proxy.always.lock().unwrap() = Some(Fault::Status(503));
    let c = client(&proxy, bao, |cfg| cfg.max_retries = 2);
    let e = c.read(&path, None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Unreachable, "{e}");
    assert_eq!(e.attempts(), 3);
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 503") && msg.contains("after 3 attempts"),
        "{msg}"
    );
    assert!(msg.contains(&path), "{msg}");
    assert_eq!(proxy.seen(), 3);

    *proxy.always.lock().unwrap() = Some(Fault::Drop);
    let e = c.read(&path, None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Unreachable, "{e}");
    assert!(e.to_string().contains("after 3 attempts"), "{e}");
}

#[tokio::test]
async fn the_run_deadline_bounds_everything() {
    let bao = support::openbao();
    let path = secret(bao);
    let proxy = Proxy::start(bao);
    *proxy.always.lock().unwrap() = Some(Fault::Delay(Duration::from_secs(30)));
    let c = client(&proxy, bao, |cfg| {
        cfg.run_deadline = Duration::from_millis(1500);
        cfg.max_retries = 10;
    });
    let e = c.read(&path, None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Deadline, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("deadline of 1.5 s") && msg.contains(&path),
        "{msg}"
    );
    // Everything after the deadline fails at once, without touching the network.
    let before = proxy.seen();
    let e = c.read(&path, None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::Deadline, "{e}");
    assert_eq!(proxy.seen(), before);
}

#[tokio::test]
async fn caller_errors_are_never_retried() {
    let bao = support::openbao();
    let proxy = Proxy::start(bao);
    let c = client(&proxy, bao, |_| {});
    let mount = bao.new_kv2();
    let e = c.read(&format!("{mount}/missing"), None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::NotFound);
    assert_eq!(proxy.seen(), 2, "lookup + one read, no retry of the 404");
    proxy.inject(&[Fault::Status(400)]);
    let e = c.read(&format!("{mount}/other"), None).await.unwrap_err();
    assert_eq!(e.kind(), VaultErrorKind::BadResponse, "{e}");
    assert_eq!(proxy.seen(), 3);
}

#[tokio::test]
async fn concurrency_is_bounded_for_all_clones() {
    let bao = support::openbao();
    let mount = bao.new_kv2();
    for i in 0..12 {
        bao.kv2_put(&mount, &format!("s{i}"), json!({"k": "v"}));
    }
    let proxy = Proxy::start(bao);
    *proxy.always.lock().unwrap() = Some(Fault::Delay(Duration::from_millis(50)));
    let c = client(&proxy, bao, |cfg| cfg.concurrency = 3);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let c = c.clone();
        let path = format!("{mount}/s{i}");
        tasks.spawn(async move { read_ok(&c, &path).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    // 12 concurrent first reads under one mount share ONE mount lookup.
    assert_eq!(proxy.seen(), 13);
    assert_eq!(
        bao.count_requests(&format!("sys/internal/ui/mounts/{mount}/")),
        1
    );
    let max = proxy.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&max),
        "at most 3 requests in flight, saw {max}"
    );
}

#[tokio::test]
async fn vault_non_kv_reads_are_not_retried_after_reaching_the_server() {
    // A read of a non-KV engine (`database/creds/…`) may mint credentials each time it is
    // processed: after a 5xx the server may have done so, so it is not repeated. Here a
    // transit key read stands in for it (OpenBao dev has no database to mint from).
    let bao = support::openbao();
    let mount = support::unique("transit-");
    bao.enable_secrets(&mount, "transit", json!({}));
    bao.api("POST", &format!("/v1/{mount}/keys/k"), Some(json!({})));
    let path = format!("{mount}/keys/k");
    let proxy = Proxy::start(bao);
    let c = client(&proxy, bao, |_| {});
    c.read(&path, None).await.unwrap(); // the mount lookup and the read
    let seen = proxy.seen();
    proxy.inject(&[Fault::Status(502)]);
    let e = c.read(&path, None).await.unwrap_err();
    assert_eq!(
        proxy.seen(),
        seen + 1,
        "a non-KV read must not be repeated after a 5xx"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 502") && msg.contains("not retried"),
        "{msg}"
    );

    // KV reads are still retried (drop_503_429_and_412_are_retried_until_success covers more).
    let kv = secret(bao);
    read_ok(&c, &kv).await;
    let seen = proxy.seen();
    proxy.inject(&[Fault::Status(502)]);
    read_ok(&c, &kv).await;
    assert_eq!(proxy.seen(), seen + 2, "the KV read is retried once");
}
