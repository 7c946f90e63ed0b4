//! Command-line front-end: argument definitions (clap derive) and the glue into the library.
//!
//! One file per command family. `main.rs` only calls [`main_entry`].

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{Error, ExitStatus, Result};

mod argocd;
pub mod krm;
mod render;
mod sops;
mod version;

/// Resolve secret references in Kubernetes manifests from Vault/OpenBao and sops files.
///
/// Only references and ciphertext live in Git; sealbridge prints plaintext only on its way to
/// the cluster, and prints nothing at all when anything fails.
#[derive(Debug, Parser)]
#[command(
    name = "sealbridge",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Log each backend request (path, status, timing; never values) to stderr.
    #[arg(long, short, global = true)]
    pub verbose: bool,

    /// Settings file (YAML; see docs/vault.md), for every command. Flags and environment
    /// override it.
    #[arg(long, global = true, value_name = "FILE", env = "SEALBRIDGE_CONFIG")]
    pub settings: Option<std::path::PathBuf>,

    /// Before a sops verb (decrypt, encrypt, exec-env, exec-file, …): the `.sops.yaml`, as in
    /// sops. Before any other command: the settings file (same as --settings).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// Do not read or write the Vault token cache (log in on every run).
    #[arg(long, global = true)]
    pub disable_token_cache: bool,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command-line part of [`crate::settings::Settings`].
    pub fn settings_flags(&self) -> crate::settings::Flags {
        crate::settings::Flags {
            config: self.settings.clone().or_else(|| {
                (!self.command.is_sops())
                    .then(|| self.config.clone())
                    .flatten()
            }),
            verbose: self.verbose,
            disable_token_cache: self.disable_token_cache,
            ..crate::settings::Flags::default()
        }
    }
}

/// The sealbridge commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve every secret reference in manifests and print them (or nothing, on failure).
    Render(render::RenderArgs),
    /// Alias of `render` with argocd-vault-plugin's argument form (`generate PATH`).
    Generate(render::RenderArgs),
    /// Decrypt a sops file and print the plaintext (like `sops decrypt`).
    Decrypt(sops::DecryptArgs),
    /// Encrypt a file into the sops format (like `sops encrypt`).
    Encrypt(sops::EncryptArgs),
    /// Run a command with the secrets of a sops file as environment variables of the child only.
    ExecEnv(sops::ExecEnvArgs),
    /// Run a command with the plaintext of a sops file at the path `{}`: a FIFO in a private
    /// directory (or, with --no-fifo, a 0600 file there).
    ExecFile(sops::ExecFileArgs),
    /// Re-wrap a sops file's data key for the recipients of the matching `.sops.yaml` rule.
    Updatekeys(sops::UpdateKeysArgs),
    /// Re-encrypt a sops file with a new data key.
    Rotate(sops::RotateArgs),
    /// Set one value or branch of a sops file in place (value as JSON, like `sops set`).
    Set(sops::SetArgs),
    /// Remove one key or list item from a sops file in place (like `sops unset`).
    Unset(sops::UnsetArgs),
    /// Print the version, the git commit and the enabled features.
    Version,
    /// KRM function for kustomize and kpt: a ResourceList on stdin, a ResourceList on stdout.
    Krm(krm::KrmArgs),
    /// Argo CD config-management plugin steps (`discover`, `generate`).
    Argocd(argocd::ArgocdArgs),
}

impl Command {
    /// The sops-compatible verbs, where `--config` names the `.sops.yaml` (as in sops).
    pub fn is_sops(&self) -> bool {
        matches!(
            self,
            Command::Decrypt(_)
                | Command::Encrypt(_)
                | Command::ExecEnv(_)
                | Command::ExecFile(_)
                | Command::Updatekeys(_)
                | Command::Rotate(_)
                | Command::Set(_)
                | Command::Unset(_)
        )
    }
}

