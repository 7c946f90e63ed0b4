//! `sealbridge argocd generate --kind kustomize`: checks the kustomization graph
//! ([`crate::kustomize::walk`]), then runs `kustomize build` (argv, no shell) with exec plugins
//! enabled only when the tree uses sealbridge's SecretGenerator or ksops and every
//! configuration kustomize would load has been checked. The build output goes to the render
//! engine.
//!
//! Operator settings (the sidecar's environment; an Application's `plugin.env` arrives as
//! `ARGOCD_ENV_*` and never reaches these):
//! - `SEALBRIDGE_KUSTOMIZE`: the binary (default `kustomize` on PATH; a binary named `kubectl`
//!   is run as `kubectl kustomize`);
//! - `KUSTOMIZE_BUILD_OPTIONS`: extra options, whitespace-separated (e.g. `--enable-helm`);
//!   `--enable-alpha-plugins` and `--enable-exec` are refused there (sealbridge decides the
//!   first per tree, never the second);
//! - `SEALBRIDGE_KUSTOMIZE_REMOTE=true`: allow remote bases in trees without exec plugins;
//! - `SEALBRIDGE_KUSTOMIZE_PLUGINS`: more allowed exec plugins, `group/version/Kind` list.

use std::ffi::OsString;
use std::path::Path;

use zeroize::Zeroizing;

use super::ArgoEnv;
use crate::error::{Error, Result};
use crate::kustomize::{self, Rules};

/// The kustomize invocation.
const TOOL: super::tool::Tool<'static> = super::tool::Tool {
    what: "kustomize build",
    env_var: "SEALBRIDGE_KUSTOMIZE",
    default: "kustomize",
};

/// Options only sealbridge sets.
const MANAGED_OPTIONS: &[&str] = &["--enable-alpha-plugins", "--enable-exec"];

/// The checked `kustomize build` arguments (after the binary name) for `app_dir`.
pub fn build_args(env: &ArgoEnv, app_dir: &Path) -> Result<Vec<OsString>> {
    let (app, root) = env
        .app_and_root(app_dir)
        .map_err(|e| Error::io(app_dir, e))?;
    let extra = std::env::var("SEALBRIDGE_KUSTOMIZE_PLUGINS").ok();
    let rules = Rules::new(root, extra.as_deref()).map_err(Error::Usage)?;
    let graph = kustomize::walk(&app, &rules)?;
    let mut args: Vec<OsString> = Vec::new();
    if is_kubectl(&TOOL.program()) {
        args.push("kustomize".into());
    } else {
        args.push("build".into());
    }
    if graph.needs_plugins() {
        graph.plugins_safe()?;
        args.push("--enable-alpha-plugins".into());
    } else if std::env::var("SEALBRIDGE_KUSTOMIZE_REMOTE").as_deref() != Ok("true")
        && let Some(e) = graph.remote_error()
    {
        return Err(e.into());
    }
    let options = std::env::var("KUSTOMIZE_BUILD_OPTIONS").unwrap_or_default();
    for o in options.split_whitespace() {
        let name = o.split('=').next().unwrap_or(o);
        if MANAGED_OPTIONS.contains(&name) {
            return Err(Error::Usage(format!(
                "KUSTOMIZE_BUILD_OPTIONS holds {name}, which sealbridge manages: exec plugins \
                 are enabled per tree after its configurations are checked, exec functions \
                 never; remove it"
            )));
        }
        args.push(o.into());
    }
    args.push(".".into());
    tracing::debug!(
        kustomizations = graph.kustomizations.len(),
        plugins = graph.plugins.len(),
        "kustomization tree checked"
    );
    Ok(args)
}

/// Runs `kustomize build` in `app_dir` (see the module documentation); returns its stdout (at
/// most `max_output` bytes).
pub fn build(env: &ArgoEnv, app_dir: &Path, max_output: usize) -> Result<Zeroizing<String>> {
    let args = build_args(env, app_dir)?;
    TOOL.run(&args, app_dir, max_output)
}

fn is_kubectl(program: &std::ffi::OsStr) -> bool {
    Path::new(program)
        .file_name()
        .is_some_and(|n| n == "kubectl")
}
