//! A port of go-yaml v3's emitter (go.yaml.in/yaml/v3 v3.0.4 `emitterc.go`, the libyaml
//! emitter with go-yaml's changes): the event state machine, its indentation and comment
//! placement, scalar analysis and style selection, and the scalar writers. sops prints through
//! this emitter, so reproducing it step by step is what makes `emit_sops` byte-identical.
//!
//! One extension for the manifest emitter: [`Style::Verbatim`] writes a single-line source text
//! as is (an untouched scalar keeps its exact spelling).
//!
//! The output buffer is zeroizing: decrypted values pass through it.

use zeroize::{Zeroize, Zeroizing};

/// A string wiped on drop, without the cost of wiping when it never held anything (most
/// comment fields of most events are empty).
#[derive(Default, Debug)]
pub(crate) struct ZStr(String);

impl ZStr {
    pub(crate) fn new() -> Self {
        ZStr(String::new())
    }
    pub(crate) fn push(&mut self, c: char) {
        self.0.push(c);
    }
    pub(crate) fn push_str(&mut self, s: &str) {
        self.0.push_str(s);
    }
}

impl Drop for ZStr {
    fn drop(&mut self) {
        if self.0.capacity() > 0 {
            self.0.zeroize();
        }
    }
}

impl std::ops::Deref for ZStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Scalar styles of the emitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
    /// Extension: the value is already valid single-line YAML text; write it unchanged.
    Verbatim,
}

#[derive(Debug)]
pub(crate) enum EvKind<'a> {
    StreamStart,
    StreamEnd,
    DocStart,
    DocEnd,
    Alias {
        anchor: &'a str,
    },
    Scalar {
        anchor: Option<&'a str>,
        /// Long form (`tag:yaml.org,2002:merge`, `!local`); `None` = implicit.
        tag: Option<&'a str>,
        value: &'a str,
        style: Style,
        /// For [`Style::Verbatim`]: the exact text to write (the value is still what the
        /// analysis looks at).
        raw: Option<&'a str>,
        /// `analyze(value)` when the caller already computed it.
        analysis: Option<Analysis>,
    },
    SeqStart {
        anchor: Option<&'a str>,
        tag: Option<&'a str>,
        flow: bool,
    },
    SeqEnd,
    MapStart {
        anchor: Option<&'a str>,
        tag: Option<&'a str>,
        flow: bool,
    },
    MapEnd,
}

/// An event with go-yaml's comment fields (`#`-prefixed lines joined by `\n`). Everything is
/// borrowed from the node tree: building and dropping events copies no text.
#[derive(Debug)]
pub(crate) struct Ev<'a> {
    pub kind: EvKind<'a>,
    pub head: &'a str,
    pub line: &'a str,
    pub foot: &'a str,
    pub tail: &'a str,
}

