//! `sealbridge argocd generate --kind helm`: runs `helm template` for the application's chart
//! (argv, no shell) with every Application-controlled value validated first, and returns its
//! stdout for the render engine.
//!
//! What an Application controls (parameters, names) never reaches helm as a flag: each value
//! is checked (release name and namespace are DNS-1123 labels, values files are existing
//! regular files inside the application directory, `skip-crds` is `true|false`, API versions
//! are `group/version[/Kind]`), options are passed as `--name=value` and the positionals after
//! `--`. helm runs with cwd = the application directory, stdin closed, in its own process
//! group killed at the run deadline; its stdout is bounded by `SEALBRIDGE_MAX_OUTPUT` and held
//! in memory only.

use std::ffi::OsString;
use std::path::Path;

use zeroize::Zeroizing;

use super::{ArgoEnv, ParamValue};
use crate::error::{Error, Result};

/// helm's limit on release names.
const MAX_RELEASE_NAME: usize = 53;

/// A values file whose plaintext sealbridge hands to helm (a sops-encrypted values file, the
/// inline `values` parameter): `args[index]` becomes `--values=<FIFO>`.
#[derive(Debug)]
pub struct Pending {
    /// The index of its `--values=` argument.
    pub index: usize,
    /// What to feed.
    pub source: PendingSource,
}

/// Where a pending values file comes from.
#[derive(Debug)]
pub enum PendingSource {
    /// A sops-encrypted file (relative to the application directory, already checked).
    Sops(String),
    /// The inline `values` parameter.
    Inline(Zeroizing<String>),
}

/// The validated `helm template` arguments (after the binary name).
pub fn template_args(env: &ArgoEnv, app_dir: &Path) -> Result<Vec<OsString>> {
    template_args_with_values(env, app_dir).map(|(a, _)| a)
}

/// [`template_args`] and the values files sealbridge must feed (decrypted or inline).
pub fn template_args_with_values(
    env: &ArgoEnv,
    app_dir: &Path,
) -> Result<(Vec<OsString>, Vec<Pending>)> {
    let mut pending = Vec::new();
    let release = release_name(env)?;
    let mut args: Vec<OsString> = vec!["template".into()];
    if let Some(ns) = env.app_namespace.as_deref() {
        if !is_dns_label(ns, 63) {
            return Err(Error::Usage(format!(
                "ARGOCD_APP_NAMESPACE {ns:?} is not a DNS-1123 label; set the Application's \
                 destination namespace to lowercase letters, digits and '-'"
            )));
        }
        args.push(format!("--namespace={ns}").into());
    }
    if let Some(v) = env.kube_version.as_deref() {
        // Already checked to be major.minor[.patch] by ArgoEnv.
        if v.starts_with('-') {
            return Err(Error::Usage(format!("KUBE_VERSION {v:?} is not a version")));
        }
        args.push(format!("--kube-version={v}").into());
    }
    for v in &env.kube_api_versions {
        if !is_api_version(v) {
            return Err(Error::Usage(format!(
                "KUBE_API_VERSIONS entry {v:?} is not group/version[/Kind]"
            )));
        }
        args.push(format!("--api-versions={v}").into());
    }
    let canon_app = app_dir.canonicalize().map_err(|e| Error::io(app_dir, e))?;
    for (i, f) in values_files(env)?.iter().enumerate() {
        // helm-secrets' form: `secrets://values.enc.yaml` (the file must be sops-encrypted);
        // a plain path whose file is sops-encrypted is decrypted too (helm would otherwise
        // template the `ENC[…]` strings).
        let (path, explicit) = match f.strip_prefix("secrets://") {
            Some(rest) => (rest, true),
            None => (f.as_str(), false),
        };
        check_values_file(i, path, &canon_app)?;
        if explicit || looks_sops(&canon_app.join(path)) {
            pending.push(Pending {
                index: args.len(),
                source: PendingSource::Sops(path.to_owned()),
            });
            args.push("--values=".into());
        } else {
            args.push(format!("--values={path}").into());
        }
    }
    if let Some(inline) = string_param(env, "values")?.filter(|v| !v.trim().is_empty()) {
        let inline = Zeroizing::new(inline);
        match crate::yaml::parse_stream(&inline) {
            Ok(docs)
                if docs.len() <= 1 && docs.iter().all(|d| d.is_empty() || d.root.is_mapping()) => {}
            _ => {
                return Err(Error::Usage(
                    "parameter values is not a YAML mapping (helm values)".to_owned(),
                ));
            }
        }
        pending.push(Pending {
            index: args.len(),
            source: PendingSource::Inline(inline),
        });
        args.push("--values=".into());
    }
    match string_param(env, "skip-crds")?.as_deref() {
        None | Some("false") => args.push("--include-crds".into()),
        Some("true") => {}
        Some(other) => {
            return Err(Error::Usage(format!(
                "parameter skip-crds is {other:?}; set it to \"true\" or \"false\""
            )));
        }
    }
    args.push("--".into());
    args.push(release.into());
    args.push(".".into());
    Ok((args, pending))
}

