//! `parse_stream`: granit-parser events → [`Document`]s, with comments attached in go-yaml v3's
//! head / line / foot model.

use super::node::{Document, Node, NodeKind, Pos, Scalar, ScalarStyle};
use super::{Error, Text};
use granit_parser::{Event, Parser, Span, StructureStyle};

/// Parses a YAML stream (one or more documents).
///
/// Errors carry line and column and never a scalar value.
pub fn parse_stream(src: &str) -> Result<Vec<Document>, Error> {
    let mut opts = granit_parser::options! { emit_anchor_events: true };
    opts.max_buffered_comment_events = usize::MAX / 2;
    let mut b = Builder {
        src,
        docs: Vec::new(),
        stack: Vec::new(),
        pending: Vec::new(),
        last_line: 0,
        last_end: 0,
        doc: None,
        last: Last::None,
    };
    for ev in Parser::new_from_str_with_options(src, opts) {
        let (ev, span) = ev.map_err(Error::from_scan)?;
        b.event(ev, span)?;
    }
    Ok(b.docs)
}

struct Frame {
    node: Node,
    key: Option<Node>,
    indent: usize,
    /// A block sequence at the same indentation as its parent mapping's keys.
    indentless: bool,
}

struct DocState {
    root: Option<Node>,
    explicit: bool,
}

/// What the last event produced, for `&anchor` events and end-of-line comments.
#[derive(Clone, Copy, PartialEq)]
enum Last {
    None,
    /// A collection just started (the top frame).
    FrameStart,
    /// A node was attached to the top frame (or became the root).
    Attached,
}

struct Builder<'a> {
    src: &'a str,
    docs: Vec<Document>,
    stack: Vec<Frame>,
    /// Own-line comments not attached yet: (column, blank line before it, text).
    pending: Vec<(usize, bool, Text)>,
    /// The last source line that held content or a comment.
    last_line: usize,
    doc: Option<DocState>,
    last: Last,
    /// The furthest byte any event so far ended at (where a block scalar's header search
    /// starts).
    last_end: usize,
}

fn pos(span: &Span) -> Pos {
    Pos {
        line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        col: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
    }
}

fn byte_span(span: &Span, style: ScalarStyle) -> Option<super::node::Span> {
    let r = span.byte_range()?;
    Some(super::node::Span {
        start: u32::try_from(r.start).ok()?,
        end: u32::try_from(r.end).ok()?,
        style,
    })
}

/// The span of a block scalar from its header (`|`/`>`) to the start of the line after its
/// content, or `None` (the parser's span starts at the content). The header is found by
/// reading forward from `from` (where the previous event ended) over blanks, line breaks,
/// comments, the `:`/`-`/`?` indicators and properties (`&a`, `!t`).
fn block_span(
    src: &str,
    from: usize,
    span: &Span,
    style: ScalarStyle,
) -> Option<super::node::Span> {
    let r = span.byte_range()?;
    let b = src.as_bytes();
    let mut i = from;
    let header = loop {
        if i >= r.start {
            return None;
        }
        let after_blank =
            i == from || matches!(b.get(i.wrapping_sub(1)), Some(b' ' | b'\t' | b'\n'));
        match *b.get(i)? {
            b' ' | b'\t' | b'\n' => i += 1,
            b'#' if after_blank => {
                i = src.get(i..)?.find('\n').map_or(b.len(), |n| i + n);
            }
            b':' | b'-' | b'?' if matches!(b.get(i + 1), Some(b' ' | b'\t' | b'\n')) => i += 1,
            b'&' | b'!' => {
                while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n') {
                    i += 1;
                }
            }
            b'|' | b'>' => break i,
            _ => return None,
        }
    };
    let header_line_end = src.get(header..)?.find('\n').map(|n| header + n)?;
    let end = if r.end >= b.len() || b.get(r.end.checked_sub(1)?) == Some(&b'\n') {
        r.end
    } else {
        src.get(..r.end)?.rfind('\n')? + 1
    };
    if end <= header_line_end {
        return None;
    }
    Some(super::node::Span {
        start: u32::try_from(header).ok()?,
        end: u32::try_from(end).ok()?,
        style,
    })
}

