//! Key sources: recover the data key from a file's key groups, and wrap a data key for new
//! master keys (spec §7). age, PGP (through GnuPG), AWS KMS (through [`kms::Kms`]) and Vault transit are supported; other key
//! types are kept in the file and reported as unsupported.

pub mod age_key;
pub mod hc_vault;
pub mod kms;
pub mod pgp;

use std::sync::{Arc, OnceLock};

use zeroize::Zeroizing;

use crate::sops::cipher::DataKey;
use crate::sops::metadata::{DECRYPTION_ORDER, KeyGroup, MasterKey, Metadata};
use crate::sops::shamir;
use crate::yaml::gofmt::Timestamp;

pub use age_key::AgeIdentities;
pub use hc_vault::{Transit, Unconfigured};

/// The key material available to this process: age identities (loaded on first use) and a
/// Vault transit client.
#[derive(Clone)]
pub struct KeySources {
    age: Arc<OnceLock<AgeIdentities>>,
    transit: Arc<dyn Transit>,
    kms: Arc<dyn kms::Kms>,
    no_pgp: bool,
    /// `--decryption-order` / `SOPS_DECRYPTION_ORDER`: key types tried first, in this order
    /// (`Err`: the list named an unknown type, reported when a file is decrypted).
    order: Result<Vec<String>, String>,
}

impl std::fmt::Debug for KeySources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySources").finish_non_exhaustive()
    }
}

impl Default for KeySources {
    fn default() -> Self {
        KeySources::from_env()
    }
}

impl KeySources {
    /// age identities from the environment (read when an age key is first used); no Vault
    /// transit (the application adds its client with [`KeySources::with_transit`]) and no AWS
    /// KMS ([`KeySources::with_kms`]).
    pub fn from_env() -> KeySources {
        KeySources {
            age: Arc::new(OnceLock::new()),
            transit: Arc::new(Unconfigured(
                "this key source was given no Vault client".to_owned(),
            )),
            kms: Arc::new(kms::NoKms),
            no_pgp: false,
            order: std::env::var("SOPS_DECRYPTION_ORDER")
                .ok()
                .filter(|o| !o.trim().is_empty())
                .map_or(Ok(Vec::new()), |o| {
                    parse_order(&o).map_err(|e| format!("SOPS_DECRYPTION_ORDER: {e}"))
                }),
        }
    }

    /// Explicit age identities (instead of the environment).
    pub fn with_age(mut self, ids: AgeIdentities) -> KeySources {
        let cell = OnceLock::new();
        let _ = cell.set(ids);
        self.age = Arc::new(cell);
        self
    }

    /// Another transit (the application's Vault client: `crate::backend::vault::transit::VaultTransit`).
    pub fn with_transit(mut self, t: Arc<dyn Transit>) -> KeySources {
        self.transit = t;
        self
    }

    /// The AWS KMS client (the application's; none by default).
    pub fn with_kms(mut self, k: Arc<dyn kms::Kms>) -> KeySources {
        self.kms = k;
        self
    }

    /// The key types to try first, in order (`--decryption-order`).
    pub fn with_decryption_order(mut self, order: Vec<String>) -> KeySources {
        self.order = Ok(order);
        self
    }

    /// No PGP decryption (a tenant: the sidecar's keyring is not the tenant's key material).
    pub fn without_pgp(mut self) -> KeySources {
        self.no_pgp = true;
        self
    }

    /// The transit in use (e.g. to wrap it in a narrower one).
    pub fn transit(&self) -> Arc<dyn Transit> {
        self.transit.clone()
    }

    fn age(&self) -> &AgeIdentities {
        self.age.get_or_init(AgeIdentities::from_env)
    }

