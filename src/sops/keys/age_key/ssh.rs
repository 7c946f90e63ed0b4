//! SSH keys as age identities and recipients (sops ≥ 3.10, Go `filippo.io/age/agessh`):
//! `ssh-ed25519` and `ssh-rsa` recipients, private keys from `SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
//! `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`.
//!
//! Passphrase-protected keys are never unlocked: sops would prompt on a terminal (it reads no
//! passphrase from the environment), and there is none in Argo CD or CI. Such a key is kept as
//! a [`Locked`] marker so that a file encrypted for it fails with a message naming the key
//! file instead of a bare "no identity matched".

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::ssh::{Identity as SshKey, ParseRecipientKeyError, Recipient, UnsupportedKey};
use age_core::format::{FileKey, Stanza};
use base64::Engine;
use base64::prelude::{BASE64_STANDARD, BASE64_STANDARD_NO_PAD};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::AgeIdentities;

/// Environment variable naming an SSH private key file.
pub const KEY_FILE_ENV: &str = "SOPS_AGE_SSH_PRIVATE_KEY_FILE";
/// Environment variable holding a command that prints an SSH private key.
pub const KEY_CMD_ENV: &str = "SOPS_AGE_SSH_PRIVATE_KEY_CMD";

/// An SSH private key found in one of the sources.
pub(super) enum SshIdentity {
    /// An unencrypted key (always `age::ssh::Identity::Unencrypted`).
    Usable(Box<SshKey>),
    /// A passphrase-protected key: recognised, never unlocked.
    Locked(Locked),
}

/// What identifies the stanzas of a passphrase-protected key (its public key tag).
pub(super) struct Locked {
    /// Where the key came from (a path or an environment variable), for messages.
    pub origin: String,
    stanza_type: &'static str,
    tag: String,
}

/// Matches the stanzas of one [`Locked`] key during one decryption, never unwrapping them.
pub(super) struct Probe<'a> {
    pub locked: &'a Locked,
    pub hit: Cell<bool>,
}

impl<'a> Probe<'a> {
    pub(crate) fn new(locked: &'a Locked) -> Probe<'a> {
        Probe {
            locked,
            hit: Cell::new(false),
        }
    }
}

impl age::Identity for Probe<'_> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        if stanza.tag == self.locked.stanza_type
            && stanza.args.first().is_some_and(|a| *a == self.locked.tag)
        {
            self.hit.set(true);
        }
        None
    }
}

/// The message for a file whose stanza belongs to a passphrase-protected key.
pub(super) fn locked_message(origin: &str) -> String {
    format!(
        "the data key is encrypted for the SSH key {origin}, which is passphrase-protected; sealbridge never prompts for a passphrase (there is no terminal in Argo CD or CI, and sops reads none from the environment): point {KEY_FILE_ENV} at an unencrypted copy of the key (`ssh-keygen -p -N \"\" -f COPY`), or encrypt the file for an age1… recipient too"
    )
}

/// Parses an `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…` recipient (a trailing comment is allowed).
pub fn parse_recipient(recipient: &str) -> Result<Recipient, String> {
    Recipient::from_str(recipient.trim()).map_err(|e| {
        let why = match e {
            ParseRecipientKeyError::RsaModulusTooLarge => {
                "the RSA modulus is larger than age supports (16384 bits)".to_string()
            }
            ParseRecipientKeyError::RsaModulusTooSmall => {
                "RSA keys shorter than 2048 bits are refused by age".to_string()
            }
            ParseRecipientKeyError::Unsupported(t) => {
                format!("SSH key type {t} cannot be an age recipient; use ssh-ed25519 or ssh-rsa")
            }
            ParseRecipientKeyError::Invalid(m) => m.to_string(),
            _ => "not an SSH public key".to_string(),
        };
        format!("invalid age SSH recipient {:?}: {why}", recipient.trim())
    })
}

/// The stanza type and tag (first 4 bytes of SHA-256 of the SSH wire key) of a recipient.
fn stanza_id(r: &Recipient) -> Option<(&'static str, String)> {
    let text = r.to_string();
    let mut parts = text.split_whitespace();
    let kind = match parts.next()? {
        "ssh-ed25519" => "ssh-ed25519",
        "ssh-rsa" => "ssh-rsa",
        _ => return None,
    };
    let wire = BASE64_STANDARD.decode(parts.next()?).ok()?;
    let digest = Sha256::digest(&wire);
    Some((kind, BASE64_STANDARD_NO_PAD.encode(&digest[..4])))
}

fn locked(r: &Recipient, origin: &str) -> Result<SshIdentity, String> {
    let (stanza_type, tag) = stanza_id(r).ok_or_else(|| {
        format!("{origin}: passphrase-protected SSH key of a type age cannot use")
    })?;
    Ok(SshIdentity::Locked(Locked {
        origin: origin.to_string(),
        stanza_type,
        tag,
    }))
}

