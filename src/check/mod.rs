//! `sealbridge check`: static, offline findings over a repository — references that `render`
//! would refuse, annotation typos, placeholders that would never resolve, plaintext in Git
//! (literal Secret values, unencrypted sops files, private key material) and kustomize trees
//! the plugin would refuse. No credentials, no network, nothing decrypted; a finding names the
//! file, line, column, document, field path and what to do — never a value.
//!
//! One file per family of findings: [`manifests`] (SB001–SB005), [`keys`] (SB006), [`sops`]
//! (SB007, SB008), [`kustomize`] (SB009). The catalogue is [`RULES`]; docs/check.md explains
//! each one.

use std::path::{Path, PathBuf};

mod keys;
mod kustomize;
mod manifests;
mod output;
mod sops;

pub use output::{Format, render};

/// How serious a finding is (SARIF `level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `render` fails, a Secret goes missing or plaintext is in Git.
    Error,
    /// Probably a mistake.
    Warning,
}

impl Level {
    /// `error` / `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

/// One kind of finding.
#[derive(Debug)]
pub struct Rule {
    /// Stable id, `SB001`.
    pub id: &'static str,
    /// Short name (SARIF `name`).
    pub name: &'static str,
    /// Level.
    pub level: Level,
    /// One sentence (SARIF `shortDescription`).
    pub summary: &'static str,
}

/// The catalogue (docs/check.md has one section per id).
pub const RULES: &[Rule] = &[
    Rule {
        id: "SB000",
        name: "unreadable-input",
        level: Level::Error,
        summary: "A file cannot be read or parsed the way render reads it.",
    },
    Rule {
        id: "SB001",
        name: "invalid-reference",
        level: Level::Error,
        summary: "A reference does not parse or cannot be planned; render would refuse it.",
    },
    Rule {
        id: "SB002",
        name: "invalid-annotation-value",
        level: Level::Error,
        summary: "An avp.kubernetes.io/* or sealbridge.io/* annotation has a value render refuses.",
    },
    Rule {
        id: "SB003",
        name: "unknown-annotation",
        level: Level::Error,
        summary: "An avp.kubernetes.io/* or sealbridge.io/* annotation that nothing reads (a typo).",
    },
    Rule {
        id: "SB004",
        name: "generic-placeholder-without-path",
        level: Level::Error,
        summary: "A <key> placeholder in a document without a path annotation is never resolved.",
    },
    Rule {
        id: "SB005",
        name: "literal-secret-value",
        level: Level::Error,
        summary: "A Secret holds literal values in data/stringData instead of references.",
    },
    Rule {
        id: "SB006",
        name: "private-key-material",
        level: Level::Error,
        summary: "Private key material (age identity, PEM private key, Vault token) in a file.",
    },
    Rule {
        id: "SB007",
        name: "sops-unencrypted-value",
        level: Level::Error,
        summary: "A sops file holds a value in clear that its rules say must be encrypted.",
    },
    Rule {
        id: "SB008",
        name: "sops-bad-metadata",
        level: Level::Error,
        summary: "A sops file's MAC (or metadata) is missing or malformed.",
    },
    Rule {
        id: "SB009",
        name: "kustomize-tree",
        level: Level::Error,
        summary: "A kustomize tree the plugin would refuse, or a generator input that is missing \
                  or not a sops file.",
    },
];

/// The rule with this id.
pub(crate) fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).unwrap_or(&RULES[0])
}

/// One finding. Never holds a value: names, positions and messages only.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule.
    pub rule: &'static Rule,
    /// The file, as given or found by the walk.
    pub file: String,
    /// 1-based line (0: the whole file).
    pub line: u32,
    /// 1-based column (0: unknown).
    pub column: u32,
    /// 1-based document index in the file (`None`: not about one document).
    pub document: Option<usize>,
    /// Field path (`.data.password`), empty when not about one field.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// What `check` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Files and directories (default `.`).
    pub paths: Vec<PathBuf>,
    /// Files (globs on the path as shown, or on the file name) where key material is expected.
    pub allow_key_files: Vec<crate::policy::glob::Glob>,
}

