//! Scalar typing exactly as go-yaml v3 (go.yaml.in/yaml/v3 v3.0.4, what sops 3.11 uses), the
//! YAML 1.1 "is this plain text a non-string for Kubernetes?" check (numbers and times are
//! formatted by [`gofmt`]).

use super::gofmt::{self, Timestamp};
use super::node::{Origin, Scalar, ScalarStyle};
use crate::secret::Sensitive;

/// The go-yaml v3 type (and value) of a scalar, as sops sees it after `node.Decode(&interface{})`.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// `~`, `null`, empty plain, `!!null`.
    Null,
    /// `true`/`false` (only these spellings and their Title/UPPER case).
    Bool(bool),
    /// An integer that fits `i64` (`0x1F`, `0755`, `0o17`, `1_000`, `+5`, `0b101`).
    Int(i64),
    /// An integer that fits only `u64` (sops refuses to encrypt it).
    Uint(u64),
    /// A float (`1.5`, `1e3`, `.inf`, `.nan`, integers too big for 64 bits).
    Float(f64),
    /// A timestamp (unquoted or `!!timestamp`).
    Timestamp(Timestamp),
    /// A string: the scalar's value is the string (including `<<`, the merge key).
    Str,
    /// `!!binary`: the base64-decoded bytes (used as a string by sops).
    Binary(Sensitive),
    /// A tag that contradicts the text (`!!int abc`), or `!!binary` with invalid base64.
    Invalid,
    /// Not a scalar (a collection or an alias).
    NotScalar,
}

pub(crate) fn resolve_scalar(s: &Scalar, tag: Option<&str>) -> Resolved {
    match s.origin {
        Origin::Str => return Resolved::Str,
        Origin::Float(f) => return Resolved::Float(f),
        Origin::Typed | Origin::Parsed { .. } => {}
    }
    let tag = tag.filter(|t| *t != "!");
    let quoted = s.style() != ScalarStyle::Plain;
    match tag {
        None if quoted => Resolved::Str,
        None => resolve_plain(s.value()),
        Some("!!str") => Resolved::Str,
        Some("!!binary") => {
            use base64::Engine;
            // Go's StdEncoding ignores \r and \n.
            let cleaned: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
                s.value()
                    .chars()
                    .filter(|c| *c != '\n' && *c != '\r')
                    .collect(),
            );
            match base64::engine::general_purpose::STANDARD.decode(cleaned.as_bytes()) {
                Ok(b) => Resolved::Binary(Sensitive::new(b)),
                Err(_) => Resolved::Invalid,
            }
        }
        Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null" | "!!timestamp")) => {
            let r = resolve_with_hint(s.value(), t == "!!timestamp");
            match (t, &r) {
                ("!!int", Resolved::Int(_) | Resolved::Uint(_))
                | ("!!bool", Resolved::Bool(_))
                | ("!!null", Resolved::Null)
                | ("!!timestamp", Resolved::Timestamp(_))
                | ("!!float", Resolved::Float(_)) => r,
                ("!!float", Resolved::Int(i)) => Resolved::Float(*i as f64),
                _ => Resolved::Invalid,
            }
        }
        // Custom tags (and !!merge, !!seq on a scalar, ...): go-yaml returns the text.
        Some(_) => Resolved::Str,
    }
}

/// How go-yaml v3 types an untagged plain scalar with this text.
pub fn resolve_plain(text: &str) -> Resolved {
    resolve_with_hint(text, true)
}

fn resolve_with_hint(s: &str, try_timestamp: bool) -> Resolved {
    // Exact matches (go-yaml's resolveMap), reachable only through the hint table.
    let hint = match s.as_bytes().first() {
        None => return Resolved::Null,
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        _ => return Resolved::Str,
    };
    match s {
        "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match hint {
        b'.' => match go_parse_float_dot(s) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str,
        },
        b'D' | b'S' => {
            if try_timestamp && let Some(t) = parse_timestamp(s) {
                return Resolved::Timestamp(t);
            }
            let plain: std::borrow::Cow<'_, str> = if s.contains('_') {
                s.replace('_', "").into()
            } else {
                s.into()
            };
            if let Some(i) = go_parse_int(&plain) {
                return Resolved::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain) {
                return Resolved::Uint(u);
            }
            if is_yaml_style_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
                && f.is_finite()
            {
                return Resolved::Float(f);
            }
            // go-yaml's explicit 0b/-0b/0o/-0o branches accept nothing ParseInt(…, 0) rejects
            // once underscores are gone, except "-0b…"/"-0o…" spelled with a sign, already
            // covered by go_parse_int.
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go `strconv.ParseFloat` for text starting with `.` (underscores only between digits).
fn go_parse_float_dot(s: &str) -> Option<f64> {
    let cleaned: std::borrow::Cow<'_, str> = if s.contains('_') {
        if !go_underscore_ok(s) {
            return None;
        }
        s.replace('_', "").into()
    } else {
        s.into()
    };
    // Decimal form only: `.digits([eE][+-]?digits)?`
    if !is_yaml_style_float(&cleaned) {
        return None;
    }
    let f: f64 = cleaned.parse().ok()?;
    f.is_finite().then_some(f)
}

