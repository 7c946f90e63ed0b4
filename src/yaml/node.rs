//! The data model: an ordered YAML tree that keeps what sops and the manifest renderer need
//! (scalar styles, original plain text, tags, anchors, aliases, go-yaml v3 style comments).

use super::Text;

/// A source position (1-based line and column), for error messages. `0:0` for created nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where a parsed node's text is in the source it was parsed from (byte offsets; for plain
/// and quoted scalars exactly the scalar's text, without properties), and the style a scalar
/// was read with. Created nodes have none; [`Node::replace`] keeps the span of a scalar
/// replaced by a scalar, so that the splicer (`super::splice`) finds where the value was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
    /// The style of the scalar as parsed (`Plain` for collections and aliases).
    pub style: ScalarStyle,
}

/// How a scalar is (or was) written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    /// `value`
    Plain,
    /// `'value'`
    SingleQuoted,
    /// `"value"`
    DoubleQuoted,
    /// `|` block
    Literal,
    /// `>` block
    Folded,
}

/// Where a scalar came from; decides how the emitters may write it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Origin {
    /// Read from source. `raw` is the exact single-line source text (plain text or the quoted
    /// form including quotes) when it differs from what the value alone would give.
    Parsed { raw: Option<Text> },
    /// Created by code as a string: emitters choose a style that reads back as this string.
    Str,
    /// Created by code as a typed plain value (`42`, `true`, `null`, `1.5`, a timestamp):
    /// written plain, as is.
    Typed,
    /// Created by code as a float (kept a float even when its text, like `-0` or `2`, would
    /// read back as an integer).
    Float(f64),
}

/// A scalar: its decoded value plus presentation.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    value: Text,
    style: ScalarStyle,
    pub(crate) origin: Origin,
}

impl Scalar {
    pub(crate) fn parsed(value: Text, style: ScalarStyle, raw: Option<Text>) -> Self {
        Scalar {
            value,
            style,
            origin: Origin::Parsed { raw },
        }
    }

    /// A string created by code. Emitters write it plain only when every reader (YAML 1.1 and
    /// 1.2, go-yaml v2 and v3) reads it back as this same string; otherwise quoted or `|`.
    pub fn new_str(value: impl Into<Text>) -> Self {
        Scalar {
            value: value.into(),
            style: ScalarStyle::Plain,
            origin: Origin::Str,
        }
    }

    /// A string created by code that is always written double-quoted (with the emitter's
    /// escapes), whatever it contains: for output whose quoting is part of its contract
    /// (generated Secrets, KRM results).
    pub fn new_quoted(value: impl Into<Text>) -> Self {
        Scalar {
            value: value.into(),
            style: ScalarStyle::DoubleQuoted,
            origin: Origin::Str,
        }
    }

    /// An integer, written plain in decimal.
    pub fn new_int(v: i64) -> Self {
        Self::typed(v.to_string())
    }

    /// A boolean, written `true`/`false`.
    pub fn new_bool(v: bool) -> Self {
        Self::typed(if v { "true" } else { "false" }.to_owned())
    }

    /// `null`.
    pub fn new_null() -> Self {
        Self::typed("null".to_owned())
    }

    /// A float, written the way go-yaml v3 writes it (`1.5`, `1e+20`, `.inf`, `.nan`).
    pub fn new_float(v: f64) -> Self {
        let mut text = String::new();
        super::gofmt::float_yaml(v, &mut text);
        Scalar {
            value: Text::new(text),
            style: ScalarStyle::Plain,
            origin: Origin::Float(v),
        }
    }

    /// A timestamp given as RFC 3339 text (written plain, as is). Returns `None` when the
    /// text would not read back as a timestamp.
    pub fn new_timestamp(rfc3339: &str) -> Option<Self> {
        let s = Self::typed(rfc3339.to_owned());
        matches!(s.resolve(None), super::Resolved::Timestamp(_)).then_some(s)
    }

    pub(crate) fn typed_text(text: String) -> Self {
        Self::typed(text)
    }

    fn typed(text: String) -> Self {
        Scalar {
            value: Text::new(text),
            style: ScalarStyle::Plain,
            origin: Origin::Typed,
        }
    }

    /// The decoded value (after escape processing and folding).
    pub fn value(&self) -> &str {
        self.value.as_str()
    }

    /// The value as [`Text`].
    pub fn text(&self) -> &Text {
        &self.value
    }

    /// The style it was read with (for created strings: `Plain`, meaning "choose", or
    /// `DoubleQuoted` for [`Scalar::new_quoted`]).
    pub fn style(&self) -> ScalarStyle {
        self.style
    }

    /// True when read from source and not modified since.
    pub fn is_parsed(&self) -> bool {
        matches!(self.origin, Origin::Parsed { .. })
    }

    /// True for a created string (`new_str`).
    pub fn is_created_str(&self) -> bool {
        matches!(self.origin, Origin::Str)
    }

