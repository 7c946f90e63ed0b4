//! The one place configuration is built: command-line flags > environment > config file
//! (`--config FILE`, YAML) > Kubernetes Secret (`-s/--secret-name`, read by `crate::cluster`
//! with the `kube` feature; see [`SecretSettings`]) > defaults.
//!
//! Environment names: our own `SEALBRIDGE_*`, the Vault client's `VAULT_*`, and
//! argocd-vault-plugin's `AVP_*` (for drop-in migration). Argo CD passes an Application's
//! `spec.source.plugin.env` as `ARGOCD_ENV_<NAME>`; only the harmless options in
//! [`ARGOCD_ENV_ALLOWED`] may be set that way (they then win over the sidecar's own
//! environment). An `ARGOCD_ENV_` variable naming any other sealbridge, Vault, AVP or sops
//! setting is an error naming the variable: whoever can edit an Application must not be able to
//! point the sidecar's credentials at their own server or another team's role.
//!
//! The config file holds settings and *paths* of credential files, never credentials: keys like
//! `secret_id` are rejected. AVP's flat config files (`AVP_AUTH_TYPE: approle`, …) are accepted
//! too: upper-case top-level keys are read as environment-style entries at config-file
//! precedence.
//!
//! `docs/vault.md` documents every setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::backend::vault::{
    AuthConfig, DEFAULT_CONCURRENCY, DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RUN_DEADLINE, SecretSource, TlsConfig, TokenCacheConfig, VaultConfig, VaultError,
};
use crate::error::{Error, Result};
use crate::secret::Sensitive;

/// `ARGOCD_ENV_<NAME>` may set only these `<NAME>`s.
pub const ARGOCD_ENV_ALLOWED: &[&str] = &[
    "SEALBRIDGE_KV_VERSION",
    "AVP_KV_VERSION",
    "SEALBRIDGE_PATH_PREFIX",
    "SEALBRIDGE_BACKEND",
    "AVP_TYPE",
];

/// `ARGOCD_ENV_<NAME>` with one of these prefixes and not allow-listed is refused.
const GUARDED_PREFIXES: &[&str] = &["SEALBRIDGE_", "VAULT_", "AVP_", "SOPS_", "BAO_"];

