//! Response bodies parsed straight into zeroizing types.
//!
//! The body is first copied into a `Zeroizing<Vec<u8>>` (see `http.rs`), then deserialized
//! here: every JSON string under `data` becomes a [`Sensitive`] as it is read, so secret text
//! never lives in a plain `String` or `serde_json::Value`.
//!
//! What we cannot zeroize (documented in `docs/vault.md`): hyper's receive buffers and the
//! `Bytes` chunks reqwest hands out (freed, not wiped), and serde_json's scratch buffer, which
//! holds a string only while it un-escapes it (strings without escapes are borrowed from our
//! zeroizing buffer and copied once, into the `Sensitive`).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::secret::{SecretValue, Sensitive};

/// A JSON value deserialized into a [`SecretValue`] with zeroizing strings (the one
/// `Deserialize for SecretValue` in `secret.rs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Zv(pub SecretValue);

/// A JSON string deserialized straight into a [`Sensitive`] (tokens, plaintexts).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct ZStr(pub Sensitive);

impl fmt::Debug for ZStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<'de> Deserialize<'de> for ZStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ZStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ZStr, E> {
                Ok(ZStr(Sensitive::from_str_copy(v)))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ZStr, E> {
                Ok(ZStr(Sensitive::from(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Vault's response envelope. `T` is the shape of `data`.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    #[serde(default = "none")]
    pub data: Option<T>,
    #[serde(default)]
    pub auth: Option<AuthInfo>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    #[serde(default)]
    pub lease_id: Option<String>,
    #[serde(default)]
    pub lease_duration: Option<u64>,
}

fn none<T>() -> Option<T> {
    None
}

/// The `auth` block of a login or token response.
#[derive(Debug, Deserialize)]
pub(crate) struct AuthInfo {
    pub client_token: ZStr,
    #[serde(default)]
    pub lease_duration: u64,
    #[serde(default)]
    pub renewable: bool,
}

/// Vault's error body: `{"errors": ["…"]}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub errors: Vec<String>,
}

/// Vault's error messages from a body, cleaned to one short line (no secrets: Vault's error
/// texts name paths and reasons). Empty when the body has none.
pub(crate) fn error_messages(body: &[u8]) -> String {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let mut out = String::new();
    for e in parsed.errors {
        // Vault wraps multierrors as "1 error occurred:\n\t* permission denied\n\n".
        for line in e.lines() {
            let line = line.trim().trim_start_matches("* ").trim();
            if line.is_empty()
                || line.ends_with("error occurred:")
                || line.ends_with("errors occurred:")
            {
                continue;
            }
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(line);
        }
    }
    if out.chars().count() > 300 {
        out = out.chars().take(300).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_map_keeps_types_and_order() {
        let body = br#"{"data":{"z":"s\u00e9cret","a":80,"big":18446744073709551615,"f":1.5,"b":true,"n":null,"l":[1,"x"],"m":{"k":"v"}}}"#;
        let env: Envelope<Zv> = serde_json::from_slice(body).unwrap();
        let Some(Zv(SecretValue::Map(m))) = env.data else {
            panic!("not a map")
        };
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["z", "a", "big", "f", "b", "n", "l", "m"]
        );
        assert_eq!(
            m["z"],
            SecretValue::String(Sensitive::from_str_copy("sécret"))
        );
        assert_eq!(m["a"], SecretValue::Int(80));
        assert_eq!(
            m["big"],
            SecretValue::String(Sensitive::from_str_copy("18446744073709551615"))
        );
        assert_eq!(m["f"], SecretValue::Float(1.5));
        assert_eq!(m["b"], SecretValue::Bool(true));
        assert_eq!(m["n"], SecretValue::Null);
        assert!(matches!(m["l"], SecretValue::List(ref l) if l.len() == 2));
        assert!(matches!(m["m"], SecretValue::Map(_)));
    }

    #[test]
    fn null_data_is_none() {
        let env: Envelope<Zv> = serde_json::from_slice(br#"{"data":null}"#).unwrap();
        assert!(env.data.is_none());
        let env: Envelope<Zv> = serde_json::from_slice(br#"{}"#).unwrap();
        assert!(env.data.is_none());
    }

    #[test]
    fn auth_token_is_redacted_in_debug() {
        let env: Envelope<Zv> = serde_json::from_slice(
            br#"{"auth":{"client_token":"s.hunter2","lease_duration":60,"renewable":true}}"#,
        )
        .unwrap();
        let auth = env.auth.unwrap();
        assert_eq!(auth.client_token.0.expose(), b"s.hunter2");
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn error_messages_are_one_clean_line() {
        let body = br#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#;
        assert_eq!(error_messages(body), "permission denied");
        assert_eq!(error_messages(br#"{"errors":[]}"#), "");
        assert_eq!(error_messages(b"<html>"), "");
    }
}
