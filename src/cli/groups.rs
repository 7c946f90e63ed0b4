//! `sealbridge groups add|delete`: add or remove a key group of a sops file (like `sops groups`).
//! The data key stays the same (values and MAC unchanged); it is split again with Shamir over
//! the new groups (or, with one group left, wrapped whole) and re-wrapped for every key.

use std::path::PathBuf;

use crate::error::Result;
use crate::settings::Flags;
use crate::sops::Format;

use super::sops::{
    FormatArgs, KeyFlags, emit_options, flag_keys_all, key_sources, parse_format, read_input,
    usage, write_file,
};

/// Arguments of `groups`.
#[derive(Debug, clap::Args)]
pub struct GroupsArgs {
    /// Add or delete.
    #[command(subcommand)]
    pub step: GroupsStep,
}

/// `groups` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum GroupsStep {
    /// Add a key group with the given keys.
    Add {
        /// The sops-encrypted file.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// age recipients, comma-separated.
        #[arg(long, value_name = "RECIPIENTS")]
        age: Option<String>,
        /// PGP fingerprints, comma-separated.
        #[arg(long, value_name = "FINGERPRINTS")]
        pgp: Option<String>,
        /// AWS KMS key ARNs, comma-separated, `ARN[+ROLE_ARN]`.
        #[arg(long, value_name = "ARNS")]
        kms: Option<String>,
        /// The KMS encryption context, `key:value,…`.
        #[arg(long, value_name = "CONTEXT")]
        encryption_context: Option<String>,
        /// The AWS profile for the KMS keys.
        #[arg(long, value_name = "PROFILE")]
        aws_profile: Option<String>,
        /// Vault/OpenBao transit key URIs, comma-separated.
        #[arg(long, value_name = "URIS")]
        hc_vault_transit: Option<String>,
        /// The number of groups needed to decrypt (default: keep the file's; all groups when
        /// it had one).
        #[arg(long, value_name = "N")]
        shamir_secret_sharing_threshold: Option<usize>,
        /// Rewrite the file instead of printing it.
        #[arg(long, short = 'i')]
        in_place: bool,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Delete the key group at INDEX (0-based, as `sops groups delete`).
    Delete {
        /// The sops-encrypted file.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// The group's index.
        index: usize,
        /// The number of groups needed to decrypt afterwards (default: the file's, at most the
        /// number of groups left).
        #[arg(long, value_name = "N")]
        shamir_secret_sharing_threshold: Option<usize>,
        /// Rewrite the file instead of printing it.
        #[arg(long, short = 'i')]
        in_place: bool,
        #[command(flatten)]
        format: FormatArgs,
    },
}

impl GroupsStep {
    /// The file the step rewrites.
    pub fn file(&self) -> &std::path::Path {
        match self {
            GroupsStep::Add { file, .. } | GroupsStep::Delete { file, .. } => file,
        }
    }

    /// The `.sops.yaml`-related options (for the top-level `--config`).
    pub fn format_mut(&mut self) -> &mut FormatArgs {
        match self {
            GroupsStep::Add { format, .. } | GroupsStep::Delete { format, .. } => format,
        }
    }
}

/// Runs `groups`.
pub(super) fn run(a: GroupsArgs, flags: &Flags) -> Result<()> {
    let keys = key_sources(flags);
    let (file, format, in_place, threshold, change): (_, _, _, _, Change) = match &a.step {
        GroupsStep::Add {
            file,
            age,
            pgp,
            kms,
            encryption_context,
            aws_profile,
            hc_vault_transit,
            shamir_secret_sharing_threshold,
            in_place,
            format,
        } => {
            let new = flag_keys_all(&KeyFlags {
                age: age.as_deref(),
                vault: hc_vault_transit.as_deref(),
                pgp: pgp.as_deref(),
                kms: kms.as_deref(),
                kms_context: encryption_context.as_deref(),
                aws_profile: aws_profile.as_deref(),
            })?;
            if new.is_empty() {
                return Err(usage(
                    "groups add needs at least one key (--age, --pgp, --kms, --hc-vault-transit)",
                ));
            }
            (
                file,
                format,
                *in_place,
                *shamir_secret_sharing_threshold,
                Change::Add(new),
            )
        }
        GroupsStep::Delete {
            file,
            index,
            shamir_secret_sharing_threshold,
            in_place,
            format,
        } => (
            file,
            format,
            *in_place,
            *shamir_secret_sharing_threshold,
            Change::Delete(*index),
        ),
    };
    let input_type = parse_format(&format.input_type, "--input-type")?;
    let fmt = input_type.unwrap_or_else(|| Format::from_path(file));
    let input = read_input(Some(file))?;
    let (_, md) = crate::sops::load_encrypted(&input, fmt).map_err(|e| e.in_file(file))?;
    let mut groups = md.groups.clone();
    match change {
        Change::Add(k) => groups.push(crate::sops::metadata::KeyGroup { keys: k }),
        Change::Delete(i) => {
            if i >= groups.len() {
                return Err(usage(format!(
                    "{}: there is no key group {i} (the file has {})",
                    file.display(),
                    groups.len()
                )));
            }
            if groups.len() == 1 {
                return Err(usage(format!(
                    "{}: cannot delete the only key group",
                    file.display()
                )));
            }
            groups.remove(i);
        }
    }
    let n = groups.len();
    let t = threshold.unwrap_or(if md.shamir_threshold == 0 {
        n
    } else {
        md.shamir_threshold.min(n)
    });
    if n >= 2 && !(1..=n).contains(&t) {
        return Err(usage(format!(
            "--shamir-secret-sharing-threshold {t} is not between 1 and the number of key groups ({n})"
        )));
    }
    let emit = emit_options(format, Some(file))?;
    let out = crate::sops::update_keys(&input, fmt, groups, t, &keys, &emit)
        .map_err(|e| e.in_file(file))?
        .unwrap_or_else(|| input.to_vec());
    if in_place {
        return write_file(file, &out);
    }
    super::write_stdout(&out)
}

enum Change {
    Add(Vec<crate::sops::metadata::MasterKey>),
    Delete(usize),
}
