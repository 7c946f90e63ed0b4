//! The splicer: a document whose tree was changed only by replacing scalar values is written
//! as its original text with only those scalars' text replaced ([`splice_document`]).
//!
//! # What it does
//! The parser keeps each node's byte span in the text it was read from ([`Node::span`]);
//! [`Node::replace`] keeps the span of a scalar replaced by a scalar. The splicer walks the
//! changed tree: a scalar that is no longer "as parsed" is written at its old span, in a form
//! that reads back as exactly its value in YAML 1.1 and 1.2 readers at that position:
//!
//! * a typed value (number, boolean, null, timestamp) as its plain text;
//! * a string in the author's quoting when it can hold it (double-quoted stays double-quoted,
//!   single-quoted stays single-quoted when the value needs no escapes), else plain when
//!   every reader reads that plain text as this string ([`super::manifest`]'s rule: YAML 1.2
//!   *and* YAML 1.1 resolution, and go-yaml's plain analysis for block or flow context), else a
//!   literal block (`|`, `|-`) for a multi-line value in block context when the block can
//!   hold it exactly and the lines after it cannot continue it, else double-quoted with
//!   escapes on one line. Inside a flow collection (`{…}`, `[…]`) never a block scalar.
//! * A value that was a block scalar (`|`, `>`) in the source is replaced from its header to
//!   the end of its lines (the parser finds the header, [`super::parse`]): a literal block when
//!   it can hold the value, else the one-line form; the header's comment and the blank lines
//!   at the block's end are kept.
//!
//! Everything else of the text — comments, flow style, indentation, other scalars' spelling,
//! anchors and tags — is kept byte for byte.
//!
//! # When the whole document is written by the manifest writer instead ([`Spliced::Reemit`])
//! * a node without a span: a collection created from a secret (a whole-value reference
//!   that yields a map or a list), a mapping whose entries were removed (`remove-missing`
//!   clears its span), anything else created;
//! * a replaced block scalar whose header the parser did not find, or a replaced mapping key;
//! * overlapping spans, or spans outside the text;
//! * the read-back check fails: the spliced text is parsed again and must hold exactly the
//!   data of the changed tree ([`super::verify`]'s comparison: structure, keys, values with
//!   their types, tags, anchors, aliases) — e.g. a replaced value that had a `!!str` tag,
//!   which the engine's replacement drops.
//!
//! Anchors and aliases need nothing special: an alias names its anchor in the text, so a
//! replaced anchored value is read through every alias and merge key, as in the tree.
//!
//! Values stay in zeroizing buffers; nothing here logs or reports a value.

use zeroize::Zeroizing;

use super::goemit;
use super::manifest::plain_safe;
use super::node::Origin;
use super::{Document, Node, NodeKind, ScalarStyle, Span, parse_stream};

/// The result of [`splice_document`].
pub enum Spliced {
    /// Nothing was replaced: the original text is the document.
    Unchanged,
    /// The original text with the replaced scalars' text changed; it reads back as the tree.
    Text(Zeroizing<String>),
    /// Splicing is not sound here (see the module documentation): write the document with the
    /// manifest writer. The reason is for debug logs (never a value).
    Reemit(&'static str),
}

impl std::fmt::Debug for Spliced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spliced::Unchanged => f.write_str("Unchanged"),
            Spliced::Text(_) => f.write_str("Text([REDACTED])"),
            Spliced::Reemit(why) => write!(f, "Reemit({why})"),
        }
    }
}

/// Where a replaced scalar sits.
#[derive(Clone, Copy)]
struct Place {
    /// Inside a flow collection.
    flow: bool,
    /// The span of its key, when it is a mapping value.
    key: Option<Span>,
}

struct Change<'a> {
    span: Span,
    node: &'a Node,
    place: Place,
}