    /// The original single-line source text of a parsed scalar, when it differs from the
    /// value (plain text with escapes-free folding, or the full quoted form).
    pub fn raw(&self) -> Option<&str> {
        match &self.origin {
            Origin::Parsed { raw: Some(r) } => Some(r.as_str()),
            _ => None,
        }
    }

    /// Replaces the value with a new string (the scalar becomes a created string).
    pub fn set_str(&mut self, value: impl Into<Text>) {
        *self = Scalar::new_str(value);
    }

    /// The go-yaml v3 type of this scalar given the node's tag (see [`super::Resolved`]).
    pub fn resolve(&self, tag: Option<&str>) -> super::Resolved {
        super::resolve::resolve_scalar(self, tag)
    }
}

/// go-yaml v3's comment model: `head` lines above the node, a `line` comment at the end of its
/// line, `foot` lines after it (after the last entry, for a collection). Texts are what follows
/// `#` (a leading space included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comments {
    /// Lines above.
    pub head: Vec<Text>,
    /// End-of-line comment.
    pub line: Option<Text>,
    /// Lines after.
    pub foot: Vec<Text>,
}

impl Comments {
    /// True when there is no comment.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.line.is_none() && self.foot.is_empty()
    }
}

static NO_COMMENTS: Comments = Comments {
    head: Vec::new(),
    line: None,
    foot: Vec::new(),
};

/// What a node is.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence.
    Sequence(Vec<Node>),
    /// A mapping, in source order (duplicate keys are kept).
    Mapping(Vec<(Node, Node)>),
    /// `*name`: an alias to the most recent preceding `&name` in the document.
    Alias(String),
}

/// A YAML node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The content.
    pub kind: NodeKind,
    /// The explicit tag in short form: `!!str`, `!!binary`, `!local`, or `!<uri>`.
    pub tag: Option<String>,
    /// The anchor name defined on this node (without `&`).
    pub anchor: Option<String>,
    /// Where it started in the source (0:0 for created nodes).
    pub pos: Pos,
    /// A collection written in flow style (`[a]`, `{a: 1}`) in the source. Emitters write
    /// block style regardless.
    pub flow: bool,
    comments: Option<Box<Comments>>,
    /// Where it is in its source text (parsed nodes only; see [`Span`]).
    span: Option<Span>,
}

impl Node {
    /// A node from its kind, without tag, anchor or comments.
    pub fn new(kind: NodeKind) -> Self {
        Node {
            kind,
            tag: None,
            anchor: None,
            pos: Pos::default(),
            flow: false,
            comments: None,
            span: None,
        }
    }

    /// Where this node is in the text it was parsed from (`None` for created nodes and for a
    /// collection whose entries were removed).
    pub fn span(&self) -> Option<Span> {
        self.span
    }

    pub(crate) fn set_span(&mut self, span: Option<Span>) {
        self.span = span;
    }

    /// Forgets where this node was parsed from: its text no longer describes it (entries were
    /// removed). The splicer then writes the whole document with the manifest writer.
    pub fn clear_span(&mut self) {
        self.span = None;
    }

    /// A scalar node.
    pub fn scalar(s: Scalar) -> Self {
        Node::new(NodeKind::Scalar(s))
    }

    /// A created string node (see [`Scalar::new_str`]).
    pub fn str(value: impl Into<Text>) -> Self {
        Node::scalar(Scalar::new_str(value))
    }

    /// A `null` node.
    pub fn null() -> Self {
        Node::scalar(Scalar::new_null())
    }

    /// An empty mapping.
    pub fn mapping() -> Self {
        Node::new(NodeKind::Mapping(Vec::new()))
    }

    /// An empty sequence.
    pub fn sequence() -> Self {
        Node::new(NodeKind::Sequence(Vec::new()))
    }

    /// The comments attached to this node.
    pub fn comments(&self) -> &Comments {
        self.comments.as_deref().unwrap_or(&NO_COMMENTS)
    }

    /// Mutable comments (allocated on first use).
    pub fn comments_mut(&mut self) -> &mut Comments {
        self.comments.get_or_insert_with(Default::default)
    }

    /// Removes and returns all comments.
    pub fn take_comments(&mut self) -> Comments {
        self.comments.take().map(|b| *b).unwrap_or_default()
    }

    #[allow(dead_code)]
    pub(crate) fn has_comments(&self) -> bool {
        self.comments.as_deref().is_some_and(|c| !c.is_empty())
    }

    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar, mutably.
    pub fn as_scalar_mut(&mut self) -> Option<&mut Scalar> {
        match &mut self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's value, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar().map(Scalar::value)
    }

    /// The entries, if this is a mapping.
    pub fn as_mapping(&self) -> Option<&Vec<(Node, Node)>> {
        match &self.kind {
            NodeKind::Mapping(m) => Some(m),
            _ => None,
        }
    }

