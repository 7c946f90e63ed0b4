//! The CI recipes' Vault setup (the `# Vault side (once):` commands in examples/ci/*.yaml) run
//! with the real OpenBao CLI against the real server, then sealbridge logs in with a JWT
//! carrying the claims the recipe binds (GitHub Actions, GitLab CI): the bound claims are
//! accepted as written (JSON), a token from another repository or branch is refused.

use std::process::Command;

use serde_json::{Value, json};

use crate::support;
use crate::vault_auth::{jwt_signer, kv_with_policy, sign_jwt};

/// The recipe's setup commands: comment lines after `# Vault side (once):`, continuation lines
/// joined.
fn setup_commands(recipe: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(support::project_root().join("examples/ci").join(recipe)).unwrap();
    let mut lines = text
        .lines()
        .skip_while(|l| !l.contains("Vault side (once):"));
    lines.next();
    let mut out: Vec<String> = Vec::new();
    let mut cont = false;
    for l in lines {
        let Some(cmd) = l.strip_prefix("#   ") else {
            break;
        };
        let cmd = cmd.trim();
        let (body, more) = match cmd.strip_suffix('\\') {
            Some(b) => (b.trim_end(), true),
            None => (cmd, false),
        };
        if cont {
            let last = out.last_mut().unwrap();
            last.push(' ');
            last.push_str(body);
        } else {
            out.push(body.to_owned());
        }
        cont = more;
    }
    assert!(out.len() >= 3, "{recipe}: no setup commands found");
    out
}

fn check_recipe(recipe: &str, mount: &str, good: Value, bad: &[Value]) {
    let bao = support::openbao();
    let (kv, policy) = kv_with_policy(bao);
    let (kp, pem) = jwt_signer();
    let unique = support::unique(mount);
    let bao_bin = support::bao();
    for cmd in setup_commands(recipe) {
        let cmd = cmd.replace(mount, &unique).replace("app-deploy", &policy);
        if cmd.contains("/config ") {
            // The recipe's config points at the CI provider's OIDC discovery URL (network);
            // here the same mount trusts the test signer's key instead.
            bao.api(
                "POST",
                &format!("/v1/auth/{unique}/config"),
                Some(json!({"jwt_validation_pubkeys": [pem], "jwt_supported_algs": ["EdDSA"]})),
            );
            continue;
        }
        if cmd.starts_with('#') {
            continue;
        }
        assert!(
            cmd.contains("vault "),
            "{recipe}: not a vault command: {cmd}"
        );
        let shell = cmd.replace("vault ", &format!("'{}' ", bao_bin.display()));
        let o = Command::new("sh")
            .arg("-c")
            .arg(&shell)
            .env("VAULT_ADDR", &bao.addr)
            .env("VAULT_TOKEN", &bao.token)
            .env("HOME", support::tempdir().keep())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{recipe}: `vault {cmd}` failed against OpenBao: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let dir = support::tempdir();
    std::fs::write(
        dir.path().join("s.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  u: <path:{kv}/data/app#user>\n"
        ),
    )
    .unwrap();
    let login = |claims: &Value| {
        let jwt = dir.path().join("jwt");
        std::fs::write(&jwt, sign_jwt(&kp, claims)).unwrap();
        let home = support::tempdir();
        support::sealbridge(home.path())
            .current_dir(dir.path())
            .args(["render", "s.yaml"])
            .env("VAULT_ADDR", &bao.addr)
            .env("SEALBRIDGE_VAULT_AUTH", "jwt")
            .env("SEALBRIDGE_VAULT_AUTH_MOUNT", &unique)
            .env("SEALBRIDGE_VAULT_ROLE", "deploy")
            .env("SEALBRIDGE_VAULT_JWT_FILE", &jwt)
            .env("SEALBRIDGE_VAULT_TOKEN_CACHE", "false")
            .output()
            .unwrap()
    };
    let o = login(&good);
    assert!(
        o.status.success(),
        "{recipe}: the recipe's own claims must log in: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("u: alice"));
    for claims in bad {
        let o = login(claims);
        assert!(!o.status.success(), "{recipe}: {claims} must be refused");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn github_actions_recipe_vault_setup_runs_and_binds_repository_and_branch() {
    let good = json!({"iss": "https://token.actions.githubusercontent.com", "aud": "https://vault.example.com",
        "repository": "org/app", "ref": "refs/heads/main", "sub": "repo:org/app:ref:refs/heads/main"});
    let mut other_repo = good.clone();
    other_repo["repository"] = json!("evil/app");
    let mut other_ref = good.clone();
    other_ref["ref"] = json!("refs/heads/feature");
    check_recipe(
        "github-actions.yaml",
        "jwt-github",
        good,
        &[other_repo, other_ref],
    );
}

#[test]
fn gitlab_recipe_vault_setup_runs_and_binds_project_and_protected_ref() {
    let good = json!({"iss": "https://gitlab.example.com", "aud": "https://vault.example.com",
        "project_path": "org/app", "ref": "main", "ref_protected": "true", "sub": "project_path:org/app"});
    let mut unprotected = good.clone();
    unprotected["ref_protected"] = json!("false");
    let mut other = good.clone();
    other["project_path"] = json!("evil/app");
    check_recipe("gitlab-ci.yaml", "jwt-gitlab", good, &[unprotected, other]);
}
