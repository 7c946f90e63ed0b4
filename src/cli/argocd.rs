//! `sealbridge argocd discover|generate`: the Argo CD config-management plugin commands
//! (see `plugins/argocd/` and `docs/argocd.md`).

use std::path::PathBuf;

use crate::cmp::discover::{Variant, discover};
use crate::cmp::{ArgoEnv, CmpError};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::manifest::Input;
use crate::resolve;
use crate::settings::{Flags, Settings};

/// Arguments of `argocd`.
#[derive(Debug, clap::Args)]
pub struct ArgocdArgs {
    /// The plugin step.
    #[command(subcommand)]
    pub step: Step,
}

/// The plugin steps.
#[derive(Debug, clap::Subcommand)]
pub enum Step {
    /// Print the first file that makes this plugin variant responsible for the application
    /// (`discover.find.command`); prints nothing when it is not. Always exits 0.
    Discover {
        /// The plugin variant.
        #[arg(long, value_enum)]
        kind: Variant,
        /// The application directory (default: the current directory, as Argo CD runs it).
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Prepare the application (`init.command`): for `--kind helm`, check the chart's
    /// dependency repositories and run `helm dependency build`; nothing for the others.
    Init {
        /// The plugin variant.
        #[arg(long, value_enum)]
        kind: Variant,
    },
    /// Resolve every secret reference and print the manifests (`generate.command`). Refuses
    /// to print an empty manifest set.
    Generate {
        /// The plugin variant (`helm` and `kustomize` without a path run `helm template` /
        /// `kustomize build` on the application directory after checking it).
        #[arg(long, value_enum, default_value = "directory")]
        kind: Variant,
        /// Files or directories of manifests, or `-` for stdin. With `--kind helm` or
        /// `--kind kustomize` and no path (or `.`), runs `helm template` / `kustomize build` on
        /// the current directory.
        #[arg(value_name = "PATH", default_value = ".")]
        paths: Vec<PathBuf>,
        /// Read settings from a Kubernetes Secret, `[NAMESPACE:]NAME` (namespace default
        /// `argocd`), as argocd-vault-plugin's `-s`. Only the plugin configuration can set it.
        /// Needs a build with `--features kube`.
        #[arg(short = 's', long = "secret-name", value_name = "[NAMESPACE:]NAME")]
        secret_name: Option<String>,
        /// The settings file (same as the global `--settings`; argocd-vault-plugin's
        /// `-c/--config-path`).
        #[arg(
            short = 'c',
            long = "config",
            visible_alias = "config-path",
            value_name = "FILE"
        )]
        config: Option<PathBuf>,
    },
}

/// Runs `argocd`.
pub(super) fn run(args: ArgocdArgs, mut flags: Flags) -> Result<()> {
    match args.step {
        Step::Discover { kind, path } => {
            // Discovery never fails: a malformed Argo CD environment only loses the repository
            // root (the walk then stays in the application directory).
            let root = ArgoEnv::from_process().ok().and_then(|env| {
                let app = path.canonicalize().ok()?;
                env.repo_root(&app)
            });
            if let Some(found) = discover(&path, kind, root.as_deref()) {
                let mut line = found.display().to_string();
                line.push('\n');
                super::write_stdout(line.as_bytes())?;
            }
            Ok(())
        }
        Step::Init { kind } => {
            let settings = Settings::load(&flags)?;
            super::arm_deadline(settings.deadline);
            let env = ArgoEnv::from_process()?;
            if kind == Variant::Helm {
                let dir = std::env::current_dir().map_err(|e| Error::io(".", e))?;
                crate::cmp::helm::dependencies(&env, &dir, settings.max_output)?;
            }
            Ok(())
        }
        Step::Generate {
            kind,
            paths,
            secret_name,
            config,
        } => {
            if let Some(c) = config {
                if flags.config.as_ref().is_some_and(|f| f != &c) {
                    return Err(Error::Usage(
                        "--settings and --config name different files; give one".to_owned(),
                    ));
                }
                flags.config = Some(c);
            }
            // Settings first: an Application setting a guarded ARGOCD_ENV_* variable is a
            // usage error (exit 2) before anything is read or fetched — including the Secret.
            let ctx = Context::load_with_secret(flags, secret_name.as_deref())?;
            let settings = ctx.settings();
            super::arm_deadline(settings.deadline);
            let env = ArgoEnv::from_process()?;
            if settings.policy.is_none() {
                tracing::warn!(
                    "no tenancy policy (SEALBRIDGE_POLICY): every Application rendered by this \
                     sidecar shares its Vault login and sops keys (docs/policy.md)"
                );
            }
            tracing::debug!(
                app = env.app_name.as_deref().unwrap_or("-"),
                namespace = env.app_namespace.as_deref().unwrap_or("-"),
                kube_version = env.kube_version.as_deref().unwrap_or("-"),
                variant = ?kind,
                "argocd generate"
            );
            let inputs: Vec<Input> = match kind {
                Variant::Helm if paths.iter().all(|p| p.as_os_str() == ".") => {
                    let dir = std::env::current_dir().map_err(|e| Error::io(".", e))?;
                    // sops-encrypted values files are decrypted with this run's keys (the
                    // tenant's under a tenancy policy).
                    let sops = ctx.sops_options();
                    let text = crate::cmp::helm::template(&env, &dir, settings.max_output, &sops)?;
                    let name = "<helm template>".to_owned();
                    vec![Input::Text { name, text }]
                }
                Variant::Kustomize if paths.iter().all(|p| p.as_os_str() == ".") => {
                    let dir = std::env::current_dir().map_err(|e| Error::io(".", e))?;
                    let text = crate::cmp::kustomize::build(&env, &dir, settings.max_output)?;
                    let name = "<kustomize build>".to_owned();
                    vec![Input::Text { name, text }]
                }
                _ => paths.iter().map(|p| Input::from_arg(p)).collect(),
            };
            let rendered = render(&ctx, &inputs)?;
            if rendered.documents == 0 || !rendered.output.has_objects() {
                return Err(CmpError::Empty(env.describe()).into());
            }
            super::write_stdout_parts(rendered.output.parts().map(str::as_bytes))
        }
    }
}

/// The render engine over `paths`, with `sops://` files confined to the application directory
/// (argocd-cmp-server's working directory).
fn render(ctx: &Context, inputs: &[Input]) -> Result<resolve::Rendered> {
    if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
        return Err(Error::Usage(
            "`-` (stdin) can be given only once".to_owned(),
        ));
    }
    let app_dir = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let opts = ctx.render_options(Some(app_dir))?;
    let backends = ctx.backends(&opts);
    let rendered = resolve::render_inputs(inputs, &backends, &opts)?;
    tracing::debug!(
        documents = rendered.documents,
        secrets = rendered.fetched,
        "rendered"
    );
    Ok(rendered)
}