/// Largest file read (bigger files are reported, not read).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Runs every check. `Err` only for a path that cannot be used at all (a usage error).
pub fn run(opts: &Options) -> Result<Vec<Finding>, String> {
    let mut findings = Vec::new();
    let defaults = [PathBuf::from(".")];
    let paths: &[PathBuf] = if opts.paths.is_empty() {
        &defaults
    } else {
        &opts.paths
    };
    for path in paths {
        let (files, problems) =
            crate::manifest::all_files_of(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for p in problems {
            findings.push(Finding {
                rule: rule("SB000"),
                file: path.display().to_string(),
                line: 0,
                column: 0,
                document: None,
                field: String::new(),
                message: p,
            });
        }
        for file in &files {
            check_file(file, opts, &mut findings);
        }
        if path.is_dir() {
            kustomize::check_dir(path, &mut findings);
        }
    }
    Ok(findings)
}

fn check_file(file: &Path, opts: &Options, findings: &mut Vec<Finding>) {
    let shown = file.display().to_string();
    let too_big = std::fs::metadata(file).is_ok_and(|m| m.len() > MAX_FILE_BYTES);
    let manifest = file
        .extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| crate::manifest::EXTENSIONS.contains(&x));
    if too_big {
        if manifest {
            findings.push(whole_file(
                "SB000",
                &shown,
                format!("larger than {MAX_FILE_BYTES} bytes; not checked"),
            ));
        }
        return;
    }
    let Ok(bytes) = std::fs::read(file) else {
        findings.push(whole_file("SB000", &shown, "cannot read".to_owned()));
        return;
    };
    let bytes = zeroize::Zeroizing::new(bytes);
    let Ok(text) = std::str::from_utf8(&bytes) else {
        // Binary files are not manifests and hold no PEM/age/token text we look for.
        if manifest {
            findings.push(whole_file("SB000", &shown, "not UTF-8 text".to_owned()));
        }
        return;
    };
    if !opts.allow_key_files.iter().any(|g| allowed(g, file)) {
        keys::scan_text(&shown, text, findings);
    }
    if manifest {
        let json = file.extension().is_some_and(|e| e == "json");
        match crate::manifest::parse_source(text, json) {
            Ok(docs) => {
                if !sops::check_docs(&shown, &docs, findings) {
                    manifests::check_docs(&shown, docs, findings);
                }
            }
            // Helm chart templates are not YAML until helm renders them.
            Err(_) if in_chart_templates(file) => {}
            Err(message) => findings.push(whole_file(
                "SB000",
                &shown,
                format!("{message}; render refuses a file it cannot parse"),
            )),
        }
    }
}

/// `CHART/templates/…` where `CHART/Chart.yaml` exists.
fn in_chart_templates(file: &Path) -> bool {
    file.ancestors().skip(1).any(|d| {
        d.file_name().is_some_and(|n| n == "templates")
            && d.parent().is_some_and(|c| c.join("Chart.yaml").is_file())
    })
}

fn allowed(glob: &crate::policy::glob::Glob, file: &Path) -> bool {
    let shown = file.display().to_string();
    let trimmed = shown.strip_prefix("./").unwrap_or(&shown);
    glob.matches(&shown)
        || glob.matches(trimmed)
        || file
            .file_name()
            .is_some_and(|n| glob.matches(&n.to_string_lossy()))
}

pub(crate) fn whole_file(id: &str, file: &str, message: String) -> Finding {
    Finding {
        rule: rule(id),
        file: file.to_owned(),
        line: 0,
        column: 0,
        document: None,
        field: String::new(),
        message,
    }
}

/// The node at an index path (mapping entry index or sequence index per level).
pub(crate) fn node_at<'a>(
    root: &'a crate::yaml::Node,
    path: &[usize],
) -> Option<&'a crate::yaml::Node> {
    use crate::yaml::NodeKind;
    let mut n = root;
    for &i in path {
        n = match &n.kind {
            NodeKind::Mapping(entries) => &entries.get(i)?.1,
            NodeKind::Sequence(items) => items.get(i)?,
            _ => return None,
        };
    }
    Some(n)
}

/// Levenshtein distance (for "did you mean").
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("paht", "path"), 2);
        assert_eq!(edit_distance("pth", "path"), 1);
        assert_eq!(edit_distance("path", "path"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn every_rule_id_is_unique_and_found() {
        for r in RULES {
            assert_eq!(rule(r.id).id, r.id);
        }
    }
}
