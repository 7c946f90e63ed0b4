//! The streaming front of the render engine: documents are found at the TEXT level, and a
//! document that cannot hold a reference is copied to the output byte for byte, without ever
//! being parsed into a tree.
//!
//! # The split
//! A stream is cut at its `---` lines: `---` at column 0 followed by a space, a tab or the end of
//! the line. A YAML parser always ends the current document there (a document marker cannot
//! occur inside any scalar or collection), so the cut is the parser's. Comment and blank lines
//! before the first `---` are not a document of their own: they are kept with the document after
//! them. Anything less plain makes the whole file go through the full parser as before: a `...`
//! document end, a directive (`%` at column 0), content after `---` on its line (`--- |`,
//! `--- !tag`, `--- # c`), a byte order mark, a carriage return, a NEL/LS/PS line break (line
//! breaks for YAML 1.1 readers), control characters, or JSON input.
//!
//! # Triage
//! A document is parsed (as before) when its text might hold a reference or anything that needs
//! the tree — the caller's predicate (`<`, `ref+`, `\` escapes, annotations, `Secret`,
//! `binaryData`, see [`crate::resolve`]) or `sops` (a sops-encrypted file is skipped) — or
//! when [`simple_kind`] cannot prove from its first lines that it is a Kubernetes object (a
//! document without `kind` is skipped with a warning, which needs the parser to be exact). Every
//! other document is a *passthrough*: its text is written as it was read. If parsing a single
//! document's text fails or does not give exactly one document, the whole file is parsed as
//! before (the error message is the full parser's).
//!
//! Passthrough text is not validated as YAML: it is written unchanged and read by whatever
//! reads the output (kubectl, Argo CD), exactly as if sealbridge had not been in the pipeline.
//!
//! # Memory
//! Per file the engine keeps its text (read once) and a list of *runs*: consecutive passthrough
//! documents are one item (a byte range), so 10^6 tiny documents cost one item. Only parsed
//! documents become trees. [`Output`] refers to the input texts instead of copying them;
//! re-emitted documents (the only text that can hold resolved values) are zeroizing strings.

use std::fmt;
use std::ops::Range;

use zeroize::Zeroizing;

use super::{Input, Origin, ReadError, Skipped};
use crate::yaml::{self, Document, EmitCheckError};

/// One document's text in a stream (byte ranges into the stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Its whole text: leading comment/blank lines (only before the first `---` of the
    /// stream), the `---` line, the body.
    pub text: Range<usize>,
    /// The body (after the `---` line).
    pub body: Range<usize>,
    /// The text has a `---` line.
    pub marker: bool,
    /// The body holds something other than blank lines and comments (a document without
    /// content is empty: it is not written).
    pub content: bool,
}

/// The stream needs the full parser (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unusual;

/// Splits `text` into its documents, in order (the parser's document indexes), or says that it
/// is unusual (then the caller discards what it got and parses the text). Call
/// [`unusual_bytes`] first: the splitter assumes `\n` is the only line break.
pub fn split(text: &str) -> Split<'_> {
    Split {
        bytes: text.as_bytes(),
        pos: 0,
        done: false,
    }
}

/// The iterator of [`split`].
#[derive(Debug)]
pub struct Split<'a> {
    bytes: &'a [u8],
    pos: usize,
    done: bool,
}

/// What a line is, for the splitter.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A `---` line (nothing but blanks after it).
    Marker,
    /// Blank, or only a comment.
    Empty,
    Content,
}

