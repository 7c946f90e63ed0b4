//! Go's number and time formatting and parsing (`strconv`, `fmt`, `encoding/json`, `time`): the
//! one place sealbridge writes numbers and timestamps the way the Go tools it is compatible with
//! do. It lives in the YAML layer (the lowest one) so that go-yaml's typing, the sops engine
//! (`sops/`, which may import `yaml/`) and the placeholder modifiers share it.
//!
//! Floats: `FormatFloat(f, 'f', -1)` for sops' ENC plaintext and MAC, `'g'` for YAML output
//! (go-yaml), `'G'` plus `.0` for sops' dotenv/INI/exec-env, `encoding/json`'s rule for JSON, and
//! `fmt`'s `%v` for argocd-vault-plugin's text output. Times are RFC 3339 with trimmed
//! nanoseconds (`RFC3339Nano`).

use std::fmt::Write as _;

/// `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
pub fn float_f(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{f}");
    }
}

/// The shortest digits and decimal exponent of a finite, non-zero `f`: `(negative, digits, exp)`
/// where the value is `0.d1d2d3… × 10^(exp+1)`, i.e. `exp` is the exponent of the first digit.
fn shortest_digits(f: f64) -> (bool, String, i32) {
    // `{:e}` gives the shortest round-trip mantissa: "1.234567e6", "-3e-7".
    let s = format!("{f:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (neg, digits, exp)
}

/// Go's `%e` exponent form from shortest digits: `d.ddde±XX` (at least two exponent digits).
fn push_exp_form(out: &mut String, neg: bool, digits: &str, exp: i32, e: char) {
    if neg {
        out.push('-');
    }
    let mut chars = digits.chars();
    if let Some(first) = chars.next() {
        out.push(first);
    }
    let rest: &str = chars.as_str();
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    out.push(e);
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    let _ = write!(out, "{a}");
}

/// `strconv.FormatFloat(f, 'g' or 'G', -1, 64)`. Infinities and NaN as Go prints them.
pub fn float_g(f: f64, upper: bool, out: &mut String) {
    if !f.is_finite() || f == 0.0 {
        float_f(f, out);
        return;
    }
    let (neg, digits, exp) = shortest_digits(f);
    // Go, shortest precision: %e when the exponent is < -4 or >= 6 ("eprec = 6").
    if !(-4..6).contains(&exp) {
        push_exp_form(out, neg, &digits, exp, if upper { 'E' } else { 'e' });
    } else {
        float_f(f, out);
    }
}

/// YAML output of a float (go-yaml v3): `'g'` with `.inf`, `-.inf`, `.nan`.
pub fn float_yaml(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str(".nan");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { ".inf" } else { "-.inf" });
    } else {
        float_g(f, false, out);
    }
}

/// dotenv / INI / exec-env output of a float: `'G'`, plus `.0` when there is neither `.` nor
/// an exponent nor a non-finite word.
pub fn float_dotenv(f: f64, out: &mut String) {
    let start = out.len();
    float_g(f, true, out);
    let s = &out[start..];
    if !s.contains(['.', 'E', 'I', 'N']) {
        out.push_str(".0");
    }
}

/// `fmt.Sprint(f)` / `%v` of a float64: shortest digits, the `%e` form (two-digit exponent) when
/// the decimal exponent is < -4 or >= 21; infinities and NaN as `+Inf`, `-Inf`, `NaN`.
pub fn float_v(f: f64, out: &mut String) {
    if !f.is_finite() || f == 0.0 {
        float_f(f, out);
        return;
    }
    let (neg, digits, exp) = shortest_digits(f);
    if !(-4..21).contains(&exp) {
        push_exp_form(out, neg, &digits, exp, 'e');
    } else {
        float_f(f, out);
    }
}

/// `encoding/json` float formatting. Errors on NaN and infinities like Go.
pub fn float_json(f: f64, out: &mut String) -> Result<(), String> {
    if !f.is_finite() {
        let mut s = String::new();
        float_f(f, &mut s);
        return Err(format!("json: unsupported value: {s}"));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (neg, digits, exp) = shortest_digits(f);
        let start = out.len();
        push_exp_form(out, neg, &digits, exp, 'e');
        // Go cleans up e-09 to e-9.
        let s = &out[start..];
        let n = s.len();
        if n >= 4 && &s[n - 4..n - 1] == "e-0" {
            let last = out.pop();
            out.pop();
            if let Some(c) = last {
                out.push(c);
            }
        }
    } else {
        float_f(f, out);
    }
    Ok(())
}

/// Go `strconv.Atoi`: optional sign, decimal digits, 64-bit.
pub fn parse_go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go `strconv.ParseFloat(s, 64)` for the forms sops writes and common inputs.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return s.parse::<f64>().ok();
    }
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse().ok()
}

/// Go `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A point in time with the UTC offset it was written with (Go `time.Time`): what go-yaml
/// resolves a timestamp scalar to and what sops encrypts as `type:time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (UTC).
    pub unix: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
    /// Offset from UTC in seconds (0 for `Z`).
    pub offset: i32,
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days in month `m` (1–12) of year `y` (proleptic Gregorian).
pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

