//! Argo CD config-management plugin (CMP v2) support: the environment argocd-cmp-server gives
//! the plugin's commands, repository discovery, and the "never print an empty manifest set"
//! rule.
//!
//! What Argo CD sets (argo-cd `reposerver/repository`, `cmpserver/plugin`), on top of the
//! sidecar's own environment:
//! - build variables: `ARGOCD_APP_NAME`, `ARGOCD_APP_NAMESPACE`, `ARGOCD_APP_PROJECT_NAME`,
//!   `ARGOCD_APP_REVISION` (+ `_SHORT`, `_SHORT_8`), `ARGOCD_APP_SOURCE_REPO_URL`,
//!   `ARGOCD_APP_SOURCE_PATH`, `ARGOCD_APP_SOURCE_TARGET_REVISION`, `KUBE_VERSION`,
//!   `KUBE_API_VERSIONS` (comma-separated);
//! - the Application's `plugin.env` entries as `ARGOCD_ENV_<NAME>` (user-controlled: only the
//!   settings allow-list may read them);
//! - the Application's `plugin.parameters` as JSON in `ARGOCD_APP_PARAMETERS` (`null` when
//!   there are none) and as `PARAM_<NAME>`, `PARAM_<NAME>_<i>`, `PARAM_<NAME>_<KEY>`.
//!
//! Commands run with cwd = the application's path, in their own process group; at the
//! repo-server deadline the group gets SIGTERM and, 5 s later, SIGKILL.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::exit::ExitStatus;

pub mod discover;
pub mod helm;
pub mod kustomize;
pub mod tool;

/// What can go wrong in the CMP front-end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmpError {
    /// The environment Argo CD set is malformed (exit 2).
    #[error("{0}")]
    Environment(String),
    /// The run would print no Kubernetes object (exit 1).
    #[error(
        "{0} produced no Kubernetes objects; refusing to print an empty manifest set because \
         Argo CD would prune every resource of the application. Check the application's path \
         and sources (or name a different plugin)"
    )]
    Empty(String),
}

impl CmpError {
    /// The exit code for this error.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CmpError::Environment(_) => ExitStatus::Usage,
            CmpError::Empty(_) => ExitStatus::Failure,
        }
    }
}

/// The value of one Application parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// `string: …`
    String(String),
    /// `array: […]`
    Array(Vec<String>),
    /// `map: {…}`
    Map(IndexMap<String, String>),
}

/// One Application parameter (`spec.source.plugin.parameters[]`). Parameters are visible in
/// the Application and are not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// The name as written in the Application.
    pub name: String,
    /// The value(s). A parameter may carry several forms at once; all are kept.
    pub values: Vec<ParamValue>,
}

/// The Argo CD environment of one plugin command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgoEnv {
    /// `ARGOCD_APP_NAME`.
    pub app_name: Option<String>,
    /// `ARGOCD_APP_NAMESPACE` (the destination namespace).
    pub app_namespace: Option<String>,
    /// `ARGOCD_APP_PROJECT_NAME`.
    pub project: Option<String>,
    /// `ARGOCD_APP_REVISION` (the resolved commit).
    pub revision: Option<String>,
    /// `ARGOCD_APP_SOURCE_REPO_URL`.
    pub repo_url: Option<String>,
    /// `ARGOCD_APP_SOURCE_PATH` (relative to the repository root).
    pub source_path: Option<String>,
    /// `ARGOCD_APP_SOURCE_TARGET_REVISION` (as written in the Application).
    pub target_revision: Option<String>,
    /// `KUBE_VERSION` (`major.minor.patch`).
    pub kube_version: Option<String>,
    /// `KUBE_API_VERSIONS`.
    pub kube_api_versions: Vec<String>,
    /// `ARGOCD_APP_PARAMETERS`, parsed.
    pub parameters: Vec<Parameter>,
    /// `ARGOCD_ENV_<NAME>` names (without the prefix; values are not kept here: the settings
    /// allow-list reads them).
    pub user_env_names: Vec<String>,
}

