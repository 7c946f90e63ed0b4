//! The sops-compatible verbs: `decrypt`, `encrypt`, `exec-env`, `exec-file`, `updatekeys`, `rotate`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Arguments of `decrypt`.
#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The sops-encrypted file.
    pub file: PathBuf,
}

/// Arguments of `encrypt`.
#[derive(Debug, clap::Args)]
pub struct EncryptArgs {
    /// The plaintext file.
    pub file: PathBuf,
}

/// Arguments of `exec-env`.
#[derive(Debug, clap::Args)]
pub struct ExecEnvArgs {
    /// The sops-encrypted file.
    pub file: PathBuf,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<OsString>,
}

/// Arguments of `exec-file`.
#[derive(Debug, clap::Args)]
pub struct ExecFileArgs {
    /// The sops-encrypted file.
    pub file: PathBuf,
    /// The command and its arguments; `{}` is replaced by the plaintext file's path.
    #[arg(last = true, required = true)]
    pub command: Vec<OsString>,
}

/// Arguments of `updatekeys`.
#[derive(Debug, clap::Args)]
pub struct UpdateKeysArgs {
    /// The sops-encrypted file.
    pub file: PathBuf,
}

/// Arguments of `rotate`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The sops-encrypted file.
    pub file: PathBuf,
}

/// Runs `decrypt`.
pub fn decrypt(_a: DecryptArgs) -> Result<()> {
    Err(Error::NotImplemented("decrypt"))
}
/// Runs `encrypt`.
pub fn encrypt(_a: EncryptArgs) -> Result<()> {
    Err(Error::NotImplemented("encrypt"))
}
/// Runs `exec-env`.
pub fn exec_env(_a: ExecEnvArgs) -> Result<()> {
    Err(Error::NotImplemented("exec-env"))
}
/// Runs `exec-file`.
pub fn exec_file(_a: ExecFileArgs) -> Result<()> {
    Err(Error::NotImplemented("exec-file"))
}
/// Runs `updatekeys`.
pub fn update_keys(_a: UpdateKeysArgs) -> Result<()> {
    Err(Error::NotImplemented("updatekeys"))
}
/// Runs `rotate`.
pub fn rotate(_a: RotateArgs) -> Result<()> {
    Err(Error::NotImplemented("rotate"))
}
