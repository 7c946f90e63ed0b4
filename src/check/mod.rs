//! `sealbridge check [PATH…]`: static, offline checks for the mistakes that lose Secrets or
//! leak them — no credentials, nothing fetched or decrypted, no value ever printed.
//!
//! | id | finding |
//! |---|---|
//! | `SB001` | a reference or annotation the render engine would refuse (syntax, modifier, unknown annotation name, a generic `<key>` without a path annotation, …) |
//! | `SB002` | a `Secret` with literal values in `data`/`stringData` (plaintext in Git) |
//! | `SB003` | private key material in a file (age identity, PEM private key, Vault token) |
//! | `SB004` | a sops file with values in clear that its rule encrypts, or without a MAC |
//! | `SB005` | a kustomization tree the kustomize variant refuses (foreign plugin kinds, KRM-function generators kustomize would skip, entries outside the repository) |
//! | `SB006` | a file that cannot be read or parsed |
//! | `SB007` | a sops file whose recipients differ from its `.sops.yaml` rule |
//! | `SB008` | a sops generator (`SecretGenerator`, ksops) entry that does not exist or is not sops-encrypted |
//! | `SB010` | a `.sops.yaml` creation rule that matches no file under its directory (a typo, or shadowed by an earlier rule) |
//! | `SB011` | a reference hashing the secret's value (`sha256sum` without `version` first) |
//! | `SB009` | (`--resolve`, with credentials) a reference that does not resolve: no such secret, key or version, permission denied, a sops file the keys cannot open |

use std::path::{Path, PathBuf};

use crate::manifest::Input;

mod ignore;
use crate::resolve::{self, RenderOptions};
pub use ignore::{DEFAULT_FILE as IGNORE_FILE, Ignore};

/// One finding: where, what, how to fix. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// `SB001` …
    pub id: &'static str,
    /// The file (relative to the checked path's directory where possible).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Document, object and field, when known (`document 2 (Secret/db): .data.password`).
    pub location: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Bounds of the walk.
const MAX_FILES: usize = 50_000;
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The files under `paths` (directories walked, without what `ignore` skips), sorted, without
/// duplicates.
fn collect(paths: &[PathBuf], ignore: &Ignore) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files, ignore);
        } else {
            files.push(p.clone());
        }
    }
    files.sort();
    files.dedup();
    files
}

/// Checks every file under `paths` except what `ignore` skips (the caller drops the findings
/// it names: [`Ignore::drops`]).
pub fn check(paths: &[PathBuf], opts: &RenderOptions, ignore: &Ignore) -> Vec<Finding> {
    let files = collect(paths, ignore);
    let mut out = Vec::new();
    for f in &files {
        check_file(f, opts, &mut out);
    }
    for p in paths {
        if p.is_dir() {
            kustomizations(p, &files, &mut out);
        }
    }
    unused_rules(&files, &mut out);
    out
}

/// `SB010`: creation rules of each `.sops.yaml` among `files` that no file below its directory
/// selects (sops takes the first matching rule, so a later one can be shadowed).
fn unused_rules(files: &[PathBuf], out: &mut Vec<Finding>) {
    for cfg_path in files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == ".sops.yaml"))
    {
        let Ok(cfg) = crate::sops::config::Config::load(cfg_path) else {
            continue;
        };
        let regexes = cfg.rule_regexes();
        if regexes.is_empty() {
            continue;
        }
        let Some(dir) = cfg_path.parent() else {
            continue;
        };
        let mut used = vec![false; regexes.len()];
        for f in files
            .iter()
            .filter(|f| f.starts_with(dir) && *f != cfg_path)
        {
            if let Some(i) = cfg.rule_index_for(f) {
                used[i] = true;
            }
        }
        for (i, re) in regexes.iter().enumerate() {
            if used[i] {
                continue;
            }
            let which = match re {
                Some(re) => format!("path_regex {re:?}"),
                None => "without path_regex".to_owned(),
            };
            out.push(Finding {
                id: "SB010",
                file: cfg_path.display().to_string(),
                line: None,
                location: format!("creation_rules[{i}]"),
                message: format!(
                    "the rule ({which}) selects no file under {}: a typo in the regex, or an \
                     earlier rule matches first (sops uses the first match)",
                    dir.display()
                ),
            });
        }
    }
}

