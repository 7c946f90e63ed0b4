//! sealbridge's own YAML layer: an ordered tree that keeps scalar styles, original plain text,
//! tags, anchors/aliases and comments; go-yaml v3 type resolution; and two emitters:
//!
//! * [`emit_sops`]: byte-identical to what sops 3.11 (go-yaml v3, indent 4) prints;
//! * [`emit_manifest`]: Kubernetes manifests (2-space indent) where untouched scalars keep their
//!   exact text and every created string reads back as the same string under YAML 1.1
//!   (sigs.k8s.io/yaml, go-yaml v2) and YAML 1.2.
//!
//! Parsing is built on the `granit-parser` event parser (see `docs/design.md`, "YAML").
//! Every scalar and comment lives in a zeroizing [`Text`]: decrypted sops values pass through.

mod alias;
mod convert;
mod goemit;
pub mod gofmt;
mod manifest;
mod node;
mod parse;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod proptests_text;
mod resolve;
mod sops;
mod splice;
mod text;
mod verify;

pub use convert::{from_json, from_secret_value, to_json, to_secret_value};
pub use gofmt::Timestamp;
pub use manifest::emit_manifest;
pub use node::{Comments, Document, Node, NodeKind, Pos, Scalar, ScalarStyle, Span};
pub use parse::parse_stream;
pub use resolve::{Resolved, is_yaml11_nonstring, resolve_plain};
pub use sops::{SopsItem, emit_sops, emit_sops_with_indent, mapping_items, sequence_items};
pub use splice::{Spliced, splice_document};
pub use text::Text;
pub use verify::{EmitCheckError, check_emitted, emit_manifest_checked};

/// A YAML error: where, and what (never a scalar value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {col}: {message}")]
pub struct Error {
    /// 1-based line (0 when unknown).
    pub line: u32,
    /// 1-based column (0 when unknown).
    pub col: u32,
    /// What is wrong.
    pub message: String,
}

impl Error {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> Self {
        Error {
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }

    fn from_scan(e: granit_parser::ScanError) -> Self {
        let m = e.marker();
        let message = match e.kind() {
            granit_parser::ErrorKind::Custom(_)
            | granit_parser::ErrorKind::InputDecoding { .. } => "invalid input".to_owned(),
            k => k.to_string(),
        };
        Error {
            line: u32::try_from(m.line()).unwrap_or(u32::MAX),
            col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
            message,
        }
    }
}

/// Default node budget for alias expansion.
pub const DEFAULT_MAX_EXPANDED_NODES: usize = 10_000_000;