/// A file with sops metadata ([`crate::sops::looks_encrypted`]): read at most 4 MiB.
fn looks_sops(path: &Path) -> bool {
    use std::io::Read as _;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut text = Vec::new();
    if f.take(4 << 20).read_to_end(&mut text).is_err() {
        return false;
    }
    crate::sops::looks_encrypted(&String::from_utf8_lossy(&text))
}

/// The release name: the `release-name` parameter, else the Application name (without the
/// `<namespace>_` prefix Argo CD adds for Applications outside its own namespace).
pub fn release_name(env: &ArgoEnv) -> Result<String> {
    if let Some(name) = string_param(env, "release-name")? {
        if !is_dns_label(&name, MAX_RELEASE_NAME) {
            return Err(Error::Usage(format!(
                "parameter release-name {name:?} is not a valid release name; use a DNS-1123 \
                 label of at most {MAX_RELEASE_NAME} characters (lowercase letters, digits and \
                 '-', starting and ending with a letter or digit)"
            )));
        }
        return Ok(name);
    }
    let Some(app) = env.app_name.as_deref() else {
        return Err(Error::Usage(
            "no release name: set the parameter release-name (ARGOCD_APP_NAME is not set)"
                .to_owned(),
        ));
    };
    let name = app.split_once('_').map_or(app, |(_, n)| n);
    if !is_dns_label(name, MAX_RELEASE_NAME) {
        return Err(Error::Usage(format!(
            "the Application name {name:?} (ARGOCD_APP_NAME) is not a valid release name (a \
             DNS-1123 label of at most {MAX_RELEASE_NAME} characters); set the parameter \
             release-name"
        )));
    }
    Ok(name.to_owned())
}

fn string_param(env: &ArgoEnv, name: &str) -> Result<Option<String>> {
    match env.param(name) {
        None => Ok(None),
        Some(ParamValue::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::Usage(format!("parameter {name} must be a string"))),
    }
}

fn values_files(env: &ArgoEnv) -> Result<Vec<String>> {
    match env.param("values-files") {
        None => Ok(Vec::new()),
        Some(ParamValue::Array(a)) => Ok(a.clone()),
        Some(ParamValue::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(_) => Err(Error::Usage(
            "parameter values-files must be an array of relative paths".to_owned(),
        )),
    }
}

fn check_values_file(i: usize, f: &str, canon_app: &Path) -> Result<()> {
    use crate::backend::sops::{Escape, confine_file};
    let refuse = |why: &str| {
        Error::Usage(format!(
            "parameter values-files[{i}] {f:?} {why}; values files must be relative paths to \
             regular files inside the application directory"
        ))
    };
    if f.is_empty() {
        return Err(refuse("is empty"));
    }
    if f.starts_with('-') {
        return Err(refuse("starts with '-'"));
    }
    if f.contains(':') {
        return Err(refuse("looks like a URL (contains ':')"));
    }
    confine_file(canon_app, f).map(drop).map_err(|e| match e {
        Escape::Empty => refuse("is empty"),
        Escape::Absolute => refuse("is absolute"),
        Escape::ParentDir => refuse("has a '..' component"),
        Escape::Open(_) => refuse("does not exist"),
        Escape::Symlink => refuse("leaves the application directory (symlink)"),
        Escape::NotAFile => refuse("is not a regular file"),
    })
}

/// A DNS-1123 label of at most `max` characters.
pub fn is_dns_label(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// `version`, `group/version` or `group/version/Kind`, with no leading `-`.
fn is_api_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    !s.starts_with('-')
        && (1..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        })
}

