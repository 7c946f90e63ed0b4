//! Supervising a child process while sealbridge holds plaintext for it (`exec-env`,
//! `exec-file`, `edit`): SIGINT/SIGTERM/SIGHUP are caught and forwarded to the child, the
//! plaintext lives in a private 0700 directory that is zeroed and removed on drop, `--user`
//! switches only the child. Moved out of `cli/sops.rs` (issue 15: the CLI stays thin).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

fn usage(m: impl Into<String>) -> Error {
    Error::Usage(m.into())
}

/// Creates a new private directory (0700) `<prefix><random>` under `$TMPDIR`.
pub fn private_dir(prefix: &str) -> Result<PrivateDir> {
    use std::os::unix::fs::DirBuilderExt;
    let mut rnd = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut rnd);
    let dir = std::env::temp_dir().join(format!("{prefix}{}", hex::encode(rnd)));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    Ok(PrivateDir { dir, file: None })
}

/// The command line of the child: a single argument runs through `/bin/sh -c` (as sops runs
/// every command), several are run directly.
pub fn child_command(command: &[OsString]) -> Result<std::process::Command> {
    match command {
        [] => Err(usage("no command given")),
        [one] => {
            let mut c = std::process::Command::new("/bin/sh");
            c.arg("-c").arg(one);
            Ok(c)
        }
        [prog, args @ ..] => {
            let mut c = std::process::Command::new(prog);
            c.args(args);
            Ok(c)
        }
    }
}

/// `--user NAME`: the child runs as this user (needs root, as in sops), with `HOME`, `USER`
/// and `LOGNAME` set for it; `chown` gives it the plaintext file.
pub struct RunAs {
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
    name: String,
    home: PathBuf,
}

impl RunAs {
    pub fn lookup(name: Option<&str>) -> Result<Option<RunAs>> {
        let Some(name) = name else {
            return Ok(None);
        };
        match nix::unistd::User::from_name(name) {
            Ok(Some(u)) => Ok(Some(RunAs {
                uid: u.uid,
                gid: u.gid,
                name: u.name,
                home: u.dir,
            })),
            Ok(None) => Err(usage(format!("--user: no such user {name:?}"))),
            Err(e) => Err(usage(format!("--user: cannot look up {name:?}: {e}"))),
        }
    }

    pub fn apply(&self, cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        // std drops the supplementary groups (setgroups(0)) when it switches from root.
        cmd.uid(self.uid.as_raw())
            .gid(self.gid.as_raw())
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name);
    }

    pub fn chown(&self, path: &Path) -> Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw()))
            .map_err(|e| Error::io(path, e))
    }
}

/// SIGINT, SIGTERM and SIGHUP, caught from the moment this exists (so sealbridge is not killed
/// by them while it holds plaintext) and forwarded to the child by [`Signals::wait_child`].
pub struct Signals {
    rt: &'static tokio::runtime::Runtime,
    streams: Vec<(nix::sys::signal::Signal, tokio::signal::unix::Signal)>,
    /// The last signal caught (and forwarded), if any.
    pub caught: Option<nix::sys::signal::Signal>,
}

