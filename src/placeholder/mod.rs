//! Secret references inside manifest strings: the tokenizer, the modifiers and key lookup.
//!
//! Three syntaxes, any number per string, embedded in text:
//! - argocd-vault-plugin inline: `<path:PATH#KEY>`, `<path:PATH#KEY#VERSION>`, with modifiers
//!   `<path:PATH#KEY | base64encode | …>`; PATH may start with `vault://`, `openbao://` or
//!   `sops://` (no scheme: the run's default backend);
//! - argocd-vault-plugin generic: `<KEY | …>`, only where the document enables it (path
//!   annotation), looked up in the document's secret;
//! - vals: `ref+vault://PATH#/json/pointer`, `ref+sops://FILE#/pointer`, `?version=N`, an
//!   optional closing `+` (`secretref+` is accepted too).
//!
//! [`parse`] is a real tokenizer, not one regular expression: a modifier chain may contain `>`
//! and `|` inside `{…}` JSONPath actions and inside quotes.

use std::fmt;

use crate::backend::BackendKind;
use crate::secret::SecretValue;

pub mod jsonpath;
pub mod modifier;
pub(crate) mod value;

pub use modifier::{Flow, Modifier};

/// Where a reference's syntax comes from (for messages and documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `<path:PATH#KEY…>`
    AvpInline,
    /// `<KEY>` (needs the document's path annotation)
    AvpGeneric,
    /// `ref+SCHEME://PATH#/pointer`
    Vals,
}

/// What part of the fetched secret a reference wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A top-level key (AVP syntax, or a vals Vault path without fragment).
    Key(String),
    /// An RFC 6901 JSON pointer, already unescaped into tokens (vals `#/a/b`).
    Pointer(Vec<String>),
    /// The whole secret (vals reference with an empty fragment).
    Whole,
}

/// One parsed reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The reference exactly as written (not secret; used in messages).
    pub raw: String,
    /// Which syntax it used.
    pub syntax: Syntax,
    /// An explicit backend scheme; `None` for the run's default (or, for generic references,
    /// the backend of the document's path annotation).
    pub backend: Option<BackendKind>,
    /// The secret's path; `None` for generic references (the document's annotation decides).
    pub path: Option<String>,
    /// A pinned version.
    pub version: Option<u64>,
    /// What to take from the secret.
    pub selector: Selector,
    /// The modifier chain, left to right.
    pub modifiers: Vec<Modifier>,
}

impl Reference {
    /// True when the chain ends with `base64encode` (then Secret `data` is not encoded again).
    pub fn ends_with_base64encode(&self) -> bool {
        matches!(self.modifiers.last(), Some(Modifier::Base64Encode))
    }
}

/// A piece of a scanned string.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Literal text, kept as it is.
    Text(String),
    /// A reference to replace.
    Ref(Reference),
}

/// A reference that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The text of the broken reference.
    pub raw: String,
    /// What is wrong with it.
    pub message: String,
}

/// The result of scanning one string.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// Text and references in order (a broken reference stays as text).
    pub segments: Vec<Segment>,
    /// Broken references.
    pub errors: Vec<ParseError>,
}

impl Parsed {
    /// True when the string holds at least one reference (valid or broken).
    pub fn has_references(&self) -> bool {
        !self.errors.is_empty() || self.segments.iter().any(|s| matches!(s, Segment::Ref(_)))
    }

    /// The reference when the string is exactly one reference and nothing else.
    pub fn single_reference(&self) -> Option<&Reference> {
        match self.segments.as_slice() {
            [Segment::Ref(r)] if self.errors.is_empty() => Some(r),
            _ => None,
        }
    }

    /// The references in order.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref(r) => Some(r),
            Segment::Text(_) => None,
        })
    }
}

/// What the tokenizer recognises in a given document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanContext {
    /// Recognise generic `<KEY>` references (the document has a path annotation).
    pub generic: bool,
}

