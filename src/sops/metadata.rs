//! The `sops` metadata block (spec §8): read from any store's tree, written in sops' order.

use crate::sops::rules::{MORE_THAN_ONE, RULE_FIELDS, Rule};
use crate::sops::tree::{Entry, Map, Value, map_get};
use crate::yaml::gofmt::{self, Timestamp};

/// sops' metadata for one file.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// Key groups; one group is written as the flat lists.
    pub groups: Vec<KeyGroup>,
    /// Groups needed to recover the key (0 = unset = all groups).
    pub shamir_threshold: usize,
    /// The raw `lastmodified` text.
    pub last_modified: String,
    /// The encrypted MAC (`ENC[…]`), empty if missing.
    pub mac: String,
    /// The rule written in the file (`None` if the file names none).
    pub rule: Option<Rule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// The writer's sops version.
    pub version: String,
}

/// One key group: any key of it recovers the group's key (or Shamir share).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    /// The master keys, in file order per type.
    pub keys: Vec<MasterKey>,
}

/// A master key entry.
#[derive(Clone, Debug, PartialEq)]
pub enum MasterKey {
    /// An age recipient and its armored age file.
    Age {
        /// `age1…` (or an SSH public key).
        recipient: String,
        /// The ASCII-armored age file.
        enc: String,
    },
    /// A Vault/OpenBao transit key.
    Vault(VaultKey),
    /// Another key type (pgp, kms, gcp_kms, hckms, azure_kv): kept as written.
    Other {
        /// The list name: `pgp`, `kms`, …
        kind: String,
        /// The entry's fields as read.
        fields: Map,
    },
}

/// An `hc_vault` entry.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct VaultKey {
    /// `scheme://host:port`.
    pub vault_address: String,
    /// The transit mount path (may contain `/`).
    pub engine_path: String,
    /// The transit key name.
    pub key_name: String,
    /// RFC 3339 wrap time.
    pub created_at: String,
    /// `vault:v1:…`.
    pub enc: String,
}

impl VaultKey {
    /// The URI form `address/v1/engine/keys/name`.
    pub fn uri(&self) -> String {
        format!(
            "{}/v1/{}/keys/{}",
            self.vault_address, self.engine_path, self.key_name
        )
    }

    /// Parses a transit key URI (`scheme://host[:port]/v1/<engine…>/keys/<name>`).
    pub fn from_uri(uri: &str) -> Result<VaultKey, String> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| format!("invalid Vault transit URI {uri:?}: it has no scheme"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(format!("invalid Vault transit URI {uri:?}: no host"));
        }
        let segs: Vec<&str> = path.split('/').collect();
        if segs.len() < 4
            || !segs[0].starts_with('v')
            || segs[0].len() < 2
            || !segs[0][1..].bytes().all(|b| b.is_ascii_digit())
        {
            if path.contains("/v1/") {
                return Err(format!(
                    "invalid Vault transit URI {uri:?}: running Vault with a prefixed URL is not supported!"
                ));
            }
            return Err(format!(
                "invalid Vault transit URI {uri:?}: expected scheme://host[:port]/v1/<engine path>/keys/<key name>"
            ));
        }
        let key_name = segs[segs.len() - 1];
        let engine = segs[1..segs.len() - 2].join("/");
        if key_name.is_empty() || engine.is_empty() {
            return Err(format!(
                "invalid Vault transit URI {uri:?}: expected scheme://host[:port]/v1/<engine path>/keys/<key name>"
            ));
        }
        Ok(VaultKey {
            vault_address: format!("{scheme}://{host}"),
            engine_path: engine,
            key_name: key_name.to_string(),
            created_at: String::new(),
            enc: String::new(),
        })
    }
}

impl MasterKey {
    /// The list name this key is written under.
    pub fn kind(&self) -> &str {
        match self {
            MasterKey::Age { .. } => "age",
            MasterKey::Vault(_) => "hc_vault",
            MasterKey::Other { kind, .. } => kind,
        }
    }

