//! The run deadline as a hard bound on the whole process (the watchdog).
//!
//! The fetch phase has its own deadline (`resolve::fetch`), but CPU-bound work (modifiers,
//! decryption, YAML) and child processes (`SOPS_AGE_KEY_CMD`, …) run outside it. Commands that
//! render or decrypt call [`arm`] once the deadline is known: a thread waits until then and,
//! unless the output is already being written, kills the process groups of the key commands
//! still running, prints one message to stderr and exits with status 1 — stdout untouched
//! (every such command writes its output once, at the end). The watchdog fires [`GRACE`]
//! after the deadline: the run's own deadline handling (the fetch phase, the Vault client, key
//! commands waiting at most [`remaining`]) reports first, naming what it waited on; the
//! watchdog is the backstop for work that has no such check (CPU-bound work, blocked reads).
//!
//! **The final write is never cut.** [`begin_output`] moves the run from *working* to *writing*
//! atomically; the watchdog moves it from *working* to *expired*. Exactly one of them wins:
//!
//! - the watchdog won: `begin_output` returns false and nothing is written (the process is
//!   exiting with status 1);
//! - the writer won: the watchdog does nothing and the complete, already-verified output is
//!   written. Cutting it would leave a prefix that a reader which ignores the exit status could
//!   take for the whole output; the write itself waits only on the reader.
//!
//! Child processes started through [`Child`] run in their own process group, which the
//! watchdog kills (`SIGKILL`) before it exits; their callers wait for them at most
//! [`remaining`].

use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

const WORKING: u8 = 0;
const WRITING: u8 = 1;
const EXPIRED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(WORKING);
static DEADLINE: OnceLock<(Instant, Duration)> = OnceLock::new();
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// How long after the deadline the watchdog ends the process.
pub const GRACE: Duration = Duration::from_secs(2);

/// Arms the watchdog: the run's deadline is `after` from now, and [`GRACE`] later the process
/// ends (see the module documentation). Only the first call counts.
pub fn arm(after: Duration) {
    let deadline = Instant::now() + after;
    if DEADLINE.set((deadline, after)).is_err() {
        return;
    }
    let at = deadline + GRACE;
    let spawned = std::thread::Builder::new()
        .name("sealbridge-deadline".to_owned())
        .spawn(move || {
            loop {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left);
            }
            expire(after);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the deadline watchdog: {e}");
    }
}

/// Time left before the armed deadline (`None` when no deadline is armed).
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .get()
        .map(|(at, _)| at.saturating_duration_since(Instant::now()))
}

/// The run starts writing its output. False when the deadline has already ended the run (the
/// process is exiting): then nothing may be written.
pub fn begin_output() -> bool {
    match STATE.compare_exchange(WORKING, WRITING, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => true,
        Err(state) => state == WRITING,
    }
}

fn expire(after: Duration) {
    if STATE
        .compare_exchange(WORKING, EXPIRED, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // The output is being written: let it finish.
        return;
    }
    kill_children();
    eprintln!(
        "sealbridge: the run deadline of {} s passed before the work was done; nothing was \
         written (the deadline is SEALBRIDGE_DEADLINE or --deadline)",
        after.as_secs_f64()
    );
    std::process::exit(1);
}

fn kill_children() {
    let groups = match CHILDREN.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    };
    for pgid in groups {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// A child process in its own process group, killed with its group at the deadline.
#[derive(Debug)]
pub struct Child {
    pgid: i32,
}

impl Child {
    /// Registers a child spawned with `process_group(0)` (its pid is its group id).
    pub fn register(pid: u32) -> Child {
        let pgid = i32::try_from(pid).unwrap_or(0);
        if pgid > 0 {
            match CHILDREN.lock() {
                Ok(mut g) => g.push(pgid),
                Err(p) => p.into_inner().push(pgid),
            }
        }
        Child { pgid }
    }

    /// Kills the child's whole process group now.
    pub fn kill(&self) {
        if self.pgid > 0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let mut g = match CHILDREN.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.retain(|p| *p != self.pgid);
    }
}

/// What [`run_captured`] got from a child that ended in time.
#[derive(Debug)]
pub struct Captured {
    /// The exit status.
    pub status: std::process::ExitStatus,
    /// stdout, at most the limit (wiped on drop: a key command's or a tool's output may be
    /// secret).
    pub stdout: zeroize::Zeroizing<Vec<u8>>,
    /// stderr, at most 64 KiB, when it was captured (else empty: it went to ours).
    pub stderr: Vec<u8>,
}

/// Why [`run_captured`] has no [`Captured`].
#[derive(Debug)]
pub enum RunError {
    /// The program could not be started.
    Spawn(std::io::Error),
    /// It did not finish within this many seconds (the run deadline, else the default); its
    /// process group was killed.
    Deadline(u64),
    /// stdout held more than the limit; the process group was killed.
    TooBig,
    /// Waiting for it failed.
    Wait(std::io::Error),
    /// Reading its stdout failed.
    Read(std::io::Error),
}

/// Runs `cmd` in its own process group (registered with the watchdog), `stdin` written to it
/// (else closed), stdout read into wiped memory up to `max_stdout` bytes (more: the group is
/// killed), stderr captured (`capture_stderr`, at most 64 KiB) or passed through. It may run
/// until the run deadline, or `timeout` when none is armed; then its group is killed. The one
/// way helm, kustomize, gpg and the `SOPS_AGE_*_CMD` commands are run.
pub fn run_captured(
    cmd: &mut std::process::Command,
    stdin: Option<zeroize::Zeroizing<Vec<u8>>>,
    max_stdout: u64,
    capture_stderr: bool,
    timeout: Duration,
) -> Result<Captured, RunError> {
    use std::io::{Read as _, Write as _};
    use std::os::unix::process::CommandExt as _;
    use std::process::Stdio;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(if capture_stderr {
        Stdio::piped()
    } else {
        Stdio::inherit()
    })
    .process_group(0);
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    let group = Child::register(child.id());
    let pid = i32::try_from(child.id()).unwrap_or(0);
    let child_stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Feed stdin from its own thread: the child may write before it has read everything.
        let writer = std::thread::spawn(move || {
            if let (Some(mut s), Some(input)) = (child_stdin, stdin) {
                let _ = s.write_all(&input);
            }
        });
        let err_reader = std::thread::spawn(move || {
            let mut e = Vec::new();
            if let Some(s) = stderr {
                let _ = s.take(64 * 1024).read_to_end(&mut e);
            }
            e
        });
        let mut out = zeroize::Zeroizing::new(Vec::new());
        let read = match stdout {
            Some(s) => s
                .take(max_stdout.saturating_add(1))
                .read_to_end(&mut out)
                .map(|_| ()),
            None => Ok(()),
        };
        let too_big = out.len() as u64 > max_stdout;
        if too_big && pid > 0 {
            // The output is refused anyway: stop the child.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = writer.join();
        let err = err_reader.join().unwrap_or_default();
        let _ = tx.send((read, child.wait(), out, err, too_big));
    });
    let limit = remaining().unwrap_or(timeout);
    let Ok((read, status, stdout, stderr, too_big)) = rx.recv_timeout(limit) else {
        group.kill();
        // Killing the group closes its pipes; a process that left the group is not waited for.
        let _ = rx.recv_timeout(Duration::from_secs(1));
        return Err(RunError::Deadline(limit.as_secs()));
    };
    drop(group);
    if too_big {
        return Err(RunError::TooBig);
    }
    let status = status.map_err(RunError::Wait)?;
    read.map_err(RunError::Read)?;
    Ok(Captured {
        status,
        stdout,
        stderr,
    })
}
