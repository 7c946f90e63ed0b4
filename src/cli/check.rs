//! `sealbridge check [PATH…]`: static, offline checks (docs/check.md); exit 0 clean, 1
//! findings, 2 usage.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::check::Finding;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::settings::Flags;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  sealbridge check .\n  sealbridge check --format sarif k8s/ > check.sarif\n\n\
Offline: no credentials, nothing fetched or decrypted, no value printed. Findings: SB001 \
reference/annotation problems, SB002 literal Secret values, SB003 private key material, SB004 \
sops files with clear values or no MAC, SB005 kustomization trees the kustomize variant \
refuses, SB006 unreadable files, SB007 sops recipients that drifted from .sops.yaml, SB008 \
generator files missing or in clear, SB010 .sops.yaml rules that select no file, SB011 hashes \
of secret values (use `| version`); SB009 with \
--resolve (docs/check.md). Exit 0: clean; 1: findings; 2: usage."
)]
pub struct CheckArgs {
    /// Files or directories (default: the current directory).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// `text` (default), `json` or `sarif` (SARIF 2.1.0, for code-scanning UIs).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
    /// Files that may hold key material (throwaway demo keys), by path as printed; repeat.
    #[arg(long, value_name = "PATH")]
    pub allow: Vec<String>,
    /// Paths to skip and findings to drop, one `GLOB [SB00N,…]` per line (default:
    /// `.sealbridge-check-ignore` in the current directory, when present; docs/check.md).
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// Also resolve every reference with the credentials present (the same settings as
    /// `render`): each that does not resolve is a finding (SB009). Values are fetched into
    /// wiped memory and never printed.
    #[arg(long)]
    pub resolve: bool,
}

/// Runs `check`.
pub(super) fn run(args: CheckArgs, flags: &Flags) -> Result<()> {
    if !["text", "json", "sarif"].contains(&args.format.as_str()) {
        return Err(Error::Usage(format!(
            "--format {:?}: use text, json or sarif",
            args.format
        )));
    }
    for p in &args.paths {
        if !p.exists() {
            return Err(Error::Usage(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    let ignore = match &args.ignore_file {
        Some(f) => crate::check::Ignore::load(f, true),
        None => crate::check::Ignore::load(Path::new(crate::check::IGNORE_FILE), false),
    }
    .map_err(Error::Usage)?;
    let ctx = Context::load(flags)?;
    let opts = ctx.render_options(None)?;
    let mut findings = crate::check::check(&args.paths, &opts, &ignore);
    if args.resolve {
        super::arm_deadline(ctx.settings().deadline);
        let backends = ctx.backends(&opts);
        findings.extend(crate::check::resolve(
            &args.paths,
            &backends,
            &opts,
            &ignore,
        ));
    }
    let allowed = |f: &crate::check::Finding| f.id == "SB003" && args.allow.contains(&f.file);
    findings.retain(|f| !allowed(f) && !ignore.drops(f));
    let out = match args.format.as_str() {
        "json" => {
            let mut s = serde_json::to_string_pretty(&findings)
                .map_err(|e| Error::Refused(format!("cannot write JSON: {e}")))?;
            s.push('\n');
            s
        }
        "sarif" => sarif(&findings),
        _ => text(&findings),
    };
    super::write_stdout(out.as_bytes())?;
    if findings.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(format!("{} finding(s)", findings.len())))
    }
}

fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = write!(out, "{}", f.file);
        if let Some(l) = f.line {
            let _ = write!(out, ":{l}");
        }
        let _ = write!(out, ": {}", f.id);
        if !f.location.is_empty() {
            let _ = write!(out, " {}", f.location);
        }
        let _ = writeln!(out, ": {}", f.message);
    }
    out
}

/// A minimal SARIF 2.1.0 log: one run, one rule per finding id, one result per finding.
fn sarif(findings: &[Finding]) -> String {
    let rules: Vec<serde_json::Value> = [
        ("SB001", "reference or annotation the render engine refuses"),
        ("SB002", "literal values in a Secret"),
        ("SB003", "private key material in the repository"),
        ("SB004", "sops file with clear values or no MAC"),
        ("SB005", "kustomization tree the kustomize variant refuses"),
        ("SB006", "file that cannot be read or parsed"),
        ("SB007", "sops recipients differ from the .sops.yaml rule"),
        ("SB008", "sops generator file missing or not encrypted"),
        ("SB009", "reference that does not resolve (--resolve)"),
        ("SB010", ".sops.yaml creation rule that selects no file"),
        (
            "SB011",
            "hash of a secret's value in a manifest (a guessing oracle)",
        ),
    ]
    .iter()
    .map(|(id, d)| serde_json::json!({"id": id, "shortDescription": {"text": d}}))
    .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let mut region = serde_json::Map::new();
            if let Some(l) = f.line {
                region.insert("startLine".into(), l.into());
            }
            let mut loc = serde_json::json!({"artifactLocation": {"uri": f.file}});
            if !region.is_empty() {
                loc["region"] = serde_json::Value::Object(region);
            }
            let text = if f.location.is_empty() {
                f.message.clone()
            } else {
                format!("{}: {}", f.location, f.message)
            };
            serde_json::json!({
                "ruleId": f.id,
                "level": "error",
                "message": {"text": text},
                "locations": [{"physicalLocation": loc}],
            })
        })
        .collect();
    let log = serde_json::json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "sealbridge",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}