    /// The key as sops' `ToString` prints it (`updatekeys`' summary): the age recipient, the
    /// Vault key URI, a PGP fingerprint, a KMS ARN, …
    pub fn sops_id(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => recipient.clone(),
            MasterKey::Vault(v) => v.uri(),
            MasterKey::Other { fields, .. } => ["fp", "arn", "resource_id", "vault_url", "key_id"]
                .iter()
                .find_map(|f| map_get(fields, f).and_then(Value::as_str))
                .unwrap_or("")
                .to_owned(),
        }
    }

    /// A value-free description for error messages: `age recipient age1…`, `hc_vault URI`.
    pub fn describe(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => format!("age recipient {recipient}"),
            MasterKey::Vault(v) => format!("hc_vault {}", v.uri()),
            MasterKey::Other { kind, fields } => {
                let id = ["fp", "arn", "resource_id", "vault_url", "key_id"]
                    .iter()
                    .find_map(|f| map_get(fields, f).and_then(Value::as_str))
                    .unwrap_or("");
                format!("{kind} {id}")
            }
        }
    }
}

/// Order in which key types are tried within a group (sops' default decryption order).
pub const DECRYPTION_ORDER: [&str; 7] = [
    "age", "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault",
];

/// The key lists of a flat (one-group) metadata block, in write order (`pgp` goes after `mac`).
const FLAT_LISTS: [&str; 6] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age"];
/// The key lists inside a `key_groups` entry, in write order.
const GROUP_LISTS: [&str; 7] = [
    "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age",
];

/// Text of a scalar as Go would decode it into a `string` field.
fn scalar_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(_) => v.as_str()?.to_string(),
        Value::Time(t) => t.rfc3339_nano(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            let mut s = String::new();
            gofmt::float_yaml(*f, &mut s);
            s
        }
        Value::Bool(b) => b.to_string(),
        _ => return None,
    })
}

fn field_text(m: &Map, k: &str) -> String {
    map_get(m, k).and_then(scalar_text).unwrap_or_default()
}

fn read_keys(list: Option<&Value>, kind: &str, out: &mut Vec<MasterKey>) -> Result<(), String> {
    let items = match list {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::List(l)) => l,
        Some(other) => {
            return Err(format!(
                "invalid sops metadata: {kind} must be a list, not a {}",
                other.type_name()
            ));
        }
    };
    for item in items {
        let m = match item {
            Value::Map(m) => m,
            Value::Null | Value::Comment(_) => continue,
            other => {
                return Err(format!(
                    "invalid sops metadata: {kind} entries must be maps, not a {}",
                    other.type_name()
                ));
            }
        };
        out.push(match kind {
            "age" => MasterKey::Age {
                recipient: field_text(m, "recipient"),
                enc: field_text(m, "enc"),
            },
            "hc_vault" => MasterKey::Vault(VaultKey {
                vault_address: field_text(m, "vault_address"),
                engine_path: field_text(m, "engine_path"),
                key_name: field_text(m, "key_name"),
                created_at: field_text(m, "created_at"),
                enc: field_text(m, "enc"),
            }),
            _ => MasterKey::Other {
                kind: kind.to_string(),
                fields: m
                    .iter()
                    .filter(|e| matches!(e, Entry::Pair(..)))
                    .cloned()
                    .collect(),
            },
        });
    }
    Ok(())
}

fn read_group(m: &Map) -> Result<KeyGroup, String> {
    let mut keys = Vec::new();
    for kind in DECRYPTION_ORDER {
        read_keys(map_get(m, kind), kind, &mut keys)?;
    }
    // azure_kv is also spelled azure_keyvault nowhere in files; nothing else to read.
    Ok(KeyGroup { keys })
}

/// Checks a `version` string the way sops does (semver, optional `v`, or `1.x`).
fn check_version(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("Version string empty".into());
    }
    let v2 = v.strip_prefix('v').unwrap_or(v);
    if v2.starts_with("1.") {
        return Ok(());
    }
    let core = v2.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err("No Major.Minor.Patch elements found".into())
    }
}