fn go_underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let b = if matches!(b.first(), Some(b'+' | b'-')) {
        &b[1..]
    } else {
        b
    };
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go `strconv.ParseUint(s, 0, 64)` without underscores (already removed).
fn go_parse_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (base, digits): (u32, &[u8]) = if b[0] == b'0' {
        if b.len() >= 3 {
            match b[1] | 0x20 {
                b'b' => (2, &b[2..]),
                b'o' => (8, &b[2..]),
                b'x' => (16, &b[2..]),
                _ => (8, &b[1..]),
            }
        } else {
            (8, &b[1..])
        }
    } else {
        (10, b)
    };
    let mut n: u64 = 0;
    for &c in digits {
        let d = (c as char).to_digit(36)?;
        if d >= base {
            return None;
        }
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Go `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(rest)?;
    if neg {
        if u <= 1u64 << 63 {
            Some((u as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// go-yaml v3 `parseTimestamp`: Go `time.Parse` with the layouts
/// `2006-1-2T15:4:5.999999999Z07:00` (also lowercase `t`), `2006-1-2 15:4:5.999999999`, `2006-1-2`.
pub(crate) fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year = s[..4].parse::<u16>().ok()?;
    let mut i = 5;
    // Go getnum(value, false): one or two digits.
    let num = |i: &mut usize| -> Option<u32> {
        let d0 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
        *i += 1;
        match b.get(*i).filter(|c| c.is_ascii_digit()) {
            Some(d1) => {
                *i += 1;
                Some(u32::from(d0 - b'0') * 10 + u32::from(d1 - b'0'))
            }
            None => Some(u32::from(d0 - b'0')),
        }
    };
    let month = num(&mut i)?;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let day = num(&mut i)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let year = i64::from(year);
    if day < 1 || day > gofmt::days_in_month(year, month) {
        return None;
    }
    if i == b.len() {
        return Timestamp::from_parts(year, month, day, 0, 0, 0, 0, 0);
    }
    let zoned = match b[i] {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    i += 1;
    let hour = num(&mut i)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let minute = num(&mut i)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let second = num(&mut i)?;
    if hour >= 24 || minute >= 60 || second >= 60 {
        return None;
    }
    let mut nanos = 0;
    let mut offset = 0;
    // Optional fraction: '.' or ',' followed by at least one digit.
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        let nine: String = digits
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        nanos = nine.parse().ok()?;
    }
    if zoned {
        match b.get(i) {
            Some(b'Z') => i += 1,
            Some(sign @ (b'+' | b'-')) => {
                let z = b.get(i..i + 6)?;
                if z[3] != b':' || !z[1].is_ascii_digit() || !z[2].is_ascii_digit() {
                    return None;
                }
                if !z[4].is_ascii_digit() || !z[5].is_ascii_digit() {
                    return None;
                }
                let hh = i32::from(z[1] - b'0') * 10 + i32::from(z[2] - b'0');
                let mm = i32::from(z[4] - b'0') * 10 + i32::from(z[5] - b'0');
                if hh > 24 || mm > 60 {
                    return None;
                }
                let off = (hh * 60 + mm) * 60;
                offset = if *sign == b'-' { -off } else { off };
                i += 6;
            }
            _ => return None,
        }
    }
    if i != b.len() {
        return None;
    }
    Timestamp::from_parts(year, month, day, hour, minute, second, nanos, offset)
}

/// YAML 1.1 base-60 (`1:20`, `-1:30:00.5`): `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
pub(crate) fn is_base60(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        // [0-5]?[0-9]
        let d1 = b.get(i).copied();
        let d2 = b.get(i + 1).copied();
        match (d1, d2) {
            (Some(a @ b'0'..=b'5'), Some(c)) if c.is_ascii_digit() => {
                let _ = a;
                i += 2;
            }
            (Some(a), _) if a.is_ascii_digit() => i += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml v3's `isOldBool`: YAML 1.1 booleans it quotes on output.
#[allow(dead_code)]
pub(crate) fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// Would a YAML 1.1 reader (sigs.k8s.io/yaml → go-yaml v2, also PyYAML-style 1.1 resolvers)
/// read this **plain** text as something other than a string? Errs on the side of "yes":
/// booleans in every casing (`yes`/`no`/`on`/`off`/`y`/`n`/`true`/`false`), null/`~`/empty,
/// ints in any base (`0644` octal, `0x1F`, `0b1`, `0o17`, `1_000`, `+5`), floats (`1e3`,
/// `.5`, `.inf`, `.nan`), sexagesimal (`1:20`), timestamps, `<<` and `=`.
pub fn is_yaml11_nonstring(text: &str) -> bool {
    if text.is_empty() || text == "<<" || text == "=" {
        return true;
    }
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "yes" | "n" | "no" | "true" | "false" | "on" | "off" | "~" | "null"
    ) {
        return true;
    }
    if !matches!(resolve_plain(text), Resolved::Str) || is_base60(text) {
        return true;
    }
    // YAML 1.1 int/float/timestamp shapes go-yaml v3 lets through as strings.
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    if matches!(body.to_ascii_lowercase().as_str(), ".inf" | ".nan") {
        return true;
    }
    let b = body.as_bytes();
    let numberish = !b.is_empty()
        && (b[0].is_ascii_digit() || (b[0] == b'.' && b.len() > 1 && b[1].is_ascii_digit()))
        && b.iter().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(
                    c,
                    b'_' | b'.' | b'x' | b'X' | b'o' | b'O' | b'e' | b'E' | b'+' | b'-' | b':'
                )
        });
    if numberish {
        return true;
    }
    // Timestamps: YYYY-M-D…
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Resolved {
        resolve_plain(s)
    }

    #[test]
    fn go_yaml_v3_plain_resolution() {
        assert_eq!(r(""), Resolved::Null);
        assert_eq!(r("~"), Resolved::Null);
        assert_eq!(r("Null"), Resolved::Null);
        assert_eq!(r("nULL"), Resolved::Str);
        assert_eq!(r("True"), Resolved::Bool(true));
        assert_eq!(r("FALSE"), Resolved::Bool(false));
        for s in ["yes", "no", "on", "off", "y", "n", "Yes", "tRUE"] {
            assert_eq!(r(s), Resolved::Str, "{s}");
        }
        assert_eq!(r("0755"), Resolved::Int(493));
        assert_eq!(r("0o17"), Resolved::Int(15));
        assert_eq!(r("0x1F"), Resolved::Int(31));
        assert_eq!(r("-0x1F"), Resolved::Int(-31));
        assert_eq!(r("0b101"), Resolved::Int(5));
        assert_eq!(r("-0b101"), Resolved::Int(-5));
        assert_eq!(r("1_000"), Resolved::Int(1000));
        assert_eq!(r("+5"), Resolved::Int(5));
        assert_eq!(r("0"), Resolved::Int(0));
        assert_eq!(r("-0"), Resolved::Int(0));
        assert_eq!(r("9223372036854775807"), Resolved::Int(i64::MAX));
        assert_eq!(r("-9223372036854775808"), Resolved::Int(i64::MIN));
        assert_eq!(r("9223372036854775808"), Resolved::Uint(1 << 63));
        assert_eq!(r("18446744073709551615"), Resolved::Uint(u64::MAX));
        assert_eq!(r("99999999999999999999"), Resolved::Float(1e20));
        assert_eq!(r("089"), Resolved::Float(89.0));
        assert_eq!(r("1e3"), Resolved::Float(1000.0));
        assert_eq!(r("1.5"), Resolved::Float(1.5));
        assert_eq!(r("1."), Resolved::Float(1.0));
        assert_eq!(r(".5"), Resolved::Float(0.5));
        assert_eq!(r("-.5"), Resolved::Float(-0.5));
        assert_eq!(r("1e400"), Resolved::Str);
        assert_eq!(r("0x"), Resolved::Str);
        assert_eq!(r("1:20"), Resolved::Str);
        assert_eq!(r("."), Resolved::Str);
        assert_eq!(r("1.2.3"), Resolved::Str);
        assert_eq!(r("12abc"), Resolved::Str);
        assert_eq!(r("<<"), Resolved::Str);
        assert!(matches!(r(".inf"), Resolved::Float(f) if f == f64::INFINITY));
        assert!(matches!(r("-.INF"), Resolved::Float(f) if f == f64::NEG_INFINITY));
        assert!(matches!(r(".NaN"), Resolved::Float(f) if f.is_nan()));
        assert_eq!(r(".Nan"), Resolved::Str);
        assert_eq!(r("inf"), Resolved::Str);
    }

    #[test]
    fn timestamps() {
        let ts = |s: &str| match r(s) {
            Resolved::Timestamp(t) => Some(t.rfc3339_nano()),
            _ => None,
        };
        assert_eq!(ts("2024-01-02").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(ts("2024-1-2").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(
            ts("2024-01-02T10:20:30+02:00").as_deref(),
            Some("2024-01-02T10:20:30+02:00")
        );
        assert_eq!(
            ts("2024-01-02 10:20:30").as_deref(),
            Some("2024-01-02T10:20:30Z")
        );
        assert_eq!(
            ts("2024-01-02T10:20:30.123456789Z").as_deref(),
            Some("2024-01-02T10:20:30.123456789Z")
        );
        assert_eq!(
            ts("2024-01-02t10:20:30.5Z").as_deref(),
            Some("2024-01-02T10:20:30.5Z")
        );
        assert_eq!(
            ts("2024-01-02T10:20:30+00:00").as_deref(),
            Some("2024-01-02T10:20:30Z")
        );
        assert_eq!(ts("2024-02-30"), None);
        assert_eq!(ts("2024-01-02T10:20:30"), None);
        assert_eq!(ts("2024-01-02 10:20:30Z"), None);
        assert_eq!(ts("24-01-02"), None);
        // Not a timestamp → falls through to string.
        assert_eq!(r("2024-13-01"), Resolved::Str);
    }

    fn format_float_yaml(f: f64) -> String {
        let mut s = String::new();
        gofmt::float_yaml(f, &mut s);
        s
    }

    #[test]
    fn go_float_format() {
        let cases = [
            (1234567.0, "1.234567e+06"),
            (123456.0, "123456"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (3e-7, "3e-07"),
            (1e20, "1e+20"),
            (1e21, "1e+21"),
            (-0.0, "-0"),
            (2.0, "2"),
            (1.5, "1.5"),
            (1000.0, "1000"),
            (1.5e300, "1.5e+300"),
            (-2.5, "-2.5"),
            (100000.0, "100000"),
            (0.1, "0.1"),
            (f64::INFINITY, ".inf"),
            (f64::NEG_INFINITY, "-.inf"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float_yaml(f), want, "{f}");
        }
        assert_eq!(format_float_yaml(f64::NAN), ".nan");
    }

    #[test]
    fn yaml11_nonstrings() {
        for s in [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "Y",
            "N",
            "YES",
            "yEs",
            "On",
            "OFF",
            "0644",
            "1e3",
            "null",
            "~",
            "true",
            "1:20",
            ".inf",
            "0x1F",
            "",
            "0o17",
            "1_000",
            "+5",
            "-.inf",
            ".nan",
            "190:20:30",
            "2024-01-02",
            "<<",
            "=",
            "1.5",
            ".5",
            "0b11",
            "NULL",
            "False",
        ] {
            assert!(is_yaml11_nonstring(s), "{s:?}");
        }
        for s in [
            "hello",
            "yes please",
            "nope",
            "a:b",
            "v1",
            "x1:20",
            "dev",
            "0.0.0.0/0",
        ] {
            assert!(!is_yaml11_nonstring(s), "{s:?}");
        }
    }

    #[test]
    fn base60() {
        assert!(is_base60("1:20"));
        assert!(is_base60("-1:20:59.5"));
        assert!(is_base60("12:30"));
        assert!(!is_base60("1:60x"));
        assert!(!is_base60("1:"));
        assert!(!is_base60("a:1"));
    }
}