/// Why a reference has no value.
#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    /// The secret exists but has no such key.
    Key {
        /// The key asked for.
        key: String,
        /// The keys the secret has (names only).
        available: Vec<String>,
    },
    /// A JSON pointer step found nothing.
    Pointer {
        /// The pointer as written.
        pointer: String,
        /// The keys at the level where the lookup stopped.
        available: Vec<String>,
    },
    /// The key exists but its value is null.
    Null {
        /// The key or pointer.
        key: String,
    },
    /// There is no secret at the path (or version).
    Path,
    /// A `jsonPath` field was not found.
    JsonPath(String),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let avail = |f: &mut fmt::Formatter<'_>, a: &[String]| {
            if a.is_empty() {
                f.write_str(" (the secret has no keys)")
            } else {
                write!(f, " (available keys: {})", a.join(", "))
            }
        };
        match self {
            Missing::Key { key, available } => {
                write!(f, "no such key `{key}`")?;
                avail(f, available)
            }
            Missing::Pointer { pointer, available } => {
                write!(f, "nothing at pointer `{pointer}`")?;
                avail(f, available)
            }
            Missing::Null { key } => write!(f, "`{key}` is null"),
            Missing::Path => f.write_str("no secret at this path"),
            Missing::JsonPath(e) => write!(f, "jsonPath: {e}"),
        }
    }
}

/// Picks what `selector` wants out of a fetched secret.
pub fn select(secret: &SecretValue, selector: &Selector) -> Flow {
    match selector {
        Selector::Whole => Flow::Value(secret.clone()),
        Selector::Key(k) => match secret {
            SecretValue::Map(m) => match m.get(k) {
                Some(SecretValue::Null) => Flow::Missing(Missing::Null { key: k.clone() }),
                Some(v) => Flow::Value(v.clone()),
                None => Flow::Missing(Missing::Key {
                    key: k.clone(),
                    available: m.keys().cloned().collect(),
                }),
            },
            _ => Flow::Missing(Missing::Key {
                key: k.clone(),
                available: Vec::new(),
            }),
        },
        Selector::Pointer(tokens) => {
            let mut cur = secret;
            for t in tokens {
                let next = match cur {
                    SecretValue::Map(m) => m.get(t),
                    SecretValue::List(l) => t.parse::<usize>().ok().and_then(|i| l.get(i)),
                    _ => None,
                };
                match next {
                    Some(n) => cur = n,
                    None => {
                        return Flow::Missing(Missing::Pointer {
                            pointer: pointer_text(tokens),
                            available: cur.key_names().iter().map(|s| (*s).to_owned()).collect(),
                        });
                    }
                }
            }
            if matches!(cur, SecretValue::Null) {
                return Flow::Missing(Missing::Null {
                    key: pointer_text(tokens),
                });
            }
            Flow::Value(cur.clone())
        }
    }
}

/// Writes pointer tokens back as `/a/b` (escaping `~` and `/`).
pub fn pointer_text(tokens: &[String]) -> String {
    let mut s = String::new();
    for t in tokens {
        s.push('/');
        s.push_str(&t.replace('~', "~0").replace('/', "~1"));
    }
    s
}

/// Runs a modifier chain; each step's text result may hold at most `max` bytes.
/// `Err((modifier name, message))` on a modifier failure.
pub fn apply_modifiers(
    mut flow: Flow,
    modifiers: &[Modifier],
    max: usize,
) -> Result<Flow, (String, String)> {
    for m in modifiers {
        flow = m.apply(flow, max).map_err(|e| (m.name().to_owned(), e))?;
    }
    Ok(flow)
}

