//! The sops-compatible verbs: `decrypt`, `encrypt`, `exec-env`, `exec-file`, `updatekeys`, `rotate`.
//!
//! Flags follow `sops` (3.11) where sops has them. Output is buffered and written once; on any
//! error nothing is printed to stdout.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::settings::{Flags, Settings};
use crate::sops::config::{self, Config};
use crate::sops::metadata::{KeyGroup, MasterKey, VaultKey};
use crate::sops::{
    self as sops_lib, DecryptOptions, EmitOptions, EncryptOptions, Format, KeySources,
};
pub(super) use crate::supervise::{PrivateDir, Signals, exit_with};
use crate::supervise::{RunAs, child_command, feed_fifo};

/// Input/output format flags shared by the verbs.
#[derive(Debug, Clone, clap::Args)]
pub struct FormatArgs {
    /// Input format (yaml, json, dotenv, ini, binary); default: from the file extension.
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output format (yaml, json, dotenv, ini, binary); default: the input format.
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// The `.sops.yaml` to use (default: `SOPS_CONFIG`, else the nearest `.sops.yaml` upwards).
    /// The sealbridge settings file is `--settings FILE` or `SEALBRIDGE_CONFIG`.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Indentation of YAML/JSON output (YAML default 4, JSON default TAB).
    #[arg(long, value_name = "N")]
    pub indent: Option<i64>,
}

/// Arguments of `decrypt`.
#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The sops-encrypted file (`-` or nothing: standard input).
    pub file: Option<PathBuf>,
    /// Print only this value, e.g. `["data"]["password"]` or `["list"][0]`.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Write the plaintext to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Decrypt even if the MAC does not match (the file was modified).
    #[arg(long)]
    pub ignore_mac: bool,
    /// Replace the encrypted file with its plaintext.
    #[arg(long, short = 'i')]
    pub in_place: bool,
    /// Use this name instead of FILE to pick the input and output formats, as sops (e.g. for
    /// standard input).
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<PathBuf>,
    /// Key types to try first, comma-separated (`age,pgp,kms,hc_vault,…`; env
    /// `SOPS_DECRYPTION_ORDER`).
    #[arg(long, value_name = "TYPES")]
    pub decryption_order: Option<String>,
}

/// The key flags of the commands that make a new file (`encrypt`, `edit` of a new file): as
/// sops, each reads its `SOPS_*` variable when the flag is not given.
#[derive(Debug, Default, clap::Args)]
pub struct KeyArgs {
    /// age recipients, comma-separated (env `SOPS_AGE_RECIPIENTS`).
    #[arg(long, value_name = "RECIPIENTS", env = "SOPS_AGE_RECIPIENTS")]
    pub age: Option<String>,
    /// Vault/OpenBao transit key URIs `https://vault:8200/v1/transit/keys/NAME`, comma-separated
    /// (env `SOPS_VAULT_URIS`).
    #[arg(long, value_name = "URIS", env = "SOPS_VAULT_URIS")]
    pub hc_vault_transit: Option<String>,
    /// PGP key fingerprints, comma-separated (env `SOPS_PGP_FP`); encrypted with GnuPG
    /// (`SOPS_GPG_EXEC`, else `gpg`).
    #[arg(long, value_name = "FINGERPRINTS", env = "SOPS_PGP_FP")]
    pub pgp: Option<String>,
    /// AWS KMS key ARNs, comma-separated, each optionally `+ROLE_ARN` (env `SOPS_KMS_ARN`).
    #[arg(long, value_name = "ARNS", env = "SOPS_KMS_ARN")]
    pub kms: Option<String>,
    /// The KMS encryption context, `key:value,key:value`.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// The AWS profile for the KMS keys (`aws_profile`).
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
}

impl KeyArgs {
    /// The flags as [`KeyFlags`].
    pub(super) fn flags(&self) -> KeyFlags<'_> {
        KeyFlags {
            age: self.age.as_deref(),
            vault: self.hc_vault_transit.as_deref(),
            pgp: self.pgp.as_deref(),
            kms: self.kms.as_deref(),
            kms_context: self.encryption_context.as_deref(),
            aws_profile: self.aws_profile.as_deref(),
        }
    }
}

/// Arguments of `encrypt`.
#[derive(Debug, clap::Args)]
pub struct EncryptArgs {
    /// The plaintext file (`-` or nothing: standard input, then `--input-type` is needed).
    pub file: Option<PathBuf>,
    /// The keys of a new file.
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Encrypt only values under keys matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Leave values under keys matching this regex in clear.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values under keys ending with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave values under keys ending with this suffix in clear (default `_unencrypted`).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values after a comment matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
    /// Leave values after a comment matching this regex in clear.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Compute the MAC over encrypted values only.
    #[arg(long)]
    pub mac_only_encrypted: bool,
    /// Number of key groups needed to decrypt (Shamir).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Write the encrypted file here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the plaintext file with the encrypted one.
    #[arg(long, short = 'i')]
    pub in_place: bool,
    /// Use this name instead of FILE to pick the `.sops.yaml` creation rule and the input and
    /// output formats, as sops (e.g. for standard input: the name the file will have).
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<PathBuf>,
}

