//! AWS KMS master keys (`kms` entries): the format side. An entry holds the key `arn`, an
//! optional `role` to assume, an optional encryption `context`, `created_at`, the base64
//! `CiphertextBlob` as `enc`, and `aws_profile`. The KMS calls themselves are behind [`Kms`],
//! implemented by the application (`crate::backend::aws`), so this format code imports no
//! network client.

use zeroize::Zeroizing;

use crate::sops::metadata::MasterKey;
use crate::sops::tree::{Entry, Value, map_get};
use crate::yaml::gofmt::Timestamp;

/// A KMS key as the calls need it (no ciphertext).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KmsKey {
    /// `arn:aws:kms:REGION:ACCOUNT:key/ID` (or an alias ARN).
    pub arn: String,
    /// A role ARN to assume first (empty: none).
    pub role: String,
    /// The encryption context, in the file's order.
    pub context: Vec<(String, String)>,
    /// A shared-config profile (empty: the default chain).
    pub aws_profile: String,
}

impl KmsKey {
    /// The region named in the ARN.
    ///
    /// The region becomes part of the endpoint's host name (`kms.REGION.amazonaws.com`) and the
    /// ARN comes from the file, i.e. from the repository: only a region-shaped name (lowercase
    /// letters, digits and `-`, e.g. `us-gov-west-1`) is accepted, so a file cannot point the
    /// signed request — and the session token it carries — at another host.
    pub fn region(&self) -> Option<&str> {
        let mut parts = self.arn.splitn(6, ':');
        let (Some("arn"), Some(_partition), Some("kms"), Some(region)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let shaped = region.len() <= 32
            && region
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase())
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        shaped.then_some(region)
    }
}

/// The KMS operations sops keys need.
pub trait Kms: Send + Sync {
    /// Decrypts `ciphertext_b64` (an entry's `enc`) under `key`.
    fn decrypt(&self, key: &KmsKey, ciphertext_b64: &str) -> Result<Zeroizing<Vec<u8>>, String>;
    /// Encrypts `plaintext` under `key`; returns the base64 `CiphertextBlob`.
    fn encrypt(&self, key: &KmsKey, plaintext: &[u8]) -> Result<String, String>;
}

const NO_KMS: &str = "AWS KMS is not used here (a tenant under a tenancy policy uses its age keys and transit \
     mounts only)";

/// A [`Kms`] for processes and tenants that have none.
#[derive(Debug, Default)]
pub struct NoKms;

impl Kms for NoKms {
    fn decrypt(&self, _: &KmsKey, _: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        Err(NO_KMS.to_owned())
    }
    fn encrypt(&self, _: &KmsKey, _: &[u8]) -> Result<String, String> {
        Err(NO_KMS.to_owned())
    }
}

/// Parses sops' `--kms`/`kms:` form: `ARN` or `ARN+ROLE_ARN`, with a context and profile.
pub fn new_key(
    spec: &str,
    context: &[(String, String)],
    aws_profile: &str,
) -> Result<MasterKey, String> {
    let spec = spec.trim();
    let (arn, role) = match spec.split_once('+') {
        Some((a, r)) => (a, r),
        None => (spec, ""),
    };
    let key = KmsKey {
        arn: arn.to_owned(),
        role: role.to_owned(),
        context: context.to_vec(),
        aws_profile: aws_profile.to_owned(),
    };
    if key.region().is_none() {
        return Err(format!(
            "invalid AWS KMS key {arn:?}: expected arn:aws:kms:REGION:ACCOUNT:key/ID (or \
             alias/NAME)"
        ));
    }
    if !role.is_empty() && !role.starts_with("arn:") {
        return Err(format!(
            "invalid role {role:?} for KMS key {arn}: expected a role ARN"
        ));
    }
    Ok(to_master(&key, "", ""))
}

/// Parses sops' `--encryption-context` form `k1:v1,k2:v2`.
pub fn parse_context(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once(':')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    format!("invalid encryption context entry {p:?}: expected key:value")
                })
        })
        .collect()
}

