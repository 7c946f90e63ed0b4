//! The AWS credential chain sealbridge supports, in the SDKs' order: environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), a web identity token
//! (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`: EKS IRSA), then the shared files
//! (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, `AWS_CONFIG_FILE` or `~/.aws/config`)
//! for the profile (the key's `aws_profile`, else `AWS_PROFILE`, else `default`). Instance
//! metadata (IMDS), ECS container credentials, SSO and `credential_process` are not read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::sigv4::Credentials;

/// Where credentials come from, before any role is assumed.
#[derive(Debug)]
pub enum Source {
    /// Static keys (environment or a shared file).
    Static(Credentials),
    /// A web identity token to exchange with STS.
    WebIdentity {
        /// The role to assume.
        role_arn: String,
        /// The token file.
        token_file: PathBuf,
        /// The session name.
        session_name: String,
    },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The credential source for `profile` (empty: `AWS_PROFILE` or `default`).
pub fn source(profile: &str) -> Result<Source, String> {
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Source::Static(Credentials {
            access_key_id: id,
            secret_access_key: Zeroizing::new(secret),
            session_token: env("AWS_SESSION_TOKEN").map(Zeroizing::new),
        }));
    }
    if let (Some(role_arn), Some(token_file)) =
        (env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE"))
    {
        return Ok(Source::WebIdentity {
            role_arn,
            token_file: PathBuf::from(token_file),
            session_name: env("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| "sealbridge".to_owned()),
        });
    }
    let profile = if profile.is_empty() {
        env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned())
    } else {
        profile.to_owned()
    };
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let creds_file = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    let config_file = env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/config"));
    for (file, section) in [
        (&creds_file, profile.clone()),
        (
            &config_file,
            if profile == "default" {
                "default".to_owned()
            } else {
                format!("profile {profile}")
            },
        ),
    ] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let text = Zeroizing::new(text);
        let sections = parse_ini(&text);
        if let Some(s) = sections.get(&section)
            && let (Some(id), Some(secret)) =
                (s.get("aws_access_key_id"), s.get("aws_secret_access_key"))
        {
            return Ok(Source::Static(Credentials {
                access_key_id: id.to_string(),
                secret_access_key: Zeroizing::new(secret.to_string()),
                session_token: s
                    .get("aws_session_token")
                    .map(|t| Zeroizing::new(t.to_string())),
            }));
        }
    }
    Err(format!(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a web identity \
         (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, as EKS IRSA sets them), or keys for \
         profile {profile:?} in {} ; instance metadata and container credentials are not read",
        creds_file.display()
    ))
}

/// `[section]` → key → value (values borrowed from `text`).
fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, &str>> {
    let mut out: BTreeMap<String, BTreeMap<String, &str>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            current = Some(name.clone());
            out.entry(name).or_default();
            continue;
        }
        if let (Some(sec), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(sec.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_and_profiles() {
        let s = parse_ini(
            "[default]\naws_access_key_id = A\naws_secret_access_key=S\n# c\n[profile  team]\nAWS_ACCESS_KEY_ID = B\n",
        );
        assert_eq!(s["default"]["aws_access_key_id"], "A");
        assert_eq!(s["default"]["aws_secret_access_key"], "S");
        assert_eq!(s["profile team"]["aws_access_key_id"], "B");
    }
}
