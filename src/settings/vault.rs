//! The Vault settings: what is read ([`VaultSettings`], [`load`]), the auth method, and the
//! client configuration built from them ([`Settings::vault_config`]); [`AuthInputs`] builds a
//! login for the settings and for a tenant of the tenancy policy (`crate::policy`) alike.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::backend::vault::{
    AuthConfig, DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT, SecretSource, TlsConfig,
    TokenCacheConfig, VaultConfig, VaultError,
};
use crate::error::Result;

use super::sources::{
    Sources, Value, bool_of, duration_of, file_path, file_text, number_of, usage,
};
use super::{Flags, K8S_TOKEN_PATH, Settings};

/// Vault settings as read; [`Settings::vault_config`] checks they are complete.
#[derive(Debug, Clone, Default)]
pub(super) struct VaultSettings {
    pub(super) address: Option<Value>,
    pub(super) namespace: Option<String>,
    pub(super) method: Method,
    pub(super) mount: Option<String>,
    pub(super) role: Option<String>,
    pub(super) role_id: Option<String>,
    pub(super) secret_id: Option<SecretSource>,
    pub(super) jwt: Option<SecretSource>,
    pub(super) username: Option<String>,
    pub(super) password: Option<SecretSource>,
    pub(super) github_token: Option<SecretSource>,
    pub(super) token: Option<SecretSource>,
    pub(super) tls: TlsConfig,
    pub(super) timeout: Duration,
    pub(super) max_retries: u32,
    pub(super) token_cache: bool,
    pub(super) cache_dir: Option<PathBuf>,
}

/// A Vault auth method, as the settings and the tenancy policy name it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Method {
    #[default]
    Token,
    AppRole,
    Kubernetes,
    Jwt,
    Userpass,
    Cert,
    Github,
    None,
}

impl Method {
    /// The method a name means (case and surrounding space ignored; AVP's `k8s` and the
    /// `oidc` alias included), or `None`.
    pub(crate) fn from_name(name: &str) -> Option<Method> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "token" => Method::Token,
            "approle" => Method::AppRole,
            "kubernetes" | "k8s" => Method::Kubernetes,
            "jwt" | "oidc" => Method::Jwt,
            "userpass" => Method::Userpass,
            "cert" => Method::Cert,
            "github" => Method::Github,
            "none" => Method::None,
            _ => return None,
        })
    }
}

/// The auth method a setting names (exit 2 naming the setting when unknown).
pub(super) fn method_of(v: &Value) -> Result<Method> {
    Method::from_name(&v.text).ok_or_else(|| {
        usage(format!(
            "{}: unknown Vault auth method {:?} (expected token, approle, kubernetes \
             (k8s), jwt (oidc), userpass, cert, github or none)",
            v.origin,
            v.text.trim().to_ascii_lowercase()
        ))
    })
}

/// A credential setting: where its value may be given (the environment or the Kubernetes
/// Secret; never the settings file: [`CREDENTIALS`]) and where the path of a file holding it
/// may be given (environment, settings file, Kubernetes Secret).
pub(super) struct Credential {
    /// The value's names, first wins.
    pub(super) values: &'static [&'static str],
    /// The file path's names, first wins; the first is the one to give instead of a value.
    pub(super) files: &'static [&'static str],
    /// The settings file's structured key for the file path.
    pub(super) file_key: &'static str,
}

const TOKEN: Credential = Credential {
    values: &["VAULT_TOKEN"],
    files: &["SEALBRIDGE_VAULT_TOKEN_FILE"],
    file_key: "vault.auth.token_file",
};
const SECRET_ID: Credential = Credential {
    values: &["SEALBRIDGE_VAULT_SECRET_ID", "AVP_SECRET_ID"],
    files: &["SEALBRIDGE_VAULT_SECRET_ID_FILE"],
    file_key: "vault.auth.secret_id_file",
};
const GITHUB_TOKEN: Credential = Credential {
    values: &["SEALBRIDGE_VAULT_GITHUB_TOKEN", "AVP_GITHUB_TOKEN"],
    files: &["SEALBRIDGE_VAULT_GITHUB_TOKEN_FILE"],
    file_key: "vault.auth.github_token_file",
};
const PASSWORD: Credential = Credential {
    values: &["SEALBRIDGE_VAULT_PASSWORD", "AVP_PASSWORD"],
    files: &["SEALBRIDGE_VAULT_PASSWORD_FILE"],
    file_key: "vault.auth.password_file",
};
const JWT: Credential = Credential {
    values: &["SEALBRIDGE_VAULT_JWT"],
    files: &["SEALBRIDGE_VAULT_JWT_FILE", "AVP_K8S_TOKEN_PATH"],
    file_key: "vault.auth.jwt_file",
};

