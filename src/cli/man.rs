//! `sealbridge man`: roff man pages generated from the clap definition.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};

/// Arguments of `sealbridge man`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sealbridge man | man -l -\n  sealbridge man --dir /usr/local/share/man/man1"
)]
pub struct ManArgs {
    /// Write one page per command (sealbridge.1, sealbridge-render.1, …) into this directory
    /// instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints the main page, or writes every page into `args.dir`.
pub(super) fn run(args: &ManArgs) -> Result<()> {
    let cmd = super::command();
    match &args.dir {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| Error::Usage(format!("cannot render the man page: {e}")))?;
            super::write_stdout(&buf)
        }
        Some(dir) => clap_mangen::generate_to(cmd, dir).map_err(|e| {
            Error::Usage(format!(
                "cannot write man pages into {}: {e}; check that the directory exists and is writable",
                dir.display()
            ))
        }),
    }
}
