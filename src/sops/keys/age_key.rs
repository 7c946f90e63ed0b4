//! age key source (spec §7.3): X25519 identities from `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
//! `SOPS_AGE_KEY_CMD` and the default `keys.txt`, SSH keys ([`ssh`]); one armored age file per
//! recipient (`age1…`, `ssh-ed25519 …` or `ssh-rsa …`).

pub mod ssh;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use zeroize::{Zeroize, Zeroizing};

/// Where age identities were looked for (names only, for error messages).
#[derive(Default)]
pub struct AgeIdentities {
    ids: Vec<age::x25519::Identity>,
    ssh: Vec<ssh::SshIdentity>,
    /// Human-readable list of the sources that were consulted.
    pub sources: Vec<String>,
    /// Problems with sources (unreadable file, bad line), value-free.
    pub problems: Vec<String>,
}

impl std::fmt::Debug for AgeIdentities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeIdentities")
            .field("count", &self.len())
            .field("sources", &self.sources)
            .finish()
    }
}

/// Parses identity text (one `AGE-SECRET-KEY-1…` per line; blank and `#` lines skipped).
fn parse_into(text: &str, origin: &str, out: &mut AgeIdentities) {
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match age::x25519::Identity::from_str(line) {
            Ok(id) => {
                out.ids.push(id);
                n += 1;
            }
            Err(_) if line.starts_with("AGE-PLUGIN-") => out.problems.push(format!(
                "{origin}: line {}: age plugin identities are not supported by sealbridge",
                i + 1
            )),
            Err(_) => out
                .problems
                .push(format!("{origin}: line {} is not an age identity", i + 1)),
        }
    }
    out.sources.push(format!("{origin} ({n} identities)"));
}

/// The default identity file: `$XDG_CONFIG_HOME/sops/age/keys.txt`, else
/// `~/.config/sops/age/keys.txt` (macOS: `~/Library/Application Support/sops/age/keys.txt`).
pub fn default_keys_file() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("sops/age/keys.txt"));
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    if cfg!(target_os = "macos") {
        Some(home.join("Library/Application Support/sops/age/keys.txt"))
    } else {
        Some(home.join(".config/sops/age/keys.txt"))
    }
}

impl AgeIdentities {
    /// Gathers identities from every source sops reads.
    pub fn from_env() -> AgeIdentities {
        let mut out = AgeIdentities::default();
        ssh::load_from_env(&mut out);
        if let Some(mut v) = std::env::var("SOPS_AGE_KEY").ok().filter(|v| !v.is_empty()) {
            parse_into(&v, "SOPS_AGE_KEY", &mut out);
            v.zeroize();
        }
        if let Some(p) = std::env::var_os("SOPS_AGE_KEY_FILE").filter(|v| !v.is_empty()) {
            let origin = format!("SOPS_AGE_KEY_FILE={}", PathBuf::from(&p).display());
            match std::fs::read_to_string(&p) {
                Ok(t) => {
                    let t = Zeroizing::new(t);
                    parse_into(&t, &origin, &mut out);
                }
                Err(e) => out.problems.push(format!("{origin}: {e}")),
            }
        }
        if let Some(cmd) = std::env::var("SOPS_AGE_KEY_CMD")
            .ok()
            .filter(|v| !v.is_empty())
        {
            match run_key_cmd("SOPS_AGE_KEY_CMD", &cmd) {
                Ok(t) => parse_into(&String::from_utf8_lossy(&t), "SOPS_AGE_KEY_CMD", &mut out),
                Err(e) => out.problems.push(e),
            }
        }
        if let Some(p) = default_keys_file() {
            match std::fs::read_to_string(&p) {
                Ok(t) => {
                    let t = Zeroizing::new(t);
                    parse_into(&t, &p.display().to_string(), &mut out);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => out.problems.push(format!("{}: {e}", p.display())),
            }
        }
        out
    }

    /// Identities from text (tests, `--age-key` style callers).
    pub fn from_text(text: &str, origin: &str) -> AgeIdentities {
        let mut out = AgeIdentities::default();
        parse_into(text, origin, &mut out);
        out
    }

    /// How many identities were found (passphrase-protected SSH keys included).
    pub fn len(&self) -> usize {
        self.ids.len() + self.ssh.len()
    }

    /// True if no identity was found.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unwraps an armored age file with any identity.
    pub fn decrypt(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        if self.is_empty() {
            let mut msg = String::from(
                "no age identity found (set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or SOPS_AGE_SSH_PRIVATE_KEY_FILE, or put keys in ",
            );
            msg.push_str(
                &default_keys_file()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "~/.config/sops/age/keys.txt".into()),
            );
            msg.push_str(" or ~/.ssh/id_ed25519)");
            for p in &self.problems {
                msg.push_str("; ");
                msg.push_str(p);
            }
            return Err(msg);
        }
        let reader = ArmoredReader::new(enc.as_bytes());
        let dec = age::Decryptor::new_buffered(std::io::BufReader::new(reader))
            .map_err(|e| format!("invalid age file in enc: {e}"))?;
        let probes: Vec<ssh::Probe> = self
            .ssh
            .iter()
            .filter_map(|s| match s {
                ssh::SshIdentity::Locked(l) => Some(ssh::Probe::new(l)),
                ssh::SshIdentity::Usable(_) => None,
            })
            .collect();
        let usable_ssh = self.ssh.iter().filter_map(|s| match s {
            ssh::SshIdentity::Usable(k) => Some(k.as_ref() as &dyn age::Identity),
            ssh::SshIdentity::Locked(_) => None,
        });
        let ids = self
            .ids
            .iter()
            .map(|i| i as &dyn age::Identity)
            .chain(usable_ssh)
            .chain(probes.iter().map(|p| p as &dyn age::Identity));
        let mut r = dec.decrypt(ids).map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => {
                if let Some(p) = probes.iter().find(|p| p.hit.get()) {
                    return ssh::locked_message(&p.locked.origin);
                }
                let mut msg = format!(
                    "none of the {} age identities from {} matches this recipient",
                    self.len(),
                    self.sources.join(", ")
                );
                for p in &self.problems {
                    msg.push_str("; ");
                    msg.push_str(p);
                }
                msg
            }
            other => format!("age: {other}"),
        })?;
        let mut out = Zeroizing::new(Vec::with_capacity(33));
        r.read_to_end(&mut out)
            .map_err(|e| format!("age payload: {e}"))?;
        Ok(out)
    }
}