/// `--resolve`: renders every manifest under `paths` with the run's backends (values are
/// fetched into wiped memory and dropped; nothing is printed) and reports each reference that
/// does not resolve (`SB009`).
pub fn resolve(
    paths: &[PathBuf],
    backends: &crate::backend::Backends,
    opts: &RenderOptions,
    ignore: &Ignore,
) -> Vec<Finding> {
    let files = collect(paths, ignore);
    let inputs: Vec<Input> = files
        .into_iter()
        .filter(|f| is_manifest(f) && !helm_template(f))
        .filter(|f| {
            std::fs::read(f)
                .is_ok_and(|b| !crate::sops::looks_encrypted(&String::from_utf8_lossy(&b)))
        })
        .map(Input::Path)
        .collect();
    if inputs.is_empty() {
        return Vec::new();
    }
    let finding = |file: String, location: String, message: String| Finding {
        id: "SB009",
        file,
        line: None,
        location,
        message,
    };
    match resolve::render_inputs(&inputs, backends, opts) {
        Ok(_) => Vec::new(),
        Err(resolve::RenderError::Resolve(f)) => f
            .failures
            .iter()
            .map(|f| {
                finding(
                    f.origin.file.clone(),
                    location(f),
                    if f.reference.is_empty() {
                        f.problem.clone()
                    } else {
                        format!("{}: {}", f.reference, f.problem)
                    },
                )
            })
            .collect(),
        // Read errors are SB006 already.
        Err(resolve::RenderError::Read(_)) => Vec::new(),
        Err(e) => vec![finding("-".to_owned(), String::new(), e.to_string())],
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, ignore: &Ignore) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if out.len() >= MAX_FILES {
            return;
        }
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') && name != ".sops.yaml" {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            if !ignore.skips_dir(&path) {
                walk(&path, out, ignore);
            }
        } else if ft.is_file() && !ignore.skips_file(&path) {
            out.push(path);
        }
    }
}

fn is_manifest(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
}

fn check_file(path: &Path, opts: &RenderOptions, out: &mut Vec<Finding>) {
    let file = path.display().to_string();
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.len() > MAX_FILE_BYTES {
        return;
    }
    let Ok(bytes) = std::fs::read(path) else {
        out.push(Finding {
            id: "SB006",
            file,
            line: None,
            location: String::new(),
            message: "cannot be read".to_owned(),
        });
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    key_material(&file, &text, out);
    if !is_manifest(path) || helm_template(path) {
        return;
    }
    let sops = crate::sops::looks_encrypted(&text);
    if sops {
        sops_file(path, &file, &bytes, out);
        return;
    }
    match resolve::explain_inputs(&[Input::Path(path.to_path_buf())], opts) {
        Ok(rows) => {
            for (f, ok) in rows {
                if ok && hashes_the_value(&f.reference) {
                    out.push(Finding {
                        id: "SB011",
                        file: file.clone(),
                        line: None,
                        location: location(&f),
                        message: format!(
                            "{}: `sha256sum` of a secret's value puts an unsalted hash of it in \
                             the manifest, an offline guessing oracle for a weak secret: for \
                             rollouts use `| version` first (the secret's version, not its \
                             value) or the workload annotation sealbridge.io/checksum-of",
                            f.reference
                        ),
                    });
                }
                if !ok {
                    out.push(Finding {
                        id: "SB001",
                        file: file.clone(),
                        line: None,
                        location: location(&f),
                        message: if f.reference.is_empty() {
                            f.problem.clone()
                        } else {
                            format!("{}: {}", f.reference, f.problem)
                        },
                    });
                }
            }
        }
        Err(e) => out.push(Finding {
            id: "SB006",
            file: file.clone(),
            line: None,
            location: String::new(),
            message: e.to_string(),
        }),
    }
    literal_secrets(&file, &text, out);
}

fn location(f: &resolve::Failure) -> String {
    let mut s = format!("document {}", f.origin.index + 1);
    if !f.object.is_empty() {
        s.push_str(&format!(" ({})", f.object));
    }
    if !f.field.is_empty() {
        s.push_str(": ");
        s.push_str(&f.field);
    }
    s
}

/// A file in a Helm chart's `templates/` (Go templates, not YAML until helm renders them).
fn helm_template(path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .find(|a| a.file_name().is_some_and(|n| n == "templates"))
        .and_then(Path::parent)
        .is_some_and(|chart| chart.join("Chart.yaml").is_file())
}

/// `SB003`: private key material, by line (the material itself is never printed).
fn key_material(file: &str, text: &str, out: &mut Vec<Finding>) {
    for (n, line) in text.lines().enumerate() {
        let kind = if age_identity(line) {
            Some("an age identity (AGE-SECRET-KEY-1…)")
        } else if pem_private_key(line) {
            Some("a PEM private key")
        } else if vault_token(line) {
            Some("a Vault service token (hvs.…)")
        } else if legacy_vault_token(line) {
            Some("a legacy Vault token (s.…)")
        } else {
            None
        };
        if let Some(kind) = kind {
            out.push(Finding {
                id: "SB003",
                file: file.to_owned(),
                line: Some(n + 1),
                location: String::new(),
                message: format!(
                    "{kind} in the repository: remove it, rotate the key, and keep keys in a \
                     secret store or the CI's secret variables (throwaway demo keys: list the \
                     file with --allow)"
                ),
            });
        }
    }
}

/// `AGE-SECRET-KEY-1` followed by the 58 bech32 characters of an identity (prose that names
/// the prefix is not a key).
fn age_identity(line: &str) -> bool {
    line.match_indices("AGE-SECRET-KEY-1").any(|(i, m)| {
        line[i + m.len()..]
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            .count()
            >= 50
    })
}

/// `hvs.` followed by at least 24 token characters.
fn vault_token(line: &str) -> bool {
    line.match_indices("hvs.").any(|(i, _)| {
        let before_ok = i == 0 || !line.as_bytes()[i - 1].is_ascii_alphanumeric();
        let rest = &line[i + 4..];
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count();
        before_ok && n >= 24
    })
}

/// The `-----BEGIN … PRIVATE KEY-----` marker at the start of a line (after indentation, as in
/// a YAML block scalar or a `.pem` file) or right after a quote, `:`, `=` or a space (a JSON or
/// YAML string, an assignment). Prose that quotes it in backticks and code that looks for the
/// two halves separately are not key material.
fn pem_private_key(line: &str) -> bool {
    static RE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?:^|[\s"':=])-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"#).ok()
    });
    RE.as_ref().is_some_and(|re| re.is_match(line))
}