impl Split<'_> {
    /// The end of the line that starts at `i` (after its `\n`, or the end of the text).
    fn line_end(&self, i: usize) -> usize {
        match self.bytes.get(i..).and_then(|rest| find_byte(rest, b'\n')) {
            Some(n) => i + n + 1,
            None => self.bytes.len(),
        }
    }

    fn classify(&self, i: usize, end: usize) -> Result<Line, Unusual> {
        let line = self.bytes.get(i..end).unwrap_or(&[]);
        let blank_or_eol = |b: Option<&u8>| matches!(b, None | Some(b' ' | b'\t' | b'\n'));
        if line.starts_with(b"---") && blank_or_eol(line.get(3)) {
            let rest = line.get(3..).unwrap_or(&[]);
            return if rest.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n')) {
                Ok(Line::Marker)
            } else {
                Err(Unusual)
            };
        }
        if (line.starts_with(b"...") && blank_or_eol(line.get(3))) || line.first() == Some(&b'%') {
            return Err(Unusual);
        }
        match line.iter().find(|b| !matches!(b, b' ' | b'\t')) {
            None | Some(b'\n' | b'#') => Ok(Line::Empty),
            Some(_) => Ok(Line::Content),
        }
    }

    /// Lines from `from` up to the next `---` line: (where that line starts or the end of the
    /// text, whether there was content).
    fn to_marker(&self, from: usize) -> Result<(usize, bool), Unusual> {
        let mut i = from;
        let mut content = false;
        while i < self.bytes.len() {
            let end = self.line_end(i);
            match self.classify(i, end)? {
                Line::Marker => return Ok((i, content)),
                Line::Content => content = true,
                Line::Empty => {}
            }
            i = end;
        }
        Ok((i, content))
    }
}

impl Iterator for Split<'_> {
    type Item = Result<Segment, Unusual>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.step();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

impl Split<'_> {
    fn step(&mut self) -> Option<Result<Segment, Unusual>> {
        let start = self.pos;
        let len = self.bytes.len();
        if start >= len && start > 0 {
            return None;
        }
        // At a `---` line, or at the start of the stream (maybe before the first marker).
        let first_end = self.line_end(start);
        let at_marker = match self.classify(start, first_end) {
            Ok(l) => l == Line::Marker && start < len,
            Err(u) => return Some(Err(u)),
        };
        let body_start = if at_marker {
            first_end
        } else {
            // Only the stream start can be without a marker.
            match self.to_marker(start) {
                Err(u) => return Some(Err(u)),
                Ok((m, true)) => {
                    self.pos = m;
                    return Some(Ok(Segment {
                        text: start..m,
                        body: start..m,
                        marker: false,
                        content: true,
                    }));
                }
                Ok((m, false)) if m >= len => return None,
                // Leading comments: kept with the document of the first marker.
                Ok((m, false)) => self.line_end(m),
            }
        };
        match self.to_marker(body_start) {
            Err(u) => Some(Err(u)),
            Ok((m, content)) => {
                self.pos = m;
                if m >= len {
                    self.done = true;
                }
                Some(Ok(Segment {
                    text: start..m,
                    body: body_start..m,
                    marker: true,
                    content,
                }))
            }
        }
    }
}

/// The first `b` in `hay` (the standard library's `memchr` path).
fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    hay.iter().position(|&x| x == b)
}

/// Bytes that make a text unusual for the splitter: control characters other than tab and
/// line feed (a carriage return among them), DEL, C1 controls (NEL among them), a byte order
/// mark, U+2028/U+2029, U+FFFE/U+FFFF.
pub fn unusual_bytes(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter().enumerate().any(|(i, &x)| match x {
        b'\t' | b'\n' => false,
        0..=0x1f | 0x7f => true,
        0xc2 => b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
        0xe2 => {
            b.get(i + 1..i + 3) == Some(&[0x80, 0xa8]) || b.get(i + 1..i + 3) == Some(&[0x80, 0xa9])
        }
        0xef => matches!(
            b.get(i + 1..i + 3),
            Some([0xbb, 0xbf] | [0xbf, 0xbe] | [0xbf, 0xbf])
        ),
        _ => false,
    })
}

