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

const HMAC_BLOCK: usize = 64;

/// HMAC-SHA256 (RFC 2104): SigV4 signing and the keyed fingerprints (`render --redact`,
/// the `version` of KV v1 secrets).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut k = zeroize::Zeroizing::new([0u8; HMAC_BLOCK]);
    if key.len() > HMAC_BLOCK {
        k[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut ipad = zeroize::Zeroizing::new([0x36u8; HMAC_BLOCK]);
    let mut opad = zeroize::Zeroizing::new([0x5cu8; HMAC_BLOCK]);
    for i in 0..HMAC_BLOCK {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = sha2::Sha256::new()
        .chain_update(ipad.as_slice())
        .chain_update(data)
        .finalize();
    sha2::Sha256::new()
        .chain_update(opad.as_slice())
        .chain_update(inner)
        .finalize()
        .into()
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

    #[test]
    fn wiping_growth_keeps_the_bytes_and_doubles() {
        let mut b = Zeroizing::new(Vec::with_capacity(2));
        for chunk in [&b"ab"[..], b"cdef", b"g"] {
            extend_wiping(&mut b, chunk);
        }
        assert_eq!(b.as_slice(), b"abcdefg");
        assert!(b.capacity() >= 8, "{}", b.capacity());
    }
}

/// A typed secret value as a backend returns it: the leaves of a Vault secret or of a decrypted
/// sops file. Map keys are not secret (they appear in error messages); every string is
/// [`Sensitive`].
#[derive(Clone, Debug, PartialEq)]
pub enum SecretValue {
    /// JSON `null` / YAML `~`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text (or bytes, for binary sops files).
    String(Sensitive),
    /// A list.
    List(Vec<SecretValue>),
    /// A map, in the backend's key order.
    Map(indexmap::IndexMap<String, SecretValue>),
}

impl SecretValue {
    /// The key names of a map (for "no such key; available keys: …" messages), else empty.
    pub fn key_names(&self) -> Vec<&str> {
        match self {
            SecretValue::Map(m) => m.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// A short, value-free name of the type (for error messages).
    pub fn type_name(&self) -> &'static str {
        match self {
            SecretValue::Null => "null",
            SecretValue::Bool(_) => "bool",
            SecretValue::Int(_) => "integer",
            SecretValue::Float(_) => "float",
            SecretValue::String(_) => "string",
            SecretValue::List(_) => "list",
            SecretValue::Map(_) => "map",
        }
    }
}

/// Makes room for `additional` more bytes in a buffer of secret material. Growing copies into a
/// new allocation and wipes the old one (a plain `Vec` reallocation would leave the bytes
/// behind in freed memory); capacity at least doubles, so appends stay amortised O(1).
pub fn reserve_wiping(buf: &mut Zeroizing<Vec<u8>>, additional: usize) {
    use zeroize::Zeroize as _;
    let need = buf.len().saturating_add(additional);
    if need > buf.capacity() {
        let mut bigger = Vec::with_capacity(need.max(buf.capacity().saturating_mul(2)));
        bigger.extend_from_slice(buf);
        let mut old = std::mem::replace(&mut **buf, bigger);
        old.zeroize();
    }
}

/// Appends `bytes` to a buffer of secret material, growing it with [`reserve_wiping`].
pub fn extend_wiping(buf: &mut Zeroizing<Vec<u8>>, bytes: &[u8]) {
    reserve_wiping(buf, bytes.len());
    buf.extend_from_slice(bytes);
}

/// A growable buffer for secret bytes (JSON or YAML being written): every growth copies into
/// a new allocation and wipes the old one ([`reserve_wiping`]), the bytes are wiped on drop,
/// and `Debug` redacts. Implements [`std::io::Write`] (serde_json writes into it) and
/// [`std::fmt::Write`].
#[derive(Default)]
pub struct SecretBuf(Zeroizing<Vec<u8>>);

impl SecretBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        SecretBuf::default()
    }

    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        SecretBuf(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes as a [`Sensitive`] (moved, not copied).
    pub fn into_sensitive(mut self) -> Sensitive {
        Sensitive::new(std::mem::take(&mut *self.0))
    }
}

impl std::io::Write for SecretBuf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        extend_wiping(&mut self.0, bytes);
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        extend_wiping(&mut self.0, bytes);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Write for SecretBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        extend_wiping(&mut self.0, s.as_bytes());
        Ok(())
    }
}

impl fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBuf([REDACTED])")
    }
}

#[cfg(test)]
mod secret_buf_tests {
    use super::*;

    #[test]
    fn secret_buf_writes_grow_and_redact() {
        use std::io::Write as _;
        let mut b = SecretBuf::with_capacity(1);
        b.write_all(b"hun").unwrap();
        std::fmt::Write::write_str(&mut b, "ter2").unwrap();
        serde_json::to_writer(&mut b, &["x"]).unwrap();
        assert_eq!(b.as_bytes(), b"hunter2[\"x\"]");
        assert_eq!(format!("{b:?}"), "SecretBuf([REDACTED])");
        assert_eq!(b.into_sensitive().expose(), b"hunter2[\"x\"]");
    }
}
