//! `sealbridge refresh`: ask Argo CD to render again exactly the Applications whose secrets
//! changed since their objects were rendered.
//!
//! Argo CD caches rendered manifests per commit, so a secret rotated in Vault reaches the
//! cluster only after someone hard-refreshes the Application. With
//! `SEALBRIDGE_RECORD_VERSIONS=true` every rendered object records the secrets it was built
//! from and a digest of their versions (`crate::rotation`); one cycle here:
//!
//! 1. lists the Argo CD Applications of one namespace (optionally a label selector), pages of
//!    [`PAGE`];
//! 2. reads the *metadata only* (`PartialObjectMetadata`, never a Secret's data) of each
//!    managed object the Application's `status.resources` lists, of the kinds asked for;
//! 3. reads the current version of every distinct recorded secret once (KV v2 metadata; no
//!    value), shared by every Application;
//! 4. compares each object's recorded digest with the digest of the current versions and sets
//!    `argocd.argoproj.io/refresh: hard` (a JSON merge patch, what `kubectl annotate` sends) on
//!    the Applications with a stale object and no refresh already pending.
//!
//! Everything read from the cluster is the Applications' doing, so it is untrusted: recorded
//! sources must parse as KV paths ([`crate::rotation::parse_sources`]), and the Vault reads are
//! metadata reads with the refresher's own token (give it a policy with `read` on
//! `+/metadata/*` only; KV v1 fingerprints need `read` on those secrets and the operator's
//! key). Nothing here writes anything but the one annotation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{ClusterEnv, kube_config, status_message};
use crate::backend::{Backends, Stamp};
use crate::error::chain;
use crate::resolve::RenderOptions;
use crate::rotation::{self, Source};

/// Argo CD's refresh annotation (its controller removes it once the refresh is done).
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// Applications per list request.
pub const PAGE: u32 = 200;

/// At most this many Applications per cycle (a bound on memory; more is an error that says so).
pub const MAX_APPLICATIONS: usize = 20_000;

/// What to look at.
#[derive(Debug, Clone)]
pub struct RefreshOptions {
    /// The Applications' namespace; `None`: every namespace (Argo CD's Applications in any
    /// namespace).
    pub namespace: Option<String>,
    /// A label selector for the Applications (`team=a,tier!=dev`).
    pub selector: Option<String>,
    /// The object kinds read (`Secret`, `Deployment`, …); empty: every kind.
    pub kinds: BTreeSet<String>,
    /// Report what would be refreshed without patching.
    pub dry_run: bool,
    /// Bound on each Kubernetes request.
    pub timeout: Duration,
    /// Object reads at once.
    pub concurrency: usize,
}

/// What happened to one Application in a cycle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A stale object: `argocd.argoproj.io/refresh: hard` was set.
    Refreshed,
    /// A stale object, and `--dry-run`.
    WouldRefresh,
    /// A refresh is already pending (the annotation is set): not patched again.
    Pending,
    /// Every recorded object is up to date.
    UpToDate,
    /// No managed object records anything.
    NotRecorded,
    /// Something could not be checked (see `problems`); not patched.
    Unchecked,
}

/// One Application's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppReport {
    /// `namespace/name`.
    pub application: String,
    /// What happened.
    pub outcome: Outcome,
    /// The stale objects, `Kind namespace/name`.
    pub stale: Vec<String>,
    /// What could not be checked (objects, secrets, the patch), never a value.
    pub problems: Vec<String>,
}

/// One cycle's result.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CycleReport {
    /// Per Application, in name order.
    pub applications: Vec<AppReport>,
    /// Objects with a record.
    pub recorded_objects: usize,
    /// Distinct secrets whose version was read.
    pub secrets: usize,
}

impl CycleReport {
    /// How many Applications had a problem.
    pub fn problems(&self) -> usize {
        self.applications
            .iter()
            .filter(|a| !a.problems.is_empty())
            .count()
    }
}

/// A connected refresher (one Kubernetes client for every cycle).
pub struct Refresher {
    client: kube::Client,
    server: String,
    opts: RefreshOptions,
}