/// True when the body's first lines prove that the document is a block mapping with a
/// non-empty string `kind`: every content line before the `kind` line is a single-line
/// `key: value` at column 0 with a plain key and value of `[A-Za-z0-9_./-]` (no quotes, tags,
/// anchors, flow collections), the `kind` line is `kind: VALUE` of that form with a non-empty
/// value (an optional ` # comment` after), and no later line at column 0 could be another
/// `kind` key (it starts with `kind`, a quote, `?`, `*`, `&`, `!`, `{`, `[`, `|`, `>` or `%`).
/// False means "parse it and see", never "it is not an object".
pub fn simple_kind(body: &str) -> bool {
    let mut seen_kind = false;
    for line in body.split('\n') {
        let b = line.as_bytes();
        let Some(first) = b.iter().position(|c| !matches!(c, b' ' | b'\t')) else {
            continue;
        };
        if b.get(first) == Some(&b'#') {
            continue;
        }
        if first > 0 {
            // Indented content: fine below `kind`, not before it.
            if seen_kind {
                continue;
            }
            return false;
        }
        if seen_kind {
            let risky = line.starts_with("kind")
                || matches!(
                    b.first(),
                    Some(
                        b'"' | b'\'' | b'?' | b'*' | b'&' | b'!' | b'{' | b'[' | b'|' | b'>' | b'%'
                    )
                );
            if risky {
                return false;
            }
            continue;
        }
        let Some((key, value)) = simple_entry(line) else {
            return false;
        };
        if key == "kind" {
            if value.is_empty() {
                return false;
            }
            seen_kind = true;
        }
    }
    seen_kind
}

/// `key: value` (value possibly empty, optional ` # comment`) with simple plain tokens.
fn simple_entry(line: &str) -> Option<(&str, &str)> {
    let token = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-'))
            && s.bytes().next().is_none_or(|c| c.is_ascii_alphanumeric())
    };
    let (key, rest) = line.split_once(':')?;
    if key.is_empty() || !token(key) {
        return None;
    }
    if rest.is_empty() {
        return Some((key, ""));
    }
    let rest = rest.strip_prefix(' ')?.trim_start_matches(' ');
    let (value, after) = match rest.find(' ') {
        Some(n) => rest.split_at(n),
        None => (rest, ""),
    };
    let after = after.trim_start_matches(' ');
    if !token(value) || !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    Some((key, value))
}

/// One input text.
struct Source {
    name: String,
    text: Zeroizing<String>,
}

/// What the output is made of, in order.
#[derive(Debug, Clone)]
enum Item {
    /// Passthrough documents: a byte range of source `source`; `marker` when it has a `---`
    /// line (else one is written before it unless it is the first thing written).
    Text {
        source: usize,
        range: Range<usize>,
        marker: bool,
    },
    /// A parsed document (index into [`Stream::docs`]).
    Doc(usize),
}

/// Where a parsed document's text is (documents parsed alone from their segment; the
/// documents of a file that went through the full parser have none).
#[derive(Debug, Clone)]
struct DocText {
    source: usize,
    range: Range<usize>,
    marker: bool,
}

/// Every input, triaged: passthrough runs and parsed documents, in input order.
pub struct Stream {
    sources: Vec<Source>,
    items: Vec<Item>,
    /// The parsed Kubernetes documents (render these).
    pub docs: Vec<Document>,
    /// `origins[i]` describes `docs[i]`.
    pub origins: Vec<Origin>,
    /// Documents left out.
    pub skipped: Vec<Skipped>,
    /// How many documents pass through unparsed.
    pub passthrough: usize,
    /// `texts[i]`: the text `docs[i]` was parsed from, when it was parsed alone.
    texts: Vec<Option<DocText>>,
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("sources", &self.sources.len())
            .field("items", &self.items.len())
            .field("docs", &self.docs.len())
            .field("passthrough", &self.passthrough)
            .finish_non_exhaustive()
    }
}