    /// The entries, mutably (iterate with `iter_mut()` to edit values in place).
    pub fn as_mapping_mut(&mut self) -> Option<&mut Vec<(Node, Node)>> {
        match &mut self.kind {
            NodeKind::Mapping(m) => Some(m),
            _ => None,
        }
    }

    /// The elements, if this is a sequence.
    pub fn as_sequence(&self) -> Option<&Vec<Node>> {
        match &self.kind {
            NodeKind::Sequence(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, mutably.
    pub fn as_sequence_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.kind {
            NodeKind::Sequence(s) => Some(s),
            _ => None,
        }
    }

    /// True for a mapping.
    pub fn is_mapping(&self) -> bool {
        matches!(self.kind, NodeKind::Mapping(_))
    }

    /// True for a sequence.
    pub fn is_sequence(&self) -> bool {
        matches!(self.kind, NodeKind::Sequence(_))
    }

    /// True for a scalar that resolves to null (`~`, `null`, empty).
    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), super::Resolved::Null)
    }

    /// The value of the first entry whose key is a scalar equal to `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_mapping()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The value of the first entry whose key is `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_mapping_mut()?
            .iter_mut()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Follows a path of mapping keys.
    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, k| n.get(k))
    }

    /// Sets `key` to `value` in a mapping: replaces the value of an existing key (keeping the
    /// old value's comments), else appends a new entry with a created string key. Returns the
    /// old value. No-op returning `None` if this is not a mapping.
    pub fn insert(&mut self, key: &str, value: Node) -> Option<Node> {
        let m = self.as_mapping_mut()?;
        if let Some((_, v)) = m.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
            return Some(v.replace(value));
        }
        m.push((Node::str(key), value));
        None
    }

    /// Removes the first entry with key `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let m = self.as_mapping_mut()?;
        let i = m.iter().position(|(k, _)| k.as_str() == Some(key))?;
        Some(m.remove(i).1)
    }

    /// Replaces this node's content with `new`, keeping this node's comments and position
    /// when `new` has none; returns the old node.
    pub fn replace(&mut self, mut new: Node) -> Node {
        if new.comments.is_none() {
            new.comments = self.comments.take();
        }
        if new.pos == Pos::default() {
            new.pos = self.pos;
        }
        // A scalar replaced by a scalar keeps the place of the old text (the splicer writes
        // the new value there); a collection that replaces a scalar has no text.
        if new.span.is_none()
            && matches!(self.kind, NodeKind::Scalar(_))
            && matches!(new.kind, NodeKind::Scalar(_))
        {
            new.span = self.span;
        }
        std::mem::replace(self, new)
    }

    /// The go-yaml v3 type of a scalar node (tag-aware). Collections and aliases resolve to
    /// [`super::Resolved::Str`] of nothing; check the kind first.
    pub fn resolve(&self) -> super::Resolved {
        match &self.kind {
            NodeKind::Scalar(s) => s.resolve(self.tag.as_deref()),
            _ => super::Resolved::NotScalar,
        }
    }

    /// Calls `f` on every node, depth first, in document order (keys before values).
    pub fn walk_mut(&mut self, f: &mut dyn FnMut(&mut Node)) {
        f(self);
        match &mut self.kind {
            NodeKind::Sequence(items) => items.iter_mut().for_each(|n| n.walk_mut(f)),
            NodeKind::Mapping(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.walk_mut(f);
                v.walk_mut(f);
            }),
            _ => {}
        }
    }
}

/// One YAML document of a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The root node. An empty document has an empty plain scalar root (null).
    pub root: Node,
    /// Comments of a document without content (only comments), else empty.
    pub head_comments: Vec<Text>,
    /// Comments after the root when the root is not a collection.
    pub foot_comments: Vec<Text>,
    /// The document started with an explicit `---`.
    pub explicit_start: bool,
}

impl Document {
    /// A document with this root.
    pub fn new(root: Node) -> Self {
        Document {
            root,
            head_comments: Vec::new(),
            foot_comments: Vec::new(),
            explicit_start: false,
        }
    }

    /// True when the document has no content (`---` followed by nothing, or only comments).
    pub fn is_empty(&self) -> bool {
        matches!(&self.root.kind, NodeKind::Scalar(s)
            if s.value().is_empty() && s.is_parsed() && s.style() == ScalarStyle::Plain && self.root.tag.is_none())
    }

    /// Replaces every alias by a copy of its anchored node (anchors are dropped from copies),
    /// as sops does. Fails on an unknown anchor or when expansion would exceed `max_nodes`
    /// (a "billion laughs" guard).
    pub fn expand_aliases(&mut self, max_nodes: usize) -> Result<(), super::Error> {
        super::alias::expand(&mut self.root, max_nodes)
    }
}