/// Writes `doc` (parsed from `src` alone, then changed by the render engine) as `src` with only
/// the replaced scalars' text changed, checked by reading it back; see the module
/// documentation.
pub fn splice_document(src: &str, doc: &Document) -> Spliced {
    let changes = match changes(&doc.root) {
        Ok(c) => c,
        Err(why) => return Spliced::Reemit(why),
    };
    if changes.is_empty() {
        return Spliced::Unchanged;
    }
    let text = match write(src, &changes) {
        Ok(t) => t,
        Err(why) => return Spliced::Reemit(why),
    };
    // The last line of defence: the spliced text must hold exactly the tree's data.
    let Ok(back) = parse_stream(&text) else {
        return Spliced::Reemit("spliced text does not parse");
    };
    let [b] = back.as_slice() else {
        return Spliced::Reemit("spliced text is not one document");
    };
    let mut path = String::new();
    if super::verify::diff(&doc.root, &b.root, &mut path).is_some() {
        return Spliced::Reemit("spliced text reads back differently");
    }
    Spliced::Text(text)
}

/// The replaced scalars, in document order, or why splicing is not sound.
fn changes(root: &Node) -> Result<Vec<Change<'_>>, &'static str> {
    let mut out = Vec::new();
    let mut work: Vec<(&Node, Place)> = vec![(
        root,
        Place {
            flow: false,
            key: None,
        },
    )];
    while let Some((n, place)) = work.pop() {
        let Some(span) = n.span() else {
            return Err("a created or restructured node");
        };
        let flow = place.flow || n.flow;
        match &n.kind {
            NodeKind::Scalar(s) => {
                if !s.is_parsed() {
                    out.push(Change {
                        span,
                        node: n,
                        place,
                    });
                }
            }
            NodeKind::Alias(_) => {}
            NodeKind::Sequence(items) => {
                for item in items.iter().rev() {
                    work.push((item, Place { flow, key: None }));
                }
            }
            NodeKind::Mapping(entries) => {
                for (k, v) in entries.iter().rev() {
                    let key = k.span();
                    if key.is_none() || k.as_scalar().is_some_and(|s| !s.is_parsed()) {
                        return Err("a replaced key");
                    }
                    work.push((v, Place { flow, key }));
                    // Keys are walked too (a key can be a collection holding anything).
                    work.push((k, Place { flow, key: None }));
                }
            }
        }
    }
    // Keys pushed after values are popped first: restore source order.
    out.sort_by_key(|c| c.span.start);
    Ok(out)
}

