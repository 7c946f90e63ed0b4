use super::*;

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(files: &[(&str, &str)]) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Tree { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    fn walk(&self, app: &str) -> Result<Graph, TreeError> {
        walk(
            &self.root().join(app),
            &Rules::new(self.root(), None).unwrap(),
        )
    }
}

const SG: &str = "apiVersion: sealbridge.io/v1alpha1\nkind: SecretGenerator\nmetadata: {name: s}\n";

#[test]
fn plugins_are_found_across_bases_and_components() {
    let t = Tree::new(&[
        (
            "app/kustomization.yaml",
            "resources: [../base, cm.yaml]\ncomponents: [../comp]\n",
        ),
        ("app/cm.yaml", "kind: ConfigMap\n"),
        ("base/kustomization.yaml", "generators: [gen.yaml]\n"),
        ("base/gen.yaml", SG),
        (
            "comp/kustomization.yml",
            "kind: Component\ntransformers:\n- |\n  apiVersion: builtin\n  kind: LabelTransformer\n  metadata: {name: l}\n",
        ),
    ]);
    let g = t.walk("app").unwrap();
    assert_eq!(
        g.kustomizations,
        [
            "app/kustomization.yaml",
            "base/kustomization.yaml",
            "comp/kustomization.yml"
        ]
    );
    assert_eq!(g.plugins.len(), 1);
    assert_eq!(g.plugins[0].at, "base/gen.yaml");
    assert!(g.plugins_safe().is_ok());
}

#[test]
fn a_kind_that_is_a_path_is_refused_wherever_it_is() {
    for (generator, field) in [
        ("generators: [gen.yaml]\n", "generators"),
        ("transformers: [gen.yaml]\n", "transformers"),
        ("validators: [gen.yaml]\n", "validators"),
    ] {
        let t = Tree::new(&[
            ("app/kustomization.yaml", "resources: [../base]\n"),
            ("base/kustomization.yaml", generator),
            (
                "base/gen.yaml",
                "apiVersion: x/v1\nkind: ../../../../bin/sh\n",
            ),
        ]);
        let e = t.walk("app").unwrap_err();
        assert!(
            matches!(&e, TreeError::Plugin { at, field: f, kind, .. }
            if at == "base/gen.yaml" && *f == field && kind == "../../../../bin/sh"),
            "{e}"
        );
    }
    // Inline, in a second document, as a List, an unknown builtin-looking kind, a path
    // apiVersion with an allowed kind.
    for entry in [
        "generators:\n- |\n  apiVersion: x/v1\n  kind: ../../bin/sh\n",
        "generators: [\"{apiVersion: x/v1, kind: ../../bin/sh}\"]\n",
        "generators: [g.yaml]\n",
    ] {
        let t = Tree::new(&[
            ("app/kustomization.yaml", entry),
            (
                "app/g.yaml",
                &format!("{SG}---\napiVersion: builtin\nkind: ../x\n"),
            ),
        ]);
        assert!(
            matches!(t.walk("app"), Err(TreeError::Plugin { .. })),
            "{entry}"
        );
    }
    for doc in [
        "apiVersion: builtin\nkind: SecretGeneratorList\nitems: []\n",
        "apiVersion: ../../sealbridge.io/v1alpha1\nkind: SecretGenerator\n",
        "apiVersion: viaduct.ai/v2\nkind: ksops\n",
        "apiVersion: sealbridge.io/v1alpha1\nkind: Resolver\n",
    ] {
        let t = Tree::new(&[
            ("app/kustomization.yaml", "generators: [g.yaml]\n"),
            ("app/g.yaml", doc),
        ]);
        assert!(
            matches!(t.walk("app"), Err(TreeError::Plugin { .. })),
            "{doc}"
        );
    }
}

#[test]
fn krm_function_configs_are_refused_not_skipped() {
    let t = Tree::new(&[
        ("app/kustomization.yaml", "generators: [g.yaml]\n"),
        (
            "app/g.yaml",
            "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: k\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ksops\nfiles: [s.yaml]\n",
        ),
    ]);
    let e = t.walk("app").unwrap_err();
    assert!(
        matches!(&e, TreeError::Function { at, kind, .. } if at == "app/g.yaml" && kind == "ksops"),
        "{e}"
    );
    assert!(e.to_string().contains("silently"), "{e}");
}

