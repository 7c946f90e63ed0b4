//! `sops set` / `sops unset`: change one value or branch of the first document of a decrypted
//! file (sops' `TreeBranch.Set` / `Unset` semantics); the caller re-encrypts with the same data
//! key ([`Decrypted::reencrypt`](super::Decrypted::reencrypt)), which writes a new MAC.

use super::stores::{self, Format};
use super::tree::{Entry, Map, Value};
use super::{Error, ErrorKind, PathComponent};

fn err(kind: ErrorKind, m: impl Into<String>) -> Error {
    Error::new(kind, m)
}

/// Parses sops' `set` value: JSON, with objects as ordered maps and numbers as the JSON store
/// reads them (sops' `jsonValueToTreeInsertableValue`). The message never quotes the value.
pub fn value_from_json(text: &[u8]) -> Result<Value, Error> {
    let mut wrapped = zeroize::Zeroizing::new(Vec::with_capacity(text.len() + 8));
    wrapped.extend_from_slice(b"{\"v\":");
    wrapped.extend_from_slice(text);
    wrapped.extend_from_slice(b"\n}");
    let docs = stores::load_plain(Format::Json, &wrapped).map_err(|_| {
        err(
            ErrorKind::Usage,
            "the value is not valid JSON (a string must be quoted: '\"text\"')",
        )
    })?;
    let mut doc = docs.into_iter().next().unwrap_or_default();
    match doc.pop() {
        Some(Entry::Pair(k, v)) if k == "v" && doc.is_empty() => Ok(v),
        _ => Err(err(
            ErrorKind::Usage,
            "the value is not one JSON value (a string must be quoted: '\"text\"')",
        )),
    }
}

/// `valueFromPathAndLeaf`: the structure that `path` names, with `leaf` at its end.
fn from_path(path: &[PathComponent], leaf: Value) -> Value {
    match path.split_first() {
        None => leaf,
        Some((PathComponent::Key(k), rest)) => {
            Value::Map(vec![Entry::Pair(k.clone(), from_path(rest, leaf))])
        }
        Some((PathComponent::Index(_), rest)) => Value::List(vec![from_path(rest, leaf)]),
    }
}

fn set_map(map: &mut Map, path: &[PathComponent], value: Value) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if let PathComponent::Key(k) = first {
        for e in map.iter_mut() {
            if let Entry::Pair(key, v) = e
                && key == k
            {
                return set_value(v, rest, value);
            }
        }
        map.push(Entry::Pair(k.clone(), from_path(rest, value)));
        return true;
    }
    // sops: an index into a mapping adds nothing.
    false
}

/// Sets `value` at `path` below `cur` (an empty path replaces `cur`); whether anything changed.
fn set_value(cur: &mut Value, path: &[PathComponent], value: Value) -> bool {
    let Some((first, rest)) = path.split_first() else {
        let changed = *cur != value;
        *cur = value;
        return changed;
    };
    match (cur, first) {
        (Value::Map(m), _) => set_map(m, path, value),
        (Value::List(l), PathComponent::Index(i)) => {
            if *i >= l.len() {
                l.push(from_path(rest, value));
                true
            } else {
                set_value(&mut l[*i], rest, value)
            }
        }
        // sops: a key into a list changes nothing.
        (Value::List(_), PathComponent::Key(_)) => false,
        (cur, _) => {
            *cur = from_path(path, value);
            true
        }
    }
}

/// Sets `value` at `path` in `doc` (sops `set`); returns whether the document changed.
pub fn set(doc: &mut Map, path: &[PathComponent], value: Value) -> Result<bool, Error> {
    match path.first() {
        None => Err(err(ErrorKind::Usage, "the path to set is empty")),
        Some(PathComponent::Index(_)) => Err(err(
            ErrorKind::Usage,
            "the path must start with a key (the document is a mapping)",
        )),
        Some(PathComponent::Key(_)) => Ok(set_map(doc, path, value)),
    }
}

fn not_found(c: &PathComponent, why: &str) -> Error {
    err(
        ErrorKind::Extract,
        format!("component {c} not found: {why}"),
    )
}

