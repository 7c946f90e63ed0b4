//! `sealbridge completions SHELL`: a shell completion script generated from the clap definition.

use clap::Args;
use clap_complete::Shell;

use crate::error::Result;

/// Arguments of `sealbridge completions`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  source <(sealbridge completions bash)")]
pub struct CompletionsArgs {
    /// The shell to generate the script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script for `args.shell` on stdout.
pub(super) fn run(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = super::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "sealbridge", &mut buf);
    super::write_stdout(&buf)
}
