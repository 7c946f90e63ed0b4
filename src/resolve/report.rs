//! Reporting: failures grouped by cause. A failure of a whole backend (a Vault server that
//! cannot be reached, a TLS failure, a refused login) or of a whole sops file (cannot be
//! decrypted) is one line — the first reference it affected, how many it affected in all, and
//! a hint that matches the cause — instead of one line per reference. Problems of one
//! reference (a missing key, a bad modifier, no secret at a path, permission denied on a
//! path) keep their own lines.

use std::collections::HashMap;

use super::{Failure, Fetched};
use crate::backend::{BackendError, BackendKind, SecretId};

/// Where each reference's secret came from: (document, node path, reference as written).
pub(crate) type RefIds = HashMap<(usize, Vec<usize>, String), SecretId>;

/// What a group of failures is about (`None`: a problem of one reference).
fn cause(id: &SecretId, e: &BackendError) -> Option<(String, &'static str)> {
    match e {
        BackendError::Unreachable(text) if text.contains(": connection failed") => Some((
            text.clone(),
            "check that the server is running and that VAULT_ADDR is its address",
        )),
        BackendError::Unreachable(text) => Some((text.clone(), "")),
        BackendError::Other(text) if text.contains(": login failed") => Some((
            text.clone(),
            "check the auth method's settings and credentials (AVP_AUTH_TYPE, role and secret \
             ids, the JWT or the Kubernetes role)",
        )),
        BackendError::Decrypt(text) if id.backend == BackendKind::Sops => {
            Some((format!("{}\u{0}{text}", id.path), ""))
        }
        _ => None,
    }
}

/// Groups `failures` (in report order, each with its sort key) by cause; returns the lines in
/// the same order (a group where its first reference was).
pub(crate) fn group(
    failures: Vec<((usize, Vec<usize>), Failure)>,
    ids: &RefIds,
    fetched: &Fetched,
) -> Vec<Failure> {
    // The cause of each failure, if it is a backend's or a file's.
    let causes: Vec<Option<(String, &'static str)>> = failures
        .iter()
        .map(|((doc, path), f)| {
            let id = ids.get(&(*doc, path.clone(), f.reference.clone()))?;
            let Some(Err(e)) = fetched.get(id) else {
                return None;
            };
            if !f.problem.starts_with(&e.to_string()) {
                return None;
            }
            cause(id, e)
        })
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (key, _) in causes.iter().flatten() {
        *counts.entry(key.as_str()).or_default() += 1;
    }
    let mut shown: HashMap<&str, ()> = HashMap::new();
    let mut out = Vec::new();
    for ((_, mut f), c) in failures.into_iter().zip(&causes) {
        let Some((key, hint)) = c else {
            out.push(f);
            continue;
        };
        if shown.insert(key.as_str(), ()).is_some() {
            continue;
        }
        let n = counts.get(key.as_str()).copied().unwrap_or(1);
        if n > 1 {
            f.problem.push_str(&format!(
                " ({n} references fail for this reason; this is the first)"
            ));
        }
        if !hint.is_empty() {
            f.problem.push_str("; ");
            f.problem.push_str(hint);
        }
        out.push(f);
    }
    out
}
