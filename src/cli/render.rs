//! `sealbridge render` / `generate`.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Arguments of `render` and `generate`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Files or directories of manifests (`.yaml`, `.yml`, `.json`), or `-` for stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Runs `render`.
pub fn run(_args: RenderArgs) -> Result<()> {
    Err(Error::NotImplemented("render"))
}