/// A legacy Vault service token (`s.` and exactly 24 letters and digits) as a whole value: the
/// line is `TOKEN`, `- TOKEN`, `key: TOKEN` or `NAME=TOKEN`, optionally quoted, optionally
/// followed by a `# comment`. `s.` inside text (`registry/s.abc…`, sentences) is too common to
/// be reported anywhere else.
fn legacy_vault_token(line: &str) -> bool {
    static RE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"^\s*(?:-\s+)?(?:[^\s:#][^:#]*:\s+|[A-Za-z_][A-Za-z0-9_]*=)?["']?s\.[A-Za-z0-9]{24}["']?\s*(?:#.*)?$"#,
        )
        .ok()
    });
    RE.as_ref().is_some_and(|re| re.is_match(line))
}

/// `SB002`: a Secret whose `data`/`stringData` holds a literal value (no reference).
fn literal_secrets(file: &str, text: &str, out: &mut Vec<Finding>) {
    let Ok(docs) = crate::yaml::parse_stream(text) else {
        return;
    };
    for (i, d) in docs.iter().enumerate() {
        let root = &d.root;
        if root.get("kind").and_then(crate::yaml::Node::as_str) != Some("Secret") {
            continue;
        }
        let annotated = root
            .get_path(&["metadata", "annotations"])
            .and_then(crate::yaml::Node::as_mapping)
            .is_some_and(|m| {
                m.iter().any(|(k, _)| {
                    k.as_str().is_some_and(|k| {
                        resolve::ANNOTATION_PREFIXES
                            .iter()
                            .any(|p| k == format!("{p}path") || k == format!("{p}ignore"))
                    })
                })
            });
        if annotated {
            continue;
        }
        let name = root
            .get_path(&["metadata", "name"])
            .and_then(crate::yaml::Node::as_str)
            .unwrap_or("");
        for field in ["data", "stringData"] {
            let Some(entries) = root.get(field).and_then(crate::yaml::Node::as_mapping) else {
                continue;
            };
            let literal: Vec<&str> = entries
                .iter()
                .filter(|(_, v)| {
                    v.as_str()
                        .is_some_and(|s| !s.is_empty() && !holds_reference(field, s))
                })
                .filter_map(|(k, _)| k.as_str())
                .collect();
            if !literal.is_empty() {
                out.push(Finding {
                    id: "SB002",
                    file: file.to_owned(),
                    line: None,
                    location: format!("document {} (Secret/{name}): .{field}", i + 1),
                    message: format!(
                        "literal values for {} (plaintext in Git): replace them with references \
                         (`<path:…#key>`, `ref+vault://…`, `ref+sops://…`) or move the Secret \
                         into a sops file",
                        literal.join(", ")
                    ),
                });
            }
        }
    }
}

