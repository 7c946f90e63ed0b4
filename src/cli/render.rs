//! `sealbridge render` / `generate`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::manifest::Input;
use crate::resolve;
use crate::settings::{Flags, Settings};

/// Arguments of `render` and `generate`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  SOPS_AGE_KEY_FILE=examples/quickstart/demo-age-key.txt sealbridge render examples/quickstart\n\n\
Environment: VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_CACERT, VAULT_SKIP_VERIFY, the other \
VAULT_* client variables, AVP_* (argocd-vault-plugin's), SEALBRIDGE_* (docs/vault.md lists every \
setting), SOPS_AGE_KEY_FILE and the other sops key variables."
)]
pub struct RenderArgs {
    /// Files or directories of manifests (`.yaml`, `.yml`, `.json`, walked recursively), or `-`
    /// for stdin. `render` without a path reads stdin when it is not a terminal.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Vault/OpenBao address (overrides VAULT_ADDR).
    #[arg(long, value_name = "URL")]
    pub vault_addr: Option<String>,

    /// Deadline for fetching every secret of the run, e.g. `45s`, `2m` (SEALBRIDGE_DEADLINE).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,

    /// At most this many backend requests at once (SEALBRIDGE_CONCURRENCY, default 16).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Directory that `sops://` paths are relative to and confined to (default: the working
    /// directory).
    #[arg(long, value_name = "DIR", env = "SEALBRIDGE_SOPS_ROOT")]
    pub sops_root: Option<PathBuf>,

    /// argocd-vault-plugin's `-c/--config-path` (same as the global `--config`).
    #[arg(
        short = 'c',
        long = "config-path",
        alias = "config",
        value_name = "FILE",
        hide = true
    )]
    pub config_path: Option<PathBuf>,

    /// Read settings from a Kubernetes Secret, `[NAMESPACE:]NAME` (namespace default `argocd`),
    /// as argocd-vault-plugin's `-s`. Below the environment and the config file. Needs a build
    /// with `--features kube`.
    #[arg(short = 's', long = "secret-name", value_name = "[NAMESPACE:]NAME")]
    pub secret_name: Option<String>,

    /// argocd-vault-plugin's `--verbose-sensitive-output`: accepted as `--verbose`, which never
    /// prints secret values.
    #[arg(long, hide = true)]
    pub verbose_sensitive_output: bool,

    /// Print each reference (file, document, object, field) and the secret it would read
    /// (backend, canonical path, version; or why it is refused) instead of manifests. Nothing
    /// is fetched or decrypted.
    #[arg(long)]
    pub list: bool,

    /// Render with every resolved value replaced by a keyed fingerprint (`redacted:` + HMAC-
    /// SHA256 with the operator's key in `SEALBRIDGE_FINGERPRINT_KEY_FILE`), for diffs that show
    /// which secrets changed without showing them.
    #[arg(long)]
    pub redact: bool,

    /// `--list`, headed by who would fetch: the Vault address, auth method, mount and role, and
    /// the tenant of the tenancy policy. Nothing is fetched.
    #[arg(long, conflicts_with = "list")]
    pub explain: bool,
}

fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    crate::settings::parse_duration(s)
        .ok_or_else(|| format!("`{s}` is not a duration (examples: 45s, 2m, 1500ms)"))
}

