//! The operator's tenancy policy (`--policy FILE` / `SEALBRIDGE_POLICY`; `docs/policy.md`):
//! one shared Argo CD sidecar, many teams, each confined to its own Vault identity, Vault
//! paths, backends and sops keys.
//!
//! - **parse** ([`Policy::load`]): YAML, strict (unknown keys are errors with their line);
//!   globs, auth methods and limits are checked when the file is read.
//! - **match** ([`Policy::select`]): the first tenant whose every criterion matches what Argo CD
//!   set for the Application ([`AppIdentity`]: AppProject, the Application's own namespace,
//!   the normalised source repository URL) is the run's tenant; none = refuse.
//! - **check** ([`Tenant::check_reference`], [`guard`]): every reference is checked against the
//!   tenant's rules before any request, and every Vault read once more on the exact request
//!   path after the mount lookup.
//!
//! The policy never comes from the repository or from an Application (`ARGOCD_ENV_*` cannot
//! name `SEALBRIDGE_POLICY`: see [`crate::settings`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::backend::BackendKind;
use crate::backend::vault::{AuthConfig, SecretSource};
use crate::cmp::ArgoEnv;
use crate::error::{Error, Result};
use crate::settings::{AuthInputNames, AuthInputs, Method, Settings};
use crate::sops::keys::AgeIdentities;

pub mod glob;
pub mod guard;

use glob::Glob;

/// Argo CD's own namespace when the policy does not say (`control_plane_namespace`).
pub const DEFAULT_CONTROL_PLANE_NAMESPACE: &str = "argocd";

