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

    fn json(text: &str) -> SecretValue {
        serde_json::from_str(text).unwrap()
    }

    fn text(s: &str) -> SecretValue {
        SecretValue::String(Sensitive::from_str_copy(s))
    }

    #[test]
    fn deserialize_numbers_at_the_edges() {
        assert_eq!(json("9223372036854775807"), SecretValue::Int(i64::MAX));
        assert_eq!(json("-9223372036854775808"), SecretValue::Int(i64::MIN));
        assert_eq!(json("-42"), SecretValue::Int(-42));
        assert_eq!(json("0"), SecretValue::Int(0));
        // Above i64 but within u64: the exact digits, never a rounded float.
        assert_eq!(json("9223372036854775808"), text("9223372036854775808"));
        assert_eq!(json("18446744073709551615"), text("18446744073709551615"));
        // Beyond u64 / below i64: only a float can hold them (Go's float64 too).
        assert_eq!(
            json("18446744073709551616"),
            SecretValue::Float(1.8446744073709552e19)
        );
        assert_eq!(
            json("-9223372036854775809"),
            SecretValue::Float(-9.223372036854776e18)
        );
        assert_eq!(json("1.5"), SecretValue::Float(1.5));
        assert_eq!(json("1.0"), SecretValue::Float(1.0));
        assert_eq!(json("1e3"), SecretValue::Float(1000.0));
        assert_eq!(json("-2.5e-7"), SecretValue::Float(-2.5e-7));
    }

    #[test]
    fn deserialize_nested_values_keep_order_and_types() {
        let v = json(
            r#"{"z":"s\u00e9cret","a":[1,{"big":18446744073709551615,"f":0.5}],"n":null,"b":false}"#,
        );
        let mut inner = indexmap::IndexMap::new();
        inner.insert("big".to_owned(), text("18446744073709551615"));
        inner.insert("f".to_owned(), SecretValue::Float(0.5));
        let mut want = indexmap::IndexMap::new();
        want.insert("z".to_owned(), text("s\u{e9}cret"));
        want.insert(
            "a".to_owned(),
            SecretValue::List(vec![SecretValue::Int(1), SecretValue::Map(inner)]),
        );
        want.insert("n".to_owned(), SecretValue::Null);
        want.insert("b".to_owned(), SecretValue::Bool(false));
        assert_eq!(v, SecretValue::Map(want));
        assert_eq!(v.key_names(), ["z", "a", "n", "b"]);
    }

    #[test]
    fn deserialize_yaml_scalar_keys_become_text() {
        let v: SecretValue =
            serde_saphyr::from_str("1: a\ntrue: b\n1.5: c\n1e30: d\n~: e\n").unwrap();
        assert_eq!(v.key_names(), ["1", "true", "1.5", "1e+30", "null"]);
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
    /// An unsigned integer: [`SecretValue::Int`] when it fits `i64`, else its exact digits as
    /// text (a float would silently change the value). The rule of `Deserialize for
    /// SecretValue` below, shared with the YAML layer.
    pub fn from_u64(v: u64) -> SecretValue {
        match i64::try_from(v) {
            Ok(i) => SecretValue::Int(i),
            Err(_) => SecretValue::String(Sensitive::from(v.to_string())),
        }
    }

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

/// The one way a [`SecretValue`] is read from a serde format: Vault's JSON responses, the
/// `jsonParse`/`yamlParse`/`jsonPath` modifiers. Every string goes straight into a
/// [`Sensitive`]. Numbers:
///
/// * an integer that fits `i64` is [`SecretValue::Int`];
/// * an integer above `i64::MAX` that fits `u64` (a JSON number such as
///   `18446744073709551615`) keeps its exact digits as a [`SecretValue::String`]: converting it
///   to a float would silently change the value (argocd-vault-plugin, through Vault's Go client,
///   also writes the exact digits);
/// * every other number (fractions, exponents, integers below `i64::MIN` or above `u64::MAX`,
///   which serde_json can only hand over as `f64`) is a [`SecretValue::Float`], as Go's
///   `float64`.
///
/// Map keys are text; a YAML key that is a number, boolean or null becomes its text
/// (`1: x` → `"1"`).
impl<'de> serde::Deserialize<'de> for SecretValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(de::ValueVisitor)
    }
}

mod de {
    use std::fmt;

    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

    use super::{SecretValue, Sensitive};

    /// Upper bound for capacity hints (a hint is not a promise).
    const MAX_HINT: usize = 4096;

    pub(super) struct ValueVisitor;

