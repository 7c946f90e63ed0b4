//! The render engine: scan → plan → fetch → substitute, over documents with origins.
//!
//! - **scan** walks every string value of every document and tokenizes it
//!   ([`crate::placeholder::parse`]); document annotations decide what is recognised;
//! - **plan** turns every reference into a [`SecretId`] and de-duplicates them, so a run
//!   makes one request per distinct (backend, path, version);
//! - **fetch** asks the backends concurrently (bounded, with a deadline);
//! - **substitute** applies key lookup and modifiers and writes the values (typed when a value
//!   is exactly one reference; Secret `data` base64 rules), or deletes entries for
//!   `remove-missing`.
//!
//! Nothing is changed unless everything resolved: on any failure the documents are left as
//! they were and every failure is reported at once, with file, document, object, field path
//! and reference — never a value.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::backend::{BackendError, BackendKind, Backends, KvVersion, SecretId};
use crate::manifest::{self, Input, Origin, ReadError};
use crate::yaml::Document;

mod annotations;
mod explain;
mod fetch;
mod report;
mod scan;
mod substitute;
pub mod triage;
mod versions;

pub use annotations::{ANNOTATION_PREFIXES, parse_bool};
pub use explain::explain_inputs;
pub use versions::{SecretVersion, current_stamps, versions_inputs};

/// How a run resolves references.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// The backend of references without a scheme (`SEALBRIDGE_BACKEND`, AVP's `AVP_TYPE`).
    pub default_backend: BackendKind,
    /// At most this many fetches at once.
    pub concurrency: usize,
    /// The whole fetch phase must finish within this time.
    pub deadline: Duration,
    /// sops files are resolved relative to this directory and may not leave it.
    pub sops_root: PathBuf,
    /// The KV version for Vault paths when no annotation says (`AVP_KV_VERSION`); `None`
    /// detects it per mount.
    pub kv_version: Option<KvVersion>,
    /// `AVP_PATH_VALIDATION`: every secret path (any backend) must match this expression.
    /// Vault paths are checked as the client will request them, with
    /// [`vault_path_prefix`](Self::vault_path_prefix) in front.
    pub path_validation: Option<regex::Regex>,
    /// `SEALBRIDGE_PATH_PREFIX`, which the Vault client puts in front of every Vault path. An
    /// Application may set it (`ARGOCD_ENV_`), so validation must see the prefixed path.
    pub vault_path_prefix: Option<String>,
    /// Bound on the bytes of the output and of all values together (`SEALBRIDGE_MAX_OUTPUT`);
    /// one modifier result may hold a sixteenth of it.
    pub max_output: usize,
    /// The run's tenant under a tenancy policy (`crate::policy`); `None`: single-tenant.
    pub tenant: Option<std::sync::Arc<crate::policy::Tenant>>,
    /// `render --redact`: every resolved value is replaced by a keyed fingerprint (HMAC-SHA256
    /// with this key, the operator's `SEALBRIDGE_FINGERPRINT_KEY_FILE`), so diffs show which
    /// values changed without showing them.
    pub redact: Option<std::sync::Arc<zeroize::Zeroizing<Vec<u8>>>>,
    /// The operator's fingerprint key (`SEALBRIDGE_FINGERPRINT_KEY_FILE`), for the `version` of
    /// KV v1 secrets; `redact` uses the same key.
    pub fingerprint_key: Option<std::sync::Arc<zeroize::Zeroizing<Vec<u8>>>>,
    /// `SEALBRIDGE_RECORD_VERSIONS`: rendered objects carry the secrets and a digest of the
    /// versions they were built from (`crate::rotation`).
    pub record_versions: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            default_backend: BackendKind::Vault,
            concurrency: 16,
            deadline: Duration::from_secs(60),
            sops_root: PathBuf::from("."),
            kv_version: None,
            path_validation: None,
            vault_path_prefix: None,
            max_output: crate::settings::DEFAULT_MAX_OUTPUT,
            tenant: None,
            redact: None,
            fingerprint_key: None,
            record_versions: false,
        }
    }
}

