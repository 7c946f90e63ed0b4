//! Reading manifests into documents with their origins, and writing them back.
//!
//! Inputs are files, directories (walked recursively for `.yaml`, `.yml` and `.json`, in
//! lexical order; hidden files and directories such as `.git/` and `.sops.yaml` are skipped)
//! or `-` for stdin. Each input is a YAML stream or
//! one or more JSON documents. Documents that are not Kubernetes objects (no `kind`) are
//! skipped with a warning; sops-encrypted files are skipped quietly (they are the secrets the
//! manifests refer to); empty documents (`---` alone, only comments) disappear.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::yaml::{self, Document, Node};

pub mod stream;

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file as given on the command line (or found in a directory), or `<stdin>`.
    pub file: String,
    /// The 0-based index of the document in its file.
    pub index: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.file, self.index + 1)
    }
}

/// One input of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file or a directory.
    Path(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// Text already in memory (e.g. `helm template`'s stdout), named for messages.
    Text {
        /// The name used in messages (e.g. `<helm template>`).
        name: String,
        /// The manifest stream.
        text: Zeroizing<String>,
    },
}

impl Input {
    /// `-` is stdin, anything else a path.
    pub fn from_arg(arg: &Path) -> Input {
        if arg == Path::new("-") {
            Input::Stdin
        } else {
            Input::Path(arg.to_path_buf())
        }
    }
}

/// A document kept for rendering, with its origin.
#[derive(Debug, Clone)]
pub struct SourceDocument {
    /// The parsed document.
    pub doc: Document,
    /// Where it came from.
    pub origin: Origin,
}

/// Something that was left out of the output on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The document.
    pub origin: Origin,
    /// Why (not secret).
    pub reason: String,
    /// True when the user should hear about it (a warning), false for expected skips.
    pub warn: bool,
}

/// A problem reading the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The file (or `<stdin>`).
    pub file: String,
    /// What is wrong (line/column for syntax errors; never file content).
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// Everything read from the inputs.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Kubernetes documents in input order.
    pub documents: Vec<SourceDocument>,
    /// Documents left out.
    pub skipped: Vec<Skipped>,
}

/// The extensions a directory walk takes.
pub const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Reads every input. All read and syntax errors are collected; nothing is returned unless
/// every input could be read.
pub fn load(inputs: &[Input]) -> Result<Loaded, Vec<ReadError>> {
    let (sources, mut errors) = read_sources(inputs);
    let mut loaded = Loaded::default();
    for (name, text, json) in sources {
        match parse_source(&text, json) {
            Ok(docs) => classify(&name, docs, &mut loaded),
            Err(message) => errors.push(ReadError {
                file: name,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
}

/// Reads every input: (name, text, is a `.json` file), and the inputs that could not be read.
#[allow(clippy::type_complexity)]
pub(crate) fn read_sources(
    inputs: &[Input],
) -> (Vec<(String, Zeroizing<String>, bool)>, Vec<ReadError>) {
    let mut errors = Vec::new();
    let mut sources: Vec<(String, Zeroizing<String>, bool)> = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => {
                let mut buf = Zeroizing::new(Vec::new());
                match std::io::stdin().lock().read_to_end(&mut buf) {
                    Ok(_) => match String::from_utf8(std::mem::take(&mut *buf)) {
                        Ok(s) => sources.push(("<stdin>".to_owned(), Zeroizing::new(s), false)),
                        Err(_) => errors.push(ReadError {
                            file: "<stdin>".to_owned(),
                            message: "not UTF-8 text".to_owned(),
                        }),
                    },
                    Err(e) => errors.push(ReadError {
                        file: "<stdin>".to_owned(),
                        message: format!("cannot read: {e}"),
                    }),
                }
            }
            Input::Text { name, text } => sources.push((name.clone(), text.clone(), false)),
            Input::Path(p) => match files_of(p) {
                Ok(files) => {
                    for f in files {
                        let name = f.display().to_string();
                        match read_text(&f) {
                            Ok(text) => {
                                let json = f.extension().is_some_and(|e| e == "json");
                                sources.push((name, text, json));
                            }
                            Err(message) => errors.push(ReadError {
                                file: name,
                                message,
                            }),
                        }
                    }
                }
                Err(message) => errors.push(ReadError {
                    file: p.display().to_string(),
                    message,
                }),
            },
        }
    }
    (sources, errors)
}

/// Parses text from memory (for callers that already hold the bytes, e.g. a KRM function).
pub fn load_text(name: &str, text: &str) -> Result<Loaded, ReadError> {
    let mut loaded = Loaded::default();
    let docs = parse_source(text, false).map_err(|message| ReadError {
        file: name.to_owned(),
        message,
    })?;
    classify(name, docs, &mut loaded);
    Ok(loaded)
}

fn read_text(path: &Path) -> Result<Zeroizing<String>, String> {
    let mut bytes = Zeroizing::new(std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?);
    // No copy (a stream of tens of MB is held once).
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err("not UTF-8 text".to_owned())
        }
    }
}

/// The files of one path argument: the file itself, or a directory's matching files.
///
/// A directory walk is confined to the directory like `sops://` paths are to the sops root
/// ([`crate::backend::sops::confine`]): a symbolic link whose target leaves the directory, a
/// dangling link or a link loop, and an entry that cannot be read or is not a regular file
/// (FIFO, socket, device) are errors naming the entry — never skipped, since a manifest left
/// out of the output is a resource Argo CD prunes. Symbolic links to directories inside it are
/// not walked (no loops); hidden entries and files of other extensions are not manifests.
fn files_of(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !meta.is_dir() {
        return Err("not a file or directory".to_owned());
    }
    let root = path
        .canonicalize()
        .map_err(|e| format!("cannot resolve the directory: {e}"))?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    walk(
        &Walk {
            shown: path,
            root: &root,
        },
        Path::new(""),
        &mut out,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(format!(
            "the directory cannot be read completely (a manifest left out would be pruned):\n    {}",
            errors.join("\n    ")
        ));
    }
    if out.is_empty() {
        return Err(format!(
            "no YAML or JSON files (.yaml, .yml, .json) were found in {}",
            path.display()
        ));
    }
    Ok(out)
}