/// Parses one SSH private key. `file` (if any) is used to find `FILE.pub` for old PEM keys.
pub(super) fn parse_key(
    bytes: &[u8],
    origin: &str,
    file: Option<&Path>,
) -> Result<SshIdentity, String> {
    let key = SshKey::from_buffer(std::io::BufReader::new(bytes), Some(origin.to_string()))
        .map_err(|e| {
            format!("{origin} is not an SSH private key age can use (ssh-ed25519 or ssh-rsa): {e}")
        })?;
    match key {
        SshKey::Unencrypted(_) => Ok(SshIdentity::Usable(Box::new(key))),
        SshKey::Encrypted(_) => match Recipient::try_from(key) {
            Ok(r) => locked(&r, origin),
            Err(_) => Err(format!(
                "{origin}: passphrase-protected SSH key of a type age cannot use"
            )),
        },
        SshKey::Unsupported(UnsupportedKey::EncryptedPem) => {
            // Old PEM keys carry no public key: sops reads FILE.pub for it.
            let public = file.map(|f| {
                let mut p = f.as_os_str().to_owned();
                p.push(".pub");
                PathBuf::from(p)
            });
            match public
                .as_deref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .and_then(|t| Recipient::from_str(t.trim()).ok())
            {
                Some(r) => locked(&r, origin),
                None => Err(format!(
                    "{origin} is a passphrase-protected PEM key; sealbridge never prompts for a passphrase: point {KEY_FILE_ENV} at an unencrypted copy (`ssh-keygen -p -N \"\" -f COPY`)"
                )),
            }
        }
        SshKey::Unsupported(UnsupportedKey::EncryptedSsh(cipher)) => Err(format!(
            "{origin} is passphrase-protected (cipher {cipher}); sealbridge never prompts for a passphrase: point {KEY_FILE_ENV} at an unencrypted copy (`ssh-keygen -p -N \"\" -f COPY`)"
        )),
        SshKey::Unsupported(UnsupportedKey::Hardware(t)) => Err(format!(
            "{origin}: {t} keys live on a hardware security key and cannot be used as age identities"
        )),
        SshKey::Unsupported(UnsupportedKey::Type(t)) => Err(format!(
            "{origin}: SSH key type {t} cannot be an age identity; use ssh-ed25519 or ssh-rsa"
        )),
    }
}

impl SshIdentity {
    fn describe(&self) -> &'static str {
        match self {
            SshIdentity::Usable(_) => "SSH key",
            SshIdentity::Locked(_) => "passphrase-protected SSH key, not usable",
        }
    }
}

fn add(out: &mut AgeIdentities, bytes: &[u8], origin: &str, file: Option<&Path>) {
    match parse_key(bytes, origin, file) {
        Ok(id) => {
            out.sources.push(format!("{origin} ({})", id.describe()));
            out.ssh.push(id);
        }
        Err(e) => out.problems.push(e),
    }
}

fn add_file(out: &mut AgeIdentities, path: &Path, origin: &str) {
    match std::fs::read(path) {
        Ok(b) => {
            let b = Zeroizing::new(b);
            add(out, &b, origin, Some(path));
        }
        Err(e) => out.problems.push(format!("{origin}: {e}")),
    }
}

/// Loads SSH identities the way sops does: `SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
/// `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, then `~/.ssh/id_ed25519` and `~/.ssh/id_rsa` if they exist.
pub(super) fn load_from_env(out: &mut AgeIdentities) {
    if let Some(p) = std::env::var_os(KEY_FILE_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(p);
        let origin = format!("{KEY_FILE_ENV}={}", path.display());
        add_file(out, &path, &origin);
    }
    if let Some(cmd) = std::env::var(KEY_CMD_ENV).ok().filter(|v| !v.is_empty()) {
        match super::run_key_cmd(KEY_CMD_ENV, &cmd) {
            // As sops: a passphrase-protected key from the command is refused outright.
            Ok(b) => match parse_key(&b, KEY_CMD_ENV, None) {
                Ok(SshIdentity::Locked(_)) => out.problems.push(format!(
                    "the SSH key printed by {KEY_CMD_ENV} is passphrase-protected, which is unsupported"
                )),
                Ok(id) => {
                    out.sources.push(format!("{KEY_CMD_ENV} ({})", id.describe()));
                    out.ssh.push(id);
                }
                Err(e) => out.problems.push(e),
            },
            Err(e) => out.problems.push(e),
        }
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        for name in ["id_ed25519", "id_rsa"] {
            let path = PathBuf::from(&home).join(".ssh").join(name);
            if path.exists() {
                let origin = path.display().to_string();
                add_file(out, &path, &origin);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519_PUB: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOf2YKv05sdiubgB5ZiSVo2vXm3AwTjUH45tRYuFlLmd comment@host";

    #[test]
    fn recipients_parse_with_comments_and_bad_ones_are_named() {
        assert!(parse_recipient(ED25519_PUB).is_ok());
        let e = parse_recipient("ssh-ed25519 AAAAnotbase64!").unwrap_err();
        assert!(e.contains("invalid age SSH recipient"), "{e}");
        let e = parse_recipient("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBbq+X6TjLuaVEd5XnQ5ZLFdEyp7XuOzKYxDwG7s4nRr3w6YjqJ0+mlrL+0Y4j1a3fS3NkmBo5u2JPPPpdyU0Q8=").unwrap_err();
        assert!(e.contains("invalid age SSH recipient"), "{e}");
    }

    #[test]
    fn the_stanza_tag_matches_what_age_writes() {
        let r = parse_recipient(ED25519_PUB).unwrap();
        let (kind, tag) = stanza_id(&r).unwrap();
        assert_eq!(kind, "ssh-ed25519");
        // Wrap a file key for r and check the stanza age writes carries the same tag.
        let enc =
            age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
        let mut out = Vec::new();
        let w = enc.wrap_output(&mut out).unwrap();
        w.finish().unwrap();
        let header = String::from_utf8_lossy(&out);
        assert!(
            header.contains(&format!("-> ssh-ed25519 {tag} ")),
            "{header}"
        );
    }

    #[test]
    fn garbage_is_not_a_key_and_the_message_has_no_bytes() {
        let e = match parse_key(
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0\n-----END OPENSSH PRIVATE KEY-----\n",
            "k",
            None,
        ) {
            Err(e) => e,
            Ok(_) => panic!("parsed"),
        };
        assert!(e.starts_with("k is not an SSH private key"), "{e}");
        assert!(!e.contains("c2VjcmV0"));
    }
}
