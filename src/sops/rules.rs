//! Which leaves are encrypted (spec §5): at most one of six rules.

use regex::Regex;

/// The encryption rule of a file.
#[derive(Clone, Debug, Default)]
pub enum Rule {
    /// No rule at all (binary store): everything is encrypted.
    #[default]
    None,
    /// Leaves under a key ending with the suffix stay in clear.
    UnencryptedSuffix(String),
    /// Only leaves under a key ending with the suffix are encrypted.
    EncryptedSuffix(String),
    /// Leaves under a key matching the regex stay in clear.
    UnencryptedRegex(Regex),
    /// Only leaves under a key matching the regex are encrypted.
    EncryptedRegex(Regex),
    /// Leaves after a comment matching the regex stay in clear.
    UnencryptedCommentRegex(Regex),
    /// Only leaves after a comment matching the regex are encrypted.
    EncryptedCommentRegex(Regex),
}

/// The metadata field names of the rules, in write order.
pub const RULE_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

/// The error text for more than one rule (as sops words it).
pub const MORE_THAN_ONE: &str = "Cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file";

impl Rule {
    /// Builds a rule from a metadata field name and its value. Errors on a bad regex.
    pub fn from_field(field: &str, value: &str) -> Result<Rule, String> {
        let re =
            || Regex::new(value).map_err(|e| format!("invalid regular expression in {field}: {e}"));
        Ok(match field {
            "unencrypted_suffix" => Rule::UnencryptedSuffix(value.to_string()),
            "encrypted_suffix" => Rule::EncryptedSuffix(value.to_string()),
            "unencrypted_regex" => Rule::UnencryptedRegex(re()?),
            "encrypted_regex" => Rule::EncryptedRegex(re()?),
            "unencrypted_comment_regex" => Rule::UnencryptedCommentRegex(re()?),
            "encrypted_comment_regex" => Rule::EncryptedCommentRegex(re()?),
            _ => return Err(format!("unknown encryption rule {field}")),
        })
    }

    /// The metadata field and its text, `None` for [`Rule::None`].
    pub fn field(&self) -> Option<(&'static str, &str)> {
        Some(match self {
            Rule::None => return None,
            Rule::UnencryptedSuffix(s) => (RULE_FIELDS[0], s.as_str()),
            Rule::EncryptedSuffix(s) => (RULE_FIELDS[1], s.as_str()),
            Rule::UnencryptedRegex(r) => (RULE_FIELDS[2], r.as_str()),
            Rule::EncryptedRegex(r) => (RULE_FIELDS[3], r.as_str()),
            Rule::UnencryptedCommentRegex(r) => (RULE_FIELDS[4], r.as_str()),
            Rule::EncryptedCommentRegex(r) => (RULE_FIELDS[5], r.as_str()),
        })
    }

    /// The rule a reader assumes when the metadata names none.
    pub fn default_for_reading() -> Rule {
        Rule::UnencryptedSuffix("_unencrypted".to_string())
    }

    /// True for the two comment rules (they need the active-comment stack).
    pub fn is_comment_rule(&self) -> bool {
        matches!(
            self,
            Rule::UnencryptedCommentRegex(_) | Rule::EncryptedCommentRegex(_)
        )
    }

    /// Does key `k` count for a path rule?
    pub(crate) fn key_matches(&self, k: &str) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) | Rule::EncryptedSuffix(s) => k.ends_with(s.as_str()),
            Rule::UnencryptedRegex(r) | Rule::EncryptedRegex(r) => r.is_match(k),
            _ => false,
        }
    }

    /// Does a comment text match a comment rule?
    pub(crate) fn comment_matches(&self, c: &[u8]) -> bool {
        match self {
            Rule::UnencryptedCommentRegex(r) | Rule::EncryptedCommentRegex(r) => {
                r.is_match(&String::from_utf8_lossy(c))
            }
            _ => false,
        }
    }
}