impl Signals {
    pub fn catch() -> Result<Signals> {
        use nix::sys::signal::Signal;
        use tokio::signal::unix::{SignalKind, signal};
        let rt = crate::runtime::get().map_err(usage)?;
        let streams = {
            let _in_rt = rt.enter();
            [
                (Signal::SIGINT, SignalKind::interrupt()),
                (Signal::SIGTERM, SignalKind::terminate()),
                (Signal::SIGHUP, SignalKind::hangup()),
            ]
            .into_iter()
            .map(|(s, k)| {
                signal(k)
                    .map(|stream| (s, stream))
                    .map_err(|e| usage(format!("cannot handle {s}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?
        };
        Ok(Signals {
            rt,
            streams,
            caught: None,
        })
    }

    /// Waits for a line on standard input (a terminal prompt's answer), or a caught signal:
    /// `Ok(None)` for the line (or end of input), `Ok(Some(signal))` for a signal.
    pub fn wait_line(&mut self) -> Result<Option<nix::sys::signal::Signal>> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("sealbridge-prompt".to_owned())
            .spawn(move || {
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
                let _ = tx.send(());
            })
            .map_err(|e| usage(format!("cannot read the answer: {e}")))?;
        let Signals { rt, streams, .. } = self;
        let got: Option<nix::sys::signal::Signal> = rt.block_on(async {
            let waits = streams.iter_mut().map(|(s, st)| {
                let s = *s;
                Box::pin(async move {
                    st.recv().await;
                    Some(s)
                })
                    as std::pin::Pin<
                        Box<dyn std::future::Future<Output = Option<nix::sys::signal::Signal>>>,
                    >
            });
            let line = Box::pin(async move {
                let _ = rx.await;
                None
            })
                as std::pin::Pin<
                    Box<dyn std::future::Future<Output = Option<nix::sys::signal::Signal>>>,
                >;
            futures_select_all(waits.chain(std::iter::once(line))).await
        });
        if got.is_some() {
            self.caught = got;
        }
        Ok(got)
    }

    /// Starts `cmd` (stdin, stdout, stderr inherited) and waits for it, forwarding the caught
    /// signals to it. Returns the exit code to leave with: the child's, or 128 + N when a
    /// signal N ended it.
    pub fn wait_child(&mut self, cmd: std::process::Command, what: &OsString) -> Result<i32> {
        use std::os::unix::process::ExitStatusExt;
        let Signals {
            rt,
            streams,
            caught: last,
        } = self;
        let status = rt.block_on(async {
            let mut child = tokio::process::Command::from(cmd)
                .spawn()
                .map_err(|e| usage(format!("cannot run {}: {e}", what.to_string_lossy())))?;
            let pid = child
                .id()
                .and_then(|p| i32::try_from(p).ok())
                .map(nix::unistd::Pid::from_raw);
            loop {
                let caught = {
                    let waits = streams.iter_mut().map(|(s, st)| {
                        let s = *s;
                        Box::pin(async move {
                            st.recv().await;
                            s
                        })
                    });
                    let any = futures_select_all(waits);
                    tokio::select! {
                        st = child.wait() => {
                            return st.map_err(|e| usage(format!("cannot wait for {}: {e}", what.to_string_lossy())));
                        }
                        s = any => s,
                    }
                };
                *last = Some(caught);
                if let Some(pid) = pid {
                    let _ = nix::sys::signal::kill(pid, caught);
                }
            }
        })?;
        Ok(match (status.code(), status.signal()) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 1,
        })
    }
}

/// The first of `futs` to finish (a tiny `select_all` without another dependency).
async fn futures_select_all<T, F>(futs: impl Iterator<Item = std::pin::Pin<Box<F>>>) -> T
where
    F: std::future::Future<Output = T> + ?Sized,
{
    let mut futs: Vec<_> = futs.collect();
    std::future::poll_fn(move |cx| {
        for f in &mut futs {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                return std::task::Poll::Ready(v);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Leaves with `code` (0: normal return).
pub fn exit_with(code: i32) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    std::process::exit(code);
}

/// The private temporary directory (0700) of `exec-file` and the plaintext in it. On drop the
/// plaintext file's contents are overwritten with zeros through the descriptor it was written
/// with (so a path swapped by the child is never followed) and the directory is removed.
pub struct PrivateDir {
    /// The directory.
    pub dir: PathBuf,
    /// The regular file (`--no-fifo`, `edit`) and its descriptor; `None` for a FIFO.
    pub file: Option<std::fs::File>,
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Some(f) = &mut self.file {
            zero_file(f);
        }
        // Whatever else is in the directory now (an editor's file renamed over ours, its swap
        // and backup files, copies the command made) is overwritten too before removal.
        zero_tree(&self.dir, 8);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Overwrites a regular file's contents with zeros through `f`.
fn zero_file(f: &mut std::fs::File) {
    use std::io::{Seek, Write};
    let Ok(md) = f.metadata() else { return };
    if !md.is_file() {
        return;
    }
    let zeros = vec![0u8; 64 * 1024];
    let mut left = md.len();
    if f.rewind().is_ok() {
        while left > 0 {
            let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
            if f.write_all(&zeros[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = f.sync_all();
    }
}

/// Zeroes every regular file below `dir` (never following a symlink, never blocking on a FIFO).
fn zero_tree(dir: &Path, depth: usize) {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ty) = e.file_type() else { continue };
        if ty.is_dir() && depth > 0 {
            zero_tree(&e.path(), depth - 1);
        } else if ty.is_file()
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
                .open(e.path())
        {
            zero_file(&mut f);
        }
    }
}

/// Writes `plain` into the FIFO once a reader opens it (as sops: one reader gets the whole
/// plaintext; the FIFO is not refilled). Runs on its own thread, because opening a FIFO for
/// writing blocks until the command opens it for reading.
pub fn feed_fifo(path: PathBuf, plain: Zeroizing<Vec<u8>>) -> Result<()> {
    std::thread::Builder::new()
        .name("sealbridge-fifo".to_owned())
        .spawn(move || {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&path) {
                let _ = f.write_all(&plain);
            }
            drop(plain);
        })
        .map(|_| ())
        .map_err(|e| usage(format!("cannot start the FIFO writer: {e}")))
}