impl<'a> Ev<'a> {
    pub(crate) fn new(kind: EvKind<'a>) -> Self {
        Ev {
            kind,
            head: "",
            line: "",
            foot: "",
            tail: "",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StreamStart,
    FirstDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    FlowSequenceFirstItem,
    FlowSequenceTrailItem,
    FlowSequenceItem,
    FlowMappingFirstKey,
    FlowMappingTrailKey,
    FlowMappingKey,
    FlowMappingSimpleValue,
    FlowMappingValue,
    BlockSequenceFirstItem,
    BlockSequenceItem,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingSimpleValue,
    BlockMappingValue,
    End,
}

#[derive(Default)]
struct ScalarData {
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
    style: Option<Style>,
}

/// The result of go-yaml's `yaml_emitter_analyze_scalar`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Analysis {
    pub multiline: bool,
    pub flow_plain_allowed: bool,
    pub block_plain_allowed: bool,
    pub single_quoted_allowed: bool,
    pub block_allowed: bool,
}

// --- character classes (go-yaml yamlprivateh.go), on UTF-8 bytes ---

fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn width(c: u8) -> usize {
    if c & 0x80 == 0 {
        1
    } else if c & 0xE0 == 0xC0 {
        2
    } else if c & 0xF0 == 0xE0 {
        3
    } else if c & 0xF8 == 0xF0 {
        4
    } else {
        1
    }
}

fn is_printable(b: &[u8], i: usize) -> bool {
    let c = at(b, i);
    let c1 = at(b, i + 1);
    let c2 = at(b, i + 2);
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (c == 0xC2 && c1 >= 0xA0)
        || (c > 0xC2 && c < 0xED)
        || (c == 0xED && c1 < 0xA0)
        || c == 0xEE
        || (c == 0xEF && !(c1 == 0xBB && c2 == 0xBF) && !(c1 == 0xBF && (c2 == 0xBE || c2 == 0xBF)))
}

fn is_space(b: &[u8], i: usize) -> bool {
    at(b, i) == b' '
}

fn is_blank(b: &[u8], i: usize) -> bool {
    matches!(at(b, i), b' ' | b'\t')
}

fn is_break(b: &[u8], i: usize) -> bool {
    let c = at(b, i);
    c == b'\r'
        || c == b'\n'
        || (c == 0xC2 && at(b, i + 1) == 0x85)
        || (c == 0xE2 && at(b, i + 1) == 0x80 && (at(b, i + 2) == 0xA8 || at(b, i + 2) == 0xA9))
}

fn is_blankz(b: &[u8], i: usize) -> bool {
    is_blank(b, i) || is_break(b, i) || i >= b.len() || at(b, i) == 0
}

/// go-yaml's `is_bom` looks at the *start* of the value whatever `i` is (a quirk kept on purpose).
fn is_bom(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF
}

fn is_alpha(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// go-yaml's `yaml_emitter_analyze_scalar` (unicode output on).
pub(crate) fn analyze(value: &str) -> Analysis {
    let v = value.as_bytes();
    if v.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut tab_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;

    if v.len() >= 3 && (v.starts_with(b"---") || v.starts_with(b"...")) {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    let mut i = 0;
    while i < v.len() {
        let c = v[i];
        if i > 0
            && (0x21..=0x7E).contains(&c)
            && !matches!(c, b',' | b'?' | b'[' | b']' | b'{' | b'}' | b':' | b'#')
        {
            // Printable ASCII with no meaning after the first position: only resets state.
            previous_space = false;
            previous_break = false;
            preceded_by_whitespace = false;
            i += 1;
            continue;
        }
        let w = width(v[i]);
        let followed_by_whitespace = i + w >= v.len() || is_blank(v, i + w);
        if i == 0 {
            match v[i] {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                b'?' | b':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                b'-' if followed_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match v[i] {
                b',' | b'?' | b'[' | b']' | b'{' | b'}' => flow_indicators = true,
                b':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                b'#' if preceded_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }
        if v[i] == b'\t' {
            tab_characters = true;
        } else if !is_printable(v, i) {
            special_characters = true;
        }
        if is_space(v, i) {
            if i == 0 {
                leading_space = true;
            }
            if i + w == v.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(v, i) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + w == v.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz(v, i);
        i += w;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tab_characters || special_characters {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        a.block_allowed = false;
    }
    if line_breaks {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if flow_indicators {
        a.flow_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// go-yaml's `yaml_emitter_select_scalar_style` for an untagged implicit scalar.
pub(crate) fn select_style(
    requested: Style,
    a: &Analysis,
    value_empty: bool,
    flow: bool,
    simple_key: bool,
) -> Style {
    let mut style = requested;
    if style == Style::Verbatim {
        return style;
    }
    if simple_key && a.multiline {
        style = Style::DoubleQuoted;
    }
    if style == Style::Plain {
        if (flow && !a.flow_plain_allowed) || (!flow && !a.block_plain_allowed) {
            style = Style::SingleQuoted;
        }
        if value_empty && (flow || simple_key) {
            style = Style::SingleQuoted;
        }
    }
    if style == Style::SingleQuoted && !a.single_quoted_allowed {
        style = Style::DoubleQuoted;
    }
    if matches!(style, Style::Literal | Style::Folded) && (!a.block_allowed || flow || simple_key) {
        style = Style::DoubleQuoted;
    }
    style
}

pub(crate) struct Emitter<'e, 'a> {
    out: Zeroizing<Vec<u8>>,
    events: &'e [Ev<'a>],
    head: usize,
    best_indent: i64,
    best_width: i64,
    state: State,
    states: Vec<State>,
    indent: i64,
    indents: Vec<i64>,
    flow_level: i64,
    root_context: bool,
    sequence_context: bool,
    mapping_context: bool,
    simple_key_context: bool,
    column: i64,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    foot_indent: i64,
    head_comment: &'a str,
    line_comment: &'a str,
    foot_comment: &'a str,
    tail_comment: &'a str,
    key_line_comment: &'a str,
    anchor: Option<(&'a str, bool)>,
    tag_handle: &'static str,
    tag_suffix: &'a str,
    scalar_value: &'a str,
    scalar_raw: Option<&'a str>,
    scalar: ScalarData,
    compact_sequence_indent: bool,
    /// Manifest mode: fix go-yaml emitter bugs that change data or write invalid YAML (the
    /// sops emitter keeps them, to stay byte-identical to sops).
    fixed: bool,
    /// The last thing written is a keep-chomped (`+`) block scalar: a blank line now would
    /// become part of its value.
    after_keep: bool,
    keep_chomp: bool,
    /// Output offsets of each document: (before its `---`, after it).
    doc_marks: Vec<(usize, usize)>,
}

const TAG_DIRECTIVES: [(&str, &str); 2] = [("!", "!"), ("!!", "tag:yaml.org,2002:")];

/// Runs the emitter over a complete event stream (StreamStart … StreamEnd), exactly like
/// go-yaml v3 (bugs included).
pub(crate) fn emit(events: &[Ev<'_>], indent: usize) -> Zeroizing<String> {
    run(events, indent, false)
}

/// Like [`emit`], with go-yaml's data-changing emitter bugs fixed (the manifest writer):
/// folded scalars with more-indented lines, root plain scalars that look like document
/// markers, a tag/anchor on a block collection with a line comment, empty tagged keys.
/// Also returns each document's byte range in the output (without the `---` lines).
pub(crate) fn emit_fixed(
    events: &[Ev<'_>],
    indent: usize,
) -> (Zeroizing<String>, Vec<std::ops::Range<usize>>) {
    let mut marks = Vec::new();
    let out = run_marked(events, indent, true, &mut marks);
    let ranges = marks
        .iter()
        .enumerate()
        .map(|(i, &(_, start))| start..marks.get(i + 1).map_or(out.len(), |m| m.0))
        .collect();
    (out, ranges)
}

fn run(events: &[Ev<'_>], indent: usize, fixed: bool) -> Zeroizing<String> {
    run_marked(events, indent, fixed, &mut Vec::new())
}

fn run_marked(
    events: &[Ev<'_>],
    indent: usize,
    fixed: bool,
    marks: &mut Vec<(usize, usize)>,
) -> Zeroizing<String> {
    let mut e = Emitter {
        out: Zeroizing::new(Vec::with_capacity(size_hint(events, indent))),
        events,
        head: 0,
        best_indent: indent as i64,
        best_width: -1,
        state: State::StreamStart,
        states: Vec::new(),
        indent: -1,
        indents: Vec::new(),
        flow_level: 0,
        root_context: false,
        sequence_context: false,
        mapping_context: false,
        simple_key_context: false,
        column: 0,
        whitespace: true,
        indention: true,
        open_ended: false,
        foot_indent: -1,
        head_comment: "",
        line_comment: "",
        foot_comment: "",
        tail_comment: "",
        key_line_comment: "",
        anchor: None,
        tag_handle: "",
        tag_suffix: "",
        scalar_value: "",
        scalar_raw: None,
        scalar: ScalarData::default(),
        compact_sequence_indent: false,
        fixed,
        after_keep: false,
        keep_chomp: false,
        doc_marks: Vec::new(),
    };
    while e.head < events.len() {
        let ev = &events[e.head];
        e.analyze_event(ev);
        e.state_machine(ev);
        e.head += 1;
    }
    *marks = std::mem::take(&mut e.doc_marks);
    let bytes = std::mem::take(&mut *e.out);
    // Every byte copied comes from &str values at character boundaries, so this cannot fail;
    // fall back to a lossy copy rather than panic.
    match String::from_utf8(bytes) {
        Ok(s) => Zeroizing::new(s),
        Err(err) => {
            let b = Zeroizing::new(err.into_bytes());
            Zeroizing::new(String::from_utf8_lossy(&b).into_owned())
        }
    }
}

/// The output size to reserve up front (text, comments and indentation of every event), so
/// the buffer rarely has to grow (each growth copies and wipes the old buffer).
fn size_hint(events: &[Ev<'_>], indent: usize) -> usize {
    let mut depth = 0usize;
    let mut n = 64usize;
    for ev in events {
        n += ev.head.len() + ev.line.len() + ev.foot.len() + ev.tail.len();
        match &ev.kind {
            EvKind::Scalar { value, raw, .. } => {
                n += raw.map_or(value.len(), str::len) + depth * indent + 4;
            }
            EvKind::Alias { anchor } => n += anchor.len() + depth * indent + 4,
            EvKind::SeqStart { .. } | EvKind::MapStart { .. } => depth += 1,
            EvKind::SeqEnd | EvKind::MapEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    n
}

fn take<'a>(s: &mut &'a str) -> &'a str {
    std::mem::take(s)
}

impl<'e, 'a> Emitter<'e, 'a> {
    // --- output primitives ---

    /// Makes room for `n` more bytes. Growing copies into a new buffer and wipes the old one
    /// (a plain `Vec` reallocation would leave secret bytes behind in freed memory).
    fn reserve(&mut self, n: usize) {
        crate::secret::reserve_wiping(&mut self.out, n);
    }

    fn put(&mut self, c: u8) {
        self.reserve(1);
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.reserve(1);
        self.out.push(b'\n');
        self.column = 0;
        self.indention = true;
    }

    /// Copies one character of `s` at `*i`.
    fn write(&mut self, s: &[u8], i: &mut usize) {
        let w = width(s[*i]).min(s.len() - *i);
        self.reserve(w);
        self.out.extend_from_slice(&s[*i..*i + w]);
        self.column += 1;
        *i += w;
    }

    /// Copies a run of characters that needs no per-character treatment.
    fn write_run(&mut self, s: &[u8]) {
        self.reserve(s.len());
        self.out.extend_from_slice(s);
        self.column += s.iter().filter(|b| (**b & 0xC0) != 0x80).count() as i64;
    }

    fn write_all(&mut self, s: &[u8]) {
        self.write_run(s);
    }

    /// Lines are never wrapped (sops and the manifest writer use an unlimited width).
    fn unlimited_width(&self) -> bool {
        self.best_width >= (1 << 30)
    }

    fn write_break(&mut self, s: &[u8], i: &mut usize) {
        if s[*i] == b'\n' {
            self.put_break();
            *i += 1;
        } else {
            self.write(s, i);
            self.column = 0;
            self.indention = true;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        // (Manifest mode: not after a keep-chomped block scalar, where the blank line would
        // become part of its value.)
        if self.foot_indent == indent && !(self.fixed && self.after_keep) {
            self.put_break();
        }
        while self.column < indent {
            self.put(b' ');
        }
        self.whitespace = true;
        self.foot_indent = -1;
    }

    fn write_indicator(&mut self, ind: &[u8], need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(b' ');
        }
        self.write_all(ind);
        self.after_keep = false;
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    fn increase_indent_compact(&mut self, flow: bool, indentless: bool, compact_seq: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { self.best_indent } else { 0 };
        } else if !indentless {
            if self.states.last() == Some(&State::BlockSequenceItem) {
                self.indent += 2;
            } else {
                self.indent =
                    self.best_indent * ((self.indent + self.best_indent) / self.best_indent);
                if compact_seq {
                    self.indent -= 2;
                }
            }
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.increase_indent_compact(flow, indentless, false);
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn pop_state(&mut self) {
        self.state = self.states.pop().unwrap_or(State::End);
    }

    // --- event analysis ---

    fn analyze_event(&mut self, ev: &'e Ev<'a>) {
        self.anchor = None;
        self.tag_handle = "";
        self.tag_suffix = "";
        self.scalar_value = "";
        if !ev.head.is_empty() {
            self.head_comment = ev.head;
        }
        if !ev.line.is_empty() {
            self.line_comment = ev.line;
        }
        if !ev.foot.is_empty() {
            self.foot_comment = ev.foot;
        }
        if !ev.tail.is_empty() {
            self.tail_comment = ev.tail;
        }
        match &ev.kind {
            EvKind::Alias { anchor } => self.anchor = Some((anchor, true)),
            EvKind::Scalar {
                anchor,
                tag,
                value,
                raw,
                analysis,
                ..
            } => {
                if let Some(a) = anchor {
                    self.anchor = Some((a, false));
                }
                if let Some(t) = tag {
                    self.analyze_tag(t);
                }
                self.scalar_value = value;
                self.scalar_raw = *raw;
                let a = analysis.unwrap_or_else(|| analyze(value));
                self.scalar = ScalarData {
                    multiline: a.multiline,
                    flow_plain_allowed: a.flow_plain_allowed,
                    block_plain_allowed: a.block_plain_allowed,
                    single_quoted_allowed: a.single_quoted_allowed,
                    block_allowed: a.block_allowed,
                    style: None,
                };
            }
            EvKind::SeqStart { anchor, tag, .. } | EvKind::MapStart { anchor, tag, .. } => {
                if let Some(a) = anchor {
                    self.anchor = Some((a, false));
                }
                if let Some(t) = tag {
                    self.analyze_tag(t);
                }
            }
            _ => {}
        }
    }

    fn analyze_tag(&mut self, tag: &'a str) {
        for (handle, prefix) in TAG_DIRECTIVES {
            if let Some(rest) = tag.strip_prefix(prefix) {
                self.tag_handle = handle;
                self.tag_suffix = rest;
                return;
            }
        }
        self.tag_suffix = tag;
    }

    // --- state machine ---

    fn state_machine(&mut self, ev: &'e Ev<'a>) {
        match self.state {
            State::StreamStart => self.emit_stream_start(),
            State::FirstDocumentStart => self.emit_document_start(ev, true),
            State::DocumentStart => self.emit_document_start(ev, false),
            State::DocumentContent => self.emit_document_content(ev),
            State::DocumentEnd => self.emit_document_end(),
            State::FlowSequenceFirstItem => self.emit_flow_sequence_item(ev, true, false),
            State::FlowSequenceTrailItem => self.emit_flow_sequence_item(ev, false, true),
            State::FlowSequenceItem => self.emit_flow_sequence_item(ev, false, false),
            State::FlowMappingFirstKey => self.emit_flow_mapping_key(ev, true, false),
            State::FlowMappingTrailKey => self.emit_flow_mapping_key(ev, false, true),
            State::FlowMappingKey => self.emit_flow_mapping_key(ev, false, false),
            State::FlowMappingSimpleValue => self.emit_flow_mapping_value(ev, true),
            State::FlowMappingValue => self.emit_flow_mapping_value(ev, false),
            State::BlockSequenceFirstItem => self.emit_block_sequence_item(ev, true),
            State::BlockSequenceItem => self.emit_block_sequence_item(ev, false),
            State::BlockMappingFirstKey => self.emit_block_mapping_key(ev, true),
            State::BlockMappingKey => self.emit_block_mapping_key(ev, false),
            State::BlockMappingSimpleValue => self.emit_block_mapping_value(ev, true),
            State::BlockMappingValue => self.emit_block_mapping_value(ev, false),
            State::End => {}
        }
    }

    fn emit_stream_start(&mut self) {
        if self.best_indent < 2 || self.best_indent > 9 {
            self.best_indent = 2;
        }
        if self.best_width >= 0 && self.best_width <= self.best_indent * 2 {
            self.best_width = 80;
        }
        if self.best_width < 0 {
            self.best_width = (1 << 31) - 1;
        }
        self.indent = -1;
        self.column = 0;
        self.whitespace = true;
        self.indention = true;
        self.foot_indent = -1;
        self.state = State::FirstDocumentStart;
    }

    fn emit_document_start(&mut self, ev: &'e Ev<'a>, first: bool) {
        match ev.kind {
            EvKind::DocStart => {
                let implicit = first;
                let before = self.out.len();
                if !implicit {
                    self.write_indent();
                    self.write_indicator(b"---", true, false, false);
                    self.write_indent();
                }
                self.doc_marks.push((before, self.out.len()));
                if !self.head_comment.is_empty() {
                    self.process_head_comment();
                    self.put_break();
                }
                self.state = State::DocumentContent;
            }
            EvKind::StreamEnd => {
                // go-yaml's encoder.finish() clears open_ended before STREAM-END: no `...`.
                self.state = State::End;
            }
            _ => {}
        }
    }

    fn emit_document_content(&mut self, ev: &'e Ev<'a>) {
        self.states.push(State::DocumentEnd);
        self.process_head_comment();
        self.emit_node(ev, true, false, false, false);
        self.process_line_comment(false);
        self.process_foot_comment();
    }

    fn emit_document_end(&mut self) {
        self.foot_indent = 0;
        self.process_foot_comment();
        self.foot_indent = -1;
        self.write_indent();
        // Documents are always implicit-end here (no `...`).
        self.state = State::DocumentStart;
    }

    fn emit_flow_sequence_item(&mut self, ev: &'e Ev<'a>, first: bool, trail: bool) {
        if first {
            self.write_indicator(b"[", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
        }
        if matches!(ev.kind, EvKind::SeqEnd) {
            self.flow_level -= 1;
            self.pop_indent();
            if self.column == 0 {
                self.write_indent();
            }
            self.write_indicator(b"]", false, false, false);
            self.process_line_comment(false);
            self.process_foot_comment();
            self.pop_state();
            return;
        }
        if !first && !trail {
            self.write_indicator(b",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.column > self.best_width {
            self.write_indent();
        }
        if self.line_comment.len() + self.foot_comment.len() + self.tail_comment.len() > 0 {
            self.states.push(State::FlowSequenceTrailItem);
        } else {
            self.states.push(State::FlowSequenceItem);
        }
        self.emit_node(ev, false, true, false, false);
        if self.line_comment.len() + self.foot_comment.len() + self.tail_comment.len() > 0 {
            self.write_indicator(b",", false, false, false);
        }
        self.process_line_comment(false);
        self.process_foot_comment();
    }

    fn emit_flow_mapping_key(&mut self, ev: &'e Ev<'a>, first: bool, trail: bool) {
        if first {
            self.write_indicator(b"{", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
        }
        if matches!(ev.kind, EvKind::MapEnd) {
            if self.head_comment.len() + self.foot_comment.len() + self.tail_comment.len() > 0
                && !first
                && !trail
            {
                self.write_indicator(b",", false, false, false);
            }
            self.process_head_comment();
            self.flow_level -= 1;
            self.pop_indent();
            self.write_indicator(b"}", false, false, false);
            self.process_line_comment(false);
            self.process_foot_comment();
            self.pop_state();
            return;
        }
        if !first && !trail {
            self.write_indicator(b",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.column > self.best_width {
            self.write_indent();
        }
        if self.check_simple_key() {
            self.states.push(State::FlowMappingSimpleValue);
            self.emit_node(ev, false, false, true, true);
            return;
        }
        self.write_indicator(b"?", true, false, false);
        self.states.push(State::FlowMappingValue);
        self.emit_node(ev, false, false, true, false);
    }

    fn emit_flow_mapping_value(&mut self, ev: &'e Ev<'a>, simple: bool) {
        if simple {
            self.write_indicator(b":", false, false, false);
        } else {
            if self.column > self.best_width {
                self.write_indent();
            }
            self.write_indicator(b":", true, false, false);
        }
        if self.line_comment.len() + self.foot_comment.len() + self.tail_comment.len() > 0 {
            self.states.push(State::FlowMappingTrailKey);
        } else {
            self.states.push(State::FlowMappingKey);
        }
        self.emit_node(ev, false, false, true, false);
        if self.line_comment.len() + self.foot_comment.len() + self.tail_comment.len() > 0 {
            self.write_indicator(b",", false, false, false);
        }
        self.process_line_comment(false);
        self.process_foot_comment();
    }

    fn emit_block_sequence_item(&mut self, ev: &'e Ev<'a>, first: bool) {
        if first {
            let seq = self.mapping_context
                && (self.column == 0 || !self.indention)
                && self.compact_sequence_indent;
            self.increase_indent_compact(false, false, seq);
        }
        if matches!(ev.kind, EvKind::SeqEnd) {
            self.fixed_end_foot();
            self.pop_indent();
            self.pop_state();
            return;
        }
        self.process_head_comment();
        self.write_indent();
        self.write_indicator(b"-", true, false, true);
        self.states.push(State::BlockSequenceItem);
        self.emit_node(ev, false, true, false, false);
        self.process_line_comment(false);
        self.process_foot_comment();
    }

    fn emit_block_mapping_key(&mut self, ev: &'e Ev<'a>, first: bool) {
        if first {
            self.increase_indent(false, false);
        }
        self.process_head_comment();
        if matches!(ev.kind, EvKind::MapEnd) {
            self.fixed_end_foot();
            self.pop_indent();
            self.pop_state();
            return;
        }
        self.write_indent();
        if !self.line_comment.is_empty() {
            self.key_line_comment = take(&mut self.line_comment);
        }
        if self.check_simple_key() {
            self.states.push(State::BlockMappingSimpleValue);
            self.emit_node(ev, false, false, true, true);
            return;
        }
        self.write_indicator(b"?", true, false, true);
        self.states.push(State::BlockMappingValue);
        self.emit_node(ev, false, false, true, false);
    }

    fn emit_block_mapping_value(&mut self, ev: &'e Ev<'a>, simple: bool) {
        if simple {
            self.write_indicator(b":", false, false, false);
        } else {
            self.write_indent();
            self.write_indicator(b":", true, false, true);
        }
        let mut deferred = "";
        if !self.key_line_comment.is_empty() {
            match &ev.kind {
                EvKind::Scalar { .. } if self.line_comment.is_empty() => {
                    self.line_comment = take(&mut self.key_line_comment);
                }
                // Manifest mode: an empty collection is written in flow style (`[]`), on
                // this line: its comment goes after it (go-yaml writes it before, invalid).
                EvKind::MapStart { flow: false, .. } | EvKind::SeqStart { flow: false, .. }
                    if self.fixed
                        && (self.check_empty_sequence() || self.check_empty_mapping()) =>
                {
                    deferred = take(&mut self.key_line_comment);
                }
                EvKind::MapStart { flow: false, .. } | EvKind::SeqStart { flow: false, .. } => {
                    if self.fixed {
                        // go-yaml writes the comment first and the anchor/tag on the next
                        // line at column 0 (invalid YAML): write them before the comment.
                        self.process_anchor();
                        self.process_tag();
                        self.anchor = None;
                        self.tag_handle = "";
                        self.tag_suffix = "";
                    }
                    std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
                    self.process_line_comment(false);
                    std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
                }
                _ => {}
            }
        }
        self.states.push(State::BlockMappingKey);
        self.emit_node(ev, false, false, true, false);
        self.process_line_comment(false);
        if !deferred.is_empty() && self.line_comment.is_empty() {
            // Written after the `]`/`}` of the empty collection.
            self.line_comment = deferred;
        }
        self.process_foot_comment();
    }

    fn emit_node(
        &mut self,
        ev: &'e Ev<'a>,
        root: bool,
        sequence: bool,
        mapping: bool,
        simple_key: bool,
    ) {
        self.root_context = root;
        self.sequence_context = sequence;
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match &ev.kind {
            EvKind::Alias { .. } => {
                self.process_anchor();
                // go-yaml: `*a :` (a `:` right after the name would be part of it).
                if self.simple_key_context {
                    self.put(b' ');
                }
                self.pop_state();
            }
            EvKind::Scalar { style, tag, .. } => self.emit_scalar(*style, tag.is_some()),
            EvKind::SeqStart { flow, .. } => {
                self.process_anchor();
                self.process_tag();
                self.state = if self.flow_level > 0 || *flow || self.check_empty_sequence() {
                    State::FlowSequenceFirstItem
                } else {
                    State::BlockSequenceFirstItem
                };
            }
            EvKind::MapStart { flow, .. } => {
                self.process_anchor();
                self.process_tag();
                self.state = if self.flow_level > 0 || *flow || self.check_empty_mapping() {
                    State::FlowMappingFirstKey
                } else {
                    State::BlockMappingFirstKey
                };
            }
            _ => {}
        }
    }

    fn emit_scalar(&mut self, requested: Style, tagged: bool) {
        let value = self.scalar_value;
        let a = Analysis {
            multiline: self.scalar.multiline,
            flow_plain_allowed: self.scalar.flow_plain_allowed,
            block_plain_allowed: self.scalar.block_plain_allowed,
            single_quoted_allowed: self.scalar.single_quoted_allowed,
            block_allowed: self.scalar.block_allowed,
        };
        let mut requested = requested;
        if self.fixed && requested == Style::Verbatim {
            let text = self.scalar_raw.unwrap_or(value);
            // A scalar at column 0 (root, root key) spelled like a document marker would end
            // the document; an empty
            // tagged key (`!!str:`) would glue `:` to the tag. Let the analysis pick a style.
            let marker = (self.root_context || self.column == 0)
                && (text.starts_with("---") || text.starts_with("..."));
            let empty_tagged_key = text.is_empty() && tagged && self.simple_key_context;
            if marker || empty_tagged_key {
                requested = Style::Plain;
            }
        }
        let style = select_style(
            requested,
            &a,
            value.is_empty(),
            self.flow_level > 0,
            self.simple_key_context,
        );
        self.scalar.style = Some(style);
        self.process_anchor();
        self.process_tag();
        self.increase_indent(true, false);
        self.process_scalar(style, value);
        self.pop_indent();
        self.pop_state();
    }

    fn check_empty_sequence(&self) -> bool {
        matches!(
            (
                self.events.get(self.head).map(|e| &e.kind),
                self.events.get(self.head + 1).map(|e| &e.kind)
            ),
            (Some(EvKind::SeqStart { .. }), Some(EvKind::SeqEnd))
        )
    }

    fn check_empty_mapping(&self) -> bool {
        matches!(
            (
                self.events.get(self.head).map(|e| &e.kind),
                self.events.get(self.head + 1).map(|e| &e.kind)
            ),
            (Some(EvKind::MapStart { .. }), Some(EvKind::MapEnd))
        )
    }

    fn check_simple_key(&self) -> bool {
        let anchor_len = self.anchor.as_ref().map_or(0, |(a, _)| a.len());
        let tag_len = self.tag_handle.len() + self.tag_suffix.len();
        let length = match self.events.get(self.head).map(|e| &e.kind) {
            Some(EvKind::Alias { .. }) => anchor_len,
            Some(EvKind::Scalar { .. }) => {
                if self.scalar.multiline {
                    return false;
                }
                anchor_len + tag_len + self.scalar_value.len()
            }
            Some(EvKind::SeqStart { .. }) => {
                if !self.check_empty_sequence() {
                    return false;
                }
                anchor_len + tag_len
            }
            Some(EvKind::MapStart { .. }) => {
                if !self.check_empty_mapping() {
                    return false;
                }
                anchor_len + tag_len
            }
            _ => return false,
        };
        length <= 128
    }

    fn process_anchor(&mut self) {
        let Some((anchor, alias)) = self.anchor.take() else {
            return;
        };
        self.write_indicator(if alias { b"*" } else { b"&" }, true, false, false);
        self.write_all(anchor.as_bytes());
        self.whitespace = false;
        self.indention = false;
        self.anchor = Some((anchor, alias));
    }

    fn process_tag(&mut self) {
        self.after_keep = false;
        if self.tag_handle.is_empty() && self.tag_suffix.is_empty() {
            return;
        }
        let (handle, suffix) = (self.tag_handle, self.tag_suffix);
        if !handle.is_empty() {
            if !self.whitespace {
                self.put(b' ');
            }
            self.write_all(handle.as_bytes());
            self.whitespace = false;
            self.indention = false;
            if !suffix.is_empty() {
                self.write_tag_content(suffix.as_bytes());
            }
        } else {
            self.write_indicator(b"!<", true, false, false);
            self.write_tag_content(suffix.as_bytes());
            self.write_indicator(b">", false, false, false);
        }
    }

    fn write_tag_content(&mut self, v: &[u8]) {
        let mut i = 0;
        while i < v.len() {
            let c = v[i];
            let must_write = matches!(
                c,
                b';' | b'/'
                    | b'?'
                    | b':'
                    | b'@'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b'_'
                    | b'.'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'['
                    | b']'
            ) || is_alpha(c);
            if must_write {
                self.write(v, &mut i);
            } else {
                let w = width(c).min(v.len() - i);
                for _ in 0..w {
                    let o = v[i];
                    i += 1;
                    self.put(b'%');
                    self.put(hex_upper(o >> 4));
                    self.put(hex_upper(o & 0x0f));
                }
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn process_scalar(&mut self, style: Style, value: &str) {
        self.after_keep = false;
        let v = value.as_bytes();
        let allow_breaks = !self.simple_key_context;
        match style {
            Style::Plain => self.write_plain(v, allow_breaks),
            Style::SingleQuoted => self.write_single(v, allow_breaks),
            Style::DoubleQuoted => self.write_double(v, allow_breaks),
            Style::Literal => self.write_literal(v),
            Style::Folded => self.write_folded(v),
            Style::Verbatim => {
                let v = self.scalar_raw.unwrap_or(value).as_bytes();
                if self.fixed && v.is_empty() && self.simple_key_context && self.anchor.is_some() {
                    // An empty anchored key: `&a :` (`&a:` would name the anchor `a:`).
                    self.put(b' ');
                }
                if !v.is_empty() && !self.whitespace {
                    self.put(b' ');
                }
                self.write_all(v);
                self.whitespace = false;
                self.indention = false;
            }
        }
    }

    // --- comments ---

    fn process_head_comment(&mut self) {
        if !self.tail_comment.is_empty() {
            self.write_indent();
            let c = take(&mut self.tail_comment);
            self.write_comment(c.as_bytes());
            self.foot_indent = self.indent.max(0);
        }
        if self.head_comment.is_empty() {
            return;
        }
        self.write_indent();
        let c = take(&mut self.head_comment);
        self.write_comment(c.as_bytes());
    }

    fn process_line_comment(&mut self, linebreak: bool) {
        if self.line_comment.is_empty() {
            if linebreak {
                self.put_break();
            }
            return;
        }
        if !self.whitespace {
            self.put(b' ');
        }
        let c = take(&mut self.line_comment);
        self.write_comment(c.as_bytes());
    }

    /// Manifest mode: the foot comment of a block collection is written where it ends, at
    /// its indentation. go-yaml keeps it pending until the next scalar is done, which can be
    /// between a `:` and a flow value (`:`, comment, `[]` at column 0: unreadable).
    fn fixed_end_foot(&mut self) {
        if self.fixed {
            self.process_foot_comment();
        }
    }

    fn process_foot_comment(&mut self) {
        if self.foot_comment.is_empty() {
            return;
        }
        self.write_indent();
        let c = take(&mut self.foot_comment);
        self.write_comment(c.as_bytes());
        self.foot_indent = self.indent.max(0);
    }

    fn write_comment(&mut self, c: &[u8]) {
        let mut breaks = false;
        let mut pound = false;
        let mut i = 0;
        while i < c.len() {
            if is_break(c, i) {
                self.write_break(c, &mut i);
                breaks = true;
                pound = false;
            } else {
                if breaks {
                    self.write_indent();
                }
                if !pound {
                    if c[i] != b'#' {
                        self.put(b'#');
                        self.put(b' ');
                    }
                    pound = true;
                }
                self.write(c, &mut i);
                self.indention = false;
                breaks = false;
            }
        }
        if !breaks {
            self.put_break();
        }
        self.whitespace = true;
        self.after_keep = false;
    }

    // --- scalar writers ---

    fn write_plain(&mut self, v: &[u8], allow_breaks: bool) {
        if !v.is_empty() && !self.whitespace {
            self.put(b' ');
        }
        if self.unlimited_width() && !(0..v.len()).any(|i| is_break(v, i)) {
            // Fast path: nothing to fold or break.
            self.write_run(v);
            if !v.is_empty() {
                self.whitespace = false;
            }
            self.indention = false;
            if self.root_context {
                self.open_ended = true;
            }
            return;
        }
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < v.len() {
            if is_space(v, i) {
                if allow_breaks && !spaces && self.column > self.best_width && !is_space(v, i + 1) {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write(v, &mut i);
                }
                spaces = true;
            } else if is_break(v, i) {
                if !breaks && v[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(v, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.write(v, &mut i);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if !v.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
        if self.root_context {
            self.open_ended = true;
        }
    }

    fn write_single(&mut self, v: &[u8], allow_breaks: bool) {
        self.write_indicator(b"'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < v.len() {
            if is_space(v, i) {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i < v.len() - 1
                    && !is_space(v, i + 1)
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write(v, &mut i);
                }
                spaces = true;
            } else if is_break(v, i) {
                if !breaks && v[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(v, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if v[i] == b'\'' {
                    self.put(b'\'');
                }
                self.write(v, &mut i);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator(b"'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, v: &[u8], allow_breaks: bool) {
        let mut spaces = false;
        self.write_indicator(b"\"", true, false, false);
        let bom = is_bom(v);
        let fast = !bom && self.unlimited_width();
        let mut i = 0;
        while i < v.len() {
            if fast {
                // Fast path: a run of printable ASCII other than `"` and `\` is copied as is.
                let run = v[i..]
                    .iter()
                    .position(|b| !(0x20..=0x7E).contains(b) || *b == b'"' || *b == b'\\')
                    .unwrap_or(v.len() - i);
                if run > 0 {
                    self.write_run(&v[i..i + run]);
                    spaces = v[i + run - 1] == b' ';
                    i += run;
                    continue;
                }
            }
            if !is_printable(v, i) || bom || is_break(v, i) || v[i] == b'"' || v[i] == b'\\' {
                let w = width(v[i]).min(v.len() - i);
                let ch = std::str::from_utf8(&v[i..i + w])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .map_or(u32::from(v[i]), |c| c as u32);
                i += w;
                self.put(b'\\');
                match ch {
                    0x00 => self.put(b'0'),
                    0x07 => self.put(b'a'),
                    0x08 => self.put(b'b'),
                    0x09 => self.put(b't'),
                    0x0A => self.put(b'n'),
                    0x0B => self.put(b'v'),
                    0x0C => self.put(b'f'),
                    0x0D => self.put(b'r'),
                    0x1B => self.put(b'e'),
                    0x22 => self.put(b'"'),
                    0x5C => self.put(b'\\'),
                    0x85 => self.put(b'N'),
                    0xA0 => self.put(b'_'),
                    0x2028 => self.put(b'L'),
                    0x2029 => self.put(b'P'),
                    _ => {
                        let (c, digits) = if ch <= 0xFF {
                            (b'x', 2)
                        } else if ch <= 0xFFFF {
                            (b'u', 4)
                        } else {
                            (b'U', 8)
                        };
                        self.put(c);
                        for k in (0..digits).rev() {
                            self.put(hex_upper(((ch >> (k * 4)) & 0x0F) as u8));
                        }
                    }
                }
                spaces = false;
            } else if is_space(v, i) {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i < v.len() - 1
                {
                    self.write_indent();
                    if is_space(v, i + 1) {
                        self.put(b'\\');
                    }
                    i += 1;
                } else {
                    self.write(v, &mut i);
                }
                spaces = true;
            } else {
                self.write(v, &mut i);
                spaces = false;
            }
        }
        self.write_indicator(b"\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_block_hints(&mut self, v: &[u8]) {
        if is_space(v, 0) || is_break(v, 0) {
            let hint = [b'0' + self.best_indent as u8];
            self.write_indicator(&hint, false, false, false);
        }
        self.open_ended = false;
        let mut chomp = 0u8;
        if v.is_empty() {
            chomp = b'-';
        } else {
            let mut i = v.len() - 1;
            while i > 0 && v[i] & 0xC0 == 0x80 {
                i -= 1;
            }
            if !is_break(v, i) {
                chomp = b'-';
            } else if i == 0 {
                chomp = b'+';
                self.open_ended = true;
            } else {
                i -= 1;
                while i > 0 && v[i] & 0xC0 == 0x80 {
                    i -= 1;
                }
                if is_break(v, i) {
                    chomp = b'+';
                    self.open_ended = true;
                }
            }
        }
        if chomp != 0 {
            self.write_indicator(&[chomp], false, false, false);
        }
        self.keep_chomp = chomp == b'+';
    }

    fn write_literal(&mut self, v: &[u8]) {
        self.write_indicator(b"|", true, false, false);
        self.write_block_hints(v);
        self.process_line_comment(true);
        self.after_keep = self.keep_chomp;
        self.whitespace = true;
        let mut breaks = true;
        let mut i = 0;
        while i < v.len() {
            if is_break(v, i) {
                self.write_break(v, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.write(v, &mut i);
                self.indention = false;
                breaks = false;
            }
        }
    }

    fn write_folded(&mut self, v: &[u8]) {
        self.write_indicator(b">", true, false, false);
        self.write_block_hints(v);
        self.process_line_comment(true);
        self.after_keep = self.keep_chomp;
        self.whitespace = true;
        let mut breaks = true;
        let mut leading_spaces = true;
        let mut i = 0;
        while i < v.len() {
            if is_break(v, i) {
                if !breaks && !leading_spaces && v[i] == b'\n' {
                    // go-yaml starts looking at the start of the value (libyaml: at the
                    // current break), so it adds a blank line before a more-indented line.
                    let mut k = if self.fixed { i } else { 0 };
                    while is_break(v, k) {
                        k += width(v[k]);
                    }
                    if !is_blankz(v, k) {
                        self.put_break();
                    }
                }
                self.write_break(v, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                    leading_spaces = is_blank(v, i);
                }
                if !breaks && is_space(v, i) && !is_space(v, i + 1) && self.column > self.best_width
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write(v, &mut i);
                }
                self.indention = false;
                breaks = false;
            }
        }
    }
}

fn hex_upper(d: u8) -> u8 {
    if d < 10 { b'0' + d } else { b'A' + d - 10 }
}

/// A scalar value: borrowed from the tree or computed (zeroizing).
pub(crate) enum Val<'a> {
    Borrowed(&'a str),
    Owned(Zeroizing<String>),
}

impl Val<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Val::Borrowed(s) => s,
            Val::Owned(s) => s.as_str(),
        }
    }
}

/// go-yaml's `yaml.Node`, as far as the emitters need it.
pub(crate) struct GoNode<'a> {
    pub kind: GoKind<'a>,
    /// Long-form tag written explicitly (`tag:yaml.org,2002:merge`, `!local`).
    pub tag: Option<String>,
    pub anchor: Option<&'a str>,
    pub head: ZStr,
    pub line: ZStr,
    pub foot: ZStr,
    pub flow: bool,
}

pub(crate) enum GoKind<'a> {
    Scalar {
        value: Val<'a>,
        style: Style,
        raw: Option<&'a str>,
        analysis: Option<Analysis>,
    },
    Seq(Vec<GoNode<'a>>),
    /// Keys and values interleaved, like `yaml.Node.Content`.
    Map(Vec<GoNode<'a>>),
    Alias(&'a str),
}

impl<'a> GoNode<'a> {
    pub(crate) fn new(kind: GoKind<'a>) -> Self {
        GoNode {
            kind,
            tag: None,
            anchor: None,
            head: ZStr::new(),
            line: ZStr::new(),
            foot: ZStr::new(),
            flow: false,
        }
    }
}

/// A document for [`encode`]: go-yaml's DocumentNode.
pub(crate) struct GoDoc<'a> {
    pub head: ZStr,
    pub foot: ZStr,
    pub root: Option<GoNode<'a>>,
}

/// go-yaml's `encoder.node` over a list of documents: the event stream `Encoder.Encode` +
/// `Close` produce.
pub(crate) fn encode<'a>(docs: &'a [GoDoc<'a>]) -> Vec<Ev<'a>> {
    let mut evs = Vec::new();
    evs.push(Ev::new(EvKind::StreamStart));
    for d in docs {
        let mut start = Ev::new(EvKind::DocStart);
        start.head = &d.head;
        evs.push(start);
        if let Some(root) = &d.root {
            node_events(root, "", &mut evs);
        } else {
            // A document with no content: go-yaml encodes a null scalar.
            evs.push(Ev::new(EvKind::Scalar {
                anchor: None,
                tag: None,
                value: "null",
                style: Style::Plain,
                raw: None,
                analysis: None,
            }));
        }
        let mut end = Ev::new(EvKind::DocEnd);
        end.foot = &d.foot;
        evs.push(end);
    }
    evs.push(Ev::new(EvKind::StreamEnd));
    evs
}

fn node_events<'a>(n: &'a GoNode<'a>, tail: &'a str, evs: &mut Vec<Ev<'a>>) {
    match &n.kind {
        GoKind::Scalar {
            value,
            style,
            raw,
            analysis,
        } => {
            let mut e = Ev::new(EvKind::Scalar {
                anchor: n.anchor,
                tag: n.tag.as_deref(),
                value: value.as_str(),
                style: *style,
                raw: *raw,
                analysis: *analysis,
            });
            e.head = &n.head;
            e.line = &n.line;
            e.foot = &n.foot;
            e.tail = tail;
            evs.push(e);
        }
        GoKind::Alias(name) => {
            let mut e = Ev::new(EvKind::Alias { anchor: name });
            e.head = &n.head;
            e.line = &n.line;
            e.foot = &n.foot;
            evs.push(e);
        }
        GoKind::Seq(items) => {
            let mut e = Ev::new(EvKind::SeqStart {
                anchor: n.anchor,
                tag: n.tag.as_deref(),
                flow: n.flow,
            });
            e.head = &n.head;
            evs.push(e);
            for it in items {
                node_events(it, "", evs);
            }
            let mut e = Ev::new(EvKind::SeqEnd);
            e.line = &n.line;
            e.foot = &n.foot;
            evs.push(e);
        }
        GoKind::Map(content) => {
            let mut e = Ev::new(EvKind::MapStart {
                anchor: n.anchor,
                tag: n.tag.as_deref(),
                flow: n.flow,
            });
            e.tail = tail;
            e.head = &n.head;
            evs.push(e);
            // The foot comment of a key moves to the *next* key (as its tail), or to the
            // mapping end: it can only be written once the value is complete.
            let mut tail: &'a str = "";
            for pair in content.chunks(2) {
                let [k, v] = pair else { break };
                node_events_key(k, tail, evs);
                tail = &k.foot;
                node_events(v, "", evs);
            }
            let mut e = Ev::new(EvKind::MapEnd);
            e.tail = tail;
            e.line = &n.line;
            e.foot = &n.foot;
            evs.push(e);
        }
    }
}

/// A key node without its foot comment (which becomes the next tail).
fn node_events_key<'a>(k: &'a GoNode<'a>, tail: &'a str, evs: &mut Vec<Ev<'a>>) {
    let before = evs.len();
    node_events(k, tail, evs);
    if let Some(e) = evs.get_mut(before) {
        // Only the key's own (first) event carries its foot; clear it.
        if !k.foot.is_empty() && matches!(e.kind, EvKind::Scalar { .. } | EvKind::Alias { .. }) {
            e.foot = "";
        } else if !k.foot.is_empty() {
            // Collection keys: the foot sits on their end event.
            if let Some(end) = evs.last_mut() {
                end.foot = "";
            }
        }
    }
}

/// go-yaml comment text from comment lines: `#` + line, joined by `\n`.
pub(crate) fn comment_block<'t>(lines: impl IntoIterator<Item = &'t str>) -> ZStr {
    let mut s = ZStr::new();
    for (i, l) in lines.into_iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push('#');
        s.push_str(l);
    }
    s
}