#[derive(Deserialize)]
struct AppList {
    #[serde(default)]
    items: Vec<App>,
    #[serde(default)]
    metadata: ListMeta,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    next: Option<String>,
}

#[derive(Deserialize)]
struct App {
    metadata: Meta,
    #[serde(default)]
    status: AppStatus,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AppStatus {
    #[serde(default)]
    resources: Vec<Managed>,
}

/// An entry of an Application's `status.resources`.
#[derive(Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Managed {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
}

impl Managed {
    fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// The collection URL of its kind (`/api/v1/namespaces/ns/secrets`), by kube's plural
    /// rule; `None` when a field is not a valid path segment.
    fn collection(&self) -> Option<String> {
        let seg_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        if !seg_ok(&self.version)
            || !seg_ok(&self.kind)
            || !seg_ok(&self.name)
            || (!self.group.is_empty() && !seg_ok(&self.group))
            || (!self.namespace.is_empty() && !seg_ok(&self.namespace))
        {
            return None;
        }
        let gvk = kube::core::GroupVersionKind::gvk(&self.group, &self.version, &self.kind);
        let plural = kube::core::ApiResource::from_gvk(&gvk).plural;
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        Some(if self.namespace.is_empty() {
            format!("{base}/{plural}")
        } else {
            format!("{base}/namespaces/{}/{plural}", self.namespace)
        })
    }
}

/// An object's record, as read.
struct Record {
    sources: BTreeSet<Source>,
    digest: String,
}