/// Reads every input (as [`super::load`]) and triages its documents. `needs_tree(text)` says
/// whether a document's text might hold something the render engine must see (references,
/// annotations, base64 data).
pub fn load_stream(
    inputs: &[Input],
    needs_tree: &dyn Fn(&str) -> bool,
) -> Result<Stream, Vec<ReadError>> {
    let (read, mut errors) = super::read_sources(inputs);
    let mut stream = Stream {
        sources: Vec::with_capacity(read.len()),
        items: Vec::new(),
        docs: Vec::new(),
        origins: Vec::new(),
        skipped: Vec::new(),
        passthrough: 0,
        texts: Vec::new(),
    };
    for (name, text, json) in read {
        let source = stream.sources.len();
        match add_source(&mut stream, source, &name, &text, json, needs_tree) {
            Ok(()) => stream.sources.push(Source { name, text }),
            Err(message) => errors.push(ReadError {
                file: name,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(stream)
    } else {
        Err(errors)
    }
}

/// What one file contributes (built aside so that a fallback can drop it).
#[derive(Default)]
struct FilePart {
    items: Vec<Item>,
    docs: Vec<Document>,
    origins: Vec<Origin>,
    skipped: Vec<Skipped>,
    passthrough: usize,
    texts: Vec<Option<DocText>>,
}

fn add_source(
    stream: &mut Stream,
    source: usize,
    name: &str,
    text: &str,
    json: bool,
    needs_tree: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let looks_json = json || text.trim_start().starts_with(['{', '[']);
    let part = if looks_json || unusual_bytes(text) {
        None
    } else {
        triaged(source, name, text, needs_tree)
    };
    let part = match part {
        Some(p) => p,
        None => whole(name, text, json)?,
    };
    let base = stream.docs.len();
    for item in part.items {
        match item {
            Item::Doc(i) => stream.items.push(Item::Doc(base + i)),
            t @ Item::Text { .. } => stream.items.push(t),
        }
    }
    stream.docs.extend(part.docs);
    stream.origins.extend(part.origins);
    stream.skipped.extend(part.skipped);
    stream.passthrough += part.passthrough;
    stream.texts.extend(part.texts);
    Ok(())
}

/// The file through the full parser (as [`super::load`]).
fn whole(name: &str, text: &str, json: bool) -> Result<FilePart, String> {
    let docs = super::parse_source(text, json)?;
    let mut loaded = super::Loaded::default();
    super::classify(name, docs, &mut loaded);
    let mut part = FilePart {
        skipped: loaded.skipped,
        ..FilePart::default()
    };
    for (i, d) in loaded.documents.into_iter().enumerate() {
        part.items.push(Item::Doc(i));
        part.docs.push(d.doc);
        part.origins.push(d.origin);
        part.texts.push(None);
    }
    Ok(part)
}

/// The file split and triaged, or `None` when it must go through the full parser.
fn triaged(
    source: usize,
    name: &str,
    text: &str,
    needs_tree: &dyn Fn(&str) -> bool,
) -> Option<FilePart> {
    let looks_at = |t: &str| needs_tree(t) || t.contains("sops");
    // Most files hold no trigger at all: then no document needs the per-document look.
    let file_triggers = looks_at(text);
    let mut part = FilePart::default();
    for (index, seg) in split(text).enumerate() {
        let seg = seg.ok()?;
        if !seg.content {
            continue;
        }
        let t = text.get(seg.text.clone())?;
        let parse = (file_triggers && looks_at(t)) || !simple_kind(text.get(seg.body.clone())?);
        if !parse {
            part.passthrough += 1;
            if let Some(Item::Text {
                source: s, range, ..
            }) = part.items.last_mut()
                && *s == source
                && range.end == seg.text.start
            {
                range.end = seg.text.end;
                continue;
            }
            part.items.push(Item::Text {
                source,
                range: seg.text,
                marker: seg.marker,
            });
            continue;
        }
        let mut docs = yaml::parse_stream(t).ok()?;
        let doc = docs.pop()?;
        if !docs.is_empty() || doc.is_empty() {
            return None;
        }
        let mut loaded = super::Loaded::default();
        super::classify(name, vec![doc], &mut loaded);
        for mut s in loaded.skipped {
            s.origin.index = index;
            part.skipped.push(s);
        }
        for mut d in loaded.documents {
            d.origin.index = index;
            part.items.push(Item::Doc(part.docs.len()));
            part.docs.push(d.doc);
            part.origins.push(d.origin);
            part.texts.push(Some(DocText {
                source,
                range: seg.text.clone(),
                marker: seg.marker,
            }));
        }
    }
    Some(part)
}

impl Stream {
    /// The output: passthrough text as read; a parsed document as its text with only the
    /// replaced scalars' text changed ([`yaml::splice_document`], read back), or, when that is
    /// not sound or the document came from the full parser, written by the manifest writer and
    /// read back ([`yaml::emit_manifest_checked`]); `---` between documents. Call after
    /// rendering `docs`.
    pub fn into_output(self) -> Result<Output, EmitCheckError> {
        let mut pieces = Vec::new();
        let mut written = 0usize;
        let mut i = 0;
        let ends_line = |source: usize, end: usize| {
            self.sources
                .get(source)
                .and_then(|s| s.text.as_bytes().get(end.checked_sub(1)?))
                == Some(&b'\n')
        };
        while let Some(item) = self.items.get(i) {
            match item {
                Item::Text {
                    source,
                    range,
                    marker,
                } => {
                    i += 1;
                    if written > 0 && !marker {
                        pieces.push(Piece::Sep);
                    }
                    pieces.push(Piece::Source(*source, range.clone()));
                    if !ends_line(*source, range.end) {
                        pieces.push(Piece::Newline);
                    }
                    written += 1;
                }
                Item::Doc(first) => {
                    i += 1;
                    let (Some(doc), Some(Some(at))) =
                        (self.docs.get(*first), self.texts.get(*first))
                    else {
                        // Consecutive documents of the full parser are written in one call.
                        let mut last = *first;
                        while let Some(Item::Doc(d)) = self.items.get(i)
                            && *d == last + 1
                            && matches!(self.texts.get(*d), Some(None))
                        {
                            last = *d;
                            i += 1;
                        }
                        let docs = self.docs.get(*first..=last).unwrap_or(&[]);
                        let text = yaml::emit_manifest_checked(docs)?;
                        if text.is_empty() {
                            continue;
                        }
                        if written > 0 {
                            pieces.push(Piece::Sep);
                        }
                        pieces.push(Piece::Owned(text));
                        written += 1;
                        continue;
                    };
                    let src = self
                        .sources
                        .get(at.source)
                        .and_then(|s| s.text.get(at.range.clone()))
                        .unwrap_or("");
                    let spliced = yaml::splice_document(src, doc);
                    let (piece, ends) = match spliced {
                        yaml::Spliced::Unchanged => (
                            Piece::Source(at.source, at.range.clone()),
                            ends_line(at.source, at.range.end),
                        ),
                        yaml::Spliced::Text(t) => {
                            let ends = t.ends_with('\n');
                            (Piece::Owned(t), ends)
                        }
                        yaml::Spliced::Reemit(why) => {
                            tracing::debug!(why, "document written by the manifest writer");
                            let text = yaml::emit_manifest_checked(std::slice::from_ref(doc))?;
                            if text.is_empty() {
                                continue;
                            }
                            if written > 0 {
                                pieces.push(Piece::Sep);
                            }
                            pieces.push(Piece::Owned(text));
                            written += 1;
                            continue;
                        }
                    };
                    if written > 0 && !at.marker {
                        pieces.push(Piece::Sep);
                    }
                    pieces.push(piece);
                    if !ends {
                        pieces.push(Piece::Newline);
                    }
                    written += 1;
                }
            }
        }
        Ok(Output {
            sources: self.sources.into_iter().map(|s| s.text).collect(),
            pieces,
        })
    }

    /// The names of the inputs read, in order.
    pub fn source_names(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|s| s.name.as_str())
    }
}

/// A piece of the output.
enum Piece {
    /// A byte range of an input (passthrough documents).
    Source(usize, Range<usize>),
    /// Re-emitted documents (may hold resolved values: zeroizing).
    Owned(Zeroizing<String>),
    /// `---\n` before a document that has no `---` line of its own.
    Sep,
    /// The line feed a file's last line did not have.
    Newline,
}

/// A rendered YAML stream, made of pieces (input text is not copied). Write it with
/// [`Output::parts`]; `Debug` does not show it.
pub struct Output {
    sources: Vec<Zeroizing<String>>,
    pieces: Vec<Piece>,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Output {
    /// The text, piece by piece, in order.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().map(|p| match p {
            Piece::Source(s, r) => self
                .sources
                .get(*s)
                .and_then(|t| t.get(r.clone()))
                .unwrap_or(""),
            Piece::Owned(t) => t.as_str(),
            Piece::Sep => "---\n",
            Piece::Newline => "\n",
        })
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.parts().map(str::len).sum()
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.parts().all(str::is_empty)
    }

    /// The whole text in one (zeroizing) string.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(self.len()));
        for p in self.parts() {
            s.push_str(p);
        }
        s
    }

    /// True when the output holds at least one non-empty document ([`crate::cmp::has_objects`]
    /// over every piece).
    pub fn has_objects(&self) -> bool {
        self.parts().any(crate::cmp::has_objects)
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