fn non_empty(v: Option<&OsString>) -> Option<String> {
    v.and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl ArgoEnv {
    /// Reads the process environment.
    pub fn from_process() -> Result<ArgoEnv, CmpError> {
        ArgoEnv::from_vars(std::env::vars_os())
    }

    /// Reads the Argo CD variables from `vars`.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<ArgoEnv, CmpError> {
        let vars: IndexMap<OsString, OsString> = vars.into_iter().collect();
        let get = |k: &str| non_empty(vars.get(&OsString::from(k)));
        let mut env = ArgoEnv {
            app_name: get("ARGOCD_APP_NAME"),
            app_namespace: get("ARGOCD_APP_NAMESPACE"),
            project: get("ARGOCD_APP_PROJECT_NAME"),
            revision: get("ARGOCD_APP_REVISION"),
            repo_url: get("ARGOCD_APP_SOURCE_REPO_URL"),
            source_path: get("ARGOCD_APP_SOURCE_PATH"),
            target_revision: get("ARGOCD_APP_SOURCE_TARGET_REVISION"),
            kube_version: get("KUBE_VERSION"),
            kube_api_versions: get("KUBE_API_VERSIONS")
                .map(|s| {
                    s.split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            ..Default::default()
        };
        if let Some(v) = &env.kube_version {
            validate_kube_version(v)?;
        }
        if let Some(raw) = vars.get(&OsString::from("ARGOCD_APP_PARAMETERS")) {
            let raw = raw.to_str().ok_or_else(|| {
                CmpError::Environment("ARGOCD_APP_PARAMETERS is not UTF-8".to_string())
            })?;
            env.parameters = parse_parameters(raw)?;
        }
        let mut names: Vec<String> = vars
            .keys()
            .filter_map(|k| k.to_str())
            .filter_map(|k| k.strip_prefix("ARGOCD_ENV_"))
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect();
        names.sort();
        env.user_env_names = names;
        Ok(env)
    }

    /// True when the process runs under Argo CD (the build environment is present).
    pub fn is_argocd(&self) -> bool {
        self.app_name.is_some()
    }

    /// The first value of the parameter `name`, if any.
    pub fn param(&self, name: &str) -> Option<&ParamValue> {
        self.parameters
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.values.first())
    }

    /// A short description for messages: `Argo CD application NS/NAME (project P)`.
    pub fn describe(&self) -> String {
        match &self.app_name {
            Some(name) => {
                let mut s = format!("Argo CD application {name}");
                if let Some(p) = &self.project {
                    s.push_str(&format!(" (project {p})"));
                }
                s
            }
            None => "this run".to_string(),
        }
    }

    /// `app_dir` and the repository root, both canonical (the root is the application
    /// directory itself when `ARGOCD_APP_SOURCE_PATH` does not say more): what entries of a
    /// chart or a kustomization may not leave.
    pub fn app_and_root(&self, app_dir: &Path) -> Result<(PathBuf, PathBuf), std::io::Error> {
        let app = app_dir.canonicalize()?;
        let root = self
            .repo_root(&app)
            .and_then(|r| r.canonicalize().ok())
            .unwrap_or_else(|| app.clone());
        Ok((app, root))
    }

    /// The repository root on disk, when `app_dir` ends with `ARGOCD_APP_SOURCE_PATH`.
    pub fn repo_root(&self, app_dir: &Path) -> Option<PathBuf> {
        let rel = self.source_path.as_deref()?;
        let rel = Path::new(rel.trim_matches('/'));
        if rel.as_os_str().is_empty() || rel == Path::new(".") {
            return Some(app_dir.to_path_buf());
        }
        let n = rel.components().count();
        if !app_dir.ends_with(rel) {
            return None;
        }
        let mut root = app_dir.to_path_buf();
        for _ in 0..n {
            root.pop();
        }
        Some(root)
    }
}

/// Parses `ARGOCD_APP_PARAMETERS`: a JSON array of `{"name", "string"|"array"|"map"}` (Argo CD
/// writes `null` when the Application has no parameters).
pub fn parse_parameters(raw: &str) -> Result<Vec<Parameter>, CmpError> {
    let bad = |why: String| CmpError::Environment(format!("ARGOCD_APP_PARAMETERS: {why}"));
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| bad(format!("not JSON ({e})")))?;
    let items = match v {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(a) => a,
        _ => return Err(bad("not a JSON array".to_string())),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let serde_json::Value::Object(obj) = item else {
            return Err(bad(format!("item {i} is not an object")));
        };
        let name = obj
            .get("name")
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad(format!("item {i} has no name")))?
            .to_string();
        let text = |v: &serde_json::Value, what: &str| -> Result<String, CmpError> {
            match v {
                serde_json::Value::String(s) => Ok(s.clone()),
                _ => Err(bad(format!("parameter {name}: {what} is not a string"))),
            }
        };
        let mut values = Vec::new();
        if let Some(s) = obj.get("string") {
            values.push(ParamValue::String(text(s, "string")?));
        }
        match obj.get("array") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(a)) => values.push(ParamValue::Array(
                a.iter()
                    .map(|x| text(x, "an array item"))
                    .collect::<Result<_, _>>()?,
            )),
            Some(_) => return Err(bad(format!("parameter {name}: array is not a list"))),
        }
        match obj.get("map") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(m)) => values.push(ParamValue::Map(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), text(x, "a map value")?)))
                    .collect::<Result<_, CmpError>>()?,
            )),
            Some(_) => return Err(bad(format!("parameter {name}: map is not an object"))),
        }
        out.push(Parameter { name, values });
    }
    Ok(out)
}

