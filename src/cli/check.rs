//! `sealbridge check`: static findings (see [`crate::check`] and docs/check.md).

use std::path::PathBuf;

use crate::check::{self, Format, Options};
use crate::error::{Error, Result};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 no findings, 1 findings, 2 usage error.\n\n\
Example:\n  sealbridge check --format sarif . > sealbridge.sarif\n\n\
Environment: none. `check` reads only the files under PATH: no settings, no credentials, no \
network, and it never decrypts or prints a value (docs/check.md)."
)]
pub struct CheckArgs {
    /// Files or directories to check (default `.`). Directories are walked like `render`
    /// walks them (hidden entries skipped, symbolic links confined to the directory), and
    /// every file is searched for key material.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Do not report key material in files matching this glob (path or file name; `*`, `**`,
    /// `?`), e.g. a demo key: `--allow-key-file 'examples/**/demo-age-key.txt'`. Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub allow_key_file: Vec<String>,
}

/// Runs `check`: the findings on stdout, exit 1 when there is any.
pub fn run(args: CheckArgs) -> Result<()> {
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(Error::Usage(
            "check reads files and directories, not stdin; give a path".to_owned(),
        ));
    }
    let allow_key_files = args
        .allow_key_file
        .iter()
        .map(|g| {
            crate::policy::glob::Glob::new(g)
                .map_err(|e| Error::Usage(format!("--allow-key-file {g:?}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = Options {
        paths: args.paths,
        allow_key_files,
    };
    let findings = check::run(&opts).map_err(Error::Usage)?;
    super::write_stdout(check::render(&findings, args.format).as_bytes())?;
    match findings.len() {
        0 => Ok(()),
        n => Err(Error::Refused(format!(
            "{n} finding{}",
            if n == 1 { "" } else { "s" }
        ))),
    }
}