// ---------------------------------------------------------------------------------------------
// The file format (docs/policy.md).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePolicy {
    version: u32,
    control_plane_namespace: Option<String>,
    tenants: Vec<FileTenant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTenant {
    name: String,
    #[serde(rename = "match")]
    matcher: FileMatch,
    backends: Option<Vec<String>>,
    vault: Option<FileVault>,
    sops: Option<FileSops>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    plaintext_only_in_secrets: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMatch {
    projects: Option<Vec<String>>,
    app_namespaces: Option<Vec<String>>,
    repos: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVault {
    namespace: Option<String>,
    auth: FileAuth,
    paths: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    method: String,
    mount: Option<String>,
    role: Option<String>,
    role_id: Option<String>,
    secret_id_file: Option<PathBuf>,
    jwt_file: Option<PathBuf>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSops {
    #[serde(default)]
    age_key_files: Vec<PathBuf>,
    #[serde(default)]
    transit_mounts: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_references: Option<usize>,
    max_output_bytes: Option<usize>,
}

// ---------------------------------------------------------------------------------------------
// The checked policy.

/// The tenancy policy as read from the operator's file.
#[derive(Debug)]
pub struct Policy {
    /// The file, for messages.
    pub file: PathBuf,
    /// Argo CD's own namespace: an `ARGOCD_APP_NAME` without `<namespace>_` names an
    /// Application there.
    pub control_plane_namespace: String,
    tenants: Vec<(Matcher, Arc<Tenant>)>,
}

#[derive(Debug)]
struct Matcher {
    projects: Option<Vec<Glob>>,
    app_namespaces: Option<Vec<Glob>>,
    repos: Option<Vec<Glob>>,
}

/// Per-tenant limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// At most this many references in one run.
    pub max_references: Option<usize>,
    /// At most this many bytes of output.
    pub max_output_bytes: Option<usize>,
}

/// One tenant: its identity towards Vault, its Vault paths, backends and sops keys.
#[derive(Debug)]
pub struct Tenant {
    /// The tenant's name (in every refusal).
    pub name: String,
    /// The policy file, for messages.
    pub policy_file: String,
    /// Backends the tenant may use.
    pub backends: Vec<BackendKind>,
    /// Vault: the tenant's own login, namespace and path globs (`None`: no Vault).
    pub vault: Option<TenantVault>,
    /// sops: the tenant's age identity files and transit mounts.
    pub sops: TenantSops,
    /// Limits.
    pub limits: Limits,
    /// A resolved value may only be written into a `Secret`'s `data`/`stringData`.
    pub plaintext_only_in_secrets: bool,
}

/// The tenant's Vault identity and paths.
#[derive(Debug)]
pub struct TenantVault {
    /// How the tenant logs in (replaces the sidecar's own auth settings).
    pub auth: AuthConfig,
    /// The Vault namespace (Enterprise/OpenBao), if the tenant has its own.
    pub namespace: Option<String>,
    /// Request paths the tenant may read (`kv/data/team-a/**`).
    pub paths: Vec<Glob>,
}

/// The tenant's sops key material.
#[derive(Debug, Default)]
pub struct TenantSops {
    /// age identity files (the only age identities the tenant's run uses).
    pub age_key_files: Vec<PathBuf>,
    /// Vault transit mounts (`engine_path`) the tenant's files may use.
    pub transit_mounts: Vec<String>,
}

/// What Argo CD says about the Application being rendered (see `docs/security.md`, tenancy:
/// who controls each value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppIdentity {
    /// `ARGOCD_APP_NAME` as set (the instance name: `<namespace>_<name>` outside the
    /// control-plane namespace).
    pub app_name: Option<String>,
    /// The AppProject (`ARGOCD_APP_PROJECT_NAME`, Argo CD ≥ 3.0).
    pub project: Option<String>,
    /// The Application's own namespace (from `ARGOCD_APP_NAME`; NOT `ARGOCD_APP_NAMESPACE`,
    /// which is the destination namespace).
    pub app_namespace: Option<String>,
    /// The source repository URL, normalised ([`normalize_repo`]); `None` when absent or not
    /// normalisable.
    pub repo: Option<String>,
}

impl AppIdentity {
    /// From Argo CD's build environment.
    pub fn from_argo(env: &ArgoEnv, control_plane_namespace: &str) -> AppIdentity {
        AppIdentity::new(
            env.app_name.as_deref(),
            env.project.as_deref(),
            env.repo_url.as_deref(),
            control_plane_namespace,
        )
    }

    /// From the three values (`sealbridge policy check`).
    pub fn new(
        app_name: Option<&str>,
        project: Option<&str>,
        repo: Option<&str>,
        control_plane_namespace: &str,
    ) -> AppIdentity {
        let app_namespace = app_name.map(|n| match n.split_once('_') {
            // Kubernetes names have no `_`: the first one separates namespace and name.
            Some((ns, _)) => ns.to_owned(),
            None => control_plane_namespace.to_owned(),
        });
        AppIdentity {
            app_name: app_name.map(str::to_owned),
            project: project.map(str::to_owned),
            app_namespace,
            repo: repo.and_then(normalize_repo),
        }
    }

    /// For messages.
    pub fn describe(&self) -> String {
        format!(
            "Argo CD application {} (project {}, application namespace {}, repository {})",
            self.app_name
                .as_deref()
                .unwrap_or("<unset ARGOCD_APP_NAME>"),
            self.project
                .as_deref()
                .unwrap_or("<unset ARGOCD_APP_PROJECT_NAME>"),
            self.app_namespace.as_deref().unwrap_or("<unknown>"),
            self.repo
                .as_deref()
                .unwrap_or("<unset or not a plain repository URL>")
        )
    }
}

/// Normalises a repository URL for matching: lower case, no user info, no trailing `/` or
/// `.git`; `git@host:org/repo` becomes `ssh://host/org/repo`. `None` for a URL with `.`/`..`
/// segments, `%`-escapes, `\`, whitespace or control characters inside (never matched).
pub fn normalize_repo(url: &str) -> Option<String> {
    let url = url.trim().to_ascii_lowercase();
    if url.is_empty()
        || url
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '%' | '\\' | '?' | '#'))
    {
        return None;
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_owned(), r.to_owned()),
        None => {
            // scp-like `user@host:path`.
            let (host, path) = url.split_once(':')?;
            (
                "ssh".to_owned(),
                format!("{host}/{}", path.trim_start_matches('/')),
            )
        }
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest.as_str(), ""));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if host.is_empty() {
        return None;
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.iter().any(|s| *s == "." || *s == "..") {
        return None;
    }
    let mut path = segs.join("/");
    if let Some(p) = path.strip_suffix(".git") {
        path = p.to_owned();
    }
    Some(if path.is_empty() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
    })
}

