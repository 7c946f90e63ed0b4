//! SB009: kustomize trees. Every directory under a checked path that holds a kustomization is
//! read with [`crate::kustomize::walk`] (the same graph walk the Argo CD plugin does before
//! kustomize runs, confined to the checked path): its refusals (KRM-function configurations,
//! foreign plugin kinds, entries outside the tree) become findings. Then each ksops /
//! `SecretGenerator` configuration the tree uses is parsed ([`crate::krm::config`]) and every
//! `files:`/`envs:`/`keys:` entry must name an existing sops file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Finding, whole_file};
use crate::krm::config::{self, GeneratorConfig};

/// Checks the kustomize trees under `dir`.
pub(super) fn check_dir(dir: &Path, findings: &mut Vec<Finding>) {
    let Ok(root) = dir.canonicalize() else { return };
    let Ok(rules) = crate::kustomize::Rules::new(root.clone(), None) else {
        return;
    };
    let mut dirs = Vec::new();
    kustomization_dirs(dir, &mut dirs, 0);
    let mut seen = BTreeSet::new();
    let mut configs = BTreeSet::new();
    for d in dirs {
        let Some(file) = crate::kustomize::find_kustomization(&d) else {
            continue;
        };
        let shown = file.display().to_string();
        match crate::kustomize::walk(&d, &rules) {
            Err(e) => {
                let message = format!("{e}");
                if seen.insert(message.clone()) {
                    findings.push(whole_file(
                        "SB009",
                        &shown,
                        format!("{message} (the kustomize plugin refuses this tree)"),
                    ));
                }
            }
            Ok(graph) => {
                for p in graph.plugins {
                    configs.insert((p.at, p.doc));
                }
            }
        }
    }
    for (at, doc) in configs {
        let path = root.join(&at);
        if path.is_file() {
            generator(dir, &root, &path, doc, findings);
        }
    }
}

fn kustomization_dirs(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 32 {
        return;
    }
    if crate::kustomize::find_kustomization(dir).is_some() {
        out.push(dir.to_path_buf());
    }
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = listing.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if !hidden && e.file_type().is_ok_and(|t| t.is_dir()) {
            kustomization_dirs(&e.path(), out, depth + 1);
        }
    }
}

/// One generator configuration (document `doc`, 1-based) of `path`.
fn generator(shown_root: &Path, root: &Path, path: &Path, doc: usize, findings: &mut Vec<Finding>) {
    let shown = path
        .strip_prefix(root)
        .map_or_else(|_| path.to_path_buf(), |rel| shown_root.join(rel))
        .display()
        .to_string();
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let Ok(docs) = crate::yaml::parse_stream(&text) else {
        return;
    };
    let Some(node) = docs.get(doc.saturating_sub(1)).map(|d| &d.root) else {
        return;
    };
    let Ok(value) = crate::yaml::to_json(node) else {
        return;
    };
    let push = |findings: &mut Vec<Finding>, field: &str, message: String| {
        findings.push(Finding {
            rule: super::rule("SB009"),
            file: shown.clone(),
            line: node.pos.line,
            column: node.pos.col,
            document: Some(doc),
            field: field.to_owned(),
            message,
        });
    };
    let cfg = match config::from_json(&value, &shown) {
        Ok(c) => c,
        Err(e) => {
            push(findings, "", format!("{e}"));
            return;
        }
    };
    let mut sources: Vec<(String, String)> = Vec::new();
    match &cfg {
        GeneratorConfig::SecretGenerator(c) => {
            sources.extend(c.files.iter().map(|f| (".files".to_owned(), f.clone())));
            sources.extend(c.envs.iter().map(|f| (".envs".to_owned(), f.clone())));
            sources.extend(c.keys.iter().map(|k| (".keys".to_owned(), k.file.clone())));
        }
        GeneratorConfig::Ksops(c) => {
            for f in c.files.iter().flatten() {
                sources.push((".files".to_owned(), f.clone()));
            }
            for (i, s) in c.secret_from.iter().flatten().enumerate() {
                for f in s.files.iter().chain(&s.binary_files) {
                    sources.push((format!(".secretFrom[{i}].files"), f.clone()));
                }
                for f in &s.envs {
                    sources.push((format!(".secretFrom[{i}].envs"), f.clone()));
                }
            }
        }
    }
    let base = path.parent().unwrap_or(root);
    for (field, source) in sources {
        let file = if field.ends_with(".files") {
            match config::split_file_source(&source, &shown) {
                Ok((_, p)) => p,
                Err(e) => {
                    push(findings, &field, format!("{e}"));
                    continue;
                }
            }
        } else {
            source.clone()
        };
        let target = base.join(&file);
        let problem = if !target.is_file() {
            Some("does not exist")
        } else if !looks_sops(&target) {
            Some("is not a sops-encrypted file (plaintext would be committed)")
        } else {
            None
        };
        if let Some(why) = problem {
            push(
                findings,
                &field,
                format!(
                    "{}: entry {file:?} {why}; fix the path (relative to the configuration \
                     file) or encrypt the file with sops",
                    cfg.label()
                ),
            );
        }
    }
}

/// A sops file in any of its formats (YAML/JSON metadata, dotenv/INI `sops_mac`).
fn looks_sops(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let text = zeroize::Zeroizing::new(text);
    text.lines().any(|l| {
        l.starts_with("sops:")
            || l.trim_start().starts_with("\"sops\":")
            || l.starts_with("sops_mac=")
            || l.trim() == "[sops]"
    })
}