impl Metadata {
    /// Reads the metadata from the `sops` value (YAML/JSON map, or unflattened dotenv/INI).
    pub fn from_value(v: &Value) -> Result<Metadata, String> {
        let m = match v {
            Value::Map(m) => m,
            other => {
                return Err(format!(
                    "invalid sops metadata: `sops` must be a map, not a {}",
                    other.type_name()
                ));
            }
        };
        let mut md = Metadata::default();
        // Flat lists form the single group if any is non-empty; else key_groups.
        let mut flat = Vec::new();
        for kind in DECRYPTION_ORDER {
            read_keys(map_get(m, kind), kind, &mut flat)?;
        }
        if !flat.is_empty() {
            md.groups.push(KeyGroup { keys: flat });
        } else if let Some(Value::List(groups)) = map_get(m, "key_groups") {
            for g in groups {
                if let Value::Map(gm) = g {
                    md.groups.push(read_group(gm)?);
                }
            }
        }
        md.shamir_threshold = match map_get(m, "shamir_threshold") {
            None | Some(Value::Null) => 0,
            Some(Value::Int(i)) if *i >= 0 => *i as usize,
            Some(Value::Float(f)) if *f >= 0.0 && f.fract() == 0.0 => *f as usize,
            Some(Value::Str(s)) => {
                let t = s.expose_str().unwrap_or("").trim();
                match t.parse::<usize>() {
                    Ok(n) => n,
                    Err(_) => match t.parse::<f64>() {
                        Ok(f) if f >= 0.0 && f.fract() == 0.0 => f as usize,
                        _ => {
                            return Err(
                                "invalid sops metadata: shamir_threshold is not an integer".into(),
                            );
                        }
                    },
                }
            }
            Some(_) => {
                return Err("invalid sops metadata: shamir_threshold is not an integer".into());
            }
        };
        md.last_modified = field_text(m, "lastmodified");
        md.mac = field_text(m, "mac");
        md.version = match map_get(m, "version") {
            Some(Value::Float(_) | Value::Int(_)) => {
                // JSON files from sops 1.x store the version as a number.
                return Err(
                    "SOPS versions higher than 2.0.10 can not automatically decrypt JSON files created with SOPS 1.x: make the value of sops.version a string, or re-encrypt the file with sops 3".into(),
                );
            }
            _ => field_text(m, "version"),
        };
        md.mac_only_encrypted = match map_get(m, "mac_only_encrypted") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Str(s)) => s.expose() == b"true",
            _ => false,
        };
        for f in RULE_FIELDS {
            let t = field_text(m, f);
            if t.is_empty() {
                continue;
            }
            if md.rule.is_some() {
                return Err(MORE_THAN_ONE.to_string());
            }
            md.rule = Some(Rule::from_field(f, &t)?);
        }
        Ok(md)
    }

    /// Validates what sops validates on load (version, lastmodified, keys present).
    pub fn validate(&self) -> Result<(), String> {
        check_version(&self.version)
            .map_err(|e| format!("invalid sops metadata version {:?}: {e}", self.version))?;
        self.last_modified_aad()?;
        if self.groups.iter().all(|g| g.keys.is_empty()) {
            return Err("No keys found in file".into());
        }
        Ok(())
    }

    /// The MAC's AAD: `lastmodified` parsed and re-formatted with whole seconds (spec §8.4).
    pub fn last_modified_aad(&self) -> Result<String, String> {
        Timestamp::parse_rfc3339(&self.last_modified)
            .map(|t| t.rfc3339())
            .ok_or_else(|| {
                format!(
                    "invalid sops metadata: lastmodified {:?} is not an RFC 3339 time",
                    self.last_modified
                )
            })
    }

    /// The rule used to decide which leaves are encrypted.
    pub fn effective_rule(&self) -> Rule {
        self.rule.clone().unwrap_or_else(Rule::default_for_reading)
    }

    /// The metadata as a tree value in sops' field order. `empty_as_null`: JSON writes the
    /// always-present empty group lists as `null`, YAML as `[]`.
    pub fn to_value(&self, empty_as_null: bool) -> Value {
        let mut m: Map = Vec::new();
        let put = |m: &mut Map, k: &str, v: Value| m.push(Entry::Pair(k.to_string(), v));
        if self.shamir_threshold > 0 {
            put(
                &mut m,
                "shamir_threshold",
                Value::Int(self.shamir_threshold as i64),
            );
        }
        let single = self.groups.len() == 1;
        if !single && !self.groups.is_empty() {
            let groups = self
                .groups
                .iter()
                .map(|g| {
                    let mut gm: Map = Vec::new();
                    for kind in GROUP_LISTS {
                        let list = keys_value(g, kind);
                        if list.is_empty() {
                            if kind == "hc_vault" || kind == "age" {
                                let empty = if empty_as_null {
                                    Value::Null
                                } else {
                                    Value::List(vec![])
                                };
                                gm.push(Entry::Pair(kind.to_string(), empty));
                            }
                        } else {
                            gm.push(Entry::Pair(kind.to_string(), Value::List(list)));
                        }
                    }
                    Value::Map(gm)
                })
                .collect();
            put(&mut m, "key_groups", Value::List(groups));
        }
        if single {
            for kind in FLAT_LISTS {
                let list = keys_value(&self.groups[0], kind);
                if !list.is_empty() {
                    put(&mut m, kind, Value::List(list));
                }
            }
        }
        put(&mut m, "lastmodified", Value::str(&self.last_modified));
        put(&mut m, "mac", Value::str(&self.mac));
        if single {
            let list = keys_value(&self.groups[0], "pgp");
            if !list.is_empty() {
                put(&mut m, "pgp", Value::List(list));
            }
        }
        if let Some((f, t)) = self.rule.as_ref().and_then(Rule::field)
            && !t.is_empty()
        {
            put(&mut m, f, Value::str(t));
        }
        if self.mac_only_encrypted {
            put(&mut m, "mac_only_encrypted", Value::Bool(true));
        }
        put(&mut m, "version", Value::str(&self.version));
        Value::Map(m)
    }
}