/// The first line of the YAML parser's message (`line L column C: …`), without its source
/// excerpt.
fn yaml_error(file: &Path, e: &impl std::fmt::Display) -> Error {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    Error::Usage(format!("{}: {first}", file.display()))
}

/// The 1-based line of the first occurrence of `needle` in `text` (for semantic errors).
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

impl Policy {
    /// Reads and checks the policy file.
    pub fn load(path: &Path) -> Result<Policy> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!(
                "cannot read the tenancy policy {}: {e}; nothing was rendered",
                path.display()
            ))
        })?);
        Policy::parse(&text, path)
    }

    /// Parses and checks policy text (`path` for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Policy> {
        let file: FilePolicy = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
        let at = |needle: &str| match line_of(text, needle) {
            Some(l) => format!("{}: line {l}", path.display()),
            None => path.display().to_string(),
        };
        if file.version != 1 {
            return Err(Error::Usage(format!(
                "{}: version {} is not supported (expected 1)",
                at("version"),
                file.version
            )));
        }
        if file.tenants.is_empty() {
            return Err(Error::Usage(format!(
                "{}: no tenants: every Application would be refused",
                path.display()
            )));
        }
        let mut tenants = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for t in &file.tenants {
            let name = t.name.trim();
            let bad = |needle: &str, why: String| {
                Error::Usage(format!("{}: tenant {name:?}: {why}", at(needle)))
            };
            if name.is_empty() {
                return Err(bad("name:", "the name is empty".to_owned()));
            }
            if names.contains(&name) {
                return Err(bad(name, "a second tenant of this name".to_owned()));
            }
            names.push(name);
            let globs = |field: &str, list: &Option<Vec<String>>| -> Result<Option<Vec<Glob>>> {
                match list {
                    None => Ok(None),
                    Some(l) if l.is_empty() => Err(bad(
                        field,
                        format!(
                            "{field} is empty (it would match nothing); remove it or list values"
                        ),
                    )),
                    Some(l) => l
                        .iter()
                        .map(|g| {
                            Glob::new(g).map_err(|e| {
                                bad(g, format!("{field}: {g:?} is not a valid glob: {e}"))
                            })
                        })
                        .collect::<Result<Vec<_>>>()
                        .map(Some),
                }
            };
            let repos = match &t.matcher.repos {
                None => None,
                Some(list) => Some(
                    list.iter()
                        .map(|r| {
                            let n = normalize_glob_repo(r).ok_or_else(|| {
                                bad(r, format!("match.repos: {r:?} is not a repository URL"))
                            })?;
                            Glob::new(&n).map_err(|e| {
                                bad(r, format!("match.repos: {r:?} is not a valid glob: {e}"))
                            })
                        })
                        .collect::<Result<Vec<_>>>()?,
                ),
            };
            let matcher = Matcher {
                projects: globs("projects", &t.matcher.projects)?,
                app_namespaces: globs("app_namespaces", &t.matcher.app_namespaces)?,
                repos,
            };
            if matcher.projects.is_none()
                && matcher.app_namespaces.is_none()
                && matcher.repos.is_none()
            {
                return Err(bad(
                    "match",
                    "match names no criterion (projects, app_namespaces, repos); a tenant that \
                     matches every Application is not a boundary"
                        .to_owned(),
                ));
            }
            let vault = match &t.vault {
                None => None,
                Some(v) => {
                    let auth = auth_of(&v.auth).map_err(|why| bad("method", why))?;
                    let paths = v
                        .paths
                        .iter()
                        .map(|g| {
                            if g.starts_with('/') {
                                return Err(bad(
                                    g,
                                    format!("vault.paths: {g:?} must not start with `/`"),
                                ));
                            }
                            Glob::new(g).map_err(|e| {
                                bad(g, format!("vault.paths: {g:?} is not a valid glob: {e}"))
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    if paths.is_empty() {
                        return Err(bad(
                            "paths",
                            "vault.paths is empty: list the request paths the tenant may read \
                             (e.g. kv/data/team-a/**)"
                                .to_owned(),
                        ));
                    }
                    Some(TenantVault {
                        auth,
                        namespace: v
                            .namespace
                            .as_ref()
                            .map(|n| n.trim().trim_matches('/').to_owned())
                            .filter(|n| !n.is_empty()),
                        paths,
                    })
                }
            };
            let sops = match &t.sops {
                None => TenantSops::default(),
                Some(s) => TenantSops {
                    age_key_files: s.age_key_files.clone(),
                    transit_mounts: s
                        .transit_mounts
                        .iter()
                        .map(|m| m.trim().trim_matches('/').to_owned())
                        .collect(),
                },
            };
            let mut backends = Vec::new();
            match &t.backends {
                None => {
                    if vault.is_some() {
                        backends.push(BackendKind::Vault);
                    }
                    if t.sops.is_some() {
                        backends.push(BackendKind::Sops);
                    }
                }
                Some(list) => {
                    for b in list {
                        let kind = BackendKind::from_name(b).ok_or_else(|| {
                            bad(
                                b,
                                format!("backends: unknown backend {b:?} (vault or sops)"),
                            )
                        })?;
                        if kind == BackendKind::Vault && vault.is_none() {
                            return Err(bad(
                                "backends",
                                "backends lists vault but the tenant has no vault section (its \
                                 login and paths)"
                                    .to_owned(),
                            ));
                        }
                        if !backends.contains(&kind) {
                            backends.push(kind);
                        }
                    }
                }
            }
            for (what, v) in [
                ("max_references", t.limits.max_references),
                ("max_output_bytes", t.limits.max_output_bytes),
            ] {
                if v == Some(0) {
                    return Err(bad(what, format!("limits.{what} must be at least 1")));
                }
            }
            tenants.push((
                matcher,
                Arc::new(Tenant {
                    name: name.to_owned(),
                    policy_file: path.display().to_string(),
                    backends,
                    vault,
                    sops,
                    limits: Limits {
                        max_references: t.limits.max_references,
                        max_output_bytes: t.limits.max_output_bytes,
                    },
                    plaintext_only_in_secrets: t.plaintext_only_in_secrets,
                }),
            ));
        }
        Ok(Policy {
            file: path.to_path_buf(),
            control_plane_namespace: file
                .control_plane_namespace
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| DEFAULT_CONTROL_PLANE_NAMESPACE.to_owned()),
            tenants,
        })
    }

    /// The first tenant whose every criterion matches `app`.
    pub fn find(&self, app: &AppIdentity) -> Option<Arc<Tenant>> {
        self.tenants
            .iter()
            .find(|(m, _)| m.matches(app))
            .map(|(_, t)| t.clone())
    }

    /// [`find`](Self::find), or the refusal (exit 2) naming what Argo CD set.
    pub fn select(&self, app: &AppIdentity) -> Result<Arc<Tenant>> {
        self.find(app).ok_or_else(|| {
            Error::Usage(format!(
                "the tenancy policy {} has no tenant for {}; nothing was rendered. Ask the \
                 operator to add a tenant matching this application (docs/policy.md)",
                self.file.display(),
                app.describe()
            ))
        })
    }

    /// Every tenant's name, in order (for `policy check`).
    pub fn tenant_names(&self) -> Vec<&str> {
        self.tenants.iter().map(|(_, t)| t.name.as_str()).collect()
    }
}

/// A repository glob normalised like the URLs it is matched against (`*` survives the
/// normalisation; `?` is not allowed in repository globs).
fn normalize_glob_repo(g: &str) -> Option<String> {
    normalize_repo(g)
}

impl Matcher {
    fn matches(&self, app: &AppIdentity) -> bool {
        let any = |globs: &Option<Vec<Glob>>, v: &Option<String>| match globs {
            None => true,
            Some(gs) => v
                .as_deref()
                .is_some_and(|v| gs.iter().any(|g| g.matches(v))),
        };
        any(&self.projects, &app.project)
            && any(&self.app_namespaces, &app.app_namespace)
            && any(&self.repos, &app.repo)
    }
}

/// What the policy file calls each input of a tenant's login.
const POLICY_AUTH_NAMES: AuthInputNames = AuthInputNames {
    token: "token_file",
    role_id: "role_id",
    secret_id: "secret_id_file",
    role: "role",
    jwt: "jwt_file",
    username: "username",
    password: "password_file",
    // Not available per tenant (refused before these are asked for).
    github_token: "github_token_file",
    client_cert: "a client certificate",
};

fn auth_of(a: &FileAuth) -> std::result::Result<AuthConfig, String> {
    fn trimmed(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim)
    }
    let method = match Method::from_name(&a.method) {
        Some(
            m @ (Method::AppRole
            | Method::Kubernetes
            | Method::Jwt
            | Method::Userpass
            | Method::Token),
        ) => m,
        Some(Method::Cert | Method::None | Method::Github) | None => {
            let other = a.method.trim().to_ascii_lowercase();
            return Err(format!(
                "vault.auth.method {other:?} is not available per tenant (approle, kubernetes, \
                 jwt, userpass or token: each tenant needs a login of its own; `none` and \
                 `cert` use the sidecar's identity)"
            ));
        }
    };
    let mount = a
        .mount
        .as_deref()
        .map(|m| m.trim().trim_matches('/'))
        .map(|m| m.strip_prefix("auth/").unwrap_or(m));
    let file = |v: &Option<PathBuf>| v.clone().map(SecretSource::File);
    let inputs = AuthInputs {
        method,
        mount,
        role: trimmed(&a.role),
        role_id: trimmed(&a.role_id),
        secret_id: file(&a.secret_id_file),
        jwt: file(&a.jwt_file),
        username: trimmed(&a.username),
        password: file(&a.password_file),
        github_token: None,
        token: file(&a.token_file),
        client_cert: false,
    };
    inputs
        .auth_config(&POLICY_AUTH_NAMES)
        .map_err(|missing| format!("vault.auth: {} auth needs {missing}", a.method))
}

