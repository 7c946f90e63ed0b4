//! `sealbridge policy check`: which tenant of the tenancy policy an Application gets, and which
//! of its references would be allowed or refused — without fetching or decrypting anything.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::manifest::Input;
use crate::policy::{AppIdentity, Policy};
use crate::resolve;
use crate::settings::{Flags, Settings};

/// Arguments of `policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// The policy step.
    #[command(subcommand)]
    pub step: Step,
}

/// The policy commands.
#[derive(Debug, clap::Subcommand)]
pub enum Step {
    /// Explain which tenant matches an Application (the values Argo CD would set) and which
    /// references under PATH would be allowed or refused. Nothing is fetched or decrypted.
    /// Exit 0: a tenant matches and every reference is allowed; 1: some are refused; 2: no
    /// tenant matches (or the policy is invalid).
    Check {
        /// `ARGOCD_APP_NAME` (`<namespace>_<name>` for an Application outside Argo CD's
        /// namespace).
        #[arg(long, value_name = "NAME")]
        app_name: Option<String>,
        /// `ARGOCD_APP_PROJECT_NAME` (the AppProject).
        #[arg(long, value_name = "PROJECT")]
        project: Option<String>,
        /// `ARGOCD_APP_SOURCE_REPO_URL`.
        #[arg(long, value_name = "URL")]
        repo: Option<String>,
        /// Files or directories of manifests whose references to check.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

/// Runs `policy`.
pub(super) fn run(args: PolicyArgs, flags: &Flags) -> Result<()> {
    let Step::Check {
        app_name,
        project,
        repo,
        paths,
    } = args.step;
    let settings = Settings::load(flags)?;
    let Some(file) = settings.policy.clone() else {
        return Err(Error::Usage(
            "no tenancy policy: give --policy FILE or set SEALBRIDGE_POLICY".to_owned(),
        ));
    };
    let policy = Policy::load(&file)?;
    let app = AppIdentity::new(
        app_name.as_deref(),
        project.as_deref(),
        repo.as_deref(),
        &policy.control_plane_namespace,
    );
    let tenant = policy.select(&app)?;
    let mut out = String::new();
    let _ = writeln!(out, "policy: {}", file.display());
    let _ = writeln!(out, "application: {}", app.describe());
    let _ = writeln!(out, "tenant: {}", tenant.name);
    let _ = writeln!(
        out,
        "  backends: {}",
        tenant
            .backends
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(v) = &tenant.vault {
        let _ = writeln!(
            out,
            "  vault: {} login at auth/{}; paths: {}",
            v.auth.method(),
            v.auth.mount(),
            v.paths
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        out,
        "  sops: {} age key file(s); transit mounts: {}",
        tenant.sops.age_key_files.len(),
        if tenant.sops.transit_mounts.is_empty() {
            "none".to_owned()
        } else {
            tenant.sops.transit_mounts.join(", ")
        }
    );
    let mut refused = 0;
    if !paths.is_empty() {
        // The engine's options as for a run, with this tenant (not the process's Argo CD env).
        let mut opts = Context::operator(settings.clone()).render_options(None)?;
        opts.tenant = Some(tenant.clone());
        let inputs: Vec<Input> = paths.iter().map(|p| Input::from_arg(p)).collect();
        let explained = resolve::explain_inputs(&inputs, &opts)?;
        let _ = writeln!(out, "references: {}", explained.len());
        for (f, ok) in &explained {
            if !ok {
                refused += 1;
            }
            let _ = writeln!(out, "  {} {f}", if *ok { "ok     " } else { "REFUSED" });
        }
        if let Some(max) = tenant.limits.max_references
            && explained.len() > max
        {
            refused += 1;
            let _ = writeln!(
                out,
                "  REFUSED {} references, more than limits.max_references ({max})",
                explained.len()
            );
        }
    }
    super::write_stdout(out.as_bytes())?;
    if refused > 0 {
        return Err(Error::Refused(format!(
            "{refused} reference(s) would be refused for tenant {:?}",
            tenant.name
        )));
    }
    Ok(())
}
