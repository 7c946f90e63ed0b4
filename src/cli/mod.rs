//! Command-line front-end: argument definitions (clap derive) and the glue into the library.
//!
//! One file per command family. `main.rs` only calls [`main_entry`].

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{Error, ExitStatus, Result};

mod argocd;
mod check;
mod completions;
mod edit;
mod groups;
pub mod krm;
mod man;
mod policy;
mod refresh;
mod render;
mod sops;
mod sops_codes;
mod version;
mod versions;

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
    #[arg(long, short, global = true, help_heading = "Global options")]
    pub verbose: bool,

    /// Settings file (YAML; see docs/vault.md), for every command. Flags and environment
    /// override it.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "SEALBRIDGE_CONFIG",
        help_heading = "Global options"
    )]
    pub settings: Option<std::path::PathBuf>,

    /// Before a sops verb (decrypt, encrypt, exec-env, exec-file, …): the `.sops.yaml`, as in
    /// sops. Before any other command: the settings file (same as --settings).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// Do not read or write the Vault token cache (log in on every run).
    #[arg(long, global = true, help_heading = "Global options")]
    pub disable_token_cache: bool,

    /// The operator's tenancy policy (YAML; see docs/policy.md); also `SEALBRIDGE_POLICY`.
    /// With one, every Application is confined to its tenant, and refused without one.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub policy: Option<std::path::PathBuf>,

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
            policy: self.policy.clone(),
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
    /// Edit a sops file in `$SOPS_EDITOR`/`$EDITOR` (like `sops edit`; also `sealbridge FILE`);
    /// a file that does not exist is created from a template with the `.sops.yaml` rules.
    Edit(edit::EditArgs),
    /// Print whether a file is sops-encrypted, as JSON (`{"encrypted":true}`, like `sops
    /// filestatus`).
    Filestatus(sops::FileStatusArgs),
    /// Run a command with the secrets of a sops file as environment variables of the child only.
    ExecEnv(sops::ExecEnvArgs),
    /// Run a command with the plaintext of a sops file at the path `{}`: a FIFO in a private
    /// directory (or, with --no-fifo, a 0600 file there).
    ExecFile(sops::ExecFileArgs),
    /// Re-wrap a sops file's data key for the recipients of the matching `.sops.yaml` rule.
    Updatekeys(sops::UpdateKeysArgs),
    /// Re-encrypt a sops file with a new data key.
    Rotate(sops::RotateArgs),
    /// Add or delete a key group of a sops file (like `sops groups add|delete`).
    Groups(groups::GroupsArgs),
    /// Set one value or branch of a sops file in place (value as JSON, like `sops set`).
    Set(sops::SetArgs),
    /// Remove one key or list item from a sops file in place (like `sops unset`).
    Unset(sops::UnsetArgs),
    /// Print the version, the git commit and the enabled features.
    Version,
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff), or write one page per command with --dir.
    Man(man::ManArgs),
    /// KRM function for kustomize and kpt: a ResourceList on stdin, a ResourceList on stdout.
    Krm(krm::KrmArgs),
    /// Argo CD config-management plugin steps (`discover`, `generate`).
    Argocd(argocd::ArgocdArgs),
    /// The tenancy policy (docs/policy.md): `check` explains which tenant an Application gets
    /// and which references it may use, without fetching anything.
    Policy(policy::PolicyArgs),
    /// The current version of every secret the manifests reference (Vault KV v2 metadata, a
    /// sops file's MAC fingerprint), never a value.
    Versions(versions::VersionsArgs),
    /// Hard-refresh the Argo CD Applications whose secrets changed since their objects were
    /// rendered (needs SEALBRIDGE_RECORD_VERSIONS in the sidecar and the `kube` feature).
    Refresh(refresh::RefreshArgs),
    /// Static, offline checks for references, literal Secret values, key material, sops files
    /// and kustomization trees (docs/check.md); nothing fetched or decrypted.
    Check(check::CheckArgs),
}

impl Command {
    /// The sops-compatible verbs, where `--config` names the `.sops.yaml` (as in sops).
    pub fn is_sops(&self) -> bool {
        matches!(
            self,
            Command::Decrypt(_)
                | Command::Encrypt(_)
                | Command::Edit(_)
                | Command::Filestatus(_)
                | Command::ExecEnv(_)
                | Command::ExecFile(_)
                | Command::Updatekeys(_)
                | Command::Rotate(_)
                | Command::Groups(_)
                | Command::Set(_)
                | Command::Unset(_)
        )
    }
}

/// Commands for which the settings, the token cache and the tenancy policy mean nothing: their
/// help does not show those global options.
const NO_SETTINGS: &[&str] = &["version", "completions", "man", "filestatus"];

/// The command line: [`Cli`] with the global options that do nothing for a command hidden
/// from that command's help (`--disable-token-cache` on `version`). Parsing, completions and
/// the man page use it.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    const HIDDEN: &[&str] = &["settings", "disable_token_cache", "policy"];
    let mut cmd = Cli::command();
    // Copies the global options into every subcommand, where they can then be hidden; the
    // arguments are changed in place (`mut_args`), keeping clap's built lookup table valid.
    cmd.build();
    for sub in NO_SETTINGS {
        cmd = cmd.mut_subcommand(*sub, |c| {
            c.mut_args(|a| {
                if HIDDEN.contains(&a.get_id().as_str()) {
                    a.hide(true)
                } else {
                    a
                }
            })
        });
    }
    cmd
}