/// Runs the CLI with `args` (argv including the program name) and returns the exit code.
pub fn main_entry(args: Vec<OsString>) -> ExitCode {
    // kustomize/kpt plugin forms (`ksops`, `SecretGenerator`, `sealbridge CONFIG`, piped
    // ResourceList): decided from argv before the normal command line.
    if let Some(mode) = plugin_mode(&args) {
        return krm::run_mode(mode);
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout and usage errors to stderr.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(ExitStatus::Usage as u8)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let verbose = cli.verbose
        || std::env::var("SEALBRIDGE_VERBOSE")
            .ok()
            .and_then(|v| crate::settings::parse_bool(&v))
            .unwrap_or(false);
    init_logging(verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_status() as u8)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    install_crypto_provider();
    let flags = cli.settings_flags();
    // `sealbridge --config .sops.yaml decrypt …` (sops' global flag form).
    let sops_config = cli.config;
    match cli.command {
        Command::Render(a) => render::run(a, flags, false),
        Command::Generate(a) => render::run(a, flags, true),
        Command::Decrypt(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            sops::decrypt(a, &flags)
        }
        Command::Encrypt(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            sops::encrypt(a, &flags)
        }
        Command::ExecEnv(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            sops::exec_env(a, &flags)
        }
        Command::ExecFile(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            sops::exec_file(a, &flags)
        }
        Command::Updatekeys(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            sops::update_keys(a, &flags)
        }
        Command::Rotate(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            sops::rotate(a, &flags)
        }
        Command::Set(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            sops::set(a, &flags)
        }
        Command::Unset(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            sops::unset(a, &flags)
        }
        Command::Version => version::run(),
        Command::Krm(a) => krm::run(a, &flags),
        Command::Argocd(a) => argocd::run(a, flags),
    }
}

fn plugin_mode(args: &[OsString]) -> Option<krm::PluginMode> {
    use clap::CommandFactory;
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    krm::plugin_mode(args, krm::stdin_is_char_device(), &commands)
}

/// Installs rustls' `ring` provider once (the Vault client is built without one).
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn init_logging(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if verbose {
        "warn,sealbridge=debug"
    } else {
        "warn"
    };
    let filter = std::env::var("SEALBRIDGE_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(with_quiet_dependencies(&f)).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The HTTP/TLS stack logs connection details at debug/trace. `SEALBRIDGE_LOG=trace` is about
/// sealbridge's own events, so these crates stay at `warn` unless the filter names them.
const NOISY_DEPENDENCIES: &[&str] = &[
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "kube",
    "kube_client",
];

fn with_quiet_dependencies(filter: &str) -> String {
    let mut out = filter.to_owned();
    for dep in NOISY_DEPENDENCIES {
        let named = filter
            .split(',')
            .any(|d| d.trim().split(['=', '[']).next() == Some(*dep));
        if !named {
            out.push_str(&format!(",{dep}=warn"));
        }
    }
    out
}

/// Prints one error to stderr: `sealbridge: <message>` and its causes.
fn report(e: &Error) {
    let mut msg = format!("sealbridge: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// Writes the whole output buffer to stdout at once. A closed pipe is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    write_stdout_parts([bytes])
}

/// [`write_stdout`] of several pieces, in order (a rendered stream is made of pieces).
pub fn write_stdout_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let all = parts
        .into_iter()
        .try_for_each(|p| out.write_all(p))
        .and_then(|()| out.flush());
    match all {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("<stdout>", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::with_quiet_dependencies;

    #[test]
    fn trace_keeps_dependencies_quiet_unless_named() {
        let f = with_quiet_dependencies("trace");
        assert!(f.starts_with("trace,"));
        assert!(f.contains(",hyper=warn") && f.contains(",kube=warn"));
        let f = with_quiet_dependencies("trace,hyper=trace");
        assert!(!f.contains("hyper=warn"), "{f}");
        assert!(f.contains(",h2=warn"));
    }
}
