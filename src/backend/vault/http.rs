//! The HTTP transport: one reqwest client, the `/v1/` URL scheme, per-attempt timeouts, the
//! run deadline, bounded concurrency, bounded retries with exponential backoff and jitter, and
//! `--verbose` request logging (method, path, status, timing; never headers or bodies).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::{Method, StatusCode, Url};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::config::VaultConfig;
use super::error::{VaultError, VaultErrorKind};
use super::json;
use crate::secret::Sensitive;

/// Largest response body we accept (a Vault response is a few KiB; this only bounds memory).
const MAX_BODY: usize = 32 * 1024 * 1024;
/// First backoff step; doubled per retry up to [`BACKOFF_CAP`].
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(3);
/// Longest `Retry-After` we honour.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(5);

/// One request to the Vault API.
pub(crate) struct Request<'a> {
    pub method: Method,
    /// The Vault path, without `/v1/` (e.g. `secret/data/app`).
    pub path: &'a str,
    pub query: Vec<(&'static str, String)>,
    /// A JSON body, already serialized into a zeroizing buffer.
    pub body: Option<Zeroizing<Vec<u8>>>,
    /// Overrides the client's namespace for this request (`Some("")` = root namespace).
    pub namespace: Option<&'a str>,
    /// The request may have effects if the server processed it (a read of a non-KV engine,
    /// e.g. `database/creds/…` mints new credentials): it is retried only when it certainly
    /// did not reach the server (connection failed), never after a 5xx or a timeout.
    pub not_idempotent: bool,
}

impl<'a> Request<'a> {
    pub(super) fn get(path: &'a str) -> Self {
        Request {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
            namespace: None,
            not_idempotent: false,
        }
    }

    pub(super) fn with_body(method: Method, path: &'a str, body: Zeroizing<Vec<u8>>) -> Self {
        Request {
            method,
            path,
            query: Vec::new(),
            body: Some(body),
            namespace: None,
            not_idempotent: false,
        }
    }
}

/// A response with a status that is final (not retried): its body in a zeroizing buffer.
pub(crate) struct Response {
    pub status: StatusCode,
    pub body: Zeroizing<Vec<u8>>,
}

impl Response {
    /// Vault's error messages in the body, as one line.
    pub(super) fn vault_errors(&self) -> String {
        json::error_messages(&self.body)
    }
}

