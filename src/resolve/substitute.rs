//! Substitute: compute every replacement (typed or text, base64 rules), then apply them all.

use base64::Engine as _;
use zeroize::Zeroizing;

use super::scan::{Mode, Piece, Scanned, Site};
use super::{Failure, Fetched, Found, Planned};
use crate::backend::{BackendError, SecretId};
use crate::placeholder::value::scalar_text;
use crate::placeholder::{self, Flow, Missing, Reference};
use crate::secret::{SecretValue, Sensitive};
use crate::yaml::{self, Document, Node, NodeKind};

/// A change to a document.
pub(crate) enum Edit {
    Replace {
        doc: usize,
        path: Vec<usize>,
        node: Node,
    },
    Remove {
        doc: usize,
        path: Vec<usize>,
    },
}

/// Why one reference has no value.
enum Problem {
    Missing(Missing),
    /// No secret at the path, with the backend's reason (e.g. that version was deleted).
    NoSecret(String),
    Other(String),
}

impl Problem {
    /// Missing in a way `remove-missing` may delete (the secret exists, the key does not).
    fn removable(&self) -> bool {
        matches!(
            self,
            Problem::Missing(Missing::Key { .. } | Missing::Null { .. } | Missing::Pointer { .. })
        )
    }
}

/// A keyed fingerprint in place of a value (`render --redact`): `redacted:` and the first 24
/// hex digits of HMAC-SHA256(key, the value's text or canonical JSON).
fn redacted(key: &[u8], v: &SecretValue) -> SecretValue {
    SecretValue::String(crate::secret::Sensitive::from_str_copy(&format!(
        "redacted:{}",
        crate::placeholder::value::keyed_fingerprint(key, v)
    )))
}

/// Computes every edit (every value replaced by its keyed fingerprint when `redact` is given).
/// `max_output` bounds the bytes of all values together (and, divided by 16, of each modifier
/// result): past it the run fails at the reference that crossed it.
pub(crate) fn compute(
    scanned: &Scanned,
    planned: &mut Planned,
    fetched: &Fetched,
    failures: &mut Found,
    max_output: usize,
    redact: Option<&[u8]>,
) -> Vec<Edit> {
    let mut edits = Vec::new();
    let max_value = (max_output / 16).max(1);
    let mut total: usize = 0;
    for (si, site) in scanned.sites.iter().enumerate() {
        let doc = &scanned.docs[site.doc];
        let fail = |failures: &mut Found, reference: &str, problem: String| {
            failures.push((
                (site.doc, site.path.clone()),
                Failure {
                    origin: doc.origin.clone(),
                    object: doc.object.clone(),
                    field: site.field.clone(),
                    reference: reference.to_owned(),
                    problem,
                },
            ));
        };
        let mut values = Vec::with_capacity(site.refs.len());
        let mut problems = Vec::new();
        for (ri, r) in site.refs.iter().enumerate() {
            let id = planned
                .remove(&(si, ri))
                .unwrap_or_else(|| Err("internal error: reference not planned".to_owned()));
            match resolve_ref(r, &id, fetched, max_value) {
                Ok(v) => {
                    let v = match redact {
                        Some(key) => redacted(key, &v),
                        None => v,
                    };
                    total = total.saturating_add(value_size(&v));
                    if total > max_output {
                        fail(
                            failures,
                            &r.raw,
                            format!(
                                "the values of this run add up to more than {max_output} bytes, \
                                 the bound on the output (SEALBRIDGE_MAX_OUTPUT, which the \
                                 operator may raise); nothing was written"
                            ),
                        );
                        return edits;
                    }
                    values.push(v);
                }
                Err(p) => {
                    values.push(SecretValue::Null);
                    problems.push((r, id, p));
                }
            }
        }
        if !problems.is_empty() {
            let remove = doc.remove_missing
                && site.in_mapping
                && problems.iter().any(|(_, _, p)| p.removable());
            for (r, id, p) in problems {
                if remove && p.removable() {
                    continue;
                }
                fail(failures, &r.raw, describe(r, &id, p));
            }
            if remove {
                edits.push(Edit::Remove {
                    doc: site.doc,
                    path: site.path.clone(),
                });
            }
            continue;
        }
        match build(site, &values) {
            Ok(node) => edits.push(Edit::Replace {
                doc: site.doc,
                path: site.path.clone(),
                node,
            }),
            Err((ri, problem)) => {
                let raw = ri.map(|i| site.refs[i].raw.as_str()).unwrap_or("");
                fail(failures, raw, problem);
            }
        }
    }
    edits
}