/// Every credential setting: a settings file naming one of their values is refused
/// (docs/vault.md, "Config file").
pub(super) const CREDENTIALS: &[&Credential] =
    &[&TOKEN, &SECRET_ID, &GITHUB_TOKEN, &PASSWORD, &JWT];

/// The config file's `vault:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileVault {
    address: Option<String>,
    namespace: Option<String>,
    timeout: Option<serde_json::Value>,
    max_retries: Option<serde_json::Value>,
    token_cache: Option<serde_json::Value>,
    cache_dir: Option<PathBuf>,
    #[serde(default)]
    auth: FileAuth,
    #[serde(default)]
    tls: FileTls,
}

/// The config file's `vault.auth:` section (paths of credential files, never credentials).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAuth {
    method: Option<String>,
    mount: Option<String>,
    role: Option<String>,
    role_id: Option<String>,
    secret_id_file: Option<PathBuf>,
    jwt_file: Option<PathBuf>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    github_token_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
}

/// The config file's `vault.tls:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTls {
    ca_cert: Option<PathBuf>,
    ca_path: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    skip_verify: Option<serde_json::Value>,
}

/// The Vault settings: `--vault-addr` and `--disable-token-cache` from `flags`, the rest
/// from `src` and the config file's `vault:` section `fv`.
pub(super) fn load(src: &Sources, fv: &FileVault, flags: &Flags) -> Result<VaultSettings> {
    let fa = &fv.auth;
    let ft = &fv.tls;
    let address = match &flags.vault_addr {
        Some(a) => Some(Value {
            text: a.clone(),
            origin: "--vault-addr".to_owned(),
        }),
        None => src.get(
            // As in Vault's own client, a Vault Agent / OpenBao Proxy address wins.
            &["SEALBRIDGE_VAULT_ADDR", "VAULT_AGENT_ADDR", "VAULT_ADDR"],
            Some(("vault.address", fv.address.clone())),
        ),
    };
    let namespace = src
        .get(
            &["SEALBRIDGE_VAULT_NAMESPACE", "VAULT_NAMESPACE"],
            Some(("vault.namespace", fv.namespace.clone())),
        )
        .map(|v| v.text.trim().trim_matches('/').to_owned())
        .filter(|n| !n.is_empty());
    let method = match src.get(
        &["SEALBRIDGE_VAULT_AUTH", "AVP_AUTH_TYPE"],
        Some(("vault.auth.method", fa.method.clone())),
    ) {
        Some(v) => method_of(&v)?,
        // Behind an agent without a token of our own: let the agent add its token.
        None if address
            .as_ref()
            .is_some_and(|a| a.origin == "VAULT_AGENT_ADDR")
            && src.env(&["SEALBRIDGE_VAULT_TOKEN_FILE"]).is_none()
            && src.credential(&["VAULT_TOKEN"]).is_none()
            && src.secret_value(&["VAULT_TOKEN"]).is_none() =>
        {
            Method::None
        }
        None => Method::Token,
    };
    let mount_names: &[&str] = if method == Method::Kubernetes {
        &[
            "SEALBRIDGE_VAULT_AUTH_MOUNT",
            "AVP_K8S_MOUNT_PATH",
            "AVP_MOUNT_PATH",
        ]
    } else {
        &["SEALBRIDGE_VAULT_AUTH_MOUNT", "AVP_MOUNT_PATH"]
    };
    let mount = src
        .get(mount_names, Some(("vault.auth.mount", fa.mount.clone())))
        .map(|v| v.text.trim().to_owned());
    let role = src
        .get(
            &["SEALBRIDGE_VAULT_ROLE", "AVP_K8S_ROLE", "AVP_JWT_ROLE"],
            Some(("vault.auth.role", fa.role.clone())),
        )
        .map(|v| v.text.trim().to_owned());
    let role_id = src
        .get(
            &["SEALBRIDGE_VAULT_ROLE_ID", "AVP_ROLE_ID"],
            Some(("vault.auth.role_id", fa.role_id.clone())),
        )
        .map(|v| v.text.trim().to_owned());
    let secret = |c: &Credential, fp: &Option<PathBuf>| {
        if let Some(v) = src.credential(c.values) {
            return Some(SecretSource::Value(v));
        }
        if let Some(v) = src.above_secret(c.files, Some((c.file_key, file_path(fp)))) {
            return Some(SecretSource::File(PathBuf::from(v.text)));
        }
        // The Kubernetes Secret: a value, then a file path.
        if let Some(v) = src.secret_value(c.values) {
            return Some(SecretSource::Value(v));
        }
        src.secret_text(c.files)
            .map(|v| SecretSource::File(PathBuf::from(v.text)))
    };
    let secret_id = secret(&SECRET_ID, &fa.secret_id_file);
    let jwt = secret(&JWT, &fa.jwt_file);
    let username = src
        .get(
            &["SEALBRIDGE_VAULT_USERNAME", "AVP_USERNAME"],
            Some(("vault.auth.username", fa.username.clone())),
        )
        .map(|v| v.text);
    let password = secret(&PASSWORD, &fa.password_file);
    let github_token = secret(&GITHUB_TOKEN, &fa.github_token_file);
    let token = secret(&TOKEN, &fa.token_file).or_else(|| {
        src.env
            .get("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| SecretSource::File(Path::new(h).join(".vault-token")))
    });

    let path_of = |names: &[&str], key: &str, fp: &Option<PathBuf>| {
        src.get(names, Some((key, file_path(fp))))
            .map(|v| PathBuf::from(v.text))
    };
    let skip_verify = match src.get(
        &["VAULT_SKIP_VERIFY"],
        Some(("vault.tls.skip_verify", file_text(&ft.skip_verify))),
    ) {
        Some(v) => bool_of(&v)?,
        None => false,
    };
    let tls = TlsConfig {
        ca_cert: path_of(&["VAULT_CACERT"], "vault.tls.ca_cert", &ft.ca_cert),
        ca_path: path_of(&["VAULT_CAPATH"], "vault.tls.ca_path", &ft.ca_path),
        client_cert: path_of(
            &["VAULT_CLIENT_CERT"],
            "vault.tls.client_cert",
            &ft.client_cert,
        ),
        client_key: path_of(
            &["VAULT_CLIENT_KEY"],
            "vault.tls.client_key",
            &ft.client_key,
        ),
        skip_verify,
    };
    let timeout = match src.get(
        &["SEALBRIDGE_VAULT_TIMEOUT", "VAULT_CLIENT_TIMEOUT"],
        Some(("vault.timeout", file_text(&fv.timeout))),
    ) {
        Some(v) => duration_of(&v)?,
        None => DEFAULT_REQUEST_TIMEOUT,
    };
    let max_retries = match src.get(
        &["SEALBRIDGE_VAULT_MAX_RETRIES", "VAULT_MAX_RETRIES"],
        Some(("vault.max_retries", file_text(&fv.max_retries))),
    ) {
        Some(v) => {
            let n = number_of::<u32>(&v, "a number of retries")?;
            if n > 20 {
                return Err(usage(format!("{}: at most 20 retries", v.origin)));
            }
            n
        }
        None => DEFAULT_MAX_RETRIES,
    };
    let token_cache = !flags.disable_token_cache
        && match src.get(
            &["SEALBRIDGE_VAULT_TOKEN_CACHE"],
            Some(("vault.token_cache", file_text(&fv.token_cache))),
        ) {
            Some(v) => bool_of(&v)?,
            None => true,
        };
    let cache_dir =
        path_of(&["SEALBRIDGE_CACHE_DIR"], "vault.cache_dir", &fv.cache_dir).or_else(|| {
            let xdg = src
                .env
                .get("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute());
            let home = src.env.get("HOME").filter(|h| !h.is_empty());
            xdg.or_else(|| home.map(|h| Path::new(h).join(".cache")))
                .map(|d| d.join("sealbridge"))
        });

    Ok(VaultSettings {
        address,
        namespace,
        method,
        mount,
        role,
        role_id,
        secret_id,
        jwt,
        username,
        password,
        github_token,
        token,
        tls,
        timeout,
        max_retries,
        token_cache,
        cache_dir,
    })
}

impl Settings {
    /// The Vault client configuration; fails (exit 2) when the address or the chosen auth
    /// method's settings are missing. Call it only when a Vault reference is to be resolved.
    pub fn vault_config(&self) -> Result<VaultConfig, VaultError> {
        let v = &self.vault;
        if v.address.is_none() {
            return Err(VaultError::config(
                "no Vault address: set VAULT_ADDR (or vault.address in the config file)",
            ));
        }
        let inputs = AuthInputs {
            method: v.method,
            mount: v.mount.as_deref(),
            role: v.role.as_deref(),
            role_id: v.role_id.as_deref(),
            secret_id: v.secret_id.clone(),
            jwt: v.jwt.clone(),
            username: v.username.as_deref(),
            password: v.password.clone(),
            github_token: v.github_token.clone(),
            token: v.token.clone(),
            client_cert: v.tls.client_cert.is_some() && v.tls.client_key.is_some(),
        };
        let auth = inputs
            .auth_config(&SETTINGS_AUTH_NAMES)
            .map_err(|missing| {
                VaultError::config(format!("{} auth needs {missing}", auth_name(v.method)))
            })?;
        self.vault_config_with(auth)
    }

    /// The Vault client configuration with `auth` instead of the sidecar's own auth settings
    /// (a tenant's login: `crate::policy`); address, namespace, TLS and limits as configured.
    pub fn vault_config_with(&self, auth: AuthConfig) -> Result<VaultConfig, VaultError> {
        let v = &self.vault;
        let Some(address) = &v.address else {
            return Err(VaultError::config(
                "no Vault address: set VAULT_ADDR (or vault.address in the config file)",
            ));
        };
        let mut cfg = VaultConfig::new(address.text.trim(), auth);
        cfg.namespace = v.namespace.clone();
        cfg.tls = v.tls.clone();
        cfg.request_timeout = v.timeout;
        cfg.run_deadline = self.deadline;
        cfg.max_retries = v.max_retries;
        cfg.concurrency = self.concurrency;
        cfg.default_kv_version = self.kv_version;
        cfg.path_prefix = self.path_prefix.clone();
        cfg.token_cache = TokenCacheConfig {
            enabled: v.token_cache,
            dir: v.cache_dir.clone(),
        };
        // Check the address now, naming where it came from.
        // The client's messages say "VAULT_ADDR …": name the real source instead (never
        // "VAULT_ADDR: VAULT_ADDR …").
        crate::backend::vault::VaultClient::check_address(&cfg.address).map_err(|e| {
            let detail = e.detail();
            VaultError::config(match detail.strip_prefix("VAULT_ADDR ") {
                Some(rest) => format!("{} {rest}", address.origin),
                None => format!("{}: {detail}", address.origin),
            })
        })?;
        Ok(cfg)
    }
}

/// The inputs of one Vault login, wherever they come from: the sidecar's settings
/// ([`Settings::vault_config`]) or a tenant of the tenancy policy (`crate::policy`). Text is
/// used as given (callers trim what they trim); an empty text counts as missing.
pub(crate) struct AuthInputs<'a> {
    pub method: Method,
    /// The auth mount; the method's own name when missing.
    pub mount: Option<&'a str>,
    /// The role (Kubernetes, JWT) or certificate role name (cert).
    pub role: Option<&'a str>,
    pub role_id: Option<&'a str>,
    pub secret_id: Option<SecretSource>,
    /// The JWT; for Kubernetes auth the service account token file when missing.
    pub jwt: Option<SecretSource>,
    pub username: Option<&'a str>,
    pub password: Option<SecretSource>,
    pub github_token: Option<SecretSource>,
    pub token: Option<SecretSource>,
    /// Whether a TLS client certificate and key are configured (cert auth logs in with them).
    pub client_cert: bool,
}

/// What a caller calls each input in its message "`<method>` auth needs `<name>`".
pub(crate) struct AuthInputNames {
    pub token: &'static str,
    pub role_id: &'static str,
    pub secret_id: &'static str,
    pub role: &'static str,
    pub jwt: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub github_token: &'static str,
    pub client_cert: &'static str,
}

/// The inputs as the settings (environment, config file) name them.
const SETTINGS_AUTH_NAMES: AuthInputNames = AuthInputNames {
    token: "VAULT_TOKEN (or the file ~/.vault-token)",
    role_id: "a role id (SEALBRIDGE_VAULT_ROLE_ID or AVP_ROLE_ID)",
    secret_id: "a secret id (SEALBRIDGE_VAULT_SECRET_ID_FILE, SEALBRIDGE_VAULT_SECRET_ID or AVP_SECRET_ID)",
    role: "a role (SEALBRIDGE_VAULT_ROLE or AVP_K8S_ROLE)",
    jwt: "a JWT (SEALBRIDGE_VAULT_JWT_FILE or SEALBRIDGE_VAULT_JWT)",
    username: "a user name (SEALBRIDGE_VAULT_USERNAME or AVP_USERNAME)",
    password: "a password (SEALBRIDGE_VAULT_PASSWORD_FILE, SEALBRIDGE_VAULT_PASSWORD or AVP_PASSWORD)",
    github_token: "a GitHub token (SEALBRIDGE_VAULT_GITHUB_TOKEN_FILE, SEALBRIDGE_VAULT_GITHUB_TOKEN or AVP_GITHUB_TOKEN)",
    client_cert: "a client certificate: set VAULT_CLIENT_CERT and VAULT_CLIENT_KEY",
};

impl AuthInputs<'_> {
    /// The login these inputs make; `Err` is the name (from `names`) of the missing input.
    pub(crate) fn auth_config(
        self,
        names: &AuthInputNames,
    ) -> std::result::Result<AuthConfig, &'static str> {
        fn text(v: Option<&str>) -> Option<String> {
            v.filter(|s| !s.is_empty()).map(str::to_owned)
        }
        let mount = |default: &str| text(self.mount).unwrap_or_else(|| default.to_owned());
        Ok(match self.method {
            Method::Token => AuthConfig::Token(self.token.ok_or(names.token)?),
            Method::AppRole => AuthConfig::AppRole {
                mount: mount("approle"),
                role_id: text(self.role_id).ok_or(names.role_id)?,
                secret_id: self.secret_id.ok_or(names.secret_id)?,
            },
            Method::Kubernetes => AuthConfig::Kubernetes {
                mount: mount("kubernetes"),
                role: text(self.role).ok_or(names.role)?,
                jwt: self
                    .jwt
                    .unwrap_or_else(|| SecretSource::File(PathBuf::from(K8S_TOKEN_PATH))),
            },
            Method::Jwt => AuthConfig::Jwt {
                mount: mount("jwt"),
                role: text(self.role),
                jwt: self.jwt.ok_or(names.jwt)?,
            },
            Method::Userpass => AuthConfig::Userpass {
                mount: mount("userpass"),
                username: text(self.username).ok_or(names.username)?,
                password: self.password.ok_or(names.password)?,
            },
            Method::Cert => {
                if !self.client_cert {
                    return Err(names.client_cert);
                }
                AuthConfig::Cert {
                    mount: mount("cert"),
                    name: text(self.role),
                }
            }
            Method::None => AuthConfig::None,
            Method::Github => AuthConfig::Github {
                mount: mount("github"),
                token: self.github_token.ok_or(names.github_token)?,
            },
        })
    }
}

fn auth_name(m: Method) -> &'static str {
    match m {
        Method::Token => "token",
        Method::AppRole => "approle",
        Method::Kubernetes => "kubernetes",
        Method::Jwt => "jwt",
        Method::Userpass => "userpass",
        Method::Cert => "cert",
        Method::Github => "github",
        Method::None => "none",
    }
}