    /// Unwraps one master key.
    fn unwrap_key(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, String> {
        match key {
            MasterKey::Age { enc, .. } => self.age().decrypt(enc),
            MasterKey::Vault(v) => self.transit.decrypt(v, &v.enc),
            MasterKey::Other { kind, fields } if kind == "pgp" => {
                if self.no_pgp {
                    return Err("PGP keys are not used for this tenant (the tenancy policy \
                         names its age keys and transit mounts only)"
                        .to_owned());
                }
                pgp::decrypt(fields)
            }
            MasterKey::Other { kind, fields } if kind == "kms" => kms::decrypt(&*self.kms, fields),
            MasterKey::Other { kind, .. } => Err(format!(
                "{kind} keys are not supported by sealbridge; use a key sealbridge supports (age, pgp, kms, hc_vault)"
            )),
        }
    }

    /// Wraps `secret` for `key`, filling in its `enc` (and `created_at` for Vault).
    pub fn wrap_key(&self, key: &mut MasterKey, secret: &[u8]) -> Result<(), String> {
        match key {
            MasterKey::Age { recipient, enc } => {
                *enc = age_key::encrypt(recipient, secret)?;
                Ok(())
            }
            MasterKey::Vault(v) => {
                v.enc = self.transit.encrypt(v, secret)?;
                v.created_at = Timestamp::now_utc().rfc3339();
                Ok(())
            }
            MasterKey::Other { kind, fields } if kind == "pgp" => pgp::encrypt(fields, secret),
            MasterKey::Other { kind, fields } if kind == "kms" => {
                kms::encrypt(&*self.kms, fields, secret)
            }
            MasterKey::Other { kind, .. } => Err(format!(
                "cannot wrap the data key for a {kind} key: {kind} keys are not supported by sealbridge; use a key sealbridge supports (age, pgp, kms, hc_vault)"
            )),
        }
    }

    /// Tries the keys of one group in sops' order (the decryption order's types first); the
    /// first success wins.
    fn unwrap_group(&self, g: &KeyGroup, tried: &mut Vec<String>) -> Option<Zeroizing<Vec<u8>>> {
        let first: &[String] = self.order.as_deref().unwrap_or(&[]);
        let kinds = first.iter().map(String::as_str).chain(
            DECRYPTION_ORDER
                .iter()
                .copied()
                .filter(|k| !first.iter().any(|f| f == k)),
        );
        for kind in kinds {
            for k in g.keys.iter().filter(|k| k.kind() == kind) {
                match self.unwrap_key(k) {
                    Ok(b) => return Some(b),
                    Err(e) => tried.push(format!("{}: {e}", k.describe())),
                }
            }
        }
        None
    }

    /// Recovers the data key of a file (one group: any key; several: Shamir threshold).
    pub fn recover(&self, md: &Metadata) -> Result<DataKey, String> {
        if let Err(e) = &self.order {
            return Err(e.clone());
        }
        let mut tried = Vec::new();
        if md.groups.len() <= 1 {
            let g = md.groups.first().ok_or("No keys found in file")?;
            return match self.unwrap_group(g, &mut tried) {
                Some(k) => DataKey::from_slice(&k)
                    .ok_or_else(|| format!("the data key recovered has {} bytes, not 32", k.len())),
                None => Err(format!(
                    "no key could decrypt the data key; tried: {}",
                    tried.join("; ")
                )),
            };
        }
        let threshold = if md.shamir_threshold == 0 {
            md.groups.len()
        } else {
            md.shamir_threshold
        };
        let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for (i, g) in md.groups.iter().enumerate() {
            if parts.len() >= threshold.max(2) {
                break;
            }
            let mut t = Vec::new();
            match self.unwrap_group(g, &mut t) {
                Some(p) => parts.push(p),
                None => tried.push(format!("group {i}: {}", t.join("; "))),
            }
        }
        if parts.len() < threshold.max(2) {
            return Err(format!(
                "no key could decrypt the data key: the file is encrypted with a Shamir threshold of {threshold} key groups, but only {} group(s) could be decrypted; tried: {}",
                parts.len(),
                tried.join("; ")
            ));
        }
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let key = shamir::combine(&refs).map_err(|e| format!("Shamir combine failed: {e}"))?;
        DataKey::from_slice(&key)
            .ok_or_else(|| "the combined Shamir key is not 32 bytes".to_string())
    }

    /// Wraps `key` for every master key of `md` (split with Shamir for ≥ 2 groups).
    pub fn wrap_all(&self, md: &mut Metadata, key: &DataKey) -> Result<(), String> {
        let n = md.groups.len();
        if n == 0 {
            return Err("no master keys to encrypt the data key for".into());
        }
        if n == 1 {
            for k in &mut md.groups[0].keys {
                self.wrap_key(k, key.bytes())?;
            }
            return Ok(());
        }
        if md.shamir_threshold == 0 {
            md.shamir_threshold = n;
        }
        if md.shamir_threshold > n {
            return Err(format!(
                "shamir_threshold {} is larger than the number of key groups ({n})",
                md.shamir_threshold
            ));
        }
        let shares = shamir::split(key.bytes(), n, md.shamir_threshold.max(2))?;
        for (g, share) in md.groups.iter_mut().zip(shares.iter()) {
            for k in &mut g.keys {
                self.wrap_key(k, share)?;
            }
        }
        Ok(())
    }
}

/// Parses a decryption order: comma-separated key type ids, each known, none twice.
pub fn parse_order(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !DECRYPTION_ORDER.contains(&t) {
            return Err(format!(
                "unknown key type {t:?} in the decryption order; use {}",
                DECRYPTION_ORDER.join(", ")
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_never_uses_the_sidecar_pgp_keyring() {
        let key = pgp::new_key("0123456789ABCDEF0123456789ABCDEF01234567").unwrap();
        let keys = KeySources::from_env().without_pgp();
        let e = keys.unwrap_key(&key).unwrap_err();
        assert!(e.contains("tenant"), "{e}");
        assert!(pgp::new_key("--homedir=/x").is_err());
        assert!(pgp::new_key("12345").is_err());
    }
}