/// One thing that went wrong. `Display`: `FILE: document N (Kind/name): FIELD: REFERENCE: PROBLEM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The document.
    pub origin: Origin,
    /// `Kind/name` of the object (empty when unknown).
    pub object: String,
    /// The field path, e.g. `.spec.template.spec.containers[0].env[1].value` (empty for a
    /// document-level problem).
    pub field: String,
    /// The reference as written (empty for a document-level problem).
    pub reference: String,
    /// What is wrong (never a value).
    pub problem: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if !self.object.is_empty() {
            write!(f, " ({})", self.object)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        if !self.reference.is_empty() {
            write!(f, ": {}", self.reference)?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// A run that did not resolve: every failure, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderFailure {
    /// The failures (at least one).
    pub failures: Vec<Failure>,
}

impl fmt::Display for RenderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.failures.len();
        write!(
            f,
            "{n} problem{} found; nothing was written:",
            if n == 1 { "" } else { "s" }
        )?;
        for fail in &self.failures {
            write!(f, "\n  {fail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RenderFailure {}

/// Why [`render_inputs`] produced nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// An input could not be read or parsed (every such input is listed).
    #[error("{}", read_errors_text(.0))]
    Read(Vec<ReadError>),
    /// References could not be resolved.
    #[error("{0}")]
    Resolve(RenderFailure),
    /// References need a backend whose configuration is wrong or missing (no `VAULT_ADDR`, an
    /// invalid address, incomplete auth settings): one message per problem (exit 2).
    #[error("{0}")]
    Config(String),
    /// The output would exceed the operator's bound (`SEALBRIDGE_MAX_OUTPUT`).
    #[error(
        "the output would be {size} bytes, more than the bound of {max} bytes \
         (SEALBRIDGE_MAX_OUTPUT, which the operator may raise); nothing was written"
    )]
    TooLarge {
        /// Bytes the output would have.
        size: usize,
        /// The bound.
        max: usize,
    },
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
    /// The written stream does not read back as the rendered tree (a writer bug; exit 1).
    #[error(transparent)]
    Emit(#[from] crate::yaml::EmitCheckError),
}

fn read_errors_text(errors: &[ReadError]) -> String {
    let mut s = format!(
        "cannot read the input{}; nothing was written:",
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        s.push_str("\n  ");
        s.push_str(&e.to_string());
    }
    s
}

/// What a successful [`render_inputs`] returns.
pub struct Rendered {
    /// The YAML stream (empty when there were no Kubernetes documents): untouched documents as
    /// they were read, the others re-emitted ([`manifest::stream`]).
    pub output: manifest::stream::Output,
    /// How many documents were written.
    pub documents: usize,
    /// How many distinct secrets were fetched.
    pub fetched: usize,
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendered")
            .field("output", &"[REDACTED]")
            .field("documents", &self.documents)
            .field("fetched", &self.fetched)
            .finish()
    }
}

/// Statistics of one [`render_documents`] call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderStats {
    /// Strings that held references.
    pub sites: usize,
    /// References found.
    pub references: usize,
    /// Distinct secrets fetched.
    pub fetched: usize,
}

/// Renders documents in place: every reference is replaced, or nothing changes and every
/// failure is returned. `origins[i]` describes `docs[i]` (for messages).
pub async fn render_documents(
    docs: &mut [Document],
    origins: &[Origin],
    backends: &Backends,
    opts: &RenderOptions,
) -> Result<RenderStats, RenderError> {
    let mut failures = Vec::new();
    let scanned = scan::scan(docs, origins, &mut failures);
    let references = scanned.sites.iter().map(|s| s.refs.len()).sum();
    if let Some(tenant) = &opts.tenant {
        tenant
            .check_references(references)
            .map_err(RenderError::Config)?;
    }

    // Plan: one SecretId per distinct secret.
    let mut planned = plan(&scanned, opts);
    let ids: BTreeSet<SecretId> = planned.values().filter_map(|r| r.clone().ok()).collect();

    // Fetch.
    let (fetched, distinct) = fetch::fetch_all(&ids, backends, opts).await;

    // What each document is built from (before substitution takes the plan): for the record
    // (`SEALBRIDGE_RECORD_VERSIONS`) and pod-template checksums (`crate::rotation`).
    // Only when asked for: a plain render clones no stamp and walks no document again.
    let checksum_wanted = docs
        .iter()
        .any(|d| crate::rotation::asks_for_checksum(&d.root));
    let stamps = if opts.record_versions || checksum_wanted {
        stamps_by_document(&scanned, &planned, &fetched)
    } else {
        Default::default()
    };
    let (checksums, checksum_problems) = if checksum_wanted {
        crate::rotation::checksums(docs, &stamps)
    } else {
        Default::default()
    };
    for (doc, problem) in checksum_problems {
        if let Some(ctx) = scanned.docs.get(doc) {
            failures.push((
                (doc, Vec::new()),
                Failure {
                    origin: ctx.origin.clone(),
                    object: ctx.object.clone(),
                    field: format!(
                        ".metadata.annotations[\"{}\"]",
                        crate::rotation::CHECKSUM_OF_ANNOTATION
                    ),
                    reference: String::new(),
                    problem,
                },
            ));
        }
    }

    // Substitute (computed first, applied only when nothing failed).
    let ref_ids = ref_ids(&scanned, &planned);
    let edits = substitute::compute(
        &scanned,
        &mut planned,
        &fetched,
        &mut failures,
        opts.max_output,
        opts.redact.as_ref().map(|k| k.as_slice()),
    );
    if !failures.is_empty() {
        // Document order, then field order (stable: several failures of one field keep theirs).
        failures.sort_by(|a, b| a.0.cmp(&b.0));
        let all: Vec<Failure> = failures.iter().map(|(_, f)| f.clone()).collect();
        if let Some(message) = config_problem(&fetched, &all) {
            return Err(RenderError::Config(message));
        }
        // One line per failing server, login or sops file; per reference otherwise.
        let failures = report::group(failures, &ref_ids, &fetched);
        return Err(RenderError::Resolve(RenderFailure { failures }));
    }
    substitute::apply(docs, edits);
    for (doc, checksum) in checksums {
        if let Some(d) = docs.get_mut(doc) {
            crate::rotation::set_checksum(&mut d.root, &checksum);
        }
    }
    if opts.record_versions {
        for (doc, stamps) in stamps {
            if let Some(d) = docs.get_mut(doc) {
                crate::rotation::annotate(&mut d.root, &stamps);
            }
        }
    }
    Ok(RenderStats {
        sites: scanned.sites.len(),
        references,
        fetched: distinct,
    })
}