impl Refresher {
    /// Connects (kubeconfig, else the pod's service account).
    pub async fn connect(env: &ClusterEnv, opts: RefreshOptions) -> Result<Refresher, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = kube_config(env, opts.timeout, "refresh").await?;
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let client = kube::Client::try_from(config)
            .map_err(|e| format!("cannot build the Kubernetes client: {}", chain(&e)))?;
        Ok(Refresher {
            client,
            server,
            opts,
        })
    }

    /// One request: (status, body), bounded by the timeout.
    async fn send(
        &self,
        request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<(u16, Vec<u8>), String> {
        let request = request
            .map_err(|e| format!("cannot build the request: {e}"))?
            .map(kube::client::Body::from);
        let what = format!("{} {}", request.method(), request.uri());
        let go = async {
            let res = self
                .client
                .send(request)
                .await
                .map_err(|e| format!("{what}: {}", chain(&e)))?;
            let status = res.status().as_u16();
            let body = res
                .into_body()
                .collect_bytes()
                .await
                .map_err(|e| format!("{what}: {}", chain(&e)))?;
            Ok::<_, String>((status, Vec::from(body)))
        };
        tokio::time::timeout(self.opts.timeout, go)
            .await
            .map_err(|_| {
                format!(
                    "{what}: no answer from the Kubernetes API server {} within {:?}",
                    self.server, self.opts.timeout
                )
            })?
    }

    fn http_error(&self, what: &str, status: u16, body: &[u8]) -> String {
        let message = status_message(body).unwrap_or_else(|| format!("HTTP {status}"));
        match status {
            401 | 403 => format!(
                "{what}: {message} (the refresher's service account needs the RBAC of \
                 plugins/argocd/refresh: get/list/patch applications, get on the kinds it reads)"
            ),
            _ => format!("{what}: HTTP {status}: {message}"),
        }
    }

    /// Every Application of the namespace (and selector).
    async fn applications(&self) -> Result<Vec<App>, String> {
        let url = match &self.opts.namespace {
            Some(ns) => format!("/apis/argoproj.io/v1alpha1/namespaces/{ns}/applications"),
            None => "/apis/argoproj.io/v1alpha1/applications".to_owned(),
        };
        let where_ = match &self.opts.namespace {
            Some(ns) => format!("in {ns}"),
            None => "in every namespace".to_owned(),
        };
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let lp = kube::api::ListParams {
                label_selector: self.opts.selector.clone(),
                limit: Some(PAGE),
                continue_token: next.take(),
                ..Default::default()
            };
            let (status, body) = self.send(kube::core::Request::new(&url).list(&lp)).await?;
            if status != 200 {
                return Err(self.http_error(
                    &format!("listing Applications {where_}"),
                    status,
                    &body,
                ));
            }
            let page: AppList = serde_json::from_slice(&body)
                .map_err(|e| format!("the Application list is not what Argo CD writes: {e}"))?;
            out.extend(page.items);
            if out.len() > MAX_APPLICATIONS {
                return Err(format!(
                    "more than {MAX_APPLICATIONS} Applications; narrow them with --selector"
                ));
            }
            match page.metadata.next.filter(|c| !c.is_empty()) {
                Some(c) => next = Some(c),
                None => break,
            }
        }
        Ok(out)
    }

    /// The record of one managed object (`Ok(None)`: none, or the object is gone).
    async fn record(&self, m: &Managed) -> Result<Option<Record>, String> {
        let Some(collection) = m.collection() else {
            return Err(format!("{}: not a valid object reference", m.label()));
        };
        let (status, body) = self
            .send(
                kube::core::Request::new(collection)
                    .get_metadata(&m.name, &kube::api::GetParams::default()),
            )
            .await?;
        match status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.http_error(&m.label(), status, &body)),
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{}: the metadata is not JSON: {e}", m.label()))?;
        let ann = &v["metadata"]["annotations"];
        let (Some(sources), Some(digest)) = (
            ann[rotation::SOURCES_ANNOTATION].as_str(),
            ann[rotation::VERSIONS_ANNOTATION].as_str(),
        ) else {
            return Ok(None);
        };
        let sources = rotation::parse_sources(sources).map_err(|e| {
            format!(
                "{}: annotation {}: {e}",
                m.label(),
                rotation::SOURCES_ANNOTATION
            )
        })?;
        Ok(Some(Record {
            sources,
            digest: digest.to_owned(),
        }))
    }

    /// Sets the refresh annotation on one Application.
    async fn patch(&self, app: &App) -> Result<(), String> {
        let url = format!(
            "/apis/argoproj.io/v1alpha1/namespaces/{}/applications",
            app.metadata.namespace
        );
        let body = serde_json::json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "hard"}}});
        let (status, resp) = self
            .send(kube::core::Request::new(url).patch(
                &app.metadata.name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&body),
            ))
            .await?;
        if status == 200 {
            Ok(())
        } else {
            Err(self.http_error("patching the Application", status, &resp))
        }
    }

    /// One cycle: list, read records, read versions once per secret, patch the stale.
    pub async fn cycle(
        &self,
        backends: &Backends,
        render: &RenderOptions,
    ) -> Result<CycleReport, String> {
        let mut apps = self.applications().await?;
        apps.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));

        // Every managed object of the kinds asked for, read once (concurrently, bounded).
        let mut wanted: BTreeSet<Managed> = BTreeSet::new();
        for app in &apps {
            for m in &app.status.resources {
                if self.opts.kinds.is_empty() || self.opts.kinds.contains(&m.kind) {
                    wanted.insert(m.clone());
                }
            }
        }
        let records = self.records(wanted).await;

        let mut sources: BTreeSet<Source> = BTreeSet::new();
        for r in records.values().flatten().flatten() {
            sources.extend(r.sources.iter().cloned());
        }
        let current = crate::resolve::current_stamps(&sources, backends, render).await;

        let mut report = CycleReport {
            recorded_objects: records
                .values()
                .filter(|r| matches!(r, Ok(Some(_))))
                .count(),
            secrets: sources.len(),
            ..Default::default()
        };
        for app in &apps {
            let mut stale = Vec::new();
            let mut problems = Vec::new();
            let mut recorded = false;
            for m in &app.status.resources {
                let Some(r) = records.get(m) else { continue };
                let record = match r {
                    Ok(Some(record)) => record,
                    Ok(None) => continue,
                    Err(e) => {
                        problems.push(e.clone());
                        continue;
                    }
                };
                recorded = true;
                match digest_now(&record.sources, &current) {
                    Ok(now) if now == record.digest => {}
                    Ok(_) => stale.push(m.label()),
                    Err(e) => problems.push(format!("{}: {e}", m.label())),
                }
            }
            let pending = app.metadata.annotations.contains_key(REFRESH_ANNOTATION);
            let outcome = if !stale.is_empty() {
                if pending {
                    Outcome::Pending
                } else if self.opts.dry_run {
                    Outcome::WouldRefresh
                } else {
                    match self.patch(app).await {
                        Ok(()) => Outcome::Refreshed,
                        Err(e) => {
                            problems.push(e);
                            Outcome::Unchecked
                        }
                    }
                }
            } else if !problems.is_empty() {
                Outcome::Unchecked
            } else if recorded {
                Outcome::UpToDate
            } else {
                Outcome::NotRecorded
            };
            report.applications.push(AppReport {
                application: format!("{}/{}", app.metadata.namespace, app.metadata.name),
                outcome,
                stale,
                problems,
            });
        }
        Ok(report)
    }

    async fn records(
        &self,
        wanted: BTreeSet<Managed>,
    ) -> BTreeMap<Managed, Result<Option<Record>, String>> {
        // In rounds of `concurrency` requests (each bounded by the timeout).
        let wanted: Vec<Managed> = wanted.into_iter().collect();
        let mut out = BTreeMap::new();
        for round in wanted.chunks(self.opts.concurrency.max(1)) {
            let reads = round.iter().map(|m| self.record(m));
            let results = join_all(reads).await;
            out.extend(round.iter().cloned().zip(results));
        }
        out
    }
}

