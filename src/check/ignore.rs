//! `.sealbridge-check-ignore`: what `sealbridge check` skips, kept in the repository.
//!
//! One rule per line, `#` starts a comment:
//!
//! ```text
//! target/**                               # never read (build output)
//! tests/fixtures/** SB002,SB003           # these findings are expected there
//! examples/*/demo-age-key.txt SB003       # throwaway demo keys
//! ```
//!
//! A glob (the tenancy policy's: `*` within a segment, `**` as a whole segment, `?`) is matched
//! against the path relative to the current directory (`./` removed). Without finding ids the
//! files are not read at all (a `DIR/**` rule prunes the walk); with ids only those findings
//! are dropped. A malformed line is an error naming it.

use std::path::Path;

use super::Finding;
use crate::policy::glob::Glob;

/// The default file name, read from the current directory when present.
pub const DEFAULT_FILE: &str = ".sealbridge-check-ignore";

struct Rule {
    glob: Glob,
    /// For `DIR/**` without ids: `DIR`, so the walk does not enter it.
    prune: Option<Glob>,
    ids: Vec<String>,
}

/// The rules of one ignore file (none: nothing ignored).
#[derive(Default)]
pub struct Ignore {
    rules: Vec<Rule>,
    /// The current directory, read once: absolute paths below it are matched relative to it.
    cwd: Option<std::path::PathBuf>,
}

impl Ignore {
    /// Parses `text` (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Ignore, String> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = |why: String| format!("{origin}:{}: {why}", n + 1);
            let mut parts = line.split_whitespace();
            let glob_text = parts.next().unwrap_or("").trim_start_matches("./");
            let ids: Vec<String> = parts
                .flat_map(|p| p.split(','))
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = ids.iter().find(|id| !is_finding_id(id)) {
                return Err(at(format!(
                    "{bad:?} is not a finding id (SB001 … SB011, comma-separated)"
                )));
            }
            let glob = Glob::new(glob_text).map_err(&at)?;
            let prune = match glob_text.strip_suffix("/**") {
                Some(dir) if ids.is_empty() && !dir.is_empty() => {
                    Some(Glob::new(dir).map_err(&at)?)
                }
                _ => None,
            };
            rules.push(Rule { glob, prune, ids });
        }
        Ok(Ignore {
            rules,
            cwd: std::env::current_dir().ok(),
        })
    }

    /// Reads `path`; `None` when `required` is false and there is no such file.
    pub fn load(path: &Path, required: bool) -> Result<Ignore, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ignore::parse(&text, &path.display().to_string()),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Ignore::default())
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Whether the file at `path` is never read.
    pub fn skips_file(&self, path: &Path) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let rel = self.relative(path);
        self.rules
            .iter()
            .any(|r| r.ids.is_empty() && r.glob.matches(&rel))
    }

    /// Whether the walk does not enter the directory `path`.
    pub fn skips_dir(&self, path: &Path) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let rel = self.relative(path);
        self.rules
            .iter()
            .any(|r| r.prune.as_ref().is_some_and(|g| g.matches(&rel)))
    }

    /// Whether `f` is dropped.
    pub fn drops(&self, f: &Finding) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let rel = self.relative(Path::new(&f.file));
        self.rules.iter().any(|r| {
            r.glob.matches(&rel) && (r.ids.is_empty() || r.ids.iter().any(|id| id == f.id))
        })
    }
}

fn is_finding_id(id: &str) -> bool {
    id.len() == 5 && id.starts_with("SB") && id[2..].bytes().all(|b| b.is_ascii_digit())
}

impl Ignore {
    /// `path` as the globs see it: relative to the current directory when it is below it,
    /// `./` removed, `/`-separated.
    fn relative(&self, path: &Path) -> String {
        let shown = match &self.cwd {
            Some(cwd) if path.is_absolute() => path.strip_prefix(cwd).unwrap_or(path),
            _ => path,
        };
        let text = shown.to_string_lossy().replace('\\', "/");
        let mut t = text.as_str();
        while let Some(rest) = t.strip_prefix("./") {
            t = rest;
        }
        t.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &'static str, file: &str) -> Finding {
        Finding {
            id,
            file: file.to_owned(),
            line: None,
            location: String::new(),
            message: String::new(),
        }
    }

    #[test]
    fn rules_skip_files_prune_dirs_and_drop_findings_by_id() {
        let i = Ignore::parse(
            "# comment\ntarget/**\n./tests/fixtures/** SB002,SB003  # expected\n\
             examples/*/demo-age-key.txt SB003\n",
            "x",
        )
        .unwrap();
        assert!(i.skips_dir(Path::new("./target")));
        assert!(i.skips_file(Path::new("target/debug/a.yaml")));
        assert!(!i.skips_dir(Path::new("tests/fixtures")));
        assert!(i.drops(&finding("SB003", "./tests/fixtures/sops/keys/age1.txt")));
        assert!(!i.drops(&finding("SB004", "./tests/fixtures/sops/a.yaml")));
        assert!(i.drops(&finding("SB003", "examples/kpt/demo-age-key.txt")));
        assert!(!i.drops(&finding("SB003", "examples/kpt/other.txt")));
        assert!(!i.drops(&finding("SB003", "src/main.rs")));
        for (bad, why) in [
            ("a/** SB3", "not a finding id"),
            ("a/[x] SB003", "not supported"),
            ("a/../b", "`..`"),
        ] {
            let e = Ignore::parse(bad, "f").err().unwrap();
            assert!(e.starts_with("f:1: ") && e.contains(why), "{e}");
        }
    }
}