/// Whether a reference's modifiers hash the secret's value: `sha256sum` without `version`
/// before it (`<path:kv/data/db#password | sha256sum>`), as the render engine's parser reads
/// the reference.
fn hashes_the_value(reference: &str) -> bool {
    use crate::placeholder::{Modifier, ScanContext, Segment};
    let parsed = crate::placeholder::parse(reference, ScanContext { generic: true });
    parsed.segments.iter().any(|s| match s {
        Segment::Ref(r) => r
            .modifiers
            .iter()
            .take_while(|m| !matches!(m, Modifier::Version))
            .any(|m| matches!(m, Modifier::Sha256Sum)),
        Segment::Text(_) => false,
    })
}

/// Whether a Secret value holds a reference (in `data`, also once base64-decoded).
fn holds_reference(field: &str, s: &str) -> bool {
    let has = |t: &str| t.contains('<') || t.contains("ref+");
    if has(s) {
        return true;
    }
    if field == "data" {
        use base64::Engine as _;
        if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(s.trim()) {
            return has(&String::from_utf8_lossy(&b));
        }
    }
    false
}

/// `SB004`: a sops file that does not parse as one, has no MAC, or has values in clear that
/// its encryption rule (suffix or regex; `_unencrypted` when none) says are encrypted.
fn sops_file(path: &Path, file: &str, bytes: &[u8], out: &mut Vec<Finding>) {
    let format = crate::sops::Format::from_path(path);
    match crate::sops::load_encrypted(bytes, format) {
        Err(e) => out.push(Finding {
            id: "SB004",
            file: file.to_owned(),
            line: None,
            location: String::new(),
            message: format!("looks like a sops file but is not a valid one: {e}"),
        }),
        Ok((docs, md)) => {
            drift(path, file, &md, out);
            if !md.mac.starts_with("ENC[") {
                out.push(Finding {
                    id: "SB004",
                    file: file.to_owned(),
                    line: None,
                    location: String::new(),
                    message: "the sops metadata has no MAC: the file was edited by hand or \
                              damaged; re-encrypt it with sops or sealbridge"
                        .to_owned(),
                });
            }
            // The leaves the file's rule says are encrypted must be `ENC[…]`: a clear one was
            // added by hand. Comment rules and `mac_only_encrypted` are not judged.
            let rule = md
                .rule
                .clone()
                .unwrap_or_else(crate::sops::Rule::default_for_reading);
            if !rule.is_comment_rule() && !md.mac_only_encrypted {
                let mut plain = Vec::new();
                for d in &docs {
                    plain_leaves(d, "", &[], &rule, &mut plain);
                }
                if !plain.is_empty() {
                    plain.truncate(10);
                    out.push(Finding {
                        id: "SB004",
                        file: file.to_owned(),
                        line: None,
                        location: String::new(),
                        message: format!(
                            "values in clear in a sops file ({}): they were added after \
                             encryption; run `sealbridge edit` (or sops) on the file so they are \
                             encrypted",
                            plain.join(", ")
                        ),
                    });
                }
            }
        }
    }
}