/// How long a key command may run when no run deadline is armed (`encrypt`, `exec-env`, …).
const KEY_CMD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(45);

/// Runs a `SOPS_AGE_*_CMD` command (through `/bin/sh -c`, in its own process group) and
/// returns its stdout. It may run until the run deadline (45 s when none is armed); then its
/// whole process group is killed and the key source fails.
fn run_key_cmd(var: &str, cmd: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    use crate::deadline::RunError;
    let mut c = std::process::Command::new("/bin/sh");
    c.arg("-c").arg(cmd);
    let out = crate::deadline::run_captured(&mut c, None, u64::MAX, false, KEY_CMD_TIMEOUT)
        .map_err(|e| match e {
            RunError::Deadline(secs) => format!(
                "{var} did not finish within {secs} s (the run deadline); its process group was \
                 killed"
            ),
            RunError::Read(e) => format!("{var}: cannot read its output: {e}"),
            RunError::Spawn(e) | RunError::Wait(e) => format!("{var}: {e}"),
            RunError::TooBig => format!("{var}: its output is too large"),
        })?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!("{var} exited with {}", out.status))
    }
}

/// A parsed recipient: X25519 (`age1…`) or SSH (`ssh-ed25519 …`, `ssh-rsa …`).
fn parse_recipient(recipient: &str) -> Result<Box<dyn age::Recipient + Send>, String> {
    let recipient = recipient.trim();
    if recipient.starts_with("ssh-") {
        return ssh::parse_recipient(recipient)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>);
    }
    age::x25519::Recipient::from_str(recipient)
        .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
        .map_err(|e| format!("invalid age recipient {recipient:?}: {e}"))
}

/// Wraps `key` for one recipient as an ASCII-armored age file (ends with a newline).
pub fn encrypt(recipient: &str, key: &[u8]) -> Result<String, String> {
    let r = parse_recipient(recipient)?;
    let enc = age::Encryptor::with_recipients(std::iter::once(r.as_ref() as &dyn age::Recipient))
        .map_err(|e| format!("age: {e}"))?;
    let io = |e: std::io::Error| format!("age: {e}");
    let armor = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).map_err(io)?;
    let mut w = enc.wrap_output(armor).map_err(io)?;
    w.write_all(key).map_err(io)?;
    let out = w.finish().and_then(|a| a.finish()).map_err(io)?;
    let mut s = String::from_utf8(out).map_err(|_| "age: armor is not UTF-8".to_string())?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Checks that a recipient string parses (for `--age` and `.sops.yaml`).
pub fn check_recipient(recipient: &str) -> Result<(), String> {
    parse_recipient(recipient).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap() {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let secret = id.to_string();
        let ids = AgeIdentities::from_text(
            &format!(
                "# created: now\n# public key: {recipient}\n{}\n",
                secret.expose_secret()
            ),
            "test",
        );
        assert_eq!(ids.len(), 1);
        let enc = encrypt(&recipient, &[9u8; 32]).unwrap();
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        assert_eq!(ids.decrypt(&enc).unwrap().as_slice(), &[9u8; 32]);
        let other = AgeIdentities::from_text(
            age::x25519::Identity::generate()
                .to_string()
                .expose_secret(),
            "other",
        );
        assert!(
            other
                .decrypt(&enc)
                .unwrap_err()
                .contains("none of the 1 age identities")
        );
    }

    use age::secrecy::ExposeSecret;
}
