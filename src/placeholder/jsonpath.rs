//! A Kubernetes JSONPath template evaluator (the `kubectl -o jsonpath=…` dialect that
//! argocd-vault-plugin's `jsonPath` modifier uses), over [`SecretValue`].
//!
//! Supported: literal text between `{…}` actions, `.field`, `['key']`, `\.` escapes in field
//! names, `*` wildcards, `..` recursive descent, `[n]`, `[start:end:step]` (negative indices),
//! `[a,b]` unions, filters `[?(@.x == 'y')]` with `== != < > <= >= =~` and existence tests,
//! quoted literals `{'text'}`, `@`/`$`, and `{range …}…{end}`. Missing keys are errors
//! (`NAME is not found`), as in the plugin. Results print as kubectl prints them: strings as-is,
//! numbers like Go, maps and lists as compact JSON; several results are joined by spaces.
//!
//! Errors name template elements, never values.

use zeroize::Zeroizing;

use super::value::{go_format_float, to_go_json};
use crate::secret::SecretValue;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Text(String),
    Action(Vec<Op>),
    Range(Vec<Op>, Vec<Item>),
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Field(String),
    Wildcard,
    Recursive,
    Slice(Slice),
    Union(Vec<Vec<Op>>),
    Filter(Box<Filter>),
    Lit(Lit),
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Slice {
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    /// `[n]` (end derived as n+1): a single index.
    single: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Vec<Op>,
    cmp: Option<(Cmp, Vec<Op>)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Match,
}

/// A raw action as lexed, before `range`/`end` are paired.
enum RawAction {
    Ops(Vec<Op>),
    Range(Vec<Op>),
    End,
}

impl JsonPath {
    /// Parses a template such as `{.a.b}` or `{.user}:{.pass}`.
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut raw: Vec<RawItem> = Vec::new();
        let mut p = Lexer {
            s: template,
            pos: 0,
        };
        loop {
            let rest = &template[p.pos..];
            match rest.find('{') {
                None => {
                    if !rest.is_empty() {
                        raw.push(RawItem::Text(rest.to_owned()));
                    }
                    break;
                }
                Some(i) => {
                    if i > 0 {
                        raw.push(RawItem::Text(rest[..i].to_owned()));
                    }
                    p.pos += i + 1;
                    raw.push(RawItem::Action(p.action()?));
                }
            }
        }
        let mut iter = raw.into_iter();
        let items = nest(&mut iter, false)?;
        Ok(JsonPath { items })
    }

    /// Evaluates the template on `data` and returns the printed text.
    pub fn execute(&self, data: &SecretValue) -> Result<Zeroizing<String>, String> {
        self.execute_bounded(data, usize::MAX)
    }

    /// [`execute`](Self::execute), failing as soon as the text grows past `max` bytes (a
    /// template that repeats a large value, or ranges over a long list, cannot allocate more
    /// than about twice the bound).
    pub fn execute_bounded(
        &self,
        data: &SecretValue,
        max: usize,
    ) -> Result<Zeroizing<String>, String> {
        let mut out = Zeroizing::new(String::new());
        run_items(&self.items, data, &mut out, max)?;
        Ok(out)
    }
}

enum RawItem {
    Text(String),
    Action(RawAction),
}

fn nest(iter: &mut std::vec::IntoIter<RawItem>, in_range: bool) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    while let Some(raw) = iter.next() {
        match raw {
            RawItem::Text(t) => items.push(Item::Text(t)),
            RawItem::Action(RawAction::Ops(ops)) => items.push(Item::Action(ops)),
            RawItem::Action(RawAction::Range(ops)) => {
                let body = nest(iter, true)?;
                items.push(Item::Range(ops, body));
            }
            RawItem::Action(RawAction::End) => {
                if in_range {
                    return Ok(items);
                }
                return Err("not in range, nothing to end".to_owned());
            }
        }
    }
    if in_range {
        return Err("range without end".to_owned());
    }
    Ok(items)
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

