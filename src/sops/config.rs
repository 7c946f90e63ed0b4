//! `.sops.yaml` creation rules (spec §12): which keys and rule a new file is encrypted with.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

use crate::sops::metadata::{KeyGroup, MasterKey, VaultKey};
use crate::sops::rules::{MORE_THAN_ONE, Rule};
use crate::sops::stores::EmitOptions;
use crate::sops::{Error, ErrorKind};

#[derive(Deserialize, Default, Debug)]
struct ConfigFile {
    #[serde(default)]
    creation_rules: Option<Vec<CreationRule>>,
    #[serde(default)]
    stores: Option<StoresConfig>,
}

/// Top-level keys of sealbridge's settings file (and AVP's flat config) that a .sops.yaml
/// never has.
fn looks_like_settings(text: &str) -> bool {
    text.lines().any(|l| {
        let key = l.split(':').next().unwrap_or("");
        matches!(
            key,
            "vault" | "backend" | "kv_version" | "path_prefix" | "deadline"
        ) || key.starts_with("AVP_")
            || key.starts_with("VAULT_")
    })
}

#[derive(Deserialize, Default, Debug)]
struct StoresConfig {
    yaml: Option<IndentConfig>,
    json: Option<IndentConfig>,
    json_binary: Option<IndentConfig>,
}

#[derive(Deserialize, Default, Debug)]
struct IndentConfig {
    indent: Option<i64>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn items(&self) -> Vec<String> {
        match self {
            StringOrList::One(s) => s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
            StringOrList::Many(v) => v
                .iter()
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
        }
    }
}

#[derive(Deserialize, Default, Debug, Clone)]
struct CreationRule {
    path_regex: Option<String>,
    age: Option<StringOrList>,
    hc_vault_transit_uri: Option<StringOrList>,
    pgp: Option<StringOrList>,
    kms: Option<StringOrList>,
    aws_profile: Option<String>,
    gcp_kms: Option<serde::de::IgnoredAny>,
    azure_keyvault: Option<serde::de::IgnoredAny>,
    hckms: Option<serde::de::IgnoredAny>,
    key_groups: Option<Vec<KeyGroupConfig>>,
    shamir_threshold: Option<usize>,
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<String>,
    encrypted_regex: Option<String>,
    unencrypted_comment_regex: Option<String>,
    encrypted_comment_regex: Option<String>,
    mac_only_encrypted: Option<bool>,
}

#[derive(Deserialize, Default, Debug, Clone)]
struct KeyGroupConfig {
    #[serde(default)]
    age: Vec<String>,
    #[serde(default)]
    hc_vault: Vec<String>,
    #[serde(default)]
    pgp: Vec<String>,
    #[serde(default)]
    kms: Vec<KmsConfig>,
    gcp_kms: Option<serde::de::IgnoredAny>,
    azure_keyvault: Option<serde::de::IgnoredAny>,
    hckms: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    merge: Vec<KeyGroupConfig>,
}

/// A `kms` entry of a key group.
#[derive(Deserialize, Default, Debug, Clone)]
struct KmsConfig {
    arn: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    context: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    aws_profile: Option<String>,
}

/// What a creation rule (plus CLI flags) says about a new file.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// Key groups (empty: the rule names no keys).
    pub groups: Vec<KeyGroup>,
    /// Shamir threshold (0 = all groups).
    pub shamir_threshold: usize,
    /// The encryption rule, if the config names one.
    pub rule: Option<Rule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

/// A loaded `.sops.yaml`.
#[derive(Debug)]
pub struct Config {
    /// Where it was found.
    pub path: PathBuf,
    file: ConfigFile,
}

fn cfg_err(path: &Path, m: impl Into<String>) -> Error {
    Error::new(ErrorKind::Usage, m).in_file(path)
}

