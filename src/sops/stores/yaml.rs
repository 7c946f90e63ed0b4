//! YAML store (spec §9.1–9.2): go-yaml v3 typing on input, go-yaml v3 layout on output.
//!
//! Parsing and printing are done by [`crate::yaml`]; this file maps its node tree to the sops
//! tree (comments as items in sops' order) and back.

use zeroize::Zeroizing;

use crate::secret::{SecretValue, Sensitive};
use crate::sops::tree::{Entry, Map, Value};
use crate::yaml::{self, Document, Node, NodeKind, Resolved, SopsItem};

/// Parses a YAML stream into documents (each must be a mapping).
pub fn parse(input: &[u8]) -> Result<Vec<Map>, String> {
    let text = std::str::from_utf8(input)
        .map_err(|_| "Error unmarshalling input yaml: the file is not valid UTF-8".to_string())?;
    let mut docs =
        yaml::parse_stream(text).map_err(|e| format!("Error unmarshalling input yaml: {e}"))?;
    let mut out = Vec::with_capacity(docs.len());
    for d in &mut docs {
        d.expand_aliases(yaml::DEFAULT_MAX_EXPANDED_NODES)
            .map_err(|e| format!("Error unmarshalling input yaml: {e}"))?;
        out.push(document_to_map(d)?);
    }
    Ok(out)
}

fn comment(t: &yaml::Text) -> Entry {
    Entry::Comment(Sensitive::from_str_copy(t.as_str()))
}

fn document_to_map(d: &Document) -> Result<Map, String> {
    let mut m: Map = d.head_comments.iter().map(comment).collect();
    match &d.root.kind {
        NodeKind::Mapping(_) => items_to_map(yaml::mapping_items(&d.root), &mut m)?,
        NodeKind::Sequence(_) => {
            return Err("YAML documents that are sequences are not supported".into());
        }
        NodeKind::Scalar(_) if d.is_empty() || d.root.is_null() => {
            let c = d.root.comments();
            m.extend(c.head.iter().map(comment));
            m.extend(c.line.iter().map(comment));
        }
        _ => return Err("YAML documents that are values are not supported".into()),
    }
    m.extend(d.foot_comments.iter().map(comment));
    Ok(m)
}

fn items_to_map(items: Vec<SopsItem<'_>>, m: &mut Map) -> Result<(), String> {
    for it in items {
        match it {
            SopsItem::Comment(t) => m.push(comment(t)),
            SopsItem::Entry(Some(k), v) => {
                let key = key_text(k)?;
                m.push(Entry::Pair(key, node_to_value(v)?));
            }
            SopsItem::Entry(None, v) => {
                // Not produced for mappings; treat defensively as an error.
                let _ = v;
                return Err("invalid YAML mapping entry without a key".into());
            }
        }
    }
    Ok(())
}

fn key_text(k: &Node) -> Result<String, String> {
    match k.resolve() {
        Resolved::Str => Ok(k.as_str().unwrap_or_default().to_string()),
        other => {
            let ty = match other {
                Resolved::Null => "<nil>",
                Resolved::Bool(_) => "bool",
                Resolved::Int(_) => "int",
                Resolved::Uint(_) => "uint64",
                Resolved::Float(_) => "float64",
                Resolved::Timestamp(_) => "time.Time",
                Resolved::Binary(_) => "[]uint8",
                _ => "complex",
            };
            let shown = k
                .as_scalar()
                .map(|s| s.value().to_string())
                .unwrap_or_default();
            Err(format!(
                "Tree contains a non-string key (type {ty}): {shown}. Only string keys are supported"
            ))
        }
    }
}