/// Runs `helm template` in `app_dir` and returns its stdout (at most `max_output` bytes).
/// helm's stderr (chart errors, not secret) goes to ours.
///
/// Values files sealbridge feeds (sops-encrypted ones, decrypted with `sops`; the inline
/// `values` parameter) reach helm through FIFOs in a private 0700 directory: the plaintext
/// never touches the disk, and the directory is removed when helm is done.
pub fn template(
    env: &ArgoEnv,
    app_dir: &Path,
    max_output: usize,
    sops: &crate::sops::DecryptOptions,
) -> Result<Zeroizing<String>> {
    let (mut args, pending) = template_args_with_values(env, app_dir)?;
    let guard = if pending.is_empty() {
        None
    } else {
        Some(crate::supervise::private_dir("sealbridge-helm-")?)
    };
    if let Some(g) = &guard {
        let canon_app = app_dir.canonicalize().map_err(|e| Error::io(app_dir, e))?;
        for (n, p) in pending.into_iter().enumerate() {
            let plain: Zeroizing<Vec<u8>> = match p.source {
                PendingSource::Sops(rel) => {
                    let path = canon_app.join(&rel);
                    let d = crate::sops::decrypt_file(&path, sops)
                        .map_err(|e| Error::Refused(format!("values file {rel}: {e}")))?;
                    d.emit(crate::sops::Format::from_path(&path))
                        .map_err(|e| Error::Refused(format!("values file {rel}: {e}")))?
                }
                PendingSource::Inline(text) => Zeroizing::new(text.as_bytes().to_vec()),
            };
            let fifo = g.dir.join(format!("values-{n}.yaml"));
            nix::unistd::mkfifo(
                &fifo,
                nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
            )
            .map_err(|e| Error::io(&fifo, std::io::Error::from(e)))?;
            crate::supervise::feed_fifo(fifo.clone(), plain)?;
            let mut arg = OsString::from("--values=");
            arg.push(&fifo);
            args[p.index] = arg;
        }
    }
    let out = super::tool::Tool {
        what: "helm template",
        env_var: "SEALBRIDGE_HELM",
        default: "helm",
    }
    .run(&args, app_dir, max_output);
    drop(guard);
    out
}

/// The files that can name chart dependencies (helm reads the lock files in
/// `dependency build`; `requirements.*` are apiVersion v1 charts').
const DEPENDENCY_FILES: &[&str] = &[
    "Chart.yaml",
    "Chart.lock",
    "requirements.yaml",
    "requirements.lock",
];

/// `sealbridge argocd init --kind helm`: checks every dependency repository of the chart in
/// `app_dir`, then runs `helm dependency build` (nothing when the chart has no dependencies).
///
/// A repository is allowed when it is empty (the chart is vendored in `charts/`), a named
/// repository of the sidecar's own helm configuration (`@name`, `alias:name`: the operator's),
/// a `file://` path that stays inside the repository, or a URL the operator listed in
/// `SEALBRIDGE_HELM_REPOSITORIES` (comma- or whitespace-separated prefixes). Anything else
/// would make the sidecar fetch a URL, or read a chart from a path, that the repository
/// chose.
pub fn dependencies(env: &ArgoEnv, app_dir: &Path, max_output: usize) -> Result<()> {
    let (app, root) = env
        .app_and_root(app_dir)
        .map_err(|e| Error::io(app_dir, e))?;
    let allowed = std::env::var("SEALBRIDGE_HELM_REPOSITORIES").unwrap_or_default();
    let allowed: Vec<&str> = allowed
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('/'))
        .collect();
    let mut any = false;
    for file in DEPENDENCY_FILES {
        let path = app.join(file);
        if !path.is_file() {
            continue;
        }
        for (i, repo) in dependency_repositories(&path, file)?.iter().enumerate() {
            any = true;
            check_repository(file, i, repo, &app, &root, &allowed)?;
        }
    }
    if !any {
        return Ok(());
    }
    let args: Vec<OsString> = vec!["dependency".into(), "build".into(), "--".into(), ".".into()];
    super::tool::Tool {
        what: "helm dependency build",
        env_var: "SEALBRIDGE_HELM",
        default: "helm",
    }
    .run(&args, &app, max_output)
    .map(drop)
}