/// About how many bytes `v` takes when written out (text length; 8 per number or entry).
fn value_size(v: &SecretValue) -> usize {
    match v {
        SecretValue::String(s) => s.expose().len(),
        SecretValue::List(l) => l.iter().fold(8, |n, x| n.saturating_add(value_size(x))),
        SecretValue::Map(m) => m.iter().fold(8, |n, (k, x)| {
            n.saturating_add(k.len() + 8).saturating_add(value_size(x))
        }),
        _ => 8,
    }
}

fn resolve_ref(
    r: &Reference,
    id: &Result<SecretId, String>,
    fetched: &Fetched,
    max_value: usize,
) -> Result<SecretValue, Problem> {
    let id = id.as_ref().map_err(|e| Problem::Other(e.clone()))?;
    let mut reason = None;
    let flow = match fetched.get(id) {
        None => return Err(Problem::Other("internal error: not fetched".to_owned())),
        Some(Err(BackendError::NotFound { reason: r, .. })) => {
            reason.clone_from(r);
            Flow::Missing(Missing::Path)
        }
        Some(Err(e)) => return Err(Problem::Other(e.to_string())),
        // Version metadata stands for the whole secret: no key of it is selected.
        Some(Ok(secret)) if id.metadata => Flow::Value(secret.value.clone()),
        Some(Ok(secret)) => placeholder::select(&secret.value, &r.selector),
    };
    match placeholder::apply_modifiers(flow, &r.modifiers, max_value) {
        Ok(Flow::Value(v)) => Ok(v),
        Ok(Flow::Missing(Missing::Path)) if reason.is_some() => {
            Err(Problem::NoSecret(reason.unwrap_or_default()))
        }
        Ok(Flow::Missing(m)) => Err(Problem::Missing(m)),
        Err((name, msg)) => Err(Problem::Other(format!("{name}: {msg}"))),
    }
}

fn describe(r: &Reference, id: &Result<SecretId, String>, p: Problem) -> String {
    // Generic references do not show their path: name the secret.
    let at = match (id, &r.path) {
        (Ok(id), None) => format!(" in {id}"),
        (Ok(id), Some(_)) if id.version.is_some() => format!(" in {id}"),
        _ => String::new(),
    };
    match p {
        Problem::Missing(Missing::Path) => match id {
            Ok(id) => format!("no secret at {id}"),
            Err(_) => "no secret at this path".to_owned(),
        },
        Problem::NoSecret(reason) => match id {
            Ok(id) => format!("no secret at {id}: {reason}"),
            Err(_) => format!("no secret at this path: {reason}"),
        },
        Problem::Missing(m) => format!("{m}{at}"),
        Problem::Other(msg) => format!("{msg}{at}"),
    }
}

/// Builds the new node of a site from its reference values. `Err((reference index, problem))`.
fn build(site: &Site, values: &[SecretValue]) -> Result<Node, (Option<usize>, String)> {
    let single = matches!(site.pieces.as_slice(), [Piece::Ref(0)]);
    if site.base64_wrapped {
        let text = concat(site, values, false)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        return Ok(Node::str(encoded));
    }
    match site.mode {
        Mode::Plain if single && !site.quoted => typed(&values[0]).map_err(|e| (Some(0), e)),
        Mode::Plain | Mode::Stringify => {
            let text = concat(site, values, false)?;
            Ok(Node::str(take(text)))
        }
        Mode::Base64Data => {
            let text = concat(site, values, true)?;
            Ok(Node::str(take(text)))
        }
    }
}

