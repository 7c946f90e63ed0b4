//! Runs a rendering tool (helm, kustomize) for the Argo CD plugin: argv only (no shell), cwd =
//! the application directory, stdin closed, its own process group killed at the run deadline,
//! stdout bounded by `SEALBRIDGE_MAX_OUTPUT` and held in memory only (exec plugins print
//! plaintext Secrets into it), stderr passed through (the tool's own messages, no values).

use std::ffi::{OsStr, OsString};
use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
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
    let what = tool.what;
    let mut child = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|e| {
            Error::Refused(format!(
                "cannot run {} ({}, else {} on PATH): {e}",
                Path::new(program).display(),
                tool.env_var,
                tool.default
            ))
        })?;
    let group = crate::deadline::Child::register(child.id());
    let mut stdout = child.stdout.take();
    let limit = u64::try_from(max_output).unwrap_or(u64::MAX);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Zeroizing::new(Vec::new());
        let read = match stdout.as_mut() {
            Some(s) => s
                .take(limit.saturating_add(1))
                .read_to_end(&mut out)
                .map(|_| ()),
            None => Ok(()),
        };
        let too_big = out.len() as u64 > limit;
        if too_big {
            // Stop the tool: its output is refused anyway.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        drop(stdout);
        let _ = tx.send((read, child.wait(), out, too_big));
    });
    let wait = crate::deadline::remaining().unwrap_or(TOOL_TIMEOUT);
    let Ok((read, status, out, too_big)) = rx.recv_timeout(wait) else {
        group.kill();
        return Err(Error::Refused(format!(
            "{what} did not finish within {} s (the run deadline); its process group was killed",
            wait.as_secs()
        )));
    };
    drop(group);
    if too_big {
        return Err(Error::Refused(format!(
            "{what} printed more than {max_output} bytes (SEALBRIDGE_MAX_OUTPUT)"
        )));
    }
    let status = status.map_err(|e| Error::Refused(format!("{what}: {e}")))?;
    read.map_err(|e| Error::Refused(format!("{what}: cannot read its output: {e}")))?;
    if !status.success() {
        return Err(Error::Refused(format!(
            "{what} failed ({status}); its messages are above"
        )));
    }
    let mut out = out;
    let text = String::from_utf8(std::mem::take(&mut *out))
        .map_err(|_| Error::Refused(format!("{what} printed text that is not UTF-8")))?;
    Ok(Zeroizing::new(text))
}
