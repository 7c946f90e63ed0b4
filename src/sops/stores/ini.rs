//! INI store (spec §9.6): go-ini parsing rules and its "pretty" writer.

use zeroize::Zeroizing;

use crate::secret::Sensitive;
use crate::sops::stores::dotenv::val_to_string;
use crate::sops::stores::flatten;
use crate::sops::tree::{Entry, Map, Value};

struct Section {
    name: String,
    comment: String,
    keys: Vec<(String, Zeroizing<Vec<u8>>, String)>,
}

/// sops' `stripCommentChar`: drop leading `;`/`#` and spaces.
fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_string()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_string()
    } else {
        c.to_string()
    }
}

fn has_surrounded_quote(s: &[u8], q: u8) -> bool {
    s.len() >= 2 && s[0] == q && s[s.len() - 1] == q && !s[1..s.len() - 1].contains(&q)
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |p| p + 1);
    &b[s..e.max(s)]
}

/// Parses INI text into one document: every section (`DEFAULT` first) is a mapping.
pub fn parse(input: &[u8]) -> Result<Map, String> {
    let text = input;
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let mut sections = vec![Section {
        name: "DEFAULT".into(),
        comment: String::new(),
        keys: Vec::new(),
    }];
    let mut comment = String::new();
    let mut i = 0;
    let add_comment = |comment: &mut String, c: &[u8]| {
        if !comment.is_empty() {
            comment.push('\n');
        }
        comment.push_str(&String::from_utf8_lossy(c));
    };
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let line = trim(raw);
        if line.is_empty() {
            continue;
        }
        if line[0] == b';' || line[0] == b'#' {
            add_comment(&mut comment, line);
            continue;
        }
        if line[0] == b'[' {
            let close = line
                .iter()
                .rposition(|&c| c == b']')
                .ok_or_else(|| format!("INI line {i}: unclosed section header"))?;
            let name = String::from_utf8_lossy(trim(&line[1..close])).into_owned();
            sections.push(Section {
                name,
                comment: std::mem::take(&mut comment).trim().to_string(),
                keys: Vec::new(),
            });
            continue;
        }
        // Key name.
        let (key, rest): (String, &[u8]) = if line.starts_with(b"\"\"\"") {
            let end = find(&line[3..], b"\"\"\"")
                .ok_or_else(|| format!("INI line {i}: unclosed key quote"))?;
            let k = &line[3..3 + end];
            (
                String::from_utf8_lossy(k).into_owned(),
                delim_rest(&line[6 + end..], i)?,
            )
        } else if line[0] == b'`' || line[0] == b'"' {
            let q = line[0];
            let end = line[1..]
                .iter()
                .position(|&c| c == q)
                .ok_or_else(|| format!("INI line {i}: unclosed key quote"))?;
            (
                String::from_utf8_lossy(&line[1..1 + end]).into_owned(),
                delim_rest(&line[2 + end..], i)?,
            )
        } else {
            let d = line
                .iter()
                .position(|&c| c == b'=' || c == b':')
                .ok_or_else(|| format!("INI line {i}: key-value delimiter (= or :) not found"))?;
            (
                String::from_utf8_lossy(trim(&line[..d])).into_owned(),
                &line[d + 1..],
            )
        };
        // Value.
        let v = {
            let start = rest
                .iter()
                .position(|c| !c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            &rest[start..]
        };
        let value: Vec<u8> = if v.is_empty() {
            Vec::new()
        } else if v.len() > 3 && v.starts_with(b"\"\"\"") || v[0] == b'`' {
            let q: &[u8] = if v[0] == b'`' { b"`" } else { b"\"\"\"" };
            let body = &v[q.len()..];
            if let Some(p) = rfind(body, q) {
                body[..p].to_vec()
            } else {
                // Multi-line: read until a line containing the closing delimiter.
                let mut acc = body.to_vec();
                loop {
                    if i >= lines.len() {
                        return Err(format!("INI line {i}: unclosed multi-line value"));
                    }
                    let next = lines[i];
                    i += 1;
                    acc.push(b'\n');
                    if let Some(p) = find(next, q) {
                        acc.extend_from_slice(&next[..p]);
                        break;
                    }
                    acc.extend_from_slice(next);
                }
                acc
            }
        } else {
            let mut t = trim(v).to_vec();
            // Continuation lines.
            while t.last() == Some(&b'\\') {
                t.pop();
                if i >= lines.len() {
                    break;
                }
                let next = trim(lines[i]);
                i += 1;
                t.extend_from_slice(next);
            }
            if let Some(p) = t.iter().position(|&c| c == b'#' || c == b';') {
                add_comment(&mut comment, &t[p..]);
                t = trim(&t[..p]).to_vec();
            }
            if has_surrounded_quote(&t, b'\'') || has_surrounded_quote(&t, b'"') {
                t = t[1..t.len() - 1].to_vec();
            }
            t
        };
        let c = std::mem::take(&mut comment).trim().to_string();
        let sec = sections.last_mut().ok_or("INI: no section")?;
        if let Some(existing) = sec.keys.iter_mut().find(|(k, _, _)| *k == key) {
            existing.1 = Zeroizing::new(value);
            existing.2 = c;
        } else {
            sec.keys.push((key, Zeroizing::new(value), c));
        }
    }
    let mut doc = Map::new();
    for s in sections {
        let mut items = Map::new();
        if !s.comment.is_empty() {
            items.push(Entry::Comment(Sensitive::from(strip_comment_char(
                &s.comment,
            ))));
        }
        for (k, mut v, c) in s.keys {
            items.push(Entry::Pair(
                k,
                Value::Str(Sensitive::new(std::mem::take(&mut *v))),
            ));
            if !c.is_empty() {
                items.push(Entry::Comment(Sensitive::from(strip_comment_char(&c))));
            }
        }
        doc.push(Entry::Pair(s.name, Value::Map(items)));
    }
    Ok(doc)
}