/// Scans `text` for references.
pub fn parse(text: &str, ctx: ScanContext) -> Parsed {
    let bytes = text.as_bytes();
    let mut out = Parsed::default();
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let attempt = match bytes[i] {
            b'<' => angle(text, i, ctx),
            b'r' | b's' => vals(text, i),
            _ => None,
        };
        match attempt {
            None => i += 1,
            Some((result, end)) => {
                if text_start < i {
                    out.segments
                        .push(Segment::Text(text[text_start..i].to_owned()));
                }
                let raw = &text[i..end];
                match result {
                    Ok(r) => out.segments.push(Segment::Ref(r)),
                    Err(message) => {
                        out.errors.push(ParseError {
                            raw: raw.to_owned(),
                            message,
                        });
                        out.segments.push(Segment::Text(raw.to_owned()));
                    }
                }
                i = end;
                text_start = end;
            }
        }
    }
    if text_start < bytes.len() {
        out.segments
            .push(Segment::Text(text[text_start..].to_owned()));
    }
    merge_text(&mut out.segments);
    out
}

fn merge_text(segs: &mut Vec<Segment>) {
    let mut merged: Vec<Segment> = Vec::with_capacity(segs.len());
    for s in segs.drain(..) {
        if let (Some(Segment::Text(prev)), Segment::Text(t)) = (merged.last_mut(), &s) {
            prev.push_str(t);
            continue;
        }
        merged.push(s);
    }
    *segs = merged;
}

type Attempt = Option<(Result<Reference, String>, usize)>;

/// `<…>` at `start`.
fn angle(text: &str, start: usize, ctx: ScanContext) -> Attempt {
    let after = &text[start + 1..];
    let trimmed = after.trim_start_matches([' ', '\t']);
    let offset = start + 1 + (after.len() - trimmed.len());
    if trimmed.starts_with("path:") {
        return Some(inline(text, start, offset + "path:".len()));
    }
    if ctx.generic {
        return generic(text, start);
    }
    None
}

/// The body of a `<…>` placeholder: the reference part and the raw modifier segments.
struct Body<'a> {
    reference: &'a str,
    modifiers: Vec<&'a str>,
    end: usize,
}

enum BodyError {
    /// No closing `>`.
    Unterminated,
    /// The reference part contains a newline or `<` (generic only: then it is not a
    /// placeholder at all).
    NotAPlaceholder,
}

/// Scans from `from` (just after `<` or `<path:`) to the closing `>`.
fn scan_body(text: &str, from: usize, generic: bool) -> Result<Body<'_>, BodyError> {
    let bytes = text.as_bytes();
    let mut i = from;
    // The reference part: up to the first `|` or `>`.
    while i < bytes.len() && bytes[i] != b'|' && bytes[i] != b'>' {
        if generic && (bytes[i] == b'\n' || bytes[i] == b'<') {
            return Err(BodyError::NotAPlaceholder);
        }
        i += 1;
    }
    if i >= bytes.len() {
        return Err(if generic {
            BodyError::NotAPlaceholder
        } else {
            BodyError::Unterminated
        });
    }
    let reference = &text[from..i];
    let mut modifiers = Vec::new();
    if bytes[i] == b'>' {
        return Ok(Body {
            reference,
            modifiers,
            end: i + 1,
        });
    }
    // Modifiers: `|` and `>` end a segment only outside `{…}` and quotes.
    i += 1;
    let mut seg_start = i;
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match b {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b'\'' | b'"' => {
                let word_start = i == seg_start
                    || bytes[i - 1].is_ascii_whitespace()
                    || text[seg_start..i].trim().is_empty();
                if depth > 0 || word_start {
                    quote = Some(b);
                }
            }
            b'|' if depth == 0 => {
                modifiers.push(&text[seg_start..i]);
                seg_start = i + 1;
            }
            b'>' if depth == 0 => {
                modifiers.push(&text[seg_start..i]);
                return Ok(Body {
                    reference,
                    modifiers,
                    end: i + 1,
                });
            }
            _ => {}
        }
        i += 1;
    }
    Err(if generic {
        BodyError::NotAPlaceholder
    } else {
        BodyError::Unterminated
    })
}

