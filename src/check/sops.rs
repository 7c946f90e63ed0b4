//! SB007/SB008: files that look like sops files (a top-level `sops:` mapping) but hold values in
//! clear that their encryption rule says must be encrypted, or whose `sops.mac` is missing or
//! not an `ENC[AES256_GCM,…,type:str]` value. Structural only: nothing is decrypted, the MAC is
//! not verified (that needs the data key). Null values and empty strings are in clear in
//! every sops file and are not findings. The rule is read as sops reads it
//! ([`crate::sops::Rule`]; `_unencrypted` suffix when none is set); with a comment rule the
//! leaves are not judged (the MAC is still checked).

use super::{Finding, rule};
use crate::sops::Rule;
use crate::sops::rules::RULE_FIELDS;
use crate::yaml::{Document, Node, NodeKind};

/// Checks a file's documents; true when it is a sops file (then it is not a manifest).
pub(super) fn check_docs(file: &str, docs: &[Document], findings: &mut Vec<Finding>) -> bool {
    let Some((index, doc)) = docs
        .iter()
        .enumerate()
        .find(|(_, d)| d.root.get("sops").is_some_and(Node::is_mapping))
    else {
        return false;
    };
    let Some(meta) = doc.root.get("sops") else {
        return false;
    };
    let mut push = |id: &str, node: &Node, field: String, message: String| {
        findings.push(Finding {
            rule: rule(id),
            file: file.to_owned(),
            line: node.pos.line,
            column: node.pos.col,
            document: Some(index + 1),
            field,
            message,
        });
    };
    match meta.get("mac") {
        None => push(
            "SB008",
            meta,
            ".sops.mac".to_owned(),
            "the sops metadata has no `mac`: the file was edited by hand or not encrypted by \
             sops; re-encrypt it (`sealbridge encrypt -i FILE` on the plaintext)"
                .to_owned(),
        ),
        Some(mac) if !mac.as_str().is_some_and(well_formed_mac) => push(
            "SB008",
            mac,
            ".sops.mac".to_owned(),
            "`sops.mac` is not an ENC[AES256_GCM,data:…,iv:…,tag:…,type:str] value; the file \
             cannot be decrypted; restore it from history or re-encrypt the plaintext"
                .to_owned(),
        ),
        Some(_) => {}
    }
    let mut rules = Vec::new();
    for field in RULE_FIELDS {
        if let Some(v) = meta.get(field).and_then(Node::as_str) {
            match Rule::from_field(field, v) {
                Ok(r) => rules.push(r),
                Err(e) => push(
                    "SB008",
                    meta,
                    format!(".sops.{field}"),
                    format!("{e}; fix the rule in the file's metadata"),
                ),
            }
        }
    }
    let rule = match rules.len() {
        0 => Rule::default_for_reading(),
        1 => rules.remove(0),
        _ => {
            push(
                "SB008",
                meta,
                ".sops".to_owned(),
                crate::sops::rules::MORE_THAN_ONE.to_owned(),
            );
            return true;
        }
    };
    if rule.is_comment_rule() {
        return true;
    }
    let mut clear = Vec::new();
    if let NodeKind::Mapping(entries) = &doc.root.kind {
        for (k, v) in entries {
            let key = k.as_str().unwrap_or("?");
            if key == "sops" {
                continue;
            }
            leaves(v, &mut format!(".{key}"), &[key], &rule, &mut clear);
        }
    }
    for (field, node) in clear {
        push(
            "SB007",
            node,
            field,
            "value in clear in a sops file (its rule says it must be encrypted); encrypt the \
             file again with sops/`sealbridge encrypt`, rotate the value, and check the \
             `.sops.yaml` rule"
                .to_owned(),
        );
    }
    true
}

fn well_formed_mac(s: &str) -> bool {
    crate::sops::cipher::is_enc(s.as_bytes())
        && s.contains("data:")
        && s.contains(",iv:")
        && s.contains(",tag:")
        && s.ends_with(",type:str]")
}

/// Does the rule encrypt a leaf under these keys? (sops: a path rule looks at every key on the
/// way down.)
fn encrypted(rule: &Rule, keys: &[&str]) -> bool {
    let any = keys.iter().any(|k| rule.key_matches(k));
    match rule {
        Rule::None => true,
        Rule::UnencryptedSuffix(_) | Rule::UnencryptedRegex(_) => !any,
        Rule::EncryptedSuffix(_) | Rule::EncryptedRegex(_) => any,
        Rule::UnencryptedCommentRegex(_) | Rule::EncryptedCommentRegex(_) => false,
    }
}

fn leaves<'a>(
    node: &'a Node,
    field: &mut String,
    keys: &[&str],
    rule: &Rule,
    out: &mut Vec<(String, &'a Node)>,
) {
    match &node.kind {
        NodeKind::Mapping(entries) => {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or("?");
                let len = field.len();
                field.push('.');
                field.push_str(key);
                let mut ks = keys.to_vec();
                ks.push(key);
                leaves(v, field, &ks, rule, out);
                field.truncate(len);
            }
        }
        NodeKind::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = field.len();
                field.push_str(&format!("[{i}]"));
                leaves(v, field, keys, rule, out);
                field.truncate(len);
            }
        }
        NodeKind::Scalar(s) => {
            // sops leaves null and empty strings in clear.
            if node.is_null() || s.value().is_empty() || !encrypted(rule, keys) {
                return;
            }
            if !crate::sops::cipher::is_enc(s.value().as_bytes()) {
                out.push((field.clone(), node));
            }
        }
        NodeKind::Alias(_) => {}
    }
}
