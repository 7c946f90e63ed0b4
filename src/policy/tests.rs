use super::*;

const TWO: &str = "\
version: 1
tenants:
  - name: team-a
    match:
      projects: [team-a]
    vault:
      auth:
        method: approle
        mount: auth/approle-a
        role_id: rid-a
        secret_id_file: /run/a/secret-id
      paths: [kv/data/team-a/**]
  - name: team-b
    match:
      app_namespaces: [team-b]
      repos: [\"https://git.example.com/team-b/*\"]
    sops:
      age_key_files: [/run/b/age.txt]
";

fn parse(text: &str) -> Result<Policy> {
    Policy::parse(text, Path::new("policy.yaml"))
}

fn app(name: &str, project: &str, repo: &str) -> AppIdentity {
    AppIdentity::new(Some(name), Some(project), Some(repo), "argocd")
}

#[test]
fn first_match_wins_and_every_criterion_must_match() {
    let p = parse(TWO).unwrap();
    let t = p.find(&app("web", "team-a", "https://x/y")).unwrap();
    assert_eq!(t.name, "team-a");
    assert!(t.allows(BackendKind::Vault) && !t.allows(BackendKind::Sops));
    match &t.vault.as_ref().unwrap().auth {
        AuthConfig::AppRole { mount, .. } => assert_eq!(mount, "approle-a"),
        other => panic!("{other:?}"),
    }
    // team-b: the Application's namespace comes from ARGOCD_APP_NAME, not the destination.
    let b = app(
        "team-b_web",
        "whatever",
        "https://GIT.example.com/team-b/app.git/",
    );
    assert_eq!(p.find(&b).unwrap().name, "team-b");
    let wrong_repo = app("team-b_web", "x", "https://git.example.com/team-a/app");
    assert!(p.find(&wrong_repo).is_none());
    let control_plane = app("web", "x", "https://git.example.com/team-b/app");
    assert!(p.find(&control_plane).is_none());
    // Unset values never match.
    let unset = AppIdentity::new(None, None, None, "argocd");
    assert!(p.find(&unset).is_none());
    let e = p.select(&unset).unwrap_err();
    assert!(matches!(e, Error::Usage(_)));
    assert!(e.to_string().contains("no tenant"), "{e}");
}

#[test]
fn repository_urls_are_normalised() {
    for (raw, want) in [
        (
            "https://github.com/Org/Repo.git",
            "https://github.com/org/repo",
        ),
        (
            "https://user:pw@github.com/org/repo/",
            "https://github.com/org/repo",
        ),
        ("git@github.com:org/repo.git", "ssh://github.com/org/repo"),
        ("ssh://git@github.com/org/repo", "ssh://github.com/org/repo"),
        (
            "https://github.com//org//repo",
            "https://github.com/org/repo",
        ),
    ] {
        assert_eq!(normalize_repo(raw).as_deref(), Some(want), "{raw}");
    }
    for bad in [
        "https://github.com/team-a/../team-b/repo",
        "https://github.com/team-a/%2e%2e/team-b",
        "https://github.com/a b",
        "",
    ] {
        assert_eq!(normalize_repo(bad), None, "{bad}");
    }
}

#[test]
fn strict_file_errors_name_the_line() {
    let e = parse(&TWO.replace("      projects: [team-a]", "      projcts: [team-a]"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("policy.yaml: line 5 column 7: unknown field `projcts`"),
        "{e}"
    );
    let e = parse(&TWO.replace("[kv/data/team-a/**]", "[\"kv/data/[ab]/**\"]"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("policy.yaml: line 12: tenant \"team-a\": vault.paths"),
        "{e}"
    );
    let e = parse(&TWO.replace("secret_id_file: /run/a/secret-id", "secret_id: s3cr3t"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown field `secret_id`") && !e.contains("s3cr3t"),
        "{e}"
    );
    let e = parse("version: 1\ntenants:\n  - name: x\n    match: {}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("names no criterion"), "{e}");
    let e = parse(&TWO.replace("method: approle", "method: none"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not available per tenant"), "{e}");
    assert!(parse("version: 2\ntenants: []\n").is_err());
}

#[test]
fn plan_check_refuses_paths_outside_before_any_request() {
    let p = parse(TWO).unwrap();
    let t = p.find(&app("web", "team-a", "x")).unwrap();
    let ok = |path: &str, prefix: Option<&str>| t.check_reference(BackendKind::Vault, path, prefix);
    // Logical and API forms of the tenant's own secrets.
    assert!(ok("kv/team-a/db", None).is_ok());
    assert!(ok("kv/data/team-a/db", None).is_ok());
    assert!(ok("team-a/db", Some("kv")).is_ok());
    assert!(ok("/kv//data/team-a/db", None).is_ok());
    for bad in [
        "kv/team-b/db",
        "kv/data/team-b/db",
        "kv/team-a/../team-b/db",
        "kv/data/team-a/../../data/team-b/db",
        "kv/team-a/%2e%2e/team-b/db",
        "KV/data/team-a/db",
        "kv/data/Team-A/db",
        "kv/data/team-ab/db",
        "kv/metadata/team-a/db",
        "sys/mounts",
        "kv/team-a",
    ] {
        let e = ok(bad, None).unwrap_err();
        assert!(
            e.starts_with("refused by the tenancy policy (tenant \"team-a\", rule vault.paths)"),
            "{bad}: {e}"
        );
    }
    // The prefix is part of the checked path: an Application-set prefix cannot escape.
    assert!(ok("db", Some("kv/data/team-b")).is_err());
    // Backends the tenant does not have.
    let e = t
        .check_reference(BackendKind::Sops, "secrets.enc.yaml", None)
        .unwrap_err();
    assert!(e.contains("rule backends"), "{e}");
}

#[test]
fn the_shipped_example_policy_is_valid() {
    let text = include_str!("../../examples/argocd/tenancy/policy.yaml");
    let p = parse(text).unwrap();
    assert_eq!(p.tenant_names(), ["team-a", "team-b"]);
    let a = app("web", "team-a", "https://git.example.com/team-a/web.git");
    assert_eq!(p.find(&a).unwrap().name, "team-a");
    let b = app("team-b_web", "default", "https://git.example.com/x/y");
    let b = p.find(&b).unwrap();
    assert!(b.allows(BackendKind::Vault) && !b.allows(BackendKind::Sops));
}

fn tenant_auth(yaml: &str) -> std::result::Result<AuthConfig, String> {
    auth_of(&serde_saphyr::from_str::<FileAuth>(yaml).unwrap())
}

#[test]
fn a_tenant_login_is_built_from_the_policy_fields_and_names_a_missing_one() {
    // The mount is normalised; the Kubernetes token defaults to the service account's.
    match tenant_auth("method: kubernetes\nmount: /auth/k8s-a/\nrole: ' web '\n").unwrap() {
        AuthConfig::Kubernetes { mount, role, jwt } => {
            assert_eq!((mount.as_str(), role.as_str()), ("k8s-a", "web"));
            assert!(
                matches!(jwt, SecretSource::File(p) if p == Path::new(crate::settings::K8S_TOKEN_PATH))
            );
        }
        other => panic!("{other:?}"),
    }
    match tenant_auth("method: userpass\nmount: ''\nusername: u\npassword_file: /p\n").unwrap() {
        AuthConfig::Userpass { mount, .. } => assert_eq!(mount, "userpass"),
        other => panic!("{other:?}"),
    }
    for (yaml, message) in [
        (
            "method: AppRole\nrole_id: '  '\n",
            "vault.auth: AppRole auth needs role_id",
        ),
        (
            "method: approle\nrole_id: r\n",
            "vault.auth: approle auth needs secret_id_file",
        ),
        (
            "method: jwt\nrole: r\n",
            "vault.auth: jwt auth needs jwt_file",
        ),
        ("method: token\n", "vault.auth: token auth needs token_file"),
    ] {
        assert_eq!(tenant_auth(yaml).unwrap_err(), message);
    }
    for method in ["cert", "none", "github", "ldap"] {
        let e = tenant_auth(&format!("method: {method}\n")).unwrap_err();
        assert!(e.contains("is not available per tenant"), "{e}");
    }
}