/// The default Kubernetes service-account token file.
pub const K8S_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Values given on the command line (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--verbose`.
    pub verbose: bool,
    /// `--disable-token-cache`.
    pub disable_token_cache: bool,
    /// `--vault-addr`.
    pub vault_addr: Option<String>,
    /// `--deadline` (whole run).
    pub deadline: Option<Duration>,
    /// `--concurrency`.
    pub concurrency: Option<usize>,
    /// `-s/--secret-name`: the settings read from a Kubernetes Secret (lowest precedence
    /// above the defaults).
    pub secret: Option<SecretSettings>,
    /// `--policy FILE`: the tenancy policy (`crate::policy`).
    pub policy: Option<PathBuf>,
}

/// Settings read from a Kubernetes Secret (`-s/--secret-name`, argocd-vault-plugin's third
/// configuration source; see `crate::cluster` with the `kube` feature). Keys are setting names
/// as in the environment (`VAULT_ADDR`, `AVP_AUTH_TYPE`, `VAULT_TOKEN`, `AVP_SECRET_ID`, …);
/// values are the decoded bytes, zeroized on drop and never formatted.
///
/// Precedence: below the environment and below the config file, above the defaults. Unlike
/// argocd-vault-plugin, a config file does not discard the Secret: both are merged key by key
/// (the file wins), the same layering as environment over file.
#[derive(Debug, Clone, Default)]
pub struct SecretSettings {
    /// `Secret <namespace>/<name>`, used in messages.
    pub origin: String,
    /// The Secret's decoded `data`.
    pub values: BTreeMap<String, Sensitive>,
}

/// The backend used by references without a scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultBackend {
    /// Vault/OpenBao (the default, as in AVP).
    Vault,
    /// sops files.
    Sops,
}

/// The run's configuration (immutable once built).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Backend for references without a scheme (`SEALBRIDGE_BACKEND` / `AVP_TYPE`).
    pub backend: DefaultBackend,
    /// KV version assumed where the mount cannot be looked up (`AVP_KV_VERSION`).
    pub kv_version: Option<crate::backend::KvVersion>,
    /// Prepended to every Vault path (`SEALBRIDGE_PATH_PREFIX`); applied by the Vault client.
    pub path_prefix: Option<String>,
    /// `AVP_PATH_VALIDATION`: a regex every Vault path must match (checked to compile).
    pub path_validation: Option<String>,
    /// Bound on concurrent backend requests (`SEALBRIDGE_CONCURRENCY`, default 16).
    pub concurrency: usize,
    /// Whole-run deadline (`SEALBRIDGE_DEADLINE`, default 45 s).
    pub deadline: Duration,
    /// Bound on the bytes of one run's output (`SEALBRIDGE_MAX_OUTPUT`, default 64 MiB); one
    /// modifier result may hold at most a sixteenth of it. Operator only (never `ARGOCD_ENV_`).
    pub max_output: usize,
    /// `--verbose` / `SEALBRIDGE_VERBOSE`: log each request's path, status and timing.
    pub verbose: bool,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The operator's tenancy policy (`--policy` / `SEALBRIDGE_POLICY`; never from
    /// `ARGOCD_ENV_*` or the config file's env-style keys): see `crate::policy`.
    pub policy: Option<PathBuf>,
    vault: VaultSettings,
}

/// Vault settings as read; [`Settings::vault_config`] checks they are complete.
#[derive(Debug, Clone, Default)]
struct VaultSettings {
    address: Option<Value>,
    namespace: Option<String>,
    method: Method,
    mount: Option<String>,
    role: Option<String>,
    role_id: Option<String>,
    secret_id: Option<SecretSource>,
    jwt: Option<SecretSource>,
    username: Option<String>,
    password: Option<SecretSource>,
    github_token: Option<SecretSource>,
    token: Option<SecretSource>,
    tls: TlsConfig,
    timeout: Duration,
    max_retries: u32,
    token_cache: bool,
    cache_dir: Option<PathBuf>,
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

/// A value and where it came from (for error messages).
#[derive(Debug, Clone)]
struct Value {
    text: String,
    origin: String,
}

/// The structured config file (`--config FILE`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    backend: Option<String>,
    kv_version: Option<serde_json::Value>,
    path_prefix: Option<String>,
    path_validation: Option<String>,
    concurrency: Option<serde_json::Value>,
    deadline: Option<serde_json::Value>,
    max_output: Option<serde_json::Value>,
    verbose: Option<serde_json::Value>,
    #[serde(default)]
    vault: FileVault,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVault {
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    ca_cert: Option<PathBuf>,
    ca_path: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    skip_verify: Option<serde_json::Value>,
}

/// Where settings are looked up: environment (with allow-listed `ARGOCD_ENV_*` first), the
/// structured config file, then the config file's environment-style entries.
struct Sources {
    env: BTreeMap<String, String>,
    file_env: BTreeMap<String, String>,
    file_name: Option<String>,
    secret: Option<SecretSettings>,
}

fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Sources {
    /// The first of `names` that is set (non-empty) in the environment.
    fn env(&self, names: &[&str]) -> Option<Value> {
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
    fn get(&self, names: &[&str], file: Option<(&str, Option<String>)>) -> Option<Value> {
        self.above_secret(names, file)
            .or_else(|| self.secret_text(names))
    }

    /// A (non-credential) setting from the Kubernetes Secret, as text.
    fn secret_text(&self, names: &[&str]) -> Option<Value> {
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
    fn secret_value(&self, names: &[&str]) -> Option<Sensitive> {
        let secret = self.secret.as_ref()?;
        names
            .iter()
            .find_map(|n| secret.values.get(*n).filter(|v| !v.is_empty()).cloned())
    }

    /// Environment, then the file's structured value, then the file's env-style entries.
    fn above_secret(&self, names: &[&str], file: Option<(&str, Option<String>)>) -> Option<Value> {
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

fn usage(msg: String) -> Error {
    Error::Usage(msg)
}

/// Go's `strconv.ParseBool` spellings, and nothing else.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `10`, `10s`, `500ms`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, "s"),
    };
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

fn bool_of(v: &Value) -> Result<bool> {
    parse_bool(&v.text).ok_or_else(|| {
        usage(format!(
            "{}: {:?} is not a boolean (use true/false, 1/0, t/f)",
            v.origin, v.text
        ))
    })
}

fn duration_of(v: &Value) -> Result<Duration> {
    match parse_duration(&v.text) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(usage(format!(
            "{}: {:?} is not a duration (e.g. 10s, 500ms, 2m)",
            v.origin, v.text
        ))),
    }
}

/// The default of [`Settings::max_output`]: 64 MiB.
pub const DEFAULT_MAX_OUTPUT: usize = 64 << 20;

/// A byte size: digits with an optional `K`/`M`/`G` suffix (powers of 1024; `Ki`, `KiB`, `KB`
/// are the same).
pub fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim();
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let n: usize = v[..digits].parse().ok()?;
    let shift = match v[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "ki" | "kib" | "kb" => 10,
        "m" | "mi" | "mib" | "mb" => 20,
        "g" | "gi" | "gib" | "gb" => 30,
        _ => return None,
    };
    n.checked_mul(1usize << shift)
}

fn number_of<T: std::str::FromStr>(v: &Value, what: &str) -> Result<T> {
    v.text
        .trim()
        .parse()
        .map_err(|_| usage(format!("{}: {:?} is not {what}", v.origin, v.text)))
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

fn method_of(v: &Value) -> Result<Method> {
    Method::from_name(&v.text).ok_or_else(|| {
        usage(format!(
            "{}: unknown Vault auth method {:?} (expected token, approle, kubernetes \
             (k8s), jwt (oidc), userpass, cert, github or none)",
            v.origin,
            v.text.trim().to_ascii_lowercase()
        ))
    })
}

/// Rejects `ARGOCD_ENV_*` variables that name guarded settings.
fn check_argocd_env(env: &BTreeMap<String, String>) -> Result<()> {
    let mut refused: Vec<&str> = Vec::new();
    for k in env.keys() {
        if let Some(name) = k.strip_prefix("ARGOCD_ENV_")
            && GUARDED_PREFIXES.iter().any(|p| name.starts_with(p))
            && !ARGOCD_ENV_ALLOWED.contains(&name)
        {
            refused.push(k);
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(usage(format!(
        "{} {} set through the Argo CD Application (plugin env); an Application may only set {} \
         — the Vault address, namespace, auth method, role, credentials and cache location \
         belong to the sidecar's own configuration",
        refused.join(", "),
        if refused.len() == 1 { "is" } else { "are" },
        ARGOCD_ENV_ALLOWED
            .iter()
            .map(|n| format!("ARGOCD_ENV_{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Credentials: never in a config file (docs/vault.md, "Config file").
const FILE_CREDENTIALS: &[(&str, &str)] = &[
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
];

/// The environment-style keys a config file may hold (everything the settings read, minus
/// credentials).
const FILE_ENV_KEYS: &[&str] = &[
    "AVP_AUTH_TYPE",
    "AVP_JWT_ROLE",
    "AVP_K8S_MOUNT_PATH",
    "AVP_K8S_ROLE",
    "AVP_K8S_TOKEN_PATH",
    "AVP_KV_VERSION",
    "AVP_MOUNT_PATH",
    "AVP_PATH_VALIDATION",
    "AVP_ROLE_ID",
    "AVP_TYPE",
    "AVP_USERNAME",
    "SEALBRIDGE_BACKEND",
    "SEALBRIDGE_CACHE_DIR",
    "SEALBRIDGE_CONCURRENCY",
    "SEALBRIDGE_DEADLINE",
    "SEALBRIDGE_KV_VERSION",
    "SEALBRIDGE_MAX_OUTPUT",
    "SEALBRIDGE_PATH_PREFIX",
    "SEALBRIDGE_PATH_VALIDATION",
    "SEALBRIDGE_POLICY",
    "SEALBRIDGE_VAULT_ADDR",
    "SEALBRIDGE_VAULT_AUTH",
    "SEALBRIDGE_VAULT_AUTH_MOUNT",
    "SEALBRIDGE_VAULT_GITHUB_TOKEN_FILE",
    "SEALBRIDGE_VAULT_JWT_FILE",
    "SEALBRIDGE_VAULT_MAX_RETRIES",
    "SEALBRIDGE_VAULT_NAMESPACE",
    "SEALBRIDGE_VAULT_PASSWORD_FILE",
    "SEALBRIDGE_VAULT_ROLE",
    "SEALBRIDGE_VAULT_ROLE_ID",
    "SEALBRIDGE_VAULT_SECRET_ID_FILE",
    "SEALBRIDGE_VAULT_TIMEOUT",
    "SEALBRIDGE_VAULT_TOKEN_CACHE",
    "SEALBRIDGE_VAULT_TOKEN_FILE",
    "SEALBRIDGE_VAULT_USERNAME",
    "SEALBRIDGE_VERBOSE",
    "VAULT_ADDR",
    "VAULT_AGENT_ADDR",
    "VAULT_CACERT",
    "VAULT_CAPATH",
    "VAULT_CLIENT_CERT",
    "VAULT_CLIENT_KEY",
    "VAULT_CLIENT_TIMEOUT",
    "VAULT_MAX_RETRIES",
    "VAULT_NAMESPACE",
    "VAULT_SKIP_VERIFY",
];

/// Checks one environment-style key of a config file.
fn check_file_env_key(path: &Path, key: &str) -> Result<()> {
    if let Some((_, instead)) = FILE_CREDENTIALS.iter().find(|(k, _)| *k == key) {
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
            .chain(FILE_CREDENTIALS.iter().map(|(k, _)| *k)),
    )
    .map(|k| format!(" (did you mean {k}?)"))
    .unwrap_or_default();
    Err(usage(format!(
        "{}: unknown setting {key}{hint}; docs/vault.md lists the settings",
        path.display()
    )))
}

fn read_config_file(path: &Path) -> Result<(FileConfig, BTreeMap<String, String>)> {
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

fn file_text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().and_then(scalar_text)
}

fn file_path(v: &Option<PathBuf>) -> Option<String> {
    v.as_ref().map(|p| p.display().to_string())
}

impl Settings {
    /// Builds the settings from the process environment.
    pub fn load(flags: &Flags) -> Result<Settings> {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::load_from(flags, env)
    }

    /// Builds the settings from `env` (for tests and embedding).
    pub fn load_from(flags: &Flags, env: BTreeMap<String, String>) -> Result<Settings> {
        check_argocd_env(&env)?;
        let config_path = flags.config.clone().or_else(|| {
            env.get("SEALBRIDGE_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        // The tenancy policy: the flag or the sidecar's own environment only (an
        // `ARGOCD_ENV_SEALBRIDGE_POLICY` was refused above).
        let policy = flags.policy.clone().or_else(|| {
            env.get("SEALBRIDGE_POLICY")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let (file, file_env) = match &config_path {
            Some(p) => read_config_file(p)?,
            None => (FileConfig::default(), BTreeMap::new()),
        };
        let src = Sources {
            env,
            file_env,
            file_name: config_path.as_ref().map(|p| p.display().to_string()),
            secret: flags.secret.clone(),
        };

        let backend = match src.get(
            &["SEALBRIDGE_BACKEND", "AVP_TYPE"],
            Some(("backend", file.backend.clone())),
        ) {
            None => DefaultBackend::Vault,
            Some(v) => match v.text.trim().to_ascii_lowercase().as_str() {
                "vault" | "openbao" => DefaultBackend::Vault,
                "sops" => DefaultBackend::Sops,
                other => {
                    return Err(usage(format!(
                        "{}: unsupported backend {other:?} (expected vault or sops)",
                        v.origin
                    )));
                }
            },
        };
        let kv_version = match src.get(
            &["SEALBRIDGE_KV_VERSION", "AVP_KV_VERSION"],
            Some(("kv_version", file_text(&file.kv_version))),
        ) {
            None => None,
            Some(v) => match v.text.trim() {
                "1" => Some(crate::backend::KvVersion::V1),
                "2" => Some(crate::backend::KvVersion::V2),
                _ => {
                    return Err(usage(format!(
                        "{}: unsupported KV version {:?} (expected 1 or 2)",
                        v.origin, v.text
                    )));
                }
            },
        };
        let path_prefix = src
            .get(
                &["SEALBRIDGE_PATH_PREFIX"],
                Some(("path_prefix", file.path_prefix.clone())),
            )
            .map(|v| v.text.trim().trim_matches('/').to_owned())
            .filter(|p| !p.is_empty());
        let path_validation = match src.get(
            &["SEALBRIDGE_PATH_VALIDATION", "AVP_PATH_VALIDATION"],
            Some(("path_validation", file.path_validation.clone())),
        ) {
            None => None,
            Some(v) => {
                regex::Regex::new(&v.text).map_err(|e| {
                    usage(format!(
                        "{}: {:?} is not a valid regular expression: {e}",
                        v.origin, v.text
                    ))
                })?;
                Some(v.text)
            }
        };
        let concurrency = match flags.concurrency {
            Some(n) => n,
            None => match src.get(
                &["SEALBRIDGE_CONCURRENCY"],
                Some(("concurrency", file_text(&file.concurrency))),
            ) {
                Some(v) => number_of::<usize>(&v, "a number")?,
                None => DEFAULT_CONCURRENCY,
            },
        };
        if concurrency == 0 || concurrency > 1024 {
            return Err(usage(
                "the concurrency must be between 1 and 1024".to_owned(),
            ));
        }
        let deadline = match flags.deadline {
            Some(d) => d,
            None => match src.get(
                &["SEALBRIDGE_DEADLINE"],
                Some(("deadline", file_text(&file.deadline))),
            ) {
                Some(v) => duration_of(&v)?,
                None => DEFAULT_RUN_DEADLINE,
            },
        };
        let max_output = match src.get(
            &["SEALBRIDGE_MAX_OUTPUT"],
            Some(("max_output", file_text(&file.max_output))),
        ) {
            Some(v) => parse_size(&v.text).filter(|n| *n >= 1024).ok_or_else(|| {
                usage(format!(
                    "{}: {:?} is not a size of at least 1 KiB (examples: 64MiB, 512Ki, \
                         1048576)",
                    v.origin, v.text
                ))
            })?,
            None => DEFAULT_MAX_OUTPUT,
        };
        let verbose = flags.verbose
            || match src.get(
                &["SEALBRIDGE_VERBOSE"],
                Some(("verbose", file_text(&file.verbose))),
            ) {
                Some(v) => bool_of(&v)?,
                None => false,
            };

        let fv = &file.vault;
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
                && src
                    .env(&["VAULT_TOKEN", "SEALBRIDGE_VAULT_TOKEN_FILE"])
                    .is_none()
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
        let secret =
            |value_names: &[&str], file_names: &[&str], file_key: &str, fp: &Option<PathBuf>| {
                if let Some(v) = src.env(value_names) {
                    return Some(SecretSource::Value(Sensitive::from(v.text)));
                }
                if let Some(v) = src.above_secret(file_names, Some((file_key, file_path(fp)))) {
                    return Some(SecretSource::File(PathBuf::from(v.text)));
                }
                // The Kubernetes Secret: a value, then a file path.
                if let Some(v) = src.secret_value(value_names) {
                    return Some(SecretSource::Value(v));
                }
                src.secret_text(file_names)
                    .map(|v| SecretSource::File(PathBuf::from(v.text)))
            };
        let secret_id = secret(
            &["SEALBRIDGE_VAULT_SECRET_ID", "AVP_SECRET_ID"],
            &["SEALBRIDGE_VAULT_SECRET_ID_FILE"],
            "vault.auth.secret_id_file",
            &fa.secret_id_file,
        );
        let jwt = secret(
            &["SEALBRIDGE_VAULT_JWT"],
            &["SEALBRIDGE_VAULT_JWT_FILE", "AVP_K8S_TOKEN_PATH"],
            "vault.auth.jwt_file",
            &fa.jwt_file,
        );
        let username = src
            .get(
                &["SEALBRIDGE_VAULT_USERNAME", "AVP_USERNAME"],
                Some(("vault.auth.username", fa.username.clone())),
            )
            .map(|v| v.text);
        let password = secret(
            &["SEALBRIDGE_VAULT_PASSWORD", "AVP_PASSWORD"],
            &["SEALBRIDGE_VAULT_PASSWORD_FILE"],
            "vault.auth.password_file",
            &fa.password_file,
        );
        let github_token = secret(
            &["SEALBRIDGE_VAULT_GITHUB_TOKEN", "AVP_GITHUB_TOKEN"],
            &["SEALBRIDGE_VAULT_GITHUB_TOKEN_FILE"],
            "vault.auth.github_token_file",
            &fa.github_token_file,
        );
        let token = secret(
            &["VAULT_TOKEN"],
            &["SEALBRIDGE_VAULT_TOKEN_FILE"],
            "vault.auth.token_file",
            &fa.token_file,
        )
        .or_else(|| {
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
        let cache_dir = path_of(&["SEALBRIDGE_CACHE_DIR"], "vault.cache_dir", &fv.cache_dir)
            .or_else(|| {
                let xdg = src
                    .env
                    .get("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute());
                let home = src.env.get("HOME").filter(|h| !h.is_empty());
                xdg.or_else(|| home.map(|h| Path::new(h).join(".cache")))
                    .map(|d| d.join("sealbridge"))
            });

        Ok(Settings {
            backend,
            kv_version,
            path_prefix,
            path_validation,
            concurrency,
            deadline,
            max_output,
            verbose,
            config_file: config_path,
            policy,
            vault: VaultSettings {
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
            },
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::KvVersion;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings> {
        Settings::load_from(&Flags::default(), env(pairs))
    }

    #[test]
    fn max_output_is_an_operator_size() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("512 Ki"), Some(512 << 10));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("1.5M"), None);
        assert_eq!(parse_size("M"), None);
        let s = load(&[("SEALBRIDGE_MAX_OUTPUT", "8MiB")]).unwrap();
        assert_eq!(s.max_output, 8 << 20);
        assert!(load(&[("SEALBRIDGE_MAX_OUTPUT", "12")]).is_err());
        let e = load(&[("ARGOCD_ENV_SEALBRIDGE_MAX_OUTPUT", "8GiB")]).unwrap_err();
        assert!(
            e.to_string().contains("ARGOCD_ENV_SEALBRIDGE_MAX_OUTPUT"),
            "{e}"
        );
    }

    #[test]
    fn defaults() {
        let s = load(&[]).unwrap();
        assert_eq!(s.backend, DefaultBackend::Vault);
        assert_eq!(s.concurrency, 16);
        assert_eq!(s.deadline, Duration::from_secs(45));
        assert_eq!(s.max_output, 64 << 20);
        assert_eq!(s.kv_version, None);
        assert!(!s.verbose);
        let e = s.vault_config().unwrap_err();
        assert!(e.is_config());
        assert!(e.to_string().contains("VAULT_ADDR"), "{e}");
    }

    #[test]
    fn token_auth_from_env_or_home_file() {
        let s = load(&[("VAULT_ADDR", "http://127.0.0.1:8200"), ("HOME", "/home/u")]).unwrap();
        let c = s.vault_config().unwrap();
        match c.auth {
            AuthConfig::Token(SecretSource::File(p)) => {
                assert_eq!(p, Path::new("/home/u/.vault-token"))
            }
            other => panic!("{other:?}"),
        }
        let s = load(&[("VAULT_ADDR", "http://x:1"), ("VAULT_TOKEN", "s.abc")]).unwrap();
        match s.vault_config().unwrap().auth {
            AuthConfig::Token(SecretSource::Value(v)) => assert_eq!(v.expose(), b"s.abc"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn vault_agent_address_wins_and_implies_no_token() {
        let s = load(&[
            ("VAULT_ADDR", "http://vault:1"),
            ("VAULT_AGENT_ADDR", "http://127.0.0.1:8100"),
        ])
        .unwrap();
        let c = s.vault_config().unwrap();
        assert_eq!(c.address, "http://127.0.0.1:8100");
        assert!(matches!(c.auth, AuthConfig::None));
        let s = load(&[
            ("VAULT_AGENT_ADDR", "http://127.0.0.1:8100"),
            ("VAULT_TOKEN", "t"),
        ])
        .unwrap();
        assert!(matches!(
            s.vault_config().unwrap().auth,
            AuthConfig::Token(_)
        ));
        let s = load(&[
            ("VAULT_ADDR", "http://v:1"),
            ("SEALBRIDGE_VAULT_AUTH", "none"),
        ])
        .unwrap();
        assert!(matches!(s.vault_config().unwrap().auth, AuthConfig::None));
    }

    #[test]
    fn cache_dir_defaults_from_xdg_then_home() {
        let dir = |pairs: &[(&str, &str)]| load(pairs).unwrap().vault.cache_dir;
        assert_eq!(
            dir(&[("HOME", "/h")]),
            Some(PathBuf::from("/h/.cache/sealbridge"))
        );
        assert_eq!(
            dir(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]),
            Some(PathBuf::from("/x/sealbridge"))
        );
        assert_eq!(
            dir(&[("XDG_CACHE_HOME", "relative"), ("HOME", "/h")]),
            Some(PathBuf::from("/h/.cache/sealbridge"))
        );
        assert_eq!(
            dir(&[("HOME", "/h"), ("SEALBRIDGE_CACHE_DIR", "/c")]),
            Some(PathBuf::from("/c"))
        );
        assert_eq!(dir(&[]), None);
    }

    #[test]
    fn avp_names_are_accepted() {
        let s = load(&[
            ("VAULT_ADDR", "http://x:1"),
            ("AVP_TYPE", "vault"),
            ("AVP_AUTH_TYPE", " approle\n"),
            ("AVP_ROLE_ID", "rid"),
            ("AVP_SECRET_ID", "sid"),
            ("AVP_MOUNT_PATH", "auth/team-approle"),
            ("AVP_KV_VERSION", "1"),
        ])
        .unwrap();
        assert_eq!(s.kv_version, Some(KvVersion::V1));
        let c = s.vault_config().unwrap();
        assert_eq!(c.default_kv_version, Some(KvVersion::V1));
        match c.auth {
            AuthConfig::AppRole { mount, role_id, .. } => {
                assert_eq!(mount, "auth/team-approle");
                assert_eq!(role_id, "rid");
            }
            other => panic!("{other:?}"),
        }
        let s = load(&[
            ("VAULT_ADDR", "http://x:1"),
            ("AVP_AUTH_TYPE", "k8s"),
            ("AVP_K8S_ROLE", "argocd"),
            ("AVP_MOUNT_PATH", "generic"),
            ("AVP_K8S_MOUNT_PATH", "auth/k8s-prod"),
        ])
        .unwrap();
        match s.vault_config().unwrap().auth {
            AuthConfig::Kubernetes { mount, role, jwt } => {
                assert_eq!(mount, "auth/k8s-prod");
                assert_eq!(role, "argocd");
                assert!(matches!(jwt, SecretSource::File(p) if p == Path::new(K8S_TOKEN_PATH)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_credentials_name_the_variables() {
        let s = load(&[("VAULT_ADDR", "http://x:1"), ("AVP_AUTH_TYPE", "approle")]).unwrap();
        let e = s.vault_config().unwrap_err().to_string();
        assert!(e.contains("AVP_ROLE_ID"), "{e}");
        let e = load(&[("AVP_AUTH_TYPE", "ldap")]).unwrap_err().to_string();
        assert!(e.contains("AVP_AUTH_TYPE") && e.contains("ldap"), "{e}");
    }

    #[test]
    fn skip_verify_is_parsed_strictly() {
        for (v, want) in [
            ("true", true),
            ("1", true),
            ("T", true),
            ("false", false),
            ("0", false),
        ] {
            let s = load(&[("VAULT_SKIP_VERIFY", v)]).unwrap();
            assert_eq!(s.vault.tls.skip_verify, want, "{v}");
        }
        for v in ["yes", "no", "on", "2", "tru", "enable"] {
            let e = load(&[("VAULT_SKIP_VERIFY", v)]).unwrap_err().to_string();
            assert!(
                e.contains("VAULT_SKIP_VERIFY") && e.contains("not a boolean"),
                "{e}"
            );
        }
        // Empty means unset.
        assert!(
            !load(&[("VAULT_SKIP_VERIFY", "")])
                .unwrap()
                .vault
                .tls
                .skip_verify
        );
    }

    #[test]
    fn argocd_env_allow_list() {
        let s = load(&[
            ("AVP_KV_VERSION", "2"),
            ("ARGOCD_ENV_AVP_KV_VERSION", "1"),
            ("ARGOCD_ENV_SEALBRIDGE_PATH_PREFIX", "/team-a/"),
            ("ARGOCD_ENV_HELM_ARGS", "--set x=1"),
        ])
        .unwrap();
        assert_eq!(
            s.kv_version,
            Some(KvVersion::V1),
            "the Application's value wins for allowed options"
        );
        assert_eq!(s.path_prefix.as_deref(), Some("team-a"));
        for bad in [
            "ARGOCD_ENV_VAULT_ADDR",
            "ARGOCD_ENV_VAULT_NAMESPACE",
            "ARGOCD_ENV_AVP_AUTH_TYPE",
            "ARGOCD_ENV_AVP_K8S_ROLE",
            "ARGOCD_ENV_AVP_ROLE_ID",
            "ARGOCD_ENV_VAULT_TOKEN",
            "ARGOCD_ENV_SEALBRIDGE_CACHE_DIR",
            "ARGOCD_ENV_SEALBRIDGE_VAULT_AUTH",
            "ARGOCD_ENV_SOPS_AGE_KEY_FILE",
            "ARGOCD_ENV_SEALBRIDGE_POLICY",
        ] {
            let e = load(&[(bad, "x")]).unwrap_err();
            assert!(matches!(e, Error::Usage(_)));
            assert!(e.to_string().starts_with(bad), "{e}");
        }
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        std::fs::write(
            &f,
            "concurrency: 4\ndeadline: 30s\nvault:\n  address: http://file:1\n  timeout: 2s\n  \
             auth:\n    method: userpass\n    username: bob\n    password_file: /run/pw\n",
        )
        .unwrap();
        let flags = Flags {
            config: Some(f.clone()),
            concurrency: Some(8),
            ..Flags::default()
        };
        let s = Settings::load_from(&flags, env(&[("SEALBRIDGE_DEADLINE", "20")])).unwrap();
        assert_eq!(s.concurrency, 8); // flag
        assert_eq!(s.deadline, Duration::from_secs(20)); // env
        let c = s.vault_config().unwrap();
        assert_eq!(c.address, "http://file:1"); // file
        assert_eq!(c.request_timeout, Duration::from_secs(2));
        assert_eq!(c.max_retries, DEFAULT_MAX_RETRIES); // default
        match c.auth {
            AuthConfig::Userpass {
                username,
                password,
                mount,
            } => {
                assert_eq!(username, "bob");
                assert_eq!(mount, "userpass");
                assert!(matches!(password, SecretSource::File(p) if p == Path::new("/run/pw")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn config_file_env_style_credentials_and_typos_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        let flags = Flags {
            config: Some(f.clone()),
            ..Flags::default()
        };
        for (text, want) in [
            (
                "VAULT_TOKEN: hvs.inline-token-value\n",
                "SEALBRIDGE_VAULT_TOKEN_FILE",
            ),
            (
                "AVP_SECRET_ID: inline-secret-id\n",
                "SEALBRIDGE_VAULT_SECRET_ID_FILE",
            ),
            ("VAULT_ADRR: http://x:1\n", "did you mean VAULT_ADDR?"),
            ("AVP_AUTHTYPE: approle\n", "did you mean AVP_AUTH_TYPE?"),
            (
                "SOPS_AGE_KEY_FILE: /k\n",
                "unknown setting SOPS_AGE_KEY_FILE",
            ),
        ] {
            std::fs::write(&f, text).unwrap();
            let e = Settings::load_from(&flags, env(&[])).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{text}");
            let e = e.to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains("inline"), "a value leaked: {e}");
        }
    }

    #[test]
    fn config_file_rejects_inline_secrets_and_accepts_avp_style() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, "vault:\n  auth:\n    secret_id: abc\n").unwrap();
        let flags = Flags {
            config: Some(f.clone()),
            ..Flags::default()
        };
        let e = Settings::load_from(&flags, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `secret_id`"), "{e}");
        std::fs::write(
            &f,
            "AVP_TYPE: vault\nAVP_KV_VERSION: 1\nVAULT_ADDR: http://avp:1\n",
        )
        .unwrap();
        let s = Settings::load_from(
            &flags,
            env(&[("VAULT_ADDR", "http://env:1"), ("VAULT_TOKEN", "t")]),
        )
        .unwrap();
        assert_eq!(s.kv_version, Some(KvVersion::V1));
        assert_eq!(s.vault_config().unwrap().address, "http://env:1");
        std::fs::write(&f, "deadline: soon\n").unwrap();
        let e = Settings::load_from(&flags, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.yaml: deadline") && e.contains("not a duration"),
            "{e}"
        );
    }

    fn secret(pairs: &[(&str, &str)]) -> SecretSettings {
        SecretSettings {
            origin: "Secret argocd/avp".to_owned(),
            values: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Sensitive::from_str_copy(v)))
                .collect(),
        }
    }

    #[test]
    fn kubernetes_secret_is_below_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, "AVP_KV_VERSION: 1\n").unwrap();
        let flags = Flags {
            secret: Some(secret(&[
                ("VAULT_ADDR", "http://from-secret:1"),
                ("AVP_AUTH_TYPE", "approle"),
                ("AVP_ROLE_ID", "rid"),
                ("AVP_SECRET_ID", "sid-from-secret"),
                ("AVP_KV_VERSION", "2"),
                ("VAULT_SKIP_VERIFY", "maybe"),
            ])),
            ..Flags::default()
        };
        // The Secret alone.
        let e = Settings::load_from(&flags, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("Secret argocd/avp: VAULT_SKIP_VERIFY"),
            "errors name the Secret and key: {e}"
        );
        let mut flags = flags;
        if let Some(s) = flags.secret.as_mut() {
            s.values.remove("VAULT_SKIP_VERIFY");
        }
        let s = Settings::load_from(&flags, env(&[])).unwrap();
        assert_eq!(s.kv_version, Some(KvVersion::V2));
        let c = s.vault_config().unwrap();
        assert_eq!(c.address, "http://from-secret:1");
        match c.auth {
            AuthConfig::AppRole {
                role_id, secret_id, ..
            } => {
                assert_eq!(role_id, "rid");
                assert!(
                    matches!(secret_id, SecretSource::Value(v) if v.expose() == b"sid-from-secret")
                );
            }
            other => panic!("{other:?}"),
        }
        // Environment and file win; the Secret fills in the rest (merged, not replaced).
        let flags = Flags {
            config: Some(f),
            ..flags
        };
        let s = Settings::load_from(
            &flags,
            env(&[
                ("VAULT_ADDR", "http://from-env:1"),
                ("AVP_SECRET_ID", "sid-from-env"),
            ]),
        )
        .unwrap();
        assert_eq!(s.kv_version, Some(KvVersion::V1), "config file over Secret");
        let c = s.vault_config().unwrap();
        assert_eq!(c.address, "http://from-env:1");
        match c.auth {
            AuthConfig::AppRole { secret_id, .. } => assert!(
                matches!(secret_id, SecretSource::Value(v) if v.expose() == b"sid-from-env")
            ),
            other => panic!("{other:?}"),
        }
        // A credential file path in the environment beats a credential value in the Secret.
        let s = Settings::load_from(
            &flags,
            env(&[("SEALBRIDGE_VAULT_SECRET_ID_FILE", "/run/sid")]),
        )
        .unwrap();
        match s.vault_config().unwrap().auth {
            AuthConfig::AppRole { secret_id, .. } => {
                assert!(matches!(secret_id, SecretSource::File(p) if p == Path::new("/run/sid")))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn token_from_the_secret_beats_the_home_token_file() {
        let flags = Flags {
            secret: Some(secret(&[
                ("VAULT_ADDR", "http://v:1"),
                ("VAULT_TOKEN", "s.secret"),
            ])),
            ..Flags::default()
        };
        let s = Settings::load_from(&flags, env(&[("HOME", "/h")])).unwrap();
        match s.vault_config().unwrap().auth {
            AuthConfig::Token(SecretSource::Value(v)) => assert_eq!(v.expose(), b"s.secret"),
            other => panic!("{other:?}"),
        }
        let dbg = format!("{:?}", s.vault_config().unwrap());
        assert!(!dbg.contains("s.secret"), "{dbg}");
    }

    #[test]
    fn bad_address_names_its_origin() {
        let s = load(&[("VAULT_ADDR", "vault:8200"), ("VAULT_TOKEN", "t")]).unwrap();
        let e = s.vault_config().unwrap_err().to_string();
        assert!(e.contains("VAULT_ADDR"), "{e}");
        let s = load(&[("VAULT_ADDR", "ftp://x"), ("VAULT_TOKEN", "t")]).unwrap();
        let e = s.vault_config().unwrap_err().to_string();
        assert_eq!(
            e,
            "vault: configuration error: VAULT_ADDR \"ftp://x\" must start with https:// or http://"
        );
    }

    #[test]
    fn durations_and_bools() {
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_bool("yes"), None);
    }

    #[test]
    fn path_validation_must_compile() {
        let e = load(&[("AVP_PATH_VALIDATION", "^(?!x)")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("AVP_PATH_VALIDATION") && e.contains("not a valid regular expression"),
            "{e}"
        );
    }
}