/// `SB007`: the file's recipients differ from what the `.sops.yaml` rule for its path names
/// (a key added to the rule but never applied with `updatekeys`, or one removed from it that
/// can still decrypt the file). Nothing is decrypted.
fn drift(path: &Path, file: &str, md: &crate::sops::Metadata, out: &mut Vec<Finding>) {
    let start = path.parent().unwrap_or(Path::new("."));
    let Some(cfg_path) = crate::sops::config::find(None, start) else {
        return;
    };
    let Ok(cfg) = crate::sops::config::Config::load(&cfg_path) else {
        return;
    };
    if !cfg.has_creation_rules() {
        return;
    }
    let Ok(rule) = cfg.rule_for(path) else {
        return;
    };
    if rule.groups.is_empty() {
        return;
    }
    let ids = |groups: &[crate::sops::KeyGroup]| -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| {
                let mut v: Vec<String> = g.keys.iter().map(|k| k.sops_id()).collect();
                v.sort();
                v
            })
            .collect()
    };
    let (file_ids, rule_ids) = (ids(&md.groups), ids(&rule.groups));
    if file_ids == rule_ids {
        return;
    }
    let flat = |v: &[Vec<String>]| -> Vec<String> { v.iter().flatten().cloned().collect() };
    let (have, want) = (flat(&file_ids), flat(&rule_ids));
    let missing: Vec<&String> = want.iter().filter(|k| !have.contains(k)).collect();
    let extra: Vec<&String> = have.iter().filter(|k| !want.contains(k)).collect();
    let mut what = Vec::new();
    if !missing.is_empty() {
        what.push(format!(
            "missing {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !extra.is_empty() {
        what.push(format!(
            "not in the rule {}",
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if what.is_empty() {
        what.push("the key groups are arranged differently".to_owned());
    }
    out.push(Finding {
        id: "SB007",
        file: file.to_owned(),
        line: None,
        location: String::new(),
        message: format!(
            "its recipients differ from the rule in {} ({}): run `sealbridge updatekeys {file}`",
            cfg_path.display(),
            what.join("; ")
        ),
    });
}

/// Field paths of leaves that the rule encrypts but that are not `ENC[…]`. As sops: a path
/// rule looks at every key on the way down; null values and empty strings are never encrypted.
fn plain_leaves(
    map: &crate::sops::Map,
    prefix: &str,
    keys: &[&str],
    rule: &crate::sops::Rule,
    out: &mut Vec<String>,
) {
    use crate::sops::Entry;
    for e in map {
        let Entry::Pair(k, v) = e else { continue };
        if k == "sops" && prefix.is_empty() {
            continue;
        }
        let mut keys = keys.to_vec();
        keys.push(k);
        plain_value(v, &format!("{prefix}.{k}"), &keys, rule, out);
    }
}

fn plain_value(
    v: &crate::sops::Value,
    path: &str,
    keys: &[&str],
    rule: &crate::sops::Rule,
    out: &mut Vec<String>,
) {
    use crate::sops::{Rule, Value};
    match v {
        Value::Map(m) => plain_leaves(m, path, keys, rule, out),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                plain_value(item, &format!("{path}[{i}]"), keys, rule, out);
            }
        }
        Value::Null | Value::Comment(_) => {}
        Value::Str(s) if s.is_empty() => {}
        _ => {
            let matched = keys.iter().any(|k| rule.key_matches(k));
            let encrypts = match rule {
                Rule::UnencryptedSuffix(_) | Rule::UnencryptedRegex(_) => !matched,
                Rule::EncryptedSuffix(_) | Rule::EncryptedRegex(_) => matched,
                Rule::None => true,
                Rule::UnencryptedCommentRegex(_) | Rule::EncryptedCommentRegex(_) => false,
            };
            let encrypted = v.as_str().is_some_and(|s| s.starts_with("ENC["));
            if encrypts && !encrypted {
                out.push(path.to_owned());
            }
        }
    }
}

/// `SB005`: every kustomization directory under `root`, walked as the kustomize variant would
/// (the repository root is `root`).
fn kustomizations(root: &Path, files: &[PathBuf], out: &mut Vec<Finding>) {
    let Ok(canon) = root.canonicalize() else {
        return;
    };
    let Ok(rules) = crate::kustomize::Rules::new(canon, None) else {
        return;
    };
    for f in files {
        let is_k = f
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| crate::kustomize::KUSTOMIZATION_FILES.contains(&n));
        let Some(dir) = f.parent().filter(|_| is_k) else {
            continue;
        };
        match crate::kustomize::walk(dir, &rules) {
            Ok(graph) => {
                for u in &graph.plugins {
                    generator_files(&rules.root, u, out);
                }
            }
            Err(e) => {
                let finding = Finding {
                    id: "SB005",
                    file: f.display().to_string(),
                    line: None,
                    location: String::new(),
                    message: e.to_string(),
                };
                if !out.contains(&finding) {
                    out.push(finding);
                }
            }
        }
    }
}

/// `SB008`: a sops generator's `files:`/`envs:` entry that does not exist or is not
/// sops-encrypted (the generator would fail, or put plaintext from Git into the Secret).
fn generator_files(root: &Path, u: &crate::kustomize::PluginUse, out: &mut Vec<Finding>) {
    let config = root.join(&u.at);
    let Some(dir) = config.parent() else { return };
    let Ok(text) = std::fs::read_to_string(&config) else {
        return;
    };
    let Ok(docs) = crate::yaml::parse_stream(&text) else {
        return;
    };
    let Some(doc) = docs.get(u.doc.saturating_sub(1)) else {
        return;
    };
    for field in ["files", "envs"] {
        let Some(items) = doc.root.get(field).and_then(crate::yaml::Node::as_sequence) else {
            continue;
        };
        for item in items {
            let Some(entry) = item.as_str() else { continue };
            // SecretGenerator's `key=path` form.
            let rel = entry.split_once('=').map_or(entry, |(_, p)| p);
            let path = dir.join(rel);
            let problem = match std::fs::read(&path) {
                Err(_) => Some("does not exist"),
                Ok(b) => {
                    let t = String::from_utf8_lossy(&b);
                    (!(t.contains("ENC[AES256_GCM") && (t.contains("sops") || t.contains("mac"))))
                        .then_some("is not sops-encrypted (its plaintext would go into the Secret from Git)")
                }
            };
            if let Some(problem) = problem {
                let finding = Finding {
                    id: "SB008",
                    file: u.at.clone(),
                    line: None,
                    location: format!("document {} ({} {}): {field}", u.doc, u.api_version, u.kind),
                    message: format!(
                        "{rel} {problem}: encrypt it with `sealbridge encrypt -i` (or sops), or fix the path"
                    ),
                };
                if !out.contains(&finding) {
                    out.push(finding);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn value_hashes_are_told_from_version_hashes() {
        assert!(super::hashes_the_value(
            "<path:kv/data/db#password | sha256sum>"
        ));
        assert!(super::hashes_the_value(
            "<path:kv/data/db#password | base64encode | sha256sum>"
        ));
        assert!(!super::hashes_the_value(
            "<path:kv/data/db#password | version | sha256sum>"
        ));
        assert!(!super::hashes_the_value("<path:kv/data/db#password>"));
        assert!(!super::hashes_the_value(
            "<path:kv/data/db#password | base64encode>"
        ));
        // A `|` inside a modifier's argument is no modifier (the engine's parser reads it).
        assert!(!super::hashes_the_value(
            "<path:kv/data/db#password | default \"a | sha256sum | b\">"
        ));
    }

    use super::*;

    #[test]
    fn age_identity_shapes() {
        assert!(age_identity(&format!("AGE-SECRET-KEY-1{}", "Q".repeat(58))));
        assert!(!age_identity("an age identity (AGE-SECRET-KEY-1…)"));
    }

    #[test]
    fn pem_shapes() {
        for line in [
            "-----BEGIN PRIVATE KEY-----",
            "    -----BEGIN RSA PRIVATE KEY-----",
            "{\"key\": \"-----BEGIN EC PRIVATE KEY-----\\nMHc\"}",
            "key: '-----BEGIN OPENSSH PRIVATE KEY-----'",
        ] {
            assert!(pem_private_key(line), "{line}");
        }
        for line in [
            "put the `-----BEGIN PRIVATE KEY-----` block in a secret store",
            "-----BEGIN PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----",
            "if l.contains(\"-----BEGIN\") && l.contains(\"PRIVATE KEY-----\")",
        ] {
            assert!(!pem_private_key(line), "{line}");
        }
    }

    #[test]
    fn token_shapes() {
        assert!(vault_token(
            "token: hvs.CAESIJ1234567890abcdefghijklmnopqrstuv"
        ));
        assert!(!vault_token("see hvs.short"));
        assert!(!vault_token("xhvs.CAESIJ1234567890abcdefghijklmnopqrstuv"));
        let legacy = "s.AbCdEfGhIjKlMnOpQrStUvWx";
        for line in [
            format!("token: {legacy}"),
            format!("VAULT_TOKEN=\"{legacy}\""),
            format!("  - '{legacy}' # ci"),
            legacy.to_owned(),
        ] {
            assert!(legacy_vault_token(&line), "{line}");
        }
        for line in [
            format!("token: {legacy}x"),
            format!("see {legacy} in the log"),
            "image: registry.example.com/s.abcdefghijklmnopqrstuvwx".to_owned(),
            "token: s.short".to_owned(),
        ] {
            assert!(!legacy_vault_token(&line), "{line}");
        }
    }

    #[test]
    fn references_in_secret_values() {
        assert!(holds_reference("stringData", "<path:kv/x#y>"));
        assert!(holds_reference("data", "PHBhdGg6a3YveCN5Pg=="));
        assert!(!holds_reference("data", "aHVudGVyMg=="));
    }
}
