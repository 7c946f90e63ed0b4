//! PGP master keys through GnuPG, as sops does it: the data key is encrypted to a fingerprint
//! with `gpg --encrypt -a` and decrypted with `gpg --use-agent -d` (the binary is
//! `SOPS_GPG_EXEC`, else `gpg`; `GNUPGHOME` and gpg-agent as the environment sets them). Keys
//! stay in the keyring: sealbridge never reads private key material.
//!
//! gpg runs with an argument list (no shell), in its own process group, killed at the run
//! deadline (45 s when none is armed); the data key travels on its stdin/stdout pipes only.
//! gpg's stderr is kept (bounded) for the error message: it names keys, never the data key.

use zeroize::Zeroizing;

use crate::sops::metadata::MasterKey;
use crate::sops::tree::{Entry, Value, map_get};
use crate::yaml::gofmt::Timestamp;

/// How long gpg may run when no run deadline is armed.
const GPG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(45);
/// Bound on what gpg may print (an armored data key is about 1 KiB).
const MAX_GPG_OUTPUT: u64 = 1 << 20;

/// A new PGP master key (not yet wrapped) for `fingerprint` (spaces removed, as sops does).
pub fn new_key(fingerprint: &str) -> Result<MasterKey, String> {
    let fp: String = fingerprint.chars().filter(|c| *c != ' ').collect();
    if fp.len() < 8 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "invalid PGP fingerprint {fingerprint:?}: expected hexadecimal digits (a key \
             fingerprint or long key id)"
        ));
    }
    Ok(MasterKey::Other {
        kind: "pgp".to_owned(),
        fields: vec![
            Entry::Pair("created_at".to_owned(), Value::str("")),
            Entry::Pair("enc".to_owned(), Value::str("")),
            Entry::Pair("fp".to_owned(), Value::str(&fp)),
        ],
    })
}

/// The fingerprint of a `pgp` entry.
pub fn fingerprint(fields: &[Entry]) -> Option<&str> {
    map_get(fields, "fp").and_then(Value::as_str)
}

/// Decrypts the data key of a `pgp` entry with gpg.
pub fn decrypt(fields: &[Entry]) -> Result<Zeroizing<Vec<u8>>, String> {
    let enc = map_get(fields, "enc")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .ok_or("the entry has no enc")?;
    run(&["--use-agent", "-d"], enc.as_bytes())
}

/// Encrypts `data_key` for the entry's fingerprint; fills in `enc` and `created_at`.
pub fn encrypt(fields: &mut Vec<Entry>, data_key: &[u8]) -> Result<(), String> {
    let fp = fingerprint(fields)
        .filter(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("the entry has no valid fp")?
        .to_owned();
    let short = &fp[fp.len().saturating_sub(16)..];
    let out = run(
        &[
            "--no-default-recipient",
            "--yes",
            "--encrypt",
            "-a",
            "-r",
            &fp,
            "--trusted-key",
            short,
            "--no-encrypt-to",
        ],
        data_key,
    )?;
    let armored = String::from_utf8(out.to_vec()).map_err(|_| "gpg printed non-UTF-8 armor")?;
    set(fields, "enc", armored.trim_end_matches('\n'));
    set(fields, "created_at", &Timestamp::now_utc().rfc3339());
    Ok(())
}

fn set(fields: &mut Vec<Entry>, key: &str, value: &str) {
    for e in fields.iter_mut() {
        if let Entry::Pair(k, v) = e
            && k == key
        {
            *v = Value::str(value);
            return;
        }
    }
    fields.push(Entry::Pair(key.to_owned(), Value::str(value)));
}

/// Runs gpg with `args`, `input` on stdin; returns stdout.
fn run(args: &[&str], input: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    use crate::deadline::RunError;
    let gpg = std::env::var_os("SOPS_GPG_EXEC")
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| "gpg".into());
    let shown = std::path::Path::new(&gpg).display().to_string();
    let mut cmd = std::process::Command::new(&gpg);
    cmd.args(["--batch", "--no-tty", "--quiet"]).args(args);
    let out = crate::deadline::run_captured(
        &mut cmd,
        Some(Zeroizing::new(input.to_vec())),
        MAX_GPG_OUTPUT,
        true,
        GPG_TIMEOUT,
    )
    .map_err(|e| match e {
        RunError::Spawn(e) => {
            format!("cannot run {shown} (SOPS_GPG_EXEC, else gpg on PATH): {e}")
        }
        RunError::Deadline(secs) => format!(
            "{shown} did not finish within {secs} s (the run deadline); its process group was \
             killed"
        ),
        RunError::TooBig => format!("{shown} printed more than {MAX_GPG_OUTPUT} bytes"),
        RunError::Wait(e) => format!("{shown}: {e}"),
        RunError::Read(e) => format!("{shown}: cannot read its output: {e}"),
    })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let last = msg
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("no message");
        return Err(format!("{shown} failed ({}): {last}", out.status));
    }
    Ok(out.stdout)
}