fn delim_rest(after: &[u8], line: usize) -> Result<&[u8], String> {
    let t = {
        let s = after
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .unwrap_or(after.len());
        &after[s..]
    };
    match t.first() {
        Some(b'=' | b':') => Ok(&t[1..]),
        _ => Err(format!(
            "INI line {line}: key-value delimiter (= or :) not found"
        )),
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn rfind(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).rposition(|w| w == n)
}

/// Splits off the `[sops]` section: (data, flattened metadata) or `None` if there is none.
pub fn split_metadata(doc: Map) -> (Map, Option<Vec<(String, String)>>) {
    let mut data = Map::new();
    let mut md = None;
    for e in doc {
        match e {
            Entry::Pair(k, Value::Map(m)) if k == "sops" => {
                let mut flat = Vec::new();
                for item in m {
                    if let Entry::Pair(fk, fv) = item {
                        let text = fv
                            .as_bytes()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .unwrap_or_default();
                        flat.push((fk, text));
                    }
                }
                md = Some(flat);
            }
            other => data.push(other),
        }
    }
    (data, md)
}

fn write_comment_lines(out: &mut Vec<u8>, comment: &[u8], trim_plain: bool) {
    let text = String::from_utf8_lossy(comment);
    for line in text.split('\n') {
        match line.as_bytes().first() {
            Some(b'#' | b';') => {
                out.extend_from_slice(&line.as_bytes()[..1]);
                out.push(b' ');
                out.extend_from_slice(line[1..].trim().as_bytes());
            }
            _ => {
                out.extend_from_slice(b"; ");
                out.extend_from_slice(if trim_plain { line.trim() } else { line }.as_bytes());
            }
        }
        out.push(b'\n');
    }
}

/// Emits sections as go-ini's pretty format; `metadata` becomes a final `[sops]` section.
pub fn emit(doc: &Map, metadata: Option<&Value>) -> Result<Zeroizing<Vec<u8>>, String> {
    struct Key<'a> {
        name: &'a [u8],
        value: Zeroizing<Vec<u8>>,
        comment: Option<&'a [u8]>,
    }
    let md_flat = metadata.map(flatten::flatten);
    type SectionOut<'a> = (&'a str, Option<&'a [u8]>, Vec<Key<'a>>);
    let mut sections: Vec<SectionOut<'_>> = Vec::new();
    for e in doc {
        let Entry::Pair(name, v) = e else { continue };
        let Value::Map(items) = v else {
            return Err(
                "Error encoding section: Section values should always be TreeBranches".into(),
            );
        };
        let mut first = 0;
        let mut sec_comment = None;
        if let Some(Entry::Comment(c)) = items.first() {
            sec_comment = Some(c.expose());
            first = 1;
        }
        let mut keys: Vec<Key<'_>> = Vec::new();
        for item in &items[first..] {
            match item {
                Entry::Comment(c) => {
                    if let Some(last) = keys.last_mut() {
                        last.comment = Some(c.expose());
                    }
                }
                Entry::Pair(k, v) => {
                    let mut buf = Zeroizing::new(Vec::new());
                    val_to_string(v, &mut buf);
                    if let Some(existing) = keys.iter_mut().find(|x| x.name == k.as_bytes()) {
                        existing.value = buf;
                    } else {
                        keys.push(Key {
                            name: k.as_bytes(),
                            value: buf,
                            comment: None,
                        });
                    }
                }
            }
        }
        sections.push((name.as_str(), sec_comment, keys));
    }
    let mut md_keys = Vec::new();
    if let Some(flat) = &md_flat {
        for (k, v) in flat {
            md_keys.push(Key {
                name: k.as_bytes(),
                value: Zeroizing::new(v.as_bytes().to_vec()),
                comment: None,
            });
        }
        sections.push(("sops", None, md_keys));
    }

    let mut out = Zeroizing::new(Vec::with_capacity(1024));
    let n = sections.len();
    for (i, (name, comment, keys)) in sections.iter().enumerate() {
        if let Some(c) = comment
            && !c.is_empty()
        {
            write_comment_lines(&mut out, c, false);
        }
        if i > 0 || !name.eq_ignore_ascii_case("DEFAULT") {
            out.push(b'[');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"]\n");
        } else if keys.is_empty() {
            continue;
        }
        let quoted = |k: &[u8]| -> Vec<u8> {
            if k.contains(&b'"') || k.contains(&b'=') || k.contains(&b':') {
                [b"`".as_slice(), k, b"`"].concat()
            } else if k.contains(&b'`') {
                [b"\"\"\"".as_slice(), k, b"\"\"\""].concat()
            } else {
                k.to_vec()
            }
        };
        let align = keys.iter().map(|k| quoted(k.name).len()).max().unwrap_or(0);
        for k in keys {
            if let Some(c) = k.comment
                && !c.is_empty()
            {
                write_comment_lines(&mut out, c, true);
            }
            let qn = quoted(k.name);
            out.extend_from_slice(&qn);
            out.extend(std::iter::repeat_n(b' ', align - qn.len()));
            out.extend_from_slice(b" = ");
            let v: &[u8] = &k.value;
            if v.contains(&b'\n') || v.contains(&b'`') {
                out.extend_from_slice(b"\"\"\"");
                out.extend_from_slice(v);
                out.extend_from_slice(b"\"\"\"");
            } else if v.contains(&b'#') || v.contains(&b';') {
                out.push(b'`');
                out.extend_from_slice(v);
                out.push(b'`');
            } else if trim(v).len() != v.len() {
                out.push(b'"');
                out.extend_from_slice(v);
                out.push(b'"');
            } else {
                out.extend_from_slice(v);
            }
            out.push(b'\n');
        }
        if i + 1 < n {
            out.push(b'\n');
        }
    }
    Ok(out)
}
