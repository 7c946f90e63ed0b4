//! Flattened metadata for dotenv and INI (spec §8.6): `age__list_0__map_recipient = …`.

use crate::sops::tree::{Entry, Map, Value};

const MAP_SEP: &str = "__map_";
const LIST_SEP: &str = "__list_";

fn scalar_string(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) => String::from_utf8_lossy(s.expose()).replace('\n', "\\n"),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:.0}"),
        Value::Time(t) => t.rfc3339_nano(),
        _ => return None,
    })
}

fn flatten_into(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Map(m) => {
            for e in m {
                if let Entry::Pair(k, val) = e {
                    flatten_into(&format!("{prefix}{MAP_SEP}{k}"), val, out);
                }
            }
        }
        Value::List(l) => {
            for (i, val) in l.iter().enumerate() {
                flatten_into(&format!("{prefix}{LIST_SEP}{i}"), val, out);
            }
        }
        other => {
            if let Some(s) = scalar_string(other) {
                out.push((prefix.to_string(), s));
            }
        }
    }
}

/// Flattens the metadata map; newlines become `\n`, nulls and empty lists disappear. Sorted.
pub fn flatten(md: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Map(m) = md {
        for e in m {
            if let Entry::Pair(k, v) = e {
                match v {
                    Value::Map(_) | Value::List(_) => flatten_into(k, v, &mut out),
                    other => {
                        if let Some(s) = scalar_string(other) {
                            out.push((k.clone(), s));
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out
}

enum Tok<'a> {
    Key(&'a str),
    Index(usize),
}

fn tokenize(path: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    let (mut start, mut i, mut is_list) = (0, 0, false);
    let mut finish = |s: usize, e: usize, list: bool| {
        let t = &path[s..e];
        toks.push(if list {
            Tok::Index(t.parse().unwrap_or(0))
        } else {
            Tok::Key(t)
        });
    };
    while i < path.len() {
        let rest = &path[i..];
        let sep = if rest.starts_with(MAP_SEP) {
            Some((MAP_SEP.len(), false))
        } else if rest.starts_with(LIST_SEP) {
            Some((LIST_SEP.len(), true))
        } else {
            None
        };
        match sep {
            Some((n, list)) => {
                finish(start, i, is_list);
                i += n;
                start = i;
                is_list = list;
            }
            None => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    finish(start, path.len(), is_list);
    toks
}

fn insert(node: &mut Value, toks: &[Tok<'_>], value: &str) {
    let Some((first, rest)) = toks.split_first() else {
        return;
    };
    match first {
        Tok::Key(k) => {
            if !matches!(node, Value::Map(_)) {
                *node = Value::Map(Vec::new());
            }
            let Value::Map(m) = node else { return };
            let pos = m.iter().position(|e| e.key() == Some(*k));
            let idx = match pos {
                Some(p) => p,
                None => {
                    m.push(Entry::Pair((*k).to_string(), Value::Null));
                    m.len() - 1
                }
            };
            if let Entry::Pair(_, child) = &mut m[idx] {
                if rest.is_empty() {
                    *child = Value::str(&value.replace("\\n", "\n"));
                } else {
                    insert(child, rest, value);
                }
            }
        }
        Tok::Index(i) => {
            if !matches!(node, Value::List(_)) {
                *node = Value::List(Vec::new());
            }
            let Value::List(l) = node else { return };
            if *i > 10_000 {
                return;
            }
            while l.len() <= *i {
                l.push(Value::Null);
            }
            if rest.is_empty() {
                l[*i] = Value::str(&value.replace("\\n", "\n"));
            } else {
                insert(&mut l[*i], rest, value);
            }
        }
    }
}

/// Rebuilds the metadata map from flattened entries (newlines restored).
pub fn unflatten(entries: &[(String, String)]) -> Value {
    let mut root = Value::Map(Map::new());
    for (k, v) in entries {
        let toks = tokenize(k);
        insert(&mut root, &toks, v);
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let entries = vec![
            ("age__list_0__map_enc".to_string(), "a\\nb".to_string()),
            (
                "age__list_0__map_recipient".to_string(),
                "age1x".to_string(),
            ),
            (
                "key_groups__list_1__map_age__list_0__map_recipient".to_string(),
                "r".to_string(),
            ),
            ("lastmodified".to_string(), "t".to_string()),
        ];
        let v = unflatten(&entries);
        let age = v.get("age").unwrap();
        let Value::List(l) = age else { panic!() };
        assert_eq!(l[0].get("enc").unwrap(), &Value::str("a\nb"));
        let Value::List(g) = v.get("key_groups").unwrap() else {
            panic!()
        };
        assert_eq!(g.len(), 2);
        assert_eq!(g[0], Value::Null);
        let back = flatten(&v);
        assert!(back.contains(&("age__list_0__map_enc".to_string(), "a\\nb".to_string())));
    }
}
