//! Logging in: one `POST auth/<mount>/login` per method, credentials read at login time into
//! zeroizing buffers, the token returned in a [`Sensitive`].

use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};
use zeroize::Zeroizing;

use super::config::{AuthConfig, SecretSource};
use super::error::{VaultError, VaultErrorKind};
use super::http::{Request, Transport};
use super::json::{Envelope, Zv};
use crate::secret::{SecretBuf, Sensitive};

/// A token and what we know about its lifetime.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub token: Sensitive,
    /// When the token expires (`None`: never, e.g. a root token or a static `VAULT_TOKEN`).
    pub expires_at: Option<SystemTime>,
    pub renewable: bool,
    /// True when the token came from a login (so it can be re-obtained by logging in again).
    pub from_login: bool,
}

/// Reads a credential: the value itself, or the trimmed content of its file.
pub(crate) fn read_source(src: &SecretSource, what: &str) -> Result<Sensitive, VaultError> {
    match src {
        SecretSource::Value(v) => {
            if v.is_empty() {
                return Err(VaultError::config(format!("{what} is empty")));
            }
            Ok(v.clone())
        }
        SecretSource::File(path) => {
            let raw = Zeroizing::new(std::fs::read(path).map_err(|e| {
                VaultError::config(format!("{what} file {}: cannot read: {e}", path.display()))
            })?);
            let trimmed = raw.trim_ascii();
            if trimmed.is_empty() {
                return Err(VaultError::config(format!(
                    "{what} file {} is empty",
                    path.display()
                )));
            }
            Ok(Sensitive::new(trimmed.to_vec()))
        }
    }
}

/// Appends `s` as a JSON string literal (with quotes) to `out`.
/// A flat JSON object of string fields (a login or transit request body), written by
/// serde_json into a [`SecretBuf`] (growth copies and wipes: no copy of a credential is left
/// behind). Values that are not UTF-8 are written with U+FFFD in place of invalid bytes,
/// without an intermediate copy.
pub(crate) fn json_object(fields: &[(&str, &[u8])]) -> Zeroizing<Vec<u8>> {
    use serde::ser::SerializeMap as _;
    let cap = 2 + fields
        .iter()
        .map(|(k, v)| 8 + k.len() + 2 * v.len())
        .sum::<usize>();
    let mut out = SecretBuf::with_capacity(cap);
    let mut ser = serde_json::Serializer::new(&mut out);
    // Writing into memory cannot fail; a failure leaves a shorter body the server refuses.
    if let Ok(mut map) = serde::Serializer::serialize_map(&mut ser, Some(fields.len())) {
        for (k, v) in fields {
            let _ = map.serialize_entry(k, &Lossy(v));
        }
        let _ = map.end();
    }
    out.into_zeroizing()
}

/// Bytes as a JSON string: UTF-8 as is, invalid sequences as U+FFFD.
struct Lossy<'a>(&'a [u8]);

impl serde::Serialize for Lossy<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.collect_str(&LossyDisplay(self.0)),
        }
    }
}

struct LossyDisplay<'a>(&'a [u8]);

impl std::fmt::Display for LossyDisplay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        Ok(())
    }
}

fn mount_path(mount: &str) -> String {
    let m = mount.trim_matches('/');
    // AVP's AVP_MOUNT_PATH is written `auth/approle`; we accept both forms.
    let m = m.strip_prefix("auth/").unwrap_or(m);
    format!("auth/{m}")
}

/// Logs in with `auth` (any method but `token`).
pub(crate) async fn login(transport: &Transport, auth: &AuthConfig) -> Result<Token, VaultError> {
    let (path, body) = match auth {
        AuthConfig::Token(_) | AuthConfig::None => {
            return Err(VaultError::config("token auth has no login"));
        }
        AuthConfig::AppRole {
            mount,
            role_id,
            secret_id,
        } => {
            let sid = read_source(secret_id, "the AppRole secret id")?;
            (
                format!("{}/login", mount_path(mount)),
                json_object(&[("role_id", role_id.as_bytes()), ("secret_id", sid.expose())]),
            )
        }
        AuthConfig::Kubernetes { mount, role, jwt } => {
            let jwt = read_source(jwt, "the Kubernetes service-account token")?;
            (
                format!("{}/login", mount_path(mount)),
                json_object(&[("role", role.as_bytes()), ("jwt", jwt.expose())]),
            )
        }
        AuthConfig::Jwt { mount, role, jwt } => {
            let jwt = read_source(jwt, "the JWT")?;
            let body = match role {
                Some(r) => json_object(&[("role", r.as_bytes()), ("jwt", jwt.expose())]),
                None => json_object(&[("jwt", jwt.expose())]),
            };
            (format!("{}/login", mount_path(mount)), body)
        }
        AuthConfig::Userpass {
            mount,
            username,
            password,
        } => {
            let pw = read_source(password, "the password")?;
            (
                format!("{}/login/{username}", mount_path(mount)),
                json_object(&[("password", pw.expose())]),
            )
        }
        AuthConfig::Cert { mount, name } => {
            let body = match name {
                Some(n) => json_object(&[("name", n.as_bytes())]),
                None => json_object(&[]),
            };
            (format!("{}/login", mount_path(mount)), body)
        }
        AuthConfig::Github { mount, token } => {
            let t = read_source(token, "the GitHub token")?;
            (
                format!("{}/login", mount_path(mount)),
                json_object(&[("token", t.expose())]),
            )
        }
    };
    let resp = transport
        .send(&Request::with_body(Method::POST, &path, body), None)
        .await?;
    let method = auth.method();
    if !resp.status.is_success() {
        let msg = resp.vault_errors();
        let detail = format!(
            "{method} login at auth/{} was refused (HTTP {}){}",
            mount_path(auth.mount()).trim_start_matches("auth/"),
            resp.status.as_u16(),
            if msg.is_empty() {
                String::new()
            } else {
                format!(": {msg}")
            }
        );
        return Err(VaultError::new(VaultErrorKind::Auth, detail).at(&transport.addr, &path));
    }
    token_from_response(&resp.body, true).map_err(|e| e.at(&transport.addr, &path))
}