fn parse_modifiers(segments: &[&str]) -> Result<Vec<Modifier>, String> {
    if segments.len() > modifier::MAX_MODIFIERS {
        return Err(format!(
            "{} modifiers; a reference takes at most {}",
            segments.len(),
            modifier::MAX_MODIFIERS
        ));
    }
    let mut out = Vec::with_capacity(segments.len());
    for seg in segments {
        let seg = seg.trim();
        let (name, args) = match seg.find(char::is_whitespace) {
            Some(i) => (&seg[..i], normalize_args(seg[i..].trim())),
            None => (seg, String::new()),
        };
        out.push(Modifier::parse(name, &args)?);
    }
    Ok(out)
}

/// Collapses runs of whitespace (newlines included) outside quotes into one space.
fn normalize_args(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev_ws = false;
    let mut at_word_start = true;
    for c in s.chars() {
        if let Some(q) = quote {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_whitespace() {
            if !prev_ws {
                out.push(' ');
            }
            prev_ws = true;
            at_word_start = true;
            continue;
        }
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '\'' | '"' if depth > 0 || at_word_start => quote = Some(c),
            _ => {}
        }
        prev_ws = false;
        at_word_start = false;
        out.push(c);
    }
    out
}

/// `<path:…>`: `from` is just after `path:`.
fn inline(text: &str, start: usize, from: usize) -> (Result<Reference, String>, usize) {
    let body = match scan_body(text, from, false) {
        Ok(b) => b,
        Err(_) => {
            return (
                Err("unterminated reference: no closing `>`".to_owned()),
                text.len(),
            );
        }
    };
    let raw = text[start..body.end].to_owned();
    let result = (|| {
        let parts: Vec<&str> = body.reference.split('#').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(
                "expected <path:PATH#KEY> or <path:PATH#KEY#VERSION> (`#` cannot appear in a \
                 path or key)"
                    .to_owned(),
            );
        }
        let (backend, path) = split_scheme(parts[0].trim())?;
        let key = parts[1].trim();
        if path.is_empty() {
            return Err("the path is empty".to_owned());
        }
        if key.is_empty() {
            return Err("the key is empty".to_owned());
        }
        let version = match parts.get(2) {
            Some(v) => Some(parse_version(v.trim())?),
            None => None,
        };
        Ok(Reference {
            raw: raw.clone(),
            syntax: Syntax::AvpInline,
            backend,
            path: Some(path),
            version,
            selector: Selector::Key(key.to_owned()),
            modifiers: parse_modifiers(&body.modifiers)?,
        })
    })();
    (result, body.end)
}

/// `<KEY | …>` (generic).
fn generic(text: &str, start: usize) -> Attempt {
    let body = scan_body(text, start + 1, true).ok()?;
    let raw = text[start..body.end].to_owned();
    let key = body.reference.trim_matches(' ');
    let result = if key.is_empty() {
        Err("empty placeholder: expected <KEY>".to_owned())
    } else {
        parse_modifiers(&body.modifiers).map(|modifiers| Reference {
            raw,
            syntax: Syntax::AvpGeneric,
            backend: None,
            path: None,
            version: None,
            selector: Selector::Key(key.trim().to_owned()),
            modifiers,
        })
    };
    Some((result, body.end))
}

fn parse_version(v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("the version `{v}` is not a positive integer")),
    }
}

/// Splits an optional `scheme://` off a path.
fn split_scheme(path: &str) -> Result<(Option<BackendKind>, String), String> {
    match path.split_once("://") {
        None => Ok((None, path.to_owned())),
        Some((scheme, rest)) => match BackendKind::from_name(scheme) {
            Some(kind) => Ok((Some(kind), normalize_path(kind, rest))),
            None => Err(format!(
                "unsupported backend `{scheme}://` (supported: vault://, openbao://, sops://)"
            )),
        },
    }
}