fn is_terminator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}')
}

fn describe_char(c: char) -> String {
    format!("U+{:04X} '{c}'", c as u32)
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Lexes one action after its `{`, up to and including its `}`.
    fn action(&mut self) -> Result<RawAction, String> {
        let mut ops = Vec::new();
        let mut keyword: Option<&'static str> = None;
        loop {
            let rest = self.rest();
            if rest.starts_with('}') {
                self.pos += 1;
                break;
            }
            if rest.starts_with("[?(") {
                self.pos += 3;
                ops.push(self.filter()?);
                continue;
            }
            if rest.starts_with("..") {
                if matches!(ops.last(), Some(Op::Recursive)) {
                    return Err("invalid multiple recursive descent".to_owned());
                }
                self.pos += 2;
                ops.push(Op::Recursive);
                if self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    ops.push(self.field());
                }
                continue;
            }
            let Some(c) = self.peek() else {
                return Err("unclosed action".to_owned());
            };
            match c {
                '\n' | '\r' => return Err("unclosed action".to_owned()),
                c if c.is_whitespace() => self.pos += c.len_utf8(),
                '@' | '$' => self.pos += 1,
                '[' => {
                    self.pos += 1;
                    ops.push(self.array()?);
                }
                '"' | '\'' => {
                    self.pos += 1;
                    let t = self.quoted(c)?;
                    ops.push(Op::Lit(Lit::Text(t)));
                }
                '.' => {
                    self.pos += 1;
                    ops.push(self.field());
                }
                '+' | '-' => ops.push(self.number()?),
                c if c.is_ascii_digit() => ops.push(self.number()?),
                c if c.is_alphanumeric() || c == '_' => {
                    let start = self.pos;
                    while let Some(c) = self.peek() {
                        if is_terminator(c) {
                            break;
                        }
                        self.pos += c.len_utf8();
                    }
                    let word = &self.s[start..self.pos];
                    match word {
                        "true" => ops.push(Op::Lit(Lit::Bool(true))),
                        "false" => ops.push(Op::Lit(Lit::Bool(false))),
                        "range" if ops.is_empty() && keyword.is_none() => keyword = Some("range"),
                        "end" if ops.is_empty() && keyword.is_none() => keyword = Some("end"),
                        other => return Err(format!("unrecognized identifier {other}")),
                    }
                }
                other => {
                    return Err(format!(
                        "unrecognized character in action: {}",
                        describe_char(other)
                    ));
                }
            }
        }
        Ok(match keyword {
            Some("range") => RawAction::Range(ops),
            Some(_) => {
                if !ops.is_empty() {
                    return Err("end takes no arguments".to_owned());
                }
                RawAction::End
            }
            None => RawAction::Ops(ops),
        })
    }

    fn field(&mut self) -> Op {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                self.pos += 1;
                if let Some(n) = self.peek() {
                    name.push(n);
                    self.pos += n.len_utf8();
                }
                continue;
            }
            if is_terminator(c) {
                break;
            }
            name.push(c);
            self.pos += c.len_utf8();
        }
        if name == "*" {
            Op::Wildcard
        } else {
            Op::Field(name)
        }
    }

    fn number(&mut self) -> Result<Op, String> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.pos += 1;
        }
        while let Some(c) = self.peek() {
            if c == '.' || c.is_ascii_digit() {
                self.pos += 1;
            } else {
                break;
            }
        }
        let text = &self.s[start..self.pos];
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Op::Lit(Lit::Int(i)));
        }
        text.parse::<f64>()
            .map(|f| Op::Lit(Lit::Float(f)))
            .map_err(|_| format!("cannot parse number {text}"))
    }

    /// After the opening quote; returns the unescaped text.
    fn quoted(&mut self, q: char) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\n' | '\r' => break,
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                c if c == q => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err("unterminated quoted string".to_owned())
    }

    /// After `[`: an index, slice, union or quoted key, up to `]`.
    fn array(&mut self) -> Result<Op, String> {
        let rest = self.rest();
        let Some(close) = find_unquoted(rest, ']') else {
            return Err("unterminated array".to_owned());
        };
        let text = rest[..close].trim();
        if text.contains('\n') {
            return Err("unterminated array".to_owned());
        }
        self.pos += close + 1;
        parse_bracket(text)
    }

    /// After `[?(`: a filter up to `)]`.
    fn filter(&mut self) -> Result<Op, String> {
        let rest = self.rest();
        let Some(close) = find_unquoted(rest, ')') else {
            return Err("unterminated filter".to_owned());
        };
        let text = &rest[..close];
        if !rest[close + 1..].starts_with(']') {
            return Err("unclosed array expect ]".to_owned());
        }
        self.pos += close + 2;
        let ops_of = |t: &str| -> Result<Vec<Op>, String> {
            let src = format!("{t}}}");
            Lexer { s: &src, pos: 0 }.action_owned()
        };
        // Split `left OP right` at the first operator character run.
        let op_start = text.find(['!', '<', '>', '=', '~']);
        match op_start {
            None => Ok(Op::Filter(Box::new(Filter {
                left: ops_of(text)?,
                cmp: None,
            }))),
            Some(i) => {
                let after = &text[i..];
                let op_len = after
                    .find(|c: char| !matches!(c, '!' | '<' | '>' | '=' | '~'))
                    .unwrap_or(after.len());
                let cmp = match &after[..op_len] {
                    "==" => Cmp::Eq,
                    "!=" => Cmp::Ne,
                    "<" => Cmp::Lt,
                    ">" => Cmp::Gt,
                    "<=" => Cmp::Le,
                    ">=" => Cmp::Ge,
                    "=~" => Cmp::Match,
                    other => return Err(format!("unrecognized filter operator {other}")),
                };
                let right = &after[op_len..];
                if right.trim().is_empty() {
                    return Err("filter has no right-hand side".to_owned());
                }
                Ok(Op::Filter(Box::new(Filter {
                    left: ops_of(&text[..i])?,
                    cmp: Some((cmp, ops_of(right)?)),
                })))
            }
        }
    }

    /// Lexes a whole string (ending in `}`) as one action's ops.
    fn action_owned(&mut self) -> Result<Vec<Op>, String> {
        match self.action()? {
            RawAction::Ops(ops) => Ok(ops),
            _ => Err("range/end are not allowed here".to_owned()),
        }
    }
}