/// Extracts the `auth` block of a login or renew response.
pub(crate) fn token_from_response(body: &[u8], from_login: bool) -> Result<Token, VaultError> {
    let env: Envelope<Zv> = serde_json::from_slice(body).map_err(|e| {
        VaultError::new(
            VaultErrorKind::BadResponse,
            format!(
                "the login response is not Vault JSON ({})",
                e.classify_name()
            ),
        )
    })?;
    let Some(auth) = env.auth else {
        return Err(VaultError::new(
            VaultErrorKind::BadResponse,
            "the login response has no token (auth block missing)",
        ));
    };
    if auth.client_token.0.is_empty() {
        return Err(VaultError::new(
            VaultErrorKind::BadResponse,
            "the login response has an empty token",
        ));
    }
    Ok(Token {
        token: auth.client_token.0,
        expires_at: (auth.lease_duration > 0)
            .then(|| SystemTime::now() + Duration::from_secs(auth.lease_duration)),
        renewable: auth.renewable,
        from_login,
    })
}

/// `POST auth/token/renew-self {"increment": "<n>s"}`: extends a renewable token (the
/// server caps the increment at the token's max TTL).
pub(crate) async fn renew_self(
    transport: &Transport,
    token: &Sensitive,
    increment: Duration,
) -> Result<Token, VaultError> {
    let path = "auth/token/renew-self";
    let inc = format!("{}s", increment.as_secs());
    let resp = transport
        .send(
            &Request::with_body(
                Method::POST,
                path,
                json_object(&[("increment", inc.as_bytes())]),
            ),
            Some(token),
        )
        .await?;
    if resp.status != StatusCode::OK {
        return Err(VaultError::new(
            VaultErrorKind::Auth,
            format!("token renewal refused (HTTP {})", resp.status.as_u16()),
        )
        .at(&transport.addr, path));
    }
    token_from_response(&resp.body, true).map_err(|e| e.at(&transport.addr, path))
}

/// `GET auth/token/lookup-self`: is the token still valid? (Used only after a 403, to tell an
/// expired or revoked token from a missing policy.)
pub(crate) async fn token_is_valid(
    transport: &Transport,
    token: &Sensitive,
) -> Result<bool, VaultError> {
    let resp = transport
        .send(&Request::get("auth/token/lookup-self"), Some(token))
        .await?;
    Ok(resp.status.is_success())
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_object_escapes_and_is_valid_json() {
        let body = json_object(&[("a", b"x\"y\\z\n\x01"), ("b", "é".as_bytes())]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["a"], "x\"y\\z\n\u{1}");
        assert_eq!(v["b"], "é");
        assert_eq!(&*json_object(&[]), b"{}");
        let body = json_object(&[("c", b"a\xffb")]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["c"], "a\u{fffd}b");
    }

    #[test]
    fn mount_paths_accept_avp_form() {
        assert_eq!(mount_path("approle"), "auth/approle");
        assert_eq!(mount_path("auth/approle"), "auth/approle");
        assert_eq!(mount_path("/auth/team/k8s/"), "auth/team/k8s");
    }

    #[test]
    fn source_files_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "  s.abc\n").unwrap();
        let t = read_source(&SecretSource::File(f.clone()), "token").unwrap();
        assert_eq!(t.expose(), b"s.abc");
        std::fs::write(&f, "\n").unwrap();
        assert!(
            read_source(&SecretSource::File(f), "token")
                .unwrap_err()
                .is_config()
        );
    }
}
