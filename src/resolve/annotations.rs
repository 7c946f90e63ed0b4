//! Document annotations: argocd-vault-plugin's `avp.kubernetes.io/*` and our `sealbridge.io/*`
//! equivalents (same names, same values; when both are present they must agree).

use crate::backend::{BackendKind, KvVersion};
use crate::yaml::Node;

/// The annotation prefixes read, in order.
pub const ANNOTATION_PREFIXES: [&str; 2] = ["avp.kubernetes.io/", "sealbridge.io/"];

/// Go's `strconv.ParseBool` (what AVP uses): `1 t T TRUE true True`, `0 f F FALSE false False`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The backend and path of the path annotation, or why it is unusable.
pub(crate) type GenericPath = Result<(Option<BackendKind>, String), String>;

/// What a document's annotations say.
#[derive(Debug, Clone, Default)]
pub(crate) struct DocAnnotations {
    /// `path`: present (enables generic references) with its value.
    pub generic_path: Option<GenericPath>,
    /// `ignore`.
    pub ignore: bool,
    /// `kv-version`.
    pub kv_version: Option<KvVersion>,
    /// `secret-version` (generic references only).
    pub secret_version: Option<u64>,
    /// `remove-missing`.
    pub remove_missing: bool,
}

/// A problem with one annotation: (field path, message).
pub(crate) type AnnotationProblem = (String, String);

fn field(full: &str) -> String {
    format!(".metadata.annotations[\"{full}\"]")
}

/// Looks `name` up under both prefixes. Returns (full name, value).
fn lookup<'a>(
    ann: Option<&'a Node>,
    name: &str,
    problems: &mut Vec<AnnotationProblem>,
) -> Option<(String, &'a str)> {
    let ann = ann?;
    let mut found: Option<(String, &str)> = None;
    for prefix in ANNOTATION_PREFIXES {
        let full = format!("{prefix}{name}");
        let Some(node) = ann.get(&full) else { continue };
        let Some(value) = node.as_str() else {
            problems.push((field(&full), "must be a string".to_owned()));
            continue;
        };
        match &found {
            Some((other, v)) if *v != value => problems.push((
                field(&full),
                format!("disagrees with `{other}`; set only one of them"),
            )),
            Some(_) => {}
            None => found = Some((full, value)),
        }
    }
    found
}

/// The annotation names read under each prefix.
pub(super) const ANNOTATION_NAMES: [&str; 5] = [
    "path",
    "ignore",
    "kv-version",
    "secret-version",
    "remove-missing",
];

/// Annotations under our prefixes that name nothing we read: a typo (`avp.kubernetes.io/paht`)
/// would otherwise leave `<password>` placeholders unresolved without a word.
fn unknown(ann: Option<&Node>, problems: &mut Vec<AnnotationProblem>) {
    let Some(entries) = ann.and_then(Node::as_mapping) else {
        return;
    };
    for (k, _) in entries {
        let Some(key) = k.as_str() else { continue };
        let Some((prefix, name)) = ANNOTATION_PREFIXES
            .iter()
            .find_map(|p| key.strip_prefix(p).map(|n| (*p, n)))
        else {
            continue;
        };
        if ANNOTATION_NAMES.contains(&name) {
            continue;
        }
        // What a render records or computes (`crate::rotation`), not what it reads here.
        if matches!(
            key,
            crate::rotation::SOURCES_ANNOTATION
                | crate::rotation::VERSIONS_ANNOTATION
                | crate::rotation::CHECKSUM_OF_ANNOTATION
                | crate::rotation::CHECKSUM_ANNOTATION
        ) {
            continue;
        }
        let hint = crate::suggest::nearest(name, ANNOTATION_NAMES)
            .map(|n| format!(" (did you mean {prefix}{n}?)"))
            .unwrap_or_default();
        problems.push((
            field(key),
            format!(
                "unknown annotation{hint}; {prefix}* annotations are {}",
                ANNOTATION_NAMES.join(", ")
            ),
        ));
    }
}

/// Reads the annotations of a document root. Problems make the document fail.
pub(crate) fn read(root: &Node) -> (DocAnnotations, Vec<AnnotationProblem>) {
    let mut problems = Vec::new();
    let ann = root.get_path(&["metadata", "annotations"]);
    let mut out = DocAnnotations::default();
    unknown(ann, &mut problems);

    if let Some((full, v)) = lookup(ann, "ignore", &mut problems) {
        match parse_bool(v.trim()) {
            Some(b) => out.ignore = b,
            None => problems.push((field(&full), "must be true or false".to_owned())),
        }
    }
    if let Some((_, v)) = lookup(ann, "path", &mut problems) {
        out.generic_path = Some(parse_path(v));
    }
    if let Some((full, v)) = lookup(ann, "kv-version", &mut problems) {
        match v.trim() {
            "1" => out.kv_version = Some(KvVersion::V1),
            "2" => out.kv_version = Some(KvVersion::V2),
            _ => problems.push((
                field(&full),
                "Unsupported kvVersion specified: must be \"1\" or \"2\"".to_owned(),
            )),
        }
    }
    if let Some((full, v)) = lookup(ann, "secret-version", &mut problems) {
        match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => out.secret_version = Some(n),
            _ => problems.push((field(&full), "must be a positive integer".to_owned())),
        }
    }
    if let Some((full, v)) = lookup(ann, "remove-missing", &mut problems) {
        match parse_bool(v.trim()) {
            Some(b) => {
                out.remove_missing = b;
                let kind = root.get("kind").and_then(Node::as_str).unwrap_or("");
                if b && kind != "Secret" && kind != "ConfigMap" {
                    problems.push((
                        field(&full),
                        format!(
                            "{full} annotation can only be used on Secret or ConfigMap resources"
                        ),
                    ));
                }
            }
            None => problems.push((field(&full), "must be true or false".to_owned())),
        }
    }
    (out, problems)
}

fn parse_path(v: &str) -> GenericPath {
    let v = v.trim();
    if v.is_empty() {
        return Err("the path annotation is empty".to_owned());
    }
    match v.split_once("://") {
        None => Ok((None, v.to_owned())),
        Some((scheme, rest)) => match BackendKind::from_name(scheme) {
            Some(kind) if !rest.trim().is_empty() => Ok((Some(kind), rest.trim().to_owned())),
            Some(_) => Err("the path annotation is empty".to_owned()),
            None => Err(format!(
                "the path annotation has an unsupported backend `{scheme}://` (supported: vault://, openbao://, sops://)"
            )),
        },
    }
}