fn short_tag(tag: &granit_parser::Tag) -> String {
    if tag.handle() == "!" {
        return format!("!{}", tag.suffix());
    }
    let full = format!("{}{}", tag.handle(), tag.suffix());
    match full.strip_prefix("tag:yaml.org,2002:") {
        Some(rest) => format!("!!{rest}"),
        None => format!("!<{full}>"),
    }
}

impl Builder<'_> {
    fn event(&mut self, ev: Event<'_>, span: Span) -> Result<(), Error> {
        let is_map = matches!(ev, Event::MappingStart(..));
        let prev_line = self.last_line;
        let prev_end = self.last_end;
        if let Some(r) = span.byte_range()
            && !matches!(ev, Event::Scalar(..))
        {
            self.last_end = self.last_end.max(r.end);
        }
        if !matches!(
            ev,
            Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd | Event::StreamEnd
        ) && span.end.index() > span.start.index()
        {
            // A block scalar's span ends at the start of the line after its content.
            let end = if span.end.col() == 0 && span.end.line() > span.start.line() {
                span.end.line() - 1
            } else {
                span.end.line()
            };
            self.last_line = self.last_line.max(end);
        }
        match ev {
            Event::StreamStart | Event::StreamEnd if !self.pending.is_empty() => {
                let pending = std::mem::take(&mut self.pending);
                if let Some(d) = self.docs.last_mut() {
                    let target = if d.root.is_mapping() || d.root.is_sequence() {
                        &mut d.root.comments_mut().foot
                    } else {
                        &mut d.foot_comments
                    };
                    target.extend(pending.into_iter().map(|(_, _, t)| t));
                }
            }
            Event::DocumentStart(explicit, _) => {
                self.doc = Some(DocState {
                    root: None,
                    explicit,
                });
                self.last = Last::None;
            }
            Event::DocumentEnd => self.end_document(),
            Event::Comment(text, placement) => {
                let text = Text::new(text.into_owned());
                // A comment to the right of `- ` on a line where no node ended yet
                // (`- # c\n  k: v`) is not the previous node's: it goes to what follows.
                if placement == granit_parser::Placement::Right
                    && span.start.line() <= prev_line
                    && let Some(n) = self.last_node()
                {
                    let c = n.comments_mut();
                    if c.line.is_none() {
                        c.line = Some(text);
                    } else {
                        c.foot.insert(0, text);
                    }
                    return Ok(());
                }
                let blank_before = prev_line > 0 && span.start.line() > prev_line + 1;
                self.pending.push((span.start.col(), blank_before, text));
            }
            Event::Anchor(_, name) => {
                if let Some(n) = self.last_node() {
                    n.anchor = Some(name.into_owned());
                }
            }
            Event::Alias(_) => {
                let name = span
                    .slice(self.src)
                    .and_then(|s| s.strip_prefix('*'))
                    .unwrap_or("")
                    .to_owned();
                let mut n = Node::new(NodeKind::Alias(name));
                n.pos = pos(&span);
                n.set_span(byte_span(&span, ScalarStyle::Plain));
                self.attach(n);
            }
            Event::UnresolvedAlias(_) => {
                return Err(Error::new(pos(&span), "alias to an unknown anchor"));
            }
            Event::Scalar(value, style, _, tag) => {
                let style = match style {
                    granit_parser::ScalarStyle::Plain => ScalarStyle::Plain,
                    granit_parser::ScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                    granit_parser::ScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                    granit_parser::ScalarStyle::Literal => ScalarStyle::Literal,
                    granit_parser::ScalarStyle::Folded => ScalarStyle::Folded,
                };
                // granit reports an empty node as a plain "~" with an empty span.
                let value = if style == ScalarStyle::Plain
                    && span.byte_range().is_some_and(|r| r.is_empty())
                {
                    std::borrow::Cow::Borrowed("")
                } else {
                    value
                };
                // go-yaml (YAML 1.1) treats NEL, LS and PS as line breaks inside quoted
                // scalars and drops the indentation after them; granit (YAML 1.2) keeps it.
                let value =
                    if matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted)
                        && value.contains(['\u{85}', '\u{2028}', '\u{2029}'])
                        && span
                            .slice(self.src)
                            .is_some_and(|r| r.contains(['\u{85}', '\u{2028}', '\u{2029}']))
                    {
                        std::borrow::Cow::Owned(drop_blanks_after_unicode_breaks(&value))
                    } else {
                        value
                    };
                let raw = match style {
                    ScalarStyle::Plain | ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                        span.slice(self.src).and_then(|r| {
                            let differs = match style {
                                ScalarStyle::Plain => r != value.as_ref(),
                                _ => r.len() < 2 || &r[1..r.len() - 1] != value.as_ref(),
                            };
                            (differs && !r.contains(['\n', '\r']) && !r.is_empty())
                                .then(|| Text::from(r))
                        })
                    }
                    _ => None,
                };
                let mut n = Node::scalar(Scalar::parsed(Text::new(value.into_owned()), style, raw));
                n.tag = tag.as_deref().map(short_tag);
                n.pos = pos(&span);
                let node_span = match style {
                    // Without its header the span cannot be spliced: an empty one says so (a
                    // block scalar that is replaced had content).
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        block_span(self.src, prev_end, &span, style).or_else(|| {
                            byte_span(&span, style).map(|s| super::node::Span { end: s.start, ..s })
                        })
                    }
                    _ => byte_span(&span, style),
                };
                if let Some(r) = span.byte_range() {
                    self.last_end = self.last_end.max(r.end);
                }
                n.set_span(node_span);
                self.attach(n);
            }
            Event::SequenceStart(style, _, tag) | Event::MappingStart(style, _, tag) => {
                let mut node = Node::new(if is_map {
                    NodeKind::Mapping(Vec::new())
                } else {
                    NodeKind::Sequence(Vec::new())
                });
                node.flow = style == StructureStyle::Flow;
                if node.flow && !self.pending.is_empty() {
                    // Own-line comments before a flow collection are its head (a flow
                    // collection would otherwise take them as its foot at its end).
                    node.comments_mut().head = self.pending.drain(..).map(|(_, _, t)| t).collect();
                }
                node.tag = tag.as_deref().map(short_tag);
                node.pos = pos(&span);
                node.set_span(byte_span(&span, ScalarStyle::Plain));
                let indent = span.start.col();
                let indentless = !is_map
                    && !node.flow
                    && self
                        .stack
                        .last()
                        .is_some_and(|p| p.node.is_mapping() && !p.node.flow && p.indent == indent);
                self.stack.push(Frame {
                    node,
                    key: None,
                    indent,
                    indentless,
                });
                self.last = Last::FrameStart;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(mut f) = self.stack.pop() else {
                    return Ok(());
                };
                if let Some(k) = f.key.take() {
                    // A key without value cannot come from the parser; keep it as null.
                    if let NodeKind::Mapping(m) = &mut f.node.kind {
                        m.push((
                            k,
                            Node::scalar(Scalar::parsed(Text::default(), ScalarStyle::Plain, None)),
                        ));
                    }
                }
                // Own-line comments after the last entry, indented at least like the entries,
                // are the collection's foot.
                // Own-line comments after the last entry, indented at least like the entries,
                // belong to this collection (the first ones that do; a comment further left
                // and everything after it belong to an outer collection). Like go-yaml, they
                // become the foot of the last key (mapping) or last element (sequence).
                // A blank line ends the run (later comments are heads of what follows), except
                // before the first comment.
                let take = self
                    .pending
                    .iter()
                    .enumerate()
                    .take_while(|(i, (col, blank, _))| {
                        (*i == 0 || !*blank)
                            && (f.node.flow
                                || (*col >= f.indent && !(f.indentless && *col == f.indent)))
                    })
                    .count();
                if take > 0 {
                    let foot: Vec<Text> = self.pending.drain(..take).map(|(_, _, t)| t).collect();
                    let target = match &mut f.node.kind {
                        NodeKind::Mapping(entries) => entries.last_mut().map(|(k, _)| k),
                        NodeKind::Sequence(items) => items.last_mut(),
                        _ => None,
                    };
                    match target {
                        Some(t) => t.comments_mut().foot.extend(foot),
                        None => f.node.comments_mut().foot.extend(foot),
                    }
                }
                let n = f.node;
                self.attach_complete(n);
            }
            _ => {}
        }
        Ok(())
    }

    fn end_document(&mut self) {
        let Some(d) = self.doc.take() else { return };
        let pending: Vec<Text> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(_, _, t)| t)
            .collect();
        let mut doc = match d.root {
            Some(root) => Document::new(root),
            None => Document::new(Node::scalar(Scalar::parsed(
                Text::default(),
                ScalarStyle::Plain,
                None,
            ))),
        };
        doc.explicit_start = d.explicit;
        if !pending.is_empty() {
            if doc.is_empty() {
                doc.head_comments = pending;
            } else if doc.root.is_mapping() || doc.root.is_sequence() {
                doc.root.comments_mut().foot.extend(pending);
            } else {
                doc.foot_comments = pending;
            }
        }
        self.docs.push(doc);
        self.last = Last::None;
    }

    /// Attaches a scalar/alias node: pending own-line comments become its head.
    fn attach(&mut self, mut n: Node) {
        if !self.pending.is_empty() {
            let head: Vec<Text> = self.pending.drain(..).map(|(_, _, t)| t).collect();
            n.comments_mut().head = head;
        }
        self.attach_complete(n);
    }

    fn attach_complete(&mut self, n: Node) {
        self.last = Last::Attached;
        let Some(top) = self.stack.last_mut() else {
            if let Some(d) = &mut self.doc {
                d.root = Some(n);
            }
            return;
        };
        match &mut top.node.kind {
            NodeKind::Sequence(items) => items.push(n),
            NodeKind::Mapping(entries) => match top.key.take() {
                None => top.key = Some(n),
                Some(k) => entries.push((k, n)),
            },
            _ => {}
        }
    }

    /// The node the last event produced (for anchors and end-of-line comments).
    fn last_node(&mut self) -> Option<&mut Node> {
        match self.last {
            Last::None => None,
            Last::FrameStart => self.stack.last_mut().map(|f| &mut f.node),
            Last::Attached => match self.stack.last_mut() {
                None => self.doc.as_mut().and_then(|d| d.root.as_mut()),
                Some(f) => {
                    if f.key.is_some() {
                        return f.key.as_mut();
                    }
                    match &mut f.node.kind {
                        NodeKind::Sequence(items) => items.last_mut(),
                        NodeKind::Mapping(entries) => entries.last_mut().map(|(_, v)| v),
                        _ => None,
                    }
                }
            },
        }
    }
}

