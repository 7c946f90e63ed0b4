//! Runs a rendering tool (helm, kustomize) for the Argo CD plugin: argv only (no shell), cwd =
//! the application directory, stdin closed, its own process group killed at the run deadline,
//! stdout bounded by `SEALBRIDGE_MAX_OUTPUT` and held in memory only (exec plugins print
//! plaintext Secrets into it), stderr passed through (the tool's own messages, no values).

use std::ffi::{OsStr, OsString};
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// How long a tool may run when no run deadline is armed.
const TOOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// A tool invocation.
#[derive(Debug)]
pub struct Tool<'a> {
    /// For messages: `helm template`, `kustomize build`.
    pub what: &'a str,
    /// The operator's variable naming the binary (`SEALBRIDGE_HELM`).
    pub env_var: &'a str,
    /// The binary when that variable is unset (looked up on PATH).
    pub default: &'a str,
}

impl Tool<'_> {
    /// The binary: `$env_var` when set and non-empty, else `default`.
    pub fn program(&self) -> OsString {
        std::env::var_os(self.env_var)
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| self.default.into())
    }

    /// Runs the tool with `args` in `dir`; returns its stdout (at most `max_output` bytes).
    pub fn run(
        &self,
        args: &[OsString],
        dir: &Path,
        max_output: usize,
    ) -> Result<Zeroizing<String>> {
        let program = self.program();
        run(self, &program, args, dir, max_output)
    }
}

fn run(
    tool: &Tool<'_>,
    program: &OsStr,
    args: &[OsString],
    dir: &Path,
    max_output: usize,
) -> Result<Zeroizing<String>> {
    use crate::deadline::RunError;
    let what = tool.what;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).current_dir(dir);
    let limit = u64::try_from(max_output).unwrap_or(u64::MAX);
    let out = crate::deadline::run_captured(&mut cmd, None, limit, false, TOOL_TIMEOUT).map_err(
        |e| match e {
            RunError::Spawn(e) => Error::Refused(format!(
                "cannot run {} ({}, else {} on PATH): {e}",
                Path::new(program).display(),
                tool.env_var,
                tool.default
            )),
            RunError::Deadline(secs) => Error::Refused(format!(
                "{what} did not finish within {secs} s (the run deadline); its process group was \
                 killed"
            )),
            RunError::TooBig => Error::Refused(format!(
                "{what} printed more than {max_output} bytes (SEALBRIDGE_MAX_OUTPUT)"
            )),
            RunError::Wait(e) => Error::Refused(format!("{what}: {e}")),
            RunError::Read(e) => Error::Refused(format!("{what}: cannot read its output: {e}")),
        },
    )?;
    if !out.status.success() {
        return Err(Error::Refused(format!(
            "{what} failed ({}); its messages are above",
            out.status
        )));
    }
    let mut stdout = out.stdout;
    let text = String::from_utf8(std::mem::take(&mut *stdout))
        .map_err(|_| Error::Refused(format!("{what} printed text that is not UTF-8")))?;
    Ok(Zeroizing::new(text))
}
