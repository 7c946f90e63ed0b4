//! `emit_sops`: sops 3.11's YAML output.
use super::{Document, Node};
use zeroize::Zeroizing;

/// One item of a sops tree branch or list: a comment or an entry.
#[derive(Debug)]
pub enum SopsItem<'a> {
    /// A comment line (text after `#`).
    Comment(&'a super::Text),
    /// A mapping entry (key, value) or, for lists, a value with `None` key.
    Entry(Option<&'a Node>, &'a Node),
}

/// The items of a mapping in sops' order.
pub fn mapping_items(_n: &Node) -> Vec<SopsItem<'_>> {
    Vec::new()
}

/// The items of a sequence in sops' order.
pub fn sequence_items(_n: &Node) -> Vec<SopsItem<'_>> {
    Vec::new()
}

/// Writes documents as sops 3.11 does (indent 4).
pub fn emit_sops(docs: &[Document]) -> Zeroizing<String> {
    emit_sops_with_indent(docs, 4)
}

/// Writes documents as sops 3.11 does with `--indent N`.
pub fn emit_sops_with_indent(_docs: &[Document], _indent: usize) -> Zeroizing<String> {
    Zeroizing::new(String::new())
}