fn find_unquoted(s: &str, target: char) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
        } else if c == target {
            return Some(i);
        }
    }
    None
}

fn parse_bracket(text: &str) -> Result<Op, String> {
    let text = if text == "*" { ":" } else { text };
    // Union.
    if split_unquoted(text, ',').len() > 1 {
        let mut branches = Vec::new();
        for part in split_unquoted(text, ',') {
            branches.push(vec![parse_bracket(part.trim())?]);
        }
        return Ok(Op::Union(branches));
    }
    // Quoted key.
    if text.len() >= 2 {
        let (first, last) = (text.as_bytes()[0], text.as_bytes()[text.len() - 1]);
        if (first == b'\'' || first == b'"') && first == last {
            return Ok(Op::Field(text[1..text.len() - 1].to_owned()));
        }
    }
    // Index or slice.
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 || parts.iter().any(|p| !is_int_or_empty(p)) {
        return Err(format!("invalid array index {text}"));
    }
    let num = |p: &str| -> Result<Option<i64>, String> {
        if p.trim().is_empty() {
            Ok(None)
        } else {
            p.trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("array index {p} is not a number"))
        }
    };
    let start = num(parts[0])?;
    if parts.len() == 1 {
        return match start {
            Some(_) => Ok(Op::Slice(Slice {
                start,
                end: None,
                step: None,
                single: true,
            })),
            None => Err(format!("invalid array index {text}")),
        };
    }
    Ok(Op::Slice(Slice {
        start,
        end: num(parts[1])?,
        step: match parts.get(2) {
            Some(p) => num(p)?,
            None => None,
        },
        single: false,
    }))
}

