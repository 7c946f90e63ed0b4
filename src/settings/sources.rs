//! Where a setting is looked up ([`Sources`]: flags are the caller's, then the environment
//! with the allow-listed `ARGOCD_ENV_*` first, the config file, the Kubernetes Secret) and
//! the parsers that turn a found [`Value`] into a typed setting, naming its origin on error.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::secret::Sensitive;

use super::{ARGOCD_ENV_ALLOWED, SecretSettings, parse_bool, parse_duration};

/// A value and where it came from (for error messages).
#[derive(Debug, Clone)]
pub(super) struct Value {
    pub(super) text: String,
    pub(super) origin: String,
}

/// Where settings are looked up: environment (with allow-listed `ARGOCD_ENV_*` first), the
/// structured config file, then the config file's environment-style entries.
pub(super) struct Sources {
    /// The environment without the credential values (`vault::CREDENTIALS`).
    pub(super) env: BTreeMap<String, String>,
    /// The credential values of the environment, in zeroizing storage from the moment they are
    /// read ([`split_credentials`]).
    pub(super) creds: BTreeMap<String, Sensitive>,
    pub(super) file_env: BTreeMap<String, String>,
    pub(super) file_name: Option<String>,
    pub(super) secret: Option<SecretSettings>,
}

pub(super) fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Moves the credential values (`VAULT_TOKEN`, `AVP_SECRET_ID`, …) out of `env` into zeroizing
/// storage; the rest stays text.
pub(super) fn split_credentials(
    mut env: BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, Sensitive>) {
    let mut creds = BTreeMap::new();
    for name in super::vault::CREDENTIALS
        .iter()
        .flat_map(|c| c.values.iter().copied())
    {
        if let Some(v) = env.remove(name) {
            creds.insert(name.to_owned(), Sensitive::from(v));
        }
    }
    (env, creds)
}

impl Sources {
    /// The first of the credential `names` set (non-empty) in the environment.
    pub(super) fn credential(&self, names: &[&str]) -> Option<Sensitive> {
        names
            .iter()
            .find_map(|n| self.creds.get(*n).filter(|v| !v.is_empty()).cloned())
    }

    /// The first of `names` that is set (non-empty) in the environment.
    pub(super) fn env(&self, names: &[&str]) -> Option<Value> {
        for n in names {
            if ARGOCD_ENV_ALLOWED.contains(n)
                && let Some(v) = self
                    .env
                    .get(&format!("ARGOCD_ENV_{n}"))
                    .filter(|v| !v.is_empty())
            {
                return Some(Value {
                    text: v.clone(),
                    origin: format!("ARGOCD_ENV_{n}"),
                });
            }
        }
        for n in names {
            if let Some(v) = self.env.get(*n).filter(|v| !v.is_empty()) {
                return Some(Value {
                    text: v.clone(),
                    origin: (*n).to_owned(),
                });
            }
        }
        None
    }

    /// Environment, then the file's structured value, then the file's env-style entries, then
    /// the Kubernetes Secret.
    pub(super) fn get(
        &self,
        names: &[&str],
        file: Option<(&str, Option<String>)>,
    ) -> Option<Value> {
        self.above_secret(names, file)
            .or_else(|| self.secret_text(names))
    }

    /// A (non-credential) setting from the Kubernetes Secret, as text.
    pub(super) fn secret_text(&self, names: &[&str]) -> Option<Value> {
        let secret = self.secret.as_ref()?;
        names.iter().find_map(|n| {
            let v = secret.values.get(*n).filter(|v| !v.is_empty())?;
            Some(Value {
                text: String::from_utf8_lossy(v.expose()).into_owned(),
                origin: format!("{}: {n}", secret.origin),
            })
        })
    }

    /// A credential from the Kubernetes Secret: the decoded bytes, never copied into a `String`.
    pub(super) fn secret_value(&self, names: &[&str]) -> Option<Sensitive> {
        let secret = self.secret.as_ref()?;
        names
            .iter()
            .find_map(|n| secret.values.get(*n).filter(|v| !v.is_empty()).cloned())
    }

    /// Environment, then the file's structured value, then the file's env-style entries.
    pub(super) fn above_secret(
        &self,
        names: &[&str],
        file: Option<(&str, Option<String>)>,
    ) -> Option<Value> {
        if let Some(v) = self.env(names) {
            return Some(v);
        }
        let fname = self.file_name.as_deref().unwrap_or("config file");
        if let Some((key, Some(text))) = file {
            return Some(Value {
                text,
                origin: format!("{fname}: {key}"),
            });
        }
        for n in names {
            if let Some(v) = self.file_env.get(*n).filter(|v| !v.is_empty()) {
                return Some(Value {
                    text: v.clone(),
                    origin: format!("{fname}: {n}"),
                });
            }
        }
        None
    }
}

pub(super) fn usage(msg: String) -> Error {
    Error::Usage(msg)
}

pub(super) fn bool_of(v: &Value) -> Result<bool> {
    parse_bool(&v.text).ok_or_else(|| {
        usage(format!(
            "{}: {:?} is not a boolean (use true/false, 1/0, t/f)",
            v.origin, v.text
        ))
    })
}

pub(super) fn duration_of(v: &Value) -> Result<Duration> {
    match parse_duration(&v.text) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(usage(format!(
            "{}: {:?} is not a duration (e.g. 10s, 500ms, 2m)",
            v.origin, v.text
        ))),
    }
}

pub(super) fn number_of<T: std::str::FromStr>(v: &Value, what: &str) -> Result<T> {
    v.text
        .trim()
        .parse()
        .map_err(|_| usage(format!("{}: {:?} is not {what}", v.origin, v.text)))
}

pub(super) fn file_text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().and_then(scalar_text)
}

pub(super) fn file_path(v: &Option<PathBuf>) -> Option<String> {
    v.as_ref().map(|p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_values_leave_the_text_environment_for_zeroizing_storage() {
        let env: BTreeMap<String, String> = [
            ("VAULT_ADDR", "http://v:8200"),
            ("VAULT_TOKEN", "s.token"),
            ("AVP_SECRET_ID", "sid"),
            ("SEALBRIDGE_VAULT_TOKEN_FILE", "/t"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let (env, creds) = split_credentials(env);
        assert_eq!(
            env.keys().map(String::as_str).collect::<Vec<_>>(),
            ["SEALBRIDGE_VAULT_TOKEN_FILE", "VAULT_ADDR"]
        );
        assert_eq!(creds["VAULT_TOKEN"].expose(), b"s.token");
        assert_eq!(creds["AVP_SECRET_ID"].expose(), b"sid");
    }
}
