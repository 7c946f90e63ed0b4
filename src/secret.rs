//! Types that hold secret values: zeroized on drop, redacted in `Debug` and `Display`.
//!
//! Nothing else in sealbridge formats a secret. The only way to the bytes is
//! [`Sensitive::expose`], used when a value is written into the output buffer.

use std::fmt;
use zeroize::Zeroizing;

/// Secret bytes (usually UTF-8 text). Zeroized on drop; `Debug`/`Display` print `[REDACTED]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sensitive(Zeroizing<Vec<u8>>);

impl Sensitive {
    /// Takes ownership of `bytes`; they are zeroized when the value is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Sensitive(Zeroizing::new(bytes))
    }

    /// Copies a string into a sensitive buffer.
    pub fn from_str_copy(s: &str) -> Self {
        Sensitive::new(s.as_bytes().to_vec())
    }

    /// The secret bytes. Call only to write them into an output buffer or a cipher.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as text, if it is UTF-8.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Sensitive {
    fn from(s: String) -> Self {
        Sensitive::new(s.into_bytes())
    }
}

impl From<Vec<u8>> for Sensitive {
    fn from(v: Vec<u8>) -> Self {
        Sensitive::new(v)
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive([REDACTED])")
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Sensitive::from_str_copy("hunter2");
        assert_eq!(format!("{s:?}"), "Sensitive([REDACTED])");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(s.expose(), b"hunter2");
    }
}
