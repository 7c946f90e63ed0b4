//! The client's configuration. Built by [`crate::settings`] from flags, environment and config
//! file; tests and other modules may also build one directly.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Sensitive;

/// Default per-request timeout (vaultrs and reqwest have none).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default whole-run deadline: under Argo CD's 60 s repo-server timeout.
pub const DEFAULT_RUN_DEADLINE: Duration = Duration::from_secs(45);
/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default bound on concurrent requests to the server.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Where a credential comes from. Files are read when the client logs in (so a rotated
/// Kubernetes service-account token is picked up), never earlier.
#[derive(Clone, Debug)]
pub enum SecretSource {
    /// The credential itself (from an environment variable or flag).
    Value(Sensitive),
    /// A file holding the credential (surrounding whitespace is trimmed).
    File(PathBuf),
}

/// How the client gets its token.
#[derive(Clone, Debug)]
pub enum AuthConfig {
    /// A token (`VAULT_TOKEN`, or the file `~/.vault-token`). No login, never cached.
    Token(SecretSource),
    /// No token at all: a Vault Agent / OpenBao Proxy in front of the server adds its own
    /// (`use_auto_auth_token`). Selected with `SEALBRIDGE_VAULT_AUTH=none`, or implied by
    /// `VAULT_AGENT_ADDR` without `VAULT_TOKEN`.
    None,
    /// AppRole: `POST auth/<mount>/login {role_id, secret_id}`.
    AppRole {
        /// Mount path of the method (default `approle`).
        mount: String,
        /// The role id (not secret, but not logged either).
        role_id: String,
        /// The secret id.
        secret_id: SecretSource,
    },
    /// Kubernetes: `POST auth/<mount>/login {role, jwt}` with the service-account token.
    Kubernetes {
        /// Mount path (default `kubernetes`).
        mount: String,
        /// The Vault role.
        role: String,
        /// The service-account token file.
        jwt: SecretSource,
    },
    /// JWT/OIDC workload identity: `POST auth/<mount>/login {role, jwt}`.
    Jwt {
        /// Mount path (default `jwt`).
        mount: String,
        /// The Vault role (the method's default role when `None`).
        role: Option<String>,
        /// The JWT.
        jwt: SecretSource,
    },
    /// Username and password: `POST auth/<mount>/login/<username> {password}`.
    Userpass {
        /// Mount path (default `userpass`).
        mount: String,
        /// The user name.
        username: String,
        /// The password.
        password: SecretSource,
    },
    /// TLS client certificate: `POST auth/<mount>/login {name}`; the certificate is the
    /// client identity of [`TlsConfig`].
    Cert {
        /// Mount path (default `cert`).
        mount: String,
        /// The certificate role to log in against (any matching role when `None`).
        name: Option<String>,
    },
    /// GitHub personal access token: `POST auth/<mount>/login {token}`.
    Github {
        /// Mount path (default `github`).
        mount: String,
        /// The GitHub token.
        token: SecretSource,
    },
}

impl AuthConfig {
    /// The method's name as in `SEALBRIDGE_VAULT_AUTH` (`token`, `approle`, …).
    pub fn method(&self) -> &'static str {
        match self {
            AuthConfig::Token(_) => "token",
            AuthConfig::None => "none",
            AuthConfig::AppRole { .. } => "approle",
            AuthConfig::Kubernetes { .. } => "kubernetes",
            AuthConfig::Jwt { .. } => "jwt",
            AuthConfig::Userpass { .. } => "userpass",
            AuthConfig::Cert { .. } => "cert",
            AuthConfig::Github { .. } => "github",
        }
    }

    /// The auth mount path (empty for token auth).
    pub fn mount(&self) -> &str {
        match self {
            AuthConfig::Token(_) | AuthConfig::None => "",
            AuthConfig::AppRole { mount, .. }
            | AuthConfig::Kubernetes { mount, .. }
            | AuthConfig::Jwt { mount, .. }
            | AuthConfig::Userpass { mount, .. }
            | AuthConfig::Cert { mount, .. }
            | AuthConfig::Github { mount, .. } => mount,
        }
    }

    /// Who logs in: role id, role, user or certificate role (for the token cache key; not a
    /// secret). Empty for methods without one.
    pub fn principal(&self) -> &str {
        match self {
            AuthConfig::Token(_) | AuthConfig::None | AuthConfig::Github { .. } => "",
            AuthConfig::AppRole { role_id, .. } => role_id,
            AuthConfig::Kubernetes { role, .. } => role,
            AuthConfig::Jwt { role, .. } => role.as_deref().unwrap_or(""),
            AuthConfig::Userpass { username, .. } => username,
            AuthConfig::Cert { name, .. } => name.as_deref().unwrap_or(""),
        }
    }
}