    impl<'de> Visitor<'de> for ValueVisitor {
        type Value = SecretValue;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<SecretValue, E> {
            Ok(SecretValue::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<SecretValue, E> {
            Ok(SecretValue::Int(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<SecretValue, E> {
            Ok(SecretValue::from_u64(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<SecretValue, E> {
            Ok(SecretValue::Float(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<SecretValue, E> {
            Ok(SecretValue::String(Sensitive::from_str_copy(v)))
        }
        fn visit_string<E>(self, v: String) -> Result<SecretValue, E> {
            Ok(SecretValue::String(Sensitive::from(v)))
        }
        fn visit_bytes<E>(self, v: &[u8]) -> Result<SecretValue, E> {
            Ok(SecretValue::String(Sensitive::new(v.to_vec())))
        }
        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<SecretValue, E> {
            Ok(SecretValue::String(Sensitive::new(v)))
        }
        fn visit_unit<E>(self) -> Result<SecretValue, E> {
            Ok(SecretValue::Null)
        }
        fn visit_none<E>(self) -> Result<SecretValue, E> {
            Ok(SecretValue::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<SecretValue, D::Error> {
            d.deserialize_any(ValueVisitor)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SecretValue, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_HINT));
            while let Some(v) = seq.next_element::<SecretValue>()? {
                out.push(v);
            }
            Ok(SecretValue::List(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretValue, A::Error> {
            let mut out =
                indexmap::IndexMap::with_capacity(map.size_hint().unwrap_or(0).min(MAX_HINT));
            // Keys are not secret (they appear in "available keys" messages).
            while let Some(KeyText(k)) = map.next_key()? {
                let v: SecretValue = map.next_value()?;
                out.insert(k, v);
            }
            Ok(SecretValue::Map(out))
        }
    }

    /// A map key: any scalar, as text (YAML allows `1: x` and `true: y`).
    struct KeyText(String);

    impl<'de> de::Deserialize<'de> for KeyText {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(KeyVisitor)
        }
    }

    struct KeyVisitor;

    impl Visitor<'_> for KeyVisitor {
        type Value = KeyText;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a scalar map key")
        }
        fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
            Ok(KeyText(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<KeyText, E> {
            Ok(KeyText(v))
        }
        fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
            Ok(KeyText(v.to_string()))
        }
        fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
            Ok(KeyText(v.to_string()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
            Ok(KeyText(v.to_string()))
        }
        fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
            let mut s = String::new();
            crate::yaml::gofmt::float_v(v, &mut s);
            Ok(KeyText(s))
        }
        fn visit_unit<E>(self) -> Result<KeyText, E> {
            Ok(KeyText("null".to_owned()))
        }
        fn visit_none<E>(self) -> Result<KeyText, E> {
            Ok(KeyText("null".to_owned()))
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

    /// The bytes (moved, not copied).
    pub fn into_zeroizing(mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(std::mem::take(&mut *self.0))
    }

    /// The text written (moved, not copied); `None` if it is not UTF-8 (the bytes are wiped).
    pub fn into_text(self) -> Option<Zeroizing<String>> {
        let mut bytes = self.into_zeroizing();
        match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(s) => Some(Zeroizing::new(s)),
            Err(e) => {
                let _ = Zeroizing::new(e.into_bytes());
                None
            }
        }
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

/// Writes a float's text (an error for what the format cannot hold).
pub type FloatText = fn(f64, &mut String) -> Result<(), String>;

/// serde_json's compact output with sealbridge's escapes, for JSON written into a
/// [`SecretBuf`]: `\"`, `\\`, `\n`, `\t`, `\r`, other C0 controls as lower-case `\u00xx`,
/// `/` as is, and each character `extra` names as lower-case `\uXXXX`; floats by `float`.
pub struct JsonEscapes {
    /// Characters written as `\uXXXX` besides the C0 controls.
    pub extra: fn(char) -> bool,
    /// A float's text (`None`: as Rust prints it).
    pub float: Option<FloatText>,
}

impl serde_json::ser::Formatter for JsonEscapes {
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        match self.float {
            None => write!(w, "{v}"),
            Some(f) => {
                let mut text = Zeroizing::new(String::new());
                f(v, &mut text).map_err(std::io::Error::other)?;
                w.write_all(text.as_bytes())
            }
        }
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some((i, c)) = rest.char_indices().find(|(_, c)| (self.extra)(*c)) {
            w.write_all(&rest.as_bytes()[..i])?;
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        use serde_json::ser::CharEscape;
        match escape {
            CharEscape::Quote => w.write_all(b"\\\""),
            CharEscape::ReverseSolidus => w.write_all(b"\\\\"),
            CharEscape::Solidus => w.write_all(b"/"),
            CharEscape::LineFeed => w.write_all(b"\\n"),
            CharEscape::Tab => w.write_all(b"\\t"),
            CharEscape::CarriageReturn => w.write_all(b"\\r"),
            CharEscape::Backspace => w.write_all(b"\\u0008"),
            CharEscape::FormFeed => w.write_all(b"\\u000c"),
            CharEscape::AsciiControl(b) => write!(w, "\\u{b:04x}"),
        }
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