/// Awaits every future of `futures` concurrently (on this task), in order.
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, f) in pending.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// The digest of `sources` at their current versions, or why one cannot be read.
fn digest_now(
    sources: &BTreeSet<Source>,
    current: &BTreeMap<Source, Result<Stamp, String>>,
) -> Result<String, String> {
    let mut stamps = Vec::with_capacity(sources.len());
    for s in sources {
        match current.get(s) {
            Some(Ok(stamp)) => stamps.push(stamp.clone()),
            Some(Err(e)) => return Err(format!("{s}: {e}")),
            None => return Err(format!("{s}: not read")),
        }
    }
    Ok(rotation::digest(&stamps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn managed(group: &str, version: &str, kind: &str, ns: &str, name: &str) -> Managed {
        Managed {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn object_urls() {
        assert_eq!(
            managed("", "v1", "Secret", "team-a", "db")
                .collection()
                .as_deref(),
            Some("/api/v1/namespaces/team-a/secrets")
        );
        assert_eq!(
            managed("apps", "v1", "Deployment", "a", "x")
                .collection()
                .as_deref(),
            Some("/apis/apps/v1/namespaces/a/deployments")
        );
        assert_eq!(
            managed("networking.k8s.io", "v1", "Ingress", "a", "x")
                .collection()
                .as_deref(),
            Some("/apis/networking.k8s.io/v1/namespaces/a/ingresses")
        );
        assert_eq!(
            managed("", "v1", "Namespace", "", "a")
                .collection()
                .as_deref(),
            Some("/api/v1/namespaces")
        );
        // Fields from the cluster cannot steer the request elsewhere.
        for m in [
            managed("", "v1", "Secret", "../../apis", "x"),
            managed("", "v1", "Secret/../x", "a", "x"),
            managed("", "v1?x=1", "Secret", "a", "x"),
            managed("a/b", "v1", "Secret", "a", "x"),
            managed("", "v1", "Secret", "a", "x?watch=1"),
            managed("", "", "Secret", "a", "x"),
        ] {
            assert!(m.collection().is_none(), "{}", m.label());
        }
    }

    #[test]
    fn digest_now_needs_every_source() {
        let a = Source::parse("kv2:s/data/a").unwrap();
        let b = Source::parse("kv2:s/data/b").unwrap();
        let stamp = |s: &Source, v: &str| Stamp {
            source: s.to_string(),
            version: v.into(),
        };
        let mut current = BTreeMap::new();
        current.insert(a.clone(), Ok(stamp(&a, "1")));
        current.insert(b.clone(), Err("permission denied".to_owned()));
        let one: BTreeSet<Source> = [a.clone()].into();
        assert_eq!(
            digest_now(&one, &current).unwrap(),
            rotation::digest(&[stamp(&a, "1")])
        );
        let both: BTreeSet<Source> = [a, b].into();
        assert!(
            digest_now(&both, &current)
                .unwrap_err()
                .contains("permission denied")
        );
    }
}
