//! SB006: private key material in files. Line-based, over every text file of the walk (not only
//! manifests). The rules, chosen for few false positives:
//!
//! * an age identity: `AGE-SECRET-KEY-1` followed by at least 50 bech32 characters (a real one
//!   has 58; prose such as `AGE-SECRET-KEY-1...` does not match);
//! * a PEM private key: `-----BEGIN … PRIVATE KEY-----` at the start of a line (after
//!   indentation) or right after a quote, `:`/`=` or whitespace — inside YAML block scalars,
//!   JSON strings and `.pem` files, not in prose that quotes it in backticks;
//! * a Vault token as a whole value: the line is `TOKEN`, `- TOKEN`, `key: TOKEN` or
//!   `NAME=TOKEN` (optionally quoted, optionally followed by a `#` comment), where TOKEN is
//!   `hvs.` + 24 or more token characters, or a legacy `s.` + exactly 24 letters and digits.
//!
//! The finding names the line and the kind of material, never the text.

use std::sync::LazyLock;

use regex::Regex;

use super::{Finding, rule};

static AGE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{50,}").ok());
static PEM: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?:^|[\s"':=])(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)"#).ok());
static TOKEN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"^\s*(?:-\s+)?(?:[^\s:#][^:#]*:\s+|[A-Za-z_][A-Za-z0-9_]*=)?["']?(hvs\.[A-Za-z0-9_-]{24,}|s\.[A-Za-z0-9]{24})["']?\s*(?:#.*)?$"#,
    )
    .ok()
});

/// Scans one file's text.
pub(super) fn scan_text(file: &str, text: &str, findings: &mut Vec<Finding>) {
    for (i, line) in text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut hit = |col: usize, what: &str, fix: &str| {
            findings.push(Finding {
                rule: rule("SB006"),
                file: file.to_owned(),
                line: line_no,
                column: u32::try_from(line[..col].chars().count() + 1).unwrap_or(u32::MAX),
                document: None,
                field: String::new(),
                message: format!(
                    "{what} in a file under version control; remove it, {fix}, and purge it \
                     from the history (or allow a demo key with --allow-key-file)"
                ),
            });
        };
        if let Some(m) = AGE.as_ref().and_then(|r| r.find(line)) {
            hit(
                m.start(),
                "an age private key (AGE-SECRET-KEY-1…)",
                "rotate it (new key, `sealbridge updatekeys` on every file it opened)",
            );
        }
        if let Some(m) = PEM
            .as_ref()
            .and_then(|r| r.captures(line))
            .and_then(|c| c.get(1))
        {
            hit(
                m.start(),
                "a PEM private key (-----BEGIN … PRIVATE KEY-----)",
                "rotate the key pair",
            );
        }
        if let Some(m) = TOKEN
            .as_ref()
            .and_then(|r| r.captures(line))
            .and_then(|c| c.get(1))
        {
            hit(
                m.start(),
                "a Vault token",
                "revoke it (`vault token revoke`)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(u32, String)> {
        let mut f = Vec::new();
        scan_text("f", text, &mut f);
        f.into_iter().map(|f| (f.line, f.message)).collect()
    }

    #[test]
    fn key_material_rules_match_real_shapes_only() {
        let age = format!("AGE-SECRET-KEY-1{}", "Q".repeat(58));
        assert_eq!(kinds(&format!("# comment\n{age}\n")).len(), 1);
        assert!(kinds("use AGE-SECRET-KEY-1... from the file").is_empty());
        assert_eq!(
            kinds("key: |\n  -----BEGIN OPENSSH PRIVATE KEY-----\n").len(),
            1
        );
        assert_eq!(
            kinds("{\"k\": \"-----BEGIN PRIVATE KEY-----\\nMII\"}").len(),
            1
        );
        assert!(kinds("a `-----BEGIN PRIVATE KEY-----` block").is_empty());
        assert!(kinds("-----BEGIN PUBLIC KEY-----").is_empty());
        let hvs = format!("hvs.{}", "aB3".repeat(9));
        assert_eq!(kinds(&format!("token: {hvs}")).len(), 1);
        assert_eq!(kinds(&format!("VAULT_TOKEN=\"{hvs}\"")).len(), 1);
        assert_eq!(kinds(&format!("- {hvs} # ci")).len(), 1);
        assert!(kinds(&format!("see {hvs} in the log")).is_empty());
        assert!(kinds("token: hvs.short").is_empty());
        let legacy = format!("s.{}", "Ab1".repeat(8));
        assert_eq!(kinds(&format!("token: {legacy}")).len(), 1);
        assert!(kinds(&format!("token: {legacy}x")).is_empty());
        assert!(kinds("image: registry.example.com/s.abcdefghijklmnopqrstuvwx").is_empty());
    }

    #[test]
    fn findings_never_hold_the_material() {
        let hvs = format!("hvs.{}", "Zq9".repeat(10));
        let mut f = Vec::new();
        scan_text("f", &format!("token: {hvs}"), &mut f);
        assert!(!format!("{f:?}").contains(&hvs));
    }
}
