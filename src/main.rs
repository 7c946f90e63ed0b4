//! The `sealbridge` binary: parse arguments, run, map the outcome to an exit code.
//!
//! Everything else lives in the library; see `docs/cli.md` for the exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    sealbridge::cli::main_entry(std::env::args_os().collect())
}
