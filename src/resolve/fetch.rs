//! Fetch: one request per distinct secret, concurrently (bounded), within a deadline.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Fetched, RenderOptions};
use crate::backend::{BackendError, Backends, SecretId};

pub(crate) async fn fetch_all(
    ids: &BTreeSet<SecretId>,
    backends: &Backends,
    opts: &RenderOptions,
) -> Fetched {
    let mut out = Fetched::new();
    if ids.is_empty() {
        return out;
    }
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for id in ids {
        let Some(backend) = backends.get(id.backend) else {
            out.insert(
                id.clone(),
                Err(BackendError::NotConfigured(not_configured_hint(id))),
            );
            continue;
        };
        let id = id.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only fails if it were.
            let _permit = permits.acquire_owned().await.ok();
            let result = backend.fetch(&id).await;
            (id, result)
        });
    }
    let deadline = tokio::time::Instant::now() + opts.deadline;
    let mut timed_out = false;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok((id, result)))) => {
                out.insert(id, result);
            }
            // A task panicked: its id is unknown here; it is reported as missing below.
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                tasks.abort_all();
                break;
            }
        }
    }
    for id in ids {
        out.entry(id.clone()).or_insert_with(|| {
            Err(if timed_out {
                BackendError::Unreachable(format!(
                    "no answer within the run deadline of {} s",
                    opts.deadline.as_secs()
                ))
            } else {
                BackendError::Other("internal error while fetching".to_owned())
            })
        });
    }
    out
}

fn not_configured_hint(id: &SecretId) -> String {
    match id.backend {
        crate::backend::BackendKind::Vault => {
            "no Vault/OpenBao server is configured: set VAULT_ADDR and VAULT_TOKEN (or another auth method)"
                .to_owned()
        }
        crate::backend::BackendKind::Sops => "the sops backend is not available".to_owned(),
    }
}