fn node_to_value(n: &Node) -> Result<Value, String> {
    Ok(match &n.kind {
        NodeKind::Mapping(_) => {
            let mut m = Map::new();
            items_to_map(yaml::mapping_items(n), &mut m)?;
            Value::Map(m)
        }
        NodeKind::Sequence(_) => {
            let mut l = Vec::new();
            for it in yaml::sequence_items(n) {
                match it {
                    SopsItem::Comment(t) => {
                        l.push(Value::Comment(Sensitive::from_str_copy(t.as_str())))
                    }
                    SopsItem::Entry(_, v) => l.push(node_to_value(v)?),
                }
            }
            Value::List(l)
        }
        NodeKind::Alias(a) => return Err(format!("unresolved YAML alias *{a}")),
        NodeKind::Scalar(s) => match n.resolve() {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::Int(i),
            Resolved::Float(f) => Value::Float(f),
            Resolved::Str => Value::Str(Sensitive::from_str_copy(s.value())),
            Resolved::Binary(b) => Value::Str(b),
            Resolved::Timestamp(t) => Value::Time(t),
            Resolved::Uint(_) => return Err("Cannot walk value, unknown type: uint64".into()),
            Resolved::Invalid | Resolved::NotScalar => {
                return Err(format!(
                    "invalid YAML scalar at line {}: its tag does not match its value",
                    n.pos.line
                ));
            }
        },
    })
}

fn head(n: &mut Node, comments: &mut Vec<yaml::Text>) {
    if !comments.is_empty() {
        n.comments_mut().head.append(comments);
    }
}

/// Builds a node whose sops-order reading gives back exactly this value.
fn value_to_node(v: &Value) -> Node {
    match v {
        Value::Map(m) => map_to_node(m, None),
        Value::List(l) => {
            let mut items = Vec::with_capacity(l.len());
            let mut pending: Vec<yaml::Text> = Vec::new();
            for e in l {
                if let Value::Comment(c) = e {
                    pending.push(yaml::Text::from(
                        String::from_utf8_lossy(c.expose()).into_owned(),
                    ));
                } else {
                    let mut n = value_to_node(e);
                    head(&mut n, &mut pending);
                    items.push(n);
                }
            }
            let mut n = Node::new(NodeKind::Sequence(items));
            n.comments_mut().foot = pending;
            n
        }
        Value::Null | Value::Comment(_) => Node::null(),
        Value::Bool(b) => Node::scalar(yaml::Scalar::new_bool(*b)),
        Value::Int(i) => Node::scalar(yaml::Scalar::new_int(*i)),
        Value::Float(f) => Node::scalar(yaml::Scalar::new_float(*f)),
        // One copy into the node's zeroizing text (non-UTF-8 bytes become !!binary).
        Value::Str(s) | Value::Bytes(s) => match s.expose_str() {
            Some(t) => Node::str(t),
            None => yaml::from_secret_value(&SecretValue::String(s.clone())),
        },
        Value::Time(t) => yaml::Scalar::new_timestamp(&t.rfc3339_nano())
            .map(Node::scalar)
            .unwrap_or_else(|| Node::str(t.rfc3339_nano())),
    }
}

fn map_to_node(m: &Map, metadata: Option<&Value>) -> Node {
    let mut entries = Vec::with_capacity(m.len() + 1);
    let mut pending: Vec<yaml::Text> = Vec::new();
    for e in m {
        match e {
            Entry::Comment(c) => pending.push(yaml::Text::from(
                String::from_utf8_lossy(c.expose()).into_owned(),
            )),
            Entry::Pair(k, v) => {
                let mut kn = Node::str(k.as_str());
                head(&mut kn, &mut pending);
                entries.push((kn, value_to_node(v)));
            }
        }
    }
    if let Some(md) = metadata {
        let mut kn = Node::str("sops");
        head(&mut kn, &mut pending);
        entries.push((kn, value_to_node(md)));
    }
    let mut n = Node::new(NodeKind::Mapping(entries));
    n.comments_mut().foot = pending;
    n
}

/// Emits documents (each followed by `metadata` when given) as sops prints YAML.
pub fn emit(
    docs: &[Map],
    metadata: Option<&Value>,
    indent: usize,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let ydocs: Vec<Document> = docs
        .iter()
        .map(|m| Document::new(map_to_node(m, metadata)))
        .collect();
    Ok(into_bytes(yaml::emit_sops_with_indent(&ydocs, indent)))
}

/// The emitted text as bytes, without copying it.
fn into_bytes(mut s: Zeroizing<String>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(std::mem::take(&mut *s).into_bytes())
}

/// Emits a single non-string value (for `--extract`).
pub fn emit_value(v: &Value, indent: usize) -> Result<Zeroizing<Vec<u8>>, String> {
    let doc = Document::new(value_to_node(v));
    Ok(into_bytes(yaml::emit_sops_with_indent(&[doc], indent)))
}