/// The run's tenant: `None` without a policy (single-tenant mode); with one, the tenant of
/// the Application Argo CD is rendering, or the refusal (exit 2).
pub fn for_run(settings: &Settings) -> Result<Option<Arc<Tenant>>> {
    let Some(path) = &settings.policy else {
        return Ok(None);
    };
    let policy = Policy::load(path)?;
    let env = ArgoEnv::from_process()?;
    let app = AppIdentity::from_argo(&env, &policy.control_plane_namespace);
    let tenant = policy.select(&app)?;
    tracing::debug!(tenant = %tenant.name, "tenancy policy: {}", app.describe());
    Ok(Some(tenant))
}

impl Tenant {
    /// Whether the tenant may use `kind`.
    pub fn allows(&self, kind: BackendKind) -> bool {
        self.backends.contains(&kind)
    }

    fn refusal(&self, rule: &str, what: String) -> String {
        format!(
            "refused by the tenancy policy (tenant {:?}, rule {rule}): {what}",
            self.name
        )
    }

    /// The check of the plan step, before any request: the backend is allowed, and for
    /// Vault the path (with `prefix`, `SEALBRIDGE_PATH_PREFIX`, in front) can only be requested
    /// inside the tenant's `vault.paths` (the exact request path is checked again after the
    /// mount lookup: [`guard`]).
    pub fn check_reference(
        &self,
        backend: BackendKind,
        path: &str,
        prefix: Option<&str>,
    ) -> std::result::Result<(), String> {
        if !self.allows(backend) {
            return Err(self.refusal(
                "backends",
                format!("the tenant may not use the {backend} backend"),
            ));
        }
        if backend != BackendKind::Vault {
            return Ok(());
        }
        let full = with_prefix(prefix, path);
        let segs = canonical_segments(&full)
            .map_err(|why| self.refusal("vault.paths", format!("the Vault path {full:?} {why}")))?;
        // The client requests the path as written, or (KV v2) with `data/` after the mount,
        // which is not known before the lookup: any of those forms must be allowed.
        let literal = segs.join("/");
        let allowed = self.path_allowed(&literal)
            || (1..segs.len()).any(|k| {
                segs[k] != "data" && {
                    let mut v = segs.clone();
                    v.insert(k, "data");
                    self.path_allowed(&v.join("/"))
                }
            });
        if allowed {
            Ok(())
        } else {
            Err(self.refusal(
                "vault.paths",
                format!("the Vault path {literal:?} is outside the tenant's paths"),
            ))
        }
    }

