//! `sealbridge versions [PATH…]`: the current version of every secret the manifests reference
//! (Vault KV v2 metadata, a sops file's MAC fingerprint), never a value.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::manifest::Input;
use crate::resolve;
use crate::settings::Flags;

/// Arguments of `versions`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  sealbridge versions k8s/\n  sealbridge versions --format json app.yaml\n\n\
Reads the same settings as render (VAULT_ADDR, the Vault login, SOPS_* is not needed: sops \
files are fingerprinted, not decrypted). Exit 0: every secret has a version; 1: some have \
none (the reason is printed); 2: usage."
)]
pub struct VersionsArgs {
    /// Files or directories of manifests (`-` for standard input).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// `text` (default) or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
}

/// Runs `versions`.
pub(super) fn run(args: VersionsArgs, flags: &Flags) -> Result<()> {
    if args.format != "text" && args.format != "json" {
        return Err(Error::Usage(format!(
            "--format {:?}: use text or json",
            args.format
        )));
    }
    let ctx = Context::load(flags)?;
    super::arm_deadline(ctx.settings().deadline);
    let opts = ctx.render_options(None)?;
    let backends = ctx.backends(&opts);
    let inputs: Vec<Input> = args.paths.iter().map(|p| Input::from_arg(p)).collect();
    let rows = resolve::versions_inputs(&inputs, &backends, &opts)?;
    let missing = rows.iter().filter(|r| r.version.is_none()).count();
    let mut out = String::new();
    if args.format == "json" {
        out = serde_json::to_string_pretty(&rows)
            .map_err(|e| Error::Refused(format!("cannot write JSON: {e}")))?;
        out.push('\n');
    } else {
        for r in &rows {
            match (&r.version, &r.error) {
                (Some(v), _) => {
                    let _ = write!(out, "{}  version {v}", r.secret);
                    if let Some(u) = &r.updated {
                        let _ = write!(out, "  updated {u}");
                    }
                    out.push('\n');
                }
                (None, e) => {
                    let _ = writeln!(
                        out,
                        "{}  NO VERSION: {}",
                        r.secret,
                        e.as_deref().unwrap_or("unknown")
                    );
                }
            }
            for u in &r.used_by {
                let _ = writeln!(out, "    {u}");
            }
        }
    }
    super::write_stdout(out.as_bytes())?;
    if missing > 0 {
        return Err(Error::Refused(format!(
            "{missing} secret(s) without a version (see above)"
        )));
    }
    Ok(())
}