fn unset_map(map: &mut Map, path: &[PathComponent]) -> Result<(), Error> {
    let Some((first, rest)) = path.split_first() else {
        return Err(err(ErrorKind::Usage, "the path to unset is empty"));
    };
    let PathComponent::Key(k) = first else {
        return Err(not_found(first, "key not found"));
    };
    let i = map
        .iter()
        .position(|e| matches!(e, Entry::Pair(key, _) if key == k))
        .ok_or_else(|| not_found(first, "key not found"))?;
    if rest.is_empty() {
        map.remove(i);
        return Ok(());
    }
    match &mut map[i] {
        Entry::Pair(_, v) => unset_value(v, rest),
        Entry::Comment(_) => Err(not_found(first, "key not found")),
    }
}

fn unset_value(cur: &mut Value, path: &[PathComponent]) -> Result<(), Error> {
    let Some((first, rest)) = path.split_first() else {
        return Err(err(ErrorKind::Usage, "the path to unset is empty"));
    };
    match cur {
        Value::Map(m) => unset_map(m, path),
        Value::List(l) => {
            let PathComponent::Index(i) = first else {
                return Err(not_found(first, "non-integer index for array"));
            };
            if *i >= l.len() {
                return Err(not_found(first, "index out of bounds"));
            }
            if rest.is_empty() {
                l.remove(*i);
                Ok(())
            } else {
                unset_value(&mut l[*i], rest)
            }
        }
        _ => Err(not_found(first, "cannot unset key from non-branch")),
    }
}

/// Removes the key or list item at `path` from `doc` (sops `unset`).
pub fn unset(doc: &mut Map, path: &[PathComponent]) -> Result<(), Error> {
    unset_map(doc, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Sensitive;
    use crate::sops::parse_extract_path;

    fn s(v: &str) -> Value {
        Value::Str(Sensitive::new(v.as_bytes().to_vec()))
    }

    fn p(x: &str) -> Vec<PathComponent> {
        parse_extract_path(x).unwrap()
    }

    #[test]
    fn set_follows_sops() {
        let mut doc: Map = vec![Entry::Pair("a".into(), Value::Map(vec![]))];
        assert!(set(&mut doc, &p(r#"["a"]["b"]"#), s("x")).unwrap());
        assert!(
            !set(&mut doc, &p(r#"["a"]["b"]"#), s("x")).unwrap(),
            "idempotent"
        );
        assert!(set(&mut doc, &p(r#"["n"][0]["k"]"#), Value::Bool(true)).unwrap());
        assert!(
            set(&mut doc, &p(r#"["n"][5]"#), Value::Int(1)).unwrap(),
            "appends"
        );
        assert!(!set(&mut doc, &p(r#"["n"]["key"]"#), Value::Int(1)).unwrap());
        assert!(set(&mut doc, &p(r#"["a"]["b"]["deeper"]"#), s("y")).unwrap());
        let want: Map = vec![
            Entry::Pair(
                "a".into(),
                Value::Map(vec![Entry::Pair(
                    "b".into(),
                    Value::Map(vec![Entry::Pair("deeper".into(), s("y"))]),
                )]),
            ),
            Entry::Pair(
                "n".into(),
                Value::List(vec![
                    Value::Map(vec![Entry::Pair("k".into(), Value::Bool(true))]),
                    Value::Int(1),
                ]),
            ),
        ];
        assert_eq!(doc, want);
        unset(&mut doc, &p(r#"["n"][0]"#)).unwrap();
        unset(&mut doc, &p(r#"["a"]["b"]"#)).unwrap();
        assert!(unset(&mut doc, &p(r#"["a"]["b"]"#)).is_err());
        assert!(unset(&mut doc, &p(r#"["n"][3]"#)).is_err());
        assert!(unset(&mut doc, &p(r#"["n"][0]["x"]"#)).is_err());
        assert_eq!(
            doc,
            vec![
                Entry::Pair("a".into(), Value::Map(vec![])),
                Entry::Pair("n".into(), Value::List(vec![Value::Int(1)])),
            ]
        );
    }

    #[test]
    fn json_values_never_leak_into_errors() {
        assert_eq!(value_from_json(br#""x""#).unwrap(), s("x"));
        assert!(matches!(
            value_from_json(br#"{"b": [1, "c"]}"#).unwrap(),
            Value::Map(_)
        ));
        for bad in [&b"hunter2"[..], b"\"a\", \"b\"", b"", b"{"] {
            let e = value_from_json(bad).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