fn take(mut s: Zeroizing<String>) -> String {
    std::mem::take(&mut *s)
}

/// A whole-value reference in a plain field: keeps the value's type.
fn typed(v: &SecretValue) -> Result<Node, String> {
    match v {
        SecretValue::String(s) => match s.expose_str() {
            Some(t) => Ok(Node::str(t)),
            None => Err(binary_problem()),
        },
        SecretValue::List(_) | SecretValue::Map(_) => {
            check_utf8(v)?;
            Ok(yaml::from_secret_value(v))
        }
        other => Ok(yaml::from_secret_value(other)),
    }
}

fn check_utf8(v: &SecretValue) -> Result<(), String> {
    match v {
        SecretValue::String(s) if s.expose_str().is_none() => Err(binary_problem()),
        SecretValue::List(l) => l.iter().try_for_each(check_utf8),
        SecretValue::Map(m) => m.values().try_for_each(check_utf8),
        _ => Ok(()),
    }
}

fn binary_problem() -> String {
    "the value is binary (not UTF-8 text); add `| base64encode`".to_owned()
}

/// The text of the site with every reference replaced. With `base64_each`, each reference's
/// value is base64-encoded unless its chain ends with `base64encode` (Secret `data`).
fn concat(
    site: &Site,
    values: &[SecretValue],
    base64_each: bool,
) -> Result<Zeroizing<String>, (Option<usize>, String)> {
    let mut out = Zeroizing::new(String::new());
    for piece in &site.pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref(i) => {
                let v = &values[*i];
                let text: Sensitive = scalar_text(v).ok_or_else(|| {
                    let what = v.type_name();
                    let hint = if site.mode == Mode::Plain {
                        "the string has text around the reference, so the value must be text; \
                         pick a field with jsonPath"
                    } else {
                        "this field must be text; pick a field with jsonPath"
                    };
                    (Some(*i), format!("the value is a {what}: {hint}"))
                })?;
                if base64_each && !site.refs[*i].ends_with_base64encode() {
                    out.push_str(&base64::engine::general_purpose::STANDARD.encode(text.expose()));
                } else {
                    let t = text
                        .expose_str()
                        .ok_or_else(|| (Some(*i), binary_problem()))?;
                    out.push_str(t);
                }
            }
        }
    }
    Ok(out)
}

/// Applies edits: replacements first, then removals from the back (indices stay valid).
pub(crate) fn apply(docs: &mut [Document], edits: Vec<Edit>) {
    let mut removals = Vec::new();
    for e in edits {
        match e {
            Edit::Replace { doc, path, node } => {
                if let Some(target) = docs
                    .get_mut(doc)
                    .and_then(|d| node_at_mut(&mut d.root, &path))
                {
                    let anchor = target.anchor.take();
                    target.replace(node);
                    target.anchor = anchor;
                }
            }
            Edit::Remove { doc, path } => removals.push((doc, path)),
        }
    }
    removals.sort();
    for (doc, path) in removals.into_iter().rev() {
        let Some((last, parent)) = path.split_last() else {
            continue;
        };
        if let Some(p) = docs
            .get_mut(doc)
            .and_then(|d| node_at_mut(&mut d.root, parent))
            && let NodeKind::Mapping(entries) = &mut p.kind
            && *last < entries.len()
        {
            entries.remove(*last);
            // Its text no longer describes it: the document is written by the manifest writer.
            p.clear_span();
        }
    }
}

fn node_at_mut<'a>(root: &'a mut Node, path: &[usize]) -> Option<&'a mut Node> {
    let mut cur = root;
    for &i in path {
        cur = match &mut cur.kind {
            NodeKind::Mapping(entries) => &mut entries.get_mut(i)?.1,
            NodeKind::Sequence(items) => items.get_mut(i)?,
            _ => return None,
        };
    }
    Some(cur)
}