/// The environment-variable name Argo CD derives from a parameter name: `PARAM_` + the name
/// upper-cased with every character outside `[A-Z0-9_]` replaced by `_`.
pub fn param_env_name(name: &str) -> String {
    let mut s = String::from("PARAM_");
    s.extend(name.chars().map(|c| {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    s
}

fn validate_kube_version(v: &str) -> Result<(), CmpError> {
    let core = v.strip_prefix('v').unwrap_or(v);
    let core = core.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(CmpError::Environment(format!(
            "KUBE_VERSION {v:?} is not a Kubernetes version (major.minor.patch)"
        )))
    }
}

/// True when `stream` (a YAML/JSON manifest stream) holds at least one non-empty document.
/// Used to refuse an empty manifest set under Argo CD.
pub fn has_objects(stream: &str) -> bool {
    stream.lines().any(|line| {
        let t = line.trim();
        !(t.is_empty()
            || t.starts_with('#')
            || t == "---"
            || t.starts_with("--- ")
            || t == "..."
            || t == "null"
            || t == "~"
            || t == "{}")
    })
}

impl From<CmpError> for crate::error::Error {
    fn from(e: CmpError) -> Self {
        let status = e.exit_status();
        crate::error::Error::component(e, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn reads_the_build_environment() {
        let env = ArgoEnv::from_vars(vars(&[
            ("ARGOCD_APP_NAME", "guestbook"),
            ("ARGOCD_APP_NAMESPACE", "prod"),
            ("ARGOCD_APP_PROJECT_NAME", "team-a"),
            ("ARGOCD_APP_REVISION", "0123456789abcdef"),
            ("ARGOCD_APP_SOURCE_PATH", "apps/guestbook"),
            ("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example/r.git"),
            ("ARGOCD_APP_SOURCE_TARGET_REVISION", "main"),
            ("KUBE_VERSION", "1.31.2"),
            ("KUBE_API_VERSIONS", "v1,apps/v1,apps/v1/Deployment"),
            ("ARGOCD_APP_PARAMETERS", r#"[{"name":"values-files","array":["a.yaml","b.yaml"]},{"name":"release-name","string":"gb"},{"name":"labels","map":{"a":"1"}}]"#),
            ("ARGOCD_ENV_VAULT_ADDR", "https://evil"),
            ("ARGOCD_ENV_AVP_KV_VERSION", "2"),
            ("PATH", "/bin"),
        ]))
        .unwrap();
        assert!(env.is_argocd());
        assert_eq!(env.app_namespace.as_deref(), Some("prod"));
        assert_eq!(env.kube_api_versions.len(), 3);
        assert_eq!(
            env.param("values-files"),
            Some(&ParamValue::Array(vec!["a.yaml".into(), "b.yaml".into()]))
        );
        assert_eq!(
            env.param("release-name"),
            Some(&ParamValue::String("gb".into()))
        );
        assert!(matches!(env.param("labels"), Some(ParamValue::Map(m)) if m["a"] == "1"));
        assert_eq!(env.user_env_names, vec!["AVP_KV_VERSION", "VAULT_ADDR"]);
        assert_eq!(
            env.describe(),
            "Argo CD application guestbook (project team-a)"
        );
        assert_eq!(
            env.repo_root(Path::new("/tmp/_cmp_server/x/apps/guestbook")),
            Some(PathBuf::from("/tmp/_cmp_server/x"))
        );
        assert_eq!(env.repo_root(Path::new("/elsewhere/app")), None);
    }

    #[test]
    fn outside_argocd_everything_is_empty() {
        let env = ArgoEnv::from_vars(vars(&[("PATH", "/bin")])).unwrap();
        assert!(!env.is_argocd());
        assert_eq!(env, ArgoEnv::default());
        assert_eq!(env.describe(), "this run");
    }

    #[test]
    fn parameters_null_and_errors() {
        assert!(parse_parameters("null").unwrap().is_empty());
        assert!(parse_parameters("[]").unwrap().is_empty());
        for bad in [
            "{",
            "{}",
            "[1]",
            "[{}]",
            r#"[{"name":"a","string":1}]"#,
            r#"[{"name":"a","array":"x"}]"#,
        ] {
            let e = parse_parameters(bad).unwrap_err();
            assert_eq!(e.exit_status(), ExitStatus::Usage, "{bad}");
            assert!(e.to_string().starts_with("ARGOCD_APP_PARAMETERS"), "{e}");
        }
        // Argo CD sends empty arrays/maps as [] / {} when set.
        let p = parse_parameters(r#"[{"name":"a","array":[]},{"name":"b","map":{}}]"#).unwrap();
        assert_eq!(p[0].values, vec![ParamValue::Array(vec![])]);
    }

    #[test]
    fn kube_version_is_checked() {
        for ok in ["1.31.2", "v1.29.0", "1.30", "1.28.3-gke.1"] {
            assert!(validate_kube_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "latest", "1", "1.x.3", "1.2.3.4"] {
            assert!(validate_kube_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn param_env_names_like_argocd() {
        assert_eq!(param_env_name("values-files"), "PARAM_VALUES_FILES");
        assert_eq!(param_env_name("a.b/c_d9"), "PARAM_A_B_C_D9");
    }

    #[test]
    fn empty_streams() {
        for empty in [
            "",
            "\n",
            "---\n",
            "---\n---\n",
            "# only a comment\n---\n",
            "null\n",
            "---\n~\n",
        ] {
            assert!(!has_objects(empty), "{empty:?}");
        }
        for full in [
            "apiVersion: v1\nkind: ConfigMap\n",
            "---\n{\"kind\": \"Secret\"}\n",
        ] {
            assert!(has_objects(full), "{full:?}");
        }
    }
}
