//! AWS KMS for sops `kms` keys: the `Encrypt`/`Decrypt` JSON API signed with SigV4
//! ([`sigv4`]), credentials from the standard chain ([`credentials`]), an optional role
//! assumed with STS (`AssumeRole`, the key's `role`), web identity tokens exchanged with STS
//! (`AssumeRoleWithWebIdentity`). Endpoints: `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL_STS`,
//! else `AWS_ENDPOINT_URL`, else `https://kms.REGION.amazonaws.com` (the key ARN's region).
//!
//! Why not the AWS SDK for Rust: two calls need a signer and a JSON body; the SDK adds about 150
//! crates and over a minute of build on CI's two cores (docs/design.md). The data key only
//! travels in zeroizing buffers; responses are read into them chunk by chunk.

pub mod credentials;
pub mod sigv4;

use std::time::Duration;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::sops::keys::kms::{Kms, KmsKey};
use sigv4::Credentials;

/// How long one call may take when no run deadline is armed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a response body.
const MAX_BODY: usize = 1 << 20;

/// The application's KMS client.
#[derive(Debug, Default)]
pub struct AwsKms;

impl AwsKms {
    /// A client reading the environment at each call.
    pub fn new() -> AwsKms {
        AwsKms
    }
}

fn endpoint(service: &str, region: &str) -> String {
    let upper = service.to_ascii_uppercase();
    std::env::var(format!("AWS_ENDPOINT_URL_{upper}"))
        .ok()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.is_empty())
        .map(|e| e.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("https://{service}.{region}.amazonaws.com"))
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Kms for AwsKms {
    fn decrypt(&self, key: &KmsKey, ciphertext_b64: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let mut body = serde_json::Map::new();
        body.insert("CiphertextBlob".into(), ciphertext_b64.into());
        body.insert("KeyId".into(), key.arn.clone().into());
        if !key.context.is_empty() {
            body.insert("EncryptionContext".into(), context(key));
        }
        let body = Zeroizing::new(serde_json::to_vec(&body).map_err(|e| e.to_string())?);
        let out = call(key, "TrentService.Decrypt", body)?;
        let v: serde_json::Value =
            serde_json::from_slice(&out).map_err(|_| "KMS Decrypt: the answer is not JSON")?;
        let p = v
            .get("Plaintext")
            .and_then(|p| p.as_str())
            .ok_or("KMS Decrypt: the answer has no Plaintext")?;
        let bytes = b64()
            .decode(p)
            .map_err(|_| "KMS Decrypt: Plaintext is not base64")?;
        // `v` holds the base64 text; serde_json's strings are not wiped (one short-lived copy).
        Ok(Zeroizing::new(bytes))
    }

    fn encrypt(&self, key: &KmsKey, plaintext: &[u8]) -> Result<String, String> {
        let mut encoded = Zeroizing::new(String::new());
        b64().encode_string(plaintext, &mut encoded);
        let mut body = Zeroizing::new(Vec::new());
        body.extend_from_slice(b"{\"KeyId\":");
        body.extend_from_slice(
            serde_json::to_string(&key.arn)
                .map_err(|e| e.to_string())?
                .as_bytes(),
        );
        body.extend_from_slice(b",\"Plaintext\":\"");
        body.extend_from_slice(encoded.as_bytes());
        body.push(b'"');
        if !key.context.is_empty() {
            body.extend_from_slice(b",\"EncryptionContext\":");
            body.extend_from_slice(
                serde_json::to_string(&context(key))
                    .map_err(|e| e.to_string())?
                    .as_bytes(),
            );
        }
        body.push(b'}');
        let out = call(key, "TrentService.Encrypt", body)?;
        let v: serde_json::Value =
            serde_json::from_slice(&out).map_err(|_| "KMS Encrypt: the answer is not JSON")?;
        v.get("CiphertextBlob")
            .and_then(|c| c.as_str())
            .map(str::to_owned)
            .ok_or_else(|| "KMS Encrypt: the answer has no CiphertextBlob".to_owned())
    }
}

fn context(key: &KmsKey) -> serde_json::Value {
    serde_json::Value::Object(
        key.context
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect(),
    )
}

/// One signed KMS call (after resolving credentials and the key's role).
fn call(
    key: &KmsKey,
    target: &str,
    body: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let region = key
        .region()
        .ok_or_else(|| format!("invalid AWS KMS key ARN {:?}", key.arn))?
        .to_owned();
    let what = format!(
        "AWS KMS {} ({})",
        target.trim_start_matches("TrentService."),
        key.arn
    );
    let key = key.clone();
    let target = target.to_owned();
    let timeout = crate::deadline::remaining().unwrap_or(CALL_TIMEOUT);
    // On the process's runtime: callers are synchronous code or its blocking threads.
    crate::runtime::block_on(async move {
        let client = client(timeout)?;
        let creds = credentials_for(&client, &key, &region).await?;
        post(
            &client,
            &creds,
            &region,
            "kms",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", &target),
            ],
            body,
        )
        .await
    })
    .map_err(|e| format!("{what}: {e}"))?
    .map_err(|e| format!("{what}: {e}"))
}

fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("sealbridge/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_rustls();
    if let Ok(bundle) = std::env::var("AWS_CA_BUNDLE")
        && !bundle.is_empty()
    {
        let pem = std::fs::read(&bundle).map_err(|e| format!("AWS_CA_BUNDLE {bundle}: {e}"))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("AWS_CA_BUNDLE {bundle}: {e}"))?;
        b = b.tls_certs_only(certs);
    }
    b.build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

