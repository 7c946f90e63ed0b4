//! Conversions: [`Node`] ⇄ `serde_json::Value` and [`Node`] ⇄ [`SecretValue`].

use super::{Error, Node, NodeKind, Resolved, Scalar};
use crate::secret::{SecretValue, Sensitive};
use std::collections::HashMap;

/// Converts a tree to JSON (key order kept; aliases expanded; `<<` merge keys are *not*
/// applied). Scalars are typed as go-yaml v3 does; timestamps become their text. Not
/// zeroizing: use [`to_secret_value`] for secret data.
pub fn to_json(node: &Node) -> Result<serde_json::Value, Error> {
    walk(node, &mut Walk::default(), 0, false)
}

/// At most this many nodes are built through aliases in one conversion: a "billion laughs"
/// tree (anchors of anchors) is a few hundred bytes of input and would otherwise expand to
/// gigabytes. A tree without aliases is bounded by its own size.
pub(crate) const MAX_ALIAS_NODES: usize = 1_000_000;

/// The state of one conversion: the anchors seen, and the alias budget left.
struct Walk<'a> {
    anchors: HashMap<&'a str, &'a Node>,
    budget: usize,
}

impl Default for Walk<'_> {
    fn default() -> Self {
        Walk {
            anchors: HashMap::new(),
            budget: MAX_ALIAS_NODES,
        }
    }
}

/// Nesting bound while following aliases (the parser itself stops at ~255 levels; deeper
/// only through alias chains or cycles).
const MAX_DEPTH: usize = 1_000;

thread_local! {
    /// The anchored nodes being expanded right now (an alias to one of them is a cycle).
    static ACTIVE: std::cell::RefCell<Vec<*const Node>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What a tree is converted into: the walk (aliases, cycles, depth, keys) is shared, the
/// target only says how to build a leaf, a list and a map.
trait Target: Sized {
    fn scalar(node: &Node, s: &Scalar) -> Result<Self, Error>;
    fn list(items: Vec<Self>) -> Self;
    fn map(entries: Vec<(String, Self)>) -> Self;
}

impl Target for serde_json::Value {
    fn scalar(node: &Node, s: &Scalar) -> Result<Self, Error> {
        use serde_json::Value;
        Ok(match s.resolve(node.tag.as_deref()) {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::from(i),
            Resolved::Uint(u) => Value::from(u),
            Resolved::Float(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| Error::new(node.pos, "infinity or NaN cannot be written as JSON"))?,
            Resolved::Binary(b) => Value::String(
                b.expose_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| s.value().to_owned()),
            ),
            Resolved::Invalid => {
                return Err(Error::new(node.pos, "scalar does not match its tag"));
            }
            Resolved::Timestamp(_) | Resolved::Str | Resolved::NotScalar => {
                Value::String(s.value().to_owned())
            }
        })
    }
    fn list(items: Vec<Self>) -> Self {
        serde_json::Value::Array(items)
    }
    fn map(entries: Vec<(String, Self)>) -> Self {
        serde_json::Value::Object(entries.into_iter().collect())
    }
}

impl Target for SecretValue {
    fn scalar(node: &Node, s: &Scalar) -> Result<Self, Error> {
        Ok(match s.resolve(node.tag.as_deref()) {
            Resolved::Null => SecretValue::Null,
            Resolved::Bool(b) => SecretValue::Bool(b),
            Resolved::Int(i) => SecretValue::Int(i),
            Resolved::Uint(u) => SecretValue::from_u64(u),
            Resolved::Float(f) => SecretValue::Float(f),
            Resolved::Binary(b) => SecretValue::String(b),
            Resolved::Invalid => {
                return Err(Error::new(node.pos, "scalar does not match its tag"));
            }
            Resolved::Timestamp(_) | Resolved::Str | Resolved::NotScalar => {
                SecretValue::String(s.text().to_sensitive())
            }
        })
    }
    fn list(items: Vec<Self>) -> Self {
        SecretValue::List(items)
    }
    fn map(entries: Vec<(String, Self)>) -> Self {
        SecretValue::Map(entries.into_iter().collect())
    }
}

fn walk<'a, T: Target>(
    node: &'a Node,
    w: &mut Walk<'a>,
    depth: usize,
    aliased: bool,
) -> Result<T, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(node.pos, "nesting too deep (alias cycle?)"));
    }
    if aliased {
        w.budget = w.budget.checked_sub(1).ok_or_else(|| {
            Error::new(
                node.pos,
                format!(
                    "alias expansion exceeds {MAX_ALIAS_NODES} nodes (a \"billion laughs\" \
                     document?)"
                ),
            )
        })?;
    }
    if let Some(a) = &node.anchor {
        w.anchors.insert(a.as_str(), node);
    }
    match &node.kind {
        NodeKind::Alias(name) => {
            let target = *w
                .anchors
                .get(name.as_str())
                .ok_or_else(|| Error::new(node.pos, format!("unknown anchor `{name}`")))?;
            if ACTIVE.with(|a| a.borrow().iter().any(|p| std::ptr::eq(*p, target))) {
                return Err(Error::new(
                    node.pos,
                    format!("anchor `{name}` contains itself"),
                ));
            }
            ACTIVE.with(|a| a.borrow_mut().push(target));
            let r = walk(target, w, depth + 1, true);
            ACTIVE.with(|a| a.borrow_mut().pop());
            r
        }
        NodeKind::Sequence(items) => Ok(T::list(
            items
                .iter()
                .map(|n| walk(n, w, depth + 1, aliased))
                .collect::<Result<_, _>>()?,
        )),
        NodeKind::Mapping(entries) => {
            let mut m = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let key = key_string(k)?;
                m.push((key, walk(v, w, depth + 1, aliased)?));
            }
            Ok(T::map(m))
        }
        NodeKind::Scalar(s) => T::scalar(node, s),
    }
}

