//! AWS Signature Version 4 for the two JSON/Query POST APIs sealbridge calls (KMS, STS):
//! HMAC-SHA256 over the canonical request, as the AWS documentation specifies it. Only what a
//! POST to `/` with a body needs: no query string, no chunked payloads.

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Signing credentials.
#[derive(Clone)]
pub struct Credentials {
    /// `AKIA…`/`ASIA…` (not secret).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// The session token of temporary credentials.
    pub session_token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// HMAC-SHA256 (RFC 2104), shared with the keyed fingerprints.
pub use crate::secret::hmac_sha256 as hmac;

/// The signing key for `date` (`YYYYMMDD`), region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Zeroizing<[u8; 32]> {
    let mut first = Zeroizing::new(String::with_capacity(secret.len() + 4));
    first.push_str("AWS4");
    first.push_str(secret);
    let k_date = Zeroizing::new(hmac(first.as_bytes(), date.as_bytes()));
    let k_region = Zeroizing::new(hmac(&*k_date, region.as_bytes()));
    let k_service = Zeroizing::new(hmac(&*k_region, service.as_bytes()));
    Zeroizing::new(hmac(&*k_service, b"aws4_request"))
}

/// The headers to add to a request: `(name, value)` pairs including `Authorization`.
///
/// `headers` are the other headers to sign (lowercase names), `host` the Host header value,
/// `amz_date` the `YYYYMMDDTHHMMSSZ` time.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    creds: &Credentials,
    region: &str,
    service: &str,
    host: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    amz_date: &str,
) -> Vec<(String, String)> {
    let date = &amz_date[..8.min(amz_date.len())];
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    all.push(("host".to_owned(), host.to_owned()));
    all.push(("x-amz-date".to_owned(), amz_date.to_owned()));
    if let Some(t) = &creds.session_token {
        all.push(("x-amz-security-token".to_owned(), t.to_string()));
    }
    all.sort();
    let signed: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let mut canonical = format!("POST\n{path}\n{query}\n");
    for (k, v) in &all {
        canonical.push_str(k);
        canonical.push(':');
        canonical.push_str(v);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed);
    canonical.push('\n');
    canonical.push_str(&hex::encode(Sha256::digest(body)));
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&creds.secret_access_key, date, region, service);
    let signature = hex::encode(hmac(&*key, to_sign.as_bytes()));
    let mut out: Vec<(String, String)> = all
        .into_iter()
        .filter(|(k, _)| k != "host" && !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)))
        .collect();
    out.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            creds.access_key_id
        ),
    ));
    out
}

/// `YYYYMMDDTHHMMSSZ` for now (UTC).
pub fn amz_date_now() -> String {
    let rfc = crate::yaml::gofmt::Timestamp::now_utc().rfc3339();
    // 2006-01-02T15:04:05Z → 20060102T150405Z
    rfc.chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(15)
        .collect::<String>()
        + "Z"
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of the AWS Signature Version 4 documentation (IAM ListUsers,
    // 2015-08-30, us-east-1): the derived signing key.
    #[test]
    fn signing_key_matches_the_aws_documentation() {
        let k = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(*k),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            hex::encode(hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than the block is hashed first (RFC 4231 case 6).
        assert_eq!(
            hex::encode(hmac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn amz_date_shape() {
        let d = amz_date_now();
        assert_eq!(d.len(), 16, "{d}");
        assert!(d.ends_with('Z') && d.as_bytes()[8] == b'T', "{d}");
    }
}
