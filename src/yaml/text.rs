//! [`Text`]: the zeroizing, redacted string every scalar and comment of a [`super::Node`] lives in.

use std::fmt;
use zeroize::Zeroizing;

/// Text that may be secret (a decrypted sops value, a resolved placeholder): zeroized on drop,
/// `Debug` prints `[REDACTED]`, no `Display`. Read it with [`Text::as_str`] (or deref).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Text(Zeroizing<String>);

impl Text {
    /// Takes ownership of `s` (zeroized when dropped).
    pub fn new(s: String) -> Self {
        Text(Zeroizing::new(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Mutable access (stays zeroizing: the buffer is wiped on drop).
    pub fn as_mut_string(&mut self) -> &mut String {
        &mut self.0
    }

    /// Copies the text into a [`crate::secret::Sensitive`].
    pub fn to_sensitive(&self) -> crate::secret::Sensitive {
        crate::secret::Sensitive::from_str_copy(self.as_str())
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::new(s)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::new(s.to_owned())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let t = Text::from("hunter2");
        assert_eq!(format!("{t:?}"), "[REDACTED]");
        assert_eq!(t.as_str(), "hunter2");
    }
}
