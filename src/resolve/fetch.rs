//! Fetch: one request per distinct secret, concurrently (bounded), within a deadline.
//!
//! Ids are first grouped by what the backend says they name ([`Backend::canonical`]: for
//! Vault, `kv/app` and `kv/data/app` in a KV v2 mount are one secret, known after the
//! mount's one lookup); each group is fetched once and its result shared by every id in it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Fetched, RenderOptions};
use crate::backend::{Backend, BackendError, BackendKind, Backends, SecretId};

/// What an id is fetched as: the backend's canonical key (with the version), or the id itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey {
    Canonical(BackendKind, String, Option<u64>, bool),
    Id(SecretId),
}

/// Fetches every id; returns the results by id and the number of distinct fetches.
pub(crate) async fn fetch_all(
    ids: &BTreeSet<SecretId>,
    backends: &Backends,
    opts: &RenderOptions,
) -> (Fetched, usize) {
    let mut out = Fetched::new();
    if ids.is_empty() {
        return (out, 0);
    }
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let deadline = tokio::time::Instant::now() + opts.deadline;
    let mut timed_out = false;

    // Group: ask each backend for its canonical key (concurrently, bounded, in the deadline).
    let mut keyed: Vec<(SecretId, Arc<dyn Backend>)> = Vec::new();
    for id in ids {
        match backends.get(id.backend) {
            Some(b) => keyed.push((id.clone(), b)),
            None => {
                out.insert(
                    id.clone(),
                    Err(BackendError::NotConfigured(not_configured_hint(id))),
                );
            }
        }
    }
    let mut keys: BTreeMap<SecretId, GroupKey> = BTreeMap::new();
    let mut tasks = JoinSet::new();
    for (id, backend) in &keyed {
        let (id, backend, permits) = (id.clone(), backend.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            let key = backend.canonical(&id).await;
            (id, key)
        });
    }
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok((id, Some(key))))) => {
                let k = GroupKey::Canonical(id.backend, key, id.version, id.metadata);
                keys.insert(id, k);
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                tasks.abort_all();
                break;
            }
        }
    }
    let mut groups: BTreeMap<GroupKey, (Arc<dyn Backend>, Vec<SecretId>)> = BTreeMap::new();
    if !timed_out {
        for (id, backend) in keyed {
            let key = keys.remove(&id).unwrap_or_else(|| GroupKey::Id(id.clone()));
            groups
                .entry(key)
                .or_insert_with(|| (backend, Vec::new()))
                .1
                .push(id);
        }
    }
    let distinct = groups.len();

    // Fetch one representative per group.
    let mut tasks = JoinSet::new();
    for (_, (backend, members)) in groups {
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            let result = match members.first() {
                Some(first) => backend.fetch(first).await,
                None => Err(BackendError::Other(
                    "internal error: empty group".to_owned(),
                )),
            };
            (members, result)
        });
    }
    while !timed_out {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok((members, result)))) => {
                for id in members {
                    out.insert(id, result.clone());
                }
            }
            // A task panicked: its ids are unknown here; they are reported as missing below.
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                tasks.abort_all();
            }
        }
    }
    for id in ids {
        out.entry(id.clone()).or_insert_with(|| {
            Err(if timed_out {
                deadline_error(backends.get(id.backend).as_deref(), opts)
            } else {
                BackendError::Other("internal error while fetching".to_owned())
            })
        });
    }
    (out, distinct)
}

/// What an id the run's deadline cut short reports: where it waited and how to wait longer.
fn deadline_error(backend: Option<&dyn Backend>, opts: &RenderOptions) -> BackendError {
    let from = backend
        .and_then(|b| b.location())
        .map(|l| format!(" from {l}"))
        .unwrap_or_default();
    BackendError::Unreachable(format!(
        "no answer{from} within the run deadline of {} s; check that the server is up and \
         reachable, or raise it with SEALBRIDGE_DEADLINE",
        opts.deadline.as_secs_f64()
    ))
}

fn not_configured_hint(id: &SecretId) -> String {
    match id.backend {
        BackendKind::Vault => {
            "no Vault/OpenBao server is configured: set VAULT_ADDR and VAULT_TOKEN (or another auth method)"
                .to_owned()
        }
        BackendKind::Sops => "the sops backend is not available".to_owned(),
    }
}