fn drop_blanks_after_unicode_breaks(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut skipping = false;
    for c in v.chars() {
        if skipping && (c == ' ' || c == '\t') {
            continue;
        }
        skipping = matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}');
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(n: &Node) -> Vec<String> {
        n.comments()
            .head
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect()
    }

    #[test]
    fn comments_attach_like_go_yaml() {
        let src = "# head comment 1\n# head comment 2\n\nkey1: value1 # line comment on key1\n# between keys\nkey2:\n    # inside map head\n    sub1: a # line on sub1\n    sub2: b\n    # foot of map\nkey3:\n    - item1 # line on item1\n    # between items\n    - item2\n    # after items\nkey4: last\n# trailing comment at end\n";
        let docs = parse_stream(src).unwrap();
        assert_eq!(docs.len(), 1);
        let root = &docs[0].root;
        let m = root.as_mapping().unwrap();
        assert_eq!(heads(&m[0].0), [" head comment 1", " head comment 2"]);
        assert_eq!(
            m[0].1.comments().line.as_ref().map(|t| t.as_str()),
            Some(" line comment on key1")
        );
        assert_eq!(heads(&m[1].0), [" between keys"]);
        let sub = m[1].1.as_mapping().unwrap();
        assert_eq!(heads(&sub[0].0), [" inside map head"]);
        assert_eq!(sub[1].0.comments().foot[0].as_str(), " foot of map");
        let seq = m[2].1.as_sequence().unwrap();
        assert_eq!(
            seq[0].comments().line.as_ref().map(|t| t.as_str()),
            Some(" line on item1")
        );
        assert_eq!(heads(&seq[1]), [" between items"]);
        assert_eq!(seq[1].comments().foot[0].as_str(), " after items");
        assert_eq!(
            m[3].0.comments().foot[0].as_str(),
            " trailing comment at end"
        );
    }

    #[test]
    fn scalars_keep_style_raw_tag_anchor() {
        let src =
            "a: &x 'it''s'\nb: \"\\u00e9\"\nc: !!str 12\nd: *x\ne: plain\n  folded\nf: |\n  lit\n";
        let docs = parse_stream(src).unwrap();
        let r = &docs[0].root;
        let a = r.get("a").unwrap();
        assert_eq!(a.anchor.as_deref(), Some("x"));
        let s = a.as_scalar().unwrap();
        assert_eq!(s.value(), "it's");
        assert_eq!(s.style(), ScalarStyle::SingleQuoted);
        assert_eq!(s.raw(), Some("'it''s'"));
        let b = r.get("b").unwrap().as_scalar().unwrap();
        assert_eq!(b.value(), "é");
        assert_eq!(b.raw(), Some("\"\\u00e9\""));
        assert_eq!(r.get("c").unwrap().tag.as_deref(), Some("!!str"));
        assert_eq!(r.get("d").unwrap().kind, NodeKind::Alias("x".into()));
        assert_eq!(r.get("e").unwrap().as_str(), Some("plain folded"));
        let f = r.get("f").unwrap().as_scalar().unwrap();
        assert_eq!((f.value(), f.style()), ("lit\n", ScalarStyle::Literal));
        assert_eq!(r.get("e").unwrap().pos, Pos { line: 5, col: 4 });
    }

    #[test]
    fn multi_document_and_empty_documents() {
        let docs = parse_stream("a: 1\n---\n---\nb: 2\n...\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert!(docs[1].is_empty());
        assert!(docs[1].explicit_start);
        assert_eq!(docs[2].root.get("b").and_then(Node::as_str), Some("2"));
        assert!(parse_stream("").unwrap().is_empty());
    }

    #[test]
    fn errors_have_position_and_no_value() {
        let e = parse_stream("a: 1\nb: [secretvalue\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
        assert!(!e.to_string().contains("secretvalue"), "{e}");
        let e = parse_stream("a: b: hunter2\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(!e.to_string().contains("hunter2"));
        let e = parse_stream("a: *nope\n").unwrap_err();
        assert!(!e.message.is_empty());
    }

    #[test]
    fn alias_expansion_with_budget() {
        let mut docs = parse_stream("a: &x {k: v}\nb: *x\n").unwrap();
        docs[0].expand_aliases(100).unwrap();
        assert_eq!(
            docs[0].root.get_path(&["b", "k"]).and_then(Node::as_str),
            Some("v")
        );
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
        let mut docs = parse_stream(bomb).unwrap();
        assert!(docs[0].expand_aliases(1000).is_err());
    }
}