/// Runs the CLI with `args` (argv including the program name) and returns the exit code.
pub fn main_entry(mut args: Vec<OsString>) -> ExitCode {
    // `sealbridge FILE` for an existing sops file is `sealbridge edit FILE` (as `sops FILE`).
    if let Some(file) = edit_shorthand(&args) {
        args = vec![args[0].clone(), OsString::from("edit"), file];
    }
    // sops' mode flags: `sealbridge -d FILE` is `sealbridge decrypt FILE`, and so on.
    if let Some(rewritten) = mode_flag_shorthand(&args) {
        args = rewritten;
    }
    // kustomize/kpt plugin forms (`ksops`, `SecretGenerator`, `sealbridge CONFIG`, piped
    // ResourceList): decided from argv before the normal command line.
    if let Some(mode) = plugin_mode(&args) {
        return krm::run_mode(mode);
    }
    let parsed = command()
        .try_get_matches_from(&args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
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
    // AVP's `--verbose-sensitive-output` sits after the command (`generate --verbose… PATH`):
    // logging is set up before `run`, so it is read here too.
    let command_verbose = matches!(
        &cli.command,
        Command::Render(a) | Command::Generate(a) if a.verbose_sensitive_output
    );
    let verbose = cli.verbose
        || command_verbose
        || std::env::var("SEALBRIDGE_VERBOSE")
            .ok()
            .and_then(|v| crate::settings::parse_bool(&v))
            .unwrap_or(false);
    init_logging(verbose);
    // The sops verbs exit with sops' codes (docs/sops.md); everything else with 0/1/2.
    let sops_verb = sops_codes::verb_of(&cli.command);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(match &sops_verb {
                Some((verb, input)) => sops_codes::exit_code(*verb, input.as_deref(), &e),
                None => e.exit_status() as u8,
            })
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
            if let Ok(s) = crate::settings::Settings::load(&flags) {
                arm_deadline(s.deadline);
            }
            sops::decrypt(a, &flags)
        }
        Command::Encrypt(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            sops::encrypt(a, &flags)
        }
        Command::Edit(mut a) => {
            sops::top_config(&mut a.format, sops_config)?;
            edit::edit(a, &flags)
        }
        Command::Filestatus(a) => sops::file_status(a),
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
        Command::Groups(mut a) => {
            sops::top_config(a.step.format_mut(), sops_config)?;
            groups::run(a, &flags)
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
        Command::Completions(a) => completions::run(&a),
        Command::Man(a) => man::run(&a),
        Command::Krm(a) => krm::run(a, &flags),
        Command::Argocd(a) => argocd::run(a, flags),
        Command::Policy(a) => policy::run(a, &flags),
        Command::Versions(a) => versions::run(a, &flags),
        Command::Refresh(a) => refresh::run(a, &flags),
        Command::Check(a) => check::run(a, &flags),
    }
}

/// `sealbridge FILE`, where FILE is a sops-encrypted file, edits it (as `sops FILE`). The
/// kustomize legacy exec plugin form `PLUGIN CONFIG` keeps working: under a plugin name
/// (`ksops`, `SecretGenerator`) argv is never an edit, and a generator configuration has no
/// `sops` metadata block, so it is not a sops file.
fn edit_shorthand(args: &[OsString]) -> Option<OsString> {
    use clap::CommandFactory;
    let [prog, file] = args else {
        return None;
    };
    let name = std::path::Path::new(prog)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if krm::PLUGIN_NAMES.contains(&name.as_str()) {
        return None;
    }
    let s = file.to_string_lossy();
    let is_command = s == "help" || Cli::command().get_subcommands().any(|c| c.get_name() == s);
    if is_command || s.starts_with('-') {
        return None;
    }
    edit::is_sops_file(std::path::Path::new(file)).then(|| file.clone())
}

/// sops' top-level mode flags (`sops -d FILE`, `sops -e -i FILE`, `sops -r FILE`): the flag
/// becomes the verb (`decrypt`, `encrypt`, `rotate`), the other arguments stay its arguments.
/// Only when no verb is on the command line and exactly one mode flag is given.
fn mode_flag_shorthand(args: &[OsString]) -> Option<Vec<OsString>> {
    use clap::CommandFactory;
    let prog = args.first()?;
    let name = std::path::Path::new(prog)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if krm::PLUGIN_NAMES.contains(&name.as_str()) {
        return None;
    }
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let rest = &args[1..];
    if rest.iter().any(|a| {
        let a = a.to_string_lossy();
        a == "--" || a == "help" || commands.iter().any(|c| *c == a)
    }) {
        return None;
    }
    let verb = |a: &OsString| match a.to_str() {
        Some("-d" | "--decrypt") => Some("decrypt"),
        Some("-e" | "--encrypt") => Some("encrypt"),
        Some("-r" | "--rotate") => Some("rotate"),
        _ => None,
    };
    let modes: Vec<usize> = (0..rest.len())
        .filter(|&i| verb(&rest[i]).is_some())
        .collect();
    let [i] = modes[..] else {
        return None;
    };
    let mut out = vec![prog.clone(), OsString::from(verb(&rest[i])?)];
    out.extend(
        rest.iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, a)| a.clone()),
    );
    Some(out)
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
pub(crate) fn report(e: &Error) {
    let msg = format!("sealbridge: {}", crate::error::chain(e));
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// Arms the run deadline as a hard bound on the process (see [`crate::deadline`]).
pub(crate) fn arm_deadline(after: std::time::Duration) {
    crate::deadline::arm(after);
}

/// Writes the whole output buffer to stdout at once. A closed pipe is not an error. Once the
/// run deadline has ended the run, nothing is written (the process is exiting).
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    if !crate::deadline::begin_output() {
        loop {
            std::thread::park();
        }
    }
    write_stdout_parts([bytes])
}

/// [`write_stdout`] of several pieces, in order (a rendered stream is made of pieces).
pub fn write_stdout_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
    if !crate::deadline::begin_output() {
        loop {
            std::thread::park();
        }
    }
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