/// Arguments of `exec-env`.
#[derive(Debug, clap::Args)]
pub struct ExecEnvArgs {
    /// The sops-encrypted file.
    pub file: PathBuf,
    /// Pass only the decrypted variables to the command (no inherited environment).
    #[arg(long)]
    pub pristine: bool,
    /// Run the command as this user (sealbridge must run as root), as in sops.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Replace sealbridge by the command (execve) instead of running it as a child.
    #[arg(long)]
    pub same_process: bool,
    /// Deprecated in sops: start the command and exit without waiting for it.
    #[arg(long)]
    pub background: bool,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub format: FormatArgs,
    /// The command to run.
    #[command(flatten)]
    pub run: CommandArgs,
}

/// Arguments of `exec-file`.
#[derive(Debug, clap::Args)]
pub struct ExecFileArgs {
    /// The sops-encrypted file.
    pub file: PathBuf,
    /// Name of the FIFO or file inside the private temporary directory (default `tmp-file`).
    #[arg(long, value_name = "NAME")]
    pub filename: Option<String>,
    /// Use a regular 0600 file instead of a FIFO (the default: the plaintext never touches the
    /// disk, and can be read once).
    #[arg(long)]
    pub no_fifo: bool,
    /// Run the command as this user (sealbridge must run as root), as in sops.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// sops' deprecated `--background`: refused (the plaintext must be removed after the command).
    #[arg(long)]
    pub background: bool,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub format: FormatArgs,
    /// The command to run.
    #[command(flatten)]
    pub run: CommandArgs,
}

/// The command of `exec-env` and `exec-file`, in sops' two forms.
#[derive(Debug, clap::Args)]
pub struct CommandArgs {
    /// The command as one string, run with `/bin/sh -c` (sops' form: `exec-env FILE 'CMD'`,
    /// `exec-file FILE 'CMD {}'`; for exec-file `{}` is the plaintext file's path).
    #[arg(value_name = "COMMAND", required_unless_present = "command")]
    pub shell_command: Option<OsString>,
    /// Or, after `--`, the program and its arguments, run directly (a single argument runs
    /// through `/bin/sh -c`; for exec-file `{}` in any argument is the file's path).
    #[arg(
        last = true,
        value_name = "PROGRAM [ARGS]",
        conflicts_with = "shell_command"
    )]
    pub command: Vec<OsString>,
}

impl CommandArgs {
    /// The argv: the shell form as one argument (run through `/bin/sh -c`), or the program
    /// and its arguments.
    pub fn argv(self) -> Vec<OsString> {
        match self.shell_command {
            Some(c) => vec![c],
            None => self.command,
        }
    }
}

