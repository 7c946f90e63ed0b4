//! The crate's layers (docs/design.md): `yaml/` and `sops/` are file-format code. They import
//! nothing from the settings, the CLI, the Vault client or any other application module, and no
//! network or CLI crate: the sops engine reaches Vault transit and AWS KMS only through the
//! `Transit`/`Kms` traits the application implements (`backend/`).

use std::path::Path;

use crate::support;

/// The crate modules format code may use.
const ALLOWED: &[&str] = &["yaml", "sops", "secret", "deadline"];
/// Crates format code may not use.
const FORBIDDEN_CRATES: &[&str] = &["reqwest", "tokio", "clap", "kube", "tracing_subscriber"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn format_code_imports_no_application_module_or_network_crate() {
    let root = support::project_root();
    let mut files = Vec::new();
    for layer in ["src/yaml", "src/sops"] {
        rust_files(&root.join(layer), &mut files);
    }
    assert!(files.len() > 10, "the layers were not found");
    let mut violations = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(i) = rest.find("crate::") {
                let after = &rest[i + "crate::".len()..];
                let module: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !ALLOWED.contains(&module.as_str()) {
                    violations.push(format!(
                        "{}:{}: crate::{module}",
                        f.strip_prefix(&root).unwrap().display(),
                        n + 1
                    ));
                }
                rest = after;
            }
            for c in FORBIDDEN_CRATES {
                if code.contains(&format!("{c}::")) {
                    violations.push(format!(
                        "{}:{}: {c}",
                        f.strip_prefix(&root).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "format code reaches into the application:\n{}",
        violations.join("\n")
    );
}

/// Lines of the library's non-test code (a file is read up to its `#[cfg(test)]` module).
fn library_lines() -> Vec<(String, usize, String)> {
    let root = support::project_root();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut out = Vec::new();
    for f in files {
        let shown = f.strip_prefix(&root).unwrap().display().to_string();
        if shown.ends_with("tests.rs") || shown.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim() == "#[cfg(test)]" {
                break;
            }
            let code = line.split("//").next().unwrap_or("").to_owned();
            out.push((shown.clone(), n + 1, code));
        }
    }
    out
}

/// One application context and one runtime (docs/design.md): only `src/context.rs` builds a
/// Vault client from the settings, and only `src/runtime.rs` builds an async runtime — every
/// front-end takes its backends, sops key sources and runtime from them.
#[test]
fn one_context_builds_clients_and_one_runtime_runs_async_work() {
    let mut violations = Vec::new();
    for (file, n, code) in library_lines() {
        if code.contains("VaultClient::connect(") && file != "src/context.rs" {
            violations.push(format!("{file}:{n}: builds a Vault client"));
        }
        if code.contains("runtime::Builder") && file != "src/runtime.rs" {
            violations.push(format!("{file}:{n}: builds an async runtime"));
        }
    }
    assert!(
        violations.is_empty(),
        "outside the application context / runtime:\n{}",
        violations.join("\n")
    );
}
