#!/usr/bin/env bash
# Render the manifests in $MANIFESTS (default k8s/) with sealbridge and apply them. Used by the
# GitHub Actions and GitLab CI recipes next to this file.
#
# Fail closed: sealbridge prints nothing when anything fails, and `pipefail` makes the pipeline
# fail with it (kubectl would otherwise see an empty stream). Vault/OpenBao authentication comes
# from the environment (docs/vault.md), e.g. the CI's OIDC token with the `jwt` method:
#   SEALBRIDGE_VAULT_AUTH=jwt SEALBRIDGE_VAULT_ROLE=… SEALBRIDGE_VAULT_JWT_FILE=…  (or _JWT)
set -euo pipefail

manifests=${MANIFESTS:-k8s/}
apply=${APPLY:-kubectl apply -f -}

sealbridge render "$manifests" | $apply
