//! The three output forms of `sealbridge check`: human text, a JSON array of findings, and a
//! minimal SARIF 2.1.0 log for code-scanning UIs.

use serde_json::{Value, json};

use super::{Finding, RULES};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `FILE:LINE:COLUMN: LEVEL[ID] …` lines and a summary.
    Text,
    /// A JSON array of finding objects.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// The whole output.
pub fn render(findings: &[Finding], format: Format) -> String {
    match format {
        Format::Text => text(findings),
        Format::Json => {
            let all: Vec<Value> = findings.iter().map(finding_json).collect();
            format!("{:#}\n", Value::Array(all))
        }
        Format::Sarif => format!("{:#}\n", sarif(findings)),
    }
}

fn location(f: &Finding) -> String {
    match (f.line, f.column) {
        (0, _) => f.file.clone(),
        (l, 0) => format!("{}:{l}", f.file),
        (l, c) => format!("{}:{l}:{c}", f.file),
    }
}

fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{}: {}[{}]",
            location(f),
            f.rule.level.as_str(),
            f.rule.id
        ));
        if let Some(d) = f.document {
            out.push_str(&format!(" document {d}"));
        }
        if !f.field.is_empty() {
            out.push_str(&format!(" {}", f.field));
        }
        out.push_str(&format!(": {}\n", f.message));
    }
    let n = findings.len();
    if n == 0 {
        out.push_str("no findings\n");
    } else {
        out.push_str(&format!(
            "{n} finding{} (docs/check.md explains each id)\n",
            if n == 1 { "" } else { "s" }
        ));
    }
    out
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "id": f.rule.id,
        "name": f.rule.name,
        "level": f.rule.level.as_str(),
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "document": f.document,
        "field": f.field,
        "message": f.message,
    })
}

fn sarif(findings: &[Finding]) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.summary},
                "defaultConfiguration": {"level": r.level.as_str()},
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut region = serde_json::Map::new();
            region.insert("startLine".to_owned(), json!(f.line.max(1)));
            if f.column > 0 {
                region.insert("startColumn".to_owned(), json!(f.column));
            }
            let mut text = f.message.clone();
            if !f.field.is_empty() {
                text = format!("{}: {text}", f.field);
            }
            json!({
                "ruleId": f.rule.id,
                "ruleIndex": RULES.iter().position(|r| r.id == f.rule.id).unwrap_or(0),
                "level": f.rule.level.as_str(),
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&f.file)},
                        "region": Value::Object(region),
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "sealbridge",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

/// A relative URI reference for a path (forward slashes, `./` dropped, reserved bytes escaped).
fn uri(file: &str) -> String {
    let p = file.replace('\\', "/");
    let p = p.strip_prefix("./").unwrap_or(&p);
    let mut out = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