    /// `plaintext_only_in_secrets`: a reference in `object` (`Kind/name`) at `field` may only
    /// write its value into a Secret's `data`/`stringData`, unless its modifier chain starts
    /// from the secret's version (`version`) or hashes the value (`sha256sum`).
    pub fn check_placement(
        &self,
        object: &str,
        field: &str,
        reference: &crate::placeholder::Reference,
    ) -> std::result::Result<(), String> {
        if !self.plaintext_only_in_secrets {
            return Ok(());
        }
        let in_secret_data = object.starts_with("Secret/")
            && [".data.", ".data[", ".stringData.", ".stringData["]
                .iter()
                .any(|p| field.starts_with(p));
        // A hash or a version number is no plaintext of the secret.
        let hashed = reference.modifiers.iter().any(|m| {
            matches!(
                m,
                crate::placeholder::Modifier::Sha256Sum | crate::placeholder::Modifier::Version
            )
        });
        if in_secret_data || hashed {
            return Ok(());
        }
        Err(self.refusal(
            "plaintext_only_in_secrets",
            format!(
                "a resolved value may only be written into a Secret's data or stringData (Argo CD \
                 shows other fields in its UI and diffs), not into {} {field}; for a rollout \
                 trigger use `| version` (the secret's version, not its value)",
                if object.is_empty() {
                    "this object"
                } else {
                    object
                }
            ),
        ))
    }