/// The credentials for `key`: the chain, a web identity exchanged, then its role assumed.
async fn credentials_for(
    client: &reqwest::Client,
    key: &KmsKey,
    region: &str,
) -> Result<Credentials, String> {
    let base = match credentials::source(&key.aws_profile)? {
        credentials::Source::Static(c) => c,
        credentials::Source::WebIdentity {
            role_arn,
            token_file,
            session_name,
        } => {
            let token = Zeroizing::new(std::fs::read_to_string(&token_file).map_err(|e| {
                format!("AWS_WEB_IDENTITY_TOKEN_FILE {}: {e}", token_file.display())
            })?);
            let form = Zeroizing::new(form(&[
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", &role_arn),
                ("RoleSessionName", &session_name),
                ("WebIdentityToken", token.trim()),
            ]));
            let url = format!("{}/", endpoint("sts", region));
            let resp = client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.as_bytes().to_vec())
                .send()
                .await
                .map_err(|e| format!("STS AssumeRoleWithWebIdentity: {e}"))?;
            sts_credentials(resp, "AssumeRoleWithWebIdentity").await?
        }
    };
    if key.role.is_empty() {
        return Ok(base);
    }
    let body = Zeroizing::new(
        form(&[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", &key.role),
            ("RoleSessionName", "sealbridge"),
        ])
        .into_bytes(),
    );
    let (url, host) = url_and_host("sts", region)?;
    let amz_date = sigv4::amz_date_now();
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let signed = sigv4::sign(
        &base, region, "sts", &host, "/", "", &headers, &body, &amz_date,
    );
    let mut req = client.post(&url).header("content-type", headers[0].1);
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| format!("STS AssumeRole {}: {e}", key.role))?;
    sts_credentials(resp, "AssumeRole").await
}

fn url_and_host(service: &str, region: &str) -> Result<(String, String), String> {
    let base = endpoint(service, region);
    let url =
        reqwest::Url::parse(&format!("{base}/")).map_err(|e| format!("endpoint {base:?}: {e}"))?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => return Err(format!("endpoint {base:?} has no host")),
    };
    Ok((url.to_string(), host))
}

async fn post(
    client: &reqwest::Client,
    creds: &Credentials,
    region: &str,
    service: &str,
    headers: &[(&str, &str)],
    body: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let (url, host) = url_and_host(service, region)?;
    let amz_date = sigv4::amz_date_now();
    let signed = sigv4::sign(
        creds, region, service, &host, "/", "", headers, &body, &amz_date,
    );
    let mut req = client.post(&url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req
        .body(reqwest::Body::from(bytes::Bytes::from_owner(ZeroBody(
            body,
        ))))
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = resp.status();
    let out = read_body(resp).await?;
    if !status.is_success() {
        return Err(api_error(status, &out));
    }
    Ok(out)
}

/// A request body wiped when hyper drops it.
struct ZeroBody(Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for ZeroBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn describe(e: &reqwest::Error) -> String {
    crate::error::chain(e)
}

async fn read_body(mut resp: reqwest::Response) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut buf = Zeroizing::new(Vec::with_capacity(4096));
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer is larger than {MAX_BODY} bytes"));
        }
        crate::secret::extend_wiping(&mut buf, &chunk);
    }
    Ok(buf)
}

/// `HTTP 400: AccessDeniedException: message` from a KMS (JSON) or STS (XML) error body.
fn api_error(status: reqwest::StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        let kind = v
            .get("__type")
            .and_then(|t| t.as_str())
            .unwrap_or("error")
            .rsplit('#')
            .next()
            .unwrap_or("error")
            .to_owned();
        let msg = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(|m| m.as_str())
            .unwrap_or("");
        return format!("HTTP {}: {kind}: {msg}", status.as_u16());
    }
    let code = xml_text(&text, "Code").unwrap_or("error");
    let msg = xml_text(&text, "Message").unwrap_or("");
    format!("HTTP {}: {code}: {msg}", status.as_u16())
}

async fn sts_credentials(resp: reqwest::Response, action: &str) -> Result<Credentials, String> {
    let status = resp.status();
    let body = read_body(resp)
        .await
        .map_err(|e| format!("STS {action}: {e}"))?;
    if !status.is_success() {
        return Err(format!("STS {action}: {}", api_error(status, &body)));
    }
    let text = std::str::from_utf8(&body).map_err(|_| format!("STS {action}: not UTF-8"))?;
    let get = |tag: &str| {
        xml_text(text, tag)
            .map(str::to_owned)
            .ok_or_else(|| format!("STS {action}: the answer has no {tag}"))
    };
    Ok(Credentials {
        access_key_id: get("AccessKeyId")?,
        secret_access_key: Zeroizing::new(get("SecretAccessKey")?),
        session_token: Some(Zeroizing::new(get("SessionToken")?)),
    })
}

/// The text of the first `<tag>…</tag>`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].trim())
}

/// `application/x-www-form-urlencoded` with AWS' percent-encoding.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_forms() {
        let e = api_error(
            reqwest::StatusCode::BAD_REQUEST,
            br#"{"__type":"com.amazonaws.kms#AccessDeniedException","message":"no"}"#,
        );
        assert_eq!(e, "HTTP 400: AccessDeniedException: no");
        let e = api_error(
            reqwest::StatusCode::FORBIDDEN,
            b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>m</Message></Error></ErrorResponse>",
        );
        assert_eq!(e, "HTTP 403: AccessDenied: m");
        assert_eq!(form(&[("A", "a b/c+")]), "A=a%20b%2Fc%2B");
    }
}