impl Timestamp {
    /// Builds a timestamp from calendar fields in the given offset; `None` if out of range.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        min: u32,
        sec: u32,
        nanos: u32,
        offset: i32,
    ) -> Option<Timestamp> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || min > 59
            || sec > 59
            || nanos > 999_999_999
        {
            return None;
        }
        let local = days_from_civil(year, month, day) * 86_400
            + i64::from(hour) * 3600
            + i64::from(min) * 60
            + i64::from(sec);
        Some(Timestamp {
            unix: local - i64::from(offset),
            nanos,
            offset,
        })
    }

    /// The current time in UTC, whole seconds.
    pub fn now_utc() -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp {
            unix: secs,
            nanos: 0,
            offset: 0,
        }
    }

    /// Parses RFC 3339 (`time.RFC3339` in Go: fractional seconds allowed, `Z` or `±hh:mm`).
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let t = s.get(r)?;
            if t.bytes().all(|c| c.is_ascii_digit()) {
                t.parse().ok()
            } else {
                None
            }
        };
        let year = num(0..4)?;
        if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') {
            return None;
        }
        let (month, day) = (num(5..7)?, num(8..10)?);
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut i = 19;
        let mut nanos = 0u32;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let frac = &s[start..i];
            if frac.is_empty() || frac.len() > 9 {
                return None;
            }
            nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
        }
        let rest = &s[i..];
        let offset = if rest == "Z" || rest == "z" {
            0
        } else {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' || !(rb[0] == b'+' || rb[0] == b'-') {
                return None;
            }
            let hh: i32 = rest[1..3].parse().ok()?;
            let mm: i32 = rest[4..6].parse().ok()?;
            if hh > 23 || mm > 59 {
                return None;
            }
            let o = hh * 3600 + mm * 60;
            if rb[0] == b'-' { -o } else { o }
        };
        Timestamp::from_parts(i64::from(year), month, day, hour, min, sec, nanos, offset)
    }

    fn write(&self, out: &mut String, with_nanos: bool) {
        let local = self.unix + i64::from(self.offset);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if with_nanos && self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        if self.offset == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let a = self.offset.unsigned_abs();
            let _ = write!(out, "{sign}{:02}:{:02}", a / 3600, a / 60 % 60);
        }
    }

    /// Go `time.RFC3339Nano` (trailing zeros of the fraction trimmed).
    pub fn rfc3339_nano(&self) -> String {
        let mut s = String::with_capacity(35);
        self.write(&mut s, true);
        s
    }

    /// Go `time.RFC3339` (whole seconds).
    pub fn rfc3339(&self) -> String {
        let mut s = String::with_capacity(25);
        self.write(&mut s, false);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> String {
        let mut s = String::new();
        float_f(x, &mut s);
        s
    }
    fn y(x: f64) -> String {
        let mut s = String::new();
        float_yaml(x, &mut s);
        s
    }
    fn d(x: f64) -> String {
        let mut s = String::new();
        float_dotenv(x, &mut s);
        s
    }
    fn j(x: f64) -> String {
        let mut s = String::new();
        float_json(x, &mut s).unwrap();
        s
    }

    #[test]
    fn go_float_table() {
        // value, 'f', YAML 'g', JSON, dotenv 'G'+.0 (spec §10)
        let table: &[(f64, &str, &str, &str, &str)] = &[
            (
                1234567.0,
                "1234567",
                "1.234567e+06",
                "1234567",
                "1.234567E+06",
            ),
            (123456.0, "123456", "123456", "123456", "123456.0"),
            (0.0001, "0.0001", "0.0001", "0.0001", "0.0001"),
            (0.00001, "0.00001", "1e-05", "0.00001", "1E-05"),
            (3e-7, "0.0000003", "3e-07", "3e-7", "3E-07"),
            (
                1e20,
                "100000000000000000000",
                "1e+20",
                "100000000000000000000",
                "1E+20",
            ),
            (1e21, "1000000000000000000000", "1e+21", "1e+21", "1E+21"),
            (-0.0, "-0", "-0", "-0", "-0.0"),
            (2.0, "2", "2", "2", "2.0"),
            (1.5e300, "", "1.5e+300", "1.5e+300", "1.5E+300"),
            (1.75, "1.75", "1.75", "1.75", "1.75"),
        ];
        for &(v, ff, yy, jj, dd) in table {
            if !ff.is_empty() {
                assert_eq!(f(v), ff, "f {v}");
            }
            assert_eq!(y(v), yy, "g {v}");
            assert_eq!(j(v), jj, "json {v}");
            assert_eq!(d(v), dd, "G {v}");
        }
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(y(f64::NEG_INFINITY), "-.inf");
        assert_eq!(d(f64::INFINITY), "+Inf");
        assert!(float_json(f64::NAN, &mut String::new()).is_err());
    }

    #[test]
    fn times() {
        let t = Timestamp::parse_rfc3339("2026-11-27T10:47:38.5+00:00").unwrap();
        assert_eq!(t.rfc3339(), "2026-11-27T10:47:38Z");
        assert_eq!(t.rfc3339_nano(), "2026-11-27T10:47:38.5Z");
        let t = Timestamp::parse_rfc3339("2024-01-02T10:20:30+02:00").unwrap();
        assert_eq!(t.rfc3339_nano(), "2024-01-02T10:20:30+02:00");
        assert_eq!(t.unix, 1_704_183_630);
        let t = Timestamp::parse_rfc3339("1960-02-29T00:00:00.123456789-05:30").unwrap();
        assert_eq!(t.rfc3339_nano(), "1960-02-29T00:00:00.123456789-05:30");
        assert!(Timestamp::parse_rfc3339("").is_none());
        assert!(Timestamp::parse_rfc3339("2023-02-29T00:00:00Z").is_none());
    }
}