/// The `repository` of each entry of `dependencies` (missing: empty).
fn dependency_repositories(path: &Path, name: &str) -> Result<Vec<String>> {
    let bad = |why: String| Error::Refused(format!("{name}: {why}"));
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > 1024 * 1024 {
        return Err(bad("is larger than 1 MiB".to_owned()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let docs = crate::yaml::parse_stream(&text).map_err(|e| bad(e.to_string()))?;
    let Some(doc) = docs.into_iter().find(|d| !d.is_empty()) else {
        return Ok(Vec::new());
    };
    let v = crate::yaml::to_json(&doc.root).map_err(|e| bad(e.to_string()))?;
    let deps = match v.get("dependencies") {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(a)) => a,
        Some(_) => return Err(bad("dependencies is not a list".to_owned())),
    };
    deps.iter()
        .enumerate()
        .map(|(i, d)| match d.get("repository") {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(bad(format!("dependencies[{i}].repository is not a string"))),
        })
        .collect()
}

fn check_repository(
    file: &str,
    i: usize,
    repo: &str,
    app: &Path,
    root: &Path,
    allowed: &[&str],
) -> Result<()> {
    let refuse = |why: &str| {
        Error::Refused(format!(
            "{file}: dependencies[{i}].repository {repo:?} {why}"
        ))
    };
    if repo.is_empty() || repo.starts_with('@') || repo.starts_with("alias:") {
        return Ok(());
    }
    if let Some(rel) = repo.strip_prefix("file://") {
        if Path::new(rel).is_absolute() {
            return Err(refuse(
                "is an absolute path; a file:// dependency must be a relative path inside the                  repository",
            ));
        }
        let full = app.join(rel).canonicalize().map_err(|_| {
            refuse("does not exist; a file:// dependency must be a chart inside the repository")
        })?;
        if !full.starts_with(root) {
            return Err(refuse(
                "resolves outside the repository; a file:// dependency must be a chart inside                  the repository",
            ));
        }
        return Ok(());
    }
    let url = repo.trim_end_matches('/');
    let listed = allowed.iter().any(|a| {
        url == *a
            || url
                .strip_prefix(a)
                .is_some_and(|rest| rest.starts_with('/'))
    });
    if listed
        && (url.starts_with("https://") || url.starts_with("http://") || url.starts_with("oci://"))
    {
        return Ok(());
    }
    Err(refuse(
        "is not a repository the sidecar may fetch from: the operator lists chart repositories          in SEALBRIDGE_HELM_REPOSITORIES (URL prefixes); otherwise vendor the chart into charts/          or use a file:// path inside the repository",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("a", 53));
        assert!(is_dns_label("guest-book1", 53));
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "--set-file=x",
            "a.b",
            &"a".repeat(54),
        ] {
            assert!(!is_dns_label(bad, 53), "{bad}");
        }
    }

    #[test]
    fn api_versions() {
        for ok in [
            "v1",
            "apps/v1",
            "apps/v1/Deployment",
            "networking.k8s.io/v1",
        ] {
            assert!(is_api_version(ok), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "--post-renderer=/x",
            "a//b",
            "a/b/c/d",
            "a b",
            "a=b",
        ] {
            assert!(!is_api_version(bad), "{bad}");
        }
    }

    #[test]
    fn default_release_strips_namespace_prefix() {
        let env = ArgoEnv {
            app_name: Some("team-a_guestbook".to_owned()),
            ..ArgoEnv::default()
        };
        assert_eq!(release_name(&env).ok().as_deref(), Some("guestbook"));
        let env = ArgoEnv {
            app_name: Some("--post-renderer=x".to_owned()),
            ..ArgoEnv::default()
        };
        assert!(release_name(&env).is_err());
    }
}