/// The entry's fields in sops' order: arn, role, context, created_at, enc, aws_profile.
fn to_master(key: &KmsKey, created_at: &str, enc: &str) -> MasterKey {
    let mut fields = vec![Entry::Pair("arn".to_owned(), Value::str(&key.arn))];
    if !key.role.is_empty() {
        fields.push(Entry::Pair("role".to_owned(), Value::str(&key.role)));
    }
    if !key.context.is_empty() {
        let mut ctx: Vec<&(String, String)> = key.context.iter().collect();
        ctx.sort();
        fields.push(Entry::Pair(
            "context".to_owned(),
            Value::Map(
                ctx.into_iter()
                    .map(|(k, v)| Entry::Pair(k.clone(), Value::str(v)))
                    .collect(),
            ),
        ));
    }
    fields.push(Entry::Pair("created_at".to_owned(), Value::str(created_at)));
    fields.push(Entry::Pair("enc".to_owned(), Value::str(enc)));
    fields.push(Entry::Pair(
        "aws_profile".to_owned(),
        Value::str(&key.aws_profile),
    ));
    MasterKey::Other {
        kind: "kms".to_owned(),
        fields,
    }
}

/// The key of a `kms` entry.
pub fn key_of(fields: &[Entry]) -> Result<KmsKey, String> {
    let text = |k: &str| {
        map_get(fields, k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let context = match map_get(fields, "context") {
        Some(Value::Map(m)) => m
            .iter()
            .filter_map(|e| match e {
                Entry::Pair(k, v) => Some((k.clone(), v.as_str().unwrap_or("").to_owned())),
                Entry::Comment(_) => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let key = KmsKey {
        arn: text("arn"),
        role: text("role"),
        context,
        aws_profile: text("aws_profile"),
    };
    if key.region().is_none() {
        return Err(format!("invalid AWS KMS key ARN {:?}", key.arn));
    }
    Ok(key)
}

/// Decrypts a `kms` entry's data key.
pub fn decrypt(kms: &dyn Kms, fields: &[Entry]) -> Result<Zeroizing<Vec<u8>>, String> {
    let key = key_of(fields)?;
    let enc = map_get(fields, "enc")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .ok_or("the entry has no enc")?;
    kms.decrypt(&key, enc)
}

/// Wraps `data_key` for a `kms` entry: new `enc` and `created_at`.
pub fn encrypt(kms: &dyn Kms, fields: &mut Vec<Entry>, data_key: &[u8]) -> Result<(), String> {
    let key = key_of(fields)?;
    let enc = kms.encrypt(&key, data_key)?;
    if let MasterKey::Other { fields: f, .. } =
        to_master(&key, &Timestamp::now_utc().rfc3339(), &enc)
    {
        *fields = f;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_contexts_and_regions() {
        let k = new_key(
            "arn:aws:kms:eu-west-1:111122223333:key/abc+arn:aws:iam::111122223333:role/r",
            &parse_context("team:a,env:prod").unwrap(),
            "",
        )
        .unwrap();
        let MasterKey::Other { fields, .. } = &k else {
            panic!()
        };
        let key = key_of(fields).unwrap();
        assert_eq!(key.region(), Some("eu-west-1"));
        assert_eq!(key.role, "arn:aws:iam::111122223333:role/r");
        assert_eq!(
            key.context,
            [("env".into(), "prod".into()), ("team".into(), "a".into())]
        );
        let names: Vec<&str> = fields.iter().filter_map(Entry::key).collect();
        assert_eq!(
            names,
            ["arn", "role", "context", "created_at", "enc", "aws_profile"]
        );
        assert!(new_key("not-an-arn", &[], "").is_err());
        // The region is part of the endpoint host: nothing but a region name.
        for bad in [
            "arn:aws:kms:evil.example.com#:1:key/x",
            "arn:aws:kms:us-east-1.evil.example.com:1:key/x",
            "arn:aws:kms:x/y:1:key/x",
            "arn:aws:kms:US-EAST-1:1:key/x",
        ] {
            assert!(new_key(bad, &[], "").is_err(), "{bad}");
        }
        assert!(new_key("arn:aws:kms::1:key/x", &[], "").is_err());
        assert!(parse_context("novalue").is_err());
    }
}
