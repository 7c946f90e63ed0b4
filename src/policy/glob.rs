//! The policy file's globs: `*` matches within one `/`-separated segment, `**` (a whole
//! segment) matches any number of segments, `?` one character other than `/`. Nothing else is
//! special; `[`, `]`, `{`, `}` and `\` are refused (a glob that means something else in another
//! tool is an error, not a silent literal). Matching is exact and case-sensitive.

/// A compiled glob.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    re: regex::Regex,
}

impl Glob {
    /// Compiles `text`; the error says what is wrong (without the file location: the caller
    /// adds it).
    pub fn new(text: &str) -> Result<Glob, String> {
        if text.is_empty() {
            return Err("an empty glob matches nothing; remove it".to_owned());
        }
        if let Some(c) = text
            .chars()
            .find(|c| matches!(c, '[' | ']' | '{' | '}' | '\\') || c.is_control())
        {
            return Err(format!(
                "{c:?} is not supported in globs (only `*`, `**` and `?` are special)"
            ));
        }
        let mut re = String::from("^");
        let segs: Vec<&str> = text.split('/').collect();
        let mut after_any = false;
        for (i, seg) in segs.iter().enumerate() {
            if i > 0 && !after_any {
                re.push('/');
            }
            after_any = false;
            if *seg == "**" {
                if i + 1 == segs.len() {
                    // Trailing: everything below (at least one segment).
                    re.push_str("[^/]+(?:/[^/]+)*");
                } else {
                    // Any number of whole segments, including none: `a/**/b` matches `a/b`.
                    re.push_str("(?:[^/]+/)*");
                    after_any = true;
                }
                continue;
            }
            if seg.contains("**") {
                return Err(format!(
                    "`**` must be a whole segment (`a/**/b`), not part of {seg:?}"
                ));
            }
            if *seg == "." || *seg == ".." {
                return Err("`.` and `..` segments are not allowed".to_owned());
            }
            for c in seg.chars() {
                match c {
                    '*' => re.push_str("[^/]*"),
                    '?' => re.push_str("[^/]"),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
        }
        re.push('$');
        let re = regex::Regex::new(&re).map_err(|e| format!("cannot compile: {e}"))?;
        Ok(Glob {
            text: text.to_owned(),
            re,
        })
    }

    /// Whether `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(t: &str) -> Glob {
        Glob::new(t).unwrap()
    }

    #[test]
    fn segments_and_double_star() {
        assert!(g("kv/data/team-a/*").matches("kv/data/team-a/db"));
        assert!(!g("kv/data/team-a/*").matches("kv/data/team-a/x/db"));
        assert!(!g("kv/data/team-a/*").matches("kv/data/team-a"));
        assert!(g("kv/data/team-a/**").matches("kv/data/team-a/x/db"));
        assert!(!g("kv/data/team-a/**").matches("kv/data/team-ab/db"));
        assert!(g("kv/**/db").matches("kv/db"));
        assert!(g("kv/**/db").matches("kv/a/b/db"));
        assert!(g("team-?").matches("team-a"));
        assert!(!g("team-?").matches("team-/"));
        assert!(!g("kv/data/team-a/*").matches("KV/data/team-a/db"));
        assert!(g("a.b+c").matches("a.b+c"));
        assert!(!g("a.b+c").matches("aXb+c"));
    }

    #[test]
    fn bad_globs_are_errors() {
        for bad in ["", "kv/[ab]", "kv/{a,b}", "kv/a**", "kv/../x", "a\\b"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }
}
