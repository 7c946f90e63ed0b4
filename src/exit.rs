//! The process exit codes (documented in `docs/cli.md`), apart from the errors so that every
//! module can name its exit status without importing the top-level error.

/// The process exit codes (documented in `docs/cli.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything resolved or decrypted.
    Success = 0,
    /// A reference could not be resolved, a file could not be decrypted, a backend failed.
    Failure = 1,
    /// The command line, the configuration or the environment is wrong.
    Usage = 2,
}