/// Vault paths lose a leading `/`; sops paths lose a leading `./`.
pub(crate) fn normalize_path(kind: BackendKind, path: &str) -> String {
    let path = path.trim();
    match kind {
        BackendKind::Vault => path.trim_start_matches('/').to_owned(),
        BackendKind::Sops => {
            let mut p = path;
            while let Some(rest) = p.strip_prefix("./") {
                p = rest;
            }
            p.to_owned()
        }
    }
}

const VALS_PREFIXES: [&str; 2] = ["ref+", "secretref+"];

/// `ref+SCHEME://…` at `start`.
fn vals(text: &str, start: usize) -> Attempt {
    let rest = &text[start..];
    let prefix = VALS_PREFIXES.iter().find(|p| rest.starts_with(**p))?;
    let after = &rest[prefix.len()..];
    let scheme_len = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(after.len());
    if scheme_len == 0 || !after[scheme_len..].starts_with("://") {
        return None;
    }
    let scheme = &after[..scheme_len];
    let body_start = start + prefix.len() + scheme_len + 3;
    let body_rest = &text[body_start..];
    let mut body_len = body_rest
        .find(|c: char| c.is_whitespace() || matches!(c, '+' | '"' | '\'' | ',' | '<' | '>'))
        .unwrap_or(body_rest.len());
    let body = &body_rest[..body_len];
    if body_rest[body_len..].starts_with('+') {
        body_len += 1;
    }
    let end = body_start + body_len;
    let raw = text[start..end].to_owned();
    let Some(kind) = BackendKind::from_name(scheme) else {
        return Some((
            Err(format!(
                "unsupported vals backend `ref+{scheme}://` (supported: vault, openbao, sops)"
            )),
            end,
        ));
    };
    Some((vals_body(kind, body, raw), end))
}

fn vals_body(kind: BackendKind, body: &str, raw: String) -> Result<Reference, String> {
    let (before_fragment, fragment) = match body.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (body, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_fragment, None),
    };
    let mut version = None;
    if let Some(q) = query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "version" => version = Some(parse_version(v)?),
                other => {
                    return Err(format!(
                        "unsupported query parameter `{other}` (only `version` is supported; \
                         addresses and credentials come from the configuration)"
                    ));
                }
            }
        }
    }
    let mut path = normalize_path(kind, path);
    if path.is_empty() {
        return Err("the path is empty".to_owned());
    }
    let selector = match fragment {
        Some(f) => parse_fragment(f)?,
        None => match kind {
            // vals: without a fragment, the last path segment is the key.
            BackendKind::Vault => match path.rsplit_once('/') {
                Some((p, key)) if !p.is_empty() && !key.is_empty() => {
                    let key = key.to_owned();
                    path = p.to_owned();
                    Selector::Key(key)
                }
                _ => {
                    return Err(
                        "a vault reference needs a key: ref+vault://PATH/KEY or ref+vault://PATH#/KEY"
                            .to_owned(),
                    );
                }
            },
            BackendKind::Sops => Selector::Whole,
        },
    };
    Ok(Reference {
        raw,
        syntax: Syntax::Vals,
        backend: Some(kind),
        path: Some(path),
        version,
        selector,
        modifiers: Vec::new(),
    })
}

/// `#/a/b~1c` → pointer tokens; `#` or `#/` → the whole secret; `#key` → one top-level key.
fn parse_fragment(f: &str) -> Result<Selector, String> {
    if f.is_empty() || f == "/" {
        return Ok(Selector::Whole);
    }
    let Some(p) = f.strip_prefix('/') else {
        return Ok(Selector::Key(f.to_owned()));
    };
    let mut tokens = Vec::new();
    for raw in p.split('/') {
        let mut t = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '~' {
                match chars.next() {
                    Some('0') => t.push('~'),
                    Some('1') => t.push('/'),
                    _ => return Err(format!("invalid JSON pointer escape in `#{f}`")),
                }
            } else {
                t.push(c);
            }
        }
        tokens.push(t);
    }
    Ok(Selector::Pointer(tokens))
}

#[cfg(test)]
mod tests;
