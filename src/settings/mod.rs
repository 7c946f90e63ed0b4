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
//!
//! Layout: this file holds the settings and the general options; `sources` where a setting is
//! looked up and how a found value is parsed; `file` the settings file; `vault` the Vault
//! settings, the auth method and the client configuration built from them.

mod file;
mod sources;
mod vault;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::backend::vault::{DEFAULT_CONCURRENCY, DEFAULT_RUN_DEADLINE};
use crate::error::Result;
use crate::secret::Sensitive;

use file::read_config_file;
use sources::{Sources, bool_of, duration_of, file_text, number_of, usage};
pub(crate) use vault::{AuthInputNames, AuthInputs, Method};
use vault::{FileVault, VaultSettings};

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

impl Settings {
    /// Refuses `ARGOCD_ENV_*` variables of the process that name guarded settings (what
    /// [`load`](Self::load) checks first), for a caller that must check before reading more.
    pub fn check_process_env() -> Result<()> {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        check_argocd_env(&env)
    }

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
        let (env, creds) = sources::split_credentials(env);
        let src = Sources {
            env,
            creds,
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

        let vault = vault::load(&src, &file.vault, flags)?;

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
            vault,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::KvVersion;
    use crate::backend::vault::{AuthConfig, DEFAULT_MAX_RETRIES, SecretSource};
    use crate::error::Error;

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