/// The body handed to reqwest: zeroized when hyper drops the last reference to it. (hyper may
/// still copy a small body into its write buffer; that copy is freed, not wiped.)
struct ZeroBody(Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for ZeroBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

pub(crate) struct Transport {
    client: reqwest::Client,
    base: Url,
    /// The address as the user gave it (for messages).
    pub addr: String,
    pub namespace: Option<String>,
    request_timeout: Duration,
    deadline: Instant,
    run_deadline: Duration,
    max_retries: u32,
    permits: Arc<Semaphore>,
}

/// Checks `VAULT_ADDR` before anything else sees it (vaultrs panics on a bad URL).
pub(crate) fn parse_address(addr: &str) -> Result<Url, VaultError> {
    let trimmed = addr.trim();
    if trimmed.is_empty() {
        return Err(VaultError::config(
            "no server address: set VAULT_ADDR (e.g. https://vault.example:8200)",
        ));
    }
    let url = Url::parse(trimmed).map_err(|e| {
        VaultError::config(format!(
            "VAULT_ADDR {trimmed:?} is not a valid URL ({e}); expected e.g. https://vault.example:8200"
        ))
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(VaultError::config(format!(
            "VAULT_ADDR {trimmed:?} must start with https:// or http://"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(VaultError::config(format!(
            "VAULT_ADDR {trimmed:?} has no host"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(VaultError::config(
            "VAULT_ADDR must not contain credentials (user:password@); use an auth method",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(VaultError::config(format!(
            "VAULT_ADDR {trimmed:?} must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// Splits a Vault path into segments, refusing `.`/`..` and empty paths.
pub(crate) fn path_segments(path: &str) -> Result<Vec<&str>, VaultError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.is_empty() {
        return Err(VaultError::new(VaultErrorKind::InvalidPath, "empty path"));
    }
    if segs.iter().any(|s| *s == "." || *s == "..") {
        return Err(VaultError::new(
            VaultErrorKind::InvalidPath,
            "`.` and `..` are not allowed in Vault paths",
        )
        .with_path(path));
    }
    Ok(segs)
}

impl Transport {
    pub(super) fn new(config: &VaultConfig) -> Result<Self, VaultError> {
        let url = parse_address(&config.address)?;
        let addr = url.as_str().trim_end_matches('/').to_owned();
        let mut base = url;
        {
            let mut segs = base
                .path_segments_mut()
                .map_err(|()| VaultError::config("VAULT_ADDR cannot be a base URL"))?;
            segs.pop_if_empty().push("v1");
        }
        let client = super::tls::build_client(config)?;
        if config.concurrency == 0 {
            return Err(VaultError::config(
                "the Vault concurrency must be at least 1",
            ));
        }
        Ok(Transport {
            client,
            base,
            addr,
            namespace: config
                .namespace
                .as_deref()
                .map(|n| n.trim_matches('/').to_owned())
                .filter(|n| !n.is_empty()),
            request_timeout: config.request_timeout,
            deadline: Instant::now() + config.run_deadline,
            run_deadline: config.run_deadline,
            max_retries: config.max_retries,
            permits: Arc::new(Semaphore::new(config.concurrency)),
        })
    }

    pub(super) fn url(&self, path: &str) -> Result<Url, VaultError> {
        let segs = path_segments(path).map_err(|e| e.with_addr(&self.addr))?;
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| VaultError::config("VAULT_ADDR cannot be a base URL"))?
            .extend(segs);
        Ok(url)
    }

    fn deadline_error(&self, path: &str, attempts: u32) -> VaultError {
        VaultError::new(
            VaultErrorKind::Deadline,
            format!(
                "the run's deadline of {} s passed (raise it with SEALBRIDGE_DEADLINE)",
                self.run_deadline.as_secs_f64()
            ),
        )
        .at(&self.addr, path)
        .with_attempts(attempts)
    }

    /// Sends `req` with `token`, retrying connect errors, timeouts, 412, 429 and 5xx with
    /// exponential backoff and jitter, within the run's deadline. Returns the final response
    /// for any other status (the caller interprets it).
    pub(super) async fn send(
        &self,
        req: &Request<'_>,
        token: Option<&Sensitive>,
    ) -> Result<Response, VaultError> {
        let mut url = self.url(req.path)?;
        if !req.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &req.query {
                q.append_pair(k, v);
            }
        }
        let shown = match url.query() {
            Some(q) => format!("{}?{q}", req.path),
            None => req.path.to_owned(),
        };
        let namespace = match req.namespace {
            Some(ns) => Some(ns.trim_matches('/')).filter(|n| !n.is_empty()),
            None => self.namespace.as_deref(),
        };
        let token_header = match token {
            Some(t) => {
                let mut h = reqwest::header::HeaderValue::from_bytes(t.expose()).map_err(|_| {
                    VaultError::new(
                        VaultErrorKind::Config,
                        "the Vault token contains characters not allowed in an HTTP header",
                    )
                    .with_addr(&self.addr)
                })?;
                h.set_sensitive(true);
                Some(h)
            }
            None => None,
        };

        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let now = Instant::now();
            let Some(remaining) = self
                .deadline
                .checked_duration_since(now)
                .filter(|d| !d.is_zero())
            else {
                return Err(self.deadline_error(&shown, attempt - 1));
            };
            let permit = match tokio::time::timeout(remaining, self.permits.acquire()).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => {
                    return Err(
                        VaultError::new(VaultErrorKind::BadResponse, "client closed")
                            .at(&self.addr, &shown),
                    );
                }
                Err(_) => return Err(self.deadline_error(&shown, attempt - 1)),
            };
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            let limited_by_deadline = remaining < self.request_timeout;
            let timeout = remaining.min(self.request_timeout);

            let mut rb = self
                .client
                .request(req.method.clone(), url.clone())
                .timeout(timeout)
                .header("X-Vault-Request", "true");
            if let Some(h) = &token_header {
                rb = rb.header("X-Vault-Token", h.clone());
            }
            if let Some(ns) = namespace {
                rb = rb.header("X-Vault-Namespace", ns);
            }
            if let Some(body) = &req.body {
                rb = rb
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(Bytes::from_owner(ZeroBody(body.clone())));
            }
            let started = Instant::now();
            let outcome = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = retry_after(&resp);
                    match read_body(resp, MAX_BODY).await {
                        Ok(Some(body)) => Ok((status, retry_after, body)),
                        Ok(None) => {
                            return Err(VaultError::new(
                                VaultErrorKind::BadResponse,
                                format!(
                                    "the response body is larger than {} MiB; refusing a cut-off \
                                     answer (is VAULT_ADDR a Vault server?)",
                                    MAX_BODY / (1024 * 1024)
                                ),
                            )
                            .at(&self.addr, &shown)
                            .with_attempts(attempt));
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            drop(permit);
            let ms = started.elapsed().as_millis();

            let (failure, retry_after) = match outcome {
                Ok((status, retry_after, body)) => {
                    tracing::debug!(
                        "vault {} /v1/{shown} -> {} in {ms} ms (attempt {attempt})",
                        req.method,
                        status.as_u16()
                    );
                    if !retryable_status(status) {
                        return Ok(Response { status, body });
                    }
                    let msg = json::error_messages(&body);
                    let mut cause = format!("HTTP {status}");
                    if !msg.is_empty() {
                        cause = format!("{cause} ({msg})");
                    }
                    if req.not_idempotent && status.is_server_error() {
                        return Err(not_retried(&cause)
                            .at(&self.addr, &shown)
                            .with_attempts(attempt));
                    }
                    (cause, retry_after)
                }
                Err(e) => {
                    let class = classify(&e, timeout);
                    tracing::debug!(
                        "vault {} /v1/{shown} -> {} in {ms} ms (attempt {attempt})",
                        req.method,
                        class.cause
                    );
                    if class.tls {
                        // A plain-HTTP server answering a TLS client hello: rustls reads the
                        // HTTP response as a corrupt record.
                        let plain_http = class.cause.contains("InvalidContentType")
                            || class.cause.contains("corrupt message");
                        let advice = if plain_http {
                            "the server answered in plain HTTP, not TLS: if it serves plain HTTP \
                             (a dev server), write VAULT_ADDR with http://"
                        } else {
                            "check VAULT_CACERT/VAULT_CAPATH (the CA that signed the server's \
                             certificate) and VAULT_CLIENT_CERT/VAULT_CLIENT_KEY"
                        };
                        return Err(VaultError::new(
                            VaultErrorKind::Tls,
                            format!("{}; {advice}", class.cause),
                        )
                        .at(&self.addr, &shown)
                        .with_attempts(attempt));
                    }
                    if class.timeout && limited_by_deadline {
                        return Err(self.deadline_error(&shown, attempt));
                    }
                    if req.not_idempotent && !e.is_connect() {
                        return Err(not_retried(&class.cause)
                            .at(&self.addr, &shown)
                            .with_attempts(attempt));
                    }
                    (class.cause, None)
                }
            };

            if attempt > self.max_retries {
                return Err(VaultError::new(VaultErrorKind::Unreachable, failure)
                    .at(&self.addr, &shown)
                    .with_attempts(attempt));
            }
            let delay = backoff(attempt, retry_after);
            if Instant::now() + delay >= self.deadline {
                return Err(VaultError::new(
                    VaultErrorKind::Unreachable,
                    format!("{failure}; the run's deadline left no time for another attempt"),
                )
                .at(&self.addr, &shown)
                .with_attempts(attempt));
            }
            tokio::time::sleep(delay).await;
        }
    }
}

/// The error of a non-idempotent request that failed after it may have reached the server.
fn not_retried(cause: &str) -> VaultError {
    VaultError::new(
        VaultErrorKind::Unreachable,
        format!(
            "{cause}; not retried: this path is not in a KV mount, and a repeated read could \
             create another lease or set of credentials"
        ),
    )
}

fn retryable_status(s: StatusCode) -> bool {
    s == StatusCode::PRECONDITION_FAILED
        || s == StatusCode::TOO_MANY_REQUESTS
        || (s.is_server_error() && s != StatusCode::NOT_IMPLEMENTED)
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = v.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(RETRY_AFTER_CAP))
}

/// Exponential backoff with "equal jitter": half the step fixed, half random.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    use rand::Rng;
    let step = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    let half = step / 2;
    let jitter = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
    let d = half + Duration::from_millis(jitter);
    match retry_after {
        Some(r) if r > d => r,
        _ => d,
    }
}

/// Reads the body into a zeroizing buffer, chunk by chunk (the chunks are hyper's, freed
/// unwiped; see `json.rs`). `Ok(None)` when the body is larger than `limit`: a cut-off answer
/// must never be taken for a whole one.
async fn read_body(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Option<Zeroizing<Vec<u8>>>, reqwest::Error> {
    if resp
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
    {
        return Ok(None);
    }
    let hint = resp
        .content_length()
        .map_or(4096, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut buf = Zeroizing::new(Vec::with_capacity(hint));
    while let Some(chunk) = resp.chunk().await? {
        if buf.len() + chunk.len() > limit {
            return Ok(None);
        }
        crate::secret::extend_wiping(&mut buf, &chunk);
    }
    Ok(Some(buf))
}

struct Class {
    cause: String,
    tls: bool,
    timeout: bool,
}

/// Is there a rustls error anywhere in `e`? (`io::Error` hides its inner error from
/// `source()`, and tokio-rustls wraps rustls errors in two of them.)
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
    {
        let inner: &(dyn std::error::Error + 'static) = inner;
        if is_tls(inner) {
            return true;
        }
    }
    e.source().is_some_and(is_tls)
}

/// Describes a transport error without the URL (we print the path ourselves).
fn classify(e: &reqwest::Error, timeout: Duration) -> Class {
    use std::error::Error as _;
    if e.is_timeout() {
        return Class {
            cause: format!("no response within {} s", timeout.as_secs_f64()),
            tls: false,
            timeout: true,
        };
    }
    let mut tls = false;
    let mut parts: Vec<String> = Vec::new();
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = src {
        tls |= is_tls(s);
        let text = s.to_string();
        // hyper-util's "client error (Connect)" adds nothing to "connection failed".
        if !text.is_empty()
            && !text.starts_with("client error (")
            && !parts.iter().any(|p| p.contains(&text))
        {
            parts.push(text);
        }
        src = s.source();
    }
    let what = if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the response was cut off"
    } else {
        "request failed"
    };
    let cause = if parts.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {}", parts.join(": "))
    };
    Class {
        cause,
        tls,
        timeout: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server on loopback answering `body_len` bytes, with or without a
    /// Content-Length header (chunked otherwise).
    fn serve_once(body_len: usize, content_length: bool) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req);
                let body = vec![b'x'; body_len];
                let head = if content_length {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\n\r\n")
                } else {
                    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()
                };
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            }
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn vault_token_is_never_sent_to_another_origin_on_redirect() {
        use std::io::{Read, Write};
        crate::cli::install_crypto_provider();
        // B: records whether anything at all arrives.
        let b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let b_addr = b.local_addr().expect("addr");
        b.set_nonblocking(true).expect("nonblocking");
        // A: answers 307 to B (another port: another origin).
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let a_addr = a.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = a.accept() {
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req);
                let _ = s.write_all(
                    format!(
                        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{b_addr}/v1/x\r\n\
                         Content-Length: 0\r\n\r\n"
                    )
                    .as_bytes(),
                );
            }
        });
        let client = reqwest::Client::builder()
            .redirect(super::super::tls::same_origin_redirects())
            // A bound, not a timing assertion: a followed redirect would wait on B forever.
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let resp = client
            .get(format!("http://{a_addr}/v1/secret/data/app"))
            .header("X-Vault-Token", "canary-token")
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 307, "the redirect is not followed");
        assert!(
            b.accept().is_err(),
            "the other origin received a connection (and the token)"
        );
    }

    #[tokio::test]
    async fn an_oversized_response_is_refused_not_truncated() {
        crate::cli::install_crypto_provider();
        let client = reqwest::Client::new();
        for content_length in [true, false] {
            let url = serve_once(10_000, content_length);
            let resp = client.get(&url).send().await.expect("request");
            let body = read_body(resp, 4096).await.expect("read");
            assert!(
                body.is_none(),
                "content-length {content_length}: a cut-off body was accepted"
            );
            let url = serve_once(4096, content_length);
            let resp = client.get(&url).send().await.expect("request");
            let body = read_body(resp, 4096)
                .await
                .expect("read")
                .expect("within the limit");
            assert_eq!(body.len(), 4096);
        }
    }

    #[test]
    fn addresses_are_validated() {
        assert!(parse_address("http://127.0.0.1:8200").is_ok());
        assert!(parse_address("https://vault.example/prefix/").is_ok());
        for bad in [
            "",
            "  ",
            "127.0.0.1:8200",
            "vault:8200",
            "ftp://x",
            "http://",
            "http://u:p@vault:8200",
            "http://vault:8200/?x=1",
            "http://[::1",
            "https://vault:99999",
        ] {
            let e = parse_address(bad).unwrap_err();
            assert!(e.is_config(), "{bad}: {e}");
        }
    }

    #[test]
    fn paths_refuse_dot_segments() {
        assert_eq!(path_segments("/secret//app/").unwrap(), ["secret", "app"]);
        assert!(path_segments("secret/../sys/mounts").is_err());
        assert!(path_segments("./x").is_err());
        assert!(path_segments("//").is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..10 {
            let d = backoff(attempt, None);
            let step = BACKOFF_BASE
                .saturating_mul(1 << (attempt - 1))
                .min(BACKOFF_CAP);
            assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
        }
        assert_eq!(
            backoff(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn retryable_statuses() {
        for s in [412, 429, 500, 502, 503, 504] {
            assert!(retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 204, 400, 401, 403, 404, 405, 501] {
            assert!(!retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
