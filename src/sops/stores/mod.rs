//! The stores: how each file format maps to documents plus metadata (spec §8–9).

pub mod dotenv;
pub mod flatten;
pub mod ini;
pub mod json;
pub mod yaml;

use std::path::Path;

use zeroize::Zeroizing;

use crate::secret::Sensitive;
use crate::sops::tree::{Entry, Map, Value};

/// A sops file format (a "store").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.yaml` / `.yml`
    Yaml,
    /// `.json`
    Json,
    /// `.env`
    Dotenv,
    /// `.ini`
    Ini,
    /// anything else: the whole file is one value in a JSON envelope
    Binary,
}

impl Format {
    /// The format sops picks from a file name (anything unknown is binary).
    pub fn from_path(p: &Path) -> Format {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Parses `--input-type`/`--output-type` names.
    pub fn from_name(s: &str) -> Option<Format> {
        Some(match s {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" | "env" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    /// The name sops uses.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

/// Output settings shared by the emitters (`stores:` in `.sops.yaml`, `--indent`).
#[derive(Clone, Copy, Debug, Default)]
pub struct EmitOptions {
    /// YAML indent (default 4).
    pub yaml_indent: Option<usize>,
    /// JSON indent in spaces (default: one TAB).
    pub json_indent: Option<usize>,
    /// JSON indent of the binary envelope (default: one TAB).
    pub json_binary_indent: Option<usize>,
}

/// A parsed encrypted file: its documents and the raw `sops` metadata value.
pub struct Loaded {
    /// The documents without their `sops` entries.
    pub docs: Vec<Map>,
    /// The `sops` value of the first document (`None`: not a sops file).
    pub metadata: Option<Value>,
}

fn take_sops(doc: &mut Map) -> Option<Value> {
    let mut found = None;
    doc.retain_mut(|e| match e {
        Entry::Pair(k, v) if k == "sops" => {
            if found.is_none() {
                found = Some(std::mem::replace(v, Value::Null));
            }
            false
        }
        _ => true,
    });
    found
}

/// Parses an encrypted file and separates the metadata.
pub fn load_encrypted(format: Format, input: &[u8]) -> Result<Loaded, String> {
    match format {
        Format::Yaml => {
            let mut docs = yaml::parse(input)?;
            let mut md = None;
            for (i, d) in docs.iter_mut().enumerate() {
                let m = take_sops(d);
                if i == 0 {
                    md = m;
                }
            }
            Ok(Loaded { docs, metadata: md })
        }
        Format::Json | Format::Binary => {
            let mut doc =
                json::parse(input).map_err(|e| format!("Error unmarshalling input json: {e}"))?;
            let md = take_sops(&mut doc);
            Ok(Loaded {
                docs: vec![doc],
                metadata: md,
            })
        }
        Format::Dotenv => {
            let doc = dotenv::parse(input)?;
            let (data, flat) = dotenv::split_metadata(doc);
            let md = (!flat.is_empty()).then(|| flatten::unflatten(&flat));
            Ok(Loaded {
                docs: vec![data],
                metadata: md,
            })
        }
        Format::Ini => {
            let doc = ini::parse(input)?;
            let (data, flat) = ini::split_metadata(doc);
            Ok(Loaded {
                docs: vec![data],
                metadata: flat.map(|f| flatten::unflatten(&f)),
            })
        }
    }
}

/// Parses a plaintext file for encryption.
pub fn load_plain(format: Format, input: &[u8]) -> Result<Vec<Map>, String> {
    match format {
        Format::Yaml => yaml::parse(input),
        Format::Json => {
            Ok(vec![json::parse(input).map_err(|e| {
                format!("Could not unmarshal input data: {e}")
            })?])
        }
        Format::Dotenv => Ok(vec![dotenv::parse(input)?]),
        Format::Ini => {
            Ok(vec![ini::parse(input).map_err(|e| {
                format!("Could not unmarshal input data: {e}")
            })?])
        }
        Format::Binary => Ok(vec![vec![Entry::Pair(
            "data".into(),
            Value::Str(Sensitive::new(input.to_vec())),
        )]]),
    }
}

/// True if the plaintext already carries sops metadata (refuse to encrypt twice).
pub fn has_sops_key(format: Format, docs: &[Map]) -> bool {
    let Some(first) = docs.first() else {
        return false;
    };
    match format {
        Format::Dotenv => first
            .iter()
            .any(|e| e.key().is_some_and(|k| k.starts_with("sops_"))),
        _ => first.iter().any(|e| e.key() == Some("sops")),
    }
}

/// Emits decrypted documents in `format` (sops' exact plaintext output).
pub fn emit_plain(
    format: Format,
    docs: &[Map],
    opts: &EmitOptions,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let first = docs.first().ok_or("there is no document to emit")?;
    match format {
        Format::Yaml => yaml::emit(docs, None, opts.yaml_indent.unwrap_or(4)),
        Format::Json => json::emit_document(first, None, json::Indent(opts.json_indent)),
        Format::Dotenv => dotenv::emit(first, None),
        Format::Ini => ini::emit(first, None),
        Format::Binary => {
            for e in first {
                if let Entry::Pair(k, v) = e
                    && k == "data"
                {
                    return match v {
                        Value::Str(s) => Ok(Zeroizing::new(s.expose().to_vec())),
                        _ => Err("error emitting binary store: 'data' key in tree does not have a string value".into()),
                    };
                }
            }
            Err("error emitting binary store: no binary data found in tree. This is likely not an encrypted binary file? If not, use --output-type to select the correct output type.".into())
        }
    }
}

/// Emits encrypted documents with their metadata.
pub fn emit_encrypted(
    format: Format,
    docs: &[Map],
    metadata: &crate::sops::metadata::Metadata,
    opts: &EmitOptions,
) -> Result<Vec<u8>, String> {
    let first = docs.first().ok_or("there is no document to emit")?;
    let out = match format {
        Format::Yaml => {
            let md = metadata.to_value(false);
            yaml::emit(docs, Some(&md), opts.yaml_indent.unwrap_or(4))?
        }
        Format::Json => json::emit_document(
            first,
            Some(&metadata.to_value(true)),
            json::Indent(opts.json_indent),
        )?,
        Format::Binary => json::emit_document(
            first,
            Some(&metadata.to_value(true)),
            json::Indent(opts.json_binary_indent),
        )?,
        Format::Dotenv => dotenv::emit(first, Some(&metadata.to_value(true)))?,
        Format::Ini => ini::emit(first, Some(&metadata.to_value(true)))?,
    };
    Ok(out.to_vec())
}

/// Emits a single extracted value the way `sops decrypt --extract` prints it (spec §11.2).
pub fn emit_value(
    format: Format,
    v: &Value,
    opts: &EmitOptions,
) -> Result<Zeroizing<Vec<u8>>, String> {
    if let Value::Str(s) = v {
        return Ok(Zeroizing::new(s.expose().to_vec()));
    }
    match format {
        Format::Yaml => yaml::emit_value(v, opts.yaml_indent.unwrap_or(4)),
        Format::Json | Format::Ini => {
            let mut out = Zeroizing::new(Vec::new());
            let indent = if format == Format::Json {
                json::Indent(opts.json_indent)
            } else {
                // go-ini's EmitValue is json.Marshal: compact.
                json::Indent(None)
            };
            json::write_value(&mut out, v, indent, 0)?;
            if format == Format::Ini {
                let compact = compact_json(&out);
                return Ok(compact);
            }
            Ok(out)
        }
        Format::Dotenv => Err(format!(
            "the dotenv store only supports emitting strings, got {}",
            v.type_name()
        )),
        Format::Binary => Err(
            "Binary files are not structured and extracting a single value is not possible".into(),
        ),
    }
}

/// Removes the layout whitespace that `write_value` adds (outside strings).
fn compact_json(b: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(b.len()));
    let mut in_str = false;
    let mut esc = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
            out.push(c);
        } else if c == b'\n' || c == b'\t' {
        } else if c == b':' && b.get(i + 1) == Some(&b' ') {
            out.push(c);
            i += 1;
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}