fn keys_value(g: &KeyGroup, kind: &str) -> Vec<Value> {
    g.keys
        .iter()
        .filter(|k| k.kind() == kind)
        .map(|k| {
            let pair = |k: &str, v: &str| Entry::Pair(k.to_string(), Value::str(v));
            Value::Map(match k {
                MasterKey::Age { recipient, enc } => {
                    vec![pair("recipient", recipient), pair("enc", enc)]
                }
                MasterKey::Vault(v) => vec![
                    pair("vault_address", &v.vault_address),
                    pair("engine_path", &v.engine_path),
                    pair("key_name", &v.key_name),
                    pair("created_at", &v.created_at),
                    pair("enc", &v.enc),
                ],
                MasterKey::Other { fields, .. } => fields.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_uri() {
        let k = VaultKey::from_uri("http://127.0.0.1:18300/v1/transit/keys/sops-key").unwrap();
        assert_eq!(k.vault_address, "http://127.0.0.1:18300");
        assert_eq!(k.engine_path, "transit");
        assert_eq!(k.key_name, "sops-key");
        let k = VaultKey::from_uri("https://v.example/v1/a/b/keys/k").unwrap();
        assert_eq!(k.engine_path, "a/b");
        assert_eq!(k.uri(), "https://v.example/v1/a/b/keys/k");
        assert!(VaultKey::from_uri("127.0.0.1/v1/transit/keys/k").is_err());
        assert!(
            VaultKey::from_uri("http://h/prefix/v1/transit/keys/k")
                .unwrap_err()
                .contains("prefixed")
        );
    }

    #[test]
    fn versions() {
        assert!(check_version("3.11.0").is_ok());
        assert!(check_version("v3.8.1").is_ok());
        assert!(check_version("1.14").is_ok());
        assert!(check_version("").is_err());
        assert!(check_version("3.11").is_err());
    }
}