/// Finds the config: `explicit`, else `SOPS_CONFIG`, else the first `.sops.yaml` in `start` or
/// its parents.
pub fn find(explicit: Option<&Path>, start: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("SOPS_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut dir = Some(start);
    for _ in 0..100 {
        let d = dir?;
        let candidate = d.join(".sops.yaml");
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

fn age_key(r: &str) -> Result<MasterKey, String> {
    crate::sops::keys::age_key::check_recipient(r)?;
    Ok(MasterKey::Age {
        recipient: r.to_string(),
        enc: String::new(),
    })
}

fn vault_key(uri: &str) -> Result<MasterKey, String> {
    VaultKey::from_uri(uri).map(MasterKey::Vault)
}

fn unsupported(kind: &str) -> String {
    format!(
        "{kind} keys are not supported by sealbridge; use a key sealbridge supports (age, pgp, hc_vault)"
    )
}

fn group_from_config(g: &KeyGroupConfig, out: &mut Vec<MasterKey>) -> Result<(), String> {
    for (present, kind) in [
        (g.gcp_kms.is_some(), "gcp_kms"),
        (g.azure_keyvault.is_some(), "azure_keyvault"),
        (g.hckms.is_some(), "hckms"),
    ] {
        if present {
            return Err(unsupported(kind));
        }
    }
    for m in &g.merge {
        group_from_config(m, out)?;
    }
    for u in &g.hc_vault {
        let k = vault_key(u)?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    for r in &g.age {
        let k = age_key(r)?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    for f in &g.pgp {
        let k = crate::sops::keys::pgp::new_key(f)?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    for c in &g.kms {
        let spec = match c.role.as_deref().filter(|r| !r.is_empty()) {
            Some(role) => format!("{}+{role}", c.arn),
            None => c.arn.clone(),
        };
        let context: Vec<(String, String)> = c
            .context
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let k = crate::sops::keys::kms::new_key(
            &spec,
            &context,
            c.aws_profile.as_deref().unwrap_or(""),
        )?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    Ok(())
}

/// Builds the one rule from the six optional fields (error if more than one is set).
pub fn rule_from_fields(fields: [(&str, Option<&str>); 6]) -> Result<Option<Rule>, String> {
    let mut rule = None;
    for (name, v) in fields {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            if rule.is_some() {
                return Err(MORE_THAN_ONE.to_string());
            }
            rule = Some(Rule::from_field(name, v)?);
        }
    }
    Ok(rule)
}

impl Config {
    /// Reads and parses a `.sops.yaml`.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| cfg_err(path, format!("cannot read the sops config: {e}")))?;
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            serde_saphyr::from_str(&text)
                .map_err(|e| cfg_err(path, format!("invalid sops config: {e}")))?
        };
        if file.creation_rules.is_none() && file.stores.is_none() && looks_like_settings(&text) {
            return Err(cfg_err(
                path,
                "this looks like a sealbridge settings file, not a .sops.yaml: for the sops verbs \
                 --config names the .sops.yaml; give a settings file with --settings"
                    .to_owned(),
            ));
        }
        Ok(Config {
            path: path.to_path_buf(),
            file,
        })
    }

    /// `stores:` output settings.
    pub fn emit_options(&self) -> Result<EmitOptions, Error> {
        let mut o = EmitOptions::default();
        if let Some(s) = &self.file.stores {
            let conv = |i: &Option<IndentConfig>, name: &str| -> Result<Option<usize>, Error> {
                match i.as_ref().and_then(|c| c.indent) {
                    None => Ok(None),
                    Some(n) if n < -1 => Err(cfg_err(
                        &self.path,
                        format!("{name} indentation smaller than -1 is not accepted"),
                    )),
                    Some(-1) => Ok(None),
                    Some(n) => Ok(Some(n as usize)),
                }
            };
            o.yaml_indent = match s.yaml.as_ref().and_then(|c| c.indent) {
                None | Some(0) => None,
                Some(n) if n < 0 => {
                    return Err(cfg_err(
                        &self.path,
                        "YAML Negative indentation not accepted",
                    ));
                }
                Some(n) => Some(n as usize),
            };
            o.json_indent = conv(&s.json, "JSON")?;
            o.json_binary_indent = conv(&s.json_binary, "JSON")?;
        }
        Ok(o)
    }

    /// True if the file has at least one creation rule.
    pub fn has_creation_rules(&self) -> bool {
        self.file
            .creation_rules
            .as_ref()
            .is_some_and(|r| !r.is_empty())
    }

    /// The first creation rule whose `path_regex` matches `file` (relative to the config's
    /// directory when the file is inside it).
    /// The creation rules' `path_regex`es, in order (`None`: a rule without one, which matches
    /// every file).
    pub fn rule_regexes(&self) -> Vec<Option<String>> {
        self.file
            .creation_rules
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|r| r.path_regex.clone().filter(|p| !p.is_empty()))
            .collect()
    }

    /// The index of the first creation rule that matches `file` (sops' choice), if any.
    pub fn rule_index_for(&self, file: &Path) -> Option<usize> {
        let target = self.relative(file);
        self.rule_regexes().iter().position(|re| match re {
            None => true,
            Some(re) => Regex::new(re).is_ok_and(|re| re.is_match(&target)),
        })
    }

    /// `file` relative to the config's directory, as sops matches it.
    fn relative(&self, file: &Path) -> String {
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let dir = self
            .path
            .parent()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()))
            .unwrap_or_default();
        abs.strip_prefix(&dir)
            .map(Path::to_path_buf)
            .unwrap_or(abs.clone())
            .to_string_lossy()
            .into_owned()
    }

    pub fn rule_for(&self, file: &Path) -> Result<Resolved, Error> {
        let rules = self.file.creation_rules.as_deref().unwrap_or(&[]);
        let target = self.relative(file);
        let mut chosen = None;
        for r in rules {
            match r.path_regex.as_deref() {
                None | Some("") => {
                    chosen = Some(r);
                    break;
                }
                Some(re) => {
                    let re = Regex::new(re)
                        .map_err(|e| cfg_err(&self.path, format!("can not compile regexp: {e}")))?;
                    if re.is_match(&target) {
                        chosen = Some(r);
                        break;
                    }
                }
            }
        }
        let r = chosen.ok_or_else(|| {
            cfg_err(
                &self.path,
                format!("error loading config: no matching creation rules found for {target}"),
            )
        })?;
        self.resolve(r)
    }

    fn resolve(&self, r: &CreationRule) -> Result<Resolved, Error> {
        let e = |m: String| cfg_err(&self.path, m);
        let mut out = Resolved::default();
        match &r.key_groups {
            Some(groups) if !groups.is_empty() => {
                for g in groups {
                    let mut keys = Vec::new();
                    group_from_config(g, &mut keys).map_err(e)?;
                    out.groups.push(KeyGroup { keys });
                }
            }
            _ => {
                for (present, kind) in [
                    (r.gcp_kms.is_some(), "gcp_kms"),
                    (r.azure_keyvault.is_some(), "azure_keyvault"),
                    (r.hckms.is_some(), "hckms"),
                ] {
                    if present {
                        return Err(e(unsupported(kind)));
                    }
                }
                let mut keys = Vec::new();
                for a in r.age.as_ref().map(StringOrList::items).unwrap_or_default() {
                    keys.push(age_key(&a).map_err(e)?);
                }
                for u in r
                    .hc_vault_transit_uri
                    .as_ref()
                    .map(StringOrList::items)
                    .unwrap_or_default()
                {
                    keys.push(vault_key(&u).map_err(e)?);
                }
                for f in r.pgp.as_ref().map(StringOrList::items).unwrap_or_default() {
                    keys.push(crate::sops::keys::pgp::new_key(&f).map_err(e)?);
                }
                for a in r.kms.as_ref().map(StringOrList::items).unwrap_or_default() {
                    keys.push(
                        crate::sops::keys::kms::new_key(
                            &a,
                            &[],
                            r.aws_profile.as_deref().unwrap_or(""),
                        )
                        .map_err(e)?,
                    );
                }
                if !keys.is_empty() {
                    out.groups.push(KeyGroup { keys });
                }
            }
        }
        out.shamir_threshold = r.shamir_threshold.unwrap_or(0);
        out.rule = rule_from_fields([
            ("unencrypted_suffix", r.unencrypted_suffix.as_deref()),
            ("encrypted_suffix", r.encrypted_suffix.as_deref()),
            ("unencrypted_regex", r.unencrypted_regex.as_deref()),
            ("encrypted_regex", r.encrypted_regex.as_deref()),
            (
                "unencrypted_comment_regex",
                r.unencrypted_comment_regex.as_deref(),
            ),
            (
                "encrypted_comment_regex",
                r.encrypted_comment_regex.as_deref(),
            ),
        ])
        .map_err(e)?;
        out.mac_only_encrypted = r.mac_only_encrypted.unwrap_or(false);
        Ok(out)
    }
}
