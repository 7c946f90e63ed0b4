//! The sops tree: ordered documents of keys, typed leaves and comments (spec §2).
//!
//! Strings and comments are [`Sensitive`] from the moment they are decrypted (or read from a
//! plaintext file) until they are written out. Keys are not secret.

use crate::secret::{SecretValue, Sensitive};
use crate::yaml::gofmt::Timestamp;

/// A value in a sops tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null` / `~`: never encrypted, never in the MAC.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer (YAML only; JSON numbers are floats).
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string; raw bytes, because binary files and `!!binary` need not be UTF-8.
    Str(Sensitive),
    /// A byte string (`type:bytes`, never written by sops 3.x).
    Bytes(Sensitive),
    /// A YAML timestamp.
    Time(Timestamp),
    /// An ordered mapping.
    Map(Map),
    /// A sequence.
    List(Vec<Value>),
    /// A comment that is an element of a sequence.
    Comment(Sensitive),
}

/// An ordered mapping: pairs and comment items, in file order.
pub type Map = Vec<Entry>;

/// One item of a mapping.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// `key: value`.
    Pair(String, Value),
    /// A comment line (its text without the leading `#`).
    Comment(Sensitive),
}

impl Entry {
    /// The key of a pair, `None` for a comment.
    pub fn key(&self) -> Option<&str> {
        match self {
            Entry::Pair(k, _) => Some(k),
            Entry::Comment(_) => None,
        }
    }
}

impl Value {
    /// A string value from text.
    pub fn str(s: &str) -> Value {
        Value::Str(Sensitive::from_str_copy(s))
    }

    /// A short, value-free name of the type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Time(_) => "time",
            Value::Map(_) => "map",
            Value::List(_) => "list",
            Value::Comment(_) => "comment",
        }
    }

    /// The value of `key` in a mapping (first match).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => map_get(m, key),
            _ => None,
        }
    }

    /// The string bytes of a `Str`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) | Value::Bytes(s) => Some(s.expose()),
            _ => None,
        }
    }

    /// The text of a UTF-8 `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => s.expose_str(),
            _ => None,
        }
    }

    /// Converts to the engine's typed value: comments dropped, times as RFC 3339 strings.
    pub fn to_secret_value(&self) -> SecretValue {
        match self {
            Value::Null | Value::Comment(_) => SecretValue::Null,
            Value::Bool(b) => SecretValue::Bool(*b),
            Value::Int(i) => SecretValue::Int(*i),
            Value::Float(f) => SecretValue::Float(*f),
            Value::Str(s) | Value::Bytes(s) => SecretValue::String(s.clone()),
            Value::Time(t) => SecretValue::String(Sensitive::from(t.rfc3339_nano())),
            Value::List(l) => SecretValue::List(
                l.iter()
                    .filter(|v| !matches!(v, Value::Comment(_)))
                    .map(Value::to_secret_value)
                    .collect(),
            ),
            Value::Map(m) => SecretValue::Map(map_to_secret(m)),
        }
    }
}

/// The first value of `key` in `map`.
pub fn map_get<'a>(map: &'a [Entry], key: &str) -> Option<&'a Value> {
    map.iter().find_map(|e| match e {
        Entry::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

/// A mapping as the engine's ordered map (comments dropped; a duplicate key keeps its last value).
pub fn map_to_secret(map: &[Entry]) -> indexmap::IndexMap<String, SecretValue> {
    let mut out = indexmap::IndexMap::with_capacity(map.len());
    for e in map {
        if let Entry::Pair(k, v) = e {
            out.insert(k.clone(), v.to_secret_value());
        }
    }
    out
}

/// Converts the engine's typed value back into a tree value (for `encrypt` from other sources).
pub fn from_secret_value(v: &SecretValue) -> Value {
    match v {
        SecretValue::Null => Value::Null,
        SecretValue::Bool(b) => Value::Bool(*b),
        SecretValue::Int(i) => Value::Int(*i),
        SecretValue::Float(f) => Value::Float(*f),
        SecretValue::String(s) => Value::Str(s.clone()),
        SecretValue::List(l) => Value::List(l.iter().map(from_secret_value).collect()),
        SecretValue::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| Entry::Pair(k.clone(), from_secret_value(v)))
                .collect(),
        ),
    }
}
