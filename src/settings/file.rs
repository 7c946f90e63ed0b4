//! The settings file (`--config FILE`): its structured keys and its environment-style
//! entries (AVP's flat files), with credentials refused.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

use super::sources::{scalar_text, usage};
use super::vault::CREDENTIALS;
use super::{FILE_ENV_KEYS, FileConfig};

/// Checks one environment-style key of a config file.
pub(super) fn check_file_env_key(path: &Path, key: &str) -> Result<()> {
    if let Some(instead) = CREDENTIALS
        .iter()
        .find(|c| c.values.contains(&key))
        .and_then(|c| c.files.first())
    {
        return Err(usage(format!(
            "{}: {key} is a credential and cannot be in a config file; give its path with \
             {instead} (a mounted Secret), or set {key} in the environment",
            path.display()
        )));
    }
    if FILE_ENV_KEYS.contains(&key) {
        return Ok(());
    }
    let hint = crate::suggest::nearest(
        key,
        FILE_ENV_KEYS
            .iter()
            .copied()
            .chain(CREDENTIALS.iter().flat_map(|c| c.values.iter().copied())),
    )
    .map(|k| format!(" (did you mean {k}?)"))
    .unwrap_or_default();
    Err(usage(format!(
        "{}: unknown setting {key}{hint}; docs/vault.md lists the settings",
        path.display()
    )))
}

pub(super) fn read_config_file(path: &Path) -> Result<(FileConfig, BTreeMap<String, String>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let opts = serde_saphyr::options! { strict_booleans: true };
    let raw: Option<serde_json::Map<String, serde_json::Value>> =
        serde_saphyr::from_str_with_options(&text, opts)
            .map_err(|e| usage(format!("{}: not a YAML mapping: {e}", path.display())))?;
    let raw = raw.unwrap_or_default();
    let mut structured = serde_json::Map::new();
    let mut file_env = BTreeMap::new();
    for (k, v) in raw {
        let env_style = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if env_style {
            check_file_env_key(path, &k)?;
            let Some(text) = scalar_text(&v) else {
                return Err(usage(format!(
                    "{}: {k} must be a single value",
                    path.display()
                )));
            };
            file_env.insert(k, text);
        } else {
            structured.insert(k, v);
        }
    }
    if structured.contains_key("creation_rules") || structured.contains_key("destination_rules") {
        return Err(usage(format!(
            "{}: this looks like a .sops.yaml, not a sealbridge settings file: the settings \
             file is --settings (--config outside the sops verbs); sops rules are found next to \
             the files, or named with the sops verbs' --config",
            path.display()
        )));
    }
    let cfg: FileConfig = serde_json::from_value(serde_json::Value::Object(structured))
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    Ok((cfg, file_env))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_value_name_is_refused_naming_its_file_setting() {
        for (key, instead) in [
            ("VAULT_TOKEN", "SEALBRIDGE_VAULT_TOKEN_FILE"),
            ("AVP_SECRET_ID", "SEALBRIDGE_VAULT_SECRET_ID_FILE"),
            (
                "SEALBRIDGE_VAULT_SECRET_ID",
                "SEALBRIDGE_VAULT_SECRET_ID_FILE",
            ),
            ("AVP_GITHUB_TOKEN", "SEALBRIDGE_VAULT_GITHUB_TOKEN_FILE"),
            (
                "SEALBRIDGE_VAULT_GITHUB_TOKEN",
                "SEALBRIDGE_VAULT_GITHUB_TOKEN_FILE",
            ),
            ("AVP_PASSWORD", "SEALBRIDGE_VAULT_PASSWORD_FILE"),
            (
                "SEALBRIDGE_VAULT_PASSWORD",
                "SEALBRIDGE_VAULT_PASSWORD_FILE",
            ),
            ("SEALBRIDGE_VAULT_JWT", "SEALBRIDGE_VAULT_JWT_FILE"),
        ] {
            let e = check_file_env_key(Path::new("c.yaml"), key)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("{key} is a credential")) && e.contains(instead),
                "{key}: {e}"
            );
        }
        // Every file-path setting of a credential is allowed.
        for c in CREDENTIALS {
            for f in c.files {
                check_file_env_key(Path::new("c.yaml"), f).unwrap();
            }
        }
    }
}
