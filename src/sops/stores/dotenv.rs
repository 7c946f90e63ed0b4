//! dotenv store (spec §9.5): `KEY=value` lines, `#` comments, `\n` escapes, `sops_*` metadata.

use zeroize::Zeroizing;

use crate::secret::Sensitive;
use crate::sops::stores::flatten;
use crate::sops::tree::{Entry, Map, Value};
use crate::yaml::gofmt;

/// Parses dotenv text into one document.
pub fn parse(input: &[u8]) -> Result<Map, String> {
    let mut m = Map::new();
    for (n, line) in input.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if line[0] == b'#' {
            m.push(Entry::Comment(Sensitive::new(line[1..].to_vec())));
            continue;
        }
        let pos = line
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| format!("invalid dotenv input line {}: it has no '='", n + 1))?;
        let key = String::from_utf8(line[..pos].to_vec())
            .map_err(|_| format!("invalid dotenv input line {}: the key is not UTF-8", n + 1))?;
        m.push(Entry::Pair(
            key,
            Value::Str(Sensitive::new(unescape_newlines(&line[pos + 1..]))),
        ));
    }
    Ok(m)
}

fn unescape_newlines(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && v.get(i + 1) == Some(&b'n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    out
}

/// Splits the `sops_*` entries off a parsed encrypted file: (data, flattened metadata).
pub fn split_metadata(doc: Map) -> (Map, Vec<(String, String)>) {
    let mut data = Map::new();
    let mut md = Vec::new();
    for e in doc {
        match e {
            Entry::Pair(k, v) if k.starts_with("sops_") => {
                let text = v
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(b).replace('\n', "\\n"))
                    .unwrap_or_default();
                md.push((k["sops_".len()..].to_string(), text));
            }
            other => data.push(other),
        }
    }
    (data, md)
}

/// A scalar as sops prints it in dotenv/INI/exec-env (`stores.ValToString`).
pub fn val_to_string(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) | Value::Bytes(s) => out.extend_from_slice(s.expose()),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => {
            let mut s = String::new();
            gofmt::float_dotenv(*f, &mut s);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Time(t) => out.extend_from_slice(t.rfc3339().as_bytes()),
        Value::Null => out.extend_from_slice(b"<nil>"),
        Value::Comment(c) => out.extend_from_slice(c.expose()),
        Value::Map(_) | Value::List(_) => {}
    }
}

/// Emits a document (and the flattened metadata, if any) as dotenv text.
pub fn emit(doc: &Map, metadata: Option<&Value>) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut out = Zeroizing::new(Vec::with_capacity(1024));
    for e in doc {
        match e {
            Entry::Comment(c) => {
                out.push(b'#');
                out.extend_from_slice(c.expose());
                out.push(b'\n');
            }
            Entry::Pair(k, v) => {
                if matches!(v, Value::Map(_) | Value::List(_)) {
                    return Err(format!(
                        "cannot use complex value in dotenv file; offending key {k}"
                    ));
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                match v {
                    Value::Str(s) => {
                        for &b in s.expose() {
                            if b == b'\n' {
                                out.extend_from_slice(b"\\n");
                            } else {
                                out.push(b);
                            }
                        }
                    }
                    other => val_to_string(other, &mut out),
                }
                out.push(b'\n');
            }
        }
    }
    if let Some(md) = metadata {
        for (k, v) in flatten::flatten(md) {
            out.extend_from_slice(b"sops_");
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
            out.push(b'\n');
        }
    }
    Ok(out)
}