fn is_int_or_empty(p: &str) -> bool {
    let p = p.trim();
    let digits = p.strip_prefix('-').unwrap_or(p);
    digits.chars().all(|c| c.is_ascii_digit()) && !(p.starts_with('-') && digits.is_empty())
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(i) = find_unquoted(rest, sep) {
        parts.push(&rest[..i]);
        rest = &rest[i + sep.len_utf8()..];
    }
    parts.push(rest);
    parts
}

/// One intermediate result: a node of the data or a literal from the template.
#[derive(Clone, Copy)]
enum R<'a> {
    V(&'a SecretValue),
    L(&'a Lit),
}

fn run_items(
    items: &[Item],
    root: &SecretValue,
    out: &mut String,
    max: usize,
) -> Result<(), String> {
    for item in items {
        if out.len() > max {
            return Err(super::modifier::too_large(out.len(), max));
        }
        match item {
            Item::Text(t) => out.push_str(t),
            Item::Action(ops) => {
                let results = eval(ops, vec![R::V(root)])?;
                print_results(&results, out)?;
            }
            Item::Range(ops, body) => {
                for r in eval(ops, vec![R::V(root)])? {
                    match r {
                        R::V(v) => run_items(body, v, out, max)?,
                        R::L(_) => return Err("cannot range over a literal".to_owned()),
                    }
                }
            }
        }
    }
    if out.len() > max {
        return Err(super::modifier::too_large(out.len(), max));
    }
    Ok(())
}

fn print_results(results: &[R<'_>], out: &mut String) -> Result<(), String> {
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match r {
            R::L(Lit::Text(t)) => out.push_str(t),
            R::L(Lit::Int(n)) => out.push_str(&n.to_string()),
            R::L(Lit::Float(f)) => out.push_str(&go_format_float(*f)),
            R::L(Lit::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
            R::V(v) => match v {
                SecretValue::Map(_) | SecretValue::List(_) => out.push_str(&to_go_json(v)?),
                SecretValue::String(s) => out.push_str(
                    s.expose_str()
                        .ok_or_else(|| "binary data cannot be printed".to_owned())?,
                ),
                SecretValue::Int(n) => out.push_str(&n.to_string()),
                SecretValue::Float(f) => out.push_str(&go_format_float(*f)),
                SecretValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                SecretValue::Null => out.push_str("null"),
            },
        }
    }
    Ok(())
}

/// True for the "NAME is not found" error (a missing field: `default` may apply), as opposed
/// to a malformed expression or a wrong type.
pub fn is_not_found(e: &str) -> bool {
    e.ends_with(" is not found")
        || (e.contains(" is not found (fields there: ") && e.ends_with(')'))
}

fn eval<'a>(ops: &'a [Op], mut cur: Vec<R<'a>>) -> Result<Vec<R<'a>>, String> {
    for op in ops {
        cur = step(op, cur)?;
    }
    Ok(cur)
}

fn step<'a>(op: &'a Op, input: Vec<R<'a>>) -> Result<Vec<R<'a>>, String> {
    match op {
        Op::Lit(l) => Ok(input.iter().map(|_| R::L(l)).collect()),
        Op::Field(name) => {
            if input.is_empty() {
                return Ok(input);
            }
            if name.is_empty() {
                return Ok(input);
            }
            let mut out = Vec::new();
            for r in &input {
                if let R::V(SecretValue::Map(m)) = r
                    && let Some(v) = m.get(name)
                {
                    out.push(R::V(v));
                }
            }
            if out.is_empty() {
                // kubectl's message, plus the field names that do exist there (names only,
                // never values), at most 20.
                let mut names: Vec<&str> = input
                    .iter()
                    .filter_map(|r| match r {
                        R::V(SecretValue::Map(m)) => Some(m.keys().map(String::as_str)),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                names.sort_unstable();
                names.dedup();
                if names.is_empty() {
                    return Err(format!("{name} is not found"));
                }
                let more = if names.len() > 20 { ", …" } else { "" };
                names.truncate(20);
                return Err(format!(
                    "{name} is not found (fields there: {}{more})",
                    names.join(", ")
                ));
            }
            Ok(out)
        }
        Op::Wildcard => {
            let mut out = Vec::new();
            for r in input {
                match r {
                    R::V(SecretValue::Map(m)) => out.extend(m.values().map(R::V)),
                    R::V(SecretValue::List(l)) => out.extend(l.iter().map(R::V)),
                    _ => {}
                }
            }
            Ok(out)
        }
        Op::Recursive => {
            let mut out = Vec::new();
            for r in input {
                if let R::V(v) = r {
                    descend(v, &mut out);
                }
            }
            Ok(out)
        }
        Op::Slice(s) => {
            let mut out = Vec::new();
            for r in input {
                let list = match r {
                    R::V(SecretValue::List(l)) => l,
                    R::V(SecretValue::Null) => continue,
                    R::V(v) => return Err(format!("{} is not array or slice", v.type_name())),
                    R::L(_) => return Err("a literal is not array or slice".to_owned()),
                };
                slice(list, s, &mut out)?;
            }
            Ok(out)
        }
        Op::Union(branches) => {
            let mut out = Vec::new();
            for b in branches {
                out.extend(eval(b, input.clone())?);
            }
            Ok(out)
        }
        Op::Filter(f) => {
            let mut out = Vec::new();
            for r in input {
                let list = match r {
                    R::V(SecretValue::List(l)) => l,
                    R::V(v) => {
                        return Err(format!(
                            "{} is not array or slice and cannot be filtered",
                            v.type_name()
                        ));
                    }
                    R::L(_) => return Err("a literal cannot be filtered".to_owned()),
                };
                for item in list {
                    if filter_passes(f, item)? {
                        out.push(R::V(item));
                    }
                }
            }
            Ok(out)
        }
    }
}

fn descend<'a>(v: &'a SecretValue, out: &mut Vec<R<'a>>) {
    let children: Vec<&SecretValue> = match v {
        SecretValue::Map(m) => m.values().collect(),
        SecretValue::List(l) => l.iter().collect(),
        _ => return,
    };
    if children.is_empty() {
        return;
    }
    out.push(R::V(v));
    for c in children {
        descend(c, out);
    }
}

fn slice<'a>(list: &'a [SecretValue], s: &Slice, out: &mut Vec<R<'a>>) -> Result<(), String> {
    let len = list.len() as i64;
    let mut start = s.start.unwrap_or(0);
    if start < 0 {
        start += len;
    }
    let end = if s.single {
        start + 1
    } else {
        match s.end {
            Some(e) if e < 0 => e + len,
            Some(e) => e,
            None => len,
        }
    };
    if start == end {
        return Ok(());
    }
    if start < 0 || start >= len {
        return Err(format!(
            "array index out of bounds: index {start}, length {len}"
        ));
    }
    if end < 0 || end > len {
        return Err(format!(
            "array index out of bounds: index {}, length {len}",
            end - 1
        ));
    }
    if start > end {
        return Err(format!(
            "starting index {start} is greater than ending index {end}"
        ));
    }
    let step = match s.step {
        Some(st) if st <= 0 => return Err("step must be > 0".to_owned()),
        Some(st) => st as usize,
        None => 1,
    };
    out.extend(
        list[start as usize..end as usize]
            .iter()
            .step_by(step)
            .map(R::V),
    );
    Ok(())
}

fn filter_passes(f: &Filter, item: &SecretValue) -> Result<bool, String> {
    let lefts = eval(&f.left, vec![R::V(item)]);
    let Some((cmp, right_ops)) = &f.cmp else {
        return Ok(lefts.is_ok_and(|l| !l.is_empty()));
    };
    let lefts = match lefts {
        Ok(l) => l,
        // A missing field on one element just filters it out.
        Err(_) => return Ok(false),
    };
    if lefts.is_empty() {
        return Ok(false);
    }
    if lefts.len() > 1 {
        return Err("can only compare one element at a time".to_owned());
    }
    let rights = eval(right_ops, vec![R::V(item)])?;
    if rights.is_empty() {
        return Ok(false);
    }
    if rights.len() > 1 {
        return Err("can only compare one element at a time".to_owned());
    }
    compare(*cmp, lefts[0], rights[0])
}

enum Scalar<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Other,
}

fn scalar<'a>(r: R<'a>) -> Scalar<'a> {
    match r {
        R::L(Lit::Text(t)) => Scalar::Str(t),
        R::L(Lit::Int(i)) => Scalar::Num(*i as f64),
        R::L(Lit::Float(f)) => Scalar::Num(*f),
        R::L(Lit::Bool(b)) => Scalar::Bool(*b),
        R::V(SecretValue::String(s)) => s.expose_str().map_or(Scalar::Other, Scalar::Str),
        R::V(SecretValue::Int(i)) => Scalar::Num(*i as f64),
        R::V(SecretValue::Float(f)) => Scalar::Num(*f),
        R::V(SecretValue::Bool(b)) => Scalar::Bool(*b),
        R::V(_) => Scalar::Other,
    }
}