/// Runs `render` (`generate` = AVP's argument form: exactly one path or `-`).
pub(super) fn run(args: RenderArgs, mut flags: Flags, generate: bool) -> Result<()> {
    if let Some(c) = args.config_path {
        if flags.config.as_ref().is_some_and(|f| f != &c) {
            return Err(Error::Usage(
                "--config and --config-path name different files; give one".to_owned(),
            ));
        }
        flags.config = Some(c);
    }
    flags.verbose |= args.verbose_sensitive_output;
    if args.vault_addr.is_some() {
        flags.vault_addr = args.vault_addr;
    }
    if args.deadline.is_some() {
        flags.deadline = args.deadline;
    }
    if args.concurrency.is_some() {
        flags.concurrency = args.concurrency;
    }
    let inputs = inputs(&args.paths, generate)?;
    let ctx = Context::load_with_secret(flags, args.secret_name.as_deref())?;
    let settings = ctx.settings();
    super::arm_deadline(settings.deadline);
    let mut opts = ctx.render_options(args.sops_root)?;
    if args.redact {
        opts.redact = crate::context::fingerprint_key(true)?;
    }
    if args.explain {
        let mut head = String::new();
        explain_head(settings, &opts, &mut head);
        return list(&inputs, &opts, head);
    }
    if args.list {
        return list(&inputs, &opts, String::new());
    }
    let backends = ctx.backends(&opts);
    let rendered = resolve::render_inputs(&inputs, &backends, &opts)?;
    tracing::debug!(
        documents = rendered.documents,
        secrets = rendered.fetched,
        "rendered"
    );
    if rendered.documents == 0
        && !rendered.output.has_objects()
        && inputs.iter().all(|i| *i == crate::manifest::Input::Stdin)
    {
        // `kustomize build . | sealbridge render` where the first command failed: an empty
        // success would apply (or prune to) nothing.
        return Err(Error::Refused(
            "standard input held no document: nothing to render. If a command feeds the pipe, \
             check that it succeeded (a shell pipeline without `set -o pipefail` hides its \
             failure)"
                .to_owned(),
        ));
    }
    super::write_stdout_parts(rendered.output.parts().map(str::as_bytes))
}

fn inputs(paths: &[PathBuf], generate: bool) -> Result<Vec<Input>> {
    if paths.is_empty() {
        if generate {
            return Err(Error::Usage(
                "<path> argument required to generate manifests (a file, a directory, or - for stdin)"
                    .to_owned(),
            ));
        }
        if std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "no input: give files or directories of manifests, or - to read stdin".to_owned(),
            ));
        }
        return Ok(vec![Input::Stdin]);
    }
    if generate && paths.len() > 1 {
        return Err(Error::Usage(
            "generate takes one path (use `render` for several)".to_owned(),
        ));
    }
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(Error::Usage(
            "`-` (stdin) can be given only once".to_owned(),
        ));
    }
    Ok(paths.iter().map(|p| Input::from_arg(p)).collect())
}

/// `render --list`: every reference with the secret it would read, or why not; exit 1 when
/// any would be refused. Nothing is fetched.
fn list(
    inputs: &[crate::manifest::Input],
    opts: &resolve::RenderOptions,
    head: String,
) -> Result<()> {
    use std::fmt::Write as _;
    let rows = resolve::explain_inputs(inputs, opts)?;
    let mut out = head;
    let mut refused = 0;
    for (f, ok) in &rows {
        if !ok {
            refused += 1;
        }
        let _ = writeln!(out, "{} {f}", if *ok { "ok     " } else { "REFUSED" });
    }
    super::write_stdout(out.as_bytes())?;
    if refused > 0 {
        return Err(Error::Refused(format!(
            "{refused} of {} reference(s) would be refused",
            rows.len()
        )));
    }
    Ok(())
}

/// `render --explain`'s head: who would fetch (names, never credentials).
fn explain_head(settings: &Settings, opts: &resolve::RenderOptions, out: &mut String) {
    use std::fmt::Write as _;
    let auth_of = |cfg: &crate::backend::vault::VaultConfig| {
        let a = &cfg.auth;
        let mut s = format!("vault: {} auth {}", cfg.address, a.method());
        if !a.mount().is_empty() {
            let _ = write!(s, " at auth/{}", a.mount());
        }
        // Role names (not the AppRole role id, which is a credential's half).
        if matches!(
            a,
            crate::backend::vault::AuthConfig::Kubernetes { .. }
                | crate::backend::vault::AuthConfig::Jwt { .. }
        ) && !a.principal().is_empty()
        {
            let _ = write!(s, " role {}", a.principal());
        }
        if let Some(ns) = &cfg.namespace {
            let _ = write!(s, " namespace {ns}");
        }
        s
    };
    match settings.vault_config() {
        Ok(cfg) => {
            let _ = writeln!(out, "# {}", auth_of(&cfg));
        }
        Err(e) => {
            let _ = writeln!(out, "# vault: not configured ({e})");
        }
    }
    match &opts.tenant {
        Some(t) => {
            let _ = writeln!(
                out,
                "# tenant: {} (its own Vault login, paths and sops keys)",
                t.name
            );
        }
        None => {
            let _ = writeln!(out, "# tenant: none (no tenancy policy)");
        }
    }
}
