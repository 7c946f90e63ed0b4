//! JSON store (spec §9.3): ordered objects (duplicates kept), every number an f64, and Go's
//! `json.Indent` layout with HTML-safe escaping on output.

use zeroize::Zeroizing;

use crate::secret::Sensitive;
use crate::sops::tree::{Entry, Map, Value};
use crate::yaml::gofmt;
use crate::yaml::gofmt::parse_go_float;

/// Parses a JSON document whose top level must be an object.
pub fn parse(input: &[u8]) -> Result<Map, String> {
    let mut p = Parser { b: input, i: 0 };
    p.ws();
    if p.peek() != Some(b'{') {
        return Err(match p.peek() {
            None => "Expected JSON object start, got end of input".into(),
            // Never quote the input: it may be plaintext (a binary file given to `decrypt`).
            Some(_) => p.err("expected a JSON object start ('{')"),
        });
    }
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("invalid character after top-level value"));
    }
    match v {
        Value::Map(m) => Ok(m),
        _ => Err("Expected JSON object start".into()),
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn err(&self, what: &str) -> String {
        let line = 1 + self.b[..self.i.min(self.b.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count();
        format!("invalid JSON at line {line} (byte {}): {what}", self.i)
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > 512 {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut m: Map = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Value::Map(m));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected an object key"));
                    }
                    let k = self.string()?;
                    let k =
                        String::from_utf8(k.to_vec()).map_err(|_| self.err("key is not UTF-8"))?;
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    m.push(Entry::Pair(k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Map(m));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut l = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Value::List(l));
                }
                loop {
                    l.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::List(l));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => Ok(Value::Str(Sensitive::new(std::mem::take(
                &mut *self.string()?,
            )))),
            Some(b't') => self.lit(b"true", Value::Bool(true)),
            Some(b'f') => self.lit(b"false", Value::Bool(false)),
            Some(b'n') => self.lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("unexpected character")),
        }
    }

    fn lit(&mut self, word: &[u8], v: Value) -> Result<Value, String> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i - s
        };
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return Err(self.err("invalid number"));
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        let text =
            std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.err("invalid number"))?;
        match parse_go_float(text) {
            Some(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(format!(
                "json: cannot unmarshal number {text} into Go value of type float64"
            )),
        }
    }

    /// Reads a string token (at `"`), returning its decoded bytes (invalid UTF-8 → U+FFFD).
    fn string(&mut self) -> Result<Zeroizing<Vec<u8>>, String> {
        self.i += 1;
        let mut out = Zeroizing::new(Vec::new());
        loop {
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            push_utf8_lossy(&mut out, &self.b[start..self.i]);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                // A surrogate pair, if a low surrogate follows.
                                if self.b[self.i..].starts_with(b"\\u") {
                                    let save = self.i;
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                    } else {
                                        self.i = save;
                                        cp = 0xFFFD;
                                    }
                                } else {
                                    cp = 0xFFFD;
                                }
                            } else if (0xDC00..0xE000).contains(&cp) {
                                cp = 0xFFFD;
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                _ => return Err(self.err("unterminated string or control character in string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        let s = std::str::from_utf8(h).map_err(|_| self.err("invalid \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.i += 4;
        Ok(v)
    }
}

fn push_utf8_lossy(out: &mut Vec<u8>, mut b: &[u8]) {
    loop {
        match std::str::from_utf8(b) {
            Ok(s) => {
                out.extend_from_slice(s.as_bytes());
                return;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.extend_from_slice(&b[..good]);
                out.extend_from_slice("\u{FFFD}".as_bytes());
                let skip = e.error_len().unwrap_or(b.len() - good);
                b = &b[good + skip..];
            }
        }
    }
}

/// Writes `s` as a JSON string the way Go's `json.Marshal` does (HTML-safe).
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(v) => (v, 0),
            Err(e) => {
                let g = e.valid_up_to();
                // from_utf8 succeeded on the prefix by construction.
                (
                    std::str::from_utf8(&rest[..g]).unwrap_or(""),
                    e.error_len().unwrap_or(rest.len() - g),
                )
            }
        };
        let mut start = 0;
        for (i, ch) in valid.char_indices() {
            let esc: Option<&[u8]> = match ch {
                '"' => Some(b"\\\""),
                '\\' => Some(b"\\\\"),
                '\n' => Some(b"\\n"),
                '\r' => Some(b"\\r"),
                '\t' => Some(b"\\t"),
                '\u{8}' => Some(b"\\b"),
                '\u{c}' => Some(b"\\f"),
                '<' => Some(b"\\u003c"),
                '>' => Some(b"\\u003e"),
                '&' => Some(b"\\u0026"),
                '\u{2028}' => Some(b"\\u2028"),
                '\u{2029}' => Some(b"\\u2029"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(&valid.as_bytes()[start..i]);
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(c as usize) >> 4]);
                    out.push(HEX[(c as usize) & 15]);
                    start = i + 1;
                    continue;
                }
                _ => None,
            };
            if let Some(e) = esc {
                out.extend_from_slice(&valid.as_bytes()[start..i]);
                out.extend_from_slice(e);
                start = i + ch.len_utf8();
            }
        }
        out.extend_from_slice(&valid.as_bytes()[start..]);
        if bad > 0 {
            out.extend_from_slice(b"\\ufffd");
        }
        rest = &rest[valid.len() + bad..];
    }
    out.push(b'"');
}