/// The walked directory: as given (for names) and canonical (for confinement).
struct Walk<'a> {
    shown: &'a Path,
    root: &'a Path,
}

fn walk(w: &Walk<'_>, rel_dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    let dir = w.shown.join(rel_dir);
    let listing = match std::fs::read_dir(&dir) {
        Ok(l) => l,
        Err(e) => {
            errors.push(format!("{}: cannot list: {e}", dir.display()));
            return;
        }
    };
    let mut entries = Vec::new();
    for e in listing {
        match e {
            Ok(e) => entries.push(e),
            Err(e) => errors.push(format!("{}: cannot read an entry: {e}", dir.display())),
        }
    }
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            // `.git/`, `.github/`, `.sops.yaml`, …: never manifests.
            continue;
        }
        let rel = rel_dir.join(&name);
        let shown = w.shown.join(&rel);
        let matches = rel
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| EXTENSIONS.contains(&x));
        // `file_type` does not follow symbolic links.
        let ft = match e.file_type() {
            Ok(ft) => ft,
            Err(err) => {
                errors.push(format!("{}: cannot read: {err}", shown.display()));
                continue;
            }
        };
        if ft.is_dir() {
            walk(w, &rel, out, errors);
        } else if ft.is_file() {
            if matches {
                out.push(shown);
            }
        } else if ft.is_symlink() {
            symlink(w, &rel, &shown, matches, out, errors);
        } else if matches {
            errors.push(format!(
                "{}: not a regular file (a FIFO, socket or device)",
                shown.display()
            ));
        }
    }
}

/// A symbolic link met in a walk: a manifest if it names a regular file inside the directory.
fn symlink(
    w: &Walk<'_>,
    rel: &Path,
    shown: &Path,
    matches: bool,
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<String>,
) {
    use crate::backend::BackendError;
    let Some(rel_text) = rel.to_str() else {
        errors.push(format!(
            "{}: a symbolic link whose name is not UTF-8",
            shown.display()
        ));
        return;
    };
    let refuse = |why: &str| {
        format!(
            "{}: a symbolic link {why}; links must lead to a file inside {}",
            shown.display(),
            w.shown.display()
        )
    };
    match crate::backend::sops::confine(w.root, rel_text) {
        Ok(_) if matches => out.push(shown.to_path_buf()),
        Ok(_) => {}
        Err(BackendError::NotFound { .. }) if matches => {
            errors.push(refuse("whose target does not exist"));
        }
        Err(BackendError::NotFound { .. }) => {}
        Err(e) => {
            // A link to a directory inside the walked one is not walked, and not an error.
            let inside_dir = std::fs::metadata(shown).is_ok_and(|m| m.is_dir())
                && std::fs::canonicalize(shown).is_ok_and(|c| c.starts_with(w.root));
            if !inside_dir || matches {
                errors.push(refuse(&match e {
                    BackendError::Refused(m) if m.contains("symbolic link") => {
                        "whose target is outside the directory".to_owned()
                    }
                    other => format!("that cannot be followed ({other})"),
                }));
            }
        }
    }
}

/// YAML stream, or (for `.json` files and text starting with `{`/`[`) concatenated JSON values.
pub(crate) fn parse_source(text: &str, json_file: bool) -> Result<Vec<Document>, String> {
    let looks_json = json_file || text.trim_start().starts_with(['{', '[']);
    if looks_json {
        let mut docs = Vec::new();
        let stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
        let mut ok = true;
        for v in stream {
            match v {
                Ok(v) => docs.push(Document::new(yaml::from_json(&v))),
                Err(e) => {
                    if json_file {
                        return Err(format!(
                            "invalid JSON at line {}, column {}",
                            e.line(),
                            e.column()
                        ));
                    }
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            return Ok(docs);
        }
    }
    yaml::parse_stream(text).map_err(|e| format!("invalid YAML: {e}"))
}

pub(crate) fn classify(name: &str, docs: Vec<Document>, loaded: &mut Loaded) {
    for (index, doc) in docs.into_iter().enumerate() {
        let origin = Origin {
            file: name.to_owned(),
            index,
        };
        if doc.is_empty() {
            continue;
        }
        if is_sops_file(&doc.root) {
            loaded.skipped.push(Skipped {
                origin,
                reason: "a sops-encrypted file".to_owned(),
                warn: false,
            });
            continue;
        }
        match kind_of(&doc.root) {
            Some(_) => loaded.documents.push(SourceDocument { doc, origin }),
            None => loaded.skipped.push(Skipped {
                origin,
                reason: "not a Kubernetes object (no `kind`)".to_owned(),
                warn: true,
            }),
        }
    }
}

/// `kind` of a Kubernetes object (a non-empty string), if this is one.
pub fn kind_of(root: &Node) -> Option<&str> {
    root.get("kind")
        .and_then(Node::as_str)
        .filter(|k| !k.trim().is_empty())
}

/// `metadata.name`, if present.
pub fn name_of(root: &Node) -> Option<&str> {
    root.get_path(&["metadata", "name"]).and_then(Node::as_str)
}

fn is_sops_file(root: &Node) -> bool {
    root.get("sops")
        .is_some_and(|s| s.get("mac").is_some() || s.get("version").is_some())
}

#[cfg(test)]
mod tests;
