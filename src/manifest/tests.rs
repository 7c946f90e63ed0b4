use super::*;

#[test]
fn classify_skips_non_kubernetes_and_sops_files() {
    let l = load_text(
        "x.yaml",
        "---\n# only a comment\n---\nkind: ConfigMap\nmetadata:\n  name: a\n---\nreplicaCount: 3\n---\nfoo: ENC[x]\nsops:\n  mac: ENC[y]\n",
    )
    .unwrap();
    assert_eq!(l.documents.len(), 1);
    assert_eq!(l.documents[0].origin.index, 1);
    assert_eq!(l.skipped.len(), 2);
    assert!(l.skipped[0].warn);
    assert!(!l.skipped[1].warn);
}

#[test]
fn json_documents_are_read() {
    let l = load_text(
        "-",
        "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\"}}\n{\"kind\":\"X\"}",
    )
    .unwrap();
    assert_eq!(l.documents.len(), 2);
    assert_eq!(name_of(&l.documents[0].doc.root), Some("a"));
}

#[test]
fn directory_walk_is_lexical_and_skips_hidden_entries() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("b/c")).unwrap();
    std::fs::create_dir_all(p.join(".git")).unwrap();
    for f in [
        "z.yaml",
        "a.yml",
        "b/c/x.json",
        "b/y.txt",
        ".git/h.yaml",
        "m.YAML",
    ] {
        std::fs::write(p.join(f), "kind: X\n").unwrap();
    }
    let files = files_of(p).unwrap();
    let rel: Vec<_> = files
        .iter()
        .map(|f| f.strip_prefix(p).unwrap().display().to_string())
        .collect();
    assert_eq!(rel, ["a.yml", "b/c/x.json", "z.yaml"]);
    let empty = tempfile::tempdir().unwrap();
    assert!(
        files_of(empty.path())
            .unwrap_err()
            .contains("no YAML or JSON files")
    );
}
