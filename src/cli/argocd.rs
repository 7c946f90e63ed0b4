//! `sealbridge argocd discover|generate`: the Argo CD config-management plugin commands
//! (see `plugins/argocd/` and `docs/argocd.md`).

use std::path::PathBuf;

use crate::cmp::discover::{Variant, discover};
use crate::cmp::{ArgoEnv, CmpError, has_objects};
use crate::error::{Error, Result};

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
    /// Resolve every secret reference and print the manifests (`generate.command`). Refuses
    /// to print an empty manifest set.
    Generate {
        /// The plugin variant (for messages).
        #[arg(long, value_enum, default_value = "directory")]
        kind: Variant,
        /// Files or directories of manifests, or `-` for stdin.
        #[arg(value_name = "PATH", default_value = ".")]
        paths: Vec<PathBuf>,
    },
}

/// Runs `argocd`.
pub fn run(args: ArgocdArgs) -> Result<()> {
    match args.step {
        Step::Discover { kind, path } => {
            if let Some(found) = discover(&path, kind) {
                let mut line = found.display().to_string();
                line.push('\n');
                super::write_stdout(line.as_bytes())?;
            }
            Ok(())
        }
        Step::Generate { kind, paths } => {
            let env = ArgoEnv::from_process()?;
            tracing::debug!(
                app = env.app_name.as_deref().unwrap_or("-"),
                namespace = env.app_namespace.as_deref().unwrap_or("-"),
                kube_version = env.kube_version.as_deref().unwrap_or("-"),
                variant = ?kind,
                "argocd generate"
            );
            let out = render(&paths)?;
            if !has_objects(&out) {
                return Err(CmpError::Empty(env.describe()).into());
            }
            super::write_stdout(out.as_bytes())
        }
    }
}

fn render(_paths: &[PathBuf]) -> Result<zeroize::Zeroizing<String>> {
    Err(Error::NotImplemented("argocd generate"))
}
