//! Triage: may a document's text hold something the render engine must see in the tree?
//!
//! Conservative by construction: `true` unless the text cannot hold a reference once parsed.
//! A reference needs `<` (argocd-vault-plugin placeholders, generic `<key>`) or `ref+`
//! (`ref+vault://`, `secretref+…`); YAML folding joins lines with a space or keeps the line
//! break, so neither can be assembled from pieces — only a double-quoted escape (`\x3c`,
//! `r\x65f+`, an escaped line break) can, hence `\` anywhere. Annotations change what is
//! recognised or are themselves checked (a bad value fails the run) — their prefixes. A
//! `Secret`'s `data` and a `ConfigMap`'s `binaryData` are base64 that may decode to a
//! reference — `Secret`, `binaryData`.

use super::annotations::ANNOTATION_PREFIXES;

/// Plain substrings any of which sends a document to the parser.
const TRIGGERS: [&str; 5] = ["<", "\\", "ref+", "Secret", "binaryData"];

/// True when `text` (a document, or a whole stream) may hold a reference or an annotation,
/// i.e. must be parsed into a tree and scanned.
pub fn needs_tree(text: &str) -> bool {
    TRIGGERS.iter().any(|t| text.contains(t))
        || ANNOTATION_PREFIXES.iter().any(|p| text.contains(p))
}

#[cfg(test)]
mod tests {
    use super::needs_tree;

    #[test]
    fn anything_that_can_become_a_reference_needs_the_tree() {
        for t in [
            "a: <path:x#y>\n",
            "a: \"\\x3cpath:x#y>\"\n",
            "a: \"r\\x65f+vault://x#/y\"\n",
            "a: ref+sops://s.yaml#/k\n",
            "a: secretref+vault://x#/y\n",
            "kind: Secret\ndata:\n  a: PHBhdGg6eCN5Pg==\n",
            "kind: ConfigMap\nbinaryData:\n  a: PHBhdGg6eCN5Pg==\n",
            "metadata:\n  annotations:\n    avp.kubernetes.io/kv-version: \"3\"\n",
            "metadata:\n  annotations:\n    sealbridge.io/ignore: \"x\"\n",
            "<<: *base\n",
        ] {
            assert!(needs_tree(t), "{t}");
        }
        for t in [
            "kind: ConfigMap\ndata:\n  a: b\n",
            "kind: Deployment\nspec: {replicas: 3}\n",
            "a: reference\n",
        ] {
            assert!(!needs_tree(t), "{t}");
        }
    }
}