/// The form a replaced value is written in.
enum Form {
    /// One line (plain, quoted or typed text).
    Inline(Zeroizing<String>),
    /// A literal block: header (`|` or `|-`), content lines (each with its line feed), and
    /// where the replaced scalar's text ended (the rest of its line follows the header).
    Literal(&'static str, Zeroizing<String>, usize),
    /// The whole replacement text of a block scalar (header line to its last line).
    Whole(Zeroizing<String>),
}

fn write(src: &str, changes: &[Change<'_>]) -> Result<Zeroizing<String>, &'static str> {
    let mut pieces: Vec<(usize, usize, Form)> = Vec::with_capacity(changes.len());
    let mut last_end = 0usize;
    for c in changes {
        let (start, end) = (c.span.start as usize, c.span.end as usize);
        if start < last_end || end < start || end > src.len() {
            return Err("overlapping or out-of-range spans");
        }
        if !src.is_char_boundary(start) || !src.is_char_boundary(end) {
            return Err("span not on a character boundary");
        }
        let NodeKind::Scalar(s) = &c.node.kind else {
            return Err("not a scalar");
        };
        if matches!(c.span.style, ScalarStyle::Literal | ScalarStyle::Folded) {
            let piece = block_original(src, start, end, s, c.place)
                .ok_or("a replaced block scalar whose header was not found")?;
            last_end = end;
            pieces.push((start, end, piece));
            continue;
        }
        let (form, end) = form(src, start, end, s, c.span.style, c.place);
        last_end = end;
        pieces.push((start, end, form));
    }
    let mut len = src.len();
    for (start, end, f) in &pieces {
        len = len - (end - start)
            + match f {
                Form::Inline(t) | Form::Whole(t) => t.len(),
                Form::Literal(h, body, rest) => {
                    h.len() + body.len() + 1 + end.saturating_sub(*rest)
                }
            };
    }
    let mut out = Zeroizing::new(String::with_capacity(len));
    let mut at = 0usize;
    for (start, end, f) in &pieces {
        out.push_str(src.get(at..*start).unwrap_or(""));
        match f {
            Form::Inline(t) | Form::Whole(t) => out.push_str(t),
            Form::Literal(header, body, rest) => {
                // The rest of the line (blanks, a comment) stays after the header.
                let line_end = src
                    .get(*rest..)
                    .and_then(|r| r.find('\n'))
                    .map_or(src.len(), |i| rest + i);
                out.push_str(header);
                out.push_str(src.get(*rest..line_end).unwrap_or(""));
                out.push('\n');
                out.push_str(body);
            }
        }
        at = *end;
    }
    out.push_str(src.get(at..).unwrap_or(""));
    Ok(out)
}

/// The form of `s` at `src[start..end]` and the end of the replaced text (past the line feed
/// of the line for a literal block).
fn form(
    src: &str,
    start: usize,
    end: usize,
    s: &super::Scalar,
    was: ScalarStyle,
    place: Place,
) -> (Form, usize) {
    let value = s.value();
    if matches!(s.origin, Origin::Typed | Origin::Float(_)) {
        return (Form::Inline(Zeroizing::new(value.to_owned())), end);
    }
    let a = goemit::analyze(value);
    let single_line = !value.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']);
    let plain_ok = !value.is_empty()
        && single_line
        && plain_safe(value)
        && if place.flow {
            a.flow_plain_allowed
        } else {
            a.block_plain_allowed
        };
    let single_ok = single_line && a.single_quoted_allowed && !value.contains('\t');
    match was {
        ScalarStyle::DoubleQuoted => return (Form::Inline(double_quoted(value)), end),
        ScalarStyle::SingleQuoted if single_ok => {
            return (Form::Inline(single_quoted(value)), end);
        }
        _ => {}
    }
    if plain_ok {
        return (Form::Inline(Zeroizing::new(value.to_owned())), end);
    }
    if was == ScalarStyle::Plain
        && !place.flow
        && let Some((header, body, new_end)) = literal(src, start, end, value, place)
    {
        return (Form::Literal(header, body, end), new_end);
    }
    (Form::Inline(double_quoted(value)), end)
}

/// The replacement of a block scalar (`|`/`>` in the source) at `src[start..end]` (header to
/// the start of the line after its content): a literal block when it can hold the value, else
/// the one-line form; the header line's comment and the blank lines at its end are kept.
fn block_original(
    src: &str,
    start: usize,
    end: usize,
    s: &super::Scalar,
    place: Place,
) -> Option<Form> {
    if end <= start || place.flow || !matches!(src.as_bytes().get(start), Some(b'|' | b'>')) {
        return None;
    }
    let region = src.get(start..end)?;
    let header_len = 1 + region
        .bytes()
        .skip(1)
        .take(2)
        .take_while(|c| matches!(c, b'1'..=b'9' | b'+' | b'-'))
        .count();
    let line_end = start + region.find('\n')?;
    let rest = src.get(start + header_len..line_end)?;
    // Blank lines at the end of the block stay as empty lines.
    let body = src.get(line_end + 1..end)?;
    let blanks = body
        .split_inclusive('\n')
        .rev()
        .take_while(|l| {
            l.trim_start_matches([' ', '\t'])
                .trim_end_matches('\n')
                .is_empty()
        })
        .count();
    let value = s.value();
    let typed = matches!(s.origin, Origin::Typed | Origin::Float(_));
    let mut out = Zeroizing::new(String::new());
    let lit = if typed {
        None
    } else {
        literal_at(src, start, end, value, place)
    };
    let (head, text): (Zeroizing<String>, Option<Zeroizing<String>>) = match lit {
        Some((h, b)) => (Zeroizing::new(h.to_owned()), Some(b)),
        None => match form(
            src,
            start,
            start,
            s,
            ScalarStyle::Plain,
            Place {
                flow: true,
                ..place
            },
        )
        .0
        {
            Form::Inline(t) => (t, None),
            _ => return None,
        },
    };
    out.reserve(head.len() + rest.len() + 1 + text.as_ref().map_or(0, |t| t.len()) + blanks);
    out.push_str(&head);
    out.push_str(rest);
    out.push('\n');
    if let Some(t) = &text {
        out.push_str(t);
    }
    out.extend(std::iter::repeat_n('\n', blanks));
    Some(Form::Whole(out))
}

/// A literal block for `value` replacing the scalar at `src[start..end]` (one-line form: the
/// rest of its line must be blanks or a comment) in block context: (header, content lines, end
/// of the replaced text = past the line's line feed), or `None` when a literal cannot hold it.
fn literal(
    src: &str,
    start: usize,
    end: usize,
    value: &str,
    place: Place,
) -> Option<(&'static str, Zeroizing<String>, usize)> {
    let line_end = src.get(end..)?.find('\n').map_or(src.len(), |i| end + i);
    let rest = src.get(end..line_end)?;
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if !(trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len())) {
        return None;
    }
    let after = (line_end + 1).min(src.len());
    let (header, body) = literal_at(src, start, after, value, place)?;
    Some((header, body, after))
}

/// A literal block for `value` starting at `start` whose text ends at `after` (a line start):
/// (header, content lines), or `None`.
fn literal_at(
    src: &str,
    start: usize,
    after: usize,
    value: &str,
    place: Place,
) -> Option<(&'static str, Zeroizing<String>)> {
    let a = goemit::analyze(value);
    if place.flow || !a.multiline || !a.block_allowed {
        return None;
    }
    // Auto-detected indentation: the first line must start with content; one final line
    // feed at most (`|+` would take the blank lines after it); no line break YAML 1.1
    // readers see differently.
    if value.starts_with([' ', '\t', '\n']) || value.ends_with("\n\n") {
        return None;
    }
    if value.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}', '\u{feff}']) {
        return None;
    }
    // Content indentation: more than the parent's (the key's column for a mapping value on
    // the key's line; else the scalar's own column, which is always deeper than its parent).
    let line_start = src.get(..start)?.rfind('\n').map_or(0, |i| i + 1);
    let column = |at: usize| src.get(line_start..at).map(|p| p.chars().count());
    let indent = match place.key {
        Some(k) if (k.start as usize) >= line_start && (k.start as usize) < start => {
            column(k.start as usize)? + 2
        }
        _ => column(start)?,
    };
    if indent == 0 {
        return None;
    }
    // The lines after must not continue the block: blank lines of spaces shorter than the
    // indentation, then a line indented less (or the end).
    for line in src.get(after..)?.split('\n') {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        if line.trim_start_matches(' ').is_empty() {
            if spaces >= indent {
                return None;
            }
            continue;
        }
        if spaces >= indent || line.trim_start_matches(' ').starts_with('\t') {
            return None;
        }
        break;
    }
    let header = if value.ends_with('\n') { "|" } else { "|-" };
    let body_text = value.strip_suffix('\n').unwrap_or(value);
    let lines = body_text.split('\n').count();
    let mut body = Zeroizing::new(String::with_capacity(
        body_text.len() + lines * (indent + 1),
    ));
    for l in body_text.split('\n') {
        if !l.is_empty() {
            body.extend(std::iter::repeat_n(' ', indent));
            body.push_str(l);
        }
        body.push('\n');
    }
    Some((header, body))
}

fn single_quoted(value: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(value.len() * 2 + 2));
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// YAML's printable set (1.1 and 1.2), less the byte order mark.
fn printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// One line, double-quoted, with the escapes YAML 1.1 and 1.2 readers share.
pub(crate) fn double_quoted(value: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(value.len() * 4 + 2));
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if printable(c) => out.push(c),
            c => {
                let n = c as u32;
                let (p, digits) = if n <= 0xff {
                    ("\\x", 2)
                } else if n <= 0xffff {
                    ("\\u", 4)
                } else {
                    ("\\U", 8)
                };
                out.push_str(p);
                for k in (0..digits).rev() {
                    let d = (n >> (k * 4)) & 0xf;
                    out.push(char::from_digit(d, 16).map_or('0', |c| c.to_ascii_uppercase()));
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[path = "splice_tests.rs"]
mod tests;