/// TLS settings (`VAULT_CACERT`, `VAULT_CAPATH`, `VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY`,
/// `VAULT_SKIP_VERIFY`).
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// A PEM file of CA certificates; replaces the system roots.
    pub ca_cert: Option<PathBuf>,
    /// A directory of PEM CA certificates; replaces the system roots.
    pub ca_path: Option<PathBuf>,
    /// The client certificate (PEM) for mutual TLS and `cert` auth.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub client_key: Option<PathBuf>,
    /// Do not verify the server's certificate (never in production).
    pub skip_verify: bool,
}

/// The token cache (see `docs/vault.md`).
#[derive(Clone, Debug)]
pub struct TokenCacheConfig {
    /// Cache login tokens across runs.
    pub enabled: bool,
    /// The cache directory (default `$XDG_CACHE_HOME/sealbridge`, else `~/.cache/sealbridge`).
    pub dir: Option<PathBuf>,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        TokenCacheConfig {
            enabled: true,
            dir: None,
        }
    }
}

/// Everything the Vault client needs.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// `VAULT_ADDR`, e.g. `https://vault.example:8200`. Validated by
    /// [`super::VaultClient::connect`].
    pub address: String,
    /// `VAULT_NAMESPACE` (sent as `X-Vault-Namespace`).
    pub namespace: Option<String>,
    /// How to get a token.
    pub auth: AuthConfig,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Timeout of one HTTP request attempt.
    pub request_timeout: Duration,
    /// The whole run's deadline, counted from [`super::VaultClient::connect`].
    pub run_deadline: Duration,
    /// Retries after the first attempt on connect errors, timeouts, 412, 429 and 5xx.
    pub max_retries: u32,
    /// Bound on concurrent requests.
    pub concurrency: usize,
    /// The KV version assumed when the mount cannot be looked up (`AVP_KV_VERSION`); `None`
    /// means "2, and paths must then include `/data/`" as in AVP.
    pub default_kv_version: Option<crate::backend::KvVersion>,
    /// The token cache.
    pub token_cache: TokenCacheConfig,
    /// Prepended to every path read with [`super::VaultClient::read`] and friends
    /// (`SEALBRIDGE_PATH_PREFIX`), e.g. `secret/team-a` makes `app` read `secret/team-a/app`.
    pub path_prefix: Option<String>,
}

impl VaultConfig {
    /// A configuration with the defaults and the given address and auth.
    pub fn new(address: impl Into<String>, auth: AuthConfig) -> Self {
        VaultConfig {
            address: address.into(),
            namespace: None,
            auth,
            tls: TlsConfig::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            run_deadline: DEFAULT_RUN_DEADLINE,
            max_retries: DEFAULT_MAX_RETRIES,
            concurrency: DEFAULT_CONCURRENCY,
            default_kv_version: None,
            token_cache: TokenCacheConfig::default(),
            path_prefix: None,
        }
    }

    /// Token auth with the given token.
    pub fn with_token(address: impl Into<String>, token: &str) -> Self {
        Self::new(
            address,
            AuthConfig::Token(SecretSource::Value(Sensitive::from_str_copy(token))),
        )
    }
}
