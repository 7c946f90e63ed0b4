//! `sealbridge versions`: for every secret the inputs reference, its current version (Vault KV
//! v2 metadata, a sops file's MAC fingerprint) — values are never read — and the references
//! that use it.

use std::collections::{BTreeMap, BTreeSet};

use super::{RenderError, RenderOptions, fetch, plan, scan};
use crate::backend::{Backends, SecretId};
use crate::manifest::Input;
use crate::secret::SecretValue;

/// One secret's version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecretVersion {
    /// `vault://kv/data/app`, `sops://secrets/db.enc.yaml`.
    pub secret: String,
    /// The version (KV v2: the number; sops: `sops-` and a MAC fingerprint), or `None`.
    pub version: Option<String>,
    /// When it was written (KV v2 `updated_time`, sops `lastmodified`).
    pub updated: Option<String>,
    /// Why there is no version (no such secret, KV v1, permission denied, …).
    pub error: Option<String>,
    /// The references using it, `file: document (Kind/name): field`.
    pub used_by: Vec<String>,
}

/// The version of every secret `inputs` reference (one metadata request per distinct
/// secret); references the plan step refuses are listed with their reason.
pub fn versions_inputs(
    inputs: &[Input],
    backends: &Backends,
    opts: &RenderOptions,
) -> Result<Vec<SecretVersion>, RenderError> {
    let (docs, origins) = super::explain::load_documents(inputs)?;
    let mut found = Vec::new();
    let scanned = scan::scan(&docs, &origins, &mut found);
    let planned = plan(&scanned, opts);
    let mut by_secret: BTreeMap<SecretId, Vec<String>> = BTreeMap::new();
    let mut refused: Vec<SecretVersion> = Vec::new();
    for (si, site) in scanned.sites.iter().enumerate() {
        let doc = &scanned.docs[site.doc];
        for (ri, r) in site.refs.iter().enumerate() {
            let at = format!("{}: {}: {}: {}", doc.origin, doc.object, site.field, r.raw);
            match planned.get(&(si, ri)) {
                Some(Ok(id)) => {
                    let id = SecretId {
                        metadata: true,
                        version: None,
                        ..id.clone()
                    };
                    by_secret.entry(id).or_default().push(at);
                }
                Some(Err(why)) => refused.push(SecretVersion {
                    secret: r.raw.clone(),
                    version: None,
                    updated: None,
                    error: Some(why.clone()),
                    used_by: vec![at],
                }),
                None => {}
            }
        }
    }
    let ids: BTreeSet<SecretId> = by_secret.keys().cloned().collect();
    let (fetched, canonical) = crate::runtime::block_on(async {
        let (fetched, _) = fetch::fetch_all(&ids, backends, opts).await;
        // Two spellings of one secret (`kv/app`, `kv/data/app`) are one row: the backend's
        // canonical key (its mount lookups are cached by now).
        let mut canonical: BTreeMap<SecretId, String> = BTreeMap::new();
        for id in &ids {
            let key = match backends.get(id.backend) {
                Some(b) => b.canonical(id).await,
                None => None,
            };
            canonical.insert(id.clone(), key.unwrap_or_else(|| id.path.clone()));
        }
        (fetched, canonical)
    })
    .map_err(RenderError::Runtime)?;
    let mut merged: BTreeMap<(crate::backend::BackendKind, String), SecretId> = BTreeMap::new();
    let mut by_secret_merged: BTreeMap<SecretId, Vec<String>> = BTreeMap::new();
    for (id, used) in by_secret {
        let key = (id.backend, canonical.get(&id).cloned().unwrap_or_default());
        let first = merged.entry(key).or_insert_with(|| id.clone()).clone();
        by_secret_merged.entry(first).or_default().extend(used);
    }
    let by_secret = by_secret_merged;
    let text = |m: &indexmap::IndexMap<String, SecretValue>, k: &str| match m.get(k) {
        Some(SecretValue::String(s)) => Some(String::from_utf8_lossy(s.expose()).into_owned()),
        _ => None,
    };
    let mut out: Vec<SecretVersion> = by_secret
        .into_iter()
        .map(|(id, used_by)| {
            let secret = SecretId {
                metadata: false,
                ..id.clone()
            }
            .to_string();
            match fetched.get(&id).map(|r| r.as_ref().map(|f| &f.value)) {
                Some(Ok(SecretValue::Map(m))) => SecretVersion {
                    secret,
                    version: text(m, "version"),
                    updated: text(m, "updated").filter(|u| !u.is_empty()),
                    error: None,
                    used_by,
                },
                Some(Ok(_)) => SecretVersion {
                    secret,
                    version: None,
                    updated: None,
                    error: Some("the backend gave no version".to_owned()),
                    used_by,
                },
                Some(Err(e)) => SecretVersion {
                    secret,
                    version: None,
                    updated: None,
                    error: Some(e.to_string()),
                    used_by,
                },
                None => SecretVersion {
                    secret,
                    version: None,
                    updated: None,
                    error: Some("not fetched".to_owned()),
                    used_by,
                },
            }
        })
        .collect();
    out.extend(refused);
    Ok(out)
}

/// The current [`Stamp`](crate::backend::Stamp) of each recorded source (`sealbridge
/// refresh`): one metadata request per distinct secret (KV v1: a read and the keyed
/// fingerprint), through the same bounded fetch as a render. A source that cannot be checked
/// gives the reason.
pub async fn current_stamps(
    sources: &BTreeSet<crate::rotation::Source>,
    backends: &Backends,
    opts: &RenderOptions,
) -> BTreeMap<crate::rotation::Source, Result<crate::backend::Stamp, String>> {
    let id_of = |s: &crate::rotation::Source| SecretId {
        backend: crate::backend::BackendKind::Vault,
        path: s.path().to_owned(),
        version: None,
        kv_version: None,
        metadata: true,
    };
    let ids: BTreeSet<SecretId> = sources.iter().map(id_of).collect();
    let (fetched, _) = fetch::fetch_all(&ids, backends, opts).await;
    sources
        .iter()
        .map(|s| {
            let r = match fetched.get(&id_of(s)) {
                Some(Ok(f)) => f.stamp.clone().ok_or_else(|| {
                    "its version cannot be checked (a KV v1 secret needs the operator's \
                     SEALBRIDGE_FINGERPRINT_KEY_FILE)"
                        .to_owned()
                }),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("not fetched".to_owned()),
            };
            (s.clone(), r)
        })
        .collect()
}