/// The synchronous form of [`render_documents`], on the process's runtime
/// ([`crate::runtime`]; a decryption the fetch deadline gave up on is abandoned there, never
/// waited for). Do not call it from inside an async task.
pub fn render_documents_blocking(
    docs: &mut [Document],
    origins: &[Origin],
    backends: &Backends,
    opts: &RenderOptions,
) -> Result<RenderStats, RenderError> {
    crate::runtime::block_on(render_documents(docs, origins, backends, opts))
        .map_err(RenderError::Runtime)?
}

/// When a backend the references need is not configured: one message naming each
/// configuration problem once and where it is first needed (the run's references are not
/// listed one by one: they all fail for the same reason, which the user fixes in one place).
fn config_problem(fetched: &Fetched, failures: &[Failure]) -> Option<String> {
    let problems: BTreeSet<&str> = fetched
        .values()
        .filter_map(|r| match r {
            Err(BackendError::NotConfigured(why)) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    if problems.is_empty() {
        return None;
    }
    let mut text = String::new();
    for why in problems {
        let needing = BackendError::NotConfigured(why.to_owned()).to_string();
        let users: Vec<&Failure> = failures
            .iter()
            .filter(|f| f.problem.starts_with(&needing))
            .collect();
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(why);
        if let Some(first) = users.first() {
            let at = Failure {
                problem: String::new(),
                ..(*first).clone()
            }
            .to_string();
            let at = at.trim_end_matches(": ");
            match users.len() {
                1 => text.push_str(&format!(" (needed by {at})")),
                n => text.push_str(&format!(" (needed by {n} references; the first: {at})")),
            }
        }
    }
    text.push_str("; nothing was written");
    Some(text)
}

/// Reads `inputs`, renders every Kubernetes document and returns the YAML stream. Skipped
/// documents are reported as warnings (`tracing`).
pub fn render_inputs(
    inputs: &[Input],
    backends: &Backends,
    opts: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let mut stream =
        manifest::stream::load_stream(inputs, &triage::needs_tree).map_err(RenderError::Read)?;
    for s in &stream.skipped {
        if s.warn {
            tracing::warn!("skipped {}: {}", s.origin, s.reason);
        } else {
            tracing::info!("skipped {}: {}", s.origin, s.reason);
        }
    }
    let origins = std::mem::take(&mut stream.origins);
    let stats = render_documents_blocking(&mut stream.docs, &origins, backends, opts)?;
    tracing::debug!(
        parsed = stream.docs.len(),
        passthrough = stream.passthrough,
        "documents"
    );
    let documents = stream.docs.len() + stream.passthrough;
    // Safety net: re-emitted documents must read back as the tree, or nothing is written.
    let output = stream.into_output()?;
    let size = output.len();
    if size > opts.max_output {
        return Err(RenderError::TooLarge {
            size,
            max: opts.max_output,
        });
    }
    if let Some(tenant) = &opts.tenant {
        tenant.check_output(size).map_err(RenderError::Config)?;
    }
    Ok(Rendered {
        output,
        documents,
        fetched: stats.fetched,
    })
}

/// The secret of each planned reference, by (document, node path, reference as written): how
/// the report finds the cause of a failure.
fn ref_ids(scanned: &scan::Scanned, planned: &Planned) -> report::RefIds {
    let mut ids = report::RefIds::new();
    for (si, site) in scanned.sites.iter().enumerate() {
        for (ri, r) in site.refs.iter().enumerate() {
            if let Some(Ok(id)) = planned.get(&(si, ri)) {
                ids.insert((site.doc, site.path.clone(), r.raw.clone()), id.clone());
            }
        }
    }
    ids
}

/// The [`Stamp`](crate::backend::Stamp)s of the secrets each document's references read
/// (every document with a reference has an entry, maybe empty).
fn stamps_by_document(
    scanned: &scan::Scanned,
    planned: &Planned,
    fetched: &Fetched,
) -> std::collections::BTreeMap<usize, BTreeSet<crate::backend::Stamp>> {
    let mut out: std::collections::BTreeMap<usize, BTreeSet<_>> = Default::default();
    for (si, site) in scanned.sites.iter().enumerate() {
        let set = out.entry(site.doc).or_default();
        for ri in 0..site.refs.len() {
            if let Some(Ok(id)) = planned.get(&(si, ri))
                && let Some(Ok(fetch)) = fetched.get(id)
                && let Some(stamp) = &fetch.stamp
            {
                set.insert(stamp.clone());
            }
        }
    }
    out
}

/// Where each reference's secret comes from (or why it cannot be planned), keyed by
/// (site index, reference index).
type Planned = HashMap<(usize, usize), Result<SecretId, String>>;

fn plan(scanned: &scan::Scanned, opts: &RenderOptions) -> Planned {
    let mut planned = Planned::new();
    for (si, site) in scanned.sites.iter().enumerate() {
        let doc = &scanned.docs[site.doc];
        for (ri, r) in site.refs.iter().enumerate() {
            let mut p = plan_one(r, doc, opts);
            if let (Ok(_), Some(tenant)) = (&p, &opts.tenant)
                && let Err(e) = tenant.check_placement(&doc.object, &site.field, r)
            {
                p = Err(e);
            }
            planned.insert((si, ri), p);
        }
    }
    planned
}

fn plan_one(
    r: &crate::placeholder::Reference,
    doc: &scan::DocCtx,
    opts: &RenderOptions,
) -> Result<SecretId, String> {
    let generic = r.path.is_none();
    let (backend, path) = match (&r.path, generic) {
        (Some(p), _) => (r.backend.unwrap_or(opts.default_backend), p.clone()),
        (None, _) => match &doc.generic_path {
            Some(Ok((b, p))) => (b.unwrap_or(opts.default_backend), p.clone()),
            Some(Err(e)) => return Err(e.clone()),
            None => return Err("a generic reference needs the path annotation".to_owned()),
        },
    };
    let path = crate::placeholder::normalize_path(backend, &path);
    if let Some(re) = &opts.path_validation {
        // Check the path the backend will really read: for Vault, the prefix goes in front.
        let checked = match (backend, &opts.vault_path_prefix) {
            (BackendKind::Vault, Some(prefix)) => format!(
                "{}/{}",
                prefix.trim_end_matches('/'),
                path.trim_start_matches('/')
            ),
            _ => path.clone(),
        };
        if !re.is_match(&checked) {
            return Err(format!(
                "the path {checked} is disallowed by AVP_PATH_VALIDATION restriction"
            ));
        }
    }
    if let Some(tenant) = &opts.tenant {
        tenant.check_reference(backend, &path, opts.vault_path_prefix.as_deref())?;
    }
    // The Vault client's floor (system areas, `.`/`..`), seen here too so `render --list` and
    // `check` report it; the client still enforces it on every request.
    if backend == BackendKind::Vault
        && let Some(why) =
            crate::backend::vault::refused_path(&path, opts.vault_path_prefix.as_deref())
    {
        return Err(format!("refused before any request: {why}"));
    }
    let version = if generic {
        doc.secret_version
    } else {
        r.version
    };
    if backend == BackendKind::Sops && version.is_some() {
        return Err("sops files have no versions; remove the version".to_owned());
    }
    let kv_version = match backend {
        BackendKind::Vault => doc.kv_version.or(opts.kv_version),
        BackendKind::Sops => None,
    };
    let metadata = matches!(
        r.modifiers.first(),
        Some(crate::placeholder::Modifier::Version)
    );
    if r.modifiers
        .iter()
        .skip(1)
        .any(|m| matches!(m, crate::placeholder::Modifier::Version))
    {
        return Err("version must be the first modifier".to_owned());
    }
    if metadata && version.is_some() {
        return Err("version reads the current version; remove the pinned version".to_owned());
    }
    Ok(SecretId {
        backend,
        path,
        version,
        kv_version,
        metadata,
    })
}

/// Failures found so far, each with its sort key (document index, node index path).
pub(crate) type Found = Vec<((usize, Vec<usize>), Failure)>;

/// The result of fetching one secret.
pub(crate) type Fetched = HashMap<SecretId, Result<crate::backend::Fetch, BackendError>>;

#[cfg(test)]
mod tests;