/// Output layout: `None` = one TAB per level (sops' default), `Some(n)` = n spaces.
#[derive(Clone, Copy, Debug, Default)]
pub struct Indent(pub Option<usize>);

impl Indent {
    fn newline(self, out: &mut Vec<u8>, depth: usize) {
        out.push(b'\n');
        match self.0 {
            None => out.extend(std::iter::repeat_n(b'\t', depth)),
            Some(n) => out.extend(std::iter::repeat_n(b' ', depth * n)),
        }
    }
}

/// Writes a value as indented JSON (no trailing newline). Comments are skipped.
pub fn write_value(
    out: &mut Vec<u8>,
    v: &Value,
    indent: Indent,
    depth: usize,
) -> Result<(), String> {
    match v {
        Value::Map(m) => {
            let mut first = true;
            for e in m {
                if let Entry::Pair(k, val) = e {
                    out.push(if first { b'{' } else { b',' });
                    first = false;
                    indent.newline(out, depth + 1);
                    write_string(out, k.as_bytes());
                    out.extend_from_slice(b": ");
                    write_value(out, val, indent, depth + 1)
                        .map_err(|e| format!("Error encoding value : {e}"))?;
                }
            }
            if first {
                out.extend_from_slice(b"{}");
            } else {
                indent.newline(out, depth);
                out.push(b'}');
            }
        }
        Value::List(l) => {
            let mut first = true;
            for item in l {
                if matches!(item, Value::Comment(_)) {
                    continue;
                }
                out.push(if first { b'[' } else { b',' });
                first = false;
                indent.newline(out, depth + 1);
                write_value(out, item, indent, depth + 1)?;
            }
            if first {
                out.extend_from_slice(b"[]");
            } else {
                indent.newline(out, depth);
                out.push(b']');
            }
        }
        Value::Str(s) => write_string(out, s.expose()),
        Value::Bytes(b) => {
            use base64::Engine as _;
            let enc = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(b.expose()));
            write_string(out, enc.as_bytes());
        }
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => {
            let mut s = String::new();
            gofmt::float_json(*f, &mut s)?;
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null | Value::Comment(_) => out.extend_from_slice(b"null"),
        Value::Time(t) => write_string(out, t.rfc3339_nano().as_bytes()),
    }
    Ok(())
}

/// Emits a whole document (with a trailing newline), optionally with the `sops` metadata last.
pub fn emit_document(
    doc: &Map,
    metadata: Option<&Value>,
    indent: Indent,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut out = Zeroizing::new(Vec::with_capacity(4096));
    let mut first = true;
    let extra = metadata.map(|m| ("sops", m));
    let pairs = doc
        .iter()
        .filter_map(|e| match e {
            Entry::Pair(k, v) => Some((k.as_str(), v)),
            Entry::Comment(_) => None,
        })
        .chain(extra);
    for (k, val) in pairs {
        out.push(if first { b'{' } else { b',' });
        first = false;
        indent.newline(&mut out, 1);
        write_string(&mut out, k.as_bytes());
        out.extend_from_slice(b": ");
        write_value(&mut out, val, indent, 1)
            .map_err(|e| format!("Error marshaling to json: Error encoding value : {e}"))?;
    }
    if first {
        out.extend_from_slice(b"{}");
    } else {
        indent.newline(&mut out, 0);
        out.push(b'}');
    }
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_non_object_start_is_reported_without_quoting_the_input() {
        let e = super::parse(b"hunter2").unwrap_err();
        assert!(!e.contains("'h'"), "{e}");
        assert!(!e.contains("hunter"), "{e}");
        assert!(e.contains("byte 0"), "{e}");
    }

    use super::*;

    #[test]
    fn go_escaping() {
        let mut out = Vec::new();
        write_string(
            &mut out,
            "<a href=\"x\">&</a>\u{2028}\u{1}\u{7f}é".as_bytes(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u003c/a\\u003e\\u2028\\u0001\u{7f}é\""
        );
        let mut out = Vec::new();
        write_string(&mut out, b"a\xffb");
        assert_eq!(out, b"\"a\\ufffdb\"");
    }

    #[test]
    fn keeps_order_and_duplicates() {
        let m = parse(br#"{"b": 1, "a": [1, {"x": null}], "b": "\ud83d\ude00"}"#).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].key(), Some("b"));
        assert_eq!(m[2], Entry::Pair("b".into(), Value::str("😀")));
        assert!(parse(b"[1]").is_err());
        assert!(parse(b"{\"a\": 1e400}").is_err());
        assert!(parse(b"{\"a\": 01}").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = parse(s.as_bytes());
        }
    }
}