#[test]
fn entries_outside_the_repository_are_refused() {
    let t = Tree::new(&[
        (
            "repo/app/kustomization.yaml",
            "resources: [../../elsewhere]\n",
        ),
        ("elsewhere/kustomization.yaml", ""),
    ]);
    let root = t.root().join("repo");
    let r = walk(&root.join("app"), &Rules::new(root.clone(), None).unwrap());
    assert!(
        matches!(
            r,
            Err(TreeError::Outside {
                why: "resolves outside the repository",
                ..
            })
        ),
        "{r:?}"
    );
    let t2 = Tree::new(&[("app/kustomization.yaml", "generators: [/etc/passwd]\n")]);
    assert!(matches!(
        t2.walk("app"),
        Err(TreeError::Outside {
            why: "is absolute",
            ..
        })
    ));
    // A symbolic link inside the repository that points out of it.
    let t3 = Tree::new(&[
        ("app/kustomization.yaml", "generators: [link/g.yaml]\n"),
        ("out/g.yaml", SG),
    ]);
    let repo = t3.root().join("app");
    std::os::unix::fs::symlink(t3.root().join("out"), repo.join("link")).unwrap();
    let r = walk(&repo, &Rules::new(repo.clone(), None).unwrap());
    assert!(matches!(r, Err(TreeError::Outside { .. })), "{r:?}");
}

#[test]
fn remote_and_directory_entries_make_plugins_unsafe() {
    let t = Tree::new(&[(
        "app/kustomization.yaml",
        "resources:\n- https://github.com/org/repo//base?ref=v1\n- github.com/org/repo/base\n",
    )]);
    let g = t.walk("app").unwrap();
    assert_eq!(g.opaque.len(), 2);
    assert!(
        g.plugins_safe().is_ok(),
        "no plugins: kustomize refuses external plugins itself"
    );
    assert!(matches!(g.remote_error(), Some(TreeError::Remote { .. })));

    for k in [
        "resources: [\"git@github.com:org/repo.git\"]\ngenerators: [g.yaml]\n",
        "generators: [g.yaml, gens]\n",
        "generators: [g.yaml, \"https://example.com/g.yaml\"]\n",
    ] {
        let t = Tree::new(&[
            ("app/kustomization.yaml", k),
            ("app/g.yaml", SG),
            ("app/gens/kustomization.yaml", "resources: [x.yaml]\n"),
        ]);
        let g = t.walk("app").unwrap();
        assert!(g.needs_plugins());
        assert!(
            matches!(g.plugins_safe(), Err(TreeError::Unchecked { .. })),
            "{k}"
        );
    }
}

#[test]
fn remote_looking_entries() {
    for r in [
        "https://x/y",
        "git::https://x/y",
        "gh:org/repo",
        "git@github.com:org/repo",
        "github.com/org/repo",
        "GitHub.com/org/repo",
        "ssh://git@x/y",
        "dev.azure.com/org/_git/repo",
        "x/y?ref=main",
        "host:org/repo",
    ] {
        assert!(looks_remote(r), "{r}");
    }
    for l in [
        "../base",
        "base",
        "./overlays/prod",
        "base.v2/x",
        "gen.yaml",
    ] {
        assert!(!looks_remote(l), "{l}");
    }
}

#[test]
fn operator_plugins_are_identifier_shaped() {
    let r = Rules::new(
        PathBuf::from("/"),
        Some("example.com/v1/Thing, other.io/v2beta1/X"),
    )
    .unwrap();
    assert!(
        r.plugins
            .contains(&("example.com/v1".to_owned(), "Thing".to_owned()))
    );
    for bad in ["x/v1", "../x/v1/K", "a.b/v1/../K", "a.b/v 1/K", "A.b/v1/K"] {
        assert!(Rules::new(PathBuf::from("/"), Some(bad)).is_err(), "{bad}");
    }
}

#[test]
fn cycles_and_missing_kustomizations() {
    let t = Tree::new(&[
        ("a/kustomization.yaml", "resources: [../b]\n"),
        ("b/kustomization.yaml", "resources: [../a, ../nothing]\n"),
    ]);
    assert_eq!(t.walk("a").unwrap().kustomizations.len(), 2);
    let t = Tree::new(&[("a/x.yaml", "")]);
    assert!(matches!(t.walk("a"), Err(TreeError::NotAKustomization(_))));
}