fn compare(cmp: Cmp, l: R<'_>, r: R<'_>) -> Result<bool, String> {
    use std::cmp::Ordering;
    let (l, r) = (scalar(l), scalar(r));
    if cmp == Cmp::Match {
        return match (l, r) {
            (Scalar::Str(data), Scalar::Str(pattern)) => regex::Regex::new(pattern)
                .map(|re| re.is_match(data))
                .map_err(|_| "invalid regular expression in filter".to_owned()),
            _ => Err("regexp match only supports strings".to_owned()),
        };
    }
    let ord: Option<Ordering> = match (&l, &r) {
        (Scalar::Num(a), Scalar::Num(b)) => a.partial_cmp(b),
        (Scalar::Str(a), Scalar::Str(b)) => Some(a.cmp(b)),
        (Scalar::Bool(a), Scalar::Bool(b)) => {
            if matches!(cmp, Cmp::Eq | Cmp::Ne) {
                Some(a.cmp(b))
            } else {
                return Err("booleans can only be compared for equality".to_owned());
            }
        }
        _ => {
            return match cmp {
                Cmp::Eq => Ok(false),
                Cmp::Ne => Ok(true),
                _ => Err("incompatible types for comparison".to_owned()),
            };
        }
    };
    let Some(ord) = ord else { return Ok(false) };
    Ok(match cmp {
        Cmp::Eq => ord == Ordering::Equal,
        Cmp::Ne => ord != Ordering::Equal,
        Cmp::Lt => ord == Ordering::Less,
        Cmp::Gt => ord == Ordering::Greater,
        Cmp::Le => ord != Ordering::Greater,
        Cmp::Ge => ord != Ordering::Less,
        Cmp::Match => false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::value::parse_json;
    use super::*;

    fn run(t: &str, json: &str) -> Result<String, String> {
        let data = parse_json(json.as_bytes()).unwrap();
        JsonPath::parse(t)?.execute(&data).map(|s| s.to_string())
    }

    const DATA: &str = r#"{"service":{"enableTLS":true,"ports":[80,8080]},
        "deployment":{"replicas":2,"image":{"name":"json-test","tag":"latest"}},
        "items":[{"name":"a","port":1,"labels":{"k.io/x":"y"}},{"name":"b","port":2}],
        "f":2.0, "big":1e21}"#;

    #[test]
    fn fields_and_text() {
        assert_eq!(run("{.deployment.replicas}", DATA).unwrap(), "2");
        assert_eq!(
            run(
                "foo.com/{.deployment.image.name}:{.deployment.image.tag}",
                DATA
            )
            .unwrap(),
            "foo.com/json-test:latest"
        );
        assert_eq!(run("{.f} {.big}", DATA).unwrap(), "2 1e+21");
        assert_eq!(run("{.service.enableTLS}", DATA).unwrap(), "true");
        assert_eq!(run("{.service.ports}", DATA).unwrap(), "[80,8080]");
        assert_eq!(
            run("{.deployment.image}", DATA).unwrap(),
            r#"{"name":"json-test","tag":"latest"}"#
        );
        assert_eq!(run("{.items[0].labels.k\\.io/x}", DATA).unwrap(), "y");
        assert_eq!(run("{.items[0].labels['k.io/x']}", DATA).unwrap(), "y");
        assert_eq!(run("{@.deployment.replicas}", DATA).unwrap(), "2");
        assert_eq!(run("{$.deployment.replicas}", DATA).unwrap(), "2");
    }

    #[test]
    fn arrays_slices_wildcards_unions() {
        assert_eq!(run("{.items[*].name}", DATA).unwrap(), "a b");
        assert_eq!(run("{.items[-1].name}", DATA).unwrap(), "b");
        assert_eq!(run("{.service.ports[0:1]}", DATA).unwrap(), "80");
        assert_eq!(run("{.service.ports[0:-1:1]}", DATA).unwrap(), "80");
        assert_eq!(run("{.items[0,1].port}", DATA).unwrap(), "1 2");
        assert_eq!(run("{.items[*]['name','port']}", DATA).unwrap(), "a b 1 2");
        assert_eq!(run("{..name}", DATA).unwrap(), "json-test a b");
        assert!(
            run("{.items[5]}", DATA)
                .unwrap_err()
                .contains("out of bounds")
        );
    }

    #[test]
    fn filters() {
        assert_eq!(run("{.items[?(@.name=='b')].port}", DATA).unwrap(), "2");
        assert_eq!(run("{.items[?(@.port > 1)].name}", DATA).unwrap(), "b");
        assert_eq!(run("{.items[?(@.labels)].name}", DATA).unwrap(), "a");
        assert_eq!(run("{.items[?(@.name =~ '^a')].port}", DATA).unwrap(), "1");
    }

    #[test]
    fn range_and_literals() {
        assert_eq!(
            run("{range .items[*]}{.name}={.port};{end}", DATA).unwrap(),
            "a=1;b=2;"
        );
        // The multi-line template of argocd-vault-plugin's modifiers fixture (folded).
        let t = "{'['} {range .service.ports[0:-1:1]} {'{\"protocol\":\"TCP\",'} {'\"port\":'}{@} \
                 {',\"targetPort\":'}{@} {'},'} {end} {'{\"protocol\":\"TCP\",'} \
                 {'\"port\":'}{.service.ports[-1]} {',\"targetPort\":'}{.service.ports[-1]} {'}]'}";
        let out = run(t, DATA).unwrap();
        let parsed = parse_json(out.as_bytes()).unwrap();
        assert_eq!(
            to_go_json(&parsed).unwrap().as_str(),
            r#"[{"port":80,"protocol":"TCP","targetPort":80},{"port":8080,"protocol":"TCP","targetPort":8080}]"#
        );
    }

    #[test]
    fn errors_match_kubectl() {
        // kubectl's message, with the names of the fields that exist (never their values).
        assert_eq!(
            run("{.missingPath}", DATA).unwrap_err(),
            "missingPath is not found (fields there: big, deployment, f, items, service)"
        );
        assert_eq!(
            run("{!invalidPath}", DATA).unwrap_err(),
            "unrecognized character in action: U+0021 '!'"
        );
        assert_eq!(run("{.a", DATA).unwrap_err(), "unclosed action");
        assert!(run("{end}", DATA).is_err());
        assert!(run("{range .items[*]}x", DATA).is_err());
    }
}