    /// `limits.max_references`: the run's reference count.
    pub fn check_references(&self, n: usize) -> std::result::Result<(), String> {
        match self.limits.max_references {
            Some(max) if n > max => Err(self.refusal(
                "limits.max_references",
                format!(
                    "the run has {n} references, more than the tenant's limit of {max}; nothing \
                     was fetched or written"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// `limits.max_output_bytes`: the size of what would be printed.
    pub fn check_output(&self, bytes: usize) -> std::result::Result<(), String> {
        match self.limits.max_output_bytes {
            Some(max) if bytes > max => Err(self.refusal(
                "limits.max_output_bytes",
                format!(
                    "the rendered output has {bytes} bytes, more than the tenant's limit of \
                     {max}; nothing was written"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Whether the exact request path is inside `vault.paths`.
    pub fn path_allowed(&self, request_path: &str) -> bool {
        self.vault
            .as_ref()
            .is_some_and(|v| v.paths.iter().any(|g| g.matches(request_path)))
    }

    /// The tenant's age identities (only these: not the sidecar's `SOPS_AGE_KEY*`).
    pub fn age_identities(&self) -> AgeIdentities {
        let mut text = Zeroizing::new(String::new());
        let mut problems = Vec::new();
        for f in &self.sops.age_key_files {
            match std::fs::read_to_string(f) {
                Ok(t) => {
                    let t = Zeroizing::new(t);
                    text.push_str(&t);
                    text.push('\n');
                }
                Err(e) => problems.push(format!("{}: {e}", f.display())),
            }
        }
        let mut ids =
            AgeIdentities::from_text(&text, &format!("the age keys of tenant {:?}", self.name));
        ids.problems.extend(problems);
        ids
    }
}

/// `prefix/path` as the Vault client joins them.
pub fn with_prefix(prefix: Option<&str>, path: &str) -> String {
    match prefix
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(p) => format!("{p}/{}", path.trim_start_matches('/')),
        None => path.to_owned(),
    }
}

/// The segments the client requests (empty segments dropped); refuses `.`/`..`, `%`-escapes,
/// `\`, glob characters and control characters (never sent: a spelling that another layer
/// might decode differently is not a path of the tenant).
fn canonical_segments(path: &str) -> std::result::Result<Vec<&str>, &'static str> {
    if path.chars().any(|c| {
        c.is_control() || matches!(c, '%' | '\\' | '*' | '?' | '#' | '[' | ']' | '{' | '}')
    }) {
        return Err(
            "has a character that is not allowed in tenant paths (%, \\, *, ?, #, [, ], {, } or a control character)",
        );
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.is_empty() {
        return Err("is empty");
    }
    if segs.iter().any(|s| *s == "." || *s == "..") {
        return Err("has a `.` or `..` segment");
    }
    Ok(segs)
}

#[cfg(test)]
mod tests;
