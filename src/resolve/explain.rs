//! Explain without fetching (`sealbridge policy check`): scan and plan only, so every
//! reference's location is listed with what the plan step decided — its secret id, or why it
//! is refused (a tenancy rule, a malformed reference).

use super::{Failure, RenderError, RenderOptions, plan, scan};
use crate::manifest::{self, Input, Origin};
use crate::yaml::Document;

/// Document, node path, reference index.
type SortKey = (usize, Vec<usize>, usize);

/// The Kubernetes documents of `inputs` and their origins (nothing resolved).
pub(crate) fn load_documents(
    inputs: &[Input],
) -> Result<(Vec<Document>, Vec<Origin>), RenderError> {
    let loaded = manifest::load(inputs).map_err(RenderError::Read)?;
    Ok(loaded
        .documents
        .into_iter()
        .map(|d| (d.doc, d.origin))
        .unzip())
}

/// Every reference in `inputs`, in document order: its location (`problem`: what the plan step
/// decided) and whether it would be fetched. Nothing is requested or decrypted.
pub fn explain_inputs(
    inputs: &[Input],
    opts: &RenderOptions,
) -> Result<Vec<(Failure, bool)>, RenderError> {
    let (docs, origins) = load_documents(inputs)?;
    let mut found = Vec::new();
    let scanned = scan::scan(&docs, &origins, &mut found);
    let planned = plan(&scanned, opts);
    let mut out: Vec<(SortKey, Failure, bool)> = found
        .into_iter()
        .map(|((d, p), f)| ((d, p, 0), f, false))
        .collect();
    for (si, site) in scanned.sites.iter().enumerate() {
        let doc = &scanned.docs[site.doc];
        for (ri, r) in site.refs.iter().enumerate() {
            let (problem, ok) = match planned.get(&(si, ri)) {
                Some(Ok(id)) => (format!("allowed: {id}"), true),
                Some(Err(why)) => (why.clone(), false),
                None => ("internal error: not planned".to_owned(), false),
            };
            out.push((
                (site.doc, site.path.clone(), ri),
                Failure {
                    origin: doc.origin.clone(),
                    object: doc.object.clone(),
                    field: site.field.clone(),
                    reference: r.raw.clone(),
                    problem,
                },
                ok,
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, f, ok)| (f, ok)).collect())
}