/// Arguments of `filestatus`.
#[derive(Debug, clap::Args)]
pub struct FileStatusArgs {
    /// The file to check.
    pub file: PathBuf,
    /// Input format (yaml, json, dotenv, ini, binary); default: from the file extension.
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

/// Arguments of `set`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The sops-encrypted file, rewritten in place.
    pub file: PathBuf,
    /// Where to set, e.g. `["data"]["password"]` or `["list"][0]`.
    pub index: String,
    /// The value as JSON (`'"text"'`, `5`, `{"a":true}`); with --value-file, a file holding it;
    /// omitted with --value-stdin.
    pub value: Option<OsString>,
    /// Read the value (JSON) from standard input (keeps it out of the process list).
    #[arg(long, conflicts_with = "value_file")]
    pub value_stdin: bool,
    /// The `value` argument is a file to read the value (JSON) from.
    #[arg(long)]
    pub value_file: bool,
    /// Do not rewrite the file when the value is already there.
    #[arg(long)]
    pub idempotent: bool,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Arguments of `unset`.
#[derive(Debug, clap::Args)]
pub struct UnsetArgs {
    /// The sops-encrypted file, rewritten in place.
    pub file: PathBuf,
    /// The key or list item to remove, e.g. `["data"]["password"]`.
    pub index: String,
    /// Do nothing (exit 0) when the key is not there.
    #[arg(long)]
    pub idempotent: bool,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Arguments of `updatekeys`.
#[derive(Debug, clap::Args)]
pub struct UpdateKeysArgs {
    /// The sops-encrypted file(s), or directories: every sops file below them, recursively.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Do not ask for confirmation (sops' `--yes`); without it each change is shown and
    /// confirmed on standard input.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Arguments of `rotate`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The sops-encrypted file.
    pub file: PathBuf,
    /// Rewrite the file instead of printing it.
    #[arg(long, short = 'i')]
    pub in_place: bool,
    /// Add age recipients (comma-separated) to the first key group.
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Option<String>,
    /// Remove age recipients (comma-separated).
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Option<String>,
    /// Add Vault transit key URIs (comma-separated) to the first key group.
    #[arg(long, value_name = "URIS")]
    pub add_hc_vault_transit: Option<String>,
    /// Remove Vault transit key URIs (comma-separated).
    #[arg(long, value_name = "URIS")]
    pub rm_hc_vault_transit: Option<String>,
    /// Add PGP fingerprints (comma-separated) to the first key group.
    #[arg(long, value_name = "FINGERPRINTS")]
    pub add_pgp: Option<String>,
    /// Remove PGP fingerprints (comma-separated).
    #[arg(long, value_name = "FINGERPRINTS")]
    pub rm_pgp: Option<String>,
    /// Add AWS KMS key ARNs (comma-separated, `ARN[+ROLE_ARN]`) to the first key group.
    #[arg(long, value_name = "ARNS")]
    pub add_kms: Option<String>,
    /// Remove AWS KMS key ARNs (comma-separated).
    #[arg(long, value_name = "ARNS")]
    pub rm_kms: Option<String>,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Write the result here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Merges the `--config` given before the verb (sops' global flag form) into the verb's own.
pub(super) fn top_config(f: &mut FormatArgs, top: Option<PathBuf>) -> Result<()> {
    match (top, &f.config) {
        (Some(t), Some(own)) if &t != own => Err(usage(format!(
            "--config is given twice ({} before the verb, {} after it); for the sops verbs \
             --config names the .sops.yaml: give it once (the settings file is --settings or \
             SEALBRIDGE_CONFIG)",
            t.display(),
            own.display()
        ))),
        (Some(t), None) => {
            f.config = Some(t);
            Ok(())
        }
        _ => Ok(()),
    }
}

pub(super) fn usage(m: impl Into<String>) -> Error {
    Error::Usage(m.into())
}

pub(super) fn parse_format(s: &Option<String>, flag: &str) -> Result<Option<Format>> {
    match s {
        None => Ok(None),
        Some(t) => Format::from_name(t).map(Some).ok_or_else(|| {
            usage(format!(
                "invalid {flag} {t:?}: use yaml, json, dotenv, ini or binary"
            ))
        }),
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// Reads the input file (or stdin for `-` / none).
pub(super) fn read_input(file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>> {
    match file {
        Some(p) if p != Path::new("-") => std::fs::read(p)
            .map(Zeroizing::new)
            .map_err(|e| Error::io(p, e)),
        _ => {
            let mut buf = Zeroizing::new(Vec::new());
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Error::io("<stdin>", e))?;
            Ok(buf)
        }
    }
}

fn is_stdin(file: Option<&Path>) -> bool {
    file.is_none_or(|p| p == Path::new("-"))
}

/// Config-driven output settings, with `--indent` on top.
pub(super) fn emit_options(f: &FormatArgs, file: Option<&Path>) -> Result<EmitOptions> {
    let start = file
        .and_then(|p| std::path::absolute(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or(start);
    let mut o = match config::find(f.config.as_deref(), &cwd) {
        Some(p) if p.is_file() || f.config.is_some() => Config::load(&p)?.emit_options()?,
        _ => EmitOptions::default(),
    };
    if let Some(n) = f.indent {
        if n < 0 {
            return Err(usage("--indent must not be negative"));
        }
        let n = n as usize;
        o.yaml_indent = (n > 0).then_some(n);
        o.json_indent = Some(n);
        o.json_binary_indent = Some(n);
    }
    Ok(o)
}

/// Writes a file atomically: a new sibling temporary file (0600 for a new file, else the
/// existing file's mode), then a rename over the file. A symlink is followed: its target is
/// replaced.
pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let resolved = std::fs::canonicalize(path).ok();
    let path = resolved.as_deref().unwrap_or(path);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.sealbridge-{}", std::process::id()));
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // Exactly the old mode (the umask does not apply to fchmod).
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(|e| Error::io(path, e))
}

/// The key sources of a run: age from the environment, Vault transit through the configured
/// Vault client (only towards the configured address). A settings problem only matters once
/// an hc_vault key is used, so it is kept as that key's failure.
pub(super) fn key_sources(flags: &Flags) -> KeySources {
    match Settings::load(flags) {
        Ok(s) => crate::context::Context::operator(s).sops_options().keys,
        Err(e) => KeySources::from_env()
            .with_transit(std::sync::Arc::new(sops_lib::keys::Unconfigured(
                e.to_string(),
            )))
            .with_kms(std::sync::Arc::new(crate::backend::aws::AwsKms::new())),
    }
}

fn decrypt_opts(
    file: Option<&Path>,
    input_type: Option<Format>,
    ignore_mac: bool,
    keys: KeySources,
) -> DecryptOptions {
    DecryptOptions {
        format: Some(input_type.unwrap_or_else(|| match file {
            Some(p) if !is_stdin(Some(p)) => Format::from_path(p),
            _ => Format::Binary,
        })),
        ignore_mac,
        keys,
    }
}

pub(super) fn decrypt_to_tree(
    file: Option<&Path>,
    f: &FormatArgs,
    ignore_mac: bool,
    keys: KeySources,
) -> Result<sops_lib::Decrypted> {
    let input_type = parse_format(&f.input_type, "--input-type")?;
    let opts = decrypt_opts(file, input_type, ignore_mac, keys);
    let input = read_input(file)?;
    let format = opts.format.unwrap_or(Format::Binary);
    let name = file
        .filter(|p| !is_stdin(Some(p)))
        .unwrap_or(Path::new("<stdin>"));
    Ok(sops_lib::decrypt_bytes(&input, format, &opts).map_err(|e| e.in_file(name))?)
}

/// Runs `decrypt`.
pub(super) fn decrypt(mut a: DecryptArgs, flags: &Flags) -> Result<()> {
    if let Some(name) = &a.filename_override
        && a.format.input_type.is_none()
    {
        a.format.input_type = Some(Format::from_path(name).name().to_owned());
    }
    let file = a.file.as_deref();
    if a.in_place && is_stdin(file) {
        return Err(usage("--in-place needs a file"));
    }
    let path = match &a.extract {
        Some(e) => sops_lib::parse_extract_path(e)?,
        None => Vec::new(),
    };
    let mut keys = key_sources(flags);
    if let Some(o) = a.decryption_order.as_deref() {
        keys = keys.with_decryption_order(
            sops_lib::keys::parse_order(o)
                .map_err(|e| usage(format!("--decryption-order: {e}")))?,
        );
    }
    let d = decrypt_to_tree(file, &a.format, a.ignore_mac, keys)?;
    let out_format = parse_format(&a.format.output_type, "--output-type")?.unwrap_or(d.format);
    let emit = emit_options(&a.format, file)?;
    let name = file
        .filter(|p| !is_stdin(Some(p)))
        .unwrap_or(Path::new("<stdin>"));
    let out = d
        .emit_extract(&path, out_format, &emit)
        .map_err(|e| e.in_file(name))?;
    if a.in_place
        && let Some(p) = file
    {
        return write_file(p, &out);
    }
    match &a.output {
        Some(p) => write_file(p, &out),
        None => super::write_stdout(&out),
    }
}

/// The rule named by rule flags (at most one may be given).
pub(super) fn rule_from_flags(
    fields: [(&'static str, Option<&str>); 4],
) -> Result<Option<sops_lib::Rule>> {
    let [a, b, c, d] = fields;
    config::rule_from_fields([
        a,
        b,
        c,
        d,
        ("unencrypted_comment_regex", None),
        ("encrypted_comment_regex", None),
    ])
    .map_err(usage)
}

/// Which rule the flags give (at most one).
fn flag_rule(a: &EncryptArgs) -> Result<Option<sops_lib::Rule>> {
    config::rule_from_fields([
        ("unencrypted_suffix", a.unencrypted_suffix.as_deref()),
        ("encrypted_suffix", a.encrypted_suffix.as_deref()),
        ("unencrypted_regex", a.unencrypted_regex.as_deref()),
        ("encrypted_regex", a.encrypted_regex.as_deref()),
        (
            "unencrypted_comment_regex",
            a.unencrypted_comment_regex.as_deref(),
        ),
        (
            "encrypted_comment_regex",
            a.encrypted_comment_regex.as_deref(),
        ),
    ])
    .map_err(usage)
}

/// The key flags of a command (`--age`, `--hc-vault-transit`, `--pgp`, `--kms` with its
/// context and profile).
#[derive(Default)]
pub(super) struct KeyFlags<'a> {
    pub(super) age: Option<&'a str>,
    pub(super) vault: Option<&'a str>,
    pub(super) pgp: Option<&'a str>,
    pub(super) kms: Option<&'a str>,
    pub(super) kms_context: Option<&'a str>,
    pub(super) aws_profile: Option<&'a str>,
}

pub(super) fn flag_keys_all(f: &KeyFlags<'_>) -> Result<Vec<MasterKey>> {
    let mut keys = flag_keys(f.age, f.vault, f.pgp)?;
    let context = sops_lib::keys::kms::parse_context(f.kms_context.unwrap_or("")).map_err(usage)?;
    for a in f.kms.map(split_list).unwrap_or_default() {
        keys.push(
            sops_lib::keys::kms::new_key(&a, &context, f.aws_profile.unwrap_or(""))
                .map_err(usage)?,
        );
    }
    Ok(keys)
}

fn flag_keys(age: Option<&str>, vault: Option<&str>, pgp: Option<&str>) -> Result<Vec<MasterKey>> {
    let mut keys = Vec::new();
    for f in pgp.map(split_list).unwrap_or_default() {
        keys.push(sops_lib::keys::pgp::new_key(&f).map_err(usage)?);
    }
    for u in vault.map(split_list).unwrap_or_default() {
        keys.push(MasterKey::Vault(VaultKey::from_uri(&u).map_err(usage)?));
    }
    for r in age.map(split_list).unwrap_or_default() {
        sops_lib::keys::age_key::check_recipient(&r).map_err(usage)?;
        keys.push(MasterKey::Age {
            recipient: r,
            enc: String::new(),
        });
    }
    Ok(keys)
}

/// The creation rule for `file` from the config, if a config exists.
fn creation_rule(f: &FormatArgs, file: &Path, required: bool) -> Result<Option<config::Resolved>> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let Some(path) = config::find(f.config.as_deref(), &cwd) else {
        return Ok(None);
    };
    let cfg = Config::load(&path)?;
    if !cfg.has_creation_rules() {
        return Ok(None);
    }
    match cfg.rule_for(file) {
        Ok(r) => Ok(Some(r)),
        Err(e) if required => Err(e.into()),
        Err(_) => Ok(None),
    }
}

/// The flags that decide how a new file is encrypted (`encrypt`, `edit` of a new file).
pub(super) struct NewFileFlags<'a> {
    pub(super) keys: KeyFlags<'a>,
    pub(super) rule: Option<sops_lib::Rule>,
    pub(super) mac_only_encrypted: bool,
    pub(super) shamir_threshold: Option<usize>,
}

/// How a new file named `target` is encrypted: keys from the flags, else from the matching
/// `.sops.yaml` creation rule (as sops: flags replace the rule's keys; the rule's encryption
/// rule, threshold and `mac_only_encrypted` apply unless a flag overrides them).
pub(super) fn new_file_options(
    n: &NewFileFlags<'_>,
    f: &FormatArgs,
    target: &Path,
    file: Option<&Path>,
    flags: &Flags,
) -> Result<EncryptOptions> {
    let keys_from_flags = flag_keys_all(&n.keys)?;
    let rule_cfg = creation_rule(f, target, keys_from_flags.is_empty())?;
    let mut opts = EncryptOptions {
        emit: emit_options(f, file)?,
        keys: key_sources(flags),
        ..EncryptOptions::default()
    };
    if let Some(r) = &rule_cfg {
        opts.rule = r.rule.clone();
        opts.mac_only_encrypted = r.mac_only_encrypted;
        opts.shamir_threshold = r.shamir_threshold;
    }
    if keys_from_flags.is_empty() {
        match &rule_cfg {
            Some(r) if !r.groups.is_empty() => opts.groups = r.groups.clone(),
            _ => {
                return Err(usage(
                    "config file not found, or has no creation rules, and no keys provided through command line options (give --age or --hc-vault-transit, or add a .sops.yaml)",
                ));
            }
        }
    } else {
        opts.groups = vec![KeyGroup {
            keys: keys_from_flags,
        }];
    }
    if let Some(rule) = &n.rule {
        opts.rule = Some(rule.clone());
    }
    if n.mac_only_encrypted {
        opts.mac_only_encrypted = true;
    }
    if let Some(t) = n.shamir_threshold {
        opts.shamir_threshold = t;
    }
    Ok(opts)
}

/// Runs `encrypt`.
pub(super) fn encrypt(a: EncryptArgs, flags: &Flags) -> Result<()> {
    let file = a.file.as_deref();
    if a.in_place && is_stdin(file) {
        return Err(usage("--in-place needs a file"));
    }
    // sops: the override names the file for the creation rules and the formats.
    let named = a
        .filename_override
        .as_deref()
        .or(file.filter(|p| !is_stdin(Some(p))));
    let input_type = parse_format(&a.format.input_type, "--input-type")?;
    let format = input_type.unwrap_or_else(|| named.map_or(Format::Binary, Format::from_path));
    let out_format = parse_format(&a.format.output_type, "--output-type")?.unwrap_or(format);
    let target = named.unwrap_or(Path::new("stdin"));
    let opts = new_file_options(
        &NewFileFlags {
            keys: a.keys.flags(),
            rule: flag_rule(&a)?,
            mac_only_encrypted: a.mac_only_encrypted,
            shamir_threshold: a.shamir_secret_sharing_threshold,
        },
        &a.format,
        target,
        file,
        flags,
    )?;
    let input = read_input(file)?;
    let docs = sops_lib::stores::load_plain(format, &input)
        .map_err(|m| sops_lib::Error::new(sops_lib::ErrorKind::Parse, m).in_file(target))?;
    let out = sops_lib::encrypt_docs(docs, out_format, &opts).map_err(|e| e.in_file(target))?;
    if a.in_place
        && let Some(p) = file
    {
        return write_file(p, &out);
    }
    match &a.output {
        Some(p) => write_file(p, &out),
        None => super::write_stdout(&out),
    }
}

/// Runs `exec-env`.
pub(super) fn exec_env(a: ExecEnvArgs, flags: &Flags) -> Result<()> {
    let command = a.run.argv();
    if a.same_process && a.background {
        return Err(usage(
            "--same-process cannot be used with --background (as in sops)",
        ));
    }
    let run_as = RunAs::lookup(a.user.as_deref())?;
    let d = decrypt_to_tree(Some(&a.file), &a.format, a.ignore_mac, key_sources(flags))?;
    let mut envs = Vec::new();
    for e in d.docs.first().map(Vec::as_slice).unwrap_or(&[]) {
        let sops_lib::Entry::Pair(k, v) = e else {
            continue;
        };
        if matches!(v, sops_lib::Value::Map(_) | sops_lib::Value::List(_)) {
            return Err(usage(format!(
                "{}: cannot use complex value in environment; offending key {k}",
                a.file.display()
            )));
        }
        if k.contains('=') || k.is_empty() || k.contains('\0') {
            return Err(usage(format!(
                "{}: the key {k:?} cannot be an environment variable name",
                a.file.display()
            )));
        }
        let mut buf = Zeroizing::new(Vec::new());
        sops_lib::stores::dotenv::val_to_string(v, &mut buf);
        if buf.contains(&0) {
            return Err(usage(format!(
                "{}: the value of {k} contains a NUL byte and cannot be an environment variable",
                a.file.display()
            )));
        }
        envs.push((k.clone(), buf));
    }
    drop(d);
    let mut cmd = child_command(&command)?;
    if a.pristine {
        cmd.env_clear();
    }
    if let Some(u) = &run_as {
        u.apply(&mut cmd);
    }
    {
        use std::os::unix::ffi::OsStrExt;
        for (k, v) in &envs {
            cmd.env(k, std::ffi::OsStr::from_bytes(v));
        }
    }
    drop(envs);
    if a.same_process {
        // sops' --same-process: this process becomes the command (execve); returns on failure.
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        return Err(usage(format!(
            "cannot run {}: {e}",
            command[0].to_string_lossy()
        )));
    }
    if a.background {
        tracing::warn!(
            "exec-env's --background is deprecated in sops; the command is not waited for"
        );
        cmd.spawn()
            .map_err(|e| usage(format!("cannot run {}: {e}", command[0].to_string_lossy())))?;
        return Ok(());
    }
    let mut signals = Signals::catch()?;
    let code = signals.wait_child(cmd, &command[0])?;
    exit_with(code)
}

/// Runs `exec-file`.
pub(super) fn exec_file(a: ExecFileArgs, flags: &Flags) -> Result<()> {
    let command = a.run.argv();
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if a.background {
        return Err(usage(
            "exec-file --background is not supported: the plaintext file must outlive the \
             command and be removed after it (sops' deprecated --background removes it at \
             once); run the command in the background yourself",
        ));
    }
    let name = a.filename.clone();
    if let Some(n) = &name
        && (n.contains('/') || n.is_empty() || n == "." || n == "..")
    {
        return Err(usage("--filename must be a plain file name"));
    }
    let run_as = RunAs::lookup(a.user.as_deref())?;
    let d = decrypt_to_tree(Some(&a.file), &a.format, a.ignore_mac, key_sources(flags))?;
    let out_format = parse_format(&a.format.output_type, "--output-type")?.unwrap_or(d.format);
    let plain = d.emit_with(out_format, &emit_options(&a.format, Some(&a.file))?)?;
    drop(d);
    // From here on a SIGINT/SIGTERM/SIGHUP no longer kills sealbridge: it is forwarded to the
    // command, and the plaintext is removed before sealbridge exits.
    let mut signals = Signals::catch()?;
    let mut guard = crate::supervise::private_dir(".sealbridge-")?;
    if let Some(u) = &run_as {
        u.chown(&guard.dir)?;
    }
    let path = if a.no_fifo {
        // sops: `--filename` as given, else `tmp-file` plus a random suffix.
        let file_name = name.unwrap_or_else(|| {
            let mut r = [0u8; 4];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut r);
            format!("tmp-file{}", u32::from_le_bytes(r))
        });
        let path = guard.dir.join(file_name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let res = f.write_all(&plain).and_then(|()| f.flush());
        guard.file = Some(f);
        res.map_err(|e| Error::io(&path, e))?;
        drop(plain);
        path
    } else {
        let path = guard
            .dir
            .join(name.unwrap_or_else(|| "tmp-file".to_owned()));
        nix::unistd::mkfifo(
            &path,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .map_err(|e| Error::io(&path, std::io::Error::from(e)))?;
        if let Some(u) = &run_as {
            u.chown(&path)?;
        }
        feed_fifo(path.clone(), plain)?;
        path
    };
    if let (Some(u), Some(_)) = (&run_as, &guard.file) {
        u.chown(&path)?;
    }
    let p = path.to_string_lossy().into_owned();
    let command: Vec<OsString> = command
        .iter()
        .map(|arg| {
            let s = arg.to_string_lossy();
            if s.contains("{}") {
                OsString::from(s.replace("{}", &p))
            } else {
                arg.clone()
            }
        })
        .collect();
    let mut cmd = child_command(&command)?;
    if let Some(u) = &run_as {
        u.apply(&mut cmd);
    }
    let res = signals.wait_child(cmd, &command[0]);
    drop(guard);
    exit_with(res?)
}

/// Decrypts `file`, applies `edit` to its first document and, when it changed something,
/// re-encrypts it with the same data key (new `lastmodified` and MAC) and replaces the file.
fn edit_in_place(
    file: &Path,
    f: &FormatArgs,
    ignore_mac: bool,
    flags: &Flags,
    edit: impl FnOnce(&mut sops_lib::Map) -> std::result::Result<bool, sops_lib::Error>,
) -> Result<()> {
    if is_stdin(Some(file)) {
        return Err(usage("set/unset need a file (it is rewritten in place)"));
    }
    let mut d = decrypt_to_tree(Some(file), f, ignore_mac, key_sources(flags))?;
    if let Some(t) = parse_format(&f.output_type, "--output-type")? {
        d.format = t;
    }
    if d.docs.is_empty() {
        d.docs.push(Vec::new());
    }
    let changed = edit(&mut d.docs[0]).map_err(|e| e.in_file(file))?;
    if !changed {
        eprintln!(
            "sealbridge: {}: nothing to change; file not written",
            file.display()
        );
        return Ok(());
    }
    let emit = emit_options(f, Some(file))?;
    let out = d.reencrypt(&emit).map_err(|e| e.in_file(file))?;
    write_file(file, &out)
}

/// Runs `filestatus`: prints `{"encrypted":true}` for a file with sops metadata (a `version`
/// and a `mac`), `{"encrypted":false}` for a file of the format without it, and fails (exit 1,
/// nothing on stdout) for a file that cannot be read or parsed, as sops does.
pub(super) fn file_status(a: FileStatusArgs) -> Result<()> {
    let format =
        parse_format(&a.input_type, "--input-type")?.unwrap_or_else(|| Format::from_path(&a.file));
    let input = std::fs::read(&a.file).map_err(|e| Error::io(&a.file, e))?;
    let loaded = sops_lib::stores::load_encrypted(format, &input).map_err(|m| {
        sops_lib::Error::new(
            sops_lib::ErrorKind::Parse,
            format!("cannot check file status: {m}"),
        )
        .in_file(&a.file)
    })?;
    let encrypted = match loaded.metadata {
        None => false,
        Some(v) => {
            let md = sops_lib::Metadata::from_value(&v).map_err(|m| {
                sops_lib::Error::new(sops_lib::ErrorKind::Metadata, m).in_file(&a.file)
            })?;
            !md.version.is_empty() && !md.mac.is_empty()
        }
    };
    super::write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())
}

/// Runs `set`.
pub(super) fn set(a: SetArgs, flags: &Flags) -> Result<()> {
    let path = sops_lib::parse_extract_path(&a.index)?;
    let text: Zeroizing<Vec<u8>> = match (&a.value, a.value_stdin, a.value_file) {
        (None, true, _) => read_input(None)?,
        (Some(_), true, _) => {
            return Err(usage(
                "with --value-stdin give only FILE and INDEX (the value comes from standard input)",
            ));
        }
        (Some(v), false, true) => read_input(Some(Path::new(v)))?,
        (Some(v), false, false) => {
            use std::os::unix::ffi::OsStrExt;
            Zeroizing::new(v.as_bytes().to_vec())
        }
        (None, false, _) => {
            return Err(usage(
                "give FILE INDEX VALUE (VALUE as JSON), or --value-stdin / --value-file",
            ));
        }
    };
    let value = sops_lib::edit::value_from_json(&text)?;
    drop(text);
    let idempotent = a.idempotent;
    edit_in_place(&a.file, &a.format, a.ignore_mac, flags, move |doc| {
        // Without --idempotent sops rewrites the file even when nothing changed.
        sops_lib::edit::set(doc, &path, value).map(|changed| changed || !idempotent)
    })
}

/// Runs `unset`.
pub(super) fn unset(a: UnsetArgs, flags: &Flags) -> Result<()> {
    let path = sops_lib::parse_extract_path(&a.index)?;
    let idempotent = a.idempotent;
    edit_in_place(
        &a.file,
        &a.format,
        a.ignore_mac,
        flags,
        move |doc| match sops_lib::edit::unset(doc, &path) {
            Ok(()) => Ok(true),
            Err(e) if idempotent && e.kind == sops_lib::ErrorKind::Extract => Ok(false),
            Err(e) => Err(e),
        },
    )
}

/// sops' summary of a key change (`DiffKeyGroups`, `PrettyPrintShamirDiff`, `PrettyPrintDiffs`):
/// per group, unchanged keys indented, added ones `+++ `, removed ones `--- `.
fn key_diff(old: &[KeyGroup], new: &[KeyGroup], old_t: usize, new_t: usize) -> (bool, String) {
    let mut out = String::new();
    if old_t > 0 && old_t == new_t {
        out.push_str(&format!("shamir_threshold: {new_t}\n"));
    } else {
        if new_t > 0 {
            out.push_str(&format!("+++ shamir_threshold: {new_t}\n"));
        }
        if old_t > 0 {
            out.push_str(&format!("--- shamir_threshold: {old_t}\n"));
        }
    }
    let mut changed = old_t != new_t;
    let empty = KeyGroup::default();
    let ids = |groups: &[KeyGroup], i: usize| -> Vec<String> {
        groups
            .get(i)
            .unwrap_or(&empty)
            .keys
            .iter()
            .map(MasterKey::sops_id)
            .collect()
    };
    for i in 0..old.len().max(new.len()) {
        let ours = ids(old, i);
        let theirs = ids(new, i);
        out.push_str(&format!("Group {}\n", i + 1));
        for k in theirs.iter().filter(|k| ours.contains(k)) {
            out.push_str(&format!("    {k}\n"));
        }
        for k in theirs.iter().filter(|k| !ours.contains(k)) {
            changed = true;
            out.push_str(&format!("+++ {k}\n"));
        }
        for k in ours.iter().filter(|k| !theirs.contains(k)) {
            changed = true;
            out.push_str(&format!("--- {k}\n"));
        }
    }
    (changed, out)
}

/// The files `updatekeys` works on: each FILE as given, and below each directory (recursively,
/// in name order, not following symlinks, skipping `.git`) every sops-encrypted file.
fn update_targets(args: &[PathBuf], input_type: Option<Format>) -> Result<Vec<(PathBuf, bool)>> {
    fn walk(dir: &Path, input_type: Option<Format>, out: &mut Vec<(PathBuf, bool)>) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(std::result::Result::ok)
            .collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let Ok(ty) = e.file_type() else { continue };
            let p = e.path();
            if ty.is_dir() && e.file_name() != ".git" {
                walk(&p, input_type, out)?;
            } else if ty.is_file() && super::edit::is_sops_file_as(&p, input_type) {
                out.push((p, false));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            walk(a, input_type, &mut out)?;
        } else {
            out.push((a.clone(), true));
        }
    }
    Ok(out)
}

/// Asks `Is this okay? (y/n):` on stdout until the answer is y or n (sops' prompt).
fn confirm(file: &Path) -> Result<bool> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    loop {
        print!("Is this okay? (y/n):");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let n = stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::io("<stdin>", e))?;
        if n == 0 {
            return Err(usage(format!(
                "{}: no answer to the confirmation (standard input is closed); give --yes to \
                 update keys non-interactively",
                file.display()
            )));
        }
        match line.trim() {
            "y" => return Ok(true),
            "n" => return Ok(false),
            _ => {}
        }
    }
}

/// Updates the keys of one file; `Ok(false)` when it was already up to date or declined.
fn update_one(
    file: &Path,
    explicit: bool,
    a: &UpdateKeysArgs,
    input_type: Option<Format>,
    keys: &KeySources,
) -> Result<bool> {
    let format = input_type.unwrap_or_else(|| Format::from_path(file));
    let rule = match creation_rule(&a.format, file, explicit)? {
        Some(r) => r,
        None if explicit => {
            return Err(usage(
                "config file not found, or has no creation rules: updatekeys needs a .sops.yaml",
            ));
        }
        None => {
            eprintln!(
                "sealbridge: {}: no creation rule matches; skipped",
                file.display()
            );
            return Ok(false);
        }
    };
    if rule.groups.is_empty() {
        return Err(usage(format!(
            "{}: the matching creation rule names no keys",
            file.display()
        )));
    }
    let input = read_input(Some(file))?;
    let (_, md) = sops_lib::load_encrypted(&input, format).map_err(|e| e.in_file(file))?;
    let new_t = if rule.groups.len() >= 2 {
        rule.shamir_threshold
    } else {
        0
    };
    let (changed, summary) = key_diff(&md.groups, &rule.groups, md.shamir_threshold, new_t);
    if !changed {
        eprintln!("sealbridge: File {} already up to date", file.display());
        return Ok(false);
    }
    super::write_stdout(
        format!("The following changes will be made to the file's groups:\n{summary}").as_bytes(),
    )?;
    if !a.yes && !confirm(file)? {
        eprintln!("sealbridge: File {} left unchanged", file.display());
        return Ok(false);
    }
    let emit = emit_options(&a.format, Some(file))?;
    let res = sops_lib::update_keys(
        &input,
        format,
        rule.groups,
        rule.shamir_threshold,
        keys,
        &emit,
    )
    .map_err(|e| e.in_file(file))?;
    if let Some(out) = res {
        write_file(file, &out)?;
        eprintln!("sealbridge: File {} synced with new keys", file.display());
    }
    Ok(true)
}

/// Runs `updatekeys`: for each file (directories: every sops file below them), sops' summary
/// of the key change on stdout and, unless `--yes`, a confirmation; then the data key is
/// re-wrapped. A failing file does not stop the others (as sops with several files); the run
/// fails at the end.
pub(super) fn update_keys(a: UpdateKeysArgs, flags: &Flags) -> Result<()> {
    let keys = key_sources(flags);
    let input_type = parse_format(&a.format.input_type, "--input-type")?;
    let targets = update_targets(&a.files, input_type)?;
    if let [(file, true)] = &targets[..] {
        return update_one(file, true, &a, input_type, &keys).map(|_| ());
    }
    let mut failed = 0;
    for (file, explicit) in &targets {
        if let Err(e) = update_one(file, *explicit, &a, input_type, &keys) {
            super::report(&e);
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(Error::Refused(format!("failed updating {failed} file(s)")));
    }
    Ok(())
}

/// Runs `rotate`.
pub(super) fn rotate(a: RotateArgs, flags: &Flags) -> Result<()> {
    let keys = key_sources(flags);
    let mut d = decrypt_to_tree(Some(&a.file), &a.format, a.ignore_mac, keys.clone())?;
    let add = flag_keys_all(&KeyFlags {
        age: a.add_age.as_deref(),
        vault: a.add_hc_vault_transit.as_deref(),
        pgp: a.add_pgp.as_deref(),
        kms: a.add_kms.as_deref(),
        ..KeyFlags::default()
    })?;
    let rm = flag_keys_all(&KeyFlags {
        age: a.rm_age.as_deref(),
        vault: a.rm_hc_vault_transit.as_deref(),
        pgp: a.rm_pgp.as_deref(),
        kms: a.rm_kms.as_deref(),
        ..KeyFlags::default()
    })?;
    let ident = |k: &MasterKey| k.describe();
    let rm_ids: Vec<String> = rm.iter().map(ident).collect();
    for g in &mut d.metadata.groups {
        g.keys.retain(|k| !rm_ids.contains(&ident(k)));
    }
    if let Some(g) = d.metadata.groups.first_mut() {
        for k in add {
            if !g.keys.iter().any(|x| ident(x) == ident(&k)) {
                g.keys.push(k);
            }
        }
    }
    d.metadata.groups.retain(|g| !g.keys.is_empty());
    let emit = emit_options(&a.format, Some(&a.file))?;
    let out = d.rotate(&keys, &emit).map_err(|e| e.in_file(&a.file))?;
    if a.in_place {
        return write_file(&a.file, &out);
    }
    match &a.output {
        Some(p) => write_file(p, &out),
        None => super::write_stdout(&out),
    }
}