fn key_string(k: &Node) -> Result<String, Error> {
    match &k.kind {
        NodeKind::Scalar(s) => Ok(s.value().to_owned()),
        _ => Err(Error::new(k.pos, "mapping key is not a scalar")),
    }
}

/// Builds a tree from JSON (created nodes: strings are quoted by the emitters as needed).
pub fn from_json(v: &serde_json::Value) -> Node {
    use serde_json::Value;
    match v {
        Value::Null => Node::null(),
        Value::Bool(b) => Node::scalar(Scalar::new_bool(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Node::scalar(Scalar::new_int(i)),
            (None, Some(f)) if n.is_f64() => Node::scalar(Scalar::new_float(f)),
            _ => Node::scalar(Scalar::typed_text(n.to_string())),
        },
        Value::String(s) => Node::str(s.as_str()),
        Value::Array(a) => Node::new(NodeKind::Sequence(a.iter().map(from_json).collect())),
        Value::Object(o) => Node::new(NodeKind::Mapping(
            o.iter()
                .map(|(k, v)| (Node::str(k.as_str()), from_json(v)))
                .collect(),
        )),
    }
}

/// Converts a tree to a [`SecretValue`] (aliases expanded, go-yaml v3 typing; timestamps become
/// their text; `!!binary` its decoded bytes; integers above `i64::MAX` their exact digits as
/// text, see [`SecretValue::from_u64`]). Keys must be scalars.
pub fn to_secret_value(node: &Node) -> Result<SecretValue, Error> {
    walk(node, &mut Walk::default(), 0, false)
}

/// Builds a tree from a [`SecretValue`]. Non-UTF-8 strings become `!!binary` (base64).
pub fn from_secret_value(v: &SecretValue) -> Node {
    match v {
        SecretValue::Null => Node::null(),
        SecretValue::Bool(b) => Node::scalar(Scalar::new_bool(*b)),
        SecretValue::Int(i) => Node::scalar(Scalar::new_int(*i)),
        SecretValue::Float(f) => Node::scalar(Scalar::new_float(*f)),
        SecretValue::String(s) => string_node(s),
        SecretValue::List(items) => Node::new(NodeKind::Sequence(
            items.iter().map(from_secret_value).collect(),
        )),
        SecretValue::Map(m) => Node::new(NodeKind::Mapping(
            m.iter()
                .map(|(k, v)| (Node::str(k.as_str()), from_secret_value(v)))
                .collect(),
        )),
    }
}

fn string_node(s: &Sensitive) -> Node {
    match s.expose_str() {
        Some(t) => Node::str(t),
        None => {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(s.expose());
            let mut n = Node::scalar(Scalar::typed_text(b64));
            n.tag = Some("!!binary".into());
            n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_expansion_is_bounded() {
        let mut text = "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n".to_owned();
        for i in 1..=7 {
            text.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{}", i - 1); 10].join(",")
            ));
        }
        let docs = crate::yaml::parse_stream(&text).unwrap();
        let e = to_json(&docs[0].root).unwrap_err().to_string();
        assert!(e.contains("billion laughs"), "{e}");
        assert!(to_secret_value(&docs[0].root).is_err());
        // Below the bound (about 10^5 nodes through aliases) it expands.
        let small = text.lines().take(5).collect::<Vec<_>>().join("\n");
        let docs = crate::yaml::parse_stream(&small).unwrap();
        assert!(to_json(&docs[0].root).is_ok());
    }

    #[test]
    fn json_round_trip_keeps_order_and_types() {
        let docs = crate::yaml::parse_stream(
            "z: 1\na: &q [x, 2, 1.5, true, null, \"3\"]\nm: {k: 0x10}\nr: *q\n",
        )
        .unwrap();
        let j = to_json(&docs[0].root).unwrap();
        assert_eq!(
            serde_json::to_string(&j).unwrap(),
            r#"{"z":1,"a":["x",2,1.5,true,null,"3"],"m":{"k":16},"r":["x",2,1.5,true,null,"3"]}"#
        );
        let back = from_json(&j);
        assert_eq!(to_json(&back).unwrap(), j);
    }

    #[test]
    fn secret_value_round_trip() {
        let docs = crate::yaml::parse_stream(
            "a: s3cret\nb: 42\nc: [1.5, ~, false]\nd: !!binary aGVsbG8=\nu: 18446744073709551615\n",
        )
        .unwrap();
        let v = to_secret_value(&docs[0].root).unwrap();
        let SecretValue::Map(m) = &v else { panic!() };
        assert_eq!(
            m["u"],
            SecretValue::String(Sensitive::from_str_copy("18446744073709551615"))
        );
        assert_eq!(
            m["a"],
            SecretValue::String(Sensitive::from_str_copy("s3cret"))
        );
        assert_eq!(m["b"], SecretValue::Int(42));
        assert_eq!(
            m["d"],
            SecretValue::String(Sensitive::from_str_copy("hello"))
        );
        let back = from_secret_value(&v);
        assert_eq!(to_secret_value(&back).unwrap(), v);
        let bin = from_secret_value(&SecretValue::String(Sensitive::new(vec![0xff, 0x00])));
        assert_eq!(
            to_secret_value(&bin).unwrap(),
            SecretValue::String(Sensitive::new(vec![0xff, 0x00]))
        );
    }
}
